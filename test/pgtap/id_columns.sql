-- id_columns.sql -- learners and courses relations keyed by another column
-- name than the interactions (learners_id_column, courses_id_column): every
-- trainer that reads a learners or courses relation trains, on a learners
-- relation keyed by user_id and a courses relation keyed by id, exactly the
-- model it trains on the conventional names (same data, same seeds).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(14);

SELECT count(*) FROM recs.generate_sample('ic', 120, 20, 5);
CREATE VIEW ic.users AS SELECT learner_id AS user_id, language, industry, segment FROM ic.learners;
CREATE VIEW ic.catalogue AS SELECT course_id AS id, language, topic, difficulty FROM ic.courses;
CREATE VIEW ic.early_watches AS SELECT * FROM ic.watches WHERE watched_at < '2025-12-01';
CREATE VIEW ic.early_impressions AS SELECT * FROM ic.impressions WHERE shown_at < '2025-12-01';

-- GLMix: id-keyed effects, and effects keyed by a learners column (segment)
-- and by a courses column (difficulty), which read the relations by their ids
SELECT recs.train_glmix('ic.early_impressions', 'ic.learners', 'ic.courses', '{industry,segment}', '{topic,language}',
                        name => 'ic_glmix_ref', random_effects => '{learner_id,course_id,segment,difficulty}',
                        crosses => '{industry:topic}', activate => false) AS g_ref \gset
SELECT recs.train_glmix('ic.early_impressions', 'ic.users', 'ic.catalogue', '{industry,segment}', '{topic,language}',
                        name => 'ic_glmix_ids', random_effects => '{learner_id,course_id,segment,difficulty}',
                        crosses => '{industry:topic}', learners_id_column => 'user_id', courses_id_column => 'id',
                        activate => false) AS g_ids \gset
SELECT ok((SELECT count(*) FROM recs.glmix_coefficients WHERE model_id = :g_ref AND coordinate IN ('segment', 'difficulty')) > 0,
          'train_glmix: the reference model has segment and difficulty effects (the comparison below covers them)');
SELECT set_eq(format('SELECT coordinate, entity, feature, coef FROM recs.glmix_coefficients WHERE model_id = %s', :g_ids),
              format('SELECT coordinate, entity, feature, coef FROM recs.glmix_coefficients WHERE model_id = %s', :g_ref),
              'train_glmix with learners_id_column => user_id, courses_id_column => id: the same coefficients');
SELECT is((SELECT array_agg(recs.glmix_score(:g_ids, l.learner_id, c.course_id) ORDER BY l.learner_id, c.course_id)
             FROM ic.learners l, ic.courses c),
          (SELECT array_agg(recs.glmix_score(:g_ref, l.learner_id, c.course_id) ORDER BY l.learner_id, c.course_id)
             FROM ic.learners l, ic.courses c),
          'and the same scores for every pair');
SELECT set_eq(format('SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = %s', :g_ids),
              format('SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = %s', :g_ref),
              'and the same learners, with the language read from the learners by user_id');
SELECT throws_like($$SELECT recs.train_glmix('ic.early_impressions', 'ic.users', 'ic.catalogue', '{industry}', '{topic}',
                                              courses_id_column => 'id', activate => false)$$,
                   '%learner_id%', 'without learners_id_column, the learners are read by learner_column: an error naming it');
SELECT throws_ok($$SELECT recs.train_glmix('ic.early_impressions', 'ic.users', 'ic.catalogue', '{industry}', '{topic}',
                                           learners_id_column => 'user_id', courses_id_column => 'no_such', activate => false)$$,
                 '42703', NULL, 'an unknown courses_id_column is an error');

-- popularity: the learners' languages by user_id
SELECT recs.train_popularity('ic.early_watches', 'ic.learners', name => 'ic_pop_ref', activate => false) AS p_ref \gset
SELECT recs.train_popularity('ic.early_watches', 'ic.users', name => 'ic_pop_ids', learners_id_column => 'user_id',
                             activate => false) AS p_ids \gset
SELECT ok((SELECT count(DISTINCT language) FROM recs.model_learner WHERE model_id = :p_ref) > 1,
          'train_popularity: the reference model knows several languages (the comparison below covers them)');
SELECT set_eq(format('SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = %s', :p_ids),
              format('SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = %s', :p_ref),
              'train_popularity with learners_id_column => user_id: the same learners and languages');
SELECT results_eq(format('SELECT l.learner_id, r.rank, r.course_id, r.score FROM ic.learners l, recs.recommend(l.learner_id, 5, model => %s) r ORDER BY 1, 2', :p_ids),
                  format('SELECT l.learner_id, r.rank, r.course_id, r.score FROM ic.learners l, recs.recommend(l.learner_id, 5, model => %s) r ORDER BY 1, 2', :p_ref),
                  'and the same recommendations');

-- blend: a per-segment effect read from the learners by user_id
SELECT recs.train_blend(ARRAY[:p_ref, :g_ref], 'ic.impressions', 'ic.learners', name => 'ic_blend_ref',
                        since => '2025-12-01', random_effects => '{learner_id,segment}', activate => false) AS b_ref \gset
SELECT recs.train_blend(ARRAY[:p_ref, :g_ref], 'ic.impressions', 'ic.users', name => 'ic_blend_ids',
                        since => '2025-12-01', random_effects => '{learner_id,segment}',
                        learners_id_column => 'user_id', activate => false) AS b_ids \gset
SELECT ok((SELECT count(*) FROM recs.blend_coef WHERE model_id = :b_ref AND coordinate = 'segment') > 1,
          'train_blend: the reference blend has per-segment weights (the comparison below covers them)');
SELECT set_eq(format('SELECT coordinate, entity, coefs FROM recs.blend_coef WHERE model_id = %s', :b_ids),
              format('SELECT coordinate, entity, coefs FROM recs.blend_coef WHERE model_id = %s', :b_ref),
              'train_blend with learners_id_column => user_id: the same weights');
SELECT set_eq(format('SELECT learner_id, keys FROM recs.blend_learner WHERE model_id = %s', :b_ids),
              format('SELECT learner_id, keys FROM recs.blend_learner WHERE model_id = %s', :b_ref),
              'and the same segment of each learner, read by user_id');

-- the pipeline: learners by user_id, courses by id
SELECT recs.train_all('ic.watches', 'ic.impressions', 'ic.learners', 'ic.courses', name => 'ic_all_ref',
                      epochs => 1, activate => false) AS a_ref \gset
SELECT recs.train_all('ic.watches', 'ic.impressions', 'ic.users', 'ic.catalogue', name => 'ic_all_ids',
                      epochs => 1, learners_id_column => 'user_id', courses_id_column => 'id',
                      activate => false) AS a_ids \gset
SELECT results_eq(format('SELECT l.learner_id, r.rank, r.course_id, r.score FROM ic.learners l, recs.recommend(l.learner_id, 5, model => %s) r ORDER BY 1, 2', :a_ids),
                  format('SELECT l.learner_id, r.rank, r.course_id, r.score FROM ic.learners l, recs.recommend(l.learner_id, 5, model => %s) r ORDER BY 1, 2', :a_ref),
                  'train_all with learners_id_column => user_id, courses_id_column => id: the same served model''s answers');
SELECT throws_ok($$SELECT recs.train_all('ic.watches', 'ic.impressions', 'ic.users', 'ic.catalogue',
                                         courses_id_column => 'id', dry_run => true)$$,
                 '42703', 'column "learner_id" does not exist in relation ic.users',
                 'train_all without learners_id_column: the learners'' id column is missing, an error naming it');

SELECT * FROM finish();
ROLLBACK;
