-- test/pgtap/ncf_ensemble.sql -- train_ncf's ensemble: K models trained at
-- seeds seed .. seed + K - 1 and merged into one network scoring the sum of
-- their scores.  Known answers against the members trained alone: scores add
-- up, embeddings (stored, embed_learner, embed_course) are the members'
-- concatenated, the merged layers are the members' side by side and
-- block-diagonal, trend terms add up.  Also: 1 is bit-identical, params,
-- memory, errors.
BEGIN;
SELECT plan(20);
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_en FROM recs.generate_sample('en', 300, 60, 7) \gset

-- two members alone (seeds 3 and 4) and their ensemble (seed 3, ensemble 2)
SELECT recs.train_ncf('en.watches', 'en_m3', courses => 'en.courses', course_features => '{topic}',
                      layers => '{16,8}', dim => 4, epochs => 2, seed => 3, activate => false, trend_days => 30) AS m3 \gset
SELECT recs.train_ncf('en.watches', 'en_m4', courses => 'en.courses', course_features => '{topic}',
                      layers => '{16,8}', dim => 4, epochs => 2, seed => 4, activate => false, trend_days => 30) AS m4 \gset
SELECT recs.train_ncf('en.watches', 'en_e2', courses => 'en.courses', course_features => '{topic}',
                      layers => '{16,8}', dim => 4, epochs => 2, seed => 3, activate => false, trend_days => 30,
                      ensemble => 2) AS e2 \gset
SELECT recs.train_ncf('en.watches', 'en_e1', courses => 'en.courses', course_features => '{topic}',
                      layers => '{16,8}', dim => 4, epochs => 2, seed => 3, activate => false, trend_days => 30,
                      ensemble => 1) AS e1 \gset

-- the largest |x - y| over two arrays
CREATE FUNCTION pg_temp.maxdiff(a real[], b real[]) RETURNS float8
LANGUAGE sql AS $$ SELECT max(abs(x - y))::float8 FROM unnest(a, b) AS u(x, y) $$;

SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :e1 AND b.model_id = :m3 AND a.embedding <> b.embedding),
          0::bigint, 'ensemble 1: the same course embeddings as a training without it');
SELECT ok((SELECT NOT (params ? 'ensemble') FROM recs.model WHERE model_id = :e1), 'ensemble 1: nothing in params');

-- the merged network
SELECT is((SELECT array_agg(n_out ORDER BY tower, layer) FROM recs.ncf_layer WHERE model_id = :e2),
          (SELECT array_agg(2 * n_out ORDER BY tower, layer) FROM recs.ncf_layer WHERE model_id = :m3),
          'every layer is twice as wide');
SELECT is((SELECT array_agg(n_in ORDER BY tower, layer) FILTER (WHERE layer > 0) FROM recs.ncf_layer WHERE model_id = :e2),
          (SELECT array_agg(2 * n_in ORDER BY tower, layer) FILTER (WHERE layer > 0) FROM recs.ncf_layer WHERE model_id = :m3),
          'and takes twice the inputs after the sparse layer');
-- layer 1 of the learner tower: rows i (member 0) / 16 + i (member 1), columns j / 8 + j
SELECT is((SELECT count(*) FROM recs.ncf_layer e, generate_series(0, 31) i, generate_series(0, 15) j
            WHERE e.model_id = :e2 AND e.tower = 'learner' AND e.layer = 1
              AND (i < 16) <> (j < 8) AND e.weight[i * 16 + j + 1] <> 0),
          0::bigint, 'the dense layers are block-diagonal: zeros off the members'' blocks');
SELECT is((SELECT count(*) FROM recs.ncf_layer e, recs.ncf_layer a, recs.ncf_layer b,
                  generate_series(0, 15) i, generate_series(0, 7) j
            WHERE e.model_id = :e2 AND a.model_id = :m3 AND b.model_id = :m4
              AND e.tower = 'learner' AND a.tower = 'learner' AND b.tower = 'learner'
              AND e.layer = 1 AND a.layer = 1 AND b.layer = 1
              AND (e.weight[i * 16 + j + 1] <> a.weight[i * 8 + j + 1]
                   OR e.weight[(16 + i) * 16 + 8 + j + 1] <> b.weight[i * 8 + j + 1])),
          0::bigint, 'its diagonal blocks are the members'' weights, seed 3 then seed 4');
SELECT is((SELECT e.bias FROM recs.ncf_layer e WHERE e.model_id = :e2 AND e.tower = 'course' AND e.layer = 2),
          (SELECT a.bias || b.bias FROM recs.ncf_layer a, recs.ncf_layer b
            WHERE a.model_id = :m3 AND b.model_id = :m4 AND a.tower = 'course' AND b.tower = 'course'
              AND a.layer = 2 AND b.layer = 2),
          'biases are the members'' concatenated');

-- serving: concatenated embeddings, summed scores and trend terms
SELECT cmp_ok((SELECT max(pg_temp.maxdiff(e.embedding, a.embedding || b.embedding))
                 FROM recs.ncf_course e JOIN recs.ncf_course a USING (course_id) JOIN recs.ncf_course b USING (course_id)
                WHERE e.model_id = :e2 AND a.model_id = :m3 AND b.model_id = :m4),
              '<', 1e-5::float8, 'each stored course embedding is the members'' concatenated');
SELECT cmp_ok((SELECT max(pg_temp.maxdiff(e.embedding, a.embedding || b.embedding))
                 FROM recs.ncf_learner e JOIN recs.ncf_learner a USING (learner_id) JOIN recs.ncf_learner b USING (learner_id)
                WHERE e.model_id = :e2 AND a.model_id = :m3 AND b.model_id = :m4),
              '<', 1e-5::float8, 'each stored learner embedding is the members'' concatenated');
SELECT cmp_ok((SELECT max(abs(e.trend - (a.trend + b.trend)))::float8
                 FROM recs.ncf_course e JOIN recs.ncf_course a USING (course_id) JOIN recs.ncf_course b USING (course_id)
                WHERE e.model_id = :e2 AND a.model_id = :m3 AND b.model_id = :m4),
              '<', 1e-6::float8, 'each course''s trend term is the sum of the members''');
SELECT cmp_ok((SELECT max(abs(recs.score(:e2, l.learner_id, c.course_id)
                              - recs.score(:m3, l.learner_id, c.course_id) - recs.score(:m4, l.learner_id, c.course_id)))
                 FROM (SELECT learner_id FROM recs.ncf_learner WHERE model_id = :e2 ORDER BY 1 LIMIT 10) l,
                      (SELECT course_id FROM recs.ncf_course WHERE model_id = :e2 ORDER BY 1 LIMIT 10) c),
              '<', 1e-4::float8, 'score() is the sum of the members'' scores');
SELECT cmp_ok(pg_temp.maxdiff(recs.embed_learner(:e2, '{1,2,3,5,8}'),
                              recs.embed_learner(:m3, '{1,2,3,5,8}') || recs.embed_learner(:m4, '{1,2,3,5,8}')),
              '<', 1e-5::float8, 'embed_learner runs the merged tower: the members'' embeddings concatenated');
SELECT cmp_ok(pg_temp.maxdiff(recs.embed_course(:e2, '{"topic": "data-science"}'),
                              recs.embed_course(:m3, '{"topic": "data-science"}') || recs.embed_course(:m4, '{"topic": "data-science"}')),
              '<', 1e-5::float8, 'embed_course (a course from its features) too');

SELECT is((SELECT (params->'ensemble') || (params->'member_layers') || (params->'member_dim') || (params->'dim')
             FROM recs.model WHERE model_id = :e2),
          '[2, 16, 8, 4, 8]'::jsonb, 'params: ensemble 2, the members'' layers and dim, the merged dim');

SELECT is((SELECT (metrics->>'instances_per_epoch')::bigint FROM recs.model WHERE model_id = :e2),
          (SELECT 2 * (metrics->>'instances_per_epoch')::bigint FROM recs.model WHERE model_id = :m3),
          'metrics: an epoch of the ensemble is an epoch of each member (its seconds are summed, so the rate is the training''s)');

-- memory and errors
SET LOCAL recs.memory_limit = '24MB';
SELECT lives_ok($$SELECT recs.train_ncf('en.watches', layers => '{1024,512}', dim => 64, epochs => 1, activate => false)$$,
                'a single 1024-512-64 model fits in 24 MB');
SELECT throws_ok($$SELECT recs.train_ncf('en.watches', layers => '{1024,512}', dim => 64, epochs => 1, ensemble => 8)$$,
                 '54000', NULL, 'eight of them and their merged network (8 x 8 blocks) do not: recs.memory_limit counts them');
RESET recs.memory_limit;
SELECT throws_ok($$SELECT recs.train_ncf('en.watches', epochs => 1, ensemble => 2, validation => 'auto')$$, '0A000',
                 'ensemble cannot be combined with validation ''auto''', 'each member would keep another epoch');
SELECT throws_ok($$SELECT recs.train_ncf('en.watches', epochs => 1, ensemble => 2, encoder => 'attention')$$, '0A000',
                 'ensemble needs encoder ''bag''', 'an attention encoder cannot be merged');
SELECT throws_ok($$SELECT recs.train_ncf('en.watches', epochs => 1, ensemble => 9)$$, '22023',
                 'ensemble must be between 1 and 8, not 9', 'at most 8 members');

SELECT * FROM finish();
ROLLBACK;
