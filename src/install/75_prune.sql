-- 75_prune.sql -- recs.prune: dropping old model versions that nothing uses.

CREATE FUNCTION recs.prune(keep integer DEFAULT 3, name text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    dropped integer := 0;
    r record;
BEGIN
    keep := COALESCE(keep, 3);
    IF keep < 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('keep must not be negative, not %s', keep);
    END IF;
    -- blends first, so that the components they alone used can go too
    FOR r IN SELECT v.model_id FROM (
                 SELECT m.model_id, m.kind,
                        row_number() OVER (PARTITION BY m.name ORDER BY m.version DESC) AS newer
                   FROM recs.model m WHERE prune.name IS NULL OR m.name = prune.name) v
              WHERE v.newer > keep
                AND NOT EXISTS (SELECT 1 FROM recs.deployment d WHERE d.model_id = v.model_id)
              ORDER BY v.kind = 'blend' DESC, v.model_id
    LOOP
        -- a component of a blend that stays, stays
        IF NOT EXISTS (SELECT 1 FROM recs.blend_component b WHERE b.component_id = r.model_id) THEN
            PERFORM recs.drop_model(r.model_id);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END
$$;
COMMENT ON FUNCTION recs.prune(integer, text) IS
    'drop every version of each model name (or of the given name) but the newest keep, except deployed models and components of blends that stay; returns how many went';
