/*
 * interp.h - the code interpreter of code-interpreter sandboxes (port 49999):
 *   POST /execute                 run code, streaming NDJSON
 *   POST /contexts                create a context {"id","language","cwd"}
 *   GET  /contexts                list contexts
 *   DELETE /contexts/{id}         remove a context
 *   POST /contexts/{id}/restart   restart a context (state is lost)
 *
 * Each context is a persistent python3 process inside the sandbox running
 * a small driver (interp_driver.py, embedded at build time) that keeps one
 * global namespace across executions.  Executions in a context run one at
 * a time.  Only Python is supported; other languages get a clear error.
 */
#ifndef SANDBOXD_INTERP_H
#define SANDBOXD_INTERP_H

#include "buf.h"
#include "httpd.h"
#include "sandbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One context. */
struct ictx {
    struct ictx *next;        /* in sb->ctxs (sandbox mu) */
    sandbox_t *sb;            /* not a reference: contexts live inside their sandbox */
    int refs;                 /* atomic: the list + each running execution */
    char id[40];
    char *cwd;
    bool is_default;
    bool listed;              /* still in sb->ctxs */
    bool busy;                /* an execution owns the driver (sandbox mu) */
    pthread_cond_t cond;      /* busy released (sandbox mu) */
    /* owned by whoever holds `busy` */
    proc_t *driver;
    int in_fd, out_fd;
    buf_t rbuf;
    uint64_t next_id;
};

/* Adds the code-interpreter routes. */
void interp_register(httpd_t *h);

/* The sandbox's init exited: every driver is gone (sandbox mu held). */
void interp_init_gone(sandbox_t *sb);

/* Releases every context of a sandbox being freed. */
void interp_free_contexts(sandbox_t *sb);

#endif
