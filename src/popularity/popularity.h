/*
 * popularity.h -- the popularity-by-language model
 *
 * popularity_train.c is the SQL entry (options and the learners' languages,
 * then fit -> store); popularity_fit.c counts and smooths (no SPI);
 * popularity_store.c writes the model tables; popularity_serve.c serves it
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

/* per language group (the last is everyone), what the window saw */
typedef struct PopularityCounts
{
	int			ngroups;		/* languages + 1 */
	int			ncourses;
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

/* ---- popularity_store.c: the model tables ---- */
/* recs.course_popularity: courses watched in the window, per group with anyone active */
extern void popularity_store_scores(int64 model_id, const WatchSet *ws, const LearnerLanguages *ll,
									const PopularityCounts *pc, double alpha);
/*
 * recs.model_learner: every learner with watches (their courses up to
 * through) and every learner with a language; returns how many
 */
extern int	popularity_store_learners(int64 model_id, const WatchSet *ws,
									  const LearnerLanguages *ll, double through);

/* ---- popularity_serve.c: the serving routines ---- */
extern const ServingKind popularity_kind;

#endif							/* RECS_POPULARITY_H */
