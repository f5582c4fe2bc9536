/*
 * glmix_store.c -- writing a trained GLMix model to the model tables
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
 * and recs.model_learner holds each training learner's responded-to
 * courses.  glmix_serve.c loads and serves what is written here.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "keys.h"
#include "spi_util.h"

static const char *const kind_names[] = {"onehot", "multihot", "numeric"};

/* entities (feature vectors, coefficient vectors) per INSERT of a store */
#define STORE_BATCH 8192

/*
 * A column read for matches only has no coefficients, so its feature names
 * are not among the fixed effect's: glmix_column.value_names keeps them (and
 * marks the column match-only) for serving's value maps.
 */
static void
store_match_only_names(int64 model_id, const GlmixSide *s, bool learner_side)
{
	for (int c = 0; c < s->ncols; c++)
	{
		const GlmixColumn *col = &s->cols[c];
		Oid			types[4] = {INT8OID, TEXTOID, INT4OID, TEXTARRAYOID};
		Datum		v[4];
		Datum	   *nd;

		if (!col->match_only)
			continue;
		nd = palloc(sizeof(Datum) * Max(col->end - col->start, 1));
		for (int j = col->start; j < col->end; j++)
			nd[j - col->start] = CStringGetTextDatum(s->names[j]);
		v[0] = Int64GetDatum(model_id);
		v[1] = CStringGetTextDatum(learner_side ? "learner" : "course");
		v[2] = Int32GetDatum(c);
		v[3] = PointerGetDatum(construct_array(nd, col->end - col->start, TEXTOID, -1, false,
											   TYPALIGN_INT));
		if (SPI_execute_with_args("UPDATE recs.glmix_column SET value_names = $4"
								  " WHERE model_id = $1 AND side = $2 AND position = $3",
								  4, types, v, NULL, false, 0) != SPI_OK_UPDATE || SPI_processed != 1)
			elog(ERROR, "could not store the names of glmix column \"%s\"", col->name);
	}
}

static void
store_side(int64 model_id, const GlmixModel *m, const GlmixSide *s, bool learner_side)
{
	Oid			ctypes[9] = {INT8OID, TEXTOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	INT4ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID};
	Datum		cv[9];
	Datum	   *d1,
			   *d2,
			   *d3,
			   *d4,
			   *d5;
	double	   *f1,
			   *f2;
	int			rc;
	Datum	   *keys;
	bool	   *keynulls;
	int			nkey = Max(m->nre, 0);
	int			dims[1];
	int			lbs[1] = {1};

	/* columns */
	d1 = palloc(sizeof(Datum) * Max(s->ncols, 1));
	d2 = palloc(sizeof(Datum) * Max(s->ncols, 1));
	d3 = palloc(sizeof(Datum) * Max(s->ncols, 1));
	d4 = palloc(sizeof(Datum) * Max(s->ncols, 1));
	d5 = palloc(sizeof(Datum) * Max(s->ncols, 1));
	f1 = palloc(sizeof(double) * Max(s->ncols, 1));
	f2 = palloc(sizeof(double) * Max(s->ncols, 1));
	for (int c = 0; c < s->ncols; c++)
	{
		d1[c] = Int32GetDatum(c);
		d2[c] = CStringGetTextDatum(s->cols[c].name);
		d3[c] = CStringGetTextDatum(kind_names[s->cols[c].kind]);
		d4[c] = Int32GetDatum(s->cols[c].start);
		d5[c] = Int32GetDatum(s->cols[c].end - s->cols[c].start);
		f1[c] = s->cols[c].mean;
		f2[c] = s->cols[c].sd;
	}
	cv[0] = Int64GetDatum(model_id);
	cv[1] = CStringGetTextDatum(learner_side ? "learner" : "course");
	cv[2] = PointerGetDatum(construct_array(d1, s->ncols, INT4OID, 4, true, TYPALIGN_INT));
	cv[3] = PointerGetDatum(construct_array(d2, s->ncols, TEXTOID, -1, false, TYPALIGN_INT));
	cv[4] = PointerGetDatum(construct_array(d3, s->ncols, TEXTOID, -1, false, TYPALIGN_INT));
	cv[5] = PointerGetDatum(construct_array(d4, s->ncols, INT4OID, 4, true, TYPALIGN_INT));
	cv[6] = PointerGetDatum(construct_array(d5, s->ncols, INT4OID, 4, true, TYPALIGN_INT));
	cv[7] = PointerGetDatum(glmix_float8_array(f1, s->ncols));
	cv[8] = PointerGetDatum(glmix_float8_array(f2, s->ncols));
	rc = SPI_execute_with_args("INSERT INTO recs.glmix_column (model_id, side, position, name, kind,"
							   " first_feature, n_features, mean, sd)"
							   " SELECT $1, $2, p, n, k, f, c, mu, sd"
							   " FROM unnest($3, $4, $5, $6, $7, $8, $9) AS u(p, n, k, f, c, mu, sd)",
							   9, ctypes, cv, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store glmix columns: %s", SPI_result_code_string(rc));
	store_match_only_names(model_id, s, learner_side);

	/*
	 * entities: the feature vectors are flat arrays sliced per row (int4 and
	 * float8 without NULLs: a slice is found in O(1)); the attribute keys
	 * travel as one text[] per key position, unnested together with the ids.
	 * Slicing one flat text[] per row would walk it from its start on every
	 * row -- quadratic, hours for a million learners.  STORE_BATCH entities a
	 * statement, each batch's arrays freed after it: the memory of a store
	 * does not grow with the entities (on Citus each statement's rows are
	 * gathered on the coordinator before they go to every node).
	 */
	{
		int			nargs = 6 + nkey;
		Oid		   *etypes = palloc(sizeof(Oid) * nargs);
		Datum	   *ev = palloc(sizeof(Datum) * nargs);
		StringInfoData sql;
		StringInfoData cols;
		MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "glmix store batch",
													ALLOCSET_DEFAULT_SIZES);
		MemoryContext old;
		SPIPlanPtr	plan;

		etypes[0] = INT8OID;
		etypes[1] = TEXTOID;
		etypes[2] = INT8ARRAYOID;
		etypes[3] = INT4ARRAYOID;
		etypes[4] = INT4ARRAYOID;
		etypes[5] = FLOAT8ARRAYOID;
		initStringInfo(&cols);
		for (int k = 0; k < nkey; k++)
		{
			etypes[6 + k] = TEXTARRAYOID;
			appendStringInfo(&cols, ", k%d", k);
		}
		initStringInfo(&sql);
		appendStringInfoString(&sql,
							   "INSERT INTO recs.glmix_entity (model_id, side, id, features, \"values\", keys)"
							   " SELECT $1, $2, u.id, $5[$4[u.i] + 1 : $4[u.i + 1]], $6[$4[u.i] + 1 : $4[u.i + 1]], ");
		if (nkey == 0)
			appendStringInfoString(&sql, "NULL::text[]");
		else
			appendStringInfo(&sql, "ARRAY[%s]", cols.data + 2);
		appendStringInfoString(&sql, " FROM unnest($3");
		for (int k = 0; k < nkey; k++)
			appendStringInfo(&sql, ", $%d", 7 + k);
		appendStringInfo(&sql, ") WITH ORDINALITY AS u(id%s, i)", cols.data);
		plan = SPI_prepare(sql.data, nargs, etypes);
		if (plan == NULL)
			elog(ERROR, "could not prepare the glmix entities' INSERT: %s",
				 SPI_result_code_string(SPI_result));
		ev[0] = Int64GetDatum(model_id);
		ev[1] = cv[1];
		for (int lo = 0; lo < s->n; lo += STORE_BATCH)
		{
			int			hi = Min(s->n, lo + STORE_BATCH);
			int			n = hi - lo;
			int32		base = s->ptr[lo];
			int			bnnz = s->ptr[hi] - base;
			Datum	   *ids;
			Datum	   *ptr;
			Datum	   *col;

			CHECK_FOR_INTERRUPTS();
			old = MemoryContextSwitchTo(batch);
			ids = palloc(sizeof(Datum) * n);
			ptr = palloc(sizeof(Datum) * (n + 1));
			col = palloc(sizeof(Datum) * Max(bnnz, 1));
			for (int i = 0; i < n; i++)
				ids[i] = Int64GetDatum(s->ids[lo + i]);
			for (int i = 0; i <= n; i++)
				ptr[i] = Int32GetDatum(s->ptr[lo + i] - base);
			for (int k = 0; k < bnnz; k++)
				col[k] = Int32GetDatum(s->col[base + k]);
			ev[2] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
			ev[3] = PointerGetDatum(construct_array(ptr, n + 1, INT4OID, 4, true, TYPALIGN_INT));
			ev[4] = PointerGetDatum(construct_array(col, bnnz, INT4OID, 4, true, TYPALIGN_INT));
			ev[5] = PointerGetDatum(glmix_float8_array(s->val + base, bnnz));
			keys = palloc(sizeof(Datum) * n);
			keynulls = palloc(sizeof(bool) * n);
			dims[0] = n;
			for (int k = 0; k < nkey; k++)
			{
				const GlmixRandom *re = &m->re[k];

				for (int i = 0; i < n; i++)
				{
					int			e = GLMIX_SIDE_KEYED(re, learner_side) ? re->side_entity[lo + i] : -1;

					keynulls[i] = e < 0;
					keys[i] = e < 0 ? (Datum) 0 : CStringGetTextDatum(re->keys[e]);
				}
				ev[6 + k] = PointerGetDatum(construct_md_array(keys, keynulls, 1, dims, lbs, TEXTOID,
															   -1, false, TYPALIGN_INT));
			}
			MemoryContextSwitchTo(old);
			rc = SPI_execute_plan(plan, ev, NULL, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "could not store glmix entities: %s", SPI_result_code_string(rc));
			MemoryContextReset(batch);
		}
		SPI_freeplan(plan);
		MemoryContextDelete(batch);
	}
}

/* one glmix_coordinate row: what the coefficient vectors of a coordinate mean */
static void
store_coordinate(int64 model_id, int position, const char *name, const char *keyed_by,
				 bool by_id, double l2, bool intercept, char **names, int dim,
				 char **crosses, int ncross, int entities)
{
	Oid			types[10] = {INT8OID, INT4OID, TEXTOID, TEXTOID, BOOLOID, FLOAT8OID, BOOLOID,
	TEXTARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		v[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Datum	   *nd = palloc(sizeof(Datum) * Max(dim, 1));
	int			rc;

	for (int j = 0; j < dim; j++)
		nd[j] = CStringGetTextDatum(names[j]);
	v[0] = Int64GetDatum(model_id);
	v[1] = Int32GetDatum(position);
	v[2] = CStringGetTextDatum(name);
	v[3] = keyed_by ? CStringGetTextDatum(keyed_by) : (Datum) 0;
	nulls[3] = keyed_by ? ' ' : 'n';
	v[4] = BoolGetDatum(by_id);
	v[5] = Float8GetDatum(l2);
	v[6] = BoolGetDatum(intercept);
	v[7] = PointerGetDatum(construct_array(nd, dim, TEXTOID, -1, false, TYPALIGN_INT));
	if (crosses)
	{
		Datum	   *cd = palloc(sizeof(Datum) * Max(ncross, 1));

		for (int p = 0; p < ncross; p++)
			cd[p] = CStringGetTextDatum(crosses[p]);
		v[8] = PointerGetDatum(construct_array(cd, ncross, TEXTOID, -1, false, TYPALIGN_INT));
	}
	else
		nulls[8] = 'n';
	v[9] = Int32GetDatum(entities);
	rc = SPI_execute_with_args("INSERT INTO recs.glmix_coordinate (model_id, position, name, keyed_by,"
							   " by_id, l2, intercept, features, crosses, entities)"
							   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
							   10, types, v, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store glmix coordinate: %s", SPI_result_code_string(rc));
}

/* the fixed coordinate's match specs and hash_bits (NULL when none) */
static void
store_fixed_extras(int64 model_id, const GlmixModel *m)
{
	Oid			types[3] = {INT8OID, TEXTARRAYOID, INT4OID};
	Datum		v[3];
	char		nulls[3] = {' ', ' ', ' '};
	Datum	   *md = palloc(sizeof(Datum) * Max(m->lay.nmatch, 1));
	int			rc;

	for (int q = 0; q < m->lay.nmatch; q++)
		md[q] = CStringGetTextDatum(glmix_match_spec(&m->lay.match[q], m->learners, m->courses));
	v[0] = Int64GetDatum(model_id);
	v[1] = PointerGetDatum(construct_array(md, m->lay.nmatch, TEXTOID, -1, false, TYPALIGN_INT));
	nulls[1] = m->lay.nmatch > 0 ? ' ' : 'n';
	v[2] = Int32GetDatum(m->lay.hash_bits);
	nulls[2] = m->lay.hash_bits > 0 ? ' ' : 'n';
	if (nulls[1] == 'n' && nulls[2] == 'n')
		return;
	rc = SPI_execute_with_args("UPDATE recs.glmix_coordinate SET matches = $2, hash_bits = $3"
							   " WHERE model_id = $1 AND position = 0",
							   3, types, v, nulls, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not store the glmix fixed effect's matches");
}

/*
 * A coordinate's coefficient vectors (n entities x dim, flat), STORE_BATCH
 * entities an INSERT, each batch's arrays freed after it.
 */
static void
store_coefs(int64 model_id, const char *coordinate, int n, char **keys, const int *rows,
			const double *coef, int dim)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID, INT4OID};
	Datum		v[6];
	int			rc;
	MemoryContext batch = AllocSetContextCreate(CurrentMemoryContext, "glmix store batch",
												ALLOCSET_DEFAULT_SIZES);
	SPIPlanPtr	plan = SPI_prepare("INSERT INTO recs.glmix_coef (model_id, coordinate, entity, rows, coef)"
								   " SELECT $1, $2, e, r, $5[(i - 1) * $6 + 1 : i * $6]"
								   " FROM unnest($3, $4) WITH ORDINALITY AS u(e, r, i)", 6, types);

	if (plan == NULL)
		elog(ERROR, "could not prepare the glmix coefficients' INSERT: %s",
			 SPI_result_code_string(SPI_result));
	v[0] = Int64GetDatum(model_id);
	v[1] = CStringGetTextDatum(coordinate);
	v[5] = Int32GetDatum(dim);
	for (int lo = 0; lo < n; lo += STORE_BATCH)
	{
		int			hi = Min(n, lo + STORE_BATCH);
		MemoryContext old = MemoryContextSwitchTo(batch);
		Datum	   *kd = palloc(sizeof(Datum) * (hi - lo));
		Datum	   *rd = palloc(sizeof(Datum) * (hi - lo));

		CHECK_FOR_INTERRUPTS();
		for (int i = lo; i < hi; i++)
		{
			kd[i - lo] = CStringGetTextDatum(keys[i]);
			rd[i - lo] = Int32GetDatum(rows[i]);
		}
		v[2] = PointerGetDatum(construct_array(kd, hi - lo, TEXTOID, -1, false, TYPALIGN_INT));
		v[3] = PointerGetDatum(construct_array(rd, hi - lo, INT4OID, 4, true, TYPALIGN_INT));
		v[4] = PointerGetDatum(glmix_float8_array(coef + (Size) lo * dim, (hi - lo) * dim));
		MemoryContextSwitchTo(old);
		rc = SPI_execute_plan(plan, v, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not store glmix coefficients: %s", SPI_result_code_string(rc));
		MemoryContextReset(batch);
	}
	SPI_freeplan(plan);
	MemoryContextDelete(batch);
}

/*
 * Write a trained model's parts.  Only entities with a model of their own
 * get a glmix_coef row; the others are absent, which serving reads as a
 * random effect of zero.
 */
static void
glmix_store(int64 model_id, const GlmixModel *m)
{
	int			d = m->lay.dim;
	char	  **names = palloc(sizeof(char *) * d);
	char	  **crosses = palloc(sizeof(char *) * Max(m->lay.ncross, 1));
	int			nrows_fixed = 0;

	for (int j = 0; j < d; j++)
		names[j] = glmix_fixed_feature_name(&m->lay, m->learners, m->courses, j);
	for (int p = 0; p < m->lay.ncross; p++)
		crosses[p] = psprintf("%s:%s", m->learners->cols[m->lay.cross[p].lcol].name,
							  m->courses->cols[m->lay.cross[p].ccol].name);
	store_coordinate(model_id, 0, "fixed", NULL, false, m->l2_fixed, m->lay.intercept, names, d,
					 crosses, m->lay.ncross, 1);
	store_fixed_extras(model_id, m);
	store_coefs(model_id, "fixed", 1, (char *[]) {""}, &nrows_fixed, m->beta, d);

	for (int k = 0; k < m->nre; k++)
	{
		const GlmixRandom *re = &m->re[k];
		const GlmixSide *other = re->learner_side ? m->courses : m->learners;
		char	  **rn = palloc(sizeof(char *) * re->dim);
		int			shift = re->intercept ? 1 : 0;
		char	  **keys = palloc(sizeof(char *) * Max(re->nent, 1));
		int		   *rows = palloc(sizeof(int) * Max(re->nent, 1));
		double	   *coef = palloc(sizeof(double) * Max((Size) re->nent * re->dim, 1));
		int			n = 0;

		if (re->intercept)
			rn[0] = "(intercept)";
		for (int j = 0; j < other->nmodel; j++)
			rn[shift + j] = other->names[j];
		for (int e = 0; e < re->nent; e++)
		{
			if (m->rows[k][e] == 0)
				continue;
			keys[n] = re->keys[e];
			rows[n] = m->rows[k][e];
			memcpy(coef + (Size) n * re->dim, m->coef[k] + (Size) e * re->dim,
				   sizeof(double) * re->dim);
			n++;
		}
		if (strcmp(re->column, "fixed") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a random effect cannot be named \"fixed\"")));
		store_coordinate(model_id, k + 1, re->column,
						 re->context ? "impression" : re->learner_side ? "learner" : "course",
						 re->by_id, re->l2, re->intercept, rn, re->dim, NULL, 0, n);
		store_coefs(model_id, re->column, n, keys, rows, coef, re->dim);
	}
	store_side(model_id, m, m->learners, true);
	store_side(model_id, m, m->courses, false);
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

/* learners per INSERT of recs.model_learner */
#define LEARNERS_BATCH 1024

/*
 * recs.model_learner's INSERT.  Batched (on Citus: the impressions
 * distributed), each statement joins only its own learners' languages:
 * Citus pulls the subquery's rows to the coordinator for every statement.
 */
SPIPlanPtr
glmix_learners_plan(Oid learners_rel, const char *learners_id_column, const char *learners_id_arg,
					bool batched)
{
	Oid			types[4] = {INT8OID, INT8ARRAYOID, INT4ARRAYOID, INT8ARRAYOID};
	AttrNumber	lang = get_attnum(learners_rel, "language");
	bool		has_lang = lang > 0 && (get_atttype(learners_rel, lang) == TEXTOID ||
										get_atttype(learners_rel, lang) == VARCHAROID);
	char	   *join = "";
	char	   *sql;
	SPIPlanPtr	plan;

	if (has_lang)
	{
		KeysFrom	from;
		char	   *idexpr;

		keys_from_init(&from, learners_rel);
		idexpr = keys_id(&from, learners_id_column, learners_id_arg, RECS_SIDE_LEARNER);
		join = psprintf(" LEFT JOIN (SELECT %s AS id, language FROM %s%s) x ON x.id = u.l",
						idexpr, keys_from(&from),
						batched ? psprintf(" WHERE %s = ANY ($2)", idexpr) : "");
	}
	sql = psprintf("INSERT INTO recs.model_learner (model_id, learner_id, language, watched)"
				   " SELECT $1, u.l, %s, coalesce($4[$3[u.i] + 1 : $3[u.i + 1]], '{}')"
				   " FROM unnest($2) WITH ORDINALITY AS u(l, i)%s",
				   has_lang ? "x.language::text" : "NULL", join);
	plan = SPI_prepare(sql, 4, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	return plan;
}

/* learners ids[0..n), learner i's courses courses[ptr[i] - ptr[0] ..] */
void
glmix_learners_put(SPIPlanPtr plan, int64 model_id, Datum *ids, int n, const Datum *ptr,
				   Datum *courses, int ncourses)
{
	Datum		values[4];
	int32		c0 = DatumGetInt32(ptr[0]);
	Datum	   *bptr = palloc(sizeof(Datum) * (n + 1));

	for (int i = 0; i <= n; i++)
		bptr[i] = Int32GetDatum(DatumGetInt32(ptr[i]) - c0);
	values[0] = Int64GetDatum(model_id);
	values[1] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(bptr, n + 1, INT4OID, 4, true, TYPALIGN_INT));
	values[3] = PointerGetDatum(construct_array(courses, ncourses, INT8OID, 8, true,
												TYPALIGN_DOUBLE));
	if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write recs.model_learner");
	for (int i = 1; i < 4; i++)
		pfree(DatumGetPointer(values[i]));
	pfree(bptr);
}

static void
glmix_store_learners(int64 model_id, const GlmixRows *rows, Oid learners_rel,
					 const char *learners_id_column, const char *learners_id_arg, bool citus)
{
	IdPair	   *pairs = palloc(sizeof(IdPair) * Max(rows->n, 1));
	Datum	   *ids = palloc(sizeof(Datum) * Max(rows->n, 1));
	Datum	   *ptr = palloc(sizeof(Datum) * (rows->n + 1));
	Datum	   *courses = palloc(sizeof(Datum) * Max(rows->n, 1));
	int64		np = 0,
				nl = 0,
				nc = 0;
	SPIPlanPtr	plan;
	int64		batch;

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
	plan = glmix_learners_plan(learners_rel, learners_id_column, learners_id_arg, citus);

	/*
	 * On Citus (the impressions distributed), LEARNERS_BATCH learners a
	 * statement: recs.model_learner is a reference table, and an INSERT ...
	 * SELECT into it is collected on the coordinator before it is copied to
	 * the nodes (about 40 MB for 20,000 learners and 570,000 impressions in
	 * one statement).  Elsewhere one statement, one join.
	 */
	batch = citus ? LEARNERS_BATCH : Max(nl, 1);
	for (int64 lo = 0; lo < nl; lo += batch)
	{
		int			n = (int) Min(batch, nl - lo);
		int32		c0 = DatumGetInt32(ptr[lo]);
		int32		c1 = DatumGetInt32(ptr[lo + n]);

		CHECK_FOR_INTERRUPTS();
		glmix_learners_put(plan, model_id, ids + lo, n, ptr + lo, courses + c0, c1 - c0);
	}
	SPI_freeplan(plan);
}

/* phase 4: the model's parts, and the learners' responded-to courses */
void
glmix_store_training(int64 model_id, const GlmixTraining *t, const GlmixOptions *o)
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
	/* a flat Citus training has no rows here: glmix_flat_store_learners() writes them */
	if (t->flat == NULL)
		glmix_store_learners(model_id, t->rows, o->learners, o->learners_id_column, o->learners_id_arg,
							 t->citus_shards > 0);
}
