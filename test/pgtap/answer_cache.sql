-- answer_cache.sql -- recommend()'s remembered answers are the answers:
-- the same lists as scoring every call, never a list of another model
-- version, and calls with filters are always computed.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

SELECT count(*) FROM recs.generate_sample('ac', 120, 25, 17);
CREATE VIEW ac.early AS SELECT * FROM ac.watches WHERE watched_at < '2025-10-01';
CREATE VIEW ac.late AS SELECT * FROM ac.watches WHERE watched_at >= '2025-10-01';
SELECT recs.train_ncf('ac.watches', 'ac_ncf', layers => '{8}', dim => 4, epochs => 1, activate => false) AS ncf \gset

-- every learner twice with the cache (the second round answers from it), once without
CREATE TEMP TABLE cached AS
SELECT round, l.learner_id, r.rank, r.course_id, r.score
  FROM generate_series(1, 2) round, ac.learners l, LATERAL recs.recommend(l.learner_id, 5, model => :ncf) r;
SET LOCAL recs.answer_cache_size = 0;
CREATE TEMP TABLE scored AS
SELECT l.learner_id, r.rank, r.course_id, r.score
  FROM ac.learners l, LATERAL recs.recommend(l.learner_id, 5, model => :ncf) r;
RESET recs.answer_cache_size;
SELECT is((SELECT count(*)::int FROM (SELECT learner_id, rank, course_id, score FROM cached WHERE round = 2
                                      EXCEPT SELECT * FROM scored) x), 0,
          'remembered answers equal scored ones');
SELECT is((SELECT count(*)::int FROM cached WHERE round = 2), (SELECT count(*)::int FROM scored), 'for every learner');

-- filters are computed, not taken from the remembered plain list
SELECT (SELECT course_id FROM recs.recommend(100001, 1, model => :ncf)) AS top1 \gset
SELECT ok(NOT EXISTS (SELECT FROM recs.recommend(100001, 5, model => :ncf, exclude => ARRAY[:top1::bigint])
                      WHERE course_id = :top1), 'exclude is applied to a remembered learner');
SELECT is((SELECT array_agg(course_id) FROM recs.recommend(100001, 5, model => :ncf, candidates => ARRAY[:top1::bigint])),
          ARRAY[:top1::bigint], 'candidates too');

-- a new activation, and a new model under a reused id, are served at the next call
SELECT recs.train_popularity('ac.early', name => 'ac_a', smoothing => 0) AS a \gset
SELECT count(*) AS warm FROM recs.recommend(100001, 3) \gset
SELECT recs.train_popularity('ac.late', name => 'ac_b', smoothing => 0) AS b \gset
SELECT results_eq($$SELECT course_id, score FROM recs.recommend(100001, 3)$$,
                  format($$SELECT course_id, score FROM recs.recommend(100001, 3, model => %s)$$, :b),
                  'after an activation the default slot serves the new model');
-- B's list is remembered for its id; a new model under that id must not get it
CREATE TEMP TABLE b_list AS SELECT course_id, score FROM recs.recommend(100001, 3, model => :b);
SELECT recs.activate(:a);
SELECT recs.drop_model(:b);
SELECT format('ALTER TABLE recs.model ALTER COLUMN model_id RESTART WITH %s', :b) \gexec
SELECT recs.train_popularity('ac.early', name => 'ac_c', smoothing => 10, activate => false) AS c \gset
SELECT is(:c::bigint, :b::bigint, 'a new model took the dropped one''s id');
CREATE TEMP TABLE c_served AS SELECT course_id, score FROM recs.recommend(100001, 3, model => :c);
SET LOCAL recs.answer_cache_size = 0;
CREATE TEMP TABLE c_scored AS SELECT course_id, score FROM recs.recommend(100001, 3, model => :c);
RESET recs.answer_cache_size;
SELECT ok((SELECT array_agg(score ORDER BY score DESC, course_id) FROM b_list)
            IS DISTINCT FROM (SELECT array_agg(score ORDER BY score DESC, course_id) FROM c_scored)
          AND (SELECT array_agg(score ORDER BY score DESC, course_id) FROM c_served)
            = (SELECT array_agg(score ORDER BY score DESC, course_id) FROM c_scored),
          'the reused id serves the new model''s list, not the remembered one');

SELECT * FROM finish();
ROLLBACK;
