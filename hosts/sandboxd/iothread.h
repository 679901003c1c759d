/*
 * iothread.h - the I/O thread: one epoll loop for every init control
 * socket, init pidfd and process pipe, plus the periodic deadline tick.
 *
 * It is also the only thread that spawns bubblewrap/init processes: their
 * death signal (bwrap --die-with-parent, PR_SET_PDEATHSIG) is tied to the
 * thread that forked them, so it must be a thread that lives as long as
 * sandboxd.
 */
#ifndef SANDBOXD_IOTHREAD_H
#define SANDBOXD_IOTHREAD_H

#include "sandbox.h"

#include <stdint.h>

/* Requests other threads can post to the I/O thread. */
typedef enum {
    IO_CMD_SPAWN_INIT = 0, /* obj: sandbox_t* (reference transferred) */
    IO_CMD_RESUME_PROC,    /* obj: proc_t* (reference transferred) */
} io_cmd_kind_t;

/* Starts the thread.  Returns 0 or -1. */
int io_start(void);

/* Stops and joins the thread. */
void io_stop(void);

/* Queues a request for the I/O thread (thread-safe). */
void io_post(io_cmd_kind_t kind, void *obj);

/* I/O thread only: runs fn(obj) after the current batch of events.  Used
 * to drop the references that keep watched objects alive: an event for a
 * watch removed earlier in the same batch must still find valid memory. */
void io_defer(void (*fn)(void *), void *obj);

/* I/O thread only: registers / changes / removes a watch. */
int io_watch_add(io_watch_t *w, uint32_t events);
void io_watch_mod(io_watch_t *w, uint32_t events);
void io_watch_del(io_watch_t *w);

#endif
