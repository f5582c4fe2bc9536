-- corrupt_models.sql -- a corrupted model row is a clean error (XX001, naming
-- the model and the table), never a crash or a silently different score.
-- Each case corrupts one row, touches the model's catalog row (the serving
-- cache is keyed by its version) and serves, all inside throws_ok's
-- subtransaction, so the corruption is rolled back before the next case.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(79);

SELECT count(*) FROM recs.generate_sample('cm', 200, 30, 5);
CREATE VIEW cm.w_early AS SELECT * FROM cm.watches WHERE watched_at < '2025-09-01';
CREATE VIEW cm.imp_early AS SELECT * FROM cm.impressions WHERE shown_at < '2025-09-01';
SELECT recs.train_popularity('cm.w_early', 'cm.learners', name => 'cm_pop', through => '2025-08-31') AS pop \gset
SELECT recs.train_ncf('cm.w_early', 'cm_ncf', courses => 'cm.courses', layers => '{16,8}', dim => 4,
                      epochs => 2, through => '2025-08-31') AS ncf \gset
SELECT recs.train_glmix('cm.imp_early', 'cm.learners', 'cm.courses', '{industry,segment,language}',
                        '{topic,difficulty,language}', name => 'cm_glmix', passes => 1) AS gl \gset
SELECT recs.train_blend(ARRAY[:pop, :gl, :ncf], 'cm.impressions', 'cm.learners',
                        random_effects => '{learner_id,segment}', name => 'cm_blend') AS bl \gset
-- a learner every model knows, with a blend coefficient vector of their own
SELECT min(entity)::bigint AS lrn FROM recs.blend_coef WHERE model_id = :bl AND coordinate = 'learner_id'
   AND entity::bigint IN (SELECT learner_id FROM recs.ncf_learner WHERE model_id = :ncf) \gset
-- a course of the popularity model's catalogue (the blend's)
SELECT min(course_id) AS crs FROM recs.course_popularity WHERE model_id = :pop AND language IS NULL \gset

-- corrupt: run the corrupting statement, make the model reload, serve
CREATE FUNCTION pg_temp.corrupt(m bigint, fix text, serve text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE fix;
    UPDATE recs.model SET cache_token = (random() * 9.2e18)::bigint WHERE model_id = m;
    EXECUTE serve;
END $$;
-- a throws_ok of corrupt(): SQLSTATE XX001 and the message naming the model
CREATE FUNCTION pg_temp.corrupt_ok(model bigint, fix text, serve text, what text) RETURNS text
LANGUAGE sql AS $$
    SELECT throws_ok(format('SELECT pg_temp.corrupt(%s, %L, %L)', model, fix, serve),
                     'XX001', format('recs model %s is corrupt', model), what)
$$;

SELECT lives_ok(format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, m), 'model ' || m || ' serves')
  FROM unnest(ARRAY[:pop, :ncf, :gl, :bl]) m;

-- ---- the reproducers of the issue ----
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET features = '{0,13,2000000000}'
                                        WHERE model_id = %s AND side = 'course' AND id = 1$$, :gl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: a feature index of 2000000000 on the course side');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET features[1] = -1
                                        WHERE model_id = %s AND side = 'course' AND id = 1$$, :gl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: a negative feature index on the course side');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET "values" = "values"[1:1]
                                        WHERE model_id = %s AND side = 'learner' AND id = %s$$, :gl, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: values shorter than features');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_out = 65536, weight = array_fill(0.5::real, ARRAY[8 * 65536]),
                                          bias = array_fill(0::real, ARRAY[65536])
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 2$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s, recent => ''{1,2}'')', :ncf),
       'ncf_layer: the learner tower''s last layer 65536 wide, recent watches');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_out = 65536, weight = array_fill(0.5::real, ARRAY[8 * 65536]),
                                          bias = array_fill(0::real, ARRAY[65536])
                                        WHERE model_id = %s AND layer = 2$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s, recent => ''{1,2}'')', :ncf),
       'ncf_layer: both towers 65536 wide, wider than the course embeddings');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_out = 2, weight = weight[1:16], bias = bias[1:2]
                                        WHERE model_id = %s AND layer = 2$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: both towers narrower than the course embeddings, a cold-start learner');

-- ---- NCF ----
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding = embedding[1:3]
                                        WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :ncf),
       'ncf_course: an embedding narrower than the others');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding[2] = 'NaN'
                                        WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT * FROM recs.similar_courses(1, 5, model => %s)', :ncf),
       'ncf_course: a NaN in an embedding (similar_courses)');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding[2] = NULL
                                        WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT * FROM recs.course_map(%s)', :ncf),
       'ncf_course: a NULL element in an embedding (course_map)');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding = '{{1,2},{3,4}}'
                                        WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT recs.score(%s, %s, 1)', :ncf, :lrn),
       'ncf_course: a two-dimensional embedding');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET input_row = 0
                                        WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT recs.score(%s, %s, 1)', :ncf, :lrn),
       'ncf_course: input_row out of the course order');
SELECT pg_temp.corrupt_ok(:ncf, format($$DELETE FROM recs.ncf_course WHERE model_id = %s$$, :ncf),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :ncf),
       'ncf_course: no course embeddings');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding = array_fill(0.1::real, ARRAY[100000])
                                        WHERE model_id = %s AND course_id = (SELECT min(course_id) FROM recs.ncf_course WHERE model_id = %s)$$, :ncf, :ncf),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :ncf),
       'ncf_course: an embedding wider than NCF_MAX_WIDTH');
SELECT pg_temp.corrupt_ok(:ncf, format($$DELETE FROM recs.ncf_course WHERE model_id = %s AND course_id = 5$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_course: a course fewer than the sparse layer''s inputs');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET weight = weight[1:10]
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 0$$, :ncf),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s, recent => ''{3}'')', :lrn, :ncf),
       'ncf_layer: a weight shorter than n_in * n_out');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET bias[1] = 'Infinity'
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 1$$, :ncf),
       format('SELECT recs.embed_learner(%s, ''{1,2}'')', :ncf),
       'ncf_layer: an infinite bias (embed_learner)');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET weight[3] = NULL
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 1$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: a NULL weight');
SELECT pg_temp.corrupt_ok(:ncf, format($$DELETE FROM recs.ncf_layer WHERE model_id = %s AND tower = 'learner' AND layer = 1$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: a missing layer');
SELECT pg_temp.corrupt_ok(:ncf, format($$DELETE FROM recs.ncf_layer WHERE model_id = %s AND tower = 'learner' AND layer > 0$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: a tower of one layer');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_in = 4, weight = weight[1:32]
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 1$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: n_in different from the previous layer''s n_out');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_in = 1000000000
                                        WHERE model_id = %s AND tower = 'learner' AND layer = 1$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: a huge n_in');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET bias = bias[1:2]
                                        WHERE model_id = %s AND tower = 'course' AND layer = 1$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s)', :ncf),
       'ncf_layer: a course-tower bias shorter than n_out');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_layer SET n_in = 31, weight = weight || array_fill(0::real, ARRAY[16])
                                        WHERE model_id = %s AND layer = 0$$, :ncf),
       format('SELECT * FROM recs.recommend(999999, 5, model => %s, recent => ''{1}'')', :ncf),
       'ncf_layer: more sparse inputs than courses');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_learner SET embedding = embedding[1:3]
                                        WHERE model_id = %s AND learner_id = %s$$, :ncf, :lrn),
       format('SELECT recs.score(%s, %s, 1)', :ncf, :lrn),
       'ncf_learner: an embedding narrower than the course embeddings');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_learner SET embedding[1] = '-Infinity'
                                        WHERE model_id = %s AND learner_id = %s$$, :ncf, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :ncf),
       'ncf_learner: an infinite element');

-- ---- GLMix ----
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET features = '{12,9,1}'
                                        WHERE model_id = %s AND side = 'learner' AND id = %s$$, :gl, :lrn),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_entity: features not ascending');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET features[2] = NULL
                                        WHERE model_id = %s AND side = 'learner' AND id = %s$$, :gl, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: a NULL feature index');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET "values"[1] = 'NaN'
                                        WHERE model_id = %s AND side = 'course' AND id = 2$$, :gl),
       format('SELECT * FROM recs.explain(%s, %s, 2)', :gl, :lrn),
       'glmix_entity: a NaN value (explain)');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET keys = '{NULL}'
                                        WHERE model_id = %s AND side = 'course' AND id = 2$$, :gl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: keys shorter than the random effects');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET keys = '{x,NULL}'
                                        WHERE model_id = %s AND side = 'learner' AND id = %s$$, :gl, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_entity: a key for an effect keyed by the id');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coef SET coef = coef[1:5]
                                        WHERE model_id = %s AND coordinate = 'fixed'$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coef: a fixed vector shorter than the fixed dimension');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coef SET coef = coef || 1::float8
                                        WHERE model_id = %s AND coordinate = 'course_id' AND entity = '2'$$, :gl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
       'glmix_coef: a random-effect vector longer than its dimension');
SELECT pg_temp.corrupt_ok(:gl, format($$DELETE FROM recs.glmix_coef WHERE model_id = %s AND coordinate = 'fixed'$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coef: no fixed vector');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coef SET entity = 'x'
                                        WHERE model_id = %s AND coordinate = 'fixed'$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coef: the fixed vector under an entity');
SELECT pg_temp.corrupt_ok(:gl, format($$DELETE FROM recs.glmix_coef WHERE model_id = %s AND coordinate = 'course_id' AND entity = '2'$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 2)', :gl, :lrn),
       'glmix_coef: fewer vectors than the coordinate''s entities');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coef SET coef[1] = 'Infinity'
                                        WHERE model_id = %s AND coordinate = 'learner_id' AND entity = '%s'$$, :gl, :lrn),
       format('SELECT * FROM recs.explain(%s, %s, 2)', :gl, :lrn),
       'glmix_coef: an infinite coefficient (explain)');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET features[2] = NULL
                                        WHERE model_id = %s AND position = 0$$, :gl),
       format('SELECT * FROM recs.explain(%s, %s, 2)', :gl, :lrn),
       'glmix_coordinate: a NULL feature name (explain)');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET features = features[1:10]
                                        WHERE model_id = %s AND position = 0$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: fewer fixed features than the layout');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET features = features || 'x'::text
                                        WHERE model_id = %s AND position = 1$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a random effect wider than its design');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET keyed_by = NULL
                                        WHERE model_id = %s AND position = 1$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a random effect keyed by nothing');
SELECT lives_ok(format($$SELECT pg_temp.corrupt(%s, 'UPDATE recs.glmix_coordinate SET crosses = NULL
                                                    WHERE model_id = %s AND position = 0', 'SELECT recs.glmix_score(%s, %s, 1)')$$,
                       :gl, :gl, :gl, :lrn),
                'glmix_coordinate: NULL crosses (none) serve, as the model has none (the fuzzer''s crash)');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET crosses = '{nocolon}'
                                        WHERE model_id = %s AND position = 0$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a cross that names no columns');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET crosses = '{industry:topic}'
                                        WHERE model_id = %s AND position = 0$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a cross the fixed dimension does not include');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET position = 7
                                        WHERE model_id = %s AND position = 1$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a gap in the positions');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET name = 'fixed2'
                                        WHERE model_id = %s AND position = 0$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: the first coordinate not the fixed effect');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET l2 = 'NaN'
                                        WHERE model_id = %s AND position = 2$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: a NaN l2');
-- (a course-keyed coordinate: the learner-keyed ones' vectors are read one
-- learner at a time, so serving does not count them; see glmix_serving.sql)
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_coordinate SET entities = entities + 1
                                        WHERE model_id = %s AND name = 'course_id'$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: entities different from the stored vectors');
SELECT pg_temp.corrupt_ok(:gl, format($$DELETE FROM recs.glmix_coordinate WHERE model_id = %s$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_coordinate: no coordinates');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_column SET first_feature = first_feature + 1
                                        WHERE model_id = %s AND side = 'course' AND position = 1$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_column: a gap between columns');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_column SET n_features = 2000000000
                                        WHERE model_id = %s AND side = 'learner' AND position = 2$$, :gl),
       format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn),
       'glmix_column: a huge n_features');

-- ---- popularity ----
SELECT pg_temp.corrupt_ok(:pop, format($$UPDATE recs.course_popularity SET score = 'NaN'
                                         WHERE model_id = %s AND language IS NULL AND course_id = %s$$, :pop, :crs),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :pop),
       'course_popularity: a NaN score');
SELECT pg_temp.corrupt_ok(:pop, format($$UPDATE recs.course_popularity SET course_id = 999
                                         WHERE model_id = %s AND language = 'en' AND course_id = 1$$, :pop),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :pop),
       'course_popularity: a language group''s course not in the catalogue');
SELECT pg_temp.corrupt_ok(:pop, format($$DELETE FROM recs.course_popularity WHERE model_id = %s AND language IS NULL$$, :pop),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :pop),
       'course_popularity: no everyone group');

-- ---- blend ----
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET sd = 'Infinity'
                                        WHERE model_id = %s AND position = 2$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: an infinite sd');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET mean = 'NaN'
                                        WHERE model_id = %s AND position = 1$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: a NaN mean');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET component_id = %s
                                        WHERE model_id = %s AND position = 2$$, :bl, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: the blend its own component');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET transform = 'identity'
                                        WHERE model_id = %s AND position = 2$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: a GLMix component without its logit');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET component_id = %s
                                        WHERE model_id = %s AND position = 3$$, :pop, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: a component twice');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_component SET position = 9
                                        WHERE model_id = %s AND position = 2$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: a gap in the positions');
SELECT pg_temp.corrupt_ok(:bl, format($$DELETE FROM recs.blend_component WHERE model_id = %s$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_component: no components');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_coef SET coefs = coefs[1:2]
                                        WHERE model_id = %s AND entity IS NULL$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_coef: a global vector shorter than the components');
SELECT pg_temp.corrupt_ok(:bl, format($$DELETE FROM recs.blend_coef WHERE model_id = %s AND entity IS NULL$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_coef: no global vector');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_coef SET coefs[2] = 'NaN'
                                        WHERE model_id = %s AND coordinate = 'learner_id' AND entity = '%s'$$, :bl, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_coef: a NaN in a learner''s own vector');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.blend_learner SET keys = keys[1:1]
                                        WHERE model_id = %s AND learner_id = %s$$, :bl, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'blend_learner: keys shorter than the random effects');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.model SET params = jsonb_set(params, '{random_effects}', '["learner_id", null]')
                                        WHERE model_id = %s$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'recs.model params: a null random effect');
SELECT pg_temp.corrupt_ok(:bl, format($$UPDATE recs.model SET params = jsonb_set(params, '{rerank_top}', '-5')
                                        WHERE model_id = %s$$, :bl),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :bl),
       'recs.model params: a negative rerank_top');

-- ---- model_learner and the other entry points ----
SELECT pg_temp.corrupt_ok(:pop, format($$UPDATE recs.model_learner SET watched[1] = NULL
                                         WHERE model_id = %s AND learner_id = %s$$, :pop, :lrn),
       format('SELECT * FROM recs.recommend(%s, 5, model => %s)', :lrn, :pop),
       'model_learner: a NULL watched course');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET features[1] = 99
                                        WHERE model_id = %s AND side = 'course' AND id = 2$$, :gl),
       format('SELECT count(*) FROM recs.recommend_all(3, model => %s)', :gl),
       'recommend_all on a corrupt model');
SELECT pg_temp.corrupt_ok(:ncf, format($$UPDATE recs.ncf_course SET embedding[1] = 'NaN'
                                        WHERE model_id = %s AND course_id = %s$$, :ncf, :crs),
       format('SELECT * FROM recs.explain_recommendation(%s, %s, model => %s)', :lrn, :crs, :bl),
       'explain_recommendation of a blend with a corrupt component');
SELECT pg_temp.corrupt_ok(:pop, format($$UPDATE recs.course_popularity SET score = 'Infinity'
                                         WHERE model_id = %s AND language IS NULL AND course_id = %s$$, :pop, :crs),
       format($$SELECT recs.train_blend(ARRAY[%s, %s], 'cm.impressions', name => 'cm_b2')$$, :pop, :gl),
       'train_blend with a corrupt component');
SELECT pg_temp.corrupt_ok(:gl, format($$UPDATE recs.glmix_entity SET "values" = '{}'
                                        WHERE model_id = %s AND side = 'course' AND id = 2$$, :gl),
       format($$SELECT * FROM recs.evaluate(%s, 'cm.impressions', protocol => 'full')$$, :gl),
       'evaluate on a corrupt model');

-- the corruption was rolled back with each case: the models serve as before
SELECT lives_ok(format('SELECT * FROM recs.recommend(%s, 5, model => %s, recent => ''{1}'')', :lrn, m),
                'model ' || m || ' serves after the corrupt cases')
  FROM unnest(ARRAY[:pop, :ncf, :gl, :bl]) m;

SELECT * FROM finish();
ROLLBACK;
