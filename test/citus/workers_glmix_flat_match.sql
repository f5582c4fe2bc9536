-- workers_glmix_flat_match.sql -- match features and max_rows on GLMix's
-- flat Citus path (src/glmix/glmix_flat_enc.c, glmix_agg_flat.c,
-- glmix_sample.c, glmix_flat_cap.c, glmix_agg_flat_cap.c).  Matches
-- ('lcol=ccol', 'lcol~ccol') travel as value maps in the encoding and are
-- computed in the shards' tasks; max_rows caps an entity's rows with the
-- sample one node draws (a stream per entity over its rows in a canonical
-- order): a learner's in its blocks, a course's (or course attribute's)
-- drawn once where its rows are repartitioned; unsampled rows stay at
-- weight 0.  Checked here: the flat fits equal the single-table ones
-- (objective within 1e-9 relative, every coefficient and active row count
-- within 1e-6, the same counts, metrics->'citus_flat' true), also with TRON
-- and with a course effect beside matches on match-only learner columns; the
-- one-node sample does not depend on the rows' order; the new statements
-- run in the shards' tasks (or move rows by repartition); max_rows beside a
-- learner attribute's effect still takes the earlier path; forged input
-- (encodings with a match map out of its column, a match out of place,
-- course rows out of order; blocks) is refused with XX001, and well-formed
-- input gives known answers.
-- The helpers shared with the other flat tests (plan_of, in_tasks,
-- task_count) are in flat_helpers.psql; this file's own are below it.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(45);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
\ir flat_helpers.psql
-- the relative difference of two models' objectives
CREATE FUNCTION pg_temp.obj_gap(a text, b text) RETURNS float8 LANGUAGE sql AS $$
	SELECT abs((x.metrics->>'objective')::float8 / (y.metrics->>'objective')::float8 - 1)
	  FROM recs.model x, recs.model y WHERE x.name = a AND y.name = b
$$;
-- the largest difference of two models' coefficients, 1 for a row or count only one has
CREATE FUNCTION pg_temp.coef_gap(a text, b text) RETURNS float8 LANGUAGE sql AS $$
	SELECT max(coalesce(abs(p.x - q.x), 1))
	  FROM (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(a)) p
	  FULL JOIN (SELECT c.coordinate, c.entity, c.rows, u.x, u.i FROM recs.glmix_coef c, unnest(c.coef) WITH ORDINALITY u(x, i)
	         WHERE c.model_id = recs.model_id(b)) q USING (coordinate, entity, rows, i)
$$;
-- (TRON's aggregate passes left out: its stopping tests meet sums added in another order)
CREATE FUNCTION pg_temp.counts(m text, passes boolean DEFAULT true) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'fixed_features',
	                         metrics->'fixed_nonzeros', metrics->'entity_models',
	                         CASE WHEN passes THEN metrics->'fixed_aggregate_passes' END)
	  FROM recs.model WHERE name = m
$$;
-- little-endian bytes, as the encoding holds them
CREATE FUNCTION pg_temp.le(b bytea) RETURNS bytea LANGUAGE sql AS $$
	SELECT string_agg(substring(b FROM k FOR 1), ''::bytea ORDER BY k DESC) FROM generate_series(1, length(b)) k
$$;
CREATE FUNCTION pg_temp.i4(VARIADIC v int[]) RETURNS bytea LANGUAGE sql AS $$
	SELECT string_agg(pg_temp.le(int4send(x)), ''::bytea ORDER BY k) FROM unnest(v) WITH ORDINALITY u(x, k)
$$;
-- an encoding: one course (id 1) whose only feature is 0 of a match-only column of two
-- values, a learner column of two match-only values; intercept, then one '=' match
-- (dimension 2); map the learner's values to the course column's (m1, m2); the course
-- row's features (c), its column range end (cend); the match's first feature (base)
CREATE FUNCTION pg_temp.enc(m1 int, m2 int, c int[] DEFAULT '{0}', base int DEFAULT 1) RETURNS bytea LANGUAGE sql AS $$
	SELECT pg_temp.i4(x'474D4645'::int, 3, 2, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0)
	       || pg_temp.le(float8send('NaN'))
	       -- learners: no rows, 2 features, none in the model, one column [0, 2)
	       || pg_temp.i4(0, 0, 2, 0, 1, 0) || pg_temp.i4(0) || pg_temp.i4(0, 2)
	       -- courses: one row (id 1), its features, 2 features, one column [0, 2)
	       || pg_temp.i4(1, cardinality(c), 2, 0, 1, 0) || pg_temp.le(int8send(1))
	       || pg_temp.i4(0, cardinality(c)) || pg_temp.i4(VARIADIC c)
	       || (SELECT string_agg(pg_temp.le(float8send(1)), ''::bytea) FROM unnest(c))
	       || pg_temp.i4(0, 2)
	       -- the trailer: one match, no cap; the match: '=', columns 0 x 0, its map
	       || pg_temp.i4(1, 0, 0, 0) || pg_temp.le(int8send(42))
	       || pg_temp.i4(0, 0, 0, base, 2) || pg_temp.i4(m1, m2)
$$;
RESET citus.enable_ddl_propagation;

-- matches: '=' and '~' on columns read for matches only (language, skills on both sides),
-- beside a cross, a learner and a course effect (whose z_l leaves the match-only columns out)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'fm_d', random_effects => '{learner_id,course_id}',
                        crosses => '{language=language,skills~skills,industry:topic}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'fm_s', random_effects => '{learner_id,course_id}',
                        crosses => '{language=language,skills~skills,industry:topic}', activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'fm_d'), 'true'::jsonb,
          'matches: the distributed training took the flat path');
SELECT is(pg_temp.counts('fm_d'), pg_temp.counts('fm_s'),
          'the same rows, positives, features (three match features), nonzeros, entity models and Newton passes');
SELECT cmp_ok(pg_temp.obj_gap('fm_d', 'fm_s'), '<', 1e-9::float8, 'the objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fm_d', 'fm_s'), '<', 1e-6::float8,
              'every coefficient (fixed, per learner, per course) within 1e-6, the same rows');
SELECT cmp_ok((SELECT min(abs(x)) FROM recs.glmix_coef c, unnest(c.coef[124:126]) x
                WHERE c.model_id = recs.model_id('fm_d') AND c.coordinate = 'fixed'), '>', 1e-3::float8,
              'the match features'' coefficients are not zero (they were computed)');
SELECT is((SELECT count(*)::int FROM recs.model_learner WHERE model_id = recs.model_id('fm_d')),
          (SELECT count(*)::int FROM recs.model_learner WHERE model_id = recs.model_id('fm_s')),
          'as many recs.model_learner rows');
SELECT cmp_ok((SELECT max(abs(recs.glmix_logit(recs.model_id('fm_d'), l, c) - recs.glmix_logit(recs.model_id('fm_s'), l, c)))
                 FROM generate_series(100001, 100040) l, generate_series(1, 200, 7) c), '<', 1e-6::float8,
              'and the served scores (matches computed at serving) within 1e-6');

-- matches with the fixed effect by TRON, a learner effect only, feature columns matched too
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,skills}', '{language,topic,skills}',
                        name => 'fmt_d', random_effects => '{learner_id}', solver => 'tron',
                        crosses => '{language=language,skills~skills}', activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,skills}', '{language,topic,skills}',
                        name => 'fmt_s', random_effects => '{learner_id}', solver => 'tron',
                        crosses => '{language=language,skills~skills}', activate => false);
SELECT is((SELECT jsonb_build_array(metrics->'citus_flat', params->'solver') FROM recs.model WHERE name = 'fmt_d'),
          '[true, "tron"]'::jsonb, 'matches with TRON: the flat path');
SELECT is(pg_temp.counts('fmt_d', false), pg_temp.counts('fmt_s', false), 'the same counts as the single-table TRON fit');
SELECT cmp_ok(pg_temp.obj_gap('fmt_d', 'fmt_s'), '<', 1e-9::float8, 'the objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('fmt_d', 'fmt_s'), '<', 1e-6::float8, 'every coefficient within 1e-6');

-- max_rows: the learner effect's cap drawn in the learners' blocks (learners have 7 to 200 rows)
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fr_d', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', min_rows => 5, max_rows => 40, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fr_s', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', min_rows => 5, max_rows => 40, activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'fr_d'), 'true'::jsonb,
          'max_rows: the distributed training took the flat path');
SELECT is(pg_temp.counts('fr_d'), pg_temp.counts('fr_s'), 'the same counts as the single-table fit');
SELECT cmp_ok(pg_temp.obj_gap('fr_d', 'fr_s'), '<', 1e-9::float8, 'the objective within 1e-9 relative (the same sample)');
SELECT cmp_ok(pg_temp.coef_gap('fr_d', 'fr_s'), '<', 1e-6::float8,
              'every coefficient within 1e-6, and every learner''s active rows the same');
SELECT ok((SELECT max(rows) = 40 AND count(*) FILTER (WHERE rows = 40) > 100 FROM recs.glmix_coef
            WHERE model_id = recs.model_id('fr_d') AND coordinate <> 'fixed'),
          'the cap held: at most 40 rows per learner, and many learners capped');
-- the same model without the cap differs: the cap did something
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fr_nocap', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', min_rows => 5, activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fr_d', 'fr_nocap'), '>', 1e-6::float8, 'and without the cap the fit differs');
-- one node: the sample does not depend on the order the rows are read in
CREATE TABLE single.imp_rev AS SELECT * FROM single.impressions ORDER BY learner_id DESC, course_id DESC;
SELECT recs.train_glmix('single.imp_rev', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fr_rev', random_effects => '{learner_id}',
                        crosses => '{language:language,industry:topic}', min_rows => 5, max_rows => 40, activate => false);
SELECT cmp_ok(pg_temp.obj_gap('fr_rev', 'fr_s'), '<', 1e-9::float8,
              'one node, rows read in reverse: the same sample, the objective within 1e-9 relative');
DROP TABLE single.imp_rev;

-- the capped coefficient rows are counted and written inside the tasks
CREATE UNLOGGED TABLE recs.ct_fm (learner_id bigint NOT NULL, block_no integer NOT NULL, rblock bytea, rows integer NOT NULL);
CREATE UNLOGGED TABLE recs.ct_fm_coef (learner_id bigint NOT NULL, rows integer NOT NULL, coef float8[]);
SELECT create_distributed_table('recs.ct_fm', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fm_coef', 'learner_id', colocate_with => 'app.impressions');
SELECT ok(pg_temp.in_tasks($$INSERT INTO recs.ct_fm_coef (learner_id, rows) SELECT learner_id, least(sum(rows), 40)
                               FROM recs.ct_fm WHERE rblock IS NOT NULL GROUP BY learner_id HAVING sum(rows) >= 5$$,
                           'ModifyTable'),
          'max_rows: the learners'' capped row counts are inserted inside the shards'' tasks');
DROP TABLE recs.ct_fm, recs.ct_fm_coef;

-- max_rows on the course-side effect (glmix_flat_cap.c): every course has ~400 rows, so
-- each is capped; its sample drawn on the workers once, the blocks reweighted each pass
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fc_d', random_effects => '{learner_id,course_id}',
                        crosses => '{language=language,industry:topic}', min_rows => 5, max_rows => 40, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}',
                        '{language,topic,difficulty}', name => 'fc_s', random_effects => '{learner_id,course_id}',
                        crosses => '{language=language,industry:topic}', min_rows => 5, max_rows => 40, activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'fc_d'), 'true'::jsonb,
          'max_rows with a course effect (and a match): the flat path');
SELECT is(pg_temp.counts('fc_d'), pg_temp.counts('fc_s'), 'the same counts as the single-table fit');
SELECT cmp_ok(pg_temp.obj_gap('fc_d', 'fc_s'), '<', 1e-9::float8, 'the objective within 1e-9 relative (the same samples)');
SELECT cmp_ok(pg_temp.coef_gap('fc_d', 'fc_s'), '<', 1e-6::float8,
              'every coefficient within 1e-6, every learner''s and course''s active rows the same');
SELECT is((SELECT max(rows) FROM recs.glmix_coef WHERE model_id = recs.model_id('fc_d') AND coordinate = 'course_id'),
          40, 'every course capped at 40 rows');
-- a course attribute's effect: a few topics of thousands of rows, capped at 300
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'ft_d', random_effects => '{learner_id,topic}', max_rows => 300, activate => false);
SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{industry,segment}', '{topic,difficulty}',
                        name => 'ft_s', random_effects => '{learner_id,topic}', max_rows => 300, activate => false);
SELECT is((SELECT metrics->'citus_flat' FROM recs.model WHERE name = 'ft_d'), 'true'::jsonb,
          'max_rows with a course attribute''s effect: the flat path');
SELECT is(pg_temp.counts('ft_d'), pg_temp.counts('ft_s'), 'the same counts as the single-table fit');
SELECT cmp_ok(pg_temp.obj_gap('ft_d', 'ft_s'), '<', 1e-9::float8, 'the objective within 1e-9 relative');
SELECT cmp_ok(pg_temp.coef_gap('ft_d', 'ft_s'), '<', 1e-6::float8, 'every coefficient and active row count within 1e-6');

-- its statements: the capped rows by key (repartitioned), the samples where they are, the weights beside the blocks
CREATE UNLOGGED TABLE recs.ct_fw (learner_id bigint NOT NULL, block_no integer NOT NULL, fblock bytea, courses bigint[]);
CREATE UNLOGGED TABLE recs.ct_fp (key bigint NOT NULL, learner_id bigint NOT NULL, block_no integer NOT NULL,
    rn integer NOT NULL, course bigint NOT NULL, y float8 NOT NULL, w float8 NOT NULL);
CREATE UNLOGGED TABLE recs.ct_fq (learner_id bigint NOT NULL, block_no integer NOT NULL, rn integer NOT NULL, cw float8 NOT NULL);
CREATE UNLOGGED TABLE recs.ct_fmw (learner_id bigint NOT NULL, block_no integer NOT NULL, cw float8[]);
SELECT create_distributed_table('recs.ct_fw', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fp', 'key', colocate_with => 'none', shard_count => 8);
SELECT create_distributed_table('recs.ct_fq', 'learner_id', colocate_with => 'app.impressions');
SELECT create_distributed_table('recs.ct_fmw', 'learner_id', colocate_with => 'app.impressions');
SELECT ok(pg_temp.plan_of($$INSERT INTO recs.ct_fp SELECT s.key, w.learner_id, w.block_no, s.rn, s.course, s.y, s.w
                              FROM recs.ct_fw w, LATERAL recs._glmix_flat_cap_rows(w.fblock, w.courses, '{1}', '{1}') s
                             WHERE w.fblock IS NOT NULL$$)::text LIKE '%"INSERT/SELECT method": "repartition"%',
          'max_rows: the capped keys'' rows go to the relation distributed by key by repartition');
SELECT ok(pg_temp.plan_of($$INSERT INTO recs.ct_fq SELECT g.l[x.pos], g.b[x.pos], g.r[x.pos], x.weight FROM
                              (SELECT key, array_agg(learner_id) AS l, array_agg(block_no) AS b, array_agg(rn) AS r,
                                      array_agg(course) AS c, array_agg(y) AS y, array_agg(w) AS w FROM recs.ct_fp GROUP BY key) g,
                              LATERAL recs._glmix_flat_cap_sample(g.key::text, g.l, g.c, g.y, g.w, 40, 42, 1) x$$)::text
            LIKE '%"INSERT/SELECT method": "repartition"%'
          AND pg_temp.in_tasks($$SELECT g.key, x.* FROM
                              (SELECT key, array_agg(learner_id) AS l, array_agg(block_no) AS b, array_agg(rn) AS r,
                                      array_agg(course) AS c, array_agg(y) AS y, array_agg(w) AS w FROM recs.ct_fp GROUP BY key) g,
                              LATERAL recs._glmix_flat_cap_sample(g.key::text, g.l, g.c, g.y, g.w, 40, 42, 1) x$$, 'Function Scan'),
          'each key''s sample is drawn inside the tasks where its rows are, and sent back by repartition');
SELECT ok(pg_temp.in_tasks($$INSERT INTO recs.ct_fmw SELECT w.learner_id, w.block_no,
                                    recs._glmix_flat_cap_weights(w.fblock, w.courses, '{1}', '{1}', q.r, q.cw)
                               FROM recs.ct_fw w LEFT JOIN (SELECT learner_id, block_no, array_agg(rn) AS r, array_agg(cw) AS cw
                                                              FROM recs.ct_fq GROUP BY learner_id, block_no) q
                                 ON q.learner_id = w.learner_id AND q.block_no = w.block_no
                              WHERE w.fblock IS NOT NULL$$, 'ModifyTable'),
          'and the blocks'' course-effect weights are written inside the tasks');
DROP TABLE recs.ct_fw, recs.ct_fp, recs.ct_fq, recs.ct_fmw;

-- the sample function: max_rows of the rows, their weights scaled, whatever order the rows come in
SELECT is((SELECT array_agg(pos ORDER BY pos)::text || ' ' || sum(weight)::text
             FROM recs._glmix_flat_cap_sample('7', '{1,1,2,2,3}', '{5,6,5,6,5}', '{1,0,0,1,0}', '{1,1,1,1,1}', 5, 42, 0)),
          NULL, 'a key with max_rows rows or fewer: no sample');
SELECT is((SELECT count(DISTINCT pos)::int || ' ' || round(sum(weight)::numeric, 9)::text
             FROM recs._glmix_flat_cap_sample('7', '{1,1,2,2,3}', '{5,6,5,6,5}', '{1,0,0,1,0}', '{1,1,1,1,2}', 2, 42, 0)),
          '2 ' || (SELECT round(sum(w * 2.5)::numeric, 9)::text FROM unnest('{1,1,1,1,2}'::float8[]) WITH ORDINALITY u(w, i)
                     WHERE i IN (SELECT pos FROM recs._glmix_flat_cap_sample('7', '{1,1,2,2,3}', '{5,6,5,6,5}', '{1,0,0,1,0}',
                                                                             '{1,1,1,1,2}', 2, 42, 0))),
          'two distinct rows of five, their weights times 5/2');
SELECT is((SELECT array_agg(l || ':' || c ORDER BY l, c) FROM recs._glmix_flat_cap_sample('7', '{3,2,2,1,1}', '{5,6,5,6,5}', '{0,1,0,0,1}', '{2,1,1,1,1}', 2, 42, 0) x,
                  LATERAL (SELECT ('{3,2,2,1,1}'::int8[])[x.pos] AS l, ('{5,6,5,6,5}'::int8[])[x.pos] AS c) r),
          (SELECT array_agg(l || ':' || c ORDER BY l, c) FROM recs._glmix_flat_cap_sample('7', '{1,1,2,2,3}', '{5,6,5,6,5}', '{1,0,0,1,0}', '{1,1,1,1,2}', 2, 42, 0) x,
                  LATERAL (SELECT ('{1,1,2,2,3}'::int8[])[x.pos] AS l, ('{5,6,5,6,5}'::int8[])[x.pos] AS c) r),
          'the same rows drawn from the rows in reverse order (the canonical order)');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_cap_sample('7', '{1,2}', '{5}', '{1,0}', '{1,1}', 1, 42, 0)$$,
                 '2202E', '1 course ids for 2 learner ids', 'arrays of different lengths are refused');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_cap_sample('7', '{1,2}', '{5,6}', '{1,0}', '{1,-1}', 1, 42, 0)$$,
                 '22023', 'weights must be finite and >= 0', 'and a negative weight');
SELECT throws_ok($$SELECT recs._glmix_flat_reweight('\x0102'::bytea, '{1}')$$,
                 'XX001', NULL, 'reweight: a forged block is refused');
SELECT throws_ok($$SELECT recs._glmix_flat_cap_weights('\x0102'::bytea, '{1}', '{1}', '{1}', NULL, NULL)$$,
                 'XX001', NULL, 'and so does the weights function');

-- max_rows beside a learner attribute's effect: not drawn on the workers, the earlier path
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'fr_g', random_effects => '{learner_id,segment}', max_rows => 40, passes => 1,
                        activate => false);
SELECT ok((SELECT coalesce(metrics->>'citus_flat', 'false') = 'false' AND (metrics->>'citus_shards')::int > 0
             FROM recs.model WHERE name = 'fr_g'),
          'max_rows with a learner attribute''s effect takes the earlier Citus path');

-- forged encodings
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_blocks(pg_temp.enc(0, 2), 7, '{0}', '{1}', '{1}', '{1}', NULL, NULL, NULL, NULL)$$,
                 'XX001', 'invalid glmix flat encoding', 'a match map pointing outside the course column is refused');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_blocks(pg_temp.enc(0, -1, base => 0), 7, '{0}', '{1}', '{1}', '{1}', NULL, NULL, NULL, NULL)$$,
                 'XX001', 'invalid glmix flat encoding', 'and a match that does not start where the layout puts it');
SELECT throws_ok($$SELECT * FROM recs._glmix_flat_blocks(pg_temp.enc(0, -1, '{1,0}'), 7, '{0}', '{1}', '{1}', '{1}', NULL, NULL, NULL, NULL)$$,
                 'XX001', 'invalid glmix flat encoding', 'and a course row whose features do not ascend (a match searches them)');
-- a well-formed one: the learner's value 0 is the course's value 0; course 2 is unknown
SELECT is((SELECT recs._glmix_flat_scores(b.fblock, '{0.5,2}', NULL)
             FROM recs._glmix_flat_blocks(pg_temp.enc(0, -1), 7, '{0}', '{1}', '{1,2}', '{1,0}', NULL, NULL, NULL, NULL) b),
          '{2.5,0.5}'::float8[], 'and a well-formed one builds x = [1 | match]: a known answer');
SELECT is((SELECT recs._glmix_flat_scores(b.fblock, '{0.5,2}', NULL)
             FROM recs._glmix_flat_blocks(pg_temp.enc(-1, 0), 7, '{0}', '{1}', '{1,2}', '{1,0}', NULL, NULL, NULL, NULL) b),
          '{0.5,0.5}'::float8[], 'a value without a counterpart matches nothing');
-- the course effect's z_l leaves a learner's match-only features (beyond its design) out
SELECT is(recs._glmix_flat_course_scores('{1,2,3}', '{0,5}', '{2,1}', '{1,3}', '{0.5,1,-1,2}', 2, true, NULL, NULL),
          '{2.5,0,3}'::float8[], 'course scores: a learner feature beyond the design (match-only) is left out');

SELECT * FROM finish();
