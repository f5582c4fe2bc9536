-- slots.sql -- serving by deployment slot: an A/B test with two slots, the
-- one rule for naming a model (model => or slot =>, never both; an unknown
-- slot is an error) in every serving function, score() NULL for a course the
-- model cannot place, the NCF functions of a blend, and explain's
-- "because you watched" and "cold start" rows.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(43);

-- two popularity models on hand-checkable data: for a learner the models do
-- not know, a course's score is its share of the active learners
CREATE TEMP TABLE wa (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO wa VALUES (1, 10, '2025-06-01', 120), (2, 10, '2025-06-02', 120),
                      (3, 10, '2025-06-03', 120), (4, 20, '2025-06-04', 120);
CREATE TEMP TABLE wb (LIKE wa);
INSERT INTO wb VALUES (1, 30, '2025-06-01', 120), (2, 30, '2025-06-02', 120),
                      (3, 20, '2025-06-03', 120), (4, 10, '2025-06-04', 120);
SELECT recs.train_popularity('wa', name => 'slot_a', activate => false) AS a \gset
SELECT recs.train_popularity('wb', name => 'slot_b', activate => false) AS b \gset
SELECT recs.activate(:a, 'ab_a');
SELECT recs.activate(:b, 'ab_b');
SELECT recs.activate(:a);

-- ---- an A/B test: two slots, two models ----
SELECT results_eq($$SELECT course_id, score FROM recs.recommend(99, 2, slot => 'ab_a')$$,
                  $$VALUES (10::bigint, 0.75::float8), (20, 0.25)$$, 'slot ab_a serves model a: course 10, 3 of 4 learners');
SELECT results_eq($$SELECT course_id, score FROM recs.recommend(99, 2, slot => 'ab_b')$$,
                  $$VALUES (30::bigint, 0.5::float8), (10, 0.25)$$, 'slot ab_b serves model b: course 30, 2 of 4 learners');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, 3)$$, $$SELECT course_id FROM recs.recommend(99, 3, slot => 'default')$$,
                  'no slot: the default slot');
SELECT results_eq($$SELECT learner_id, course_id, score FROM recs.recommend_all(1, slot => 'ab_b') ORDER BY 1$$,
                  $$SELECT l, r.course_id, r.score FROM unnest('{1,2,3,4}'::bigint[]) l, recs.recommend(l, 1, model => $$ || :b || $$) r ORDER BY 1$$,
                  'recommend_all by slot: model b for each of its learners');
SELECT is(recs.score(NULL, 99, 30, slot => 'ab_b'), 0.5::float8, 'score by slot: model b''s share of course 30');
SELECT is(recs.score(NULL, 99, 20, slot => 'ab_a'), 0.25::float8, 'score by slot: model a''s share of course 20');
SELECT is(recs.score(NULL, 99, 30), NULL, 'score with neither model nor slot: NULL, as when it was STRICT');
SELECT recs.activate(:a, 'ab_b');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, 1, slot => 'ab_b')$$, $$VALUES (10::bigint)$$,
                  're-activating a slot switches its model at the next call');
SELECT recs.activate(:b, 'ab_b');

-- ---- one rule for every serving function: an unknown slot is an error ----
SELECT throws_ok($$SELECT * FROM recs.recommend(99, 3, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'recommend: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.recommend_all(3, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'recommend_all: an unknown slot');
SELECT throws_ok($$SELECT recs.score(NULL, 99, 10, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'score: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.similar_courses(10, 3, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'similar_courses: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.explain_recommendation(99, 10, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'explain_recommendation: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.explain(99, 10, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'explain: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.course_embeddings(slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'course_embeddings: an unknown slot');
SELECT throws_ok($$SELECT recs.glmix_score(NULL, 99, 10, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'glmix_score: an unknown slot');
SELECT throws_ok($$SELECT recs.embed_learner(NULL, '{10}', slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'embed_learner: an unknown slot');
SELECT throws_ok($$SELECT * FROM recs.course_map(NULL, slot => 'typo')$$, '42704',
                 'no recs model is active in slot "typo"', 'course_map: an unknown slot');
SELECT throws_ok(format($$SELECT * FROM recs.recommend(99, 3, model => %s, slot => 'ab_b')$$, :a), '22023',
                 'model and slot must not both be given', 'recommend: model and slot together are an error');
SELECT throws_ok(format($$SELECT recs.score(%s, 99, 10, 'ab_b')$$, :a), '22023',
                 'model and slot must not both be given', 'score: model and slot together are an error');

-- ---- score: NULL for a course the model cannot place ----
CREATE TEMP TABLE catalogue (course_id bigint);
INSERT INTO catalogue VALUES (10), (20), (30), (40);
SELECT results_eq(format('SELECT course_id, recs.score(%s, 99, course_id) FROM catalogue ORDER BY course_id', :b),
                  $$VALUES (10::bigint, 0.25::float8), (20, 0.25), (30, 0.5), (40, NULL)$$,
                  'scoring a catalogue with a course the model cannot place (40): NULL for it, no error');
SELECT is(recs.score(:a, 99, 30), NULL, 'model a never saw course 30: NULL');

-- ---- NCF and a blend: slots, embeddings of a blend, explanations ----
SELECT count(*) > 0 AS generated FROM recs.generate_sample('sl', 40, 12, 7, 60) \gset
SELECT recs.train_ncf('sl.watches', 'slot_ncf', courses => 'sl.courses', epochs => 2, layers => '{8}', dim => 4,
                      activate => false) AS n \gset
SELECT recs.train_popularity('sl.watches', 'sl.learners', name => 'slot_pop', activate => false) AS p \gset
SELECT recs.train_blend(ARRAY[:n, :p], 'sl.impressions', 'sl.learners', name => 'slot_blend', activate => false) AS bl \gset
SELECT recs.activate(:bl, 'blend_slot');
SELECT results_eq(format('SELECT * FROM recs.similar_courses(3, 4, model => %s)', :bl),
                  format('SELECT * FROM recs.similar_courses(3, 4, model => %s)', :n),
                  'similar_courses of a blend: its NCF component''s');
SELECT results_eq($$SELECT * FROM recs.similar_courses(3, 4, slot => 'blend_slot')$$,
                  format('SELECT * FROM recs.similar_courses(3, 4, model => %s)', :n),
                  'similar_courses by the slot of a blend');
SELECT is(recs.embed_learner(:bl, '{1,2}'), recs.embed_learner(:n, '{1,2}'), 'embed_learner of a blend: its NCF component''s');
SELECT results_eq(format('SELECT * FROM recs.course_map(%s)', :bl), format('SELECT * FROM recs.course_map(%s)', :n),
                  'course_map of a blend: its NCF component''s');
SELECT throws_ok(format('SELECT * FROM recs.similar_courses(3, 4, model => %s)', :p), '42809',
                 format('recs model %s is a popularity model, which has no course embeddings', :p),
                 'similar_courses of a popularity model: no embeddings');
-- a learner the NCF model knows with the most watches, and a course they did not watch
SELECT ml.learner_id AS lrn FROM recs.model_learner ml WHERE ml.model_id = :n
 ORDER BY cardinality(ml.watched) DESC, ml.learner_id LIMIT 1 \gset
SELECT min(c.course_id) AS crs FROM recs.ncf_course c, recs.model_learner ml
 WHERE c.model_id = :n AND ml.model_id = :n AND ml.learner_id = :lrn AND NOT c.course_id = ANY (ml.watched) \gset

SELECT results_eq(format('SELECT rank, course_id, score FROM recs.recommend(%s, 5, slot => ''blend_slot'')',
                         (SELECT min(learner_id) FROM sl.learners)),
                  format('SELECT rank, course_id, score FROM recs.recommend(%s, 5, model => %s)',
                         (SELECT min(learner_id) FROM sl.learners), :bl),
                  'recommend by the slot of a blend equals by its id');
SELECT is((SELECT score FROM recs.explain_recommendation(:lrn, :crs, slot => 'blend_slot') WHERE part = 'total'),
          recs.score(NULL, :lrn, :crs, slot => 'blend_slot'), 'explain by slot: the total is the slot''s served score');

-- because you watched: the learner's watched courses nearest the course, by an
-- independent cosine over recs.course_embeddings
CREATE TEMP TABLE near AS
SELECT w.course_id, (SELECT sum(a * b) FROM unnest(e.embedding, t.embedding) u(a, b))
                    / sqrt((SELECT sum(a * a) FROM unnest(e.embedding) a) * (SELECT sum(b * b) FROM unnest(t.embedding) b)) AS cosine
  FROM recs.model_learner ml, unnest(ml.watched) w(course_id),
       recs.course_embeddings(:n) e, recs.course_embeddings(:n) t
 WHERE ml.model_id = :n AND ml.learner_id = :lrn AND e.course_id = w.course_id AND t.course_id = :crs AND w.course_id <> :crs;
SELECT ok((SELECT count(*) FROM near) >= 1, 'the learner watched other courses');
SELECT is((SELECT detail[1] FROM recs.explain_recommendation(:lrn, :crs, model => :n) WHERE part = 'because you watched'),
          (SELECT format('course %s (cosine %s)', course_id, round(cosine::numeric, 3)) FROM near
            ORDER BY cosine DESC, course_id LIMIT 1),
          'because you watched names the watched course nearest in the embedding space first');
SELECT ok((SELECT abs(score - (SELECT max(cosine) FROM near)) < 1e-6 AND cardinality(detail) = least(3, (SELECT count(*) FROM near))
             FROM recs.explain_recommendation(:lrn, :crs, model => :n) WHERE part = 'because you watched'),
          'its score is that cosine, and it names up to three courses');
SELECT is((SELECT detail FROM recs.explain_recommendation(:lrn, :crs, model => :bl) WHERE part = 'because you watched'),
          (SELECT detail FROM recs.explain_recommendation(:lrn, :crs, model => :n) WHERE part = 'because you watched'),
          'a blend names the same courses, from its NCF component');
SELECT is((SELECT count(*)::int FROM recs.explain_recommendation(:lrn, :crs, model => :p) WHERE part = 'because you watched'), 0,
          'a popularity model has no embeddings: no because-you-watched row');

-- cold start: flagged for a learner the model does not know, not otherwise
SELECT is((SELECT count(*)::int FROM recs.explain_recommendation(:lrn, :crs, model => :n) WHERE part = 'cold start'), 0,
          'a known learner: no cold-start row');
SELECT is((SELECT detail[1] FROM recs.explain_recommendation(999999, :crs, model => :n) WHERE part = 'cold start'),
          format('learner 999999 is not known to recs model %s: it served its score for a learner without history', :n),
          'an unknown learner: the cold-start row says so');
SELECT is((SELECT count(*)::int FROM recs.explain_recommendation(999999, :crs, model => :n) WHERE part = 'because you watched'), 0,
          'an unknown learner watched nothing: no because-you-watched row');

-- a re-ranking blend: explain says whether the course was in the pool
SELECT recs.train_blend(ARRAY[:n, :p], 'sl.watches', name => 'slot_rr', time_column => 'watched_at', negatives => 5,
                        rerank_top => 3, since => '2025-12-01', activate => false) AS rr \gset
CREATE TEMP TABLE rr_served AS SELECT * FROM recs.recommend(:lrn, 6, model => :rr);
CREATE TEMP TABLE rr_pool AS
SELECT s.rank, s.course_id, e.score AS pool_rank, e.detail[1] AS detail
  FROM rr_served s, recs.explain_recommendation(:lrn, s.course_id, model => :rr) e WHERE e.part = 'rerank pool';
SELECT is((SELECT count(*)::int FROM rr_pool), 6, 'a re-ranking blend explains the pool for every served course');
SELECT set_eq($$SELECT course_id FROM rr_pool WHERE detail LIKE 'in the pool: %'$$,
              $$SELECT course_id FROM rr_served WHERE rank <= 3$$,
              'in the pool: exactly the first rerank_top ranks');
SELECT set_eq($$SELECT course_id, pool_rank::int FROM rr_pool WHERE pool_rank IS NOT NULL$$,
              format('SELECT course_id, rank FROM recs.recommend(%s, 3, model => %s)', :lrn, :n),
              'its score is the course''s rank in the first component''s own top 3');
SELECT is((SELECT count(*)::int FROM recs.explain_recommendation(:lrn, :crs, model => :bl) WHERE part = 'rerank pool'), 0,
          'a blend that does not re-rank has no pool row');

-- a serving role (EXECUTE only, no table access) serves by slot
CREATE ROLE recs_tap_slot_app;
SELECT recs.grant_access('recs_tap_slot_app');
SET LOCAL ROLE recs_tap_slot_app;
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, 1, slot => 'ab_b')$$, $$VALUES (30::bigint)$$,
                  'a serving role serves by slot');
SELECT throws_ok($$SELECT * FROM recs.recommend(99, 1, slot => 'typo')$$, '42704', NULL,
                 'and gets the unknown-slot error, not a permission error');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
