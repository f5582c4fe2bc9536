/*
 * blend.h -- the personalised blend of component models
 *
 * blend_train.c is the SQL entry (options, then data -> fit -> store);
 * blend_data.c builds the training rows (impressions, sampled negatives,
 * component scores, effect groups); blend_fit.c fits them (no SPI);
 * blend_store.c writes the model; blend_serve.c serves it.
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

/* train_blend's arguments, checked (blend_train.c) */
typedef struct BlendOptions
{
	Oid			impressions;
	Oid			learners;		/* InvalidOid: none */
	char	   *name;
	char	   *label;			/* clicked | bookmarked | either */
	int			passes;
	bool		activate;
	char	   *lcol;
	const char *learners_idcol; /* the learners relation's id column: */
	const char *learners_idarg; /* learners_id_column, or lcol (learner_column) */
	char	   *ccol;
	char	   *tcol;
	char	   *clickcol;
	char	   *bookcol;
	int			negatives;		/* > 0: the rows are watches, negatives sampled */
	int64		seed;
	int			rerank_top;
	int			neffects;
	char	   *effects[BLEND_MAX_EFFECTS];
	double		l2[1 + BLEND_MAX_EFFECTS];
	double		since;			/* train on rows shown after this */
	double		trained_through;	/* latest of the components' (-inf: none) */
} BlendOptions;

/* the training rows: one per impression (and sampled negative) */
typedef struct BlendRows
{
	int64		n;
	int64		nlearners;		/* distinct learners of the rows read */
	int64	   *learner;
	int64	   *course;
	double	   *y;
	double	   *w;
	double	   *z;				/* n x dim, row-major, z[r*dim] = 1 */
	/* the reader's counts: rows read after since, and skipped */
	int64		read;
	int64		null_id;
	int64		null_label;
	int64		bad_time;
} BlendRows;

/* one random-effect coordinate: rows grouped by entity */
typedef struct BlendEffect
{
	char	   *column;
	int			nentities;
	char	  **key;			/* entity keys, sorted */
	int64	   *order;			/* row indexes grouped by entity */
	int64	   *start;			/* nentities + 1 */
	double	   *coef;			/* nentities x dim */
	double	   *score;			/* per row: this effect's current contribution */
} BlendEffect;

/* ---- blend_data.c: the training rows (SPI and the serving paths) ---- */
/* the components loaded and the rows read, scored, standardised and grouped */
extern void blend_prepare_rows(const BlendOptions *o, BlendModel *bm, BlendRows *rows,
							   BlendEffect *effects);

/* ---- blend_fit.c: numerics, no SPI ---- */
/* a component's score as a feature: a probability on the logit scale */
extern double blend_component_feature(const BlendComponent *c, double s);
/* each component's mean and sd over the rows; z standardised, unscored at 0 */
extern void blend_standardise(BlendModel *bm, BlendRows *rows);
/* error unless the rows have both labels */
extern void blend_check_labels(const BlendRows *rows);
/* a ranking blend's rows reordered: each learner's positives, then their negatives */
extern void blend_group_negatives(BlendRows *rows, int64 npositive, int negatives);
/* eff's entities and row order from each row's key (NULL: no entity) */
extern void blend_group_rows(BlendEffect *eff, const BlendRows *rows, char **rowkey);
/* coordinate descent: global (dim) and every effect's coef; margin per row */
extern void blend_fit(const BlendRows *rows, int dim, BlendEffect *effects, int neffects,
					  const double *l2, int passes, double *global, double *margin);
/* the weighted log-loss of the rows at the margins */
extern double blend_total_loss(const BlendRows *rows, const double *margin);

/* ---- blend_store.c: the model tables ---- */
/* the catalog row, components, coefficients, learners and metrics; the model id */
extern int64 blend_store(const BlendOptions *o, const BlendModel *bm, const BlendRows *rows,
						 const BlendEffect *effects, const double *global,
						 const double *margin, double started);
/* the serving routines of blends (blend_serve.c) */
extern const ServingKind blend_kind;

#endif							/* RECS_BLEND_H */
