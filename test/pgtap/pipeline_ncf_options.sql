-- pipeline_ncf_options.sql -- train_all(ncf_options): train_ncf arguments
-- passed through to both NCF trainings of the pipeline, checked first.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

SELECT count(*) FROM recs.generate_sample('po', 300, 40, 13);
SELECT recs.train_all('po.watches', 'po.impressions', 'po.learners', 'po.courses', name => 'po',
                      blend_days => 30, epochs => 2, activate => false, candidates => '{click_blend}',
                      ncf_options => '{"order_decay": 0.5, "dim": 8, "layers": [16]}') AS served \gset
SELECT is((SELECT (params->>'order_decay')::float8 || '/' || (params->>'dim') || '/' || (params->'layers')::text
             FROM recs.model WHERE name = 'po_ncf'), '0.5/8/[16]',
          'the stored NCF component was trained with the ncf_options');
SELECT is((SELECT component_id FROM recs.blend_component WHERE model_id = :served AND position = 1),
          recs.model_id('po_ncf'), 'and it is the served blend''s NCF component');
SELECT is((SELECT (params->>'epochs')::int FROM recs.model WHERE name = 'po_ncf'), 2,
          'train_all''s own arguments still apply beside them');

-- errors before any training: nothing is stored
SELECT count(*) AS n_models FROM recs.model \gset
SELECT throws_ok($$SELECT recs.train_all('po.watches', 'po.impressions', 'po.learners', 'po.courses',
                                         ncf_options => '{"epochs": 3, "threads": 2}')$$,
                 '22023', 'train_all''s ncf_options may not set epochs, threads',
                 'keys train_all sets itself are refused, named');
SELECT throws_ok($$SELECT recs.train_all('po.watches', 'po.impressions', 'po.learners', 'po.courses',
                                         ncf_options => '{"order_decy": 0.5}')$$,
                 '22023', 'train_all''s ncf_options names no argument of train_ncf: order_decy',
                 'an unknown key is refused, named');
SELECT throws_ok($$SELECT recs.train_all('po.watches', 'po.impressions', 'po.learners', 'po.courses',
                                         ncf_options => '{"order_decay": "half"}')$$,
                 '22P02', NULL, 'a value of the wrong type is refused');
SELECT is((SELECT count(*) FROM recs.model), :n_models::bigint, 'no model was trained by the refused calls');

SELECT * FROM finish();
ROLLBACK;
