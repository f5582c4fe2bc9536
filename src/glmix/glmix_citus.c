/*
 * glmix_citus.c -- GLMix training on a Citus cluster: work relations
 * distributed over the workers, and the offsets each block reads there
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
 *     worker holding its rows, and only coefficients come back;
 *   - each work relation has a co-located argument relation holding every
 *     block's slice of the offsets (and for a random effect its entity's
 *     starting coefficients), rewritten before each fit of the coordinate
 *     and joined by (key, block_no): a Citus plan's parameters are planned
 *     into every task's query, so an offsets parameter would travel to
 *     every shard on every aggregate pass.
 *
 * Why not a plain aggregate over the distributed table: Citus pushes a
 * custom aggregate down as a partial aggregate only when its transition
 * type is not a pseudo-type, and recs' block aggregates have `internal`
 * state; without GROUP BY the blocks themselves would be pulled to the
 * coordinator.
 *
 * What still runs on the coordinator (docs/glmix.md, "On a Citus cluster"):
 * reading the impressions, building the designs and blocks (written to the
 * shards in batches through Citus) and computing the offsets from the
 * scores it keeps per row: its memory still grows with the impressions.
 * It holds one design at a time, though: each is built when its blocks are
 * cut (glmix_stage.c) and freed once they are on the workers, and the
 * scores are rebuilt from the sides' vectors (glmix_fixed_scores,
 * glmix_random_scores in glmix_design.c) -- the same arithmetic, in the
 * same order, so the same model.
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "glmix.h"
#include "compat.h"

/*
 * CREATE an unlogged table and distribute it by keycol (its column block,
 * if any, stored PLAIN like a local work relation's: Citus's shards copy
 * that, and refuse the ALTER afterwards)
 */
static void
create_distributed(const char *name, const char *columns, const char *keycol, int shards,
				   const char *colocate_with)
{
	Oid			types[4] = {TEXTOID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[4];
	int			rc;

	rc = SPI_execute(psprintf("CREATE UNLOGGED TABLE %s (%s) USING heap WITH (autovacuum_enabled = false)%s",
							  name, columns,
							  strstr(columns, "block bytea") ?
							  psprintf("; ALTER TABLE %s ALTER COLUMN block SET STORAGE PLAIN", name) : ""),
					 false, 0);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table: %s", SPI_result_code_string(rc));
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(keycol);
	values[2] = Int32GetDatum(shards);
	values[3] = CStringGetTextDatum(colocate_with);
	if (SPI_execute_with_args(colocate_with[0] == '\0' ?
							  "SELECT pg_catalog.create_distributed_table($1::regclass, $2, "
							  "colocate_with => 'none', shard_count => $3) WHERE $4 IS NOT NULL" :
							  "SELECT pg_catalog.create_distributed_table($1::regclass, $2, "
							  "colocate_with => $4) WHERE $3 IS NOT NULL",
							  4, types, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not distribute work table %s", name);
}

/*
 * Create the work relation, (keycol, block_no, block), and its argument
 * relation, (keycol, block_no, offsets, start), as unlogged tables in
 * schema recs distributed by keycol (integer) over `shards` shards,
 * co-located; NULL when the invoker may not create tables in recs (the
 * caller then stages locally: temporary tables cannot be distributed).
 */
char *
glmix_citus_work_table(const char *kind, int serial, const char *keycol, int shards,
					   GlmixCitusWork *cw)
{
	Oid			nsp = get_namespace_oid("recs", false);
	const char *key = quote_identifier(keycol);
	char	   *name;

	if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
		return NULL;
	name = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_%s_%d", MyProcPid, kind, serial)));
	create_distributed(name, psprintf("%s integer NOT NULL, block_no integer NOT NULL, block bytea NOT NULL",
									  key), keycol, shards, "");
	memset(cw, 0, sizeof(*cw));
	cw->args = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_%s_%d_args", MyProcPid, kind, serial)));
	create_distributed(cw->args, psprintf("%s integer NOT NULL, block_no integer NOT NULL, "
										  "offsets float8[] NOT NULL, start float8[]", key),
					   keycol, shards, name);
	return name;
}

void
glmix_citus_note_block(GlmixCitusWork *cw, int32 key, int64 first, int nrows)
{
	if (cw->nblocks == cw->cap)
	{
		cw->cap = Max(64, cw->cap * 2);
		cw->key = cw->key ? repalloc(cw->key, sizeof(int32) * cw->cap) : palloc(sizeof(int32) * cw->cap);
		cw->first = cw->first ? repalloc(cw->first, sizeof(int64) * cw->cap) : palloc(sizeof(int64) * cw->cap);
		cw->nrows = cw->nrows ? repalloc(cw->nrows, sizeof(int32) * cw->cap) : palloc(sizeof(int32) * cw->cap);
	}
	cw->key[cw->nblocks] = key;
	cw->first[cw->nblocks] = first;
	cw->nrows[cw->nblocks] = nrows;
	cw->nblocks++;
}

/* blocks per INSERT of the argument relation */
#define ARGS_BATCH 512

/*
 * The argument relation rewritten: DELETE, then INSERTs of ARGS_BATCH
 * blocks each.  A batch's blocks hold consecutive row ids (they were cut in
 * that order), so it sends one array of their offsets and one of their
 * entities' coefficients, and SQL cuts each block's slice out, keeping its
 * subscripts ('[f+1:f+n]=...'): the aggregates index a slice by row id and
 * entity as they would the whole (glmix_float8_slice).  The INSERT ...
 * SELECT runs on the coordinator, and Citus routes each row to its shard.
 * Per fit, each row's offset travels once, whatever the aggregate passes.
 */
void
glmix_citus_put_args(GlmixCitusWork *cw, const double *offsets, const double *coef, int dim)
{
	int			rc;

	if (cw->put == NULL)
	{
		/*
		 * A slice with subscripts [lo+1 : lo+n]: its first element as a
		 * one-element array starting at lo+1 (array_fill), the rest appended
		 * (array_cat keeps the first array's lower bound) -- no text.
		 */
		cw->put = SPI_prepare(psprintf("INSERT INTO %s SELECT k, b, "
									   "array_cat(array_fill($5[f - $6 + 1], ARRAY[1], ARRAY[(f + 1)::integer]), "
									   "$5[f - $6 + 2 : f - $6 + n]), "
									   "CASE WHEN $7 IS NOT NULL THEN "
									   "array_cat(array_fill($7[k::bigint * $9 - $8 + 1], ARRAY[1], ARRAY[(k::bigint * $9 + 1)::integer]), "
									   "$7[k::bigint * $9 - $8 + 2 : (k + 1)::bigint * $9 - $8]) END "
									   "FROM unnest($1::integer[], $2::integer[], $3::bigint[], $4::integer[]) u(k, b, f, n)",
									   cw->args),
							  9, (Oid[]) {INT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, INT4ARRAYOID,
								  FLOAT8ARRAYOID, INT8OID, FLOAT8ARRAYOID, INT8OID, INT4OID});
		if (cw->put == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	rc = SPI_execute(psprintf("DELETE FROM %s", cw->args), false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "could not clear %s: %s", cw->args, SPI_result_code_string(rc));
	for (int lo = 0; lo < cw->nblocks; lo += ARGS_BATCH)
	{
		int			hi = Min(lo + ARGS_BATCH, cw->nblocks);
		int			nb = hi - lo;
		int64		r0 = cw->first[lo];
		int64		r1 = cw->first[hi - 1] + cw->nrows[hi - 1];
		int			e0 = INT_MAX,
					e1 = -1;
		Datum	   *d = palloc(sizeof(Datum) * nb);
		Datum		values[9];
		char		nulls[9] = "         ";
		double	   *off = palloc(sizeof(double) * Max(r1 - r0, 1));

		CHECK_FOR_INTERRUPTS();
		/* the batch's offsets by row id (a random effect's ids are positions in order) */
		for (int64 p = r0; p < r1; p++)
			off[p - r0] = offsets[cw->order ? cw->order[p] : p];
		values[4] = PointerGetDatum(glmix_float8_array(off, (int) (r1 - r0)));
		values[5] = Int64GetDatum(r0);
		for (int i = 0; i < nb; i++)
			d[i] = Int32GetDatum(cw->key[lo + i]);
		values[0] = PointerGetDatum(construct_array(d, nb, INT4OID, 4, true, TYPALIGN_INT));
		for (int i = 0; i < nb; i++)
			d[i] = Int32GetDatum(lo + i);
		values[1] = PointerGetDatum(construct_array(d, nb, INT4OID, 4, true, TYPALIGN_INT));
		for (int i = 0; i < nb; i++)
			d[i] = Int64GetDatum(cw->first[lo + i]);
		values[2] = PointerGetDatum(construct_array(d, nb, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		for (int i = 0; i < nb; i++)
			d[i] = Int32GetDatum(cw->nrows[lo + i]);
		values[3] = PointerGetDatum(construct_array(d, nb, INT4OID, 4, true, TYPALIGN_INT));
		if (coef)
		{
			/* the batch's entities are consecutive too */
			for (int i = lo; i < hi; i++)
			{
				e0 = Min(e0, cw->key[i]);
				e1 = Max(e1, cw->key[i]);
			}
			values[6] = PointerGetDatum(glmix_float8_array(coef + (Size) e0 * dim, (e1 - e0 + 1) * dim));
			values[7] = Int64GetDatum((int64) e0 * dim);
		}
		else
		{
			values[6] = values[7] = (Datum) 0;
			nulls[6] = nulls[7] = 'n';
		}
		values[8] = Int32GetDatum(dim);
		rc = SPI_execute_plan(cw->put, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not write %s: %s", cw->args, SPI_result_code_string(rc));
		pfree(off);
		pfree(d);
		for (int i = 0; i < 7; i++)
			if (i != 5 && nulls[i] == ' ')
				pfree(DatumGetPointer(values[i]));
	}
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
