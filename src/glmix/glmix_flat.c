/*
 * glmix_flat.c -- GLMix on a Citus cluster with a flat coordinator: the
 * impressions never come to the coordinator
 *
 * When the impressions are hash-distributed by the learner column and the
 * model is a fixed effect with or without a per-learner effect, any number
 * of per-course or course-attribute effects and any number of
 * learner-attribute effects (the parts of the plan of issue #14 that have
 * landed; see glmix_flat_wanted), the training keeps every per-impression
 * value on the workers:
 *
 *   1. read: the sides (learners, courses: O(learners + courses)) and the
 *      crosses, as on one node; the fixed layout;
 *   2. stage: each learner's feature vector is written once to a relation
 *      L co-located with the impressions; one INSERT ... SELECT, grouped by
 *      the learner column and joined with L, so run whole in each shard's
 *      task, builds every learner's block pairs (recs._glmix_flat_blocks,
 *      glmix_agg_flat.c) into a work relation W co-located too, from the
 *      encoding of the courses and the layout sent as its parameter
 *      (glmix_flat_enc.c); the learners' coefficient relation C, co-located
 *      too, gets a row per learner with a model; the counts come back as
 *      sums;
 *   3. fit: the fixed effect's Newton statistics are one partial aggregate
 *      over W joined with C (recs._glmix_flat_fixed_stats: each task sums its
 *      shard, the offsets z_r . coef_l computed from the twin blocks there),
 *      TRON's each one of recs._glmix_flat_fixed_grad (loss and gradient, or
 *      a Hessian-vector product: O(features) up and down);
 *      the learner effect is one pushed-down UPDATE of C from a GROUP BY
 *      learner aggregate (recs.glmix_entity_fit, its offsets x_r . beta from
 *      recs._glmix_flat_scores); each course-side effect repartitions the
 *      rows by its key each visit and fits them there (glmix_flat_course.c),
 *      its scores kept beside the blocks; each learner attribute's effect is
 *      Newton on the coordinator from per-key sums (glmix_flat_segment.c),
 *      its coefficients beside the learners; every coordinate's offsets are
 *      the others' scores; the objective is a partial aggregate too;
 *   4. store: the learners' coefficients (O(learners)) and, a cursor's batch
 *      at a time, their positive courses for recs.model_learner.
 *
 * What crosses the network per pass is beta (O(features)) down and the
 * shards' sums (O(features^2)) up; per training the encoding down and the
 * learners' coefficients and positive courses up.  The coordinator's
 * memory does not grow with the impressions: it holds the sides, the
 * Hessian and O(learners) coefficients.
 *
 * Match features are computed in the tasks from value maps in the
 * encoding; max_rows caps the learner effect's rows with the sample one
 * node draws (glmix_sample.c), and each course-side effect's with samples
 * drawn on the workers (glmix_flat_cap.c).  (Learner attributes' effects:
 * glmix_flat_segment.c; a channel's, an impressions column:
 * glmix_flat_channel.c.)  l2 => auto searches on the workers too
 * (glmix_l2auto.c, glmix_flat_l2auto.c).  Everything else -- two channels,
 * a learner effect without an intercept beside a learner attribute's with
 * one, max_rows beside a learner attribute's or a channel's effect -- takes
 * the Citus path of glmix_citus.c, whose coordinator still reads the rows.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "citus_util.h"
#include "compat.h"
#include "impressions.h"
#include "memory_budget.h"
#include "spi_util.h"
#include "glmix.h"
#include "glmix_flat.h"
#include "timing.h"
#include "watches.h"

static bool glmix_flat_enabled = true;

void
glmix_flat_define_guc(void)
{
	DefineCustomBoolVariable("recs.glmix_flat",
							 "Train GLMix on Citus with a flat coordinator when the model allows.",
							 "Off: the coordinator reads the impressions (the earlier Citus path).",
							 &glmix_flat_enabled, true, PGC_USERSET, 0, NULL, NULL, NULL);
}

static bool
integer_type(Oid t)
{
	return t == INT2OID || t == INT4OID || t == INT8OID;
}

/*
 * A random-effect column keyed by a course attribute: a column of the
 * courses relation that is not one of the learners' (glmix_data.c looks at
 * the learners first)
 */
static bool
course_attribute(const GlmixOptions *o, const char *col)
{
	return strcmp(col, o->ro.learner_column) != 0 && strcmp(col, o->ro.course_column) != 0 &&
		get_attnum(o->learners, col) <= 0 && get_attnum(o->courses, col) > 0;
}

/* a random-effect column keyed by a learner attribute (looked at first, as glmix_data.c) */
static bool
learner_attribute(const GlmixOptions *o, const char *col)
{
	return strcmp(col, o->ro.learner_column) != 0 && strcmp(col, o->ro.course_column) != 0 &&
		get_attnum(o->learners, col) > 0;
}

/*
 * At most one effect keyed by the learner column, any number keyed by
 * learner attributes, any number keyed by the course column or course
 * attributes and one keyed by a column of the impressions (a channel).  The
 * learner-side effects share one design z(c), the twin block's, with the
 * intercept column when any of them has one: a learner attribute's effect
 * without it holds that column at 0 (glmix_flat_segment.c), but the learner
 * effect's fit (recs.glmix_entity_fit) takes every column, so a learner
 * effect without an intercept rules out attributes with one; a channel's
 * statistics take the twin block as it is, so with a channel every
 * learner-side effect has the channel's intercept.
 */
static bool
flat_effects_supported(const GlmixOptions *o)
{
	int			nl = 0,
				nh = 0,
				il = -1,
				ih = -1;
	bool		si = false,
				sn = false;

	for (int k = 0; k < o->nrecols; k++)
	{
		if (strcmp(o->recols[k], o->ro.learner_column) == 0)
		{
			if (++nl > 1)
				return false;
			il = o->intercept[k + 1] ? 1 : 0;
		}
		else if (learner_attribute(o, o->recols[k]))
		{
			si |= o->intercept[k + 1];
			sn |= !o->intercept[k + 1];
		}
		else if (strcmp(o->recols[k], o->ro.course_column) == 0 || course_attribute(o, o->recols[k]))
			continue;
		else if (glmix_context_column(o, o->recols[k]))
		{
			if (++nh > 1)
				return false;
			ih = o->intercept[k + 1] ? 1 : 0;
		}
		else
			return false;
	}
	if (il == 0 && si)
		return false;
	/* a channel: every learner-side effect with its intercept */
	return nh == 0 || ((il < 0 || il == ih) && !(ih == 1 && sn) && !(ih == 0 && si));
}

/*
 * max_rows: the per-learner cap is drawn in the learner's blocks
 * (glmix_agg_flat.c), a course-side effect's on the workers once
 * (glmix_flat_cap.c); a learner attribute's or a channel's is not drawn
 * there (its keys' rows span learners and feed per-key statistics; one
 * node's sample orders rows by learner, course, label and weight, which do
 * not tell a channel's rows apart)
 */
static bool
flat_max_rows_supported(const GlmixOptions *o)
{
	for (int k = 0; k < o->nrecols; k++)
		if (learner_attribute(o, o->recols[k]) || glmix_context_column(o, o->recols[k]))
			return false;
	return true;
}

bool
glmix_flat_wanted(const GlmixOptions *o, const char **why)
{
	char	   *dist;

	*why = NULL;
	if (recs_citus_hash_shards(o->impressions) == 0)
		return false;
	if (!glmix_flat_enabled)
		*why = "recs.glmix_flat is off";
	else if (o->max_rows > 0 && !flat_max_rows_supported(o))
		*why = "max_rows with a learner attribute's or a channel's effect";
	else if (!flat_effects_supported(o))
		*why = "a random effect not keyed by the learner column, a learner attribute, an impressions column, the course column or a course attribute (or two impressions columns, a learner effect without an intercept beside a learner attribute's with one, or a channel's intercept not every learner-side effect's)";
	else if (!integer_type(get_atttype(o->impressions, get_attnum(o->impressions, o->ro.learner_column))) ||
			 !integer_type(get_atttype(o->impressions, get_attnum(o->impressions, o->ro.course_column))))
		*why = "id columns that are not integers";
	else if (pg_namespace_aclcheck(get_namespace_oid("recs", false), GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		*why = "no CREATE on schema recs";
	else if ((dist = recs_citus_distribution_column(o->impressions)) == NULL ||
			 strcmp(dist, o->ro.learner_column) != 0)
		*why = "impressions not hash-distributed by the learner column";
	if (*why)
		ereport(DEBUG1,
				(errmsg("train_glmix: not the flat Citus path: %s", *why)));
	return *why == NULL;
}

/*
 * The fixed effect's solver, as glmix_data.c's choose_solver: 'tron', or
 * under 'auto' above GLMIX_NEWTON_MAX_DIM features or when dense Newton's
 * four d x d matrices do not fit the budget (the coordinator holds no rows
 * here, so only they count)
 */
static bool
flat_tron(const char *solver, int d)
{
	if (strcmp(solver, "tron") == 0)
		return true;
	if (strcmp(solver, "newton") == 0)
		return false;
	return d > GLMIX_NEWTON_MAX_DIM || 4.0 * 8.0 * d * d > (double) recs_memory_budget();
}

/*
 * Phase 1 of a flat training: the sides, the crosses, the layout, the
 * learner effect.  False (t reset) when an effect is outside what its
 * solver takes: the usual path then reads
 * everything again (and says so).
 */
bool
glmix_flat_prepare(FunctionCallInfo fcinfo, GlmixTraining *t, const GlmixOptions *o)
{
	int			d;
	bool		bad;
	GlmixFlatWork *f;

	t->learners = glmix_read_side(o->learners, "learner", o->learners_id_column, o->learners_id_arg,
								  o->lfeat, o->nlfeat, o->lmatch, o->nlmatch);
	t->courses = glmix_read_side(o->courses, "course", o->courses_id_column, o->courses_id_arg,
								 o->cfeat, o->ncfeat, o->cmatch, o->ncmatch);
	glmix_parse_crosses(fcinfo, 11, t, o->hash_bits);
	glmix_fixed_layout(&t->lay, o->intercept[0], t->learners, t->courses);
	d = t->lay.dim;
	t->tron = flat_tron(o->solver, d);
	bad = d > (t->tron ? GLMIX_MAX_FIXED_DIM : GLMIX_DENSE_MAX_DIM);
	/* an effect without features, or too many for its Newton: the usual path says so */
	for (int k = 0; k < o->nrecols; k++)
	{
		bool		by_learner = strcmp(o->recols[k], o->ro.learner_column) == 0 ||
			learner_attribute(o, o->recols[k]) || glmix_context_column(o, o->recols[k]);
		int			rd = (o->intercept[k + 1] ? 1 : 0) +
			(by_learner ? t->courses->nmodel : t->learners->nmodel);

		if (rd == 0 || rd > 1024)
			bad = true;
	}
	if (bad)
	{
		memset(t, 0, sizeof(*t));
		return false;
	}
	t->l2_fixed = o->l2[0];
	t->citus_shards = recs_citus_hash_shards(o->impressions);
	/*
	 * Dense Newton's four d x d matrices, or TRON's vectors (as glmix_data.c
	 * counts them); nothing grows with the rows
	 */
	if (t->tron)
		recs_check_memory((16.0 * 8.0 + 256.0) * d, "train_glmix (the fixed effect's TRON vectors)");
	else
		recs_check_memory(4.0 * 8.0 * d * d, "train_glmix (fixed-effect Hessian)");
	t->nre = o->nrecols;
	t->co = palloc0(sizeof(GlmixCoordinate) * Max(o->nrecols, 1));
	f = t->flat = palloc0(sizeof(GlmixFlatWork));
	f->lk = f->ck = f->sk = f->hk = -1;
	f->course = palloc0(sizeof(GlmixFlatCourse) * Max(o->nrecols, 1));
	f->seg = palloc0(sizeof(GlmixFlatSeg) * Max(o->nrecols, 1));
	for (int k = 0; k < t->nre; k++)
	{
		GlmixRandom *re = palloc0(sizeof(GlmixRandom));

		re->column = o->recols[k];
		re->learner_side = strcmp(re->column, o->ro.learner_column) == 0 || learner_attribute(o, re->column) ||
			glmix_context_column(o, re->column);
		re->by_id = strcmp(re->column, o->ro.learner_column) == 0 ||
			strcmp(re->column, o->ro.course_column) == 0;
		re->intercept = o->intercept[k + 1];
		re->l2 = o->l2[k + 1];
		re->dim = (re->intercept ? 1 : 0) + (re->learner_side ? t->courses->nmodel : t->learners->nmodel);
		t->co[k].re = re;
		if (re->learner_side && re->by_id)
			f->lk = k;
		else if (glmix_context_column(o, re->column))
			f->hk = k;
		else if (re->learner_side)
		{
			if (f->sk < 0)
				f->sk = k;
			f->seg[f->nseg].co = k;
			f->seg[f->nseg].alias = f->nseg == 0 ? "g" : psprintf("g%d", f->nseg + 1);
			f->nseg++;
		}
		else
		{
			if (f->ck < 0)
				f->ck = k;
			f->course[f->ncourse].co = k;
			f->course[f->ncourse].alias = f->ncourse == 0 ? "cs" : psprintf("cs%d", f->ncourse + 1);
			f->ncourse++;
		}
		/* an attribute's keys: each learner's or course's value, as glmix_data.c reads them */
		if (k == f->hk)
			continue;			/* its values: glmix_flat_channel_read, below */
		if (!re->by_id && re->learner_side)
			glmix_read_attribute_keys(o->learners, o->learners_id_column, o->learners_id_arg, t->learners, re);
		else if (!re->by_id)
			glmix_read_attribute_keys(o->courses, o->courses_id_column, o->courses_id_arg, t->courses, re);
	}
	/* a channel's values: few, or the rows path */
	if (f->hk >= 0 && !glmix_flat_channel_read(t, o))
	{
		memset(t, 0, sizeof(*t));
		return false;
	}
	/*
	 * the validation rows: on the workers when they live there
	 * (glmix_flat_valid_workers.c), else here, as on one node
	 * (glmix_flat_valid.c scores them); l2 => auto's slice of the
	 * impressions only on the workers (with a channel: the search's views)
	 */
	if (!glmix_flat_valid_workers_wanted(t, o))
	{
		if (o->l2_cutoff)
		{
			memset(t, 0, sizeof(*t));
			return false;
		}
		glmix_read_validation(t, o);
	}
	return true;
}

/*
 * JIT off in the shards' tasks for the staging and the passes.  Their plans
 * cost enough for PostgreSQL to compile their expressions, in every task of
 * every statement, for a few hundred milliseconds of work each: on the
 * bench's 20,000 learners, 29 % of the workers' CPU went to LLVM, and the
 * fit took 6.6 s with it against 4.3 s without.  A SET LOCAL that Citus
 * sends to the workers (citus.propagate_set_commands = 'local' for the
 * training's GUC nest level); Citus propagates it only in what it takes for
 * a transaction block, so it is issued from a DO block.  jit_restore() sets
 * it back after the passes: on the workers to their own configured value
 * (SET LOCAL jit TO DEFAULT), here to the session's.
 */
static void
jit_off(GlmixFlatWork *f)
{
	f->jit = pstrdup(GetConfigOption("jit", false, false));
	(void) set_config_option("citus.propagate_set_commands", "local", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (SPI_execute("DO $$BEGIN SET LOCAL jit = off; END$$", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not turn JIT off for the training");
}

static void
jit_restore(GlmixFlatWork *f)
{
	if (SPI_execute("DO $$BEGIN SET LOCAL jit TO DEFAULT; END$$", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not restore jit");
	(void) set_config_option("jit", f->jit, PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
}

/* a bigint sum or count of the one-row result, column col */
static int64
result_int64(int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* learners per INSERT of the learner relation */
#define FLAT_PUT_BATCH 4096

/*
 * Each learner's feature vector into the co-located learner relation, a
 * batch a statement (Citus routes each row to its shard): O(learners) sent
 * once, rather than every learner's vector to every shard in the encoding
 */
static void
put_learners(const char *table, const GlmixSide *s, const char *ltype)
{
	SPIPlanPtr	plan = SPI_prepare(psprintf("INSERT INTO %s SELECT u.id::%s, "
											"coalesce($2[$4[u.i] + 1 : $4[u.i + 1]], '{}'), "
											"coalesce($3[$4[u.i] + 1 : $4[u.i + 1]], '{}') "
											"FROM unnest($1::int8[]) WITH ORDINALITY u(id, i)", table, ltype),
								   4, (Oid[]) {INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID});

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int lo = 0; lo < s->n; lo += FLAT_PUT_BATCH)
	{
		int			n = Min(FLAT_PUT_BATCH, s->n - lo);
		int32		k0 = s->ptr[lo],
					k1 = s->ptr[lo + n];
		Datum	   *d = palloc(sizeof(Datum) * (Max(n, k1 - k0) + 1));
		Datum		values[4];

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
			d[i] = Int64GetDatum(s->ids[lo + i]);
		values[0] = PointerGetDatum(construct_array(d, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		for (int32 k = k0; k < k1; k++)
			d[k - k0] = Int32GetDatum(s->col[k]);
		values[1] = PointerGetDatum(construct_array(d, k1 - k0, INT4OID, 4, true, TYPALIGN_INT));
		values[2] = PointerGetDatum(glmix_float8_array(s->val + k0, k1 - k0));
		for (int i = 0; i <= n; i++)
			d[i] = Int32GetDatum(s->ptr[lo + i] - k0);
		values[3] = PointerGetDatum(construct_array(d, n + 1, INT4OID, 4, true, TYPALIGN_INT));
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not write the learners' feature vectors");
		for (int i = 0; i < 4; i++)
			pfree(DatumGetPointer(values[i]));
		pfree(d);
	}
	SPI_freeplan(plan);
}

/*
 * The course-side effects' scores but effect skip's (-1: all of them), as
 * one float8[] expression (NULL when there is none), and their joins
 * (*join).  One effect: "cs.cscore", as with one; more: their sum, by
 * recs._glmix_flat_add (a NULL, an effect not fitted yet, adds nothing).
 */
static const char *
flat_course_scores(const GlmixFlatWork *f, int skip, const char **join)
{
	const char *e = NULL;
	const char *j = "";

	for (int i = 0; i < f->ncourse; i++)
	{
		const GlmixFlatCourse *cf = &f->course[i];

		if (i == skip)
			continue;
		e = e ? psprintf("recs._glmix_flat_add(%s, %s.cscore)", e, cf->alias) : psprintf("%s.cscore", cf->alias);
		j = psprintf("%s LEFT JOIN %s %s ON %s.learner_id = w.learner_id AND %s.block_no = w.block_no",
					 j, cf->s, cf->alias, cf->alias, cf->alias);
	}
	*join = j;
	return e;
}

/*
 * Phase 2: the blocks built on the workers, the counts summed, the
 * coefficient relation and the plans.
 */
void
glmix_flat_stage(GlmixTraining *t, const GlmixOptions *o)
{
	GlmixFlatWork *f = t->flat;
	GlmixFlatEnc enc;
	const char *lcol = quote_identifier(o->ro.learner_column);
	char	   *ltype = format_type_be(get_atttype(o->impressions, get_attnum(o->impressions,
																			  o->ro.learner_column)));
	char	   *labels[2] = {"NULL::float8[]", "NULL::float8[]"};
	int			nlabels = 0;
	char	   *texpr = NULL,
			   *secexpr = NULL,
			   *wexpr = NULL;
	Oid			types[2] = {BYTEAOID, TEXTARRAYOID};
	Datum		values[2];
	ImpressionSet counts;
	GlmixRows  *rows;
	GlmixSide	lcols;
	char	   *sql;
	const char *sjoin = "";
	const char *sexpr = "NULL::float8[]";
	const char *cexpr;
	const char *cjoin;
	int			zk;
	StringInfoData effects;

	jit_off(f);
	f->w = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat", MyProcPid)));
	f->c = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_coef", MyProcPid)));
	f->l = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_learners", MyProcPid)));
	/*
	 * A block pair and the learner's counts fit a page (toast_tuple_target):
	 * blocks stay inline, uncompressed (EXTERNAL: moved out only when a
	 * learner's positive courses make the row too long)
	 */
	glmix_work_colocated(f->w, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, fblock bytea, "
										"rblock bytea, rows integer NOT NULL, positives integer NOT NULL, "
										"nonzeros bigint NOT NULL, null_id bigint NOT NULL, "
										"null_label bigint NOT NULL, bad_time bigint NOT NULL, "
										"after_through bigint NOT NULL, t_max float8, watched bigint[], "
										"courses bigint[]%s", ltype, f->hk >= 0 ? ", keys integer[]" : ""),
						 psprintf("; ALTER TABLE %s ALTER COLUMN fblock SET STORAGE EXTERNAL, "
								  "ALTER COLUMN rblock SET STORAGE EXTERNAL", f->w),
						 o->impressions, "learner_id");
	glmix_work_colocated(f->c, psprintf("learner_id %s NOT NULL, rows integer NOT NULL, coef float8[]", ltype),
						 "", o->impressions, "learner_id");
	glmix_work_colocated(f->l, psprintf("learner_id %s NOT NULL, col integer[] NOT NULL, val float8[] NOT NULL", ltype),
						 "", o->impressions, "learner_id");
	put_learners(f->l, t->learners, ltype);
	f->lcoef = "c.coef";
	f->gjoin = "";
	f->hjoin = "";
	/* each learner attribute's keys: its own relation (the first one's name as with one) */
	for (int i = 0; i < f->nseg; i++)
	{
		GlmixFlatSeg *sf = &f->seg[i];

		sf->g = psprintf("recs.%s", quote_identifier(i == 0 ? psprintf("glmix_work_%d_flat_keys", MyProcPid) :
												   psprintf("glmix_work_%d_flat_keys_%d", MyProcPid, i + 1)));
		glmix_work_colocated(sf->g, psprintf("learner_id %s NOT NULL, key integer NOT NULL, scoef float8[]", ltype),
							 "", o->impressions, "learner_id");
		f->lcoef = psprintf("recs._glmix_flat_add(%s, %s.scoef)", f->lcoef, sf->alias);
		f->gjoin = psprintf("%s LEFT JOIN %s %s ON %s.learner_id = w.learner_id", f->gjoin, sf->g,
							sf->alias, sf->alias);
	}

	/* the encoding: sides, layout, the learner effect, the policy */
	memset(&enc, 0, sizeof(enc));
	enc.lay = t->lay;
	/* the learners' columns only: their vectors are in f->l */
	lcols = *t->learners;
	lcols.n = 0;
	enc.learners = &lcols;
	enc.courses = t->courses;
	/*
	 * z(c) in the learner-effect blocks: with a learner attribute's effect
	 * for every kept row (min_rows 0), the learner effect's own min_rows
	 * then being its coefficient relation's rows
	 */
	/*
	 * the learner effect's z(c); without one, a segment's, with the
	 * intercept if any has it; without either, a channel's
	 */
	zk = f->lk >= 0 ? f->lk : f->sk >= 0 ? f->sk : f->hk;
	for (int i = 0; i < f->nseg && f->lk < 0; i++)
		if (t->co[f->seg[i].co].re->intercept)
		{
			zk = f->seg[i].co;
			break;
		}
	f->zk = zk;
	enc.learner_effect = zk >= 0;
	enc.re_intercept = zk >= 0 && t->co[zk].re->intercept;
	enc.re_dim = zk >= 0 ? t->co[zk].re->dim : 0;
	enc.course_effect = f->ck >= 0;
	enc.min_rows = f->sk >= 0 || f->hk >= 0 ? 0 : o->min_rows;
	/* the learner effect's cap (a course-side effect's: glmix_flat_cap.c) */
	enc.max_rows = f->lk >= 0 ? o->max_rows : 0;
	enc.re_serial = Max(f->lk, 0);
	enc.seed = o->seed;
	if (strcmp(o->ro.label, "bookmarked") != 0)
		labels[nlabels++] = psprintf("array_agg(%s)", impressions_label_expression(o->impressions, o->ro.click_column, "click_column"));
	if (strcmp(o->ro.label, "clicked") != 0)
		labels[nlabels++] = psprintf("array_agg(%s)", impressions_label_expression(o->impressions, o->ro.bookmark_column, "bookmark_column"));
	enc.nlabels = nlabels;
	if (o->ro.time_column)
		texpr = ingest_time_column(o->impressions, o->ro.time_column, "time_column");
	enc.has_time = texpr != NULL;
	enc.through = o->ro.through;
	/* weights as the reader's: watch time of positives, times the weight column */
	if (strcmp(o->ro.weighting, "watch_time") == 0)
	{
		secexpr = psprintf("array_agg(%s)", impressions_number_expression(o->impressions, o->ro.seconds_column,
																		  "seconds_column"));
		enc.weights |= GLMIX_FLAT_WEIGHT_SECONDS;
	}
	if (o->ro.weight_column)
	{
		wexpr = psprintf("array_agg(%s)", impressions_number_expression(o->impressions, o->ro.weight_column,
																		  "weight_column"));
		enc.weights |= GLMIX_FLAT_WEIGHT_COLUMN;
	}
	values[0] = PointerGetDatum(glmix_flat_encode(&enc));

	/*
	 * One statement: grouped by the distribution column and inserted into a
	 * co-located table, it runs whole in each shard's task.  The reader's
	 * query skips a time of -infinity (not after since), as here.  With a
	 * channel, each impression's key (its value's index among $2, the
	 * values) goes to the keyed overload, which keeps the rows' keys.
	 */
	sql = psprintf("INSERT INTO %s SELECT g.l, b.* FROM "
				   "(SELECT %s AS l, array_agg(%s::int8) AS c, %s AS y1, %s AS y2, %s AS t, %s AS s, %s AS w%s "
				   "FROM %s%s GROUP BY %s) g "
				   "LEFT JOIN %s v ON v.learner_id = g.l, "
				   "LATERAL recs._glmix_flat_blocks($1, g.l::int8, v.col, v.val, g.c, g.y1, g.y2, g.t, g.s, g.w%s) b",
				   f->w, lcol, quote_identifier(o->ro.course_column), labels[0], labels[1],
				   texpr ? psprintf("array_agg((%s)::float8)", texpr) : "NULL::float8[]",
				   secexpr ? secexpr : "NULL::float8[]", wexpr ? wexpr : "NULL::float8[]",
				   f->hk >= 0 ? psprintf(", array_agg(array_position($2::text[], %s::text) - 1) AS h",
										 quote_identifier(t->co[f->hk].re->column)) : "",
				   recs_relation_name(o->impressions),
				   texpr ? psprintf(" WHERE (%s)::float8 > '-Infinity'::float8 OR (%s) IS NULL", texpr, texpr) : "",
				   lcol, f->l, f->hk >= 0 ? ", g.h" : "");
	ereport(DEBUG1, (errmsg("train_glmix (flat): %s", sql)));
	values[1] = f->hvalues;
	if (SPI_execute_with_args(sql, f->hk >= 0 ? 2 : 1, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not build the blocks on the workers");
	pfree(DatumGetPointer(values[0]));

	/* the counts, as sums over the shards */
	if (SPI_execute(psprintf("SELECT sum(rows)::int8, sum(positives)::int8, sum(null_id)::int8, "
							 "sum(null_label)::int8, sum(bad_time)::int8, sum(after_through)::int8, "
							 "max(t_max), count(*) FILTER (WHERE block_no = 0 AND rows > 0), "
							 "count(*) FILTER (WHERE block_no = 0 AND rblock IS NOT NULL), "
							 "sum(nonzeros)::int8, count(*) FILTER (WHERE fblock IS NOT NULL) FROM %s", f->w),
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the blocks");
	rows = palloc0(sizeof(GlmixRows));
	rows->n = result_int64(1);
	rows->n_positive = result_int64(2);
	rows->null_id = result_int64(3);
	rows->null_label = result_int64(4);
	rows->bad_time = result_int64(5);
	rows->after_through = result_int64(6);
	{
		bool		isnull;
		Datum		tm = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &isnull);

		rows->t_max = isnull ? NAN : DatumGetFloat8(tm);
	}
	f->learners = result_int64(8);
	if (f->lk >= 0)
		t->co[f->lk].nmodels = (int) result_int64(9);
	t->fixed_nnz = result_int64(10);
	t->nblocks = (int) result_int64(11);
	SPI_freetuptable(SPI_tuptable);
	t->rows = rows;
	memset(&counts, 0, sizeof(counts));
	counts.n = rows->n;
	counts.n_null_id = rows->null_id;
	counts.n_null_label = rows->null_label;
	counts.n_bad_time = rows->bad_time;
	counts.n_after_through = rows->after_through;
	counts.n_read = rows->n + rows->null_id + rows->null_label + rows->bad_time + rows->after_through;
	/* the l2 search's fits say nothing (its `through` leaves out the validation tenth) */
	if (!t->quiet)
		impressions_report(&counts, "train_glmix");
	if (rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("%s has no rows to train on", recs_relation_name(o->impressions))));
	if (rows->n_positive == 0 || rows->n_positive == rows->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every impression has the same label"),
				 errdetail("A response model needs both positive and negative rows.")));

	/* a coefficient row per learner with a model, co-located: fits update it in place */
	if (f->lk >= 0)
	{
		/* its active rows: at most max_rows (the sample's), as one node counts them */
		if (SPI_execute(psprintf("INSERT INTO %s (learner_id, rows) SELECT learner_id, %s FROM %s "
								 "WHERE rblock IS NOT NULL GROUP BY learner_id HAVING sum(rows) >= %d",
								 f->c, o->max_rows > 0 ? psprintf("least(sum(rows), %d)", o->max_rows) : "sum(rows)",
								 f->w, f->sk >= 0 || f->hk >= 0 ? o->min_rows : 0),
						false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not create the learner coefficients");
		if (f->sk >= 0 || f->hk >= 0)
			t->co[f->lk].nmodels = (int) SPI_processed;
	}

	/* a channel's scores beside the blocks: the course rows' plans join them */
	if (f->hk >= 0)
		glmix_flat_channel_create(t, o, ltype);

	/*
	 * The course-side effects: their relations, entities and plans; each
	 * one's offsets take the others' scores (flat_course_scores) and a
	 * channel's, per row
	 */
	for (int i = 0; i < f->ncourse; i++)
		glmix_flat_course_create(t, o, &f->course[i], i);
	for (int i = 0; i < f->ncourse; i++)
	{
		const char *ojoin = "";
		const char *others = flat_course_scores(f, i, &ojoin);

		if (f->hk >= 0)
		{
			others = others ? psprintf("recs._glmix_flat_add(%s, h.hscore)", others) : "h.hscore";
			ojoin = psprintf("%s%s", ojoin, f->hjoin);
		}
		glmix_flat_course_stage(t, o, &f->course[i], others, ojoin);
	}
	if (f->ncourse > 0)
		sexpr = flat_course_scores(f, -1, &sjoin);
	/* a channel's scores, per row, join the course scores */
	cexpr = sexpr;
	cjoin = sjoin;
	if (f->hk >= 0)
	{
		sexpr = psprintf("recs._glmix_flat_add(%s, h.hscore)", sexpr);
		sjoin = psprintf("%s%s", sjoin, f->hjoin);
	}
	/*
	 * The learner attributes' effects: each one's score z . scoef joins the
	 * course and channel scores in the others' offsets; each one's own
	 * statistics take the learner coefficients plus the other segments'
	 */
	for (int i = 0; i < f->nseg; i++)
	{
		const char *lcoef = "c.coef";
		char	   *cjoin = pstrdup(sjoin);

		for (int j = 0; j < f->nseg; j++)
			if (j != i)
			{
				lcoef = psprintf("recs._glmix_flat_add(%s, %s.scoef)", lcoef, f->seg[j].alias);
				cjoin = psprintf("%s LEFT JOIN %s %s ON %s.learner_id = w.learner_id", cjoin, f->seg[j].g,
								 f->seg[j].alias, f->seg[j].alias);
			}
		glmix_flat_segment_stage(t, o, &f->seg[i], ltype, sexpr, cjoin, lcoef);
	}
	if (f->nseg > 0)
	{
		const char *ssum = psprintf("%s.scoef", f->seg[0].alias);

		for (int j = 1; j < f->nseg; j++)
			ssum = psprintf("recs._glmix_flat_add(%s, %s.scoef)", ssum, f->seg[j].alias);
		sexpr = psprintf("coalesce(recs._glmix_flat_scores(w.rblock, %s, %s), %s)", ssum, sexpr, sexpr);
		sjoin = psprintf("%s%s", sjoin, f->gjoin);
	}
	/* the channel's statistics: the offsets of every other coordinate */
	if (f->hk >= 0)
		glmix_flat_channel_stage(t, o, f->lcoef,
								 psprintf(" LEFT JOIN %s c ON c.learner_id = w.learner_id%s", f->c, f->gjoin),
								 cexpr, cjoin);

	/*
	 * The plans.  The fixed effect's takes glmix_fit.c's parameters ($1, the
	 * offsets, unused: they are computed in the tasks); one row comes back,
	 * Citus having combined the shards' partial states.  A row's offset is
	 * its learner effect's score from the twin block and its course effect's
	 * score kept beside the block (sexpr).
	 */
	if (t->tron)
		/* TRON's: loss, gradient and, given a direction ($3), H v (glmix_fit.c's tron_query) */
		t->plan = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_fixed_grad(w.fblock, w.rblock, c.coef, $2, $3, %s) "
											  "FROM %s w LEFT JOIN %s c ON c.learner_id = w.learner_id%s",
											  sexpr, f->w, f->c, sjoin),
									 3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID},
									 CURSOR_OPT_CUSTOM_PLAN);
	else
		t->plan = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, $2, %s) "
											  "FROM %s w LEFT JOIN %s c ON c.learner_id = w.learner_id%s",
											  sexpr, f->w, f->c, sjoin),
									 2, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	f->loss = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_loss(w.fblock, w.rblock, c.coef, $1, "
										  "w.block_no = 0, %s) FROM %s w LEFT JOIN %s c ON c.learner_id = w.learner_id%s",
										  sexpr, f->w, f->c, sjoin),
								 1, (Oid[]) {FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	if (t->plan == NULL || f->loss == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (f->lk >= 0)
	{
		f->refit = SPI_prepare_cursor(psprintf("UPDATE %s c SET coef = f.coef FROM "
											   "(SELECT w.learner_id AS l, recs.glmix_entity_fit(w.rblock, "
											   "recs._glmix_flat_scores(w.fblock, $1, %s), s.coef, $2) AS coef "
											   "FROM %s w JOIN %s s ON s.learner_id = w.learner_id%s "
											   "WHERE w.rblock IS NOT NULL GROUP BY w.learner_id) f "
											   "WHERE c.learner_id = f.l", f->c, sexpr, f->w, f->c, sjoin),
									  2, (Oid[]) {FLOAT8ARRAYOID, FLOAT8OID}, CURSOR_OPT_CUSTOM_PLAN);
		if (f->refit == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	/* validation rows on the workers: their blocks and plans */
	if (OidIsValid(f->vrel))
		glmix_flat_valid_workers_stage(t, o, ltype);
	t->beta = palloc0(sizeof(double) * t->lay.dim);
	t->g = palloc(sizeof(double) * t->lay.dim);
	t->step = palloc(sizeof(double) * t->lay.dim);
	t->cand = palloc(sizeof(double) * t->lay.dim);
	if (t->tron)
		t->tron_work = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * 6 * (Size) t->lay.dim);
	else
	{
		t->H = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * t->lay.dim * t->lay.dim);
		t->L = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * t->lay.dim * t->lay.dim);
	}

	initStringInfo(&effects);
	for (int k = 0; k < t->nre; k++)
		appendStringInfo(&effects, "%s%s: %d features, %d of " INT64_FORMAT " entities with a model",
						 k == 0 ? "Random effects: " : "; ", t->co[k].re->column, t->co[k].re->dim,
						 t->co[k].nmodels, k == f->lk ? f->learners : (int64) t->co[k].re->nent);
	if (!t->quiet)
		ereport(NOTICE,
				(errmsg("train_glmix: " INT64_FORMAT " impressions (" INT64_FORMAT " positive), "
						INT64_FORMAT " learners, %d courses; fixed effect %d features%s",
						rows->n, rows->n_positive, f->learners, t->courses->n, t->lay.dim,
						t->tron ? psprintf(" (TRON solver, " INT64_FORMAT " nonzeros)", t->fixed_nnz) : ""),
				 errdetail("%s. Built on the workers, over %d Citus shards: the coordinator holds no impressions.",
						   t->nre == 0 ? "No random effects" : effects.data, t->citus_shards)));
}

/* the objective: the loss summed on the workers, the penalties */
static double
flat_objective(GlmixTraining *t, double *mean_loss)
{
	Datum		values[1];
	double		f,
				sumsq;
	const double *v;
	int			nv;
	bool		isnull;
	Datum		d;

	values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
	if (SPI_execute_plan(t->flat->loss, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the loss aggregate failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "the loss aggregate returned NULL");
	v = glmix_float8_data(DatumGetArrayTypeP(d), &nv, "loss");
	if (nv != 4)
		elog(ERROR, "the loss aggregate returned %d values", nv);
	f = v[2];
	sumsq = v[3];
	*mean_loss = v[1] > 0 ? f / v[1] : NAN;
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(values[0]));
	for (int j = 0; j < t->lay.dim; j++)
		f += 0.5 * t->l2_fixed * t->beta[j] * t->beta[j];
	if (t->flat->lk >= 0)
		f += 0.5 * t->co[t->flat->lk].re->l2 * sumsq;
	for (int i = 0; i < t->flat->ncourse; i++)
		f += 0.5 * t->co[t->flat->course[i].co].re->l2 * glmix_flat_keyed_sumsq(&t->co[t->flat->course[i].co]);
	for (int i = 0; i < t->flat->nseg; i++)
		f += 0.5 * t->co[t->flat->seg[i].co].re->l2 * glmix_flat_keyed_sumsq(&t->co[t->flat->seg[i].co]);
	if (t->flat->hk >= 0)
		f += 0.5 * t->co[t->flat->hk].re->l2 * glmix_flat_keyed_sumsq(&t->co[t->flat->hk]);
	return f;
}

/*
 * Phase 3: coordinate descent as glmix_fit() does it, each coordinate one
 * statement (or Newton's few) over the workers' blocks.
 */
double
glmix_flat_fit(GlmixTraining *t, const GlmixOptions *o, GlmixPassLog *history, double *vauc, double *vll)
{
	double		final_obj = 0.0;
	double		t0 = recs_clock_seconds();

	for (int pass = 1; pass <= o->passes; pass++)
	{
		double		tp = recs_clock_seconds();
		double		loss = 0.0;

		for (int k = -1; k < t->nre; k++)
		{
			char		detail[128];
			double		obj;
			double		tc = recs_clock_seconds();

			CHECK_FOR_INTERRUPTS();
			if (k == -1)
			{
				int			evals = glmix_fit_fixed_flat(t, psprintf("pass %d/%d", pass, o->passes));

				t->fixed_passes += evals;
				snprintf(detail, sizeof(detail), "%d aggregate passes", evals);
			}
			else if (glmix_flat_seg_of(t, k))
			{
				int			sp = glmix_flat_segment_fit(t, glmix_flat_seg_of(t, k));

				snprintf(detail, sizeof(detail), "%d entity models, %d aggregate passes",
						 t->co[k].nmodels, sp);
			}
			else if (k == t->flat->hk)
			{
				int			hp = glmix_flat_channel_fit(t);

				snprintf(detail, sizeof(detail), "%d entity models, %d aggregate passes",
						 t->co[k].nmodels, hp);
			}
			else if (glmix_flat_course_of(t, k))
			{
				glmix_flat_course_fit(t, glmix_flat_course_of(t, k));
				snprintf(detail, sizeof(detail), "%d entity models, repartitioned by course",
						 t->co[k].nmodels);
			}
			else
			{
				Datum		values[2];

				values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
				values[1] = Float8GetDatum(t->co[k].re->l2);
				if (SPI_execute_plan(t->flat->refit, values, NULL, false, 0) != SPI_OK_UPDATE)
					elog(ERROR, "the learner effect's fit failed");
				pfree(DatumGetPointer(values[0]));
				snprintf(detail, sizeof(detail), "%d entity models", t->co[k].nmodels);
			}
			obj = flat_objective(t, &loss);
			if (!t->quiet)
				ereport(DEBUG1,
						(errmsg("train_glmix pass %d/%d %s: objective %.4f, train log-loss %.4f, %s, %.3f s",
								pass, o->passes, k == -1 ? "fixed" : t->co[k].re->column, obj, loss,
								detail, recs_clock_seconds() - tc)));
			final_obj = obj;
		}
		if (t->vrows)
			glmix_flat_validation(t, vauc, vll);
		glmix_pass_end(t, o, pass, final_obj, loss, *vauc, *vll, tp, t0, history);
	}
	/* the l2 search's fits (quiet) keep JIT off until its glmix_flat_drop() */
	if (!t->quiet)
		jit_restore(t->flat);
	return final_obj;
}

/*
 * Before the store: the learner effect's entities (every learner with
 * rows, ascending), their active rows and coefficients -- O(learners)
 */
void
glmix_flat_collect(GlmixTraining *t)
{
	GlmixCoordinate *c;
	GlmixRandom *re;

	/* the course effect's coefficients are here already (glmix_flat_course.c) */
	if (t->flat->lk < 0)
		return;
	c = &t->co[t->flat->lk];
	re = c->re;
	if (SPI_execute(psprintf("SELECT w.learner_id::int8, c.rows, c.coef FROM %s w LEFT JOIN %s c "
							 "ON c.learner_id = w.learner_id WHERE w.block_no = 0 AND w.rows > 0 ORDER BY 1",
							 t->flat->w, t->flat->c), true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the learner coefficients");
	re->nent = (int) SPI_processed;
	re->keys = palloc(sizeof(char *) * Max(re->nent, 1));
	c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
	c->coef = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max((Size) re->nent * re->dim, 1));
	memset(c->coef, 0, sizeof(double) * Max((Size) re->nent * re->dim, 1));
	c->nmodels = 0;
	for (int e = 0; e < re->nent; e++)
	{
		HeapTuple	tup = SPI_tuptable->vals[e];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull,
					cnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		Datum		rows = SPI_getbinval(tup, desc, 2, &isnull);
		Datum		coef = SPI_getbinval(tup, desc, 3, &cnull);

		re->keys[e] = psprintf(INT64_FORMAT, id);
		if (!isnull && !cnull)
		{
			int			n;
			const double *v = glmix_float8_data(DatumGetArrayTypeP(coef), &n, "learner coefficients");

			if (n != re->dim)
				elog(ERROR, "learner " INT64_FORMAT " has %d coefficients, not %d", id, n, re->dim);
			memcpy(c->coef + (Size) e * re->dim, v, sizeof(double) * re->dim);
			c->rows[e] = DatumGetInt32(rows);
			c->nmodels++;
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/* learners per fetch for recs.model_learner (as glmix_store.c's batches) */
#define FLAT_LEARNERS_BATCH 1024

/*
 * recs.model_learner from the workers' first rows: each learner's positive
 * courses, fetched a batch at a time through a cursor
 */
void
glmix_flat_store_learners(int64 model_id, GlmixTraining *t, const GlmixOptions *o)
{
	SPIPlanPtr	plan = glmix_learners_plan(o->learners, o->learners_id_column, o->learners_id_arg, true);
	Portal		cur = SPI_cursor_open_with_args(NULL,
												psprintf("SELECT learner_id::int8, watched FROM %s "
														 "WHERE block_no = 0 AND rows > 0 ORDER BY 1",
														 t->flat->w),
												0, NULL, NULL, NULL, true, 0);

	for (;;)
	{
		SPITupleTable *tt;
		int			n;
		Datum	   *ids;
		Datum	   *ptr;
		Datum	   *courses;
		int			nc = 0,
					cap = 0;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(cur, true, FLAT_LEARNERS_BATCH);
		n = (int) SPI_processed;
		tt = SPI_tuptable;
		if (n == 0)
			break;
		ids = palloc(sizeof(Datum) * n);
		ptr = palloc(sizeof(Datum) * (n + 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		wd = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);

			ids[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
			if (!isnull)
			{
				ArrayType  *a = DatumGetArrayTypeP(wd);
				int			m = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));

				cap += m;
			}
		}
		courses = palloc(sizeof(Datum) * Max(cap, 1));
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			Datum		wd = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);

			ptr[i] = Int32GetDatum(nc);
			if (!isnull)
			{
				Datum	   *el;
				bool	   *nulls;
				int			m;

				deconstruct_array(DatumGetArrayTypeP(wd), INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
								  &el, &nulls, &m);
				for (int j = 0; j < m; j++)
					if (!nulls[j])
						courses[nc++] = el[j];
			}
		}
		ptr[n] = Int32GetDatum(nc);
		SPI_freetuptable(tt);
		glmix_learners_put(plan, model_id, ids, n, ptr, courses, nc);
		pfree(ids);
		pfree(ptr);
		pfree(courses);
	}
	SPI_cursor_close(cur);
	SPI_freeplan(plan);
}

/* drop the work relations and plans now rather than at commit */
void
glmix_flat_drop(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;

	if (t->quiet)
		jit_restore(f);
	SPI_freeplan(t->plan);
	SPI_freeplan(f->loss);
	if (f->refit)
		SPI_freeplan(f->refit);
	SPI_execute(psprintf("DROP TABLE %s, %s, %s", f->w, f->c, f->l), false, 0);
	for (int i = 0; i < f->ncourse; i++)
		glmix_flat_course_drop(t, &f->course[i]);
	if (OidIsValid(f->vrel))
		glmix_flat_valid_workers_drop(t);
	for (int i = 0; i < f->nseg; i++)
		glmix_flat_segment_drop(t, &f->seg[i]);
	if (f->hk >= 0)
		glmix_flat_channel_drop(t);
}
