/*
 * rng.h -- small, fast, seedable random number generator (xoshiro256**)
 *
 * Every random choice recs makes (sample data, negative sampling, weight
 * initialisation) draws from an RecsRng seeded by the caller, so results are
 * reproducible for a seed on every platform.  No global state.
 */
#ifndef RECS_RNG_H
#define RECS_RNG_H

#include <stdint.h>

typedef struct RecsRng
{
	uint64_t	s[4];
} RecsRng;

extern void rng_seed(RecsRng *rng, uint64_t seed);
extern uint64_t rng_next(RecsRng *rng);
/* uniform in [0, 1) with 53 random bits */
extern double rng_uniform(RecsRng *rng);
/* uniform integer in [0, n), unbiased; n > 0 */
extern uint64_t rng_below(RecsRng *rng, uint64_t n);
/* standard normal (Box-Muller, no cached second value) */
extern double rng_normal(RecsRng *rng);
/* index drawn with probability proportional to w[i] >= 0; total = sum w */
extern int	rng_pick_weighted(RecsRng *rng, const double *w, int n, double total);

#endif							/* RECS_RNG_H */
