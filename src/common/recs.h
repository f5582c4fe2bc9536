/*
 * recs.h -- declarations shared by every part of the recs extension
 *
 * The shape of the extension (see README, "Architecture"):
 *   user tables --(SPI, as invoker)--> ingest --> trainers --> model store
 *   model store --> serving cache --> recommend() and friends
 * This header holds the glue that every trainer and server goes through:
 * reading user relations (spi_util.c) and writing models (model_store.c).
 * The ingest readers have headers of their own (watches.h, impressions.h),
 * as do the entry points' helpers (options.h, json_out.h, timing.h).
 */
#ifndef RECS_H
#define RECS_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

/* ---- spi_util.c: safe SQL against user relations ---- */

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
 * SPI_execute_with_args for a fixed query of recs' own tables, run many times
 * per backend (serving): the plan is prepared on first use into *plan and
 * kept (the plan cache revalidates it after DDL or a search_path change).
 */
/*
 * A read-only, forward-only cursor over sql, for reading a relation once in
 * batches; *est_rows is the planner's row count (for a budget's hint only).
 */
extern Portal recs_open_read_cursor(const char *sql, int nargs, Oid *types, Datum *values,
									double *est_rows);
extern int	recs_execute_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs,
								   Oid *types, Datum *values, long count);

/* ---- sorted ids (src/ingest/watches.c) ---- */
/* qsort comparators for int64 and int32 */
extern int	recs_int64_cmp(const void *a, const void *b);
extern int	recs_int32_cmp(const void *a, const void *b);
/* index of key in the ascending array a[0..n), or -1 */
extern int	recs_find_int64(const int64 *a, int n, int64 key);

/* ---- model_store.c: the recs.model catalog ---- */

/*
 * Insert the catalog row of a new model version (next version for name),
 * serialising concurrent trainings of one name.  Returns the model id.
 */
extern int64 model_store_create(const char *name, const char *kind,
								const char *source_json, const char *params_json,
								double trained_through);
extern void model_store_set_metrics(int64 model_id, const char *metrics_json);
extern void model_store_activate(int64 model_id, const char *slot);

/* ---- memory_budget.c: recs.memory_limit ---- */
extern void recs_define_memory_guc(void);
extern Size recs_memory_budget(void);
/* error with a hint when an allocation estimate exceeds the budget */
extern void recs_check_memory(double bytes, const char *what);
/* the same for a step of a growing allocation, `full` the whole job's estimate */
extern void recs_check_memory_growth(double bytes, double full, const char *what);

/* ---- time helpers ---- */
extern double recs_timestamptz_to_epoch(TimestampTz ts);
extern TimestampTz recs_epoch_to_timestamptz(double epoch);

#endif							/* RECS_H */
