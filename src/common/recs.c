/*
 * recs.c -- module entry point of the recs extension
 *
 * Serving runs in many backends at once, so no backend may spawn BLAS
 * worker threads on its own: OpenBLAS is pinned to one thread at load time,
 * and trainers raise the count only for the duration of a training (see the
 * threads option of the trainers).
 */
#include "postgres.h"

#include "fmgr.h"

#include <cblas.h>

#include "utils/guc.h"

#include "memory_budget.h"
#include "blend.h"
#include "glmix.h"
#include "glmix_flat.h"
#include "ncf.h"
#include "popularity.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_memo.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	openblas_set_num_threads(1);
	recs_define_memory_guc();
	serving_cache_define_guc();
	serving_memo_define_guc();
	serving_keys_define_guc();
	glmix_flat_define_guc();
	/* the model kinds serving knows (serving.h) */
	serving_register_kind(&popularity_kind);
	serving_register_kind(&ncf_kind);
	serving_register_kind(&glmix_kind);
	serving_register_kind(&blend_kind);
	MarkGUCPrefixReserved("recs");
}
