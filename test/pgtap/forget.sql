-- forget.sql -- recs.forget_learner: the learner leaves every model, every
-- cache, and nobody else's recommendations change.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(14);

SELECT count(*) FROM recs.generate_sample('fg', 200, 30, 11);
CREATE VIEW fg.early_watches AS SELECT * FROM fg.watches WHERE watched_at < '2025-12-01';
CREATE VIEW fg.early_impressions AS SELECT * FROM fg.impressions WHERE shown_at < '2025-12-01';
SELECT recs.train_popularity('fg.early_watches', 'fg.learners', name => 'fg_pop', activate => false);
SELECT recs.train_ncf('fg.early_watches', 'fg_ncf', courses => 'fg.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT recs.train_glmix('fg.early_impressions', 'fg.learners', 'fg.courses', '{segment}', '{topic}',
                        name => 'fg_glmix', activate => false);
SELECT recs.train_blend(ARRAY[recs.model_id('fg_ncf'), recs.model_id('fg_glmix')], 'fg.impressions',
                        'fg.learners', name => 'fg_blend', random_effects => '{learner_id,segment}');

-- the learner to forget: known to every model, with coefficients of their own
SELECT min(l.learner_id) AS gone FROM recs.model_learner l
 WHERE l.model_id = recs.model_id('fg_glmix')
   AND l.learner_id IN (SELECT learner_id FROM recs.ncf_learner WHERE model_id = recs.model_id('fg_ncf'))
   AND l.learner_id::text IN (SELECT entity FROM recs.glmix_coef WHERE model_id = recs.model_id('fg_glmix')
                                                                 AND coordinate = 'learner_id')
   AND l.learner_id::text IN (SELECT entity FROM recs.blend_coef WHERE model_id = recs.model_id('fg_blend')
                                                                 AND coordinate = 'learner_id') \gset
SELECT ok(:gone IS NOT NULL, 'a learner every model knows');

-- everyone's recommendations from every model, before; and the learner's, served (and cached)
CREATE TEMP TABLE before AS
SELECT m.name, l.learner_id, r.rank, r.course_id, r.score
  FROM recs.models m, fg.learners l, LATERAL recs.recommend(l.learner_id, 5, model => m.model_id) r
 WHERE m.name LIKE 'fg\_%';
SELECT recs.glmix_score(recs.model_id('fg_glmix'), :gone, 1) AS glmix_before \gset

CREATE TEMP TABLE removed AS SELECT * FROM recs.forget_learner(:gone);
SELECT set_eq($$SELECT table_name FROM removed WHERE rows_removed > 0$$,
              ARRAY['recs.model_learner', 'recs.ncf_learner', 'recs.glmix_entity', 'recs.glmix_coef',
                    'recs.blend_learner', 'recs.blend_coef'],
              'it reports rows removed from every table that held the learner');
SELECT is((SELECT rows_removed FROM removed WHERE table_name = 'recs.model_learner'), 4::bigint,
          'their history, from all four models');

-- no model table holds them
SELECT is((SELECT count(*)::int FROM recs.model_learner WHERE learner_id = :gone), 0, 'model_learner: gone');
SELECT is((SELECT count(*)::int FROM recs.ncf_learner WHERE learner_id = :gone), 0, 'ncf_learner: gone');
SELECT is((SELECT count(*)::int FROM recs.glmix_entity WHERE side = 'learner' AND id = :gone), 0, 'glmix_entity: gone');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE entity = :gone::text), 0, 'glmix_coef: gone');
SELECT is((SELECT count(*)::int FROM recs.blend_learner WHERE learner_id = :gone), 0, 'blend_learner: gone');
SELECT is((SELECT count(*)::int FROM recs.blend_coef WHERE entity = :gone::text), 0, 'blend_coef: gone');
SELECT is((SELECT entities FROM recs.glmix_coordinate WHERE model_id = recs.model_id('fg_glmix') AND name = 'learner_id'),
          (SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('fg_glmix') AND coordinate = 'learner_id'),
          'the GLMix coordinate still counts its entities right');

-- every model serves them as a stranger, even in the backend that had them cached
SELECT results_eq(format($$SELECT m.name, r.rank, r.course_id, r.score FROM recs.models m,
                                  LATERAL recs.recommend(%s, 5, model => m.model_id) r
                            WHERE m.name LIKE 'fg\_%%' ORDER BY 1, 2$$, :gone),
                  $$SELECT m.name, r.rank, r.course_id, r.score FROM recs.models m,
                           LATERAL recs.recommend(999999999, 5, model => m.model_id) r
                     WHERE m.name LIKE 'fg\_%' ORDER BY 1, 2$$,
                  'every model recommends to them what it recommends to an unknown learner');
SELECT is(recs.glmix_score(recs.model_id('fg_glmix'), :gone, 1),
          recs.glmix_score(recs.model_id('fg_glmix'), 999999999, 1),
          'the cached GLMix model was reloaded: no features or coefficients of theirs are left');
SELECT isnt(:glmix_before::float8, recs.glmix_score(recs.model_id('fg_glmix'), :gone, 1),
            '(they had a score of their own before)');

-- nobody else's recommendations change
SELECT is_empty(format($$SELECT name, learner_id, rank, course_id, score FROM before WHERE learner_id <> %s
                          EXCEPT
                          SELECT m.name, l.learner_id, r.rank, r.course_id, r.score
                            FROM recs.models m, fg.learners l, LATERAL recs.recommend(l.learner_id, 5, model => m.model_id) r
                           WHERE m.name LIKE 'fg\_%%' AND l.learner_id <> %s$$, :gone, :gone),
                'every other learner gets exactly the recommendations they got before');

SELECT * FROM finish();
ROLLBACK;
