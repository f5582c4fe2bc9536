/*
 * serving_cache.c -- a small LRU of loaded model parts, one per backend
 *
 * See serving_cache.h for why entries never go stale.  The cache holds at
 * most SERVING_CACHE_SLOTS parts; the least recently used one is dropped
 * (its memory context deleted) to make room.
 */
#include "postgres.h"

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

	/* fully loaded: evict the victim and keep the new part */
	if (victim->model_id != 0)
		MemoryContextDelete(victim->cxt);
	MemoryContextSetParent(partcxt, cache_cxt);
	victim->model_id = model_id;
	victim->stamp = stamp;
	strlcpy(victim->part, part, PART_NAME_LEN);
	victim->last_used = ++use_clock;
	victim->cxt = partcxt;
	victim->data = data;
	return data;
}
