/*
 * glmix_flat_course.c -- the per-course random effect of a flat Citus
 * training (glmix_flat.c): the rows repartitioned by course, worker to
 * worker, each time the coordinate is visited
 *
 * A course's model is over learner features (z_l = [1 | the learner's
 * features]) and needs all of the course's rows, which the impressions,
 * distributed by learner, scatter over every shard.  Each row has a key:
 * its course id, or for an effect keyed by a course attribute (a per-topic
 * model) the index of its course's value, through a map from course ids to
 * keys sent with the statements.  Each visit:
 *
 *   1. TRUNCATE R; INSERT INTO R (key, block, offsets) SELECT ... FROM the
 *      blocks W JOIN the learner coefficients C and vectors L,
 *      LATERAL recs._glmix_flat_course_rows(...): each block's rows grouped
 *      by key as blocks of z_l with their offsets (x . beta + z . coef_l,
 *      computed in the task).  R is distributed by key, so Citus runs the
 *      SELECT in the shards' tasks and moves the rows worker to worker
 *      ("repartition"): none passes through the coordinator.
 *   2. UPDATE K SET coef = ... FROM (SELECT key,
 *      recs.glmix_entity_fit(block, offsets, start, l2) FROM R JOIN K GROUP BY
 *      key): K, the coefficients, is co-located with R, so the fits (the
 *      single-node entity Newton, warm started from K) and the UPDATE run
 *      in the tasks.
 *   3. K to the coordinator: O(courses x dim), for the store and the penalty.
 *   4. UPDATE S SET cscore = recs._glmix_flat_course_scores(...) FROM W JOIN L:
 *      each block's rows' course scores z_l . coef_c, co-located with W, the
 *      coefficients sent with the statement.  The other coordinates' plans
 *      join S for their offsets.
 *
 * Per visit the rows cross the network once, worker to worker (about the
 * learner's nonzeros times 10 bytes plus 60 a row), and O(courses x dim)
 * comes to the coordinator and goes back to each shard.  Keys with fewer
 * than min_rows rows have no row in K and no model; their rows are moved
 * and left out by the join.
 *
 * A model may have several course-side effects (GlmixFlatCourse each, with
 * its own S, R, K and plans; the first one's relations named as with one):
 * each one's rows take the others' scores into their offsets through the
 * twelve-argument recs._glmix_flat_course_rows, and the other coordinates
 * add all of them (glmix_flat.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "memory_budget.h"
#include "glmix.h"
#include "glmix_flat.h"
#include "timing.h"

/* an unlogged work table distributed by key, co-located with colocate */
static void
create_by_key(const char *name, const char *columns, const char *colocate, int shards)
{
	if (SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s) USING heap WITH (autovacuum_enabled = false)",
							 name, columns), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table %s", name);
	if (SPI_execute(colocate ?
					psprintf("SELECT pg_catalog.create_distributed_table(%s::regclass, 'key', "
							 "colocate_with => %s)", quote_literal_cstr(name), quote_literal_cstr(colocate)) :
					psprintf("SELECT pg_catalog.create_distributed_table(%s::regclass, 'key', "
							 "colocate_with => 'none', shard_count => %d)", quote_literal_cstr(name), shards),
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
}

/* K's coefficients to the coordinator after a fit: each key's into its entity's row */
static void
read_coefficients(GlmixTraining *t, GlmixFlatCourse *f)
{
	GlmixCoordinate *c = &t->co[f->co];
	int			dim = c->re->dim;

	if (SPI_execute(psprintf("SELECT key, coef FROM %s ORDER BY key", f->k), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the course coefficients");
	if ((int) SPI_processed != f->nk)
		elog(ERROR, "the course coefficients hold %d keys, not %d", (int) SPI_processed, f->nk);
	for (int m = 0; m < f->nk; m++)
	{
		HeapTuple	tup = SPI_tuptable->vals[m];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int64		key = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		coef = SPI_getbinval(tup, desc, 2, &isnull);
		int			n;
		const double *v;

		if (f->cids[m] != key)
			elog(ERROR, "the course coefficients changed their keys");
		if (isnull)
			elog(ERROR, "key " INT64_FORMAT " of the course effect has no fit", key);
		v = glmix_float8_data(DatumGetArrayTypeP(coef), &n, "course coefficients");
		if (n != dim)
			elog(ERROR, "key " INT64_FORMAT " has %d coefficients, not %d", key, n, dim);
		memcpy(c->coef + (Size) f->cent[m] * dim, v, sizeof(double) * dim);
		memcpy(f->ccoef + (Size) m * dim, v, sizeof(double) * dim);
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * The effect's entities and their rows: each course's rows counted on the
 * shards (O(courses) to the coordinator), mapped to keys -- the course id
 * itself, or the index of the course's attribute value -- and the keys with
 * at least min_rows rows put in K
 */
static void
count_keys(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *f)
{
	GlmixCoordinate *c = &t->co[f->co];
	GlmixRandom *re = c->re;
	int64	   *cnt = NULL;
	Datum	   *kd,
			   *rd;
	Datum		values[2];

	if (SPI_execute(psprintf("SELECT u.c, count(*) FROM %s w, unnest(w.courses) u(c) GROUP BY u.c ORDER BY u.c",
							 t->flat->w), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the courses' rows");
	if (re->by_id)
	{
		/* the entities: every course with rows, ascending (as glmix_data.c) */
		re->nent = (int) SPI_processed;
		re->keys = palloc(sizeof(char *) * Max(re->nent, 1));
		f->cids_of_entity = palloc(sizeof(int64) * Max(re->nent, 1));
	}
	recs_check_memory(4.0 * 8.0 * ((double) re->nent * re->dim + re->nent),
					  "train_glmix (course coefficients)");
	cnt = palloc0(sizeof(int64) * Max(re->nent, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		int			e;

		if (re->by_id)
		{
			e = (int) i;
			re->keys[e] = psprintf(INT64_FORMAT, id);
			f->cids_of_entity[e] = id;
		}
		else
		{
			int			ci = glmix_side_index(t->courses, id);

			e = ci >= 0 ? re->side_entity[ci] : -1;
		}
		if (e >= 0)
			cnt[e] += n;
	}
	SPI_freetuptable(SPI_tuptable);

	/* the keys with a model, ascending */
	c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	f->cids = palloc(sizeof(int64) * Max(re->nent, 1));
	f->cent = palloc(sizeof(int) * Max(re->nent, 1));
	kd = palloc(sizeof(Datum) * Max(re->nent, 1));
	rd = palloc(sizeof(Datum) * Max(re->nent, 1));
	f->nk = 0;
	for (int e = 0; e < re->nent; e++)
	{
		if (cnt[e] < o->min_rows || cnt[e] == 0)
			continue;
		/* its active rows: at most max_rows, the sample's (glmix_flat_cap.c) */
		c->rows[e] = (int) (o->max_rows > 0 ? Min(cnt[e], o->max_rows) : cnt[e]);
		f->cids[f->nk] = re->by_id ? f->cids_of_entity[e] : e;
		f->cent[f->nk] = e;
		kd[f->nk] = Int64GetDatum(f->cids[f->nk]);
		rd[f->nk] = Int32GetDatum(c->rows[e]);
		f->nk++;
	}
	c->nmodels = f->nk;
	f->ccnt = cnt;
	f->ccoef = palloc0(sizeof(double) * Max((Size) f->nk * re->dim, 1));
	values[0] = PointerGetDatum(construct_array(kd, f->nk, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(rd, f->nk, INT4OID, 4, true, TYPALIGN_INT));
	if (SPI_execute_with_args(psprintf("INSERT INTO %s (key, rows) SELECT * FROM unnest($1::int8[], $2::int4[])",
									   f->k), 2, (Oid[]) {INT8ARRAYOID, INT4ARRAYOID}, values, NULL,
							  false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create the course coefficients");

	/* an attribute's map from course ids to keys (the parameters of the statements) */
	if (!re->by_id)
	{
		Datum	   *id = palloc(sizeof(Datum) * Max(t->courses->n, 1));
		Datum	   *key = palloc(sizeof(Datum) * Max(t->courses->n, 1));
		int			n = 0;

		for (int i = 0; i < t->courses->n; i++)
			if (re->side_entity[i] >= 0)
			{
				id[n] = Int64GetDatum(t->courses->ids[i]);
				key[n++] = Int64GetDatum((int64) re->side_entity[i]);
			}
		f->map_ids = PointerGetDatum(construct_array(id, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		f->map_keys = PointerGetDatum(construct_array(key, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
}

/*
 * The names of the nth course-side effect's relations (the first one's those
 * of a model with one, the next ones' with a suffix) and its scores' S,
 * before any is staged: each one's statements join the others' scores
 */
void
glmix_flat_course_create(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *cf, int nth)
{
	char	   *sfx = nth == 0 ? "" : psprintf("_%d", nth + 1);
	char	   *ltype = format_type_be(get_atttype(o->impressions, get_attnum(o->impressions,
																			  o->ro.learner_column)));

	cf->s = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_cscore%s", MyProcPid, sfx)));
	cf->r = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_crows%s", MyProcPid, sfx)));
	cf->k = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_ccoef%s", MyProcPid, sfx)));
	glmix_work_colocated(cf->s, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, "
										 "cscore float8[]", ltype),
						 "", o->impressions, "learner_id");
	if (SPI_execute(psprintf("INSERT INTO %s (learner_id, block_no) SELECT learner_id, block_no FROM %s "
							 "WHERE fblock IS NOT NULL", cf->s, t->flat->w), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create the course scores");
}

/*
 * After the blocks are built: the relations (S beside the blocks, R and K
 * by key), the keys with a model and their row counts, the plans.  others
 * (NULL: none) is the other course-side effects' scores, joined by ojoin:
 * they enter this effect's rows' offsets.  Its relations are named and
 * its scores' S made already (glmix_flat_course_create).
 */
void
glmix_flat_course_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *cf,
						const char *others, const char *ojoin)
{
	GlmixFlatWork *f = t->flat;
	GlmixRandom *re = t->co[cf->co].re;

	/*
	 * The rows go worker to worker only by Citus's repartition; with it off
	 * (a user's setting) Citus would pull them through the coordinator.  On
	 * for the training (train_glmix's GUC nest level restores it).
	 */
	(void) set_config_option("citus.enable_repartitioned_insert_select", "on", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	create_by_key(cf->r, "key bigint NOT NULL, block bytea NOT NULL, offsets float8[] NOT NULL",
				  NULL, t->citus_shards);
	create_by_key(cf->k, "key bigint NOT NULL, rows integer NOT NULL, coef float8[]", cf->r, 0);
	count_keys(t, o, cf);
	/* max_rows: the capped keys' samples, each block's weights for the effect's rows */
	if (o->max_rows > 0)
		glmix_flat_cap_stage(t, o, cf);

	/*
	 * each visit: the rows by key (repartitioned), the fits there, the
	 * scores back; the last two parameters are the attribute's map (NULL:
	 * keyed by the course id).  The other course-side effects' scores enter
	 * the offsets as the rows' scores argument of the overload of twelve.
	 */
	cf->crows = SPI_prepare_cursor(psprintf("INSERT INTO %s (key, block, offsets) "
											"SELECT s.key, s.block, s.offsets FROM %s w "
											"LEFT JOIN %s c ON c.learner_id = w.learner_id%s%s "
											"LEFT JOIN %s v ON v.learner_id = w.learner_id%s, "
											"LATERAL recs._glmix_flat_course_rows(%s, w.rblock, %s, $1, "
											"w.courses, v.col, v.val, %d, %s, $2, $3%s) s WHERE w.fblock IS NOT NULL",
											cf->r, f->w, f->c, f->gjoin, others ? ojoin : "", f->l,
											cf->m ? psprintf(" LEFT JOIN %s m ON m.learner_id = w.learner_id "
															 "AND m.block_no = w.block_no", cf->m) : "",
											cf->m ? "recs._glmix_flat_reweight(w.fblock, m.cw)" : "w.fblock",
											f->lcoef, re->dim, re->intercept ? "true" : "false",
											others ? psprintf(", %s", others) : ""),
								  3, (Oid[]) {FLOAT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	cf->cfit = SPI_prepare_cursor(psprintf("UPDATE %s k SET coef = f.coef FROM "
										   "(SELECT r.key AS c, recs.glmix_entity_fit(r.block, r.offsets, "
										   "s.coef, $1) AS coef FROM %s r JOIN %s s ON s.key = r.key "
										   "GROUP BY r.key) f WHERE k.key = f.c", cf->k, cf->r, cf->k),
								 1, (Oid[]) {FLOAT8OID}, CURSOR_OPT_CUSTOM_PLAN);
	cf->cscore = SPI_prepare_cursor(psprintf("UPDATE %s s SET cscore = recs._glmix_flat_course_scores(w.courses, "
											 "v.col, v.val, $1, $2, %d, %s, $3, $4) FROM %s w LEFT JOIN %s v "
											 "ON v.learner_id = w.learner_id WHERE s.learner_id = w.learner_id "
											 "AND s.block_no = w.block_no", cf->s, re->dim,
											 re->intercept ? "true" : "false", f->w, f->l),
								   4, (Oid[]) {INT8ARRAYOID, FLOAT8ARRAYOID, INT8ARRAYOID, INT8ARRAYOID},
								   CURSOR_OPT_CUSTOM_PLAN);
	if (cf->crows == NULL || cf->cfit == NULL || cf->cscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* one visit of the course coordinate */
void
glmix_flat_course_fit(GlmixTraining *tr, GlmixFlatCourse *f)
{
	GlmixCoordinate *c = &tr->co[f->co];
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	Datum	   *ids;
	double		t[4];

	t[0] = recs_clock_seconds();
	if (SPI_execute(psprintf("TRUNCATE %s", f->r), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not empty the course rows");
	values[0] = PointerGetDatum(glmix_float8_array(tr->beta, tr->lay.dim));
	values[1] = f->map_ids;
	values[2] = f->map_keys;
	nulls[1] = nulls[2] = f->map_ids == (Datum) 0 ? 'n' : ' ';
	if (SPI_execute_plan(f->crows, values, nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not repartition the rows by course");
	pfree(DatumGetPointer(values[0]));
	CHECK_FOR_INTERRUPTS();
	t[1] = recs_clock_seconds();
	values[0] = Float8GetDatum(c->re->l2);
	if (SPI_execute_plan(f->cfit, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "the course effect's fit failed");
	CHECK_FOR_INTERRUPTS();
	t[2] = recs_clock_seconds();
	read_coefficients(tr, f);
	ids = palloc(sizeof(Datum) * Max(f->nk, 1));
	for (int m = 0; m < f->nk; m++)
		ids[m] = Int64GetDatum(f->cids[m]);
	values[0] = PointerGetDatum(construct_array(ids, f->nk, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(glmix_float8_array(f->ccoef, f->nk * c->re->dim));
	values[2] = f->map_ids;
	values[3] = f->map_keys;
	nulls[0] = nulls[1] = ' ';
	nulls[2] = nulls[3] = f->map_ids == (Datum) 0 ? 'n' : ' ';
	if (SPI_execute_plan(f->cscore, values, nulls, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not update the course scores");
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	pfree(ids);
	t[3] = recs_clock_seconds();
	ereport(DEBUG1,
			(errmsg("train_glmix (flat) course effect: rows repartitioned in %.3f s, fitted in %.3f s, "
					"scores written back in %.3f s", t[1] - t[0], t[2] - t[1], t[3] - t[2])));
}

void
glmix_flat_course_drop(GlmixTraining *t, GlmixFlatCourse *f)
{
	SPI_freeplan(f->crows);
	SPI_freeplan(f->cfit);
	SPI_freeplan(f->cscore);
	SPI_execute(psprintf("DROP TABLE %s, %s, %s", f->s, f->k, f->r), false, 0);
	glmix_flat_cap_drop(f);
}
