/*
 * blend_data.c -- the blend's training rows, from impressions to the design
 *
 * 1. The components' models are loaded into this backend's cache (their
 *    bytes count against recs.memory_limit with the rows).
 * 2. The impressions shown after `since` are read, sorted by learner and
 *    course, through the one impressions reader (ingest/impressions.c),
 *    which skips and counts rows with a NULL id, label or time.
 * 3. A ranking blend (negatives > 0) reads watches, all positives, and
 *    samples `negatives` unwatched courses per watch as label-0 rows.
 * 4. Every component scores every row, learner by learner, through its
 *    serving path (what is trained on is what is served); the scores are
 *    standardised (blend_fit.c).
 * 5. Each random effect groups the rows by its key: the learner id, or a
 *    column of the learners relation.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "blend.h"
#include "impressions.h"
#include "memory_budget.h"
#include "sorted_ids.h"
#include "keys.h"
#include "spi_util.h"
#include "rng.h"
#include "serving.h"
#include "serving_cache.h"
#include "topk.h"

/*
 * What training the blend holds at its peak, for recs.memory_limit: the
 * component models it serves (loaded before reading), then per row after
 * sampling the row arrays (learner, course, y, w), the design matrix z,
 * margins and offsets, the fit's scratch and sparse index, and per random
 * effect the row order, score and key; per learner and effect its key
 * string, coefficients and what storing them builds (BLEND_ENTITY_BYTES).
 */
#define BLEND_ENTITY_BYTES 512

typedef struct BlendBudget
{
	double		components;		/* bytes of the loaded component models */
	int			negatives;
	int			dim;
	int			neffects;
} BlendBudget;

static double
blend_training_bytes(const BlendBudget *b, double read, double learners)
{
	double		per_row = 4 * 8.0 + 8.0 * b->dim + 2 * 8.0 + 8.0 * (8 + b->dim) +
		4.0 * (1 + b->dim) + b->neffects * 3 * 8.0;

	return b->components + read * (1 + b->negatives) * per_row +
		learners * b->neffects * BLEND_ENTITY_BYTES;
}

/* the reader's growth check: the arrays at new_cap rows, and all of the input */
static void
check_growth(void *arg, int64 rows, int64 new_cap, int64 learners, double est_rows)
{
	const BlendBudget *b = arg;
	double		per_learner = (double) rows / Max(learners, 1);

	recs_check_memory_growth(blend_training_bytes(b, (double) new_cap, 2.0 * learners),
							 blend_training_bytes(b, est_rows, est_rows / per_learner),
							 "training the blend");
}

/*
 * Load every component's model into this backend's cache (scoring an
 * unknown learner touches every part) and return the bytes they hold.
 */
static double
load_components(BlendModel *bm)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "recs blend components",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = CurrentMemoryContext;
	double		bytes = 0;

	for (int j = 0; j < bm->ncomponents; j++)
	{
		ServingLearner nobody;
		CourseScores cs;

		memset(&nobody, 0, sizeof(nobody));
		nobody.learner_id = PG_INT64_MIN;
		MemoryContextSwitchTo(cxt);
		serving_score_courses(&bm->component[j].model, &nobody, &cs);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(cxt);
		bytes += serving_cache_model_bytes(bm->component[j].model.model_id);
	}
	MemoryContextDelete(cxt);
	return bytes;
}

/* the labelled impressions shown after since, sorted by learner and course */
static void
read_rows(const BlendOptions *o, BlendBudget *budget, BlendRows *rows)
{
	ImpressionSpec spec;
	ImpressionSet *set;

	impressions_spec_init(&spec, o->lcol, o->ccol);
	if (o->negatives == 0)
	{
		/* watches (negatives > 0) are all positives: no label column */
		if (strcmp(o->label, "bookmarked") != 0)
			impressions_spec_label(&spec, o->clickcol, "click_column");
		if (strcmp(o->label, "clicked") != 0)
			impressions_spec_label(&spec, o->bookcol, "bookmark_column");
	}
	spec.time = o->tcol;
	spec.since = o->since;
	spec.sorted = true;
	spec.budget = check_growth;
	spec.budget_arg = budget;
	set = ingest_impressions(o->impressions, &spec);
	impressions_report(set, "train_blend");

	memset(rows, 0, sizeof(BlendRows));
	rows->n = set->n;
	rows->nlearners = set->n_learners;
	rows->learner = set->learner_id;
	rows->course = set->course_id;
	rows->y = set->y;
	rows->w = set->w;
	rows->read = set->n_read;
	rows->null_id = set->n_null_id;
	rows->null_label = set->n_null_label;
	rows->bad_time = set->n_bad_time;
}

/* a course for learner rows [s, e) not watched and not among them: 50 tries */
static int64
draw_negative(RecsRng *rng, const int64 *from, int nfrom, const ServingLearner *sl,
			  const BlendRows *rows, int64 s, int64 e)
{
	int64		c;
	bool		seen;
	int			tries = 0;

	/* rows of a learner are sorted by course; watched ids are sorted */
	do
	{
		c = from[rng_below(rng, nfrom)];
		seen = recs_find_int64(sl->watched, sl->nwatched, c) >= 0 ||
			recs_find_int64(&rows->course[s], (int) (e - s), c) >= 0;
	} while (seen && ++tries < 50);
	return c;
}

/*
 * The candidates serving re-ranks for learner rows [s, e): the first
 * component's `pool` best unwatched courses; positives outside them get
 * weight 0.  Returns how many are in candidates (0: use the catalogue).
 */
static int
rerank_candidates(BlendModel *bm, const ServingLearner *sl, BlendRows *rows, int64 s, int64 e,
				  int pool, int ncat, bool *skip, int *top, int64 *candidates)
{
	CourseScores cs;
	int			ntop;
	int			nfrom = 0;

	serving_score_courses(&bm->component[0].model, sl, &cs);
	for (int i = 0; i < cs.n && i < ncat; i++)
		skip[i] = recs_find_int64(sl->watched, sl->nwatched, cs.course_id[i]) >= 0;
	ntop = topk_select(cs.score, skip, Min(cs.n, ncat), pool, top);
	for (int i = 0; i < ntop; i++)
		if (recs_find_int64(&rows->course[s], (int) (e - s), cs.course_id[top[i]]) < 0)
			candidates[nfrom++] = cs.course_id[top[i]];
	/* skip[] now marks what is outside the candidates */
	memset(skip, true, sizeof(bool) * Min(cs.n, ncat));
	for (int i = 0; i < ntop; i++)
		skip[top[i]] = false;
	for (int64 r = s; r < e; r++)
	{
		int			c = course_scores_index(&cs, rows->course[r]);

		if (c < 0 || c >= ncat || skip[c])
			rows->w[r] = 0.0;
	}
	return nfrom;
}

/*
 * A ranking blend: the rows are watches (all positives), and each gets
 * `negatives` courses the learner has not watched as label-0 rows, drawn
 * with a seeded generator from the whole catalogue of the first component
 * (pool = 0), or -- for a blend that re-ranks the first component's `pool`
 * best unwatched courses (rerank_top) -- from those candidates, with the
 * positives outside them weighted 0, so that training sees what serving
 * ranks (serving_top_k).
 */
static void
add_sampled_negatives(BlendModel *bm, BlendRows *rows, int negatives, int pool, uint64 seed)
{
	ServingLearner nobody;
	CourseScores cs;
	int64		n = rows->n;
	int64		total = n * (1 + negatives);
	int64		k = n;
	RecsRng		rng;
	MemoryContext cxt = CurrentMemoryContext;
	MemoryContext learnercxt;
	int64	   *catalogue;
	int			ncat;
	int64	   *candidates;
	int		   *top;
	bool	   *skip;

	memset(&nobody, 0, sizeof(nobody));
	nobody.learner_id = PG_INT64_MIN;
	serving_score_courses(&bm->component[0].model, &nobody, &cs);
	MemoryContextSwitchTo(cxt);
	ncat = cs.n;
	catalogue = palloc(sizeof(int64) * Max(ncat, 1));
	memcpy(catalogue, cs.course_id, sizeof(int64) * ncat);
	if (ncat < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the first component ranks %d courses, too few to sample negatives", ncat)));
	pool = (pool <= 0 || pool > ncat) ? 0 : pool;
	candidates = palloc(sizeof(int64) * Max(pool, 1));
	top = palloc(sizeof(int) * Max(pool, 1));
	skip = palloc(sizeof(bool) * ncat);
	learnercxt = AllocSetContextCreate(cxt, "recs blend negatives", ALLOCSET_DEFAULT_SIZES);

	rows->learner = repalloc_huge(rows->learner, sizeof(int64) * total);
	rows->course = repalloc_huge(rows->course, sizeof(int64) * total);
	rows->y = repalloc_huge(rows->y, sizeof(double) * total);
	rows->w = repalloc_huge(rows->w, sizeof(double) * total);
	rng_seed(&rng, seed);
	for (int64 s = 0; s < n;)
	{
		int64		e = s;
		ServingLearner sl;
		const int64 *from = catalogue;
		int			nfrom = ncat;

		CHECK_FOR_INTERRUPTS();
		while (e < n && rows->learner[e] == rows->learner[s])
			e++;
		MemoryContextSwitchTo(learnercxt);
		serving_learner(&bm->component[0].model, rows->learner[s], &sl);
		MemoryContextSwitchTo(learnercxt);
		if (pool > 0)
		{
			nfrom = rerank_candidates(bm, &sl, rows, s, e, pool, ncat, skip, top, candidates);
			MemoryContextSwitchTo(learnercxt);
			from = candidates;
			if (nfrom == 0)
			{
				from = catalogue;
				nfrom = ncat;
			}
		}
		MemoryContextSwitchTo(cxt);
		for (int64 r = s; r < e; r++)
			for (int j = 0; j < negatives; j++)
			{
				rows->learner[k] = rows->learner[s];
				rows->course[k] = draw_negative(&rng, from, nfrom, &sl, rows, s, e);
				rows->y[k] = 0.0;
				rows->w[k] = rows->w[r];
				k++;
			}
		MemoryContextReset(learnercxt);
		s = e;
	}
	rows->n = k;
	/* keep the rows grouped by learner, as scoring expects */
	blend_group_negatives(rows, n, negatives);
}

/* the component scores of every row, learner by learner, standardised */
static void
score_rows(BlendModel *bm, BlendRows *rows)
{
	int			dim = bm->ncomponents + 1;
	MemoryContext learnercxt = AllocSetContextCreate(CurrentMemoryContext, "recs blend learner",
													 ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = CurrentMemoryContext;

	rows->z = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(rows->n, 1) * dim);
	for (int64 s = 0; s < rows->n;)
	{
		int64		e = s;

		CHECK_FOR_INTERRUPTS();
		while (e < rows->n && rows->learner[e] == rows->learner[s])
			e++;
		MemoryContextSwitchTo(learnercxt);
		for (int j = 0; j < bm->ncomponents; j++)
		{
			ServingLearner sl;
			double	   *score = palloc(sizeof(double) * (e - s));

			/* the learner's rows only: a few courses, not the catalogue */
			serving_learner(&bm->component[j].model, rows->learner[s], &sl);
			serving_score_listed(&bm->component[j].model, &sl, (int) (e - s), rows->course + s, score);
			for (int64 r = s; r < e; r++)
				rows->z[r * dim + 1 + j] = blend_component_feature(&bm->component[j], score[r - s]);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(learnercxt);
		for (int64 r = s; r < e; r++)
			rows->z[r * dim] = 1.0;
		s = e;
	}
	MemoryContextDelete(learnercxt);
	blend_standardise(bm, rows);
}

/* each row's key for an effect by a learners column: learner id -> value, read once */
static char **
column_keys(const BlendRows *rows, Oid learners, const char *idcol, const char *idarg,
			const char *column)
{
	char	  **rowkey = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(rows->n, 1));
	StringInfoData sql;
	KeysFrom	from;
	char	   *idexpr;
	int			rc;
	int			nl;
	int64	   *ids;
	char	  **vals;
	MemoryContext cxt = CurrentMemoryContext;

	if (!OidIsValid(learners))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random effect \"%s\" needs the learners relation", column),
				 errhint("Pass learners => the relation that has the column.")));
	recs_check_column(learners, column, "random_effects", NULL, 0);
	keys_from_init(&from, learners);
	idexpr = keys_id(&from, idcol, idarg, RECS_SIDE_LEARNER);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT DISTINCT ON (1) %s, %s::text FROM %s "
					 "WHERE %s IS NOT NULL AND %s IS NOT NULL ORDER BY 1",
					 idexpr, quote_identifier(column), keys_from(&from), quote_identifier(idcol),
					 quote_identifier(column));
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read learners: %s", SPI_result_code_string(rc));
	MemoryContextSwitchTo(cxt);
	nl = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(nl, 1));
	vals = palloc(sizeof(char *) * Max(nl, 1));
	for (int i = 0; i < nl; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		vals[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	for (int64 r = 0; r < rows->n; r++)
	{
		int			i = recs_find_int64(ids, nl, rows->learner[r]);

		rowkey[r] = i >= 0 ? vals[i] : NULL;
	}
	return rowkey;
}

/* group the rows by the learners' values of a column (or by learner id) */
static void
group_effect(BlendEffect *eff, const BlendRows *rows, const BlendOptions *o)
{
	const char *lcol = o->lcol;

	char	  **rowkey;

	if (strcmp(eff->column, lcol) == 0)
	{
		/* rows come grouped by learner: one key string per learner */
		rowkey = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(rows->n, 1));
		for (int64 r = 0; r < rows->n; r++)
			rowkey[r] = (r > 0 && rows->learner[r] == rows->learner[r - 1]) ? rowkey[r - 1] :
				psprintf(INT64_FORMAT, rows->learner[r]);
	}
	else
		rowkey = column_keys(rows, o->learners, o->learners_idcol, o->learners_idarg, eff->column);
	blend_group_rows(eff, rows, rowkey);
	pfree(rowkey);
}

void
blend_prepare_rows(const BlendOptions *o, BlendModel *bm, BlendRows *rows, BlendEffect *effects)
{
	BlendBudget budget;
	int			dim = bm->ncomponents + 1;

	budget.negatives = o->negatives;
	budget.dim = dim;
	budget.neffects = o->neffects;
	budget.components = load_components(bm);
	read_rows(o, &budget, rows);
	if (rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no impressions after the components' training data"),
				 errdetail("The blend trains on impressions shown after %s.",
						   isfinite(o->since) ? timestamptz_to_str(recs_epoch_to_timestamptz(o->since)) : "-infinity"),
				 errhint("Train the components on earlier data, or pass since => an earlier time.")));
	recs_check_memory(blend_training_bytes(&budget, rows->n, rows->nlearners),
					  psprintf("training the blend with its component models (%.1f MB)",
							   budget.components / (1024.0 * 1024.0)));
	if (o->negatives > 0)
		add_sampled_negatives(bm, rows, o->negatives, o->rerank_top, (uint64) o->seed);
	score_rows(bm, rows);
	blend_check_labels(rows);
	for (int i = 0; i < o->neffects; i++)
	{
		memset(&effects[i], 0, sizeof(BlendEffect));
		effects[i].column = o->effects[i];
		group_effect(&effects[i], rows, o);
		effects[i].coef = palloc0(sizeof(double) * Max(effects[i].nentities, 1) * dim);
		effects[i].score = palloc0(sizeof(double) * Max(rows->n, 1));
	}
}
