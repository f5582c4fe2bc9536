-- stale_stats.sql -- plans on recs' tables filled in the same transaction,
-- whose statistics say empty.  A table vacuumed empty but not truncated has
-- reltuples 0 and pages left: the planner then takes it for one row however
-- many rows a training adds in its transaction (autovacuum sees none of them
-- before the commit), and a second training in that transaction plans on
-- that.
-- 1. recs.id_key (src/ingest/keys_stats.c): a training that adds many keys
--    analyzes it, so EXPLAIN's estimates of the dictionary are its real size
--    in the transaction, also when the training runs as a role that does not
--    own it.
-- 2. recs.model_learner (train_all's recs._blend_rebase): the rebased blend's
--    learners in one grouped pass, with the hand-checked rows, and no
--    nested loop that a one-row estimate would make learners x learners.
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
-- the nested loops of a query's plan that test each pair by a join filter
-- (the outer rows times the inner rows)
CREATE FUNCTION ks.filtered_loops(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    p jsonb;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO p;
    RETURN (SELECT count(*) FROM jsonb_path_query(p, 'strict $.** ? (@."Node Type" == "Nested Loop" && exists(@."Join Filter"))'));
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

-- 2. train_all's blend rebase: hand-made components (learner 1 in all three,
-- 2 in GLMix's alone, 3 without a language); a rebase keeps the first
-- language found and the sorted union of the watch-based components'
-- histories (GLMix's are not watches)
BEGIN;
INSERT INTO recs.model (name, kind, version)
VALUES ('ks_p', 'popularity', 1), ('ks_n', 'ncf', 1), ('ks_g', 'glmix', 1), ('ks_b', 'blend', 1);
INSERT INTO recs.model_learner (model_id, learner_id, language, watched)
VALUES (recs.model_id('ks_p'), 1, 'en', '{3,1}'), (recs.model_id('ks_n'), 1, NULL, '{2,3}'),
       (recs.model_id('ks_g'), 1, 'en', '{9}'), (recs.model_id('ks_g'), 2, 'fr', '{5}'),
       (recs.model_id('ks_p'), 3, NULL, '{}'), (recs.model_id('ks_n'), 3, NULL, '{4}');
SELECT recs._blend_rebase(recs.model_id('ks_b'), ARRAY[recs.model_id('ks_n'), recs.model_id('ks_g'), recs.model_id('ks_p')],
                          'ks_rebased', now()) > 0 AS rebased;
SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id('ks_rebased') ORDER BY 1;
-- its INSERT (the function's own text), planned on a model_learner whose
-- statistics say empty, as a VACUUM that could not truncate leaves them
UPDATE pg_class SET reltuples = 0, relpages = greatest(relpages, 1)
 WHERE oid IN ('recs.model_learner'::regclass, 'recs.model_learner_pkey'::regclass);
SELECT ks.filtered_loops(
           regexp_replace(regexp_replace(substring(prosrc FROM 'INSERT INTO recs\.model_learner .*?;'),
                                         '\mcomponents\M', 'ARRAY[1, 2, 3]::bigint[]', 'g'),
                          'SELECT id,', 'SELECT 0::bigint,')) AS filtered_nested_loops
  FROM pg_proc WHERE oid = 'recs._blend_rebase'::regproc;
ROLLBACK;

DROP OWNED BY ks_trainer;
DROP ROLE ks_trainer;
DROP SCHEMA ks CASCADE;
