/*
 * popularity_store.c -- writing a trained popularity model to the model tables
 *
 * recs.course_popularity holds, per language group with anyone active in
 * the window (NULL: everyone), every course watched in the window with its
 * watcher count and smoothed score; a group nobody in the window speaks is
 * served the everyone list.  recs.model_learner holds every learner with
 * watches or a language, with their language and watched courses (up to
 * through), which recommend() leaves out.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "popularity.h"
#include "sorted_ids.h"
#include "spi_util.h"

void
popularity_store_scores(int64 model_id, const PopularityCounts *pc, double alpha)
{
	int			ngroups = pc->ngroups;
	int64		cap = (int64) ngroups * pc->ncourses;
	Datum	   *mid = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *lang = palloc(sizeof(Datum) * Max(cap, 1));
	bool	   *langnull = palloc0(sizeof(bool) * Max(cap, 1));
	Datum	   *cid = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *cnt = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *score = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *vals[5] = {mid, lang, cid, cnt, score};
	const bool *nulls[5] = {NULL, langnull, NULL, NULL, NULL};
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT4OID, FLOAT8OID};
	const int  *all = &pc->watchers[(Size) (ngroups - 1) * pc->ncourses];
	int64		n = 0;

	for (int g = 0; g < ngroups; g++)
	{
		/* a group with nobody active in the window is served the everyone list */
		if (pc->active[g] == 0)
			continue;
		for (int c = 0; c < pc->ncourses; c++)
		{
			if (all[c] == 0)
				continue;
			mid[n] = Int64GetDatum(model_id);
			langnull[n] = (g == ngroups - 1);
			lang[n] = langnull[n] ? (Datum) 0 : CStringGetTextDatum(pc->names[g]);
			cid[n] = Int64GetDatum(pc->course_ids[c]);
			cnt[n] = Int32GetDatum(pc->watchers[(Size) g * pc->ncourses + c]);
			score[n] = Float8GetDatum(popularity_score(pc, g, c, alpha));
			n++;
		}
	}
	recs_insert_columns("INSERT INTO recs.course_popularity (model_id, language, course_id, watchers, score)"
						" SELECT * FROM unnest($1, $2, $3, $4, $5)",
						5, types, vals, nulls, n);
}

/* learner u's watched courses up to through, as a sorted bigint[] literal */
static void
watched_literal(StringInfo buf, const WatchSet *ws, int u, double through)
{
	int64		nw = 0;
	int64	   *ids = palloc(sizeof(int64) * (ws->offsets[u + 1] - ws->offsets[u] + 1));

	for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1]; w++)
		if (ws->when[w] <= through)
			ids[nw++] = ws->course_ids[ws->course[w]];
	qsort(ids, nw, sizeof(int64), recs_int64_cmp);
	for (int64 a = 0; a < nw; a++)
		appendStringInfo(buf, "%s" INT64_FORMAT, a ? "," : "", ids[a]);
	pfree(ids);
}

int
popularity_store_learners(int64 model_id, const WatchSet *ws, const LearnerLanguages *ll,
						  double through)
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
				i = 0,
				n = 0;
	StringInfoData buf;

	initStringInfo(&buf);
	/* merge the two sorted id lists */
	while (u < ws->n_learners || (ll && i < ll->n))
	{
		int64		id;
		int			g = -1;
		bool		has_watches;

		CHECK_FOR_INTERRUPTS();
		has_watches = u < ws->n_learners && (!ll || i >= ll->n || ws->learner_ids[u] <= ll->ids[i]);
		id = has_watches ? ws->learner_ids[u] : ll->ids[i];
		if (ll && i < ll->n && ll->ids[i] == id)
			g = ll->lang[i++];
		resetStringInfo(&buf);
		appendStringInfoChar(&buf, '{');
		if (has_watches)
			watched_literal(&buf, ws, u++, through);
		appendStringInfoChar(&buf, '}');
		mid[n] = Int64GetDatum(model_id);
		lid[n] = Int64GetDatum(id);
		langnull[n] = (g < 0);
		lang[n] = g < 0 ? (Datum) 0 : CStringGetTextDatum(ll->names[g]);
		hist[n] = CStringGetTextDatum(buf.data);
		n++;
	}
	recs_insert_columns("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
						" SELECT a, b, c, d::bigint[] FROM unnest($1, $2, $3, $4) AS u(a, b, c, d)",
						4, types, vals, nulls, n);
	return n;
}
