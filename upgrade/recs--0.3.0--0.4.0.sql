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
