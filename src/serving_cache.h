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

/* builds the part in CurrentMemoryContext and returns it */
typedef void *(*ServingLoadFn) (int64 model_id, const char *part, void *arg);

/*
 * stamp is the xmin of the model's catalog row: should a model id ever be
 * reused (a restored dump, a reset sequence), the stamp tells them apart.
 */
extern void *serving_cache_get(int64 model_id, uint32 stamp, const char *part,
							   ServingLoadFn load, void *arg);

#endif							/* RECS_SERVING_CACHE_H */
