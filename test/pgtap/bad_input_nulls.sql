-- bad_input_nulls.sql -- every public function of schema recs called with NULL
-- in each of its arguments in turn (the others valid), driven by the catalog.
--
-- null_expect holds one row per (function, argument): a valid value for the
-- argument (NULL: leave it to its default) and what a NULL there must do:
--   'default'  the same result as leaving the argument out (trained models are
--              compared by name, kind, params, source, trained_through, slots)
--   '= expr'   the same result as passing expr instead
--   'ok'       a result, with the meaning given in the last column
--   'null'     no result: a NULL or no rows (STRICT functions)
--   SQLSTATE   this error, with exactly the message in the last column
-- A function is named by proname, or proname/nargs when overloaded; an
-- overload for uuid or text keys (75_keys.sql) adds :uuid or :text.  The last
-- tests check that the rows cover exactly the arguments in pg_proc: a new
-- function or parameter fails until it gets its rows here.  Every call runs in
-- a subtransaction that is rolled back, so each one sees the same fixture.
BEGIN;
SET LOCAL client_min_messages = warning;

CREATE TEMP TABLE null_expect (
    id     serial,
    fn     text NOT NULL,
    arg    text NOT NULL,
    valid  text,
    expect text NOT NULL,
    detail text,
    UNIQUE (fn, arg)
);
INSERT INTO null_expect (fn, arg, valid, expect, detail) VALUES
-- lifecycle and access (STRICT)
('activate', 'model_id', $$recs.model_id('bn_pop')$$, 'null', 'STRICT'),
('activate', 'slot', NULL, 'null', 'STRICT'),
('model_id', 'name', $$'bn_pop'$$, 'null', 'STRICT'),
('drop_model', 'model_id', $$recs.model_id('bn_glmix')$$, 'null', 'STRICT'),
('drop_model', 'force', NULL, 'null', 'STRICT'),
('grant_access', 'grantee', $$'recs_tap_bad_input'$$, 'null', 'STRICT'),
('grant_access', 'training', NULL, 'null', 'STRICT'),
('revoke_access', 'grantee', $$'recs_tap_bad_input'$$, 'null', 'STRICT'),
('forget_learner', 'learner_id', '999999', 'null', 'STRICT'),
('course_embeddings', 'model', $$recs.model_id('bn_ncf')$$, 'default', 'the active model'),
('course_embeddings', 'slot', NULL, 'default', 'model, or the default slot'),
('learner_embeddings', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'STRICT'),
-- sample data
('generate_sample', 'target_schema', $$'bn_gen'$$, '22004', 'target_schema must not be NULL'),
('generate_sample', 'learners', '5', '22004', 'learners must not be NULL'),
('generate_sample', 'courses', '12', '22004', 'courses must not be NULL'),
('generate_sample', 'seed', NULL, '22004', 'seed must not be NULL'),
('generate_sample', 'days', '30', '22004', 'days must not be NULL'),
('generate_sample', 'end_at', NULL, '22004', 'end_at must not be NULL'),
('generate_sample', 'replace', NULL, 'default', 'false'),
('generate_sample', 'platform', NULL, 'default', 'false'),
-- serving
('recommend', 'learner_id', '100001', '22004', 'learner_id must not be NULL'),
('recommend', 'k', NULL, '22004', 'k must not be NULL'),
('recommend', 'exclude_watched', NULL, 'default', 'true'),
('recommend', 'exclude', NULL, 'default', 'nothing more left out'),
('recommend', 'candidates', NULL, 'default', 'the whole catalogue'),
('recommend', 'model', NULL, 'default', 'the active model'),
('recommend', 'recent', NULL, 'default', 'no watches since training'),
('recommend', 'slot', NULL, 'default', 'model, or the default slot'),
('recommend_all', 'k', '3', '22004', 'k must not be NULL'),
('recommend_all', 'model', NULL, 'default', 'the active model'),
('recommend_all', 'exclude_watched', NULL, 'default', 'true'),
('recommend_all', 'learners', $$'{100001,100002}'$$, '= NULL', 'every learner the model knows'),
('recommend_all', 'slot', NULL, 'default', 'model, or the default slot'),
('score', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: NULL'),
('score', 'learner_id', '100001', 'null', 'NULL'),
('score', 'course_id', '1', 'null', 'NULL'),
('score', 'slot', NULL, 'default', 'the model'),
('explain_recommendation', 'learner_id', '100001', '22004', 'learner_id must not be NULL'),
('explain_recommendation', 'course_id', '1', '22004', 'course_id must not be NULL'),
('explain_recommendation', 'model', NULL, 'default', 'the active model'),
('explain_recommendation', 'slot', NULL, 'default', 'model, or the default slot'),
('explain/3', 'learner_id', '100001', '22004', 'learner_id must not be NULL'),
('explain/3', 'course_id', '1', '22004', 'course_id must not be NULL'),
('explain/3', 'slot', NULL, 'default', 'the default slot'),
-- evaluation
('evaluate', 'model', $$recs.model_id('bn_pop')$$, '22004', 'model must not be NULL'),
('evaluate', 'test', $$'bn.test'$$, '22004', 'test must not be NULL'),
('evaluate', 'k', NULL, 'default', '10'),
('evaluate', 'protocol', NULL, 'default', 'full'),
('evaluate', 'learner_column', NULL, 'default', 'learner_id'),
('evaluate', 'course_column', NULL, 'default', 'course_id'),
('evaluate', 'negatives_column', NULL, 'default', 'negatives'),
('evaluate', 'label_column', NULL, 'default', 'clicked'),
('evaluate', 'store', NULL, 'default', 'stored when the caller may update recs.model'),
('evaluate_models', 'models', $$ARRAY[recs.model_id('bn_pop')]$$, '22004', 'models must not be NULL or hold NULL'),
('evaluate_models', 'test', $$'bn.test'$$, '22004', 'test must not be NULL'),
('evaluate_models', 'k', NULL, 'default', '10'),
('evaluate_models', 'protocol', NULL, 'default', 'full'),
('evaluate_models', 'learner_column', NULL, 'default', 'learner_id'),
('evaluate_models', 'course_column', NULL, 'default', 'course_id'),
('evaluate_models', 'negatives_column', NULL, 'default', 'negatives'),
('evaluate_models', 'label_column', NULL, 'default', 'clicked'),
('evaluate_models', 'store', NULL, 'default', 'stored when the caller may update recs.model'),
-- popularity
('train_popularity', 'watches', $$'bn.watches'$$, '22004', 'watches relation must not be NULL'),
('train_popularity', 'learners', $$'bn.learners'$$, '= NULL', 'no learners relation: languages unknown'),
('train_popularity', 'name', $$'bn_t'$$, 'default', 'popularity'),
('train_popularity', 'window_days', NULL, 'default', '90'),
('train_popularity', 'min_watch_seconds', NULL, 'default', '60'),
('train_popularity', 'through', NULL, 'default', 'the last kept watch'),
('train_popularity', 'activate', NULL, 'default', 'true'),
('train_popularity', 'smoothing', NULL, 'default', '20'),
('train_popularity', 'learner_column', NULL, 'default', 'learner_id'),
('train_popularity', 'course_column', NULL, 'default', 'course_id'),
('train_popularity', 'time_column', NULL, 'default', 'watched_at'),
('train_popularity', 'seconds_column', NULL, 'default', 'watch_seconds'),
('train_popularity', 'language_column', NULL, 'default', 'language'),
('train_popularity', 'learners_id_column', NULL, 'default', 'learner_column'),
-- neural CF
('train_ncf', 'watches', $$'bn.watches'$$, '22004', 'watches relation must not be NULL'),
('train_ncf', 'name', $$'bn_t'$$, 'default', 'ncf'),
('train_ncf', 'courses', $$'bn.courses'$$, '= NULL', 'the catalogue is the watched courses'),
('train_ncf', 'min_watch_seconds', NULL, 'default', '60'),
('train_ncf', 'window_days', NULL, 'default', '365'),
('train_ncf', 'labels_from', NULL, 'default', 'every watch is a label'),
('train_ncf', 'through', NULL, 'default', 'the last watch'),
('train_ncf', 'layers', $$'{8}'$$, 'default', '{256,128}'),
('train_ncf', 'dim', '4', 'default', '64'),
('train_ncf', 'epochs', '1', 'default', '20, fewer on large data'),
('train_ncf', 'negatives', NULL, 'default', '4'),
('train_ncf', 'learning_rate', NULL, 'default', '0.001'),
('train_ncf', 'batch_size', NULL, 'default', '256'),
('train_ncf', 'l2', NULL, 'default', '0'),
('train_ncf', 'neighbours', NULL, 'default', '50'),
('train_ncf', 'seed', NULL, 'default', '42'),
('train_ncf', 'threads', NULL, 'default', '1'),
('train_ncf', 'activate', NULL, 'default', 'true'),
('train_ncf', 'learner_column', NULL, 'default', 'learner_id'),
('train_ncf', 'course_column', NULL, 'default', 'course_id'),
('train_ncf', 'time_column', NULL, 'default', 'watched_at'),
('train_ncf', 'seconds_column', NULL, 'ok', 'no watch-time column: no threshold'),
('train_ncf', 'courses_id_column', NULL, 'default', 'course_column'),
('train_ncf', 'order_decay', NULL, 'default', '1'),
('train_ncf', 'course_features', NULL, 'default', 'no content features'),
('train_ncf', 'content_dropout', NULL, 'default', '0.3'),
('train_ncf', 'encoder', NULL, 'default', 'bag'),
('train_ncf', 'attention_window', NULL, 'default', '20'),
('train_ncf', 'loss', NULL, 'default', 'auto'),
('train_ncf', 'validation', NULL, 'default', 'none'),
('train_ncf', 'context_norm', NULL, 'default', 'none'),
('train_ncf', 'trend_days', NULL, 'default', 'no trend term'),
('train_ncf', 'ensemble', NULL, 'default', '1: a single model'),
('train_ncf', 'half_life_days', NULL, 'default', 'every example weighs 1'),
('train_ncf', 'trend_weight', NULL, 'default', '1: the learnt trend term'),
('train_ncf', 'affinity_columns', NULL, 'default', 'no affinity terms'),
('train_ncf', 'path_columns', NULL, 'default', 'no path terms'),
('tune_ncf', 'watches', $$'bn.watches'$$, '22004', 'watches must not be NULL'),
('tune_ncf', 'grid', $$'{"epochs": [1, 2]}'$$, '22004', 'grid must not be NULL'),
('tune_ncf', 'name', $$'bn_t'$$, 'default', 'ncf'),
('tune_ncf', 'refit', NULL, 'default', 'true'),
('tune_ncf', 'activate', NULL, 'default', 'true'),
('tune_ncf', 'options', $$'{"layers": [8], "dim": 4}'$$, 'ok', 'no fixed arguments: train_ncf''s defaults'),
('similar_courses', 'course_id', '1', '22004', 'course_id must not be NULL'),
('similar_courses', 'k', NULL, '22004', 'k must not be NULL'),
('similar_courses', 'model', $$recs.model_id('bn_ncf')$$, '= NULL', 'the active model (its neural CF component)'),
('similar_courses', 'slot', NULL, 'default', 'model, or the default slot'),
('embed_learner', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: NULL'),
('embed_learner', 'course_ids', $$'{1,2}'$$, 'null', 'NULL'),
('embed_learner', 'slot', NULL, 'default', 'the model'),
('embed_course', 'model', $$recs.model_id('bn_ncf_cf')$$, 'null', 'neither model nor slot: NULL'),
('embed_course', 'features', $$'{"topic": "marketing"}'$$, 'null', 'NULL'),
('embed_course', 'slot', NULL, 'default', 'the model'),
('add_courses', 'model', $$recs.model_id('bn_ncf_cf')$$, '22004', 'model must not be NULL'),
('add_courses', 'courses', $$'bn.courses'$$, '22004', 'courses relation must not be NULL'),
('add_courses', 'courses_id_column', NULL, 'default', 'the model''s course column'),
('course_map', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: no rows'),
('course_map', 'slot', NULL, 'default', 'the model'),
('course_map_svg', 'model', $$recs.model_id('bn_ncf')$$, '22004', 'model must not be NULL'),
('course_map_svg', 'courses', $$'bn.courses'$$, '22004', 'courses must not be NULL'),
('course_map_svg', 'color_column', NULL, '22004', 'color_column must not be NULL'),
('course_map_svg', 'width', NULL, '22004', 'width must not be NULL'),
('course_map_svg', 'height', NULL, '22004', 'height must not be NULL'),
('course_map_svg', 'course_column', NULL, '22004', 'course_column must not be NULL'),
-- GLMix aggregates (one row of input)
('glmix_fixed_stats', 'label', '1', '22004', 'label must not be NULL'),
('glmix_fixed_stats', 'weight', '1', '= 1', 'weight 1'),
('glmix_fixed_stats', 'offset', '0', '= 0', 'offset 0'),
('glmix_fixed_stats', 'features', $$'{1}'$$, 'ok', 'no features (values are ignored)'),
('glmix_fixed_stats', 'values', $$'{2}'$$, $$= '{1}'$$, 'all values 1'),
('glmix_fixed_stats', 'coefficients', $$'{0}'$$, '22004', 'coefficients must not be NULL'),
('glmix_fixed_block_stats', 'block', $$'\x324d4c47010000000100000001000000ffffffff030000000100000001000000000000000000000000000000000000000000f03f000000000000f03f00000000010000000000000000000000'$$, 'ok', 'a NULL block adds no rows: the sums of none'),
('glmix_fixed_block_stats', 'offsets', $$'{0.5}'$$, $$= '{0}'$$, 'offsets 0'),
('glmix_fixed_block_stats', 'coefficients', $$'{0}'$$, '22004', 'coefficients must not be NULL'),
('glmix_fixed_block_grad', 'block', $$'\x324d4c47010000000100000001000000ffffffff030000000100000001000000000000000000000000000000000000000000f03f000000000000f03f00000000010000000000000000000000'$$, 'ok', 'a NULL block adds no rows: the sums of none'),
('glmix_fixed_block_grad', 'offsets', $$'{0.5}'$$, $$= '{0}'$$, 'offsets 0'),
('glmix_fixed_block_grad', 'coefficients', $$'{0}'$$, '22004', 'coefficients must not be NULL'),
('glmix_fixed_block_grad', 'direction', $$'{1}'$$, 'ok', 'no direction: the loss and gradient alone'),
('glmix_entity_fit/7', 'label', '1', '22004', 'label must not be NULL'),
('glmix_entity_fit/7', 'weight', '2', '= 1', 'weight 1'),
('glmix_entity_fit/7', 'offset', '0.5', '= 0', 'offset 0'),
('glmix_entity_fit/7', 'features', $$'{1}'$$, 'ok', 'no features (values are ignored)'),
('glmix_entity_fit/7', 'values', $$'{2}'$$, $$= '{1}'$$, 'all values 1'),
('glmix_entity_fit/7', 'dim', '1', '22004', 'dim must not be NULL'),
('glmix_entity_fit/7', 'l2', '1', '22004', 'l2 must not be NULL'),
('glmix_entity_fit/4', 'block', $$'\x324d4c4701000000010000000100000000000000030000000100000001000000000000000000000000000000000000000000f03f000000000000f03f00000000010000000000000000000000'$$, 'null', 'a NULL block adds no rows'),
('glmix_entity_fit/4', 'offsets', $$'{0.5}'$$, $$= '{0}'$$, 'offsets 0'),
('glmix_entity_fit/4', 'start', $$'{0.5}'$$, $$= '{0}'$$, 'a cold start from 0'),
('glmix_entity_fit/4', 'l2', '1', '22004', 'l2 must not be NULL'),
-- GLMix
('train_glmix', 'impressions', $$'bn.impressions'$$, '22004', 'impressions must not be NULL'),
('train_glmix', 'learners', $$'bn.learners'$$, '22004', 'learners must not be NULL'),
('train_glmix', 'courses', $$'bn.courses'$$, '22004', 'courses must not be NULL'),
('train_glmix', 'learner_features', $$'{language,segment}'$$, '22004', 'learner_features must not be NULL'),
('train_glmix', 'course_features', $$'{topic}'$$, '22004', 'course_features must not be NULL'),
('train_glmix', 'name', $$'bn_t'$$, 'default', 'glmix'),
('train_glmix', 'label', NULL, 'default', 'clicked'),
('train_glmix', 'weighting', NULL, 'default', 'none'),
('train_glmix', 'l2', NULL, 'default', '{300, 10, 10, ...}'),
('train_glmix', 'passes', NULL, 'default', '3'),
('train_glmix', 'random_effects', NULL, 'default', 'the learner and course ids'),
('train_glmix', 'crosses', NULL, 'default', 'categorical learner columns x multi-hot course columns'),
('train_glmix', 'min_rows', NULL, 'default', '1'),
('train_glmix', 'max_rows', NULL, 'default', 'no cap'),
('train_glmix', 'intercepts', NULL, 'default', 'all true'),
('train_glmix', 'seed', NULL, 'default', '42'),
('train_glmix', 'threads', NULL, 'default', '1'),
('train_glmix', 'validation', NULL, 'default', 'no validation relation'),
('train_glmix', 'activate', NULL, 'default', 'true'),
('train_glmix', 'learner_column', NULL, 'default', 'learner_id'),
('train_glmix', 'course_column', NULL, 'default', 'course_id'),
('train_glmix', 'click_column', NULL, 'default', 'clicked'),
('train_glmix', 'bookmark_column', NULL, 'default', 'bookmarked'),
('train_glmix', 'seconds_column', NULL, 'default', 'watch_seconds'),
('train_glmix', 'weight_column', NULL, 'default', 'no row weights'),
('train_glmix', 'time_column', NULL, 'default', 'shown_at, when the relation has it'),
('train_glmix', 'through', $$'2025-12-20'$$, 'default', 'up to the last impression'),
('train_glmix', 'solver', NULL, 'default', 'auto'),
('train_glmix', 'l2_auto', NULL, 'default', 'false'),
('train_glmix', 'hash_bits', NULL, 'default', 'crosses not hashed'),
('train_glmix', 'learners_id_column', NULL, 'default', 'learner_column'),
('train_glmix', 'courses_id_column', NULL, 'default', 'course_column'),
('glmix_score', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_score', 'learner_id', '100001', 'null', 'NULL'),
('glmix_score', 'course_id', '1', 'null', 'NULL'),
('glmix_score', 'slot', NULL, 'default', 'the model'),
('glmix_score', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('glmix_logit', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_logit', 'learner_id', '100001', 'null', 'NULL'),
('glmix_logit', 'course_id', '1', 'null', 'NULL'),
('glmix_logit', 'slot', NULL, 'default', 'the model'),
('glmix_logit', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('explain/5', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: no rows'),
('explain/5', 'learner_id', '100001', 'null', 'no rows'),
('explain/5', 'course_id', '1', 'null', 'no rows'),
('explain/5', 'slot', NULL, 'default', 'the model'),
('explain/5', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
-- blend
('train_blend', 'components', $$ARRAY[recs.model_id('bn_ncf'), recs.model_id('bn_pop')]$$, '22004', 'components must not be NULL'),
('train_blend', 'impressions', $$'bn.impressions'$$, '22004', 'impressions must not be NULL'),
('train_blend', 'learners', $$'bn.learners'$$, '= NULL', 'no learners relation'),
('train_blend', 'name', $$'bn_t'$$, 'default', 'blend'),
('train_blend', 'random_effects', NULL, 'default', '{learner_id}'),
('train_blend', 'since', $$'2025-12-01'$$, '= NULL', 'the components'' latest trained_through'),
('train_blend', 'label', NULL, 'default', 'clicked'),
('train_blend', 'l2', NULL, 'default', '{1, 10, ...}'),
('train_blend', 'passes', NULL, 'default', '2'),
('train_blend', 'activate', NULL, 'default', 'true'),
('train_blend', 'learner_column', NULL, 'default', 'learner_id'),
('train_blend', 'course_column', NULL, 'default', 'course_id'),
('train_blend', 'time_column', NULL, 'default', 'shown_at'),
('train_blend', 'click_column', NULL, 'default', 'clicked'),
('train_blend', 'bookmark_column', NULL, 'default', 'bookmarked'),
('train_blend', 'negatives', NULL, 'default', '0'),
('train_blend', 'seed', NULL, 'default', '42'),
('train_blend', 'rerank_top', NULL, 'default', '0'),
('train_blend', 'learners_id_column', NULL, 'default', 'learner_column'),
-- the pipeline
('train_all', 'watches', $$'bn.watches'$$, '22004', 'watches must not be NULL'),
('train_all', 'impressions', $$'bn.impressions'$$, '22004', 'impressions must not be NULL'),
('train_all', 'learners', $$'bn.learners'$$, '22004', 'learners must not be NULL'),
('train_all', 'courses', $$'bn.courses'$$, '22004', 'courses must not be NULL'),
('train_all', 'learner_features', NULL, 'default', '{language,industry,segment}'),
('train_all', 'course_features', NULL, 'default', '{language,topic,difficulty}'),
('train_all', 'crosses', NULL, 'default', '{industry:topic,language:language,segment:difficulty}'),
('train_all', 'name', $$'bn_t'$$, 'default', 'recs'),
('train_all', 'blend_days', '20', 'default', '28'),
('train_all', 'through', NULL, 'default', 'the last watch'),
('train_all', 'blend_effects', NULL, 'default', '{learner_id}'),
('train_all', 'epochs', '1', 'default', '20'),
('train_all', 'threads', NULL, 'default', '1'),
('train_all', 'activate', NULL, 'default', 'true'),
('train_all', 'rerank_top', NULL, 'default', 'NULL: a pool of 15 % of the catalogue'),
('train_all', 'candidates', NULL, 'default', '{rerank_blend,click_blend,ncf}'),
('train_all', 'validation_days', NULL, 'default', '7'),
('train_all', 'dry_run', NULL, 'default', 'false'),
('train_all', 'learner_column', NULL, 'default', 'learner_id'),
('train_all', 'course_column', NULL, 'default', 'course_id'),
('train_all', 'time_column', NULL, 'default', 'watched_at'),
('train_all', 'seconds_column', NULL, 'ok', 'no watch-time column: no threshold'),
('train_all', 'shown_column', NULL, 'default', 'shown_at'),
('train_all', 'click_column', NULL, 'default', 'clicked'),
('train_all', 'courses_id_column', NULL, 'default', 'course_column'),
('train_all', 'language_column', NULL, 'default', 'language'),
('train_all', 'learners_id_column', NULL, 'default', 'learner_column'),
('train_all', 'ncf_options', NULL, 'default', 'train_ncf''s defaults'),
-- pruning
('prune', 'keep', NULL, 'default', '3'),
('prune', 'name', NULL, 'default', 'every name'),
-- uuid and text keys (75_keys.sql): text keys on the bigint-keyed fixture
-- (their digits), uuid keys on its uuid-keyed twins (bn_u*)
('recommend:text', 'learner_id', $$'100001'$$, '22004', 'learner_id must not be NULL'),
('recommend:text', 'k', NULL, '22004', 'k must not be NULL'),
('recommend:text', 'exclude_watched', NULL, 'default', 'true'),
('recommend:text', 'exclude', NULL, 'default', 'nothing more left out'),
('recommend:text', 'candidates', NULL, 'default', 'the whole catalogue'),
('recommend:text', 'model', NULL, 'default', 'the active model'),
('recommend:text', 'recent', NULL, 'default', 'no watches since training'),
('recommend:text', 'slot', NULL, 'default', 'model, or the default slot'),
('recommend_all:text', 'learner_keys', $$'{100001,100002}'$$, '= NULL', 'every learner the model knows'),
('recommend_all:text', 'k', '3', '22004', 'k must not be NULL'),
('recommend_all:text', 'model', NULL, 'default', 'the active model'),
('recommend_all:text', 'exclude_watched', NULL, 'default', 'true'),
('recommend_all:text', 'slot', NULL, 'default', 'model, or the default slot'),
('score:text', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: NULL'),
('score:text', 'learner_id', $$'100001'$$, 'null', 'NULL'),
('score:text', 'course_id', $$'1'$$, 'null', 'NULL'),
('score:text', 'slot', NULL, 'default', 'the model'),
('glmix_score:text', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_score:text', 'learner_id', $$'100001'$$, 'null', 'NULL'),
('glmix_score:text', 'course_id', $$'1'$$, 'null', 'NULL'),
('glmix_score:text', 'slot', NULL, 'default', 'the model'),
('glmix_score:text', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('glmix_logit:text', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_logit:text', 'learner_id', $$'100001'$$, 'null', 'NULL'),
('glmix_logit:text', 'course_id', $$'1'$$, 'null', 'NULL'),
('glmix_logit:text', 'slot', NULL, 'default', 'the model'),
('glmix_logit:text', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('course_map:any', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: no rows'),
('course_map:any', 'slot', NULL, 'default', 'the model'),
('course_map:any', 'key_type', 'NULL::text', '42804', 'could not determine polymorphic type because input has type unknown'),
('similar_courses:text', 'course_id', $$'1'$$, '22004', 'course_id must not be NULL'),
('similar_courses:text', 'k', NULL, '22004', 'k must not be NULL'),
('similar_courses:text', 'model', $$recs.model_id('bn_ncf')$$, '= NULL', 'the active model (its neural CF component)'),
('similar_courses:text', 'slot', NULL, 'default', 'model, or the default slot'),
('explain/5:text', 'model', $$recs.model_id('bn_glmix')$$, 'null', 'neither model nor slot: no rows'),
('explain/5:text', 'learner_id', $$'100001'$$, 'null', 'no rows'),
('explain/5:text', 'course_id', $$'1'$$, 'null', 'no rows'),
('explain/5:text', 'slot', NULL, 'default', 'the model'),
('explain/5:text', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('explain_recommendation:text', 'learner_id', $$'100001'$$, '22004', 'learner_id must not be NULL'),
('explain_recommendation:text', 'course_id', $$'1'$$, '22004', 'course_id must not be NULL'),
('explain_recommendation:text', 'model', NULL, 'default', 'the active model'),
('explain_recommendation:text', 'slot', NULL, 'default', 'model, or the default slot'),
('explain/3:text', 'learner_id', $$'100001'$$, '22004', 'learner_id must not be NULL'),
('explain/3:text', 'course_id', $$'1'$$, '22004', 'course_id must not be NULL'),
('explain/3:text', 'slot', NULL, 'default', 'the default slot'),
('forget_learner:text', 'learner_id', $$'999999'$$, 'null', 'STRICT'),
('embed_learner_keys', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'neither model nor slot: NULL'),
('embed_learner_keys', 'course_keys', $$'{1,2}'$$, 'null', 'NULL'),
('embed_learner_keys', 'slot', NULL, 'default', 'the model'),
('course_embeddings:any', 'model', $$recs.model_id('bn_ncf')$$, 'ok', 'the active model'),
('course_embeddings:any', 'slot', NULL, 'default', 'model, or the default slot'),
('course_embeddings:any', 'key_type', 'NULL::text', '42804', 'could not determine polymorphic type because input has type unknown'),
('learner_embeddings:any', 'model', $$recs.model_id('bn_ncf')$$, 'null', 'no model: no rows'),
('learner_embeddings:any', 'key_type', 'NULL::text', '42804', 'could not determine polymorphic type because input has type unknown'),
('recommend:uuid', 'learner_id', 'bn.u(100001)', '22004', 'learner_id must not be NULL'),
('recommend:uuid', 'k', NULL, '22004', 'k must not be NULL'),
('recommend:uuid', 'exclude_watched', NULL, 'default', 'true'),
('recommend:uuid', 'exclude', NULL, 'default', 'nothing more left out'),
('recommend:uuid', 'candidates', NULL, 'default', 'the whole catalogue'),
('recommend:uuid', 'model', $$recs.model_id('bn_upop')$$, '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('recommend:uuid', 'recent', NULL, 'default', 'no watches since training'),
('recommend:uuid', 'slot', NULL, 'default', 'model, or the default slot'),
('recommend_all:uuid', 'learner_keys', 'ARRAY[bn.u(100001), bn.u(100002)]', '= NULL', 'every learner the model knows'),
('recommend_all:uuid', 'k', '3', '22004', 'k must not be NULL'),
('recommend_all:uuid', 'model', $$recs.model_id('bn_upop')$$, '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('recommend_all:uuid', 'exclude_watched', NULL, 'default', 'true'),
('recommend_all:uuid', 'slot', NULL, 'default', 'model, or the default slot'),
('score:uuid', 'model', $$recs.model_id('bn_uncf')$$, 'null', 'neither model nor slot: NULL'),
('score:uuid', 'learner_id', 'bn.u(100001)', 'null', 'NULL'),
('score:uuid', 'course_id', 'bn.u(1)', 'null', 'NULL'),
('score:uuid', 'slot', NULL, 'default', 'the model'),
('glmix_score:uuid', 'model', $$recs.model_id('bn_uglmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_score:uuid', 'learner_id', 'bn.u(100001)', 'null', 'NULL'),
('glmix_score:uuid', 'course_id', 'bn.u(1)', 'null', 'NULL'),
('glmix_score:uuid', 'slot', NULL, 'default', 'the model'),
('glmix_score:uuid', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('glmix_logit:uuid', 'model', $$recs.model_id('bn_uglmix')$$, 'null', 'neither model nor slot: NULL'),
('glmix_logit:uuid', 'learner_id', 'bn.u(100001)', 'null', 'NULL'),
('glmix_logit:uuid', 'course_id', 'bn.u(1)', 'null', 'NULL'),
('glmix_logit:uuid', 'slot', NULL, 'default', 'the model'),
('glmix_logit:uuid', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('similar_courses:uuid', 'course_id', 'bn.u(1)', '22004', 'course_id must not be NULL'),
('similar_courses:uuid', 'k', NULL, '22004', 'k must not be NULL'),
('similar_courses:uuid', 'model', $$recs.model_id('bn_uncf')$$, '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('similar_courses:uuid', 'slot', NULL, 'default', 'model, or the default slot'),
('explain/5:uuid', 'model', $$recs.model_id('bn_uglmix')$$, 'null', 'neither model nor slot: no rows'),
('explain/5:uuid', 'learner_id', 'bn.u(100001)', 'null', 'no rows'),
('explain/5:uuid', 'course_id', 'bn.u(1)', 'null', 'no rows'),
('explain/5:uuid', 'slot', NULL, 'default', 'the model'),
('explain/5:uuid', 'context', NULL, 'default', 'no context: impressions-keyed effects are 0'),
('explain_recommendation:uuid', 'learner_id', 'bn.u(100001)', '22004', 'learner_id must not be NULL'),
('explain_recommendation:uuid', 'course_id', 'bn.u(1)', '22004', 'course_id must not be NULL'),
('explain_recommendation:uuid', 'model', $$recs.model_id('bn_uglmix')$$, '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('explain_recommendation:uuid', 'slot', NULL, 'default', 'model, or the default slot'),
('explain/3:uuid', 'learner_id', 'bn.u(100001)', '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('explain/3:uuid', 'course_id', 'bn.u(1)', '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('explain/3:uuid', 'slot', NULL, '42804', 'the model keys learners by bigint and courses by bigint, not by uuid'),
('forget_learner:uuid', 'learner_id', 'bn.u(999999)', 'null', 'STRICT');

-- the public functions' arguments, from the catalog
CREATE TEMP VIEW null_args AS
SELECT f.fn, f.oid AS proc, f.prokind, t.pos, coalesce(n.name, '$' || t.pos) AS arg, t.typ::regtype AS typ,
       t.pos > f.pronargs - f.pronargdefaults AS has_default
  FROM (SELECT p.*, CASE WHEN count(*) OVER (PARTITION BY p.proname, p.keyed) > 1 THEN p.proname || '/' || p.pronargs
                         ELSE p.proname END || coalesce(':' || p.keyed, '') AS fn
          FROM (SELECT p.*,
                       CASE WHEN p.proargtypes::oid[] && ARRAY['uuid'::regtype, 'uuid[]'::regtype]::oid[] THEN 'uuid'
                            WHEN 'anyelement'::regtype = ANY (p.proargtypes::oid[]) THEN 'any'
                            WHEN p.proargtypes::oid[] && ARRAY['text'::regtype, 'text[]'::regtype]::oid[]
                                 AND EXISTS (SELECT FROM pg_proc q
                                              WHERE q.pronamespace = p.pronamespace AND q.proname = p.proname
                                                AND q.pronargs = p.pronargs
                                                AND q.proargtypes::oid[] && ARRAY['uuid'::regtype, 'uuid[]'::regtype]::oid[]
                                                AND array_replace(array_replace(q.proargtypes::oid[], 'uuid'::regtype, 'text'::regtype),
                                                                  'uuid[]'::regtype, 'text[]'::regtype) = p.proargtypes::oid[])
                            THEN 'text' END AS keyed
                  FROM pg_proc p) p
         WHERE p.pronamespace = 'recs'::regnamespace AND p.proname NOT LIKE '\_%'
           AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)) f
 CROSS JOIN LATERAL unnest(f.proargtypes::oid[]) WITH ORDINALITY t(typ, pos)
  LEFT JOIN LATERAL (SELECT u.nm AS name
                       FROM unnest(f.proargnames, f.proargmodes) WITH ORDINALITY u(nm, md, ord)
                      WHERE u.md IS NULL OR u.md IN ('i', 'b', 'v')
                      ORDER BY u.ord OFFSET t.pos - 1 LIMIT 1) n ON true;

-- the call of fn with arg replaced by replacement ('NULL', an expression, or
-- NULL to leave it out), every other argument valid
CREATE FUNCTION pg_temp.null_call(f text, a text, replacement text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    parts text[] := '{}';
    v text;
    agg boolean;
    proc oid;
BEGIN
    FOR r IN SELECT x.*, e.valid FROM null_args x LEFT JOIN null_expect e ON (e.fn, e.arg) = (x.fn, x.arg)
              WHERE x.fn = f ORDER BY x.pos LOOP
        agg := r.prokind = 'a';
        proc := r.proc;
        v := CASE WHEN r.arg = a THEN replacement ELSE r.valid END;
        IF v IS NOT NULL THEN
            -- aggregates take positional arguments only (none has a default)
            -- a polymorphic argument takes its type from the value
            parts := parts || CASE WHEN agg THEN format('(%s)::%s', v, r.typ)
                                   WHEN r.typ::text LIKE 'any%' THEN format('%I => %s', r.arg, v)
                                   ELSE format('%I => (%s)::%s', r.arg, v, r.typ) END;
        END IF;
    END LOOP;
    RETURN format('SELECT %s(%s) AS x', proc::regproc, array_to_string(parts, ', '));
END $$;

-- run a call in a subtransaction that is rolled back; its outcome as text:
-- 'error SQLSTATE: message', 'null', or 'result: ...' with the models it trained
CREATE FUNCTION pg_temp.null_run(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    before bigint := (SELECT coalesce(max(model_id), 0) FROM recs.model);
    nonnull bigint;
    res text;
    models jsonb;
    st text;
    msg text;
BEGIN
    EXECUTE format('SELECT count(*) FILTER (WHERE NOT (x IS NULL)), string_agg(x::text, '' | '') FROM (%s) s', sql)
       INTO nonnull, res;
    -- a model trained by the call, described by what it was trained with
    SELECT jsonb_agg(jsonb_build_object(
               'name', m.name, 'kind', m.kind, 'version', m.version, 'trained_through', m.trained_through,
               'params', m.params, 'source', m.source - 'components',
               'components', (SELECT jsonb_agg(c.name ORDER BY o.ord)
                                FROM jsonb_array_elements_text(m.source->'components') WITH ORDINALITY o(id, ord)
                                JOIN recs.model c ON c.model_id = o.id::bigint),
               'slots', (SELECT jsonb_agg(d.slot) FROM recs.deployment d WHERE d.model_id = m.model_id))
           ORDER BY m.model_id)
      INTO models FROM recs.model m WHERE m.model_id > before;
    IF models IS NOT NULL THEN
        res := (SELECT m.name FROM recs.model m WHERE m.model_id::text = res AND m.model_id > before);
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'QRB01',
        MESSAGE = CASE WHEN nonnull = 0 THEN 'null' ELSE 'result: ' || coalesce(res, '') || coalesce(' ' || models::text, '') END;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN CASE WHEN st = 'QRB01' THEN msg ELSE format('error %s: %s', st, msg) END;
END $$;

-- what NULL in fn's argument a does, in the terms of null_expect.expect
CREATE FUNCTION pg_temp.null_outcome(f text, a text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    e null_expect;
    got text;
    base text;
BEGIN
    SELECT * INTO e FROM null_expect WHERE (fn, arg) = (f, a);
    got := pg_temp.null_run(pg_temp.null_call(f, a, 'NULL'));
    IF got LIKE 'error %' THEN
        RETURN substr(got, 7);
    ELSIF got = 'null' THEN
        RETURN 'null';
    ELSIF e.expect = 'ok' THEN
        RETURN 'ok';
    ELSIF e.expect = 'default' OR e.expect LIKE '= %' THEN
        base := pg_temp.null_run(pg_temp.null_call(f, a, CASE WHEN e.expect = 'default' THEN NULL
                                                             ELSE substr(e.expect, 3) END));
        IF base = got THEN
            RETURN e.expect;
        END IF;
        RETURN format('%s, but differs from %s: %s', got, e.expect, base);
    END IF;
    RETURN got;
END $$;

-- the fixture: a small platform and a model of each kind (the blend serves)
DO $$
BEGIN
    PERFORM recs.generate_sample('bn', 40, 12, 7, 60);
    CREATE TABLE bn.test AS SELECT learner_id, course_id FROM bn.watches WHERE watched_at >= '2025-12-15';
    PERFORM recs.train_popularity('bn.watches', 'bn.learners', name => 'bn_pop');
    PERFORM recs.train_ncf('bn.watches', 'bn_ncf', courses => 'bn.courses', epochs => 1, layers => '{8}', dim => 4);
    PERFORM recs.train_ncf('bn.watches', 'bn_ncf_cf', courses => 'bn.courses', epochs => 1, layers => '{8}', dim => 4,
                           course_features => '{topic,skills}', activate => false);
    PERFORM recs.train_glmix('bn.impressions', 'bn.learners', 'bn.courses', '{language,segment}', '{topic}',
                             name => 'bn_glmix');
    PERFORM recs.train_blend(ARRAY[recs.model_id('bn_ncf'), recs.model_id('bn_pop')], 'bn.impressions',
                             'bn.learners', name => 'bn_blend', since => '2025-12-01');
    -- twins keyed by uuid, for the uuid functions
    CREATE FUNCTION bn.u(id bigint) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT
        AS $f$ SELECT (lpad(to_hex(id), 12, '0') || substr(md5(id::text), 1, 20))::uuid $f$;
    CREATE VIEW bn.u_watches AS SELECT bn.u(learner_id) AS learner_id, bn.u(course_id) AS course_id,
                                       watched_at, watch_seconds FROM bn.watches;
    CREATE VIEW bn.u_impressions AS SELECT bn.u(learner_id) AS learner_id, bn.u(course_id) AS course_id,
                                           shown_at, clicked, bookmarked FROM bn.impressions;
    CREATE VIEW bn.u_learners AS SELECT bn.u(learner_id) AS learner_id, language, segment FROM bn.learners;
    CREATE VIEW bn.u_courses AS SELECT bn.u(course_id) AS course_id, topic FROM bn.courses;
    PERFORM recs.train_popularity('bn.u_watches', 'bn.u_learners', name => 'bn_upop', activate => false);
    PERFORM recs.train_ncf('bn.u_watches', 'bn_uncf', courses => 'bn.u_courses', epochs => 1, layers => '{8}', dim => 4,
                           activate => false);
    PERFORM recs.train_glmix('bn.u_impressions', 'bn.u_learners', 'bn.u_courses', '{language,segment}', '{topic}',
                             name => 'bn_uglmix', activate => false);
    CREATE ROLE recs_tap_bad_input;
END $$;

SELECT plan((SELECT count(*)::int FROM null_expect) + 4);

SELECT is(pg_temp.null_outcome(e.fn, e.arg),
          CASE WHEN e.expect ~ '^[0-9A-Z]{5}$' THEN e.expect || ': ' || e.detail ELSE e.expect END,
          format('%s(%s => NULL): %s', e.fn, e.arg,
                 CASE WHEN e.expect ~ '^[0-9A-Z]{5}$' THEN 'error ' || e.expect
                      WHEN e.expect = 'null' THEN 'no result (' || e.detail || ')'
                      WHEN e.expect = 'default' THEN 'the default, ' || e.detail
                      ELSE e.detail END))
  FROM (SELECT * FROM null_expect ORDER BY id OFFSET 0) e;

-- the expectations cover exactly the catalog's arguments
SELECT is_empty($$SELECT fn || '(' || arg || ')' FROM null_args EXCEPT SELECT fn || '(' || arg || ')' FROM null_expect$$,
                'every argument of every public function has a NULL expectation');
SELECT is_empty($$SELECT fn || '(' || arg || ')' FROM null_expect EXCEPT SELECT fn || '(' || arg || ')' FROM null_args$$,
                'no expectation names an argument that does not exist');
SELECT is_empty($$SELECT e.fn || '(' || e.arg || ')' FROM null_expect e JOIN null_args x USING (fn, arg)
                   WHERE e.valid IS NULL AND NOT x.has_default$$,
                'every argument without a default has a valid value');
SELECT is_empty($$SELECT e.fn || '(' || e.arg || ')' FROM null_expect e JOIN null_args x USING (fn, arg)
                   WHERE e.expect = 'default' AND NOT x.has_default
                      OR e.expect ~ '^[0-9A-Z]{5}$' AND e.detail IS NULL$$,
                '''default'' only where there is one, and every error has its message');

SELECT * FROM finish();
ROLLBACK;
