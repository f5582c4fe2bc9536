/*
 * topk.h -- partial selection of the k best scores (no full sort)
 */
#ifndef RECS_TOPK_H
#define RECS_TOPK_H

#include "postgres.h"

/*
 * Indexes of the k best entries of score[0..n), best first, skipping
 * entries with skip[i] true (skip may be NULL) and NaN scores.  Order: score
 * descending, then index ascending (callers keep ids ascending with index,
 * so ties go to the smaller id).  Returns how many were written to out.
 * O(n log k) with a binary heap of size k.
 */
extern int	topk_select(const double *score, const bool *skip, int n, int k, int *out);

/* true when (sa, ia) ranks before (sb, ib) in that order */
static inline bool
topk_better(double sa, int ia, double sb, int ib)
{
	return sa > sb || (sa == sb && ia < ib);
}

#endif							/* RECS_TOPK_H */
