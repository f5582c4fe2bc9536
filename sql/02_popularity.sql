-- The first recommender: popularity within the learner's language.
\set VERBOSITY terse
-- no model yet
SELECT * FROM recs.recommend(100001);
\set VERBOSITY default

SELECT recs.train_popularity('demo.watches', 'demo.learners', window_days => 180) AS model_id \gset
SELECT name, version, kind, deployed_in,
       metrics->'watches_read' AS read, metrics->'skipped' AS skipped
  FROM recs.models;

-- recommendations for a Spanish-speaking learner: ranked, k rows, no course watched before
SELECT learner_id, language FROM demo.learners WHERE language = 'es' ORDER BY learner_id LIMIT 1 \gset es_
SELECT r.rank, r.course_id, round(r.score::numeric, 4) AS score, c.language
  FROM recs.recommend(:es_learner_id, 5) r JOIN demo.courses c USING (course_id) ORDER BY r.rank;
-- (a watch under min_watch_seconds, 60 s by default, does not count as watched)
SELECT count(*) AS already_watched
  FROM recs.recommend(:es_learner_id, 50) r
  JOIN demo.watches w ON w.course_id = r.course_id AND w.learner_id = :es_learner_id
 WHERE w.watch_seconds >= 60;

-- scores never increase with rank, for every learner
SELECT bool_and(ok) AS monotone FROM (
  SELECT r.score <= lag(r.score) OVER (PARTITION BY l.learner_id ORDER BY r.rank)
         OR r.rank = 1 AS ok
    FROM demo.learners l, recs.recommend(l.learner_id, 20) r) s;

-- the score is the smoothed share of the language group who newly watched the
-- course in the window (first watch of at least 60 s), recomputed here in SQL
WITH first_watch AS (
    SELECT learner_id, course_id, min(watched_at) AS t
      FROM demo.watches WHERE watch_seconds >= 60 GROUP BY 1, 2),
in_window AS (
    SELECT f.*, l.language FROM first_watch f JOIN demo.learners l USING (learner_id)
     WHERE f.t > (SELECT trained_through FROM recs.model WHERE model_id = :model_id) - interval '180 days'),
expected AS (
    SELECT c.course_id,
           (count(*) FILTER (WHERE w.language = 'es')
             + 20 * count(*)::float8 / (SELECT count(DISTINCT learner_id) FROM in_window))
           / ((SELECT count(DISTINCT learner_id) FROM in_window WHERE language = 'es') + 20) AS score
      FROM in_window w JOIN demo.courses c USING (course_id) GROUP BY c.course_id)
SELECT count(*) AS courses,
       max(abs(p.score - e.score)) < 1e-12 AS formula_holds
  FROM recs.course_popularity p JOIN expected e USING (course_id)
 WHERE p.model_id = :model_id AND p.language = 'es';

-- an unknown learner gets the everyone list; so does a learner without language
SELECT array_agg(course_id ORDER BY rank) = (SELECT array_agg(course_id ORDER BY score DESC, course_id)
         FROM (SELECT course_id, score FROM recs.course_popularity WHERE language IS NULL
               ORDER BY score DESC, course_id LIMIT 5) t) AS unknown_gets_global
  FROM recs.recommend(-1, 5);

-- k larger than the catalogue returns every course the learner has not watched
SELECT count(*) = (SELECT count(*) FROM recs.course_popularity WHERE language IS NULL) AS whole_catalogue
  FROM recs.recommend(-1, 1000000000);

-- retraining makes version 2 and activates it; version 1 stays for rollback
SELECT recs.train_popularity('demo.watches', 'demo.learners', window_days => 30) AS model2 \gset
SELECT name, version, deployed_in FROM recs.models ORDER BY version;
SELECT recs.activate(:model_id) = :model_id AS reactivated;
SELECT version FROM recs.models WHERE deployed_in @> '{default}';

\set VERBOSITY terse
-- bad input
SELECT * FROM recs.recommend(NULL);
SELECT * FROM recs.recommend(100001, NULL);
SELECT * FROM recs.recommend(100001, 0);
SELECT * FROM recs.recommend(100001, -3);
SELECT recs.train_popularity('demo.watches', learner_column => 'nope');
SELECT recs.train_popularity('demo.courses');
SELECT recs.train_popularity('demo.watches', course_column => 'watched_at');
SELECT recs.train_popularity('demo.watches', min_watch_seconds => 1e9);
SELECT recs.train_popularity('demo.watches', window_days => 0);
SELECT recs.train_popularity('demo.watches', name => '');
SELECT recs.train_popularity('no_such_table');
SELECT recs.activate(999999);
SELECT recs.drop_model(:model_id);
\set VERBOSITY default

-- a failed training leaves the active model untouched
SELECT version FROM recs.models WHERE deployed_in @> '{default}';
SELECT recs.drop_model(:model2);
SELECT count(*) AS models_left FROM recs.model;
