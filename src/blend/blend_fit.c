/*
 * blend_fit.c -- fitting the blend: coordinate descent over component scores
 *
 * The blend is itself a small GLMix.  Its features are the component
 * models' scores for a (learner, course) pair -- each standardised over the
 * training rows, a GLMix probability taken on the logit scale -- plus an
 * intercept:
 *
 *     z(l, c) = [1, (s_1(l, c) - mean_1) / sd_1, ..., (s_J - mean_J) / sd_J]
 *     logit P(response) = beta . z  +  sum over random effects e: gamma_e(key_e(l)) . z
 *
 * so every learner (or every segment, or any learners column) gets its own
 * weights for the components, shrunk towards the global weights by L2.  A
 * component that cannot score a pair (an unknown course) contributes 0,
 * its mean.  It is fitted by coordinate descent exactly like GLMix: the
 * global effect, then each random effect, each with the others' scores as
 * offsets, by the same per-entity Newton solver (glmix_math.c).
 *
 * Everything here works on the rows in memory: no SPI, no catalog access.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "blend.h"
#include "glmix.h"
#include "timing.h"

double
blend_component_feature(const BlendComponent *c, double s)
{
	if (isnan(s))
		return NAN;
	if (c->logit_of_probability)
	{
		s = Min(Max(s, 1e-12), 1.0 - 1e-12);
		s = log(s / (1.0 - s));
	}
	return s;
}

void
blend_standardise(BlendModel *bm, BlendRows *rows)
{
	int			dim = bm->ncomponents + 1;

	for (int j = 0; j < bm->ncomponents; j++)
	{
		BlendComponent *c = &bm->component[j];
		double		sum = 0,
					sum2 = 0;
		int64		cnt = 0;

		for (int64 r = 0; r < rows->n; r++)
		{
			double		v = rows->z[r * dim + 1 + j];

			if (!isnan(v))
			{
				sum += v;
				sum2 += v * v;
				cnt++;
			}
		}
		c->mean = cnt ? sum / cnt : 0.0;
		c->sd = cnt ? sqrt(Max(sum2 / cnt - c->mean * c->mean, 0.0)) : 0.0;
		if (!(c->sd > 1e-12))
			c->sd = 1.0;
		for (int64 r = 0; r < rows->n; r++)
		{
			double	   *v = &rows->z[r * dim + 1 + j];

			*v = isnan(*v) ? 0.0 : (*v - c->mean) / c->sd;
		}
	}
}

void
blend_check_labels(const BlendRows *rows)
{
	bool		pos = false,
				neg = false;

	for (int64 r = 0; r < rows->n; r++)
		if (rows->y[r] > 0.5)
			pos = true;
		else
			neg = true;
	if (!pos || !neg)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the blend's impressions all have the same label"),
				 errhint("A blend needs both responses and non-responses.")));
}

/*
 * The rows are npositive positives grouped by learner, then `negatives`
 * negatives per positive in the same learner order: reorder them so that
 * each learner's rows are together, as scoring expects.
 */
void
blend_group_negatives(BlendRows *rows, int64 npositive, int negatives)
{
	int64		k = rows->n;
	int64	   *order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(k, 1));
	int64	   *l2 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(k, 1));
	int64	   *c2 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(k, 1));
	double	   *y2 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(k, 1));
	double	   *w2 = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(k, 1));
	int64		pos = 0;
	int64		neg = npositive;

	for (int64 s = 0; s < npositive;)
	{
		int64		e = s;

		while (e < npositive && rows->learner[e] == rows->learner[s])
			e++;
		for (int64 r = s; r < e; r++)
			order[pos++] = r;
		for (int64 r = 0; r < (e - s) * negatives; r++)
			order[pos++] = neg++;
		s = e;
	}
	for (int64 i = 0; i < k; i++)
	{
		l2[i] = rows->learner[order[i]];
		c2[i] = rows->course[order[i]];
		y2[i] = rows->y[order[i]];
		w2[i] = rows->w[order[i]];
	}
	pfree(order);
	pfree(rows->learner);
	pfree(rows->course);
	pfree(rows->y);
	pfree(rows->w);
	rows->learner = l2;
	rows->course = c2;
	rows->y = y2;
	rows->w = w2;
}

void
blend_group_rows(BlendEffect *eff, const BlendRows *rows, char **rowkey)
{
	int64		nkeyed = 0;
	int		   *ent;
	int64	   *fill;

	/* distinct keys, sorted (a run of rows shares one key string) */
	eff->key = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(char *) * Max(rows->n, 1));
	for (int64 r = 0; r < rows->n; r++)
		if (rowkey[r] && (r == 0 || rowkey[r] != rowkey[r - 1]))
			eff->key[nkeyed++] = rowkey[r];
	qsort(eff->key, nkeyed, sizeof(char *), pg_qsort_strcmp);
	eff->nentities = 0;
	for (int64 i = 0; i < nkeyed; i++)
		if (eff->nentities == 0 || strcmp(eff->key[eff->nentities - 1], eff->key[i]) != 0)
			eff->key[eff->nentities++] = eff->key[i];

	/* counting sort of the rows by entity */
	eff->start = palloc0(sizeof(int64) * (eff->nentities + 1));
	eff->order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(rows->n, 1));
	ent = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int) * Max(rows->n, 1));
	for (int64 r = 0; r < rows->n; r++)
	{
		char	  **hit;

		if (r > 0 && rowkey[r] == rowkey[r - 1])
		{
			ent[r] = ent[r - 1];
			if (ent[r] >= 0)
				eff->start[ent[r] + 1]++;
			continue;
		}
		hit = rowkey[r] ? bsearch(&rowkey[r], eff->key, eff->nentities,
								  sizeof(char *), pg_qsort_strcmp) : NULL;
		ent[r] = hit ? (int) (hit - eff->key) : -1;
		if (ent[r] >= 0)
			eff->start[ent[r] + 1]++;
	}
	for (int e = 0; e < eff->nentities; e++)
		eff->start[e + 1] += eff->start[e];
	fill = palloc(sizeof(int64) * Max(eff->nentities, 1));
	memcpy(fill, eff->start, sizeof(int64) * eff->nentities);
	for (int64 r = 0; r < rows->n; r++)
		if (ent[r] >= 0)
			eff->order[fill[ent[r]]++] = r;
	pfree(fill);
	pfree(ent);
}

/* the solver's buffers, sized for the largest block (all rows) */
typedef struct BlendScratch
{
	double	   *buf;
	int32	   *ptr;
	int32	   *col;
} BlendScratch;

/* fit one coordinate: rows idx[0..n) with offsets, coefficients beta (in/out) */
static void
fit_block(const BlendRows *rows, int dim, const int64 *idx, int64 n, const double *offset,
		  double lambda, double *beta, const BlendScratch *sc)
{
	double	   *y = sc->buf;
	double	   *w = y + n;
	double	   *o = w + n;
	double	   *val = o + n;
	double	   *work = val + n * dim;
	GlmixEntityFit fit;

	for (int64 i = 0; i < n; i++)
	{
		int64		r = idx ? idx[i] : i;

		y[i] = rows->y[r];
		w[i] = rows->w[r];
		o[i] = offset[r];
		memcpy(&val[i * dim], &rows->z[r * dim], sizeof(double) * dim);
	}
	if (n * dim < 1000000)
	{
		glmix_entity_newton((int) n, y, w, o, sc->ptr, sc->col, val, dim, lambda, beta, 50, 1e-8,
							work, &fit);
		return;
	}

	/* a big block (the global effect): one Newton step at a time, cancellable */
	for (int it = 0; it < 50; it++)
	{
		double		before[BLEND_MAX_COMPONENTS + 1];
		double		moved = 0.0;

		CHECK_FOR_INTERRUPTS();
		memcpy(before, beta, sizeof(double) * dim);
		glmix_entity_newton((int) n, y, w, o, sc->ptr, sc->col, val, dim, lambda, beta, 1, 1e-8,
							work, &fit);
		for (int j = 0; j < dim; j++)
			moved = Max(moved, fabs(beta[j] - before[j]));
		if (moved < 1e-8)
			break;
	}
}

double
blend_total_loss(const BlendRows *rows, const double *margin)
{
	double		loss = 0;

	for (int64 r = 0; r < rows->n; r++)
		loss += rows->w[r] * glmix_logloss(margin[r], rows->y[r]);
	return loss;
}

/* random effect e's entities refitted, and its per-row scores */
static void
fit_effect(const BlendRows *rows, int dim, BlendEffect *eff, const double *offset,
		   double lambda, const BlendScratch *sc)
{
	for (int e = 0; e < eff->nentities; e++)
	{
		int64		n = eff->start[e + 1] - eff->start[e];
		const int64 *idx = &eff->order[eff->start[e]];
		double	   *beta = &eff->coef[(Size) e * dim];

		if ((e & 255) == 0)
			CHECK_FOR_INTERRUPTS();
		fit_block(rows, dim, idx, n, offset, lambda, beta, sc);
		for (int64 i = 0; i < n; i++)
		{
			double		s = 0;

			for (int j = 0; j < dim; j++)
				s += beta[j] * rows->z[idx[i] * dim + j];
			eff->score[idx[i]] = s;
		}
	}
}

/* per row: the margin of every coordinate but skip (-1: none; 0: global) */
static void
margins(const BlendRows *rows, int dim, const double *global, const BlendEffect *effects,
		int neffects, int skip, double *out)
{
	for (int64 r = 0; r < rows->n; r++)
	{
		double		m = 0;

		if (skip != 0)
			for (int j = 0; j < dim; j++)
				m += global[j] * rows->z[r * dim + j];
		for (int i = 0; i < neffects; i++)
			if (i + 1 != skip)
				m += effects[i].score[r];
		out[r] = m;
	}
}

void
blend_fit(const BlendRows *rows, int dim, BlendEffect *effects, int neffects,
		  const double *l2, int passes, double *global, double *margin)
{
	int64		maxrows = rows->n;
	double	   *offset = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(maxrows, 1));
	BlendScratch sc;

	sc.buf = MemoryContextAllocHuge(CurrentMemoryContext,
									sizeof(double) * (maxrows * (3 + dim) + dim * dim + 4 * dim + 5 * maxrows));
	sc.ptr = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * (maxrows + 1));
	sc.col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(maxrows * dim, 1));
	for (int64 r = 0; r <= maxrows; r++)
		sc.ptr[r] = (int32) (r * dim);
	for (int64 k = 0; k < maxrows * dim; k++)
		sc.col[k] = (int32) (k % dim);

	for (int pass = 1; pass <= passes; pass++)
	{
		for (int coord = 0; coord <= neffects; coord++)
		{
			double		c0 = recs_clock_seconds();

			CHECK_FOR_INTERRUPTS();
			/* offsets: every other coordinate's current score */
			margins(rows, dim, global, effects, neffects, coord, offset);
			if (coord == 0)
				fit_block(rows, dim, NULL, rows->n, offset, l2[0], global, &sc);
			else
				fit_effect(rows, dim, &effects[coord - 1], offset, l2[coord], &sc);
			margins(rows, dim, global, effects, neffects, -1, margin);
			/* a NOTICE per pass (its last coordinate), each coordinate at DEBUG1 */
			ereport(coord == neffects ? NOTICE : DEBUG1,
					(errmsg("train_blend pass %d/%d %s: mean log-loss %.5f, %.3f s",
							pass, passes, coord == 0 ? "global" : effects[coord - 1].column,
							blend_total_loss(rows, margin) / rows->n,
							recs_clock_seconds() - c0)));
		}
	}
	pfree(offset);
	pfree(sc.buf);
	pfree(sc.ptr);
	pfree(sc.col);
}
