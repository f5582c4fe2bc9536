-- workers_glmix_flat_l2auto.sql -- l2_auto on GLMix's flat Citus path, and
-- validation rows scored on the workers (src/glmix/glmix_flat_l2auto.c,
-- glmix_flat_valid_workers.c, glmix_agg_flat_valid.c).  The search's split
-- of distributed impressions takes no view: its cutoff, percentile_disc(0.9)
-- of the time, is found by pushed-down counts and histograms, the training
-- part is the impressions up to just before it (`through`), the validation
-- slice's blocks are built in the shards' tasks and scored there each pass
-- (a histogram of scores by label, the log-loss summed per bucket, the
-- mixed buckets' distinct scores for the exact AUC).  Checked here: those
-- statements run in the shards' tasks; the cutoff is percentile_disc's; the
-- flat search picks the single-table search's l2 values with the same
-- figures (metrics->'l2_search' equal), the model equals the single-table
-- one (objective within 1e-9 relative, coefficients within 1e-6); a
-- validation relation distributed by learner is scored on the workers with
-- the single-table figures; bad input to the workers' function is refused;
-- nothing is left behind.
-- The helpers shared with the other flat tests (plan_of, in_tasks,
-- task_count) are in flat_helpers.psql; this file's own are below it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(35);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
\ir flat_helpers.psql
-- the largest difference of two models' coefficients (matched by coordinate, entity, index)
CREATE FUNCTION pg_temp.coef_diff(a text, b text) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(abs(x.v - y.v))
	  FROM (SELECT c.coordinate, c.entity, u.v, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(v, i)
	         WHERE c.model_id = recs.model_id(a)) x
	  JOIN (SELECT c.coordinate, c.entity, u.v, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(v, i)
	         WHERE c.model_id = recs.model_id(b)) y USING (coordinate, entity, i)
$$;
-- the search's figures without the AUCs, and its AUCs, point by point
CREATE FUNCTION pg_temp.search_points(m text) RETURNS TABLE (k int, g int, l2 float8, ll float8, auc float8)
LANGUAGE sql AS $$
	SELECT c.k::int, p.g::int, (p.x->>'l2')::float8, (p.x->>'validation_logloss')::float8, (p.x->>'validation_auc')::float8
	  FROM recs.model, jsonb_array_elements(metrics->'l2_search'->'coordinates') WITH ORDINALITY c(x, k),
	       jsonb_array_elements(c.x->'grid') WITH ORDINALITY p(x, g)
	 WHERE name = m
$$;
RESET citus.enable_ddl_propagation;

-- the statements, on work tables made as glmix_flat.c and glmix_flat_valid_workers.c make them
CREATE UNLOGGED TABLE recs.ct_fv (learner_id bigint NOT NULL, block_no integer NOT NULL, fblock bytea,
    rblock bytea, rows integer NOT NULL, positives integer NOT NULL, null_id bigint NOT NULL,
    null_label bigint NOT NULL, courses bigint[]);
CREATE UNLOGGED TABLE recs.ct_fv_coef (learner_id bigint NOT NULL, rows integer NOT NULL, coef float8[]);
CREATE UNLOGGED TABLE recs.ct_fv_learners (learner_id bigint NOT NULL, col integer[] NOT NULL, val float8[] NOT NULL);
SELECT create_distributed_table('recs.ct_fv', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fv_coef', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fv_learners', 'learner_id', colocate_with => 'app.impressions');

SELECT ok(pg_temp.in_tasks(
            $$SELECT count(date_part('epoch', shown_at))::int8, (count(*) FILTER (WHERE date_part('epoch', shown_at) = '-Infinity'))::int8,
                     min(date_part('epoch', shown_at)) FROM app.impressions$$, 'Aggregate'),
          'the cutoff: the times'' count and bounds are aggregated inside the shards'' tasks');
SELECT ok(pg_temp.in_tasks(
            $$SELECT count(*)::int8, min(e), max(e) FROM
                (SELECT width_bucket(date_part('epoch', shown_at), 0::float8, 2e9::float8, 1024) AS b,
                        date_part('epoch', shown_at) AS e FROM app.impressions
                  WHERE date_part('epoch', shown_at) >= 0::float8 AND date_part('epoch', shown_at) <= 2e9::float8) s
               GROUP BY b ORDER BY b$$, 'Aggregate'),
          'and so is each round''s histogram of 1024 buckets (grouped per shard, at most 1025 rows merged)');
SELECT ok(pg_temp.in_tasks(
            $$INSERT INTO recs.ct_fv SELECT g.l, b.block_no, b.fblock, b.rblock, b.rows, b.positives, b.null_id,
                     b.null_label, b.courses FROM
                (SELECT learner_id AS l, array_agg(course_id::int8) AS c, array_agg(clicked::int::float8) AS y1,
                        NULL::float8[] AS y2 FROM app.impressions WHERE shown_at >= '2025-12-10' GROUP BY learner_id) g
                LEFT JOIN recs.ct_fv_learners v ON v.learner_id = g.l,
                LATERAL recs._glmix_flat_blocks(NULL::bytea, g.l::int8, v.col, v.val, g.c, g.y1, g.y2, NULL, NULL, NULL) b$$,
            'ModifyTable')
          AND pg_temp.task_count(
            $$INSERT INTO recs.ct_fv SELECT g.l, b.block_no, b.fblock, b.rblock, b.rows, b.positives, b.null_id,
                     b.null_label, b.courses FROM
                (SELECT learner_id AS l, array_agg(course_id::int8) AS c, array_agg(clicked::int::float8) AS y1,
                        NULL::float8[] AS y2 FROM app.impressions WHERE shown_at >= '2025-12-10' GROUP BY learner_id) g
                LEFT JOIN recs.ct_fv_learners v ON v.learner_id = g.l,
                LATERAL recs._glmix_flat_blocks(NULL::bytea, g.l::int8, v.col, v.val, g.c, g.y1, g.y2, NULL, NULL, NULL) b$$) = 8,
          'the validation slice''s blocks are built and inserted inside the shards'' tasks, one per shard');
SELECT ok(pg_temp.in_tasks(
            $$SELECT s.bucket, (count(*) FILTER (WHERE s.positive))::int8, (count(*) FILTER (WHERE NOT s.positive))::int8,
                     sum(s.logloss), min(s.score), max(s.score)
                FROM recs.ct_fv w LEFT JOIN recs.ct_fv_coef c ON c.learner_id = w.learner_id,
                     LATERAL recs._glmix_flat_valid_rows(w.fblock, w.rblock, c.coef, '{0}', NULL) s
               GROUP BY s.bucket ORDER BY s.bucket$$, 'Aggregate')
          AND pg_temp.in_tasks(
            $$SELECT s.bucket, (count(*) FILTER (WHERE s.positive))::int8, (count(*) FILTER (WHERE NOT s.positive))::int8,
                     sum(s.logloss), min(s.score), max(s.score)
                FROM recs.ct_fv w LEFT JOIN recs.ct_fv_coef c ON c.learner_id = w.learner_id,
                     LATERAL recs._glmix_flat_valid_rows(w.fblock, w.rblock, c.coef, '{0}', NULL) s
               GROUP BY s.bucket ORDER BY s.bucket$$, 'Function Scan'),
          'each pass: the validation rows are scored and their histogram grouped inside the tasks');
SELECT ok(pg_temp.in_tasks(
            $$SELECT s.bucket, s.score, (count(*) FILTER (WHERE s.positive))::int8, count(*)::int8
                FROM recs.ct_fv w LEFT JOIN recs.ct_fv_coef c ON c.learner_id = w.learner_id,
                     LATERAL recs._glmix_flat_valid_rows(w.fblock, w.rblock, c.coef, '{0}', NULL) s
               WHERE s.bucket = ANY ('{1,2}') GROUP BY s.bucket, s.score ORDER BY s.score$$, 'Aggregate'),
          'and the mixed buckets'' distinct scores too');
DROP TABLE recs.ct_fv, recs.ct_fv_coef, recs.ct_fv_learners;

-- l2_auto, a fixed effect and a per-learner effect
SELECT current_setting('jit') AS jit_before, current_setting('citus.propagate_set_commands') AS psc_before \gset
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cfa_le_d', random_effects => '{learner_id}',
                        l2_auto => true, passes => 2, threads => 1, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'cfa_le_s', random_effects => '{learner_id}',
                        l2_auto => true, passes => 2, threads => 1, activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'cfa_le_d'), 'true'::jsonb,
          'l2_auto on distributed impressions takes the flat path');
SELECT is(current_setting('jit') || ' ' || current_setting('citus.propagate_set_commands'),
          :'jit_before' || ' ' || :'psc_before', 'and leaves the session''s jit and Citus settings as they were');
SELECT is((SELECT metrics->'l2_search'->>'validation_from' FROM recs.model WHERE name = 'cfa_le_d'),
          (SELECT (percentile_disc(0.9) WITHIN GROUP (ORDER BY shown_at))::text FROM single.impressions),
          'its cutoff is percentile_disc(0.9) of the times, exactly');
SELECT is((SELECT params->'l2' FROM recs.model WHERE name = 'cfa_le_d'),
          (SELECT params->'l2' FROM recs.model WHERE name = 'cfa_le_s'), 'the flat search chooses the single-table search''s l2 values');
SELECT is((SELECT metrics->'l2_search' FROM recs.model WHERE name = 'cfa_le_d'),
          (SELECT metrics->'l2_search' FROM recs.model WHERE name = 'cfa_le_s'),
          'with the same figures: rows, each grid point''s validation log-loss and AUC (exact: 6 decimals)');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cfa_le_d' AND s.name = 'cfa_le_s'),
              '<', 1e-9::float8, 'the model''s objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_diff('cfa_le_d', 'cfa_le_s'), '<', 1e-6::float8, 'every coefficient within 1e-6');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cfa_le_d')),
          (SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('cfa_le_s')), 'the same coefficient rows');

-- l2_auto with a learner, a segment and a course effect and a time window
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{topic,difficulty}', name => 'cfa_all_d', random_effects => '{learner_id,segment,course_id}',
                        through => '2025-12-12', l2_auto => true, passes => 1, threads => 1,
                        activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{topic,difficulty}', name => 'cfa_all_s', random_effects => '{learner_id,segment,course_id}',
                        through => '2025-12-12', l2_auto => true, passes => 1, threads => 1,
                        activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'l2', metrics->'l2_search'->'fit_rows',
                                    metrics->'l2_search'->'validation_rows')
             FROM recs.model WHERE name = 'cfa_all_d'),
          (SELECT jsonb_build_array(true, params->'l2', metrics->'l2_search'->'fit_rows',
                                    metrics->'l2_search'->'validation_rows')
             FROM recs.model WHERE name = 'cfa_all_s'),
          '''{learner_id,segment,course_id}'' with through: flat, the same l2 values and rows');
SELECT is((SELECT count(*)::int FROM pg_temp.search_points('cfa_all_d') d JOIN pg_temp.search_points('cfa_all_s') s
             USING (k, g) WHERE d.l2 = s.l2 AND abs(d.ll - s.ll) < 1e-6 AND abs(d.auc - s.auc) < 1e-6),
          (SELECT count(*)::int FROM pg_temp.search_points('cfa_all_s')),
          'every grid point''s l2, validation log-loss and AUC within 1e-6');
SELECT is((SELECT count(*)::int FROM pg_temp.search_points('cfa_all_s')), 20, 'of 4 coordinates x 5 points');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cfa_all_d' AND s.name = 'cfa_all_s'),
              '<', 1e-9::float8, 'the model''s objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_diff('cfa_all_d', 'cfa_all_s'), '<', 1e-6::float8, 'every coefficient within 1e-6');

-- several course-side and learner-attribute effects: each one's scores in the workers'
-- validation scores (all course-side effects' coefficients sent, the segments' joined)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{topic,difficulty}', name => 'cfa_multi_d', random_effects => '{learner_id,course_id,topic,segment,industry}',
                        l2_auto => true, passes => 1, threads => 1, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{topic,difficulty}', name => 'cfa_multi_s', random_effects => '{learner_id,course_id,topic,segment,industry}',
                        l2_auto => true, passes => 1, threads => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'l2') FROM recs.model WHERE name = 'cfa_multi_d'),
          (SELECT jsonb_build_array(true, params->'l2') FROM recs.model WHERE name = 'cfa_multi_s'),
          '''{learner_id,course_id,topic,segment,industry}'': flat, the same l2 values');
SELECT is((SELECT count(*)::int FROM pg_temp.search_points('cfa_multi_d') d JOIN pg_temp.search_points('cfa_multi_s') s
             USING (k, g) WHERE d.l2 = s.l2 AND abs(d.ll - s.ll) < 1e-6 AND abs(d.auc - s.auc) < 1e-6),
          30, 'every grid point''s l2, validation log-loss and AUC within 1e-6 (6 coordinates x 5 points)');
SELECT cmp_ok(pg_temp.coef_diff('cfa_multi_d', 'cfa_multi_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');

-- beside a channel: its rows' channel scores are not in the validation blocks, so the
-- search goes through the views (the rows path); the final training is flat
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{topic}', name => 'cfa_ch_d', random_effects => '{learner_id,channel}',
                        l2_auto => true, passes => 1, threads => 1, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{topic}', name => 'cfa_ch_s', random_effects => '{learner_id,channel}',
                        l2_auto => true, passes => 1, threads => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'l2') FROM recs.model WHERE name = 'cfa_ch_d'),
          (SELECT jsonb_build_array(true, params->'l2') FROM recs.model WHERE name = 'cfa_ch_s'),
          '''{learner_id,channel}'': the same l2 values, the model flat');
SELECT is((SELECT count(*)::int FROM pg_temp.search_points('cfa_ch_d') d JOIN pg_temp.search_points('cfa_ch_s') s
             USING (k, g) WHERE d.l2 = s.l2 AND abs(d.ll - s.ll) < 1e-6 AND abs(d.auc - s.auc) < 1e-6),
          15, 'every grid point''s figures within 1e-6 (3 coordinates x 5 points)');
SELECT cmp_ok(pg_temp.coef_diff('cfa_ch_d', 'cfa_ch_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');

-- a validation relation distributed by learner, co-located: scored on the workers
CREATE TABLE app.val_d (LIKE single.impressions);
ALTER TABLE app.val_d ALTER COLUMN clicked DROP NOT NULL;
SELECT create_distributed_table('app.val_d', 'learner_id', colocate_with => 'app.impressions');
INSERT INTO app.val_d SELECT * FROM single.impressions WHERE shown_at > '2025-12-10';
-- with a row of a course not in the courses relation, and one with a NULL label
INSERT INTO app.val_d (learner_id, course_id, shown_at, clicked, bookmarked, channel)
     SELECT learner_id, 999999, shown_at, true, false, channel FROM single.impressions ORDER BY learner_id, course_id LIMIT 1;
INSERT INTO app.val_d (learner_id, course_id, shown_at, clicked, bookmarked, channel)
     SELECT learner_id, course_id, shown_at, NULL, false, channel FROM single.impressions ORDER BY learner_id, course_id LIMIT 1;
CREATE TABLE single.val_d AS SELECT * FROM app.val_d;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'cfa_v_d', random_effects => '{learner_id,topic}', through => '2025-12-10',
                        validation => 'app.val_d', passes => 3, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'cfa_v_s', random_effects => '{learner_id,topic}', through => '2025-12-10',
                        validation => 'single.val_d', passes => 3, activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'cfa_v_d'), 'true'::jsonb,
          'a distributed validation relation: the flat path');
SELECT is((SELECT jsonb_build_array(metrics->'validation_auc', metrics->'validation_logloss') FROM recs.model WHERE name = 'cfa_v_d'),
          (SELECT jsonb_build_array(metrics->'validation_auc', metrics->'validation_logloss') FROM recs.model WHERE name = 'cfa_v_s'),
          'its validation AUC and log-loss are the single-table ones (the 6 decimals stored)');
SELECT is((SELECT jsonb_agg(jsonb_build_array(p->'validation_auc', p->'validation_logloss') ORDER BY (p->>'pass')::int)
             FROM recs.model m, jsonb_array_elements(m.metrics->'passes') p WHERE m.name = 'cfa_v_d'),
          (SELECT jsonb_agg(jsonb_build_array(p->'validation_auc', p->'validation_logloss') ORDER BY (p->>'pass')::int)
             FROM recs.model m, jsonb_array_elements(m.metrics->'passes') p WHERE m.name = 'cfa_v_s'),
          'pass by pass');
SELECT cmp_ok((SELECT abs((d.metrics->>'objective')::float8 / (s.metrics->>'objective')::float8 - 1)
                 FROM recs.model d, recs.model s WHERE d.name = 'cfa_v_d' AND s.name = 'cfa_v_s'),
              '<', 1e-9::float8, 'and the objective within 1e-9 relative');
DROP TABLE app.val_d, single.val_d;

-- a time column of type timestamp (a daylight-saving gap maps two local times to one epoch):
-- the search keeps the views (the rows path), the final training is flat, the same model
CREATE TABLE app.imp_ts (LIKE single.impressions);
ALTER TABLE app.imp_ts ALTER COLUMN shown_at TYPE timestamp;
SELECT create_distributed_table('app.imp_ts', 'learner_id', colocate_with => 'app.impressions');
INSERT INTO app.imp_ts SELECT * FROM single.impressions;
CREATE TABLE single.imp_ts AS SELECT * FROM app.imp_ts;
SELECT recs.train_glmix('app.imp_ts', 'app.learners', 'app.courses', '{industry,segment}', '{topic}',
                        name => 'cfa_ts_d', random_effects => '{learner_id}', l2_auto => true, passes => 1,
                        threads => 1, activate => false);
SELECT recs.train_glmix('single.imp_ts', 'single.learners', 'single.courses', '{industry,segment}', '{topic}',
                        name => 'cfa_ts_s', random_effects => '{learner_id}', l2_auto => true, passes => 1,
                        threads => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'l2', metrics->'l2_search') FROM recs.model WHERE name = 'cfa_ts_d'),
          (SELECT jsonb_build_array(true, params->'l2', metrics->'l2_search') FROM recs.model WHERE name = 'cfa_ts_s'),
          'a timestamp time column: the search on the rows path, the same choice and figures, the model flat');
SELECT cmp_ok(pg_temp.coef_diff('cfa_ts_d', 'cfa_ts_s'), '<', 1e-6::float8, 'every coefficient within 1e-6');
DROP TABLE app.imp_ts, single.imp_ts;

-- bad input to the workers' function
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_valid_rows('\x0102'::bytea, NULL, NULL, '{0}', NULL)$$,
                 'XX001', NULL, '_glmix_flat_valid_rows refuses a forged block');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_valid_rows('\x0102'::bytea, NULL, NULL, NULL, NULL)$$,
                 '22004', 'coefficients must not be NULL', 'and NULL coefficients');
SELECT is((SELECT count(*)::int FROM recs._glmix_flat_valid_rows(NULL, NULL, NULL, '{0}', NULL)), 0,
          'a NULL block has no rows');

-- nothing left behind
SELECT is((SELECT count(*)::int FROM pg_dist_partition WHERE logicalrelid::text LIKE 'recs.glmix_work%'), 0,
          'no flat work relation is left in Citus''s catalog');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relname LIKE 'recs_glmix_l2%'), 0, 'nor a view of the search');

SELECT recs.drop_model(recs.model_id(n))
  FROM unnest('{cfa_le_d,cfa_le_s,cfa_all_d,cfa_all_s,cfa_v_d,cfa_v_s,cfa_ts_d,cfa_ts_s}'::text[]) n;
SELECT * FROM finish();
