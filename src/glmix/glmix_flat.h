/*
 * glmix_flat.h -- GLMix on a Citus cluster with a flat coordinator: the
 * blocks built, the offsets computed and the metrics summed on the workers
 *
 *   glmix_flat.c      the coordinator: when the path applies, the work
 *                     relations, the passes, the store
 *   glmix_flat_enc.c  the encoding sent to the workers once
 *   glmix_agg_flat.c  what runs in the shards' tasks: the block builder,
 *                     block scores, and the summing aggregates
 */
#ifndef RECS_GLMIX_FLAT_H
#define RECS_GLMIX_FLAT_H

#include "glmix.h"

/* what a worker needs to build a learner's blocks (glmix_flat_enc.c) */
typedef struct GlmixFlatEnc
{
	GlmixFixedLayout lay;		/* intercept, bases, crosses, dim: no hashing, no matches */
	GlmixSide  *learners;		/* ids, ptr, col, val, nfeat, nmodel, cols' ranges */
	GlmixSide  *courses;
	bool		learner_effect;	/* a random effect keyed by learner_id */
	bool		re_intercept;
	int			re_dim;
	int			min_rows;
	int			nlabels;		/* 0: every row a positive; 1 or 2 (OR-ed) */
	bool		has_time;
	double		through;		/* NaN: none */
	int			weights;		/* GLMIX_FLAT_WEIGHT_* bits: which weights the rows carry */
} GlmixFlatEnc;

#define GLMIX_FLAT_WEIGHT_SECONDS 1	/* positives by watch time (weighting => 'watch_time') */
#define GLMIX_FLAT_WEIGHT_COLUMN 2	/* the weight column */

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
extern double glmix_flat_fit(GlmixTraining *t, const GlmixOptions *o, GlmixPassLog *history);
extern void glmix_flat_collect(GlmixTraining *t);
extern void glmix_flat_store_learners(int64 model_id, GlmixTraining *t, const GlmixOptions *o);
extern void glmix_flat_drop(GlmixTraining *t);

#endif							/* RECS_GLMIX_FLAT_H */
