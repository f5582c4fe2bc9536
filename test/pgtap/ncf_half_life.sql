-- test/pgtap/ncf_half_life.sql -- train_ncf's half_life_days: each positive
-- weighs 2^(-(latest - t) / half_life), scaled to a mean of 1, in either
-- loss.  Known answers on hand-made watches whose old and recent behaviour
-- disagree, near-identity when the half-life is far longer than the data,
-- parameters, and the option's errors.
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;

-- 120 learners and 12 courses.  In January 2024, learners 1-80 watch course 1
-- and a day later course 2; in December 2024, learners 81-120 watch course 1
-- and a day later course 3 (the new habit: fewer examples, all recent).  Every
-- learner also watches two filler courses (4-12) first.  Learner 999 has
-- watched course 1 alone, at the end.
CREATE SCHEMA hl;
CREATE TABLE hl.watches AS
SELECT u::bigint AS learner_id, (4 + (u + k) % 9)::bigint AS course_id,
       (CASE WHEN u <= 80 THEN timestamptz '2024-01-01 00:00+00' ELSE timestamptz '2024-12-01 00:00+00' END)
       + k * interval '1 hour' AS watched_at, 600::float8 AS watch_seconds
  FROM generate_series(1, 120) u, generate_series(0, 1) k
UNION ALL
SELECT u, 1, CASE WHEN u <= 80 THEN timestamptz '2024-01-02 00:00+00' ELSE timestamptz '2024-12-02 00:00+00' END
             + u * interval '1 minute', 600
  FROM generate_series(1, 120) u
UNION ALL
SELECT u, CASE WHEN u <= 80 THEN 2 ELSE 3 END,
       CASE WHEN u <= 80 THEN timestamptz '2024-01-03 00:00+00' ELSE timestamptz '2024-12-03 00:00+00' END
       + u * interval '1 minute', 600
  FROM generate_series(1, 120) u
UNION ALL
SELECT 999, 1, timestamptz '2024-12-10 00:00+00', 600;

SELECT recs.train_ncf('hl.watches', 'hl_plain', layers => '{16}', dim => 8, epochs => 30, window_days => 30,
                      learning_rate => 0.01, seed => 5, activate => false, loss => 'binary') AS plain \gset
SELECT recs.train_ncf('hl.watches', 'hl_recent', layers => '{16}', dim => 8, epochs => 30, window_days => 30,
                      learning_rate => 0.01, seed => 5, activate => false, loss => 'binary',
                      half_life_days => 14) AS recent \gset
SELECT recs.train_ncf('hl.watches', 'hl_sm', layers => '{16}', dim => 8, epochs => 30, window_days => 30,
                      learning_rate => 0.01, seed => 5, activate => false, loss => 'softmax', batch_size => 64) AS sm \gset
SELECT recs.train_ncf('hl.watches', 'hl_sm_recent', layers => '{16}', dim => 8, epochs => 30, window_days => 30,
                      learning_rate => 0.01, seed => 5, activate => false, loss => 'softmax', batch_size => 64,
                      half_life_days => 14) AS smrecent \gset
SELECT recs.train_ncf('hl.watches', 'hl_long', layers => '{16}', dim => 8, epochs => 30, window_days => 30,
                      learning_rate => 0.01, seed => 5, activate => false, loss => 'binary',
                      half_life_days => 1e7) AS long \gset

-- after course 1: the old habit (course 2, 80 examples) without weights,
-- the recent one (course 3, 40 examples) when January weighs 2^-24 of December
SELECT ok(recs.score(:plain, 999, 2) > recs.score(:plain, 999, 3),
          'binary, no half-life: after course 1, the more frequent course 2 scores above course 3');
SELECT ok(recs.score(:recent, 999, 3) > recs.score(:recent, 999, 2),
          'binary, half_life_days => 14: the recent habit, course 3, scores above course 2');
SELECT ok(recs.score(:sm, 999, 2) > recs.score(:sm, 999, 3),
          'softmax, no half-life: course 2 above course 3');
SELECT ok(recs.score(:smrecent, 999, 3) > recs.score(:smrecent, 999, 2),
          'softmax, half_life_days => 14: course 3 above course 2');
SELECT is((SELECT recommend.course_id FROM recs.recommend(999, 1, model => :recent) recommend), 3::bigint,
          'recommend() serves the recent habit first');

-- a half-life far longer than the data: every weight 1 up to rounding
SELECT cmp_ok((SELECT max(abs(recs.score(:long, l, c) - recs.score(:plain, l, c)))
                 FROM generate_series(1, 120, 7) l, generate_series(1, 12) c), '<', 1e-3::float8,
              'half_life_days => 1e7: the scores of a training without it, up to rounding');

SELECT is((SELECT (params->>'half_life_days')::float8 FROM recs.model WHERE model_id = :recent), 14::float8,
          'half_life_days is stored in params');
SELECT ok((SELECT NOT (params ? 'half_life_days') FROM recs.model WHERE model_id = :plain),
          'no half_life_days in params without it');

-- tune_ncf grids it like any train_ncf argument (its validation holds out
-- learners active before and after its cut: the January learners come back)
CREATE TABLE hl.tune_watches AS
SELECT * FROM hl.watches
UNION ALL
SELECT u, 4 + (u + 2) % 9, timestamptz '2024-12-05 00:00+00' + u * interval '1 minute', 600
  FROM generate_series(1, 80) u;
CREATE TEMP TABLE hl_tune AS
SELECT * FROM recs.tune_ncf('hl.tune_watches', '{"half_life_days": [14, 365]}', 'hl_tune', refit => false, activate => false,
                            options => '{"layers": [16], "dim": 8, "epochs": 3, "seed": 5, "window_days": 30}');
SELECT is((SELECT count(*) FROM hl_tune WHERE recall_at_10 IS NOT NULL), 2::bigint,
          'tune_ncf over half_life_days: both settings scored on validation');
SELECT ok((SELECT (m.params->>'half_life_days')::float8 = (t.settings->>'half_life_days')::float8
             FROM hl_tune t JOIN recs.model m USING (model_id) WHERE t.chosen),
          'the chosen setting''s model has its half-life');

SELECT throws_ok($$SELECT recs.train_ncf('hl.watches', half_life_days => 0)$$, '22023',
                 'half_life_days must be a finite number of days above 0, not 0',
                 'half_life_days 0: an error');
SELECT throws_ok($$SELECT recs.train_ncf('hl.watches', half_life_days => -5)$$, '22023', NULL,
                 'a negative half_life_days: an error');
SELECT throws_ok($$SELECT recs.train_ncf('hl.watches', half_life_days => 'infinity')$$, '22023', NULL,
                 'an infinite half_life_days: an error');

SELECT * FROM finish();
ROLLBACK;
