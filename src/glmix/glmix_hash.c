/*
 * glmix_hash.c -- hashed crosses: train_glmix(hash_bits => n)
 *
 * A cross "lcol:ccol" has a feature per pair of values, so crossing
 * high-cardinality columns outgrows the fixed effect.  With hash_bits = n
 * every cross feature goes to one of 2^n buckets shared by all crosses (the
 * hashing trick): the bucket of the pair (a, b) is
 *     fmix64(h(a) * 0x9E3779B97F4A7C15 + h(b)) mod 2^n
 * where h is the 64-bit FNV-1a hash of the feature's printed name
 * ("occupation=doctor", "genres=Drama").  Names, not dictionary positions,
 * are hashed, so a pair lands in the same bucket in every training on every
 * platform, whatever other values the tables hold.  Two pairs of one row
 * that share a bucket give it the value 2 (the sum), so rows stay sorted
 * and without repeated indexes.  The main effects are never hashed.
 */
#include "postgres.h"

#include "glmix.h"

uint64
glmix_name_hash(const char *name)
{
	uint64		h = UINT64CONST(0xcbf29ce484222325);

	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
	{
		h ^= *p;
		h *= UINT64CONST(0x100000001b3);
	}
	return h;
}

int
glmix_cross_bucket(uint64 lhash, uint64 chash, int bits)
{
	uint64		h = lhash * UINT64CONST(0x9E3779B97F4A7C15) + chash;

	/* MurmurHash3's finaliser: every input bit reaches the low bits */
	h ^= h >> 33;
	h *= UINT64CONST(0xff51afd7ed558ccd);
	h ^= h >> 33;
	h *= UINT64CONST(0xc4ceb9fe1a85ec53);
	h ^= h >> 33;
	return (int) (h & ((UINT64CONST(1) << bits) - 1));
}

/* sort (col, val) pairs by col: rows are short, so insertion sort */
static void
sort_pairs(int32 *col, double *val, int n)
{
	for (int i = 1; i < n; i++)
	{
		int32		c = col[i];
		double		v = val ? val[i] : 1.0;
		int			j = i;

		while (j > 0 && col[j - 1] > c)
		{
			col[j] = col[j - 1];
			if (val)
				val[j] = val[j - 1];
			j--;
		}
		col[j] = c;
		if (val)
			val[j] = v;
	}
}

int
glmix_hash_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
			   const GlmixSide *courses, int li, int ci, int32 *col, double *val)
{
	int			n = 0,
				u;

	if (li < 0 || ci < 0)
		return 0;
	for (int p = 0; p < lay->ncross; p++)
	{
		const GlmixColumn *lc = &learners->cols[lay->cross[p].lcol];
		const GlmixColumn *cc = &courses->cols[lay->cross[p].ccol];

		for (int32 a = learners->ptr[li]; a < learners->ptr[li + 1]; a++)
		{
			int32		fa = learners->col[a];

			if (fa < lc->start || fa >= lc->end)
				continue;
			for (int32 b = courses->ptr[ci]; b < courses->ptr[ci + 1]; b++)
			{
				int32		fb = courses->col[b];

				if (fb < cc->start || fb >= cc->end)
					continue;
				if (col)
				{
					col[n] = lay->hash_base +
						glmix_cross_bucket(lay->lhash[fa], lay->chash[fb], lay->hash_bits);
					if (val)
						val[n] = learners->val[a] * courses->val[b];
				}
				n++;
			}
		}
	}
	if (col == NULL || n < 2)
		return n;

	/* sort, then sum the values of a bucket hit more than once */
	sort_pairs(col, val, n);
	u = 1;
	for (int k = 1; k < n; k++)
	{
		if (col[k] == col[u - 1])
		{
			if (val)
				val[u - 1] += val[k];
			continue;
		}
		col[u] = col[k];
		if (val)
			val[u] = val[k];
		u++;
	}
	return u;
}
