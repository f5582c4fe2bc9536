-- recent.sql -- watches since training: excluded, and (neural CF) a fresh
-- learner embedding without retraining
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(6);

SELECT count(*) FROM recs.generate_sample('rc', 300, 40, 17);
SELECT recs.train_ncf('rc.watches', 'rc_ncf', courses => 'rc.courses', layers => '{32,16}', dim => 8,
                      epochs => 2, seed => 3) AS m \gset
SELECT course_id AS top FROM recs.recommend(999999, 1, model => :m) \gset

SELECT ok(NOT EXISTS (SELECT 1 FROM recs.recommend(999999, 40, model => :m, recent => ARRAY[:top::bigint])
                       WHERE course_id = :top),
          'a course watched since training is not recommended');
SELECT ok(EXISTS (SELECT 1 FROM recs.recommend(999999, 40, model => :m, recent => ARRAY[:top::bigint],
                                              exclude_watched => false) WHERE course_id = :top),
          'unless watched courses are kept');

-- a new learner with three recent watches: scores are the tower's embedding of
-- those watches times each course embedding
CREATE TEMP TABLE fresh AS
SELECT r.course_id, r.score,
       (SELECT sum(a * b) FROM unnest(recs.embed_learner(:m, '{1,2,3}'), c.embedding) AS t(a, b)) AS expected
  FROM recs.recommend(999999, 40, model => :m, recent => '{1,2,3}') r
  JOIN recs.ncf_course c ON c.model_id = :m AND c.course_id = r.course_id;
SELECT ok((SELECT count(*) FROM fresh) = 37 AND (SELECT max(abs(score - expected)) FROM fresh) < 1e-4,
          'a cold learner with recent watches is embedded from them (no retraining)');
SELECT ok((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(999999, 10, model => :m, recent => '{1,2,3}'))
          IS DISTINCT FROM (SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(999999, 10, model => :m)),
          'recent watches change the ranking');

-- a known learner: the embedding is recomputed from the context of their stored
-- embedding (the window ending at their latest watch) plus the recent watches;
-- this one also watched courses before that window
SELECT n.learner_id AS known, n.context FROM recs.ncf_learner n JOIN recs.model_learner w USING (model_id, learner_id)
 WHERE n.model_id = :m AND cardinality(n.context) < cardinality(w.watched) AND NOT 4 = ANY (w.watched)
 ORDER BY n.learner_id LIMIT 1 \gset
SELECT ok(abs((SELECT score FROM recs.recommend(:known, 1, model => :m, recent => '{4}', exclude_watched => false,
                                               candidates => '{5}'))
              - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:m, :'context'::bigint[] || 4::bigint),
                                              (SELECT embedding FROM recs.ncf_course WHERE model_id = :m AND course_id = 5)) AS t(a, b)))
          < 1e-4, 'a known learner with recent watches: their latest window plus recent');
SELECT recs.train_popularity('rc.watches', name => 'rc_pop') AS p \gset
SELECT ok(NOT EXISTS (SELECT 1 FROM recs.recommend(999999, 40, model => :p, recent => '{1,2}') WHERE course_id IN (1, 2)),
          'other model kinds exclude recent watches too');

SELECT * FROM finish();
ROLLBACK;
