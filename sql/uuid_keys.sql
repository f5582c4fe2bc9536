-- uuid and text ids: the same platform keyed by uuid gets, mapped, what the
-- bigint-keyed one gets; keys in, keys out.
CREATE FUNCTION demo.uid(id bigint) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (lpad(to_hex(id), 12, '0') || substr(md5(id::text), 1, 20))::uuid $$;
CREATE VIEW demo.u_watches AS
SELECT demo.uid(learner_id) AS learner_id, demo.uid(course_id) AS course_id, watched_at, watch_seconds
  FROM demo.watches;
CREATE VIEW demo.u_learners AS SELECT demo.uid(learner_id) AS learner_id, language FROM demo.learners;

SELECT recs.train_popularity('demo.watches', 'demo.learners', name => 'b_popularity',
                             window_days => 180, activate => false) AS b_pop \gset
SELECT recs.train_popularity('demo.u_watches', 'demo.u_learners', name => 'u_popularity',
                             window_days => 180, activate => false) AS u_pop \gset
-- each model records how its relations keyed learners and courses
SELECT name, learner_key, course_key FROM recs.model WHERE name IN ('b_popularity', 'u_popularity') ORDER BY name;
-- the uuids' ids are in recs.id_key, one per learner and per course seen
SELECT side, count(*) FROM recs.id_key GROUP BY side ORDER BY side;

-- recommend() takes the learner's uuid and returns course uuids ...
SELECT rank, course_id, round(score::numeric, 4) AS score
  FROM recs.recommend(demo.uid(100001), 3, model => :u_pop);
-- ... the bigint model's answer, mapped
SELECT rank, demo.uid(course_id) AS course_id, round(score::numeric, 4) AS score
  FROM recs.recommend(100001, 3, model => :b_pop);
-- the text functions serve every model: a uuid's text, or an integer's digits
SELECT rank, course_id FROM recs.recommend(demo.uid(100001)::text, 2, model => :u_pop);
SELECT rank, course_id FROM recs.recommend('100001', 2, model => :b_pop);
-- an unknown key is served as an unknown learner: the global popularity
SELECT (SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(gen_random_uuid(), 5, model => :u_pop))
     = (SELECT array_agg(demo.uid(course_id) ORDER BY rank) FROM recs.recommend(-1, 5, model => :b_pop)) AS same;

\set VERBOSITY sqlstate
-- a bigint id on a uuid-keyed model would be someone's dictionary id: an error
SELECT * FROM recs.recommend(1, 3, model => :u_pop);
-- and so is a uuid on a bigint-keyed model
SELECT * FROM recs.recommend(demo.uid(100001), 3, model => :b_pop);
\set VERBOSITY default

-- forgetting a learner by key removes their rows and their dictionary row
SELECT * FROM recs.forget_learner(demo.uid(100001)) WHERE rows_removed > 0;
SELECT count(*) AS still_known FROM recs.id_key WHERE side = 'learner' AND key = demo.uid(100001)::text;
