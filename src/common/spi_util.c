/*
 * spi_util.c -- reading and writing relations through SPI, safely
 *
 * Trainers take user relations as regclass and column names as text.  Every
 * name that reaches SQL goes through quote_identifier() or
 * quote_qualified_identifier(); values always travel as parameters.  The
 * functions run as the invoker, so the caller's privileges and row-level
 * security apply to everything read here.
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "spi_util.h"

#define INSERT_BATCH_ROWS 20000

/*
 * The search_path of every statement recs runs.  pg_catalog first and
 * pg_temp last, as PostgreSQL's guidance for SECURITY DEFINER functions and
 * extension scripts asks: no schema a user can create objects in is searched
 * for functions, operators or types, so no look-alike planted in the
 * caller's path runs inside a training or serving call (the CVE-2018-1058
 * class).  recs' own objects are always named with their schema, and user
 * relations arrive as regclass, resolved in the caller's path before the call.
 */
#define RECS_SEARCH_PATH "pg_catalog, pg_temp"

int
recs_spi_connect(void)
{
	int			level;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	level = NewGUCNestLevel();
	(void) set_config_option("search_path", RECS_SEARCH_PATH, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return level;
}

void
recs_spi_finish(int level)
{
	AtEOXact_GUC(true, level);
	SPI_finish();
}

char *
recs_relation_name(Oid relid)
{
	char	   *relname = get_rel_name(relid);
	char	   *nspname;
	char		relkind;

	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	relkind = get_rel_relkind(relid);
	if (relkind != RELKIND_RELATION && relkind != RELKIND_VIEW &&
		relkind != RELKIND_MATVIEW && relkind != RELKIND_FOREIGN_TABLE &&
		relkind != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a table or view", relname),
				 errhint("Pass a table, view, materialized view or foreign table.")));
	nspname = get_namespace_name(get_rel_namespace(relid));
	return quote_qualified_identifier(nspname, relname);
}

Oid
recs_check_column(Oid relid, const char *colname, const char *argname,
				  const Oid *accepted, int naccepted)
{
	AttrNumber	attnum;
	Oid			type;

	if (colname == NULL || colname[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name a column", argname)));
	attnum = get_attnum(relid, colname);
	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" does not exist in relation %s",
						colname, recs_relation_name(relid)),
				 errhint("Name the column to use with the %s argument.", argname)));
	type = get_atttype(relid, attnum);
	if (naccepted == 0)
		return type;
	for (int i = 0; i < naccepted; i++)
		if (accepted[i] == type)
			return type;
	{
		StringInfoData names;

		initStringInfo(&names);
		for (int i = 0; i < naccepted; i++)
			appendStringInfo(&names, "%s%s", i ? ", " : "", format_type_be(accepted[i]));
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation %s has type %s",
						colname, recs_relation_name(relid), format_type_be(type)),
				 errdetail("%s must name a column of type %s.", argname, names.data),
				 errhint("Cast it in a view and pass the view instead.")));
	}
	return InvalidOid;			/* not reached */
}

int64 *
recs_spi_int64_column(int *n)
{
	int64	   *ids;

	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return ids;
}

void
recs_insert_columns(const char *sql, int ncols, const Oid *types,
					Datum *const *values, const bool *const *nulls, int64 nrows)
{
	Oid		   *argtypes = palloc(sizeof(Oid) * ncols);
	int16	   *typlen = palloc(sizeof(int16) * ncols);
	bool	   *typbyval = palloc(sizeof(bool) * ncols);
	char	   *typalign = palloc(sizeof(char) * ncols);
	Datum	   *args = palloc(sizeof(Datum) * ncols);
	SPIPlanPtr	plan;
	MemoryContext batchcxt;
	MemoryContext oldcxt;

	for (int c = 0; c < ncols; c++)
	{
		argtypes[c] = get_array_type(types[c]);
		if (!OidIsValid(argtypes[c]))
			elog(ERROR, "type %u has no array type", types[c]);
		get_typlenbyvalalign(types[c], &typlen[c], &typbyval[c], &typalign[c]);
	}
	plan = SPI_prepare(sql, ncols, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));

	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "recs insert batch",
									 ALLOCSET_DEFAULT_SIZES);
	for (int64 start = 0; start < nrows; start += INSERT_BATCH_ROWS)
	{
		int			n = (int) Min((int64) INSERT_BATCH_ROWS, nrows - start);
		int			dims[1] = {n};
		int			lbs[1] = {1};
		int			rc;

		CHECK_FOR_INTERRUPTS();
		oldcxt = MemoryContextSwitchTo(batchcxt);
		for (int c = 0; c < ncols; c++)
			args[c] = PointerGetDatum(construct_md_array(values[c] + start,
														 nulls && nulls[c] ? (bool *) nulls[c] + start : NULL,
														 1, dims, lbs, types[c],
														 typlen[c], typbyval[c], typalign[c]));
		MemoryContextSwitchTo(oldcxt);
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT && rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "bulk insert failed: %s", SPI_result_code_string(rc));
		MemoryContextReset(batchcxt);
	}
	SPI_freeplan(plan);
	MemoryContextDelete(batchcxt);
}

/*
 * Open a forward-only cursor over sql for reading a relation once in
 * batches (SPI_cursor_fetch; close with SPI_cursor_close).  *est_rows is the
 * planner's row count: for a memory budget's hint only, never to size
 * arrays.  Not SPI's read-only mode: the query must see the keys a training
 * has just added to recs.id_key (keys.c).
 */
Portal
recs_open_read_cursor(const char *sql, int nargs, Oid *types, Datum *values, double *est_rows)
{
	Portal		portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values, NULL,
												   false, CURSOR_OPT_NO_SCROLL);

	*est_rows = 0;
	if (list_length(portal->stmts) == 1 && IsA(linitial(portal->stmts), PlannedStmt))
		*est_rows = linitial_node(PlannedStmt, portal->stmts)->planTree->plan_rows;
	return portal;
}

/*
 * Unix seconds of a timestamptz, bit for bit what date_part('epoch', ts)
 * gives -- the expression training reads times with (ingest_time_column)
 * -- so that a time compared with a bound passed as an argument is never
 * off by a rounding.  The infinities stay infinite (they are INT64 extremes
 * inside, which would otherwise read as dates 292,000 years away), so that
 * callers' isfinite() checks see them.
 */
double
recs_timestamptz_to_epoch(TimestampTz ts)
{
	Timestamp	epoch = SetEpochTimestamp();
	int64		usecs;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		return -INFINITY;
	if (TIMESTAMP_IS_NOEND(ts))
		return INFINITY;
	/* microseconds since 1970 (exact), then one rounding, as date_part does */
	if (!pg_sub_s64_overflow(ts, epoch, &usecs))
		return (double) usecs / USECS_PER_SEC;
	return ((double) ts - (double) epoch) / USECS_PER_SEC;
}

/* the inverse; beyond timestamptz's range (or NaN) it gives -infinity or infinity */
TimestampTz
recs_epoch_to_timestamptz(double epoch)
{
	double		usecs = (epoch - (double) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
		* USECS_PER_SEC;
	TimestampTz ts;

	if (isnan(usecs) || usecs < (double) MIN_TIMESTAMP)
		TIMESTAMP_NOBEGIN(ts);
	else if (usecs >= (double) END_TIMESTAMP)
		TIMESTAMP_NOEND(ts);
	else
		ts = (TimestampTz) rint(usecs);	/* the nearest microsecond: exact for the above */
	return ts;
}
