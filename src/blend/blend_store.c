/*
 * blend_store.c -- writing a trained blend to the model tables
 *
 * One recs.model row (source: the impressions and the components; params:
 * the options as trained; metrics: what was read, skipped and used, the
 * training fit and time), then its parts: recs.blend_component (each
 * component with the standardisation it was trained with), recs.blend_coef
 * (the global coefficients, then every entity's, exact to the last bit),
 * recs.model_learner (the union of the components' learners) and
 * recs.blend_learner (the learners' keys of effects by a learners column).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "blend.h"
#include "glmix.h"
#include "json_out.h"
#include "model_store.h"
#include "keys.h"
#include "spi_util.h"
#include "timing.h"

static void
store_components(int64 model_id, const BlendModel *bm)
{
	for (int j = 0; j < bm->ncomponents; j++)
	{
		Oid			types[6] = {INT8OID, INT4OID, INT8OID, TEXTOID, FLOAT8OID, FLOAT8OID};
		Datum		values[6] = {
			Int64GetDatum(model_id), Int32GetDatum(j + 1),
			Int64GetDatum(bm->component[j].model.model_id),
			CStringGetTextDatum(bm->component[j].logit_of_probability ? "logit" : "identity"),
			Float8GetDatum(bm->component[j].mean), Float8GetDatum(bm->component[j].sd)
		};
		int			rc = SPI_execute_with_args("INSERT INTO recs.blend_component "
											   "VALUES ($1, $2, $3, $4, $5, $6)",
											   6, types, values, NULL, false, 0);

		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not store blend components: %s", SPI_result_code_string(rc));
	}
}

static void
store_learners(int64 model_id, const BlendModel *bm, const BlendOptions *o, const char **cols)
{
	Oid			types[3] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID};
	Datum		values[3];
	Datum	   *ids = palloc(sizeof(Datum) * bm->ncomponents);
	Datum	   *watch_ids = palloc(sizeof(Datum) * bm->ncomponents);
	int			nwatch = 0;
	int			rc;
	KeysFrom	from;
	StringInfoData sql;
	bool		keyed = false;
	Oid			learners = o->learners;
	const char *lcol = o->lcol;
	const char *idcol = o->learners_idcol;
	int			neffects = o->neffects;

	for (int j = 0; j < bm->ncomponents; j++)
	{
		ids[j] = Int64GetDatum(bm->component[j].model.model_id);
		/* GLMix keeps the courses a learner responded to, not watches */
		if (bm->component[j].model.routine->history_is_watches)
			watch_ids[nwatch++] = ids[j];
	}
	if (nwatch == 0)
	{
		memcpy(watch_ids, ids, sizeof(Datum) * bm->ncomponents);
		nwatch = bm->ncomponents;
	}
	values[0] = Int64GetDatum(model_id);
	values[1] = PointerGetDatum(construct_array(ids, bm->ncomponents, INT8OID, 8, true, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(watch_ids, nwatch, INT8OID, 8, true, TYPALIGN_DOUBLE));

	/*
	 * A learner: known to any component; their language from any; their
	 * watched courses from the components that learn from watches (all of
	 * them when none does).
	 */
	rc = SPI_execute_with_args("INSERT INTO recs.model_learner (model_id, learner_id, language, watched) "
							   "SELECT $1, m.learner_id, "
							   "(array_agg(m.language) FILTER (WHERE m.language IS NOT NULL))[1], "
							   "ARRAY(SELECT DISTINCT e FROM recs.model_learner m2, unnest(m2.watched) e "
							   "      WHERE m2.learner_id = m.learner_id AND m2.model_id = ANY ($3) ORDER BY e) "
							   "FROM recs.model_learner m WHERE m.model_id = ANY ($2) GROUP BY m.learner_id",
							   3, types, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store blend learners: %s", SPI_result_code_string(rc));

	/* keys of the effects that are not keyed by the learner id */
	if (!OidIsValid(learners))
		return;
	keys_from_init(&from, learners);
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO recs.blend_learner (model_id, learner_id, keys) "
					 "SELECT DISTINCT ON (2) $1, %s, ARRAY[",
					 keys_id(&from, idcol, o->learners_idarg, RECS_SIDE_LEARNER));
	for (int i = 0; i < neffects; i++)
	{
		if (strcmp(cols[i], lcol) == 0)
			appendStringInfo(&sql, "%sNULL::text", i ? ", " : "");
		else
		{
			appendStringInfo(&sql, "%s%s::text", i ? ", " : "", quote_identifier(cols[i]));
			keyed = true;
		}
	}
	if (!keyed)
		return;
	appendStringInfo(&sql, "] FROM %s WHERE %s IS NOT NULL ORDER BY 2",
					 keys_from(&from), quote_identifier(idcol));
	rc = SPI_execute_with_args(sql.data, 1, types, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store blend learner keys: %s", SPI_result_code_string(rc));
}

/* a float8[] literal of v[0..n), exact to the last bit */
static Datum
coefs_text(const double *v, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	for (int j = 0; j < n; j++)
		appendStringInfo(&buf, "%s%.17g", j ? "," : "", v[j]);
	appendStringInfoChar(&buf, '}');
	return CStringGetTextDatum(buf.data);
}

/* recs.blend_coef: the global coefficients, then each effect's entities */
static void
store_coefs(int64 model_id, int dim, const double *global, const BlendEffect *effects,
			int neffects)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	int64		ncoef = 1;
	Datum	   *mid;
	Datum	   *coord;
	Datum	   *ent;
	bool	   *entnull;
	Datum	   *coefs;
	int64		k = 0;

	for (int i = 0; i < neffects; i++)
		ncoef += effects[i].nentities;
	mid = palloc(sizeof(Datum) * ncoef);
	coord = palloc(sizeof(Datum) * ncoef);
	ent = palloc(sizeof(Datum) * ncoef);
	entnull = palloc0(sizeof(bool) * ncoef);
	coefs = palloc(sizeof(Datum) * ncoef);

	mid[k] = Int64GetDatum(model_id);
	coord[k] = CStringGetTextDatum("global");
	entnull[k] = true;
	ent[k] = (Datum) 0;
	coefs[k] = coefs_text(global, dim);
	k++;
	for (int i = 0; i < neffects; i++)
		for (int e = 0; e < effects[i].nentities; e++)
		{
			mid[k] = Int64GetDatum(model_id);
			coord[k] = CStringGetTextDatum(effects[i].column);
			ent[k] = CStringGetTextDatum(effects[i].key[e]);
			coefs[k] = coefs_text(&effects[i].coef[(Size) e * dim], dim);
			k++;
		}
	{
		Datum	   *vals[4] = {mid, coord, ent, coefs};
		const bool *nulls[4] = {NULL, NULL, entnull, NULL};

		recs_insert_columns("INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs) "
							"SELECT a, b, c, d::float8[] FROM unnest($1, $2, $3, $4) AS u(a, b, c, d)",
							4, types, vals, nulls, k);
	}
}

/* the options as trained, for recs.model.params */
static char *
params_json(const BlendOptions *o)
{
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "learner_column", o->lcol);
	json_out_string(&j, "label", o->label);
	json_out_int(&j, "passes", o->passes);
	json_out_int(&j, "negatives", o->negatives);
	json_out_int(&j, "rerank_top", o->rerank_top);
	json_out_string(&j, "since", isfinite(o->since) ?
					timestamptz_to_str(recs_epoch_to_timestamptz(o->since)) : "-infinity");
	json_out_array(&j, "random_effects");
	for (int i = 0; i < o->neffects; i++)
		json_out_string(&j, NULL, o->effects[i]);
	json_out_end(&j);
	json_out_numbers(&j, "l2", o->l2, o->neffects + 1, "%g");
	return json_out_finish(&j);
}

int64
blend_store(const BlendOptions *o, const BlendModel *bm, const BlendRows *rows,
			const BlendEffect *effects, const double *global, const double *margin,
			double started)
{
	int			dim = bm->ncomponents + 1;
	int64		model_id;
	JsonOut		j;

	json_out_begin(&j);
	json_out_string(&j, "impressions", recs_relation_name(o->impressions));
	json_out_array(&j, "components");
	for (int c = 0; c < bm->ncomponents; c++)
		json_out_int(&j, NULL, bm->component[c].model.model_id);
	model_id = model_store_create(o->name, "blend", json_out_finish(&j), params_json(o),
								  isfinite(o->trained_through) ? o->trained_through : 0);
	store_components(model_id, bm);
	store_coefs(model_id, dim, global, effects, o->neffects);
	{
		const char *cols[BLEND_MAX_EFFECTS];

		for (int i = 0; i < o->neffects; i++)
			cols[i] = effects[i].column;
		store_learners(model_id, bm, o, cols);
	}

	json_out_begin(&j);
	json_out_int(&j, "impressions_read", rows->read);
	json_out_object(&j, "skipped");
	json_out_int(&j, "null_id", rows->null_id);
	json_out_int(&j, "null_label", rows->null_label);
	json_out_int(&j, "bad_time", rows->bad_time);
	json_out_end(&j);
	json_out_int(&j, "impressions_used", rows->n);
	json_out_number(&j, "train_logloss", blend_total_loss(rows, margin) / rows->n, "%.6f");
	json_out_number(&j, "train_auc", glmix_auc(rows->n, margin, rows->y), "%.6f");
	json_out_number(&j, "seconds", recs_clock_seconds() - started, "%.3f");
	json_out_numbers(&j, "global", global, dim, "%.6f");
	model_store_set_metrics(model_id, json_out_finish(&j));
	return model_id;
}
