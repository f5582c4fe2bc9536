/*
 * serving_score.c -- scores through a model's kind, and the serving order
 *
 * recommend(), recommend_all(), score(), evaluate(), explanations and the
 * blend all score through these: the kind's routine when it has one, else
 * the generic path (a listed course's score is its entry in the catalogue's
 * scores; a pair's is the listed score of its course).  serving_top_k is
 * the one serving order: the k best eligible courses, ties to the smaller
 * course id, a re-ranking blend's pool first.
 *
 * A re-ranking blend ranks its pool (the first component's best eligible
 * courses) before every other course whatever their blend scores, so its
 * raw scores are not monotone in rank.  serving_rerank_scores makes the
 * served score monotone with one documented shift: when the best eligible
 * course outside the pool scores at or above the pool's lowest, every
 * course outside the pool moves down by the same amount, to one below the
 * pool's lowest.  The pool keeps the blend's logits (what explain sums),
 * the order within each part is unchanged, and recs.score() shifts as a
 * default recommend() call does (its eligibility: the unwatched courses).
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
	CourseScores cs;
	bool	   *skip;
	double		s;
	int			c;

	if (m->routine->score_pair)
		return m->routine->score_pair(m, learner_id, course_id);
	serving_learner(m, learner_id, &l);
	if (m->routine->score_listed)
	{
		serving_score_listed(m, &l, 1, &course_id, &s);
		return s;
	}
	serving_score_courses(m, &l, &cs);
	if (cs.pool > 0 && cs.generator != NULL)
	{
		/* a re-ranking blend's served score: the shift of a default recommend() */
		skip = palloc0(sizeof(bool) * Max(cs.n, 1));
		for (int i = 0; i < l.nwatched; i++)
		{
			int			w = course_scores_index(&cs, l.watched[i]);

			if (w >= 0)
				skip[w] = true;
		}
		serving_rerank_scores(&cs, skip);
	}
	c = course_scores_index(&cs, course_id);
	return c >= 0 ? cs.score[c] : NAN;
}

void
serving_rerank_scores(CourseScores *cs, const bool *skip)
{
	int		   *cand;
	bool	   *in_pool;
	int			ncand;
	double		min_in = INFINITY;
	double		max_out = -INFINITY;
	double		shift;

	if (cs->pool <= 0 || cs->generator == NULL || cs->n == 0)
		return;
	/* the pool, as serving_top_k draws it */
	cand = palloc(sizeof(int) * Max(Min(cs->pool, cs->n), 1));
	ncand = topk_select(cs->generator, skip, cs->n, Min(cs->pool, cs->n), cand);
	in_pool = palloc0(sizeof(bool) * cs->n);
	for (int i = 0; i < ncand; i++)
	{
		in_pool[cand[i]] = true;
		if (!isnan(cs->score[cand[i]]))
			min_in = Min(min_in, cs->score[cand[i]]);
	}
	for (int i = 0; i < cs->n; i++)
		if (!in_pool[i] && !(skip && skip[i]) && !isnan(cs->score[i]))
			max_out = Max(max_out, cs->score[i]);
	if (!isfinite(min_in) || !isfinite(max_out) || max_out < min_in)
		return;
	shift = max_out - min_in + 1.0;
	for (int i = 0; i < cs->n; i++)
		if (!in_pool[i])
			cs->score[i] -= shift;
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
