-- test/pgtap/ncf_tune.sql -- recs.tune_ncf: a grid of train_ncf settings,
-- each trained with validation 'auto', the best refitted on all the data.
BEGIN;
SELECT plan(18);
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_nu FROM recs.generate_sample('nu', 300, 60, 7) \gset
CREATE TEMP TABLE tuned AS
SELECT * FROM recs.tune_ncf('nu.watches', '{"dim": [8, 16], "epochs": [3, 6]}', 'nu_tune',
                            options => '{"layers": [32], "seed": 3}');

SELECT is((SELECT count(*) FROM tuned), 4::bigint, 'a 2 x 2 grid gives 4 rows');
SELECT set_eq($$SELECT settings FROM tuned$$,
              $$VALUES ('{"dim": 8, "epochs": 3}'::jsonb), ('{"dim": 8, "epochs": 6}'), ('{"dim": 16, "epochs": 3}'),
                       ('{"dim": 16, "epochs": 6}')$$, 'every combination of the grid, once');
SELECT is((SELECT count(*) FROM tuned WHERE chosen), 1::bigint, 'exactly one is chosen');
SELECT is((SELECT recall_at_10 FROM tuned WHERE chosen), (SELECT max(recall_at_10) FROM tuned),
          'the chosen one has the best Recall@10');
SELECT ok((SELECT bool_and(best_epoch BETWEEN 1 AND (settings->>'epochs')::int AND seconds > 0
                           AND recall_at_10 BETWEEN 0 AND 1 AND ndcg_at_10 BETWEEN 0 AND 1) FROM tuned),
          'each row has its best epoch within its epochs, scores and time');
-- each grid point is the train_ncf of its settings with validation 'auto'
SELECT recs.train_ncf('nu.watches', 'nu_check', layers => '{32}', seed => 3, dim => 8, epochs => 6,
                      validation => 'auto', activate => false) AS chk \gset
SELECT is((SELECT recall_at_10 FROM tuned WHERE settings = '{"dim": 8, "epochs": 6}'),
          (SELECT (metrics->'validation'->>'recall_at_10')::float8 FROM recs.model WHERE model_id = :chk),
          'a row''s score is that of train_ncf with those settings and validation ''auto''');

-- the refit: the chosen settings with its best epoch count, on all the data, active
SELECT model_id AS refit, best_epoch AS be, settings AS cs FROM tuned WHERE chosen \gset
SELECT is((SELECT count(*) FROM tuned WHERE model_id IS NOT NULL), 1::bigint, 'only the chosen row names a model');
SELECT is((SELECT kind FROM recs.model WHERE model_id = :refit), 'ncf', 'the refitted model exists');
SELECT is((SELECT deployed_in FROM recs.models WHERE model_id = :refit), '{default}'::text[], 'and serves');
SELECT is((SELECT (params->>'epochs')::int FROM recs.model WHERE model_id = :refit), :be,
          'it is trained for the chosen row''s best epoch count');
SELECT is((SELECT (params->>'dim')::int FROM recs.model WHERE model_id = :refit), (:'cs'::jsonb->>'dim')::int,
          'with the chosen settings');
SELECT ok((SELECT NOT metrics ? 'validation' FROM recs.model WHERE model_id = :refit), 'on all the data (no validation)');
SELECT is((SELECT count(*) FROM recs.model WHERE name = 'nu_tune'), 1::bigint, 'the grid''s models are dropped');

-- refit => false keeps the chosen grid model itself
SELECT model_id AS kept FROM recs.tune_ncf('nu.watches', '{"epochs": [2, 4]}', 'nu_keep', refit => false, activate => false,
                                           options => '{"layers": [16], "dim": 8}') WHERE chosen \gset
SELECT ok((SELECT metrics ? 'validation' AND name = 'nu_keep' FROM recs.model WHERE model_id = :kept)
          AND (SELECT count(*) FROM recs.model WHERE name = 'nu_keep') = 1,
          'without refit the chosen grid model is kept, the other dropped');

-- errors, before any training
SELECT throws_ok($$SELECT * FROM recs.tune_ncf('nu.watches', '{"dim": [8], "validation": ["none"], "name": ["x"]}')$$,
                 '22023', 'tune_ncf''s grid may not set name, validation', 'keys tune_ncf sets itself are refused, named');
SELECT throws_ok($$SELECT * FROM recs.tune_ncf('nu.watches', '{"dim": [8], "dimension": [8]}')$$,
                 '22023', 'tune_ncf''s grid names no argument of train_ncf: dimension', 'unknown keys are refused, named');
SELECT throws_ok($$SELECT * FROM recs.tune_ncf('nu.watches', '{"dim": [8, "x"]}')$$,
                 '22P02', NULL, 'a value of the wrong type is refused');
SELECT throws_ok($$SELECT * FROM recs.tune_ncf('nu.watches', '{"dim": 8}')$$,
                 '22023', 'grid''s dim must be a non-empty array of values, not 8', 'a grid value must be a list');
SELECT * FROM finish();
ROLLBACK;
