/*
 * popularity_train.c -- recs.train_popularity(): the popularity-by-language model
 *
 * The first recommender, and later the cold-start fallback: for each
 * language group, the share of its active learners who watched a course in
 * a recent window, smoothed towards the global share so that small language
 * groups borrow strength from everyone:
 *
 *     score(g, c) = (watchers_g(c) + alpha * watchers(c) / active)
 *                   / (active_g + alpha)
 *
 * where watchers_g(c) counts the learners of group g whose first qualifying
 * watch of c falls in the window (new watchers: what is trending), and
 * active_g the learners of group g with such a watch of any course.
 * The NULL group is everyone (unknown learners, learners with no language).
 * Stored per model in recs.course_popularity; each learner's language and
 * watched courses go to recs.model_learner for serving.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "recs.h"

#define MAX_LANGUAGES 1000

/* language of each learner, read from the learners relation */
typedef struct LearnerLanguages
{
	int			n;				/* learners in the relation */
	int64	   *ids;			/* sorted ascending */
	int		   *lang;			/* index into names, -1 = none */
	int			nnames;
	char	  **names;
} LearnerLanguages;

static int
language_index(LearnerLanguages *ll, const char *name)
{
	for (int i = 0; i < ll->nnames; i++)
		if (strcmp(ll->names[i], name) == 0)
			return i;
	if (ll->nnames == MAX_LANGUAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d distinct languages", MAX_LANGUAGES),
				 errhint("The language column should hold a language code such as 'en'.")));
	ll->names[ll->nnames] = pstrdup(name);
	return ll->nnames++;
}

static LearnerLanguages *
read_learner_languages(Oid relid, const char *idcol, const char *langcol)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID};
	static const Oid text_types[] = {TEXTOID, VARCHAROID, BPCHAROID};
	LearnerLanguages *ll = palloc0(sizeof(LearnerLanguages));
	StringInfoData sql;
	int			rc;

	recs_check_column(relid, idcol, "learner_column", id_types, lengthof(id_types));
	recs_check_column(relid, langcol, "language_column", text_types, lengthof(text_types));
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT DISTINCT ON (1) %s::int8, %s::text FROM %s"
					 " WHERE %s IS NOT NULL ORDER BY 1, 2",
					 quote_identifier(idcol), quote_identifier(langcol),
					 recs_relation_name(relid), quote_identifier(idcol));
	rc = SPI_execute(sql.data, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read learners: %s", SPI_result_code_string(rc));
	ll->n = (int) SPI_processed;
	ll->ids = palloc(sizeof(int64) * Max(ll->n, 1));
	ll->lang = palloc(sizeof(int) * Max(ll->n, 1));
	ll->names = palloc(sizeof(char *) * MAX_LANGUAGES);
	for (int i = 0; i < ll->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		char	   *lang;

		ll->ids[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		lang = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		ll->lang[i] = (lang == NULL || lang[0] == '\0') ? -1 : language_index(ll, lang);
	}
	return ll;
}

PG_FUNCTION_INFO_V1(train_popularity);
Datum
train_popularity(PG_FUNCTION_ARGS)
{
	int			spi_level;
	Oid			watches;
	Oid			learners = PG_ARGISNULL(1) ? InvalidOid : PG_GETARG_OID(1);
	char	   *name = recs_text_arg(fcinfo, 2, "popularity");
	double		window_days = PG_ARGISNULL(3) ? 90.0 : PG_GETARG_FLOAT8(3);
	double		min_seconds = PG_ARGISNULL(4) ? 60.0 : PG_GETARG_FLOAT8(4);
	bool		through_given = !PG_ARGISNULL(5);
	bool		activate = PG_ARGISNULL(6) ? true : PG_GETARG_BOOL(6);
	double		alpha = PG_ARGISNULL(7) ? 20.0 : PG_GETARG_FLOAT8(7);
	WatchColumns cols;
	char	   *langcol = recs_text_arg(fcinfo, 12, "language");
	WatchSet   *ws;
	LearnerLanguages *ll = NULL;
	double		through,
				since;
	int			ngroups;
	int		   *learner_lang;
	int		   *watchers;		/* [group][course], group ngroups-1 = all */
	int		   *active;
	int			nlearners_out;
	int64		model_id;
	StringInfoData json;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("watches relation must not be NULL")));
	watches = PG_GETARG_OID(0);
	cols.learner = recs_text_arg(fcinfo, 8, "learner_id");
	cols.course = recs_text_arg(fcinfo, 9, "course_id");
	cols.time = recs_text_arg(fcinfo, 10, "watched_at");
	cols.seconds = recs_text_arg(fcinfo, 11, NULL);
	if (PG_ARGISNULL(11))
		cols.seconds = "watch_seconds";
	if (!(window_days > 0) || !isfinite(window_days))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("window_days must be a positive number")));
	if (!(min_seconds >= 0) || !isfinite(min_seconds))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_watch_seconds must be zero or positive")));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	if (!(alpha >= 0) || !isfinite(alpha))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("smoothing must be zero or positive")));

	spi_level = recs_spi_connect();
	ws = ingest_watches(watches, &cols, min_seconds);
	ingest_report(ws, "train_popularity");
	if (ws->n_watches == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches left to train on"),
				 errdetail("Read " INT64_FORMAT " rows; cleaning dropped all of them.", ws->n_read),
				 errhint("Check min_watch_seconds and the column arguments.")));
	if (through_given)
	{
		through = recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(5));
		if (!isfinite(through))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("through must be a finite timestamp")));
	}
	else
		through = ws->last_time;
	since = through - window_days * 86400.0;

	/* language groups: one per language, plus the everyone group */
	if (OidIsValid(learners))
		ll = read_learner_languages(learners, cols.learner, langcol);
	ngroups = (ll ? ll->nnames : 0) + 1;
	learner_lang = palloc(sizeof(int) * Max(ws->n_learners, 1));
	for (int u = 0; u < ws->n_learners; u++)
	{
		int			i = ll ? recs_find_int64(ll->ids, ll->n, ws->learner_ids[u]) : -1;

		learner_lang[u] = i >= 0 ? ll->lang[i] : -1;
	}

	watchers = palloc0(sizeof(int) * (Size) ngroups * Max(ws->n_courses, 1));
	active = palloc0(sizeof(int) * ngroups);
	for (int u = 0; u < ws->n_learners; u++)
	{
		bool		was_active = false;
		int			g = learner_lang[u];

		CHECK_FOR_INTERRUPTS();
		for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1]; w++)
		{
			if (ws->when[w] <= since || ws->when[w] > through)
				continue;
			was_active = true;
			watchers[(Size) (ngroups - 1) * ws->n_courses + ws->course[w]]++;
			if (g >= 0)
				watchers[(Size) g * ws->n_courses + ws->course[w]]++;
		}
		if (was_active)
		{
			active[ngroups - 1]++;
			if (g >= 0)
				active[g]++;
		}
	}
	if (active[ngroups - 1] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches in the popularity window"),
				 errdetail("The window is the %g days up to %s.", window_days,
						   timestamptz_to_str(recs_epoch_to_timestamptz(through))),
				 errhint("Widen window_days or move through.")));

	initStringInfo(&json);
	appendStringInfoString(&json, "{\"watches\": ");
	escape_json(&json, recs_relation_name(watches));
	if (ll)
	{
		appendStringInfoString(&json, ", \"learners\": ");
		escape_json(&json, recs_relation_name(learners));
	}
	appendStringInfoChar(&json, '}');
	{
		StringInfoData params;

		initStringInfo(&params);
		appendStringInfo(&params,
						 "{\"window_days\": %g, \"min_watch_seconds\": %g, \"smoothing\": %g, "
						 "\"columns\": {", window_days, min_seconds, alpha);
		ingest_columns_json(&params, &cols);
		appendStringInfoString(&params, ", \"language\": ");
		escape_json(&params, langcol);
		appendStringInfoString(&params, "}}");
		model_id = model_store_create(name, "popularity", json.data, params.data, through);
	}

	/* the popularity table: courses watched in the window, per group */
	{
		int64		cap = (int64) ngroups * ws->n_courses;
		Datum	   *mid = palloc(sizeof(Datum) * cap);
		Datum	   *lang = palloc(sizeof(Datum) * cap);
		bool	   *langnull = palloc0(sizeof(bool) * cap);
		Datum	   *cid = palloc(sizeof(Datum) * cap);
		Datum	   *cnt = palloc(sizeof(Datum) * cap);
		Datum	   *score = palloc(sizeof(Datum) * cap);
		Datum	   *vals[5] = {mid, lang, cid, cnt, score};
		const bool *nulls[5] = {NULL, langnull, NULL, NULL, NULL};
		Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT4OID, FLOAT8OID};
		int64		n = 0;
		int			nall = active[ngroups - 1];
		int		   *all = &watchers[(Size) (ngroups - 1) * ws->n_courses];

		for (int g = 0; g < ngroups; g++)
		{
			/* a group with nobody active in the window is served the everyone list */
			if (active[g] == 0)
				continue;
			for (int c = 0; c < ws->n_courses; c++)
			{
				int			wg = watchers[(Size) g * ws->n_courses + c];
				double		prior = (double) all[c] / nall;

				if (all[c] == 0)
					continue;
				mid[n] = Int64GetDatum(model_id);
				langnull[n] = (g == ngroups - 1);
				lang[n] = langnull[n] ? (Datum) 0 : CStringGetTextDatum(ll->names[g]);
				cid[n] = Int64GetDatum(ws->course_ids[c]);
				cnt[n] = Int32GetDatum(wg);
				score[n] = Float8GetDatum((wg + alpha * prior) / (active[g] + alpha));
				n++;
			}
		}
		recs_insert_columns("INSERT INTO recs.course_popularity (model_id, language, course_id, watchers, score)"
							" SELECT * FROM unnest($1, $2, $3, $4, $5)",
							5, types, vals, nulls, n);
	}

	/* learners: every learner with watches, and every learner with a language */
	{
		int			cap = ws->n_learners + (ll ? ll->n : 0);
		Datum	   *mid = palloc(sizeof(Datum) * Max(cap, 1));
		Datum	   *lid = palloc(sizeof(Datum) * Max(cap, 1));
		Datum	   *lang = palloc(sizeof(Datum) * Max(cap, 1));
		bool	   *langnull = palloc0(sizeof(bool) * Max(cap, 1));
		Datum	   *hist = palloc(sizeof(Datum) * Max(cap, 1));
		Datum	   *vals[4] = {mid, lid, lang, hist};
		const bool *nulls[4] = {NULL, NULL, langnull, NULL};
		Oid			types[4] = {INT8OID, INT8OID, TEXTOID, TEXTOID};
		int			u = 0,
					i = 0;
		StringInfoData buf;

		initStringInfo(&buf);
		nlearners_out = 0;
		/* merge the two sorted id lists */
		while (u < ws->n_learners || (ll && i < ll->n))
		{
			int64		id;
			int			g;
			bool		has_watches;

			CHECK_FOR_INTERRUPTS();
			if (u < ws->n_learners && (!ll || i >= ll->n || ws->learner_ids[u] <= ll->ids[i]))
			{
				id = ws->learner_ids[u];
				has_watches = true;
			}
			else
			{
				id = ll->ids[i];
				has_watches = false;
			}
			g = -1;
			if (ll && i < ll->n && ll->ids[i] == id)
				g = ll->lang[i++];

			/* watched courses up to `through`, as a sorted array literal */
			resetStringInfo(&buf);
			appendStringInfoChar(&buf, '{');
			if (has_watches)
			{
				int64		nw = 0;
				int64	   *ids = palloc(sizeof(int64) * (ws->offsets[u + 1] - ws->offsets[u] + 1));

				for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1]; w++)
					if (ws->when[w] <= through)
						ids[nw++] = ws->course_ids[ws->course[w]];
				qsort(ids, nw, sizeof(int64), recs_int64_cmp);
				for (int64 a = 0; a < nw; a++)
					appendStringInfo(&buf, "%s" INT64_FORMAT, a ? "," : "", ids[a]);
				pfree(ids);
				u++;
			}
			appendStringInfoChar(&buf, '}');
			mid[nlearners_out] = Int64GetDatum(model_id);
			lid[nlearners_out] = Int64GetDatum(id);
			langnull[nlearners_out] = (g < 0);
			lang[nlearners_out] = g < 0 ? (Datum) 0 : CStringGetTextDatum(ll->names[g]);
			hist[nlearners_out] = CStringGetTextDatum(buf.data);
			nlearners_out++;
		}
		recs_insert_columns("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
							" SELECT a, b, c, d::bigint[] FROM unnest($1, $2, $3, $4) AS u(a, b, c, d)",
							4, types, vals, nulls, nlearners_out);
	}

	resetStringInfo(&json);
	appendStringInfo(&json,
					 "{\"watches_read\": " INT64_FORMAT ", \"watches_used\": " INT64_FORMAT
					 ", \"learners\": %d, \"courses\": %d, \"active_learners\": %d"
					 ", \"skipped\": {\"null_id\": " INT64_FORMAT ", \"bad_time\": " INT64_FORMAT
					 ", \"bad_watch_seconds\": " INT64_FORMAT ", \"short\": " INT64_FORMAT
					 ", \"duplicate\": " INT64_FORMAT "}}",
					 ws->n_read, ws->n_watches, nlearners_out, ws->n_courses,
					 active[ngroups - 1], ws->n_null_id, ws->n_bad_time,
					 ws->n_bad_seconds, ws->n_short, ws->n_duplicate);
	model_store_set_metrics(model_id, json.data);
	if (activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}
