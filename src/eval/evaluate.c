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
 * measured is what is served.  The result is returned and, with store =>
 * true, also stored in the model's metrics under "evaluation"; store =>
 * NULL (the default) stores it when the caller may update recs.model.
 *
 * Who may evaluate.  The test relation is read with the caller's rights,
 * always.  The model is read as serving reads it: a caller that may run
 * recs.recommend() (recs.grant_access) but may not read the model tables
 * reads the model as recommend() does, as the extension's owner -- the
 * metrics tell it nothing recommend() does not; any other caller reads the
 * model tables with its own rights.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "compat.h"
#include "glmix.h"
#include "impressions.h"
#include "json_out.h"
#include "metrics.h"
#include "options.h"
#include "keys.h"
#include "spi_util.h"
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
 * The test rows sorted by learner and course, through the one impressions
 * reader: rows with a NULL learner, course or label are left out and
 * counted in *skipped.
 */
static TestRow *
read_test_rows(Oid relid, const char *lcol, const char *ccol, const char *ncol,
			   const char *ycol, int64 *nrows, int64 *skipped)
{
	ImpressionSpec spec;
	ImpressionSet *set;
	TestRow    *rows;

	impressions_spec_init(&spec, lcol, ccol);
	if (ycol)
		impressions_spec_label(&spec, ycol, "label_column");
	spec.negatives = ncol;
	spec.sorted = true;
	set = ingest_impressions(relid, &spec);
	*nrows = set->n;
	*skipped = impressions_skipped(set);
	rows = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(TestRow) * Max(set->n, 1));
	for (int64 i = 0; i < set->n; i++)
	{
		rows[i].learner = set->learner_id[i];
		rows[i].course = set->course_id[i];
		rows[i].label = ycol ? set->y[i] : 0;
		rows[i].nneg = ncol ? (int) (set->neg_start[i + 1] - set->neg_start[i]) : 0;
		rows[i].neg = ncol ? &set->neg[set->neg_start[i]] : NULL;
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

/* evaluate's arguments, checked */
typedef struct EvalOptions
{
	int64		model_id;
	Oid			test;
	int32		k;
	char	   *protocol;		/* full | sampled | response */
	bool		sampled;
	bool		response;
	char	   *lcol;
	char	   *ccol;
	char	   *ncol;
	char	   *ycol;
	bool		store_given;	/* store => true or false */
	bool		store;
} EvalOptions;

/* what the pass over the learners gathers */
typedef struct EvalResult
{
	EvalTotals	tot;
	double	   *rlogit;			/* response: per scored row */
	double	   *ry;
	int64		rn;
	bool	   *covered;		/* full: catalogue courses in some top-k */
	int			catalogue;
} EvalResult;

static void
eval_parse_options(FunctionCallInfo fcinfo, EvalOptions *o)
{
	static const char *const argnames[] = {"model", "test"};

	for (int a = 0; a < 2; a++)
		recs_require_arg(fcinfo, a, argnames[a]);
	o->model_id = PG_GETARG_INT64(0);
	o->test = PG_GETARG_OID(1);
	o->k = PG_ARGISNULL(2) ? 10 : PG_GETARG_INT32(2);
	o->protocol = recs_text_arg(fcinfo, 3, "full");
	o->lcol = recs_text_arg(fcinfo, 4, "learner_id");
	o->ccol = recs_text_arg(fcinfo, 5, "course_id");
	o->ncol = recs_text_arg(fcinfo, 6, "negatives");
	o->ycol = recs_text_arg(fcinfo, 7, "clicked");
	/* store: argument 8 since 0.4.0 */
	o->store_given = PG_NARGS() > 8 && !PG_ARGISNULL(8);
	o->store = o->store_given && PG_GETARG_BOOL(8);
	if (o->k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", o->k)));
	o->sampled = strcmp(o->protocol, "sampled") == 0;
	o->response = strcmp(o->protocol, "response") == 0;
	if (!o->sampled && !o->response && strcmp(o->protocol, "full") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown evaluation protocol \"%s\"", o->protocol),
				 errhint("Use 'full' (rank the whole catalogue), 'sampled' (rank each positive among its negatives) "
						 "or 'response' (AUC and log-loss of labelled pairs).")));
}

/* every learner's test rows scored by the model, through the serving path */
static void
eval_learners(const EvalOptions *o, ServingModel *model, const TestRow *rows, int64 nrows,
			  EvalResult *res)
{
	MemoryContext learnercxt;
	MemoryContext oldcxt;

	memset(res, 0, sizeof(*res));
	if (o->response)
	{
		res->rlogit = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * nrows);
		res->ry = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * nrows);
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
		serving_learner(model, rows[start].learner, &learner);
		serving_score_courses(model, &learner, &cs);
		if (res->covered == NULL)
		{
			res->catalogue = cs.n;
			res->covered = MemoryContextAllocZero(oldcxt, sizeof(bool) * Max(cs.n, 1));
		}
		if (o->response)
			eval_response(model, &cs, &rows[start], (int) (end - start), res->rlogit, res->ry,
						  &res->rn, &res->tot);
		else if (o->sampled)
			eval_sampled(&cs, &rows[start], (int) (end - start), o->k, &res->tot);
		else
			eval_full(&cs, &learner, &rows[start], (int) (end - start), o->k, res->covered,
					  &res->tot);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(learnercxt);
		start = end;
	}
	MemoryContextDelete(learnercxt);
}

/* the metrics as JSON; undefined figures (no scored pair, one label) are null */
static char *
eval_result_json(const EvalOptions *o, const EvalResult *res, int64 skipped)
{
	const EvalTotals *tot = &res->tot;
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "protocol", o->protocol);
	if (o->response)
	{
		json_out_int(&j, "rows", tot->units);
		json_out_int(&j, "scored", res->rn);
		json_out_number(&j, "auc", glmix_auc(res->rn, res->rlogit, res->ry), "%.6f");
		json_out_number(&j, "logloss", glmix_mean_logloss(res->rn, res->rlogit, res->ry), "%.6f");
	}
	else if (o->sampled)
	{
		json_out_int(&j, "k", o->k);
		json_out_int(&j, "rows", tot->units);
		json_out_number(&j, "hr", tot->hits / tot->units, "%.6f");
		json_out_number(&j, "ndcg", tot->ndcg / tot->units, "%.6f");
		json_out_int(&j, "unscored_positives", tot->unscored);
	}
	else
	{
		int			ncovered = 0;

		for (int c = 0; c < res->catalogue; c++)
			ncovered += res->covered[c];
		json_out_int(&j, "k", o->k);
		json_out_int(&j, "learners", tot->units);
		json_out_number(&j, "recall", tot->hits / tot->units, "%.6f");
		json_out_number(&j, "ndcg", tot->ndcg / tot->units, "%.6f");
		json_out_number(&j, "mrr", tot->rr / tot->units, "%.6f");
		json_out_number(&j, "coverage", res->catalogue ? (double) ncovered / res->catalogue : 0.0, "%.6f");
		json_out_int(&j, "unscored_test_courses", tot->unscored);
	}
	/* rows left out for a NULL id or label: counted, when there are any */
	if (skipped > 0)
		json_out_int(&j, "skipped_rows", skipped);
	return json_out_finish(&j);
}

/* remember the result with the model, under "protocol@k relation" */
static void
eval_store(const EvalOptions *o, const char *result)
{
	JsonOut		j;
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2];
	int			rc;

	json_out_begin(&j);
	json_out_object(&j, "evaluation");
	json_out_raw(&j, psprintf("%s@%d %s", o->protocol, o->k, recs_relation_name(o->test)), result);
	values[0] = Int64GetDatum(o->model_id);
	values[1] = CStringGetTextDatum(json_out_finish(&j));
	rc = SPI_execute_with_args("UPDATE recs.model SET metrics = metrics || "
							   "jsonb_build_object('evaluation', "
							   "COALESCE(metrics->'evaluation', '{}') || ($2::jsonb->'evaluation')) "
							   "WHERE model_id = $1",
							   2, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not store the evaluation: %s", SPI_result_code_string(rc));
}

/*
 * The role serving runs as (the owner of recs.recommend, a SECURITY DEFINER
 * function) when the caller may run recommend() but may not read the model
 * catalog; InvalidOid otherwise: the caller reads the model itself.
 */
static Oid
eval_serving_role(void)
{
	Oid			nsp = get_namespace_oid("recs", true);
	Oid			model_rel;
	Oid			owner = InvalidOid;
	CatCList   *procs;

	if (!OidIsValid(nsp))
		return InvalidOid;
	model_rel = get_relname_relid("model", nsp);
	if (!OidIsValid(model_rel) || pg_class_aclcheck(model_rel, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
		return InvalidOid;
	procs = SearchSysCacheList1(PROCNAMEARGSNSP, CStringGetDatum("recommend"));
	for (int i = 0; i < procs->n_members && !OidIsValid(owner); i++)
	{
		Form_pg_proc p = (Form_pg_proc) GETSTRUCT(&procs->members[i]->tuple);

		if (p->pronamespace == nsp && p->prosecdef &&
			pg_proc_aclcheck(p->oid, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK)
			owner = p->proowner;
	}
	ReleaseSysCacheList(procs);
	return owner;
}

/* store => NULL: store when the caller may update recs.model */
static bool
eval_may_store(void)
{
	Oid			nsp = get_namespace_oid("recs", true);
	Oid			model_rel = OidIsValid(nsp) ? get_relname_relid("model", nsp) : InvalidOid;

	return OidIsValid(model_rel) && pg_class_aclcheck(model_rel, GetUserId(), ACL_UPDATE) == ACLCHECK_OK;
}

PG_FUNCTION_INFO_V1(evaluate_model);
Datum
evaluate_model(PG_FUNCTION_ARGS)
{
	MemoryContext callercxt = CurrentMemoryContext;
	EvalOptions o;
	ServingModel model;
	TestRow    *rows;
	int64		nrows;
	int64		skipped;
	EvalResult	res;
	char	   *result;
	int			spi_level;
	Oid			serving_role;
	Oid			save_userid;
	int			save_sec_context;
	int			serving_sec_context;

	eval_parse_options(fcinfo, &o);
	spi_level = recs_spi_connect();

	/*
	 * The model is read as serving reads it (see the header), the test
	 * relation with the caller's rights.  Only recs' own code runs under the
	 * serving role: the serving path, whose loaders read recs' tables with a
	 * pinned search_path.  An error restores the caller's identity with the
	 * (sub)transaction's abort.
	 */
	serving_role = eval_serving_role();
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	serving_sec_context = save_sec_context | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION;
	if (OidIsValid(serving_role))
		SetUserIdAndSecContext(serving_role, serving_sec_context);
	keys_begin();
	serving_model_any_ids(o.model_id, &model);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	rows = read_test_rows(o.test, o.lcol, o.ccol, o.sampled ? o.ncol : NULL,
						  o.response ? o.ycol : NULL, &nrows, &skipped);
	serving_check_key_types(&model, keys_training_type(RECS_SIDE_LEARNER),
							keys_training_type(RECS_SIDE_COURSE), "the test relation");
	if (nrows == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("test relation %s has no rows", recs_relation_name(o.test)),
				 skipped ? errdetail_plural(INT64_FORMAT " row with a NULL learner, course or label was skipped.",
											INT64_FORMAT " rows with a NULL learner, course or label were skipped.",
											skipped, skipped) : 0));

	if (OidIsValid(serving_role))
		SetUserIdAndSecContext(serving_role, serving_sec_context);
	eval_learners(&o, &model, rows, nrows, &res);
	SetUserIdAndSecContext(save_userid, save_sec_context);

	/* the result must outlive SPI_finish */
	MemoryContextSwitchTo(callercxt);
	result = eval_result_json(&o, &res, skipped);
	if (o.store_given ? o.store : eval_may_store())
		eval_store(&o, result);
	recs_spi_finish(spi_level);
	PG_RETURN_JSONB_P(DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(result))));
}
