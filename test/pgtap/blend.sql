-- blend.sql -- the personalised blend: training window, storage, serving
-- consistency with its components, personalisation, errors
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(25);

SELECT count(*) FROM recs.generate_sample('bl', 600, 80, 21);
CREATE VIEW bl.w_early AS SELECT * FROM bl.watches WHERE watched_at < '2025-09-01';
CREATE VIEW bl.imp_early AS SELECT * FROM bl.impressions WHERE shown_at < '2025-09-01';
SELECT recs.train_popularity('bl.w_early', 'bl.learners', name => 'bl_pop', through => '2025-08-31') AS pop \gset
SELECT recs.train_glmix('bl.imp_early', 'bl.learners', 'bl.courses', '{industry,segment,language}',
                        '{topic,difficulty,language}', name => 'bl_glmix') AS gl \gset

SELECT lives_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bl.impressions', 'bl.learners',
                          random_effects => '{learner_id,segment}', name => 'bl_blend')$$, :pop, :gl),
                'trains a blend of popularity and GLMix with learner and segment effects');
SELECT recs.model_id('bl_blend') AS bl \gset
SELECT is((SELECT kind FROM recs.model WHERE model_id = :bl), 'blend', 'a blend model');
SELECT is((SELECT (params->>'since')::timestamptz FROM recs.model WHERE model_id = :bl),
          (SELECT max(shown_at) FROM bl.imp_early),
          'it trains only on impressions after the components'' training data (GLMix''s ends last)');
SELECT is((SELECT (metrics->>'impressions_used')::int FROM recs.model WHERE model_id = :bl),
          (SELECT count(*)::int FROM bl.impressions WHERE shown_at > (SELECT max(shown_at) FROM bl.imp_early)),
          'every later impression, and no earlier one, is used');
SELECT results_eq(format('SELECT component_id, transform FROM recs.blend_component WHERE model_id = %s ORDER BY position', :bl),
                  format('VALUES (%s::bigint, %L), (%s, %L)', :pop, 'identity', :gl, 'logit'),
                  'components in order; GLMix enters on the logit scale');
SELECT is((SELECT array_length(coefs, 1) FROM recs.blend_coef WHERE model_id = :bl AND entity IS NULL), 3,
          'global coefficients: intercept and one per component');
SELECT set_eq(format('SELECT entity FROM recs.blend_coef WHERE model_id = %s AND coordinate = %L', :bl, 'segment'),
              'SELECT DISTINCT segment FROM bl.learners', 'one model per segment');
SELECT ok((SELECT count(DISTINCT coefs) FROM recs.blend_coef WHERE model_id = :bl AND coordinate = 'segment') = 3,
          'segments get different weights (personalisation)');
SELECT ok((SELECT count(*) FROM recs.blend_coef WHERE model_id = :bl AND coordinate = 'learner_id') > 100,
          'learners with later impressions get their own weights');

-- serving: the blend score equals the formula over the components' own scores
CREATE TEMP TABLE check_scores AS
WITH l AS (SELECT 100007::bigint AS learner_id),
pop AS (SELECT r.course_id, r.score FROM l, recs.recommend(l.learner_id, 1000, exclude_watched => false, model => :pop) r),
gl AS (SELECT r.course_id, r.score FROM l, recs.recommend(l.learner_id, 1000, exclude_watched => false, model => :gl) r),
comp AS (SELECT position, mean, sd FROM recs.blend_component WHERE model_id = :bl),
coef AS (SELECT (SELECT coefs FROM recs.blend_coef WHERE model_id = :bl AND entity IS NULL) AS g,
                (SELECT coefs FROM recs.blend_coef WHERE model_id = :bl AND coordinate = 'learner_id' AND entity = '100007') AS lc,
                (SELECT coefs FROM recs.blend_coef c JOIN bl.learners le ON le.segment = c.entity
                  WHERE c.model_id = :bl AND c.coordinate = 'segment' AND le.learner_id = 100007) AS sc),
c AS (SELECT g[1] + coalesce(lc[1], 0) + coalesce(sc[1], 0) AS b0,
             g[2] + coalesce(lc[2], 0) + coalesce(sc[2], 0) AS b1,
             g[3] + coalesce(lc[3], 0) + coalesce(sc[3], 0) AS b2 FROM coef)
SELECT pop.course_id,
       c.b0 + c.b1 * (pop.score - (SELECT mean FROM comp WHERE position = 1)) / (SELECT sd FROM comp WHERE position = 1)
            + c.b2 * (ln(gl.score / (1 - gl.score)) - (SELECT mean FROM comp WHERE position = 2)) / (SELECT sd FROM comp WHERE position = 2)
         AS expected,
       b.score AS served
  FROM pop JOIN gl USING (course_id) CROSS JOIN c
  JOIN (SELECT r.course_id, r.score FROM recs.recommend(100007, 1000, exclude_watched => false, model => :bl) r) b USING (course_id);
SELECT ok((SELECT count(*) FROM check_scores) > 50 AND (SELECT max(abs(expected - served)) FROM check_scores) < 1e-9,
          'served blend scores equal global + learner + segment weights times standardised component scores');

SELECT results_eq(format('SELECT count(*)::int FROM recs.recommend(999999, 5, model => %s)', :bl), 'VALUES (5)',
                  'an unknown learner is served from the global weights');

-- explanation: the parts add up to the served score
SELECT r.course_id AS top_course, r.score AS top_score FROM recs.recommend(100007, 1, model => :bl) r \gset
SELECT ok(abs((SELECT contribution FROM recs.explain_recommendation(100007, :top_course, :bl) WHERE part = 'total') - :top_score) < 1e-9,
          'explain_recommendation: the total is the served score');
SELECT ok(abs((SELECT sum(contribution) FROM recs.explain_recommendation(100007, :top_course, :bl) WHERE part <> 'total') - :top_score) < 1e-9
          AND (SELECT count(*) FROM recs.explain_recommendation(100007, :top_course, :bl)) = 4,
          'explain_recommendation: intercept + one part per component add up to it');
SELECT ok((SELECT cardinality(detail) > 2 FROM recs.explain_recommendation(100007, :top_course, :bl) WHERE kind = 'glmix'),
          'explain_recommendation: the GLMix part names the features behind it');

SELECT recs.activate(:bl);
SELECT results_eq(format('SELECT part, contribution FROM recs.explain(100007, %s)', :top_course),
                  format('SELECT part, contribution FROM recs.explain_recommendation(100007, %s, %s)', :top_course, :bl),
                  'recs.explain(learner, course) explains the active model');

-- a ranking blend: watches as positives, sampled unwatched courses as negatives
SELECT recs.train_blend(ARRAY[:pop, :gl], 'bl.watches', name => 'bl_rank', time_column => 'watched_at',
                        negatives => 3, activate => false) AS rk \gset
SELECT is((SELECT (metrics->>'impressions_used')::int FROM recs.model WHERE model_id = :rk),
          (SELECT 4 * count(*)::int FROM bl.watches
            WHERE watched_at > (SELECT (params->>'since')::timestamptz FROM recs.model WHERE model_id = :rk)),
          'negatives => 3: every watch after the components'' data plus three sampled negatives');
SELECT recs.train_blend(ARRAY[:pop, :gl], 'bl.watches', name => 'bl_rank', time_column => 'watched_at',
                        negatives => 3, activate => false) AS rk2 \gset
SELECT is((SELECT coefs FROM recs.blend_coef WHERE model_id = :rk2 AND entity IS NULL),
          (SELECT coefs FROM recs.blend_coef WHERE model_id = :rk AND entity IS NULL),
          'the same seed samples the same negatives: identical weights');

-- errors
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s], 'bl.impressions', since => '2030-01-01')$$, :pop),
                 '02000', NULL, 'no impressions after the components');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bl.impressions')$$, :pop, :pop),
                 '22023', NULL, 'a component named twice');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s], 'bl.impressions')$$, :bl),
                 '22023', NULL, 'no blends of blends');
SELECT throws_ok($$SELECT recs.train_blend(ARRAY[-7], 'bl.impressions')$$, '42704', NULL, 'an unknown component');
SELECT throws_ok(format($$SELECT recs.drop_model(%s)$$, :pop), '55006', NULL,
                 'a component cannot be dropped while a blend uses it');

-- the memory budget counts the component models the blend loads, not only
-- its own arrays: ten impressions need a few kB, popularity and GLMix loaded
-- about 0.14 MB (GLMix without its learners' rows, see glmix_serving.sql)
CREATE VIEW bl.imp_few AS
  (SELECT * FROM bl.impressions WHERE shown_at > '2025-09-01' AND clicked ORDER BY shown_at, learner_id, course_id LIMIT 5)
  UNION ALL
  (SELECT * FROM bl.impressions WHERE shown_at > '2025-09-01' AND NOT clicked ORDER BY shown_at, learner_id, course_id LIMIT 5);
SET LOCAL recs.memory_limit = '64kB';
SELECT throws_like(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bl.imp_few', name => 'bl_few')$$, :pop, :gl),
                   'training the blend with its component models (0._ MB) needs about 0._ MB, more than the 0.1 MB recs may use',
                   'a blend over recs.memory_limit with its components stops (54000) before reading more');
SET LOCAL recs.memory_limit = '4MB';
SELECT lives_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'bl.imp_few', name => 'bl_few', activate => false)$$, :pop, :gl),
                'the same blend trains within a budget that holds its components');
RESET recs.memory_limit;

-- a cache smaller than the parts the blend serves from: each part is loaded
-- once per transaction, and the answers do not change
CREATE TEMP TABLE served_big_cache AS
  SELECT l, r.* FROM generate_series(100001, 100060) l, recs.recommend(l, 5, model => :bl) r;
SET LOCAL recs.cache_size = '64kB';
SELECT set_eq(format('SELECT l, r.* FROM generate_series(100001, 100060) l, recs.recommend(l, 5, model => %s) r', :bl),
              'SELECT * FROM served_big_cache', 'a blend serves the same from a cache smaller than its parts');
RESET recs.cache_size;

SELECT * FROM finish();
ROLLBACK;
