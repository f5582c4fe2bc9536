-- evaluate_multi.sql -- evaluate for analysts: store => (stored only when
-- asked, or by default when the caller may write the catalog), a serving
-- role that evaluates without any model table privilege, and
-- evaluate_models comparing several models in one call, on hand-checked data.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(17);

-- model a ranks course 10 first (3 of 4 learners), model b course 30 (2 of 4)
CREATE TABLE public.em_wa (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO em_wa VALUES (1, 10, '2025-06-01', 120), (2, 10, '2025-06-02', 120),
                         (3, 10, '2025-06-03', 120), (4, 20, '2025-06-04', 120);
CREATE TABLE public.em_wb (LIKE em_wa);
INSERT INTO em_wb VALUES (1, 30, '2025-06-01', 120), (2, 30, '2025-06-02', 120),
                         (3, 20, '2025-06-03', 120), (4, 10, '2025-06-04', 120);
SELECT recs.train_popularity('em_wa', name => 'em_a', activate => false) AS a \gset
SELECT recs.train_popularity('em_wb', name => 'em_b', activate => false) AS b \gset
-- two new learners; each watched course 30 after training
CREATE TABLE public.em_test (learner_id bigint, course_id bigint);
INSERT INTO em_test VALUES (98, 30), (99, 30);

-- ---- store => ----
SELECT is(recs.evaluate(:a, 'em_test', 1, store => false)->'recall', '0.000000'::jsonb,
          'model a: top-1 is course 10, recall@1 0');
SELECT is((SELECT metrics->'evaluation' FROM recs.model WHERE model_id = :a), NULL, 'store => false: nothing stored');
SELECT is(recs.evaluate(:b, 'em_test', 1, store => true)->'recall', '1.000000'::jsonb,
          'model b: top-1 is course 30, recall@1 1');
SELECT ok((SELECT metrics->'evaluation' ? 'full@1 public.em_test' FROM recs.model WHERE model_id = :b), 'store => true: stored');
SELECT is(recs.evaluate(:a, 'em_test', 2)->'unscored_test_courses', '2'::jsonb,
          'model a cannot rank course 30: both test rows unscored');
SELECT ok((SELECT metrics->'evaluation' ? 'full@2 public.em_test' FROM recs.model WHERE model_id = :a),
          'store => NULL, by a role that may write recs.model: stored, as before');

-- ---- several models: (model, metric, value) ----
SELECT results_eq(format($$SELECT model, metric, value FROM recs.evaluate_models(ARRAY[%s, %s], 'em_test', 1, store => false)
                            WHERE metric IN ('recall', 'ndcg', 'mrr', 'coverage', 'unscored_test_courses')$$, :b, :a),
                  format($$VALUES (%s::bigint, 'coverage', 0.333333::float8), (%1$s, 'mrr', 1), (%1$s, 'ndcg', 1), (%1$s, 'recall', 1),
                                  (%1$s, 'unscored_test_courses', 0),
                                  (%2$s, 'coverage', 0.5), (%2$s, 'mrr', 0), (%2$s, 'ndcg', 0), (%2$s, 'recall', 0),
                                  (%2$s, 'unscored_test_courses', 2)$$, :b, :a),
                  'evaluate_models: each model''s hand-checked metrics, in the order given (coverage rounded to 6 digits)');
SELECT is((SELECT count(DISTINCT metric)::int FROM recs.evaluate_models(ARRAY[:a, :b], 'em_test', 1, store => false)), 7,
          'the full protocol''s numbers: k, learners, recall, ndcg, mrr, coverage, unscored_test_courses');
SELECT is((SELECT count(*)::int FROM recs.evaluate_models('{}', 'em_test')), 0, 'no models: no rows');
SELECT throws_ok($$SELECT * FROM recs.evaluate_models(ARRAY[1, NULL], 'em_test')$$, '22004',
                 'models must not be NULL or hold NULL', 'a NULL model id is an error');

-- ---- an analyst with serving access only ----
CREATE TABLE public.em_secret (LIKE em_test);
CREATE ROLE recs_tap_analyst;
SELECT recs.grant_access('recs_tap_analyst');
GRANT SELECT ON em_test TO recs_tap_analyst;
CREATE ROLE recs_tap_nobody;
GRANT USAGE ON SCHEMA recs TO recs_tap_nobody;
GRANT SELECT ON em_test TO recs_tap_nobody;
UPDATE recs.model SET metrics = metrics - 'evaluation' WHERE model_id = :b;
SET LOCAL ROLE recs_tap_analyst;
SELECT is(recs.evaluate(:b, 'em_test', 1)->'recall', '1.000000'::jsonb, 'a serving role evaluates (read as serving reads)');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'em_test', 1, store => true)$$, :b), '42501', NULL,
                 'but store => true needs the right to update recs.model');
SELECT is((SELECT count(*)::int FROM recs.evaluate_models(ARRAY[:a, :b], 'em_test', 1) WHERE metric = 'recall'), 2,
          'and compares models');
SELECT throws_ok($$SELECT 1 FROM recs.model_learner LIMIT 1$$, '42501', NULL, 'while it still reads no model table');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'em_secret')$$, :b), '42501', NULL,
                 'the test relation is read with its own rights');
RESET ROLE;
SELECT is((SELECT metrics->'evaluation' FROM recs.model WHERE model_id = :b), NULL, 'the analyst stored nothing');
SET LOCAL ROLE recs_tap_nobody;
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'em_test', 1)$$, :b), '42501', NULL,
                 'a role that may not serve still may not read the model');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
