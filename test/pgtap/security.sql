-- security.sql -- the 0.2.1 fixes that are not about hostile bytes (those
-- are hostile_blocks.sql and corrupt_models.sql, the search_path defence is
-- search_path.sql): who may call the GLMix internals, a model id reused in
-- one transaction, and feature names that cannot collide.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(15);

-- ---- the aggregates' internals are not PUBLIC ----
CREATE ROLE recs_sec_app;
CREATE ROLE recs_sec_etl;
SELECT recs.grant_access('recs_sec_app');
SELECT recs.grant_access('recs_sec_etl', training => true);
SET LOCAL ROLE recs_sec_app;
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats('\x00'::bytea, NULL, NULL)$$, '42501', NULL,
                 'a serving role may not run the block aggregate of the fixed effect');
SELECT throws_ok($$SELECT recs.glmix_entity_fit('\x00'::bytea, NULL::float8[], NULL::float8[], 1.0)$$, '42501', NULL,
                 'nor that of the random effects');
SELECT lives_ok($$SELECT recs.glmix_fixed_stats(1, 1, 0, '{1}', NULL, '{0,0}')$$,
                'the documented row form stays open to everyone');
RESET ROLE;
SELECT ok(has_function_privilege('recs_sec_etl', 'recs.glmix_fixed_block_stats(bytea, float8[], float8[])', 'EXECUTE')
          AND has_function_privilege('recs_sec_etl', 'recs.glmix_entity_fit(bytea, float8[], float8[], float8)', 'EXECUTE'),
          'grant_access(training => true) lets a training role run the block aggregates');
SELECT ok(has_function_privilege('recs_sec_etl', 'recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer)', 'EXECUTE')
          AND has_function_privilege('recs_sec_etl', 'recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer)', 'EXECUTE')
          AND has_function_privilege('recs_sec_etl', 'recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[])', 'EXECUTE')
          AND has_function_privilege('recs_sec_etl', 'recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[])', 'EXECUTE')
          AND NOT has_function_privilege('recs_sec_app', 'recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer)', 'EXECUTE'),
          'and the flat path''s channel functions (a serving role: not)');
SELECT recs.revoke_access('recs_sec_etl');
SELECT ok(NOT has_function_privilege('recs_sec_etl', 'recs.glmix_fixed_block_stats(bytea, float8[], float8[])', 'EXECUTE'),
          'and revoke_access takes that back');
SELECT ok(NOT has_function_privilege('recs_sec_etl', 'recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer)', 'EXECUTE')
          AND NOT has_function_privilege('recs_sec_etl', 'recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer)', 'EXECUTE'),
          'the channel functions too');
-- (their internal arguments keep them from SQL, and only a superuser can
-- build an aggregate with internal state over them; still, nobody has them)
SELECT is((SELECT count(*)::int FROM pg_proc p
            WHERE p.pronamespace = 'recs'::regnamespace AND p.proname LIKE '\_glmix\_%'
              AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'no _glmix_ support function is executable by PUBLIC');

-- ---- a model id reused within one transaction is a different model ----
CREATE TABLE public.sec_w1 (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO public.sec_w1 SELECT g, 10, '2025-06-01'::timestamptz + g * interval '1 hour', 300 FROM generate_series(1, 5) g;
INSERT INTO public.sec_w1 VALUES (1, 11, '2025-06-02', 300);
CREATE TABLE public.sec_w2 (LIKE public.sec_w1);
INSERT INTO public.sec_w2 SELECT g, 20, '2025-06-01'::timestamptz + g * interval '1 hour', 300 FROM generate_series(1, 5) g;
INSERT INTO public.sec_w2 VALUES (1, 21, '2025-06-02', 300);
SELECT recs.train_popularity('public.sec_w1', name => 'sec_first', activate => false, smoothing => 0) AS first \gset
SELECT is((SELECT course_id FROM recs.recommend(99, 1, model => :first)), 10::bigint, 'the first model serves course 10');
SELECT recs.drop_model(:first);
SELECT format('ALTER TABLE recs.model ALTER COLUMN model_id RESTART WITH %s', :first) \gexec
SELECT recs.train_popularity('public.sec_w2', name => 'sec_second', activate => false, smoothing => 0) AS second \gset
SELECT is(:second::bigint, :first::bigint, 'the second model took the first one''s id');
SELECT is((SELECT course_id FROM recs.recommend(99, 1, model => :second)), 20::bigint,
          'and the same transaction is served the second model, not the cached first');
SELECT isnt((SELECT cache_token FROM recs.model WHERE model_id = :second), NULL, 'every model has a cache token');

-- ---- feature names cannot collide ----
CREATE SCHEMA sec;
CREATE TABLE sec.learners (learner_id bigint, language text);
INSERT INTO sec.learners VALUES (1, 'en & topic=ai'), (2, 'en'), (3, 'de'), (4, 'de');
CREATE TABLE sec.courses (course_id bigint, topic text);
INSERT INTO sec.courses VALUES (10, 'ai'), (11, 'x"y'), (12, ' padded ');
CREATE TABLE sec.imp (learner_id bigint, course_id bigint, clicked boolean);
INSERT INTO sec.imp SELECT l, c, (l + c) % 2 = 0 FROM generate_series(1, 4) l, generate_series(10, 12) c;
SELECT recs.train_glmix('sec.imp', 'sec.learners', 'sec.courses', '{language}', '{topic}', name => 'sec_names',
                        random_effects => '{}', crosses => '{language:topic}', l2 => '{1}', passes => 1) AS names \gset
SELECT is((SELECT count(DISTINCT feature) = count(*) FROM recs.glmix_coefficients WHERE model_id = :names), true,
          'every feature name of the model is distinct');
SELECT ok((SELECT bool_or(feature = 'language="en & topic=ai"') AND bool_or(feature = 'language=en & topic=ai')
             FROM recs.glmix_coefficients WHERE model_id = :names),
          'a value holding a separator is quoted, and differs from the cross it resembles');
SELECT ok((SELECT bool_or(feature = 'topic="x""y"') AND bool_or(feature = 'topic=" padded "')
             FROM recs.glmix_coefficients WHERE model_id = :names),
          'quotes are doubled, and white space at an end is kept inside quotes');

SELECT * FROM finish();
ROLLBACK;
