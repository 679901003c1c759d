/*
 * janitor.h - removes dead sandboxes' directories on a background thread,
 * so that killing a sandbox with a large home never stalls a request or the
 * I/O thread.
 */
#ifndef SANDBOXD_JANITOR_H
#define SANDBOXD_JANITOR_H

/* Starts the thread.  Returns 0 or -1. */
int janitor_start(void);

/* Queues `path` (taken over, malloc'd) for recursive removal. */
void janitor_remove(char *path);

/* Number of directories queued or being removed. */
int janitor_pending(void);

/* Finishes the queue and joins the thread. */
void janitor_stop(void);

#endif
