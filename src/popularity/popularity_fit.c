/*
 * popularity_fit.c -- counting and smoothing of the popularity model
 *
 * For each language group, the share of its active learners who watched a
 * course in a recent window, smoothed towards the global share so that
 * small language groups borrow strength from everyone:
 *
 *     score(g, c) = (watchers_g(c) + alpha * watchers(c) / active)
 *                   / (active_g + alpha)
 *
 * where watchers_g(c) counts the learners of group g whose first qualifying
 * watch of c falls in the window (new watchers: what is trending), and
 * active_g the learners of group g with such a watch of any course.  The
 * last group is everyone (unknown learners, learners with no language).
 * The watches come cleaned and deduplicated (ingest/watches.c), so each
 * learner counts once per course.  No SPI here.
 */
#include "postgres.h"

#include "miscadmin.h"

#include "popularity.h"
#include "sorted_ids.h"

int
popularity_language_index(LearnerLanguages *ll, const char *name)
{
	for (int i = 0; i < ll->nnames; i++)
		if (strcmp(ll->names[i], name) == 0)
			return i;
	if (ll->nnames == POPULARITY_MAX_LANGUAGES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("more than %d distinct languages", POPULARITY_MAX_LANGUAGES),
				 errhint("The language column should hold a language code such as 'en'.")));
	ll->names[ll->nnames] = pstrdup(name);
	return ll->nnames++;
}

void
popularity_count(const WatchSet *ws, const LearnerLanguages *ll, double since, double through,
				 PopularityCounts *pc)
{
	int			ngroups = (ll ? ll->nnames : 0) + 1;
	int			all = ngroups - 1;

	pc->ngroups = ngroups;
	pc->names = palloc(sizeof(char *) * ngroups);
	for (int g = 0; g < all; g++)
		pc->names[g] = ll->names[g];
	pc->names[all] = NULL;
	pc->ncourses = ws->n_courses;
	pc->course_ids = ws->course_ids;
	pc->watchers = palloc0(sizeof(int) * (Size) ngroups * Max(ws->n_courses, 1));
	pc->active = palloc0(sizeof(int) * ngroups);
	pc->used = 0;
	for (int u = 0; u < ws->n_learners; u++)
	{
		bool		was_active = false;
		int			i = ll ? recs_find_int64(ll->ids, ll->n, ws->learner_ids[u]) : -1;
		int			g = i >= 0 ? ll->lang[i] : -1;

		CHECK_FOR_INTERRUPTS();
		for (int64 w = ws->offsets[u]; w < ws->offsets[u + 1]; w++)
		{
			if (ws->when[w] <= since || ws->when[w] > through)
				continue;
			was_active = true;
			pc->used++;
			pc->watchers[(Size) all * ws->n_courses + ws->course[w]]++;
			if (g >= 0)
				pc->watchers[(Size) g * ws->n_courses + ws->course[w]]++;
		}
		if (was_active)
		{
			pc->active[all]++;
			if (g >= 0)
				pc->active[g]++;
		}
	}
}

double
popularity_score(const PopularityCounts *pc, int g, int c, double alpha)
{
	int			all = pc->ngroups - 1;
	int			wg = pc->watchers[(Size) g * pc->ncourses + c];
	double		prior = (double) pc->watchers[(Size) all * pc->ncourses + c] / pc->active[all];

	return (wg + alpha * prior) / (pc->active[g] + alpha);
}
