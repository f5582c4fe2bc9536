/*
 * serving_placement.h -- the relation that holds recs.<table>'s rows on this node
 *
 * recs.<table> itself, or on a Citus cluster (after recs.citus_setup()) the
 * node's local copy of that reference table; serving_placement.c says why
 * serving reads the copy.  Everything serving reads from recs' tables goes
 * through these two.
 */
#ifndef RECS_SERVING_PLACEMENT_H
#define RECS_SERVING_PLACEMENT_H

#include "postgres.h"

/*
 * The relation to read recs.<table>'s rows from on this node; *logical
 * (when not NULL) is recs.<table>, whose privileges a query would check.
 */
extern Oid	serving_table_relid(const char *table, Oid *logical);

/* the same relation as a quoted, schema-qualified name for SQL */
extern char *serving_table_sql(const char *table);

#endif							/* RECS_SERVING_PLACEMENT_H */
