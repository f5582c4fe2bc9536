-- bench/keys_train.sql -- a text-keyed training's cost on one node: 50,000
-- learners, 1,000 courses (500,965 watches) of generate_sample copied into
-- text-keyed tables; train_popularity with every key new (the training adds
-- them to recs.id_key), then again with every key known, three times, each
-- pair in a transaction rolled back; then the same on the bigint tables.
-- The dictionary is truncated before each pair, so the planner sees it as
-- new (a dictionary vacuumed empty but not truncated, reltuples 0, made
-- the second training's plans ruinous; trainings now analyze it after
-- adding many keys: docs/architecture.md, "Stale statistics").
-- Run in a scratch database with recs installed:
--   psql -X -d scratch -f bench/keys_train.sql 2>&1 | grep -E 'Time|ERROR'
SET client_min_messages = warning;
SELECT count(*) FROM recs.generate_sample('kb', 50000, 1000, 7);
CREATE FUNCTION kb.tk(id bigint) RETURNS text LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT 'key-' || lpad(id::text, 12, '0') $$;
CREATE TABLE kb.t_learners AS SELECT kb.tk(learner_id) AS learner_id, language, industry, segment FROM kb.learners;
CREATE TABLE kb.t_watches AS SELECT kb.tk(learner_id) AS learner_id, kb.tk(course_id) AS course_id,
                                    watched_at, watch_seconds FROM kb.watches;
ANALYZE kb.t_learners, kb.t_watches, kb.learners, kb.watches;
\timing on
TRUNCATE recs.id_key;
BEGIN;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_new', activate => false) IS NOT NULL AS new_keys;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_known', activate => false) IS NOT NULL AS known_keys;
ROLLBACK;
TRUNCATE recs.id_key;
BEGIN;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_new', activate => false) IS NOT NULL AS new_keys;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_known', activate => false) IS NOT NULL AS known_keys;
ROLLBACK;
TRUNCATE recs.id_key;
BEGIN;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_new', activate => false) IS NOT NULL AS new_keys;
SELECT recs.train_popularity('kb.t_watches', 'kb.t_learners', name => 'kb_known', activate => false) IS NOT NULL AS known_keys;
ROLLBACK;
BEGIN;
SELECT recs.train_popularity('kb.watches', 'kb.learners', name => 'kb_bigint', activate => false) IS NOT NULL AS bigint_ids;
ROLLBACK;
\timing off
DROP SCHEMA kb CASCADE;
