/*
 * glmix_flat_course.c -- the per-course random effect of a flat Citus
 * training (glmix_flat.c): the rows repartitioned by course, worker to
 * worker, each time the coordinate is visited
 *
 * A course's model is over learner features (z_l = [1 | the learner's
 * features]) and needs all of the course's rows, which the impressions,
 * distributed by learner, scatter over every shard.  Each visit:
 *
 *   1. TRUNCATE R; INSERT INTO R (course_id, block, offsets) SELECT ... FROM
 *      the blocks W JOIN the learner coefficients C and vectors L,
 *      LATERAL recs._glmix_flat_course_rows(...): each block's rows grouped
 *      by course as blocks of z_l with their offsets (x . beta + z . coef_l,
 *      computed in the task).  R is distributed by course_id, so Citus
 *      runs the SELECT in the shards' tasks and moves the rows worker to
 *      worker ("repartition"): none passes through the coordinator.
 *   2. UPDATE K SET coef = ... FROM (SELECT course_id,
 *      recs.glmix_entity_fit(block, offsets, start, l2) FROM R JOIN K GROUP BY
 *      course_id): K, the course coefficients, is co-located with R, so the
 *      fits (the single-node entity Newton, warm started from K) and the
 *      UPDATE run in the tasks.
 *   3. K to the coordinator: O(courses x dim), for the store and the penalty.
 *   4. UPDATE S SET cscore = recs._glmix_flat_course_scores(...) FROM W JOIN L:
 *      each block's rows' course scores z_l . coef_c, co-located with W, the
 *      coefficients sent with the statement.  The other coordinates' plans
 *      join S for their offsets.
 *
 * Per visit the rows cross the network once, worker to worker (about the
 * learner's nonzeros times 10 bytes plus 60 a row), and O(courses x dim)
 * comes to the coordinator and goes back to each shard.  Courses with
 * fewer than min_rows rows have no row in K and no model; their rows are
 * moved and left out by the join.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "memory_budget.h"
#include "glmix.h"
#include "glmix_flat.h"
#include "timing.h"

/* an unlogged work table distributed by course_id, co-located with colocate */
static void
create_by_course(const char *name, const char *columns, const char *colocate, int shards)
{
	if (SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s) USING heap WITH (autovacuum_enabled = false)",
							 name, columns), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table %s", name);
	if (SPI_execute(colocate ?
					psprintf("SELECT pg_catalog.create_distributed_table(%s::regclass, 'course_id', "
							 "colocate_with => %s)", quote_literal_cstr(name), quote_literal_cstr(colocate)) :
					psprintf("SELECT pg_catalog.create_distributed_table(%s::regclass, 'course_id', "
							 "colocate_with => 'none', shard_count => %d)", quote_literal_cstr(name), shards),
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
}

/*
 * K to the coordinator, ascending: at the stage the entities (ids, rows),
 * after a fit their coefficients
 */
static void
read_courses(GlmixTraining *t, bool stage)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[f->ck];
	GlmixRandom *re = c->re;

	if (SPI_execute(psprintf("SELECT course_id, rows, coef FROM %s ORDER BY course_id", f->k),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the course coefficients");
	if (stage)
	{
		re->nent = (int) SPI_processed;
		/* the coefficients and ids here, twice over for the parameter's copy */
		recs_check_memory(3.0 * 8.0 * (re->nent * (double) re->dim + re->nent),
						  "train_glmix (course coefficients)");
		re->keys = palloc(sizeof(char *) * Max(re->nent, 1));
		c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
		c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
		f->cids = palloc(sizeof(int64) * Max(re->nent, 1));
		c->nmodels = re->nent;
	}
	else if ((int) SPI_processed != re->nent)
		elog(ERROR, "the course coefficients hold %d courses, not %d", (int) SPI_processed, re->nent);
	for (int e = 0; e < re->nent; e++)
	{
		HeapTuple	tup = SPI_tuptable->vals[e];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		coef;

		if (stage)
		{
			f->cids[e] = id;
			re->keys[e] = psprintf(INT64_FORMAT, id);
			c->rows[e] = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			continue;
		}
		if (f->cids[e] != id)
			elog(ERROR, "the course coefficients changed their courses");
		coef = SPI_getbinval(tup, desc, 3, &isnull);
		if (isnull)
			elog(ERROR, "course " INT64_FORMAT " has no fit", id);
		{
			int			n;
			const double *v = glmix_float8_data(DatumGetArrayTypeP(coef), &n, "course coefficients");

			if (n != re->dim)
				elog(ERROR, "course " INT64_FORMAT " has %d coefficients, not %d", id, n, re->dim);
			memcpy(c->coef + (Size) e * re->dim, v, sizeof(double) * re->dim);
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * After the blocks are built: the relations (S beside the blocks, R and K
 * by course), the courses with a model and their row counts (K, from the
 * blocks' course ids: O(courses) to the coordinator), the plans
 */
void
glmix_flat_course_stage(GlmixTraining *t, const GlmixOptions *o)
{
	GlmixFlatWork *f = t->flat;
	GlmixRandom *re = t->co[f->ck].re;
	char	   *ltype = format_type_be(get_atttype(o->impressions, get_attnum(o->impressions,
																			  o->ro.learner_column)));
	Datum		values[1];

	f->s = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_cscore", MyProcPid)));
	f->r = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_crows", MyProcPid)));
	f->k = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_ccoef", MyProcPid)));
	glmix_flat_create_colocated(f->s, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, "
											   "cscore float8[]", ltype),
								"", o->impressions, "learner_id");
	create_by_course(f->r, "course_id bigint NOT NULL, block bytea NOT NULL, offsets float8[] NOT NULL",
					 NULL, t->citus_shards);
	create_by_course(f->k, "course_id bigint NOT NULL, rows integer NOT NULL, coef float8[]", f->r, 0);

	/* the courses with at least min_rows rows: summed over the shards */
	values[0] = Int32GetDatum(o->min_rows);
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (course_id, rows) SELECT u.c, count(*) "
									   "FROM %s w, unnest(w.courses) u(c) GROUP BY u.c "
									   "HAVING count(*) >= $1", f->k, f->w),
							  1, (Oid[]) {INT4OID}, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not count the courses' rows");
	if (SPI_execute(psprintf("INSERT INTO %s (learner_id, block_no) SELECT learner_id, block_no FROM %s "
							 "WHERE fblock IS NOT NULL", f->s, f->w), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create the course scores");
	read_courses(t, true);

	/* each visit: the rows by course (repartitioned), the fits there, the scores back */
	f->crows = SPI_prepare_cursor(psprintf("INSERT INTO %s (course_id, block, offsets) "
										   "SELECT s.course_id, s.block, s.offsets FROM %s w "
										   "LEFT JOIN %s c ON c.learner_id = w.learner_id "
										   "LEFT JOIN %s v ON v.learner_id = w.learner_id, "
										   "LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, c.coef, $1, "
										   "w.courses, v.col, v.val, %d, %s) s WHERE w.fblock IS NOT NULL",
										   f->r, f->w, f->c, f->l, re->dim, re->intercept ? "true" : "false"),
								  1, (Oid[]) {FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	f->cfit = SPI_prepare_cursor(psprintf("UPDATE %s k SET coef = f.coef FROM "
										  "(SELECT r.course_id AS c, recs.glmix_entity_fit(r.block, r.offsets, "
										  "s.coef, $1) AS coef FROM %s r JOIN %s s ON s.course_id = r.course_id "
										  "GROUP BY r.course_id) f WHERE k.course_id = f.c", f->k, f->r, f->k),
								 1, (Oid[]) {FLOAT8OID}, CURSOR_OPT_CUSTOM_PLAN);
	f->cscore = SPI_prepare_cursor(psprintf("UPDATE %s s SET cscore = recs._glmix_flat_course_scores(w.courses, "
											"v.col, v.val, $1, $2, %d, %s) FROM %s w LEFT JOIN %s v "
											"ON v.learner_id = w.learner_id WHERE s.learner_id = w.learner_id "
											"AND s.block_no = w.block_no", f->s, re->dim,
											re->intercept ? "true" : "false", f->w, f->l),
								   2, (Oid[]) {INT8ARRAYOID, FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	if (f->crows == NULL || f->cfit == NULL || f->cscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* one visit of the course coordinate */
void
glmix_flat_course_fit(GlmixTraining *tr)
{
	GlmixFlatWork *f = tr->flat;
	GlmixCoordinate *c = &tr->co[f->ck];
	int			n = c->re->nent;
	Datum		values[2];
	Datum	   *ids;
	double		t[4];

	t[0] = recs_clock_seconds();
	if (SPI_execute(psprintf("TRUNCATE %s", f->r), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not empty the course rows");
	values[0] = PointerGetDatum(glmix_float8_array(tr->beta, tr->lay.dim));
	if (SPI_execute_plan(f->crows, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not repartition the rows by course");
	pfree(DatumGetPointer(values[0]));
	CHECK_FOR_INTERRUPTS();
	t[1] = recs_clock_seconds();
	values[0] = Float8GetDatum(c->re->l2);
	if (SPI_execute_plan(f->cfit, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "the course effect's fit failed");
	CHECK_FOR_INTERRUPTS();
	t[2] = recs_clock_seconds();
	read_courses(tr, false);
	ids = palloc(sizeof(Datum) * Max(n, 1));
	for (int e = 0; e < n; e++)
		ids[e] = Int64GetDatum(f->cids[e]);
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(glmix_float8_array(c->coef, n * c->re->dim));
	if (SPI_execute_plan(f->cscore, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the course scores");
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	pfree(ids);
	t[3] = recs_clock_seconds();
	ereport(DEBUG1,
			(errmsg("train_glmix (flat) course effect: rows repartitioned in %.3f s, fitted in %.3f s, "
					"scores written back in %.3f s", t[1] - t[0], t[2] - t[1], t[3] - t[2])));
}

/* the course coefficients' sum of squares, for the objective's penalty */
double
glmix_flat_course_sumsq(const GlmixTraining *t)
{
	const GlmixCoordinate *c = &t->co[t->flat->ck];
	double		s = 0.0;

	for (Size j = 0; j < (Size) c->re->nent * c->re->dim; j++)
		s += c->coef[j] * c->coef[j];
	return s;
}

void
glmix_flat_course_drop(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;

	SPI_freeplan(f->crows);
	SPI_freeplan(f->cfit);
	SPI_freeplan(f->cscore);
	SPI_execute(psprintf("DROP TABLE %s, %s, %s", f->s, f->k, f->r), false, 0);
}
