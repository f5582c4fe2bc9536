-- pipeline_bench.sql -- train_all on the sample platform (2,000 learners, 300
-- courses): the candidates' validation figures, the cost of each stage, and
-- the served model on a held-out December.  psql -f bench/pipeline_bench.sql
\set ON_ERROR_STOP on
SET client_min_messages = notice;
SET TimeZone = 'UTC';
DROP SCHEMA IF EXISTS bench_pl CASCADE;
SELECT count(*) FROM recs.generate_sample('bench_pl');
CREATE VIEW bench_pl.december AS
SELECT DISTINCT w.learner_id, w.course_id FROM bench_pl.watches w
 WHERE w.watched_at > '2025-12-01' AND w.watch_seconds >= 60
   AND NOT EXISTS (SELECT 1 FROM bench_pl.watches e WHERE e.learner_id = w.learner_id AND e.course_id = w.course_id
                     AND e.watched_at <= '2025-12-01');
\timing on
SELECT recs.train_all('bench_pl.watches', 'bench_pl.impressions', 'bench_pl.learners', 'bench_pl.courses',
                      name => 'bench', through => '2025-12-01', activate => false) AS served \gset
\timing off
SELECT kind, metrics->'pipeline'->>'winner' AS winner, metrics->'pipeline'->'seconds' AS seconds,
       metrics->'pipeline'->'estimate' AS estimate,
       (SELECT jsonb_object_agg(k, round((metrics->'pipeline'->'validation'->k->>'recall')::numeric, 3))
          FROM jsonb_object_keys(metrics->'pipeline'->'validation') k) AS validation_recall
  FROM recs.model WHERE model_id = :served;
SELECT jsonb_build_object('recall', round((e->>'recall')::numeric, 3), 'ndcg', round((e->>'ndcg')::numeric, 3),
                          'learners', e->'learners') AS december
  FROM recs.evaluate(:served, 'bench_pl.december', 10) e;
SELECT count(DISTINCT r.learner_id) AS learners_given_a_watched_course, count(*) AS rows
  FROM recs.recommend_all(10, model => :served) r
  JOIN bench_pl.watches w ON w.learner_id = r.learner_id AND w.course_id = r.course_id
 WHERE w.watched_at <= '2025-12-01' AND w.watch_seconds >= 60;
