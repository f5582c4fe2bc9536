/*
 * blend_serve.c -- scoring courses with a blend (blend_store.c stores it)
 *
 * Serving a blend scores every course with each component (through the
 * components' own serving paths and caches), standardises the scores as in
 * training, and adds the global effect and the learner's random effects.
 * The blend's catalogue is its first component's.  Coefficients keyed by
 * anything but the learner (segments: few entities) are cached with the
 * blend; a learner's own coefficients are one indexed lookup per call.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "blend.h"
#include "glmix.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "serving_rows.h"
#include "serving_placement.h"

/* ---- serving ---- */

typedef struct BlendEntityCoefs
{
	int			n;
	char	  **key;			/* sorted */
	double	   *coef;			/* n x dim */
} BlendEntityCoefs;

typedef struct BlendServing
{
	BlendModel	bm;
	int			dim;
	double	   *global;
	int			neffects;
	char	  **effect;			/* coordinate names, in fitting order */
	bool	   *by_learner;		/* keyed by the learner id: looked up per call */
	BlendEntityCoefs *coefs;	/* cached coefficients of the other effects */
	int			rerank_top;		/* > 0: re-ranks the first component's best courses */
} BlendServing;

/*
 * Serving cache loader of "blend".  Validated: recs.blend_component holds
 * 1..BLEND_MAX_COMPONENTS rows at positions 1, 2, ..., each a distinct
 * popularity, NCF or GLMix model (never a blend: serving would recurse),
 * a GLMix entering as its logit and the others as they are, with a finite
 * mean and a finite positive sd; recs.model's params give random_effects
 * as at most BLEND_MAX_EFFECTS distinct names without NULLs and
 * rerank_top >= 0; recs.blend_coef holds exactly one global vector (entity
 * NULL), every vector has one finite coefficient per component plus the
 * intercept.  The learners' own rows (recs.blend_learner, the
 * learner-keyed effect's coefficients) are not loaded: one call reads its
 * learner's, checked as they are read (learner_coefs()), so the part's size
 * does not depend on the number of learners.
 */
static void *
load_blend(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	BlendServing *bs;
	int			rc;
	char	   *lcol;
	SPITupleTable *tt;
	uint64		n;
	int			nglobal = 0;
	ModelRow	row = MODEL_ROW(model_id, "recs.blend_component");

	rc = SPI_execute_with_args(psprintf("SELECT component_id, transform, mean, sd, position FROM %s "
							   "WHERE model_id = $1 ORDER BY position", serving_table_sql("blend_component")), 1, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.blend_component: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(cxt);
	bs = palloc0(sizeof(BlendServing));
	if (n < 1 || n > BLEND_MAX_COMPONENTS)
		model_row_corrupt(&row, "the blend has " UINT64_FORMAT " components, not 1..%d",
						  n, BLEND_MAX_COMPONENTS);
	bs->bm.ncomponents = (int) n;
	for (int j = 0; j < bs->bm.ncomponents; j++)
	{
		bool		isnull;
		HeapTuple	tup = tt->vals[j];
		char	   *transform = SPI_getvalue(tup, tt->tupdesc, 2);
		BlendComponent *bc = &bs->bm.component[j];

		model_row_key_int(&row, 0, "position", DatumGetInt32(SPI_getbinval(tup, tt->tupdesc, 5, &isnull)));
		check_model_equal(&row, "position", row.key[0].num, j + 1, "one more than the components before it");
		bc->model.model_id = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
		bc->logit_of_probability = strcmp(transform, "logit") == 0;
		bc->mean = DatumGetFloat8(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));
		bc->sd = DatumGetFloat8(SPI_getbinval(tup, tt->tupdesc, 4, &isnull));
		check_model_finite(&row, "mean", bc->mean);
		if (!(bc->sd > 0) || !isfinite(bc->sd))
			model_row_corrupt(&row, "sd is %g, not a positive finite number", bc->sd);
		for (int i = 0; i < j; i++)
			if (bs->bm.component[i].model.model_id == bc->model.model_id)
				model_row_corrupt(&row, "component %lld is also at position %d",
								  (long long) bc->model.model_id, i + 1);
	}
	for (int j = 0; j < bs->bm.ncomponents; j++)
	{
		ServingModel sm;
		BlendComponent *bc = &bs->bm.component[j];
		bool		logit;

		/* keyed as the blend is, which its caller checked */
		serving_model_any_ids(bc->model.model_id, &sm);
		MemoryContextSwitchTo(cxt);
		model_row_key_int(&row, 0, "position", j + 1);
		if (sm.routine->blend_transform == NULL)
			model_row_corrupt(&row, "component %lld is a %s model, which a blend cannot have",
							  (long long) sm.model_id, sm.kind);
		logit = strcmp(sm.routine->blend_transform, "logit") == 0;
		if (bc->logit_of_probability != logit)
			model_row_corrupt(&row, "component %lld, a %s model, has transform %s",
							  (long long) sm.model_id, sm.kind,
							  bc->logit_of_probability ? "logit" : "identity");
		bc->model = sm;
	}
	bs->dim = bs->bm.ncomponents + 1;

	row = MODEL_ROW(model_id, "recs.model");
	model_row_key_text(&row, 0, "params", "random_effects");
	rc = SPI_execute_with_args(psprintf("SELECT params->>'learner_column', "
							   "ARRAY(SELECT jsonb_array_elements_text(params->'random_effects')), "
							   "coalesce((params->>'rerank_top')::int4, 0) "
							   "FROM %s WHERE model_id = $1", serving_table_sql("model")), 1, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the blend's parameters");
	MemoryContextSwitchTo(cxt);
	lcol = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	{
		bool		isnull;

		bs->rerank_top = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		if (bs->rerank_top < 0)
		{
			model_row_key_text(&row, 0, "params", "rerank_top");
			model_row_corrupt(&row, "rerank_top is %d, negative", bs->rerank_top);
		}
	}
	{
		bool		isnull;
		Datum	   *elems;
		bool	   *nulls;
		int			ne;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &ne);
		if (ne > BLEND_MAX_EFFECTS)
			model_row_corrupt(&row, "the blend has %d random effects, more than %d",
							  ne, BLEND_MAX_EFFECTS);
		bs->neffects = ne;
		bs->effect = palloc(sizeof(char *) * Max(ne, 1));
		bs->by_learner = palloc(sizeof(bool) * Max(ne, 1));
		bs->coefs = palloc0(sizeof(BlendEntityCoefs) * Max(ne, 1));
		for (int i = 0; i < ne; i++)
		{
			if (nulls[i])
				model_row_corrupt(&row, "element %d of random_effects is null", i + 1);
			bs->effect[i] = TextDatumGetCString(elems[i]);
			bs->by_learner[i] = lcol && strcmp(bs->effect[i], lcol) == 0;
			for (int j = 0; j < i; j++)
				if (strcmp(bs->effect[j], bs->effect[i]) == 0)
					model_row_corrupt(&row, "random effect \"%s\" is listed twice", bs->effect[i]);
		}
	}

	/*
	 * the global effect and the cached (non-learner) effects, read through
	 * the (model_id, coordinate, entity) index: the learner-keyed effect's
	 * rows, one per learner, are never read here.  Entities in C collation,
	 * the order of the bsearch (strcmp) that finds them.
	 */
	{
		Oid			t2[2] = {INT8OID, TEXTARRAYOID};
		Datum	   *names = palloc(sizeof(Datum) * (bs->neffects + 1));
		Datum		v2[2];
		int			nnames = 0;

		names[nnames++] = CStringGetTextDatum("global");
		for (int i = 0; i < bs->neffects; i++)
			if (!bs->by_learner[i])
				names[nnames++] = CStringGetTextDatum(bs->effect[i]);
		v2[0] = Int64GetDatum(model_id);
		v2[1] = PointerGetDatum(construct_array(names, nnames, TEXTOID, -1, false, TYPALIGN_INT));
		rc = SPI_execute_with_args(psprintf("SELECT coordinate, entity, coefs FROM %s "
								   "WHERE model_id = $1 AND coordinate = ANY ($2) "
								   "ORDER BY coordinate, entity COLLATE \"C\" NULLS FIRST", serving_table_sql("blend_coef")),
								   2, t2, v2, NULL, true, 0);
	}
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.blend_coef: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	n = SPI_processed;
	MemoryContextSwitchTo(cxt);
	bs->global = palloc0(sizeof(double) * bs->dim);
	for (int i = 0; i < bs->neffects; i++)
	{
		bs->coefs[i].key = palloc(sizeof(char *) * Max(n, 1));
		bs->coefs[i].coef = MemoryContextAllocHuge(CurrentMemoryContext,
												   mul_size(sizeof(double), mul_size(Max(n, 1), bs->dim)));
	}
	row = MODEL_ROW(model_id, "recs.blend_coef");
	for (uint64 r = 0; r < n; r++)
	{
		HeapTuple	tup = tt->vals[r];
		char	   *coord = SPI_getvalue(tup, tt->tupdesc, 1);
		char	   *entity = SPI_getvalue(tup, tt->tupdesc, 2);
		bool		isnull;
		const double *c;

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		model_row_key_text(&row, 0, "coordinate", coord);
		model_row_key_text(&row, 1, "entity", entity);
		c = check_model_float8s(&row, "coefs",
								DatumGetArrayTypeP(SPI_getbinval(tup, tt->tupdesc, 3, &isnull)),
								bs->dim, "one more than the number of components", NULL);
		if (entity == NULL)
		{
			memcpy(bs->global, c, sizeof(double) * bs->dim);
			nglobal++;
			continue;
		}
		for (int i = 0; i < bs->neffects; i++)
			if (!bs->by_learner[i] && strcmp(bs->effect[i], coord) == 0)
			{
				BlendEntityCoefs *ec = &bs->coefs[i];

				ec->key[ec->n] = entity;
				memcpy(&ec->coef[(Size) ec->n * bs->dim], c, sizeof(double) * bs->dim);
				ec->n++;
			}
	}
	if (nglobal != 1)
		model_row_corrupt(&row, "the blend has %d global coefficient vectors (entity NULL), not one",
						  nglobal);
	return bs;
}

/* this learner's coefficients, summed over every random effect (dim values) */
static void
learner_coefs(const ServingModel *m, const BlendServing *bs, int64 learner_id, double *sum)
{
	static const char *const key_cols[1] = {"keys"};
	static const char *const coef_cols[1] = {"coefs"};
	ServingKey	lkeys[2] = {{"model_id", INT8OID, Int64GetDatum(m->model_id)},
	{"learner_id", INT8OID, Int64GetDatum(learner_id)}};
	char	  **keys = NULL;
	int			nkeys = 0;
	Datum		value;
	bool		isnull;

	memset(sum, 0, sizeof(double) * bs->dim);
	if (serving_fetch_row("blend_learner", 2, lkeys, 1, key_cols, &value, &isnull, NULL) && !isnull)
	{
		Datum	   *elems;
		bool	   *nulls;
		ArrayType  *a = DatumGetArrayTypeP(value);
		ModelRow	row = MODEL_ROW(m->model_id, "recs.blend_learner");

		model_row_key_int(&row, 0, "learner_id", learner_id);
		if (ARR_NDIM(a) > 1)
			model_row_corrupt(&row, "keys has %d dimensions, expected one", ARR_NDIM(a));
		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nkeys);
		check_model_equal(&row, "the length of keys", nkeys, bs->neffects,
						  "the number of random effects");
		keys = palloc(sizeof(char *) * Max(nkeys, 1));
		for (int i = 0; i < nkeys; i++)
			keys[i] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
	}

	for (int i = 0; i < bs->neffects; i++)
	{
		if (bs->by_learner[i])
		{
			ServingKey	ckeys[3] = {{"model_id", INT8OID, Int64GetDatum(m->model_id)},
				{"coordinate", TEXTOID, CStringGetTextDatum(bs->effect[i])},
			{"entity", TEXTOID, CStringGetTextDatum(psprintf(INT64_FORMAT, learner_id))}};

			if (serving_fetch_row("blend_coef", 3, ckeys, 1, coef_cols, &value, &isnull, NULL))
			{
				ModelRow	row = MODEL_ROW(m->model_id, "recs.blend_coef");
				const double *c;

				model_row_key_text(&row, 0, "coordinate", bs->effect[i]);
				model_row_key_int(&row, 1, "entity", learner_id);
				if (isnull)
					model_row_corrupt(&row, "coefs is NULL");
				c = check_model_float8s(&row, "coefs", DatumGetArrayTypeP(value),
										bs->dim, "one more than the number of components", NULL);
				for (int j = 0; j < bs->dim; j++)
					sum[j] += c[j];
			}
		}
		else if (keys && i < nkeys && keys[i])
		{
			const BlendEntityCoefs *ec = &bs->coefs[i];
			char	  **hit = bsearch(&keys[i], ec->key, ec->n, sizeof(char *), pg_qsort_strcmp);

			if (hit)
				for (int j = 0; j < bs->dim; j++)
					sum[j] += ec->coef[(Size) (hit - ec->key) * bs->dim + j];
		}
	}
}

static void
blend_score_courses(const ServingModel *m, const ServingLearner *l, CourseScores *out)
{
	BlendServing *bs = serving_cache_get(m->model_id, m->stamp, "blend", load_blend, NULL);
	double	   *coef = palloc(sizeof(double) * bs->dim);

	learner_coefs(m, bs, l->learner_id, coef);
	for (int j = 0; j < bs->dim; j++)
		coef[j] += bs->global[j];

	for (int j = 0; j < bs->bm.ncomponents; j++)
	{
		const BlendComponent *bc = &bs->bm.component[j];
		ServingLearner sl;
		CourseScores cs;

		serving_learner(&bc->model, l->learner_id, &sl);
		sl.nrecent = l->nrecent;
		sl.recent = l->recent;
		serving_score_courses(&bc->model, &sl, &cs);
		if (j == 0)
		{
			int64	   *ids = palloc(sizeof(int64) * Max(cs.n, 1));

			/* a copy: the component's cache entry may be evicted by the others */
			memcpy(ids, cs.course_id, sizeof(int64) * cs.n);
			out->n = cs.n;
			out->course_id = ids;
			out->score = palloc(sizeof(double) * Max(cs.n, 1));
			for (int c = 0; c < cs.n; c++)
				out->score[c] = coef[0];
			if (bs->rerank_top > 0)
			{
				double	   *gen = palloc(sizeof(double) * Max(cs.n, 1));

				memcpy(gen, cs.score, sizeof(double) * cs.n);
				out->generator = gen;
				out->pool = bs->rerank_top;
			}
		}
		for (int c = 0; c < out->n; c++)
		{
			int			k = j == 0 ? c : course_scores_index(&cs, out->course_id[c]);
			double		s = k >= 0 ? cs.score[k] : NAN;
			double		z;

			if (!isnan(s) && bc->logit_of_probability)
			{
				s = Min(Max(s, 1e-12), 1.0 - 1e-12);
				s = log(s / (1.0 - s));
			}
			z = isnan(s) ? 0.0 : (s - bc->mean) / bc->sd;
			out->score[c] += coef[j + 1] * z;
		}
	}
}

/* the first component, by position, that has course embeddings */
static bool
blend_embeddings(const ServingModel *m, ServingModel *out)
{
	BlendServing *bs = serving_cache_get(m->model_id, m->stamp, "blend", load_blend, NULL);

	for (int j = 0; j < bs->bm.ncomponents; j++)
		if (serving_embeddings(&bs->bm.component[j].model, out))
			return true;
	return false;
}

/* a logit over the components' scores; never itself a component */
const ServingKind blend_kind = {
	.name = "blend",
	.probability = false,
	.blend_transform = NULL,
	.history_is_watches = true,
	.score_courses = blend_score_courses,
	.embeddings = blend_embeddings,
};
