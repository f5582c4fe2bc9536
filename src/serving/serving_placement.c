/*
 * serving_placement.c -- the relation that holds recs.<table>'s rows on this node
 *
 * On one PostgreSQL that is recs.<table> itself.  On a Citus cluster, after
 * recs.citus_setup() has made recs' tables reference tables, every node
 * (the coordinator too) keeps a full copy of each in a local shard,
 * recs.<table>_<shardid>, and recs.<table> is an empty shell that Citus's
 * planner routes queries away from.  Serving reads that local copy directly:
 *
 *  - a direct index scan (serving_rows.c) bypasses the planner, so on the
 *    shell it would find nothing;
 *  - a loader's query on recs.<table>, routed by Citus, is refused inside a
 *    task of a distributed query -- and that is exactly where recommend()
 *    runs in a batch such as SELECT ... FROM learners l,
 *    recs.recommend(l.learner_id) r, which Citus pushes down to the workers
 *    (Citus does not nest distributed executions).
 *
 * Reading the placement is what Citus's own local executor does for a
 * reference table; its copies are written together by two-phase commit, so
 * each node's copy is the whole, current table.  Only serving reads this
 * way: training writes through recs.<table>, so Citus replicates it.
 *
 * Citus's catalog is read without SQL (pg_dist_shard, by a scan on its
 * first column, logicalrelid), so a lookup costs no planning and works
 * inside any task.  Answers are remembered per backend and forgotten on any
 * relcache invalidation: create_reference_table, undistribute_table and DROP
 * EXTENSION all send one.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "serving_placement.h"

#define PLACEMENT_SLOTS 32

typedef struct Placement
{
	char		table[NAMEDATALEN];
	Oid			logical;		/* recs.<table> */
	Oid			local;			/* the relation holding its rows here */
} Placement;

static Placement placements[PLACEMENT_SLOTS];
static int	nplacements = 0;
static bool callback_registered = false;

static void
forget_placements(Datum arg, Oid relid)
{
	nplacements = 0;
}

/*
 * The shard ids Citus records for relid (none: not a Citus table, or Citus
 * not installed in this database).  Returns how many there are, the first
 * in *shardid.
 */
static int
citus_shards(Oid relid, int64 *shardid)
{
	Oid			catalog;
	Oid			index;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			n = 0;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return 0;
	catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(catalog))
		return 0;
	index = get_relname_relid("pg_dist_shard_logical_relid_index", PG_CATALOG_NAMESPACE);
	rel = table_open(catalog, AccessShareLock);
	/* pg_dist_shard (logicalrelid regclass, shardid bigint, ...) */
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, index, OidIsValid(index), NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, 2, RelationGetDescr(rel), &isnull);

		if (n++ == 0 && !isnull)
			*shardid = DatumGetInt64(d);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return n;
}

/* where recs.<table>'s rows are on this node: remembered, or found now */
static Placement
placement_for(const char *table)
{
	Placement	p;
	Oid			nsp;
	int64		shardid = 0;
	int			nshards;

	for (int i = 0; i < nplacements; i++)
		if (strcmp(placements[i].table, table) == 0)
			return placements[i];
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_placements, (Datum) 0);
		callback_registered = true;
	}
	memset(&p, 0, sizeof(p));
	strlcpy(p.table, table, NAMEDATALEN);
	nsp = get_namespace_oid("recs", false);
	p.logical = get_relname_relid(table, nsp);
	if (!OidIsValid(p.logical))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"recs.%s\" does not exist", table)));
	p.local = p.logical;
	nshards = citus_shards(p.logical, &shardid);
	if (nshards > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("recs.%s is a distributed table", table),
				 errdetail("Serving needs a whole copy of recs' tables on every node."),
				 errhint("Undistribute it, then SELECT recs.citus_setup() makes recs' tables reference tables.")));
	if (nshards == 1)
	{
		char	   *shard = psprintf("%s_" INT64_FORMAT, table, shardid);

		p.local = get_relname_relid(shard, nsp);
		if (!OidIsValid(p.local))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("this node holds no copy of recs.%s", table),
					 errdetail("recs.%s is a Citus table whose shard " INT64_FORMAT " has no placement on this node.",
							   table, shardid),
					 errhint("On the coordinator, SELECT citus_set_coordinator_host(...) and "
							 "SELECT replicate_reference_tables() put a copy on every node.")));
	}
	/* remembered only now: opening the catalog may have run the callback */
	if (nplacements == PLACEMENT_SLOTS)
		nplacements = 0;
	placements[nplacements++] = p;
	return p;
}

Oid
serving_table_relid(const char *table, Oid *logical)
{
	Placement	p = placement_for(table);

	if (logical)
		*logical = p.logical;
	return p.local;
}

char *
serving_table_sql(const char *table)
{
	Oid			relid = serving_table_relid(table, NULL);
	char	   *name = get_rel_name(relid);

	if (name == NULL)
		elog(ERROR, "cache lookup failed for relation %u", relid);
	return quote_qualified_identifier("recs", name);
}
