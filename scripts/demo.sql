-- demo.sql -- the main job on sample data: generate a platform, train the
-- popularity, neural CF and GLMix models on the past, blend them on the
-- following weeks (a click blend, and a ranking blend that re-ranks the
-- neural CF model's best courses and serves), then recommend, explain, find
-- similar courses, evaluate on the last month, and draw the course map.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = notice;
SET recs.memory_limit = '1GB';   -- trainings check their estimate against this budget
CREATE EXTENSION IF NOT EXISTS recs;

\echo
\echo '== 1. sample learning platform (2,000 learners, 300 courses, two years to 2026-01-01)'
SELECT * FROM recs.generate_sample('demo', learners => 2000, courses => 300, seed => 42, replace => true);
-- components learn from everything before November; the blend from November;
-- the evaluation is December
CREATE OR REPLACE VIEW demo.watches_train AS SELECT * FROM demo.watches WHERE watched_at < '2025-11-01';
CREATE OR REPLACE VIEW demo.impressions_train AS SELECT * FROM demo.impressions WHERE shown_at < '2025-11-01';
CREATE OR REPLACE VIEW demo.impressions_blend AS SELECT * FROM demo.impressions WHERE shown_at < '2025-12-01';
CREATE OR REPLACE VIEW demo.watches_blend AS SELECT * FROM demo.watches WHERE watched_at < '2025-12-01';
CREATE OR REPLACE VIEW demo.december AS
  SELECT DISTINCT w.learner_id, w.course_id FROM demo.watches w
   WHERE w.watched_at >= '2025-12-01' AND w.watch_seconds >= 60
     AND NOT EXISTS (SELECT 1 FROM demo.watches t WHERE t.learner_id = w.learner_id
                        AND t.course_id = w.course_id AND t.watched_at < '2025-12-01');

\echo
\echo '== 2. train: popularity by language, two-tower neural CF, GLMix (NOTICEs show progress)'
SELECT recs.train_popularity('demo.watches_train', 'demo.learners', name => 'demo_popularity') AS pop \gset
SELECT recs.train_ncf('demo.watches_train', 'demo_ncf', courses => 'demo.courses', epochs => 12,
                      seed => 7, threads => 2) AS ncf \gset
SELECT recs.train_glmix('demo.impressions_train', 'demo.learners', 'demo.courses',
                        '{language,industry,segment,skills}', '{language,topic,difficulty,skills,duration_minutes}',
                        name => 'demo_glmix', crosses => '{industry:topic,skills:skills,language:language}',
                        weighting => 'watch_time') AS glmix \gset

\echo
\echo '== 3. blend them per learner and per segment on November''s impressions (clicks),'
\echo '==    and re-rank NCF''s 50 best courses per learner with a blend trained on November''s watches'
SELECT recs.train_blend(ARRAY[:ncf, :glmix, :pop], 'demo.impressions_blend', 'demo.learners',
                        name => 'demo_click_blend', random_effects => '{learner_id,segment}',
                        activate => false) AS click_blend \gset
SELECT recs.train_blend(ARRAY[:ncf, :glmix], 'demo.watches_blend', 'demo.learners', name => 'demo_blend',
                        time_column => 'watched_at', negatives => 20, rerank_top => 50,
                        l2 => '{1,1000}') AS blend \gset
SELECT c.entity AS segment, round(c.coefs[2]::numeric, 3) AS ncf_weight,
       round(c.coefs[3]::numeric, 3) AS glmix_weight, round(c.coefs[4]::numeric, 3) AS popularity_weight
  FROM recs.blend_coef c WHERE c.model_id = :click_blend AND (c.entity IS NULL OR c.coordinate = 'segment')
 ORDER BY c.entity NULLS FIRST;
SELECT model_id, name, version, kind, deployed_in FROM recs.models ORDER BY model_id;

\echo
\echo '== 4. top 5 for three learners (the active model: the re-ranking blend)'
SELECT l.learner_id, l.language, l.segment, r.rank, c.title, c.topic, round(r.score::numeric, 3) AS score
  FROM (SELECT * FROM demo.learners WHERE learner_id IN (100001, 100018, 100008)) l,
       recs.recommend(l.learner_id, 5) r
  JOIN demo.courses c USING (course_id)
 ORDER BY l.learner_id, r.rank;

\echo
\echo '== 5. why is the first course recommended to learner 100001? (the blend taken apart)'
SELECT (SELECT title FROM demo.courses WHERE course_id = r.course_id) AS course
  FROM recs.recommend(100001, 1) r;
SELECT part, kind, round(score::numeric, 3) AS score, round(weight::numeric, 3) AS weight,
       round(contribution::numeric, 3) AS contribution, detail
  FROM recs.explain_recommendation(100001, (SELECT course_id FROM recs.recommend(100001, 1)));

\echo
\echo '== 6. courses similar to course 1 (nearest neighbours of the NCF course embeddings)'
SELECT (SELECT title FROM demo.courses WHERE course_id = 1) AS course;
SELECT s.rank, c.title, c.topic, c.language, round(s.similarity::numeric, 3) AS similarity
  FROM recs.similar_courses(1, 5, model => :ncf) s JOIN demo.courses c USING (course_id) ORDER BY s.rank;

\echo
\echo '== 7. December, unseen by every model: Recall@10, NDCG@10, MRR, coverage'
SELECT m.name, m.kind,
       round((e->>'recall')::numeric, 3) AS recall_at_10, round((e->>'ndcg')::numeric, 3) AS ndcg_at_10,
       round((e->>'mrr')::numeric, 3) AS mrr, round((e->>'coverage')::numeric, 3) AS coverage,
       e->'learners' AS learners
  FROM recs.model m, recs.evaluate(m.model_id, 'demo.december', 10) e
 WHERE m.model_id IN (:pop, :ncf, :glmix, :click_blend, :blend) ORDER BY m.model_id;

\echo
\echo '== 8. the course map (PCA of the NCF course embeddings) coloured by topic'
\pset format unaligned
\pset tuples_only on
\o course_map.svg
SELECT recs.course_map_svg(:ncf, 'demo.courses', 'topic');
\o
\pset format aligned
\pset tuples_only off
SELECT count(*) AS courses_on_map FROM recs.course_map(:ncf);
\echo 'course map written to course_map.svg'
