-- test/pgtap/ncf.sql -- the two-tower NCF model: invariants, errors, quality.
BEGIN;
SELECT plan(33);
-- timing limits scale by recs_test.time_factor (set by make memcheck); 1 otherwise
SELECT coalesce(nullif(current_setting('recs_test.time_factor', true), ''), '1')::int AS time_factor \gset
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_nt FROM recs.generate_sample('nt', 300, 60, 7) \gset
CREATE TABLE nt.empty_watches (LIKE nt.watches);
CREATE VIEW nt.no_course AS SELECT learner_id, watched_at, watch_seconds FROM nt.watches;

-- ---------------------------------------------------------------- leakage
-- The trainer's own contexts (same C code): every context watch lies in
-- [label - 365 days, label), and the context is exactly that set.
CREATE TEMP TABLE ctx AS SELECT * FROM recs._ncf_training_contexts('nt.watches');
CREATE TEMP TABLE clean AS                     -- ingest's cleaning: >= 60 s, first watch per pair
SELECT DISTINCT ON (learner_id, course_id) learner_id, course_id, watched_at
  FROM nt.watches WHERE watch_seconds >= 60 ORDER BY learner_id, course_id, watched_at;

SELECT is((SELECT count(*) FROM ctx), (SELECT count(*) FROM clean),
          'every kept watch is a training positive');
SELECT is((SELECT count(*) FROM ctx c CROSS JOIN LATERAL unnest(c.context) AS x(course_id)
             JOIN clean w ON w.learner_id = c.learner_id AND w.course_id = x.course_id
            WHERE w.watched_at >= c.label_time),
          0::bigint, 'no context holds a watch at or after its label''s time');
SELECT is((SELECT count(*) FROM ctx c
            WHERE c.context IS DISTINCT FROM ARRAY(
                  SELECT w.course_id FROM clean w
                   WHERE w.learner_id = c.learner_id AND w.watched_at < c.label_time
                     AND w.watched_at >= c.label_time - interval '365 days'
                   ORDER BY w.watched_at, w.course_id)),
          0::bigint, 'each context is exactly the watches of the 365 days before the label');
SELECT ok((SELECT count(*) FILTER (WHERE cardinality(context) > 0) FROM ctx) > 100,
          'contexts are not trivially empty');
-- a same-second watch is not context: two watches at one timestamp
CREATE TABLE nt.tie (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO nt.tie VALUES (1, 10, '2025-01-01', 100), (1, 11, '2025-01-01', 100),
                          (1, 12, '2025-01-02', 100), (1, 13, '2023-12-01', 100);
SELECT results_eq(
    $$SELECT course_id, context FROM recs._ncf_training_contexts('nt.tie') ORDER BY course_id$$,
    $$VALUES (10::bigint, '{}'::bigint[]), (11, '{}'), (12, '{10,11}'), (13, '{}')$$,
    'same-second watches and watches older than the window are not context');

-- ---------------------------------------------------------------- a model
SELECT recs.train_ncf('nt.watches', 'nt', courses => 'nt.courses', layers => '{32,16}', dim => 8,
                      epochs => 4, seed => 5) AS m1 \gset
SELECT recs.train_ncf('nt.watches', 'nt', courses => 'nt.courses', layers => '{32,16}', dim => 8,
                      epochs => 4, seed => 5, activate => false) AS m2 \gset
SELECT recs.train_ncf('nt.watches', 'nt', courses => 'nt.courses', layers => '{32,16}', dim => 8,
                      epochs => 4, seed => 6, activate => false) AS m3 \gset
SELECT recs.train_ncf('nt.watches', 'nt', courses => 'nt.courses', layers => '{32,16}', dim => 8,
                      epochs => 4, seed => 5, threads => 2, activate => false) AS m4 \gset
SELECT recs.train_ncf('nt.watches', 'nt', courses => 'nt.courses', layers => '{32,16}', dim => 8,
                      epochs => 4, seed => 5, threads => 2, activate => false) AS m5 \gset

-- determinism
SELECT is((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :m1 AND b.model_id = :m2 AND a.embedding = b.embedding),
          (SELECT count(*) FROM recs.ncf_course WHERE model_id = :m1),
          'the same seed gives identical course embeddings');
SELECT is((SELECT count(*) FROM recs.ncf_layer a JOIN recs.ncf_layer b USING (tower, layer)
            WHERE a.model_id = :m1 AND b.model_id = :m2 AND a.weight = b.weight AND a.bias = b.bias),
          6::bigint, 'the same seed gives identical weights in all six layers');
SELECT is((SELECT count(*) FROM recs.ncf_learner a JOIN recs.ncf_learner b USING (learner_id)
            WHERE a.model_id = :m4 AND b.model_id = :m5 AND a.embedding = b.embedding),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :m4),
          'the same seed and two threads give identical learner embeddings');
SELECT ok((SELECT count(*) FROM recs.ncf_course a JOIN recs.ncf_course b USING (course_id)
            WHERE a.model_id = :m1 AND b.model_id = :m3 AND a.embedding = b.embedding) = 0,
          'another seed gives other embeddings');

-- embedding tables complete
SELECT is((SELECT count(*) FROM recs.ncf_course WHERE model_id = :m1),
          (SELECT count(*) FROM nt.courses), 'one course embedding per course of the catalogue');
SELECT is((SELECT count(*) FROM recs.ncf_learner WHERE model_id = :m1),
          (SELECT count(DISTINCT learner_id) FROM clean), 'one learner embedding per learner with watches');
SELECT is((SELECT count(*) FROM recs.model_learner WHERE model_id = :m1),
          (SELECT count(DISTINCT learner_id) FROM clean), 'recs.model_learner has every learner');
SELECT ok((SELECT bool_and(cardinality(embedding) = 8 AND NOT 'NaN' = ANY (embedding))
             FROM (SELECT embedding FROM recs.ncf_course WHERE model_id = :m1
                   UNION ALL SELECT embedding FROM recs.ncf_learner WHERE model_id = :m1) e),
          'embeddings have dim floats, none NaN');
SELECT is((SELECT array_agg(input_row ORDER BY course_id) FROM recs.ncf_course WHERE model_id = :m1),
          (SELECT array_agg(i ORDER BY i) FROM generate_series(0, 59) i), 'input rows follow course ids');

-- similar_courses
SELECT is((SELECT count(*) FROM recs.similar_courses(c.course_id, 5) s WHERE s.course_id = c.course_id),
          0::bigint, 'similar_courses excludes the course itself')
  FROM (SELECT 7::bigint AS course_id) c;
SELECT is((SELECT count(*) FROM recs.similar_courses(7, 1000)), 59::bigint,
          'k beyond the catalogue gives every other course');
SELECT is((SELECT count(*) FROM recs.similar_courses(7, 5) a
             JOIN LATERAL recs.similar_courses(a.course_id, 1000) b ON b.course_id = 7
            WHERE abs(a.similarity - b.similarity) < 1e-6),
          5::bigint, 'similarity is symmetric');

-- recommend
SELECT is((SELECT count(*) FROM recs.model_learner ml, LATERAL recs.recommend(ml.learner_id, 10) r
            WHERE ml.model_id = :m1 AND r.course_id = ANY (ml.watched)),
          0::bigint, 'recommend never returns a watched course');
SELECT is((SELECT count(*) FROM recs.recommend(-42, 10)), 10::bigint,
          'an unknown learner gets recommendations');

-- course_map: the first axis carries at least the variance of any embedding coordinate
SELECT ok((SELECT var_samp(x) FROM recs.course_map(:m1)) + 1e-9 >=
          (SELECT max(v) FROM (SELECT var_samp(e.embedding[i]) AS v
                                 FROM recs.ncf_course e, generate_series(1, 8) i
                                WHERE e.model_id = :m1 GROUP BY i) x),
          'course_map''s first axis is the direction of largest variance');
SELECT is((SELECT count(*) FROM recs.course_map(:m1)), 60::bigint, 'course_map has every course');

-- ---------------------------------------------------------------- bad arguments
SELECT throws_ok($$SELECT * FROM recs.recommend(1, 0)$$, '22023', NULL, 'k = 0');
SELECT throws_ok($$SELECT * FROM recs.similar_courses(7, -1)$$, '22023', NULL, 'k < 0');
SELECT throws_ok($$SELECT recs.score(0, 1, 1)$$, '42704', NULL, 'unknown model');
SELECT throws_ok($$SELECT recs.embed_learner(0, '{1}')$$, '42704', NULL, 'unknown model (embed_learner)');
SELECT is(recs.score(:m1, 1, 999999), NULL, 'unknown course: NULL, the model cannot place it');
SELECT throws_ok($$SELECT recs.train_ncf('nt.empty_watches')$$, '02000', NULL, 'empty relation');
SELECT throws_ok($$SELECT recs.train_ncf('nt.no_course')$$, '42703', NULL, 'missing course column');
SELECT throws_ok($$SELECT recs.train_ncf('nt.watches', min_watch_seconds => 1e9)$$, '02000', NULL,
                 'no rows after filtering');

-- ---------------------------------------------------------------- cancellation
-- statement_timeout stops training quickly and leaves no trace of the model.
CREATE FUNCTION pg_temp.train_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM recs.train_ncf('nt.watches', 'cancelled', epochs => 100000);
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled';
END $$;
SET LOCAL statement_timeout = '400ms';
SELECT clock_timestamp() AS t0 \gset
SELECT is(pg_temp.train_until_cancelled(), 'cancelled', 'statement_timeout cancels training');
SET LOCAL statement_timeout = 0;
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' * :time_factor, 'within a few seconds');
SELECT is((SELECT count(*) FROM recs.model WHERE name = 'cancelled'), 0::bigint,
          'a cancelled training leaves no model');

-- ---------------------------------------------------------------- quality
-- Train on the first 85% of the time span, evaluate on the rest: NCF must
-- beat popularity by a clear margin in Recall@10 of the future watches.
SELECT count(*) AS n_nq FROM recs.generate_sample('nq', 1200, 80, 3) \gset
SELECT percentile_disc(0.85) WITHIN GROUP (ORDER BY watched_at) AS cutoff FROM nq.watches \gset
CREATE VIEW nq.train AS SELECT * FROM nq.watches WHERE watched_at < :'cutoff';
CREATE TEMP TABLE future AS
SELECT DISTINCT w.learner_id, w.course_id FROM nq.watches w
 WHERE w.watched_at >= :'cutoff' AND w.watch_seconds >= 60
   AND EXISTS (SELECT 1 FROM nq.train t WHERE t.learner_id = w.learner_id AND t.watch_seconds >= 60)
   AND NOT EXISTS (SELECT 1 FROM nq.train t WHERE t.learner_id = w.learner_id
                      AND t.course_id = w.course_id AND t.watch_seconds >= 60);
CREATE FUNCTION pg_temp.recall10() RETURNS float8 LANGUAGE sql AS $$
    SELECT avg(hits::float8 / n) FROM (
        SELECT f.learner_id, count(*) AS n,
               (SELECT count(*) FROM recs.recommend(f.learner_id, 10) r
                 WHERE (f.learner_id, r.course_id) IN (SELECT * FROM future)) AS hits
          FROM future f GROUP BY f.learner_id) x $$;
SELECT recs.train_popularity('nq.train', 'nq.learners', 'nq_pop') \gset
SELECT pg_temp.recall10() AS pop_recall \gset
SELECT recs.train_ncf('nq.train', 'nq_ncf', courses => 'nq.courses', epochs => 15, seed => 1, threads => 2) \gset
SELECT pg_temp.recall10() AS ncf_recall \gset
SELECT ok(:ncf_recall > 1.3 * :pop_recall,
          format('NCF Recall@10 %s beats trending popularity %s by 30%%', round(:ncf_recall::numeric, 3),
                 round(:pop_recall::numeric, 3)));

SELECT * FROM finish();
ROLLBACK;
