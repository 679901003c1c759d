/* portfwd.c - forwarding <port>-<id>.<domain> requests to servers inside a
 * sandbox (see portfwd.h). */
#include "portfwd.h"

#include "log.h"
#include "proxy.h"
#include "ptree.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_LISTENERS 16
#define CONNECT_TIMEOUT_MS 3000
#define HEADER_TIMEOUT_MS (120 * 1000)
#define IDLE_TIMEOUT_MS (620 * 1000) /* E2B's proxy idle timeout */
#define MAX_RESPONSE_HEADER (64 * 1024)

/* A listening TCP socket found in /proc/net/tcp{,6}. */
typedef struct listener {
    unsigned long inode;
    int family;
    struct in_addr a4;
    struct in6_addr a6;
} listener_t;

/* Collects the LISTEN sockets of a port from one /proc/net table. */
static int scan_table(const char *path, int family, int port, listener_t *out, int n, int max)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return n;
    char line[512];
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return n;
    }
    while (n < max && fgets(line, sizeof line, f)) {
        char addr[64];
        unsigned lport, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                   addr, &lport, &st, &inode) != 4)
            continue;
        if (st != 0x0A || (int)lport != port || inode == 0)
            continue;
        listener_t *l = &out[n];
        memset(l, 0, sizeof *l);
        l->inode = inode;
        l->family = family;
        if (family == AF_INET) {
            l->a4.s_addr = (in_addr_t)strtoul(addr, NULL, 16);
        } else if (strlen(addr) == 32) {
            for (int w = 0; w < 4; w++) {
                char word[9];
                memcpy(word, addr + 8 * w, 8);
                word[8] = '\0';
                uint32_t v = (uint32_t)strtoul(word, NULL, 16);
                memcpy(&l->a6.s6_addr[4 * w], &v, 4);
            }
        } else {
            continue;
        }
        n++;
    }
    fclose(f);
    return n;
}

/* Which of the listeners belongs to a process of the sandbox (its init's
 * process tree): index into ls, or -1. */
static int owned_listener(sandbox_t *sb, const listener_t *ls, int nls)
{
    pthread_mutex_lock(&sb->mu);
    pid_t init = sb->init_state == INIT_READY ? sb->init_pid : 0;
    pthread_mutex_unlock(&sb->mu);
    if (init <= 0 || nls == 0)
        return -1;
    ptree_t t;
    if (ptree_scan(&t) < 0)
        return -1;
    ptree_assign(&t, &init, 1);
    int found = -1;
    for (int k = 0; k < t.n && found < 0; k++) {
        if (t.v[k].owner != 0)
            continue;
        char dir[64];
        snprintf(dir, sizeof dir, "/proc/%d/fd", (int)t.v[k].pid);
        DIR *d = opendir(dir);
        if (!d)
            continue;
        struct dirent *de;
        while (found < 0 && (de = readdir(d))) {
            char link[64];
            ssize_t r = readlinkat(dirfd(d), de->d_name, link, sizeof link - 1);
            if (r <= 8)
                continue;
            link[r] = '\0';
            unsigned long inode;
            if (sscanf(link, "socket:[%lu]", &inode) != 1)
                continue;
            for (int i = 0; i < nls; i++)
                if (ls[i].inode == inode)
                    found = i;
        }
        closedir(d);
    }
    ptree_free(&t);
    return found;
}

/* Finds the sandbox's listener on `port` (0 if found). */
static int find_owned(sandbox_t *sb, int port, listener_t *out)
{
    listener_t ls[MAX_LISTENERS];
    int n = scan_table("/proc/net/tcp", AF_INET, port, ls, 0, MAX_LISTENERS);
    n = scan_table("/proc/net/tcp6", AF_INET6, port, ls, n, MAX_LISTENERS);
    int i = owned_listener(sb, ls, n);
    if (i < 0)
        return -1;
    *out = ls[i];
    return 0;
}

bool portfwd_port_open(sandbox_t *sb, int port)
{
    listener_t l;
    return port > 0 && port < 65536 && find_owned(sb, port, &l) == 0;
}

/* Connects to the listener (a wildcard address means loopback). */
static int connect_listener(const listener_t *l, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof ss);
    if (l->family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        s4->sin_addr = l->a4.s_addr == htonl(INADDR_ANY) ? (struct in_addr){htonl(INADDR_LOOPBACK)} : l->a4;
        sl = sizeof *s4;
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        s6->sin6_addr = IN6_IS_ADDR_UNSPECIFIED(&l->a6) ? in6addr_loopback : l->a6;
        sl = sizeof *s6;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t el = sizeof err;
        if (poll(&p, 1, CONNECT_TIMEOUT_MS) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err) {
            close(fd);
            return -1;
        }
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    struct timeval tv = {.tv_sec = 60};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    return fd;
}

/* Hop-by-hop and framing headers that are not forwarded (either way). */
static bool hop_header(const char *name)
{
    static const char *const skip[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "Proxy-Authorization", "TE", "Trailer", "Trailers", "Transfer-Encoding", "Upgrade",
        "Content-Length", "Expect", "Host", "Date",
    };
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

/* Percent-encodes what is not allowed raw (keep: unreserved, sub-delims,
 * ':', '@', and '/' when `path`). */
static void put_escaped(buf_t *b, const char *s, bool path)
{
    static const char *const keep = "-._~!$'()*,;:@";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool raw = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                   (*p >= '0' && *p <= '9') || (*p && strchr(keep, *p)) || (path && *p == '/') ||
                   (path && (*p == '&' || *p == '=' || *p == '+'));
        if (raw)
            buf_append(b, p, 1);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

/* State for the header and query iterators. */
typedef struct req_build {
    buf_t *b;
    bool first;
} req_build_t;

/* MHD iterator: one query argument. */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    req_build_t *rb = cls;
    buf_puts(rb->b, rb->first ? "?" : "&");
    rb->first = false;
    put_escaped(rb->b, key, false);
    if (value) {
        buf_puts(rb->b, "=");
        put_escaped(rb->b, value, false);
    }
    return MHD_YES;
}

/* MHD iterator: one end-to-end request header. */
static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    req_build_t *rb = cls;
    if (!hop_header(key) && !strchr(key, '\r') && !strchr(key, '\n') &&
        !strchr(value ? value : "", '\r') && !strchr(value ? value : "", '\n'))
        buf_printf(rb->b, "%s: %s\r\n", key, value ? value : "");
    return MHD_YES;
}

/* The request line and headers for the upstream server. */
static void build_request(httpd_req_t *req, sandbox_t *sb, int port, size_t len, buf_t *b)
{
    struct MHD_Connection *c = httpd_connection(req);
    buf_printf(b, "%s ", httpd_method(req));
    put_escaped(b, httpd_path(req), true);
    req_build_t rb = {b, true};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg, &rb);
    buf_puts(b, " HTTP/1.0\r\n");
    char host[512] = "";
    pthread_mutex_lock(&sb->mu);
    const char *mask = json_string_value(json_object_get(sb->network, "maskRequestHost"));
    if (mask && mask[0]) {
        /* "${PORT}" stands for the addressed port */
        const char *ph = strstr(mask, "${PORT}");
        if (ph)
            snprintf(host, sizeof host, "%.*s%d%s", (int)(ph - mask), mask, port, ph + 7);
        else
            snprintf(host, sizeof host, "%s", mask);
    }
    pthread_mutex_unlock(&sb->mu);
    const char *h = httpd_header(req, "Host");
    buf_printf(b, "Host: %s\r\n", host[0] ? host : (h ? h : "localhost"));
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, &rb);
    const char *m = httpd_method(req);
    if (len || strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 || strcmp(m, "PATCH") == 0)
        buf_printf(b, "Content-Length: %zu\r\n", len);
    buf_puts(b, "Connection: close\r\n\r\n");
}

/* Writes everything (the socket has a send timeout). */
static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the end of the response header; `b` keeps what was read. */
static ssize_t read_header(int fd, buf_t *b)
{
    for (;;) {
        const char *s = buf_cstr(b);
        const char *e = strstr(s, "\r\n\r\n");
        if (e)
            return (ssize_t)(e - s) + 4;
        e = strstr(s, "\n\n");
        if (e)
            return (ssize_t)(e - s) + 2;
        if (b->len >= MAX_RESPONSE_HEADER)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, HEADER_TIMEOUT_MS) != 1)
            return -1;
        if (buf_reserve(b, 8192) < 0)
            return -1;
        ssize_t r = read(fd, b->data + b->len, 8192);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b->len += (size_t)r;
        if (memchr(b->data + b->len - (size_t)r, '\0', (size_t)r))
            return -1; /* a NUL in the header: not HTTP */
    }
}

/* Streams the upstream body: first what came with the header, then reads
 * until the server closes. */
typedef struct fwd {
    int fd;
    buf_t pre;
} fwd_t;

static httpd_msg_t fwd_next(void *ctx, buf_t *out)
{
    fwd_t *f = ctx;
    if (f->pre.len) {
        buf_append(out, f->pre.data, f->pre.len);
        buf_clear(&f->pre);
        return HTTPD_MSG_DATA;
    }
    for (;;) {
        struct pollfd p = {.fd = f->fd, .events = POLLIN};
        int pr = poll(&p, 1, IDLE_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr != 1)
            return HTTPD_MSG_ABORT;
        if (buf_reserve(out, 65536) < 0)
            return HTTPD_MSG_ABORT;
        ssize_t r = read(f->fd, out->data + out->len, 65536);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return HTTPD_MSG_ABORT;
        if (r == 0)
            return HTTPD_MSG_END;
        out->len += (size_t)r;
        return HTTPD_MSG_DATA;
    }
}

static void fwd_free(void *ctx)
{
    fwd_t *f = ctx;
    close(f->fd);
    buf_free(&f->pre);
    free(f);
}

/* Parses the upstream header into a status and reply headers; returns the
 * Content-Type (in `b`, valid while b lives) or NULL. */
static const char *parse_response(httpd_req_t *req, char *hdr, int *status)
{
    char *save = NULL;
    char *line = strtok_r(hdr, "\r\n", &save);
    int st = 0;
    if (!line || sscanf(line, "HTTP/%*d.%*d %d", &st) != 1 || st < 100 || st > 999)
        return NULL;
    *status = st;
    const char *ctype = NULL;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            continue;
        *colon = '\0';
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "Content-Type") == 0)
            ctype = v;
        else if (!hop_header(line))
            httpd_add_header(req, line, v);
    }
    return ctype ? ctype : "";
}

httpd_result_t portfwd_forward(httpd_req_t *req, sandbox_t *sb, int port, const char *body,
                               size_t len)
{
    httpd_set_label(req, "PORT-FORWARD");
    listener_t l;
    int fd = -1;
    if (port <= 0 || port > 65535 || find_owned(sb, port, &l) < 0 ||
        (fd = connect_listener(&l, port)) < 0)
        return proxy_reply_port_closed(req, sb->id, port);
    buf_t b;
    buf_init(&b);
    build_request(req, sb, port, len, &b);
    if (write_all(fd, b.data, b.len) < 0 || (len && write_all(fd, body, len) < 0)) {
        buf_free(&b);
        close(fd);
        return proxy_reply_port_closed(req, sb->id, port);
    }
    buf_clear(&b);
    ssize_t hlen = read_header(fd, &b);
    if (hlen < 0) {
        buf_free(&b);
        close(fd);
        return proxy_reply_port_closed(req, sb->id, port);
    }
    char *hdr = strndup(b.data, (size_t)hlen);
    int status = 0;
    const char *ctype = hdr ? parse_response(req, hdr, &status) : NULL;
    if (!ctype) {
        free(hdr);
        buf_free(&b);
        close(fd);
        return proxy_reply_port_closed(req, sb->id, port);
    }
    if (status < 200 || status == 204 || status == 304) {
        close(fd);
        buf_free(&b);
        httpd_result_t rc = httpd_reply_empty(req, status < 200 ? 502 : status);
        free(hdr);
        return rc;
    }
    fwd_t *f = calloc(1, sizeof *f);
    if (!f) {
        free(hdr);
        buf_free(&b);
        close(fd);
        return httpd_reply_error(req, 500, "out of memory");
    }
    f->fd = fd;
    buf_init(&f->pre);
    buf_append(&f->pre, b.data + hlen, b.len - (size_t)hlen);
    buf_free(&b);
    httpd_result_t rc = httpd_reply_stream(req, status, ctype[0] ? ctype : NULL, fwd_next, f, fwd_free);
    free(hdr);
    return rc;
}
