/*
 * glmix_match.c -- GLMix match features: a learner column against a course
 * column
 *
 * A cross "skills:skills" has a feature per pair of skills; what usually
 * matters is whether the learner's values meet the course's.  A match
 * compares a learner column with a course column value by value (the
 * values as text: the two columns' dictionaries differ) and adds to x(l, c):
 *   "lcol=ccol"  one feature, 1 when the two one-hot (text) columns hold
 *                the same value ("language=language": the course is in the
 *                learner's language), named match(lcol=ccol);
 *   "lcol~ccol"  two features of two categorical (text or text[]) columns:
 *                overlap(lcol~ccol), the number of values they share, and
 *                jaccard(lcol~ccol), that number over the size of their
 *                union.
 * A NULL or empty side shares nothing: the features are absent (0).  They
 * sit after the crosses (glmix_design.c) and are listed, as specs, in the
 * fixed coordinate's "matches" (glmix_store.c).
 *
 * glmix_fixed_prepare() maps each learner value of a match to the course
 * column's feature with the same value, once per model, from the sides'
 * feature names (training has them from the tables, serving from the stored
 * names): a row's match is then one pass over the learner's values with a
 * binary search among the course's, no strings compared.  Serving a whole
 * catalogue costs one such intersection per course.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "glmix.h"

/* ---- specs ---- */

bool
glmix_split_spec(const char *spec, const char *ops, const GlmixSide *learners,
				 const GlmixSide *courses, char *op, int *lcol, int *ccol)
{
	/* try every operator position: column names may hold the operators */
	for (const char *p = spec; *p; p++)
	{
		char	   *lname;

		if (strchr(ops, *p) == NULL)
			continue;
		lname = pnstrdup(spec, p - spec);
		*lcol = glmix_side_column(learners, lname);
		*ccol = glmix_side_column(courses, p + 1);
		pfree(lname);
		if (*lcol >= 0 && *ccol >= 0)
		{
			*op = *p;
			return true;
		}
	}
	return false;
}

const char *
glmix_match_incompatible(GlmixMatchKind kind, const GlmixSide *learners, int lcol,
						 const GlmixSide *courses, int ccol)
{
	const GlmixColumn *lc = &learners->cols[lcol];
	const GlmixColumn *cc = &courses->cols[ccol];

	if (lc->kind == GLMIX_NUMERIC || cc->kind == GLMIX_NUMERIC)
		return psprintf("Column \"%s\" is numeric; matches compare text or text[] columns.",
						lc->kind == GLMIX_NUMERIC ? lc->name : cc->name);
	if (kind == GLMIX_MATCH_EQUAL && (lc->kind == GLMIX_MULTIHOT || cc->kind == GLMIX_MULTIHOT))
		return psprintf("Column \"%s\" is text[]; \"=\" compares two text columns, \"~\" counts shared values.",
						lc->kind == GLMIX_MULTIHOT ? lc->name : cc->name);
	return NULL;
}

char *
glmix_match_spec(const GlmixMatch *mt, const GlmixSide *learners, const GlmixSide *courses)
{
	return psprintf("%s%c%s", learners->cols[mt->lcol].name,
					mt->kind == GLMIX_MATCH_EQUAL ? '=' : '~', courses->cols[mt->ccol].name);
}

/* ---- the per-model tables ---- */

typedef struct ValueIndex
{
	const char *value;
	int			index;
} ValueIndex;

static int
value_index_cmp(const void *a, const void *b)
{
	return strcmp(((const ValueIndex *) a)->value, ((const ValueIndex *) b)->value);
}

/* the value part of a feature name "col=value" of column col, NULL if it is not one */
static const char *
name_value(const char *name, const char *colname)
{
	const char *prefix = glmix_feature_name_part(colname);
	size_t		len = strlen(prefix);

	if (name == NULL || strncmp(name, prefix, len) != 0 || name[len] != '=')
		return NULL;
	return name + len + 1;
}

void
glmix_fixed_prepare(GlmixFixedLayout *lay, const GlmixSide *learners,
					const GlmixSide *courses, char **lnames, char **cnames)
{
	for (int q = 0; q < lay->nmatch; q++)
	{
		GlmixMatch *mt = &lay->match[q];
		const GlmixColumn *lc = &learners->cols[mt->lcol];
		const GlmixColumn *cc = &courses->cols[mt->ccol];
		int			nc = cc->end - cc->start;
		ValueIndex *cv = palloc(sizeof(ValueIndex) * Max(nc, 1));
		int			ncv = 0;

		/* the course column's values, sorted; then look each learner value up */
		for (int k = 0; k < nc; k++)
		{
			const char *v = name_value(cnames[cc->start + k], cc->name);

			if (v)
			{
				cv[ncv].value = v;
				cv[ncv++].index = k;
			}
		}
		qsort(cv, ncv, sizeof(ValueIndex), value_index_cmp);
		mt->lmap = palloc(sizeof(int) * Max(lc->end - lc->start, 1));
		for (int k = 0; k < lc->end - lc->start; k++)
		{
			ValueIndex	key = {name_value(lnames[lc->start + k], lc->name), 0};
			ValueIndex *hit = key.value && ncv > 0 ?
				bsearch(&key, cv, ncv, sizeof(ValueIndex), value_index_cmp) : NULL;

			mt->lmap[k] = hit ? hit->index : -1;
		}
		pfree(cv);
	}
	lay->lnames = lnames;
	lay->cnames = cnames;
	lay->lhash = lay->chash = NULL;
	if (lay->hash_bits > 0 && lay->ncross > 0)
	{
		lay->lhash = palloc(sizeof(uint64) * Max(learners->nfeat, 1));
		lay->chash = palloc(sizeof(uint64) * Max(courses->nfeat, 1));
		for (int j = 0; j < learners->nfeat; j++)
			lay->lhash[j] = glmix_name_hash(lnames[j]);
		for (int j = 0; j < courses->nfeat; j++)
			lay->chash[j] = glmix_name_hash(cnames[j]);
	}
}

char **
glmix_side_names(const GlmixSide *side, char **fixed_names)
{
	char	  **names = palloc(sizeof(char *) * Max(side->nfeat, 1));

	for (int j = 0; j < side->nfeat; j++)
		names[j] = j < side->nmodel ? fixed_names[j] : side->names[j];
	return names;
}

/* ---- one row ---- */

/* is feature f among the sorted features [lo, hi) of the courses side? */
static bool
course_has(const GlmixSide *courses, int32 lo, int32 hi, int32 f)
{
	while (lo < hi)
	{
		int32		mid = lo + (hi - lo) / 2;

		if (courses->col[mid] == f)
			return true;
		if (courses->col[mid] < f)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* the shared values of a match, and how many values each side has in its column */
static int
match_count(const GlmixMatch *mt, const GlmixSide *learners, const GlmixSide *courses,
			int li, int ci, int *nl, int *nc)
{
	const GlmixColumn *lc = &learners->cols[mt->lcol];
	const GlmixColumn *cc = &courses->cols[mt->ccol];
	int32		clo = courses->ptr[ci],
				chi = courses->ptr[ci + 1];
	int			shared = 0;

	*nl = *nc = 0;
	for (int32 b = clo; b < chi; b++)
		*nc += courses->col[b] >= cc->start && courses->col[b] < cc->end;
	for (int32 a = learners->ptr[li]; a < learners->ptr[li + 1]; a++)
	{
		int32		f = learners->col[a];
		int			m;

		if (f < lc->start || f >= lc->end)
			continue;
		(*nl)++;
		m = mt->lmap[f - lc->start];
		if (m >= 0 && course_has(courses, clo, chi, cc->start + m))
			shared++;
	}
	return shared;
}

int
glmix_match_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
				const GlmixSide *courses, int li, int ci, int32 *col, double *val)
{
	int			n = 0;

	if (col == NULL)
	{
		for (int q = 0; q < lay->nmatch; q++)
			n += GLMIX_MATCH_WIDTH(lay->match[q].kind);
		return n;
	}
	if (li < 0 || ci < 0)
		return 0;
	for (int q = 0; q < lay->nmatch; q++)
	{
		const GlmixMatch *mt = &lay->match[q];
		int			nl,
					nc,
					shared = match_count(mt, learners, courses, li, ci, &nl, &nc);

		if (shared == 0)
			continue;
		col[n] = mt->base;
		if (val)
			val[n] = mt->kind == GLMIX_MATCH_EQUAL ? 1.0 : (double) shared;
		n++;
		if (mt->kind == GLMIX_MATCH_OVERLAP)
		{
			col[n] = mt->base + 1;
			if (val)
				val[n] = (double) shared / (nl + nc - shared);
			n++;
		}
	}
	return n;
}

/* ---- names and words ---- */

/* the match that feature j belongs to, or NULL */
static const GlmixMatch *
match_of(const GlmixFixedLayout *lay, int j)
{
	for (int q = 0; q < lay->nmatch; q++)
		if (j >= lay->match[q].base && j < lay->match[q].base + GLMIX_MATCH_WIDTH(lay->match[q].kind))
			return &lay->match[q];
	return NULL;
}

char *
glmix_match_feature_name(const GlmixFixedLayout *lay, const GlmixSide *learners,
						 const GlmixSide *courses, int j)
{
	const GlmixMatch *mt = match_of(lay, j);
	const char *l,
			   *c;

	if (mt == NULL)
		return "?";
	l = glmix_feature_name_part(learners->cols[mt->lcol].name);
	c = glmix_feature_name_part(courses->cols[mt->ccol].name);
	if (mt->kind == GLMIX_MATCH_EQUAL)
		return psprintf("match(%s=%s)", l, c);
	return psprintf("%s(%s~%s)", j == mt->base ? "overlap" : "jaccard", l, c);
}

/* a hashed bucket in words: the crossed pairs of this row that fall in it */
static char *
bucket_words(const GlmixFixedLayout *lay, const GlmixSide *learners, const GlmixSide *courses,
			 char **lnames, char **cnames, int li, int ci, int j)
{
	StringInfoData buf;
	int			bucket = j - lay->hash_base;
	int			found = 0;

	initStringInfo(&buf);
	for (int p = 0; p < lay->ncross && li >= 0 && ci >= 0; p++)
	{
		const GlmixColumn *lc = &learners->cols[lay->cross[p].lcol];
		const GlmixColumn *cc = &courses->cols[lay->cross[p].ccol];

		for (int32 a = learners->ptr[li]; a < learners->ptr[li + 1]; a++)
			for (int32 b = courses->ptr[ci]; b < courses->ptr[ci + 1]; b++)
			{
				int32		fa = learners->col[a],
							fb = courses->col[b];

				if (fa < lc->start || fa >= lc->end || fb < cc->start || fb >= cc->end ||
					glmix_cross_bucket(lay->lhash[fa], lay->chash[fb], lay->hash_bits) != bucket)
					continue;
				appendStringInfo(&buf, "%s%s & %s", found++ ? " + " : "", lnames[fa], cnames[fb]);
			}
	}
	appendStringInfo(&buf, "%s(hashed cross %d)", found ? " " : "", bucket);
	return buf.data;
}

char *
glmix_fixed_feature_words(const GlmixFixedLayout *lay, const GlmixSide *learners,
						  const GlmixSide *courses, int li, int ci, int j)
{
	char	  **lnames = lay->lnames;
	char	  **cnames = lay->cnames;
	const GlmixMatch *mt = match_of(lay, j);
	const char *what;
	int			nl = 0,
				nc = 0,
				shared = 0;

	if (mt == NULL)
	{
		if (lay->hash_bits > 0 && lay->ncross > 0 && j >= lay->hash_base &&
			j < lay->hash_base + (1 << lay->hash_bits))
			return bucket_words(lay, learners, courses, lnames, cnames, li, ci, j);
		return NULL;
	}
	what = strcmp(learners->cols[mt->lcol].name, courses->cols[mt->ccol].name) == 0 ?
		learners->cols[mt->lcol].name :
		psprintf("%s%c%s", learners->cols[mt->lcol].name,
				 mt->kind == GLMIX_MATCH_EQUAL ? '=' : '~', courses->cols[mt->ccol].name);
	if (li >= 0 && ci >= 0)
		shared = match_count(mt, learners, courses, li, ci, &nl, &nc);
	if (mt->kind == GLMIX_MATCH_EQUAL)
	{
		const GlmixColumn *cc = &courses->cols[mt->ccol];

		if (shared > 0)
			for (int32 b = courses->ptr[ci]; b < courses->ptr[ci + 1]; b++)
				if (courses->col[b] >= cc->start && courses->col[b] < cc->end)
				{
					const char *v = name_value(cnames[courses->col[b]], cc->name);

					return psprintf("%s matches (%s)", what, v ? v : "?");
				}
		return psprintf("%s differs", what);
	}
	if (j == mt->base)
		return psprintf("%s overlap %d of %d", what, shared, nc);
	return psprintf("%s overlap %d of %d (Jaccard %.2f)", what, shared, nc,
					nl + nc - shared > 0 ? (double) shared / (nl + nc - shared) : 0.0);
}
