/* fspath.c - path normalization and confined resolution (see fspath.h). */
#include "fspath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Expands ~ and relative paths, then resolves "." and ".." segment by
 * segment; ".." at the top stays at "/". */
int fsp_clean(const char *in, char *out, size_t outsz)
{
    char tmp[4096];
    if (!in || !in[0] || strcmp(in, "~") == 0)
        snprintf(tmp, sizeof tmp, "%s", FSP_HOME);
    else if (strncmp(in, "~/", 2) == 0)
        snprintf(tmp, sizeof tmp, "%s/%s", FSP_HOME, in + 2);
    else if (in[0] != '/')
        snprintf(tmp, sizeof tmp, "%s/%s", FSP_HOME, in);
    else
        snprintf(tmp, sizeof tmp, "%s", in);
    if (strlen(tmp) >= sizeof tmp - 1)
        return -1;
    size_t o = 0;
    const char *p = tmp;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            if (o + 1 + len + 1 > outsz)
                return -1;
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0) {
        if (outsz < 2)
            return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}

/* True if `path` equals `dir` or lies below it. */
static bool below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Lexical check: the path is /home/user, /tmp or below them. */
bool fsp_writable(const char *clean)
{
    return below(clean, FSP_HOME) || below(clean, "/tmp");
}

/* The directories that hold bind mounts and must never be removed or renamed. */
bool fsp_is_fixed(const char *clean)
{
    return strcmp(clean, "/") == 0 || strcmp(clean, "/home") == 0 ||
           strcmp(clean, FSP_HOME) == 0 || strcmp(clean, "/tmp") == 0;
}

/* The confined lookup every file operation goes through. */
int fsp_open(int root_fd, const char *clean, int flags, mode_t mode)
{
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (unsigned long long)(flags | O_CLOEXEC);
    if (flags & (O_CREAT | O_TMPFILE))
        how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
        fd = (int)syscall(SYS_openat2, root_fd, clean, &how, sizeof how);
    } while (fd < 0 && errno == EAGAIN);
    return fd;
}

/* Splits off the last component and opens what precedes it. */
int fsp_open_parent(int root_fd, const char *clean, const char **base)
{
    const char *slash = strrchr(clean, '/');
    if (!slash || slash[1] == '\0') {
        errno = EINVAL;
        return -1;
    }
    *base = slash + 1;
    char parent[4096];
    size_t n = (size_t)(slash - clean);
    if (n >= sizeof parent) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (n == 0) {
        parent[0] = '/';
        n = 1;
    } else {
        memcpy(parent, clean, n);
    }
    parent[n] = '\0';
    return fsp_open(root_fd, parent, O_PATH | O_DIRECTORY, 0);
}

/* Resolves the parent and re-checks the resulting real path. */
int fsp_open_parent_w(int root_fd, const char *root, const char *clean, const char **base,
                      char *real, size_t realsz)
{
    int fd = fsp_open_parent(root_fd, clean, base);
    if (fd < 0)
        return -1;
    char parent[4096];
    if (fsp_fd_path(fd, root, parent, sizeof parent) < 0) {
        close(fd);
        errno = EACCES;
        return -1;
    }
    int n = snprintf(real, realsz, "%s%s%s", parent, strcmp(parent, "/") == 0 ? "" : "/", *base);
    if (n < 0 || (size_t)n >= realsz || !fsp_writable(real) || fsp_is_fixed(real)) {
        close(fd);
        errno = EACCES;
        return -1;
    }
    return fd;
}

/* Creates each missing prefix directory through a confined, checked
 * parent lookup; prefixes that already exist (even read-only ones such as
 * /home) are simply passed. */
int fsp_mkdir_p(int root_fd, const char *root, const char *clean)
{
    char prefix[4096];
    size_t len = strlen(clean);
    if (len >= sizeof prefix) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (size_t i = 1; i <= len; i++) {
        if (i < len && clean[i] != '/')
            continue;
        memcpy(prefix, clean, i);
        prefix[i] = '\0';
        int fd = fsp_open(root_fd, prefix, O_PATH | O_DIRECTORY, 0);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        if (errno != ENOENT)
            return -1;
        const char *base;
        char real[4096];
        int pfd = fsp_open_parent_w(root_fd, root, prefix, &base, real, sizeof real);
        if (pfd < 0)
            return -1;
        int rc = mkdirat(pfd, base, 0755);
        int e = errno;
        close(pfd);
        if (rc < 0 && e != EEXIST) {
            errno = e;
            return -1;
        }
    }
    return 0;
}

/* Removes `name` in `dfd`, recursing into directories opened with
 * O_NOFOLLOW so that symlinks are unlinked, never followed. */
static int remove_at(int dfd, const char *name, int depth)
{
    if (unlinkat(dfd, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return -1;
    if (depth > 256) {
        errno = ELOOP;
        return -1;
    }
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (remove_at(dirfd(d), de->d_name, depth + 1) < 0)
            rc = -1;
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = -1;
    return rc;
}

/* rm -rf limited to the sandbox's writable directories. */
int fsp_remove(int root_fd, const char *root, const char *clean)
{
    const char *base;
    char real[4096];
    int pfd = fsp_open_parent_w(root_fd, root, clean, &base, real, sizeof real);
    if (pfd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = remove_at(pfd, base, 0);
    int e = errno;
    close(pfd);
    errno = e;
    return rc;
}

/* Reads the kernel's path of the descriptor and strips the root prefix. */
int fsp_fd_path(int fd, const char *root, char *out, size_t outsz)
{
    char link[64], host[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, host, sizeof host - 1);
    if (n < 0)
        return -1;
    host[n] = '\0';
    size_t rl = strlen(root);
    if (strncmp(host, root, rl) != 0 || (host[rl] != '\0' && host[rl] != '/'))
        return -1;
    snprintf(out, outsz, "%s", host[rl] ? host + rl : "/");
    return 0;
}
