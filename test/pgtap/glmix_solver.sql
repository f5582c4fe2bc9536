-- glmix_solver.sql -- the fixed effect's matrix-free solver (TRON over
-- recs.glmix_fixed_block_grad): the same optimum as dense Newton, a fixed
-- effect beyond the old 8192 cap and the 16-bit block columns (an id x id
-- cross) that trains and serves, solver choice and memory errors, the
-- aggregate's known answers, partial plans and its hostile serialized states;
-- l2_auto's search on the latest tenth of the impressions (by shown_at or
-- time_column).
BEGIN;
SELECT plan(57);
SET LOCAL client_min_messages = warning;

SELECT recs.generate_sample('gs', 300, 60, 7);
-- the SQLSTATE and detail of the error a statement raises
CREATE FUNCTION pg_temp.detail_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c text;
    d text;
BEGIN
    EXECUTE q;
    RETURN '(no error)';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS c = RETURNED_SQLSTATE, d = PG_EXCEPTION_DETAIL;
    RETURN CASE WHEN c = 'XX001' THEN d ELSE c || ': ' || d END;
END $$;
-- the hint of the error a statement raises
CREATE FUNCTION pg_temp.hint_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    h text;
BEGIN
    EXECUTE q;
    RETURN '(no error)';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END $$;

-- ---------------------------------------------------------------------------
-- The aggregate on a one-row block (label 1, weight 1, one feature of value 1)
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE b1 AS SELECT '\x324d4c47010000000100000001000000ffffffff030000000100000001000000000000000000000000000000000000000000f03f000000000000f03f00000000010000000000000000000000'::bytea AS b;
-- margin 0: loss log 2, gradient p - y = -0.5, H v = p (1 - p) v = 0.25 v
SELECT is((SELECT recs.glmix_fixed_block_grad(b, NULL, '{0}', '{2}') FROM b1),
          ARRAY[1, 1, ln(2), -0.5, 0.5]::float8[], 'known answer at margin 0: rows, weight, loss, gradient, H v');
-- margin 0.5 + 0.25: loss log(1 + e^-0.75), gradient sigmoid(0.75) - 1, no product without a direction
SELECT ok((SELECT abs(g[3] - ln(1 + exp(-0.75))) < 1e-15 AND abs(g[4] - (1 / (1 + exp(-0.75)) - 1)) < 1e-15
                  AND cardinality(g) = 4
             FROM (SELECT recs.glmix_fixed_block_grad(b, '{0.5}', '{0.25}', NULL) g FROM b1) x),
          'offsets and coefficients enter the margin; no direction, no product');
-- the gradient agrees with the dense aggregate's
SELECT is((SELECT (recs.glmix_fixed_block_grad(b, '{0.5}', '{0.25}', NULL))[1:4] FROM b1),
          (SELECT (recs.glmix_fixed_block_stats(b, '{0.5}', '{0.25}'))[1:4] FROM b1),
          'rows, weight, loss and gradient equal glmix_fixed_block_stats''s');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_grad(b, NULL, '{0}', '{1,2}') FROM b1$$, '22023',
                 'direction has 2 elements, the coefficients 1', 'a direction of another length');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_grad(b, NULL, '{0}', '{NaN}') FROM b1$$, '22023',
                 'direction must be finite', 'a direction that is not finite');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_grad(b, NULL, '{0,0}', NULL) FROM b1$$, '22023',
                 'block of dimension 1 with 2 coefficients', 'coefficients of another dimension');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_grad(b, NULL, '{}', NULL) FROM b1$$, '22023',
                 'the coefficient vector must not be empty', 'no coefficients');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_grad(overlay(b placing '\x00' from 1 for 1), NULL, '{0}', NULL) FROM b1$$,
                 'XX001', 'invalid glmix block', 'a corrupt block');
-- header fields are little-endian int4s after the magic: dim at byte 9, flags at byte 21
SELECT is(pg_temp.detail_of($$SELECT recs.glmix_fixed_block_grad(overlay(b placing '\x00000100'::bytea from 9), NULL,
                                                       array_fill(0::float8, ARRAY[65536]), NULL) FROM b1$$),
          'The flags 0x3 do not match the dimension 65536 (wide columns exactly above 65535).',
          'XX001 for dimension 65536 in a block with 16-bit columns');
SELECT is(pg_temp.detail_of($$SELECT recs.glmix_fixed_block_grad(overlay(b placing '\x07000000'::bytea from 21), NULL,
                                                       '{0}', NULL) FROM b1$$),
          'The flags 0x7 do not match the dimension 1 (wide columns exactly above 65535).',
          'XX001 for 32-bit columns in a block of dimension 1');
SELECT is(pg_temp.detail_of($$SELECT recs.glmix_fixed_block_grad(overlay(b placing '\x01000001'::bytea from 9), NULL,
                                                       '{0}', NULL) FROM b1$$),
          'The dimension 16777217 is outside 1..16777216.', 'XX001 for a dimension above 2^24');

-- a parallel plan splits the aggregate: Partial Aggregate in the workers
CREATE TEMP TABLE par AS SELECT b AS block FROM b1, generate_series(1, 100);
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
CREATE TABLE gs.par AS SELECT * FROM par;
ALTER TABLE gs.par SET (parallel_workers = 2);
ANALYZE gs.par;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
    o text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        o := o || r || E'\n';
    END LOOP;
    RETURN o;
END $$;
SELECT matches(pg_temp.plan_of($$SELECT recs.glmix_fixed_block_grad(block, NULL, '{0}', '{1}') FROM gs.par$$),
               'Partial Aggregate', 'EXPLAIN shows a Partial Aggregate for glmix_fixed_block_grad');
SELECT ok((SELECT g[1:2] = '{100,100}' AND abs(g[3] - 100 * ln(2)) < 1e-12 AND g[4:5] = '{-50,50}'
             FROM (SELECT recs.glmix_fixed_block_grad(block, NULL, '{0}', '{2}') g FROM gs.par) x),
          'the parallel sums of 100 blocks (serial, deserial, combine)');
RESET max_parallel_workers_per_gather;

-- ---------------------------------------------------------------------------
-- TRON reaches dense Newton's optimum (fixed effect alone, one pass)
-- ---------------------------------------------------------------------------
SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{industry,segment}',
                        '{topic,difficulty,duration_minutes}', crosses => '{industry:topic}', random_effects => '{}',
                        l2 => '{10}', passes => 1, solver => 'newton', name => 'gs_newton', activate => false);
SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{industry,segment}',
                        '{topic,difficulty,duration_minutes}', crosses => '{industry:topic}', random_effects => '{}',
                        l2 => '{10}', passes => 1, solver => 'tron', name => 'gs_tron', activate => false);
SELECT is((SELECT params->>'solver' FROM recs.model WHERE name = 'gs_newton'), 'newton', 'solver newton is stored');
SELECT is((SELECT params->>'solver' FROM recs.model WHERE name = 'gs_tron'), 'tron', 'solver tron is stored');
SELECT ok((SELECT (metrics->>'tron_iterations')::int > 0 AND (metrics->>'tron_cg_steps')::int > 0
             FROM recs.model WHERE name = 'gs_tron'), 'TRON reports its iterations and CG steps');
SELECT cmp_ok((SELECT sqrt(sum((a.coef - b.coef) ^ 2) / sum(b.coef ^ 2))
                 FROM recs.glmix_coefficients a JOIN recs.glmix_coefficients b USING (coordinate, feature)
                WHERE a.model_id = recs.model_id('gs_tron') AND b.model_id = recs.model_id('gs_newton')),
              '<', 1e-6::float8, 'TRON''s coefficients equal dense Newton''s within 1e-6 (relative)');
SELECT is((SELECT count(*)::int FROM recs.glmix_coefficients a JOIN recs.glmix_coefficients b USING (coordinate, feature)
            WHERE a.model_id = recs.model_id('gs_tron') AND b.model_id = recs.model_id('gs_newton')),
          (SELECT (metrics->>'fixed_features')::int FROM recs.model WHERE name = 'gs_newton'),
          'the two models have the same features');
SELECT cmp_ok((SELECT abs((a.metrics->>'objective')::float8 / (b.metrics->>'objective')::float8 - 1)
                 FROM recs.model a, recs.model b WHERE a.name = 'gs_tron' AND b.name = 'gs_newton'),
              '<=', 1e-9::float8, 'the same objective within 1e-9 (relative)');
SELECT cmp_ok((SELECT max(abs(recs.glmix_logit(recs.model_id('gs_tron'), i.learner_id, i.course_id)
                              - recs.glmix_logit(recs.model_id('gs_newton'), i.learner_id, i.course_id)))
                 FROM (SELECT * FROM gs.impressions LIMIT 200) i),
              '<', 1e-5::float8, 'the same scores');
-- the default on a small fixed effect stays dense Newton
SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{industry}', '{topic}',
                        random_effects => '{}', passes => 1, name => 'gs_auto', activate => false);
SELECT is((SELECT params->>'solver' FROM recs.model WHERE name = 'gs_auto'), 'newton',
          'solver auto keeps dense Newton for a small fixed effect');

-- ---------------------------------------------------------------------------
-- A fixed effect of 18,361 features: learner id x course id crosses, beyond
-- the old cap of 8192; it trains (auto picks TRON) and serves.  A second,
-- wider sample passes 65,535 features, so its blocks carry 32-bit columns.
-- ---------------------------------------------------------------------------
ALTER TABLE gs.learners ADD COLUMN uid text;
UPDATE gs.learners SET uid = learner_id::text;
ALTER TABLE gs.courses ADD COLUMN cid text;
UPDATE gs.courses SET cid = course_id::text;
SELECT lives_ok($$SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{uid}', '{cid}',
                                          crosses => '{uid:cid}', name => 'gs_wide', passes => 2)$$,
                'a fixed effect of 18,361 features trains with the defaults');
SELECT is((SELECT (metrics->>'fixed_features')::int FROM recs.model WHERE name = 'gs_wide'), 1 + 300 + 60 + 300 * 60,
          'intercept, 300 learner ids, 60 course ids and their 18,000 crosses');
SELECT is((SELECT params->>'solver' FROM recs.model WHERE name = 'gs_wide'), 'tron', 'solver auto picks TRON');
-- at the optimum lambda beta_j = sum_r x_rj (y_r - p_r): a cross seen only in
-- clicked impressions has a positive coefficient, one seen only in ignored ones a negative
CREATE TEMP TABLE pairs AS
SELECT learner_id, course_id, bool_and(clicked) AS all_clicked, bool_and(NOT clicked) AS none_clicked
  FROM gs.impressions GROUP BY 1, 2;
SELECT is((SELECT count(*)::int FROM recs.glmix_coefficients c JOIN pairs p
                ON c.feature = format('uid=%s & cid=%s', p.learner_id, p.course_id)
            WHERE c.model_id = recs.model_id('gs_wide') AND c.coordinate = 'fixed'
              AND (p.all_clicked AND c.coef <= 0 OR p.none_clicked AND c.coef >= 0)),
          0, 'every cross seen only clicked is positive, only ignored negative');
SELECT cmp_ok((SELECT count(*)::int FROM recs.glmix_coefficients c JOIN pairs p
                    ON c.feature = format('uid=%s & cid=%s', p.learner_id, p.course_id)
                WHERE c.model_id = recs.model_id('gs_wide') AND c.coordinate = 'fixed'
                  AND (p.all_clicked OR p.none_clicked)),
              '>', 1000, '... checked on more than 1000 crosses');
SELECT is((SELECT count(*)::int FROM recs.glmix_coefficients
            WHERE model_id = recs.model_id('gs_wide') AND coordinate = 'fixed' AND feature LIKE 'uid=% & cid=%'
              AND coef <> 0
              AND feature NOT IN (SELECT format('uid=%s & cid=%s', learner_id, course_id) FROM pairs)),
          0, 'a cross never seen keeps a zero coefficient');
SELECT is((SELECT count(*)::int FROM gs.impressions i
            WHERE abs(recs.glmix_score(recs.model_id('gs_wide'), i.learner_id, i.course_id)
                      - 1 / (1 + exp(-recs.glmix_logit(recs.model_id('gs_wide'), i.learner_id, i.course_id)))) > 1e-12),
          0, 'the model serves: scores are the sigmoid of the logits');
SELECT ok((SELECT avg(CASE WHEN clicked THEN s ELSE 1 - s END) > 0.55
             FROM (SELECT clicked, recs.glmix_score(recs.model_id('gs_wide'), learner_id, course_id) s
                     FROM gs.impressions) x),
          'the served model fits its training impressions (mean probability of the truth above 0.55; 0.5 for a coin)');
SELECT cmp_ok((SELECT count(*)::int FROM recs.recommend(
                   (SELECT learner_id FROM gs.learners ORDER BY learner_id LIMIT 1), 5)), '=', 5,
              'recs.recommend serves from the wide model');

SELECT recs.generate_sample('gw', 300, 240, 5);
ALTER TABLE gw.learners ADD COLUMN uid text;
UPDATE gw.learners SET uid = learner_id::text;
ALTER TABLE gw.courses ADD COLUMN cid text;
UPDATE gw.courses SET cid = course_id::text;
SELECT lives_ok($$SELECT recs.train_glmix('gw.impressions', 'gw.learners', 'gw.courses', '{uid}', '{cid}',
                                          crosses => '{uid:cid}', name => 'gw_wide', passes => 1,
                                          random_effects => '{}', activate => false)$$,
                'a fixed effect of 72,541 features (32-bit block columns) trains');
SELECT is((SELECT (metrics->>'fixed_features')::int FROM recs.model WHERE name = 'gw_wide'), 1 + 300 + 240 + 300 * 240,
          '... with every feature');
SELECT ok((SELECT bool_and(s > 0 AND s < 1) FROM (SELECT recs.glmix_score(recs.model_id('gw_wide'), learner_id, course_id) s
                                                   FROM gw.impressions LIMIT 100) x),
          '... and serves');

-- a cancel (here statement_timeout) stops a TRON training within a second
-- (the caller sets statement_timeout to ms: a timeout set inside a statement
-- applies to the next one)
CREATE FUNCTION pg_temp.cancel_after(q text, ms int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    EXECUTE q;
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN CASE WHEN clock_timestamp() - t0 < make_interval(secs => ms / 1000.0 + 1) THEN 'stopped in time'
                ELSE 'stopped late: ' || (clock_timestamp() - t0)::text END;
END $$;
SET LOCAL statement_timeout = 300;
SELECT is(pg_temp.cancel_after($$SELECT recs.train_glmix('gw.impressions', 'gw.learners', 'gw.courses', '{uid}', '{cid}',
                                   crosses => '{uid:cid}', passes => 50, random_effects => '{}', l2 => '{0.01}',
                                   activate => false)$$, 300),
          'stopped in time', 'statement_timeout stops a TRON training within a second');
SET LOCAL statement_timeout = 0;

-- ---------------------------------------------------------------------------
-- Solver choice and memory
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{uid}', '{cid}',
                                           crosses => '{uid:cid}', solver => 'newton')$$,
                 '54000', 'solver ''newton'' handles at most 8192 fixed-effect features, not 18361',
                 'dense Newton refuses more than 8192 features');
SELECT throws_ok($$SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{uid}', '{cid}',
                                           solver => 'lbfgs')$$,
                 '22023', NULL, 'an unknown solver');
SET LOCAL recs.memory_limit = '4MB';
SELECT throws_ok($$SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{uid}', '{topic}',
                                           crosses => '{}', solver => 'newton')$$,
                 '54000', NULL, 'dense Newton over the memory budget');
SELECT matches((SELECT pg_temp.hint_of($$SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses',
                                       '{uid}', '{topic}', crosses => '{}', solver => 'newton')$$)),
               'solver => ''tron''', '... its hint names the matrix-free solver');
SELECT throws_ok($$SELECT recs.train_glmix('gw.impressions', 'gw.learners', 'gw.courses', '{uid}', '{cid}',
                                           crosses => '{uid:cid}', random_effects => '{}')$$,
                 '54000', NULL, 'TRON over the memory budget is refused before training');
RESET recs.memory_limit;

-- ---------------------------------------------------------------------------
-- l2_auto: each coordinate's L2 chosen on the latest tenth of the impressions
-- ---------------------------------------------------------------------------
SELECT recs.train_glmix('gs.impressions', 'gs.learners', 'gs.courses', '{industry,segment}', '{topic,difficulty}',
                        l2_auto => true, name => 'gs_l2auto', activate => false);
CREATE TEMP TABLE l2s AS
SELECT c.ord - 1 AS k, c.v->>'coordinate' AS coordinate, (c.v->>'chosen')::float8 AS chosen, c.v->'grid' AS grid
  FROM recs.model m, jsonb_array_elements(m.metrics->'l2_search'->'coordinates') WITH ORDINALITY c(v, ord)
 WHERE m.name = 'gs_l2auto';
SELECT is((SELECT array_agg(coordinate ORDER BY k) FROM l2s), '{fixed,learner_id,course_id}',
          'l2_auto searches every coordinate, the fixed effect first');
SELECT is((SELECT array_agg(x::float8 ORDER BY o)
             FROM l2s, jsonb_array_elements(grid) WITH ORDINALITY g(p, o), LATERAL (SELECT p->>'l2') y(x)
            WHERE coordinate = 'fixed'),
          '{3000,900,300,100,30}'::float8[], 'the fixed effect''s grid: 10, 3, 1, 1/3, 1/10 times 300, largest first');
SELECT is((SELECT count(*)::int FROM l2s
            WHERE chosen <> (SELECT (p->>'l2')::float8 FROM jsonb_array_elements(grid) p
                              ORDER BY (p->>'validation_logloss')::float8 LIMIT 1)),
          0, 'each chosen value is its grid''s point of lowest validation log-loss');
SELECT is((SELECT array_agg(l2::real ORDER BY position) FROM recs.glmix_coordinate
            WHERE model_id = recs.model_id('gs_l2auto')),
          (SELECT array_agg(chosen::real ORDER BY k) FROM l2s),
          'the model is trained with the chosen values');
SELECT is((SELECT (params->'l2')::text FROM recs.model WHERE name = 'gs_l2auto'),
          (SELECT jsonb_agg(chosen ORDER BY k)::text FROM l2s), 'params->l2 holds the chosen values');
SELECT is((SELECT (metrics->'l2_search'->>'validation_rows')::int FROM recs.model WHERE name = 'gs_l2auto'),
          (SELECT count(*)::int FROM gs.impressions
            WHERE shown_at >= (SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY shown_at) FROM gs.impressions)),
          'the validation slice: the impressions from the 90th percentile of shown_at on');
SELECT is((SELECT (metrics->'l2_search'->>'fit_rows')::int + (metrics->'l2_search'->>'validation_rows')::int
             FROM recs.model WHERE name = 'gs_l2auto'),
          (SELECT count(*)::int FROM gs.impressions), '... and the search fits on the rows before it');
SELECT is((SELECT (metrics->>'train_rows')::int FROM recs.model WHERE name = 'gs_l2auto'),
          (SELECT count(*)::int FROM gs.impressions), 'the model itself trains on every impression');
CREATE TEMP TABLE no_time AS SELECT learner_id, course_id, clicked FROM gs.impressions;
SELECT throws_ok($$SELECT recs.train_glmix('no_time', 'gs.learners', 'gs.courses', '{industry}', '{topic}',
                                           l2_auto => true)$$,
                 '42703', NULL, 'l2_auto without shown_at or a validation relation');
-- time_column names the time l2_auto splits on: here unix seconds, no shown_at
CREATE TEMP TABLE epoch_time AS
SELECT learner_id, course_id, clicked, floor(extract(epoch FROM shown_at))::bigint AS seen FROM gs.impressions;
SELECT recs.train_glmix('epoch_time', 'gs.learners', 'gs.courses', '{industry,segment}', '{topic,difficulty}',
                        l2_auto => true, time_column => 'seen', name => 'gs_l2auto_seen', activate => false);
SELECT is((SELECT (metrics->'l2_search'->>'validation_rows')::int FROM recs.model WHERE name = 'gs_l2auto_seen'),
          (SELECT count(*)::int FROM epoch_time
            WHERE seen >= (SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY seen) FROM epoch_time)),
          'l2_auto splits on time_column: the impressions from the 90th percentile of seen on validate');
SELECT throws_ok($$SELECT recs.train_glmix('epoch_time', 'gs.learners', 'gs.courses', '{industry}', '{topic}',
                                           l2_auto => true, time_column => 'seen_at')$$,
                 '42703', NULL, 'l2_auto with a time_column the impressions do not have');

-- ---------------------------------------------------------------------------
-- Serialized states are hostile input: aliases of the C functions take bytes
-- ---------------------------------------------------------------------------
DO $$
DECLARE
    lib text := (SELECT probin FROM pg_proc WHERE oid = 'recs._glmix_grad_deserial'::regproc);
BEGIN
    EXECUTE format($f$
        CREATE FUNCTION gs.grad_deserial(bytea, int8 DEFAULT NULL) RETURNS int8 LANGUAGE C AS %1$L, 'glmix_grad_deserial';
        CREATE FUNCTION gs.grad_serial(int8) RETURNS bytea LANGUAGE C STRICT AS %1$L, 'glmix_grad_serial';
        CREATE FUNCTION gs.grad_final(int8) RETURNS float8[] LANGUAGE C AS %1$L, 'glmix_grad_final';
    $f$, lib);
END $$;
-- dim 1 with a product: n 2, weight 3, loss 0.5, gradient {0.1}, H v {0.2}
CREATE TEMP TABLE gst AS
SELECT int4send(x'474D4753'::int) || int4send(1) || int4send(1) || int4send(1) || int8send(2) || float8send(3)
       || float8send(0.5) || float8send(0.1) || float8send(0.2) AS s;
SELECT is((SELECT gs.grad_serial(gs.grad_deserial(s)) FROM gst), (SELECT s FROM gst),
          'a valid state survives deserial and serial unchanged');
SELECT is((SELECT gs.grad_final(gs.grad_deserial(s)) FROM gst), '{2,3,0.5,0.1,0.2}'::float8[],
          '... and its final value is rows, weight, loss, gradient, product');
SELECT throws_ok($$SELECT gs.grad_final(gs.grad_deserial(overlay(s placing int4send(2) from 5))) FROM gst$$,
                 'XX001', 'invalid serialized glmix fixed-effect gradient state', 'a wrong version');
SELECT throws_ok($$SELECT gs.grad_final(gs.grad_deserial(overlay(s placing int4send(3) from 13))) FROM gst$$,
                 'XX001', 'invalid serialized glmix fixed-effect gradient state', 'unknown flags');
SELECT throws_ok($$SELECT gs.grad_final(gs.grad_deserial(overlay(s placing int4send(16777216) from 9))) FROM gst$$,
                 'XX001', 'invalid serialized glmix fixed-effect gradient state', 'a dimension the length does not hold');
SELECT throws_ok($$SELECT gs.grad_final(gs.grad_deserial(overlay(s placing int4send(0) from 13))) FROM gst$$,
                 'XX001', 'invalid serialized glmix fixed-effect gradient state', 'a product the flags do not announce');
SELECT throws_ok($$SELECT gs.grad_final(gs.grad_deserial(overlay(s placing int8send(-1) from 17))) FROM gst$$,
                 'XX001', 'invalid serialized glmix fixed-effect gradient state', 'a negative row count');

SELECT * FROM finish();
ROLLBACK;
