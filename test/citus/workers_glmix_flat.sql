-- workers_glmix_flat.sql -- train_glmix on Citus with a flat coordinator
-- (src/glmix/glmix_flat.c, glmix_flat_course.c).  When the impressions are
-- distributed by the learner column and the model is a fixed effect with or
-- without a per-learner and a per-course effect, the blocks are built in the
-- shards' tasks (one INSERT ... SELECT grouped by the learner column), the
-- offsets computed there from the twin blocks, the co-located learner
-- coefficients and course scores, Newton's statistics and the loss summed by
-- partial aggregates, the learner effect refitted by a pushed-down UPDATE,
-- the course effect by rows repartitioned by course (worker to worker) and a
-- pushed-down UPDATE there.  Checked here: those statements' plans run their
-- work inside the shards' tasks; the flat fits equal the single-table ones
-- (log-loss within 1e-6, objective within 1e-9 relative, the same
-- coefficients, counts and recs.model_learner rows), also with two label
-- columns and a time window, with a course effect and with a course
-- attribute's effect, with weights (watch time, a weight column), with the
-- fixed effect by TRON (its statistics a partial aggregate too), with hashed
-- crosses; recs.glmix_flat = off and models outside the
-- path take the earlier Citus path; bad input to the workers' functions is
-- refused; nothing is left behind.
-- The helpers shared with the other flat tests (plan_of, in_tasks,
-- task_count) are in flat_helpers.psql; this file's own are below it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(99);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
\ir flat_helpers.psql
CREATE FUNCTION pg_temp.logloss(model text) RETURNS float8 LANGUAGE sql AS $$
	SELECT avg(CASE WHEN i.clicked THEN -ln(p) ELSE -ln(1 - p) END)
	  FROM single.impressions i,
	       LATERAL (SELECT 1 / (1 + exp(-recs.glmix_logit(recs.model_id(model), i.learner_id, i.course_id))) AS p) s
$$;
RESET citus.enable_ddl_propagation;

-- the statements of glmix_flat.c, on work tables made the same way
CREATE UNLOGGED TABLE recs.ct_flat (learner_id bigint NOT NULL, block_no integer NOT NULL, fblock bytea,
    rblock bytea, rows integer NOT NULL, positives integer NOT NULL, nonzeros bigint NOT NULL,
    null_id bigint NOT NULL, null_label bigint NOT NULL, bad_time bigint NOT NULL,
    after_through bigint NOT NULL, t_max float8, watched bigint[], courses bigint[]);
CREATE UNLOGGED TABLE recs.ct_flat_coef (learner_id bigint NOT NULL, rows integer NOT NULL, coef float8[]);
CREATE UNLOGGED TABLE recs.ct_flat_learners (learner_id bigint NOT NULL, col integer[] NOT NULL, val float8[] NOT NULL);
CREATE UNLOGGED TABLE recs.ct_flat_cscore (learner_id bigint NOT NULL, block_no integer NOT NULL, cscore float8[]);
CREATE UNLOGGED TABLE recs.ct_flat_crows (key bigint NOT NULL, block bytea NOT NULL, offsets float8[] NOT NULL);
CREATE UNLOGGED TABLE recs.ct_flat_ccoef (key bigint NOT NULL, rows integer NOT NULL, coef float8[]);
SELECT create_distributed_table('recs.ct_flat', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_coef', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_learners', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_cscore', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_crows', 'key', colocate_with => 'none', shard_count => 8);
SELECT create_distributed_table('recs.ct_flat_ccoef', 'key', colocate_with => 'recs.ct_flat_crows');

SELECT ok(pg_temp.in_tasks(
            $$INSERT INTO recs.ct_flat SELECT g.l, b.* FROM
                (SELECT learner_id AS l, array_agg(course_id::int8) AS c, array_agg(clicked::int::float8) AS y1,
                        NULL::float8[] AS y2, NULL::float8[] AS t FROM app.impressions GROUP BY learner_id) g
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = g.l,
                LATERAL recs._glmix_flat_blocks(NULL::bytea, g.l::int8, v.col, v.val, g.c, g.y1, g.y2, g.t, NULL, NULL) b$$, 'ModifyTable'),
          'the blocks are built and inserted inside the shards'' tasks (grouped by the distribution column, joined with the learners'' vectors, co-located)');
SELECT is(pg_temp.task_count(
            $$INSERT INTO recs.ct_flat SELECT g.l, b.* FROM
                (SELECT learner_id AS l, array_agg(course_id::int8) AS c, array_agg(clicked::int::float8) AS y1,
                        NULL::float8[] AS y2, NULL::float8[] AS t FROM app.impressions GROUP BY learner_id) g
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = g.l,
                LATERAL recs._glmix_flat_blocks(NULL::bytea, g.l::int8, v.col, v.val, g.c, g.y1, g.y2, g.t, NULL, NULL) b$$),
          8, 'one task per shard');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, '{0}'::float8[], cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$, 'Aggregate'),
          'Newton''s statistics, without GROUP BY, are aggregated inside the tasks (a bytea state: a partial aggregate)');
SELECT ok(pg_temp.plan_of(
            $$SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, '{0}'::float8[], cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$)::text
          LIKE '%worker_partial_agg%coord_combine_agg%'
          OR pg_temp.plan_of(
            $$SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, '{0}'::float8[], cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$)::text
          LIKE '%coord_combine_agg%worker_partial_agg%',
          'as worker_partial_agg in each task and coord_combine_agg on the coordinator');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_fixed_grad(w.fblock, w.rblock, c.coef, '{0}'::float8[], '{1}'::float8[], cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$, 'Aggregate'),
          'TRON''s statistics (loss, gradient, H v) are aggregated inside the tasks too');
SELECT ok(pg_temp.plan_of(
            $$SELECT recs._glmix_flat_fixed_grad(w.fblock, w.rblock, c.coef, '{0}'::float8[], '{1}'::float8[], cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$)::text
          ~ '(worker_partial_agg.*coord_combine_agg|coord_combine_agg.*worker_partial_agg)',
          'as a partial aggregate: worker_partial_agg in each task, coord_combine_agg on the coordinator');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_loss(w.fblock, w.rblock, c.coef, '{0}'::float8[], w.block_no = 0, cs.cscore)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no$$, 'Aggregate'),
          'and so is the loss');
SELECT ok(pg_temp.in_tasks(
            $$UPDATE recs.ct_flat_coef c SET coef = f.coef FROM
                (SELECT w.learner_id AS l, recs.glmix_entity_fit(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[], NULL),
                        s.coef, 1::float8) AS coef
                   FROM recs.ct_flat w JOIN recs.ct_flat_coef s ON s.learner_id = w.learner_id
                  WHERE w.rblock IS NOT NULL GROUP BY w.learner_id) f
               WHERE c.learner_id = f.l$$, 'ModifyTable'),
          'the learner effect''s fit and its UPDATE of the coefficients run inside the tasks');
-- the course effect (glmix_flat_course.c): rows by course, the fits there, the scores back
SELECT ok(pg_temp.plan_of(
            $$INSERT INTO recs.ct_flat_crows (key, block, offsets)
              SELECT s.key, s.block, s.offsets FROM recs.ct_flat w
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = w.learner_id,
                LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, c.coef, '{0}', w.courses, v.col, v.val, 3, true, NULL, NULL) s
               WHERE w.fblock IS NOT NULL$$)::text LIKE '%"INSERT/SELECT method": "repartition"%',
          'the course effect''s rows go to the relation distributed by course by repartition: worker to worker');
SELECT is(pg_temp.task_count(
            $$INSERT INTO recs.ct_flat_crows (key, block, offsets)
              SELECT s.key, s.block, s.offsets FROM recs.ct_flat w
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = w.learner_id,
                LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, c.coef, '{0}', w.courses, v.col, v.val, 3, true, NULL, NULL) s
               WHERE w.fblock IS NOT NULL$$),
          8, 'their SELECT (blocks, learners, coefficients: co-located) runs in one task per shard');
SELECT ok(pg_temp.in_tasks(
            $$INSERT INTO recs.ct_flat_crows (key, block, offsets)
              SELECT s.key, s.block, s.offsets FROM recs.ct_flat w
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = w.learner_id,
                LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, c.coef, '{0}', w.courses, v.col, v.val, 3, true, NULL, NULL) s
               WHERE w.fblock IS NOT NULL$$, 'Function Scan'),
          'with the rows built inside the tasks');
SELECT ok(pg_temp.in_tasks(
            $$UPDATE recs.ct_flat_ccoef k SET coef = f.coef FROM
                (SELECT r.key AS c, recs.glmix_entity_fit(r.block, r.offsets, s.coef, 1::float8) AS coef
                   FROM recs.ct_flat_crows r JOIN recs.ct_flat_ccoef s ON s.key = r.key GROUP BY r.key) f
               WHERE k.key = f.c$$, 'ModifyTable'),
          'the course effect''s fits (GROUP BY course_id) and their UPDATE run inside the tasks of the course-distributed relations');
SELECT ok(pg_temp.in_tasks(
            $$UPDATE recs.ct_flat_cscore s SET cscore = recs._glmix_flat_course_scores(w.courses, v.col, v.val,
                   '{1}', '{0,0,0}', 3, true, NULL, NULL)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_learners v ON v.learner_id = w.learner_id
               WHERE s.learner_id = w.learner_id AND s.block_no = w.block_no$$, 'ModifyTable'),
          'and the course scores are written back beside the blocks inside the tasks');
-- a learner attribute's effect (glmix_flat_segment.c): per-key sums in the tasks, the keys beside the learners
CREATE UNLOGGED TABLE recs.ct_flat_keys (learner_id bigint NOT NULL, key integer NOT NULL, scoef float8[]);
SELECT create_distributed_table('recs.ct_flat_keys', 'learner_id', colocate_with => 'app.impressions');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_entity_stats(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[],
                       coalesce(recs._glmix_flat_scores(w.rblock, c.coef, cs.cscore), cs.cscore)), g.key, '{0,0,0}', 3)
                FROM recs.ct_flat w JOIN recs.ct_flat_keys g ON g.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no
               WHERE w.rblock IS NOT NULL$$, 'Aggregate')
          AND pg_temp.plan_of(
            $$SELECT recs._glmix_flat_entity_stats(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[],
                       coalesce(recs._glmix_flat_scores(w.rblock, c.coef, cs.cscore), cs.cscore)), g.key, '{0,0,0}', 3)
                FROM recs.ct_flat w JOIN recs.ct_flat_keys g ON g.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no
               WHERE w.rblock IS NOT NULL$$)::text ~ '(worker_partial_agg.*coord_combine_agg|coord_combine_agg.*worker_partial_agg)',
          'a segment effect''s per-key statistics are summed inside the tasks (worker_partial_agg, coord_combine_agg)');
SELECT ok(pg_temp.in_tasks($$UPDATE recs.ct_flat_keys SET scoef = ('{0,0,0}'::float8[])[key * 1 + 1 : key * 1 + 1]$$,
                           'ModifyTable'),
          'and its coefficients written beside the learners inside the tasks');
DROP TABLE recs.ct_flat_keys;
DROP TABLE recs.ct_flat, recs.ct_flat_coef, recs.ct_flat_learners, recs.ct_flat_cscore, recs.ct_flat_crows,
           recs.ct_flat_ccoef;

-- a fixed effect and a per-learner effect, distributed and single
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_le_d', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_le_s', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'cf_le_d'), 'true'::jsonb,
          'the distributed training took the flat path');
SELECT cmp_ok(abs(pg_temp.logloss('cf_le_d') - pg_temp.logloss('cf_le_s')), '<', 1e-6::float8,
              'flat: the per-learner effect and crosses fit the single-table model, log-loss within 1e-6');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_le_d' AND s.name = 'cf_le_s'),
              '<', 1e-9::float8, 'and the objective within 1e-9 relative');
SELECT is((SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'skipped',
                                    metrics->'entity_models', metrics->'fixed_nonzeros', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_le_d'),
          (SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'skipped',
                                    metrics->'entity_models', metrics->'fixed_nonzeros', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_le_s'),
          'the same rows, positives, skips, entity models, nonzeros and Newton passes, summed on the workers');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_le_d')) a
                 JOIN (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_le_s')) b USING (entity, i)), '<', 1e-6::float8,
              'every coefficient, fixed and per learner, within 1e-6');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_le_d')),
          (SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_le_s')),
          'the same coefficient rows');
SELECT is_empty($$SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id('cf_le_d')
                  EXCEPT ALL SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id('cf_le_s')$$,
                'the same recs.model_learner rows (positive courses gathered on the workers)');
SELECT is((SELECT count(*)::int FROM recs.model_learner WHERE model_id = recs.model_id('cf_le_d')),
          (SELECT count(*)::int FROM recs.model_learner WHERE model_id = recs.model_id('cf_le_s')),
          'as many of them');
SELECT is((SELECT trained_through FROM recs.model WHERE name = 'cf_le_d'),
          (SELECT trained_through FROM recs.model WHERE name = 'cf_le_s'), 'trained through the same last impression');
SELECT cmp_ok(pg_temp.logloss('cf_le_d'), '<', 0.6::float8, 'and it learnt something (a constant: 0.69)');

-- the reader's policy on the workers: two label columns (OR) and a time window
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic}',
                        name => 'cf_win_d', random_effects => '{learner_id}', label => 'either', through => '2025-12-10', min_rows => 12,
                        activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic}',
                        name => 'cf_win_s', random_effects => '{learner_id}', label => 'either', through => '2025-12-10', min_rows => 12,
                        activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'train_rows', metrics->'train_positive',
                                    metrics->'after_through', metrics->'entity_models', trained_through)
             FROM recs.model WHERE name = 'cf_win_d'),
          (SELECT jsonb_build_array(true, metrics->'train_rows', metrics->'train_positive',
                                    metrics->'after_through', metrics->'entity_models', trained_through)
             FROM recs.model WHERE name = 'cf_win_s'),
          'label => either, through and min_rows: the same rows, positives, left-out rows and entity models');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_win_d' AND s.name = 'cf_win_s'),
              '<', 1e-9::float8, 'and the same objective (1e-9 relative)');

-- weights on the workers: watch time of positives (weighting => 'watch_time') times a weight
-- column, with a learner and a course effect (the course rows carry the blocks' weights)
ALTER TABLE app.impressions ADD COLUMN w float8;
UPDATE app.impressions SET w = 1 + (course_id % 3) * 0.5;
ALTER TABLE single.impressions ADD COLUMN w float8;
UPDATE single.impressions SET w = 1 + (course_id % 3) * 0.5;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic}',
                        name => 'cf_w_d', random_effects => '{learner_id,course_id}', weighting => 'watch_time',
                        weight_column => 'w', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic}',
                        name => 'cf_w_s', random_effects => '{learner_id,course_id}', weighting => 'watch_time',
                        weight_column => 'w', activate => false);
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic}',
                        name => 'cf_uw_d', random_effects => '{learner_id,course_id}', activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'train_rows', metrics->'entity_models')
             FROM recs.model WHERE name = 'cf_w_d'),
          (SELECT jsonb_build_array(true, metrics->'train_rows', metrics->'entity_models')
             FROM recs.model WHERE name = 'cf_w_s'),
          'weights: the flat path, the same rows and entity models');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_w_d' AND s.name = 'cf_w_s'),
              '<', 1e-9::float8, 'weighted: the same objective as the single-table fit (1e-9 relative)');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.coordinate, c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_w_d')) a
                 JOIN (SELECT c.coordinate, c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_w_s')) b USING (coordinate, entity, i)), '<', 1e-6::float8,
              'and every coefficient within 1e-6');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (u.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model u WHERE d.name = 'cf_w_d' AND u.name = 'cf_uw_d'),
              '>', 0.1::float8, 'the weights were applied (the unweighted objective differs)');
UPDATE app.impressions SET w = -2 WHERE learner_id = (SELECT min(learner_id) FROM single.impressions);
SELECT throws_ok($$SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'cf_w_bad', random_effects => '{learner_id}', weight_column => 'w')$$,
                 '22023', 'weight must be a finite number >= 0, not -2',
                 'a negative weight is refused on the workers as on one node');
ALTER TABLE app.impressions DROP COLUMN w;
ALTER TABLE single.impressions DROP COLUMN w;

-- a per-learner and a per-course effect (the default), and a per-course effect alone
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_lc_d', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_lc_s', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'cf_lc_d'), 'true'::jsonb,
          'learner and course effects: the flat path');
SELECT cmp_ok(abs(pg_temp.logloss('cf_lc_d') - pg_temp.logloss('cf_lc_s')), '<', 1e-6::float8,
              'the flat fit with a course effect serves the single-table log-loss within 1e-6');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_lc_d' AND s.name = 'cf_lc_s'),
              '<', 1e-9::float8, 'and the objective within 1e-9 relative');
SELECT is((SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'entity_models',
                                    metrics->'fixed_nonzeros', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_lc_d'),
          (SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'entity_models',
                                    metrics->'fixed_nonzeros', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_lc_s'),
          'the same rows, positives, entity models (learners and courses), nonzeros and Newton passes');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_lc_d')) a
                 JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_lc_s')) b USING (coordinate, entity, rows, i)), '<', 1e-6::float8,
              'every coefficient, fixed, per learner and per course, within 1e-6');
SELECT is((SELECT jsonb_build_array(count(*), count(*) FILTER (WHERE coordinate = 'course_id'))
             FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_lc_d')),
          (SELECT jsonb_build_array(count(*), count(*) FILTER (WHERE coordinate = 'course_id'))
             FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_lc_s')),
          'the same coefficient rows (with the same active rows: joined on them above)');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_lc_d') AND coordinate = 'course_id'),
          (SELECT count(DISTINCT course_id)::int FROM single.impressions), 'a model for every course shown');
SELECT is_empty($$SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id('cf_lc_d')
                  EXCEPT ALL SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id('cf_lc_s')$$,
                'the same recs.model_learner rows');
-- (with Citus's repartition turned off by the user: the training turns it on for itself;
-- and JIT off in its tasks, then back to the session's value, within the transaction)
SET citus.enable_repartitioned_insert_select = off;
SET jit = off;
BEGIN;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic}',
                        name => 'cf_c_d', random_effects => '{course_id}', min_rows => 450, label => 'either',
                        through => '2025-12-10', activate => false);
SELECT is(current_setting('citus.enable_repartitioned_insert_select') || ' ' || current_setting('jit') || ' '
          || current_setting('citus.propagate_set_commands'), 'off off none',
          'the user''s citus.enable_repartitioned_insert_select, jit and citus.propagate_set_commands are as they were after the training, in its transaction');
COMMIT;
RESET citus.enable_repartitioned_insert_select;
RESET jit;
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic}',
                        name => 'cf_c_s', random_effects => '{course_id}', min_rows => 450, label => 'either',
                        through => '2025-12-10', activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'train_rows', metrics->'entity_models',
                                    metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_c_d'),
          (SELECT jsonb_build_array(true, metrics->'train_rows', metrics->'entity_models', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_c_s'),
          'a course effect alone, min_rows, label => either and through: the flat path, the same rows, course models and passes');
SELECT cmp_ok((SELECT (metrics->'entity_models'->>'course_id')::int FROM recs.model WHERE name = 'cf_c_d'),
              '<', (SELECT count(DISTINCT course_id)::int FROM single.impressions), 'min_rows left some courses without a model');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_c_d' AND s.name = 'cf_c_s'),
              '<', 1e-9::float8, 'the same objective (1e-9 relative)');
SELECT cmp_ok((SELECT max(coalesce(abs(a.x - b.x), 1))
                 FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_c_d')) a
                 FULL JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_c_s')) b USING (coordinate, entity, rows, i)), '<', 1e-6::float8,
              'and every coefficient within 1e-6 (the same entities: a full join)');
SELECT cmp_ok(abs(pg_temp.logloss('cf_c_d') - pg_temp.logloss('cf_c_s')), '<', 1e-6::float8,
              'served, the same log-loss within 1e-6');

-- an effect keyed by a course attribute (a per-topic model over learner features)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}', '{language,difficulty}',
                        name => 'cf_t_d', random_effects => '{learner_id,topic}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}', '{language,difficulty}',
                        name => 'cf_t_s', random_effects => '{learner_id,topic}', activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'entity_models', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_t_d'),
          (SELECT jsonb_build_array(true, metrics->'entity_models', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_t_s'),
          'a course attribute''s effect: the flat path, the same topic models and Newton passes');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_t_d' AND s.name = 'cf_t_s'),
              '<', 1e-9::float8, 'the same objective (1e-9 relative)');
SELECT cmp_ok((SELECT max(coalesce(abs(a.x - b.x), 1))
                 FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_t_d')) a
                 FULL JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_t_s')) b USING (coordinate, entity, rows, i)), '<', 1e-6::float8,
              'every coefficient within 1e-6, the topics'' too (keyed by the topic''s value)');
SELECT is_empty($$SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id('cf_t_d')
                  EXCEPT ALL SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id('cf_t_s')$$,
                'the same entity rows, each course with its topic as its key');
SELECT cmp_ok(abs(pg_temp.logloss('cf_t_d') - pg_temp.logloss('cf_t_s')), '<', 1e-6::float8,
              'served, the same log-loss within 1e-6');

-- the fixed effect by TRON (solver => 'tron'): each of its passes one partial aggregate
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_tr_d', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', solver => 'tron', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_tr_s', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', solver => 'tron', activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'solver', metrics->'train_rows',
                                    metrics->'entity_models', metrics->'fixed_nonzeros')
             FROM recs.model WHERE name = 'cf_tr_d'),
          (SELECT jsonb_build_array(true, 'tron'::text, metrics->'train_rows', metrics->'entity_models', metrics->'fixed_nonzeros')
             FROM recs.model WHERE name = 'cf_tr_s'),
          'solver => tron: the flat path, TRON, the same rows, entity models and nonzeros');
SELECT cmp_ok((SELECT (metrics->>'tron_cg_steps')::int FROM recs.model WHERE name = 'cf_tr_d'), '>', 0,
              'TRON took Hessian-vector products on the workers');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_tr_d' AND s.name = 'cf_tr_s'),
              '<', 1e-9::float8, 'the same objective as the single-table TRON fit (1e-9 relative)');
SELECT cmp_ok((SELECT max(coalesce(abs(a.x - b.x), 1))
                 FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_tr_d')) a
                 FULL JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_tr_s')) b USING (coordinate, entity, rows, i)), '<', 1e-6::float8,
              'every coefficient, fixed, per learner and per course, within 1e-6 (the same entities: a full join)');
-- TRON and dense Newton stop at different points (Newton's last full step leaves a
-- gap of about its decrement squared; coordinate descent carries it): the flat path
-- shows the single-table gap between them
SELECT cmp_ok((SELECT abs(((t.metrics->>'objective')::float8 / (n.metrics->>'objective')::float8 - 1)
                          - ((ts.metrics->>'objective')::float8 / (ns.metrics->>'objective')::float8 - 1))
                 FROM recs.model t, recs.model n, recs.model ts, recs.model ns
                WHERE t.name = 'cf_tr_d' AND n.name = 'cf_lc_d' AND ts.name = 'cf_tr_s' AND ns.name = 'cf_lc_s'),
              '<', 1e-9::float8, 'TRON against dense Newton: the same objective gap flat as on one table (1e-9 relative)');

-- hashed crosses (hash_bits): the workers bucket each row's crosses from the feature
-- names' hashes in the encoding; 16 buckets for two crosses, so pairs share buckets
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_h_d', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', hash_bits => 4, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_h_s', random_effects => '{learner_id,course_id}',
                        crosses => '{language:language,industry:topic}', hash_bits => 4, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'hash_bits', metrics->'train_rows', metrics->'fixed_features',
                                    metrics->'fixed_nonzeros', metrics->'entity_models', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_h_d'),
          (SELECT jsonb_build_array(true, 4, metrics->'train_rows', metrics->'fixed_features',
                                    metrics->'fixed_nonzeros', metrics->'entity_models', metrics->'fixed_aggregate_passes')
             FROM recs.model WHERE name = 'cf_h_s'),
          'hash_bits: the flat path, the same features, nonzeros (a bucket hit twice in a row is one), entity models and Newton passes');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_h_d' AND s.name = 'cf_h_s'),
              '<', 1e-9::float8, 'the same objective as the single-table fit (1e-9 relative)');
SELECT cmp_ok((SELECT max(coalesce(abs(a.x - b.x), 1))
                 FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_h_d')) a
                 FULL JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_h_s')) b USING (coordinate, entity, rows, i)), '<', 1e-6::float8,
              'every coefficient, the hashed buckets'' too, within 1e-6');
SELECT cmp_ok(abs(pg_temp.logloss('cf_h_d') - pg_temp.logloss('cf_h_s')), '<', 1e-6::float8,
              'served (buckets from the stored names), the same log-loss within 1e-6');

-- a validation relation: its rows read on the coordinator, scored after each pass from the
-- coefficients (the learners' fetched for the validation learners only)
SET citus.enable_ddl_propagation = off;
CREATE VIEW app.val_late AS SELECT * FROM app.impressions WHERE shown_at > '2025-12-10';
CREATE VIEW single.val_late AS SELECT * FROM single.impressions WHERE shown_at > '2025-12-10';
RESET citus.enable_ddl_propagation;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'cf_v_d', through => '2025-12-10', validation => 'app.val_late', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'cf_v_s', through => '2025-12-10', validation => 'single.val_late', activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'cf_v_d'), 'true'::jsonb,
          'validation: the flat path (learner and course effects)');
SELECT cmp_ok((SELECT abs((d.metrics->>'validation_auc')::float8 - (s.metrics->>'validation_auc')::float8)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_v_d' AND s.name = 'cf_v_s'),
              '<', 1e-6::float8, 'the validation AUC of the single-table fit (to the 6 decimals stored)');
SELECT cmp_ok((SELECT abs((d.metrics->>'validation_logloss')::float8 - (s.metrics->>'validation_logloss')::float8)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_v_d' AND s.name = 'cf_v_s'),
              '<', 1e-6::float8, 'and its validation log-loss');
SELECT is((SELECT count(*)::int FROM (SELECT (p->>'pass')::int AS pass, (p->>'validation_auc')::float8 AS auc,
                                           (p->>'validation_logloss')::float8 AS ll
                                      FROM recs.model m, jsonb_array_elements(m.metrics->'passes') p
                                     WHERE m.name = 'cf_v_d') d
                            JOIN (SELECT (p->>'pass')::int AS pass, (p->>'validation_auc')::float8 AS auc,
                                         (p->>'validation_logloss')::float8 AS ll
                                    FROM recs.model m, jsonb_array_elements(m.metrics->'passes') p
                                   WHERE m.name = 'cf_v_s') s USING (pass)
            WHERE abs(d.auc - s.auc) < 1e-5 AND abs(d.ll - s.ll) < 1e-5), 3,
          'pass by pass: each of the 3 passes'' validation AUC and log-loss (not null) within 1e-5');
DROP VIEW app.val_late, single.val_late;

-- the switch, and a model outside the path
SET recs.glmix_flat = off;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cf_le_r', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', activate => false);
RESET recs.glmix_flat;
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'cf_le_r'),
          '[null, 8]'::jsonb, 'recs.glmix_flat = off: the earlier Citus path (work relations on the workers, rows read)');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_le_d' AND s.name = 'cf_le_r'),
              '<', 1e-9::float8, 'the same model both ways');
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'cf_ce_d', random_effects => '{learner_id,segment}', intercepts => '{true,false,true}',
                        passes => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'cf_ce_d'),
          '[null, 8]'::jsonb, 'a learner effect without an intercept beside a learner attribute''s with one is not on the flat path: the earlier Citus path');

-- an effect keyed by a learner attribute (the segment), with a learner and a course effect
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'cf_sg_d', random_effects => '{learner_id,course_id,segment}',
                        activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'cf_sg_s', random_effects => '{learner_id,course_id,segment}',
                        activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'entity_models') FROM recs.model WHERE name = 'cf_sg_d'),
          (SELECT jsonb_build_array(true, metrics->'entity_models') FROM recs.model WHERE name = 'cf_sg_s'),
          'segment: the flat path, with the single-table fit''s entity models');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_sg_d' AND s.name = 'cf_sg_s'),
              '<', 1e-9::float8, 'its objective within 1e-9 relative of the single-table fit');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg_d')) a
                 JOIN (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg_s')) b USING (entity, i)), '<', 1e-6::float8,
              'every coefficient (fixed, per learner, per course, per segment) within 1e-6');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_sg_d')),
          (SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cf_sg_s')),
          'the same coefficient rows');
SELECT is_empty($$SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id('cf_sg_d')
                  EXCEPT ALL SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id('cf_sg_s')$$,
                'each learner''s segment stored as its key, as on one node');
-- min_rows: learners under it have no model of their own, their rows still count for their segment
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic}',
                        name => 'cf_sg2_d', random_effects => '{segment,learner_id}', min_rows => 40,
                        label => 'either', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}', '{topic}',
                        name => 'cf_sg2_s', random_effects => '{segment,learner_id}', min_rows => 40,
                        label => 'either', activate => false);
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_sg2_d' AND s.name = 'cf_sg2_s'
                  AND d.metrics->'citus_flat' = 'true' AND d.metrics->'entity_models' = s.metrics->'entity_models'),
              '<', 1e-9::float8, 'segment with min_rows 40: the flat fit''s objective within 1e-9 relative, the same entity models');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg2_d')) a
                 JOIN (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg2_s')) b USING (entity, i)), '<', 1e-6::float8,
              'and every coefficient within 1e-6');
-- without a learner effect, beside a course attribute's, TRON for the fixed effect, and validation
CREATE VIEW app.val_sg AS SELECT * FROM single.impressions WHERE learner_id % 10 = 3;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'cf_sg3_d', random_effects => '{segment,topic}', solver => 'tron',
                        validation => 'app.val_sg', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'cf_sg3_s', random_effects => '{segment,topic}', solver => 'tron',
                        validation => 'app.val_sg', activate => false);
SELECT cmp_ok((SELECT greatest(abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1),
                               abs((d.metrics->>'validation_auc')::float8 - (s.metrics->>'validation_auc')::float8) * 1e-3)
                 FROM recs.model d, recs.model s WHERE d.name = 'cf_sg3_d' AND s.name = 'cf_sg3_s'
                  AND d.metrics->'citus_flat' = 'true' AND d.metrics->>'validation_auc' IS NOT NULL),
              '<', 1e-9::float8, '''{segment,topic}'' with TRON: flat, objective within 1e-9 relative, validation AUC within 1e-6');
SELECT cmp_ok((SELECT max(abs(a.x - b.x))
                 FROM (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg3_d')) a
                 JOIN (SELECT c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
                        WHERE c.model_id = recs.model_id('cf_sg3_s')) b USING (entity, i)), '<', 1e-6::float8,
              'and every coefficient within 1e-6');
DROP VIEW app.val_sg;

-- bad input to the workers' functions
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_blocks('\x00'::bytea, 1, NULL, NULL, '{1}', '{1}', NULL, NULL, NULL, NULL)$$,
                 'XX001', 'invalid glmix flat encoding', 'a damaged encoding is refused');
SELECT throws_ok($$SELECT recs._glmix_flat_fixed_final('\x0102'::bytea)$$,
                 'XX001', 'not a glmix flat aggregate state', 'and a forged aggregate state');
SELECT throws_ok($$SELECT recs._glmix_flat_entity_final('\x0102'::bytea)$$,
                 'XX001', 'not a glmix flat entity state', 'the segment effect''s final function refuses a forged state');
SELECT throws_ok($$SELECT recs._glmix_flat_entity_final(('\x45464d47' || '01000000' || '01000000' || '06000000'
                                                        || '00000000' || repeat('00', 40))::bytea)$$,
                 'XX001', 'not a glmix flat entity state', 'and one whose length is not its keys'' and dimension''s');
SELECT is(recs._glmix_flat_add('{1,2}', NULL), '{1,2}'::float8[], '_glmix_flat_add: a NULL operand is none');
SELECT is(recs._glmix_flat_add('{1,2}', '{0.5,-2}'), '{1.5,0}'::float8[], 'and two are added element by element');
SELECT throws_ok($$SELECT recs._glmix_flat_grad_final('\x0102'::bytea)$$,
                 'XX001', 'not a glmix flat aggregate state', 'TRON''s final function refuses a forged state');
-- a well-formed loss state (magic "GMFS", dimension 0, 3 sums) is not a gradient state
SELECT throws_ok($$SELECT recs._glmix_flat_grad_final(('\x53464d47' || '00000000' || '03000000' || repeat('00', 8)
                                                      || repeat('00', 8) || repeat('00', 24))::bytea)$$,
                 'XX001', 'not a glmix flat gradient state', 'nor a state of the loss aggregate');
SELECT throws_ok($$SELECT recs._glmix_flat_grad_final(('\x47464d47' || '02000000' || '05000000' || repeat('00', 8)
                                                      || repeat('00', 8) || repeat('00', 40))::bytea)$$,
                 'XX001', 'not a glmix flat aggregate state', 'nor a gradient state whose length fits neither form');
-- a gradient state of dimension 1 without a product: 2 rows, weight 1.5, loss 0.75, gradient -0.25
SELECT is(recs._glmix_flat_grad_final(('\x47464d47' || '01000000' || '03000000' || repeat('00', 8)
                                       || '0200000000000000' || '000000000000f83f' || '000000000000e83f'
                                       || '000000000000d0bf')::bytea),
          '{2,1.5,0.75,-0.25}'::float8[], 'and reads a well-formed one: rows, weight, loss, gradient (a known answer)');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows('\x0102'::bytea, NULL, NULL, '{0}', '{1}', NULL, NULL, 3, true, NULL, NULL)$$,
                 'XX001', 'invalid glmix block', 'the course rows'' builder refuses a forged block');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows('\x0102'::bytea, NULL, NULL, '{0}', '{1}', NULL, NULL, 5000, true, NULL, NULL)$$,
                 '54000', 'per-course dimension 5000 is outside 1..1024', 'and a dimension out of range');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{2,1}', '{0,0,0,0}', 2, true, NULL, NULL)$$,
                 '22023', 'model keys must ascend', 'the course scores refuse unordered model keys');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{1,2}', '{0,0,0}', 2, true, NULL, NULL)$$,
                 '2202E', '3 course coefficients for 2 keys of dimension 2', 'coefficients of the wrong length');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{1,0}', '{1,1}', '{1,2}', '{0,0,0,0}', 2, true, NULL, NULL)$$,
                 '22023', 'learner features must ascend from 0, their values be finite', 'learner features out of order');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{1,2}', '{0,0,0,NaN}', 2, true, NULL, NULL)$$,
                 '22023', 'course coefficients must be finite', 'and a NaN coefficient');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{0}', '{0,0}', 2, true, '{2,1}', '{0,0}')$$,
                 '22023', 'key_course_ids must ascend', 'a course-to-key map out of order');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{0}', '{0,0}', 2, true, '{1,2}', '{0}')$$,
                 '2202E', '1 keys for 2 course ids', 'or of two lengths');
SELECT throws_ok($$SELECT recs._glmix_flat_course_scores('{1,2}', '{0}', '{1}', '{0}', '{0,0}', 2, true, '{1,2}', NULL)$$,
                 '22004', 'key_course_ids and keys must both be NULL or both be given', 'or half of one');
SELECT is(recs._glmix_flat_course_scores('{1,2,3}', '{0}', '{2}', '{1,3}', '{0.5,1,-1,2}', 2, true, NULL, NULL),
          '{2.5,0,3}'::float8[], 'and scores z_l . coef_c, 0 for a course without a model (a known answer)');
SELECT is(recs._glmix_flat_course_scores('{1,2,3,4}', '{0}', '{2}', '{0,7}', '{0.5,1,-1,2}', 2, true,
                                         '{1,2,3}', '{7,0,7}'),
          '{3,2.5,3,0}'::float8[], 'through a course-to-key map: keys 7, 0, 7 and none (a known answer)');

-- nothing left behind
SELECT is((SELECT count(*)::int FROM pg_dist_partition WHERE logicalrelid::text LIKE 'recs.glmix_work%'), 0,
          'no flat work relation is left in Citus''s catalog');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM pg_class WHERE relname LIKE 'glmix_work%'$$)),
          ARRAY['0', '0'], 'nor any of their shards on the workers');

SELECT recs.drop_model(recs.model_id(n))
  FROM unnest('{cf_le_d,cf_le_s,cf_le_r,cf_win_d,cf_win_s,cf_w_d,cf_w_s,cf_uw_d,cf_ce_d,cf_v_d,cf_v_s,cf_lc_d,cf_lc_s,cf_c_d,cf_c_s,cf_t_d,cf_t_s,cf_tr_d,cf_tr_s,cf_h_d,cf_h_s}'::text[]) n;
SELECT * FROM finish();
