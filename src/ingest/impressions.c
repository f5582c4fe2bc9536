/*
 * impressions.c -- read an impressions relation into flat row arrays
 *
 * This is the one path by which labelled (learner, course) rows enter recs:
 * GLMix's impressions and validation rows, the blend's impressions (or its
 * watches, all positives), and evaluate's test rows.  The relation is read
 * through a forward-only cursor in batches, so memory holds the arrays,
 * never the tuples; the arrays double as they fill, each time after the
 * caller's recs.memory_limit check (ImpressionSpec.budget).
 *
 * Columns.  Ids are smallint, integer or bigint.  A label is boolean or a
 * number that must be 0 or 1 (a 0.7 is refused, not rounded); with two
 * label columns (label => 'either') the label is their OR, by SQL's rules:
 * 1 when either is 1, NULL when neither is 1 and one is NULL, else 0.  With
 * no label column every row is a positive.  The optional time column
 * (timestamps, or numbers of unix seconds) keeps only the rows shown after
 * `since` (in the query) and up to `through` (counted as left out, not as
 * skipped); watch seconds and weights are numbers; negatives a bigint[].
 * Key columns (GLMix's random effects keyed by a column of the impressions,
 * such as a channel) are of any type and read as text; each row gets the
 * index of its value among the column's distinct values (-1: NULL).
 *
 * Cleaning, in this order, each row counted once:
 *   - a NULL, NaN or infinite time: skipped, counted in n_bad_time;
 *   - a NULL learner or course id: skipped, n_null_id;
 *   - a NULL label: skipped, n_null_label.
 * One policy for every reader (GLMix, the blend, evaluate): such rows are
 * counted, reported (impressions_report) and left out.  Always errors
 * (22023 or 22004), since they mean the data are not what the column
 * claims: a label other than 0 or 1,
 * a NULL negatives array, a NULL weight, and a watch time or weight that is
 * negative, NaN or infinite.
 *
 * Weights.  A row weighs 1; a positive with a watch time s (seconds column)
 * 1 + ln(1 + s / 60); the weight column multiplies either.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "impressions.h"
#include "keys.h"
#include "spi_util.h"
#include "watches.h"

#define FETCH_ROWS 8192

static const Oid number_types[] = {FLOAT8OID, FLOAT4OID, NUMERICOID, INT8OID, INT4OID, INT2OID};

/* where each column sits in the query's result (0: not read) */
typedef struct ReadPlan
{
	int			label[IMPRESSIONS_MAX_LABELS];
	int			time;
	int			seconds;
	int			weight;
	int			negatives;
	int			key[IMPRESSIONS_MAX_KEYS];
} ReadPlan;

void
impressions_spec_init(ImpressionSpec *spec, const char *learner, const char *course)
{
	memset(spec, 0, sizeof(*spec));
	spec->learner = learner;
	spec->course = course;
	spec->since = -INFINITY;
	spec->through = INFINITY;
	spec->initial_rows = 1024;
}

void
impressions_spec_label(ImpressionSpec *spec, const char *column, const char *argname)
{
	if (spec->nlabels >= IMPRESSIONS_MAX_LABELS)
		elog(ERROR, "too many label columns");
	spec->label[spec->nlabels] = column;
	spec->label_arg[spec->nlabels] = argname;
	spec->nlabels++;
}

/* a label column checked (boolean, or a number that must be 0 or 1), as float8 SQL */
static char *
label_expression(Oid relid, const char *col, const char *argname)
{
	static const Oid label_types[] = {BOOLOID, INT2OID, INT4OID, INT8OID, FLOAT4OID,
	FLOAT8OID, NUMERICOID};
	Oid			type = recs_check_column(relid, col, argname, label_types, lengthof(label_types));

	return psprintf(type == BOOLOID ? "%s::int::float8" : "%s::float8", quote_identifier(col));
}

/* the same, for GLMix's flat Citus path (glmix_flat.c), which reads on the workers */
char *
impressions_label_expression(Oid relid, const char *col, const char *argname)
{
	return label_expression(relid, col, argname);
}

/* a watch time or weight column checked (a number), as float8 SQL */
char *
impressions_number_expression(Oid relid, const char *col, const char *argname)
{
	recs_check_column(relid, col, argname, number_types, lengthof(number_types));
	return psprintf("%s::float8", quote_identifier(col));
}

/* the query, its columns checked; plan says where each optional column is */
static char *
build_query(Oid relid, const ImpressionSpec *spec, ReadPlan *plan, char **texpr)
{
	StringInfoData sql;
	KeysFrom	from;
	int			att = 2;

	memset(plan, 0, sizeof(*plan));
	initStringInfo(&sql);
	keys_from_init(&from, relid);
	appendStringInfo(&sql, "SELECT %s, ", keys_id(&from, spec->learner, "learner_column", RECS_SIDE_LEARNER));
	appendStringInfoString(&sql, keys_id(&from, spec->course, "course_column", RECS_SIDE_COURSE));
	for (int i = 0; i < spec->nlabels; i++)
	{
		appendStringInfo(&sql, ", %s", label_expression(relid, spec->label[i], spec->label_arg[i]));
		plan->label[i] = ++att;
	}
	*texpr = NULL;
	if (spec->time)
	{
		*texpr = ingest_time_column(relid, spec->time, "time_column");
		appendStringInfo(&sql, ", (%s)::float8", *texpr);
		plan->time = ++att;
	}
	if (spec->seconds)
	{
		appendStringInfo(&sql, ", %s", impressions_number_expression(relid, spec->seconds, "seconds_column"));
		plan->seconds = ++att;
	}
	if (spec->weight)
	{
		appendStringInfo(&sql, ", %s", impressions_number_expression(relid, spec->weight, "weight_column"));
		plan->weight = ++att;
	}
	if (spec->negatives)
	{
		appendStringInfo(&sql, ", %s", keys_id_array_expr(&from, spec->negatives, "negatives_column",
														   RECS_SIDE_COURSE));
		plan->negatives = ++att;
	}
	for (int k = 0; k < spec->nkeys; k++)
	{
		if (get_attnum(relid, spec->key[k]) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of %s does not exist", spec->key[k],
							recs_relation_name(relid))));
		appendStringInfo(&sql, ", %s::text", quote_identifier(spec->key[k]));
		plan->key[k] = ++att;
	}
	appendStringInfo(&sql, " FROM %s", keys_from(&from));
	if (spec->time)
		appendStringInfo(&sql, " WHERE %s > $1 OR %s IS NULL", *texpr, *texpr);
	if (spec->sorted)
		appendStringInfoString(&sql, " ORDER BY 1, 2");
	return sql.data;
}

static void
bad_value(const char *what, double v, int64 l, int64 c, const char *relname)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be a finite number >= 0, not %g", what, v),
			 relname ?
			 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT " in %s.", l, c, relname) :
			 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT ".", l, c)));
}

/* the row arrays, grown to cap rows */
static void
grow_rows(ImpressionSet *set, const ImpressionSpec *spec, int64 cap)
{
	set->learner_id = repalloc_huge(set->learner_id, sizeof(int64) * cap);
	set->course_id = repalloc_huge(set->course_id, sizeof(int64) * cap);
	set->y = repalloc_huge(set->y, sizeof(double) * cap);
	set->w = repalloc_huge(set->w, sizeof(double) * cap);
	if (spec->negatives)
		set->neg_start = repalloc_huge(set->neg_start, sizeof(int64) * (cap + 1));
	for (int k = 0; k < spec->nkeys; k++)
		set->key[k] = repalloc_huge(set->key[k], sizeof(int32) * cap);
}

/* bytewise order of C strings, for the key values */
static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * The distinct values of key column k, sorted bytewise; at most
 * IMPRESSIONS_MAX_KEY_VALUES of them.
 */
static void
read_key_values(Oid relid, const ImpressionSpec *spec, int k, ImpressionSet *set)
{
	MemoryContext cxt = CurrentMemoryContext;
	const char *col = quote_identifier(spec->key[k]);
	char	   *sql = psprintf("SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL LIMIT %d",
							   col, recs_relation_name(relid), col, IMPRESSIONS_MAX_KEY_VALUES + 1);
	char	  **vals;

	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read column \"%s\"", spec->key[k]);
	MemoryContextSwitchTo(cxt);
	if (SPI_processed > IMPRESSIONS_MAX_KEY_VALUES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("column \"%s\" of %s has more than %d distinct values",
						spec->key[k], recs_relation_name(relid), IMPRESSIONS_MAX_KEY_VALUES),
				 errhint("Key random effects by a column with few values, such as a channel.")));
	vals = palloc(sizeof(char *) * Max(SPI_processed, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		vals[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	qsort(vals, SPI_processed, sizeof(char *), key_cmp);
	set->key_values[k] = vals;
	set->key_nvalues[k] = (int) SPI_processed;
}

/* the index of a text datum among the sorted values, -1 if absent */
static int32
key_index(Datum d, char **vals, int n)
{
	text	   *t = DatumGetTextPP(d);
	const char *p = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		const char *v = vals[mid];
		int			vlen = strlen(v);
		int			c = memcmp(v, p, Min(len, vlen));

		if (c == 0)
			c = vlen < len ? -1 : (vlen > len ? 1 : 0);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* row r's negatives from an int8[] datum, appended to set->neg */
static void
add_negatives(ImpressionSet *set, int64 r, Datum d, int64 *negcap)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64		k = set->neg_start[r];

	deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, true, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (k + n > *negcap)
	{
		while (k + n > *negcap)
			*negcap *= 2;
		set->neg = repalloc_huge(set->neg, sizeof(int64) * *negcap);
	}
	for (int j = 0; j < n; j++)
		if (!nulls[j])
			set->neg[k++] = DatumGetInt64(elems[j]);
	set->neg_start[r + 1] = k;
	pfree(elems);
	pfree(nulls);
}

/*
 * A row's label from the values of its label columns, OR-ed by SQL's rules:
 * 1 when any is 1, else 0 when none is NULL, else NaN (the row is skipped:
 * a NULL label); a value other than 0 or 1 is an error naming the row (in
 * relation relname, when given).  With no label columns every row is a
 * positive.  The reader and the flat path's block builder (glmix_agg_flat.c)
 * both apply it, so the two keep the same rows.
 */
double
impressions_label(int nlabels, const double *v, const bool *isnull,
				  int64 learner, int64 course, const char *relname)
{
	double		y = nlabels > 0 ? 0.0 : 1.0;
	bool		ynull = false;

	for (int i = 0; i < nlabels; i++)
	{
		if (isnull[i])
		{
			ynull = true;
			continue;
		}
		if (v[i] != 0.0 && v[i] != 1.0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("labels must be 0 or 1, found %g", v[i]),
					 relname ?
					 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT " in %s.",
							   learner, course, relname) :
					 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT ".",
							   learner, course)));
		if (v[i] == 1.0)
			y = 1.0;
	}
	return (ynull && y != 1.0) ? NAN : y;
}

/*
 * A kept row's weight: 1, or for a positive with a watch time s (when
 * has_seconds) 1 + log(1 + s / 60), times the weight column's value (when
 * has_weight).  A negative, NaN or infinite watch time or weight, and a NULL
 * weight, are errors naming the row (in relation relname, when given).  The
 * reader and the flat path's block builder both apply it.
 */
double
impressions_weight(double y, bool has_seconds, double s, bool snull,
				   bool has_weight, double v, bool wnull,
				   int64 learner, int64 course, const char *relname)
{
	double		w = 1.0;

	if (has_seconds && y == 1.0 && !snull)
	{
		if (!(s >= 0) || isinf(s))
			bad_value("watch time", s, learner, course, relname);
		w = 1.0 + log1p(s / 60.0);
	}
	if (has_weight)
	{
		if (wnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 relname ? errmsg("%s has a row with a NULL weight", relname) :
					 errmsg("a row has a NULL weight"),
					 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT ".", learner, course)));
		if (!(v >= 0) || isinf(v))
			bad_value("weight", v, learner, course, relname);
		w *= v;
	}
	return w;
}

/*
 * One fetched row into the arrays at index set->n, or counted as skipped;
 * false when skipped.
 */
static bool
read_row(ImpressionSet *set, const ImpressionSpec *spec, const ReadPlan *plan,
		 HeapTuple tup, TupleDesc desc, const char *relname, int64 *negcap)
{
	bool		lnull,
				cnull,
				isnull;
	int64		l = DatumGetInt64(SPI_getbinval(tup, desc, 1, &lnull));
	int64		c = DatumGetInt64(SPI_getbinval(tup, desc, 2, &cnull));
	double		y = 1.0;
	double		w = 1.0;
	double		t = NAN;
	int64		r = set->n;

	if (plan->time)
	{
		t = DatumGetFloat8(SPI_getbinval(tup, desc, plan->time, &isnull));
		if (isnull || !isfinite(t))
		{
			set->n_bad_time++;
			return false;
		}
		if (t > spec->through)
		{
			set->n_after_through++;
			return false;
		}
	}
	if (lnull || cnull)
	{
		set->n_null_id++;
		return false;
	}
	if (spec->nlabels > 0)
	{
		double		v[IMPRESSIONS_MAX_LABELS];
		bool		vnull[IMPRESSIONS_MAX_LABELS];

		for (int i = 0; i < spec->nlabels; i++)
			v[i] = DatumGetFloat8(SPI_getbinval(tup, desc, plan->label[i], &vnull[i]));
		y = impressions_label(spec->nlabels, v, vnull, l, c, relname);
		if (isnan(y))
		{
			set->n_null_label++;
			return false;
		}
	}
	if (plan->seconds || plan->weight)
	{
		bool		snull = true,
					wnull = true;
		double		s = plan->seconds ? DatumGetFloat8(SPI_getbinval(tup, desc, plan->seconds, &snull)) : 0.0;
		double		v = plan->weight ? DatumGetFloat8(SPI_getbinval(tup, desc, plan->weight, &wnull)) : 0.0;

		w = impressions_weight(y, plan->seconds != 0, s, snull, plan->weight != 0, v, wnull,
							   l, c, relname);
		if (plan->seconds && y == 1.0 && !snull)
			set->n_watch_weighted++;
	}
	if (plan->negatives)
	{
		Datum		d = SPI_getbinval(tup, desc, plan->negatives, &isnull);

		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("negatives of learner " INT64_FORMAT " are NULL", l)));
		add_negatives(set, r, d, negcap);
	}
	for (int k = 0; k < spec->nkeys; k++)
	{
		Datum		d = SPI_getbinval(tup, desc, plan->key[k], &isnull);

		set->key[k][r] = isnull ? -1 : key_index(d, set->key_values[k], set->key_nvalues[k]);
	}
	if (r == 0 || set->learner_id[r - 1] != l)
		set->n_learners++;
	set->learner_id[r] = l;
	set->course_id[r] = c;
	set->y[r] = y;
	set->w[r] = w;
	set->n_positive += y > 0;
	if (!isnan(t) && !(t <= set->t_max))
		set->t_max = t;
	set->n++;
	return true;
}

ImpressionSet *
ingest_impressions(Oid relid, const ImpressionSpec *spec)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *relname = recs_relation_name(relid);
	ImpressionSet *set = palloc0(sizeof(ImpressionSet));
	ReadPlan	plan;
	char	   *texpr;
	char	   *sql = build_query(relid, spec, &plan, &texpr);
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum(spec->since)};
	int64		cap = Max(spec->initial_rows, 16);
	int64		negcap = 1024;
	double		est_rows;
	Portal		portal;

	set->t_max = NAN;
	for (int k = 0; k < spec->nkeys; k++)
		read_key_values(relid, spec, k, set);
	portal = recs_open_read_cursor(sql, spec->time ? 1 : 0, types, values, &est_rows);
	MemoryContextSwitchTo(cxt);
	set->learner_id = MemoryContextAllocHuge(cxt, sizeof(int64) * cap);
	set->course_id = MemoryContextAllocHuge(cxt, sizeof(int64) * cap);
	set->y = MemoryContextAllocHuge(cxt, sizeof(double) * cap);
	set->w = MemoryContextAllocHuge(cxt, sizeof(double) * cap);
	if (spec->negatives)
	{
		set->neg_start = MemoryContextAllocHuge(cxt, sizeof(int64) * (cap + 1));
		set->neg_start[0] = 0;
		set->neg = MemoryContextAllocHuge(cxt, sizeof(int64) * negcap);
	}
	for (int k = 0; k < spec->nkeys; k++)
		set->key[k] = MemoryContextAllocHuge(cxt, sizeof(int32) * cap);
	for (;;)
	{
		SPITupleTable *tt;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		MemoryContextSwitchTo(cxt);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			if (set->n == cap)
			{
				if (spec->budget)
					spec->budget(spec->budget_arg, set->n, 2 * cap, set->n_learners, est_rows);
				cap *= 2;
				if (cap > PG_INT32_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
							 errmsg("more than %d impressions", PG_INT32_MAX)));
				grow_rows(set, spec, cap);
			}
			set->n_read++;
			read_row(set, spec, &plan, tt->vals[i], tt->tupdesc, relname, &negcap);
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);

	/* give back the doubling's slack: up to half of these arrays */
	if (set->n > 0 && set->n < cap)
		grow_rows(set, spec, set->n);
	return set;
}

int64
impressions_skipped(const ImpressionSet *set)
{
	return set->n_null_id + set->n_null_label + set->n_bad_time;
}

void
impressions_report(const ImpressionSet *set, const char *what)
{
	if (impressions_skipped(set) == 0 && set->n_after_through == 0)
		return;
	ereport(NOTICE,
			(errmsg("%s: read " INT64_FORMAT " rows, kept " INT64_FORMAT, what, set->n_read, set->n),
			 errdetail("Skipped " INT64_FORMAT " with a NULL learner or course id, " INT64_FORMAT
					   " with a NULL label, " INT64_FORMAT " with a NULL, NaN or infinite time%s.",
					   set->n_null_id, set->n_null_label, set->n_bad_time,
					   set->n_after_through > 0
					   ? psprintf("; left out " INT64_FORMAT " shown after through", set->n_after_through)
					   : "")));
}
