/*
 * citus_util.h -- what a trainer asks about Citus: whether a relation is
 * distributed (sharded over the workers), and over how many shards
 */
#ifndef RECS_CITUS_UTIL_H
#define RECS_CITUS_UTIL_H

#include "postgres.h"

/*
 * The shard count of relid when it is a Citus distributed table (hash,
 * range or append; not a reference or Citus local table), or a plain view
 * of one (a view that only selects, filters and renames one relation's
 * columns, through other such views: a query over it is planned over the
 * table, and pushed down as the same query over the table would be); 0
 * otherwise or without the citus extension.  Needs an SPI connection.
 */
extern int	recs_citus_distributed_shards(Oid relid);

/*
 * Whether relid is any Citus table (distributed, reference or Citus local;
 * after recs.citus_setup, every table of recs); false without the citus
 * extension.  Needs an SPI connection.
 */
extern bool recs_citus_table(Oid relid);

/*
 * The shard count of relid when it is a Citus hash-distributed table (at
 * most 4096); 0 otherwise or without the citus extension.  Needs an SPI
 * connection.
 */
extern int	recs_citus_hash_shards(Oid relid);

/*
 * The distribution column's name when relid is a Citus hash-distributed
 * table; NULL otherwise or without the citus extension.  Needs an SPI
 * connection.
 */
extern char *recs_citus_distribution_column(Oid relid);

#endif							/* RECS_CITUS_UTIL_H */
