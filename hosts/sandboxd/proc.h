/*
 * proc.h - processes of a sandbox and the streams that follow them.
 *
 * A process is started through the sandbox's init (see initproto.h).  Its
 * stdout/stderr pipes are read by the I/O thread, which turns every chunk
 * (<= 32 KiB) into a Connect envelope {"event":{"data":{"stdout":"<b64>"}}}
 * and queues it on each subscriber: one subscriber per open Start or
 * Connect stream.  A subscriber is the producer of its HTTP stream
 * (sub_next), which blocks until a message, a keepalive interval or the
 * stream's deadline (Connect-Timeout-Ms) arrives.
 *
 * Process life cycle (proc_state_t):
 *   STARTING --init: spawned--> RUNNING --init: exit--> ENDED
 *   STARTING --init: spawn error--> ENDED
 *   any --sandbox killed / init gone--> ENDED
 *
 * Output is read whether or not anyone listens (background commands never
 * block on a full pipe); when a listener falls more than 4 MiB behind,
 * reading pauses until it is below 1 MiB (back-pressure).
 *
 * "Raw" processes (code-interpreter drivers) keep their pipes for their
 * owner instead: no I/O-thread reading, no subscribers.
 */
#ifndef SANDBOXD_PROC_H
#define SANDBOXD_PROC_H

#include "httpd.h"
#include "sandbox.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum { PROC_STARTING = 0, PROC_RUNNING, PROC_ENDED } proc_state_t;
typedef enum { PROC_IO_STREAM = 0, PROC_IO_RAW } proc_io_t;

/* One queued stream message (an encoded Connect envelope). */
typedef struct msg {
    struct msg *next;
    httpd_msg_t kind;
    size_t len;
    char data[];
} msg_t;

/* A listener on a process: the producer behind one HTTP stream. */
typedef struct sub {
    struct sub *next;       /* in proc->subs (sandbox mu) */
    proc_t *proc;           /* reference */
    pthread_cond_t cond;    /* waits under the sandbox mu */
    msg_t *head, *tail;
    size_t bytes;           /* queued bytes */
    bool attached;          /* linked in proc->subs */
    bool closed;            /* nothing more will be queued */
    int64_t deadline_ms;    /* monotonic; 0 = none (Connect-Timeout-Ms) */
    bool kill_at_deadline;  /* Start streams kill the process at the deadline */
    int keepalive_ms;
    int64_t last_ms;        /* last message handed out */
} sub_t;

struct proc {
    struct proc *next;      /* in sb->procs (sandbox mu) */
    sandbox_t *sb;          /* reference */
    int refs;               /* atomic */
    uint64_t seq;
    int pid;                /* pid inside the sandbox; 0 while starting */
    proc_state_t state;
    proc_io_t io;
    bool hidden;            /* not listed (code-interpreter drivers) */
    bool linked;            /* in sb->procs */
    json_t *config;         /* {"cmd","args","envs","cwd"} for List */
    char *tag;
    pthread_mutex_t in_mu;  /* guards in_fd */
    int in_fd;              /* stdin write end; -1 if none or closed */
    int out_fd, err_fd;     /* stream mode: owned by the I/O thread */
    io_watch_t w_out, w_err;
    bool reading_paused;
    bool resume_posted;
    bool io_ref;            /* the I/O thread holds a reference (pipes watched) */
    int wstatus;
    int64_t kill_at_ms;     /* Start's Connect-Timeout-Ms deadline (monotonic, 0 =
                             * none): envd kills the process then, whether or
                             * not its stream is still open (sandbox mu) */
    pthread_cond_t cond;    /* state changes (sandbox mu) */
    char error[512];        /* spawn error message */
    char error_code[32];    /* Connect code of the spawn error */
    sub_t *subs;
};

/* What to start. */
typedef struct proc_spec {
    const char *cmd;
    json_t *args;           /* array of strings or NULL */
    json_t *envs;           /* object of strings or NULL */
    const char *cwd;        /* sandbox path or NULL (= /home/user) */
    const char *tag;        /* or NULL */
    bool stdin_open;        /* keep a stdin pipe for SendInput */
    bool hidden;
    int stderr_fd;          /* raw mode: descriptor for stderr, -1 = /dev/null */
} proc_spec_t;

/* Starts a process.  Stream mode: `sub` (may be NULL) is attached before
 * the spawn so it sees the start event first.  Raw mode: *raw_in / *raw_out
 * receive the stdin write end and stdout read end.  Returns a reference or
 * NULL with a Connect code and message. */
proc_t *proc_start(sandbox_t *sb, const proc_spec_t *spec, proc_io_t io, sub_t *sub,
                   int *raw_in, int *raw_out, char *code, size_t codesz, char *err, size_t errsz);

/* Waits until a process left STARTING.  Returns 0 if it runs, -1 otherwise. */
int proc_wait_started(proc_t *p, int timeout_ms);

/* Finds a running, listed process by selector {"pid":N} or {"tag":"t"}.
 * Returns a reference, or NULL with a Connect code and message. */
proc_t *proc_find(sandbox_t *sb, json_t *selector, char *code, size_t codesz, char *err,
                  size_t errsz);

void proc_ref(proc_t *p);
void proc_unref(proc_t *p);

/* Sends a signal to the process's group.  Must be called without the
 * sandbox mu.  Returns 0 or -1. */
int proc_signal(proc_t *p, int sig);

/* Writes to stdin (blocking).  Returns 0 or -1 with a message. */
int proc_write_stdin(proc_t *p, const void *data, size_t n, char *err, size_t errsz);

/* Closes stdin (EOF for the process). */
void proc_close_stdin(proc_t *p);

/* {"processes":[{"config":..,"pid":N,"tag":..}]} for List. */
json_t *proc_list_json(sandbox_t *sb);

/* New subscriber; deadline_ms is an absolute monotonic time or 0. */
sub_t *sub_new(int keepalive_ms, int64_t deadline_ms, bool kill_at_deadline);

/* Attaches a subscriber to a running process and queues its start event
 * (Connect RPC).  Returns 0 or -1 if the process is no longer running. */
int sub_attach(proc_t *p, sub_t *s);

/* Stream producer (httpd_next_fn) for a subscriber. */
httpd_msg_t sub_next(void *ctx, buf_t *out);

/* Stream context destructor (detaches and frees the subscriber). */
void sub_free(void *ctx);

/* Kills processes whose Start deadline passed after their stream went
 * away (called periodically by the I/O thread). */
void proc_tick(void);

/* ---- called by the I/O thread and sandbox.c ---- */

/* Init reported {"op":"spawned"}. */
void proc_io_spawned(sandbox_t *sb, json_t *msg);

/* Init reported {"op":"exit"}. */
void proc_io_exit(sandbox_t *sb, json_t *msg);

/* A stdout/stderr pipe is readable. */
void proc_io_readable(proc_t *p, io_watch_t *w);

/* Resumes reading after back-pressure. */
void proc_io_resume(proc_t *p);

/* Ends every stream of the sandbox's processes with a Connect error
 * (sandbox killed).  Caller holds the sandbox mu. */
void proc_sandbox_dead(sandbox_t *sb, const char *code, const char *message);

/* The init is gone: ends and releases every process (I/O thread; caller
 * holds the sandbox mu). */
void proc_release_all(sandbox_t *sb, const char *message);

#endif
