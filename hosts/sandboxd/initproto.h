/*
 * initproto.h - framing between sandboxd and a sandbox's init process
 * (sandboxd-init), over a Unix stream socketpair.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of a
 * JSON object.  File descriptors travel as SCM_RIGHTS ancillary data sent
 * together with the frame's first bytes; the receiver queues them in arrival
 * order and a frame says how many it consumes ("nfds").
 *
 * Messages sandboxd -> init:
 *   {"op":"spawn","seq":N,"argv":[..],"env":["K=V",..],"cwd":"/home/user","nfds":3}
 *        + 3 fds: the child's stdin, stdout, stderr
 *   {"op":"signal","pid":P,"sig":S}        signal the process group of P
 *   {"op":"freeze"} / {"op":"thaw"}        SIGSTOP / SIGCONT every process
 * Messages init -> sandboxd:
 *   {"op":"ready"}                          sent once at startup
 *   {"op":"spawned","seq":N,"pid":P}        exec succeeded
 *   {"op":"spawned","seq":N,"error":"..","code":"invalid_argument"}
 *   {"op":"exit","pid":P,"status":W}        a spawned child ended (wait status)
 */
#ifndef SANDBOXD_INITPROTO_H
#define SANDBOXD_INITPROTO_H

#include "buf.h"

#include <jansson.h>
#include <stdbool.h>

#define INITP_MAX_FDS 4
#define INITP_MAX_FRAME (8u << 20)
#define INITP_FDQ 64

/* Incremental receiver state. */
typedef struct initp_reader {
    buf_t in;               /* bytes not yet parsed */
    int fds[INITP_FDQ];     /* received descriptors not yet taken */
    int nfds;
} initp_reader_t;

/* Sends one frame (blocking) with up to INITP_MAX_FDS descriptors.
 * Returns 0 or -errno. */
int initp_send(int sock, json_t *msg, const int *fds, int nfds);

/* Initializes a reader. */
void initp_reader_init(initp_reader_t *r);

/* Reads what is available into the reader.  Returns the number of bytes
 * read (>0), 0 at end of file, -1 if nothing is available (EAGAIN), -2 on
 * error. */
int initp_read(int sock, initp_reader_t *r);

/* Pops the next complete frame as JSON, or NULL if none is complete yet.
 * Sets *bad on a malformed or oversized frame (the stream is unusable). */
json_t *initp_next(initp_reader_t *r, bool *bad);

/* Moves the `n` oldest queued descriptors to `out`; -1 if fewer are queued. */
int initp_take_fds(initp_reader_t *r, int *out, int n);

/* Closes queued descriptors and frees the buffer. */
void initp_reader_free(initp_reader_t *r);

#endif
