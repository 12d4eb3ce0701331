/* rng.h — the one seeded random generator of flashlab (xoshiro256**, seeded through splitmix64).
 *
 * Every lesson, test and the CUDA host code draw their inputs from here, so a seed names one input exactly, on any
 * machine. Normal variates use the Box–Muller transform in double precision.
 *
 *   rng_t r; rng_seed(&r, 42);
 *   rng_fill_normal(&r, Q, B * N * H * d, 1.0f);    // Q ~ N(0, 1)
 */
#ifndef FLASHLAB_RNG_H
#define FLASHLAB_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct { uint64_t s[4]; } rng_t;

void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_next(rng_t *r);                               /* 64 uniform bits */
double rng_uniform(rng_t *r);                              /* uniform in [0, 1), 53 bits */
uint64_t rng_below(rng_t *r, uint64_t n);                  /* uniform integer in [0, n), n > 0, unbiased */
double rng_normal(rng_t *r);                               /* standard normal */
void rng_fill_normal(rng_t *r, float *x, size_t n, float stddev);        /* x[i] ~ N(0, stddev^2) */
void rng_fill_uniform(rng_t *r, float *x, size_t n, float lo, float hi); /* x[i] ~ U[lo, hi) */

#endif
