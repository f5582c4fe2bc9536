/*
 * ncf_history.c -- train_ncf(affinity_columns, path_columns): the history
 * terms of the served score
 *
 * The two towers see a learner's recent watches and a course's co-watch
 * row; what they see poorly, on a learning platform, is the plain fit of a
 * course to the learner's whole list: the share of their courses in its
 * topic or language, and whether they watched the course before it in its
 * series (a part 2 follows a part 1 watched; a part 3 whose part 2 was not
 * watched is rarely next).  Measured on generated platform data
 * (docs/ncf.md#history-terms), these few numbers move the next watch more
 * than the towers can.  The served score becomes
 *
 *   w_ncf (dot + trend) + w_cowatch ln(1 + co-watch similarity to the watched courses)
 *     + w_watches ln(1 + watches)
 *     + w_recent ln(1 + watches in the latest 30 days) + w_age ln(1 + days since the first watch)
 *     + w_watched [predecessor watched] + w_missing [predecessor not watched]
 *     + w_latest [predecessor = the latest watched course that has a successor]
 *     + sum over affinity columns a of w_a ln(V_a share_a),
 *
 * share_a = (n_a(v) + 1/2) / (N + V_a / 2): of the learner's N watched
 * courses, the n_a(v) that have the course's value v of column a, smoothed
 * towards the uniform 1/V_a (V_a the column's distinct values in the
 * catalogue), so ln(V_a share_a) is 0 for a learner without watches and for
 * a course without a value.  The co-watch sum is item-kNN on the history
 * from the model's own co-watch rows (recs.ncf_cowatch, the course tower's
 * input): a full-rank course-to-course signal that the dot product of two
 * narrow embeddings only approximates.  A course's predecessor is the
 * course of its series (path_columns[1] equal) with the highest order
 * (path_columns[2]) below its own; ties on that order go to the larger
 * course id.  The last term marks the next part of the series the learner
 * is in the middle of.  The three statistics of a course are taken at the
 * cut for the fit and at the end of the training data for serving
 * (recs.ncf_course.statistics); a course nobody watched has 0, 0, 0.
 *
 * The weights are fitted after the towers on the validation slice
 * (ncf_history_fit.c).  Serving reads the learner's watched list
 * (recs.model_learner) and stored context (the order), and the courses'
 * codes, predecessors, statistics and co-watch rows from the serving
 * cache: one pass over the watched list and one over the courses.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "datatype/timestamp.h"

#include "ncf.h"
#include "sorted_ids.h"
#include "spi_util.h"

/* ---- arguments ---- */

void
ncf_history_args(Oid courses, char **attr, int nattr, char **path, int npath,
				 bool validation, NcfHistory *h)
{
	static const Oid order_types[] = {INT2OID, INT4OID, INT8OID, FLOAT4OID, FLOAT8OID, NUMERICOID};

	if (!OidIsValid(courses))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity_columns and path_columns need a courses relation"),
				 errhint("Pass courses => the relation that holds the columns.")));
	if (!validation)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("affinity_columns and path_columns need validation 'auto'"),
				 errdetail("Their weights are fitted on the validation slice, which the towers never see."),
				 errhint("Pass validation => 'auto'.")));
	memset(h, 0, sizeof(*h));
	if (attr)
	{
		NcfContent	ct;

		if (nattr < 1 || nattr > NCF_HISTORY_MAX_COLUMNS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("affinity_columns must name between 1 and %d columns",
							NCF_HISTORY_MAX_COLUMNS)));
		ncf_content_columns(courses, attr, nattr, "affinity_columns", &ct);
		for (int a = 0; a < nattr; a++)
			if (type_is_array(recs_check_column(courses, attr[a], "affinity_columns", NULL, 0)))
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("affinity column \"%s\" is an array", attr[a]),
						 errdetail("An affinity column holds one value per course."),
						 errhint("Pass an array column as course_features instead.")));
		h->nattr = nattr;
		h->attr_cols = attr;
	}
	if (path)
	{
		NcfContent	ct;

		if (npath != 2)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path_columns must name two columns, not %d", npath),
					 errdetail("The first names a course's series, the second its place in it."),
					 errhint("Pass path_columns => '{series_id,series_part}'.")));
		ncf_content_columns(courses, path, 2, "path_columns", &ct);
		(void) recs_check_column(courses, path[1], "path_columns' second entry", order_types,
								 lengthof(order_types));
		h->path_cols = path;
	}
}

/* ---- the courses' codes and predecessors ---- */

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* one course of a series: for sorting by series, then order, then index */
typedef struct PathEntry
{
	const char *series;
	double		order;
	int32		item;
} PathEntry;

static int
path_entry_cmp(const void *a, const void *b)
{
	const PathEntry *x = a,
			   *y = b;
	int			c = strcmp(x->series, y->series);

	if (c != 0)
		return c;
	if (x->order != y->order)
		return x->order < y->order ? -1 : 1;
	return (x->item > y->item) - (x->item < y->item);
}

/* the catalogue index of fv's entry k, or -1 */
static int
item_of(const NcfInput *in, const NcfFeatureValues *fv, int64 k)
{
	return recs_find_int64(in->item_ids, in->n_items, fv->id[k]);
}

static void
read_codes(Oid courses, const char *idcol, const char *idargname, const NcfInput *in,
		   NcfHistory *h)
{
	NcfContent	ct;
	NcfFeatureValues fv;

	memset(&ct, 0, sizeof(ct));
	ct.ncols = h->nattr;
	ct.cols = h->attr_cols;
	ncf_content_read(courses, idcol, idargname, &ct, &fv);
	h->nvalues = palloc0(sizeof(int32) * h->nattr);
	h->values = palloc0(sizeof(char **) * h->nattr);
	h->attr = MemoryContextAllocHuge(CurrentMemoryContext,
									 sizeof(int32) * Max((Size) h->n * h->nattr, 1));
	for (int64 i = 0; i < (int64) h->n * h->nattr; i++)
		h->attr[i] = -1;
	for (int a = 0; a < h->nattr; a++)
	{
		char	  **vals = palloc(sizeof(char *) * Max(fv.n, 1));
		int			nv = 0;

		/* the column's distinct values among the catalogue's courses */
		for (int64 k = 0; k < fv.n; k++)
			if (fv.col[k] == a && item_of(in, &fv, k) >= 0)
				vals[nv++] = fv.value[k];
		qsort(vals, nv, sizeof(char *), cstring_cmp);
		if (nv > 1)
		{
			int			w = 1;

			for (int i = 1; i < nv; i++)
				if (strcmp(vals[i], vals[w - 1]) != 0)
					vals[w++] = vals[i];
			nv = w;
		}
		h->values[a] = vals;
		h->nvalues[a] = nv;
	}
	/* a course's code: its first value in byte order (triples are sorted) */
	for (int64 k = 0; k < fv.n; k++)
	{
		int			item = item_of(in, &fv, k);
		int			a = fv.col[k];
		char	  **found;

		if (item < 0 || h->attr[(Size) item * h->nattr + a] >= 0)
			continue;
		found = bsearch(&fv.value[k], h->values[a], h->nvalues[a], sizeof(char *), cstring_cmp);
		Assert(found != NULL);
		h->attr[(Size) item * h->nattr + a] = (int32) (found - h->values[a]);
	}
}

static void
read_predecessors(Oid courses, const char *idcol, const char *idargname, const NcfInput *in,
				  NcfHistory *h)
{
	NcfContent	ct;
	NcfFeatureValues fv;
	const char **series = palloc0(sizeof(char *) * Max(h->n, 1));
	double	   *order = palloc(sizeof(double) * Max(h->n, 1));
	bool	   *has_order = palloc0(sizeof(bool) * Max(h->n, 1));
	PathEntry  *e = palloc(sizeof(PathEntry) * Max(h->n, 1));
	int			ne = 0;

	memset(&ct, 0, sizeof(ct));
	ct.ncols = 2;
	ct.cols = h->path_cols;
	ncf_content_read(courses, idcol, idargname, &ct, &fv);
	for (int64 k = 0; k < fv.n; k++)
	{
		int			item = item_of(in, &fv, k);

		if (item < 0)
			continue;
		if (fv.col[k] == 0 && series[item] == NULL)
			series[item] = fv.value[k];
		else if (fv.col[k] == 1 && !has_order[item])
		{
			char	   *end;
			double		v = strtod(fv.value[k], &end);

			/* numeric text: NaN and infinities leave the course out of its series */
			if (*end == '\0' && isfinite(v))
			{
				order[item] = v;
				has_order[item] = true;
			}
		}
	}
	h->pred = palloc(sizeof(int32) * Max(h->n, 1));
	for (int i = 0; i < h->n; i++)
	{
		h->pred[i] = -1;
		if (series[i] && has_order[i])
		{
			e[ne].series = series[i];
			e[ne].order = order[i];
			e[ne].item = i;
			ne++;
		}
	}
	qsort(e, ne, sizeof(PathEntry), path_entry_cmp);

	/*
	 * The predecessor is the entry just before the course's group of equal
	 * order, if that is of the same series: the highest order below, and of
	 * those the larger id.
	 */
	for (int i = 0, series_start = 0, group_start = 0; i < ne; i++)
	{
		if (i > 0 && strcmp(e[i].series, e[i - 1].series) != 0)
			series_start = group_start = i;
		else if (i > 0 && e[i].order != e[i - 1].order)
			group_start = i;
		h->pred[e[i].item] = group_start > series_start ? e[group_start - 1].item : -1;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	ncf_history_successors(h);
}

void
ncf_history_successors(NcfHistory *h)
{
	h->has_next = palloc0(sizeof(bool) * Max(h->n, 1));
	for (int i = 0; i < h->n; i++)
		if (h->pred[i] >= 0)
			h->has_next[h->pred[i]] = true;
}

void
ncf_history_read(Oid courses, const char *idcol, const char *idargname, const NcfInput *in,
				 NcfHistory *h)
{
	h->n = in->n_items;
	if (h->nattr > 0)
		read_codes(courses, idcol, idargname, in, h);
	if (h->path_cols)
		read_predecessors(courses, idcol, idargname, in, h);
	h->stats = palloc0(sizeof(float) * NCF_HISTORY_STATS * Max(h->n, 1));
	h->w_attr = palloc0(sizeof(double) * Max(h->nattr, 1));
}

void
ncf_history_stats(const int64 *offsets, const int32 *items, const double *when, int n_learners,
				  double at, NcfHistory *h)
{
	int64	   *n = palloc0(sizeof(int64) * Max(h->n, 1));
	int64	   *recent = palloc0(sizeof(int64) * Max(h->n, 1));
	double	   *first = palloc(sizeof(double) * Max(h->n, 1));
	double		since = at - NCF_HISTORY_RECENT_DAYS * SECS_PER_DAY;

	for (int i = 0; i < h->n; i++)
		first[i] = at;
	for (int64 w = 0; w < offsets[n_learners]; w++)
	{
		int32		c = items[w];

		if (when[w] > at)
			continue;
		n[c]++;
		if (when[w] >= since)
			recent[c]++;
		first[c] = Min(first[c], when[w]);
	}
	for (int i = 0; i < h->n; i++)
	{
		float	   *st = h->stats + (Size) i * NCF_HISTORY_STATS;

		st[0] = (float) log1p((double) n[i]);
		st[1] = (float) log1p((double) recent[i]);
		st[2] = (float) log1p((at - first[i]) / SECS_PER_DAY);
	}
	pfree(n);
	pfree(recent);
	pfree(first);
}

/* ---- a learner's features ---- */

void
ncf_history_learner_alloc(const NcfHistory *h, NcfHistoryLearner *st)
{
	int			total = 0;

	st->watched = palloc0(sizeof(bool) * Max(h->n, 1));
	st->offset = palloc(sizeof(int32) * Max(h->nattr, 1));
	for (int a = 0; a < h->nattr; a++)
	{
		st->offset[a] = total;
		total += h->nvalues[a];
	}
	st->count = palloc0(sizeof(int32) * Max(total, 1));
	st->cowatch = palloc0(sizeof(float) * Max(h->n, 1));
	st->nwatched = 0;
	st->latest = -1;
}

void
ncf_history_learner_latest(const NcfHistory *h, const int32 *idx, int n, NcfHistoryLearner *st)
{
	if (h->has_next == NULL)
		return;
	for (int i = 0; i < n; i++)
		if (idx[i] >= 0 && idx[i] < h->n && h->has_next[idx[i]])
			st->latest = idx[i];
}

void
ncf_history_learner_mark(const NcfHistory *h, const int32 *idx, int n, NcfHistoryLearner *st)
{
	for (int i = 0; i < n; i++)
	{
		int			c = idx[i];

		if (c < 0 || c >= h->n || st->watched[c])
			continue;
		st->watched[c] = true;
		st->nwatched++;
		for (int a = 0; a < h->nattr; a++)
		{
			int32		v = h->attr[(Size) c * h->nattr + a];

			if (v >= 0)
				st->count[st->offset[a] + v]++;
		}
		if (h->cowatch && c < h->cowatch->nrows)
			for (int64 k = h->cowatch->rowptr[c]; k < h->cowatch->rowptr[c + 1]; k++)
				st->cowatch[h->cowatch->col[k]] += h->cowatch->val[k];
	}
}

void
ncf_history_learner_clear(const NcfHistory *h, const int32 *idx, int n, NcfHistoryLearner *st)
{
	for (int i = 0; i < n; i++)
	{
		int			c = idx[i];

		if (c < 0 || c >= h->n || !st->watched[c])
			continue;
		st->watched[c] = false;
		for (int a = 0; a < h->nattr; a++)
		{
			int32		v = h->attr[(Size) c * h->nattr + a];

			if (v >= 0)
				st->count[st->offset[a] + v]--;
		}
		/* zeroed, not subtracted: no rounding carried to the next learner */
		if (h->cowatch && c < h->cowatch->nrows)
			for (int64 k = h->cowatch->rowptr[c]; k < h->cowatch->rowptr[c + 1]; k++)
				st->cowatch[h->cowatch->col[k]] = 0.0f;
	}
	st->nwatched = 0;
	st->latest = -1;
}

/* ln(V_a share_a) of value v of affinity column a for the learner */
static inline double
share_feature(const NcfHistory *h, const NcfHistoryLearner *st, int a, int32 v)
{
	double		nv = h->nvalues[a];

	return log(nv * (st->count[st->offset[a] + v] + 0.5) / (st->nwatched + 0.5 * nv));
}

void
ncf_history_static_terms(NcfHistory *h)
{
	h->static_term = palloc(sizeof(double) * Max(h->n, 1));
	for (int c = 0; c < h->n; c++)
	{
		double		s = 0;

		for (int k = 0; k < NCF_HISTORY_STATS; k++)
			s += h->w_stats[k] * h->stats[(Size) c * NCF_HISTORY_STATS + k];
		h->static_term[c] = s;
	}
}

void
ncf_history_learner(const NcfHistory *h, const int32 *idx, int n, NcfHistoryLearner *st)
{
	ncf_history_learner_alloc(h, st);
	ncf_history_learner_mark(h, idx, n, st);
	/* one logarithm per value, not per course */
	st->share_term = palloc(sizeof(double) * Max(h->nattr > 0 ? st->offset[h->nattr - 1] +
												 h->nvalues[h->nattr - 1] : 0, 1));
	for (int a = 0; a < h->nattr; a++)
		for (int v = 0; v < h->nvalues[a]; v++)
			st->share_term[st->offset[a] + v] = h->w_attr[a] * share_feature(h, st, a, v);
}

void
ncf_history_features(const NcfHistory *h, const NcfHistoryLearner *st, int c, double *f)
{
	int			p = h->pred ? h->pred[c] : -1;
	double	   *fa = f + NCF_HISTORY_STATS + 4;

	for (int k = 0; k < NCF_HISTORY_STATS; k++)
		f[k] = h->stats[(Size) c * NCF_HISTORY_STATS + k];
	f[NCF_HISTORY_STATS] = log1p((double) st->cowatch[c]);
	f[NCF_HISTORY_STATS + 1] = p >= 0 && st->watched[p] ? 1.0 : 0.0;
	f[NCF_HISTORY_STATS + 2] = p >= 0 && !st->watched[p] ? 1.0 : 0.0;
	f[NCF_HISTORY_STATS + 3] = p >= 0 && p == st->latest ? 1.0 : 0.0;
	for (int a = 0; a < h->nattr; a++)
	{
		int32		v = h->attr[(Size) c * h->nattr + a];

		fa[a] = v < 0 ? 0.0 : share_feature(h, st, a, v);
	}
}

double
ncf_history_score(const NcfHistory *h, const NcfHistoryLearner *st, int c, double ncf)
{
	int			p = h->pred ? h->pred[c] : -1;
	double		s = h->w_ncf * ncf + h->static_term[c];

	if (st->cowatch[c] != 0)
		s += h->w_cowatch * log1p((double) st->cowatch[c]);
	if (p >= 0)
		s += (st->watched[p] ? h->w_watched : h->w_missing) + (p == st->latest ? h->w_latest : 0.0);
	for (int a = 0; a < h->nattr; a++)
	{
		int32		v = h->attr[(Size) c * h->nattr + a];

		if (v >= 0)
			s += st->share_term[st->offset[a] + v];
	}
	return s;
}

/* ---- add_courses ---- */

/* a text[] column of the one-row SPI result (NULL: *n = 0) */
static char **
spi_text_array(int col, int *n)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (isnull)
		return NULL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		out[i] = nulls[i] ? pstrdup("") : TextDatumGetCString(elems[i]);
	return out;
}

bool
ncf_history_new_courses(int64 model_id, Oid courses, const char *idcol, const char *idargname,
						const int64 *known, int nknown, const int64 *new_ids, int nnew,
						NcfRowCodes *out)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	MemoryContext cxt = CurrentMemoryContext;
	NcfHistory	h;
	NcfInput	cat;
	int			npath;
	int			rc;
	int32	   *codes,
			   *pred;
	float	   *stats;

	rc = SPI_execute_with_args("SELECT ARRAY(SELECT jsonb_array_elements_text(h->'affinity_columns')),"
							   " CASE WHEN h ? 'path_columns'"
							   " THEN ARRAY(SELECT jsonb_array_elements_text(h->'path_columns')) END"
							   " FROM (SELECT params->'history' AS h FROM recs.model WHERE model_id = $1) s"
							   " WHERE h IS NOT NULL", 1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	memset(&h, 0, sizeof(h));
	h.attr_cols = spi_text_array(1, &h.nattr);
	h.path_cols = spi_text_array(2, &npath);
	SPI_freetuptable(SPI_tuptable);
	h.nvalues = palloc0(sizeof(int32) * Max(h.nattr, 1));
	h.values = palloc0(sizeof(char **) * Max(h.nattr, 1));
	for (int a = 0; a < h.nattr; a++)
	{
		Datum		v[2] = {Int64GetDatum(model_id), Int32GetDatum(a)};
		Oid			t[2] = {INT8OID, INT4OID};

		rc = SPI_execute_with_args("SELECT ARRAY(SELECT jsonb_array_elements_text(params->'history'->'affinity_values'->$2))"
								   " FROM recs.model WHERE model_id = $1", 2, t, v, NULL, true, 0);
		MemoryContextSwitchTo(cxt);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
		h.values[a] = spi_text_array(1, &h.nvalues[a]);
		SPI_freetuptable(SPI_tuptable);
	}

	/* the catalogue the predecessors are found in: the model's courses and the new ones */
	memset(&cat, 0, sizeof(cat));
	cat.item_ids = palloc(sizeof(int64) * Max(nknown + nnew, 1));
	memcpy(cat.item_ids, known, sizeof(int64) * nknown);
	memcpy(cat.item_ids + nknown, new_ids, sizeof(int64) * nnew);
	qsort(cat.item_ids, nknown + nnew, sizeof(int64), recs_int64_cmp);
	cat.n_items = nknown + nnew;
	h.n = cat.n_items;
	if (h.nattr > 0)
	{
		/* the courses' codes by the model's own values (a value it never saw: none) */
		char	 ***trained = h.values;
		int32	   *ntrained = h.nvalues;

		h.values = NULL;
		h.nvalues = NULL;
		read_codes(courses, idcol, idargname, &cat, &h);
		for (int64 i = 0; i < (int64) h.n * h.nattr; i++)
		{
			int			a = (int) (i % h.nattr);
			char	  **found;

			if (h.attr[i] < 0)
				continue;
			found = bsearch(&h.values[a][h.attr[i]], trained[a], ntrained[a], sizeof(char *),
							cstring_cmp);
			h.attr[i] = found ? (int32) (found - trained[a]) : -1;
		}
	}
	if (h.path_cols)
		read_predecessors(courses, idcol, idargname, &cat, &h);

	codes = palloc(sizeof(int32) * Max((Size) nnew * h.nattr, 1));
	pred = palloc(sizeof(int32) * Max(nnew, 1));
	stats = palloc0(sizeof(float) * NCF_HISTORY_STATS * Max(nnew, 1));
	for (int j = 0; j < nnew; j++)
	{
		int			c = recs_find_int64(cat.item_ids, cat.n_items, new_ids[j]);

		for (int a = 0; a < h.nattr; a++)
			codes[(Size) j * h.nattr + a] = h.attr[(Size) c * h.nattr + a];
		pred[j] = h.path_cols ? h.pred[c] : -1;
	}
	out->ncodes = h.nattr;
	out->codes = codes;
	out->pred = pred;
	out->pred_ids = cat.item_ids;
	out->stats = stats;
	return true;
}
