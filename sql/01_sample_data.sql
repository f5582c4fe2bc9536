-- recs.generate_sample(): seeded, realistic learning-platform tables.
SELECT * FROM recs.generate_sample('demo', learners => 400, courses => 80, seed => 7);

-- the tables and their columns
SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position)
  FROM information_schema.columns WHERE table_schema = 'demo'
 GROUP BY table_name ORDER BY table_name;

-- courses: languages, topics and difficulties all occur; ids are 1..courses
SELECT count(*) AS courses, min(course_id), max(course_id),
       count(DISTINCT language) AS languages, count(DISTINCT topic) AS topics,
       array_agg(DISTINCT difficulty ORDER BY difficulty) AS difficulties
  FROM demo.courses;

-- learners: three segments, ids start at 100001
SELECT segment, count(*) > 0 AS present FROM demo.learners GROUP BY segment ORDER BY segment;
SELECT min(learner_id), max(learner_id) FROM demo.learners;

-- watches happen after the course is published and after the learner joined,
-- within the two years that end at end_at
SELECT count(*) FILTER (WHERE w.watched_at < c.published_at) AS before_publication,
       count(*) FILTER (WHERE w.watched_at < l.joined_at) AS before_joining,
       count(*) FILTER (WHERE w.watched_at >= '2026-01-01' OR w.watched_at < '2024-01-01') AS outside
  FROM demo.watches w JOIN demo.courses c USING (course_id) JOIN demo.learners l USING (learner_id);

-- activity is heavy-tailed: the busiest tenth of learners watch far more than the median
SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY n) >= 2 * percentile_disc(0.5) WITHIN GROUP (ORDER BY n)
       AS heavy_tailed
  FROM (SELECT count(*) AS n FROM demo.watches GROUP BY learner_id) a;

-- noise watches (under a minute) and re-watches are part of the data
SELECT count(*) FILTER (WHERE watch_seconds < 60) > 0 AS has_short_watches,
       (SELECT count(*) FROM (SELECT 1 FROM demo.watches GROUP BY learner_id, course_id
                               HAVING count(*) > 1) d) > 0 AS has_rewatches
  FROM demo.watches;

-- most watches are in the learner's own language
SELECT round(avg((c.language = l.language)::int), 1) >= 0.6 AS mostly_own_language
  FROM demo.watches w JOIN demo.courses c USING (course_id) JOIN demo.learners l USING (learner_id)
 WHERE w.watch_seconds >= 60;

-- impressions: bookmarks only on clicks, watch time only on clicks
SELECT count(*) FILTER (WHERE bookmarked AND NOT clicked) AS bookmark_without_click,
       count(*) FILTER (WHERE watch_seconds IS NOT NULL AND NOT clicked) AS watch_without_click,
       avg(clicked::int) BETWEEN 0.2 AND 0.8 AS click_rate_plausible
  FROM demo.impressions;

-- impressions come from three channels: search (intent) is clicked most, the feed least
SELECT array_agg(channel ORDER BY rate DESC) AS channels_by_click_rate
  FROM (SELECT channel, avg(clicked::int) AS rate FROM demo.impressions GROUP BY channel) c;

-- watch time after a click follows what the features show: bait courses are
-- left early; a course at the learner's level (job seekers: beginner,
-- enterprise: advanced) and in the learner's language is watched further
SELECT avg(f) FILTER (WHERE l.segment = 'job_seeker' AND c.difficulty = 'beginner')
     > avg(f) FILTER (WHERE l.segment = 'job_seeker' AND c.difficulty = 'advanced') AS job_seekers_finish_beginner,
       avg(f) FILTER (WHERE l.segment = 'enterprise' AND c.difficulty = 'advanced')
     > avg(f) FILTER (WHERE l.segment = 'enterprise' AND c.difficulty = 'beginner') AS enterprise_finishes_advanced,
       avg(f) FILTER (WHERE l.language = c.language)
     > avg(f) FILTER (WHERE l.language <> c.language) AS own_language_watched_further
  FROM (SELECT i.*, i.watch_seconds / (60.0 * c.duration_minutes) AS f FROM demo.impressions i
          JOIN demo.courses c USING (course_id) WHERE i.clicked) i
  JOIN demo.courses c USING (course_id) JOIN demo.learners l USING (learner_id);

-- the same seed gives the same data
SELECT * FROM recs.generate_sample('demo2', learners => 400, courses => 80, seed => 7);
SELECT (SELECT count(*) FROM (SELECT * FROM demo.watches EXCEPT ALL SELECT * FROM demo2.watches) d)
     + (SELECT count(*) FROM (SELECT * FROM demo2.watches EXCEPT ALL SELECT * FROM demo.watches) d)
     AS differing_watches;
DROP SCHEMA demo2 CASCADE;

\set VERBOSITY terse
-- existing tables are kept unless replace => true
SELECT * FROM recs.generate_sample('demo', 10, 20);
SELECT * FROM recs.generate_sample('demo', 0, 20);
SELECT * FROM recs.generate_sample(NULL);
