/*
 * glmix_flat_cap.c -- max_rows for a course-side effect (per course or
 * per course attribute) of a flat Citus training: the sample one node
 * draws, drawn on the workers once at staging
 *
 * One node draws each capped key's sample from the key's own stream over
 * its rows in a canonical order (glmix_sample.c).  A course's rows are
 * scattered over the shards, so (glmix_agg_flat_cap.c runs in the tasks):
 *
 *   1. INSERT INTO P SELECT ... FROM W, LATERAL recs._glmix_flat_cap_rows:
 *      the rows of capped keys only, as (key, learner, block, row, course,
 *      label, weight), into P distributed by key (worker to worker);
 *   2. INSERT INTO Q SELECT ... FROM (SELECT key, array_agg(...) FROM P
 *      GROUP BY key) g, LATERAL recs._glmix_flat_cap_sample(...): each key's
 *      sample, grouped where its rows are, its (learner, block, row,
 *      scaled weight) into Q distributed by learner (back beside W);
 *   3. INSERT INTO M SELECT ... recs._glmix_flat_cap_weights(...) FROM W
 *      LEFT JOIN Q's rows per block: each block's course-effect weights
 *      (a capped key's row its sampled weight or 0, every other row its
 *      own), co-located with W.
 *
 * P and Q are dropped; each visit the course rows' statement hands
 * recs._glmix_flat_course_rows the block reweighted by M
 * (recs._glmix_flat_reweight).  An unsampled row stays in the key's rows
 * at weight 0, which adds exactly nothing to its Newton fit.  What moves is
 * the capped keys' rows once (about 60 bytes a row) and their samples back.
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

/* an unlogged work table distributed by key (as glmix_flat_course.c's) */
static void
create_by_key(const char *name, const char *columns, int shards)
{
	if (SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s) USING heap WITH (autovacuum_enabled = false)",
							 name, columns), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table %s", name);
	if (SPI_execute(psprintf("SELECT pg_catalog.create_distributed_table(%s::regclass, 'key', "
							 "colocate_with => 'none', shard_count => %d)", quote_literal_cstr(name), shards),
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
}

void
glmix_flat_cap_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *f)
{
	GlmixFlatWork *fw = t->flat;
	GlmixCoordinate *c = &t->co[f->co];
	char	   *ltype = format_type_be(get_atttype(o->impressions, get_attnum(o->impressions,
																			  o->ro.learner_column)));
	GlmixRandom *re = c->re;
	bool	   *capped = palloc0(sizeof(bool) * Max(re->nent, 1));
	int			ncapped = 0;
	Datum	   *ids = palloc(sizeof(Datum) * Max(Max(t->courses->n, re->nent), 1));
	Datum	   *keys = palloc(sizeof(Datum) * Max(Max(t->courses->n, re->nent), 1));
	int			n = 0;
	Datum		values[3] = {0};
	char		nulls[3] = {' ', ' ', ' '};
	char	   *p,
			   *q;

	/* the keys with a model and more than max_rows rows */
	for (int m = 0; m < f->nk; m++)
		if (f->ccnt[f->cent[m]] > o->max_rows)
		{
			capped[f->cent[m]] = true;
			ncapped++;
		}
	if (ncapped == 0)
		return;

	/* their map from course ids (ascending) to keys */
	if (re->by_id)
	{
		for (int m = 0; m < f->nk; m++)
			if (capped[f->cent[m]])
			{
				ids[n] = Int64GetDatum(f->cids[m]);
				keys[n++] = Int64GetDatum(f->cids[m]);
			}
	}
	else
		for (int i = 0; i < t->courses->n; i++)
			if (re->side_entity[i] >= 0 && capped[re->side_entity[i]])
			{
				ids[n] = Int64GetDatum(t->courses->ids[i]);
				keys[n++] = Int64GetDatum((int64) re->side_entity[i]);
			}
	values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array(keys, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));

	/* named by the effect's coordinate: a model may cap several course-side effects */
	p = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_cap_rows_%d", MyProcPid, f->co)));
	q = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_cap_sample_%d", MyProcPid, f->co)));
	f->m = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_cap_weights_%d", MyProcPid, f->co)));
	create_by_key(p, "key bigint NOT NULL, learner_id bigint NOT NULL, block_no integer NOT NULL, "
				  "rn integer NOT NULL, course bigint NOT NULL, y float8 NOT NULL, w float8 NOT NULL",
				  t->citus_shards);
	glmix_work_colocated(q, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, rn integer NOT NULL, "
									 "cw float8 NOT NULL", ltype), "", o->impressions, "learner_id");
	glmix_work_colocated(f->m, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, cw float8[]", ltype),
						 "", o->impressions, "learner_id");

	/* 1. the capped keys' rows, by key */
	if (SPI_execute_with_args(psprintf("INSERT INTO %s SELECT s.key, w.learner_id::int8, w.block_no, s.rn, "
									   "s.course, s.y, s.w FROM %s w, LATERAL "
									   "recs._glmix_flat_cap_rows(w.fblock, w.courses, $1, $2) s "
									   "WHERE w.fblock IS NOT NULL", p, fw->w),
							  2, (Oid[]) {INT8ARRAYOID, INT8ARRAYOID}, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not repartition the capped keys' rows");
	CHECK_FOR_INTERRUPTS();

	/* 2. each key's sample where its rows are, back beside the blocks */
	if (re->by_id)
		nulls[2] = 'n';
	else
	{
		Datum	   *kt = palloc(sizeof(Datum) * Max(re->nent, 1));

		for (int e = 0; e < re->nent; e++)
			kt[e] = CStringGetTextDatum(re->keys[e]);
		values[2] = PointerGetDatum(construct_array(kt, re->nent, TEXTOID, -1, false, TYPALIGN_INT));
	}
	if (SPI_execute_with_args(psprintf("INSERT INTO %s SELECT g.l[x.pos], g.b[x.pos], g.r[x.pos], x.weight FROM "
									   "(SELECT key, array_agg(learner_id) AS l, array_agg(block_no) AS b, "
									   "array_agg(rn) AS r, array_agg(course) AS c, array_agg(y) AS y, "
									   "array_agg(w) AS w FROM %s GROUP BY key) g, "
									   "LATERAL recs._glmix_flat_cap_sample(%s, g.l, g.c, g.y, g.w, %d, "
									   INT64_FORMAT ", %d) x",
									   q, p, re->by_id ? "g.key::text" : "($3::text[])[g.key + 1]",
									   o->max_rows, o->seed, f->co),
							  3, (Oid[]) {INT8ARRAYOID, INT8ARRAYOID, TEXTARRAYOID}, values, nulls,
							  false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not draw the capped keys' samples");
	CHECK_FOR_INTERRUPTS();

	/* 3. each block's course-effect weights */
	if (SPI_execute_with_args(psprintf("INSERT INTO %s SELECT w.learner_id, w.block_no, "
									   "recs._glmix_flat_cap_weights(w.fblock, w.courses, $1, $2, q.r, q.cw) "
									   "FROM %s w LEFT JOIN (SELECT learner_id, block_no, array_agg(rn) AS r, "
									   "array_agg(cw) AS cw FROM %s GROUP BY learner_id, block_no) q "
									   "ON q.learner_id = w.learner_id AND q.block_no = w.block_no "
									   "WHERE w.fblock IS NOT NULL", f->m, fw->w, q),
							  2, (Oid[]) {INT8ARRAYOID, INT8ARRAYOID}, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write the course effect's weights");
	SPI_execute(psprintf("DROP TABLE %s, %s", p, q), false, 0);
	ereport(DEBUG1,
			(errmsg("train_glmix (flat): %d of %d course-side keys capped at %d rows, sampled on the workers",
					ncapped, f->nk, o->max_rows)));
}

void
glmix_flat_cap_drop(GlmixFlatCourse *f)
{
	if (f->m)
		SPI_execute(psprintf("DROP TABLE %s", f->m), false, 0);
}
