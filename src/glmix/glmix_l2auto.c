/*
 * glmix_l2auto.c -- train_glmix(..., l2_auto => true): each coordinate's L2
 * weight chosen on a validation slice before the training
 *
 * The validation slice is the `validation` relation when one is given, else
 * the latest tenth of the impressions in time: rows whose time (the
 * training's time column: time_column, else shown_at) is at or after its
 * 90th percentile validate, the earlier ones train (two temporary views
 * over the impressions; a relation without a time column is an error).  The search stages that split once and then works
 * coordinate by coordinate, the fixed effect first: for each value of a
 * short grid around the coordinate's starting L2 (l2 or the defaults) times
 * 10, 3, 1, 1/3 and 1/10, from the largest down, one pass of coordinate
 * descent warm-started from the previous grid point, and the validation
 * log-loss; the value with the lowest log-loss is kept before the next
 * coordinate is searched.  A warm-up of `passes` passes at the starting
 * values comes first.  So the search costs passes + 5 (1 + random effects)
 * passes on 90% of the rows; the model is then trained as usual, on all the
 * impressions, with the chosen values.  The grid and each point's
 * validation figures go to a NOTICE and to the model's metrics
 * (metrics->'l2_search'); params->'l2' holds the chosen values.
 *
 * On Citus, when the model takes the flat path (glmix_flat.c), the search
 * does too, without views: the cutoff found by pushed-down statements
 * (glmix_flat_l2auto.c), the training part the impressions up to just
 * before it (`through`), the validation slice scored on the workers
 * (glmix_flat_valid_workers.c).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "glmix.h"
#include "glmix_flat.h"
#include "json_out.h"
#include "spi_util.h"
#include "watches.h"

static const double l2_grid[] = {10.0, 3.0, 1.0, 1.0 / 3.0, 0.1};

#define GRID_LEN lengthof(l2_grid)

/*
 * Two temporary views splitting the impressions at the 90th percentile of
 * the training's time column (time_column, else shown_at: o->ro.time_column
 * is already resolved); sets o->impressions and o->validation to them and
 * returns the cutoff as text.  With flat: no views, the training part by
 * o->ro.through and the slice by o->l2_cutoff (NULL returned, o unchanged,
 * when the time column does not allow it).
 */
static char *
split_by_time(GlmixOptions *o, bool flat)
{
	const char *rel = recs_relation_name(o->impressions);
	const char *col;
	bool		isnull;
	char	   *cutoff;
	char	   *ddl;

	if (o->ro.time_column == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("l2_auto needs a validation slice, and %s has no column shown_at", rel),
				 errhint("Pass validation => a relation of later impressions, or name the impressions' time column with time_column.")));
	/* a missing column or one of another type is the training's own error */
	(void) ingest_time_column(o->impressions, o->ro.time_column, "time_column");
	col = quote_identifier(o->ro.time_column);
	/*
	 * On the flat Citus path: the exact cutoff by pushed-down statements,
	 * the training part the impressions themselves up to just before it
	 * (glmix_flat_l2auto.c); NULL when the time column does not allow it
	 */
	if (flat)
	{
		double		epoch;

		cutoff = glmix_flat_l2_cutoff(o, &epoch);
		if (cutoff == NULL)
			return NULL;
		epoch = nextafter(epoch, -INFINITY);
		if (isnan(o->ro.through) || epoch < o->ro.through)
			o->ro.through = epoch;
		/* the validation slice: the rows from the cutoff on, scored on the workers */
		o->l2_cutoff = cutoff;
		return cutoff;
	}
	if (SPI_execute(psprintf("SELECT (percentile_disc(0.9) WITHIN GROUP (ORDER BY %s))::text FROM %s",
							 col, rel), true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s of %s", col, rel);
	cutoff = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || cutoff == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("l2_auto needs impressions with a time in column %s", col),
				 errhint("Pass validation => a relation of later impressions.")));
	ddl = glmix_citus_ddl_local();
	if (SPI_execute(psprintf("CREATE TEMP VIEW recs_glmix_l2_fit AS SELECT * FROM %s WHERE %s < %s; "
							 "CREATE TEMP VIEW recs_glmix_l2_valid AS SELECT * FROM %s WHERE %s >= %s",
							 rel, col, quote_literal_cstr(cutoff), rel, col, quote_literal_cstr(cutoff)),
					false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not create the l2 search's views");
	glmix_citus_ddl_restore(ddl);
	o->impressions = RelnameGetRelid("recs_glmix_l2_fit");
	o->validation = RelnameGetRelid("recs_glmix_l2_valid");
	return cutoff;
}

/* the search's L2 of coordinate k (0 the fixed effect) */
static double *
coordinate_l2(GlmixTraining *t, int k)
{
	return k == 0 ? &t->l2_fixed : &t->co[k - 1].re->l2;
}

/* one fit of the search: on this node, or the flat Citus path's passes */
static double
search_fit(GlmixTraining *t, const GlmixOptions *o, bool flat, GlmixPassLog *history,
		   double *vauc, double *vll)
{
	if (flat)
		return glmix_flat_fit(t, o, history, vauc, vll);
	return glmix_fit(t, o, history, vauc, vll);
}

void
glmix_l2_search(FunctionCallInfo fcinfo, GlmixOptions *o)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "glmix l2 search",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	GlmixOptions so = *o;
	GlmixTraining t;
	GlmixPassLog *history = palloc0(sizeof(GlmixPassLog) * Max(o->passes, 1));
	double		vauc = NAN,
				vll = NAN;
	char	   *cutoff = NULL;
	JsonOut		j;
	StringInfoData detail;
	double		chosen[1 + GLMIX_MAX_RANDOM];
	char	   *json;
	bool		flat = false;
	const char *why;

	memset(&t, 0, sizeof(t));
	t.quiet = true;
	/*
	 * The flat Citus path when the model takes it: the split by `through`
	 * (no view over the training rows), the passes on the workers
	 */
	if (glmix_flat_wanted(o, &why))
	{
		if (!OidIsValid(o->validation))
			cutoff = split_by_time(&so, true);
		if (OidIsValid(so.validation) || so.l2_cutoff)
			flat = glmix_flat_prepare(fcinfo, &t, &so);
		if (!flat && cutoff)
		{
			/* not after all: the views, as on one node */
			so = *o;
			cutoff = NULL;
		}
		t.quiet = true;
	}
	if (!flat && !OidIsValid(o->validation))
		cutoff = split_by_time(&so, false);
	if (flat)
		glmix_flat_stage(&t, &so);
	else
	{
		glmix_read_data(&t, &so);
		glmix_parse_crosses(fcinfo, 11, &t, o->hash_bits);
		glmix_build_designs(&t, &so);
		glmix_stage(&t, &so);
	}

	/* the warm-up at the starting values */
	(void) search_fit(&t, &so, flat, history, &vauc, &vll);

	json_out_begin(&j);
	if (cutoff)
		json_out_string(&j, "validation_from", cutoff);
	else
		json_out_string(&j, "validation", recs_relation_name(o->validation));
	json_out_int(&j, "fit_rows", t.rows->n);
	json_out_int(&j, "validation_rows", t.vrows->n);
	json_out_array(&j, "coordinates");
	initStringInfo(&detail);
	so.passes = 1;
	for (int k = 0; k <= t.nre; k++)
	{
		double	   *l2 = coordinate_l2(&t, k);
		double		start = *l2,
					best = start,
					best_ll = INFINITY;
		const char *name = k == 0 ? "fixed" : t.co[k - 1].re->column;

		json_out_object(&j, NULL);
		json_out_string(&j, "coordinate", name);
		json_out_array(&j, "grid");
		for (int g = 0; g < (int) GRID_LEN; g++)
		{
			CHECK_FOR_INTERRUPTS();
			/* six significant digits, as params->'l2' prints them */
			*l2 = strtod(psprintf("%.6g", start * l2_grid[g]), NULL);
			(void) search_fit(&t, &so, flat, history, &vauc, &vll);
			json_out_object(&j, NULL);
			json_out_number(&j, "l2", *l2, "%g");
			json_out_number(&j, "validation_logloss", vll, "%.6f");
			json_out_number(&j, "validation_auc", vauc, "%.6f");
			json_out_end(&j);
			if (vll < best_ll)
			{
				best_ll = vll;
				best = *l2;
			}
		}
		json_out_end(&j);
		*l2 = best;
		chosen[k] = best;
		json_out_number(&j, "chosen", best, "%g");
		json_out_end(&j);
		appendStringInfo(&detail, "%s%s %g (validation log-loss %.4f)", k ? "; " : "", name, best, best_ll);
	}
	json_out_end(&j);
	json = json_out_finish(&j);

	if (flat)
		glmix_flat_drop(&t);
	else
		glmix_drop_work(&t);
	if (cutoff && !flat)
	{
		char	   *ddl = glmix_citus_ddl_local();

		SPI_execute("DROP VIEW pg_temp.recs_glmix_l2_fit, pg_temp.recs_glmix_l2_valid", false, 0);
		glmix_citus_ddl_restore(ddl);
	}
	ereport(NOTICE,
			(errmsg("train_glmix l2_auto: %s", detail.data),
			 errdetail("Chosen on %s among 10, 3, 1, 1/3 and 1/10 times the starting values, one warm-started pass each.",
					   cutoff ? psprintf("the impressions shown from %s on (the latest tenth)", cutoff) :
					   recs_relation_name(o->validation))));

	MemoryContextSwitchTo(old);
	memcpy(o->l2, chosen, sizeof(double) * (1 + t.nre));
	o->l2_search = pstrdup(json);
	MemoryContextDelete(cxt);
}
