-- 80_access.sql -- who may do what: serving that sees no one's history,
-- training with the caller's own rights.
--
-- Serving functions run as the extension's owner (SECURITY DEFINER, with a
-- fixed search_path; none builds SQL from its arguments), so an application
-- role needs EXECUTE on them and nothing else: no SELECT on any model table,
-- which hold every learner's watched courses, embeddings and coefficients.
-- EXECUTE on them is therefore not PUBLIC; recs.grant_access gives it.
-- Everything that reads the caller's relations -- training, evaluate,
-- course_map_svg -- runs as the caller (SECURITY INVOKER), so GRANTs and
-- row-level security on those relations apply, and it needs the model
-- tables' privileges that grant_access(role, training => true) gives.

ALTER FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[], text) SECURITY DEFINER;
ALTER FUNCTION recs.score(bigint, bigint, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.similar_courses(bigint, integer, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.embed_learner(bigint, bigint[], text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.embed_course(bigint, jsonb, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.course_map(bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint, text, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint, text, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint, text, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain_recommendation(bigint, bigint, bigint, text) SECURITY DEFINER;
ALTER FUNCTION recs.explain(bigint, bigint, text) SECURITY DEFINER;
ALTER FUNCTION recs.model_id(text) SECURITY DEFINER;
ALTER FUNCTION recs.course_embeddings(bigint, text) SECURITY DEFINER;

REVOKE EXECUTE ON FUNCTION
    recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text),
    recs.recommend_all(integer, bigint, boolean, bigint[], text),
    recs.score(bigint, bigint, bigint, text),
    recs.similar_courses(bigint, integer, bigint, text),
    recs.embed_learner(bigint, bigint[], text),
    recs.embed_course(bigint, jsonb, text),
    recs.course_map(bigint, text),
    recs.glmix_score(bigint, bigint, bigint, text, jsonb),
    recs.glmix_logit(bigint, bigint, bigint, text, jsonb),
    recs.explain(bigint, bigint, bigint, text, jsonb),
    recs.explain_recommendation(bigint, bigint, bigint, text),
    recs.explain(bigint, bigint, text),
    recs.model_id(text),
    recs.course_embeddings(bigint, text)
FROM PUBLIC;

-- the serving functions, for grant_access and revoke_access
CREATE FUNCTION recs._serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text), '
        || 'recs.recommend_all(integer, bigint, boolean, bigint[], text), recs.score(bigint, bigint, bigint, text), '
        || 'recs.similar_courses(bigint, integer, bigint, text), recs.embed_learner(bigint, bigint[], text), '
        || 'recs.course_map(bigint, text), recs.glmix_score(bigint, bigint, bigint, text, jsonb), '
        || 'recs.glmix_logit(bigint, bigint, bigint, text, jsonb), recs.explain(bigint, bigint, bigint, text, jsonb), '
        || 'recs.explain_recommendation(bigint, bigint, bigint, text), recs.explain(bigint, bigint, text), '
        || 'recs.model_id(text), recs.course_embeddings(bigint, text), recs.embed_course(bigint, jsonb, text), '
        || recs._key_serving_functions()
$$;
COMMENT ON FUNCTION recs._serving_functions() IS
    'the serving functions (SECURITY DEFINER, not PUBLIC) that grant_access gives a role, as a list for GRANT';

-- the training-only functions: the pushed-down GLMix aggregates and block
-- functions (not PUBLIC) that grant_access(..., training => true) gives
CREATE FUNCTION recs._training_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
        || 'recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]), '
        || 'recs.glmix_entity_fit(bytea, float8[], float8[], float8), '
        || 'recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[]), '
        || 'recs._glmix_flat_scores(bytea, float8[], float8[]), '
        || 'recs._glmix_flat_fixed_stats(bytea, bytea, float8[], float8[], float8[]), '
        || 'recs._glmix_flat_loss(bytea, bytea, float8[], float8[], boolean, float8[]), '
        || 'recs._glmix_flat_fixed_grad(bytea, bytea, float8[], float8[], float8[], float8[]), '
        || 'recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[]), '
        || 'recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[]), '
        || 'recs._glmix_flat_course_scores(bigint[], integer[], float8[], bigint[], float8[], integer, boolean, bigint[], bigint[]), '
        || 'recs._glmix_flat_entity_stats(bytea, float8[], integer, float8[], integer), '
        || 'recs._glmix_flat_add(float8[], float8[]), '
        || 'recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[]), '
        || 'recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer), '
        || 'recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer), '
        || 'recs._glmix_flat_valid_rows(bytea, bytea, float8[], float8[], float8[]), '
        || 'recs._glmix_flat_cap_rows(bytea, bigint[], bigint[], bigint[]), '
        || 'recs._glmix_flat_cap_sample(text, bigint[], bigint[], float8[], float8[], integer, bigint, integer), '
        || 'recs._glmix_flat_cap_weights(bytea, bigint[], bigint[], bigint[], integer[], float8[]), '
        || 'recs._glmix_flat_reweight(bytea, float8[])'
$$;
COMMENT ON FUNCTION recs._training_functions() IS
    'the training-only functions (GLMix''s pushed-down aggregates and block functions, not PUBLIC) that grant_access(..., training => true) gives a role, as a list for GRANT';

-- grant_access and revoke_access change the privileges of the extension's
-- objects: one clear error for anyone else, before any GRANT or REVOKE (a
-- non-owner's REVOKE would warn once per object, then fail)
CREATE FUNCTION recs._require_owner(caller text)
RETURNS void
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    owner oid := (SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'recs');
BEGIN
    IF NOT pg_has_role(current_user, owner, 'USAGE') THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
            MESSAGE = format('only the owner of extension recs may run recs.%s', caller),
            DETAIL = format('Role %s is not a member of %s, which owns schema recs and its functions.',
                            quote_ident(current_user), quote_ident(owner::regrole::text)),
            HINT = 'Run it as the role that created the extension, or as a superuser.';
    END IF;
END
$$;
COMMENT ON FUNCTION recs._require_owner(text) IS
    'private: an error unless the current user is (a member of) the owner of schema recs';

CREATE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- NULL without Citus
    ddl_propagation text := current_setting('citus.enable_ddl_propagation', true);
BEGIN
    PERFORM recs._require_owner('grant_access');
    -- on Citus, this node's grants only, with DDL propagation off: each worker
    -- makes its own (below), and grants this transaction propagated would hold
    -- locks there that the workers' own calls wait for
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA recs TO %s', grantee);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._serving_functions(), grantee);
    EXECUTE format('GRANT SELECT ON recs.models TO %s', grantee);
    IF training THEN
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA recs TO %s', grantee);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._training_functions(), grantee);
    END IF;
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', ddl_propagation, true);
    END IF;
    -- on a Citus coordinator, every worker too (90_citus.sql)
    PERFORM recs._citus_on_workers(format('recs.grant_access(%L::regrole, %L)', grantee, training));
END
$$;
COMMENT ON FUNCTION recs.grant_access(regrole, boolean) IS
    'let a role serve (EXECUTE on the serving functions, no access to the model tables; training => true: also train, evaluate, activate and drop models); on a Citus coordinator, on every worker too';

CREATE FUNCTION recs.revoke_access(grantee regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ddl_propagation text := current_setting('citus.enable_ddl_propagation', true);
BEGIN
    PERFORM recs._require_owner('revoke_access');
    -- as in grant_access: this node's, then each worker's own
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', recs._serving_functions(), grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', recs._training_functions(), grantee);
    EXECUTE format('REVOKE USAGE ON SCHEMA recs FROM %s', grantee);
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', ddl_propagation, true);
    END IF;
    PERFORM recs._citus_on_workers(format('recs.revoke_access(%L::regrole)', grantee));
END
$$;
COMMENT ON FUNCTION recs.revoke_access(regrole) IS
    'take back what recs.grant_access gave a role (on a Citus coordinator, on every worker too)';
