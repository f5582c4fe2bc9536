-- bench/ncf_new_courses.sql -- the new-course experiment (issue #12): recs
-- ranks courses it never saw watched, from their content features, against
-- popularity-by-topic baselines.  Run by bench/ncf_new_courses.sh, which sets
-- :learners, :courses, :days, :epochs, :threads and :dropouts.
--
-- Protocol.  generate_sample's data (it publishes courses until 30 days
-- before its last day); cut = the last publication - 30 days.  The held-out
-- courses are those published at or after cut: the last month's new
-- courses, first watched after cut.  NCF trains on the watches before cut
-- (qualifying: >= 60 s), its catalogue the
-- courses relation without the held-out courses; add_courses then embeds the
-- held-out courses from their features (topic, language, difficulty,
-- skills).  Test learners: those who watched a held-out course after cut and
-- have training watches.  Each ranks the held-out courses only; Recall@10 =
-- held-out courses they watched after cut among their top 10, divided by
-- min(10, how many they watched), averaged over the learners (the test
-- period is the 60 days from cut to the end of the data).
--   topic baseline: held-out courses by the learner's training watches of
--     their topic, then of their language, then course id (no leakage);
--   topic + popularity: the same, ties by the course's watchers after cut
--     (an oracle popularity: it reads the test month);
--   random: the expected Recall@10 of a random order.
-- The known-course Recall@10 (recommend() over the trained catalogue, the
-- learners' watches after cut of courses that are not held out) shows what
-- content dropout costs the courses with watches.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS nb CASCADE;
SELECT count(*) FROM recs.generate_sample('nb', :learners, :courses, 42, :days);

CREATE TEMP TABLE q AS
SELECT DISTINCT ON (learner_id, course_id) learner_id, course_id, watched_at
  FROM nb.watches WHERE watch_seconds >= 60 ORDER BY learner_id, course_id, watched_at;
SELECT max(published_at) - interval '30 days' AS cut FROM nb.courses \gset
CREATE TABLE nb.held AS SELECT course_id FROM nb.courses WHERE published_at >= :'cut';
CREATE VIEW nb.train_watches AS SELECT * FROM nb.watches WHERE watched_at < :'cut';
CREATE VIEW nb.train_courses AS SELECT * FROM nb.courses WHERE course_id NOT IN (SELECT course_id FROM nb.held);
CREATE TEMP TABLE test AS                       -- (learner, held-out course) watched after cut
SELECT q.learner_id, q.course_id FROM q JOIN nb.held USING (course_id)
 WHERE q.learner_id IN (SELECT learner_id FROM q WHERE watched_at < :'cut');
CREATE TEMP TABLE test_known AS
SELECT q.learner_id, q.course_id FROM q
 WHERE q.watched_at >= :'cut' AND q.course_id NOT IN (SELECT course_id FROM nb.held)
   AND q.learner_id IN (SELECT learner_id FROM q WHERE watched_at < :'cut');
SELECT (SELECT count(*) FROM nb.held) AS held_out_courses, (SELECT count(*) FROM nb.courses) AS courses,
       (SELECT count(DISTINCT learner_id) FROM test) AS test_learners, (SELECT count(*) FROM test) AS test_pairs;

-- the learner's training profile: watches per topic and per language
CREATE TEMP TABLE profile AS
SELECT q.learner_id, c.topic, c.language, count(*) AS n
  FROM q JOIN nb.courses c USING (course_id) WHERE q.watched_at < :'cut' GROUP BY 1, 2, 3;
CREATE TEMP TABLE results (method text, content_dropout float8, new_recall10 float8, known_recall10 float8, train_seconds float8);

CREATE FUNCTION pg_temp.recall(ranked regclass) RETURNS float8 LANGUAGE plpgsql AS $f$
DECLARE r float8;
BEGIN
    EXECUTE format($q$
        SELECT avg(hits::float8 / least(10, rel))
          FROM (SELECT t.learner_id, count(*) AS rel,
                       count(*) FILTER (WHERE x.rk <= 10) AS hits
                  FROM test t LEFT JOIN %s x USING (learner_id, course_id)
                 GROUP BY t.learner_id) s $q$, ranked) INTO r;
    RETURN r;
END $f$;

-- baselines
CREATE TEMP TABLE pop_after AS SELECT course_id, count(*) AS watchers FROM test GROUP BY 1;
CREATE TEMP TABLE rank_topic AS
SELECT l.learner_id, h.course_id,
       row_number() OVER (PARTITION BY l.learner_id
                          ORDER BY coalesce(tp.n, 0) DESC, coalesce(lg.n, 0) DESC, h.course_id) AS rk,
       row_number() OVER (PARTITION BY l.learner_id
                          ORDER BY coalesce(tp.n, 0) DESC, coalesce(pa.watchers, 0) DESC, coalesce(lg.n, 0) DESC, h.course_id) AS rk_pop
  FROM (SELECT DISTINCT learner_id FROM test) l CROSS JOIN nb.held h JOIN nb.courses c USING (course_id)
  LEFT JOIN (SELECT learner_id, topic, sum(n) AS n FROM profile GROUP BY 1, 2) tp ON tp.learner_id = l.learner_id AND tp.topic = c.topic
  LEFT JOIN (SELECT learner_id, language, sum(n) AS n FROM profile GROUP BY 1, 2) lg ON lg.learner_id = l.learner_id AND lg.language = c.language
  LEFT JOIN pop_after pa ON pa.course_id = h.course_id;
CREATE TEMP VIEW rank_topic_pop AS SELECT learner_id, course_id, rk_pop AS rk FROM rank_topic;
INSERT INTO results SELECT 'topic baseline', NULL, pg_temp.recall('rank_topic'), NULL, NULL;
INSERT INTO results SELECT 'topic + popularity (oracle)', NULL, pg_temp.recall('rank_topic_pop'), NULL, NULL;
INSERT INTO results
SELECT 'random', NULL, avg(least(10, h.n)::float8 / h.n * 1.0), NULL, NULL   -- E[hits]/rel = 10/n for rel <= 10 when n >= 10
  FROM (SELECT DISTINCT learner_id FROM test) l, (SELECT count(*) AS n FROM nb.held) h;

-- recs: one model per content dropout (and one without course features)
CREATE FUNCTION pg_temp.run(d float8) RETURNS void LANGUAGE plpgsql AS $f$
DECLARE m bigint; t0 timestamptz := clock_timestamp(); secs float8; known float8; newr float8;
BEGIN
    m := recs.train_ncf('nb.train_watches', 'nb_new', courses => 'nb.train_courses',
                        epochs => current_setting('bench.epochs')::int, threads => current_setting('bench.threads')::int,
                        course_features => CASE WHEN d IS NULL THEN NULL ELSE '{topic,language,difficulty,skills}'::text[] END,
                        content_dropout => coalesce(d, 0), activate => false);
    secs := extract(epoch FROM clock_timestamp() - t0);
    SELECT avg(hits::float8 / least(10, rel)) INTO known
      FROM (SELECT t.learner_id, count(*) AS rel,
                   count(*) FILTER (WHERE t.course_id IN (SELECT r.course_id FROM recs.recommend(t.learner_id, 10, model => m) r)) AS hits
              FROM test_known t GROUP BY t.learner_id) s;
    IF d IS NOT NULL THEN
        PERFORM recs.add_courses(m, 'nb.courses');
        DROP TABLE IF EXISTS rank_recs;
        CREATE TEMP TABLE rank_recs AS
        SELECT learner_id, course_id, row_number() OVER (PARTITION BY learner_id ORDER BY s DESC, course_id) AS rk
          FROM (SELECT l.learner_id, h.course_id, recs.score(m, l.learner_id, h.course_id) AS s
                  FROM (SELECT DISTINCT learner_id FROM test) l CROSS JOIN nb.held h) x;
        newr := pg_temp.recall('rank_recs');
    END IF;
    INSERT INTO results VALUES (CASE WHEN d IS NULL THEN 'recs, no course features' ELSE 'recs, course features' END,
                                d, newr, known, round(secs::numeric, 1));
    PERFORM recs.drop_model(m);
END $f$;
SELECT set_config('bench.epochs', :'epochs', false), set_config('bench.threads', :'threads', false);
SELECT pg_temp.run(NULL);
SELECT pg_temp.run(d::float8) FROM unnest(string_to_array(:'dropouts', ',')) d;

SELECT method, content_dropout, round(new_recall10::numeric, 4) AS "new-course Recall@10",
       round(known_recall10::numeric, 4) AS "known-course Recall@10", train_seconds
  FROM results ORDER BY method <> 'random', method LIKE 'recs%', content_dropout NULLS FIRST;
DROP SCHEMA nb CASCADE;
