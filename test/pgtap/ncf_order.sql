-- test/pgtap/ncf_order.sql -- NCF order weights (train_ncf's order_decay): the
-- k-th latest watch of a context weighs order_decay^k, in training, in the
-- stored embeddings and in every serving path that embeds a history.
BEGIN;
SELECT plan(27);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- data
-- 8 series of 5 parts (course 10 s + p is part p of series s).  Learner u
-- watches series a from part 1 for k parts, then series b from part 1 for m
-- parts, one a day: the next course follows the latest one.  A learner who
-- watched {a1, b1} went on to b2 if b1 was the latest, to a2 otherwise; a
-- bag of the history cannot tell which.  Learners 9001 and 9002 watched the
-- same two courses, 11 and 31, in both orders.
CREATE SCHEMA no;
CREATE TABLE no.watches AS
SELECT u::bigint AS learner_id, (10 * CASE WHEN i <= k THEN a ELSE b END
                                 + CASE WHEN i <= k THEN i ELSE i - k END)::bigint AS course_id,
       timestamptz '2025-01-01 00:00:00+00' + (u % 50 + i) * interval '1 day' AS watched_at,
       600::float8 AS watch_seconds
  FROM generate_series(1, 480) u,
       LATERAL (SELECT 1 + u % 8 AS a, 1 + (u % 8 + 1 + (u / 8) % 7) % 8 AS b,
                       1 + (u / 56) % 3 AS k, 1 + (u / 3) % 4 AS m) s,
       generate_series(1, k + m) i;
INSERT INTO no.watches VALUES
    (9001, 11, '2025-03-01', 600), (9001, 31, '2025-03-02', 600),
    (9002, 31, '2025-03-01', 600), (9002, 11, '2025-03-02', 600);

SELECT recs.train_ncf('no.watches', 'no_bag', layers => '{32}', dim => 16, epochs => 30,
                      seed => 3, activate => false) AS bag \gset
SELECT recs.train_ncf('no.watches', 'no_ord', layers => '{32}', dim => 16, epochs => 30,
                      seed => 3, activate => false, order_decay => 0.3) AS ord \gset
SELECT recs.train_ncf('no.watches', 'no_ord2', layers => '{32}', dim => 16, epochs => 3,
                      seed => 3, activate => false, order_decay => 0.3, threads => 2) AS ord_a \gset
SELECT recs.train_ncf('no.watches', 'no_ord3', layers => '{32}', dim => 16, epochs => 3,
                      seed => 3, activate => false, order_decay => 0.3, threads => 2) AS ord_b \gset
SELECT recs.train_ncf('no.watches', 'no_last', layers => '{32}', dim => 16, epochs => 1,
                      seed => 3, activate => false, order_decay => 0) AS last \gset

-- ---------------------------------------------------------------- options
SELECT is((SELECT params->>'order_decay' FROM recs.model WHERE model_id = :ord), '0.29999999999999999',
          'order_decay is stored in the model''s params');
SELECT is((SELECT (params->>'order_decay')::float8 FROM recs.model WHERE model_id = :bag), 1::float8,
          'the default order_decay is 1, stored too');
SELECT is((SELECT count(*) FROM recs.ncf_learner n JOIN recs.model_learner w USING (model_id, learner_id)
            WHERE n.model_id = :bag AND n.context IS DISTINCT FROM NULL
              AND (SELECT array_agg(c ORDER BY c) FROM unnest(n.context) c) = w.watched),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :bag),
          'an unordered model stores each learner''s window as the context (here all their watches)');
SELECT throws_ok($$SELECT recs.train_ncf('no.watches', epochs => 1, order_decay => 1.5)$$, '22023',
                 'order_decay must be between 0 and 1, not 1.5', 'order_decay above 1 is an error');
SELECT throws_ok($$SELECT recs.train_ncf('no.watches', epochs => 1, order_decay => -0.1)$$, '22023',
                 'order_decay must be a finite number of at least 0, not -0.1', 'a negative order_decay is an error');
SELECT throws_ok($$SELECT recs.train_ncf('no.watches', epochs => 1, order_decay => 'NaN')$$, '22023',
                 'order_decay must be a finite number of at least 0, not NaN', 'a NaN order_decay is an error');

-- ---------------------------------------------------------------- contexts
-- the stored context is the learner's watches oldest first (all of them
-- here: at most 8, in 365 days), and embed_learner of it is the stored
-- embedding (up to sgemm's float rounding, which depends on the row count)
SELECT is((SELECT count(*) FROM recs.ncf_learner l
            WHERE l.model_id = :ord AND l.context IS DISTINCT FROM ARRAY(
                  SELECT w.course_id FROM no.watches w WHERE w.learner_id = l.learner_id
                   ORDER BY w.watched_at, w.course_id)),
          0::bigint, 'each stored context is the learner''s watches, oldest first');
SELECT is((SELECT count(*) FROM recs.ncf_learner l,
                  LATERAL (SELECT max(abs(a - b)) AS d
                             FROM unnest(l.embedding, recs.embed_learner(:ord, l.context)) AS e(a, b)) x
            WHERE l.model_id = :ord AND x.d > 1e-5),
          0::bigint, 'embed_learner of a learner''s ordered history equals their stored embedding');
SELECT ok((SELECT count(*) FROM recs.ncf_learner l,
                  LATERAL (SELECT max(abs(a - b)) AS d
                             FROM unnest(l.embedding, recs.embed_learner(:ord, ARRAY(
                                  SELECT c FROM unnest(l.context) WITH ORDINALITY AS x(c, o) ORDER BY o DESC))) AS e(a, b)) x
            WHERE l.model_id = :ord AND x.d > 1e-3) > 400,
          'the same history reversed embeds differently');

-- ---------------------------------------------------------------- order sensitivity
SELECT isnt((SELECT course_id FROM recs.recommend(9001, 1, model => :ord)),
            (SELECT course_id FROM recs.recommend(9002, 1, model => :ord)),
            'ordered: the same two courses in two orders give different top courses');
SELECT is((SELECT course_id FROM recs.recommend(9001, 1, model => :ord)), 32::bigint,
          'ordered: after 11 then 31, the next part of 31''s series');
SELECT is((SELECT course_id FROM recs.recommend(9002, 1, model => :ord)), 12::bigint,
          'ordered: after 31 then 11, the next part of 11''s series');
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(9001, 10, model => %s)', :bag),
                  format('SELECT course_id, score FROM recs.recommend(9002, 10, model => %s)', :bag),
                  'order_decay 1: the two orders give identical recommendations');
SELECT is(recs.embed_learner(:bag, '{11,31}'), recs.embed_learner(:bag, '{31,11}'),
          'order_decay 1: embed_learner ignores the list''s order');
SELECT is((SELECT course_id FROM recs.recommend(777777, 1, model => :ord, recent => '{11,31}')), 32::bigint,
          'ordered: a new learner''s recent watches are read oldest first');
SELECT is((SELECT course_id FROM recs.recommend(777777, 1, model => :ord, recent => '{31,11}')), 12::bigint,
          'ordered: the other order, the other series');

-- ---------------------------------------------------------------- serving paths
SELECT is(recs.embed_learner(:ord, '{11,31,11}'), recs.embed_learner(:ord, '{11,31}'),
          'a course listed twice counts at its first place');
SELECT is(recs.embed_learner(:ord, '{11,999999,31}'), recs.embed_learner(:ord, '{11,31}'),
          'an unknown course is left out of the positions');
-- recent => appends to the stored context: a known learner with recent is
-- the same list embedded afresh
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(9001, 5, false, model => %s, recent => ''{12}'')', :ord),
                  format('SELECT course_id, score FROM recs.recommend(777777, 5, false, model => %s, recent => ''{11,31,12}'')', :ord),
                  'recent extends a known learner''s stored context, the new watches latest');
SELECT isnt((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(9001, 5, false, model => :ord, recent => '{12}')),
            (SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(777777, 5, false, model => :ord, recent => '{12,11,31}')),
            'recent watches come after the known ones, not before');
SELECT is(recs.score(:ord, 9001, 32)::float4, (SELECT score::float4 FROM recs.recommend(9001, 1, model => :ord)),
          'score() uses the stored ordered embedding');
-- order_decay 0: the latest watch alone
SELECT is(recs.embed_learner(:last, '{11,21,31}'), recs.embed_learner(:last, '{31}'),
          'order_decay 0: only the latest watch counts');
SELECT is((SELECT max(cardinality(context)) FROM recs.ncf_learner WHERE model_id = :last), 1,
          'order_decay 0: the stored contexts are the latest watch');

-- ---------------------------------------------------------------- determinism
SELECT is((SELECT count(*) FROM recs.ncf_layer a JOIN recs.ncf_layer b USING (tower, layer)
            WHERE a.model_id = :ord_a AND b.model_id = :ord_b AND a.weight = b.weight AND a.bias = b.bias),
          4::bigint, 'ordered training is bit-reproducible for a seed and a thread count');

-- ---------------------------------------------------------------- old models
-- a model without order_decay in its params (trained before 0.4.0) serves
-- as an unordered one; a corrupt value is a clean error
CREATE TEMP TABLE before AS SELECT course_id, score FROM recs.recommend(777777, 5, model => :bag, recent => '{11,31}');
UPDATE recs.model SET params = params - 'order_decay', cache_token = cache_token + 1 WHERE model_id = :bag;
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(777777, 5, model => %s, recent => ''{31,11}'')', :bag),
                  'SELECT course_id, score FROM before',
                  'a model without order_decay serves its history as a bag');
SELECT is(recs.embed_learner(:bag, '{11,31}'), recs.embed_learner(:bag, '{31,11}'),
          'a model without order_decay: embed_learner ignores order');
UPDATE recs.model SET params = params || '{"order_decay": 2}', cache_token = cache_token + 1 WHERE model_id = :ord;
SELECT throws_ok(format('SELECT recs.embed_learner(%s, ''{11}'')', :ord), 'XX001',
                 format('recs model %s is corrupt', :ord), 'an order_decay outside 0..1 in params is a corrupt model');

SELECT * FROM finish();
ROLLBACK;
