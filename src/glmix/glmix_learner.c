/*
 * glmix_learner.c -- the learner's part of a served GLMix model, looked up
 * per call
 *
 * What a GLMix model holds per learner -- their feature vector and keys
 * (recs.glmix_entity, side 'learner') and their coefficient vector in every
 * random effect keyed by the learner side (recs.glmix_coef) -- grows with
 * the number of learners, while one call needs one learner's rows.  So the
 * serving cache keeps the learner-independent part only (the fixed effect,
 * the columns of both sides, every course's vector and the course-keyed
 * effects, O(catalogue)), and each call reads its learner's rows through
 * their primary keys (serving_fetch_row: a direct index scan under the
 * statement's snapshot, no SQL) into a shallow copy of the cached model
 * whose learner side holds that learner alone.  Scoring then runs unchanged
 * on the copy: the learner is row 0 of the learners side (or unknown), and
 * each learner-keyed effect has that learner's vector as its only entity.
 *
 * Every row read is checked as the loader checks the course side's: a
 * corrupt learner row is an XX001 error naming the table and the row, when
 * that learner is served.  A learner deleted by forget_learner is simply not
 * found any more: nothing of them is cached.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "glmix.h"
#include "serving_check.h"
#include "serving_rows.h"

/*
 * Append a checked glmix_entity row as row i of side s: its features
 * strictly ascending in 0..nfeat-1 and "values" as many finite floats into
 * the CSR arrays (s->col and s->val, of *cap entries, grown as needed;
 * s->ptr[i] already set), its keys NULL or one per random effect, non-NULL
 * only at the effects keyed by an attribute of this side, into keys[k][i].
 */
void
glmix_side_add_entity(GlmixSide *s, const ModelRow *row, int i, Datum fd, Datum vd,
					  bool keynull, Datum kd, const GlmixRandom *re, int nre,
					  char ***keys, int64 *cap)
{
	bool		learner_side = strcmp(s->what, "learner") == 0;
	ArrayType  *fa = DatumGetArrayTypeP(fd);
	ArrayType  *va = DatumGetArrayTypeP(vd);
	int64		nnz = s->ptr[i];
	int			nf;
	const int32 *f;
	const double *vals;

	f = check_model_indexes(row, "features", fa, s->nfeat, &nf);
	vals = check_model_float8s(row, "values", va, nf, "the length of features", NULL);
	if (nnz + nf > PG_INT32_MAX)
		model_row_corrupt(row, "the %s side has more than %d features in all",
						  s->what, PG_INT32_MAX);
	if (nnz + nf > *cap)
	{
		while (nnz + nf > *cap)
			*cap *= 2;
		s->col = repalloc_huge(s->col, sizeof(int32) * *cap);
		s->val = repalloc_huge(s->val, sizeof(double) * *cap);
	}
	memcpy(s->col + nnz, f, sizeof(int32) * nf);
	memcpy(s->val + nnz, vals, sizeof(double) * nf);
	/* detoasted copies: the side keeps only its own arrays */
	if ((Pointer) fa != DatumGetPointer(fd))
		pfree(fa);
	if ((Pointer) va != DatumGetPointer(vd))
		pfree(va);
	s->ptr[i + 1] = (int32) (nnz + nf);
	if (!keynull)
	{
		ArrayType  *ka = DatumGetArrayTypeP(kd);
		Datum	   *el;
		bool	   *nulls;
		int			nk;

		if (ARR_NDIM(ka) > 1)
			model_row_corrupt(row, "keys has %d dimensions, expected one", ARR_NDIM(ka));
		deconstruct_array(ka, TEXTOID, -1, false, TYPALIGN_INT, &el, &nulls, &nk);
		check_model_equal(row, "the length of keys", nk, nre, "the number of random effects");
		for (int k = 0; k < nre; k++)
		{
			bool		attribute = GLMIX_SIDE_KEYED(&re[k], learner_side);

			if (!nulls[k] && !attribute)
				model_row_corrupt(row, "element %d of keys is set, but random effect \"%s\" "
								  "is not keyed by an attribute of the %s", k + 1,
								  re[k].column, s->what);
			keys[k][i] = nulls[k] ? NULL : TextDatumGetCString(el[k]);
		}
		pfree(el);
		pfree(nulls);
	}
}

/* the learner's glmix_entity row, if any, as the only row of a copy of the cached side */
static GlmixSide *
learner_side(int64 model_id, const GlmixModel *m, int64 learner_id, char ***keys)
{
	static const char *const cols[3] = {"features", "values", "keys"};
	ServingKey	key[3] = {{"model_id", INT8OID, Int64GetDatum(model_id)},
	{"side", TEXTOID, CStringGetTextDatum("learner")},
	{"id", INT8OID, Int64GetDatum(learner_id)}};
	GlmixSide  *s = palloc(sizeof(GlmixSide));
	Datum		values[3];
	bool		nulls[3];
	int64		cap = 16;

	/* the columns, feature space and names stay the cached ones */
	*s = *m->learners;
	s->n = 0;
	s->ids = palloc(sizeof(int64));
	s->ptr = palloc0(sizeof(int32) * 2);
	s->col = palloc(sizeof(int32) * cap);
	s->val = palloc(sizeof(double) * cap);
	if (serving_fetch_row("glmix_entity", 3, key, 3, cols, values, nulls, NULL))
	{
		ModelRow	row = MODEL_ROW(model_id, "recs.glmix_entity");

		model_row_key_text(&row, 0, "side", "learner");
		model_row_key_int(&row, 1, "id", learner_id);
		if (nulls[0] || nulls[1])
			model_row_corrupt(&row, "%s is NULL", nulls[0] ? "features" : "values");
		glmix_side_add_entity(s, &row, 0, values[0], values[1], nulls[2], values[2],
							  m->re, m->nre, keys, &cap);
		s->n = 1;
		s->ids[0] = learner_id;
	}
	return s;
}

/*
 * The learner's coefficient vector of learner-keyed effect k under key (the
 * id as text, or their attribute), or NULL when the effect has none for it:
 * checked to hold one finite coefficient per feature of the effect.
 */
static const double *
learner_coef(int64 model_id, const GlmixRandom *re, const char *entity)
{
	static const char *const cols[1] = {"coef"};
	ServingKey	key[3] = {{"model_id", INT8OID, Int64GetDatum(model_id)},
	{"coordinate", TEXTOID, CStringGetTextDatum(re->column)},
	{"entity", TEXTOID, CStringGetTextDatum(entity)}};
	Datum		value;
	bool		isnull;
	ModelRow	row = MODEL_ROW(model_id, "recs.glmix_coef");

	if (!serving_fetch_row("glmix_coef", 3, key, 1, cols, &value, &isnull, NULL))
		return NULL;
	model_row_key_text(&row, 0, "coordinate", re->column);
	model_row_key_text(&row, 1, "entity", entity);
	if (isnull)
		model_row_corrupt(&row, "coef is NULL");
	return check_model_float8s(&row, "coef", DatumGetArrayTypeP(value), re->dim,
							   "the coordinate's number of features", NULL);
}

/*
 * The cached model m (its learner side without rows, its learner-keyed
 * effects without entities) completed with one learner's rows, allocated in
 * the current memory context; m itself is not changed.
 */
const GlmixModel *
glmix_model_for_learner(const GlmixModel *m, int64 model_id, int64 learner_id)
{
	GlmixModel *v = palloc(sizeof(GlmixModel));
	char	 ***keys = palloc(sizeof(char **) * Max(m->nre, 1));

	for (int k = 0; k < m->nre; k++)
		keys[k] = palloc0(sizeof(char *));
	*v = *m;
	v->learners = learner_side(model_id, m, learner_id, keys);
	v->re = palloc(sizeof(GlmixRandom) * Max(m->nre, 1));
	v->coef = palloc(sizeof(double *) * Max(m->nre, 1));
	memcpy(v->re, m->re, sizeof(GlmixRandom) * m->nre);
	memcpy(v->coef, m->coef, sizeof(double *) * m->nre);
	for (int k = 0; k < m->nre; k++)
	{
		GlmixRandom *re = &v->re[k];
		const char *entity;
		const double *coef;

		if (!re->learner_side || re->context)
			continue;		/* course-keyed effects are cached; impression-keyed ones come with the call */
		/* an id-keyed effect may have a vector for a learner without features */
		entity = re->by_id ? psprintf(INT64_FORMAT, learner_id) : keys[k][0];
		coef = entity ? learner_coef(model_id, re, entity) : NULL;
		re->nent = coef ? 1 : 0;
		re->keys = palloc(sizeof(char *));
		re->keys[0] = (char *) entity;
		re->side_entity = palloc(sizeof(int));
		re->side_entity[0] = coef ? 0 : -1;
		v->coef[k] = (double *) coef;
	}
	return v;
}
