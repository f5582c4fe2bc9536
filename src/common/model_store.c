/*
 * model_store.c -- writing the recs.model catalog
 *
 * A training runs in the caller's transaction: it inserts its catalog row
 * here, writes its parts into the recs.* part tables, and only then (if
 * asked) points a deployment slot at it.  An error or a cancel anywhere
 * rolls all of it back, so the previously committed model keeps serving,
 * and readers see the new model only once the transaction commits.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "model_store.h"
#include "keys.h"
#include "spi_util.h"

int64
model_store_create(const char *name, const char *kind, const char *source_json,
				   const char *params_json, double trained_through)
{
	/* $1 name, $2 kind (then the version), $3 through, $4 source, $5 params, $6 kind, $7-8 key types */
	Oid			types[8] = {TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	RecsKeyType lkey = keys_training_type(RECS_SIDE_LEARNER);
	RecsKeyType ckey = keys_training_type(RECS_SIDE_COURSE);
	bool		isnull;
	int			rc;

	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(kind);

	/* one training per name at a time: the second waits, then gets version+1 */
	rc = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock("
							   "pg_catalog.hashtext('recs.model:' || $1))",
							   1, types, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not lock model name: %s", SPI_result_code_string(rc));

	rc = SPI_execute_with_args("SELECT kind FROM recs.model WHERE name = $1 AND kind <> $2 LIMIT 1",
							   2, types, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed > 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("model name \"%s\" is already used by a %s model", name,
						SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1)),
				 errhint("Choose another name, or drop the other model's versions with recs.drop_model().")));

	/* NaN: the end of the training data is not known */
	if (isnan(trained_through) || isinf(trained_through))
		nulls[2] = 'n';
	else
		values[2] = TimestampTzGetDatum(recs_epoch_to_timestamptz(trained_through));
	values[3] = CStringGetTextDatum(source_json ? source_json : "{}");
	values[4] = CStringGetTextDatum(params_json ? params_json : "{}");
	values[5] = CStringGetTextDatum(kind);
	values[6] = CStringGetTextDatum(keys_type_name(lkey));
	values[7] = CStringGetTextDatum(keys_type_name(ckey));

	/*
	 * The version first, then the row by VALUES: not one INSERT ... SELECT
	 * with parameters, whose plan Citus, once recs.citus_setup made
	 * recs.model a reference table, cannot rebuild without their values when
	 * auto_explain logs it ("could not create distributed plan"; README
	 * "Scaling out with Citus").  The name's lock above keeps the version
	 * ours.
	 */
	rc = SPI_execute_with_args("SELECT COALESCE(max(version), 0) + 1 FROM recs.model WHERE name = $1",
							   1, types, values, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	types[1] = INT4OID;
	SPI_freetuptable(SPI_tuptable);
	/* key types only when not integers: a catalog before 0.4.0 has no such columns */
	if (lkey == RECS_KEY_INTEGER && ckey == RECS_KEY_INTEGER)
		rc = SPI_execute_with_args("INSERT INTO recs.model "
								   "(name, version, trained_through, source, params, kind) "
								   "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6) "
								   "RETURNING model_id",
								   6, types, values, nulls, false, 0);
	else
		rc = SPI_execute_with_args("INSERT INTO recs.model "
								   "(name, version, trained_through, source, params, kind, "
								   "learner_key, course_key) "
								   "VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6, $7, $8) "
								   "RETURNING model_id",
								   8, types, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert into recs.model: %s", SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

void
model_store_set_metrics(int64 model_id, const char *metrics_json)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(model_id), CStringGetTextDatum(metrics_json)};
	int			rc;

	rc = SPI_execute_with_args("UPDATE recs.model SET metrics = metrics || $2::jsonb "
							   "WHERE model_id = $1",
							   2, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "could not update recs.model: %s", SPI_result_code_string(rc));
}

void
model_store_activate(int64 model_id, const char *slot)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(model_id), CStringGetTextDatum(slot)};
	int			rc;

	rc = SPI_execute_with_args("SELECT recs.activate($1, $2)",
							   2, types, values, NULL, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not activate model: %s", SPI_result_code_string(rc));
}
