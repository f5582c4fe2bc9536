/*
 * evaluate.c -- recs.evaluate(): offline ranking metrics of a model
 *
 * Two protocols over a test relation of (learner, course) rows:
 *   full     every course of the model's catalogue the learner has not
 *            watched is a candidate; per learner with test courses T:
 *            Recall@k = |top-k ∩ T| / |T|, NDCG@k = DCG@k / IDCG(min(k, |T|)),
 *            reciprocal rank of the best-ranked test course; catalogue
 *            coverage of all top-k lists.  Means over learners.
 *   sampled  each row also names negative courses (bigint[]); the positive
 *            is ranked among itself and its negatives: HR@k and NDCG@k,
 *            means over rows (the NCF leave-one-out protocol).
 *   response each row has a 0/1 label (a click): AUC and log-loss of the
 *            model's response probability (a GLMix probability; the
 *            sigmoid of an NCF or blend score; a popularity share as is).
 * Scores come from the same serving path as recommend(), so what is
 * measured is what is served.  The result is returned and also stored in
 * the model's metrics under "evaluation".
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "metrics.h"
#include "recs.h"
#include "serving.h"
#include "topk.h"

typedef struct TestRow
{
	int64		learner;
	int64		course;
	double		label;			/* response protocol */
	int			nneg;
	int64	   *neg;
} TestRow;

typedef struct EvalTotals
{
	int64		units;			/* learners (full) or rows (sampled) */
	double		hits;			/* HR (sampled) or recall (full) sum */
	double		ndcg;
	double		rr;
	int64		unscored;		/* test courses the model cannot rank */
} EvalTotals;

/*
 * the test rows sorted by learner; rows with a NULL learner, course or
 * label are left out and counted in *skipped
 */
static TestRow *
read_test_rows(Oid relid, const char *lcol, const char *ccol, const char *ncol,
			   const char *ycol, int64 *nrows, int64 *skipped)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID};
	static const Oid neg_types[] = {INT8ARRAYOID, INT4ARRAYOID};
	StringInfoData sql;
	TestRow    *rows;
	int			rc;
	MemoryContext cxt = CurrentMemoryContext;

	recs_check_column(relid, lcol, "learner_column", id_types, lengthof(id_types));
	recs_check_column(relid, ccol, "course_column", id_types, lengthof(id_types));
	if (ncol)
		recs_check_column(relid, ncol, "negatives_column", neg_types, lengthof(neg_types));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::int8, %s::int8", quote_identifier(lcol), quote_identifier(ccol));
	if (ncol)
		appendStringInfo(&sql, ", %s::int8[]", quote_identifier(ncol));
	if (ycol)
	{
		static const Oid label_types[] = {BOOLOID, INT2OID, INT4OID, INT8OID, FLOAT4OID, FLOAT8OID, NUMERICOID};
		Oid			t = recs_check_column(relid, ycol, "label_column", label_types, lengthof(label_types));

		appendStringInfo(&sql, t == BOOLOID ? ", %s::int::float8" : ", %s::float8", quote_identifier(ycol));
	}
	appendStringInfo(&sql, " FROM %s ORDER BY 1, 2", recs_relation_name(relid));
	rc = SPI_execute(sql.data, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the test relation: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(cxt);
	*nrows = 0;
	*skipped = 0;
	rows = MemoryContextAllocHuge(cxt, sizeof(TestRow) * Max(SPI_processed, 1));
	for (uint64 t = 0; t < SPI_processed; t++)
	{
		HeapTuple	tup = SPI_tuptable->vals[t];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					lnull,
					cnull,
					ynull = false;
		int64		i = *nrows;

		rows[i].learner = DatumGetInt64(SPI_getbinval(tup, desc, 1, &lnull));
		rows[i].course = DatumGetInt64(SPI_getbinval(tup, desc, 2, &cnull));
		if (ycol)
			(void) SPI_getbinval(tup, desc, 3, &ynull);
		if (lnull || cnull || ynull)
		{
			(*skipped)++;
			continue;
		}
		(*nrows)++;
		rows[i].nneg = 0;
		rows[i].neg = NULL;
		rows[i].label = 0;
		if (ycol)
		{
			rows[i].label = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
			if (rows[i].label != 0.0 && rows[i].label != 1.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("labels must be 0 or 1 (or boolean), found %g", rows[i].label)));
		}
		if (ncol)
		{
			Datum		d = SPI_getbinval(tup, desc, 3, &isnull);
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("negatives of learner " INT64_FORMAT " are NULL", rows[i].learner)));
			deconstruct_array(DatumGetArrayTypeP(d), INT8OID, 8, true, TYPALIGN_DOUBLE,
							  &elems, &nulls, &n);
			rows[i].neg = palloc(sizeof(int64) * Max(n, 1));
			for (int j = 0; j < n; j++)
				if (!nulls[j])
					rows[i].neg[rows[i].nneg++] = DatumGetInt64(elems[j]);
		}
	}
	return rows;
}

static double
score_of(const CourseScores *cs, int64 course_id)
{
	int			c = course_scores_index(cs, course_id);

	return c >= 0 ? cs->score[c] : NAN;
}

/* one learner, full ranking over the unwatched catalogue */
static void
eval_full(const CourseScores *cs, const ServingLearner *l, const TestRow *rows, int nrows,
		  int k, bool *covered, EvalTotals *tot)
{
	bool	   *skip = palloc0(sizeof(bool) * Max(cs->n, 1));
	int		   *top = palloc(sizeof(int) * Max(Min(k, cs->n), 1));
	int			ntop;
	int			hits = 0;
	double		dcg = 0.0;
	int			best = -1;		/* index into rows of the best-ranked test course */
	double		best_score = NAN;
	TestRow    *uniq = palloc(sizeof(TestRow) * Max(nrows, 1));
	int			n = 0;

	/*
	 * The learner's test courses T are a set: a repeated row counts once, or
	 * |T| would count it twice and a hit once.  Rows come sorted by course.
	 */
	for (int t = 0; t < nrows; t++)
		if (t == 0 || rows[t].course != rows[t - 1].course)
			uniq[n++] = rows[t];
	rows = uniq;
	nrows = n;

	for (int i = 0; i < l->nwatched; i++)
	{
		int			c = course_scores_index(cs, l->watched[i]);

		if (c >= 0)
			skip[c] = true;
	}
	ntop = serving_top_k(cs, skip, Min(k, cs->n), top);
	for (int r = 0; r < ntop; r++)
	{
		int64		cid = cs->course_id[top[r]];

		covered[top[r]] = true;
		for (int t = 0; t < nrows; t++)
			if (rows[t].course == cid)
			{
				hits++;
				dcg += metrics_gain(r + 1);
				break;
			}
	}
	tot->hits += (double) hits / nrows;
	tot->ndcg += dcg / metrics_ideal_dcg(nrows, k);

	/* reciprocal rank of the best-ranked test course among the candidates */
	for (int t = 0; t < nrows; t++)
	{
		int			c = course_scores_index(cs, rows[t].course);
		double		s = c >= 0 ? cs->score[c] : NAN;

		if (c < 0 || isnan(s))
			tot->unscored++;
		if (c >= 0 && skip[c])
			continue;
		if (best < 0 || metrics_ranks_before(s, rows[t].course, best_score, rows[best].course))
		{
			best = t;
			best_score = s;
		}
	}
	if (best >= 0 && !isnan(best_score))
	{
		int64		rank = 1;

		for (int c = 0; c < cs->n; c++)
			if (!skip[c] && metrics_ranks_before(cs->score[c], cs->course_id[c],
												 best_score, rows[best].course))
				rank++;
		tot->rr += 1.0 / rank;
	}
	tot->units++;
}

/* rows of one learner, each positive ranked among its negatives */
static void
eval_sampled(const CourseScores *cs, const TestRow *rows, int nrows, int k, EvalTotals *tot)
{
	for (int t = 0; t < nrows; t++)
	{
		const TestRow *row = &rows[t];
		double	   *neg = palloc(sizeof(double) * Max(row->nneg, 1));
		double		pos = score_of(cs, row->course);
		int			rank;

		for (int j = 0; j < row->nneg; j++)
			neg[j] = score_of(cs, row->neg[j]);
		if (isnan(pos))
			tot->unscored++;
		rank = metrics_sampled_rank(pos, row->course, neg, row->neg, row->nneg);
		if (rank <= k)
		{
			tot->hits += 1.0;
			tot->ndcg += metrics_gain(rank);
		}
		tot->units++;
	}
}

/* rows of one learner: the model's logit of a response, NaN when unscored */
static void
eval_response(const ServingModel *m, const CourseScores *cs, const TestRow *rows, int nrows,
			  double *logit, double *y, int64 *n, EvalTotals *tot)
{
	for (int t = 0; t < nrows; t++)
	{
		double		s = score_of(cs, rows[t].course);

		if (isnan(s))
		{
			tot->unscored++;
			continue;
		}
		/* probabilities (GLMix, popularity shares) to logits; scores already are */
		if (m->routine->probability)
		{
			s = Min(Max(s, 1e-15), 1.0 - 1e-15);
			s = log(s / (1.0 - s));
		}
		logit[*n] = s;
		y[*n] = rows[t].label;
		(*n)++;
	}
	tot->units += nrows;
}

PG_FUNCTION_INFO_V1(evaluate_model);
Datum
evaluate_model(PG_FUNCTION_ARGS)
{
	int			spi_level;
	int64		model_id;
	Oid			test;
	int32		k = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	char	   *protocol = recs_text_arg(fcinfo, 3, "full");
	char	   *lcol = recs_text_arg(fcinfo, 4, "learner_id");
	char	   *ccol = recs_text_arg(fcinfo, 5, "course_id");
	char	   *ncol = recs_text_arg(fcinfo, 6, "negatives");
	char	   *ycol = recs_text_arg(fcinfo, 7, "clicked");
	bool		sampled;
	bool		response = false;
	double	   *rlogit = NULL;
	double	   *ry = NULL;
	int64		rn = 0;
	ServingModel model;
	TestRow    *rows;
	int64		nrows;
	EvalTotals	tot = {0};
	bool	   *covered = NULL;
	int			catalogue = 0;
	MemoryContext learnercxt;
	MemoryContext oldcxt;
	StringInfoData json;
	StringInfoData key;
	Jsonb	   *result;
	int64		skipped;
	MemoryContext callercxt = CurrentMemoryContext;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "test")));
	model_id = PG_GETARG_INT64(0);
	test = PG_GETARG_OID(1);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));
	if (strcmp(protocol, "full") == 0)
		sampled = false;
	else if (strcmp(protocol, "sampled") == 0)
		sampled = true;
	else if (strcmp(protocol, "response") == 0)
	{
		sampled = false;
		response = true;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown evaluation protocol \"%s\"", protocol),
				 errhint("Use 'full' (rank the whole catalogue), 'sampled' (rank each positive among its negatives) "
						 "or 'response' (AUC and log-loss of labelled pairs).")));

	spi_level = recs_spi_connect();
	serving_model_by_id(model_id, &model);
	rows = read_test_rows(test, lcol, ccol, sampled ? ncol : NULL, response ? ycol : NULL, &nrows, &skipped);
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("test relation %s has no rows", recs_relation_name(test)),
				 skipped ? errdetail_plural(INT64_FORMAT " row with a NULL learner, course or label was skipped.",
											INT64_FORMAT " rows with a NULL learner, course or label were skipped.",
											skipped, skipped) : 0));

	if (response)
	{
		rlogit = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * nrows);
		ry = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * nrows);
	}
	learnercxt = AllocSetContextCreate(CurrentMemoryContext, "recs evaluate learner",
									   ALLOCSET_DEFAULT_SIZES);
	for (int64 start = 0; start < nrows;)
	{
		int64		end = start;
		ServingLearner learner;
		CourseScores cs;

		CHECK_FOR_INTERRUPTS();
		while (end < nrows && rows[end].learner == rows[start].learner)
			end++;
		oldcxt = MemoryContextSwitchTo(learnercxt);
		serving_learner(&model, rows[start].learner, &learner);
		serving_score_courses(&model, &learner, &cs);
		if (covered == NULL)
		{
			catalogue = cs.n;
			covered = MemoryContextAllocZero(oldcxt, sizeof(bool) * Max(cs.n, 1));
		}
		if (response)
			eval_response(&model, &cs, &rows[start], (int) (end - start), rlogit, ry, &rn, &tot);
		else if (sampled)
			eval_sampled(&cs, &rows[start], (int) (end - start), k, &tot);
		else
			eval_full(&cs, &learner, &rows[start], (int) (end - start), k, covered, &tot);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(learnercxt);
		start = end;
	}

	/* the result must outlive SPI_finish */
	MemoryContextSwitchTo(callercxt);
	initStringInfo(&json);
	if (response)
	{
		double		auc = glmix_auc(rn, rlogit, ry);
		double		ll = glmix_mean_logloss(rn, rlogit, ry);

		appendStringInfo(&json, "{\"protocol\": \"response\", \"rows\": " INT64_FORMAT
						 ", \"scored\": " INT64_FORMAT ", \"auc\": ", tot.units, rn);
		/* no scored pair (or one label only): the figure is undefined, null */
		if (isnan(auc))
			appendStringInfoString(&json, "null");
		else
			appendStringInfo(&json, "%.6f", auc);
		if (isfinite(ll))
			appendStringInfo(&json, ", \"logloss\": %.6f}", ll);
		else
			appendStringInfoString(&json, ", \"logloss\": null}");
	}
	else if (sampled)
		appendStringInfo(&json,
						 "{\"protocol\": \"sampled\", \"k\": %d, \"rows\": " INT64_FORMAT
						 ", \"hr\": %.6f, \"ndcg\": %.6f, \"unscored_positives\": " INT64_FORMAT "}",
						 k, tot.units, tot.hits / tot.units, tot.ndcg / tot.units, tot.unscored);
	else
	{
		int			ncovered = 0;

		for (int c = 0; c < catalogue; c++)
			ncovered += covered[c];
		appendStringInfo(&json,
						 "{\"protocol\": \"full\", \"k\": %d, \"learners\": " INT64_FORMAT
						 ", \"recall\": %.6f, \"ndcg\": %.6f, \"mrr\": %.6f, \"coverage\": %.6f"
						 ", \"unscored_test_courses\": " INT64_FORMAT "}",
						 k, tot.units, tot.hits / tot.units, tot.ndcg / tot.units,
						 tot.rr / tot.units, catalogue ? (double) ncovered / catalogue : 0.0,
						 tot.unscored);
	}

	/* rows left out for a NULL id or label: counted, when there are any */
	if (skipped > 0)
	{
		json.len--;				/* reopen the object */
		appendStringInfo(&json, ", \"skipped_rows\": " INT64_FORMAT "}", skipped);
	}

	/* remember it with the model */
	initStringInfo(&key);
	appendStringInfo(&key, "%s@%d %s", protocol, k, recs_relation_name(test));
	{
		StringInfoData upd;

		initStringInfo(&upd);
		appendStringInfoString(&upd, "{\"evaluation\": {");
		escape_json(&upd, key.data);
		appendStringInfo(&upd, ": %s}}", json.data);
		{
			Oid			types[2] = {INT8OID, TEXTOID};
			Datum		values[2] = {Int64GetDatum(model_id), CStringGetTextDatum(upd.data)};
			int			rc;

			rc = SPI_execute_with_args("UPDATE recs.model SET metrics = metrics || "
									   "jsonb_build_object('evaluation', "
									   "COALESCE(metrics->'evaluation', '{}') || ($2::jsonb->'evaluation')) "
									   "WHERE model_id = $1",
									   2, types, values, NULL, false, 0);
			if (rc != SPI_OK_UPDATE)
				elog(ERROR, "could not store the evaluation: %s", SPI_result_code_string(rc));
		}
	}
	recs_spi_finish(spi_level);
	result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json.data)));
	PG_RETURN_JSONB_P(result);
}
