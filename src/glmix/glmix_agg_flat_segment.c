/*
 * glmix_agg_flat_segment.c -- what runs in the shards' tasks for an effect
 * keyed by a learner attribute (a segment) on the flat Citus path
 *
 * A segment has few entities, each with rows on every shard.  Rather than
 * move its rows (a repartition would gather a whole segment in one task),
 * each task sums, per key, the loss, gradient and packed Hessian of the
 * key's model at the given coefficients over the learner-effect blocks'
 * z(c) rows, with a count of the stored nonzeros of each column (the
 * entity Newton works on the columns its rows have): recs._glmix_flat_
 * entity_stats, a partial aggregate with a bytea state that Citus pushes
 * down.  The coordinator steps (glmix_flat_segment.c).  The state's layout
 * (glmix_flat.h) and its combine and final functions also serve the
 * channel's statistics, a key per row (glmix_agg_flat_channel.c).  Also
 * recs._glmix_flat_add, two coefficient vectors added (a learner's own and
 * its segment's: the same design z(c)).
 *
 * States and blocks are hostile input: checked where they come in
 * (ERRCODE_DATA_CORRUPTED).
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "glmix_flat.h"

#define FLAT_ENT_MAGIC 0x474D4645	/* "GMFE" */
#define FLAT_ENT_MAX_DIM GLMIX_FLAT_ENT_MAX_DIM
#define FLAT_ENT_MAX_KEYS GLMIX_FLAT_MAX_KEYS

#define FLAT_ENT_BYTES(nkeys, per) (offsetof(FlatEntSum, sum) + sizeof(double) * (Size) (nkeys) * (per))

/* per key: rows, weight, loss, gradient (d), packed Hessian, nonzeros per column (d) */
static int
ent_per(int d)
{
	return 3 + 2 * d + (int) ((Size) d * (d + 1) / 2);
}

FlatEntSum *
glmix_flat_ent_arg(FunctionCallInfo fcinfo, int argno)
{
	bytea	   *b;
	FlatEntSum *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	b = PG_GETARG_BYTEA_P(argno);
	s = (FlatEntSum *) b;
	if (VARSIZE(b) < offsetof(FlatEntSum, sum) || s->magic != FLAT_ENT_MAGIC ||
		s->dim < 1 || s->dim > FLAT_ENT_MAX_DIM || s->nkeys < 1 || s->nkeys > FLAT_ENT_MAX_KEYS ||
		s->per != ent_per(s->dim) || VARSIZE(b) != FLAT_ENT_BYTES(s->nkeys, s->per))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat entity state")));
	return s;
}

/* the state to add into: in place inside an aggregate (see glmix_agg_flat.c) */
FlatEntSum *
glmix_flat_ent_writable(FunctionCallInfo fcinfo, FlatEntSum *s, int nkeys, int dim)
{
	MemoryContext aggcontext;
	bool		in_agg = AggCheckCallContext(fcinfo, &aggcontext) != 0;
	int			per = ent_per(dim);
	Size		bytes = FLAT_ENT_BYTES(nkeys, per);
	FlatEntSum *w;

	if (s != NULL && in_agg)
		return s;
	if (bytes > MaxAllocSize)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%d keys of dimension %d are too many for one entity state", nkeys, dim)));
	w = MemoryContextAlloc(in_agg ? aggcontext : CurrentMemoryContext, bytes);
	memset(w, 0, bytes);
	SET_VARSIZE(w, bytes);
	w->magic = FLAT_ENT_MAGIC;
	w->nkeys = nkeys;
	w->dim = dim;
	w->per = per;
	if (s != NULL)
		memcpy(w->sum, s->sum, sizeof(double) * (Size) nkeys * per);
	return w;
}

PG_FUNCTION_INFO_V1(glmix_flat_entity_accum);
/*
 * (state, block, offsets, key, coefficients, nkeys): add the block's rows to
 * its key's sums at the key's coefficients (row key of an nkeys x dim
 * array); a NULL block or key adds nothing
 */
Datum
glmix_flat_entity_accum(PG_FUNCTION_ARGS)
{
	FlatEntSum *s = glmix_flat_ent_arg(fcinfo, 0);
	GlmixBlock	blk;
	int			d,
				nk,
				key,
				nc;
	const double *coef;
	double	   *offsets;
	double	   *base;
	double	   *cnt;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(3))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	if (PG_ARGISNULL(4) || PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients and nkeys must not be NULL")));
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	d = blk.hdr->dim;
	nk = PG_GETARG_INT32(5);
	key = PG_GETARG_INT32(3);
	if (d < 1 || d > FLAT_ENT_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("entity dimension %d is outside 1..%d", d, FLAT_ENT_MAX_DIM)));
	if (nk < 1 || nk > FLAT_ENT_MAX_KEYS || key < 0 || key >= nk)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key %d outside 0..%d (nkeys %d, at most %d)", key, nk - 1, nk, FLAT_ENT_MAX_KEYS)));
	if (s != NULL && (s->nkeys != nk || s->dim != d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states of %d keys of dimension %d and %d of %d in one aggregate",
						s->nkeys, s->dim, nk, d)));
	coef = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(4), &nc, "coefficients");
	if ((Size) nc != (Size) nk * d)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficients hold %d values for %d keys of dimension %d", nc, nk, d)));
	coef += (Size) key * d;
	for (int j = 0; j < d; j++)
		if (!isfinite(coef[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("coefficients must be finite")));
	offsets = glmix_block_offsets(fcinfo, 2, &blk);
	s = glmix_flat_ent_writable(fcinfo, s, nk, d);
	base = s->sum + (Size) key * s->per;
	base[0] += blk.hdr->n;
	for (int r = 0; r < blk.hdr->n; r++)
		base[1] += blk.w[r];
	base[2] += glmix_accum_stats(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col, blk.val,
								 d, coef, base + 3, base + 3 + d);
	cnt = base + 3 + d + (Size) d * (d + 1) / 2;
	for (int32 k = 0; k < blk.ptr[blk.hdr->n]; k++)
		cnt[blk.col[k]] += 1.0;
	pfree(offsets);
	PG_RETURN_BYTEA_P(s);
}

PG_FUNCTION_INFO_V1(glmix_flat_entity_combine);
/* two entity states added (either may be NULL) */
Datum
glmix_flat_entity_combine(PG_FUNCTION_ARGS)
{
	FlatEntSum *a = glmix_flat_ent_arg(fcinfo, 0);
	FlatEntSum *b = glmix_flat_ent_arg(fcinfo, 1);
	Size		n;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(a);
	}
	if (a == NULL)
		PG_RETURN_BYTEA_P(glmix_flat_ent_writable(fcinfo, b, b->nkeys, b->dim));
	if (a->nkeys != b->nkeys || a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states of %d keys of dimension %d and %d of %d in one aggregate",
						a->nkeys, a->dim, b->nkeys, b->dim)));
	a = glmix_flat_ent_writable(fcinfo, a, a->nkeys, a->dim);
	n = (Size) a->nkeys * a->per;
	for (Size j = 0; j < n; j++)
		a->sum[j] += b->sum[j];
	PG_RETURN_BYTEA_P(a);
}

PG_FUNCTION_INFO_V1(glmix_flat_entity_final);
/* nkeys, dim, then per key: rows, weight, loss, gradient, packed Hessian, column counts */
Datum
glmix_flat_entity_final(PG_FUNCTION_ARGS)
{
	FlatEntSum *s = glmix_flat_ent_arg(fcinfo, 0);
	Size		n;
	ArrayType  *a;
	double	   *v;

	if (s == NULL)
		PG_RETURN_NULL();
	n = (Size) s->nkeys * s->per;
	a = glmix_float8_array(NULL, (int) (2 + n));
	v = (double *) ARR_DATA_PTR(a);
	v[0] = s->nkeys;
	v[1] = s->dim;
	memcpy(v + 2, s->sum, sizeof(double) * n);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(glmix_flat_add);
/* recs._glmix_flat_add(a, b): a + b element by element; a NULL one is none */
Datum
glmix_flat_add(PG_FUNCTION_ARGS)
{
	int			na,
				nb;
	const double *a,
			   *b;
	double	   *out;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(0))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));
	a = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(0), &na, "coefficients");
	b = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(1), &nb, "coefficients");
	if (na != nb)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("cannot add %d coefficients to %d", nb, na)));
	out = palloc(sizeof(double) * Max(na, 1));
	for (int j = 0; j < na; j++)
		out[j] = a[j] + b[j];
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(out, na));
}
