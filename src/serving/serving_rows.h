/*
 * serving_rows.h -- one row of a recs table by its unique key, without SQL
 *
 * recommend() reads a few rows per call (the deployment, the model's
 * catalog row, the learner's history and embedding).  Through SPI each was a
 * planned statement: executor start-up, a snapshot, a portal -- most of a
 * call's cost.  These lookups go straight to the table's unique index, as
 * PostgreSQL's own catalog lookups do, under the statement's snapshot and
 * with the caller's SELECT privilege checked, so they see exactly what the
 * query would have seen.
 */
#ifndef RECS_SERVING_ROWS_H
#define RECS_SERVING_ROWS_H

#include "postgres.h"

/* one key column of the lookup and its value (int8, int4 or text) */
typedef struct ServingKey
{
	const char *column;
	Oid			type;
	Datum		value;
} ServingKey;

/*
 * The row of recs.<table> whose unique index on exactly the key columns (in
 * the index's order) matches the keys: the named columns into values/nulls
 * (a column the table does not have reads as NULL) and, when xmin is not
 * NULL, the row's inserting transaction.  Values are allocated in the
 * current memory context.  Returns false when there is no such row.
 */
extern bool serving_fetch_row(const char *table, int nkeys, const ServingKey *keys,
							  int ncols, const char *const *cols, Datum *values,
							  bool *nulls, TransactionId *xmin);

#endif							/* RECS_SERVING_ROWS_H */
