/*
 * watches.h -- the one reader of watches: cleaned, deduplicated, dense ids
 *
 * Popularity and NCF read their watches relation through ingest_watches();
 * watches.c says what it accepts, skips and counts.
 */
#ifndef RECS_WATCHES_H
#define RECS_WATCHES_H

#include "postgres.h"

#include "json_out.h"

typedef struct WatchColumns
{
	const char *learner;		/* bigint */
	const char *course;			/* bigint */
	const char *time;			/* timestamptz (or timestamp, date) */
	const char *seconds;		/* numeric watch time; NULL = no such column */
} WatchColumns;

typedef struct WatchSet
{
	int			n_learners;
	int			n_courses;
	int64		n_watches;
	int64	   *learner_ids;	/* dense index -> learner id, ascending */
	int64	   *course_ids;		/* dense index -> course id, ascending */
	/* CSR by learner: watches of learner u are [offsets[u], offsets[u+1]) */
	int64	   *offsets;
	int32	   *course;			/* dense course index */
	double	   *when;			/* epoch seconds; sorted (when, course) per learner */
	float	   *seconds;		/* watch seconds (0 when no column) */
	double		first_time;
	double		last_time;
	/* what cleaning dropped, reported to the user */
	int64		n_read;
	int64		n_null_id;
	int64		n_bad_seconds;	/* NULL, NaN, infinite or negative watch time */
	int64		n_bad_time;		/* NULL or infinite timestamps */
	int64		n_short;		/* under the watch-time threshold */
	int64		n_duplicate;	/* repeated (learner, course) pairs */
} WatchSet;

extern WatchSet *ingest_watches(Oid relid, const WatchColumns *cols,
								double min_seconds);
/*
 * Free ws's per-learner and per-watch arrays once a trainer has copied
 * what it keeps; its counts (and first and last time) stay
 */
extern void ingest_watches_release(WatchSet *ws);
/* a NOTICE with what was read and dropped; an error (02000) when nothing is left */
extern void ingest_report(const WatchSet *ws, const char *what);
/* what cleaning dropped, as the member "skipped" of j's open object */
extern void ingest_skipped_json(JsonOut *j, const WatchSet *ws);
/* a time column of relid checked (42703/42804), as SQL giving unix seconds */
extern char *ingest_time_column(Oid relid, const char *col, const char *argname);
/* the column names as members of j's open object, for a model's params */
extern void ingest_columns_json(JsonOut *j, const WatchColumns *cols);
/*
 * The same cleaning as SQL (watches_sql.c), for trainers that need counts
 * only: rows is "SELECT l, c, t, why" over every row (why 0 kept, 1-4 the
 * reasons ingest_watches skips it), pairs is "SELECT l, c, first" over the
 * kept (learner, course) pairs with their earliest time.  Both group by
 * the learner, so Citus pushes them down to the shards of watches
 * distributed by learner.
 */
typedef struct WatchesSql
{
	char	   *rows;
	char	   *pairs;
} WatchesSql;

extern void ingest_watches_sql(Oid relid, const WatchColumns *cols, double min_seconds,
							   WatchesSql *out);
/*
 * What ingest_watches would read, keep and skip, by aggregates: a WatchSet
 * with its counts, first_time and last_time, and no arrays
 */
extern WatchSet *ingest_watch_counts(const WatchesSql *q);
/* dense index of a course id, or -1 */
extern int	watchset_course_index(const WatchSet *ws, int64 course_id);

#endif							/* RECS_WATCHES_H */
