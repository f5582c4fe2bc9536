/*
 * citus_util.c -- what a trainer asks about Citus
 *
 * recs does not link against Citus: its catalog is read by SQL, and only
 * when the extension is installed in this database.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "utils/builtins.h"

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

bool
recs_citus_distributed(Oid relid)
{
	/* not n: a reference table or a Citus local table, on one node */
	return citus_shards(relid, "har") > 0;
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
