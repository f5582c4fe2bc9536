-- faults.sql -- trainings that go wrong stop with an error and leave the
-- previous model serving
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

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

-- a tiny serving cache: parts are dropped as others load, results stay right
SELECT recs.train_ncf('ft.watches', 'ft_ncf', epochs => 1, layers => '{16}', dim => 8) AS ncf \gset
SELECT recs.train_blend(ARRAY[:ncf, :keeper], 'ft.impressions', since => '2025-06-01', name => 'ft_blend',
                        activate => false) AS bl \gset
SELECT array_agg(course_id ORDER BY rank) AS big FROM recs.recommend(100002, 10, model => :bl) \gset
SET LOCAL recs.cache_size = '1MB';
SELECT is((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(100002, 10, model => :bl)), :'big'::bigint[],
          'a blend served through a cache too small for its parts gives the same answer');
SELECT is((SELECT count(*)::int FROM (SELECT recs.recommend(l.learner_id, 3, model => m.id)
                                       FROM ft.learners l,
                                            (VALUES (:ncf::bigint), (:bl), (:keeper)) m(id)) x), 2700,
          'and keeps serving while models take turns in it');

SELECT * FROM finish();
ROLLBACK;
