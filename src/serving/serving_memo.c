/*
 * serving_memo.c -- recommend()'s answers, remembered per backend
 *
 * See serving_memo.h for why an answer never goes stale.  The answers live
 * in a hash table in their own memory context under TopMemoryContext,
 * sized by recs.answer_cache_size; when a new answer would not fit, the
 * whole table is dropped and starts over -- a bound, not an eviction
 * policy: the answers are cheap to recompute, and a backend serving more
 * learners than fit simply serves at the cost of scoring.  An answer is
 * stored only after it was computed in full, and the table is created and
 * dropped outside any transaction's memory, so an error leaves either the
 * old table or no table, never a half-written entry.
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "serving_memo.h"

typedef struct MemoEntry
{
	ServingMemoKey key;			/* hash key: must be first */
	int			n;
	int64	   *course_id;
	double	   *score;
} MemoEntry;

static int	memo_size_kb = 16384;
static MemoryContext memo_cxt = NULL;
static HTAB *memo = NULL;

void
serving_memo_define_guc(void)
{
	DefineCustomIntVariable("recs.answer_cache_size",
							"Memory each backend may use to remember recommend()'s answers.",
							"A repeated call of one model version for one learner and k, with the "
							"default filters, answers from memory. 0 turns it off.",
							&memo_size_kb,
							16384, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

static void
memo_drop(void)
{
	if (memo_cxt)
		MemoryContextDelete(memo_cxt);
	memo_cxt = NULL;
	memo = NULL;
}

bool
serving_memo_get(const ServingMemoKey *key, int *n, const int64 **course_id, const double **score)
{
	MemoEntry  *e;

	if (memo == NULL || memo_size_kb == 0)
		return false;
	e = hash_search(memo, key, HASH_FIND, NULL);
	if (e == NULL)
		return false;
	*n = e->n;
	*course_id = e->course_id;
	*score = e->score;
	return true;
}

void
serving_memo_put(const ServingMemoKey *key, int n, const int64 *course_id, const double *score)
{
	MemoEntry  *e;
	bool		found;
	int64	   *ids;
	double	   *scores;

	if (memo_size_kb == 0 || key->k > SERVING_MEMO_MAX_K)
	{
		if (memo_size_kb == 0 && memo)
			memo_drop();
		return;
	}
	if (memo && MemoryContextMemAllocated(memo_cxt, true) > (Size) memo_size_kb * 1024)
		memo_drop();
	if (memo == NULL)
	{
		HASHCTL		ctl;

		memo_cxt = AllocSetContextCreate(TopMemoryContext, "recs answer cache",
										 ALLOCSET_DEFAULT_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(ServingMemoKey);
		ctl.entrysize = sizeof(MemoEntry);
		ctl.hcxt = memo_cxt;
		memo = hash_create("recs answer cache", 1024, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* the payload first: a failed allocation leaves no entry behind */
	ids = MemoryContextAlloc(memo_cxt, sizeof(int64) * Max(n, 1));
	scores = MemoryContextAlloc(memo_cxt, sizeof(double) * Max(n, 1));
	memcpy(ids, course_id, sizeof(int64) * n);
	memcpy(scores, score, sizeof(double) * n);
	e = hash_search(memo, key, HASH_ENTER, &found);
	if (found)
	{
		pfree(e->course_id);
		pfree(e->score);
	}
	e->n = n;
	e->course_id = ids;
	e->score = scores;
}
