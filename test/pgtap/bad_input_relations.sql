-- bad_input_relations.sql -- every function that reads a relation, given
-- empty relations, relations missing a column or with a column of the wrong
-- type, views, and objects that are not relations: each is a SQLSTATE with
-- its exact message, or works (a view trains the same model as its table).
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(55);

DO $$
BEGIN
    PERFORM recs.generate_sample('br', 40, 12, 7, 60);
    PERFORM recs.train_popularity('br.watches', 'br.learners', name => 'br_pop');
    PERFORM recs.train_ncf('br.watches', 'br_ncf', courses => 'br.courses', epochs => 1, layers => '{8}', dim => 4);
    PERFORM recs.train_glmix('br.impressions', 'br.learners', 'br.courses', '{language,segment}', '{topic}',
                             name => 'br_glmix');
END $$;
SELECT recs.model_id('br_pop') AS pop, recs.model_id('br_ncf') AS ncf, recs.model_id('br_glmix') AS gl \gset

-- empty relations, relations missing a column, columns of the wrong type
CREATE TABLE br.w_empty (LIKE br.watches);
CREATE TABLE br.i_empty (LIKE br.impressions);
CREATE TABLE br.l_empty (LIKE br.learners);
CREATE TABLE br.c_empty (LIKE br.courses);
CREATE TABLE br.w_no_time AS SELECT learner_id, course_id, watch_seconds FROM br.watches;
CREATE TABLE br.w_float_course AS SELECT learner_id, course_id::float8 AS course_id, watched_at, watch_seconds FROM br.watches;
CREATE TABLE br.w_text_time AS SELECT learner_id, course_id, watched_at::text AS watched_at, watch_seconds FROM br.watches;
CREATE TABLE br.w_text_seconds AS SELECT learner_id, course_id, watched_at, watch_seconds::text AS watch_seconds FROM br.watches;
CREATE TABLE br.i_no_click AS SELECT learner_id, course_id, shown_at, bookmarked, watch_seconds FROM br.impressions;
CREATE TABLE br.i_text_click AS SELECT learner_id, course_id, shown_at, clicked::text AS clicked, bookmarked FROM br.impressions;
CREATE TABLE br.i_numeric_id AS SELECT learner_id::numeric AS learner_id, course_id, shown_at, clicked, bookmarked FROM br.impressions;
CREATE TABLE br.i_text_time AS SELECT learner_id, course_id, shown_at::text AS shown_at, clicked, bookmarked FROM br.impressions;
CREATE TABLE br.l_no_language AS SELECT learner_id, industry, segment FROM br.learners;
CREATE TABLE br.t AS SELECT learner_id, course_id, true AS clicked FROM br.watches WHERE watched_at >= '2025-12-15';
CREATE TABLE br.t_empty (LIKE br.t);
CREATE TABLE br.t_no_course AS SELECT learner_id FROM br.t;
CREATE TABLE br.t_float_course AS SELECT learner_id, course_id::float8 AS course_id FROM br.t;
CREATE SEQUENCE br.not_a_table;
-- views, with other column names
CREATE VIEW br.w_view AS SELECT learner_id AS who, course_id AS what, watched_at AS at, watch_seconds AS secs FROM br.watches;
CREATE VIEW br.l_view AS SELECT learner_id AS who, language FROM br.learners;
CREATE VIEW br.c_view AS SELECT course_id AS what FROM br.courses;
CREATE VIEW br.i_view AS SELECT * FROM br.impressions;
CREATE VIEW br.t_view AS SELECT * FROM br.t;

-- train_popularity
SELECT throws_ok($$SELECT recs.train_popularity('br.w_empty')$$, '02000', 'no watches left to train on',
                 'train_popularity: an empty relation');
SELECT throws_ok($$SELECT recs.train_popularity('br.w_no_time')$$, '42703',
                 'column "watched_at" does not exist in relation br.w_no_time', 'train_popularity: a missing column');
SELECT throws_ok($$SELECT recs.train_popularity('br.w_float_course')$$, '42804',
                 'column "course_id" of relation br.w_float_course has type double precision', 'train_popularity: a float id (integer, uuid and text are ids)');
SELECT throws_ok($$SELECT recs.train_popularity('br.w_text_time')$$, '42804',
                 'column "watched_at" of relation br.w_text_time has type text', 'train_popularity: a text time');
SELECT throws_ok($$SELECT recs.train_popularity('br.w_text_seconds')$$, '42804',
                 'column "watch_seconds" of relation br.w_text_seconds has type text', 'train_popularity: text watch time');
SELECT throws_ok($$SELECT recs.train_popularity('br.watches', 'br.l_no_language')$$, '42703',
                 'column "language" does not exist in relation br.l_no_language',
                 'train_popularity: a learners relation without the language column');
SELECT throws_ok($$SELECT recs.train_popularity('br.not_a_table')$$, '42809', '"not_a_table" is not a table or view',
                 'train_popularity: a sequence');
SELECT lives_ok($$SELECT recs.train_popularity('br.watches', 'br.l_empty', name => 'br_pop_nolang')$$,
                'train_popularity: an empty learners relation (every learner''s language unknown)');
SELECT recs.train_popularity('br.w_view', 'br.l_view', name => 'br_pop_view', learner_column => 'who',
                             course_column => 'what', time_column => 'at', seconds_column => 'secs') AS pop_view \gset
SELECT results_eq(format('SELECT language, course_id, score FROM recs.course_popularity WHERE model_id = %s ORDER BY 1, 2', :pop_view),
                  format('SELECT language, course_id, score FROM recs.course_popularity WHERE model_id = %s ORDER BY 1, 2', :pop),
                  'train_popularity: a view with renamed columns gives the table''s scores');

-- train_ncf
SELECT throws_ok($$SELECT recs.train_ncf('br.w_empty')$$, '02000', 'no watches left to train on', 'train_ncf: an empty relation');
SELECT throws_ok($$SELECT recs.train_ncf('br.w_no_time')$$, '42703',
                 'column "watched_at" does not exist in relation br.w_no_time', 'train_ncf: a missing column');
SELECT throws_ok($$SELECT recs.train_ncf('br.w_float_course')$$, '42804',
                 'column "course_id" of relation br.w_float_course has type double precision', 'train_ncf: a float id (integer, uuid and text are ids)');
SELECT throws_ok($$SELECT recs.train_ncf('br.watches', courses => 'br.l_no_language')$$, '42703',
                 'column "course_id" does not exist in relation br.l_no_language', 'train_ncf: a courses relation without ids');
SELECT lives_ok($$SELECT recs.train_ncf('br.watches', 'br_ncf_nocat', courses => 'br.c_empty', epochs => 1, layers => '{8}', dim => 4)$$,
                'train_ncf: an empty courses relation (the catalogue is the watched courses)');
SELECT recs.train_ncf('br.w_view', 'br_ncf_view', courses => 'br.c_view', epochs => 1, layers => '{8}', dim => 4,
                      learner_column => 'who', course_column => 'what', time_column => 'at', seconds_column => 'secs') AS ncf_view \gset
SELECT results_eq(format('SELECT course_id, embedding FROM recs.ncf_course WHERE model_id = %s ORDER BY 1', :ncf_view),
                  format('SELECT course_id, embedding FROM recs.ncf_course WHERE model_id = %s ORDER BY 1', :ncf),
                  'train_ncf: a view with renamed columns trains the same model, bit for bit');

-- train_glmix
SELECT throws_ok($$SELECT recs.train_glmix('br.i_empty', 'br.learners', 'br.courses', '{language}', '{topic}')$$,
                 '02000', 'br.i_empty has no rows to train on', 'train_glmix: an empty relation');
SELECT throws_ok($$SELECT recs.train_glmix('br.i_no_click', 'br.learners', 'br.courses', '{language}', '{topic}')$$,
                 '42703', 'column "clicked" does not exist in relation br.i_no_click', 'train_glmix: a missing label column');
SELECT throws_ok($$SELECT recs.train_glmix('br.i_text_click', 'br.learners', 'br.courses', '{language}', '{topic}')$$,
                 '42804', 'column "clicked" of relation br.i_text_click has type text', 'train_glmix: a text label');
SELECT throws_ok($$SELECT recs.train_glmix('br.i_numeric_id', 'br.learners', 'br.courses', '{language}', '{topic}')$$,
                 '42804', 'column "learner_id" of relation br.i_numeric_id has type numeric', 'train_glmix: a numeric id');
SELECT throws_ok($$SELECT recs.train_glmix('br.impressions', 'br.l_no_language', 'br.courses', '{language}', '{topic}')$$,
                 '42703', 'column "language" does not exist in relation br.l_no_language', 'train_glmix: a missing feature column');
SELECT throws_ok($$SELECT recs.train_glmix('br.impressions', 'br.learners', 'br.courses', '{language}', '{topic}',
                                           validation => 'br.i_empty')$$,
                 '02000', 'validation relation br.i_empty has no rows', 'train_glmix: an empty validation relation');
SELECT lives_ok($$SELECT recs.train_glmix('br.impressions', 'br.l_empty', 'br.c_empty', '{language}', '{topic}', name => 'br_gl_nofeat')$$,
                'train_glmix: empty learners and courses relations (no features, only the intercepts)');
SELECT recs.train_glmix('br.i_view', 'br.learners', 'br.courses', '{language,segment}', '{topic}', name => 'br_gl_view') AS gl_view \gset
SELECT results_eq(format('SELECT coordinate, entity, coef FROM recs.glmix_coef WHERE model_id = %s ORDER BY 1, 2', :gl_view),
                  format('SELECT coordinate, entity, coef FROM recs.glmix_coef WHERE model_id = %s ORDER BY 1, 2', :gl),
                  'train_glmix: a view trains the same coefficients');
CREATE TABLE br.i_clicks AS SELECT * FROM br.impressions WHERE clicked;
SELECT recs.train_glmix('br.impressions', 'br.learners', 'br.courses', '{language}', '{topic}', name => 'br_gl_val',
                        validation => 'br.i_clicks', passes => 1) AS gl_val \gset
SELECT is((SELECT metrics->'validation_auc' FROM recs.model WHERE model_id = :gl_val), 'null'::jsonb,
          'train_glmix: a validation relation of one label has an undefined AUC, stored as null');

-- train_blend
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.i_empty', since => '2025-12-01')$$, :ncf, :pop),
                 '02000', 'no impressions after the components'' training data', 'train_blend: an empty relation');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.i_no_click', since => '2025-12-01')$$, :ncf, :pop),
                 '42703', 'column "clicked" does not exist in relation br.i_no_click', 'train_blend: a missing label column');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.i_text_click', since => '2025-12-01')$$, :ncf, :pop),
                 '42804', 'column "clicked" of relation br.i_text_click has type text', 'train_blend: a text label');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.i_text_time', since => '2025-12-01')$$, :ncf, :pop),
                 '42804', 'column "shown_at" of relation br.i_text_time has type text', 'train_blend: a text time');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.i_numeric_id', since => '2025-12-01')$$, :ncf, :pop),
                 '42804', 'column "learner_id" of relation br.i_numeric_id has type numeric', 'train_blend: a numeric id');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.impressions', 'br.l_no_language',
                                                  random_effects => '{learner_id,language}', since => '2025-12-01')$$, :ncf, :pop),
                 '42703', 'column "language" does not exist in relation br.l_no_language',
                 'train_blend: a random effect missing from the learners relation');
SELECT throws_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.w_empty', time_column => 'watched_at', negatives => 2,
                                                  since => '2025-12-01')$$, :ncf, :pop),
                 '02000', 'no impressions after the components'' training data', 'train_blend: empty watches for a ranking blend');
SELECT lives_ok(format($$SELECT recs.train_blend(ARRAY[%s, %s], 'br.impressions', 'br.l_empty', name => 'br_bl_nolearners',
                                                 random_effects => '{learner_id,segment}', since => '2025-12-01')$$, :ncf, :pop),
                'train_blend: an empty learners relation (no segment keys: the global and per-learner weights)');
SELECT recs.train_blend(ARRAY[:ncf, :pop], 'br.impressions', name => 'br_bl', since => '2025-12-01') AS bl \gset
SELECT recs.train_blend(ARRAY[:ncf, :pop], 'br.i_view', name => 'br_bl_view', since => '2025-12-01') AS bl_view \gset
SELECT results_eq(format('SELECT coordinate, entity, coefs FROM recs.blend_coef WHERE model_id = %s ORDER BY 1, 2', :bl_view),
                  format('SELECT coordinate, entity, coefs FROM recs.blend_coef WHERE model_id = %s ORDER BY 1, 2', :bl),
                  'train_blend: a view trains the same weights');

-- train_all (its errors name the caller's relations, not its temporary views)
SELECT throws_ok($$SELECT recs.train_all('br.w_empty', 'br.impressions', 'br.learners', 'br.courses', epochs => 1)$$,
                 '02000', 'br.w_empty has no watches', 'train_all: an empty watches relation');
SELECT throws_ok($$SELECT recs.train_all('br.w_no_time', 'br.impressions', 'br.learners', 'br.courses', epochs => 1)$$,
                 '42703', 'column "watched_at" does not exist in relation br.w_no_time', 'train_all: watches without watched_at');
SELECT throws_ok($$SELECT recs.train_all('br.w_text_time', 'br.impressions', 'br.learners', 'br.courses', epochs => 1)$$,
                 '42804', 'column "watched_at" of relation br.w_text_time has type text', 'train_all: a text watched_at');
SELECT throws_ok($$SELECT recs.train_all('br.watches', 'br.i_text_time', 'br.learners', 'br.courses', epochs => 1)$$,
                 '42804', 'column "shown_at" of relation br.i_text_time has type text', 'train_all: a text shown_at');
SELECT throws_ok($$SELECT recs.train_all('br.watches', 'br.i_no_click', 'br.learners', 'br.courses', epochs => 1)$$,
                 '42703', 'column "clicked" does not exist in relation br.i_no_click',
                 'train_all: an error inside a step names the caller''s relation');
SELECT throws_ok($$SELECT recs.train_all('br.watches', 'br.i_empty', 'br.learners', 'br.courses', epochs => 1)$$,
                 '02000', 'br.i_empty has no rows to train on', 'train_all: an empty impressions relation');
SELECT throws_ok($$SELECT recs.train_all('br.watches', 'br.impressions', 'br.l_no_language', 'br.courses', epochs => 1)$$,
                 '42703', 'column "language" does not exist in relation br.l_no_language', 'train_all: learners without a feature column');
SELECT throws_ok($$SELECT recs.train_all('br.not_a_table', 'br.impressions', 'br.learners', 'br.courses', epochs => 1)$$,
                 '42703', 'column "learner_id" does not exist in relation br.not_a_table', 'train_all: a sequence');
SELECT lives_ok($$SELECT recs.train_all('br.watches', 'br.impressions', 'br.learners', 'br.c_empty', name => 'br_all_nocat',
                                        epochs => 1, blend_days => 20)$$,
                'train_all: an empty courses relation');
CREATE VIEW br.w_view2 AS SELECT * FROM br.watches;
SELECT lives_ok($$SELECT recs.train_all('br.w_view2', 'br.i_view', 'br.learners', 'br.courses', name => 'br_all', epochs => 1,
                                        blend_days => 20, candidates => '{click_blend}')$$,
                'train_all: views');
SELECT is((SELECT jsonb_agg(source - 'components' ORDER BY model_id) FROM recs.model
            WHERE name ~ '^br_all_(popularity|ncf|glmix|blend)$'),
          '[{"watches": "br.w_view2", "learners": "br.learners"},
            {"courses": "br.courses", "watches": "br.w_view2"},
            {"courses": "br.courses", "learners": "br.learners", "impressions": "br.i_view"},
            {"impressions": "br.i_view"}]'::jsonb,
          'train_all: the models'' source names the caller''s relations, not the pipeline''s temporary views');

-- evaluate
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t_empty')$$, :pop), '02000', 'test relation br.t_empty has no rows',
                 'evaluate: an empty test relation');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t_no_course')$$, :pop), '42703',
                 'column "course_id" does not exist in relation br.t_no_course', 'evaluate: a missing column');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t_float_course')$$, :pop), '42804',
                 'column "course_id" of relation br.t_float_course has type double precision', 'evaluate: a float id (integer, uuid and text are ids)');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t_no_course', protocol => 'sampled')$$, :pop), '42703',
                 'column "course_id" does not exist in relation br.t_no_course', 'evaluate: sampled, a missing column');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t', protocol => 'sampled')$$, :pop), '42703',
                 'column "negatives" does not exist in relation br.t', 'evaluate: sampled without negatives');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t_float_course', protocol => 'response')$$, :pop), '42804',
                 'column "course_id" of relation br.t_float_course has type double precision', 'evaluate: response, a float id (integer, uuid and text are ids)');
SELECT throws_ok(format($$SELECT recs.evaluate(%s, 'br.t', protocol => 'response', label_column => 'nope')$$, :pop), '42703',
                 'column "nope" does not exist in relation br.t', 'evaluate: response without its label column');
SELECT is(recs.evaluate(:pop, 'br.t_view') - 'k', recs.evaluate(:pop, 'br.t') - 'k', 'evaluate: a view measures what its table does');

-- the rest
SELECT throws_ok(format($$SELECT recs.course_map_svg(%s, 'br.l_no_language')$$, :ncf), '42703',
                 'column "language" does not exist in relation br.l_no_language', 'course_map_svg: a missing column');
SELECT lives_ok(format($$SELECT recs.course_map_svg(%s, 'br.c_empty')$$, :ncf),
                'course_map_svg: an empty courses relation (every course grey)');
SELECT throws_ok($$SELECT recs.generate_sample('br')$$, '42P07', 'table br.courses already exists',
                 'generate_sample: existing tables');

SELECT * FROM finish();
ROLLBACK;
