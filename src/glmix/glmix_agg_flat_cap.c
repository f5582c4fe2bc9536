/*
 * glmix_agg_flat_cap.c -- max_rows for the course-side effect of a flat
 * Citus training (glmix_flat_cap.c): what runs in the shards' tasks
 *
 * A capped key's sample (glmix_sample.c) needs all of its rows, which the
 * impressions, distributed by learner, scatter over the shards.  Once, at
 * staging:
 *
 *   recs._glmix_flat_cap_rows(fblock, course ids, capped course ids, their
 *   keys): the block's rows whose course's key is capped, as (key, row,
 *   course, label, weight): inserted into a relation distributed by key,
 *   they move worker to worker;
 *   recs._glmix_flat_cap_sample(key, learners, courses, labels, weights,
 *   max_rows, seed, serial): over one key's rows (array_agg'd in one
 *   order), the sample one node draws: each chosen position with its
 *   weight scaled by rows / max_rows;
 *   recs._glmix_flat_cap_weights(fblock, course ids, capped course ids,
 *   their keys, rows, weights): a block's course-effect weights: a row of a
 *   capped key its sampled weight or 0, any other row its own.
 *
 * Each visit, recs._glmix_flat_reweight(fblock, weights) hands the course
 * rows' builder a copy of the block with those weights (the fixed effect's
 * scores, what else it reads of the block, do not depend on them).
 *
 * Every argument is hostile input: blocks go through glmix_block_map(),
 * arrays are checked for length, order, range and finiteness.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "glmix.h"
#include "glmix_flat.h"

/* a one-dimensional array argument without NULLs of type type, its length */
static void *
plain_array(FunctionCallInfo fcinfo, int argno, Oid type, int *n, const char *what)
{
	ArrayType  *a;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != type)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array of %s without NULLs", what,
						format_type_be(type))));
	*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	return ARR_DATA_PTR(a);
}

/* a capped map (ascending course ids, their keys), checked */
typedef struct CapMap
{
	int			n;
	const int64 *ids;
	const int64 *keys;
} CapMap;

static void
cap_map_arg(FunctionCallInfo fcinfo, int argno, CapMap *m)
{
	int			nk;

	m->ids = plain_array(fcinfo, argno, INT8OID, &m->n, "capped course ids");
	m->keys = plain_array(fcinfo, argno + 1, INT8OID, &nk, "capped keys");
	if (nk != m->n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d capped keys for %d course ids", nk, m->n)));
	for (int i = 1; i < m->n; i++)
		if (m->ids[i] <= m->ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("capped course ids must ascend")));
}

/* the capped key of a course, or false */
static bool
cap_key(const CapMap *m, int64 course, int64 *key)
{
	int			lo = 0,
				hi = m->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (m->ids[mid] < course)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < m->n && m->ids[lo] == course)
	{
		*key = m->keys[lo];
		return true;
	}
	return false;
}

/* the block of argument argno, mapped, and its rows' course ids (argno + 1) */
static const int64 *
block_and_courses(FunctionCallInfo fcinfo, int argno, GlmixBlock *blk)
{
	int			n;
	const int64 *course;

	glmix_block_map(glmix_block_arg(fcinfo, argno), blk);
	course = plain_array(fcinfo, argno + 1, INT8OID, &n, "course ids");
	if (n != blk->hdr->n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d course ids for a block of %d rows", n, blk->hdr->n)));
	return course;
}

PG_FUNCTION_INFO_V1(glmix_flat_cap_rows);
/*
 * recs._glmix_flat_cap_rows(fblock, course_ids, capped_course_ids,
 * capped_keys): (key, row, course, label, weight) for each of the block's
 * rows whose course has a capped key
 */
Datum
glmix_flat_cap_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	GlmixBlock	blk;
	const int64 *course;
	CapMap		map;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	course = block_and_courses(fcinfo, 0, &blk);
	cap_map_arg(fcinfo, 2, &map);
	for (int r = 0; r < blk.hdr->n; r++)
	{
		Datum		values[5];
		bool		nulls[5] = {0};
		int64		key;

		if (!cap_key(&map, course[r], &key))
			continue;
		values[0] = Int64GetDatum(key);
		values[1] = Int32GetDatum(r);
		values[2] = Int64GetDatum(course[r]);
		values[3] = Float8GetDatum(blk.y[r]);
		values[4] = Float8GetDatum(blk.w[r]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* a float8[] argument's values without NULLs, n of them, finite and >= 0 when asked */
static const double *
float8_arg(FunctionCallInfo fcinfo, int argno, int n, bool weights, const char *what)
{
	int			m;
	const double *v = plain_array(fcinfo, argno, FLOAT8OID, &m, what);

	if (m != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s hold %d values, not %d", what, m, n)));
	for (int i = 0; i < n; i++)
		if (!isfinite(v[i]) || (weights && v[i] < 0))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must be finite%s", what, weights ? " and >= 0" : "")));
	return v;
}

PG_FUNCTION_INFO_V1(glmix_flat_cap_sample);
/*
 * recs._glmix_flat_cap_sample(key, learner_ids, course_ids, labels,
 * weights, max_rows, seed, serial): one key's max_rows sample as one node
 * draws it (glmix_sample.c): (pos, weight), the chosen rows' positions
 * (1-based) in the arrays and their weights scaled by rows / max_rows; no
 * rows when the key has max_rows rows or fewer
 */
Datum
glmix_flat_cap_sample(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n,
				nc,
				max_rows;
	const int64 *lid;
	const int64 *cid;
	const double *y;
	const double *w;
	int64	   *idx;
	double		scale;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(5) || PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key, max_rows, seed and serial must not be NULL")));
	max_rows = PG_GETARG_INT32(5);
	if (max_rows < 1 || PG_GETARG_INT32(7) < 0 || PG_GETARG_INT32(7) >= GLMIX_MAX_RANDOM)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be at least 1 and serial within 0..%d", GLMIX_MAX_RANDOM - 1)));
	lid = plain_array(fcinfo, 1, INT8OID, &n, "learner ids");
	cid = plain_array(fcinfo, 2, INT8OID, &nc, "course ids");
	if (nc != n)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%d course ids for %d learner ids", nc, n)));
	y = float8_arg(fcinfo, 3, n, false, "labels");
	w = float8_arg(fcinfo, 4, n, true, "weights");
	if (n <= max_rows)
		return (Datum) 0;
	idx = palloc(sizeof(int64) * n);
	for (int r = 0; r < n; r++)
		idx[r] = r;
	glmix_sample_entity(idx, n, max_rows,
						glmix_sample_seed(PG_GETARG_INT64(6), PG_GETARG_INT32(7),
										  text_to_cstring(PG_GETARG_TEXT_PP(0))),
						lid, cid, y, w);
	scale = (double) n / max_rows;
	for (int k = 0; k < max_rows; k++)
	{
		Datum		values[2];
		bool		nulls[2] = {0};

		values[0] = Int32GetDatum((int32) idx[k] + 1);
		values[1] = Float8GetDatum(w[idx[k]] * scale);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(idx);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(glmix_flat_cap_weights);
/*
 * recs._glmix_flat_cap_weights(fblock, course_ids, capped_course_ids,
 * capped_keys, rows, weights): the block's rows' course-effect weights:
 * rows (0-based, NULL: none) of capped keys that are in the sample get
 * their weights, other rows of capped keys 0, every other row its own
 */
Datum
glmix_flat_cap_weights(PG_FUNCTION_ARGS)
{
	GlmixBlock	blk;
	const int64 *course;
	CapMap		map;
	double	   *out;
	bool	   *chosen;
	int			n;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	course = block_and_courses(fcinfo, 0, &blk);
	cap_map_arg(fcinfo, 2, &map);
	n = blk.hdr->n;
	out = palloc(sizeof(double) * Max(n, 1));
	chosen = palloc0(sizeof(bool) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		int64		key;

		out[r] = cap_key(&map, course[r], &key) ? 0.0 : blk.w[r];
	}
	if (!PG_ARGISNULL(4) || !PG_ARGISNULL(5))
	{
		int			m;
		const int32 *rows = plain_array(fcinfo, 4, INT4OID, &m, "sampled rows");
		const double *w = float8_arg(fcinfo, 5, m, true, "sampled weights");

		for (int k = 0; k < m; k++)
		{
			int64		key;

			if (rows[k] < 0 || rows[k] >= n || chosen[rows[k]] || !cap_key(&map, course[rows[k]], &key))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sampled row %d is not a row of a capped course in a block of %d rows, or is listed twice",
								rows[k], n)));
			chosen[rows[k]] = true;
			out[rows[k]] = w[k];
		}
	}
	PG_RETURN_ARRAYTYPE_P(glmix_float8_array(out, n));
}

PG_FUNCTION_INFO_V1(glmix_flat_reweight);
/*
 * recs._glmix_flat_reweight(block, weights): a copy of the block with the
 * rows' weights replaced (finite, >= 0, one per row); the block itself for
 * NULL weights
 */
Datum
glmix_flat_reweight(PG_FUNCTION_ARGS)
{
	bytea	   *b;
	bytea	   *copy;
	GlmixBlock	blk;
	const double *w;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	b = glmix_block_arg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		PG_RETURN_BYTEA_P(b);
	copy = palloc(VARSIZE(b));
	memcpy(copy, b, VARSIZE(b));
	glmix_block_map(copy, &blk);
	w = float8_arg(fcinfo, 1, blk.hdr->n, true, "weights");
	memcpy((double *) blk.w, w, sizeof(double) * blk.hdr->n);
	PG_RETURN_BYTEA_P(copy);
}
