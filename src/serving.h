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
	uint32		stamp;			/* xmin of the catalog row, see serving_cache.h */
	char		kind[16];
} ServingModel;

/* the model deployed in slot; errors with a hint when there is none */
extern void serving_active_model(const char *slot, ServingModel *out);

/* a learner as the model knows them */
typedef struct ServingLearner
{
	bool		known;
	char	   *language;		/* NULL when unknown */
	int			nwatched;
	int64	   *watched;		/* ascending course ids */
} ServingLearner;

extern void serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out);

/* one recommendation */
typedef struct Recommendation
{
	int64		course_id;
	double		score;
} Recommendation;

/*
 * Top k popular courses for the learner's language, skipping the courses the
 * learner watched; returns how many were found (at most k).
 */
extern int	popularity_recommend(const ServingModel *m, const ServingLearner *l,
								 int k, Recommendation *out);

#endif							/* RECS_SERVING_H */
