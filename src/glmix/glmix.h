/*
 * glmix.h -- GLMix response prediction: shared types of the glmix_* files
 *
 *   glmix_math.c   pure numerics (logistic loss, per-row statistics, dense
 *                  Cholesky, one entity's Newton fit, AUC) -- no SPI
 *   glmix_block.c  the block format, float8[] helpers, aggregate arguments
 *   glmix_tron.c   the large fixed effect's matrix-free solver (TRON), no SPI
 *   glmix_agg_fixed.c   recs.glmix_fixed_stats (Newton's statistics)
 *   glmix_agg_grad.c    recs.glmix_fixed_block_grad (TRON's statistics)
 *   glmix_agg_entity.c  recs.glmix_entity_fit (GROUP BY entity fits)
 *   glmix_features.c    feature dictionaries, the sides' feature vectors
 *   glmix_design.c      the fixed design's layout and rows, design matrices
 *   glmix_match.c       match features: a learner column against a course column
 *   glmix_hash.c        hashed crosses (hash_bits)
 *   glmix_work.c        the work relations: DDL and block inserts
 *   glmix_citus.c       work relations distributed over a Citus cluster
 *   glmix_flat*.c, glmix_agg_flat*.c  Citus with a flat coordinator (glmix_flat.h)
 *   glmix_train.c  recs.train_glmix(): options, then the phases:
 *   glmix_data.c   1. read: impressions, sides, designs, random effects
 *   glmix_stage.c  2. stage: the designs' blocks into work relations
 *   glmix_fit.c    3. fit: the per-coordinate fits of coordinate descent
 *   glmix_store.c  4. store: the model tables
 *   glmix_l2auto.c l2_auto: the L2 search before the phases
 *   glmix_serve.c  loading a stored model, recs.glmix_score(), recs.explain()
 *   glmix_learner.c     a served model's learner rows, looked up per call
 *
 * Sparse rows are CSR: row r holds columns col[ptr[r] .. ptr[r+1]) ascending,
 * with values val[] (NULL val means every value is 1).
 */
#ifndef RECS_GLMIX_H
#define RECS_GLMIX_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"

#include "rng.h"

/* ---- glmix_block.c: float8[] helpers ---- */

/* a one-dimensional float8[] holding v[0..n) */
extern ArrayType *glmix_float8_array(const double *v, int n);
/* the elements of a float8[] (no NULLs allowed; what names it in errors) */
extern const double *glmix_float8_data(ArrayType *a, int *n, const char *what);
/* the same, and the position its first element stands for (its lower bound - 1) */
extern const double *glmix_float8_slice(ArrayType *a, int64 *base, int *n, const char *what);

/* ---- glmix_math.c ---- */

/* log(1 + exp(m)) - y m, without overflow */
extern double glmix_logloss(double m, double y);
extern double glmix_sigmoid(double m);

/*
 * Accumulate the weighted logistic loss, gradient and (if hess != NULL) the
 * Hessian of rows [0, n) at margins offset[r] + x_r . beta.  The Hessian is
 * the packed upper triangle, row by row: (i, j >= i) at
 * GLMIX_PACKED(i, d) + j.  Returns the summed weighted loss.
 */
#define GLMIX_PACKED(i, d) ((Size) (i) * (d) - (Size) (i) * ((i) + 1) / 2)
extern double glmix_accum_stats(int n, const double *y, const double *w,
								const double *offset, const int32 *ptr,
								const int32 *col, const double *val,
								int d, const double *beta,
								double *grad, double *hess);

/* ---- glmix_tron.c: the matrix-free solver for large fixed effects ---- */

/*
 * Loss and gradient of rows [0, n) at margins offset[r] + x_r . beta summed
 * into grad (returns the loss); with dir != NULL also X' diag(w p (1-p)) X dir
 * summed into hv.
 */
extern double glmix_accum_grad_hv(int n, const double *y, const double *w,
								  const double *offset, const int32 *ptr,
								  const int32 *col, const double *val,
								  const double *beta, const double *dir,
								  double *grad, double *hv);

/* what TRON asks of its caller: the penalised objective's f, g and H v */
typedef struct GlmixTronOps
{
	void	   *arg;
	double		(*fun_grad) (void *arg, const double *beta, double *g);
	void		(*hess_vec) (void *arg, const double *beta, const double *v, double *hv);
	/* after each outer iteration, with the gradient norm it stops at (may be NULL) */
	void		(*progress) (void *arg, int iteration, double f, double gnorm,
							 double gtarget, int passes);
} GlmixTronOps;

typedef struct GlmixTronResult
{
	int			iterations;
	int			cg_steps;
	double		objective;
	double		gnorm;
} GlmixTronResult;

/* minimise from beta (in/out); work holds 6 d doubles; returns aggregate passes */
extern int	glmix_tron(int d, double *beta, double lambda, const GlmixTronOps *ops,
					   double *work, GlmixTronResult *out);

/* in-place Cholesky of a d x d SPD matrix (lower, row-major); false if not PD */
extern bool glmix_cholesky(double *a, int d);
/* solve L L' x = b in place given the factor from glmix_cholesky */
extern void glmix_cholesky_solve(const double *l, int d, double *b);

typedef struct GlmixEntityFit
{
	int			iterations;
	double		objective;
	double		max_abs_grad;
} GlmixEntityFit;

/*
 * One entity's L2-regularised weighted logistic regression with offsets:
 *   min_b  sum_r w_r l(o_r + z_r.b, y_r) + lambda/2 |b|^2
 * by Newton's method (Cholesky solve, Armijo backtracking), starting from
 * beta (in/out).  work must hold d*d + 4*d + 5*n doubles.
 */
extern void glmix_entity_newton(int n, const double *y, const double *w,
								const double *offset, const int32 *ptr,
								const int32 *col, const double *val, int d,
								double lambda, double *beta, int max_iter,
								double tol, double *work, GlmixEntityFit *out);

/* area under the ROC curve (ties count 1/2); NaN when a class is missing */
extern double glmix_auc(int64 n, const double *score, const double *y);
/* mean log-loss of probabilities sigmoid(logit), clipped like sklearn */
extern double glmix_mean_logloss(int64 n, const double *logit, const double *y);

/* ---- the work-relation block: many rows of one design, as bytea ---- */

#define GLMIX_BLOCK_MAGIC 0x474C4D32	/* "GLM2" */
#define GLMIX_BLOCK_BINARY 1			/* val[] omitted: every value is 1 */
#define GLMIX_BLOCK_CONTIGUOUS 2		/* rowid[] omitted: rows first_row.. */
#define GLMIX_BLOCK_WIDE 4				/* col[] is int32 (dimensions above 65535) */

/*
 * A block fits in one heap page and its column has STORAGE PLAIN, so it is
 * stored inline (no TOAST lookups when scanned, no compression) and a
 * parallel scan shares blocks out page by page.  Layout, each part MAXALIGNed from the start of the varlena:
 *   GlmixBlockHeader | y[n] f8 | w[n] f8 | ptr[n+1] i32 | rowid[n] i32 |
 *   col[nnz] u16 (i32 when WIDE) | val[nnz] f8
 * rowid (global row numbers) index the offsets array given to the
 * aggregates.  Columns take 16 bits up to dimension 65535, 32 bits above
 * (the WIDE flag, set exactly when the dimension needs it), up to
 * GLMIX_MAX_FIXED_DIM.
 */
#define GLMIX_BLOCK_MAX_BYTES 8000
#define GLMIX_BLOCK_NARROW_DIM 65535

/*
 * The largest fixed effect: 2^24 features.  Its solver is matrix-free above
 * the dense-Newton crossover (glmix_tron.c), so what bounds a training is
 * recs.memory_limit; this cap only keeps every size computation far from
 * integer overflow.  Serving accepts stored models up to the same size.
 */
#define GLMIX_MAX_FIXED_DIM (1 << 24)

typedef struct GlmixBlockHeader
{
	int32		vl_len_;
	uint32		magic;
	int32		n;
	int32		dim;
	int32		nnz;
	int32		entity;			/* dense entity index, -1 for fixed-effect blocks */
	int32		flags;
	int32		entity_rows;	/* all rows of the entity (a capacity hint) */
	int32		entity_nnz;
	int32		pad;
	int64		first_row;
} GlmixBlockHeader;

/* a block mapped for reading (rowid and col widened) */
typedef struct GlmixBlock
{
	const GlmixBlockHeader *hdr;
	const double *y;
	const double *w;
	const int32 *ptr;
	int64	   *rowid;
	int32	   *col;
	const double *val;			/* NULL when binary */
} GlmixBlock;

/* bytes of a block of n rows with nnz features of a design of dimension dim */
extern Size glmix_block_size(int n, int nnz, bool binary, bool contiguous, int dim);

/*
 * Build a block from rows rows[0..n) of a CSR design whose arrays are indexed
 * by row id; the weights are multiplied by wscale (row-cap resampling).  Its
 * row ids (what index the offsets) are rows[], or with first_id >= 0
 * first_id, first_id + 1, ...
 */
extern bytea *glmix_block_build(int n, const int64 *rows, int64 first_id, const double *y,
								const double *w, double wscale,
								const int32 *ptr, const int32 *col,
								const double *val, int dim, int entity,
								int entity_rows, int entity_nnz);
/*
 * Map a (detoasted, 8-byte aligned) block, validating all of it -- header,
 * length, row pointers, labels, weights, row ids, columns, values -- before
 * anything is read through it; a violation is ERRCODE_DATA_CORRUPTED.
 * Blocks are hostile input: the block aggregates are callable by any role.
 */
extern void glmix_block_map(bytea *b, GlmixBlock *out);

/* ---- glmix_block.c: validated aggregate arguments ---- */

/* one row of a row-form aggregate (indexes 0-based, sorted, merged) */
typedef struct GlmixUserRow
{
	double		y;
	double		w;
	double		offset;
	int			nnz;
	int32	   *col;			/* 0-based */
	double	   *val;
} GlmixUserRow;

extern MemoryContext glmix_agg_context(FunctionCallInfo fcinfo, const char *fn);
/* y, w, offset, idx int4[], val float8[] from argument argno on */
extern void glmix_user_row(FunctionCallInfo fcinfo, int argno, int dim, GlmixUserRow *row);
/* a block argument, detoasted and 8-byte aligned */
extern bytea *glmix_block_arg(FunctionCallInfo fcinfo, int argno);
/* the offsets of a block's rows from an offsets array argument (NULL: zeros) */
extern double *glmix_block_offsets(FunctionCallInfo fcinfo, int argno, const GlmixBlock *blk);

/* ---- glmix_features.c: the feature encoding (training and serving) ---- */

typedef enum GlmixColumnKind
{
	GLMIX_ONEHOT,				/* text: "col=value" */
	GLMIX_MULTIHOT,				/* text[]: "col=value" for each element */
	GLMIX_NUMERIC				/* numeric: "col", standardised */
} GlmixColumnKind;

/* one feature column of the learners or courses relation */
typedef struct GlmixColumn
{
	char	   *name;
	GlmixColumnKind kind;
	int			start;			/* its features are [start, end) of the side's space */
	int			end;
	double		mean;			/* numeric: value = (x - mean) / sd, NULL = 0 */
	double		sd;
	bool		match_only;		/* read for matches only: no coefficients */
} GlmixColumn;

/* the learners or the courses: each entity's sparse feature vector */
typedef struct GlmixSide
{
	const char *what;			/* "learner" or "course" */
	int			n;				/* rows of the relation */
	int64	   *ids;			/* ascending */
	int32	   *ptr;			/* CSR over the side's feature space */
	int32	   *col;
	double	   *val;
	int			nfeat;
	int			nmodel;			/* features [0, nmodel) are the model's; the
								 * match-only columns' come after them */
	char	  **names;			/* nfeat feature names */
	int			ncols;
	GlmixColumn *cols;
} GlmixSide;

/* a learner-column x course-column block of the fixed design */
/*
 * the feature columns, then the columns read for matches only; idcol is
 * the relation's id column, named by the argument idarg in messages
 */
extern GlmixSide *glmix_read_side(Oid relid, const char *what, const char *idcol, const char *idarg,
								  char **features, int nfeatures, char **match_only,
								  int nmatch_only);
/* the end in col[] of row i's model features (before its match-only ones) */
extern int32 glmix_side_model_end(const GlmixSide *side, int i);
extern int	glmix_side_index(const GlmixSide *side, int64 id);
extern int	glmix_side_column(const GlmixSide *side, const char *name);
/* a column name or value as printed in feature names (quoted when needed) */
extern const char *glmix_feature_name_part(const char *s);
/* every feature value is 1 when no column is numeric */
extern bool glmix_side_binary(const GlmixSide *s);

/* ---- glmix_design.c: the fixed design's layout and rows, the design matrices ---- */

/* a learner-column x course-column block of the fixed design */
typedef struct GlmixCross
{
	int			lcol;			/* index into learners' cols */
	int			ccol;			/* index into courses' cols */
	int			base;			/* first index in the fixed design */
} GlmixCross;

/* a match feature: a learner column compared with a course column */
typedef enum GlmixMatchKind
{
	GLMIX_MATCH_EQUAL,			/* "lcol=ccol": 1 when the values are equal */
	GLMIX_MATCH_OVERLAP			/* "lcol~ccol": shared values, and their Jaccard */
} GlmixMatchKind;

typedef struct GlmixMatch
{
	GlmixMatchKind kind;
	int			lcol;			/* index into learners' cols */
	int			ccol;			/* index into courses' cols */
	int			base;			/* first index in the fixed design (1 or 2 features) */
	int		   *lmap;			/* per feature of lcol: the feature of ccol with the
								 * same value (relative to its start), -1 none */
} GlmixMatch;

/* where the fixed design's parts start; also what scoring needs */
typedef struct GlmixFixedLayout
{
	bool		intercept;
	int			l_base;			/* learner features */
	int			c_base;			/* course features */
	int			ncross;
	GlmixCross *cross;
	int			hash_bits;		/* > 0: the crosses share 2^hash_bits buckets */
	int			hash_base;		/* first bucket in the fixed design */
	uint64	   *lhash;			/* hash of each learner and course feature's name */
	uint64	   *chash;
	int			nmatch;
	GlmixMatch *match;
	char	  **lnames;			/* every learner and course feature's name */
	char	  **cnames;
	int			dim;
} GlmixFixedLayout;

#define GLMIX_MAX_RANDOM 8

/*
 * Random effect re stores keys per row of the learners (learner_side) or
 * courses side: keyed by an attribute of that side
 */
#define GLMIX_SIDE_KEYED(re, on_learners) \
	(!(re)->by_id && !(re)->context && (re)->learner_side == (on_learners))

/* a random-effect coordinate */
typedef struct GlmixRandom
{
	char	   *column;			/* learner_id, course_id, segment, ... */
	bool		learner_side;	/* keyed by a learner (design: course features) */
	bool		by_id;			/* keyed by the id itself, not an attribute */
	bool		context;		/* keyed by a column of the impressions (a channel):
								 * learner_side is true, the design is the course's
								 * features, serving takes the key from a context */
	bool		intercept;
	double		l2;
	int			dim;			/* intercept + the other side's features */
	int			nent;			/* distinct keys */
	char	  **keys;			/* entity keys as text */
	int		   *side_entity;	/* entity of each side row, -1 none (serving: every effect;
								 * training: attribute-keyed effects only) */
} GlmixRandom;

/* rows of impressions with dense indexes */
typedef struct GlmixRows
{
	int64		n;
	double	   *y;
	double	   *w;
	int64	   *learner_id;
	int64	   *course_id;
	int		   *li;				/* index into the learners side, -1 unknown */
	int		   *ci;				/* index into the courses side, -1 unknown */
	int64		n_positive;
	int64		n_watch_weighted;
	/* per random effect keyed by an impressions column: each row's value (-1 NULL) */
	int32	   *ctx[GLMIX_MAX_RANDOM];
	char	  **ctx_values[GLMIX_MAX_RANDOM];	/* distinct values, ascending (strcmp) */
	int			ctx_nvalues[GLMIX_MAX_RANDOM];
	/* rows the reader skipped (NULL ids, NULL labels), as train_blend counts them */
	int64		null_id;
	int64		null_label;
	int64		bad_time;
	int64		after_through;
	double		t_max;			/* latest time of a row; NaN: no time column */
} GlmixRows;

/* CSR design matrices over rows */
typedef struct GlmixDesign
{
	int64		n;
	int			dim;
	int32	   *ptr;
	int32	   *col;
	double	   *val;			/* NULL: every value is 1 */
	int32		row_max;		/* fixed design: the largest row's length bound */
} GlmixDesign;

/* the fixed design's layout from the sides and the cross list */
extern void glmix_fixed_layout(GlmixFixedLayout *lay, bool intercept,
							   const GlmixSide *learners, const GlmixSide *courses);
extern char *glmix_fixed_feature_name(const GlmixFixedLayout *lay, const GlmixSide *learners,
									  const GlmixSide *courses, int j);
/* one fixed-design row from a learner and a course vector (either may be -1) */
extern int	glmix_fixed_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
							const GlmixSide *courses, int li, int ci,
							int32 *col, double *val);
extern GlmixDesign *glmix_fixed_design(const GlmixFixedLayout *lay, const GlmixSide *learners,
									   const GlmixSide *courses, const GlmixRows *rows);
/*
 * Whether every value of x(l, c) is 1: no numeric column, no hashing (a
 * bucket can be hit twice), no overlap match (counts and ratios)
 */
extern bool glmix_fixed_binary(const GlmixFixedLayout *lay, const GlmixSide *learners,
							   const GlmixSide *courses);
/* per-entity design: [1] + the other side's vector */
extern GlmixDesign *glmix_random_design(const GlmixRandom *re, const GlmixSide *other,
										const int *other_index, int64 n);
extern void glmix_free_design(GlmixDesign *d);
/*
 * Scores without a design (the Citus path frees its designs once their
 * blocks are on the workers): out[r] = x(l_r, c_r) . beta, each row built
 * by glmix_fixed_row() into buffers of row_max entries; and a random
 * effect's z_r . coef[ent[r]] from the other side's vector.  The same
 * arithmetic, in the same order, as glmix_design_scores() on the designs.
 */
extern void glmix_fixed_scores(const GlmixFixedLayout *lay, const GlmixSide *learners,
							   const GlmixSide *courses, const GlmixRows *rows, int32 row_max,
							   const double *beta, double *out);
extern void glmix_random_scores(const GlmixRandom *re, const GlmixSide *other,
								const int *other_index, const int *ent, int64 n,
								const double *coef, double *out);

/* ---- glmix_match.c: match features ---- */

/* the features one match adds to x(l, c): 1 (equal) or 2 (overlap: count, Jaccard) */
#define GLMIX_MATCH_WIDTH(kind) ((kind) == GLMIX_MATCH_EQUAL ? 1 : 2)

/*
 * Split "lcol<op>ccol" at an operator of ops (":", "=", "~") such that both
 * halves name feature columns of their side; false if no split does.
 */
extern bool glmix_split_spec(const char *spec, const char *ops, const GlmixSide *learners,
							 const GlmixSide *courses, char *op, int *lcol, int *ccol);
/* NULL, or why a match of these columns' kinds cannot be computed */
extern const char *glmix_match_incompatible(GlmixMatchKind kind, const GlmixSide *learners,
											int lcol, const GlmixSide *courses, int ccol);
/* the spec as stored: "lcol=ccol" or "lcol~ccol" */
extern char *glmix_match_spec(const GlmixMatch *mt, const GlmixSide *learners,
							  const GlmixSide *courses);
/*
 * The per-model tables of matches (value maps) and hashed crosses (name
 * hashes), from the sides' feature names: training and serving both call it
 */
extern void glmix_fixed_prepare(GlmixFixedLayout *lay, const GlmixSide *learners,
								const GlmixSide *courses, char **lnames, char **cnames);
/* the match features of x(l, c), appended at col/val; with col NULL an upper bound */
extern int	glmix_match_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
							const GlmixSide *courses, int li, int ci, int32 *col, double *val);
extern char *glmix_match_feature_name(const GlmixFixedLayout *lay, const GlmixSide *learners,
									  const GlmixSide *courses, int j);
/*
 * Feature j of x(l, c) in words for explain ("skills overlap 3 of 4"), or
 * NULL when j is not a match feature or a hashed bucket
 */
extern char *glmix_fixed_feature_words(const GlmixFixedLayout *lay, const GlmixSide *learners,
									   const GlmixSide *courses, int li, int ci, int j);
/*
 * Serving: every feature name of a side, from the fixed effect's names (the
 * model's features) and the match-only columns' stored names
 */
extern char **glmix_side_names(const GlmixSide *side, char **fixed_names);

/* ---- glmix_hash.c: hashed crosses ---- */

#define GLMIX_MAX_HASH_BITS 16

/* a feature name's hash (64-bit FNV-1a: the same on every platform) */
extern uint64 glmix_name_hash(const char *name);

/*
 * glmix_sample.c: an entity's max_rows sample, the same on one node and on
 * the workers: its random stream (seed, the coordinate's position, the
 * entity's key), then rows[0..cnt) reordered so rows[0..max_rows) is the
 * sample, ascending (rows index lid, cid, y, w: the canonical order)
 */
extern uint64 glmix_sample_seed(int64 seed, int serial, const char *key);
extern void glmix_sample_entity(int64 *rows, int64 cnt, int max_rows, uint64 stream,
								const int64 *lid, const int64 *cid, const double *y, const double *w);
/* the bucket (0 .. 2^bits - 1) of the cross of two features */
extern int	glmix_cross_bucket(uint64 lhash, uint64 chash, int bits);
/* the hashed crosses of x(l, c), sorted, a bucket hit twice summed; col NULL: a bound */
extern int	glmix_hash_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
						   const GlmixSide *courses, int li, int ci, int32 *col, double *val);

/* ---- glmix_work.c: the work relations ---- */

extern char *glmix_work_table(const char *kind, int serial, bool with_entity,
							  bool parallel);
extern Oid	glmix_work_oid(const char *name);
/* an unlogged table co-located with the impressions, distributed by keycol */
extern void glmix_work_colocated(const char *name, const char *columns, const char *storage,
								 Oid impressions, const char *keycol);

typedef struct GlmixWorkWriter GlmixWorkWriter;
extern GlmixWorkWriter *glmix_work_open(Oid relid);
extern GlmixWorkWriter *glmix_work_open_distributed(const char *name);
extern void glmix_work_put(GlmixWorkWriter *w, int entity, bytea *block);
extern void glmix_work_close(GlmixWorkWriter *w);

/* ---- glmix_citus.c: work relations on a Citus cluster ---- */

/*
 * A distributed work relation, (key, block_no, block), and its argument
 * relation, (key, block_no, offsets, start), co-located with it: each
 * block's slice of the offsets (and for a random effect its entity's
 * starting coefficients), rewritten before each fit of the coordinate
 */
typedef struct GlmixCitusWork
{
	char	   *args;			/* the argument relation */
	SPIPlanPtr	put;			/* its INSERT */
	int			nblocks;
	int			cap;
	int32	   *key;			/* each block's key (part or entity) */
	int64	   *first;			/* its first row id (a block's row ids are consecutive) */
	int32	   *nrows;
	/* random effects: the training row of each row id; NULL: row ids are training rows */
	int64	   *order;
	int64		norder;
} GlmixCitusWork;

/* a distributed work table keyed by keycol, NULL when recs is not writable */
extern char *glmix_citus_work_table(const char *kind, int serial, const char *keycol, int shards,
									GlmixCitusWork *cw);
/* one key per shard of a table distributed by an integer column */
extern int	glmix_citus_shard_keys(const char *table, int shards, int32 **keys);
/* remember where a block went */
extern void glmix_citus_note_block(GlmixCitusWork *cw, int32 key, int64 first, int nrows);
/*
 * Rewrite the argument relation: each block's offsets (indexed by training
 * row) and, for a random effect (coef not NULL), its entity's coefficients
 */
extern void glmix_citus_put_args(GlmixCitusWork *cw, const double *offsets, const double *coef,
								 int dim);
/* Citus's DDL propagation off for the transaction (l2_auto's views), and back */
extern char *glmix_citus_ddl_local(void);
extern void glmix_citus_ddl_restore(char *prev);

/* ---- glmix_train.c: the options, and the state the phases share ---- */

typedef struct GlmixReadOptions
{
	const char *learner_column;
	const char *course_column;
	const char *label;			/* clicked | bookmarked | either */
	const char *click_column;
	const char *bookmark_column;
	const char *seconds_column;
	const char *weight_column;	/* NULL: none */
	const char *weighting;		/* none | watch_time */
	const char *time_column;	/* NULL: none (no shown_at, no time_column) */
	double		through;		/* NaN: none; else rows shown up to it */
} GlmixReadOptions;

/* train_glmix's arguments, checked */
typedef struct GlmixOptions
{
	Oid			impressions;
	Oid			learners;
	Oid			courses;
	/*
	 * The learners' and courses' id columns (learners_id_column,
	 * courses_id_column; default: the impressions' learner_column and
	 * course_column) and the argument that named them, for messages
	 */
	const char *learners_id_column;
	const char *learners_id_arg;
	const char *courses_id_column;
	const char *courses_id_arg;
	Oid			validation;		/* InvalidOid: none */
	char	  **lfeat;
	int			nlfeat;
	char	  **cfeat;
	int			ncfeat;
	char	   *name;
	GlmixReadOptions ro;
	int			passes;
	char	  **recols;
	int			nrecols;
	int			min_rows;
	int			max_rows;		/* 0: no cap */
	int64		seed;
	int			threads;
	int			hash_bits;		/* 0: crosses not hashed */
	char	  **lmatch;			/* columns read for matches only */
	int			nlmatch;
	char	  **cmatch;
	int			ncmatch;
	bool		activate;
	const char *solver;			/* auto | newton | tron */
	bool		l2_auto;		/* choose l2 per coordinate on a validation slice */
	char	   *l2_search;		/* the search's figures (JSON), for the metrics */
	double		l2[1 + GLMIX_MAX_RANDOM];
	bool		intercept[1 + GLMIX_MAX_RANDOM];
	/*
	 * The l2 search's split on the flat Citus path (glmix_flat_l2auto.c):
	 * the cutoff (the time column's text); the validation slice is the
	 * impressions from it on, scored on the workers.  NULL: none.
	 */
	const char *l2_cutoff;
} GlmixOptions;

/* the objective and validation figures after each pass */
typedef struct GlmixPassLog
{
	double		objective;
	double		vauc;
	double		vll;
} GlmixPassLog;

/* one random-effect coordinate during training */
typedef struct GlmixCoordinate
{
	GlmixRandom *re;
	int		   *row_ent;		/* entity of each training row, -1 none */
	int		   *val_ent;		/* entity of each validation row */
	GlmixDesign *Z;
	GlmixDesign *Zv;
	double	   *coef;			/* nent x dim */
	int		   *rows;			/* active rows per entity, 0 = no model */
	int			nmodels;
	char	   *work;
	int			nblocks;
	SPIPlanPtr	plan;
	double	   *score;
	double	   *vscore;
	int64	   *sorted_ids;		/* by-id coordinates: the distinct ids */
	GlmixCitusWork citus;		/* on Citus: its blocks and argument relation */
} GlmixCoordinate;

/* a flat Citus training's work relations and plans (glmix_flat.c) */
typedef struct GlmixFlatWork GlmixFlatWork;

/* one training: data, designs, the fixed effect and the random effects */
typedef struct GlmixTraining
{
	GlmixSide  *learners;
	GlmixSide  *courses;
	GlmixRows  *rows;
	GlmixRows  *vrows;			/* validation, or NULL */
	GlmixFixedLayout lay;
	GlmixDesign *X;
	GlmixDesign *Xv;
	double		l2_fixed;
	double	   *beta;
	double	   *score;
	double	   *vscore;
	char	   *work;
	int			nblocks;
	SPIPlanPtr	plan;
	int			nre;
	GlmixCoordinate *co;
	bool		quiet;			/* no per-pass NOTICEs (the l2 search's fits) */
	bool		tron;			/* the fixed effect's solver: TRON, else dense Newton */
	int64		fixed_nnz;		/* nonzeros of the fixed design */
	int			fixed_passes;	/* aggregate passes of the fixed effect (all passes) */
	int			tron_iterations;	/* totals over the passes, for the metrics */
	int			tron_cg_steps;
	/* on Citus (glmix_citus.c): the work relations' shards; 0: local ones */
	int			citus_shards;
	int32		fixed_row_max;	/* on Citus, X freed: its largest row (glmix_fixed_scores) */
	GlmixCitusWork citus;		/* the fixed effect's blocks and argument relation */
	/*
	 * A flat Citus training (glmix_flat.c), NULL otherwise: rows then holds
	 * the counts only, no per-row arrays
	 */
	GlmixFlatWork *flat;
	/* scratch for the Newton loop (H and L: dense Newton only) */
	double	   *tron_work;
	double	   *g,
			   *H,
			   *L,
			   *step,
			   *cand;
} GlmixTraining;


/* ---- glmix_data.c: phase 1, the data and the designs ---- */

/*
 * Bytes a training holds per impression besides the designs' nonzeros: the
 * row arrays (label, weight, ids, side indexes: 40), the fixed effect's
 * scores and the offsets with their array copy (24), the designs' row
 * pointers, with room to spare.  Each random effect adds GLMIX_RE_ROW_BYTES
 * (its row entities, scores and design row pointers).
 */
#define GLMIX_ROW_BYTES 100.0

/*
 * solver => 'auto' takes dense Newton up to this many fixed-effect features
 * and TRON above (measured: docs/glmix.md, "The fixed effect's solver");
 * the dense aggregate stops at 8192 features.
 */
#define GLMIX_NEWTON_MAX_DIM 2048
#define GLMIX_DENSE_MAX_DIM 8192
#define GLMIX_RE_ROW_BYTES 16.0

/* the sides, the impressions and the validation rows */
extern void glmix_read_data(GlmixTraining *t, const GlmixOptions *o);
/* the validation relation's rows into t->vrows (none: NULL) */
extern void glmix_read_validation(GlmixTraining *t, const GlmixOptions *o);
/* the fixed layout (t->lay.cross set), the designs and the random effects */
extern void glmix_build_designs(GlmixTraining *t, const GlmixOptions *o);
/*
 * An attribute-keyed random effect's keys: each side row's entity in
 * re->side_entity (-1 none), the distinct values (ascending) in re->keys
 */
extern void glmix_read_attribute_keys(Oid relid, const char *idcol, const char *idarg, GlmixSide *side,
									  GlmixRandom *re);
/* a random-effect column keyed by a column of the impressions (a context) */
extern bool glmix_context_column(const GlmixOptions *o, const char *col);

/* "lcol:ccol" pairs of argument argno, or the default crosses (glmix_data.c) */
extern void glmix_parse_crosses(FunctionCallInfo fcinfo, int argno, GlmixTraining *t,
								int hash_bits);

/* ---- glmix_l2auto.c: l2 => auto, the search before the training ---- */

/* choose o->l2[] on a validation slice; fills o->l2_search */
extern void glmix_l2_search(FunctionCallInfo fcinfo, GlmixOptions *o);

/* ---- glmix_stage.c: phase 2, the work relations and their plans ---- */

extern void glmix_stage(GlmixTraining *t, const GlmixOptions *o);

/* ---- glmix_fit.c: phase 3, coordinate descent ---- */

/*
 * The passes; logs each in history[0..passes) and returns the final
 * objective; *vauc and *vll get the validation figures.
 */
/* a pass's NOTICE and history line (glmix_fit.c; the flat path's too) */
extern void glmix_pass_end(const GlmixTraining *t, const GlmixOptions *o, int pass, double obj,
						   double loss, double vauc, double vll, double tp, double t0,
						   GlmixPassLog *history);
extern double glmix_fit(GlmixTraining *t, const GlmixOptions *o, GlmixPassLog *history,
						double *vauc, double *vll);
/* the flat Citus path's fixed effect: Newton or TRON over t->plan, offsets in the tasks */
extern int	glmix_fit_fixed_flat(GlmixTraining *t, const char *label);
/* after the fit: drop the work relations and their plans */
extern void glmix_drop_work(GlmixTraining *t);
/* after the fit: free the designs, scores and row entities */
extern void glmix_release_fit_data(GlmixTraining *t);

/* ---- glmix_serve.c: a trained model, as stored and served ---- */

typedef struct GlmixModel
{
	GlmixSide  *learners;		/* training: every learner; served: columns only,
								 * glmix_model_for_learner() adds the learner */
	GlmixSide  *courses;
	GlmixFixedLayout lay;
	double		l2_fixed;
	double	   *beta;			/* lay.dim */
	int			nre;
	GlmixRandom *re;			/* keys sorted (strcmp) when loaded */
	double	  **coef;			/* per coordinate: nent x dim */
	int		  **rows;			/* per coordinate: active rows of each entity, 0 = no model */
	char	 ***names;			/* loaded models: feature names, [0] fixed, [1+k] effect k */
} GlmixModel;

/* ---- glmix_store.c: phase 4, the model tables ---- */

/*
 * The coefficients, feature names, columns and feature vectors, and in
 * recs.model_learner each training learner with the courses they responded
 * to (positive rows), and their language when the learners relation has a
 * text column "language"
 */
extern void glmix_store_training(int64 model_id, const GlmixTraining *t, const GlmixOptions *o);
/*
 * recs.model_learner's INSERT (learners_rel's language joined when it has
 * one; batched: each statement joins its own learners only), and one batch
 * of it: ids[0..n), learner i's courses courses[ptr[i] .. ptr[i + 1])
 */
extern SPIPlanPtr glmix_learners_plan(Oid learners_rel, const char *learners_id_column,
									  const char *learners_id_arg, bool batched);
extern void glmix_learners_put(SPIPlanPtr plan, int64 model_id, Datum *ids, int n, const Datum *ptr,
							   Datum *courses, int ncourses);

/* ---- glmix_learner.c: the learner's rows of a served model, per call ---- */

struct ModelRow;

/* append a checked recs.glmix_entity row as row i of a side being loaded */
extern void glmix_side_add_entity(GlmixSide *s, const struct ModelRow *row, int i, Datum fd,
								  Datum vd, bool keynull, Datum kd, const GlmixRandom *re,
								  int nre, char ***keys, int64 *cap);
/* the cached model completed with one learner's rows (read through their keys) */
extern const GlmixModel *glmix_model_for_learner(const GlmixModel *m, int64 model_id,
												 int64 learner_id);

/* ---- glmix_serve.c: scoring and the serving routines of GLMix models ---- */

/* logit of (learner, course) with each coordinate's part in parts[0..nre] */
extern double glmix_model_logit(const GlmixModel *m, int64 learner_id, int64 course_id,
								double *parts);

extern const struct ServingKind glmix_kind;

#endif							/* RECS_GLMIX_H */
