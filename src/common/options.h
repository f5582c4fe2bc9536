/*
 * options.h -- the arguments of recs's SQL entry points, read and checked
 *
 * Every train_*, evaluate and generate_sample function reads its arguments
 * through these helpers: a NULL argument takes the documented default, and
 * a value out of range is an error (22023, or 22004 for a required NULL)
 * that names the argument as the user wrote it.
 */
#ifndef RECS_OPTIONS_H
#define RECS_OPTIONS_H

#include "postgres.h"

#include "fmgr.h"

/* error (22004) "<what> must not be NULL" when argument argno is NULL */
extern void recs_require_arg(FunctionCallInfo fcinfo, int argno, const char *what);

/* text argument argno, or the default (NULL allowed) when it is NULL or absent */
extern char *recs_text_arg(FunctionCallInfo fcinfo, int argno, const char *dflt);
/* a model name: the default when NULL; error when empty */
extern char *recs_name_arg(FunctionCallInfo fcinfo, int argno, const char *dflt);
/*
 * A text argument that must be one of choices[0..n): "<name> must be 'a',
 * 'b' or 'c', not 'x'" otherwise.  Returns the index of the choice.
 */
extern int	recs_choice_arg(FunctionCallInfo fcinfo, int argno, const char *dflt,
							const char *const *choices, int n, const char *name,
							char **value);
/* a text[] argument without NULL elements (NULL argument: none) */
extern char **recs_text_array_arg(FunctionCallInfo fcinfo, int argno, int *n);

/* integers: "<name> must be between lo and hi, not v" */
extern int32 recs_int_arg(FunctionCallInfo fcinfo, int argno, int32 dflt, int32 lo, int32 hi,
						  const char *name);
extern int64 recs_int64_arg(FunctionCallInfo fcinfo, int argno, int64 dflt);
extern bool recs_bool_arg(FunctionCallInfo fcinfo, int argno, bool dflt);

/*
 * Numbers: finite and above lo (lo_open) or at least lo: "<name> must be a
 * finite number above 0, not NaN".
 */
extern double recs_float_arg(FunctionCallInfo fcinfo, int argno, double dflt, double lo,
							 bool lo_open, const char *name);
/*
 * A finite number that must be positive ("<name> must be a positive
 * number") or, with zero_ok, zero or positive ("... must be zero or
 * positive"): the 0.1.0 wording of train_popularity, kept.
 */
extern double recs_positive_arg(FunctionCallInfo fcinfo, int argno, double dflt, bool zero_ok,
								const char *name);

/* a timestamptz argument as unix seconds; "<name> must be a finite timestamp" */
extern double recs_timestamp_arg(FunctionCallInfo fcinfo, int argno, const char *name);

#endif							/* RECS_OPTIONS_H */
