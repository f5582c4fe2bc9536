-- test/pgtap/glmix.sql -- GLMix: known answers, aggregates (serial = parallel),
-- per-entity bounds, weights, scoring, and bad input with its SQLSTATE.
BEGIN;
SELECT plan(50);
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- A tiny hand-made problem with an independent solution.  The expected values
-- were computed with numpy (Newton's method to machine precision) on the same
-- 14 rows: design [1, g=a, g=b, topic=x, topic=y], lambda = 1.
-- ---------------------------------------------------------------------------
CREATE SCHEMA k;
CREATE TABLE k.learners (learner_id bigint PRIMARY KEY, g text);
CREATE TABLE k.courses (course_id bigint PRIMARY KEY, topic text);
INSERT INTO k.learners VALUES (1, 'a'), (2, 'a'), (3, 'b'), (4, 'b');
INSERT INTO k.courses VALUES (10, 'x'), (20, 'y');
CREATE TABLE k.imp (learner_id bigint, course_id bigint, clicked boolean, w float8 DEFAULT 1);
INSERT INTO k.imp (learner_id, course_id, clicked) VALUES
  (1,10,true),(1,20,false),(1,10,true),(2,10,false),(2,20,true),(2,20,true),(3,10,false),
  (3,20,false),(3,10,true),(4,20,true),(4,10,false),(4,20,false),(1,20,true),(3,20,true);
-- the same rows as 1-based feature indexes for the row-form aggregates
CREATE VIEW k.design AS
SELECT i.*, i.clicked::int::float8 AS y,
       ARRAY[1, CASE l.g WHEN 'a' THEN 2 ELSE 3 END, CASE c.topic WHEN 'x' THEN 4 ELSE 5 END] AS f
  FROM k.imp i JOIN k.learners l USING (learner_id) JOIN k.courses c USING (course_id);

-- loss and gradient at a given beta and offset: aggregate vs plain SQL vs numpy
CREATE TEMP TABLE st AS
SELECT (s).* FROM (SELECT recs.glmix_fixed_stats(y, 1, 0.2, f, NULL, '{0.1,-0.2,0.3,0.05,-0.1}') s
                     FROM k.design) q;
SELECT is((SELECT rows FROM st), 14::bigint, 'fixed stats: 14 rows');
SELECT ok(abs((SELECT loss FROM st) - 10.241933809436949) < 1e-9, 'fixed stats: loss matches numpy');
SELECT ok(abs((SELECT loss FROM st) -
              (SELECT sum(ln(1 + exp(m)) - y * m) FROM
                 (SELECT y, 0.2 + (ARRAY[0.1,-0.2,0.3,0.05,-0.1])[f[1]] + (ARRAY[0.1,-0.2,0.3,0.05,-0.1])[f[2]]
                          + (ARRAY[0.1,-0.2,0.3,0.05,-0.1])[f[3]] AS m FROM k.design) d)) < 1e-9,
          'fixed stats: loss matches plain SQL');
SELECT ok((SELECT max(abs(g - e)) FROM unnest((SELECT gradient FROM st),
              '{0.0731582489,-1.387710464,1.4608687128,0.5833209241,-0.5101626752}'::float8[]) AS u(g, e)) < 1e-9,
          'fixed stats: gradient matches numpy');
SELECT ok((SELECT hessian[1] FROM st) > 0 AND (SELECT hessian[2] = hessian[6] FROM st)
          AND (SELECT cardinality(hessian) FROM st) = 25, 'fixed stats: Hessian is 5 x 5 and symmetric');

-- train_glmix's fixed effect = numpy's Newton solution
SELECT recs.train_glmix('k.imp', 'k.learners', 'k.courses', '{g}', '{topic}', name => 'known',
                        random_effects => '{}', crosses => '{}', l2 => '{1}', passes => 1) AS known \gset
SELECT ok((SELECT max(abs(c.coef - e.coef)) FROM recs.glmix_coefficients c
             JOIN (VALUES ('(intercept)', 0.1196999209), ('g=a', 0.4314719038), ('g=b', -0.3117719829),
                          ('topic=x', -0.1062282194), ('topic=y', 0.2259281403)) e(feature, coef) USING (feature)
            WHERE c.model_id = :known) < 1e-6, 'fixed effect equals the independent Newton solution');
SELECT is((SELECT count(*) FROM recs.glmix_coefficients WHERE model_id = :known), 5::bigint,
          'fixed effect has 5 named coefficients');
SELECT ok(abs(recs.glmix_score(:known, 1, 10) - 1 / (1 + exp(-(0.1196999209 + 0.4314719038 - 0.1062282194)))) < 1e-6,
          'glmix_score is the sigmoid of the fixed logit');

-- perfectly separable labels (clicked = learner in group a): L2 keeps the fit finite
CREATE VIEW k.sep AS SELECT learner_id, course_id, learner_id <= 2 AS clicked FROM k.imp;
SELECT recs.train_glmix('k.sep', 'k.learners', 'k.courses', '{g}', '{topic}', name => 'sep',
                        random_effects => '{}', crosses => '{}', l2 => '{1}', passes => 1) AS sep \gset
SELECT ok(abs((SELECT coef FROM recs.glmix_coefficients WHERE model_id = :sep AND feature = 'g=a') - 1.392766) < 1e-5,
          'separable data: finite coefficient equal to numpy''s');

-- weights equal duplicated rows (every coordinate)
CREATE TABLE k.dup AS SELECT learner_id, course_id, clicked FROM k.imp
UNION ALL SELECT learner_id, course_id, clicked FROM k.imp WHERE learner_id IN (1, 4);
CREATE TABLE k.wtd AS SELECT learner_id, course_id, clicked,
       CASE WHEN learner_id IN (1, 4) THEN 2.0 ELSE 1.0 END AS w FROM k.imp;
SELECT recs.train_glmix('k.dup', 'k.learners', 'k.courses', '{g}', '{topic}', name => 'dup',
                        crosses => '{}', l2 => '{1,1,1}') AS dup \gset
SELECT recs.train_glmix('k.wtd', 'k.learners', 'k.courses', '{g}', '{topic}', name => 'wtd',
                        crosses => '{}', l2 => '{1,1,1}', weight_column => 'w') AS wtd \gset
SELECT ok((SELECT max(abs(a.coef - b.coef)) FROM recs.glmix_coefficients a
             JOIN recs.glmix_coefficients b USING (coordinate, entity, feature)
            WHERE a.model_id = :dup AND b.model_id = :wtd) < 1e-6
          AND (SELECT count(*) FROM recs.glmix_coefficients WHERE model_id = :dup) = 5 + 4 * 3 + 2 * 3,
          'weight 2 equals a duplicated row, in every coordinate');

-- ---------------------------------------------------------------------------
-- Aggregates: parallel = serial, with Partial Aggregate in the plan
-- ---------------------------------------------------------------------------
CREATE TABLE k.big AS
SELECT g AS id, g % 50 AS entity, ((g * 7919) % 13 < 6)::int::float8 AS y, 1 + (g % 3) * 0.5 AS w,
       ((g % 11) - 5) * 0.1 AS o, ARRAY[1, 2 + g % 5, 7 + g % 3] AS f
  FROM generate_series(1, 40000) g;
ANALYZE k.big;
CREATE FUNCTION pg_temp.plan(q text) RETURNS SETOF text LANGUAGE plpgsql AS
$$ BEGIN RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q; END $$;
SET LOCAL max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE ser AS SELECT (s).* FROM (SELECT recs.glmix_fixed_stats(y, w, o, f, NULL, '{0.1,0.2,0,-0.1,0.3,0,0.05,-0.2,0.1}') s FROM k.big) q;
CREATE TEMP TABLE ser_e AS SELECT entity, recs.glmix_entity_fit(y, w, o, f, NULL, 9, 2.0) AS c FROM k.big GROUP BY entity;
SET LOCAL max_parallel_workers_per_gather = 2;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.plan('SELECT recs.glmix_fixed_stats(y, w, o, f, NULL, ''{0.1,0.2,0,-0.1,0.3,0,0.05,-0.2,0.1}'') FROM k.big') p
                   WHERE p LIKE '%Partial Aggregate%'), 'fixed stats: the plan has a Partial Aggregate');
CREATE TEMP TABLE par AS SELECT (s).* FROM (SELECT recs.glmix_fixed_stats(y, w, o, f, NULL, '{0.1,0.2,0,-0.1,0.3,0,0.05,-0.2,0.1}') s FROM k.big) q;
SELECT ok((SELECT abs(par.loss - ser.loss) < 1e-6 AND par.rows = ser.rows FROM par, ser),
          'fixed stats: parallel loss = serial loss');
SELECT ok((SELECT max(abs(a - b)) FROM par, ser, unnest(par.gradient, ser.gradient) u(a, b)) < 1e-6
          AND (SELECT max(abs(a - b)) FROM par, ser, unnest(par.hessian, ser.hessian) u(a, b)) < 1e-6,
          'fixed stats: parallel gradient and Hessian = serial within 1e-6');
SELECT ok(EXISTS (SELECT 1 FROM pg_temp.plan('SELECT entity, recs.glmix_entity_fit(y, w, o, f, NULL, 9, 2.0) FROM k.big GROUP BY entity') p
                   WHERE p LIKE '%Partial%Aggregate%'), 'entity fit: the plan has a Partial Aggregate');
CREATE TEMP TABLE par_e AS SELECT entity, recs.glmix_entity_fit(y, w, o, f, NULL, 9, 2.0) AS c FROM k.big GROUP BY entity;
SELECT ok((SELECT max(abs(a - b)) FROM par_e JOIN ser_e USING (entity), unnest(par_e.c, ser_e.c) u(a, b)) < 1e-6
          AND (SELECT count(*) FROM par_e) = 50, 'entity fit: parallel coefficients = serial within 1e-6');
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
-- the per-entity fit is the Newton solution: its gradient vanishes
SELECT ok((SELECT max(abs(g)) FROM (
             SELECT s.entity, (recs.glmix_fixed_stats(b.y, b.w, b.o, b.f, NULL, s.c)).gradient AS gr, s.c
               FROM k.big b JOIN ser_e s USING (entity) GROUP BY s.entity, s.c) q,
             unnest(q.gr, q.c) AS u(gx, cx), LATERAL (SELECT gx + 2.0 * cx AS g) z) < 1e-5,
          'entity fit: the penalised gradient at the fit is below 1e-5');

-- ---------------------------------------------------------------------------
-- Training on sample data
-- ---------------------------------------------------------------------------
SELECT count(*) FROM recs.generate_sample('s', 300, 60, 7);
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'full', crosses => '{industry:topic}') AS full \gset
SELECT ok((SELECT bool_and(coalesce((p->>'objective')::float8 <= lag, true)) FROM (
             SELECT p, lag((p->>'objective')::float8) OVER (ORDER BY (p->>'pass')::int) AS lag
               FROM recs.model, jsonb_array_elements(metrics->'passes') p WHERE model_id = :full) q),
          'coordinate descent: the objective does not increase from pass to pass');
SELECT is((SELECT count(DISTINCT coordinate) FROM recs.glmix_coefficients WHERE model_id = :full), 3::bigint,
          'three coordinates stored');
SELECT ok((SELECT bool_and(coef = coef AND abs(coef) < 1e3) FROM recs.glmix_coefficients WHERE model_id = :full),
          'every coefficient is finite');
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'full2', crosses => '{industry:topic}', threads => 2) AS full2 \gset
SELECT ok((SELECT max(abs(a.coef - b.coef)) FROM recs.glmix_coefficients a
             JOIN recs.glmix_coefficients b USING (coordinate, entity, feature)
            WHERE a.model_id = :full AND b.model_id = :full2) < 1e-6, 'threads => 2 trains the same model');

-- active-data lower bound: only learners with >= 40 impressions get a model
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{topic}',
                        name => 'bounded', min_rows => 40, max_rows => 60, passes => 1) AS bounded \gset
SELECT is((SELECT count(*) FROM recs.glmix_coef WHERE model_id = :bounded AND coordinate = 'learner_id'),
          (SELECT count(*) FROM (SELECT learner_id FROM s.impressions GROUP BY 1 HAVING count(*) >= 40) q),
          'min_rows: exactly the learners with enough rows have a model');
SELECT ok((SELECT max(rows) <= 60 AND min(rows) >= 40 FROM recs.glmix_coef
            WHERE model_id = :bounded AND coordinate <> 'fixed'), 'max_rows caps the rows per entity');
SELECT learner_id AS small FROM s.impressions GROUP BY 1 HAVING count(*) < 40 ORDER BY 1 LIMIT 1 \gset
SELECT is((SELECT has_model FROM recs.explain(:bounded, :small, 5) WHERE coordinate = 'learner_id'), false,
          'a learner under min_rows has no model of its own');
SELECT ok(abs(recs.glmix_score(:bounded, :small, 5) - 1 / (1 + exp(-(
              SELECT sum(contribution) FROM recs.explain(:bounded, :small, 5) WHERE coordinate IN ('fixed', 'course_id'))))) < 1e-12,
          '... and is scored by the fixed and course effects alone');
-- unknown learner: random effect zero
SELECT ok((SELECT contribution = 0 AND NOT has_model FROM recs.explain(:full, 999999, 5) WHERE coordinate = 'learner_id')
          AND abs(recs.glmix_logit(:full, 999999, 5) -
                  (SELECT contribution FROM recs.explain(:full, 999999, 5) WHERE coordinate = 'total')) < 1e-12,
          'unknown learner: zero random effect, score from the other coordinates');

-- a learner whose impressions are all clicks: finite, and pulled towards clicking
CREATE TABLE s.oneclass AS SELECT * FROM s.impressions WHERE learner_id <> 100001
UNION ALL SELECT 100001, c, '2025-06-01', true, false, 600, 'home' FROM generate_series(1, 20) c;
SELECT recs.train_glmix('s.oneclass', 's.learners', 's.courses', '{industry}', '{topic}', name => 'oneclass') AS oneclass \gset
SELECT ok((SELECT bool_and(abs(coef) < 10) FROM recs.glmix_coefficients WHERE model_id = :oneclass AND entity = '100001')
          AND (SELECT coef > 0 FROM recs.glmix_coefficients WHERE model_id = :oneclass AND entity = '100001'
                AND coordinate = 'learner_id' AND feature = '(intercept)'),
          'one-class learner: finite coefficients with a positive intercept');

-- a random effect keyed by a learner attribute
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{topic}', name => 'seg',
                        random_effects => '{segment}', passes => 1) AS seg \gset
SELECT is((SELECT count(*) FROM recs.glmix_coef WHERE model_id = :seg AND coordinate = 'segment'), 3::bigint,
          'random effect on segment: one model per segment');
-- numeric features: standardised with the relation's mean and population sd
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{duration_minutes}',
                        name => 'numeric', random_effects => '{}', passes => 1) AS num \gset
SELECT ok((SELECT abs(c.mean - a.m) < 1e-9 AND abs(c.sd - a.sd) < 1e-9
             FROM recs.glmix_column c,
                  (SELECT avg(duration_minutes)::float8 AS m, stddev_pop(duration_minutes)::float8 AS sd FROM s.courses) a
            WHERE c.model_id = :num AND c.name = 'duration_minutes' AND c.kind = 'numeric'),
          'numeric feature: mean and population sd of the courses relation');
SELECT ok((SELECT abs(e."values"[1] - (c.duration_minutes - a.m) / a.sd) < 1e-9
             FROM recs.glmix_entity e JOIN s.courses c ON c.course_id = e.id,
                  (SELECT avg(duration_minutes)::float8 AS m, stddev_pop(duration_minutes)::float8 AS sd FROM s.courses) a
            WHERE e.model_id = :num AND e.side = 'course' AND e.id = 7),
          'numeric feature: a course''s value is (x - mean) / sd');
-- intercepts off per coordinate
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{topic}', name => 'noint',
                        intercepts => '{false,true,false}', passes => 1) AS noint \gset
SELECT is((SELECT array_agg(name ORDER BY position) FROM recs.glmix_coordinate
            WHERE model_id = :noint AND features[1] = '(intercept)'), ARRAY['learner_id'],
          'intercepts => {false,true,false}: only the per-learner effect has an intercept');
SELECT is((SELECT cardinality(features) FROM recs.glmix_coordinate WHERE model_id = :noint AND name = 'fixed'),
          (SELECT count(DISTINCT industry) + count(DISTINCT topic) FROM s.learners, s.courses)::int,
          '... and the fixed effect is main effects only (crosses default to none without multi-hot columns)');
-- explain: one row per coordinate plus the total, which is the logit
SELECT is((SELECT count(*) FROM recs.explain(:full, 100002, 7)), 4::bigint, 'explain: 3 coordinates + total');
SELECT ok(abs((SELECT sum(contribution) FILTER (WHERE coordinate <> 'total') - sum(contribution) FILTER (WHERE coordinate = 'total')
               FROM recs.explain(:full, 100002, 7))) < 1e-12
          AND abs(recs.glmix_logit(:full, 100002, 7) - (SELECT contribution FROM recs.explain(:full, 100002, 7)
                                                        WHERE coordinate = 'total')) < 1e-12,
          'explain: contributions add up to the logit');

-- watch-time weighting changes the model; label 'either' trains on bookmarks too
SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{topic}', name => 'wt',
                        weighting => 'watch_time', label => 'either', passes => 1) AS wt \gset
SELECT ok((SELECT params->>'weighting' = 'watch_time' AND (metrics->>'train_positive')::int >=
                  (SELECT count(*) FROM s.impressions WHERE clicked) FROM recs.model WHERE model_id = :wt),
          'watch_time weighting and label either recorded');

-- storage: pg_dump keeps the parts; dropping a model cascades
SELECT ok((SELECT array['recs.glmix_coordinate'::regclass::oid, 'recs.glmix_column'::regclass::oid,
                        'recs.glmix_entity'::regclass::oid, 'recs.glmix_coef'::regclass::oid] <@ extconfig
             FROM pg_extension WHERE extname = 'recs'), 'model tables are dumped by pg_dump');
SELECT recs.drop_model(:wt, force => true);
SELECT is((SELECT count(*) FROM recs.glmix_coef WHERE model_id = :wt) + (SELECT count(*) FROM recs.glmix_entity WHERE model_id = :wt),
          0::bigint, 'drop_model removes every part');
SELECT is((SELECT count(*) FROM pg_class WHERE relname LIKE 'glmix_work%'), 0::bigint, 'no work tables are left behind');

-- ---------------------------------------------------------------------------
-- Bad input
-- ---------------------------------------------------------------------------
CREATE TABLE k.textlabel AS SELECT learner_id, course_id, clicked::text AS clicked FROM k.imp;
SELECT throws_ok($$SELECT recs.train_glmix('k.textlabel', 'k.learners', 'k.courses', '{g}', '{topic}')$$,
                 '42804', NULL, 'a text label column is rejected');
CREATE TABLE k.label2 AS SELECT learner_id, course_id, CASE WHEN clicked THEN 2 ELSE 0 END AS clicked FROM k.imp;
SELECT throws_ok($$SELECT recs.train_glmix('k.label2', 'k.learners', 'k.courses', '{g}', '{topic}')$$,
                 '22023', NULL, 'a label that is not 0/1 is rejected');
CREATE TABLE k.nullid AS SELECT * FROM k.imp UNION ALL SELECT NULL, 10, true, 1;
SELECT recs.train_glmix('k.nullid', 'k.learners', 'k.courses', '{g}', '{topic}', name => 'k_nullid',
                        activate => false) AS k_nullid \gset
SELECT is((SELECT (metrics->'skipped'->>'null_id')::int FROM recs.model WHERE model_id = :k_nullid), 1,
          'a NULL learner id is skipped and counted (the one impressions policy)');
CREATE TABLE k.negw AS SELECT learner_id, course_id, clicked, CASE WHEN learner_id = 2 THEN -1 ELSE 1 END::float8 AS w FROM k.imp;
SELECT throws_ok($$SELECT recs.train_glmix('k.negw', 'k.learners', 'k.courses', '{g}', '{topic}', weight_column => 'w')$$,
                 '22023', NULL, 'a negative weight is rejected');
CREATE TABLE k.nanw AS SELECT learner_id, course_id, clicked, CASE WHEN learner_id = 2 THEN 'NaN'::float8 ELSE 1 END AS w FROM k.imp;
SELECT throws_ok($$SELECT recs.train_glmix('k.nanw', 'k.learners', 'k.courses', '{g}', '{topic}', weight_column => 'w')$$,
                 '22023', NULL, 'a NaN weight is rejected');
SELECT throws_ok($$SELECT recs.train_glmix('k.imp', 'k.learners', 'k.courses', '{nosuch}', '{topic}')$$,
                 '42703', NULL, 'a feature column that does not exist is rejected');
SELECT throws_ok($$SELECT recs.train_glmix('k.imp', 'k.learners', 'k.courses', '{g}', '{topic}', l2 => '{0,1,1}')$$,
                 '22023', NULL, 'a zero L2 weight is rejected');
SELECT throws_ok($$SELECT recs.train_glmix('k.imp', 'k.learners', 'k.courses', '{g}', '{topic}', random_effects => '{nosuch}')$$,
                 '42703', NULL, 'an unknown random-effect column is rejected');
SELECT throws_ok($$SELECT recs.glmix_fixed_block_stats('\x0102030405060708'::bytea, NULL, '{0}') $$,
                 'XX001', NULL, 'a corrupt block is rejected');
SELECT throws_ok($$SELECT recs.glmix_score(-1, 1, 1)$$, '42704', NULL, 'scoring a missing model fails');
SELECT throws_ok($$SELECT recs.glmix_fixed_stats(y, 1, 0, f[1:1], NULL, CASE WHEN learner_id = 1 THEN '{0,0}'::float8[] ELSE '{0,0,0,0,0}' END) FROM k.design$$,
                 '22023', NULL, 'coefficient vectors of different lengths in one aggregate are rejected');

SET LOCAL recs.memory_limit = '100kB';
SELECT throws_ok($$SELECT recs.train_glmix('s.impressions', 's.learners', 's.courses', '{industry}', '{topic}')$$,
                 '54000', NULL, 'a training over recs.memory_limit stops before building its designs');
RESET recs.memory_limit;

SELECT ok(abs(recs.score(:full, 100002, 7) - recs.glmix_score(:full, 100002, 7)) < 1e-12,
          'recs.score of a GLMix model is its response probability');
SELECT * FROM finish();
ROLLBACK;
