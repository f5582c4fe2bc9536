/*
 * ncf_batch.c -- the training data of the two-tower model: positives and
 * their contexts, negatives, and each batch's instances and transposed
 * sparse inputs
 *
 * Data.  Every watch at or after labels_from is a positive example; its
 * learner-tower input is the multi-hot of the learner's watches in
 * [t - window, t), strictly before the label's time t (so a watch in the
 * same second is not context).  Watches are sorted by time per learner, so
 * a context is a contiguous slice found by binary search and is stored as
 * (start, length), never copied; with order weights (order_decay < 1) the
 * j-th of a context of n watches enters with weight ctx_weight[n - 1 - j],
 * and a context is at most the positions those weights keep.  The
 * course-tower input is the course's co-watch similarity row.  Each epoch draws `negatives` courses per
 * positive, uniformly among the courses the learner never watched (by
 * rejection against the learner's sorted course set); negatives share their
 * positive's context.  With content features, the course input is the
 * co-watch row followed by the content entries, and an instance whose
 * co-watch part is dropped (content dropout) uses the content entries only.
 *
 * A batch is G positives, each followed by its negatives.  For the sparse
 * layers' update its inputs are transposed per tower (W0 row -> the batch
 * rows that used it, in batch order): the arrays grow in the backend's
 * thread (ncf_batch_reserve), then one worker thread per tower fills them
 * (ncf_batch_transpose), which must therefore not allocate.  Pure
 * numerics: no SPI, no catalog access.
 */
#include "postgres.h"

#include <math.h>

#include "utils/memutils.h"

#include "ncf.h"
#include "sorted_ids.h"
#include "rng.h"

/* ---------------------------------------------------------------- contexts */

static int64
lower_bound_time(const double *when, int64 lo, int64 hi, double t)
{
	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (when[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void
ncf_data_prepare(NcfData *d, const NcfConfig *cfg)
{
	int64		nw = d->offsets[d->n_learners];
	int64		n = 0;
	double		ctx_total = 0;
	double		latest = -INFINITY;
	double		weight_total = 0;

	d->seen = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nw, 1));
	memcpy(d->seen, d->items, sizeof(int32) * nw);
	for (int u = 0; u < d->n_learners; u++)
		qsort(d->seen + d->offsets[u], d->offsets[u + 1] - d->offsets[u],
			  sizeof(int32), recs_int32_cmp);

	for (int64 w = 0; w < nw; w++)
		if (d->when[w] >= cfg->labels_from)
			n++;
	d->n_pos = n;
	d->pos_learner = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(n, 1));
	d->pos_item = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(n, 1));
	d->ctx_start = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(n, 1));
	d->ctx_len = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(n, 1));
	d->n_empty_ctx = 0;
	d->n_capped_ctx = 0;
	d->ctx_cap = ncf_order_length(cfg->order_decay);
	/* the attention encoder sees its window's latest watches, no more */
	d->att_window = cfg->encoder == NCF_ENCODER_ATTENTION ? cfg->attention_window : 0;
	if (d->att_window > 0)
		d->ctx_cap = Min(d->ctx_cap, d->att_window);
	d->ctx_weight = ncf_order_weights(cfg->order_decay);
	d->ctx_norm = cfg->context_norm;
	/* trend_days: the courses' watch times, and each positive's time */
	d->pos_when = NULL;
	memset(&d->trend, 0, sizeof(d->trend));
	if (cfg->trend_seconds > 0)
	{
		ncf_trend_index(d->n_learners, d->n_items, d->offsets, d->items, d->when, &d->trend);
		d->pos_when = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(d->n_pos, 1));
	}
	/* half_life_days: weights halve every half-life before the latest positive */
	d->pos_weight = NULL;
	if (cfg->half_life_seconds > 0 && d->n_pos > 0)
	{
		d->pos_weight = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * d->n_pos);
		for (int64 w = 0; w < nw; w++)
			if (d->when[w] >= cfg->labels_from)
				latest = Max(latest, d->when[w]);
	}
	n = 0;
	for (int u = 0; u < d->n_learners; u++)
	{
		int64		lo = d->offsets[u],
					hi = d->offsets[u + 1];

		for (int64 w = lo; w < hi; w++)
		{
			double		t = d->when[w];
			int64		a,
						b;

			if (t < cfg->labels_from)
				continue;
			/* context: lo <= k < hi with t - window <= when[k] < t */
			a = lower_bound_time(d->when, lo, w + 1, t - cfg->window_seconds);
			b = lower_bound_time(d->when, a, w + 1, t);
			if (b - a > d->ctx_cap)
			{
				/*
				 * only NCF_MAX_CONTEXT's cut is news; order weights' and
				 * attention_window's are by design
				 */
				if (b - a > NCF_MAX_CONTEXT)
					d->n_capped_ctx++;
				a = b - d->ctx_cap;
			}
			d->pos_learner[n] = u;
			d->pos_item[n] = d->items[w];
			d->ctx_start[n] = a;
			d->ctx_len[n] = (int32) (b - a);
			if (d->pos_when)
				d->pos_when[n] = t;
			if (d->pos_weight)
			{
				double		wt = exp2(-(latest - t) / cfg->half_life_seconds);

				d->pos_weight[n] = (float) wt;
				weight_total += wt;
			}
			if (b == a)
				d->n_empty_ctx++;
			ctx_total += (double) (b - a);
			n++;
		}
	}
	d->mean_ctx = n > 0 ? ctx_total / n : 0;
	/* mean 1: the loss and the learning rate keep their scale */
	if (d->pos_weight)
		for (int64 k = 0; k < n; k++)
			d->pos_weight[k] = (float) (d->pos_weight[k] * (n / weight_total));
}

/* ---------------------------------------------------------------- negatives */

static bool
seen_contains(const int32 *set, int64 n, int32 item)
{
	int64		lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (set[mid] == item)
			return true;
		if (set[mid] < item)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/*
 * The k-th (from 0) course of 0 .. n_items-1 that is not in the sorted set:
 * below set[i] there are set[i] - i unwatched courses, so it is k + i for
 * the first i whose set[i] - i exceeds k.
 */
static int32
nth_unwatched(const int32 *set, int64 nset, int64 k)
{
	int64		lo = 0,
				hi = nset;

	while (lo < hi)
	{
		int64		mid = lo + (hi - lo) / 2;

		if (set[mid] - mid > k)
			hi = mid;
		else
			lo = mid + 1;
	}
	return (int32) (k + lo);
}

void
ncf_draw_negatives(const NcfData *d, int neg, RecsRng *rng, int32 *negs)
{
	for (int64 p = 0; p < d->n_pos; p++)
	{
		int			u = d->pos_learner[p];
		const int32 *set = d->seen + d->offsets[u];
		int64		nset = d->offsets[u + 1] - d->offsets[u];
		int64		unwatched = d->n_items - nset;

		/*
		 * Rejection sampling takes n_items / unwatched draws a negative: a
		 * learner who watched nearly the whole catalogue (a crawler, a test
		 * account) would cost up to 1000 draws and binary searches each.
		 * With fewer than an eighth of the courses unwatched, draw one of
		 * them directly (the same uniform law); with none left, any course.
		 */
		bool		direct = unwatched * 8 < d->n_items;

		for (int r = 0; r < neg; r++)
		{
			int32		c;

			if (direct)
				c = unwatched > 0 ? nth_unwatched(set, nset, (int64) rng_below(rng, unwatched))
					: (int32) rng_below(rng, d->n_items);
			else
			{
				int			tries = 0;

				do
					c = (int32) rng_below(rng, d->n_items);
				while (seen_contains(set, nset, c) && ++tries < 1000);
			}
			negs[p * neg + r] = c;
		}
	}
}

/* ---------------------------------------------------------------- batches */

/* a tower's transpose state over n_items rows of W0, empty */
void
ncf_transpose_init(NcfTranspose *s, int n_items)
{
	s->mark = palloc(sizeof(int32) * n_items);
	for (int i = 0; i < n_items; i++)
		s->mark[i] = -1;
	s->touched = palloc(sizeof(int32) * n_items);
	s->slot = palloc(sizeof(int32) * n_items);
	s->tptr = palloc(sizeof(int64) * (n_items + 1));
	s->tcap = 0;
	s->tsrc = NULL;
	s->tval = NULL;
	s->usage = palloc0(sizeof(int64) * n_items);
}

/* start a tower's transposed input for a new batch */
static inline void
transpose_use(NcfTranspose *s, int32 row, int32 stamp)
{
	if (s->mark[row] != stamp)
	{
		s->mark[row] = stamp;
		s->slot[row] = s->ntouched;
		s->tptr[s->ntouched + 1] = 0;
		s->touched[s->ntouched++] = row;
	}
	s->tptr[s->slot[row] + 1]++;
}

/* counts to offsets; the entry arrays were sized by ncf_batch_reserve */
static void
transpose_alloc(NcfTranspose *s)
{
	for (int t = 0; t < s->ntouched; t++)
		s->tptr[t + 1] += s->tptr[t];
}

/* entry e of row slot[row]: tptr[] is used as the fill cursor, then restored */
static inline void
transpose_put(NcfTranspose *s, int32 row, int32 src, float val)
{
	int64		e = s->tptr[s->slot[row]]++;

	s->tsrc[e] = src;
	s->tval[e] = val;
}

static void
transpose_restore(NcfTranspose *s)
{
	for (int t = s->ntouched; t > 0; t--)
		s->tptr[t] = s->tptr[t - 1];
	s->tptr[0] = 0;
}

/* the batch of ngroups positives perm[first ..], each with its negatives */
void
ncf_batch_fill(NcfBatch *b, const NcfData *d, const int32 *perm, const int32 *negs,
			   int64 first, int ngroups, int32 stamp)
{
	int			P = b->per_group;
	int			neg = P - 1;

	b->ngroups = ngroups;
	b->ninst = ngroups * P;
	b->stamp = stamp;
	for (int g = 0; g < ngroups; g++)
	{
		int32		p = perm[first + g];

		b->pos[g] = p;
		b->item[g * P] = d->pos_item[p];
		for (int r = 0; r < neg; r++)
			b->item[g * P + 1 + r] = negs[(int64) p * neg + r];
	}
}

/*
 * Room for the entries of tower k's transpose of the batch: the arrays grow
 * here, in the backend's thread, before the workers build the transposes.
 */
void
ncf_batch_reserve(const NcfBatch *b, const NcfData *d, int k, NcfTranspose *s)
{
	int64		n = 0;

	if (k == NCF_LEARNER)
		for (int g = 0; g < b->ngroups; g++)
			n += d->ctx_len[b->pos[g]];
	else
		for (int i = 0; i < b->ninst; i++)
		{
			int64		lo,
						hi;

			ncf_course_input(d, b->item[i], b->drop && b->drop[i], &lo, &hi);
			n += hi - lo;
		}
	if (n > s->tcap)
	{
		s->tcap = Max(n, 2 * s->tcap);
		if (s->tsrc)
		{
			pfree(s->tsrc);
			pfree(s->tval);
		}
		s->tsrc = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * s->tcap);
		s->tval = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * s->tcap);
	}
}

/* the batch's inputs of tower k, transposed (run by one thread per tower) */
void
ncf_batch_transpose(const NcfBatch *b, const NcfData *d, int k, NcfTranspose *s)
{
	const NcfSparse *S = &d->course_in;
	int32		stamp = b->stamp;

	s->ntouched = 0;
	s->tptr[0] = 0;
	if (k == NCF_LEARNER)
	{
		for (int g = 0; g < b->ngroups; g++)
		{
			int32		p = b->pos[g];
			const int32 *ctx = d->items + d->ctx_start[p];

			for (int j = 0; j < d->ctx_len[p]; j++)
				transpose_use(s, ctx[j], stamp);
		}
		transpose_alloc(s);
		for (int g = 0; g < b->ngroups; g++)
		{
			int32		p = b->pos[g];
			const int32 *ctx = d->items + d->ctx_start[p];
			int			len = d->ctx_len[p];

			/*
			 * A bag's row gets the batch row's gradient times the watch's
			 * weight; an attention encoder's gets entry j's own gradient
			 * (row g * att_window + j of the trainer's attention gradients).
			 */
			float		scale = ncf_context_scale(d->ctx_norm, len);

			for (int j = 0; j < len; j++)
				if (d->att_window > 0)
					transpose_put(s, ctx[j], g * d->att_window + j, 1.0f);
				else
					transpose_put(s, ctx[j], g,
								  (d->ctx_weight ? d->ctx_weight[len - 1 - j] : 1.0f) * scale);
		}
	}
	else
	{
		for (int i = 0; i < b->ninst; i++)
		{
			int64		lo,
						hi;

			ncf_course_input(d, b->item[i], b->drop && b->drop[i], &lo, &hi);
			for (int64 j = lo; j < hi; j++)
				transpose_use(s, S->col[j], stamp);
		}
		transpose_alloc(s);
		for (int i = 0; i < b->ninst; i++)
		{
			int64		lo,
						hi;

			ncf_course_input(d, b->item[i], b->drop && b->drop[i], &lo, &hi);
			for (int64 j = lo; j < hi; j++)
				transpose_put(s, S->col[j], i, S->val[j]);
		}
	}
	transpose_restore(s);
	for (int t = 0; t < s->ntouched; t++)
		s->usage[s->touched[t]] += s->tptr[t + 1] - s->tptr[t] + 4;
}
