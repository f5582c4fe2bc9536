/*
 * ncf_history_fit.c -- the history terms' weights (train_ncf's
 * affinity_columns, path_columns), fitted on the validation slice
 *
 * Logistic regression after the towers (validation => 'auto' is required):
 * each held-out learner's first HISTORY_MAX_POSITIVES new courses after the
 * cut, in the order they were watched, are positives, each with the watches
 * before it (those before the cut and the earlier new ones) as the
 * learner's list; NCF_HISTORY_NEGATIVES courses drawn uniformly from the
 * rest of the catalogue (neither watched before the cut nor among their
 * new courses) are negatives for each.  The NCF score is the split's towers
 * (which never saw the slice) at the cut, the statistics and co-watch rows
 * the split's.  Each learner weighs 1 in total.  Newton's method with an
 * L2 term of 1 on the weights (not the intercept): 5 to 20 weights, a few
 * steps.  Pure numerics: no SPI, no catalog access.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "memory_budget.h"
#include "ncf.h"
#include "rng.h"
#include "sorted_ids.h"

/* the fit's negatives: their own stream, "history" */
#define HISTORY_SEED_SALT UINT64CONST(0x686973746f7279)
/* at most this many positives per held-out learner: their first new courses after the cut */
#define HISTORY_MAX_POSITIVES 20
#define HISTORY_L2 1.0
#define HISTORY_MAX_ITERATIONS 50

/* the fit's rows: x is nrows x (1 + features): the NCF score, then the features */
typedef struct HistoryRows
{
	NcfHistory *h;
	const NcfHoldout *ho;
	NcfHistoryLearner st;
	RecsRng		rng;
	int			k;				/* columns of x */
	int64		n;
	int64		cap;
	float	   *x;
	bool	   *y;
	double	   *w;
	int64		positives;
} HistoryRows;

static void
add_row(HistoryRows *r, int c, const double *score, bool y, double w)
{
	double		f[NCF_HISTORY_MAX_COLUMNS + NCF_HISTORY_STATS + 4];
	float	   *x;

	if (r->n == r->cap)
	{
		r->cap *= 2;
		r->x = repalloc_huge(r->x, sizeof(float) * r->cap * r->k);
		r->y = repalloc_huge(r->y, sizeof(bool) * r->cap);
		r->w = repalloc_huge(r->w, sizeof(double) * r->cap);
	}
	ncf_history_features(r->h, &r->st, c, f);
	x = r->x + r->n * r->k;
	x[0] = (float) score[c];
	for (int j = 1; j < r->k; j++)
		x[j] = (float) f[j - 1];
	r->y[r->n] = y;
	r->w[r->n] = w;
	r->n++;
}

/* one held-out learner's rows: their new courses and negatives for each */
static void
add_learner_rows(void *arg, int i, const double *score)
{
	HistoryRows *r = arg;
	const NcfInput *s = &r->ho->sample;
	const int32 *hist = s->items + s->offsets[i];
	int			nhist = (int) (s->offsets[i + 1] - s->offsets[i]);
	const int32 *rel = r->ho->rel + r->ho->rel_offsets[i];
	int			nrel = (int) (r->ho->rel_offsets[i + 1] - r->ho->rel_offsets[i]);
	int			npos = Min(nrel, HISTORY_MAX_POSITIVES);
	int			n = r->h->n;

	const int32 *next = r->ho->rel_in_time + r->ho->rel_offsets[i];

	ncf_history_learner_mark(r->h, hist, nhist, &r->st);
	ncf_history_learner_latest(r->h, hist, nhist, &r->st);
	for (int j = 0; j < npos; j++)
	{
		int			c = next[j];
		double		w = 1.0 / (npos * (1 + NCF_HISTORY_NEGATIVES));

		add_row(r, c, score, true, w);
		r->positives++;
		for (int k = 0; k < NCF_HISTORY_NEGATIVES; k++)
		{
			/* a course they had not watched and is not one of their new ones */
			for (int attempt = 0; attempt < 100; attempt++)
			{
				int32		neg = (int32) rng_below(&r->rng, (uint64) n);

				if (r->st.watched[neg] ||
					bsearch(&neg, rel, nrel, sizeof(int32), recs_int32_cmp))
					continue;
				add_row(r, neg, score, false, w);
				break;
			}
		}
		/* the next new course sees this one among the watched, and as the latest */
		ncf_history_learner_mark(r->h, &c, 1, &r->st);
		ncf_history_learner_latest(r->h, &c, 1, &r->st);
	}
	ncf_history_learner_clear(r->h, hist, nhist, &r->st);
	ncf_history_learner_clear(r->h, next, npos, &r->st);
}

/* solve a x = b for symmetric positive definite a (k x k, overwritten): Cholesky */
static bool
cholesky_solve(double *a, double *b, int k)
{
	for (int j = 0; j < k; j++)
	{
		double		d = a[j * k + j];

		for (int m = 0; m < j; m++)
			d -= a[j * k + m] * a[j * k + m];
		if (!(d > 0))
			return false;
		d = sqrt(d);
		a[j * k + j] = d;
		for (int i = j + 1; i < k; i++)
		{
			double		v = a[i * k + j];

			for (int m = 0; m < j; m++)
				v -= a[i * k + m] * a[j * k + m];
			a[i * k + j] = v / d;
		}
	}
	for (int i = 0; i < k; i++)
	{
		for (int m = 0; m < i; m++)
			b[i] -= a[i * k + m] * b[m];
		b[i] /= a[i * k + i];
	}
	for (int i = k - 1; i >= 0; i--)
	{
		for (int m = i + 1; m < k; m++)
			b[i] -= a[m * k + i] * b[m];
		b[i] /= a[i * k + i];
	}
	return true;
}

/*
 * Weighted L2-penalised logistic regression of y on [1, x] by Newton's
 * method; theta (1 + k) gets the intercept, then the weights.  Returns the
 * steps taken; *loss the final mean log-loss (per unit of weight).
 */
static int
newton_fit(const HistoryRows *r, double *theta, double *loss)
{
	int			k = r->k + 1;
	double	   *hess = palloc(sizeof(double) * k * k);
	double	   *grad = palloc(sizeof(double) * k);
	double	   *xi = palloc(sizeof(double) * k);
	int			it;

	memset(theta, 0, sizeof(double) * k);
	for (it = 1; it <= HISTORY_MAX_ITERATIONS; it++)
	{
		double		step = 0,
					wsum = 0,
					ll = 0;

		CHECK_FOR_INTERRUPTS();
		memset(hess, 0, sizeof(double) * k * k);
		memset(grad, 0, sizeof(double) * k);
		for (int64 i = 0; i < r->n; i++)
		{
			const float *x = r->x + i * r->k;
			double		z = theta[0],
						p,
						w = r->w[i];

			if ((i & 65535) == 0)
				CHECK_FOR_INTERRUPTS();
			xi[0] = 1.0;
			for (int j = 1; j < k; j++)
			{
				xi[j] = x[j - 1];
				z += theta[j] * xi[j];
			}
			p = 1.0 / (1.0 + exp(-z));
			ll -= w * (r->y[i] ? (z >= 0 ? -log1p(exp(-z)) : z - log1p(exp(z)))
					   : (z >= 0 ? -z - log1p(exp(-z)) : -log1p(exp(z))));
			wsum += w;
			for (int a = 0; a < k; a++)
			{
				grad[a] += w * (p - (r->y[i] ? 1.0 : 0.0)) * xi[a];
				for (int b = 0; b <= a; b++)
					hess[a * k + b] += w * p * (1 - p) * xi[a] * xi[b];
			}
		}
		*loss = ll / Max(wsum, 1e-300);
		for (int a = 1; a < k; a++)
		{
			grad[a] += HISTORY_L2 * theta[a];
			hess[a * k + a] += HISTORY_L2;
		}
		hess[0] += 1e-9;
		for (int a = 0; a < k; a++)
			for (int b = a + 1; b < k; b++)
				hess[a * k + b] = hess[b * k + a];
		if (!cholesky_solve(hess, grad, k))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("the history terms' fit is singular")));
		for (int a = 0; a < k; a++)
		{
			theta[a] -= grad[a];
			step = Max(step, fabs(grad[a]));
		}
		if (step < 1e-8)
			break;
	}
	return Min(it, HISTORY_MAX_ITERATIONS);
}

void
ncf_history_fit(NcfHistory *h, const NcfHoldout *ho, const NcfData *d, const NcfConfig *cfg,
				const NcfModel *model)
{
	HistoryRows r;
	double		theta[NCF_HISTORY_MAX_COLUMNS + NCF_HISTORY_STATS + 6];

	memset(&r, 0, sizeof(r));
	r.h = h;
	r.ho = ho;
	r.k = 1 + NCF_HISTORY_FEATURES(h);
	{
		/* the rows: each held-out learner's positives and their negatives */
		int64		rows = 0;

		for (int i = 0; i < ho->sample.n_learners; i++)
			rows += Min(ho->rel_offsets[i + 1] - ho->rel_offsets[i], HISTORY_MAX_POSITIVES) *
				(1 + NCF_HISTORY_NEGATIVES);
		recs_check_memory((double) rows * (sizeof(float) * r.k + sizeof(bool) + sizeof(double)) +
						  (double) h->n * (sizeof(bool) + sizeof(float)),
						  "fitting the history terms");
	}
	r.cap = 4096;
	r.x = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * r.cap * r.k);
	r.y = palloc(sizeof(bool) * r.cap);
	r.w = palloc(sizeof(double) * r.cap);
	rng_seed(&r.rng, cfg->seed ^ HISTORY_SEED_SALT);
	ncf_history_learner_alloc(h, &r.st);
	/* the courses' statistics as of the cut, and the co-watch rows: the split's training watches */
	ncf_history_stats(d->offsets, d->items, d->when, d->n_learners, ho->cut, h);
	h->cowatch = &d->cowatch;
	ncf_holdout_scores(ho, d, cfg, model, add_learner_rows, &r);
	h->fit_iterations = newton_fit(&r, theta, &h->fit_loss);
	h->fit_learners = ho->sample.n_learners;
	h->fit_positives = r.positives;
	h->fit_rows = r.n;
	h->w_ncf = theta[1];
	for (int k = 0; k < NCF_HISTORY_STATS; k++)
		h->w_stats[k] = theta[2 + k];
	h->w_cowatch = theta[2 + NCF_HISTORY_STATS];
	h->w_watched = theta[3 + NCF_HISTORY_STATS];
	h->w_missing = theta[4 + NCF_HISTORY_STATS];
	h->w_latest = theta[5 + NCF_HISTORY_STATS];
	for (int a = 0; a < h->nattr; a++)
		h->w_attr[a] = theta[6 + NCF_HISTORY_STATS + a];
	if (!h->path_cols)
		h->w_watched = h->w_missing = h->w_latest = 0;
	pfree(r.x);
	pfree(r.y);
	pfree(r.w);
}
