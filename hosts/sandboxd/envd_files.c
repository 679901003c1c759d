/* envd_files.c - envd's plain HTTP endpoints: /health, /files (download and
 * multipart or raw upload), /envs, /metrics (see envd.h). */
#include "envd.h"

#include "fspath.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "stats.h"
#include "timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* GET /health: 204 from envd, 200 "OK" from the code interpreter; 502 for
 * an unknown sandbox (the SDK's isRunning() relies on that). */
static httpd_result_t get_health(httpd_req_t *req)
{
    int port = proxy_port(req);
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, port == PORT_INTERP ? PORT_INTERP : PORT_ENVD, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    sandbox_unref(sb);
    if (port == PORT_INTERP)
        return httpd_reply_bytes(req, 200, "application/json", "\"OK\"", 4);
    return httpd_reply_empty(req, 204);
}

/* Content type from the file extension (Go's mime table, abridged). */
static const char *content_type_for(const char *path)
{
    static const struct {
        const char *ext, *type;
    } map[] = {
        {".txt", "text/plain; charset=utf-8"}, {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},  {".css", "text/css; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
        {".json", "application/json"},         {".xml", "text/xml; charset=utf-8"},
        {".csv", "text/csv; charset=utf-8"},   {".md", "text/markdown; charset=utf-8"},
        {".png", "image/png"},                 {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},               {".gif", "image/gif"},
        {".svg", "image/svg+xml"},             {".pdf", "application/pdf"},
        {".zip", "application/zip"},           {".gz", "application/gzip"},
        {".wasm", "application/wasm"},         {".webp", "image/webp"},
    };
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
            if (strcasecmp(dot, map[i].ext) == 0)
                return map[i].type;
    return "application/octet-stream";
}

/* GET /files?path=: the raw bytes of a file (relative paths against
 * /home/user); JSON errors 400 (directory/invalid) and 404. */
static httpd_result_t get_files(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_ENVD, TOKEN_NONE, &rc);
    if (!sb)
        return rc;
    const char *q = httpd_query(req, "path");
    char path[4096];
    if (fsp_clean(q ? q : "", path, sizeof path) < 0) {
        sandbox_unref(sb);
        return httpd_reply_error(req, 400, "invalid path '%s'", q ? q : "");
    }
    int fd = fsp_open(sb->root_fd, path, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
    sandbox_unref(sb);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == EXDEV || errno == ELOOP)
            return httpd_reply_error(req, 404, "path '%s' does not exist", path);
        return httpd_reply_error(req, 500, "error opening file '%s': %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return httpd_reply_error(req, 500, "error checking if path exists '%s'", path);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return httpd_reply_error(req, 400, "path '%s' is a directory", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return httpd_reply_error(req, 400, "path '%s' is not a regular file", path);
    }
    fcntl(fd, F_SETFL, 0);
    const char *base = strrchr(path, '/') + 1;
    char disp[4200];
    snprintf(disp, sizeof disp, "inline; filename=\"%s\"", base);
    httpd_add_header(req, "Content-Disposition", disp);
    stats_add("files_read_bytes", st.st_size);
    return httpd_reply_fd(req, 200, content_type_for(path), fd, (uint64_t)st.st_size);
}

/* What the upload body is (UP_FORWARD: a request for a user port, whose
 * body is collected and forwarded, see portfwd.h). */
typedef enum { UP_UNKNOWN = 0, UP_MULTIPART, UP_RAW, UP_FORWARD } upload_kind_t;

/* State of one POST /files, kept as the request's user data. */
typedef struct upload {
    sandbox_t *sb;              /* NULL if the sandbox could not be resolved */
    upload_kind_t kind;
    struct MHD_PostProcessor *pp;
    char qpath[4096];           /* clean ?path=, "" if none */
    int fd;                     /* file being written */
    char *part_name;            /* filename of the current multipart part */
    uint64_t part_bytes;        /* bytes written for the current part */
    uint64_t written;
    json_t *results;            /* [{"name","type":"file","path"}] */
    bool failed;
    buf_t fwd;                  /* UP_FORWARD: the body */
} upload_t;

/* Request-end cleanup, whatever happened. */
static void upload_free(void *p)
{
    upload_t *u = p;
    if (u->pp)
        MHD_destroy_post_processor(u->pp);
    if (u->fd >= 0)
        close(u->fd);
    free(u->part_name);
    json_decref(u->results);
    buf_free(&u->fwd);
    if (u->sb)
        sandbox_unref(u->sb);
    free(u);
}

/* Opens (creating parents, truncating) the target of one uploaded file and
 * records it in the results.  Fails the request on a bad path. */
static int upload_open(httpd_req_t *req, upload_t *u, const char *target)
{
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    char path[4096];
    if (!target || fsp_clean(target, path, sizeof path) < 0) {
        httpd_fail(req, 400, "invalid path");
        return -1;
    }
    if (!fsp_writable(path) || fsp_is_fixed(path)) {
        httpd_fail(req, 400, "cannot write '%s': outside the sandbox's writable directories "
                             "(/home/user, /tmp)", path);
        return -1;
    }
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", path);
    *strrchr(parent, '/') = '\0';
    if (parent[0] && fsp_mkdir_p(u->sb->root_fd, u->sb->root, parent) < 0) {
        httpd_fail(req, 400, "error creating directory '%s': %s", parent, strerror(errno));
        return -1;
    }
    const char *base;
    char real[4096];
    int pfd = fsp_open_parent_w(u->sb->root_fd, u->sb->root, path, &base, real, sizeof real);
    if (pfd < 0) {
        httpd_fail(req, 400, "cannot write '%s': %s", path,
                   errno == EACCES ? "it resolves outside the sandbox's writable directories"
                                   : strerror(errno));
        return -1;
    }
    u->fd = openat(pfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (u->fd < 0 && errno == ELOOP) /* the file is a symlink: follow it, confined */
        u->fd = fsp_open(u->sb->root_fd, real, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY, 0644);
    close(pfd);
    if (u->fd < 0) {
        if (errno == EISDIR)
            httpd_fail(req, 400, "path '%s' is a directory", path);
        else if (errno == ENOSPC)
            httpd_fail(req, 507, "not enough disk space to write '%s'", path);
        else
            httpd_fail(req, 400, "error opening file '%s': %s", path, strerror(errno));
        return -1;
    }
    json_array_append_new(u->results, json_pack("{s:s,s:s,s:s}", "name", strrchr(path, '/') + 1,
                                                 "type", "file", "path", path));
    return 0;
}

/* Writes a chunk fully. */
static int upload_write(httpd_req_t *req, upload_t *u, const char *data, size_t size)
{
    while (size) {
        ssize_t w = write(u->fd, data, size);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            httpd_fail(req, errno == ENOSPC ? 507 : 500, "error writing file: %s", strerror(errno));
            return -1;
        }
        data += w;
        size -= (size_t)w;
        u->written += (size_t)w;
    }
    return 0;
}

/* MHD post-processor callback: each "file" part goes to ?path= or to the
 * part's filename (the SDK puts the target path there). */
static enum MHD_Result upload_part(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *filename, const char *content_type,
                                   const char *transfer_encoding, const char *data, uint64_t off,
                                   size_t size)
{
    (void)kind;
    (void)content_type;
    (void)transfer_encoding;
    httpd_req_t *req = cls;
    upload_t *u = httpd_user(req);
    if (u->failed || strcmp(key, "file") != 0)
        return MHD_YES;
    /* MHD may announce a part with an empty call before its data (both at
     * offset 0): a part is new when nothing was written to the current one
     * yet only if its filename differs. */
    bool same = u->part_name && filename && strcmp(u->part_name, filename) == 0;
    if (off == 0 && (u->fd < 0 || u->part_bytes > 0 || !same)) {
        free(u->part_name);
        u->part_name = filename ? strdup(filename) : NULL;
        u->part_bytes = 0;
        if (upload_open(req, u, u->qpath[0] ? u->qpath : filename) < 0) {
            u->failed = true;
            return MHD_YES;
        }
    }
    if (u->fd >= 0 && size) {
        if (upload_write(req, u, data, size) < 0)
            u->failed = true;
        u->part_bytes += size;
    }
    return MHD_YES;
}

/* Sets up the upload on the first body chunk. */
static upload_t *upload_begin(httpd_req_t *req)
{
    upload_t *u = httpd_user(req);
    if (u)
        return u;
    u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    u->fd = -1;
    u->results = json_array();
    buf_init(&u->fwd);
    httpd_set_user(req, u, upload_free);
    if (proxy_is_user_port(proxy_port(req))) {
        u->kind = UP_FORWARD;
        return u;
    }
    sandbox_t *sb = proxy_peek(req, PORT_ENVD);
    if (!sb) {
        u->failed = true; /* the final handler answers 502/404 through proxy_resolve */
        return u;
    }
    u->sb = sb;
    const char *q = httpd_query(req, "path");
    if (q && q[0] && fsp_clean(q, u->qpath, sizeof u->qpath) < 0) {
        httpd_fail(req, 400, "invalid path '%s'", q);
        u->failed = true;
        return u;
    }
    const char *enc = httpd_header(req, "Content-Encoding");
    if (enc && strcasecmp(enc, "identity") != 0) {
        httpd_fail(req, 400, "Content-Encoding '%s' is not supported by sandboxd", enc);
        u->failed = true;
        return u;
    }
    const char *ct = httpd_header(req, "Content-Type");
    if (ct && strncasecmp(ct, "multipart/form-data", 19) == 0) {
        u->kind = UP_MULTIPART;
        u->pp = MHD_create_post_processor(httpd_connection(req), 64 * 1024, upload_part, req);
        if (!u->pp) {
            httpd_fail(req, 400, "invalid multipart request");
            u->failed = true;
        }
    } else {
        u->kind = UP_RAW;
        if (!u->qpath[0]) {
            httpd_fail(req, 400, "the path query parameter is required for raw uploads");
            u->failed = true;
        } else if (upload_open(req, u, u->qpath) < 0) {
            u->failed = true;
        }
    }
    return u;
}

/* Body callback: feed the post processor or write raw bytes. */
static int post_files_body(httpd_req_t *req, const char *data, size_t size)
{
    upload_t *u = upload_begin(req);
    if (!u)
        return -1;
    if (u->failed)
        return 0;
    if (u->kind == UP_FORWARD) {
        if (u->fwd.len + size > 64u * 1024 * 1024) {
            httpd_fail(req, 413, "request body too large");
            u->failed = true;
        } else if (buf_append(&u->fwd, data, size) < 0) {
            httpd_fail(req, 500, "out of memory");
            u->failed = true;
        }
    } else if (u->kind == UP_MULTIPART) {
        if (MHD_post_process(u->pp, data, size) != MHD_YES && !u->failed) {
            httpd_fail(req, 400, "invalid multipart body");
            u->failed = true;
        }
    } else if (upload_write(req, u, data, size) < 0) {
        u->failed = true;
    }
    return 0;
}

/* POST /files final call: flush, then answer with the written files. */
static httpd_result_t post_files(httpd_req_t *req)
{
    upload_t *u = upload_begin(req); /* empty bodies never reached the body callback */
    httpd_result_t rc;
    if (!u)
        return httpd_reply_error(req, 500, "out of memory");
    if (u->kind == UP_FORWARD)
        return proxy_forward_body(req, u->fwd.data ? u->fwd.data : "", u->fwd.len);
    if (!u->sb) {
        sandbox_t *sb = proxy_resolve(req, PORT_ENVD, TOKEN_NONE, &rc);
        if (!sb)
            return rc;
        sandbox_unref(sb);
        return httpd_reply_error(req, 500, "sandbox lookup failed");
    }
    if (u->pp) {
        MHD_destroy_post_processor(u->pp);
        u->pp = NULL;
    }
    if (u->fd >= 0) {
        close(u->fd);
        u->fd = -1;
    }
    if (json_array_size(u->results) == 0)
        return httpd_reply_error(req, 400, "no file in the request (multipart field \"file\")");
    stats_add("files_written_bytes", (int64_t)u->written);
    json_t *res = u->results;
    u->results = NULL;
    return httpd_reply_json(req, 200, res);
}

/* GET /envs: the sandbox's environment variables. */
static httpd_result_t get_envs(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_ENVD, TOKEN_REQUIRED, &rc);
    if (!sb)
        return rc;
    json_t *env = json_deep_copy(sb->env_vars);
    sandbox_unref(sb);
    return httpd_reply_json(req, 200, env);
}

/* JSON reply with reals printed as Go prints a float32 metric (4.36, not
 * jansson's default 17 significant digits, 4.3600000000000003). */
static httpd_result_t reply_json_metrics(httpd_req_t *req, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(7));
    json_decref(body);
    if (!s)
        return httpd_reply_error(req, 500, "out of memory");
    httpd_result_t rc = httpd_reply_bytes(req, 200, "application/json", s, strlen(s));
    free(s);
    return rc;
}

/* GET /metrics: the sandbox's own figures in envd's shape (metrics.h). */
static httpd_result_t get_metrics(httpd_req_t *req)
{
    httpd_result_t rc;
    sandbox_t *sb = proxy_resolve(req, PORT_ENVD, TOKEN_REQUIRED, &rc);
    if (!sb)
        return rc;
    json_t *j = metrics_envd_json(sb);
    sandbox_unref(sb);
    return reply_json_metrics(req, j);
}

/* Registers /health, /files, /envs and /metrics. */
void envd_files_register(httpd_t *h)
{
    httpd_route(h, "GET", "/health", get_health, 0, NULL);
    httpd_route(h, "GET", "/files", get_files, 0, NULL);
    httpd_route_body(h, "POST", "/files", post_files, post_files_body, 0, NULL);
    httpd_route(h, "GET", "/envs", get_envs, 0, NULL);
    httpd_route(h, "GET", "/metrics", get_metrics, 0, NULL);
}
