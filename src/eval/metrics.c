/*
 * metrics.c -- HR, NDCG, recall and reciprocal-rank building blocks
 *
 * Pure functions; evaluate.c feeds them.  The tie rule (score descending,
 * then ascending course id) matches ORDER BY score DESC, course_id ASC, the
 * rule of the reference evaluation, so figures compare with other systems.
 */
#include "postgres.h"

#include <math.h>

#include "metrics.h"

bool
metrics_ranks_before(double sa, int64 ida, double sb, int64 idb)
{
	bool		na = isnan(sa),
				nb = isnan(sb);

	if (na || nb)
	{
		if (na != nb)
			return nb;			/* a number before NaN */
		return ida < idb;
	}
	return sa > sb || (sa == sb && ida < idb);
}

int
metrics_sampled_rank(double pos_score, int64 pos_id,
					 const double *neg_score, const int64 *neg_id, int nneg)
{
	int			rank = 1;

	for (int i = 0; i < nneg; i++)
		if (metrics_ranks_before(neg_score[i], neg_id[i], pos_score, pos_id))
			rank++;
	return rank;
}

double
metrics_gain(int rank)
{
	return 1.0 / log2(rank + 1.0);
}

double
metrics_ideal_dcg(int nrel, int k)
{
	double		idcg = 0.0;

	for (int r = 1; r <= Min(nrel, k); r++)
		idcg += metrics_gain(r);
	return idcg;
}
