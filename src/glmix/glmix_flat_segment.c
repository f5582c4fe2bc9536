/*
 * glmix_flat_segment.c -- a random effect keyed by a learner attribute (a
 * segment: a per-segment model over the course's z(c)) on the flat Citus
 * path, by per-entity sufficient statistics
 *
 * A segment has few entities and rows on every shard.  Each learner's key
 * (its value's index among the attribute's values, read as on one node)
 * goes to a relation co-located with the blocks, G (learner_id, key,
 * scoef: the key's coefficients, updated after each visit).  The learner
 * effect's blocks carry z(c) for every kept row when the model has such an
 * effect (the encoding's min_rows is 0 then; the learner effect's own
 * min_rows is the coefficient relation's rows).  A visit is Newton per
 * entity on the coordinator, glmix_math.c's entity_newton_dense rule
 * repeated across aggregate passes: each pass, one statement, sums per key
 * the loss, gradient, packed Hessian and column counts at the coefficients
 * given (recs._glmix_flat_entity_stats, pushed down as a partial
 * aggregate), with offsets x.beta + z.coef_l + the course scores computed
 * in the tasks.  A pass at a candidate gives both the line search's
 * objective and, when accepted, the next step's gradient and Hessian: one
 * pass per Newton iteration, one more per step halving.  The segment's
 * score z.scoef enters the other coordinates' offsets through the course
 * scores' argument (glmix_flat.c) and the course rows' learner
 * coefficients (recs._glmix_flat_add).  A model may have several such
 * effects (GlmixFlatSeg each, its own G): each one's statistics take the
 * learner coefficients plus the other segments' on the twin block, as all
 * of them share the design z(c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "glmix.h"
#include "glmix_flat.h"

/* recs.glmix_entity_fit's rule (glmix_agg_entity.c) */
#define SEG_MAX_ITER 50
#define SEG_TOL 1e-8
#define SEG_TRIES 40

#define SEG_DONE 0
#define SEG_STEP 1
#define SEG_TRY 2

/* learners a batch for G */
#define SEG_PUT_BATCH 4096

static void
put_keys(const GlmixTraining *t, const GlmixFlatSeg *sf, const GlmixRandom *re, const char *ltype)
{
	const GlmixSide *s = t->learners;
	SPIPlanPtr	plan = SPI_prepare(psprintf("INSERT INTO %s (learner_id, key) SELECT u.id::%s, u.k "
											"FROM unnest($1::int8[], $2::int4[]) u(id, k)", sf->g, ltype),
								   2, (Oid[]) {INT8ARRAYOID, INT4ARRAYOID});

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int lo = 0; lo < s->n; lo += SEG_PUT_BATCH)
	{
		int			hi = Min(s->n, lo + SEG_PUT_BATCH);
		Datum	   *ids = palloc(sizeof(Datum) * (hi - lo));
		Datum	   *keys = palloc(sizeof(Datum) * (hi - lo));
		int			n = 0;
		Datum		values[2];

		CHECK_FOR_INTERRUPTS();
		for (int i = lo; i < hi; i++)
			if (re->side_entity[i] >= 0)
			{
				ids[n] = Int64GetDatum(s->ids[i]);
				keys[n++] = Int32GetDatum(re->side_entity[i]);
			}
		if (n > 0)
		{
			values[0] = PointerGetDatum(construct_array(ids, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
			values[1] = PointerGetDatum(construct_array(keys, n, INT4OID, 4, true, TYPALIGN_INT));
			if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "could not write the learners' keys");
		}
		pfree(ids);
		pfree(keys);
	}
	SPI_freeplan(plan);
}

/*
 * After the blocks: G (created by glmix_flat.c) filled, the entities' rows
 * counted (those under min_rows get no model), the plans.  cexpr is the
 * course scores' expression (NULL::float8[] without a course effect), cjoin
 * its join and the other segments' relations'; lcoef the learner
 * coefficients plus the other segments' ("c.coef" without others).
 */
void
glmix_flat_segment_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatSeg *sf, const char *ltype,
						 const char *cexpr, const char *cjoin, const char *lcoef)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[sf->co];
	GlmixRandom *re = c->re;
	int			d;

	/* the blocks' z(c) has the intercept column when any learner-side effect has one */
	sf->shift = 0;
	for (int k = 0; k < t->nre; k++)
		if (t->co[k].re->learner_side && t->co[k].re->intercept && !re->intercept)
			sf->shift = 1;
	sf->bdim = d = re->dim + sf->shift;
	put_keys(t, sf, re, ltype);
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	sf->bcoef = sf->shift == 0 ? c->coef : palloc0(sizeof(double) * Max((Size) re->nent * d, 1));
	c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
	sf->seen = palloc0(sizeof(bool) * Max((Size) re->nent * d, 1));
	c->nmodels = 0;
	if (SPI_execute(psprintf("SELECT g.key, sum(w.rows)::int8 FROM %s w JOIN %s g ON g.learner_id = w.learner_id "
							 "WHERE w.rblock IS NOT NULL GROUP BY g.key", f->w, sf->g),
					true, 0) != SPI_OK_SELECT)
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

	/* the statistics at the keys' coefficients; offsets x.beta + z.coef_l + course scores */
	sf->sstats = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_entity_stats(w.rblock, "
											 "recs._glmix_flat_scores(w.fblock, $1, coalesce("
											 "recs._glmix_flat_scores(w.rblock, %s, %s), %s)), %s.key, $2, $3) "
											 "FROM %s w JOIN %s %s ON %s.learner_id = w.learner_id "
											 "LEFT JOIN %s c ON c.learner_id = w.learner_id%s "
											 "WHERE w.rblock IS NOT NULL",
											 lcoef, cexpr, cexpr, sf->alias, f->w, sf->g, sf->alias, sf->alias,
											 f->c, cjoin),
								   3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	sf->sscore = SPI_prepare_cursor(psprintf("UPDATE %s SET scoef = ($1::float8[])[key * %d + 1 : key * %d + %d]",
											 sf->g, d, d, d),
									1, (Oid[]) {FLOAT8ARRAYOID}, CURSOR_OPT_CUSTOM_PLAN);
	if (sf->sstats == NULL || sf->sscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* one aggregate pass at coefficients coef (nent x dim): its sums, palloc'd */
static double *
seg_pass(GlmixTraining *t, const GlmixFlatSeg *sf, const double *coef)
{
	GlmixCoordinate *c = &t->co[sf->co];
	int			d = sf->bdim;
	Size		per = 3 + 2 * (Size) d + (Size) d * (d + 1) / 2;
	Size		want = 2 + per * c->re->nent;
	double	   *out = palloc0(sizeof(double) * want);
	Datum		values[3];
	bool		isnull;
	Datum		r;

	values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
	values[1] = PointerGetDatum(glmix_float8_array(coef, c->re->nent * d));
	values[2] = Int32GetDatum(c->re->nent);
	if (SPI_execute_plan(sf->sstats, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "the %s effect's statistics failed", c->re->column);
	r = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		int			n;
		const double *v = glmix_float8_data(DatumGetArrayTypeP(r), &n, "entity statistics");

		if ((Size) n != want || v[0] != c->re->nent || v[1] != d)
			elog(ERROR, "the %s effect's statistics hold %d values, not %zu", c->re->column, n, want);
		memcpy(out, v, sizeof(double) * want);
	}
	SPI_freetuptable(SPI_tuptable);
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	return out;
}

/*
 * Entity e's objective at x (its pass's loss plus the penalty), and its
 * gradient and Hessian over the seen columns (map: da of them) when g is
 * given: g + lambda x, H + lambda I, H full (da x da)
 */
static double
seg_load(const double *v, int e, int d, const int *map, int da, double lambda,
		 const double *x, double *g, double *H)
{
	Size		per = 3 + 2 * (Size) d + (Size) d * (d + 1) / 2;
	const double *base = v + 2 + per * e;
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
 * One visit: Newton per entity, all entities' passes shared; G's scores
 * updated after.  Returns the aggregate passes.
 */
int
glmix_flat_segment_fit(GlmixTraining *t, GlmixFlatSeg *f)
{
	GlmixCoordinate *c = &t->co[f->co];
	GlmixRandom *re = c->re;
	int			d = f->bdim,
				E = re->nent,
				passes = 0;
	double	   *coef = f->bcoef;
	double		lambda = re->l2;
	Size		per = 3 + 2 * (Size) d + (Size) d * (d + 1) / 2;
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

	v = seg_pass(t, f, coef);
	passes++;
	for (int e = 0; e < E; e++)
	{
		double	   *beta = coef + (Size) e * d;
		const double *cnt = v + 2 + per * e + 3 + d + (Size) d * (d + 1) / 2;

		if (c->rows[e] == 0)
			continue;
		/*
		 * the columns the entity's rows store (fixed across visits); the
		 * others stay 0, as the blocks' intercept column does for an effect
		 * without one
		 */
		for (int j = 0; j < d; j++)
		{
			if (cnt[j] > 0 && j >= f->shift)
				f->seen[(Size) e * d + j] = true;
			if (f->seen[(Size) e * d + j])
				map[(Size) e * d + da[e]++] = j;
			else
				beta[j] = 0.0;
		}
		if (da[e] == 0)
			continue;
		fv[e] = seg_load(v, e, d, map + (Size) e * d, da[e], lambda, beta,
						 g + (Size) e * d, H + (Size) e * d * d);
		it[e] = 1;
		state[e] = SEG_STEP;
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

			if (state[e] == SEG_STEP)
			{
				for (int a = 0; a < n; a++)
					maxg = Max(maxg, fabs(ge[a]));
				memcpy(L, H + (Size) e * d * d, sizeof(double) * n * n);
				if (maxg < 1e-12 || !glmix_cholesky(L, n))
				{
					state[e] = SEG_DONE;
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
				state[e] = SEG_TRY;
			}
			if (state[e] == SEG_TRY)
			{
				for (int a = 0; a < n; a++)
					cand[(Size) e * d + m[a]] = coef[(Size) e * d + m[a]] + tt[e] * se[a];
				any = true;
			}
		}
		if (!any)
			break;
		v = seg_pass(t, f, cand);
		passes++;
		for (int e = 0; e < E; e++)
		{
			int			n = da[e];
			const int  *m = map + (Size) e * d;
			double	   *beta = coef + (Size) e * d;
			double	   *ce = cand + (Size) e * d;
			double		fc,
						maxmove = 0.0;

			if (state[e] != SEG_TRY)
				continue;
			fc = seg_load(v, e, d, m, n, lambda, ce, NULL, NULL);
			if (!(fc <= fv[e] + 1e-4 * tt[e] * slope[e]))
			{
				tt[e] *= 0.5;
				if (++tries[e] == SEG_TRIES)
					state[e] = SEG_DONE;	/* no decrease possible: stay put */
				continue;
			}
			for (int a = 0; a < n; a++)
			{
				maxmove = Max(maxmove, fabs(ce[m[a]] - beta[m[a]]));
				beta[m[a]] = ce[m[a]];
			}
			fv[e] = seg_load(v, e, d, m, n, lambda, beta, g + (Size) e * d, H + (Size) e * d * d);
			/* converged as entity_newton_dense: nothing moved by tol, or a full step by sqrt(tol) */
			if (maxmove < SEG_TOL || (tt[e] == 1.0 && maxmove < sqrt(SEG_TOL)) || ++it[e] > SEG_MAX_ITER)
				state[e] = SEG_DONE;
			else
				state[e] = SEG_STEP;
		}
		pfree(v);
	}

	/* the keys' coefficients beside the learners, for the other coordinates' offsets */
	{
		Datum		values[1];

		values[0] = PointerGetDatum(glmix_float8_array(coef, E * d));
		if (SPI_execute_plan(f->sscore, values, NULL, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "could not write the %s effect's coefficients", re->column);
		pfree(DatumGetPointer(values[0]));
	}
	/* and the coordinate's own, without the blocks' intercept column */
	if (f->shift > 0)
		for (int e = 0; e < E; e++)
			memcpy(c->coef + (Size) e * re->dim, coef + (Size) e * d + f->shift, sizeof(double) * re->dim);
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

double
glmix_flat_segment_sumsq(const GlmixTraining *t, const GlmixFlatSeg *sf)
{
	const GlmixCoordinate *c = &t->co[sf->co];
	double		s = 0.0;

	for (Size j = 0; j < (Size) c->re->nent * c->re->dim; j++)
		s += c->coef[j] * c->coef[j];
	return s;
}

void
glmix_flat_segment_drop(GlmixTraining *t, GlmixFlatSeg *sf)
{
	SPI_freeplan(sf->sstats);
	SPI_freeplan(sf->sscore);
	SPI_execute(psprintf("DROP TABLE %s", sf->g), false, 0);
}
