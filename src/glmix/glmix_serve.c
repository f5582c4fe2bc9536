/*
 * glmix_serve.c -- serving a GLMix model (glmix_store.c writes it):
 * recs.glmix_score() and recs.explain()
 *
 * A model is stored in four tables (see 50_glmix.sql), all keyed by
 * model_id with ON DELETE CASCADE:
 *   glmix_coordinate  one row per coordinate: the fixed effect (position
 *                     0) and each random effect, with its feature names,
 *                     L2 weight and, for the fixed effect, the crosses;
 *   glmix_column      the feature columns of each side and where their
 *                     features sit (so scoring rebuilds x(l, c) exactly);
 *   glmix_entity      every learner's and course's feature vector, and
 *                     the attribute keys of attribute-keyed effects;
 *   glmix_coef        the coefficient vectors: the fixed effect (entity
 *                     '') and one per entity that got a model.
 * The view recs.glmix_coefficients unnests them with feature names, which
 * is what analysts query.
 *
 * Serving loads a model once per backend through the serving cache and
 * scores from memory.  A learner or course the model has no features for
 * contributes no features; an entity with no model of its own (unknown,
 * or below min_rows in training) has a random effect of zero, so its score
 * is the fixed effect plus the other effects.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "spi_util.h"
#include "glmix.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"

#define EXPLAIN_TOP 5

/* ---- load ---- */

/*
 * SPI_execute_with_args returns with the SPI procedure context current;
 * the loader must keep allocating in the serving cache's part context, so
 * every query goes through here.
 */
static int
load_query(const char *sql, int nargs, Oid *types, Datum *values)
{
	MemoryContext cxt = CurrentMemoryContext;
	int			rc = SPI_execute_with_args(sql, nargs, types, values, NULL, true, 0);

	MemoryContextSwitchTo(cxt);
	return rc;
}

/*
 * The largest fixed effect glmix_fixed_layout() builds (its Newton solver
 * keeps a dense Hessian); each side's features are part of it, so they
 * are bounded by it too.
 */
#define GLMIX_MAX_FIXED_DIM 8192

/* a checked text[] column as C strings (NULL elements are errors unless nulls_ok) */
static int
load_texts(const ModelRow *row, const char *col, Datum d, bool nulls_ok, char ***out)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Datum	   *el;
	bool	   *nulls;
	int			n;

	if (ARR_NDIM(a) > 1)
		model_row_corrupt(row, "%s has %d dimensions, expected one", col, ARR_NDIM(a));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &el, &nulls, &n);
	*out = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] && !nulls_ok)
			model_row_corrupt(row, "element %d of %s is NULL", i + 1, col);
		(*out)[i] = nulls[i] ? NULL : TextDatumGetCString(el[i]);
	}
	return n;
}

/*
 * Rebuild a side (columns, vectors, attribute keys) from the store.
 * Validated: glmix_column positions 0, 1, ... with each column's features
 * following the previous column's (first_feature = the running total,
 * n_features >= 0), at most GLMIX_MAX_FIXED_DIM features in all;
 * glmix_entity's features strictly ascending in 0..nfeat-1, "values" as
 * many finite floats, keys NULL or one per random effect, non-NULL only at
 * the effects keyed by an attribute of this side.
 */
static GlmixSide *
load_side(int64 model_id, const char *side, const GlmixRandom *re, int nre, char ****keys_out)
{
	GlmixSide  *s = palloc0(sizeof(GlmixSide));
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(model_id), CStringGetTextDatum(side)};
	int64		nnz = 0,
				cap = 1024;
	char	 ***keys;
	bool		learner_side = strcmp(side, "learner") == 0;
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_column");

	s->what = pstrdup(side);
	if (load_query("SELECT name, kind, first_feature, n_features, mean, sd, position"
				   " FROM recs.glmix_column WHERE model_id = $1 AND side = $2 ORDER BY position",
				   2, types, v) != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.glmix_column");
	s->ncols = (int) SPI_processed;
	s->cols = palloc0(sizeof(GlmixColumn) * Max(s->ncols, 1));
	for (int c = 0; c < s->ncols; c++)
	{
		HeapTuple	tup = SPI_tuptable->vals[c];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *kind = SPI_getvalue(tup, desc, 2);
		int			first = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		int			nf = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));

		model_row_key_text(&row, 0, "side", side);
		model_row_key_int(&row, 1, "position", DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull)));
		check_model_equal(&row, "position", row.key[1].num, c, "the number of columns before it");
		check_model_equal(&row, "first_feature", first, s->nfeat,
						  "the number of features of the columns before it");
		check_model_range(&row, "n_features", nf, 0, GLMIX_MAX_FIXED_DIM - s->nfeat);
		s->cols[c].name = SPI_getvalue(tup, desc, 1);
		s->cols[c].kind = strcmp(kind, "numeric") == 0 ? GLMIX_NUMERIC :
			strcmp(kind, "multihot") == 0 ? GLMIX_MULTIHOT : GLMIX_ONEHOT;
		s->cols[c].start = first;
		s->cols[c].end = first + nf;
		s->cols[c].mean = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));
		s->cols[c].sd = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
		s->nfeat = s->cols[c].end;
	}
	SPI_freetuptable(SPI_tuptable);

	row = MODEL_ROW(model_id, "recs.glmix_entity");
	if (load_query("SELECT id, features, \"values\", keys FROM recs.glmix_entity"
				   " WHERE model_id = $1 AND side = $2 ORDER BY id", 2, types, v) != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.glmix_entity");
	if (SPI_processed > PG_INT32_MAX - 1)
		model_row_corrupt(&row, "the %s side has " UINT64_FORMAT " rows, more than %d",
						  side, SPI_processed, PG_INT32_MAX - 1);
	s->n = (int) SPI_processed;
	s->ids = palloc(sizeof(int64) * Max(s->n, 1));
	s->ptr = palloc(sizeof(int32) * (s->n + 1));
	s->col = palloc(sizeof(int32) * cap);
	s->val = palloc(sizeof(double) * cap);
	keys = palloc0(sizeof(char **) * Max(nre, 1));
	for (int k = 0; k < nre; k++)
		keys[k] = palloc0(sizeof(char *) * Max(s->n, 1));
	s->ptr[0] = 0;
	for (int i = 0; i < s->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		fd = SPI_getbinval(tup, desc, 2, &isnull);
		Datum		vd = SPI_getbinval(tup, desc, 3, &isnull);
		ArrayType  *fa = DatumGetArrayTypeP(fd);
		ArrayType  *va = DatumGetArrayTypeP(vd);
		int			nf;
		const int32 *f;
		const double *vals;
		bool		keynull;
		Datum		kd = SPI_getbinval(tup, desc, 4, &keynull);

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		s->ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		model_row_key_text(&row, 0, "side", side);
		model_row_key_int(&row, 1, "id", s->ids[i]);
		f = check_model_indexes(&row, "features", fa, s->nfeat, &nf);
		vals = check_model_float8s(&row, "values", va, nf, "the length of features", NULL);
		if (nnz + nf > PG_INT32_MAX)
			model_row_corrupt(&row, "the %s side has more than %d features in all",
							  side, PG_INT32_MAX);
		while (nnz + nf > cap)
		{
			cap *= 2;
			s->col = repalloc_huge(s->col, sizeof(int32) * cap);
			s->val = repalloc_huge(s->val, sizeof(double) * cap);
		}
		memcpy(s->col + nnz, f, sizeof(int32) * nf);
		memcpy(s->val + nnz, vals, sizeof(double) * nf);
		/* detoasted copies: the model part keeps only its own arrays */
		if ((Pointer) fa != DatumGetPointer(fd))
			pfree(fa);
		if ((Pointer) va != DatumGetPointer(vd))
			pfree(va);
		nnz += nf;
		s->ptr[i + 1] = (int32) nnz;
		if (!keynull)
		{
			char	  **kk;
			int			nk = load_texts(&row, "keys", kd, true, &kk);

			check_model_equal(&row, "the length of keys", nk, nre,
							  "the number of random effects");
			for (int k = 0; k < nre; k++)
			{
				bool		attribute = !re[k].by_id && re[k].learner_side == learner_side;

				if (kk[k] != NULL && !attribute)
					model_row_corrupt(&row, "element %d of keys is set, but random effect \"%s\" "
									  "is not keyed by an attribute of the %s", k + 1,
									  re[k].column, side);
				keys[k][i] = kk[k];
			}
		}
	}
	SPI_freetuptable(SPI_tuptable);
	*keys_out = keys;
	return s;
}

static int
key_find(char **keys, int n, const char *key)
{
	char	  **hit;

	if (key == NULL)
		return -1;
	hit = bsearch(&key, keys, n, sizeof(char *), pg_qsort_strcmp);
	return hit ? (int) (hit - keys) : -1;
}

/*
 * Serving cache loader: the whole model as training left it, rebuilt from
 * the tables (the fixed layout from the stored column ranges and cross
 * names).  Entity keys are sorted in C collation so lookups are binary
 * searches.  Validated, besides the sides (load_side): glmix_coordinate
 * positions 0, 1, ... with the fixed effect first (named "fixed", keyed by
 * nothing) and every random effect keyed by a side; feature names without
 * NULLs; crosses of the form "learner column:course column" naming
 * existing columns; the fixed dimension (intercept, both sides' features,
 * the crosses' blocks) equal to its stored feature names and at most
 * GLMIX_MAX_FIXED_DIM; a random effect's dimension equal to its intercept
 * plus the other side's features; l2 finite and positive; glmix_coef
 * holding exactly one fixed vector (entity '') and, per random effect,
 * as many vectors as its coordinate's entities, each of the coordinate's
 * dimension and finite.
 */
static void *
load_glmix(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	GlmixModel *m;
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(model_id)};
	char	  **crosses = NULL;
	int			ncross = 0;
	char	 ***lkeys,
			 ***ckeys;
	int		   *entities;
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_coordinate");

	/* everything below allocates in cxt; load_query() keeps it current */
	MemoryContextSwitchTo(cxt);
	m = palloc0(sizeof(GlmixModel));
	if (load_query("SELECT position, name, keyed_by, by_id, l2, intercept, features, crosses, entities"
				   " FROM recs.glmix_coordinate WHERE model_id = $1 ORDER BY position",
				   1, types, v) != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.glmix_coordinate");
	if (SPI_processed == 0)
		model_row_corrupt(&row, "the glmix model has no coordinates");
	if (SPI_processed > 1 + GLMIX_MAX_FIXED_DIM)
		model_row_corrupt(&row, "the glmix model has " UINT64_FORMAT " coordinates, more than %d",
						  SPI_processed, 1 + GLMIX_MAX_FIXED_DIM);
	m->nre = (int) SPI_processed - 1;
	m->re = palloc0(sizeof(GlmixRandom) * Max(m->nre, 1));
	m->coef = palloc0(sizeof(double *) * Max(m->nre, 1));
	m->rows = palloc0(sizeof(int *) * Max(m->nre, 1));
	m->names = palloc0(sizeof(char **) * (m->nre + 1));
	entities = palloc0(sizeof(int) * (m->nre + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *name = SPI_getvalue(tup, desc, 2);
		char	   *keyed_by = SPI_getvalue(tup, desc, 3);
		int			dim;
		double		l2 = DatumGetFloat8(SPI_getbinval(tup, desc, 5, &isnull));

		model_row_key_int(&row, 0, "position", DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)));
		check_model_equal(&row, "position", row.key[0].num, (int64) i,
						  "the number of coordinates before it");
		dim = load_texts(&row, "features", SPI_getbinval(tup, desc, 7, &isnull), false, &m->names[i]);
		if (!(l2 > 0) || !isfinite(l2))
			model_row_corrupt(&row, "l2 is %g, not a positive finite number", l2);
		entities[i] = DatumGetInt32(SPI_getbinval(tup, desc, 9, &isnull));
		if (i == 0)
		{
			bool		crossnull;
			Datum		cd = SPI_getbinval(tup, desc, 8, &crossnull);

			if (strcmp(name, "fixed") != 0 || keyed_by != NULL)
				model_row_corrupt(&row, "the first coordinate is \"%s\" keyed by %s, "
								  "not the fixed effect", name, keyed_by ? keyed_by : "nothing");
			check_model_range(&row, "the number of features", dim, 1, GLMIX_MAX_FIXED_DIM);
			m->l2_fixed = l2;
			m->lay.intercept = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
			m->lay.dim = dim;
			if (!crossnull)
				ncross = load_texts(&row, "crosses", cd, false, &crosses);
		}
		else
		{
			GlmixRandom *re = &m->re[i - 1];

			if (keyed_by == NULL || strcmp(name, "fixed") == 0)
				model_row_corrupt(&row, "random effect \"%s\" is keyed by %s", name,
								  keyed_by ? keyed_by : "nothing");
			re->column = name;
			re->learner_side = strcmp(keyed_by, "learner") == 0;
			re->by_id = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			re->l2 = l2;
			re->intercept = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
			re->dim = dim;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	m->learners = load_side(model_id, "learner", m->re, m->nre, &lkeys);
	m->courses = load_side(model_id, "course", m->re, m->nre, &ckeys);

	/* the fixed layout, rebuilt from the column names of the crosses */
	row = MODEL_ROW(model_id, "recs.glmix_coordinate");
	model_row_key_int(&row, 0, "position", 0);
	m->lay.cross = palloc(sizeof(GlmixCross) * Max(ncross, 1));
	m->lay.ncross = ncross;
	{
		int64		dim = (m->lay.intercept ? 1 : 0) + m->learners->nfeat + m->courses->nfeat;

		for (int p = 0; p < ncross; p++)
		{
			char	   *colon = strchr(crosses[p], ':');
			GlmixCross *x = &m->lay.cross[p];

			x->lcol = colon ? glmix_side_column(m->learners, pnstrdup(crosses[p], colon - crosses[p])) : -1;
			x->ccol = colon ? glmix_side_column(m->courses, colon + 1) : -1;
			if (x->lcol < 0 || x->ccol < 0)
				model_row_corrupt(&row, "element %d of crosses, \"%s\", does not name a learner "
								  "column and a course column", p + 1, crosses[p]);
			dim += (int64) (m->learners->cols[x->lcol].end - m->learners->cols[x->lcol].start) *
				(m->courses->cols[x->ccol].end - m->courses->cols[x->ccol].start);
		}
		check_model_equal(&row, "the number of features", m->lay.dim, dim,
						  "the dimension of the intercept, both sides' features and the crosses");
		glmix_fixed_layout(&m->lay, m->lay.intercept, m->learners, m->courses);
	}
	for (int k = 0; k < m->nre; k++)
	{
		const GlmixSide *other = m->re[k].learner_side ? m->courses : m->learners;

		model_row_key_int(&row, 0, "position", k + 1);
		check_model_equal(&row, "the number of features", m->re[k].dim,
						  (m->re[k].intercept ? 1 : 0) + other->nfeat,
						  "the intercept and the other side's features");
	}

	/* coefficients */
	for (int k = -1; k < m->nre; k++)
	{
		Oid			t2[2] = {INT8OID, TEXTOID};
		const char *coordinate = k < 0 ? "fixed" : m->re[k].column;
		Datum		v2[2] = {Int64GetDatum(model_id), CStringGetTextDatum(coordinate)};
		int			dim = k < 0 ? m->lay.dim : m->re[k].dim;
		double	   *coef;

		if (load_query("SELECT entity, rows, coef FROM recs.glmix_coef"
					   " WHERE model_id = $1 AND coordinate = $2 ORDER BY entity COLLATE \"C\"",
					   2, t2, v2) != SPI_OK_SELECT)
			elog(ERROR, "could not read recs.glmix_coef");
		row = MODEL_ROW(model_id, "recs.glmix_coef");
		model_row_key_text(&row, 0, "coordinate", coordinate);
		check_model_equal(&row, "the number of coefficient vectors", (int64) SPI_processed,
						  entities[k + 1], "the coordinate's entities");
		coef = MemoryContextAllocHuge(CurrentMemoryContext,
									  mul_size(sizeof(double), Max(mul_size(SPI_processed, dim), 1)));
		if (k >= 0)
		{
			m->re[k].nent = (int) SPI_processed;
			m->re[k].keys = palloc(sizeof(char *) * Max(SPI_processed, 1));
			m->rows[k] = palloc(sizeof(int) * Max(SPI_processed, 1));
		}
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			char	   *entity = SPI_getvalue(tup, desc, 1);
			Datum		cd = SPI_getbinval(tup, desc, 3, &isnull);
			ArrayType  *ca = DatumGetArrayTypeP(cd);
			const double *c;

			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			model_row_key_text(&row, 1, "entity", entity);
			if (k < 0 && entity[0] != '\0')
				model_row_corrupt(&row, "the fixed effect's vector has entity \"%s\", not ''", entity);
			c = check_model_float8s(&row, "coef", ca, dim, "the coordinate's number of features", NULL);
			memcpy(coef + (Size) i * dim, c, sizeof(double) * dim);
			if ((Pointer) ca != DatumGetPointer(cd))
				pfree(ca);
			if (k >= 0)
			{
				m->re[k].keys[i] = entity;
				m->rows[k][i] = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
			}
		}
		SPI_freetuptable(SPI_tuptable);
		if (k < 0)
			m->beta = coef;
		else
		{
			GlmixRandom *re = &m->re[k];
			GlmixSide  *side = re->learner_side ? m->learners : m->courses;
			char	  **sidekeys = re->learner_side ? lkeys[k] : ckeys[k];

			m->coef[k] = coef;

			/*
			 * Every side row's entity, for id-keyed effects too: scoring a
			 * learner's catalogue then needs no key lookup per course.
			 */
			re->side_entity = palloc(sizeof(int) * Max(side->n, 1));
			for (int i = 0; i < side->n; i++)
			{
				if (re->by_id)
				{
					char		key[32];

					snprintf(key, sizeof(key), INT64_FORMAT, side->ids[i]);
					re->side_entity[i] = key_find(re->keys, re->nent, key);
				}
				else
					re->side_entity[i] = key_find(re->keys, re->nent, sidekeys[i]);
			}
		}
	}
	return m;
}

/*
 * The model a SQL function names (arguments 0: model, slot_arg: slot),
 * checked to be a glmix model, from the serving cache; NULL when it names
 * none (the function returns NULL, as when it was STRICT).
 */
static GlmixModel *
glmix_model_arg(FunctionCallInfo fcinfo, int slot_arg)
{
	ServingModel m;

	if (!serving_model_arg(fcinfo, 0, slot_arg, false, &m))
		return NULL;
	if (m.routine != &glmix_kind)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("recs model " INT64_FORMAT " is a %s model, not a glmix model", m.model_id, m.kind)));
	return serving_cache_get(m.model_id, m.stamp, "glmix", load_glmix, NULL);
}

/* ---- scoring ---- */

typedef struct Contribution
{
	int			feature;
	double		value;
} Contribution;

/*
 * The logit; parts[k] receives coordinate k's share (0 fixed, 1+k effect
 * k) when not NULL, and top[k] / ntop[k] its largest feature contributions.
 */
static double
model_logit_at(const GlmixModel *m, int li, int ci, int64 learner_id, int64 course_id,
			   double *parts, int *entity, Contribution **top, int *ntop)
{
	int			n = glmix_fixed_row(&m->lay, m->learners, m->courses, li, ci, NULL, NULL);
	int32		colbuf[256];
	double		valbuf[256];
	int32	   *col = n <= lengthof(colbuf) ? colbuf : palloc(sizeof(int32) * n);
	double	   *val = n <= lengthof(valbuf) ? valbuf : palloc(sizeof(double) * n);
	double		total = 0.0,
				s = 0.0;

	glmix_fixed_row(&m->lay, m->learners, m->courses, li, ci, col, val);
	for (int k = 0; k < n; k++)
	{
		s += val[k] * m->beta[col[k]];
		if (top)
		{
			/* keep the EXPLAIN_TOP largest |contributions| (insertion) */
			Contribution c = {col[k], val[k] * m->beta[col[k]]};
			int			j = Min(ntop[0], EXPLAIN_TOP - 1);

			if (ntop[0] < EXPLAIN_TOP)
				ntop[0]++;
			else if (fabs(c.value) <= fabs(top[0][j].value))
				continue;
			while (j > 0 && fabs(top[0][j - 1].value) < fabs(c.value))
			{
				top[0][j] = top[0][j - 1];
				j--;
			}
			top[0][j] = c;
		}
	}
	total += s;
	if (parts)
		parts[0] = s;
	for (int k = 0; k < m->nre; k++)
	{
		const GlmixRandom *re = &m->re[k];
		const GlmixSide *other = re->learner_side ? m->courses : m->learners;
		int			oi = re->learner_side ? ci : li;
		int			e;
		const double *b;
		int			shift = re->intercept ? 1 : 0;

		int			si = re->learner_side ? li : ci;

		if (si >= 0 && re->side_entity)
			e = re->side_entity[si];
		else if (re->by_id)
		{
			/* an id the side relation does not list can still have a model */
			char		key[32];

			snprintf(key, sizeof(key), INT64_FORMAT, re->learner_side ? learner_id : course_id);
			e = key_find(re->keys, re->nent, key);
		}
		else
			e = -1;
		if (entity)
			entity[k + 1] = e;
		s = 0.0;
		if (e >= 0)
		{
			b = m->coef[k] + (Size) e * re->dim;
			for (int j = -shift; oi >= 0 ? j < other->ptr[oi + 1] - other->ptr[oi] : j < 0; j++)
			{
				int			f = j < 0 ? 0 : shift + other->col[other->ptr[oi] + j];
				double		x = j < 0 ? 1.0 : other->val[other->ptr[oi] + j];
				double		cv = x * b[f];

				s += cv;
				if (top)
				{
					Contribution c = {f, cv};
					int			t = Min(ntop[k + 1], EXPLAIN_TOP - 1);

					if (ntop[k + 1] < EXPLAIN_TOP)
						ntop[k + 1]++;
					else if (fabs(c.value) <= fabs(top[k + 1][t].value))
						continue;
					while (t > 0 && fabs(top[k + 1][t - 1].value) < fabs(c.value))
					{
						top[k + 1][t] = top[k + 1][t - 1];
						t--;
					}
					top[k + 1][t] = c;
				}
			}
		}
		total += s;
		if (parts)
			parts[k + 1] = s;
	}
	if (col != colbuf)
		pfree(col);
	if (val != valbuf)
		pfree(val);
	return total;
}

static double
model_logit(const GlmixModel *m, int64 learner_id, int64 course_id, double *parts,
			int *entity, Contribution **top, int *ntop)
{
	return model_logit_at(m, glmix_side_index(m->learners, learner_id),
						  glmix_side_index(m->courses, course_id), learner_id, course_id,
						  parts, entity, top, ntop);
}

double
glmix_model_logit(const GlmixModel *m, int64 learner_id, int64 course_id, double *parts)
{
	return model_logit(m, learner_id, course_id, parts, NULL, NULL, NULL);
}

/*
 * Serving (recommend() and evaluate() through serving_score_courses): the
 * predicted response of the learner to every course the model has features
 * for.  An unknown learner is scored by the fixed and per-course effects.
 */
static void
glmix_score_courses(const ServingModel *sm, const ServingLearner *l, CourseScores *out)
{
	GlmixModel *m = serving_cache_get(sm->model_id, sm->stamp, "glmix", load_glmix, NULL);
	const GlmixSide *courses = m->courses;

	int			li = glmix_side_index(m->learners, l->learner_id);

	out->n = courses->n;
	out->course_id = courses->ids;
	out->score = palloc(sizeof(double) * Max(courses->n, 1));
	/* course i is row i of the courses side: the learner is looked up once */
	for (int i = 0; i < courses->n; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		out->score[i] = glmix_sigmoid(model_logit_at(m, li, i, l->learner_id, courses->ids[i],
													 NULL, NULL, NULL, NULL));
	}
}

/* the scores glmix_score_courses() gives the listed courses only (NaN: not in the model) */
static void
glmix_score_listed(const ServingModel *sm, const ServingLearner *l, int n,
				   const int64 *course_ids, double *out)
{
	GlmixModel *m = serving_cache_get(sm->model_id, sm->stamp, "glmix", load_glmix, NULL);
	int			li = glmix_side_index(m->learners, l->learner_id);

	for (int i = 0; i < n; i++)
	{
		int			ci = glmix_side_index(m->courses, course_ids[i]);

		out[i] = ci >= 0 ? glmix_sigmoid(model_logit_at(m, li, ci, l->learner_id, course_ids[i],
														NULL, NULL, NULL, NULL)) : NAN;
	}
}

/*
 * The logit of (model, learner, course, slot): arguments 0, 1, 2, 3; false
 * when an argument is NULL (and model and slot both are)
 */
static bool
logit_arg(FunctionCallInfo fcinfo, double *logit)
{
	GlmixModel *m;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (m = glmix_model_arg(fcinfo, 3)) == NULL)
		return false;
	*logit = glmix_model_logit(m, PG_GETARG_INT64(1), PG_GETARG_INT64(2), NULL);
	return true;
}

PG_FUNCTION_INFO_V1(glmix_score);
Datum
glmix_score(PG_FUNCTION_ARGS)
{
	double		logit;

	if (!logit_arg(fcinfo, &logit))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(glmix_sigmoid(logit));
}

PG_FUNCTION_INFO_V1(glmix_logit);
Datum
glmix_logit(PG_FUNCTION_ARGS)
{
	double		logit;

	if (!logit_arg(fcinfo, &logit))
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(logit);
}

PG_FUNCTION_INFO_V1(glmix_explain);
Datum
glmix_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		learner_id;
	int64		course_id;
	GlmixModel *m;
	double	   *parts;
	int		   *entity;
	Contribution **top;
	int		   *ntop;
	double		logit;

	InitMaterializedSRF(fcinfo, 0);
	/* a NULL argument: no rows (it was STRICT) */
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (m = glmix_model_arg(fcinfo, 3)) == NULL)
		return (Datum) 0;
	learner_id = PG_GETARG_INT64(1);
	course_id = PG_GETARG_INT64(2);
	parts = palloc0(sizeof(double) * (m->nre + 1));
	entity = palloc0(sizeof(int) * (m->nre + 1));
	ntop = palloc0(sizeof(int) * (m->nre + 1));
	top = palloc(sizeof(Contribution *) * (m->nre + 1));
	for (int k = 0; k <= m->nre; k++)
		top[k] = palloc(sizeof(Contribution) * EXPLAIN_TOP);
	logit = model_logit(m, learner_id, course_id, parts, entity, top, ntop);

	for (int k = 0; k <= m->nre + 1; k++)
	{
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		if (k <= m->nre)
		{
			Datum	   *names = palloc(sizeof(Datum) * Max(ntop[k], 1));
			double	   *cv = palloc(sizeof(double) * Max(ntop[k], 1));

			for (int j = 0; j < ntop[k]; j++)
			{
				names[j] = CStringGetTextDatum(m->names[k][top[k][j].feature]);
				cv[j] = top[k][j].value;
			}
			values[0] = CStringGetTextDatum(k == 0 ? "fixed" : m->re[k - 1].column);
			if (k == 0)
				nulls[1] = true;
			else if (entity[k] >= 0)
				values[1] = CStringGetTextDatum(m->re[k - 1].keys[entity[k]]);
			else
				nulls[1] = true;
			values[2] = BoolGetDatum(k == 0 || entity[k] >= 0);
			values[3] = Float8GetDatum(parts[k]);
			values[4] = PointerGetDatum(construct_array(names, ntop[k], TEXTOID, -1, false, TYPALIGN_INT));
			values[5] = PointerGetDatum(glmix_float8_array(cv, ntop[k]));
		}
		else
		{
			values[0] = CStringGetTextDatum("total");
			nulls[1] = true;
			values[2] = BoolGetDatum(true);
			values[3] = Float8GetDatum(logit);
			nulls[4] = nulls[5] = true;
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Probabilities of a response; a blend takes their logit.  recs.model_learner
 * holds the courses a learner responded to, not watches.
 */
const ServingKind glmix_kind = {
	.name = "glmix",
	.probability = true,
	.blend_transform = "logit",
	.history_is_watches = false,
	.score_courses = glmix_score_courses,
	.score_listed = glmix_score_listed,
};
