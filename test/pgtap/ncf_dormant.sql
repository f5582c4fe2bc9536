-- ncf_dormant.sql -- a learner's NCF embedding comes from the window ending
-- at their own latest watch (issue #12 item 1): a learner whose watches all
-- end long before the end of the data keeps a personal embedding, stored
-- with the context it came from, which recommend's recent argument extends.
BEGIN;
SELECT plan(13);
SET LOCAL client_min_messages = warning;

-- ---------------------------------------------------------------- by hand
-- 30 learners of courses 1..8 and 15 of courses 21..28, all in 2024-2025;
-- learner 999 watched 21 (2021-01-01), 22 (2022-03-01) and 23 (2022-06-01).
-- With the default 365-day window their own window is [2021-06-01,
-- 2022-06-01]: context {22, 23}.  At the end of the data (2026) it is empty.
CREATE SCHEMA dm;
CREATE TABLE dm.watches (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO dm.watches
SELECT i, (i + k) % 8 + 1, '2024-01-01'::timestamptz + ((i * 7 + k * 30) || ' days')::interval, 600
  FROM generate_series(1, 30) i, generate_series(0, 4) k;
INSERT INTO dm.watches
SELECT i, (i + k) % 8 + 21, '2024-01-01'::timestamptz + ((i * 5 + k * 40) || ' days')::interval, 600
  FROM generate_series(101, 115) i, generate_series(0, 4) k;
INSERT INTO dm.watches VALUES (999, 21, '2021-01-01', 600), (999, 22, '2022-03-01', 600),
                              (999, 23, '2022-06-01', 600);
SELECT recs.train_ncf('dm.watches', 'dm', layers => '{16}', dim => 8, epochs => 5, seed => 1) AS m \gset

SELECT is((SELECT context FROM recs.ncf_learner WHERE model_id = :m AND learner_id = 999), '{22,23}'::bigint[],
          'a dormant learner''s context is the window ending at their own latest watch');
SELECT ok((SELECT max(abs(a - b)) FROM unnest((SELECT embedding FROM recs.ncf_learner
                                                WHERE model_id = :m AND learner_id = 999),
                                               recs.embed_learner(:m, '{22,23}')) AS t(a, b)) < 1e-5,
          'their stored embedding is the learner tower applied to that window (embed_learner)');
SELECT ok((SELECT max(abs(a - b)) FROM unnest((SELECT embedding FROM recs.ncf_learner
                                                WHERE model_id = :m AND learner_id = 999),
                                               recs.embed_learner(:m, '{}')) AS t(a, b)) > 1e-3,
          'and not the empty-history embedding');
SELECT isnt((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(999, 8, model => :m, exclude_watched => false)),
            (SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(424242, 8, model => :m)),
            'recommend() for the dormant learner differs from the empty-history list');
SELECT is((SELECT context FROM recs.ncf_learner WHERE model_id = :m AND learner_id = 1), '{2,3,4,5,6}'::bigint[],
          'an active learner''s context is all their recent watches, in time order');

-- recent => extends the stored context, not the whole history
CREATE TEMP TABLE emb AS SELECT course_id, embedding FROM recs.ncf_course WHERE model_id = :m;
SELECT ok(abs((SELECT score FROM recs.recommend(999, 1, model => :m, recent => '{24}', candidates => '{5}'))
              - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:m, '{22,23,24}'),
                                               (SELECT embedding FROM emb WHERE course_id = 5)) AS t(a, b))) < 1e-4,
          'recent watches join the stored context (the window at the learner''s latest watch)');
SELECT ok(abs((SELECT score FROM recs.recommend(999, 1, model => :m, recent => '{24}', candidates => '{5}'))
              - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:m, '{21,22,23,24}'),
                                               (SELECT embedding FROM emb WHERE course_id = 5)) AS t(a, b))) > 1e-5,
          'not the whole history');
-- a corrupt context is a clean error, not a crash
SAVEPOINT corrupt;
UPDATE recs.ncf_learner SET context = '{22,NULL}' WHERE model_id = :m AND learner_id = 999;
SELECT throws_ok(format('SELECT * FROM recs.recommend(999, 3, model => %s, recent => ''{24}'')', :m),
                 'XX001', format('recs model %s is corrupt', :m),
                 'a context with a NULL element is reported as a corrupt model row');
ROLLBACK TO SAVEPOINT corrupt;
-- a model stored before 0.4.0 has no context: recent joins the whole watched list, as then
UPDATE recs.ncf_learner SET context = NULL WHERE model_id = :m AND learner_id = 999;
SELECT ok(abs((SELECT score FROM recs.recommend(999, 1, model => :m, recent => '{24}', candidates => '{5}'))
              - (SELECT sum(a * b) FROM unnest(recs.embed_learner(:m, '{21,22,23,24}'),
                                               (SELECT embedding FROM emb WHERE course_id = 5)) AS t(a, b))) < 1e-4,
          'without a stored context (older models) recent joins the watched list');

-- ---------------------------------------------------------------- training and serving agree
-- On a platform with long breaks: each learner's stored context is the
-- training context of their latest watch (the 365 days before it, by the
-- trainer's own code) followed by that watch.
SELECT count(*) FROM recs.generate_sample('dp', 300, 60, 11, 1460, platform => true);
SELECT recs.train_ncf('dp.watches', 'dp', layers => '{8}', dim => 4, epochs => 1, seed => 2, activate => false) AS p \gset
CREATE TEMP TABLE last_ctx AS
SELECT DISTINCT ON (learner_id) learner_id, label_time, context || course_id AS expected
  FROM recs._ncf_training_contexts('dp.watches') ORDER BY learner_id, label_time DESC, course_id DESC;
CREATE TEMP TABLE ties AS                        -- learners with two kept watches in their last second
SELECT learner_id FROM recs._ncf_training_contexts('dp.watches') c JOIN last_ctx l USING (learner_id)
 WHERE c.label_time = l.label_time GROUP BY learner_id HAVING count(*) > 1;
SELECT is((SELECT count(*) FROM recs.ncf_learner n JOIN last_ctx l USING (learner_id)
            WHERE n.model_id = :p AND n.context IS DISTINCT FROM l.expected
              AND learner_id NOT IN (SELECT learner_id FROM ties)),
          0::bigint, 'every stored context is the training context of the latest watch, plus that watch');
SELECT ok((SELECT count(*) FROM recs.ncf_learner n JOIN recs.model_learner w USING (model_id, learner_id)
            WHERE n.model_id = :p AND cardinality(n.context) < cardinality(w.watched)) > 20,
          'many learners have watches older than their own window');
SELECT is((SELECT count(*) FROM recs.ncf_learner WHERE model_id = :p AND (context IS NULL OR cardinality(context) = 0)),
          0::bigint, 'no learner of a new model has an empty context');
SELECT ok((SELECT count(*) FROM recs.ncf_learner n
            WHERE n.model_id = :p AND NOT EXISTS (
                  SELECT 1 FROM dp.watches w WHERE w.learner_id = n.learner_id AND w.watch_seconds >= 60
                     AND w.watched_at >= '2026-01-01'::timestamptz - interval '365 days')) > 20,
          'the platform sample has learners inactive for longer than the window, and they are embedded');

SELECT * FROM finish();
ROLLBACK;
