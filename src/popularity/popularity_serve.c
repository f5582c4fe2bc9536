/*
 * popularity_serve.c -- scoring with a popularity model
 *
 * The whole model (a few scores per course and language) is loaded once
 * per backend as one cached part: the catalogue of ranked courses and one
 * score array per language group, aligned with it.  A learner's scores are
 * the array of their language, or the everyone array.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "popularity.h"
#include "serving.h"
#include "serving_cache.h"
#include "serving_check.h"
#include "serving_placement.h"

typedef struct PopularityModel
{
	int			ncourses;
	int64	   *course_id;		/* ascending */
	int			nlangs;
	char	  **language;		/* nlangs names; the everyone group is last, NULL */
	double	  **score;			/* [nlangs + 1][ncourses] */
} PopularityModel;

/*
 * Serving cache loader of "popularity".  Validated: the everyone group
 * (language NULL) has at least one course; every score is finite; every
 * language group scores only courses of the everyone group (the
 * catalogue), each once.  A group may leave out courses: they score NaN,
 * "cannot rank", for its learners.
 */
static void *
load_popularity(int64 model_id, const char *part, void *arg, MemoryContext cxt)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(model_id)};
	PopularityModel *pm;
	SPITupleTable *tt;
	uint64		nrows;
	int			rc;
	int			ngroups = 0;
	ModelRow	row = MODEL_ROW(model_id, "recs.course_popularity");

	/* everyone's rows (language NULL) first, each group by course id */
	rc = SPI_execute_with_args(psprintf("SELECT language, course_id, score FROM %s "
							   "WHERE model_id = $1 ORDER BY language COLLATE \"C\" NULLS FIRST, course_id", serving_table_sql("course_popularity")),
							   1, types, values, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read recs.course_popularity: %s", SPI_result_code_string(rc));
	tt = SPI_tuptable;
	nrows = SPI_processed;

	MemoryContextSwitchTo(cxt);
	pm = palloc0(sizeof(PopularityModel));
	if (nrows > PG_INT32_MAX)
		model_row_corrupt(&row, "the model has " UINT64_FORMAT " rows, more than %d",
						  nrows, PG_INT32_MAX);
	for (uint64 i = 0; i < nrows; i++)
	{
		bool		isnull;

		SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		if (!isnull)
			break;
		pm->ncourses++;
	}
	if (pm->ncourses == 0)
		model_row_corrupt(&row, "the popularity model has no rows for everyone (language NULL)");
	/* the language groups, counted: the arrays below are sized by them */
	for (uint64 i = pm->ncourses; i < nrows; i++)
		if (i == (uint64) pm->ncourses ||
			strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 1),
				   SPI_getvalue(tt->vals[i - 1], tt->tupdesc, 1)) != 0)
			ngroups++;
	pm->course_id = palloc(sizeof(int64) * pm->ncourses);
	pm->language = palloc(sizeof(char *) * (ngroups + 1));
	pm->score = palloc(sizeof(double *) * (ngroups + 1));
	pm->score[0] = palloc(sizeof(double) * pm->ncourses);

	/* group 0 while loading is everyone; it moves to the end below */
	for (uint64 i = 0; i < nrows; i++)
	{
		HeapTuple	tup = tt->vals[i];
		bool		isnull;
		int64		cid = DatumGetInt64(SPI_getbinval(tup, tt->tupdesc, 2, &isnull));
		double		sc = DatumGetFloat8(SPI_getbinval(tup, tt->tupdesc, 3, &isnull));

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		model_row_key_text(&row, 0, "language", i < (uint64) pm->ncourses ? NULL :
						   SPI_getvalue(tup, tt->tupdesc, 1));
		model_row_key_int(&row, 1, "course_id", cid);
		check_model_finite(&row, "score", sc);
		if (i < (uint64) pm->ncourses)
		{
			pm->course_id[i] = cid;
			pm->score[0][i] = sc;
		}
		else
		{
			char	   *lang = TextDatumGetCString(SPI_getbinval(tup, tt->tupdesc, 1, &isnull));
			int			g = pm->nlangs;
			int			lo = 0,
						hi = pm->ncourses - 1;

			if (g == 0 || strcmp(pm->language[g - 1], lang) != 0)
			{
				Assert(g < ngroups);
				pm->language[g] = lang;
				pm->score[g + 1] = palloc(sizeof(double) * pm->ncourses);
				for (int c = 0; c < pm->ncourses; c++)
					pm->score[g + 1][c] = NAN;
				pm->nlangs++;
			}
			/* every group ranks courses of the catalogue; find this one's slot */
			while (lo < hi)
			{
				int			mid = (lo + hi) / 2;

				if (pm->course_id[mid] < cid)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (pm->course_id[lo] != cid)
				model_row_corrupt(&row, "course %lld is not in the everyone group (language NULL)",
								  (long long) cid);
			if (!isnan(pm->score[pm->nlangs][lo]))
				model_row_corrupt(&row, "course %lld appears twice in its group", (long long) cid);
			pm->score[pm->nlangs][lo] = sc;
		}
	}
	/* languages at 0..nlangs-1, everyone at nlangs */
	{
		double	   *everyone = pm->score[0];

		memmove(pm->score, pm->score + 1, sizeof(double *) * pm->nlangs);
		pm->score[pm->nlangs] = everyone;
	}
	return pm;
}

static void
popularity_score_courses(const ServingModel *m, const ServingLearner *l, CourseScores *out)
{
	PopularityModel *pm = serving_cache_get(m->model_id, m->stamp, "popularity",
											load_popularity, NULL);
	const double *src = pm->score[pm->nlangs];

	if (l->language)
		for (int g = 0; g < pm->nlangs; g++)
			if (strcmp(pm->language[g], l->language) == 0)
			{
				src = pm->score[g];
				break;
			}
	out->n = pm->ncourses;
	out->course_id = pm->course_id;
	out->score = palloc(sizeof(double) * Max(pm->ncourses, 1));
	memcpy(out->score, src, sizeof(double) * pm->ncourses);
}

/* shares of a language group's learners: probabilities, of watches */
const ServingKind popularity_kind = {
	.name = "popularity",
	.probability = true,
	.blend_transform = "identity",
	.history_is_watches = true,
	.score_courses = popularity_score_courses,
};
