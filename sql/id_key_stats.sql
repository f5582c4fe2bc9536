-- id_key_stats.sql -- the planner's view of recs.id_key after a training
-- adds keys (src/ingest/keys_stats.c).  A dictionary vacuumed empty but not
-- truncated has reltuples 0 and pages left: the planner then takes it for
-- one row however many keys a training adds in its transaction, and a
-- second training in that transaction plans its joins to the dictionary on
-- that.  A training that adds many keys analyzes it: the estimates (EXPLAIN)
-- of the dictionary are its real size, in the transaction, also when the
-- training runs as a role that does not own the dictionary.
SET client_min_messages = warning;
SELECT count(*) > 0 AS generated FROM recs.generate_sample('ks', 3000, 80, 11);
CREATE TABLE ks.t_watches AS
SELECT 'ks-l-' || learner_id AS learner_id, 'ks-c-' || course_id AS course_id, watched_at, watch_seconds
  FROM ks.watches;
CREATE TABLE ks.t_learners AS SELECT 'ks-l-' || learner_id AS learner_id, language FROM ks.learners;
-- the same keyed otherwise, for the training role below
CREATE TABLE ks.r_watches AS
SELECT 'ks-r-' || learner_id AS learner_id, 'ks-q-' || course_id AS course_id, watched_at, watch_seconds
  FROM ks.watches;
ANALYZE ks.t_watches, ks.t_learners, ks.r_watches;
-- EXPLAIN's row estimate for a query
CREATE FUNCTION ks.plan_rows(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
    p json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO p;
    RETURN (p -> 0 -> 'Plan' ->> 'Plan Rows')::float8;
END $$;

-- the dictionary vacuumed empty but not truncated
INSERT INTO recs.id_key (side, key) SELECT 'learner', 'ks-gone-' || g FROM generate_series(1, 20000) g;
DELETE FROM recs.id_key WHERE key LIKE 'ks-gone-%';
VACUUM (TRUNCATE false) recs.id_key;
SELECT relpages > 0 AS pages_left, reltuples < 100 AS believed_empty
  FROM pg_class WHERE oid = 'recs.id_key'::regclass;

-- two trainings in one transaction: the first adds 3,000 learner keys
BEGIN;
SELECT recs.train_popularity('ks.t_watches', 'ks.t_learners', name => 'ks_first', activate => false) > 0 AS first;
SELECT count(*) AS learner_keys FROM recs.id_key WHERE key LIKE 'ks-l-%';
-- the planner sees them (it saw one row before keys_stats.c)
SELECT ks.plan_rows($$SELECT * FROM recs.id_key WHERE side = 'learner' AND key LIKE 'ks-l-%'$$)
       BETWEEN 1500 AND 6000 AS learners_estimated,
       ks.plan_rows($$SELECT * FROM recs.id_key WHERE side = 'course'$$) BETWEEN 40 AND 160 AS courses_estimated;
-- the second training's reader: watches joined to the learner side, planned
-- with the dictionary's size (a hash join over both, the dictionary not
-- taken for a one-row inner side)
SELECT ks.plan_rows($$SELECT k.id FROM recs.id_key k WHERE k.side = 'learner'$$) >= 1500 AS reader_inner_estimated;
SELECT recs.train_popularity('ks.t_watches', 'ks.t_learners', name => 'ks_second', activate => false) > 0 AS second;
SELECT (metrics ->> 'learners')::int AS learners FROM recs.model WHERE name = 'ks_second';
ROLLBACK;

-- as a training role, which may add keys but does not own the dictionary:
-- no warning, and the keys it adds are estimated as they are (the ANALYZE
-- of the rolled-back transaction above stays in pg_class -- its counts are
-- written in place -- until the next VACUUM or ANALYZE: an overestimate)
CREATE ROLE ks_trainer;
SELECT recs.grant_access('ks_trainer', training => true);
GRANT USAGE ON SCHEMA ks TO ks_trainer;
GRANT SELECT ON ALL TABLES IN SCHEMA ks TO ks_trainer;
GRANT EXECUTE ON FUNCTION ks.plan_rows(text) TO ks_trainer;
BEGIN;
SET LOCAL ROLE ks_trainer;
SELECT recs.train_popularity('ks.r_watches', name => 'ks_role', activate => false) > 0 AS trained;
SELECT ks.plan_rows($$SELECT * FROM recs.id_key WHERE key LIKE 'ks-r-%'$$)
       BETWEEN 1500 AND 6000 AS learners_estimated,
       ks.plan_rows($$SELECT * FROM recs.id_key WHERE key LIKE 'ks-q-%'$$)
       BETWEEN 40 AND 160 AS courses_estimated;
SELECT current_user;
ROLLBACK;

DROP OWNED BY ks_trainer;
DROP ROLE ks_trainer;
DROP SCHEMA ks CASCADE;
