/*
 * glmix_flat_valid_workers.c -- the validation rows of a flat Citus
 * training scored on the workers
 *
 * When the validation rows live on the workers -- the l2 search's slice of
 * the impressions (the rows from its cutoff on, glmix_flat_l2auto.c), or a
 * validation relation hash-distributed by the learner column and
 * co-located with the impressions -- they are not read here (as
 * glmix_flat_valid.c does for a small, local relation):
 *
 *   stage: one INSERT ... SELECT grouped by the learner column builds their
 *      block pairs in the shards' tasks into a relation V co-located with
 *      the training's (recs._glmix_flat_blocks with no time window, no
 *      weights, every learner's z(c) block: min_rows 0); their counts come
 *      back as sums;
 *   after each pass: one statement scores every row in the tasks
 *      (recs._glmix_flat_valid_rows: x . beta, z . the learner's and its
 *      segments' coefficients from the co-located relations, each
 *      course-side effect's score from its coefficients sent as parameters)
 *      and groups
 *      them by a bucket of the score (the logit clamped to +-32 in 65536
 *      buckets): per bucket the positives, the negatives, the log-loss sum,
 *      the least and greatest score, summed per shard and merged here (at
 *      most 65536 rows, whatever the number of validation rows).
 *
 * The log-loss is the sum of the buckets' sums over the rows: the
 * single-table figure but for the order of the additions (about 1e-16
 * relative), so the search's choice of l2 is the same.  The AUC needs the
 * ranks of positives among negatives: buckets holding only one label, or
 * one score, rank exactly as a group; the buckets holding both labels and
 * different scores ("mixed") are resolved exactly by a second statement
 * returning their distinct scores with their counts (grouped in the tasks)
 * when they hold at most GLMIX_VALID_EXACT_ROWS rows.  Beyond that, each
 * mixed bucket counts as one tie -- the AUC is then off by at most
 * 0.5 * sum(positives_b * negatives_b) / (positives * negatives) over the
 * mixed buckets, a bound computed from the histogram itself and reported
 * once in a NOTICE.  Ties and their midranks are glmix_auc()'s.
 *
 * A model with a channel effect (glmix_flat_channel.c) keeps its
 * validation rows on the coordinator: their channel scores are per row,
 * which these blocks do not carry.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "citus_util.h"
#include "glmix.h"
#include "glmix_flat.h"
#include "impressions.h"
#include "spi_util.h"
#include "timing.h"

/* rows of the mixed buckets resolved exactly (their distinct scores come here) */
#define GLMIX_VALID_EXACT_ROWS 262144

/* whether two Citus tables are in one co-location group */
static bool
colocated(Oid a, Oid b)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT (SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = $1) = "
							  "(SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = $2)",
							  2, (Oid[]) {OIDOID, OIDOID},
							  (Datum[]) {ObjectIdGetDatum(a), ObjectIdGetDatum(b)}, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the co-location of %s", recs_relation_name(a));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(d);
}

static bool
integer_column(Oid rel, const char *col)
{
	AttrNumber	a = get_attnum(rel, col);
	Oid			t = a == InvalidAttrNumber ? InvalidOid : get_atttype(rel, a);

	return t == INT2OID || t == INT4OID || t == INT8OID;
}

bool
glmix_flat_valid_workers_wanted(GlmixTraining *t, const GlmixOptions *o)
{
	GlmixFlatWork *f = t->flat;
	char	   *dist;

	if (o->l2_cutoff && f->hk < 0)
	{
		f->vrel = o->impressions;
		f->vwhere = psprintf(" WHERE %s >= %s", quote_identifier(o->ro.time_column),
							 quote_literal_cstr(o->l2_cutoff));
	}
	else if (f->hk >= 0)
		return false;
	else if (OidIsValid(o->validation) && recs_citus_hash_shards(o->validation) > 0 &&
			 (dist = recs_citus_distribution_column(o->validation)) != NULL &&
			 strcmp(dist, o->ro.learner_column) == 0 && colocated(o->validation, o->impressions) &&
			 integer_column(o->validation, o->ro.learner_column) &&
			 integer_column(o->validation, o->ro.course_column))
	{
		f->vrel = o->validation;
		f->vwhere = "";
	}
	else
		return false;
	t->vrows = palloc0(sizeof(GlmixRows));
	return true;
}

static int64
sum_int64(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/*
 * The validation rows' blocks, built in the shards' tasks, their counts, and
 * the per-pass plans.  After glmix_flat_stage's relations and plans (the
 * learners' vectors, coefficients and segment keys, the course effect's
 * entities).
 */
void
glmix_flat_valid_workers_stage(GlmixTraining *t, const GlmixOptions *o, const char *ltype)
{
	GlmixFlatWork *f = t->flat;
	GlmixFlatEnc enc;
	GlmixSide	lcols;
	char	   *labels[2] = {"NULL::float8[]", "NULL::float8[]"};
	int			nlabels = 0;
	int			zk = f->zk;
	Datum		values[1];
	ImpressionSet counts;
	const char *vname = OidIsValid(o->validation) ? recs_relation_name(o->validation) : "the validation slice";
	const char *cexpr = NULL;
	const char *from;
	int			nparams = 2 + 4 * f->ncourse;
	Oid		   *types = palloc(sizeof(Oid) * nparams);

	f->v = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_valid", MyProcPid)));
	glmix_work_colocated(f->v, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, fblock bytea, "
										"rblock bytea, rows integer NOT NULL, positives integer NOT NULL, "
										"null_id bigint NOT NULL, null_label bigint NOT NULL, courses bigint[]",
										ltype),
						 psprintf("; ALTER TABLE %s ALTER COLUMN fblock SET STORAGE EXTERNAL, "
								  "ALTER COLUMN rblock SET STORAGE EXTERNAL", f->v),
						 o->impressions, "learner_id");

	/* the training's encoding, without a time window or weights, every z(c) block */
	memset(&enc, 0, sizeof(enc));
	enc.lay = t->lay;
	lcols = *t->learners;
	lcols.n = 0;
	enc.learners = &lcols;
	enc.courses = t->courses;
	enc.learner_effect = zk >= 0;
	enc.re_intercept = zk >= 0 && t->co[zk].re->intercept;
	enc.re_dim = zk >= 0 ? t->co[zk].re->dim : 0;
	enc.course_effect = f->ck >= 0;
	enc.min_rows = 0;
	if (strcmp(o->ro.label, "bookmarked") != 0)
		labels[nlabels++] = psprintf("array_agg(%s)", impressions_label_expression(f->vrel, o->ro.click_column,
																				   "click_column"));
	if (strcmp(o->ro.label, "clicked") != 0)
		labels[nlabels++] = psprintf("array_agg(%s)", impressions_label_expression(f->vrel, o->ro.bookmark_column,
																				   "bookmark_column"));
	enc.nlabels = nlabels;
	enc.has_time = false;
	enc.through = NAN;
	enc.weights = 0;
	values[0] = PointerGetDatum(glmix_flat_encode(&enc));
	if (SPI_execute_with_args(psprintf("INSERT INTO %s SELECT g.l, b.block_no, b.fblock, b.rblock, b.rows, "
									   "b.positives, b.null_id, b.null_label, b.courses FROM "
									   "(SELECT %s AS l, array_agg(%s::int8) AS c, %s AS y1, %s AS y2 "
									   "FROM %s%s GROUP BY %s) g "
									   "LEFT JOIN %s v ON v.learner_id = g.l, "
									   "LATERAL recs._glmix_flat_blocks($1, g.l::int8, v.col, v.val, g.c, g.y1, "
									   "g.y2, NULL, NULL, NULL) b",
									   f->v, quote_identifier(o->ro.learner_column),
									   quote_identifier(o->ro.course_column), labels[0], labels[1],
									   recs_relation_name(f->vrel), f->vwhere,
									   quote_identifier(o->ro.learner_column), f->l),
							  1, (Oid[]) {BYTEAOID}, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not build the validation blocks on the workers");
	pfree(DatumGetPointer(values[0]));

	if (SPI_execute(psprintf("SELECT sum(rows)::int8, sum(positives)::int8, sum(null_id)::int8, "
							 "sum(null_label)::int8 FROM %s", f->v), true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not count the validation blocks");
	t->vrows->n = sum_int64(1);
	t->vrows->n_positive = sum_int64(2);
	memset(&counts, 0, sizeof(counts));
	counts.n = t->vrows->n;
	counts.n_null_id = sum_int64(3);
	counts.n_null_label = sum_int64(4);
	counts.n_read = counts.n + counts.n_null_id + counts.n_null_label;
	SPI_freetuptable(SPI_tuptable);
	impressions_report(&counts, "train_glmix (validation)");
	if (t->vrows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("validation relation %s has no rows", vname),
				 errhint("Pass validation => NULL to train without one.")));
	if (t->vrows->n_positive == 0 || t->vrows->n_positive == t->vrows->n)
		ereport(NOTICE,
				(errmsg("train_glmix: every validation row has the same label"),
				 errdetail("The validation AUC is undefined; it is reported as NaN and stored as null.")));

	/*
	 * The plans: the histogram, and the mixed buckets' distinct scores.  $1
	 * beta, $2 the buckets; each course-side effect's keys, coefficients and
	 * attribute map (four from $3 on, as glmix_flat_course.c's scores), the
	 * effects' scores added
	 */
	types[0] = FLOAT8ARRAYOID;
	types[1] = INT4ARRAYOID;
	for (int i = 0; i < f->ncourse; i++)
	{
		const GlmixRandom *re = t->co[f->course[i].co].re;
		int			p = 3 + 4 * i;
		char	   *ci = psprintf("recs._glmix_flat_course_scores(w.courses, v.col, v.val, $%d, $%d, %d, %s, $%d, $%d)",
								  p, p + 1, re->dim, re->intercept ? "true" : "false", p + 2, p + 3);

		cexpr = cexpr ? psprintf("recs._glmix_flat_add(%s, %s)", cexpr, ci) : ci;
		types[p - 1] = INT8ARRAYOID;
		types[p] = FLOAT8ARRAYOID;
		types[p + 1] = INT8ARRAYOID;
		types[p + 2] = INT8ARRAYOID;
	}
	from = psprintf("FROM %s w LEFT JOIN %s c ON c.learner_id = w.learner_id%s%s, "
					"LATERAL recs._glmix_flat_valid_rows(w.fblock, w.rblock, %s, $1, %s) s",
					f->v, f->c, f->gjoin,
					f->ncourse > 0 ? psprintf(" LEFT JOIN %s v ON v.learner_id = w.learner_id", f->l) : "",
					f->lcoef, cexpr ? cexpr : "NULL::float8[]");
	f->vnparams = nparams;
	f->vbins = SPI_prepare_cursor(psprintf("SELECT s.bucket, (count(*) FILTER (WHERE s.positive))::int8, "
										   "(count(*) FILTER (WHERE NOT s.positive))::int8, sum(s.logloss), "
										   "min(s.score), max(s.score) %s "
										   "GROUP BY s.bucket ORDER BY s.bucket", from),
								  nparams, types, CURSOR_OPT_CUSTOM_PLAN);
	f->vties = SPI_prepare_cursor(psprintf("SELECT s.bucket, s.score, (count(*) FILTER (WHERE s.positive))::int8, "
										   "count(*)::int8 %s WHERE s.bucket = ANY ($2) "
										   "GROUP BY s.bucket, s.score ORDER BY s.score", from),
								  nparams, types, CURSOR_OPT_CUSTOM_PLAN);
	if (f->vbins == NULL || f->vties == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* the plans' parameters: beta (the buckets: NULL) and the course-side effects' coefficients */
static void
valid_params(const GlmixTraining *t, Datum *values, char *nulls)
{
	const GlmixFlatWork *f = t->flat;

	memset(nulls, 'n', f->vnparams);
	values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
	nulls[0] = ' ';
	for (int i = 0; i < f->ncourse; i++)
	{
		const GlmixFlatCourse *cf = &f->course[i];
		int			p = 2 + 4 * i;
		Datum	   *ids = palloc(sizeof(Datum) * Max(cf->nk, 1));

		for (int m = 0; m < cf->nk; m++)
			ids[m] = Int64GetDatum(cf->cids[m]);
		values[p] = PointerGetDatum(construct_array(ids, cf->nk, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		values[p + 1] = PointerGetDatum(glmix_float8_array(cf->ccoef, cf->nk * t->co[cf->co].re->dim));
		values[p + 2] = cf->map_ids;
		values[p + 3] = cf->map_keys;
		nulls[p] = nulls[p + 1] = ' ';
		nulls[p + 2] = nulls[p + 3] = cf->map_ids == (Datum) 0 ? 'n' : ' ';
	}
}

static int64
col_int64(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static double
col_float8(HeapTuple tup, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, col, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* the validation AUC and log-loss after a pass, from the workers' histogram */
void
glmix_flat_valid_workers(GlmixTraining *t, double *auc, double *logloss)
{
	GlmixFlatWork *f = t->flat;
	Datum	   *values = palloc(sizeof(Datum) * f->vnparams);
	char	   *nulls = palloc(f->vnparams);
	SPITupleTable *bins;
	SPITupleTable *ties = NULL;
	uint64		nb,
				nt = 0,
				ti = 0;
	int64		npos = 0,
				nneg = 0,
				mixed_rows = 0,
				below = 0;
	int			nmixed = 0;
	Datum	   *mixed;
	double		llsum = 0.0,
				rank_sum = 0.0,
				bound = 0.0;
	double		t0 = recs_clock_seconds(),
				t1;

	valid_params(t, values, nulls);
	if (SPI_execute_plan(f->vbins, values, nulls, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not score the validation rows on the workers");
	bins = SPI_tuptable;
	nb = SPI_processed;
	t1 = recs_clock_seconds();
	mixed = palloc(sizeof(Datum) * Max(nb, 1));
	for (uint64 i = 0; i < nb; i++)
	{
		HeapTuple	tup = bins->vals[i];
		int64		p = col_int64(tup, bins->tupdesc, 2),
					n = col_int64(tup, bins->tupdesc, 3);

		npos += p;
		nneg += n;
		llsum += col_float8(tup, bins->tupdesc, 4);
		if (p > 0 && n > 0 && col_float8(tup, bins->tupdesc, 5) < col_float8(tup, bins->tupdesc, 6))
		{
			mixed[nmixed++] = SPI_getbinval(tup, bins->tupdesc, 1, &(bool) {false});
			mixed_rows += p + n;
		}
	}
	if (npos + nneg != t->vrows->n)
		elog(ERROR, "scored " INT64_FORMAT " validation rows of " INT64_FORMAT, npos + nneg, t->vrows->n);
	*logloss = npos + nneg > 0 ? llsum / (npos + nneg) : NAN;
	if (npos == 0 || nneg == 0)
	{
		*auc = NAN;
		SPI_freetuptable(bins);
		return;
	}
	/* the mixed buckets' distinct scores, when few enough */
	if (nmixed > 0 && mixed_rows <= GLMIX_VALID_EXACT_ROWS)
	{
		values[1] = PointerGetDatum(construct_array(mixed, nmixed, INT4OID, 4, true, TYPALIGN_INT));
		nulls[1] = ' ';
		if (SPI_execute_plan(f->vties, values, nulls, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the validation scores' ties");
		ties = SPI_tuptable;
		nt = SPI_processed;
	}
	/* glmix_auc()'s rank sum: a group of equal scores shares its ranks' mean */
	for (uint64 i = 0; i < nb; i++)
	{
		HeapTuple	tup = bins->vals[i];
		int32		b = DatumGetInt32(SPI_getbinval(tup, bins->tupdesc, 1, &(bool) {false}));
		int64		p = col_int64(tup, bins->tupdesc, 2),
					n = col_int64(tup, bins->tupdesc, 3);
		bool		mixed_b = p > 0 && n > 0 &&
			col_float8(tup, bins->tupdesc, 5) < col_float8(tup, bins->tupdesc, 6);

		if (mixed_b && ties)
		{
			int64		seen = 0;

			for (; ti < nt && DatumGetInt32(SPI_getbinval(ties->vals[ti], ties->tupdesc, 1,
														  &(bool) {false})) == b; ti++)
			{
				int64		tp = col_int64(ties->vals[ti], ties->tupdesc, 3),
							tc = col_int64(ties->vals[ti], ties->tupdesc, 4);

				rank_sum += (double) tp * (below + 1 + below + tc) / 2.0;
				below += tc;
				seen += tc;
			}
			if (seen != p + n)
				elog(ERROR, "the validation scores' ties hold " INT64_FORMAT " rows of bucket %d's " INT64_FORMAT,
					 seen, b, p + n);
		}
		else
		{
			rank_sum += (double) p * (below + 1 + below + p + n) / 2.0;
			below += p + n;
			if (mixed_b)
				bound += 0.5 * (double) p * (double) n;
		}
	}
	*auc = (rank_sum - (double) npos * (npos + 1) / 2.0) / ((double) npos * nneg);
	ereport(DEBUG1,
			(errmsg("train_glmix (flat) validation: %d buckets in %.3f s, %d mixed (" INT64_FORMAT
					" rows, %d distinct scores) in %.3f s", (int) nb, t1 - t0, nmixed, mixed_rows, (int) nt,
					recs_clock_seconds() - t1)));
	bound /= (double) npos * nneg;
	if (bound > f->vbound)
	{
		f->vbound = bound;
		ereport(NOTICE,
				(errmsg("train_glmix: the validation AUC is within %.2g of the exact one", bound),
				 errdetail("Its " INT64_FORMAT " rows in score buckets holding both labels are more than %d: "
						   "each such bucket counts as a tie.", mixed_rows, GLMIX_VALID_EXACT_ROWS)));
	}
	if (ties)
		SPI_freetuptable(ties);
	SPI_freetuptable(bins);
}

void
glmix_flat_valid_workers_drop(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;

	if (f->vbins)
		SPI_freeplan(f->vbins);
	if (f->vties)
		SPI_freeplan(f->vties);
	if (f->v)
		SPI_execute(psprintf("DROP TABLE %s", f->v), false, 0);
}
