/*
 * serving_keyed.c -- recommend, score, glmix_score, glmix_logit and
 * similar_courses for uuid and text keys (the hot serving calls; the rest
 * are SQL, in src/install/75_keys.sql)
 *
 * Each names its model as its bigint twin does (model => or slot =>,
 * neither the default slot, or NULL for the pair functions), maps its keys
 * to the model's ids -- the digits of an integer for a
 * bigint-keyed model, else recs.id_key's id by one unique-index lookup
 * (serving_rows.c), 0 for a key the dictionary does not hold, which no
 * model knows -- calls the bigint function through fmgr with
 * recs.dictionary_ids on (serving_keys.c), and maps the course ids it
 * returns back to keys.  The text functions serve every model (an
 * unknown-typed parameter, as many drivers send, resolves to them, so they
 * must cost the bigint path next to nothing); the uuid functions serve a
 * model whose learners are keyed by uuid or text and courses by uuid.
 */
#include "postgres.h"

#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "keys.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_rows.h"

static const char *const side_names[2] = {"learner", "course"};

/* ---- keys and ids ---- */

/*
 * The model a keyed call serves, named as its bigint twin names it: model
 * => or slot => (both, an unknown model or slot: the same errors), neither
 * the default slot when default_slot, else false (the call returns NULL).
 * The uuid functions also need uuid courses and non-integer learners.
 */
static bool
keyed_model(FunctionCallInfo fcinfo, int model_arg, int slot_arg, bool default_slot, Oid keytype,
			ServingModel *m)
{
	if (!serving_model_arg_any_ids(fcinfo, model_arg, slot_arg, default_slot, m))
		return false;
	if (keytype == UUIDOID && (m->learner_key == RECS_KEY_INTEGER || m->course_key != RECS_KEY_UUID))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the model keys learners by %s and courses by %s, not by uuid",
						keys_type_name((RecsKeyType) m->learner_key),
						keys_type_name((RecsKeyType) m->course_key)),
				 errdetail("recs model " INT64_FORMAT ".", m->model_id),
				 errhint("Pass the ids as text (the text overloads serve every model), or as the model's key type.")));
	return true;
}

/*
 * A key's id under the model (*known false, id 0, when the dictionary does
 * not hold it).  A bigint-keyed model takes the digits, erroring as
 * text::bigint does; a uuid-keyed one the uuid's canonical text.
 */
static int64
key_to_id(const ServingModel *m, RecsKeySide side, Oid keytype, Datum key, bool *known)
{
	static const char *const cols[1] = {"id"};
	RecsKeyType kt = (RecsKeyType) (side == RECS_SIDE_LEARNER ? m->learner_key : m->course_key);
	char	   *keytext;
	ServingKey	keys[2];
	Datum		value;
	bool		isnull;

	*known = true;
	if (kt == RECS_KEY_INTEGER)
		return DatumGetInt64(DirectFunctionCall1(int8in, CStringGetDatum(TextDatumGetCString(key))));
	if (keytype == UUIDOID)
		keytext = DatumGetCString(DirectFunctionCall1(uuid_out, key));
	else if (kt == RECS_KEY_UUID)
		keytext = DatumGetCString(DirectFunctionCall1(uuid_out,
												   DirectFunctionCall1(uuid_in, CStringGetDatum(TextDatumGetCString(key)))));
	else
		keytext = TextDatumGetCString(key);
	keys[0].column = "side";
	keys[0].type = TEXTOID;
	keys[0].value = CStringGetTextDatum(side_names[side]);
	keys[1].column = "key";
	keys[1].type = TEXTOID;
	keys[1].value = CStringGetTextDatum(keytext);
	if (serving_fetch_row("id_key", 2, keys, 1, cols, &value, &isnull, NULL) && !isnull)
		return DatumGetInt64(value);
	*known = false;
	return 0;
}

/*
 * The course side of the dictionary, sorted by id, as a part of a keyed
 * model in the serving cache: a top k maps k ids back to keys, and a
 * binary search costs less than k index lookups.  Ids are never reused,
 * so the part stays right for as long as the model lives; a course key
 * added later is no course of this model.
 */
typedef struct CourseKeys
{
	int			n;
	int64	   *ids;
	text	  **keys;
} CourseKeys;

static void *
load_course_keys(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	CourseKeys *ck;
	SPITupleTable *tt;
	int			rc;

	rc = SPI_execute("SELECT id, key FROM recs.id_key WHERE side = 'course' ORDER BY id", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.id_key: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	if (SPI_processed > (uint64) (MaxAllocSize / sizeof(text *)))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("recs.id_key holds too many course keys to cache: " UINT64_FORMAT, SPI_processed)));
	MemoryContextSwitchTo(cxt);
	ck = palloc(sizeof(CourseKeys));
	ck->n = (int) SPI_processed;
	ck->ids = palloc(sizeof(int64) * Max(ck->n, 1));
	ck->keys = palloc(sizeof(text *) * Max(ck->n, 1));
	for (int i = 0; i < ck->n; i++)
	{
		bool		isnull;

		ck->ids[i] = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
		ck->keys[i] = DatumGetTextPCopy(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
	}
	return ck;
}

/* a course id's key as keytype (text or uuid); false when it has none */
static bool
id_to_key(const ServingModel *m, int64 id, Oid keytype, Datum *out)
{
	static const char *const cols[1] = {"key"};
	ServingKey	keys[2];
	Datum		value;
	bool		isnull;
	CourseKeys *ck;
	int			lo,
				hi;

	if (m->course_key == RECS_KEY_INTEGER)
	{
		*out = CStringGetTextDatum(psprintf(INT64_FORMAT, id));
		return true;
	}
	ck = serving_cache_get(m->model_id, m->stamp, "course_keys", load_course_keys, NULL);
	lo = 0;
	hi = ck->n - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ck->ids[mid] == id)
		{
			*out = keytype == UUIDOID
				? DirectFunctionCall1(uuid_in, CStringGetDatum(text_to_cstring(ck->keys[mid])))
				: PointerGetDatum(ck->keys[mid]);
			return true;
		}
		if (ck->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	/* not cached (deleted and added again?): the dictionary itself */
	keys[0].column = "side";
	keys[0].type = TEXTOID;
	keys[0].value = CStringGetTextDatum("course");
	keys[1].column = "id";
	keys[1].type = INT8OID;
	keys[1].value = Int64GetDatum(id);
	if (!serving_fetch_row("id_key", 2, keys, 1, cols, &value, &isnull, NULL) || isnull)
		return false;
	*out = keytype == UUIDOID ? DirectFunctionCall1(uuid_in, CStringGetDatum(TextDatumGetCString(value)))
		: value;
	return true;
}

/* a key array's ids as an int8[] (unknown keys and NULLs: NULL elements) */
static Datum
keys_to_ids(const ServingModel *m, Oid keytype, ArrayType *arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *ids;
	int			dims[1];
	int			lbs[1] = {1};

	get_typlenbyvalalign(keytype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, keytype, typlen, typbyval, typalign, &elems, &nulls, &n);
	ids = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		known = false;

		if (!nulls[i])
			ids[i] = Int64GetDatum(key_to_id(m, RECS_SIDE_COURSE, keytype, elems[i], &known));
		nulls[i] = !known;
	}
	dims[0] = n;
	return PointerGetDatum(construct_md_array(ids, nulls, 1, dims, lbs, INT8OID, 8, true, TYPALIGN_DOUBLE));
}

/* ---- calling the bigint functions ---- */

/*
 * The bigint function's FmgrInfo, looked up once per call site.  Its C
 * entry point is called directly, not through fmgr's SECURITY DEFINER
 * wrapper: the keyed function already runs as the owner with the same
 * fixed search_path, and the wrapper's user and GUC switch would cost more
 * than the mapping.
 */
static FmgrInfo *
bigint_function(FunctionCallInfo fcinfo, const char *signature)
{
	FmgrInfo   *f = (FmgrInfo *) fcinfo->flinfo->fn_extra;

	if (f == NULL)
	{
		Oid			fn = DatumGetObjectId(DirectFunctionCall1(to_regprocedure,
															  CStringGetTextDatum(signature)));
		HeapTuple	tup;
		Datum		src;
		Datum		bin;
		bool		nosrc;
		bool		nobin;

		if (!OidIsValid(fn))
			elog(ERROR, "function %s does not exist", signature);
		f = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, sizeof(FmgrInfo));
		fmgr_info_cxt(fn, f, fcinfo->flinfo->fn_mcxt);
		tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
		if (!HeapTupleIsValid(tup))
			elog(ERROR, "cache lookup failed for function %u", fn);
		src = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_prosrc, &nosrc);
		bin = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_probin, &nobin);
		if (((Form_pg_proc) GETSTRUCT(tup))->prolang == ClanguageId && !nosrc && !nobin)
			f->fn_addr = load_external_function(TextDatumGetCString(bin), TextDatumGetCString(src),
												true, NULL);
		ReleaseSysCache(tup);
		fcinfo->flinfo->fn_extra = f;
	}
	return f;
}

/* call f (a bigint serving function) on args with dictionary ids allowed */
static Datum
call_mapped(FmgrInfo *f, int nargs, const NullableDatum *args, ReturnSetInfo *rs, bool *isnull)
{
	LOCAL_FCINFO(call, FUNC_MAX_ARGS);
	Datum		result;
	bool		save = serving_keys_allow(true);

	InitFunctionCallInfoData(*call, f, nargs, InvalidOid, NULL, (Node *) rs);
	for (int i = 0; i < nargs; i++)
		call->args[i] = args[i];
	PG_TRY();
	{
		result = FunctionCallInvoke(call);
	}
	PG_FINALLY();
	{
		serving_keys_allow(save);
	}
	PG_END_TRY();
	*isnull = call->isnull;
	return result;
}

/* a set-returning bigint function's rows, in a tuplestore of its own */
static void
call_mapped_srf(FunctionCallInfo fcinfo, FmgrInfo *f, int nargs, const NullableDatum *args,
				ReturnSetInfo *inner)
{
	ReturnSetInfo *outer = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		isnull;

	if (outer == NULL || !IsA(outer, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	memset(inner, 0, sizeof(*inner));
	inner->type = T_ReturnSetInfo;
	inner->econtext = outer->econtext;
	inner->allowedModes = SFRM_Materialize;
	call_mapped(f, nargs, args, inner, &isnull);
}

/* rows (rank, course id, score) into the caller's rows (rank, course key, score) */
static void
put_keyed_rows(FunctionCallInfo fcinfo, const ServingModel *m, Oid keytype, ReturnSetInfo *inner)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleTableSlot *slot;

	InitMaterializedSRF(fcinfo, 0);
	if (inner->setResult == NULL)
		return;
	slot = MakeSingleTupleTableSlot(inner->setDesc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(inner->setResult, true, false, slot))
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		slot_getallattrs(slot);
		values[0] = slot->tts_values[0];
		nulls[1] = slot->tts_isnull[1] ||
			!id_to_key(m, DatumGetInt64(slot->tts_values[1]), keytype, &values[1]);
		values[2] = slot->tts_values[2];
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	ExecDropSingleTupleTableSlot(slot);
	tuplestore_end(inner->setResult);
}

/* ---- the SQL functions ---- */

/*
 * recs.recommend(learner_id text|uuid, k, exclude_watched, exclude,
 * candidates, model, recent, slot): the bigint function gets the model
 * resolved here by id, and no slot
 */
static Datum
recommend_by_key(FunctionCallInfo fcinfo, Oid keytype)
{
	FmgrInfo   *f = bigint_function(fcinfo, "recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)");
	ServingModel m;
	NullableDatum args[8];
	ReturnSetInfo inner;
	bool		known;

	keyed_model(fcinfo, 5, 7, true, keytype, &m);
	for (int i = 0; i < 7; i++)
	{
		args[i].isnull = PG_ARGISNULL(i);
		args[i].value = args[i].isnull ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	args[5].isnull = false;
	args[5].value = Int64GetDatum(m.model_id);
	args[7].isnull = true;
	args[7].value = (Datum) 0;
	if (!args[0].isnull)
		args[0].value = Int64GetDatum(key_to_id(&m, RECS_SIDE_LEARNER, keytype, args[0].value, &known));
	for (int i = 3; i < 7; i++)
		if (i != 5 && !args[i].isnull)
			args[i].value = keys_to_ids(&m, keytype, PG_GETARG_ARRAYTYPE_P(i));
	call_mapped_srf(fcinfo, f, 8, args, &inner);
	put_keyed_rows(fcinfo, &m, keytype, &inner);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(recommend_text);
Datum
recommend_text(PG_FUNCTION_ARGS)
{
	return recommend_by_key(fcinfo, TEXTOID);
}

PG_FUNCTION_INFO_V1(recommend_uuid);
Datum
recommend_uuid(PG_FUNCTION_ARGS)
{
	return recommend_by_key(fcinfo, UUIDOID);
}

/* recs.similar_courses(course_id text|uuid, k, model, slot) */
static Datum
similar_by_key(FunctionCallInfo fcinfo, Oid keytype)
{
	FmgrInfo   *f = bigint_function(fcinfo, "recs.similar_courses(bigint,integer,bigint,text)");
	ServingModel m;
	NullableDatum args[4];
	ReturnSetInfo inner;
	bool		known;

	keyed_model(fcinfo, 2, 3, true, keytype, &m);
	for (int i = 0; i < 2; i++)
	{
		args[i].isnull = PG_ARGISNULL(i);
		args[i].value = args[i].isnull ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	args[2].isnull = false;
	args[2].value = Int64GetDatum(m.model_id);
	args[3].isnull = true;
	args[3].value = (Datum) 0;
	if (!args[0].isnull)
	{
		args[0].value = Int64GetDatum(key_to_id(&m, RECS_SIDE_COURSE, keytype, args[0].value, &known));
		if (!known)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("course \"%s\" is not in recs model " INT64_FORMAT,
							keytype == UUIDOID ? DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)))
							: TextDatumGetCString(PG_GETARG_DATUM(0)), m.model_id)));
	}
	call_mapped_srf(fcinfo, f, 4, args, &inner);
	put_keyed_rows(fcinfo, &m, keytype, &inner);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(similar_courses_text);
Datum
similar_courses_text(PG_FUNCTION_ARGS)
{
	return similar_by_key(fcinfo, TEXTOID);
}

PG_FUNCTION_INFO_V1(similar_courses_uuid);
Datum
similar_courses_uuid(PG_FUNCTION_ARGS)
{
	return similar_by_key(fcinfo, UUIDOID);
}

/*
 * recs.score / glmix_score / glmix_logit(model, learner_id text|uuid,
 * course_id text|uuid, slot [, context]): NULL for a NULL key, or when
 * neither model nor slot is given, as for the bigint functions (nargs:
 * theirs; the slot becomes the model id, context passes through)
 */
static Datum
pair_by_key(FunctionCallInfo fcinfo, Oid keytype, const char *signature, int nargs,
			bool unknown_course_is_error)
{
	FmgrInfo   *f = bigint_function(fcinfo, signature);
	ServingModel m;
	NullableDatum args[5];
	bool		known;
	bool		isnull;
	Datum		result;

	Assert(nargs >= 4 && nargs <= 5);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || !keyed_model(fcinfo, 0, 3, false, keytype, &m))
		PG_RETURN_NULL();
	args[0].value = Int64GetDatum(m.model_id);
	args[1].value = Int64GetDatum(key_to_id(&m, RECS_SIDE_LEARNER, keytype, PG_GETARG_DATUM(1), &known));
	args[2].value = Int64GetDatum(key_to_id(&m, RECS_SIDE_COURSE, keytype, PG_GETARG_DATUM(2), &known));
	if (!known && unknown_course_is_error)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("course \"%s\" is not scored by recs model " INT64_FORMAT,
						keytype == UUIDOID ? DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(2)))
						: TextDatumGetCString(PG_GETARG_DATUM(2)), m.model_id)));
	args[0].isnull = args[1].isnull = args[2].isnull = false;
	/* slot is resolved into the model id; later arguments (context) pass through */
	for (int i = 3; i < nargs; i++)
	{
		args[i].isnull = i == 3 || i >= PG_NARGS() || PG_ARGISNULL(i);
		args[i].value = args[i].isnull ? (Datum) 0 : PG_GETARG_DATUM(i);
	}
	result = call_mapped(f, nargs, args, NULL, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	return result;
}

PG_FUNCTION_INFO_V1(score_text);
Datum
score_text(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, TEXTOID, "recs.score(bigint,bigint,bigint,text)", 4, true);
}

PG_FUNCTION_INFO_V1(score_uuid);
Datum
score_uuid(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, UUIDOID, "recs.score(bigint,bigint,bigint,text)", 4, true);
}

PG_FUNCTION_INFO_V1(glmix_score_text);
Datum
glmix_score_text(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, TEXTOID, "recs.glmix_score(bigint,bigint,bigint,text,jsonb)", 5, false);
}

PG_FUNCTION_INFO_V1(glmix_score_uuid);
Datum
glmix_score_uuid(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, UUIDOID, "recs.glmix_score(bigint,bigint,bigint,text,jsonb)", 5, false);
}

PG_FUNCTION_INFO_V1(glmix_logit_text);
Datum
glmix_logit_text(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, TEXTOID, "recs.glmix_logit(bigint,bigint,bigint,text,jsonb)", 5, false);
}

PG_FUNCTION_INFO_V1(glmix_logit_uuid);
Datum
glmix_logit_uuid(PG_FUNCTION_ARGS)
{
	return pair_by_key(fcinfo, UUIDOID, "recs.glmix_logit(bigint,bigint,bigint,text,jsonb)", 5, false);
}
