/*
 * ptree.h - a snapshot of the host's process table, for attributing
 * processes to sandboxes.
 *
 * Every process of a sandbox descends from its init (bubblewrap's host pid,
 * or the init itself in fallback mode), so "the sandbox's processes" are
 * the process tree under sb->init_pid.  Used for per-sandbox metrics (CPU
 * time, resident memory) and to check that a listening port belongs to the
 * sandbox a request is addressed to.
 */
#ifndef SANDBOXD_PTREE_H
#define SANDBOXD_PTREE_H

#include <stdint.h>
#include <sys/types.h>

typedef struct pent {
    pid_t pid, ppid;
    uint64_t ticks;     /* utime + stime + cutime + cstime (clock ticks) */
    int64_t rss_pages;
    int owner;          /* index into the roots of ptree_assign, -1 = none */
} pent_t;

typedef struct ptree {
    pent_t *v;          /* sorted by pid */
    int n;
} ptree_t;

/* Reads /proc/<pid>/stat of every process.  Returns 0 or -1. */
int ptree_scan(ptree_t *t);

/* Sets each entry's owner to the index of the root it descends from (a
 * root owns itself), or -1. */
void ptree_assign(ptree_t *t, const pid_t *roots, int nroots);

void ptree_free(ptree_t *t);

#endif
