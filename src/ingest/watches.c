/*
 * watches.c -- read a watches relation into a cleaned, dense WatchSet
 *
 * This is the one path by which watch data enter recs.  It reads the
 * relation through a cursor (so memory holds only the compact arrays, never
 * the tuples), then cleans in C, counting every row it drops:
 *   - NULL learner or course ids;
 *   - NULL or infinite timestamps;
 *   - NULL, NaN, infinite or negative watch time;
 *   - watches shorter than the watch-time threshold;
 *   - repeated (learner, course) pairs: the earliest qualifying watch is kept.
 * Ids are mapped to dense indexes (ascending id order) and each learner's
 * watches are stored contiguously, sorted by (time, course): the CSR layout
 * every trainer consumes.  Time windows are the trainers' business.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "keys.h"
#include "memory_budget.h"
#include "sorted_ids.h"
#include "spi_util.h"
#include "watches.h"

#define FETCH_ROWS 50000

typedef struct RawWatch
{
	int64		learner;
	int64		course;
	double		when;
	float		seconds;
} RawWatch;

static int
raw_watch_cmp(const void *a, const void *b)
{
	const RawWatch *x = a;
	const RawWatch *y = b;

	if (x->learner != y->learner)
		return x->learner < y->learner ? -1 : 1;
	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	if (x->course != y->course)
		return x->course < y->course ? -1 : 1;
	return 0;
}

int
watchset_course_index(const WatchSet *ws, int64 course_id)
{
	return recs_find_int64(ws->course_ids, ws->n_courses, course_id);
}

/*
 * SQL expression giving epoch seconds for a time column of the given type.
 * A timestamp without time zone or a date is an instant in the session's
 * TimeZone, as PostgreSQL converts it to timestamptz (and as a comparison
 * with a timestamptz, e.g. train_all's cut, reads it): date_part('epoch')
 * of the bare timestamp would read it as UTC whatever the TimeZone.
 */
static const char *
time_expression(Oid type)
{
	switch (type)
	{
		case TIMESTAMPTZOID:
			/* float8 directly: extract() computes a numeric, 2-3x slower */
			return "date_part('epoch', %s)";
		case TIMESTAMPOID:
		case DATEOID:
			return "date_part('epoch', (%s)::timestamptz)";
		default:
			/* numeric columns hold unix seconds */
			return "%s::float8";
	}
}

/* the types a time column may have: times, or numbers of unix seconds */
static const Oid time_types[] = {TIMESTAMPTZOID, TIMESTAMPOID, DATEOID,
INT8OID, INT4OID, FLOAT8OID, FLOAT4OID, NUMERICOID};

char *
ingest_time_column(Oid relid, const char *col, const char *argname)
{
	Oid			type = recs_check_column(relid, col, argname, time_types, lengthof(time_types));

	return psprintf(time_expression(type), quote_identifier(col));
}

WatchSet *
ingest_watches(Oid relid, const WatchColumns *cols, double min_seconds)
{
	static const Oid num_types[] = {FLOAT8OID, FLOAT4OID, NUMERICOID,
	INT8OID, INT4OID, INT2OID};
	KeysFrom	from;
	char	   *lexpr;
	char	   *cexpr;
	Oid			time_type;
	StringInfoData sql;
	WatchSet   *ws = palloc0(sizeof(WatchSet));
	RawWatch   *raw;
	int64		nraw = 0,
				capraw = 4096;
	Portal		portal;
	int64	   *distinct;
	int64		ndistinct;
	int32	   *last_seen;
	int64		w;
	double		est_rows;

	keys_from_init(&from, relid);
	lexpr = keys_id(&from, cols->learner, "learner_column", RECS_SIDE_LEARNER);
	cexpr = keys_id(&from, cols->course, "course_column", RECS_SIDE_COURSE);
	time_type = recs_check_column(relid, cols->time, "time_column",
								  time_types, lengthof(time_types));
	if (cols->seconds)
		recs_check_column(relid, cols->seconds, "seconds_column",
						  num_types, lengthof(num_types));

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s, %s, ", lexpr, cexpr);
	appendStringInfo(&sql, time_expression(time_type), quote_identifier(cols->time));
	if (cols->seconds)
		appendStringInfo(&sql, ", %s::float8", quote_identifier(cols->seconds));
	else
		appendStringInfoString(&sql, ", 0::float8");
	appendStringInfo(&sql, " FROM %s", keys_from(&from));

	portal = recs_open_read_cursor(sql.data, 0, NULL, NULL, &est_rows);

	raw = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(RawWatch) * capraw);
	for (;;)
	{
		SPITupleTable *tt;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = tt->vals[i];
			bool		nl,
						nc,
						nt,
						ns;
			Datum		l = SPI_getbinval(tup, tt->tupdesc, 1, &nl);
			Datum		c = SPI_getbinval(tup, tt->tupdesc, 2, &nc);
			Datum		t = SPI_getbinval(tup, tt->tupdesc, 3, &nt);
			Datum		s = SPI_getbinval(tup, tt->tupdesc, 4, &ns);
			double		tv,
						sv;

			ws->n_read++;
			if (nl || nc)
			{
				ws->n_null_id++;
				continue;
			}
			tv = nt ? NAN : DatumGetFloat8(t);
			if (!isfinite(tv))
			{
				ws->n_bad_time++;
				continue;
			}
			sv = ns ? NAN : DatumGetFloat8(s);
			if (!isfinite(sv) || sv < 0)
			{
				ws->n_bad_seconds++;
				continue;
			}
			if (sv < min_seconds)
			{
				ws->n_short++;
				continue;
			}
			if (nraw == capraw)
			{
				/*
				 * the raw rows now, and the cleaned CSR arrays later; at most
				 * twice that per row for the whole relation (the last doubling)
				 */
				recs_check_memory_growth(2.0 * capraw * (sizeof(RawWatch) + 32),
										 2.0 * est_rows * (sizeof(RawWatch) + 32),
										 "reading the watches");
				capraw *= 2;
				raw = repalloc_huge(raw, sizeof(RawWatch) * capraw);
			}
			raw[nraw].learner = DatumGetInt64(l);
			raw[nraw].course = DatumGetInt64(c);
			raw[nraw].when = tv;
			raw[nraw].seconds = (float) sv;
			nraw++;
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);

	qsort(raw, nraw, sizeof(RawWatch), raw_watch_cmp);
	CHECK_FOR_INTERRUPTS();

	/* dense course ids: the sorted distinct course ids */
	distinct = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(nraw, 1));
	for (int64 i = 0; i < nraw; i++)
		distinct[i] = raw[i].course;
	qsort(distinct, nraw, sizeof(int64), recs_int64_cmp);
	ndistinct = 0;
	for (int64 i = 0; i < nraw; i++)
		if (ndistinct == 0 || distinct[ndistinct - 1] != distinct[i])
			distinct[ndistinct++] = distinct[i];
	if (ndistinct > PG_INT32_MAX / 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many distinct courses: " INT64_FORMAT, ndistinct)));
	ws->n_courses = (int) ndistinct;
	ws->course_ids = palloc(sizeof(int64) * Max(ndistinct, 1));
	memcpy(ws->course_ids, distinct, sizeof(int64) * ndistinct);
	pfree(distinct);

	/* learners and the CSR arrays, dropping repeated (learner, course) pairs */
	ws->learner_ids = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(nraw, 1));
	ws->offsets = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (nraw + 2));
	ws->course = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nraw, 1));
	ws->when = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nraw, 1));
	ws->seconds = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(nraw, 1));
	last_seen = palloc(sizeof(int32) * Max(ndistinct, 1));
	for (int64 i = 0; i < ndistinct; i++)
		last_seen[i] = -1;

	w = 0;
	ws->n_learners = 0;
	ws->first_time = nraw ? raw[0].when : 0;
	ws->last_time = nraw ? raw[0].when : 0;
	for (int64 i = 0; i < nraw; i++)
	{
		int			ci;

		if ((i & 0xFFFF) == 0)
			CHECK_FOR_INTERRUPTS();
		if (i == 0 || raw[i].learner != raw[i - 1].learner)
		{
			ws->learner_ids[ws->n_learners] = raw[i].learner;
			ws->offsets[ws->n_learners] = w;
			ws->n_learners++;
		}
		ci = watchset_course_index(ws, raw[i].course);
		if (last_seen[ci] == ws->n_learners - 1)
		{
			ws->n_duplicate++;
			continue;
		}
		last_seen[ci] = ws->n_learners - 1;
		ws->course[w] = ci;
		ws->when[w] = raw[i].when;
		ws->seconds[w] = raw[i].seconds;
		ws->first_time = Min(ws->first_time, raw[i].when);
		ws->last_time = Max(ws->last_time, raw[i].when);
		w++;
	}
	ws->offsets[ws->n_learners] = w;
	ws->n_watches = w;
	pfree(last_seen);
	pfree(raw);
	return ws;
}

void
ingest_watches_release(WatchSet *ws)
{
	void	  **arrays[] = {(void **) &ws->learner_ids, (void **) &ws->course_ids,
	(void **) &ws->offsets, (void **) &ws->course, (void **) &ws->when, (void **) &ws->seconds};

	for (int i = 0; i < lengthof(arrays); i++)
	{
		if (*arrays[i])
			pfree(*arrays[i]);
		*arrays[i] = NULL;
	}
}

/* the column names as JSON members: "learner": ..., "watch_seconds": ... */
void
ingest_columns_json(JsonOut *j, const WatchColumns *cols)
{
	json_out_string(j, "learner", cols->learner);
	json_out_string(j, "course", cols->course);
	json_out_string(j, "time", cols->time);
	json_out_string(j, "watch_seconds", cols->seconds);
}

/* the counts of what cleaning dropped, as the member "skipped" of j's open object */
void
ingest_skipped_json(JsonOut *j, const WatchSet *ws)
{
	json_out_object(j, "skipped");
	json_out_int(j, "null_id", ws->n_null_id);
	json_out_int(j, "bad_time", ws->n_bad_time);
	json_out_int(j, "bad_watch_seconds", ws->n_bad_seconds);
	json_out_int(j, "short", ws->n_short);
	json_out_int(j, "duplicate", ws->n_duplicate);
	json_out_end(j);
}

/*
 * One NOTICE that accounts for every row read and every row dropped; an
 * error when nothing is left to train on.
 */
void
ingest_report(const WatchSet *ws, const char *what)
{
	ereport(NOTICE,
			(errmsg("%s: read " INT64_FORMAT " watches, kept " INT64_FORMAT
					" (%d learners, %d courses)",
					what, ws->n_read, ws->n_watches, ws->n_learners, ws->n_courses),
			 errdetail("Skipped " INT64_FORMAT " with NULL ids, " INT64_FORMAT
					   " with NULL or infinite time, " INT64_FORMAT
					   " with NULL, NaN, infinite or negative watch time, "
					   INT64_FORMAT " under the watch-time threshold, "
					   INT64_FORMAT " repeated learner-course pairs.",
					   ws->n_null_id, ws->n_bad_time, ws->n_bad_seconds,
					   ws->n_short, ws->n_duplicate)));
	if (ws->n_watches == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches left to train on"),
				 errdetail("Read " INT64_FORMAT " rows; cleaning dropped all of them.", ws->n_read),
				 errhint("Check min_watch_seconds and the column arguments.")));
}
