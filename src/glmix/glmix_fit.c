/*
 * glmix_fit.c -- the coordinate-descent engine of GLMix: staging the
 * designs into work relations, fitting each coordinate through its
 * aggregate, and the objective
 *
 * train_glmix() (glmix_train.c) reads the data and owns the options; this
 * file is what one pass does with them.  Staging cuts each design into
 * page-sized blocks (glmix.h) and writes them to the work relations as it
 * goes.  The fixed effect is fitted by Newton's method, one aggregate query
 * per iteration: recs.glmix_fixed_block_stats returns the loss, gradient
 * and packed upper Hessian, the step comes from a LAPACK Cholesky solve,
 * and Armijo backtracking guards it.  A random effect is one GROUP BY
 * entity query whose final function fits each entity (glmix_math.c).
 * Offsets (the other coordinates' scores) and coefficients are parameters
 * of generic plans, so nothing in the work relations changes between
 * passes; the scores are recomputed here in C after every fit.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "recs.h"
#include "glmix.h"
#include "rng.h"

/* LAPACK (from OpenBLAS), Fortran calling convention */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
					const int *lda, double *b, const int *ldb, int *info);

#define NEWTON_MAX_ITER 100
#define NEWTON_REL_TOL 1e-10
#define NEWTON_QUAD_TOL 1e-6

void
glmix_design_scores(const GlmixDesign *X, const int *ent, const double *coef, double *out)
{
	for (int64 r = 0; r < X->n; r++)
	{
		double		s = 0.0;
		const double *b;

		if (ent && ent[r] < 0)
		{
			out[r] = 0.0;
			continue;
		}
		b = coef + (ent ? (Size) ent[r] * X->dim : 0);
		if (X->val)
			for (int32 k = X->ptr[r]; k < X->ptr[r + 1]; k++)
				s += X->val[k] * b[X->col[k]];
		else
			for (int32 k = X->ptr[r]; k < X->ptr[r + 1]; k++)
				s += b[X->col[k]];
		out[r] = s;
	}
}

/* ---- staging ---- */

/*
 * Cut rows[0..n) of design X into blocks of at most GLMIX_BLOCK_MAX_BYTES
 * and write them out; returns how many.
 */
static int
cut_blocks(GlmixWorkWriter *ww, const int64 *rows, int64 n, const GlmixRows *data, double wscale,
		   const GlmixDesign *X, int entity)
{
	int64		lo = 0;
	int64		total_nnz = 0;
	int			nblocks = 0;

	if (entity >= 0)
		for (int64 k = 0; k < n; k++)
			total_nnz += X->ptr[rows[k] + 1] - X->ptr[rows[k]];

	while (lo < n)
	{
		int64		hi = lo;
		int			nnz = 0;
		bool		binary = true;
		bool		contiguous = true;

		/* grow the block while it fits (a lone oversized row goes alone) */
		while (hi < n)
		{
			int64		r = rows[hi];
			int			len = X->ptr[r + 1] - X->ptr[r];
			bool		b2 = binary;
			bool		c2 = contiguous && (hi == lo || rows[hi] == rows[hi - 1] + 1);

			for (int32 k = X->ptr[r]; X->val && k < X->ptr[r + 1] && b2; k++)
				b2 = X->val[k] == 1.0;
			if (hi > lo &&
				glmix_block_size((int) (hi - lo + 1), nnz + len, b2, c2) > GLMIX_BLOCK_MAX_BYTES)
				break;
			nnz += len;
			binary = b2;
			contiguous = c2;
			hi++;
		}
		if (hi == lo + 1 &&
			glmix_block_size(1, nnz, binary, true) > GLMIX_BLOCK_MAX_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("an impression has %d features, more than one block can hold", nnz),
					 errhint("Use fewer crosses or multi-hot elements.")));
		{
			bytea	   *b = glmix_block_build((int) (hi - lo), rows + lo, data->y, data->w, wscale,
											  X->ptr, X->col, X->val, X->dim, entity,
											  entity >= 0 ? (int) n : 0,
											  (int) Min(total_nnz, PG_INT32_MAX));

			glmix_work_put(ww, entity, b);
			pfree(b);
			nblocks++;
		}
		lo = hi;
	}
	return nblocks;
}

/* the fixed effect's work relation: every row, in row order (contiguous blocks) */
void
glmix_stage_fixed(GlmixTraining *t, bool parallel)
{
	int64		n = t->rows->n;
	int64	   *ids = palloc(sizeof(int64) * Max(n, 1));
	GlmixWorkWriter *ww;

	t->work = glmix_work_table("fixed", 0, false, parallel);
	for (int64 r = 0; r < n; r++)
		ids[r] = r;
	ww = glmix_work_open(glmix_work_oid(t->work));
	t->nblocks = cut_blocks(ww, ids, n, t->rows, 1.0, t->X, -1);
	glmix_work_close(ww);
	pfree(ids);
}

/*
 * A random effect's work relation: each entity's rows, grouped by a
 * counting sort that keeps row order.  Entities under min_rows are left
 * out; above max_rows a seeded sample is kept and up-weighted.
 */
void
glmix_stage_random(GlmixTraining *t, GlmixCoordinate *c, int serial, int min_rows, int max_rows,
			 RecsRng *rng, bool parallel)
{
	int			E = c->re->nent;
	int64		n = t->rows->n;
	int64	   *start = palloc0(sizeof(int64) * (E + 1));
	int64	   *order = palloc(sizeof(int64) * Max(n, 1));
	int64	   *fill = palloc(sizeof(int64) * Max(E, 1));
	GlmixWorkWriter *ww;

	/* rows grouped by entity (counting sort keeps row order) */
	for (int64 r = 0; r < n; r++)
		if (c->row_ent[r] >= 0)
			start[c->row_ent[r] + 1]++;
	for (int e = 0; e < E; e++)
		start[e + 1] += start[e];
	memcpy(fill, start, sizeof(int64) * E);
	for (int64 r = 0; r < n; r++)
		if (c->row_ent[r] >= 0)
			order[fill[c->row_ent[r]]++] = r;

	c->work = glmix_work_table("re", serial, true, parallel);
	ww = glmix_work_open(glmix_work_oid(c->work));
	c->nblocks = 0;
	c->rows = palloc0(sizeof(int) * Max(E, 1));
	c->nmodels = 0;
	for (int e = 0; e < E; e++)
	{
		int64		cnt = start[e + 1] - start[e];
		int64	   *mine = order + start[e];
		int64		use = cnt;
		double		wscale = 1.0;

		if (cnt < min_rows || cnt == 0)
			continue;
		if (max_rows > 0 && cnt > max_rows)
		{
			/* a seeded uniform sample of max_rows rows (partial Fisher-Yates) */
			for (int64 k = 0; k < max_rows; k++)
			{
				int64		j = k + (int64) rng_below(rng, (uint64) (cnt - k));
				int64		tmp = mine[k];

				mine[k] = mine[j];
				mine[j] = tmp;
			}
			use = max_rows;
			wscale = (double) cnt / max_rows;
			qsort(mine, use, sizeof(int64), recs_int64_cmp);
		}
		c->rows[e] = (int) use;
		c->nmodels++;
		c->nblocks += cut_blocks(ww, mine, use, t->rows, wscale, c->Z, e);
	}
	glmix_work_close(ww);
	pfree(start);
	pfree(order);
	pfree(fill);
}

/* ---- the fixed effect: Newton over the aggregate ---- */

static double
fixed_eval(GlmixTraining *t, Datum offsets, const double *beta, double *g, double *H)
{
	int			d = t->lay.dim;
	Datum		values[2];
	bool		isnull;
	int			rc;
	double		f;
	int			nv;
	const double *v;
	const double *hp;

	values[0] = offsets;
	values[1] = PointerGetDatum(glmix_float8_array(beta, d));
	rc = SPI_execute_plan(t->plan, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "fixed-effect aggregate failed: %s", SPI_result_code_string(rc));
	v = glmix_float8_data(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0],
														   SPI_tuptable->tupdesc, 1, &isnull)),
						  &nv, "statistics");
	if (isnull || nv != 3 + d + d * (d + 1) / 2)
		elog(ERROR, "fixed-effect aggregate returned %d values for dimension %d", nv, d);
	f = v[2];
	memcpy(g, v + 3, sizeof(double) * d);
	/* row-major upper triangle = the column-major lower one dpotrf reads */
	hp = v + 3 + d;
	for (int i = 0; i < d; i++)
		memcpy(H + (Size) i * d + i, hp + GLMIX_PACKED(i, d) + i, sizeof(double) * (d - i));
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(values[1]));
	for (int j = 0; j < d; j++)
	{
		f += 0.5 * t->l2_fixed * beta[j] * beta[j];
		g[j] += t->l2_fixed * beta[j];
		H[(Size) j * d + j] += t->l2_fixed;
	}
	return f;
}

/*
 * Newton's method for the fixed effect from the current beta (the warm
 * start).  Each evaluation at a candidate also yields the next iteration's
 * gradient and Hessian, so an accepted step costs one aggregate pass.
 */
int
glmix_fit_fixed(GlmixTraining *t, const double *offsets)
{
	int			d = t->lay.dim;
	Datum		off = PointerGetDatum(glmix_float8_array(offsets, (int) t->rows->n));
	double		f;
	int			evals = 1;
	const int	one = 1;
	int			info;

	f = fixed_eval(t, off, t->beta, t->g, t->H);
	for (int it = 0; it < NEWTON_MAX_ITER; it++)
	{
		double		slope = 0.0,
					step = 1.0;
		bool		accepted = false;

		CHECK_FOR_INTERRUPTS();
		memcpy(t->L, t->H, sizeof(double) * d * d);
		dpotrf_("L", &d, t->L, &d, &info);
		if (info != 0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("the fixed effect's Hessian is not positive definite"),
					 errdetail("LAPACK dpotrf stopped at column %d.", info),
					 errhint("Raise the fixed effect's L2 weight (the first value of l2).")));
		for (int j = 0; j < d; j++)
			t->step[j] = -t->g[j];
		dpotrs_("L", &d, &one, t->L, &d, t->step, &d, &info);
		if (info != 0)
			elog(ERROR, "dpotrs failed (info %d)", info);
		for (int j = 0; j < d; j++)
			slope += t->g[j] * t->step[j];
		/*
		 * The Newton decrement -g.step is twice what a full step could still
		 * gain.  Below NEWTON_REL_TOL of the objective: converged.  Below
		 * NEWTON_QUAD_TOL we are deep in the quadratic region, where the
		 * full step is safe and leaves a gap of the order of the decrement
		 * squared: take it without paying for another aggregate pass.
		 */
		if (-slope / 2 <= NEWTON_REL_TOL * Max(1.0, fabs(f)))
			break;
		if (-slope / 2 <= NEWTON_QUAD_TOL * Max(1.0, fabs(f)))
		{
			for (int j = 0; j < d; j++)
				t->beta[j] += t->step[j];
			break;
		}
		for (int tries = 0; tries < 30; tries++)
		{
			double		fc;

			for (int j = 0; j < d; j++)
				t->cand[j] = t->beta[j] + step * t->step[j];
			/* evaluating the candidate also gives the next iteration's g, H */
			fc = fixed_eval(t, off, t->cand, t->g, t->H);
			evals++;
			if (fc <= f + 1e-4 * step * slope)
			{
				accepted = true;
				f = fc;
				memcpy(t->beta, t->cand, sizeof(double) * d);
				break;
			}
			step *= 0.5;
		}
		if (!accepted)
		{
			/* restore g, H at beta: no decrease is possible, stay put */
			f = fixed_eval(t, off, t->beta, t->g, t->H);
			break;
		}
	}
	pfree(DatumGetPointer(off));
	return evals;
}

/*
 * One GROUP BY query fits every active entity of a random effect, warm
 * started from its current coefficients; entities the query does not
 * return (no model) keep zeros.
 */
void
glmix_fit_random(GlmixTraining *t, GlmixCoordinate *c, const double *offsets)
{
	int			dim = c->re->dim;
	Datum		values[3];
	int			rc;

	values[0] = PointerGetDatum(glmix_float8_array(offsets, (int) t->rows->n));
	values[1] = PointerGetDatum(glmix_float8_array(c->coef, c->re->nent * dim));
	values[2] = Float8GetDatum(c->re->l2);
	rc = SPI_execute_plan(c->plan, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "per-entity aggregate failed: %s", SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			e = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		int			n;
		const double *coef;

		if (isnull || e < 0 || e >= c->re->nent)
			continue;
		coef = glmix_float8_data(DatumGetArrayTypeP(d), &n, "entity coefficients");
		if (n != dim)
			elog(ERROR, "entity fit returned %d coefficients, expected %d", n, dim);
		memcpy(c->coef + (Size) e * dim, coef, sizeof(double) * dim);
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
}

double
glmix_objective(GlmixTraining *t, double *mean_loss)
{
	int64		n = t->rows->n;
	double		f = 0.0,
				wsum = 0.0;

	for (int64 r = 0; r < n; r++)
	{
		double		m = t->score[r];

		for (int k = 0; k < t->nre; k++)
			m += t->co[k].score[r];
		if (t->rows->w[r] != 0.0)
			f += t->rows->w[r] * glmix_logloss(m, t->rows->y[r]);
		wsum += t->rows->w[r];
	}
	if (mean_loss)
		*mean_loss = wsum > 0 ? f / wsum : NAN;
	for (int j = 0; j < t->lay.dim; j++)
		f += 0.5 * t->l2_fixed * t->beta[j] * t->beta[j];
	for (int k = 0; k < t->nre; k++)
	{
		GlmixCoordinate *c = &t->co[k];

		for (Size j = 0; j < (Size) c->re->nent * c->re->dim; j++)
			f += 0.5 * c->re->l2 * c->coef[j] * c->coef[j];
	}
	return f;
}

/* AUC and log-loss of the current model on the validation rows */
void
glmix_validation_metrics(GlmixTraining *t, double *auc, double *logloss)
{
	int64		n = t->vrows->n;
	double	   *total = palloc(sizeof(double) * Max(n, 1));

	for (int64 r = 0; r < n; r++)
	{
		double		m = t->vscore[r];

		for (int k = 0; k < t->nre; k++)
			m += t->co[k].vscore[r];
		total[r] = m;
	}
	*auc = glmix_auc(n, total, t->vrows->y);
	*logloss = glmix_mean_logloss(n, total, t->vrows->y);
	pfree(total);
}
