/*
 * ncf_serve.c -- serving an NCF model: recommend(), score(), similar_courses(),
 * embed_learner()
 *
 * A learner's score for a course is the dot product of their embeddings
 * (the logit the model was trained on; the sigmoid would not change the
 * order), plus, for a model trained with trend_days, the course's trend
 * term at the end of the training data (recs.ncf_course.trend, kept as a
 * vector beside the embeddings: one sgemv and one add), and, for a model
 * trained with affinity_columns or path_columns, its history terms
 * (ncf_history.c: the NCF score weighted, plus terms from the learner's
 * watched list and the courses' codes, predecessors, statistics and
 * co-watch rows, all loaded with the embeddings; a linear pass after the
 * sgemv).  similar_courses and the embeddings themselves include neither.
 * Course embeddings are loaded once per backend through the
 * serving cache ("ncf:courses", with unit-length copies for cosine
 * similarity); so is the learner tower ("ncf:learner"), needed to embed a
 * watch list on the fly.  A learner's stored embedding is one indexed
 * lookup per call, so a model's learners never need to fit in memory.
 *
 * Unknown learners.  An NCF model has no popularity list of its own, but
 * its learner tower has one natural answer for someone with no history:
 * the embedding of the empty context (the tower's biases pushed through
 * the layers).  Every learner's first watch was trained with exactly that
 * input, so it ranks courses by how likely they are to be a first watch --
 * a learned popularity.  recommend() and score() use it for learners the
 * model does not know.
 *
 * Top k is a bounded heap over the scores (O(n log k), no full sort); ties
 * go to the smaller course id, as ORDER BY score DESC, course_id would.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "sorted_ids.h"
#include "spi_util.h"
#include "ncf.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "serving_rows.h"
#include "topk.h"
#include "serving_placement.h"

#define MAX_K 1000000

typedef struct NcfLearnerTower
{
	NcfTower	t;
	float	   *cold;			/* embedding of the empty context */
	int			order_len;		/* a history's latest watches the tower sees */
	float	   *order_w;		/* their weights, latest first; NULL: unordered */
	NcfContextNorm norm;		/* train_ncf's context_norm */
} NcfLearnerTower;

/* ---- loading ---- */

/*
 * The largest width of a dense layer and of an embedding: far above any
 * trained model (train_ncf's defaults are 256 and 64), low enough that a
 * corrupt width can never size an allocation.
 */
#define NCF_MAX_WIDTH 65536

/* a copy of a checked real[] column (see serving_check.h) in the current context */
float *
ncf_model_floats(const ModelRow *row, const char *col, Datum d, int64 expect,
			 const char *expect_what, int *n_out)
{
	ArrayType  *a = DatumGetArrayTypeP(d);
	int			n;
	const float *v = check_model_float4s(row, col, a, expect, expect_what, &n);
	float	   *out = palloc(sizeof(float) * Max(n, 1));

	memcpy(out, v, sizeof(float) * n);
	if ((Pointer) a != DatumGetPointer(d))
		pfree(a);				/* a detoasted copy: do not keep it in a cached part */
	if (n_out)
		*n_out = n;
	return out;
}

void
ncf_check_layer_row(ModelRow *row, const char *tower, int l, int layer, int n_in, int n_out,
					int *width)
{
	model_row_key_text(row, 0, "tower", tower);
	model_row_key_int(row, 1, "layer", layer);
	if (l >= NCF_MAX_LAYERS)
		model_row_corrupt(row, "the %s tower has more than %d layers", tower, NCF_MAX_LAYERS);
	check_model_equal(row, "layer", layer, l, "the number of layers before it");
	check_model_range(row, "n_in", n_in, 1, l == 0 ? PG_INT32_MAX : NCF_MAX_WIDTH);
	check_model_range(row, "n_out", n_out, 1, NCF_MAX_WIDTH);
	if (l > 0)
		check_model_equal(row, "n_in", n_in, width[l], "n_out of the layer before");
	width[l] = n_in;
	width[l + 1] = n_out;
}

/*
 * The history terms of a model trained with affinity_columns or
 * path_columns (params->'history'; NULL when it has none): the weights;
 * load_courses sizes the courses' arrays, history_row() fills them.
 * Validated: finite weights, at most NCF_HISTORY_MAX_COLUMNS affinity
 * columns, one weight, value count and name per column.
 */
static NcfHistory *
load_history(int64 model_id, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	ModelRow	row = MODEL_ROW(model_id, "recs.model");
	NcfHistory *h;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	const double *w;
	int			nw,
				nv;
	ArrayType  *arr;
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT (h->'weights'->>'ncf')::float8,"
										" (h->'weights'->>'predecessor_watched')::float8,"
										" (h->'weights'->>'predecessor_missing')::float8,"
										" (h->'weights'->>'cowatch')::float8,"
										" (h->'weights'->>'predecessor_latest')::float8,"
										" ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(h->'weights'->'statistics')"
										" WITH ORDINALITY AS e(x, o) ORDER BY o),"
										" ARRAY(SELECT x::float8 FROM jsonb_array_elements_text(h->'weights'->'affinity')"
										" WITH ORDINALITY AS e(x, o) ORDER BY o),"
										" ARRAY(SELECT jsonb_array_length(v) FROM jsonb_array_elements(h->'affinity_values')"
										" WITH ORDINALITY AS e(v, o) ORDER BY o),"
										" ARRAY(SELECT x FROM jsonb_array_elements_text(h->'affinity_columns')"
										" WITH ORDINALITY AS e(x, o) ORDER BY o)"
										" FROM (SELECT params->'history' AS h FROM %s WHERE model_id = $1) s"
										" WHERE h IS NOT NULL", serving_table_sql("model")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return NULL;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	h = palloc0(sizeof(NcfHistory));
	{
		double	   *dst[5] = {&h->w_ncf, &h->w_watched, &h->w_missing, &h->w_cowatch, &h->w_latest};
		static const char *const names[5] = {"params->history->weights->ncf",
			"params->history->weights->predecessor_watched",
			"params->history->weights->predecessor_missing",
			"params->history->weights->cowatch",
		"params->history->weights->predecessor_latest"};

		for (int k = 0; k < 5; k++)
		{
			Datum		d = SPI_getbinval(tup, desc, k + 1, &isnull);

			if (isnull)
				model_row_corrupt(&row, "%s is missing", names[k]);
			*dst[k] = DatumGetFloat8(d);
			check_model_finite(&row, names[k], *dst[k]);
		}
	}
	arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 6, &isnull));
	w = check_model_float8s(&row, "params->history->weights->statistics", arr, NCF_HISTORY_STATS,
							"the number of a course's statistics", NULL);
	memcpy(h->w_stats, w, sizeof(double) * NCF_HISTORY_STATS);
	arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 7, &isnull));
	w = check_model_float8s(&row, "params->history->weights->affinity", arr, -1, NULL, &nw);
	check_model_range(&row, "the number of affinity weights", nw, 0, NCF_HISTORY_MAX_COLUMNS);
	arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 8, &isnull));
	nv = check_model_array(&row, "params->history->affinity_values", arr, INT4OID, nw,
						   "the number of affinity weights");
	h->nattr = nw;
	h->w_attr = palloc0(sizeof(double) * Max(nw, 1));
	h->nvalues = palloc0(sizeof(int32) * Max(nw, 1));
	memcpy(h->w_attr, w, sizeof(double) * nw);
	memcpy(h->nvalues, ARR_DATA_PTR(arr), sizeof(int32) * nv);
	for (int a = 0; a < nv; a++)
		check_model_range(&row, "the number of an affinity column's values", h->nvalues[a], 0, PG_INT32_MAX);
	{
		/* the columns' names, for explain_recommendation */
		Datum	   *names;
		bool	   *nulls;
		int			nn;

		arr = DatumGetArrayTypeP(SPI_getbinval(tup, desc, 9, &isnull));
		check_model_array(&row, "params->history->affinity_columns", arr, TEXTOID, nw,
						  "the number of affinity weights");
		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &names, &nulls, &nn);
		h->attr_cols = palloc(sizeof(char *) * Max(nn, 1));
		for (int a = 0; a < nn; a++)
			h->attr_cols[a] = TextDatumGetCString(names[a]);
		pfree(names);
		pfree(nulls);
	}
	SPI_freetuptable(SPI_tuptable);
	return h;
}

/*
 * Course i's history inputs from its recs.ncf_course row (columns 5-7):
 * statistics, NCF_HISTORY_STATS finite floats (NULL: a course add_courses
 * placed, 0s); affinity, nattr codes in -1..V_a - 1 (NULL: no values);
 * predecessor, kept as an id in pred_ids[i] until every course is loaded
 * (-1 in pred: none).
 */
static void
history_row(ModelRow *row, NcfHistory *h, HeapTuple tup, int i, int64 *pred_ids)
{
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;

	d = SPI_getbinval(tup, desc, 5, &isnull);
	for (int k = 0; k < NCF_HISTORY_STATS; k++)
		h->stats[(Size) i * NCF_HISTORY_STATS + k] = 0.0f;
	if (!isnull)
	{
		float	   *st = ncf_model_floats(row, "statistics", d, NCF_HISTORY_STATS,
										  "the number of a course's statistics", NULL);

		memcpy(h->stats + (Size) i * NCF_HISTORY_STATS, st, sizeof(float) * NCF_HISTORY_STATS);
		pfree(st);
	}
	for (int a = 0; a < h->nattr; a++)
		h->attr[(Size) i * h->nattr + a] = -1;
	d = SPI_getbinval(tup, desc, 6, &isnull);
	if (!isnull && h->nattr > 0)
	{
		ArrayType  *arr = DatumGetArrayTypeP(d);
		const int32 *v;

		check_model_array(row, "affinity", arr, INT4OID, h->nattr, "the number of affinity columns");
		v = (const int32 *) ARR_DATA_PTR(arr);
		for (int a = 0; a < h->nattr; a++)
		{
			check_model_range(row, "an affinity code", v[a], -1, h->nvalues[a] - 1);
			h->attr[(Size) i * h->nattr + a] = v[a];
		}
	}
	d = SPI_getbinval(tup, desc, 7, &isnull);
	h->pred[i] = isnull ? -1 : 0;
	pred_ids[i] = isnull ? 0 : DatumGetInt64(d);
}

/*
 * The co-watch rows of a model with history terms (recs.ncf_cowatch) as
 * rows of course indexes of c.  Validated: both ids courses of the model,
 * similarities in (0, 1.0001] as the table's check has it.
 */
static NcfSparse *
load_cowatch(int64 model_id, const NcfCourses *c, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	ModelRow	row = MODEL_ROW(model_id, "recs.ncf_cowatch");
	NcfSparse  *s;
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT course_id, neighbour_id, similarity FROM %s"
										" WHERE model_id = $1 ORDER BY course_id, neighbour_id",
										serving_table_sql("ncf_cowatch")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_cowatch: %s", SPI_result_code_string(rc));
	s = palloc0(sizeof(NcfSparse));
	s->nrows = c->n;
	s->nnz = (int64) SPI_processed;
	s->rowptr = palloc0(sizeof(int64) * (c->n + 1));
	s->col = MemoryContextAllocHuge(cxt, sizeof(int32) * Max(s->nnz, 1));
	s->val = MemoryContextAllocHuge(cxt, sizeof(float) * Max(s->nnz, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		bool		isnull;
		int64		from = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		int64		to = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull));
		float		sim = DatumGetFloat4(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
		int			i = recs_find_int64(c->ids, c->n, from),
					j = recs_find_int64(c->ids, c->n, to);

		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		model_row_key_int(&row, 0, "course_id", from);
		if (i < 0 || j < 0)
			model_row_corrupt(&row, "course " INT64_FORMAT " or its neighbour " INT64_FORMAT " is no course of the model",
							  from, to);
		if (!(sim > 0 && sim <= 1.0001f))
			model_row_corrupt(&row, "similarity is %g, outside (0, 1.0001]", (double) sim);
		s->rowptr[i + 1]++;
		s->col[r] = j;
		s->val[r] = sim;
	}
	/* rows are in course order: counts to offsets */
	for (int i = 0; i < c->n; i++)
		s->rowptr[i + 1] += s->rowptr[i];
	SPI_freetuptable(SPI_tuptable);
	return s;
}

/*
 * Serving cache loader of "ncf:courses": every course's embedding, by
 * course id.  Validated: at least one course; every embedding one-
 * dimensional, without NULLs, finite and of one width (the first row's,
 * 1..NCF_MAX_WIDTH); input_row equal to the course's rank by id among the
 * courses that have one (the sparse layers' row order that serving relies
 * on), or NULL for a course add_courses() embedded after training from its
 * features alone (it is ranked, but is no input of the learner tower; such
 * courses need not sort after the trained ones).  How the embeddings
 * fit the learner tower is checked where both are used (tower_fits()).
 */
static void *
load_courses(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	NcfCourses *c = MemoryContextAllocZero(cxt, sizeof(NcfCourses));
	MemoryContext partcxt = cxt;
	ModelRow	row = MODEL_ROW(model_id, "recs.ncf_course");
	NcfHistory *hist;
	int64	   *pred_ids = NULL;
	int			rc;

	/* the history terms' weights first: the courses' query below keeps SPI_tuptable */
	hist = load_history(model_id, partcxt);
	rc = SPI_execute_with_args(psprintf("SELECT course_id, embedding, input_row, trend, statistics,"
										" affinity, predecessor FROM %s"
							   " WHERE model_id = $1 ORDER BY course_id", serving_table_sql("ncf_course")),
							   1, types, values, NULL, true, 0);
	/* SPI returns in its procedure context; the part must live in ours */
	MemoryContextSwitchTo(partcxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_course: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		model_row_corrupt(&row, "the NCF model has no course embeddings");
	if (SPI_processed > PG_INT32_MAX)
		model_row_corrupt(&row, "the model has " UINT64_FORMAT " courses, more than %d",
						  SPI_processed, PG_INT32_MAX);
	c->n = (int) SPI_processed;
	if (hist)
	{
		hist->n = c->n;
		hist->attr = MemoryContextAllocHuge(partcxt, sizeof(int32) * Max((Size) c->n * hist->nattr, 1));
		hist->pred = palloc(sizeof(int32) * c->n);
		hist->stats = palloc(sizeof(float) * NCF_HISTORY_STATS * c->n);
		pred_ids = palloc(sizeof(int64) * c->n);
	}
	c->ids = palloc(sizeof(int64) * c->n);
	c->input_row = palloc(sizeof(int32) * c->n);
	c->n_inputs = 0;
	for (int i = 0; i < c->n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		float	   *e;
		int			n;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		c->ids[i] = DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		model_row_key_int(&row, 0, "course_id", c->ids[i]);
		{
			Datum		ir = SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull);

			c->input_row[i] = -1;
			if (!isnull)
			{
				check_model_equal(&row, "input_row", DatumGetInt32(ir), c->n_inputs,
								  "the course's rank by course_id");
				c->input_row[i] = c->n_inputs++;
			}
		}
		e = ncf_model_floats(&row, "embedding", SPI_getbinval(tup, SPI_tuptable->tupdesc, 2, &isnull),
						 i == 0 ? -1 : c->dim, "the first course's embedding width", &n);
		if (i == 0)
		{
			check_model_range(&row, "the embedding width", n, 1, NCF_MAX_WIDTH);
			c->dim = n;
			c->emb = MemoryContextAllocHuge(CurrentMemoryContext, mul_size(sizeof(float), mul_size(c->n, c->dim)));
		}
		memcpy(c->emb + (Size) i * c->dim, e, sizeof(float) * c->dim);
		pfree(e);
		{
			/* the trend term (0 for models without trend_days, or before 0.4.0) */
			float		tr = DatumGetFloat4(SPI_getbinval(tup, SPI_tuptable->tupdesc, 4, &isnull));

			if (!isnull && tr != 0)
			{
				if (!isfinite(tr))
					model_row_corrupt(&row, "trend is %g, not a finite number", (double) tr);
				if (c->trend == NULL)
					c->trend = palloc0(sizeof(float) * c->n);
				c->trend[i] = tr;
			}
		}
		if (hist)
			history_row(&row, hist, tup, i, pred_ids);
	}
	if (hist)
	{
		/* predecessors by course id, now that every id is known */
		for (int i = 0; i < c->n; i++)
			if (hist->pred[i] >= 0)
			{
				int			p = recs_find_int64(c->ids, c->n, pred_ids[i]);

				model_row_key_int(&row, 0, "course_id", c->ids[i]);
				if (p < 0)
					model_row_corrupt(&row, "predecessor " INT64_FORMAT " is no course of the model",
									  pred_ids[i]);
				hist->pred[i] = p;
			}
		ncf_history_successors(hist);
		ncf_history_static_terms(hist);
		c->history = hist;
	}
	c->blocked = ncf_block_rows(c->emb, c->n, c->dim);
	{
		/* unit-length rows, for similar_courses' cosines */
		float	   *unit = MemoryContextAllocHuge(CurrentMemoryContext,
												  mul_size(sizeof(float), mul_size(c->n, c->dim)));

		for (int i = 0; i < c->n; i++)
		{
			const float *e = c->emb + (Size) i * c->dim;
			float	   *u = unit + (Size) i * c->dim;
			double		norm = sqrt((double) ncf_vec_dot(e, e, c->dim));

			for (int j = 0; j < c->dim; j++)
				u[j] = norm > 0 ? (float) (e[j] / norm) : 0.0f;
		}
		c->unit = ncf_block_rows(unit, c->n, c->dim);
		pfree(unit);
	}
	SPI_freetuptable(SPI_tuptable);
	if (c->history)
		c->history->cowatch = load_cowatch(model_id, c, partcxt);
	return c;
}

/*
 * The model's order_decay and context_norm (recs.model.params; absent in
 * models trained before 0.4.0, which ignore order and sum a context): the
 * weights the learner tower gives a history's latest watches, exactly as
 * training computed them.
 */
static void
load_order(int64 model_id, NcfLearnerTower *lt, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	ModelRow	row = MODEL_ROW(model_id, "recs.model");
	double		decay = 1.0;
	char	   *norm = NULL;
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT (params->>'order_decay')::float8, params->>'context_norm'"
										" FROM %s WHERE model_id = $1", serving_table_sql("model")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
			decay = DatumGetFloat8(d);
		norm = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	}
	SPI_freetuptable(SPI_tuptable);
	if (!(decay >= 0.0 && decay <= 1.0))
		model_row_corrupt(&row, "params->order_decay is %g, outside 0..1", decay);
	lt->order_len = ncf_order_length(decay);
	lt->order_w = ncf_order_weights(decay);
	lt->norm = NCF_NORM_NONE;
	if (norm != NULL)
	{
		int			i;

		for (i = 0; i < lengthof(ncf_context_norm_names); i++)
			if (strcmp(norm, ncf_context_norm_names[i]) == 0)
				break;
		if (i == lengthof(ncf_context_norm_names))
			model_row_corrupt(&row, "params->context_norm is \"%s\", not 'none', 'sqrt' or 'mean'", norm);
		lt->norm = (NcfContextNorm) i;
		pfree(norm);
	}
}

/*
 * The model's attention encoder (train_ncf's encoder 'attention'), if any:
 * params->>'encoder' (absent before 0.4.0: a bag) and the row of tower
 * 'attention' of recs.ncf_layer must agree.  Validated: one row, layer 0,
 * n_in equal to params->>'attention_window' (1..NCF_MAX_CONTEXT), n_out
 * equal to the learner tower's width[1], weight (the position embeddings)
 * n_in * n_out and bias (the query) n_out finite floats.  The encoder sees
 * a history's latest window watches: order_len is cut to it.
 */
static void
load_attention(int64 model_id, NcfLearnerTower *lt, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	ModelRow	row = MODEL_ROW(model_id, "recs.model");
	char	   *encoder = NULL;
	int64		window = 0;
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT params->>'encoder', params->>'attention_window'"
										" FROM %s WHERE model_id = $1", serving_table_sql("model")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		char	   *w = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);

		encoder = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		if (w)
		{
			char	   *end;

			errno = 0;
			window = strtol(w, &end, 10);
			if (errno != 0 || *end != '\0' || end == w)
				model_row_corrupt(&row, "params->attention_window is \"%s\", not an integer", w);
		}
	}
	SPI_freetuptable(SPI_tuptable);
	if (encoder != NULL && strcmp(encoder, "bag") != 0 && strcmp(encoder, "attention") != 0)
		model_row_corrupt(&row, "params->encoder is \"%s\", neither bag nor attention", encoder);
	if (encoder == NULL || strcmp(encoder, "bag") == 0)
		window = 0;
	else
		check_model_range(&row, "params->attention_window", window, 1, NCF_MAX_CONTEXT);

	rc = SPI_execute_with_args(psprintf("SELECT layer, n_in, n_out, weight, bias FROM %s"
										" WHERE model_id = $1 AND tower = 'attention' ORDER BY layer",
										serving_table_sql("ncf_layer")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_layer: %s", SPI_result_code_string(rc));
	row = MODEL_ROW(model_id, "recs.ncf_layer");
	if (SPI_processed != (window > 0 ? 1 : 0))
		model_row_corrupt(&row, "the model has %d rows of tower attention for encoder %s",
						  (int) SPI_processed, window > 0 ? "attention" : "bag");
	if (window > 0)
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			layer = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		int			n_in = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		int			n_out = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		int			width[2];
		float	   *params = palloc(sizeof(float) * ncf_attention_size(window, lt->t.width[1]));
		float	   *f;

		ncf_check_layer_row(&row, "attention", 0, layer, n_in, n_out, width);
		check_model_equal(&row, "n_in", n_in, window, "params->attention_window");
		check_model_equal(&row, "n_out", n_out, lt->t.width[1], "the learner tower's n_out of layer 0");
		f = ncf_model_floats(&row, "weight", SPI_getbinval(tup, desc, 4, &isnull),
							 (int64) n_in * n_out, "n_in * n_out", NULL);
		memcpy(params, f, sizeof(float) * n_in * n_out);
		pfree(f);
		f = ncf_model_floats(&row, "bias", SPI_getbinval(tup, desc, 5, &isnull), n_out, "n_out", NULL);
		memcpy(params + (Size) n_in * n_out, f, sizeof(float) * n_out);
		pfree(f);
		lt->t.att = palloc(sizeof(NcfAttention));
		ncf_attention_bind(lt->t.att, n_in, n_out, params);
		lt->order_len = Min(lt->order_len, n_in);
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * Serving cache loader of "ncf:learner": the learner tower, to embed a
 * watch list (cold starts, recommend's recent argument, embed_learner).
 * Validated, for both towers: layers numbered 0, 1, ... with 2 to
 * NCF_MAX_LAYERS of them (a sparse layer and at least one dense layer),
 * n_in of each layer equal to n_out of the one before, dense widths in
 * 1..NCF_MAX_WIDTH, both towers' sparse inputs equal and their outputs
 * equal; for the learner tower, which serving runs, weight holding
 * n_in * n_out and bias n_out finite floats (the course tower's array
 * lengths only: its embeddings are stored, it never runs).
 */
static void *
load_learner_tower(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	NcfLearnerTower *lt = MemoryContextAllocZero(cxt, sizeof(NcfLearnerTower));
	MemoryContext partcxt = cxt;
	ModelRow	row = MODEL_ROW(model_id, "recs.ncf_layer");
	int			rc;
	int64		empty[2] = {0, 0};
	int			nlayers[2] = {0, 0};
	int			width[2][NCF_MAX_LAYERS + 1];

	/* the learner tower's rows first, each tower's layers in order */
	rc = SPI_execute_with_args(psprintf("SELECT tower, layer, n_in, n_out,"
							   " CASE WHEN tower = 'learner' THEN weight END,"
							   " CASE WHEN tower = 'learner' THEN bias END,"
							   " cardinality(weight), cardinality(bias)"
							   " FROM %s WHERE model_id = $1 AND tower <> 'attention'"
							   " ORDER BY tower = 'learner' DESC, tower, layer", serving_table_sql("ncf_layer")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(partcxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_layer: %s", SPI_result_code_string(rc));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *tower = SPI_getvalue(tup, desc, 1);
		int			t = strcmp(tower, "learner") == 0 ? NCF_LEARNER : NCF_COURSE;
		int			layer = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		int			n_in = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		int			n_out = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		int			l = nlayers[t];

		ncf_check_layer_row(&row, tower, l, layer, n_in, n_out, width[t]);
		if (t == NCF_LEARNER)
		{
			lt->t.w[l] = ncf_model_floats(&row, "weight", SPI_getbinval(tup, desc, 5, &isnull),
									  (int64) n_in * n_out, "n_in * n_out", NULL);
			lt->t.b[l] = ncf_model_floats(&row, "bias", SPI_getbinval(tup, desc, 6, &isnull),
									  n_out, "n_out", NULL);
		}
		else
		{
			check_model_equal(&row, "the length of weight",
							  DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull)),
							  (int64) n_in * n_out, "n_in * n_out");
			check_model_equal(&row, "the length of bias",
							  DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull)), n_out, "n_out");
		}
		nlayers[t]++;
	}
	row = MODEL_ROW(model_id, "recs.ncf_layer");
	for (int t = 0; t < 2; t++)
		if (nlayers[t] < 2)
			model_row_corrupt(&row, "the %s tower has %d layers, fewer than 2",
							  t == NCF_LEARNER ? "learner" : "course", nlayers[t]);
	/* the course tower may have content rows after the courses' */
	if (width[NCF_COURSE][0] < width[NCF_LEARNER][0])
		check_model_equal(&row, "the course tower's n_in of layer 0", width[NCF_COURSE][0],
						  width[NCF_LEARNER][0], "the learner tower's");
	check_model_equal(&row, "the course tower's output width", width[NCF_COURSE][nlayers[NCF_COURSE]],
					  width[NCF_LEARNER][nlayers[NCF_LEARNER]], "the learner tower's");
	lt->t.nlayers = nlayers[NCF_LEARNER];
	memcpy(lt->t.width, width[NCF_LEARNER], sizeof(int) * (lt->t.nlayers + 1));
	SPI_freetuptable(SPI_tuptable);
	load_order(model_id, lt, partcxt);
	load_attention(model_id, lt, partcxt);
	lt->cold = palloc(sizeof(float) * lt->t.width[lt->t.nlayers]);
	ncf_tower_forward(&lt->t, 1, empty, NULL, NULL, lt->cold);
	return lt;
}

/*
 * The learner tower and the course embeddings are separate cached parts,
 * each valid on its own; before running the tower, check that they belong
 * together: one sparse input per course, an output as wide as an embedding.
 */
static void
tower_fits(const ServingModel *m, const NcfLearnerTower *lt, const NcfCourses *c)
{
	ModelRow	row = MODEL_ROW(m->model_id, "recs.ncf_layer");

	check_model_equal(&row, "n_in of the learner tower's layer 0", lt->t.width[0], c->n_inputs,
					  "the number of rows of recs.ncf_course with an input_row");
	check_model_equal(&row, "the learner tower's output width", lt->t.width[lt->t.nlayers],
					  c->dim, "the width of the course embeddings");
}

/* ---- model resolution ---- */

/*
 * The NCF model whose embeddings stand for the given one: itself, or a
 * blend's NCF component (similar_courses, embed_learner and course_map of a
 * blend use that component, as recommend() of the blend does for its NCF
 * scores).  Any other model is an error.
 */
void
ncf_embedding_model(const ServingModel *given, ServingModel *out)
{
	if (!serving_embeddings(given, out) || out->routine != &ncf_kind)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("recs model " INT64_FORMAT " is a %s model, which has no course embeddings",
						given->model_id, given->kind),
				 errhint("Pass an NCF model, or a blend with an NCF component.")));
}

static NcfCourses *
get_courses(const ServingModel *m)
{
	return serving_cache_get(m->model_id, m->stamp, "ncf:courses", load_courses, NULL);
}

static NcfLearnerTower *
get_learner_tower(const ServingModel *m)
{
	return serving_cache_get(m->model_id, m->stamp, "ncf:learner", load_learner_tower, NULL);
}

const NcfCourses *
ncf_model_courses(const ServingModel *given)
{
	ServingModel m;

	ncf_embedding_model(given, &m);
	return get_courses(&m);
}

/*
 * The learner's stored row (recs.ncf_learner), in one read: the embedding
 * into out (dim floats) when out is given, and when ctx is given the
 * context it was computed from (the window ending at their latest training
 * watch, oldest first, in a palloc'd copy; NULL for models trained before
 * 0.4.0).  False when the model does not know the learner.
 */
static bool
stored_learner(const ServingModel *m, int64 learner_id, float *out, int dim,
			   const int64 **ctx, int *nctx)
{
	static const char *const cols[2] = {"embedding", "context"};
	ServingKey	keys[2] = {{"model_id", INT8OID, Int64GetDatum(m->model_id)},
	{"learner_id", INT8OID, Int64GetDatum(learner_id)}};
	Datum		values[2];
	bool		nulls[2];
	int			first = out ? 0 : 1;
	int			ncols = (out ? 1 : 0) + (ctx ? 1 : 0);
	ModelRow	row = MODEL_ROW(m->model_id, "recs.ncf_learner");

	Assert(ncols > 0);
	if (ctx)
	{
		*ctx = NULL;
		*nctx = 0;
	}
	if (!serving_fetch_row("ncf_learner", 2, keys, ncols, cols + first, values, nulls, NULL))
		return false;
	model_row_key_int(&row, 0, "learner_id", learner_id);
	if (out)
	{
		float	   *e = ncf_model_floats(&row, "embedding", values[0], dim,
										 "the width of the course embeddings", NULL);

		memcpy(out, e, sizeof(float) * dim);
		pfree(e);
	}
	if (ctx && !nulls[ncols - 1])
	{
		ArrayType  *arr = DatumGetArrayTypeP(values[ncols - 1]);
		int64	   *copy;

		check_model_array(&row, "context", arr, INT8OID, -1, NULL);
		*nctx = ArrayGetNItems(ARR_NDIM(arr), ARR_DIMS(arr));
		copy = palloc(sizeof(int64) * Max(*nctx, 1));
		if (*nctx > 0)
			memcpy(copy, ARR_DATA_PTR(arr), sizeof(int64) * *nctx);
		*ctx = copy;
	}
	return true;
}

static int
course_index(const NcfCourses *c, int64 id)
{
	return recs_find_int64(c->ids, c->n, id);
}

static int
int32_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/*
 * The learner tower applied to a watch list (two id lists, merged; unknown
 * ids ignored, duplicates once): the embedding of a new learner, or of a
 * known one with watches the model has not seen.  out holds dim floats.
 *
 * An unordered model sees a set: the lists are sorted and deduplicated.  An
 * ordered one (order_decay < 1) reads them as one history, a then b, oldest
 * first: a course listed twice counts at its first place (training keeps a
 * learner's earliest watch of a course), and the latest order_len courses
 * enter with the model's order weights (an attention encoder's model is
 * ordered too, and sees its window's latest courses) -- so a history in the order training
 * saw it embeds exactly as the stored embedding.
 */
static void
embed_courses(const ServingModel *m, const int64 *a, int na, const int64 *b, int nb, float *out)
{
	NcfCourses *c = get_courses(m);
	NcfLearnerTower *lt = get_learner_tower(m);
	int32	   *rows = palloc(sizeof(int32) * Max(na + nb, 1));
	float	   *val = NULL;
	int			nrows = 0;
	int64		rowptr[2];

	tower_fits(m, lt, c);
	for (int i = 0; i < na + nb; i++)
	{
		int			idx = course_index(c, i < na ? a[i] : b[i - na]);

		/* a course added since training is no input of the learner tower */
		if (idx >= 0 && c->input_row[idx] >= 0)
			rows[nrows++] = c->input_row[idx];
	}
	if (lt->order_w || lt->t.att)
	{
		int64	   *key = palloc(sizeof(int64) * Max(nrows, 1));
		bool	   *dup = palloc0(sizeof(bool) * Max(nrows, 1));
		int			w = 0;

		/*
		 * Keep each course's first place: sort (row, place) pairs, mark all
		 * but the first of each row, then the latest order_len in list order.
		 */
		for (int i = 0; i < nrows; i++)
			key[i] = ((int64) rows[i] << 32) | i;
		qsort(key, nrows, sizeof(int64), recs_int64_cmp);
		for (int i = 1; i < nrows; i++)
			if ((key[i] >> 32) == (key[i - 1] >> 32))
				dup[key[i] & 0xFFFFFFFF] = true;
		for (int i = 0; i < nrows; i++)
			if (!dup[i])
				rows[w++] = rows[i];
		nrows = Min(w, lt->order_len);
		rows += w - nrows;
		pfree(key);
		pfree(dup);
	}
	else if (nrows > 1)
	{
		int			w = 1;

		qsort(rows, nrows, sizeof(int32), int32_cmp);
		for (int i = 1; i < nrows; i++)
			if (rows[i] != rows[w - 1])
				rows[w++] = rows[i];
		nrows = w;
	}
	if (lt->order_w || lt->norm != NCF_NORM_NONE)
	{
		/* the order weights and the norm of this context, as training's */
		val = palloc(sizeof(float) * Max(nrows, 1));
		ncf_context_values(lt->order_w, lt->norm, nrows, val);
	}
	rowptr[0] = 0;
	rowptr[1] = nrows;
	ncf_tower_forward(&lt->t, 1, rowptr, rows, val, out);
}

/*
 * The history terms' view of the learner: every watched and recent course,
 * the latest of them in time order (ordered, then recent)
 */
static void
history_view(const NcfCourses *c, const ServingLearner *l, const int64 *ordered, int nordered,
			 NcfHistoryLearner *st)
{
	int			n = l->nwatched + l->nrecent;
	int32	   *idx = palloc(sizeof(int32) * Max(Max(n, nordered + l->nrecent), 1));

	for (int i = 0; i < n; i++)
		idx[i] = course_index(c, i < l->nwatched ? l->watched[i] : l->recent[i - l->nwatched]);
	ncf_history_learner(c->history, idx, n, st);
	for (int i = 0; i < nordered + l->nrecent; i++)
		idx[i] = course_index(c, i < nordered ? ordered[i] : l->recent[i - nordered]);
	ncf_history_learner_latest(c->history, idx, nordered + l->nrecent, st);
	pfree(idx);
}

/*
 * The learner's embedding into u (c->dim floats) and, for a model with
 * history terms, their state st, from one read of their stored row:
 *   - without recent watches, the stored embedding, or the embedding of an
 *     empty history for a learner the model does not know;
 *   - with the watches the caller reports since training (recommend's
 *     recent argument), the learner tower on the stored context followed
 *     by them, so that a dormant learner's recent watches join what they
 *     watched last, as in training (an ordered model keeps the known
 *     watches' order behind the new ones);
 *   - the history terms read the same context for their order.
 * Models trained before 0.4.0 stored no context: for them, and for learners
 * the model does not know, the whole watched list stands for it.
 */
void
ncf_learner_inputs(const ServingModel *m, const NcfCourses *c, const ServingLearner *l, float *u,
				   NcfHistoryLearner *st)
{
	bool		need_ctx = l->nrecent > 0 || c->history;
	const int64 *ctx = NULL;
	int			nctx = 0;
	bool		known = stored_learner(m, l->learner_id, l->nrecent > 0 ? NULL : u, c->dim,
									   need_ctx ? &ctx : NULL, &nctx);

	if (need_ctx && ctx == NULL)
	{
		ctx = l->watched;
		nctx = l->nwatched;
	}
	if (l->nrecent > 0)
		embed_courses(m, ctx, nctx, l->recent, l->nrecent, u);
	else if (!known)
	{
		NcfLearnerTower *lt = get_learner_tower(m);

		tower_fits(m, lt, c);
		memcpy(u, lt->cold, sizeof(float) * c->dim);
	}
	if (c->history)
		history_view(c, l, ctx, nctx, st);
}

/* ---- scoring for recommend(), evaluate() and blends ---- */

/* course idx's NCF score for embedding u (dot + trend), as ncf_score_courses computes it */
static float
course_score(const NcfCourses *c, int idx, const float *u)
{
	float		s = ncf_dot_blocked_one(c->blocked, idx, c->dim, u);

	if (c->trend)
		s += c->trend[idx];
	return s;
}

/* the served score of course idx from its NCF score (st is read only with history terms) */
static double
served_score(const NcfCourses *c, const NcfHistoryLearner *st, int idx, float ncf)
{
	return c->history ? ncf_history_score(c->history, st, idx, ncf) : (double) ncf;
}

/*
 * Scores of every course of the model for the learner: the dot product of
 * the learner's embedding with each course embedding, one sgemv.  The
 * embedding is the stored one, or the cold-start embedding of an empty
 * history -- or, when the caller reports watches since training, the
 * learner tower applied to the stored context plus those (no retraining).
 */
static void
ncf_score_courses(const ServingModel *m, const ServingLearner *l, CourseScores *out)
{
	NcfCourses *c = get_courses(m);
	float	   *u = palloc(sizeof(float) * c->dim);
	int64		nblocks = (c->n + NCF_BLOCK - 1) / NCF_BLOCK;
	float	   *scores = palloc(sizeof(float) * nblocks * NCF_BLOCK);
	NcfHistoryLearner st;

	ncf_learner_inputs(m, c, l, u, &st);
	ncf_dot_blocked(c->blocked, nblocks, c->dim, u, scores);
	if (c->trend)
		ncf_vec_add(scores, c->trend, c->n);
	out->n = c->n;
	out->course_id = c->ids;
	out->score = palloc(sizeof(double) * c->n);
	for (int i = 0; i < c->n; i++)
		out->score[i] = served_score(c, &st, i, scores[i]);
}

/*
 * The scores ncf_score_courses() gives the listed courses only (NaN for a
 * course not in the model): one dot product each instead of the catalogue.
 */
static void
ncf_score_listed(const ServingModel *m, const ServingLearner *l, int n,
				 const int64 *course_ids, double *out)
{
	NcfCourses *c = get_courses(m);
	float	   *u = palloc(sizeof(float) * c->dim);
	NcfHistoryLearner st;

	ncf_learner_inputs(m, c, l, u, &st);
	for (int i = 0; i < n; i++)
	{
		int			idx = course_index(c, course_ids[i]);

		out[i] = idx >= 0 ? served_score(c, &st, idx, course_score(c, idx, u)) : NAN;
	}
	pfree(u);
}

/* ---- SQL functions ---- */

/* the model's score of one pair: one dot product (recs.score's NCF path) */
static double
ncf_score_pair(const ServingModel *m, int64 learner_id, int64 course_id)
{
	NcfCourses *c = get_courses(m);
	float	   *u;
	int			idx;
	ServingLearner l;
	NcfHistoryLearner st;

	idx = course_index(c, course_id);
	if (idx < 0)
		return NAN;				/* a course the model cannot place */
	u = palloc(sizeof(float) * c->dim);
	/* the history terms need the watched list; the towers alone, the stored embedding */
	if (c->history)
		serving_learner(m, learner_id, &l);
	else
	{
		memset(&l, 0, sizeof(l));
		l.learner_id = learner_id;
	}
	ncf_learner_inputs(m, c, &l, u, &st);
	return served_score(c, &st, idx, course_score(c, idx, u));
}

PG_FUNCTION_INFO_V1(ncf_similar_courses);
Datum
ncf_similar_courses(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		course_id;
	int32		k;
	ServingModel m;
	NcfCourses *c;
	int			idx;
	float	   *query;
	float	   *scores;
	double	   *dscores;
	bool	   *skip;
	int		   *best;
	int			n;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("course_id must not be NULL")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("k must not be NULL")));
	course_id = PG_GETARG_INT64(0);
	k = PG_GETARG_INT32(1);
	if (k < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("k must be at least 1, not %d", k)));
	k = Min(k, MAX_K);

	InitMaterializedSRF(fcinfo, 0);
	{
		ServingModel given;

		serving_model_arg(fcinfo, 2, 3, true, &given);
		ncf_embedding_model(&given, &m);
	}
	c = get_courses(&m);
	idx = course_index(c, course_id);
	if (idx < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("course " INT64_FORMAT " is not in NCF model " INT64_FORMAT, course_id, m.model_id)));
	scores = palloc(sizeof(float) * ((c->n + NCF_BLOCK - 1) / NCF_BLOCK) * NCF_BLOCK);
	query = palloc(sizeof(float) * c->dim);
	ncf_blocked_row(c->unit, idx, c->dim, query);
	ncf_dot_blocked(c->unit, (c->n + NCF_BLOCK - 1) / NCF_BLOCK, c->dim, query, scores);
	dscores = palloc(sizeof(double) * c->n);
	skip = palloc0(sizeof(bool) * c->n);
	for (int i = 0; i < c->n; i++)
		dscores[i] = scores[i];
	skip[idx] = true;			/* never the course itself */
	k = Min(k, c->n - 1);
	best = palloc(sizeof(int) * Max(k, 1));
	n = topk_select(dscores, skip, c->n, k, best);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = Int32GetDatum(i + 1);
		values[1] = Int64GetDatum(c->ids[best[i]]);
		values[2] = Float8GetDatum(scores[best[i]]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(ncf_embed_learner);
Datum
ncf_embed_learner(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	ServingModel given;
	ServingModel m;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64	   *ids;
	int			nids = 0;
	float	   *e;
	Datum	   *out;
	int			dim;
	ArrayType  *result;

	/* NULL course_ids, or neither model nor slot: NULL (it was STRICT) */
	if (PG_ARGISNULL(1) || !serving_model_arg(fcinfo, 0, 2, false, &given))
		PG_RETURN_NULL();
	arr = PG_GETARG_ARRAYTYPE_P(1);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("course_ids must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, 8, true, TYPALIGN_DOUBLE, &elems, &nulls, &n);
	ids = palloc(sizeof(int64) * Max(n, 1));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			ids[nids++] = DatumGetInt64(elems[i]);

	ncf_embedding_model(&given, &m);
	dim = get_courses(&m)->dim;
	e = palloc(sizeof(float) * dim);
	embed_courses(&m, ids, nids, NULL, 0, e);
	out = palloc(sizeof(Datum) * dim);
	for (int i = 0; i < dim; i++)
		out[i] = Float4GetDatum(e[i]);
	result = construct_array(out, dim, FLOAT4OID, 4, true, TYPALIGN_INT);
	PG_RETURN_ARRAYTYPE_P(result);
}

/* an NCF model's course embeddings are its own */
static bool
ncf_embeddings(const ServingModel *m, ServingModel *out)
{
	*out = *m;
	return true;
}

/* dot products of embeddings: unbounded logits, of watches */
const ServingKind ncf_kind = {
	.name = "ncf",
	.probability = false,
	.blend_transform = "identity",
	.history_is_watches = true,
	.score_courses = ncf_score_courses,
	.score_listed = ncf_score_listed,
	.score_pair = ncf_score_pair,
	.embeddings = ncf_embeddings,
};
