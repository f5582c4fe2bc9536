/*
 * glmix_stage.c -- phase 2 of a GLMix training: the designs cut into
 * page-sized blocks in work relations, the plans that scan them, and the
 * solver's buffers
 *
 * The fixed effect's work relation holds every row, in row order; a random
 * effect's holds each active entity's rows (at most max_rows of them, drawn
 * from the entity's own seeded stream (glmix_sample.c), their weights
 * scaled up to keep the entity's total).
 * Entities with fewer than min_rows rows get no model: their effect is
 * zero.  Blocks are written as they are cut (glmix_work.c), so memory holds
 * one at a time.  The plans are generic and parallel-safe: offsets and
 * coefficients are their parameters, so nothing in the work relations
 * changes between passes.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"

#include "sorted_ids.h"
#include "glmix.h"

/*
 * On Citus (glmix_citus.c), how cut_blocks keys, numbers and records its
 * blocks: the fixed effect's go to parts[] in turn; a random effect's rows
 * get the row ids first_id, first_id + 1, ... (their positions in the
 * entity-grouped order), so each block's offsets are one slice.
 */
typedef struct CitusCut
{
	GlmixCitusWork *cw;
	const int32 *parts;
	int			nparts;
	int64		first_id;		/* -1: the row ids are the training rows */
} CitusCut;

/*
 * Cut rows[0..n) of design X into blocks of at most GLMIX_BLOCK_MAX_BYTES
 * and write them out, keyed by entity (or as cc says); returns how many.
 */
static int
cut_blocks(GlmixWorkWriter *ww, const int64 *rows, int64 n, const GlmixRows *data, double wscale,
		   const GlmixDesign *X, int entity, const CitusCut *cc)
{
	int64		lo = 0;
	int64		total_nnz = 0;
	int			nblocks = 0;

	if (entity >= 0)
		for (int64 k = 0; k < n; k++)
			total_nnz += X->ptr[rows[k] + 1] - X->ptr[rows[k]];

	while (lo < n)
	{
		int64		hi = lo;
		int			nnz = 0;
		bool		binary = true;
		bool		contiguous = true;

		/* grow the block while it fits (a lone oversized row goes alone) */
		while (hi < n)
		{
			int64		r = rows[hi];
			int			len = X->ptr[r + 1] - X->ptr[r];
			bool		b2 = binary;
			bool		c2 = contiguous && (hi == lo || rows[hi] == rows[hi - 1] + 1);

			for (int32 k = X->ptr[r]; X->val && k < X->ptr[r + 1] && b2; k++)
				b2 = X->val[k] == 1.0;
			if (hi > lo &&
				glmix_block_size((int) (hi - lo + 1), nnz + len, b2, c2, X->dim) > GLMIX_BLOCK_MAX_BYTES)
				break;
			nnz += len;
			binary = b2;
			contiguous = c2;
			hi++;
		}
		if (hi == lo + 1 &&
			glmix_block_size(1, nnz, binary, true, X->dim) > GLMIX_BLOCK_MAX_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("an impression has %d features, more than one block can hold", nnz),
					 errhint("Use fewer crosses or multi-hot elements.")));
		{
			int64		first_id = cc && cc->first_id >= 0 ? cc->first_id + lo : -1;
			int32		key = cc && cc->nparts > 0 ? cc->parts[nblocks % cc->nparts] : entity;
			bytea	   *b = glmix_block_build((int) (hi - lo), rows + lo, first_id, data->y, data->w,
											  wscale, X->ptr, X->col, X->val, X->dim, entity,
											  entity >= 0 ? (int) n : 0,
											  (int) Min(total_nnz, PG_INT32_MAX));

			glmix_work_put(ww, key, b);
			if (cc)
				glmix_citus_note_block(cc->cw, key, first_id >= 0 ? first_id : rows[lo], (int) (hi - lo));
			pfree(b);
			nblocks++;
		}
		lo = hi;
	}
	return nblocks;
}

/*
 * The fixed effect's work relation: every row, in row order (contiguous
 * blocks).  On Citus (t->citus_shards > 0) it is distributed by "part", the
 * blocks dealt out to the shards in turn, one part value per shard.
 */
static void
stage_fixed(GlmixTraining *t, bool parallel)
{
	int64		n = t->rows->n;
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	CitusCut	cc = {&t->citus, NULL, 0, -1};
	GlmixWorkWriter *ww;

	t->work = t->citus_shards > 0 ?
		glmix_citus_work_table("fixed", 0, "part", t->citus_shards, &t->citus) : NULL;
	if (t->work)
	{
		int32	   *parts;

		cc.nparts = glmix_citus_shard_keys(t->work, t->citus_shards, &parts);
		cc.parts = parts;
		ww = glmix_work_open_distributed(t->work);
	}
	else
	{
		t->citus_shards = 0;
		t->work = glmix_work_table("fixed", 0, false, parallel);
		ww = glmix_work_open(glmix_work_oid(t->work));
	}
	for (int64 r = 0; r < n; r++)
		ids[r] = r;
	t->nblocks = cut_blocks(ww, ids, n, t->rows, 1.0, t->X, -1, t->citus_shards > 0 ? &cc : NULL);
	glmix_work_close(ww);
	pfree(ids);
	/* on Citus the blocks are on the workers: the scores come from the sides */
	if (t->citus_shards > 0)
	{
		t->fixed_row_max = t->X->row_max;
		glmix_free_design(t->X);
		t->X = NULL;
	}
}

/*
 * A random effect's work relation: each entity's rows, grouped by a
 * counting sort that keeps row order.  Entities under min_rows are left
 * out; above max_rows a seeded sample is kept and up-weighted.
 */
static void
stage_random(GlmixTraining *t, GlmixCoordinate *c, int serial, int min_rows, int max_rows,
			 int64 seed, bool parallel)
{
	int			E = c->re->nent;
	int64		n = t->rows->n;
	int64	   *start = palloc0(sizeof(int64) * (E + 1));
	int64	   *order = palloc(sizeof(int64) * Max(n, 1));
	int64	   *fill = palloc(sizeof(int64) * Max(E, 1));
	GlmixWorkWriter *ww;

	/*
	 * On Citus the design is built here, one coordinate at a time, and freed
	 * once its blocks are on the workers (also when the work relations fell
	 * back to local ones: then it is kept for the scores).
	 */
	if (c->Z == NULL)
		c->Z = glmix_random_design(c->re, c->re->learner_side ? t->courses : t->learners,
								   c->re->learner_side ? t->rows->ci : t->rows->li, n);

	/* rows grouped by entity (counting sort keeps row order) */
	for (int64 r = 0; r < n; r++)
		if (c->row_ent[r] >= 0)
			start[c->row_ent[r] + 1]++;
	for (int e = 0; e < E; e++)
		start[e + 1] += start[e];
	memcpy(fill, start, sizeof(int64) * E);
	for (int64 r = 0; r < n; r++)
		if (c->row_ent[r] >= 0)
			order[fill[c->row_ent[r]]++] = r;

	/*
	 * On Citus distributed by entity: GROUP BY entity runs on the workers.
	 * Row ids are positions in order[], which the coordinate keeps to send
	 * each block its offsets.
	 */
	if (t->citus_shards > 0)
	{
		c->work = glmix_citus_work_table("re", serial, "entity", t->citus_shards, &c->citus);
		c->citus.order = order;
		c->citus.norder = n;
		ww = glmix_work_open_distributed(c->work);
	}
	else
	{
		c->work = glmix_work_table("re", serial, true, parallel);
		ww = glmix_work_open(glmix_work_oid(c->work));
	}
	c->nblocks = 0;
	c->rows = palloc0(sizeof(int) * Max(E, 1));
	c->nmodels = 0;
	for (int e = 0; e < E; e++)
	{
		int64		cnt = start[e + 1] - start[e];
		int64	   *mine = order + start[e];
		int64		use = cnt;
		double		wscale = 1.0;

		if (cnt < min_rows || cnt == 0)
			continue;
		if (max_rows > 0 && cnt > max_rows)
		{
			/*
			 * a seeded uniform sample of max_rows rows from the entity's own
			 * stream (glmix_sample.c: as the flat Citus path draws it)
			 */
			glmix_sample_entity(mine, cnt, max_rows, glmix_sample_seed(seed, serial, c->re->keys[e]),
								t->rows->learner_id, t->rows->course_id, t->rows->y, t->rows->w);
			use = max_rows;
			wscale = (double) cnt / max_rows;
		}
		c->rows[e] = (int) use;
		c->nmodels++;
		if (t->citus_shards > 0)
		{
			CitusCut	cc = {&c->citus, NULL, 0, start[e]};

			c->nblocks += cut_blocks(ww, mine, use, t->rows, wscale, c->Z, e, &cc);
		}
		else
			c->nblocks += cut_blocks(ww, mine, use, t->rows, wscale, c->Z, e, NULL);
	}
	glmix_work_close(ww);
	pfree(start);
	if (t->citus_shards == 0)
		pfree(order);
	else
	{
		glmix_free_design(c->Z);
		c->Z = NULL;
	}
	pfree(fill);
}

/*
 * Generic, parallel-safe plans: the parameters change, the plan does not.
 * Citus cannot distribute a generic plan with parameters: there the plans
 * are custom, the parameters' values planned in and sent with each task.
 */
static int
plan_options(const GlmixTraining *t)
{
	return CURSOR_OPT_PARALLEL_OK |
		(t->citus_shards > 0 ? CURSOR_OPT_CUSTOM_PLAN : CURSOR_OPT_GENERIC_PLAN);
}

/* phase 2: the work relations, their plans, and the solver's buffers */
void
glmix_stage(GlmixTraining *t, const GlmixOptions *o)
{
	int			d = t->lay.dim;
	StringInfoData b;
	char	   *fixed_sql;

	stage_fixed(t, true);
	/*
	 * The statistics are one row, or on Citus one row per shard (grouped by
	 * the distribution column, so each task aggregates its shard whole),
	 * which the fit adds up in shard order; there each block's offsets come
	 * from the co-located argument relation ($1 is unused).  TRON: $3 is the
	 * direction of a Hessian-vector product, NULL for none.
	 */
	if (t->citus_shards > 0)
		fixed_sql = psprintf("SELECT recs.%s(w.block, a.offsets, $2%s) FROM %s w JOIN %s a "
							 "ON a.part = w.part AND a.block_no = w.block_no GROUP BY w.part ORDER BY w.part",
							 t->tron ? "glmix_fixed_block_grad" : "glmix_fixed_block_stats",
							 t->tron ? ", $3" : "", t->work, t->citus.args);
	else if (t->tron)
		fixed_sql = psprintf("SELECT recs.glmix_fixed_block_grad(block, $1, $2, $3) FROM %s", t->work);
	else
		fixed_sql = psprintf("SELECT recs.glmix_fixed_block_stats(block, $1, $2) FROM %s", t->work);
	t->plan = SPI_prepare_cursor(fixed_sql, t->tron ? 3 : 2,
								 (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID},
								 plan_options(t));
	if (t->plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int k = 0; k < t->nre; k++)
	{
		GlmixCoordinate *c = &t->co[k];
		char	   *sql;

		stage_random(t, c, k, o->min_rows, o->max_rows, o->seed, true);
		if (t->citus_shards > 0)
			sql = psprintf("SELECT w.entity, recs.glmix_entity_fit(w.block, a.offsets, a.start, $3) "
						   "FROM %s w JOIN %s a ON a.entity = w.entity AND a.block_no = w.block_no "
						   "GROUP BY w.entity", c->work, c->citus.args);
		else
			sql = psprintf("SELECT entity, recs.glmix_entity_fit(block, $1, $2, $3) "
						   "FROM %s GROUP BY entity", c->work);
		c->plan = SPI_prepare_cursor(sql, 3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8OID},
									 plan_options(t));
		if (c->plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	if (t->citus_shards > 0)
		ereport(DEBUG1,
				(errmsg("train_glmix: the fixed effect's statistics: %s", fixed_sql)));
	t->beta = palloc0(sizeof(double) * d);
	t->g = palloc(sizeof(double) * d);
	t->step = palloc(sizeof(double) * d);
	t->cand = palloc(sizeof(double) * d);
	if (t->tron)
		t->tron_work = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * 6 * (Size) d);
	else
	{
		t->H = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * d * d);
		t->L = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * d * d);
	}
	t->score = palloc0(sizeof(double) * t->rows->n);
	t->vscore = t->vrows ? palloc0(sizeof(double) * Max(t->vrows->n, 1)) : NULL;

	initStringInfo(&b);
	for (int k = 0; k < t->nre; k++)
		appendStringInfo(&b, "%s%s: %d features, %d of %d entities with a model",
						 k ? "; " : "Random effects: ", t->co[k].re->column,
						 t->co[k].re->dim, t->co[k].nmodels, t->co[k].re->nent);
	if (!t->quiet)
		ereport(NOTICE,
			(errmsg("train_glmix: " INT64_FORMAT " impressions (" INT64_FORMAT " positive), "
					"%d learners, %d courses; fixed effect %d features%s",
					t->rows->n, t->rows->n_positive, t->learners->n, t->courses->n, t->lay.dim,
					t->tron ? psprintf(" (TRON solver, " INT64_FORMAT " nonzeros)", t->fixed_nnz) : ""),
			 errdetail("%s.%s", t->nre == 0 ? "No random effects" : b.data,
					   t->citus_shards > 0 ?
					   psprintf(" Work relations distributed over %d Citus shards: the aggregates run on the workers.",
								t->citus_shards) : "")));
}
