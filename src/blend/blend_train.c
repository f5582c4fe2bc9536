/*
 * blend_train.c -- recs.train_blend(): a personalised blend of model scores
 *
 * The SQL entry: the arguments are checked (blend_parse_options), the
 * component models opened, then the three steps of every trainer:
 *   data   blend_prepare_rows (blend_data.c): the impressions shown after
 *          the components' training data, each scored by every component;
 *   fit    blend_fit (blend_fit.c): coordinate descent over the global
 *          effect and the random effects (what the blend is: see there);
 *   store  blend_store (blend_store.c): the model row, its parts, metrics.
 *
 * The blend is trained on impressions shown after the components' training
 * data (since defaults to the latest trained_through of the components), so
 * no component has seen the labels the blend learns from.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "blend.h"
#include "glmix.h"
#include "options.h"
#include "model_store.h"
#include "keys.h"
#include "spi_util.h"
#include "serving.h"
#include "timing.h"

static const char *const label_choices[] = {"clicked", "bookmarked", "either"};

/* the random-effect columns (default: the learner column) and their L2 weights */
static void
parse_effects(FunctionCallInfo fcinfo, BlendOptions *o)
{
	if (PG_ARGISNULL(4))
	{
		o->effects[0] = o->lcol;
		o->neffects = 1;
	}
	else
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;

		deconstruct_array(PG_GETARG_ARRAYTYPE_P(4), TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		if (n > BLEND_MAX_EFFECTS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("at most %d random effects, not %d", BLEND_MAX_EFFECTS, n)));
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("random effect names must not be NULL")));
			o->effects[i] = TextDatumGetCString(elems[i]);
		}
		o->neffects = n;
	}
	for (int i = 0; i <= o->neffects; i++)
		o->l2[i] = i == 0 ? 1.0 : 10.0;
	if (!PG_ARGISNULL(7))
	{
		int			n;
		const double *v = glmix_float8_data(PG_GETARG_ARRAYTYPE_P(7), &n, "l2");

		if (n != o->neffects + 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("l2 needs %d values (the global effect, then each random effect), not %d",
							o->neffects + 1, n)));
		for (int i = 0; i < n; i++)
		{
			if (!(v[i] > 0) || !isfinite(v[i]))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("l2 weights must be positive and finite")));
			o->l2[i] = v[i];
		}
	}
}

/* train_blend's arguments, with defaults, checked before any work */
static void
blend_parse_options(FunctionCallInfo fcinfo, BlendOptions *o)
{
	memset(o, 0, sizeof(*o));
	recs_require_arg(fcinfo, 0, "components");
	recs_require_arg(fcinfo, 1, "impressions");
	o->impressions = PG_GETARG_OID(1);
	o->learners = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	o->name = recs_text_arg(fcinfo, 3, "blend");
	o->passes = recs_int_arg(fcinfo, 8, 2, 1, 100, "passes");
	o->activate = recs_bool_arg(fcinfo, 9, true);
	o->lcol = recs_text_arg(fcinfo, 10, "learner_id");
	/* learners_id_column (0.4.0): NULL, the impressions' learner_column */
	o->learners_idcol = recs_text_arg(fcinfo, 18, NULL);
	o->learners_idarg = o->learners_idcol ? "learners_id_column" : "learner_column";
	if (o->learners_idcol == NULL)
		o->learners_idcol = o->lcol;
	o->ccol = recs_text_arg(fcinfo, 11, "course_id");
	o->tcol = recs_text_arg(fcinfo, 12, "shown_at");
	o->clickcol = recs_text_arg(fcinfo, 13, "clicked");
	o->bookcol = recs_text_arg(fcinfo, 14, "bookmarked");
	if (o->name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	o->negatives = recs_int_arg(fcinfo, 15, 0, 0, 100, "negatives");
	o->seed = recs_int64_arg(fcinfo, 16, 42);
	/* rerank_top is new in 0.2.0: a 0.1.0 definition passes 17 arguments */
	o->rerank_top = (PG_NARGS() <= 17 || PG_ARGISNULL(17)) ? 0 : PG_GETARG_INT32(17);
	if (o->rerank_top < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rerank_top must be 0 (rank the whole catalogue) or positive, not %d",
						o->rerank_top)));
	/* the label matters for impressions only: watches (negatives > 0) are positives */
	if (o->negatives > 0)
		o->label = recs_text_arg(fcinfo, 6, "clicked");
	else
		(void) recs_choice_arg(fcinfo, 6, "clicked", label_choices, lengthof(label_choices),
							   "label", &o->label);
	parse_effects(fcinfo, o);
}

/*
 * The component models, checked, into bm; since defaults to the latest
 * trained_through among them (everything when none has one).
 */
static void
open_components(FunctionCallInfo fcinfo, BlendOptions *o, BlendModel *bm)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	if (n < 1 || n > BLEND_MAX_COMPONENTS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a blend needs 1 to %d component models, not %d", BLEND_MAX_COMPONENTS, n)));
	memset(bm, 0, sizeof(*bm));
	bm->ncomponents = n;
	o->trained_through = -INFINITY;
	for (int j = 0; j < n; j++)
	{
		BlendComponent *c = &bm->component[j];
		Oid			types[1] = {INT8OID};
		bool		isnull;
		int			rc;

		if (nulls[j])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("component model ids must not be NULL")));
		/* keyed as the impressions are: checked once they are read */
		serving_model_any_ids(DatumGetInt64(elems[j]), &c->model);
		if (c->model.routine->blend_transform == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("recs model " INT64_FORMAT " is a blend; blends of blends are not supported",
							c->model.model_id)));
		for (int i = 0; i < j; i++)
			if (bm->component[i].model.model_id == c->model.model_id)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("recs model " INT64_FORMAT " is named twice", c->model.model_id)));
		c->logit_of_probability = strcmp(c->model.routine->blend_transform, "logit") == 0;
		rc = SPI_execute_with_args("SELECT date_part('epoch', trained_through) FROM recs.model WHERE model_id = $1",
								   1, types, &elems[j], NULL, true, 1);
		if (rc == SPI_OK_SELECT && SPI_processed == 1)
		{
			Datum		tt = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				o->trained_through = Max(o->trained_through, DatumGetFloat8(tt));
		}
	}
	o->since = PG_ARGISNULL(5) ? o->trained_through : recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(5));
	if (o->since == INFINITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("since must be a finite timestamp or -infinity"),
				 errdetail("The blend trains on the impressions shown after since.")));
	if (!isfinite(o->since))
		o->since = -INFINITY;	/* no component has a trained_through: everything */
}

PG_FUNCTION_INFO_V1(train_blend);
Datum
train_blend(PG_FUNCTION_ARGS)
{
	double		started = recs_clock_seconds();
	BlendOptions o;
	BlendModel	bm;
	BlendRows	rows;
	BlendEffect effects[BLEND_MAX_EFFECTS];
	double		global[BLEND_MAX_COMPONENTS + 1] = {0};
	double	   *margin;
	int			spi_level;
	int64		model_id;

	blend_parse_options(fcinfo, &o);
	spi_level = recs_spi_connect();
	keys_begin();
	open_components(fcinfo, &o, &bm);

	blend_prepare_rows(&o, &bm, &rows, effects);
	for (int j = 0; j < bm.ncomponents; j++)
		serving_check_key_types(&bm.component[j].model, keys_training_type(RECS_SIDE_LEARNER),
								keys_training_type(RECS_SIDE_COURSE), "the impressions relation");
	margin = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(rows.n, 1));
	blend_fit(&rows, bm.ncomponents + 1, effects, o.neffects, o.l2, o.passes, global, margin);
	model_id = blend_store(&o, &bm, &rows, effects, global, margin, started);

	if (o.activate)
		model_store_activate(model_id, "default");
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}
