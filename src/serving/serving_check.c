/*
 * serving_check.c -- the error every model loader raises for a corrupt row
 *
 * The checks themselves are inline, in serving_check.h; this is their one
 * out-of-line part: formatting the row's key and the detail, which happens
 * only when a check fails.
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "serving_check.h"

void
model_row_corrupt(const ModelRow *row, const char *fmt,...)
{
	StringInfoData what;
	StringInfoData where;

	initStringInfo(&what);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&what, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&what, needed);
	}

	/* "recs.glmix_entity row (side course, id 13)" or just the table */
	initStringInfo(&where);
	appendStringInfoString(&where, row->table);
	if (row->nkeys > 0)
	{
		appendStringInfoString(&where, " row (");
		for (int i = 0; i < row->nkeys; i++)
		{
			if (i > 0)
				appendStringInfoString(&where, ", ");
			if (row->key[i].text)
				appendStringInfo(&where, "%s %s", row->key[i].name, row->key[i].text);
			else
				appendStringInfo(&where, "%s " INT64_FORMAT, row->key[i].name, row->key[i].num);
		}
		appendStringInfoChar(&where, ')');
	}

	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("recs model " INT64_FORMAT " is corrupt", row->model_id),
			 errdetail("%s: %s.", where.data, what.data),
			 errhint("Retrain the model (or restore its rows from a backup); "
					 "only the recs trainers should write the recs model tables.")));
	pg_unreachable();
}
