-- workers_glmix_flat_multi.sql -- train_glmix on Citus with a flat coordinator
-- (src/glmix/glmix_flat.c) for a model with several effects keyed by learner
-- attributes and several course-side effects (per course, per course
-- attribute).  Each learner attribute's keys sit in their own relation beside
-- the blocks, its statistics' offsets take the learner coefficients plus the
-- other segments' (recs._glmix_flat_add); each course-side effect has its own
-- scores beside the blocks and its own relations by key, its rows' offsets the
-- other course-side effects' scores (recs._glmix_flat_course_rows' overload of
-- twelve).  Checked here: those statements' plans run in the shards' tasks
-- (the rows by repartition); the overload's known answer and refusals; the
-- flat fits equal the single-table ones (objective within 1e-9 relative,
-- every coefficient within 1e-6, the same coefficient rows, entity models and
-- recs.model_learner rows) for '{learner_id,course_id,topic}',
-- '{learner_id,segment,industry}', two attributes without a learner effect,
-- all six kinds with min_rows, and TRON with validation; learner-side
-- effects with and without an intercept take the earlier Citus path; nothing
-- is left behind.
-- The helpers shared with the other flat tests (plan_of, in_tasks,
-- task_count) are in flat_helpers.psql; this file's own are below it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(42);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
\ir flat_helpers.psql
-- the flat model d against the single-table model s: on the flat path, the
-- objective's relative difference, the largest coefficient difference (joined
-- on coordinate, entity and active rows), and whether the coefficient rows
-- (per coordinate) and the entity models are the same
CREATE FUNCTION pg_temp.flat(d text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT metrics->'citus_flat' FROM recs.model WHERE name = d
$$;
CREATE FUNCTION pg_temp.obj(d text, s text) RETURNS float8 LANGUAGE sql AS $$
	SELECT abs((a.metrics->>'objective')::float8 / (b.metrics->>'objective')::float8 - 1)
	  FROM recs.model a, recs.model b WHERE a.name = d AND b.name = s
$$;
CREATE FUNCTION pg_temp.coef(d text, s text) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(abs(a.x - b.x))
	  FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(d)) a
	  JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(s)) b USING (coordinate, entity, rows, i)
$$;
CREATE FUNCTION pg_temp.same_rows(d text, s text) RETURNS boolean LANGUAGE sql AS $$
	SELECT (SELECT jsonb_object_agg(coordinate, n) FROM (SELECT coordinate, count(*) AS n FROM recs.glmix_coef
	          WHERE model_id = recs.model_id(d) GROUP BY coordinate) x)
	     = (SELECT jsonb_object_agg(coordinate, n) FROM (SELECT coordinate, count(*) AS n FROM recs.glmix_coef
	          WHERE model_id = recs.model_id(s) GROUP BY coordinate) x)
	   AND (SELECT a.metrics->'entity_models' = b.metrics->'entity_models' AND a.metrics->'train_rows' = b.metrics->'train_rows'
	          FROM recs.model a, recs.model b WHERE a.name = d AND b.name = s)
	   AND NOT EXISTS (SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id(d)
	                   EXCEPT ALL SELECT side, id, keys FROM recs.glmix_entity WHERE model_id = recs.model_id(s))
	   AND NOT EXISTS (SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id(d)
	                   EXCEPT ALL SELECT learner_id, language, watched FROM recs.model_learner WHERE model_id = recs.model_id(s))
$$;
\ir ../fuzz/blocks.sql
RESET citus.enable_ddl_propagation;

-- the statements of glmix_flat.c with two segments (g, g2) and two course-side
-- effects (cs, cs2), on work tables made the same way
CREATE UNLOGGED TABLE recs.ct_fm (learner_id bigint NOT NULL, block_no integer NOT NULL, fblock bytea,
    rblock bytea, rows integer NOT NULL, positives integer NOT NULL, courses bigint[]);
CREATE UNLOGGED TABLE recs.ct_fm_coef (learner_id bigint NOT NULL, rows integer NOT NULL, coef float8[]);
CREATE UNLOGGED TABLE recs.ct_fm_learners (learner_id bigint NOT NULL, col integer[] NOT NULL, val float8[] NOT NULL);
CREATE UNLOGGED TABLE recs.ct_fm_cscore (learner_id bigint NOT NULL, block_no integer NOT NULL, cscore float8[]);
CREATE UNLOGGED TABLE recs.ct_fm_cscore_2 (learner_id bigint NOT NULL, block_no integer NOT NULL, cscore float8[]);
CREATE UNLOGGED TABLE recs.ct_fm_keys (learner_id bigint NOT NULL, key integer NOT NULL, scoef float8[]);
CREATE UNLOGGED TABLE recs.ct_fm_keys_2 (learner_id bigint NOT NULL, key integer NOT NULL, scoef float8[]);
CREATE UNLOGGED TABLE recs.ct_fm_crows_2 (key bigint NOT NULL, block bytea NOT NULL, offsets float8[] NOT NULL);
SELECT create_distributed_table('recs.ct_fm', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_coef', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_learners', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_cscore', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_cscore_2', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_keys', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_keys_2', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_crows_2', 'key', colocate_with => 'none', shard_count => 8);

-- the second course-side effect's rows: the first one's scores and both segments' coefficients in their offsets
\set crows2 'INSERT INTO recs.ct_fm_crows_2 (key, block, offsets) SELECT s.key, s.block, s.offsets FROM recs.ct_fm w LEFT JOIN recs.ct_fm_coef c ON c.learner_id = w.learner_id LEFT JOIN recs.ct_fm_keys g ON g.learner_id = w.learner_id LEFT JOIN recs.ct_fm_keys_2 g2 ON g2.learner_id = w.learner_id LEFT JOIN recs.ct_fm_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no LEFT JOIN recs.ct_fm_learners v ON v.learner_id = w.learner_id, LATERAL recs._glmix_flat_course_rows(w.fblock, w.rblock, recs._glmix_flat_add(recs._glmix_flat_add(c.coef, g.scoef), g2.scoef), \'{0}\', w.courses, v.col, v.val, 3, true, \'{1,2}\', \'{0,0}\', cs.cscore) s WHERE w.fblock IS NOT NULL'
SELECT ok(pg_temp.plan_of(:'crows2')::text LIKE '%"INSERT/SELECT method": "repartition"%',
          'a second course-side effect''s rows, the first one''s scores in their offsets, go by repartition: worker to worker');
SELECT is(pg_temp.task_count(:'crows2'), 8, 'their SELECT (blocks, coefficients, both segments'' keys, the other scores: co-located) runs in one task per shard');
SELECT ok(pg_temp.in_tasks(:'crows2', 'Function Scan'), 'with the rows built inside the tasks');
-- the fixed effect's statistics and the loss: both course scores added, both segments' scores
\set fixed 'SELECT recs._glmix_flat_fixed_stats(w.fblock, w.rblock, c.coef, \'{0}\'::float8[], coalesce(recs._glmix_flat_scores(w.rblock, recs._glmix_flat_add(g.scoef, g2.scoef), recs._glmix_flat_add(cs.cscore, cs2.cscore)), recs._glmix_flat_add(cs.cscore, cs2.cscore))) FROM recs.ct_fm w LEFT JOIN recs.ct_fm_coef c ON c.learner_id = w.learner_id LEFT JOIN recs.ct_fm_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no LEFT JOIN recs.ct_fm_cscore_2 cs2 ON cs2.learner_id = w.learner_id AND cs2.block_no = w.block_no LEFT JOIN recs.ct_fm_keys g ON g.learner_id = w.learner_id LEFT JOIN recs.ct_fm_keys_2 g2 ON g2.learner_id = w.learner_id'
SELECT ok(pg_temp.in_tasks(:'fixed', 'Aggregate')
          AND pg_temp.plan_of(:'fixed')::text ~ '(worker_partial_agg.*coord_combine_agg|coord_combine_agg.*worker_partial_agg)',
          'Newton''s statistics with two course-side effects and two segments: a partial aggregate in the tasks');
-- the second segment's statistics: the first one's coefficients beside the learner's
\set seg2 'SELECT recs._glmix_flat_entity_stats(w.rblock, recs._glmix_flat_scores(w.fblock, \'{0}\'::float8[], coalesce(recs._glmix_flat_scores(w.rblock, recs._glmix_flat_add(c.coef, g.scoef), recs._glmix_flat_add(cs.cscore, cs2.cscore)), recs._glmix_flat_add(cs.cscore, cs2.cscore))), g2.key, \'{0,0,0}\', 3) FROM recs.ct_fm w JOIN recs.ct_fm_keys_2 g2 ON g2.learner_id = w.learner_id LEFT JOIN recs.ct_fm_coef c ON c.learner_id = w.learner_id LEFT JOIN recs.ct_fm_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no LEFT JOIN recs.ct_fm_cscore_2 cs2 ON cs2.learner_id = w.learner_id AND cs2.block_no = w.block_no LEFT JOIN recs.ct_fm_keys g ON g.learner_id = w.learner_id WHERE w.rblock IS NOT NULL'
SELECT ok(pg_temp.in_tasks(:'seg2', 'Aggregate')
          AND pg_temp.plan_of(:'seg2')::text ~ '(worker_partial_agg.*coord_combine_agg|coord_combine_agg.*worker_partial_agg)',
          'a second segment''s per-key statistics, the first one''s in its offsets: a partial aggregate in the tasks');
-- the learner effect's refit with every other score
SELECT ok(pg_temp.in_tasks(
            $$UPDATE recs.ct_fm_coef c SET coef = f.coef FROM
                (SELECT w.learner_id AS l, recs.glmix_entity_fit(w.rblock, recs._glmix_flat_scores(w.fblock, '{0}'::float8[],
                        coalesce(recs._glmix_flat_scores(w.rblock, recs._glmix_flat_add(g.scoef, g2.scoef),
                                 recs._glmix_flat_add(cs.cscore, cs2.cscore)), recs._glmix_flat_add(cs.cscore, cs2.cscore))),
                        s.coef, 1::float8) AS coef
                   FROM recs.ct_fm w JOIN recs.ct_fm_coef s ON s.learner_id = w.learner_id
                   LEFT JOIN recs.ct_fm_cscore cs ON cs.learner_id = w.learner_id AND cs.block_no = w.block_no
                   LEFT JOIN recs.ct_fm_cscore_2 cs2 ON cs2.learner_id = w.learner_id AND cs2.block_no = w.block_no
                   LEFT JOIN recs.ct_fm_keys g ON g.learner_id = w.learner_id
                   LEFT JOIN recs.ct_fm_keys_2 g2 ON g2.learner_id = w.learner_id
                  WHERE w.rblock IS NOT NULL GROUP BY w.learner_id) f
               WHERE c.learner_id = f.l$$, 'ModifyTable'),
          'the learner effect''s fit, with both segments'' and both course-side effects'' scores, runs inside the tasks');
DROP TABLE recs.ct_fm, recs.ct_fm_coef, recs.ct_fm_learners, recs.ct_fm_cscore, recs.ct_fm_cscore_2,
           recs.ct_fm_keys, recs.ct_fm_keys_2, recs.ct_fm_crows_2;

-- the overload of twelve: the row scores add to the offsets x . beta (a known answer)
SELECT is((SELECT array_agg(s.offsets ORDER BY s.key)::text FROM recs._glmix_flat_course_rows(
             blocks_fuzz.block(2, 3, 3, -1, 3, 0, 0, 0, 0, '{1,0}', '{1,2}', '{0,2,3}', NULL, '{0,2,1}', NULL),
             NULL, NULL, '{0.5,-0.25,1}', '{7,8}', NULL, NULL, 1, true, NULL, NULL, NULL) s),
          '{{1.5},{-0.25}}', '_glmix_flat_course_rows: the offsets x . beta (rows 0 and 2, then 1)');
SELECT is((SELECT array_agg(s.offsets ORDER BY s.key)::text FROM recs._glmix_flat_course_rows(
             blocks_fuzz.block(2, 3, 3, -1, 3, 0, 0, 0, 0, '{1,0}', '{1,2}', '{0,2,3}', NULL, '{0,2,1}', NULL),
             NULL, NULL, '{0.5,-0.25,1}', '{7,8}', NULL, NULL, 1, true, NULL, NULL, '{0.25,-1}') s),
          '{{1.75},{-1.25}}', 'and with the other course-side effects'' row scores, each row''s added');
SELECT is((SELECT array_agg(s.offsets ORDER BY s.key)::text FROM recs._glmix_flat_course_rows(
             blocks_fuzz.block(2, 3, 3, -1, 3, 0, 0, 0, 0, '{1,0}', '{1,2}', '{0,2,3}', NULL, '{0,2,1}', NULL),
             NULL, NULL, '{0.5,-0.25,1}', '{7,7}', NULL, NULL, 1, true, NULL, NULL, '{0.25,-1}') s),
          '{{1.75,-1.25}}', 'also when both rows have one key');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows(
                     blocks_fuzz.block(2, 3, 3, -1, 3, 0, 0, 0, 0, '{1,0}', '{1,2}', '{0,2,3}', NULL, '{0,2,1}', NULL),
                     NULL, NULL, '{0.5,-0.25,1}', '{7,8}', NULL, NULL, 1, true, NULL, NULL, '{1}')$$,
                 '2202E', '1 row scores for a block of 2 rows', 'row scores of another length are refused');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows(
                     blocks_fuzz.block(2, 3, 3, -1, 3, 0, 0, 0, 0, '{1,0}', '{1,2}', '{0,2,3}', NULL, '{0,2,1}', NULL),
                     NULL, NULL, '{0.5,-0.25,1}', '{7,8}', NULL, NULL, 1, true, NULL, NULL, '{1,NaN}')$$,
                 '22023', 'row scores must be finite', 'and a NaN one');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_course_rows('\x0102'::bytea, NULL, NULL, '{0}', '{1}', NULL, NULL, 3, true,
                                                              NULL, NULL, '{0}')$$,
                 'XX001', 'invalid glmix block', 'and a forged block');

-- a per-course effect and a course attribute's (topic): '{learner_id,course_id,topic}'
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fm_lct_d', random_effects => '{learner_id,course_id,topic}',
                        activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry}',
                        '{language,topic,difficulty}', name => 'fm_lct_s', random_effects => '{learner_id,course_id,topic}',
                        activate => false);
SELECT is(pg_temp.flat('fm_lct_d'), 'true'::jsonb, '''{learner_id,course_id,topic}'': the flat path');
SELECT cmp_ok(pg_temp.obj('fm_lct_d', 'fm_lct_s'), '<', 1e-9::float8, 'its objective within 1e-9 relative of the single-table fit');
SELECT cmp_ok(pg_temp.coef('fm_lct_d', 'fm_lct_s'), '<', 1e-6::float8,
              'every coefficient (fixed, per learner, per course, per topic) within 1e-6');
SELECT ok(pg_temp.same_rows('fm_lct_d', 'fm_lct_s'),
          'the same coefficient rows per coordinate, entity models, entities and recs.model_learner rows');
SELECT is((SELECT count(*)::int FROM recs.glmix_coef WHERE model_id = recs.model_id('fm_lct_d') AND coordinate = 'topic'),
          (SELECT count(DISTINCT topic)::int FROM single.courses), 'a model for every topic');

-- two learner attributes beside the learner effect: '{learner_id,segment,industry}'
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language}', '{language,topic,difficulty}',
                        name => 'fm_lsi_d', random_effects => '{learner_id,segment,industry}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language}', '{language,topic,difficulty}',
                        name => 'fm_lsi_s', random_effects => '{learner_id,segment,industry}', activate => false);
SELECT is(pg_temp.flat('fm_lsi_d'), 'true'::jsonb, '''{learner_id,segment,industry}'': the flat path');
SELECT cmp_ok(pg_temp.obj('fm_lsi_d', 'fm_lsi_s'), '<', 1e-9::float8, 'its objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef('fm_lsi_d', 'fm_lsi_s'), '<', 1e-6::float8, 'every coefficient (per segment, per industry too) within 1e-6');
SELECT ok(pg_temp.same_rows('fm_lsi_d', 'fm_lsi_s'), 'the same coefficient rows, entity models, entities and learners');

-- two learner attributes alone (no learner effect: z(c) for every row)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'fm_sl_d', random_effects => '{segment,language}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry}', '{topic}',
                        name => 'fm_sl_s', random_effects => '{segment,language}', activate => false);
SELECT is(pg_temp.flat('fm_sl_d'), 'true'::jsonb, '''{segment,language}'' (two learner attributes): the flat path');
SELECT cmp_ok(greatest(pg_temp.obj('fm_sl_d', 'fm_sl_s'), pg_temp.coef('fm_sl_d', 'fm_sl_s') * 1e-3), '<', 1e-9::float8,
              'its objective within 1e-9 relative, every coefficient within 1e-6');
SELECT ok(pg_temp.same_rows('fm_sl_d', 'fm_sl_s'), 'the same coefficient rows and entities');

-- all six kinds in one model, min_rows 30 (some courses and learners without a model)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language}', '{language,difficulty}',
                        name => 'fm_all_d', random_effects => '{learner_id,course_id,segment,topic,industry,difficulty}',
                        min_rows => 30, label => 'either', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language}', '{language,difficulty}',
                        name => 'fm_all_s', random_effects => '{learner_id,course_id,segment,topic,industry,difficulty}',
                        min_rows => 30, label => 'either', activate => false);
SELECT is(pg_temp.flat('fm_all_d'), 'true'::jsonb, 'six effects (learner, course, two learner and two course attributes): the flat path');
SELECT cmp_ok(pg_temp.obj('fm_all_d', 'fm_all_s'), '<', 1e-9::float8, 'its objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef('fm_all_d', 'fm_all_s'), '<', 1e-6::float8, 'every coefficient within 1e-6');
SELECT ok(pg_temp.same_rows('fm_all_d', 'fm_all_s'), 'the same coefficient rows, entity models, entities and learners');
SELECT cmp_ok((SELECT (metrics->'entity_models'->>'learner_id')::int FROM recs.model WHERE name = 'fm_all_d'),
              '<', (SELECT count(DISTINCT learner_id)::int FROM single.impressions), 'min_rows left some learners without a model');

-- two course attributes and two learner attributes, TRON, a validation relation
SET citus.enable_ddl_propagation = off;
CREATE VIEW app.val_fm AS SELECT * FROM single.impressions WHERE learner_id % 10 = 3;
RESET citus.enable_ddl_propagation;
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language}', '{difficulty}',
                        name => 'fm_tv_d', random_effects => '{topic,segment,difficulty,industry}', solver => 'tron',
                        validation => 'app.val_fm', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language}', '{difficulty}',
                        name => 'fm_tv_s', random_effects => '{topic,segment,difficulty,industry}', solver => 'tron',
                        validation => 'app.val_fm', activate => false);
SELECT is(pg_temp.flat('fm_tv_d'), 'true'::jsonb, '''{topic,segment,difficulty,industry}'' with TRON and validation: the flat path');
SELECT cmp_ok((SELECT greatest(pg_temp.obj('fm_tv_d', 'fm_tv_s'), pg_temp.coef('fm_tv_d', 'fm_tv_s') * 1e-3,
                               abs((d.metrics->>'validation_auc')::float8 - (s.metrics->>'validation_auc')::float8) * 1e-3,
                               abs((d.metrics->>'validation_logloss')::float8 - (s.metrics->>'validation_logloss')::float8) * 1e-3)
                 FROM recs.model d, recs.model s WHERE d.name = 'fm_tv_d' AND s.name = 'fm_tv_s'
                  AND d.metrics->>'validation_auc' IS NOT NULL),
              '<', 1e-9::float8, 'objective within 1e-9 relative, coefficients, validation AUC and log-loss within 1e-6');
SELECT ok(pg_temp.same_rows('fm_tv_d', 'fm_tv_s'), 'the same coefficient rows and entities');
SET citus.enable_ddl_propagation = off;
DROP VIEW app.val_fm;
RESET citus.enable_ddl_propagation;

-- learner attributes without an intercept beside learner-side effects with one: the
-- blocks' intercept column held at 0 for them
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic,difficulty}',
                        name => 'fm_i1_d', random_effects => '{learner_id,segment,course_id}',
                        intercepts => '{true,true,false,true}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry}', '{topic,difficulty}',
                        name => 'fm_i1_s', random_effects => '{learner_id,segment,course_id}',
                        intercepts => '{true,true,false,true}', activate => false);
SELECT is(pg_temp.flat('fm_i1_d'), 'true'::jsonb, 'a segment without an intercept beside a learner effect with one: the flat path');
SELECT cmp_ok(greatest(pg_temp.obj('fm_i1_d', 'fm_i1_s'), pg_temp.coef('fm_i1_d', 'fm_i1_s') * 1e-3), '<', 1e-9::float8,
              'its objective within 1e-9 relative, every coefficient within 1e-6');
SELECT ok(pg_temp.same_rows('fm_i1_d', 'fm_i1_s')
          AND (SELECT count(*) = 0 FROM recs.glmix_coef c WHERE c.model_id = recs.model_id('fm_i1_d') AND c.coordinate = 'segment'
                 AND cardinality(c.coef) <> (SELECT cardinality(coef) FROM recs.glmix_coef
                                               WHERE model_id = recs.model_id('fm_i1_s') AND coordinate = 'segment' LIMIT 1)),
          'the same rows, the segment''s coefficients stored without the intercept');
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language}', '{topic}',
                        name => 'fm_i2_d', random_effects => '{industry,segment}', intercepts => '{true,false,true}',
                        solver => 'tron', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language}', '{topic}',
                        name => 'fm_i2_s', random_effects => '{industry,segment}', intercepts => '{true,false,true}',
                        solver => 'tron', activate => false);
SELECT is(pg_temp.flat('fm_i2_d'), 'true'::jsonb, 'two learner attributes, the first without an intercept, the second with: the flat path');
SELECT cmp_ok(greatest(pg_temp.obj('fm_i2_d', 'fm_i2_s'), pg_temp.coef('fm_i2_d', 'fm_i2_s') * 1e-3), '<', 1e-9::float8,
              'its objective within 1e-9 relative, every coefficient within 1e-6');
SELECT ok(pg_temp.same_rows('fm_i2_d', 'fm_i2_s'), 'the same coefficient rows and entities');
-- a learner effect without an intercept beside a learner attribute with one: its fit
-- would take the blocks' intercept column; the earlier path, the same model
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'fm_int_d', random_effects => '{learner_id,segment}', intercepts => '{true,false,true}',
                        passes => 1, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry}', '{topic}',
                        name => 'fm_int_s', random_effects => '{learner_id,segment}', intercepts => '{true,false,true}',
                        passes => 1, activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', metrics->'citus_shards') FROM recs.model WHERE name = 'fm_int_d'),
          '[null, 8]'::jsonb, 'a learner effect without an intercept beside a segment with one: the earlier Citus path');
SELECT cmp_ok(pg_temp.obj('fm_int_d', 'fm_int_s'), '<', 1e-9::float8, 'and the same model as on one node');

-- nothing left behind
SELECT is((SELECT count(*)::int FROM pg_dist_partition WHERE logicalrelid::text LIKE 'recs.glmix_work%'), 0,
          'no flat work relation is left in Citus''s catalog');
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT count(*) FROM pg_class WHERE relname LIKE 'glmix_work%'$$)),
          ARRAY['0', '0'], 'nor any of their shards on the workers');

SET citus.enable_ddl_propagation = off;
DROP SCHEMA blocks_fuzz CASCADE;
RESET citus.enable_ddl_propagation;
SELECT count(recs.drop_model(model_id)) FROM recs.model WHERE name LIKE 'fm\_%';
SELECT * FROM finish();
