-- GLMix response prediction, step by step on the sample data.
--
-- A GLMix model predicts whether a learner responds to (clicks) a course:
--   logit P = global fixed effect . x(learner, course)
--           + the learner's own coefficients . x(course)
--           + the course's own coefficients . x(learner)
SELECT table_name, row_count FROM recs.generate_sample('s', 300, 60, 7);
-- train on the impressions before September 2025, validate on the rest
CREATE VIEW s.train AS SELECT * FROM s.impressions WHERE shown_at < '2025-09-01';
CREATE VIEW s.test AS SELECT * FROM s.impressions WHERE shown_at >= '2025-09-01';
-- the NOTICE lines report each pass (each coordinate at DEBUG1), with timings
SET client_min_messages = warning;
SELECT recs.train_glmix('s.train', 's.learners', 's.courses',
                        learner_features => '{industry,segment}',
                        course_features => '{topic,difficulty,duration_minutes}',
                        name => 'clicks', crosses => '{industry:topic}',
                        validation => 's.test') AS m \gset
RESET client_min_messages;
SELECT name, version, kind, params->'l2' AS l2, params->'random_effects' AS random_effects,
       params->'crosses' AS crosses
  FROM recs.models WHERE model_id = :m;
SELECT metrics->'fixed_features' AS fixed_features, metrics->'entity_models' AS entity_models,
       jsonb_array_length(metrics->'passes') AS passes,
       round((metrics->>'validation_auc')::numeric, 2) AS validation_auc
  FROM recs.models WHERE model_id = :m;
-- the coordinates and their feature spaces
SELECT position, name, keyed_by, l2, intercept, cardinality(features) AS features, entities
  FROM recs.glmix_coordinate WHERE model_id = :m ORDER BY position;
-- the strongest features of the global model ...
SELECT feature, round(coef::numeric, 3) AS coef
  FROM recs.glmix_coefficients WHERE model_id = :m AND coordinate = 'fixed'
 ORDER BY abs(coef) DESC, feature LIMIT 5;
-- ... of one learner (over course features) and of one course (over learner features)
SELECT feature, round(coef::numeric, 3) AS coef
  FROM recs.glmix_coefficients WHERE model_id = :m AND coordinate = 'learner_id' AND entity = '100001'
 ORDER BY abs(coef) DESC, feature LIMIT 3;
SELECT feature, round(coef::numeric, 3) AS coef
  FROM recs.glmix_coefficients WHERE model_id = :m AND coordinate = 'course_id' AND entity = '5'
 ORDER BY abs(coef) DESC, feature LIMIT 3;
-- scoring: a probability; an unknown learner gets no random effect of their own
SELECT round(recs.glmix_score(:m, 100001, 5)::numeric, 4) AS known,
       round(recs.glmix_score(:m, 1, 5)::numeric, 4) AS unknown_learner,
       round(recs.glmix_score(:m, 1, 99999)::numeric, 4) AS unknown_both;
-- explain: each coordinate's share of the logit and the features behind it
SELECT coordinate, entity, has_model, round(contribution::numeric, 3) AS contribution,
       top_features[1:2] AS top_features
  FROM recs.explain(:m, 100001, 5);
-- the aggregates work on any table: features are 1-based indexes
CREATE TABLE s.tiny (entity int, y float8, f int[]);
INSERT INTO s.tiny VALUES (1, 1, '{1,2}'), (1, 0, '{1,3}'), (1, 1, '{1,2}'),
                          (2, 0, '{1,2}'), (2, 0, '{1,3}'), (2, 1, '{1,3}');
SELECT rows, round(loss::numeric, 4) AS loss, gradient, cardinality(hessian) AS hessian_size
  FROM (SELECT (recs.glmix_fixed_stats(y, 1, 0, f, NULL, '{0,0,0}')).* FROM s.tiny) q;
SELECT entity, (SELECT array_agg(round(c::numeric, 4)) FROM unnest(fit) c) AS coefficients
  FROM (SELECT entity, recs.glmix_entity_fit(y, 1, 0, f, NULL, 3, 1.0) AS fit
          FROM s.tiny GROUP BY entity) q ORDER BY entity;
-- errors
\set VERBOSITY terse
SELECT recs.train_glmix('s.train', 's.learners', 's.courses', '{nosuch}', '{topic}');
SELECT recs.train_glmix('s.train', 's.learners', 's.courses', '{industry}', '{topic}', label => 'watched');
SELECT recs.train_glmix('s.train', 's.learners', 's.courses', '{industry}', '{topic}', l2 => '{300,10}');
SELECT recs.glmix_score(12345, 1, 1);
\set VERBOSITY default
-- serving: an activated glmix model answers recs.recommend(), leaving out the
-- courses the learner clicked in the training data
SELECT recs.activate(:m) = :m AS activated;
SELECT rank, course_id, round(score::numeric, 4) AS score FROM recs.recommend(100001, 3);
SELECT count(*) AS clicked_courses_recommended
  FROM recs.recommend(100001, 1000) r
  JOIN recs.model_learner ml ON ml.model_id = :m AND ml.learner_id = 100001
 WHERE r.course_id = ANY (ml.watched);
SELECT recs.drop_model(:m, force => true);
SELECT count(*) AS parts_left FROM recs.glmix_coef WHERE model_id = :m;
