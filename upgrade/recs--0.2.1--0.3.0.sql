-- recs--0.2.1--0.3.0.sql -- ALTER EXTENSION recs UPDATE TO '0.3.0'.
--
-- 0.3.0 serves without giving anyone the model tables: the serving functions
-- run as the extension's owner (SECURITY DEFINER, fixed search_path) and
-- EXECUTE on them is no longer PUBLIC; recs.grant_access(role) gives
-- EXECUTE on them and SELECT on recs.models only.  recs.forget_learner()
-- deletes a learner from every model; recs.course_embeddings and
-- recs.learner_embeddings return a model's embeddings as rows (for pgvector).  The update moves existing grants to
-- the new policy: every role with USAGE on schema recs gets EXECUTE on the
-- serving functions, and a serving-only role (one that may not write
-- recs.model) loses SELECT on the model tables.  The shared library also
-- serves the 0.2.1 definitions; stored models need no change.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.3.0'" to load this file. \quit

DROP FUNCTION recs.grant_access(regrole, boolean);
DROP FUNCTION recs.revoke_access(regrole);

CREATE FUNCTION recs.course_embeddings(model bigint DEFAULT NULL)
RETURNS TABLE (course_id bigint, embedding real[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := model;
    k text;
BEGIN
    IF m IS NULL THEN
        SELECT d.model_id INTO m FROM recs.deployment d WHERE d.slot = 'default';
        IF m IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'no recs model is active in slot "default"';
        END IF;
    END IF;
    SELECT x.kind INTO k FROM recs.model x WHERE x.model_id = m;
    IF k IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('recs model %s does not exist', m);
    END IF;
    IF k = 'blend' THEN
        -- a blend's course embeddings are those of its first NCF component
        SELECT bc.component_id INTO m FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
         WHERE bc.model_id = m AND x.kind = 'ncf' ORDER BY bc.position LIMIT 1;
        k := CASE WHEN m IS NULL THEN 'blend' ELSE 'ncf' END;
    END IF;
    IF k <> 'ncf' THEN
        RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
            MESSAGE = format('recs model %s is a %s model, which has no course embeddings', coalesce(m, model), k),
            HINT = 'Pass an NCF model, or a blend with an NCF component.';
    END IF;
    RETURN QUERY SELECT c.course_id, c.embedding FROM recs.ncf_course c WHERE c.model_id = m ORDER BY c.course_id;
END
$$;
COMMENT ON FUNCTION recs.course_embeddings(bigint) IS
    'every course''s embedding of an NCF model (a blend: its NCF component; NULL: the active model), for joins or a pgvector index (embedding::vector)';

-- learners' embeddings are personal data: read with the caller's rights
CREATE FUNCTION recs.learner_embeddings(model bigint)
RETURNS TABLE (learner_id bigint, embedding real[])
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.learner_id, l.embedding FROM recs.ncf_learner l WHERE l.model_id = learner_embeddings.model
     ORDER BY l.learner_id
$$;
COMMENT ON FUNCTION recs.learner_embeddings(bigint) IS
    'every learner''s embedding of an NCF model, with the caller''s rights (a training role)';

ALTER FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[])
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[]) SECURITY DEFINER;
ALTER FUNCTION recs.score(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.similar_courses(bigint, integer, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.embed_learner(bigint, bigint[]) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.course_map(bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain_recommendation(bigint, bigint, bigint) SECURITY DEFINER;
ALTER FUNCTION recs.explain(bigint, bigint) SECURITY DEFINER;
ALTER FUNCTION recs.model_id(text) SECURITY DEFINER;
ALTER FUNCTION recs.course_embeddings(bigint) SECURITY DEFINER;

REVOKE EXECUTE ON FUNCTION
    recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]),
    recs.recommend_all(integer, bigint, boolean, bigint[]),
    recs.score(bigint, bigint, bigint),
    recs.similar_courses(bigint, integer, bigint),
    recs.embed_learner(bigint, bigint[]),
    recs.course_map(bigint),
    recs.glmix_score(bigint, bigint, bigint),
    recs.glmix_logit(bigint, bigint, bigint),
    recs.explain(bigint, bigint, bigint),
    recs.explain_recommendation(bigint, bigint, bigint),
    recs.explain(bigint, bigint),
    recs.model_id(text),
    recs.course_embeddings(bigint)
FROM PUBLIC;

-- the serving functions, for grant_access and revoke_access
CREATE FUNCTION recs._serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]), '
        || 'recs.recommend_all(integer, bigint, boolean, bigint[]), recs.score(bigint, bigint, bigint), '
        || 'recs.similar_courses(bigint, integer, bigint), recs.embed_learner(bigint, bigint[]), '
        || 'recs.course_map(bigint), recs.glmix_score(bigint, bigint, bigint), '
        || 'recs.glmix_logit(bigint, bigint, bigint), recs.explain(bigint, bigint, bigint), '
        || 'recs.explain_recommendation(bigint, bigint, bigint), recs.explain(bigint, bigint), '
        || 'recs.model_id(text), recs.course_embeddings(bigint)'
$$;
COMMENT ON FUNCTION recs._serving_functions() IS
    'the serving functions (SECURITY DEFINER, not PUBLIC) that grant_access gives a role, as a list for GRANT';

CREATE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
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
                       'recs.glmix_entity_fit(bytea, float8[], float8[], float8) TO %s', grantee);
    END IF;
END
$$;
COMMENT ON FUNCTION recs.grant_access(regrole, boolean) IS
    'let a role serve (EXECUTE on the serving functions, no access to the model tables; training => true: also train, evaluate, activate and drop models)';

CREATE FUNCTION recs.revoke_access(grantee regrole)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA recs FROM %s', grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM %s', recs._serving_functions(), grantee);
    EXECUTE format('REVOKE EXECUTE ON FUNCTION recs.glmix_fixed_block_stats(bytea, float8[], float8[]), '
                   'recs.glmix_entity_fit(bytea, float8[], float8[], float8) FROM %s', grantee);
    EXECUTE format('REVOKE USAGE ON SCHEMA recs FROM %s', grantee);
END
$$;
COMMENT ON FUNCTION recs.revoke_access(regrole) IS
    'take back what recs.grant_access gave a role';

-- What a model keeps of one learner is in rows keyed by their id: their
-- history (model_learner), their NCF embedding, their GLMix features and
-- per-learner coefficients, their blend keys and per-learner blend weights.
-- forget_learner deletes all of them, keeps each model consistent (a GLMix
-- coordinate's entity count), and gives every model it touched a new
-- cache_token, so every backend reloads it at its next call and no cache
-- still knows the learner.  What it cannot take back is the learner's share
-- in parameters fitted on everyone's data -- tower weights, co-watch
-- similarities, popularity counts, fixed and per-course effects: those go at
-- the next training, which reads the source relations as they are then.
-- It runs as the caller, who needs DELETE on the model tables (a training
-- role, see grant_access).
CREATE FUNCTION recs.forget_learner(learner_id bigint)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_text text := learner_id::text;
    touched bigint[] := '{}';
    ids bigint[];
BEGIN
    table_name := 'recs.model_learner';
    WITH d AS (DELETE FROM recs.model_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.ncf_learner';
    WITH d AS (DELETE FROM recs.ncf_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.glmix_entity';
    WITH d AS (DELETE FROM recs.glmix_entity t WHERE t.side = 'learner' AND t.id = forget_learner.learner_id
               RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner GLMix coefficients: coordinates keyed by the learner id
    table_name := 'recs.glmix_coef';
    WITH d AS (DELETE FROM recs.glmix_coef c USING recs.glmix_coordinate k
                WHERE k.model_id = c.model_id AND k.name = c.coordinate AND k.keyed_by = 'learner'
                  AND k.by_id AND c.entity = id_text
               RETURNING c.model_id, c.coordinate),
         u AS (UPDATE recs.glmix_coordinate k SET entities = k.entities - n.n
                 FROM (SELECT d.model_id, d.coordinate, count(*) AS n FROM d GROUP BY 1, 2) n
                WHERE k.model_id = n.model_id AND k.name = n.coordinate RETURNING k.model_id)
    SELECT (SELECT count(*) FROM d), (SELECT array_agg(DISTINCT u.model_id) FROM u) INTO rows_removed, ids;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.blend_learner';
    WITH d AS (DELETE FROM recs.blend_learner t WHERE t.learner_id = forget_learner.learner_id RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner blend weights: the coordinate named by the blend's learner column
    table_name := 'recs.blend_coef';
    WITH d AS (DELETE FROM recs.blend_coef c USING recs.model m
                WHERE m.model_id = c.model_id AND c.coordinate = m.params->>'learner_column'
                  AND c.entity = id_text
               RETURNING c.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- every backend reloads the models it touched at their next call
    UPDATE recs.model m SET cache_token = (random() * 9.2e18)::bigint
     WHERE m.model_id = ANY (touched);
END
$$;
COMMENT ON FUNCTION recs.forget_learner(bigint) IS
    'delete a learner''s rows from every model (histories, embeddings, features, per-learner coefficients and blend weights) and make every backend reload those models; reports the rows removed per table';

-- existing grants, moved to the 0.3.0 policy
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_namespace n, pg_catalog.aclexplode(n.nspacl) a
              WHERE n.nspname = 'recs' AND a.privilege_type = 'USAGE'
                AND a.grantee <> 0 AND a.grantee <> n.nspowner
    LOOP
        IF NOT pg_catalog.has_table_privilege(r::oid, 'recs.model', 'INSERT') THEN
            EXECUTE pg_catalog.format('REVOKE ALL ON ALL TABLES IN SCHEMA recs FROM %s', r);
        END IF;
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._serving_functions(), r);
        EXECUTE pg_catalog.format('GRANT SELECT ON recs.models TO %s', r);
    END LOOP;
END
$$;
