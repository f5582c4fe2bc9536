/*
 * recommend.c -- recs.recommend(learner_id, k) and recs.score(model,
 * learner, course): the serving core's SQL functions
 *
 * Serving reads the model deployed in a slot ("default" unless the caller
 * names another, or a model by id) (one unique-index
 * lookup per call, so activation takes effect at the next call after
 * commit) and the learner's stored state (serving_model.c), without SQL;
 * the model's course-side parts come from the per-backend serving cache, so
 * a call never scans a model table and, once the parts are cached, runs no
 * query at all.  The result is materialised in one pass.
 *
 * Every model kind provides scores over its course catalogue
 * (serving_score_courses, through the kind's routines); recommend() applies the caller's eligibility
 * rules -- only the candidates, none excluded, nothing already watched --
 * and keeps the k best with a bounded heap (topk.c), ties to the smaller
 * course id.  Behaviour that callers rely on (documented in README):
 *   - NULL learner_id or k, and k < 1, are errors;
 *   - k larger than the eligible catalogue returns all of it;
 *   - a learner the model does not know is served as a cold start.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"

#include "serving.h"
#include "serving_memo.h"

/*
 * recs.score(model, learner, course, slot): the model's score of one pair,
 * the number recommend() ranks by -- an NCF dot product, a GLMix
 * probability, a popularity share, a blend's logit.  NULL for a course the
 * model cannot place (a course newer than the model), so that scoring a
 * whole catalogue never fails on one new course; NULL too when an argument
 * is NULL (the function was STRICT before slot).
 */
PG_FUNCTION_INFO_V1(score_pair);
Datum
score_pair(PG_FUNCTION_ARGS)
{
	ServingModel m;
	double		s;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	if (!serving_model_arg(fcinfo, 0, 3, false, &m))
		PG_RETURN_NULL();
	s = serving_score_pair(&m, PG_GETARG_INT64(1), PG_GETARG_INT64(2));
	if (isnan(s))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(s);
}

/*
 * recs._serving_model_id(model, slot): the model id a serving call of the
 * install script names, by the rule of serving_model_arg (neither: the
 * default slot).
 */
PG_FUNCTION_INFO_V1(serving_model_id);
Datum
serving_model_id(PG_FUNCTION_ARGS)
{
	ServingModel m;

	serving_model_arg(fcinfo, 0, 1, true, &m);
	PG_RETURN_INT64(m.model_id);
}

/* mark (or with value false, unmark) the catalogue entries of an id array */
static void
mark_ids(const CourseScores *cs, ArrayType *ids, bool *skip, bool value)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(ids, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		int			c;

		if (nulls[i])
			continue;
		c = course_scores_index(cs, DatumGetInt64(elems[i]));
		if (c >= 0)
			skip[c] = value;
	}
}

/* recommend()'s rows: rank, course, score */
static void
put_rows(ReturnSetInfo *rsinfo, int n, const int64 *ids, const double *scores)
{
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int64GetDatum(ids[i]);
		values[2] = Float8GetDatum(scores[i]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* ---- the SQL function ---- */

PG_FUNCTION_INFO_V1(recommend);
Datum
recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		learner_id;
	int32		k;
	bool		exclude_watched = PG_ARGISNULL(2) ? true : PG_GETARG_BOOL(2);
	ServingModel model;
	ServingLearner learner;
	CourseScores cs;
	bool	   *skip;
	int		   *top;
	int			n;
	bool		memo;
	ServingMemoKey key;
	const int64 *memo_ids;
	const double *memo_scores;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("learner_id must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL"),
				 errhint("Omit k to get the default of 10 recommendations.")));
	learner_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));

	InitMaterializedSRF(fcinfo, 0);

	serving_model_arg(fcinfo, 5, 7, true, &model);

	/* the default filters: an answer of this model version may be remembered */
	memo = PG_ARGISNULL(3) && PG_ARGISNULL(4) && PG_ARGISNULL(6) && k <= SERVING_MEMO_MAX_K;
	if (memo)
	{
		memset(&key, 0, sizeof(key));	/* the key is hashed as bytes */
		key.model_id = model.model_id;
		key.stamp = model.stamp;
		key.learner_id = learner_id;
		key.k = k;
		key.exclude_watched = exclude_watched;
		if (serving_memo_get(&key, &n, &memo_ids, &memo_scores))
		{
			put_rows(rsinfo, n, memo_ids, memo_scores);
			return (Datum) 0;
		}
	}
	serving_learner(&model, learner_id, &learner);
	if (!PG_ARGISNULL(6))
	{
		Datum	   *elems;
		bool	   *nulls;
		int			nr;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(6), INT8OID, 8, true, TYPALIGN_DOUBLE,
						  &elems, &nulls, &nr);
		learner.recent = palloc(sizeof(int64) * Max(nr, 1));
		for (int i = 0; i < nr; i++)
			if (!nulls[i])
				learner.recent[learner.nrecent++] = DatumGetInt64(elems[i]);
	}
	serving_score_courses(&model, &learner, &cs);

	/* eligibility: the candidates first, then the exclusions */
	skip = palloc(sizeof(bool) * Max(cs.n, 1));
	memset(skip, !PG_ARGISNULL(4), sizeof(bool) * Max(cs.n, 1));
	if (!PG_ARGISNULL(4))
		mark_ids(&cs, PG_GETARG_ARRAYTYPE_P(4), skip, false);
	if (!PG_ARGISNULL(3))
		mark_ids(&cs, PG_GETARG_ARRAYTYPE_P(3), skip, true);
	if (exclude_watched)
		for (int i = 0; i < learner.nwatched + learner.nrecent; i++)
		{
			int			c = course_scores_index(&cs, i < learner.nwatched ? learner.watched[i]
												: learner.recent[i - learner.nwatched]);

			if (c >= 0)
				skip[c] = true;
		}

	k = Min(k, cs.n);
	top = palloc(sizeof(int) * Max(k, 1));
	serving_rerank_scores(&cs, skip);
	n = serving_top_k(&cs, skip, k, top);

	{
		int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
		double	   *scores = palloc(sizeof(double) * Max(n, 1));

		for (int i = 0; i < n; i++)
		{
			ids[i] = cs.course_id[top[i]];
			scores[i] = cs.score[top[i]];
		}
		put_rows(rsinfo, n, ids, scores);
		if (memo)
			serving_memo_put(&key, n, ids, scores);
	}
	return (Datum) 0;
}
