/*
 * ncf_explain.c -- recs._ncf_history_terms(): a served NCF score taken
 * apart into its history terms, for explain_recommendation
 *
 * For a model trained with affinity_columns or path_columns (ncf_history.c)
 * each term of the served score is one row: its name, the feature's value
 * for this learner and course, the fitted weight and their product.  The
 * first row is the towers' part, w_ncf x (dot + trend): the served score
 * (recs.score) minus the other rows, so that the contributions add up to
 * the served score exactly as explain_recommendation's total does.  Other
 * NCF models give no rows.  The features come from the serving cache and
 * the learner's stored rows, like recommend's; so the function is not
 * PUBLIC (80_access.sql): explain_recommendation, a serving function,
 * calls it as the extension's owner.
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "utils/builtins.h"

#include "ncf.h"
#include "serving.h"
#include "sorted_ids.h"

static void
put_row(ReturnSetInfo *rsinfo, const char *term, double value, double weight, double contribution)
{
	Datum		values[4];
	bool		nulls[4] = {false, !isfinite(value), false, false};

	values[0] = CStringGetTextDatum(term);
	values[1] = Float8GetDatum(isfinite(value) ? value : 0);
	values[2] = Float8GetDatum(weight);
	values[3] = Float8GetDatum(contribution);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(ncf_history_terms);
Datum
ncf_history_terms(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ServingModel m;
	const NcfCourses *c;
	const NcfHistory *h;
	ServingLearner l;
	NcfHistoryLearner st;
	int64		learner_id,
				course_id;
	int			idx;
	double		f[NCF_HISTORY_MAX_COLUMNS + NCF_HISTORY_STATS + 4];
	double		w[NCF_HISTORY_MAX_COLUMNS + NCF_HISTORY_STATS + 4];
	static const char *const names[] = {"watches", "recent watches", "age", "co-watch",
	"predecessor watched", "predecessor missing", "the latest series' next part"};
	double		served,
				rest = 0;
	int			nf;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			PG_RETURN_NULL();	/* no rows */
	learner_id = PG_GETARG_INT64(1);
	course_id = PG_GETARG_INT64(2);
	serving_model_by_id(PG_GETARG_INT64(0), &m);
	if (m.routine != &ncf_kind)
		PG_RETURN_NULL();
	c = ncf_model_courses(&m);
	h = c->history;
	idx = recs_find_int64(c->ids, c->n, course_id);
	if (h == NULL || idx < 0)
		PG_RETURN_NULL();

	served = serving_score_pair(&m, learner_id, course_id);
	serving_learner(&m, learner_id, &l);
	ncf_learner_inputs(&m, c, &l, palloc(sizeof(float) * c->dim), &st);
	ncf_history_features(h, &st, idx, f);
	nf = NCF_HISTORY_FEATURES(h);
	for (int k = 0; k < NCF_HISTORY_STATS; k++)
		w[k] = h->w_stats[k];
	w[NCF_HISTORY_STATS] = h->w_cowatch;
	w[NCF_HISTORY_STATS + 1] = h->w_watched;
	w[NCF_HISTORY_STATS + 2] = h->w_missing;
	w[NCF_HISTORY_STATS + 3] = h->w_latest;
	for (int a = 0; a < h->nattr; a++)
		w[NCF_HISTORY_STATS + 4 + a] = h->w_attr[a];
	for (int k = 0; k < nf; k++)
		rest += w[k] * f[k];
	/* the towers' part: what the other terms leave of the served score */
	put_row(rsinfo, "ncf", h->w_ncf != 0 ? (served - rest) / h->w_ncf : NAN, h->w_ncf, served - rest);
	for (int k = 0; k < nf; k++)
		put_row(rsinfo, k < NCF_HISTORY_STATS + 4 ? names[k] :
				psprintf("%s share", h->attr_cols[k - NCF_HISTORY_STATS - 4]),
				f[k], w[k], w[k] * f[k]);
	PG_RETURN_NULL();
}
