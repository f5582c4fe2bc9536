-- faults.sql -- trainings that go wrong stop with an error and leave the
-- previous model serving
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(5);

SELECT count(*) FROM recs.generate_sample('ft', 300, 40, 5);
SELECT recs.train_popularity('ft.watches', 'ft.learners', name => 'ft_keeper') AS keeper \gset

SELECT throws_ok($$SELECT recs.train_ncf('ft.watches', 'ft_diverge', epochs => 2, learning_rate => 1e30)$$,
                 '22003', NULL, 'a diverging NCF training (NaN loss) stops with an error');
SELECT is((SELECT count(*)::int FROM recs.model WHERE name = 'ft_diverge'), 0, 'and stores nothing');
SELECT throws_ok($$SELECT recs.train_glmix('ft.impressions', 'ft.learners', 'ft.courses', '{language}', '{topic}',
                                           name => 'ft_singular', l2 => '{1e-300,1,1}')$$,
                 '22003', NULL, 'a numerically singular GLMix fixed effect stops with an error and a hint');
SELECT is((SELECT model_id FROM recs.deployment WHERE slot = 'default'), :keeper::bigint,
          'the previous model still serves');
SELECT is((SELECT count(*)::int FROM recs.recommend(100001, 5)), 5, 'and answers');

SELECT * FROM finish();
ROLLBACK;
