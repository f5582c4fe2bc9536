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

#include "citus_util.h"

bool
recs_citus_distributed(Oid relid)
{
	Oid			types[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	int			rc;
	bool		distributed;

	if (!OidIsValid(get_extension_oid("citus", true)))
		return false;
	/* partmethod n: a reference table or a Citus local table, on one node */
	rc = SPI_execute_with_args("SELECT FROM pg_catalog.pg_dist_partition"
							   " WHERE logicalrelid = $1 AND partmethod <> 'n'",
							   1, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_dist_partition: %s", SPI_result_code_string(rc));
	distributed = SPI_processed > 0;
	SPI_freetuptable(SPI_tuptable);
	return distributed;
}
