/* envd_fs.c - filesystem.Filesystem RPCs on the sandbox's files (see
 * envd.h and fspath.h). */
#include "envd.h"

#include "connect.h"
#include "fsentry.h"
#include "fspath.h"
#include "proxy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Common preamble: sandbox, token, JSON body, and a clean "path" field. */
typedef struct fs_call {
    sandbox_t *sb;
    json_t *msg;
    httpd_result_t rc;
} fs_call_t;

/* Resolves the sandbox and parses the body; false if already answered. */
static bool fs_begin(httpd_req_t *req, fs_call_t *c)
{
    c->msg = NULL;
    c->sb = proxy_resolve(req, PORT_ENVD, TOKEN_REQUIRED, &c->rc);
    if (!c->sb)
        return false;
    char code[32], err[512];
    c->msg = connect_unary_request(req, code, sizeof code, err, sizeof err);
    if (!c->msg) {
        c->rc = connect_unary_error(req, code, "%s", err);
        sandbox_unref(c->sb);
        return false;
    }
    return true;
}

/* Releases what fs_begin acquired. */
static httpd_result_t fs_end(fs_call_t *c, httpd_result_t rc)
{
    json_decref(c->msg);
    sandbox_unref(c->sb);
    return rc;
}

/* Go-style lower-case errno text. */
static const char *errtext(int e)
{
    static __thread char buf[128];
    snprintf(buf, sizeof buf, "%s", strerror(e));
    if (buf[0] >= 'A' && buf[0] <= 'Z')
        buf[0] = (char)(buf[0] - 'A' + 'a');
    return buf;
}

/* Normalizes a path field; false if unusable. */
static bool clean_field(json_t *msg, const char *key, char *out, size_t n)
{
    const char *p = json_string_value(json_object_get(msg, key));
    return fsp_clean(p ? p : "", out, n) == 0;
}

/* Stat: the entry of one path (lstat; symlinks described by their target). */
static httpd_result_t rpc_stat(httpd_req_t *req)
{
    fs_call_t c;
    if (!fs_begin(req, &c))
        return c.rc;
    char path[4096];
    if (!clean_field(c.msg, "path", path, sizeof path))
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "invalid path"));
    json_t *e = fsentry_for_path(c.sb, path);
    if (!e) {
        int er = errno;
        if (er == ENOENT || er == ENOTDIR || er == EXDEV)
            return fs_end(&c, connect_unary_error(req, "not_found", "file not found: lstat %s: %s",
                                                  path, errtext(ENOENT)));
        return fs_end(&c, connect_unary_error(req, "internal", "error getting file info: %s",
                                              errtext(er)));
    }
    return fs_end(&c, connect_unary_ok(req, json_pack("{s:o}", "entry", e)));
}

/* MakeDir: mkdir -p; an existing directory is already_exists. */
static httpd_result_t rpc_makedir(httpd_req_t *req)
{
    fs_call_t c;
    if (!fs_begin(req, &c))
        return c.rc;
    char path[4096];
    if (!clean_field(c.msg, "path", path, sizeof path))
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "invalid path"));
    int fd = fsp_open(c.sb->root_fd, path, O_PATH, 0);
    if (fd >= 0) {
        struct stat st;
        int isdir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
        close(fd);
        if (isdir)
            return fs_end(&c, connect_unary_error(req, "already_exists",
                                                  "directory already exists: %s", path));
        return fs_end(&c, connect_unary_error(req, "invalid_argument",
                                              "path already exists but it is not a directory: %s",
                                              path));
    }
    if (!fsp_writable(path))
        return fs_end(&c, connect_unary_error(req, "permission_denied",
                                              "permission denied: %s is outside the sandbox's "
                                              "writable directories (/home/user, /tmp)", path));
    if (fsp_mkdir_p(c.sb->root_fd, c.sb->root, path) < 0) {
        if (errno == EACCES)
            return fs_end(&c, connect_unary_error(req, "permission_denied",
                                                  "permission denied: %s resolves outside the "
                                                  "sandbox's writable directories", path));
        return fs_end(&c, connect_unary_error(req, "internal", "error creating directory %s: %s",
                                              path, errtext(errno)));
    }
    const char *base = strrchr(path, '/') + 1;
    return fs_end(&c, connect_unary_ok(req, json_pack("{s:{s:s,s:s,s:s}}", "entry", "name", base,
                                                       "type", "FILE_TYPE_DIRECTORY", "path", path)));
}

/* Move: rename, creating the destination's parents. */
static httpd_result_t rpc_move(httpd_req_t *req)
{
    fs_call_t c;
    if (!fs_begin(req, &c))
        return c.rc;
    char src[4096], dst[4096];
    if (!clean_field(c.msg, "source", src, sizeof src) ||
        !clean_field(c.msg, "destination", dst, sizeof dst))
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "invalid path"));
    if (!fsp_writable(src) || !fsp_writable(dst) || fsp_is_fixed(src) || fsp_is_fixed(dst))
        return fs_end(&c, connect_unary_error(req, "permission_denied",
                                              "permission denied: cannot move %s to %s", src, dst));
    char dparent[4096];
    snprintf(dparent, sizeof dparent, "%s", dst);
    *strrchr(dparent, '/') = '\0';
    if (dparent[0] && fsp_mkdir_p(c.sb->root_fd, c.sb->root, dparent) < 0)
        return fs_end(&c, connect_unary_error(req, errno == EACCES ? "permission_denied" : "internal",
                                              "error creating directory %s: %s", dparent,
                                              errtext(errno)));
    const char *sbase, *dbase;
    char sreal[4096], dreal[4096];
    int sfd = fsp_open_parent_w(c.sb->root_fd, c.sb->root, src, &sbase, sreal, sizeof sreal);
    int er = errno;
    int dfd = sfd >= 0 ? fsp_open_parent_w(c.sb->root_fd, c.sb->root, dst, &dbase, dreal, sizeof dreal) : -1;
    if (sfd >= 0 && dfd < 0)
        er = errno;
    int rc = -1;
    if (sfd >= 0 && dfd >= 0) {
        rc = renameat(sfd, sbase, dfd, dbase);
        er = errno;
    }
    if (sfd >= 0)
        close(sfd);
    if (dfd >= 0)
        close(dfd);
    if (rc < 0) {
        if (er == ENOENT)
            return fs_end(&c, connect_unary_error(req, "not_found",
                                                  "source file not found: rename %s %s: %s", src,
                                                  dst, errtext(er)));
        if (er == EACCES)
            return fs_end(&c, connect_unary_error(req, "permission_denied",
                                                  "permission denied: cannot move %s to %s", src,
                                                  dst));
        return fs_end(&c, connect_unary_error(req, "internal", "error renaming: rename %s %s: %s",
                                              src, dst, errtext(er)));
    }
    json_t *e = fsentry_for_path(c.sb, dst);
    if (!e)
        return fs_end(&c, connect_unary_error(req, "not_found", "file not found: %s", dst));
    return fs_end(&c, connect_unary_ok(req, json_pack("{s:o}", "entry", e)));
}

/* Orders directory names like Go's WalkDir (byte order). */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends the entries of directory `fd` (reported under `spath`) and, while
 * depth allows, of its subdirectories; symlinks are not followed. */
static void walk(sandbox_t *sb, int fd, const char *spath, int depth, json_t *out)
{
    int dfd = dup(fd);
    if (dfd < 0)
        return;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(de->d_name);
        if (names[n])
            n++;
    }
    closedir(d);
    if (n > 1) /* names is NULL for an empty directory */
        qsort(names, n, sizeof *names, name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        size_t clen = strlen(spath) + strlen(names[i]) + 2;
        char *child = malloc(clen);
        if (child)
            snprintf(child, clen, "%s%s%s", spath, strcmp(spath, "/") == 0 ? "" : "/", names[i]);
        if (child && fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
            json_array_append_new(out, fsentry_json(sb, fd, names[i], child, &st));
            if (depth > 1 && S_ISDIR(st.st_mode)) {
                int cfd = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (cfd >= 0) {
                    walk(sb, cfd, child, depth - 1, out);
                    close(cfd);
                }
            }
        }
        free(child);
        free(names[i]);
    }
    free(names);
}

/* ListDir: entries up to `depth` levels (default 1). */
static httpd_result_t rpc_listdir(httpd_req_t *req)
{
    fs_call_t c;
    if (!fs_begin(req, &c))
        return c.rc;
    char path[4096];
    if (!clean_field(c.msg, "path", path, sizeof path))
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "invalid path"));
    json_t *jd = json_object_get(c.msg, "depth");
    long long depth = json_is_integer(jd) ? json_integer_value(jd)
                      : json_is_string(jd) ? strtoll(json_string_value(jd), NULL, 10) : 0;
    if (depth <= 0)
        depth = 1;
    if (depth > 64)
        depth = 64;
    int fd = fsp_open(c.sb->root_fd, path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int er = errno;
        if (er == ENOENT || er == EXDEV || er == ENOTDIR)
            return fs_end(&c, connect_unary_error(req, "not_found", "path not found: lstat %s: %s",
                                                  path, errtext(ENOENT)));
        return fs_end(&c, connect_unary_error(req, "internal", "error resolving path %s: %s", path,
                                              errtext(er)));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        close(fd);
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "path is not a directory: %s",
                                              path));
    }
    json_t *entries = json_array();
    walk(c.sb, fd, path, (int)depth, entries);
    close(fd);
    return fs_end(&c, connect_unary_ok(req, json_pack("{s:o}", "entries", entries)));
}

/* Remove: rm -rf (no error when missing, as os.RemoveAll). */
static httpd_result_t rpc_remove(httpd_req_t *req)
{
    fs_call_t c;
    if (!fs_begin(req, &c))
        return c.rc;
    char path[4096];
    if (!clean_field(c.msg, "path", path, sizeof path))
        return fs_end(&c, connect_unary_error(req, "invalid_argument", "invalid path"));
    if (!fsp_writable(path) || fsp_is_fixed(path))
        return fs_end(&c, connect_unary_error(req, "permission_denied",
                                              "permission denied: cannot remove %s", path));
    if (fsp_remove(c.sb->root_fd, c.sb->root, path) < 0) {
        if (errno == EACCES)
            return fs_end(&c, connect_unary_error(req, "permission_denied",
                                                  "permission denied: %s resolves outside the "
                                                  "sandbox's writable directories", path));
        return fs_end(&c, connect_unary_error(req, "internal",
                                              "error removing file or directory: %s",
                                              errtext(errno)));
    }
    return fs_end(&c, connect_unary_ok(req, json_object()));
}

/* Watchers need inotify plumbing sandboxd does not have. */
static httpd_result_t rpc_unimplemented(httpd_req_t *req)
{
    fs_call_t c;
    c.sb = proxy_resolve(req, PORT_ENVD, TOKEN_REQUIRED, &c.rc);
    if (!c.sb)
        return c.rc;
    sandbox_unref(c.sb);
    return connect_unary_error(req, "unimplemented", "%s is not implemented by sandboxd",
                               httpd_path(req));
}

/* Registers the filesystem.Filesystem RPCs (watchers answer unimplemented). */
void envd_fs_register(httpd_t *h)
{
    httpd_route(h, "POST", "/filesystem.Filesystem/Stat", rpc_stat, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/MakeDir", rpc_makedir, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/Move", rpc_move, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/ListDir", rpc_listdir, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/Remove", rpc_remove, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/WatchDir", rpc_unimplemented, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/CreateWatcher", rpc_unimplemented, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/GetWatcherEvents", rpc_unimplemented, 0, NULL);
    httpd_route(h, "POST", "/filesystem.Filesystem/RemoveWatcher", rpc_unimplemented, 0, NULL);
}
