/*
 * glmix_sample.c -- the max_rows sample of one random-effect entity, drawn
 * the same way on one node (glmix_stage.c) and on a Citus worker
 * (glmix_agg_flat.c, the flat path's per-learner cap)
 *
 * An entity with more than max_rows rows keeps a seeded uniform sample of
 * max_rows of them.  For the sample not to depend on where the rows are read
 * or in which order they arrive (a worker's array_agg has no order), it is
 * drawn from the entity's own random stream -- seeded by the training's
 * seed, the coordinate's position among the random effects and the
 * entity's key as stored (the learner id in decimal, an attribute's value)
 * -- over its rows in a canonical order: by learner id, course id, label
 * and weight.  Rows equal in all four are the same row for every effect
 * keyed by the learner, the course or their attributes (same design rows,
 * same offsets), so which of them is drawn does not change the fit.
 * (An effect keyed by an impressions column would need its value in the
 * order too.)
 */
#include "postgres.h"

#include "rng.h"
#include "sorted_ids.h"
#include "glmix.h"

typedef struct SampleKeys
{
	const int64 *lid;
	const int64 *cid;
	const double *y;
	const double *w;
} SampleKeys;

static int
cmp_int64(int64 a, int64 b)
{
	return a < b ? -1 : (a > b ? 1 : 0);
}

static int
cmp_double(double a, double b)
{
	return a < b ? -1 : (a > b ? 1 : 0);
}

static int
sample_order_cmp(const void *a, const void *b, void *arg)
{
	const SampleKeys *k = arg;
	int64		ra = *(const int64 *) a;
	int64		rb = *(const int64 *) b;
	int			c;

	if ((c = cmp_int64(k->lid[ra], k->lid[rb])) != 0 ||
		(c = cmp_int64(k->cid[ra], k->cid[rb])) != 0 ||
		(c = cmp_double(k->y[ra], k->y[rb])) != 0 ||
		(c = cmp_double(k->w[ra], k->w[rb])) != 0)
		return c;
	return cmp_int64(ra, rb);
}

uint64
glmix_sample_seed(int64 seed, int serial, const char *key)
{
	return (uint64) seed * UINT64CONST(0x9E3779B97F4A7C15) ^
		((uint64) (serial + 1) * UINT64CONST(0xBF58476D1CE4E5B9)) ^ glmix_name_hash(key);
}

void
glmix_sample_entity(int64 *rows, int64 cnt, int max_rows, uint64 stream,
					const int64 *lid, const int64 *cid, const double *y, const double *w)
{
	SampleKeys	keys = {lid, cid, y, w};
	RecsRng		rng;

	Assert(max_rows > 0 && cnt > max_rows);
	qsort_arg(rows, cnt, sizeof(int64), sample_order_cmp, &keys);
	rng_seed(&rng, stream);
	/* a uniform sample of max_rows rows (partial Fisher-Yates), in row order */
	for (int64 k = 0; k < max_rows; k++)
	{
		int64		j = k + (int64) rng_below(&rng, (uint64) (cnt - k));
		int64		tmp = rows[k];

		rows[k] = rows[j];
		rows[j] = tmp;
	}
	qsort(rows, max_rows, sizeof(int64), recs_int64_cmp);
}
