-- serving.sql -- recs on a Citus coordinator and two workers (scripts/test_citus.sh):
-- recs.citus_setup() makes recs' tables reference tables; models trained on
-- distributed tables equal those trained on the same rows in plain tables;
-- every node serves the same lists; the batch over the learners runs on the
-- workers; activation and drop_model reach every node.
--
-- app.* is distributed by learner_id (courses a reference table), single.*
-- holds the same rows in plain tables on the coordinator.  Not one
-- transaction: the workers' answers are read through run_command_on_workers,
-- which sees committed rows only.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(24);

-- recs' tables, made reference tables once (then left as they are)
SELECT is((SELECT count(*)::int FROM recs.citus_setup() WHERE action = 'made a reference table'),
          (SELECT count(*)::int FROM pg_class c
             JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
            WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'recs') AND c.relkind = 'r'),
          'citus_setup makes every table of the extension a reference table');
SELECT is((SELECT count(*)::int FROM recs.citus_setup() WHERE action <> 'already a reference table'), 0,
          'a second citus_setup changes nothing');
SELECT is((SELECT array_agg(DISTINCT p.partmethod::text || p.repmodel::text) FROM pg_dist_partition p
            WHERE p.logicalrelid::text LIKE 'recs.%'), ARRAY['nt'],
          'all of them are reference tables (partmethod n, replication t)');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                WHERE k.contype = 'f' AND c.relnamespace = 'recs'::regnamespace$$)),
          ARRAY['0', '0'], 'no foreign key is left among recs'' tables on the workers (or their copies)');

-- popularity: the same model from distributed and from plain tables
SELECT recs.train_popularity('app.watches', 'app.learners', name => 'ct_pop_d', activate => false);
SELECT recs.train_popularity('single.watches', 'single.learners', name => 'ct_pop_s', activate => false);
SELECT is((SELECT md5(string_agg(format('%s/%s/%s', language, course_id, score), ',' ORDER BY language, course_id))
             FROM recs.course_popularity WHERE model_id = recs.model_id('ct_pop_d')),
          (SELECT md5(string_agg(format('%s/%s/%s', language, course_id, score), ',' ORDER BY language, course_id))
             FROM recs.course_popularity WHERE model_id = recs.model_id('ct_pop_s')),
          'popularity from distributed watches equals popularity from the same rows in one table');
SELECT is((SELECT md5(string_agg(format('%s/%s/%s', learner_id, language, watched), ',' ORDER BY learner_id))
             FROM recs.model_learner WHERE model_id = recs.model_id('ct_pop_d')),
          (SELECT md5(string_agg(format('%s/%s/%s', learner_id, language, watched), ',' ORDER BY learner_id))
             FROM recs.model_learner WHERE model_id = recs.model_id('ct_pop_s')),
          'and so are its learners'' histories');

-- GLMix: the same fit (log-loss within 1e-6) from distributed and plain tables
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'ct_glmix_d', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'ct_glmix_s', activate => false);
CREATE TEMP TABLE ct_ll AS
SELECT m.name, avg(CASE WHEN i.clicked THEN -ln(p) ELSE -ln(1 - p) END) AS logloss
  FROM (VALUES ('ct_glmix_d'), ('ct_glmix_s')) m(name),
       single.impressions i,
       LATERAL (SELECT 1 / (1 + exp(-recs.glmix_logit(recs.model_id(m.name), i.learner_id, i.course_id))) AS p) s
 GROUP BY m.name;
SELECT cmp_ok((SELECT abs(max(logloss) - min(logloss)) FROM ct_ll)::float8, '<', 1e-6::float8,
              'GLMix from distributed impressions: training log-loss within 1e-6 of the single-table fit');
SELECT cmp_ok((SELECT max(logloss) FROM ct_ll)::float8, '<', 0.6::float8,
              'and it learnt something (log-loss under 0.6; a constant would be 0.69)');

-- NCF, active: every node serves the same lists
SELECT recs.train_ncf('app.watches', name => 'ct_ncf', courses => 'app.courses', epochs => 3, activate => false);
SELECT recs.activate(recs.model_id('ct_ncf'));
SELECT recs.activate(recs.model_id('ct_glmix_d'), 'glmix');
CREATE TEMP TABLE ct_coord AS
SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) AS ncf,
       (SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
          FROM generate_series(100001, 100060) g, recs.recommend(g, 10, slot => 'glmix') r) AS glmix
  FROM generate_series(100001, 100060) g, recs.recommend(g, 10) r;
SELECT is((SELECT array_agg(DISTINCT deployed) FROM run_command_on_workers(
             $$SELECT model_id FROM recs.deployment WHERE slot = 'default'$$) w(n, p, s, deployed)),
          ARRAY[recs.model_id('ct_ncf')::text], 'the activation committed on the coordinator is every worker''s');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
                 FROM generate_series(100001, 100060) g, recs.recommend(g, 10) r$$)),
          ARRAY[(SELECT ncf FROM ct_coord), (SELECT ncf FROM ct_coord)],
          'recommend() on each worker returns the coordinator''s lists (NCF)');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
                 FROM generate_series(100001, 100060) g, recs.recommend(g, 10, slot => 'glmix') r$$)),
          ARRAY[(SELECT glmix FROM ct_coord), (SELECT glmix FROM ct_coord)],
          'and for GLMix, in another slot');

-- NCF with trend_days: the stored terms (written by an UPDATE after the
-- embeddings' INSERT) reach every node, which scores with them
SELECT recs.train_ncf('app.watches', name => 'ct_ncf_trend', courses => 'app.courses', epochs => 2,
                      trend_days => 30, activate => false);
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             format('SELECT count(*) FILTER (WHERE trend <> 0) || '':'' || sum(trend) FROM recs.ncf_course WHERE model_id = %s',
                    recs.model_id('ct_ncf_trend')))),
          (SELECT ARRAY[x, x] FROM (SELECT count(*) FILTER (WHERE trend <> 0) || ':' || sum(trend) AS x
                                      FROM recs.ncf_course WHERE model_id = recs.model_id('ct_ncf_trend')) c),
          'trend_days: every worker holds the coordinator''s trend terms');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             format($f$SELECT md5(string_agg(format('%%s:%%s:%%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
                         FROM generate_series(100001, 100030) g, recs.recommend(g, 10, model => %s) r$f$,
                    recs.model_id('ct_ncf_trend')))),
          (SELECT ARRAY[x, x] FROM (SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) AS x
                                      FROM generate_series(100001, 100030) g,
                                           recs.recommend(g, 10, model => recs.model_id('ct_ncf_trend')) r) c),
          'and recommend() with the trend on each worker returns the coordinator''s lists');

-- the batch: pushed down to the workers, each over its own learners
CREATE TEMP TABLE ct_plan (line text);
DO $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r' LOOP
        INSERT INTO ct_plan VALUES (l);
    END LOOP;
END $$;
SELECT ok((SELECT string_agg(line, E'\n') FROM ct_plan) ~ 'Custom Scan \(Citus Adaptive\)'
          AND (SELECT string_agg(line, E'\n') FROM ct_plan) ~ 'Task Count: 8'
          AND (SELECT string_agg(line, E'\n') FROM ct_plan) ~ 'Function Scan on recommend'
          AND (SELECT string_agg(line, E'\n') FROM ct_plan) ~ 'Seq Scan on learners_[0-9]+',
          'EXPLAIN: the batch is 8 tasks, each calling recommend() beside a shard of learners on a worker');
CREATE TABLE public.ct_recs_today AS
SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r;
SELECT is((SELECT md5(string_agg(format('%s:%s:%s:%s', learner_id, rank, course_id, score), ',' ORDER BY learner_id, rank))
             FROM public.ct_recs_today),
          (SELECT md5(string_agg(format('%s:%s:%s:%s', l.learner_id, r.rank, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank))
             FROM single.learners l, recs.recommend(l.learner_id, 10) r),
          'CREATE TABLE AS over the distributed learners: every learner''s list, as the coordinator computes it');
SELECT is((SELECT count(DISTINCT learner_id)::int FROM public.ct_recs_today), (SELECT count(*)::int FROM single.learners),
          'every learner has a list');
-- into a distributed table: INSERT ... SELECT runs wholly on the workers
CREATE TABLE public.ct_recs_dist (learner_id bigint, rank integer, course_id bigint, score float8);
SELECT create_distributed_table('public.ct_recs_dist', 'learner_id', colocate_with => 'app.learners');
INSERT INTO public.ct_recs_dist SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10, slot => 'glmix') r;
SELECT is((SELECT md5(string_agg(format('%s:%s:%s:%s', learner_id, rank, course_id, score), ',' ORDER BY learner_id, rank))
             FROM public.ct_recs_dist),
          (SELECT md5(string_agg(format('%s:%s:%s:%s', l.learner_id, r.rank, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank))
             FROM single.learners l, recs.recommend(l.learner_id, 10, slot => 'glmix') r),
          'INSERT ... SELECT into a co-located table (GLMix): the same lists');
CREATE TEMP TABLE ct_plan2 (line text);
DO $$
DECLARE l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN INSERT INTO public.ct_recs_dist SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r' LOOP
        INSERT INTO ct_plan2 VALUES (l);
    END LOOP;
END $$;
-- (Citus does not see through the function's output that rows stay on
-- their shard: it repartitions them worker to worker, never via the coordinator)
SELECT ok((SELECT string_agg(line, E'\n') FROM ct_plan2) ~ 'INSERT/SELECT method: (repartition|pushdown)'
          AND (SELECT string_agg(line, E'\n') FROM ct_plan2) ~ 'Task Count: 8'
          AND (SELECT string_agg(line, E'\n') FROM ct_plan2) ~ 'Function Scan on recommend',
          'EXPLAIN: the INSERT ... SELECT computes on the workers and moves rows between them, not through the coordinator');

-- recommend_all on a worker, over that worker's learners
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM recs.recommend_all(5, learners => ARRAY[100001, 100002, 100003])$$)),
          ARRAY['15', '15'], 'recommend_all runs on a worker');

-- drop_model on the coordinator removes the model's parts from every copy
SELECT recs.drop_model(recs.model_id('ct_pop_s'));
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM recs.course_popularity c LEFT JOIN recs.model m USING (model_id)
                WHERE m.model_id IS NULL$$)),
          ARRAY['0', '0'], 'drop_model leaves no part behind on the workers (no foreign key cascades there)');
SELECT is((SELECT count(*)::int FROM recs.model_learner WHERE model_id NOT IN (SELECT model_id FROM recs.model)), 0,
          'nor on the coordinator');

-- forget_learner on the coordinator: the learner's rows go from every copy
SELECT recs.forget_learner(100007);
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT (SELECT count(*) FROM recs.model_learner WHERE learner_id = 100007)
                    + (SELECT count(*) FROM recs.ncf_learner WHERE learner_id = 100007)
                    + (SELECT count(*) FROM recs.glmix_entity WHERE side = 'learner' AND id = 100007)$$)),
          ARRAY['0', '0'], 'forget_learner removes the learner from every node''s copy of every model');

-- serving access: one grant_access on the coordinator reaches every worker
-- (the serving functions are not Citus objects, so their GRANTs do not
-- propagate: grant_access runs itself on each worker); access.sh then
-- serves as that role on the workers
CREATE ROLE ct_app LOGIN;
SELECT recs.grant_access('ct_app');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT has_function_privilege('ct_app', 'recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)', 'EXECUTE')
                      AND has_schema_privilege('ct_app', 'recs', 'USAGE')$$)),
          ARRAY['t', 't'], 'one grant_access on the coordinator gives EXECUTE (and USAGE on recs) on every worker');
SELECT recs.revoke_access('ct_app');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT has_function_privilege('ct_app', 'recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)', 'EXECUTE')
                      OR has_schema_privilege('ct_app', 'recs', 'USAGE')$$)),
          ARRAY['f', 'f'], 'and one revoke_access takes it back on every worker');
SELECT recs.grant_access('ct_app');

SELECT * FROM finish();
DROP TABLE public.ct_recs_today, public.ct_recs_dist;
