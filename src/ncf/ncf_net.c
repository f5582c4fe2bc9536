/*
 * ncf_net.c -- the shape of an NCF tower and its inference pass
 *
 * A tower maps a sparse input (the learner's multi-hot watch history, or a
 * course's co-watch similarity row) to an embedding:
 *
 *     h1 = ReLU(x W0 + b0)          sparse layer: a weighted sum of rows of W0
 *     h2 = ReLU(h1 W1 + b1)         dense layers, narrowing like a tower
 *     e  = h_{L-1} W_{L-1} + b_{L-1}   the embedding (no activation)
 *
 * x W0 is never materialised as a dense product: it is an embedding bag,
 * the sum of the rows of W0 named by x's nonzeros, scaled by their values.
 * The dense layers run through cblas_sgemm over blocks of rows.
 *
 * Parameters other than W0 (every bias and every dense weight) live in one
 * flat array per tower so that the trainer can run Adam over them in one
 * sweep; W0 is separate because it is the big, sparsely updated one.
 *
 * After training, ncf_final_embeddings runs both towers once more over every
 * course (its co-watch row and content entries; content alone for a course
 * nobody watched) and every learner's latest context (the window ending at
 * their own latest watch): the embeddings a model stores.
 *
 * Order.  With train_ncf's order_decay below 1 the learner's input is not a
 * multi-hot but a recency-weighted one: the k-th latest watch of a context
 * enters with decay^k (ncf_order_weights), so the same courses watched in
 * another order give another embedding.  The weights are one table per
 * decay, computed identically here, in training and in serving, and the
 * context keeps only the positions with a weight of at least
 * NCF_ORDER_MIN_WEIGHT (ncf_order_length).  The towers keep their shape:
 * course embeddings are still precomputed and recommend() is still one
 * matrix-vector product.
 *
 * Context norm.  With train_ncf's context_norm 'sqrt' (or 'mean') every
 * weight of a context of n watches is further scaled by n^-1/2 (or 1/n),
 * by ncf_context_values here, in training and in serving alike.
 *
 * Attention.  With train_ncf's encoder 'attention' the sparse layer of the
 * learner tower pools its context by attention instead of summing it
 * (ncf_attention.c); ncf_tower_forward does either, so that every path that
 * embeds a context gets the very same encoder.
 */
#include "postgres.h"

#include <math.h>
#include <cblas.h>

#include "utils/memutils.h"

#include "ncf.h"
#include "rng.h"

#define FORWARD_BLOCK 256

void
ncf_tower_shape(NcfTower *t, int n_items, int nhidden, const int *hidden, int dim)
{
	memset(t, 0, sizeof(*t));
	Assert(nhidden >= 1 && nhidden + 1 <= NCF_MAX_LAYERS);
	t->nlayers = nhidden + 1;
	t->width[0] = n_items;
	for (int l = 0; l < nhidden; l++)
		t->width[l + 1] = hidden[l];
	t->width[nhidden + 1] = dim;
}

int64
ncf_tower_dense_size(const NcfTower *t)
{
	int64		n = 0;

	for (int l = 0; l < t->nlayers; l++)
	{
		n += t->width[l + 1];	/* bias */
		if (l > 0)
			n += (int64) t->width[l] * t->width[l + 1];
	}
	return n;
}

void
ncf_tower_bind_dense(NcfTower *t, float *flat)
{
	for (int l = 0; l < t->nlayers; l++)
	{
		t->b[l] = flat;
		flat += t->width[l + 1];
		if (l > 0)
		{
			t->w[l] = flat;
			flat += (int64) t->width[l] * t->width[l + 1];
		}
	}
}

void
ncf_tower_init(NcfTower *t, RecsRng *rng)
{
	for (int l = 0; l < t->nlayers; l++)
	{
		double		bound = 1.0 / sqrt((double) t->width[l]);
		int64		nw = (int64) t->width[l] * t->width[l + 1];

		for (int64 i = 0; i < nw; i++)
			t->w[l][i] = (float) ((2.0 * rng_uniform(rng) - 1.0) * bound);
		for (int i = 0; i < t->width[l + 1]; i++)
			t->b[l][i] = (float) ((2.0 * rng_uniform(rng) - 1.0) * bound);
	}
}

int
ncf_order_length(double decay)
{
	int			n = 1;

	if (decay >= 1.0)
		return NCF_MAX_CONTEXT;
	/* the positions k with decay^k >= NCF_ORDER_MIN_WEIGHT; k = 0 always */
	while (n < NCF_MAX_CONTEXT && pow(decay, (double) n) >= NCF_ORDER_MIN_WEIGHT)
		n++;
	return n;
}

float *
ncf_order_weights(double decay)
{
	int			n = ncf_order_length(decay);
	float	   *w;

	if (decay >= 1.0)
		return NULL;
	w = palloc(sizeof(float) * n);
	/* computed the same way wherever a context is embedded: bit-identical weights */
	for (int k = 0; k < n; k++)
		w[k] = (float) pow(decay, (double) k);
	return w;
}

const char *const ncf_context_norm_names[3] = {"none", "sqrt", "mean"};

float
ncf_context_scale(NcfContextNorm norm, int n)
{
	/* in double, rounded once: the same float wherever a context is embedded */
	if (n <= 0 || norm == NCF_NORM_NONE)
		return 1.0f;
	if (norm == NCF_NORM_SQRT)
		return (float) (1.0 / sqrt((double) n));
	return (float) (1.0 / (double) n);
}

void
ncf_context_values(const float *w, NcfContextNorm norm, int n, float *val)
{
	float		s = ncf_context_scale(norm, n);

	for (int j = 0; j < n; j++)
		val[j] = (w ? w[n - 1 - j] : 1.0f) * s;
}

void
ncf_tower_forward(const NcfTower *t, int nrows, const int64 *rowptr,
				  const int32 *col, const float *val, float *out)
{
	int			maxw = 0;
	int			dim = t->width[t->nlayers];
	float	   *buf[2];
	float	   *att_h = NULL;
	float	   *att_alpha = NULL;

	for (int l = 1; l < t->nlayers; l++)
		maxw = Max(maxw, t->width[l]);
	buf[0] = palloc(sizeof(float) * FORWARD_BLOCK * maxw);
	buf[1] = palloc(sizeof(float) * FORWARD_BLOCK * maxw);
	if (t->att)
	{
		att_h = palloc(mul_size(sizeof(float), mul_size(t->att->window, t->width[1])));
		att_alpha = palloc(sizeof(float) * t->att->window);
	}

	for (int r0 = 0; r0 < nrows; r0 += FORWARD_BLOCK)
	{
		int			nb = Min(FORWARD_BLOCK, nrows - r0);
		int			w1 = t->width[1];
		float	   *x = buf[0];

		/* sparse layer */
		for (int r = 0; r < nb; r++)
		{
			float	   *y = x + (Size) r * w1;

			int64		lo = rowptr[r0 + r],
						hi = rowptr[r0 + r + 1];

			if (t->att)
				ncf_attention_pool(t->att, t->w[0], col + lo, (int) (hi - lo),
								   val ? val + lo : NULL, att_h, att_alpha, y);
			else
			{
				memset(y, 0, sizeof(float) * w1);
				for (int64 k = lo; k < hi; k++)
				{
					const float *wr = t->w[0] + (Size) col[k] * w1;

					if (val)
						ncf_vec_axpy(y, val[k], wr, w1);
					else
						ncf_vec_add(y, wr, w1);
				}
			}
			ncf_vec_bias_relu(y, t->b[0], w1, t->nlayers > 1);
		}
		/* dense layers */
		for (int l = 1; l < t->nlayers; l++)
		{
			int			n_in = t->width[l],
						n_out = t->width[l + 1];
			bool		last = (l == t->nlayers - 1);
			float	   *y = last ? out + (Size) r0 * dim : buf[l & 1];

			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb, n_out, n_in,
						1.0f, x, n_in, t->w[l], n_out, 0.0f, y, n_out);
			for (int r = 0; r < nb; r++)
				ncf_vec_bias_relu(y + (Size) r * n_out, t->b[l], n_out, !last);
			x = y;
		}
	}
	pfree(buf[0]);
	pfree(buf[1]);
	if (att_h)
	{
		pfree(att_h);
		pfree(att_alpha);
	}
}

void
ncf_final_embeddings(const NcfInput *in, const NcfData *data, const NcfConfig *cfg,
					 const NcfModel *model, float **course_emb, float **learner_emb,
					 NcfSparse *contexts)
{
	int			n_learners = in->n_learners;
	const int64 *offsets = in->offsets;
	int			cap = data->ctx_cap;	/* as in training */
	int64	   *rowptr = palloc(sizeof(int64) * (n_learners + 1));
	int32	   *ctx = MemoryContextAllocHuge(CurrentMemoryContext,
											 sizeof(int32) * Max(offsets[n_learners], 1));
	float	   *val = NULL;

	*course_emb = MemoryContextAllocHuge(CurrentMemoryContext,
										 mul_size(sizeof(float), mul_size(in->n_items, cfg->dim)));
	ncf_tower_forward(&model->tower[NCF_COURSE], in->n_items, data->course_in.rowptr,
					  data->course_in.col, data->course_in.val, *course_emb);

	/*
	 * Each learner's window ends at their own latest watch, not at the end
	 * of the data: a learner back after a year away keeps the embedding of
	 * what they watched last, as every training positive's context was the
	 * window before its own time.  Watches are time-sorted, so the window is
	 * a suffix (of at most cap watches: NCF_MAX_CONTEXT, or the positions an
	 * order decay leaves a weight, or attention_window); the latest watch itself is in it, so no
	 * context is empty.
	 */
	rowptr[0] = 0;
	for (int u = 0; u < n_learners; u++)
	{
		int64		n = rowptr[u];
		int64		lo = Max(offsets[u], offsets[u + 1] - cap);

		if (offsets[u + 1] > offsets[u])
		{
			double		since = in->when[offsets[u + 1] - 1] - cfg->window_seconds;

			for (int64 w = lo; w < offsets[u + 1]; w++)
				if (in->when[w] >= since)
					ctx[n++] = in->items[w];
		}
		rowptr[u + 1] = n;
	}
	if (data->ctx_weight || data->ctx_norm != NCF_NORM_NONE)
	{
		/* each context's order weights and norm, as in training */
		val = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(float) * Max(rowptr[n_learners], 1));
		for (int u = 0; u < n_learners; u++)
			ncf_context_values(data->ctx_weight, data->ctx_norm,
							   (int) (rowptr[u + 1] - rowptr[u]), val + rowptr[u]);
	}
	*learner_emb = MemoryContextAllocHuge(CurrentMemoryContext,
										  mul_size(sizeof(float), mul_size(n_learners, cfg->dim)));
	ncf_tower_forward(&model->tower[NCF_LEARNER], n_learners, rowptr, ctx, val, *learner_emb);
	if (val)
		pfree(val);
	contexts->nrows = n_learners;
	contexts->nnz = rowptr[n_learners];
	contexts->rowptr = rowptr;
	contexts->col = ctx;
	contexts->val = NULL;
}
