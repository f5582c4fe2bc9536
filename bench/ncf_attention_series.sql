-- bench/ncf_attention_series.sql -- the attention encoder against the bag on
-- the generated series data of bench/ncf_series.sql (2,000 learners, 4 of 40
-- series of 6 parts each, staying on a series with probability 0.8), each
-- learner's latest watch held out: HR@1 / HR@10 (= Recall@10, one held-out
-- course) over their unwatched courses, at train_ncf's defaults but 10
-- epochs, for a few learning rates and order decays.  Run in a database
-- with recs (e.g. the bench cluster of ncf_bench.sh, or any scratch one):
--
--   psql -X -q -At -f bench/ncf_series.sql -f bench/ncf_attention_series.sql
--
-- (ncf_series.sql defines pg_temp.series_watches).  Quality figures are
-- deterministic; each training prints its time with \timing.
SET client_min_messages = warning;
CREATE SCHEMA sr;
CREATE TABLE sr.series AS SELECT * FROM pg_temp.series_watches(2000, 40, 6, 4, 0.8, 0.42);
CREATE TABLE sr.test AS SELECT DISTINCT ON (learner_id) * FROM sr.series ORDER BY learner_id, watched_at DESC;
CREATE TABLE sr.train AS SELECT s.* FROM sr.series s
 WHERE NOT EXISTS (SELECT FROM sr.test t WHERE t.learner_id = s.learner_id AND t.course_id = s.course_id);
CREATE TABLE sr.courses AS SELECT DISTINCT course_id FROM sr.series;
CREATE FUNCTION pg_temp.sr_eval(m bigint) RETURNS text LANGUAGE sql AS $$
SELECT round(avg((t.course_id = (SELECT r.course_id FROM recs.recommend(t.learner_id, 1, model => m) r))::int), 4) || ' / ' ||
       round(avg((t.course_id IN (SELECT r.course_id FROM recs.recommend(t.learner_id, 10, model => m) r))::int), 4)
  FROM sr.test t $$;
\timing on
SELECT 'bag lr 0.001', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.001));
SELECT 'bag0.5 lr 0.001', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.001, order_decay => 0.5));
SELECT 'att lr 0.001', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.001, encoder => 'attention'));
SELECT 'att0.5 lr 0.001', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.001, encoder => 'attention', order_decay => 0.5));
SELECT 'bag lr 0.005', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.005));
SELECT 'bag0.5 lr 0.005', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.005, order_decay => 0.5));
SELECT 'att lr 0.005', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.005, encoder => 'attention'));
SELECT 'att0.5 lr 0.005', pg_temp.sr_eval(recs.train_ncf('sr.train', 'x', courses => 'sr.courses', seconds_column => NULL, epochs => 10, seed => 2020, activate => false, learning_rate => 0.005, encoder => 'attention', order_decay => 0.5));
DROP SCHEMA sr CASCADE;
