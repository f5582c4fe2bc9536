-- pipeline.sql -- train_all (the nightly pipeline) and recommend_all (batch serving)
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(17);

SELECT count(*) FROM recs.generate_sample('pl', 400, 50, 13);
SELECT lives_ok($$SELECT recs.train_all('pl.watches', 'pl.impressions', 'pl.learners', 'pl.courses',
                                        name => 'nightly', blend_days => 30, epochs => 3,
                                        blend_effects => '{learner_id,segment}', candidates => '{click_blend}')$$,
                'the whole pipeline runs in one call');
SELECT set_eq($$SELECT name || ':' || kind FROM recs.models$$,
              ARRAY['nightly_popularity:popularity', 'nightly_ncf:ncf', 'nightly_glmix:glmix', 'nightly_blend:blend'],
              'four models: popularity, neural CF, GLMix, blend');
SELECT is((SELECT name FROM recs.models WHERE 'default' = ANY (deployed_in)), 'nightly_blend', 'the blend serves');
SELECT is((SELECT array_agg(component_id ORDER BY position) FROM recs.blend_component
            WHERE model_id = recs.model_id('nightly_blend')),
          ARRAY[recs.model_id('nightly_ncf'), recs.model_id('nightly_glmix'), recs.model_id('nightly_popularity')],
          'the blend is over the three component models');
SELECT is((SELECT array_agg(trained_through ORDER BY name) FROM recs.model WHERE kind <> 'glmix' AND name LIKE 'nightly%'),
          array_fill((SELECT max(watched_at) FROM pl.watches), ARRAY[3]),
          'the models know the data through its end (the components were refitted)');
SELECT is((SELECT (params->>'since')::timestamptz FROM recs.model WHERE name = 'nightly_blend'),
          (SELECT max(watched_at) FROM pl.watches) - interval '30 days',
          'the blend learns from the last 30 days only');
SELECT throws_ok($$SELECT recs.train_all('pl.watches', 'pl.impressions', 'pl.learners', 'pl.courses', blend_days => 0)$$,
                 '22023', NULL, 'blend_days must be positive');

-- the pipeline with a ranking blend re-ranking NCF's best courses
SELECT recs.train_all('pl.watches', 'pl.impressions', 'pl.learners', 'pl.courses', name => 'ranked',
                      blend_days => 30, epochs => 3, rerank_top => 10, activate => false,
                      candidates => '{rerank_blend}') AS ranked \gset
SELECT is((SELECT array_agg(component_id ORDER BY position) FROM recs.blend_component WHERE model_id = :ranked),
          ARRAY[recs.model_id('ranked_ncf'), recs.model_id('ranked_glmix')],
          'rerank_top: a blend of NCF and GLMix');
SELECT is((SELECT params->>'rerank_top' || '/' || (params->>'negatives') || '/' || (source->>'impressions')
             FROM recs.model WHERE model_id = :ranked),
          '10/20/pl.watches', 'trained on the watches with 20 negatives, re-ranking NCF''s 10 best');
SELECT set_eq(format('SELECT course_id FROM recs.recommend(100001, 10, model => %s)', :ranked),
              format('SELECT course_id FROM recs.recommend(100001, 10, model => %s)', recs.model_id('ranked_ncf')),
              'its top 10 are NCF''s top 10, re-ordered');
SELECT throws_ok($$SELECT recs.train_all('pl.watches', 'pl.impressions', 'pl.learners', 'pl.courses', rerank_top => 0)$$,
                 '22023', 'rerank_top must be positive, not 0', 'rerank_top must be positive');

-- batch serving
SELECT is((SELECT count(*)::int FROM recs.recommend_all(5)),
          (SELECT sum(n)::int FROM (SELECT count(*) AS n FROM recs.model_learner ml,
                                        recs.recommend(ml.learner_id, 5) r
                                     WHERE ml.model_id = recs.model_id('nightly_blend')) x),
          'recommend_all returns what recommend returns for every known learner');
SELECT is((SELECT count(DISTINCT learner_id)::int FROM recs.recommend_all(5)),
          (SELECT count(*)::int FROM recs.model_learner WHERE model_id = recs.model_id('nightly_blend')),
          'one list per learner the model knows');
SELECT results_eq($$SELECT learner_id, rank, course_id FROM recs.recommend_all(3, learners => '{999999}')$$,
                  $$SELECT 999999::bigint, rank, course_id FROM recs.recommend(999999, 3)$$,
                  'named learners, known or not');
SELECT results_eq($$SELECT count(*)::int FROM recs.recommend_all(2, model => recs.model_id('nightly_ncf'), learners => '{100001}')$$,
                  $$VALUES (2)$$, 'a specific model');
SELECT is((SELECT string_agg(DISTINCT proparallel::text, ',') FROM pg_proc
            WHERE proname = 'recommend_all' AND pronamespace = 'recs'::regnamespace), 's',
          'recommend_all (and its uuid and text forms) is PARALLEL SAFE');
SELECT results_eq($$SELECT course_id FROM recs.similar_courses(1, 5)$$,
                  $$SELECT course_id FROM recs.similar_courses(1, 5, model => recs.model_id('nightly_ncf'))$$,
                  'with a blend active, similar_courses uses its neural CF component');

SELECT * FROM finish();
ROLLBACK;
