/*
 * glmix_data.c -- the read phase of a GLMix training: the sides, the
 * impressions, the designs and the random effects' entities
 *
 * Impressions are read by the one impressions reader (ingest/impressions.c)
 * in its strict mode: NULL ids and labels, labels that are not 0/1, negative
 * or NaN weights are errors, so the numerics downstream never see bad input.
 * Each row's learner and course are then looked up in the sides
 * (glmix_features.c).  A random effect keyed by the learner or course id
 * has the distinct ids of the impressions as entities; one keyed by an
 * attribute of the learners or courses has that column's distinct values.
 * Memory is checked twice against the budget: before the designs are built
 * (from the rows and the dense Hessian) and after (from their nonzeros).
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "memory_budget.h"
#include "sorted_ids.h"
#include "keys.h"
#include "spi_util.h"
#include "glmix.h"
#include "impressions.h"

/* the reader's growth check: GLMIX_ROW_BYTES per row kept so far */
static void
check_growth(void *arg, int64 rows, int64 new_cap, int64 learners, double est_rows)
{
	/*
	 * Training holds at least GLMIX_ROW_BYTES per row (the exact check
	 * follows once the designs are known): stop early rather than after
	 * reading everything.  The doubled arrays take 48 bytes per row read so
	 * far, within that.
	 */
	recs_check_memory_growth((double) (rows + 1) * GLMIX_ROW_BYTES, est_rows * GLMIX_ROW_BYTES,
							 (const char *) arg);
}

/*
 * Read an impressions relation through the one reader (ingest/impressions.c)
 * with every row checked: GLMix fits every row it is given, so a NULL id
 * or label is an error.  training=false (the validation slice) ignores
 * weights and watch time.  Each row's learner and course are then looked
 * up in the sides.
 */
static GlmixRows *
read_rows(Oid relid, const GlmixReadOptions *opt, const GlmixSide *learners,
		  const GlmixSide *courses, bool training)
{
	GlmixRows  *rows = palloc0(sizeof(GlmixRows));
	ImpressionSpec spec;
	ImpressionSet *set;

	impressions_spec_init(&spec, opt->learner_column, opt->course_column);
	if (strcmp(opt->label, "bookmarked") != 0)
		impressions_spec_label(&spec, opt->click_column, "click_column");
	if (strcmp(opt->label, "clicked") != 0)
		impressions_spec_label(&spec, opt->bookmark_column, "bookmark_column");
	if (training && strcmp(opt->weighting, "watch_time") == 0)
		spec.seconds = opt->seconds_column;
	if (training)
		spec.weight = opt->weight_column;
	spec.strict = true;
	spec.initial_rows = 65536;
	spec.budget = check_growth;
	spec.budget_arg = training ? "reading the impressions" : "reading the validation rows";
	set = ingest_impressions(relid, &spec);

	rows->n = set->n;
	rows->y = set->y;
	rows->w = set->w;
	rows->learner_id = set->learner_id;
	rows->course_id = set->course_id;
	rows->n_positive = set->n_positive;
	rows->n_watch_weighted = set->n_watch_weighted;
	rows->li = palloc(sizeof(int) * Max(rows->n, 1));
	rows->ci = palloc(sizeof(int) * Max(rows->n, 1));
	for (int64 r = 0; r < rows->n; r++)
	{
		rows->li[r] = glmix_side_index(learners, rows->learner_id[r]);
		rows->ci[r] = glmix_side_index(courses, rows->course_id[r]);
	}
	return rows;
}

/* attribute-keyed random effect: each side row's key, and the distinct keys */
static void
read_attribute_keys(Oid relid, const char *idcol, GlmixSide *side, GlmixRandom *re)
{
	StringInfoData sql;
	char	  **vals = palloc0(sizeof(char *) * Max(side->n, 1));
	char	  **sorted = palloc(sizeof(char *) * Max(side->n, 1));
	int			nsorted = 0,
				u = 0;
	bool		course = strcmp(side->what, "course") == 0;
	KeysFrom	from;
	char	   *idexpr;

	keys_from_init(&from, relid);
	idexpr = keys_id(&from, idcol, course ? "course_column" : "learner_column",
					 course ? RECS_SIDE_COURSE : RECS_SIDE_LEARNER);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s, %s::text FROM %s WHERE %s IS NOT NULL",
					 idexpr, quote_identifier(re->column), keys_from(&from),
					 quote_identifier(re->column));
	if (SPI_execute(sql.data, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read random-effect column \"%s\"", re->column);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		int			k = glmix_side_index(side, id);

		if (k >= 0 && vals[k] == NULL)
		{
			vals[k] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			sorted[nsorted++] = vals[k];
		}
	}
	SPI_freetuptable(SPI_tuptable);
	qsort(sorted, nsorted, sizeof(char *), pg_qsort_strcmp);
	for (int k = 0; k < nsorted; k++)
		if (u == 0 || strcmp(sorted[k], sorted[u - 1]) != 0)
			sorted[u++] = sorted[k];
	re->nent = u;
	re->keys = sorted;
	re->side_entity = palloc(sizeof(int) * Max(side->n, 1));
	for (int i = 0; i < side->n; i++)
	{
		char	  **hit = vals[i] ? bsearch(&vals[i], sorted, u, sizeof(char *), pg_qsort_strcmp) : NULL;

		re->side_entity[i] = hit ? (int) (hit - sorted) : -1;
	}
}

/* entity of each row of a row set for coordinate c */
static int *
row_entities(const GlmixCoordinate *c, const GlmixRows *rows)
{
	int		   *ent = palloc(sizeof(int) * Max(rows->n, 1));

	for (int64 r = 0; r < rows->n; r++)
	{
		if (c->re->by_id)
			ent[r] = recs_find_int64(c->sorted_ids, c->re->nent,
								c->re->learner_side ? rows->learner_id[r] : rows->course_id[r]);
		else
		{
			int			k = c->re->learner_side ? rows->li[r] : rows->ci[r];

			ent[r] = k >= 0 ? c->re->side_entity[k] : -1;
		}
	}
	return ent;
}

/* the entities of random effect k: distinct ids, or an attribute's values */
static void
setup_random_effect(GlmixTraining *t, const GlmixOptions *o, int k)
{
	GlmixCoordinate *c = &t->co[k];
	GlmixRandom *re = palloc0(sizeof(GlmixRandom));
	const GlmixSide *other;

	c->re = re;
	re->column = o->recols[k];
	re->intercept = o->intercept[k + 1];
	re->l2 = o->l2[k + 1];
	for (int j = 0; j < k; j++)
		if (strcmp(o->recols[j], o->recols[k]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("random-effect column \"%s\" is listed twice", o->recols[k])));
	if (strcmp(re->column, o->ro.learner_column) == 0 || strcmp(re->column, o->ro.course_column) == 0)
	{
		int64	   *ids = palloc(sizeof(int64) * t->rows->n);
		int			u = 0;

		re->by_id = true;
		re->learner_side = strcmp(re->column, o->ro.learner_column) == 0;
		memcpy(ids, re->learner_side ? t->rows->learner_id : t->rows->course_id,
			   sizeof(int64) * t->rows->n);
		qsort(ids, t->rows->n, sizeof(int64), recs_int64_cmp);
		for (int64 r = 0; r < t->rows->n; r++)
			if (u == 0 || ids[r] != ids[u - 1])
				ids[u++] = ids[r];
		re->nent = u;
		re->keys = palloc(sizeof(char *) * Max(u, 1));
		for (int e = 0; e < u; e++)
			re->keys[e] = psprintf(INT64_FORMAT, ids[e]);
		c->sorted_ids = ids;
	}
	else if (get_attnum(o->learners, re->column) > 0)
	{
		re->learner_side = true;
		read_attribute_keys(o->learners, o->ro.learner_column, t->learners, re);
	}
	else if (get_attnum(o->courses, re->column) > 0)
	{
		re->learner_side = false;
		read_attribute_keys(o->courses, o->ro.course_column, t->courses, re);
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("random-effect column \"%s\" is not a column of %s or %s", re->column,
						recs_relation_name(o->learners), recs_relation_name(o->courses)),
				 errhint("Random effects are keyed by the learner or course id, or by an attribute of the learners or courses.")));

	/* a learner-keyed effect acts on course features, and vice versa */
	other = re->learner_side ? t->courses : t->learners;
	re->dim = (re->intercept ? 1 : 0) + other->nfeat;
	if (re->dim == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("random effect \"%s\" has no features", re->column),
				 errhint("Keep its intercept or name feature columns of the other side.")));
	if (re->dim > 1024)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("random effect \"%s\" would have %d features, more than 1024", re->column, re->dim),
				 errdetail("Each entity's Newton step factors a dense matrix of that size."),
				 errhint("Name fewer %s feature columns.", re->learner_side ? "course" : "learner")));
	c->row_ent = row_entities(c, t->rows);
	c->Z = glmix_random_design(re, other, re->learner_side ? t->rows->ci : t->rows->li, t->rows->n);
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	c->score = palloc0(sizeof(double) * t->rows->n);
	if (t->vrows)
	{
		c->val_ent = row_entities(c, t->vrows);
		c->Zv = glmix_random_design(re, other, re->learner_side ? t->vrows->ci : t->vrows->li,
									t->vrows->n);
		c->vscore = palloc0(sizeof(double) * Max(t->vrows->n, 1));
	}
	/* the rows know their entities now; the keys keep the ids */
	if (c->sorted_ids)
	{
		pfree(c->sorted_ids);
		c->sorted_ids = NULL;
	}
}

/*
 * Bytes the training holds for one row set: GLMIX_ROW_BYTES per row, the
 * nonzeros of its fixed design X, and per random effect its row arrays, the
 * nonzeros of its design z = [1 | the other side's features of the row] and,
 * for the training rows, its entities.
 */
static double
training_bytes(const GlmixTraining *t, const GlmixOptions *o, const GlmixRows *rows,
			   const GlmixDesign *X)
{
	double		per_nnz = glmix_side_binary(t->learners) && glmix_side_binary(t->courses) ? 4.0 : 12.0;
	double		lnnz = 0,
				cnnz = 0,
				bytes;

	for (int64 r = 0; r < rows->n; r++)
	{
		int			li = rows->li[r],
					ci = rows->ci[r];

		lnnz += li >= 0 ? t->learners->ptr[li + 1] - t->learners->ptr[li] : 0;
		cnnz += ci >= 0 ? t->courses->ptr[ci + 1] - t->courses->ptr[ci] : 0;
	}
	bytes = rows->n * GLMIX_ROW_BYTES + per_nnz * X->ptr[X->n];
	for (int k = 0; k < o->nrecols; k++)
	{
		const char *col = o->recols[k];
		bool		on_learners = strcmp(col, o->ro.learner_column) == 0 ||
			(strcmp(col, o->ro.course_column) != 0 && get_attnum(o->learners, col) > 0);

		/* a learner-keyed effect acts on the course's features, and vice versa */
		double		z_nnz = rows->n + (on_learners ? cnnz : lnnz);
		bool		z_binary = glmix_side_binary(on_learners ? t->courses : t->learners);

		bytes += rows->n * GLMIX_RE_ROW_BYTES + (z_binary ? 4.0 : 12.0) * z_nnz;

		/*
		 * An id-keyed effect has about one entity per learner (course): its
		 * coefficients, their array copy for the GROUP BY query and the
		 * query's result rows.  Attribute-keyed effects have few entities.
		 */
		if (X == t->X && (strcmp(col, o->ro.learner_column) == 0 ||
						  strcmp(col, o->ro.course_column) == 0))
		{
			int			dim = (o->intercept[k + 1] ? 1 : 0) +
				(on_learners ? t->courses->nfeat : t->learners->nfeat);

			bytes += (on_learners ? t->learners->n : t->courses->n) * (24.0 * dim + 256.0);
		}
	}
	return bytes;
}

/*
 * Phase 1, first half: the sides and the impressions (and the validation
 * rows), with the checks that a response model can be fitted to them.
 */
void
glmix_read_data(GlmixTraining *t, const GlmixOptions *o)
{
	t->learners = glmix_read_side(o->learners, "learner", o->ro.learner_column, o->lfeat, o->nlfeat);
	t->courses = glmix_read_side(o->courses, "course", o->ro.course_column, o->cfeat, o->ncfeat);
	t->rows = read_rows(o->impressions, &o->ro, t->learners, t->courses, true);
	if (t->rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("%s has no rows to train on", recs_relation_name(o->impressions))));
	if (t->rows->n_positive == 0 || t->rows->n_positive == t->rows->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every impression has the same label"),
				 errdetail("A response model needs both positive and negative rows.")));
	if (OidIsValid(o->validation))
	{
		t->vrows = read_rows(o->validation, &o->ro, t->learners, t->courses, false);
		if (t->vrows->n == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA),
					 errmsg("validation relation %s has no rows", recs_relation_name(o->validation)),
					 errhint("Pass validation => NULL to train without one.")));
		if (t->vrows->n_positive == 0 || t->vrows->n_positive == t->vrows->n)
			ereport(NOTICE,
					(errmsg("train_glmix: every validation row has the same label"),
					 errdetail("The validation AUC is undefined; it is reported as NaN and stored as null.")));
	}
}

/*
 * Phase 1, second half, once the crosses are known: the fixed layout, the
 * memory checks, the designs and the random effects.
 */
void
glmix_build_designs(GlmixTraining *t, const GlmixOptions *o)
{
	glmix_fixed_layout(&t->lay, o->intercept[0], t->learners, t->courses);
	t->l2_fixed = o->l2[0];

	/*
	 * What training holds at once, for recs_check_memory(): the per-row
	 * arrays (glmix.h), four dense d x d matrices (aggregate state, its
	 * result, H and its factor), then the designs' nonzeros (4 bytes each,
	 * 12 with values).  The staging and the store reuse what the fit frees.
	 */
	recs_check_memory(t->rows->n * GLMIX_ROW_BYTES + 4.0 * 8.0 * t->lay.dim * t->lay.dim,
					  "train_glmix (rows and fixed-effect Hessian)");
	if (t->lay.dim > 2048)
		ereport(NOTICE,
				(errmsg("train_glmix: the fixed effect has %d features", t->lay.dim),
				 errdetail("Every Newton step accumulates and factors a dense %d x %d Hessian.",
						   t->lay.dim, t->lay.dim),
				 errhint("Fewer crosses (for example crosses => '{industry:topic}') make training much faster.")));
	t->X = glmix_fixed_design(&t->lay, t->learners, t->courses, t->rows);
	if (t->vrows)
		t->Xv = glmix_fixed_design(&t->lay, t->learners, t->courses, t->vrows);
	recs_check_memory(training_bytes(t, o, t->rows, t->X) +
					  (t->vrows ? training_bytes(t, o, t->vrows, t->Xv) : 0) +
					  4.0 * 8.0 * t->lay.dim * t->lay.dim,
					  "train_glmix (rows, designs and fixed-effect Hessian)");

	t->nre = o->nrecols;
	t->co = palloc0(sizeof(GlmixCoordinate) * Max(o->nrecols, 1));
	for (int k = 0; k < o->nrecols; k++)
		setup_random_effect(t, o, k);
}

/*
 * The end of the training data: the latest shown_at of the impressions, when
 * they have that conventional column (blends train after it); NaN (unknown)
 * otherwise.
 */
double
glmix_impressions_end(Oid relid)
{
	AttrNumber	att = get_attnum(relid, "shown_at");
	StringInfoData sql;
	bool		isnull;
	Datum		d;
	int			rc;

	if (att == InvalidAttrNumber)
		return NAN;
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT max(date_part('epoch', shown_at)) FROM %s",
					 recs_relation_name(relid));
	rc = SPI_execute(sql.data, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		return NAN;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NAN : DatumGetFloat8(d);
}
