/*
 * glmix_features.c -- GLMix feature encoding: column kinds, dictionaries
 * and each side's CSR feature vectors, used by training and serving alike
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
 *
 * Training reads the sides here (glmix_data.c); serving rebuilds them from
 * the stored vectors (glmix_serve.c).  The designs built from them are
 * glmix_design.c's.
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "keys.h"
#include "sorted_ids.h"
#include "spi_util.h"
#include "glmix.h"

#define MAX_SIDE_FEATURES 100000

/*
 * A column name or value as it appears in a feature name: bare when that is
 * unambiguous, else double-quoted with inner quotes doubled (see the header).
 */
const char *
glmix_feature_name_part(const char *s)
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

/* the values of a categorical column's datum: one (one-hot) or its elements */
static int
column_values(const GlmixColumn *col, Datum d, char ***out)
{
	if (col->kind == GLMIX_ONEHOT)
	{
		*out = palloc(sizeof(char *));
		(*out)[0] = TextDatumGetCString(d);
		return 1;
	}
	return text_elements(d, out);
}

/* the id space of a side named "learner" or "course" */
static RecsKeySide
side_of(const char *what)
{
	return strcmp(what, "course") == 0 ? RECS_SIDE_COURSE : RECS_SIDE_LEARNER;
}

/*
 * Read the id and feature columns of a learners or courses relation in one
 * query, build each categorical column's dictionary (sorted distinct
 * values, so feature numbers do not depend on row order), the numeric
 * columns' mean and sd, and then every entity's CSR vector.  Duplicate ids
 * are an error: which row's features would count is otherwise arbitrary.
 */
GlmixSide *
glmix_read_side(Oid relid, const char *what, const char *idcol, const char *idarg,
				char **features, int nfeatures, char **match_only, int nmatch_only)
{
	GlmixSide  *s = palloc0(sizeof(GlmixSide));
	StringInfoData sql;
	char		argname[64];
	KeysFrom	from;
	char	   *idexpr;
	int			rc;
	SPITupleTable *tt;
	char	 ***dict;			/* per column: sorted distinct values */
	int		   *ndict;
	int64		nnz = 0;
	int			nmodel = 0;

	keys_from_init(&from, relid);
	idexpr = keys_id(&from, idcol, idarg, side_of(what));
	if (nmatch_only > 0)
	{
		/* the match-only columns are read like feature columns, after them */
		char	  **all = palloc(sizeof(char *) * (nfeatures + nmatch_only));

		memcpy(all, features, sizeof(char *) * nfeatures);
		memcpy(all + nfeatures, match_only, sizeof(char *) * nmatch_only);
		features = all;
	}
	s->what = what;
	s->ncols = nfeatures + nmatch_only;
	s->cols = palloc0(sizeof(GlmixColumn) * Max(s->ncols, 1));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s", idexpr);
	snprintf(argname, sizeof(argname), "%s_features", what);
	for (int c = 0; c < s->ncols; c++)
	{
		GlmixColumn *col = &s->cols[c];

		for (int k = 0; k < c; k++)
			if (strcmp(features[k], features[c]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature column \"%s\" is listed twice in %s", features[c], argname)));
		col->name = pstrdup(features[c]);
		col->match_only = c >= nfeatures;
		col->kind = column_kind(relid, features[c], argname);
		appendStringInfo(&sql, ", %s::%s", quote_identifier(features[c]),
						 col->kind == GLMIX_ONEHOT ? "text" :
						 col->kind == GLMIX_MULTIHOT ? "text[]" : "float8");
	}
	appendStringInfo(&sql, " FROM %s WHERE %s IS NOT NULL ORDER BY 1",
					 keys_from(&from), quote_identifier(idcol));
	rc = SPI_execute(sql.data, false, 0);
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
					 errmsg("%s id %s appears more than once in %s", what,
							keys_id_name(side_of(what), s->ids[i]), recs_relation_name(relid)),
					 errhint("Pass a relation with one row per %s.", what)));
	}

	/* dictionaries and standardisation, column by column */
	dict = palloc0(sizeof(char **) * Max(s->ncols, 1));
	ndict = palloc0(sizeof(int) * Max(s->ncols, 1));
	s->nfeat = 0;
	for (int c = 0; c < s->ncols; c++)
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
							 errmsg("numeric feature \"%s\" of %s id %s is not finite",
									col->name, what, keys_id_name(side_of(what), s->ids[i]))));
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
				nel = column_values(col, d, &el);
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
		if (c == nfeatures - 1)
			nmodel = s->nfeat;
		if (s->nfeat > MAX_SIDE_FEATURES)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("more than %d %s features", MAX_SIDE_FEATURES, what),
					 errhint("Column \"%s\" has too many distinct values to one-hot encode.", col->name)));
	}
	s->nmodel = nfeatures > 0 ? nmodel : 0;
	s->names = palloc(sizeof(char *) * Max(s->nfeat, 1));
	for (int c = 0; c < s->ncols; c++)
	{
		GlmixColumn *col = &s->cols[c];
		const char *colname = glmix_feature_name_part(col->name);

		if (col->kind == GLMIX_NUMERIC)
			s->names[col->start] = pstrdup(colname);
		else
			for (int k = 0; k < ndict[c]; k++)
				s->names[col->start + k] = psprintf("%s=%s", colname,
													glmix_feature_name_part(dict[c][k]));
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
			for (int c = 0; c < s->ncols; c++)
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

					nel = column_values(col, d, &el);
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

int32
glmix_side_model_end(const GlmixSide *side, int i)
{
	int32		end = side->ptr[i + 1];

	while (end > side->ptr[i] && side->col[end - 1] >= side->nmodel)
		end--;
	return end;
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

/* every feature value is 1 when no column is numeric */
bool
glmix_side_binary(const GlmixSide *s)
{
	for (int c = 0; c < s->ncols; c++)
		if (s->cols[c].kind == GLMIX_NUMERIC)
			return false;
	return true;
}
