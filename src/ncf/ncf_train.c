/*
 * ncf_train.c -- recs.train_ncf(): from a watches relation to a stored NCF model
 *
 * The SQL entry: the arguments are checked (ncf_parse_options), then the
 * phases, each in a memory context under the caller's:
 *   1. data   ncf_data.c: the one watches path, the `through` cut and the
 *             course catalogue; the course features (ncf_content.c), if
 *             any; co-watch rows, positives with their
 *             contexts, and the memory estimate checked against
 *             recs.memory_limit before the big allocations;
 *   2. fit    ncf_fit.c: ncf_train(), a NOTICE per epoch; with history
 *             terms, their weights on the validation slice (ncf_history.c)
 *             and the towers trained again on every watch; then the final
 *             embeddings of every course and learner (ncf_net.c);
 *   3. store  ncf_store.c: the model row, both towers' layers, the
 *             embeddings, the co-watch rows, recs.model_learner, metrics.
 * All of it runs in the caller's transaction: an error or a cancel leaves no
 * trace of the new model and the previous one keeps serving.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "ncf.h"
#include "options.h"
#include "model_store.h"
#include "keys.h"
#include "spi_util.h"
#include "timing.h"

#define SECONDS_PER_DAY 86400.0
#define MAX_WIDTH 8192
#define MAX_EPOCHS 100000
/* train_ncf's order_decay when not given (docs/ncf.md#order: chosen by measurement) */
#define DEFAULT_ORDER_DECAY 1.0

static void
layers_arg(FunctionCallInfo fcinfo, int argno, NcfConfig *cfg)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
	{
		cfg->nhidden = 2;
		cfg->hidden[0] = 256;
		cfg->hidden[1] = 128;
		return;
	}
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("layers must be a one-dimensional array")));
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > NCF_MAX_LAYERS - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("layers must list between 1 and %d hidden widths", NCF_MAX_LAYERS - 1),
				 errhint("The default is '{256,128}': a sparse layer of 256 units, then a dense layer of 128.")));
	cfg->nhidden = n;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || DatumGetInt32(elems[i]) < 1 || DatumGetInt32(elems[i]) > MAX_WIDTH)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("layer widths must be between 1 and %d", MAX_WIDTH)));
		cfg->hidden[i] = DatumGetInt32(elems[i]);
	}
}

/* the watches columns (arguments first..first+3); no seconds column: no threshold */
static void
watch_columns_arg(FunctionCallInfo fcinfo, int first, WatchColumns *cols, double *min_seconds)
{
	cols->learner = recs_text_arg(fcinfo, first, "learner_id");
	cols->course = recs_text_arg(fcinfo, first + 1, "course_id");
	cols->time = recs_text_arg(fcinfo, first + 2, "watched_at");
	cols->seconds = recs_text_arg(fcinfo, first + 3, NULL);	/* NULL: no such column */
	if (cols->seconds == NULL)
		*min_seconds = 0;
}

/*
 * course_features (first) and content_dropout (first + 1): the course
 * tower's content inputs, checked against the courses relation
 */
static void
content_args(FunctionCallInfo fcinfo, int first, NcfOptions *o)
{
	int			n;
	char	  **names = recs_text_array_arg(fcinfo, first, &n);
	double		dropout = recs_float_arg(fcinfo, first + 1, NCF_CONTENT_DROPOUT, 0.0, false,
										 "content_dropout");

	if (dropout > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("content_dropout must be between 0 and 1, not %g", dropout),
				 errdetail("It is the probability that a training example sees its course's content features alone.")));
	o->cfg.content_dropout = (float) dropout;
	if (names == NULL)
		return;
	o->content = palloc0(sizeof(NcfContent));
	ncf_content_columns(o->courses, names, n, "course_features", o->content);
}

/*
 * One of a text argument's allowed values (its index), the default when NULL;
 * anything else is 22023 naming the choices.
 */
static int
choice_arg(FunctionCallInfo fcinfo, int argno, const char *what, const char *const *choices,
		   int n, int dflt)
{
	char	   *v;
	StringInfoData list;

	if (PG_ARGISNULL(argno))
		return dflt;
	v = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	for (int i = 0; i < n; i++)
		if (strcmp(v, choices[i]) == 0)
			return i;
	/* 'a' or 'b';  'a', 'b' or 'c' */
	initStringInfo(&list);
	for (int i = 0; i < n; i++)
		appendStringInfo(&list, "%s'%s'", i == 0 ? "" : (i == n - 1 ? " or " : ", "), choices[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be one of %s, not \"%s\"", what, list.data, v)));
	pg_unreachable();
}

/* train_ncf's loss; 'auto' is the binary loss until ncf_auto_config has seen the data */
static void
loss_arg(FunctionCallInfo fcinfo, int argno, NcfConfig *cfg)
{
	static const char *const losses[] = {"binary", "softmax", "auto"};
	int			loss = choice_arg(fcinfo, argno, "loss", losses, 3, 2);

	cfg->loss_auto = loss == 2;
	cfg->loss = loss == 1 ? NCF_LOSS_SOFTMAX : NCF_LOSS_BINARY;
}

/* the learner encoder, the loss and the validation of train_ncf */
static void
method_args(FunctionCallInfo fcinfo, int first, NcfConfig *cfg)
{
	static const char *const encoders[] = {"bag", "attention"};
	static const char *const validations[] = {"none", "auto"};

	cfg->encoder = (NcfEncoder) choice_arg(fcinfo, first, "encoder", encoders, 2, NCF_ENCODER_BAG);
	cfg->attention_window = recs_int_arg(fcinfo, first + 1, 20, 1, NCF_MAX_CONTEXT,
										 "attention_window");
	loss_arg(fcinfo, first + 2, cfg);
	cfg->validation_auto = choice_arg(fcinfo, first + 3, "validation", validations, 2, 0) == 1;
}

/*
 * A number of days given in seconds (trend_days, half_life_days): NULL is 0,
 * none; else a finite number of days above 0
 */
static double
days_arg(FunctionCallInfo fcinfo, int argno, const char *name, const char *detail,
		 const char *hint)
{
	double		days;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return 0;
	days = PG_GETARG_FLOAT8(argno);
	if (!isfinite(days) || days <= 0 || days * SECONDS_PER_DAY > 1e12)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number of days above 0, not %g", name, days),
				 errdetail("%s", detail),
				 errhint("%s", hint)));
	return days * SECONDS_PER_DAY;
}

/* trend_days (train_ncf, _ncf_trend_counts): NULL is no trend term */
static void
trend_arg(FunctionCallInfo fcinfo, int argno, NcfConfig *cfg)
{
	cfg->trend_seconds = days_arg(fcinfo, argno, "trend_days",
								  "A course's trend term counts its watches in the trend_days before each example's time.",
								  "Pass a number such as 30, or NULL for no trend term.");
}

/*
 * trend_weight (train_ncf): the served trend term's multiple of the learnt
 * one; NULL is 1.  Only with trend_days.
 */
static void
trend_weight_arg(FunctionCallInfo fcinfo, int argno, NcfConfig *cfg)
{
	cfg->trend_weight = 1.0;
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return;
	cfg->trend_weight = PG_GETARG_FLOAT8(argno);
	if (!isfinite(cfg->trend_weight) || cfg->trend_weight < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trend_weight must be a finite number of at least 0, not %g", cfg->trend_weight),
				 errdetail("The served trend term is trend_weight times the learnt one."),
				 errhint("Pass a number such as 4, or NULL for the learnt term as it is.")));
	if (cfg->trend_seconds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trend_weight needs trend_days"),
				 errdetail("Without trend_days the model has no trend term to weigh."),
				 errhint("Pass trend_days as well, such as trend_days => 30.")));
}

/*
 * affinity_columns (first) and path_columns (first + 1): the history terms
 * (ncf_history.c), fitted on the validation slice
 */
static void
history_args(FunctionCallInfo fcinfo, int first, NcfOptions *o)
{
	int			nattr,
				npath;
	char	  **attr = recs_text_array_arg(fcinfo, first, &nattr);
	char	  **path = recs_text_array_arg(fcinfo, first + 1, &npath);

	if (attr == NULL && path == NULL)
		return;
	o->history = palloc0(sizeof(NcfHistory));
	ncf_history_args(o->courses, attr, nattr, path, npath, o->cfg.validation_auto, o->history);
}

/* train_ncf's arguments, with defaults, checked before any work */
static void
ncf_parse_options(FunctionCallInfo fcinfo, NcfOptions *o)
{
	NcfConfig  *cfg = &o->cfg;

	memset(o, 0, sizeof(*o));
	o->name = recs_text_arg(fcinfo, 1, "ncf");
	o->courses = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	/* NULL: the courses relation names its ids like the watches do */
	o->courses_id_column = recs_text_arg(fcinfo, 22, NULL);
	o->min_seconds = recs_float_arg(fcinfo, 3, 60.0, 0.0, false, "min_watch_seconds");
	o->window_days = recs_float_arg(fcinfo, 4, 365.0, 0.0, true, "window_days");
	o->labels_given = !PG_ARGISNULL(5);
	o->activate = recs_bool_arg(fcinfo, 17, true);
	recs_require_arg(fcinfo, 0, "watches relation");
	o->watches = PG_GETARG_OID(0);
	layers_arg(fcinfo, 7, cfg);
	cfg->dim = recs_int_arg(fcinfo, 8, 64, 1, MAX_WIDTH, "dim");
	/* NULL: NCF_DEFAULT_EPOCHS, or fewer on large data (ncf_auto_config) */
	cfg->epochs_auto = PG_ARGISNULL(9);
	cfg->epochs = recs_int_arg(fcinfo, 9, NCF_DEFAULT_EPOCHS, 1, MAX_EPOCHS, "epochs");
	cfg->negatives = recs_int_arg(fcinfo, 10, 4, 1, 1000, "negatives");
	cfg->learning_rate = (float) recs_float_arg(fcinfo, 11, 0.001, 0.0, true, "learning_rate");
	cfg->batch_size = recs_int_arg(fcinfo, 12, 256, 1, 1 << 20, "batch_size");
	cfg->l2 = (float) recs_float_arg(fcinfo, 13, 0.0, 0.0, false, "l2");
	o->topn = recs_int_arg(fcinfo, 14, 50, 1, 100000, "neighbours");
	cfg->seed = (uint64) recs_int64_arg(fcinfo, 15, 42);
	cfg->threads = recs_int_arg(fcinfo, 16, 1, 1, 64, "threads");
	cfg->window_seconds = o->window_days * SECONDS_PER_DAY;
	cfg->order_decay = recs_float_arg(fcinfo, 23, DEFAULT_ORDER_DECAY, 0.0, false, "order_decay");
	if (cfg->order_decay > 1.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("order_decay must be between 0 and 1, not %g", cfg->order_decay),
				 errdetail("The k-th latest watch of a context weighs order_decay^k: 1 ignores order, 0 keeps only the latest watch."),
				 errhint("Pass a number such as 0.9, or 1 for an unordered history.")));
	watch_columns_arg(fcinfo, 18, &o->cols, &o->min_seconds);
	o->through = PG_ARGISNULL(6) ? NAN : recs_timestamp_arg(fcinfo, 6, "through");
	cfg->labels_from = o->labels_given ? recs_timestamp_arg(fcinfo, 5, "labels_from") : -INFINITY;
	content_args(fcinfo, 24, o);
	method_args(fcinfo, 26, cfg);
	cfg->context_norm = (NcfContextNorm) choice_arg(fcinfo, 30, "context_norm",
													ncf_context_norm_names, 3, NCF_NORM_NONE);
	if (cfg->context_norm != NCF_NORM_NONE && cfg->encoder == NCF_ENCODER_ATTENTION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("context_norm '%s' needs encoder 'bag'",
						ncf_context_norm_names[cfg->context_norm]),
				 errdetail("The attention encoder pools a context through its own softmax weights."),
				 errhint("Pass context_norm => 'none' with encoder => 'attention'.")));
	trend_arg(fcinfo, 31, cfg);
	o->trend_days = cfg->trend_seconds > 0 ? PG_GETARG_FLOAT8(31) : 0;
	cfg->ensemble = recs_int_arg(fcinfo, 32, 1, 1, NCF_MAX_ENSEMBLE, "ensemble");
	cfg->half_life_seconds = days_arg(fcinfo, 33, "half_life_days",
									  "An example's weight halves every half_life_days before the latest one.",
									  "Pass a number such as 90, or NULL to weigh every example alike.");
	o->half_life_days = cfg->half_life_seconds > 0 ? PG_GETARG_FLOAT8(33) : 0;
	trend_weight_arg(fcinfo, 34, cfg);
	history_args(fcinfo, 35, o);
	cfg->member = 0;
	if (cfg->ensemble > 1 && cfg->encoder == NCF_ENCODER_ATTENTION)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ensemble needs encoder 'bag'"),
				 errdetail("The members' attention weights cannot be merged into one network."),
				 errhint("Pass encoder => 'bag', or ensemble => 1.")));
	if (cfg->ensemble > 1 && cfg->validation_auto)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ensemble cannot be combined with validation 'auto'"),
				 errdetail("Each member would keep another epoch."),
				 errhint("Choose epochs with validation => 'auto' on a single model (or recs.tune_ncf), then train the ensemble.")));
	/*
	 * softmax draws no negatives: the batch's other courses are its
	 * negatives; 'auto' may choose either loss
	 */
	if ((cfg->loss == NCF_LOSS_SOFTMAX || cfg->loss_auto) && cfg->batch_size < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 2 with loss 'softmax'"),
				 errdetail("The softmax's negatives are the other courses of a batch of batch_size positives."),
				 errhint("Pass a batch_size such as 1024.")));
	if (cfg->loss == NCF_LOSS_BINARY && cfg->batch_size < 1 + cfg->negatives)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must hold at least one positive with its negatives"),
				 errdetail("batch_size is %d and negatives is %d.", cfg->batch_size, cfg->negatives)));
}

/*
 * validation 'auto': the training data are in's watches before the cut
 * (ncf_validate.c), data->holdout the learners scored after each epoch
 */
static void
validation_split(const NcfInput *in, NcfOptions *o, NcfData *data, NcfHoldout *h)
{
	NcfInput	train;

	ncf_holdout_split(in, &o->cfg, &train, h);
	if (h->eligible == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("validation 'auto' found no learner to hold out"),
				 errdetail("The held-out slice is the latest tenth of the watches' time span, from %s on; no learner has a watch before it and a course in it they had not watched before.",
						   timestamptz_to_str(recs_epoch_to_timestamptz(h->cut))),
				 errhint("Train on more data, or with validation => 'none'.")));
	ereport(NOTICE,
			(errmsg("train_ncf: validation holds out " INT64_FORMAT " watches from %s on and scores %d of %d learners after each epoch",
					h->heldout_watches, timestamptz_to_str(recs_epoch_to_timestamptz(h->cut)),
					h->sample.n_learners, h->eligible)));
	ncf_data_from_input(&train, &o->cfg, o->topn, o->content, data);
	data->holdout = h;
}

/*
 * ensemble => K: K members at seeds seed, seed + 1, ... merged into model
 * (ncf_ensemble.c); cfg then describes the merged network (its widths times
 * K), which is what the final embeddings and the store read.  log gets each
 * epoch's seconds summed over the members, its loss averaged.
 */
static void
train_ensemble(const NcfData *data, NcfConfig *cfg, NcfModel *model, NcfEpochLog *log)
{
	int			k = cfg->ensemble;
	NcfModel   *members = palloc0(sizeof(NcfModel) * k);
	NcfEpochLog *one = palloc(sizeof(NcfEpochLog) * cfg->epochs);
	NcfConfig	mc = *cfg;

	for (int m = 0; m < k; m++)
	{
		mc.seed = cfg->seed + (uint64) m;
		mc.member = m;
		memset(one, 0, sizeof(NcfEpochLog) * cfg->epochs);
		ncf_train(data, &mc, &members[m], one);
		for (int e = 0; e < cfg->epochs; e++)
		{
			log[e].seconds += one[e].seconds;
			log[e].foreign_cpu += one[e].foreign_cpu;
			log[e].loss += one[e].loss / k;
		}
	}
	ncf_ensemble_merge(members, k, model);
	for (int l = 0; l < cfg->nhidden; l++)
		cfg->hidden[l] *= k;
	cfg->dim *= k;
}

/*
 * The history terms' weights, on the validation slice with the towers as
 * trained on the split, and a NOTICE with them
 */
static void
fit_history(NcfOptions *o, const NcfHoldout *h, const NcfData *data, const NcfModel *model)
{
	NcfHistory *hi = o->history;
	StringInfoData attr;

	ncf_history_fit(hi, h, data, &o->cfg, model);
	initStringInfo(&attr);
	for (int a = 0; a < hi->nattr; a++)
		appendStringInfo(&attr, ", %s %.3f", hi->attr_cols[a], hi->w_attr[a]);
	ereport(NOTICE,
			(errmsg("train_ncf: history terms fitted on %d held-out learners (" INT64_FORMAT " new courses, " INT64_FORMAT " rows, %d Newton steps, log-loss %.4f): ncf %.3f, co-watch %.3f, watches %.3f, recent watches %.3f, age %.3f%s%s",
					hi->fit_learners, hi->fit_positives, hi->fit_rows, hi->fit_iterations,
					hi->fit_loss, hi->w_ncf, hi->w_cowatch, hi->w_stats[0], hi->w_stats[1], hi->w_stats[2],
					hi->path_cols ? psprintf(", predecessor watched %.3f, predecessor missing %.3f, predecessor latest %.3f",
											 hi->w_watched, hi->w_missing, hi->w_latest) : "",
					attr.data)));
}

/*
 * The towers a model with history terms serves: trained again, on every
 * watch, for the epochs validation chose (the weights were fitted with the
 * split's towers, which never saw the latest tenth; the refit has seen
 * everything, as the model without history terms would after choosing
 * its epochs).  The loss and epochs are fixed to the split's.  data and
 * model are replaced; the run log keeps the split's curve, its time and
 * CPU gain the refit's.
 */
static void
refit_history(NcfOptions *o, const NcfInput *in, NcfData *data, NcfModel *model, NcfRunLog *run)
{
	NcfConfig	cfg = o->cfg;
	NcfEpochLog *log;

	cfg.epochs = run->best_epoch + 1;
	cfg.epochs_auto = false;
	cfg.loss_auto = false;
	o->history->refit_epochs = cfg.epochs;
	o->history->cowatch = NULL; /* the split's rows are gone */
	ereport(NOTICE,
			(errmsg("train_ncf: the history terms' towers: %d epochs on every watch", cfg.epochs)));
	ncf_data_from_input(in, &cfg, o->topn, o->content, data);
	log = palloc0(sizeof(NcfEpochLog) * cfg.epochs);
	run->cpu_seconds -= recs_cpu_seconds();
	ncf_train(data, &cfg, model, log);
	run->cpu_seconds += recs_cpu_seconds();
	for (int e = 0; e < cfg.epochs; e++)
		run->train_seconds += log[e].seconds;
}

PG_FUNCTION_INFO_V1(train_ncf);
Datum
train_ncf(PG_FUNCTION_ARGS)
{
	NcfOptions	o;
	NcfInput	in;
	NcfData		data;
	NcfModel	model;
	NcfRunLog	run;
	NcfHoldout	holdout;
	float	   *course_emb,
			   *course_trend,
			   *learner_emb;
	NcfSparse	contexts;
	int64		model_id;
	int			spi_level;
	MemoryContext phasecxt,
				oldcxt,
				splitcxt = NULL;

	ncf_parse_options(fcinfo, &o);
	spi_level = recs_spi_connect();
	keys_begin();
	phasecxt = AllocSetContextCreate(CurrentMemoryContext, "ncf training", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(phasecxt);

	/* 1. data */
	ncf_input(o.watches, &o.cols, o.min_seconds, o.courses, o.courses_id_column, o.through,
			  "train_ncf", &in);
	if (o.content)
	{
		ncf_content_read(o.courses, o.courses_id_column ? o.courses_id_column : o.cols.course,
						 o.courses_id_column ? "courses_id_column" : "course_column",
						 o.content, &o.content->values);
		MemoryContextSwitchTo(phasecxt);
	}
	if (o.history)
	{
		ncf_history_read(o.courses, o.courses_id_column ? o.courses_id_column : o.cols.course,
						 o.courses_id_column ? "courses_id_column" : "course_column",
						 &in, o.history);
		MemoryContextSwitchTo(phasecxt);
	}
	run.holdout = NULL;
	if (o.cfg.validation_auto)
	{
		/* with history terms the split is dropped after their fit (refit_history) */
		if (o.history)
			splitcxt = AllocSetContextCreate(phasecxt, "ncf split", ALLOCSET_DEFAULT_SIZES);
		MemoryContextSwitchTo(splitcxt ? splitcxt : phasecxt);
		validation_split(&in, &o, &data, &holdout);
		MemoryContextSwitchTo(phasecxt);
	}
	else
		ncf_data_from_input(&in, &o.cfg, o.topn, o.content, &data);
	run.best_epoch = o.cfg.epochs - 1;	/* epochs is known now (ncf_auto_config) */

	/* 2. fit */
	run.epochs = palloc0(sizeof(NcfEpochLog) * o.cfg.epochs);
	run.cpu_seconds = -recs_cpu_seconds();
	if (o.cfg.ensemble > 1)
		train_ensemble(&data, &o.cfg, &model, run.epochs);
	else
		ncf_train(&data, &o.cfg, &model, run.epochs);
	run.cpu_seconds += recs_cpu_seconds();
	run.train_seconds = 0;
	for (int e = 0; e < o.cfg.epochs; e++)
		run.train_seconds += run.epochs[e].seconds;
	if (o.cfg.validation_auto)
	{
		/* the best epoch's network embeds every learner from all their watches */
		run.holdout = &holdout;
		run.best_epoch = ncf_best_epoch(run.epochs, o.cfg.epochs);
		ereport(NOTICE,
				(errmsg("train_ncf: validation kept epoch %d of %d: recall@%d %.4f, ndcg@%d %.4f",
						run.best_epoch + 1, o.cfg.epochs, NCF_HOLDOUT_K,
						run.epochs[run.best_epoch].recall, NCF_HOLDOUT_K,
						run.epochs[run.best_epoch].ndcg)));
		if (o.history)
		{
			fit_history(&o, &holdout, &data, &model);
			MemoryContextDelete(splitcxt);
			refit_history(&o, &in, &data, &model, &run);
			/* served: the courses' statistics at the end of the data */
			ncf_history_stats(in.offsets, in.items, in.when, in.n_learners, in.through, o.history);
		}
		else
			ncf_holdout_restore(&data, &in);
	}
	ncf_final_embeddings(&in, &data, &o.cfg, &model, &course_emb, &learner_emb, &contexts);
	/* the trend term at the end of the data, over every watch */
	course_trend = ncf_trend_terms(&in, &o.cfg, &model);

	/* 3. store */
	model_id = ncf_store(&o, &in, &data, &model, &run, course_emb, course_trend, learner_emb,
						 &contexts);
	if (o.activate)
		model_store_activate(model_id, "default");

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(phasecxt);
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}

/*
 * recs._ncf_training_contexts(): the positives and learner-tower contexts the
 * trainer would use, computed by the same code (ncf_data_prepare).  For
 * tests: no context may hold a watch at or after its label's time.
 */
PG_FUNCTION_INFO_V1(ncf_training_contexts);
Datum
ncf_training_contexts(PG_FUNCTION_ARGS)
{
	int			spi_level;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			watches = PG_GETARG_OID(0);
	double		window_days = recs_float_arg(fcinfo, 1, 365.0, 0.0, true, "window_days");
	double		min_seconds = recs_float_arg(fcinfo, 2, 60.0, 0.0, false, "min_watch_seconds");
	WatchColumns cols;
	NcfInput	in;
	NcfConfig	cfg;
	NcfData		data;

	watch_columns_arg(fcinfo, 4, &cols, &min_seconds);
	memset(&cfg, 0, sizeof(cfg));
	cfg.order_decay = 1.0;		/* every context in full */
	cfg.window_seconds = window_days * SECONDS_PER_DAY;
	cfg.labels_from = PG_ARGISNULL(3) ? -INFINITY : recs_timestamp_arg(fcinfo, 3, "labels_from");

	InitMaterializedSRF(fcinfo, 0);
	spi_level = recs_spi_connect();
	keys_begin();
	ncf_input(watches, &cols, min_seconds, InvalidOid, NULL, NAN, "_ncf_training_contexts", &in);
	memset(&data, 0, sizeof(data));
	data.n_learners = in.n_learners;
	data.n_items = in.n_items;
	data.offsets = in.offsets;
	data.items = in.items;
	data.when = in.when;
	ncf_data_prepare(&data, &cfg);
	for (int64 p = 0; p < data.n_pos; p++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Datum	   *ctx = palloc(sizeof(Datum) * Max(data.ctx_len[p], 1));
		int64		w;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < data.ctx_len[p]; j++)
			ctx[j] = Int64GetDatum(in.item_ids[data.items[data.ctx_start[p] + j]]);
		/* the label's own watch: the first of its learner with this item at/after the context */
		w = data.ctx_start[p] + data.ctx_len[p];
		while (data.items[w] != data.pos_item[p])
			w++;
		values[0] = Int64GetDatum(in.learner_ids[data.pos_learner[p]]);
		values[1] = Int64GetDatum(in.item_ids[data.pos_item[p]]);
		values[2] = TimestampTzGetDatum(recs_epoch_to_timestamptz(data.when[w]));
		values[3] = PointerGetDatum(construct_array(ctx, data.ctx_len[p], INT8OID, 8, true, TYPALIGN_DOUBLE));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(ctx);
	}
	recs_spi_finish(spi_level);
	return (Datum) 0;
}

/*
 * recs._ncf_trend_counts(watches, trend_days, at, closed): each watched
 * course's cleaned watches in [at - trend_days, at) (closed: up to at
 * inclusive, as the stored trend term counts at the end of the data) and
 * its bucket, by the trainer's own code (ncf_trend.c).  For tests.
 */
PG_FUNCTION_INFO_V1(ncf_trend_counts);
Datum
ncf_trend_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			watches = PG_GETARG_OID(0);
	NcfConfig	cfg;
	double		at = recs_timestamp_arg(fcinfo, 2, "at");
	bool		closed = PG_GETARG_BOOL(3);
	WatchColumns cols;
	double		min_seconds = 60.0;
	NcfInput	in;
	NcfTrendIndex ix;
	int			spi_level;

	trend_arg(fcinfo, 1, &cfg);
	cols.learner = "learner_id";
	cols.course = "course_id";
	cols.time = "watched_at";
	cols.seconds = "watch_seconds";
	InitMaterializedSRF(fcinfo, 0);
	spi_level = recs_spi_connect();
	keys_begin();
	ncf_input(watches, &cols, min_seconds, InvalidOid, NULL, NAN, "_ncf_trend_counts", &in);
	ncf_trend_index(in.n_learners, in.n_items, in.offsets, in.items, in.when, &ix);
	for (int c = 0; c < in.n_items; c++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		int64		n = ncf_trend_count(&ix, c, at - cfg.trend_seconds, at, closed);

		values[0] = Int64GetDatum(in.item_ids[c]);
		values[1] = Int64GetDatum(n);
		values[2] = Int32GetDatum(ncf_trend_bucket(n));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	recs_spi_finish(spi_level);
	return (Datum) 0;
}

/*
 * recs._ncf_softmax_loss(scores, label, log_q, temperature): one row of the
 * softmax loss, by the trainer's own kernel (ncf_softmax_row), with its
 * gradient with respect to the scores.  For tests: a known answer on a
 * hand-checkable row.  label is 1-based; a score of -Infinity is a masked
 * column.
 */
PG_FUNCTION_INFO_V1(ncf_softmax_loss);
Datum
ncf_softmax_loss(PG_FUNCTION_ARGS)
{
	ArrayType  *scores = PG_GETARG_ARRAYTYPE_P(0);
	int32		label = PG_GETARG_INT32(1);
	ArrayType  *logq = PG_GETARG_ARRAYTYPE_P(2);
	float4		temperature = PG_GETARG_FLOAT4(3);
	int			n = ArrayGetNItems(ARR_NDIM(scores), ARR_DIMS(scores));
	float	   *z;
	Datum	   *grad;
	double		loss;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (ARR_NDIM(scores) > 1 || ARR_HASNULL(scores) || ARR_HASNULL(logq) ||
		ArrayGetNItems(ARR_NDIM(logq), ARR_DIMS(logq)) != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("scores and log_q must be one-dimensional arrays of the same length without NULLs")));
	if (label < 1 || label > n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be between 1 and %d", n)));
	if (!(temperature > 0) || isinf(temperature))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("temperature must be positive and finite")));
	z = palloc(sizeof(float) * n);
	memcpy(z, ARR_DATA_PTR(scores), sizeof(float) * n);
	if (!isfinite(z[label - 1]))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the label's score must be finite")));
	loss = ncf_softmax_row(z, n, label - 1, (const float *) ARR_DATA_PTR(logq), temperature, 1.0f);
	grad = palloc(sizeof(Datum) * n);
	for (int c = 0; c < n; c++)
		grad[c] = Float4GetDatum(z[c]);
	values[0] = Float8GetDatum(loss);
	values[1] = PointerGetDatum(construct_array(grad, n, FLOAT4OID, 4, true, TYPALIGN_INT));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}

/*
 * recs._ncf_auto_config(positives, loss, epochs): the loss and the epochs
 * train_ncf trains with on data of that many positives, given its loss and
 * epochs arguments (loss 'auto', epochs NULL: chosen by ncf_auto_config).
 * For tests: the thresholds without training on millions of positives.
 */
PG_FUNCTION_INFO_V1(ncf_auto_config_sql);
Datum
ncf_auto_config_sql(PG_FUNCTION_ARGS)
{
	NcfConfig	cfg;
	int64		n_pos;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	recs_require_arg(fcinfo, 0, "positives");
	n_pos = PG_GETARG_INT64(0);
	if (n_pos < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("positives must be at least 1")));
	memset(&cfg, 0, sizeof(cfg));
	loss_arg(fcinfo, 1, &cfg);
	cfg.epochs_auto = PG_ARGISNULL(2);
	cfg.epochs = recs_int_arg(fcinfo, 2, NCF_DEFAULT_EPOCHS, 1, MAX_EPOCHS, "epochs");
	ncf_auto_config(&cfg, n_pos);
	values[0] = CStringGetTextDatum(cfg.loss == NCF_LOSS_SOFTMAX ? "softmax" : "binary");
	values[1] = Int32GetDatum(cfg.epochs);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
