/*
 * glmix_block.c -- the data GLMix aggregates consume: the block format,
 * float8[] helpers, and the validated arguments of the aggregates
 *
 * A block is many rows of one design in one bytea (layout in glmix.h),
 * sized to stay inside a heap page: the trainer's work relations hold
 * blocks, so an aggregate pays executor overhead per block rather than per
 * row.  Mapping a block validates it completely (magic, length, row
 * pointers, ascending in-range feature indexes): a corrupt or hand-made
 * bytea is an error, never a crash.  The row forms of the aggregates take
 * (label, weight, offset, feature indexes, values); glmix_user_row()
 * checks and normalises one such row (sorted, repeats merged).
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

/* offsets of a block's parts, each MAXALIGNed from the varlena start */
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

/* offsets of a block's rows from the offsets array (NULL = zeros) */
double *
glmix_block_offsets(FunctionCallInfo fcinfo, int argno, const GlmixBlock *blk)
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

/* the aggregate memory context, or an error when called outside an aggregate */
MemoryContext
glmix_agg_context(FunctionCallInfo fcinfo, const char *fn)
{
	MemoryContext aggcontext;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "%s called in non-aggregate context", fn);
	return aggcontext;
}
