-- bench/ncf_dormant.sql -- NCF on a platform with long breaks: Recall@10 on a
-- time split for returning learners, the learner context at the end of the data
-- (recs before 0.4.0) against the window ending at each learner's own latest
-- watch (0.4.0).  Run by bench/ncf_dormant_bench.sh; psql variables:
--   learners, courses, days, seed, test_days, epochs
--
-- Both variants come from one trained model: training is the same code in both
-- versions (the context of a positive at t was always [t - window, t)); only
-- the stored learner embeddings differ.  The data-end embedding of a learner is
-- the learner tower applied to their watches in [cut - window, cut]
-- (embed_learner: exactly what 0.3.0's train_ncf stored, the empty history
-- when there are none), the learner-relative one is the stored embedding.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\timing off
DROP SCHEMA IF EXISTS bd CASCADE;
SELECT sum(row_count) AS rows FROM recs.generate_sample('bd', :learners, :courses, :seed, :days,
                                                    platform => true);
SELECT '2026-01-01'::timestamptz - make_interval(days => :test_days) AS cut \gset

CREATE TABLE bd.train AS SELECT * FROM bd.watches WHERE watched_at < :'cut';
-- the test: kept watches after the cut of learners with a kept training watch,
-- pairs not already watched before it
CREATE TABLE bd.kept AS
SELECT DISTINCT ON (learner_id, course_id) learner_id, course_id, watched_at
  FROM bd.watches WHERE watch_seconds >= 60 ORDER BY learner_id, course_id, watched_at;
CREATE TABLE bd.test AS
SELECT k.learner_id, k.course_id FROM bd.kept k
 WHERE k.watched_at >= :'cut'
   AND EXISTS (SELECT 1 FROM bd.kept t WHERE t.learner_id = k.learner_id AND t.watched_at < :'cut');
-- returning learners: the last training watch more than 365 days before the cut
CREATE TABLE bd.last AS SELECT learner_id, max(watched_at) AS last FROM bd.kept
 WHERE watched_at < :'cut' GROUP BY learner_id;
CREATE TABLE bd.groups AS
SELECT DISTINCT t.learner_id,
       CASE WHEN l.last < :'cut'::timestamptz - interval '365 days' THEN 'returning' ELSE 'active' END AS grp
  FROM bd.test t JOIN bd.last l USING (learner_id);

\echo == training
SELECT recs.train_ncf('bd.train', 'bd_ncf', courses => 'bd.courses', epochs => :epochs, seed => 42,
                      threads => 2, activate => false) AS m \gset
SELECT recs.train_ncf('bd.train', 'bd_ncf_wide', courses => 'bd.courses', epochs => :epochs, seed => 42,
                      threads => 2, window_days => 100000, activate => false) AS mw \gset
SELECT recs.train_popularity('bd.train', 'bd.learners', name => 'bd_pop', activate => false) AS p \gset

-- top 10 per learner and variant, excluding the training courses
CREATE TEMP TABLE top (variant text, learner_id bigint, course_id bigint);
INSERT INTO top SELECT 'learner-relative window (0.4.0)', g.learner_id, r.course_id
  FROM bd.groups g, recs.recommend(g.learner_id, 10, model => :m) r;
INSERT INTO top SELECT 'window_days => 100000', g.learner_id, r.course_id
  FROM bd.groups g, recs.recommend(g.learner_id, 10, model => :mw) r;
INSERT INTO top SELECT 'popularity (90 days)', g.learner_id, r.course_id
  FROM bd.groups g, recs.recommend(g.learner_id, 10, model => :p) r;
-- the data-end context, as 0.3.0 stored it
INSERT INTO top
SELECT 'data-end window (0.3.0)', e.learner_id, s.course_id
  FROM (SELECT g.learner_id,
               recs.embed_learner(:m, ARRAY(SELECT k.course_id FROM bd.kept k WHERE k.learner_id = g.learner_id
                                              AND k.watched_at < :'cut'
                                              AND k.watched_at >= (SELECT max(watched_at) FROM bd.kept WHERE watched_at < :'cut')
                                                                  - interval '365 days')) AS u
          FROM bd.groups g) e
  CROSS JOIN LATERAL (
        SELECT c.course_id FROM recs.ncf_course c
         WHERE c.model_id = :m
           AND NOT c.course_id = ANY ((SELECT watched FROM recs.model_learner ml
                                        WHERE ml.model_id = :m AND ml.learner_id = e.learner_id)::bigint[])
         ORDER BY (SELECT sum(a * b) FROM unnest(e.u, c.embedding) AS t(a, b)) DESC, c.course_id
         LIMIT 10) s;

\echo == Recall@10 on the last :test_days days (mean over learners of hits / test courses)
CREATE TEMP TABLE n_test AS SELECT learner_id, count(*) AS n FROM bd.test GROUP BY learner_id;
CREATE TEMP TABLE hits AS
SELECT x.variant, x.learner_id, count(y.course_id) AS hits
  FROM top x LEFT JOIN bd.test y USING (learner_id, course_id) GROUP BY 1, 2;
SELECT h.variant,
       round((avg(h.hits::float8 / n.n) FILTER (WHERE g.grp = 'returning'))::numeric, 4) AS returning,
       count(*) FILTER (WHERE g.grp = 'returning') AS n_returning,
       round((avg(h.hits::float8 / n.n) FILTER (WHERE g.grp = 'active'))::numeric, 4) AS active,
       count(*) FILTER (WHERE g.grp = 'active') AS n_active,
       round(avg(h.hits::float8 / n.n)::numeric, 4) AS all_learners
  FROM hits h JOIN n_test n USING (learner_id) JOIN bd.groups g USING (learner_id)
 GROUP BY h.variant ORDER BY h.variant;
