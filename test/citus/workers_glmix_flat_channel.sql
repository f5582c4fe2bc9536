-- workers_glmix_flat_channel.sql -- train_glmix on Citus with a flat
-- coordinator and an effect keyed by a column of the impressions, the
-- channel (src/glmix/glmix_flat_channel.c, glmix_agg_flat_channel.c): each
-- row's key kept beside the blocks, the per-key statistics summed in the
-- shards' tasks (a partial aggregate), Newton on the coordinator, the rows'
-- channel scores written back beside the blocks.  Checked here: the new
-- statements run in the shards' tasks; the flat fits equal the single-table
-- ones (objective within 1e-9 relative, every coefficient within 1e-6, the
-- same entity models and coefficient rows), with a learner and a course
-- effect, with a learner attribute's effect beside it, with min_rows and two
-- label columns, with TRON, a course attribute and a validation relation,
-- with NULL channels, a value seen only after `through`; the stored model
-- serves with a context as the single-table one; gates; bad input refused;
-- nothing left behind.
-- The helpers shared with the other flat tests (plan_of, in_tasks,
-- task_count) are in flat_helpers.psql; this file's own are below it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(36);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
\ir flat_helpers.psql
-- the objective's relative difference, or NULL when d is not flat or the entity models
-- or the counts (rows, positives, skipped rows) differ
CREATE FUNCTION pg_temp.obj_gap(d text, s text) RETURNS float8 LANGUAGE sql AS $$
	SELECT abs((dm.metrics->>'objective')::float8 / (sm.metrics->>'objective')::float8 - 1)
	  FROM recs.model dm, recs.model sm
	 WHERE dm.name = d AND sm.name = s AND dm.metrics->'citus_flat' = 'true'
	   AND dm.metrics->'entity_models' = sm.metrics->'entity_models'
	   AND dm.metrics->'train_rows' = sm.metrics->'train_rows'
	   AND dm.metrics->'train_positive' = sm.metrics->'train_positive'
	   AND dm.metrics->'skipped' = sm.metrics->'skipped'
$$;
-- the largest coefficient difference, or NULL when the coefficient rows differ in number
CREATE FUNCTION pg_temp.coef_gap(d text, s text) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(abs(a.x - b.x))
	  FROM (SELECT c.coordinate, c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(d)) a
	  JOIN (SELECT c.coordinate, c.entity, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(s)) b USING (coordinate, entity, i)
	 WHERE (SELECT count(*) FROM recs.glmix_coef WHERE model_id = recs.model_id(d))
	     = (SELECT count(*) FROM recs.glmix_coef WHERE model_id = recs.model_id(s))
$$;
RESET citus.enable_ddl_propagation;

-- the statements of glmix_flat_channel.c, on work tables made the same way
CREATE UNLOGGED TABLE recs.ct_flat (learner_id bigint NOT NULL, block_no integer NOT NULL, fblock bytea,
    rblock bytea, rows integer NOT NULL, positives integer NOT NULL, nonzeros bigint NOT NULL,
    null_id bigint NOT NULL, null_label bigint NOT NULL, bad_time bigint NOT NULL,
    after_through bigint NOT NULL, t_max float8, watched bigint[], courses bigint[], keys integer[]);
CREATE UNLOGGED TABLE recs.ct_flat_coef (learner_id bigint NOT NULL, rows integer NOT NULL, coef float8[]);
CREATE UNLOGGED TABLE recs.ct_flat_learners (learner_id bigint NOT NULL, col integer[] NOT NULL, val float8[] NOT NULL);
CREATE UNLOGGED TABLE recs.ct_flat_hscore (learner_id bigint NOT NULL, block_no integer NOT NULL, hscore float8[]);
CREATE UNLOGGED TABLE recs.ct_flat_crows (key bigint NOT NULL, block bytea NOT NULL, offsets float8[] NOT NULL);
SELECT create_distributed_table('recs.ct_flat', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_coef', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_learners', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_hscore', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_flat_crows', 'key', colocate_with => 'none', shard_count => 8);

SELECT ok(pg_temp.in_tasks(
            $$INSERT INTO recs.ct_flat SELECT g.l, b.* FROM
                (SELECT learner_id AS l, array_agg(course_id::int8) AS c, array_agg(clicked::int::float8) AS y1,
                        array_agg(array_position('{feed,home,search}'::text[], channel::text) - 1) AS h
                   FROM app.impressions GROUP BY learner_id) g
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = g.l,
                LATERAL recs._glmix_flat_blocks(NULL::bytea, g.l::int8, v.col, v.val, g.c, g.y1, NULL, NULL, NULL, NULL, g.h) b$$,
            'ModifyTable'),
          'the blocks with their rows'' channel keys are built and inserted inside the shards'' tasks');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_channel_stats(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[],
                       coalesce(recs._glmix_flat_scores(w.rblock, c.coef, NULL::float8[]), NULL::float8[])),
                       w.keys, '{0,0,0}', 3)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
               WHERE w.rblock IS NOT NULL$$, 'Aggregate')
          AND pg_temp.plan_of(
            $$SELECT recs._glmix_flat_channel_stats(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[],
                       coalesce(recs._glmix_flat_scores(w.rblock, c.coef, NULL::float8[]), NULL::float8[])),
                       w.keys, '{0,0,0}', 3)
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
               WHERE w.rblock IS NOT NULL$$)::text ~ '(worker_partial_agg.*coord_combine_agg|coord_combine_agg.*worker_partial_agg)',
          'the channel''s per-key statistics are summed inside the tasks (worker_partial_agg, coord_combine_agg)');
SELECT ok(pg_temp.in_tasks(
            $$UPDATE recs.ct_flat_hscore h SET hscore = recs._glmix_flat_channel_scores(w.rblock, w.keys, '{0,0,0}', 3)
                FROM recs.ct_flat w WHERE h.learner_id = w.learner_id AND h.block_no = w.block_no$$, 'ModifyTable'),
          'the rows'' channel scores are written back beside the blocks inside the tasks');
SELECT ok(pg_temp.in_tasks(
            $$SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, '{0}'::float8[],
                       recs._glmix_flat_add(NULL::float8[], h.hscore))
                FROM recs.ct_flat w LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_hscore h ON h.learner_id = w.learner_id AND h.block_no = w.block_no$$,
            'Aggregate'),
          'the other coordinates'' statistics join them inside the tasks');
SELECT ok(pg_temp.plan_of(
            $$INSERT INTO recs.ct_flat_crows (key, block, offsets)
              SELECT s.key, s.block, s.offsets FROM recs.ct_flat w
                LEFT JOIN recs.ct_flat_coef c ON c.learner_id = w.learner_id
                LEFT JOIN recs.ct_flat_hscore h ON h.learner_id = w.learner_id AND h.block_no = w.block_no
                LEFT JOIN recs.ct_flat_learners v ON v.learner_id = w.learner_id,
                LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, c.coef, '{0}', w.courses, v.col, v.val, 3, true,
                                                     NULL, NULL, h.hscore) s
               WHERE w.fblock IS NOT NULL$$)::text LIKE '%"INSERT/SELECT method": "repartition"%',
          'and the course rows, with the channel scores in their offsets, still go by repartition');
DROP TABLE recs.ct_flat, recs.ct_flat_coef, recs.ct_flat_learners, recs.ct_flat_hscore, recs.ct_flat_crows;

-- a learner, a course and a channel effect
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch_d', random_effects => '{learner_id,course_id,channel}',
                        activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch_s', random_effects => '{learner_id,course_id,channel}',
                        activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'entity_models') FROM recs.model WHERE name = 'fch_d'),
          (SELECT jsonb_build_array(true, metrics->'entity_models') FROM recs.model WHERE name = 'fch_s'),
          '''{learner_id,course_id,channel}'': the flat path, with the single-table fit''s entity models');
SELECT cmp_ok(pg_temp.obj_gap('fch_d', 'fch_s'), '<', 1e-9::float8, 'its objective within 1e-9 relative, the same counts');
SELECT cmp_ok(pg_temp.coef_gap('fch_d', 'fch_s'), '<', 1e-6::float8,
              'every coefficient (fixed, per learner, per course, per channel) within 1e-6, the same rows');
SELECT is((SELECT array_agg(entity ORDER BY entity) FROM recs.glmix_coef
            WHERE model_id = recs.model_id('fch_d') AND coordinate = 'channel'),
          '{feed,home,search}'::text[], 'the channels stored as their values');
SELECT is((SELECT keyed_by FROM recs.glmix_coordinate WHERE model_id = recs.model_id('fch_d') AND name = 'channel'),
          'impression', 'keyed by the impressions, as on one node');
-- serving with the channel as context: the flat model's scores are the single-table model's
SELECT cmp_ok((SELECT max(abs(recs.glmix_score(recs.model_id('fch_d'), l, c, NULL, jsonb_build_object('channel', ch))
                            - recs.glmix_score(recs.model_id('fch_s'), l, c, NULL, jsonb_build_object('channel', ch))))
                 FROM generate_series(1, 40) l, generate_series(1, 10) c, unnest('{feed,home,search}'::text[]) ch),
              '<', 1e-6::float8, 'served with a channel as context: the same scores as the single-table model');
SELECT cmp_ok((SELECT max(abs(recs.glmix_score(recs.model_id('fch_d'), 7, c, NULL, '{"channel": "search"}')
                            - recs.glmix_score(recs.model_id('fch_d'), 7, c, NULL, '{"channel": "feed"}')))
                 FROM generate_series(1, 10) c),
              '>', 0.01::float8, 'and the channel moves the score');

-- the learner and channel effects alone, and in the other order with min_rows and two labels
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch2_d', random_effects => '{learner_id,channel}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch2_s', random_effects => '{learner_id,channel}', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch2_d', 'fch2_s'), '<', 1e-9::float8,
              '''{learner_id,channel}'': flat, the same entity models, objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fch2_d', 'fch2_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic}',
                        name => 'fch3_d', random_effects => '{channel,learner_id}', min_rows => 40,
                        label => 'either', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}', '{topic}',
                        name => 'fch3_s', random_effects => '{channel,learner_id}', min_rows => 40,
                        label => 'either', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch3_d', 'fch3_s'), '<', 1e-9::float8,
              '''{channel,learner_id}'' with min_rows 40 and label either: flat, objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fch3_d', 'fch3_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');

-- beside a learner attribute's effect (both over z(c))
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch4_d',
                        random_effects => '{learner_id,course_id,segment,channel}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch4_s',
                        random_effects => '{learner_id,course_id,segment,channel}', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch4_d', 'fch4_s'), '<', 1e-9::float8,
              '''{learner_id,course_id,segment,channel}'': flat, objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fch4_d', 'fch4_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');

-- without a learner effect, beside a course attribute's, TRON, and a validation relation
CREATE VIEW app.val_ch AS SELECT * FROM single.impressions WHERE learner_id % 10 = 3;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch5_d', random_effects => '{channel,topic}', solver => 'tron',
                        validation => 'app.val_ch', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch5_s', random_effects => '{channel,topic}', solver => 'tron',
                        validation => 'app.val_ch', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch5_d', 'fch5_s'), '<', 1e-9::float8,
              '''{channel,topic}'' with TRON: flat, objective within 1e-9 relative');
SELECT cmp_ok((SELECT abs((d.metrics->>'validation_auc')::float8 - (s.metrics->>'validation_auc')::float8)
                      + abs((d.metrics->>'validation_logloss')::float8 - (s.metrics->>'validation_logloss')::float8)
                 FROM recs.model d, recs.model s WHERE d.name = 'fch5_d' AND s.name = 'fch5_s'),
              '<', 1e-6::float8, 'the validation AUC and log-loss within 1e-6 (the channel scored on the coordinator)');
SELECT cmp_ok(pg_temp.coef_gap('fch5_d', 'fch5_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');
DROP VIEW app.val_ch;

-- NULL channels (rows kept, no channel effect) and a value seen only after `through` (no model)
CREATE TABLE app.imp_ch (LIKE single.impressions INCLUDING ALL);
ALTER TABLE app.imp_ch ALTER COLUMN channel DROP NOT NULL;
SELECT create_distributed_table('app.imp_ch', 'learner_id', colocate_with => 'app.impressions');
CREATE TABLE single.imp_ch (LIKE app.imp_ch INCLUDING ALL);
INSERT INTO single.imp_ch
SELECT learner_id, course_id, shown_at, clicked, bookmarked, watch_seconds,
       CASE WHEN (learner_id + course_id) % 5 = 0 THEN NULL
            WHEN shown_at > '2025-06-30' AND learner_id % 11 = 0 THEN 'kiosk' ELSE channel END
  FROM single.impressions;
INSERT INTO app.imp_ch SELECT * FROM single.imp_ch;
SELECT recs.train_glmix('app.imp_ch', 'app.learners', 'app.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch6_d', random_effects => '{learner_id,course_id,channel}', time_column => 'shown_at',
                        through => '2025-06-30', activate => false);
SELECT recs.train_glmix('single.imp_ch', 'single.learners', 'single.courses', '{language,industry}', '{topic,difficulty}',
                        name => 'fch6_s', random_effects => '{learner_id,course_id,channel}', time_column => 'shown_at',
                        through => '2025-06-30', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch6_d', 'fch6_s'), '<', 1e-9::float8,
              'NULL channels and a channel only after through: flat, the same entity models, objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fch6_d', 'fch6_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');
SELECT is((SELECT array_agg(entity ORDER BY entity) FROM recs.glmix_coef
            WHERE model_id = recs.model_id('fch6_d') AND coordinate = 'channel'),
          '{feed,home,search}'::text[], 'the value without training rows has no model');
DROP TABLE app.imp_ch, single.imp_ch;

-- beside several course-side and several learner-attribute effects: each course-side
-- effect's rows take the others' scores and the channel's, every other statement both
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch8_d',
                        random_effects => '{learner_id,course_id,topic,segment,industry,channel}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fch8_s',
                        random_effects => '{learner_id,course_id,topic,segment,industry,channel}', activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fch8_d', 'fch8_s'), '<', 1e-9::float8,
              '''{learner_id,course_id,topic,segment,industry,channel}'': flat, objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fch8_d', 'fch8_s'), '<', 1e-6::float8, 'and every coefficient within 1e-6');
SELECT is((SELECT array_agg(DISTINCT coordinate ORDER BY coordinate) FROM recs.glmix_coef WHERE model_id = recs.model_id('fch8_d')),
          '{channel,course_id,fixed,industry,learner_id,segment,topic}'::text[], 'and a coefficient row for every coordinate');

-- gates: the rows path
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic}',
                        name => 'fch9_d', random_effects => '{learner_id,channel}', max_rows => 40,
                        passes => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'fch9_d'),
          '[null, 8]'::jsonb, 'max_rows beside a channel (one node''s sample does not order its rows by channel): the earlier Citus path');
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic}',
                        name => 'fch10_d', random_effects => '{learner_id,segment,channel}', intercepts => '{true,true,false,true}',
                        passes => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'fch10_d'),
          '[null, 8]'::jsonb, 'a channel beside a learner attribute without the channel''s intercept: the earlier Citus path');
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}', '{topic}',
                        name => 'fch7_d', random_effects => '{learner_id,channel}', intercepts => '{true,true,false}',
                        passes => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'fch7_d'),
          '[null, 8]'::jsonb, 'a channel whose intercept is not the learner effect''s: the earlier Citus path');

-- bad input to the workers' functions
SELECT throws_ok($$SELECT recs._glmix_flat_channel_accum('\x0102'::bytea, NULL, NULL, NULL, NULL, NULL)$$,
                 'XX001', 'not a glmix flat entity state', 'the channel statistics refuse a forged state');
SELECT throws_ok($$SELECT recs._glmix_flat_channel_scores('\x0102'::bytea, '{0}', '{0}', 1)$$,
                 'XX001', 'invalid glmix block', 'the channel scores refuse a forged block');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_blocks('\x00'::bytea, 1, NULL, NULL, '{1}', '{1}', NULL, NULL, NULL, NULL, '{0}')$$,
                 'XX001', 'invalid glmix flat encoding', 'the keyed block builder refuses a damaged encoding');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows('\x0102'::bytea, NULL, NULL, '{0}', '{1}', NULL, NULL, 3, true, NULL, NULL, '{0}')$$,
                 'XX001', 'invalid glmix block', 'and the course rows with row scores a forged block');

-- nothing left behind
SELECT is((SELECT count(*)::int FROM pg_dist_partition WHERE logicalrelid::text LIKE 'recs.glmix_work%'), 0,
          'no flat work relation is left in Citus''s catalog');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM pg_class WHERE relname LIKE 'glmix_work%'$$)),
          ARRAY['0', '0'], 'nor any of their shards on the workers');

SELECT recs.drop_model(model_id) FROM recs.model WHERE name LIKE 'fch%';
SELECT * FROM finish();
