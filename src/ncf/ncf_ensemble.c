/*
 * ncf_ensemble.c -- train_ncf(ensemble => K): K two-tower models as one
 *
 * The members are trained alone (seeds seed, seed + 1, ...) and merged into
 * one network whose score is the sum of theirs.  A sum of dot products is the
 * dot product of the concatenated embeddings, so the merged towers are the
 * members' side by side: the sparse layer's rows are the members' rows
 * concatenated (every member reads the same input), every dense layer is
 * block-diagonal (member k's units only see member k's units), biases are
 * concatenated, and ReLU, being elementwise, keeps the blocks apart.  The
 * trend terms add up.  The result is an ordinary tower of K times the
 * widths, so storing, serving, embed_learner, recent and add_courses need
 * nothing new: recommend() is still one sgemv, over K * dim floats per
 * course.  The off-diagonal blocks are stored as zeros: a dense layer takes
 * K^2 its member's size.
 *
 * Pure numerics: no SPI, no catalog access.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "ncf.h"

/* a tower's shape k times as wide: every width but the input's */
static void
widen_tower(NcfTower *t, int k)
{
	for (int l = 1; l <= t->nlayers; l++)
		t->width[l] *= k;
}

/* parameters of one tower, k times as wide */
static Size
tower_floats(const NcfTower *t, int k)
{
	NcfTower	wide = *t;

	widen_tower(&wide, k);
	return add_size((Size) ncf_tower_dense_size(&wide), mul_size(wide.width[0], wide.width[1]));
}

Size
ncf_ensemble_memory(const NcfData *d, const NcfConfig *cfg)
{
	Size		total = 0;

	if (cfg->ensemble <= 1)
		return 0;
	for (int t = 0; t < 2; t++)
	{
		NcfTower	shape;

		ncf_tower_shape(&shape, ncf_tower_inputs(d, t), cfg->nhidden, cfg->hidden, cfg->dim);
		/* the trained members, kept until the merge, and the merged tower */
		total = add_size(total, mul_size(tower_floats(&shape, 1), cfg->ensemble));
		total = add_size(total, tower_floats(&shape, cfg->ensemble));
	}
	return mul_size(total, sizeof(float));
}

/* member m's tower t into the merged tower out (allocated by the caller) */
static void
merge_tower(const NcfTower *m, int member, NcfTower *out)
{
	int			w1 = m->width[1];

	/* the sparse layer: member's columns [member * w1, (member + 1) * w1) of every row */
	for (int64 r = 0; r < m->width[0]; r++)
		memcpy(out->w[0] + r * out->width[1] + (int64) member * w1,
			   m->w[0] + r * w1, sizeof(float) * w1);
	for (int l = 0; l < m->nlayers; l++)
	{
		int			n_in = m->width[l],
					n_out = m->width[l + 1];

		memcpy(out->b[l] + (int64) member * n_out, m->b[l], sizeof(float) * n_out);
		if (l == 0)
			continue;
		/* the diagonal block: rows member * n_in.., columns member * n_out.. */
		for (int i = 0; i < n_in; i++)
			memcpy(out->w[l] + ((int64) member * n_in + i) * out->width[l + 1] + (int64) member * n_out,
				   m->w[l] + (int64) i * n_out, sizeof(float) * n_out);
	}
}

void
ncf_ensemble_merge(const NcfModel *members, int k, NcfModel *out)
{
	memset(out, 0, sizeof(*out));
	for (int t = 0; t < 2; t++)
	{
		NcfTower   *o = &out->tower[t];

		*o = members[0].tower[t];
		o->att = NULL;
		widen_tower(o, k);
		/* zeros everywhere off the blocks */
		ncf_tower_bind_dense(o, MemoryContextAllocHuge(CurrentMemoryContext,
													   sizeof(float) * ncf_tower_dense_size(o)));
		memset(o->b[0], 0, sizeof(float) * ncf_tower_dense_size(o));
		o->w[0] = MemoryContextAllocHuge(CurrentMemoryContext,
										 mul_size(sizeof(float), mul_size(o->width[0], o->width[1])));
		for (int m = 0; m < k; m++)
		{
			CHECK_FOR_INTERRUPTS();
			merge_tower(&members[m].tower[t], m, o);
		}
	}
	out->trend = members[0].trend;
	for (int m = 0; m < k; m++)
		for (int b = 0; b < NCF_TREND_BUCKETS; b++)
			out->trend_b[b] += members[m].trend_b[b];
}
