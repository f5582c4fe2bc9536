/*
 * json_out.h -- building the JSON of a model's source, params and metrics
 *
 * A small writer over a StringInfo: members are added by key into the
 * innermost open object (key NULL for the elements of an array); strings
 * are escaped, numbers that are not finite are written as null (jsonb
 * refuses NaN), and json_out_finish closes whatever is still open.
 *
 *     JsonOut j;
 *     json_out_begin(&j);
 *     json_out_int(&j, "passes", 3);
 *     json_out_array(&j, "l2");
 *     for (...) json_out_number(&j, NULL, l2[i], "%g");
 *     json_out_end(&j);
 *     model_store_set_metrics(id, json_out_finish(&j));
 */
#ifndef RECS_JSON_OUT_H
#define RECS_JSON_OUT_H

#include "postgres.h"

#include "lib/stringinfo.h"

#define JSON_OUT_MAX_DEPTH 8

typedef struct JsonOut
{
	StringInfoData buf;
	int			depth;			/* open objects and arrays */
	bool		in_array[JSON_OUT_MAX_DEPTH];
	bool		first[JSON_OUT_MAX_DEPTH];	/* nothing written at that level yet */
} JsonOut;

/* start the outermost object */
extern void json_out_begin(JsonOut *j);
/* open an object or an array as member key (NULL: an array element) */
extern void json_out_object(JsonOut *j, const char *key);
extern void json_out_array(JsonOut *j, const char *key);
/* close the innermost open object or array */
extern void json_out_end(JsonOut *j);
/* close everything still open; the JSON text */
extern char *json_out_finish(JsonOut *j);

/* members (or array elements, key NULL) */
extern void json_out_string(JsonOut *j, const char *key, const char *value);	/* NULL: null */
extern void json_out_int(JsonOut *j, const char *key, int64 value);
/* a number printed with fmt ("%g", "%.6f", ...); NaN and infinities: null */
extern void json_out_number(JsonOut *j, const char *key, double value, const char *fmt);
extern void json_out_bool(JsonOut *j, const char *key, bool value);
extern void json_out_null(JsonOut *j, const char *key);
/* an array of numbers, each printed with fmt */
extern void json_out_numbers(JsonOut *j, const char *key, const double *v, int n, const char *fmt);
/* a JSON value written by someone else (already valid JSON) */
extern void json_out_raw(JsonOut *j, const char *key, const char *json);

#endif							/* RECS_JSON_OUT_H */
