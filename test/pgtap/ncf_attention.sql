-- test/pgtap/ncf_attention.sql -- the NCF attention encoder (train_ncf's
-- encoder => 'attention'): attention pooling over a context's latest
-- attention_window watches, with learned position embeddings, in training,
-- in the stored embeddings and in every serving path that embeds a history.
BEGIN;
SELECT plan(30);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- data
-- As ncf_order.sql: 8 series of 5 parts (course 10 s + p is part p of
-- series s).  Learner u watches series a from part 1 for k parts, then
-- series b from part 1 for m parts, one a day: the next course follows the
-- latest one.  Learners 9001 and 9002 watched 11 and 31, in both orders.
CREATE SCHEMA na;
CREATE TABLE na.watches AS
SELECT u::bigint AS learner_id, (10 * CASE WHEN i <= k THEN a ELSE b END
                                 + CASE WHEN i <= k THEN i ELSE i - k END)::bigint AS course_id,
       timestamptz '2025-01-01 00:00:00+00' + (u % 50 + i) * interval '1 day' AS watched_at,
       600::float8 AS watch_seconds
  FROM generate_series(1, 480) u,
       LATERAL (SELECT 1 + u % 8 AS a, 1 + (u % 8 + 1 + (u / 8) % 7) % 8 AS b,
                       1 + (u / 56) % 3 AS k, 1 + (u / 3) % 4 AS m) s,
       generate_series(1, k + m) i;
INSERT INTO na.watches VALUES
    (9001, 11, '2025-03-01', 600), (9001, 31, '2025-03-02', 600),
    (9002, 31, '2025-03-01', 600), (9002, 11, '2025-03-02', 600);

SELECT recs.train_ncf('na.watches', 'na_att', layers => '{32}', dim => 16, epochs => 30,
                      seed => 3, activate => false, encoder => 'attention', attention_window => 6) AS att \gset
SELECT recs.train_ncf('na.watches', 'na_bag', layers => '{32}', dim => 16, epochs => 30,
                      seed => 3, activate => false) AS bag \gset
SELECT recs.train_ncf('na.watches', 'na_att2', layers => '{32}', dim => 16, epochs => 3,
                      seed => 3, activate => false, encoder => 'attention', attention_window => 6,
                      threads => 2) AS att_a \gset
SELECT recs.train_ncf('na.watches', 'na_att3', layers => '{32}', dim => 16, epochs => 3,
                      seed => 3, activate => false, encoder => 'attention', attention_window => 6,
                      threads => 2) AS att_b \gset
SELECT recs.train_ncf('na.watches', 'na_att_dec', layers => '{32}', dim => 16, epochs => 30,
                      seed => 3, activate => false, encoder => 'attention', attention_window => 6,
                      order_decay => 0.5) AS att_dec \gset

-- ---------------------------------------------------------------- options and storage
SELECT is((SELECT params->>'encoder' || ' ' || (params->>'attention_window') FROM recs.model WHERE model_id = :att),
          'attention 6', 'the encoder and its window are stored in the model''s params');
SELECT is((SELECT params->>'encoder' FROM recs.model WHERE model_id = :bag), 'bag',
          'the default encoder is bag');
SELECT is((SELECT format('%s %s %s %s', layer, n_in, n_out, cardinality(weight) + cardinality(bias))
             FROM recs.ncf_layer WHERE model_id = :att AND tower = 'attention'),
          '0 6 32 224', 'one row of tower attention: 6 position embeddings and a query of the first layer''s width');
SELECT is((SELECT count(*) FROM recs.ncf_layer WHERE model_id = :bag AND tower = 'attention'), 0::bigint,
          'a bag model has no attention row');
SELECT throws_ok($$SELECT recs.train_ncf('na.watches', epochs => 1, encoder => 'attention', attention_window => 0)$$,
                 '22023', NULL, 'attention_window 0 is an error');
SELECT throws_ok($$SELECT recs.train_ncf('na.watches', epochs => 1, encoder => 'self')$$,
                 '22023', 'encoder must be one of ''bag'' or ''attention'', not "self"', 'an unknown encoder is an error');
SELECT is((SELECT max(cardinality(context)) FROM recs.ncf_learner WHERE model_id = :att), 6,
          'the stored contexts are at most the attention window');

-- ---------------------------------------------------------------- serving equals stored
SELECT is((SELECT count(*) FROM recs.ncf_learner l,
                  LATERAL (SELECT max(abs(a - b)) AS d
                             FROM unnest(l.embedding, recs.embed_learner(:att, l.context)) AS e(a, b)) x
            WHERE l.model_id = :att AND x.d > 1e-5),
          0::bigint, 'embed_learner of a learner''s stored context equals their stored embedding');
SELECT is((SELECT count(*) FROM recs.ncf_learner l,
                  LATERAL (SELECT max(abs(a - b)) AS d
                             FROM unnest(l.embedding, recs.embed_learner(:att_dec, l.context)) AS e(a, b)) x
            WHERE l.model_id = :att_dec AND x.d > 1e-5),
          0::bigint, 'with order_decay too: embed_learner of the stored context equals the stored embedding');
SELECT ok((SELECT count(*) FROM recs.ncf_learner l,
                  LATERAL (SELECT max(abs(a - b)) AS d
                             FROM unnest(l.embedding, recs.embed_learner(:att, ARRAY(
                                  SELECT c FROM unnest(l.context) WITH ORDINALITY AS x(c, o) ORDER BY o DESC))) AS e(a, b)) x
            WHERE l.model_id = :att AND x.d > 1e-3) > 400,
          'the same history reversed embeds differently');
SELECT is(recs.embed_learner(:att, '{11,31,11}'), recs.embed_learner(:att, '{11,31}'),
          'a course listed twice counts at its first place');
SELECT is(recs.embed_learner(:att, '{11,999999,31}'), recs.embed_learner(:att, '{11,31}'),
          'an unknown course is left out of the positions');
SELECT is(recs.embed_learner(:att, '{21,22,23,11,12,13,31}'), recs.embed_learner(:att, '{22,23,11,12,13,31}'),
          'only the latest attention_window courses count');

-- ---------------------------------------------------------------- order sensitivity
SELECT isnt((SELECT course_id FROM recs.recommend(9001, 1, model => :att)),
            (SELECT course_id FROM recs.recommend(9002, 1, model => :att)),
            'attention: the same two courses in two orders give different top courses');
SELECT is((SELECT course_id FROM recs.recommend(9001, 1, model => :att)), 32::bigint,
          'attention: after 11 then 31, the next part of 31''s series');
SELECT is((SELECT course_id FROM recs.recommend(9002, 1, model => :att)), 12::bigint,
          'attention: after 31 then 11, the next part of 11''s series');
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(9001, 10, model => %s)', :bag),
                  format('SELECT course_id, score FROM recs.recommend(9002, 10, model => %s)', :bag),
                  'bag: the two orders give identical recommendations');

-- ---------------------------------------------------------------- recent =>
-- (the model with order_decay 0.5: its bag term leans on the latest watches too)
SELECT is((SELECT course_id FROM recs.recommend(9001, 1, model => :att_dec, recent => '{32}')), 33::bigint,
          'recent: after 11, 31 and a new 32, the next part is 33');
SELECT is((SELECT course_id FROM recs.recommend(9001, 1, model => :att_dec, recent => '{12}')), 13::bigint,
          'recent: a new 12 moves the learner back to series 1');
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(9001, 5, false, model => %s, recent => ''{12}'')', :att),
                  format('SELECT course_id, score FROM recs.recommend(777777, 5, false, model => %s, recent => ''{11,31,12}'')', :att),
                  'recent extends a known learner''s stored context, the new watches latest');
SELECT is(recs.score(:att, 9001, 32)::float4, (SELECT score::float4 FROM recs.recommend(9001, 1, model => :att)),
          'score() uses the stored embedding');

-- ---------------------------------------------------------------- determinism
SELECT is((SELECT count(*) FROM recs.ncf_layer a JOIN recs.ncf_layer b USING (tower, layer)
            WHERE a.model_id = :att_a AND b.model_id = :att_b AND a.weight = b.weight AND a.bias = b.bias),
          5::bigint, 'attention training is bit-reproducible for a seed and a thread count (4 layers + the encoder)');

-- ---------------------------------------------------------------- corrupt encoders
CREATE FUNCTION pg_temp.corrupt(m bigint, fix text, serve text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE fix;
    UPDATE recs.model SET cache_token = (random() * 9.2e18)::bigint WHERE model_id = m;
    EXECUTE serve;
END $$;
CREATE FUNCTION pg_temp.corrupt_ok(model bigint, fix text, serve text, what text) RETURNS text
LANGUAGE sql AS $$
    SELECT throws_ok(format('SELECT pg_temp.corrupt(%s, %L, %L)', model, fix, serve),
                     'XX001', format('recs model %s is corrupt', model), what)
$$;
SELECT pg_temp.corrupt_ok(:att, format($$DELETE FROM recs.ncf_layer WHERE model_id = %s AND tower = 'attention'$$, :att),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :att), 'an attention model without its encoder row');
SELECT pg_temp.corrupt_ok(:bag, format($$INSERT INTO recs.ncf_layer SELECT model_id, 'attention', 0, 6, 32, weight[1:192], bias
                                         FROM recs.ncf_layer WHERE model_id = %s AND tower = 'learner' AND layer = 0$$, :bag),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :bag), 'a bag model with an encoder row');
SELECT pg_temp.corrupt_ok(:att, format($$UPDATE recs.ncf_layer SET weight = weight[1:100] WHERE model_id = %s AND tower = 'attention'$$, :att),
       format('SELECT * FROM recs.recommend(9001, 5, model => %s, recent => ''{12}'')', :att), 'position embeddings shorter than n_in * n_out');
SELECT pg_temp.corrupt_ok(:att, format($$UPDATE recs.ncf_layer SET bias[3] = 'NaN' WHERE model_id = %s AND tower = 'attention'$$, :att),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :att), 'a NaN in the query');
SELECT pg_temp.corrupt_ok(:att, format($$UPDATE recs.ncf_layer SET n_out = 16, weight = weight[1:96], bias = bias[1:16]
                                         WHERE model_id = %s AND tower = 'attention'$$, :att),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :att), 'an encoder narrower than the learner tower''s first layer');
SELECT pg_temp.corrupt_ok(:att, format($$UPDATE recs.model SET params = params || '{"attention_window": 5}' WHERE model_id = %s$$, :att),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :att), 'attention_window in params not the row''s n_in');
SELECT pg_temp.corrupt_ok(:att, format($$UPDATE recs.model SET params = params || '{"encoder": "lstm"}' WHERE model_id = %s$$, :att),
       format('SELECT recs.embed_learner(%s, ''{11}'')', :att), 'an unknown encoder in params');

-- ---------------------------------------------------------------- quality on platform data
-- generate_sample(platform => true): course series followed in order.  Each
-- learner's latest watch is held out; Recall@10 over the courses they have
-- not watched, attention against the bag on the same data and settings.
SELECT count(*) FROM recs.generate_sample('nap', 800, 120, 5, 730, platform => true);
CREATE TABLE nap.w AS SELECT * FROM nap.watches WHERE watch_seconds >= 60;
CREATE TABLE nap.test AS
SELECT DISTINCT ON (learner_id) learner_id, course_id FROM nap.w
 WHERE learner_id IN (SELECT learner_id FROM nap.w GROUP BY 1 HAVING count(DISTINCT course_id) >= 3)
 ORDER BY learner_id, watched_at DESC, course_id;
CREATE TABLE nap.train AS
SELECT w.* FROM nap.w w WHERE NOT EXISTS (SELECT FROM nap.test t WHERE t.learner_id = w.learner_id AND t.course_id = w.course_id);
SELECT recs.train_ncf('nap.train', 'nap_bag', courses => 'nap.courses', layers => '{64}', dim => 32, epochs => 10,
                      seed => 5, activate => false) AS pbag \gset
SELECT recs.train_ncf('nap.train', 'nap_att', courses => 'nap.courses', layers => '{64}', dim => 32, epochs => 10,
                      seed => 5, activate => false, encoder => 'attention') AS patt \gset
CREATE TEMP TABLE recall AS
SELECT m.model_id, avg((t.course_id IN (SELECT r.course_id FROM recs.recommend(t.learner_id, 10, model => m.model_id) r))::int) AS r10
  FROM nap.test t, (VALUES (:pbag::bigint), (:patt::bigint)) m(model_id)
 GROUP BY m.model_id;
SELECT ok((SELECT r10 FROM recall WHERE model_id = :patt) >= 1.1 * (SELECT r10 FROM recall WHERE model_id = :pbag),
          format('attention beats bag by 10%% in Recall@10 on platform data (%s against %s)',
                 (SELECT round(r10, 3) FROM recall WHERE model_id = :patt),
                 (SELECT round(r10, 3) FROM recall WHERE model_id = :pbag)));

SELECT * FROM finish();
ROLLBACK;
