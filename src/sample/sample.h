/*
 * sample.h -- the sample-data generator's world and its output columns
 *
 * sample_gen.c draws a platform (courses, learners, their watches and
 * impressions) from one seeded generator, with no SPI; sample_data.c is the
 * SQL entry recs.generate_sample() that creates the tables and inserts the
 * rows.
 */
#ifndef RECS_SAMPLE_H
#define RECS_SAMPLE_H

#include "postgres.h"

#include "rng.h"

/* Growable columns of one output table. */
typedef struct Columns
{
	int			ncols;
	int64		n;
	int64		cap;
	Oid			types[10];
	Datum	   *values[10];
	bool	   *nulls[10];
} Columns;

/* the four tables' rows, in column order (see sample_data.c for the DDL) */
typedef struct SampleTables
{
	Columns		courses;		/* course_id, title, language, topic, difficulty, skills (csv),
								 * duration, published_at (platform: series_id, series_part) */
	Columns		learners;		/* learner_id, language, industry, segment, skills (csv), joined_at */
	Columns		watches;		/* learner_id, course_id, watched_at, watch_seconds */
	Columns		impressions;	/* learner_id, course_id, shown_at, clicked, bookmarked, watch_seconds, channel */
} SampleTables;

/*
 * every row of the sample, drawn from rng over [end - days, end]; platform
 * adds course series and learners' long breaks (sample_gen.c)
 */
extern void sample_generate(RecsRng *rng, int nlearners, int ncourses, double start, double end,
							bool platform, SampleTables *out);

#endif							/* RECS_SAMPLE_H */
