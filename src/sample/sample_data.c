/*
 * sample_data.c -- recs.generate_sample(): a realistic, seeded learning platform
 *
 * Builds four tables in a schema of the caller's choosing -- courses,
 * learners, watches, impressions -- from a small generative model of a
 * course platform, so that the demo, the tests and the benchmarks all have
 * data with the structure real data has:
 *
 *   courses   topic, language, difficulty, skills, duration; a heavy-tailed
 *             appeal (a few courses are very popular), a publication date
 *             after which interest decays, and a "bait" trait: courses that
 *             get clicked but not watched for long.
 *   learners  language, industry (which tilts topic interests), segment
 *             (job seeker / enterprise / individual), preferred topics and
 *             skills, and a heavy-tailed activity level.
 *   watches   over `days` days: each learner watches courses of preferred
 *             topics, mostly in their language, progressing from beginner to
 *             advanced within a topic; 12% are short noise watches (under a
 *             minute) of random courses, which the watch-time threshold
 *             removes.
 *   impressions  courses shown to learners, with clicks driven by topic,
 *             language, difficulty fit and appeal; bookmarks; and watch time
 *             after a click (short for bait courses).
 *
 * Everything is drawn from one RecsRng seeded by `seed`: the same arguments
 * give the same tables, byte for byte.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "recs.h"
#include "rng.h"

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
} SampleLearner;

/* courses of one (topic, language) with cumulative appeal for sampling */
typedef struct CoursePool
{
	int			n;
	int		   *course;
	double	   *cum;
} CoursePool;

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
	}
}

static int
double_cmp(const void *a, const void *b)
{
	double		x = *(const double *) a,
				y = *(const double *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

/* Growable columns of one output table. */
typedef struct Columns
{
	int			ncols;
	int64		n;
	int64		cap;
	Oid			types[8];
	Datum	   *values[8];
	bool	   *nulls[8];
} Columns;

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

static void
run_sql(const char *sql)
{
	int			rc = SPI_execute(sql, false, 0);

	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
}

PG_FUNCTION_INFO_V1(generate_sample_data);
Datum
generate_sample_data(PG_FUNCTION_ARGS)
{
	int			spi_level;
	static const char *const argnames[] = {"target_schema", "learners", "courses", "seed", "days", "end_at"};
	char	   *schema;
	int32		nlearners = PG_GETARG_INT32(1);
	int32		ncourses = PG_GETARG_INT32(2);
	int64		seed = PG_GETARG_INT64(3);
	int32		days = PG_GETARG_INT32(4);
	double		end = recs_timestamptz_to_epoch(PG_GETARG_TIMESTAMPTZ(5));
	double		start;
	const char *qs;
	RecsRng		rng;
	SampleCourse *cs;
	SampleLearner *ls;
	CoursePool *pools;
	Columns		cc,
				lc,
				wc,
				ic;
	StringInfoData sql;
	StringInfoData buf;
	bool	   *watched;
	double	   *times;

	for (int a = 0; a < lengthof(argnames); a++)
		if (PG_ARGISNULL(a))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be NULL", argnames[a])));
	schema = NameStr(*PG_GETARG_NAME(0));
	if (nlearners < 1 || nlearners > 10000000 || ncourses < 12 || ncourses > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample size out of range: %d learners, %d courses", nlearners, ncourses),
				 errhint("Use 1 to 10000000 learners and 12 to 1000000 courses.")));
	if (days < 30 || days > 3650)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("days must be between 30 and 3650, not %d", days)));
	start = end - days * DAY;
	if (!isfinite(end) || TIMESTAMP_NOT_FINITE(recs_epoch_to_timestamptz(start)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end_at must be a finite timestamp at least %d days after the earliest one", days)));
	qs = quote_identifier(schema);

	spi_level = recs_spi_connect();
	initStringInfo(&sql);
	initStringInfo(&buf);
	appendStringInfo(&sql,
					 "CREATE SCHEMA IF NOT EXISTS %s;"
					 "CREATE TABLE %s.courses (course_id bigint PRIMARY KEY, title text NOT NULL,"
					 " language text NOT NULL, topic text NOT NULL, difficulty text NOT NULL,"
					 " skills text[] NOT NULL, duration_minutes integer NOT NULL,"
					 " published_at timestamptz NOT NULL);"
					 "CREATE TABLE %s.learners (learner_id bigint PRIMARY KEY, language text NOT NULL,"
					 " industry text NOT NULL, segment text NOT NULL, skills text[] NOT NULL,"
					 " joined_at timestamptz NOT NULL);"
					 "CREATE TABLE %s.watches (learner_id bigint NOT NULL, course_id bigint NOT NULL,"
					 " watched_at timestamptz NOT NULL, watch_seconds float8 NOT NULL);"
					 "CREATE TABLE %s.impressions (learner_id bigint NOT NULL, course_id bigint NOT NULL,"
					 " shown_at timestamptz NOT NULL, clicked boolean NOT NULL,"
					 " bookmarked boolean NOT NULL, watch_seconds float8);",
					 qs, qs, qs, qs, qs);
	run_sql(sql.data);

	rng_seed(&rng, (uint64) seed);
	cs = palloc(sizeof(SampleCourse) * ncourses);
	ls = palloc(sizeof(SampleLearner) * nlearners);
	make_courses(&rng, cs, ncourses, start, end);
	make_learners(&rng, ls, nlearners, start, end);

	/* sampling pools per (topic, language), weighted by appeal */
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

	/* courses */
	{
		Oid			t[8] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, TIMESTAMPTZOID};

		columns_init(&cc, 8, t);
	}
	for (int i = 0; i < ncourses; i++)
	{
		SampleCourse *c = &cs[i];
		int64		r = columns_add_row(&cc);
		int			s0 = c->skills[0];

		resetStringInfo(&buf);
		skill_title(&buf, topic_skills[s0 / 4][s0 % 4]);
		appendStringInfo(&buf, " %s", level_forms[c->level][i % 3]);
		if (c->lang != 0)
			appendStringInfo(&buf, " (%s)", lang_names[c->lang]);
		cc.values[0][r] = Int64GetDatum(i + 1);
		cc.values[1][r] = CStringGetTextDatum(buf.data);
		cc.values[2][r] = CStringGetTextDatum(lang_names[c->lang]);
		cc.values[3][r] = CStringGetTextDatum(topic_names[c->topic]);
		cc.values[4][r] = CStringGetTextDatum(level_names[c->level]);
		skills_text(&buf, c->skills, 3);
		cc.values[5][r] = CStringGetTextDatum(buf.data);
		cc.values[6][r] = Int32GetDatum(c->duration_min);
		cc.values[7][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(c->published)));
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.courses SELECT a, b, c, d, e, string_to_array(f, ','), g, h"
					 " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8) AS u(a, b, c, d, e, f, g, h)", qs);
	recs_insert_columns(sql.data, 8, cc.types, cc.values, NULL, cc.n);

	/* learners */
	{
		Oid			t[6] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};

		columns_init(&lc, 6, t);
	}
	for (int i = 0; i < nlearners; i++)
	{
		SampleLearner *l = &ls[i];
		int64		r = columns_add_row(&lc);

		lc.values[0][r] = Int64GetDatum(100001 + i);
		lc.values[1][r] = CStringGetTextDatum(lang_names[l->lang]);
		lc.values[2][r] = CStringGetTextDatum(industry_names[l->industry]);
		lc.values[3][r] = CStringGetTextDatum(segment_names[l->segment]);
		skills_text(&buf, l->skills, l->nskills);
		lc.values[4][r] = CStringGetTextDatum(buf.data);
		lc.values[5][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(l->joined)));
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.learners SELECT a, b, c, d, array(SELECT DISTINCT s FROM"
					 " unnest(string_to_array(e, ',')) s ORDER BY s), f"
					 " FROM unnest($1, $2, $3, $4, $5, $6) AS u(a, b, c, d, e, f)", qs);
	recs_insert_columns(sql.data, 6, lc.types, lc.values, NULL, lc.n);

	/* watches and impressions, learner by learner */
	{
		Oid			tw[4] = {INT8OID, INT8OID, TIMESTAMPTZOID, FLOAT8OID};
		Oid			ti[6] = {INT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID, BOOLOID, FLOAT8OID};

		columns_init(&wc, 4, tw);
		columns_init(&ic, 6, ti);
	}
	watched = palloc0(sizeof(bool) * ncourses);
	times = palloc(sizeof(double) * 800);
	for (int u = 0; u < nlearners; u++)
	{
		SampleLearner *l = &ls[u];
		int			level_count[N_TOPICS] = {0};
		int			nimp;
		int			chosen[400];
		int			nchosen = 0;

		CHECK_FOR_INTERRUPTS();
		for (int w = 0; w < l->nwatch; w++)
			times[w] = l->joined + (end - l->joined) * rng_uniform(&rng);
		qsort(times, l->nwatch, sizeof(double), double_cmp);

		for (int w = 0; w < l->nwatch; w++)
		{
			double		t = times[w];
			int			ci = -1;
			double		secs;

			if (nchosen > 0 && rng_uniform(&rng) < 0.04)
			{
				/* a re-watch of an earlier course: a repeated pair */
				ci = chosen[rng_below(&rng, nchosen)];
				add_watch(&wc, 100001 + u, ci + 1, t, cs[ci].duration_min * 30.0 * rng_uniform(&rng));
				continue;
			}
			if (rng_uniform(&rng) < 0.12)
			{
				/* a noise watch: any course, abandoned within a minute */
				ci = (int) rng_below(&rng, ncourses);
				if (cs[ci].published > t || watched[ci])
					continue;
				secs = 5 + 50 * rng_uniform(&rng);
			}
			else
			{
				int			topic;
				int			lang;
				int			target;

				if (rng_uniform(&rng) < 0.1)
					topic = (int) rng_below(&rng, N_TOPICS);
				else
				{
					double		tot = 0;
					int			k;

					for (k = 0; k < l->ntopics; k++)
						tot += l->topic_w[k];
					topic = l->topics[rng_pick_weighted(&rng, l->topic_w, l->ntopics, tot)];
				}
				lang = (l->lang == 0 || rng_uniform(&rng) < 0.2) ? 0 : l->lang;
				target = level_count[topic] < 2 ? 0 : (level_count[topic] < 5 ? 1 : 2);
				for (int attempt = 0; attempt < 40 && ci < 0; attempt++)
				{
					CoursePool *p = &pools[topic * N_LANGS + (attempt < 20 ? lang : 0)];
					int			cand;
					double		accept;
					double		age;

					if (p->n == 0)
						continue;
					cand = pool_draw(&rng, p);
					if (watched[cand] || cs[cand].published > t)
						continue;
					age = (t - cs[cand].published) / DAY;
					accept = (cs[cand].level == target ? 1.0 : 0.15) *
						(0.25 + 0.75 * exp(-age / 240.0)) *
						(1.0 + 0.5 * skill_overlap(&cs[cand], l)) / 2.0;
					if (rng_uniform(&rng) < accept)
						ci = cand;
				}
				if (ci < 0)
					continue;
				level_count[topic]++;
				secs = cs[ci].duration_min * 60.0 *
					clampd(0.15 + 0.85 * pow(rng_uniform(&rng), 0.6) - 0.5 * cs[ci].bait, 0.05, 1.0);
			}
			watched[ci] = true;
			chosen[nchosen++] = ci;
			add_watch(&wc, 100001 + u, ci + 1, t, secs);
		}

		/* impressions: half from the learner's topics, half from everywhere */
		nimp = Min(2 * l->nwatch + 5, 200);
		for (int k = 0; k < nimp; k++)
		{
			double		t = l->joined + (end - l->joined) * rng_uniform(&rng);
			int			ci;
			SampleCourse *c;
			double		logit;
			bool		clicked;
			int64		r;

			if (rng_uniform(&rng) < 0.5)
			{
				CoursePool *p = &pools[l->topics[rng_below(&rng, l->ntopics)] * N_LANGS +
									   (rng_uniform(&rng) < 0.5 ? l->lang : 0)];

				ci = p->n ? pool_draw(&rng, p) : (int) rng_below(&rng, ncourses);
			}
			else
				ci = (int) rng_below(&rng, ncourses);
			c = &cs[ci];
			logit = -1.4 + l->bias
				+ 1.1 * Min(topic_affinity(l, c->topic), 1.5)
				+ (c->lang == l->lang ? 0.6 : (c->lang == 0 ? 0.0 : -1.2))
				+ 0.35 * log(c->appeal)
				+ 0.3 * skill_overlap(c, l)
				+ 1.2 * c->bait
				+ (l->segment == 0 && c->level == 0 ? 0.4 : 0.0)
				+ (l->segment == 1 && c->level == 2 ? 0.3 : 0.0);
			clicked = rng_uniform(&rng) < 1.0 / (1.0 + exp(-logit));
			r = columns_add_row(&ic);
			ic.values[0][r] = Int64GetDatum(100001 + u);
			ic.values[1][r] = Int64GetDatum(ci + 1);
			ic.values[2][r] = TimestampTzGetDatum(recs_epoch_to_timestamptz(floor(t)));
			ic.values[3][r] = BoolGetDatum(clicked);
			ic.values[4][r] = BoolGetDatum(clicked && rng_uniform(&rng) <
										   0.1 + 0.25 * Min(topic_affinity(l, c->topic), 1.0) * (1.0 - c->bait));
			if (clicked)
				ic.values[5][r] = Float8GetDatum(round(c->duration_min * 60.0 *
													   clampd(pow(rng_uniform(&rng), 0.8) *
															  (1.0 - 0.8 * c->bait), 0.01, 1.0)));
			else
				ic.nulls[5][r] = true;
		}
		for (int k = 0; k < nchosen; k++)
			watched[chosen[k]] = false;
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.watches SELECT * FROM unnest($1, $2, $3, $4)", qs);
	recs_insert_columns(sql.data, 4, wc.types, wc.values, NULL, wc.n);
	resetStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s.impressions SELECT * FROM unnest($1, $2, $3, $4, $5, $6)", qs);
	recs_insert_columns(sql.data, 6, ic.types, ic.values, (const bool *const *) ic.nulls, ic.n);

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE INDEX ON %s.watches (learner_id, watched_at);"
					 "CREATE INDEX ON %s.impressions (learner_id, shown_at);"
					 "ANALYZE %s.courses; ANALYZE %s.learners;"
					 "ANALYZE %s.watches; ANALYZE %s.impressions;",
					 qs, qs, qs, qs, qs, qs);
	run_sql(sql.data);
	recs_spi_finish(spi_level);
	PG_RETURN_VOID();
}
