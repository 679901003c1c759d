/*
 * connect_client.c - a deliberately low-level Connect streaming client for
 * sandboxd's tests.
 *
 * It speaks HTTP/1.1 over a raw socket so that the test controls exactly
 * how bytes move: the request can be written in N-byte pieces with delays
 * (to split the request envelope across the server's reads), and the
 * response is read with fixed or random read sizes (so envelopes straddle
 * reads).  It decodes chunked transfer encoding and Connect envelopes,
 * writes the decoded stdout/stderr bytes to files and prints a JSON summary:
 *
 *   {"http_status":200,"start_pid":2,"data_events":3,"stdout_bytes":..,
 *    "stderr_bytes":..,"max_chunk":..,"keepalives":0,"end":{...}|null,
 *    "eos":{...}|null,"eos_seen":true,"http_complete":true,"events_first":"start",
 *    "elapsed_ms":12}
 *
 * http_complete is false when the connection closed before the chunked
 * body's terminating chunk (a dropped connection).
 */
#include "b64.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *host;
    int port;
    const char *path;
    const char *sandbox;
    const char *token;
    const char *json;
    char *cmd_json;
    long timeout_ms;
    int keepalive_s;
    int write_chunk;
    int write_delay_us;
    int read_chunk;      /* 0 = random 1..4096 */
    const char *stdout_file;
    const char *stderr_file;
    bool print_events;
} opts_t;

typedef struct state {
    unsigned char *body;  /* decoded HTTP body bytes not yet parsed as envelopes */
    size_t blen, bcap;
    FILE *out, *err;
    long long stdout_bytes, stderr_bytes;
    size_t max_chunk;
    int data_events, keepalives, events;
    int start_pid;
    const char *first;
    json_t *end, *eos;
    bool protocol_error;
} state_t;

/* Monotonic milliseconds, for the elapsed time in the summary. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses command-line options. */
static void parse(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->path = "/process.Process/Start";
    o->write_chunk = 1 << 30;
    o->read_chunk = 65536;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--port")) o->port = atoi(v), i++;
        else if (!strcmp(a, "--path")) o->path = v, i++;
        else if (!strcmp(a, "--sandbox")) o->sandbox = v, i++;
        else if (!strcmp(a, "--token")) o->token = v, i++;
        else if (!strcmp(a, "--json")) o->json = v, i++;
        else if (!strcmp(a, "--cmd")) {
            json_t *j = json_pack("{s:{s:s,s:[s,s,s]},s:b}", "process", "cmd", "/bin/bash", "args", "-l", "-c", v, "stdin", 0);
            o->cmd_json = json_dumps(j, JSON_COMPACT);
            json_decref(j);
            i++;
        }
        else if (!strcmp(a, "--timeout-ms")) o->timeout_ms = atol(v), i++;
        else if (!strcmp(a, "--keepalive")) o->keepalive_s = atoi(v), i++;
        else if (!strcmp(a, "--write-chunk")) o->write_chunk = atoi(v), i++;
        else if (!strcmp(a, "--write-delay-us")) o->write_delay_us = atoi(v), i++;
        else if (!strcmp(a, "--read-chunk")) o->read_chunk = atoi(v), i++;
        else if (!strcmp(a, "--read-random")) o->read_chunk = 0;
        else if (!strcmp(a, "--stdout-file")) o->stdout_file = v, i++;
        else if (!strcmp(a, "--stderr-file")) o->stderr_file = v, i++;
        else if (!strcmp(a, "--events")) o->print_events = true;
        else {
            fprintf(stderr, "connect_client: unknown option %s\n", a);
            exit(2);
        }
    }
    if (!o->port || !o->sandbox || (!o->json && !o->cmd_json)) {
        fprintf(stderr, "usage: connect_client --port P --sandbox ID [--token T] (--cmd CMD | --json MSG)\n"
                        "  [--path P] [--timeout-ms N] [--keepalive S] [--write-chunk N] [--write-delay-us N]\n"
                        "  [--read-chunk N | --read-random] [--stdout-file F] [--stderr-file F] [--events]\n");
        exit(2);
    }
}

/* Writes all of buf in pieces of `chunk` bytes with an optional delay. */
static int write_pieces(int fd, const char *buf, size_t len, int chunk, int delay_us)
{
    size_t off = 0;
    while (off < len) {
        size_t n = len - off;
        if ((size_t)chunk < n)
            n = (size_t)chunk;
        ssize_t w = write(fd, buf + off, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        off += (size_t)w;
        if (delay_us)
            usleep((useconds_t)delay_us);
    }
    return 0;
}

/* Appends decoded body bytes and parses every complete envelope. */
static void feed(state_t *s, const unsigned char *p, size_t n, const opts_t *o)
{
    if (s->blen + n > s->bcap) {
        s->bcap = (s->blen + n) * 2 + 4096;
        s->body = realloc(s->body, s->bcap);
    }
    memcpy(s->body + s->blen, p, n);
    s->blen += n;
    size_t off = 0;
    while (s->blen - off >= 5) {
        unsigned char flags = s->body[off];
        uint32_t len = ((uint32_t)s->body[off + 1] << 24) | ((uint32_t)s->body[off + 2] << 16) |
                       ((uint32_t)s->body[off + 3] << 8) | s->body[off + 4];
        if (s->blen - off - 5 < len)
            break;
        json_error_t je;
        json_t *j = json_loadb((const char *)s->body + off + 5, len, 0, &je);
        off += 5 + len;
        if (!j) {
            s->protocol_error = true;
            continue;
        }
        s->events++;
        if (flags & 0x02) {
            json_decref(s->eos);
            s->eos = j;
            if (o->print_events) {
                char *t = json_dumps(j, JSON_COMPACT);
                printf("eos %s\n", t);
                free(t);
            }
            continue;
        }
        if (s->eos)
            s->protocol_error = true; /* message after end-of-stream */
        json_t *ev = json_object_get(j, "event");
        const char *kind = "?";
        if (json_object_get(ev, "start")) {
            kind = "start";
            s->start_pid = (int)json_integer_value(json_object_get(json_object_get(ev, "start"), "pid"));
        } else if (json_object_get(ev, "data")) {
            kind = "data";
            json_t *d = json_object_get(ev, "data");
            const char *b = json_string_value(json_object_get(d, "stdout"));
            bool is_err = false;
            if (!b) {
                b = json_string_value(json_object_get(d, "stderr"));
                is_err = true;
            }
            if (b) {
                size_t bl = strlen(b);
                unsigned char *raw = malloc(bl / 4 * 3 + 4);
                ssize_t rn = b64_decode(b, bl, raw);
                if (rn < 0)
                    s->protocol_error = true;
                else {
                    if ((size_t)rn > s->max_chunk)
                        s->max_chunk = (size_t)rn;
                    FILE *f = is_err ? s->err : s->out;
                    if (f)
                        fwrite(raw, 1, (size_t)rn, f);
                    if (is_err)
                        s->stderr_bytes += rn;
                    else
                        s->stdout_bytes += rn;
                }
                free(raw);
            }
            s->data_events++;
        } else if (json_object_get(ev, "end")) {
            kind = "end";
            json_decref(s->end);
            s->end = json_incref(json_object_get(ev, "end"));
        } else if (json_object_get(ev, "keepalive")) {
            kind = "keepalive";
            s->keepalives++;
        }
        if (!s->first)
            s->first = strdup(kind);
        if (o->print_events && strcmp(kind, "data") != 0) {
            char *t = json_dumps(j, JSON_COMPACT);
            printf("msg %s\n", t);
            free(t);
        }
        json_decref(j);
    }
    memmove(s->body, s->body + off, s->blen - off);
    s->blen -= off;
}

/* Reads with the configured (or random) size; 0 at EOF. */
static ssize_t read_some(int fd, unsigned char *buf, size_t cap, const opts_t *o)
{
    size_t want = o->read_chunk ? (size_t)o->read_chunk : (size_t)(1 + rand() % 4096);
    if (want > cap)
        want = cap;
    ssize_t n;
    do {
        n = read(fd, buf, want);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* Builds and sends the request (headers at once, the envelope in the
 * requested pieces), reads and decodes the response with the requested read
 * sizes, and prints the JSON summary. */
int main(int argc, char **argv)
{
    opts_t o;
    parse(argc, argv, &o);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    const char *msg = o.json ? o.json : o.cmd_json;
    size_t mlen = strlen(msg);

    char head[4096];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%d\r\nE2b-Sandbox-Id: %s\r\nE2b-Sandbox-Port: 49983\r\n"
                      "Content-Type: application/connect+json\r\nConnect-Protocol-Version: 1\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n",
                      o.path, o.host, o.port, o.sandbox, mlen + 5);
    if (o.token)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "X-Access-Token: %s\r\n", o.token);
    if (o.timeout_ms > 0)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Connect-Timeout-Ms: %ld\r\n", o.timeout_ms);
    if (o.keepalive_s > 0)
        hl += snprintf(head + hl, sizeof head - (size_t)hl, "Keepalive-Ping-Interval: %d\r\n", o.keepalive_s);
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "\r\n");
    size_t total = (size_t)hl + 5 + mlen;
    char *req = malloc(total);
    memcpy(req, head, (size_t)hl);
    req[hl] = 0;
    req[hl + 1] = (char)(mlen >> 24);
    req[hl + 2] = (char)(mlen >> 16);
    req[hl + 3] = (char)(mlen >> 8);
    req[hl + 4] = (char)mlen;
    memcpy(req + hl + 5, msg, mlen);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o.port)};
    inet_pton(AF_INET, o.host, &sa.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    long long t0 = now_ms();
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        return 1;
    }
    /* headers in one piece, the body (the envelope) in the requested pieces */
    if (write_pieces(fd, req, (size_t)hl, 1 << 30, 0) < 0 ||
        write_pieces(fd, req + hl, 5 + mlen, o.write_chunk, o.write_delay_us) < 0) {
        perror("write");
        return 1;
    }

    state_t s;
    memset(&s, 0, sizeof s);
    s.out = o.stdout_file ? fopen(o.stdout_file, "wb") : NULL;
    s.err = o.stderr_file ? fopen(o.stderr_file, "wb") : NULL;

    /* response head */
    unsigned char *raw = malloc(1 << 16);
    size_t rl = 0, rcap = 1 << 16;
    char *hdr_end = NULL;
    while (!hdr_end) {
        if (rl + 4097 > rcap)
            raw = realloc(raw, rcap *= 2);
        ssize_t n = read_some(fd, raw + rl, rcap - rl - 1, &o);
        if (n <= 0)
            break;
        rl += (size_t)n;
        raw[rl] = 0;
        hdr_end = strstr((char *)raw, "\r\n\r\n");
    }
    int status = 0;
    bool chunked = false, http_complete = false;
    long long content_length = -1;
    if (hdr_end) {
        sscanf((char *)raw, "HTTP/1.%*d %d", &status);
        *hdr_end = 0;
        char *line = strstr((char *)raw, "\r\n");
        while (line) {
            line += 2;
            char *next = strstr(line, "\r\n");
            if (next)
                *next = 0;
            if (!strncasecmp(line, "transfer-encoding:", 18) && strstr(line + 18, "chunked"))
                chunked = true;
            if (!strncasecmp(line, "content-length:", 15))
                content_length = atoll(line + 15);
            line = next;
        }
        size_t used = (size_t)((unsigned char *)hdr_end + 4 - raw);
        memmove(raw, raw + used, rl - used);
        rl -= used;
    }

    /* body: decode chunked (or identity) incrementally */
    unsigned char *buf = malloc(65536);
    long long chunk_left = -1; /* -1: expecting a size line */
    long long got = 0;
    for (;;) {
        size_t pos = 0;
        while (pos < rl) {
            if (!chunked) {
                feed(&s, raw + pos, rl - pos, &o);
                got += (long long)(rl - pos);
                pos = rl;
                if (content_length >= 0 && got >= content_length)
                    http_complete = true;
                break;
            }
            if (chunk_left < 0) {
                unsigned char *nl = memchr(raw + pos, '\n', rl - pos);
                if (!nl)
                    break;
                long long sz = strtoll((char *)raw + pos, NULL, 16);
                pos = (size_t)(nl - raw) + 1;
                if (sz == 0) {
                    http_complete = true;
                    break;
                }
                chunk_left = sz;
            } else if (chunk_left > 0) {
                size_t n = rl - pos;
                if ((long long)n > chunk_left)
                    n = (size_t)chunk_left;
                feed(&s, raw + pos, n, &o);
                pos += n;
                chunk_left -= (long long)n;
            } else {
                /* CRLF after the chunk data */
                if (rl - pos < 2)
                    break;
                pos += 2;
                chunk_left = -1;
            }
        }
        memmove(raw, raw + pos, rl - pos);
        rl -= pos;
        if (http_complete)
            break;
        ssize_t n = read_some(fd, buf, 65536, &o);
        if (n <= 0)
            break;
        if (rl + (size_t)n > rcap)
            raw = realloc(raw, rcap = (rl + (size_t)n) * 2);
        memcpy(raw + rl, buf, (size_t)n);
        rl += (size_t)n;
    }
    if (!chunked && content_length < 0)
        http_complete = true;
    close(fd);
    if (s.out)
        fclose(s.out);
    if (s.err)
        fclose(s.err);

    json_t *sum = json_pack("{s:i,s:i,s:i,s:I,s:I,s:I,s:i,s:O?,s:O?,s:b,s:b,s:s?,s:b,s:I,s:i}",
                            "http_status", status, "start_pid", s.start_pid, "data_events", s.data_events,
                            "stdout_bytes", (json_int_t)s.stdout_bytes, "stderr_bytes",
                            (json_int_t)s.stderr_bytes, "max_chunk", (json_int_t)s.max_chunk,
                            "keepalives", s.keepalives, "end", s.end, "eos", s.eos, "eos_seen",
                            s.eos != NULL, "http_complete", http_complete, "events_first", s.first,
                            "protocol_error", s.protocol_error || s.blen != 0, "elapsed_ms",
                            (json_int_t)(now_ms() - t0), "events", s.events);
    char *t = json_dumps(sum, JSON_COMPACT);
    printf("%s\n", t);
    return 0;
}
