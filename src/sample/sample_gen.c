/*
 * sample_gen.c -- the generative model behind recs.generate_sample()
 *
 * A small model of a course platform (sample_data.c says what each table
 * holds and why): courses with topics, languages, levels, skills, a
 * heavy-tailed appeal and a "bait" trait; learners with languages,
 * industries, segments and topic preferences; then, learner by learner,
 * their watches (progressing through a topic's levels, with re-watches and
 * short noise watches) and the impressions shown to them with clicks,
 * bookmarks, watch time and channel.  Everything is drawn from the one
 * RecsRng in a fixed order (the channels from a second one derived from it,
 * so adding them changed no other column), so the same arguments give the
 * same rows; no SPI here.
 *
 * The platform structure (platform => true) adds what a long-lived platform
 * has and the default sample lacks, from a third derived generator, leaving
 * the default sample byte for byte as it was:
 *   series   runs of 2-4 courses of one topic and language, parts published
 *            in order at rising levels; a learner who watched a part goes on
 *            to the next one (once it is out) on most of their next watches,
 *            and a part whose predecessor they have not watched is rarely
 *            picked;
 *   breaks   40 % of the learners around for more than 450 days stop for 370
 *            to 730 days (longer than train_ncf's default window) and come
 *            back where they left off.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "spi_util.h"
#include "rng.h"
#include "sample.h"

#define DAY 86400.0
#define N_TOPICS 12
#define N_SKILLS_PER_TOPIC 4
#define N_LANGS 7
#define N_INDUSTRIES 8
#define N_SEGMENTS 3
#define N_LEVELS 3
#define MAX_LEARNER_SKILLS 4
#define MAX_PREFS 3

static const char *const lang_names[N_LANGS] = {"en", "es", "fr", "de", "pt", "ja", "zh"};
static const double learner_lang_w[N_LANGS] = {55, 12, 8, 8, 7, 5, 5};
static const double course_lang_w[N_LANGS] = {64, 10, 7, 7, 5, 4, 3};

static const char *const topic_names[N_TOPICS] = {
	"software-development", "data-science", "cloud", "security", "design",
	"business", "marketing", "leadership", "finance", "it-operations",
	"photography", "productivity"
};
static const double topic_w[N_TOPICS] = {14, 12, 9, 6, 8, 10, 7, 8, 6, 7, 5, 8};
static const char *const topic_skills[N_TOPICS][N_SKILLS_PER_TOPIC] = {
	{"python", "java", "javascript", "git"},
	{"sql", "statistics", "machine-learning", "python"},
	{"aws", "azure", "kubernetes", "docker"},
	{"network-security", "cryptography", "ethical-hacking", "compliance"},
	{"photoshop", "ux-design", "illustration", "typography"},
	{"project-management", "strategy", "negotiation", "excel"},
	{"seo", "content-marketing", "social-media", "web-analytics"},
	{"coaching", "communication", "management", "change-management"},
	{"accounting", "financial-modeling", "excel", "budgeting"},
	{"linux", "networking", "scripting", "monitoring"},
	{"lighting", "lightroom", "composition", "video-editing"},
	{"time-management", "outlook", "excel", "writing"}
};
static const char *const industry_names[N_INDUSTRIES] = {
	"software", "finance", "healthcare", "education", "manufacturing",
	"retail", "media", "government"
};
/* the topics each industry leans to (indexes into topic_names) */
static const int industry_topics[N_INDUSTRIES][3] = {
	{0, 1, 2}, {8, 1, 5}, {5, 7, 11}, {11, 4, 7}, {9, 5, 7},
	{6, 5, 11}, {4, 10, 6}, {3, 9, 7}
};
static const char *const segment_names[N_SEGMENTS] = {"job_seeker", "enterprise", "individual"};
static const double segment_w[N_SEGMENTS] = {20, 50, 30};
static const char *const level_names[N_LEVELS] = {"beginner", "intermediate", "advanced"};
static const double level_w[N_LEVELS] = {45, 35, 20};
static const char *const level_forms[N_LEVELS][3] = {
	{"Essential Training", "First Look", "for Beginners"},
	{"in Practice", "Projects", "Tips and Tricks"},
	{"Advanced Techniques", "Deep Dive", "Mastery"}
};

/* how well a course's level suits a learner's segment (seniority), on the watch-time logit */
static const double level_fit[N_SEGMENTS][N_LEVELS] = {
	{0.5, -0.1, -0.9},			/* job seekers */
	{-0.7, 0.1, 0.5},			/* enterprise */
	{0.1, 0.3, -0.3}			/* individuals */
};
#define N_CHANNELS 3
static const char *const channel_names[N_CHANNELS] = {"home", "feed", "search"};
static const double channel_w[N_CHANNELS] = {0.4, 0.45, 0.15};
static const double channel_shift[N_CHANNELS] = {0.0, -0.7, 1.0};

typedef struct SampleCourse
{
	int			topic;
	int			lang;
	int			level;
	int			skills[3];		/* global skill index topic*4+k, -1 = none */
	int			duration_min;
	double		appeal;			/* heavy-tailed popularity */
	double		bait;			/* click-but-leave tendency, 0..1 */
	double		published;		/* epoch */
	int			series;			/* platform: series id (1..), 0 = none */
	int			part;			/* its part in the series (1..), 0 = none */
	int			prev;			/* the part before / after it, -1 = none */
	int			next;
} SampleCourse;

typedef struct SampleLearner
{
	int			lang;
	int			industry;
	int			segment;
	int			ntopics;
	int			topics[MAX_PREFS];
	double		topic_w[MAX_PREFS];
	int			nskills;
	int			skills[MAX_LEARNER_SKILLS];
	double		joined;
	double		bias;			/* propensity to click */
	int			nwatch;
	double		gap_start;		/* platform: a break [gap_start, gap_start + gap_len) */
	double		gap_len;		/* 0: none */
} SampleLearner;

/* courses of one (topic, language) with cumulative appeal for sampling */
typedef struct CoursePool
{
	int			n;
	int		   *course;
	double	   *cum;
} CoursePool;

static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static double
clampd(double x, double lo, double hi)
{
	return x < lo ? lo : (x > hi ? hi : x);
}

static int
pool_draw(RecsRng *rng, const CoursePool *pool)
{
	double		r = rng_uniform(rng) * pool->cum[pool->n - 1];
	int			lo = 0,
				hi = pool->n - 1;

	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (pool->cum[mid] > r)
			hi = mid;
		else
			lo = mid + 1;
	}
	return pool->course[lo];
}

/* "machine-learning" -> "Machine learning", "sql" -> "SQL", "ux-design" -> "UX design" */
static void
skill_title(StringInfo buf, const char *skill)
{
	static const char *const acronyms[] = {"sql", "aws", "seo", "ux"};
	const char *dash = strchr(skill, '-');
	size_t		first = dash ? (size_t) (dash - skill) : strlen(skill);
	bool		acronym = false;

	for (int i = 0; i < lengthof(acronyms); i++)
		acronym |= (strlen(acronyms[i]) == first && strncmp(skill, acronyms[i], first) == 0);

	for (size_t i = 0; skill[i]; i++)
	{
		char		ch = skill[i];

		if (ch == '-')
			ch = ' ';
		else if (i < first && acronym)
			ch = pg_toupper((unsigned char) ch);	/* acronyms: SQL, AWS, SEO, UX */
		else if (i == 0)
			ch = pg_toupper((unsigned char) ch);
		appendStringInfoChar(buf, ch);
	}
}

static void
skills_text(StringInfo buf, const int *skills, int n)
{
	resetStringInfo(buf);
	for (int i = 0; i < n; i++)
	{
		if (skills[i] < 0)
			continue;
		if (buf->len > 0)
			appendStringInfoChar(buf, ',');
		appendStringInfoString(buf, topic_skills[skills[i] / N_SKILLS_PER_TOPIC][skills[i] % N_SKILLS_PER_TOPIC]);
	}
}

static int
skill_overlap(const SampleCourse *c, const SampleLearner *l)
{
	int			n = 0;

	for (int i = 0; i < 3; i++)
		for (int j = 0; j < l->nskills && c->skills[i] >= 0; j++)
			if (strcmp(topic_skills[c->skills[i] / 4][c->skills[i] % 4],
					   topic_skills[l->skills[j] / 4][l->skills[j] % 4]) == 0)
				n++;
	return n;
}

static double
topic_affinity(const SampleLearner *l, int topic)
{
	for (int i = 0; i < l->ntopics; i++)
		if (l->topics[i] == topic)
			return l->topic_w[i];
	return 0.0;
}

/*
 * The fraction of the course a click goes on to watch, from the uniform u.
 * Watch time follows what the learner and course features show: bait
 * courses are left early, a course at the learner's level (seniority: job
 * seekers start at beginner, enterprise learners go for advanced) in the
 * learner's own language on a preferred topic is watched further, one at
 * the wrong level or in a fallback language is abandoned sooner.
 */
static double
watch_fraction(double u, const SampleCourse *c, const SampleLearner *l)
{
	double		fit = level_fit[l->segment][c->level]
		+ (c->lang == l->lang ? 0.3 : -0.5)
		+ 0.4 * Min(topic_affinity(l, c->topic), 1.0)
		+ 0.15 * skill_overlap(c, l);

	return clampd(pow(u, 0.8) * (1.0 - 0.8 * c->bait) * exp(fit - 0.3), 0.01, 1.0);
}

/*
 * The channel an impression was shown on.  Each channel shifts the click
 * logit by channel_shift[] (the feed is browsed, search is intent) and is
 * shown with probability channel_w[]; the click itself was drawn from the
 * channel-average model, so the channel is drawn given the click: with the
 * logit b that makes the mixture's click rate that of the average model,
 * P(channel | click) is proportional to w[ch] P(click | b + shift[ch]).
 * Jointly, channel ~ channel_w and click ~ logistic(b + shift[channel]).
 */
static int
draw_channel(RecsRng *side, double logit, bool clicked)
{
	double		target = 1.0 / (1.0 + exp(-logit));
	double		lo = logit - 4.0,
				hi = logit + 4.0,
				p[N_CHANNELS],
				tot = 0.0;

	for (int it = 0; it < 50; it++)
	{
		double		b = 0.5 * (lo + hi),
					mix = 0.0;

		for (int ch = 0; ch < N_CHANNELS; ch++)
			mix += channel_w[ch] / (1.0 + exp(-(b + channel_shift[ch])));
		if (mix < target)
			lo = b;
		else
			hi = b;
	}
	for (int ch = 0; ch < N_CHANNELS; ch++)
	{
		double		pc = 1.0 / (1.0 + exp(-(0.5 * (lo + hi) + channel_shift[ch])));

		p[ch] = channel_w[ch] * (clicked ? pc : 1.0 - pc);
		tot += p[ch];
	}
	return rng_pick_weighted(side, p, N_CHANNELS, tot);
}

static void
make_courses(RecsRng *rng, SampleCourse *cs, int n, double start, double end)
{
	for (int i = 0; i < n; i++)
	{
		SampleCourse *c = &cs[i];
		int			k;

		c->topic = rng_pick_weighted(rng, topic_w, N_TOPICS, 100);
		c->lang = rng_pick_weighted(rng, course_lang_w, N_LANGS, 100);
		c->level = rng_pick_weighted(rng, level_w, N_LEVELS, 100);
		k = (int) rng_below(rng, N_SKILLS_PER_TOPIC);
		c->skills[0] = c->topic * N_SKILLS_PER_TOPIC + k;
		c->skills[1] = c->topic * N_SKILLS_PER_TOPIC + (k + 1 + (int) rng_below(rng, 3)) % 4;
		c->skills[2] = rng_uniform(rng) < 0.3 ? (int) rng_below(rng, N_TOPICS * N_SKILLS_PER_TOPIC) : -1;
		if (c->skills[2] == c->skills[0] || c->skills[2] == c->skills[1])
			c->skills[2] = -1;
		c->duration_min = (int) clampd(exp(log(75.0) + 0.6 * rng_normal(rng)), 10, 600);
		c->appeal = Min(pow(1.0 - rng_uniform(rng), -1.0 / 1.2), 60.0);
		c->bait = rng_uniform(rng) < 0.15 ? 0.5 + 0.5 * rng_uniform(rng) : 0.1 * rng_uniform(rng);
		/* a third of the catalogue predates the data; the rest appears over time */
		c->published = rng_uniform(rng) < 0.33 ? start - 365 * DAY * rng_uniform(rng)
			: start + (end - start - 30 * DAY) * rng_uniform(rng);
	}
}

static void
make_learners(RecsRng *rng, SampleLearner *ls, int n, double start, double end)
{
	for (int i = 0; i < n; i++)
	{
		SampleLearner *l = &ls[i];
		double		activity;

		l->lang = rng_pick_weighted(rng, learner_lang_w, N_LANGS, 100);
		l->industry = (int) rng_below(rng, N_INDUSTRIES);
		l->segment = rng_pick_weighted(rng, segment_w, N_SEGMENTS, 100);
		l->ntopics = 1 + (int) rng_below(rng, MAX_PREFS);
		for (int t = 0; t < l->ntopics; t++)
		{
			int			topic;
			bool		dup;

			do
			{
				topic = rng_uniform(rng) < 0.7
					? industry_topics[l->industry][rng_below(rng, 3)]
					: (int) rng_below(rng, N_TOPICS);
				dup = false;
				for (int s = 0; s < t; s++)
					dup |= (l->topics[s] == topic);
			} while (dup);
			l->topics[t] = topic;
			l->topic_w[t] = -log(1.0 - rng_uniform(rng)) + 0.2;
		}
		l->nskills = 2 + (int) rng_below(rng, MAX_LEARNER_SKILLS - 1);
		for (int s = 0; s < l->nskills; s++)
			l->skills[s] = l->topics[rng_below(rng, l->ntopics)] * N_SKILLS_PER_TOPIC +
				(int) rng_below(rng, N_SKILLS_PER_TOPIC);
		l->joined = start + (end - start - 14 * DAY) * rng_uniform(rng);
		l->bias = 0.5 * rng_normal(rng);
		activity = exp(log(10.0) + 1.0 * rng_normal(rng)) * (l->segment == 1 ? 1.3 : 1.0);
		/* activity scales with how long the learner has been around */
		activity *= 0.3 + 0.7 * (end - l->joined) / (end - start);
		l->nwatch = (int) clampd(activity, 1, 400);
		l->gap_start = INFINITY;
		l->gap_len = 0;
	}
}

/* ---- the platform structure (platform => true) ---- */

/*
 * Series: in each (topic, language) pool, in course order, a course starts
 * a series of 2-4 with probability 0.6; its parts take the pool's next
 * courses, the earliest of their publication dates going to part 1 and the
 * levels rising with the part (beginner, intermediate, advanced, advanced).
 */
static void
make_series(RecsRng *plat, SampleCourse *cs, int ncourses, const CoursePool *pools)
{
	int			series = 0;

	for (int i = 0; i < ncourses; i++)
	{
		cs[i].series = cs[i].part = 0;
		cs[i].prev = cs[i].next = -1;
	}
	for (int p = 0; p < N_TOPICS * N_LANGS; p++)
	{
		const CoursePool *pool = &pools[p];
		int			i = 0;

		while (i < pool->n)
		{
			int			len = 2 + (int) rng_below(plat, 3);
			double		when[4];

			if (rng_uniform(plat) >= 0.6 || pool->n - i < 2)
			{
				i++;
				continue;
			}
			len = Min(len, pool->n - i);
			series++;
			for (int k = 0; k < len; k++)
				when[k] = cs[pool->course[i + k]].published;
			qsort(when, len, sizeof(double), double_cmp);
			for (int k = 0; k < len; k++)
			{
				SampleCourse *c = &cs[pool->course[i + k]];

				c->series = series;
				c->part = k + 1;
				c->level = Min(k, N_LEVELS - 1);
				c->published = when[k];
				c->prev = k > 0 ? pool->course[i + k - 1] : -1;
				c->next = k + 1 < len ? pool->course[i + k + 1] : -1;
			}
			i += len;
		}
	}
}

/* Breaks: 40 % of the learners around for over 450 days stop for 370-730 days once. */
static void
make_breaks(RecsRng *plat, SampleLearner *ls, int n, double end)
{
	for (int i = 0; i < n; i++)
	{
		SampleLearner *l = &ls[i];
		double		span = (end - l->joined) / DAY;
		double		longest;

		if (span <= 450 || rng_uniform(plat) >= 0.4)
			continue;
		longest = Min(730.0, span - 60.0);
		l->gap_len = (370.0 + (longest - 370.0) * rng_uniform(plat)) * DAY;
		l->gap_start = l->joined + (end - l->joined - l->gap_len) * rng_uniform(plat);
	}
}


static void
columns_init(Columns *cols, int ncols, const Oid *types)
{
	cols->ncols = ncols;
	cols->n = 0;
	cols->cap = 1024;
	for (int c = 0; c < ncols; c++)
	{
		cols->types[c] = types[c];
		cols->values[c] = palloc(sizeof(Datum) * cols->cap);
		cols->nulls[c] = palloc0(sizeof(bool) * cols->cap);
	}
}

static int64
columns_add_row(Columns *cols)
{
	if (cols->n == cols->cap)
	{
		cols->cap *= 2;
		for (int c = 0; c < cols->ncols; c++)
		{
			cols->values[c] = repalloc_huge(cols->values[c], sizeof(Datum) * cols->cap);
			cols->nulls[c] = repalloc_huge(cols->nulls[c], sizeof(bool) * cols->cap);
		}
	}
	for (int c = 0; c < cols->ncols; c++)
		cols->nulls[c][cols->n] = false;
	return cols->n++;
}

static void
add_watch(Columns *wc, int64 learner_id, int64 course_id, double when, double secs)
{
	int64		r = columns_add_row(wc);

	wc->values[0][r] = Int64GetDatum(learner_id);
	wc->values[1][r] = Int64GetDatum(course_id);
	wc->values[2][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(when)));
	wc->values[3][r] = Float8GetDatum(round(secs));
}

/* sampling pools per (topic, language), weighted by appeal */
static CoursePool *
make_pools(const SampleCourse *cs, int ncourses)
{
	CoursePool *pools;

	pools = palloc0(sizeof(CoursePool) * N_TOPICS * N_LANGS);
	for (int p = 0; p < N_TOPICS * N_LANGS; p++)
	{
		pools[p].course = palloc(sizeof(int) * ncourses);
		pools[p].cum = palloc(sizeof(double) * ncourses);
	}
	for (int i = 0; i < ncourses; i++)
	{
		CoursePool *p = &pools[cs[i].topic * N_LANGS + cs[i].lang];

		p->course[p->n] = i;
		p->cum[p->n] = (p->n ? p->cum[p->n - 1] : 0) + cs[i].appeal;
		p->n++;
	}
	return pools;
}

/* the courses table's rows */
static void
course_rows(const SampleCourse *cs, int ncourses, bool platform, Columns *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	{
		Oid			t[10] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID,
		INT4OID, INT4OID};

		columns_init(out, platform ? 10 : 8, t);
	}
	for (int i = 0; i < ncourses; i++)
	{
		const SampleCourse *c = &cs[i];
		int64		r = columns_add_row(out);
		int			s0 = c->skills[0];

		resetStringInfo(&buf);
		skill_title(&buf, topic_skills[s0 / 4][s0 % 4]);
		appendStringInfo(&buf, " %s", level_forms[c->level][i % 3]);
		if (c->lang != 0)
			appendStringInfo(&buf, " (%s)", lang_names[c->lang]);
		out->values[0][r] = Int64GetDatum(i + 1);
		out->values[1][r] = CStringGetTextDatum(buf.data);
		out->values[2][r] = CStringGetTextDatum(lang_names[c->lang]);
		out->values[3][r] = CStringGetTextDatum(topic_names[c->topic]);
		out->values[4][r] = CStringGetTextDatum(level_names[c->level]);
		skills_text(&buf, c->skills, 3);
		out->values[5][r] = CStringGetTextDatum(buf.data);
		out->values[6][r] = Int32GetDatum(c->duration_min);
		out->values[7][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(c->published)));
		if (platform)
		{
			out->values[8][r] = Int32GetDatum(c->series);
			out->values[9][r] = Int32GetDatum(c->part);
			out->nulls[8][r] = out->nulls[9][r] = (c->series == 0);
		}
	}
}

/* the learners table's rows */
static void
learner_rows(const SampleLearner *ls, int nlearners, Columns *out)
{
	StringInfoData buf;

	initStringInfo(&buf);
	{
		Oid			t[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};

		columns_init(out, 6, t);
	}
	for (int i = 0; i < nlearners; i++)
	{
		const SampleLearner *l = &ls[i];
		int64		r = columns_add_row(out);

		out->values[0][r] = Int64GetDatum(100001 + i);
		out->values[1][r] = CStringGetTextDatum(lang_names[l->lang]);
		out->values[2][r] = CStringGetTextDatum(industry_names[l->industry]);
		out->values[3][r] = CStringGetTextDatum(segment_names[l->segment]);
		skills_text(&buf, l->skills, l->nskills);
		out->values[4][r] = CStringGetTextDatum(buf.data);
		out->values[5][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(l->joined)));
	}
}

/* watches and impressions, learner by learner */
static void
activity_rows(RecsRng *rng, RecsRng *plat, const SampleCourse *cs, int ncourses,
			  const SampleLearner *ls, int nlearners, const CoursePool *pools, double end,
			  Columns *wcols, Columns *icols)
{
	bool	   *watched;
	double	   *times;
	RecsRng		side;

	{
		Oid			tw[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, FLOAT8OID};
		Oid			ti[7] = {INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, BOOLOID, FLOAT8OID, TEXTOID};

		columns_init(wcols, 4, tw);
		columns_init(icols, 7, ti);
	}

	/*
	 * The channels come from a second generator derived from the first
	 * without drawing from it, so every other column is what it would be
	 * without them.
	 */
	rng_seed(&side, rng->s[0] ^ UINT64CONST(0x6368616e6e656c));
	watched = palloc0(sizeof(bool) * ncourses);
	times = palloc(sizeof(double) * 800);
	for (int u = 0; u < nlearners; u++)
	{
		const SampleLearner *l = &ls[u];
		int			level_count[N_TOPICS] = {0};
		int			nimp;
		int			chosen[400];
		int			nchosen = 0;
		int			open = -1;	/* platform: the latest series part watched */

		CHECK_FOR_INTERRUPTS();
		for (int w = 0; w < l->nwatch; w++)
		{
			/* a break: the time before it, then the time after it */
			times[w] = l->joined + (end - l->joined - l->gap_len) * rng_uniform(rng);
			if (times[w] >= l->gap_start)
				times[w] += l->gap_len;
		}
		qsort(times, l->nwatch, sizeof(double), double_cmp);

		for (int w = 0; w < l->nwatch; w++)
		{
			double		t = times[w];
			int			ci = -1;
			double		secs;

			if (nchosen > 0 && rng_uniform(rng) < 0.04)
			{
				/* a re-watch of an earlier course: a repeated pair */
				ci = chosen[rng_below(rng, nchosen)];
				add_watch(wcols, 100001 + u, ci + 1, t, cs[ci].duration_min * 30.0 * rng_uniform(rng));
				continue;
			}
			if (rng_uniform(rng) < 0.12)
			{
				/* a noise watch: any course, abandoned within a minute */
				ci = (int) rng_below(rng, ncourses);
				if (cs[ci].published > t || watched[ci])
					continue;
				secs = 5 + 50 * rng_uniform(rng);
			}
			else
			{
				int			topic;
				int			lang;
				int			target;
				int			next = open >= 0 ? cs[open].next : -1;

				if (plat && next >= 0 && !watched[next] && cs[next].published <= t &&
					rng_uniform(plat) < 0.6)
				{
					/* the next part of the series they are following */
					ci = next;
					level_count[cs[ci].topic]++;
					open = ci;
					secs = cs[ci].duration_min * 60.0 *
						clampd(0.15 + 0.85 * pow(rng_uniform(rng), 0.6) - 0.5 * cs[ci].bait, 0.05, 1.0);
					watched[ci] = true;
					chosen[nchosen++] = ci;
					add_watch(wcols, 100001 + u, ci + 1, t, secs);
					continue;
				}
				if (rng_uniform(rng) < 0.1)
					topic = (int) rng_below(rng, N_TOPICS);
				else
				{
					double		tot = 0;
					int			k;

					for (k = 0; k < l->ntopics; k++)
						tot += l->topic_w[k];
					topic = l->topics[rng_pick_weighted(rng, l->topic_w, l->ntopics, tot)];
				}
				lang = (l->lang == 0 || rng_uniform(rng) < 0.2) ? 0 : l->lang;
				target = level_count[topic] < 2 ? 0 : (level_count[topic] < 5 ? 1 : 2);
				for (int attempt = 0; attempt < 40 && ci < 0; attempt++)
				{
					const CoursePool *p = &pools[topic * N_LANGS + (attempt < 20 ? lang : 0)];
					int			cand;
					double		accept;
					double		age;

					if (p->n == 0)
						continue;
					cand = pool_draw(rng, p);
					if (watched[cand] || cs[cand].published > t)
						continue;
					age = (t - cs[cand].published) / DAY;
					accept = (cs[cand].level == target ? 1.0 : 0.15) *
						(0.25 + 0.75 * exp(-age / 240.0)) *
						(1.0 + 0.5 * skill_overlap(&cs[cand], l)) / 2.0;
					if (plat && cs[cand].prev >= 0 && !watched[cs[cand].prev])
						accept *= 0.05; /* a later part before the one before it */
					if (rng_uniform(rng) < accept)
						ci = cand;
				}
				if (ci < 0)
					continue;
				level_count[topic]++;
				if (plat && cs[ci].series > 0)
					open = ci;
				secs = cs[ci].duration_min * 60.0 *
					clampd(0.15 + 0.85 * pow(rng_uniform(rng), 0.6) - 0.5 * cs[ci].bait, 0.05, 1.0);
			}
			watched[ci] = true;
			chosen[nchosen++] = ci;
			add_watch(wcols, 100001 + u, ci + 1, t, secs);
		}

		/* impressions: half from the learner's topics, half from everywhere */
		nimp = Min(2 * l->nwatch + 5, 200);
		for (int k = 0; k < nimp; k++)
		{
			double		t = l->joined + (end - l->joined - l->gap_len) * rng_uniform(rng);
			int			ci;
			const SampleCourse *c;
			double		logit;
			bool		clicked;
			int64		r;

			if (t >= l->gap_start)
				t += l->gap_len;	/* nothing is shown to them during a break */

			if (rng_uniform(rng) < 0.5)
			{
				const CoursePool *p = &pools[l->topics[rng_below(rng, l->ntopics)] * N_LANGS +
									   (rng_uniform(rng) < 0.5 ? l->lang : 0)];

				ci = p->n ? pool_draw(rng, p) : (int) rng_below(rng, ncourses);
			}
			else
				ci = (int) rng_below(rng, ncourses);
			c = &cs[ci];
			logit = -1.4 + l->bias
				+ 1.1 * Min(topic_affinity(l, c->topic), 1.5)
				+ (c->lang == l->lang ? 0.6 : (c->lang == 0 ? 0.0 : -1.2))
				+ 0.35 * log(c->appeal)
				+ 0.3 * skill_overlap(c, l)
				+ 1.2 * c->bait
				+ (l->segment == 0 && c->level == 0 ? 0.4 : 0.0)
				+ (l->segment == 1 && c->level == 2 ? 0.3 : 0.0);
			clicked = rng_uniform(rng) < 1.0 / (1.0 + exp(-logit));
			r = columns_add_row(icols);
			icols->values[0][r] = Int64GetDatum(100001 + u);
			icols->values[1][r] = Int64GetDatum(ci + 1);
			icols->values[2][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(t)));
			icols->values[3][r] = BoolGetDatum(clicked);
			icols->values[4][r] = BoolGetDatum(clicked && rng_uniform(rng) <
										   0.1 + 0.25 * Min(topic_affinity(l, c->topic), 1.0) * (1.0 - c->bait));
			if (clicked)
				icols->values[5][r] = Float8GetDatum(round(c->duration_min * 60.0 *
													   watch_fraction(rng_uniform(rng), c, l)));
			else
				icols->nulls[5][r] = true;
			icols->values[6][r] = CStringGetTextDatum(channel_names[draw_channel(&side, logit, clicked)]);
		}
		for (int k = 0; k < nchosen; k++)
			watched[chosen[k]] = false;
	}
}

void
sample_generate(RecsRng *rng, int nlearners, int ncourses, double start, double end,
				bool platform, SampleTables *out)
{
	SampleCourse *cs = palloc(sizeof(SampleCourse) * ncourses);
	SampleLearner *ls = palloc(sizeof(SampleLearner) * nlearners);
	CoursePool *pools;
	RecsRng		plat;

	/* derived without drawing from rng, like the channels' generator */
	rng_seed(&plat, rng->s[0] ^ UINT64CONST(0x706c6174666f726d));
	make_courses(rng, cs, ncourses, start, end);
	make_learners(rng, ls, nlearners, start, end);
	pools = make_pools(cs, ncourses);
	if (platform)
	{
		make_series(&plat, cs, ncourses, pools);
		make_breaks(&plat, ls, nlearners, end);
	}
	course_rows(cs, ncourses, platform, &out->courses);
	learner_rows(ls, nlearners, &out->learners);
	activity_rows(rng, platform ? &plat : NULL, cs, ncourses, ls, nlearners, pools, end,
				  &out->watches, &out->impressions);
}
