-- glmix_serving.sql -- serving a GLMix model or a blend keeps the learners'
-- rows out of each backend's cache: the cached part's size does not depend
-- on the number of learners, every score equals the stored model's (an
-- independent recomputation in SQL), an unknown learner gets the fixed and
-- per-course effects only, a corrupt learner row is XX001 naming the row,
-- and a forgotten learner leaves nothing behind.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(21);

SELECT count(*) FROM recs.generate_sample('gs', 200, 30, 5);
CREATE VIEW gs.w_early AS SELECT * FROM gs.watches WHERE watched_at < '2025-09-01';
CREATE VIEW gs.imp_early AS SELECT * FROM gs.impressions WHERE shown_at < '2025-09-01';
SELECT recs.train_popularity('gs.w_early', 'gs.learners', name => 'gs_pop', through => '2025-08-31') AS pop \gset
-- per-learner, per-course and per-segment (a learner attribute) effects
SELECT recs.train_glmix('gs.imp_early', 'gs.learners', 'gs.courses', '{industry,segment,language}',
                        '{topic,difficulty,language}', name => 'gs_glmix', passes => 1,
                        random_effects => '{learner_id,course_id,segment}') AS gl \gset
SELECT recs.train_blend(ARRAY[:pop, :gl], 'gs.impressions', 'gs.learners',
                        random_effects => '{learner_id,segment}', name => 'gs_blend') AS bl \gset
-- learners with a vector in each learner-keyed effect
SELECT array_agg(id ORDER BY id) AS lrns FROM (
    SELECT e.id FROM recs.glmix_entity e
     WHERE e.model_id = :gl AND e.side = 'learner' AND e.keys[3] IS NOT NULL
       AND EXISTS (SELECT FROM recs.glmix_coef c WHERE c.model_id = :gl AND c.coordinate = 'learner_id'
                                                  AND c.entity = e.id::text)
     ORDER BY e.id LIMIT 5) s \gset
SELECT (:'lrns'::bigint[])[1] AS lrn, (:'lrns'::bigint[])[2] AS lrn2 \gset

-- ---- the logit recomputed from the model tables (no crosses) ----
-- fixed: [intercept, learner features, course features]; a random effect:
-- [intercept, the other side's features] of the entity's vector, if any
CREATE FUNCTION pg_temp.side_dot(m bigint, side text, id bigint, coef float8[], base int) RETURNS float8
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(u.v * coef[base + u.f + 1]), 0)
      FROM recs.glmix_entity e, unnest(e.features, e."values") u(f, v)
     WHERE e.model_id = m AND e.side = side_dot.side AND e.id = side_dot.id
$$;
CREATE FUNCTION pg_temp.expected_logit(m bigint, l bigint, c bigint) RETURNS float8
LANGUAGE sql STABLE AS $$
    WITH fx AS (SELECT k.intercept::int AS i, x.coef,
                       (SELECT coalesce(sum(n_features), 0) FROM recs.glmix_column
                         WHERE model_id = m AND side = 'learner')::int AS nl
                  FROM recs.glmix_coordinate k JOIN recs.glmix_coef x ON x.model_id = k.model_id AND x.coordinate = k.name
                 WHERE k.model_id = m AND k.position = 0),
         re AS (SELECT k.intercept::int AS i, k.keyed_by, x.coef
                  FROM recs.glmix_coordinate k
                  JOIN recs.glmix_coef x ON x.model_id = k.model_id AND x.coordinate = k.name
                   AND x.entity = CASE WHEN k.by_id THEN CASE k.keyed_by WHEN 'learner' THEN l ELSE c END::text
                                       ELSE (SELECT e.keys[k.position] FROM recs.glmix_entity e
                                              WHERE e.model_id = m AND e.side = k.keyed_by
                                                AND e.id = CASE k.keyed_by WHEN 'learner' THEN l ELSE c END) END
                 WHERE k.model_id = m AND k.position > 0)
    SELECT (SELECT CASE WHEN i = 1 THEN coef[1] ELSE 0 END
                   + pg_temp.side_dot(m, 'learner', l, coef, i)
                   + pg_temp.side_dot(m, 'course', c, coef, i + nl) FROM fx)
         + coalesce((SELECT sum(CASE WHEN i = 1 THEN coef[1] ELSE 0 END
                                + CASE keyed_by WHEN 'learner' THEN pg_temp.side_dot(m, 'course', c, coef, i)
                                                ELSE pg_temp.side_dot(m, 'learner', l, coef, i) END) FROM re), 0)
$$;
CREATE TEMP TABLE pairs AS
SELECT l, e.id AS c FROM unnest(:'lrns'::bigint[] || 999999::bigint) l,
       recs.glmix_entity e WHERE e.model_id = :gl AND e.side = 'course';

SELECT is((SELECT count(*) FROM pairs WHERE abs(recs.glmix_logit(:gl, l, c) - pg_temp.expected_logit(:gl, l, c)) < 1e-9),
          (SELECT count(*) FROM pairs),
          'glmix_logit equals the stored model''s logit for known learners and an unknown one, every course');
SELECT is((SELECT count(*) FROM pairs p JOIN LATERAL recs.recommend(p.l, 100, model => :gl, exclude_watched => false) r
                                ON r.course_id = p.c
            WHERE abs(r.score - 1 / (1 + exp(-pg_temp.expected_logit(:gl, p.l, p.c)))) < 1e-9),
          (SELECT count(*) FROM pairs),
          'recommend() scores every course as the stored model does');
SELECT ok((SELECT count(DISTINCT round(recs.glmix_logit(:gl, l, c)::numeric, 9)) FROM pairs WHERE c = (SELECT min(c) FROM pairs)) = 6,
          'the learners'' own rows make their scores differ');

-- an unknown learner: the fixed effect (intercept and course features) and
-- the course's effect (its intercept: there are no learner features)
SELECT is((SELECT count(*) FROM pairs WHERE l = 999999 AND abs(recs.glmix_logit(:gl, l, c) - (
              SELECT x.coef[1] + pg_temp.side_dot(:gl, 'course', c, x.coef,
                         1 + (SELECT sum(n_features) FROM recs.glmix_column WHERE model_id = :gl AND side = 'learner')::int)
                     + coalesce((SELECT y.coef[1] FROM recs.glmix_coef y
                                  WHERE y.model_id = :gl AND y.coordinate = 'course_id' AND y.entity = c::text), 0)
                FROM recs.glmix_coef x WHERE x.model_id = :gl AND x.coordinate = 'fixed')) < 1e-9),
          (SELECT count(*) FROM pairs WHERE l = 999999),
          'an unknown learner gets the fixed and per-course effects only');
SELECT results_eq(format('SELECT coordinate, has_model FROM recs.explain(%s, 999999, %s)', :gl, (SELECT min(c) FROM pairs)),
                  $$VALUES ('fixed', true), ('learner_id', false), ('course_id', true), ('segment', false), ('total', true)$$,
                  'explain: an unknown learner has no learner or segment model');
SELECT results_eq(format('SELECT coordinate, entity, has_model FROM recs.explain(%s, %s, %s) WHERE coordinate IN (''learner_id'', ''segment'')',
                         :gl, :lrn, (SELECT min(c) FROM pairs)),
                  format($$VALUES ('learner_id', %L, true), ('segment', %L, true)$$, :lrn,
                         (SELECT keys[3] FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner' AND id = :lrn)),
                  'explain: a known learner''s own and segment models');

-- ---- the cached parts do not grow with the learners ----
CREATE FUNCTION pg_temp.part_bytes(part text, m bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts
     WHERE name = 'recs model part'
       AND ident = format('%s %s %s', part, m, (SELECT cache_token FROM recs.model WHERE model_id = m))
$$;
SELECT recs.glmix_score(:gl, :lrn, (SELECT min(c) FROM pairs)) AS s_before \gset
SELECT count(*) FROM recs.recommend(:lrn, 5, model => :bl);
SELECT pg_temp.part_bytes('glmix', :gl) AS gl_bytes, pg_temp.part_bytes('blend', :bl) AS bl_bytes \gset
SELECT ok(:gl_bytes > 0 AND :bl_bytes > 0, 'the glmix and blend parts are cached');
-- 5,000 more learners, each a copy of a trained one under a new id
INSERT INTO recs.glmix_entity (model_id, side, id, features, "values", keys)
SELECT model_id, side, 7000000 + g * 1000 + id % 1000, features, "values", keys
  FROM recs.glmix_entity, generate_series(1, 25) g WHERE model_id = :gl AND side = 'learner';
INSERT INTO recs.glmix_coef (model_id, coordinate, entity, rows, coef)
SELECT model_id, coordinate, (7000000 + g * 1000 + entity::bigint % 1000)::text, rows, coef
  FROM recs.glmix_coef, generate_series(1, 25) g WHERE model_id = :gl AND coordinate = 'learner_id';
UPDATE recs.glmix_coordinate k SET entities = (SELECT count(*) FROM recs.glmix_coef c
                                                WHERE c.model_id = k.model_id AND c.coordinate = k.name)
 WHERE model_id = :gl;
INSERT INTO recs.blend_learner (model_id, learner_id, keys)
SELECT model_id, 7000000 + g * 1000 + learner_id % 1000, keys
  FROM recs.blend_learner, generate_series(1, 25) g WHERE model_id = :bl;
INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs)
SELECT model_id, coordinate, (7000000 + g * 1000 + entity::bigint % 1000)::text, coefs
  FROM recs.blend_coef, generate_series(1, 25) g WHERE model_id = :bl AND coordinate = 'learner_id';
SELECT ok((SELECT count(*) FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner') > 5000,
          'the glmix model has more than 5,000 learners now');
UPDATE recs.model SET cache_token = cache_token + 1 WHERE model_id IN (:gl, :bl);
SELECT is(recs.glmix_score(:gl, :lrn, (SELECT min(c) FROM pairs)), :s_before::float8, 'the learner''s score is unchanged');
SELECT is(recs.glmix_score(:gl, 7000000 + 1000 + :lrn % 1000, (SELECT min(c) FROM pairs)), :s_before::float8,
          'an added learner scores as the learner copied');
SELECT count(*) FROM recs.recommend(:lrn, 5, model => :bl);
SELECT is(pg_temp.part_bytes('glmix', :gl), :gl_bytes::bigint,
          'the cached glmix part has the same size with 25 times the learners');
SELECT is(pg_temp.part_bytes('blend', :bl), :bl_bytes::bigint,
          'the cached blend part has the same size with 25 times the learners');

-- ---- a corrupt learner row is XX001 naming the row, when that learner is served ----
CREATE FUNCTION pg_temp.error_of(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text;
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || msg || ': ' || det;
END $$;
SAVEPOINT corrupt;
UPDATE recs.glmix_entity SET features = '{5,3}', "values" = '{1,1}' WHERE model_id = :gl AND side = 'learner' AND id = :lrn;
SELECT is(pg_temp.error_of(format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn)),
          format('XX001: recs model %s is corrupt: recs.glmix_entity row (side learner, id %s): element 2 of features is 3, not above the element before it (5).',
                 :gl, :lrn),
          'a learner''s features out of order: XX001 naming the row, without reloading the model');
SELECT is(pg_temp.error_of(format('SELECT count(*) FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl)),
          format('XX001: recs model %s is corrupt: recs.glmix_entity row (side learner, id %s): element 2 of features is 3, not above the element before it (5).',
                 :gl, :lrn),
          'the same through recommend()');
SELECT lives_ok(format('SELECT recs.glmix_score(%s, %s, 1)', :gl, :lrn2), 'another learner is still served');
ROLLBACK TO corrupt;
UPDATE recs.glmix_coef SET coef = coef || 1::float8 WHERE model_id = :gl AND coordinate = 'learner_id' AND entity = :'lrn';
SELECT ok(pg_temp.error_of(format('SELECT * FROM recs.explain(%s, %s, 1)', :gl, :lrn))
          LIKE format('XX001: recs model %s is corrupt: recs.glmix_coef row (coordinate learner_id, entity %s): coef has %% elements, but the coordinate''s number of features is %%', :gl, :lrn),
          'a learner''s coefficient vector too long: XX001 naming the row');
ROLLBACK TO corrupt;
UPDATE recs.glmix_entity SET keys = '{x,NULL,NULL}' WHERE model_id = :gl AND side = 'learner' AND id = :lrn;
SELECT ok(pg_temp.error_of(format('SELECT recs.glmix_logit(%s, %s, 1)', :gl, :lrn))
          LIKE format('XX001: recs model %s is corrupt: recs.glmix_entity row (side learner, id %s): element 1 of keys is set, but random effect "learner_id"%%', :gl, :lrn),
          'a key for the id-keyed effect: XX001 naming the row');
ROLLBACK TO corrupt;

-- ---- forget_learner: nothing of the learner is left in any backend ----
-- (the answer cache remembers this list until the model's cache_token changes)
SELECT isnt((SELECT array_agg(score ORDER BY rank) FROM recs.recommend(:lrn, 5, model => :gl)),
            (SELECT array_agg(score ORDER BY rank) FROM recs.recommend(999999, 5, model => :gl)),
            'before forget_learner, the learner''s list is their own');
SELECT count(*) FROM recs.forget_learner(:lrn);
SELECT is((SELECT count(*) FROM pairs WHERE l = :lrn AND recs.glmix_logit(:gl, l, c) = recs.glmix_logit(:gl, 999999, c)),
          (SELECT count(*) FROM pairs WHERE l = :lrn),
          'a forgotten learner scores as an unknown one');
SELECT results_eq(format('SELECT course_id, score FROM recs.recommend(%s, 5, model => %s)', :lrn, :gl),
                  format('SELECT course_id, score FROM recs.recommend(999999, 5, model => %s)', :gl),
                  'recommend() for a forgotten learner: the unknown learner''s list, not the remembered one');
-- a new learner under the forgotten id gets their new rows, nothing stale
INSERT INTO recs.glmix_entity (model_id, side, id, features, "values", keys)
SELECT model_id, side, :lrn, features, "values", keys FROM recs.glmix_entity
 WHERE model_id = :gl AND side = 'learner' AND id = :lrn2;
SELECT is((SELECT count(*) FROM pairs WHERE l = :lrn AND abs(recs.glmix_logit(:gl, l, c) - pg_temp.expected_logit(:gl, l, c)) < 1e-9),
          (SELECT count(*) FROM pairs WHERE l = :lrn),
          'a learner added after the forget is scored by their new rows only');

SELECT * FROM finish();
ROLLBACK;
