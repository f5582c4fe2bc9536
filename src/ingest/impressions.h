/*
 * impressions.h -- the one reader of impressions (labelled learner-course rows)
 *
 * GLMix, the blend and evaluate read their impressions, validation and test
 * relations through ingest_impressions(); impressions.c says what it
 * accepts, skips, counts and refuses.
 */
#ifndef RECS_IMPRESSIONS_H
#define RECS_IMPRESSIONS_H

#include "postgres.h"

#define IMPRESSIONS_MAX_LABELS 2
#define IMPRESSIONS_MAX_KEYS 8
#define IMPRESSIONS_MAX_KEY_VALUES 100000

/*
 * Called before the row arrays grow to new_cap rows (after `rows` rows of
 * `learners` distinct learners were kept; est_rows is the planner's count
 * of the relation): the caller's recs.memory_limit check.
 */
typedef void (*ImpressionBudgetFn) (void *arg, int64 rows, int64 new_cap, int64 learners,
									double est_rows);

/* what to read, and how */
typedef struct ImpressionSpec
{
	const char *learner;		/* learner id column (argument learner_column) */
	const char *course;			/* course id column (course_column) */
	/* label columns, OR-ed; none: every row is a positive */
	int			nlabels;
	const char *label[IMPRESSIONS_MAX_LABELS];
	const char *label_arg[IMPRESSIONS_MAX_LABELS];	/* argument names, for errors */
	const char *time;			/* NULL, or read only the rows shown after since */
	double		since;
	double		through;		/* with time: leave out rows shown after it */
	const char *seconds;		/* NULL, or weight positives by their watch time */
	const char *weight;			/* NULL, or a weight column */
	const char *negatives;		/* NULL, or a bigint[] column of negative courses */
	/* key columns (any type, read as text): each row's value as an index */
	int			nkeys;
	const char *key[IMPRESSIONS_MAX_KEYS];
	bool		sorted;			/* rows in (learner, course) order */
	int64		initial_rows;	/* first size of the row arrays */
	ImpressionBudgetFn budget;	/* NULL: no check */
	void	   *budget_arg;
} ImpressionSpec;

typedef struct ImpressionSet
{
	int64		n;				/* rows kept */
	int64	   *learner_id;
	int64	   *course_id;
	double	   *y;				/* 0 or 1 */
	double	   *w;				/* weight (1 without seconds and weight columns) */
	/* with a negatives column: row r's are neg[neg_start[r] .. neg_start[r + 1]) */
	int64	   *neg_start;
	int64	   *neg;
	/* key column k: row r's value is key_values[k][key[k][r]], -1 NULL */
	int32	   *key[IMPRESSIONS_MAX_KEYS];
	char	  **key_values[IMPRESSIONS_MAX_KEYS];	/* distinct, ascending bytewise */
	int			key_nvalues[IMPRESSIONS_MAX_KEYS];
	int64		n_positive;
	int64		n_watch_weighted;	/* positives weighted by watch time */
	int64		n_learners;		/* distinct learners (when sorted; else runs) */
	/* counts of the cleaning, reported to the user */
	int64		n_read;
	int64		n_null_id;
	int64		n_null_label;
	int64		n_bad_time;
	int64		n_after_through;	/* left out, not skipped: shown after through */
	double		t_max;			/* latest time of a kept row; NaN: none or no time */
} ImpressionSet;

/* an ImpressionSpec with the defaults: no labels, no time, unsorted */
extern void impressions_spec_init(ImpressionSpec *spec, const char *learner, const char *course);
/* add a label column (at most IMPRESSIONS_MAX_LABELS, OR-ed) */
extern void impressions_spec_label(ImpressionSpec *spec, const char *column, const char *argname);

extern ImpressionSet *ingest_impressions(Oid relid, const ImpressionSpec *spec);
/* a row's label from its label columns' values: 0, 1, or NaN for a NULL label */
extern double impressions_label(int nlabels, const double *v, const bool *isnull,
								int64 learner, int64 course, const char *relname);
/* a kept row's weight: watch time (positives, has_seconds) times the weight column */
extern double impressions_weight(double y, bool has_seconds, double s, bool snull,
								 bool has_weight, double v, bool wnull,
								 int64 learner, int64 course, const char *relname);
/* the rows skipped: NULL ids, NULL labels and bad times */
extern int64 impressions_skipped(const ImpressionSet *set);
/* a NOTICE "what: read N rows, kept K" with the reasons, when rows were skipped */
extern void impressions_report(const ImpressionSet *set, const char *what);
/* a label column checked (boolean, or a number that must be 0 or 1), as float8 SQL */
extern char *impressions_label_expression(Oid relid, const char *col, const char *argname);
/* a watch time or weight column checked (a number), as float8 SQL */
extern char *impressions_number_expression(Oid relid, const char *col, const char *argname);

#endif							/* RECS_IMPRESSIONS_H */
