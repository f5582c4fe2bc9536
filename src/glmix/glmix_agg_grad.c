/*
 * glmix_agg_grad.c -- recs.glmix_fixed_block_grad: the fixed effect's loss,
 * gradient and (optionally) Hessian-vector product over staged blocks, the
 * statistics of the matrix-free solver (glmix_tron.c)
 *
 * The state is O(d): the gradient and the product, plus, in transition
 * states, copies of the coefficients and the direction.  Partial states add
 * up, so the aggregate is PARALLEL SAFE with a summing COMBINEFUNC and
 * SERIAL/DESERIAL functions, like glmix_fixed_block_stats: parallel workers
 * (or a distributed engine's workers) sum their blocks and the leader
 * combines.  A NULL direction asks for the loss and gradient alone.
 *
 * Arguments are hostile (the aggregate is callable by a training role):
 * blocks go through glmix_block_map(); coefficients must be non-empty,
 * finite and at most GLMIX_MAX_FIXED_DIM long (22023/54000), the direction
 * finite and of the same length; offsets are checked by
 * glmix_block_offsets().  Deserial checks magic, version, flags and the
 * exact length for the claimed dimension before allocating, then the row
 * count and weight (XX001); combine rejects states of different dimensions
 * or of which only one carries a product.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "glmix.h"

#define GRAD_STATE_MAGIC 0x474D4753	/* "GMGS" */
#define GRAD_STATE_VERSION 1
#define GRAD_HAS_HV 1				/* serial flag: hv[] follows grad[] */

typedef struct GradState
{
	uint32		magic;			/* GRAD_STATE_MAGIC */
	int32		dim;
	bool		has_hv;
	int64		n;
	double		weight;
	double		loss;
	double	   *beta;			/* transition states only */
	double	   *dir;			/* transition states with a direction only */
	double	   *grad;
	double	   *hv;				/* NULL without a direction */
} GradState;

static void
check_dim(int dim)
{
	if (dim <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the coefficient vector must not be empty"),
				 errhint("Pass a zero vector of the design's dimension for the first iteration.")));
	if (dim > GLMIX_MAX_FIXED_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("fixed-effect dimension %d is outside 1..%d", dim, GLMIX_MAX_FIXED_DIM)));
}

/* a zeroed state in cxt */
static GradState *
grad_state_new(MemoryContext cxt, int dim, bool has_hv)
{
	GradState  *s;

	check_dim(dim);
	s = MemoryContextAllocZero(cxt, sizeof(GradState));
	s->magic = GRAD_STATE_MAGIC;
	s->dim = dim;
	s->has_hv = has_hv;
	s->grad = MemoryContextAllocHuge(cxt, sizeof(double) * dim);
	memset(s->grad, 0, sizeof(double) * dim);
	if (has_hv)
	{
		s->hv = MemoryContextAllocHuge(cxt, sizeof(double) * dim);
		memset(s->hv, 0, sizeof(double) * dim);
	}
	return s;
}

/* the state argument argno, or NULL; the magic catches a foreign internal */
static GradState *
grad_state_arg(FunctionCallInfo fcinfo, int argno)
{
	GradState  *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = (GradState *) PG_GETARG_POINTER(argno);
	if (s == NULL)
		return NULL;
	if (s->magic != GRAD_STATE_MAGIC || s->dim <= 0 || s->dim > GLMIX_MAX_FIXED_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix fixed-effect gradient state")));
	return s;
}

/* a copy of a finite float8[] argument of length d (d < 0: any length) */
static double *
vector_arg(FunctionCallInfo fcinfo, int argno, MemoryContext cxt, int *d, const char *what)
{
	int			n;
	const double *v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(argno), &n, what);
	double	   *copy;

	if (*d >= 0 && n != *d)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, the coefficients %d", what, n, *d)));
	check_dim(n);
	for (int j = 0; j < n; j++)
		if (!isfinite(v[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be finite", what)));
	copy = MemoryContextAllocHuge(cxt, sizeof(double) * n);
	memcpy(copy, v, sizeof(double) * n);
	*d = n;
	return copy;
}

PG_FUNCTION_INFO_V1(glmix_grad_block_accum);
/* (state, block, offsets, coefficients, direction) */
Datum
glmix_grad_block_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_grad_block_accum");
	GradState  *s = grad_state_arg(fcinfo, 0);
	GlmixBlock	blk;
	double	   *offsets;

	if (s == NULL)
	{
		int			d = -1;
		double	   *beta,
				   *dir = NULL;

		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("coefficients must not be NULL"),
					 errhint("Pass a zero vector of the design's dimension for the first iteration.")));
		beta = vector_arg(fcinfo, 3, aggcontext, &d, "coefficients");
		if (!PG_ARGISNULL(4))
			dir = vector_arg(fcinfo, 4, aggcontext, &d, "direction");
		s = grad_state_new(aggcontext, d, dir != NULL);
		s->beta = beta;
		s->dir = dir;
	}
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(s);
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	if (blk.hdr->dim != s->dim)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block of dimension %d with %d coefficients", blk.hdr->dim, s->dim)));
	offsets = glmix_block_offsets(fcinfo, 2, &blk);
	s->loss += glmix_accum_grad_hv(blk.hdr->n, blk.y, blk.w, offsets, blk.ptr, blk.col, blk.val,
								   s->beta, s->dir, s->grad, s->hv);
	s->n += blk.hdr->n;
	for (int r = 0; r < blk.hdr->n; r++)
		s->weight += blk.w[r];
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_grad_combine);
/* sum two partial states; a NULL side is skipped, the first copied into the aggregate context */
Datum
glmix_grad_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_grad_combine");
	GradState  *a = grad_state_arg(fcinfo, 0);
	GradState  *b = grad_state_arg(fcinfo, 1);
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
		a = grad_state_new(aggcontext, d, b->has_hv);
		a->n = b->n;
		a->weight = b->weight;
		a->loss = b->loss;
		memcpy(a->grad, b->grad, sizeof(double) * d);
		if (b->has_hv)
			memcpy(a->hv, b->hv, sizeof(double) * d);
		PG_RETURN_POINTER(a);
	}
	if (a->dim != b->dim || a->has_hv != b->has_hv)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot combine fixed-effect gradient states of dimensions %d and %d "
						"(%s and %s a direction)", a->dim, b->dim,
						a->has_hv ? "with" : "without", b->has_hv ? "with" : "without")));
	a->n += b->n;
	a->weight += b->weight;
	a->loss += b->loss;
	for (int j = 0; j < d; j++)
		a->grad[j] += b->grad[j];
	if (a->has_hv)
		for (int j = 0; j < d; j++)
			a->hv[j] += b->hv[j];
	PG_RETURN_POINTER(a);
}

/*
 * serial layout (network byte order): magic, version, dim, flags, n,
 * weight, loss, grad[d], hv[d] when flags has GRAD_HAS_HV
 */
PG_FUNCTION_INFO_V1(glmix_grad_serial);
Datum
glmix_grad_serial(PG_FUNCTION_ARGS)
{
	GradState  *s = grad_state_arg(fcinfo, 0);
	StringInfoData buf;

	if (s == NULL)				/* declared STRICT */
		PG_RETURN_NULL();
	pq_begintypsend(&buf);
	enlargeStringInfo(&buf, 40 + sizeof(double) * (Size) s->dim * (s->has_hv ? 2 : 1));
	pq_sendint32(&buf, GRAD_STATE_MAGIC);
	pq_sendint32(&buf, GRAD_STATE_VERSION);
	pq_sendint32(&buf, s->dim);
	pq_sendint32(&buf, s->has_hv ? GRAD_HAS_HV : 0);
	pq_sendint64(&buf, s->n);
	pq_sendfloat8(&buf, s->weight);
	pq_sendfloat8(&buf, s->loss);
	for (int j = 0; j < s->dim; j++)
		pq_sendfloat8(&buf, s->grad[j]);
	if (s->has_hv)
		for (int j = 0; j < s->dim; j++)
			pq_sendfloat8(&buf, s->hv[j]);
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

#define GRAD_CORRUPT(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("invalid serialized glmix fixed-effect gradient state"), \
			 errdetail(__VA_ARGS__)))

PG_FUNCTION_INFO_V1(glmix_grad_deserial);
/*
 * The inverse of glmix_grad_serial, everything checked before a byte is
 * allocated: magic and version, flags, the dimension against the exact
 * length, then the counts.  Loss, gradient and product may hold
 * infinities (overflowing margins); only n and the weight are
 * range-checked.
 */
Datum
glmix_grad_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	bytea	   *b;
	StringInfoData buf;
	GradState  *s;
	int			d;
	uint32		flags;
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
	if (buf.len < 16 || pq_getmsgint(&buf, 4) != GRAD_STATE_MAGIC ||
		pq_getmsgint(&buf, 4) != GRAD_STATE_VERSION)
		GRAD_CORRUPT("Bad magic number or version.");
	d = (int32) pq_getmsgint(&buf, 4);
	flags = pq_getmsgint(&buf, 4);
	if ((flags & ~GRAD_HAS_HV) != 0)
		GRAD_CORRUPT("Unknown flags 0x%x.", flags);
	if (d <= 0 || d > GLMIX_MAX_FIXED_DIM ||
		buf.len != 16 + 24 + 8 * (int64) d * ((flags & GRAD_HAS_HV) ? 2 : 1))
		GRAD_CORRUPT("Length %d does not match dimension %d.", buf.len, d);
	n = pq_getmsgint64(&buf);
	weight = pq_getmsgfloat8(&buf);
	if (n < 0 || !(weight >= 0.0))
		GRAD_CORRUPT("Row count " INT64_FORMAT " and weight %g; both must be >= 0.", n, weight);
	s = grad_state_new(aggcontext, d, (flags & GRAD_HAS_HV) != 0);
	s->n = n;
	s->weight = weight;
	s->loss = pq_getmsgfloat8(&buf);
	for (int j = 0; j < d; j++)
		s->grad[j] = pq_getmsgfloat8(&buf);
	if (s->has_hv)
		for (int j = 0; j < d; j++)
			s->hv[j] = pq_getmsgfloat8(&buf);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_grad_final);
/* one float8[]: rows, weight, loss, gradient[d], then H v[d] with a direction */
Datum
glmix_grad_final(PG_FUNCTION_ARGS)
{
	GradState  *s = grad_state_arg(fcinfo, 0);
	ArrayType  *a;
	double	   *v;
	int			d;

	if (s == NULL)
		PG_RETURN_NULL();
	d = s->dim;
	a = glmix_float8_array(NULL, 3 + d * (s->has_hv ? 2 : 1));
	v = (double *) ARR_DATA_PTR(a);
	v[0] = (double) s->n;
	v[1] = s->weight;
	v[2] = s->loss;
	memcpy(v + 3, s->grad, sizeof(double) * d);
	if (s->has_hv)
		memcpy(v + 3 + d, s->hv, sizeof(double) * d);
	PG_RETURN_ARRAYTYPE_P(a);
}
