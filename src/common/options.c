/*
 * options.c -- reading and checking the arguments of the SQL entry points
 *
 * One set of helpers for every trainer (see options.h): defaults for NULL
 * arguments, range checks with one wording per kind of range, and the
 * argument's own name in every message, so that a user can tell which of
 * twenty named arguments was wrong.  Arguments added in later versions may
 * be absent (an old function definition passes fewer): they read as NULL.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "options.h"
#include "spi_util.h"

/* NULL, or not passed at all by an older definition of the function */
static inline bool
arg_missing(FunctionCallInfo fcinfo, int argno)
{
	return PG_NARGS() <= argno || PG_ARGISNULL(argno);
}

void
recs_require_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (arg_missing(fcinfo, argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", what)));
}

char *
recs_text_arg(FunctionCallInfo fcinfo, int argno, const char *dflt)
{
	if (arg_missing(fcinfo, argno))
		return dflt ? pstrdup(dflt) : NULL;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

char *
recs_name_arg(FunctionCallInfo fcinfo, int argno, const char *dflt)
{
	char	   *name = recs_text_arg(fcinfo, argno, dflt);

	if (name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must not be empty")));
	return name;
}

int
recs_choice_arg(FunctionCallInfo fcinfo, int argno, const char *dflt,
				const char *const *choices, int n, const char *name, char **value)
{
	char	   *v = recs_text_arg(fcinfo, argno, dflt);
	StringInfoData list;

	*value = v;
	for (int i = 0; i < n; i++)
		if (strcmp(v, choices[i]) == 0)
			return i;
	initStringInfo(&list);
	for (int i = 0; i < n; i++)
		appendStringInfo(&list, "%s'%s'", i == 0 ? "" : (i == n - 1 ? " or " : ", "), choices[i]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s must be %s, not '%s'", name, list.data, v)));
	return -1;					/* not reached */
}

char **
recs_text_array_arg(FunctionCallInfo fcinfo, int argno, int *n)
{
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	char	  **out;

	*n = 0;
	if (arg_missing(fcinfo, argno))
		return NULL;
	a = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("text array arguments must be one-dimensional")));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, n);
	out = palloc(sizeof(char *) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("text array arguments must not contain NULL")));
		out[i] = TextDatumGetCString(elems[i]);
	}
	return out;
}

int32
recs_int_arg(FunctionCallInfo fcinfo, int argno, int32 dflt, int32 lo, int32 hi,
			 const char *name)
{
	int32		v = arg_missing(fcinfo, argno) ? dflt : PG_GETARG_INT32(argno);

	if (v < lo || v > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %d and %d, not %d", name, lo, hi, v)));
	return v;
}

int64
recs_int64_arg(FunctionCallInfo fcinfo, int argno, int64 dflt)
{
	return arg_missing(fcinfo, argno) ? dflt : PG_GETARG_INT64(argno);
}

bool
recs_bool_arg(FunctionCallInfo fcinfo, int argno, bool dflt)
{
	return arg_missing(fcinfo, argno) ? dflt : PG_GETARG_BOOL(argno);
}

double
recs_float_arg(FunctionCallInfo fcinfo, int argno, double dflt, double lo, bool lo_open,
			   const char *name)
{
	double		v = arg_missing(fcinfo, argno) ? dflt : PG_GETARG_FLOAT8(argno);

	if (!isfinite(v) || v < lo || (lo_open && v == lo))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number %s %g, not %g", name,
						lo_open ? "above" : "of at least", lo, v)));
	return v;
}

double
recs_positive_arg(FunctionCallInfo fcinfo, int argno, double dflt, bool zero_ok,
				  const char *name)
{
	double		v = arg_missing(fcinfo, argno) ? dflt : PG_GETARG_FLOAT8(argno);

	if (!isfinite(v) || v < 0 || (!zero_ok && v == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg(zero_ok ? "%s must be zero or positive" : "%s must be a positive number",
						name)));
	return v;
}

double
recs_timestamp_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	TimestampTz ts = PG_GETARG_TIMESTAMPTZ(argno);
	double		t = recs_timestamptz_to_epoch(ts);

	if (!isfinite(t) || TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite timestamp", name)));
	return t;
}
