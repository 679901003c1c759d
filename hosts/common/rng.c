/* rng.c - splitmix64 generator behind a mutex (see rng.h). */
#include "rng.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

struct rng {
    pthread_mutex_t mu;
    uint64_t state;
};

/* Draws a seed from the kernel, falling back to the clock. */
static uint64_t os_seed(void)
{
    uint64_t s = 0;
    if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s || s == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    }
    return s ? s : 0x9e3779b97f4a7c15ull;
}

/* Allocates and seeds a generator. */
rng_t *rng_new(uint64_t seed)
{
    rng_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    rng_seed(r, seed);
    return r;
}

/* Replaces the state; a zero seed asks the OS for one. */
uint64_t rng_seed(rng_t *r, uint64_t seed)
{
    if (seed == 0)
        seed = os_seed();
    pthread_mutex_lock(&r->mu);
    r->state = seed;
    pthread_mutex_unlock(&r->mu);
    return seed;
}

/* splitmix64 step: simple, fast and well distributed for dice rolls. */
uint64_t rng_next(rng_t *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&r->mu);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uses the top 53 bits for a double in [0,1). */
double rng_uniform(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Releases the generator. */
void rng_free(rng_t *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r);
}
