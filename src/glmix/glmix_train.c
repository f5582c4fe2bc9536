/*
 * glmix_train.c -- recs.train_glmix(): GLMix by coordinate descent
 *
 * The model (logistic link):
 *     logit P(y = 1 | l, c) = beta . x(l, c)            fixed effect
 *                           + gamma_l . z(c)            per-learner effect
 *                           + delta_c . z(l)            per-course effect
 *                           (+ one term per further random-effect column)
 * Training is Photon ML's GAME block coordinate descent: for each of
 * `passes` passes, each coordinate in turn is refitted, warm-started, with
 * the sum of the other coordinates' current scores as a fixed offset.
 *
 * This file parses and checks the arguments and runs the phases, each in
 * its own file (each timed into the model's metrics->'seconds'):
 *   1. read  -- learners and courses become CSR feature vectors
 *      (glmix_features.c), impressions flat arrays of (label, weight,
 *      learner, course); the designs are assembled once, in C
 *      (glmix_data.c, glmix_design.c).  The crosses and matches are
 *      resolved between the two halves: they name the sides' columns.
 *   2. stage -- the designs are cut into page-sized blocks and written to
 *      work relations created in this transaction (glmix_stage.c,
 *      glmix_work.c): one for the fixed effect, one per random effect
 *      holding each active entity's rows (at most max_rows of them, drawn
 *      with the seed, their weights scaled up to keep the entity's total).
 *      Entities with fewer than min_rows rows get no model: their effect
 *      is zero.
 *   3. fit   -- per pass and coordinate: the offsets, one fit through the
 *      coordinate's aggregate (dense Newton over recs.glmix_fixed_block_stats
 *      for a small fixed effect, TRON over recs.glmix_fixed_block_grad for a
 *      large one -- option solver; one GROUP BY entity query over
 *      recs.glmix_entity_fit for a random effect), the scores recomputed in
 *      C, and a NOTICE with the objective (and the validation AUC)
 *      (glmix_fit.c).  With threads > 1 the planner is told parallelism is
 *      free, so both aggregates may run as Partial/Finalize plans.
 *   4. store -- glmix_store.c writes the coefficients with their feature
 *      names and every learner's and course's feature vector; the
 *      learners' responded-to courses go to recs.model_learner.
 * Everything runs in the caller's transaction: an error or a cancel leaves
 * the previous model, and no work relation, behind.
 */
#include "postgres.h"

#include <malloc.h>
#include <math.h>

#include <cblas.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "json_out.h"
#include "options.h"
#include "model_store.h"
#include "keys.h"
#include "spi_util.h"
#include "rng.h"
#include "timing.h"

/*
 * A match may name a column that is not a feature column: such a column is
 * read for the match only (no main effect, no random-effect feature).  Find
 * them before the sides are read: the columns of the relations that a
 * "lcol=ccol" or "lcol~ccol" entry of crosses names, and the feature lists
 * do not.
 */
static void
add_column(char ***list, int *n, int cap, char **features, int nfeatures, const char *name)
{
	for (int k = 0; k < nfeatures; k++)
		if (strcmp(features[k], name) == 0)
			return;
	for (int k = 0; k < *n; k++)
		if (strcmp((*list)[k], name) == 0)
			return;
	if (*list == NULL)
		*list = palloc(sizeof(char *) * cap);
	(*list)[(*n)++] = pstrdup(name);
}

static void
find_match_only_columns(FunctionCallInfo fcinfo, int argno, GlmixOptions *o)
{
	int			n;
	char	  **specs;

	o->lmatch = o->cmatch = NULL;
	o->nlmatch = o->ncmatch = 0;
	if (PG_ARGISNULL(argno))
		return;
	specs = recs_text_array_arg(fcinfo, argno, &n);
	for (int i = 0; i < n; i++)
		for (const char *p = specs[i]; *p; p++)
		{
			char	   *lname;

			if (*p == ':')
				break;			/* a cross (or no entry recs can read) */
			if (*p != '=' && *p != '~')
				continue;
			lname = pnstrdup(specs[i], p - specs[i]);
			if (get_attnum(o->learners, lname) > 0 && get_attnum(o->courses, p + 1) > 0)
			{
				add_column(&o->lmatch, &o->nlmatch, n, o->lfeat, o->nlfeat, lname);
				add_column(&o->cmatch, &o->ncmatch, n, o->cfeat, o->ncfeat, p + 1);
				break;
			}
		}
}

/* ---- the SQL function ---- */

static void
set_guc(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static const char *const label_choices[] = {"clicked", "bookmarked", "either"};
static const char *const weighting_choices[] = {"none", "watch_time"};
static const char *const solver_choices[] = {"auto", "newton", "tron"};

/* the arguments of train_glmix, with defaults, checked before any work */
static void
read_options(FunctionCallInfo fcinfo, GlmixOptions *o)
{
	static const char *const required[] = {"impressions", "learners", "courses",
	"learner_features", "course_features"};

	memset(o, 0, sizeof(*o));
	for (int a = 0; a < 5; a++)
		if (PG_ARGISNULL(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", required[a]),
					 a >= 3 ? errhint("Pass '{}' for no features.") : 0));
	o->impressions = PG_GETARG_OID(0);
	o->learners = PG_GETARG_OID(1);
	o->courses = PG_GETARG_OID(2);
	o->lfeat = recs_text_array_arg(fcinfo, 3, &o->nlfeat);
	o->cfeat = recs_text_array_arg(fcinfo, 4, &o->ncfeat);
	o->name = recs_text_arg(fcinfo, 5, "glmix");
	(void) recs_choice_arg(fcinfo, 6, "clicked", label_choices, lengthof(label_choices),
						   "label", (char **) &o->ro.label);
	(void) recs_choice_arg(fcinfo, 7, "none", weighting_choices, lengthof(weighting_choices),
						   "weighting", (char **) &o->ro.weighting);
	o->passes = recs_int_arg(fcinfo, 9, 3, 1, 100, "passes");
	o->threads = recs_int_arg(fcinfo, 16, 1, 1, 64, "threads");
	o->min_rows = PG_ARGISNULL(12) ? 1 : PG_GETARG_INT32(12);
	o->max_rows = PG_ARGISNULL(13) ? 0 : PG_GETARG_INT32(13);
	o->seed = recs_int64_arg(fcinfo, 15, 42);
	o->validation = PG_ARGISNULL(17) ? InvalidOid : PG_GETARG_OID(17);
	o->activate = recs_bool_arg(fcinfo, 18, true);
	o->ro.learner_column = recs_text_arg(fcinfo, 19, "learner_id");
	o->ro.course_column = recs_text_arg(fcinfo, 20, "course_id");
	/* the learners' and courses' id columns (0.4.0): NULL, those of the impressions */
	o->learners_id_column = recs_text_arg(fcinfo, 30, NULL);
	o->learners_id_arg = o->learners_id_column ? "learners_id_column" : "learner_column";
	if (o->learners_id_column == NULL)
		o->learners_id_column = o->ro.learner_column;
	o->courses_id_column = recs_text_arg(fcinfo, 31, NULL);
	o->courses_id_arg = o->courses_id_column ? "courses_id_column" : "course_column";
	if (o->courses_id_column == NULL)
		o->courses_id_column = o->ro.course_column;
	o->ro.click_column = recs_text_arg(fcinfo, 21, "clicked");
	o->ro.bookmark_column = recs_text_arg(fcinfo, 22, "bookmarked");
	o->ro.seconds_column = recs_text_arg(fcinfo, 23, "watch_seconds");
	o->ro.weight_column = recs_text_arg(fcinfo, 24, NULL);
	(void) recs_choice_arg(fcinfo, 27, "auto", solver_choices, lengthof(solver_choices),
						   "solver", (char **) &o->solver);
	o->l2_auto = recs_bool_arg(fcinfo, 28, false);
	/* NULL (or 0): crosses not hashed */
	o->hash_bits = recs_int_arg(fcinfo, 29, 0, 0, GLMIX_MAX_HASH_BITS, "hash_bits");
	find_match_only_columns(fcinfo, 11, o);
	/* time_column (0.4.0): NULL is the conventional shown_at when there is one */
	o->ro.time_column = recs_text_arg(fcinfo, 25, NULL);
	if (o->ro.time_column == NULL && get_attnum(o->impressions, "shown_at") != InvalidAttrNumber)
		o->ro.time_column = "shown_at";
	o->ro.through = PG_NARGS() <= 26 || PG_ARGISNULL(26) ? NAN : recs_timestamp_arg(fcinfo, 26, "through");
	if (!isnan(o->ro.through) && o->ro.time_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("through needs a time column, and %s has no column \"shown_at\"",
						recs_relation_name(o->impressions)),
				 errhint("Name the impressions' time column with time_column.")));
	/* max_rows 0 stands for NULL, no cap: a given 0 is out of range like -1 */
	if (o->min_rows < 1 || (!PG_ARGISNULL(13) && o->max_rows < o->min_rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_rows must be at least 1 and max_rows at least min_rows"),
				 errdetail("min_rows is %d, max_rows %d.", o->min_rows, o->max_rows),
				 errhint("Leave max_rows NULL for no cap.")));

	/* random-effect columns: by default the learner and course id columns */
	if (PG_ARGISNULL(10))
	{
		o->recols = palloc(sizeof(char *) * 2);
		o->recols[0] = (char *) o->ro.learner_column;
		o->recols[1] = (char *) o->ro.course_column;
		o->nrecols = 2;
	}
	else
		o->recols = recs_text_array_arg(fcinfo, 10, &o->nrecols);
	if (o->nrecols > GLMIX_MAX_RANDOM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d random-effect columns", GLMIX_MAX_RANDOM)));
	for (int k = 0; k <= o->nrecols; k++)
	{
		/* the peer's defaults, chosen on the ML-100K validation split */
		o->l2[k] = k == 0 ? 300.0 : 10.0;
		o->intercept[k] = true;
	}
	if (!PG_ARGISNULL(8))
	{
		int			n;
		const double *v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(8), &n, "l2");

		if (n != 1 + o->nrecols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 needs %d values (the fixed effect, then each random effect), not %d",
							1 + o->nrecols, n)));
		memcpy(o->l2, v, sizeof(double) * n);
	}
	for (int k = 0; k <= o->nrecols; k++)
		if (!(o->l2[k] > 0) || isinf(o->l2[k]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 weights must be positive and finite"),
					 errdetail("Without regularisation separable data have no finite fit.")));
	if (!PG_ARGISNULL(14))
	{
		Datum	   *el;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(14), BOOLOID, 1, true, TYPALIGN_CHAR,
						  &el, &nulls, &n);
		if (n != 1 + o->nrecols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("intercepts needs %d values (the fixed effect, then each random effect), not %d",
							1 + o->nrecols, n)));
		for (int k = 0; k < n; k++)
			o->intercept[k] = nulls[k] ? true : DatumGetBool(el[k]);
	}
}

static char *
source_json(const GlmixOptions *o)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "impressions", recs_relation_name(o->impressions));
	json_out_string(&j, "learners", recs_relation_name(o->learners));
	json_out_string(&j, "courses", recs_relation_name(o->courses));
	return json_out_finish(&j);
}

/* the hyper-parameters as trained, for recs.model.params */
static char *
params_json(const GlmixTraining *t, const GlmixOptions *o)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "label", o->ro.label);
	json_out_string(&j, "weighting", o->ro.weighting);
	json_out_int(&j, "passes", o->passes);
	json_out_string(&j, "solver", t->tron ? "tron" : "newton");
	json_out_bool(&j, "l2_auto", o->l2_auto);
	json_out_numbers(&j, "l2", o->l2, t->nre + 1, "%g");
	json_out_array(&j, "random_effects");
	for (int k = 0; k < t->nre; k++)
		json_out_string(&j, NULL, t->co[k].re->column);
	json_out_end(&j);
	json_out_array(&j, "crosses");
	for (int p = 0; p < t->lay.ncross; p++)
		json_out_string(&j, NULL, psprintf("%s:%s", t->learners->cols[t->lay.cross[p].lcol].name,
											t->courses->cols[t->lay.cross[p].ccol].name));
	json_out_end(&j);
	json_out_array(&j, "matches");
	for (int q = 0; q < t->lay.nmatch; q++)
		json_out_string(&j, NULL, glmix_match_spec(&t->lay.match[q], t->learners, t->courses));
	json_out_end(&j);
	if (o->hash_bits > 0)
		json_out_int(&j, "hash_bits", o->hash_bits);
	else
		json_out_null(&j, "hash_bits");
	json_out_int(&j, "min_rows", o->min_rows);
	if (o->max_rows > 0)
		json_out_int(&j, "max_rows", o->max_rows);
	else
		json_out_null(&j, "max_rows");
	json_out_int(&j, "seed", o->seed);
	json_out_int(&j, "threads", o->threads);
	return json_out_finish(&j);
}

/* what the training did, for recs.model.metrics */
static char *
metrics_json(const GlmixTraining *t, const GlmixOptions *o, double final_obj,
			 const GlmixPassLog *history, double vauc, double vll, const double *phase,
			 double train_seconds)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_number(&j, "objective", final_obj, "%.6f");
	json_out_int(&j, "train_rows", t->rows->n);
	json_out_int(&j, "train_positive", t->rows->n_positive);
	json_out_object(&j, "skipped");
	json_out_int(&j, "null_id", t->rows->null_id);
	json_out_int(&j, "null_label", t->rows->null_label);
	json_out_int(&j, "bad_time", t->rows->bad_time);
	json_out_end(&j);
	json_out_int(&j, "after_through", t->rows->after_through);
	json_out_int(&j, "fixed_features", t->lay.dim);
	json_out_int(&j, "fixed_nonzeros", t->fixed_nnz);
	json_out_int(&j, "fixed_aggregate_passes", t->fixed_passes);
	if (t->tron)
	{
		json_out_int(&j, "tron_iterations", t->tron_iterations);
		json_out_int(&j, "tron_cg_steps", t->tron_cg_steps);
	}
	json_out_object(&j, "entity_models");
	for (int k = 0; k < t->nre; k++)
		json_out_int(&j, t->co[k].re->column, t->co[k].nmodels);
	json_out_end(&j);
	/* on Citus: the shards the work relations were distributed over */
	if (t->citus_shards > 0)
		json_out_int(&j, "citus_shards", t->citus_shards);
	/* and whether the blocks were built there, the coordinator flat (glmix_flat.c) */
	if (t->flat)
		json_out_bool(&j, "citus_flat", true);
	if (t->vrows)
	{
		json_out_number(&j, "validation_auc", vauc, "%.6f");
		json_out_number(&j, "validation_logloss", vll, "%.6f");
	}
	json_out_array(&j, "passes");
	for (int p = 0; p < o->passes; p++)
	{
		json_out_object(&j, NULL);
		json_out_int(&j, "pass", p + 1);
		json_out_number(&j, "objective", history[p].objective, "%.6f");
		if (t->vrows)
		{
			json_out_number(&j, "validation_auc", history[p].vauc, "%.6f");
			json_out_number(&j, "validation_logloss", history[p].vll, "%.6f");
		}
		json_out_end(&j);
	}
	json_out_end(&j);
	json_out_object(&j, "seconds");
	json_out_number(&j, "read", phase[0], "%.3f");
	json_out_number(&j, "stage", phase[1], "%.3f");
	json_out_number(&j, "fit", phase[2], "%.3f");
	json_out_number(&j, "store", phase[3], "%.3f");
	json_out_end(&j);
	json_out_number(&j, "train_seconds", train_seconds, "%.3f");
	if (o->l2_search)
		json_out_raw(&j, "l2_search", o->l2_search);
	return json_out_finish(&j);
}

/*
 * The four phases, then the catalog row and metrics; returns the model id.
 */
static int64
run_training(FunctionCallInfo fcinfo, const GlmixOptions *op)
{
	int			spi_level;
	GlmixOptions o = *op;
	GlmixTraining t;
	double		phase[4];		/* read, stage, fit, store seconds */
	double		t0 = recs_clock_seconds(),
				tp;
	int64		model_id;
	int			save_nestlevel;
	GlmixPassLog    *history = palloc0(sizeof(GlmixPassLog) * o.passes);
	double		final_obj,
				vauc = NAN,
				vll = NAN;
	bool		flat;
	const char *why;

	memset(&t, 0, sizeof(t));
	spi_level = recs_spi_connect();
	/* parallel plans only when asked for, and then without cost hurdles */
	save_nestlevel = NewGUCNestLevel();
	if (o.threads > 1)
	{
		set_guc("max_parallel_workers_per_gather", psprintf("%d", o.threads - 1));
		set_guc("parallel_setup_cost", "0");
		set_guc("parallel_tuple_cost", "0");
		set_guc("min_parallel_table_scan_size", "0");
	}
	else
		set_guc("max_parallel_workers_per_gather", "0");

	/* l2 => auto: a search on a validation slice sets o.l2 first */
	if (o.l2_auto)
		glmix_l2_search(fcinfo, &o);

	tp = recs_clock_seconds();
	flat = glmix_flat_wanted(&o, &why) && glmix_flat_prepare(fcinfo, &t, &o);
	if (flat)
	{
		/* a flat Citus training (glmix_flat.c): the rows stay on the workers */
		phase[0] = recs_clock_seconds() - tp;
		tp = recs_clock_seconds();
		glmix_flat_stage(&t, &o);
		phase[1] = recs_clock_seconds() - tp;
		tp = recs_clock_seconds();
		final_obj = glmix_flat_fit(&t, &o, history, &vauc, &vll);
		AtEOXact_GUC(true, save_nestlevel);
		phase[2] = recs_clock_seconds() - tp;
	}
	else
	{
		glmix_read_data(&t, &o);
		glmix_parse_crosses(fcinfo, 11, &t, o.hash_bits);
		glmix_build_designs(&t, &o);
		phase[0] = recs_clock_seconds() - tp;

		tp = recs_clock_seconds();
		glmix_stage(&t, &o);
		phase[1] = recs_clock_seconds() - tp;

		tp = recs_clock_seconds();
		final_obj = glmix_fit(&t, &o, history, &vauc, &vll);
		glmix_drop_work(&t);
		AtEOXact_GUC(true, save_nestlevel);
		glmix_release_fit_data(&t);
		phase[2] = recs_clock_seconds() - tp;
	}

	tp = recs_clock_seconds();
	/* trained through: the given end, else the last impression used */
	model_id = model_store_create(o.name, "glmix", source_json(&o), params_json(&t, &o),
								  !isnan(o.ro.through) ? o.ro.through : t.rows->t_max);
	if (flat)
		glmix_flat_collect(&t);
	glmix_store_training(model_id, &t, &o);
	if (flat)
	{
		glmix_flat_store_learners(model_id, &t, &o);
		glmix_flat_drop(&t);
	}
	phase[3] = recs_clock_seconds() - tp;

	model_store_set_metrics(model_id, metrics_json(&t, &o, final_obj, history, vauc, vll, phase,
												   recs_clock_seconds() - t0));
	if (o.activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	return model_id;
}

/* recs.train_glmix(): options checked, then run_training() with glibc tuned */
PG_FUNCTION_INFO_V1(train_glmix);
Datum
train_glmix(PG_FUNCTION_ARGS)
{
	GlmixOptions o;
	volatile int64 model_id = 0;

	read_options(fcinfo, &o);
	keys_begin();

	/*
	 * Every aggregate pass allocates and frees a few MB (states, results);
	 * glibc would hand that memory back to the kernel each time and page
	 * fault it in again, which costs more than the arithmetic.  Keep freed
	 * memory in the heap for the duration of the training, and restore
	 * glibc's defaults however it ends.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	PG_TRY();
	{
		model_id = run_training(fcinfo, &o);
	}
	PG_FINALLY();
	{
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	}
	PG_END_TRY();
	PG_RETURN_INT64(model_id);
}
