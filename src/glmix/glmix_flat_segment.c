/*
 * glmix_flat_segment.c -- a random effect keyed by a learner attribute (a
 * segment: a per-segment model over the course's z(c)) on the flat Citus
 * path, by per-entity sufficient statistics
 *
 * A segment has few entities and rows on every shard.  Each learner's key
 * (its value's index among the attribute's values, read as on one node)
 * goes to a relation co-located with the blocks, G (learner_id, key,
 * scoef: the key's coefficients, updated after each visit).  The learner
 * effect's blocks carry z(c) for every kept row when the model has such an
 * effect (the encoding's min_rows is 0 then; the learner effect's own
 * min_rows is the coefficient relation's rows).  A visit is Newton per
 * entity on the coordinator (glmix_flat_keyed.c, shared with a channel):
 * each pass, one statement, sums per key the loss, gradient, packed Hessian
 * and column counts at the coefficients given
 * (recs._glmix_flat_entity_stats, pushed down as a partial aggregate), with
 * offsets x.beta + z.coef_l + the course scores computed in the tasks.
 * Here: G, the rows counted, the statement, the coefficients written back
 * after a visit (in the blocks' columns, bdim, and the coordinate's).  The
 * segment's score z.scoef enters the other coordinates' offsets through the
 * course scores' argument (glmix_flat.c) and the course rows' learner
 * coefficients (recs._glmix_flat_add).  A model may have several such
 * effects (GlmixFlatSeg each, its own G): each one's statistics take the
 * learner coefficients plus the other segments' on the twin block, as all
 * of them share the design z(c).
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "glmix.h"
#include "glmix_flat.h"

/* learners a batch for G */
#define SEG_PUT_BATCH 4096

static void
put_keys(const GlmixTraining *t, const GlmixFlatSeg *sf, const GlmixRandom *re, const char *ltype)
{
	const GlmixSide *s = t->learners;
	SPIPlanPtr	plan = SPI_prepare(psprintf("INSERT INTO %s (learner_id, key) SELECT u.id::%s, u.k "
											"FROM unnest($1::int8[], $2::int4[]) u(id, k)", sf->g, ltype),
								   2, (Oid[]) {INT8ARRAYOID, INT4ARRAYOID});

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int lo = 0; lo < s->n; lo += SEG_PUT_BATCH)
	{
		int			hi = Min(s->n, lo + SEG_PUT_BATCH);
		Datum	   *ids = palloc(sizeof(Datum) * (hi - lo));
		Datum	   *keys = palloc(sizeof(Datum) * (hi - lo));
		int			n = 0;
		Datum		values[2];

		CHECK_FOR_INTERRUPTS();
		for (int i = lo; i < hi; i++)
			if (re->side_entity[i] >= 0)
			{
				ids[n] = Int64GetDatum(s->ids[i]);
				keys[n++] = Int32GetDatum(re->side_entity[i]);
			}
		if (n > 0)
		{
			values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			values[1] = PointerGetDatum(construct_array(keys, n, INT4OID, 4, true, TYPALIGN_INT));
			if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not write the learners' keys");
		}
		pfree(ids);
		pfree(keys);
	}
	SPI_freeplan(plan);
}

/*
 * After the blocks: G (created by glmix_flat.c) filled, the entities' rows
 * counted (those under min_rows get no model), the plans.  cexpr is the
 * course scores' expression (NULL::float8[] without a course effect), cjoin
 * its join and the other segments' relations'; lcoef the learner
 * coefficients plus the other segments' ("c.coef" without others).
 */
void
glmix_flat_segment_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatSeg *sf, const char *ltype,
						 const char *cexpr, const char *cjoin, const char *lcoef)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[sf->co];
	GlmixRandom *re = c->re;
	int			d;

	/* the blocks' z(c) has the intercept column when any learner-side effect has one */
	sf->shift = 0;
	for (int k = 0; k < t->nre; k++)
		if (t->co[k].re->learner_side && t->co[k].re->intercept && !re->intercept)
			sf->shift = 1;
	sf->bdim = d = re->dim + sf->shift;
	put_keys(t, sf, re, ltype);
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	sf->bcoef = sf->shift == 0 ? c->coef : palloc0(sizeof(double) * Max((Size) re->nent * d, 1));
	sf->seen = palloc0(sizeof(bool) * Max((Size) re->nent * d, 1));
	glmix_flat_keyed_rows(c, o, psprintf("SELECT g.key, sum(w.rows)::int8 FROM %s w JOIN %s g "
										 "ON g.learner_id = w.learner_id WHERE w.rblock IS NOT NULL "
										 "GROUP BY g.key", f->w, sf->g));

	/* the statistics at the keys' coefficients; offsets x.beta + z.coef_l + course scores */
	sf->sstats = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_entity_stats(w.rblock, "
											 "recs._glmix_flat_scores(w.fblock, $1, coalesce("
											 "recs._glmix_flat_scores(w.rblock, %s, %s), %s)), %s.key, $2, $3) "
											 "FROM %s w JOIN %s %s ON %s.learner_id = w.learner_id "
											 "LEFT JOIN %s c ON c.learner_id = w.learner_id%s "
											 "WHERE w.rblock IS NOT NULL",
											 lcoef, cexpr, cexpr, sf->alias, f->w, sf->g, sf->alias, sf->alias,
											 f->c, cjoin),
								   3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	sf->sscore = SPI_prepare_cursor(psprintf("UPDATE %s SET scoef = ($1::float8[])[key * %d + 1 : key * %d + %d]",
											 sf->g, d, d, d),
									1, (Oid[]) {FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	if (sf->sstats == NULL || sf->sscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/*
 * One visit: Newton per key (glmix_flat_keyed.c) in the blocks' columns;
 * G's coefficients updated after.  Returns the aggregate passes.
 */
int
glmix_flat_segment_fit(GlmixTraining *t, GlmixFlatSeg *f)
{
	GlmixCoordinate *c = &t->co[f->co];
	GlmixRandom *re = c->re;
	int			d = f->bdim,
				E = re->nent;
	int			passes = glmix_flat_keyed_fit(t, c, f->sstats, f->bcoef, d, f->shift, f->seen);
	Datum		values[1];

	/* the keys' coefficients beside the learners, for the other coordinates' offsets */
	values[0] = PointerGetDatum(glmix_float8_array(f->bcoef, E * d));
	if (SPI_execute_plan(f->sscore, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write the %s effect's coefficients", re->column);
	pfree(DatumGetPointer(values[0]));
	/* and the coordinate's own, without the blocks' intercept column */
	if (f->shift > 0)
		for (int e = 0; e < E; e++)
			memcpy(c->coef + (Size) e * re->dim, f->bcoef + (Size) e * d + f->shift, sizeof(double) * re->dim);
	return passes;
}

void
glmix_flat_segment_drop(GlmixTraining *t, GlmixFlatSeg *sf)
{
	SPI_freeplan(sf->sstats);
	SPI_freeplan(sf->sscore);
	SPI_execute(psprintf("DROP TABLE %s", sf->g), false, 0);
}
