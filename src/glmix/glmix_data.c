/*
 * glmix_data.c -- the read phase of a GLMix training: the sides, the
 * impressions, the designs and the random effects' entities
 *
 * Impressions are read by the one impressions reader (ingest/impressions.c)
 * with its one policy, the blend's too: a row with a NULL id or label is
 * skipped and counted (a NOTICE and metrics->'skipped'); labels that are
 * not 0/1, negative or NaN weights are errors, so the numerics downstream
 * never see bad input.
 * Each row's learner and course are then looked up in the sides
 * (glmix_features.c).  A random effect keyed by the learner or course id
 * has the distinct ids of the impressions as entities; one keyed by an
 * attribute of the learners or courses has that column's distinct values;
 * one keyed by a column of the impressions (a context: the channel, the
 * device) has that column's distinct values, each row its own, and acts on
 * the course's features like a learner's effect.
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

#include "citus_util.h"
#include "memory_budget.h"
#include "options.h"
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
 * with every row checked; rows with a NULL id or label are skipped and
 * counted, as every reader of impressions does.  training=false (the
 * validation slice) ignores weights and watch time.  Each row's learner and course are then looked
 * up in the sides.
 */
static GlmixRows *
read_rows(Oid relid, const GlmixOptions *o, const GlmixSide *learners,
		  const GlmixSide *courses, bool training)
{
	const GlmixReadOptions *opt = &o->ro;
	int			keyof[GLMIX_MAX_RANDOM];
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
	for (int k = 0; k < o->nrecols; k++)
	{
		keyof[k] = -1;
		if (glmix_context_column(o, o->recols[k]))
		{
			keyof[k] = spec.nkeys;
			spec.key[spec.nkeys++] = o->recols[k];
		}
	}
	/* the training window: rows up to through, by the time column */
	if (training && opt->time_column)
	{
		spec.time = opt->time_column;
		if (!isnan(opt->through))
			spec.through = opt->through;
	}
	spec.initial_rows = 65536;
	spec.budget = check_growth;
	spec.budget_arg = training ? "reading the impressions" : "reading the validation rows";
	set = ingest_impressions(relid, &spec);
	impressions_report(set, training ? "train_glmix" : "train_glmix (validation)");

	rows->n = set->n;
	rows->null_id = set->n_null_id;
	rows->null_label = set->n_null_label;
	rows->bad_time = set->n_bad_time;
	rows->after_through = set->n_after_through;
	rows->t_max = set->t_max;
	rows->y = set->y;
	rows->w = set->w;
	rows->learner_id = set->learner_id;
	rows->course_id = set->course_id;
	rows->n_positive = set->n_positive;
	rows->n_watch_weighted = set->n_watch_weighted;
	for (int k = 0; k < o->nrecols; k++)
		if (keyof[k] >= 0)
		{
			rows->ctx[k] = set->key[keyof[k]];
			rows->ctx_values[k] = set->key_values[keyof[k]];
			rows->ctx_nvalues[k] = set->key_nvalues[keyof[k]];
		}
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
void
glmix_read_attribute_keys(Oid relid, const char *idcol, const char *idarg, GlmixSide *side, GlmixRandom *re)
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
	idexpr = keys_id(&from, idcol, idarg, course ? RECS_SIDE_COURSE : RECS_SIDE_LEARNER);
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

/*
 * A random-effect column that is neither an id column nor a column of the
 * learners or courses, but a column of the impressions: a context such as
 * the channel an impression was shown on.
 */
bool
glmix_context_column(const GlmixOptions *o, const char *col)
{
	return strcmp(col, o->ro.learner_column) != 0 && strcmp(col, o->ro.course_column) != 0 &&
		get_attnum(o->learners, col) == InvalidAttrNumber &&
		get_attnum(o->courses, col) == InvalidAttrNumber &&
		get_attnum(o->impressions, col) != InvalidAttrNumber;
}

/* entity of each row of a row set for coordinate c (its index k) */
static int *
row_entities(const GlmixCoordinate *c, int k, const GlmixRows *rows)
{
	int		   *ent = palloc(sizeof(int) * Max(rows->n, 1));
	int		   *map = NULL;

	if (c->re->context)
	{
		/* the row set's values to the training's entities (validation differs) */
		map = palloc(sizeof(int) * Max(rows->ctx_nvalues[k], 1));
		for (int v = 0; v < rows->ctx_nvalues[k]; v++)
		{
			char	  **hit = bsearch(&rows->ctx_values[k][v], c->re->keys, c->re->nent,
									  sizeof(char *), pg_qsort_strcmp);

			map[v] = hit ? (int) (hit - c->re->keys) : -1;
		}
	}
	for (int64 r = 0; r < rows->n; r++)
	{
		if (c->re->context)
			ent[r] = rows->ctx[k][r] >= 0 ? map[rows->ctx[k][r]] : -1;
		else if (c->re->by_id)
			ent[r] = recs_find_int64(c->sorted_ids, c->re->nent,
								c->re->learner_side ? rows->learner_id[r] : rows->course_id[r]);
		else
		{
			int			si = c->re->learner_side ? rows->li[r] : rows->ci[r];

			ent[r] = si >= 0 ? c->re->side_entity[si] : -1;
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
		glmix_read_attribute_keys(o->learners, o->learners_id_column, o->learners_id_arg, t->learners, re);
	}
	else if (get_attnum(o->courses, re->column) > 0)
	{
		re->learner_side = false;
		glmix_read_attribute_keys(o->courses, o->courses_id_column, o->courses_id_arg, t->courses, re);
	}
	else if (t->rows->ctx[k] != NULL)
	{
		/* keyed by an impressions column: like a learner's effect, over course features */
		re->context = true;
		re->learner_side = true;
		re->nent = t->rows->ctx_nvalues[k];
		re->keys = t->rows->ctx_values[k];
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("random-effect column \"%s\" is not a column of %s, %s or %s", re->column,
						recs_relation_name(o->learners), recs_relation_name(o->courses),
						recs_relation_name(o->impressions)),
				 errhint("Random effects are keyed by the learner or course id, by an attribute of the learners or courses, or by a column of the impressions.")));

	/* a learner-keyed effect acts on course features, and vice versa */
	other = re->learner_side ? t->courses : t->learners;
	re->dim = (re->intercept ? 1 : 0) + other->nmodel;
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
	c->row_ent = row_entities(c, k, t->rows);
	/* on Citus each design is built when staged and freed once on the workers */
	if (t->citus_shards == 0)
		c->Z = glmix_random_design(re, other, re->learner_side ? t->rows->ci : t->rows->li, t->rows->n);
	c->coef = palloc0(sizeof(double) * Max((Size) re->nent * re->dim, 1));
	c->score = palloc0(sizeof(double) * t->rows->n);
	if (t->vrows)
	{
		c->val_ent = row_entities(c, k, t->vrows);
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
	double		per_nnz = glmix_fixed_binary(&t->lay, t->learners, t->courses) ? 4.0 : 12.0;
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
			(strcmp(col, o->ro.course_column) != 0 && get_attnum(o->learners, col) > 0) ||
			glmix_context_column(o, col);

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
				(on_learners ? t->courses->nmodel : t->learners->nmodel);

			bytes += (on_learners ? t->learners->n : t->courses->n) * (24.0 * dim + 256.0);
		}
	}
	return bytes;
}

/*
 * The crosses argument: "lcol:ccol" crosses, "lcol=ccol" and "lcol~ccol"
 * matches (glmix_match.c); NULL: every categorical learner column crossed
 * with every multi-hot course column, no matches.  Every entry is checked
 * (columns, kinds) before any design is built.  Then the layout is
 * prepared: crosses hashed into 2^hash_bits buckets (0: not hashed), the
 * matches' value maps built.
 */
static void
parse_crosses(FunctionCallInfo fcinfo, int argno, GlmixTraining *t)
{
	GlmixFixedLayout *lay = &t->lay;
	int			n;
	char	  **specs;

	lay->nmatch = 0;
	lay->match = NULL;
	if (PG_ARGISNULL(argno))
	{
		lay->cross = palloc(sizeof(GlmixCross) * Max(t->learners->ncols * t->courses->ncols, 1));
		lay->ncross = 0;
		for (int a = 0; a < t->learners->ncols; a++)
			for (int b = 0; b < t->courses->ncols; b++)
				if (t->learners->cols[a].kind != GLMIX_NUMERIC &&
					t->courses->cols[b].kind == GLMIX_MULTIHOT)
				{
					lay->cross[lay->ncross].lcol = a;
					lay->cross[lay->ncross].ccol = b;
					lay->ncross++;
				}
		return;
	}
	specs = recs_text_array_arg(fcinfo, argno, &n);
	lay->cross = palloc(sizeof(GlmixCross) * Max(n, 1));
	lay->match = palloc0(sizeof(GlmixMatch) * Max(n, 1));
	lay->ncross = 0;
	for (int i = 0; i < n; i++)
	{
		char		op;
		int			lcol,
					ccol;
		const char *why;
		GlmixMatch *mt;

		if (!glmix_split_spec(specs[i], ":=~", t->learners, t->courses, &op, &lcol, &ccol))
		{
			if (strpbrk(specs[i], ":=~") == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("cross \"%s\" is not of the form learner_column:course_column", specs[i]),
						 errhint("Matches are learner_column=course_column (equal values) or "
								 "learner_column~course_column (shared values).")));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("%s \"%s\" names a column that is not a feature column",
							strchr(specs[i], ':') ? "cross" : "match", specs[i]),
					 errhint("Cross or match a column of learner_features with a column of course_features.")));
		}
		if (op == ':')
		{
			if (t->learners->cols[lcol].match_only || t->courses->cols[ccol].match_only)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("cross \"%s\" names a column that is not a feature column", specs[i]),
						 errhint("Cross a column of learner_features with a column of course_features.")));
			lay->cross[lay->ncross].lcol = lcol;
			lay->cross[lay->ncross].ccol = ccol;
			lay->ncross++;
			continue;
		}
		mt = &lay->match[lay->nmatch];
		mt->kind = op == '=' ? GLMIX_MATCH_EQUAL : GLMIX_MATCH_OVERLAP;
		mt->lcol = lcol;
		mt->ccol = ccol;
		why = glmix_match_incompatible(mt->kind, t->learners, lcol, t->courses, ccol);
		if (why)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("match \"%s\" compares columns of incompatible types", specs[i]),
					 errdetail_internal("%s", why)));
		for (int q = 0; q < lay->nmatch; q++)
			if (lay->match[q].kind == mt->kind && lay->match[q].lcol == lcol &&
				lay->match[q].ccol == ccol)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("match \"%s\" is listed twice", specs[i])));
		lay->nmatch++;
	}
}


void
glmix_parse_crosses(FunctionCallInfo fcinfo, int argno, GlmixTraining *t, int hash_bits)
{
	parse_crosses(fcinfo, argno, t);
	t->lay.hash_bits = hash_bits;
	glmix_fixed_prepare(&t->lay, t->learners, t->courses, t->learners->names, t->courses->names);
}

/*
 * Phase 1, first half: the sides and the impressions (and the validation
 * rows), with the checks that a response model can be fitted to them.
 */
void
glmix_read_data(GlmixTraining *t, const GlmixOptions *o)
{
	t->learners = glmix_read_side(o->learners, "learner", o->learners_id_column, o->learners_id_arg,
								  o->lfeat, o->nlfeat, o->lmatch, o->nlmatch);
	t->courses = glmix_read_side(o->courses, "course", o->courses_id_column, o->courses_id_arg,
								 o->cfeat, o->ncfeat, o->cmatch, o->ncmatch);
	t->rows = read_rows(o->impressions, o, t->learners, t->courses, true);
	if (t->rows->n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("%s has no rows to train on", recs_relation_name(o->impressions))));
	if (t->rows->n_positive == 0 || t->rows->n_positive == t->rows->n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every impression has the same label"),
				 errdetail("A response model needs both positive and negative rows.")));
	glmix_read_validation(t, o);
}

/*
 * The validation relation's rows (t->vrows), when there is one: read on
 * this node, as the sides are (the flat Citus path reads them so too)
 */
void
glmix_read_validation(GlmixTraining *t, const GlmixOptions *o)
{
	if (OidIsValid(o->validation))
	{
		t->vrows = read_rows(o->validation, o, t->learners, t->courses, false);
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

static double fixed_solver_bytes(bool tron, int dim);

/*
 * The fixed effect's solver: under 'auto' dense Newton up to
 * GLMIX_NEWTON_MAX_DIM features when its matrices fit the budget beside
 * the rows, TRON otherwise; 'newton' is refused beyond the dense
 * aggregate's 8192.
 */
static bool
choose_solver(const char *solver, int dim, int64 rows)
{
	if (strcmp(solver, "tron") == 0)
		return true;
	if (strcmp(solver, "newton") == 0)
	{
		if (dim > GLMIX_DENSE_MAX_DIM)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("solver 'newton' handles at most %d fixed-effect features, not %d",
							GLMIX_DENSE_MAX_DIM, dim),
					 errdetail("Dense Newton accumulates and factors a dense Hessian."),
					 errhint("Pass solver => 'tron' or 'auto'.")));
		return false;
	}
	return dim > GLMIX_NEWTON_MAX_DIM ||
		rows * GLMIX_ROW_BYTES + fixed_solver_bytes(false, dim) > (double) recs_memory_budget();
}

/*
 * Bytes of the fixed effect's solver.  Dense Newton: four d x d matrices
 * (the aggregate state, its result, H and its factor).  TRON: its six work
 * vectors, beta, the candidate's gradient, the coefficient and direction
 * arrays handed to the aggregate, the aggregate's state (gradient,
 * product, its copies of both vectors) and result -- about 16 vectors --
 * plus what the store makes of each feature's name: the string, its text
 * datum, the text[] and its compressed copy (256 bytes, measured with
 * names of about 20 characters, rounded up).
 */
static double
fixed_solver_bytes(bool tron, int dim)
{
	if (tron)
		return (16.0 * 8.0 + 256.0) * dim;
	return 4.0 * 8.0 * dim * dim;
}

/*
 * recs_check_memory(), but a dense Newton training over the budget is told
 * of the matrix-free solver, whose memory is linear in the features
 */
static void
check_fixed_memory(const GlmixTraining *t, double bytes, const char *what)
{
	if (!t->tron && bytes > (double) recs_memory_budget())
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s needs about %.1f MB, more than the %.1f MB recs may use",
						what, bytes / (1024.0 * 1024.0), recs_memory_budget() / (1024.0 * 1024.0)),
				 errdetail("Dense Newton keeps four %d x %d matrices (%.1f MB).", t->lay.dim, t->lay.dim,
						   fixed_solver_bytes(false, t->lay.dim) / (1024.0 * 1024.0)),
				 errhint("Pass solver => 'tron' (matrix-free, memory linear in the features) or raise recs.memory_limit.")));
	recs_check_memory(bytes, what);
}

/*
 * Phase 1, second half, once the crosses are known: the fixed layout, the
 * memory checks, the designs and the random effects.
 */
void
glmix_build_designs(GlmixTraining *t, const GlmixOptions *o)
{
	double		solver_bytes;

	glmix_fixed_layout(&t->lay, o->intercept[0], t->learners, t->courses);
	t->l2_fixed = o->l2[0];
	/* distributed impressions: the work relations will be too (glmix_citus.c) */
	t->citus_shards = recs_citus_hash_shards(o->impressions);
	t->tron = choose_solver(o->solver, t->lay.dim, t->rows->n);
	solver_bytes = fixed_solver_bytes(t->tron, t->lay.dim);

	/*
	 * What training holds at once, for recs_check_memory(): the per-row
	 * arrays (glmix.h), the fixed effect's solver (fixed_solver_bytes), then
	 * the designs' nonzeros (4 bytes each, 12 with values).  The staging
	 * and the store reuse what the fit frees.
	 */
	check_fixed_memory(t, t->rows->n * GLMIX_ROW_BYTES + solver_bytes,
					   t->tron ? "train_glmix (rows and the fixed effect's TRON vectors)" :
					   "train_glmix (rows and fixed-effect Hessian)");
	if (!t->tron && t->lay.dim > 2048)
		ereport(NOTICE,
				(errmsg("train_glmix: the fixed effect has %d features", t->lay.dim),
				 errdetail("Every Newton step accumulates and factors a dense %d x %d Hessian.",
						   t->lay.dim, t->lay.dim),
				 errhint("solver => 'tron' avoids the dense Hessian; fewer crosses make training faster.")));
	t->X = glmix_fixed_design(&t->lay, t->learners, t->courses, t->rows);
	t->fixed_nnz = t->X->ptr[t->X->n];
	if (t->vrows)
		t->Xv = glmix_fixed_design(&t->lay, t->learners, t->courses, t->vrows);
	check_fixed_memory(t, training_bytes(t, o, t->rows, t->X) +
					   (t->vrows ? training_bytes(t, o, t->vrows, t->Xv) : 0) + solver_bytes,
					   t->tron ? "train_glmix (rows, designs and the fixed effect's TRON vectors)" :
					   "train_glmix (rows, designs and fixed-effect Hessian)");

	t->nre = o->nrecols;
	t->co = palloc0(sizeof(GlmixCoordinate) * Max(o->nrecols, 1));
	for (int k = 0; k < o->nrecols; k++)
		setup_random_effect(t, o, k);
}
