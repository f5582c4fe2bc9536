-- The whole product on sample data: the nightly pipeline, serving with every
-- option, explanations and evaluation.
SET client_min_messages = warning;
SELECT count(*) AS tables FROM recs.generate_sample('pipe', 500, 60, 99);

-- 1. one call trains popularity, neural CF and GLMix on all but the last 30
--    days, blends them on the last 30 days, and activates the blend
SELECT recs.train_all('pipe.watches', 'pipe.impressions', 'pipe.learners', 'pipe.courses',
                      name => 'nightly', blend_days => 30, epochs => 3,
                      blend_effects => '{learner_id,segment}') > 0 AS trained;
SELECT name, kind, version, deployed_in FROM recs.models ORDER BY model_id;

-- the blend's weights for the components, globally and per segment
SELECT coalesce(entity, '(global)') AS segment, cardinality(coefs) AS coefficients
  FROM recs.blend_coef
 WHERE model_id = recs.model_id('nightly_blend') AND (entity IS NULL OR coordinate = 'segment')
 ORDER BY entity NULLS FIRST;

-- 2. serving: ten ranked courses, none watched before
SELECT count(*) AS n, min(rank), max(rank), bool_and(score IS NOT NULL) AS scored
  FROM recs.recommend(100001, 10);
SELECT count(*) AS already_watched
  FROM recs.recommend(100001, 10) r
  JOIN recs.model_learner ml ON ml.model_id = recs.model_id('nightly_blend') AND ml.learner_id = 100001
 WHERE r.course_id = ANY (ml.watched);
-- a filter: Spanish courses only (as many as are eligible, up to ten)
SELECT count(*) AS spanish_only,
       bool_and(c.language = 'es') AS all_spanish
  FROM recs.recommend(100001, 10, candidates => ARRAY(SELECT course_id FROM pipe.courses WHERE language = 'es')) r
  JOIN pipe.courses c USING (course_id);
-- an exclusion list, and a course watched since training
SELECT count(*) FILTER (WHERE course_id IN (1, 2, 3)) AS excluded_shown
  FROM recs.recommend(100001, 60, exclude => '{1,2}', recent => '{3}');
-- a brand-new learner is served too (cold start)
SELECT count(*) AS cold_start FROM recs.recommend(424242, 5);
-- a specific model instead of the active one
SELECT count(*) AS from_popularity FROM recs.recommend(100001, 5, model => recs.model_id('nightly_popularity'));

-- 3. why this course? the parts add up to the served score
SELECT part, kind
  FROM recs.explain(100001, (SELECT course_id FROM recs.recommend(100001, 1)))
 ORDER BY part;
SELECT abs((SELECT contribution FROM recs.explain(100001, r.course_id) WHERE part = 'total') - r.score) < 1e-9
       AS adds_up
  FROM recs.recommend(100001, 1) r;

-- 4. batch serving for ETL
SELECT count(DISTINCT learner_id) = (SELECT count(*) FROM recs.model_learner
                                      WHERE model_id = recs.model_id('nightly_blend')) AS every_learner,
       max(rank) AS max_rank
  FROM recs.recommend_all(3);

-- 5. evaluation: the result is returned and kept with the model
SELECT e ? 'recall' AND e ? 'ndcg' AND e ? 'mrr' AND e ? 'coverage' AS full_metrics
  FROM recs.evaluate(recs.model_id('nightly_blend'),
                     'pipe.watches', 10) e;
SELECT jsonb_object_keys(metrics->'evaluation') AS stored
  FROM recs.model WHERE model_id = recs.model_id('nightly_blend');

\set VERBOSITY terse
-- errors
SELECT recs.train_all('pipe.watches', 'pipe.impressions', 'pipe.learners', 'pipe.courses', blend_days => 0);
SELECT recs.train_blend('{}', 'pipe.impressions');
SELECT recs.drop_model(recs.model_id('nightly_ncf'));
SELECT * FROM recs.explain(NULL, 1);
