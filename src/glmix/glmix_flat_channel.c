/*
 * glmix_flat_channel.c -- a random effect keyed by a column of the
 * impressions (a channel: a per-channel model over the course's z(c)) on
 * the flat Citus path, by per-key sufficient statistics
 *
 * A channel is the learner attribute's effect (glmix_flat_segment.c) with a
 * key per row instead of per learner:
 *
 *   - its entities are the column's distinct values, read as the
 *     single-node reader reads them (SELECT DISTINCT col::text, pushed down;
 *     sorted bytewise here), so few; the values go as a parameter of the
 *     staging statement, where each impression's key is its value's index
 *     (array_position), and the block builder keeps each block's rows' keys
 *     beside the block (recs._glmix_flat_blocks' keyed overload; a NULL value:
 *     no key, the row stays in the other coordinates);
 *   - its design is z(c), the learner effect's: the learner-effect blocks
 *     carry z(c) for every kept row (the encoding's min_rows is 0, as with a
 *     segment), so the effect's rows are those blocks' rows;
 *   - a visit is Newton per key on the coordinator (entity_newton_dense's
 *     rule, as the segment's), each pass one statement: the partial
 *     aggregate recs._glmix_flat_channel_stats sums per key the loss,
 *     gradient, packed Hessian and column counts of the rows at their key's
 *     coefficients (a parameter: keys x dim), the offsets x.beta + z.coef_l
 *     (+ the segments') + the course-side scores computed in the tasks;
 *   - its score enters the other coordinates' offsets per row: after a visit
 *     one co-located UPDATE writes each block's rows' scores z_r . coef_key
 *     (recs._glmix_flat_channel_scores, the coefficients its parameter) to a
 *     relation H beside the blocks, which the other plans join and add to
 *     the course scores' argument (recs._glmix_flat_add), and the course
 *     rows take as their twelfth argument.
 *
 * Why a score relation rather than the scores computed in each statement
 * from the coefficients: every other coordinate's statement (the fixed
 * effect's Newton and TRON callbacks, the loss, the learner and segment
 * fits, the course rows) already takes the other scores through one
 * per-row argument; a relation keeps their parameters as they are, for 8
 * bytes a row written once per visit.
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
#include "spi_util.h"

/* recs.glmix_entity_fit's rule (glmix_agg_entity.c), as glmix_flat_segment.c */
#define CH_MAX_ITER 50
#define CH_TOL 1e-8
#define CH_TRIES 40

#define CH_DONE 0
#define CH_STEP 1
#define CH_TRY 2

/* the per-key statistics' bytes at most (each shard's state, and here) */
#define CH_MAX_STATE_BYTES (64.0 * 1024 * 1024)

static int
key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static Size
ch_per(int d)
{
	return 3 + 2 * (Size) d + (Size) d * (d + 1) / 2;
}

/*
 * At prepare: the column's distinct values, as ingest/impressions.c reads
 * them.  False when there are none or too many keys for one state.
 */
bool
glmix_flat_channel_read(GlmixTraining *t, const GlmixOptions *o)
{
	GlmixFlatWork *f = t->flat;
	GlmixRandom *re = t->co[f->hk].re;
	const char *col = quote_identifier(re->column);
	MemoryContext cxt = CurrentMemoryContext;
	char	  **vals;
	Datum	   *d;
	int			n;

	if (SPI_execute(psprintf("SELECT DISTINCT %s::text FROM %s WHERE %s IS NOT NULL LIMIT %d",
							 col, recs_relation_name(o->impressions), col, GLMIX_FLAT_MAX_KEYS + 1),
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read column \"%s\"", re->column);
	MemoryContextSwitchTo(cxt);
	n = (int) SPI_processed;
	if (n == 0 || n > GLMIX_FLAT_MAX_KEYS ||
		8.0 * n * ch_per(re->dim) > CH_MAX_STATE_BYTES)
	{
		SPI_freetuptable(SPI_tuptable);
		ereport(DEBUG1,
				(errmsg("train_glmix: not the flat Citus path: %d values of %s", n, re->column)));
		return false;
	}
	vals = palloc(sizeof(char *) * n);
	for (int i = 0; i < n; i++)
		vals[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	qsort(vals, n, sizeof(char *), key_cmp);
	re->context = true;
	re->nent = n;
	re->keys = vals;
	d = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(vals[i]);
	f->hvalues = PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
	f->hnkeys = n;
	return true;
}

/*
 * After the blocks: H, a row per block, and its join for the other
 * coordinates' plans (before the course effect's)
 */
void
glmix_flat_channel_create(GlmixTraining *t, const GlmixOptions *o, const char *ltype)
{
	GlmixFlatWork *f = t->flat;

	f->h = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_flat_hscore", MyProcPid)));
	glmix_work_colocated(f->h, psprintf("learner_id %s NOT NULL, block_no integer NOT NULL, "
										"hscore float8[]", ltype),
						 "", o->impressions, "learner_id");
	if (SPI_execute(psprintf("INSERT INTO %s (learner_id, block_no) SELECT learner_id, block_no FROM %s "
							 "WHERE rblock IS NOT NULL", f->h, f->w), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not create the %s scores", t->co[f->hk].re->column);
	f->hjoin = psprintf(" LEFT JOIN %s h ON h.learner_id = w.learner_id AND h.block_no = w.block_no", f->h);
}

/*
 * The keys' rows counted (those under min_rows get no model), the plans.
 * The statistics' offsets: x.beta + z.lexpr + cexpr (the other scores).
 */
void
glmix_flat_channel_stage(GlmixTraining *t, const GlmixOptions *o, const char *lexpr,
						 const char *ljoin, const char *cexpr, const char *cjoin)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[f->hk];
	GlmixRandom *re = c->re;
	int			d = re->dim;

	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * d, 1));
	c->rows = palloc0(sizeof(int) * Max(re->nent, 1));
	f->hseen = palloc0(sizeof(bool) * Max((Size) re->nent * d, 1));
	c->nmodels = 0;
	if (SPI_execute(psprintf("SELECT u.k, count(*) FROM %s w, unnest(w.keys) u(k) "
							 "WHERE w.rblock IS NOT NULL AND u.k >= 0 GROUP BY u.k", f->w),
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

	f->hstats = SPI_prepare_cursor(psprintf("SELECT recs._glmix_flat_channel_stats(w.rblock, "
											"recs._glmix_flat_scores(w.fblock, $1, coalesce("
											"recs._glmix_flat_scores(w.rblock, %s, %s), %s)), w.keys, $2, $3) "
											"FROM %s w%s%s WHERE w.rblock IS NOT NULL",
											lexpr, cexpr, cexpr, f->w, ljoin, cjoin),
								   3, (Oid[]) {FLOAT8ARRAYOID, FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	f->hscore = SPI_prepare_cursor(psprintf("UPDATE %s h SET hscore = recs._glmix_flat_channel_scores(w.rblock, "
											"w.keys, $1, $2) FROM %s w WHERE h.learner_id = w.learner_id "
											"AND h.block_no = w.block_no", f->h, f->w),
								   2, (Oid[]) {FLOAT8ARRAYOID, INT4OID}, CURSOR_OPT_CUSTOM_PLAN);
	if (f->hstats == NULL || f->hscore == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
}

/* one aggregate pass at coefficients coef (nent x dim): its sums, palloc'd */
static double *
ch_pass(GlmixTraining *t, const double *coef)
{
	GlmixCoordinate *c = &t->co[t->flat->hk];
	int			d = c->re->dim;
	Size		want = 2 + ch_per(d) * c->re->nent;
	double	   *out = palloc0(sizeof(double) * want);
	Datum		values[3];
	bool		isnull;
	Datum		r;

	values[0] = PointerGetDatum(glmix_float8_array(t->beta, t->lay.dim));
	values[1] = PointerGetDatum(glmix_float8_array(coef, c->re->nent * d));
	values[2] = Int32GetDatum(c->re->nent);
	if (SPI_execute_plan(t->flat->hstats, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
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
 * Key e's objective at x (its pass's loss plus the penalty), and its
 * gradient and Hessian over the seen columns (map: da of them) when g is
 * given: g + lambda x, H + lambda I, H full (da x da)
 */
static double
ch_load(const double *v, int e, int d, const int *map, int da, double lambda,
		const double *x, double *g, double *H)
{
	const double *base = v + 2 + ch_per(d) * e;
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
 * One visit: Newton per key, all keys' passes shared (glmix_flat_segment.c's
 * loop); H's scores updated after.  Returns the aggregate passes.
 */
int
glmix_flat_channel_fit(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;
	GlmixCoordinate *c = &t->co[f->hk];
	GlmixRandom *re = c->re;
	int			d = re->dim,
				E = re->nent,
				passes = 0;
	double		lambda = re->l2;
	Size		per = ch_per(d);
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
	Datum		values[2];

	v = ch_pass(t, c->coef);
	passes++;
	for (int e = 0; e < E; e++)
	{
		double	   *beta = c->coef + (Size) e * d;
		const double *cnt = v + 2 + per * e + 3 + d + (Size) d * (d + 1) / 2;

		if (c->rows[e] == 0)
			continue;
		/* the columns the key's rows store (fixed across visits); the others stay 0 */
		for (int j = 0; j < d; j++)
		{
			if (cnt[j] > 0)
				f->hseen[(Size) e * d + j] = true;
			if (f->hseen[(Size) e * d + j])
				map[(Size) e * d + da[e]++] = j;
			else
				beta[j] = 0.0;
		}
		if (da[e] == 0)
			continue;
		fv[e] = ch_load(v, e, d, map + (Size) e * d, da[e], lambda, beta,
						g + (Size) e * d, H + (Size) e * d * d);
		it[e] = 1;
		state[e] = CH_STEP;
	}
	pfree(v);

	for (;;)
	{
		bool		any = false;

		CHECK_FOR_INTERRUPTS();
		memcpy(cand, c->coef, sizeof(double) * (Size) E * d);
		for (int e = 0; e < E; e++)
		{
			int			n = da[e];
			const int  *m = map + (Size) e * d;
			double	   *ge = g + (Size) e * d;
			double	   *se = step + (Size) e * d;
			double		maxg = 0.0;

			if (state[e] == CH_STEP)
			{
				for (int a = 0; a < n; a++)
					maxg = Max(maxg, fabs(ge[a]));
				memcpy(L, H + (Size) e * d * d, sizeof(double) * n * n);
				if (maxg < 1e-12 || !glmix_cholesky(L, n))
				{
					state[e] = CH_DONE;
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
				state[e] = CH_TRY;
			}
			if (state[e] == CH_TRY)
			{
				for (int a = 0; a < n; a++)
					cand[(Size) e * d + m[a]] = c->coef[(Size) e * d + m[a]] + tt[e] * se[a];
				any = true;
			}
		}
		if (!any)
			break;
		v = ch_pass(t, cand);
		passes++;
		for (int e = 0; e < E; e++)
		{
			int			n = da[e];
			const int  *m = map + (Size) e * d;
			double	   *beta = c->coef + (Size) e * d;
			double	   *ce = cand + (Size) e * d;
			double		fc,
						maxmove = 0.0;

			if (state[e] != CH_TRY)
				continue;
			fc = ch_load(v, e, d, m, n, lambda, ce, NULL, NULL);
			if (!(fc <= fv[e] + 1e-4 * tt[e] * slope[e]))
			{
				tt[e] *= 0.5;
				if (++tries[e] == CH_TRIES)
					state[e] = CH_DONE; /* no decrease possible: stay put */
				continue;
			}
			for (int a = 0; a < n; a++)
			{
				maxmove = Max(maxmove, fabs(ce[m[a]] - beta[m[a]]));
				beta[m[a]] = ce[m[a]];
			}
			fv[e] = ch_load(v, e, d, m, n, lambda, beta, g + (Size) e * d, H + (Size) e * d * d);
			/* converged as entity_newton_dense: nothing moved by tol, or a full step by sqrt(tol) */
			if (maxmove < CH_TOL || (tt[e] == 1.0 && maxmove < sqrt(CH_TOL)) || ++it[e] > CH_MAX_ITER)
				state[e] = CH_DONE;
			else
				state[e] = CH_STEP;
		}
		pfree(v);
	}

	/* the rows' scores beside the blocks, for the other coordinates' offsets */
	values[0] = PointerGetDatum(glmix_float8_array(c->coef, E * d));
	values[1] = Int32GetDatum(E);
	if (SPI_execute_plan(f->hscore, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not write the %s effect's scores", re->column);
	pfree(DatumGetPointer(values[0]));
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
glmix_flat_channel_sumsq(const GlmixTraining *t)
{
	const GlmixCoordinate *c = &t->co[t->flat->hk];
	double		s = 0.0;

	for (Size j = 0; j < (Size) c->re->nent * c->re->dim; j++)
		s += c->coef[j] * c->coef[j];
	return s;
}

/*
 * The validation rows' channel scores, from the coefficients held here:
 * each row's value among the training's (a value the training has not
 * seen, or NULL: 0), as glmix_data.c's row_entities
 */
void
glmix_flat_channel_valid_scores(const GlmixTraining *t, double *out)
{
	const GlmixRows *v = t->vrows;
	int			k = t->flat->hk;
	const GlmixCoordinate *c = &t->co[k];
	int		   *map = palloc(sizeof(int) * Max(v->ctx_nvalues[k], 1));
	int		   *ent = palloc(sizeof(int) * Max(v->n, 1));

	if (v->ctx[k] == NULL)
		elog(ERROR, "the validation rows lack column %s", c->re->column);
	for (int j = 0; j < v->ctx_nvalues[k]; j++)
	{
		char	  **hit = bsearch(&v->ctx_values[k][j], c->re->keys, c->re->nent, sizeof(char *), key_cmp);

		map[j] = hit ? (int) (hit - c->re->keys) : -1;
	}
	for (int64 r = 0; r < v->n; r++)
		ent[r] = v->ctx[k][r] >= 0 ? map[v->ctx[k][r]] : -1;
	glmix_random_scores(c->re, t->courses, v->ci, ent, v->n, c->coef, out);
	pfree(map);
	pfree(ent);
}

void
glmix_flat_channel_drop(GlmixTraining *t)
{
	GlmixFlatWork *f = t->flat;

	if (f->hstats)
		SPI_freeplan(f->hstats);
	if (f->hscore)
		SPI_freeplan(f->hscore);
	SPI_execute(psprintf("DROP TABLE %s", f->h), false, 0);
}
