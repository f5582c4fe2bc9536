/*
 * glmix_citus.c -- GLMix training on a Citus cluster: work relations
 * distributed over the workers, and a check that the aggregates run there
 *
 * When the impressions relation is a Citus hash-distributed table, the work
 * relations of a training (glmix_stage.c) are distributed tables too, with
 * as many shards as the impressions, so the block aggregates run in the
 * workers' tasks rather than in the coordinator:
 *
 *   - the fixed effect's blocks are spread over the shards by a column
 *     "part" that takes one value per shard (found with Citus's
 *     get_shard_id_for_distribution_column), and the statistics query is
 *     "... GROUP BY part": grouped by the distribution column, Citus pushes
 *     the whole aggregate down, each task returns one shard's sum of loss,
 *     gradient and Hessian (or Hessian-vector product), and the coordinator
 *     adds the shards' rows up (glmix_fit.c), in shard order;
 *   - a random effect's blocks are distributed by "entity", so "GROUP BY
 *     entity" is pushed down whole: each entity's Newton fit runs on the
 *     worker holding its rows, and only coefficients come back.
 *
 * Why not a plain aggregate over the distributed table: Citus pushes a
 * custom aggregate down as a partial aggregate only when its transition
 * type is not a pseudo-type, and recs' block aggregates have `internal`
 * state; without GROUP BY the blocks themselves would be pulled to the
 * coordinator.
 *
 * What still runs on the coordinator (docs/glmix.md, "On a Citus cluster"):
 * reading the impressions and building the designs and blocks, and the
 * offsets, which travel as a parameter of each query.  The blocks are
 * written to the shards in batches through Citus.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "glmix.h"

/*
 * The shard count of relid when Citus is installed and relid is one of its
 * hash-distributed tables; 0 otherwise.
 */
int
glmix_citus_shards(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	int64		n;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return 0;
	if (SPI_execute_with_args("SELECT count(*) FROM pg_catalog.pg_dist_partition p "
							  "JOIN pg_catalog.pg_dist_shard s USING (logicalrelid) "
							  "WHERE p.logicalrelid = $1 AND p.partmethod = 'h'",
							  1, types, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read Citus's catalog");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return (int) Min(n, 4096);
}

/*
 * Create the work relation as a distributed, unlogged table in schema recs,
 * keyed by keycol (integer) with `shards` shards; NULL when the invoker may
 * not create tables in recs (the caller then stages locally: temporary
 * tables cannot be distributed).
 */
char *
glmix_citus_work_table(const char *kind, int serial, const char *keycol, int shards)
{
	Oid			nsp = get_namespace_oid("recs", false);
	char	   *name;
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	int			rc;

	if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		return NULL;
	name = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_%s_%d", MyProcPid, kind, serial)));
	rc = SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s integer NOT NULL, block bytea NOT NULL) "
							  "USING heap WITH (autovacuum_enabled = false);"
							  "ALTER TABLE %s ALTER COLUMN block SET STORAGE PLAIN",
							  name, quote_identifier(keycol), name),
					 false, 0);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table: %s", SPI_result_code_string(rc));
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(keycol);
	values[2] = Int32GetDatum(shards);
	if (SPI_execute_with_args("SELECT pg_catalog.create_distributed_table($1::regclass, $2, "
							  "colocate_with => 'none', shard_count => $3)",
							  3, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
	return name;
}

/*
 * One key value per shard of a work relation distributed by an integer
 * column over `shards` shards, in shard order: the smallest value of a
 * range that hashes into each shard (the range grows until every shard is
 * hit; a few times the shard count suffice).  Returns how many.
 */
int
glmix_citus_shard_keys(const char *table, int shards, int32 **keys)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(table)};
	int			n = 0;

	for (int range = 1024;; range *= 8)
	{
		CHECK_FOR_INTERRUPTS();
		if (SPI_execute_with_args(psprintf("SELECT min(v) FROM generate_series(0, %d) v "
										   "GROUP BY pg_catalog.get_shard_id_for_distribution_column($1::regclass, v) "
										   "ORDER BY 1", range - 1),
								  1, types, values, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the shards of %s", table);
		n = (int) SPI_processed;
		if (n >= shards || range >= (1 << 20))
			break;
		SPI_freetuptable(SPI_tuptable);
	}
	*keys = palloc(sizeof(int32) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*keys)[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * l2_auto's temporary views are this session's alone: on Citus, DDL
 * propagation must not try to create or drop them on the workers (it
 * cannot: creating warns, dropping fails).  Turns it off for the
 * transaction and returns the previous value (NULL without Citus), which
 * glmix_citus_ddl_restore() puts back.
 */
char *
glmix_citus_ddl_local(void)
{
	const char *prev = GetConfigOption("citus.enable_ddl_propagation", true, false);

	if (prev == NULL)
		return NULL;
	prev = pstrdup(prev);
	(void) set_config_option("citus.enable_ddl_propagation", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_LOCAL, true, 0, false);
	return (char *) prev;
}

void
glmix_citus_ddl_restore(char *prev)
{
	if (prev != NULL)
		(void) set_config_option("citus.enable_ddl_propagation", prev, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_LOCAL, true, 0, false);
}
