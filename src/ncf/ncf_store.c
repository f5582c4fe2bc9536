/*
 * ncf_store.c -- writing a trained NCF model to the model tables
 *
 * One recs.model row (source relations, hyper-parameters, and the metrics:
 * rows read and skipped, positives, loss and seconds per epoch), then the
 * parts: recs.ncf_layer (both towers, layer by layer), recs.ncf_course and
 * recs.ncf_learner (embeddings, in chunks of EMBED_INSERT_ROWS rows, each
 * chunk one statement slicing a flat real[] per row in SQL; a learner's row
 * also keeps the context their embedding was computed from, the courses of
 * the window ending at their own latest watch, which serving's recent
 * argument extends),
 * recs.ncf_cowatch (the course tower's inputs), recs.ncf_course_feature
 * (the content vocabulary, with course_features) and recs.model_learner
 * (each learner's watched courses, ascending).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "blas_core.h"
#include "json_out.h"
#include "ncf.h"
#include "model_store.h"
#include "spi_util.h"

#define EMBED_INSERT_ROWS 20000

static ArrayType *
float_array(const float *x, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	ArrayType  *a;

	for (int i = 0; i < n; i++)
		d[i] = Float4GetDatum(x[i]);
	a = construct_array(d, n, FLOAT4OID, 4, true, TYPALIGN_INT);
	pfree(d);
	return a;
}

static void
store_layers(int64 model_id, const NcfModel *m)
{
	static const char *const names[2] = {"learner", "course"};
	Oid			types[7] = {INT8OID, TEXTOID, INT4OID, INT4OID, INT4OID, FLOAT4ARRAYOID, FLOAT4ARRAYOID};
	SPIPlanPtr	plan;

	plan = SPI_prepare("INSERT INTO recs.ncf_layer (model_id, tower, layer, n_in, n_out, weight, bias)"
					   " VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int k = 0; k < 2; k++)
	{
		const NcfTower *t = &m->tower[k];

		for (int l = 0; l < t->nlayers; l++)
		{
			int64		nw = (int64) t->width[l] * t->width[l + 1];
			Datum		values[7];
			int			rc;

			CHECK_FOR_INTERRUPTS();
			if (nw > (int64) (MaxAllocSize / sizeof(float)) - 64)
				ereport(ERROR,
						(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
						 errmsg("layer %d of the %s tower is too large to store", l, names[k])));
			values[0] = Int64GetDatum(model_id);
			values[1] = CStringGetTextDatum(names[k]);
			values[2] = Int32GetDatum(l);
			values[3] = Int32GetDatum(t->width[l]);
			values[4] = Int32GetDatum(t->width[l + 1]);
			values[5] = PointerGetDatum(float_array(t->w[l], (int) nw));
			values[6] = PointerGetDatum(float_array(t->b[l], t->width[l + 1]));
			rc = SPI_execute_plan(plan, values, NULL, false, 0);
			if (rc != SPI_OK_INSERT)
				elog(ERROR, "could not insert into recs.ncf_layer: %s", SPI_result_code_string(rc));
		}
	}
	/*
	 * The attention encoder, one row of tower 'attention': its position
	 * embeddings as the weight (n_in = window rows of n_out = the learner
	 * tower's width[1]), its query as the bias.
	 */
	if (m->tower[NCF_LEARNER].att)
	{
		const NcfAttention *a = m->tower[NCF_LEARNER].att;
		Datum		values[7];
		int			rc;

		values[0] = Int64GetDatum(model_id);
		values[1] = CStringGetTextDatum("attention");
		values[2] = Int32GetDatum(0);
		values[3] = Int32GetDatum(a->window);
		values[4] = Int32GetDatum(a->width);
		values[5] = PointerGetDatum(float_array(a->pos, a->window * a->width));
		values[6] = PointerGetDatum(float_array(a->query, a->width));
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not insert into recs.ncf_layer: %s", SPI_result_code_string(rc));
	}
	SPI_freeplan(plan);
}

/*
 * Rows (model_id, id, embedding) from a flat n x dim matrix: one statement
 * per chunk, slicing the chunk's flat real[] per row in SQL.  extra_exprs
 * may use u.x1 and u.x2 (extra1, extra2), u.x3 (real3) and $7, the chunk's
 * contexts as one flat bigint[] of course ids when ctx is given; then x1 and
 * x2 are each row's slice of it (1-based, inclusive) and extra1, extra2 are
 * ignored.  With codes, $9 is the chunk's codes (ncodes per row, flat),
 * u.x4 each row's predecessor id (NULL: none) and $11 the chunk's
 * statistics (NCF_HISTORY_STATS per row, flat).
 */
void
ncf_store_embeddings(const char *table, const char *idcol, const char *extra_cols,
				 const char *extra_exprs, int64 model_id, const int64 *ids,
				 const int32 *extra1, const int32 *extra2, const float *real3,
				 const NcfSparse *ctx, const int64 *item_ids, const float *emb,
				 int64 n, int dim, const NcfRowCodes *codes)
{
	StringInfoData sql;
	SPIPlanPtr	plan;
	Oid			types[11] = {INT8OID, INT8ARRAYOID, FLOAT4ARRAYOID, INT4OID, INT4ARRAYOID, INT4ARRAYOID,
	INT8ARRAYOID, FLOAT4ARRAYOID, INT4ARRAYOID, INT8ARRAYOID, FLOAT4ARRAYOID};
	int			ncodes = codes ? codes->ncodes : 0;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ncf store",
											  ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO recs.%s (model_id, %s%s, embedding)"
					 " SELECT $1, u.id%s, $3[(u.o - 1) * $4 + 1 : u.o * $4]::real[]"
					 " FROM unnest($2, $5, $6, $8, $10) WITH ORDINALITY AS u(id, x1, x2, x3, x4, o)",
					 table, idcol, extra_cols, extra_exprs);
	plan = SPI_prepare(sql.data, 11, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 start = 0; start < n; start += EMBED_INSERT_ROWS)
	{
		int			nb = (int) Min((int64) EMBED_INSERT_ROWS, n - start);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Datum	   *idd = palloc(sizeof(Datum) * nb);
		Datum	   *x1 = palloc(sizeof(Datum) * nb);
		Datum	   *x2 = palloc(sizeof(Datum) * nb);
		Datum		values[11];
		Datum	   *cs = NULL;
		Datum	   *cd = NULL;
		Datum	   *pd = NULL;
		bool	   *pnull = NULL;
		int			dims[1];
		int			lbs[1] = {1};
		int64		c0 = 0,
					c1 = 0;
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (ctx)
		{
			c0 = ctx->rowptr[start];
			c1 = ctx->rowptr[start + nb];
			if (c1 - c0 > PG_INT32_MAX / 2)
				elog(ERROR, "too many context entries in one insert batch");
			cs = palloc(sizeof(Datum) * Max(c1 - c0, 1));
			for (int64 k = c0; k < c1; k++)
				cs[k - c0] = Int64GetDatum(item_ids[ctx->col[k]]);
		}
		for (int i = 0; i < nb; i++)
		{
			idd[i] = Int64GetDatum(ids[start + i]);
			if (ctx)
			{
				x1[i] = Int32GetDatum((int32) (ctx->rowptr[start + i] - c0 + 1));
				x2[i] = Int32GetDatum((int32) (ctx->rowptr[start + i + 1] - c0));
			}
			else
			{
				x1[i] = Int32GetDatum(extra1 ? extra1[start + i] : 0);
				x2[i] = Int32GetDatum(extra2 ? extra2[start + i] : 0);
			}
		}
		values[0] = Int64GetDatum(model_id);
		values[1] = PointerGetDatum(construct_array(idd, nb, INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(float_array(emb + start * dim, nb * dim));
		values[3] = Int32GetDatum(dim);
		values[4] = PointerGetDatum(construct_array(x1, nb, INT4OID, 4, true, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_array(x2, nb, INT4OID, 4, true, TYPALIGN_INT));
		values[6] = PointerGetDatum(construct_array(cs, (int) (c1 - c0), INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[7] = PointerGetDatum(float_array(real3 ? real3 + start : NULL, real3 ? nb : 0));
		/* the history terms' inputs: nb x ncodes codes, and each row's predecessor (NULL: none) */
		if (ncodes > 0)
		{
			cd = palloc(sizeof(Datum) * nb * ncodes);
			for (int64 k = 0; k < (int64) nb * ncodes; k++)
				cd[k] = Int32GetDatum(codes->codes[start * ncodes + k]);
		}
		values[8] = PointerGetDatum(construct_array(cd, nb * ncodes, INT4OID, 4, true, TYPALIGN_INT));
		if (codes && codes->pred)
		{
			pd = palloc(sizeof(Datum) * nb);
			pnull = palloc(sizeof(bool) * nb);
			for (int i = 0; i < nb; i++)
			{
				int32		p = codes->pred[start + i];

				pnull[i] = p < 0;
				pd[i] = Int64GetDatum(p < 0 ? 0 : codes->pred_ids[p]);
			}
		}
		dims[0] = pd ? nb : 0;
		values[9] = PointerGetDatum(construct_md_array(pd, pnull, 1, dims, lbs, INT8OID, 8, true,
													   TYPALIGN_DOUBLE));
		values[10] = PointerGetDatum(float_array(codes && codes->stats ?
												 codes->stats + start * NCF_HISTORY_STATS : NULL,
												 codes && codes->stats ? nb * NCF_HISTORY_STATS : 0));
		MemoryContextSwitchTo(old);
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not insert into recs.%s: %s", table, SPI_result_code_string(rc));
		MemoryContextReset(cxt);
	}
	SPI_freeplan(plan);
	MemoryContextDelete(cxt);
}

static void
store_cowatch(int64 model_id, const NcfSparse *s, const int64 *item_ids)
{
	Datum	   *mid = palloc(sizeof(Datum) * Max(s->nnz, 1));
	Datum	   *cid = palloc(sizeof(Datum) * Max(s->nnz, 1));
	Datum	   *nid = palloc(sizeof(Datum) * Max(s->nnz, 1));
	Datum	   *sim = palloc(sizeof(Datum) * Max(s->nnz, 1));
	Datum	   *vals[4] = {mid, cid, nid, sim};
	Oid			types[4] = {INT8OID, INT8OID, INT8OID, FLOAT4OID};
	int64		n = 0;

	for (int i = 0; i < s->nrows; i++)
		for (int64 j = s->rowptr[i]; j < s->rowptr[i + 1]; j++)
		{
			mid[n] = Int64GetDatum(model_id);
			cid[n] = Int64GetDatum(item_ids[i]);
			nid[n] = Int64GetDatum(item_ids[s->col[j]]);
			sim[n] = Float4GetDatum(s->val[j]);
			n++;
		}
	recs_insert_columns("INSERT INTO recs.ncf_cowatch (model_id, course_id, neighbour_id, similarity)"
						" SELECT * FROM unnest($1, $2, $3, $4)", 4, types, vals, NULL, n);
}

/* recs.ncf_course_feature: the content vocabulary, (column, value) -> input row */
static void
store_content(int64 model_id, const NcfContent *ct)
{
	Datum	   *mid = palloc(sizeof(Datum) * Max(ct->nvocab, 1));
	Datum	   *feat = palloc(sizeof(Datum) * Max(ct->nvocab, 1));
	Datum	   *val = palloc(sizeof(Datum) * Max(ct->nvocab, 1));
	Datum	   *row = palloc(sizeof(Datum) * Max(ct->nvocab, 1));
	Datum	   *vals[4] = {mid, feat, val, row};
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, INT4OID};

	for (int v = 0; v < ct->nvocab; v++)
	{
		mid[v] = Int64GetDatum(model_id);
		feat[v] = CStringGetTextDatum(ct->cols[ct->vocab_col[v]]);
		val[v] = CStringGetTextDatum(ct->vocab_value[v]);
		row[v] = Int32GetDatum(ct->vocab_row[v]);
	}
	recs_insert_columns("INSERT INTO recs.ncf_course_feature (model_id, feature, value, input_row)"
						" SELECT * FROM unnest($1, $2, $3, $4)", 4, types, vals, NULL, ct->nvocab);
}

/* recs.model_learner: each learner's watched course ids, ascending */
static void
store_model_learners(int64 model_id, const NcfData *d, const int64 *learner_ids,
					 const int64 *item_ids)
{
	int64		nw = d->offsets[d->n_learners];
	SPIPlanPtr	plan;
	Oid			types[5] = {INT8OID, INT8ARRAYOID, INT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID};
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ncf store",
											  ALLOCSET_DEFAULT_SIZES);

	plan = SPI_prepare("INSERT INTO recs.model_learner (model_id, learner_id, watched)"
					   " SELECT $1, u.id, $3[u.s : u.e] FROM unnest($2, $4, $5) AS u(id, s, e)",
					   5, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	(void) nw;
	for (int u0 = 0; u0 < d->n_learners; u0 += EMBED_INSERT_ROWS)
	{
		int			nb = Min(EMBED_INSERT_ROWS, d->n_learners - u0);
		int64		w0 = d->offsets[u0],
					w1 = d->offsets[u0 + nb];
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Datum	   *ids = palloc(sizeof(Datum) * nb);
		Datum	   *st = palloc(sizeof(Datum) * nb);
		Datum	   *en = palloc(sizeof(Datum) * nb);
		Datum	   *cs = palloc(sizeof(Datum) * Max(w1 - w0, 1));
		Datum		values[5];
		int			rc;

		CHECK_FOR_INTERRUPTS();
		if (w1 - w0 > PG_INT32_MAX / 2)
			elog(ERROR, "too many watches in one insert batch");
		for (int i = 0; i < nb; i++)
		{
			ids[i] = Int64GetDatum(learner_ids[u0 + i]);
			st[i] = Int32GetDatum((int32) (d->offsets[u0 + i] - w0 + 1));
			en[i] = Int32GetDatum((int32) (d->offsets[u0 + i + 1] - w0));
		}
		for (int64 w = w0; w < w1; w++)
			cs[w - w0] = Int64GetDatum(item_ids[d->seen[w]]);
		values[0] = Int64GetDatum(model_id);
		values[1] = PointerGetDatum(construct_array(ids, nb, INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(construct_array(cs, (int) (w1 - w0), INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[3] = PointerGetDatum(construct_array(st, nb, INT4OID, 4, true, TYPALIGN_INT));
		values[4] = PointerGetDatum(construct_array(en, nb, INT4OID, 4, true, TYPALIGN_INT));
		MemoryContextSwitchTo(old);
		rc = SPI_execute_plan(plan, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not insert into recs.model_learner: %s", SPI_result_code_string(rc));
		MemoryContextReset(cxt);
	}
	SPI_freeplan(plan);
	MemoryContextDelete(cxt);
}

/*
 * params->'history': the columns, each affinity column's values (their
 * codes are the places in these lists: add_courses maps new courses with
 * them), the weights serving reads, and the fit
 */
static void
history_json(JsonOut *j, const NcfHistory *h)
{
	json_out_object(j, "history");
	json_out_array(j, "affinity_columns");
	for (int a = 0; a < h->nattr; a++)
		json_out_string(j, NULL, h->attr_cols[a]);
	json_out_end(j);
	json_out_array(j, "affinity_values");
	for (int a = 0; a < h->nattr; a++)
	{
		json_out_array(j, NULL);
		for (int v = 0; v < h->nvalues[a]; v++)
			json_out_string(j, NULL, h->values[a][v]);
		json_out_end(j);
	}
	json_out_end(j);
	if (h->path_cols)
	{
		json_out_array(j, "path_columns");
		json_out_string(j, NULL, h->path_cols[0]);
		json_out_string(j, NULL, h->path_cols[1]);
		json_out_end(j);
	}
	json_out_object(j, "weights");
	json_out_number(j, "ncf", h->w_ncf, "%.17g");
	json_out_numbers(j, "statistics", h->w_stats, NCF_HISTORY_STATS, "%.17g");
	json_out_number(j, "cowatch", h->w_cowatch, "%.17g");
	json_out_number(j, "predecessor_watched", h->w_watched, "%.17g");
	json_out_number(j, "predecessor_missing", h->w_missing, "%.17g");
	json_out_number(j, "predecessor_latest", h->w_latest, "%.17g");
	json_out_numbers(j, "affinity", h->w_attr, h->nattr, "%.17g");
	json_out_end(j);
	json_out_object(j, "fit");
	json_out_int(j, "learners", h->fit_learners);
	json_out_int(j, "positives", h->fit_positives);
	json_out_int(j, "rows", h->fit_rows);
	json_out_int(j, "negatives_per_positive", NCF_HISTORY_NEGATIVES);
	json_out_int(j, "recent_days", NCF_HISTORY_RECENT_DAYS);
	json_out_int(j, "newton_steps", h->fit_iterations);
	json_out_int(j, "refit_epochs", h->refit_epochs);
	json_out_number(j, "log_loss", h->fit_loss, "%.6f");
	json_out_end(j);
	json_out_end(j);
}

/* the hyper-parameters as trained, for recs.model.params */
static char *
params_json(const NcfOptions *o, const NcfModel *model)
{
	const NcfConfig *cfg = &o->cfg;
	JsonOut		j;

	json_out_begin(&j);
	json_out_array(&j, "layers");
	for (int l = 0; l < cfg->nhidden; l++)
		json_out_int(&j, NULL, cfg->hidden[l]);
	json_out_end(&j);
	json_out_int(&j, "dim", cfg->dim);
	/* ensemble: layers and dim above are the merged network's, k times a member's */
	if (cfg->ensemble > 1)
	{
		json_out_int(&j, "ensemble", cfg->ensemble);
		json_out_array(&j, "member_layers");
		for (int l = 0; l < cfg->nhidden; l++)
			json_out_int(&j, NULL, cfg->hidden[l] / cfg->ensemble);
		json_out_end(&j);
		json_out_int(&j, "member_dim", cfg->dim / cfg->ensemble);
	}
	json_out_int(&j, "epochs", cfg->epochs);
	json_out_string(&j, "loss", cfg->loss == NCF_LOSS_SOFTMAX ? "softmax" : "binary");
	/* loss 'auto', epochs NULL: the two above were chosen from the data */
	json_out_bool(&j, "loss_auto", cfg->loss_auto);
	json_out_bool(&j, "epochs_auto", cfg->epochs_auto);
	if (cfg->loss == NCF_LOSS_SOFTMAX)
		json_out_number(&j, "temperature", NCF_SOFTMAX_TEMPERATURE, "%g");
	else
		json_out_int(&j, "negatives", cfg->negatives);
	json_out_number(&j, "learning_rate", cfg->learning_rate, "%g");
	json_out_int(&j, "batch_size", cfg->batch_size);
	json_out_number(&j, "l2", cfg->l2, "%g");
	json_out_int(&j, "neighbours", o->topn);
	json_out_raw(&j, "seed", psprintf(UINT64_FORMAT, cfg->seed));
	json_out_int(&j, "threads", cfg->threads);
	json_out_number(&j, "window_days", o->window_days, "%g");
	json_out_number(&j, "min_watch_seconds", o->min_seconds, "%g");
	json_out_number(&j, "order_decay", cfg->order_decay, "%.17g");
	json_out_string(&j, "context_norm", ncf_context_norm_names[cfg->context_norm]);
	json_out_string(&j, "encoder", cfg->encoder == NCF_ENCODER_ATTENTION ? "attention" : "bag");
	if (cfg->trend_seconds > 0 && model->trend)
	{
		double		b[NCF_TREND_BUCKETS];

		json_out_number(&j, "trend_days", o->trend_days, "%.17g");
		for (int i = 0; i < NCF_TREND_BUCKETS; i++)
			b[i] = model->trend_b[i];
		json_out_numbers(&j, "trend_b", b, NCF_TREND_BUCKETS, "%.9g");
		json_out_number(&j, "trend_weight", cfg->trend_weight, "%.17g");
	}
	if (cfg->half_life_seconds > 0)
		json_out_number(&j, "half_life_days", o->half_life_days, "%.17g");
	if (cfg->encoder == NCF_ENCODER_ATTENTION)
		json_out_int(&j, "attention_window", cfg->attention_window);
	json_out_string(&j, "optimizer", "adam, lazy on the sparse layers");
	json_out_string(&j, "labels_from", o->labels_given ?
					timestamptz_to_str(recs_epoch_to_timestamptz(cfg->labels_from)) : NULL);
	if (o->content)
	{
		json_out_array(&j, "course_features");
		for (int f = 0; f < o->content->ncols; f++)
			json_out_string(&j, NULL, o->content->cols[f]);
		json_out_end(&j);
		json_out_number(&j, "content_dropout", cfg->content_dropout, "%g");
		/* exactly, for embed_course's inputs */
		json_out_number(&j, "content_scale", o->content->scale, "%.17g");
	}
	if (o->history)
		history_json(&j, o->history);
	json_out_object(&j, "columns");
	ingest_columns_json(&j, &o->cols);
	return json_out_finish(&j);
}

/* validation 'auto': the split, the per-epoch curve and the epoch stored */
static void
validation_json(JsonOut *j, const NcfRunLog *run, int epochs)
{
	const NcfHoldout *h = run->holdout;
	double	   *curve = palloc(sizeof(double) * epochs);

	json_out_object(j, "validation");
	json_out_string(j, "rule", "the latest tenth of the time span");
	json_out_string(j, "cut", timestamptz_to_str(recs_epoch_to_timestamptz(h->cut)));
	json_out_int(j, "heldout_watches", h->heldout_watches);
	json_out_int(j, "eligible_learners", h->eligible);
	json_out_int(j, "learners", h->sample.n_learners);
	json_out_int(j, "k", NCF_HOLDOUT_K);
	json_out_int(j, "best_epoch", run->best_epoch + 1);
	json_out_number(j, "recall_at_10", run->epochs[run->best_epoch].recall, "%.6f");
	json_out_number(j, "ndcg_at_10", run->epochs[run->best_epoch].ndcg, "%.6f");
	json_out_object(j, "curve");
	for (int e = 0; e < epochs; e++)
		curve[e] = run->epochs[e].recall;
	json_out_numbers(j, "recall_at_10", curve, epochs, "%.6f");
	for (int e = 0; e < epochs; e++)
		curve[e] = run->epochs[e].ndcg;
	json_out_numbers(j, "ndcg_at_10", curve, epochs, "%.6f");
	for (int e = 0; e < epochs; e++)
		curve[e] = run->epochs[e].val_seconds;
	json_out_numbers(j, "seconds", curve, epochs, "%.6f");
	json_out_end(j);
	json_out_end(j);
	pfree(curve);
}

/* what the training read, used and measured, for recs.model.metrics */
static char *
metrics_json(const NcfOptions *o, const NcfInput *in, const NcfData *data, const NcfRunLog *run)
{
	const NcfConfig *cfg = &o->cfg;
	const WatchSet *ws = in->ws;
	/* softmax: one instance per positive, its negatives are the batch's courses */
	/* an ensemble's epoch is each member's epoch: its seconds are summed (train_ensemble) */
	int64		instances = data->n_pos * (cfg->loss == NCF_LOSS_SOFTMAX ? 1 : 1 + cfg->negatives) *
		Max(cfg->ensemble, 1);
	JsonOut		j;

	json_out_begin(&j);
	json_out_int(&j, "watches_read", ws->n_read);
	json_out_int(&j, "watches_used", in->offsets[in->n_learners]);
	json_out_int(&j, "learners", in->n_learners);
	json_out_int(&j, "courses", in->n_items);
	json_out_int(&j, "positives", data->n_pos);
	json_out_int(&j, "instances_per_epoch", instances);
	json_out_number(&j, "mean_context", data->mean_ctx, "%.2f");
	json_out_int(&j, "capped_contexts", data->n_capped_ctx);
	json_out_int(&j, "cowatch_pairs", data->cowatch.nnz);
	json_out_number(&j, "train_seconds", run->train_seconds, "%.3f");
	json_out_number(&j, "train_cpu_seconds", run->cpu_seconds, "%.3f");
	json_out_string(&j, "blas_core", recs_blas_core());
	json_out_number(&j, "examples_per_second",
					(double) instances * cfg->epochs / Max(run->train_seconds, 1e-9), "%.1f");
	json_out_array(&j, "loss");
	for (int e = 0; e < cfg->epochs; e++)
		json_out_number(&j, NULL, run->epochs[e].loss, "%.5f");
	json_out_end(&j);
	json_out_array(&j, "epoch_seconds");
	for (int e = 0; e < cfg->epochs; e++)
		json_out_number(&j, NULL, run->epochs[e].seconds, "%.3f");
	json_out_end(&j);
	json_out_array(&j, "epoch_foreign_cpu_seconds");
	for (int e = 0; e < cfg->epochs; e++)
		json_out_number(&j, NULL, run->epochs[e].foreign_cpu, "%.2f");
	json_out_end(&j);
	if (run->holdout)
		validation_json(&j, run, cfg->epochs);
	ingest_skipped_json(&j, ws);
	return json_out_finish(&j);
}

int64
ncf_store(const NcfOptions *o, const NcfInput *in, const NcfData *data, const NcfModel *model,
		  const NcfRunLog *run, const float *course_emb, const float *course_trend,
		  const float *learner_emb, const NcfSparse *contexts)
{
	int32	   *watchers = palloc0(sizeof(int32) * Max(in->n_items, 1));
	int32	   *input_row = palloc(sizeof(int32) * Max(in->n_items, 1));
	int64		model_id;
	JsonOut		j;
	NcfRowCodes codes = {0};

	for (int64 w = 0; w < in->offsets[in->n_learners]; w++)
		watchers[in->items[w]]++;
	for (int i = 0; i < in->n_items; i++)
		input_row[i] = i;

	json_out_begin(&j);
	json_out_string(&j, "watches", recs_relation_name(o->watches));
	if (OidIsValid(o->courses))
		json_out_string(&j, "courses", recs_relation_name(o->courses));
	model_id = model_store_create(o->name, "ncf", json_out_finish(&j), params_json(o, model), in->through);
	store_layers(model_id, model);
	/*
	 * the trend term: 0 without trend_days (u.x3 NULL); the history terms'
	 * codes and predecessors: NULL without them
	 */
	if (o->history)
	{
		codes.ncodes = o->history->nattr;
		codes.codes = o->history->attr;
		codes.pred = o->history->pred;
		codes.pred_ids = in->item_ids;
		codes.stats = o->history->stats;
	}
	ncf_store_embeddings("ncf_course", "course_id",
					 ", input_row, watchers, trend, affinity, predecessor, statistics",
					 psprintf(", u.x1, u.x2, coalesce(u.x3, 0), %s, u.x4, %s",
							  codes.ncodes > 0 ?
							  psprintf("$9[(u.o - 1) * %d + 1 : u.o * %d]", codes.ncodes, codes.ncodes) :
							  "NULL::integer[]",
							  o->history ?
							  psprintf("$11[(u.o - 1) * %d + 1 : u.o * %d]",
									   NCF_HISTORY_STATS, NCF_HISTORY_STATS) :
							  "NULL::real[]"),
					 model_id, in->item_ids, input_row, watchers, course_trend, NULL, NULL,
					 course_emb, in->n_items, o->cfg.dim, o->history ? &codes : NULL);
	ncf_store_embeddings("ncf_learner", "learner_id", ", context", ", $7[u.x1 : u.x2]",
					 model_id, in->learner_ids, NULL, NULL, NULL, contexts, in->item_ids,
					 learner_emb, in->n_learners, o->cfg.dim, NULL);
	store_cowatch(model_id, &data->cowatch, in->item_ids);
	if (o->content)
		store_content(model_id, o->content);
	store_model_learners(model_id, data, in->learner_ids, in->item_ids);
	model_store_set_metrics(model_id, metrics_json(o, in, data, run));
	return model_id;
}
