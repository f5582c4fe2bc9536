/*
 * sorted_ids.h -- comparators and binary search over sorted id arrays
 */
#ifndef RECS_SORTED_IDS_H
#define RECS_SORTED_IDS_H

#include "postgres.h"

/* qsort comparators */
extern int	recs_int64_cmp(const void *a, const void *b);
extern int	recs_int32_cmp(const void *a, const void *b);
/* index of key in the ascending array a[0..n), or -1 */
extern int	recs_find_int64(const int64 *a, int n, int64 key);

#endif							/* RECS_SORTED_IDS_H */
