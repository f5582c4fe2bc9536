/*
 * model_store.h -- the recs.model catalog: new versions, metrics, activation
 */
#ifndef RECS_MODEL_STORE_H
#define RECS_MODEL_STORE_H

#include "postgres.h"


/*
 * Insert the catalog row of a new model version (next version for name),
 * serialising concurrent trainings of one name.  Returns the model id.
 */
extern int64 model_store_create(const char *name, const char *kind,
								const char *source_json, const char *params_json,
								double trained_through);
extern void model_store_set_metrics(int64 model_id, const char *metrics_json);
extern void model_store_activate(int64 model_id, const char *slot);

#endif							/* RECS_MODEL_STORE_H */
