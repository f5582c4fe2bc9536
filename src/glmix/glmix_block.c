/*
 * glmix_block.c -- the data GLMix aggregates consume: the block format,
 * float8[] helpers, and the validated arguments of the aggregates
 *
 * A block is many rows of one design in one bytea (layout in glmix.h),
 * sized to stay inside a heap page: the trainer's work relations hold
 * blocks, so an aggregate pays executor overhead per block rather than per
 * row.
 *
 * Blocks are hostile input.  The block aggregates are callable by anyone
 * with USAGE on schema recs, so a block may be hand-made; in 0.2.0 the
 * row pointers were checked one row late and a block with ptr = {0, 65000,
 * 13000} overwrote the heap.  glmix_block_map() now validates everything
 * before it reads through anything, in this order:
 *   - the header: length between the header size and GLMIX_BLOCK_MAX_BYTES
 *     (every trainer block fits a page), magic, no unknown flags, zero
 *     padding, dim in 1..2^24 with 32-bit columns (the WIDE flag) exactly
 *     above 65535, n and nnz >= 0 and bounded by the length (so
 *     the layout arithmetic cannot overflow), nnz <= n * dim, entity >= -1,
 *     size hints 0 or covering the block, first_row >= 0 with
 *     first_row + n - 1 <= INT32_MAX;
 *   - the exact length the header implies;
 *   - every row pointer: ptr[0] = 0, non-decreasing, at most dim apart,
 *     within 0..nnz, ptr[n] = nnz;
 *   - labels in [0, 1] and weights finite and >= 0 (what the row forms
 *     accept), row ids >= 0 and the first one equal to first_row;
 *   - columns strictly ascending below dim in each row, values finite.
 * Every violation is ERRCODE_DATA_CORRUPTED (XX001) with an errdetail that
 * names the rule.  Ordinary arguments (offsets, coefficients, starts, l2)
 * get 22023/2202E/22004/54000 from the checkers here and in glmix_agg_*.c;
 * offsets are checked finite only for the rows a block reads, because the
 * array is the whole training's.  The checks are one pass over n + nnz
 * values, which does not show beside the Hessian work (train_glmix on 429k
 * impressions, medians of 9: 4.6 s before, 4.4 s after, within noise).
 *
 * The row forms of the aggregates take (label, weight, offset, feature
 * indexes, values); glmix_user_row() checks and normalises one such row
 * (sorted, repeats merged, a merged value that overflows rejected).
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
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s must be a float8 array", what)));
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

/* offsets of a block's parts, each MAXALIGNed from the varlena start */
static void
block_layout(int n, int nnz, bool binary, bool contiguous, bool wide, BlockLayout *l)
{
	l->y = MAXALIGN(sizeof(GlmixBlockHeader));
	l->w = l->y + MAXALIGN(sizeof(double) * n);
	l->ptr = l->w + MAXALIGN(sizeof(double) * n);
	l->rowid = l->ptr + MAXALIGN(sizeof(int32) * ((Size) n + 1));
	l->col = l->rowid + (contiguous ? 0 : MAXALIGN(sizeof(int32) * n));
	l->val = l->col + MAXALIGN((wide ? sizeof(int32) : sizeof(uint16)) * nnz);
	l->total = l->val + (binary ? 0 : sizeof(double) * nnz);
}

Size
glmix_block_size(int n, int nnz, bool binary, bool contiguous, int dim)
{
	BlockLayout l;

	block_layout(n, nnz, binary, contiguous, dim > GLMIX_BLOCK_NARROW_DIM, &l);
	return l.total;
}

bytea *
glmix_block_build(int n, const int64 *rows, int64 first_id, const double *y,
				  const double *w, double wscale, const int32 *ptr, const int32 *col,
				  const double *val, int dim, int entity, int entity_rows,
				  int entity_nnz)
{
	int			nnz = 0;
	bool		binary = true;
	bool		contiguous = true;
	bool		wide = dim > GLMIX_BLOCK_NARROW_DIM;
	BlockLayout l;
	char	   *b;
	GlmixBlockHeader *h;
	int32	   *optr;
	char	   *ocol;
	double	   *oval;

	/* glmix_fixed_layout() caps the designs; this is a can't-happen */
	if (dim > GLMIX_MAX_FIXED_DIM)
		elog(ERROR, "a design of %d features is more than the %d a block can index",
			 dim, GLMIX_MAX_FIXED_DIM);
	for (int k = 0; k < n; k++)
	{
		int64		r = rows[k];

		nnz += ptr[r + 1] - ptr[r];
		if (first_id < 0 && (rows[k] != rows[0] + k || rows[k] > PG_INT32_MAX))
			contiguous = false;
		if (val && binary)
			for (int32 j = ptr[r]; j < ptr[r + 1]; j++)
				if (val[j] != 1.0)
					binary = false;
	}
	block_layout(n, nnz, binary, contiguous, wide, &l);
	b = palloc0(l.total);
	SET_VARSIZE(b, l.total);
	h = (GlmixBlockHeader *) b;
	h->magic = GLMIX_BLOCK_MAGIC;
	h->n = n;
	h->dim = dim;
	h->nnz = nnz;
	h->entity = entity;
	h->flags = (binary ? GLMIX_BLOCK_BINARY : 0) | (contiguous ? GLMIX_BLOCK_CONTIGUOUS : 0) |
		(wide ? GLMIX_BLOCK_WIDE : 0);
	h->first_row = n == 0 ? 0 : first_id >= 0 ? first_id : rows[0];
	h->entity_rows = entity_rows;
	h->entity_nnz = entity_nnz;
	optr = (int32 *) (b + l.ptr);
	ocol = b + l.col;
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
		if (wide)
			memcpy((int32 *) ocol + optr[k], col + ptr[r], sizeof(int32) * len);
		else
			for (int32 j = 0; j < len; j++)
				((uint16 *) ocol)[optr[k] + j] = (uint16) col[ptr[r] + j];
		if (!binary)
			memcpy(oval + optr[k], val + ptr[r], sizeof(double) * len);
		optr[k + 1] = optr[k] + len;
	}
	return (bytea *) b;
}

/*
 * Every check below reports the same SQLSTATE (XX001, data_corrupted): a
 * block is machine-written by the trainer, so any violation means the bytea
 * was damaged or hand-made.  The detail says which rule failed.
 */
#define BLOCK_CORRUPT(...) \
	ereport(ERROR, \
			(errcode(ERRCODE_DATA_CORRUPTED), \
			 errmsg("invalid glmix block"), \
			 errdetail(__VA_ARGS__)))

/*
 * The header alone, before any size is computed from it.  n and nnz are
 * bounded by the bytea's length first, so that the layout arithmetic below
 * cannot overflow whatever the fields hold; the hints and first_row must
 * be what glmix_block_build writes.
 */
static void
block_check_header(const GlmixBlockHeader *h, Size size)
{
	if (size < sizeof(GlmixBlockHeader))
		BLOCK_CORRUPT("The bytea is %zu bytes, shorter than a block header (%zu bytes).",
					  size, sizeof(GlmixBlockHeader));
	if (size > GLMIX_BLOCK_MAX_BYTES)
		BLOCK_CORRUPT("The bytea is %zu bytes; blocks are at most %d bytes.",
					  size, GLMIX_BLOCK_MAX_BYTES);
	if (h->magic != GLMIX_BLOCK_MAGIC)
		BLOCK_CORRUPT("The bytea does not start with the block magic number.");
	if ((h->flags & ~(GLMIX_BLOCK_BINARY | GLMIX_BLOCK_CONTIGUOUS | GLMIX_BLOCK_WIDE)) != 0 ||
		h->pad != 0)
		BLOCK_CORRUPT("Unknown flags 0x%x or padding %d in the header.",
					  (unsigned) h->flags, h->pad);
	if (h->dim < 1 || h->dim > GLMIX_MAX_FIXED_DIM)
		BLOCK_CORRUPT("The dimension %d is outside 1..%d.", h->dim, GLMIX_MAX_FIXED_DIM);
	/* one encoding per dimension: wide columns exactly above 65535 */
	if (((h->flags & GLMIX_BLOCK_WIDE) != 0) != (h->dim > GLMIX_BLOCK_NARROW_DIM))
		BLOCK_CORRUPT("The flags 0x%x do not match the dimension %d (wide columns exactly above %d).",
					  (unsigned) h->flags, h->dim, GLMIX_BLOCK_NARROW_DIM);
	/* every row holds a label and a weight; every feature a 2-byte column */
	if (h->n < 0 || (Size) h->n > size / (2 * sizeof(double)))
		BLOCK_CORRUPT("The row count %d does not fit in %zu bytes.", h->n, size);
	if (h->nnz < 0 || (Size) h->nnz > size / sizeof(uint16) ||
		(int64) h->nnz > (int64) h->n * h->dim)
		BLOCK_CORRUPT("The feature count %d does not fit %d rows of dimension %d in %zu bytes.",
					  h->nnz, h->n, h->dim, size);
	/* entity -1 is a fixed-effect block; a size hint is 0 (none) or covers the block */
	if (h->entity < -1 ||
		(h->entity_rows != 0 && h->entity_rows < h->n) ||
		(h->entity_nnz != 0 && h->entity_nnz < h->nnz) ||
		h->entity_rows < 0 || h->entity_nnz < 0)
		BLOCK_CORRUPT("Entity %d with hints of %d rows and %d features, for a block of %d rows and %d features.",
					  h->entity, h->entity_rows, h->entity_nnz, h->n, h->nnz);
	/* row ids index an offsets array, so they are int32 */
	if (h->first_row < 0 || h->first_row + h->n - 1 > PG_INT32_MAX ||
		(h->n == 0 && h->first_row != 0))
		BLOCK_CORRUPT("The first row " INT64_FORMAT " is outside 0..%d for %d rows.",
					  h->first_row, PG_INT32_MAX, h->n);
}

/*
 * Map a block for reading, validating all of it first: the header, then
 * every row pointer (so that no column is read through a bad pointer),
 * then labels, weights and row ids, then the columns and values.  The
 * checks are one pass over n + nnz values, small beside the O(nnz^2 / n)
 * Hessian work per row that follows.
 */
void
glmix_block_map(bytea *b, GlmixBlock *out)
{
	const GlmixBlockHeader *h = (const GlmixBlockHeader *) b;
	Size		size = VARSIZE(b);
	BlockLayout l;
	const char *base = (const char *) b;
	bool		contiguous;
	const int32 *ptr;
	const int32 *rowid;
	const char *col;
	bool		wide;
	int			n,
				nnz,
				dim;

	block_check_header(h, size);
	n = h->n;
	nnz = h->nnz;
	dim = h->dim;
	contiguous = (h->flags & GLMIX_BLOCK_CONTIGUOUS) != 0;
	block_layout(n, nnz, (h->flags & GLMIX_BLOCK_BINARY) != 0, contiguous,
				 (h->flags & GLMIX_BLOCK_WIDE) != 0, &l);
	if (size != l.total)
		BLOCK_CORRUPT("The block is %zu bytes; its header says %zu.", size, l.total);
	out->hdr = h;
	out->y = (const double *) (base + l.y);
	out->w = (const double *) (base + l.w);
	out->ptr = ptr = (const int32 *) (base + l.ptr);
	out->val = (h->flags & GLMIX_BLOCK_BINARY) ? NULL : (const double *) (base + l.val);
	rowid = (const int32 *) (base + l.rowid);
	col = base + l.col;
	wide = (h->flags & GLMIX_BLOCK_WIDE) != 0;

	/* row pointers: 0, non-decreasing, at most dim apart, ending at nnz */
	if (ptr[0] != 0)
		BLOCK_CORRUPT("The first row pointer is %d, not 0.", ptr[0]);
	for (int r = 0; r < n; r++)
		if (ptr[r + 1] < ptr[r] || ptr[r + 1] > nnz || ptr[r + 1] - ptr[r] > dim)
			BLOCK_CORRUPT("Row pointer %d is %d after %d; pointers must ascend within 0..%d, at most %d apart.",
						  r + 1, ptr[r + 1], ptr[r], nnz, dim);
	if (ptr[n] != nnz)
		BLOCK_CORRUPT("The last row pointer is %d, not the feature count %d.", ptr[n], nnz);

	/* labels in [0, 1], weights finite and >= 0: what the row forms accept */
	for (int r = 0; r < n; r++)
		if (!(out->y[r] >= 0.0 && out->y[r] <= 1.0) ||
			!(out->w[r] >= 0.0) || isinf(out->w[r]))
			BLOCK_CORRUPT("Row %d has label %g and weight %g; labels must be in [0, 1] and weights finite and >= 0.",
						  r, out->y[r], out->w[r]);

	out->rowid = palloc(sizeof(int64) * Max(n, 1));
	if (contiguous)
		for (int r = 0; r < n; r++)
			out->rowid[r] = h->first_row + r;
	else
	{
		if (n > 0 && rowid[0] != h->first_row)
			BLOCK_CORRUPT("The first row id %d is not the header's first row " INT64_FORMAT ".",
						  rowid[0], h->first_row);
		for (int r = 0; r < n; r++)
		{
			if (rowid[r] < 0)
				BLOCK_CORRUPT("Row %d has the negative row id %d.", r, rowid[r]);
			out->rowid[r] = rowid[r];
		}
	}

	/* columns ascending within each row and below dim; values finite */
	out->col = palloc(sizeof(int32) * Max(nnz, 1));
	for (int r = 0; r < n; r++)
	{
		int			prev = -1;

		for (int32 k = ptr[r]; k < ptr[r + 1]; k++)
		{
			int32		c = wide ? ((const int32 *) col)[k] : (int32) ((const uint16 *) col)[k];

			if (c <= prev || c >= dim)
				BLOCK_CORRUPT("Row %d has feature index %d after %d; indexes must ascend below the dimension %d.",
							  r, c, prev, dim);
			prev = c;
			out->col[k] = c;
		}
	}
	if (out->val)
		for (int32 k = 0; k < nnz; k++)
			if (!isfinite(out->val[k]))
				BLOCK_CORRUPT("Feature value %d is not finite.", k);
}

/* a block argument, detoasted and 8-byte aligned */
bytea *
glmix_block_arg(FunctionCallInfo fcinfo, int argno)
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

/*
 * The elements of a float8[] and the row (or position) its first element
 * stands for: an array keeps its subscripts, so element [i] is always
 * position i - 1 -- '{...}' starts at 0, a slice '[101:200]={...}' holds
 * positions 100 to 199.  The trainer on Citus (glmix_citus.c) sends each
 * block only its own slice of the offsets and starting coefficients.
 */
const double *
glmix_float8_slice(ArrayType *a, int64 *base, int *n, const char *what)
{
	const double *v = glmix_float8_data(a, n, what);

	*base = ARR_NDIM(a) == 1 ? (int64) ARR_LBOUND(a)[0] - 1 : 0;
	return v;
}

/* offsets of a block's rows from the offsets array (NULL = zeros) */
double *
glmix_block_offsets(FunctionCallInfo fcinfo, int argno, const GlmixBlock *blk)
{
	int			n = blk->hdr->n;
	double	   *o = palloc0(sizeof(double) * Max(n, 1));

	if (!PG_ARGISNULL(argno))
	{
		int			len;
		int64		base;
		const double *all = glmix_float8_slice(PG_GETARG_ARRAYTYPE_P(argno), &base, &len, "offsets");

		for (int r = 0; r < n; r++)
		{
			if (blk->rowid[r] < base || blk->rowid[r] - base >= len)
				ereport(ERROR,
						(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
						 base == 0 ?
						 errmsg("block row %lld is beyond the %d offsets given",
								(long long) blk->rowid[r], len) :
						 errmsg("block row %lld is outside the offsets given, rows %lld to %lld",
								(long long) blk->rowid[r], (long long) base,
								(long long) base + len - 1)));
			o[r] = all[blk->rowid[r] - base];
			if (!isfinite(o[r]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("offset %lld is not finite", (long long) blk->rowid[r] + 1),
						 errdetail("Offsets are margins added to x.beta; NaN and infinity have no fit.")));
		}
	}
	return o;
}

/* ---- one user row: validated, sorted, duplicates merged ---- */



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
void
glmix_user_row(FunctionCallInfo fcinfo, int argno, int dim, GlmixUserRow *row)
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
	row->col = NULL;			/* no features: the accumulators read neither */
	row->val = NULL;
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
		int64		c = (int64) idx[k] - 1;	/* idx may be INT_MIN */
		double		v = row->val[k];
		int			j;

		/* an array of millions of indexes takes a while: stay cancellable */
		if ((k & 4095) == 4095)
			CHECK_FOR_INTERRUPTS();

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
			if (!isfinite(row->val[j - 1]))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("the values of repeated feature index %d add up to %g", (int) (c + 1),
								row->val[j - 1])));
			continue;
		}
		memmove(row->col + j + 1, row->col + j, sizeof(int32) * (row->nnz - j));
		memmove(row->val + j + 1, row->val + j, sizeof(double) * (row->nnz - j));
		row->col[j] = (int32) c;
		row->val[j] = v;
		row->nnz++;
	}
}

/* the aggregate memory context, or an error when called outside an aggregate */
MemoryContext
glmix_agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcontext;

	/* reachable from SQL (the row forms' functions are not STRICT) */
	if (!AggCheckCallContext(fcinfo, &aggcontext))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s can only be called by an aggregate", fn),
				 errhint("Call recs.glmix_fixed_stats, recs.glmix_fixed_block_stats or recs.glmix_entity_fit.")));
	return aggcontext;
}
