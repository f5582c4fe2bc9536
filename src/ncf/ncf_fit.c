/*
 * ncf_fit.c -- the training loop of the two-tower model
 *
 * Data.  The positives, their contexts, the negatives and each batch's
 * transposed inputs come from ncf_batch.c.
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
 * Softmax (loss => 'softmax', ncf_softmax.c).  A batch is batch_size
 * positives and no drawn negatives: the course tower runs once per
 * distinct course of the batch, and every course of the batch is a negative
 * for every other positive.  It takes three fork-joins before the update
 * instead of one, because the loss of a row needs every column's embedding
 * and a column's gradient every row's: (forward both towers, split by rows
 * and by columns) -> (B x C logits for a range of rows, one sgemm; masked,
 * log-Q corrected softmax; dU = dZ V; learner tower backward) -> (dV =
 * dZ' U for a range of columns; course tower backward) -> Adam as above.
 *
 * Content dropout.  With course content features, each instance's course
 * input loses its co-watch part with probability content_dropout (drawn in
 * the backend's thread from a stream of its own, so that a model without
 * content features draws exactly as before), so that the content rows alone
 * must place a course: how a course nobody watched yet is embedded.
 *
 * Attention.  With encoder 'attention' the learner tower's sparse layer
 * pools its context by attention (ncf_attention.c): the forward pass keeps
 * each group's entries h_j and weights alpha_j, the backward pass turns the
 * gradient at the pooled output into one gradient per entry (the rows of
 * att_dh that the learner's transpose points to) plus the encoder's own
 * parameter gradient, kept per thread and summed in thread order like the
 * dense ones; Adam then updates the position embeddings and the query with
 * the dense parameters.
 *
 * Trend (trend_days => D, ncf_trend.c).  Every logit gains
 * b[bucket(n_c(t))], t the positive's time (its negatives and, with the
 * softmax, every column of its row use the same t): the binary loss counts
 * each instance's course by binary search in phase A; the softmax computes
 * the batch's row x column buckets in its first step, by columns, over the
 * rows in time order.  b's gradient is kept per thread (NCF_TREND_BUCKETS
 * floats, a cache line) and summed in thread order; Adam updates it with
 * the dense parameters.  Without trend_days none of this runs and nothing
 * is drawn: a model trains exactly as before.
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
#include "rng.h"
#include "timing.h"
#define CACHELINE_FLOATS 16

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
	NcfTranspose tp;			/* the batch's sparse inputs, transposed */
	int32		own[NCF_MAX_THREADS + 1];	/* phase B: thread t updates rows [own[t], own[t+1]) */
} TowerState;

typedef struct Trainer
{
	const NcfData *d;
	const NcfConfig *cfg;
	int			nthreads;
	TowerState	tw[2];
	NcfBatch	batch;			/* the current batch */
	double	   *loss_part;		/* per thread, a cache line apart */
	float	   *gacc;			/* per thread, one W0 row of gradient */
	int64		gacc_stride;
	NcfAdam		adam;
	double		busy[NCF_MAX_THREADS][2];	/* seconds computing, per thread: step / update */
	/* per epoch */
	int32	   *negs;			/* n_pos x negatives */
	int32	   *perm;
	RecsRng		drop_rng;		/* content dropout's draws (batch.drop) */
	/* the attention encoder (encoder 'attention'), else att_n = 0 */
	NcfAttention att;
	int64		att_n;			/* its parameters */
	float	   *att_m;
	float	   *att_v;
	float	   *att_g;			/* nthreads partial gradients, att_n apart */
	float	   *att_h;			/* per group: window x width entries h_j */
	float	   *att_alpha;		/* per group: window weights */
	float	   *att_dh;			/* per group: window x width entry gradients */
	float	   *att_val;		/* ctx_cap order weights, oldest position first; NULL: all 1 */
	NcfSoftmax *sm;				/* loss 'softmax': the batch's columns; NULL: binary */
	/* trend_days: b, its moments, per-thread gradients; else trend false */
	bool		trend;
	float	   *trend_b;
	float	   *trend_m;
	float	   *trend_v;
	float	   *trend_g;		/* nthreads x NCF_TREND_BUCKETS */
	uint8	   *trend_bucket;	/* softmax: G x G (row, column) buckets */
	double	   *row_when;		/* softmax: each row's time */
	int32	   *row_order;		/* softmax: the rows by time */
} Trainer;

/* pool phases: binary's step, the update, softmax's three steps */
#define PHASE_BINARY 0
#define PHASE_UPDATE 1
#define PHASE_SM_FORWARD 2
#define PHASE_SM_LOSS 3
#define PHASE_SM_COURSES 4

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
	bool		softmax = cfg->loss == NCF_LOSS_SOFTMAX;
	int			negatives = softmax ? 0 : cfg->negatives;
	int			per_group = 1 + negatives;
	int			groups = Max(1, cfg->batch_size / per_group);
	Size		total = 0;
	NcfTower	shape;

	for (int k = 0; k < 2; k++)
	{
		int			rows = k == NCF_LEARNER ? groups : groups * per_group;
		int			n_in = ncf_tower_inputs(d, k);
		Size		acts = 0;

		ncf_tower_shape(&shape, n_in, cfg->nhidden, cfg->hidden, cfg->dim);
		/* W0 with its moments, the transposed batch inputs */
		total = add_size(total, mul_size(mul_size(n_in, shape.width[1]), 3 * sizeof(float)));
		total = add_size(total, mul_size(n_in, 3 * sizeof(int32) + sizeof(int64)));
		total = add_size(total, mul_size(ncf_tower_dense_size(&shape),
										 (3 + cfg->threads) * sizeof(float)));
		for (int l = 0; l < shape.nlayers; l++)
			acts += shape.width[l + 1];
		total = add_size(total, mul_size(mul_size(rows, acts), 2 * sizeof(float)));
		total = add_size(total, mul_size(n_in, 2 * sizeof(int32)));
	}
	/* content dropout's flags and the content rows joined to the co-watch rows */
	if (d->content_start)
		total = add_size(total, add_size(mul_size(groups * per_group, sizeof(bool)),
										 mul_size(d->course_in.nnz, sizeof(int32) + sizeof(float))));
	/* the attention encoder: parameters, moments, gradients, per-group entries */
	if (cfg->encoder == NCF_ENCODER_ATTENTION)
	{
		Size		n = ncf_attention_size(cfg->attention_window, cfg->hidden[0]);

		total = add_size(total, mul_size(n, (3 + cfg->threads) * sizeof(float)));
		total = add_size(total, mul_size(mul_size(groups, cfg->attention_window),
										 (2 * cfg->hidden[0] + 1) * sizeof(float)));
	}
	/* data: positives, contexts, negatives, permutation, sorted sets */
	total = add_size(total, mul_size(d->n_pos, 4 * sizeof(int32) + sizeof(int64)
									 + negatives * sizeof(int32)));
	if (softmax)
		total = add_size(total, ncf_softmax_memory(d, groups));
	total = add_size(total, mul_size(d->offsets[d->n_learners], sizeof(int32)));
	/* half_life_days: the positives' weights */
	if (cfg->half_life_seconds > 0)
		total = add_size(total, mul_size(d->n_pos, sizeof(float)));
	/* trend_days: the watches by course, the positives' times, softmax's buckets */
	if (cfg->trend_seconds > 0)
	{
		total = add_size(total, add_size(mul_size(d->offsets[d->n_learners], sizeof(double)),
										 mul_size(d->n_pos, sizeof(double))));
		total = add_size(total, mul_size(d->n_items + 1, sizeof(int64)));
		if (softmax)
			total = add_size(total, add_size(mul_size(groups, groups),
											 mul_size(groups, sizeof(double) + sizeof(int32))));
	}
	return total;
}

static void
tower_state_init(Trainer *tr, int k, int rows, RecsRng *rng)
{
	const NcfData *d = tr->d;
	const NcfConfig *cfg = tr->cfg;
	TowerState *s = &tr->tw[k];
	int			n_in = ncf_tower_inputs(d, k);
	int64		nw0;

	ncf_tower_shape(&s->t, n_in, cfg->nhidden, cfg->hidden, cfg->dim);
	nw0 = (int64) n_in * s->t.width[1];
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
		ncf_tower_shape(&s->gview[t], n_in, cfg->nhidden, cfg->hidden, cfg->dim);
		ncf_tower_bind_dense(&s->gview[t], s->dense_g + t * s->dense_n);
	}
	s->w0_m = alloc_zero_floats(nw0);
	s->w0_v = alloc_zero_floats(nw0);
	for (int l = 0; l < s->t.nlayers; l++)
	{
		s->act[l] = alloc_floats((int64) rows * s->t.width[l + 1]);
		s->dact[l] = alloc_floats((int64) rows * s->t.width[l + 1]);
	}
	ncf_transpose_init(&s->tp, n_in);
	for (int t = 0; t <= tr->nthreads; t++)
		s->own[t] = (int32) ((int64) n_in * t / tr->nthreads);
}

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
			int32		p = tr->batch.pos[r];
			const int32 *ctx = d->items + d->ctx_start[p];
			int			len = d->ctx_len[p];
			float		scale = ncf_context_scale(d->ctx_norm, len);

			if (tr->att_n > 0)
			{
				/* len <= ctx_cap <= window: every entry is seen, j in place */
				Size		slot = (Size) r * tr->att.window;

				ncf_attention_pool(&tr->att, s->t.w[0], ctx, len,
								   tr->att_val ? tr->att_val + d->ctx_cap - len : NULL,
								   tr->att_h + slot * w1, tr->att_alpha + slot, y);
				len = 0;		/* the encoder did the whole layer */
			}
			for (int j = 0; j < len; j++)
			{
				if (j + 2 < len)
					prefetch_row(s->t.w[0] + (Size) ctx[j + 2] * w1, w1);
				/* the weight as ncf_context_values computes it */
				if (d->ctx_weight || d->ctx_norm != NCF_NORM_NONE)
					ncf_vec_axpy(y, (d->ctx_weight ? d->ctx_weight[len - 1 - j] : 1.0f) * scale,
								 s->t.w[0] + (Size) ctx[j] * w1, w1);
				else
					ncf_vec_add(y, s->t.w[0] + (Size) ctx[j] * w1, w1);
			}
		}
		else
		{
			const NcfSparse *S = &d->course_in;
			int64		j0,
						end;

			ncf_course_input(d, tr->batch.item[r], tr->batch.drop && tr->batch.drop[r], &j0, &end);
			for (int64 j = j0; j < end; j++)
			{
				if (j + 2 < end)
					prefetch_row(s->t.w[0] + (Size) S->col[j + 2] * w1, w1);
				ncf_vec_axpy(y, S->val[j], s->t.w[0] + (Size) S->col[j] * w1, w1);
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

/*
 * Through the attention pooling of learner rows [g0, g1) (encoder
 * 'attention'; nothing otherwise): each entry's gradient, and the encoder's
 * into thread th's partial gradient.  After the learner tower's dense
 * backward pass, under either loss.
 */
static void
attention_backward(Trainer *tr, int th, int64 g0, int64 g1)
{
	TowerState *L = &tr->tw[NCF_LEARNER];
	int			w1 = L->t.width[1];

	if (tr->att_n == 0)
		return;
	for (int64 g = g0; g < g1; g++)
	{
		Size		slot = (Size) g * tr->att.window;
		int			len = tr->d->ctx_len[tr->batch.pos[g]];

		ncf_attention_backward(&tr->att, len, tr->att_h + slot * w1, tr->att_alpha + slot,
							   tr->att_val ? tr->att_val + tr->d->ctx_cap - len : NULL,
							   L->dact[0] + (Size) g * w1, tr->att_dh + slot * w1,
							   tr->att_g + (Size) th * tr->att_n);
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

/* the weight of the batch's g-th positive (half_life_days; 1 without) */
static inline float
positive_weight(const Trainer *tr, int64 g)
{
	return tr->d->pos_weight ? tr->d->pos_weight[tr->batch.pos[g]] : 1.0f;
}

static void
phase_forward_backward(Trainer *tr, int th)
{
	int			P = tr->batch.per_group;
	int64		g0,
				g1;
	TowerState *L = &tr->tw[NCF_LEARNER];
	TowerState *C = &tr->tw[NCF_COURSE];
	int			dim = tr->cfg->dim;
	int			nlast = L->t.nlayers - 1;
	float		inv_n = 1.0f / tr->batch.ninst;
	double		loss = 0;

	/* the transposes for phase B: the learner's by thread 0, the course's by the last */
	if (th == 0)
		ncf_batch_transpose(&tr->batch, tr->d, NCF_LEARNER, &tr->tw[NCF_LEARNER].tp);
	if (th == tr->nthreads - 1)
		ncf_batch_transpose(&tr->batch, tr->d, NCF_COURSE, &tr->tw[NCF_COURSE].tp);

	split_range(tr->batch.ngroups, tr->nthreads, th, 1, &g0, &g1);
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
		double		t = tr->trend ? tr->d->pos_when[tr->batch.pos[g]] : 0;
		float		wg = positive_weight(tr, g);

		memset(du, 0, sizeof(float) * dim);
		for (int j = 0; j < P; j++)
		{
			int64		i = g * P + j;
			const float *v = C->act[nlast] + i * dim;
			float		z = ncf_vec_dot(u, v, dim);
			float		y = (j == 0) ? 1.0f : 0.0f;
			float		dz;
			int			bk = 0;

			/* the trend term of the course at the positive's time */
			if (tr->trend)
			{
				bk = ncf_trend_bucket(ncf_trend_count(&tr->d->trend, tr->batch.item[i],
													  t - tr->cfg->trend_seconds, t, false));
				z += tr->trend_b[bk];
			}
			/* BCE with logits: max(z,0) - y z + log(1 + exp(-|z|)) */
			loss += wg * ((z > 0 ? z : 0) - y * z + log1pf(expf(-fabsf(z))));
			dz = (1.0f / (1.0f + expf(-z)) - y) * inv_n * wg;
			if (tr->trend)
				tr->trend_g[th * NCF_TREND_BUCKETS + bk] += dz;
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

	attention_backward(tr, th, g0, g1);
}

/*
 * Softmax, first step: the transposes, then both towers forward, the
 * learner's over a range of the positives, the course's over a range of
 * the columns.
 */
static void
phase_softmax_forward(Trainer *tr, int th)
{
	int64		g0,
				g1,
				c0,
				c1;

	if (th == 0)
		ncf_batch_transpose(&tr->batch, tr->d, NCF_LEARNER, &tr->tw[NCF_LEARNER].tp);
	if (th == tr->nthreads - 1)
		ncf_batch_transpose(&tr->batch, tr->d, NCF_COURSE, &tr->tw[NCF_COURSE].tp);
	split_range(tr->batch.ngroups, tr->nthreads, th, 1, &g0, &g1);
	split_range(tr->batch.ninst, tr->nthreads, th, 1, &c0, &c1);
	if (g0 < g1)
	{
		sparse_forward(tr, NCF_LEARNER, g0, g1);
		dense_forward(&tr->tw[NCF_LEARNER], g0, g1);
	}
	if (c0 < c1)
	{
		sparse_forward(tr, NCF_COURSE, c0, c1);
		dense_forward(&tr->tw[NCF_COURSE], c0, c1);
		if (tr->trend)
			ncf_trend_buckets(&tr->d->trend, tr->cfg->trend_seconds, tr->row_when, tr->row_order,
							  tr->batch.ngroups, tr->batch.item, (int) c0, (int) c1,
							  tr->trend_bucket, tr->batch.ninst);
	}
}

/*
 * Softmax, second step, rows [g0, g1): their logits against every column
 * (one sgemm), the masked, log-Q corrected softmax and its gradient, dU =
 * dZ V, and the learner tower's backward pass.
 */
static void
phase_softmax_loss(Trainer *tr, int th)
{
	NcfSoftmax *sm = tr->sm;
	TowerState *L = &tr->tw[NCF_LEARNER];
	TowerState *C = &tr->tw[NCF_COURSE];
	int			nlast = L->t.nlayers - 1;
	int			dim = tr->cfg->dim;
	int			ncols = sm->ncols;
	float		scale = 1.0f / tr->batch.ngroups;
	double		loss = 0;
	int64		g0,
				g1;

	split_range(tr->batch.ngroups, tr->nthreads, th, 1, &g0, &g1);
	tr->loss_part[th * 8] = 0;
	if (g0 >= g1)
		return;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g1 - g0, ncols, dim,
				1.0f, L->act[nlast] + g0 * dim, dim, C->act[nlast], dim,
				0.0f, sm->z + g0 * ncols, ncols);
	for (int64 g = g0; g < g1; g++)
	{
		float	   *z = sm->z + g * ncols;
		const uint8 *bk = tr->trend ? tr->trend_bucket + g * ncols : NULL;
		float		wg = positive_weight(tr, g);

		/* the trend term: a score is the dot product plus b[bucket] */
		if (bk)
			for (int c = 0; c < ncols; c++)
				z[c] += tr->trend_b[bk[c]];
		ncf_softmax_mask_row(sm, tr->d, tr->d->pos_learner[tr->batch.pos[g]], sm->label[g], z);
		loss += wg * ncf_softmax_row(z, ncols, sm->label[g], sm->col_logq, sm->temperature, scale * wg);
		if (bk)
		{
			float	   *tg = tr->trend_g + th * NCF_TREND_BUCKETS;

			for (int c = 0; c < ncols; c++)
				tg[bk[c]] += z[c];
		}
	}
	tr->loss_part[th * 8] = loss;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g1 - g0, dim, ncols,
				1.0f, sm->z + g0 * ncols, ncols, C->act[nlast], dim,
				0.0f, L->dact[nlast] + g0 * dim, dim);
	dense_backward(L, th, g0, g1);
	attention_backward(tr, th, g0, g1);
}

/* Softmax, third step, columns [c0, c1): dV = dZ' U, the course tower's backward */
static void
phase_softmax_courses(Trainer *tr, int th)
{
	NcfSoftmax *sm = tr->sm;
	TowerState *L = &tr->tw[NCF_LEARNER];
	TowerState *C = &tr->tw[NCF_COURSE];
	int			nlast = C->t.nlayers - 1;
	int			dim = tr->cfg->dim;
	int64		c0,
				c1;

	split_range(sm->ncols, tr->nthreads, th, 1, &c0, &c1);
	if (c0 >= c1)
		return;
	cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, c1 - c0, dim, tr->batch.ngroups,
				1.0f, sm->z + c0, sm->ncols, L->act[nlast], dim,
				0.0f, C->dact[nlast] + c0 * dim, dim);
	dense_backward(C, th, c0, c1);
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

	for (int t = 0; t <= s->tp.ntouched; t++)
	{
		int32		row = t < s->tp.ntouched ? s->tp.touched[t] : -1;

		if (t < s->tp.ntouched && (row < lo || row >= hi))
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
			Size		off = (Size) s->tp.touched[prev] * w1;

			/* an attention encoder's rows take its entries' own gradients */
			const float *src = (k == NCF_LEARNER && tr->att_n > 0) ? tr->att_dh : s->dact[0];

			for (int64 e = s->tp.tptr[prev]; e < s->tp.tptr[prev + 1]; e++)
			{
				const float *dy = src + (Size) s->tp.tsrc[e] * w1;

				if (k == NCF_LEARNER && ((tr->d->ctx_weight == NULL &&
										  tr->d->ctx_norm == NCF_NORM_NONE) || tr->att_n > 0))
					ncf_vec_add(gacc, dy, w1);
				else
					ncf_vec_axpy(gacc, s->tp.tval[e], dy, w1);
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
		int			n = ncf_tower_inputs(tr->d, k);
		double		total = 0,
					acc = 0;
		int			th = 1;

		for (int i = 0; i < n; i++)
			total += (double) s->tp.usage[i];
		s->own[0] = 0;
		for (int i = 0; i < n && th < tr->nthreads; i++)
		{
			acc += (double) s->tp.usage[i];
			if (acc >= total * th / tr->nthreads)
				s->own[th++] = i + 1;
		}
		while (th < tr->nthreads)
			s->own[th++] = n;
		s->own[tr->nthreads] = n;
		memset(s->tp.usage, 0, sizeof(int64) * n);
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
	if (tr->att_n > 0)
	{
		int64		a,
					b;

		split_range(tr->att_n, tr->nthreads, th, CACHELINE_FLOATS, &a, &b);
		if (a < b)
			ncf_adam_sum(tr->att.params + a, tr->att_m + a, tr->att_v + a, tr->att_g + a,
						 tr->att_n, tr->nthreads, b - a, &tr->adam);
	}
	/* the trend's b: a handful of floats, the last thread's */
	if (tr->trend && th == tr->nthreads - 1)
		ncf_adam_sum(tr->trend_b, tr->trend_m, tr->trend_v, tr->trend_g, NCF_TREND_BUCKETS,
					 tr->nthreads, NCF_TREND_BUCKETS, &tr->adam);
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

		switch (phase)
		{
			case PHASE_BINARY:
				phase_forward_backward(tr, th);
				break;
			case PHASE_UPDATE:
				phase_update(tr, th);
				break;
			case PHASE_SM_FORWARD:
				phase_softmax_forward(tr, th);
				break;
			case PHASE_SM_LOSS:
				phase_softmax_loss(tr, th);
				break;
			case PHASE_SM_COURSES:
				phase_softmax_courses(tr, th);
				break;
		}
		tr->busy[th][phase == PHASE_UPDATE ? 1 : 0] += recs_clock_seconds() - t0;
	}
}

/* ---------------------------------------------------------------- loop */

/* order[0 .. n) sorted by when[order[k]], ties by row (insertion runs merged by qsort_arg) */
static int
row_time_cmp(const void *a, const void *b, void *arg)
{
	const double *when = arg;
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	if (when[x] != when[y])
		return when[x] < when[y] ? -1 : 1;
	return (x > y) - (x < y);
}

static void
sort_rows_by_time(int32 *order, int n, double *when)
{
	qsort_arg(order, n, sizeof(int32), row_time_cmp, when);
}

/* the next batch and room for its transposes, in the backend's thread */
static void
prepare_batch(Trainer *tr, int64 first, int ngroups, int32 stamp)
{
	if (tr->sm)
		ncf_softmax_batch(tr->sm, &tr->batch, tr->d, tr->perm, first, ngroups, stamp);
	else
		ncf_batch_fill(&tr->batch, tr->d, tr->perm, tr->negs, first, ngroups, stamp);
	/* which instances see their course's content part alone */
	if (tr->batch.drop)
		for (int i = 0; i < tr->batch.ninst; i++)
			tr->batch.drop[i] = rng_uniform(&tr->drop_rng) < tr->cfg->content_dropout;
	for (int k = 0; k < 2; k++)
		ncf_batch_reserve(&tr->batch, tr->d, k, &tr->tw[k].tp);
	/* softmax with a trend: the rows' times and their order, for the buckets */
	if (tr->sm && tr->trend)
	{
		for (int g = 0; g < tr->batch.ngroups; g++)
		{
			tr->row_when[g] = tr->d->pos_when[tr->batch.pos[g]];
			tr->row_order[g] = g;
		}
		sort_rows_by_time(tr->row_order, tr->batch.ngroups, tr->row_when);
	}
}

/*
 * The trained parameters into model, in the current memory context; into
 * model's own arrays again when allocated is true (validation's copy of its
 * best epoch so far)
 */
static void
copy_model(const Trainer *tr, NcfModel *model, bool allocated)
{
	for (int k = 0; k < 2; k++)
	{
		const TowerState *s = &tr->tw[k];
		NcfTower   *t = &model->tower[k];
		int64		nw0 = (int64) ncf_tower_inputs(tr->d, k) * s->t.width[1];

		if (!allocated)
		{
			*t = s->t;
			ncf_tower_bind_dense(t, alloc_floats(s->dense_n));
			t->w[0] = alloc_floats(nw0);
			t->att = NULL;
			if (k == NCF_LEARNER && tr->att_n > 0)
			{
				t->att = palloc(sizeof(NcfAttention));
				ncf_attention_bind(t->att, tr->att.window, tr->att.width,
								   alloc_floats(tr->att_n));
			}
		}
		memcpy(t->b[0], s->dense, sizeof(float) * s->dense_n);
		if (k == NCF_COURSE)
		{
			model->trend = tr->trend;
			memset(model->trend_b, 0, sizeof(model->trend_b));
			if (tr->trend)
				memcpy(model->trend_b, tr->trend_b, sizeof(model->trend_b));
		}
		memcpy(t->w[0], s->t.w[0], sizeof(float) * nw0);
		if (t->att)
			memcpy(t->att->params, tr->att.params, sizeof(float) * tr->att_n);
	}
}

/*
 * validation 'auto': score the network as it is after an epoch; keep a copy
 * of it when its Recall@10 beats every earlier epoch's (ties: the earlier)
 */
static void
validate_epoch(Trainer *tr, NcfEpochLog *log, int epoch, NcfModel *best,
			   MemoryContext modelcxt)
{
	double		t0 = recs_clock_seconds();
	NcfModel	now;

	now.tower[NCF_LEARNER] = tr->tw[NCF_LEARNER].t;
	now.tower[NCF_COURSE] = tr->tw[NCF_COURSE].t;
	now.tower[NCF_LEARNER].att = tr->att_n > 0 ? &tr->att : NULL;
	now.trend = tr->trend;
	memset(now.trend_b, 0, sizeof(now.trend_b));
	if (tr->trend)
		memcpy(now.trend_b, tr->trend_b, sizeof(now.trend_b));
	ncf_holdout_score(tr->d->holdout, tr->d, tr->cfg, &now, &log[epoch].recall, &log[epoch].ndcg);
	if (ncf_best_epoch(log, epoch + 1) == epoch)
	{
		MemoryContext old = MemoryContextSwitchTo(modelcxt);

		copy_model(tr, best, epoch > 0);
		MemoryContextSwitchTo(old);
	}
	log[epoch].val_seconds = recs_clock_seconds() - t0;
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
	int			negatives = cfg->loss == NCF_LOSS_SOFTMAX ? 0 : cfg->negatives;
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
	tr->batch.per_group = 1 + negatives;
	G = Max(1, cfg->batch_size / tr->batch.per_group);
	nbatches = (d->n_pos + G - 1) / G;

	rng_seed(&rng, cfg->seed);
	tower_state_init(tr, NCF_LEARNER, G, &rng);
	tower_state_init(tr, NCF_COURSE, G * tr->batch.per_group, &rng);
	tr->batch.pos = palloc(sizeof(int32) * G);
	tr->batch.item = palloc(sizeof(int32) * G * tr->batch.per_group);
	/* content dropout draws from its own stream: the rest stays as without it */
	tr->batch.drop = NULL;
	if (d->content_start && cfg->content_dropout > 0)
	{
		tr->batch.drop = palloc0(sizeof(bool) * G * tr->batch.per_group);
		rng_seed(&tr->drop_rng, cfg->seed ^ UINT64CONST(0x636f6e74656e7473));
	}
	if (cfg->encoder == NCF_ENCODER_ATTENTION)
	{
		int			w1 = tr->tw[NCF_LEARNER].t.width[1];
		int			win = cfg->attention_window;

		/*
		 * Position embeddings and query start at 0: the first pooling is the
		 * bag plus the mean of the context, and no draw is taken from rng, so that the
		 * rest of the training draws as a bag's does.
		 */
		tr->att_n = ncf_attention_size(win, w1);
		ncf_attention_bind(&tr->att, win, w1, alloc_zero_floats(tr->att_n));
		tr->att_m = alloc_zero_floats(tr->att_n);
		tr->att_v = alloc_zero_floats(tr->att_n);
		tr->att_g = alloc_zero_floats(tr->att_n * tr->nthreads);
		tr->att_h = alloc_floats((int64) G * win * w1);
		tr->att_alpha = alloc_floats((int64) G * win);
		tr->att_dh = alloc_floats((int64) G * win * w1);
		if (d->ctx_weight)
		{
			tr->att_val = palloc(sizeof(float) * d->ctx_cap);
			ncf_context_values(d->ctx_weight, NCF_NORM_NONE, d->ctx_cap, tr->att_val);
		}
	}
	tr->loss_part = palloc0(sizeof(double) * 8 * tr->nthreads);
	tr->gacc_stride = (cfg->hidden[0] + CACHELINE_FLOATS - 1) / CACHELINE_FLOATS * CACHELINE_FLOATS;
	tr->gacc = alloc_zero_floats(tr->gacc_stride * tr->nthreads);
	tr->negs = MemoryContextAllocHuge(workcxt, sizeof(int32) * Max(d->n_pos * negatives, 1));
	if (cfg->loss == NCF_LOSS_SOFTMAX)
	{
		tr->sm = palloc0(sizeof(NcfSoftmax));
		ncf_softmax_init(tr->sm, d, G, NCF_SOFTMAX_TEMPERATURE);
	}
	if (cfg->trend_seconds > 0)
	{
		/* b starts at 0, no draw: the rest trains as without a trend */
		tr->trend = true;
		tr->trend_b = alloc_zero_floats(NCF_TREND_BUCKETS);
		tr->trend_m = alloc_zero_floats(NCF_TREND_BUCKETS);
		tr->trend_v = alloc_zero_floats(NCF_TREND_BUCKETS);
		tr->trend_g = alloc_zero_floats((int64) NCF_TREND_BUCKETS * tr->nthreads);
		if (tr->sm)
		{
			tr->trend_bucket = MemoryContextAllocHuge(workcxt, (Size) G * G);
			tr->row_when = palloc(sizeof(double) * G);
			tr->row_order = palloc(sizeof(int32) * G);
		}
	}
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

			if (negatives > 0)
				ncf_draw_negatives(d, negatives, &rng, tr->negs);
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
				if (tr->sm)
				{
					ncf_pool_run(&pool, PHASE_SM_FORWARD);
					ncf_pool_run(&pool, PHASE_SM_LOSS);
					ncf_pool_run(&pool, PHASE_SM_COURSES);
				}
				else
					ncf_pool_run(&pool, PHASE_BINARY);
				for (int t = 0; t < tr->nthreads; t++)
					loss += tr->loss_part[t * 8];
				ncf_pool_run(&pool, PHASE_UPDATE);
			}
			rebalance_rows(tr);
			secs = recs_clock_seconds() - t0;
			log[epoch].loss = loss / ((double) d->n_pos * tr->batch.per_group);
			log[epoch].seconds = secs;
			if (d->holdout && isfinite(log[epoch].loss))
				validate_epoch(tr, log, epoch, model, modelcxt);
			elapsed = recs_clock_seconds() - t_start;
			{
				double		f = recs_foreign_cpu_seconds() - foreign0;

				log[epoch].foreign_cpu = isnan(f) ? NAN : Max(f, 0.0);
			}
			ereport(DEBUG1,
					(errmsg("train_ncf: busy seconds: phase A %.2f / %.2f, phase B %.2f / %.2f, prepare %.2f",
							tr->busy[0][0], tr->busy[1][0], tr->busy[0][1], tr->busy[1][1], prep_s)));
			ereport(DEBUG1,
					(errmsg_internal("train_ncf: epoch %d: other processes used %.1f CPU seconds in %.1f s",
									 epoch + 1, log[epoch].foreign_cpu, secs)));

			/*
			 * One line per epoch; the other processes' CPU time only when
			 * they took at least half a core meanwhile (it explains a slow
			 * epoch), the rest at DEBUG1 above.
			 */
			ereport(NOTICE,
					(errmsg("train_ncf: %sepoch %d/%d: loss %.4f%s, %.0f examples/s, elapsed %.1f s, about %.1f s left",
							cfg->ensemble > 1 ? psprintf("member %d/%d, ", cfg->member + 1, cfg->ensemble) : "",
							epoch + 1, cfg->epochs, log[epoch].loss,
							d->holdout ? psprintf(", validation recall@%d %.4f, ndcg@%d %.4f",
												  NCF_HOLDOUT_K, log[epoch].recall,
												  NCF_HOLDOUT_K, log[epoch].ndcg) : "",
							(double) d->n_pos * tr->batch.per_group / Max(secs, 1e-9),
							elapsed, elapsed / (epoch + 1) *
							((cfg->epochs - epoch - 1) + (double) cfg->epochs * (Max(cfg->ensemble, 1) - cfg->member - 1))),
					 log[epoch].foreign_cpu >= Max(0.5 * secs, 0.5) ?
					 errdetail("Other processes used %.1f CPU seconds meanwhile.", log[epoch].foreign_cpu) : 0));
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

	/*
	 * hand the parameters over: copy them into the caller's context (with
	 * validation the copy of the best epoch is there already)
	 */
	MemoryContextSwitchTo(modelcxt);
	if (!d->holdout)
		copy_model(tr, model, false);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(workcxt);
}
