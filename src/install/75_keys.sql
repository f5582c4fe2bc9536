-- 75_keys.sql -- uuid and text ids: the id dictionary, each model's key
-- types, and the serving functions for uuid and text keys.
--
-- Models store int64 ids.  A training that reads a uuid or text id column
-- maps its keys to ids through recs.id_key (src/ingest/keys.c) and records
-- the key types in its recs.model row.  The functions below take keys,
-- map them through the dictionary (an index lookup each), call the bigint
-- serving functions with recs.dictionary_ids on (without it those refuse a
-- keyed model: serving_keys.c) and map course ids back: in C for the hot
-- calls (recommend, score, glmix_score, glmix_logit, similar_courses:
-- src/serving/serving_keyed.c), in SQL for the rest.
--   text overloads: any model; the text form of its keys (an integer's
--                   digits for a bigint-keyed model); courses returned as text
--   uuid overloads: a model whose learners are keyed by uuid or text and
--                   whose courses are keyed by uuid; courses returned as uuid
-- A key the dictionary does not know serves as an unknown bigint id does.
-- Each names its model as its bigint twin does: model => an id or slot =>
-- a deployment slot (both, an unknown model or slot: the same errors),
-- neither the default slot (score, glmix_*, explain(model, ...),
-- embed_learner_keys, course_map: neither gives NULL or no rows, as theirs).

ALTER TABLE recs.model
    ADD COLUMN learner_key text NOT NULL DEFAULT 'bigint'
        CHECK (learner_key IN ('bigint', 'uuid', 'text')),
    ADD COLUMN course_key text NOT NULL DEFAULT 'bigint'
        CHECK (course_key IN ('bigint', 'uuid', 'text'));
COMMENT ON COLUMN recs.model.learner_key IS
    'how the training relations keyed learners: bigint (integers, the ids themselves), uuid or text (through recs.id_key)';
COMMENT ON COLUMN recs.model.course_key IS
    'how the training relations keyed courses: bigint, uuid or text';

-- One dictionary per id space (learners, courses), shared by every model:
-- a blend scores its components by id, train_all trains four models on
-- the same relations, and a key keeps its id from one training to the next.
CREATE TABLE recs.id_key (
    side text NOT NULL CHECK (side IN ('learner', 'course')),
    key  text NOT NULL,
    id   bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (side, key),
    UNIQUE (side, id)
);
COMMENT ON TABLE recs.id_key IS
    'the ids of uuid and text keys (a uuid as its text), per side; trainings add the keys they read, in key order';
SELECT pg_catalog.pg_extension_config_dump('recs.id_key', '');
SELECT pg_catalog.pg_extension_config_dump('recs.id_key_id_seq', '');

-- private functions ---------------------------------------------------------

CREATE FUNCTION recs._model_keys(model bigint, slot text DEFAULT NULL, OUT model_id bigint,
                                 OUT learner_key text, OUT course_key text)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    -- the model by the serving functions' one rule (recs._serving_model_id), any key types
    SELECT x.model_id, x.learner_key, x.course_key
      FROM recs.model x WHERE x.model_id = recs._serving_model_id(_model_keys.model, _model_keys.slot)
$$;
COMMENT ON FUNCTION recs._model_keys(bigint, text) IS
    'private: the model a keyed serving call names by model => or slot => (neither: slot default), and its key types';

-- a key's id for a model keyed by key_type: the integer itself, or its
-- dictionary id (0, which no key has, when the dictionary does not know it)
CREATE FUNCTION recs._key_id(side text, key_type text, key text)
RETURNS bigint
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN key_type = 'bigint' THEN _key_id.key::bigint
                ELSE coalesce((SELECT k.id FROM recs.id_key k
                                WHERE k.side = _key_id.side
                                  AND k.key = CASE WHEN key_type = 'uuid' THEN _key_id.key::uuid::text
                                                   ELSE _key_id.key END), 0)
           END
$$;
COMMENT ON FUNCTION recs._key_id(text, text, text) IS
    'private: the id of a learner or course key under a model''s key type (0 for an unknown key)';

CREATE FUNCTION recs._key_ids(side text, key_type text, keys text[])
RETURNS bigint[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(array_agg(recs._key_id(side, key_type, u.key) ORDER BY u.ord), '{}')
      FROM unnest(keys) WITH ORDINALITY u(key, ord)
$$;
COMMENT ON FUNCTION recs._key_ids(text, text, text[]) IS
    'private: recs._key_id of each element, in order (NULL stays NULL)';

CREATE FUNCTION recs._id_key(side text, key_type text, id bigint)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN key_type = 'bigint' THEN id::text
                ELSE (SELECT k.key FROM recs.id_key k WHERE k.side = _id_key.side AND k.id = _id_key.id) END
$$;
COMMENT ON FUNCTION recs._id_key(text, text, bigint) IS
    'private: the key of a learner or course id under a model''s key type';

-- the uuid overloads' check of the model they serve (by model => or slot
-- =>, neither: the default slot): uuid (or text) learners, uuid courses;
-- returns its id
CREATE FUNCTION recs._uuid_model(model bigint, slot text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record := recs._model_keys(model, slot);
BEGIN
    IF k.learner_key = 'bigint' OR k.course_key <> 'uuid' THEN
        RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
            MESSAGE = format('the model keys learners by %s and courses by %s, not by uuid',
                             k.learner_key, k.course_key),
            DETAIL = format('recs model %s.', k.model_id),
            HINT = 'Pass the ids as text (the text overloads serve every model), or as the model''s key type.';
    END IF;
    RETURN k.model_id;
END
$$;
COMMENT ON FUNCTION recs._uuid_model(bigint, text) IS
    'private: the id of the model a uuid overload names (model, slot, neither: slot default), once it is one the uuid overloads can serve';

-- serving: text keys --------------------------------------------------------

CREATE FUNCTION recs.recommend(
    learner_id text,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude text[] DEFAULT NULL,
    candidates text[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent text[] DEFAULT NULL,
    slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id text, score float8)
AS 'MODULE_PATHNAME', 'recommend_text'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.recommend(text, integer, boolean, text[], text[], bigint, text[], text) IS
    'recommend() for text keys (or the text form of any model''s keys): course keys as text';

CREATE FUNCTION recs.recommend_all(
    learner_keys text[],
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true,
    slot text DEFAULT NULL)
RETURNS TABLE (learner_id text, rank integer, course_id text, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    -- every learner the model knows, their ids mapped back to keys
    SELECT recs._id_key('learner', m.learner_key, r.learner_id), r.rank,
           recs._id_key('course', m.course_key, r.course_id), r.score
      FROM recs._model_keys(recommend_all.model, recommend_all.slot) m,
           recs.recommend_all(recommend_all.k, m.model_id, recommend_all.exclude_watched) r
     WHERE recommend_all.learner_keys IS NULL
    UNION ALL
    -- the given keys, as given (an unknown one gets a stranger's list, as in recommend_all(bigint[]))
    SELECT u.key, r.rank, r.course_id, r.score
      FROM recs._model_keys(recommend_all.model, recommend_all.slot) m,
           (SELECT DISTINCT x FROM unnest(recommend_all.learner_keys) x WHERE x IS NOT NULL) u(key),
           recs.recommend(u.key, recommend_all.k, exclude_watched => recommend_all.exclude_watched,
                          model => m.model_id) r
     WHERE recommend_all.learner_keys IS NOT NULL
$$;
COMMENT ON FUNCTION recs.recommend_all(text[], integer, bigint, boolean, text) IS
    'recommend_all() for text keys: learner_keys NULL for every learner the model knows';

CREATE FUNCTION recs.score(model bigint, learner_id text, course_id text, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_text'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.score(bigint, text, text, text) IS
    'score() for text keys';

CREATE FUNCTION recs.glmix_score(model bigint, learner_id text, course_id text, slot text DEFAULT NULL,
                                 context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score_text'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_score(bigint, text, text, text, jsonb) IS
    'glmix_score() for text keys';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id text, course_id text, slot text DEFAULT NULL,
                                 context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit_text'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_logit(bigint, text, text, text, jsonb) IS
    'glmix_logit() for text keys';

CREATE FUNCTION recs.similar_courses(course_id text, k integer DEFAULT 10, model bigint DEFAULT NULL,
                                     slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id text, similarity float8)
AS 'MODULE_PATHNAME', 'similar_courses_text'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.similar_courses(text, integer, bigint, text) IS
    'similar_courses() for text keys';

-- not an overload of embed_learner: embed_learner(5, '{1,2}') would be
-- ambiguous between the array types; a uuid[] is passed as uuid[]::text[]
CREATE FUNCTION recs.embed_learner_keys(model bigint, course_keys text[], slot text DEFAULT NULL)
RETURNS real[]
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    -- NULL as embed_learner(bigint, bigint[], text): no model nor slot, or no keys
    SELECT recs.embed_learner(m.model_id, recs._key_ids('course', m.course_key, embed_learner_keys.course_keys))
      FROM recs._model_keys(embed_learner_keys.model, embed_learner_keys.slot) m
     WHERE embed_learner_keys.course_keys IS NOT NULL
       AND (embed_learner_keys.model IS NOT NULL OR embed_learner_keys.slot IS NOT NULL)
$$;
COMMENT ON FUNCTION recs.embed_learner_keys(bigint, text[], text) IS
    'embed_learner() for the text form of any model''s course keys (uuid[]::text[] for uuid keys)';

-- a glmix explanation: the entity of a per-learner or per-course coordinate
-- is the key, not its dictionary id
CREATE FUNCTION recs.explain(model bigint, learner_id text, course_id text, slot text DEFAULT NULL,
                             context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
LANGUAGE sql STABLE PARALLEL SAFE ROWS 4
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    -- no rows as explain(bigint, ...): a NULL key, or neither model nor slot
    SELECT e.coordinate,
           CASE WHEN c.by_id AND c.keyed_by = 'learner' THEN recs._id_key('learner', m.learner_key, e.entity::bigint)
                WHEN c.by_id AND c.keyed_by = 'course' THEN recs._id_key('course', m.course_key, e.entity::bigint)
                ELSE e.entity END,
           e.has_model, e.contribution, e.top_features, e.top_contributions
      FROM recs._model_keys(explain.model, explain.slot) m
     CROSS JOIN LATERAL recs.explain(m.model_id, recs._key_id('learner', m.learner_key, explain.learner_id),
                                     recs._key_id('course', m.course_key, explain.course_id),
                                     context => explain.context)
                        WITH ORDINALITY e(coordinate, entity, has_model, contribution, top_features,
                                          top_contributions, ord)
      LEFT JOIN recs.glmix_coordinate c ON c.model_id = m.model_id AND c.name = e.coordinate
     WHERE explain.learner_id IS NOT NULL AND explain.course_id IS NOT NULL
       AND (explain.model IS NOT NULL OR explain.slot IS NOT NULL)
     ORDER BY e.ord
$$;
COMMENT ON FUNCTION recs.explain(bigint, text, text, text, jsonb) IS
    'explain() of a glmix score for text keys';

CREATE FUNCTION recs.explain_recommendation(learner_id text, course_id text, model bigint DEFAULT NULL,
                                            slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    SELECT e.*
      FROM recs._model_keys(explain_recommendation.model, explain_recommendation.slot) m,
           recs.explain_recommendation(recs._key_id('learner', m.learner_key, explain_recommendation.learner_id),
                                       recs._key_id('course', m.course_key, explain_recommendation.course_id),
                                       m.model_id) e
$$;
COMMENT ON FUNCTION recs.explain_recommendation(text, text, bigint, text) IS
    'explain_recommendation() for text keys';

CREATE FUNCTION recs.explain(learner_id text, course_id text, slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id, slot => slot) $$;
COMMENT ON FUNCTION recs.explain(text, text, text) IS
    'explain() of the active model for text keys';

-- serving: uuid keys (the text functions, typed) ----------------------------

CREATE FUNCTION recs.recommend(
    learner_id uuid,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude uuid[] DEFAULT NULL,
    candidates uuid[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent uuid[] DEFAULT NULL,
    slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id uuid, score float8)
AS 'MODULE_PATHNAME', 'recommend_uuid'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.recommend(uuid, integer, boolean, uuid[], uuid[], bigint, uuid[], text) IS
    'recommend() for uuid keys: course keys as uuid';

CREATE FUNCTION recs.recommend_all(
    learner_keys uuid[],
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true,
    slot text DEFAULT NULL)
RETURNS TABLE (learner_id uuid, rank integer, course_id uuid, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.learner_id::uuid, r.rank, r.course_id::uuid, r.score
      FROM recs.recommend_all(recommend_all.learner_keys::text[], recommend_all.k,
                              recs._uuid_model(recommend_all.model, recommend_all.slot),
                              recommend_all.exclude_watched) r
$$;
COMMENT ON FUNCTION recs.recommend_all(uuid[], integer, bigint, boolean, text) IS
    'recommend_all() for uuid keys: learner_keys NULL for every learner the model knows';

CREATE FUNCTION recs.score(model bigint, learner_id uuid, course_id uuid, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_uuid'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.score(bigint, uuid, uuid, text) IS
    'score() for uuid keys';

CREATE FUNCTION recs.glmix_score(model bigint, learner_id uuid, course_id uuid, slot text DEFAULT NULL,
                                 context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score_uuid'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_score(bigint, uuid, uuid, text, jsonb) IS
    'glmix_score() for uuid keys';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id uuid, course_id uuid, slot text DEFAULT NULL,
                                 context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit_uuid'
LANGUAGE C STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_logit(bigint, uuid, uuid, text, jsonb) IS
    'glmix_logit() for uuid keys';

CREATE FUNCTION recs.similar_courses(course_id uuid, k integer DEFAULT 10, model bigint DEFAULT NULL,
                                     slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id uuid, similarity float8)
AS 'MODULE_PATHNAME', 'similar_courses_uuid'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.similar_courses(uuid, integer, bigint, text) IS
    'similar_courses() for uuid keys';

CREATE FUNCTION recs.explain(model bigint, learner_id uuid, course_id uuid, slot text DEFAULT NULL,
                             context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
LANGUAGE sql STABLE PARALLEL SAFE ROWS 4
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM recs.explain(recs._uuid_model(model, slot), learner_id::text, course_id::text)
     WHERE learner_id IS NOT NULL AND course_id IS NOT NULL AND (model IS NOT NULL OR slot IS NOT NULL)
$$;
COMMENT ON FUNCTION recs.explain(bigint, uuid, uuid, text, jsonb) IS
    'explain() of a glmix score for uuid keys';

CREATE FUNCTION recs.explain_recommendation(learner_id uuid, course_id uuid, model bigint DEFAULT NULL,
                                            slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM recs.explain_recommendation(learner_id::text, course_id::text, recs._uuid_model(model, slot))
$$;
COMMENT ON FUNCTION recs.explain_recommendation(uuid, uuid, bigint, text) IS
    'explain_recommendation() for uuid keys';

CREATE FUNCTION recs.explain(learner_id uuid, course_id uuid, slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id, slot => slot) $$;
COMMENT ON FUNCTION recs.explain(uuid, uuid, text) IS
    'explain() of the active model for uuid keys';

-- embeddings by key: the key type given by a typed NULL, e.g.
-- recs.course_embeddings(5, NULL::uuid)
CREATE FUNCTION recs.course_embeddings(model bigint, key_type anyelement, slot text DEFAULT NULL)
RETURNS TABLE (course_id anyelement, embedding real[])
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
DECLARE
    k record := recs._model_keys(model, slot);
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT recs._id_key(''course'', $1, e.course_id)::%s, e.embedding '
        'FROM recs.course_embeddings($2) e ORDER BY 1', pg_typeof(key_type))
        USING k.course_key, k.model_id;
END
$$;
COMMENT ON FUNCTION recs.course_embeddings(bigint, anyelement, text) IS
    'course_embeddings() with the course keys in the type of key_type (e.g. NULL::uuid)';

CREATE FUNCTION recs.course_map(model bigint, key_type anyelement, slot text DEFAULT NULL)
RETURNS TABLE (course_id anyelement, x float8, y float8)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
DECLARE
    k record;
BEGIN
    IF model IS NULL AND slot IS NULL THEN
        RETURN;                 -- as course_map(bigint, text)
    END IF;
    k := recs._model_keys(model, slot);
    RETURN QUERY EXECUTE format(
        'SELECT recs._id_key(''course'', $1, c.course_id)::%s, c.x, c.y FROM recs.course_map($2) c ORDER BY 1',
        pg_typeof(key_type))
        USING k.course_key, k.model_id;
END
$$;
COMMENT ON FUNCTION recs.course_map(bigint, anyelement, text) IS
    'course_map() with the course keys in the type of key_type (e.g. NULL::uuid)';

-- personal data: with the caller's rights, as learner_embeddings(bigint)
CREATE FUNCTION recs.learner_embeddings(model bigint, key_type anyelement)
RETURNS TABLE (learner_id anyelement, embedding real[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    lk text;
BEGIN
    IF model IS NULL THEN
        RETURN;
    END IF;
    lk := (recs._model_keys(model)).learner_key;
    RETURN QUERY EXECUTE format(
        'SELECT recs._id_key(''learner'', $1, e.learner_id)::%s, e.embedding '
        'FROM recs.learner_embeddings($2) e ORDER BY 1', pg_typeof(key_type))
        USING lk, model;
END
$$;
COMMENT ON FUNCTION recs.learner_embeddings(bigint, anyelement) IS
    'learner_embeddings() with the learner keys in the type of key_type (e.g. NULL::uuid), with the caller''s rights';

-- the right to be forgotten, by key --------------------------------------------

-- Every model keyed by uuid or text that knows the key, and (when the key is
-- an integer's digits) every bigint-keyed model that knows that id; the
-- dictionary row goes too.  As the caller, like forget_learner(bigint).
CREATE FUNCTION recs.forget_learner(learner_id text)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    kid bigint;
BEGIN
    IF learner_id ~ '^\s*[-+]?[0-9]+\s*$' THEN
        RETURN QUERY SELECT f.table_name, f.rows_removed
                       FROM recs._forget_learner_id(learner_id::bigint, false) f;
    END IF;
    SELECT k.id INTO kid FROM recs.id_key k
     WHERE k.side = 'learner'
       AND k.key IN (forget_learner.learner_id,
                     CASE WHEN learner_id ~* '^\{?[0-9a-f]{8}-?([0-9a-f]{4}-?){3}[0-9a-f]{12}\}?$'
                          THEN learner_id::uuid::text END);
    IF kid IS NOT NULL THEN
        RETURN QUERY SELECT f.table_name, f.rows_removed FROM recs._forget_learner_id(kid, true) f;
    END IF;
    table_name := 'recs.id_key';
    WITH d AS (DELETE FROM recs.id_key k WHERE k.side = 'learner' AND k.id = kid RETURNING 1)
    SELECT count(*) INTO rows_removed FROM d;
    RETURN NEXT;
END
$$;
COMMENT ON FUNCTION recs.forget_learner(text) IS
    'forget_learner() by key: every uuid- or text-keyed model and the dictionary row (and, for an integer, every bigint-keyed model)';

CREATE FUNCTION recs.forget_learner(learner_id uuid)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.forget_learner(learner_id::text) $$;
COMMENT ON FUNCTION recs.forget_learner(uuid) IS
    'forget_learner() by uuid key';

-- the serving functions above, for grant_access (80_access.sql)
CREATE FUNCTION recs._key_serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT string_agg(format('recs.recommend(%1$s, integer, boolean, %1$s[], %1$s[], bigint, %1$s[], text), '
                             'recs.recommend_all(%1$s[], integer, bigint, boolean, text), '
                             'recs.score(bigint, %1$s, %1$s, text), recs.glmix_score(bigint, %1$s, %1$s, text, jsonb), '
                             'recs.glmix_logit(bigint, %1$s, %1$s, text, jsonb), '
                             'recs.similar_courses(%1$s, integer, bigint, text), '
                             'recs.explain(bigint, %1$s, %1$s, text, jsonb), '
                             'recs.explain_recommendation(%1$s, %1$s, bigint, text), '
                             'recs.explain(%1$s, %1$s, text)', t), ', ' ORDER BY t)
           || ', recs.embed_learner_keys(bigint, text[], text), recs.course_embeddings(bigint, anyelement, text), '
           || 'recs.course_map(bigint, anyelement, text)'
      FROM unnest(ARRAY['text', 'uuid']) t
$$;
COMMENT ON FUNCTION recs._key_serving_functions() IS
    'private: the serving functions for uuid and text keys, as a list for GRANT';

REVOKE EXECUTE ON FUNCTION
    recs.recommend(text, integer, boolean, text[], text[], bigint, text[], text),
    recs.recommend_all(text[], integer, bigint, boolean, text),
    recs.score(bigint, text, text, text),
    recs.glmix_score(bigint, text, text, text, jsonb),
    recs.glmix_logit(bigint, text, text, text, jsonb),
    recs.similar_courses(text, integer, bigint, text),
    recs.embed_learner_keys(bigint, text[], text),
    recs.explain(bigint, text, text, text, jsonb),
    recs.explain_recommendation(text, text, bigint, text),
    recs.explain(text, text, text),
    recs.recommend(uuid, integer, boolean, uuid[], uuid[], bigint, uuid[], text),
    recs.recommend_all(uuid[], integer, bigint, boolean, text),
    recs.score(bigint, uuid, uuid, text),
    recs.glmix_score(bigint, uuid, uuid, text, jsonb),
    recs.glmix_logit(bigint, uuid, uuid, text, jsonb),
    recs.similar_courses(uuid, integer, bigint, text),
    recs.explain(bigint, uuid, uuid, text, jsonb),
    recs.explain_recommendation(uuid, uuid, bigint, text),
    recs.explain(uuid, uuid, text),
    recs.course_embeddings(bigint, anyelement, text),
    recs.course_map(bigint, anyelement, text)
FROM PUBLIC;
