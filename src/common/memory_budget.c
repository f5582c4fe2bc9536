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

#include "memory_budget.h"

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

/* megabytes to show: whole above 10 MB, one decimal below (small budgets in tests) */
static int
mb_digits(double mb)
{
	return mb >= 10.0 ? 0 : 1;
}

/*
 * Error when the next allocation step, `bytes`, exceeds the budget.  `full`
 * is what the whole job is expected to need when the steps grow with input
 * not read yet (0 when unknown): the hint then names a budget that fits the
 * whole job, not only the step that failed.
 */
void
recs_check_memory_growth(double bytes, double full, const char *what)
{
	double		mb = 1024.0 * 1024.0;
	double		need = bytes / mb;
	double		budget = recs_memory_budget() / mb;

	/* what was checked, for whoever measures a training (bench/scale.sh) */
	ereport(DEBUG1,
			(errmsg_internal("recs.memory_limit check: %s: about %.*f MB of %.*f MB",
							 what, mb_digits(need), need, mb_digits(budget), budget)));
	if (need > budget)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs about %.*f MB, more than the %.*f MB recs may use",
						what, mb_digits(need), need, mb_digits(budget), budget),
				 full > bytes ?
				 errdetail("All of the input needs about %.0f MB.", full / mb) : 0,
				 errhint("Raise the budget, e.g. SET recs.memory_limit = '%.0fMB' "
						 "(it defaults to maintenance_work_mem).",
						 ceil(Max(bytes, full) * 1.25 / mb))));
}

void
recs_check_memory(double bytes, const char *what)
{
	recs_check_memory_growth(bytes, 0, what);
}
