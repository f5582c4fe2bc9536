/*
 * sample_data.c -- recs.generate_sample(): a realistic, seeded learning platform
 *
 * Builds four tables in a schema of the caller's choosing -- courses,
 * learners, watches, impressions -- from a small generative model of a
 * course platform, so that the demo, the tests and the benchmarks all have
 * data with the structure real data has:
 *
 *   courses   topic, language, difficulty, skills, duration; a heavy-tailed
 *             appeal (a few courses are very popular), a publication date
 *             after which interest decays, and a "bait" trait: courses that
 *             get clicked but not watched for long.
 *   learners  language, industry (which tilts topic interests), segment
 *             (job seeker / enterprise / individual), preferred topics and
 *             skills, and a heavy-tailed activity level.
 *   watches   over `days` days: each learner watches courses of preferred
 *             topics, mostly in their language, progressing from beginner to
 *             advanced within a topic; 12% are short noise watches (under a
 *             minute) of random courses, which the watch-time threshold
 *             removes.
 *   impressions  courses shown to learners, with clicks driven by topic,
 *             language, difficulty fit and appeal; bookmarks; watch time
 *             after a click that follows what the features show (short for
 *             bait courses, longer at the learner's level, in their language,
 *             on a preferred topic); and the channel (home, feed, search)
 *             each was shown on, with its own click rate.
 *
 * With platform => true the courses also form series (series_id,
 * series_part: parts published in order, at rising levels, which learners
 * follow in order) and many learners take a break longer than a year and
 * come back (sample_gen.c); without it the tables are exactly as before.
 *
 * Everything is drawn from one RecsRng seeded by `seed` (sample_gen.c; the
 * channels from a second one derived from it): the same arguments give the
 * same tables, byte for byte.  This file is the SQL
 * entry: the arguments checked, the tables created, the rows inserted.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "options.h"
#include "spi_util.h"
#include "rng.h"
#include "sample.h"

#define DAY 86400.0

static void
run_sql(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
}

/* the four tables, empty, in schema qs (quoted) */
static void
create_tables(const char *qs, bool platform)
{
	run_sql(psprintf("CREATE SCHEMA IF NOT EXISTS %s;"
					 "CREATE TABLE %s.courses (course_id bigint PRIMARY KEY, title text NOT NULL,"
					 " language text NOT NULL, topic text NOT NULL, difficulty text NOT NULL,"
					 " skills text[] NOT NULL, duration_minutes integer NOT NULL,"
					 " published_at timestamptz NOT NULL%s);"
					 "CREATE TABLE %s.learners (learner_id bigint PRIMARY KEY, language text NOT NULL,"
					 " industry text NOT NULL, segment text NOT NULL, skills text[] NOT NULL,"
					 " joined_at timestamptz NOT NULL);"
					 "CREATE TABLE %s.watches (learner_id bigint NOT NULL, course_id bigint NOT NULL,"
					 " watched_at timestamptz NOT NULL, watch_seconds float8 NOT NULL);"
					 "CREATE TABLE %s.impressions (learner_id bigint NOT NULL, course_id bigint NOT NULL,"
					 " shown_at timestamptz NOT NULL, clicked boolean NOT NULL,"
					 " bookmarked boolean NOT NULL, watch_seconds float8, channel text NOT NULL);",
					 qs, qs, platform ? ", series_id integer, series_part integer" : "",
					 qs, qs, qs));
}

/* the rows inserted, then the indexes and statistics */
static void
insert_tables(const char *qs, const SampleTables *t)
{
	const Columns *cc = &t->courses,
			   *lc = &t->learners,
			   *wc = &t->watches,
			   *ic = &t->impressions;

	if (cc->ncols == 10)
		recs_insert_columns(psprintf("INSERT INTO %s.courses SELECT a, b, c, d, e, string_to_array(f, ','), g, h, i, j"
									 " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
									 " AS u(a, b, c, d, e, f, g, h, i, j)", qs),
							10, cc->types, cc->values, (const bool *const *) cc->nulls, cc->n);
	else
		recs_insert_columns(psprintf("INSERT INTO %s.courses SELECT a, b, c, d, e, string_to_array(f, ','), g, h"
									 " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) AS u(a, b, c, d, e, f, g, h)", qs),
							8, cc->types, cc->values, NULL, cc->n);
	recs_insert_columns(psprintf("INSERT INTO %s.learners SELECT a, b, c, d, array(SELECT DISTINCT s FROM"
								 " unnest(string_to_array(e, ',')) s ORDER BY s), f"
								 " FROM unnest($1, $2, $3, $4, $5, $6) AS u(a, b, c, d, e, f)", qs),
						6, lc->types, lc->values, NULL, lc->n);
	recs_insert_columns(psprintf("INSERT INTO %s.watches SELECT * FROM unnest($1, $2, $3, $4)", qs),
						4, wc->types, wc->values, NULL, wc->n);
	recs_insert_columns(psprintf("INSERT INTO %s.impressions SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7)", qs),
						7, ic->types, ic->values, (const bool *const *) ic->nulls, ic->n);
	run_sql(psprintf("CREATE INDEX ON %s.watches (learner_id, watched_at);"
					 "CREATE INDEX ON %s.impressions (learner_id, shown_at);"
					 "ANALYZE %s.courses; ANALYZE %s.learners;"
					 "ANALYZE %s.watches; ANALYZE %s.impressions;",
					 qs, qs, qs, qs, qs, qs));
}

PG_FUNCTION_INFO_V1(generate_sample_data);
Datum
generate_sample_data(PG_FUNCTION_ARGS)
{
	static const char *const argnames[] = {"target_schema", "learners", "courses", "seed", "days", "end_at"};
	int32		nlearners;
	int32		ncourses;
	int32		days;
	bool		platform;
	double		start,
				end;
	const char *qs;
	RecsRng		rng;
	SampleTables tables;
	int			spi_level;

	for (int a = 0; a < lengthof(argnames); a++)
		recs_require_arg(fcinfo, a, argnames[a]);
	nlearners = PG_GETARG_INT32(1);
	ncourses = PG_GETARG_INT32(2);
	days = PG_GETARG_INT32(4);
	end = recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(5));
	if (nlearners < 1 || nlearners > 10000000 || ncourses < 12 || ncourses > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample size out of range: %d learners, %d courses", nlearners, ncourses),
				 errhint("Use 1 to 10000000 learners and 12 to 1000000 courses.")));
	if (days < 30 || days > 3650)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days must be between 30 and 3650, not %d", days)));
	start = end - days * DAY;
	if (!isfinite(end) || TIMESTAMP_NOT_FINITE(recs_epoch_to_timestamptz(start)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end_at must be a finite timestamp at least %d days after the earliest one", days)));
	qs = quote_identifier(NameStr(*PG_GETARG_NAME(0)));

	/* 0.3.0's SQL declaration, until ALTER EXTENSION UPDATE, passes six arguments */
	platform = PG_NARGS() > 6 && !PG_ARGISNULL(6) && PG_GETARG_BOOL(6);

	spi_level = recs_spi_connect();
	create_tables(qs, platform);
	rng_seed(&rng, (uint64) PG_GETARG_INT64(3));
	sample_generate(&rng, nlearners, ncourses, start, end, platform, &tables);
	insert_tables(qs, &tables);
	recs_spi_finish(spi_level);
	PG_RETURN_VOID();
}
