-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- glmix-solver: the fixed effect's matrix-free solver (TRON) and its
-- aggregate recs.glmix_fixed_block_grad; train_glmix(..., solver);
-- grant_access/revoke_access cover the new aggregate
-- ---------------------------------------------------------------------------
-- the matrix-free solver's statistics (glmix_tron.c): O(dim) state, no Hessian
CREATE FUNCTION recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_block_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_serial(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_grad_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_deserial(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_grad_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_fixed_block_grad(block bytea, offsets float8[], coefficients float8[],
                                             direction float8[]) (
    SFUNC = recs._glmix_grad_block_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_grad_final,
    COMBINEFUNC = recs._glmix_grad_combine,
    SERIALFUNC = recs._glmix_grad_serial,
    DESERIALFUNC = recs._glmix_grad_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]) IS
    'the fixed effect''s statistics for the matrix-free solver over train_glmix''s blocks, as one float8[]: rows, weight, loss, gradient, then (direction not NULL) the Hessian times direction';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[]),
    recs._glmix_grad_combine(internal, internal),
    recs._glmix_grad_serial(internal),
    recs._glmix_grad_deserial(bytea, internal),
    recs._glmix_grad_final(internal),
    recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[])
FROM PUBLIC;

-- GLMix match features and hashed crosses (issue #13 item 2): the fixed
-- coordinate records its matches and hash_bits, glmix_column the names of
-- the columns read for matches only; train_glmix gains hash_bits.
ALTER TABLE recs.glmix_coordinate
    ADD COLUMN matches text[],
    ADD COLUMN hash_bits integer CHECK (hash_bits > 0);
-- a column read for matches only: its features' names (it has no coefficients)
ALTER TABLE recs.glmix_column ADD COLUMN value_names text[];
DROP FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text);
CREATE FUNCTION recs.train_glmix(
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[],
    course_features text[],
    name text DEFAULT 'glmix',
    label text DEFAULT 'clicked',
    weighting text DEFAULT 'none',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 3,
    random_effects text[] DEFAULT NULL,
    crosses text[] DEFAULT NULL,
    min_rows integer DEFAULT 1,
    max_rows integer DEFAULT NULL,
    intercepts boolean[] DEFAULT NULL,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    validation regclass DEFAULT NULL,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    seconds_column text DEFAULT 'watch_seconds',
    weight_column text DEFAULT NULL,
    solver text DEFAULT 'auto',
    l2_auto boolean DEFAULT false,
    hash_bits integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, text, boolean, integer) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent; returns the model id';

CREATE OR REPLACE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA recs TO %s', grantee);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._serving_functions(), grantee);
    EXECUTE format('GRANT SELECT ON recs.models TO %s', grantee);
    IF training THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                       'recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]), '
                       'recs.glmix_entity_fit(bytea, float8[], float8[], float8) TO %s', grantee);
    END IF;
END
$$;
CREATE OR REPLACE FUNCTION recs.revoke_access(grantee regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', recs._serving_functions(), grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                   'recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]), '
                   'recs.glmix_entity_fit(bytea, float8[], float8[], float8) FROM %s', grantee);
    EXECUTE format('REVOKE USAGE ON SCHEMA recs FROM %s', grantee);
END
$$;

-- roles that may train (EXECUTE on the dense aggregate, as grant_access gave
-- it) may run the matrix-free one too
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid = 'recs.glmix_fixed_block_stats(bytea, float8[], float8[])'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]) TO %s', r);
    END LOOP;
END
$$;
-- glmix-weighting: GLMix random effects keyed by a column of the impressions
-- (the channel); glmix_score, glmix_logit and explain take an optional context.
ALTER TABLE recs.glmix_coordinate DROP CONSTRAINT glmix_coordinate_keyed_by_check;
ALTER TABLE recs.glmix_coordinate ADD CONSTRAINT glmix_coordinate_keyed_by_check
    CHECK (keyed_by IN ('learner', 'course', 'impression'));
COMMENT ON TABLE recs.glmix_coordinate IS
    'per glmix model: the fixed effect (position 0, name ''fixed'') and each random effect (keyed by a learner, a course or an impressions column such as the channel), with the names of its coefficient vector''s features';

-- the roles that may serve keep that right on the new signatures
CREATE TEMP TABLE recs_glmix_context_grantees AS
SELECT DISTINCT a.grantee::regrole AS grantee
  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
 WHERE p.oid = 'recs.glmix_score(bigint, bigint, bigint)'::regprocedure
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0;

DROP FUNCTION recs.glmix_score(bigint, bigint, bigint);
DROP FUNCTION recs.glmix_logit(bigint, bigint, bigint);
DROP FUNCTION recs.explain(bigint, bigint, bigint);

-- Not STRICT, for the optional context: a NULL model, learner or course
-- still gives NULL (no rows for explain).
CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect; context (e.g. {"channel": "feed"}) applies the effects keyed by impressions columns, absent = their average (zero)';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint, jsonb) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint, jsonb) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total; context as in glmix_score';

ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION
    recs.glmix_score(bigint, bigint, bigint, jsonb),
    recs.glmix_logit(bigint, bigint, bigint, jsonb),
    recs.explain(bigint, bigint, bigint, jsonb)
FROM PUBLIC;

CREATE OR REPLACE FUNCTION recs._serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]), '
        || 'recs.recommend_all(integer, bigint, boolean, bigint[]), recs.score(bigint, bigint, bigint), '
        || 'recs.similar_courses(bigint, integer, bigint), recs.embed_learner(bigint, bigint[]), '
        || 'recs.course_map(bigint), recs.glmix_score(bigint, bigint, bigint, jsonb), '
        || 'recs.glmix_logit(bigint, bigint, bigint, jsonb), recs.explain(bigint, bigint, bigint, jsonb), '
        || 'recs.explain_recommendation(bigint, bigint, bigint), recs.explain(bigint, bigint), '
        || 'recs.model_id(text), recs.course_embeddings(bigint)'
$$;

DO $$
DECLARE
    g regrole;
BEGIN
    FOR g IN SELECT grantee FROM recs_glmix_context_grantees LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb), '
                       'recs.glmix_logit(bigint, bigint, bigint, jsonb), '
                       'recs.explain(bigint, bigint, bigint, jsonb) TO %s', g);
    END LOOP;
END
$$;
DROP TABLE recs_glmix_context_grantees;
