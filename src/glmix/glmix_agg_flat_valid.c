/*
 * glmix_agg_flat_valid.c -- what runs in the shards' tasks for the
 * validation rows of a flat Citus training (glmix_flat_valid_workers.c)
 *
 * recs._glmix_flat_valid_rows(fblock, rblock, lcoef, beta, plus): each row
 * of a validation block pair, its score x . beta + z . lcoef + plus (the
 * learner-side effects' coefficients over the twin block's z(c), the course
 * effect's score), its label, its log-loss term as glmix_mean_logloss()
 * computes it, and its bucket of the score histogram: the logit clamped to
 * +-GLMIX_VALID_LOGIT in GLMIX_VALID_BUCKETS equal buckets (the statement
 * groups by the bucket, a partial aggregate per shard).
 *
 * Blocks are hostile input: glmix_block_map checks them
 * (ERRCODE_DATA_CORRUPTED); the arrays are checked against the blocks.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/tuplestore.h"

#include "glmix.h"
#include "glmix_flat.h"

/* a score's bucket of the validation histogram */
static int
glmix_valid_bucket(double score)
{
	double		s = isnan(score) ? 0.0 : Min(Max(score, -GLMIX_VALID_LOGIT), GLMIX_VALID_LOGIT);
	int			b = (int) floor((s + GLMIX_VALID_LOGIT) * (GLMIX_VALID_BUCKETS / (2.0 * GLMIX_VALID_LOGIT)));

	return Min(Max(b, 0), GLMIX_VALID_BUCKETS - 1);
}

PG_FUNCTION_INFO_V1(glmix_flat_valid_rows);
/*
 * (fblock, rblock, learner-side coef, beta, plus) -> (bucket, positive,
 * logloss, score) per row; no rows for a NULL fblock
 */
Datum
glmix_flat_valid_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GlmixBlock	fb,
				rb;
	double	   *s,
			   *zs;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL")));
	glmix_block_map(glmix_block_arg(fcinfo, 0), &fb);
	n = fb.hdr->n;
	s = palloc(sizeof(double) * Max(n, 1));
	glmix_flat_block_scores(&fb, glmix_flat_coef_arg(fcinfo, 3, fb.hdr->dim, "coefficients"), s);
	if (!PG_ARGISNULL(1) && !PG_ARGISNULL(2))
	{
		glmix_block_map(glmix_block_arg(fcinfo, 1), &rb);
		if (rb.hdr->n != n)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("a learner-effect block of %d rows beside a fixed-effect block of %d", rb.hdr->n, n)));
		zs = palloc(sizeof(double) * Max(n, 1));
		glmix_flat_block_scores(&rb, glmix_flat_coef_arg(fcinfo, 2, rb.hdr->dim, "learner coefficients"), zs);
		for (int r = 0; r < n; r++)
			s[r] += zs[r];
	}
	glmix_flat_add_row_scores(fcinfo, 4, n, s);
	for (int r = 0; r < n; r++)
	{
		Datum		values[4];
		bool		nulls[4] = {0};
		double		y = fb.y[r];
		double		p = glmix_sigmoid(s[r]);

		p = Min(Max(p, 1e-15), 1.0 - 1e-15);
		values[0] = Int32GetDatum(glmix_valid_bucket(s[r]));
		values[1] = BoolGetDatum(y > 0.5);
		values[2] = Float8GetDatum(-(y * log(p) + (1.0 - y) * log(1.0 - p)));
		values[3] = Float8GetDatum(s[r]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
