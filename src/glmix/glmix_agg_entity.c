/*
 * glmix_agg_entity.c -- recs.glmix_entity_fit: one entity's L2-regularised
 * weighted logistic regression with offsets, as a GROUP BY aggregate
 *
 * Used with GROUP BY entity (a learner, a course, a segment): the
 * transition functions gather the group's rows (an entity larger than one
 * block arrives as several block rows), the final function fits the
 * entity by Newton's method with a Cholesky solve (glmix_math.c), starting
 * from the previous pass's coefficients when the block form is given them.
 * Partial states are row lists, so COMBINEFUNC concatenates and the
 * aggregate is PARALLEL SAFE; under a parallel plan the fits themselves run
 * where the groups are finalised (the leader).
 *
 * Every argument is treated as hostile (the block form is callable by any
 * role with USAGE on recs): blocks go through glmix_block_map(); dim must
 * be 1..ENTITY_MAX_DIM (54000) and l2 positive and finite (22023); the
 * block's entity must index the start array, an entities x dim matrix
 * (2202E), whose slice must be finite (22023); every block of a group must
 * agree on entity, dimension and l2 (22023).  A block's size hints reserve
 * at most ENTITY_HINT_MAX_ROWS/NNZ up front, so a forged header cannot ask
 * for gigabytes.  Deserial checks the exact length for the claimed counts
 * before allocating, then every field against what the transition
 * functions accept (XX001), so a state that passes is one they could have
 * built; states carry a magic that combine/serial/final check.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "glmix.h"

#define ENTITY_STATE_MAGIC 0x474D4553	/* "GMES" */
#define STATE_VERSION 1
#define ENTITY_MAX_DIM 1024
#define ENTITY_MAX_ITER 50
#define ENTITY_TOL 1e-8
/* at most this much is reserved up front from a block's (unverifiable) hints */
#define ENTITY_HINT_MAX_ROWS 65536
#define ENTITY_HINT_MAX_NNZ (1 << 20)

typedef struct EntityState
{
	uint32		magic;			/* ENTITY_STATE_MAGIC: catches a foreign internal */
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

/*
 * A per-entity state: the rows gathered so far, the L2 weight and the
 * starting coefficients.  lambda > 0 is required, not just advised: it is
 * what keeps one-class entities and separable data finite.
 */
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
	s->magic = ENTITY_STATE_MAGIC;
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

/* the state argument argno, or NULL; see fixed_state_arg in glmix_agg_fixed.c */
static EntityState *
entity_state_arg(FunctionCallInfo fcinfo, int argno)
{
	EntityState *s;

	if (PG_ARGISNULL(argno))
		return NULL;
	s = (EntityState *) PG_GETARG_POINTER(argno);
	if (s == NULL)
		return NULL;
	if (s->magic != ENTITY_STATE_MAGIC || s->dim <= 0 || s->dim > ENTITY_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("not a glmix per-entity state")));
	return s;
}

/* room for more rows and nonzeros, growing geometrically */
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
	if (nnz > 0)				/* a row without features may pass no arrays */
	{
		memcpy(s->col + s->nnz, col, sizeof(int32) * nnz);
		if (val)
			memcpy(s->val + s->nnz, val, sizeof(double) * nnz);
		else
			for (int k = 0; k < nnz; k++)
				s->val[s->nnz + k] = 1.0;
	}
	s->nnz += nnz;
	s->n++;
	s->ptr[s->n] = s->nnz;
}

PG_FUNCTION_INFO_V1(glmix_entity_row_accum);
Datum
glmix_entity_row_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_entity_row_accum");
	EntityState *s = entity_state_arg(fcinfo, 0);
	GlmixUserRow		row;
	MemoryContext old;

	if (PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(6) ? "dim" : "l2")));
	if (s == NULL)
		s = entity_state_new(aggcontext, PG_GETARG_INT32(6), PG_GETARG_FLOAT8(7), -1);
	else if (s->dim != PG_GETARG_INT32(6) || s->lambda != PG_GETARG_FLOAT8(7))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("dimension and L2 weight must be the same for every row of an entity")));
	glmix_user_row(fcinfo, 1, s->dim, &row);
	old = MemoryContextSwitchTo(aggcontext);
	entity_add_row(s, row.y, row.w, row.offset, row.nnz, row.col, row.val);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_block_accum);
Datum
glmix_entity_block_accum(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_entity_block_accum");
	EntityState *s = entity_state_arg(fcinfo, 0);
	GlmixBlock	blk;
	double	   *offsets;
	MemoryContext old;
	double		lambda;

	if (PG_ARGISNULL(1))		/* a NULL block adds no rows */
	{
		if (s == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(s);
	}
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("l2 must not be NULL")));
	lambda = PG_GETARG_FLOAT8(4);
	glmix_block_map(glmix_block_arg(fcinfo, 1), &blk);
	if (s == NULL)
	{
		s = entity_state_new(aggcontext, blk.hdr->dim, lambda, blk.hdr->entity);

		/*
		 * Room for all of the entity's rows at once (hints from the trainer).
		 * A hand-made header can claim anything, so at most a few MB are
		 * reserved on its word; a larger entity grows geometrically.
		 */
		if (blk.hdr->entity_rows > 0 && blk.hdr->entity_nnz > 0)
		{
			old = MemoryContextSwitchTo(aggcontext);
			entity_reserve(s, Min(blk.hdr->entity_rows, ENTITY_HINT_MAX_ROWS),
						   Min(blk.hdr->entity_nnz, ENTITY_HINT_MAX_NNZ));
			MemoryContextSwitchTo(old);
		}
		if (!PG_ARGISNULL(3))
		{
			int			nw;
			int64		base;
			const double *warm = glmix_float8_slice(PG_GETARG_ARRAYTYPE_P(3), &base, &nw,
													"starting coefficients");
			int64		at = (int64) blk.hdr->entity * blk.hdr->dim - base;

			/*
			 * The block's entity indexes start, an entities x dim matrix (or
			 * a slice of it holding the entity's row)
			 */
			if (blk.hdr->entity < 0 || at < 0 || at + blk.hdr->dim > nw)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 errmsg("no starting coefficients for entity %d", blk.hdr->entity),
						 errdetail("start holds %d values; entity %d of dimension %d needs "
								   INT64_FORMAT ".", nw, blk.hdr->entity, blk.hdr->dim,
								   at + blk.hdr->dim)));
			for (int j = 0; j < blk.hdr->dim; j++)
				if (!isfinite(warm[at + j]))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("starting coefficients must be finite"),
							 errdetail("Entity %d has %g at position %d.",
									   blk.hdr->entity, warm[at + j], j + 1)));
			memcpy(s->warm, warm + at, sizeof(double) * blk.hdr->dim);
			s->has_warm = true;
		}
	}
	else if (s->dim != blk.hdr->dim || s->entity != blk.hdr->entity || s->lambda != lambda)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("blocks of different entities, dimensions or L2 weights in one group")));
	offsets = glmix_block_offsets(fcinfo, 2, &blk);
	old = MemoryContextSwitchTo(aggcontext);
	entity_reserve(s, blk.hdr->n, blk.hdr->nnz);
	for (int r = 0; r < blk.hdr->n; r++)
		entity_add_row(s, blk.y[r], blk.w[r], offsets[r], blk.ptr[r + 1] - blk.ptr[r],
					   blk.col + blk.ptr[r], blk.val ? blk.val + blk.ptr[r] : NULL);
	MemoryContextSwitchTo(old);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_combine);
/* concatenate two entities' row lists (same dimension, L2 weight and entity) */
Datum
glmix_entity_combine(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext = glmix_agg_context(fcinfo, "glmix_entity_combine");
	EntityState *a = entity_state_arg(fcinfo, 0);
	EntityState *b = entity_state_arg(fcinfo, 1);
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
 * warm[dim], then per row y, w, o, nnz, (col, val) * nnz.  Like the fixed
 * effect's, it only reads the state and does not insist on an aggregate.
 */
PG_FUNCTION_INFO_V1(glmix_entity_serial);
Datum
glmix_entity_serial(PG_FUNCTION_ARGS)
{
	EntityState *s = entity_state_arg(fcinfo, 0);
	StringInfoData buf;

	if (s == NULL)				/* declared STRICT; a NULL here is a misuse */
		PG_RETURN_NULL();
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

#define ENTITY_CORRUPT(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("invalid serialized glmix per-entity state"), \
			 errdetail(__VA_ARGS__)))

PG_FUNCTION_INFO_V1(glmix_entity_deserial);
/*
 * The inverse of glmix_entity_serial.  The counts are checked against the
 * exact length before anything is allocated, then every field against what
 * the transition functions accept (so a state that passes is one they could
 * have built): lambda > 0 and finite, entity >= -1, has_warm 0 or 1, finite
 * starting coefficients, labels in [0, 1], finite weights >= 0, finite
 * offsets, per row at most dim features with ascending indexes below dim
 * and finite values, and row features adding up to nnz.  Like the fixed
 * effect's deserial it works outside an aggregate (see there).
 */
Datum
glmix_entity_deserial(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	bytea	   *b;
	StringInfoData buf;
	EntityState *s;
	int32		dim,
				entity,
				has_warm,
				n,
				nnz;
	double		lambda;
	MemoryContext old;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (!AggCheckCallContext(fcinfo, &aggcontext))
		aggcontext = CurrentMemoryContext;
	b = PG_GETARG_BYTEA_PP(0);
	buf.data = VARDATA_ANY(b);
	buf.len = VARSIZE_ANY_EXHDR(b);
	buf.maxlen = buf.len;
	buf.cursor = 0;
	if (buf.len < 36 || pq_getmsgint(&buf, 4) != ENTITY_STATE_MAGIC ||
		pq_getmsgint(&buf, 4) != STATE_VERSION)
		ENTITY_CORRUPT("Bad magic number or version.");
	dim = (int32) pq_getmsgint(&buf, 4);
	entity = (int32) pq_getmsgint(&buf, 4);
	has_warm = (int32) pq_getmsgint(&buf, 4);
	n = (int32) pq_getmsgint(&buf, 4);
	nnz = (int32) pq_getmsgint(&buf, 4);
	lambda = pq_getmsgfloat8(&buf);
	if (dim <= 0 || dim > ENTITY_MAX_DIM || n < 0 || nnz < 0 ||
		buf.len != 36 + 8 * (int64) dim + 28 * (int64) n + 12 * (int64) nnz)
		ENTITY_CORRUPT("Length %d does not match %d rows with %d features of dimension %d.",
					   buf.len, n, nnz, dim);
	if ((int64) nnz > (int64) n * dim)
		ENTITY_CORRUPT("%d features do not fit %d rows of dimension %d.", nnz, n, dim);
	if (!(lambda > 0) || isinf(lambda) || entity < -1 || (has_warm != 0 && has_warm != 1))
		ENTITY_CORRUPT("L2 weight %g, entity %d, warm-start flag %d.", lambda, entity, has_warm);
	s = entity_state_new(aggcontext, dim, lambda, entity);
	s->has_warm = has_warm != 0;
	for (int j = 0; j < dim; j++)
	{
		s->warm[j] = pq_getmsgfloat8(&buf);
		if (!isfinite(s->warm[j]))
			ENTITY_CORRUPT("Starting coefficient %d is not finite.", j + 1);
	}
	old = MemoryContextSwitchTo(aggcontext);
	entity_reserve(s, n, nnz);
	MemoryContextSwitchTo(old);
	for (int r = 0; r < n; r++)
	{
		double		y = pq_getmsgfloat8(&buf);
		double		w = pq_getmsgfloat8(&buf);
		double		o = pq_getmsgfloat8(&buf);
		int32		k = (int32) pq_getmsgint(&buf, 4);
		int32		prev = -1;

		if ((r & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (!(y >= 0.0 && y <= 1.0) || !(w >= 0.0) || isinf(w) || !isfinite(o))
			ENTITY_CORRUPT("Row %d has label %g, weight %g, offset %g.", r, y, w, o);
		if (k < 0 || k > dim || k > nnz - s->nnz)
			ENTITY_CORRUPT("Row %d claims %d features; %d of %d are left, dimension %d.",
						   r, k, nnz - s->nnz, nnz, dim);
		for (int j = 0; j < k; j++)
		{
			int32		c = (int32) pq_getmsgint(&buf, 4);
			double		v = pq_getmsgfloat8(&buf);

			if (c <= prev || c >= dim || !isfinite(v))
				ENTITY_CORRUPT("Row %d has feature %d = %g after %d; indexes must ascend below %d, values be finite.",
							   r, c, v, prev, dim);
			prev = c;
			s->col[s->nnz + j] = c;
			s->val[s->nnz + j] = v;
		}
		s->y[s->n] = y;
		s->w[s->n] = w;
		s->o[s->n] = o;
		s->nnz += k;
		s->n++;
		s->ptr[s->n] = s->nnz;
	}
	if (s->nnz != nnz)
		ENTITY_CORRUPT("The rows hold %d features, the header says %d.", s->nnz, nnz);
	pq_getmsgend(&buf);
	PG_RETURN_POINTER(s);
}

PG_FUNCTION_INFO_V1(glmix_entity_final);
/*
 * The fit itself: Newton from the starting coefficients on the gathered
 * rows.  It does not modify the state, so calling it twice is harmless.
 */
Datum
glmix_entity_final(PG_FUNCTION_ARGS)
{
	EntityState *s = entity_state_arg(fcinfo, 0);
	double	   *beta;
	double	   *work;
	GlmixEntityFit fit;

	if (s == NULL || s->n == 0)
		PG_RETURN_NULL();
	beta = palloc(sizeof(double) * s->dim);
	memcpy(beta, s->warm, sizeof(double) * s->dim);
	/* n < 2^30 (entity_reserve): the product fits Size, not always palloc */
	work = MemoryContextAllocHuge(CurrentMemoryContext,
								  mul_size(sizeof(double),
										   add_size(add_size(mul_size(s->dim, s->dim),
															 mul_size(4, s->dim)),
													mul_size(5, s->n))));
	glmix_entity_newton(s->n, s->y, s->w, s->o, s->ptr, s->col, s->val, s->dim,
						s->lambda, beta, ENTITY_MAX_ITER, ENTITY_TOL, work, &fit);
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(beta, s->dim));
}
