/*
 * glmix_agg_fixed.c -- recs.glmix_fixed_stats: the sufficient statistics
 * of the global (fixed-effect) logistic regression, as an aggregate
 *
 * At given coefficients and offsets the aggregate sums the weighted
 * logistic loss, its gradient and its exact Hessian (packed upper
 * triangle) over its rows.  The trainer's Newton loop (glmix_fit.c) runs
 * one such query per iteration over its blocks; anyone can run the row
 * form over a table of their own.  Partial states add up, so the aggregate
 * is PARALLEL SAFE with a summing COMBINEFUNC: PostgreSQL's parallel
 * workers split the scan today, and a distributed engine such as Citus can
 * push it down tomorrow.  States live in the aggregate memory context
 * (AggCheckCallContext); serial/deserial write and check a versioned
 * layout; combine accepts a NULL side and rejects other dimensions.
 *
 * Every argument is treated as hostile (the block form is callable by any
 * role with USAGE on recs): blocks go through glmix_block_map(); the
 * coefficient vector must be non-empty (22023), at most MAX_DIM long
 * (54000), finite (22023) and of the block's dimension (22023); offsets
 * must cover and be finite for the block's rows (2202E/22023).  Deserial
 * checks magic, version and the exact length for the claimed dimension
 * before allocating anything, then the row count and weight (XX001).
 * States carry a magic that combine/serial/final check.  SQL itself cannot
 * call the support functions (no SQL value has type internal); run outside
 * an aggregate anyway (a superuser's alias), the transition and combine
 * functions raise 0A000 and deserial works in the caller's context.
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
#define STATE_VERSION 1
#define MAX_DIM 8192			/* dense Hessian: 8192^2 doubles = 512 MB */

typedef struct FixedState
{
	uint32		magic;			/* FIXED_STATE_MAGIC: catches a foreign internal */
	int32		dim;
	int64		n;
	double		weight;
	double		loss;
	double	   *beta;			/* only in transition states */
	double	   *grad;
	double	   *hess;			/* packed upper triangle, see GLMIX_PACKED */
} FixedState;

#define PACKED_LEN(d) ((Size) (d) * ((d) + 1) / 2)

/* a zeroed state in the aggregate context; the dimension is checked here */
static FixedState *
fixed_state_new(MemoryContext cxt, int dim)
{
	FixedState *s;

	if (dim <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the coefficient vector must not be empty"),
				 errhint("Pass a zero vector of the design's dimension for the first iteration.")));
	if (dim > MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fixed-effect dimension %d is outside 1..%d", dim, MAX_DIM),
				 errhint("The Hessian is dense: reduce the crosses or the feature columns.")));
	s = MemoryContextAllocZero(cxt, sizeof(FixedState));
	s->magic = FIXED_STATE_MAGIC;
	s->dim = dim;
	s->grad = MemoryContextAllocZero(cxt, sizeof(double) * dim);
	s->hess = MemoryContextAllocHuge(cxt, mul_size(PACKED_LEN(dim), sizeof(double)));
	memset(s->hess, 0, sizeof(double) * PACKED_LEN(dim));
	return s;
}

/*
 * The state argument argno, or NULL.  Only this file's functions make these
 * states and only superusers can declare an aggregate over internal, so a
 * foreign pointer is a bug, not an attack; the magic check is cheap insurance.
 */
static FixedState *
fixed_state_arg(FunctionCallInfo fcinfo, int argno)
{
	FixedState *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = (FixedState *) PG_GETARG_POINTER(argno);
	if (s == NULL)
		return NULL;
	if (s->magic != FIXED_STATE_MAGIC || s->dim <= 0 || s->dim > MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix fixed-effect state")));
	return s;
}

/* the state, created on the first call from the coefficient vector */
static FixedState *
fixed_state_for(FunctionCallInfo fcinfo, int beta_argno, const char *fn)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, fn);
	FixedState *s = fixed_state_arg(fcinfo, 0);
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
		for (int j = 0; j < d; j++)
			if (!isfinite(beta[j]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("coefficients must be finite")));
		s = fixed_state_new(aggcontext, d);
		s->beta = MemoryContextAlloc(aggcontext, sizeof(double) * d);
		memcpy(s->beta, beta, sizeof(double) * d);
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
	GlmixUserRow		row;
	int32		ptr[2];

	glmix_user_row(fcinfo, 1, s->dim, &row);
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
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	if (blk.hdr->dim != s->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block of dimension %d with %d coefficients", blk.hdr->dim, s->dim)));
	offsets = glmix_block_offsets(fcinfo, 2, &blk);
	s->loss += glmix_accum_stats(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col,
								 blk.val, s->dim, s->beta, s->grad, s->hess);
	s->n += blk.hdr->n;
	for (int r = 0; r < blk.hdr->n; r++)
		s->weight += blk.w[r];
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_fixed_combine);
/*
 * Sum two partial states.  A NULL side (a worker that saw no rows) is
 * skipped; the first non-NULL state is copied into the aggregate context,
 * because the second one may live in a shorter-lived context.
 */
Datum
glmix_fixed_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_fixed_combine");
	FixedState *a = fixed_state_arg(fcinfo, 0);
	FixedState *b = fixed_state_arg(fcinfo, 1);
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

/*
 * serial layout: magic, version, dim, n, weight, loss, grad[d], upper(hess)
 * (network byte order).  Serial only reads a state, so it does not insist
 * on an aggregate context; the fuzzer round-trips states through it.
 */
PG_FUNCTION_INFO_V1(glmix_fixed_serial);
Datum
glmix_fixed_serial(PG_FUNCTION_ARGS)
{
	FixedState *s = fixed_state_arg(fcinfo, 0);
	int			d;
	StringInfoData buf;

	if (s == NULL)				/* declared STRICT; a NULL here is a misuse */
		PG_RETURN_NULL();
	d = s->dim;
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
/*
 * The inverse of glmix_fixed_serial.  Everything is checked before a byte
 * is allocated: magic, version, then the dimension against the exact length
 * (so a 16-byte bytea cannot ask for a 268 MB Hessian), then the counts.
 * Loss, gradient and Hessian may legitimately hold infinities (overflowing
 * margins), so only the row count and the weight are range-checked.  The
 * state goes to the aggregate context, or the caller's outside one: the
 * STRICT declaration keeps SQL from calling this with a usable state, but
 * the fuzzer calls it through a non-STRICT alias.
 */
Datum
glmix_fixed_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	bytea	   *b;
	StringInfoData buf;
	FixedState *s;
	int			d;
	int64		n;
	double		weight;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcontext))
		aggcontext = CurrentMemoryContext;
	b = PG_GETARG_BYTEA_PP(0);

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
	d = (int32) pq_getmsgint(&buf, 4);
	if (d <= 0 || d > MAX_DIM ||
		buf.len != 12 + 8 + 16 + 8 * (d + (int64) PACKED_LEN(d)))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix fixed-effect state"),
				 errdetail("Length %d does not match dimension %d.", buf.len, d)));
	n = pq_getmsgint64(&buf);
	weight = pq_getmsgfloat8(&buf);
	if (n < 0 || !(weight >= 0.0))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid serialized glmix fixed-effect state"),
				 errdetail("Row count " INT64_FORMAT " and weight %g; both must be >= 0.", n, weight)));
	s = fixed_state_new(aggcontext, d);
	s->n = n;
	s->weight = weight;
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
	FixedState *s = fixed_state_arg(fcinfo, 0);
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
	FixedState *s = fixed_state_arg(fcinfo, 0);
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
