-- 25_serving.sql -- serving: recommendations from the active or a given model.

CREATE FUNCTION recs.recommend(
    learner_id bigint,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude bigint[] DEFAULT NULL,
    candidates bigint[] DEFAULT NULL,
    model bigint DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, score float8)
AS 'MODULE_PATHNAME', 'recommend'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint) IS
    'top k courses for a learner from the active (or the given) model, excluding courses already watched';
