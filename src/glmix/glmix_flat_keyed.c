/*
 * glmix_flat_keyed.c -- one visit of a keyed effect on the flat Citus path:
 * Newton per key on the coordinator, by per-key sufficient statistics
 *
 * Shared by the two effects whose keys are few and whose rows are on every
 * shard: a learner attribute's (a segment, glmix_flat_segment.c, a key per
 * learner) and an impressions column's (a channel, glmix_flat_channel.c, a
 * key per row).  Each gives its coordinate, its coefficients (in the
 * blocks' z(c) columns) and a prepared statement that runs one aggregate
 * pass at given coefficients ($1 the fixed effect's beta, $2 the keys'
 * coefficients, nent x d, $3 nent) and returns per key the loss, gradient,
 * packed Hessian and column counts (recs._glmix_flat_entity_stats or
 * recs._glmix_flat_channel_stats, pushed down as partial aggregates).  Each
 * writes its own scores after the visit.
 *
 * The rule is glmix_math.c's entity_newton_dense (recs.glmix_entity_fit's,
 * glmix_agg_entity.c) repeated across the passes, every key's step in the
 * same pass: a state machine per key (KEYED_STEP: a Newton step by
 * Cholesky; KEYED_TRY: a candidate, accepted by Armijo or halved;
 * KEYED_DONE).  A pass at a candidate gives both the line search's objective
 * and, when accepted, the next step's gradient and Hessian: one pass per
 * Newton iteration, one more per step halving.
 *
 * This file calls only glmix_math.c and glmix_block.c (no call back into
 * its callers: test/shell/layering.sh).
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"

#include "glmix.h"
#include "glmix_flat.h"

/* recs.glmix_entity_fit's rule (glmix_agg_entity.c) */
#define KEYED_MAX_ITER 50
#define KEYED_TOL 1e-8
#define KEYED_TRIES 40

#define KEYED_DONE 0
#define KEYED_STEP 1
#define KEYED_TRY 2

/* what a pass needs: the effect, its statement, its coefficients' width */
typedef struct KeyedPass
{
	const GlmixRandom *re;
	SPIPlanPtr	stats;
	int			d;
} KeyedPass;

Size
glmix_flat_keyed_per(int d)
{
	return 3 + 2 * (Size) d + (Size) d * (d + 1) / 2;
}

/*
 * The keys' rows counted by sql (key int4, rows int8; each key once), into
 * c->rows (palloc'd here) and c->nmodels: a key under min_rows gets no model
 */
void
glmix_flat_keyed_rows(GlmixCoordinate *c, const GlmixOptions *o, const char *sql)
{
	GlmixRandom *re = c->re;

	c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
	c->nmodels = 0;
	if (SPI_execute(sql, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not count the rows by %s", re->column);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			e = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));

		if (e < 0 || e >= re->nent)
			elog(ERROR, "key %d outside the %d values of %s", e, re->nent, re->column);
		if (n >= o->min_rows && n > 0)
		{
			if (n > PG_INT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("%s \"%s\" has more than %d rows", re->column, re->keys[e], PG_INT32_MAX)));
			c->rows[e] = (int) n;
			c->nmodels++;
		}
	}
	SPI_freetuptable(SPI_tuptable);
}

/* one aggregate pass at coefficients coef (nent x d): its sums, palloc'd */
static double *
keyed_pass(GlmixTraining *t, const KeyedPass *k, const double *coef)
{
	const GlmixRandom *re = k->re;
	int			d = k->d;
	Size		want = 2 + glmix_flat_keyed_per(d) * re->nent;
	double	   *out = palloc0(sizeof(double) * want);
	Datum		values[3];
	bool		isnull;
	Datum		r;

	values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
	values[1] = PointerGetDatum(glmix_float8_array(coef, re->nent * d));
	values[2] = Int32GetDatum(re->nent);
	if (SPI_execute_plan(k->stats, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the %s effect's statistics failed", re->column);
	r = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		int			n;
		const double *v = glmix_float8_data(DatumGetArrayTypeP(r), &n, "entity statistics");

		if ((Size) n != want || v[0] != re->nent || v[1] != d)
			elog(ERROR, "the %s effect's statistics hold %d values, not %zu", re->column, n, want);
		memcpy(out, v, sizeof(double) * want);
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	return out;
}

/*
 * Key e's objective at x (its pass's loss plus the penalty), and its
 * gradient and Hessian over the seen columns (map: da of them) when g is
 * given: g + lambda x, H + lambda I, H full (da x da)
 */
static double
keyed_load(const double *v, int e, int d, const int *map, int da, double lambda,
		   const double *x, double *g, double *H)
{
	const double *base = v + 2 + glmix_flat_keyed_per(d) * e;
	const double *grad = base + 3;
	const double *hp = grad + d;
	double		f = base[2];

	for (int a = 0; a < da; a++)
		f += 0.5 * lambda * x[map[a]] * x[map[a]];
	if (g == NULL)
		return f;
	for (int a = 0; a < da; a++)
	{
		int			i = map[a];

		g[a] = grad[i] + lambda * x[i];
		for (int b = a; b < da; b++)
		{
			double		h = hp[GLMIX_PACKED(i, d) + map[b]];

			H[(Size) a * da + b] = h + (a == b ? lambda : 0.0);
			H[(Size) b * da + a] = H[(Size) a * da + b];
		}
	}
	return f;
}

/*
 * One visit: Newton per key, all keys' passes shared; coef updated in place
 * (the caller writes its scores).  Returns the aggregate passes.
 */
int
glmix_flat_keyed_fit(GlmixTraining *t, const GlmixCoordinate *c, SPIPlanPtr stats,
					 double *coef, int d, int shift, bool *seen)
{
	const GlmixRandom *re = c->re;
	KeyedPass	k = {re, stats, d};
	int			E = re->nent,
				passes = 0;
	double		lambda = re->l2;
	Size		per = glmix_flat_keyed_per(d);
	int		   *state = palloc0(sizeof(int) * Max(E, 1));
	int		   *it = palloc0(sizeof(int) * Max(E, 1));
	int		   *tries = palloc0(sizeof(int) * Max(E, 1));
	int		   *da = palloc0(sizeof(int) * Max(E, 1));
	int		   *map = palloc(sizeof(int) * Max((Size) E * d, 1));
	double	   *fv = palloc0(sizeof(double) * Max(E, 1));
	double	   *tt = palloc0(sizeof(double) * Max(E, 1));
	double	   *slope = palloc0(sizeof(double) * Max(E, 1));
	double	   *g = palloc(sizeof(double) * Max((Size) E * d, 1));
	double	   *H = palloc(sizeof(double) * Max((Size) E * d * d, 1));
	double	   *L = palloc(sizeof(double) * Max((Size) d * d, 1));
	double	   *step = palloc(sizeof(double) * Max((Size) E * d, 1));
	double	   *cand = palloc(sizeof(double) * Max((Size) E * d, 1));
	double	   *v;

	v = keyed_pass(t, &k, coef);
	passes++;
	for (int e = 0; e < E; e++)
	{
		double	   *beta = coef + (Size) e * d;
		const double *cnt = v + 2 + per * e + 3 + d + (Size) d * (d + 1) / 2;

		if (c->rows[e] == 0)
			continue;
		/*
		 * the columns the key's rows store (fixed across visits); the others
		 * stay 0, as the blocks' leading shift columns do (a segment without
		 * an intercept beside a learner-side effect with one)
		 */
		for (int j = 0; j < d; j++)
		{
			if (cnt[j] > 0 && j >= shift)
				seen[(Size) e * d + j] = true;
			if (seen[(Size) e * d + j])
				map[(Size) e * d + da[e]++] = j;
			else
				beta[j] = 0.0;
		}
		if (da[e] == 0)
			continue;
		fv[e] = keyed_load(v, e, d, map + (Size) e * d, da[e], lambda, beta,
						   g + (Size) e * d, H + (Size) e * d * d);
		it[e] = 1;
		state[e] = KEYED_STEP;
	}
	pfree(v);

	for (;;)
	{
		bool		any = false;

		CHECK_FOR_INTERRUPTS();
		memcpy(cand, coef, sizeof(double) * (Size) E * d);
		for (int e = 0; e < E; e++)
		{
			int			n = da[e];
			const int  *m = map + (Size) e * d;
			double	   *ge = g + (Size) e * d;
			double	   *se = step + (Size) e * d;
			double		maxg = 0.0;

			if (state[e] == KEYED_STEP)
			{
				for (int a = 0; a < n; a++)
					maxg = Max(maxg, fabs(ge[a]));
				memcpy(L, H + (Size) e * d * d, sizeof(double) * n * n);
				if (maxg < 1e-12 || !glmix_cholesky(L, n))
				{
					state[e] = KEYED_DONE;
					continue;
				}
				for (int a = 0; a < n; a++)
					se[a] = -ge[a];
				glmix_cholesky_solve(L, n, se);
				slope[e] = 0.0;
				for (int a = 0; a < n; a++)
					slope[e] += ge[a] * se[a];
				tt[e] = 1.0;
				tries[e] = 0;
				state[e] = KEYED_TRY;
			}
			if (state[e] == KEYED_TRY)
			{
				for (int a = 0; a < n; a++)
					cand[(Size) e * d + m[a]] = coef[(Size) e * d + m[a]] + tt[e] * se[a];
				any = true;
			}
		}
		if (!any)
			break;
		v = keyed_pass(t, &k, cand);
		passes++;
		for (int e = 0; e < E; e++)
		{
			int			n = da[e];
			const int  *m = map + (Size) e * d;
			double	   *beta = coef + (Size) e * d;
			double	   *ce = cand + (Size) e * d;
			double		fc,
						maxmove = 0.0;

			if (state[e] != KEYED_TRY)
				continue;
			fc = keyed_load(v, e, d, m, n, lambda, ce, NULL, NULL);
			if (!(fc <= fv[e] + 1e-4 * tt[e] * slope[e]))
			{
				tt[e] *= 0.5;
				if (++tries[e] == KEYED_TRIES)
					state[e] = KEYED_DONE;	/* no decrease possible: stay put */
				continue;
			}
			for (int a = 0; a < n; a++)
			{
				maxmove = Max(maxmove, fabs(ce[m[a]] - beta[m[a]]));
				beta[m[a]] = ce[m[a]];
			}
			fv[e] = keyed_load(v, e, d, m, n, lambda, beta, g + (Size) e * d, H + (Size) e * d * d);
			/* converged as entity_newton_dense: nothing moved by tol, or a full step by sqrt(tol) */
			if (maxmove < KEYED_TOL || (tt[e] == 1.0 && maxmove < sqrt(KEYED_TOL)) || ++it[e] > KEYED_MAX_ITER)
				state[e] = KEYED_DONE;
			else
				state[e] = KEYED_STEP;
		}
		pfree(v);
	}

	pfree(state);
	pfree(it);
	pfree(tries);
	pfree(da);
	pfree(map);
	pfree(fv);
	pfree(tt);
	pfree(slope);
	pfree(g);
	pfree(H);
	pfree(L);
	pfree(step);
	pfree(cand);
	return passes;
}

/* the penalty's sum of squares of a random effect's coefficients (nent x dim) */
double
glmix_flat_keyed_sumsq(const GlmixCoordinate *c)
{
	double		s = 0.0;

	for (Size j = 0; j < (Size) c->re->nent * c->re->dim; j++)
		s += c->coef[j] * c->coef[j];
	return s;
}
