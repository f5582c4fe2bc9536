/*
 * glmix_train.c -- recs.train_glmix(): GLMix by coordinate descent
 *
 * The model (logistic link):
 *     logit P(y = 1 | l, c) = beta . x(l, c)            fixed effect
 *                           + gamma_l . z(c)            per-learner effect
 *                           + delta_c . z(l)            per-course effect
 *                           (+ one term per further random-effect column)
 * Training is Photon ML's GAME block coordinate descent: for each of
 * `passes` passes, each coordinate in turn is refitted, warm-started, with
 * the sum of the other coordinates' current scores as a fixed offset.
 *
 * Phases (each timed into the model's metrics->'seconds'):
 *   1. read  -- learners and courses become CSR feature vectors
 *      (glmix_data.c), impressions flat arrays of (label, weight, learner,
 *      course); the designs are assembled once, in C.
 *   2. stage -- the designs are cut into page-sized blocks and written to
 *      work relations created in this transaction (glmix_fit.c): one for
 *      the fixed effect, one per random effect holding each active entity's
 *      rows (at most max_rows of them, drawn with the seed, their weights
 *      scaled up to keep the entity's total).  Entities with fewer than
 *      min_rows rows get no model: their effect is zero.
 *   3. fit   -- per pass and coordinate: the offsets, one fit through the
 *      coordinate's aggregate (Newton over recs.glmix_fixed_block_stats for
 *      the fixed effect, one GROUP BY entity query over
 *      recs.glmix_entity_fit for a random effect), the scores recomputed in
 *      C, and a NOTICE with the objective (and the validation AUC).  With
 *      threads > 1 the planner is told parallelism is free, so both
 *      aggregates may run as Partial/Finalize plans.
 *   4. store -- glmix_serve.c writes the coefficients with their feature
 *      names and every learner's and course's feature vector; the
 *      learners' responded-to courses go to recs.model_learner.
 * Everything runs in the caller's transaction: an error or a cancel leaves
 * the previous model, and no work relation, behind.
 */
#include "postgres.h"

#include <malloc.h>
#include <math.h>

#include <cblas.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "glmix.h"
#include "json_out.h"
#include "options.h"
#include "recs.h"
#include "rng.h"
#include "timing.h"

#define MAX_RANDOM 8

/* "lcol:ccol" pairs, or by default every categorical learner column
 * crossed with every multi-hot course column */
static void
parse_crosses(FunctionCallInfo fcinfo, int argno, GlmixTraining *t)
{
	GlmixFixedLayout *lay = &t->lay;

	if (PG_ARGISNULL(argno))
	{
		lay->cross = palloc(sizeof(GlmixCross) * Max(t->learners->ncols * t->courses->ncols, 1));
		lay->ncross = 0;
		for (int a = 0; a < t->learners->ncols; a++)
			for (int b = 0; b < t->courses->ncols; b++)
				if (t->learners->cols[a].kind != GLMIX_NUMERIC &&
					t->courses->cols[b].kind == GLMIX_MULTIHOT)
				{
					lay->cross[lay->ncross].lcol = a;
					lay->cross[lay->ncross].ccol = b;
					lay->ncross++;
				}
		return;
	}
	else
	{
		int			n;
		char	  **pairs = recs_text_array_arg(fcinfo, argno, &n);

		lay->cross = palloc(sizeof(GlmixCross) * Max(n, 1));
		lay->ncross = n;
		for (int i = 0; i < n; i++)
		{
			char	   *colon = strchr(pairs[i], ':');
			char	   *lname = pnstrdup(pairs[i], colon ? colon - pairs[i] : 0);

			if (colon == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cross \"%s\" is not of the form learner_column:course_column", pairs[i])));
			lay->cross[i].lcol = glmix_side_column(t->learners, lname);
			lay->cross[i].ccol = glmix_side_column(t->courses, colon + 1);
			if (lay->cross[i].lcol < 0 || lay->cross[i].ccol < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("cross \"%s\" names a column that is not a feature column", pairs[i]),
						 errhint("Cross a column of learner_features with a column of course_features.")));
		}
	}
}

/* attribute-keyed random effect: each side row's key, and the distinct keys */
static void
read_attribute_keys(Oid relid, const char *idcol, GlmixSide *side, GlmixRandom *re)
{
	StringInfoData sql;
	char	  **vals = palloc0(sizeof(char *) * Max(side->n, 1));
	char	  **sorted = palloc(sizeof(char *) * Max(side->n, 1));
	int			nsorted = 0,
				u = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::int8, %s::text FROM %s WHERE %s IS NOT NULL",
					 quote_identifier(idcol), quote_identifier(re->column),
					 recs_relation_name(relid), quote_identifier(re->column));
	if (SPI_execute(sql.data, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read random-effect column \"%s\"", re->column);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int			k = glmix_side_index(side, id);

		if (k >= 0 && vals[k] == NULL)
		{
			vals[k] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			sorted[nsorted++] = vals[k];
		}
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(sorted, nsorted, sizeof(char *), pg_qsort_strcmp);
	for (int k = 0; k < nsorted; k++)
		if (u == 0 || strcmp(sorted[k], sorted[u - 1]) != 0)
			sorted[u++] = sorted[k];
	re->nent = u;
	re->keys = sorted;
	re->side_entity = palloc(sizeof(int) * Max(side->n, 1));
	for (int i = 0; i < side->n; i++)
	{
		char	  **hit = vals[i] ? bsearch(&vals[i], sorted, u, sizeof(char *), pg_qsort_strcmp) : NULL;

		re->side_entity[i] = hit ? (int) (hit - sorted) : -1;
	}
}

/* entity of each row of a row set for coordinate c */
static int *
row_entities(const GlmixCoordinate *c, const GlmixRows *rows)
{
	int		   *ent = palloc(sizeof(int) * Max(rows->n, 1));

	for (int64 r = 0; r < rows->n; r++)
	{
		if (c->re->by_id)
			ent[r] = recs_find_int64(c->sorted_ids, c->re->nent,
								c->re->learner_side ? rows->learner_id[r] : rows->course_id[r]);
		else
		{
			int			k = c->re->learner_side ? rows->li[r] : rows->ci[r];

			ent[r] = k >= 0 ? c->re->side_entity[k] : -1;
		}
	}
	return ent;
}

/* ---- the SQL function ---- */

static void
set_guc(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static const char *const label_choices[] = {"clicked", "bookmarked", "either"};
static const char *const weighting_choices[] = {"none", "watch_time"};

/* train_glmix's arguments, checked */
typedef struct TrainOptions
{
	Oid			impressions;
	Oid			learners;
	Oid			courses;
	Oid			validation;		/* InvalidOid: none */
	char	  **lfeat;
	int			nlfeat;
	char	  **cfeat;
	int			ncfeat;
	char	   *name;
	GlmixReadOptions ro;
	int			passes;
	char	  **recols;
	int			nrecols;
	int			min_rows;
	int			max_rows;		/* 0: no cap */
	int64		seed;
	int			threads;
	bool		activate;
	double		l2[1 + MAX_RANDOM];
	bool		intercept[1 + MAX_RANDOM];
} TrainOptions;

/* the arguments of train_glmix, with defaults, checked before any work */
static void
read_options(FunctionCallInfo fcinfo, TrainOptions *o)
{
	static const char *const required[] = {"impressions", "learners", "courses",
	"learner_features", "course_features"};

	memset(o, 0, sizeof(*o));
	for (int a = 0; a < 5; a++)
		if (PG_ARGISNULL(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", required[a]),
					 a >= 3 ? errhint("Pass '{}' for no features.") : 0));
	o->impressions = PG_GETARG_OID(0);
	o->learners = PG_GETARG_OID(1);
	o->courses = PG_GETARG_OID(2);
	o->lfeat = recs_text_array_arg(fcinfo, 3, &o->nlfeat);
	o->cfeat = recs_text_array_arg(fcinfo, 4, &o->ncfeat);
	o->name = recs_text_arg(fcinfo, 5, "glmix");
	(void) recs_choice_arg(fcinfo, 6, "clicked", label_choices, lengthof(label_choices),
						   "label", (char **) &o->ro.label);
	(void) recs_choice_arg(fcinfo, 7, "none", weighting_choices, lengthof(weighting_choices),
						   "weighting", (char **) &o->ro.weighting);
	o->passes = recs_int_arg(fcinfo, 9, 3, 1, 100, "passes");
	o->threads = recs_int_arg(fcinfo, 16, 1, 1, 64, "threads");
	o->min_rows = PG_ARGISNULL(12) ? 1 : PG_GETARG_INT32(12);
	o->max_rows = PG_ARGISNULL(13) ? 0 : PG_GETARG_INT32(13);
	o->seed = recs_int64_arg(fcinfo, 15, 42);
	o->validation = PG_ARGISNULL(17) ? InvalidOid : PG_GETARG_OID(17);
	o->activate = recs_bool_arg(fcinfo, 18, true);
	o->ro.learner_column = recs_text_arg(fcinfo, 19, "learner_id");
	o->ro.course_column = recs_text_arg(fcinfo, 20, "course_id");
	o->ro.click_column = recs_text_arg(fcinfo, 21, "clicked");
	o->ro.bookmark_column = recs_text_arg(fcinfo, 22, "bookmarked");
	o->ro.seconds_column = recs_text_arg(fcinfo, 23, "watch_seconds");
	o->ro.weight_column = recs_text_arg(fcinfo, 24, NULL);
	/* max_rows 0 stands for NULL, no cap: a given 0 is out of range like -1 */
	if (o->min_rows < 1 || (!PG_ARGISNULL(13) && o->max_rows < o->min_rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("min_rows must be at least 1 and max_rows at least min_rows"),
				 errdetail("min_rows is %d, max_rows %d.", o->min_rows, o->max_rows),
				 errhint("Leave max_rows NULL for no cap.")));

	/* random-effect columns: by default the learner and course id columns */
	if (PG_ARGISNULL(10))
	{
		o->recols = palloc(sizeof(char *) * 2);
		o->recols[0] = (char *) o->ro.learner_column;
		o->recols[1] = (char *) o->ro.course_column;
		o->nrecols = 2;
	}
	else
		o->recols = recs_text_array_arg(fcinfo, 10, &o->nrecols);
	if (o->nrecols > MAX_RANDOM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("at most %d random-effect columns", MAX_RANDOM)));
	for (int k = 0; k <= o->nrecols; k++)
	{
		/* the peer's defaults, chosen on the ML-100K validation split */
		o->l2[k] = k == 0 ? 300.0 : 10.0;
		o->intercept[k] = true;
	}
	if (!PG_ARGISNULL(8))
	{
		int			n;
		const double *v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(8), &n, "l2");

		if (n != 1 + o->nrecols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 needs %d values (the fixed effect, then each random effect), not %d",
							1 + o->nrecols, n)));
		memcpy(o->l2, v, sizeof(double) * n);
	}
	for (int k = 0; k <= o->nrecols; k++)
		if (!(o->l2[k] > 0) || isinf(o->l2[k]))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 weights must be positive and finite"),
					 errdetail("Without regularisation separable data have no finite fit.")));
	if (!PG_ARGISNULL(14))
	{
		Datum	   *el;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(14), BOOLOID, 1, true, TYPALIGN_CHAR,
						  &el, &nulls, &n);
		if (n != 1 + o->nrecols)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("intercepts needs %d values (the fixed effect, then each random effect), not %d",
							1 + o->nrecols, n)));
		for (int k = 0; k < n; k++)
			o->intercept[k] = nulls[k] ? true : DatumGetBool(el[k]);
	}
}

/* the entities of random effect k: distinct ids, or an attribute's values */
static void
setup_random_effect(GlmixTraining *t, const TrainOptions *o, int k)
{
	GlmixCoordinate *c = &t->co[k];
	GlmixRandom *re = palloc0(sizeof(GlmixRandom));
	const GlmixSide *other;

	c->re = re;
	re->column = o->recols[k];
	re->intercept = o->intercept[k + 1];
	re->l2 = o->l2[k + 1];
	for (int j = 0; j < k; j++)
		if (strcmp(o->recols[j], o->recols[k]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("random-effect column \"%s\" is listed twice", o->recols[k])));
	if (strcmp(re->column, o->ro.learner_column) == 0 || strcmp(re->column, o->ro.course_column) == 0)
	{
		int64	   *ids = palloc(sizeof(int64) * t->rows->n);
		int			u = 0;

		re->by_id = true;
		re->learner_side = strcmp(re->column, o->ro.learner_column) == 0;
		memcpy(ids, re->learner_side ? t->rows->learner_id : t->rows->course_id,
			   sizeof(int64) * t->rows->n);
		qsort(ids, t->rows->n, sizeof(int64), recs_int64_cmp);
		for (int64 r = 0; r < t->rows->n; r++)
			if (u == 0 || ids[r] != ids[u - 1])
				ids[u++] = ids[r];
		re->nent = u;
		re->keys = palloc(sizeof(char *) * Max(u, 1));
		for (int e = 0; e < u; e++)
			re->keys[e] = psprintf(INT64_FORMAT, ids[e]);
		c->sorted_ids = ids;
	}
	else if (get_attnum(o->learners, re->column) > 0)
	{
		re->learner_side = true;
		read_attribute_keys(o->learners, o->ro.learner_column, t->learners, re);
	}
	else if (get_attnum(o->courses, re->column) > 0)
	{
		re->learner_side = false;
		read_attribute_keys(o->courses, o->ro.course_column, t->courses, re);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("random-effect column \"%s\" is not a column of %s or %s", re->column,
						recs_relation_name(o->learners), recs_relation_name(o->courses)),
				 errhint("Random effects are keyed by the learner or course id, or by an attribute of the learners or courses.")));

	/* a learner-keyed effect acts on course features, and vice versa */
	other = re->learner_side ? t->courses : t->learners;
	re->dim = (re->intercept ? 1 : 0) + other->nfeat;
	if (re->dim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random effect \"%s\" has no features", re->column),
				 errhint("Keep its intercept or name feature columns of the other side.")));
	if (re->dim > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("random effect \"%s\" would have %d features, more than 1024", re->column, re->dim),
				 errdetail("Each entity's Newton step factors a dense matrix of that size."),
				 errhint("Name fewer %s feature columns.", re->learner_side ? "course" : "learner")));
	c->row_ent = row_entities(c, t->rows);
	c->Z = glmix_random_design(re, other, re->learner_side ? t->rows->ci : t->rows->li, t->rows->n);
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	c->score = palloc0(sizeof(double) * t->rows->n);
	if (t->vrows)
	{
		c->val_ent = row_entities(c, t->vrows);
		c->Zv = glmix_random_design(re, other, re->learner_side ? t->vrows->ci : t->vrows->li,
									t->vrows->n);
		c->vscore = palloc0(sizeof(double) * Max(t->vrows->n, 1));
	}
	/* the rows know their entities now; the keys keep the ids */
	if (c->sorted_ids)
	{
		pfree(c->sorted_ids);
		c->sorted_ids = NULL;
	}
}

static void
free_design(GlmixDesign *d)
{
	if (d == NULL)
		return;
	pfree(d->ptr);
	pfree(d->col);
	if (d->val)
		pfree(d->val);
	pfree(d);
}

/*
 * After the fit: the designs, scores and row entities are done with.  The
 * store's own arrays (about 40 bytes per row) then reuse their memory, so
 * the budget checked before training also covers the store.
 */
static void
release_fit_data(GlmixTraining *t)
{
	free_design(t->X);
	free_design(t->Xv);
	t->X = t->Xv = NULL;
	pfree(t->score);
	t->score = NULL;
	for (int k = 0; k < t->nre; k++)
	{
		GlmixCoordinate *c = &t->co[k];

		free_design(c->Z);
		free_design(c->Zv);
		c->Z = c->Zv = NULL;
		pfree(c->row_ent);
		pfree(c->score);
		c->row_ent = NULL;
		c->score = NULL;
	}
}

/*
 * Bytes the training holds for one row set: GLMIX_ROW_BYTES per row, the
 * nonzeros of its fixed design X, and per random effect its row arrays, the
 * nonzeros of its design z = [1 | the other side's features of the row] and,
 * for the training rows, its entities.
 */
static double
training_bytes(const GlmixTraining *t, const TrainOptions *o, const GlmixRows *rows,
			   const GlmixDesign *X)
{
	double		per_nnz = glmix_side_binary(t->learners) && glmix_side_binary(t->courses) ? 4.0 : 12.0;
	double		lnnz = 0,
				cnnz = 0,
				bytes;

	for (int64 r = 0; r < rows->n; r++)
	{
		int			li = rows->li[r],
					ci = rows->ci[r];

		lnnz += li >= 0 ? t->learners->ptr[li + 1] - t->learners->ptr[li] : 0;
		cnnz += ci >= 0 ? t->courses->ptr[ci + 1] - t->courses->ptr[ci] : 0;
	}
	bytes = rows->n * GLMIX_ROW_BYTES + per_nnz * X->ptr[X->n];
	for (int k = 0; k < o->nrecols; k++)
	{
		const char *col = o->recols[k];
		bool		on_learners = strcmp(col, o->ro.learner_column) == 0 ||
			(strcmp(col, o->ro.course_column) != 0 && get_attnum(o->learners, col) > 0);

		/* a learner-keyed effect acts on the course's features, and vice versa */
		double		z_nnz = rows->n + (on_learners ? cnnz : lnnz);
		bool		z_binary = glmix_side_binary(on_learners ? t->courses : t->learners);

		bytes += rows->n * GLMIX_RE_ROW_BYTES + (z_binary ? 4.0 : 12.0) * z_nnz;

		/*
		 * An id-keyed effect has about one entity per learner (course): its
		 * coefficients, their array copy for the GROUP BY query and the
		 * query's result rows.  Attribute-keyed effects have few entities.
		 */
		if (X == t->X && (strcmp(col, o->ro.learner_column) == 0 ||
						  strcmp(col, o->ro.course_column) == 0))
		{
			int			dim = (o->intercept[k + 1] ? 1 : 0) +
				(on_learners ? t->courses->nfeat : t->learners->nfeat);

			bytes += (on_learners ? t->learners->n : t->courses->n) * (24.0 * dim + 256.0);
		}
	}
	return bytes;
}

/* phase 1: the data and the designs */
static void
read_phase(FunctionCallInfo fcinfo, GlmixTraining *t, const TrainOptions *o)
{
	t->learners = glmix_read_side(o->learners, "learner", o->ro.learner_column, o->lfeat, o->nlfeat);
	t->courses = glmix_read_side(o->courses, "course", o->ro.course_column, o->cfeat, o->ncfeat);
	t->rows = glmix_read_rows(o->impressions, &o->ro, t->learners, t->courses, true);
	if (t->rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("%s has no rows to train on", recs_relation_name(o->impressions))));
	if (t->rows->n_positive == 0 || t->rows->n_positive == t->rows->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every impression has the same label"),
				 errdetail("A response model needs both positive and negative rows.")));
	if (OidIsValid(o->validation))
	{
		t->vrows = glmix_read_rows(o->validation, &o->ro, t->learners, t->courses, false);
		if (t->vrows->n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA),
					 errmsg("validation relation %s has no rows", recs_relation_name(o->validation)),
					 errhint("Pass validation => NULL to train without one.")));
		if (t->vrows->n_positive == 0 || t->vrows->n_positive == t->vrows->n)
			ereport(NOTICE,
					(errmsg("train_glmix: every validation row has the same label"),
					 errdetail("The validation AUC is undefined; it is reported as NaN and stored as null.")));
	}
	parse_crosses(fcinfo, 11, t);
	glmix_fixed_layout(&t->lay, o->intercept[0], t->learners, t->courses);
	t->l2_fixed = o->l2[0];

	/*
	 * What training holds at once, for recs_check_memory(): the per-row
	 * arrays (glmix.h), four dense d x d matrices (aggregate state, its
	 * result, H and its factor), then the designs' nonzeros (4 bytes each,
	 * 12 with values).  The staging and the store reuse what the fit frees.
	 */
	recs_check_memory(t->rows->n * GLMIX_ROW_BYTES + 4.0 * 8.0 * t->lay.dim * t->lay.dim,
					  "train_glmix (rows and fixed-effect Hessian)");
	if (t->lay.dim > 2048)
		ereport(NOTICE,
				(errmsg("train_glmix: the fixed effect has %d features", t->lay.dim),
				 errdetail("Every Newton step accumulates and factors a dense %d x %d Hessian.",
						   t->lay.dim, t->lay.dim),
				 errhint("Fewer crosses (for example crosses => '{industry:topic}') make training much faster.")));
	t->X = glmix_fixed_design(&t->lay, t->learners, t->courses, t->rows);
	if (t->vrows)
		t->Xv = glmix_fixed_design(&t->lay, t->learners, t->courses, t->vrows);
	recs_check_memory(training_bytes(t, o, t->rows, t->X) +
					  (t->vrows ? training_bytes(t, o, t->vrows, t->Xv) : 0) +
					  4.0 * 8.0 * t->lay.dim * t->lay.dim,
					  "train_glmix (rows, designs and fixed-effect Hessian)");

	t->nre = o->nrecols;
	t->co = palloc0(sizeof(GlmixCoordinate) * Max(o->nrecols, 1));
	for (int k = 0; k < o->nrecols; k++)
		setup_random_effect(t, o, k);
}

/* phase 2: the work relations, their plans, and the solver's buffers */
static void
stage_phase(GlmixTraining *t, const TrainOptions *o)
{
	RecsRng		rng;
	int			d = t->lay.dim;
	StringInfoData b;

	rng_seed(&rng, (uint64) o->seed);
	glmix_stage_fixed(t, true);
	t->plan = SPI_prepare_cursor(psprintf("SELECT recs.glmix_fixed_block_stats(block, $1, $2) FROM %s",
										  t->work),
								 2, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID},
								 CURSOR_OPT_PARALLEL_OK | CURSOR_OPT_GENERIC_PLAN);
	if (t->plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int k = 0; k < t->nre; k++)
	{
		GlmixCoordinate *c = &t->co[k];

		glmix_stage_random(t, c, k, o->min_rows, o->max_rows, &rng, true);
		c->plan = SPI_prepare_cursor(psprintf("SELECT entity, recs.glmix_entity_fit(block, $1, $2, $3) "
											  "FROM %s GROUP BY entity", c->work),
									 3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8OID},
									 CURSOR_OPT_PARALLEL_OK | CURSOR_OPT_GENERIC_PLAN);
		if (c->plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	t->beta = palloc0(sizeof(double) * d);
	t->g = palloc(sizeof(double) * d);
	t->step = palloc(sizeof(double) * d);
	t->cand = palloc(sizeof(double) * d);
	t->H = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * d * d);
	t->L = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * d * d);
	t->score = palloc0(sizeof(double) * t->rows->n);
	t->vscore = t->vrows ? palloc0(sizeof(double) * Max(t->vrows->n, 1)) : NULL;

	initStringInfo(&b);
	for (int k = 0; k < t->nre; k++)
		appendStringInfo(&b, "%s%s: %d features, %d of %d entities with a model",
						 k ? "; " : "Random effects: ", t->co[k].re->column,
						 t->co[k].re->dim, t->co[k].nmodels, t->co[k].re->nent);
	ereport(NOTICE,
			(errmsg("train_glmix: " INT64_FORMAT " impressions (" INT64_FORMAT " positive), "
					"%d learners, %d courses; fixed effect %d features",
					t->rows->n, t->rows->n_positive, t->learners->n, t->courses->n, t->lay.dim),
			 errdetail("%s.", t->nre == 0 ? "No random effects" : b.data)));
}

/* the objective and validation figures after each pass */
typedef struct PassLog
{
	double		objective;
	double		vauc;
	double		vll;
} PassLog;

/*
 * phase 3: coordinate descent.  Logs each pass in history[0..passes) and
 * returns the final objective; *vauc and *vll get the validation figures.
 */
static double
fit_phase(GlmixTraining *t, const TrainOptions *o, PassLog *history, double *vauc, double *vll)
{
	double	   *offsets = palloc(sizeof(double) * t->rows->n);
	double		final_obj = 0.0;

	/*
	 * LAPACK threads pay off only for big factorisations: below 2048
	 * features a single thread is faster than waking a pool (and much
	 * faster on a busy machine).
	 */
	if (o->threads > 1 && t->lay.dim >= 2048)
		openblas_set_num_threads(o->threads);
	PG_TRY();
	{
		for (int pass = 1; pass <= o->passes; pass++)
		{
			/* k = -1 is the fixed effect, then the random effects in order */
			for (int k = -1; k < t->nre; k++)
			{
				char		detail[128];
				double		obj,
							loss;
				double		tc = recs_clock_seconds();

				CHECK_FOR_INTERRUPTS();
				/* this coordinate's offsets: every other coordinate's scores */
				for (int64 r = 0; r < t->rows->n; r++)
				{
					double		off = k == -1 ? 0.0 : t->score[r];

					for (int j = 0; j < t->nre; j++)
						if (j != k)
							off += t->co[j].score[r];
					offsets[r] = off;
				}
				if (k == -1)
				{
					int			evals = glmix_fit_fixed(t, offsets);

					glmix_design_scores(t->X, NULL, t->beta, t->score);
					if (t->vrows)
						glmix_design_scores(t->Xv, NULL, t->beta, t->vscore);
					snprintf(detail, sizeof(detail), "%d aggregate passes", evals);
				}
				else
				{
					GlmixCoordinate *c = &t->co[k];

					glmix_fit_random(t, c, offsets);
					glmix_design_scores(c->Z, c->row_ent, c->coef, c->score);
					if (t->vrows)
						glmix_design_scores(c->Zv, c->val_ent, c->coef, c->vscore);
					snprintf(detail, sizeof(detail), "%d entity models", c->nmodels);
				}
				obj = glmix_objective(t, &loss);
				if (t->vrows)
					glmix_validation_metrics(t, vauc, vll);
				ereport(NOTICE,
						(errmsg("train_glmix pass %d/%d %s: objective %.4f, train log-loss %.4f, %s%s, %.3f s",
								pass, o->passes, k == -1 ? "fixed" : t->co[k].re->column, obj, loss, detail,
								t->vrows ? psprintf(", validation AUC %.4f log-loss %.4f", *vauc, *vll) : "",
								recs_clock_seconds() - tc)));
				final_obj = obj;
			}
			history[pass - 1].objective = final_obj;
			history[pass - 1].vauc = *vauc;
			history[pass - 1].vll = *vll;
		}
	}
	PG_FINALLY();
	{
		openblas_set_num_threads(1);
	}
	PG_END_TRY();

	/* drop the work relations now rather than at commit */
	SPI_freeplan(t->plan);
	SPI_execute(psprintf("DROP TABLE %s", t->work), false, 0);
	for (int k = 0; k < t->nre; k++)
	{
		SPI_freeplan(t->co[k].plan);
		SPI_execute(psprintf("DROP TABLE %s", t->co[k].work), false, 0);
	}
	pfree(offsets);
	return final_obj;
}

static char *
source_json(const TrainOptions *o)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "impressions", recs_relation_name(o->impressions));
	json_out_string(&j, "learners", recs_relation_name(o->learners));
	json_out_string(&j, "courses", recs_relation_name(o->courses));
	return json_out_finish(&j);
}

/* the hyper-parameters as trained, for recs.model.params */
static char *
params_json(const GlmixTraining *t, const TrainOptions *o)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "label", o->ro.label);
	json_out_string(&j, "weighting", o->ro.weighting);
	json_out_int(&j, "passes", o->passes);
	json_out_numbers(&j, "l2", o->l2, t->nre + 1, "%g");
	json_out_array(&j, "random_effects");
	for (int k = 0; k < t->nre; k++)
		json_out_string(&j, NULL, t->co[k].re->column);
	json_out_end(&j);
	json_out_array(&j, "crosses");
	for (int p = 0; p < t->lay.ncross; p++)
		json_out_string(&j, NULL, psprintf("%s:%s", t->learners->cols[t->lay.cross[p].lcol].name,
											t->courses->cols[t->lay.cross[p].ccol].name));
	json_out_end(&j);
	json_out_int(&j, "min_rows", o->min_rows);
	if (o->max_rows > 0)
		json_out_int(&j, "max_rows", o->max_rows);
	else
		json_out_null(&j, "max_rows");
	json_out_int(&j, "seed", o->seed);
	json_out_int(&j, "threads", o->threads);
	return json_out_finish(&j);
}

/* what the training did, for recs.model.metrics */
static char *
metrics_json(const GlmixTraining *t, const TrainOptions *o, double final_obj,
			 const PassLog *history, double vauc, double vll, const double *phase,
			 double train_seconds)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_number(&j, "objective", final_obj, "%.6f");
	json_out_int(&j, "train_rows", t->rows->n);
	json_out_int(&j, "train_positive", t->rows->n_positive);
	json_out_int(&j, "fixed_features", t->lay.dim);
	json_out_object(&j, "entity_models");
	for (int k = 0; k < t->nre; k++)
		json_out_int(&j, t->co[k].re->column, t->co[k].nmodels);
	json_out_end(&j);
	if (t->vrows)
	{
		json_out_number(&j, "validation_auc", vauc, "%.6f");
		json_out_number(&j, "validation_logloss", vll, "%.6f");
	}
	json_out_array(&j, "passes");
	for (int p = 0; p < o->passes; p++)
	{
		json_out_object(&j, NULL);
		json_out_int(&j, "pass", p + 1);
		json_out_number(&j, "objective", history[p].objective, "%.6f");
		if (t->vrows)
		{
			json_out_number(&j, "validation_auc", history[p].vauc, "%.6f");
			json_out_number(&j, "validation_logloss", history[p].vll, "%.6f");
		}
		json_out_end(&j);
	}
	json_out_end(&j);
	json_out_object(&j, "seconds");
	json_out_number(&j, "read", phase[0], "%.3f");
	json_out_number(&j, "stage", phase[1], "%.3f");
	json_out_number(&j, "fit", phase[2], "%.3f");
	json_out_number(&j, "store", phase[3], "%.3f");
	json_out_end(&j);
	json_out_number(&j, "train_seconds", train_seconds, "%.3f");
	return json_out_finish(&j);
}

/* phase 4: the model's parts, and the learners' responded-to courses */
/*
 * The end of the training data: the latest shown_at of the impressions, when
 * they have that conventional column (blends train after it); NaN (unknown)
 * otherwise.
 */
static double
impressions_end(Oid relid)
{
	AttrNumber	att = get_attnum(relid, "shown_at");
	StringInfoData sql;
	bool		isnull;
	Datum		d;
	int			rc;

	if (att == InvalidAttrNumber)
		return NAN;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT max(date_part('epoch', shown_at)) FROM %s",
					 recs_relation_name(relid));
	rc = SPI_execute(sql.data, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		return NAN;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NAN : DatumGetFloat8(d);
}

static void
store_phase(int64 model_id, const GlmixTraining *t, const TrainOptions *o)
{
	GlmixModel	m;

	m.learners = t->learners;
	m.courses = t->courses;
	m.lay = t->lay;
	m.l2_fixed = t->l2_fixed;
	m.beta = t->beta;
	m.nre = t->nre;
	m.re = palloc(sizeof(GlmixRandom) * Max(t->nre, 1));
	m.coef = palloc(sizeof(double *) * Max(t->nre, 1));
	m.rows = palloc(sizeof(int *) * Max(t->nre, 1));
	m.names = NULL;
	for (int k = 0; k < t->nre; k++)
	{
		m.re[k] = *t->co[k].re;
		m.coef[k] = t->co[k].coef;
		m.rows[k] = t->co[k].rows;
	}
	glmix_store(model_id, &m);
	glmix_store_learners(model_id, t->rows, o->learners, o->ro.learner_column);
}

/*
 * The four phases, then the catalog row and metrics; returns the model id.
 */
static int64
run_training(FunctionCallInfo fcinfo, const TrainOptions *op)
{
	int			spi_level;
	TrainOptions o = *op;
	GlmixTraining t;
	double		phase[4];		/* read, stage, fit, store seconds */
	double		t0 = recs_clock_seconds(),
				tp;
	int64		model_id;
	int			save_nestlevel;
	PassLog    *history = palloc0(sizeof(PassLog) * o.passes);
	double		final_obj,
				vauc = NAN,
				vll = NAN;

	memset(&t, 0, sizeof(t));
	spi_level = recs_spi_connect();
	/* parallel plans only when asked for, and then without cost hurdles */
	save_nestlevel = NewGUCNestLevel();
	if (o.threads > 1)
	{
		set_guc("max_parallel_workers_per_gather", psprintf("%d", o.threads - 1));
		set_guc("parallel_setup_cost", "0");
		set_guc("parallel_tuple_cost", "0");
		set_guc("min_parallel_table_scan_size", "0");
	}
	else
		set_guc("max_parallel_workers_per_gather", "0");

	tp = recs_clock_seconds();
	read_phase(fcinfo, &t, &o);
	phase[0] = recs_clock_seconds() - tp;

	tp = recs_clock_seconds();
	stage_phase(&t, &o);
	phase[1] = recs_clock_seconds() - tp;

	tp = recs_clock_seconds();
	final_obj = fit_phase(&t, &o, history, &vauc, &vll);
	AtEOXact_GUC(true, save_nestlevel);
	release_fit_data(&t);
	phase[2] = recs_clock_seconds() - tp;

	tp = recs_clock_seconds();
	model_id = model_store_create(o.name, "glmix", source_json(&o), params_json(&t, &o),
								  impressions_end(o.impressions));
	store_phase(model_id, &t, &o);
	phase[3] = recs_clock_seconds() - tp;

	model_store_set_metrics(model_id, metrics_json(&t, &o, final_obj, history, vauc, vll, phase,
												   recs_clock_seconds() - t0));
	if (o.activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	return model_id;
}

/* recs.train_glmix(): options checked, then run_training() with glibc tuned */
PG_FUNCTION_INFO_V1(train_glmix);
Datum
train_glmix(PG_FUNCTION_ARGS)
{
	TrainOptions o;
	volatile int64 model_id = 0;

	read_options(fcinfo, &o);

	/*
	 * Every aggregate pass allocates and frees a few MB (states, results);
	 * glibc would hand that memory back to the kernel each time and page
	 * fault it in again, which costs more than the arithmetic.  Keep freed
	 * memory in the heap for the duration of the training, and restore
	 * glibc's defaults however it ends.
	 */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
	mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
	PG_TRY();
	{
		model_id = run_training(fcinfo, &o);
	}
	PG_FINALLY();
	{
		mallopt(M_MMAP_THRESHOLD, 128 * 1024);
		mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	}
	PG_END_TRY();
	PG_RETURN_INT64(model_id);
}
