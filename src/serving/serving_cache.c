/*
 * serving_cache.c -- a small LRU of loaded model parts, one per backend
 *
 * See serving_cache.h for why entries never go stale.  The cache holds at
 * most SERVING_CACHE_SLOTS parts and at most recs.cache_size bytes; the
 * least recently used parts are dropped to make room, so a backend's memory
 * stays bounded however many models are trained while it serves.
 *
 * A dropped part lives on until the end of the transaction (a caller may
 * still be reading it), and until then it is still found: a statement
 * that loops over learners with more parts than the cache holds -- a
 * blend's training, evaluate, a blend served many times in one
 * transaction -- then loads each part once, instead of reloading a dropped
 * part on every call and keeping every copy until commit.
 */
#include "postgres.h"

#include <limits.h>

#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "spi_util.h"
#include "serving_cache.h"
#include "compat.h"

#define SERVING_CACHE_SLOTS 32
#define PART_NAME_LEN 64

typedef struct CacheSlot
{
	int64		model_id;		/* 0 = empty */
	uint64		stamp;
	char		part[PART_NAME_LEN];
	uint64		last_used;
	MemoryContext cxt;
	void	   *data;
} CacheSlot;

static MemoryContext cache_cxt = NULL;
static CacheSlot slots[SERVING_CACHE_SLOTS];
static uint64 use_clock = 0;
static int	cache_size_kb = 262144;

/*
 * Parts dropped in the current transaction, their memory under
 * TopTransactionContext.  An entry is valid only while lxid is the current
 * local transaction id: afterwards its memory is gone, and it is never
 * touched again.
 */
typedef struct RetiredPart
{
	LocalTransactionId lxid;
	int64		model_id;
	uint64		stamp;
	char		part[PART_NAME_LEN];
	Size		bytes;
	void	   *data;
} RetiredPart;

static RetiredPart retired[SERVING_CACHE_SLOTS];
static int	retired_next = 0;

/* parts already reported as larger than recs.cache_size (a ring) */
static struct
{
	int64		model_id;
	char		part[PART_NAME_LEN];
}			noticed[SERVING_CACHE_SLOTS];
static int	noticed_next = 0;

static bool
notice_once(int64 model_id, const char *part)
{
	for (int i = 0; i < SERVING_CACHE_SLOTS; i++)
		if (noticed[i].model_id == model_id && strcmp(noticed[i].part, part) == 0)
			return false;
	noticed[noticed_next].model_id = model_id;
	strlcpy(noticed[noticed_next].part, part, PART_NAME_LEN);
	noticed_next = (noticed_next + 1) % SERVING_CACHE_SLOTS;
	return true;
}

void
serving_cache_define_guc(void)
{
	DefineCustomIntVariable("recs.cache_size",
							"Memory each backend may use to cache loaded models for serving.",
							"The least recently used model parts are dropped beyond it.",
							&cache_size_kb,
							262144, 64, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

/*
 * Drop a part from the cache.  Its memory lives on until the end of the
 * transaction: a caller in the middle of scoring (a blend holds its own part
 * while its components load theirs) may still be reading it.
 */
static void
drop_slot(CacheSlot *s)
{
	RetiredPart *r = &retired[retired_next];

	retired_next = (retired_next + 1) % SERVING_CACHE_SLOTS;
	r->lxid = recs_current_lxid();
	r->model_id = s->model_id;
	r->stamp = s->stamp;
	strlcpy(r->part, s->part, PART_NAME_LEN);
	r->data = s->data;
	r->bytes = MemoryContextMemAllocated(s->cxt, true);
	MemoryContextSetParent(s->cxt, TopTransactionContext);
	s->model_id = 0;
	s->cxt = NULL;
	s->data = NULL;
	s->last_used = 0;
}

void *
serving_cache_get(int64 model_id, uint64 stamp, const char *part,
				  ServingLoadFn load, void *arg)
{
	CacheSlot  *victim = &slots[0];
	MemoryContext partcxt;
	MemoryContext oldcxt;
	void	   *data;

	Assert(model_id > 0);
	if (strlen(part) >= PART_NAME_LEN)
		elog(ERROR, "serving cache part name too long: \"%s\"", part);

	for (int i = 0; i < SERVING_CACHE_SLOTS; i++)
	{
		CacheSlot  *s = &slots[i];

		if (s->model_id == model_id && s->stamp == stamp &&
			strcmp(s->part, part) == 0)
		{
			s->last_used = ++use_clock;
			return s->data;
		}
		if (s->model_id == 0 || s->last_used < victim->last_used)
			victim = s;
	}

	/* dropped earlier in this transaction: still in memory, use it */
	for (int i = 0; i < SERVING_CACHE_SLOTS; i++)
	{
		RetiredPart *r = &retired[i];

		if (r->data != NULL && r->lxid == recs_current_lxid() && r->model_id == model_id &&
			r->stamp == stamp && strcmp(r->part, part) == 0)
			return r->data;
	}

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "recs serving cache",
										  ALLOCSET_DEFAULT_SIZES);

	/* load under the transaction's context: an error frees it with the rest */
	partcxt = AllocSetContextCreate(CurrentMemoryContext, "recs model part",
									ALLOCSET_DEFAULT_SIZES);
	/*
	 * "glmix 42 <cache_token>": pg_backend_memory_contexts shows each part's
	 * size (a model given a new cache_token has both until one is dropped)
	 */
	MemoryContextSetIdentifier(partcxt,
							   MemoryContextStrdup(partcxt, psprintf("%s " INT64_FORMAT " " INT64_FORMAT,
																	 part, model_id, (int64) stamp)));
	oldcxt = CurrentMemoryContext;
	{
		/* loaders read the model's tables: SQL, with recs' search_path */
		int			spi_level = recs_spi_connect();

		data = load(model_id, part, arg, partcxt);
		recs_spi_finish(spi_level);
	}
	MemoryContextSwitchTo(oldcxt);

	/* fully loaded: make room (slots and bytes), then keep the new part */
	if (victim->model_id != 0)
		drop_slot(victim);
	for (;;)
	{
		Size		used = MemoryContextMemAllocated(partcxt, true);
		CacheSlot  *lru = NULL;

		for (int i = 0; i < SERVING_CACHE_SLOTS; i++)
			if (slots[i].model_id != 0)
			{
				used += MemoryContextMemAllocated(slots[i].cxt, true);
				if (lru == NULL || slots[i].last_used < lru->last_used)
					lru = &slots[i];
			}
		if (used <= (Size) cache_size_kb * 1024 || lru == NULL)
			break;
		drop_slot(lru);
	}
	/* once per backend and part: a part the cache cannot hold is reloaded often */
	if (MemoryContextMemAllocated(partcxt, true) > (Size) cache_size_kb * 1024 &&
		notice_once(model_id, part))
	{
		Size		kb = (MemoryContextMemAllocated(partcxt, true) + 1023) / 1024;

		ereport(NOTICE,
				(errmsg("recs model %lld part \"%s\" takes %zu kB, more than recs.cache_size (%d kB)",
						(long long) model_id, part, kb, cache_size_kb),
				 errdetail("It stays cached only until another model part is loaded; then it is loaded again when needed."),
				 errhint("Raise recs.cache_size, e.g. SET recs.cache_size = '%zuMB'.",
						 (2 * kb + 1023) / 1024)));
	}
	MemoryContextSetParent(partcxt, cache_cxt);
	victim->model_id = model_id;
	victim->stamp = stamp;
	strlcpy(victim->part, part, PART_NAME_LEN);
	victim->last_used = ++use_clock;
	victim->cxt = partcxt;
	victim->data = data;
	return data;
}

/*
 * The memory a model's loaded parts hold in this backend: the cached ones
 * and those dropped earlier in this transaction (alive until it ends).  A
 * training that serves other models (a blend's components) counts it
 * against recs.memory_limit.
 */
Size
serving_cache_model_bytes(int64 model_id)
{
	Size		bytes = 0;

	for (int i = 0; i < SERVING_CACHE_SLOTS; i++)
	{
		if (slots[i].model_id == model_id)
			bytes += MemoryContextMemAllocated(slots[i].cxt, true);
		if (retired[i].data != NULL && retired[i].lxid == recs_current_lxid() &&
			retired[i].model_id == model_id)
			bytes += retired[i].bytes;
	}
	return bytes;
}
