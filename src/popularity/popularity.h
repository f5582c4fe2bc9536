/*
 * popularity.h -- the popularity-by-language model
 *
 * popularity_train.c is the SQL entry (options and the learners' languages,
 * then fit -> store); popularity_fit.c counts and smooths (no SPI);
 * popularity_pushdown.c has the database count instead, for watches a
 * Citus cluster distributes; popularity_store.c writes the model tables; popularity_serve.c serves it
 * through the serving core (popularity_kind).
 */
#ifndef RECS_POPULARITY_H
#define RECS_POPULARITY_H

#include "postgres.h"

#include "serving.h"
#include "watches.h"

#define POPULARITY_MAX_LANGUAGES 1000

/* language of each learner, read from the learners relation */
typedef struct LearnerLanguages
{
	int			n;				/* learners in the relation */
	int64	   *ids;			/* sorted ascending */
	int		   *lang;			/* index into names, -1 = none */
	int			nnames;
	char	  **names;
} LearnerLanguages;

/*
 * per language group (the last is everyone), what the window saw: counted
 * in C from a WatchSet (popularity_fit.c) or by the database
 * (popularity_pushdown.c)
 */
typedef struct PopularityCounts
{
	int			ngroups;		/* languages + 1 */
	char	  **names;			/* [group]: its language; NULL for everyone */
	int			ncourses;
	int64	   *course_ids;		/* [course], ascending */
	int		   *watchers;		/* [group][course]: learners whose first watch is in the window */
	int		   *active;			/* [group]: learners with a watch in the window */
	int64		used;			/* watches in the window: what the scores count */
} PopularityCounts;

/* ---- popularity_fit.c: numerics, no SPI ---- */
/* the index of a language name in ll, added when new */
extern int	popularity_language_index(LearnerLanguages *ll, const char *name);
/* watchers and active learners per group in the window (since, through] */
extern void popularity_count(const WatchSet *ws, const LearnerLanguages *ll, double since,
							 double through, PopularityCounts *pc);
/* the smoothed share of group g's active learners who watched course c */
extern double popularity_score(const PopularityCounts *pc, int g, int c, double alpha);

/*
 * ---- popularity_pushdown.c: the same counts by SQL aggregates, for watches
 * distributed by Citus (pushed down to the shards) ----
 */
/*
 * The SQL of each learner's language, "SELECT l, lang" (lang NULL for none
 * or ''), one row per learner of the learners relation
 */
extern char *popularity_languages_sql(Oid relid, const char *idcol, const char *idarg,
									  const char *langcol);
/* popularity_count's counts from the pairs of ingest_watches_sql (langs NULL: none) */
extern void popularity_count_sql(const WatchesSql *watches, const char *langs, double since,
								 double through, PopularityCounts *pc);
/* popularity_store_learners's rows, by one INSERT ... SELECT; returns how many */
extern int64 popularity_store_learners_sql(int64 model_id, const WatchesSql *watches,
										   const char *langs, double through);

/* ---- popularity_store.c: the model tables ---- */
/* recs.course_popularity: courses watched in the window, per group with anyone active */
extern void popularity_store_scores(int64 model_id, const PopularityCounts *pc, double alpha);
/*
 * recs.model_learner: every learner with watches (their courses up to
 * through) and every learner with a language; returns how many
 */
extern int	popularity_store_learners(int64 model_id, const WatchSet *ws,
									  const LearnerLanguages *ll, double through);

/* ---- popularity_serve.c: the serving routines ---- */
extern const ServingKind popularity_kind;

#endif							/* RECS_POPULARITY_H */
