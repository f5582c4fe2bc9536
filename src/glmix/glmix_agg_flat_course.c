/*
 * glmix_agg_flat_course.c -- what a flat Citus training's course effect
 * (glmix_flat_course.c) runs in the shards' tasks
 *
 * recs._glmix_flat_course_rows(fblock, rblock, learner coef, beta, course
 * ids, learner features, values, dim, intercept) turns one block of a
 * learner's rows (in a relation distributed by learner) into the course
 * effect's rows, grouped by course: for each course among the block's rows
 * a block of the course effect's design z_l = [1 | the learner's features]
 * (the same for every row of the learner, as glmix_random_design() builds
 * it over the learners), entity 0, with the rows' labels and weights, and
 * the rows' offsets, the other coordinates' scores x_r . beta + z_r .
 * coef_l, computed here from the block pair.  Called from an INSERT ...
 * SELECT into a relation distributed by course, the rows move worker to
 * worker (Citus's repartition); a GROUP BY course_id of
 * recs.glmix_entity_fit there fits each course's model.
 *
 * recs._glmix_flat_course_scores(course ids, learner features, values,
 * model keys, coefficients, dim, intercept, key map) is the way back: each
 * row's course-effect score z_l . coef_c (0 for a course without a model),
 * kept beside the block as the other coordinates' offsets.  The model keys
 * and coefficients (O(courses x dim)) are the statement's parameters; they
 * are checked once per task when they are (as in recs' statements) one
 * constant, every call otherwise.
 *
 * The same two functions serve an effect keyed by a course attribute (a
 * per-topic model over learner features): their last two arguments map
 * each course id to its key, the attribute value's index; NULL, NULL: the
 * key is the course id.
 *
 * Every argument is hostile input: blocks go through glmix_block_map(),
 * arrays are checked for length, order and finiteness.
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

/* as recs.glmix_entity_fit's ENTITY_MAX_DIM */
#define COURSE_MAX_DIM 1024

/* a course-effect dimension argument, checked */
static int
dim_arg(FunctionCallInfo fcinfo, int argno)
{
	int			dim;

	if (PG_ARGISNULL(argno) || PG_ARGISNULL(argno + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dim and intercept must not be NULL")));
	dim = PG_GETARG_INT32(argno);
	if (dim < 1 || dim > COURSE_MAX_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("per-course dimension %d is outside 1..%d", dim, COURSE_MAX_DIM)));
	return dim;
}

/*
 * The learner's design row z_l = [1 | its features shifted by one] from
 * arguments colarg and colarg + 1 (NULL: a learner outside the learners
 * relation, the intercept only); checked against dim.  Features from dim
 * - intercept on are the learner's columns read for matches only (they
 * follow its model features): not in z_l.  Returns its nonzeros.
 */
static int
learner_row(FunctionCallInfo fcinfo, int colarg, int dim, bool intercept, int32 **col, double **val)
{
	int			shift = intercept ? 1 : 0;
	int			nc = 0,
				nv;
	const int32 *lc = NULL;
	const double *lv = NULL;

	if (!PG_ARGISNULL(colarg) && !PG_ARGISNULL(colarg + 1))
	{
		ArrayType  *ca = PG_GETARG_ARRAYTYPE_P(colarg);

		if (ARR_NDIM(ca) > 1 || ARR_HASNULL(ca) || ARR_ELEMTYPE(ca) != INT4OID)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("learner features must be a one-dimensional integer[] without NULLs")));
		nc = ArrayGetNItems(ARR_NDIM(ca), ARR_DIMS(ca));
		lc = (const int32 *) ARR_DATA_PTR(ca);
		lv = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(colarg + 1), &nv, "learner values");
		if (nv != nc)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("%d learner features with %d values", nc, nv)));
		for (int k = 0; k < nc; k++)
			if (lc[k] < 0 || (k > 0 && lc[k] <= lc[k - 1]) || !isfinite(lv[k]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("learner features must ascend from 0, their values be finite")));
		while (nc > 0 && lc[nc - 1] >= dim - shift)
			nc--;
	}
	*col = palloc(sizeof(int32) * (nc + 1));
	*val = palloc(sizeof(double) * (nc + 1));
	if (intercept)
	{
		(*col)[0] = 0;
		(*val)[0] = 1.0;
	}
	for (int k = 0; k < nc; k++)
	{
		(*col)[shift + k] = shift + lc[k];
		(*val)[shift + k] = lv[k];
	}
	return shift + nc;
}

/* the course ids of argument argno: one per row, no NULLs */
static const int64 *
course_ids_arg(FunctionCallInfo fcinfo, int argno, int n)
{
	ArrayType  *a;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("course ids must not be NULL")));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("course ids must be a one-dimensional bigint[] without NULLs")));
	if (ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d course ids for a block of %d rows",
						ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a)), n)));
	return (const int64 *) ARR_DATA_PTR(a);
}

/*
 * The map from course ids to the effect's keys (arguments argno, argno + 1:
 * ascending course ids and their keys, both NULL for the identity: a
 * per-course effect), checked, kept across one query's calls when both
 * are one constant of the statement
 */
typedef struct KeyMap
{
	Datum		ids_raw;		/* the arguments as passed; 0: not cached */
	Datum		keys_raw;
	bool		identity;
	int			n;
	int64	   *ids;
	int64	   *keys;
} KeyMap;

/* what a function keeps in fn_extra */
typedef struct CourseCache
{
	KeyMap		map;
	Datum		ids_raw;		/* the model's arguments as passed; 0: not cached */
	Datum		coef_raw;
	int			dim;
	bool		intercept;
	int			n;
	int64	   *ids;			/* ascending model keys */
	double	   *coef;			/* n x dim */
} CourseCache;

static CourseCache *
course_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(CourseCache));
	return fcinfo->flinfo->fn_extra;
}

/* both arguments one constant of the statement, not toasted: may be cached */
static bool
stable_args(FunctionCallInfo fcinfo, int a, int b)
{
	return !VARATT_IS_EXTENDED(DatumGetPointer(PG_GETARG_DATUM(a))) &&
		!VARATT_IS_EXTENDED(DatumGetPointer(PG_GETARG_DATUM(b))) &&
		get_fn_expr_arg_stable(fcinfo->flinfo, a) && get_fn_expr_arg_stable(fcinfo->flinfo, b);
}

/* an int8[] argument's elements, one-dimensional without NULLs, copied into cxt */
static int64 *
int8_array_copy(FunctionCallInfo fcinfo, int argno, MemoryContext cxt, int *n, const char *what)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(argno);
	int64	   *out;

	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != INT8OID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional bigint[] without NULLs", what)));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	out = MemoryContextAlloc(cxt, sizeof(int64) * Max(*n, 1));
	memcpy(out, ARR_DATA_PTR(a), sizeof(int64) * *n);
	return out;
}

static const KeyMap *
key_map_arg(FunctionCallInfo fcinfo, int argno)
{
	CourseCache *cc = course_cache(fcinfo);
	KeyMap	   *m = &cc->map;
	bool		stable;
	int			nk;

	if (PG_ARGISNULL(argno) && PG_ARGISNULL(argno + 1))
	{
		m->identity = true;
		return m;
	}
	if (PG_ARGISNULL(argno) || PG_ARGISNULL(argno + 1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key_course_ids and keys must both be NULL or both be given")));
	stable = stable_args(fcinfo, argno, argno + 1);
	if (stable && !m->identity && m->ids_raw == PG_GETARG_DATUM(argno) &&
		m->keys_raw == PG_GETARG_DATUM(argno + 1) && m->ids != NULL)
		return m;
	if (m->ids)
		pfree(m->ids);
	if (m->keys)
		pfree(m->keys);
	m->ids = m->keys = NULL;
	m->ids_raw = m->keys_raw = (Datum) 0;
	m->identity = false;
	m->ids = int8_array_copy(fcinfo, argno, fcinfo->flinfo->fn_mcxt, &m->n, "key_course_ids");
	m->keys = int8_array_copy(fcinfo, argno + 1, fcinfo->flinfo->fn_mcxt, &nk, "keys");
	if (nk != m->n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d keys for %d course ids", nk, m->n)));
	for (int i = 1; i < m->n; i++)
		if (m->ids[i] <= m->ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key_course_ids must ascend")));
	if (stable)
	{
		m->ids_raw = PG_GETARG_DATUM(argno);
		m->keys_raw = PG_GETARG_DATUM(argno + 1);
	}
	return m;
}

/* position of x in ascending a[0..n), or -1 */
static int
find_int64(const int64 *a, int n, int64 x)
{
	int			lo = 0,
				hi = n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (a[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && a[lo] == x ? lo : -1;
}

/* a course's key under the map; false when the course has none */
static bool
map_key(const KeyMap *m, int64 course, int64 *key)
{
	int			i;

	if (m->identity)
	{
		*key = course;
		return true;
	}
	i = find_int64(m->ids, m->n, course);
	if (i < 0)
		return false;
	*key = m->keys[i];
	return true;
}

/* a row of a block and its course, to group the rows by course */
typedef struct CourseRow
{
	int64		course;
	int32		row;
} CourseRow;

static int
course_row_cmp(const void *a, const void *b)
{
	const CourseRow *x = a;
	const CourseRow *y = b;

	if (x->course != y->course)
		return x->course < y->course ? -1 : 1;
	return x->row < y->row ? -1 : (x->row > y->row ? 1 : 0);
}

PG_FUNCTION_INFO_V1(glmix_flat_course_rows);
/*
 * recs._glmix_flat_course_rows(fblock, rblock, learner coef, beta,
 * course_ids, learner features, values, dim, intercept, key_course_ids,
 * keys[, row scores]): (key, block, offsets) per key of the block's rows'
 * courses (the course id itself without a map; a course the map lacks: the
 * row is left out), each block within a page; row scores, one a row of the
 * block, add to the offsets (a model's other course-side effects)
 */
Datum
glmix_flat_course_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GlmixBlock	fblk;
	const double *beta;
	double	   *offsets;
	double	   *xb;
	const int64 *course;
	int			dim,
				n,
				znnz;
	bool		intercept;
	int32	   *zcol;
	double	   *zval;
	int32	   *ptr;
	int32	   *col;
	double	   *val;
	CourseRow  *order;
	int64	   *rows;
	const KeyMap *map;
	int			kept = 0;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("coefficients must not be NULL")));
	dim = dim_arg(fcinfo, 7);
	intercept = PG_GETARG_BOOL(8);
	glmix_block_map(glmix_block_arg(fcinfo, 0), &fblk);
	n = fblk.hdr->n;
	beta = glmix_flat_coef_arg(fcinfo, 3, fblk.hdr->dim, "coefficients");
	course = course_ids_arg(fcinfo, 4, n);
	znnz = learner_row(fcinfo, 5, dim, intercept, &zcol, &zval);
	map = key_map_arg(fcinfo, 9);

	/*
	 * the other coordinates' scores: the learner effect's (twin block), the
	 * fixed effect's; with twelve arguments also the rows' other scores (NULL:
	 * none): the model's other course-side effects' and a channel's
	 * (glmix_flat_channel.c)
	 */
	offsets = glmix_flat_twin_offsets(fcinfo, 1, 2, PG_NARGS() > 11 ? 11 : -1, &fblk);
	xb = palloc(sizeof(double) * Max(n, 1));
	glmix_flat_block_scores(&fblk, beta, xb);
	for (int r = 0; r < n; r++)
		offsets[r] = xb[r] + offsets[r];

	/* every row's design is z_l */
	ptr = palloc(sizeof(int32) * (n + 1));
	col = palloc(sizeof(int32) * Max((Size) n * znnz, 1));
	val = palloc(sizeof(double) * Max((Size) n * znnz, 1));
	ptr[0] = 0;
	for (int r = 0; r < n; r++)
	{
		memcpy(col + (Size) r * znnz, zcol, sizeof(int32) * znnz);
		memcpy(val + (Size) r * znnz, zval, sizeof(double) * znnz);
		ptr[r + 1] = ptr[r] + znnz;
	}

	/* the rows by key, in row order within a key */
	order = palloc(sizeof(CourseRow) * Max(n, 1));
	for (int r = 0; r < n; r++)
		if (map_key(map, course[r], &order[kept].course))
			order[kept++].row = r;
	n = kept;
	qsort(order, n, sizeof(CourseRow), course_row_cmp);
	rows = palloc(sizeof(int64) * Max(n, 1));
	for (int lo = 0; lo < n;)
	{
		int			hi = lo;
		Datum		values[3];
		bool		nulls[3] = {0};
		double	   *o;

		CHECK_FOR_INTERRUPTS();
		/* one course's rows, at most a page's worth (at least one) per block */
		while (hi < n && order[hi].course == order[lo].course &&
			   (hi == lo ||
				glmix_block_size(hi - lo + 1, (hi - lo + 1) * znnz, false, true, dim) +
				sizeof(double) * (Size) (hi - lo + 1) + 64 <= GLMIX_BLOCK_MAX_BYTES))
			hi++;
		o = palloc(sizeof(double) * (hi - lo));
		for (int i = lo; i < hi; i++)
		{
			rows[i - lo] = order[i].row;
			o[i - lo] = offsets[order[i].row];
		}
		values[0] = Int64GetDatum(order[lo].course);
		values[1] = PointerGetDatum(glmix_block_build(hi - lo, rows, 0, fblk.y, fblk.w, 1.0, ptr, col, val,
													  dim, 0, 0, 0));
		values[2] = PointerGetDatum(glmix_float8_array(o, hi - lo));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(DatumGetPointer(values[1]));
		pfree(DatumGetPointer(values[2]));
		pfree(o);
		lo = hi;
	}
	return (Datum) 0;
}

/*
 * The model keys and coefficients of arguments 3 and 4, checked: keys
 * ascending without NULLs, n x dim finite coefficients.  Cached in fn_extra
 * when both are one constant of the statement (see enc_arg in
 * glmix_agg_flat.c).
 */
static const CourseCache *
course_model_arg(FunctionCallInfo fcinfo, int dim, bool intercept)
{
	CourseCache *m = course_cache(fcinfo);
	bool		stable = stable_args(fcinfo, 3, 4);
	int			nc;
	const double *c;

	if (stable && m->ids != NULL && m->ids_raw == PG_GETARG_DATUM(3) &&
		m->coef_raw == PG_GETARG_DATUM(4) && m->dim == dim && m->intercept == intercept)
		return m;
	if (m->ids)
		pfree(m->ids);
	if (m->coef)
		pfree(m->coef);
	m->ids = NULL;
	m->coef = NULL;
	m->ids_raw = m->coef_raw = (Datum) 0;
	m->ids = int8_array_copy(fcinfo, 3, fcinfo->flinfo->fn_mcxt, &m->n, "model keys");
	for (int i = 1; i < m->n; i++)
		if (m->ids[i] <= m->ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("model keys must ascend")));
	c = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(4), &nc, "course coefficients");
	if ((int64) nc != (int64) m->n * dim)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d course coefficients for %d keys of dimension %d", nc, m->n, dim)));
	m->coef = MemoryContextAllocHuge(fcinfo->flinfo->fn_mcxt, sizeof(double) * Max(nc, 1));
	for (int j = 0; j < nc; j++)
	{
		if (!isfinite(c[j]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("course coefficients must be finite")));
		m->coef[j] = c[j];
	}
	m->dim = dim;
	m->intercept = intercept;
	if (stable)
	{
		m->ids_raw = PG_GETARG_DATUM(3);
		m->coef_raw = PG_GETARG_DATUM(4);
	}
	return m;
}

PG_FUNCTION_INFO_V1(glmix_flat_course_scores);
/*
 * recs._glmix_flat_course_scores(course_ids, learner features, values,
 * model keys, coefficients, dim, intercept, key_course_ids, keys): each
 * row's z_l . coef_k for the key k of its course (0 for a course without a
 * key or a key without a model), float8[] (NULL for NULL course ids)
 */
Datum
glmix_flat_course_scores(PG_FUNCTION_ARGS)
{
	ArrayType  *ca;
	int			n,
				dim,
				znnz;
	bool		intercept;
	const int64 *course;
	const CourseCache *m;
	const KeyMap *map;
	int32	   *zcol;
	double	   *zval;
	double	   *out;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the model's course ids and coefficients must not be NULL")));
	dim = dim_arg(fcinfo, 5);
	intercept = PG_GETARG_BOOL(6);
	ca = PG_GETARG_ARRAYTYPE_P(0);
	n = ArrayGetNItems(ARR_NDIM(ca), ARR_DIMS(ca));
	course = course_ids_arg(fcinfo, 0, n);
	znnz = learner_row(fcinfo, 1, dim, intercept, &zcol, &zval);
	map = key_map_arg(fcinfo, 7);
	m = course_model_arg(fcinfo, dim, intercept);
	out = palloc(sizeof(double) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		int64		key;
		int			i;
		double		s = 0.0;

		/* the row's key's coefficients: binary search of the ascending keys */
		if (map_key(map, course[r], &key) && (i = find_int64(m->ids, m->n, key)) >= 0)
		{
			const double *b = m->coef + (Size) i * dim;

			for (int k = 0; k < znnz; k++)
				s += zval[k] * b[zcol[k]];
		}
		out[r] = s;
	}
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(out, n));
}
