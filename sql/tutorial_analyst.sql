-- The README's tutorial, end to end, on a platform's own tables: other column
-- names (user_id, started_at, seconds_watched, displayed_at, courses keyed by id)
-- and other types (integer ids, timestamp, numeric, a smallint click).
SET client_min_messages = warning;
SET TimeZone = 'UTC';

-- 1. the data: the sample platform, copied into the platform's shapes
SELECT count(*) AS tables FROM recs.generate_sample('tut_src', 400, 50, 21);
CREATE SCHEMA app;
CREATE TABLE app.watches AS
SELECT learner_id::integer AS user_id, course_id::integer AS course_id, watched_at::timestamp AS started_at,
       watch_seconds::numeric AS seconds_watched
  FROM tut_src.watches;
CREATE TABLE app.impressions AS
SELECT learner_id::integer AS user_id, course_id::integer AS course_id, shown_at::timestamp AS displayed_at,
       clicked::integer::smallint AS clicked
  FROM tut_src.impressions;
CREATE TABLE app.learners AS
SELECT learner_id::integer AS user_id, language, industry, segment FROM tut_src.learners;
CREATE TABLE app.courses AS
SELECT course_id::integer AS id, title, language, topic, difficulty FROM tut_src.courses;
-- the last month is held out to check what is served
CREATE VIEW app.next_month_watches AS
SELECT user_id, course_id FROM app.watches WHERE started_at > '2025-12-01' AND seconds_watched >= 60;

-- 2. train: first a dry run (checks everything, trains nothing), then the pipeline
SELECT count(*) AS models_before FROM recs.model \gset
SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses',
                      through => '2025-12-01', epochs => 3, dry_run => true,
                      learner_column => 'user_id', time_column => 'started_at',
                      seconds_column => 'seconds_watched', shown_column => 'displayed_at',
                      courses_id_column => 'id') IS NULL AS dry_run_trained_nothing;
SELECT count(*) - :models_before AS trained_by_the_dry_run FROM recs.model;
SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses',
                      through => '2025-12-01', epochs => 3, blend_effects => '{user_id,segment}',
                      learner_column => 'user_id', time_column => 'started_at',
                      seconds_column => 'seconds_watched', shown_column => 'displayed_at',
                      courses_id_column => 'id') AS served \gset
SELECT m.kind, m.metrics->'pipeline'->>'winner' AS winner,
       (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(m.metrics->'pipeline'->'validation') k) AS compared,
       m.trained_through = '2025-12-01' AS knows_through_the_end, m.deployed_in
  FROM recs.models m WHERE m.model_id = :served;
-- the errors name the platform's columns and the argument that maps them
\set SHOW_CONTEXT never
SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses', learner_column => 'user_id');
SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses', learner_column => 'user_id',
                      time_column => 'started_at', seconds_column => 'seconds_watched', shown_column => 'displayed_at');

-- 3. serve
SELECT count(*) AS top_10, bool_and(score IS NOT NULL) AS scored FROM recs.recommend(100001, 10);
-- nothing watched by the end of the training data is recommended, to anyone
SELECT count(*) AS already_watched
  FROM recs.recommend_all(10) r
  JOIN app.watches w ON w.user_id = r.learner_id AND w.course_id = r.course_id
 WHERE w.started_at <= '2025-12-01' AND w.seconds_watched >= 60;
-- + watches since training, and a filter through the courses' own id column
SELECT count(*) FILTER (WHERE course_id IN (17, 42)) AS recent_shown
  FROM recs.recommend(100001, 50, recent => ARRAY[17, 42]);
SELECT count(*) AS spanish_only, bool_and(c.language = 'es') AS all_spanish
  FROM recs.recommend(100001, 10, candidates => ARRAY(SELECT id FROM app.courses WHERE language = 'es')) r
  JOIN app.courses c ON c.id = r.course_id;
SELECT count(DISTINCT learner_id) > 300 AS everyone FROM recs.recommend_all(20);
SELECT count(*) AS similar FROM recs.similar_courses(42, 10);
SELECT count(*) > 0 AS explained
  FROM recs.explain_recommendation(100001, (SELECT course_id FROM recs.recommend(100001, 1)));

-- 4. check on the held-out month
SELECT e ? 'recall' AS evaluated, (e->>'learners')::int > 50 AS learners
  FROM recs.evaluate(:served, 'app.next_month_watches', 10, learner_column => 'user_id') e;

-- 5. the next night, and keeping only what is needed
SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses',
                      epochs => 3, blend_effects => '{user_id,segment}',
                      learner_column => 'user_id', time_column => 'started_at',
                      seconds_column => 'seconds_watched', shown_column => 'displayed_at',
                      courses_id_column => 'id') > :served AS retrained;
SELECT recs.prune(keep => 1) > 0 AS pruned;
SELECT name, kind, version, deployed_in FROM recs.models WHERE name LIKE 'recs\_%' ORDER BY model_id;
