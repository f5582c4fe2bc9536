/*
 * glmix_flat_valid.c -- the validation figures of a flat Citus training
 * (glmix_flat.c): the validation relation's rows are read on the
 * coordinator, as on one node (they are a separate, usually small relation:
 * the training's impressions stay on the workers), and after each pass their
 * scores are rebuilt from the coefficients -- the fixed effect's beta, the
 * learner effect's coefficients of the validation learners only (fetched
 * from the co-located coefficient relation, O(validation learners)), the
 * course effect's, which the coordinator holds -- with the same arithmetic,
 * in the same order, as glmix_fit.c's glmix_validation_metrics() on one
 * node, so the AUC and log-loss are the single-table training's.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "sorted_ids.h"

/* the validation rows' fixed-design row length bound (glmix_fixed_scores' buffers) */
static int32
validation_row_max(const GlmixTraining *t)
{
	int32		m = 1;

	for (int64 r = 0; r < t->vrows->n; r++)
	{
		int			len = glmix_fixed_row(&t->lay, t->learners, t->courses, t->vrows->li[r],
										  t->vrows->ci[r], NULL, NULL);

		m = Max(m, len);
	}
	return m;
}

/*
 * The learner effect's scores of the validation rows: the coefficients of
 * the validation learners with a model, from the coefficient relation
 */
static void
learner_scores(const GlmixTraining *t, const GlmixCoordinate *c, double *out)
{
	const GlmixRows *v = t->vrows;
	int64	   *ids = palloc(sizeof(int64) * Max(v->n, 1));
	int			nids = 0;
	Datum	   *d;
	Datum		values[1];
	int			nfound;
	int64	   *found;
	double	   *coef;
	int		   *ent;

	/* the distinct validation learners, ascending */
	memcpy(ids, v->learner_id, sizeof(int64) * v->n);
	qsort(ids, v->n, sizeof(int64), recs_int64_cmp);
	for (int64 r = 0; r < v->n; r++)
		if (nids == 0 || ids[r] != ids[nids - 1])
			ids[nids++] = ids[r];
	d = palloc(sizeof(Datum) * Max(nids, 1));
	for (int i = 0; i < nids; i++)
		d[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(d, nids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	if (SPI_execute_with_args(psprintf("SELECT learner_id::int8, coef FROM %s "
									   "WHERE learner_id = ANY ($1) AND coef IS NOT NULL ORDER BY 1",
									   t->flat->c),
							  1, (Oid[]) {INT8ARRAYOID}, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the validation learners' coefficients");
	nfound = (int) SPI_processed;
	found = palloc(sizeof(int64) * Max(nfound, 1));
	coef = palloc0(sizeof(double) * Max((Size) nfound * c->re->dim, 1));
	for (int i = 0; i < nfound; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		int			n;
		const double *x;

		found[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		x = glmix_float8_data(DatumGetArrayTypeP(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull)),
							  &n, "learner coefficients");
		if (n != c->re->dim)
			elog(ERROR, "learner " INT64_FORMAT " has %d coefficients, not %d", found[i], n, c->re->dim);
		memcpy(coef + (Size) i * c->re->dim, x, sizeof(double) * c->re->dim);
	}
	SPI_freetuptable(SPI_tuptable);
	ent = palloc(sizeof(int) * Max(v->n, 1));
	for (int64 r = 0; r < v->n; r++)
		ent[r] = recs_find_int64(found, nfound, v->learner_id[r]);
	glmix_random_scores(c->re, t->courses, v->ci, ent, v->n, coef, out);
}

/*
 * The course effect's scores of the validation rows, from the coefficients
 * the coordinator holds (entities without a model have zeros)
 */
static void
course_scores(const GlmixTraining *t, const GlmixCoordinate *c, double *out)
{
	const GlmixRows *v = t->vrows;
	const GlmixFlatCourse *f = glmix_flat_course_of(t, (int) (c - t->co));
	int		   *ent = palloc(sizeof(int) * Max(v->n, 1));

	for (int64 r = 0; r < v->n; r++)
	{
		if (c->re->by_id)
		{
			int			m = recs_find_int64(f->cids, f->nk, v->course_id[r]);

			ent[r] = m >= 0 ? f->cent[m] : -1;
		}
		else
			ent[r] = v->ci[r] >= 0 ? c->re->side_entity[v->ci[r]] : -1;
	}
	glmix_random_scores(c->re, t->learners, v->li, ent, v->n, c->coef, out);
}

/*
 * A learner attribute's effect's scores of the validation rows, from the
 * coefficients the coordinator holds (keys without a model have zeros)
 */
static void
segment_scores(const GlmixTraining *t, const GlmixCoordinate *c, double *out)
{
	const GlmixRows *v = t->vrows;
	int		   *ent = palloc(sizeof(int) * Max(v->n, 1));

	for (int64 r = 0; r < v->n; r++)
		ent[r] = v->li[r] >= 0 ? c->re->side_entity[v->li[r]] : -1;
	glmix_random_scores(c->re, t->courses, v->ci, ent, v->n, c->coef, out);
	pfree(ent);
}

/* the validation AUC and log-loss after a pass */
void
glmix_flat_validation(GlmixTraining *t, double *auc, double *logloss)
{
	const GlmixRows *v = t->vrows;
	double	   *total;
	double	   *part;

	/* rows that live on the workers are scored there (glmix_flat_valid_workers.c) */
	if (OidIsValid(t->flat->vrel))
	{
		glmix_flat_valid_workers(t, auc, logloss);
		return;
	}
	total = palloc(sizeof(double) * Max(v->n, 1));
	part = palloc(sizeof(double) * Max(v->n, 1));
	if (t->flat->valid_row_max == 0)
		t->flat->valid_row_max = validation_row_max(t);
	glmix_fixed_scores(&t->lay, t->learners, t->courses, v, t->flat->valid_row_max, t->beta, total);
	for (int k = 0; k < t->nre; k++)
	{
		CHECK_FOR_INTERRUPTS();
		if (k == t->flat->lk)
			learner_scores(t, &t->co[k], part);
		else if (glmix_flat_seg_of(t, k))
			segment_scores(t, &t->co[k], part);
		else if (k == t->flat->hk)
			glmix_flat_channel_valid_scores(t, part);
		else
			course_scores(t, &t->co[k], part);
		for (int64 r = 0; r < v->n; r++)
			total[r] += part[r];
	}
	*auc = glmix_auc(v->n, total, v->y);
	*logloss = glmix_mean_logloss(v->n, total, v->y);
	pfree(total);
	pfree(part);
}
