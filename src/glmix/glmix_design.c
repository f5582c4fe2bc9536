/*
 * glmix_design.c -- GLMix designs: the fixed design's layout, feature names
 * and rows, and the CSR design matrices of a training
 *
 * The fixed design is
 *   x(l, c) = [1 | learner features | course features | crosses]
 * and a random effect's z = [1 | the other side's features]: a
 * learner-keyed effect acts on the course's features and vice versa.  A
 * cross "lcol:ccol" is the outer product of a learner column's and a course
 * column's features (with hash_bits, 2^hash_bits buckets shared by all
 * crosses: glmix_hash.c); match features ("lcol=ccol", "lcol~ccol":
 * glmix_match.c) come last.  Training and serving both build x(l, c) through
 * glmix_fixed_row(), so they cannot disagree.  A training's designs are
 * assembled once, in C, from the sides' vectors (glmix_features.c): lengths
 * are counted first, so every array is allocated once at its final size,
 * and val is left NULL when every value is 1 (no numeric columns).  On
 * Citus a design lives only while its blocks are cut (glmix_stage.c); the
 * scores are then rebuilt from the sides (glmix_fixed_scores,
 * glmix_random_scores, at the end), row by row as the design had them.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "glmix.h"

/* ---- the fixed design: layout, feature names, one row ---- */

void
glmix_fixed_layout(GlmixFixedLayout *lay, bool intercept, const GlmixSide *learners,
				   const GlmixSide *courses)
{
	int64		dim;

	lay->intercept = intercept;
	lay->l_base = intercept ? 1 : 0;
	lay->c_base = lay->l_base + learners->nmodel;
	dim = lay->c_base + courses->nmodel;
	for (int p = 0; p < lay->ncross; p++)
	{
		const GlmixColumn *lc = &learners->cols[lay->cross[p].lcol];
		const GlmixColumn *cc = &courses->cols[lay->cross[p].ccol];

		lay->cross[p].base = (int) Min(dim, PG_INT32_MAX);
		if (lay->hash_bits == 0)
			dim += (int64) (lc->end - lc->start) * (cc->end - cc->start);
	}
	/* hashed: every cross shares the buckets; then the match features */
	lay->hash_base = (int) Min(dim, PG_INT32_MAX);
	if (lay->hash_bits > 0 && lay->ncross > 0)
		dim += (int64) 1 << lay->hash_bits;
	for (int q = 0; q < lay->nmatch; q++)
	{
		lay->match[q].base = (int) Min(dim, PG_INT32_MAX);
		dim += GLMIX_MATCH_WIDTH(lay->match[q].kind);
	}
	if (dim > GLMIX_MAX_FIXED_DIM)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the fixed effect would have %lld features, more than %d",
						(long long) dim, GLMIX_MAX_FIXED_DIM),
				 errhint("Choose fewer crosses (crosses => '{}' turns them off) or fewer feature columns.")));
	if (dim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the fixed effect has no features"),
				 errhint("Keep its intercept or name feature columns.")));
	lay->dim = (int) dim;
}

/* the name of feature j of x(l, c); a cross is "a=x & b=y" */
char *
glmix_fixed_feature_name(const GlmixFixedLayout *lay, const GlmixSide *learners,
						 const GlmixSide *courses, int j)
{
	if (lay->intercept && j == 0)
		return "(intercept)";
	if (j < lay->c_base)
		return learners->names[j - lay->l_base];
	if (j < lay->c_base + courses->nmodel)
		return courses->names[j - lay->c_base];
	if (lay->nmatch > 0 && j >= lay->match[0].base)
		return glmix_match_feature_name(lay, learners, courses, j);
	if (lay->hash_bits > 0)
		return psprintf("(hashed cross %d)", j - lay->hash_base);
	for (int p = lay->ncross - 1; p >= 0; p--)
	{
		const GlmixCross *x = &lay->cross[p];

		if (j >= x->base)
		{
			const GlmixColumn *cc = &courses->cols[x->ccol];
			const GlmixColumn *lc = &learners->cols[x->lcol];
			int			width = cc->end - cc->start;
			int			k = j - x->base;

			return psprintf("%s & %s", learners->names[lc->start + k / width],
							courses->names[cc->start + k % width]);
		}
	}
	return "?";
}

/*
 * Assemble x(l, c) for one learner and course (either may be -1, i.e.
 * unknown) from their side vectors and return its length; with col == NULL
 * only count: then the result is an upper bound when crosses are hashed or
 * there are matches (a bucket hit twice is one feature, a match that does
 * not hold none).  Indexes come out ascending, which the Hessian
 * accumulation relies on.  Training and serving both build rows here, so
 * they cannot disagree.
 */
int
glmix_fixed_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
				const GlmixSide *courses, int li, int ci, int32 *col, double *val)
{
	int			n = 0;
	/* the sides' model features: their match-only features come last */
	int32		llo = li >= 0 ? learners->ptr[li] : 0,
				lhi = li >= 0 ? glmix_side_model_end(learners, li) : 0,
				clo = ci >= 0 ? courses->ptr[ci] : 0,
				chi = ci >= 0 ? glmix_side_model_end(courses, ci) : 0;

	if (lay->intercept)
	{
		if (col)
			col[n] = 0;
		if (val)
			val[n] = 1.0;
		n++;
	}
	for (int32 k = llo; k < lhi; k++, n++)
	{
		if (col)
			col[n] = lay->l_base + learners->col[k];
		if (val)
			val[n] = learners->val[k];
	}
	for (int32 k = clo; k < chi; k++, n++)
	{
		if (col)
			col[n] = lay->c_base + courses->col[k];
		if (val)
			val[n] = courses->val[k];
	}
	if (lay->hash_bits > 0)
		n += glmix_hash_row(lay, learners, courses, li, ci, col ? col + n : NULL,
							val ? val + n : NULL);
	for (int p = 0; p < lay->ncross && lay->hash_bits == 0; p++)
	{
		const GlmixCross *x = &lay->cross[p];
		const GlmixColumn *lc = &learners->cols[x->lcol];
		const GlmixColumn *cc = &courses->cols[x->ccol];
		int			width = cc->end - cc->start;

		for (int32 a = llo; a < lhi; a++)
		{
			if (learners->col[a] < lc->start || learners->col[a] >= lc->end)
				continue;
			for (int32 b = clo; b < chi; b++)
			{
				if (courses->col[b] < cc->start || courses->col[b] >= cc->end)
					continue;
				if (col)
					col[n] = x->base + (learners->col[a] - lc->start) * width +
						(courses->col[b] - cc->start);
				if (val)
					val[n] = learners->val[a] * courses->val[b];
				n++;
			}
		}
	}
	if (lay->nmatch > 0)
		n += glmix_match_row(lay, learners, courses, li, ci, col ? col + n : NULL,
							 val ? val + n : NULL);
	return n;
}

bool
glmix_fixed_binary(const GlmixFixedLayout *lay, const GlmixSide *learners,
				   const GlmixSide *courses)
{
	if (!glmix_side_binary(learners) || !glmix_side_binary(courses))
		return false;
	if (lay->hash_bits > 0 && lay->ncross > 0)
		return false;
	for (int q = 0; q < lay->nmatch; q++)
		if (lay->match[q].kind != GLMIX_MATCH_EQUAL)
			return false;
	return true;
}

/* ---- the design matrices of a training ---- */

GlmixDesign *
glmix_fixed_design(const GlmixFixedLayout *lay, const GlmixSide *learners,
				   const GlmixSide *courses, const GlmixRows *rows)
{
	GlmixDesign *d = palloc0(sizeof(GlmixDesign));
	int64		nnz = 0;
	int			np = lay->ncross;
	int		   *lcnt = palloc0(sizeof(int) * Max((Size) learners->n * np, 1));
	int		   *ccnt = palloc0(sizeof(int) * Max((Size) courses->n * np, 1));

	/*
	 * A row's length depends only on how many features its learner and
	 * course have in each crossed column: count those once per entity.
	 */
	for (int p = 0; p < np; p++)
	{
		const GlmixColumn *lc = &learners->cols[lay->cross[p].lcol];
		const GlmixColumn *cc = &courses->cols[lay->cross[p].ccol];

		for (int i = 0; i < learners->n; i++)
			for (int32 k = learners->ptr[i]; k < learners->ptr[i + 1]; k++)
				lcnt[(Size) i * np + p] += learners->col[k] >= lc->start && learners->col[k] < lc->end;
		for (int i = 0; i < courses->n; i++)
			for (int32 k = courses->ptr[i]; k < courses->ptr[i + 1]; k++)
				ccnt[(Size) i * np + p] += courses->col[k] >= cc->start && courses->col[k] < cc->end;
	}
	d->n = rows->n;
	d->dim = lay->dim;
	d->ptr = palloc(sizeof(int32) * (rows->n + 1));
	d->ptr[0] = 0;

	/*
	 * Count each row's length (an upper bound with hashed crosses and
	 * matches), allocate once, then fill the rows one after the other.
	 */
	for (int64 r = 0; r < rows->n; r++)
	{
		int			li = rows->li[r],
					ci = rows->ci[r];
		int64		before = nnz;

		nnz += (lay->intercept ? 1 : 0) +
			(li >= 0 ? learners->ptr[li + 1] - learners->ptr[li] : 0) +
			(ci >= 0 ? courses->ptr[ci + 1] - courses->ptr[ci] : 0);
		if (li >= 0 && ci >= 0)
			for (int p = 0; p < np; p++)
				nnz += lcnt[(Size) li * np + p] * ccnt[(Size) ci * np + p];
		if (lay->nmatch > 0)
			nnz += glmix_match_row(lay, learners, courses, li, ci, NULL, NULL);
		d->row_max = (int32) Max(d->row_max, Min(nnz - before, PG_INT32_MAX));
		if (nnz > PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the fixed design has too many nonzeros"),
					 errhint("Train on fewer impressions or with fewer crosses.")));
	}
	d->col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nnz, 1));
	d->val = glmix_fixed_binary(lay, learners, courses) ? NULL :
		MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nnz, 1));
	for (int64 r = 0; r < rows->n; r++)
	{
		int32		at = d->ptr[r];

		if ((r & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		d->ptr[r + 1] = at + glmix_fixed_row(lay, learners, courses, rows->li[r], rows->ci[r],
											 d->col + at, d->val ? d->val + at : NULL);
		if (d->ptr[r + 1] > nnz)
			elog(ERROR, "fixed design row " INT64_FORMAT " is longer than counted", r);
	}
	return d;
}

/*
 * z for every row of a random effect: [1 | the other side's features]; a
 * learner-keyed effect acts on the course's features and vice versa.
 */
GlmixDesign *
glmix_random_design(const GlmixRandom *re, const GlmixSide *other,
					const int *other_index, int64 n)
{
	GlmixDesign *d = palloc0(sizeof(GlmixDesign));
	int64		nnz = 0;
	int			shift = re->intercept ? 1 : 0;

	d->n = n;
	d->dim = re->dim;
	d->ptr = palloc(sizeof(int32) * (n + 1));
	d->ptr[0] = 0;
	for (int64 r = 0; r < n; r++)
	{
		int			o = other_index[r];

		nnz += shift + (o >= 0 ? glmix_side_model_end(other, o) - other->ptr[o] : 0);
		d->ptr[r + 1] = (int32) nnz;
	}
	d->col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nnz, 1));
	d->val = glmix_side_binary(other) ? NULL :
		MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nnz, 1));
	for (int64 r = 0; r < n; r++)
	{
		int			o = other_index[r];
		int32		at = d->ptr[r];

		if (re->intercept)
		{
			if (d->val)
				d->val[at] = 1.0;
			d->col[at++] = 0;
		}
		if (o >= 0)
			for (int32 k = other->ptr[o]; k < glmix_side_model_end(other, o); k++, at++)
			{
				d->col[at] = shift + other->col[k];
				if (d->val)
					d->val[at] = other->val[k];
			}
	}
	return d;
}

void
glmix_free_design(GlmixDesign *d)
{
	if (d == NULL)
		return;
	pfree(d->ptr);
	pfree(d->col);
	if (d->val)
		pfree(d->val);
	pfree(d);
}

/* ---- scores without the designs (the Citus path: glmix.h) ---- */

void
glmix_fixed_scores(const GlmixFixedLayout *lay, const GlmixSide *learners,
				   const GlmixSide *courses, const GlmixRows *rows, int32 row_max,
				   const double *beta, double *out)
{
	int32	   *col = palloc(sizeof(int32) * Max(row_max, 1));
	double	   *val = glmix_fixed_binary(lay, learners, courses) ? NULL :
		palloc(sizeof(double) * Max(row_max, 1));

	for (int64 r = 0; r < rows->n; r++)
	{
		double		s = 0.0;
		int			len;

		if ((r & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		len = glmix_fixed_row(lay, learners, courses, rows->li[r], rows->ci[r], col, val);
		if (val)
			for (int k = 0; k < len; k++)
				s += val[k] * beta[col[k]];
		else
			for (int k = 0; k < len; k++)
				s += beta[col[k]];
		out[r] = s;
	}
	pfree(col);
	if (val)
		pfree(val);
}

void
glmix_random_scores(const GlmixRandom *re, const GlmixSide *other, const int *other_index,
					const int *ent, int64 n, const double *coef, double *out)
{
	int			shift = re->intercept ? 1 : 0;
	bool		binary = glmix_side_binary(other);

	for (int64 r = 0; r < n; r++)
	{
		double		s = 0.0;
		int			o = other_index[r];
		const double *b;

		if (ent[r] < 0)
		{
			out[r] = 0.0;
			continue;
		}
		b = coef + (Size) ent[r] * re->dim;
		if (re->intercept)
			s += b[0];			/* the intercept column holds 1 */
		if (o >= 0)
			for (int32 k = other->ptr[o]; k < glmix_side_model_end(other, o); k++)
				s += binary ? b[shift + other->col[k]] : other->val[k] * b[shift + other->col[k]];
		out[r] = s;
	}
}
