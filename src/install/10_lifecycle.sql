-- 10_lifecycle.sql -- model lifecycle: activate, drop, list.

CREATE FUNCTION recs.activate(model_id bigint, slot text DEFAULT 'default')
RETURNS bigint
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recs.model m WHERE m.model_id = activate.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model %s does not exist', activate.model_id),
            HINT = 'SELECT * FROM recs.models lists the trained models.';
    END IF;
    -- now() in VALUES, not in DO UPDATE: Citus (recs.citus_setup) evaluates
    -- it once on the coordinator, and refuses non-immutable DO UPDATE SETs
    INSERT INTO recs.deployment AS d (slot, model_id, activated_at)
    VALUES (activate.slot, activate.model_id, now())
    ON CONFLICT ON CONSTRAINT deployment_pkey DO UPDATE
        SET model_id = EXCLUDED.model_id, activated_at = EXCLUDED.activated_at;
    RETURN activate.model_id;
END
$$;
COMMENT ON FUNCTION recs.activate(bigint, text) IS
    'make a model serve a deployment slot (default: the slot recommend() reads); takes effect at commit';

CREATE FUNCTION recs.model_id(name text)
RETURNS bigint
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    SELECT m.model_id INTO id FROM recs.model m
     WHERE m.name = model_id.name
     ORDER BY m.version DESC LIMIT 1;
    IF id IS NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model "%s" does not exist', model_id.name),
            HINT = 'SELECT * FROM recs.models lists the trained models.';
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION recs.model_id(text) IS
    'id of the latest version of the named model';

CREATE FUNCTION recs.drop_model(model_id bigint, force boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM recs.model m WHERE m.model_id = drop_model.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'undefined_object',
            MESSAGE = format('recs model %s does not exist', drop_model.model_id);
    END IF;
    IF EXISTS (SELECT 1 FROM recs.blend_component b WHERE b.component_id = drop_model.model_id) THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_in_use',
            MESSAGE = format('recs model %s is a component of blend model %s', drop_model.model_id,
                             (SELECT min(b.model_id) FROM recs.blend_component b
                               WHERE b.component_id = drop_model.model_id)),
            HINT = 'Drop the blend first.';
    END IF;
    IF EXISTS (SELECT 1 FROM recs.deployment d WHERE d.model_id = drop_model.model_id) THEN
        IF NOT force THEN
            RAISE EXCEPTION USING
                ERRCODE = 'object_in_use',
                MESSAGE = format('recs model %s is deployed', drop_model.model_id),
                HINT = 'Activate another model first, or pass force => true to undeploy it.';
        END IF;
        DELETE FROM recs.deployment d WHERE d.model_id = drop_model.model_id;
    END IF;
    -- the parts first, by name: on Citus (recs.citus_setup) no foreign key
    -- cascades; on one node this finds what the cascade would have
    FOREACH part IN ARRAY ARRAY['model_learner', 'course_popularity', 'ncf_layer', 'ncf_course',
                                'ncf_learner', 'ncf_cowatch', 'ncf_course_feature', 'glmix_coordinate', 'glmix_column',
                                'glmix_entity', 'glmix_coef', 'blend_component', 'blend_coef',
                                'blend_learner'] LOOP
        EXECUTE format('DELETE FROM recs.%I t WHERE t.model_id = $1', part) USING drop_model.model_id;
    END LOOP;
    DELETE FROM recs.model m WHERE m.model_id = drop_model.model_id;
END
$$;
COMMENT ON FUNCTION recs.drop_model(bigint, boolean) IS
    'delete a model version and all its parts; a deployed model needs force => true';

CREATE VIEW recs.models AS
SELECT m.model_id, m.name, m.version, m.kind, m.status, m.created_at,
       m.trained_through,
       (SELECT array_agg(d.slot ORDER BY d.slot) FROM recs.deployment d
         WHERE d.model_id = m.model_id) AS deployed_in,
       m.params, m.metrics
  FROM recs.model m;
COMMENT ON VIEW recs.models IS
    'trained models with the deployment slots they serve, their parameters and metrics';

