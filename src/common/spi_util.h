/*
 * spi_util.h -- reading and writing relations through SPI, safely, with
 * recs' search_path; and unix-second conversions of timestamps
 */
#ifndef RECS_SPI_UTIL_H
#define RECS_SPI_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/timestamp.h"


/*
 * SPI_connect, then search_path = pg_catalog, pg_temp until recs_spi_finish
 * (given what recs_spi_connect returned): every SQL-callable function that
 * runs SQL brackets it with these, so no object in a schema of the caller's
 * path can stand in for a built-in function, operator or type.  An error
 * unwinds both with the (sub)transaction.
 */
extern int	recs_spi_connect(void);
extern void recs_spi_finish(int level);

/* "schema"."table" for a relation oid, quoted; errors if it does not exist */
extern char *recs_relation_name(Oid relid);

/*
 * Check that relation relid has column colname (a user-supplied name, never
 * spliced unquoted) and that its type is one of the accepted types; returns
 * the column's type.  Raises a clear error naming the argument otherwise.
 */
extern Oid	recs_check_column(Oid relid, const char *colname, const char *argname,
							  const Oid *accepted, int naccepted);

/*
 * Bulk-insert rows given as parallel arrays: runs "sql" (which must read
 * its columns from unnest($1, $2, ...)) once per batch of nrows.  types[i]
 * are the element types, values[i] the element arrays (Datum per row).
 */
extern void recs_insert_columns(const char *sql, int ncols, const Oid *types,
								Datum *const *values, const bool *const *nulls,
								int64 nrows);

/*
 * The first column (bigint, no NULLs) of the last SPI result as a palloc'd
 * array in the current memory context; *n its length.  Frees the result.
 */
extern int64 *recs_spi_int64_column(int *n);

/*
 * A read-only, forward-only cursor over sql, for reading a relation once in
 * batches; *est_rows is the planner's row count (for a budget's hint only).
 */
extern Portal recs_open_read_cursor(const char *sql, int nargs, Oid *types, Datum *values,
									double *est_rows);

/* timestamps as unix seconds, bit for bit date_part('epoch', ...) */
extern double recs_timestamptz_to_epoch(TimestampTz ts);
extern TimestampTz recs_epoch_to_timestamptz(double epoch);

#endif							/* RECS_SPI_UTIL_H */
