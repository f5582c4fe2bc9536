/*
 * citus_util.h -- what a trainer asks about Citus: whether a relation is
 * distributed (sharded over the workers)
 */
#ifndef RECS_CITUS_UTIL_H
#define RECS_CITUS_UTIL_H

#include "postgres.h"

/*
 * Whether relid is a Citus distributed table (hash, range or append; not
 * a reference or Citus local table); false without the citus extension.
 * Needs an SPI connection.
 */
extern bool recs_citus_distributed(Oid relid);

#endif							/* RECS_CITUS_UTIL_H */
