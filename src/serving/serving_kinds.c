/*
 * serving_kinds.c -- the table of model kinds
 *
 * Each kind hands over its ServingKind (serving.h) once, at module load
 * (_PG_init in recs.c); a model's kind name, as stored in recs.model, is
 * turned into its routines here and nowhere else.  The table is filled
 * before any query runs and never changes afterwards, so it is not state
 * that an error could leave half-written.
 */
#include "postgres.h"

#include "serving.h"

#define MAX_KINDS 8

static const ServingKind *kinds[MAX_KINDS];
static int	nkinds = 0;

void
serving_register_kind(const ServingKind *kind)
{
	for (int i = 0; i < nkinds; i++)
		if (strcmp(kinds[i]->name, kind->name) == 0)
			return;
	if (nkinds == MAX_KINDS)
		elog(ERROR, "too many recs model kinds");
	kinds[nkinds++] = kind;
}

const ServingKind *
serving_kind_by_name(const char *name)
{
	for (int i = 0; i < nkinds; i++)
		if (strcmp(kinds[i]->name, name) == 0)
			return kinds[i];
	return NULL;
}
