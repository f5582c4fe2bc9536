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
 * nobody watched) and every learner's latest context: the embeddings a
 * model stores.
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

void
ncf_tower_forward(const NcfTower *t, int nrows, const int64 *rowptr,
				  const int32 *col, const float *val, float *out)
{
	int			maxw = 0;
	int			dim = t->width[t->nlayers];
	float	   *buf[2];

	for (int l = 1; l < t->nlayers; l++)
		maxw = Max(maxw, t->width[l]);
	buf[0] = palloc(sizeof(float) * FORWARD_BLOCK * maxw);
	buf[1] = palloc(sizeof(float) * FORWARD_BLOCK * maxw);

	for (int r0 = 0; r0 < nrows; r0 += FORWARD_BLOCK)
	{
		int			nb = Min(FORWARD_BLOCK, nrows - r0);
		int			w1 = t->width[1];
		float	   *x = buf[0];

		/* sparse layer */
		for (int r = 0; r < nb; r++)
		{
			float	   *y = x + (Size) r * w1;

			memset(y, 0, sizeof(float) * w1);
			for (int64 k = rowptr[r0 + r]; k < rowptr[r0 + r + 1]; k++)
			{
				const float *wr = t->w[0] + (Size) col[k] * w1;

				if (val)
					ncf_vec_axpy(y, val[k], wr, w1);
				else
					ncf_vec_add(y, wr, w1);
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
}

void
ncf_final_embeddings(const NcfInput *in, const NcfData *data, const NcfConfig *cfg,
					 const NcfModel *model, float **course_emb, float **learner_emb)
{
	int			n_learners = in->n_learners;
	const int64 *offsets = in->offsets;
	int64	   *rowptr = palloc(sizeof(int64) * (n_learners + 1));
	int32	   *ctx = MemoryContextAllocHuge(CurrentMemoryContext,
											 sizeof(int32) * Max(offsets[n_learners], 1));

	*course_emb = MemoryContextAllocHuge(CurrentMemoryContext,
										 mul_size(sizeof(float), mul_size(in->n_items, cfg->dim)));
	ncf_tower_forward(&model->tower[NCF_COURSE], in->n_items, data->course_in.rowptr,
					  data->course_in.col, data->course_in.val, *course_emb);
	rowptr[0] = 0;
	for (int u = 0; u < n_learners; u++)
	{
		int64		n = rowptr[u];

		for (int64 w = Max(offsets[u], offsets[u + 1] - NCF_MAX_CONTEXT); w < offsets[u + 1]; w++)
			if (in->when[w] >= in->through - cfg->window_seconds)
				ctx[n++] = in->items[w];
		rowptr[u + 1] = n;
	}
	*learner_emb = MemoryContextAllocHuge(CurrentMemoryContext,
										  mul_size(sizeof(float), mul_size(n_learners, cfg->dim)));
	ncf_tower_forward(&model->tower[NCF_LEARNER], n_learners, rowptr, ctx, NULL, *learner_emb);
	pfree(rowptr);
	pfree(ctx);
}
