-- evaluate.sql -- recs.evaluate() on hand-checked cases
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(14);

CREATE TEMP TABLE w (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO w VALUES (1, 10, '2025-06-01', 120), (1, 20, '2025-06-02', 120), (2, 10, '2025-06-03', 120),
                     (3, 30, '2025-06-04', 120), (4, 20, '2025-06-05', 120);
CREATE TEMP TABLE l (learner_id bigint, language text);
INSERT INTO l VALUES (1, 'en'), (2, 'en'), (3, 'fr'), (5, 'fr');
SELECT recs.train_popularity('w', 'l', smoothing => 2) AS m \gset
-- scores: en {10: .75, 20: .5, 30: .125}, fr {10: 1/3, 20: 1/3, 30: .5}, everyone {10: .5, 20: .5, 30: .25}

CREATE TEMP TABLE t_full (learner_id bigint, course_id bigint);
INSERT INTO t_full VALUES (2, 20), (3, 20);
-- learner 2 ranks [20, 30]: hit at 1; learner 3 ranks [10, 20] (tie, smaller id first): hit at 2
SELECT is(recs.evaluate(:m, 't_full', 10) - 'unscored_test_courses',
          jsonb_build_object('protocol', 'full', 'k', 10, 'learners', 2, 'recall', 1.0,
                             'ndcg', round((1 + 1 / log(2, 3))::numeric / 2, 6), 'mrr', 0.75, 'coverage', 1.0),
          'full ranking at k = 10: recall, NDCG, MRR, coverage by hand');
SELECT is(recs.evaluate(:m, 't_full', 1) - 'unscored_test_courses',
          jsonb_build_object('protocol', 'full', 'k', 1, 'learners', 2, 'recall', 0.5,
                             'ndcg', 0.5, 'mrr', 0.75, 'coverage', round(2 / 3.0, 6)),
          'full ranking at k = 1: the tie pushes learner 3''s hit out of the list');
SELECT ok((SELECT metrics->'evaluation' ? 'full@1 pg_temp.t_full' FROM recs.model WHERE model_id = :m)
          OR (SELECT bool_or(key LIKE 'full@1 %t_full') FROM recs.model, jsonb_object_keys(metrics->'evaluation') key
               WHERE model_id = :m),
          'the result is stored with the model');

CREATE TEMP TABLE t_s (learner_id bigint, course_id bigint, negatives bigint[]);
INSERT INTO t_s VALUES (99, 30, '{10,20}');
SELECT is((recs.evaluate(:m, 't_s', 2, 'sampled'))->'hr', '0'::jsonb, 'rank 3 is no hit at k = 2');
SELECT is((recs.evaluate(:m, 't_s', 3, 'sampled')) - 'protocol' - 'k' - 'rows',
          '{"hr": 1, "ndcg": 0.5, "unscored_positives": 0}'::jsonb, 'rank 3 at k = 3: NDCG 1/log2(4)');
TRUNCATE t_s;
INSERT INTO t_s VALUES (99, 20, '{10}'), (99, 40, '{10,30}');
-- 20 ties with 10 and loses on the id (rank 2); 40 is unknown to the model (ranked last, rank 3)
SELECT is((recs.evaluate(:m, 't_s', 2, 'sampled')) - 'protocol' - 'k',
          jsonb_build_object('rows', 2, 'hr', 0.5, 'ndcg', round((1 / log(2, 3))::numeric / 2, 6),
                             'unscored_positives', 1),
          'ties go to the smaller id; an unscored positive ranks below every scored negative');

-- response: AUC and log-loss of labelled pairs (an unknown learner: everyone's shares)
CREATE TEMP TABLE t_r (learner_id bigint, course_id bigint, clicked boolean);
INSERT INTO t_r VALUES (99, 10, true), (99, 30, false), (99, 20, false), (99, 40, true);
-- scores 10: .5, 30: .25, 20: .5 -> the positive beats one negative and ties one: AUC .75
SELECT is(recs.evaluate(:m, 't_r', protocol => 'response'),
          jsonb_build_object('protocol', 'response', 'rows', 4, 'scored', 3, 'auc', 0.75,
                             'logloss', round(((2 * ln(2) + ln(4 / 3.0)) / 3)::numeric, 6)),
          'response: AUC with ties counted half, log-loss of the shares, unscored course left out');
CREATE TEMP TABLE t_r2 AS SELECT learner_id, course_id, clicked::int * 2 AS clicked FROM t_r;
SELECT throws_ok(format('SELECT recs.evaluate(%s, %L, protocol => %L)', :m, 't_r2', 'response'), '22023', NULL,
                 'labels must be 0 or 1');
SELECT throws_ok(format('SELECT recs.evaluate(%s, %L, protocol => %L, label_column => %L)', :m, 't_r', 'response', 'nope'),
                 '42703', NULL, 'a missing label column');
SELECT throws_ok($$SELECT recs.evaluate(1, 't_s', protocol => 'bogus')$$, '22023', NULL, 'unknown protocol');
SELECT throws_ok($$SELECT recs.evaluate(-1, 't_s')$$, '42704', NULL, 'unknown model');
SELECT throws_ok(format('SELECT recs.evaluate(%s, %L, 0)', :m, 't_s'), '22023', NULL, 'k = 0');
CREATE TEMP TABLE t_empty (LIKE t_full);
SELECT throws_ok(format('SELECT recs.evaluate(%s, %L)', :m, 't_empty'), '02000', NULL, 'empty test relation');
SELECT throws_ok(format('SELECT recs.evaluate(%s, %L, protocol => %L)', :m, 't_full', 'sampled'),
                 '42703', NULL, 'sampled needs a negatives column');

SELECT * FROM finish();
ROLLBACK;
