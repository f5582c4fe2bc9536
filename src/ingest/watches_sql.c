/*
 * watches_sql.c -- the cleaning of watches.c as SQL, for counts computed by
 * the database (and pushed down to the shards on Citus)
 *
 * A trainer that needs only counts over watches a Citus cluster
 * distributes by learner (popularity: watchers per course and language
 * group) has them computed by aggregates instead of reading every row into
 * the coordinator: every subquery below groups by the learner, so Citus
 * runs it on each shard and the coordinator merges partial aggregates -- a
 * few rows per course, never the watches.  (On one node ingest_watches is
 * faster: one read and one sort in C.)
 *
 * The rules are those of ingest_watches(), row for row:
 *   why 1: a NULL learner or course id;
 *   why 2: a NULL, NaN or infinite time;
 *   why 3: a NULL, NaN, infinite or negative watch time;
 *   why 4: under the watch-time threshold;
 *   why 0: kept; of a repeated (learner, course) pair the earliest watch
 *          counts (the pairs subquery: its first time).
 * The citus suite (test/citus/train_counts.sql) checks that both paths
 * give the same counts and model, dirty rows included.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "keys.h"
#include "spi_util.h"
#include "watches.h"

/* the float8 values that are no time and no watch time */
#define NOT_FINITE "('NaN', 'Infinity', '-Infinity')"

void
ingest_watches_sql(Oid relid, const WatchColumns *cols, double min_seconds, WatchesSql *out)
{
	static const Oid num_types[] = {FLOAT8OID, FLOAT4OID, NUMERICOID,
	INT8OID, INT4OID, INT2OID};
	KeysFrom	from;
	char	   *lexpr;
	char	   *cexpr;
	char	   *texpr;
	StringInfoData sql;

	keys_from_init(&from, relid);
	lexpr = keys_id(&from, cols->learner, "learner_column", RECS_SIDE_LEARNER);
	cexpr = keys_id(&from, cols->course, "course_column", RECS_SIDE_COURSE);
	texpr = ingest_time_column(relid, cols->time, "time_column");
	if (cols->seconds)
		recs_check_column(relid, cols->seconds, "seconds_column",
						  num_types, lengthof(num_types));

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT l, c, t, CASE WHEN l IS NULL OR c IS NULL THEN 1"
					 " WHEN t IS NULL OR t IN " NOT_FINITE " THEN 2"
					 " WHEN s IS NULL OR s IN " NOT_FINITE " OR s < 0 THEN 3"
					 " WHEN s < %.17g::float8 THEN 4 ELSE 0 END AS why"
					 " FROM (SELECT %s AS l, %s AS c, %s AS t, %s%s AS s FROM %s) r",
					 min_seconds, lexpr, cexpr, texpr,
					 cols->seconds ? quote_identifier(cols->seconds) : "0",
					 "::float8", keys_from(&from));
	out->rows = sql.data;
	out->pairs = psprintf("SELECT l, c, min(t) AS first FROM (%s) w WHERE why = 0 GROUP BY l, c",
						  out->rows);
}

/*
 * The counts ingest_watches() reports, by one aggregate: per course and
 * fate, the rows, the distinct pairs, the learners whose first pair (by
 * course) it is, and the first and last time.  Grouped by course, it is a
 * partial aggregate Citus merges on the coordinator from a few rows per
 * course and shard (a count(DISTINCT course) would pull every pair).
 */
WatchSet *
ingest_watch_counts(const WatchesSql *q)
{
	WatchSet   *ws = palloc0(sizeof(WatchSet));
	char	   *sql;
	int			rc;
	bool		any = false;

	sql = psprintf("SELECT why, sum(n)::int8, count(*)::int8, sum(lead::int)::int8, min(first), max(first)"
				   " FROM (SELECT c, why, n, first,"
				   "              why = 0 AND row_number() OVER (PARTITION BY l, why ORDER BY c) = 1 AS lead"
				   "         FROM (SELECT l, c, why, count(*) AS n, min(t) AS first"
				   "                 FROM (%s) w GROUP BY l, c, why) g) x"
				   " GROUP BY c, why",
				   q->rows);
	/* not read-only: it must see the keys keys_id has just added (keys.c) */
	rc = SPI_execute(sql, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not count the watches: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;
		int			why = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		int64		nrows = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));

		ws->n_read += nrows;
		switch (why)
		{
			case 0:
				{
					int64		pairs = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
					double		first = DatumGetFloat8(SPI_getbinval(tup, td, 5, &isnull));
					double		last = DatumGetFloat8(SPI_getbinval(tup, td, 6, &isnull));

					ws->n_watches += pairs;
					ws->n_duplicate += nrows - pairs;
					ws->n_learners += (int) DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
					ws->n_courses++;
					ws->first_time = any ? Min(ws->first_time, first) : first;
					ws->last_time = any ? Max(ws->last_time, last) : last;
					any = true;
					break;
				}
			case 1:
				ws->n_null_id += nrows;
				break;
			case 2:
				ws->n_bad_time += nrows;
				break;
			case 3:
				ws->n_bad_seconds += nrows;
				break;
			default:
				ws->n_short += nrows;
				break;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	return ws;
}
