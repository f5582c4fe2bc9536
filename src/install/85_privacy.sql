-- 85_privacy.sql -- the right to be forgotten: a learner's rows out of every
-- model.

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
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs._forget_learner_id(learner_id, false) $$;
COMMENT ON FUNCTION recs.forget_learner(bigint) IS
    'delete a learner''s rows from every model (histories, embeddings, features, per-learner coefficients and blend weights) and make every backend reload those models; reports the rows removed per table';

-- private functions ---------------------------------------------------------

-- the learner with this id in every model keyed by integers (keyed false)
-- or in every model keyed by uuid or text (keyed true: a recs.id_key id);
-- forget_learner(text) and forget_learner(uuid) are in 75_keys.sql
CREATE FUNCTION recs._forget_learner_id(learner_id bigint, keyed boolean)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id_text text := learner_id::text;
    touched bigint[] := '{}';
    ids bigint[];
    models bigint[] := ARRAY(SELECT m.model_id FROM recs.model m WHERE (m.learner_key <> 'bigint') = keyed);
    touched_id bigint;
    new_token bigint;
BEGIN
    table_name := 'recs.model_learner';
    WITH d AS (DELETE FROM recs.model_learner t WHERE t.learner_id = _forget_learner_id.learner_id AND t.model_id = ANY (models) RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.ncf_learner';
    WITH d AS (DELETE FROM recs.ncf_learner t WHERE t.learner_id = _forget_learner_id.learner_id AND t.model_id = ANY (models) RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.glmix_entity';
    WITH d AS (DELETE FROM recs.glmix_entity t WHERE t.side = 'learner' AND t.id = _forget_learner_id.learner_id AND t.model_id = ANY (models)
               RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner GLMix coefficients: coordinates keyed by the learner id
    table_name := 'recs.glmix_coef';
    WITH d AS (DELETE FROM recs.glmix_coef c USING recs.glmix_coordinate k
                WHERE k.model_id = c.model_id AND k.name = c.coordinate AND k.keyed_by = 'learner'
                  AND k.by_id AND c.entity = id_text AND c.model_id = ANY (models)
               RETURNING c.model_id, c.coordinate),
         u AS (UPDATE recs.glmix_coordinate k SET entities = k.entities - n.n
                 FROM (SELECT d.model_id, d.coordinate, count(*) AS n FROM d GROUP BY 1, 2) n
                WHERE k.model_id = n.model_id AND k.name = n.coordinate RETURNING k.model_id)
    SELECT (SELECT count(*) FROM d), (SELECT array_agg(DISTINCT u.model_id) FROM u) INTO rows_removed, ids;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    table_name := 'recs.blend_learner';
    WITH d AS (DELETE FROM recs.blend_learner t WHERE t.learner_id = _forget_learner_id.learner_id AND t.model_id = ANY (models) RETURNING t.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- per-learner blend weights: the coordinate named by the blend's learner column
    table_name := 'recs.blend_coef';
    WITH d AS (DELETE FROM recs.blend_coef c USING recs.model m
                WHERE m.model_id = c.model_id AND c.coordinate = m.params->>'learner_column'
                  AND c.entity = id_text AND c.model_id = ANY (models)
               RETURNING c.model_id)
    SELECT count(*), array_agg(DISTINCT d.model_id) INTO rows_removed, ids FROM d;
    touched := touched || coalesce(ids, '{}');
    RETURN NEXT;

    -- every backend reloads the models it touched at their next call (a
    -- token drawn here per model: Citus, after recs.citus_setup, evaluates no
    -- volatile function in an UPDATE of its reference tables)
    FOR touched_id IN SELECT DISTINCT t FROM unnest(touched) t LOOP
        new_token := (random() * 9.2e18)::bigint;
        UPDATE recs.model m SET cache_token = new_token WHERE m.model_id = touched_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs._forget_learner_id(bigint, boolean) IS
    'private: forget_learner''s work, in the models keyed by integers or in those keyed by uuid or text';
