/*
 * ncf_fit.c -- training data and the training loop of the two-tower model
 *
 * Data.  Every watch at or after labels_from is a positive example; its
 * learner-tower input is the multi-hot of the learner's watches in
 * [t - window, t), strictly before the label's time t (so a watch in the
 * same second is not context).  Watches are sorted by time per learner, so
 * a context is a contiguous slice found by binary search and is stored as
 * (start, length), never copied.  The course-tower input is the course's
 * co-watch similarity row.  Each epoch draws `negatives` courses per
 * positive, uniformly among the courses the learner never watched (by
 * rejection against the learner's sorted course set); negatives share their
 * positive's context.
 *
 * Batches.  A batch is G positives, each followed by its negatives, i.e.
 * G * (1 + negatives) instances (batch_size rounded down to a whole group).
 * Because negatives share their positive's context, the learner tower runs
 * once per group instead of once per instance: a fifth of the learner-side
 * work at 4 negatives.  The groups are shuffled every epoch.
 *
 * One step.  Phase A (data parallel over the groups of the batch): sparse
 * layers as embedding bags, dense layers through cblas_sgemm (OpenBLAS is
 * single-threaded here; the parallelism is ours), dot-product logits,
 * binary cross-entropy averaged over the batch's instances, and the
 * backward pass down to the sparse layers' outputs, with each thread's
 * dense-weight gradient kept apart.  Phase B (parallel over parameters):
 * Adam on the dense parameters, summing the per-thread gradients in thread
 * order; for the sparse layers, the batch's inputs are transposed (W0 row ->
 * the batch rows that used it), each used row's gradient is gathered in
 * batch order into a small buffer and Adam is applied to the row at once
 * ("lazy" or sparse Adam, as TensorFlow's LazyAdam: an untouched row keeps
 * its moments; the step count and bias correction are global).  Each thread
 * owns a fixed range of W0 rows, rebalanced by use once per epoch, so a
 * row's moments stay in one core's cache.  The result is deterministic for
 * a seed and a thread count (the sparse part even for any thread count).
 *
 * Threads.  threads - 1 POSIX threads (the pool of ncf_pool.c) run only the
 * numeric phases: no palloc, no elog, no PostgreSQL calls of any kind, all
 * signals blocked.
 * The backend's own thread is thread 0; it alone checks for interrupts,
 * between batches, and on any error stops and joins the workers before the
 * error propagates.  Two fork-joins per batch spin briefly, then sleep.
 * Denormals are flushed to zero during training (Adam's second moments of
 * rarely used rows decay into the subnormal range, which is slow).
 */
#include "postgres.h"

#include <math.h>
#include <cblas.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "miscadmin.h"
#include "utils/memutils.h"

#include "ncf.h"
#include "ncf_pool.h"
#include "recs.h"
#include "rng.h"
#include "timing.h"
#define CACHELINE_FLOATS 16

/* ---------------------------------------------------------------- data */

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
			if (b - a > NCF_MAX_CONTEXT)
			{
				a = b - NCF_MAX_CONTEXT;
				d->n_capped_ctx++;
			}
			d->pos_learner[n] = u;
			d->pos_item[n] = d->items[w];
			d->ctx_start[n] = a;
			d->ctx_len[n] = (int32) (b - a);
			if (b == a)
				d->n_empty_ctx++;
			ctx_total += (double) (b - a);
			n++;
		}
	}
	d->mean_ctx = n > 0 ? ctx_total / n : 0;
}

/* ---------------------------------------------------------------- state */

typedef struct TowerState
{
	NcfTower	t;				/* the parameters being trained */
	int64		dense_n;
	float	   *dense;
	float	   *dense_m;
	float	   *dense_v;
	float	   *dense_g;		/* nthreads partial gradients, dense_n apart */
	NcfTower	gview[NCF_MAX_THREADS]; /* thread t's partial, as a tower */
	float	   *w0_m;
	float	   *w0_v;
	float	   *act[NCF_MAX_LAYERS];	/* rows x width[l+1], after ReLU */
	float	   *dact[NCF_MAX_LAYERS];	/* gradient w.r.t. the pre-activation */
	/* the batch's sparse inputs transposed: W0 row -> batch rows using it */
	int32	   *mark;			/* n_items: last batch that touched the row */
	int32	   *slot;			/* n_items: the row's position in touched */
	int32	   *touched;		/* rows of W0 the batch uses, first-use order */
	int			ntouched;
	int64	   *tptr;			/* ntouched + 1 offsets into tsrc/tval */
	int32	   *tsrc;			/* batch row */
	float	   *tval;			/* input value (1 for the learner tower) */
	int64		tcap;
	int64	   *usage;			/* n_items: entries + 4 per batch using the row, this epoch */
	int32		own[NCF_MAX_THREADS + 1];	/* phase B: thread t updates rows [own[t], own[t+1]) */
} TowerState;

typedef struct Trainer
{
	const NcfData *d;
	const NcfConfig *cfg;
	int			nthreads;
	int			per_group;		/* 1 + negatives */
	TowerState	tw[2];
	/* the current batch */
	int			ngroups;
	int			ninst;
	int32	   *batch_pos;		/* group -> positive */
	int32	   *batch_item;		/* instance -> course */
	int32		stamp;			/* batch number, marks touched rows */
	double	   *loss_part;		/* per thread, a cache line apart */
	float	   *gacc;			/* per thread, one W0 row of gradient */
	int64		gacc_stride;
	NcfAdam		adam;
	double		busy[NCF_MAX_THREADS][2];	/* seconds computing, per thread and phase */
	/* per epoch */
	int32	   *negs;			/* n_pos x negatives */
	int32	   *perm;
} Trainer;

/* n floats starting on a cache line (rows of W0 are then lines apart) */
static float *
alloc_floats(int64 n)
{
	char	   *p = MemoryContextAllocHuge(CurrentMemoryContext,
										   mul_size(sizeof(float), (Size) Max(n, 1) + CACHELINE_FLOATS));

	return (float *) TYPEALIGN(64, p);
}

static float *
alloc_zero_floats(int64 n)
{
	float	   *p = alloc_floats(n);

	memset(p, 0, sizeof(float) * Max(n, 1));
	return p;
}

Size
ncf_train_memory(const NcfData *d, const NcfConfig *cfg)
{
	int			per_group = 1 + cfg->negatives;
	int			groups = Max(1, cfg->batch_size / per_group);
	Size		total = 0;
	NcfTower	shape;

	ncf_tower_shape(&shape, d->n_items, cfg->nhidden, cfg->hidden, cfg->dim);
	for (int k = 0; k < 2; k++)
	{
		int			rows = k == NCF_LEARNER ? groups : groups * per_group;
		Size		acts = 0;

		/* W0 with its moments, the transposed batch inputs */
		total = add_size(total, mul_size(mul_size(d->n_items, shape.width[1]), 3 * sizeof(float)));
		total = add_size(total, mul_size(d->n_items, 3 * sizeof(int32) + sizeof(int64)));
		total = add_size(total, mul_size(ncf_tower_dense_size(&shape),
										 (3 + cfg->threads) * sizeof(float)));
		for (int l = 0; l < shape.nlayers; l++)
			acts += shape.width[l + 1];
		total = add_size(total, mul_size(mul_size(rows, acts), 2 * sizeof(float)));
		total = add_size(total, mul_size(d->n_items, 2 * sizeof(int32)));
	}
	/* data: positives, contexts, negatives, permutation, sorted sets */
	total = add_size(total, mul_size(d->n_pos, 4 * sizeof(int32) + sizeof(int64)
									 + cfg->negatives * sizeof(int32)));
	total = add_size(total, mul_size(d->offsets[d->n_learners], sizeof(int32)));
	return total;
}

static void
tower_state_init(Trainer *tr, TowerState *s, int rows, RecsRng *rng)
{
	const NcfData *d = tr->d;
	const NcfConfig *cfg = tr->cfg;
	int64		nw0;

	ncf_tower_shape(&s->t, d->n_items, cfg->nhidden, cfg->hidden, cfg->dim);
	nw0 = (int64) d->n_items * s->t.width[1];
	s->dense_n = ncf_tower_dense_size(&s->t);
	s->dense = alloc_floats(s->dense_n);
	ncf_tower_bind_dense(&s->t, s->dense);
	s->t.w[0] = alloc_floats(nw0);
	ncf_tower_init(&s->t, rng);
	s->dense_m = alloc_zero_floats(s->dense_n);
	s->dense_v = alloc_zero_floats(s->dense_n);
	s->dense_g = alloc_zero_floats(s->dense_n * tr->nthreads);
	for (int t = 0; t < tr->nthreads; t++)
	{
		ncf_tower_shape(&s->gview[t], d->n_items, cfg->nhidden, cfg->hidden, cfg->dim);
		ncf_tower_bind_dense(&s->gview[t], s->dense_g + t * s->dense_n);
	}
	s->w0_m = alloc_zero_floats(nw0);
	s->w0_v = alloc_zero_floats(nw0);
	for (int l = 0; l < s->t.nlayers; l++)
	{
		s->act[l] = alloc_floats((int64) rows * s->t.width[l + 1]);
		s->dact[l] = alloc_floats((int64) rows * s->t.width[l + 1]);
	}
	s->mark = palloc(sizeof(int32) * d->n_items);
	for (int i = 0; i < d->n_items; i++)
		s->mark[i] = -1;
	s->touched = palloc(sizeof(int32) * d->n_items);
	s->slot = palloc(sizeof(int32) * d->n_items);
	s->tptr = palloc(sizeof(int64) * (d->n_items + 1));
	s->tcap = 0;
	s->tsrc = NULL;
	s->tval = NULL;
	s->usage = palloc0(sizeof(int64) * d->n_items);
	for (int t = 0; t <= tr->nthreads; t++)
		s->own[t] = (int32) ((int64) d->n_items * t / tr->nthreads);
}

static void build_transpose(Trainer *tr, int k);

/* ---------------------------------------------------------------- phases */

/* [lo, hi) of n split into parts, the split points multiples of align */
static void
split_range(int64 n, int parts, int part, int64 align, int64 *lo, int64 *hi)
{
	int64		chunk = (n + parts - 1) / parts;

	chunk = (chunk + align - 1) / align * align;
	*lo = Min(n, chunk * part);
	*hi = Min(n, chunk * (part + 1));
}

static inline void
prefetch_row(const float *p, int n)
{
	for (int c = 0; c < n; c += CACHELINE_FLOATS)
		__builtin_prefetch(p + c, 0);
}

/* sparse layer forward of rows [r0, r1) of one tower */
static void
sparse_forward(Trainer *tr, int k, int r0, int r1)
{
	const NcfData *d = tr->d;
	TowerState *s = &tr->tw[k];
	int			w1 = s->t.width[1];
	bool		relu = s->t.nlayers > 1;

	for (int r = r0; r < r1; r++)
	{
		float	   *y = s->act[0] + (Size) r * w1;

		memset(y, 0, sizeof(float) * w1);
		if (k == NCF_LEARNER)
		{
			int32		p = tr->batch_pos[r];
			const int32 *ctx = d->items + d->ctx_start[p];

			for (int j = 0; j < d->ctx_len[p]; j++)
			{
				if (j + 2 < d->ctx_len[p])
					prefetch_row(s->t.w[0] + (Size) ctx[j + 2] * w1, w1);
				ncf_vec_add(y, s->t.w[0] + (Size) ctx[j] * w1, w1);
			}
		}
		else
		{
			int32		c = tr->batch_item[r];

			int64		end = d->cowatch.rowptr[c + 1];

			for (int64 j = d->cowatch.rowptr[c]; j < end; j++)
			{
				if (j + 2 < end)
					prefetch_row(s->t.w[0] + (Size) d->cowatch.col[j + 2] * w1, w1);
				ncf_vec_axpy(y, d->cowatch.val[j], s->t.w[0] + (Size) d->cowatch.col[j] * w1, w1);
			}
		}
		ncf_vec_bias_relu(y, s->t.b[0], w1, relu);
	}
}

static void
dense_forward(TowerState *s, int r0, int r1)
{
	int			nb = r1 - r0;

	for (int l = 1; l < s->t.nlayers; l++)
	{
		int			n_in = s->t.width[l],
					n_out = s->t.width[l + 1];
		bool		last = (l == s->t.nlayers - 1);
		float	   *x = s->act[l - 1] + (Size) r0 * n_in;
		float	   *y = s->act[l] + (Size) r0 * n_out;

		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, n_out, n_in,
					1.0f, x, n_in, s->t.w[l], n_out, 0.0f, y, n_out);
		for (int r = 0; r < nb; r++)
			ncf_vec_bias_relu(y + (Size) r * n_out, s->t.b[l], n_out, !last);
	}
}

/* backward from dact[last] down to dact[0], rows [r0, r1), thread th's partials */
static void
dense_backward(TowerState *s, int th, int r0, int r1)
{
	int			nb = r1 - r0;
	NcfTower   *g = &s->gview[th];

	for (int l = s->t.nlayers - 1; l >= 0; l--)
	{
		int			n_out = s->t.width[l + 1];
		float	   *dy = s->dact[l] + (Size) r0 * n_out;

		for (int r = 0; r < nb; r++)
			ncf_vec_add(g->b[l], dy + (Size) r * n_out, n_out);
		if (l == 0)
			break;
		{
			int			n_in = s->t.width[l];
			float	   *x = s->act[l - 1] + (Size) r0 * n_in;
			float	   *dx = s->dact[l - 1] + (Size) r0 * n_in;

			/* dW = x' dy (this thread's rows); dx = dy W', through ReLU */
			cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, n_in, n_out, nb,
						1.0f, x, n_in, dy, n_out, 1.0f, g->w[l], n_out);
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, n_in, n_out,
						1.0f, dy, n_out, s->t.w[l], n_out, 0.0f, dx, n_in);
			for (int r = 0; r < nb; r++)
				ncf_vec_relu_mask(dx + (Size) r * n_in, x + (Size) r * n_in, n_in);
		}
	}
}

static void
phase_forward_backward(Trainer *tr, int th)
{
	int			P = tr->per_group;
	int64		g0,
				g1;
	TowerState *L = &tr->tw[NCF_LEARNER];
	TowerState *C = &tr->tw[NCF_COURSE];
	int			dim = tr->cfg->dim;
	int			nlast = L->t.nlayers - 1;
	float		inv_n = 1.0f / tr->ninst;
	double		loss = 0;

	/* the transposes for phase B: the learner's by thread 0, the course's by the last */
	if (th == 0)
		build_transpose(tr, NCF_LEARNER);
	if (th == tr->nthreads - 1)
		build_transpose(tr, NCF_COURSE);

	split_range(tr->ngroups, tr->nthreads, th, 1, &g0, &g1);
	if (g0 >= g1)
	{
		tr->loss_part[th * 8] = 0;
		return;
	}
	sparse_forward(tr, NCF_LEARNER, g0, g1);
	sparse_forward(tr, NCF_COURSE, g0 * P, g1 * P);
	dense_forward(L, g0, g1);
	dense_forward(C, g0 * P, g1 * P);

	/* logits, loss and the gradient at both embeddings */
	for (int64 g = g0; g < g1; g++)
	{
		const float *u = L->act[nlast] + g * dim;
		float	   *du = L->dact[nlast] + g * dim;

		memset(du, 0, sizeof(float) * dim);
		for (int j = 0; j < P; j++)
		{
			int64		i = g * P + j;
			const float *v = C->act[nlast] + i * dim;
			float		z = ncf_vec_dot(u, v, dim);
			float		y = (j == 0) ? 1.0f : 0.0f;
			float		dz;

			/* BCE with logits: max(z,0) - y z + log(1 + exp(-|z|)) */
			loss += (z > 0 ? z : 0) - y * z + log1pf(expf(-fabsf(z)));
			dz = (1.0f / (1.0f + expf(-z)) - y) * inv_n;
			ncf_vec_axpy(du, dz, v, dim);
			{
				float	   *dv = C->dact[nlast] + i * dim;

				for (int e = 0; e < dim; e++)
					dv[e] = dz * u[e];
			}
		}
	}
	tr->loss_part[th * 8] = loss;

	dense_backward(L, th, g0, g1);
	dense_backward(C, th, g0 * P, g1 * P);
}

/*
 * The touched rows of one tower that thread th owns (W0 rows [lo, hi)): each
 * row's gradient is gathered from the batch rows that used it (in batch
 * order), then Adam.  Every W0 row, and its moments, is read and written
 * once per batch, always by the same thread: the moments never move between
 * the threads' caches.
 */
static void
sparse_update(Trainer *tr, int k, int th, float *gacc)
{
	TowerState *s = &tr->tw[k];
	int			w1 = s->t.width[1];
	int32		lo = s->own[th],
				hi = s->own[th + 1];
	int			prev = -1;

	for (int t = 0; t <= s->ntouched; t++)
	{
		int32		row = t < s->ntouched ? s->touched[t] : -1;

		if (t < s->ntouched && (row < lo || row >= hi))
			continue;
		/* prefetch this row's parameters, then update the previous one */
		if (row >= 0)
		{
			Size		next = (Size) row * w1;

			for (int c = 0; c < w1; c += CACHELINE_FLOATS)
			{
				__builtin_prefetch(s->t.w[0] + next + c, 1);
				__builtin_prefetch(s->w0_m + next + c, 1);
				__builtin_prefetch(s->w0_v + next + c, 1);
			}
		}
		if (prev >= 0)
		{
			Size		off = (Size) s->touched[prev] * w1;

			for (int64 e = s->tptr[prev]; e < s->tptr[prev + 1]; e++)
			{
				const float *dy = s->dact[0] + (Size) s->tsrc[e] * w1;

				if (k == NCF_LEARNER)
					ncf_vec_add(gacc, dy, w1);
				else
					ncf_vec_axpy(gacc, s->tval[e], dy, w1);
			}
			ncf_adam(s->t.w[0] + off, s->w0_m + off, s->w0_v + off, gacc, w1, &tr->adam);
		}
		prev = t;
	}
}

/*
 * Row ownership for phase B: split W0's rows so that the threads get equal
 * shares of last epoch's use (entries + a fixed cost per touched row).
 */
static void
rebalance_rows(Trainer *tr)
{
	for (int k = 0; k < 2; k++)
	{
		TowerState *s = &tr->tw[k];
		int			n = tr->d->n_items;
		double		total = 0,
					acc = 0;
		int			th = 1;

		for (int i = 0; i < n; i++)
			total += (double) s->usage[i];
		s->own[0] = 0;
		for (int i = 0; i < n && th < tr->nthreads; i++)
		{
			acc += (double) s->usage[i];
			if (acc >= total * th / tr->nthreads)
				s->own[th++] = i + 1;
		}
		while (th < tr->nthreads)
			s->own[th++] = n;
		s->own[tr->nthreads] = n;
		memset(s->usage, 0, sizeof(int64) * n);
	}
}

static void
phase_update(Trainer *tr, int th)
{
	for (int k = 0; k < 2; k++)
	{
		TowerState *s = &tr->tw[k];
		int64		a,
					b;

		split_range(s->dense_n, tr->nthreads, th, CACHELINE_FLOATS, &a, &b);
		if (a < b)
			ncf_adam_sum(s->dense + a, s->dense_m + a, s->dense_v + a, s->dense_g + a,
						 s->dense_n, tr->nthreads, b - a, &tr->adam);
		sparse_update(tr, k, th, tr->gacc + (Size) th * tr->gacc_stride);
	}
}

static void
run_phase(void *arg, int th, int phase)
{
	Trainer    *tr = arg;

#if defined(__x86_64__)
	/* flush denormals to zero, in every thread that computes */
	_mm_setcsr(_mm_getcsr() | 0x8040);
#endif
	{
		double		t0 = recs_clock_seconds();

		if (phase == 0)
			phase_forward_backward(tr, th);
		else
			phase_update(tr, th);
		tr->busy[th][phase] += recs_clock_seconds() - t0;
	}
}

/* ---------------------------------------------------------------- loop */

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

static void
draw_negatives(Trainer *tr, RecsRng *rng)
{
	const NcfData *d = tr->d;
	int			neg = tr->cfg->negatives;

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
			tr->negs[p * neg + r] = c;
		}
	}
}

/* start a tower's transposed input for a new batch */
static inline void
transpose_use(TowerState *s, int32 row, int32 stamp)
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

/* counts to offsets; the entry arrays were sized by prepare_batch */
static void
transpose_alloc(TowerState *s)
{
	for (int t = 0; t < s->ntouched; t++)
		s->tptr[t + 1] += s->tptr[t];
}

/* entry e of row slot[row]: tptr[] is used as the fill cursor, then restored */
static inline void
transpose_put(TowerState *s, int32 row, int32 src, float val)
{
	int64		e = s->tptr[s->slot[row]]++;

	s->tsrc[e] = src;
	s->tval[e] = val;
}

static void
transpose_restore(TowerState *s)
{
	for (int t = s->ntouched; t > 0; t--)
		s->tptr[t] = s->tptr[t - 1];
	s->tptr[0] = 0;
}

static void
prepare_batch(Trainer *tr, int64 first, int ngroups, int32 stamp)
{
	const NcfData *d = tr->d;
	const NcfSparse *S = &d->cowatch;
	int			P = tr->per_group;
	int			neg = P - 1;

	tr->ngroups = ngroups;
	tr->ninst = ngroups * P;
	tr->stamp = stamp;
	for (int g = 0; g < ngroups; g++)
	{
		int32		p = tr->perm[first + g];

		tr->batch_pos[g] = p;
		tr->batch_item[g * P] = d->pos_item[p];
		for (int r = 0; r < neg; r++)
			tr->batch_item[g * P + 1 + r] = tr->negs[(int64) p * neg + r];
	}
	/* entries of the transposes: grow the arrays here, in the backend's thread */
	for (int k = 0; k < 2; k++)
	{
		TowerState *s = &tr->tw[k];
		int64		n = 0;

		if (k == NCF_LEARNER)
			for (int g = 0; g < ngroups; g++)
				n += d->ctx_len[tr->batch_pos[g]];
		else
			for (int i = 0; i < tr->ninst; i++)
				n += S->rowptr[tr->batch_item[i] + 1] - S->rowptr[tr->batch_item[i]];
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
}

/* the batch's inputs of tower k, transposed (run by one thread per tower) */
static void
build_transpose(Trainer *tr, int k)
{
	const NcfData *d = tr->d;
	const NcfSparse *S = &d->cowatch;
	TowerState *s = &tr->tw[k];
	int32		stamp = tr->stamp;

	s->ntouched = 0;
	s->tptr[0] = 0;
	if (k == NCF_LEARNER)
	{
		for (int g = 0; g < tr->ngroups; g++)
		{
			int32		p = tr->batch_pos[g];
			const int32 *ctx = d->items + d->ctx_start[p];

			for (int j = 0; j < d->ctx_len[p]; j++)
				transpose_use(s, ctx[j], stamp);
		}
		transpose_alloc(s);
		for (int g = 0; g < tr->ngroups; g++)
		{
			int32		p = tr->batch_pos[g];
			const int32 *ctx = d->items + d->ctx_start[p];

			for (int j = 0; j < d->ctx_len[p]; j++)
				transpose_put(s, ctx[j], g, 1.0f);
		}
	}
	else
	{
		for (int i = 0; i < tr->ninst; i++)
		{
			int32		c = tr->batch_item[i];

			for (int64 j = S->rowptr[c]; j < S->rowptr[c + 1]; j++)
				transpose_use(s, S->col[j], stamp);
		}
		transpose_alloc(s);
		for (int i = 0; i < tr->ninst; i++)
		{
			int32		c = tr->batch_item[i];

			for (int64 j = S->rowptr[c]; j < S->rowptr[c + 1]; j++)
				transpose_put(s, S->col[j], i, S->val[j]);
		}
	}
	transpose_restore(s);
	for (int t = 0; t < s->ntouched; t++)
		s->usage[s->touched[t]] += s->tptr[t + 1] - s->tptr[t] + 4;
}

void
ncf_train(const NcfData *d, const NcfConfig *cfg, NcfModel *model, NcfEpochLog *log)
{
	MemoryContext workcxt;
	MemoryContext oldcxt;
	MemoryContext modelcxt = CurrentMemoryContext;
	Trainer    *tr;
	RecsRng		rng;
	int			G;
	int64		nbatches;
	int64		step = 0;
	double		t_start = recs_clock_seconds();
	NcfPool		pool;
	NcfPoolWorker workers[NCF_MAX_THREADS];
	volatile bool started = false;
#if defined(__x86_64__)
	unsigned int saved_csr = _mm_getcsr();
#endif

	workcxt = AllocSetContextCreate(CurrentMemoryContext, "ncf training",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(workcxt);

	tr = palloc0(sizeof(Trainer));
	tr->d = d;
	tr->cfg = cfg;
	tr->nthreads = Max(1, Min(cfg->threads, NCF_MAX_THREADS));
	tr->per_group = 1 + cfg->negatives;
	G = Max(1, cfg->batch_size / tr->per_group);
	nbatches = (d->n_pos + G - 1) / G;

	rng_seed(&rng, cfg->seed);
	tower_state_init(tr, &tr->tw[NCF_LEARNER], G, &rng);
	tower_state_init(tr, &tr->tw[NCF_COURSE], G * tr->per_group, &rng);
	tr->batch_pos = palloc(sizeof(int32) * G);
	tr->batch_item = palloc(sizeof(int32) * G * tr->per_group);
	tr->loss_part = palloc0(sizeof(double) * 8 * tr->nthreads);
	tr->gacc_stride = (cfg->hidden[0] + CACHELINE_FLOATS - 1) / CACHELINE_FLOATS * CACHELINE_FLOATS;
	tr->gacc = alloc_zero_floats(tr->gacc_stride * tr->nthreads);
	tr->negs = MemoryContextAllocHuge(workcxt, sizeof(int32) * Max(d->n_pos * cfg->negatives, 1));
	tr->perm = MemoryContextAllocHuge(workcxt, sizeof(int32) * Max(d->n_pos, 1));
	for (int64 p = 0; p < d->n_pos; p++)
		tr->perm[p] = (int32) p;
	tr->adam.beta1 = 0.9f;
	tr->adam.beta2 = 0.999f;
	tr->adam.l2 = cfg->l2;

	PG_TRY();
	{
		ncf_pool_start(&pool, workers, tr->nthreads, run_phase, tr);
		started = true;
		if (pool.nstarted < tr->nthreads - 1)
		{
			int			nstarted = pool.nstarted;

			ncf_pool_stop(&pool);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
					 errmsg("could not start %d training threads", tr->nthreads - 1),
					 errdetail("Only %d could be started.", nstarted),
					 errhint("Pass a smaller threads argument.")));
		}
		for (int epoch = 0; epoch < cfg->epochs; epoch++)
		{
			double		t0 = recs_clock_seconds();
			double		foreign0 = recs_foreign_cpu_seconds();
			double		prep_s = 0;
			double		loss = 0;
			double		elapsed,
						secs;

			draw_negatives(tr, &rng);
			/* Fisher-Yates over the positives (groups) */
			for (int64 p = d->n_pos - 1; p > 0; p--)
			{
				int64		q = (int64) rng_below(&rng, (uint64) p + 1);
				int32		tmp = tr->perm[p];

				tr->perm[p] = tr->perm[q];
				tr->perm[q] = tmp;
			}
			for (int64 b = 0; b < nbatches; b++)
			{
				int64		first = b * G;
				int			ng = (int) Min((int64) G, d->n_pos - first);
				double		bc1,
							bc2;

				CHECK_FOR_INTERRUPTS();
				step++;
				bc1 = 1.0 - pow(0.9, (double) step);
				bc2 = 1.0 - pow(0.999, (double) step);
				tr->adam.lr = (float) (cfg->learning_rate * sqrt(bc2) / bc1);
				tr->adam.eps = (float) (1e-8 * sqrt(bc2));
				{
					double		tp = recs_clock_seconds();

					prepare_batch(tr, first, ng, (int32) (step & 0x7FFFFFFF));
					prep_s += recs_clock_seconds() - tp;
				}
				ncf_pool_run(&pool, 0);
				for (int t = 0; t < tr->nthreads; t++)
					loss += tr->loss_part[t * 8];
				ncf_pool_run(&pool, 1);
			}
			rebalance_rows(tr);
			secs = recs_clock_seconds() - t0;
			elapsed = recs_clock_seconds() - t_start;
			log[epoch].loss = loss / ((double) d->n_pos * tr->per_group);
			log[epoch].seconds = secs;
			{
				double		f = recs_foreign_cpu_seconds() - foreign0;

				log[epoch].foreign_cpu = isnan(f) ? NAN : Max(f, 0.0);
			}
			ereport(DEBUG1,
					(errmsg("train_ncf: busy seconds: phase A %.2f / %.2f, phase B %.2f / %.2f, prepare %.2f",
							tr->busy[0][0], tr->busy[1][0], tr->busy[0][1], tr->busy[1][1], prep_s)));
			ereport(NOTICE,
					(errmsg("train_ncf: epoch %d/%d: loss %.4f, %.0f examples/s, elapsed %.1f s, about %.1f s left",
							epoch + 1, cfg->epochs, log[epoch].loss,
							(double) d->n_pos * tr->per_group / Max(secs, 1e-9),
							elapsed, elapsed / (epoch + 1) * (cfg->epochs - epoch - 1)),
					 errdetail("Other processes used %.1f CPU seconds meanwhile.", log[epoch].foreign_cpu)));
			/* a diverging training must not store NaN embeddings */
			if (!isfinite(log[epoch].loss))
				ereport(ERROR,
						(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
						 errmsg("train_ncf diverged: the loss is not finite after epoch %d", epoch + 1),
						 errdetail("No model was stored; the previous models are unchanged."),
						 errhint("Lower learning_rate (it was %g).", cfg->learning_rate)));
		}
	}
	PG_FINALLY();
	{
		if (started)
			ncf_pool_stop(&pool);
#if defined(__x86_64__)
		_mm_setcsr(saved_csr);
#endif
	}
	PG_END_TRY();

	/* hand the parameters over: copy them into the caller's context */
	MemoryContextSwitchTo(modelcxt);
	for (int k = 0; k < 2; k++)
	{
		TowerState *s = &tr->tw[k];
		NcfTower   *t = &model->tower[k];
		int64		nw0 = (int64) d->n_items * s->t.width[1];
		float	   *flat = alloc_floats(s->dense_n);

		*t = s->t;
		memcpy(flat, s->dense, sizeof(float) * s->dense_n);
		ncf_tower_bind_dense(t, flat);
		t->w[0] = alloc_floats(nw0);
		memcpy(t->w[0], s->t.w[0], sizeof(float) * nw0);
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(workcxt);
}
