/*
 * citus_util.c -- what a trainer asks about Citus
 *
 * recs does not link against Citus: its catalog is read by SQL, and only
 * when the extension is installed in this database.
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "citus_util.h"

/*
 * The shards of relid whose partition method is one of methods (Citus's
 * pg_dist_partition.partmethod letters); 0 when it is not such a table or
 * Citus is not installed
 */
static int64
citus_shards(Oid relid, const char *methods)
{
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), CStringGetTextDatum(methods)};
	bool		isnull;
	int64		n;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return 0;
	if (SPI_execute_with_args("SELECT count(*) FROM pg_catalog.pg_dist_partition p"
							  " JOIN pg_catalog.pg_dist_shard s USING (logicalrelid)"
							  " WHERE p.logicalrelid = $1"
							  " AND pg_catalog.strpos($2, p.partmethod::text) > 0",
							  2, types, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read Citus's catalog");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/* views followed to their base table at most this deep (a cycle is impossible, this bounds the work) */
#define VIEW_DEPTH_MAX 16

/*
 * The one relation a plain view reads: its query selects, filters and
 * renames the columns of a single relation -- no join, grouping,
 * aggregate, window, DISTINCT, set operation, LIMIT, sublink or set-returning
 * function -- so that the planner inlines it into a query over that
 * relation unchanged in its rows.  InvalidOid for any other view.
 */
static Oid
plain_view_base(Oid viewid)
{
	Relation	view = table_open(viewid, AccessShareLock);
	Query	   *q = get_view_query(view);
	Oid			base = InvalidOid;

	if (q->commandType == CMD_SELECT && q->setOperations == NULL && q->groupClause == NIL &&
		q->groupingSets == NIL && q->distinctClause == NIL && q->havingQual == NULL &&
		!q->hasAggs && !q->hasWindowFuncs && !q->hasTargetSRFs && !q->hasSubLinks &&
		!q->hasRecursive && q->cteList == NIL && q->limitCount == NULL && q->limitOffset == NULL &&
		q->rowMarks == NIL && q->jointree != NULL && list_length(q->jointree->fromlist) == 1 &&
		IsA(linitial(q->jointree->fromlist), RangeTblRef))
	{
		RangeTblEntry *rte = rt_fetch(((RangeTblRef *) linitial(q->jointree->fromlist))->rtindex, q->rtable);

		if (rte->rtekind == RTE_RELATION && rte->tablesample == NULL)
			base = rte->relid;
	}
	table_close(view, AccessShareLock);
	return base;
}

int
recs_citus_distributed_shards(Oid relid)
{
	if (!OidIsValid(get_extension_oid("citus", true)))
		return 0;
	/* a plain view is planned as its base relation: distributed when that is */
	for (int depth = 0; get_rel_relkind(relid) == RELKIND_VIEW; depth++)
	{
		if (depth == VIEW_DEPTH_MAX)
			return 0;
		relid = plain_view_base(relid);
		if (!OidIsValid(relid))
			return 0;
	}
	/* not n: a reference table or a Citus local table, on one node */
	return (int) Min(citus_shards(relid, "har"), INT_MAX);
}

bool
recs_citus_table(Oid relid)
{
	return citus_shards(relid, "harn") > 0;
}

int
recs_citus_hash_shards(Oid relid)
{
	return (int) Min(citus_shards(relid, "h"), 4096);
}

char *
recs_citus_distribution_column(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *name = NULL;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return NULL;
	if (SPI_execute_with_args("SELECT pg_catalog.column_to_column_name(logicalrelid, partkey)"
							  " FROM pg_catalog.pg_dist_partition"
							  " WHERE logicalrelid = $1 AND partmethod = 'h'",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read Citus's catalog");
	if (SPI_processed == 1)
		name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	SPI_freetuptable(SPI_tuptable);
	return name;
}
