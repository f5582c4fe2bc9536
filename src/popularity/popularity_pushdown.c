/*
 * popularity_pushdown.c -- the popularity counts as SQL aggregates, for
 * watches distributed by Citus
 *
 * Per language group and course, the learners whose first qualifying watch
 * of the course falls in the window, and per group the learners with any
 * such watch: one GROUP BY over the kept (learner, course) pairs of
 * ingest_watches_sql() joined to the learners' languages.  The inner
 * subqueries group (and partition their window function) by the learner,
 * so on a Citus cluster whose watches and learners are distributed by
 * learner and co-located, every shard computes its partial counts and the
 * coordinator merges one row per (language, course) and shard: the
 * trainer reads a few thousand rows, never the watches.
 *
 * On one node the C path (popularity_fit.c over a WatchSet) is kept: the
 * same counts by these statements took 1.45 s against 0.84 s on 20,000
 * generated learners (214,000 watches) -- three scans and sorts of the
 * watches in the executor against one read and one sort in C.  The two
 * paths give the same model bit for bit (the citus suite compares them;
 * docs/architecture.md#citus).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "keys.h"
#include "popularity.h"
#include "spi_util.h"

char *
popularity_languages_sql(Oid relid, const char *idcol, const char *idarg, const char *langcol)
{
	static const Oid text_types[] = {TEXTOID, VARCHAROID, BPCHAROID};
	KeysFrom	from;
	char	   *idexpr;

	keys_from_init(&from, relid);
	idexpr = keys_id(&from, idcol, idarg, RECS_SIDE_LEARNER);
	recs_check_column(relid, langcol, "language_column", text_types, lengthof(text_types));

	/*
	 * A learner with several rows takes the least language (as text), a
	 * learner whose language is '' has none, like one whose language is NULL
	 */
	return psprintf("SELECT %s AS l, nullif(min(%s::text), '') AS lang FROM %s"
					" WHERE %s IS NOT NULL GROUP BY 1",
					idexpr, quote_identifier(langcol), keys_from(&from),
					quote_identifier(idcol));
}

/* the index of language name in pc, added (everyone staying last) when new */
static int
group_index(PopularityCounts *pc, const char *name)
{
	int			nlang = pc->ngroups - 1;

	for (int i = 0; i < nlang; i++)
		if (strcmp(pc->names[i], name) == 0)
			return i;
	if (nlang == POPULARITY_MAX_LANGUAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d distinct languages", POPULARITY_MAX_LANGUAGES),
				 errhint("The language column should hold a language code such as 'en'.")));
	pc->names[nlang] = pstrdup(name);
	pc->names[nlang + 1] = NULL;
	pc->ngroups++;
	return nlang;
}

void
popularity_count_sql(const WatchesSql *watches, const char *langs, double since, double through,
					 PopularityCounts *pc)
{
	char	   *sql;
	int			rc;
	uint64		nrows;
	int		   *group;
	int		   *course;
	SPITupleTable *tt;

	/*
	 * lead marks each learner's first pair in the window, so that summing it
	 * per group counts the group's active learners once each
	 */
	sql = psprintf("SELECT lang, c, count(*)::int8, sum(lead::int)::int8"
				   " FROM (SELECT p.c, %s AS lang,"
				   "              row_number() OVER (PARTITION BY p.l ORDER BY p.c) = 1 AS lead"
				   "         FROM (%s) p%s%s%s"
				   "        WHERE p.first > %.17g::float8 AND p.first <= %.17g::float8) x"
				   " GROUP BY lang, c ORDER BY c, lang",
				   langs ? "ll.lang" : "NULL::text", watches->pairs,
				   langs ? " LEFT JOIN (" : "", langs ? langs : "",
				   langs ? ") ll ON ll.l = p.l" : "", since, through);
	/* not read-only: it must see the keys keys_id has just added (keys.c) */
	rc = SPI_execute(sql, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not count the watches in the window: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	nrows = SPI_processed;

	/* the groups and courses first (rows come by course), then the counts */
	pc->names = palloc(sizeof(char *) * (POPULARITY_MAX_LANGUAGES + 1));
	pc->names[0] = NULL;
	pc->ngroups = 1;
	pc->ncourses = 0;
	pc->course_ids = palloc(sizeof(int64) * Max(nrows, 1));
	group = palloc(sizeof(int) * Max(nrows, 1));
	course = palloc(sizeof(int) * Max(nrows, 1));
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		char	   *lang = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		int64		c = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));

		CHECK_FOR_INTERRUPTS();
		group[i] = lang ? group_index(pc, lang) : -1;
		if (pc->ncourses == 0 || pc->course_ids[pc->ncourses - 1] != c)
			pc->course_ids[pc->ncourses++] = c;
		course[i] = pc->ncourses - 1;
	}
	pc->watchers = palloc0(sizeof(int) * (Size) pc->ngroups * Max(pc->ncourses, 1));
	pc->active = palloc0(sizeof(int) * pc->ngroups);
	pc->used = 0;
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;
		int64		watchers = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull));
		int64		lead = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull));
		int			all = pc->ngroups - 1;

		/* everyone's counts are the sum over the groups, no language included */
		pc->watchers[(Size) all * pc->ncourses + course[i]] += (int) watchers;
		pc->active[all] += (int) lead;
		pc->used += watchers;
		if (group[i] >= 0)
		{
			pc->watchers[(Size) group[i] * pc->ncourses + course[i]] += (int) watchers;
			pc->active[group[i]] += (int) lead;
		}
	}
	SPI_freetuptable(tt);
}

/*
 * One INSERT ... SELECT: each learner's courses grouped by learner (on the
 * shards), joined to the languages on the learner.  The model's table is
 * local or a reference table, so the rows come to the coordinator once, to
 * be written there (and to every copy).
 */
int64
popularity_store_learners_sql(int64 model_id, const WatchesSql *watches, const char *langs,
							  double through)
{
	char	   *hist;
	char	   *sql;
	int			rc;

	hist = psprintf("SELECT l, coalesce(array_agg(c ORDER BY c) FILTER (WHERE first <= %.17g::float8),"
					" '{}') AS watched FROM (%s) p GROUP BY l",
					through, watches->pairs);
	if (langs)
		sql = psprintf("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
					   " SELECT " INT64_FORMAT ", coalesce(h.l, ll.l), ll.lang, coalesce(h.watched, '{}')"
					   " FROM (%s) h FULL JOIN (%s) ll ON ll.l = h.l",
					   model_id, hist, langs);
	else
		sql = psprintf("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
					   " SELECT " INT64_FORMAT ", h.l, NULL, h.watched FROM (%s) h",
					   model_id, hist);
	rc = SPI_execute(sql, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store the learners: %s", SPI_result_code_string(rc));
	return (int64) SPI_processed;
}
