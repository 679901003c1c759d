/* conv.c - conversation counters (see conv.h). */
#include "conv.h"

#include "textutil.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NBUCKETS 4096

typedef struct conv {
    struct conv *next;
    uint64_t key;
    int64_t calls;
} conv_t;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static conv_t *g_buckets[NBUCKETS];
static int64_t g_count;

/* Hashes the text and mixes in the tools flag. */
uint64_t conv_key(const char *first_user, bool has_tools)
{
    uint64_t h = fnv1a(FNV_OFFSET, first_user, strlen(first_user));
    char t = has_tools ? 'T' : 'P';
    return fnv1a(h, &t, 1);
}

/* Finds or creates the entry under the lock and bumps it.  On allocation
 * failure the call counts as the first, which only makes fail_first fail
 * once more than asked. */
int64_t conv_next(uint64_t key)
{
    pthread_mutex_lock(&g_mu);
    conv_t **slot = &g_buckets[key % NBUCKETS];
    conv_t *c = *slot;
    while (c && c->key != key)
        c = c->next;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) {
            pthread_mutex_unlock(&g_mu);
            return 1;
        }
        c->key = key;
        c->next = *slot;
        *slot = c;
        g_count++;
    }
    int64_t n = ++c->calls;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Gauge callback for GET /admin/stats. */
int64_t conv_count(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g_mu);
    int64_t n = g_count;
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* Frees every entry. */
void conv_reset(void)
{
    pthread_mutex_lock(&g_mu);
    for (size_t i = 0; i < NBUCKETS; i++) {
        conv_t *c = g_buckets[i];
        while (c) {
            conv_t *n = c->next;
            free(c);
            c = n;
        }
        g_buckets[i] = NULL;
    }
    g_count = 0;
    pthread_mutex_unlock(&g_mu);
}
