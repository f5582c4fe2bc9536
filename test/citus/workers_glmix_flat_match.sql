-- workers_glmix_flat_match.sql -- match features and max_rows on GLMix's
-- flat Citus path (src/glmix/glmix_flat_enc.c, glmix_agg_flat.c,
-- glmix_sample.c).  Matches ('lcol=ccol', 'lcol~ccol') travel as value maps
-- in the encoding and are computed in the shards' tasks; max_rows caps the
-- learner effect's rows with the sample one node draws (a stream per entity
-- over its rows in a canonical order), the unsampled rows kept at weight 0
-- in the learner's blocks.  Checked here: the flat fits equal the
-- single-table ones (objective within 1e-9 relative, every coefficient
-- within 1e-6, the same counts, metrics->'citus_flat' true), also with TRON
-- and with a course effect beside matches on match-only learner columns; the
-- one-node sample does not depend on the rows' order; the coefficient rows'
-- capped count is written inside the tasks; max_rows beside a course effect
-- still takes the earlier path; forged encodings (a match map out of its
-- column, a match out of place, course rows out of order) are refused with
-- XX001 and a well-formed one gives a known answer.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(26);
SELECT count(*) FROM recs.citus_setup();

SET citus.enable_ddl_propagation = off;
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p jsonb;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON, VERBOSE) ' || q INTO p;
	RETURN p;
END $$;
CREATE FUNCTION pg_temp.in_tasks(q text, node text) RETURNS boolean LANGUAGE sql AS $$
	SELECT jsonb_path_exists(pg_temp.plan_of(q), '$.**."Remote Plan".**."Node Type" ? (@ == $n)',
	                         jsonb_build_object('n', node))
$$;
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
CREATE FUNCTION pg_temp.counts(m text) RETURNS jsonb LANGUAGE sql AS $$
	SELECT jsonb_build_array(metrics->'train_rows', metrics->'train_positive', metrics->'fixed_features',
	                         metrics->'fixed_nonzeros', metrics->'entity_models', metrics->'fixed_aggregate_passes')
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
SELECT is(pg_temp.counts('fmt_d'), pg_temp.counts('fmt_s'), 'the same counts as the single-table TRON fit');
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

-- max_rows beside a course effect: its cap is not drawn on the workers, the earlier path
SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{industry}', '{topic}',
                        name => 'fr_c', random_effects => '{learner_id,course_id}', max_rows => 40, passes => 1,
                        activate => false);
SELECT ok((SELECT coalesce(metrics->>'citus_flat', 'false') = 'false' AND (metrics->>'citus_shards')::int > 0
             FROM recs.model WHERE name = 'fr_c'),
          'max_rows with a course effect takes the earlier Citus path');

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
