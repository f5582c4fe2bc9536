/*
 * recommend.c -- recs.recommend(learner_id, k): top k courses for a learner
 *
 * Serving reads the model deployed in the "default" slot (one indexed
 * lookup per call, so activation takes effect at the next call after
 * commit) and the learner's stored state; the model's course-side parts
 * come from the per-backend serving cache, so a call never scans a model
 * table.  The result is materialised in one pass.
 *
 * Every model kind provides scores over its course catalogue
 * (serving_score_courses); recommend() applies the caller's eligibility
 * rules -- only the candidates, none excluded, nothing already watched --
 * and keeps the k best with a bounded heap (topk.c), ties to the smaller
 * course id.  Behaviour that callers rely on (documented in README):
 *   - NULL learner_id or k, and k < 1, are errors;
 *   - k larger than the eligible catalogue returns all of it;
 *   - a learner the model does not know is served as a cold start.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "recs.h"
#include "blend.h"
#include "glmix.h"
#include "ncf.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "topk.h"

/* ---- model resolution and learner state ---- */

/* fill a ServingModel from a (model_id, cache_token, kind) row of the last SPI query */
static void
model_from_row(ServingModel *out)
{
	HeapTuple	tup = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;

	out->model_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	out->stamp = (uint64) DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	strlcpy(out->kind, SPI_getvalue(tup, desc, 3), sizeof(out->kind));
}

/*
 * Whether recs.model has cache_token (0.2.1 on).  The library also serves an
 * extension not yet updated from 0.2.0 or 0.1.0; there the row's xmin keys
 * the cache, as it did then.
 */
static bool
model_has_cache_token(void)
{
	Oid			nsp = get_namespace_oid("recs", false);
	Oid			relid = get_relname_relid("model", nsp);

	return OidIsValid(relid) && get_attnum(relid, "cache_token") != InvalidAttrNumber;
}

void
serving_active_model(const char *slot, ServingModel *out)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(slot)};
	int			rc;
	static SPIPlanPtr plan = NULL;

	static SPIPlanPtr plan_before_021 = NULL;

	if (model_has_cache_token())
		rc = recs_execute_kept_plan(&plan, "SELECT m.model_id, m.cache_token, m.kind "
									"FROM recs.deployment d JOIN recs.model m USING (model_id) "
									"WHERE d.slot = $1", 1, types, values, 1);
	else
		rc = recs_execute_kept_plan(&plan_before_021, "SELECT m.model_id, m.xmin::text::int8, m.kind "
									"FROM recs.deployment d JOIN recs.model m USING (model_id) "
									"WHERE d.slot = $1", 1, types, values, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.deployment: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no recs model is active in slot \"%s\"", slot),
				 errhint("Train one, e.g. SELECT recs.train_popularity('my.watches', 'my.learners'), "
						 "or activate one with recs.activate(model_id).")));
	model_from_row(out);
}

void
serving_model_by_id(int64 model_id, ServingModel *out)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	int			rc;
	static SPIPlanPtr plan = NULL;

	static SPIPlanPtr plan_before_021 = NULL;

	if (model_has_cache_token())
		rc = recs_execute_kept_plan(&plan, "SELECT m.model_id, m.cache_token, m.kind "
									"FROM recs.model m WHERE m.model_id = $1", 1, types, values, 1);
	else
		rc = recs_execute_kept_plan(&plan_before_021, "SELECT m.model_id, m.xmin::text::int8, m.kind "
									"FROM recs.model m WHERE m.model_id = $1", 1, types, values, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("recs model " INT64_FORMAT " does not exist", model_id),
				 errhint("SELECT * FROM recs.models lists the trained models.")));
	model_from_row(out);
}

/*
 * A learner's stored state (recs.model_learner), read per call.  Validated:
 * watched is a one-dimensional array without NULLs; its course ids need
 * not be in the model (serving looks each one up).
 */
void
serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(m->model_id), Int64GetDatum(learner_id)};
	static SPIPlanPtr plan = NULL;
	bool		isnull;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	MemoryContext callercxt = CurrentMemoryContext;

	memset(out, 0, sizeof(*out));
	out->learner_id = learner_id;
	rc = recs_execute_kept_plan(&plan, "SELECT language, watched FROM recs.model_learner "
								"WHERE model_id = $1 AND learner_id = $2", 2, types, values, 1);
	/* SPI leaves its own context current: the result belongs to the caller's */
	MemoryContextSwitchTo(callercxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model_learner: %s", SPI_result_code_string(rc));

	/*
	 * The result is copied out and freed: callers that loop over learners
	 * in one SPI connection (a blend's training, evaluate) would otherwise
	 * keep one result per call until SPI_finish.
	 */
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->known = true;
	out->language = SPI_getvalue(tup, desc, 1);
	arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull));
	{
		ModelRow	row = MODEL_ROW(m->model_id, "recs.model_learner");

		model_row_key_int(&row, 0, "learner_id", learner_id);
		check_model_array(&row, "watched", arr, INT8OID, -1, NULL);
	}
	deconstruct_array(arr, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	out->nwatched = n;
	out->watched = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		out->watched[i] = DatumGetInt64(elems[i]);
	SPI_freetuptable(SPI_tuptable);
}

/* ---- scoring, by model kind ---- */

void
serving_score_courses(const ServingModel *m, const ServingLearner *l, CourseScores *out)
{
	memset(out, 0, sizeof(*out));
	if (strcmp(m->kind, "popularity") == 0)
		popularity_score_courses(m, l, out);
	else if (strcmp(m->kind, "glmix") == 0)
		glmix_score_courses(m, l, out);
	else if (strcmp(m->kind, "blend") == 0)
		blend_score_courses(m, l, out);
	else if (strcmp(m->kind, "ncf") == 0)
		ncf_score_courses(m, l, out);
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recs model " INT64_FORMAT " is a %s model, which cannot rank courses on its own",
						m->model_id, m->kind)));
}

void
serving_score_listed(const ServingModel *m, const ServingLearner *l, int n,
					 const int64 *course_ids, double *out)
{
	if (strcmp(m->kind, "glmix") == 0)
		glmix_score_listed(m, l, n, course_ids, out);
	else if (strcmp(m->kind, "ncf") == 0)
		ncf_score_listed(m, l, n, course_ids, out);
	else
	{
		CourseScores cs;

		serving_score_courses(m, l, &cs);
		for (int i = 0; i < n; i++)
		{
			int			c = course_scores_index(&cs, course_ids[i]);

			out[i] = c >= 0 ? cs.score[c] : NAN;
		}
		pfree(cs.score);
	}
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

/*
 * recs.score(model, learner, course): the model's score of one pair, the
 * number recommend() ranks by -- an NCF dot product, a GLMix probability, a
 * popularity share, a blend's logit.  A course the model cannot score is an
 * error.
 */
PG_FUNCTION_INFO_V1(score_pair);
Datum
score_pair(PG_FUNCTION_ARGS)
{
	int			spi_level;
	int64		course_id = PG_GETARG_INT64(2);
	ServingModel m;
	double		s;

	spi_level = recs_spi_connect();
	serving_model_by_id(PG_GETARG_INT64(0), &m);
	if (strcmp(m.kind, "ncf") == 0)
		s = ncf_score_pair(&m, PG_GETARG_INT64(1), course_id);
	else
	{
		ServingLearner l;
		CourseScores cs;
		int			c;

		serving_learner(&m, PG_GETARG_INT64(1), &l);
		serving_score_courses(&m, &l, &cs);
		c = course_scores_index(&cs, course_id);
		if (c < 0 || isnan(cs.score[c]))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("course " INT64_FORMAT " is not scored by recs model " INT64_FORMAT,
							course_id, m.model_id)));
		s = cs.score[c];
	}
	recs_spi_finish(spi_level);
	PG_RETURN_FLOAT8(s);
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

/* ---- the SQL function ---- */

PG_FUNCTION_INFO_V1(recommend);
Datum
recommend(PG_FUNCTION_ARGS)
{
	int			spi_level;
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

	spi_level = recs_spi_connect();
	if (PG_ARGISNULL(5))
		serving_active_model("default", &model);
	else
		serving_model_by_id(PG_GETARG_INT64(5), &model);
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
	n = serving_top_k(&cs, skip, k, top);

	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int64GetDatum(cs.course_id[top[i]]);
		values[2] = Float8GetDatum(cs.score[top[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	recs_spi_finish(spi_level);
	return (Datum) 0;
}
