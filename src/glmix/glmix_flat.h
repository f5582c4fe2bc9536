/*
 * glmix_flat.h -- GLMix on a Citus cluster with a flat coordinator: the
 * blocks built, the offsets computed and the metrics summed on the workers
 *
 *   glmix_flat.c      the coordinator: when the path applies, the work
 *                     relations, the passes, the store
 *   glmix_flat_enc.c  the encoding sent to the workers once
 *   glmix_agg_flat.c  what runs in the shards' tasks: the block builder,
 *                     block scores, and the summing aggregates
 *   glmix_flat_course.c       the per-course (or course-attribute) effect:
 *                             its rows repartitioned by key each visit
 *   glmix_agg_flat_course.c   its rows and scores, built in the tasks
 *   glmix_flat_segment.c      an effect keyed by a learner attribute:
 *                             per-key sufficient statistics
 *   glmix_flat_keyed.c        Newton per key here, for it and a channel
 *   glmix_agg_flat_segment.c  its aggregate, in the tasks
 *   glmix_flat_cap.c          max_rows on the course-side effect: the
 *                             samples drawn on the workers once
 *   glmix_agg_flat_cap.c      its functions, in the tasks
 *   glmix_flat_channel.c      an effect keyed by an impressions column (a
 *                             channel): the same statistics, a key per row
 *   glmix_agg_flat_channel.c  its aggregate and rows' scores, in the tasks
 *   glmix_flat_l2auto.c       l2_auto's split by time, pushed down
 *   glmix_flat_valid_workers.c  validation rows scored on the workers
 *   glmix_agg_flat_valid.c    their scores, labels and log-loss, in the tasks
 */
#ifndef RECS_GLMIX_FLAT_H
#define RECS_GLMIX_FLAT_H

#include "glmix.h"

/* what a worker needs to build a learner's blocks (glmix_flat_enc.c) */
typedef struct GlmixFlatEnc
{
	GlmixFixedLayout lay;		/* intercept, bases, crosses (hashed or not), matches, dim */
	GlmixSide  *learners;		/* ids, ptr, col, val, nfeat, nmodel, cols' ranges */
	GlmixSide  *courses;
	bool		learner_effect;	/* a random effect keyed by learner_id */
	bool		re_intercept;
	int			re_dim;
	int			min_rows;
	int			nlabels;		/* 0: every row a positive; 1 or 2 (OR-ed) */
	bool		has_time;
	bool		course_effect;	/* a random effect keyed by course_id: each block's
								 * rows' course ids beside it */
	double		through;		/* NaN: none */
	int			weights;		/* GLMIX_FLAT_WEIGHT_* bits: which weights the rows carry */
	int			max_rows;		/* the learner effect's cap (0: none), sampled as one node
								 * does with the seed and the coordinate's position */
	int			re_serial;
	int64		seed;
} GlmixFlatEnc;

#define GLMIX_FLAT_WEIGHT_SECONDS 1	/* positives by watch time (weighting => 'watch_time') */
#define GLMIX_FLAT_WEIGHT_COLUMN 2	/* the weight column */

/*
 * One course-side effect of a flat training (glmix_flat_course.c): keyed by
 * the course column or a course attribute; a model has any number of them,
 * each with its own relations and plans
 */
typedef struct GlmixFlatCourse
{
	int			co;				/* its coordinate */
	const char *alias;			/* its scores' alias in the statements ("cs", "cs2", ...) */
	char	   *s;				/* its scores beside each block, co-located with w */
	char	   *r;				/* its rows, repartitioned by key each visit */
	char	   *k;				/* its coefficients, co-located with r */
	SPIPlanPtr	crows;			/* INSERT INTO r ... SELECT (repartitioned) */
	SPIPlanPtr	cfit;			/* UPDATE k from GROUP BY key over r */
	SPIPlanPtr	cscore;			/* UPDATE s */
	int			nk;				/* keys with a model (rows of k) */
	int64	   *cids;			/* their keys, ascending: a course id, or an
								 * attribute value's index */
	int		   *cent;			/* the entity of each */
	double	   *ccoef;			/* their coefficients, nk x dim: the statements' parameter */
	int64	   *cids_of_entity;	/* keyed by course id: each entity's */
	Datum		map_ids;		/* keyed by a course attribute: the courses with a value */
	Datum		map_keys;		/* (int8[], ascending) and its index; 0: keyed by the id */
	/* max_rows on the effect (glmix_flat_cap.c) */
	int64	   *ccnt;			/* each entity's rows, before the cap */
	char	   *m;				/* each block's weights for its rows; NULL: no key capped */
} GlmixFlatCourse;

/*
 * One effect keyed by a learner attribute (glmix_flat_segment.c); a model
 * has any number of them, their design z(c) the learner effect's
 */
typedef struct GlmixFlatSeg
{
	int			co;				/* its coordinate */
	const char *alias;			/* its relation's alias in the statements ("g", "g2", ...) */
	char	   *g;				/* each learner's key and its key's coefficients */
	SPIPlanPtr	sstats;			/* the per-key statistics at given coefficients */
	SPIPlanPtr	sscore;			/* UPDATE g: the keys' coefficients */
	int			bdim;			/* the twin blocks' z(c) dimension: dim, or dim + 1 for
								 * an effect without an intercept beside one with */
	int			shift;			/* bdim - dim: its columns' offset in the blocks */
	double	   *bcoef;			/* nent x bdim: its coefficients in the blocks' columns
								 * (the intercept's held at 0); the coordinate's own
								 * coef when shift is 0 */
	bool	   *seen;			/* nent x bdim: the columns each key's rows store */
} GlmixFlatSeg;

/* the work of a flat training (glmix_flat.c; the course effects': glmix_flat_course.c) */
struct GlmixFlatWork
{
	char	   *w;				/* blocks: recs.glmix_work_<pid>_flat */
	char	   *c;				/* learner coefficients */
	char	   *l;				/* learner feature vectors */
	SPIPlanPtr	loss;
	SPIPlanPtr	refit;			/* the learner effect's UPDATE */
	int64		learners;		/* learners with rows */
	char	   *jit;			/* the session's jit, set back after the passes */
	int32		valid_row_max;	/* the validation rows' longest fixed row (0: not yet) */
	int			lk;				/* the coordinate keyed by the learner column, -1 none */
	int			ck;				/* the first coordinate keyed by the course column or a
								 * course attribute, -1 none */
	int			ncourse;		/* the course-side effects, in coordinate order */
	GlmixFlatCourse *course;
	int			sk;				/* the first coordinate keyed by a learner attribute, -1 none */
	int			nseg;			/* the learner-attribute effects, in coordinate order */
	GlmixFlatSeg *seg;
	const char *lcoef;			/* the learner coefficients plus the segments', for the
								 * course rows ("c.coef" without a segment) */
	const char *gjoin;			/* the segments' joins ("" without) */
	/* an effect keyed by an impressions column, a channel (glmix_flat_channel.c) */
	int			hk;				/* its coordinate, -1 none */
	char	   *h;				/* each block's rows' channel scores, co-located with w */
	Datum		hvalues;		/* the column's distinct values (text[], ascending bytewise) */
	int			hnkeys;			/* how many */
	SPIPlanPtr	hstats;			/* the per-key statistics at given coefficients */
	SPIPlanPtr	hscore;			/* UPDATE h: the rows' scores */
	bool	   *hseen;			/* nkeys x dim: the columns each key's rows store */
	const char *hjoin;			/* h's join ("" without) */
	/* validation rows scored on the workers (glmix_flat_valid_workers.c) */
	Oid			vrel;			/* their relation (InvalidOid: read here, glmix_flat_valid.c) */
	const char *vwhere;			/* the rows of it that validate ("": all) */
	char	   *v;				/* their blocks, co-located with w */
	SPIPlanPtr	vbins;			/* the per-pass histogram of scores by label */
	SPIPlanPtr	vties;			/* its mixed buckets' scores, for the exact AUC */
	double		vbound;			/* the largest AUC error bound reported (0: exact so far) */
	int			vnparams;		/* the plans' parameters: 2 + 4 a course-side effect */
	int			zk;				/* the coordinate whose z(c) the learner-effect blocks carry, -1 none */
};

/* the course-side effect of coordinate k, NULL if none */
static inline GlmixFlatCourse *
glmix_flat_course_of(const GlmixTraining *t, int k)
{
	for (int i = 0; i < t->flat->ncourse; i++)
		if (t->flat->course[i].co == k)
			return &t->flat->course[i];
	return NULL;
}

/* the learner-attribute effect of coordinate k, NULL if none */
static inline GlmixFlatSeg *
glmix_flat_seg_of(const GlmixTraining *t, int k)
{
	for (int i = 0; i < t->flat->nseg; i++)
		if (t->flat->seg[i].co == k)
			return &t->flat->seg[i];
	return NULL;
}

/* recs.glmix_flat: take the flat path when it applies (default on) */
extern void glmix_flat_define_guc(void);

extern bytea *glmix_flat_encode(const GlmixFlatEnc *e);
extern GlmixFlatEnc *glmix_flat_decode(bytea *b);

/*
 * Whether train_glmix takes the flat path for these options (impressions
 * distributed by the learner column, and only what the path implements);
 * *why says why not, for DEBUG1.
 */
extern bool glmix_flat_wanted(const GlmixOptions *o, const char **why);
/*
 * The flat training's phases, in place of read/stage/fit: false when it
 * turns out not to apply after the sides and crosses are read (then t is
 * reset and the caller takes the usual path)
 */
extern bool glmix_flat_prepare(FunctionCallInfo fcinfo, GlmixTraining *t, const GlmixOptions *o);
extern void glmix_flat_stage(GlmixTraining *t, const GlmixOptions *o);
extern double glmix_flat_fit(GlmixTraining *t, const GlmixOptions *o, GlmixPassLog *history,
							 double *vauc, double *vll);
/* the validation AUC and log-loss after a pass (glmix_flat_valid.c) */
extern void glmix_flat_validation(GlmixTraining *t, double *auc, double *logloss);
extern void glmix_flat_collect(GlmixTraining *t);
extern void glmix_flat_store_learners(int64 model_id, GlmixTraining *t, const GlmixOptions *o);
extern void glmix_flat_drop(GlmixTraining *t);

/*
 * A course-side effect on the flat path (glmix_flat_course.c): its relations,
 * entities and plans after the blocks are built (others, ojoin: the other
 * course-side effects' scores' expression and join, NULL and "" without);
 * one coordinate visit (the rows repartitioned by course, fitted there, the
 * scores put back beside the blocks); its relations dropped
 */
extern void glmix_flat_course_create(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *cf, int nth);
extern void glmix_flat_course_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *cf,
									const char *others, const char *ojoin);
extern void glmix_flat_course_fit(GlmixTraining *t, GlmixFlatCourse *cf);
extern void glmix_flat_course_drop(GlmixTraining *t, GlmixFlatCourse *cf);

/*
 * An effect keyed by a learner attribute on the flat path
 * (glmix_flat_segment.c): its keys beside the learners, its rows counted and
 * plans (cexpr, cjoin: the course scores' and the other segments' joins;
 * lcoef: the learner coefficients plus the other segments'); one visit
 * (glmix_flat_keyed.c's Newton; returns the aggregate passes)
 */
extern void glmix_flat_segment_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatSeg *sf,
									 const char *ltype, const char *cexpr, const char *cjoin,
									 const char *lcoef);
extern int	glmix_flat_segment_fit(GlmixTraining *t, GlmixFlatSeg *sf);
extern void glmix_flat_segment_drop(GlmixTraining *t, GlmixFlatSeg *sf);

/*
 * An effect keyed by a learner attribute or an impressions column
 * (glmix_flat_keyed.c): doubles per key in its statistics; its keys' rows
 * counted (sql: key int4, rows int8) into c->rows and c->nmodels; one visit,
 * Newton per key (stats: one aggregate pass, $1 beta, $2 the keys'
 * coefficients nent x d, $3 nent; coef: nent x d, the blocks' z(c) columns,
 * updated in place; the first shift columns held at 0; seen: nent x d, the
 * columns each key's rows store, kept across visits; returns the passes);
 * the penalty's sum of squares of a random effect's coefficients (nent x
 * dim: any effect's, the course-side ones' too)
 */
extern Size glmix_flat_keyed_per(int d);
extern void glmix_flat_keyed_rows(GlmixCoordinate *c, const GlmixOptions *o, const char *sql);
extern int	glmix_flat_keyed_fit(GlmixTraining *t, const GlmixCoordinate *c, SPIPlanPtr stats,
								 double *coef, int d, int shift, bool *seen);
extern double glmix_flat_keyed_sumsq(const GlmixCoordinate *c);

/*
 * max_rows on a course-side effect (glmix_flat_cap.c): the capped keys'
 * samples drawn on the workers, each block's weights for its rows (cf->m);
 * its relation dropped
 */
extern void glmix_flat_cap_stage(GlmixTraining *t, const GlmixOptions *o, GlmixFlatCourse *cf);
extern void glmix_flat_cap_drop(GlmixFlatCourse *cf);

/*
 * The per-key sums of an effect keyed by a learner attribute or by an
 * impressions column (glmix_agg_flat_segment.c, glmix_agg_flat_channel.c):
 * a bytea state, per key rows, weight, loss, gradient, packed Hessian and
 * each column's count of stored nonzeros
 */
#define GLMIX_FLAT_ENT_MAX_DIM 1024	/* as recs.glmix_entity_fit */
#define GLMIX_FLAT_MAX_KEYS 65536

typedef struct FlatEntSum
{
	int32		vl_len_;
	uint32		magic;
	int32		nkeys;
	int32		dim;
	int32		per;			/* doubles per key */
	int32		pad;
	double		sum[FLEXIBLE_ARRAY_MEMBER];
} FlatEntSum;

/* a state argument checked (NULL: none); the state to add into */
extern FlatEntSum *glmix_flat_ent_arg(FunctionCallInfo fcinfo, int argno);
extern FlatEntSum *glmix_flat_ent_writable(FunctionCallInfo fcinfo, FlatEntSum *s, int nkeys, int dim);
/* an int4[] of one key per row, n of them (NULL elements: -1) */
extern int32 *glmix_flat_row_keys_arg(FunctionCallInfo fcinfo, int argno, int n);

/*
 * An effect keyed by a column of the impressions (a channel) on the flat
 * path (glmix_flat_channel.c): its distinct values (false: too many for the
 * path); its score relation before the course effect's plans; its rows
 * counted and plans (lexpr: the learner-side coefficients' expression,
 * ljoin, cexpr and cjoin: the other scores' expression and joins); one visit
 * (glmix_flat_keyed.c's Newton; returns the aggregate passes); the
 * validation rows' scores
 */
extern bool glmix_flat_channel_read(GlmixTraining *t, const GlmixOptions *o);
extern void glmix_flat_channel_create(GlmixTraining *t, const GlmixOptions *o, const char *ltype);
extern void glmix_flat_channel_stage(GlmixTraining *t, const GlmixOptions *o, const char *lexpr,
									 const char *ljoin, const char *cexpr, const char *cjoin);
extern int	glmix_flat_channel_fit(GlmixTraining *t);
extern void glmix_flat_channel_valid_scores(const GlmixTraining *t, double *out);
extern void glmix_flat_channel_drop(GlmixTraining *t);

/*
 * l2_auto's cutoff of distributed impressions, exactly percentile_disc(0.9)
 * of the time column, by pushed-down statements (glmix_flat_l2auto.c); NULL
 * when the column's type or the cutoff keeps the views.  *epoch: its epoch
 * seconds.
 */
extern char *glmix_flat_l2_cutoff(const GlmixOptions *o, double *epoch);

/*
 * Validation rows scored on the workers (glmix_flat_valid_workers.c): whether
 * o's validation rows take that path (the l2 search's slice of the
 * impressions, or a validation relation distributed by the learner column
 * co-located with them), and then t->vrows holds their counts only; their
 * blocks built after the training's; the AUC and log-loss after a pass;
 * their relation dropped
 */
extern bool glmix_flat_valid_workers_wanted(GlmixTraining *t, const GlmixOptions *o);
extern void glmix_flat_valid_workers_stage(GlmixTraining *t, const GlmixOptions *o, const char *ltype);
extern void glmix_flat_valid_workers(GlmixTraining *t, double *auc, double *logloss);
extern void glmix_flat_valid_workers_drop(GlmixTraining *t);

/* the validation scores' histogram: the logit clamped to +-32 in 65536 buckets */
#define GLMIX_VALID_BUCKETS 65536
#define GLMIX_VALID_LOGIT 32.0

/* the worker-side helpers that glmix_agg_flat_course.c shares (glmix_agg_flat.c) */
extern void glmix_flat_block_scores(const GlmixBlock *blk, const double *coef, double *out);

/*
 * Add a block's per-row scores of other coordinates (argument argno, a
 * float8[] of one value per row, finite; NULL or argno < 0: none) to
 * o[0..n) (glmix_agg_flat.c)
 */
extern void glmix_flat_add_row_scores(FunctionCallInfo fcinfo, int argno, int n, double *o);
extern const double *glmix_flat_coef_arg(FunctionCallInfo fcinfo, int argno, int dim, const char *what);
extern double *glmix_flat_twin_offsets(FunctionCallInfo fcinfo, int rargno, int cargno, int sargno,
									   const GlmixBlock *fblk);

#endif							/* RECS_GLMIX_FLAT_H */
