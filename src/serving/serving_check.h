/*
 * serving_check.h -- validating a stored model's rows as serving loads them
 *
 * Model tables are plain tables: a role allowed to train may also write
 * them, and a dump may be edited by hand.  A loader therefore trusts no row
 * of a model store (see the header comment of each loader for what it
 * checks): every array is one-dimensional and free of NULLs, its length
 * agrees with the dimensions the model declares elsewhere, its indexes fall
 * inside them and its floats are finite.  A row that fails is reported as
 *
 *   ERROR:  recs model 7 is corrupt                       (SQLSTATE XX001)
 *   DETAIL:  recs.glmix_entity row (side course, id 13): element 3 of
 *            features is 2000000000, outside 0..17.
 *   HINT:  Retrain the model ...
 *
 * never as a crash or a silently different score.  The checkers are small
 * and inline, like pgvector's CheckDim/CheckElement; the row's key is only
 * formatted when a check fails, so they cost a compare or two per element.
 *
 * This header depends on PostgreSQL headers only, so that every
 * loader (ncf, glmix, popularity, blend, recommend) can include it.
 */
#ifndef RECS_SERVING_CHECK_H
#define RECS_SERVING_CHECK_H

#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

/* the row being checked: its table and up to two key columns */
typedef struct ModelRowKey
{
	const char *name;			/* column name, e.g. "side" */
	const char *text;			/* its value as text; NULL: the value is num */
	int64		num;
} ModelRowKey;

typedef struct ModelRow
{
	int64		model_id;
	const char *table;			/* e.g. "recs.glmix_entity" */
	int			nkeys;			/* 0: the error is about the table's rows as a whole */
	ModelRowKey key[2];
} ModelRow;

/* a row with no key, for checks of a table's rows as a whole */
#define MODEL_ROW(model_id_, table_) \
	((ModelRow) {.model_id = (model_id_), .table = (table_), .nkeys = 0})

/*
 * ERROR: model row->model_id is corrupt (XX001), the detail naming the table,
 * the row and what is wrong (fmt: a sentence without the final period).
 */
extern void model_row_corrupt(const ModelRow *row, const char *fmt,...)
			pg_attribute_printf(2, 3) pg_attribute_noreturn();

/* set key i of row to a text or an integer value */
static inline void
model_row_key_text(ModelRow *row, int i, const char *name, const char *value)
{
	row->key[i].name = name;
	row->key[i].text = value ? value : "NULL";
	row->nkeys = Max(row->nkeys, i + 1);
}

static inline void
model_row_key_int(ModelRow *row, int i, const char *name, int64 value)
{
	row->key[i].name = name;
	row->key[i].text = NULL;
	row->key[i].num = value;
	row->nkeys = Max(row->nkeys, i + 1);
}

/* value must lie in [lo, hi] */
static inline void
check_model_range(const ModelRow *row, const char *what, int64 value, int64 lo, int64 hi)
{
	if (value < lo || value > hi)
		model_row_corrupt(row, "%s is %lld, outside %lld..%lld", what,
						  (long long) value, (long long) lo, (long long) hi);
}

/* value must equal expected (a count or a width declared elsewhere) */
static inline void
check_model_equal(const ModelRow *row, const char *what, int64 value, int64 expected,
				  const char *expected_what)
{
	if (value != expected)
		model_row_corrupt(row, "%s is %lld, but %s is %lld", what, (long long) value,
						  expected_what, (long long) expected);
}

static inline void
check_model_finite(const ModelRow *row, const char *what, double value)
{
	if (!isfinite(value))
		model_row_corrupt(row, "%s is %g, not a finite number", what, value);
}

/*
 * The number of elements of an array column after checking its shape: one
 * dimension (or empty), no NULL elements, the column's element type, and
 * -- when expect >= 0 -- exactly expect elements (expect_what says where
 * that number comes from, e.g. "n_in * n_out").
 */
static inline int
check_model_array(const ModelRow *row, const char *col, ArrayType *a, Oid elemtype,
				  int64 expect, const char *expect_what)
{
	int			n;

	if (ARR_ELEMTYPE(a) != elemtype)
		model_row_corrupt(row, "%s has elements of type %s, expected %s", col,
						  format_type_be(ARR_ELEMTYPE(a)), format_type_be(elemtype));
	if (ARR_NDIM(a) > 1)
		model_row_corrupt(row, "%s has %d dimensions, expected one", col, ARR_NDIM(a));
	n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (ARR_HASNULL(a) && array_contains_nulls(a))
		model_row_corrupt(row, "%s contains NULL elements", col);
	if (expect >= 0 && n != expect)
		model_row_corrupt(row, "%s has %d elements, but %s is %lld", col, n,
						  expect_what, (long long) expect);
	return n;
}

/* a real[] column checked as above, every element finite; returns its data */
static inline const float *
check_model_float4s(const ModelRow *row, const char *col, ArrayType *a, int64 expect,
					const char *expect_what, int *n_out)
{
	int			n = check_model_array(row, col, a, FLOAT4OID, expect, expect_what);
	const float *v = (const float *) ARR_DATA_PTR(a);

	for (int i = 0; i < n; i++)
		if (unlikely(!isfinite(v[i])))
			model_row_corrupt(row, "element %d of %s is %g, not a finite number",
							  i + 1, col, (double) v[i]);
	if (n_out)
		*n_out = n;
	return v;
}

/* a float8[] column checked as above, every element finite; returns its data */
static inline const double *
check_model_float8s(const ModelRow *row, const char *col, ArrayType *a, int64 expect,
					const char *expect_what, int *n_out)
{
	int			n = check_model_array(row, col, a, FLOAT8OID, expect, expect_what);
	const double *v = (const double *) ARR_DATA_PTR(a);

	for (int i = 0; i < n; i++)
		if (unlikely(!isfinite(v[i])))
			model_row_corrupt(row, "element %d of %s is %g, not a finite number",
							  i + 1, col, v[i]);
	if (n_out)
		*n_out = n;
	return v;
}

/*
 * An integer[] column of indexes: checked as above, every element in
 * [0, bound) and strictly ascending (the CSR convention of a stored
 * feature vector); returns its data.
 */
static inline const int32 *
check_model_indexes(const ModelRow *row, const char *col, ArrayType *a, int bound,
					int *n_out)
{
	int			n = check_model_array(row, col, a, INT4OID, -1, NULL);
	const int32 *v = (const int32 *) ARR_DATA_PTR(a);

	for (int i = 0; i < n; i++)
	{
		if (unlikely(v[i] < 0 || v[i] >= bound))
			model_row_corrupt(row, "element %d of %s is %d, outside 0..%d",
							  i + 1, col, v[i], bound - 1);
		if (unlikely(i > 0 && v[i] <= v[i - 1]))
			model_row_corrupt(row, "element %d of %s is %d, not above the element before it (%d)",
							  i + 1, col, v[i], v[i - 1]);
	}
	*n_out = n;
	return v;
}

#endif							/* RECS_SERVING_CHECK_H */
