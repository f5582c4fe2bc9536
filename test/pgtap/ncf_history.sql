-- test/pgtap/ncf_history.sql -- train_ncf's affinity_columns and path_columns:
-- the history terms of the served score, fitted on the validation slice.
-- Known answers on hand-made courses (the predecessors with a tie, a gap and
-- a non-finite order; the affinity codes; the courses' statistics against
-- SQL); the served score recomputed in SQL from the stored embeddings,
-- weights, codes and the learner's watched list; recommend's order; what
-- add_courses stores; the same weights from the same training; on generated
-- platform data, the fitted signs and the next watch found far more often
-- than without the terms; corrupt rows; the options' errors.
BEGIN;
SELECT plan(31);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- hand-made
-- eight courses: series s has parts 1, 2, 2 (a tie), 3; series t parts 1 and
-- 5 (a gap); course 5 is in no series, course 8's part is NaN (none)
CREATE SCHEMA hs;
CREATE TABLE hs.courses (course_id bigint, topic text, series text, part numeric);
INSERT INTO hs.courses VALUES
    (1, 'a', 's', 1), (2, 'a', 's', 2), (3, 'b', 's', 2), (4, 'b', 's', 3),
    (5, 'a', NULL, NULL), (6, 'c', 't', 1), (7, 'c', 't', 5), (8, NULL, 't', 'NaN');
-- 300 learners over 200 days, each watching five courses in a fixed round
CREATE TABLE hs.watches AS
SELECT u::bigint AS learner_id, ((u + 3 * i) % 8 + 1)::bigint AS course_id,
       timestamptz '2025-01-01 00:00+00' + ((u * 7 + i * 40) % 200) * interval '1 day' + u * interval '1 minute' AS watched_at,
       600::float8 AS watch_seconds
  FROM generate_series(1, 300) u, generate_series(0, 4) i;

SELECT recs.train_ncf('hs.watches', 'hs_hist', courses => 'hs.courses', layers => '{16}', dim => 8,
                      epochs => 3, seed => 5, activate => false, validation => 'auto',
                      course_features => '{topic}', affinity_columns => '{topic}',
                      path_columns => '{series,part}') AS m \gset

SELECT results_eq(
    $$SELECT course_id, predecessor FROM recs.ncf_course WHERE model_id = $$ || :m || $$ ORDER BY 1$$,
    $$VALUES (1::bigint, NULL::bigint), (2, 1), (3, 1), (4, 3), (5, NULL), (6, NULL), (7, 6), (8, NULL)$$,
    'predecessors: the highest order below (the tie at part 2 goes to the larger id), a gap, no series, a NaN order');
SELECT results_eq(
    $$SELECT course_id, affinity FROM recs.ncf_course WHERE model_id = $$ || :m || $$ ORDER BY 1$$,
    $$VALUES (1::bigint, '{0}'::int[]), (2, '{0}'), (3, '{1}'), (4, '{1}'), (5, '{0}'), (6, '{2}'), (7, '{2}'), (8, '{-1}')$$,
    'affinity codes: the place of the topic among a, b, c; -1 for none');
SELECT is((SELECT params->'history'->'affinity_values' FROM recs.model WHERE model_id = :m),
          '[["a", "b", "c"]]'::jsonb, 'the values are kept in params, in byte order');
SELECT is((SELECT params->'history'->'path_columns' FROM recs.model WHERE model_id = :m),
          '["series", "part"]'::jsonb, 'the path columns are kept in params');
SELECT ok((SELECT (h->'fit'->>'learners')::int > 0 AND (h->'fit'->>'positives')::int > 0
                  AND (h->'fit'->>'rows')::int = 21 * (h->'fit'->>'positives')::int
                  AND jsonb_array_length(h->'weights'->'statistics') = 3
                  AND jsonb_array_length(h->'weights'->'affinity') = 1
                  AND (h->'fit'->>'refit_epochs')::int = (metrics->'validation'->>'best_epoch')::int
             FROM (SELECT params->'history' AS h, metrics FROM recs.model WHERE model_id = :m) s),
          'the fit: held-out learners, their new courses, 20 negatives each; 3 statistics and 1 affinity weight; the towers refit for the chosen epochs');

-- the statistics at the end of the data: ln(1 + watches), ln(1 + watches in
-- the last 30 days), ln(1 + days since the first watch)
SELECT is((SELECT count(*) FROM recs.ncf_course c,
                  (SELECT course_id, count(*) AS n,
                          count(*) FILTER (WHERE watched_at >= (SELECT max(watched_at) FROM hs.watches) - interval '30 days') AS r,
                          extract(epoch FROM (SELECT max(watched_at) FROM hs.watches) - min(watched_at)) / 86400 AS age
                     FROM hs.watches GROUP BY 1) w
            WHERE c.model_id = :m AND c.course_id = w.course_id
              AND abs(c.statistics[1] - ln(1 + w.n)) < 1e-5 AND abs(c.statistics[2] - ln(1 + w.r)) < 1e-5
              AND abs(c.statistics[3] - ln(1 + w.age)) < 1e-5),
          8::bigint, 'every course''s statistics, recomputed in SQL');

-- the served score, recomputed from the tables: w_ncf (dot + trend) + w_stats . statistics
-- + w_cowatch ln(1 + the co-watch similarities from the watched courses)
-- + w_watched [predecessor watched] + w_missing [predecessor not watched]
-- + w_latest [predecessor = the latest course of the learner's context that has a successor]
-- + w_topic ln(3 (n_topic + 1/2) / (N + 3/2))
CREATE VIEW hs.expected AS
WITH h AS (SELECT params->'history'->'weights' AS w FROM recs.model WHERE model_id = :m),
     l AS (SELECT learner_id, watched FROM recs.model_learner WHERE model_id = :m AND learner_id IN (3, 50, 177)),
     e AS (SELECT learner_id, embedding,
                  (SELECT x FROM unnest(context) WITH ORDINALITY u(x, o)
                    WHERE x IN (SELECT predecessor FROM recs.ncf_course WHERE model_id = :m)
                    ORDER BY o DESC LIMIT 1) AS latest
             FROM recs.ncf_learner WHERE model_id = :m),
     cnt AS (SELECT l.learner_id, c.affinity[1] AS v, count(*) AS n
               FROM l JOIN recs.ncf_course c ON c.model_id = :m AND c.course_id = ANY (l.watched) GROUP BY 1, 2)
SELECT l.learner_id, c.course_id,
       (h.w->>'ncf')::float8 * ((SELECT sum(a * b) FROM unnest(e.embedding, c.embedding) x(a, b))::real + c.trend)
       + (h.w->'statistics'->>0)::float8 * c.statistics[1] + (h.w->'statistics'->>1)::float8 * c.statistics[2]
       + (h.w->'statistics'->>2)::float8 * c.statistics[3]
       + (h.w->>'cowatch')::float8
         * ln(1 + coalesce((SELECT sum(cw.similarity::float8) FROM recs.ncf_cowatch cw
                             WHERE cw.model_id = :m AND cw.neighbour_id = c.course_id
                               AND cw.course_id = ANY (l.watched)), 0))
       + CASE WHEN c.predecessor IS NULL THEN 0
              WHEN c.predecessor = ANY (l.watched) THEN (h.w->>'predecessor_watched')::float8
              ELSE (h.w->>'predecessor_missing')::float8 END
       + CASE WHEN c.predecessor = e.latest THEN (h.w->>'predecessor_latest')::float8 ELSE 0 END
       + CASE WHEN c.affinity[1] < 0 THEN 0
              ELSE (h.w->'affinity'->>0)::float8
                   * ln(3 * (coalesce((SELECT n FROM cnt WHERE cnt.learner_id = l.learner_id AND cnt.v = c.affinity[1]), 0) + 0.5)
                        / (cardinality(l.watched) + 1.5)) END AS score
  FROM h, l JOIN e USING (learner_id), recs.ncf_course c
 WHERE c.model_id = :m;
SELECT is((SELECT count(*) FROM hs.expected x
            WHERE abs(recs.score(:m, x.learner_id, x.course_id) - x.score) < 1e-4 * (1 + abs(x.score))
              AND x.course_id <= 8),
          24::bigint, 'score = the NCF score and the history terms, recomputed in SQL for 3 learners x 8 courses');
SELECT ok((SELECT count(*) FILTER (WHERE c.predecessor = e.latest) > 0 AND count(*) FILTER (WHERE c.predecessor <> e.latest) > 0
             FROM (SELECT (SELECT x FROM unnest(context) WITH ORDINALITY u(x, o)
                            WHERE x IN (SELECT predecessor FROM recs.ncf_course WHERE model_id = :m)
                            ORDER BY o DESC LIMIT 1) AS latest
                     FROM recs.ncf_learner WHERE model_id = :m AND learner_id IN (3, 50, 177)) e,
                  recs.ncf_course c WHERE c.model_id = :m),
          'the three learners'' courses include continuations of their latest series course and others');
SELECT results_eq(
    $$SELECT course_id FROM recs.recommend(177, 3, model => $$ || :m || $$) ORDER BY rank$$,
    $$SELECT x.course_id FROM hs.expected x
       WHERE x.learner_id = 177
         AND NOT EXISTS (SELECT 1 FROM recs.model_learner ml WHERE ml.model_id = $$ || :m || $$
                            AND ml.learner_id = 177 AND x.course_id = ANY (ml.watched))
       ORDER BY x.score DESC, x.course_id LIMIT 3$$,
    'recommend ranks by the served score');

-- explain_recommendation takes the served score apart: one row per term, the
-- towers' part first; the contributions add up to recs.score
SELECT is((SELECT count(*) FROM (VALUES (3::bigint), (50), (177)) l(lid), generate_series(1, 8) c
            WHERE abs((SELECT sum(contribution) FROM recs._ncf_history_terms(:m, l.lid, c))
                      - recs.score(:m, l.lid, c)) < 1e-9
              AND (SELECT count(*) FROM recs._ncf_history_terms(:m, l.lid, c)) = 9),
          24::bigint, 'the history terms'' rows (the towers'' part, 7 terms, 1 affinity column) add up to the served score');
SELECT is((SELECT count(*) FROM recs.ncf_learner e, recs.ncf_course c, recs._ncf_history_terms(:m, e.learner_id, c.course_id) t
            WHERE e.model_id = :m AND c.model_id = :m AND e.learner_id IN (3, 50, 177) AND t.term = 'ncf'
              AND abs(t.value - ((SELECT sum(a * b) FROM unnest(e.embedding, c.embedding) x(a, b))::real + c.trend)) < 1e-4
              AND abs(t.value * t.weight - t.contribution) < 1e-9),
          24::bigint, 'its first row is the towers'' dot product and trend, times their weight');
SELECT results_eq(
    $$SELECT cardinality(detail), detail[1] LIKE 'ncf: %', detail[9] LIKE 'topic share: %'
        FROM recs.explain_recommendation(177, 2, model => $$ || :m || $$) WHERE part = 'model'$$,
    $$VALUES (9, true, true)$$,
    'explain_recommendation lists the terms in the model row''s detail');
SELECT ok(NOT has_function_privilege('public', 'recs._ncf_history_terms(bigint, bigint, bigint)', 'EXECUTE'),
          'the terms'' function is not PUBLIC: it reads the serving cache');

-- add_courses: a new part 4 of series s and a course of an unknown topic
CREATE TABLE hs.more (course_id bigint, topic text, series text, part numeric);
INSERT INTO hs.more SELECT * FROM hs.courses;
INSERT INTO hs.more VALUES (9, 'b', 's', 4), (10, 'z', NULL, NULL);
SELECT is(recs.add_courses(:m, 'hs.more'), 2, 'add_courses adds the two new courses');
SELECT results_eq(
    $$SELECT course_id, predecessor, affinity, statistics FROM recs.ncf_course WHERE model_id = $$ || :m || $$ AND course_id > 8 ORDER BY 1$$,
    $$VALUES (9::bigint, 4::bigint, '{1}'::int[], '{0,0,0}'::real[]), (10, NULL, '{-1}', '{0,0,0}')$$,
    'a new course: its predecessor among the model''s courses, the trained code of its topic (-1: a topic it never saw), statistics 0');
SELECT is((SELECT count(*) FROM hs.expected x
            WHERE abs(recs.score(:m, x.learner_id, x.course_id) - x.score) < 1e-4 * (1 + abs(x.score))
              AND x.course_id > 8),
          6::bigint, 'the new courses are scored with their terms, recomputed in SQL');

-- the same training gives the same weights
SELECT recs.train_ncf('hs.watches', 'hs_hist2', courses => 'hs.courses', layers => '{16}', dim => 8,
                      epochs => 3, seed => 5, activate => false, validation => 'auto',
                      course_features => '{topic}', affinity_columns => '{topic}',
                      path_columns => '{series,part}') AS m2 \gset
SELECT is((SELECT params->'history'->'weights' FROM recs.model WHERE model_id = :m2),
          (SELECT params->'history'->'weights' FROM recs.model WHERE model_id = :m),
          'bit-reproducible: the same weights from the same training');

-- tune_ncf keeps the chosen grid model itself: it has refitted its towers
CREATE TABLE hs.tuned AS
SELECT * FROM recs.tune_ncf('hs.watches', '{"dim": [4, 8]}', name => 'hs_tune', activate => false,
                            options => '{"courses": "hs.courses", "layers": [16], "epochs": 2, "seed": 5,
                                         "affinity_columns": ["topic"], "path_columns": ["series", "part"]}');
SELECT is((SELECT count(*) FROM hs.tuned t JOIN recs.model mo USING (model_id)
            WHERE t.chosen AND mo.name = 'hs_tune' AND mo.params ? 'history' AND mo.metrics ? 'validation'
              AND (SELECT count(*) FROM recs.model WHERE name = 'hs_tune') = 1),
          1::bigint, 'tune_ncf with history terms keeps the chosen grid model (validated, with its terms) instead of a refit');

-- ---------------------------------------------------------------- platform
-- generated platform data (series, topics, languages): each learner's latest
-- watch held out; a model with the terms against one without
SELECT count(*) FROM recs.generate_sample('hq', 1200, 150, 11, platform => true);
CREATE TABLE hq.w AS SELECT learner_id, course_id, watched_at, watch_seconds FROM hq.watches WHERE watch_seconds >= 60;
CREATE TABLE hq.test AS
SELECT DISTINCT ON (learner_id) learner_id, course_id FROM hq.w
 WHERE learner_id IN (SELECT learner_id FROM hq.w GROUP BY 1 HAVING count(DISTINCT course_id) >= 4)
 ORDER BY learner_id, watched_at DESC, course_id;
CREATE TABLE hq.train AS SELECT w.* FROM hq.w w
 WHERE NOT EXISTS (SELECT FROM hq.test t WHERE t.learner_id = w.learner_id AND t.course_id = w.course_id);

SELECT recs.train_ncf('hq.train', 'hq_plain', courses => 'hq.courses', layers => '{64}', dim => 16,
                      epochs => 10, seed => 3, activate => false, validation => 'auto') AS plain \gset
SELECT recs.train_ncf('hq.train', 'hq_hist', courses => 'hq.courses', layers => '{64}', dim => 16,
                      epochs => 10, seed => 3, activate => false, validation => 'auto',
                      affinity_columns => '{language,topic,difficulty}',
                      path_columns => '{series_id,series_part}') AS hist \gset
CREATE TABLE hq.hr AS
SELECT m.model_id, avg((t.course_id IN (SELECT course_id FROM recs.recommend(t.learner_id, 10, model => m.model_id)))::int) AS hr
  FROM hq.test t, (VALUES (:plain::bigint), (:hist::bigint)) m(model_id)
 GROUP BY 1;
SELECT ok((SELECT (h->>'predecessor_watched')::float8 > 0 AND (h->>'predecessor_missing')::float8 < 0
                  AND (h->'affinity'->>1)::float8 > 0 AND (h->>'cowatch')::float8 > 0
             FROM (SELECT params->'history'->'weights' AS h FROM recs.model WHERE model_id = :hist) s),
          'fitted on platform data: a watched predecessor raises a part, a missing one lowers it, the learner''s topic share and the co-watch sum raise a course');
SELECT is((SELECT count(*) FROM recs._ncf_history_terms(:plain, (SELECT min(learner_id) FROM hq.test), 1)), 0::bigint,
          'a model without history terms has no rows to list');
SELECT is((SELECT count(*) FROM recs._ncf_history_terms(:hist, NULL, 1)), 0::bigint, 'nor a NULL learner');
SELECT ok((SELECT hr FROM hq.hr WHERE model_id = :hist) > (SELECT hr FROM hq.hr WHERE model_id = :plain) + 0.1,
          format('the next watch is in the top 10 far more often with the terms (HR@10 %s against %s)',
                 (SELECT round(hr, 3) FROM hq.hr WHERE model_id = :hist),
                 (SELECT round(hr, 3) FROM hq.hr WHERE model_id = :plain)));

-- ---------------------------------------------------------------- corrupt rows
SAVEPOINT corrupt;
UPDATE recs.ncf_course SET affinity = '{3}' WHERE model_id = :m AND course_id = 2;
UPDATE recs.model SET cache_token = cache_token + 1 WHERE model_id = :m;
SELECT throws_ok(format('SELECT recs.score(%s, 3, 2)', :m), 'XX001', NULL,
                 'an affinity code beyond the column''s values is a corrupt model');
ROLLBACK TO SAVEPOINT corrupt;
UPDATE recs.ncf_course SET predecessor = 99 WHERE model_id = :m AND course_id = 2;
UPDATE recs.model SET cache_token = cache_token + 1 WHERE model_id = :m;
SELECT throws_ok(format('SELECT recs.score(%s, 3, 2)', :m), 'XX001', NULL,
                 'a predecessor that is no course of the model is a corrupt model');
ROLLBACK TO SAVEPOINT corrupt;

-- ---------------------------------------------------------------- errors
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.courses', affinity_columns => '{topic}')$$,
                 '22023', 'affinity_columns and path_columns need validation ''auto''',
                 'the weights need the validation slice');
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', validation => 'auto', path_columns => '{series,part}')$$,
                 '22023', 'affinity_columns and path_columns need a courses relation',
                 'the columns need a courses relation');
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.courses', validation => 'auto', affinity_columns => '{}')$$,
                 '22023', 'affinity_columns must name between 1 and 16 columns', 'an empty list of affinity columns');
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.courses', validation => 'auto', affinity_columns => '{nope}')$$,
                 '42703', NULL, 'an unknown affinity column');
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.courses', validation => 'auto', path_columns => '{series}')$$,
                 '22023', 'path_columns must name two columns, not 1', 'path_columns names a series and an order');
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.courses', validation => 'auto', path_columns => '{series,topic}')$$,
                 '42804', NULL, 'the order column must be a number');
CREATE TABLE hs.arr (course_id bigint, tags text[]);
SELECT throws_ok($$SELECT recs.train_ncf('hs.watches', 'e', courses => 'hs.arr', validation => 'auto', affinity_columns => '{tags}')$$,
                 '42804', 'affinity column "tags" is an array', 'an affinity column holds one value per course');

SELECT * FROM finish();
ROLLBACK;
