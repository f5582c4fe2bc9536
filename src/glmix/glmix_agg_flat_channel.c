/*
 * glmix_agg_flat_channel.c -- what runs in the shards' tasks for an effect
 * keyed by a column of the impressions (a channel) on the flat Citus path
 *
 * A channel's key belongs to the row, not to the learner: the block
 * builder (recs._glmix_flat_blocks, its keyed overload) gives each block
 * its rows' keys beside it.  The effect's design is z(c), the learner
 * effect's, so its rows are the learner-effect blocks' rows.
 *
 *   recs._glmix_flat_channel_stats(rblock, offsets, keys, coefficients,
 *   nkeys): the segment effect's per-key sums (glmix_agg_flat_segment.c:
 *   rows, weight, loss, gradient, packed Hessian, column counts; the same
 *   bytea state, combine and final functions) with each row added to its
 *   own key's sums at that key's coefficients;
 *   recs._glmix_flat_channel_scores(rblock, keys, coefficients, nkeys):
 *   each row's z_r . coef_key (0 without a key), the other coordinates'
 *   offsets, kept beside the block (glmix_flat_channel.c).
 *
 * Blocks, keys, coefficients and states are hostile input: checked where
 * they come in.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

#include "glmix.h"
#include "glmix_flat.h"

/*
 * An int4[] argument of one key per row (NULL elements: none, -1), n of
 * them, each -1 or more; palloc'd
 */
int32 *
glmix_flat_row_keys_arg(FunctionCallInfo fcinfo, int argno, int n)
{
	ArrayType  *a;
	Datum	   *el;
	bool	   *nulls;
	int			m;
	int32	   *out;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row keys must not be NULL")));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_ELEMTYPE(a) != INT4OID || ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row keys must be a one-dimensional integer[]")));
	deconstruct_array(a, INT4OID, 4, true, TYPALIGN_INT, &el, &nulls, &m);
	if (m != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d row keys for %d rows", m, n)));
	out = palloc(sizeof(int32) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		out[r] = nulls[r] ? -1 : DatumGetInt32(el[r]);
		if (out[r] < -1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row key %d is negative", out[r])));
	}
	pfree(el);
	pfree(nulls);
	return out;
}

/* nkeys (argument nargno) and the coefficients (cargno: nkeys x dim, finite) */
static const double *
keys_coef_arg(FunctionCallInfo fcinfo, int cargno, int nargno, int dim, int *nkeys)
{
	int			nk,
				nc;
	const double *coef;

	if (PG_ARGISNULL(cargno) || PG_ARGISNULL(nargno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients and nkeys must not be NULL")));
	nk = PG_GETARG_INT32(nargno);
	if (nk < 1 || nk > GLMIX_FLAT_MAX_KEYS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("nkeys %d is outside 1..%d", nk, GLMIX_FLAT_MAX_KEYS)));
	coef = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(cargno), &nc, "coefficients");
	if ((Size) nc != (Size) nk * dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficients hold %d values for %d keys of dimension %d", nc, nk, dim)));
	for (int j = 0; j < nc; j++)
		if (!isfinite(coef[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("coefficients must be finite")));
	*nkeys = nk;
	return coef;
}

/* the block's rows' keys (argument argno), each below nk */
static int32 *
block_keys_arg(FunctionCallInfo fcinfo, int argno, int n, int nk)
{
	int32	   *key = glmix_flat_row_keys_arg(fcinfo, argno, n);

	for (int r = 0; r < n; r++)
		if (key[r] >= nk)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row key %d outside 0..%d", key[r], nk - 1)));
	return key;
}

PG_FUNCTION_INFO_V1(glmix_flat_channel_accum);
/*
 * (state, block, offsets, keys, coefficients, nkeys): add each row of the
 * block to its key's sums at its key's coefficients; a NULL block or keys
 * add nothing, a row without a key neither
 */
Datum
glmix_flat_channel_accum(PG_FUNCTION_ARGS)
{
	FlatEntSum *s = glmix_flat_ent_arg(fcinfo, 0);
	GlmixBlock	blk;
	int			d,
				nk;
	const double *coef;
	double	   *offsets;
	int32	   *key;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(3))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	d = blk.hdr->dim;
	if (d < 1 || d > GLMIX_FLAT_ENT_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("entity dimension %d is outside 1..%d", d, GLMIX_FLAT_ENT_MAX_DIM)));
	coef = keys_coef_arg(fcinfo, 4, 5, d, &nk);
	if (s != NULL && (s->nkeys != nk || s->dim != d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states of %d keys of dimension %d and %d of %d in one aggregate",
						s->nkeys, s->dim, nk, d)));
	key = block_keys_arg(fcinfo, 3, blk.hdr->n, nk);
	offsets = glmix_block_offsets(fcinfo, 2, &blk);
	s = glmix_flat_ent_writable(fcinfo, s, nk, d);
	for (int r = 0; r < blk.hdr->n; r++)
	{
		double	   *base;
		double	   *cnt;

		if (key[r] < 0)
			continue;
		base = s->sum + (Size) key[r] * s->per;
		base[0] += 1;
		base[1] += blk.w[r];
		base[2] += glmix_accum_stats(1, blk.y + r, blk.w + r, offsets + r, blk.ptr + r, blk.col, blk.val,
									 d, coef + (Size) key[r] * d, base + 3, base + 3 + d);
		cnt = base + 3 + d + (Size) d * (d + 1) / 2;
		for (int32 k = blk.ptr[r]; k < blk.ptr[r + 1]; k++)
			cnt[blk.col[k]] += 1.0;
	}
	pfree(offsets);
	pfree(key);
	PG_RETURN_BYTEA_P(s);
}

PG_FUNCTION_INFO_V1(glmix_flat_channel_scores);
/*
 * recs._glmix_flat_channel_scores(block, keys, coefficients, nkeys): each
 * row's score z_r . coef_key, 0 without a key; NULL for a NULL block or keys
 */
Datum
glmix_flat_channel_scores(PG_FUNCTION_ARGS)
{
	GlmixBlock	blk;
	int			d,
				nk;
	const double *coef;
	int32	   *key;
	double	   *out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	glmix_block_map(glmix_block_arg(fcinfo, 0), &blk);
	d = blk.hdr->dim;
	coef = keys_coef_arg(fcinfo, 2, 3, d, &nk);
	key = block_keys_arg(fcinfo, 1, blk.hdr->n, nk);
	out = palloc(sizeof(double) * Max(blk.hdr->n, 1));
	for (int r = 0; r < blk.hdr->n; r++)
	{
		const double *c = coef + (Size) Max(key[r], 0) * d;
		double		sc = 0.0;

		if (key[r] >= 0)
			for (int32 k = blk.ptr[r]; k < blk.ptr[r + 1]; k++)
				sc += (blk.val ? blk.val[k] : 1.0) * c[blk.col[k]];
		out[r] = sc;
	}
	pfree(key);
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(out, blk.hdr->n));
}
