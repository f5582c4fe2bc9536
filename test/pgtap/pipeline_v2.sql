-- pipeline_v2.sql -- train_all since 0.4.0: freshness, the winner on a validation
-- slice, column mapping, early validation, the memory estimate and its hint,
-- dry_run, skipped rows, prune
BEGIN;
SET LOCAL client_min_messages = warning;
SET LOCAL TimeZone = 'UTC';
SELECT plan(26);

SELECT count(*) FROM recs.generate_sample('p2', 400, 50, 13);
-- model ids come from a sequence, which a rolled-back training still advances:
-- the way to see that a failed call trained nothing
CREATE FUNCTION pg_temp.ids_used() RETURNS bigint LANGUAGE sql AS
    $$SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM recs.model_model_id_seq$$;
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
    EXECUTE q;
    RETURN NULL;
EXCEPTION WHEN program_limit_exceeded THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $$;

-- 1. the default pipeline: candidates compared, the winner refitted through the end
SELECT recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses', name => 'fresh',
                      blend_days => 30, epochs => 3) AS served \gset
SELECT is((SELECT model_id FROM recs.deployment WHERE slot = 'default'), :served::bigint, 'the served model is active');
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :served), (SELECT max(watched_at) FROM p2.watches),
          'it knows the data through the last watch');
SELECT is((SELECT count(*)::int FROM recs.recommend_all(10) r
             JOIN p2.watches w ON w.learner_id = r.learner_id AND w.course_id = r.course_id
            WHERE w.watch_seconds >= 60),
          0, 'no learner is recommended a course they watched before the end of the data');
SELECT cmp_ok((SELECT count(*)::int FROM recs.recommend_all(10)), '>', 3000, 'every known learner gets a list');
SELECT is((SELECT metrics->'pipeline'->>'winner' FROM recs.model WHERE model_id = :served),
          (SELECT c FROM recs.model m, unnest(ARRAY['rerank_blend', 'click_blend', 'ncf']) WITH ORDINALITY AS u(c, o)
            WHERE m.model_id = :served
            ORDER BY (m.metrics->'pipeline'->'validation'->c->>'recall')::float8 DESC, o LIMIT 1),
          'the winner is the candidate with the best validation Recall@10 (the first on a tie)');
SELECT is((SELECT array_agg(k ORDER BY k) FROM recs.model m, jsonb_object_keys(m.metrics->'pipeline'->'validation') k
            WHERE m.model_id = :served),
          '{click_blend,ncf,rerank_blend}', 'the metrics keep every candidate''s evaluation');
SELECT is((SELECT CASE kind WHEN 'ncf' THEN 'ncf'
                            ELSE CASE WHEN (params->>'rerank_top')::int > 0 THEN 'rerank_blend' ELSE 'click_blend' END END
             FROM recs.model WHERE model_id = :served),
          (SELECT metrics->'pipeline'->>'winner' FROM recs.model WHERE model_id = :served),
          'what serves is the winner');
SELECT is((SELECT count(*)::int FROM recs.model WHERE name LIKE 'fresh\_fit\_%'), 0,
          'the models fitted before the window are gone');

-- 2. a blend's weights carried over to refitted components
SELECT recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses', name => 'rb',
                      blend_days => 30, epochs => 3, candidates => '{rerank_blend}', activate => false) AS rb \gset
SELECT is((SELECT array_agg(m.trained_through > (SELECT max(watched_at) - interval '1 day' FROM p2.watches) ORDER BY b.position)
             FROM recs.blend_component b JOIN recs.model m ON m.model_id = b.component_id WHERE b.model_id = :rb),
          '{t,t}', 'a served blend''s components are refitted through the end of the data');
SELECT is((SELECT count(*)::int FROM recs.recommend_all(10, model => :rb) r
             JOIN p2.watches w ON w.learner_id = r.learner_id AND w.course_id = r.course_id
            WHERE w.watch_seconds >= 60),
          0, 'neither does the blend recommend a watched course');
SELECT ok((SELECT (params->>'weights_fitted_through')::timestamptz < trained_through FROM recs.model WHERE model_id = :rb),
          'its weights were fitted before the refit (no leakage)');

-- 3. the analyst's tables: other names, other types
CREATE SCHEMA an;
CREATE TABLE an.views AS SELECT learner_id::integer AS user_id, course_id::integer AS course_id,
    watched_at::timestamp AS started_at, watch_seconds::numeric AS seconds_watched FROM p2.watches;
CREATE TABLE an.shown AS SELECT learner_id::integer AS user_id, course_id::integer AS course_id,
    shown_at::timestamp AS shown_at, clicked::int::smallint AS clicked FROM p2.impressions;
CREATE TABLE an.users AS SELECT learner_id::integer AS user_id, language, industry, segment FROM p2.learners;
CREATE TABLE an.catalogue AS SELECT course_id::integer AS id, language, topic, difficulty FROM p2.courses;
SELECT recs.train_all('an.views', 'an.shown', 'an.users', 'an.catalogue', name => 'mapped', blend_days => 30,
                      epochs => 3, candidates => '{click_blend}', learner_column => 'user_id',
                      time_column => 'started_at', seconds_column => 'seconds_watched',
                      courses_id_column => 'id', activate => false) AS mapped \gset
SELECT recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses', name => 'plain', blend_days => 30,
                      epochs => 3, candidates => '{click_blend}', activate => false) AS plain \gset
SELECT results_eq(format('SELECT learner_id, rank, course_id, score FROM recs.recommend_all(10, model => %s) ORDER BY 1, 2', :mapped),
                  format('SELECT learner_id, rank, course_id, score FROM recs.recommend_all(10, model => %s) ORDER BY 1, 2', :plain),
                  'integer ids, a timestamp, numeric seconds, a smallint label and courses keyed by id give the same model');
SELECT is((SELECT source->>'watches' FROM recs.model WHERE name = 'mapped_ncf'), 'an.views',
          'the models'' source names the caller''s relations');
SELECT lives_ok($$SELECT recs.train_ncf('an.views', name => 'ncf_by_id', courses => 'an.catalogue', course_column => 'course_id',
                                       courses_id_column => 'id', learner_column => 'user_id', time_column => 'started_at',
                                       seconds_column => 'seconds_watched', epochs => 1, activate => false)$$,
                'train_ncf: the courses relation has its own id column argument');

-- 4. every input is checked before anything trains
SELECT pg_temp.ids_used() AS ids0 \gset
CREATE VIEW an.shown_text AS SELECT user_id, course_id, shown_at, clicked::text AS clicked FROM an.shown;
SELECT throws_ok($$SELECT recs.train_all('an.views', 'an.shown_text', 'an.users', 'an.catalogue', learner_column => 'user_id',
                                        time_column => 'started_at', seconds_column => 'seconds_watched', courses_id_column => 'id')$$,
                 '42804', 'column "clicked" of relation an.shown_text has type text', 'a text label column is refused');
SELECT throws_ok($$SELECT recs.train_all('an.views', 'an.shown', 'an.users', 'an.catalogue', learner_column => 'user_id',
                                        time_column => 'started_at', seconds_column => 'seconds_watched', courses_id_column => 'id',
                                        click_column => 'course_id')$$,
                 '22023', NULL, 'a label column with values other than 0 and 1 is refused');
SELECT throws_ok($$SELECT recs.train_all('an.views', 'an.shown', 'an.users', 'an.catalogue', learner_column => 'user_id',
                                        time_column => 'started_at', seconds_column => 'seconds_watched')$$,
                 '42703', 'column "course_id" does not exist in relation an.catalogue', 'the courses'' id column is checked');
SELECT is(pg_temp.ids_used(), :ids0::bigint, '... and none of them trained a model');

-- 5. the memory of every step, estimated first, with one hint that is right
SET LOCAL recs.memory_limit = '2MB';
SELECT pg_temp.hint_of($$SELECT recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses',
                                               name => 'mem', blend_days => 30, epochs => 3)$$) AS hint \gset
SELECT is(pg_temp.ids_used(), :ids0::bigint, 'over the budget: refused before anything trained');
SELECT substring(:'hint' FROM '''([0-9]+MB)''') AS limit_mb \gset
SET LOCAL recs.memory_limit = :'limit_mb';
SELECT lives_ok($$SELECT recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses',
                                       name => 'mem', blend_days => 30, epochs => 3, activate => false)$$,
                'the hinted budget is enough for every step');
RESET recs.memory_limit;

-- 6. dry_run trains nothing
SELECT pg_temp.ids_used() AS ids1 \gset
SELECT is(recs.train_all('p2.watches', 'p2.impressions', 'p2.learners', 'p2.courses', dry_run => true), NULL,
          'dry_run returns no model');
SELECT is(pg_temp.ids_used(), :ids1::bigint, 'dry_run trained nothing');
SELECT ok((recs._pipeline_estimate(20000, 90000, 4000, 300, 500, 9, 1, 20, 1, '{rerank_blend}', true, 2000, 9000)->>'peak_mb')::float8
          > (recs._pipeline_estimate(2000, 9000, 400, 50, 186, 9, 1, 20, 1, '{rerank_blend}', true, 200, 900)->>'peak_mb')::float8,
          'the estimate grows with the input');

-- 7. rows without a time are counted, not lost
CREATE TABLE an.holes AS SELECT * FROM p2.watches;
INSERT INTO an.holes SELECT learner_id, course_id, NULL, watch_seconds FROM p2.watches LIMIT 7;
SELECT recs.train_all('an.holes', 'p2.impressions', 'p2.learners', 'p2.courses', name => 'holes', blend_days => 30,
                      epochs => 1, candidates => '{ncf}', activate => false) AS holes \gset
SELECT is((SELECT metrics->'pipeline'->'skipped'->>'watches_bad_time' FROM recs.model WHERE model_id = :holes), '7',
          'watches with a NULL time are counted in the metrics');

-- 8. prune: the newest n of each name, and whatever serves or is used
SELECT recs.prune(keep => 0) AS dropped \gset
SELECT set_eq($$SELECT model_id FROM recs.model$$,
              format($$SELECT %s::bigint UNION SELECT component_id FROM recs.blend_component WHERE model_id = %s$$,
                     :served, :served),
              'keep => 0 leaves the deployed model and its components');
SELECT throws_ok($$SELECT recs.prune(keep => -1)$$, '22023', 'keep must not be negative, not -1', 'keep must not be negative');

SELECT * FROM finish();
ROLLBACK;
