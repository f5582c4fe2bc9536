-- test/pgtap/ncf_trend.sql -- train_ncf's trend_days: a learned term
-- b[bucket(n_c(t))] added to every NCF score, n_c(t) the course's watches in
-- [t - trend_days, t).  Known answers on hand-made watches (the counts, the
-- buckets, the window's ends), the stored term against SQL, the served score
-- against the embeddings read from the tables, bit-identity when off, an
-- invariant on data with trending courses; trend_weight (the served term
-- w x b: stored, scored, add_courses, validation); the options' errors.
BEGIN;
SELECT plan(43);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- counts
-- t0 = 2025-03-01; one learner per watch (nothing deduplicated)
CREATE SCHEMA tr;
CREATE TABLE tr.small (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO tr.small VALUES
    -- course 1: three watches inside [t0 - 30 d, t0)
    (1, 1, '2025-02-19 00:00+00', 600), (2, 1, '2025-02-24 00:00+00', 600), (3, 1, '2025-02-28 00:00+00', 600),
    -- course 2: one exactly at t0 (not before it), one exactly at t0 - 30 d (inside)
    (4, 2, '2025-03-01 00:00+00', 600), (5, 2, '2025-01-30 00:00+00', 600),
    -- course 3: one a second before the window, one too short to count
    (6, 3, '2025-01-29 23:59:59+00', 600), (7, 3, '2025-02-20 00:00+00', 10),
    -- course 4: seven inside
    (8, 4, '2025-02-10 00:00+00', 600), (9, 4, '2025-02-11 00:00+00', 600), (10, 4, '2025-02-12 00:00+00', 600),
    (11, 4, '2025-02-13 00:00+00', 600), (12, 4, '2025-02-14 00:00+00', 600), (13, 4, '2025-02-15 00:00+00', 600),
    (14, 4, '2025-02-16 00:00+00', 600);

SELECT results_eq(
    $$SELECT course_id, watches, bucket FROM recs._ncf_trend_counts('tr.small', 30, '2025-03-01 00:00+00') ORDER BY 1$$,
    $$VALUES (1::bigint, 3::bigint, 2), (2, 1, 1), (3, 0, 0), (4, 7, 3)$$,
    'counts over [t - 30 d, t): 3 watches -> bucket 2, a watch at t left out, one at t - D in, a short one not counted');
SELECT results_eq(
    $$SELECT course_id, watches, bucket FROM recs._ncf_trend_counts('tr.small', 30, '2025-03-01 00:00+00', true) ORDER BY 1$$,
    $$VALUES (1::bigint, 3::bigint, 2), (2, 2, 1), (3, 0, 0), (4, 7, 3)$$,
    'closed at the end ([t - D, t], as the stored term): the watch at t counts');
SELECT results_eq(
    $$SELECT watches FROM recs._ncf_trend_counts('tr.small', 0.5, '2025-02-16 12:00+00') WHERE course_id = 4$$,
    $$VALUES (1::bigint)$$,
    'a fractional trend_days: half a day');

-- every count 0..40 and its bucket floor(log2(1 + n)), capped at 15
CREATE TABLE tr.many AS
SELECT (1000 * c + i)::bigint AS learner_id, c::bigint AS course_id,
       timestamptz '2025-06-01 00:00+00' - i * interval '1 hour' AS watched_at, 600::float8 AS watch_seconds
  FROM generate_series(1, 40) c, generate_series(1, c) i;
SELECT is((SELECT count(*) FROM recs._ncf_trend_counts('tr.many', 10, '2025-06-01 00:00:01+00')
            WHERE watches <> course_id OR bucket <> least(15, floor(log(2, 1 + watches::numeric)))::int),
          0::bigint, 'counts 1..40 and their buckets floor(log2(1 + n))');
SELECT results_eq(
    $$SELECT bucket FROM recs._ncf_trend_counts('tr.many', 10, '2025-06-01 00:00:01+00') WHERE course_id IN (1, 2, 3, 7, 8, 15) ORDER BY course_id$$,
    $$VALUES (1), (1), (2), (3), (3), (4)$$,
    'bucket edges: 1, 2 -> 1; 3 -> 2; 7, 8 -> 3; 15 -> 4');

-- ---------------------------------------------------------------- models
-- 240 learners, 40 courses.  Courses 1-34 are watched from January to June;
-- courses 35-40 only in the last ten days of July (the trending ones), each
-- by a fifth of the learners, who also watched old courses before.
CREATE TABLE tr.watches AS
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

SELECT recs.train_ncf('tr.watches', 'tr_plain', layers => '{16}', dim => 8, epochs => 6,
                      learning_rate => 0.01, seed => 3, activate => false) AS plain \gset
SELECT recs.train_ncf('tr.watches', 'tr_null', layers => '{16}', dim => 8, epochs => 6,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => NULL) AS nul \gset
SELECT recs.train_ncf('tr.watches', 'tr_trend', layers => '{16}', dim => 8, epochs => 6,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30) AS trend \gset
SELECT recs.train_ncf('tr.watches', 'tr_trend_a', layers => '{16}', dim => 8, epochs => 2,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, threads => 2) AS tra \gset
SELECT recs.train_ncf('tr.watches', 'tr_trend_b', layers => '{16}', dim => 8, epochs => 2,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, threads => 2) AS trb \gset
SELECT recs.train_ncf('tr.watches', 'tr_sm_plain', layers => '{16}', dim => 8, epochs => 6, loss => 'softmax',
                      batch_size => 128, learning_rate => 0.01, seed => 3, activate => false) AS smplain \gset
SELECT recs.train_ncf('tr.watches', 'tr_sm_trend', layers => '{16}', dim => 8, epochs => 6, loss => 'softmax',
                      batch_size => 128, learning_rate => 0.01, seed => 3, activate => false, trend_days => 30) AS smtrend \gset

-- off: nothing changes
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :plain AND b.model_id = :nul AND (a.embedding <> b.embedding OR b.trend <> 0)),
          0::bigint, 'trend_days NULL: the same course embeddings as a training without it, trend 0');
SELECT is((SELECT count(*) FROM recs.ncf_learner a JOIN recs.ncf_learner b USING (learner_id)
            WHERE a.model_id = :plain AND b.model_id = :nul AND a.embedding <> b.embedding),
          0::bigint, 'trend_days NULL: the same learner embeddings');
SELECT ok((SELECT NOT (params ? 'trend_days') AND NOT (params ? 'trend_b') FROM recs.model WHERE model_id = :nul),
          'trend_days NULL: no trend in params');

-- on: params, the stored term against SQL
SELECT is((SELECT (params->>'trend_days')::float8 FROM recs.model WHERE model_id = :trend), 30::float8,
          'trend_days is stored in params');
SELECT is((SELECT jsonb_array_length(params->'trend_b') FROM recs.model WHERE model_id = :trend), 16,
          'the 16 learned bucket terms are stored in params');
SELECT is((SELECT count(*) FROM recs.ncf_course c, recs.model m,
                  LATERAL (SELECT count(*) AS n FROM tr.watches w
                            WHERE w.course_id = c.course_id
                              AND w.watched_at >= (SELECT max(watched_at) FROM tr.watches) - interval '30 days'
                              AND w.watched_at <= (SELECT max(watched_at) FROM tr.watches)) x
            WHERE c.model_id = :trend AND m.model_id = :trend
              AND c.trend <> (m.params->'trend_b'->>least(15, floor(log(2, 1 + x.n::numeric)))::int)::real),
          0::bigint, 'each course''s stored trend is b[bucket(its watches in [end - 30 d, end])], recomputed in SQL');
SELECT ok((SELECT count(DISTINCT trend) >= 2 FROM recs.ncf_course WHERE model_id = :trend),
          'the stored terms differ between old and trending courses');
SELECT ok((SELECT (params->'trend_b'->>4)::float8 > (params->'trend_b'->>0)::float8 FROM recs.model WHERE model_id = :trend),
          'b rises with the recent count: b[4] (15-30 watches) above b[0]');

-- serving: score = dot + trend, recommend ranks by it
CREATE FUNCTION pg_temp.dot(a real[], b real[]) RETURNS float8
LANGUAGE sql AS $$ SELECT sum(x::float8 * y) FROM unnest(a, b) AS t(x, y) $$;
SELECT is((SELECT count(*) FROM recs.ncf_learner l, recs.ncf_course c
            WHERE l.model_id = :trend AND c.model_id = :trend AND l.learner_id IN (5, 10, 77) AND c.course_id IN (1, 20, 35, 40)
              AND abs(recs.score(:trend, l.learner_id, c.course_id) - (pg_temp.dot(l.embedding, c.embedding) + c.trend)) > 1e-4),
          0::bigint, 'score() is the dot product of the stored embeddings plus the course''s trend');
SELECT is((SELECT count(*) FROM recs.recommend(77, 5, model => :trend) r
            WHERE abs(r.score - recs.score(:trend, 77, r.course_id)) > 1e-6),
          0::bigint, 'recommend() scores as score() does, trend included');
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :tra AND b.model_id = :trb AND (a.embedding <> b.embedding OR a.trend <> b.trend)),
          0::bigint, 'a seed and a thread count give the same trend model');
SELECT is((SELECT params->'trend_b' FROM recs.model WHERE model_id = :tra),
          (SELECT params->'trend_b' FROM recs.model WHERE model_id = :trb), 'and the same b');

-- the invariant: trending courses rank higher with the trend than without
CREATE FUNCTION pg_temp.trending_rank(m bigint) RETURNS float8
LANGUAGE sql AS $$
    SELECT avg(r.rank)::float8
      FROM generate_series(1, 240) u, recs.recommend(u, 40, model => m) r
     WHERE u % 5 <> 0 AND r.course_id >= 35
$$;
SELECT cmp_ok(pg_temp.trending_rank(:trend), '<', pg_temp.trending_rank(:plain),
              'binary loss: trending courses rank higher (mean rank) with trend_days => 30 than without');
SELECT cmp_ok(pg_temp.trending_rank(:smtrend), '<', pg_temp.trending_rank(:smplain),
              'softmax loss: trending courses rank higher with trend_days => 30 than without');

-- a course added after training (content features alone) has no watches: b[0]
CREATE TABLE tr.courses AS
SELECT c::bigint AS course_id, CASE WHEN c >= 35 THEN 'new' ELSE 'old' END AS era FROM generate_series(1, 40) c;
SELECT recs.train_ncf('tr.watches', 'tr_content', courses => 'tr.courses', course_features => '{era}', layers => '{16}',
                      dim => 8, epochs => 2, seed => 3, activate => false, trend_days => 30) AS content \gset
INSERT INTO tr.courses VALUES (9001, 'new');
SELECT is(recs.add_courses(:content, 'tr.courses'), 1, 'add_courses adds the new course to a trend model');
SELECT is((SELECT c.trend FROM recs.ncf_course c WHERE c.model_id = :content AND c.course_id = 9001),
          (SELECT (params->'trend_b'->>0)::real FROM recs.model WHERE model_id = :content),
          'and stores b[0] as its trend: no watches');

-- tune_ncf passes trend_days through, and validation 'auto' scores with the term
CREATE TEMP TABLE tr_tune AS
SELECT * FROM recs.tune_ncf('tr.watches', '{"trend_days": [7, 30]}', 'tr_tune', refit => false, activate => false,
                            options => '{"layers": [16], "dim": 8, "epochs": 3, "seed": 3}');
SELECT is((SELECT count(*) FROM tr_tune WHERE recall_at_10 IS NOT NULL), 2::bigint,
          'tune_ncf over trend_days: both settings scored on validation');
SELECT ok((SELECT (m.params->>'trend_days')::float8 = (t.settings->>'trend_days')::float8 AND m.params ? 'trend_b'
             FROM tr_tune t JOIN recs.model m USING (model_id) WHERE t.chosen),
          'the chosen setting''s model has its trend');

-- ---------------------------------------------------------------- trend_weight
-- the served term is trend_weight x b; the training (embeddings, b) is the same
SELECT recs.train_ncf('tr.watches', 'tr_w3', layers => '{16}', dim => 8, epochs => 6,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, trend_weight => 3) AS w3 \gset
SELECT recs.train_ncf('tr.watches', 'tr_w0', layers => '{16}', dim => 8, epochs => 6,
                      learning_rate => 0.01, seed => 3, activate => false, trend_days => 30, trend_weight => 0) AS w0 \gset

-- the training is the same
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :trend AND b.model_id = :w3 AND a.embedding <> b.embedding),
          0::bigint, 'trend_weight 3: the same course embeddings as weight 1 (training unchanged)');
SELECT is((SELECT params->'trend_b' FROM recs.model WHERE model_id = :w3),
          (SELECT params->'trend_b' FROM recs.model WHERE model_id = :trend), 'and the same learnt b');
SELECT is((SELECT (params->>'trend_weight')::float8 FROM recs.model WHERE model_id = :w3), 3::float8,
          'trend_weight is stored in params');
SELECT is((SELECT (params->>'trend_weight')::float8 FROM recs.model WHERE model_id = :trend), 1::float8,
          'the default trend_weight is 1');

-- the stored term is weight x b[bucket], recomputed in SQL
SELECT is((SELECT count(*) FROM recs.ncf_course c, recs.model m,
                  LATERAL (SELECT count(*) AS n FROM tr.watches w
                            WHERE w.course_id = c.course_id
                              AND w.watched_at >= (SELECT max(watched_at) FROM tr.watches) - interval '30 days') x
            WHERE c.model_id = :w3 AND m.model_id = :w3
              AND c.trend <> ((m.params->'trend_b'->>least(15, floor(log(2, 1 + x.n::numeric)))::int)::real::float8 * 3)::real),
          0::bigint, 'each course''s stored trend is 3 x b[bucket], recomputed in SQL');
SELECT ok((SELECT count(DISTINCT trend) >= 2 FROM recs.ncf_course WHERE model_id = :w3),
          'the weighted terms still differ between old and trending courses');
SELECT is((SELECT count(*) FROM recs.ncf_course WHERE model_id = :w0 AND trend <> 0), 0::bigint,
          'trend_weight 0: every stored term is 0');

-- serving adds the weighted term
SELECT is((SELECT count(*) FROM recs.ncf_learner l, recs.ncf_course c
            WHERE l.model_id = :w3 AND c.model_id = :w3 AND l.learner_id IN (5, 10, 77) AND c.course_id IN (1, 20, 35, 40)
              AND abs(recs.score(:w3, l.learner_id, c.course_id) - (pg_temp.dot(l.embedding, c.embedding) + c.trend)) > 1e-4),
          0::bigint, 'score() is the dot product plus the weighted term');
SELECT is((SELECT count(*) FROM recs.ncf_learner l, recs.ncf_course c1, recs.ncf_course c3
            WHERE l.model_id = :w3 AND c1.model_id = :trend AND c3.model_id = :w3 AND c1.course_id = c3.course_id
              AND l.learner_id IN (5, 10, 77) AND c1.course_id IN (1, 20, 35, 40)
              AND abs(recs.score(:w3, l.learner_id, c1.course_id) - recs.score(:trend, l.learner_id, c1.course_id)
                      - 2 * c1.trend) > 1e-4),
          0::bigint, 'weight 3 scores exceed weight 1''s by 2 x the learnt term');
SELECT is((SELECT count(*) FROM recs.recommend(77, 5, model => :w3) r
            WHERE abs(r.score - recs.score(:w3, 77, r.course_id)) > 1e-6),
          0::bigint, 'recommend() scores as score() does');

-- a course added after training gets weight x b[0]
SELECT recs.train_ncf('tr.watches', 'tr_wcontent', courses => 'tr.courses', course_features => '{era}', layers => '{16}',
                      dim => 8, epochs => 2, seed => 3, activate => false, trend_days => 30, trend_weight => 2.5) AS content25 \gset
INSERT INTO tr.courses VALUES (9002, 'new');
SELECT is(recs.add_courses(:content25, 'tr.courses'), 1, 'add_courses adds the new course to a weighted trend model');
SELECT is((SELECT c.trend FROM recs.ncf_course c WHERE c.model_id = :content25 AND c.course_id = 9002),
          (SELECT ((params->'trend_b'->>0)::real::float8 * 2.5)::real FROM recs.model WHERE model_id = :content25),
          'and stores 2.5 x b[0] as its trend');

-- validation 'auto' ranks with the weighted term: the same training, other scores
SELECT recs.train_ncf('tr.watches', 'tr_wv1', layers => '{16}', dim => 8, epochs => 3, seed => 3, activate => false,
                      trend_days => 30, validation => 'auto') AS v1 \gset
SELECT recs.train_ncf('tr.watches', 'tr_wv0', layers => '{16}', dim => 8, epochs => 3, seed => 3, activate => false,
                      trend_days => 30, validation => 'auto', trend_weight => 0) AS v0 \gset
SELECT isnt((SELECT metrics->'validation'->'curve'->'ndcg_at_10' FROM recs.model WHERE model_id = :v0),
            (SELECT metrics->'validation'->'curve'->'ndcg_at_10' FROM recs.model WHERE model_id = :v1),
            'validation scores the held-out learners with the weighted term (weight 0 and 1 differ)');

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => 0)$$, '22023',
                 'trend_days must be a finite number of days above 0, not 0', 'trend_days 0 is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => -3)$$, '22023',
                 'trend_days must be a finite number of days above 0, not -3', 'a negative trend_days is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => 'Infinity')$$, '22023',
                 'trend_days must be a finite number of days above 0, not Infinity', 'an infinite trend_days is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => 'NaN')$$, '22023',
                 'trend_days must be a finite number of days above 0, not NaN', 'a NaN trend_days is refused');

SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_weight => 2)$$, '22023',
                 'trend_weight needs trend_days', 'trend_weight without trend_days is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => 30, trend_weight => -1)$$, '22023',
                 'trend_weight must be a finite number of at least 0, not -1', 'a negative trend_weight is refused');
SELECT throws_ok($$SELECT recs.train_ncf('tr.watches', epochs => 1, trend_days => 30, trend_weight => 'NaN')$$, '22023',
                 'trend_weight must be a finite number of at least 0, not NaN', 'a NaN trend_weight is refused');

SELECT * FROM finish();
ROLLBACK;
