/*
 * ncf_cowatch.c -- sparse co-watch cosine similarity, top-N per course
 *
 * The course tower's input for course i is row i of the co-watch cosine
 * matrix: R is the binary learner x course matrix, co = R'R and
 *
 *     sim(i, j) = co(i, j) / sqrt(co(i, i) * co(j, j))
 *
 * of which each row keeps its N largest positive entries with j != i,
 * ties going to the smaller j (PROTOCOL.md, "Co-watch cosine similarity").
 *
 * Row i of co is accumulated sparsely: for every learner who watched i, add
 * one to each course that learner watched, in a dense counter array that is
 * cleared through the list of touched courses.  The work is the sum over
 * learners of (courses watched)^2, never n_courses^2, and memory is one
 * counter per course.  The N best of a row are kept in a bounded heap whose
 * root is the worst entry kept, so a row costs O(touched * log N).  The
 * similarity is computed in double as co / (sqrt(co_ii) * sqrt(co_jj)), the
 * same expression a numpy reference evaluates, so ties are ties there too.
 *
 * A learner's row of R is their latest NCF_MAX_CONTEXT watches (the items
 * of a learner come in time order): one crawler with 100,000 watches would
 * otherwise cost 10^10 additions here.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"

#include "ncf.h"

typedef struct SimEntry
{
	double		sim;
	int32		col;
} SimEntry;

/* a is worse than b: smaller similarity, or equal and larger column */
static inline bool
sim_worse(const SimEntry *a, const SimEntry *b)
{
	return a->sim < b->sim || (a->sim == b->sim && a->col > b->col);
}

static void
heap_sift_down(SimEntry *h, int n, int i)
{
	for (;;)
	{
		int			l = 2 * i + 1,
					r = l + 1,
					w = i;
		SimEntry	tmp;

		if (l < n && sim_worse(&h[l], &h[w]))
			w = l;
		if (r < n && sim_worse(&h[r], &h[w]))
			w = r;
		if (w == i)
			return;
		tmp = h[i];
		h[i] = h[w];
		h[w] = tmp;
		i = w;
	}
}

static void
heap_sift_up(SimEntry *h, int i)
{
	while (i > 0)
	{
		int			p = (i - 1) / 2;
		SimEntry	tmp;

		if (!sim_worse(&h[i], &h[p]))
			return;
		tmp = h[i];
		h[i] = h[p];
		h[p] = tmp;
		i = p;
	}
}

static int
sim_col_cmp(const void *a, const void *b)
{
	int32		x = ((const SimEntry *) a)->col;
	int32		y = ((const SimEntry *) b)->col;

	return (x > y) - (x < y);
}

/* where learner u's row of R starts: their latest NCF_MAX_CONTEXT items */
static inline int64
row_start(const int64 *offsets, int u)
{
	return Max(offsets[u], offsets[u + 1] - NCF_MAX_CONTEXT);
}

void
ncf_cowatch(int n_learners, int n_items, const int64 *offsets,
			const int32 *items, int topn, NcfSparse *out)
{
	int64		nnz_in;
	int64	   *iptr;			/* item -> learners (transpose of R) */
	int32	   *ilearner;
	int32	   *count;			/* co(i, i): learners per item */
	int32	   *acc;
	int32	   *touched;
	SimEntry   *heap;
	int64		cap;

	/* transpose: learners of each item, ascending */
	iptr = palloc0(sizeof(int64) * (n_items + 1));
	for (int u = 0; u < n_learners; u++)
		for (int64 w = row_start(offsets, u); w < offsets[u + 1]; w++)
			iptr[items[w] + 1]++;
	for (int i = 0; i < n_items; i++)
		iptr[i + 1] += iptr[i];
	nnz_in = iptr[n_items];
	ilearner = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nnz_in, 1));
	{
		int64	   *fill = palloc(sizeof(int64) * Max(n_items, 1));

		memcpy(fill, iptr, sizeof(int64) * n_items);
		for (int u = 0; u < n_learners; u++)
			for (int64 w = row_start(offsets, u); w < offsets[u + 1]; w++)
				ilearner[fill[items[w]]++] = u;
		pfree(fill);
	}
	count = palloc(sizeof(int32) * Max(n_items, 1));
	for (int i = 0; i < n_items; i++)
		count[i] = (int32) (iptr[i + 1] - iptr[i]);

	acc = palloc0(sizeof(int32) * Max(n_items, 1));
	touched = palloc(sizeof(int32) * Max(n_items, 1));
	heap = palloc(sizeof(SimEntry) * Max(topn, 1));

	cap = (int64) Min(topn, Max(n_items - 1, 0)) * n_items;
	out->nrows = n_items;
	out->rowptr = palloc(sizeof(int64) * (n_items + 1));
	out->col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(cap, 1));
	out->val = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(cap, 1));
	out->rowptr[0] = 0;
	out->nnz = 0;

	for (int i = 0; i < n_items; i++)
	{
		int			ntouched = 0;
		int			nheap = 0;
		double		norm_i = sqrt((double) count[i]);

		if ((i & 63) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 a = iptr[i]; a < iptr[i + 1]; a++)
		{
			int			u = ilearner[a];

			for (int64 w = row_start(offsets, u); w < offsets[u + 1]; w++)
			{
				int32		j = items[w];

				if (acc[j]++ == 0)
					touched[ntouched++] = j;
			}
		}
		for (int t = 0; t < ntouched; t++)
		{
			int32		j = touched[t];
			SimEntry	e;

			e.col = j;
			e.sim = (double) acc[j] / (norm_i * sqrt((double) count[j]));
			acc[j] = 0;
			if (j == i || !(e.sim > 0) || topn == 0)
				continue;
			if (nheap < topn)
			{
				heap[nheap] = e;
				heap_sift_up(heap, nheap++);
			}
			else if (sim_worse(&heap[0], &e))
			{
				heap[0] = e;
				heap_sift_down(heap, nheap, 0);
			}
		}
		qsort(heap, nheap, sizeof(SimEntry), sim_col_cmp);
		for (int t = 0; t < nheap; t++)
		{
			out->col[out->nnz] = heap[t].col;
			out->val[out->nnz] = (float) heap[t].sim;
			out->nnz++;
		}
		out->rowptr[i + 1] = out->nnz;
	}
	pfree(heap);
	pfree(touched);
	pfree(acc);
	pfree(count);
	pfree(ilearner);
	pfree(iptr);
}
