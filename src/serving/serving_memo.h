/*
 * serving_memo.h -- recommend()'s answers, remembered per backend
 *
 * A model never changes once committed (serving_cache.h), and neither does
 * what it knows of a learner, so recommend(learner, k) of one model version
 * with the default filters always returns the same list: the list is kept
 * and a repeated call answers from it, as a precomputed table would, after
 * the same lookups of the deployment and the model's catalog row (so an
 * activation, a dropped model, a restored dump or a forgotten learner --
 * which gives the model a new cache_token -- is seen at the next call).
 * Calls with exclude, candidates or recent are computed every time.
 */
#ifndef RECS_SERVING_MEMO_H
#define RECS_SERVING_MEMO_H

#include "postgres.h"

#include "serving.h"

/* the most recommendations one remembered answer holds */
#define SERVING_MEMO_MAX_K 100

typedef struct ServingMemoKey
{
	int64		model_id;
	uint64		stamp;
	int64		learner_id;
	int32		k;
	bool		exclude_watched;
} ServingMemoKey;

/* the remembered answer (n rows), or NULL */
extern bool serving_memo_get(const ServingMemoKey *key, int *n, const int64 **course_id,
							 const double **score);
/* remember an answer of n rows; does nothing when the memo is disabled */
extern void serving_memo_put(const ServingMemoKey *key, int n, const int64 *course_id,
							 const double *score);
/* recs.answer_cache_size, defined at load time */
extern void serving_memo_define_guc(void);

#endif							/* RECS_SERVING_MEMO_H */
