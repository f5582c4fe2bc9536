/*
 * glmix_fit.c -- phase 3 of train_glmix: the passes of coordinate descent,
 * fitting each coordinate through its aggregate, and the objective
 *
 * train_glmix() (glmix_train.c) owns the options; glmix_data.c reads the
 * data and glmix_stage.c writes the designs to work relations.  This file
 * is what the passes do with them.  The fixed effect is fitted by Newton's
 * method, one aggregate query per iteration: recs.glmix_fixed_block_stats
 * returns the loss, gradient and packed upper Hessian, the step comes from
 * a LAPACK Cholesky solve, and Armijo backtracking guards it.  A large
 * fixed effect (t->tron) is fitted by TRON (glmix_tron.c) instead, whose
 * callbacks here run recs.glmix_fixed_block_grad: loss and gradient, or a
 * Hessian-vector product, one aggregate query each.  A random effect is one GROUP BY
 * entity query whose final function fits each entity (glmix_math.c).
 * Offsets (the other coordinates' scores) and coefficients are parameters
 * of generic plans, so nothing in the work relations changes between
 * passes; the scores are recomputed here in C after every fit.
 */
#include "postgres.h"

#include <math.h>

#include <cblas.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "glmix.h"
#include "timing.h"

/* LAPACK (from OpenBLAS), Fortran calling convention */
extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
					const int *lda, double *b, const int *ldb, int *info);

#define NEWTON_MAX_ITER 100
#define NEWTON_REL_TOL 1e-10
#define NEWTON_QUAD_TOL 1e-6

/* out[r] = X_r . coef (ent: per-row entity into coef, NULL for one vector) */
static void
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

/*
 * The statistics a fixed-effect query returned: one row, or on Citus one
 * row per shard (glmix_citus.c), added up in the order they came (ORDER BY
 * part: the same every time).  Every value is a sum over rows -- row count,
 * weight, loss, gradient, Hessian or Hessian-vector product -- so the sum
 * of the shards' is the whole's.  Returns nexpect values (palloc'd).
 */
static double *
fixed_result(int nexpect, int d)
{
	double	   *sum = palloc0(sizeof(double) * nexpect);

	if (SPI_processed < 1)
		elog(ERROR, "fixed-effect aggregate returned no row");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		v = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		const double *x;
		int			nv;

		if (isnull)
			elog(ERROR, "fixed-effect aggregate returned NULL");
		x = glmix_float8_data(DatumGetArrayTypeP(v), &nv, "statistics");
		if (nv != nexpect)
			elog(ERROR, "fixed-effect aggregate returned %d values for dimension %d", nv, d);
		for (int j = 0; j < nv; j++)
			sum[j] += x[j];
	}
	SPI_freetuptable(SPI_tuptable);
	return sum;
}

/*
 * The offsets as the aggregates' parameter.  On Citus the blocks read
 * theirs from the argument relations (glmix_citus_put_args), and a plan's
 * parameters are sent to every task with the query: there they are NULL,
 * (Datum) 0 here.
 */
static Datum
offsets_datum(const GlmixTraining *t, const double *offsets)
{
	if (t->citus_shards > 0)
		return (Datum) 0;
	return PointerGetDatum(glmix_float8_array(offsets, (int) t->rows->n));
}

static void
offsets_free(Datum d)
{
	if (d != (Datum) 0)
		pfree(DatumGetPointer(d));
}

/* ---- the fixed effect: Newton over the aggregate ---- */

static double
fixed_eval(GlmixTraining *t, Datum offsets, const double *beta, double *g, double *H)
{
	int			d = t->lay.dim;
	Datum		values[2];
	int			rc;
	double		f;
	double	   *v;
	const double *hp;

	values[0] = offsets;
	values[1] = PointerGetDatum(glmix_float8_array(beta, d));
	rc = SPI_execute_plan(t->plan, values, offsets == (Datum) 0 ? "n " : NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fixed-effect aggregate failed: %s", SPI_result_code_string(rc));
	v = fixed_result(3 + d + d * (d + 1) / 2, d);
	f = v[2];
	memcpy(g, v + 3, sizeof(double) * d);
	/* row-major upper triangle = the column-major lower one dpotrf reads */
	hp = v + 3 + d;
	for (int i = 0; i < d; i++)
		memcpy(H + (Size) i * d + i, hp + GLMIX_PACKED(i, d) + i, sizeof(double) * (d - i));
	pfree(v);
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
static int
glmix_fit_fixed(GlmixTraining *t, const double *offsets)
{
	int			d = t->lay.dim;
	Datum		off = offsets_datum(t, offsets);
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
	offsets_free(off);
	return evals;
}


/* ---- the fixed effect: TRON over the gradient aggregate ---- */

typedef struct TronCall
{
	GlmixTraining *t;
	Datum		offsets;
	const char *label;			/* "pass 2/3" */
	double		t0;
	double		last_notice;
	double		gnorm_first;
	double		gnorm_best;		/* the smallest so far (TRON's |g| is not monotone) */
} TronCall;

/* one pass of recs.glmix_fixed_block_grad: loss, gradient and (dir) H dir */
static double
tron_query(TronCall *c, const double *beta, const double *dir, double *g, double *hv)
{
	GlmixTraining *t = c->t;
	int			d = t->lay.dim;
	Datum		values[3];
	char		nulls[3] = {c->offsets == (Datum) 0 ? 'n' : ' ', ' ', dir ? ' ' : 'n'};
	int			rc;
	double	   *v;
	double		loss;

	values[0] = c->offsets;
	values[1] = PointerGetDatum(glmix_float8_array(beta, d));
	values[2] = dir ? PointerGetDatum(glmix_float8_array(dir, d)) : (Datum) 0;
	rc = SPI_execute_plan(t->plan, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "fixed-effect gradient aggregate failed: %s", SPI_result_code_string(rc));
	v = fixed_result(3 + d * (dir ? 2 : 1), d);
	loss = v[2];
	if (g)
		memcpy(g, v + 3, sizeof(double) * d);
	if (dir)
		memcpy(hv, v + 3 + d, sizeof(double) * d);
	pfree(v);
	pfree(DatumGetPointer(values[1]));
	if (dir)
		pfree(DatumGetPointer(values[2]));
	return loss;
}

/* TRON's callbacks: the penalised objective and its gradient, and H v */
static double
tron_fun_grad(void *arg, const double *beta, double *g)
{
	TronCall   *c = arg;
	double		l2 = c->t->l2_fixed;
	double		f = tron_query(c, beta, NULL, g, NULL);

	for (int j = 0; j < c->t->lay.dim; j++)
	{
		f += 0.5 * l2 * beta[j] * beta[j];
		g[j] += l2 * beta[j];
	}
	return f;
}

static void
tron_hess_vec(void *arg, const double *beta, const double *v, double *hv)
{
	TronCall   *c = arg;

	(void) tron_query(c, beta, v, NULL, hv);
	for (int j = 0; j < c->t->lay.dim; j++)
		hv[j] += c->t->l2_fixed * v[j];
}

/*
 * A progress NOTICE every 10 seconds: the objective, the gradient norm
 * against the one TRON stops at, the rate in design nonzeros per second,
 * and the time left extrapolated from how fast the smallest log |g| has
 * been falling (a rough guide: TRON speeds up near the optimum).
 */
static void
tron_progress(void *arg, int iteration, double f, double gnorm, double gtarget, int passes)
{
	TronCall   *c = arg;
	double		now = recs_clock_seconds();
	double		spent = now - c->t0;
	double		fallen;
	char		left[64] = "unknown time";

	if (iteration == 1)
		c->gnorm_first = c->gnorm_best = gnorm;
	c->gnorm_best = Min(c->gnorm_best, gnorm);
	fallen = log(c->gnorm_first / c->gnorm_best);
	if (now - c->last_notice < 10.0)
		return;
	c->last_notice = now;
	if (iteration > 1 && fallen > 0 && c->gnorm_best > gtarget)
		snprintf(left, sizeof(left), "about %.0f s", spent * log(c->gnorm_best / gtarget) / fallen);
	else if (c->gnorm_best <= gtarget)
		snprintf(left, sizeof(left), "0 s");
	ereport(NOTICE,
			(errmsg("train_glmix %s fixed (TRON): iteration %d, objective %.4f, gradient norm %.3g (stops at %.3g), "
					"%d aggregate passes, %.1f M nonzeros/s, %s left",
					c->label, iteration, f, gnorm, gtarget, passes,
					spent > 0 ? passes * (double) c->t->fixed_nnz / spent / 1e6 : 0.0, left)));
}

/* TRON from the current beta (the warm start); returns the aggregate passes */
static int
glmix_fit_fixed_tron(GlmixTraining *t, const double *offsets, const char *label)
{
	TronCall	c;
	GlmixTronOps ops = {&c, tron_fun_grad, tron_hess_vec, tron_progress};
	GlmixTronResult res;
	int			passes;

	c.t = t;
	c.offsets = offsets_datum(t, offsets);
	c.label = label;
	c.t0 = c.last_notice = recs_clock_seconds();
	c.gnorm_first = c.gnorm_best = 0.0;
	passes = glmix_tron(t->lay.dim, t->beta, t->l2_fixed, &ops, t->tron_work, &res);
	t->tron_iterations += res.iterations;
	t->tron_cg_steps += res.cg_steps;
	offsets_free(c.offsets);
	return passes;
}

/*
 * The flat Citus path (glmix_flat.c): its plan computes each row's offset
 * in the shards' tasks, so there are none to pass; Newton, or TRON over
 * recs._glmix_flat_fixed_grad (t->plan takes the same parameters as
 * recs.glmix_fixed_block_grad's)
 */
int
glmix_fit_fixed_flat(GlmixTraining *t, const char *label)
{
	if (t->tron)
		return glmix_fit_fixed_tron(t, NULL, label);
	return glmix_fit_fixed(t, NULL);
}

/*
 * One GROUP BY query fits every active entity of a random effect, warm
 * started from its current coefficients; entities the query does not
 * return (no model) keep zeros.
 */
static void
glmix_fit_random(GlmixTraining *t, GlmixCoordinate *c, const double *offsets)
{
	int			dim = c->re->dim;
	Datum		values[3];
	int			rc;

	values[0] = offsets_datum(t, offsets);
	values[1] = PointerGetDatum(glmix_float8_array(c->coef, c->re->nent * dim));
	values[2] = Float8GetDatum(c->re->l2);
	rc = SPI_execute_plan(c->plan, values, values[0] == (Datum) 0 ? "n  " : NULL, false, 0);
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
	offsets_free(values[0]);
	pfree(DatumGetPointer(values[1]));
}

static double
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
static void
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

/*
 * The end of a pass, on one node or on the workers (glmix_flat.c): its
 * NOTICE (objective, losses, rate, time left) and its line of history
 */
void
glmix_pass_end(const GlmixTraining *t, const GlmixOptions *o, int pass, double obj, double loss,
			   double vauc, double vll, double tp, double t0, GlmixPassLog *history)
{
	double		elapsed = recs_clock_seconds() - t0;

	if (!t->quiet)
		ereport(NOTICE,
				(errmsg("train_glmix: pass %d/%d: objective %.4f, train log-loss %.4f%s, "
						"%.0f impressions/s, elapsed %.1f s, about %.1f s left",
						pass, o->passes, obj, loss,
						t->vrows ? psprintf(", validation AUC %.4f log-loss %.4f", vauc, vll) : "",
						(double) t->rows->n / Max(recs_clock_seconds() - tp, 1e-9),
						elapsed, elapsed / pass * (o->passes - pass))));
	history[pass - 1].objective = obj;
	history[pass - 1].vauc = vauc;
	history[pass - 1].vll = vll;
}

/*
 * phase 3: coordinate descent.  Logs each pass in history[0..passes) and
 * returns the final objective; *vauc and *vll get the validation figures.
 * One NOTICE per pass (objective, losses, rate, time left), as train_ncf
 * prints one per epoch and train_blend one per pass; each coordinate's
 * line (its objective, entity models or aggregate passes, seconds) is at
 * DEBUG1.
 */
double
glmix_fit(GlmixTraining *t, const GlmixOptions *o, GlmixPassLog *history, double *vauc, double *vll)
{
	double	   *offsets = palloc(sizeof(double) * t->rows->n);
	double		final_obj = 0.0;
	double		t0 = recs_clock_seconds();

	/*
	 * LAPACK threads pay off only for big factorisations: below 2048
	 * features a single thread is faster than waking a pool (and much
	 * faster on a busy machine).
	 */
	if (o->threads > 1 && t->lay.dim >= 2048 && !t->tron)
		openblas_set_num_threads(o->threads);
	PG_TRY();
	{
		for (int pass = 1; pass <= o->passes; pass++)
		{
			double		tp = recs_clock_seconds();
			double		loss = 0.0;

			/* k = -1 is the fixed effect, then the random effects in order */
			for (int k = -1; k < t->nre; k++)
			{
				char		detail[128];
				double		obj;
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
				/* on Citus, each block's offsets (and entity's start) to its shard */
				if (t->citus_shards > 0 && k == -1)
					glmix_citus_put_args(&t->citus, offsets, NULL, 0);
				else if (t->citus_shards > 0)
					glmix_citus_put_args(&t->co[k].citus, offsets, t->co[k].coef, t->co[k].re->dim);
				if (k == -1)
				{
					int			evals = t->tron ?
						glmix_fit_fixed_tron(t, offsets, psprintf("pass %d/%d", pass, o->passes)) :
						glmix_fit_fixed(t, offsets);

					t->fixed_passes += evals;

					if (t->X)
						glmix_design_scores(t->X, NULL, t->beta, t->score);
					else
						glmix_fixed_scores(&t->lay, t->learners, t->courses, t->rows,
										   t->fixed_row_max, t->beta, t->score);
					if (t->vrows)
						glmix_design_scores(t->Xv, NULL, t->beta, t->vscore);
					snprintf(detail, sizeof(detail), "%d aggregate passes", evals);
				}
				else
				{
					GlmixCoordinate *c = &t->co[k];

					glmix_fit_random(t, c, offsets);
					if (c->Z)
						glmix_design_scores(c->Z, c->row_ent, c->coef, c->score);
					else
						glmix_random_scores(c->re, c->re->learner_side ? t->courses : t->learners,
											c->re->learner_side ? t->rows->ci : t->rows->li,
											c->row_ent, t->rows->n, c->coef, c->score);
					if (t->vrows)
						glmix_design_scores(c->Zv, c->val_ent, c->coef, c->vscore);
					snprintf(detail, sizeof(detail), "%d entity models", c->nmodels);
				}
				obj = glmix_objective(t, &loss);
				if (t->vrows)
					glmix_validation_metrics(t, vauc, vll);
				if (!t->quiet)
					ereport(DEBUG1,
							(errmsg("train_glmix pass %d/%d %s: objective %.4f, train log-loss %.4f, %s%s, %.3f s",
									pass, o->passes, k == -1 ? "fixed" : t->co[k].re->column, obj, loss, detail,
									t->vrows ? psprintf(", validation AUC %.4f log-loss %.4f", *vauc, *vll) : "",
									recs_clock_seconds() - tc)));
				final_obj = obj;
			}
			glmix_pass_end(t, o, pass, final_obj, loss, *vauc, *vll, tp, t0, history);
		}
	}
	PG_FINALLY();
	{
		openblas_set_num_threads(1);
	}
	PG_END_TRY();

	pfree(offsets);
	return final_obj;
}

/* drop the work relations and their plans now rather than at commit */
void
glmix_drop_work(GlmixTraining *t)
{
	SPI_freeplan(t->plan);
	SPI_execute(psprintf("DROP TABLE %s", t->work), false, 0);
	if (t->citus_shards > 0)
	{
		if (t->citus.put)
			SPI_freeplan(t->citus.put);
		SPI_execute(psprintf("DROP TABLE %s", t->citus.args), false, 0);
	}
	for (int k = 0; k < t->nre; k++)
	{
		SPI_freeplan(t->co[k].plan);
		SPI_execute(psprintf("DROP TABLE %s", t->co[k].work), false, 0);
		if (t->citus_shards > 0)
		{
			if (t->co[k].citus.put)
				SPI_freeplan(t->co[k].citus.put);
			SPI_execute(psprintf("DROP TABLE %s", t->co[k].citus.args), false, 0);
		}
	}
}

/*
 * After the fit: the designs, scores and row entities are done with.  The
 * store's own arrays (about 40 bytes per row) then reuse their memory, so
 * the budget checked before training also covers the store.
 */
void
glmix_release_fit_data(GlmixTraining *t)
{
	glmix_free_design(t->X);
	glmix_free_design(t->Xv);
	t->X = t->Xv = NULL;
	pfree(t->score);
	t->score = NULL;
	for (int k = 0; k < t->nre; k++)
	{
		GlmixCoordinate *c = &t->co[k];

		glmix_free_design(c->Z);
		glmix_free_design(c->Zv);
		c->Z = c->Zv = NULL;
		pfree(c->row_ent);
		pfree(c->score);
		c->row_ent = NULL;
		c->score = NULL;
	}
}
