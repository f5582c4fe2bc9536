/*
 * json_out.c -- the one JSON writer of recs's params and metrics
 *
 * Trainers describe what they did (source relations, hyper-parameters,
 * counts of rows read and skipped, timings, loss curves) as JSON stored in
 * recs.model.  They all write it through here, so every number that is
 * not finite comes out as null rather than as text jsonb would refuse,
 * every string is escaped, and separators are placed in one place only.
 */
#include "postgres.h"

#include <math.h>

#include "utils/json.h"

#include "json_out.h"

/* the separator and key of a new member or element at the current level */
static void
json_out_key(JsonOut *j, const char *key)
{
	int			d = j->depth - 1;

	Assert(d >= 0);
	if (!j->first[d])
		appendStringInfoString(&j->buf, ", ");
	j->first[d] = false;
	if (!j->in_array[d])
	{
		Assert(key != NULL);
		escape_json(&j->buf, key);
		appendStringInfoString(&j->buf, ": ");
	}
}

static void
json_out_open(JsonOut *j, const char *key, bool array)
{
	if (j->depth >= JSON_OUT_MAX_DEPTH)
		elog(ERROR, "JSON output nested too deeply");
	if (j->depth > 0)
		json_out_key(j, key);
	appendStringInfoChar(&j->buf, array ? '[' : '{');
	j->in_array[j->depth] = array;
	j->first[j->depth] = true;
	j->depth++;
}

void
json_out_begin(JsonOut *j)
{
	initStringInfo(&j->buf);
	j->depth = 0;
	json_out_open(j, NULL, false);
}

void
json_out_object(JsonOut *j, const char *key)
{
	json_out_open(j, key, false);
}

void
json_out_array(JsonOut *j, const char *key)
{
	json_out_open(j, key, true);
}

void
json_out_end(JsonOut *j)
{
	Assert(j->depth > 0);
	j->depth--;
	appendStringInfoChar(&j->buf, j->in_array[j->depth] ? ']' : '}');
}

char *
json_out_finish(JsonOut *j)
{
	while (j->depth > 0)
		json_out_end(j);
	return j->buf.data;
}

void
json_out_string(JsonOut *j, const char *key, const char *value)
{
	json_out_key(j, key);
	if (value)
		escape_json(&j->buf, value);
	else
		appendStringInfoString(&j->buf, "null");
}

void
json_out_int(JsonOut *j, const char *key, int64 value)
{
	json_out_key(j, key);
	appendStringInfo(&j->buf, INT64_FORMAT, value);
}

void
json_out_number(JsonOut *j, const char *key, double value, const char *fmt)
{
	json_out_key(j, key);
	if (isfinite(value))
		appendStringInfo(&j->buf, fmt, value);
	else
		appendStringInfoString(&j->buf, "null");
}

void
json_out_bool(JsonOut *j, const char *key, bool value)
{
	json_out_key(j, key);
	appendStringInfoString(&j->buf, value ? "true" : "false");
}

void
json_out_null(JsonOut *j, const char *key)
{
	json_out_key(j, key);
	appendStringInfoString(&j->buf, "null");
}

void
json_out_numbers(JsonOut *j, const char *key, const double *v, int n, const char *fmt)
{
	json_out_array(j, key);
	for (int i = 0; i < n; i++)
		json_out_number(j, NULL, v[i], fmt);
	json_out_end(j);
}

void
json_out_raw(JsonOut *j, const char *key, const char *json)
{
	json_out_key(j, key);
	appendStringInfoString(&j->buf, json);
}
