-- test/pgtap/ncf_context_norm.sql -- train_ncf's context_norm: a learner
-- context of n watches enters the learner tower's sparse layer scaled by
-- n^-1/2 ('sqrt') or 1/n ('mean'), in the stored embeddings and in every
-- serving path that embeds a history; checked against the tower computed by
-- hand from recs.ncf_layer.
BEGIN;
SELECT plan(21);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- data
-- 300 learners, 30 courses; learner u watches 1 + u % 12 courses, one a day
CREATE SCHEMA cn;
CREATE TABLE cn.watches AS
SELECT u::bigint AS learner_id, ((u * 7 + i * 11) % 30 + 1)::bigint AS course_id,
       timestamptz '2025-01-01 00:00:00+00' + (u % 40 + i) * interval '1 day' AS watched_at,
       600::float8 AS watch_seconds
  FROM generate_series(1, 300) u, generate_series(1, 1 + u % 12) i;

SELECT recs.train_ncf('cn.watches', 'cn_none', layers => '{8}', dim => 4, epochs => 3,
                      seed => 5, activate => false) AS none \gset
SELECT recs.train_ncf('cn.watches', 'cn_sqrt', layers => '{8}', dim => 4, epochs => 3,
                      seed => 5, activate => false, context_norm => 'sqrt') AS sq \gset
SELECT recs.train_ncf('cn.watches', 'cn_mean', layers => '{8}', dim => 4, epochs => 3,
                      seed => 5, activate => false, context_norm => 'mean') AS mean \gset
SELECT recs.train_ncf('cn.watches', 'cn_sqrt_a', layers => '{8}', dim => 4, epochs => 2,
                      seed => 5, activate => false, context_norm => 'sqrt', threads => 2) AS sq_a \gset
SELECT recs.train_ncf('cn.watches', 'cn_sqrt_b', layers => '{8}', dim => 4, epochs => 2,
                      seed => 5, activate => false, context_norm => 'sqrt', threads => 2) AS sq_b \gset

-- the learner tower by hand: ReLU(s * sum of the courses' W0 rows + b0), then W1, b1
CREATE FUNCTION pg_temp.hand_embed(m bigint, courses bigint[], s float8) RETURNS float8[]
LANGUAGE sql AS $$
    WITH l0 AS (SELECT weight, bias, n_out FROM recs.ncf_layer
                 WHERE model_id = m AND tower = 'learner' AND layer = 0),
         l1 AS (SELECT weight, bias, n_out FROM recs.ncf_layer
                 WHERE model_id = m AND tower = 'learner' AND layer = 1),
         r AS (SELECT DISTINCT input_row FROM recs.ncf_course
                WHERE model_id = m AND course_id = ANY (courses)),
         h AS (SELECT j, greatest(0, s * coalesce((SELECT sum(l0.weight[r.input_row * l0.n_out + j + 1]) FROM r), 0)
                                      + l0.bias[j + 1]) AS v
                 FROM l0, generate_series(0, l0.n_out - 1) j)
    SELECT array_agg(e ORDER BY k)
      FROM (SELECT k, (SELECT sum(h.v * l1.weight[h.j * l1.n_out + k + 1]) FROM h) + l1.bias[k + 1] AS e
              FROM l1, generate_series(0, l1.n_out - 1) k) x
$$;
CREATE FUNCTION pg_temp.maxdiff(a float8[], b real[]) RETURNS float8
LANGUAGE sql AS $$ SELECT max(abs(x - y)) FROM unnest(a, b) AS t(x, y) $$;

-- ---------------------------------------------------------------- options
SELECT is((SELECT params->>'context_norm' FROM recs.model WHERE model_id = :sq), 'sqrt',
          'context_norm is stored in the model''s params');
SELECT is((SELECT params->>'context_norm' FROM recs.model WHERE model_id = :none), 'none',
          'the default context_norm is none, stored too');
SELECT throws_ok($$SELECT recs.train_ncf('cn.watches', epochs => 1, context_norm => 'l2')$$, '22023',
                 'context_norm must be one of ''none'', ''sqrt'' or ''mean'', not "l2"',
                 'an unknown context_norm is an error');
SELECT throws_ok($$SELECT recs.train_ncf('cn.watches', epochs => 1, context_norm => 'sqrt', encoder => 'attention')$$,
                 '0A000', 'context_norm ''sqrt'' needs encoder ''bag''',
                 'context_norm with the attention encoder is refused');

-- ---------------------------------------------------------------- the tower by hand
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:sq, '{1,4,7,10}', 0.5), recs.embed_learner(:sq, '{1,4,7,10}')) < 1e-5,
          'sqrt: four watches enter scaled by 1/2');
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:sq, '{1,4,7,10}', 1), recs.embed_learner(:sq, '{1,4,7,10}')) > 1e-3,
          'sqrt: not the plain sum (the check above can fail)');
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:sq, '{2,3,5}', 1 / sqrt(3)), recs.embed_learner(:sq, '{2,3,5}')) < 1e-5,
          'sqrt: three watches enter scaled by 3^-1/2');
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:sq, '{9}', 1), recs.embed_learner(:sq, '{9}')) < 1e-5,
          'sqrt: one watch enters as is');
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:mean, '{1,4,7,10}', 0.25), recs.embed_learner(:mean, '{1,4,7,10}')) < 1e-5,
          'mean: four watches enter scaled by 1/4');
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:none, '{1,4,7,10}', 1), recs.embed_learner(:none, '{1,4,7,10}')) < 1e-5,
          'none: the plain sum');
SELECT is(recs.embed_learner(:sq, '{1,4,4,7}'), recs.embed_learner(:sq, '{1,4,7}'),
          'sqrt: a course listed twice counts once, in the sum and in n');
SELECT is(recs.embed_learner(:sq, '{1,999999,4}'), recs.embed_learner(:sq, '{1,4}'),
          'sqrt: an unknown course is not counted in n');

-- ---------------------------------------------------------------- stored embeddings and serving
SELECT is((SELECT count(*) FROM recs.ncf_learner l
            WHERE l.model_id = :sq
              AND pg_temp.maxdiff(pg_temp.hand_embed(:sq, l.context, 1 / sqrt(cardinality(l.context))), l.embedding) > 1e-5),
          0::bigint, 'sqrt: every stored learner embedding is the tower over their context scaled by n^-1/2');
SELECT ok((SELECT count(DISTINCT cardinality(context)) FROM recs.ncf_learner WHERE model_id = :sq) = 12,
          'the stored contexts have 12 different lengths');
SELECT is((SELECT count(*) FROM recs.ncf_learner l
            WHERE l.model_id = :sq AND pg_temp.maxdiff(recs.embed_learner(:sq, l.context)::float8[], l.embedding) > 1e-5),
          0::bigint, 'sqrt: embed_learner of a learner''s context equals their stored embedding');
SELECT is((SELECT count(*) FROM recs.recommend(777777, 5, false, model => :sq, recent => '{1,4,7}') r
             JOIN recs.ncf_course c ON c.model_id = :sq AND c.course_id = r.course_id
            WHERE abs(r.score - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:sq, '{1,4,7}'), c.embedding) t(a, b))) < 1e-5),
          5::bigint, 'sqrt: recommend(recent =>) scores with the normalised embedding');
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(7, 5, false, model => %s, recent => ''{30}'')', :sq),
                  format('SELECT course_id, score FROM recs.recommend(777777, 5, false, model => %s, recent => (SELECT context || 30::bigint FROM recs.ncf_learner WHERE model_id = %s AND learner_id = 7))', :sq, :sq),
                  'sqrt: recent extends a known learner''s context and n with it');

-- ---------------------------------------------------------------- determinism
SELECT is((SELECT count(*) FROM recs.ncf_layer a JOIN recs.ncf_layer b USING (tower, layer)
            WHERE a.model_id = :sq_a AND b.model_id = :sq_b AND a.weight = b.weight AND a.bias = b.bias),
          4::bigint, 'normalised training is bit-reproducible for a seed and a thread count');
SELECT isnt((SELECT weight FROM recs.ncf_layer WHERE model_id = :sq AND tower = 'learner' AND layer = 0),
            (SELECT weight FROM recs.ncf_layer WHERE model_id = :none AND tower = 'learner' AND layer = 0),
            'the norm changes what training learns');

-- ---------------------------------------------------------------- old and corrupt models
-- a model without context_norm in its params (trained before) sums its context
UPDATE recs.model SET params = params - 'context_norm', cache_token = cache_token + 1 WHERE model_id = :sq;
SELECT ok(pg_temp.maxdiff(pg_temp.hand_embed(:sq, '{1,4,7,10}', 1), recs.embed_learner(:sq, '{1,4,7,10}')) < 1e-5,
          'a model without context_norm in its params serves the plain sum');
UPDATE recs.model SET params = params || '{"context_norm": "max"}', cache_token = cache_token + 1 WHERE model_id = :sq;
SELECT throws_ok(format('SELECT recs.embed_learner(%s, ''{1}'')', :sq), 'XX001',
                 format('recs model %s is corrupt', :sq), 'an unknown context_norm in params is a corrupt model');

SELECT * FROM finish();
ROLLBACK;
