/*
 * ncf_trend.c -- the trend term of train_ncf(trend_days => D)
 *
 * The score of a course c for a learner at time t gains b[bucket(n_c(t))]:
 * n_c(t) is the number of the course's training watches in [t - D, t)
 * (watches of the same second as t are not before it), bucket(n) =
 * min(NCF_TREND_BUCKETS - 1, floor(log2(1 + n))) and b is
 * NCF_TREND_BUCKETS learned scalars (ncf_fit.c trains them with Adam).
 *
 * Counts come from every course's watch times in ascending order (CSR by
 * course, 8 bytes a watch): one count is two binary searches.  A softmax
 * batch needs B x C of them; there the batch's rows are walked in time
 * order against each column's times with two monotone pointers, so a
 * column costs O(B + its watches in the batch's time span).
 *
 * Serving scores at the end of the data ("now": just after the latest
 * watch): each course's b[bucket(n_c)] over [through - D, through] is
 * stored with its embedding (recs.ncf_course.trend).  Pure numerics: no
 * SPI, no catalog access.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#include "ncf.h"

static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

void
ncf_trend_index(int n_learners, int n_items, const int64 *offsets, const int32 *items,
				const double *when, NcfTrendIndex *ix)
{
	int64		nw = offsets[n_learners];
	int64	   *fill;

	ix->n_items = n_items;
	ix->off = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * (n_items + 1));
	ix->when = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nw, 1));
	memset(ix->off, 0, sizeof(int64) * (n_items + 1));
	for (int64 w = 0; w < nw; w++)
		ix->off[items[w] + 1]++;
	for (int c = 0; c < n_items; c++)
		ix->off[c + 1] += ix->off[c];
	fill = palloc(sizeof(int64) * Max(n_items, 1));
	memcpy(fill, ix->off, sizeof(int64) * n_items);
	for (int64 w = 0; w < nw; w++)
		ix->when[fill[items[w]]++] = when[w];
	pfree(fill);
	/* each learner's list is time-sorted, the merged one per course is not */
	for (int c = 0; c < n_items; c++)
	{
		double	   *a = ix->when + ix->off[c];
		int64		n = ix->off[c + 1] - ix->off[c];

		if (n > 1)
			qsort(a, n, sizeof(double), double_cmp);
		if ((c & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
}

/* first index in [lo, hi) with a[i] >= t (strict: > t) */
static int64
bound(const double *a, int64 lo, int64 hi, double t, bool strict)
{
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (a[mid] < t || (strict && a[mid] == t))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int64
ncf_trend_count(const NcfTrendIndex *ix, int32 c, double lo, double hi, bool hi_inclusive)
{
	int64		a = ix->off[c],
				b = ix->off[c + 1];
	int64		first = bound(ix->when, a, b, lo, false);

	return bound(ix->when, first, b, hi, hi_inclusive) - first;
}

void
ncf_trend_buckets(const NcfTrendIndex *ix, double window, const double *t,
				  const int32 *order, int nrows, const int32 *cols, int c0, int c1,
				  uint8 *out, int ldo)
{
	if (nrows == 0)
		return;
	for (int col = c0; col < c1; col++)
	{
		int32		c = cols[col];
		int64		end = ix->off[c + 1];
		/* both pointers start at the earliest row's window */
		int64		lo = bound(ix->when, ix->off[c], end, t[order[0]] - window, false);
		int64		hi = lo;

		for (int k = 0; k < nrows; k++)
		{
			int32		r = order[k];
			double		tr = t[r];

			while (lo < end && ix->when[lo] < tr - window)
				lo++;
			if (hi < lo)
				hi = lo;
			while (hi < end && ix->when[hi] < tr)
				hi++;
			out[(Size) r * ldo + col] = (uint8) ncf_trend_bucket(hi - lo);
		}
	}
}

float *
ncf_served_trend_terms(const NcfTrendIndex *ix, const NcfConfig *cfg, const float *trend_b,
					   double at, bool closed)
{
	float	   *term = palloc(sizeof(float) * Max(ix->n_items, 1));

	for (int c = 0; c < ix->n_items; c++)
	{
		int			bk = ncf_trend_bucket(ncf_trend_count(ix, c, at - cfg->trend_seconds, at, closed));

		term[c] = (float) (cfg->trend_weight * (double) trend_b[bk]);
	}
	return term;
}

float *
ncf_trend_terms(const NcfInput *in, const NcfConfig *cfg, const NcfModel *model)
{
	NcfTrendIndex ix;
	float	   *term;

	if (cfg->trend_seconds <= 0 || !model->trend)
		return NULL;
	ncf_trend_index(in->n_learners, in->n_items, in->offsets, in->items, in->when, &ix);
	term = ncf_served_trend_terms(&ix, cfg, model->trend_b, in->through, true);
	pfree(ix.off);
	pfree(ix.when);
	return term;
}
