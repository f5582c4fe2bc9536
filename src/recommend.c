/*
 * recommend.c -- recs.recommend(learner_id, k): top k courses for a learner
 *
 * Serving reads the model deployed in the "default" slot (one indexed
 * lookup per call, so activation takes effect at the next call after
 * commit) and the learner's stored state; the model's course-side parts
 * come from the per-backend serving cache, so a call never scans a model
 * table.  The result is materialised in one pass.
 *
 * Behaviour that callers rely on (documented in README):
 *   - NULL learner_id or k, and k < 1, are errors;
 *   - k larger than the catalogue returns the whole ranked catalogue;
 *   - courses the learner watched (as of the model's training) are excluded;
 *   - a learner the model does not know gets the everyone-popularity list.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "ncf.h"
#include "recs.h"
#include "serving.h"
#include "serving_cache.h"

/* ceiling on k: larger requests are served as "everything" */
#define MAX_K 1000000

/* ---- model resolution and learner state ---- */

void
serving_active_model(const char *slot, ServingModel *out)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(slot)};
	bool		isnull;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;

	rc = SPI_execute_with_args("SELECT m.model_id, m.xmin::text::int8, m.kind "
							   "FROM recs.deployment d JOIN recs.model m USING (model_id) "
							   "WHERE d.slot = $1",
							   1, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.deployment: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no recs model is active in slot \"%s\"", slot),
				 errhint("Train one, e.g. SELECT recs.train_popularity('my.watches', 'my.learners'), "
						 "or activate one with recs.activate(model_id).")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->model_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	out->stamp = (uint32) DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
	strlcpy(out->kind, SPI_getvalue(tup, desc, 3), sizeof(out->kind));
}

void
serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(m->model_id), Int64GetDatum(learner_id)};
	bool		isnull;
	int			rc;
	HeapTuple	tup;
	TupleDesc	desc;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	memset(out, 0, sizeof(*out));
	rc = SPI_execute_with_args("SELECT language, watched FROM recs.model_learner "
							   "WHERE model_id = $1 AND learner_id = $2",
							   2, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model_learner: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	out->known = true;
	out->language = SPI_getvalue(tup, desc, 1);
	arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 2, &isnull));
	deconstruct_array(arr, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	out->nwatched = n;
	out->watched = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		out->watched[i] = DatumGetInt64(elems[i]);
}

static bool
watched_contains(const ServingLearner *l, int64 course_id)
{
	int			lo = 0,
				hi = l->nwatched - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (l->watched[mid] == course_id)
			return true;
		if (l->watched[mid] < course_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* ---- popularity ---- */

typedef struct PopularityList
{
	int			n;
	int64	   *course_id;		/* by score descending, then course id */
	double	   *score;
} PopularityList;

/* part "pop:<language>" or "pop:" for everyone */
static void *
load_popularity(int64 model_id, const char *part, void *arg)
{
	const char *language = arg;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(model_id),
	language ? CStringGetTextDatum(language) : (Datum) 0};
	char		nulls[2] = {' ', language ? ' ' : 'n'};
	PopularityList *pl = palloc0(sizeof(PopularityList));
	int			rc;

	rc = SPI_execute_with_args("SELECT course_id, score FROM recs.course_popularity "
							   "WHERE model_id = $1 AND language IS NOT DISTINCT FROM $2 "
							   "ORDER BY score DESC, course_id",
							   2, types, values, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.course_popularity: %s", SPI_result_code_string(rc));
	pl->n = (int) SPI_processed;
	pl->course_id = palloc(sizeof(int64) * Max(pl->n, 1));
	pl->score = palloc(sizeof(double) * Max(pl->n, 1));
	for (int i = 0; i < pl->n; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];

		pl->course_id[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		pl->score[i] = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
	}
	return pl;
}

int
popularity_recommend(const ServingModel *m, const ServingLearner *l, int k,
					 Recommendation *out)
{
	PopularityList *pl = NULL;
	char		part[64];
	int			n = 0;

	if (l->language)
	{
		snprintf(part, sizeof(part), "pop:%.50s", l->language);
		pl = serving_cache_get(m->model_id, m->stamp, part, load_popularity, l->language);
	}
	/* no language, or a language with no learners in the window */
	if (pl == NULL || pl->n == 0)
		pl = serving_cache_get(m->model_id, m->stamp, "pop:", load_popularity, NULL);

	for (int i = 0; i < pl->n && n < k; i++)
	{
		if (watched_contains(l, pl->course_id[i]))
			continue;
		out[n].course_id = pl->course_id[i];
		out[n].score = pl->score[i];
		n++;
	}
	return n;
}

/* ---- the SQL function ---- */

PG_FUNCTION_INFO_V1(recommend);
Datum
recommend(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		learner_id;
	int32		k;
	ServingModel model;
	ServingLearner learner;
	Recommendation *recs;
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
	k = Min(k, MAX_K);

	InitMaterializedSRF(fcinfo, 0);

	SPI_connect();
	serving_active_model("default", &model);
	serving_learner(&model, learner_id, &learner);

	if (strcmp(model.kind, "popularity") == 0)
	{
		recs = palloc(sizeof(Recommendation) * k);
		n = popularity_recommend(&model, &learner, k, recs);
	}
	else if (strcmp(model.kind, "ncf") == 0)
	{
		recs = palloc(sizeof(Recommendation) * k);
		n = ncf_recommend(&model, learner_id, &learner, k, recs);
	}
	else
		elog(ERROR, "recs model %lld has unsupported kind \"%s\"",
			 (long long) model.model_id, model.kind);

	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int64GetDatum(recs[i].course_id);
		values[2] = Float8GetDatum(recs[i].score);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
