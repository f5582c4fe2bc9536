/*
 * topk.c -- top-k selection with a bounded min-heap
 *
 * The heap's root is the worst of the k best seen so far; a new entry
 * enters only if it beats the root.  For serving (n = catalogue size, k
 * small) this is one pass with rare heap updates, far cheaper than sorting
 * every course.
 */
#include "postgres.h"

#include <math.h>

#include "topk.h"

static void
sift_down(int *heap, int size, const double *score, int pos)
{
	for (;;)
	{
		int			l = 2 * pos + 1;
		int			r = l + 1;
		int			worst = pos;

		/* the heap keeps the worst entry on top */
		if (l < size && topk_better(score[heap[worst]], heap[worst], score[heap[l]], heap[l]))
			worst = l;
		if (r < size && topk_better(score[heap[worst]], heap[worst], score[heap[r]], heap[r]))
			worst = r;
		if (worst == pos)
			return;
		{
			int			t = heap[pos];

			heap[pos] = heap[worst];
			heap[worst] = t;
		}
		pos = worst;
	}
}

int
topk_select(const double *score, const bool *skip, int n, int k, int *out)
{
	int			size = 0;
	double		floor = -INFINITY;	/* the root's score once the heap is full */

	if (k <= 0)
		return 0;
	for (int i = 0; i < n; i++)
	{
		/* most entries lose to the root: one compare (NaN fails it too) */
		if (size == k && !(score[i] >= floor))
			continue;
		if ((skip && skip[i]) || isnan(score[i]))
			continue;
		if (size < k)
		{
			/* sift up */
			int			pos = size++;

			out[pos] = i;
			while (pos > 0)
			{
				int			parent = (pos - 1) / 2;

				if (!topk_better(score[out[parent]], out[parent], score[out[pos]], out[pos]))
					break;
				{
					int			t = out[parent];

					out[parent] = out[pos];
					out[pos] = t;
				}
				pos = parent;
			}
			if (size == k)
				floor = score[out[0]];
		}
		else if (topk_better(score[i], i, score[out[0]], out[0]))
		{
			out[0] = i;
			sift_down(out, size, score, 0);
			floor = score[out[0]];
		}
	}
	/* heap sort in place: repeatedly move the worst to the end */
	for (int end = size - 1; end > 0; end--)
	{
		int			t = out[0];

		out[0] = out[end];
		out[end] = t;
		sift_down(out, end, score, 0);
	}
	return size;
}
