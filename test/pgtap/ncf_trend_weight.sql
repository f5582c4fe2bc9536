-- test/pgtap/ncf_trend_weight.sql -- train_ncf's trend_weight: the served
-- trend term is trend_weight x the learnt b[bucket].  The training is the
-- same (embeddings and b bit for bit); the stored terms, score(), add_courses
-- and validation 'auto' use the weighted term; the option's errors.
BEGIN;
SELECT plan(16);
SET LOCAL client_min_messages = warning;

-- 240 learners, 40 courses: 1-34 watched January to June, 35-40 only in the
-- last ten days of July (as in ncf_trend.sql)
CREATE SCHEMA tw;
CREATE TABLE tw.watches AS
SELECT u::bigint AS learner_id, ((u * 7 + i * 5) % 34 + 1)::bigint AS course_id,
       timestamptz '2025-01-01 00:00+00' + ((u * 13 + i * 29) % 180) * interval '1 day' + u * interval '1 minute' AS watched_at,
       600::float8 AS watch_seconds
  FROM generate_series(1, 240) u, generate_series(1, 8) i
UNION ALL
SELECT u::bigint, (35 + (u + k) % 6)::bigint,
       timestamptz '2025-07-21 00:00+00' + ((u * 3 + k) % 10) * interval '1 day' + u * interval '1 minute',
       600::float8
  FROM generate_series(1, 240) u, generate_series(0, 1) k
 WHERE u % 5 = 0;

SELECT recs.train_ncf('tw.watches', 'tw_1', layers => '{16}', dim => 8, epochs => 4,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30) AS w1 \gset
SELECT recs.train_ncf('tw.watches', 'tw_3', layers => '{16}', dim => 8, epochs => 4,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, trend_weight => 3) AS w3 \gset
SELECT recs.train_ncf('tw.watches', 'tw_0', layers => '{16}', dim => 8, epochs => 4,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, trend_weight => 0) AS w0 \gset

-- the training is the same
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :w1 AND b.model_id = :w3 AND a.embedding <> b.embedding),
          0::bigint, 'trend_weight 3: the same course embeddings as weight 1 (training unchanged)');
SELECT is((SELECT params->'trend_b' FROM recs.model WHERE model_id = :w3),
          (SELECT params->'trend_b' FROM recs.model WHERE model_id = :w1), 'and the same learnt b');
SELECT is((SELECT (params->>'trend_weight')::float8 FROM recs.model WHERE model_id = :w3), 3::float8,
          'trend_weight is stored in params');
SELECT is((SELECT (params->>'trend_weight')::float8 FROM recs.model WHERE model_id = :w1), 1::float8,
          'the default trend_weight is 1');

-- the stored term is weight x b[bucket], recomputed in SQL
SELECT is((SELECT count(*) FROM recs.ncf_course c, recs.model m,
                  LATERAL (SELECT count(*) AS n FROM tw.watches w
                            WHERE w.course_id = c.course_id
                              AND w.watched_at >= (SELECT max(watched_at) FROM tw.watches) - interval '30 days') x
            WHERE c.model_id = :w3 AND m.model_id = :w3
              AND c.trend <> ((m.params->'trend_b'->>least(15, floor(log(2, 1 + x.n::numeric)))::int)::real::float8 * 3)::real),
          0::bigint, 'each course''s stored trend is 3 x b[bucket], recomputed in SQL');
SELECT ok((SELECT count(DISTINCT trend) >= 2 FROM recs.ncf_course WHERE model_id = :w3),
          'the weighted terms still differ between old and trending courses');
SELECT is((SELECT count(*) FROM recs.ncf_course WHERE model_id = :w0 AND trend <> 0), 0::bigint,
          'trend_weight 0: every stored term is 0');

-- serving adds the weighted term
CREATE FUNCTION pg_temp.dot(a real[], b real[]) RETURNS float8
LANGUAGE sql AS $$ SELECT sum(x::float8 * y) FROM unnest(a, b) AS t(x, y) $$;
SELECT is((SELECT count(*) FROM recs.ncf_learner l, recs.ncf_course c
            WHERE l.model_id = :w3 AND c.model_id = :w3 AND l.learner_id IN (5, 10, 77) AND c.course_id IN (1, 20, 35, 40)
              AND abs(recs.score(:w3, l.learner_id, c.course_id) - (pg_temp.dot(l.embedding, c.embedding) + c.trend)) > 1e-4),
          0::bigint, 'score() is the dot product plus the weighted term');
SELECT is((SELECT count(*) FROM recs.ncf_learner l, recs.ncf_course c1, recs.ncf_course c3
            WHERE l.model_id = :w3 AND c1.model_id = :w1 AND c3.model_id = :w3 AND c1.course_id = c3.course_id
              AND l.learner_id IN (5, 10, 77) AND c1.course_id IN (1, 20, 35, 40)
              AND abs(recs.score(:w3, l.learner_id, c1.course_id) - recs.score(:w1, l.learner_id, c1.course_id)
                      - 2 * c1.trend) > 1e-4),
          0::bigint, 'weight 3 scores exceed weight 1''s by 2 x the learnt term');
SELECT is((SELECT count(*) FROM recs.recommend(77, 5, model => :w3) r
            WHERE abs(r.score - recs.score(:w3, 77, r.course_id)) > 1e-6),
          0::bigint, 'recommend() scores as score() does');

-- a course added after training gets weight x b[0]
CREATE TABLE tw.courses AS
SELECT c::bigint AS course_id, CASE WHEN c >= 35 THEN 'new' ELSE 'old' END AS era FROM generate_series(1, 40) c;
SELECT recs.train_ncf('tw.watches', 'tw_content', courses => 'tw.courses', course_features => '{era}', layers => '{16}',
                      dim => 8, epochs => 2, seed => 3, activate => false, trend_days => 30, trend_weight => 2.5) AS content \gset
INSERT INTO tw.courses VALUES (9001, 'new');
SELECT is(recs.add_courses(:content, 'tw.courses'), 1, 'add_courses adds the new course');
SELECT is((SELECT c.trend FROM recs.ncf_course c WHERE c.model_id = :content AND c.course_id = 9001),
          (SELECT ((params->'trend_b'->>0)::real::float8 * 2.5)::real FROM recs.model WHERE model_id = :content),
          'and stores 2.5 x b[0] as its trend');

-- validation 'auto' ranks with the weighted term: the same training, other scores
SELECT recs.train_ncf('tw.watches', 'tw_v1', layers => '{16}', dim => 8, epochs => 3, seed => 3, activate => false,
                      trend_days => 30, validation => 'auto') AS v1 \gset
SELECT recs.train_ncf('tw.watches', 'tw_v0', layers => '{16}', dim => 8, epochs => 3, seed => 3, activate => false,
                      trend_days => 30, validation => 'auto', trend_weight => 0) AS v0 \gset
SELECT isnt((SELECT metrics->'validation'->'curve'->'ndcg_at_10' FROM recs.model WHERE model_id = :v0),
            (SELECT metrics->'validation'->'curve'->'ndcg_at_10' FROM recs.model WHERE model_id = :v1),
            'validation scores the held-out learners with the weighted term (weight 0 and 1 differ)');

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT recs.train_ncf('tw.watches', epochs => 1, trend_weight => 2)$$, '22023',
                 'trend_weight needs trend_days', 'trend_weight without trend_days is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tw.watches', epochs => 1, trend_days => 30, trend_weight => -1)$$, '22023',
                 'trend_weight must be a finite number of at least 0, not -1', 'a negative trend_weight is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tw.watches', epochs => 1, trend_days => 30, trend_weight => 'NaN')$$, '22023',
                 'trend_weight must be a finite number of at least 0, not NaN', 'a NaN trend_weight is refused');

SELECT * FROM finish();
ROLLBACK;
