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
 *   4. store -- glmix_model.c writes the coefficients with their feature
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
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "recs.h"
#include "glmix.h"
#include "rng.h"

#define MAX_RANDOM 8

static double
seconds_since(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return INSTR_TIME_GET_DOUBLE(now);
}

/* ---- option parsing ---- */

static char **
text_array_arg(FunctionCallInfo fcinfo, int argno, int *n)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (PG_ARGISNULL(argno))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("text array arguments must be one-dimensional")));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("text array arguments must not contain NULL")));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

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
		char	  **pairs = text_array_arg(fcinfo, argno, &n);

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

/*
 * recs.model_learner: each training learner with the courses they responded
 * to (positive rows), which recommend() leaves out, and their language when
 * the learners relation has a text column "language".
 */
typedef struct IdPair
{
	int64		l;
	int64		c;
} IdPair;

static int
idpair_cmp(const void *a, const void *b)
{
	const IdPair *x = a;
	const IdPair *y = b;

	if (x->l != y->l)
		return x->l < y->l ? -1 : 1;
	return x->c < y->c ? -1 : (x->c > y->c ? 1 : 0);
}

static void
store_model_learners(int64 model_id, const GlmixRows *rows, Oid learners_rel,
					 const char *learner_column)
{
	IdPair	   *pairs = palloc(sizeof(IdPair) * Max(rows->n, 1));
	Datum	   *ids = palloc(sizeof(Datum) * Max(rows->n, 1));
	Datum	   *ptr = palloc(sizeof(Datum) * (rows->n + 1));
	Datum	   *courses = palloc(sizeof(Datum) * Max(rows->n, 1));
	int64		np = 0,
				nl = 0,
				nc = 0;
	Oid			types[4] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	Datum		values[4];
	AttrNumber	lang = get_attnum(learners_rel, "language");
	bool		has_lang = lang > 0 && (get_atttype(learners_rel, lang) == TEXTOID ||
										get_atttype(learners_rel, lang) == VARCHAROID);
	char	   *sql;

	/* (learner, positive course) pairs; negatives keep the learner with no course */
	for (int64 r = 0; r < rows->n; r++)
	{
		pairs[np].l = rows->learner_id[r];
		pairs[np].c = rows->y[r] > 0 ? rows->course_id[r] : PG_INT64_MIN;
		np++;
	}
	qsort(pairs, np, sizeof(IdPair), idpair_cmp);
	for (int64 k = 0; k < np; k++)
	{
		if (k == 0 || pairs[k].l != pairs[k - 1].l)
		{
			ids[nl] = Int64GetDatum(pairs[k].l);
			ptr[nl++] = Int32GetDatum((int32) nc);
		}
		if (pairs[k].c != PG_INT64_MIN && (k == 0 || pairs[k].l != pairs[k - 1].l ||
										   pairs[k].c != pairs[k - 1].c))
			courses[nc++] = Int64GetDatum(pairs[k].c);
	}
	ptr[nl] = Int32GetDatum((int32) nc);
	values[0] = Int64GetDatum(model_id);
	values[1] = PointerGetDatum(construct_array(ids, (int) nl, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(ptr, (int) nl + 1, INT4OID, 4, true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(courses, (int) nc, INT8OID, 8, true, TYPALIGN_DOUBLE));
	sql = psprintf("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
				   " SELECT $1, u.l, %s, coalesce($4[$3[u.i] + 1 : $3[u.i + 1]], '{}')"
				   " FROM unnest($2) WITH ORDINALITY AS u(l, i)%s",
				   has_lang ? "x.language::text" : "NULL",
				   has_lang ? psprintf(" LEFT JOIN %s x ON x.%s = u.l", recs_relation_name(learners_rel),
									   quote_identifier(learner_column)) : "");
	if (SPI_execute_with_args(sql, 4, types, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write recs.model_learner");
}

/* ---- the SQL function ---- */

static void
set_guc(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

static void
json_key(StringInfo buf, const char *key)
{
	if (buf->len > 1)
		appendStringInfoString(buf, ", ");
	escape_json(buf, key);
	appendStringInfoString(buf, ": ");
}

/* a number for JSON: null when it is not finite (jsonb refuses NaN) */
static void
json_number(StringInfo buf, double x)
{
	if (isfinite(x))
		appendStringInfo(buf, "%.6f", x);
	else
		appendStringInfoString(buf, "null");
}


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
	o->lfeat = text_array_arg(fcinfo, 3, &o->nlfeat);
	o->cfeat = text_array_arg(fcinfo, 4, &o->ncfeat);
	o->name = recs_text_arg(fcinfo, 5, "glmix");
	o->ro.label = recs_text_arg(fcinfo, 6, "clicked");
	o->ro.weighting = recs_text_arg(fcinfo, 7, "none");
	o->passes = PG_ARGISNULL(9) ? 3 : PG_GETARG_INT32(9);
	o->min_rows = PG_ARGISNULL(12) ? 1 : PG_GETARG_INT32(12);
	o->max_rows = PG_ARGISNULL(13) ? 0 : PG_GETARG_INT32(13);
	o->seed = PG_ARGISNULL(15) ? 42 : PG_GETARG_INT64(15);
	o->threads = PG_ARGISNULL(16) ? 1 : PG_GETARG_INT32(16);
	o->validation = PG_ARGISNULL(17) ? InvalidOid : PG_GETARG_OID(17);
	o->activate = PG_ARGISNULL(18) ? true : PG_GETARG_BOOL(18);
	o->ro.learner_column = recs_text_arg(fcinfo, 19, "learner_id");
	o->ro.course_column = recs_text_arg(fcinfo, 20, "course_id");
	o->ro.click_column = recs_text_arg(fcinfo, 21, "clicked");
	o->ro.bookmark_column = recs_text_arg(fcinfo, 22, "bookmarked");
	o->ro.seconds_column = recs_text_arg(fcinfo, 23, "watch_seconds");
	o->ro.weight_column = recs_text_arg(fcinfo, 24, NULL);

	if (strcmp(o->ro.label, "clicked") != 0 && strcmp(o->ro.label, "bookmarked") != 0 &&
		strcmp(o->ro.label, "either") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("label must be 'clicked', 'bookmarked' or 'either', not '%s'", o->ro.label)));
	if (strcmp(o->ro.weighting, "none") != 0 && strcmp(o->ro.weighting, "watch_time") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("weighting must be 'none' or 'watch_time', not '%s'", o->ro.weighting)));
	if (o->passes < 1 || o->passes > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passes must be between 1 and 100")));
	if (o->threads < 1 || o->threads > 64)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("threads must be between 1 and 64")));
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
		o->recols = text_array_arg(fcinfo, 10, &o->nrecols);
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

/*
 * phase 3: coordinate descent.  Appends each pass to history (JSON) and
 * returns the final objective; *vauc and *vll get the validation figures.
 */
static double
fit_phase(GlmixTraining *t, const TrainOptions *o, StringInfo history, double *vauc, double *vll)
{
	double	   *offsets = palloc(sizeof(double) * t->rows->n);
	double		final_obj = 0.0;

	appendStringInfoChar(history, '[');
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
				instr_time	tc;

				CHECK_FOR_INTERRUPTS();
				INSTR_TIME_SET_CURRENT(tc);
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
								seconds_since(tc))));
				final_obj = obj;
			}
			appendStringInfo(history, "%s{\"pass\": %d, \"objective\": %.6f", pass > 1 ? ", " : "",
							 pass, final_obj);
			if (t->vrows)
			{
				appendStringInfoString(history, ", \"validation_auc\": ");
				json_number(history, *vauc);
				appendStringInfoString(history, ", \"validation_logloss\": ");
				json_number(history, *vll);
			}
			appendStringInfoChar(history, '}');
		}
	}
	PG_FINALLY();
	{
		openblas_set_num_threads(1);
	}
	PG_END_TRY();
	appendStringInfoChar(history, ']');

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
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_key(&b, "impressions");
	escape_json(&b, recs_relation_name(o->impressions));
	json_key(&b, "learners");
	escape_json(&b, recs_relation_name(o->learners));
	json_key(&b, "courses");
	escape_json(&b, recs_relation_name(o->courses));
	appendStringInfoChar(&b, '}');
	return b.data;
}

/* the hyper-parameters as trained, for recs.model.params */
static char *
params_json(const GlmixTraining *t, const TrainOptions *o)
{
	StringInfoData b;

	initStringInfo(&b);
	appendStringInfoChar(&b, '{');
	json_key(&b, "label");
	escape_json(&b, o->ro.label);
	json_key(&b, "weighting");
	escape_json(&b, o->ro.weighting);
	json_key(&b, "passes");
	appendStringInfo(&b, "%d", o->passes);
	json_key(&b, "l2");
	appendStringInfoChar(&b, '[');
	for (int k = 0; k <= t->nre; k++)
		appendStringInfo(&b, "%s%g", k ? ", " : "", o->l2[k]);
	appendStringInfoChar(&b, ']');
	json_key(&b, "random_effects");
	appendStringInfoChar(&b, '[');
	for (int k = 0; k < t->nre; k++)
	{
		if (k)
			appendStringInfoString(&b, ", ");
		escape_json(&b, t->co[k].re->column);
	}
	appendStringInfoChar(&b, ']');
	json_key(&b, "crosses");
	appendStringInfoChar(&b, '[');
	for (int p = 0; p < t->lay.ncross; p++)
	{
		if (p)
			appendStringInfoString(&b, ", ");
		escape_json(&b, psprintf("%s:%s", t->learners->cols[t->lay.cross[p].lcol].name,
								 t->courses->cols[t->lay.cross[p].ccol].name));
	}
	appendStringInfoChar(&b, ']');
	json_key(&b, "min_rows");
	appendStringInfo(&b, "%d", o->min_rows);
	json_key(&b, "max_rows");
	if (o->max_rows > 0)
		appendStringInfo(&b, "%d", o->max_rows);
	else
		appendStringInfoString(&b, "null");
	json_key(&b, "seed");
	appendStringInfo(&b, INT64_FORMAT, o->seed);
	json_key(&b, "threads");
	appendStringInfo(&b, "%d", o->threads);
	appendStringInfoChar(&b, '}');
	return b.data;
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
	store_model_learners(model_id, t->rows, o->learners, o->ro.learner_column);
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
	instr_time	t0,
				tp;
	int64		model_id;
	int			save_nestlevel;
	StringInfoData metrics,
				history;
	double		final_obj,
				vauc = NAN,
				vll = NAN;

	INSTR_TIME_SET_CURRENT(t0);
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

	INSTR_TIME_SET_CURRENT(tp);
	read_phase(fcinfo, &t, &o);
	phase[0] = seconds_since(tp);

	INSTR_TIME_SET_CURRENT(tp);
	stage_phase(&t, &o);
	phase[1] = seconds_since(tp);

	INSTR_TIME_SET_CURRENT(tp);
	initStringInfo(&history);
	final_obj = fit_phase(&t, &o, &history, &vauc, &vll);
	AtEOXact_GUC(true, save_nestlevel);
	release_fit_data(&t);
	phase[2] = seconds_since(tp);

	INSTR_TIME_SET_CURRENT(tp);
	model_id = model_store_create(o.name, "glmix", source_json(&o), params_json(&t, &o),
								  impressions_end(o.impressions));
	store_phase(model_id, &t, &o);
	phase[3] = seconds_since(tp);

	initStringInfo(&metrics);
	appendStringInfoChar(&metrics, '{');
	json_key(&metrics, "objective");
	appendStringInfo(&metrics, "%.6f", final_obj);
	json_key(&metrics, "train_rows");
	appendStringInfo(&metrics, INT64_FORMAT, t.rows->n);
	json_key(&metrics, "train_positive");
	appendStringInfo(&metrics, INT64_FORMAT, t.rows->n_positive);
	json_key(&metrics, "fixed_features");
	appendStringInfo(&metrics, "%d", t.lay.dim);
	json_key(&metrics, "entity_models");
	appendStringInfoChar(&metrics, '{');
	for (int k = 0; k < t.nre; k++)
	{
		if (k)
			appendStringInfoString(&metrics, ", ");
		escape_json(&metrics, t.co[k].re->column);
		appendStringInfo(&metrics, ": %d", t.co[k].nmodels);
	}
	appendStringInfoChar(&metrics, '}');
	if (t.vrows)
	{
		json_key(&metrics, "validation_auc");
		json_number(&metrics, vauc);
		json_key(&metrics, "validation_logloss");
		json_number(&metrics, vll);
	}
	json_key(&metrics, "passes");
	appendStringInfoString(&metrics, history.data);
	json_key(&metrics, "seconds");
	appendStringInfo(&metrics, "{\"read\": %.3f, \"stage\": %.3f, \"fit\": %.3f, \"store\": %.3f}",
					 phase[0], phase[1], phase[2], phase[3]);
	json_key(&metrics, "train_seconds");
	appendStringInfo(&metrics, "%.3f", seconds_since(t0));
	appendStringInfoChar(&metrics, '}');
	model_store_set_metrics(model_id, metrics.data);
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
