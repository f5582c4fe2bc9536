/*
 * glmix_agg_flat.c -- what a flat Citus training (glmix_flat.c) runs in the
 * shards' tasks: each learner's blocks built from its impressions, block
 * scores for the offsets, and the fixed effect's statistics and the loss as
 * aggregates that Citus pushes down as partial aggregates
 *
 * recs._glmix_flat_blocks(enc, learner_id, learner features, values,
 * course ids, labels, label2, times) is called once per learner by a GROUP
 * BY learner_id over the impressions, joined with the training's learner
 * relation for the learner's feature vector (both co-located with the work
 * relation, so the INSERT ... SELECT runs whole in each shard's task).  It applies the impressions reader's
 * row policy (ingest/impressions.c: a NULL, NaN or infinite time skipped,
 * a time after `through` left out, a NULL id skipped, labels OR-ed with a
 * NULL skipped when no label is 1, a label other than 0 or 1 an error),
 * builds each kept row's fixed-effect row x(l, c) with glmix_fixed_row()
 * and its learner-effect row z(c) = [1 | the course's features] as
 * glmix_random_design() does, and cuts them into pairs of blocks over the
 * same rows (both within GLMIX_BLOCK_MAX_BYTES), so row r of one is row r
 * of the other.  The learner's counts, and its positive courses for
 * recs.model_learner, ride on its first row.
 *
 * Offsets never leave the worker: the fixed effect's offset of a row is its
 * learner-effect score z_r . coef_l (the learner's coefficients, joined
 * from the co-located coefficient relation), the learner effect's is its
 * fixed score x_r . beta (recs._glmix_flat_scores(fblock, beta)).
 *
 * recs._glmix_flat_fixed_stats (Newton), recs._glmix_flat_fixed_grad (TRON:
 * loss, gradient and a Hessian-vector product, O(d)) and recs._glmix_flat_loss
 * have a bytea transition state, not internal: Citus pushes such a custom aggregate down
 * as a partial aggregate (worker_partial_agg in each task, the states sent
 * as text, coord_combine_agg on the coordinator), so each shard returns one
 * state -- the sums of its rows' weight, loss, gradient and Hessian.  The
 * state is a sum of doubles; the transition function adds into it in place
 * when it runs in an aggregate context (nodeAgg keeps the pointer), the
 * combine function adds two, the final functions check and reshape.  States
 * are validated (magic, length for their dimension) wherever they come in.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "impressions.h"

/*
 * ---- the summing state: int64 rows, then nsum doubles: the fixed
 * effect's weight, loss, gradient and packed Hessian (Newton); the loss's
 * weight, loss and the learners' squared coefficients; TRON's weight, loss,
 * gradient and, given a direction, Hessian-vector product ----
 */

#define FLAT_SUM_MAGIC 0x474D4653	/* "GMFS": Newton's statistics, the loss */
#define FLAT_GRAD_MAGIC 0x474D4647	/* "GMFG": TRON's (O(d), no Hessian) */
#define FLAT_MAX_DIM 8192			/* as the dense fixed-effect aggregate */
/* room in a work row beside its two blocks: ids, counts, a few positives */
#define FLAT_ROW_SLACK 512

typedef struct FlatSum
{
	int32		vl_len_;
	uint32		magic;
	int32		dim;			/* fixed-effect dimension; 0 for the loss */
	int32		nsum;			/* doubles that follow */
	int32		pad;
	int64		n;
	double		sum[FLEXIBLE_ARRAY_MEMBER];
} FlatSum;

#define FLAT_SUM_BYTES(nsum) (offsetof(FlatSum, sum) + sizeof(double) * (Size) (nsum))

/* doubles of a fixed-effect state: weight, loss, gradient, packed Hessian */
static int
fixed_nsum(int d)
{
	return 2 + d + (int) ((Size) d * (d + 1) / 2);
}

/* a state argument, checked; NULL for a SQL NULL */
static FlatSum *
sum_arg(FunctionCallInfo fcinfo, int argno)
{
	bytea	   *b;
	FlatSum    *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	b = PG_GETARG_BYTEA_P(argno);
	s = (FlatSum *) b;
	if (VARSIZE(b) < offsetof(FlatSum, sum) ||
		(s->magic == FLAT_SUM_MAGIC ?
		 (s->dim < 0 || s->dim > FLAT_MAX_DIM || s->nsum != (s->dim > 0 ? fixed_nsum(s->dim) : 3)) :
		 s->magic == FLAT_GRAD_MAGIC ?
		 (s->dim < 1 || s->dim > GLMIX_MAX_FIXED_DIM || (s->nsum != 2 + s->dim && s->nsum != 2 + 2 * s->dim)) :
		 true) ||
		VARSIZE(b) != FLAT_SUM_BYTES(s->nsum) || s->n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat aggregate state")));
	return s;
}

/*
 * The state to add into: the input itself inside an aggregate (nodeAgg
 * keeps a pointer it is given back, so the sums grow in place), a copy
 * otherwise; a zeroed one when there is none yet.
 */
static FlatSum *
sum_writable_of(FunctionCallInfo fcinfo, FlatSum *s, uint32 magic, int dim, int nsum)
{
	MemoryContext aggcontext;
	bool		in_agg = AggCheckCallContext(fcinfo, &aggcontext) != 0;
	FlatSum    *w;

	if (s != NULL && in_agg)
		return s;
	w = MemoryContextAllocHuge(in_agg ? aggcontext : CurrentMemoryContext, FLAT_SUM_BYTES(nsum));
	memset(w, 0, FLAT_SUM_BYTES(nsum));
	SET_VARSIZE(w, FLAT_SUM_BYTES(nsum));
	w->magic = magic;
	w->dim = dim;
	w->nsum = nsum;
	if (s != NULL)
	{
		w->n = s->n;
		memcpy(w->sum, s->sum, sizeof(double) * nsum);
	}
	return w;
}

/* a Newton or loss state (dim 0) to add into */
static FlatSum *
sum_writable(FunctionCallInfo fcinfo, FlatSum *s, int dim)
{
	return sum_writable_of(fcinfo, s, FLAT_SUM_MAGIC, dim, dim > 0 ? fixed_nsum(dim) : 3);
}

/* a state of the kind the caller sums, else XX001 */
static void
sum_kind(const FlatSum *s, uint32 magic, const char *what)
{
	if (s != NULL && s->magic != magic)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat %s state", what)));
}

/* ---- block scores: the offsets, computed where the blocks are ---- */

/* out[r] = row r of the block . coef (coef of the block's dimension) */
void
glmix_flat_block_scores(const GlmixBlock *blk, const double *coef, double *out)
{
	for (int r = 0; r < blk->hdr->n; r++)
	{
		double		s = 0.0;

		for (int32 k = blk->ptr[r]; k < blk->ptr[r + 1]; k++)
			s += (blk->val ? blk->val[k] : 1.0) * coef[blk->col[k]];
		out[r] = s;
	}
}

/* a coefficient argument of the block's dimension, checked finite */
const double *
glmix_flat_coef_arg(FunctionCallInfo fcinfo, int argno, int dim, const char *what)
{
	int			n;
	const double *c = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno), &n, what);

	if (n != dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s hold %d values for a block of dimension %d", what, n, dim)));
	for (int j = 0; j < n; j++)
		if (!isfinite(c[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be finite", what)));
	return c;
}

/*
 * Add a block's per-row scores of another coordinate (argument argno, a
 * float8[] of one value per row; NULL: none) to o[0..n): the course
 * effect's scores z_l . coef_c, kept beside the blocks (glmix_flat_course.c)
 */
void
glmix_flat_add_row_scores(FunctionCallInfo fcinfo, int argno, int n, double *o)
{
	int			m;
	const double *v;

	if (argno < 0 || PG_ARGISNULL(argno))
		return;
	v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno), &m, "row scores");
	if (m != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d row scores for a block of %d rows", m, n)));
	for (int r = 0; r < n; r++)
	{
		if (!isfinite(v[r]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row scores must be finite")));
		o[r] += v[r];
	}
}

/*
 * The offsets of a fixed block's rows: its twin learner-effect block's
 * scores at the learner's coefficients (zeros without either), plus the
 * rows' course-effect scores of argument sargno
 */
double *
glmix_flat_twin_offsets(FunctionCallInfo fcinfo, int rargno, int cargno, int sargno, const GlmixBlock *fblk)
{
	double	   *o = palloc0(sizeof(double) * Max(fblk->hdr->n, 1));
	GlmixBlock	rblk;

	glmix_flat_add_row_scores(fcinfo, sargno, fblk->hdr->n, o);
	if (PG_ARGISNULL(rargno) || PG_ARGISNULL(cargno))
		return o;
	glmix_block_map(glmix_block_arg(fcinfo, rargno), &rblk);
	if (rblk.hdr->n != fblk->hdr->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a learner-effect block of %d rows beside a fixed block of %d",
						rblk.hdr->n, fblk->hdr->n)));
	{
		double	   *ls = palloc(sizeof(double) * Max(rblk.hdr->n, 1));

		glmix_flat_block_scores(&rblk, glmix_flat_coef_arg(fcinfo, cargno, rblk.hdr->dim, "learner coefficients"), ls);
		for (int r = 0; r < rblk.hdr->n; r++)
			o[r] += ls[r];
		pfree(ls);
	}
	return o;
}

PG_FUNCTION_INFO_V1(glmix_flat_scores);
/*
 * recs._glmix_flat_scores(block, coef, plus): the block's rows' scores,
 * float8[], plus the rows' values of plus (NULL: none); NULL for a NULL
 * block or coef
 */
Datum
glmix_flat_scores(PG_FUNCTION_ARGS)
{
	GlmixBlock	blk;
	double	   *out;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	glmix_block_map(glmix_block_arg(fcinfo, 0), &blk);
	out = palloc(sizeof(double) * Max(blk.hdr->n, 1));
	glmix_flat_block_scores(&blk, glmix_flat_coef_arg(fcinfo, 1, blk.hdr->dim, "coefficients"), out);
	glmix_flat_add_row_scores(fcinfo, 2, blk.hdr->n, out);
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(out, blk.hdr->n));
}

/* ---- the fixed effect's statistics and the loss, summed per shard ---- */

PG_FUNCTION_INFO_V1(glmix_flat_fixed_accum);
/* (state, fblock, rblock, learner coef, beta, course scores): add the block's rows */
Datum
glmix_flat_fixed_accum(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	GlmixBlock	blk;
	const double *beta;
	double	   *offsets;
	int			d;

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL")));
	sum_kind(s, FLAT_SUM_MAGIC, "fixed-effect");
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	d = blk.hdr->dim;
	if (d > FLAT_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fixed-effect dimension %d is outside 1..%d", d, FLAT_MAX_DIM)));
	if (s != NULL && s->dim != d)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("blocks of dimensions %d and %d in one aggregate", s->dim, d)));
	beta = glmix_flat_coef_arg(fcinfo, 4, d, "coefficients");
	offsets = glmix_flat_twin_offsets(fcinfo, 2, 3, 5, &blk);
	s = sum_writable(fcinfo, s, d);
	s->sum[1] += glmix_accum_stats(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col, blk.val,
								   d, beta, s->sum + 2, s->sum + 2 + d);
	for (int r = 0; r < blk.hdr->n; r++)
		s->sum[0] += blk.w[r];
	s->n += blk.hdr->n;
	pfree(offsets);
	PG_RETURN_BYTEA_P(s);
}

PG_FUNCTION_INFO_V1(glmix_flat_loss_accum);
/*
 * (state, fblock, rblock, learner coef, beta, first, course scores): the
 * rows' weighted loss; on a learner's first row (first) also its squared
 * coefficients, for the learner effect's penalty
 */
Datum
glmix_flat_loss_accum(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	GlmixBlock	blk;
	const double *beta;
	double	   *margin;

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL")));
	if (s != NULL && (s->magic != FLAT_SUM_MAGIC || s->dim != 0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat loss state")));
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	beta = glmix_flat_coef_arg(fcinfo, 4, blk.hdr->dim, "coefficients");
	margin = glmix_flat_twin_offsets(fcinfo, 2, 3, 6, &blk);
	s = sum_writable(fcinfo, s, 0);
	for (int r = 0; r < blk.hdr->n; r++)
	{
		double		m = margin[r];

		for (int32 k = blk.ptr[r]; k < blk.ptr[r + 1]; k++)
			m += (blk.val ? blk.val[k] : 1.0) * beta[blk.col[k]];
		if (blk.w[r] != 0.0)
			s->sum[1] += blk.w[r] * glmix_logloss(m, blk.y[r]);
		s->sum[0] += blk.w[r];
	}
	s->n += blk.hdr->n;
	if (!PG_ARGISNULL(5) && PG_GETARG_BOOL(5) && !PG_ARGISNULL(3) && !PG_ARGISNULL(2))
	{
		int			nc;
		const double *c = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(3), &nc, "learner coefficients");

		for (int j = 0; j < nc; j++)
			s->sum[2] += c[j] * c[j];
	}
	pfree(margin);
	PG_RETURN_BYTEA_P(s);
}

PG_FUNCTION_INFO_V1(glmix_flat_combine);
/* two states of one aggregate added (either may be NULL) */
Datum
glmix_flat_combine(PG_FUNCTION_ARGS)
{
	FlatSum    *a = sum_arg(fcinfo, 0);
	FlatSum    *b = sum_arg(fcinfo, 1);

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(a);
	}
	if (a == NULL)
		PG_RETURN_BYTEA_P(sum_writable_of(fcinfo, b, b->magic, b->dim, b->nsum));
	if (a->magic != b->magic || a->nsum != b->nsum)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("states of two kinds or dimensions (%d, %d) in one aggregate", a->dim, b->dim)));
	a = sum_writable_of(fcinfo, a, a->magic, a->dim, a->nsum);
	a->n += b->n;
	for (int j = 0; j < a->nsum; j++)
		a->sum[j] += b->sum[j];
	PG_RETURN_BYTEA_P(a);
}

PG_FUNCTION_INFO_V1(glmix_flat_fixed_final);
/* as recs.glmix_fixed_block_stats: rows, weight, loss, gradient, packed Hessian */
Datum
glmix_flat_fixed_final(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	ArrayType  *a;
	double	   *v;

	if (s == NULL)
		PG_RETURN_NULL();
	if (s->magic != FLAT_SUM_MAGIC || s->dim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat fixed-effect state")));
	a = glmix_float8_array(NULL, 1 + s->nsum);
	v = (double *) ARR_DATA_PTR(a);
	v[0] = (double) s->n;
	memcpy(v + 1, s->sum, sizeof(double) * s->nsum);
	PG_RETURN_ARRAYTYPE_P(a);
}

PG_FUNCTION_INFO_V1(glmix_flat_loss_final);
/* rows, weight, weighted log-loss, the learners' squared coefficients */
Datum
glmix_flat_loss_final(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	double		v[4];

	if (s == NULL)
		PG_RETURN_NULL();
	if (s->magic != FLAT_SUM_MAGIC || s->dim != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix flat loss state")));
	v[0] = (double) s->n;
	v[1] = s->sum[0];
	v[2] = s->sum[1];
	v[3] = s->sum[2];
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(v, 4));
}

/* ---- TRON's statistics: loss, gradient and H v, O(d) a state ---- */

/*
 * The coefficients and the direction as TRON's aggregate is given them:
 * in the training's statement two parameters, the same for every row, so
 * their finiteness is checked once per task (cached in fn_extra by the
 * arguments' addresses when get_fn_expr_arg_stable says they cannot change
 * and they are plain, as enc_arg does); anything else is checked on every
 * call.  Their length is checked on every call.
 */
typedef struct GradArgs
{
	Datum		raw[2];			/* the plain, stable arguments last checked */
} GradArgs;

static const double *
grad_vec_arg(FunctionCallInfo fcinfo, int argno, int slot, int dim, const char *what)
{
	Datum		raw = PG_GETARG_DATUM(argno);
	GradArgs   *c = fcinfo->flinfo->fn_extra;
	bool		plain = !VARATT_IS_EXTENDED(DatumGetPointer(raw)) &&
		get_fn_expr_arg_stable(fcinfo->flinfo, argno);
	int			n;
	const double *v;

	if (plain && c != NULL && c->raw[slot] == raw)
	{
		v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno), &n, what);
		if (n != dim)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s hold %d values for a block of dimension %d", what, n, dim)));
		return v;
	}
	v = glmix_flat_coef_arg(fcinfo, argno, dim, what);
	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(GradArgs));
	c->raw[slot] = plain ? raw : (Datum) 0;
	return v;
}

PG_FUNCTION_INFO_V1(glmix_flat_grad_accum);
/*
 * (state, fblock, rblock, learner coef, beta, direction, course scores):
 * add the block's rows' weight, loss and gradient at beta and, with a
 * direction, their Hessian-vector product (offsets as for Newton's)
 */
Datum
glmix_flat_grad_accum(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	GlmixBlock	blk;
	const double *beta;
	const double *dir = NULL;
	double	   *offsets;
	int			d;
	bool		has_dir = !PG_ARGISNULL(5);

	if (PG_ARGISNULL(1))
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_BYTEA_P(s);
	}
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL")));
	sum_kind(s, FLAT_GRAD_MAGIC, "gradient");
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	d = blk.hdr->dim;
	if (d < 1 || d > GLMIX_MAX_FIXED_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fixed-effect dimension %d is outside 1..%d", d, GLMIX_MAX_FIXED_DIM)));
	if (s != NULL && (s->dim != d || s->nsum != 2 + (has_dir ? 2 : 1) * d))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("blocks of dimensions %d and %d, or with and without a direction, in one aggregate",
						s->dim, d)));
	beta = grad_vec_arg(fcinfo, 4, 0, d, "coefficients");
	if (has_dir)
		dir = grad_vec_arg(fcinfo, 5, 1, d, "direction");
	offsets = glmix_flat_twin_offsets(fcinfo, 2, 3, 6, &blk);
	s = sum_writable_of(fcinfo, s, FLAT_GRAD_MAGIC, d, 2 + (has_dir ? 2 : 1) * d);
	s->sum[1] += glmix_accum_grad_hv(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col, blk.val,
									 beta, dir, s->sum + 2, has_dir ? s->sum + 2 + d : NULL);
	for (int r = 0; r < blk.hdr->n; r++)
		s->sum[0] += blk.w[r];
	s->n += blk.hdr->n;
	pfree(offsets);
	PG_RETURN_BYTEA_P(s);
}

PG_FUNCTION_INFO_V1(glmix_flat_grad_final);
/* as recs.glmix_fixed_block_grad: rows, weight, loss, gradient (, H v) */
Datum
glmix_flat_grad_final(PG_FUNCTION_ARGS)
{
	FlatSum    *s = sum_arg(fcinfo, 0);
	ArrayType  *a;
	double	   *v;

	if (s == NULL)
		PG_RETURN_NULL();
	sum_kind(s, FLAT_GRAD_MAGIC, "gradient");
	a = glmix_float8_array(NULL, 1 + s->nsum);
	v = (double *) ARR_DATA_PTR(a);
	v[0] = (double) s->n;
	memcpy(v + 1, s->sum, sizeof(double) * s->nsum);
	PG_RETURN_ARRAYTYPE_P(a);
}

/* ---- the block builder ---- */

/* the decoded encoding, kept across one query's calls (fn_extra) */
typedef struct EncCache
{
	Datum		raw;			/* the argument as passed: a plain (not toasted) value */
	Size		size;
	GlmixFlatEnc *enc;
} EncCache;

/*
 * The encoding of argument 0.  In the training's statements it is one
 * constant (a Const or a Param: get_fn_expr_arg_stable), so it is decoded
 * once per task; the cache is also keyed by the argument's address and
 * size.  An argument that can change from row to row (a column, an
 * expression: a caller other than recs' own statements), or a toasted one,
 * is decoded every time: a new value may sit behind the same address.
 */
static GlmixFlatEnc *
enc_arg(FunctionCallInfo fcinfo)
{
	Datum		raw = PG_GETARG_DATUM(0);
	EncCache   *c = fcinfo->flinfo->fn_extra;
	MemoryContext old;
	bool		plain = !VARATT_IS_EXTENDED(DatumGetPointer(raw)) &&
		get_fn_expr_arg_stable(fcinfo->flinfo, 0);

	if (plain && c != NULL && c->raw == raw && c->size == VARSIZE(DatumGetPointer(raw)))
		return c->enc;
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	if (c == NULL)
		c = fcinfo->flinfo->fn_extra = palloc0(sizeof(EncCache));
	c->enc = glmix_flat_decode(PG_GETARG_BYTEA_PP(0));
	c->raw = plain ? raw : (Datum) 0;
	c->size = plain ? VARSIZE(DatumGetPointer(raw)) : 0;
	MemoryContextSwitchTo(old);
	return c->enc;
}

/* the elements of a float8[] or bigint[] argument with their NULLs; n checked */
static Datum *
array_arg(FunctionCallInfo fcinfo, int argno, Oid type, int n, bool **nulls, const char *what)
{
	Datum	   *el;
	int			m;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), type, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &el, nulls, &m);
	if (n >= 0 && m != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s hold %d values for %d impressions", what, m, n)));
	return el;
}

/* a design under construction: CSR rows with values */
typedef struct Csr
{
	int32	   *ptr;
	int32	   *col;
	double	   *val;
	int			nnz;
	int			cap;
} Csr;

static void
csr_reserve(Csr *x, int more)
{
	if (x->nnz + more <= x->cap)
		return;
	x->cap = Max(x->cap * 2, x->nnz + more);
	x->col = x->col ? repalloc_huge(x->col, sizeof(int32) * x->cap) :
		MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * x->cap);
	x->val = x->val ? repalloc_huge(x->val, sizeof(double) * x->cap) :
		MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * x->cap);
}

static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static void
too_wide(int nnz)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("an impression has %d features, more than one block can hold", nnz),
			 errhint("Use fewer crosses or multi-hot elements.")));
}

/*
 * The learner's side as a one-row GlmixSide: the encoding's columns (their
 * feature ranges) and the learner's own vector, arguments 2 and 3 (joined
 * from the training's co-located learner relation; NULL: not among the
 * learners, no features).  Returns its index, 0, or -1.
 */
static int
learner_side(FunctionCallInfo fcinfo, const GlmixFlatEnc *e, int64 learner, GlmixSide *me)
{
	ArrayType  *ca;
	int			nc,
				nv;
	const double *val;
	int32	   *col;

	*me = *e->learners;
	me->n = 0;
	if (PG_ARGISNULL(2) || PG_ARGISNULL(3))
		return -1;
	ca = PG_GETARG_ARRAYTYPE_P(2);
	if (ARR_NDIM(ca) > 1 || ARR_HASNULL(ca) || ARR_ELEMTYPE(ca) != INT4OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("learner features must be a one-dimensional integer[] without NULLs")));
	nc = ArrayGetNItems(ARR_NDIM(ca), ARR_DIMS(ca));
	col = (int32 *) ARR_DATA_PTR(ca);
	val = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(3), &nv, "learner values");
	if (nv != nc)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d learner features with %d values", nc, nv)));
	for (int k = 0; k < nc; k++)
		if (col[k] < 0 || col[k] >= me->nfeat || (k > 0 && col[k] <= col[k - 1]) || !isfinite(val[k]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("learner features must ascend within 0..%d, their values be finite", me->nfeat - 1)));
	me->n = 1;
	me->ids = palloc(sizeof(int64));
	me->ids[0] = learner;
	me->ptr = palloc(sizeof(int32) * 2);
	me->ptr[0] = 0;
	me->ptr[1] = nc;
	me->col = col;
	me->val = (double *) val;
	return 0;
}

/*
 * The learner effect's weights under max_rows: a learner with more kept
 * rows than the cap keeps the sample one node draws (glmix_sample.c), its
 * other rows at weight 0 (they stay in the block, whose rows are the fixed
 * block's, for the offsets; a row of weight 0 adds nothing to the entity's
 * fit), the sample's weights scaled by rows / max_rows (*scale) as
 * glmix_stage.c scales them.  Without a cap, w itself and 1.
 */
static double *
learner_sample(const GlmixFlatEnc *e, int64 learner, int kept, const double *y,
			   const double *w, const int64 *rcourse, double *scale)
{
	int64	   *idx;
	int64	   *lid;
	double	   *zw;

	*scale = 1.0;
	if (e->max_rows == 0 || !e->learner_effect || kept <= e->max_rows)
		return (double *) w;
	idx = palloc(sizeof(int64) * kept);
	lid = palloc(sizeof(int64) * kept);
	zw = palloc0(sizeof(double) * kept);
	for (int r = 0; r < kept; r++)
	{
		idx[r] = r;
		lid[r] = learner;
	}
	glmix_sample_entity(idx, kept, e->max_rows,
						glmix_sample_seed(e->seed, e->re_serial, psprintf(INT64_FORMAT, learner)),
						lid, rcourse, y, w);
	for (int k = 0; k < e->max_rows; k++)
		zw[idx[k]] = w[idx[k]];
	*scale = (double) kept / e->max_rows;
	pfree(idx);
	pfree(lid);
	return zw;
}

PG_FUNCTION_INFO_V1(glmix_flat_blocks);
/*
 * recs._glmix_flat_blocks(enc, learner_id, learner features, values,
 * course_ids, labels, labels2, times, watch times, weights): the learner's kept rows as (fixed, learner-effect) block pairs
 * with the learner's counts (and with a course effect the rows' course ids).  Materialize mode: a learner's rows are one
 * call's.  Its overload with an eleventh argument, each impression's key
 * of an effect keyed by an impressions column (a channel: the index of its
 * value, NULL none; glmix_flat_channel.c), returns each block's rows' keys
 * (-1: none) as a fourteenth column.
 */
Datum
glmix_flat_blocks(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GlmixFlatEnc *e;
	int64		learner;
	int			n,
				li,
				kept = 0,
				npos = 0,
				nposc = 0;
	int64		null_id = 0,
				null_label = 0,
				bad_time = 0,
				after_through = 0;
	double		t_max = NAN;
	Datum	   *course,
			   *lab[2] = {NULL, NULL},
			   *tim = NULL,
			   *sec = NULL,
			   *wcol = NULL;
	bool	   *cnull,
			   *lnull[2] = {NULL, NULL},
			   *tnull = NULL,
			   *snull = NULL,
			   *wnull = NULL;
	double	   *y;
	double	   *w;
	int64	   *pos;
	int64	   *rcourse;
	Csr			x = {0},
				z = {0};
	GlmixSide	me;
	int			re_nnz = 0;
	double	   *zw;
	double		zscale;
	int			block_no = 0;
	int			lo;
	bool		keyed = PG_NARGS() > 10;
	int32	   *ikey = NULL;	/* keyed: each impression's key, -1 none */
	int32	   *rkey = NULL;	/* keyed: each kept row's */

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the encoding, the learner and the course ids must not be NULL")));
	e = enc_arg(fcinfo);
	learner = PG_GETARG_INT64(1);
	li = learner_side(fcinfo, e, learner, &me);
	course = array_arg(fcinfo, 4, INT8OID, -1, &cnull, "course ids");
	n = ArrayGetNItems(ARR_NDIM(PG_GETARG_ARRAYTYPE_P(4)), ARR_DIMS(PG_GETARG_ARRAYTYPE_P(4)));
	for (int i = 0; i < e->nlabels; i++)
	{
		if (PG_ARGISNULL(5 + i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("labels must not be NULL")));
		lab[i] = array_arg(fcinfo, 5 + i, FLOAT8OID, n, &lnull[i], "labels");
	}
	if (e->has_time)
	{
		if (PG_ARGISNULL(7))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("times must not be NULL")));
		tim = array_arg(fcinfo, 7, FLOAT8OID, n, &tnull, "times");
	}
	if (e->weights & GLMIX_FLAT_WEIGHT_SECONDS)
	{
		if (PG_ARGISNULL(8))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("watch times must not be NULL")));
		sec = array_arg(fcinfo, 8, FLOAT8OID, n, &snull, "watch times");
	}
	if (e->weights & GLMIX_FLAT_WEIGHT_COLUMN)
	{
		if (PG_ARGISNULL(9))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("weights must not be NULL")));
		wcol = array_arg(fcinfo, 9, FLOAT8OID, n, &wnull, "weights");
	}
	if (keyed)
		ikey = glmix_flat_row_keys_arg(fcinfo, 10, n);
	y = palloc(sizeof(double) * Max(n, 1));
	w = palloc(sizeof(double) * Max(n, 1));
	rkey = palloc(sizeof(int32) * Max(n, 1));
	pos = palloc(sizeof(int64) * Max(n, 1));
	rcourse = palloc(sizeof(int64) * Max(n, 1));
	x.ptr = palloc(sizeof(int32) * (n + 1));
	z.ptr = palloc(sizeof(int32) * (n + 1));
	x.ptr[0] = z.ptr[0] = 0;

	/* the reader's policy, in its order (ingest/impressions.c, read_row) */
	for (int r = 0; r < n; r++)
	{
		double		label;
		double		v[IMPRESSIONS_MAX_LABELS];
		bool		vnull[IMPRESSIONS_MAX_LABELS];
		int			ci,
					len;

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (e->has_time)
		{
			double		t = DatumGetFloat8(tim[r]);

			if (tnull[r] || !isfinite(t))
			{
				bad_time++;
				continue;
			}
			if (!isnan(e->through) && t > e->through)
			{
				after_through++;
				continue;
			}
			if (isnan(t_max) || t > t_max)
				t_max = t;
		}
		if (cnull[r])
		{
			null_id++;
			continue;
		}
		for (int i = 0; i < e->nlabels; i++)
		{
			v[i] = lnull[i][r] ? 0.0 : DatumGetFloat8(lab[i][r]);
			vnull[i] = lnull[i][r];
		}
		label = impressions_label(e->nlabels, v, vnull, learner, DatumGetInt64(course[r]), NULL);
		if (isnan(label))
		{
			null_label++;
			continue;
		}
		ci = glmix_side_index(e->courses, DatumGetInt64(course[r]));
		y[kept] = label;
		w[kept] = e->weights == 0 ? 1.0 :
			impressions_weight(label, sec != NULL, sec ? DatumGetFloat8(sec[r]) : 0.0, sec ? snull[r] : true,
							   wcol != NULL, wcol ? DatumGetFloat8(wcol[r]) : 0.0, wcol ? wnull[r] : true,
							   learner, DatumGetInt64(course[r]), NULL);
		rcourse[kept] = DatumGetInt64(course[r]);
		rkey[kept] = ikey ? ikey[r] : -1;
		if (label > 0)
			pos[npos++] = DatumGetInt64(course[r]);
		/* x(l, c), as glmix_fixed_design() builds it */
		/* a bound first: hashed crosses sharing a bucket make one feature */
		len = glmix_fixed_row(&e->lay, &me, e->courses, li, ci, NULL, NULL);
		csr_reserve(&x, len);
		len = glmix_fixed_row(&e->lay, &me, e->courses, li, ci, x.col + x.nnz, x.val + x.nnz);
		for (int k = 0; k < len; k++)
			if (x.col[x.nnz + k] < 0 || x.col[x.nnz + k] >= e->lay.dim)
				elog(ERROR, "fixed row column %d outside dimension %d", x.col[x.nnz + k], e->lay.dim);
		x.nnz += len;
		x.ptr[kept + 1] = x.nnz;
		/* z(c) = [1 | the course's model features], as glmix_random_design() */
		if (e->learner_effect)
		{
			int			shift = e->re_intercept ? 1 : 0;
			int32		clo = ci >= 0 ? e->courses->ptr[ci] : 0,
						chi = ci >= 0 ? glmix_side_model_end(e->courses, ci) : 0;

			csr_reserve(&z, shift + chi - clo);
			if (e->re_intercept)
			{
				z.col[z.nnz] = 0;
				z.val[z.nnz++] = 1.0;
			}
			for (int32 k = clo; k < chi; k++)
			{
				z.col[z.nnz] = shift + e->courses->col[k];
				z.val[z.nnz++] = e->courses->val[k];
			}
			z.ptr[kept + 1] = z.nnz;
		}
		kept++;
	}
	re_nnz = z.nnz;
	zw = learner_sample(e, learner, kept, y, w, rcourse, &zscale);
	/* the distinct positive courses, ascending (recs.model_learner.watched) */
	qsort(pos, npos, sizeof(int64), int64_cmp);
	for (int i = 0; i < npos; i++)
		if (nposc == 0 || pos[i] != pos[nposc - 1])
			pos[nposc++] = pos[i];

	/* block pairs over the same rows, each within a page */
	lo = 0;
	do
	{
		int			hi = lo;
		bool		with_re = e->learner_effect && kept >= e->min_rows && kept > 0;
		Datum		values[14];
		bool		nulls[14] = {0};
		int64	   *ids;
		int			positives = 0;

		while (hi < kept)
		{
			int			fn = x.ptr[hi + 1] - x.ptr[lo];
			int			rn = with_re ? z.ptr[hi + 1] - z.ptr[lo] : 0;

			Size		bytes = glmix_block_size(hi - lo + 1, fn, false, true, e->lay.dim) +
				(with_re ? glmix_block_size(hi - lo + 1, rn, false, true, e->re_dim) : 0) +
				(e->course_effect ? sizeof(int64) * (Size) (hi - lo + 1) : 0) +
				(keyed ? sizeof(int32) * (Size) (hi - lo + 1) : 0);

			if (bytes > GLMIX_BLOCK_MAX_BYTES - FLAT_ROW_SLACK)
			{
				if (hi == lo)
					too_wide(x.ptr[hi + 1] - x.ptr[hi]);
				break;
			}
			hi++;
		}
		ids = palloc(sizeof(int64) * Max(hi - lo, 1));
		for (int r = lo; r < hi; r++)
		{
			ids[r - lo] = r;
			positives += y[r] > 0;
		}
		values[0] = Int32GetDatum(block_no);
		if (hi > lo)
		{
			values[1] = PointerGetDatum(glmix_block_build(hi - lo, ids, 0, y, w, 1.0, x.ptr, x.col,
														  x.val, e->lay.dim, -1, 0, 0));
			if (with_re)
				values[2] = PointerGetDatum(glmix_block_build(hi - lo, ids, 0, y, zw, zscale, z.ptr, z.col,
															  z.val, e->re_dim, 0, kept, re_nnz));
			else
				nulls[2] = true;
		}
		else
			nulls[1] = nulls[2] = true;
		values[3] = Int32GetDatum(hi - lo);
		values[4] = Int32GetDatum(positives);
		values[5] = Int64GetDatum((int64) x.ptr[hi] - x.ptr[lo]);
		/* the learner's skip counts, t_max and positive courses: on its first row */
		values[6] = Int64GetDatum(block_no == 0 ? null_id : 0);
		values[7] = Int64GetDatum(block_no == 0 ? null_label : 0);
		values[8] = Int64GetDatum(block_no == 0 ? bad_time : 0);
		values[9] = Int64GetDatum(block_no == 0 ? after_through : 0);
		values[10] = Float8GetDatum(t_max);
		nulls[10] = block_no != 0 || isnan(t_max);
		if (block_no == 0)
		{
			Datum	   *d = palloc(sizeof(Datum) * Max(nposc, 1));

			for (int i = 0; i < nposc; i++)
				d[i] = Int64GetDatum(pos[i]);
			values[11] = PointerGetDatum(construct_array(d, nposc, INT8OID, 8, FLOAT8PASSBYVAL,
														 TYPALIGN_DOUBLE));
		}
		else
			nulls[11] = true;
		/* with a course effect: each row's course id (glmix_flat_course.c) */
		if (e->course_effect && hi > lo)
		{
			Datum	   *d = palloc(sizeof(Datum) * (hi - lo));

			for (int r = lo; r < hi; r++)
				d[r - lo] = Int64GetDatum(rcourse[r]);
			values[12] = PointerGetDatum(construct_array(d, hi - lo, INT8OID, 8, FLOAT8PASSBYVAL,
														 TYPALIGN_DOUBLE));
		}
		else
			nulls[12] = true;
		/* keyed by an impressions column: each row's key */
		if (keyed && hi > lo)
		{
			Datum	   *d = palloc(sizeof(Datum) * (hi - lo));

			for (int r = lo; r < hi; r++)
				d[r - lo] = Int32GetDatum(rkey[r]);
			values[13] = PointerGetDatum(construct_array(d, hi - lo, INT4OID, 4, true, TYPALIGN_INT));
		}
		else
			nulls[13] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		block_no++;
		lo = hi;
	} while (lo < kept);
	return (Datum) 0;
}
