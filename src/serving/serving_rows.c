/*
 * serving_rows.c -- one row of a recs table by its unique key, without SQL
 *
 * See serving_rows.h for why.  A lookup opens the table and the unique
 * index whose key columns are exactly the lookup's, scans it with the
 * active snapshot (the statement's, as a STABLE function's query would
 * use), copies the one matching row out and closes both, keeping the
 * AccessShareLocks to the end of the transaction as the executor does.  The
 * caller's SELECT privilege on the table is checked first, with the error
 * a query would raise.
 *
 * Which index serves which table is remembered per backend (a small array
 * of OIDs, no pointers into the relcache) and forgotten on any relcache
 * invalidation, so a dropped and re-created extension, a REINDEX or a new
 * index is picked up by the next call.  No name from the caller is looked
 * up: the table name is recs' own and the schema is fixed, so the caller's
 * search_path plays no part.  On a Citus cluster the rows are read from the
 * node's copy of the reference table (serving_placement.c); the privilege
 * checked is still recs.<table>'s.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "serving_placement.h"
#include "serving_rows.h"

#define MAX_KEYS 3
#define INDEX_SLOTS 16

typedef struct IndexChoice
{
	char		table[NAMEDATALEN];
	int			nkeys;
	char		keys[MAX_KEYS][NAMEDATALEN];
	Oid			relid;			/* where the rows are on this node */
	Oid			logical;		/* recs.<table>, for the privilege check */
	Oid			indexid;
} IndexChoice;

static IndexChoice choices[INDEX_SLOTS];
static int	nchoices = 0;
static uint64 generation = 0;	/* counts invalidations */
static bool callback_registered = false;

static void
forget_choices(Datum arg, Oid relid)
{
	nchoices = 0;
	generation++;
}

static AttrNumber
column_attnum(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		if (!a->attisdropped && strcmp(NameStr(a->attname), name) == 0)
			return a->attnum;
	}
	return InvalidAttrNumber;
}

/* the unique index of rel on exactly these columns, in this order */
static Oid
find_index(Relation rel, int nkeys, const ServingKey *keys)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	Oid			found = InvalidOid;

	foreach(lc, indexes)
	{
		Relation	idx = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = idx->rd_index;
		bool		match = form->indisunique && form->indisvalid &&
			form->indnkeyatts == nkeys && RelationGetIndexPredicate(idx) == NIL;

		for (int k = 0; match && k < nkeys; k++)
			match = form->indkey.values[k] ==
				column_attnum(RelationGetDescr(rel), keys[k].column);
		index_close(idx, AccessShareLock);
		if (match)
		{
			found = lfirst_oid(lc);
			break;
		}
	}
	list_free(indexes);
	if (!OidIsValid(found))
		elog(ERROR, "table %s has no unique index for this lookup", RelationGetRelationName(rel));
	return found;
}

/* the table and index of a lookup: remembered, or found now */
static IndexChoice
choice_for(const char *table, int nkeys, const ServingKey *keys)
{
	IndexChoice c;
	Relation	rel;

	for (int i = 0; i < nchoices; i++)
	{
		bool		same = choices[i].nkeys == nkeys && strcmp(choices[i].table, table) == 0;

		for (int k = 0; same && k < nkeys; k++)
			same = strcmp(choices[i].keys[k], keys[k].column) == 0;
		if (same)
			return choices[i];
	}
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(forget_choices, (Datum) 0);
		callback_registered = true;
	}
	memset(&c, 0, sizeof(c));
	strlcpy(c.table, table, NAMEDATALEN);
	c.nkeys = nkeys;
	for (int k = 0; k < nkeys; k++)
		strlcpy(c.keys[k], keys[k].column, NAMEDATALEN);
	c.relid = serving_table_relid(table, &c.logical);
	rel = table_open(c.relid, AccessShareLock);
	c.indexid = find_index(rel, nkeys, keys);
	table_close(rel, NoLock);
	/* remembered only now: opening the table may have run the callback */
	if (nchoices == INDEX_SLOTS)
		nchoices = 0;
	choices[nchoices++] = c;
	return c;
}

bool
serving_fetch_row(const char *table, int nkeys, const ServingKey *keys, int ncols,
				  const char *const *cols, Datum *values, bool *nulls, TransactionId *xmin)
{
	Oid			relid;
	Oid			logical;
	Oid			indexid;
	AclResult	acl;
	Relation	rel;
	Relation	idx;
	ScanKeyData sk[MAX_KEYS];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	HeapTuple	tuple = NULL;
	bool		pushed = false;

	Assert(nkeys >= 1 && nkeys <= MAX_KEYS);

	/*
	 * Lock the table, then make sure the remembered choice was not
	 * invalidated meanwhile (locking processes invalidations): a dropped and
	 * re-created table or index is looked up again.  Once the table is
	 * locked, its indexes cannot be dropped until the transaction ends.
	 */
	for (;;)
	{
		IndexChoice c = choice_for(table, nkeys, keys);
		uint64		gen = generation;

		relid = c.relid;
		logical = c.logical;
		indexid = c.indexid;
		rel = try_table_open(relid, AccessShareLock);
		if (rel != NULL && gen == generation)
			break;
		if (rel != NULL)
			table_close(rel, AccessShareLock);
		forget_choices((Datum) 0, InvalidOid);
	}

	acl = pg_class_aclcheck(logical, GetUserId(), ACL_SELECT);
	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(logical));
	idx = index_open(indexid, AccessShareLock);
	for (int k = 0; k < nkeys; k++)
	{
		Oid			opfamily = idx->rd_opfamily[k];
		Oid			op = get_opfamily_member(opfamily, keys[k].type, keys[k].type,
											 BTEqualStrategyNumber);

		if (!OidIsValid(op))
			elog(ERROR, "no equality operator for type %u in index of %s", keys[k].type, table);
		ScanKeyEntryInitialize(&sk[k], 0, k + 1, BTEqualStrategyNumber, keys[k].type,
							   idx->rd_indcollation[k], get_opcode(op), keys[k].value);
	}
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, GetActiveSnapshot(), nkeys, 0);
	index_rescan(scan, sk, nkeys, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
		tuple = ExecCopySlotHeapTuple(slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	if (pushed)
		PopActiveSnapshot();

	if (tuple != NULL)
	{
		TupleDesc	desc = RelationGetDescr(rel);

		for (int i = 0; i < ncols; i++)
		{
			AttrNumber	att = column_attnum(desc, cols[i]);

			if (att == InvalidAttrNumber)
			{
				values[i] = (Datum) 0;
				nulls[i] = true;
			}
			else
				values[i] = heap_getattr(tuple, att, desc, &nulls[i]);
		}
		if (xmin)
			*xmin = HeapTupleHeaderGetXmin(tuple->t_data);
	}
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return tuple != NULL;
}
