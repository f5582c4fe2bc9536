-- recs--0.2.0--0.2.1.sql -- ALTER EXTENSION recs UPDATE TO '0.2.1'.
--
-- 0.2.1 is a security release.  The shared library validates everything a
-- caller or a model row can hand it, and runs all of its SQL with
-- search_path = pg_catalog, pg_temp; this script makes the catalog match:
--   - recs.model gets cache_token, a random number per model version that
--     keys the serving cache (the row's xmin did not tell apart two models
--     that shared an id within one transaction); existing models draw one;
--   - EXECUTE on the GLMix aggregates' support functions and on the block
--     forms of the aggregates is revoked from PUBLIC; grant_access(role,
--     training => true) grants the block forms, revoke_access takes them back.
-- Stored models need no other change.  Roles that may write recs.model
-- (those given training rights) keep training GLMix models: they are granted
-- the block aggregates here.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.2.1'" to load this file. \quit

ALTER TABLE recs.model
    ADD COLUMN cache_token bigint NOT NULL DEFAULT (pg_catalog.random() * 9.2e18)::bigint;

CREATE OR REPLACE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA recs TO %s', grantee);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA recs TO %s', grantee);
    IF training THEN
        EXECUTE format('GRANT INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                       'recs.glmix_entity_fit(bytea, float8[], float8[], float8) TO %s', grantee);
    END IF;
END
$$;
COMMENT ON FUNCTION recs.grant_access(regrole, boolean) IS
    'let a role call recommend() and read models (training => true: also train, activate and drop models)';

CREATE OR REPLACE FUNCTION recs.revoke_access(grantee regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                   'recs.glmix_entity_fit(bytea, float8[], float8[], float8) FROM %s', grantee);
    EXECUTE format('REVOKE USAGE ON SCHEMA recs FROM %s', grantee);
END
$$;
COMMENT ON FUNCTION recs.revoke_access(regrole) IS
    'take back what recs.grant_access gave a role';

-- Nobody but the extension's owner calls the support functions: the
-- aggregates run them with their owner's rights.  The block forms serve
-- train_glmix's own queries only; recs.grant_access(role, training => true)
-- lets a training role run them.  Every one of them still validates its
-- input completely, since a superuser may call them with anything.
REVOKE EXECUTE ON FUNCTION
    recs._glmix_fixed_row_accum(internal, float8, float8, float8, integer[], float8[], float8[]),
    recs._glmix_fixed_block_accum(internal, bytea, float8[], float8[]),
    recs._glmix_fixed_combine(internal, internal),
    recs._glmix_fixed_serial(internal),
    recs._glmix_fixed_deserial(bytea, internal),
    recs._glmix_fixed_final(internal),
    recs._glmix_fixed_block_final(internal),
    recs._glmix_entity_row_accum(internal, float8, float8, float8, integer[], float8[], integer, float8),
    recs._glmix_entity_block_accum(internal, bytea, float8[], float8[], float8),
    recs._glmix_entity_combine(internal, internal),
    recs._glmix_entity_serial(internal),
    recs._glmix_entity_deserial(bytea, internal),
    recs._glmix_entity_final(internal),
    recs.glmix_fixed_block_stats(bytea, float8[], float8[]),
    recs.glmix_entity_fit(bytea, float8[], float8[], float8)
FROM PUBLIC;

DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
              WHERE c.oid = 'recs.model'::pg_catalog.regclass AND a.privilege_type = 'INSERT'
                AND a.grantee <> 0 AND a.grantee <> c.relowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                                  'recs.glmix_entity_fit(bytea, float8[], float8[], float8) TO %s', r);
    END LOOP;
END
$$;
