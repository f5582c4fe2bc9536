-- workers_glmix.sql -- train_glmix's aggregates on the Citus workers
-- (scripts/test_citus.sh; src/glmix/glmix_citus.c).  When the impressions
-- are a distributed table, the training's work relations are distributed
-- too: the fixed effect's blocks by one "part" value per shard, its
-- statistics queried GROUP BY part (one shard's sum per task, added up on
-- the coordinator); each random effect's blocks by entity, its fits GROUP BY
-- entity.  Checked here: the plans of those query shapes run the aggregate
-- inside the workers' tasks (and without the GROUP BY they would not: the
-- blocks would come to the coordinator), the distributed fits equal the
-- single-table ones (dense Newton and TRON, with and without random
-- effects), and no work relation is left behind.
--
-- Runs after serving.sql (recs' tables are reference tables by then;
-- citus_setup again changes nothing).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(22);
SELECT count(*) FROM recs.citus_setup();

-- the query shapes of glmix_stage.c, on work tables made the same way: the
-- blocks, and co-located with them each block's offsets (and start)
CREATE UNLOGGED TABLE recs.ct_work_fixed (part integer NOT NULL, block_no integer NOT NULL, block bytea NOT NULL);
CREATE UNLOGGED TABLE recs.ct_work_fixed_args (part integer NOT NULL, block_no integer NOT NULL,
                                               offsets float8[] NOT NULL, start float8[]);
CREATE UNLOGGED TABLE recs.ct_work_re (entity integer NOT NULL, block_no integer NOT NULL, block bytea NOT NULL);
CREATE UNLOGGED TABLE recs.ct_work_re_args (entity integer NOT NULL, block_no integer NOT NULL,
                                            offsets float8[] NOT NULL, start float8[]);
SELECT create_distributed_table('recs.ct_work_fixed', 'part', colocate_with => 'none', shard_count => 8);
SELECT create_distributed_table('recs.ct_work_fixed_args', 'part', colocate_with => 'recs.ct_work_fixed');
SELECT create_distributed_table('recs.ct_work_re', 'entity', colocate_with => 'none', shard_count => 8);
SELECT create_distributed_table('recs.ct_work_re_args', 'entity', colocate_with => 'recs.ct_work_re');
-- pg_temp functions stay local (Citus would warn that it cannot propagate them)
SET citus.enable_ddl_propagation = off;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p jsonb;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO p;
	RETURN p;
END $$;
CREATE FUNCTION pg_temp.aggregate_in_tasks(q text) RETURNS boolean LANGUAGE sql AS $$
	SELECT jsonb_path_exists(pg_temp.plan_of(q), '$.**."Remote Plan".**."Node Type" ? (@ == "Aggregate")')
$$;
CREATE FUNCTION pg_temp.task_count(q text) RETURNS integer LANGUAGE sql AS $$
	SELECT (jsonb_path_query_first(pg_temp.plan_of(q), '$.**."Task Count"'))::integer
$$;
CREATE FUNCTION pg_temp.logloss(model text) RETURNS float8 LANGUAGE sql AS $$
	SELECT avg(CASE WHEN i.clicked THEN -ln(p) ELSE -ln(1 - p) END)
	  FROM single.impressions i,
	       LATERAL (SELECT 1 / (1 + exp(-recs.glmix_logit(recs.model_id(model), i.learner_id, i.course_id))) AS p) s
$$;
RESET citus.enable_ddl_propagation;

SELECT ok(pg_temp.aggregate_in_tasks(
            'SELECT recs.glmix_fixed_block_stats(w.block, a.offsets, NULL::float8[]) FROM recs.ct_work_fixed w
               JOIN recs.ct_work_fixed_args a ON a.part = w.part AND a.block_no = w.block_no GROUP BY w.part ORDER BY w.part'),
          'Newton''s statistics (GROUP BY part, offsets joined from the co-located table) are aggregated inside the workers'' tasks');
SELECT is(pg_temp.task_count(
            'SELECT recs.glmix_fixed_block_stats(w.block, a.offsets, NULL::float8[]) FROM recs.ct_work_fixed w
               JOIN recs.ct_work_fixed_args a ON a.part = w.part AND a.block_no = w.block_no GROUP BY w.part ORDER BY w.part'),
          8, 'one task per shard');
SELECT ok(pg_temp.aggregate_in_tasks(
            'SELECT recs.glmix_fixed_block_grad(w.block, a.offsets, NULL::float8[], NULL::float8[]) FROM recs.ct_work_fixed w
               JOIN recs.ct_work_fixed_args a ON a.part = w.part AND a.block_no = w.block_no GROUP BY w.part ORDER BY w.part'),
          'TRON''s gradient and Hessian-vector products too');
SELECT ok(pg_temp.aggregate_in_tasks(
            'SELECT w.entity, recs.glmix_entity_fit(w.block, a.offsets, a.start, NULL::float8) FROM recs.ct_work_re w
               JOIN recs.ct_work_re_args a ON a.entity = w.entity AND a.block_no = w.block_no GROUP BY w.entity'),
          'and the per-entity fits (GROUP BY the distribution column: pushed down whole)');
SELECT ok(NOT pg_temp.aggregate_in_tasks(
            'SELECT recs.glmix_fixed_block_stats(block, NULL::float8[], NULL::float8[]) FROM recs.ct_work_fixed'),
          'without GROUP BY, Citus would pull the blocks to the coordinator (internal-state aggregates are not pushed down)');
DROP TABLE recs.ct_work_fixed, recs.ct_work_fixed_args, recs.ct_work_re, recs.ct_work_re_args;

-- the same fits from distributed and from plain tables
-- the fixed effect alone, dense Newton
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cw_fixed_d', random_effects => '{}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cw_fixed_s', random_effects => '{}', activate => false);
SELECT is((SELECT (metrics->>'citus_shards')::int FROM recs.model WHERE name = 'cw_fixed_d'), 8,
          'on distributed impressions the work relations are distributed over as many shards');
SELECT is((SELECT metrics->>'citus_shards' FROM recs.model WHERE name = 'cw_fixed_s'), NULL,
          'on plain tables they are local');
SELECT cmp_ok(abs(pg_temp.logloss('cw_fixed_d') - pg_temp.logloss('cw_fixed_s')), '<', 1e-6::float8,
              'fixed effect alone on the workers: log-loss within 1e-6 of the single-node fit');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cw_fixed_d' AND s.name = 'cw_fixed_s'),
              '<', 1e-9::float8, 'and the objective within 1e-9 relative');
-- the learners' stored rows (language, positive courses), written on Citus
-- 1,024 learners a statement, each joining its own learners' languages
SELECT cmp_ok((SELECT count(*) FROM recs.model_learner WHERE model_id = recs.model_id('cw_fixed_d')),
              '>', 2048::bigint, 'the distributed model stores its learners'' rows, in more than two statements');
SELECT is((SELECT array_agg(format('%s %s %s', learner_id, language, watched) ORDER BY learner_id)
             FROM recs.model_learner WHERE model_id = recs.model_id('cw_fixed_d')),
          (SELECT array_agg(format('%s %s %s', learner_id, language, watched) ORDER BY learner_id)
             FROM recs.model_learner WHERE model_id = recs.model_id('cw_fixed_s')),
          'the same learners, languages and positive courses as the single-table model''s');
-- TRON, on the earlier Citus path (the flat path's: workers_glmix_flat.sql)
SET recs.glmix_flat = off;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cw_tron_d', solver => 'tron', passes => 2,
                        activate => false);
RESET recs.glmix_flat;
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cw_tron_s', solver => 'tron', passes => 2,
                        activate => false);
SELECT cmp_ok(abs(pg_temp.logloss('cw_tron_d') - pg_temp.logloss('cw_tron_s')), '<', 1e-6::float8,
              'TRON on the workers, with per-learner and per-course effects: log-loss within 1e-6');
-- a per-channel effect (keyed by an impressions column) and crosses, on the
-- earlier Citus path (the flat path's: workers_glmix_flat_channel.sql)
SET recs.glmix_flat = off;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_ch_d', crosses => '{industry:topic}',
                        random_effects => '{learner_id,course_id,channel}', activate => false);
RESET recs.glmix_flat;
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_ch_s', crosses => '{industry:topic}',
                        random_effects => '{learner_id,course_id,channel}', activate => false);
SELECT cmp_ok(abs(pg_temp.logloss('cw_ch_d') - pg_temp.logloss('cw_ch_s')), '<', 1e-6::float8,
              'crosses and three random effects on the workers: log-loss within 1e-6');
SELECT is((SELECT metrics->'entity_models' FROM recs.model WHERE name = 'cw_ch_d'),
          (SELECT metrics->'entity_models' FROM recs.model WHERE name = 'cw_ch_s'),
          'the same entity models');
SELECT cmp_ok(pg_temp.logloss('cw_ch_d'), '<', 0.6::float8, 'and it learnt something (a constant: 0.69)');
-- the coordinator keeps no design once the blocks are on the workers: each
-- coordinate's scores are rebuilt from the sides (glmix_fixed_scores,
-- glmix_random_scores).  Numeric and multi-hot columns (values other than 1),
-- hashed crosses and match features (overlap counts, Jaccard) exercise every
-- branch of that rebuild; a wrong score would be a wrong offset, and the
-- model would differ
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,skills}',
                        '{topic,duration_minutes,skills}', name => 'cw_num_d', hash_bits => 6,
                        crosses => '{industry:topic,language=language,skills~skills}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,skills}',
                        '{topic,duration_minutes,skills}', name => 'cw_num_s', hash_bits => 6,
                        crosses => '{industry:topic,language=language,skills~skills}', activate => false);
SELECT cmp_ok(abs(pg_temp.logloss('cw_num_d') - pg_temp.logloss('cw_num_s')), '<', 1e-6::float8,
              'numeric and multi-hot columns, hashed crosses and matches on the workers: log-loss within 1e-6');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cw_num_d' AND s.name = 'cw_num_s'),
              '<', 1e-9::float8, 'and the objective within 1e-9 relative');

-- max_rows: each learner's and course's rows sampled, weights scaled up.  The
-- sample is drawn per entity from its own stream over its rows in a canonical
-- order (glmix_sample.c), so it does not depend on the order the shards
-- answer in: the same model as on the single table
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_cap_d', max_rows => 40, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_cap_s', max_rows => 40, activate => false);
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cw_cap_d' AND s.name = 'cw_cap_s'),
              '<', 1e-9::float8, 'max_rows (learners and courses capped) on the earlier Citus path: the single-table sample, objective within 1e-9 relative');

-- l2_auto: its search's views stay off Citus's DDL propagation; the same choice
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_l2_d', l2_auto => true, passes => 1, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}',
                        '{topic,difficulty}', name => 'cw_l2_s', l2_auto => true, passes => 1, activate => false);
SELECT is((SELECT params->'l2' FROM recs.model WHERE name = 'cw_l2_d'),
          (SELECT params->'l2' FROM recs.model WHERE name = 'cw_l2_s'),
          'l2_auto on distributed impressions chooses the single-table search''s L2');
SELECT cmp_ok(abs(pg_temp.logloss('cw_l2_d') - pg_temp.logloss('cw_l2_s')), '<', 1e-6::float8,
              'and fits the same model (log-loss within 1e-6)');

-- nothing left behind, on the coordinator or the workers
SELECT is((SELECT count(*)::int FROM pg_dist_partition WHERE logicalrelid::text LIKE 'recs.glmix_work%'), 0,
          'no distributed work relation is left in Citus''s catalog');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM pg_class WHERE relname LIKE 'glmix_work%'$$)),
          ARRAY['0', '0'], 'nor any of their shards on the workers');

SELECT recs.drop_model(recs.model_id(n))
  FROM unnest('{cw_num_d,cw_num_s,cw_fixed_d,cw_fixed_s,cw_tron_d,cw_tron_s,cw_ch_d,cw_ch_s,cw_l2_d,cw_l2_s,cw_cap_d,cw_cap_s}'::text[]) n;
SELECT * FROM finish();
