/*
 * ncf_validate.c -- train_ncf(validation => 'auto'): the held-out slice of
 * time, the held-out learners and their per-epoch Recall@10 and NDCG@10
 *
 * The split.  The latest NCF_HOLDOUT_SHARE (a tenth) of the data's time span
 * is held out: cut = through - 0.1 * (through - first watch).  Training sees
 * the watches before the cut only -- as labels, as contexts and in the
 * co-watch rows of the course tower -- so nothing of the held-out slice
 * leaks into the network that is scored.  The learners and courses stay
 * the same (a learner whose watches are all after the cut simply has none
 * in training), so that the learner and course indexes of the split are
 * those of the whole input.
 *
 * The held-out learners.  A learner is scored when they have a watch before
 * the cut (their context) and, after it, a course they had not watched
 * before it (their relevant set).  At most NCF_HOLDOUT_MAX of them are
 * scored, a sample drawn with a stream of its own from the seed (so that
 * the training's draws are those of a training without validation over the
 * same watches).  Each is embedded exactly as the stored model will embed a
 * learner: ncf_final_embeddings(), the window ending at their latest watch
 * before the cut, with the same order weights.
 *
 * The score.  Every course of the catalogue but the ones the learner
 * watched before the cut is ranked by the dot product (ties to the smaller
 * course id, as evaluate() does); Recall@10 is the share of the relevant
 * set in the top 10, NDCG@10 its DCG over the ideal one; both are averaged
 * over the learners.  ncf_holdout_scores() hands each learner's scores to a
 * callback: the metrics here, the history terms' fit (ncf_history.c), which
 * also reads each learner's new courses in the order they were watched.
 * Pure numerics: no SPI, no catalog access.
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#include "ncf.h"
#include "metrics.h"
#include "rng.h"
#include "sorted_ids.h"
#include "timing.h"
#include "topk.h"

/* the sample's own stream: "validate" */
#define HOLDOUT_SEED_SALT UINT64CONST(0x76616c6964617465)

/* the time span of in's watches: its first watch to through */
static double
first_watch_time(const NcfInput *in)
{
	double		first = INFINITY;

	for (int u = 0; u < in->n_learners; u++)
		if (in->offsets[u + 1] > in->offsets[u])
			first = Min(first, in->when[in->offsets[u]]);
	return first;
}

/* k = the number of u's watches before the cut (watches are time-sorted) */
static int64
watches_before(const NcfInput *in, int u, double cut)
{
	int64		w = in->offsets[u];

	while (w < in->offsets[u + 1] && in->when[w] < cut)
		w++;
	return w - in->offsets[u];
}

/* pick at most NCF_HOLDOUT_MAX of the n eligible learners, ascending */
static int
sample_learners(int32 *eligible, int n, uint64 seed)
{
	RecsRng		rng;
	int			m = Min(n, NCF_HOLDOUT_MAX);

	if (m == n)
		return n;
	rng_seed(&rng, seed ^ HOLDOUT_SEED_SALT);
	for (int i = 0; i < m; i++)
	{
		int			j = i + (int) rng_below(&rng, (uint64) (n - i));
		int32		tmp = eligible[i];

		eligible[i] = eligible[j];
		eligible[j] = tmp;
	}
	qsort(eligible, m, sizeof(int32), recs_int32_cmp);
	return m;
}

void
ncf_holdout_split(const NcfInput *in, const NcfConfig *cfg, NcfInput *train, NcfHoldout *h)
{
	double		first = first_watch_time(in);
	int64		nw = in->offsets[in->n_learners];
	int64	   *mark = palloc0(sizeof(int64) * Max(in->n_items, 1));
	int32	   *eligible = palloc(sizeof(int32) * Max(in->n_learners, 1));
	int64	   *nrel = palloc0(sizeof(int64) * Max(in->n_learners, 1));
	int			n_eligible = 0;
	int			m;
	int64		n;

	memset(h, 0, sizeof(*h));
	h->cut = in->through - NCF_HOLDOUT_SHARE * (in->through - first);

	/* the training input: every learner's watches before the cut */
	*train = *in;
	train->through = h->cut;
	train->offsets = palloc(sizeof(int64) * (in->n_learners + 1));
	train->items = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nw, 1));
	train->when = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nw, 1));
	train->offsets[0] = 0;
	for (int u = 0; u < in->n_learners; u++)
	{
		int64		lo = in->offsets[u],
					k = watches_before(in, u, h->cut),
					at = train->offsets[u];

		memcpy(train->items + at, in->items + lo, sizeof(int32) * k);
		memcpy(train->when + at, in->when + lo, sizeof(double) * k);
		train->offsets[u + 1] = at + k;
		h->heldout_watches += in->offsets[u + 1] - lo - k;

		/* eligible: a watch before the cut and a new course after it */
		if (k == 0)
			continue;
		for (int64 w = lo; w < lo + k; w++)
			mark[in->items[w]] = 2 * (int64) u + 1;
		for (int64 w = lo + k; w < in->offsets[u + 1]; w++)
			if (mark[in->items[w]] < 2 * (int64) u + 1)
			{
				mark[in->items[w]] = 2 * (int64) u + 2;
				nrel[u]++;
			}
		if (nrel[u] > 0)
			eligible[n_eligible++] = u;
	}
	h->eligible = n_eligible;
	if (n_eligible == 0)
	{
		pfree(mark);
		pfree(eligible);
		pfree(nrel);
		return;					/* the caller reports it */
	}
	m = sample_learners(eligible, n_eligible, cfg->seed);

	/* the sampled learners' watches before the cut, and their new courses */
	h->sample = *train;
	h->sample.n_learners = m;
	h->sample.learner_ids = palloc(sizeof(int64) * m);
	h->sample.offsets = palloc(sizeof(int64) * (m + 1));
	h->rel_offsets = palloc(sizeof(int64) * (m + 1));
	h->sample.offsets[0] = 0;
	h->rel_offsets[0] = 0;
	for (int i = 0; i < m; i++)
	{
		int			u = eligible[i];

		h->sample.learner_ids[i] = in->learner_ids[u];
		h->sample.offsets[i + 1] = h->sample.offsets[i] + train->offsets[u + 1] - train->offsets[u];
		h->rel_offsets[i + 1] = h->rel_offsets[i] + nrel[u];
	}
	h->sample.items = palloc(sizeof(int32) * Max(h->sample.offsets[m], 1));
	h->sample.when = palloc(sizeof(double) * Max(h->sample.offsets[m], 1));
	h->rel = palloc(sizeof(int32) * Max(h->rel_offsets[m], 1));
	h->rel_in_time = palloc(sizeof(int32) * Max(h->rel_offsets[m], 1));
	memset(mark, 0, sizeof(int64) * Max(in->n_items, 1));
	for (int i = 0; i < m; i++)
	{
		int			u = eligible[i];
		int64		k = train->offsets[u + 1] - train->offsets[u];

		memcpy(h->sample.items + h->sample.offsets[i], train->items + train->offsets[u],
			   sizeof(int32) * k);
		memcpy(h->sample.when + h->sample.offsets[i], train->when + train->offsets[u],
			   sizeof(double) * k);
		for (int64 w = in->offsets[u]; w < in->offsets[u] + k; w++)
			mark[in->items[w]] = 2 * (int64) i + 1;
		n = h->rel_offsets[i];
		for (int64 w = in->offsets[u] + k; w < in->offsets[u + 1]; w++)
			if (mark[in->items[w]] < 2 * (int64) i + 1)
			{
				mark[in->items[w]] = 2 * (int64) i + 2;
				h->rel[n++] = in->items[w];
			}
		Assert(n == h->rel_offsets[i + 1]);
		memcpy(h->rel_in_time + h->rel_offsets[i], h->rel + h->rel_offsets[i],
			   sizeof(int32) * (n - h->rel_offsets[i]));
		qsort(h->rel + h->rel_offsets[i], n - h->rel_offsets[i], sizeof(int32), recs_int32_cmp);
	}
	pfree(mark);
	pfree(eligible);
	pfree(nrel);
}

void
ncf_holdout_scores(const NcfHoldout *h, const NcfData *d, const NcfConfig *cfg,
				   const NcfModel *model, void (*fn) (void *arg, int i, const double *score),
				   void *arg)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ncf validation",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	const NcfInput *s = &h->sample;
	int			n_items = s->n_items;
	int			dim = cfg->dim;
	float	   *course_emb,
			   *learner_emb;
	NcfSparse	contexts;
	double	   *score = palloc(sizeof(double) * Max(n_items, 1));
	float	   *trend = NULL;

	ncf_final_embeddings(s, d, cfg, model, &course_emb, &learner_emb, &contexts);
	/* the served trend term as of the cut, from the training watches (all before it) */
	if (model->trend && d->trend.off)
	{
		Assert(d->trend.n_items == n_items);
		trend = ncf_served_trend_terms(&d->trend, cfg, model->trend_b, h->cut, false);
	}
	for (int i = 0; i < s->n_learners; i++)
	{
		const float *u = learner_emb + (Size) i * dim;

		CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < n_items; c++)
			score[c] = ncf_vec_dot(u, course_emb + (Size) c * dim, dim) + (trend ? trend[c] : 0.0f);
		fn(arg, i, score);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/* ncf_holdout_score's sums over the learners */
typedef struct HoldoutMetrics
{
	const NcfHoldout *h;
	bool	   *seen;
	double		rsum;
	double		nsum;
} HoldoutMetrics;

static void
add_learner_metrics(void *arg, int i, const double *score)
{
	HoldoutMetrics *hm = arg;
	const NcfInput *s = &hm->h->sample;
	const int32 *rel = hm->h->rel + hm->h->rel_offsets[i];
	int			nrel = (int) (hm->h->rel_offsets[i + 1] - hm->h->rel_offsets[i]);
	int			top[NCF_HOLDOUT_K];
	int			ntop;
	int			hits = 0;
	double		dcg = 0;

	for (int64 w = s->offsets[i]; w < s->offsets[i + 1]; w++)
		hm->seen[s->items[w]] = true;
	/* the top K unseen courses: score descending, then the smaller index */
	ntop = topk_select(score, hm->seen, s->n_items, NCF_HOLDOUT_K, top);
	for (int64 w = s->offsets[i]; w < s->offsets[i + 1]; w++)
		hm->seen[s->items[w]] = false;
	for (int r = 0; r < ntop; r++)
		if (bsearch(&top[r], rel, nrel, sizeof(int32), recs_int32_cmp))
		{
			hits++;
			dcg += metrics_gain(r + 1);
		}
	hm->rsum += (double) hits / nrel;
	hm->nsum += dcg / metrics_ideal_dcg(nrel, NCF_HOLDOUT_K);
}

void
ncf_holdout_score(const NcfHoldout *h, const NcfData *d, const NcfConfig *cfg,
				  const NcfModel *model, double *recall, double *ndcg)
{
	HoldoutMetrics hm;
	int			n = h->sample.n_learners;

	hm.h = h;
	hm.seen = palloc0(sizeof(bool) * Max(h->sample.n_items, 1));
	hm.rsum = hm.nsum = 0;
	ncf_holdout_scores(h, d, cfg, model, add_learner_metrics, &hm);
	pfree(hm.seen);
	*recall = hm.rsum / Max(n, 1);
	*ndcg = hm.nsum / Max(n, 1);
}

int
ncf_best_epoch(const NcfEpochLog *log, int epochs)
{
	int			best = 0;

	for (int e = 1; e < epochs; e++)
		if (log[e].recall > log[best].recall)
			best = e;
	return best;
}

void
ncf_holdout_restore(NcfData *data, const NcfInput *in)
{
	int64		nw = in->offsets[in->n_learners];

	Assert(data->n_learners == in->n_learners && data->n_items == in->n_items);
	data->offsets = in->offsets;
	data->items = in->items;
	data->when = in->when;
	data->seen = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nw, 1));
	memcpy(data->seen, in->items, sizeof(int32) * nw);
	for (int u = 0; u < in->n_learners; u++)
		qsort(data->seen + in->offsets[u], in->offsets[u + 1] - in->offsets[u],
			  sizeof(int32), recs_int32_cmp);
	data->holdout = NULL;
}
