/*
 * glmix_serve.c -- serving a GLMix model (glmix_store.c writes it):
 * recs.glmix_score() and recs.explain()
 *
 * A model is stored in four tables (see 50_glmix.sql), all keyed by
 * model_id with ON DELETE CASCADE:
 *   glmix_coordinate  one row per coordinate: the fixed effect (position
 *                     0) and each random effect, with its feature names,
 *                     L2 weight and, for the fixed effect, the crosses,
 *                     matches and hash_bits;
 *   glmix_column      the feature columns of each side and where their
 *                     features sit (so scoring rebuilds x(l, c) exactly);
 *   glmix_entity      every learner's and course's feature vector, and
 *                     the attribute keys of attribute-keyed effects;
 *   glmix_coef        the coefficient vectors: the fixed effect (entity
 *                     '') and one per entity that got a model.
 * The view recs.glmix_coefficients unnests them with feature names, which
 * is what analysts query.
 *
 * Serving loads a model once per backend through the serving cache --
 * everything but the learners' own rows, which each call reads for its
 * learner (glmix_learner.c) -- and scores from memory.  A learner or
 * course the model has no features for contributes no features; an
 * entity with no model of its own (unknown, or below min_rows in training)
 * has a random effect of zero, so its score is the fixed effect plus the
 * other effects.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/jsonb.h"

#include "spi_util.h"
#include "glmix.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "serving_placement.h"

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
 * GLMIX_MAX_FIXED_DIM (glmix.h) is the largest fixed effect
 * glmix_fixed_layout() builds; each side's features are part of it, so
 * they are bounded by it too.
 */

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
 * Rebuild a side from the store: its columns and, with rows, every
 * entity's vector and attribute keys (glmix_side_add_entity checks each).
 * Validated: glmix_column positions 0, 1, ... with each column's features
 * following the previous column's (first_feature = the running total,
 * n_features >= 0), at most GLMIX_MAX_FIXED_DIM features in all.  The
 * learner side is loaded without rows: they grow with the learners, and a
 * call reads its learner's through glmix_model_for_learner().
 */
static GlmixSide *
load_side(int64 model_id, const char *side, bool rows, const GlmixRandom *re, int nre,
		  char ****keys_out)
{
	GlmixSide  *s = palloc0(sizeof(GlmixSide));
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(model_id), CStringGetTextDatum(side)};
	int64		cap = 1024;
	char	 ***keys;
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_column");

	s->what = pstrdup(side);
	if (load_query(psprintf("SELECT name, kind, first_feature, n_features, mean, sd, position"
				   " FROM %s WHERE model_id = $1 AND side = $2 ORDER BY position", serving_table_sql("glmix_column")),
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
	if (rows)
	{
		if (load_query(psprintf("SELECT id, features, \"values\", keys FROM %s"
					   " WHERE model_id = $1 AND side = $2 ORDER BY id", serving_table_sql("glmix_entity")), 2, types, v) != SPI_OK_SELECT)
			elog(ERROR, "could not read recs.glmix_entity");
		if (SPI_processed > PG_INT32_MAX - 1)
			model_row_corrupt(&row, "the %s side has " UINT64_FORMAT " rows, more than %d",
							  side, SPI_processed, PG_INT32_MAX - 1);
		s->n = (int) SPI_processed;
	}
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
		bool		keynull;
		Datum		kd = SPI_getbinval(tup, desc, 4, &keynull);

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		s->ids[i] = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		model_row_key_text(&row, 0, "side", side);
		model_row_key_int(&row, 1, "id", s->ids[i]);
		glmix_side_add_entity(s, &row, i, SPI_getbinval(tup, desc, 2, &isnull),
							  SPI_getbinval(tup, desc, 3, &isnull), keynull, kd, re, nre,
							  keys, &cap);
	}
	if (rows)
		SPI_freetuptable(SPI_tuptable);
	*keys_out = keys;
	return s;
}

/*
 * The fixed coordinate's matches and hash_bits (0.4.0 on); before the
 * extension is updated the table has no such columns: none.
 */
static int
load_fixed_extras(int64 model_id, char ***matches, int *hash_bits)
{
	Oid			relid = get_relname_relid("glmix_coordinate", get_namespace_oid("recs", false));
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(model_id)};
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_coordinate");
	int			n = 0;
	bool		isnull;
	Datum		d;

	*hash_bits = 0;
	if (!OidIsValid(relid) || get_attnum(relid, "hash_bits") == InvalidAttrNumber)
		return 0;
	if (load_query(psprintf("SELECT matches, hash_bits FROM %s"
				   " WHERE model_id = $1 AND position = 0", serving_table_sql("glmix_coordinate")), 1, types, v) != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.glmix_coordinate");
	if (SPI_processed != 1)
		return 0;
	model_row_key_int(&row, 0, "position", 0);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		n = load_texts(&row, "matches", d, false, matches);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull)
	{
		*hash_bits = DatumGetInt32(d);
		check_model_range(&row, "hash_bits", *hash_bits, 1, GLMIX_MAX_HASH_BITS);
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * The columns a model read for matches only (glmix_column.value_names set,
 * 0.4.0 on): they come after the feature columns, and their features'
 * names are the stored ones.  Sets side->nmodel.
 */
static void
load_match_only_columns(int64 model_id, GlmixSide *s)
{
	Oid			relid = get_relname_relid("glmix_column", get_namespace_oid("recs", false));
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		v[2] = {Int64GetDatum(model_id), CStringGetTextDatum(s->what)};
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_column");

	s->nmodel = s->nfeat;
	if (!OidIsValid(relid) || get_attnum(relid, "value_names") == InvalidAttrNumber)
		return;
	if (load_query(psprintf("SELECT position, value_names FROM %s"
				   " WHERE model_id = $1 AND side = $2 AND value_names IS NOT NULL ORDER BY position", serving_table_sql("glmix_column")),
				   2, types, v) != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.glmix_column");
	if (SPI_processed > 0)
		s->names = palloc0(sizeof(char *) * Max(s->nfeat, 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			c = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		GlmixColumn *col;
		char	  **names;
		int			n;

		model_row_key_text(&row, 0, "side", s->what);
		model_row_key_int(&row, 1, "position", c);
		check_model_range(&row, "position", c, 0, s->ncols - 1);
		col = &s->cols[c];
		if (i == 0)
			s->nmodel = col->start;
		else if (c != s->ncols - (int) (SPI_processed - i))
			model_row_corrupt(&row, "a column read for matches only is followed by a feature column");
		if (col->kind == GLMIX_NUMERIC)
			model_row_corrupt(&row, "a numeric column is read for matches only");
		n = load_texts(&row, "value_names",
					   SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull),
					   false, &names);
		check_model_equal(&row, "the length of value_names", n, col->end - col->start, "n_features");
		col->match_only = true;
		memcpy(s->names + col->start, names, sizeof(char *) * n);
	}
	if (SPI_processed > 0 && s->ncols - (int) SPI_processed > 0 &&
		s->cols[s->ncols - SPI_processed].start != s->nmodel)
		model_row_corrupt(&row, "the columns read for matches only are not the last ones");
	SPI_freetuptable(SPI_tuptable);
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
 * Serving cache loader: the model as training left it but for its rows of
 * single learners (see glmix_learner.c), rebuilt from the tables (the fixed
 * layout from the stored column ranges and cross names), so its size depends
 * on the catalogue, not on the number of learners.  Entity keys are sorted
 * in C collation so lookups are binary searches.  Validated, besides the
 * sides (load_side): glmix_coordinate positions 0, 1, ... with the fixed
 * effect first (named "fixed", keyed by nothing) and every random effect
 * keyed by a side; feature names without NULLs; crosses of the form "learner
 * column:course column" naming existing columns; the fixed dimension
 * (intercept, both sides' features, the crosses' blocks) equal to its stored
 * feature names and at most GLMIX_MAX_FIXED_DIM; a random effect's dimension
 * equal to its intercept plus the other side's features; l2 finite and
 * positive; glmix_coef holding exactly one fixed vector (entity '') and, per
 * course-keyed random effect, as many vectors as its coordinate's entities,
 * each of the coordinate's dimension and finite.
 */
static void *
load_glmix(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	GlmixModel *m;
	Oid			types[1] = {INT8OID};
	Datum		v[1] = {Int64GetDatum(model_id)};
	char	  **crosses = NULL;
	int			ncross = 0;
	char	  **matches = NULL;
	int			nmatch = 0;
	char	 ***lkeys,		/* empty: the learner side has no rows here */
			 ***ckeys;
	int		   *entities;
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_coordinate");

	/* everything below allocates in cxt; load_query() keeps it current */
	MemoryContextSwitchTo(cxt);
	m = palloc0(sizeof(GlmixModel));
	if (load_query(psprintf("SELECT position, name, keyed_by, by_id, l2, intercept, features, crosses, entities"
				   " FROM %s WHERE model_id = $1 ORDER BY position", serving_table_sql("glmix_coordinate")),
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
			re->by_id = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
			/* keyed by an impressions column: over course features, like a learner's */
			re->context = strcmp(keyed_by, "impression") == 0;
			re->learner_side = re->context || strcmp(keyed_by, "learner") == 0;
			if (re->context && re->by_id)
				model_row_corrupt(&row, "random effect \"%s\" is keyed by an impressions column "
								  "and by an id", name);
			re->l2 = l2;
			re->intercept = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
			re->dim = dim;
		}
	}
	SPI_freetuptable(SPI_tuptable);
	nmatch = load_fixed_extras(model_id, &matches, &m->lay.hash_bits);
	m->learners = load_side(model_id, "learner", false, m->re, m->nre, &lkeys);
	m->courses = load_side(model_id, "course", true, m->re, m->nre, &ckeys);
	load_match_only_columns(model_id, m->learners);
	load_match_only_columns(model_id, m->courses);

	/* the fixed layout, rebuilt from the column names of the crosses */
	row = MODEL_ROW(model_id, "recs.glmix_coordinate");
	model_row_key_int(&row, 0, "position", 0);
	m->lay.cross = palloc(sizeof(GlmixCross) * Max(ncross, 1));
	m->lay.ncross = ncross;
	{
		int64		dim = (m->lay.intercept ? 1 : 0) + m->learners->nmodel + m->courses->nmodel;

		for (int p = 0; p < ncross; p++)
		{
			char	   *colon = strchr(crosses[p], ':');
			GlmixCross *x = &m->lay.cross[p];

			x->lcol = colon ? glmix_side_column(m->learners, pnstrdup(crosses[p], colon - crosses[p])) : -1;
			x->ccol = colon ? glmix_side_column(m->courses, colon + 1) : -1;
			if (x->lcol < 0 || x->ccol < 0 || m->learners->cols[x->lcol].match_only ||
				m->courses->cols[x->ccol].match_only)
				model_row_corrupt(&row, "element %d of crosses, \"%s\", does not name a learner "
								  "column and a course column", p + 1, crosses[p]);
			if (m->lay.hash_bits == 0)
				dim += (int64) (m->learners->cols[x->lcol].end - m->learners->cols[x->lcol].start) *
					(m->courses->cols[x->ccol].end - m->courses->cols[x->ccol].start);
		}
		if (m->lay.hash_bits > 0 && ncross > 0)
			dim += (int64) 1 << m->lay.hash_bits;
		m->lay.match = palloc0(sizeof(GlmixMatch) * Max(nmatch, 1));
		m->lay.nmatch = nmatch;
		for (int q = 0; q < nmatch; q++)
		{
			GlmixMatch *mt = &m->lay.match[q];
			char		op;

			if (!glmix_split_spec(matches[q], "=~", m->learners, m->courses, &op, &mt->lcol, &mt->ccol))
				model_row_corrupt(&row, "element %d of matches, \"%s\", does not name a learner "
								  "column and a course column", q + 1, matches[q]);
			mt->kind = op == '=' ? GLMIX_MATCH_EQUAL : GLMIX_MATCH_OVERLAP;
			if (glmix_match_incompatible(mt->kind, m->learners, mt->lcol, m->courses, mt->ccol))
				model_row_corrupt(&row, "element %d of matches, \"%s\", compares columns of "
								  "incompatible kinds", q + 1, matches[q]);
			dim += GLMIX_MATCH_WIDTH(mt->kind);
		}
		check_model_equal(&row, "the number of features", m->lay.dim, dim,
						  "the dimension of the intercept, both sides' features, the crosses and the matches");
		glmix_fixed_layout(&m->lay, m->lay.intercept, m->learners, m->courses);
		/* the matches' value maps and the crosses' hashes, from the stored names */
		glmix_fixed_prepare(&m->lay, m->learners, m->courses,
							glmix_side_names(m->learners, m->names[0] + m->lay.l_base),
							glmix_side_names(m->courses, m->names[0] + m->lay.c_base));
	}
	for (int k = 0; k < m->nre; k++)
	{
		const GlmixSide *other = m->re[k].learner_side ? m->courses : m->learners;

		model_row_key_int(&row, 0, "position", k + 1);
		check_model_equal(&row, "the number of features", m->re[k].dim,
						  (m->re[k].intercept ? 1 : 0) + other->nmodel,
						  "the intercept and the other side's features");
	}

	/*
	 * coefficients: the fixed effect's, the course-keyed and the
	 * impressions-keyed effects'; the learner-keyed effects' are read per
	 * call (glmix_model_for_learner)
	 */
	for (int k = -1; k < m->nre; k++)
	{
		Oid			t2[2] = {INT8OID, TEXTOID};
		const char *coordinate = k < 0 ? "fixed" : m->re[k].column;
		Datum		v2[2] = {Int64GetDatum(model_id), CStringGetTextDatum(coordinate)};
		int			dim = k < 0 ? m->lay.dim : m->re[k].dim;
		double	   *coef;

		if (k >= 0 && m->re[k].learner_side && !m->re[k].context)
		{
			m->re[k].nent = 0;
			m->re[k].keys = palloc(sizeof(char *));
			continue;
		}
		if (load_query(psprintf("SELECT entity, rows, coef FROM %s"
					   " WHERE model_id = $1 AND coordinate = $2 ORDER BY entity COLLATE \"C\"", serving_table_sql("glmix_coef")),
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
			GlmixSide  *side = m->courses;
			char	  **sidekeys = ckeys[k];

			m->coef[k] = coef;
			if (re->context)
				continue;		/* the entity comes with each call's context */

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
 * checked to be a glmix model, from the serving cache, with the rows of
 * the learner in argument 1; NULL when it names none (the function returns
 * NULL, as when it was STRICT).
 */
static const GlmixModel *
glmix_model_arg(FunctionCallInfo fcinfo, int slot_arg)
{
	ServingModel m;
	GlmixModel *cached;

	if (!serving_model_arg(fcinfo, 0, slot_arg, false, &m))
		return NULL;
	if (m.routine != &glmix_kind)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("recs model " INT64_FORMAT " is a %s model, not a glmix model", m.model_id, m.kind)));
	cached = serving_cache_get(m.model_id, m.stamp, "glmix", load_glmix, NULL);
	return glmix_model_for_learner(cached, m.model_id, PG_GETARG_INT64(1));
}

/* the served model with the learner's rows */
static const GlmixModel *
glmix_served(const ServingModel *sm, int64 learner_id)
{
	GlmixModel *cached = serving_cache_get(sm->model_id, sm->stamp, "glmix", load_glmix, NULL);

	return glmix_model_for_learner(cached, sm->model_id, learner_id);
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
			   const int *ctx, double *parts, int *entity, Contribution **top, int *ntop)
{
	/* an upper bound of the row's length; the row itself says how long it is */
	int			n = glmix_fixed_row(&m->lay, m->learners, m->courses, li, ci, NULL, NULL);
	int32		colbuf[256];
	double		valbuf[256];
	int32	   *col = n <= lengthof(colbuf) ? colbuf : palloc(sizeof(int32) * n);
	double	   *val = n <= lengthof(valbuf) ? valbuf : palloc(sizeof(double) * n);
	double		total = 0.0,
				s = 0.0;

	n = glmix_fixed_row(&m->lay, m->learners, m->courses, li, ci, col, val);
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

		if (re->context)
			e = ctx ? ctx[k] : -1;
		else if (si >= 0 && re->side_entity)
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
			/* the other side's model features (its match-only ones come last) */
			int32		len = oi >= 0 ? glmix_side_model_end(other, oi) - other->ptr[oi] : 0;

			b = m->coef[k] + (Size) e * re->dim;
			for (int j = -shift; j < len; j++)
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
model_logit(const GlmixModel *m, int64 learner_id, int64 course_id, const int *ctx,
			double *parts, int *entity, Contribution **top, int *ntop)
{
	return model_logit_at(m, glmix_side_index(m->learners, learner_id),
						  glmix_side_index(m->courses, course_id), learner_id, course_id,
						  ctx, parts, entity, top, ntop);
}

double
glmix_model_logit(const GlmixModel *m, int64 learner_id, int64 course_id, double *parts)
{
	return model_logit(m, learner_id, course_id, NULL, parts, NULL, NULL, NULL);
}

/*
 * The entities a context gives the effects keyed by impressions columns:
 * ctx[k] for effect k is the entity of the context's value under the
 * effect's column name (a string, or a number or boolean as its text), -1
 * when the context lacks that key, holds null, or a value the model has
 * no coefficients for -- an effect of zero, the average over the contexts
 * it was trained on.  Keys no effect uses are ignored.  NULL when the
 * model has no such effect or no context is given.
 */
static int *
context_entities(const GlmixModel *m, FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *ctx;
	int		   *ent = NULL;

	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	ctx = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(ctx))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("context must be a JSON object"),
				 errhint("For example '{\"channel\": \"feed\"}'.")));
	for (int k = 0; k < m->nre; k++)
	{
		const GlmixRandom *re = &m->re[k];
		JsonbValue *v;
		char	   *key = NULL;

		if (!re->context)
			continue;
		if (ent == NULL)
		{
			ent = palloc(sizeof(int) * m->nre);
			for (int j = 0; j < m->nre; j++)
				ent[j] = -1;
		}
		v = getKeyJsonValueFromContainer(&ctx->root, re->column, strlen(re->column), NULL);
		if (v == NULL || v->type == jbvNull)
			continue;
		if (v->type == jbvString)
			key = pnstrdup(v->val.string.val, v->val.string.len);
		else if (v->type == jbvNumeric)
			key = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		else if (v->type == jbvBool)
			key = v->val.boolean ? "true" : "false";
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("context key \"%s\" must be a string, a number, a boolean or null",
							re->column)));
		ent[k] = key_find(re->keys, re->nent, key);
	}
	return ent;
}

/*
 * Serving (recommend() and evaluate() through serving_score_courses): the
 * predicted response of the learner to every course the model has features
 * for.  An unknown learner is scored by the fixed and per-course effects.
 */
static void
glmix_score_courses(const ServingModel *sm, const ServingLearner *l, CourseScores *out)
{
	const GlmixModel *m = glmix_served(sm, l->learner_id);
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
													 NULL, NULL, NULL, NULL, NULL));
	}
}

/* the scores glmix_score_courses() gives the listed courses only (NaN: not in the model) */
static void
glmix_score_listed(const ServingModel *sm, const ServingLearner *l, int n,
				   const int64 *course_ids, double *out)
{
	const GlmixModel *m = glmix_served(sm, l->learner_id);
	int			li = glmix_side_index(m->learners, l->learner_id);

	for (int i = 0; i < n; i++)
	{
		int			ci = glmix_side_index(m->courses, course_ids[i]);

		out[i] = ci >= 0 ? glmix_sigmoid(model_logit_at(m, li, ci, l->learner_id, course_ids[i],
														NULL, NULL, NULL, NULL, NULL)) : NAN;
	}
}

/*
 * The logit of (model, learner, course, slot, context): arguments 0 to 4;
 * false when an argument is NULL (and model and slot both are).  The
 * functions are not STRICT (slot and context may be NULL).
 */
static bool
logit_arg(FunctionCallInfo fcinfo, double *logit)
{
	const GlmixModel *m;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || (m = glmix_model_arg(fcinfo, 3)) == NULL)
		return false;
	*logit = model_logit(m, PG_GETARG_INT64(1), PG_GETARG_INT64(2),
						 context_entities(m, fcinfo, 4), NULL, NULL, NULL, NULL);
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
	const GlmixModel *m;
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
	logit = model_logit(m, learner_id, course_id, context_entities(m, fcinfo, 4),
						parts, entity, top, ntop);

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
				/* match features and hashed buckets in words ("skills overlap 3 of 4") */
				char	   *words = k > 0 ? NULL :
					glmix_fixed_feature_words(&m->lay, m->learners, m->courses,
											  glmix_side_index(m->learners, learner_id),
											  glmix_side_index(m->courses, course_id),
											  top[k][j].feature);

				names[j] = CStringGetTextDatum(words ? words : m->names[k][top[k][j].feature]);
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
