-- popularity.sql -- known answers for the popularity model and recommend()
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(26);

CREATE TEMP TABLE w (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO w VALUES
  (1, 10, '2025-06-01', 120), (1, 20, '2025-06-02', 120),
  (2, 10, '2025-06-03', 120),
  (3, 30, '2025-06-04', 120),
  (4, 20, '2025-06-05', 120);
CREATE TEMP TABLE l (learner_id bigint, language text);
INSERT INTO l VALUES (1, 'en'), (2, 'en'), (3, 'fr'), (5, 'fr');

-- smoothing 2: score = (watchers_g + 2 * watchers / 4) / (active_g + 2)
SELECT lives_ok($$SELECT recs.train_popularity('w', 'l', smoothing => 2, name => 'tiny')$$, 'trains');

SELECT results_eq(
  $$SELECT language, course_id, watchers, score FROM recs.course_popularity
     ORDER BY language NULLS FIRST, course_id$$,
  $$VALUES (NULL, 10::bigint, 2, 0.5::float8), (NULL, 20, 2, 0.5), (NULL, 30, 1, 0.25),
           ('en', 10, 2, 0.75), ('en', 20, 1, 0.5), ('en', 30, 0, 0.125),
           ('fr', 10, 0, 1/3.0), ('fr', 20, 0, 1/3.0), ('fr', 30, 1, 0.5)$$,
  'hand-computed smoothed shares per language group');

SELECT results_eq($$SELECT rank, course_id, score FROM recs.recommend(2)$$,
  $$VALUES (1, 20::bigint, 0.5::float8), (2, 30, 0.125)$$,
  'an English learner: English shares, watched course 10 excluded');
SELECT results_eq($$SELECT rank, course_id, score FROM recs.recommend(3)$$,
  $$VALUES (1, 10::bigint, 1/3.0::float8), (2, 20, 1/3.0)$$,
  'a French learner: ties broken by ascending course id');
SELECT results_eq($$SELECT course_id FROM recs.recommend(4)$$,
  $$VALUES (10::bigint), (30)$$,
  'a learner with watches but no language: everyone''s shares');
SELECT results_eq($$SELECT course_id FROM recs.recommend(5)$$,
  $$VALUES (30::bigint), (10), (20)$$,
  'a French learner with no watches: French shares, nothing excluded');
SELECT results_eq($$SELECT course_id, score FROM recs.recommend(99)$$,
  $$VALUES (10::bigint, 0.5::float8), (20, 0.5), (30, 0.25)$$,
  'an unknown learner: everyone''s shares');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, 1)$$, $$VALUES (10::bigint)$$, 'k limits the rows');
SELECT is((SELECT watched FROM recs.model_learner WHERE learner_id = 1), '{10,20}'::bigint[],
          'learner state keeps the watched courses, sorted');
SELECT is((SELECT count(*)::int FROM recs.model_learner), 5, 'learners from watches and from the learners table');

-- options: keep watched courses, exclude some, restrict to candidates
SELECT results_eq($$SELECT course_id FROM recs.recommend(2, exclude_watched => false)$$,
  $$VALUES (10::bigint), (20), (30)$$, 'exclude_watched => false keeps watched courses');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, exclude => '{10, 777, NULL}')$$,
  $$VALUES (20::bigint), (30)$$, 'an exclude list (unknown ids and NULLs are ignored)');
SELECT results_eq($$SELECT rank, course_id FROM recs.recommend(99, candidates => '{30, 20, 777}')$$,
  $$VALUES (1, 20::bigint), (2, 30)$$, 'candidates restrict the ranking, ranks stay 1..n');
SELECT results_eq($$SELECT course_id FROM recs.recommend(1, candidates => '{10, 20}')$$,
  $$SELECT NULL::bigint WHERE false$$, 'candidates the learner all watched leave nothing');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, 1, candidates => '{30, 20}', exclude => '{20}')$$,
  $$VALUES (30::bigint)$$, 'exclusions apply within the candidates, and k still limits');
SELECT throws_ok($$SELECT * FROM recs.recommend(1, model => -5)$$, '42704', NULL, 'an unknown model');
SELECT throws_ok($$SELECT * FROM recs.recommend(1, k => 0)$$, '22023', 'k must be at least 1, not 0', 'k = 0');
SELECT throws_ok($$SELECT * FROM recs.recommend(1, k => NULL)$$, '22004', NULL, 'k NULL');

-- the window: only watches in the last window_days before through count
SELECT lives_ok($$SELECT recs.train_popularity('w', 'l', smoothing => 0, window_days => 2.5, name => 'tiny')$$,
                'retrains with a narrow window');
SELECT results_eq(
  $$SELECT course_id, watchers FROM recs.course_popularity p JOIN recs.model m USING (model_id)
     WHERE m.version = 2 AND language IS NULL ORDER BY course_id$$,
  $$VALUES (10::bigint, 1), (20, 1), (30, 1)$$,
  'watches older than the window do not count (10 by learner 1 on June 1 drops out)');
SELECT is((SELECT version FROM recs.models WHERE deployed_in @> '{default}'), 2, 'the new version serves');

-- through moves the end of the data: later watches are ignored, also as history
SELECT lives_ok($$SELECT recs.train_popularity('w', 'l', through => '2025-06-02 12:00', name => 'tiny')$$,
                'trains through a past date');
SELECT is((SELECT watched FROM recs.model_learner ml JOIN recs.model m USING (model_id)
            WHERE m.version = 3 AND learner_id = 1), '{10,20}'::bigint[], 'history up to through');
SELECT is((SELECT count(*)::int FROM recs.course_popularity p JOIN recs.model m USING (model_id)
            WHERE m.version = 3 AND language IS NULL), 2, 'courses first watched after through are not ranked');

-- activation: an older version can serve again
SELECT results_eq($$SELECT recs.activate(recs.model_id('tiny')) = recs.model_id('tiny')$$, $$VALUES (true)$$,
                  'recs.model_id finds the latest version');
SELECT results_eq($$SELECT course_id FROM recs.recommend(99, model => (SELECT min(model_id) FROM recs.model))$$,
  $$VALUES (10::bigint), (20), (30)$$, 'a specific model serves without activation');

SELECT * FROM finish();
ROLLBACK;
