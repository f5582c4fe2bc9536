/*
 * ncf_content.c -- course content features: the course tower's inputs
 * besides the co-watch row
 *
 * A course nobody has watched has an empty co-watch row, so without more
 * the course tower gives every new course the same embedding (its biases).
 * train_ncf's course_features name columns of the courses relation whose
 * values become extra rows of the course tower's sparse layer: a scalar
 * column (text, integer, anything with a text form) one-hot, an array
 * column (text[], int[]) multi-hot.  Values are compared by their text
 * form, so embed_course's JSON "2" and 2 both match an integer 2.
 *
 * Scaling.  A co-watch row holds up to `neighbours` cosines; its length
 * (L2 norm) is what the sparse layer sees.  So that neither part dominates,
 * the content part is scaled to the same size: each column's values share
 * a part of length scale / sqrt(ncols) (a value of a column with m known
 * values weighs scale / sqrt(ncols * m)), so a course with a value in every
 * column has a content part of length exactly scale, the mean length of
 * the non-empty co-watch rows.  The scale is stored with the model so that
 * embed_course and add_courses build the same inputs.
 *
 * The vocabulary is each column's distinct values in byte order, columns in
 * the argument's order; entry v is input row n_items + v.  The input rows of
 * one course are ascending, co-watch first, so the embedding bag adds them
 * in one fixed order at training and when serving.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "ncf.h"
#include "keys.h"
#include "spi_util.h"

#define NCF_MAX_FEATURES 64

void
ncf_content_columns(Oid courses, char **names, int n, const char *argname, NcfContent *ct)
{
	if (!OidIsValid(courses))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs a courses relation", argname),
				 errhint("Pass courses => the relation that holds the feature columns.")));
	if (n < 1 || n > NCF_MAX_FEATURES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must name between 1 and %d columns", argname, NCF_MAX_FEATURES),
				 errhint("Leave it NULL for a model without content features.")));
	for (int i = 0; i < n; i++)
	{
		(void) recs_check_column(courses, names[i], argname, NULL, 0);
		for (int j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s names column \"%s\" twice", argname, names[i])));
	}
	ct->ncols = n;
	ct->cols = names;
}

static int
triple_cmp(const void *a, const void *b, void *arg)
{
	const NcfFeatureValues *fv = arg;
	int64		i = *(const int64 *) a,
				j = *(const int64 *) b;

	if (fv->id[i] != fv->id[j])
		return fv->id[i] < fv->id[j] ? -1 : 1;
	if (fv->col[i] != fv->col[j])
		return fv->col[i] < fv->col[j] ? -1 : 1;
	return strcmp(fv->value[i], fv->value[j]);
}

void
ncf_content_read(Oid courses, const char *idcol, const char *idargname,
				 NcfContent *ct, NcfFeatureValues *fv)
{
	MemoryContext cxt = CurrentMemoryContext;
	int64		cap = 1024;
	NcfFeatureValues raw;
	int64	   *order;

	raw.n = 0;
	raw.id = palloc(sizeof(int64) * cap);
	raw.col = palloc(sizeof(int32) * cap);
	raw.value = palloc(sizeof(char *) * cap);
	for (int f = 0; f < ct->ncols; f++)
	{
		StringInfoData sql;
		KeysFrom	from;
		char	   *idexpr;
		const char *col = quote_identifier(ct->cols[f]);
		Oid			type = recs_check_column(courses, ct->cols[f], "course_features", NULL, 0);
		int			rc;

		keys_from_init(&from, courses);
		idexpr = keys_id(&from, idcol, idargname, RECS_SIDE_COURSE);
		MemoryContextSwitchTo(cxt);
		initStringInfo(&sql);
		/* an array column: one value per element (multi-hot) */
		if (type_is_array(type))
			appendStringInfo(&sql, "SELECT DISTINCT %s, recs_feature.v::text FROM %s,"
							 " LATERAL unnest(%s) AS recs_feature(v)"
							 " WHERE %s IS NOT NULL AND recs_feature.v IS NOT NULL",
							 idexpr, keys_from(&from), col, quote_identifier(idcol));
		else
			appendStringInfo(&sql, "SELECT DISTINCT %s, %s::text FROM %s"
							 " WHERE %s IS NOT NULL AND %s IS NOT NULL",
							 idexpr, col, keys_from(&from), quote_identifier(idcol), col);
		rc = SPI_execute(sql.data, true, 0);
		MemoryContextSwitchTo(cxt);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "could not read course features: %s", SPI_result_code_string(rc));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];
			bool		isnull;

			if ((r & 4095) == 0)
				CHECK_FOR_INTERRUPTS();
			if (raw.n == cap)
			{
				cap *= 2;
				raw.id = repalloc_huge(raw.id, sizeof(int64) * cap);
				raw.col = repalloc_huge(raw.col, sizeof(int32) * cap);
				raw.value = repalloc_huge(raw.value, sizeof(char *) * cap);
			}
			raw.id[raw.n] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
			raw.col[raw.n] = f;
			raw.value[raw.n] = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
			raw.n++;
		}
		SPI_freetuptable(SPI_tuptable);
	}
	/* by course, column, value: the catalogue is walked in id order */
	order = MemoryContextAllocHuge(cxt, sizeof(int64) * Max(raw.n, 1));
	for (int64 i = 0; i < raw.n; i++)
		order[i] = i;
	qsort_arg(order, raw.n, sizeof(int64), triple_cmp, &raw);
	fv->n = raw.n;
	fv->id = MemoryContextAllocHuge(cxt, sizeof(int64) * Max(raw.n, 1));
	fv->col = MemoryContextAllocHuge(cxt, sizeof(int32) * Max(raw.n, 1));
	fv->value = MemoryContextAllocHuge(cxt, sizeof(char *) * Max(raw.n, 1));
	for (int64 i = 0; i < raw.n; i++)
	{
		fv->id[i] = raw.id[order[i]];
		fv->col[i] = raw.col[order[i]];
		fv->value[i] = raw.value[order[i]];
	}
	pfree(order);
}

/* vocabulary entries by column, then value in byte order */
static int
vocab_cmp(int32 ca, const char *va, int32 cb, const char *vb)
{
	if (ca != cb)
		return ca < cb ? -1 : 1;
	return strcmp(va, vb);
}

static int
pair_cmp(const void *a, const void *b, void *arg)
{
	const NcfFeatureValues *fv = arg;
	int64		i = *(const int64 *) a,
				j = *(const int64 *) b;

	return vocab_cmp(fv->col[i], fv->value[i], fv->col[j], fv->value[j]);
}

void
ncf_content_vocabulary(NcfContent *ct, int first_row)
{
	const NcfFeatureValues *fv = &ct->values;
	int64	   *order = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int64) * Max(fv->n, 1));
	int			n = 0;

	for (int64 i = 0; i < fv->n; i++)
		order[i] = i;
	qsort_arg(order, fv->n, sizeof(int64), pair_cmp, (void *) fv);
	ct->vocab_col = palloc(sizeof(int32) * Max(fv->n, 1));
	ct->vocab_value = palloc(sizeof(char *) * Max(fv->n, 1));
	ct->vocab_row = palloc(sizeof(int32) * Max(fv->n, 1));
	for (int64 i = 0; i < fv->n; i++)
	{
		int64		k = order[i];

		if (n > 0 && vocab_cmp(ct->vocab_col[n - 1], ct->vocab_value[n - 1],
							   fv->col[k], fv->value[k]) == 0)
			continue;
		if ((int64) first_row + n >= PG_INT32_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("the course features have too many distinct values")));
		ct->vocab_col[n] = fv->col[k];
		ct->vocab_value[n] = fv->value[k];
		ct->vocab_row[n] = first_row + n;
		n++;
	}
	ct->nvocab = n;
	pfree(order);
}

static int
vocab_entry_cmp(const void *a, const void *b, void *arg)
{
	const NcfContent *ct = arg;
	int			i = *(const int *) a,
				j = *(const int *) b;

	return vocab_cmp(ct->vocab_col[i], ct->vocab_value[i], ct->vocab_col[j], ct->vocab_value[j]);
}

void
ncf_content_sort_vocabulary(NcfContent *ct)
{
	int		   *order = palloc(sizeof(int) * Max(ct->nvocab, 1));
	int32	   *col = palloc(sizeof(int32) * Max(ct->nvocab, 1));
	char	  **value = palloc(sizeof(char *) * Max(ct->nvocab, 1));
	int32	   *row = palloc(sizeof(int32) * Max(ct->nvocab, 1));

	for (int i = 0; i < ct->nvocab; i++)
		order[i] = i;
	qsort_arg(order, ct->nvocab, sizeof(int), vocab_entry_cmp, ct);
	for (int i = 0; i < ct->nvocab; i++)
	{
		col[i] = ct->vocab_col[order[i]];
		value[i] = ct->vocab_value[order[i]];
		row[i] = ct->vocab_row[order[i]];
	}
	ct->vocab_col = col;
	ct->vocab_value = value;
	ct->vocab_row = row;
	pfree(order);
}

/* vocabulary entry of (col, value), -1 if unknown */
static int
vocab_lookup(const NcfContent *ct, int32 col, const char *value)
{
	int			lo = 0,
				hi = ct->nvocab - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = vocab_cmp(ct->vocab_col[mid], ct->vocab_value[mid], col, value);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a,
				y = *(const int32 *) b;

	return (x > y) - (x < y);
}

int
ncf_content_row(const NcfContent *ct, int n, const int32 *col, char *const *value,
				int32 *row, float *val)
{
	int		   *known = palloc0(sizeof(int) * Max(ct->ncols, 1));
	int32	   *ent = palloc(sizeof(int32) * Max(n, 1));
	int			m = 0,
				w = 0;

	for (int i = 0; i < n; i++)
	{
		int			v = vocab_lookup(ct, col[i], value[i]);

		if (v >= 0)
			ent[m++] = v;
	}
	/* entries in vocabulary order are in input-row order; a value counts once */
	qsort(ent, m, sizeof(int32), int32_cmp);
	for (int i = 0; i < m; i++)
		if (w == 0 || ent[i] != ent[w - 1])
			ent[w++] = ent[i];
	for (int i = 0; i < w; i++)
		known[ct->vocab_col[ent[i]]]++;
	for (int i = 0; i < w; i++)
	{
		row[i] = ct->vocab_row[ent[i]];
		val[i] = (float) (ct->scale / sqrt((double) ct->ncols * known[ct->vocab_col[ent[i]]]));
	}
	pfree(known);
	pfree(ent);
	return w;
}

double
ncf_content_scale(const NcfSparse *cowatch)
{
	double		total = 0;
	int			n = 0;

	for (int i = 0; i < cowatch->nrows; i++)
	{
		double		ss = 0;

		for (int64 j = cowatch->rowptr[i]; j < cowatch->rowptr[i + 1]; j++)
			ss += (double) cowatch->val[j] * cowatch->val[j];
		if (ss > 0)
		{
			total += sqrt(ss);
			n++;
		}
	}
	return n > 0 ? total / n : 1.0;
}

void
ncf_content_join(NcfData *data, NcfContent *ct, const int64 *item_ids)
{
	const NcfSparse *cw = &data->cowatch;
	const NcfFeatureValues *fv = &ct->values;
	NcfSparse  *out = &data->course_in;
	int			n_items = data->n_items;
	int64		cap = cw->nnz + fv->n;
	int64		f = 0;

	ct->scale = ncf_content_scale(cw);
	ncf_content_vocabulary(ct, n_items);
	if ((int64) n_items + ct->nvocab > PG_INT32_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the course features have too many distinct values")));
	out->nrows = n_items;
	out->rowptr = palloc(sizeof(int64) * (n_items + 1));
	out->col = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(int32) * Max(cap, 1));
	out->val = MemoryContextAllocHuge(CurrentMemoryContext, sizeof(float) * Max(cap, 1));
	data->content_start = palloc(sizeof(int64) * Max(n_items, 1));
	out->rowptr[0] = 0;
	for (int c = 0; c < n_items; c++)
	{
		int64		k = out->rowptr[c];
		int64		f0;

		if ((c & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int64 j = cw->rowptr[c]; j < cw->rowptr[c + 1]; j++)
		{
			out->col[k] = cw->col[j];
			out->val[k] = cw->val[j];
			k++;
		}
		data->content_start[c] = k;
		/* fv is sorted by id, as the catalogue; values of other ids are skipped */
		while (f < fv->n && fv->id[f] < item_ids[c])
			f++;
		f0 = f;
		while (f < fv->n && fv->id[f] == item_ids[c])
			f++;
		k += ncf_content_row(ct, (int) (f - f0), fv->col + f0, fv->value + f0,
							 out->col + k, out->val + k);
		out->rowptr[c + 1] = k;
	}
	out->nnz = out->rowptr[n_items];
	data->n_course_inputs = n_items + ct->nvocab;
}
