/*
 * rng.h - a small seedable pseudo-random generator (splitmix64).
 *
 * Not cryptographic: used for fault-injection dice so that a run can be made
 * reproducible with a fixed seed.  Thread-safe (internally locked).
 */
#ifndef COMMON_RNG_H
#define COMMON_RNG_H

#include <stdint.h>

typedef struct rng rng_t;

/* Creates a generator; seed 0 means "seed from the OS". */
rng_t *rng_new(uint64_t seed);

/* Re-seeds (0 = from the OS); returns the seed actually used. */
uint64_t rng_seed(rng_t *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t rng_next(rng_t *r);

/* Uniform double in [0, 1). */
double rng_uniform(rng_t *r);

/* Frees the generator. */
void rng_free(rng_t *r);

#endif
