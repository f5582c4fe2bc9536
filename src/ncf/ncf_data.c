/*
 * ncf_data.c -- what an NCF training reads: watches and the course catalogue
 *
 * The watches come through the one watches path (ingest/watches.c):
 * read through a cursor, cleaned, deduplicated, dense ids, per-learner
 * time-sorted CSR.  Then the `through` cut (a prefix of each learner's
 * list, copied into NcfInput's arrays, after which the WatchSet's are
 * freed: the watches are held once) and the catalogue: the
 * watched courses plus every course of the optional courses relation, so
 * that courses nobody watched yet still get an embedding and can be ranked.
 * From those, the training data: co-watch similarity rows (ncf_cowatch.c)
 * and the positives with their contexts (ncf_fit.c), with a memory
 * estimate checked against recs.memory_limit before the big allocations.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "ncf.h"
#include "memory_budget.h"
#include "keys.h"
#include "spi_util.h"

/* sorted distinct course ids of the courses relation */
int64 *
ncf_read_course_ids(Oid relid, const char *col, const char *argname, int *n)
{
	StringInfoData sql;
	int			rc;
	KeysFrom	from;
	char	   *idexpr;

	keys_from_init(&from, relid);
	idexpr = keys_id(&from, col, argname, RECS_SIDE_COURSE);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT DISTINCT %s FROM %s WHERE %s IS NOT NULL ORDER BY 1",
					 idexpr, keys_from(&from), quote_identifier(col));
	rc = SPI_execute(sql.data, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read courses: %s", SPI_result_code_string(rc));
	return recs_spi_int64_column(n);
}

void
ncf_input(Oid watches, const WatchColumns *cols, double min_seconds, Oid courses,
		  const char *courses_id_column, double through, const char *what, NcfInput *in)
{
	MemoryContext cxt = CurrentMemoryContext;
	WatchSet   *ws;
	int			n_extra = 0;
	int64	   *extra_ids = NULL;
	int32	   *item_of_course;
	int			n_items;

	ws = ingest_watches(watches, cols, min_seconds);
	MemoryContextSwitchTo(cxt); /* SPI calls return in SPI's context */
	ingest_report(ws, what);
	in->ws = ws;
	in->through = isnan(through) ? ws->last_time : through;

	/* the catalogue: watched courses and the courses relation, ascending */
	if (OidIsValid(courses))
	{
		extra_ids = courses_id_column ?
			ncf_read_course_ids(courses, courses_id_column, "courses_id_column", &n_extra) :
			ncf_read_course_ids(courses, cols->course, "course_column", &n_extra);
		MemoryContextSwitchTo(cxt);
	}
	in->item_ids = palloc(sizeof(int64) * (ws->n_courses + n_extra + 1));
	item_of_course = palloc(sizeof(int32) * Max(ws->n_courses, 1));
	{
		int			a = 0,
					b = 0;

		n_items = 0;
		while (a < ws->n_courses || b < n_extra)
		{
			int64		id;

			if (b >= n_extra || (a < ws->n_courses && ws->course_ids[a] <= extra_ids[b]))
				id = ws->course_ids[a];
			else
				id = extra_ids[b];
			if (a < ws->n_courses && ws->course_ids[a] == id)
				item_of_course[a++] = n_items;
			if (b < n_extra && extra_ids[b] == id)
				b++;
			in->item_ids[n_items++] = id;
		}
	}
	in->n_items = n_items;

	/* watches up to `through`: a prefix of each learner's time-sorted list */
	in->offsets = palloc(sizeof(int64) * (ws->n_learners + 1));
	in->learner_ids = palloc(sizeof(int64) * Max(ws->n_learners, 1));
	in->items = MemoryContextAllocHuge(cxt, sizeof(int32) * ws->n_watches);
	in->when = MemoryContextAllocHuge(cxt, sizeof(double) * ws->n_watches);
	in->n_learners = 0;
	in->offsets[0] = 0;
	for (int u = 0; u < ws->n_learners; u++)
	{
		int64		start = in->offsets[in->n_learners],
					n = start;

		for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1] && ws->when[w] <= in->through; w++)
		{
			in->items[n] = item_of_course[ws->course[w]];
			in->when[n] = ws->when[w];
			n++;
		}
		if (n > start)
		{
			in->learner_ids[in->n_learners++] = ws->learner_ids[u];
			in->offsets[in->n_learners] = n;
		}
	}
	if (in->n_learners == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches up to %s", timestamptz_to_str(recs_epoch_to_timestamptz(in->through))),
				 errhint("Move through later, or leave it NULL to use all watches.")));
	/* the watches are held once, as in's arrays: the WatchSet keeps its counts */
	pfree(item_of_course);
	ingest_watches_release(ws);
}

void
ncf_data_from_input(const NcfInput *in, NcfConfig *cfg, int topn,
					NcfContent *content, NcfData *data)
{
	Size		need;

	memset(data, 0, sizeof(*data));
	data->n_learners = in->n_learners;
	data->n_items = in->n_items;
	data->offsets = in->offsets;
	data->items = in->items;
	data->when = in->when;
	ncf_cowatch(in->n_learners, in->n_items, in->offsets, in->items, topn, &data->cowatch);
	data->course_in = data->cowatch;
	data->n_course_inputs = in->n_items;
	if (content)
		ncf_content_join(data, content, in->item_ids);
	ncf_data_prepare(data, cfg);
	if (data->n_pos == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA),
				 errmsg("no watches at or after labels_from to use as labels"),
				 errhint("Move labels_from earlier, or leave it NULL to use every watch.")));
	/* loss 'auto' and epochs NULL: the memory below depends on the loss */
	ncf_auto_config(cfg, data->n_pos);
	/*
	 * the training's own arrays, and the watches (in's arrays, 12 bytes a
	 * watch and 16 a learner) and co-watch matrix it reads
	 */
	need = add_size(ncf_train_memory(data, cfg),
					add_size(add_size(mul_size(in->offsets[in->n_learners], sizeof(int32) + sizeof(double)),
									  mul_size(in->n_learners + 1, 2 * sizeof(int64))),
							 mul_size(data->cowatch.nnz, sizeof(int32) + sizeof(float))));
	if (content)
		need = add_size(need, mul_size(data->course_in.nnz, sizeof(int32) + sizeof(float)));
	need = add_size(need, ncf_ensemble_memory(data, cfg));
	recs_check_memory((double) need, "training this NCF model");
	ereport(NOTICE,
			(errmsg("train_ncf: " INT64_FORMAT " positives x %d instances, mean context %.1f courses, %d courses, %.1f neighbours per course",
					data->n_pos, cfg->loss == NCF_LOSS_SOFTMAX ? 1 : 1 + cfg->negatives, data->mean_ctx, in->n_items,
					(double) data->cowatch.nnz / Max(in->n_items, 1)),
			 errdetail(INT64_FORMAT " positives have an empty context, " INT64_FORMAT
					   " a context cut to the latest %d watches; about %zu MB for training.",
					   data->n_empty_ctx, data->n_capped_ctx, NCF_MAX_CONTEXT, Max(need >> 20, 1))));
}
