/*
 * serving_model.c -- what a serving call resolves first: the model (by id
 * or by deployment slot) with its kind's routines, and the learner's stored
 * state
 *
 * Each is one unique-index lookup (serving_rows.c) under the statement's
 * snapshot: an activation, a dropped model or a restored dump is seen by
 * the next call after commit, and a call reads one consistent state.  A
 * serving function names its model by id (model =>) or by deployment slot
 * (slot =>), never both: serving_model_arg is the one rule for all.  The
 * cache key of a model is its cache_token; a catalog not yet updated from
 * 0.1.0 or 0.2.0 has none, and the row's xmin keys the cache as it did.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "keys.h"
#include "serving.h"
#include "serving_check.h"
#include "serving_rows.h"

void
serving_model_by_id(int64 model_id, ServingModel *out)
{
	serving_model_any_ids(model_id, out);
	serving_check_ids(out);
}

void
serving_model_any_ids(int64 model_id, ServingModel *out)
{
	static const char *const cols[4] = {"kind", "cache_token", "learner_key", "course_key"};
	ServingKey	key = {"model_id", INT8OID, Int64GetDatum(model_id)};
	Datum		values[4];
	bool		nulls[4];
	TransactionId xmin;
	char	   *kind;

	if (!serving_fetch_row("model", 1, &key, 4, cols, values, nulls, &xmin))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("recs model " INT64_FORMAT " does not exist", model_id),
				 errhint("SELECT * FROM recs.models lists the trained models.")));
	kind = TextDatumGetCString(values[0]);
	out->model_id = model_id;
	out->stamp = nulls[1] ? (uint64) xmin : (uint64) DatumGetInt64(values[1]);
	strlcpy(out->kind, kind, sizeof(out->kind));
	/* a catalog before 0.4.0 has no key columns: bigint ids */
	out->learner_key = nulls[2] ? RECS_KEY_INTEGER : keys_type_by_name(TextDatumGetCString(values[2]));
	out->course_key = nulls[3] ? RECS_KEY_INTEGER : keys_type_by_name(TextDatumGetCString(values[3]));
	out->routine = serving_kind_by_name(kind);
	if (out->routine == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("recs model " INT64_FORMAT " is of unknown kind \"%s\"", model_id, kind)));
}

void
serving_active_model(const char *slot, ServingModel *out)
{
	serving_active_model_any_ids(slot, out);
	serving_check_ids(out);
}

void
serving_active_model_any_ids(const char *slot, ServingModel *out)
{
	static const char *const cols[1] = {"model_id"};
	ServingKey	key = {"slot", TEXTOID, CStringGetTextDatum(slot)};
	Datum		values[1];
	bool		nulls[1];

	if (!serving_fetch_row("deployment", 1, &key, 1, cols, values, nulls, NULL))
	{
		if (strcmp(slot, "default") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("no recs model is active in slot \"%s\"", slot),
					 errhint("Train one, e.g. SELECT recs.train_popularity('my.watches', 'my.learners'), "
							 "or activate one with recs.activate(model_id).")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no recs model is active in slot \"%s\"", slot),
				 errhint("recs.activate(model_id, '%s') deploys a model there; "
						 "SELECT * FROM recs.models lists the slots each model serves.", slot)));
	}
	serving_model_any_ids(DatumGetInt64(values[0]), out);
}

/*
 * serving_model_arg and its keyed form: check_ids false for the uuid and
 * text functions, which map their keys to the model's dictionary ids
 */
static bool
resolve_model_arg(FunctionCallInfo fcinfo, int model_arg, int slot_arg, bool default_slot, bool check_ids,
		  ServingModel *out)
{
	bool		has_model = !PG_ARGISNULL(model_arg);
	bool		has_slot = slot_arg < PG_NARGS() && !PG_ARGISNULL(slot_arg);

	if (has_model && has_slot)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model and slot must not both be given"),
				 errdetail("model => " INT64_FORMAT " names a model, slot => '%s' the deployment slot whose model serves.",
						   PG_GETARG_INT64(model_arg), text_to_cstring(PG_GETARG_TEXT_PP(slot_arg))),
				 errhint("Pass one of them.")));
	if (has_model)
		serving_model_any_ids(PG_GETARG_INT64(model_arg), out);
	else if (has_slot)
		serving_active_model_any_ids(text_to_cstring(PG_GETARG_TEXT_PP(slot_arg)), out);
	else if (default_slot)
		serving_active_model_any_ids("default", out);
	else
		return false;
	if (check_ids)
		serving_check_ids(out);
	return true;
}

bool
serving_model_arg(FunctionCallInfo fcinfo, int model_arg, int slot_arg, bool default_slot,
				  ServingModel *out)
{
	return resolve_model_arg(fcinfo, model_arg, slot_arg, default_slot, true, out);
}

bool
serving_model_arg_any_ids(FunctionCallInfo fcinfo, int model_arg, int slot_arg, bool default_slot,
						  ServingModel *out)
{
	return resolve_model_arg(fcinfo, model_arg, slot_arg, default_slot, false, out);
}

/*
 * A learner's stored state (recs.model_learner), read per call.  Validated:
 * watched is a one-dimensional array without NULLs; its course ids need
 * not be in the model (serving looks each one up).
 */
void
serving_learner(const ServingModel *m, int64 learner_id, ServingLearner *out)
{
	static const char *const cols[2] = {"language", "watched"};
	ServingKey	keys[2] = {{"model_id", INT8OID, Int64GetDatum(m->model_id)},
	{"learner_id", INT8OID, Int64GetDatum(learner_id)}};
	Datum		values[2];
	bool		nulls[2];
	ArrayType  *arr;
	ModelRow	row = MODEL_ROW(m->model_id, "recs.model_learner");

	memset(out, 0, sizeof(*out));
	out->learner_id = learner_id;
	if (!serving_fetch_row("model_learner", 2, keys, 2, cols, values, nulls, NULL))
		return;
	out->known = true;
	out->language = nulls[0] ? NULL : TextDatumGetCString(values[0]);
	model_row_key_int(&row, 0, "learner_id", learner_id);
	if (nulls[1])
		model_row_corrupt(&row, "watched is NULL");
	arr = DatumGetArrayTypeP(values[1]);
	check_model_array(&row, "watched", arr, INT8OID, -1, NULL);
	out->nwatched = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
	out->watched = palloc(sizeof(int64) * Max(out->nwatched, 1));
	if (out->nwatched > 0)
		memcpy(out->watched, ARR_DATA_PTR(arr), sizeof(int64) * out->nwatched);
}
