/* initproto.c - length-prefixed JSON frames with fd passing (see initproto.h). */
#include "initproto.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Serializes the message and sends header+payload; descriptors ride on the
 * first sendmsg so they arrive with the frame's first byte.  A short send on
 * the stream socket is completed with plain sends. */
int initp_send(int sock, json_t *msg, const int *fds, int nfds)
{
    char *payload = json_dumps(msg, JSON_COMPACT);
    if (!payload)
        return -ENOMEM;
    size_t plen = strlen(payload);
    if (plen > INITP_MAX_FRAME || nfds > INITP_MAX_FDS) {
        free(payload);
        return -E2BIG;
    }
    size_t total = plen + 4;
    unsigned char *frame = malloc(total);
    if (!frame) {
        free(payload);
        return -ENOMEM;
    }
    frame[0] = (unsigned char)(plen >> 24);
    frame[1] = (unsigned char)(plen >> 16);
    frame[2] = (unsigned char)(plen >> 8);
    frame[3] = (unsigned char)plen;
    memcpy(frame + 4, payload, plen);
    free(payload);

    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * INITP_MAX_FDS)];
    } cm;
    struct iovec iov = {.iov_base = frame, .iov_len = total};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do {
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        int e = errno;
        free(frame);
        return -e;
    }
    size_t off = (size_t)n;
    while (off < total) {
        n = send(sock, frame + off, total - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(frame);
            return -e;
        }
        off += (size_t)n;
    }
    free(frame);
    return 0;
}

/* Empty reader. */
void initp_reader_init(initp_reader_t *r)
{
    buf_init(&r->in);
    r->nfds = 0;
}

/* One recvmsg into the buffer, collecting any SCM_RIGHTS descriptors.
 * Descriptors beyond the queue's capacity are closed (the peer misbehaved). */
int initp_read(int sock, initp_reader_t *r)
{
    if (buf_reserve(&r->in, 65536) < 0)
        return -2;
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 16)];
    } cm;
    struct iovec iov = {.iov_base = r->in.data + r->in.len, .iov_len = 65536};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.buf,
                        .msg_controllen = sizeof cm.buf};
    ssize_t n;
    do {
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : -2;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *p = (int *)CMSG_DATA(c);
        for (int i = 0; i < cnt; i++) {
            if (r->nfds < INITP_FDQ)
                r->fds[r->nfds++] = p[i];
            else
                close(p[i]);
        }
    }
    if (n == 0)
        return 0;
    r->in.len += (size_t)n;
    return (int)n;
}

/* Parses one complete frame off the front of the buffer. */
json_t *initp_next(initp_reader_t *r, bool *bad)
{
    *bad = false;
    if (r->in.len < 4)
        return NULL;
    const unsigned char *p = (const unsigned char *)r->in.data;
    uint32_t len = ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    if (len > INITP_MAX_FRAME) {
        *bad = true;
        return NULL;
    }
    if (r->in.len < 4 + (size_t)len)
        return NULL;
    json_error_t je;
    json_t *j = json_loadb(r->in.data + 4, len, 0, &je);
    buf_consume(&r->in, 4 + (size_t)len);
    if (!j || !json_is_object(j)) {
        json_decref(j);
        *bad = true;
        return NULL;
    }
    return j;
}

/* Dequeues descriptors in arrival order. */
int initp_take_fds(initp_reader_t *r, int *out, int n)
{
    if (n < 0 || n > r->nfds)
        return -1;
    memcpy(out, r->fds, sizeof(int) * (size_t)n);
    memmove(r->fds, r->fds + n, sizeof(int) * (size_t)(r->nfds - n));
    r->nfds -= n;
    return 0;
}

/* Releases everything the reader holds. */
void initp_reader_free(initp_reader_t *r)
{
    for (int i = 0; i < r->nfds; i++)
        close(r->fds[i]);
    r->nfds = 0;
    buf_free(&r->in);
}
