-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit

-- glmix-weighting: GLMix random effects keyed by a column of the impressions
-- (the channel); glmix_score, glmix_logit and explain take an optional context.
ALTER TABLE recs.glmix_coordinate DROP CONSTRAINT glmix_coordinate_keyed_by_check;
ALTER TABLE recs.glmix_coordinate ADD CONSTRAINT glmix_coordinate_keyed_by_check
    CHECK (keyed_by IN ('learner', 'course', 'impression'));
COMMENT ON TABLE recs.glmix_coordinate IS
    'per glmix model: the fixed effect (position 0, name ''fixed'') and each random effect (keyed by a learner, a course or an impressions column such as the channel), with the names of its coefficient vector''s features';

-- the roles that may serve keep that right on the new signatures
CREATE TEMP TABLE recs_glmix_context_grantees AS
SELECT DISTINCT a.grantee::regrole AS grantee
  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
 WHERE p.oid = 'recs.glmix_score(bigint, bigint, bigint)'::regprocedure
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner AND a.grantee <> 0;

DROP FUNCTION recs.glmix_score(bigint, bigint, bigint);
DROP FUNCTION recs.glmix_logit(bigint, bigint, bigint);
DROP FUNCTION recs.explain(bigint, bigint, bigint);

-- Not STRICT, for the optional context: a NULL model, learner or course
-- still gives NULL (no rows for explain).
CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect; context (e.g. {"channel": "feed"}) applies the effects keyed by impressions columns, absent = their average (zero)';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint, jsonb) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint, context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint, jsonb) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total; context as in glmix_score';

ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint, jsonb) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION
    recs.glmix_score(bigint, bigint, bigint, jsonb),
    recs.glmix_logit(bigint, bigint, bigint, jsonb),
    recs.explain(bigint, bigint, bigint, jsonb)
FROM PUBLIC;

CREATE OR REPLACE FUNCTION recs._serving_functions()
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]), '
        || 'recs.recommend_all(integer, bigint, boolean, bigint[]), recs.score(bigint, bigint, bigint), '
        || 'recs.similar_courses(bigint, integer, bigint), recs.embed_learner(bigint, bigint[]), '
        || 'recs.course_map(bigint), recs.glmix_score(bigint, bigint, bigint, jsonb), '
        || 'recs.glmix_logit(bigint, bigint, bigint, jsonb), recs.explain(bigint, bigint, bigint, jsonb), '
        || 'recs.explain_recommendation(bigint, bigint, bigint), recs.explain(bigint, bigint), '
        || 'recs.model_id(text), recs.course_embeddings(bigint)'
$$;

DO $$
DECLARE
    g regrole;
BEGIN
    FOR g IN SELECT grantee FROM recs_glmix_context_grantees LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb), '
                       'recs.glmix_logit(bigint, bigint, bigint, jsonb), '
                       'recs.explain(bigint, bigint, bigint, jsonb) TO %s', g);
    END LOOP;
END
$$;
DROP TABLE recs_glmix_context_grantees;
