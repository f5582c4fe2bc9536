-- train_counts.sql -- train_popularity on watches distributed by Citus
-- (scripts/test_citus.sh, after serving.sql): the counts are SQL aggregates
-- pushed down to the shards (src/popularity/popularity_pushdown.c), local
-- watches keep the C path (ingest/watches.c); both must give the same
-- model, row for row, also on rows ingest skips or merges.  The plans are
-- checked by train_counts_plan.sh.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(13);

-- a part of the platform, plus every kind of row ingest skips or merges
-- (a distribution column cannot be NULL: NULL ids are NULL courses here)
CREATE TABLE single.dirty (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO single.dirty SELECT learner_id, course_id, watched_at, watch_seconds FROM single.watches WHERE learner_id < 101000;
INSERT INTO single.dirty VALUES
    (100001, NULL, '2025-12-30', 600),              -- NULL id
    (100002, 7, NULL, 600),                          -- NULL time
    (100003, 7, 'infinity', 600),                    -- infinite time
    (100004, 7, '-infinity', 600),
    (100005, 7, '2025-12-30', 'NaN'),                -- NaN watch time
    (100006, 7, '2025-12-30', -5),                   -- negative
    (100007, 7, '2025-12-30', NULL),                 -- NULL
    (100008, 7, '2025-12-30', 'Infinity'),           -- infinite
    (100009, 7, '2025-12-30', 59.5),                 -- short (under 60 s)
    (100010, 9, '2025-12-29', 600),                  -- a pair three times: the earliest counts,
    (100010, 9, '2025-12-30', 600),                  -- so 100010 is a new watcher of 9 in the window
    (100010, 9, '2025-08-01', 30),                   -- (a short one earlier does not count)
    (100011, 9, '2025-09-01', 600),                  -- earliest outside the 90 days: not a new watcher
    (100011, 9, '2025-12-30', 600),
    (999001, 9, '2025-12-30', 600),                  -- a learner the learners relation lacks
    (999002, 11, '2025-12-31', 600);
CREATE TABLE single.dirty_learners (learner_id bigint, language varchar(8));
INSERT INTO single.dirty_learners SELECT learner_id, language FROM single.learners WHERE learner_id < 101000;
UPDATE single.dirty_learners SET language = '' WHERE learner_id IN (100010, 100012);
UPDATE single.dirty_learners SET language = NULL WHERE learner_id = 100013;
INSERT INTO single.dirty_learners VALUES (999003, 'xx'), (999004, NULL);   -- no watches
CREATE TABLE app.dirty (LIKE single.dirty);
CREATE TABLE app.dirty_learners (LIKE single.dirty_learners);
SELECT create_distributed_table('app.dirty_learners', 'learner_id', colocate_with => 'app.learners');
SELECT create_distributed_table('app.dirty', 'learner_id', colocate_with => 'app.learners');
INSERT INTO app.dirty SELECT * FROM single.dirty;
INSERT INTO app.dirty_learners SELECT * FROM single.dirty_learners;

-- (a temporary function stays on the coordinator, as Citus warns)
SET client_min_messages = error;
CREATE FUNCTION pg_temp.model_text(mname text) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(' | ',
        (SELECT md5(string_agg(format('%s/%s/%s/%s', language, course_id, watchers, score), ',' ORDER BY language, course_id))
           FROM recs.course_popularity WHERE model_id = recs.model_id(mname)),
        (SELECT md5(string_agg(format('%s/%s/%s', learner_id, language, watched), ',' ORDER BY learner_id))
           FROM recs.model_learner WHERE model_id = recs.model_id(mname)),
        (SELECT (metrics - 'citus_shards')::text || ' ' || trained_through FROM recs.model WHERE model_id = recs.model_id(mname)))
$$;

SELECT recs.train_popularity('app.dirty', 'app.dirty_learners', name => 'tc_d', activate => false);
SELECT recs.train_popularity('single.dirty', 'single.dirty_learners', name => 'tc_s', activate => false);
SELECT is(pg_temp.model_text('tc_d'), pg_temp.model_text('tc_s'),
          'pushed-down counts: the same scores, learners, metrics and through as the C path, dirty rows included');
SELECT is((SELECT array_agg(coalesce(metrics->>'citus_shards', 'none') ORDER BY name) FROM recs.model WHERE name IN ('tc_d', 'tc_s')),
          ARRAY['8', 'none'], 'metrics->''citus_shards'': 8 for the pushed-down counts, absent for the C path');

-- plain views (what train_all passes: a cut in time, columns renamed) of a
-- distributed table are pushed down too; any other view is read by the C path
SET client_min_messages = error;
SET citus.enable_ddl_propagation = off;
CREATE TEMP VIEW cut_d AS SELECT learner_id AS l, course_id AS c, watched_at AS t, watch_seconds AS s
    FROM app.dirty WHERE watched_at < '2025-12-01';
CREATE TEMP VIEW cut_d2 AS SELECT * FROM cut_d WHERE s IS NOT NULL;
CREATE TEMP VIEW cut_s AS SELECT learner_id AS l, course_id AS c, watched_at AS t, watch_seconds AS s
    FROM single.dirty WHERE watched_at < '2025-12-01';
CREATE TEMP VIEW cut_d_distinct AS SELECT DISTINCT * FROM cut_d;
CREATE TEMP VIEW lang_d AS SELECT learner_id AS l, language AS lang FROM app.dirty_learners;
CREATE TEMP VIEW lang_s AS SELECT learner_id AS l, language AS lang FROM single.dirty_learners;
RESET citus.enable_ddl_propagation;
SET client_min_messages = warning;
SELECT recs.train_popularity(v, lv, name => v, activate => false, learner_column => 'l', course_column => 'c',
                             time_column => 't', seconds_column => 's', language_column => 'lang', learners_id_column => 'l')
  FROM (VALUES ('pg_temp.cut_d', 'pg_temp.lang_d'), ('pg_temp.cut_d2', 'pg_temp.lang_d'), ('pg_temp.cut_s', 'pg_temp.lang_s'),
               ('pg_temp.cut_d_distinct', 'pg_temp.lang_d')) x(v, lv);
SELECT is((SELECT array_agg(coalesce(metrics->>'citus_shards', 'none') ORDER BY name) FROM recs.model
            WHERE name IN ('pg_temp.cut_d', 'pg_temp.cut_d2', 'pg_temp.cut_s', 'pg_temp.cut_d_distinct')),
          ARRAY['8', '8', 'none', 'none'],
          'a plain view of distributed watches, and a view of that view, are pushed down; a plain table''s and a DISTINCT view are not');
SELECT is(pg_temp.model_text('pg_temp.cut_d'), pg_temp.model_text('pg_temp.cut_s'),
          'a plain view of distributed watches: the same model as the same view of the plain copy');
SELECT is(pg_temp.model_text('pg_temp.cut_d_distinct'), pg_temp.model_text('pg_temp.cut_s'),
          'a DISTINCT view of them (read by the C path): the same model too');
-- the dirty rows by hand; short and repeated over the whole table by SQL
SELECT is((SELECT metrics->'skipped' FROM recs.model WHERE name = 'tc_d'),
          (SELECT jsonb_build_object('null_id', 1, 'bad_time', 3, 'bad_watch_seconds', 4,
                                     'short', count(*) FILTER (WHERE watch_seconds < 60),
                                     'duplicate', count(*) FILTER (WHERE watch_seconds >= 60)
                                                  - count(DISTINCT (learner_id, course_id)) FILTER (WHERE watch_seconds >= 60))
             FROM single.dirty
            WHERE course_id IS NOT NULL AND isfinite(watched_at) AND watch_seconds <> 'NaN'
              AND watch_seconds BETWEEN 0 AND 1e300),
          'and every skipped row is counted by its reason');
SELECT is((SELECT watched @> ARRAY[9::bigint] AND language IS NULL FROM recs.model_learner
            WHERE model_id = recs.model_id('tc_d') AND learner_id = 100010), true,
          'a learner whose language is '''' has none, and keeps the course of a repeated watch');
SELECT is((SELECT array_agg(learner_id || ':' || coalesce(language, '-') || ':' || cardinality(watched) ORDER BY learner_id)
             FROM recs.model_learner WHERE model_id = recs.model_id('tc_d') AND learner_id > 999000),
          ARRAY['999001:-:1', '999002:-:1', '999003:xx:0', '999004:-:0'],
          'learners without a learners row, and learners without watches, are stored as by the C path');
-- course 7's dirty rows count for nothing, course 9's for 100010 and 999001 (new in the
-- window) and not for 100011 (first watched before it): against the same table without them
CREATE TABLE single.clean AS SELECT * FROM single.dirty WHERE learner_id < 101000 AND learner_id NOT BETWEEN 100001 AND 100011;
INSERT INTO single.clean SELECT * FROM single.watches WHERE learner_id BETWEEN 100001 AND 100011;
SELECT recs.train_popularity('single.clean', name => 'tc_c', through => '2026-01-01', activate => false);
SELECT recs.train_popularity('app.dirty', name => 'tc_d3', through => '2026-01-01', activate => false);
SELECT is((SELECT array_agg(d.watchers - c.watchers ORDER BY course_id)
             FROM recs.course_popularity d JOIN recs.course_popularity c USING (course_id)
            WHERE d.model_id = recs.model_id('tc_d3') AND c.model_id = recs.model_id('tc_c')
              AND d.language IS NULL AND c.language IS NULL AND course_id IN (7, 9, 11)),
          (SELECT array_agg(n ORDER BY course_id) FROM (VALUES (7, 0), (9, 2), (11, 1)) v(course_id, n)
            WHERE course_id IN (SELECT course_id FROM recs.course_popularity WHERE model_id = recs.model_id('tc_c'))),
          'hand-checked: course 7 gains no watcher, course 9 two, course 11 one');

-- without languages, another window, a time before the last watch
SELECT recs.train_popularity('app.dirty', name => 'tc_d2', window_days => 30, through => '2025-11-15', smoothing => 5, activate => false);
SELECT recs.train_popularity('single.dirty', name => 'tc_s2', window_days => 30, through => '2025-11-15', smoothing => 5, activate => false);
SELECT is(pg_temp.model_text('tc_d2'), pg_temp.model_text('tc_s2'),
          'without languages, a 30-day window through a past day: the same model');
SELECT cmp_ok((SELECT max(cardinality(watched)) FROM recs.model_learner WHERE model_id = recs.model_id('tc_d2')), '<',
              (SELECT max(cardinality(watched)) FROM recs.model_learner WHERE model_id = recs.model_id('tc_d')),
              'and its histories stop at through');

-- the whole platform: the same model, served alike on the workers
SELECT recs.train_popularity('app.watches', 'app.learners', name => 'tc_pd', activate => false);
SELECT recs.train_popularity('single.watches', 'single.learners', name => 'tc_ps', activate => false);
SELECT is(pg_temp.model_text('tc_pd'), pg_temp.model_text('tc_ps'),
          'the whole distributed platform: the same model as from the plain copy');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(format(
             $$SELECT md5(string_agg(format('%%s:%%s:%%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
                 FROM generate_series(100001, 100050) g, recs.recommend(g, 10, model => %s) r$$, recs.model_id('tc_pd')))),
          (SELECT array_agg(x) FROM (SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) x
             FROM generate_series(100001, 100050) g, recs.recommend(g, 10, model => recs.model_id('tc_ps')) r) s, generate_series(1, 2)),
          'recommend() on each worker with the pushed-down model: the coordinator''s lists from the C-path model');

SELECT * FROM finish();
DROP TABLE single.dirty, single.dirty_learners, single.clean, app.dirty, app.dirty_learners CASCADE;
