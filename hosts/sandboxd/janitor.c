/* janitor.c - background removal of dead sandboxes' directories (see
 * janitor.h). */
#define _XOPEN_SOURCE 700
#include "janitor.h"

#include "log.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct job {
    struct job *next;
    char *path;
} job_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static job_t *g_head, *g_tail;
static int g_pending;
static bool g_stop;
static bool g_started;
static pthread_t g_thread;

/* nftw callback: removes every entry, children first (FTW_DEPTH), without
 * following symlinks (FTW_PHYS); directories a sandbox made unreadable are
 * opened up first. */
static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    (void)st;
    if (flag == FTW_DNR) {
        chmod(path, 0700);
        return 0;
    }
    if (remove(path) < 0 && errno != ENOENT) {
        chmod(path, 0700);
        if (remove(path) < 0 && errno != ENOENT)
            log_debug("janitor: cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

/* rm -rf, retried once in case unreadable directories had to be opened. */
static void remove_tree(const char *path)
{
    for (int i = 0; i < 2; i++) {
        nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        struct stat st;
        if (lstat(path, &st) < 0)
            return;
    }
    log_warn("janitor: could not fully remove %s", path);
}

/* Worker loop. */
static void *janitor_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        while (!g_head && !g_stop)
            pthread_cond_wait(&g_cv, &g_mu);
        if (!g_head && g_stop)
            break;
        job_t *j = g_head;
        g_head = j->next;
        if (!g_head)
            g_tail = NULL;
        pthread_mutex_unlock(&g_mu);
        remove_tree(j->path);
        free(j->path);
        free(j);
        pthread_mutex_lock(&g_mu);
        g_pending--;
    }
    pthread_mutex_unlock(&g_mu);
    return NULL;
}

/* Starts the removal thread (until then removals run inline). */
int janitor_start(void)
{
    if (pthread_create(&g_thread, NULL, janitor_main, NULL) != 0)
        return -1;
    g_started = true;
    return 0;
}

/* Queues a directory; without a running thread it is removed inline. */
void janitor_remove(char *path)
{
    if (!path)
        return;
    job_t *j = calloc(1, sizeof *j);
    if (!j || !g_started) {
        remove_tree(path);
        free(path);
        free(j);
        return;
    }
    j->path = path;
    pthread_mutex_lock(&g_mu);
    if (g_tail)
        g_tail->next = j;
    else
        g_head = j;
    g_tail = j;
    g_pending++;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
}

/* Number of directories still queued or being removed. */
int janitor_pending(void)
{
    pthread_mutex_lock(&g_mu);
    int n = g_pending;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Drains the queue, then joins. */
void janitor_stop(void)
{
    if (!g_started)
        return;
    pthread_mutex_lock(&g_mu);
    g_stop = true;
    pthread_cond_signal(&g_cv);
    pthread_mutex_unlock(&g_mu);
    pthread_join(g_thread, NULL);
    g_started = false;
}
