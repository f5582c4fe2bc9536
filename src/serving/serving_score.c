/*
 * serving_score.c -- scores through a model's kind, and the serving order
 *
 * recommend(), recommend_all(), score(), evaluate(), explanations and the
 * blend all score through these: the kind's routine when it has one, else
 * the generic path (a listed course's score is its entry in the catalogue's
 * scores; a pair's is the listed score of its course).  serving_top_k is
 * the one serving order: the k best eligible courses, ties to the smaller
 * course id, a re-ranking blend's pool first.
 */
#include "postgres.h"

#include <math.h>

#include "sorted_ids.h"
#include "serving.h"
#include "topk.h"

void
serving_score_courses(const ServingModel *m, const ServingLearner *l, CourseScores *out)
{
	memset(out, 0, sizeof(*out));
	if (m->routine->score_courses == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recs model " INT64_FORMAT " is a %s model, which cannot rank courses on its own",
						m->model_id, m->kind)));
	m->routine->score_courses(m, l, out);
}

void
serving_score_listed(const ServingModel *m, const ServingLearner *l, int n,
					 const int64 *course_ids, double *out)
{
	CourseScores cs;

	if (m->routine->score_listed)
	{
		m->routine->score_listed(m, l, n, course_ids, out);
		return;
	}
	serving_score_courses(m, l, &cs);
	for (int i = 0; i < n; i++)
	{
		int			c = course_scores_index(&cs, course_ids[i]);

		out[i] = c >= 0 ? cs.score[c] : NAN;
	}
	pfree(cs.score);
}

double
serving_score_pair(const ServingModel *m, int64 learner_id, int64 course_id)
{
	ServingLearner l;
	double		s;

	if (m->routine->score_pair)
		return m->routine->score_pair(m, learner_id, course_id);
	serving_learner(m, learner_id, &l);
	serving_score_listed(m, &l, 1, &course_id, &s);
	return s;
}

bool
serving_embeddings(const ServingModel *m, ServingModel *out)
{
	return m->routine->embeddings != NULL && m->routine->embeddings(m, out);
}

int
serving_top_k(const CourseScores *cs, const bool *skip, int k, int *out)
{
	int		   *cand;
	bool	   *outside;
	int			ncand;
	int			n;

	k = Min(k, cs->n);
	if (cs->pool <= 0 || cs->generator == NULL)
		return topk_select(cs->score, skip, cs->n, k, out);

	/* the pool: the generator's best eligible courses */
	cand = palloc(sizeof(int) * Max(Min(cs->pool, cs->n), 1));
	ncand = topk_select(cs->generator, skip, cs->n, Min(cs->pool, cs->n), cand);
	outside = palloc(sizeof(bool) * Max(cs->n, 1));
	memset(outside, true, sizeof(bool) * cs->n);
	for (int i = 0; i < ncand; i++)
		outside[cand[i]] = false;
	n = topk_select(cs->score, outside, cs->n, Min(k, ncand), out);
	if (n >= k)
		return n;

	/* then everything else eligible */
	for (int i = 0; i < cs->n; i++)
		outside[i] = !outside[i] || (skip && skip[i]);
	return n + topk_select(cs->score, outside, cs->n, k - n, out + n);
}

int
course_scores_index(const CourseScores *cs, int64 course_id)
{
	return recs_find_int64(cs->course_id, cs->n, course_id);
}
