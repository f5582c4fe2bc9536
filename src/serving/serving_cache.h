/*
 * serving_cache.h -- per-backend cache of model parts for serving
 *
 * Models are immutable once committed (a retrain makes a new model id), so
 * a part loaded for (model id, part name) stays valid for as long as the
 * model exists; no invalidation is needed beyond eviction.  A part is built
 * in a context under the current (transaction) context and moved into the
 * cache only when fully loaded: an error or cancel while loading leaves
 * nothing behind.
 */
#ifndef RECS_SERVING_CACHE_H
#define RECS_SERVING_CACHE_H

#include "postgres.h"

/*
 * Builds the part and returns it; everything the part holds must be
 * allocated in cxt.  It runs inside its own SPI connection (with recs'
 * search_path, see recs_spi_connect), so it may read the model's tables
 * whether or not its caller is connected.  Beware: every SPI call leaves CurrentMemoryContext set
 * to the SPI procedure context, so allocate with MemoryContextAlloc(cxt, ...)
 * or switch to cxt after the last SPI call.
 */
typedef void *(*ServingLoadFn) (int64 model_id, const char *part, void *arg,
								MemoryContext cxt);

/*
 * stamp is the model's cache_token, a random number drawn when its catalog
 * row is inserted: should a model id ever be reused (a reset sequence, a
 * restored dump, even several models under one id in one transaction, which
 * would all share one xmin), the token tells the versions apart.
 */
extern void *serving_cache_get(int64 model_id, uint64 stamp, const char *part,
							   ServingLoadFn load, void *arg);

/* bytes of the model's parts now in this backend's memory */
extern Size serving_cache_model_bytes(int64 model_id);

/* recs.cache_size, defined at load time */
extern void serving_cache_define_guc(void);

#endif							/* RECS_SERVING_CACHE_H */
