-- test/pgtap/ncf_content.sql -- NCF course content features: train_ncf's
-- course_features and content_dropout, embed_course, add_courses.
BEGIN;
SELECT plan(39);
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_cf FROM recs.generate_sample('cf', 400, 80, 7) \gset
-- the training's catalogue: the sample's courses plus two nobody watched
CREATE TABLE cf.catalogue AS SELECT * FROM cf.courses;
INSERT INTO cf.catalogue (course_id, title, language, topic, difficulty, skills, duration_minutes, published_at)
SELECT 8000 + course_id, title, language, topic, difficulty, skills, duration_minutes, published_at
  FROM cf.courses WHERE course_id IN (1, 2);
-- courses published after the training: one per topic, with that topic's most common skills
CREATE TABLE cf.published AS SELECT * FROM cf.catalogue;
INSERT INTO cf.published (course_id, title, language, topic, difficulty, skills, duration_minutes, published_at)
SELECT 9000 + row_number() OVER (ORDER BY t.topic), 'new ' || t.topic, 'en', t.topic, 'beginner',
       ARRAY(SELECT s FROM cf.courses c2, unnest(c2.skills) s WHERE c2.topic = t.topic
              GROUP BY s ORDER BY count(*) DESC, s LIMIT 2), 60, now()
  FROM (SELECT DISTINCT topic FROM cf.courses) t;

SELECT recs.train_ncf('cf.watches', 'cf_content', courses => 'cf.catalogue', layers => '{64}', dim => 16,
                      epochs => 30, course_features => '{topic,language,difficulty,skills}', activate => false) AS m \gset

-- ---------------------------------------------------------------- the model's parts
SELECT is((SELECT params->'course_features' FROM recs.model WHERE model_id = :m),
          '["topic", "language", "difficulty", "skills"]'::jsonb, 'params list the feature columns');
SELECT is((SELECT (params->>'content_dropout')::float8 FROM recs.model WHERE model_id = :m), 0.3::float8,
          'and the default content_dropout');
SELECT is((SELECT count(*) FROM recs.ncf_course_feature WHERE model_id = :m),
          (SELECT (SELECT count(DISTINCT topic) + count(DISTINCT language) + count(DISTINCT difficulty) FROM cf.catalogue)
                + (SELECT count(DISTINCT s) FROM cf.catalogue, unnest(skills) s)),
          'the vocabulary holds every distinct value of every feature column once');
SELECT is((SELECT array[min(input_row), max(input_row)] FROM recs.ncf_course_feature WHERE model_id = :m),
          (SELECT array[count(*)::int, count(*)::int + (SELECT count(*)::int - 1 FROM recs.ncf_course_feature WHERE model_id = :m)]
             FROM recs.ncf_course WHERE model_id = :m),
          'its input rows follow the courses'' rows');
SELECT is((SELECT n_in FROM recs.ncf_layer WHERE model_id = :m AND tower = 'course' AND layer = 0),
          (SELECT count(*)::int FROM recs.ncf_course WHERE model_id = :m)
          + (SELECT count(*)::int FROM recs.ncf_course_feature WHERE model_id = :m),
          'the course tower''s sparse layer has a row per course and per feature value');
SELECT is((SELECT n_in FROM recs.ncf_layer WHERE model_id = :m AND tower = 'learner' AND layer = 0),
          (SELECT count(*)::int FROM recs.ncf_course WHERE model_id = :m),
          'the learner tower''s has a row per course');

-- ---------------------------------------------------------------- courses nobody watched
CREATE TEMP TABLE unwatched AS
SELECT c.course_id, c.embedding AS stored,
       recs.embed_course(:m, jsonb_build_object('topic', k.topic, 'language', k.language,
                                                'difficulty', k.difficulty, 'skills', to_jsonb(k.skills))) AS from_features
  FROM recs.ncf_course c JOIN cf.catalogue k USING (course_id)
 WHERE c.model_id = :m AND c.course_id > 8000;
SELECT is((SELECT count(*) FROM unwatched), 2::bigint, 'the catalogue''s unwatched courses are stored');
SELECT ok((SELECT bool_and(abs(a - b) <= 1e-5 * (1 + abs(a)))
             FROM unwatched, unnest(stored, from_features) AS x(a, b)),
          'an unwatched course''s stored embedding equals embed_course on its features (to float rounding)');
SELECT ok((SELECT sum(abs(a - b)) FROM unwatched u1, unwatched u2, unnest(u1.stored, u2.stored) AS x(a, b)
            WHERE u1.course_id = 8001 AND u2.course_id = 8002) > 0.01,
          'two unwatched courses with different features get different embeddings');
SELECT ok((SELECT count(DISTINCT embedding::text) FROM recs.ncf_course WHERE model_id = :m) =
          (SELECT count(*) FROM recs.ncf_course WHERE model_id = :m),
          'every course has its own embedding');

-- ---------------------------------------------------------------- embed_course
SELECT ok((SELECT sum(abs(a - b)) FROM unnest(recs.embed_course(:m, '{"topic": "data-science"}'),
                                              recs.embed_course(:m, '{"topic": "design"}')) AS x(a, b)) > 0.01,
          'two new courses with different topics get different embeddings');
SELECT is(recs.embed_course(:m, '{"topic": "data-science", "skills": ["sql", "sql"]}'),
          recs.embed_course(:m, '{"skills": "sql", "topic": "data-science", "language": null}'),
          'a value counts once, the order of keys does not matter, null is no value');
SELECT is(recs.embed_course(:m, '{"topic": "data-science", "skills": ["no such skill"]}'),
          recs.embed_course(:m, '{"topic": "data-science"}'),
          'values the model never saw are left out');
SELECT is(cardinality(recs.embed_course(:m, '{}')), 16, 'an empty object: the content-free embedding');
SELECT throws_ok($$SELECT recs.embed_course($$ || :m || $$, '{"topic": "x", "colour": "red"}')$$, '22023',
                 format('NCF model %s has no course feature "colour"', :m), 'an unknown feature is an error');
SELECT throws_ok($$SELECT recs.embed_course($$ || :m || $$, '["data-science"]')$$, '22023',
                 'features must be a JSON object', 'features must be an object');
SELECT throws_ok($$SELECT recs.embed_course($$ || :m || $$, '{"skills": [["sql"]]}')$$, '22023',
                 'feature "skills" must be a scalar or an array of scalars', 'nested values are an error');

-- a vocabulary row out of place is a corrupt model, not a wrong embedding
SAVEPOINT corrupt;
UPDATE recs.ncf_course_feature SET input_row = input_row + 1 WHERE model_id = :m AND feature = 'topic' AND value = 'design';
UPDATE recs.model SET cache_token = cache_token + 1 WHERE model_id = :m;
SELECT throws_ok($$SELECT recs.embed_course($$ || :m || $$, '{"topic": "design"}')$$, 'XX001', NULL,
                 'a vocabulary row out of place is reported as a corrupt model');
ROLLBACK TO SAVEPOINT corrupt;

-- ---------------------------------------------------------------- add_courses
-- a backend that served the model before add_courses sees the new courses after it
SELECT ok((SELECT count(*) FROM recs.recommend(1, 1000, model => :m)) > 0, 'the model serves (cache warm)');
SELECT is(recs.score(:m, 1, 9001), NULL::float8, 'a course the model cannot place scores NULL');
-- a blend over the model (its rows only): its cached part holds the component's token
INSERT INTO recs.model (name, kind, version) VALUES ('cf_blend_rows', 'blend', 1) RETURNING model_id AS fb \gset
INSERT INTO recs.blend_component VALUES (:fb, 1, :m, 'identity', 0, 1);
SELECT cache_token AS blend_token FROM recs.model WHERE model_id = :fb \gset
SELECT throws_ok($$SELECT recs.add_courses($$ || :fb || $$, 'cf.published')$$, '42809',
                 format('recs model %s is a blend model, not an NCF model', :fb), 'add_courses takes an NCF model');
SELECT is(recs.add_courses(:m, 'cf.published'), (SELECT count(*)::int FROM cf.published WHERE course_id > 9000),
          'add_courses adds the courses the model does not hold');
SELECT isnt((SELECT cache_token FROM recs.model WHERE model_id = :fb), :'blend_token'::bigint,
            'and gives the blends over the model a new cache_token');
SELECT is(recs.add_courses(:m, 'cf.published'), 0, 'and only those');
SELECT is((SELECT count(*) FROM recs.ncf_course WHERE model_id = :m AND input_row IS NULL AND watchers = 0),
          (SELECT count(*) FROM cf.published WHERE course_id > 9000), 'they have no input row and no watchers');
SELECT ok((SELECT bool_and(abs(a - b) <= 1e-5 * (1 + abs(a)))
             FROM recs.ncf_course c JOIN cf.published k USING (course_id),
                  unnest(c.embedding, recs.embed_course(:m, jsonb_build_object('topic', k.topic, 'language', k.language,
                         'difficulty', k.difficulty, 'skills', to_jsonb(k.skills)))) AS x(a, b)
            WHERE c.model_id = :m AND c.course_id > 9000),
          'an added course''s embedding is embed_course on its features');
SELECT ok(recs.score(:m, 1, 9001) IS NOT NULL, 'score() places an added course');
SELECT is((SELECT count(*) FROM recs.recommend(1, 1000, model => :m) r WHERE r.course_id > 9000),
          (SELECT count(*) FROM cf.published WHERE course_id > 9000), 'recommend() ranks the added courses');
SELECT is(recs.embed_learner(:m, '{9001,9002}'), recs.embed_learner(:m, '{}'),
          'added courses are no input of the learner tower');

-- A course of a learner's most watched topic ranks above one of a topic they
-- never watched: learners with at least 4 watches, each against every topic
-- they never watched.
CREATE TEMP TABLE pref AS
WITH w AS (SELECT w.learner_id, c.topic, count(*) AS n
             FROM (SELECT DISTINCT learner_id, course_id FROM cf.watches WHERE watch_seconds >= 60) w
             JOIN cf.courses c USING (course_id) GROUP BY 1, 2),
     top AS (SELECT DISTINCT ON (learner_id) learner_id, topic FROM w
              WHERE learner_id IN (SELECT learner_id FROM w GROUP BY 1 HAVING sum(n) >= 4)
              ORDER BY learner_id, n DESC, topic)
SELECT t.learner_id, recs.score(:m, t.learner_id, pt.course_id) > recs.score(:m, t.learner_id, po.course_id) AS right_order
  FROM top t JOIN cf.published pt ON pt.course_id > 9000 AND pt.topic = t.topic
  JOIN cf.published po ON po.course_id > 9000 AND po.topic NOT IN (SELECT topic FROM w WHERE w.learner_id = t.learner_id);
SELECT ok((SELECT count(*) FROM pref) > 200, 'enough (learner, unwatched topic) pairs');
SELECT ok((SELECT avg(right_order::int) FROM pref) > 0.8,
          'a new course of the learner''s topic ranks above one of a topic they never watched');

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT recs.train_ncf('cf.watches', course_features => '{topic}')$$, '22023',
                 'course_features needs a courses relation', 'course_features needs courses');
SELECT throws_ok($$SELECT recs.train_ncf('cf.watches', courses => 'cf.courses', course_features => '{topic,colour}')$$,
                 '42703', 'column "colour" does not exist in relation cf.courses', 'course_features must exist');
SELECT throws_ok($$SELECT recs.train_ncf('cf.watches', courses => 'cf.courses', course_features => '{topic,topic}')$$,
                 '22023', 'course_features names column "topic" twice', 'course_features are distinct');
SELECT throws_ok($$SELECT recs.train_ncf('cf.watches', courses => 'cf.courses', course_features => '{topic}', content_dropout => 1.5)$$,
                 '22023', 'content_dropout must be between 0 and 1, not 1.5', 'content_dropout is a probability');

-- ---------------------------------------------------------------- without course_features
-- Without course_features the content code is inert: content_dropout draws
-- from its own stream, so it changes nothing, and the course tower has only
-- the co-watch rows.  (Compared within one build: a fixed fingerprint would
-- tie the test to one compiler and BLAS.)
SELECT count(*) AS n_nc FROM recs.generate_sample('nc', 200, 50, 11) \gset
SELECT recs.train_ncf('nc.watches', 'nc_plain', courses => 'nc.courses', epochs => 3, layers => '{32}', dim => 8,
                      seed => 5, content_dropout => 0.9, activate => false) AS plain \gset
SELECT recs.train_ncf('nc.watches', 'nc_plain0', courses => 'nc.courses', epochs => 3, layers => '{32}', dim => 8,
                      seed => 5, content_dropout => 0, activate => false) AS plain0 \gset
SELECT is((SELECT md5(string_agg(embedding::text, ';' ORDER BY course_id)) FROM recs.ncf_course WHERE model_id = :plain)
          || (SELECT md5(string_agg(embedding::text, ';' ORDER BY learner_id)) FROM recs.ncf_learner WHERE model_id = :plain),
          (SELECT md5(string_agg(embedding::text, ';' ORDER BY course_id)) FROM recs.ncf_course WHERE model_id = :plain0)
          || (SELECT md5(string_agg(embedding::text, ';' ORDER BY learner_id)) FROM recs.ncf_learner WHERE model_id = :plain0),
          'a model without course_features: content_dropout changes nothing, bit for bit');
SELECT is((SELECT n_in FROM recs.ncf_layer WHERE model_id = :plain AND tower = 'course' AND layer = 0),
          (SELECT count(*)::int FROM recs.ncf_course WHERE model_id = :plain),
          'and its course tower has one input row per course, no content rows');
SELECT throws_ok($$SELECT recs.add_courses($$ || :plain || $$, 'nc.courses')$$, '0A000',
                 format('NCF model %s has no course features', :plain), 'add_courses needs a model with course features');

-- reproducible with content: a seed and a thread count give one model
SELECT recs.train_ncf('nc.watches', 'nc_a', courses => 'nc.courses', epochs => 3, layers => '{32}', dim => 8, seed => 5,
                      threads => 2, course_features => '{topic,skills}', activate => false) AS a \gset
SELECT recs.train_ncf('nc.watches', 'nc_b', courses => 'nc.courses', epochs => 3, layers => '{32}', dim => 8, seed => 5,
                      threads => 2, course_features => '{topic,skills}', activate => false) AS b \gset
SELECT is((SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :a),
          (SELECT array_agg(embedding ORDER BY course_id)::text FROM recs.ncf_course WHERE model_id = :b),
          'with course features, a seed and a thread count give identical embeddings');

SELECT * FROM finish();

ROLLBACK;
