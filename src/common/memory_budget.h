/*
 * memory_budget.h -- recs.memory_limit: a training's estimate checked before it allocates
 */
#ifndef RECS_MEMORY_BUDGET_H
#define RECS_MEMORY_BUDGET_H

#include "postgres.h"

extern void recs_define_memory_guc(void);
extern Size recs_memory_budget(void);
/* error with a hint when an allocation estimate exceeds the budget */
extern void recs_check_memory(double bytes, const char *what);
/* the same for a step of a growing allocation, `full` the whole job's estimate */
extern void recs_check_memory_growth(double bytes, double full, const char *what);

#endif							/* RECS_MEMORY_BUDGET_H */
