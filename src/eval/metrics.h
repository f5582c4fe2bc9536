/*
 * metrics.h -- ranking metrics, exactly as the evaluation protocol defines them
 *
 * Ordering everywhere: score descending, ties to the smaller course id; a
 * NaN score (a course the model cannot rank) is below every number.
 */
#ifndef RECS_METRICS_H
#define RECS_METRICS_H

#include "postgres.h"

/*
 * Rank (1-based) of the positive among itself and the negatives:
 * 1 + #{n: s(n) > s(p)} + #{n: s(n) = s(p) and id(n) < id(p)}.
 */
extern int	metrics_sampled_rank(double pos_score, int64 pos_id,
								 const double *neg_score, const int64 *neg_id, int nneg);

/* DCG contribution of a hit at 1-based rank r: 1 / log2(r + 1) */
extern double metrics_gain(int rank);

/* ideal DCG for nrel relevant items cut at k */
extern double metrics_ideal_dcg(int nrel, int k);

/* true when (sa, ida) ranks before (sb, idb), NaN last */
extern bool metrics_ranks_before(double sa, int64 ida, double sb, int64 idb);

#endif							/* RECS_METRICS_H */
