/*
 * glmix_work.c -- the work relations of a GLMix training: creating them
 * and appending blocks to them
 *
 * The staging (glmix_stage.c) writes each design's page-sized blocks
 * (glmix.h) here; the fits scan them through the block aggregates.  A flat
 * Citus training creates its co-located relations here too.
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "glmix.h"
#include "compat.h"
#include "spi_util.h"

/*
 * A relation of blocks for one training.  It is an unlogged table in schema
 * recs when the invoker may create one there: it lives in shared buffers
 * (a temporary table spills beyond temp_buffers, 8 MB by default) and
 * parallel workers can scan it (they cannot read temporary tables).
 * Otherwise it is a temporary table.  Either way it is created in the
 * training's transaction, so an error removes it with everything else, and
 * no other session ever sees it.  A block fits in a page and the column's
 * storage is PLAIN: nothing is compressed or moved out of line.
 */
char *
glmix_work_table(const char *kind, int serial, bool with_entity, bool parallel)
{
	StringInfoData sql;
	char	   *name;
	int			rc;

	if (parallel)
	{
		Oid			nsp = get_namespace_oid("recs", false);

		if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
			parallel = false;
	}
	if (parallel)
		name = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_%s_%d", MyProcPid, kind, serial)));
	else
		name = psprintf("pg_temp.%s", quote_identifier(psprintf("glmix_work_%s_%d", kind, serial)));
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %s TABLE %s (%sblock bytea NOT NULL) USING heap%s;"
					 "ALTER TABLE %s ALTER COLUMN block SET STORAGE PLAIN",
					 parallel ? "UNLOGGED" : "TEMP", name,
					 with_entity ? "entity integer NOT NULL, " : "",
					 parallel ? " WITH (autovacuum_enabled = false)" : "",
					 name);
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table: %s", SPI_result_code_string(rc));
	return name;
}

/* the OID of a work table just created through SPI */
Oid
glmix_work_oid(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT $1::regclass::oid", 1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "work table %s not found", name);
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Appending blocks to a work table this training created: straight heap
 * inserts with a bulk-insert state, as COPY does -- the table has no
 * indexes, triggers or constraints.  Blocks are written as they are built,
 * so memory holds one at a time.
 */
struct GlmixWorkWriter
{
	Relation	rel;
	BulkInsertState bis;
	CommandId	cid;
	int64		n;
	/* a Citus distributed work table: batches of INSERT ... SELECT unnest() */
	SPIPlanPtr	plan;
	int			nbuf;
	Datum	   *keys;
	Datum	   *blocks;
};

/* a batch of blocks sent to a distributed work table in one statement */
#define GLMIX_WORK_BATCH 256

GlmixWorkWriter *
glmix_work_open(Oid relid)
{
	GlmixWorkWriter *w = palloc0(sizeof(GlmixWorkWriter));

	w->rel = table_open(relid, RowExclusiveLock);
	w->bis = GetBulkInsertState();
	w->cid = GetCurrentCommandId(true);
	return w;
}

/*
 * A distributed work table (glmix_citus.c) cannot take heap inserts on the
 * coordinator, where it is an empty shell: blocks are buffered and sent
 * through Citus, which routes each to its shard.  entity is the table's key
 * (an entity, or the fixed effect's part).
 */
GlmixWorkWriter *
glmix_work_open_distributed(const char *name)
{
	GlmixWorkWriter *w = palloc0(sizeof(GlmixWorkWriter));

	/* block_no: the blocks in the order they were put, from 0 ($3 before the batch) */
	w->plan = SPI_prepare(psprintf("INSERT INTO %s SELECT k, ($3 + b - 1)::integer, block "
								   "FROM unnest($1::integer[], $2::bytea[]) WITH ORDINALITY u(k, block, b)", name),
						  3, (Oid[]) {INT4ARRAYOID, BYTEAARRAYOID, INT8OID});
	if (w->plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	w->keys = palloc(sizeof(Datum) * GLMIX_WORK_BATCH);
	w->blocks = palloc(sizeof(Datum) * GLMIX_WORK_BATCH);
	return w;
}

static void
work_flush(GlmixWorkWriter *w)
{
	Datum		values[3];
	int			rc;

	if (w->nbuf == 0)
		return;
	values[2] = Int64GetDatum(w->n - w->nbuf);
	values[0] = PointerGetDatum(construct_array(w->keys, w->nbuf, INT4OID, 4, true, TYPALIGN_INT));
	values[1] = PointerGetDatum(construct_array(w->blocks, w->nbuf, BYTEAOID, -1, false, TYPALIGN_INT));
	rc = SPI_execute_plan(w->plan, values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not write work blocks: %s", SPI_result_code_string(rc));
	for (int i = 0; i < w->nbuf; i++)
		pfree(DatumGetPointer(w->blocks[i]));
	pfree(DatumGetPointer(values[0]));
	pfree(DatumGetPointer(values[1]));
	w->nbuf = 0;
}

void
glmix_work_put(GlmixWorkWriter *w, int entity, bytea *block)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	if ((w->n++ & 1023) == 0)
		CHECK_FOR_INTERRUPTS();
	if (w->plan)
	{
		Size		len = VARSIZE(block);
		bytea	   *copy = palloc(len);

		memcpy(copy, block, len);
		w->keys[w->nbuf] = Int32GetDatum(entity);
		w->blocks[w->nbuf++] = PointerGetDatum(copy);
		if (w->nbuf == GLMIX_WORK_BATCH)
			work_flush(w);
		return;
	}
	desc = RelationGetDescr(w->rel);
	if (desc->natts == 2)
	{
		values[0] = Int32GetDatum(entity);
		values[1] = PointerGetDatum(block);
	}
	else
		values[0] = PointerGetDatum(block);
	tup = heap_form_tuple(desc, values, nulls);
	heap_insert(w->rel, tup, w->cid, 0, w->bis);
	heap_freetuple(tup);
}

void
glmix_work_close(GlmixWorkWriter *w)
{
	if (w->plan)
	{
		work_flush(w);
		SPI_freeplan(w->plan);
		return;
	}
	FreeBulkInsertState(w->bis);
	table_close(w->rel, NoLock);
	CommandCounterIncrement();
}

/*
 * CREATE an unlogged table co-located with the impressions, distributed by
 * keycol (a flat Citus training's work relations, glmix_flat*.c)
 */
void
glmix_work_colocated(const char *name, const char *columns, const char *storage, Oid impressions,
				 const char *keycol)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];

	if (SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s) USING heap "
							 "WITH (autovacuum_enabled = false, toast_tuple_target = 8160)%s",
							 name, columns, storage), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table %s", name);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(keycol);
	values[2] = CStringGetTextDatum(recs_relation_name(impressions));
	if (SPI_execute_with_args("SELECT pg_catalog.create_distributed_table($1::regclass, $2, "
							  "colocate_with => $3)", 3, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
}
