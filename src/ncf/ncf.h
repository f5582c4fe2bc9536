/*
 * ncf.h -- the two-tower neural collaborative filtering model (NCF)
 *
 * Subsystem layout:
 *   ncf_cowatch.c  sparse co-watch cosine similarity, top-N per course
 *   ncf_kernels.c  SIMD row kernels (sparse rows, ReLU, Adam)
 *   ncf_net.c      tower shapes, initialisation, batched forward pass
 *   ncf_attention.c the attention encoder: pooling of a context, its backward
 *   ncf_batch.c    training data: contexts, negatives, batches, transposes
 *   ncf_fit.c      the training loop
 *   ncf_softmax.c  loss 'softmax': in-batch negatives, log-Q correction
 *   ncf_pool.c     the training loop's worker threads
 *   ncf_data.c     the watches and the course catalogue a training reads
 *   ncf_train.c    recs.train_ncf(): options, then data -> fit -> store
 *   ncf_defaults.c loss 'auto' and epochs NULL: chosen from the data's size
 *   ncf_store.c    writing a trained model to the model tables
 *   ncf_serve.c    recommend() branch, score, similar_courses, embed_learner
 *   ncf_map.c      course_map(): 2-D PCA of course embeddings, SVG rendering
 *   ncf_content.c  course content features: vocabulary, scaled input rows
 *   ncf_newcourse.c embed_course(), add_courses(): courses from features alone
 *   ncf_validate.c validation 'auto': the held-out slice, per-epoch Recall/NDCG
 *   ncf_trend.c    trend_days: courses' recent watch counts, their buckets
 *   ncf_ensemble.c ensemble: K trained models merged into one wider network
 *   ncf_history.c  affinity_columns, path_columns: the history terms' inputs
 *   ncf_history_fit.c their weights, fitted on the validation slice
 *   ncf_explain.c  a served score taken apart into its history terms
 * ncf_cowatch, ncf_kernels, ncf_net, ncf_batch, ncf_fit, ncf_softmax, ncf_pool
 * ncf_validate, ncf_trend, ncf_ensemble and ncf_history_fit are pure numerics: no SPI, no
 * catalog access.
 */
#ifndef RECS_NCF_H
#define RECS_NCF_H

#include "postgres.h"

#include "utils/array.h"

#include "serving.h"
#include "watches.h"

#define NCF_MAX_LAYERS 8		/* sparse layer + hidden layers + embedding layer */
#define NCF_LEARNER 0
#define NCF_COURSE 1
#define NCF_MAX_DIM_MAP 4096	/* course_map: largest embedding dimension */

/*
 * A learner's context, and their row of the co-watch matrix, are at most
 * their latest NCF_MAX_CONTEXT watches.  The learner tower's work for a
 * positive is its context's length and the co-watch work a learner's
 * watches squared: without a cap a crawler's 100,000 watches would make
 * training quadratic in them.  Real histories are far shorter (ML-100K's
 * longest is 737), so the cap changes nothing for them.
 */
#define NCF_MAX_CONTEXT 1000

/*
 * Order weights (train_ncf's order_decay).  The k-th latest watch of a
 * context (k = 0: the latest) enters the learner tower's sparse layer with
 * weight decay^k instead of 1.  Positions whose weight falls below
 * NCF_ORDER_MIN_WEIGHT are left out of the context altogether: they could
 * not move a float sum of the others, and dropping them keeps training,
 * the stored embeddings and serving on exactly the same inputs.
 */
#define NCF_ORDER_MIN_WEIGHT 1e-6

/*
 * train_ncf's default content_dropout: the share of training examples whose
 * course is seen through its content features alone (docs/ncf.md, "New
 * courses", for the measurement behind it).
 */
#define NCF_CONTENT_DROPOUT 0.3

/* ---- ncf_cowatch.c ---- */

/* compressed sparse rows; val may be NULL (all ones) */
typedef struct NcfSparse
{
	int			nrows;
	int64		nnz;
	int64	   *rowptr;			/* nrows + 1 */
	int32	   *col;
	float	   *val;
} NcfSparse;

/*
 * Co-watch cosine similarity of a binary learner x item matrix R given as
 * CSR (offsets/items, items of a learner distinct): co = R'R, sim(i,j) =
 * co(i,j) / sqrt(co(i,i) co(j,j)); row i keeps its topn largest positive
 * sim(i,j), j != i, ties to the smaller j; columns of a row ascending.
 * A learner's row of R is their last NCF_MAX_CONTEXT items (items in time
 * order).
 */
extern void ncf_cowatch(int n_learners, int n_items, const int64 *offsets,
						const int32 *items, int topn, NcfSparse *out);

/* ---- ncf_kernels.c: y[0..n) op= ... ---- */

extern void ncf_vec_add(float *restrict y, const float *restrict x, int n);
extern void ncf_vec_axpy(float *restrict y, float a, const float *restrict x, int n);
extern void ncf_vec_bias_relu(float *restrict y, const float *restrict b, int n, bool relu);
extern void ncf_vec_relu_mask(float *restrict dy, const float *restrict y, int n);
extern float ncf_vec_dot(const float *x, const float *y, int n);
/*
 * Serving's scores: n rows of d floats stored by blocks of NCF_BLOCK rows,
 * dimension-major inside a block (blocked[(b * d + k) * NCF_BLOCK + lane] is
 * element k of row b * NCF_BLOCK + lane; the last block zero-padded).
 */
#define NCF_BLOCK 16
extern float *ncf_block_rows(const float *rows, int n, int d);
/* row i of a blocked layout, into out (d floats) */
extern void ncf_blocked_row(const float *blocked, int64 i, int d, float *out);
/* out[i] = row i . u for the rows of blocks [0, nblocks): nblocks * NCF_BLOCK scores */
extern void ncf_dot_blocked(const float *restrict blocked, int64 nblocks, int d,
							const float *restrict u, float *restrict out);
/* the score of row i alone, exactly as ncf_dot_blocked computes it */
extern float ncf_dot_blocked_one(const float *blocked, int64 i, int d, const float *u);

typedef struct NcfAdam
{
	float		lr;				/* bias-corrected step: lr * sqrt(1-b2^t) / (1-b1^t) */
	float		beta1;
	float		beta2;
	float		eps;			/* eps * sqrt(1-b2^t), so that eps applies to v-hat */
	float		l2;
} NcfAdam;

/* one Adam step on n parameters; g is zeroed */
extern void ncf_adam(float *restrict w, float *restrict m, float *restrict v,
					 float *restrict g, int64 n, const NcfAdam *a);
/* the same, with g = sum of nparts gradient vectors spaced stride apart, all zeroed */
extern void ncf_adam_sum(float *restrict w, float *restrict m, float *restrict v,
						 float *g, int64 stride, int nparts, int64 n, const NcfAdam *a);

/* ---- ncf_net.c ---- */

/*
 * A tower: layer 0 is the sparse layer (n_items -> width[1]), layers
 * 1..nlayers-1 are dense; ReLU after every layer but the last, whose output
 * is the embedding.  w[l] is width[l] x width[l+1], row-major.
 */
struct NcfAttention;
typedef struct NcfTower
{
	int			nlayers;
	int			width[NCF_MAX_LAYERS + 1];
	float	   *w[NCF_MAX_LAYERS];
	float	   *b[NCF_MAX_LAYERS];
	/* the learner tower's attention encoder (encoder 'attention'); NULL: a bag */
	struct NcfAttention *att;
} NcfTower;

/* shape of both towers: hidden widths then the embedding dimension */
extern void ncf_tower_shape(NcfTower *t, int n_items, int nhidden,
							const int *hidden, int dim);
/* parameters of the dense part (biases of all layers + dense weights) */
extern int64 ncf_tower_dense_size(const NcfTower *t);
/* point t's biases and dense weights into flat (dense_size floats) */
extern void ncf_tower_bind_dense(NcfTower *t, float *flat);
/* nn.Linear's initialisation: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
struct RecsRng;
extern void ncf_tower_init(NcfTower *t, struct RecsRng *rng);

/*
 * How many of a context's latest watches an order_decay keeps
 * (NCF_MAX_CONTEXT for 1, fewer as decay^k drops below NCF_ORDER_MIN_WEIGHT),
 * and their weights: w[k] = decay^k for k < ncf_order_length(decay).  A
 * decay of 1 needs no weights (NULL: every watch weighs 1).
 */
extern int	ncf_order_length(double decay);
extern float *ncf_order_weights(double decay);
/*
 * Context normalisation (train_ncf's context_norm): every weight of a
 * context of n watches is also scaled by n^-1/2 ('sqrt', the |N(u)|^-1/2 of
 * SVD++ and FISM) or 1/n ('mean', average pooling), so that a learner with
 * 700 watches does not feed the first layer a sum 26 times larger than one
 * with one watch.  n is the context as the tower sees it (after the
 * window, the cap and an order decay's cut).
 */
typedef enum NcfContextNorm
{
	NCF_NORM_NONE,
	NCF_NORM_SQRT,
	NCF_NORM_MEAN
} NcfContextNorm;

/* train_ncf's names of the norms, indexed by NcfContextNorm */
extern const char *const ncf_context_norm_names[3];

/* the factor of every weight of a context of n watches (1 for n = 0) */
extern float ncf_context_scale(NcfContextNorm norm, int n);

/*
 * val[j] of a context of n watches, oldest first: the j-th gets
 * w[n - 1 - j] (1 when w is NULL) times ncf_context_scale(norm, n) -- the
 * one expression training, the stored embeddings and serving use
 */
extern void ncf_context_values(const float *w, NcfContextNorm norm, int n, float *val);

/*
 * Embeddings of nrows sparse inputs (CSR over item indexes; val NULL = 1)
 * into out (nrows x dim), rows processed in chunks through cblas_sgemm.
 */
extern void ncf_tower_forward(const NcfTower *t, int nrows, const int64 *rowptr,
							  const int32 *col, const float *val, float *out);

/* ---- ncf_attention.c: the attention encoder ---- */

/*
 * Target-free attention pooling over a context's latest `window` watches
 * (train_ncf's encoder => 'attention'): the watch of recency rank k (0: the
 * latest) enters as h_k = W0[course] + pos[k], scored q . h_k / sqrt(width);
 * the sparse layer's output is sum_k (w_k + alpha_k) h_k, alpha =
 * softmax(scores), w_k the order weight of rank k (order_decay^k, 1 by
 * default): the bag of the positioned inputs plus their attention pooling
 * (then bias and ReLU, as a bag).  pos and query are one flat array: pos
 * (window x width) then query (width).
 */
typedef struct NcfAttention
{
	int			window;			/* positions: the latest watches the encoder sees */
	int			width;			/* the learner tower's width[1] */
	float	   *params;			/* (window + 1) x width */
	float	   *pos;			/* params: row k = rank k's embedding */
	float	   *query;			/* params + window * width */
} NcfAttention;

/* floats of an encoder's parameters */
static inline int64
ncf_attention_size(int window, int width)
{
	return (int64) (window + 1) * width;
}

/* point pos and query into params */
extern void ncf_attention_bind(NcfAttention *a, int window, int width, float *params);

/*
 * y (width floats) = the attention pooling of the context ctx[0 .. n),
 * oldest first, over rows of w0; val[j] the order weight of ctx[j] (NULL:
 * all 1).  Only the latest window entries are seen.  h (window x width) and
 * alpha (window) receive the used entries' inputs and weights, oldest
 * first, for the backward pass; returns their number.  An empty context
 * gives y = 0.
 */
extern int	ncf_attention_pool(const NcfAttention *a, const float *w0, const int32 *ctx, int n,
							   const float *val, float *h, float *alpha, float *y);

/*
 * Backward of one pooling of m entries (h, alpha from ncf_attention_pool;
 * val their m order weights, NULL: all 1) given dy, the gradient at its
 * output: dh (m x width) receives the
 * gradient at each entry's input h_j (that of its W0 row and of its
 * position's embedding); the gradient of the parameters is added to g
 * (ncf_attention_size floats: pos rows by rank, then query).
 */
extern void ncf_attention_backward(const NcfAttention *a, int m, const float *h,
								   const float *alpha, const float *val, const float *dy,
								   float *dh, float *g);

/* ---- ncf_batch.c: the training data ---- */

/* train_ncf's learner encoder: the pooling of a context's course inputs */
typedef enum NcfEncoder
{
	NCF_ENCODER_BAG,			/* weighted sum (order_decay weights) */
	NCF_ENCODER_ATTENTION		/* attention pooling over the latest watches */
} NcfEncoder;

/* train_ncf's loss */
typedef enum NcfLoss
{
	NCF_LOSS_BINARY,			/* logistic loss on sampled negatives */
	NCF_LOSS_SOFTMAX			/* sampled softmax over in-batch negatives */
} NcfLoss;

typedef struct NcfConfig
{
	int			nhidden;
	int			hidden[NCF_MAX_LAYERS];
	int			dim;
	int			epochs;
	int			negatives;
	int			batch_size;		/* instances per batch (positives x (1 + negatives)) */
	float		learning_rate;
	float		l2;
	uint64		seed;
	int			threads;
	double		window_seconds; /* learner context look-back */
	double		labels_from;	/* positives are watches at or after this time */
	double		order_decay;	/* weight of the k-th latest watch: order_decay^k */
	NcfContextNorm context_norm;	/* a context's weights scaled by its length */
	float		content_dropout;	/* P(a course's co-watch part is dropped), per instance */
	NcfEncoder	encoder;
	int			attention_window;	/* watches the attention encoder sees */
	NcfLoss		loss;
	bool		loss_auto;		/* loss 'auto': loss is chosen from the data (ncf_auto_config) */
	bool		epochs_auto;	/* epochs NULL: epochs is chosen from the data (ncf_auto_config) */
	bool		validation_auto;	/* hold out the latest slice, keep the best epoch */
	double		trend_seconds;	/* trend_days in seconds; 0: no trend term */
	double		trend_weight;	/* the served term's multiple of the learnt b (1) */
	double		half_life_seconds;	/* half_life_days in seconds; 0: every example weighs 1 */
	int			ensemble;		/* members trained and merged (1: a single model) */
	int			member;			/* the member being trained, 0-based (progress lines) */
} NcfConfig;

/*
 * train_ncf's choices from the data's size (docs/ncf.md, "Defaults at
 * scale", for the measurements): loss 'auto' is the softmax from
 * NCF_AUTO_SOFTMAX_POSITIVES positives on, the binary loss below (it wins on
 * small data); epochs NULL is NCF_DEFAULT_EPOCHS with the binary loss and,
 * with the softmax, as many epochs as pass NCF_SOFTMAX_EPOCH_POSITIVES
 * positives (rounded up, at least 1, at most NCF_DEFAULT_EPOCHS): its
 * held-out Recall@10 peaks there and then falls.
 */
#define NCF_AUTO_SOFTMAX_POSITIVES 200000
#define NCF_DEFAULT_EPOCHS 20
#define NCF_SOFTMAX_EPOCH_POSITIVES 2000000

/* resolve loss 'auto' and epochs NULL for n_pos positives */
extern void ncf_auto_config(NcfConfig *cfg, int64 n_pos);

/* ---- ncf_trend.c: the trend term (train_ncf's trend_days) ---- */

/*
 * score(u, c, t) = <u, v_c> + b[bucket(n_c(t))], n_c(t) the course's
 * training watches in [t - trend_days, t), bucket(n) = min(NB - 1,
 * floor(log2(1 + n))): 0, 1-2, 3-6, 7-14, ... 32767+ watches.  b is
 * NCF_TREND_BUCKETS learned scalars (docs/ncf.md, "Trend term").
 */
#define NCF_TREND_BUCKETS 16

static inline int
ncf_trend_bucket(int64 n)
{
	uint64		x = (uint64) n + 1;
	int			b = 63 - __builtin_clzll(x);

	return Min(b, NCF_TREND_BUCKETS - 1);
}

/* every course's watch times, ascending (CSR by course) */
typedef struct NcfTrendIndex
{
	int			n_items;
	int64	   *off;			/* n_items + 1 */
	double	   *when;
} NcfTrendIndex;

/* the index of the watches (offsets/items/when: per learner, as NcfInput's) */
extern void ncf_trend_index(int n_learners, int n_items, const int64 *offsets,
							const int32 *items, const double *when, NcfTrendIndex *ix);
/* course c's watches in [lo, hi), or [lo, hi] when hi_inclusive */
extern int64 ncf_trend_count(const NcfTrendIndex *ix, int32 c, double lo, double hi,
							 bool hi_inclusive);
/*
 * Every course's term once training is over (stored, validated): at time
 * at, trend_weight x b[bucket(n_c)], n_c its watches in [at - trend_days,
 * at), or [..., at] when closed.  Training itself always uses b.
 */
extern float *ncf_served_trend_terms(const NcfTrendIndex *ix, const NcfConfig *cfg,
									 const float *trend_b, double at, bool closed);
/*
 * Softmax batches: the bucket of every (row, column) pair, for the columns
 * [c0, c1) of cols; rows in time order (order: rows by ascending t[row]);
 * out[row * ldo + col].  One merge walk per column: O(rows + its watches).
 */
extern void ncf_trend_buckets(const NcfTrendIndex *ix, double window, const double *t,
							  const int32 *order, int nrows, const int32 *cols, int c0, int c1,
							  uint8 *out, int ldo);

/*
 * Training data: per learner, watches sorted by time (items[offsets[u] ..
 * offsets[u+1]) with times when[]), item indexes 0..n_items-1.
 */
typedef struct NcfData
{
	int			n_learners;
	int			n_items;
	const int64 *offsets;
	const int32 *items;
	const double *when;
	/* built by ncf_data_prepare */
	int32	   *seen;			/* per learner, items sorted ascending (same offsets) */
	int64		n_pos;
	int32	   *pos_learner;
	int32	   *pos_item;
	int64	   *ctx_start;		/* context = items[ctx_start .. ctx_start + ctx_len) */
	int32	   *ctx_len;
	int64		n_empty_ctx;
	int64		n_capped_ctx;	/* contexts cut to their latest NCF_MAX_CONTEXT watches */
	int			ctx_cap;		/* the longest context: ncf_order_length(order_decay),
								 * at most attention_window with attention */
	int			att_window;		/* attention encoder's positions; 0: a bag */
	float	   *ctx_weight;		/* weight of the k-th latest watch; NULL: all 1 */
	NcfContextNorm ctx_norm;	/* and the context's length's scaling */
	double		mean_ctx;
	NcfSparse	cowatch;		/* co-watch similarity rows */
	const struct NcfHoldout *holdout;	/* validation 'auto': held-out learners; NULL: none */
	/* trend_days: the training watches by course, each positive's time; else off NULL */
	NcfTrendIndex trend;
	double	   *pos_when;
	/* half_life_days: each positive's weight (mean 1); else NULL, all 1 */
	float	   *pos_weight;

	/*
	 * The course tower's inputs: a course's co-watch row, then its content
	 * entries (rows n_items .. n_course_inputs - 1 of the course tower's W0).
	 * Without content features course_in is cowatch and content_start NULL.
	 */
	NcfSparse	course_in;
	int64	   *content_start;	/* per course: where its content entries begin */
	int			n_course_inputs;
} NcfData;

/* rows of tower k's sparse layer */
static inline int
ncf_tower_inputs(const NcfData *d, int k)
{
	return k == NCF_COURSE ? d->n_course_inputs : d->n_items;
}

/* the entries of course c's input, its content part alone when dropped */
static inline void
ncf_course_input(const NcfData *d, int32 c, bool drop, int64 *lo, int64 *hi)
{
	*lo = drop ? d->content_start[c] : d->course_in.rowptr[c];
	*hi = d->course_in.rowptr[c + 1];
}

/*
 * positives and their contexts (watches in [t - window, t), strictly before
 * t, at most the latest ncf_order_length(order_decay)), and the contexts'
 * order weights
 */
extern void ncf_data_prepare(NcfData *d, const NcfConfig *cfg);
/* negs[p * neg + r]: neg courses per positive the learner never watched */
extern void ncf_draw_negatives(const NcfData *d, int neg, struct RecsRng *rng, int32 *negs);

/* a batch: ngroups positives, each followed by its negatives */
typedef struct NcfBatch
{
	int			per_group;		/* 1 + negatives */
	int			ngroups;
	int			ninst;			/* ngroups * per_group instances */
	int32	   *pos;			/* group -> positive */
	int32	   *item;			/* instance -> course */
	bool	   *drop;			/* instance -> co-watch part dropped; NULL: never */
	int32		stamp;			/* batch number, marks touched rows */
} NcfBatch;

/* one tower's sparse inputs of a batch transposed: W0 row -> batch rows using it */
typedef struct NcfTranspose
{
	int32	   *mark;			/* n_items: last batch that touched the row */
	int32	   *slot;			/* n_items: the row's position in touched */
	int32	   *touched;		/* rows of W0 the batch uses, first-use order */
	int			ntouched;
	int64	   *tptr;			/* ntouched + 1 offsets into tsrc/tval */
	int32	   *tsrc;			/* batch row */
	float	   *tval;			/* input value (the learner's: its order weight, or 1) */
	int64		tcap;
	int64	   *usage;			/* n_items: entries + 4 per batch using the row, this epoch */
} NcfTranspose;

extern void ncf_transpose_init(NcfTranspose *s, int n_items);
/* the batch of positives perm[first .. first + ngroups), with their negatives */
extern void ncf_batch_fill(NcfBatch *b, const NcfData *d, const int32 *perm,
						   const int32 *negs, int64 first, int ngroups, int32 stamp);
/* grow tower k's entry arrays for the batch (the backend's thread only) */
extern void ncf_batch_reserve(const NcfBatch *b, const NcfData *d, int k, NcfTranspose *s);
/* tower k's inputs of the batch, transposed; allocates nothing (worker threads) */
extern void ncf_batch_transpose(const NcfBatch *b, const NcfData *d, int k, NcfTranspose *s);

/* ---- ncf_softmax.c: loss 'softmax' ---- */

/*
 * train_ncf(loss => 'softmax')'s temperature: logits are score / T.
 * Chosen by measurement (docs/ncf.md, "Softmax loss").
 */
#define NCF_SOFTMAX_TEMPERATURE 1.0f

/* a softmax batch's columns (its distinct courses) and logits */
typedef struct NcfSoftmax
{
	float		temperature;
	float	   *logq_item;		/* n_items: log of the course's share of the positives */
	int32	   *col_of;			/* n_items: the course's column, if colmark == stamp */
	int32	   *colmark;		/* n_items: the last batch the course was a column of */
	int32		stamp;
	int			ncols;
	int32	   *label;			/* positive of the batch -> its course's column */
	float	   *col_logq;		/* column -> log q */
	float	   *z;				/* B x ncols logits, then dL/dscore */
} NcfSoftmax;

/* bytes ncf_softmax_init allocates for batches of batch positives */
extern Size ncf_softmax_memory(const NcfData *d, int batch);
extern void ncf_softmax_init(NcfSoftmax *sm, const NcfData *d, int batch, float temperature);
/*
 * the batch of positives perm[first .. first + npos): b->pos the positives,
 * b->item (b->ninst of them) the distinct courses, sm->label their columns
 */
extern void ncf_softmax_batch(NcfSoftmax *sm, NcfBatch *b, const NcfData *d, const int32 *perm,
							  int64 first, int npos, int32 stamp);
/* mask (-inf) the columns of z that are the learner's other watched courses */
extern void ncf_softmax_mask_row(const NcfSoftmax *sm, const NcfData *d, int32 learner,
								 int label, float *z);
/*
 * One row: z holds the scores (-inf: masked); returns the row's loss and
 * leaves scale * dL/dscore in z
 */
extern double ncf_softmax_row(float *z, int ncols, int label, const float *logq,
							  float temperature, float scale);

/* ---- ncf_fit.c: the training loop ---- */

/* bytes the trainer will allocate, to check against a budget first */
extern Size ncf_train_memory(const NcfData *d, const NcfConfig *cfg);

typedef struct NcfModel
{
	NcfTower	tower[2];		/* NCF_LEARNER, NCF_COURSE */
	bool		trend;			/* trend_days given: trend_b is trained */
	float		trend_b[NCF_TREND_BUCKETS];
} NcfModel;


/* ---- ncf_ensemble.c: train_ncf's ensemble ---- */

#define NCF_MAX_ENSEMBLE 8
/* bytes an ensemble adds to a training: its members until the merge, the merged model */
extern Size ncf_ensemble_memory(const NcfData *d, const NcfConfig *cfg);
/*
 * k trained members (same shapes) as one network scoring the sum of their
 * scores: widths times k, block-diagonal dense layers, trend terms summed;
 * allocated in CurrentMemoryContext
 */
extern void ncf_ensemble_merge(const NcfModel *members, int k, NcfModel *out);

typedef struct NcfEpochLog
{
	double		loss;
	double		seconds;
	double		foreign_cpu;	/* CPU seconds other processes used meanwhile, NaN if unknown */
	/* validation 'auto' (ncf_validate.c): the held-out learners' scores, else 0 */
	double		recall;			/* Recall@10 */
	double		ndcg;			/* NDCG@10 */
	double		val_seconds;	/* time the scoring took */
} NcfEpochLog;

/*
 * Train both towers; allocates the model in CurrentMemoryContext.  Prints a
 * NOTICE per epoch, checks for interrupts per batch.  log has cfg->epochs
 * entries.
 */
extern void ncf_train(const NcfData *d, const NcfConfig *cfg, NcfModel *model,
					  NcfEpochLog *log);

/* ---- ncf_data.c: the watches and the catalogue (SPI) ---- */

typedef struct NcfInput
{
	WatchSet   *ws;				/* its counts only: ncf_input frees its arrays */
	double		through;		/* end of the data */
	int			n_items;
	int64	   *item_ids;		/* item index -> course id, ascending */
	int			n_learners;
	int64	   *learner_ids;
	int64	   *offsets;		/* per learner, time-sorted watches up to through */
	int32	   *items;
	double	   *when;
} NcfInput;

/*
 * Ingest watches (then cut at through, unless NaN) and build the catalogue:
 * the watched courses plus those of the courses relation, if any.
 */
extern void ncf_input(Oid watches, const WatchColumns *cols, double min_seconds, Oid courses,
					  const char *courses_id_column, double through, const char *what,
					  NcfInput *in);
/* sorted distinct ids of column col of a courses relation (SPI) */
extern int64 *ncf_read_course_ids(Oid relid, const char *col, const char *argname, int *n);

/*
 * Each of in's courses' trend term at the end of its data (in->through):
 * b[bucket(n_c)], n_c its watches in [through - trend_days, through]
 * (closed: "now" is just after the latest watch); NULL without trend_days
 */
extern float *ncf_trend_terms(const NcfInput *in, const NcfConfig *cfg, const NcfModel *model);

/*
 * the training data over in's watches: co-watch rows (joined to content's
 * rows unless NULL), positives, contexts
 */
struct NcfContent;
extern void ncf_data_from_input(const NcfInput *in, NcfConfig *cfg, int topn,
								struct NcfContent *content, NcfData *data);
/*
 * ncf_net.c: each learner's context at their own latest watch t_u ([t_u -
 * window, t_u], at most the latest NCF_MAX_CONTEXT watches) through the
 * learner tower, and every item's co-watch row through the course tower.
 * contexts receives the learners' contexts (CSR over item indexes, in time
 * order, val NULL), which the store keeps for serving's recent argument.
 */
extern void ncf_final_embeddings(const NcfInput *in, const NcfData *data, const NcfConfig *cfg,
								 const NcfModel *model, float **course_emb, float **learner_emb,
								 NcfSparse *contexts);

/* ---- ncf_validate.c: validation 'auto' ---- */

/*
 * The held-out slice is the watches at or after cut = through - NCF_HOLDOUT_SHARE
 * of the data's time span; a held-out learner has a watch before the cut and
 * a course after it they had not watched before.  At most NCF_HOLDOUT_MAX
 * of them (a seeded sample) are scored after every epoch, at NCF_HOLDOUT_K.
 */
#define NCF_HOLDOUT_SHARE 0.1
#define NCF_HOLDOUT_MAX 2000
#define NCF_HOLDOUT_K 10

typedef struct NcfHoldout
{
	double		cut;
	int64		heldout_watches;	/* watches at or after the cut */
	int			eligible;		/* learners who could be scored */
	NcfInput	sample;			/* the scored learners' watches before the cut */
	int64	   *rel_offsets;	/* per sampled learner, their new courses after the cut */
	int32	   *rel;			/* ascending item indexes */
	int32	   *rel_in_time;	/* the same, in the order they were first watched */
} NcfHoldout;

/*
 * Split in at the cut: train gets the same learners and courses with the
 * watches before the cut only (a learner may have none), h the sampled
 * held-out learners; errors when nothing can be held out.
 */
extern void ncf_holdout_split(const NcfInput *in, const NcfConfig *cfg, NcfInput *train,
							  NcfHoldout *h);
/* Recall@K and NDCG@K of the model over h's learners (ncf_final_embeddings' path) */
extern void ncf_holdout_score(const NcfHoldout *h, const NcfData *d, const NcfConfig *cfg,
							  const NcfModel *model, double *recall, double *ndcg);
/*
 * The held-out learners' NCF scores as the stored model would serve them at
 * the cut (dot + trend), learner by learner: fn(arg, i, score[n_items]).
 */
extern void ncf_holdout_scores(const NcfHoldout *h, const NcfData *d, const NcfConfig *cfg,
							   const NcfModel *model,
							   void (*fn) (void *arg, int i, const double *score), void *arg);
/* the epoch (0-based) of the best Recall@10 in log, ties to the earlier */
extern int	ncf_best_epoch(const NcfEpochLog *log, int epochs);
/* after training on a split: data's learner lists become in's (all watches) */
extern void ncf_holdout_restore(NcfData *data, const NcfInput *in);

/* ---- ncf_history.c: the history terms (affinity_columns, path_columns) ---- */

/*
 * Terms of the served score that compare a course with the learner's whole
 * watched list, fitted on the validation slice after the towers (see
 * ncf_history.c):
 *   score = w_ncf (dot + trend) + w_stats . stats(course)
 *         + w_watched [its predecessor watched] + w_missing [a predecessor, not watched]
 *         + w_latest [its predecessor is the latest watched course that has a successor]
 *         + sum_a w_a ln(V_a share_a),
 * + w_cowatch ln(1 + sum over the watched courses j of cowatch(j, course)),
 * stats the course's ln(1 + watches), ln(1 + watches in the latest
 * NCF_HISTORY_RECENT_DAYS) and ln(1 + days since its first watch);
 * share_a = (n_a(v) + 1/2) / (N + V_a / 2): of the N watched courses, those
 * with the course's value v of column a (V_a values; 0 when it has none).
 */
#define NCF_HISTORY_MAX_COLUMNS 16
#define NCF_HISTORY_NEGATIVES 20
#define NCF_HISTORY_STATS 3
#define NCF_HISTORY_RECENT_DAYS 30
#define NCF_HISTORY_FEATURES(h) (NCF_HISTORY_STATS + 4 + (h)->nattr)

typedef struct NcfHistory
{
	int			n;				/* courses: the model's item indexes */
	int			nattr;			/* affinity columns */
	char	  **attr_cols;
	int32	   *nvalues;		/* per column: its distinct values (V_a) */
	char	 ***values;			/* per column, in byte order (training only) */
	int32	   *attr;			/* n x nattr value codes, -1: none */
	char	  **path_cols;		/* the series and order columns; NULL: no path terms */
	int32	   *pred;			/* n: the predecessor's index, -1: none */
	bool	   *has_next;		/* n: some course's predecessor (NULL without path terms) */
	float	   *stats;			/* n x NCF_HISTORY_STATS, see above */
	double	   *static_term;	/* serving: n, w_stats . stats (ncf_history_static_terms) */
	const NcfSparse *cowatch;	/* the model's co-watch rows, by item index */
	/* the fitted weights */
	double		w_ncf;
	double		w_stats[NCF_HISTORY_STATS];
	double		w_cowatch;
	double		w_watched;
	double		w_missing;
	double		w_latest;
	double	   *w_attr;			/* nattr */
	/* the fit */
	int			refit_epochs;	/* the served towers' epochs, on every watch */
	int			fit_learners;
	int64		fit_positives;
	int64		fit_rows;
	int			fit_iterations;
	double		fit_loss;
} NcfHistory;

/* one learner's watched list, as the terms read it */
typedef struct NcfHistoryLearner
{
	bool	   *watched;		/* n */
	int32	   *count;			/* per column and value (column-major offsets) */
	int32	   *offset;			/* nattr: each column's first entry of count */
	int			nwatched;		/* distinct watched courses of the catalogue */
	float	   *cowatch;		/* n: the sum of the watched courses' co-watch rows */
	int			latest;			/* the latest watched course with a successor, -1: none */
	double	   *share_term;		/* serving: w_a ln(V_a share) per column and value (as count) */
} NcfHistoryLearner;

struct NcfOptions;
/* the columns' checks (train_ncf's arguments) */
extern void ncf_history_args(Oid courses, char **attr, int nattr, char **path, int npath,
							 bool validation, NcfHistory *h);
/* the courses relation's values of the columns, as codes and predecessors over in's items */
extern void ncf_history_read(Oid courses, const char *idcol, const char *idargname,
							 const NcfInput *in, NcfHistory *h);
/* each item's statistics at time at from the watches (time-sorted per learner) */
extern void ncf_history_stats(const int64 *offsets, const int32 *items, const double *when,
							  int n_learners, double at, NcfHistory *h);
/* a learner's state, allocated with nothing watched */
extern void ncf_history_learner_alloc(const NcfHistory *h, NcfHistoryLearner *st);
/* add n item indexes to it (unknown ones -1 are skipped, duplicates once) */
extern void ncf_history_learner_mark(const NcfHistory *h, const int32 *idx, int n,
									 NcfHistoryLearner *st);
/* take them out again (the state is then as allocated) */
extern void ncf_history_learner_clear(const NcfHistory *h, const int32 *idx, int n,
									  NcfHistoryLearner *st);
/* the latest course of idx (n, oldest first) that has a successor, into st->latest */
extern void ncf_history_learner_latest(const NcfHistory *h, const int32 *idx, int n,
									   NcfHistoryLearner *st);
/* after the predecessors are known: which courses have a successor */
extern void ncf_history_successors(NcfHistory *h);
/* serving: each course's w_stats . stats, once per loaded model */
extern void ncf_history_static_terms(NcfHistory *h);
/*
 * serving: a learner's state from n item indexes (unknown ones -1 are
 * skipped, duplicates once), with their weighted share terms
 */
extern void ncf_history_learner(const NcfHistory *h, const int32 *idx, int n,
								NcfHistoryLearner *st);
/* the features of course c for the learner (NCF_HISTORY_FEATURES(h) values) */
extern void ncf_history_features(const NcfHistory *h, const NcfHistoryLearner *st, int c,
								 double *f);
/*
 * the served score of course c from its NCF score (dot + trend): the
 * features' weighted sum, from the serving state (static and share terms)
 */
extern double ncf_history_score(const NcfHistory *h, const NcfHistoryLearner *st, int c,
								double ncf);
struct NcfRowCodes;
/*
 * add_courses: the history inputs of courses new to a model (codes by the
 * model's own values, predecessors among its courses and the new ones,
 * statistics 0); false when the model has no history terms
 */
extern bool ncf_history_new_courses(int64 model_id, Oid courses, const char *idcol,
									const char *idargname, const int64 *known, int nknown,
									const int64 *new_ids, int nnew, struct NcfRowCodes *out);
struct NcfHoldout;
/* fit the weights on the held-out learners (the towers as trained on the split) */
extern void ncf_history_fit(NcfHistory *h, const struct NcfHoldout *ho, const NcfData *d,
							const NcfConfig *cfg, const NcfModel *model);

/* ---- ncf_content.c: course content features ---- */

/* (course id, column, value) triples of a courses relation, sorted */
typedef struct NcfFeatureValues
{
	int64		n;
	int64	   *id;
	int32	   *col;
	char	  **value;
} NcfFeatureValues;

/*
 * The content inputs of a model: feature columns of the courses relation,
 * each column's distinct values (the vocabulary, by column then value in
 * byte order) and the scale.  A course's content entry for a value of
 * column f is scale / sqrt(ncols * m_f), m_f its number of known values of
 * f: each column's part has length scale / sqrt(ncols), the whole content
 * part at most scale, the mean length of the training's co-watch rows.
 * Vocabulary entry v is course-tower input row vocab_row[v] (n_items + v
 * at training).
 */
typedef struct NcfContent
{
	int			ncols;
	char	  **cols;
	int			nvocab;
	int32	   *vocab_col;
	char	  **vocab_value;
	int32	   *vocab_row;
	double		scale;
	NcfFeatureValues values;	/* training: the courses relation's values */
} NcfContent;

/* course_features: distinct existing columns of courses (the argument's name) */
extern void ncf_content_columns(Oid courses, char **names, int n, const char *argname,
								NcfContent *ct);
/* every (course, column, value) of the relation, values as text (SPI) */
extern void ncf_content_read(Oid courses, const char *idcol, const char *idargname,
							 NcfContent *ct, NcfFeatureValues *fv);
/* the vocabulary of ct->values, input rows from first_row on */
extern void ncf_content_vocabulary(NcfContent *ct, int first_row);
/* sort the vocabulary (as loaded from a model) by column then value */
extern void ncf_content_sort_vocabulary(NcfContent *ct);
/*
 * One course's content input from its n values (col[i], value[i]): input
 * rows ascending into row/val (room for n), unknown values left out;
 * returns the number of entries.
 */
extern int	ncf_content_row(const NcfContent *ct, int n, const int32 *col, char *const *value,
							int32 *row, float *val);
/* the mean length of the non-empty co-watch rows (1 if none) */
extern double ncf_content_scale(const NcfSparse *cowatch);
/* data->course_in: each course's co-watch row then its content entries */
extern void ncf_content_join(NcfData *data, NcfContent *ct, const int64 *item_ids);

/* ---- ncf_store.c: the model tables ---- */

/* train_ncf's arguments, checked (ncf_train.c) */
typedef struct NcfOptions
{
	Oid			watches;
	Oid			courses;		/* InvalidOid: none */
	char	   *courses_id_column;	/* the courses relation's id column */
	char	   *name;
	double		min_seconds;
	double		window_days;
	bool		labels_given;
	double		through;		/* NaN: not given */
	int			topn;			/* co-watch neighbours */
	bool		activate;
	WatchColumns cols;
	NcfConfig	cfg;
	NcfContent *content;		/* NULL: no course_features */
	double		trend_days;		/* as given; cfg.trend_seconds 0: none */
	double		half_life_days; /* as given; cfg.half_life_seconds 0: none */
	NcfHistory *history;		/* affinity_columns, path_columns; NULL: none */
} NcfOptions;

/* what the training loop measured */
typedef struct NcfRunLog
{
	NcfEpochLog *epochs;		/* cfg.epochs */
	double		train_seconds;
	double		cpu_seconds;
	const NcfHoldout *holdout;	/* validation 'auto': the split; NULL: none */
	int			best_epoch;		/* validation 'auto': the stored epoch, 0-based */
} NcfRunLog;

/* ncf_store_embeddings' history-term inputs of each row (NULL: none) */
typedef struct NcfRowCodes
{
	int			ncodes;			/* per row: ncodes of $9's codes (flat, the chunk's) */
	const int32 *codes;			/* n x ncodes */
	const int32 *pred;			/* n: u.x4, pred_ids[pred] or NULL when -1; NULL: all NULL */
	const int64 *pred_ids;
	const float *stats;			/* n x NCF_HISTORY_STATS: $11 (flat, the chunk's); NULL: none */
} NcfRowCodes;
/*
 * Rows (model_id, idcol, extra_cols..., embedding) of recs.<table> from a flat
 * n x dim matrix; extra_exprs read u.x1 and u.x2 (extra1, extra2, NULL: 0),
 * u.x3 (real3, NULL: NULL), or with ctx each row's slice of $7, their
 * contexts' course ids (item_ids); with codes, $9, u.x4 and $11 (NcfRowCodes).
 */
extern void ncf_store_embeddings(const char *table, const char *idcol, const char *extra_cols,
								 const char *extra_exprs, int64 model_id, const int64 *ids,
								 const int32 *extra1, const int32 *extra2, const float *real3,
								 const NcfSparse *ctx, const int64 *item_ids, const float *emb,
								 int64 n, int dim, const NcfRowCodes *codes);
/*
 * the catalog row, layers, embeddings (with course_trend, each course's
 * trend term; NULL: none), co-watch rows, learners and metrics
 */
extern int64 ncf_store(const NcfOptions *o, const NcfInput *in, const NcfData *data,
					   const NcfModel *model, const NcfRunLog *run,
					   const float *course_emb, const float *course_trend,
					   const float *learner_emb, const NcfSparse *contexts);

/* ---- ncf_serve.c ---- */

/* a model's course embeddings, as the serving cache holds them */
typedef struct NcfCourses
{
	int			n;
	int			dim;
	int64	   *ids;			/* ascending */
	int32	   *input_row;		/* the learner tower's input row; -1: added since training */
	int			n_inputs;		/* courses with an input row (trained ones) */
	float	   *emb;			/* n x dim */
	float	   *blocked;		/* emb by blocks of NCF_BLOCK courses: see ncf_dot_blocked */
	float	   *unit;			/* the same layout, rows scaled to length 1 (0 stays 0) */
	float	   *trend;			/* n: each course's trend term (trend_days); NULL: all 0 */
	NcfHistory *history;		/* affinity_columns, path_columns; NULL: none */
} NcfCourses;

/*
 * A learner's embedding into u (c->dim floats) and, for a model with
 * history terms, their state st, from one read of their stored row
 * (ncf_serve.c)
 */
extern void ncf_learner_inputs(const ServingModel *m, const NcfCourses *c, const ServingLearner *l,
							   float *u, NcfHistoryLearner *st);
/* the cached courses of an NCF model, or of a blend's NCF component; errors otherwise */
extern const NcfCourses *ncf_model_courses(const ServingModel *given);

/* the NCF model whose embeddings stand for given (itself, a blend's component) */
extern void ncf_embedding_model(const ServingModel *given, ServingModel *out);
/* a checked copy of a stored real[] (serving_check.h), expect elements (-1: any) */
struct ModelRow;
extern float *ncf_model_floats(const struct ModelRow *row, const char *col, Datum d,
							   int64 expect, const char *expect_what, int *n_out);
/*
 * One stored layer row of a tower (row keyed by tower and layer), checked
 * against the l layers before it: numbered l, at most NCF_MAX_LAYERS, n_in
 * and n_out in range, n_in equal to the previous n_out; sets width[l] and
 * width[l + 1].
 */
extern void ncf_check_layer_row(struct ModelRow *row, const char *tower, int l, int layer,
								int n_in, int n_out, int *width);

/* the serving routines of NCF models (ncf_serve.c) */
extern const ServingKind ncf_kind;

#endif							/* RECS_NCF_H */
