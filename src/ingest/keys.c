/*
 * keys.c -- uuid and text ids: the id dictionary between a platform's keys
 * and the int64 ids every model uses
 *
 * Every model stores, scores and serves int64 ids; integer id columns are
 * read as they are, so a platform keyed by bigint pays nothing for keys.  A
 * uuid or text id column is read through recs.id_key, one dictionary per id
 * space (learners, courses) shared by every model: a training first adds the
 * keys it has not seen (in key order, so ids follow the keys' order), then
 * reads each key's id through a join of the relation to the dictionary in
 * its own query (keys_from, keys_id).  One dictionary
 * for all models rather than one per model because models are combined:
 * a blend scores its components by id, train_all trains four models on one
 * set of relations, evaluate reads its own test relation, and a key keeps
 * its id from one training to the next.  Forgetting a learner deletes their
 * row (recs.forget_learner).
 *
 * A training records the key types it read (learner and course side) in
 * its model's row (model_store.c), which tells serving how to take and
 * return ids (src/install/75_keys.sql).  The record lives for one training
 * of one transaction: keys_begin clears it, and it is stamped with the
 * local transaction id, so nothing of it survives an error.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "compat.h"
#include "keys.h"
#include "spi_util.h"

/* keys a batch adds to the dictionary: one array of them in memory at a time */
#define KEYS_BATCH 10000

static const char *const side_names[2] = {"learner", "course"};

/* the key types this training read, per side (-1: none yet) */
static LocalTransactionId seen_lxid = InvalidLocalTransactionId;
static int	seen[2] = {-1, -1};

void
keys_begin(void)
{
	seen_lxid = recs_current_lxid();
	seen[0] = seen[1] = -1;
}

/* the type seen for a side in this transaction's current training, or -1 */
static int
seen_type(RecsKeySide side)
{
	if (seen_lxid != recs_current_lxid())
		keys_begin();
	return seen[side];
}

RecsKeyType
keys_training_type(RecsKeySide side)
{
	int			t = seen_type(side);

	return t < 0 ? RECS_KEY_INTEGER : (RecsKeyType) t;
}

const char *
keys_type_name(RecsKeyType t)
{
	switch (t)
	{
		case RECS_KEY_UUID:
			return "uuid";
		case RECS_KEY_TEXT:
			return "text";
		default:
			return "bigint";
	}
}

RecsKeyType
keys_type_by_name(const char *name)
{
	if (name != NULL && strcmp(name, "uuid") == 0)
		return RECS_KEY_UUID;
	if (name != NULL && strcmp(name, "text") == 0)
		return RECS_KEY_TEXT;
	return RECS_KEY_INTEGER;
}

/* remember a side's key type; one training keys a side one way */
static void
record_type(RecsKeySide side, RecsKeyType t, const char *col, const char *relname)
{
	int			before = seen_type(side);

	/* uuid and text keys share the dictionary: either may meet the other */
	if (before >= 0 && (before == RECS_KEY_INTEGER) != (t == RECS_KEY_INTEGER))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("%s ids are %s in one relation and %s in another",
						side_names[side], keys_type_name((RecsKeyType) before),
						keys_type_name(t)),
				 errdetail("Column \"%s\" of %s is %s.", col, relname, keys_type_name(t)),
				 errhint("Key the %ss of every relation of a training by integers, or every one by uuid or text.",
						 side_names[side])));
	/* the first relation's type is the model's (uuid and text read alike) */
	if (before < 0)
		seen[side] = t;
}

/*
 * Add the keys of a column (or of an array column's elements) that the
 * dictionary does not hold yet, in key order.  Only the new ones draw an
 * id (a conflict would use up one too).  A training that adds keys holds
 * a transaction lock on the dictionary from then on: two trainings adding
 * keys in different orders (one relation's, then another's) could each
 * wait for the other's uncommitted key; so they add one after the other,
 * while trainings on known keys -- a nightly retraining -- never wait.
 *
 * Two steps, each a form Citus runs when the relation is distributed
 * (README "Scaling out with Citus"): a cursor reads the new keys -- the
 * relation's distinct keys, then an anti-join with the dictionary (a join,
 * not the correlated subquery Citus refuses over a distributed relation);
 * then each batch of them goes into the dictionary as an array, so that no
 * INSERT ... SELECT reads the user's relation and the dictionary at once
 * (Citus plans that one wrongly: it inserts nothing).  The distinct keys
 * come first, as a plain NOT EXISTS would have them: the anti-join per row
 * instead can get a ruinous plan on a dictionary filled in the same
 * transaction (no statistics yet).
 *
 * A scalar column's keys are DISTINCT on the column itself, cast to text
 * only after: when the relation is distributed by that column, Citus then
 * runs the whole anti-join on each shard (beside the dictionary's
 * placement) and the coordinator receives the new keys alone -- none on a
 * retraining.  Grouped on an expression (the cast) it would ship every
 * distinct key to the coordinator, merge them there and send the merged
 * set back to every node for the anti-join (docs/architecture.md, figures).
 * An array column's elements are distinct keys of no distribution column:
 * those still travel.  Returns how many keys it added.
 */
static uint64
add_keys(const char *relname, const char *qcol, RecsKeySide side, bool array)
{
	StringInfoData sql;
	Portal		portal;
	bool		locked = false;
	uint64		added = 0;
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];

	initStringInfo(&sql);
	if (array)
		appendStringInfo(&sql,
						 "SELECT d.k FROM (SELECT DISTINCT e::text COLLATE \"C\" AS k FROM %s, "
						 "LATERAL (SELECT unnest(%s)) u(e) WHERE e IS NOT NULL) d "
						 "LEFT JOIN recs.id_key x ON x.side = '%s' AND x.key = d.k COLLATE \"default\" "
						 "WHERE x.id IS NULL ORDER BY d.k",
						 relname, qcol, side_names[side]);
	else
		appendStringInfo(&sql,
						 "SELECT d.c::text COLLATE \"C\" AS k FROM (SELECT DISTINCT %s AS c FROM %s "
						 "WHERE %s IS NOT NULL) d "
						 "LEFT JOIN recs.id_key x ON x.side = '%s' AND x.key = d.c::text COLLATE \"default\" "
						 "WHERE x.id IS NULL ORDER BY 1",
						 qcol, relname, qcol, side_names[side]);
	/* not read-only: the keys this training has just added are known */
	portal = SPI_cursor_open_with_args(NULL, sql.data, 0, NULL, NULL, NULL, false,
									   CURSOR_OPT_NO_SCROLL);
	values[0] = CStringGetTextDatum(side_names[side]);
	for (;;)
	{
		SPITupleTable *tt;
		Datum	   *keys;
		uint64		n;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		SPI_cursor_fetch(portal, true, KEYS_BATCH);
		tt = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		if (!locked)
		{
			rc = SPI_execute("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('recs.id_key'))",
							 false, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "could not lock recs.id_key: %s", SPI_result_code_string(rc));
			locked = true;
		}
		/* the keys are never NULL (filtered above) */
		keys = palloc(n * sizeof(Datum));
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;

			keys[i] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		}
		values[1] = PointerGetDatum(construct_array(keys, (int) n, TEXTOID, -1, false, TYPALIGN_INT));
		/* ON CONFLICT: a key added by a training that committed meanwhile */
		rc = SPI_execute_with_args("INSERT INTO recs.id_key (side, key) "
								   "SELECT $1, u.k FROM unnest($2) WITH ORDINALITY u(k, o) ORDER BY u.o "
								   "ON CONFLICT DO NOTHING",
								   2, types, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not add keys to recs.id_key: %s", SPI_result_code_string(rc));
		added += SPI_processed;
		pfree(DatumGetPointer(values[1]));
		pfree(keys);
		SPI_freetuptable(tt);
	}
	SPI_cursor_close(portal);
	return added;
}

char *
keys_id_name(RecsKeySide side, int64 id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];

	if (keys_training_type(side) == RECS_KEY_INTEGER)
		return psprintf(INT64_FORMAT, id);
	values[0] = CStringGetTextDatum(side_names[side]);
	values[1] = Int64GetDatum(id);
	/* not read-only: the key may be one this training has just added */
	if (SPI_execute_with_args("SELECT key FROM recs.id_key WHERE side = $1 AND id = $2",
							  2, types, values, NULL, false, 1) == SPI_OK_SELECT && SPI_processed == 1)
		return quote_literal_cstr(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	return psprintf(INT64_FORMAT, id);
}

void
keys_from_init(KeysFrom *f, Oid relid)
{
	f->relid = relid;
	f->relname = recs_relation_name(relid);
	initStringInfo(&f->joins);
	f->njoins = 0;
	f->added = 0;
}

char *
keys_id(KeysFrom *f, const char *col, const char *argname, RecsKeySide side)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID, UUIDOID, TEXTOID, VARCHAROID};
	const char *qcol = quote_identifier(col);
	Oid			type = recs_check_column(f->relid, col, argname, id_types, lengthof(id_types));
	RecsKeyType t = type == UUIDOID ? RECS_KEY_UUID
		: (type == TEXTOID || type == VARCHAROID) ? RECS_KEY_TEXT : RECS_KEY_INTEGER;
	int			n;

	record_type(side, t, col, f->relname);
	if (t == RECS_KEY_INTEGER)
		return psprintf("%s::int8", qcol);
	f->added += add_keys(f->relname, qcol, side, false);

	/*
	 * A LEFT JOIN keeps the rows with a NULL key (a NULL id, which the
	 * readers skip and count); the dictionary's columns get names of their
	 * own, so the reader's unqualified column names stay unambiguous.
	 */
	n = ++f->njoins;
	appendStringInfo(&f->joins,
					 " LEFT JOIN (SELECT k.key AS recs_key_%d_key, k.id AS recs_key_%d_id"
					 " FROM recs.id_key k WHERE k.side = '%s') recs_key_%d"
					 " ON recs_key_%d.recs_key_%d_key = %s.%s::text",
					 n, n, side_names[side], n, n, n, f->relname, qcol);
	return psprintf("recs_key_%d.recs_key_%d_id", n, n);
}

char *
keys_from(KeysFrom *f)
{
	/*
	 * The reader's joins to the dictionary are planned next: with the keys
	 * just added to both sides counted (keys_stats.c).
	 */
	keys_analyze_after_adding(f->added);
	f->added = 0;
	return psprintf("%s%s", f->relname, f->joins.data);
}

char *
keys_id_array_expr(KeysFrom *f, const char *col, const char *argname, RecsKeySide side)
{
	static const Oid array_types[] = {INT8ARRAYOID, INT4ARRAYOID, UUIDARRAYOID, TEXTARRAYOID};
	const char *qcol = quote_identifier(col);
	Oid			type = recs_check_column(f->relid, col, argname, array_types, lengthof(array_types));
	RecsKeyType t = type == UUIDARRAYOID ? RECS_KEY_UUID
		: type == TEXTARRAYOID ? RECS_KEY_TEXT : RECS_KEY_INTEGER;
	int			n;

	record_type(side, t, col, f->relname);
	if (t == RECS_KEY_INTEGER)
		return psprintf("%s::int8[]", qcol);
	f->added += add_keys(f->relname, qcol, side, true);

	/*
	 * Each row's ids in the elements' order (a NULL element: a NULL id), by
	 * a lateral join rather than a subquery per element, which Citus
	 * refuses on a distributed relation; no element, or a NULL array, is an
	 * empty array as before.
	 */
	n = ++f->njoins;
	appendStringInfo(&f->joins,
					 " LEFT JOIN LATERAL (SELECT array_agg(k.id ORDER BY u.o) AS recs_key_%d_ids"
					 " FROM unnest(%s.%s) WITH ORDINALITY u(e, o)"
					 " LEFT JOIN recs.id_key k ON k.side = '%s' AND k.key = u.e::text) recs_key_%d ON true",
					 n, f->relname, qcol, side_names[side], n);
	return psprintf("coalesce(recs_key_%d.recs_key_%d_ids, '{}'::int8[])", n, n);
}
