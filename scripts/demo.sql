-- demo.sql -- the main job on sample data: generate, train, recommend.
\set ON_ERROR_STOP on
\pset footer off
CREATE EXTENSION IF NOT EXISTS recs;

\echo
\echo '== 1. sample learning platform (2,000 learners, 300 courses, two years)'
SELECT * FROM recs.generate_sample('demo', learners => 2000, courses => 300, seed => 42, replace => true);

\echo
\echo '== 2. train the popularity-by-language model (last 90 days)'
SELECT recs.train_popularity('demo.watches', 'demo.learners', name => 'demo_popularity') AS model_id;
SELECT model_id, name, version, kind, deployed_in, trained_through,
       metrics->'watches_used' AS watches_used, metrics->'active_learners' AS active_learners
  FROM recs.models;

\echo
\echo '== 3. top 5 for a few learners in different languages'
SELECT l.learner_id, l.language, l.segment, r.rank, r.course_id, c.title,
       round(r.score::numeric, 3) AS score
  FROM (SELECT DISTINCT ON (language) * FROM demo.learners
         WHERE language IN ('en', 'es', 'ja') ORDER BY language, learner_id) l,
       recs.recommend(l.learner_id, 5) r
  JOIN demo.courses c USING (course_id)
 ORDER BY l.language, r.rank;
