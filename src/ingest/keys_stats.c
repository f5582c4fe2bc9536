/*
 * keys_stats.c -- the dictionary's statistics after a training adds keys
 *
 * The planner sizes recs.id_key from pg_class: the rows per page of its
 * last VACUUM or ANALYZE (reltuples / relpages) times its pages now.  A
 * dictionary vacuumed empty but not truncated -- every key forgotten, or
 * the keys of a rolled-back training removed while another transaction
 * held a lock, so pages stay -- has reltuples 0 and relpages > 0: a density
 * of 0, and the planner takes the dictionary for one row however many keys
 * a training then adds.  Stale per-column statistics (a side's keys all
 * added since the last ANALYZE) mislead it the same way.  Autovacuum cannot
 * help within the transaction: it does not see the rows until commit.  So
 * a training that adds more keys than autovacuum's own analyze threshold
 * (50 plus a tenth of the rows the planner believes in) analyzes the
 * dictionary itself, before its readers plan their joins to it; the
 * ANALYZE counts the transaction's own uncommitted rows.
 *
 * The ANALYZE runs as the dictionary's owner (the extension's), as
 * autovacuum's would: a training role may insert keys but does not own the
 * table.  The identity switch is a security-restricted operation, undone
 * at once (and by the (sub)transaction's abort on error).
 *
 * Not on Citus, once recs.citus_setup made the dictionary a reference
 * table: Citus refuses an ANALYZE of it in a transaction that wrote its
 * coordinator placement ("a local execution has accessed a placement"),
 * and could not reach the workers' placements' uncommitted rows anyway
 * (docs/architecture.md, "Stale statistics").
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "citus_util.h"
#include "keys.h"

/* autovacuum's defaults: autovacuum_analyze_threshold, _scale_factor */
#define KEYS_ANALYZE_THRESHOLD 50
#define KEYS_ANALYZE_SCALE 0.1

void
keys_analyze_after_adding(uint64 added)
{
	Oid			relid;
	HeapTuple	tuple;
	Form_pg_class form;
	double		believed;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	int			rc;

	if (added == 0)
		return;
	relid = get_relname_relid("id_key", get_namespace_oid("recs", false));
	if (!OidIsValid(relid))
		elog(ERROR, "recs.id_key does not exist");
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	form = (Form_pg_class) GETSTRUCT(tuple);
	/* reltuples -1: never vacuumed or analyzed */
	believed = Max(form->reltuples, 0);
	owner = form->relowner;
	ReleaseSysCache(tuple);
	if ((double) added <= KEYS_ANALYZE_THRESHOLD + KEYS_ANALYZE_SCALE * believed)
		return;
	if (recs_citus_table(relid))
		return;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	rc = SPI_execute("ANALYZE recs.id_key", false, 0);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "could not analyze recs.id_key: %s", SPI_result_code_string(rc));
}
