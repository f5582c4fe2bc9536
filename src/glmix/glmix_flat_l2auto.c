/*
 * glmix_flat_l2auto.c -- l2_auto's split of distributed impressions without
 * bringing them to the coordinator (the flat Citus path, glmix_flat.c)
 *
 * On one node the search (glmix_l2auto.c) splits the impressions at
 * percentile_disc(0.9) of the time column with two views.  On Citus a view
 * is not a distributed table, and percentile_disc does not push down: the
 * coordinator would sort every time.  Here the same cutoff is found exactly
 * by statements that push down:
 *
 *   1. the count of times (n), of -infinity ones, of finite ones, and the
 *      finite ones' min and max (partial aggregates);
 *   2. the row number percentile_disc takes, ceil(0.9 * n) as its
 *      orderedsetaggs.c computes it;
 *   3. a histogram of 1024 buckets (width_bucket) between the current
 *      bounds, each bucket's count, min and max grouped in the shards'
 *      tasks and merged here (at most 1025 rows); the bucket holding the
 *      row number becomes the bounds, until they meet (a single value):
 *      at most about a dozen rounds for microsecond timestamps;
 *   4. that value's native form: min(column) over the rows of that epoch
 *      (a partial aggregate too).
 *
 * The times are compared as the training reads them, epoch seconds in
 * float8 (ingest_time_column).  For a timestamp with time zone, a date, an
 * integer or a float column that reading is strictly increasing (distinct
 * values stay distinct, in order), so "time < cutoff" is "epoch <= the
 * float8 just below the cutoff's epoch": the training part of the split is
 * the impressions relation itself with `through` set there, which the flat
 * path honours in the shards' tasks.  A timestamp without time zone (a
 * daylight-saving gap maps two local times to one instant) or a numeric
 * (rounded to float8), or a cutoff among infinite times, keeps the views.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "spi_util.h"
#include "watches.h"

#define CUTOFF_BUCKETS 1024
#define CUTOFF_MAX_ROUNDS 64

/* a time column whose epoch reading keeps distinct values distinct, in order */
static bool
exact_time_type(Oid type)
{
	switch (type)
	{
		case TIMESTAMPTZOID:
		case DATEOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
			return true;
		default:
			return false;
	}
}

static int64
get_int64(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static double
get_float8(int row, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);

	return *isnull ? NAN : DatumGetFloat8(d);
}

/*
 * The l2 search's cutoff of the impressions o->impressions by the time
 * column o->ro.time_column, exactly percentile_disc(0.9)'s, by pushed-down
 * statements; NULL when the column's type or the cutoff does not allow the
 * flat split (see the header).  *epoch gets the cutoff's epoch seconds.
 */
char *
glmix_flat_l2_cutoff(const GlmixOptions *o, double *epoch)
{
	const char *rel = recs_relation_name(o->impressions);
	const char *col = quote_identifier(o->ro.time_column);
	char	   *f = ingest_time_column(o->impressions, o->ro.time_column, "time_column");
	int64		n,
				nlow,
				nfin,
				k;
	double		lo,
				hi;
	bool		isnull;
	char	   *cutoff;

	if (!exact_time_type(get_atttype(o->impressions, get_attnum(o->impressions, o->ro.time_column))))
		return NULL;
	if (SPI_execute(psprintf("SELECT count(%s)::int8, (count(*) FILTER (WHERE %s = '-Infinity'))::int8, "
							 "(count(*) FILTER (WHERE %s > '-Infinity' AND %s < 'Infinity'))::int8, "
							 "min(%s) FILTER (WHERE %s > '-Infinity' AND %s < 'Infinity'), "
							 "max(%s) FILTER (WHERE %s > '-Infinity' AND %s < 'Infinity') FROM %s",
							 col, f, f, f, f, f, f, f, f, f, rel), true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the times of %s", rel);
	n = get_int64(0, 1);
	nlow = get_int64(0, 2);
	nfin = get_int64(0, 3);
	lo = get_float8(0, 4, &isnull);
	hi = get_float8(0, 5, &isnull);
	SPI_freetuptable(SPI_tuptable);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("l2_auto needs impressions with a time in column %s", col),
				 errhint("Pass validation => a relation of later impressions.")));
	/* percentile_disc's row number (orderedsetaggs.c), then its place among the finite times */
	k = (int64) ceil(0.9 * n) - nlow;
	if (k < 1 || k > nfin)
		return NULL;

	for (int round = 0; lo < hi; round++)
	{
		int64		below = 0;
		bool		found = false;

		CHECK_FOR_INTERRUPTS();
		if (round >= CUTOFF_MAX_ROUNDS)
			return NULL;
		if (SPI_execute(psprintf("SELECT count(*)::int8, min(e), max(e) FROM "
								 "(SELECT width_bucket(%s, %.17g::float8, %.17g::float8, %d) AS b, %s AS e "
								 "FROM %s WHERE %s >= %.17g::float8 AND %s <= %.17g::float8) s "
								 "GROUP BY b ORDER BY b",
								 f, lo, hi, CUTOFF_BUCKETS, f, rel, f, lo, f, hi), true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the times' histogram of %s", rel);
		for (uint64 i = 0; i < SPI_processed && !found; i++)
		{
			int64		c = get_int64((int) i, 1);

			if (below + c >= k)
			{
				double		blo = get_float8((int) i, 2, &isnull),
							bhi = get_float8((int) i, 3, &isnull);

				if (blo == lo && bhi == hi)
					break;		/* no progress: cannot happen, but never loop */
				lo = blo;
				hi = bhi;
				k -= below;
				found = true;
			}
			below += c;
		}
		SPI_freetuptable(SPI_tuptable);
		if (!found)
			return NULL;
	}

	/* the value's native form: every row of that epoch holds the same one */
	if (SPI_execute(psprintf("SELECT min(%s)::text FROM %s WHERE %s = %.17g::float8", col, rel, f, lo),
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the cutoff of %s", rel);
	cutoff = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	if (cutoff == NULL)
		return NULL;
	*epoch = lo;
	return cutoff;
}
