/*
 * serving_cache.c -- a small LRU of loaded model parts, one per backend
 *
 * See serving_cache.h for why entries never go stale.  The cache holds at
 * most SERVING_CACHE_SLOTS parts and at most recs.cache_size bytes; the
 * least recently used parts are dropped (their memory contexts deleted) to
 * make room, so a backend's memory stays bounded however many models are
 * trained while it serves.
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "serving_cache.h"

#define SERVING_CACHE_SLOTS 32
#define PART_NAME_LEN 64

typedef struct CacheSlot
{
	int64		model_id;		/* 0 = empty */
	uint32		stamp;
	char		part[PART_NAME_LEN];
	uint64		last_used;
	MemoryContext cxt;
	void	   *data;
} CacheSlot;

static MemoryContext cache_cxt = NULL;
static CacheSlot slots[SERVING_CACHE_SLOTS];
static uint64 use_clock = 0;
static int	cache_size_kb = 262144;

void
serving_cache_define_guc(void)
{
	DefineCustomIntVariable("recs.cache_size",
							"Memory each backend may use to cache loaded models for serving.",
							"The least recently used model parts are dropped beyond it.",
							&cache_size_kb,
							262144, 1024, INT_MAX,
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
	MemoryContextSetParent(s->cxt, TopTransactionContext);
	s->model_id = 0;
	s->cxt = NULL;
	s->data = NULL;
	s->last_used = 0;
}

void *
serving_cache_get(int64 model_id, uint32 stamp, const char *part,
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

	if (cache_cxt == NULL)
		cache_cxt = AllocSetContextCreate(TopMemoryContext, "recs serving cache",
										  ALLOCSET_DEFAULT_SIZES);

	/* load under the transaction's context: an error frees it with the rest */
	partcxt = AllocSetContextCreate(CurrentMemoryContext, "recs model part",
									ALLOCSET_DEFAULT_SIZES);
	oldcxt = CurrentMemoryContext;
	data = load(model_id, part, arg, partcxt);
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
	MemoryContextSetParent(partcxt, cache_cxt);
	victim->model_id = model_id;
	victim->stamp = stamp;
	strlcpy(victim->part, part, PART_NAME_LEN);
	victim->last_used = ++use_clock;
	victim->cxt = partcxt;
	victim->data = data;
	return data;
}
