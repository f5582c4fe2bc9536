/*
 * blend.h -- the personalised blend of component models (blend_train.c
 * trains it, blend_model.c stores and serves it)
 */
#ifndef RECS_BLEND_H
#define RECS_BLEND_H

#include "postgres.h"

#include "serving.h"

#define BLEND_MAX_COMPONENTS 8
#define BLEND_MAX_EFFECTS 4

typedef struct BlendComponent
{
	ServingModel model;
	bool		logit_of_probability;	/* a GLMix probability enters as its logit */
	double		mean;			/* standardisation over the training rows */
	double		sd;
} BlendComponent;

typedef struct BlendModel
{
	int			ncomponents;
	BlendComponent component[BLEND_MAX_COMPONENTS];
} BlendModel;

extern void blend_store_components(int64 model_id, const BlendModel *bm);
/* recs.model_learner (union of the components') and the learners' effect keys */
extern void blend_store_learners(int64 model_id, const BlendModel *bm, Oid learners,
								 const char *lcol, int neffects, const char **cols);
/* the serving routines of blends (blend_model.c) */
extern const ServingKind blend_kind;

#endif							/* RECS_BLEND_H */
