/*
 * glmix_agg.c -- the SQL aggregates GLMix is trained with
 *
 * Two aggregates carry all of the data-proportional work of training, so
 * that PostgreSQL can split it over parallel workers today (and a
 * distributed engine such as Citus can push it down tomorrow):
 *
 *   recs.glmix_fixed_stats(...)  the sufficient statistics of the global
 *       (fixed-effect) logistic regression at a given coefficient vector:
 *       rows, weight, loss, gradient and Hessian.  The trainer's Newton loop
 *       (glmix_train.c) runs one aggregate query per iteration.  Partial
 *       states add up, so COMBINEFUNC is a sum.
 *
 *   recs.glmix_entity_fit(...)   used with GROUP BY entity: gathers one
 *       entity's rows (a learner's, a course's) and its final function fits
 *       that entity's small L2-regularised weighted logistic regression with
 *       offsets by Newton's method.  Partial states are row lists, so
 *       COMBINEFUNC concatenates.
 *
 * Each has two transition forms sharing one state type: a row form taking
 * (label, weight, offset, feature indexes, feature values, ...) that anyone
 * can run over a table of their own (the tests do), and a block form taking
 * a bytea of many rows (GlmixBlock, see glmix.h) plus the offsets as one
 * array, which is what the trainer runs over its prepared work relation:
 * per-row executor overhead then disappears while the plan stays an
 * ordinary, parallelisable aggregate.  The states are allocated in the
 * aggregate memory context (AggCheckCallContext); serial/deserial write and
 * validate a versioned binary layout; combine accepts a NULL side and
 * rejects states of different dimension or regularisation.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "glmix.h"

#define FIXED_STATE_MAGIC 0x474D4653	/* "GMFS" */
#define ENTITY_STATE_MAGIC 0x474D4553	/* "GMES" */
#define STATE_VERSION 1
#define MAX_DIM 8192			/* dense Hessian: 8192^2 doubles = 512 MB */
#define ENTITY_MAX_DIM 1024
#define ENTITY_MAX_ITER 50
#define ENTITY_TOL 1e-8

/* ---- float8[] helpers shared by the glmix files ---- */

ArrayType *
glmix_float8_array(const double *v, int n)
{
	ArrayType  *a;
	Size		nbytes;

	if (n <= 0)
		return construct_empty_array(FLOAT8OID);
	nbytes = add_size(ARR_OVERHEAD_NONULLS(1), mul_size(n, sizeof(double)));
	a = MemoryContextAllocHuge(CurrentMemoryContext, nbytes);
	memset(a, 0, ARR_OVERHEAD_NONULLS(1));
	SET_VARSIZE(a, nbytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = FLOAT8OID;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	if (v)
		memcpy(ARR_DATA_PTR(a), v, sizeof(double) * n);
	return a;
}

const double *
glmix_float8_data(ArrayType *a, int *n, const char *what)
{
	if (ARR_ELEMTYPE(a) != FLOAT8OID)
		elog(ERROR, "%s must be a float8 array", what);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", what)));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not contain NULL elements", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return (const double *) ARR_DATA_PTR(a);
}

/* ---- blocks ---- */

typedef struct BlockLayout
{
	Size		y,
				w,
				ptr,
				rowid,
				col,
				val,
				total;
} BlockLayout;

static void
block_layout(int n, int nnz, bool binary, bool contiguous, BlockLayout *l)
{
	l->y = MAXALIGN(sizeof(GlmixBlockHeader));
	l->w = l->y + MAXALIGN(sizeof(double) * n);
	l->ptr = l->w + MAXALIGN(sizeof(double) * n);
	l->rowid = l->ptr + MAXALIGN(sizeof(int32) * (n + 1));
	l->col = l->rowid + (contiguous ? 0 : MAXALIGN(sizeof(int32) * n));
	l->val = l->col + MAXALIGN(sizeof(uint16) * nnz);
	l->total = l->val + (binary ? 0 : sizeof(double) * nnz);
}

Size
glmix_block_size(int n, int nnz, bool binary, bool contiguous)
{
	BlockLayout l;

	block_layout(n, nnz, binary, contiguous, &l);
	return l.total;
}

bytea *
glmix_block_build(int n, const int64 *rows, const double *y, const double *w,
				  double wscale, const int32 *ptr, const int32 *col,
				  const double *val, int dim, int entity, int entity_rows,
				  int entity_nnz)
{
	int			nnz = 0;
	bool		binary = true;
	bool		contiguous = true;
	BlockLayout l;
	char	   *b;
	GlmixBlockHeader *h;
	int32	   *optr;
	uint16	   *ocol;
	double	   *oval;

	if (dim > GLMIX_BLOCK_MAX_DIM)
		elog(ERROR, "block dimension %d exceeds %d", dim, GLMIX_BLOCK_MAX_DIM);
	for (int k = 0; k < n; k++)
	{
		int64		r = rows[k];

		nnz += ptr[r + 1] - ptr[r];
		if (rows[k] != rows[0] + k || rows[k] > PG_INT32_MAX)
			contiguous = false;
		if (val && binary)
			for (int32 j = ptr[r]; j < ptr[r + 1]; j++)
				if (val[j] != 1.0)
					binary = false;
	}
	block_layout(n, nnz, binary, contiguous, &l);
	b = palloc0(l.total);
	SET_VARSIZE(b, l.total);
	h = (GlmixBlockHeader *) b;
	h->magic = GLMIX_BLOCK_MAGIC;
	h->n = n;
	h->dim = dim;
	h->nnz = nnz;
	h->entity = entity;
	h->flags = (binary ? GLMIX_BLOCK_BINARY : 0) | (contiguous ? GLMIX_BLOCK_CONTIGUOUS : 0);
	h->first_row = n > 0 ? rows[0] : 0;
	h->entity_rows = entity_rows;
	h->entity_nnz = entity_nnz;
	optr = (int32 *) (b + l.ptr);
	ocol = (uint16 *) (b + l.col);
	oval = (double *) (b + l.val);
	optr[0] = 0;
	for (int k = 0; k < n; k++)
	{
		int64		r = rows[k];
		int32		len = ptr[r + 1] - ptr[r];

		((double *) (b + l.y))[k] = y[r];
		((double *) (b + l.w))[k] = w[r] * wscale;
		if (!contiguous)
			((int32 *) (b + l.rowid))[k] = (int32) r;
		for (int32 j = 0; j < len; j++)
			ocol[optr[k] + j] = (uint16) col[ptr[r] + j];
		if (!binary)
			memcpy(oval + optr[k], val + ptr[r], sizeof(double) * len);
		optr[k + 1] = optr[k] + len;
	}
	return (bytea *) b;
}

static void
block_corrupt(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("invalid glmix block"),
			 errdetail("%s", detail)));
}

void
glmix_block_map(bytea *b, GlmixBlock *out)
{
	const GlmixBlockHeader *h = (const GlmixBlockHeader *) b;
	BlockLayout l;
	const char *base = (const char *) b;
	bool		contiguous;
	const uint16 *col;

	if (VARSIZE(b) < sizeof(GlmixBlockHeader) || h->magic != GLMIX_BLOCK_MAGIC ||
		h->n < 0 || h->nnz < 0 || h->dim <= 0 || h->dim > GLMIX_BLOCK_MAX_DIM)
		block_corrupt("The bytea does not start with a valid block header.");
	contiguous = (h->flags & GLMIX_BLOCK_CONTIGUOUS) != 0;
	block_layout(h->n, h->nnz, (h->flags & GLMIX_BLOCK_BINARY) != 0, contiguous, &l);
	if (VARSIZE(b) != l.total)
		block_corrupt("The block's length does not match its header.");
	out->hdr = h;
	out->y = (const double *) (base + l.y);
	out->w = (const double *) (base + l.w);
	out->ptr = (const int32 *) (base + l.ptr);
	out->val = (h->flags & GLMIX_BLOCK_BINARY) ? NULL : (const double *) (base + l.val);
	out->rowid = palloc(sizeof(int64) * Max(h->n, 1));
	out->col = palloc(sizeof(int32) * Max(h->nnz, 1));
	for (int r = 0; r < h->n; r++)
		out->rowid[r] = contiguous ? h->first_row + r : ((const int32 *) (base + l.rowid))[r];
	col = (const uint16 *) (base + l.col);
	if (out->ptr[0] != 0 || out->ptr[h->n] != h->nnz)
		block_corrupt("The row pointers do not span the block.");
	for (int r = 0; r < h->n; r++)
	{
		if (out->ptr[r + 1] < out->ptr[r])
			block_corrupt("The row pointers are not ascending.");
		for (int32 k = out->ptr[r]; k < out->ptr[r + 1]; k++)
		{
			out->col[k] = col[k];
			if (col[k] >= h->dim || (k > out->ptr[r] && col[k] <= col[k - 1]))
				block_corrupt("Feature indexes must be ascending and within the dimension.");
		}
	}
}

/* a block argument, detoasted and 8-byte aligned */
static bytea *
block_arg(FunctionCallInfo fcinfo, int argno)
{
	bytea	   *b = PG_GETARG_BYTEA_P(argno);

	if (((uintptr_t) b) % sizeof(double) != 0)
	{
		bytea	   *copy = palloc(VARSIZE(b));

		memcpy(copy, b, VARSIZE(b));
		b = copy;
	}
	return b;
}

/* offsets of a block's rows from the offsets array (NULL = zeros) */
static double *
block_offsets(FunctionCallInfo fcinfo, int argno, const GlmixBlock *blk)
{
	int			n = blk->hdr->n;
	double	   *o = palloc0(sizeof(double) * Max(n, 1));

	if (!PG_ARGISNULL(argno))
	{
		int			len;
		const double *all = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno), &len, "offsets");

		for (int r = 0; r < n; r++)
		{
			if (blk->rowid[r] < 0 || blk->rowid[r] >= len)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("block row %lld is beyond the %d offsets given",
								(long long) blk->rowid[r], len)));
			o[r] = all[blk->rowid[r]];
		}
	}
	return o;
}

/* ---- one user row: validated, sorted, duplicates merged ---- */

typedef struct UserRow
{
	double		y;
	double		w;
	double		offset;
	int			nnz;
	int32	   *col;			/* 0-based */
	double	   *val;
} UserRow;

static void
check_label_weight(double y, double w)
{
	if (!(y >= 0.0 && y <= 1.0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be between 0 and 1, not %g", y)));
	if (!(w >= 0.0) || isinf(w))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weight must be a finite number >= 0, not %g", w)));
}

/*
 * Arguments y, w, offset, idx int4[], val float8[] starting at argno.
 * y is required; w NULL = 1, offset NULL = 0, idx NULL = no features,
 * val NULL = all ones.  Indexes are 1-based and must be <= dim.
 */
static void
user_row(FunctionCallInfo fcinfo, int argno, int dim, UserRow *row)
{
	ArrayType  *ia;
	int			n;
	int32	   *idx;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("label must not be NULL")));
	row->y = PG_GETARG_FLOAT8(argno);
	row->w = PG_ARGISNULL(argno + 1) ? 1.0 : PG_GETARG_FLOAT8(argno + 1);
	row->offset = PG_ARGISNULL(argno + 2) ? 0.0 : PG_GETARG_FLOAT8(argno + 2);
	check_label_weight(row->y, row->w);
	if (!isfinite(row->offset))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("offset must be finite")));
	row->nnz = 0;
	if (PG_ARGISNULL(argno + 3))
		return;
	ia = PG_GETARG_ARRAYTYPE_P(argno + 3);
	if (ARR_NDIM(ia) > 1 || (ARR_HASNULL(ia) && array_contains_nulls(ia)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature indexes must be a one-dimensional array without NULLs")));
	n = ArrayGetNItems(ARR_NDIM(ia), ARR_DIMS(ia));
	idx = (int32 *) ARR_DATA_PTR(ia);
	row->col = palloc(sizeof(int32) * Max(n, 1));
	row->val = palloc(sizeof(double) * Max(n, 1));
	if (!PG_ARGISNULL(argno + 4))
	{
		int			nv;
		const double *v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno + 4), &nv,
											"feature values");

		if (nv != n)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%d feature indexes but %d feature values", n, nv)));
		memcpy(row->val, v, sizeof(double) * n);
	}
	else
		for (int k = 0; k < n; k++)
			row->val[k] = 1.0;
	/* insertion sort by index (rows are short), merging repeats */
	for (int k = 0; k < n; k++)
	{
		int32		c = idx[k] - 1;
		double		v = row->val[k];
		int			j;

		if (c < 0 || c >= dim)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("feature index %d is outside 1..%d", idx[k], dim)));
		if (!isfinite(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature values must be finite")));
		for (j = row->nnz; j > 0 && row->col[j - 1] > c; j--)
			;
		if (j > 0 && row->col[j - 1] == c)
		{
			row->val[j - 1] += v;
			continue;
		}
		memmove(row->col + j + 1, row->col + j, sizeof(int32) * (row->nnz - j));
		memmove(row->val + j + 1, row->val + j, sizeof(double) * (row->nnz - j));
		row->col[j] = c;
		row->val[j] = v;
		row->nnz++;
	}
}

static MemoryContext
agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", fn);
	return aggcontext;
}

/* ======================================================================
 * Fixed-effect statistics
 * ====================================================================== */

typedef struct FixedState
{
	int32		dim;
	int64		n;
	double		weight;
	double		loss;
	double	   *beta;			/* only in transition states */
	double	   *grad;
	double	   *hess;			/* packed upper triangle, see GLMIX_PACKED */
} FixedState;

#define PACKED_LEN(d) ((Size) (d) * ((d) + 1) / 2)

static FixedState *
fixed_state_new(MemoryContext cxt, int dim)
{
	FixedState *s;

	if (dim <= 0 || dim > MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fixed-effect dimension %d is outside 1..%d", dim, MAX_DIM),
				 errhint("The Hessian is dense: reduce the crosses or the feature columns.")));
	s = MemoryContextAllocZero(cxt, sizeof(FixedState));
	s->dim = dim;
	s->grad = MemoryContextAllocZero(cxt, sizeof(double) * dim);
	s->hess = MemoryContextAllocHuge(cxt, mul_size(PACKED_LEN(dim), sizeof(double)));
	memset(s->hess, 0, sizeof(double) * PACKED_LEN(dim));
	return s;
}

/* the state, created on the first call from the coefficient vector */
static FixedState *
fixed_state_for(FunctionCallInfo fcinfo, int beta_argno, const char *fn)
{
	MemoryContext aggcontext = agg_context(fcinfo, fn);
	FixedState *s = PG_ARGISNULL(0) ? NULL : (FixedState *) PG_GETARG_POINTER(0);
	int			d;
	const double *beta;

	if (PG_ARGISNULL(beta_argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL"),
				 errhint("Pass a zero vector of the design's dimension for the first iteration.")));
	beta = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(beta_argno), &d, "coefficients");
	if (s == NULL)
	{
		s = fixed_state_new(aggcontext, d);
		s->beta = MemoryContextAlloc(aggcontext, sizeof(double) * d);
		memcpy(s->beta, beta, sizeof(double) * d);
		for (int j = 0; j < d; j++)
			if (!isfinite(beta[j]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("coefficients must be finite")));
	}
	else if (d != s->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coefficient vectors of different lengths (%d and %d) in one aggregate",
						s->dim, d)));
	return s;
}

PG_FUNCTION_INFO_V1(glmix_fixed_row_accum);
Datum
glmix_fixed_row_accum(PG_FUNCTION_ARGS)
{
	FixedState *s = fixed_state_for(fcinfo, 6, "glmix_fixed_row_accum");
	UserRow		row;
	int32		ptr[2];

	user_row(fcinfo, 1, s->dim, &row);
	ptr[0] = 0;
	ptr[1] = row.nnz;
	s->loss += glmix_accum_stats(1, &row.y, &row.w, &row.offset, ptr, row.col, row.val,
								 s->dim, s->beta, s->grad, s->hess);
	s->n++;
	s->weight += row.w;
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_fixed_block_accum);
Datum
glmix_fixed_block_accum(PG_FUNCTION_ARGS)
{
	FixedState *s = fixed_state_for(fcinfo, 3, "glmix_fixed_block_accum");
	GlmixBlock	blk;
	double	   *offsets;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	glmix_block_map(block_arg(fcinfo, 1), &blk);
	if (blk.hdr->dim != s->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block of dimension %d with %d coefficients", blk.hdr->dim, s->dim)));
	offsets = block_offsets(fcinfo, 2, &blk);
	s->loss += glmix_accum_stats(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col,
								 blk.val, s->dim, s->beta, s->grad, s->hess);
	s->n += blk.hdr->n;
	for (int r = 0; r < blk.hdr->n; r++)
		s->weight += blk.w[r];
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_fixed_combine);
Datum
glmix_fixed_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_fixed_combine");
	FixedState *a = PG_ARGISNULL(0) ? NULL : (FixedState *) PG_GETARG_POINTER(0);
	FixedState *b = PG_ARGISNULL(1) ? NULL : (FixedState *) PG_GETARG_POINTER(1);
	int			d;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	d = b->dim;
	if (a == NULL)
	{
		/* copy into the aggregate context: b may live in a shorter one */
		a = fixed_state_new(aggcontext, d);
		a->n = b->n;
		a->weight = b->weight;
		a->loss = b->loss;
		memcpy(a->grad, b->grad, sizeof(double) * d);
		memcpy(a->hess, b->hess, sizeof(double) * PACKED_LEN(d));
		PG_RETURN_POINTER(a);
	}
	if (a->dim != b->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine fixed-effect statistics of dimensions %d and %d",
						a->dim, b->dim)));
	a->n += b->n;
	a->weight += b->weight;
	a->loss += b->loss;
	for (int j = 0; j < d; j++)
		a->grad[j] += b->grad[j];
	for (Size k = 0; k < PACKED_LEN(d); k++)
		a->hess[k] += b->hess[k];
	PG_RETURN_POINTER(a);
}

/* serial layout: magic, version, dim, n, weight, loss, grad[d], upper(hess) */
PG_FUNCTION_INFO_V1(glmix_fixed_serial);
Datum
glmix_fixed_serial(PG_FUNCTION_ARGS)
{
	FixedState *s = (FixedState *) PG_GETARG_POINTER(0);
	int			d = s->dim;
	StringInfoData buf;

	(void) agg_context(fcinfo, "glmix_fixed_serial");
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, 40 + sizeof(double) * (d + PACKED_LEN(d)));
	pq_sendint32(&buf, FIXED_STATE_MAGIC);
	pq_sendint32(&buf, STATE_VERSION);
	pq_sendint32(&buf, d);
	pq_sendint64(&buf, s->n);
	pq_sendfloat8(&buf, s->weight);
	pq_sendfloat8(&buf, s->loss);
	for (int j = 0; j < d; j++)
		pq_sendfloat8(&buf, s->grad[j]);
	for (Size k = 0; k < PACKED_LEN(d); k++)
		pq_sendfloat8(&buf, s->hess[k]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(glmix_fixed_deserial);
Datum
glmix_fixed_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_fixed_deserial");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	FixedState *s;
	int			d;

	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 12 || pq_getmsgint(&buf, 4) != FIXED_STATE_MAGIC ||
		pq_getmsgint(&buf, 4) != STATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix fixed-effect state"),
				 errdetail("Bad magic number or version.")));
	d = pq_getmsgint(&buf, 4);
	if (d <= 0 || d > MAX_DIM ||
		buf.len != 12 + 8 + 16 + 8 * (d + (int64) PACKED_LEN(d)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix fixed-effect state"),
				 errdetail("Length %d does not match dimension %d.", buf.len, d)));
	s = fixed_state_new(aggcontext, d);
	s->n = pq_getmsgint64(&buf);
	s->weight = pq_getmsgfloat8(&buf);
	s->loss = pq_getmsgfloat8(&buf);
	for (int j = 0; j < d; j++)
		s->grad[j] = pq_getmsgfloat8(&buf);
	for (Size k = 0; k < PACKED_LEN(d); k++)
		s->hess[k] = pq_getmsgfloat8(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(s);
}

/* (rows, weight, loss, gradient, hessian) -- the sums without the penalty */
PG_FUNCTION_INFO_V1(glmix_fixed_final);
Datum
glmix_fixed_final(PG_FUNCTION_ARGS)
{
	FixedState *s = PG_ARGISNULL(0) ? NULL : (FixedState *) PG_GETARG_POINTER(0);
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	double	   *h;
	int			d;

	if (s == NULL)
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "glmix_fixed_final must return a composite type");
	tupdesc = BlessTupleDesc(tupdesc);
	d = s->dim;
	h = palloc(mul_size(mul_size(d, d), sizeof(double)));
	for (int i = 0; i < d; i++)
		for (int j = i; j < d; j++)
			h[(Size) i * d + j] = h[(Size) j * d + i] = s->hess[GLMIX_PACKED(i, d) + j];
	values[0] = Int64GetDatum(s->n);
	values[1] = Float8GetDatum(s->weight);
	values[2] = Float8GetDatum(s->loss);
	values[3] = PointerGetDatum(glmix_float8_array(s->grad, d));
	values[4] = PointerGetDatum(glmix_float8_array(h, d * d));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The block form's result, for the trainer: one float8[] holding rows,
 * weight, loss, gradient[d] and the packed upper Hessian -- a single flat
 * copy instead of a composite with a full d x d matrix.
 */
PG_FUNCTION_INFO_V1(glmix_fixed_block_final);
Datum
glmix_fixed_block_final(PG_FUNCTION_ARGS)
{
	FixedState *s = PG_ARGISNULL(0) ? NULL : (FixedState *) PG_GETARG_POINTER(0);
	int			d;
	Size		len;
	ArrayType  *a;
	double	   *v;

	if (s == NULL)
		PG_RETURN_NULL();
	d = s->dim;
	len = 3 + d + PACKED_LEN(d);
	a = glmix_float8_array(NULL, (int) len);
	v = (double *) ARR_DATA_PTR(a);
	v[0] = (double) s->n;
	v[1] = s->weight;
	v[2] = s->loss;
	memcpy(v + 3, s->grad, sizeof(double) * d);
	memcpy(v + 3 + d, s->hess, sizeof(double) * PACKED_LEN(d));
	PG_RETURN_ARRAYTYPE_P(a);
}

/* ======================================================================
 * Per-entity fit
 * ====================================================================== */

typedef struct EntityState
{
	int32		dim;
	int32		entity;			/* from blocks; -1 for user rows */
	double		lambda;
	bool		has_warm;
	double	   *warm;			/* dim starting coefficients */
	int32		n,
				cap;
	int32		nnz,
				capnnz;
	double	   *y,
			   *w,
			   *o;
	int32	   *ptr;			/* cap + 1 */
	int32	   *col;
	double	   *val;
} EntityState;

static EntityState *
entity_state_new(MemoryContext cxt, int dim, double lambda, int entity)
{
	EntityState *s;

	if (dim <= 0 || dim > ENTITY_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("per-entity dimension %d is outside 1..%d", dim, ENTITY_MAX_DIM)));
	if (!(lambda > 0) || isinf(lambda))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the L2 weight of a per-entity model must be positive, not %g", lambda),
				 errdetail("Without it an entity whose rows are all one class has no finite fit.")));
	s = MemoryContextAllocZero(cxt, sizeof(EntityState));
	s->dim = dim;
	s->lambda = lambda;
	s->entity = entity;
	s->warm = MemoryContextAllocZero(cxt, sizeof(double) * dim);
	s->cap = 16;
	s->capnnz = 64;
	s->y = MemoryContextAlloc(cxt, sizeof(double) * s->cap);
	s->w = MemoryContextAlloc(cxt, sizeof(double) * s->cap);
	s->o = MemoryContextAlloc(cxt, sizeof(double) * s->cap);
	s->ptr = MemoryContextAlloc(cxt, sizeof(int32) * (s->cap + 1));
	s->col = MemoryContextAlloc(cxt, sizeof(int32) * s->capnnz);
	s->val = MemoryContextAlloc(cxt, sizeof(double) * s->capnnz);
	s->ptr[0] = 0;
	return s;
}

static void
entity_reserve(EntityState *s, int64 more_rows, int64 more_nnz)
{
	if ((int64) s->n + more_rows > PG_INT32_MAX / 2 ||
		(int64) s->nnz + more_nnz > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many rows for one entity"),
				 errhint("Cap the rows per entity (max_rows).")));
	if (s->n + more_rows > s->cap)
	{
		int32		cap = Max(s->cap * 2, s->n + (int32) more_rows);

		s->y = repalloc_huge(s->y, sizeof(double) * cap);
		s->w = repalloc_huge(s->w, sizeof(double) * cap);
		s->o = repalloc_huge(s->o, sizeof(double) * cap);
		s->ptr = repalloc_huge(s->ptr, sizeof(int32) * (cap + 1));
		s->cap = cap;
	}
	if (s->nnz + more_nnz > s->capnnz)
	{
		int32		cap = Max(s->capnnz * 2, s->nnz + (int32) more_nnz);

		s->col = repalloc_huge(s->col, sizeof(int32) * cap);
		s->val = repalloc_huge(s->val, sizeof(double) * cap);
		s->capnnz = cap;
	}
}

static void
entity_add_row(EntityState *s, double y, double w, double o, int nnz,
			   const int32 *col, const double *val)
{
	entity_reserve(s, 1, nnz);
	s->y[s->n] = y;
	s->w[s->n] = w;
	s->o[s->n] = o;
	memcpy(s->col + s->nnz, col, sizeof(int32) * nnz);
	if (val)
		memcpy(s->val + s->nnz, val, sizeof(double) * nnz);
	else
		for (int k = 0; k < nnz; k++)
			s->val[s->nnz + k] = 1.0;
	s->nnz += nnz;
	s->n++;
	s->ptr[s->n] = s->nnz;
}

PG_FUNCTION_INFO_V1(glmix_entity_row_accum);
Datum
glmix_entity_row_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_entity_row_accum");
	EntityState *s = PG_ARGISNULL(0) ? NULL : (EntityState *) PG_GETARG_POINTER(0);
	UserRow		row;
	MemoryContext old;

	if (PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dimension and L2 weight must not be NULL")));
	if (s == NULL)
		s = entity_state_new(aggcontext, PG_GETARG_INT32(6), PG_GETARG_FLOAT8(7), -1);
	else if (s->dim != PG_GETARG_INT32(6) || s->lambda != PG_GETARG_FLOAT8(7))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimension and L2 weight must be the same for every row of an entity")));
	user_row(fcinfo, 1, s->dim, &row);
	old = MemoryContextSwitchTo(aggcontext);
	entity_add_row(s, row.y, row.w, row.offset, row.nnz, row.col, row.val);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_block_accum);
Datum
glmix_entity_block_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_entity_block_accum");
	EntityState *s = PG_ARGISNULL(0) ? NULL : (EntityState *) PG_GETARG_POINTER(0);
	GlmixBlock	blk;
	double	   *offsets;
	MemoryContext old;
	double		lambda;

	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("L2 weight must not be NULL")));
	lambda = PG_GETARG_FLOAT8(4);
	glmix_block_map(block_arg(fcinfo, 1), &blk);
	if (s == NULL)
	{
		s = entity_state_new(aggcontext, blk.hdr->dim, lambda, blk.hdr->entity);
		/* room for all of the entity's rows at once (hints from the trainer) */
		if (blk.hdr->entity_rows > 0 && blk.hdr->entity_rows < 100000000 &&
			blk.hdr->entity_nnz > 0 && blk.hdr->entity_nnz < 1000000000)
		{
			old = MemoryContextSwitchTo(aggcontext);
			entity_reserve(s, blk.hdr->entity_rows, blk.hdr->entity_nnz);
			MemoryContextSwitchTo(old);
		}
		if (!PG_ARGISNULL(3))
		{
			int			nw;
			const double *warm = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(3), &nw,
												   "starting coefficients");
			int64		at = (int64) blk.hdr->entity * blk.hdr->dim;

			if (blk.hdr->entity < 0 || at + blk.hdr->dim > nw)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("no starting coefficients for entity %d", blk.hdr->entity)));
			memcpy(s->warm, warm + at, sizeof(double) * blk.hdr->dim);
			s->has_warm = true;
		}
	}
	else if (s->dim != blk.hdr->dim || s->entity != blk.hdr->entity || s->lambda != lambda)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("blocks of different entities, dimensions or L2 weights in one group")));
	offsets = block_offsets(fcinfo, 2, &blk);
	old = MemoryContextSwitchTo(aggcontext);
	entity_reserve(s, blk.hdr->n, blk.hdr->nnz);
	for (int r = 0; r < blk.hdr->n; r++)
		entity_add_row(s, blk.y[r], blk.w[r], offsets[r], blk.ptr[r + 1] - blk.ptr[r],
					   blk.col + blk.ptr[r], blk.val ? blk.val + blk.ptr[r] : NULL);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_combine);
Datum
glmix_entity_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_entity_combine");
	EntityState *a = PG_ARGISNULL(0) ? NULL : (EntityState *) PG_GETARG_POINTER(0);
	EntityState *b = PG_ARGISNULL(1) ? NULL : (EntityState *) PG_GETARG_POINTER(1);
	MemoryContext old;

	if (b == NULL)
	{
		if (a == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(a);
	}
	if (a == NULL)
	{
		a = entity_state_new(aggcontext, b->dim, b->lambda, b->entity);
		memcpy(a->warm, b->warm, sizeof(double) * b->dim);
		a->has_warm = b->has_warm;
	}
	else if (a->dim != b->dim || a->lambda != b->lambda || a->entity != b->entity)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine per-entity states of different dimensions, L2 weights or entities")));
	if (!a->has_warm && b->has_warm)
	{
		memcpy(a->warm, b->warm, sizeof(double) * b->dim);
		a->has_warm = true;
	}
	old = MemoryContextSwitchTo(aggcontext);
	entity_reserve(a, b->n, b->nnz);
	for (int r = 0; r < b->n; r++)
		entity_add_row(a, b->y[r], b->w[r], b->o[r], b->ptr[r + 1] - b->ptr[r],
					   b->col + b->ptr[r], b->val + b->ptr[r]);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(a);
}

/*
 * serial layout: magic, version, dim, entity, has_warm, n, nnz, lambda,
 * warm[dim], then per row y, w, o, nnz, (col, val) * nnz
 */
PG_FUNCTION_INFO_V1(glmix_entity_serial);
Datum
glmix_entity_serial(PG_FUNCTION_ARGS)
{
	EntityState *s = (EntityState *) PG_GETARG_POINTER(0);
	StringInfoData buf;

	(void) agg_context(fcinfo, "glmix_entity_serial");
	pq_begintypsend(&buf);
	pq_sendint32(&buf, ENTITY_STATE_MAGIC);
	pq_sendint32(&buf, STATE_VERSION);
	pq_sendint32(&buf, s->dim);
	pq_sendint32(&buf, s->entity);
	pq_sendint32(&buf, s->has_warm ? 1 : 0);
	pq_sendint32(&buf, s->n);
	pq_sendint32(&buf, s->nnz);
	pq_sendfloat8(&buf, s->lambda);
	for (int j = 0; j < s->dim; j++)
		pq_sendfloat8(&buf, s->warm[j]);
	for (int r = 0; r < s->n; r++)
	{
		pq_sendfloat8(&buf, s->y[r]);
		pq_sendfloat8(&buf, s->w[r]);
		pq_sendfloat8(&buf, s->o[r]);
		pq_sendint32(&buf, s->ptr[r + 1] - s->ptr[r]);
		for (int32 k = s->ptr[r]; k < s->ptr[r + 1]; k++)
		{
			pq_sendint32(&buf, s->col[k]);
			pq_sendfloat8(&buf, s->val[k]);
		}
	}
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

PG_FUNCTION_INFO_V1(glmix_entity_deserial);
Datum
glmix_entity_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = agg_context(fcinfo, "glmix_entity_deserial");
	bytea	   *b = PG_GETARG_BYTEA_PP(0);
	StringInfoData buf;
	EntityState *s;
	int32		dim,
				entity,
				has_warm,
				n,
				nnz;
	double		lambda;
	MemoryContext old;

	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 36 || pq_getmsgint(&buf, 4) != ENTITY_STATE_MAGIC ||
		pq_getmsgint(&buf, 4) != STATE_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix per-entity state"),
				 errdetail("Bad magic number or version.")));
	dim = pq_getmsgint(&buf, 4);
	entity = pq_getmsgint(&buf, 4);
	has_warm = pq_getmsgint(&buf, 4);
	n = pq_getmsgint(&buf, 4);
	nnz = pq_getmsgint(&buf, 4);
	lambda = pq_getmsgfloat8(&buf);
	if (dim <= 0 || dim > ENTITY_MAX_DIM || n < 0 || nnz < 0 ||
		buf.len != 36 + 8 * (int64) dim + 28 * (int64) n + 12 * (int64) nnz)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix per-entity state"),
				 errdetail("Length %d does not match %d rows with %d features.", buf.len, n, nnz)));
	s = entity_state_new(aggcontext, dim, lambda, entity);
	s->has_warm = has_warm != 0;
	for (int j = 0; j < dim; j++)
		s->warm[j] = pq_getmsgfloat8(&buf);
	old = MemoryContextSwitchTo(aggcontext);
	entity_reserve(s, n, nnz);
	for (int r = 0; r < n; r++)
	{
		double		y = pq_getmsgfloat8(&buf);
		double		w = pq_getmsgfloat8(&buf);
		double		o = pq_getmsgfloat8(&buf);
		int32		k = pq_getmsgint(&buf, 4);

		if (k < 0 || s->nnz + k > nnz)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid serialized glmix per-entity state"),
					 errdetail("Row %d claims more features than the state holds.", r)));
		for (int j = 0; j < k; j++)
		{
			s->col[s->nnz + j] = pq_getmsgint(&buf, 4);
			s->val[s->nnz + j] = pq_getmsgfloat8(&buf);
			if (s->col[s->nnz + j] < 0 || s->col[s->nnz + j] >= dim)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("invalid serialized glmix per-entity state"),
						 errdetail("Feature index out of range.")));
		}
		s->y[s->n] = y;
		s->w[s->n] = w;
		s->o[s->n] = o;
		s->nnz += k;
		s->n++;
		s->ptr[s->n] = s->nnz;
	}
	MemoryContextSwitchTo(old);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_final);
Datum
glmix_entity_final(PG_FUNCTION_ARGS)
{
	EntityState *s = PG_ARGISNULL(0) ? NULL : (EntityState *) PG_GETARG_POINTER(0);
	double	   *beta;
	double	   *work;
	GlmixEntityFit fit;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	beta = palloc(sizeof(double) * s->dim);
	memcpy(beta, s->warm, sizeof(double) * s->dim);
	work = palloc(sizeof(double) * ((Size) s->dim * s->dim + 4 * (Size) s->dim + 5 * (Size) s->n));
	glmix_entity_newton(s->n, s->y, s->w, s->o, s->ptr, s->col, s->val, s->dim,
						s->lambda, beta, ENTITY_MAX_ITER, ENTITY_TOL, work, &fit);
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(beta, s->dim));
}
