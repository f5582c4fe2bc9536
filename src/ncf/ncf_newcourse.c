/*
 * ncf_newcourse.c -- courses from their features alone: embed_course() and
 * add_courses()
 *
 * A model trained with course_features has a course tower whose sparse
 * layer has, after one row per trained course (the co-watch inputs), one
 * row per known feature value (recs.ncf_course_feature).  A course
 * published after the training has no co-watch row, so its input is its
 * content entries alone -- exactly the input training gave the examples
 * whose co-watch part was dropped (content_dropout), and the input courses
 * of the courses relation nobody had watched got at training.
 *
 * embed_course(model, features jsonb) runs the tower on a JSON object of
 * feature values (a serving function: it reads only the model).
 * add_courses(model, courses) embeds every course of a relation that the
 * model does not hold yet and adds it to recs.ncf_course with no input_row
 * (it is ranked, but is no input of the learner tower, which never saw
 * it) -- for a model with history terms with its predecessor, the trained
 * codes of its affinity values and statistics 0 (ncf_history.c) -- then
 * gives the model (and every blend over it) a new cache_token so
 * that every backend's serving cache reloads the course embeddings at its
 * next call.  It reads
 * the caller's relation and writes the model's tables, so it runs as the
 * caller (a training role, see grant_access).
 *
 * The course tower is loaded through the serving cache ("ncf:course_tower")
 * with the vocabulary and the content scale stored in recs.model.params.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "ncf.h"
#include "keys.h"
#include "options.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "serving_placement.h"
#include "sorted_ids.h"
#include "spi_util.h"

typedef struct NcfCourseTower
{
	NcfTower	t;
	NcfContent	ct;				/* ncols 0: trained without course_features */
	int64		model_id;
} NcfCourseTower;

/*
 * Loader of "ncf:course_tower": the course tower's layers (n_in chained,
 * arrays of n_in * n_out and n_out finite floats), the feature columns and
 * content scale of recs.model.params, the vocabulary (input rows distinct,
 * after the course rows, inside layer 0).
 */
static void *
load_course_tower(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	NcfCourseTower *ctw = MemoryContextAllocZero(cxt, sizeof(NcfCourseTower));
	ModelRow	row = MODEL_ROW(model_id, "recs.ncf_layer");
	int			rc;
	int			nl = 0;

	ctw->model_id = model_id;
	rc = SPI_execute_with_args(psprintf("SELECT layer, n_in, n_out, weight, bias FROM %s"
										" WHERE model_id = $1 AND tower = 'course' ORDER BY layer",
										serving_table_sql("ncf_layer")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_layer: %s", SPI_result_code_string(rc));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			layer = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		int			n_in = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		int			n_out = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));

		ncf_check_layer_row(&row, "course", nl, layer, n_in, n_out, ctw->t.width);
		ctw->t.w[nl] = ncf_model_floats(&row, "weight", SPI_getbinval(tup, desc, 4, &isnull),
										(int64) n_in * n_out, "n_in * n_out", NULL);
		ctw->t.b[nl] = ncf_model_floats(&row, "bias", SPI_getbinval(tup, desc, 5, &isnull),
										n_out, "n_out", NULL);
		nl++;
	}
	row = MODEL_ROW(model_id, "recs.ncf_layer");
	if (nl < 2)
		model_row_corrupt(&row, "the course tower has %d layers, fewer than 2", nl);
	ctw->t.nlayers = nl;
	SPI_freetuptable(SPI_tuptable);

	/* the feature columns and the scale */
	rc = SPI_execute_with_args(psprintf("SELECT f.name, (m.params->>'content_scale')::float8"
										" FROM %s m,"
										" jsonb_array_elements_text(m.params->'course_features') WITH ORDINALITY AS f(name, o)"
										" WHERE m.model_id = $1 AND jsonb_typeof(m.params->'course_features') = 'array'"
										" ORDER BY f.o", serving_table_sql("model")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	row = MODEL_ROW(model_id, "recs.model");
	ctw->ct.ncols = (int) SPI_processed;
	ctw->ct.cols = palloc(sizeof(char *) * Max(ctw->ct.ncols, 1));
	for (int f = 0; f < ctw->ct.ncols; f++)
	{
		bool		isnull;
		Datum		scale = SPI_getbinval(SPI_tuptable->vals[f], SPI_tuptable->tupdesc, 2, &isnull);

		ctw->ct.cols[f] = SPI_getvalue(SPI_tuptable->vals[f], SPI_tuptable->tupdesc, 1);
		if (isnull || !isfinite(DatumGetFloat8(scale)) || DatumGetFloat8(scale) <= 0)
			model_row_corrupt(&row, "params has course_features but no positive content_scale");
		ctw->ct.scale = DatumGetFloat8(scale);
	}
	SPI_freetuptable(SPI_tuptable);
	if (ctw->ct.ncols == 0)
		return ctw;

	/* the vocabulary */
	rc = SPI_execute_with_args(psprintf("SELECT feature, value, input_row FROM %s"
										" WHERE model_id = $1 ORDER BY input_row",
										serving_table_sql("ncf_course_feature")),
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_course_feature: %s", SPI_result_code_string(rc));
	row = MODEL_ROW(model_id, "recs.ncf_course_feature");
	ctw->ct.nvocab = (int) SPI_processed;
	ctw->ct.vocab_col = palloc(sizeof(int32) * Max(ctw->ct.nvocab, 1));
	ctw->ct.vocab_value = palloc(sizeof(char *) * Max(ctw->ct.nvocab, 1));
	ctw->ct.vocab_row = palloc(sizeof(int32) * Max(ctw->ct.nvocab, 1));
	for (int v = 0; v < ctw->ct.nvocab; v++)
	{
		HeapTuple	tup = SPI_tuptable->vals[v];
		char	   *feature = SPI_getvalue(tup, SPI_tuptable->tupdesc, 1);
		bool		isnull;
		int			f;

		ctw->ct.vocab_value[v] = SPI_getvalue(tup, SPI_tuptable->tupdesc, 2);
		ctw->ct.vocab_row[v] = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, 3, &isnull));
		model_row_key_text(&row, 0, "feature", feature);
		model_row_key_text(&row, 1, "value", ctw->ct.vocab_value[v]);
		for (f = 0; f < ctw->ct.ncols; f++)
			if (strcmp(ctw->ct.cols[f], feature) == 0)
				break;
		if (f == ctw->ct.ncols)
			model_row_corrupt(&row, "feature is not one of the model's course_features");
		ctw->ct.vocab_col[v] = f;
		/* the content rows are the last rows of layer 0, one per value */
		check_model_equal(&row, "input_row", ctw->ct.vocab_row[v],
						  (int64) ctw->t.width[0] - ctw->ct.nvocab + v,
						  "the row after the courses' and the values' before it");
	}
	SPI_freetuptable(SPI_tuptable);
	ncf_content_sort_vocabulary(&ctw->ct);
	return ctw;
}

static NcfCourseTower *
get_course_tower(const ServingModel *m)
{
	return serving_cache_get(m->model_id, m->stamp, "ncf:course_tower", load_course_tower, NULL);
}

static void
require_content(const NcfCourseTower *ctw)
{
	if (ctw->ct.ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("NCF model " INT64_FORMAT " has no course features", ctw->model_id),
				 errdetail("It was trained without course_features, so its course tower only knows co-watch inputs."),
				 errhint("Train it with course_features => '{topic,language,...}'.")));
}

/* the tower on nrows content rows (CSR over input rows) into out (nrows x dim) */
static void
embed_rows(const NcfCourseTower *ctw, int nrows, const int64 *rowptr, const int32 *col,
		   const float *val, float *out)
{
	ncf_tower_forward(&ctw->t, nrows, rowptr, col, val, out);
}

static ArrayType *
real_array(const float *e, int dim)
{
	Datum	   *d = palloc(sizeof(Datum) * dim);

	for (int i = 0; i < dim; i++)
		d[i] = Float4GetDatum(e[i]);
	return construct_array(d, dim, FLOAT4OID, 4, true, TYPALIGN_INT);
}

/* a scalar JSON value's text form, as a column value's ::text; NULL for null */
static char *
json_scalar_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		case jbvNull:
			return NULL;
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;				/* not reached */
}

PG_FUNCTION_INFO_V1(ncf_embed_course);
Datum
ncf_embed_course(PG_FUNCTION_ARGS)
{
	ServingModel given;
	ServingModel m;
	NcfCourseTower *ctw;
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			cap = 16,
				n = 0,
				depth = 0,
				col = -1;
	int32	   *cols;
	char	  **vals;
	int32	   *row;
	float	   *val;
	int64		rowptr[2];
	float	   *e;
	int			dim;

	/*
	 * NULL features, or neither model nor slot: NULL, as embed_learner.  No
	 * id goes in or out, so a model keyed by uuid or text serves too.
	 */
	if (PG_ARGISNULL(1) || !serving_model_arg_any_ids(fcinfo, 0, 2, false, &given))
		PG_RETURN_NULL();
	jb = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("features must be a JSON object"),
				 errhint("Pass {\"column\": value, \"array_column\": [value, ...]}.")));
	ncf_embedding_model(&given, &m);
	ctw = get_course_tower(&m);
	require_content(ctw);

	cols = palloc(sizeof(int32) * cap);
	vals = palloc(sizeof(char *) * cap);
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
			case WJB_BEGIN_ARRAY:
				/* the top object, and one array level as a multi-valued feature */
				if (++depth > (tok == WJB_BEGIN_OBJECT ? 1 : 2))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("feature \"%s\" must be a scalar or an array of scalars",
									col >= 0 ? ctw->ct.cols[col] : "?")));
				break;
			case WJB_END_OBJECT:
			case WJB_END_ARRAY:
				depth--;
				break;
			case WJB_KEY:
				{
					char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

					for (col = 0; col < ctw->ct.ncols; col++)
						if (strcmp(ctw->ct.cols[col], key) == 0)
							break;
					if (col == ctw->ct.ncols)
					{
						StringInfoData names;

						initStringInfo(&names);
						for (int f = 0; f < ctw->ct.ncols; f++)
							appendStringInfo(&names, "%s%s", f ? ", " : "", ctw->ct.cols[f]);
						ereport(ERROR,
								(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
								 errmsg("NCF model " INT64_FORMAT " has no course feature \"%s\"",
										m.model_id, key),
								 errdetail("Its course features are: %s.", names.data)));
					}
					break;
				}
			case WJB_VALUE:
			case WJB_ELEM:
				{
					char	   *text = json_scalar_text(&v);

					if (text == NULL)
						break;
					if (n == cap)
					{
						cap *= 2;
						cols = repalloc(cols, sizeof(int32) * cap);
						vals = repalloc(vals, sizeof(char *) * cap);
					}
					cols[n] = col;
					vals[n] = text;
					n++;
					break;
				}
			default:
				break;
		}
	}
	row = palloc(sizeof(int32) * Max(n, 1));
	val = palloc(sizeof(float) * Max(n, 1));
	rowptr[0] = 0;
	rowptr[1] = ncf_content_row(&ctw->ct, n, cols, vals, row, val);
	dim = ctw->t.width[ctw->t.nlayers];
	e = palloc(sizeof(float) * dim);
	embed_rows(ctw, 1, rowptr, row, val, e);
	PG_RETURN_ARRAYTYPE_P(real_array(e, dim));
}

/*
 * The trend term of a course nobody watched (trend_days): b[0] of the
 * model's params times its trend_weight (as ncf_served_trend_terms; models before
 * it have none: 1), as a float literal; '0' for a model without a trend.
 */
static char *
new_course_trend(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	char	   *v = NULL;
	int			rc;

	rc = SPI_execute_with_args("SELECT ((params->'trend_b'->>0)::real::float8"
							   " * coalesce((params->>'trend_weight')::float8, 1))::real::text"
							   " FROM recs.model WHERE model_id = $1",
							   1, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return quote_literal_cstr(v ? v : "0");
}

/* the sorted course ids of the model's recs.ncf_course */
static int64 *
model_course_ids(int64 model_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;

	rc = SPI_execute_with_args("SELECT course_id FROM recs.ncf_course WHERE model_id = $1 ORDER BY 1",
							   1, types, values, NULL, true, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.ncf_course: %s", SPI_result_code_string(rc));
	return recs_spi_int64_column(n);
}

/*
 * The model's catalog row, locked (concurrent add_courses of one model
 * wait for each other); its course id column.  Errors unless an NCF model.
 */
static char *
lock_ncf_model(int64 model_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	MemoryContext cxt = CurrentMemoryContext;
	ServingModel sm;
	char	   *course_col;
	int			rc;

	rc = SPI_execute_with_args("SELECT params->'columns'->>'course' FROM recs.model"
							   " WHERE model_id = $1 FOR UPDATE",
							   1, types, values, NULL, false, 0);
	MemoryContextSwitchTo(cxt);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.model: %s", SPI_result_code_string(rc));
	course_col = SPI_processed > 0 ?
		SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1) : NULL;
	/* errors for a model that does not exist; any key type */
	serving_model_any_ids(model_id, &sm);
	MemoryContextSwitchTo(cxt);
	if (sm.routine != &ncf_kind)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("recs model " INT64_FORMAT " is a %s model, not an NCF model", model_id, sm.kind),
				 errhint("Pass the NCF model (a blend's NCF component: recs.blend_component).")));
	return course_col ? course_col : pstrdup("course_id");
}

PG_FUNCTION_INFO_V1(ncf_add_courses);
Datum
ncf_add_courses(PG_FUNCTION_ARGS)
{
	int64		model_id;
	Oid			courses;
	char	   *idcol;
	const char *idarg;
	int			spi_level;
	NcfCourseTower *ctw;
	NcfFeatureValues fv;
	int64	   *ids,
			   *known,
			   *new_ids;
	int			nids,
				nknown,
				nnew = 0;
	int64	   *rowptr;
	int32	   *row;
	float	   *val;
	float	   *emb;
	int64		f = 0;
	int			dim;
	MemoryContext cxt,
				oldcxt;

	recs_require_arg(fcinfo, 0, "model");
	recs_require_arg(fcinfo, 1, "courses relation");
	model_id = PG_GETARG_INT64(0);
	courses = PG_GETARG_OID(1);
	spi_level = recs_spi_connect();
	keys_begin();
	cxt = AllocSetContextCreate(CurrentMemoryContext, "ncf add_courses", ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);

	idcol = lock_ncf_model(model_id);
	idarg = "course_column";
	if (!PG_ARGISNULL(2))
	{
		idcol = text_to_cstring(PG_GETARG_TEXT_PP(2));
		idarg = "courses_id_column";
	}
	ctw = load_course_tower(model_id, NULL, NULL, cxt);
	require_content(ctw);
	dim = ctw->t.width[ctw->t.nlayers];

	/* the relation's courses the model does not hold, with their values */
	ids = ncf_read_course_ids(courses, idcol, idarg, &nids);
	MemoryContextSwitchTo(cxt);
	ncf_content_read(courses, idcol, idarg, &ctw->ct, &fv);
	MemoryContextSwitchTo(cxt);
	known = model_course_ids(model_id, &nknown);
	new_ids = palloc(sizeof(int64) * Max(nids, 1));
	rowptr = palloc(sizeof(int64) * (nids + 1));
	row = MemoryContextAllocHuge(cxt, sizeof(int32) * Max(fv.n, 1));
	val = MemoryContextAllocHuge(cxt, sizeof(float) * Max(fv.n, 1));
	rowptr[0] = 0;
	for (int i = 0; i < nids; i++)
	{
		int64		f0;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		while (f < fv.n && fv.id[f] < ids[i])
			f++;
		f0 = f;
		while (f < fv.n && fv.id[f] == ids[i])
			f++;
		if (recs_find_int64(known, nknown, ids[i]) >= 0)
			continue;
		new_ids[nnew] = ids[i];
		rowptr[nnew + 1] = rowptr[nnew] +
			ncf_content_row(&ctw->ct, (int) (f - f0), fv.col + f0, fv.value + f0,
							row + rowptr[nnew], val + rowptr[nnew]);
		nnew++;
	}
	if (nnew > 0)
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(model_id)};
		int			rc;
		NcfRowCodes codes = {0};
		const char *hist_cols = "";
		const char *hist_exprs = "";

		emb = MemoryContextAllocHuge(cxt, mul_size(sizeof(float), mul_size(nnew, dim)));
		embed_rows(ctw, nnew, rowptr, row, val, emb);
		/* a model with history terms: the new courses' codes, predecessors and statistics */
		if (ncf_history_new_courses(model_id, courses, idcol, idarg, known, nknown, new_ids, nnew,
									&codes))
		{
			hist_cols = ", affinity, predecessor, statistics";
			hist_exprs = psprintf(", %s, u.x4, $11[(u.o - 1) * %d + 1 : u.o * %d]",
								  codes.ncodes > 0 ?
								  psprintf("$9[(u.o - 1) * %d + 1 : u.o * %d]", codes.ncodes, codes.ncodes) :
								  "NULL::integer[]",
								  NCF_HISTORY_STATS, NCF_HISTORY_STATS);
		}
		MemoryContextSwitchTo(cxt);
		ncf_store_embeddings("ncf_course", "course_id", psprintf(", input_row, watchers, trend%s", hist_cols),
							 psprintf(", NULL::integer, 0, %s::real%s", new_course_trend(model_id), hist_exprs),
							 model_id, new_ids, NULL, NULL, NULL, NULL, NULL, emb, nnew, dim,
							 hist_cols[0] ? &codes : NULL);
		/*
		 * Every backend reloads the model's courses at its next call, and the
		 * blends that have it as a component (their cached part holds the
		 * component's cache_token).
		 */
		rc = SPI_execute_with_args("UPDATE recs.model SET cache_token = (pg_catalog.random() * 9.2e18)::bigint"
								   " WHERE model_id = $1 OR model_id IN"
								   " (SELECT b.model_id FROM recs.blend_component b WHERE b.component_id = $1)",
								   1, types, values, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "could not update recs.model: %s", SPI_result_code_string(rc));
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	recs_spi_finish(spi_level);
	PG_RETURN_INT32(nnew);
}
