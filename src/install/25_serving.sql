-- 25_serving.sql -- serving: recommendations from the active or a given model.
--
-- Every serving function names its model the same way: model => an id, or
-- slot => a deployment slot (recs.activate(model_id, slot)); neither: the
-- model in slot 'default'.  An unknown slot and naming both are errors.

CREATE FUNCTION recs._serving_model_id(model bigint, slot text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'serving_model_id'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._serving_model_id(bigint, text) IS
    'private: the model a serving call names by model => or slot => (neither: slot default); an unknown slot or both is an error';

CREATE FUNCTION recs.recommend(
    learner_id bigint,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude bigint[] DEFAULT NULL,
    candidates bigint[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent bigint[] DEFAULT NULL,
    slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text) IS
    'top k courses for a learner from the active model (or the given model, or the model deployed in the given slot), excluding courses already watched';

-- Everyone's recommendations in one query, for ETL jobs.  A plain lateral
-- join over the learners the model knows, so the planner may run it in
-- parallel workers (recommend() is PARALLEL SAFE and each worker keeps its
-- own model cache).
CREATE FUNCTION recs.recommend_all(
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true,
    learners bigint[] DEFAULT NULL,
    slot text DEFAULT NULL)
RETURNS TABLE (learner_id bigint, rank integer, course_id bigint, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.learner_id, r.rank, r.course_id, r.score
      FROM (SELECT recs._serving_model_id(recommend_all.model, recommend_all.slot) AS id) m,
           LATERAL (SELECT ml.learner_id
                      FROM recs.model_learner ml
                     WHERE ml.model_id = m.id
                       AND (recommend_all.learners IS NULL OR ml.learner_id = ANY (recommend_all.learners))
                    UNION
                    SELECT u.id FROM unnest(recommend_all.learners) u(id) WHERE u.id IS NOT NULL) l,
           LATERAL recs.recommend(l.learner_id, recommend_all.k,
                                  exclude_watched => recommend_all.exclude_watched,
                                  model => m.id) r
$$;
COMMENT ON FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[], text) IS
    'top k for every learner the model knows (or for the given learners), for batch jobs; model or slot as in recommend()';
