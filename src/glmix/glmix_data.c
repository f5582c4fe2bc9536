/*
 * glmix_data.c -- GLMix input: feature dictionaries, impressions, designs,
 * and the work relations the aggregates scan
 *
 * Features are named columns of the learners and courses relations:
 *   text (varchar, char, boolean)  one-hot, "industry=software";
 *   text[] (varchar[])             multi-hot, "skills=python" per element;
 *   numeric (int, float, numeric)  one feature "duration_minutes",
 *                                  standardised as (x - mean) / sd with the
 *                                  mean and population sd over the relation's
 *                                  non-NULL values (sd 0 gives 0).
 * NULLs contribute nothing.  Each side (learners, courses) becomes a CSR
 * matrix over its own feature space, built once; the three designs are
 * assembled from those vectors:
 *   x(l, c) = [1 | learner features | course features | crosses]
 *   per-learner-keyed effects: [1 | course features]
 *   per-course-keyed effects:  [1 | learner features]
 * A cross "lcol:ccol" is the outer product of a learner column's and a
 * course column's features ("occupation=doctor & genres=Drama").  A column
 * name or value that holds one of the separators (=, &, parentheses, a
 * double quote) or white space at either end, or is empty, is printed in
 * double quotes with inner quotes doubled ('language="en & topic=ai"'), so
 * no two features print alike.
 *
 * Impressions are read by the one impressions reader (ingest/impressions.c)
 * in its strict mode: NULL ids and labels, labels that are not 0/1, negative
 * or NaN weights are errors, so the numerics downstream never see bad input.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "recs.h"
#include "glmix.h"
#include "impressions.h"
#include "compat.h"

#define MAX_SIDE_FEATURES 100000

/*
 * A column name or value as it appears in a feature name: bare when that is
 * unambiguous, else double-quoted with inner quotes doubled (see the header).
 */
static const char *
feature_name_part(const char *s)
{
	size_t		len = strlen(s);
	StringInfoData buf;

	if (len > 0 && strpbrk(s, "=&()\"") == NULL &&
		!isspace((unsigned char) s[0]) && !isspace((unsigned char) s[len - 1]))
		return s;
	initStringInfo(&buf);
	appendStringInfoChar(&buf, '"');
	for (const char *p = s; *p; p++)
	{
		if (*p == '"')
			appendStringInfoChar(&buf, '"');
		appendStringInfoChar(&buf, *p);
	}
	appendStringInfoChar(&buf, '"');
	return buf.data;
}

/* how a feature column is encoded, from its type; other types are an error */
static GlmixColumnKind
column_kind(Oid relid, const char *col, const char *argname)
{
	Oid			type = recs_check_column(relid, col, argname, NULL, 0);

	switch (type)
	{
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case BOOLOID:
			return GLMIX_ONEHOT;
		case TEXTARRAYOID:
		case 1015:				/* varchar[] */
			return GLMIX_MULTIHOT;
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return GLMIX_NUMERIC;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("feature column \"%s\" of relation %s has type %s",
							col, recs_relation_name(relid), format_type_be(type)),
					 errdetail("Feature columns must be text (one-hot), text[] (multi-hot) or numeric."),
					 errhint("Cast it in a view and pass the view instead.")));
	}
	return GLMIX_NUMERIC;		/* not reached */
}

/* the text elements of a text[] datum (NULL elements skipped) */
static int
text_elements(Datum d, char ***out)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				k = 0;

	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	*out = palloc(sizeof(char *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			(*out)[k++] = TextDatumGetCString(elems[i]);
	return k;
}

/*
 * Read the id and feature columns of a learners or courses relation in one
 * query, build each categorical column's dictionary (sorted distinct
 * values, so feature numbers do not depend on row order), the numeric
 * columns' mean and sd, and then every entity's CSR vector.  Duplicate ids
 * are an error: which row's features would count is otherwise arbitrary.
 */
GlmixSide *
glmix_read_side(Oid relid, const char *what, const char *idcol, char **features,
				int nfeatures)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID};
	GlmixSide  *s = palloc0(sizeof(GlmixSide));
	StringInfoData sql;
	char		argname[64];
	int			rc;
	SPITupleTable *tt;
	char	 ***dict;			/* per column: sorted distinct values */
	int		   *ndict;
	int64		nnz = 0;

	snprintf(argname, sizeof(argname), "%s_column", what);
	recs_check_column(relid, idcol, argname, id_types, lengthof(id_types));
	s->what = what;
	s->ncols = nfeatures;
	s->cols = palloc0(sizeof(GlmixColumn) * Max(nfeatures, 1));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s::int8", quote_identifier(idcol));
	snprintf(argname, sizeof(argname), "%s_features", what);
	for (int c = 0; c < nfeatures; c++)
	{
		GlmixColumn *col = &s->cols[c];

		for (int k = 0; k < c; k++)
			if (strcmp(features[k], features[c]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature column \"%s\" is listed twice in %s", features[c], argname)));
		col->name = pstrdup(features[c]);
		col->kind = column_kind(relid, features[c], argname);
		appendStringInfo(&sql, ", %s::%s", quote_identifier(features[c]),
						 col->kind == GLMIX_ONEHOT ? "text" :
						 col->kind == GLMIX_MULTIHOT ? "text[]" : "float8");
	}
	appendStringInfo(&sql, " FROM %s WHERE %s IS NOT NULL ORDER BY 1",
					 recs_relation_name(relid), quote_identifier(idcol));
	rc = SPI_execute(sql.data, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read %ss: %s", what, SPI_result_code_string(rc));
	tt = SPI_tuptable;
	s->n = (int) SPI_processed;
	s->ids = palloc(sizeof(int64) * Max(s->n, 1));
	for (int i = 0; i < s->n; i++)
	{
		bool		isnull;

		s->ids[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		if (i > 0 && s->ids[i] == s->ids[i - 1])
			ereport(ERROR,
					(errcode(ERRCODE_UNIQUE_VIOLATION),
					 errmsg("%s id %lld appears more than once in %s", what,
							(long long) s->ids[i], recs_relation_name(relid)),
					 errhint("Pass a relation with one row per %s.", what)));
	}

	/* dictionaries and standardisation, column by column */
	dict = palloc0(sizeof(char **) * Max(nfeatures, 1));
	ndict = palloc0(sizeof(int) * Max(nfeatures, 1));
	s->nfeat = 0;
	for (int c = 0; c < nfeatures; c++)
	{
		GlmixColumn *col = &s->cols[c];

		col->start = s->nfeat;
		if (col->kind == GLMIX_NUMERIC)
		{
			double		sum = 0,
						sum2 = 0;
			int			cnt = 0;

			for (int i = 0; i < s->n; i++)
			{
				bool		isnull;
				double		x = DatumGetFloat8(SPI_getbinval(tt->vals[i], tt->tupdesc, c + 2, &isnull));

				if (isnull)
					continue;
				if (!isfinite(x))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("numeric feature \"%s\" of %s id %lld is not finite",
									col->name, what, (long long) s->ids[i])));
				sum += x;
				sum2 += x * x;
				cnt++;
			}
			col->mean = cnt ? sum / cnt : 0.0;
			col->sd = cnt ? sqrt(Max(sum2 / cnt - col->mean * col->mean, 0.0)) : 0.0;
			s->nfeat++;
		}
		else
		{
			char	  **all = NULL;
			int			nall = 0,
						cap = Max(s->n, 16);

			all = palloc(sizeof(char *) * cap);
			for (int i = 0; i < s->n; i++)
			{
				bool		isnull;
				Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, c + 2, &isnull);
				char	  **el;
				int			nel;

				if (isnull)
					continue;
				if (col->kind == GLMIX_ONEHOT)
				{
					el = palloc(sizeof(char *));
					el[0] = TextDatumGetCString(d);
					nel = 1;
				}
				else
					nel = text_elements(d, &el);
				for (int k = 0; k < nel; k++)
				{
					if (nall == cap)
					{
						cap *= 2;
						all = repalloc_huge(all, sizeof(char *) * cap);
					}
					all[nall++] = el[k];
				}
			}
			if (nall > 0)
			{
				int			u = 1;

				qsort(all, nall, sizeof(char *), pg_qsort_strcmp);
				for (int k = 1; k < nall; k++)
					if (strcmp(all[k], all[u - 1]) != 0)
						all[u++] = all[k];
				nall = u;
			}
			dict[c] = all;
			ndict[c] = nall;
			s->nfeat += nall;
		}
		col->end = s->nfeat;
		if (s->nfeat > MAX_SIDE_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than %d %s features", MAX_SIDE_FEATURES, what),
					 errhint("Column \"%s\" has too many distinct values to one-hot encode.", col->name)));
	}
	s->names = palloc(sizeof(char *) * Max(s->nfeat, 1));
	for (int c = 0; c < nfeatures; c++)
	{
		GlmixColumn *col = &s->cols[c];
		const char *colname = feature_name_part(col->name);

		if (col->kind == GLMIX_NUMERIC)
			s->names[col->start] = pstrdup(colname);
		else
			for (int k = 0; k < ndict[c]; k++)
				s->names[col->start + k] = psprintf("%s=%s", colname,
													feature_name_part(dict[c][k]));
	}

	/* the CSR vectors: count, then fill */
	s->ptr = palloc(sizeof(int32) * (s->n + 1));
	s->ptr[0] = 0;
	for (int pass = 0; pass < 2; pass++)
	{
		if (pass == 1)
		{
			s->col = palloc(sizeof(int32) * Max(nnz, 1));
			s->val = palloc(sizeof(double) * Max(nnz, 1));
		}
		nnz = 0;
		for (int i = 0; i < s->n; i++)
		{
			for (int c = 0; c < nfeatures; c++)
			{
				GlmixColumn *col = &s->cols[c];
				bool		isnull;
				Datum		d = SPI_getbinval(tt->vals[i], tt->tupdesc, c + 2, &isnull);

				if (col->kind == GLMIX_NUMERIC)
				{
					if (pass == 1)
					{
						s->col[nnz] = col->start;
						s->val[nnz] = (isnull || col->sd == 0) ? 0.0 :
							(DatumGetFloat8(d) - col->mean) / col->sd;
					}
					nnz++;
				}
				else if (!isnull)
				{
					char	  **el;
					int			nel,
								first = (int) nnz;

					if (col->kind == GLMIX_ONEHOT)
					{
						el = palloc(sizeof(char *));
						el[0] = TextDatumGetCString(d);
						nel = 1;
					}
					else
						nel = text_elements(d, &el);
					for (int k = 0; k < nel; k++)
					{
						char	  **hit = bsearch(&el[k], dict[c], ndict[c], sizeof(char *), pg_qsort_strcmp);

						if (pass == 1)
						{
							s->col[nnz] = col->start + (int) (hit - dict[c]);
							s->val[nnz] = 1.0;
						}
						nnz++;
					}
					if (pass == 1 && nel > 1)
					{
						/* sort this column's indexes, drop repeated elements */
						int			u = first + 1;

						qsort(s->col + first, nel, sizeof(int32), recs_int32_cmp);
						for (int k = first + 1; k < first + nel; k++)
							if (s->col[k] != s->col[u - 1])
								s->col[u++] = s->col[k];
						nnz = u;
					}
				}
			}
			if (pass == 1)
				s->ptr[i + 1] = (int32) nnz;
			if (nnz > PG_INT32_MAX / 2)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("too many %s feature values", what)));
		}
	}
	SPI_freetuptable(tt);
	return s;
}

int
glmix_side_index(const GlmixSide *side, int64 id)
{
	return recs_find_int64(side->ids, side->n, id);
}

int
glmix_side_column(const GlmixSide *side, const char *name)
{
	for (int c = 0; c < side->ncols; c++)
		if (strcmp(side->cols[c].name, name) == 0)
			return c;
	return -1;
}

/* the reader's growth check: GLMIX_ROW_BYTES per row kept so far */
static void
check_growth(void *arg, int64 rows, int64 new_cap, int64 learners, double est_rows)
{
	/*
	 * Training holds at least GLMIX_ROW_BYTES per row (the exact check
	 * follows once the designs are known): stop early rather than after
	 * reading everything.  The doubled arrays take 48 bytes per row read so
	 * far, within that.
	 */
	recs_check_memory_growth((double) (rows + 1) * GLMIX_ROW_BYTES, est_rows * GLMIX_ROW_BYTES,
							 (const char *) arg);
}

/*
 * Read an impressions relation through the one reader (ingest/impressions.c)
 * with every row checked: GLMix fits every row it is given, so a NULL id
 * or label is an error.  training=false (the validation slice) ignores
 * weights and watch time.  Each row's learner and course are then looked
 * up in the sides.
 */
GlmixRows *
glmix_read_rows(Oid relid, const GlmixReadOptions *opt, const GlmixSide *learners,
				const GlmixSide *courses, bool training)
{
	GlmixRows  *rows = palloc0(sizeof(GlmixRows));
	ImpressionSpec spec;
	ImpressionSet *set;

	impressions_spec_init(&spec, opt->learner_column, opt->course_column);
	if (strcmp(opt->label, "bookmarked") != 0)
		impressions_spec_label(&spec, opt->click_column, "click_column");
	if (strcmp(opt->label, "clicked") != 0)
		impressions_spec_label(&spec, opt->bookmark_column, "bookmark_column");
	if (training && strcmp(opt->weighting, "watch_time") == 0)
		spec.seconds = opt->seconds_column;
	if (training)
		spec.weight = opt->weight_column;
	spec.strict = true;
	spec.initial_rows = 65536;
	spec.budget = check_growth;
	spec.budget_arg = training ? "reading the impressions" : "reading the validation rows";
	set = ingest_impressions(relid, &spec);

	rows->n = set->n;
	rows->y = set->y;
	rows->w = set->w;
	rows->learner_id = set->learner_id;
	rows->course_id = set->course_id;
	rows->n_positive = set->n_positive;
	rows->n_watch_weighted = set->n_watch_weighted;
	rows->li = palloc(sizeof(int) * Max(rows->n, 1));
	rows->ci = palloc(sizeof(int) * Max(rows->n, 1));
	for (int64 r = 0; r < rows->n; r++)
	{
		rows->li[r] = glmix_side_index(learners, rows->learner_id[r]);
		rows->ci[r] = glmix_side_index(courses, rows->course_id[r]);
	}
	return rows;
}

/* ---- designs ---- */

void
glmix_fixed_layout(GlmixFixedLayout *lay, bool intercept, const GlmixSide *learners,
				   const GlmixSide *courses)
{
	int64		dim;

	lay->intercept = intercept;
	lay->l_base = intercept ? 1 : 0;
	lay->c_base = lay->l_base + learners->nfeat;
	dim = lay->c_base + courses->nfeat;
	for (int p = 0; p < lay->ncross; p++)
	{
		const GlmixColumn *lc = &learners->cols[lay->cross[p].lcol];
		const GlmixColumn *cc = &courses->cols[lay->cross[p].ccol];

		lay->cross[p].base = (int) Min(dim, PG_INT32_MAX);
		dim += (int64) (lc->end - lc->start) * (cc->end - cc->start);
	}
	if (dim > 8192)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the fixed effect would have %lld features, more than 8192", (long long) dim),
				 errdetail("Its Newton solver keeps a dense Hessian."),
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
	if (j < lay->c_base + courses->nfeat)
		return courses->names[j - lay->c_base];
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
 * unknown) from their side vectors; with col == NULL only count.  Indexes
 * come out ascending, which the Hessian accumulation relies on.  Training
 * and serving both build rows here, so they cannot disagree.
 */
int
glmix_fixed_row(const GlmixFixedLayout *lay, const GlmixSide *learners,
				const GlmixSide *courses, int li, int ci, int32 *col, double *val)
{
	int			n = 0;
	int32		llo = li >= 0 ? learners->ptr[li] : 0,
				lhi = li >= 0 ? learners->ptr[li + 1] : 0,
				clo = ci >= 0 ? courses->ptr[ci] : 0,
				chi = ci >= 0 ? courses->ptr[ci + 1] : 0;

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
	for (int p = 0; p < lay->ncross; p++)
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
	return n;
}

/* every feature value is 1 when no column is numeric */
bool
glmix_side_binary(const GlmixSide *s)
{
	for (int c = 0; c < s->ncols; c++)
		if (s->cols[c].kind == GLMIX_NUMERIC)
			return false;
	return true;
}

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
	for (int64 r = 0; r < rows->n; r++)
	{
		int			li = rows->li[r],
					ci = rows->ci[r];

		nnz += (lay->intercept ? 1 : 0) +
			(li >= 0 ? learners->ptr[li + 1] - learners->ptr[li] : 0) +
			(ci >= 0 ? courses->ptr[ci + 1] - courses->ptr[ci] : 0);
		if (li >= 0 && ci >= 0)
			for (int p = 0; p < np; p++)
				nnz += lcnt[(Size) li * np + p] * ccnt[(Size) ci * np + p];
		if (nnz > PG_INT32_MAX / 2)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the fixed design has too many nonzeros"),
					 errhint("Train on fewer impressions or with fewer crosses.")));
		d->ptr[r + 1] = (int32) nnz;
	}
	d->col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(nnz, 1));
	d->val = glmix_side_binary(learners) && glmix_side_binary(courses) ? NULL :
		MemoryContextAllocHuge(CurrentMemoryContext, sizeof(double) * Max(nnz, 1));
	for (int64 r = 0; r < rows->n; r++)
	{
		if ((r & 65535) == 0)
			CHECK_FOR_INTERRUPTS();
		if (glmix_fixed_row(lay, learners, courses, rows->li[r], rows->ci[r],
							d->col + d->ptr[r], d->val ? d->val + d->ptr[r] : NULL) !=
			d->ptr[r + 1] - d->ptr[r])
			elog(ERROR, "fixed design row " INT64_FORMAT " has an unexpected length", r);
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

		nnz += shift + (o >= 0 ? other->ptr[o + 1] - other->ptr[o] : 0);
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
			for (int32 k = other->ptr[o]; k < other->ptr[o + 1]; k++, at++)
			{
				d->col[at] = shift + other->col[k];
				if (d->val)
					d->val[at] = other->val[k];
			}
	}
	return d;
}

/* ---- work relations ---- */

/*
 * A relation of blocks for one training.  It is an unlogged table in schema
 * recs when the invoker may create one there: it lives in shared buffers
 * (a temporary table spills beyond temp_buffers, 8 MB by default) and
 * parallel workers can scan it (they cannot read temporary tables).
 * Otherwise it is a temporary table.  Either way it is created in the
 * training's transaction, so an error removes it with everything else, and
 * no other session ever sees it.  A block fits in a page and the column's
 * storage is PLAIN: nothing is compressed or moved out of line.
 */
char *
glmix_work_table(const char *kind, int serial, bool with_entity, bool parallel)
{
	StringInfoData sql;
	char	   *name;
	int			rc;

	if (parallel)
	{
		Oid			nsp = get_namespace_oid("recs", false);

		if (pg_namespace_aclcheck(nsp, GetUserId(), ACL_CREATE) != ACLCHECK_OK)
			parallel = false;
	}
	if (parallel)
		name = psprintf("recs.%s", quote_identifier(psprintf("glmix_work_%d_%s_%d", MyProcPid, kind, serial)));
	else
		name = psprintf("pg_temp.%s", quote_identifier(psprintf("glmix_work_%s_%d", kind, serial)));
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE %s TABLE %s (%sblock bytea NOT NULL) USING heap%s;"
					 "ALTER TABLE %s ALTER COLUMN block SET STORAGE PLAIN",
					 parallel ? "UNLOGGED" : "TEMP", name,
					 with_entity ? "entity integer NOT NULL, " : "",
					 parallel ? " WITH (autovacuum_enabled = false)" : "",
					 name);
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "could not create work table: %s", SPI_result_code_string(rc));
	return name;
}

/* the OID of a work table just created through SPI */
Oid
glmix_work_oid(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (SPI_execute_with_args("SELECT $1::regclass::oid", 1, types, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "work table %s not found", name);
	return DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * Appending blocks to a work table this training created: straight heap
 * inserts with a bulk-insert state, as COPY does -- the table has no
 * indexes, triggers or constraints.  Blocks are written as they are built,
 * so memory holds one at a time.
 */
struct GlmixWorkWriter
{
	Relation	rel;
	BulkInsertState bis;
	CommandId	cid;
	int64		n;
};

GlmixWorkWriter *
glmix_work_open(Oid relid)
{
	GlmixWorkWriter *w = palloc0(sizeof(GlmixWorkWriter));

	w->rel = table_open(relid, RowExclusiveLock);
	w->bis = GetBulkInsertState();
	w->cid = GetCurrentCommandId(true);
	return w;
}

void
glmix_work_put(GlmixWorkWriter *w, int entity, bytea *block)
{
	TupleDesc	desc = RelationGetDescr(w->rel);
	Datum		values[2];
	bool		nulls[2] = {false, false};
	HeapTuple	tup;

	if ((w->n++ & 1023) == 0)
		CHECK_FOR_INTERRUPTS();
	if (desc->natts == 2)
	{
		values[0] = Int32GetDatum(entity);
		values[1] = PointerGetDatum(block);
	}
	else
		values[0] = PointerGetDatum(block);
	tup = heap_form_tuple(desc, values, nulls);
	heap_insert(w->rel, tup, w->cid, 0, w->bis);
	heap_freetuple(tup);
}

void
glmix_work_close(GlmixWorkWriter *w)
{
	FreeBulkInsertState(w->bis);
	table_close(w->rel, NoLock);
	CommandCounterIncrement();
}
