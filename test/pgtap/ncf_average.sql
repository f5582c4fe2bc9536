-- test/pgtap/ncf_average.sql -- train_ncf's average_epochs: the stored model
-- is the mean of the parameters after each of the last epochs (weight
-- averaging).  Known answers: averaging one epoch is the plain model, bit for
-- bit; averaging two is the mean of the one-epoch and the two-epoch models,
-- weight by weight (both towers, the attention encoder, the trend term), and
-- the stored embeddings come from the averaged towers.  Also: off is
-- bit-identical, reproducibility, the count stored (capped at epochs), the
-- validation path, the errors.
BEGIN;
SELECT plan(16);
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_av FROM recs.generate_sample('av', 300, 60, 7) \gset

-- the same training stopped after one and after two epochs, and averaged over both
SELECT recs.train_ncf('av.watches', 'av_e1', layers => '{32}', dim => 8, epochs => 1, seed => 3,
                      activate => false, trend_days => 30) AS e1 \gset
SELECT recs.train_ncf('av.watches', 'av_e2', layers => '{32}', dim => 8, epochs => 2, seed => 3,
                      activate => false, trend_days => 30) AS e2 \gset
SELECT recs.train_ncf('av.watches', 'av_avg2', layers => '{32}', dim => 8, epochs => 2, seed => 3,
                      activate => false, trend_days => 30, average_epochs => 2) AS avg2 \gset
SELECT recs.train_ncf('av.watches', 'av_avg1', layers => '{32}', dim => 8, epochs => 2, seed => 3,
                      activate => false, trend_days => 30, average_epochs => 1) AS avg1 \gset
SELECT recs.train_ncf('av.watches', 'av_avg0', layers => '{32}', dim => 8, epochs => 2, seed => 3,
                      activate => false, trend_days => 30, average_epochs => 0) AS avg0 \gset

-- |a - b| over every weight and bias of two models' layers, each tower and layer
CREATE FUNCTION pg_temp.layer_diff(a bigint, b bigint) RETURNS float8
LANGUAGE sql AS $$
    SELECT max(abs(x - y))::float8
      FROM recs.ncf_layer la JOIN recs.ncf_layer lb USING (tower, layer),
           LATERAL unnest(la.weight || la.bias, lb.weight || lb.bias) AS u(x, y)
     WHERE la.model_id = a AND lb.model_id = b
$$;
-- the largest difference between model m's weights and the mean of models a and b's
CREATE FUNCTION pg_temp.mean_diff(m bigint, a bigint, b bigint) RETURNS float8
LANGUAGE sql AS $$
    SELECT max(abs(z - (x + y) / 2))::float8
      FROM recs.ncf_layer la JOIN recs.ncf_layer lb USING (tower, layer)
           JOIN recs.ncf_layer lm USING (tower, layer),
           LATERAL unnest(la.weight || la.bias, lb.weight || lb.bias, lm.weight || lm.bias) AS u(x, y, z)
     WHERE la.model_id = a AND lb.model_id = b AND lm.model_id = m
$$;

SELECT is(pg_temp.layer_diff(:avg0, :e2), 0::float8, 'average_epochs 0: the same layers as a training without it');
SELECT is(pg_temp.layer_diff(:avg1, :e2), 0::float8, 'average_epochs 1: the last epoch''s layers, bit for bit');
SELECT ok(pg_temp.layer_diff(:e1, :e2) > 1e-3, 'the first and the second epoch''s models differ');
SELECT cmp_ok(pg_temp.mean_diff(:avg2, :e1, :e2), '<', 1e-6::float8,
              'average_epochs 2: every weight and bias is the mean of the one- and the two-epoch model''s');
SELECT is((SELECT count(*) FROM recs.ncf_layer WHERE model_id = :avg2),
          (SELECT count(*) FROM recs.ncf_layer WHERE model_id = :e2), 'and it has every layer');
SELECT cmp_ok((SELECT max(abs((a.b::float8 + b.b::float8) / 2 - m.b::float8))
                 FROM jsonb_array_elements_text((SELECT params->'trend_b' FROM recs.model WHERE model_id = :e1)) WITH ORDINALITY a(b, i)
                 JOIN jsonb_array_elements_text((SELECT params->'trend_b' FROM recs.model WHERE model_id = :e2)) WITH ORDINALITY b(b, i) USING (i)
                 JOIN jsonb_array_elements_text((SELECT params->'trend_b' FROM recs.model WHERE model_id = :avg2)) WITH ORDINALITY m(b, i) USING (i)),
              '<', 1e-6::float8, 'the trend term is averaged too: b is the mean of the two models'' b');

-- the stored embeddings are the averaged towers'
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :avg2 AND b.model_id = :e2 AND a.embedding = b.embedding),
          0::bigint, 'the averaged model''s course embeddings are not the last epoch''s');
SELECT cmp_ok((SELECT max(abs(x - y))::float8
                 FROM recs.ncf_learner l, recs.embed_learner(:avg2, l.context) e,
                      LATERAL unnest(l.embedding, e) AS u(x, y)
                WHERE l.model_id = :avg2 AND l.learner_id <= 100020),
              '<', 1e-5::float8, 'the stored learner embeddings are the averaged learner tower''s over their contexts (embed_learner)');

-- stored, capped, reproducible
SELECT is((SELECT (params->>'average_epochs')::int FROM recs.model WHERE model_id = :avg2), 2,
          'average_epochs is stored in params');
SELECT ok((SELECT NOT (params ? 'average_epochs') FROM recs.model WHERE model_id = :avg0),
          'average_epochs 0: nothing in params');
SELECT recs.train_ncf('av.watches', 'av_avg9', layers => '{32}', dim => 8, epochs => 2, seed => 3,
                      activate => false, trend_days => 30, average_epochs => 9) AS avg9 \gset
SELECT is(pg_temp.layer_diff(:avg9, :avg2), 0::float8, 'more than epochs averages every epoch');
SELECT is((SELECT (params->>'average_epochs')::int FROM recs.model WHERE model_id = :avg9), 2,
          'and params says how many were averaged');
SELECT recs.train_ncf('av.watches', 'av_ta', layers => '{32}', dim => 8, epochs => 3, seed => 3, threads => 2,
                      activate => false, encoder => 'attention', average_epochs => 2) AS ta \gset
SELECT recs.train_ncf('av.watches', 'av_tb', layers => '{32}', dim => 8, epochs => 3, seed => 3, threads => 2,
                      activate => false, encoder => 'attention', average_epochs => 2) AS tb \gset
SELECT is(pg_temp.layer_diff(:ta, :tb), 0::float8,
          'a seed and a thread count give the same averaged model (attention encoder, 2 threads)');

-- validation 'auto' scores each epoch as it would be stored: averaging only
-- the last epoch leaves the curve and the model as without averaging
SELECT recs.train_ncf('av.watches', 'av_v', layers => '{32}', dim => 8, epochs => 4, seed => 3,
                      activate => false, validation => 'auto') AS v \gset
SELECT recs.train_ncf('av.watches', 'av_v1', layers => '{32}', dim => 8, epochs => 4, seed => 3,
                      activate => false, validation => 'auto', average_epochs => 1) AS v1 \gset
SELECT recs.train_ncf('av.watches', 'av_v4', layers => '{32}', dim => 8, epochs => 4, seed => 3,
                      activate => false, validation => 'auto', average_epochs => 4) AS v4 \gset
SELECT is((SELECT (metrics->'validation'->'curve') - 'seconds'::text FROM recs.model WHERE model_id = :v1),
          (SELECT (metrics->'validation'->'curve') - 'seconds'::text FROM recs.model WHERE model_id = :v),
          'validation with average_epochs 1: the same Recall@10 and NDCG@10 curves as without');
SELECT ok((SELECT (a.metrics->'validation'->'curve'->'recall_at_10'->0) = (b.metrics->'validation'->'curve'->'recall_at_10'->0)
                  AND a.metrics->'validation'->'curve'->'recall_at_10' <> b.metrics->'validation'->'curve'->'recall_at_10'
             FROM recs.model a, recs.model b WHERE a.model_id = :v4 AND b.model_id = :v),
          'averaging every epoch: epoch 1 scores the same (a mean of one), later epochs score the mean');

-- errors
SELECT throws_ok($$SELECT recs.train_ncf('av.watches', epochs => 1, average_epochs => -1)$$, '22023',
                 'average_epochs must be between 0 and 100000, not -1', 'a negative average_epochs is refused');

SELECT * FROM finish();
ROLLBACK;
