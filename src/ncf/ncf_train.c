/*
 * ncf_train.c -- recs.train_ncf(): from a watches relation to a stored NCF model
 *
 * Phases, each in its own memory context under the caller's:
 *   1. ingest   the one watches path (src/ingest/watches.c): cleaned, deduplicated,
 *               dense ids, per-learner time-sorted CSR; then the `through`
 *               cut and the course catalogue (watched courses, plus every
 *               course of the optional courses relation, so that courses
 *               nobody watched yet still get an embedding and can be ranked);
 *   2. inputs   co-watch similarity rows and the positives with their
 *               contexts (ncf_cowatch.c, ncf_fit.c), a memory estimate
 *               checked against recs.memory_limit before the big
 *               allocations;
 *   3. train    ncf_train(), NOTICE per epoch;
 *   4. store    the model row, both towers' layers, course embeddings,
 *               learner embeddings from each learner's context at the end
 *               of the data, the co-watch rows, recs.model_learner.
 * All of it runs in the caller's transaction: an error or a cancel leaves no
 * trace of the new model and the previous one keeps serving.
 */
#include "postgres.h"

#include <math.h>
#include <sys/resource.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "recs.h"
#include "ncf.h"

#define SECONDS_PER_DAY 86400.0
#define EMBED_INSERT_ROWS 20000
#define MAX_WIDTH 8192
#define MAX_EPOCHS 100000

/* user + system CPU seconds of this process, all threads */
static double
process_cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
		ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

/* ---- argument checks ---- */

static int
int_arg(FunctionCallInfo fcinfo, int argno, int dflt, int lo, int hi, const char *name)
{
	int			v = PG_ARGISNULL(argno) ? dflt : PG_GETARG_INT32(argno);

	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d, not %d", name, lo, hi, v)));
	return v;
}

static double
float_arg(FunctionCallInfo fcinfo, int argno, double dflt, double lo, bool lo_open,
		  const char *name)
{
	double		v = PG_ARGISNULL(argno) ? dflt : PG_GETARG_FLOAT8(argno);

	if (!isfinite(v) || v < lo || (lo_open && v == lo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number %s %g, not %g", name,
						lo_open ? "above" : "of at least", lo, v)));
	return v;
}

static void
layers_arg(FunctionCallInfo fcinfo, int argno, NcfConfig *cfg)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (PG_ARGISNULL(argno))
	{
		cfg->nhidden = 2;
		cfg->hidden[0] = 256;
		cfg->hidden[1] = 128;
		return;
	}
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("layers must be a one-dimensional array")));
	deconstruct_array(arr, INT4OID, 4, true, TYPALIGN_INT, &elems, &nulls, &n);
	if (n < 1 || n > NCF_MAX_LAYERS - 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("layers must list between 1 and %d hidden widths", NCF_MAX_LAYERS - 1),
				 errhint("The default is '{256,128}': a sparse layer of 256 units, then a dense layer of 128.")));
	cfg->nhidden = n;
	for (int i = 0; i < n; i++)
	{
		if (nulls[i] || DatumGetInt32(elems[i]) < 1 || DatumGetInt32(elems[i]) > MAX_WIDTH)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("layer widths must be between 1 and %d", MAX_WIDTH)));
		cfg->hidden[i] = DatumGetInt32(elems[i]);
	}
}

/* ---- catalogue ---- */

/* sorted distinct course ids of the courses relation */
static int64 *
read_course_ids(Oid relid, const char *col, int *n)
{
	static const Oid id_types[] = {INT8OID, INT4OID, INT2OID};
	StringInfoData sql;
	int64	   *ids;
	int			rc;

	recs_check_column(relid, col, "course_column", id_types, lengthof(id_types));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT DISTINCT %s::int8 FROM %s WHERE %s IS NOT NULL ORDER BY 1",
					 quote_identifier(col), recs_relation_name(relid), quote_identifier(col));
	rc = SPI_execute(sql.data, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read courses: %s", SPI_result_code_string(rc));
	*n = (int) SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	SPI_freetuptable(SPI_tuptable);
	return ids;
}

/* ---- storing ---- */

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
	SPI_freeplan(plan);
}

/*
 * Rows (model_id, id, embedding) from a flat n x dim matrix: one statement
 * per chunk, slicing the chunk's flat real[] per row in SQL.
 */
static void
store_embeddings(const char *table, const char *idcol, const char *extra_cols,
				 const char *extra_exprs, int64 model_id, const int64 *ids,
				 const int32 *extra1, const int32 *extra2, const float *emb,
				 int64 n, int dim)
{
	StringInfoData sql;
	SPIPlanPtr	plan;
	Oid			types[6] = {INT8OID, INT8ARRAYOID, FLOAT4ARRAYOID, INT4OID, INT4ARRAYOID, INT4ARRAYOID};
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "ncf store",
											  ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "INSERT INTO recs.%s (model_id, %s%s, embedding)"
					 " SELECT $1, u.id%s, $3[(u.o - 1) * $4 + 1 : u.o * $4]::real[]"
					 " FROM unnest($2, $5, $6) WITH ORDINALITY AS u(id, x1, x2, o)",
					 table, idcol, extra_cols, extra_exprs);
	plan = SPI_prepare(sql.data, 6, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int64 start = 0; start < n; start += EMBED_INSERT_ROWS)
	{
		int			nb = (int) Min((int64) EMBED_INSERT_ROWS, n - start);
		MemoryContext old = MemoryContextSwitchTo(cxt);
		Datum	   *idd = palloc(sizeof(Datum) * nb);
		Datum	   *x1 = palloc(sizeof(Datum) * nb);
		Datum	   *x2 = palloc(sizeof(Datum) * nb);
		Datum		values[6];
		int			rc;

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < nb; i++)
		{
			idd[i] = Int64GetDatum(ids[start + i]);
			x1[i] = Int32GetDatum(extra1 ? extra1[start + i] : 0);
			x2[i] = Int32GetDatum(extra2 ? extra2[start + i] : 0);
		}
		values[0] = Int64GetDatum(model_id);
		values[1] = PointerGetDatum(construct_array(idd, nb, INT8OID, 8, true, TYPALIGN_DOUBLE));
		values[2] = PointerGetDatum(float_array(emb + start * dim, nb * dim));
		values[3] = Int32GetDatum(dim);
		values[4] = PointerGetDatum(construct_array(x1, nb, INT4OID, 4, true, TYPALIGN_INT));
		values[5] = PointerGetDatum(construct_array(x2, nb, INT4OID, 4, true, TYPALIGN_INT));
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

/* ---- phase 1: watches and the catalogue ---- */

typedef struct NcfInput
{
	WatchSet   *ws;
	double		through;		/* end of the data */
	int			n_items;
	int64	   *item_ids;		/* item index -> course id, ascending */
	int			n_learners;
	int64	   *learner_ids;
	int64	   *offsets;		/* per learner, time-sorted watches up to through */
	int32	   *items;
	double	   *when;
} NcfInput;

/*
 * Ingest watches (then cut at through, if given) and build the catalogue:
 * the watched courses plus those of the courses relation, if any.
 */
static void
ncf_input(Oid watches, const WatchColumns *cols, double min_seconds, Oid courses,
		  bool through_given, double through_arg, const char *what, NcfInput *in)
{
	MemoryContext cxt = CurrentMemoryContext;
	WatchSet   *ws;
	int			n_extra = 0;
	int64	   *extra_ids = NULL;
	int32	   *item_of_course;
	int			n_items;

	ws = ingest_watches(watches, cols, min_seconds);
	MemoryContextSwitchTo(cxt); /* SPI calls return in SPI's context */
	ingest_report(ws, what);
	if (ws->n_watches == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches left to train on"),
				 errdetail("Read " INT64_FORMAT " rows; cleaning dropped all of them.", ws->n_read),
				 errhint("Check min_watch_seconds and the column arguments.")));
	in->ws = ws;
	in->through = through_given ? through_arg : ws->last_time;

	/* the catalogue: watched courses and the courses relation, ascending */
	if (OidIsValid(courses))
	{
		extra_ids = read_course_ids(courses, cols->course, &n_extra);
		MemoryContextSwitchTo(cxt);
	}
	in->item_ids = palloc(sizeof(int64) * (ws->n_courses + n_extra + 1));
	item_of_course = palloc(sizeof(int32) * Max(ws->n_courses, 1));
	{
		int			a = 0,
					b = 0;

		n_items = 0;
		while (a < ws->n_courses || b < n_extra)
		{
			int64		id;

			if (b >= n_extra || (a < ws->n_courses && ws->course_ids[a] <= extra_ids[b]))
				id = ws->course_ids[a];
			else
				id = extra_ids[b];
			if (a < ws->n_courses && ws->course_ids[a] == id)
				item_of_course[a++] = n_items;
			if (b < n_extra && extra_ids[b] == id)
				b++;
			in->item_ids[n_items++] = id;
		}
	}
	in->n_items = n_items;

	/* watches up to `through`: a prefix of each learner's time-sorted list */
	in->offsets = palloc(sizeof(int64) * (ws->n_learners + 1));
	in->learner_ids = palloc(sizeof(int64) * Max(ws->n_learners, 1));
	in->items = MemoryContextAllocHuge(cxt, sizeof(int32) * ws->n_watches);
	in->when = MemoryContextAllocHuge(cxt, sizeof(double) * ws->n_watches);
	in->n_learners = 0;
	in->offsets[0] = 0;
	for (int u = 0; u < ws->n_learners; u++)
	{
		int64		start = in->offsets[in->n_learners],
					n = start;

		for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1] && ws->when[w] <= in->through; w++)
		{
			in->items[n] = item_of_course[ws->course[w]];
			in->when[n] = ws->when[w];
			n++;
		}
		if (n > start)
		{
			in->learner_ids[in->n_learners++] = ws->learner_ids[u];
			in->offsets[in->n_learners] = n;
		}
	}
	if (in->n_learners == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches up to %s", timestamptz_to_str(recs_epoch_to_timestamptz(in->through))),
				 errhint("Move through later, or leave it NULL to use all watches.")));
}

static double
timestamp_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	double		t = recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(argno));

	if (!isfinite(t) || TIMESTAMP_NOT_FINITE(PG_GETARG_TIMESTAMPTZ(argno)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", name)));
	return t;
}

/* ---- the SQL functions ---- */

PG_FUNCTION_INFO_V1(train_ncf);
Datum
train_ncf(PG_FUNCTION_ARGS)
{
	int			spi_level;
	Oid			watches;
	char	   *name = recs_text_arg(fcinfo, 1, "ncf");
	Oid			courses = PG_ARGISNULL(2) ? InvalidOid : PG_GETARG_OID(2);
	double		min_seconds = float_arg(fcinfo, 3, 60.0, 0.0, false, "min_watch_seconds");
	double		window_days = float_arg(fcinfo, 4, 365.0, 0.0, true, "window_days");
	bool		labels_given = !PG_ARGISNULL(5);
	bool		through_given = !PG_ARGISNULL(6);
	bool		activate = PG_ARGISNULL(17) ? true : PG_GETARG_BOOL(17);
	NcfConfig	cfg;
	int			topn;
	WatchColumns cols;
	NcfInput	in;
	WatchSet   *ws;
	double		through;
	int			n_items;
	int64	   *item_ids;
	int64	   *offsets;
	int32	   *items;
	double	   *when;
	int64	   *learner_ids;
	int			n_learners;
	NcfData		data;
	NcfModel	model;
	NcfEpochLog *elog_;
	Size		need;
	int64		model_id;
	float	   *course_emb,
			   *learner_emb;
	int32	   *watchers;
	int32	   *input_row;
	double		train_seconds = 0;
	double		cpu_seconds;
	MemoryContext phasecxt,
				oldcxt;
	StringInfoData src,
				params,
				metrics;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("watches relation must not be NULL")));
	watches = PG_GETARG_OID(0);
	memset(&cfg, 0, sizeof(cfg));
	layers_arg(fcinfo, 7, &cfg);
	cfg.dim = int_arg(fcinfo, 8, 64, 1, MAX_WIDTH, "dim");
	cfg.epochs = int_arg(fcinfo, 9, 20, 1, MAX_EPOCHS, "epochs");
	cfg.negatives = int_arg(fcinfo, 10, 4, 1, 1000, "negatives");
	cfg.learning_rate = (float) float_arg(fcinfo, 11, 0.001, 0.0, true, "learning_rate");
	cfg.batch_size = int_arg(fcinfo, 12, 256, 1, 1 << 20, "batch_size");
	cfg.l2 = (float) float_arg(fcinfo, 13, 0.0, 0.0, false, "l2");
	topn = int_arg(fcinfo, 14, 50, 1, 100000, "neighbours");
	cfg.seed = PG_ARGISNULL(15) ? 42 : (uint64) PG_GETARG_INT64(15);
	cfg.threads = int_arg(fcinfo, 16, 1, 1, 64, "threads");
	cfg.window_seconds = window_days * SECONDS_PER_DAY;
	if (cfg.batch_size < 1 + cfg.negatives)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must hold at least one positive with its negatives"),
				 errdetail("batch_size is %d and negatives is %d.", cfg.batch_size, cfg.negatives)));
	cols.learner = recs_text_arg(fcinfo, 18, "learner_id");
	cols.course = recs_text_arg(fcinfo, 19, "course_id");
	cols.time = recs_text_arg(fcinfo, 20, "watched_at");
	cols.seconds = recs_text_arg(fcinfo, 21, NULL);	/* NULL: no such column */
	if (cols.seconds == NULL)
		min_seconds = 0;		/* no watch-time column: no threshold */

	spi_level = recs_spi_connect();
	phasecxt = AllocSetContextCreate(CurrentMemoryContext, "ncf ingest",
									 ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(phasecxt);

	/* ---- 1. ingest ---- */
	ncf_input(watches, &cols, min_seconds, courses, through_given,
			  through_given ? timestamp_arg(fcinfo, 6, "through") : 0, "train_ncf", &in);
	ws = in.ws;
	through = in.through;
	n_items = in.n_items;
	item_ids = in.item_ids;
	n_learners = in.n_learners;
	learner_ids = in.learner_ids;
	offsets = in.offsets;
	items = in.items;
	when = in.when;
	cfg.labels_from = labels_given ? timestamp_arg(fcinfo, 5, "labels_from") : -INFINITY;

	/* ---- 2. inputs ---- */
	memset(&data, 0, sizeof(data));
	data.n_learners = n_learners;
	data.n_items = n_items;
	data.offsets = offsets;
	data.items = items;
	data.when = when;
	{
		ncf_cowatch(n_learners, n_items, offsets, items, topn, &data.cowatch);
		ncf_data_prepare(&data, &cfg);
		if (data.n_pos == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA),
					 errmsg("no watches at or after labels_from to use as labels"),
					 errhint("Move labels_from earlier, or leave it NULL to use every watch.")));
		/* the training's own arrays, and the watches and co-watch matrix it reads */
		need = add_size(ncf_train_memory(&data, &cfg),
						add_size(mul_size(ws->n_watches + ws->n_duplicate, 32),
								 mul_size(data.cowatch.nnz, sizeof(int32) + sizeof(float))));
		recs_check_memory((double) need, "training this NCF model");
		ereport(NOTICE,
				(errmsg("train_ncf: " INT64_FORMAT " positives x %d instances, mean context %.1f courses, %d courses, %.1f neighbours per course",
						data.n_pos, 1 + cfg.negatives, data.mean_ctx, n_items,
						(double) data.cowatch.nnz / Max(n_items, 1)),
				 errdetail(INT64_FORMAT " positives have an empty context, " INT64_FORMAT
						   " a context cut to the latest %d watches; about %zu MB for training.",
						   data.n_empty_ctx, data.n_capped_ctx, NCF_MAX_CONTEXT, Max(need >> 20, 1))));
	}

	/* ---- 3. train ---- */
	elog_ = palloc0(sizeof(NcfEpochLog) * cfg.epochs);
	cpu_seconds = -process_cpu_seconds();
	ncf_train(&data, &cfg, &model, elog_);
	cpu_seconds += process_cpu_seconds();
	for (int e = 0; e < cfg.epochs; e++)
		train_seconds += elog_[e].seconds;

	/* ---- 4. embeddings and storage ---- */
	course_emb = MemoryContextAllocHuge(phasecxt, mul_size(sizeof(float), mul_size(n_items, cfg.dim)));
	ncf_tower_forward(&model.tower[NCF_COURSE], n_items, data.cowatch.rowptr,
					  data.cowatch.col, data.cowatch.val, course_emb);
	{
		/*
		 * each learner's context at the end of the data: [through - window,
		 * through], at most the latest NCF_MAX_CONTEXT watches as in training
		 */
		int64	   *rowptr = palloc(sizeof(int64) * (n_learners + 1));
		int32	   *ctx = MemoryContextAllocHuge(phasecxt, sizeof(int32) * Max(offsets[n_learners], 1));

		rowptr[0] = 0;
		for (int u = 0; u < n_learners; u++)
		{
			int64		n = rowptr[u];

			for (int64 w = Max(offsets[u], offsets[u + 1] - NCF_MAX_CONTEXT); w < offsets[u + 1]; w++)
				if (when[w] >= through - cfg.window_seconds)
					ctx[n++] = items[w];
			rowptr[u + 1] = n;
		}
		learner_emb = MemoryContextAllocHuge(phasecxt, mul_size(sizeof(float), mul_size(n_learners, cfg.dim)));
		ncf_tower_forward(&model.tower[NCF_LEARNER], n_learners, rowptr, ctx, NULL, learner_emb);
	}
	watchers = palloc0(sizeof(int32) * n_items);
	input_row = palloc(sizeof(int32) * n_items);
	for (int64 w = 0; w < offsets[n_learners]; w++)
		watchers[items[w]]++;
	for (int i = 0; i < n_items; i++)
		input_row[i] = i;

	initStringInfo(&src);
	appendStringInfoString(&src, "{\"watches\": ");
	escape_json(&src, recs_relation_name(watches));
	if (OidIsValid(courses))
	{
		appendStringInfoString(&src, ", \"courses\": ");
		escape_json(&src, recs_relation_name(courses));
	}
	appendStringInfoChar(&src, '}');
	initStringInfo(&params);
	appendStringInfo(&params, "{\"layers\": [");
	for (int l = 0; l < cfg.nhidden; l++)
		appendStringInfo(&params, "%s%d", l ? ", " : "", cfg.hidden[l]);
	appendStringInfo(&params,
					 "], \"dim\": %d, \"epochs\": %d, \"negatives\": %d, \"learning_rate\": %g"
					 ", \"batch_size\": %d, \"l2\": %g, \"neighbours\": %d, \"seed\": " UINT64_FORMAT
					 ", \"threads\": %d, \"window_days\": %g, \"min_watch_seconds\": %g"
					 ", \"optimizer\": \"adam, lazy on the sparse layers\", \"labels_from\": ",
					 cfg.dim, cfg.epochs, cfg.negatives, cfg.learning_rate, cfg.batch_size,
					 cfg.l2, topn, cfg.seed, cfg.threads, window_days,
					 min_seconds);
	if (labels_given)
		escape_json(&params, timestamptz_to_str(recs_epoch_to_timestamptz(cfg.labels_from)));
	else
		appendStringInfoString(&params, "null");
	appendStringInfoString(&params, ", \"columns\": {");
	ingest_columns_json(&params, &cols);
	appendStringInfoString(&params, "}}");

	model_id = model_store_create(name, "ncf", src.data, params.data, through);
	store_layers(model_id, &model);
	store_embeddings("ncf_course", "course_id", ", input_row, watchers", ", u.x1, u.x2",
					 model_id, item_ids, input_row, watchers, course_emb, n_items, cfg.dim);
	store_embeddings("ncf_learner", "learner_id", "", "",
					 model_id, learner_ids, NULL, NULL, learner_emb, n_learners, cfg.dim);
	store_cowatch(model_id, &data.cowatch, item_ids);
	store_model_learners(model_id, &data, learner_ids, item_ids);

	initStringInfo(&metrics);
	appendStringInfo(&metrics,
					 "{\"watches_read\": " INT64_FORMAT ", \"watches_used\": " INT64_FORMAT
					 ", \"learners\": %d, \"courses\": %d, \"positives\": " INT64_FORMAT
					 ", \"instances_per_epoch\": " INT64_FORMAT ", \"mean_context\": %.2f"
					 ", \"capped_contexts\": " INT64_FORMAT
					 ", \"cowatch_pairs\": " INT64_FORMAT ", \"train_seconds\": %.3f"
					 ", \"train_cpu_seconds\": %.3f"
					 ", \"examples_per_second\": %.1f, \"loss\": [",
					 ws->n_read, offsets[n_learners], n_learners, n_items, data.n_pos,
					 data.n_pos * (1 + cfg.negatives), data.mean_ctx, data.n_capped_ctx, data.cowatch.nnz,
					 train_seconds, cpu_seconds,
					 (double) data.n_pos * (1 + cfg.negatives) * cfg.epochs / Max(train_seconds, 1e-9));
	for (int e = 0; e < cfg.epochs; e++)
		appendStringInfo(&metrics, "%s%.5f", e ? ", " : "", elog_[e].loss);
	appendStringInfoString(&metrics, "], \"epoch_seconds\": [");
	for (int e = 0; e < cfg.epochs; e++)
		appendStringInfo(&metrics, "%s%.3f", e ? ", " : "", elog_[e].seconds);
	appendStringInfoString(&metrics, "], \"epoch_foreign_cpu_seconds\": [");
	for (int e = 0; e < cfg.epochs; e++)
	{
		if (isnan(elog_[e].foreign_cpu))
			appendStringInfo(&metrics, "%snull", e ? ", " : "");
		else
			appendStringInfo(&metrics, "%s%.2f", e ? ", " : "", elog_[e].foreign_cpu);
	}
	appendStringInfo(&metrics,
					 "], \"skipped\": {\"null_id\": " INT64_FORMAT ", \"bad_time\": " INT64_FORMAT
					 ", \"bad_watch_seconds\": " INT64_FORMAT ", \"short\": " INT64_FORMAT
					 ", \"duplicate\": " INT64_FORMAT "}}",
					 ws->n_null_id, ws->n_bad_time, ws->n_bad_seconds, ws->n_short,
					 ws->n_duplicate);
	model_store_set_metrics(model_id, metrics.data);
	if (activate)
		model_store_activate(model_id, "default");

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(phasecxt);
	recs_spi_finish(spi_level);
	PG_RETURN_INT64(model_id);
}

/*
 * recs._ncf_training_contexts(): the positives and learner-tower contexts the
 * trainer would use, computed by the same code (ncf_data_prepare).  For
 * tests: no context may hold a watch at or after its label's time.
 */
PG_FUNCTION_INFO_V1(ncf_training_contexts);
Datum
ncf_training_contexts(PG_FUNCTION_ARGS)
{
	int			spi_level;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			watches = PG_GETARG_OID(0);
	double		window_days = float_arg(fcinfo, 1, 365.0, 0.0, true, "window_days");
	double		min_seconds = float_arg(fcinfo, 2, 60.0, 0.0, false, "min_watch_seconds");
	WatchColumns cols;
	NcfInput	in;
	NcfConfig	cfg;
	NcfData		data;

	cols.learner = recs_text_arg(fcinfo, 4, "learner_id");
	cols.course = recs_text_arg(fcinfo, 5, "course_id");
	cols.time = recs_text_arg(fcinfo, 6, "watched_at");
	cols.seconds = recs_text_arg(fcinfo, 7, NULL);
	if (cols.seconds == NULL)
		min_seconds = 0;
	memset(&cfg, 0, sizeof(cfg));
	cfg.window_seconds = window_days * SECONDS_PER_DAY;
	cfg.labels_from = PG_ARGISNULL(3) ? -INFINITY : timestamp_arg(fcinfo, 3, "labels_from");

	InitMaterializedSRF(fcinfo, 0);
	spi_level = recs_spi_connect();
	ncf_input(watches, &cols, min_seconds, InvalidOid, false, 0, "_ncf_training_contexts", &in);
	memset(&data, 0, sizeof(data));
	data.n_learners = in.n_learners;
	data.n_items = in.n_items;
	data.offsets = in.offsets;
	data.items = in.items;
	data.when = in.when;
	ncf_data_prepare(&data, &cfg);
	for (int64 p = 0; p < data.n_pos; p++)
	{
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Datum	   *ctx = palloc(sizeof(Datum) * Max(data.ctx_len[p], 1));
		int64		w;

		CHECK_FOR_INTERRUPTS();
		for (int j = 0; j < data.ctx_len[p]; j++)
			ctx[j] = Int64GetDatum(in.item_ids[data.items[data.ctx_start[p] + j]]);
		/* the label's own watch: the first of its learner with this item at/after the context */
		w = data.ctx_start[p] + data.ctx_len[p];
		while (data.items[w] != data.pos_item[p])
			w++;
		values[0] = Int64GetDatum(in.learner_ids[data.pos_learner[p]]);
		values[1] = Int64GetDatum(in.item_ids[data.pos_item[p]]);
		values[2] = TimestampTzGetDatum(recs_epoch_to_timestamptz(data.when[w]));
		values[3] = PointerGetDatum(construct_array(ctx, data.ctx_len[p], INT8OID, 8, true, TYPALIGN_DOUBLE));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		pfree(ctx);
	}
	recs_spi_finish(spi_level);
	return (Datum) 0;
}
