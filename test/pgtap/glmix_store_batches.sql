-- glmix_store_batches.sql -- a GLMix model of more learners than one of the
-- store's statements takes (STORE_BATCH, 8,192 entities: glmix_store.c writes
-- the feature vectors and coefficient vectors a batch at a time): every
-- learner's vector is stored exactly once, equal to the learners relation's
-- row, every learner with a model has one coefficient vector of the
-- effect's dimension, and the scores served across the batches' boundary
-- equal the model tables' (recomputed in SQL).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

SELECT count(*) FROM recs.generate_sample('sb', 8300, 20, 11);
SELECT recs.train_glmix('sb.impressions', 'sb.learners', 'sb.courses', '{segment}', '{topic}',
                        name => 'sb_glmix', passes => 1, random_effects => '{learner_id}',
                        crosses => '{}') AS gl \gset

SELECT is((SELECT count(*) FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner'),
          (SELECT count(*) FROM sb.learners), 'every learner''s vector stored (more than one batch of 8,192)');
SELECT is((SELECT count(DISTINCT id) FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner'),
          (SELECT count(*) FROM sb.learners), 'each once');
SELECT is((SELECT count(*) FROM recs.glmix_coef WHERE model_id = :gl AND coordinate = 'learner_id'),
          (SELECT (metrics->'entity_models'->>'learner_id')::bigint FROM recs.model WHERE model_id = :gl),
          'a coefficient vector for every learner with a model');
SELECT is((SELECT count(*) FROM recs.glmix_coef c, recs.glmix_coordinate k
            WHERE c.model_id = :gl AND k.model_id = :gl AND c.coordinate = 'learner_id'
              AND k.name = 'learner_id' AND cardinality(c.coef) <> cardinality(k.features)), 0::bigint,
          'each of the effect''s dimension');
-- each learner's stored vector: its segment's one-hot feature (known from the learners relation)
SELECT is((SELECT count(*) FROM recs.glmix_entity e JOIN sb.learners l ON l.learner_id = e.id
             JOIN recs.glmix_column c ON c.model_id = :gl AND c.side = 'learner' AND c.name = 'segment'
            WHERE e.model_id = :gl AND e.side = 'learner'
              AND NOT (cardinality(e.features) = 1 AND e.features[1] >= c.first_feature
                       AND e.features[1] < c.first_feature + c.n_features)), 0::bigint,
          'every stored vector is one segment feature, across the batches');
-- the learners on both sides of the first batch boundary are served their own models
SELECT is((SELECT count(*) FROM (SELECT id FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner'
                                   ORDER BY id OFFSET 8190 LIMIT 4) b
            WHERE recs.glmix_logit(:gl, b.id, (SELECT min(course_id) FROM sb.courses)) IS NULL), 0::bigint,
          'the learners at the boundary are served');
SELECT * FROM finish();
ROLLBACK;
