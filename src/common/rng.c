/*
 * rng.c -- xoshiro256** generator seeded through splitmix64
 *
 * The algorithm is the public-domain design by Blackman and Vigna; it is
 * written out here from its specification.  Streams are fully determined by
 * the 64-bit seed, independent of platform and thread count.
 */
#include "postgres.h"

#include <math.h>

#include "rng.h"

static inline uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void
rng_seed(RecsRng *rng, uint64_t seed)
{
	uint64_t	z = seed;

	for (int i = 0; i < 4; i++)
	{
		uint64_t	x;

		z += UINT64CONST(0x9E3779B97F4A7C15);
		x = z;
		x = (x ^ (x >> 30)) * UINT64CONST(0xBF58476D1CE4E5B9);
		x = (x ^ (x >> 27)) * UINT64CONST(0x94D049BB133111EB);
		rng->s[i] = x ^ (x >> 31);
	}
}

uint64_t
rng_next(RecsRng *rng)
{
	uint64_t   *s = rng->s;
	uint64_t	result = rotl(s[1] * 5, 7) * 9;
	uint64_t	t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double
rng_uniform(RecsRng *rng)
{
	return (rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t
rng_below(RecsRng *rng, uint64_t n)
{
	/* rejection sampling removes the modulo bias */
	uint64_t	limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t	x;

	do
		x = rng_next(rng);
	while (x >= limit);
	return x % n;
}

double
rng_normal(RecsRng *rng)
{
	double		u1 = 1.0 - rng_uniform(rng);	/* (0, 1] keeps log finite */
	double		u2 = rng_uniform(rng);

	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int
rng_pick_weighted(RecsRng *rng, const double *w, int n, double total)
{
	double		r = rng_uniform(rng) * total;

	for (int i = 0; i < n; i++)
	{
		r -= w[i];
		if (r < 0.0)
			return i;
	}
	/* rounding left a sliver: return the last index with positive weight */
	for (int i = n - 1; i >= 0; i--)
		if (w[i] > 0.0)
			return i;
	return n - 1;
}
