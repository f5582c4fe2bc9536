/*
 * glmix_flat_channel.c -- a random effect keyed by a column of the
 * impressions (a channel: a per-channel model over the course's z(c)) on
 * the flat Citus path, by per-key sufficient statistics
 *
 * A channel is the learner attribute's effect (glmix_flat_segment.c) with a
 * key per row instead of per learner:
 *
 *   - its entities are the column's distinct values, read as the
 *     single-node reader reads them (SELECT DISTINCT col::text, pushed down;
 *     sorted bytewise here), so few; the values go as a parameter of the
 *     staging statement, where each impression's key is its value's index
 *     (array_position), and the block builder keeps each block's rows' keys
 *     beside the block (recs._glmix_flat_blocks' keyed overload; a NULL value:
 *     no key, the row stays in the other coordinates);
 *   - its design is z(c), the learner effect's: the learner-effect blocks
 *     carry z(c) for every kept row (the encoding's min_rows is 0, as with a
 *     segment), so the effect's rows are those blocks' rows;
 *   - a visit is Newton per key on the coordinator (entity_newton_dense's
 *     rule, glmix_flat_keyed.c, shared with the segment), each pass one
 *     statement: the partial
 *     aggregate recs._glmix_flat_channel_stats sums per key the loss,
 *     gradient, packed Hessian and column counts of the rows at their key's
 *     coefficients (a parameter: keys x dim), the offsets x.beta + z.coef_l
 *     (+ the segments') + the course-side scores computed in the tasks;
 *   - its score enters the other coordinates' offsets per row: after a visit
 *     one co-located UPDATE writes each block's rows' scores z_r . coef_key
 *     (recs._glmix_flat_channel_scores, the coefficients its parameter) to a
 *     relation H beside the blocks, which the other plans join and add to
 *     the course scores' argument (recs._glmix_flat_add), and the course
 *     rows take as their twelfth argument.
 *
 * Why a score relation rather than the scores computed in each statement
 * from the coefficients: every other coordinate's statement (the fixed
 * effect's Newton and TRON callbacks, the loss, the learner and segment
 * fits, the course rows) already takes the other scores through one
 * per-row argument; a relation keeps their parameters as they are, for 8
 * bytes a row written once per visit.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "spi_util.h"

/* the per-key statistics' bytes at most (each shard's state, and here) */
#define CH_MAX_STATE_BYTES (64.0 * 1024 * 1024)

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * At prepare: the column's distinct values, as ingest/impressions.c reads
 * them.  False when there are none or too many keys for one state.
 */
bool
glmix_flat_channel_read(GlmixTraining *t, const GlmixOptions *o)
{
	GlmixFlatWork *f = t->flat;
	GlmixRandom *re = t->co[f->hk].re;
	const char *col = quote_identifier(re->column);
	MemoryContext cxt = CurrentMemoryContext;
	char	  **vals;
	Datum	   *d;
	int			n;

	if (SPI_execute(psprintf("SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL LIMIT %d",
							 col, recs_relation_name(o->impressions), col, GLMIX_FLAT_MAX_KEYS + 1),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read column \"%s\"", re->column);
	MemoryContextSwitchTo(cxt);
	n = (int) SPI_processed;
	if (n == 0 || n > GLMIX_FLAT_MAX_KEYS ||
		8.0 * n * glmix_flat_keyed_per(re->dim) > CH_MAX_STATE_BYTES)
	{
		SPI_freetuptable(SPI_tuptable);
		ereport(DEBUG1,
				(errmsg("train_glmix: not the flat Citus path: %d values of %s", n, re->column)));
		return false;
	}
	vals = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		vals[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	qsort(vals, n, sizeof(char *), key_cmp);
	re->context = true;
	re->nent = n;
	re->keys = vals;
	d = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(vals[i]);
	f->hvalues = PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
	f->hnkeys = n;
	return true;
}

/*
 * After the blocks: H, a row per block, and its join for the other
 * coordinates' plans (before the course effect's)
 */
void
glmix_flat_channel_create(GlmixTraining *t, const GlmixOptions *o, const char *ltype)
{
	GlmixFlatWork *f = t->flat;

	f->h = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_hscore", MyProcPid)));
	glmix_work_colocated(f->h, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, "
										"hscore float8[]", ltype),
						 "", o->impressions, "learner_id");
	if (SPI_execute(psprintf("INSERT INTO %s (learner_id, block_no) SELECT learner_id, block_no FROM %s "
							 "WHERE rblock IS NOT NULL", f->h, f->w), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create the %s scores", t->co[f->hk].re->column);
	f->hjoin = psprintf(" LEFT JOIN %s h ON h.learner_id = w.learner_id AND h.block_no = w.block_no", f->h);
}

/*
 * The keys' rows counted (those under min_rows get no model), the plans.
 * The statistics' offsets: x.beta + z.lexpr + cexpr (the other scores).
 */
void
glmix_flat_channel_stage(GlmixTraining *t, const GlmixOptions *o, const char *lexpr,
						 const char *ljoin, const char *cexpr, const char *cjoin)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[f->hk];
	GlmixRandom *re = c->re;
	int			d = re->dim;

	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * d, 1));
	f->hseen = palloc0(sizeof(bool) * Max((Size) re->nent * d, 1));
	glmix_flat_keyed_rows(c, o, psprintf("SELECT u.k, count(*) FROM %s w, unnest(w.keys) u(k) "
										 "WHERE w.rblock IS NOT NULL AND u.k >= 0 GROUP BY u.k", f->w));

	f->hstats = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_channel_stats(w.rblock, "
											"recs._glmix_flat_scores(w.fblock, $1, coalesce("
											"recs._glmix_flat_scores(w.rblock, %s, %s), %s)), w.keys, $2, $3) "
											"FROM %s w%s%s WHERE w.rblock IS NOT NULL",
											lexpr, cexpr, cexpr, f->w, ljoin, cjoin),
								   3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	f->hscore = SPI_prepare_cursor(psprintf("UPDATE %s h SET hscore = recs._glmix_flat_channel_scores(w.rblock, "
											"w.keys, $1, $2) FROM %s w WHERE h.learner_id = w.learner_id "
											"AND h.block_no = w.block_no", f->h, f->w),
								   2, (Oid[]) {FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	if (f->hstats == NULL || f->hscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/*
 * One visit: Newton per key (glmix_flat_keyed.c, the segment's); H's scores
 * updated after.  Returns the aggregate passes.
 */
int
glmix_flat_channel_fit(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[f->hk];
	GlmixRandom *re = c->re;
	int			passes = glmix_flat_keyed_fit(t, c, f->hstats, c->coef, re->dim, 0, f->hseen);
	Datum		values[2];

	/* the rows' scores beside the blocks, for the other coordinates' offsets */
	values[0] = PointerGetDatum(glmix_float8_array(c->coef, re->nent * re->dim));
	values[1] = Int32GetDatum(re->nent);
	if (SPI_execute_plan(f->hscore, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write the %s effect's scores", re->column);
	pfree(DatumGetPointer(values[0]));
	return passes;
}

/*
 * The validation rows' channel scores, from the coefficients held here:
 * each row's value among the training's (a value the training has not
 * seen, or NULL: 0), as glmix_data.c's row_entities
 */
void
glmix_flat_channel_valid_scores(const GlmixTraining *t, double *out)
{
	const GlmixRows *v = t->vrows;
	int			k = t->flat->hk;
	const GlmixCoordinate *c = &t->co[k];
	int		   *map = palloc(sizeof(int) * Max(v->ctx_nvalues[k], 1));
	int		   *ent = palloc(sizeof(int) * Max(v->n, 1));

	if (v->ctx[k] == NULL)
		elog(ERROR, "the validation rows lack column %s", c->re->column);
	for (int j = 0; j < v->ctx_nvalues[k]; j++)
	{
		char	  **hit = bsearch(&v->ctx_values[k][j], c->re->keys, c->re->nent, sizeof(char *), key_cmp);

		map[j] = hit ? (int) (hit - c->re->keys) : -1;
	}
	for (int64 r = 0; r < v->n; r++)
		ent[r] = v->ctx[k][r] >= 0 ? map[v->ctx[k][r]] : -1;
	glmix_random_scores(c->re, t->courses, v->ci, ent, v->n, c->coef, out);
	pfree(map);
	pfree(ent);
}

void
glmix_flat_channel_drop(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;

	if (f->hstats)
		SPI_freeplan(f->hstats);
	if (f->hscore)
		SPI_freeplan(f->hscore);
	SPI_execute(psprintf("DROP TABLE %s", f->h), false, 0);
}
