/*
 * ncf_softmax.c -- the sampled softmax of train_ncf(loss => 'softmax'):
 * in-batch negatives with a log-Q correction
 *
 * A batch is B positives (learner context, course).  The course tower runs
 * once per distinct course of the batch (C <= B of them, the batch's
 * columns), the learner tower once per positive, and the B x C scores
 * s = U V' are one sgemm: every course of the batch is a negative for every
 * other positive (Yi et al., "Sampling-bias-corrected neural modeling for
 * large corpus item recommendations", RecSys 2019; TensorFlow
 * Recommenders' Retrieval task).
 *
 * Log-Q correction.  A course enters a batch as often as it is a positive,
 * so popular courses are over-represented among the negatives and the
 * softmax would learn to push them down.  Subtracting log q_c, q_c the
 * course's share of the training positives, from its logit makes the
 * sampled softmax an unbiased estimate of the full one.  It is a training
 * device only: serving still ranks by the plain dot product.
 *
 * Accidental hits.  A column that is another of the learner's watched
 * courses (at any time, as the binary loss never draws one as a negative)
 * is masked out of the row's softmax: walking the learner's sorted course
 * set against the batch's column map costs the learner's watches per row,
 * not B x C look-ups.
 *
 * The row loss: z_c = s_c / T - log q_c over the unmasked columns,
 * L = logsumexp(z) - z_label, dL/ds_c = (softmax(z)_c - [c = label]) / T.
 * The batch's loss is the mean over its positives.  Pure numerics: no SPI,
 * no catalog access; the row kernels run in the trainer's worker threads
 * and allocate nothing.
 */
#include "postgres.h"

#include <math.h>

#include "utils/memutils.h"

#include "ncf.h"

Size
ncf_softmax_memory(const NcfData *d, int batch)
{
	Size		total = 0;

	/* per course: log q, column map and its stamps */
	total = add_size(total, mul_size(d->n_items, sizeof(float) + 2 * sizeof(int32)));
	/* per positive of a batch: its label, per column its log q; the B x C logits */
	total = add_size(total, mul_size(batch, sizeof(int32) + sizeof(float)));
	total = add_size(total, mul_size(mul_size(batch, batch), sizeof(float)));
	return total;
}

void
ncf_softmax_init(NcfSoftmax *sm, const NcfData *d, int batch, float temperature)
{
	int64	   *count = palloc0(sizeof(int64) * Max(d->n_items, 1));

	sm->temperature = temperature;
	sm->logq_item = palloc(sizeof(float) * Max(d->n_items, 1));
	sm->col_of = palloc(sizeof(int32) * Max(d->n_items, 1));
	sm->colmark = palloc(sizeof(int32) * Max(d->n_items, 1));
	sm->label = palloc(sizeof(int32) * batch);
	sm->col_logq = palloc(sizeof(float) * batch);
	sm->z = MemoryContextAllocHuge(CurrentMemoryContext,
								   mul_size(mul_size(batch, batch), sizeof(float)));
	sm->ncols = 0;
	for (int64 p = 0; p < d->n_pos; p++)
		count[d->pos_item[p]]++;
	for (int i = 0; i < d->n_items; i++)
	{
		/* a course that is never a positive is never a column: any value */
		sm->logq_item[i] = count[i] > 0 ? (float) log((double) count[i] / (double) d->n_pos) : 0.0f;
		sm->colmark[i] = -1;
	}
	pfree(count);
}

void
ncf_softmax_batch(NcfSoftmax *sm, NcfBatch *b, const NcfData *d, const int32 *perm,
				  int64 first, int npos, int32 stamp)
{
	int			ncols = 0;

	b->per_group = 1;
	b->ngroups = npos;
	b->stamp = stamp;
	for (int g = 0; g < npos; g++)
	{
		int32		p = perm[first + g];
		int32		item = d->pos_item[p];

		b->pos[g] = p;
		/* the batch's distinct courses, in order of first use */
		if (sm->colmark[item] != stamp)
		{
			sm->colmark[item] = stamp;
			sm->col_of[item] = ncols;
			sm->col_logq[ncols] = sm->logq_item[item];
			b->item[ncols++] = item;
		}
		sm->label[g] = sm->col_of[item];
	}
	b->ninst = ncols;
	sm->ncols = ncols;
	sm->stamp = stamp;
}

void
ncf_softmax_mask_row(const NcfSoftmax *sm, const NcfData *d, int32 learner, int label,
					 float *z)
{
	const int32 *set = d->seen + d->offsets[learner];
	int64		n = d->offsets[learner + 1] - d->offsets[learner];

	for (int64 k = 0; k < n; k++)
	{
		int32		item = set[k];

		if (sm->colmark[item] == sm->stamp && sm->col_of[item] != label)
			z[sm->col_of[item]] = -INFINITY;
	}
}

double
ncf_softmax_row(float *z, int ncols, int label, const float *logq, float temperature,
				float scale)
{
	float		inv_t = 1.0f / temperature;
	float		zmax = -INFINITY;
	double		sum = 0;
	float		zlabel;
	double		loss;

	Assert(label >= 0 && label < ncols);
	for (int c = 0; c < ncols; c++)
		if (z[c] != -INFINITY)
		{
			z[c] = z[c] * inv_t - logq[c];
			zmax = Max(zmax, z[c]);
		}
	zlabel = z[label];
	/* z becomes exp(z - zmax), 0 where masked; one expf per column */
	for (int c = 0; c < ncols; c++)
	{
		z[c] = z[c] == -INFINITY ? 0.0f : expf(z[c] - zmax);
		sum += z[c];
	}
	loss = log(sum) - (double) (zlabel - zmax);
	{
		float		norm = (float) (inv_t * scale / sum);

		for (int c = 0; c < ncols; c++)
			z[c] *= norm;
		z[label] -= inv_t * scale;
	}
	return loss;
}
