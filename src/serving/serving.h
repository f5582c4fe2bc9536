/*
 * serving.h -- what serving functions share: resolving the model to serve,
 * a learner's stored state, and popularity scoring (the fallback of every
 * model kind).
 */
#ifndef RECS_SERVING_H
#define RECS_SERVING_H

#include "postgres.h"

typedef struct ServingModel
{
	int64		model_id;
	uint64		stamp;			/* recs.model.cache_token, see serving_cache.h */
	char		kind[16];
} ServingModel;

/* the model deployed in slot; errors with a hint when there is none */
extern void serving_active_model(const char *slot, ServingModel *out);
/* a model by id; errors when it does not exist */
extern void serving_model_by_id(int64 model_id, ServingModel *out);

/* a learner as the model knows them */
typedef struct ServingLearner
{
	int64		learner_id;
	bool		known;
	char	   *language;		/* NULL when unknown */
	int			nwatched;
	int64	   *watched;		/* ascending course ids */
	int			nrecent;		/* watches the caller reports since training */
	int64	   *recent;			/* (recommend's recent argument); may be 0 */
} ServingLearner;

extern void serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out);

/*
 * A model's scores for one learner over the model's course catalogue.
 * course_id is ascending and belongs to the serving cache; score is
 * allocated by the scorer in the caller's memory context.  NaN means the
 * model cannot rank that course for this learner.
 */
typedef struct CourseScores
{
	int			n;
	const int64 *course_id;
	double	   *score;
	/*
	 * A re-ranking blend: the first `pool` eligible courses by `generator`
	 * (its first component's scores) rank first, then the rest, each part by
	 * score.  pool = 0 (every other model): by score alone.
	 */
	int			pool;
	const double *generator;
} CourseScores;

/* scores of every course for the learner, by the model's kind */
extern void serving_score_courses(const ServingModel *m, const ServingLearner *l,
								  CourseScores *out);
/*
 * What serving_score_courses() gives the listed courses (NaN for a course
 * the model cannot rank), at the cost of those courses where the kind
 * allows: a blend's training needs a few courses per learner.
 */
extern void serving_score_listed(const ServingModel *m, const ServingLearner *l, int n,
								 const int64 *course_ids, double *out);
/*
 * The serving order: indexes of the k best eligible courses (skip[i] false),
 * best first -- what recommend() returns and evaluate() measures.
 */
extern int	serving_top_k(const CourseScores *cs, const bool *skip, int k, int *out);
/* index of course_id in the scores' catalogue, or -1 */
extern int	course_scores_index(const CourseScores *cs, int64 course_id);

/* per kind (popularity_serve.c, glmix_model.c, ...) */
extern void popularity_score_courses(const ServingModel *m, const ServingLearner *l,
									 CourseScores *out);
extern void glmix_score_courses(const ServingModel *m, const ServingLearner *l,
								CourseScores *out);
extern void glmix_score_listed(const ServingModel *m, const ServingLearner *l, int n,
							   const int64 *course_ids, double *out);

#endif							/* RECS_SERVING_H */
