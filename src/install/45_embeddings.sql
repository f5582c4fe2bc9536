-- 45_embeddings.sql -- a model's embeddings as rows, for joining with your
-- own tables or indexing with pgvector (real[] casts to vector).

CREATE FUNCTION recs.course_embeddings(model bigint DEFAULT NULL, slot text DEFAULT NULL)
RETURNS TABLE (course_id bigint, embedding real[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := recs._serving_model_id(model, slot);
    k text;
BEGIN
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
COMMENT ON FUNCTION recs.course_embeddings(bigint, text) IS
    'every course''s embedding of an NCF model (a blend: its NCF component; NULL: the active model, or the slot''s), for joins or a pgvector index (embedding::vector)';

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
