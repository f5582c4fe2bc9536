/*
 * memory_budget.c -- the recs.memory_limit budget for training
 *
 * Trainers estimate what a phase will allocate and call
 * recs_check_memory() before allocating it, so an oversized training fails
 * at once with a clear error and a hint instead of swapping the server or
 * dying half way.  The budget is recs.memory_limit, or
 * maintenance_work_mem when that is -1 (the default), like other
 * maintenance work in PostgreSQL.
 */
#include "postgres.h"

#include <limits.h>
#include <math.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "recs.h"

static int	recs_memory_limit_kb = -1;

void
recs_define_memory_guc(void)
{
	DefineCustomIntVariable("recs.memory_limit",
							"Memory a recs training may use.",
							"-1 uses maintenance_work_mem.",
							&recs_memory_limit_kb,
							-1, -1, INT_MAX,
							PGC_USERSET, GUC_UNIT_KB,
							NULL, NULL, NULL);
}

Size
recs_memory_budget(void)
{
	int			kb = recs_memory_limit_kb >= 0 ? recs_memory_limit_kb : maintenance_work_mem;

	return (Size) kb * 1024;
}

void
recs_check_memory(double bytes, const char *what)
{
	Size		budget = recs_memory_budget();

	if (bytes > (double) budget)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs about %.0f MB, more than the %zu MB recs may use",
						what, bytes / (1024.0 * 1024.0), budget / (1024 * 1024)),
				 errhint("Raise the budget, e.g. SET recs.memory_limit = '%.0fMB' "
						 "(it defaults to maintenance_work_mem).",
						 ceil(bytes * 1.25 / (1024.0 * 1024.0)))));
}
