/*
 * blend_train.c -- recs.train_blend(): a personalised blend of model scores
 *
 * The blend is itself a small GLMix.  Its features are the component
 * models' scores for a (learner, course) pair -- each standardised over the
 * training rows, a GLMix probability taken on the logit scale -- plus an
 * intercept:
 *
 *     z(l, c) = [1, (s_1(l, c) - mean_1) / sd_1, ..., (s_J - mean_J) / sd_J]
 *     logit P(response) = beta . z  +  sum over random effects e: gamma_e(key_e(l)) . z
 *
 * so every learner (or every segment, or any learners column) gets its own
 * weights for the components, shrunk towards the global weights by L2.  A
 * component that cannot score a pair (an unknown course) contributes 0,
 * its mean.  It is fitted by coordinate descent exactly like GLMix: the
 * global effect, then each random effect, each with the others' scores as
 * offsets, by the same per-entity Newton solver (glmix_math.c).
 *
 * The blend is trained on impressions shown after the components' training
 * data (since defaults to the latest trained_through of the components), so
 * no component has seen the labels the blend learns from.
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
#include "utils/memutils.h"

#include "blend.h"
#include "glmix.h"
#include "recs.h"
#include "rng.h"
#include "serving.h"
#include "serving_cache.h"
#include "topk.h"


typedef struct BlendRows
{
	int64		n;
	int64		read;			/* rows shown after since (or with no time) */
	int64		null_id;		/* of them, skipped: a NULL learner or course id */
	int64		null_label;		/* a NULL label */
	int64		bad_time;		/* a NULL, infinite or NaN time */
	int64		nlearners;		/* distinct learners of the rows read */
	int64	   *learner;
	int64	   *course;
	double	   *y;
	double	   *w;
	double	   *z;				/* n x dim, row-major, z[r*dim] = 1 */
} BlendRows;

/* one random-effect coordinate: rows grouped by entity */
typedef struct BlendEffect
{
	char	   *column;
	int			nentities;
	char	  **key;			/* entity keys, sorted */
	int64	   *order;			/* row indexes grouped by entity */
	int64	   *start;			/* nentities + 1 */
	double	   *coef;			/* nentities x dim */
	double	   *score;			/* per row: this effect's current contribution */
} BlendEffect;

static double
component_feature(const BlendComponent *c, double s)
{
	if (isnan(s))
		return NAN;
	if (c->logit_of_probability)
	{
		s = Min(Max(s, 1e-12), 1.0 - 1e-12);
		s = log(s / (1.0 - s));
	}
	return s;
}

/* a label column checked (boolean, or a number that must be 0 or 1), as SQL */
static void
label_expression(StringInfo buf, Oid relid, const char *col, const char *argname)
{
	static const Oid label_types[] = {BOOLOID, INT2OID, INT4OID, INT8OID, FLOAT4OID, FLOAT8OID, NUMERICOID};
	Oid			type = recs_check_column(relid, col, argname, label_types, lengthof(label_types));

	appendStringInfo(buf, type == BOOLOID ? "%s::int" : "%s", quote_identifier(col));
}

/*
 * What training the blend holds at its peak, for recs.memory_limit: the
 * component models it serves (loaded before reading), then per row after
 * sampling the row arrays (learner, course, y, w), the design matrix z,
 * margins and offsets, the fit's scratch and sparse index, and per random
 * effect the row order, score and key; per learner and effect its key
 * string, coefficients and what storing them builds (BLEND_ENTITY_BYTES).
 */
#define BLEND_ENTITY_BYTES 512
#define BLEND_FETCH_ROWS 8192

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

/*
 * Read the labelled impressions shown after since, sorted by learner and
 * course, through a cursor into the row arrays, which double as they fill,
 * each time within the budget.  Rows with a NULL id or label, or a time
 * that is NULL, NaN or infinite, are skipped and counted.
 */
static void
read_rows(Oid relid, const char *lcol, const char *ccol, const char *tcol,
		  const char *label_sql, double since, const BlendBudget *budget, BlendRows *rows)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID};
	StringInfoData sql;
	char	   *texpr;
	Oid			types[1] = {FLOAT8OID};
	Datum		values[1] = {Float8GetDatum(since)};
	Portal		portal;
	double		est_rows;
	int64		cap = 1024;
	int64		k = 0;
	int64		nlearners = 0;
	MemoryContext cxt = CurrentMemoryContext;

	recs_check_column(relid, lcol, "learner_column", id_types, lengthof(id_types));
	recs_check_column(relid, ccol, "course_column", id_types, lengthof(id_types));
	texpr = ingest_time_column(relid, tcol, "time_column");
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "SELECT %s::int8, %s::int8, (%s)::float8, %s FROM %s "
					 "WHERE %s > $1 OR %s IS NULL ORDER BY 1, 2",
					 quote_identifier(lcol), quote_identifier(ccol), label_sql, texpr,
					 recs_relation_name(relid), texpr, texpr);
	portal = recs_open_read_cursor(sql.data, 1, types, values, &est_rows);

	MemoryContextSwitchTo(cxt);
	memset(rows, 0, sizeof(BlendRows));
	rows->learner = MemoryContextAllocHuge(cxt, sizeof(int64) * cap);
	rows->course = MemoryContextAllocHuge(cxt, sizeof(int64) * cap);
	rows->y = MemoryContextAllocHuge(cxt, sizeof(double) * cap);
	rows->w = MemoryContextAllocHuge(cxt, sizeof(double) * cap);
	for (;;)
	{
		SPITupleTable *tt;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, BLEND_FETCH_ROWS);
		MemoryContextSwitchTo(cxt);
		if (SPI_processed == 0)
			break;
		tt = SPI_tuptable;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = tt->vals[i];
			TupleDesc	desc = tt->tupdesc;
			bool		lnull,
						cnull,
						ynull,
						tnull;
			int64		l = DatumGetInt64(SPI_getbinval(tup, desc, 1, &lnull));
			int64		c = DatumGetInt64(SPI_getbinval(tup, desc, 2, &cnull));
			double		y = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &ynull));
			double		t = DatumGetFloat8(SPI_getbinval(tup, desc, 4, &tnull));

			rows->read++;
			if (tnull || !isfinite(t))
			{
				rows->bad_time++;
				continue;
			}
			if (lnull || cnull)
			{
				rows->null_id++;
				continue;
			}
			if (ynull)
			{
				rows->null_label++;
				continue;
			}
			if (y != 0.0 && y != 1.0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("labels must be 0 or 1, found %g", y),
						 errdetail("Learner " INT64_FORMAT ", course " INT64_FORMAT " in %s.",
								   l, c, recs_relation_name(relid))));
			if (k == cap)
			{
				double		per_learner = (double) k / Max(nlearners, 1);

				recs_check_memory_growth(blend_training_bytes(budget, 2.0 * cap, 2.0 * nlearners),
										 blend_training_bytes(budget, est_rows, est_rows / per_learner),
										 "training the blend");
				cap *= 2;
				rows->learner = repalloc_huge(rows->learner, sizeof(int64) * cap);
				rows->course = repalloc_huge(rows->course, sizeof(int64) * cap);
				rows->y = repalloc_huge(rows->y, sizeof(double) * cap);
				rows->w = repalloc_huge(rows->w, sizeof(double) * cap);
			}
			if (k == 0 || rows->learner[k - 1] != l)
				nlearners++;
			rows->learner[k] = l;
			rows->course[k] = c;
			rows->y[k] = y;
			rows->w[k] = 1.0;
			k++;
		}
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	MemoryContextSwitchTo(cxt);
	rows->n = k;
	rows->nlearners = nlearners;
	if (k < rows->read)
		ereport(NOTICE,
				(errmsg("train_blend: read " INT64_FORMAT " rows, kept " INT64_FORMAT, rows->read, k),
				 errdetail("Skipped " INT64_FORMAT " with a NULL learner or course id, " INT64_FORMAT
						   " with a NULL label, " INT64_FORMAT " with a NULL, NaN or infinite time.",
						   rows->null_id, rows->null_label, rows->bad_time)));
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
			int			ntop;

			/* the candidates serving re-ranks: the best unwatched courses */
			serving_score_courses(&bm->component[0].model, &sl, &cs);
			MemoryContextSwitchTo(learnercxt);
			for (int i = 0; i < cs.n && i < ncat; i++)
				skip[i] = recs_find_int64(sl.watched, sl.nwatched, cs.course_id[i]) >= 0;
			ntop = topk_select(cs.score, skip, Min(cs.n, ncat), pool, top);
			nfrom = 0;
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
				int64		c;
				bool		seen;
				int			tries = 0;

				/* rows of a learner are sorted by course; watched ids are sorted */
				do
				{
					c = from[rng_below(&rng, nfrom)];
					seen = recs_find_int64(sl.watched, sl.nwatched, c) >= 0 ||
						recs_find_int64(&rows->course[s], (int) (e - s), c) >= 0;
				} while (seen && ++tries < 50);
				rows->learner[k] = rows->learner[s];
				rows->course[k] = c;
				rows->y[k] = 0.0;
				rows->w[k] = rows->w[r];
				k++;
			}
		MemoryContextReset(learnercxt);
		s = e;
	}
	rows->n = k;
	/* keep the rows grouped by learner, as scoring expects */
	{
		int64	   *order = palloc(sizeof(int64) * k);
		int64	   *l2 = MemoryContextAllocHuge(cxt, sizeof(int64) * k);
		int64	   *c2 = MemoryContextAllocHuge(cxt, sizeof(int64) * k);
		double	   *y2 = MemoryContextAllocHuge(cxt, sizeof(double) * k);
		double	   *w2 = MemoryContextAllocHuge(cxt, sizeof(double) * k);
		int64		pos = 0;
		int64		neg = n;

		/* positives of a learner, then that learner's negatives */
		for (int64 s = 0; s < n;)
		{
			int64		e = s;

			while (e < n && rows->learner[e] == rows->learner[s])
				e++;
			for (int64 r = s; r < e; r++)
				order[pos++] = r;
			for (int64 r = 0; r < (e - s) * negatives; r++)
				order[pos++] = neg++;
			s = e;
		}
		for (int64 i = 0; i < k; i++)
		{
			l2[i] = rows->learner[order[i]];
			c2[i] = rows->course[order[i]];
			y2[i] = rows->y[order[i]];
			w2[i] = rows->w[order[i]];
		}
		pfree(order);
		pfree(rows->learner);
		pfree(rows->course);
		pfree(rows->y);
		pfree(rows->w);
		rows->learner = l2;
		rows->course = c2;
		rows->y = y2;
		rows->w = w2;
	}
}

/* the component scores of every row, learner by learner */
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
				rows->z[r * dim + 1 + j] = component_feature(&bm->component[j], score[r - s]);
		}
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(learnercxt);
		for (int64 r = s; r < e; r++)
			rows->z[r * dim] = 1.0;
		s = e;
	}
	MemoryContextDelete(learnercxt);

	/* standardise; what a component cannot score sits at its mean (0) */
	for (int j = 0; j < bm->ncomponents; j++)
	{
		double		sum = 0,
					sum2 = 0;
		int64		cnt = 0;

		for (int64 r = 0; r < rows->n; r++)
		{
			double		v = rows->z[r * dim + 1 + j];

			if (!isnan(v))
			{
				sum += v;
				sum2 += v * v;
				cnt++;
			}
		}
		bm->component[j].mean = cnt ? sum / cnt : 0.0;
		bm->component[j].sd = cnt ? sqrt(Max(sum2 / cnt - bm->component[j].mean * bm->component[j].mean, 0.0)) : 0.0;
		if (!(bm->component[j].sd > 1e-12))
			bm->component[j].sd = 1.0;
		for (int64 r = 0; r < rows->n; r++)
		{
			double	   *v = &rows->z[r * dim + 1 + j];

			*v = isnan(*v) ? 0.0 : (*v - bm->component[j].mean) / bm->component[j].sd;
		}
	}
}

/* group the rows by the learners' values of a column (or by learner id) */
static void
group_effect(BlendEffect *eff, const BlendRows *rows, Oid learners, const char *lcol,
			 bool by_learner)
{
	char	  **rowkey = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(rows->n, 1));
	int64		nkeyed = 0;

	if (by_learner)
	{
		/* rows come grouped by learner: one key string per learner */
		for (int64 r = 0; r < rows->n; r++)
			rowkey[r] = (r > 0 && rows->learner[r] == rows->learner[r - 1]) ? rowkey[r - 1] :
				psprintf(INT64_FORMAT, rows->learner[r]);
	}
	else
	{
		/* learner id -> key, read once */
		StringInfoData sql;
		int			rc;
		int			nl;
		int64	   *ids;
		char	  **vals;
		MemoryContext cxt = CurrentMemoryContext;

		if (!OidIsValid(learners))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("random effect \"%s\" needs the learners relation", eff->column),
					 errhint("Pass learners => the relation that has the column.")));
		recs_check_column(learners, eff->column, "random_effects", NULL, 0);
		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT DISTINCT ON (1) %s::int8, %s::text FROM %s "
						 "WHERE %s IS NOT NULL AND %s IS NOT NULL ORDER BY 1",
						 quote_identifier(lcol), quote_identifier(eff->column),
						 recs_relation_name(learners), quote_identifier(lcol),
						 quote_identifier(eff->column));
		rc = SPI_execute(sql.data, true, 0);
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
	}

	/* distinct keys, sorted (a run of rows shares one key string) */
	eff->key = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(rows->n, 1));
	for (int64 r = 0; r < rows->n; r++)
		if (rowkey[r] && (r == 0 || rowkey[r] != rowkey[r - 1]))
			eff->key[nkeyed++] = rowkey[r];
	qsort(eff->key, nkeyed, sizeof(char *), pg_qsort_strcmp);
	eff->nentities = 0;
	for (int64 i = 0; i < nkeyed; i++)
		if (eff->nentities == 0 || strcmp(eff->key[eff->nentities - 1], eff->key[i]) != 0)
			eff->key[eff->nentities++] = eff->key[i];

	/* counting sort of the rows by entity */
	eff->start = palloc0(sizeof(int64) * (eff->nentities + 1));
	eff->order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(rows->n, 1));
	{
		int		   *ent = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * Max(rows->n, 1));
		int64	   *fill;

		for (int64 r = 0; r < rows->n; r++)
		{
			char	  **hit;

			if (r > 0 && rowkey[r] == rowkey[r - 1])
			{
				ent[r] = ent[r - 1];
				if (ent[r] >= 0)
					eff->start[ent[r] + 1]++;
				continue;
			}
			hit = rowkey[r] ? bsearch(&rowkey[r], eff->key, eff->nentities,
									  sizeof(char *), pg_qsort_strcmp) : NULL;
			ent[r] = hit ? (int) (hit - eff->key) : -1;
			if (ent[r] >= 0)
				eff->start[ent[r] + 1]++;
		}
		for (int e = 0; e < eff->nentities; e++)
			eff->start[e + 1] += eff->start[e];
		fill = palloc(sizeof(int64) * Max(eff->nentities, 1));
		memcpy(fill, eff->start, sizeof(int64) * eff->nentities);
		for (int64 r = 0; r < rows->n; r++)
			if (ent[r] >= 0)
				eff->order[fill[ent[r]]++] = r;
		pfree(fill);
		pfree(ent);
	}
	pfree(rowkey);
}

/* fit one coordinate: rows idx[0..n) with offsets, coefficients beta (in/out) */
static void
fit_block(const BlendRows *rows, int dim, const int64 *idx, int64 n, const double *offset,
		  double lambda, double *beta, double *scratch, int32 *ptr, int32 *col)
{
	double	   *y = scratch;
	double	   *w = y + n;
	double	   *o = w + n;
	double	   *val = o + n;
	double	   *work = val + n * dim;
	GlmixEntityFit fit;

	for (int64 i = 0; i < n; i++)
	{
		int64		r = idx ? idx[i] : i;

		y[i] = rows->y[r];
		w[i] = rows->w[r];
		o[i] = offset[r];
		memcpy(&val[i * dim], &rows->z[r * dim], sizeof(double) * dim);
	}
	if (n * dim < 1000000)
	{
		glmix_entity_newton((int) n, y, w, o, ptr, col, val, dim, lambda, beta, 50, 1e-8, work, &fit);
		return;
	}

	/* a big block (the global effect): one Newton step at a time, cancellable */
	for (int it = 0; it < 50; it++)
	{
		double		before[BLEND_MAX_COMPONENTS + 1];
		double		moved = 0.0;

		CHECK_FOR_INTERRUPTS();
		memcpy(before, beta, sizeof(double) * dim);
		glmix_entity_newton((int) n, y, w, o, ptr, col, val, dim, lambda, beta, 1, 1e-8, work, &fit);
		for (int j = 0; j < dim; j++)
			moved = Max(moved, fabs(beta[j] - before[j]));
		if (moved < 1e-8)
			break;
	}
}

/* a float8[] literal of v[0..n), exact to the last bit */
static Datum
coefs_text(const double *v, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int j = 0; j < n; j++)
		appendStringInfo(&buf, "%s%.17g", j ? "," : "", v[j]);
	appendStringInfoChar(&buf, '}');
	return CStringGetTextDatum(buf.data);
}

static double
total_loss(const BlendRows *rows, const double *margin)
{
	double		loss = 0;

	for (int64 r = 0; r < rows->n; r++)
		loss += rows->w[r] * glmix_logloss(margin[r], rows->y[r]);
	return loss;
}

PG_FUNCTION_INFO_V1(train_blend);
Datum
train_blend(PG_FUNCTION_ARGS)
{
	int			spi_level;
	ArrayType  *components;
	Oid			impressions;
	Oid			learners = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	char	   *name = recs_text_arg(fcinfo, 3, "blend");
	ArrayType  *effects_arg = PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4);
	char	   *label = recs_text_arg(fcinfo, 6, "clicked");
	ArrayType  *l2_arg = PG_ARGISNULL(7) ? NULL : PG_GETARG_ARRAYTYPE_P(7);
	int32		passes = PG_ARGISNULL(8) ? 2 : PG_GETARG_INT32(8);
	bool		activate = PG_ARGISNULL(9) ? true : PG_GETARG_BOOL(9);
	char	   *lcol = recs_text_arg(fcinfo, 10, "learner_id");
	char	   *ccol = recs_text_arg(fcinfo, 11, "course_id");
	char	   *tcol = recs_text_arg(fcinfo, 12, "shown_at");
	char	   *clickcol = recs_text_arg(fcinfo, 13, "clicked");
	char	   *bookcol = recs_text_arg(fcinfo, 14, "bookmarked");
	int32		negatives = PG_ARGISNULL(15) ? 0 : PG_GETARG_INT32(15);
	int64		seed = PG_ARGISNULL(16) ? 42 : PG_GETARG_INT64(16);
	/* rerank_top is new in 0.2.0: a 0.1.0 definition passes 17 arguments */
	int32		rerank_top = (PG_NARGS() <= 17 || PG_ARGISNULL(17)) ? 0 : PG_GETARG_INT32(17);
	BlendModel	bm;
	BlendEffect effects[BLEND_MAX_EFFECTS];
	int			neffects = 0;
	double		l2[1 + BLEND_MAX_EFFECTS];
	double		since;
	double		trained_through = -INFINITY;
	StringInfoData label_sql;
	BlendRows	rows;
	BlendBudget budget;
	int			dim;
	double	   *global;
	double	   *margin;
	double	   *offset;
	double	   *scratch;
	int32	   *ptr;
	int32	   *col;
	int64		maxrows;
	int64		model_id;
	StringInfoData json;
	TimestampTz t0 = GetCurrentTimestamp();

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "components" : "impressions")));
	components = PG_GETARG_ARRAYTYPE_P(0);
	impressions = PG_GETARG_OID(1);
	if (passes < 1 || passes > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passes must be between 1 and 100, not %d", passes)));
	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));

	if (negatives < 0 || negatives > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("negatives must be between 0 and 100, not %d", negatives)));
	if (rerank_top < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rerank_top must be 0 (rank the whole catalogue) or positive, not %d", rerank_top)));
	initStringInfo(&label_sql);
	if (negatives > 0)
		appendStringInfoString(&label_sql, "1");	/* every row is a positive: watches */
	else if (strcmp(label, "clicked") == 0)
		label_expression(&label_sql, impressions, clickcol, "click_column");
	else if (strcmp(label, "bookmarked") == 0)
		label_expression(&label_sql, impressions, bookcol, "bookmark_column");
	else if (strcmp(label, "either") == 0)
	{
		static const Oid bool_type[] = {BOOLOID};

		recs_check_column(impressions, clickcol, "click_column", bool_type, 1);
		recs_check_column(impressions, bookcol, "bookmark_column", bool_type, 1);
		appendStringInfo(&label_sql, "(%s OR %s)::int", quote_identifier(clickcol),
						 quote_identifier(bookcol));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be 'clicked', 'bookmarked' or 'either', not '%s'", label)));

	spi_level = recs_spi_connect();

	/* the components */
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(components, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
		if (n < 1 || n > BLEND_MAX_COMPONENTS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a blend needs 1 to %d component models, not %d", BLEND_MAX_COMPONENTS, n)));
		memset(&bm, 0, sizeof(bm));
		bm.ncomponents = n;
		for (int j = 0; j < n; j++)
		{
			Oid			types[1] = {INT8OID};
			int			rc;
			bool		isnull;
			Datum		tt;

			if (nulls[j])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("component model ids must not be NULL")));
			serving_model_by_id(DatumGetInt64(elems[j]), &bm.component[j].model);
			if (strcmp(bm.component[j].model.kind, "blend") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("recs model " INT64_FORMAT " is a blend; blends of blends are not supported",
								bm.component[j].model.model_id)));
			for (int i = 0; i < j; i++)
				if (bm.component[i].model.model_id == bm.component[j].model.model_id)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("recs model " INT64_FORMAT " is named twice",
									bm.component[j].model.model_id)));
			bm.component[j].logit_of_probability = strcmp(bm.component[j].model.kind, "glmix") == 0;
			rc = SPI_execute_with_args("SELECT date_part('epoch', trained_through) FROM recs.model WHERE model_id = $1",
									   1, types, &elems[j], NULL, true, 1);
			if (rc == SPI_OK_SELECT && SPI_processed == 1)
			{
				tt = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
				if (!isnull)
					trained_through = Max(trained_through, DatumGetFloat8(tt));
			}
		}
	}
	since = PG_ARGISNULL(5) ? trained_through : recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(5));
	if (since == INFINITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must be a finite timestamp or -infinity"),
				 errdetail("The blend trains on the impressions shown after since.")));
	if (!isfinite(since))
		since = -INFINITY;		/* no component has a trained_through: everything */

	/* random-effect coordinates and their L2 weights */
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n = 0;

		if (effects_arg)
			deconstruct_array(effects_arg, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
		else
		{
			elems = palloc(sizeof(Datum));
			nulls = palloc0(sizeof(bool));
			elems[0] = CStringGetTextDatum(lcol);
			n = 1;
		}
		if (n > BLEND_MAX_EFFECTS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("at most %d random effects, not %d", BLEND_MAX_EFFECTS, n)));
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("random effect names must not be NULL")));
			memset(&effects[i], 0, sizeof(BlendEffect));
			effects[i].column = TextDatumGetCString(elems[i]);
		}
		neffects = n;
	}
	for (int i = 0; i <= neffects; i++)
		l2[i] = i == 0 ? 1.0 : 10.0;
	if (l2_arg)
	{
		int			n;
		const double *v = glmix_float8_data(l2_arg, &n, "l2");

		if (n != neffects + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 needs %d values (the global effect, then each random effect), not %d",
							neffects + 1, n)));
		for (int i = 0; i < n; i++)
		{
			if (!(v[i] > 0) || !isfinite(v[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("l2 weights must be positive and finite")));
			l2[i] = v[i];
		}
	}

	dim = bm.ncomponents + 1;
	budget.negatives = negatives;
	budget.dim = dim;
	budget.neffects = neffects;
	budget.components = load_components(&bm);
	read_rows(impressions, lcol, ccol, tcol, label_sql.data, since, &budget, &rows);
	if (rows.n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no impressions after the components' training data"),
				 errdetail("The blend trains on impressions shown after %s.",
						   isfinite(since) ? timestamptz_to_str(recs_epoch_to_timestamptz(since)) : "-infinity"),
				 errhint("Train the components on earlier data, or pass since => an earlier time.")));
	recs_check_memory(blend_training_bytes(&budget, rows.n, rows.nlearners),
					  psprintf("training the blend with its component models (%.1f MB)",
							   budget.components / (1024.0 * 1024.0)));
	if (negatives > 0)
		add_sampled_negatives(&bm, &rows, negatives, rerank_top, (uint64) seed);
	score_rows(&bm, &rows);
	{
		bool		pos = false,
					neg = false;

		for (int64 r = 0; r < rows.n; r++)
			if (rows.y[r] > 0.5)
				pos = true;
			else
				neg = true;
		if (!pos || !neg)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("the blend's impressions all have the same label"),
					 errhint("A blend needs both responses and non-responses.")));
	}
	for (int i = 0; i < neffects; i++)
	{
		group_effect(&effects[i], &rows, learners, lcol, strcmp(effects[i].column, lcol) == 0);
		effects[i].coef = palloc0(sizeof(double) * Max(effects[i].nentities, 1) * dim);
		effects[i].score = palloc0(sizeof(double) * rows.n);
	}

	/* coordinate descent */
	global = palloc0(sizeof(double) * dim);
	margin = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * rows.n);
	offset = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * rows.n);
	maxrows = rows.n;
	scratch = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(double) * (maxrows * (3 + dim) + dim * dim + 4 * dim + 5 * maxrows));
	ptr = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (maxrows + 1));
	col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * maxrows * dim);
	for (int64 r = 0; r <= maxrows; r++)
		ptr[r] = (int32) (r * dim);
	for (int64 k = 0; k < maxrows * dim; k++)
		col[k] = (int32) (k % dim);

	for (int pass = 1; pass <= passes; pass++)
	{
		for (int coord = 0; coord <= neffects; coord++)
		{
			TimestampTz c0 = GetCurrentTimestamp();
			double		loss;

			CHECK_FOR_INTERRUPTS();
			/* offsets: every other coordinate's current score */
			for (int64 r = 0; r < rows.n; r++)
			{
				double		o = 0;

				if (coord != 0)
					for (int j = 0; j < dim; j++)
						o += global[j] * rows.z[r * dim + j];
				for (int i = 0; i < neffects; i++)
					if (i + 1 != coord)
						o += effects[i].score[r];
				offset[r] = o;
			}
			if (coord == 0)
				fit_block(&rows, dim, NULL, rows.n, offset, l2[0], global, scratch, ptr, col);
			else
			{
				BlendEffect *eff = &effects[coord - 1];

				for (int e = 0; e < eff->nentities; e++)
				{
					int64		n = eff->start[e + 1] - eff->start[e];
					const int64 *idx = &eff->order[eff->start[e]];
					double	   *beta = &eff->coef[(Size) e * dim];

					if ((e & 255) == 0)
						CHECK_FOR_INTERRUPTS();
					fit_block(&rows, dim, idx, n, offset, l2[coord], beta, scratch, ptr, col);
					for (int64 i = 0; i < n; i++)
					{
						double		s = 0;

						for (int j = 0; j < dim; j++)
							s += beta[j] * rows.z[idx[i] * dim + j];
						eff->score[idx[i]] = s;
					}
				}
			}
			for (int64 r = 0; r < rows.n; r++)
			{
				double		m = 0;

				for (int j = 0; j < dim; j++)
					m += global[j] * rows.z[r * dim + j];
				for (int i = 0; i < neffects; i++)
					m += effects[i].score[r];
				margin[r] = m;
			}
			loss = total_loss(&rows, margin) / rows.n;
			ereport(NOTICE,
					(errmsg("train_blend pass %d/%d %s: mean log-loss %.5f, %.3f s",
							pass, passes, coord == 0 ? "global" : effects[coord - 1].column,
							loss, (GetCurrentTimestamp() - c0) / 1e6)));
		}
	}

	/* store */
	initStringInfo(&json);
	appendStringInfoString(&json, "{\"impressions\": ");
	escape_json(&json, recs_relation_name(impressions));
	appendStringInfoString(&json, ", \"components\": [");
	for (int j = 0; j < bm.ncomponents; j++)
		appendStringInfo(&json, "%s" INT64_FORMAT, j ? ", " : "", bm.component[j].model.model_id);
	appendStringInfoString(&json, "]}");
	{
		StringInfoData params;

		initStringInfo(&params);
		appendStringInfoString(&params, "{\"learner_column\": ");
		escape_json(&params, lcol);
		appendStringInfoString(&params, ", \"label\": ");
		escape_json(&params, label);
		appendStringInfo(&params, ", \"passes\": %d, \"negatives\": %d, \"rerank_top\": %d, \"since\": ",
					 passes, negatives, rerank_top);
		escape_json(&params, isfinite(since) ? timestamptz_to_str(recs_epoch_to_timestamptz(since)) : "-infinity");
		appendStringInfoString(&params, ", \"random_effects\": [");
		for (int i = 0; i < neffects; i++)
		{
			if (i)
				appendStringInfoString(&params, ", ");
			escape_json(&params, effects[i].column);
		}
		appendStringInfoString(&params, "], \"l2\": [");
		for (int i = 0; i <= neffects; i++)
			appendStringInfo(&params, "%s%g", i ? ", " : "", l2[i]);
		appendStringInfoString(&params, "]}");
		model_id = model_store_create(name, "blend", json.data, params.data,
									  isfinite(trained_through) ? trained_through : 0);
	}
	blend_store_components(model_id, &bm);
	{
		Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
		int64		ncoef = 1;

		for (int i = 0; i < neffects; i++)
			ncoef += effects[i].nentities;
		{
			Datum	   *mid = palloc(sizeof(Datum) * ncoef);
			Datum	   *coord = palloc(sizeof(Datum) * ncoef);
			Datum	   *ent = palloc(sizeof(Datum) * ncoef);
			bool	   *entnull = palloc0(sizeof(bool) * ncoef);
			Datum	   *coefs = palloc(sizeof(Datum) * ncoef);
			Datum	   *vals[4] = {mid, coord, ent, coefs};
			const bool *nulls[4] = {NULL, NULL, entnull, NULL};
			int64		k = 0;

			mid[k] = Int64GetDatum(model_id);
			coord[k] = CStringGetTextDatum("global");
			entnull[k] = true;
			ent[k] = (Datum) 0;
			coefs[k] = coefs_text(global, dim);
			k++;
			for (int i = 0; i < neffects; i++)
				for (int e = 0; e < effects[i].nentities; e++)
				{
					mid[k] = Int64GetDatum(model_id);
					coord[k] = CStringGetTextDatum(effects[i].column);
					ent[k] = CStringGetTextDatum(effects[i].key[e]);
					coefs[k] = coefs_text(&effects[i].coef[(Size) e * dim], dim);
					k++;
				}
			recs_insert_columns("INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs) "
								"SELECT a, b, c, d::float8[] FROM unnest($1, $2, $3, $4) AS u(a, b, c, d)",
								4, types, vals, nulls, k);
		}
	}
	{
		char	  **cols = palloc(sizeof(char *) * Max(neffects, 1));

		for (int i = 0; i < neffects; i++)
			cols[i] = effects[i].column;
		blend_store_learners(model_id, &bm, learners, lcol, neffects, (const char **) cols);
	}

	resetStringInfo(&json);
	appendStringInfo(&json, "{\"impressions_read\": " INT64_FORMAT ", \"skipped\": {\"null_id\": " INT64_FORMAT
					 ", \"null_label\": " INT64_FORMAT ", \"bad_time\": " INT64_FORMAT "}, ",
					 rows.read, rows.null_id, rows.null_label, rows.bad_time);
	appendStringInfo(&json, "\"impressions_used\": " INT64_FORMAT ", \"train_logloss\": %.6f, "
					 "\"train_auc\": %.6f, \"seconds\": %.3f, \"global\": [",
					 rows.n, total_loss(&rows, margin) / rows.n,
					 glmix_auc(rows.n, margin, rows.y), (GetCurrentTimestamp() - t0) / 1e6);
	for (int j = 0; j < dim; j++)
		appendStringInfo(&json, "%s%.6f", j ? ", " : "", global[j]);
	appendStringInfoString(&json, "]}");
	model_store_set_metrics(model_id, json.data);
	if (activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}
