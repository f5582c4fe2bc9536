/*
 * popularity_train.c -- recs.train_popularity(): the popularity-by-language model
 *
 * The first recommender, and later the cold-start fallback: per language
 * group, the smoothed share of its active learners who watched a course in
 * a recent window (popularity_fit.c has the formula).  The SQL entry reads
 * the options, the watches (the one watches path, ingest/watches.c) and the
 * learners' languages, counts (popularity_fit.c) and stores
 * (popularity_store.c): recs.course_popularity, and each learner's language
 * and watched courses in recs.model_learner for serving.  Watches that a
 * Citus cluster distributes -- a distributed table, or a plain view of one
 * such as train_all's cut of the watches in time -- are counted by the
 * database instead (popularity_pushdown.c: partial aggregates on the
 * workers' shards, the cleaning of ingest/watches.c as SQL), into the same
 * counts; metrics->'citus_shards' then says over how many shards.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "citus_util.h"
#include "json_out.h"
#include "options.h"
#include "popularity.h"
#include "model_store.h"
#include "keys.h"
#include "spi_util.h"

/* train_popularity's arguments, checked */
typedef struct PopularityOptions
{
	Oid			watches;
	Oid			learners;		/* InvalidOid: no languages */
	char	   *name;
	double		window_days;
	double		min_seconds;
	double		through;		/* NaN: the last watch */
	bool		activate;
	double		alpha;			/* smoothing */
	WatchColumns cols;
	char	   *langcol;
	const char *learners_idcol;	/* the learners' id column: learners_id_column, */
	const char *learners_idarg; /* or learner_column (the argument, for messages) */
} PopularityOptions;

static void
popularity_parse_options(FunctionCallInfo fcinfo, PopularityOptions *o)
{
	recs_require_arg(fcinfo, 0, "watches relation");
	o->watches = PG_GETARG_OID(0);
	o->learners = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	o->name = recs_text_arg(fcinfo, 2, "popularity");
	o->activate = recs_bool_arg(fcinfo, 6, true);
	o->cols.learner = recs_text_arg(fcinfo, 8, "learner_id");
	o->cols.course = recs_text_arg(fcinfo, 9, "course_id");
	o->cols.time = recs_text_arg(fcinfo, 10, "watched_at");
	o->cols.seconds = recs_text_arg(fcinfo, 11, "watch_seconds");
	o->langcol = recs_text_arg(fcinfo, 12, "language");
	/* learners_id_column (0.4.0): NULL, the watches' learner_column */
	o->learners_idcol = recs_text_arg(fcinfo, 13, NULL);
	o->learners_idarg = o->learners_idcol ? "learners_id_column" : "learner_column";
	if (o->learners_idcol == NULL)
		o->learners_idcol = o->cols.learner;
	o->window_days = recs_positive_arg(fcinfo, 3, 90.0, false, "window_days");
	o->min_seconds = recs_positive_arg(fcinfo, 4, 60.0, true, "min_watch_seconds");
	if (o->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	o->alpha = recs_positive_arg(fcinfo, 7, 20.0, true, "smoothing");
	o->through = PG_ARGISNULL(5) ? NAN : recs_timestamp_arg(fcinfo, 5, "through");
}

/* each learner's language: a relation's text column, by learner id */
static LearnerLanguages *
read_learner_languages(Oid relid, const char *idcol, const char *idarg, const char *langcol)
{
	static const Oid text_types[] = {TEXTOID, VARCHAROID, BPCHAROID};
	LearnerLanguages *ll = palloc0(sizeof(LearnerLanguages));
	StringInfoData sql;
	int			rc;
	KeysFrom	from;
	char	   *idexpr;

	keys_from_init(&from, relid);
	idexpr = keys_id(&from, idcol, idarg, RECS_SIDE_LEARNER);
	recs_check_column(relid, langcol, "language_column", text_types, lengthof(text_types));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT DISTINCT ON (1) %s, %s::text FROM %s"
					 " WHERE %s IS NOT NULL ORDER BY 1, 2",
					 idexpr, quote_identifier(langcol),
					 keys_from(&from), quote_identifier(idcol));
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read learners: %s", SPI_result_code_string(rc));
	ll->n = (int) SPI_processed;
	ll->ids = palloc(sizeof(int64) * Max(ll->n, 1));
	ll->lang = palloc(sizeof(int) * Max(ll->n, 1));
	ll->names = palloc(sizeof(char *) * POPULARITY_MAX_LANGUAGES);
	for (int i = 0; i < ll->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		char	   *lang;

		ll->ids[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		lang = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		ll->lang[i] = (lang == NULL || lang[0] == '\0') ? -1 : popularity_language_index(ll, lang);
	}
	return ll;
}

/* the catalog row: source relations and the options as trained */
static int64
create_model(const PopularityOptions *o, double through)
{
	JsonOut		src,
				params;

	json_out_begin(&src);
	json_out_string(&src, "watches", recs_relation_name(o->watches));
	if (OidIsValid(o->learners))
		json_out_string(&src, "learners", recs_relation_name(o->learners));
	json_out_begin(&params);
	json_out_number(&params, "window_days", o->window_days, "%g");
	json_out_number(&params, "min_watch_seconds", o->min_seconds, "%g");
	json_out_number(&params, "smoothing", o->alpha, "%g");
	json_out_object(&params, "columns");
	ingest_columns_json(&params, &o->cols);
	json_out_string(&params, "language", o->langcol);
	return model_store_create(o->name, "popularity", json_out_finish(&src),
							  json_out_finish(&params), through);
}

/*
 * What was read, used and skipped, for recs.model.metrics; used: the kept
 * watches inside the window (with through, fewer than the reader kept)
 */
static char *
metrics_json(const WatchSet *ws, int64 used, int64 nlearners, int active, int shards)
{
	JsonOut		j;

	json_out_begin(&j);
	if (shards > 0)
		json_out_int(&j, "citus_shards", shards);
	json_out_int(&j, "watches_read", ws->n_read);
	json_out_int(&j, "watches_used", used);
	json_out_int(&j, "learners", nlearners);
	json_out_int(&j, "courses", ws->n_courses);
	json_out_int(&j, "active_learners", active);
	ingest_skipped_json(&j, ws);
	return json_out_finish(&j);
}

PG_FUNCTION_INFO_V1(train_popularity);
Datum
train_popularity(PG_FUNCTION_ARGS)
{
	PopularityOptions o;
	WatchSet   *ws;
	WatchesSql	watches;
	LearnerLanguages *ll = NULL;
	char	   *langs = NULL;
	PopularityCounts pc;
	double		through;
	int64		model_id;
	int64		nlearners;
	int			spi_level;
	int			shards;
	bool		pushdown;

	popularity_parse_options(fcinfo, &o);
	spi_level = recs_spi_connect();
	keys_begin();
	shards = recs_citus_distributed_shards(o.watches);
	pushdown = shards > 0;
	if (pushdown)
	{
		ingest_watches_sql(o.watches, &o.cols, o.min_seconds, &watches);
		ws = ingest_watch_counts(&watches);
	}
	else
		ws = ingest_watches(o.watches, &o.cols, o.min_seconds);
	ingest_report(ws, "train_popularity");
	through = isnan(o.through) ? ws->last_time : o.through;
	if (OidIsValid(o.learners) && pushdown)
		langs = popularity_languages_sql(o.learners, o.learners_idcol, o.learners_idarg, o.langcol);
	else if (OidIsValid(o.learners))
		ll = read_learner_languages(o.learners, o.learners_idcol, o.learners_idarg, o.langcol);

	if (pushdown)
		popularity_count_sql(&watches, langs, through - o.window_days * 86400.0, through, &pc);
	else
		popularity_count(ws, ll, through - o.window_days * 86400.0, through, &pc);
	if (pc.active[pc.ngroups - 1] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches in the popularity window"),
				 errdetail("The window is the %g days up to %s.", o.window_days,
						   timestamptz_to_str(recs_epoch_to_timestamptz(through))),
				 errhint("Widen window_days or move through.")));
	if (pc.used < ws->n_watches)
		ereport(NOTICE,
				(errmsg("train_popularity: used " INT64_FORMAT " of the " INT64_FORMAT " kept watches",
						pc.used, ws->n_watches),
				 errdetail("The others are outside the window, the %g days up to %s.", o.window_days,
						   timestamptz_to_str(recs_epoch_to_timestamptz(through)))));

	model_id = create_model(&o, through);
	popularity_store_scores(model_id, &pc, o.alpha);
	if (pushdown)
		nlearners = popularity_store_learners_sql(model_id, &watches, langs, through);
	else
		nlearners = popularity_store_learners(model_id, ws, ll, through);
	model_store_set_metrics(model_id, metrics_json(ws, pc.used, nlearners, pc.active[pc.ngroups - 1], shards));
	if (o.activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}
