-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- glmix-solver: the fixed effect's matrix-free solver (TRON) and its
-- aggregate recs.glmix_fixed_block_grad; train_glmix(..., solver);
-- grant_access/revoke_access cover the new aggregate
-- ---------------------------------------------------------------------------
-- the matrix-free solver's statistics (glmix_tron.c): O(dim) state, no Hessian
CREATE FUNCTION recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[])
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_block_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_combine(internal, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_serial(internal)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_grad_serial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_deserial(bytea, internal)
RETURNS internal AS 'MODULE_PATHNAME', 'glmix_grad_deserial'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION recs._glmix_grad_final(internal)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_grad_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs.glmix_fixed_block_grad(block bytea, offsets float8[], coefficients float8[],
                                             direction float8[]) (
    SFUNC = recs._glmix_grad_block_accum,
    STYPE = internal,
    FINALFUNC = recs._glmix_grad_final,
    COMBINEFUNC = recs._glmix_grad_combine,
    SERIALFUNC = recs._glmix_grad_serial,
    DESERIALFUNC = recs._glmix_grad_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]) IS
    'the fixed effect''s statistics for the matrix-free solver over train_glmix''s blocks, as one float8[]: rows, weight, loss, gradient, then (direction not NULL) the Hessian times direction';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_grad_block_accum(internal, bytea, float8[], float8[], float8[]),
    recs._glmix_grad_combine(internal, internal),
    recs._glmix_grad_serial(internal),
    recs._glmix_grad_deserial(bytea, internal),
    recs._glmix_grad_final(internal),
    recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[])
FROM PUBLIC;

-- GLMix match features and hashed crosses (issue #13 item 2): the fixed
-- coordinate records its matches and hash_bits, glmix_column the names of
-- the columns read for matches only; train_glmix gains hash_bits.
ALTER TABLE recs.glmix_coordinate
    ADD COLUMN matches text[],
    ADD COLUMN hash_bits integer CHECK (hash_bits > 0);
-- a column read for matches only: its features' names (it has no coefficients)
ALTER TABLE recs.glmix_column ADD COLUMN value_names text[];
DROP FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text);
CREATE FUNCTION recs.train_glmix(
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[],
    course_features text[],
    name text DEFAULT 'glmix',
    label text DEFAULT 'clicked',
    weighting text DEFAULT 'none',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 3,
    random_effects text[] DEFAULT NULL,
    crosses text[] DEFAULT NULL,
    min_rows integer DEFAULT 1,
    max_rows integer DEFAULT NULL,
    intercepts boolean[] DEFAULT NULL,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    validation regclass DEFAULT NULL,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    seconds_column text DEFAULT 'watch_seconds',
    weight_column text DEFAULT NULL,
    solver text DEFAULT 'auto',
    l2_auto boolean DEFAULT false,
    hash_bits integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, text, boolean, integer) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent; returns the model id';

-- roles that may train (EXECUTE on the dense aggregate, as grant_access gave
-- it) may run the matrix-free one too
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid = 'recs.glmix_fixed_block_stats(bytea, float8[], float8[])'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION recs.glmix_fixed_block_grad(bytea, float8[], float8[], float8[]) TO %s', r);
    END LOOP;
END
$$;
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

-- serving-api: slot => on every serving function (the model deployed in a
-- slot; an unknown slot is an error); score() NULL for a course the model
-- cannot place; similar_courses, embed_learner and course_map of a blend
-- through its NCF component; explain_recommendation's "because you
-- watched", "cold start" and "rerank pool" rows; evaluate's store => and
-- evaluate_models; grant_access/revoke_access: one error for a non-owner;
-- course_map_svg: the map's errors without the query's text; train_glmix's
-- time_column and through.  The serving functions, evaluate and train_glmix
-- get new last arguments, so they are dropped and created again; the
-- roles that could execute the serving functions (recs.grant_access) keep
-- that right.
CREATE TEMP TABLE recs_serving_grantees AS
SELECT DISTINCT a.grantee::regrole::text AS grantee
  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
 WHERE p.oid = 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[])'::pg_catalog.regprocedure
   AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner;
DROP FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[]);
DROP FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[]);
DROP FUNCTION recs.score(bigint, bigint, bigint);
DROP FUNCTION recs.similar_courses(bigint, integer, bigint);
DROP FUNCTION recs.embed_learner(bigint, bigint[]);
DROP FUNCTION recs.course_map(bigint);
DROP FUNCTION recs.course_embeddings(bigint);
DROP FUNCTION recs.glmix_score(bigint, bigint, bigint, jsonb);
DROP FUNCTION recs.glmix_logit(bigint, bigint, bigint, jsonb);
DROP FUNCTION recs.explain(bigint, bigint, bigint, jsonb);
DROP FUNCTION recs.explain_recommendation(bigint, bigint, bigint);
DROP FUNCTION recs.explain(bigint, bigint);
DROP FUNCTION recs.evaluate(bigint, regclass, integer, text, text, text, text, text);
DROP FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text, float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean, text, text, text, text, text, text, text, boolean, integer);

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

CREATE FUNCTION recs.score(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_pair'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.score(bigint, bigint, bigint, text) IS
    'a model''s (or a slot''s model''s) score of one (learner, course) pair, the number recommend() ranks by: NCF dot product, GLMix probability, popularity share, blend logit; NULL for a course the model cannot place';

CREATE FUNCTION recs.similar_courses(course_id bigint, k integer DEFAULT 10,
    model bigint DEFAULT NULL, slot text DEFAULT NULL)
RETURNS TABLE (rank integer, course_id bigint, similarity float8)
AS 'MODULE_PATHNAME', 'ncf_similar_courses'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION recs.similar_courses(bigint, integer, bigint, text) IS
    'the k courses whose NCF embeddings are closest (cosine) to a course''s, itself excluded; default model: the active one; a blend: its NCF component';

CREATE FUNCTION recs.embed_learner(model bigint, course_ids bigint[], slot text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'ncf_embed_learner'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.embed_learner(bigint, bigint[], text) IS
    'a learner embedding computed by an NCF model''s learner tower (a blend: its NCF component''s) from a list of watched courses';

CREATE FUNCTION recs.course_map(model bigint, slot text DEFAULT NULL)
RETURNS TABLE (course_id bigint, x float8, y float8)
AS 'MODULE_PATHNAME', 'ncf_course_map'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.course_map(bigint, text) IS
    'a 2-D map of an NCF model''s (a blend: its NCF component''s) course embeddings: their projection on the two leading principal components';

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

CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint, text, jsonb) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect; context (e.g. {"channel": "feed"}) applies the effects keyed by impressions columns, absent = their average (zero)';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint, text, jsonb) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL,
    context jsonb DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint, text, jsonb) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total; context as in glmix_score';

CREATE FUNCTION recs._explain_history(m bigint, m_kind text, em bigint, learner_id bigint, course_id bigint)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'because you watched', _explain_history.em, 'ncf', max(n.sim), NULL::float8, NULL::float8,
           array_agg(format('course %s (cosine %s)', n.course_id, round(n.sim::numeric, 3)) ORDER BY n.sim DESC, n.course_id)
      FROM (SELECT w.course_id,
                   (SELECT sum(a * b) / nullif(sqrt(sum(a * a)) * sqrt(sum(b * b)), 0)
                      FROM unnest(w.embedding, t.embedding) u(a, b))::float8 AS sim
              FROM recs.ncf_course t, recs.model_learner ml, recs.ncf_course w
             WHERE t.model_id = _explain_history.em AND t.course_id = _explain_history.course_id
               AND ml.model_id = _explain_history.em AND ml.learner_id = _explain_history.learner_id
               AND w.model_id = _explain_history.em AND w.course_id = ANY (ml.watched)
               AND w.course_id <> t.course_id
             ORDER BY 2 DESC NULLS LAST, 1 LIMIT 3) n
    HAVING count(*) > 0
    UNION ALL
    SELECT 'cold start', _explain_history.m, _explain_history.m_kind, NULL, NULL, NULL,
           ARRAY[format('learner %s is not known to recs model %s: it served its score for a learner without history',
                        _explain_history.learner_id, _explain_history.m)]
     WHERE NOT EXISTS (SELECT 1 FROM recs.model_learner ml
                        WHERE ml.model_id = _explain_history.m AND ml.learner_id = _explain_history.learner_id)
$$;
COMMENT ON FUNCTION recs._explain_history(bigint, text, bigint, bigint, bigint) IS
    'private: explain_recommendation''s "because you watched" and "cold start" rows';

CREATE FUNCTION recs.explain_recommendation(learner_id bigint, course_id bigint, model bigint DEFAULT NULL,
                                            slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint;
    m_kind text;
    em bigint;
    pool integer;
    c1 bigint;
    pool_rank integer;
    g float8[];
    lc float8[];
    sc float8[];
    seg text;
    w float8[];
    total float8 := 0;
    c record;
    s float8;
    z float8;
BEGIN
    IF learner_id IS NULL OR course_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be NULL', CASE WHEN learner_id IS NULL THEN 'learner_id' ELSE 'course_id' END);
    END IF;
    m := recs._serving_model_id(model, slot);
    SELECT x.kind INTO m_kind FROM recs.model x WHERE x.model_id = m;
    -- a course the model does not score is an error (recs.score() gives NULL)
    IF recs.score(m, learner_id, course_id) IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('course %s is not scored by recs model %s', course_id, m);
    END IF;
    -- the NCF model whose embeddings stand for this one: itself, a blend's NCF component
    SELECT bc.component_id INTO em FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
     WHERE bc.model_id = m AND x.kind = 'ncf' ORDER BY bc.position LIMIT 1;
    IF m_kind = 'ncf' THEN
        em := m;
    END IF;

    IF m_kind <> 'blend' THEN
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => m) r;
        part := 'model'; part_model := m; kind := m_kind; score := s; weight := 1; contribution := s;
        detail := CASE WHEN m_kind = 'glmix' THEN
                    ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                            FROM recs.explain(m, learner_id, course_id) e WHERE e.coordinate <> 'total')
                  END;
        RETURN NEXT;
        RETURN QUERY SELECT * FROM recs._explain_history(m, m_kind, em, learner_id, course_id);
        RETURN;
    END IF;

    -- a blend: weights = global + the learner's own + their other keys' (segment ...)
    SELECT b.coefs INTO g FROM recs.blend_coef b WHERE b.model_id = m AND b.entity IS NULL;
    SELECT b.coefs INTO lc FROM recs.blend_coef b
     WHERE b.model_id = m AND b.coordinate = (SELECT x.params->>'learner_column' FROM recs.model x WHERE x.model_id = m)
       AND b.entity = learner_id::text;
    SELECT coalesce(array_agg(b.coefs[i] ORDER BY i), NULL) INTO sc
      FROM (SELECT b2.coefs FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos),
                   recs.blend_coef b2
             WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
               AND b2.model_id = m AND b2.entity = k.key
               AND b2.coordinate = (SELECT x.params->'random_effects'->>(k.pos::int - 1) FROM recs.model x WHERE x.model_id = m)) b,
           generate_subscripts(b.coefs, 1) i
     GROUP BY ();
    SELECT string_agg(format('%s=%s', e, b.entity), ', ') INTO seg
      FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos), recs.blend_coef b,
           LATERAL (SELECT x.params->'random_effects'->>(k.pos::int - 1) AS e FROM recs.model x WHERE x.model_id = m) r
     WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
       AND b.model_id = m AND b.entity = k.key AND b.coordinate = r.e;

    part := 'intercept'; part_model := m; kind := 'blend'; score := NULL;
    weight := g[1] + coalesce(lc[1], 0) + coalesce(sc[1], 0);
    contribution := weight; total := total + contribution;
    detail := ARRAY[format('global %s', round(g[1]::numeric, 4)),
                    format('learner %s', coalesce(round(lc[1]::numeric, 4)::text, 'none')),
                    format('%s %s', coalesce(seg, 'other keys'), coalesce(round(sc[1]::numeric, 4)::text, 'none'))];
    RETURN NEXT;

    FOR c IN SELECT bc.position, bc.component_id, bc.transform, bc.mean, bc.sd, x.kind AS ckind
               FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
              WHERE bc.model_id = m ORDER BY bc.position LOOP
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => c.component_id) r;
        z := CASE WHEN s IS NULL THEN 0
                  WHEN c.transform = 'logit' THEN (ln(greatest(least(s, 1 - 1e-12), 1e-12) / (1 - greatest(least(s, 1 - 1e-12), 1e-12))) - c.mean) / c.sd
                  ELSE (s - c.mean) / c.sd END;
        part := 'component ' || c.position; part_model := c.component_id; kind := c.ckind; score := s;
        weight := g[c.position + 1] + coalesce(lc[c.position + 1], 0) + coalesce(sc[c.position + 1], 0);
        contribution := weight * z; total := total + contribution;
        detail := ARRAY[format('standardised %s', round(z::numeric, 4)),
                        format('weight: global %s, learner %s, %s %s', round(g[c.position + 1]::numeric, 4),
                               coalesce(round(lc[c.position + 1]::numeric, 4)::text, 'none'),
                               coalesce(seg, 'other keys'), coalesce(round(sc[c.position + 1]::numeric, 4)::text, 'none'))]
                  || CASE WHEN c.ckind = 'glmix' THEN
                       ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                               FROM recs.explain(c.component_id, learner_id, course_id) e WHERE e.coordinate <> 'total')
                     ELSE '{}'::text[] END;
        RETURN NEXT;
    END LOOP;

    part := 'total'; part_model := m; kind := 'blend'; score := total; weight := NULL; contribution := total;
    detail := NULL;
    RETURN NEXT;

    -- a re-ranking blend: was the course in the pool (the first component's
    -- best eligible courses), which recommend() ranks before every other?
    SELECT coalesce((x.params->>'rerank_top')::int, 0) INTO pool FROM recs.model x WHERE x.model_id = m;
    IF pool > 0 THEN
        SELECT bc.component_id INTO c1 FROM recs.blend_component bc WHERE bc.model_id = m ORDER BY bc.position LIMIT 1;
        SELECT r.rank INTO pool_rank
          FROM recs.recommend(learner_id, pool, exclude_watched => false, model => c1,
                              exclude => (SELECT ml.watched FROM recs.model_learner ml
                                           WHERE ml.model_id = m AND ml.learner_id = explain_recommendation.learner_id)) r
         WHERE r.course_id = explain_recommendation.course_id;
        part := 'rerank pool'; part_model := c1; kind := (SELECT x.kind FROM recs.model x WHERE x.model_id = c1);
        score := pool_rank; weight := NULL; contribution := NULL;
        detail := ARRAY[CASE WHEN pool_rank IS NOT NULL
                             THEN format('in the pool: rank %s of component 1''s %s best unwatched courses', pool_rank, pool)
                             ELSE format('outside the pool of component 1''s %s best unwatched courses: ranked after all of them', pool) END];
        RETURN NEXT;
    END IF;
    RETURN QUERY SELECT * FROM recs._explain_history(m, m_kind, em, learner_id, course_id);
END
$$;
COMMENT ON FUNCTION recs.explain_recommendation(bigint, bigint, bigint, text) IS
    'why a course is recommended: for a blend, each component''s score, weight (global + learner + segment) and contribution, with the GLMix features behind it; the total is the served score; then the watched courses nearest it (NCF, blend) and whether a cold start served';

CREATE FUNCTION recs.explain(learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id, slot => slot) $$;
COMMENT ON FUNCTION recs.explain(bigint, bigint, text) IS
    'why the active model (or the slot''s) recommends a course to a learner (recs.explain_recommendation for that model)';

CREATE FUNCTION recs.evaluate(
    model bigint,
    test regclass,
    k integer DEFAULT 10,
    protocol text DEFAULT 'full',
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    negatives_column text DEFAULT 'negatives',
    label_column text DEFAULT 'clicked',
    store boolean DEFAULT NULL)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'evaluate_model'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.evaluate(bigint, regclass, integer, text, text, text, text, text, boolean) IS
    'quality of a model on a test relation (full: Recall, NDCG, MRR, coverage; sampled: HR, NDCG; response: AUC, log-loss); store => true keeps it in the model''s metrics (NULL: when the caller may update recs.model)';

CREATE FUNCTION recs.train_glmix(
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[],
    course_features text[],
    name text DEFAULT 'glmix',
    label text DEFAULT 'clicked',
    weighting text DEFAULT 'none',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 3,
    random_effects text[] DEFAULT NULL,
    crosses text[] DEFAULT NULL,
    min_rows integer DEFAULT 1,
    max_rows integer DEFAULT NULL,
    intercepts boolean[] DEFAULT NULL,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    validation regclass DEFAULT NULL,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    seconds_column text DEFAULT 'watch_seconds',
    weight_column text DEFAULT NULL,
    time_column text DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    solver text DEFAULT 'auto',
    l2_auto boolean DEFAULT false,
    hash_bits integer DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, text, timestamptz, text, boolean, integer) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent on the impressions up to through; returns the model id';

CREATE FUNCTION recs.evaluate_models(
    models bigint[],
    test regclass,
    k integer DEFAULT 10,
    protocol text DEFAULT 'full',
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    negatives_column text DEFAULT 'negatives',
    label_column text DEFAULT 'clicked',
    store boolean DEFAULT NULL)
RETURNS TABLE (model bigint, metric text, value float8)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint;
    r jsonb;
BEGIN
    IF models IS NULL OR array_position(models, NULL) IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'models must not be NULL or hold NULL',
            HINT = 'Pass the model ids to compare, e.g. ARRAY[recs.model_id(''ncf''), recs.model_id(''blend'')].';
    END IF;
    FOREACH m IN ARRAY models LOOP
        r := recs.evaluate(m, test, k, protocol, learner_column, course_column, negatives_column,
                           label_column, store);
        RETURN QUERY SELECT m, e.key, e.value::text::float8
                       FROM jsonb_each(r) e
                      WHERE jsonb_typeof(e.value) = 'number'
                      ORDER BY e.key;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.evaluate_models(bigint[], regclass, integer, text, text, text, text, text, boolean) IS
    'recs.evaluate of each model on one test relation, as (model, metric, value) rows in the order of models';

ALTER FUNCTION recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.recommend_all(integer, bigint, boolean, bigint[], text) SECURITY DEFINER;
ALTER FUNCTION recs.score(bigint, bigint, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.similar_courses(bigint, integer, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.embed_learner(bigint, bigint[], text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
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
    recs.course_map(bigint, text),
    recs.glmix_score(bigint, bigint, bigint, text, jsonb),
    recs.glmix_logit(bigint, bigint, bigint, text, jsonb),
    recs.explain(bigint, bigint, bigint, text, jsonb),
    recs.explain_recommendation(bigint, bigint, bigint, text),
    recs.explain(bigint, bigint, text),
    recs.model_id(text),
    recs.course_embeddings(bigint, text)
FROM PUBLIC;

CREATE OR REPLACE FUNCTION recs._serving_functions()
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
        || 'recs.model_id(text), recs.course_embeddings(bigint, text)'
$$;
COMMENT ON FUNCTION recs._serving_functions() IS
    'the serving functions (SECURITY DEFINER, not PUBLIC) that grant_access gives a role, as a list for GRANT';

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

CREATE OR REPLACE FUNCTION recs.course_map_svg(
    model bigint,
    courses regclass,
    color_column text DEFAULT 'language',
    width integer DEFAULT 760,
    height integer DEFAULT 560,
    course_column text DEFAULT 'course_id')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    palette constant text[] := ARRAY['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
                                     '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
    col text;
    svg text;
BEGIN
    FOREACH col IN ARRAY ARRAY['model', 'courses', 'color_column', 'width', 'height', 'course_column'] LOOP
        IF (col = 'model' AND model IS NULL) OR (col = 'courses' AND courses IS NULL)
           OR (col = 'color_column' AND color_column IS NULL) OR (col = 'width' AND width IS NULL)
           OR (col = 'height' AND height IS NULL) OR (col = 'course_column' AND course_column IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', col);
        END IF;
    END LOOP;
    IF width < 200 OR height < 150 OR width > 10000 OR height > 10000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'width and height must be between 200x150 and 10000x10000 pixels';
    END IF;
    FOREACH col IN ARRAY ARRAY[color_column, course_column] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = courses
                          AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_column',
                MESSAGE = format('column "%s" does not exist in relation %s', col, courses),
                HINT = 'Name the column to colour by with color_column, the course id column with course_column.';
        END IF;
    END LOOP;
    -- an error of the map (no such model, not an NCF model) is reported as
    -- course_map's own, without the query below in its context
    BEGIN
    EXECUTE format($q$
        WITH m AS (SELECT * FROM recs.course_map($1)),
             c AS (SELECT DISTINCT ON (1) %1$I::bigint AS course_id, %2$I::text AS grp
                     FROM %3$s WHERE %1$I IS NOT NULL ORDER BY 1, 2),
             p AS (SELECT m.course_id, m.x, m.y, coalesce(c.grp, '(none)') AS grp
                     FROM m LEFT JOIN c USING (course_id)),
             g AS (SELECT grp, count(*) AS n,
                          row_number() OVER (ORDER BY count(*) DESC, grp) AS k
                     FROM p GROUP BY grp),
             b AS (SELECT min(x) AS x0, greatest(max(x) - min(x), 1e-12) AS dx,
                          max(y) AS y1, greatest(max(y) - min(y), 1e-12) AS dy FROM p),
             esc AS (SELECT p.*, g.k,
                            replace(replace(replace(p.grp, '&', '&amp;'), '<', '&lt;'), '>', '&gt;') AS label
                       FROM p JOIN g USING (grp))
        SELECT format('<svg xmlns="http://www.w3.org/2000/svg" width="%%s" height="%%s" viewBox="0 0 %%s %%s" font-family="sans-serif" font-size="12">',
                      $2, $3, $2, $3)
            || '<rect width="100%%" height="100%%" fill="white"/>'
            || (SELECT string_agg(format('<circle cx="%%s" cy="%%s" r="3.5" fill="%%s" fill-opacity="0.8"><title>course %%s (%%s)</title></circle>',
                                         round((30 + (e.x - b.x0) / b.dx * ($2 - 250))::numeric, 1),
                                         round((30 + (b.y1 - e.y) / b.dy * ($3 - 60))::numeric, 1),
                                         CASE WHEN e.k <= 10 THEN $4[e.k] ELSE '#c7c7c7' END,
                                         e.course_id, e.label), '' ORDER BY e.course_id)
                  FROM esc e, b)
            || (SELECT string_agg(format('<circle cx="%%s" cy="%%s" r="5" fill="%%s"/><text x="%%s" y="%%s">%%s (%%s)</text>',
                                         $2 - 195, 30 + 20 * (g.k - 1),
                                         $4[g.k], $2 - 185, 34 + 20 * (g.k - 1),
                                         replace(replace(replace(g.grp, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), g.n),
                                  '' ORDER BY g.k)
                  FROM g WHERE g.k <= 10)
            || (SELECT CASE WHEN count(*) > 0
                            THEN format('<circle cx="%%s" cy="%%s" r="5" fill="#c7c7c7"/><text x="%%s" y="%%s">other (%%s)</text>',
                                        $2 - 195, 230, $2 - 185, 234, sum(g.n))
                            ELSE '' END
                  FROM g WHERE g.k > 10)
            || format('<text x="30" y="%%s" fill="#555">PCA of the course embeddings of NCF model %%s, coloured by %%s</text>',
                      $3 - 10, $1, %4$L)
            || '</svg>'
        $q$, course_column, color_column, courses, color_column)
        INTO svg USING model, width, height, palette;
    EXCEPTION WHEN OTHERS THEN
        DECLARE
            st text;
            msg text;
            det text;
            hnt text;
        BEGIN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                    hnt = PG_EXCEPTION_HINT;
            IF det = '' AND hnt = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
            ELSIF det = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
            ELSIF hnt = '' THEN
                RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
            END IF;
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END;
    END;
    RETURN svg;
END
$fn$;
COMMENT ON FUNCTION recs.course_map_svg(bigint, regclass, text, integer, integer, text) IS
    'an SVG scatter plot of recs.course_map(model), each course coloured by a column of the courses relation';

DO $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT g.grantee FROM recs_serving_grantees g LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._serving_functions(), r);
    END LOOP;
END
$$;
DROP TABLE recs_serving_grantees;

-- the nightly pipeline (train_all): column mapping checks and memory
-- estimates before training, candidates compared on a validation slice, the
-- components refitted through the end of the data, dry_run; recs.prune;
-- train_ncf's courses_id_column
DROP FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer);
DROP FUNCTION recs._pipeline_names(text, regclass, regclass);
DROP FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text);

CREATE FUNCTION recs.train_ncf(
    watches regclass,
    name text DEFAULT 'ncf',
    courses regclass DEFAULT NULL,
    min_watch_seconds float8 DEFAULT 60,
    window_days float8 DEFAULT 365,
    labels_from timestamptz DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    layers integer[] DEFAULT '{256,128}',
    dim integer DEFAULT 64,
    epochs integer DEFAULT 20,
    negatives integer DEFAULT 4,
    learning_rate float8 DEFAULT 0.001,
    batch_size integer DEFAULT 256,
    l2 float8 DEFAULT 0,
    neighbours integer DEFAULT 50,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    courses_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text) IS
    'train a two-tower neural collaborative filtering model from a watches relation; returns the model id';

CREATE FUNCTION recs.train_all(
    watches regclass,
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[] DEFAULT '{language,industry,segment}',
    course_features text[] DEFAULT '{language,topic,difficulty}',
    crosses text[] DEFAULT '{industry:topic,language:language,segment:difficulty}',
    name text DEFAULT 'recs',
    blend_days integer DEFAULT 28,
    through timestamptz DEFAULT NULL,
    blend_effects text[] DEFAULT '{learner_id}',
    epochs integer DEFAULT 20,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    rerank_top integer DEFAULT NULL,
    candidates text[] DEFAULT '{rerank_blend,click_blend,ncf}',
    validation_days integer DEFAULT 7,
    dry_run boolean DEFAULT false,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    shown_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    courses_id_column text DEFAULT NULL,
    language_column text DEFAULT 'language')
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_end timestamptz;
    t_cut timestamptz;
    t_val timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    validate boolean;
    n jsonb;                 -- the input's counts
    est jsonb;               -- the estimates
    skipped jsonb;
    pool integer;
    fit jsonb := '{}';       -- the fitted models by role
    scores jsonb := '{}';    -- the validation figures by candidate
    winner text;
    best float8;
    r float8;
    c text;
    pop bigint;
    ncf bigint;
    glmix bigint;
    served bigint;
    ids bigint[];
    secs jsonb := '{}';
    arg text;
    lcols text;
    ccols text;
    lbl_numeric boolean;
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions', 'learners', 'courses'] LOOP
        IF (arg = 'watches' AND watches IS NULL) OR (arg = 'impressions' AND impressions IS NULL)
           OR (arg = 'learners' AND learners IS NULL) OR (arg = 'courses' AND courses IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', arg);
        END IF;
    END LOOP;
    -- an option passed as NULL takes its default, as in the trainers (keep
    -- these in step with the signature); seconds_column => NULL: no watch time
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    candidates := COALESCE(candidates, '{rerank_blend,click_blend,ncf}');
    validation_days := COALESCE(validation_days, 7);
    dry_run := COALESCE(dry_run, false);
    learner_column := COALESCE(learner_column, 'learner_id');
    course_column := COALESCE(course_column, 'course_id');
    time_column := COALESCE(time_column, 'watched_at');
    shown_column := COALESCE(shown_column, 'shown_at');
    click_column := COALESCE(click_column, 'clicked');
    courses_id_column := COALESCE(courses_id_column, course_column);
    language_column := COALESCE(language_column, 'language');
    -- the learner id may be named either way among the random effects
    blend_effects := array_replace(blend_effects, learner_column, 'learner_id');

    -- 1. the options
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a pool of 15 % of the catalogue.';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'model name must not be empty',
            HINT = 'train_all names its models <name>_popularity, <name>_ncf, <name>_glmix and <name>_blend.';
    END IF;
    IF blend_days < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at least 1, not %s', blend_days);
    END IF;
    IF blend_days > 36500 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at most 36500 (a century), not %s', blend_days);
    END IF;
    IF NOT isfinite(through) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'through must be a finite timestamp';
    END IF;
    IF cardinality(candidates) IS NULL OR EXISTS (
           SELECT 1 FROM unnest(candidates) x WHERE x IS NULL OR x NOT IN ('rerank_blend', 'click_blend', 'ncf'))
       OR (SELECT count(DISTINCT x) FROM unnest(candidates) x) <> cardinality(candidates) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('candidates must name each of rerank_blend, click_blend and ncf at most once, not %s', candidates),
            HINT = 'Pass one candidate to serve it without a validation slice.';
    END IF;
    validate := cardinality(candidates) > 1;
    IF validate AND (validation_days < 1 OR validation_days >= blend_days) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('validation_days must be between 1 and blend_days - 1 (%s), not %s', blend_days - 1, validation_days),
            DETAIL = 'The blends learn from the first blend_days - validation_days days of the window, the candidates are compared on the rest.';
    END IF;

    -- 2. every column, named by the argument that maps it
    PERFORM recs._pipeline_column(watches, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(watches, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(watches, time_column, 'time_column', 'time');
    IF seconds_column IS NOT NULL THEN
        PERFORM recs._pipeline_column(watches, seconds_column, 'seconds_column', 'number');
    END IF;
    PERFORM recs._pipeline_column(impressions, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(impressions, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(impressions, shown_column, 'shown_column', 'time');
    lbl_numeric := recs._pipeline_column(impressions, click_column, 'click_column', 'label') <> 'boolean'::regtype;
    PERFORM recs._pipeline_column(learners, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(learners, language_column, 'language_column', 'any');
    PERFORM recs._pipeline_column(learners, x, 'learner_features', 'any') FROM unnest(learner_features) x;
    PERFORM recs._pipeline_column(learners, x, 'blend_effects', 'any') FROM unnest(blend_effects) x WHERE x <> 'learner_id';
    PERFORM recs._pipeline_column(courses, courses_id_column, 'courses_id_column', 'id');
    PERFORM recs._pipeline_column(courses, x, 'course_features', 'any') FROM unnest(course_features) x;
    PERFORM recs._pipeline_column(learners, split_part(x, ':', 1), 'crosses', 'any') FROM unnest(crosses) x;
    PERFORM recs._pipeline_column(courses, split_part(x, ':', 2), 'crosses', 'any') FROM unnest(crosses) x;

    -- 3. the values: the end of the data, and what the steps will skip
    EXECUTE format('SELECT max(%1$I)::timestamptz FROM %2$s WHERE isfinite(%1$I)', time_column, watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = format('No row has a finite %s.', time_column);
    END IF;
    t_cut := t_end - make_interval(days => blend_days);
    t_val := CASE WHEN validate THEN t_end - make_interval(days => validation_days) ELSE t_end END;
    EXECUTE format($q$SELECT jsonb_build_object(
        'watches', count(*) FILTER (WHERE %3$I <= %4$L::timestamptz),
        'watches_before_cut', count(*) FILTER (WHERE %3$I < %5$L::timestamptz),
        'watches_in_window', count(*) FILTER (WHERE %3$I >= %5$L::timestamptz AND %3$I < %7$L::timestamptz),
        'watch_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'learners', count(DISTINCT %1$I), 'courses', count(DISTINCT %2$I))
        FROM %6$s$q$, learner_column, course_column, time_column, t_end, t_cut, watches, t_val) INTO n;
    EXECUTE format($q$SELECT jsonb_build_object(
        'impressions', count(*) FILTER (WHERE %3$I <= %5$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impressions_before_cut', count(*) FILTER (WHERE %3$I < %6$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impression_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'impression_null_id', count(*) FILTER (WHERE %1$I IS NULL OR %2$I IS NULL),
        'impression_null_label', count(*) FILTER (WHERE %4$I IS NULL),
        'bad_label', %8$s,
        'labels_before_cut', count(DISTINCT %4$I) FILTER (WHERE %3$I < %6$L::timestamptz),
        'labels_in_window', count(DISTINCT %4$I) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz),
        'impressions_in_window', count(*) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz))
        FROM %9$s$q$, learner_column, course_column, shown_column, click_column, t_end, t_cut, t_val,
        CASE WHEN lbl_numeric THEN format('count(*) FILTER (WHERE %I NOT IN (0, 1))', click_column) ELSE '0' END,
        impressions) INTO est;
    n := n || est;
    IF (n->>'bad_label')::bigint > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('column "%s" of relation %s has %s values other than 0 and 1', click_column, impressions, n->>'bad_label'),
            HINT = 'click_column names the impressions'' click label: boolean, or a number that is 0 or 1.';
    END IF;
    IF (n->>'impressions')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no rows to train on', impressions),
            DETAIL = format('No row up to %s has a %s, both ids and a %s.', t_end, shown_column, click_column);
    END IF;
    IF (n->>'watches_before_cut')::bigint = 0 OR (n->>'impressions_before_cut')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000',
            MESSAGE = format('no %s before %s to train the components on',
                             CASE WHEN (n->>'watches_before_cut')::bigint = 0 THEN 'watches' ELSE 'impressions' END, t_cut),
            HINT = 'Lower blend_days, or pass a later through.';
    END IF;
    IF (n->>'labels_before_cut')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('every impression before %s has the same %s', t_cut, click_column),
            HINT = 'GLMix needs clicks and non-clicks; check click_column.';
    END IF;
    IF 'click_blend' = ANY (candidates) AND (n->>'labels_in_window')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the impressions from %s to %s do not have both labels', t_cut, t_val),
            HINT = 'The click blend learns from them: lengthen blend_days, or leave click_blend out of candidates.';
    END IF;
    skipped := jsonb_build_object('watches_bad_time', n->'watch_bad_time',
                                  'impressions_bad_time', n->'impression_bad_time',
                                  'impressions_null_id', n->'impression_null_id',
                                  'impressions_null_label', n->'impression_null_label');
    IF (n->>'watch_bad_time')::bigint + (n->>'impression_bad_time')::bigint
       + (n->>'impression_null_id')::bigint + (n->>'impression_null_label')::bigint > 0 THEN
        RAISE NOTICE USING MESSAGE = format('train_all: skipped %s watches with a NULL or infinite %s, %s impressions with a NULL or infinite %s, %s with a NULL id, %s with a NULL %s',
            n->>'watch_bad_time', time_column, n->>'impression_bad_time', shown_column,
            n->>'impression_null_id', n->>'impression_null_label', click_column);
    END IF;
    pool := COALESCE(rerank_top, greatest(1, ceil(0.15 * (n->>'courses')::float8)::int));

    -- 4. memory and time of every step, before any
    est := recs._pipeline_estimate((n->>'watches')::bigint, (n->>'impressions')::bigint, (n->>'learners')::bigint,
                                   (n->>'courses')::bigint,
                                   (1 + (SELECT COALESCE(sum(recs._pipeline_values(learners, x)), 0) FROM unnest(learner_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(courses, x)), 0) FROM unnest(course_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(learners, split_part(x, ':', 1))
                                                            * recs._pipeline_values(courses, split_part(x, ':', 2))), 0)
                                          FROM unnest(crosses) x))::bigint,
                                   cardinality(learner_features) + cardinality(course_features) + cardinality(crosses),
                                   cardinality(blend_effects), epochs, threads, candidates, validate,
                                   (n->>'watches_in_window')::bigint, (n->>'impressions_in_window')::bigint);
    IF dry_run THEN
        RAISE NOTICE USING MESSAGE = format('train_all dry run: %s watches, %s impressions, %s learners, %s courses; about %s MB at most (%s), about %s s',
            n->>'watches', n->>'impressions', n->>'learners', n->>'courses', est->>'peak_mb',
            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
               FROM jsonb_each(est->'steps') s), est->>'seconds'),
            DETAIL = format('recs.memory_limit allows %s MB. Nothing was trained.', round(recs._memory_budget_mb()));
        RETURN NULL;
    END IF;
    IF (est->>'peak_mb')::float8 > recs._memory_budget_mb() THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('train_all needs about %s MB, more than the %s MB recs may use', est->>'peak_mb',
                             round(recs._memory_budget_mb())),
            DETAIL = format('Estimates per step: %s. Nothing was trained.',
                            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
                               FROM jsonb_each(est->'steps') s)),
            HINT = format('Raise the budget, e.g. SET recs.memory_limit = ''%sMB'' (it defaults to maintenance_work_mem).',
                          ceil((est->>'peak_mb')::float8 * 1.25));
    END IF;

    -- 5. the relations under the conventional names, cut in time (a failed run's views go first)
    FOREACH arg IN ARRAY ARRAY['all_watches', 'all_impressions', 'learners', 'courses'] LOOP
        IF to_regclass('pg_temp.recs_pipeline_' || arg) IS NOT NULL THEN
            EXECUTE format('DROP VIEW pg_temp.%I CASCADE', 'recs_pipeline_' || arg);
        END IF;
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO lcols FROM pg_attribute a
     WHERE a.attrelid = learners AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (learner_column, 'learner_id');
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO ccols FROM pg_attribute a
     WHERE a.attrelid = courses AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (courses_id_column, 'course_id');
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_learners AS SELECT %I AS learner_id%s%s FROM %s',
                   learner_column, CASE WHEN lcols IS NULL THEN '' ELSE ', ' END, COALESCE(lcols, ''), learners);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_courses AS SELECT %I AS course_id%s%s FROM %s',
                   courses_id_column, CASE WHEN ccols IS NULL THEN '' ELSE ', ' END, COALESCE(ccols, ''), courses);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_watches AS SELECT %I AS learner_id, %I AS course_id, %I AS watched_at%s FROM %s WHERE %I <= %L::timestamptz',
                   learner_column, course_column, time_column,
                   CASE WHEN seconds_column IS NULL THEN ', 0::float8 AS watch_seconds'
                        ELSE format(', %I AS watch_seconds', seconds_column) END,
                   watches, time_column, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_impressions AS SELECT %I AS learner_id, %I AS course_id, %I AS shown_at, %I AS clicked FROM %s WHERE %I <= %L::timestamptz AND %I IS NOT NULL AND %I IS NOT NULL AND %I IS NOT NULL',
                   learner_column, course_column, shown_column, click_column, impressions, shown_column, t_end,
                   learner_column, course_column, click_column);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_impressions AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_val);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_val);
    -- the validation slice: courses first watched in it (for longer than the trainers' 60 s)
    EXECUTE format($q$CREATE OR REPLACE TEMP VIEW recs_pipeline_validation AS
        SELECT DISTINCT v.learner_id, v.course_id FROM recs_pipeline_all_watches v
         WHERE v.watched_at >= %1$L %2$s
           AND NOT EXISTS (SELECT 1 FROM recs_pipeline_all_watches e
                            WHERE e.learner_id = v.learner_id AND e.course_id = v.course_id AND e.watched_at < %1$L)$q$,
        t_val, CASE WHEN seconds_column IS NULL THEN '' ELSE 'AND v.watch_seconds >= 60' END);
    RAISE NOTICE 'train_all: components on data before %, blends from then to %, %, then the components again through %',
        t_cut, t_val, CASE WHEN validate THEN format('the candidates compared on the rest') ELSE 'no validation' END, t_end;

    BEGIN
        -- 6. the components before the window, the candidates on it
        t1 := clock_timestamp();
        fit := fit || jsonb_build_object('popularity',
            recs.train_popularity('pg_temp.recs_pipeline_watches', 'pg_temp.recs_pipeline_learners',
                                  name => name || '_fit_popularity', activate => false,
                                  min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                  language_column => language_column));
        fit := fit || jsonb_build_object('ncf',
            recs.train_ncf('pg_temp.recs_pipeline_watches', name => name || '_fit_ncf', courses => 'pg_temp.recs_pipeline_courses',
                           epochs => epochs, threads => threads, activate => false,
                           min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END));
        fit := fit || jsonb_build_object('glmix',
            recs.train_glmix('pg_temp.recs_pipeline_impressions', 'pg_temp.recs_pipeline_learners', 'pg_temp.recs_pipeline_courses',
                             learner_features, course_features, name => name || '_fit_glmix', crosses => crosses,
                             threads => threads, activate => false));
        IF 'click_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('click_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint, (fit->>'popularity')::bigint],
                                 'pg_temp.recs_pipeline_blend', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_click_blend', random_effects => blend_effects, since => t_cut,
                                 activate => false));
        END IF;
        IF 'rerank_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('rerank_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint],
                                 'pg_temp.recs_pipeline_blend_watches', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_rerank_blend', random_effects => blend_effects, since => t_cut,
                                 time_column => 'watched_at', negatives => 20, rerank_top => pool,
                                 l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                 activate => false));
        END IF;
        secs := secs || jsonb_build_object('fit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));

        -- 7. the winner on the validation slice
        winner := candidates[1];
        IF validate THEN
            t1 := clock_timestamp();
            IF NOT EXISTS (SELECT 1 FROM recs_pipeline_validation) THEN
                RAISE EXCEPTION USING ERRCODE = '02000',
                    MESSAGE = format('no course was first watched from %s to %s to compare the candidates on', t_val, t_end),
                    HINT = 'Raise validation_days, or pass a single candidate.';
            END IF;
            best := -1;
            FOREACH c IN ARRAY candidates LOOP
                scores := scores || jsonb_build_object(c,
                    recs.evaluate((fit->>c)::bigint, 'pg_temp.recs_pipeline_validation', 10));
                r := (scores->c->>'recall')::float8;
                IF r > best THEN
                    best := r;
                    winner := c;
                END IF;
            END LOOP;
            secs := secs || jsonb_build_object('validation', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
            RAISE NOTICE USING MESSAGE = format('train_all: Recall@10 from %s on %s learners: %s; %s serves', t_val,
                scores->candidates[1]->>'learners',
                (SELECT string_agg(format('%s %s', x, round((scores->x->>'recall')::numeric, 3)), ', ')
                   FROM unnest(candidates) x), winner);
        END IF;

        -- 8. the components again on all of the data, the winner over them
        t1 := clock_timestamp();
        IF winner = 'click_blend' THEN
            pop := recs.train_popularity('pg_temp.recs_pipeline_all_watches', 'pg_temp.recs_pipeline_learners',
                                         name => name || '_popularity', activate => false,
                                         min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                         language_column => language_column);
        END IF;
        ncf := recs.train_ncf('pg_temp.recs_pipeline_all_watches', name => name || '_ncf', courses => 'pg_temp.recs_pipeline_courses',
                              epochs => epochs, threads => threads, activate => false,
                              min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END);
        IF winner = 'ncf' THEN
            served := ncf;
        ELSE
            glmix := recs.train_glmix('pg_temp.recs_pipeline_all_impressions', 'pg_temp.recs_pipeline_learners',
                                      'pg_temp.recs_pipeline_courses', learner_features, course_features,
                                      name => name || '_glmix', crosses => crosses, threads => threads, activate => false);
            ids := CASE winner WHEN 'click_blend' THEN ARRAY[ncf, glmix, pop] ELSE ARRAY[ncf, glmix] END;
            served := recs._blend_rebase((fit->>winner)::bigint, ids, name || '_blend', t_end);
        END IF;
        secs := secs || jsonb_build_object('refit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions, learners, courses);
        det := recs._pipeline_names(det, watches, impressions, learners, courses);
        hnt := recs._pipeline_names(hnt, watches, impressions, learners, courses);
        IF det = '' AND hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF det = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
        ELSIF hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END IF;
    END;

    -- 9. the fitted models go (the served one carries their figures); provenance names the caller's relations
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['click_blend', 'rerank_blend']) x WHERE fit ? x;
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['popularity', 'ncf', 'glmix']) x;
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions, learners, courses))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, served);
    secs := secs || jsonb_build_object('total', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1));
    UPDATE recs.model m
       SET metrics = m.metrics || jsonb_build_object('pipeline', jsonb_build_object(
               'winner', winner, 'candidates', to_jsonb(candidates), 'validation', scores,
               'components_before', t_cut, 'blend_until', t_val, 'end', t_end, 'rerank_top', pool,
               'skipped', skipped, 'estimate', est, 'seconds', secs))
     WHERE m.model_id = served;
    IF activate THEN
        PERFORM recs.activate(served);
    END IF;
    DROP VIEW recs_pipeline_validation, recs_pipeline_blend, recs_pipeline_blend_watches, recs_pipeline_impressions,
              recs_pipeline_watches, recs_pipeline_all_impressions, recs_pipeline_all_watches,
              recs_pipeline_courses, recs_pipeline_learners;
    RAISE NOTICE 'train_all: done in % s; the % (model %) serves%', secs->>'total', winner, served,
        CASE WHEN activate THEN ' at commit' ELSE ' once activated' END;
    RETURN served;
END
$$;
COMMENT ON FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer, text[], integer, boolean, text, text, text, text, text,
    text, text, text) IS
    'the nightly pipeline: inputs and memory checked first; components before the last blend_days, candidate blends after, the best on a validation slice refitted through the end of the data and activated';

CREATE FUNCTION recs._pipeline_names(t text, watches regclass, impressions regclass, learners regclass,
                                     courses regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
             'pg_temp(_[0-9]+)?\.recs_pipeline_(all_)?(blend_)?watches', watches::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_(all_impressions|impressions|blend|validation)', impressions::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_learners', learners::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_courses', courses::text, 'g')
$$;
COMMENT ON FUNCTION recs._pipeline_names(text, regclass, regclass, regclass, regclass) IS
    'private, for train_all: a text with the pipeline''s temporary views replaced by the caller''s relations';

CREATE FUNCTION recs._pipeline_column(rel regclass, col text, arg text, want text)
RETURNS regtype
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ regtype;
    ok boolean;
BEGIN
    SELECT a.atttypid INTO typ FROM pg_attribute a
     WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
    IF typ IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_column',
            MESSAGE = format('column "%s" does not exist in relation %s', col, rel),
            HINT = format('Name the column with train_all''s %s argument.', arg);
    END IF;
    ok := CASE want
        WHEN 'id' THEN typ IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype,
                               'uuid'::regtype, 'text'::regtype, 'character varying'::regtype)
        WHEN 'time' THEN typ IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
        WHEN 'number' THEN typ IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'numeric'::regtype,
                                   'real'::regtype, 'double precision'::regtype)
        WHEN 'label' THEN typ IN ('boolean'::regtype, 'bigint'::regtype, 'integer'::regtype, 'smallint'::regtype,
                                  'numeric'::regtype, 'real'::regtype, 'double precision'::regtype)
        ELSE true END;
    IF NOT ok THEN
        RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
            MESSAGE = format('column "%s" of relation %s has type %s', col, rel, typ),
            DETAIL = format('train_all needs %s to be %s.', arg, CASE want
                WHEN 'id' THEN 'bigint, integer, smallint, uuid, text or varchar'
                WHEN 'time' THEN 'a timestamp with time zone, timestamp or date'
                WHEN 'number' THEN 'a number'
                ELSE 'boolean, or a number that is 0 or 1' END),
            HINT = 'Cast it in a view and pass the view instead.';
    END IF;
    RETURN typ;
END
$$;
COMMENT ON FUNCTION recs._pipeline_column(regclass, text, text, text) IS
    'private, for train_all: the type of a column, checked to be an id, a time, a number or a label; errors name the argument';

CREATE FUNCTION recs._pipeline_values(rel regclass, col text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    typ regtype := recs._pipeline_column(rel, col, 'features', 'any');
    n bigint;
BEGIN
    IF typ IN ('bigint'::regtype, 'integer'::regtype, 'smallint'::regtype, 'numeric'::regtype, 'real'::regtype,
               'double precision'::regtype) THEN
        RETURN 1;       -- one standardised feature
    END IF;
    IF (SELECT t.typcategory = 'A' FROM pg_type t WHERE t.oid = typ) THEN
        EXECUTE format('SELECT count(DISTINCT v) FROM %s, unnest(%I) v', rel, col) INTO n;
    ELSE
        EXECUTE format('SELECT count(DISTINCT %I) FROM %s', col, rel) INTO n;
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION recs._pipeline_values(regclass, text) IS
    'private, for train_all: how many GLMix features a column makes (its distinct values; 1 for a number)';

CREATE FUNCTION recs._memory_budget_mb()
RETURNS float8
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN COALESCE(current_setting('recs.memory_limit', true), '-1') IN ('-1', '')
                THEN pg_size_bytes(current_setting('maintenance_work_mem'))
                ELSE pg_size_bytes(current_setting('recs.memory_limit')) END / 1048576.0
$$;
COMMENT ON FUNCTION recs._memory_budget_mb() IS
    'private, for train_all: the training budget in MB (recs.memory_limit, or maintenance_work_mem when it is -1)';

CREATE FUNCTION recs._pipeline_estimate(watches bigint, impressions bigint, learners bigint, courses bigint,
                                        dim bigint, features integer, effects integer, epochs integer, threads integer,
                                        candidates text[], validate boolean, window_watches bigint,
                                        window_impressions bigint)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- Upper bounds of what each trainer checks against recs.memory_limit
    -- (their formulas, with the catalogue's and the input's sizes in place of
    -- counts known only after reading, plus a quarter), and the time at the
    -- rates measured on the sample data (docs/blend.md).
    WITH s AS (
        SELECT 1.25 * 128.0 * watches AS read_watches,
               1.25 * (2 * courses * (256 * 12 + 28.0) + 2 * 41000 * (3 + threads) * 4.0 + 306 * 448 * 8.0
                       + watches * (40 + 36 + 20.0) + courses * 50 * 8.0) AS ncf,
               1.25 * (impressions * (100 + 12.0 * (1 + features) + 2 * 12.0 * (2 + features))
                       + 32.0 * dim * dim) AS glmix,
               1.25 * ((courses + learners) * (64 * 4 + 64.0) + courses * 256 * 8.0 + learners * (1 + features) * 8.0 * 2
                       + greatest(CASE WHEN 'click_blend' = ANY (candidates) THEN window_impressions ELSE 0 END,
                                  CASE WHEN 'rerank_blend' = ANY (candidates) THEN 21 * window_watches ELSE 0 END)
                         * (116 + 20.0 * 4 + 24.0 * effects)
                       + learners * effects * 512.0) AS blend,
               watches * 5.0 * epochs / (20000.0 * least(threads, 2)) AS ncf_s,
               impressions * 3 / 40000.0 AS glmix_s
    ), mb AS (
        SELECT jsonb_build_object(
                   'read_watches', jsonb_build_object('mb', ceil((read_watches + 8e6) / 1048576)),
                   'ncf', jsonb_build_object('mb', ceil((ncf + read_watches) / 1048576)),
                   'glmix', jsonb_build_object('mb', ceil(glmix / 1048576)),
                   'blend', jsonb_build_object('mb', ceil(blend / 1048576))) AS steps,
               2 * (ncf_s + glmix_s) + CASE WHEN validate THEN learners * courses / 2e6 ELSE 0 END + 1 AS seconds
          FROM s)
    SELECT jsonb_build_object('steps', steps,
                              'peak_mb', (SELECT max((v.value->>'mb')::float8) FROM jsonb_each(steps) v),
                              'seconds', round(seconds::numeric, 0))
      FROM mb
$$;
COMMENT ON FUNCTION recs._pipeline_estimate(bigint, bigint, bigint, bigint, bigint, integer, integer, integer, integer,
    text[], boolean, bigint, bigint) IS
    'private, for train_all: the memory (MB) of each step and the total time (s) from the input''s sizes';

CREATE FUNCTION recs._blend_rebase(blend bigint, components bigint[], name text, trained_through timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    -- one training per name at a time, as in model_store_create()
    PERFORM pg_advisory_xact_lock(hashtext('recs.model:' || _blend_rebase.name));
    IF EXISTS (SELECT 1 FROM recs.model m WHERE m.name = _blend_rebase.name AND m.kind <> 'blend') THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('model name "%s" is already used by a %s model', _blend_rebase.name,
                             (SELECT m.kind FROM recs.model m WHERE m.name = _blend_rebase.name LIMIT 1));
    END IF;
    INSERT INTO recs.model (name, kind, version, trained_through, source, params, metrics,
                            learner_key, course_key)
    SELECT _blend_rebase.name, 'blend',
           (SELECT COALESCE(max(m2.version), 0) + 1 FROM recs.model m2 WHERE m2.name = _blend_rebase.name),
           _blend_rebase.trained_through,
           b.source || jsonb_build_object('components', to_jsonb(components)),
           b.params || jsonb_build_object('weights_fitted_through', b.trained_through),
           b.metrics - 'evaluation', b.learner_key, b.course_key
      FROM recs.model b WHERE b.model_id = blend
    RETURNING model_id INTO id;
    INSERT INTO recs.blend_component (model_id, position, component_id, transform, mean, sd)
    SELECT id, c.position, components[c.position], c.transform, c.mean, c.sd
      FROM recs.blend_component c WHERE c.model_id = blend;
    INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs)
    SELECT id, c.coordinate, c.entity, c.coefs FROM recs.blend_coef c WHERE c.model_id = blend;
    INSERT INTO recs.blend_learner (model_id, learner_id, keys)
    SELECT id, l.learner_id, l.keys FROM recs.blend_learner l WHERE l.model_id = blend;
    -- the learners and histories of the new components (their watch-based ones), as blend_store.c does
    INSERT INTO recs.model_learner (model_id, learner_id, language, watched)
    SELECT id, m.learner_id, (array_agg(m.language) FILTER (WHERE m.language IS NOT NULL))[1],
           ARRAY(SELECT DISTINCT e FROM recs.model_learner m2 JOIN recs.model k ON k.model_id = m2.model_id,
                        unnest(m2.watched) e
                  WHERE m2.learner_id = m.learner_id AND m2.model_id = ANY (components)
                    AND k.kind <> 'glmix' ORDER BY e)
      FROM recs.model_learner m WHERE m.model_id = ANY (components) GROUP BY m.learner_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION recs._blend_rebase(bigint, bigint[], text, timestamptz) IS
    'private, for train_all: a new version of a blend with the same weights over other (refitted) components';

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

-- ---------------------------------------------------------------------------
-- ids: uuid, text and integer ids everywhere (issue #17 item 4) -- the id
-- dictionary, each model's key types, the uuid and text serving functions
-- (src/install/75_keys.sql), forget_learner per key type (85_privacy.sql)
-- ---------------------------------------------------------------------------

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

CREATE FUNCTION recs._model_keys(model bigint, OUT model_id bigint, OUT learner_key text,
                                 OUT course_key text)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := model;
BEGIN
    IF m IS NULL THEN
        SELECT d.model_id INTO m FROM recs.deployment d WHERE d.slot = 'default';
        IF m IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'no recs model is active in slot "default"';
        END IF;
    END IF;
    SELECT x.model_id, x.learner_key, x.course_key INTO model_id, learner_key, course_key
      FROM recs.model x WHERE x.model_id = m;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('recs model %s does not exist', m),
            HINT = 'SELECT * FROM recs.models lists the trained models.';
    END IF;
END
$$;
COMMENT ON FUNCTION recs._model_keys(bigint) IS
    'private: a model (NULL: the active one) and its key types';

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

-- the uuid overloads' check of the model they serve (NULL: the active one):
-- uuid (or text) learners, uuid courses; returns its argument
CREATE FUNCTION recs._uuid_model(model bigint)
RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record := recs._model_keys(model);
BEGIN
    IF k.learner_key = 'bigint' OR k.course_key <> 'uuid' THEN
        RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
            MESSAGE = format('the model keys learners by %s and courses by %s, not by uuid',
                             k.learner_key, k.course_key),
            DETAIL = format('recs model %s.', k.model_id),
            HINT = 'Pass the ids as text (the text overloads serve every model), or as the model''s key type.';
    END IF;
    RETURN model;
END
$$;
COMMENT ON FUNCTION recs._uuid_model(bigint) IS
    'private: its argument, once the model it names (NULL: the active one) is one the uuid overloads can serve';

-- serving: text keys --------------------------------------------------------

CREATE FUNCTION recs.recommend(
    learner_id text,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude text[] DEFAULT NULL,
    candidates text[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent text[] DEFAULT NULL)
RETURNS TABLE (rank integer, course_id text, score float8)
AS 'MODULE_PATHNAME', 'recommend_text'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.recommend(text, integer, boolean, text[], text[], bigint, text[]) IS
    'recommend() for text keys (or the text form of any model''s keys): course keys as text';

CREATE FUNCTION recs.recommend_all(
    learner_keys text[],
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true)
RETURNS TABLE (learner_id text, rank integer, course_id text, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    -- every learner the model knows, their ids mapped back to keys
    SELECT recs._id_key('learner', m.learner_key, r.learner_id), r.rank,
           recs._id_key('course', m.course_key, r.course_id), r.score
      FROM recs._model_keys(recommend_all.model) m,
           recs.recommend_all(recommend_all.k, recommend_all.model, recommend_all.exclude_watched) r
     WHERE recommend_all.learner_keys IS NULL
    UNION ALL
    -- the given keys, as given (an unknown one gets a stranger's list, as in recommend_all(bigint[]))
    SELECT u.key, r.rank, r.course_id, r.score
      FROM (SELECT DISTINCT x FROM unnest(recommend_all.learner_keys) x WHERE x IS NOT NULL) u(key),
           recs.recommend(u.key, recommend_all.k, exclude_watched => recommend_all.exclude_watched,
                          model => recommend_all.model) r
     WHERE recommend_all.learner_keys IS NOT NULL
$$;
COMMENT ON FUNCTION recs.recommend_all(text[], integer, bigint, boolean) IS
    'recommend_all() for text keys: learner_keys NULL for every learner the model knows';

CREATE FUNCTION recs.score(model bigint, learner_id text, course_id text)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.score(bigint, text, text) IS
    'score() for text keys';

CREATE FUNCTION recs.glmix_score(model bigint, learner_id text, course_id text)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_score(bigint, text, text) IS
    'glmix_score() for text keys';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id text, course_id text)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit_text'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_logit(bigint, text, text) IS
    'glmix_logit() for text keys';

CREATE FUNCTION recs.similar_courses(course_id text, k integer DEFAULT 10, model bigint DEFAULT NULL)
RETURNS TABLE (rank integer, course_id text, similarity float8)
AS 'MODULE_PATHNAME', 'similar_courses_text'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.similar_courses(text, integer, bigint) IS
    'similar_courses() for text keys';

-- not an overload of embed_learner: embed_learner(5, '{1,2}') would be
-- ambiguous between the array types; a uuid[] is passed as uuid[]::text[]
CREATE FUNCTION recs.embed_learner_keys(model bigint, course_keys text[])
RETURNS real[]
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    SELECT recs.embed_learner(m.model_id, recs._key_ids('course', m.course_key, embed_learner_keys.course_keys))
      FROM recs._model_keys(embed_learner_keys.model) m
$$;
COMMENT ON FUNCTION recs.embed_learner_keys(bigint, text[]) IS
    'embed_learner() for the text form of any model''s course keys (uuid[]::text[] for uuid keys)';

-- a glmix explanation: the entity of a per-learner or per-course coordinate
-- is the key, not its dictionary id
CREATE FUNCTION recs.explain(model bigint, learner_id text, course_id text)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
LANGUAGE sql STABLE STRICT PARALLEL SAFE ROWS 4
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    SELECT e.coordinate,
           CASE WHEN c.by_id AND c.keyed_by = 'learner' THEN recs._id_key('learner', m.learner_key, e.entity::bigint)
                WHEN c.by_id AND c.keyed_by = 'course' THEN recs._id_key('course', m.course_key, e.entity::bigint)
                ELSE e.entity END,
           e.has_model, e.contribution, e.top_features, e.top_contributions
      FROM recs._model_keys(explain.model) m
     CROSS JOIN LATERAL recs.explain(m.model_id, recs._key_id('learner', m.learner_key, explain.learner_id),
                                     recs._key_id('course', m.course_key, explain.course_id))
                        WITH ORDINALITY e(coordinate, entity, has_model, contribution, top_features,
                                          top_contributions, ord)
      LEFT JOIN recs.glmix_coordinate c ON c.model_id = m.model_id AND c.name = e.coordinate
     ORDER BY e.ord
$$;
COMMENT ON FUNCTION recs.explain(bigint, text, text) IS
    'explain() of a glmix score for text keys';

CREATE FUNCTION recs.explain_recommendation(learner_id text, course_id text, model bigint DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
    SELECT e.*
      FROM recs._model_keys(explain_recommendation.model) m,
           recs.explain_recommendation(recs._key_id('learner', m.learner_key, explain_recommendation.learner_id),
                                       recs._key_id('course', m.course_key, explain_recommendation.course_id),
                                       explain_recommendation.model) e
$$;
COMMENT ON FUNCTION recs.explain_recommendation(text, text, bigint) IS
    'explain_recommendation() for text keys';

CREATE FUNCTION recs.explain(learner_id text, course_id text)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id) $$;
COMMENT ON FUNCTION recs.explain(text, text) IS
    'explain() of the active model for text keys';

-- serving: uuid keys (the text functions, typed) ----------------------------

CREATE FUNCTION recs.recommend(
    learner_id uuid,
    k integer DEFAULT 10,
    exclude_watched boolean DEFAULT true,
    exclude uuid[] DEFAULT NULL,
    candidates uuid[] DEFAULT NULL,
    model bigint DEFAULT NULL,
    recent uuid[] DEFAULT NULL)
RETURNS TABLE (rank integer, course_id uuid, score float8)
AS 'MODULE_PATHNAME', 'recommend_uuid'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.recommend(uuid, integer, boolean, uuid[], uuid[], bigint, uuid[]) IS
    'recommend() for uuid keys: course keys as uuid';

CREATE FUNCTION recs.recommend_all(
    learner_keys uuid[],
    k integer DEFAULT 10,
    model bigint DEFAULT NULL,
    exclude_watched boolean DEFAULT true)
RETURNS TABLE (learner_id uuid, rank integer, course_id uuid, score float8)
LANGUAGE sql STABLE PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.learner_id::uuid, r.rank, r.course_id::uuid, r.score
      FROM recs.recommend_all(recommend_all.learner_keys::text[], recommend_all.k,
                              recs._uuid_model(recommend_all.model), recommend_all.exclude_watched) r
$$;
COMMENT ON FUNCTION recs.recommend_all(uuid[], integer, bigint, boolean) IS
    'recommend_all() for uuid keys: learner_keys NULL for every learner the model knows';

CREATE FUNCTION recs.score(model bigint, learner_id uuid, course_id uuid)
RETURNS float8
AS 'MODULE_PATHNAME', 'score_uuid'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.score(bigint, uuid, uuid) IS
    'score() for uuid keys';

CREATE FUNCTION recs.glmix_score(model bigint, learner_id uuid, course_id uuid)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score_uuid'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_score(bigint, uuid, uuid) IS
    'glmix_score() for uuid keys';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id uuid, course_id uuid)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit_uuid'
LANGUAGE C STABLE STRICT PARALLEL SAFE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.glmix_logit(bigint, uuid, uuid) IS
    'glmix_logit() for uuid keys';

CREATE FUNCTION recs.similar_courses(course_id uuid, k integer DEFAULT 10, model bigint DEFAULT NULL)
RETURNS TABLE (rank integer, course_id uuid, similarity float8)
AS 'MODULE_PATHNAME', 'similar_courses_uuid'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION recs.similar_courses(uuid, integer, bigint) IS
    'similar_courses() for uuid keys';

CREATE FUNCTION recs.explain(model bigint, learner_id uuid, course_id uuid)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
LANGUAGE sql STABLE STRICT PARALLEL SAFE ROWS 4
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain(recs._uuid_model(model), learner_id::text, course_id::text) $$;
COMMENT ON FUNCTION recs.explain(bigint, uuid, uuid) IS
    'explain() of a glmix score for uuid keys';

CREATE FUNCTION recs.explain_recommendation(learner_id uuid, course_id uuid, model bigint DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM recs.explain_recommendation(learner_id::text, course_id::text, recs._uuid_model(model))
$$;
COMMENT ON FUNCTION recs.explain_recommendation(uuid, uuid, bigint) IS
    'explain_recommendation() for uuid keys';

CREATE FUNCTION recs.explain(learner_id uuid, course_id uuid)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id) $$;
COMMENT ON FUNCTION recs.explain(uuid, uuid) IS
    'explain() of the active model for uuid keys';

-- embeddings by key: the key type given by a typed NULL, e.g.
-- recs.course_embeddings(5, NULL::uuid)
CREATE FUNCTION recs.course_embeddings(model bigint, key_type anyelement)
RETURNS TABLE (course_id anyelement, embedding real[])
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
DECLARE
    ck text := (recs._model_keys(model)).course_key;
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT recs._id_key(''course'', $1, e.course_id)::%s, e.embedding '
        'FROM recs.course_embeddings($2) e ORDER BY 1', pg_typeof(key_type))
        USING ck, model;
END
$$;
COMMENT ON FUNCTION recs.course_embeddings(bigint, anyelement) IS
    'course_embeddings() with the course keys in the type of key_type (e.g. NULL::uuid)';

CREATE FUNCTION recs.course_map(model bigint, key_type anyelement)
RETURNS TABLE (course_id anyelement, x float8, y float8)
LANGUAGE plpgsql STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET recs.dictionary_ids = on
AS $$
BEGIN
    IF model IS NULL THEN
        RETURN;                 -- as course_map(bigint), which is STRICT
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT recs._id_key(''course'', $1, c.course_id)::%s, c.x, c.y FROM recs.course_map($2) c ORDER BY 1',
        pg_typeof(key_type))
        USING (recs._model_keys(model)).course_key, model;
END
$$;
COMMENT ON FUNCTION recs.course_map(bigint, anyelement) IS
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
    SELECT string_agg(format('recs.recommend(%1$s, integer, boolean, %1$s[], %1$s[], bigint, %1$s[]), '
                             'recs.recommend_all(%1$s[], integer, bigint, boolean), '
                             'recs.score(bigint, %1$s, %1$s), recs.glmix_score(bigint, %1$s, %1$s), '
                             'recs.glmix_logit(bigint, %1$s, %1$s), '
                             'recs.similar_courses(%1$s, integer, bigint), '
                             'recs.explain(bigint, %1$s, %1$s), recs.explain_recommendation(%1$s, %1$s, bigint), '
                             'recs.explain(%1$s, %1$s)', t), ', ' ORDER BY t)
           || ', recs.embed_learner_keys(bigint, text[]), recs.course_embeddings(bigint, anyelement), '
           || 'recs.course_map(bigint, anyelement)'
      FROM unnest(ARRAY['text', 'uuid']) t
$$;
COMMENT ON FUNCTION recs._key_serving_functions() IS
    'private: the serving functions for uuid and text keys, as a list for GRANT';

REVOKE EXECUTE ON FUNCTION
    recs.recommend(text, integer, boolean, text[], text[], bigint, text[]),
    recs.recommend_all(text[], integer, bigint, boolean),
    recs.score(bigint, text, text),
    recs.glmix_score(bigint, text, text),
    recs.glmix_logit(bigint, text, text),
    recs.similar_courses(text, integer, bigint),
    recs.embed_learner_keys(bigint, text[]),
    recs.explain(bigint, text, text),
    recs.explain_recommendation(text, text, bigint),
    recs.explain(text, text),
    recs.recommend(uuid, integer, boolean, uuid[], uuid[], bigint, uuid[]),
    recs.recommend_all(uuid[], integer, bigint, boolean),
    recs.score(bigint, uuid, uuid),
    recs.glmix_score(bigint, uuid, uuid),
    recs.glmix_logit(bigint, uuid, uuid),
    recs.similar_courses(uuid, integer, bigint),
    recs.explain(bigint, uuid, uuid),
    recs.explain_recommendation(uuid, uuid, bigint),
    recs.explain(uuid, uuid),
    recs.course_embeddings(bigint, anyelement),
    recs.course_map(bigint, anyelement)
FROM PUBLIC;

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

    -- every backend reloads the models it touched at their next call
    UPDATE recs.model m SET cache_token = (random() * 9.2e18)::bigint
     WHERE m.model_id = ANY (touched);
END
$$;
COMMENT ON FUNCTION recs._forget_learner_id(bigint, boolean) IS
    'private: forget_learner''s work, in the models keyed by integers or in those keyed by uuid or text';

CREATE OR REPLACE FUNCTION recs.forget_learner(learner_id bigint)
RETURNS TABLE (table_name text, rows_removed bigint)
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs._forget_learner_id(learner_id, false) $$;
COMMENT ON FUNCTION recs.forget_learner(bigint) IS
    'delete a learner''s rows from every model (histories, embeddings, features, per-learner coefficients and blend weights) and make every backend reload those models; reports the rows removed per table';

CREATE OR REPLACE FUNCTION recs._serving_functions()
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
        || 'recs.model_id(text), recs.course_embeddings(bigint, text), '
        || recs._key_serving_functions()
$$;

-- roles given access under 0.3.0 get the same on what this version adds
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT a.rolname FROM pg_roles a
              WHERE has_function_privilege(a.oid, 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text)', 'EXECUTE')
                AND NOT a.rolsuper AND a.rolname <> current_user LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', recs._key_serving_functions(), r.rolname);
    END LOOP;
    FOR r IN SELECT a.rolname FROM pg_roles a
              WHERE has_table_privilege(a.oid, 'recs.model', 'INSERT') AND NOT a.rolsuper AND a.rolname <> current_user LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON recs.id_key TO %I', r.rolname);
        EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE recs.id_key_id_seq TO %I', r.rolname);
    END LOOP;
END
$$;

-- ============================================================================
-- api-gaps: slot => on the uuid and text serving overloads (issue #17)
--
-- Every keyed serving function takes the slot argument of its bigint twin,
-- with the same rule and errors (src/install/75_keys.sql): the overloads
-- are dropped and created again with slot text DEFAULT NULL last; score,
-- glmix_score, glmix_logit, explain(model, ...), embed_learner_keys and
-- course_map(model, key_type) are no longer STRICT (NULL model and slot:
-- NULL or no rows, as their twins).  _model_keys and _uuid_model resolve
-- model and slot through recs._serving_model_id.  Roles that had access
-- get it again on the new signatures.
-- ============================================================================

DROP FUNCTION recs.recommend(text, integer, boolean, text[], text[], bigint, text[]),
    recs.recommend_all(text[], integer, bigint, boolean),
    recs.score(bigint, text, text), recs.glmix_score(bigint, text, text), recs.glmix_logit(bigint, text, text),
    recs.similar_courses(text, integer, bigint), recs.embed_learner_keys(bigint, text[]),
    recs.explain(bigint, text, text), recs.explain_recommendation(text, text, bigint), recs.explain(text, text),
    recs.recommend(uuid, integer, boolean, uuid[], uuid[], bigint, uuid[]),
    recs.recommend_all(uuid[], integer, bigint, boolean),
    recs.score(bigint, uuid, uuid), recs.glmix_score(bigint, uuid, uuid), recs.glmix_logit(bigint, uuid, uuid),
    recs.similar_courses(uuid, integer, bigint),
    recs.explain(bigint, uuid, uuid), recs.explain_recommendation(uuid, uuid, bigint), recs.explain(uuid, uuid),
    recs.course_embeddings(bigint, anyelement), recs.course_map(bigint, anyelement),
    recs._uuid_model(bigint), recs._model_keys(bigint);

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

-- the serving functions above, for grant_access (80_access.sql)
CREATE OR REPLACE FUNCTION recs._key_serving_functions()
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

DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT a.rolname FROM pg_roles a
              WHERE has_function_privilege(a.oid, 'recs.recommend(bigint, integer, boolean, bigint[], bigint[], bigint, bigint[], text)', 'EXECUTE')
                AND NOT a.rolsuper AND a.rolname <> current_user LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', recs._key_serving_functions(), r.rolname);
    END LOOP;
END
$$;

-- ============================================================================
-- api-gaps: a re-ranking blend's served scores are monotone in rank
--
-- recommend(), recommend_all() and recs.score() shift the scores of the
-- courses outside a re-ranking blend's pool below the pool's lowest
-- (serving_score.c, in the library); explain_recommendation's 'rerank pool'
-- row now comes before the total and carries that shift as its
-- contribution, so that the total stays the served score.
-- ============================================================================

CREATE OR REPLACE FUNCTION recs.explain_recommendation(learner_id bigint, course_id bigint, model bigint DEFAULT NULL,
                                            slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint;
    m_kind text;
    em bigint;
    pool integer;
    c1 bigint;
    pool_rank integer;
    g float8[];
    lc float8[];
    sc float8[];
    seg text;
    w float8[];
    total float8 := 0;
    c record;
    s float8;
    z float8;
BEGIN
    IF learner_id IS NULL OR course_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be NULL', CASE WHEN learner_id IS NULL THEN 'learner_id' ELSE 'course_id' END);
    END IF;
    m := recs._serving_model_id(model, slot);
    SELECT x.kind INTO m_kind FROM recs.model x WHERE x.model_id = m;
    -- a course the model does not score is an error (recs.score() gives NULL)
    IF recs.score(m, learner_id, course_id) IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = format('course %s is not scored by recs model %s', course_id, m);
    END IF;
    -- the NCF model whose embeddings stand for this one: itself, a blend's NCF component
    SELECT bc.component_id INTO em FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
     WHERE bc.model_id = m AND x.kind = 'ncf' ORDER BY bc.position LIMIT 1;
    IF m_kind = 'ncf' THEN
        em := m;
    END IF;

    IF m_kind <> 'blend' THEN
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => m) r;
        part := 'model'; part_model := m; kind := m_kind; score := s; weight := 1; contribution := s;
        detail := CASE WHEN m_kind = 'glmix' THEN
                    ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                            FROM recs.explain(m, learner_id, course_id) e WHERE e.coordinate <> 'total')
                       WHEN m_kind = 'ncf' THEN
                    -- a model with history terms: each term, value x weight = contribution
                    NULLIF(ARRAY(SELECT format('%s: %s x %s = %s', t.term, round(t.value::numeric, 3),
                                               round(t.weight::numeric, 3), round(t.contribution::numeric, 3))
                                   FROM recs._ncf_history_terms(m, learner_id, course_id) t), '{}')
                  END;
        RETURN NEXT;
        RETURN QUERY SELECT * FROM recs._explain_history(m, m_kind, em, learner_id, course_id);
        RETURN;
    END IF;

    -- a blend: weights = global + the learner's own + their other keys' (segment ...)
    SELECT b.coefs INTO g FROM recs.blend_coef b WHERE b.model_id = m AND b.entity IS NULL;
    SELECT b.coefs INTO lc FROM recs.blend_coef b
     WHERE b.model_id = m AND b.coordinate = (SELECT x.params->>'learner_column' FROM recs.model x WHERE x.model_id = m)
       AND b.entity = learner_id::text;
    SELECT coalesce(array_agg(b.coefs[i] ORDER BY i), NULL) INTO sc
      FROM (SELECT b2.coefs FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos),
                   recs.blend_coef b2
             WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
               AND b2.model_id = m AND b2.entity = k.key
               AND b2.coordinate = (SELECT x.params->'random_effects'->>(k.pos::int - 1) FROM recs.model x WHERE x.model_id = m)) b,
           generate_subscripts(b.coefs, 1) i
     GROUP BY ();
    SELECT string_agg(format('%s=%s', e, b.entity), ', ') INTO seg
      FROM recs.blend_learner bl, unnest(bl.keys) WITH ORDINALITY k(key, pos), recs.blend_coef b,
           LATERAL (SELECT x.params->'random_effects'->>(k.pos::int - 1) AS e FROM recs.model x WHERE x.model_id = m) r
     WHERE bl.model_id = m AND bl.learner_id = explain_recommendation.learner_id AND k.key IS NOT NULL
       AND b.model_id = m AND b.entity = k.key AND b.coordinate = r.e;

    part := 'intercept'; part_model := m; kind := 'blend'; score := NULL;
    weight := g[1] + coalesce(lc[1], 0) + coalesce(sc[1], 0);
    contribution := weight; total := total + contribution;
    detail := ARRAY[format('global %s', round(g[1]::numeric, 4)),
                    format('learner %s', coalesce(round(lc[1]::numeric, 4)::text, 'none')),
                    format('%s %s', coalesce(seg, 'other keys'), coalesce(round(sc[1]::numeric, 4)::text, 'none'))];
    RETURN NEXT;

    FOR c IN SELECT bc.position, bc.component_id, bc.transform, bc.mean, bc.sd, x.kind AS ckind
               FROM recs.blend_component bc JOIN recs.model x ON x.model_id = bc.component_id
              WHERE bc.model_id = m ORDER BY bc.position LOOP
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => c.component_id) r;
        z := CASE WHEN s IS NULL THEN 0
                  WHEN c.transform = 'logit' THEN (ln(greatest(least(s, 1 - 1e-12), 1e-12) / (1 - greatest(least(s, 1 - 1e-12), 1e-12))) - c.mean) / c.sd
                  ELSE (s - c.mean) / c.sd END;
        part := 'component ' || c.position; part_model := c.component_id; kind := c.ckind; score := s;
        weight := g[c.position + 1] + coalesce(lc[c.position + 1], 0) + coalesce(sc[c.position + 1], 0);
        contribution := weight * z; total := total + contribution;
        detail := ARRAY[format('standardised %s', round(z::numeric, 4)),
                        format('weight: global %s, learner %s, %s %s', round(g[c.position + 1]::numeric, 4),
                               coalesce(round(lc[c.position + 1]::numeric, 4)::text, 'none'),
                               coalesce(seg, 'other keys'), coalesce(round(sc[c.position + 1]::numeric, 4)::text, 'none'))]
                  || CASE WHEN c.ckind = 'glmix' THEN
                       ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                               FROM recs.explain(c.component_id, learner_id, course_id) e WHERE e.coordinate <> 'total')
                     ELSE '{}'::text[] END;
        RETURN NEXT;
    END LOOP;

    -- a re-ranking blend: was the course in the pool (the first component's
    -- best eligible courses), which recommend() ranks before every other?
    -- Outside it, the served score is the blend's shifted below the pool's
    -- (serving_score.c): the row's contribution is that shift, so that the
    -- total stays the score recommend() and recs.score() serve.
    SELECT coalesce((x.params->>'rerank_top')::int, 0) INTO pool FROM recs.model x WHERE x.model_id = m;
    IF pool > 0 THEN
        SELECT bc.component_id INTO c1 FROM recs.blend_component bc WHERE bc.model_id = m ORDER BY bc.position LIMIT 1;
        SELECT r.rank INTO pool_rank
          FROM recs.recommend(learner_id, pool, exclude_watched => false, model => c1,
                              exclude => (SELECT ml.watched FROM recs.model_learner ml
                                           WHERE ml.model_id = m AND ml.learner_id = explain_recommendation.learner_id)) r
         WHERE r.course_id = explain_recommendation.course_id;
        s := CASE WHEN pool_rank IS NULL THEN recs.score(m, learner_id, course_id) - total ELSE 0 END;
        part := 'rerank pool'; part_model := c1; kind := (SELECT x.kind FROM recs.model x WHERE x.model_id = c1);
        score := pool_rank; weight := NULL; contribution := s; total := total + s;
        detail := ARRAY[CASE WHEN pool_rank IS NOT NULL
                             THEN format('in the pool: rank %s of component 1''s %s best unwatched courses', pool_rank, pool)
                             ELSE format('outside the pool of component 1''s %s best unwatched courses: ranked after all of them', pool) END,
                        CASE WHEN pool_rank IS NOT NULL THEN 'served score: the blend score'
                             WHEN s < 0 THEN format('served score: the blend score shifted by %s, below the pool''s lowest',
                                                    round(s::numeric, 4))
                             ELSE 'served score: the blend score (already below the pool''s lowest)' END];
        RETURN NEXT;
    END IF;

    part := 'total'; part_model := m; kind := 'blend'; score := total; weight := NULL; contribution := total;
    detail := NULL;
    RETURN NEXT;
    RETURN QUERY SELECT * FROM recs._explain_history(m, m_kind, em, learner_id, course_id);
END
$$;
COMMENT ON FUNCTION recs.explain_recommendation(bigint, bigint, bigint, text) IS
    'why a course is recommended: for a blend, each component''s score, weight (global + learner + segment) and contribution, with the GLMix features behind it; the total is the served score; then the watched courses nearest it (NCF, blend) and whether a cold start served';
-- CREATE OR REPLACE resets it (80_access.sql sets it on a fresh install)
ALTER FUNCTION recs.explain_recommendation(bigint, bigint, bigint, text) SECURITY DEFINER;

-- ============================================================================
-- api-gaps: the learners' (and GLMix's courses') id column by name
--
-- train_glmix gains learners_id_column and courses_id_column, and
-- train_popularity, train_blend and train_all learners_id_column (NULL: the
-- impressions' or watches' learner_column / course_column), as train_ncf
-- and train_all already had courses_id_column: feature relations keyed by
-- another column name, e.g. courses(id, ...) and learners(user_id, ...).
-- ============================================================================

DROP FUNCTION recs.train_popularity(regclass, regclass, text, float8, float8, timestamptz, boolean, float8, text,
                                    text, text, text, text);
DROP FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text, float8[], integer,
                               text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean, text,
                               text, text, text, text, text, text, timestamptz, text, boolean, integer);
DROP FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text, float8[], integer,
                               boolean, text, text, text, text, text, integer, bigint, integer);
DROP FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
                             timestamptz, text[], integer, integer, boolean, integer, text[], integer, boolean, text,
                             text, text, text, text, text, text, text);

CREATE FUNCTION recs.train_popularity(
    watches regclass,
    learners regclass DEFAULT NULL,
    name text DEFAULT 'popularity',
    window_days float8 DEFAULT 90,
    min_watch_seconds float8 DEFAULT 60,
    through timestamptz DEFAULT NULL,
    activate boolean DEFAULT true,
    smoothing float8 DEFAULT 20,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    language_column text DEFAULT 'language',
    learners_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_popularity'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_popularity(regclass, regclass, text, float8, float8,
    timestamptz, boolean, float8, text, text, text, text, text, text) IS
    'train a popularity-by-language model from a watches relation; returns the model id';

CREATE FUNCTION recs.train_glmix(
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[],
    course_features text[],
    name text DEFAULT 'glmix',
    label text DEFAULT 'clicked',
    weighting text DEFAULT 'none',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 3,
    random_effects text[] DEFAULT NULL,
    crosses text[] DEFAULT NULL,
    min_rows integer DEFAULT 1,
    max_rows integer DEFAULT NULL,
    intercepts boolean[] DEFAULT NULL,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    validation regclass DEFAULT NULL,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    seconds_column text DEFAULT 'watch_seconds',
    weight_column text DEFAULT NULL,
    time_column text DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    solver text DEFAULT 'auto',
    l2_auto boolean DEFAULT false,
    hash_bits integer DEFAULT NULL,
    learners_id_column text DEFAULT NULL,
    courses_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_glmix'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_glmix(regclass, regclass, regclass, text[], text[], text, text, text,
    float8[], integer, text[], text[], integer, integer, boolean[], bigint, integer, regclass, boolean,
    text, text, text, text, text, text, text, timestamptz, text, boolean, integer, text, text) IS
    'train a GLMix response model (fixed effect + per-learner + per-course effects) by coordinate descent on the impressions up to through; returns the model id';

CREATE FUNCTION recs.train_blend(
    components bigint[],
    impressions regclass,
    learners regclass DEFAULT NULL,
    name text DEFAULT 'blend',
    random_effects text[] DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    label text DEFAULT 'clicked',
    l2 float8[] DEFAULT NULL,
    passes integer DEFAULT 2,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    bookmark_column text DEFAULT 'bookmarked',
    negatives integer DEFAULT 0,
    seed bigint DEFAULT 42,
    rerank_top integer DEFAULT 0,
    learners_id_column text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_blend'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint, integer, text) IS
    'train a personalised blend (a GLMix over component model scores) on impressions after the components'' training data';

CREATE FUNCTION recs.train_all(
    watches regclass,
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[] DEFAULT '{language,industry,segment}',
    course_features text[] DEFAULT '{language,topic,difficulty}',
    crosses text[] DEFAULT '{industry:topic,language:language,segment:difficulty}',
    name text DEFAULT 'recs',
    blend_days integer DEFAULT 28,
    through timestamptz DEFAULT NULL,
    blend_effects text[] DEFAULT '{learner_id}',
    epochs integer DEFAULT 20,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    rerank_top integer DEFAULT NULL,
    candidates text[] DEFAULT '{rerank_blend,click_blend,ncf}',
    validation_days integer DEFAULT 7,
    dry_run boolean DEFAULT false,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    shown_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    courses_id_column text DEFAULT NULL,
    language_column text DEFAULT 'language',
    learners_id_column text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_end timestamptz;
    t_cut timestamptz;
    t_val timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    validate boolean;
    n jsonb;                 -- the input's counts
    est jsonb;               -- the estimates
    skipped jsonb;
    pool integer;
    fit jsonb := '{}';       -- the fitted models by role
    scores jsonb := '{}';    -- the validation figures by candidate
    winner text;
    best float8;
    r float8;
    c text;
    pop bigint;
    ncf bigint;
    glmix bigint;
    served bigint;
    ids bigint[];
    secs jsonb := '{}';
    arg text;
    lcols text;
    ccols text;
    lbl_numeric boolean;
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions', 'learners', 'courses'] LOOP
        IF (arg = 'watches' AND watches IS NULL) OR (arg = 'impressions' AND impressions IS NULL)
           OR (arg = 'learners' AND learners IS NULL) OR (arg = 'courses' AND courses IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', arg);
        END IF;
    END LOOP;
    -- an option passed as NULL takes its default, as in the trainers (keep
    -- these in step with the signature); seconds_column => NULL: no watch time
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    candidates := COALESCE(candidates, '{rerank_blend,click_blend,ncf}');
    validation_days := COALESCE(validation_days, 7);
    dry_run := COALESCE(dry_run, false);
    learner_column := COALESCE(learner_column, 'learner_id');
    course_column := COALESCE(course_column, 'course_id');
    time_column := COALESCE(time_column, 'watched_at');
    shown_column := COALESCE(shown_column, 'shown_at');
    click_column := COALESCE(click_column, 'clicked');
    courses_id_column := COALESCE(courses_id_column, course_column);
    learners_id_column := COALESCE(learners_id_column, learner_column);
    language_column := COALESCE(language_column, 'language');
    -- the learner id may be named either way among the random effects
    blend_effects := array_replace(blend_effects, learner_column, 'learner_id');

    -- 1. the options
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a pool of 15 % of the catalogue.';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'model name must not be empty',
            HINT = 'train_all names its models <name>_popularity, <name>_ncf, <name>_glmix and <name>_blend.';
    END IF;
    IF blend_days < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at least 1, not %s', blend_days);
    END IF;
    IF blend_days > 36500 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at most 36500 (a century), not %s', blend_days);
    END IF;
    IF NOT isfinite(through) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'through must be a finite timestamp';
    END IF;
    IF cardinality(candidates) IS NULL OR EXISTS (
           SELECT 1 FROM unnest(candidates) x WHERE x IS NULL OR x NOT IN ('rerank_blend', 'click_blend', 'ncf'))
       OR (SELECT count(DISTINCT x) FROM unnest(candidates) x) <> cardinality(candidates) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('candidates must name each of rerank_blend, click_blend and ncf at most once, not %s', candidates),
            HINT = 'Pass one candidate to serve it without a validation slice.';
    END IF;
    validate := cardinality(candidates) > 1;
    IF validate AND (validation_days < 1 OR validation_days >= blend_days) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('validation_days must be between 1 and blend_days - 1 (%s), not %s', blend_days - 1, validation_days),
            DETAIL = 'The blends learn from the first blend_days - validation_days days of the window, the candidates are compared on the rest.';
    END IF;

    -- 2. every column, named by the argument that maps it
    PERFORM recs._pipeline_column(watches, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(watches, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(watches, time_column, 'time_column', 'time');
    IF seconds_column IS NOT NULL THEN
        PERFORM recs._pipeline_column(watches, seconds_column, 'seconds_column', 'number');
    END IF;
    PERFORM recs._pipeline_column(impressions, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(impressions, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(impressions, shown_column, 'shown_column', 'time');
    lbl_numeric := recs._pipeline_column(impressions, click_column, 'click_column', 'label') <> 'boolean'::regtype;
    PERFORM recs._pipeline_column(learners, learners_id_column, 'learners_id_column', 'id');
    PERFORM recs._pipeline_column(learners, language_column, 'language_column', 'any');
    PERFORM recs._pipeline_column(learners, x, 'learner_features', 'any') FROM unnest(learner_features) x;
    PERFORM recs._pipeline_column(learners, x, 'blend_effects', 'any') FROM unnest(blend_effects) x WHERE x <> 'learner_id';
    PERFORM recs._pipeline_column(courses, courses_id_column, 'courses_id_column', 'id');
    PERFORM recs._pipeline_column(courses, x, 'course_features', 'any') FROM unnest(course_features) x;
    PERFORM recs._pipeline_column(learners, split_part(x, ':', 1), 'crosses', 'any') FROM unnest(crosses) x;
    PERFORM recs._pipeline_column(courses, split_part(x, ':', 2), 'crosses', 'any') FROM unnest(crosses) x;

    -- 3. the values: the end of the data, and what the steps will skip
    EXECUTE format('SELECT max(%1$I)::timestamptz FROM %2$s WHERE isfinite(%1$I)', time_column, watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = format('No row has a finite %s.', time_column);
    END IF;
    t_cut := t_end - make_interval(days => blend_days);
    t_val := CASE WHEN validate THEN t_end - make_interval(days => validation_days) ELSE t_end END;
    EXECUTE format($q$SELECT jsonb_build_object(
        'watches', count(*) FILTER (WHERE %3$I <= %4$L::timestamptz),
        'watches_before_cut', count(*) FILTER (WHERE %3$I < %5$L::timestamptz),
        'watches_in_window', count(*) FILTER (WHERE %3$I >= %5$L::timestamptz AND %3$I < %7$L::timestamptz),
        'watch_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'learners', count(DISTINCT %1$I), 'courses', count(DISTINCT %2$I))
        FROM %6$s$q$, learner_column, course_column, time_column, t_end, t_cut, watches, t_val) INTO n;
    EXECUTE format($q$SELECT jsonb_build_object(
        'impressions', count(*) FILTER (WHERE %3$I <= %5$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impressions_before_cut', count(*) FILTER (WHERE %3$I < %6$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impression_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'impression_null_id', count(*) FILTER (WHERE %1$I IS NULL OR %2$I IS NULL),
        'impression_null_label', count(*) FILTER (WHERE %4$I IS NULL),
        'bad_label', %8$s,
        'labels_before_cut', count(DISTINCT %4$I) FILTER (WHERE %3$I < %6$L::timestamptz),
        'labels_in_window', count(DISTINCT %4$I) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz),
        'impressions_in_window', count(*) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz))
        FROM %9$s$q$, learner_column, course_column, shown_column, click_column, t_end, t_cut, t_val,
        CASE WHEN lbl_numeric THEN format('count(*) FILTER (WHERE %I NOT IN (0, 1))', click_column) ELSE '0' END,
        impressions) INTO est;
    n := n || est;
    IF (n->>'bad_label')::bigint > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('column "%s" of relation %s has %s values other than 0 and 1', click_column, impressions, n->>'bad_label'),
            HINT = 'click_column names the impressions'' click label: boolean, or a number that is 0 or 1.';
    END IF;
    IF (n->>'impressions')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no rows to train on', impressions),
            DETAIL = format('No row up to %s has a %s, both ids and a %s.', t_end, shown_column, click_column);
    END IF;
    IF (n->>'watches_before_cut')::bigint = 0 OR (n->>'impressions_before_cut')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000',
            MESSAGE = format('no %s before %s to train the components on',
                             CASE WHEN (n->>'watches_before_cut')::bigint = 0 THEN 'watches' ELSE 'impressions' END, t_cut),
            HINT = 'Lower blend_days, or pass a later through.';
    END IF;
    IF (n->>'labels_before_cut')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('every impression before %s has the same %s', t_cut, click_column),
            HINT = 'GLMix needs clicks and non-clicks; check click_column.';
    END IF;
    IF 'click_blend' = ANY (candidates) AND (n->>'labels_in_window')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the impressions from %s to %s do not have both labels', t_cut, t_val),
            HINT = 'The click blend learns from them: lengthen blend_days, or leave click_blend out of candidates.';
    END IF;
    skipped := jsonb_build_object('watches_bad_time', n->'watch_bad_time',
                                  'impressions_bad_time', n->'impression_bad_time',
                                  'impressions_null_id', n->'impression_null_id',
                                  'impressions_null_label', n->'impression_null_label');
    IF (n->>'watch_bad_time')::bigint + (n->>'impression_bad_time')::bigint
       + (n->>'impression_null_id')::bigint + (n->>'impression_null_label')::bigint > 0 THEN
        RAISE NOTICE USING MESSAGE = format('train_all: skipped %s watches with a NULL or infinite %s, %s impressions with a NULL or infinite %s, %s with a NULL id, %s with a NULL %s',
            n->>'watch_bad_time', time_column, n->>'impression_bad_time', shown_column,
            n->>'impression_null_id', n->>'impression_null_label', click_column);
    END IF;
    pool := COALESCE(rerank_top, greatest(1, ceil(0.15 * (n->>'courses')::float8)::int));

    -- 4. memory and time of every step, before any
    est := recs._pipeline_estimate((n->>'watches')::bigint, (n->>'impressions')::bigint, (n->>'learners')::bigint,
                                   (n->>'courses')::bigint,
                                   (1 + (SELECT COALESCE(sum(recs._pipeline_values(learners, x)), 0) FROM unnest(learner_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(courses, x)), 0) FROM unnest(course_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(learners, split_part(x, ':', 1))
                                                            * recs._pipeline_values(courses, split_part(x, ':', 2))), 0)
                                          FROM unnest(crosses) x))::bigint,
                                   cardinality(learner_features) + cardinality(course_features) + cardinality(crosses),
                                   cardinality(blend_effects), epochs, threads, candidates, validate,
                                   (n->>'watches_in_window')::bigint, (n->>'impressions_in_window')::bigint);
    IF dry_run THEN
        RAISE NOTICE USING MESSAGE = format('train_all dry run: %s watches, %s impressions, %s learners, %s courses; about %s MB at most (%s), about %s s',
            n->>'watches', n->>'impressions', n->>'learners', n->>'courses', est->>'peak_mb',
            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
               FROM jsonb_each(est->'steps') s), est->>'seconds'),
            DETAIL = format('recs.memory_limit allows %s MB. Nothing was trained.', round(recs._memory_budget_mb()));
        RETURN NULL;
    END IF;
    IF (est->>'peak_mb')::float8 > recs._memory_budget_mb() THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('train_all needs about %s MB, more than the %s MB recs may use', est->>'peak_mb',
                             round(recs._memory_budget_mb())),
            DETAIL = format('Estimates per step: %s. Nothing was trained.',
                            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
                               FROM jsonb_each(est->'steps') s)),
            HINT = format('Raise the budget, e.g. SET recs.memory_limit = ''%sMB'' (it defaults to maintenance_work_mem).',
                          ceil((est->>'peak_mb')::float8 * 1.25));
    END IF;

    -- 5. the relations under the conventional names, cut in time (a failed run's views go first)
    FOREACH arg IN ARRAY ARRAY['all_watches', 'all_impressions', 'learners', 'courses'] LOOP
        IF to_regclass('pg_temp.recs_pipeline_' || arg) IS NOT NULL THEN
            EXECUTE format('DROP VIEW pg_temp.%I CASCADE', 'recs_pipeline_' || arg);
        END IF;
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO lcols FROM pg_attribute a
     WHERE a.attrelid = learners AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (learners_id_column, 'learner_id');
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO ccols FROM pg_attribute a
     WHERE a.attrelid = courses AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (courses_id_column, 'course_id');
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_learners AS SELECT %I AS learner_id%s%s FROM %s',
                   learners_id_column, CASE WHEN lcols IS NULL THEN '' ELSE ', ' END, COALESCE(lcols, ''), learners);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_courses AS SELECT %I AS course_id%s%s FROM %s',
                   courses_id_column, CASE WHEN ccols IS NULL THEN '' ELSE ', ' END, COALESCE(ccols, ''), courses);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_watches AS SELECT %I AS learner_id, %I AS course_id, %I AS watched_at%s FROM %s WHERE %I <= %L::timestamptz',
                   learner_column, course_column, time_column,
                   CASE WHEN seconds_column IS NULL THEN ', 0::float8 AS watch_seconds'
                        ELSE format(', %I AS watch_seconds', seconds_column) END,
                   watches, time_column, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_impressions AS SELECT %I AS learner_id, %I AS course_id, %I AS shown_at, %I AS clicked FROM %s WHERE %I <= %L::timestamptz AND %I IS NOT NULL AND %I IS NOT NULL AND %I IS NOT NULL',
                   learner_column, course_column, shown_column, click_column, impressions, shown_column, t_end,
                   learner_column, course_column, click_column);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_impressions AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_val);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_val);
    -- the validation slice: courses first watched in it (for longer than the trainers' 60 s)
    EXECUTE format($q$CREATE OR REPLACE TEMP VIEW recs_pipeline_validation AS
        SELECT DISTINCT v.learner_id, v.course_id FROM recs_pipeline_all_watches v
         WHERE v.watched_at >= %1$L %2$s
           AND NOT EXISTS (SELECT 1 FROM recs_pipeline_all_watches e
                            WHERE e.learner_id = v.learner_id AND e.course_id = v.course_id AND e.watched_at < %1$L)$q$,
        t_val, CASE WHEN seconds_column IS NULL THEN '' ELSE 'AND v.watch_seconds >= 60' END);
    RAISE NOTICE 'train_all: components on data before %, blends from then to %, %, then the components again through %',
        t_cut, t_val, CASE WHEN validate THEN format('the candidates compared on the rest') ELSE 'no validation' END, t_end;

    BEGIN
        -- 6. the components before the window, the candidates on it
        t1 := clock_timestamp();
        fit := fit || jsonb_build_object('popularity',
            recs.train_popularity('pg_temp.recs_pipeline_watches', 'pg_temp.recs_pipeline_learners',
                                  name => name || '_fit_popularity', activate => false,
                                  min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                  language_column => language_column));
        fit := fit || jsonb_build_object('ncf',
            recs.train_ncf('pg_temp.recs_pipeline_watches', name => name || '_fit_ncf', courses => 'pg_temp.recs_pipeline_courses',
                           epochs => epochs, threads => threads, activate => false,
                           min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END));
        fit := fit || jsonb_build_object('glmix',
            recs.train_glmix('pg_temp.recs_pipeline_impressions', 'pg_temp.recs_pipeline_learners', 'pg_temp.recs_pipeline_courses',
                             learner_features, course_features, name => name || '_fit_glmix', crosses => crosses,
                             threads => threads, activate => false));
        IF 'click_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('click_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint, (fit->>'popularity')::bigint],
                                 'pg_temp.recs_pipeline_blend', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_click_blend', random_effects => blend_effects, since => t_cut,
                                 activate => false));
        END IF;
        IF 'rerank_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('rerank_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint],
                                 'pg_temp.recs_pipeline_blend_watches', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_rerank_blend', random_effects => blend_effects, since => t_cut,
                                 time_column => 'watched_at', negatives => 20, rerank_top => pool,
                                 l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                 activate => false));
        END IF;
        secs := secs || jsonb_build_object('fit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));

        -- 7. the winner on the validation slice
        winner := candidates[1];
        IF validate THEN
            t1 := clock_timestamp();
            IF NOT EXISTS (SELECT 1 FROM recs_pipeline_validation) THEN
                RAISE EXCEPTION USING ERRCODE = '02000',
                    MESSAGE = format('no course was first watched from %s to %s to compare the candidates on', t_val, t_end),
                    HINT = 'Raise validation_days, or pass a single candidate.';
            END IF;
            best := -1;
            FOREACH c IN ARRAY candidates LOOP
                scores := scores || jsonb_build_object(c,
                    recs.evaluate((fit->>c)::bigint, 'pg_temp.recs_pipeline_validation', 10));
                r := (scores->c->>'recall')::float8;
                IF r > best THEN
                    best := r;
                    winner := c;
                END IF;
            END LOOP;
            secs := secs || jsonb_build_object('validation', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
            RAISE NOTICE USING MESSAGE = format('train_all: Recall@10 from %s on %s learners: %s; %s serves', t_val,
                scores->candidates[1]->>'learners',
                (SELECT string_agg(format('%s %s', x, round((scores->x->>'recall')::numeric, 3)), ', ')
                   FROM unnest(candidates) x), winner);
        END IF;

        -- 8. the components again on all of the data, the winner over them
        t1 := clock_timestamp();
        IF winner = 'click_blend' THEN
            pop := recs.train_popularity('pg_temp.recs_pipeline_all_watches', 'pg_temp.recs_pipeline_learners',
                                         name => name || '_popularity', activate => false,
                                         min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                         language_column => language_column);
        END IF;
        ncf := recs.train_ncf('pg_temp.recs_pipeline_all_watches', name => name || '_ncf', courses => 'pg_temp.recs_pipeline_courses',
                              epochs => epochs, threads => threads, activate => false,
                              min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END);
        IF winner = 'ncf' THEN
            served := ncf;
        ELSE
            glmix := recs.train_glmix('pg_temp.recs_pipeline_all_impressions', 'pg_temp.recs_pipeline_learners',
                                      'pg_temp.recs_pipeline_courses', learner_features, course_features,
                                      name => name || '_glmix', crosses => crosses, threads => threads, activate => false);
            ids := CASE winner WHEN 'click_blend' THEN ARRAY[ncf, glmix, pop] ELSE ARRAY[ncf, glmix] END;
            served := recs._blend_rebase((fit->>winner)::bigint, ids, name || '_blend', t_end);
        END IF;
        secs := secs || jsonb_build_object('refit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions, learners, courses);
        det := recs._pipeline_names(det, watches, impressions, learners, courses);
        hnt := recs._pipeline_names(hnt, watches, impressions, learners, courses);
        IF det = '' AND hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF det = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
        ELSIF hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END IF;
    END;

    -- 9. the fitted models go (the served one carries their figures); provenance names the caller's relations
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['click_blend', 'rerank_blend']) x WHERE fit ? x;
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['popularity', 'ncf', 'glmix']) x;
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions, learners, courses))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, served);
    secs := secs || jsonb_build_object('total', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1));
    UPDATE recs.model m
       SET metrics = m.metrics || jsonb_build_object('pipeline', jsonb_build_object(
               'winner', winner, 'candidates', to_jsonb(candidates), 'validation', scores,
               'components_before', t_cut, 'blend_until', t_val, 'end', t_end, 'rerank_top', pool,
               'skipped', skipped, 'estimate', est, 'seconds', secs))
     WHERE m.model_id = served;
    IF activate THEN
        PERFORM recs.activate(served);
    END IF;
    DROP VIEW recs_pipeline_validation, recs_pipeline_blend, recs_pipeline_blend_watches, recs_pipeline_impressions,
              recs_pipeline_watches, recs_pipeline_all_impressions, recs_pipeline_all_watches,
              recs_pipeline_courses, recs_pipeline_learners;
    RAISE NOTICE 'train_all: done in % s; the % (model %) serves%', secs->>'total', winner, served,
        CASE WHEN activate THEN ' at commit' ELSE ' once activated' END;
    RETURN served;
END
$$;
COMMENT ON FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer, text[], integer, boolean, text, text, text, text, text,
    text, text, text, text) IS
    'the nightly pipeline: inputs and memory checked first; components before the last blend_days, candidate blends after, the best on a validation slice refitted through the end of the data and activated';

-- ---------------------------------------------------------------------------
-- citus (issue #14): recs on a Citus cluster.  recs.citus_setup() makes
-- recs' tables reference tables (serving reads each node's copy); activate
-- evaluates now() in VALUES; drop_model deletes a model's parts by name (no
-- foreign key cascades on Citus); train_all keeps its temporary views out of
-- Citus's DDL propagation; _blend_rebase has no correlated subquery;
-- forget_learner draws each model's new cache_token in PL/pgSQL
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION recs.activate(model_id bigint, slot text DEFAULT 'default')
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

CREATE OR REPLACE FUNCTION recs.drop_model(model_id bigint, force boolean DEFAULT false)
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
                                'ncf_learner', 'ncf_cowatch', 'glmix_coordinate', 'glmix_column',
                                'glmix_entity', 'glmix_coef', 'blend_component', 'blend_coef',
                                'blend_learner'] LOOP
        EXECUTE format('DELETE FROM recs.%I t WHERE t.model_id = $1', part) USING drop_model.model_id;
    END LOOP;
    DELETE FROM recs.model m WHERE m.model_id = drop_model.model_id;
END
$$;

CREATE OR REPLACE FUNCTION recs.train_all(
    watches regclass,
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[] DEFAULT '{language,industry,segment}',
    course_features text[] DEFAULT '{language,topic,difficulty}',
    crosses text[] DEFAULT '{industry:topic,language:language,segment:difficulty}',
    name text DEFAULT 'recs',
    blend_days integer DEFAULT 28,
    through timestamptz DEFAULT NULL,
    blend_effects text[] DEFAULT '{learner_id}',
    epochs integer DEFAULT 20,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    rerank_top integer DEFAULT NULL,
    candidates text[] DEFAULT '{rerank_blend,click_blend,ncf}',
    validation_days integer DEFAULT 7,
    dry_run boolean DEFAULT false,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    shown_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    courses_id_column text DEFAULT NULL,
    language_column text DEFAULT 'language',
    learners_id_column text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ddl_propagation text;
    t_end timestamptz;
    t_cut timestamptz;
    t_val timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    validate boolean;
    n jsonb;                 -- the input's counts
    est jsonb;               -- the estimates
    skipped jsonb;
    pool integer;
    fit jsonb := '{}';       -- the fitted models by role
    scores jsonb := '{}';    -- the validation figures by candidate
    winner text;
    best float8;
    r float8;
    c text;
    pop bigint;
    ncf bigint;
    glmix bigint;
    served bigint;
    ids bigint[];
    secs jsonb := '{}';
    arg text;
    lcols text;
    ccols text;
    lbl_numeric boolean;
    st text;
    msg text;
    det text;
    hnt text;
BEGIN
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions', 'learners', 'courses'] LOOP
        IF (arg = 'watches' AND watches IS NULL) OR (arg = 'impressions' AND impressions IS NULL)
           OR (arg = 'learners' AND learners IS NULL) OR (arg = 'courses' AND courses IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', arg);
        END IF;
    END LOOP;
    -- an option passed as NULL takes its default, as in the trainers (keep
    -- these in step with the signature); seconds_column => NULL: no watch time
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    candidates := COALESCE(candidates, '{rerank_blend,click_blend,ncf}');
    validation_days := COALESCE(validation_days, 7);
    dry_run := COALESCE(dry_run, false);
    learner_column := COALESCE(learner_column, 'learner_id');
    course_column := COALESCE(course_column, 'course_id');
    time_column := COALESCE(time_column, 'watched_at');
    shown_column := COALESCE(shown_column, 'shown_at');
    click_column := COALESCE(click_column, 'clicked');
    courses_id_column := COALESCE(courses_id_column, course_column);
    learners_id_column := COALESCE(learners_id_column, learner_column);
    language_column := COALESCE(language_column, 'language');
    -- the learner id may be named either way among the random effects
    blend_effects := array_replace(blend_effects, learner_column, 'learner_id');

    -- 1. the options
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a pool of 15 % of the catalogue.';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'model name must not be empty',
            HINT = 'train_all names its models <name>_popularity, <name>_ncf, <name>_glmix and <name>_blend.';
    END IF;
    IF blend_days < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at least 1, not %s', blend_days);
    END IF;
    IF blend_days > 36500 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at most 36500 (a century), not %s', blend_days);
    END IF;
    IF NOT isfinite(through) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'through must be a finite timestamp';
    END IF;
    IF cardinality(candidates) IS NULL OR EXISTS (
           SELECT 1 FROM unnest(candidates) x WHERE x IS NULL OR x NOT IN ('rerank_blend', 'click_blend', 'ncf'))
       OR (SELECT count(DISTINCT x) FROM unnest(candidates) x) <> cardinality(candidates) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('candidates must name each of rerank_blend, click_blend and ncf at most once, not %s', candidates),
            HINT = 'Pass one candidate to serve it without a validation slice.';
    END IF;
    validate := cardinality(candidates) > 1;
    IF validate AND (validation_days < 1 OR validation_days >= blend_days) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('validation_days must be between 1 and blend_days - 1 (%s), not %s', blend_days - 1, validation_days),
            DETAIL = 'The blends learn from the first blend_days - validation_days days of the window, the candidates are compared on the rest.';
    END IF;

    -- 2. every column, named by the argument that maps it
    PERFORM recs._pipeline_column(watches, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(watches, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(watches, time_column, 'time_column', 'time');
    IF seconds_column IS NOT NULL THEN
        PERFORM recs._pipeline_column(watches, seconds_column, 'seconds_column', 'number');
    END IF;
    PERFORM recs._pipeline_column(impressions, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(impressions, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(impressions, shown_column, 'shown_column', 'time');
    lbl_numeric := recs._pipeline_column(impressions, click_column, 'click_column', 'label') <> 'boolean'::regtype;
    PERFORM recs._pipeline_column(learners, learners_id_column, 'learners_id_column', 'id');
    PERFORM recs._pipeline_column(learners, language_column, 'language_column', 'any');
    PERFORM recs._pipeline_column(learners, x, 'learner_features', 'any') FROM unnest(learner_features) x;
    PERFORM recs._pipeline_column(learners, x, 'blend_effects', 'any') FROM unnest(blend_effects) x WHERE x <> 'learner_id';
    PERFORM recs._pipeline_column(courses, courses_id_column, 'courses_id_column', 'id');
    PERFORM recs._pipeline_column(courses, x, 'course_features', 'any') FROM unnest(course_features) x;
    PERFORM recs._pipeline_column(learners, split_part(x, ':', 1), 'crosses', 'any') FROM unnest(crosses) x;
    PERFORM recs._pipeline_column(courses, split_part(x, ':', 2), 'crosses', 'any') FROM unnest(crosses) x;

    -- 3. the values: the end of the data, and what the steps will skip
    EXECUTE format('SELECT max(%1$I)::timestamptz FROM %2$s WHERE isfinite(%1$I)', time_column, watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = format('No row has a finite %s.', time_column);
    END IF;
    t_cut := t_end - make_interval(days => blend_days);
    t_val := CASE WHEN validate THEN t_end - make_interval(days => validation_days) ELSE t_end END;
    EXECUTE format($q$SELECT jsonb_build_object(
        'watches', count(*) FILTER (WHERE %3$I <= %4$L::timestamptz),
        'watches_before_cut', count(*) FILTER (WHERE %3$I < %5$L::timestamptz),
        'watches_in_window', count(*) FILTER (WHERE %3$I >= %5$L::timestamptz AND %3$I < %7$L::timestamptz),
        'watch_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'learners', count(DISTINCT %1$I), 'courses', count(DISTINCT %2$I))
        FROM %6$s$q$, learner_column, course_column, time_column, t_end, t_cut, watches, t_val) INTO n;
    EXECUTE format($q$SELECT jsonb_build_object(
        'impressions', count(*) FILTER (WHERE %3$I <= %5$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impressions_before_cut', count(*) FILTER (WHERE %3$I < %6$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impression_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'impression_null_id', count(*) FILTER (WHERE %1$I IS NULL OR %2$I IS NULL),
        'impression_null_label', count(*) FILTER (WHERE %4$I IS NULL),
        'bad_label', %8$s,
        'labels_before_cut', count(DISTINCT %4$I) FILTER (WHERE %3$I < %6$L::timestamptz),
        'labels_in_window', count(DISTINCT %4$I) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz),
        'impressions_in_window', count(*) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz))
        FROM %9$s$q$, learner_column, course_column, shown_column, click_column, t_end, t_cut, t_val,
        CASE WHEN lbl_numeric THEN format('count(*) FILTER (WHERE %I NOT IN (0, 1))', click_column) ELSE '0' END,
        impressions) INTO est;
    n := n || est;
    IF (n->>'bad_label')::bigint > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('column "%s" of relation %s has %s values other than 0 and 1', click_column, impressions, n->>'bad_label'),
            HINT = 'click_column names the impressions'' click label: boolean, or a number that is 0 or 1.';
    END IF;
    IF (n->>'impressions')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no rows to train on', impressions),
            DETAIL = format('No row up to %s has a %s, both ids and a %s.', t_end, shown_column, click_column);
    END IF;
    IF (n->>'watches_before_cut')::bigint = 0 OR (n->>'impressions_before_cut')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000',
            MESSAGE = format('no %s before %s to train the components on',
                             CASE WHEN (n->>'watches_before_cut')::bigint = 0 THEN 'watches' ELSE 'impressions' END, t_cut),
            HINT = 'Lower blend_days, or pass a later through.';
    END IF;
    IF (n->>'labels_before_cut')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('every impression before %s has the same %s', t_cut, click_column),
            HINT = 'GLMix needs clicks and non-clicks; check click_column.';
    END IF;
    IF 'click_blend' = ANY (candidates) AND (n->>'labels_in_window')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the impressions from %s to %s do not have both labels', t_cut, t_val),
            HINT = 'The click blend learns from them: lengthen blend_days, or leave click_blend out of candidates.';
    END IF;
    skipped := jsonb_build_object('watches_bad_time', n->'watch_bad_time',
                                  'impressions_bad_time', n->'impression_bad_time',
                                  'impressions_null_id', n->'impression_null_id',
                                  'impressions_null_label', n->'impression_null_label');
    IF (n->>'watch_bad_time')::bigint + (n->>'impression_bad_time')::bigint
       + (n->>'impression_null_id')::bigint + (n->>'impression_null_label')::bigint > 0 THEN
        RAISE NOTICE USING MESSAGE = format('train_all: skipped %s watches with a NULL or infinite %s, %s impressions with a NULL or infinite %s, %s with a NULL id, %s with a NULL %s',
            n->>'watch_bad_time', time_column, n->>'impression_bad_time', shown_column,
            n->>'impression_null_id', n->>'impression_null_label', click_column);
    END IF;
    pool := COALESCE(rerank_top, greatest(1, ceil(0.15 * (n->>'courses')::float8)::int));

    -- 4. memory and time of every step, before any
    est := recs._pipeline_estimate((n->>'watches')::bigint, (n->>'impressions')::bigint, (n->>'learners')::bigint,
                                   (n->>'courses')::bigint,
                                   (1 + (SELECT COALESCE(sum(recs._pipeline_values(learners, x)), 0) FROM unnest(learner_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(courses, x)), 0) FROM unnest(course_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(learners, split_part(x, ':', 1))
                                                            * recs._pipeline_values(courses, split_part(x, ':', 2))), 0)
                                          FROM unnest(crosses) x))::bigint,
                                   cardinality(learner_features) + cardinality(course_features) + cardinality(crosses),
                                   cardinality(blend_effects), epochs, threads, candidates, validate,
                                   (n->>'watches_in_window')::bigint, (n->>'impressions_in_window')::bigint);
    IF dry_run THEN
        RAISE NOTICE USING MESSAGE = format('train_all dry run: %s watches, %s impressions, %s learners, %s courses; about %s MB at most (%s), about %s s',
            n->>'watches', n->>'impressions', n->>'learners', n->>'courses', est->>'peak_mb',
            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
               FROM jsonb_each(est->'steps') s), est->>'seconds'),
            DETAIL = format('recs.memory_limit allows %s MB. Nothing was trained.', round(recs._memory_budget_mb()));
        RETURN NULL;
    END IF;
    IF (est->>'peak_mb')::float8 > recs._memory_budget_mb() THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('train_all needs about %s MB, more than the %s MB recs may use', est->>'peak_mb',
                             round(recs._memory_budget_mb())),
            DETAIL = format('Estimates per step: %s. Nothing was trained.',
                            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
                               FROM jsonb_each(est->'steps') s)),
            HINT = format('Raise the budget, e.g. SET recs.memory_limit = ''%sMB'' (it defaults to maintenance_work_mem).',
                          ceil((est->>'peak_mb')::float8 * 1.25));
    END IF;

    -- 5. the relations under the conventional names, cut in time (a failed run's views go first).
    -- They are this session's alone: on Citus, DDL propagation must not try
    -- to create them on the workers too (it cannot, and warns per view).
    ddl_propagation := current_setting('citus.enable_ddl_propagation', true);
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    FOREACH arg IN ARRAY ARRAY['all_watches', 'all_impressions', 'learners', 'courses'] LOOP
        IF to_regclass('pg_temp.recs_pipeline_' || arg) IS NOT NULL THEN
            EXECUTE format('DROP VIEW pg_temp.%I CASCADE', 'recs_pipeline_' || arg);
        END IF;
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO lcols FROM pg_attribute a
     WHERE a.attrelid = learners AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (learners_id_column, 'learner_id');
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO ccols FROM pg_attribute a
     WHERE a.attrelid = courses AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (courses_id_column, 'course_id');
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_learners AS SELECT %I AS learner_id%s%s FROM %s',
                   learners_id_column, CASE WHEN lcols IS NULL THEN '' ELSE ', ' END, COALESCE(lcols, ''), learners);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_courses AS SELECT %I AS course_id%s%s FROM %s',
                   courses_id_column, CASE WHEN ccols IS NULL THEN '' ELSE ', ' END, COALESCE(ccols, ''), courses);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_watches AS SELECT %I AS learner_id, %I AS course_id, %I AS watched_at%s FROM %s WHERE %I <= %L::timestamptz',
                   learner_column, course_column, time_column,
                   CASE WHEN seconds_column IS NULL THEN ', 0::float8 AS watch_seconds'
                        ELSE format(', %I AS watch_seconds', seconds_column) END,
                   watches, time_column, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_impressions AS SELECT %I AS learner_id, %I AS course_id, %I AS shown_at, %I AS clicked FROM %s WHERE %I <= %L::timestamptz AND %I IS NOT NULL AND %I IS NOT NULL AND %I IS NOT NULL',
                   learner_column, course_column, shown_column, click_column, impressions, shown_column, t_end,
                   learner_column, course_column, click_column);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_impressions AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_val);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_val);
    -- the validation slice: courses first watched in it (for longer than the trainers' 60 s)
    EXECUTE format($q$CREATE OR REPLACE TEMP VIEW recs_pipeline_validation AS
        SELECT DISTINCT v.learner_id, v.course_id FROM recs_pipeline_all_watches v
         WHERE v.watched_at >= %1$L %2$s
           AND NOT EXISTS (SELECT 1 FROM recs_pipeline_all_watches e
                            WHERE e.learner_id = v.learner_id AND e.course_id = v.course_id AND e.watched_at < %1$L)$q$,
        t_val, CASE WHEN seconds_column IS NULL THEN '' ELSE 'AND v.watch_seconds >= 60' END);
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', ddl_propagation, true);
    END IF;
    RAISE NOTICE 'train_all: components on data before %, blends from then to %, %, then the components again through %',
        t_cut, t_val, CASE WHEN validate THEN format('the candidates compared on the rest') ELSE 'no validation' END, t_end;

    BEGIN
        -- 6. the components before the window, the candidates on it
        t1 := clock_timestamp();
        fit := fit || jsonb_build_object('popularity',
            recs.train_popularity('pg_temp.recs_pipeline_watches', 'pg_temp.recs_pipeline_learners',
                                  name => name || '_fit_popularity', activate => false,
                                  min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                  language_column => language_column));
        fit := fit || jsonb_build_object('ncf',
            recs.train_ncf('pg_temp.recs_pipeline_watches', name => name || '_fit_ncf', courses => 'pg_temp.recs_pipeline_courses',
                           epochs => epochs, threads => threads, activate => false,
                           min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END));
        fit := fit || jsonb_build_object('glmix',
            recs.train_glmix('pg_temp.recs_pipeline_impressions', 'pg_temp.recs_pipeline_learners', 'pg_temp.recs_pipeline_courses',
                             learner_features, course_features, name => name || '_fit_glmix', crosses => crosses,
                             threads => threads, activate => false));
        IF 'click_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('click_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint, (fit->>'popularity')::bigint],
                                 'pg_temp.recs_pipeline_blend', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_click_blend', random_effects => blend_effects, since => t_cut,
                                 activate => false));
        END IF;
        IF 'rerank_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('rerank_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint],
                                 'pg_temp.recs_pipeline_blend_watches', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_rerank_blend', random_effects => blend_effects, since => t_cut,
                                 time_column => 'watched_at', negatives => 20, rerank_top => pool,
                                 l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                 activate => false));
        END IF;
        secs := secs || jsonb_build_object('fit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));

        -- 7. the winner on the validation slice
        winner := candidates[1];
        IF validate THEN
            t1 := clock_timestamp();
            IF NOT EXISTS (SELECT 1 FROM recs_pipeline_validation) THEN
                RAISE EXCEPTION USING ERRCODE = '02000',
                    MESSAGE = format('no course was first watched from %s to %s to compare the candidates on', t_val, t_end),
                    HINT = 'Raise validation_days, or pass a single candidate.';
            END IF;
            best := -1;
            FOREACH c IN ARRAY candidates LOOP
                scores := scores || jsonb_build_object(c,
                    recs.evaluate((fit->>c)::bigint, 'pg_temp.recs_pipeline_validation', 10));
                r := (scores->c->>'recall')::float8;
                IF r > best THEN
                    best := r;
                    winner := c;
                END IF;
            END LOOP;
            secs := secs || jsonb_build_object('validation', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
            RAISE NOTICE USING MESSAGE = format('train_all: Recall@10 from %s on %s learners: %s; %s serves', t_val,
                scores->candidates[1]->>'learners',
                (SELECT string_agg(format('%s %s', x, round((scores->x->>'recall')::numeric, 3)), ', ')
                   FROM unnest(candidates) x), winner);
        END IF;

        -- 8. the components again on all of the data, the winner over them
        t1 := clock_timestamp();
        IF winner = 'click_blend' THEN
            pop := recs.train_popularity('pg_temp.recs_pipeline_all_watches', 'pg_temp.recs_pipeline_learners',
                                         name => name || '_popularity', activate => false,
                                         min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                         language_column => language_column);
        END IF;
        ncf := recs.train_ncf('pg_temp.recs_pipeline_all_watches', name => name || '_ncf', courses => 'pg_temp.recs_pipeline_courses',
                              epochs => epochs, threads => threads, activate => false,
                              min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END);
        IF winner = 'ncf' THEN
            served := ncf;
        ELSE
            glmix := recs.train_glmix('pg_temp.recs_pipeline_all_impressions', 'pg_temp.recs_pipeline_learners',
                                      'pg_temp.recs_pipeline_courses', learner_features, course_features,
                                      name => name || '_glmix', crosses => crosses, threads => threads, activate => false);
            ids := CASE winner WHEN 'click_blend' THEN ARRAY[ncf, glmix, pop] ELSE ARRAY[ncf, glmix] END;
            served := recs._blend_rebase((fit->>winner)::bigint, ids, name || '_blend', t_end);
        END IF;
        secs := secs || jsonb_build_object('refit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions, learners, courses);
        det := recs._pipeline_names(det, watches, impressions, learners, courses);
        hnt := recs._pipeline_names(hnt, watches, impressions, learners, courses);
        IF det = '' AND hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF det = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
        ELSIF hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END IF;
    END;

    -- 9. the fitted models go (the served one carries their figures); provenance names the caller's relations
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['click_blend', 'rerank_blend']) x WHERE fit ? x;
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['popularity', 'ncf', 'glmix']) x;
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions, learners, courses))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, served);
    secs := secs || jsonb_build_object('total', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1));
    UPDATE recs.model m
       SET metrics = m.metrics || jsonb_build_object('pipeline', jsonb_build_object(
               'winner', winner, 'candidates', to_jsonb(candidates), 'validation', scores,
               'components_before', t_cut, 'blend_until', t_val, 'end', t_end, 'rerank_top', pool,
               'skipped', skipped, 'estimate', est, 'seconds', secs))
     WHERE m.model_id = served;
    IF activate THEN
        PERFORM recs.activate(served);
    END IF;
    DROP VIEW recs_pipeline_validation, recs_pipeline_blend, recs_pipeline_blend_watches, recs_pipeline_impressions,
              recs_pipeline_watches, recs_pipeline_all_impressions, recs_pipeline_all_watches,
              recs_pipeline_courses, recs_pipeline_learners;
    RAISE NOTICE 'train_all: done in % s; the % (model %) serves%', secs->>'total', winner, served,
        CASE WHEN activate THEN ' at commit' ELSE ' once activated' END;
    RETURN served;
END
$$;

CREATE OR REPLACE FUNCTION recs._forget_learner_id(learner_id bigint, keyed boolean)
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

CREATE OR REPLACE FUNCTION recs._blend_rebase(blend bigint, components bigint[], name text, trained_through timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    next_version integer;
BEGIN
    -- one training per name at a time, as in model_store_create()
    PERFORM pg_advisory_xact_lock(hashtext('recs.model:' || _blend_rebase.name));
    IF EXISTS (SELECT 1 FROM recs.model m WHERE m.name = _blend_rebase.name AND m.kind <> 'blend') THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('model name "%s" is already used by a %s model', _blend_rebase.name,
                             (SELECT m.kind FROM recs.model m WHERE m.name = _blend_rebase.name LIMIT 1));
    END IF;
    -- the version first, then the row (no subquery beside Citus's reference table)
    SELECT COALESCE(max(m2.version), 0) + 1 INTO next_version FROM recs.model m2 WHERE m2.name = _blend_rebase.name;
    INSERT INTO recs.model (name, kind, version, trained_through, source, params, metrics,
                            learner_key, course_key)
    SELECT _blend_rebase.name, 'blend', next_version, _blend_rebase.trained_through,
           b.source || jsonb_build_object('components', to_jsonb(components)),
           b.params || jsonb_build_object('weights_fitted_through', b.trained_through),
           b.metrics - 'evaluation', b.learner_key, b.course_key
      FROM recs.model b WHERE b.model_id = blend
    RETURNING model_id INTO id;
    INSERT INTO recs.blend_component (model_id, position, component_id, transform, mean, sd)
    SELECT id, c.position, components[c.position], c.transform, c.mean, c.sd
      FROM recs.blend_component c WHERE c.model_id = blend;
    INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs)
    SELECT id, c.coordinate, c.entity, c.coefs FROM recs.blend_coef c WHERE c.model_id = blend;
    INSERT INTO recs.blend_learner (model_id, learner_id, keys)
    SELECT id, l.learner_id, l.keys FROM recs.blend_learner l WHERE l.model_id = blend;
    -- the learners and histories of the new components (their watch-based ones), as blend_store.c does
    -- (joined, not a correlated subquery: Citus plans no correlated subquery
    -- over its reference tables, which recs' tables are after citus_setup)
    INSERT INTO recs.model_learner (model_id, learner_id, language, watched)
    SELECT id, l.learner_id, l.language, COALESCE(w.watched, '{}')
      FROM (SELECT m.learner_id, (array_agg(m.language) FILTER (WHERE m.language IS NOT NULL))[1] AS language
              FROM recs.model_learner m WHERE m.model_id = ANY (components) GROUP BY m.learner_id) l
      LEFT JOIN (SELECT m2.learner_id, array_agg(DISTINCT e ORDER BY e) AS watched
                   FROM recs.model_learner m2 JOIN recs.model k ON k.model_id = m2.model_id,
                        unnest(m2.watched) e
                  WHERE m2.model_id = ANY (components) AND k.kind <> 'glmix'
                  GROUP BY m2.learner_id) w ON w.learner_id = l.learner_id;
    RETURN id;
END
$$;

CREATE FUNCTION recs.citus_setup()
RETURNS TABLE (table_name regclass, action text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET client_min_messages = warning
AS $$
DECLARE
    r record;
    done regclass[];
    fk_rel regclass[];
    fk_name text[];
BEGIN
    PERFORM recs._require_owner('citus_setup');
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'extension citus is not installed in this database',
            HINT = 'recs.citus_setup() is for a Citus coordinator: CREATE EXTENSION citus, add the workers, then CREATE EXTENSION recs.';
    END IF;
    -- Citus's catalog by dynamic SQL: this function must install without it
    EXECUTE $q$SELECT coalesce(array_agg(p.logicalrelid), '{}') FROM pg_catalog.pg_dist_partition p
                JOIN pg_class c ON c.oid = p.logicalrelid
               WHERE c.relnamespace = 'recs'::regnamespace AND p.partmethod = 'n' AND p.repmodel = 't'$q$
       INTO done;
    -- The foreign keys from recs' part tables to recs.model go: Citus cannot
    -- turn a table into a reference table while local tables reference it
    -- (it would convert them first, dropping and re-creating the extension's
    -- views and sequence), and it refuses to write a reference table that
    -- foreign keys reference after a parallel query in the same transaction
    -- -- which is every training on distributed tables (read, then store).
    -- recs.drop_model deletes a model's parts itself, so nothing relies on
    -- their cascade.
    SELECT array_agg(k.conrelid::regclass), array_agg(k.conname::text)
      INTO fk_rel, fk_name
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
     WHERE k.contype = 'f' AND c.relnamespace = 'recs'::regnamespace
       AND k.conrelid <> ALL (done);
    FOR i IN 1 .. coalesce(cardinality(fk_rel), 0) LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk_rel[i], fk_name[i]);
    END LOOP;
    -- the extension's own tables (a Citus shard is not one of its members)
    FOR r IN SELECT c.oid::regclass AS rel FROM pg_class c
               JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
               JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'recs'
              WHERE c.relkind = 'r'
              ORDER BY c.relname <> 'model', c.relname
    LOOP
        IF r.rel = ANY (done) THEN
            table_name := r.rel; action := 'already a reference table';
        ELSE
            EXECUTE 'SELECT create_reference_table($1)' USING r.rel;
            -- the rows are now in each node's copy; the shell keeps none
            EXECUTE 'SELECT truncate_local_data_after_distributing_table($1)' USING r.rel;
            table_name := r.rel; action := 'made a reference table';
        END IF;
        RETURN NEXT;
    END LOOP;
    FOR i IN 1 .. coalesce(cardinality(fk_rel), 0) LOOP
        -- the workers' copies of the extension's tables (made by CREATE
        -- EXTENSION there) still have the key: dropped through Citus now
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', fk_rel[i], fk_name[i]);
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.citus_setup() IS
    'on a Citus coordinator: make every recs table a reference table, so models are stored on, and served by, every node (idempotent)';
REVOKE EXECUTE ON FUNCTION recs.citus_setup() FROM PUBLIC;
-- ---------------------------------------------------------------------------
-- ncf-dormant (issue #12 item 1): a learner's NCF embedding is computed from
-- the window ending at their own latest watch, kept in recs.ncf_learner.context
-- for recommend's recent argument (NULL for models trained before);
-- generate_sample(..., platform) adds course series and learners' long breaks
-- ---------------------------------------------------------------------------

ALTER TABLE recs.ncf_learner ADD COLUMN context bigint[];
COMMENT ON TABLE recs.ncf_learner IS
    'per NCF model: each learner''s embedding, from the learner tower over their watches in the window ending at their own latest training watch (models before 0.4.0: at the end of the training data)';
COMMENT ON COLUMN recs.ncf_learner.context IS
    'the course ids the embedding was computed from (the window ending at the learner''s latest watch, in time order), extended by recommend''s recent argument; NULL for models trained before 0.4.0';

DROP FUNCTION recs.generate_sample(name, integer, integer, bigint, integer, timestamptz, boolean);
DROP FUNCTION recs._generate_sample_data(name, integer, integer, bigint, integer, timestamptz);
CREATE FUNCTION recs._generate_sample_data(target_schema name, learners integer,
    courses integer, seed bigint, days integer, end_at timestamptz, platform boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'generate_sample_data'
LANGUAGE C VOLATILE;

CREATE FUNCTION recs.generate_sample(
    target_schema name,
    learners integer DEFAULT 2000,
    courses integer DEFAULT 300,
    seed bigint DEFAULT 42,
    days integer DEFAULT 730,
    end_at timestamptz DEFAULT '2026-01-01 00:00:00+00',
    replace boolean DEFAULT false,
    platform boolean DEFAULT false)
RETURNS TABLE (table_name text, row_count bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t text;
BEGIN
    IF target_schema IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'target_schema must not be NULL';
    END IF;
    FOREACH t IN ARRAY ARRAY['courses', 'learners', 'watches', 'impressions'] LOOP
        IF to_regclass(format('%I.%I', target_schema, t)) IS NOT NULL THEN
            IF replace THEN
                EXECUTE format('DROP TABLE %I.%I', target_schema, t);
            ELSE
                RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
                    MESSAGE = format('table %I.%I already exists', target_schema, t),
                    HINT = 'Pass replace => true to drop and regenerate the sample tables.';
            END IF;
        END IF;
    END LOOP;
    PERFORM recs._generate_sample_data(target_schema, learners, courses, seed, days, end_at, coalesce(platform, false));
    FOREACH t IN ARRAY ARRAY['courses', 'learners', 'watches', 'impressions'] LOOP
        table_name := format('%I.%I', target_schema, t);
        EXECUTE format('SELECT count(*) FROM %I.%I', target_schema, t) INTO row_count;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.generate_sample(name, integer, integer, bigint, integer, timestamptz, boolean, boolean) IS
    'create seeded sample tables courses, learners, watches, impressions in a schema; platform => true adds course series and learners'' long breaks';

-- ---------------------------------------------------------------------------
-- NCF order weights (Neural CF v2, item 2): train_ncf's order_decay weighs
-- the k-th latest watch of a learner's context by order_decay^k (the context
-- column of recs.ncf_learner is the ncf-dormant section's).
-- ---------------------------------------------------------------------------
DROP FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text);
CREATE FUNCTION recs.train_ncf(
    watches regclass,
    name text DEFAULT 'ncf',
    courses regclass DEFAULT NULL,
    min_watch_seconds float8 DEFAULT 60,
    window_days float8 DEFAULT 365,
    labels_from timestamptz DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    layers integer[] DEFAULT '{256,128}',
    dim integer DEFAULT 64,
    epochs integer DEFAULT 20,
    negatives integer DEFAULT 4,
    learning_rate float8 DEFAULT 0.001,
    batch_size integer DEFAULT 256,
    l2 float8 DEFAULT 0,
    neighbours integer DEFAULT 50,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    courses_id_column text DEFAULT NULL,
    order_decay float8 DEFAULT 1)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8) IS
    'train a two-tower neural collaborative filtering model from a watches relation; returns the model id';

-- ---------------------------------------------------------------------------
-- ncf-content: content features in the NCF course tower (issue #12 item 3)
-- -- train_ncf's course_features and content_dropout, the vocabulary table
-- recs.ncf_course_feature, recs.embed_course (a serving function) and
-- recs.add_courses; recs.ncf_course.input_row is NULL for added courses
-- ---------------------------------------------------------------------------
ALTER TABLE recs.ncf_course ALTER COLUMN input_row DROP NOT NULL;
COMMENT ON TABLE recs.ncf_course IS
    'per NCF model: each course''s embedding (the course tower''s output), its row in the sparse layers (NULL: added by add_courses after training) and its number of training watchers';

CREATE TABLE recs.ncf_course_feature (
    model_id  bigint NOT NULL REFERENCES recs.model (model_id) ON DELETE CASCADE,
    feature   text NOT NULL,
    value     text NOT NULL,
    input_row integer NOT NULL CHECK (input_row >= 0),
    PRIMARY KEY (model_id, feature, value)
);
COMMENT ON TABLE recs.ncf_course_feature IS
    'per NCF model trained with course_features: each feature value (column, value as text) and its row in the course tower''s sparse layer';
SELECT pg_catalog.pg_extension_config_dump('recs.ncf_course_feature', '');

DROP FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8);
CREATE FUNCTION recs.train_ncf(
    watches regclass,
    name text DEFAULT 'ncf',
    courses regclass DEFAULT NULL,
    min_watch_seconds float8 DEFAULT 60,
    window_days float8 DEFAULT 365,
    labels_from timestamptz DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    layers integer[] DEFAULT '{256,128}',
    dim integer DEFAULT 64,
    epochs integer DEFAULT 20,
    negatives integer DEFAULT 4,
    learning_rate float8 DEFAULT 0.001,
    batch_size integer DEFAULT 256,
    l2 float8 DEFAULT 0,
    neighbours integer DEFAULT 50,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    courses_id_column text DEFAULT NULL,
    order_decay float8 DEFAULT 1,
    course_features text[] DEFAULT NULL,
    content_dropout float8 DEFAULT 0.3)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8, text[], float8) IS
    'train a two-tower neural collaborative filtering model from a watches relation (with course_features: content inputs of the course tower); returns the model id';

CREATE FUNCTION recs.embed_course(model bigint, features jsonb, slot text DEFAULT NULL)
RETURNS real[]
AS 'MODULE_PATHNAME', 'ncf_embed_course'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.embed_course(bigint, jsonb, text) IS
    'a course embedding computed by an NCF model''s course tower (a blend: its NCF component''s) from feature values alone, {"column": value or [values]}: a course published since training';
ALTER FUNCTION recs.embed_course(bigint, jsonb, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION recs.embed_course(bigint, jsonb, text) FROM PUBLIC;

CREATE FUNCTION recs.add_courses(model bigint, courses regclass, courses_id_column text DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'ncf_add_courses'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.add_courses(bigint, regclass, text) IS
    'add the courses of a relation an NCF model trained with course_features does not hold, embedded from their features, so that recommend() and score() serve them without retraining; returns how many were added';

CREATE OR REPLACE FUNCTION recs._serving_functions()
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

-- the roles that may serve (EXECUTE on embed_learner, as grant_access gave it) may embed courses too
DO $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole::text
               FROM pg_catalog.pg_proc p, LATERAL pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid = 'recs.embed_learner(bigint, bigint[], text)'::regprocedure
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION recs.embed_course(bigint, jsonb, text) TO %s', r);
    END LOOP;
END
$$;

-- drop_model deletes the new part by name too (no cascade on Citus)
CREATE OR REPLACE FUNCTION recs.drop_model(model_id bigint, force boolean DEFAULT false)
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

-- ---------------------------------------------------------------------------
-- train_ncf's encoder, attention_window, loss, validation and context_norm
-- ---------------------------------------------------------------------------
DROP FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8, text[], float8);
CREATE FUNCTION recs.train_ncf(
    watches regclass,
    name text DEFAULT 'ncf',
    courses regclass DEFAULT NULL,
    min_watch_seconds float8 DEFAULT 60,
    window_days float8 DEFAULT 365,
    labels_from timestamptz DEFAULT NULL,
    through timestamptz DEFAULT NULL,
    layers integer[] DEFAULT '{256,128}',
    dim integer DEFAULT 64,
    epochs integer DEFAULT NULL,
    negatives integer DEFAULT 4,
    learning_rate float8 DEFAULT 0.001,
    batch_size integer DEFAULT 256,
    l2 float8 DEFAULT 0,
    neighbours integer DEFAULT 50,
    seed bigint DEFAULT 42,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    courses_id_column text DEFAULT NULL,
    order_decay float8 DEFAULT 1,
    course_features text[] DEFAULT NULL,
    content_dropout float8 DEFAULT 0.3,
    encoder text DEFAULT 'bag',
    attention_window integer DEFAULT 20,
    loss text DEFAULT 'auto',
    validation text DEFAULT 'none',
    context_norm text DEFAULT 'none',
    trend_days float8 DEFAULT NULL,
    ensemble integer DEFAULT 1,
    half_life_days float8 DEFAULT NULL,
    trend_weight float8 DEFAULT NULL,
    affinity_columns text[] DEFAULT NULL,
    path_columns text[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_ncf'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_ncf(regclass, text, regclass, float8, float8, timestamptz,
    timestamptz, integer[], integer, integer, integer, float8, integer, float8, integer,
    bigint, integer, boolean, text, text, text, text, text, float8, text[], float8,
    text, integer, text, text, text, float8, integer, float8, float8, text[], text[]) IS
    'train a two-tower neural collaborative filtering model from a watches relation (with course_features: content inputs of the course tower; with trend_days: a learned term of each course''s recent watch count, served times trend_weight; with ensemble: several models trained and merged into one; with affinity_columns or path_columns: history terms fitted on the validation slice); returns the model id';

-- ---------------------------------------------------------------------------
-- NCF tuning (Neural CF v2, validation): recs.tune_ncf and the one check of
-- train_ncf arguments given as jsonb, recs._ncf_arguments (41_ncf_tune.sql)
-- ---------------------------------------------------------------------------
-- private: train_ncf arguments as jsonb -> quoted SQL to splice into a call
CREATE FUNCTION recs._ncf_arguments(args jsonb, reserved text[], what text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    names text[];
    types oid[];
    bad text;
    k text;
    v jsonb;
    i integer;
    lit text;
    expr text;
    out text := '';
BEGIN
    IF args IS NULL THEN
        RETURN '';
    END IF;
    IF jsonb_typeof(args) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s must be a JSON object of train_ncf arguments, not %s', what, args);
    END IF;
    SELECT p.proargnames, ARRAY(SELECT t FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY AS u(t, o) ORDER BY o)
      INTO names, types
      FROM pg_proc p WHERE p.oid = 'recs.train_ncf'::regproc;
    SELECT string_agg(x, ', ' ORDER BY x) INTO bad
      FROM jsonb_object_keys(args) x WHERE x = ANY (reserved);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s may not set %s', what, bad),
            DETAIL = format('%s sets %s itself.', split_part(what, '''', 1),
                            array_to_string(reserved, ', '));
    END IF;
    SELECT string_agg(x, ', ' ORDER BY x) INTO bad
      FROM jsonb_object_keys(args) x WHERE NOT x = ANY (names);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('%s names no argument of train_ncf: %s', what, bad),
            HINT = 'The keys are train_ncf''s argument names, such as dim, epochs, window_days, order_decay, negatives.';
    END IF;
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(args) e ORDER BY e.key LOOP
        i := array_position(names, k);
        IF jsonb_typeof(v) = 'null' THEN
            lit := NULL;
        ELSIF jsonb_typeof(v) = 'array' THEN
            SELECT array_agg(x ORDER BY o)::text INTO lit
              FROM jsonb_array_elements_text(v) WITH ORDINALITY AS a(x, o);
            lit := coalesce(lit, '{}');
        ELSIF jsonb_typeof(v) = 'object' THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('%s: %s must be a number, a string, an array or null, not %s', what, k, v);
        ELSE
            lit := v #>> '{}';
        END IF;
        expr := format('%L::%s', lit, format_type(types[i], NULL));
        EXECUTE 'SELECT ' || expr;     -- the cast's own error for a bad value
        out := out || format(', %I => %s', k, expr);
    END LOOP;
    RETURN out;
END
$$;
COMMENT ON FUNCTION recs._ncf_arguments(jsonb, text[], text) IS
    'private, for tune_ncf and train_all: train_ncf arguments given as jsonb, checked against train_ncf''s own argument names and types, as quoted SQL to splice into a call';

CREATE FUNCTION recs.tune_ncf(
    watches regclass,
    grid jsonb,
    name text DEFAULT 'ncf',
    refit boolean DEFAULT true,
    activate boolean DEFAULT true,
    options jsonb DEFAULT NULL)
RETURNS TABLE (settings jsonb, best_epoch integer, recall_at_10 float8, ndcg_at_10 float8,
               seconds float8, chosen boolean, model_id bigint)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reserved CONSTANT text[] := '{watches,name,activate,validation}';
    points jsonb[] := ARRAY['{}'::jsonb];
    grown jsonb[];
    k text;
    vals jsonb;
    p jsonb;
    v jsonb;
    n integer;
    ids bigint[] := '{}';
    res jsonb[] := '{}';
    m jsonb;
    id bigint;
    t0 timestamptz;
    best integer;
    kept bigint;
BEGIN
    IF watches IS NULL OR grid IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = format('%s must not be NULL', CASE WHEN watches IS NULL THEN 'watches' ELSE 'grid' END);
    END IF;
    -- NULL: the default, as train_ncf reads its own
    name := coalesce(name, 'ncf');
    refit := coalesce(refit, true);
    activate := coalesce(activate, true);
    IF jsonb_typeof(grid) <> 'object' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('grid must be a JSON object {"argument": [values, ...]}, not %s', grid);
    END IF;
    -- every key and value checked, and the fixed options, before any training
    PERFORM recs._ncf_arguments(options, reserved, 'tune_ncf''s options');
    SELECT string_agg(x, ', ' ORDER BY x) INTO k
      FROM jsonb_object_keys(grid) x WHERE options ? x;
    IF k IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('tune_ncf''s grid and options both set %s', k);
    END IF;
    -- the keys all at once (nulls: no value to cast yet), then the product
    PERFORM recs._ncf_arguments((SELECT jsonb_object_agg(e.key, 'null'::jsonb) FROM jsonb_each(grid) e),
                                reserved, 'tune_ncf''s grid');
    -- the cartesian product, the first key (in jsonb's order) varying slowest
    FOR k, vals IN SELECT e.key, e.value FROM jsonb_each(grid) e LOOP
        IF jsonb_typeof(vals) <> 'array' OR jsonb_array_length(vals) = 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
                MESSAGE = format('grid''s %s must be a non-empty array of values, not %s', k, vals);
        END IF;
        grown := '{}';
        FOREACH p IN ARRAY points LOOP
            FOR v IN SELECT a.value FROM jsonb_array_elements(vals) WITH ORDINALITY AS a(value, o) ORDER BY a.o LOOP
                PERFORM recs._ncf_arguments(jsonb_build_object(k, v), reserved, 'tune_ncf''s grid');
                grown := grown || (p || jsonb_build_object(k, v));
            END LOOP;
        END LOOP;
        points := grown;
    END LOOP;
    n := cardinality(points);

    FOR i IN 1 .. n LOOP
        t0 := clock_timestamp();
        EXECUTE format('SELECT recs.train_ncf(%L::regclass, name => %L, activate => false, validation => %L%s)',
                       watches::text, tune_ncf.name, 'auto',
                       recs._ncf_arguments(coalesce(options, '{}') || points[i], reserved, 'tune_ncf''s grid'))
           INTO id;
        SELECT mo.metrics->'validation' INTO m FROM recs.model mo WHERE mo.model_id = id;
        ids := ids || id;
        res := res || jsonb_build_object('best_epoch', (m->>'best_epoch')::int,
                                         'recall_at_10', (m->>'recall_at_10')::float8,
                                         'ndcg_at_10', (m->>'ndcg_at_10')::float8,
                                         'seconds', extract(epoch FROM clock_timestamp() - t0));
        RAISE NOTICE 'tune_ncf: %/% %: best epoch %, recall@10 %, ndcg@10 %, % s', i, n, points[i],
            m->>'best_epoch', m->>'recall_at_10', m->>'ndcg_at_10',
            round((res[i]->>'seconds')::numeric, 1);
    END LOOP;

    -- the best Recall@10, ties to the earlier grid point
    best := 1;
    FOR i IN 2 .. n LOOP
        IF (res[i]->>'recall_at_10')::float8 > (res[best]->>'recall_at_10')::float8 THEN
            best := i;
        END IF;
    END LOOP;
    -- a model with history terms has refitted its towers on all the data itself
    IF refit AND NOT (coalesce(options, '{}') || points[best]) ?| ARRAY['affinity_columns', 'path_columns'] THEN
        t0 := clock_timestamp();
        EXECUTE format('SELECT recs.train_ncf(%L::regclass, name => %L, activate => false%s)',
                       watches::text, tune_ncf.name,
                       recs._ncf_arguments(coalesce(options, '{}') || points[best]
                                           || jsonb_build_object('epochs', (res[best]->>'best_epoch')::int),
                                           reserved, 'tune_ncf''s grid'))
           INTO kept;
        RAISE NOTICE 'tune_ncf: refitted % with % epochs on all the data in % s (model %)', points[best],
            res[best]->>'best_epoch', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1), kept;
    ELSE
        kept := ids[best];
    END IF;
    FOR i IN 1 .. n LOOP
        IF ids[i] <> kept THEN
            PERFORM recs.drop_model(ids[i]);
        END IF;
    END LOOP;
    IF activate THEN
        PERFORM recs.activate(kept);
    END IF;
    FOR i IN 1 .. n LOOP
        settings := points[i];
        best_epoch := (res[i]->>'best_epoch')::int;
        recall_at_10 := (res[i]->>'recall_at_10')::float8;
        ndcg_at_10 := (res[i]->>'ndcg_at_10')::float8;
        seconds := (res[i]->>'seconds')::float8;
        chosen := i = best;
        model_id := CASE WHEN i = best THEN kept END;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION recs.tune_ncf(regclass, jsonb, text, boolean, boolean, jsonb) IS
    'train_ncf over a grid of settings ({"argument": [values]}, every combination, options fixed), each with validation ''auto''; one row per grid point with its best epoch and held-out Recall@10/NDCG@10; the best (chosen) is refitted on all the data with its best epoch count (refit) or kept as trained, the others dropped';

-- ---------------------------------------------------------------------------
-- train_all(ncf_options): train_ncf arguments for both NCF trainings of the
-- pipeline, checked by recs._ncf_arguments (the section above)
-- ---------------------------------------------------------------------------
DROP FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
                             timestamptz, text[], integer, integer, boolean, integer, text[], integer, boolean, text,
                             text, text, text, text, text, text, text, text);
CREATE FUNCTION recs.train_all(
    watches regclass,
    impressions regclass,
    learners regclass,
    courses regclass,
    learner_features text[] DEFAULT '{language,industry,segment}',
    course_features text[] DEFAULT '{language,topic,difficulty}',
    crosses text[] DEFAULT '{industry:topic,language:language,segment:difficulty}',
    name text DEFAULT 'recs',
    blend_days integer DEFAULT 28,
    through timestamptz DEFAULT NULL,
    blend_effects text[] DEFAULT '{learner_id}',
    epochs integer DEFAULT 20,
    threads integer DEFAULT 1,
    activate boolean DEFAULT true,
    rerank_top integer DEFAULT NULL,
    candidates text[] DEFAULT '{rerank_blend,click_blend,ncf}',
    validation_days integer DEFAULT 7,
    dry_run boolean DEFAULT false,
    learner_column text DEFAULT 'learner_id',
    course_column text DEFAULT 'course_id',
    time_column text DEFAULT 'watched_at',
    seconds_column text DEFAULT 'watch_seconds',
    shown_column text DEFAULT 'shown_at',
    click_column text DEFAULT 'clicked',
    courses_id_column text DEFAULT NULL,
    language_column text DEFAULT 'language',
    learners_id_column text DEFAULT NULL,
    ncf_options jsonb DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ddl_propagation text;
    t_end timestamptz;
    t_cut timestamptz;
    t_val timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    validate boolean;
    n jsonb;                 -- the input's counts
    est jsonb;               -- the estimates
    skipped jsonb;
    pool integer;
    fit jsonb := '{}';       -- the fitted models by role
    scores jsonb := '{}';    -- the validation figures by candidate
    winner text;
    best float8;
    r float8;
    c text;
    pop bigint;
    ncf bigint;
    glmix bigint;
    served bigint;
    ids bigint[];
    secs jsonb := '{}';
    arg text;
    lcols text;
    ccols text;
    lbl_numeric boolean;
    st text;
    msg text;
    det text;
    hnt text;
    ncf_args text;           -- ncf_options as train_ncf's named arguments
BEGIN
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions', 'learners', 'courses'] LOOP
        IF (arg = 'watches' AND watches IS NULL) OR (arg = 'impressions' AND impressions IS NULL)
           OR (arg = 'learners' AND learners IS NULL) OR (arg = 'courses' AND courses IS NULL) THEN
            RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = format('%s must not be NULL', arg);
        END IF;
    END LOOP;
    -- an option passed as NULL takes its default, as in the trainers (keep
    -- these in step with the signature); seconds_column => NULL: no watch time
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    candidates := COALESCE(candidates, '{rerank_blend,click_blend,ncf}');
    validation_days := COALESCE(validation_days, 7);
    dry_run := COALESCE(dry_run, false);
    learner_column := COALESCE(learner_column, 'learner_id');
    course_column := COALESCE(course_column, 'course_id');
    time_column := COALESCE(time_column, 'watched_at');
    shown_column := COALESCE(shown_column, 'shown_at');
    click_column := COALESCE(click_column, 'clicked');
    courses_id_column := COALESCE(courses_id_column, course_column);
    learners_id_column := COALESCE(learners_id_column, learner_column);
    language_column := COALESCE(language_column, 'language');
    -- train_ncf arguments for both NCF trainings, checked before anything else
    ncf_args := recs._ncf_arguments(ncf_options,
        '{watches,name,courses,activate,epochs,threads,min_watch_seconds,learner_column,course_column,time_column,seconds_column,courses_id_column}',
        'train_all''s ncf_options');
    -- the learner id may be named either way among the random effects
    blend_effects := array_replace(blend_effects, learner_column, 'learner_id');

    -- 1. the options
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a pool of 15 % of the catalogue.';
    END IF;
    IF name = '' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'model name must not be empty',
            HINT = 'train_all names its models <name>_popularity, <name>_ncf, <name>_glmix and <name>_blend.';
    END IF;
    IF blend_days < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at least 1, not %s', blend_days);
    END IF;
    IF blend_days > 36500 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('blend_days must be at most 36500 (a century), not %s', blend_days);
    END IF;
    IF NOT isfinite(through) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'through must be a finite timestamp';
    END IF;
    IF cardinality(candidates) IS NULL OR EXISTS (
           SELECT 1 FROM unnest(candidates) x WHERE x IS NULL OR x NOT IN ('rerank_blend', 'click_blend', 'ncf'))
       OR (SELECT count(DISTINCT x) FROM unnest(candidates) x) <> cardinality(candidates) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('candidates must name each of rerank_blend, click_blend and ncf at most once, not %s', candidates),
            HINT = 'Pass one candidate to serve it without a validation slice.';
    END IF;
    validate := cardinality(candidates) > 1;
    IF validate AND (validation_days < 1 OR validation_days >= blend_days) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('validation_days must be between 1 and blend_days - 1 (%s), not %s', blend_days - 1, validation_days),
            DETAIL = 'The blends learn from the first blend_days - validation_days days of the window, the candidates are compared on the rest.';
    END IF;

    -- 2. every column, named by the argument that maps it
    PERFORM recs._pipeline_column(watches, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(watches, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(watches, time_column, 'time_column', 'time');
    IF seconds_column IS NOT NULL THEN
        PERFORM recs._pipeline_column(watches, seconds_column, 'seconds_column', 'number');
    END IF;
    PERFORM recs._pipeline_column(impressions, learner_column, 'learner_column', 'id');
    PERFORM recs._pipeline_column(impressions, course_column, 'course_column', 'id');
    PERFORM recs._pipeline_column(impressions, shown_column, 'shown_column', 'time');
    lbl_numeric := recs._pipeline_column(impressions, click_column, 'click_column', 'label') <> 'boolean'::regtype;
    PERFORM recs._pipeline_column(learners, learners_id_column, 'learners_id_column', 'id');
    PERFORM recs._pipeline_column(learners, language_column, 'language_column', 'any');
    PERFORM recs._pipeline_column(learners, x, 'learner_features', 'any') FROM unnest(learner_features) x;
    PERFORM recs._pipeline_column(learners, x, 'blend_effects', 'any') FROM unnest(blend_effects) x WHERE x <> 'learner_id';
    PERFORM recs._pipeline_column(courses, courses_id_column, 'courses_id_column', 'id');
    PERFORM recs._pipeline_column(courses, x, 'course_features', 'any') FROM unnest(course_features) x;
    PERFORM recs._pipeline_column(learners, split_part(x, ':', 1), 'crosses', 'any') FROM unnest(crosses) x;
    PERFORM recs._pipeline_column(courses, split_part(x, ':', 2), 'crosses', 'any') FROM unnest(crosses) x;

    -- 3. the values: the end of the data, and what the steps will skip
    EXECUTE format('SELECT max(%1$I)::timestamptz FROM %2$s WHERE isfinite(%1$I)', time_column, watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = format('No row has a finite %s.', time_column);
    END IF;
    t_cut := t_end - make_interval(days => blend_days);
    t_val := CASE WHEN validate THEN t_end - make_interval(days => validation_days) ELSE t_end END;
    EXECUTE format($q$SELECT jsonb_build_object(
        'watches', count(*) FILTER (WHERE %3$I <= %4$L::timestamptz),
        'watches_before_cut', count(*) FILTER (WHERE %3$I < %5$L::timestamptz),
        'watches_in_window', count(*) FILTER (WHERE %3$I >= %5$L::timestamptz AND %3$I < %7$L::timestamptz),
        'watch_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'learners', count(DISTINCT %1$I), 'courses', count(DISTINCT %2$I))
        FROM %6$s$q$, learner_column, course_column, time_column, t_end, t_cut, watches, t_val) INTO n;
    EXECUTE format($q$SELECT jsonb_build_object(
        'impressions', count(*) FILTER (WHERE %3$I <= %5$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impressions_before_cut', count(*) FILTER (WHERE %3$I < %6$L::timestamptz AND %1$I IS NOT NULL AND %2$I IS NOT NULL AND %4$I IS NOT NULL),
        'impression_bad_time', count(*) FILTER (WHERE %3$I IS NULL OR NOT isfinite(%3$I)),
        'impression_null_id', count(*) FILTER (WHERE %1$I IS NULL OR %2$I IS NULL),
        'impression_null_label', count(*) FILTER (WHERE %4$I IS NULL),
        'bad_label', %8$s,
        'labels_before_cut', count(DISTINCT %4$I) FILTER (WHERE %3$I < %6$L::timestamptz),
        'labels_in_window', count(DISTINCT %4$I) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz),
        'impressions_in_window', count(*) FILTER (WHERE %3$I >= %6$L::timestamptz AND %3$I < %7$L::timestamptz))
        FROM %9$s$q$, learner_column, course_column, shown_column, click_column, t_end, t_cut, t_val,
        CASE WHEN lbl_numeric THEN format('count(*) FILTER (WHERE %I NOT IN (0, 1))', click_column) ELSE '0' END,
        impressions) INTO est;
    n := n || est;
    IF (n->>'bad_label')::bigint > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('column "%s" of relation %s has %s values other than 0 and 1', click_column, impressions, n->>'bad_label'),
            HINT = 'click_column names the impressions'' click label: boolean, or a number that is 0 or 1.';
    END IF;
    IF (n->>'impressions')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no rows to train on', impressions),
            DETAIL = format('No row up to %s has a %s, both ids and a %s.', t_end, shown_column, click_column);
    END IF;
    IF (n->>'watches_before_cut')::bigint = 0 OR (n->>'impressions_before_cut')::bigint = 0 THEN
        RAISE EXCEPTION USING ERRCODE = '02000',
            MESSAGE = format('no %s before %s to train the components on',
                             CASE WHEN (n->>'watches_before_cut')::bigint = 0 THEN 'watches' ELSE 'impressions' END, t_cut),
            HINT = 'Lower blend_days, or pass a later through.';
    END IF;
    IF (n->>'labels_before_cut')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('every impression before %s has the same %s', t_cut, click_column),
            HINT = 'GLMix needs clicks and non-clicks; check click_column.';
    END IF;
    IF 'click_blend' = ANY (candidates) AND (n->>'labels_in_window')::int < 2 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('the impressions from %s to %s do not have both labels', t_cut, t_val),
            HINT = 'The click blend learns from them: lengthen blend_days, or leave click_blend out of candidates.';
    END IF;
    skipped := jsonb_build_object('watches_bad_time', n->'watch_bad_time',
                                  'impressions_bad_time', n->'impression_bad_time',
                                  'impressions_null_id', n->'impression_null_id',
                                  'impressions_null_label', n->'impression_null_label');
    IF (n->>'watch_bad_time')::bigint + (n->>'impression_bad_time')::bigint
       + (n->>'impression_null_id')::bigint + (n->>'impression_null_label')::bigint > 0 THEN
        RAISE NOTICE USING MESSAGE = format('train_all: skipped %s watches with a NULL or infinite %s, %s impressions with a NULL or infinite %s, %s with a NULL id, %s with a NULL %s',
            n->>'watch_bad_time', time_column, n->>'impression_bad_time', shown_column,
            n->>'impression_null_id', n->>'impression_null_label', click_column);
    END IF;
    pool := COALESCE(rerank_top, greatest(1, ceil(0.15 * (n->>'courses')::float8)::int));

    -- 4. memory and time of every step, before any
    est := recs._pipeline_estimate((n->>'watches')::bigint, (n->>'impressions')::bigint, (n->>'learners')::bigint,
                                   (n->>'courses')::bigint,
                                   (1 + (SELECT COALESCE(sum(recs._pipeline_values(learners, x)), 0) FROM unnest(learner_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(courses, x)), 0) FROM unnest(course_features) x)
                                     + (SELECT COALESCE(sum(recs._pipeline_values(learners, split_part(x, ':', 1))
                                                            * recs._pipeline_values(courses, split_part(x, ':', 2))), 0)
                                          FROM unnest(crosses) x))::bigint,
                                   cardinality(learner_features) + cardinality(course_features) + cardinality(crosses),
                                   cardinality(blend_effects), epochs, threads, candidates, validate,
                                   (n->>'watches_in_window')::bigint, (n->>'impressions_in_window')::bigint);
    IF dry_run THEN
        RAISE NOTICE USING MESSAGE = format('train_all dry run: %s watches, %s impressions, %s learners, %s courses; about %s MB at most (%s), about %s s',
            n->>'watches', n->>'impressions', n->>'learners', n->>'courses', est->>'peak_mb',
            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
               FROM jsonb_each(est->'steps') s), est->>'seconds'),
            DETAIL = format('recs.memory_limit allows %s MB. Nothing was trained.', round(recs._memory_budget_mb()));
        RETURN NULL;
    END IF;
    IF (est->>'peak_mb')::float8 > recs._memory_budget_mb() THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = format('train_all needs about %s MB, more than the %s MB recs may use', est->>'peak_mb',
                             round(recs._memory_budget_mb())),
            DETAIL = format('Estimates per step: %s. Nothing was trained.',
                            (SELECT string_agg(format('%s %s MB', s.key, s.value->>'mb'), ', ' ORDER BY s.key)
                               FROM jsonb_each(est->'steps') s)),
            HINT = format('Raise the budget, e.g. SET recs.memory_limit = ''%sMB'' (it defaults to maintenance_work_mem).',
                          ceil((est->>'peak_mb')::float8 * 1.25));
    END IF;

    -- 5. the relations under the conventional names, cut in time (a failed run's views go first).
    -- They are this session's alone: on Citus, DDL propagation must not try
    -- to create them on the workers too (it cannot, and warns per view).
    ddl_propagation := current_setting('citus.enable_ddl_propagation', true);
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    END IF;
    FOREACH arg IN ARRAY ARRAY['all_watches', 'all_impressions', 'learners', 'courses'] LOOP
        IF to_regclass('pg_temp.recs_pipeline_' || arg) IS NOT NULL THEN
            EXECUTE format('DROP VIEW pg_temp.%I CASCADE', 'recs_pipeline_' || arg);
        END IF;
    END LOOP;
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO lcols FROM pg_attribute a
     WHERE a.attrelid = learners AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (learners_id_column, 'learner_id');
    SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO ccols FROM pg_attribute a
     WHERE a.attrelid = courses AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN (courses_id_column, 'course_id');
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_learners AS SELECT %I AS learner_id%s%s FROM %s',
                   learners_id_column, CASE WHEN lcols IS NULL THEN '' ELSE ', ' END, COALESCE(lcols, ''), learners);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_courses AS SELECT %I AS course_id%s%s FROM %s',
                   courses_id_column, CASE WHEN ccols IS NULL THEN '' ELSE ', ' END, COALESCE(ccols, ''), courses);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_watches AS SELECT %I AS learner_id, %I AS course_id, %I AS watched_at%s FROM %s WHERE %I <= %L::timestamptz',
                   learner_column, course_column, time_column,
                   CASE WHEN seconds_column IS NULL THEN ', 0::float8 AS watch_seconds'
                        ELSE format(', %I AS watch_seconds', seconds_column) END,
                   watches, time_column, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_all_impressions AS SELECT %I AS learner_id, %I AS course_id, %I AS shown_at, %I AS clicked FROM %s WHERE %I <= %L::timestamptz AND %I IS NOT NULL AND %I IS NOT NULL AND %I IS NOT NULL',
                   learner_column, course_column, shown_column, click_column, impressions, shown_column, t_end,
                   learner_column, course_column, click_column);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM recs_pipeline_all_impressions WHERE shown_at < %L', t_val);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM recs_pipeline_all_watches WHERE watched_at < %L', t_val);
    -- the validation slice: courses first watched in it (for longer than the trainers' 60 s)
    EXECUTE format($q$CREATE OR REPLACE TEMP VIEW recs_pipeline_validation AS
        SELECT DISTINCT v.learner_id, v.course_id FROM recs_pipeline_all_watches v
         WHERE v.watched_at >= %1$L %2$s
           AND NOT EXISTS (SELECT 1 FROM recs_pipeline_all_watches e
                            WHERE e.learner_id = v.learner_id AND e.course_id = v.course_id AND e.watched_at < %1$L)$q$,
        t_val, CASE WHEN seconds_column IS NULL THEN '' ELSE 'AND v.watch_seconds >= 60' END);
    IF ddl_propagation IS NOT NULL THEN
        PERFORM set_config('citus.enable_ddl_propagation', ddl_propagation, true);
    END IF;
    RAISE NOTICE 'train_all: components on data before %, blends from then to %, %, then the components again through %',
        t_cut, t_val, CASE WHEN validate THEN format('the candidates compared on the rest') ELSE 'no validation' END, t_end;

    BEGIN
        -- 6. the components before the window, the candidates on it
        t1 := clock_timestamp();
        fit := fit || jsonb_build_object('popularity',
            recs.train_popularity('pg_temp.recs_pipeline_watches', 'pg_temp.recs_pipeline_learners',
                                  name => name || '_fit_popularity', activate => false,
                                  min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                  language_column => language_column));
        EXECUTE format('SELECT recs.train_ncf(%L::regclass, name => $1, courses => %L::regclass, epochs => $2, '
                       'threads => $3, activate => false, min_watch_seconds => $4%s)',
                       'pg_temp.recs_pipeline_watches', 'pg_temp.recs_pipeline_courses', ncf_args)
           INTO ncf USING name || '_fit_ncf', epochs, threads, CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END;
        fit := fit || jsonb_build_object('ncf', ncf);
        fit := fit || jsonb_build_object('glmix',
            recs.train_glmix(impressions, 'pg_temp.recs_pipeline_learners', 'pg_temp.recs_pipeline_courses',
                             learner_features, course_features, name => name || '_fit_glmix', crosses => crosses,
                             threads => threads, activate => false, learner_column => learner_column,
                             course_column => course_column, click_column => click_column,
                             time_column => shown_column, through => t_cut - interval '1 microsecond',
                             learners_id_column => 'learner_id', courses_id_column => 'course_id'));
        IF 'click_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('click_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint, (fit->>'popularity')::bigint],
                                 'pg_temp.recs_pipeline_blend', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_click_blend', random_effects => blend_effects, since => t_cut,
                                 activate => false));
        END IF;
        IF 'rerank_blend' = ANY (candidates) THEN
            fit := fit || jsonb_build_object('rerank_blend',
                recs.train_blend(ARRAY[(fit->>'ncf')::bigint, (fit->>'glmix')::bigint],
                                 'pg_temp.recs_pipeline_blend_watches', 'pg_temp.recs_pipeline_learners',
                                 name => name || '_fit_rerank_blend', random_effects => blend_effects, since => t_cut,
                                 time_column => 'watched_at', negatives => 20, rerank_top => pool,
                                 l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                 activate => false));
        END IF;
        secs := secs || jsonb_build_object('fit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));

        -- 7. the winner on the validation slice
        winner := candidates[1];
        IF validate THEN
            t1 := clock_timestamp();
            IF NOT EXISTS (SELECT 1 FROM recs_pipeline_validation) THEN
                RAISE EXCEPTION USING ERRCODE = '02000',
                    MESSAGE = format('no course was first watched from %s to %s to compare the candidates on', t_val, t_end),
                    HINT = 'Raise validation_days, or pass a single candidate.';
            END IF;
            best := -1;
            FOREACH c IN ARRAY candidates LOOP
                scores := scores || jsonb_build_object(c,
                    recs.evaluate((fit->>c)::bigint, 'pg_temp.recs_pipeline_validation', 10));
                r := (scores->c->>'recall')::float8;
                IF r > best THEN
                    best := r;
                    winner := c;
                END IF;
            END LOOP;
            secs := secs || jsonb_build_object('validation', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
            RAISE NOTICE USING MESSAGE = format('train_all: Recall@10 from %s on %s learners: %s; %s serves', t_val,
                scores->candidates[1]->>'learners',
                (SELECT string_agg(format('%s %s', x, round((scores->x->>'recall')::numeric, 3)), ', ')
                   FROM unnest(candidates) x), winner);
        END IF;

        -- 8. the components again on all of the data, the winner over them
        t1 := clock_timestamp();
        IF winner = 'click_blend' THEN
            pop := recs.train_popularity('pg_temp.recs_pipeline_all_watches', 'pg_temp.recs_pipeline_learners',
                                         name => name || '_popularity', activate => false,
                                         min_watch_seconds => CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END,
                                         language_column => language_column);
        END IF;
        EXECUTE format('SELECT recs.train_ncf(%L::regclass, name => $1, courses => %L::regclass, epochs => $2, '
                       'threads => $3, activate => false, min_watch_seconds => $4%s)',
                       'pg_temp.recs_pipeline_all_watches', 'pg_temp.recs_pipeline_courses', ncf_args)
           INTO ncf USING name || '_ncf', epochs, threads, CASE WHEN seconds_column IS NULL THEN 0 ELSE 60 END;
        IF winner = 'ncf' THEN
            served := ncf;
        ELSE
            glmix := recs.train_glmix(impressions, 'pg_temp.recs_pipeline_learners',
                                      'pg_temp.recs_pipeline_courses', learner_features, course_features,
                                      name => name || '_glmix', crosses => crosses, threads => threads, activate => false,
                                      learner_column => learner_column, course_column => course_column,
                                      click_column => click_column, time_column => shown_column, through => t_end,
                                      learners_id_column => 'learner_id', courses_id_column => 'course_id');
            ids := CASE winner WHEN 'click_blend' THEN ARRAY[ncf, glmix, pop] ELSE ARRAY[ncf, glmix] END;
            served := recs._blend_rebase((fit->>winner)::bigint, ids, name || '_blend', t_end);
        END IF;
        secs := secs || jsonb_build_object('refit', round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1));
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions, learners, courses);
        det := recs._pipeline_names(det, watches, impressions, learners, courses);
        hnt := recs._pipeline_names(hnt, watches, impressions, learners, courses);
        IF det = '' AND hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
        ELSIF det = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, HINT = hnt;
        ELSIF hnt = '' THEN
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
        ELSE
            RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det, HINT = hnt;
        END IF;
    END;

    -- 9. the fitted models go (the served one carries their figures); provenance names the caller's relations
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['click_blend', 'rerank_blend']) x WHERE fit ? x;
    PERFORM recs.drop_model((fit->>x)::bigint) FROM unnest(ARRAY['popularity', 'ncf', 'glmix']) x;
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions, learners, courses))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, served);
    secs := secs || jsonb_build_object('total', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1));
    UPDATE recs.model m
       SET metrics = m.metrics || jsonb_build_object('pipeline', jsonb_build_object(
               'winner', winner, 'candidates', to_jsonb(candidates), 'validation', scores,
               'components_before', t_cut, 'blend_until', t_val, 'end', t_end, 'rerank_top', pool,
               'skipped', skipped, 'estimate', est, 'seconds', secs))
     WHERE m.model_id = served;
    IF activate THEN
        PERFORM recs.activate(served);
    END IF;
    DROP VIEW recs_pipeline_validation, recs_pipeline_blend, recs_pipeline_blend_watches,
              recs_pipeline_watches, recs_pipeline_all_impressions, recs_pipeline_all_watches,
              recs_pipeline_courses, recs_pipeline_learners;
    RAISE NOTICE 'train_all: done in % s; the % (model %) serves%', secs->>'total', winner, served,
        CASE WHEN activate THEN ' at commit' ELSE ' once activated' END;
    RETURN served;
END
$$;
COMMENT ON FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer, text[], integer, boolean, text, text, text, text, text,
    text, text, text, text, jsonb) IS
    'the nightly pipeline: inputs and memory checked first; components before the last blend_days, candidate blends after, the best on a validation slice refitted through the end of the data and activated';
-- ============================================================================
-- citus-counts: grant_access and revoke_access on a Citus coordinator reach
-- every worker (recs._citus_on_workers, 90_citus.sql); one call suffices.
-- ============================================================================

-- grant_access and revoke_access on a coordinator: the same call on every
-- worker.  The serving functions are no Citus objects, so Citus does not
-- propagate their GRANTs; each node makes its own, with DDL propagation
-- off (grant_access sets it), and a worker calls no further:
-- citus_is_coordinator() is false there.  The workers commit on their own
-- connections: should one fail, the coordinator's transaction fails and
-- the call, idempotent, can be repeated.
CREATE FUNCTION recs._citus_on_workers(call text)
RETURNS integer
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
    coordinator boolean;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension e WHERE e.extname = 'citus') THEN
        RETURN 0;
    END IF;
    -- Citus's functions by dynamic SQL: this function must install without it
    EXECUTE 'SELECT citus_is_coordinator()' INTO coordinator;
    IF NOT coordinator THEN
        RETURN 0;
    END IF;
    -- one statement of one column (of a list of statements
    -- run_command_on_workers reports the first one's result only)
    FOR r IN EXECUTE 'SELECT nodename, nodeport, success, result FROM run_command_on_workers($1)'
             USING 'SELECT ' || call
    LOOP
        IF NOT r.success THEN
            RAISE EXCEPTION USING ERRCODE = 'external_routine_exception',
                MESSAGE = format('%s failed on Citus worker %s:%s', call, r.nodename, r.nodeport),
                DETAIL = r.result,
                HINT = 'Fix the worker (recs installed, the role present), then run the call again on the coordinator.';
        END IF;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION recs._citus_on_workers(text) IS
    'private: on a Citus coordinator, run a recs call (SELECT call) on every worker; returns how many workers, 0 elsewhere';
REVOKE EXECUTE ON FUNCTION recs._citus_on_workers(text) FROM PUBLIC;

-- NCF attention encoder (train_ncf(encoder => 'attention')): its parameters
-- are one row of recs.ncf_layer, tower 'attention'.
-- ---------------------------------------------------------------------------
ALTER TABLE recs.ncf_layer DROP CONSTRAINT ncf_layer_tower_check;
ALTER TABLE recs.ncf_layer ADD CONSTRAINT ncf_layer_tower_check
    CHECK (tower IN ('learner', 'course', 'attention'));
COMMENT ON TABLE recs.ncf_layer IS
    'per NCF model: the weights (n_in x n_out, row-major) and biases of each layer of both towers; layer 0 is the sparse layer; with encoder attention one more row, tower attention: the position embeddings (n_in = attention_window rows, latest watch first) as weight, the query as bias';
-- train_ncf(loss => 'softmax'): the private test function of its loss
-- ---------------------------------------------------------------------------
CREATE FUNCTION recs._ncf_softmax_loss(
    scores real[],
    label integer,
    log_q real[],
    temperature real DEFAULT 1,
    OUT loss float8,
    OUT gradient real[])
RETURNS record
AS 'MODULE_PATHNAME', 'ncf_softmax_loss'
LANGUAGE C IMMUTABLE STRICT;
COMMENT ON FUNCTION recs._ncf_softmax_loss(real[], integer, real[], real) IS
    'private, for tests: one row of train_ncf''s softmax loss (scores, 1-based label, log q per column; -Infinity masks a column) and its gradient with respect to the scores, by the trainer''s own code';

-- train_all's blend rebase: recs.model_learner's rows of the new components in
-- one pass grouped by learner (no self-join whose plan stale statistics ruin)
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION recs._blend_rebase(blend bigint, components bigint[], name text, trained_through timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
    next_version integer;
BEGIN
    -- one training per name at a time, as in model_store_create()
    PERFORM pg_advisory_xact_lock(hashtext('recs.model:' || _blend_rebase.name));
    IF EXISTS (SELECT 1 FROM recs.model m WHERE m.name = _blend_rebase.name AND m.kind <> 'blend') THEN
        RAISE EXCEPTION USING ERRCODE = 'duplicate_object',
            MESSAGE = format('model name "%s" is already used by a %s model', _blend_rebase.name,
                             (SELECT m.kind FROM recs.model m WHERE m.name = _blend_rebase.name LIMIT 1));
    END IF;
    -- the version first, then the row (no subquery beside Citus's reference table)
    SELECT COALESCE(max(m2.version), 0) + 1 INTO next_version FROM recs.model m2 WHERE m2.name = _blend_rebase.name;
    INSERT INTO recs.model (name, kind, version, trained_through, source, params, metrics,
                            learner_key, course_key)
    SELECT _blend_rebase.name, 'blend', next_version, _blend_rebase.trained_through,
           b.source || jsonb_build_object('components', to_jsonb(components)),
           b.params || jsonb_build_object('weights_fitted_through', b.trained_through),
           b.metrics - 'evaluation', b.learner_key, b.course_key
      FROM recs.model b WHERE b.model_id = blend
    RETURNING model_id INTO id;
    INSERT INTO recs.blend_component (model_id, position, component_id, transform, mean, sd)
    SELECT id, c.position, components[c.position], c.transform, c.mean, c.sd
      FROM recs.blend_component c WHERE c.model_id = blend;
    INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs)
    SELECT id, c.coordinate, c.entity, c.coefs FROM recs.blend_coef c WHERE c.model_id = blend;
    INSERT INTO recs.blend_learner (model_id, learner_id, keys)
    SELECT id, l.learner_id, l.keys FROM recs.blend_learner l WHERE l.model_id = blend;
    -- the learners and histories of the new components (their watch-based ones), as blend_store.c does
    -- (no correlated subquery: Citus plans none over its reference tables,
    -- which recs' tables are after citus_setup).  One pass grouped by learner,
    -- no join of the components' learners to their histories: the rows were
    -- written in this transaction, and on a recs.model_learner whose
    -- statistics say empty (vacuumed, not truncated) the planner took each
    -- side for one row and nested-looped them, learners x learners (70 s at
    -- 5,000 learners; sql/stale_stats.sql).
    INSERT INTO recs.model_learner (model_id, learner_id, language, watched)
    SELECT id, m.learner_id, (array_agg(m.language) FILTER (WHERE m.language IS NOT NULL))[1],
           COALESCE(array_agg(DISTINCT e.course ORDER BY e.course)
                        FILTER (WHERE k.kind <> 'glmix' AND e.course IS NOT NULL), '{}')
      FROM recs.model_learner m JOIN recs.model k ON k.model_id = m.model_id
      LEFT JOIN LATERAL unnest(m.watched) e(course) ON true
     WHERE m.model_id = ANY (components)
     GROUP BY m.learner_id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION recs._blend_rebase(bigint, bigint[], text, timestamptz) IS
    'private, for train_all: a new version of a blend with the same weights over other (refitted) components';
-- ---------------------------------------------------------------------------
-- train_ncf's loss 'auto' and epochs NULL (their defaults now, edited in the
-- train_ncf section above): the private test function of their choice
-- ---------------------------------------------------------------------------
CREATE FUNCTION recs._ncf_auto_config(
    positives bigint,
    loss text DEFAULT 'auto',
    epochs integer DEFAULT NULL,
    OUT chosen_loss text,
    OUT chosen_epochs integer)
RETURNS record
AS 'MODULE_PATHNAME', 'ncf_auto_config_sql'
LANGUAGE C IMMUTABLE;
COMMENT ON FUNCTION recs._ncf_auto_config(bigint, text, integer) IS
    'private, for tests: the loss and epochs train_ncf trains with on that many positives, given its loss and epochs arguments (loss ''auto'', epochs NULL: chosen from the data), by the trainer''s own code';
-- ===========================================================================
-- GLMix on Citus with a flat coordinator (issue #14): the block builder, the
-- block scores and the pushed-down aggregates of glmix_flat.c; grant_access
-- gives training roles EXECUTE on them, and roles that may train already get
-- it here.
-- ===========================================================================
-- ---------------------------------------------------------------------------
CREATE FUNCTION recs._glmix_flat_blocks(enc bytea, learner_id bigint, learner_features integer[],
                                        learner_values float8[], course_ids bigint[],
                                        labels float8[], labels2 float8[], times float8[],
                                        watch_seconds float8[], weights float8[])
RETURNS TABLE (block_no integer, fblock bytea, rblock bytea, "rows" integer, positives integer,
               nonzeros bigint, null_id bigint, null_label bigint, bad_time bigint,
               after_through bigint, t_max float8, watched bigint[], courses bigint[])
AS 'MODULE_PATHNAME', 'glmix_flat_blocks'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[]) IS
    'train_glmix on Citus: one learner''s impressions (course ids, labels, the second label column''s, times, watch times, weights; arrays in one order) as pairs of fixed-effect and learner-effect blocks over the same rows, with the learner''s counts and positive courses on the first (and, for a course effect, each block''s rows'' course ids), built from the learner''s feature vector (NULL: not in the learners relation) and the training''s encoding';

CREATE FUNCTION recs._glmix_flat_scores(block bytea, coefficients float8[], plus float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_scores(bytea, float8[], float8[]) IS
    'train_glmix on Citus: each row''s score (row . coefficients) of a block plus the row''s value of plus (NULL: none; the course effect''s scores), as the offsets of its twin block; NULL for a NULL block or coefficients';

CREATE FUNCTION recs._glmix_flat_fixed_accum(bytea, bytea, bytea, float8[], float8[], float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_fixed_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_loss_accum(bytea, bytea, bytea, float8[], float8[], boolean, float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_loss_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_combine(bytea, bytea)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_fixed_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_fixed_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_loss_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_loss_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE AGGREGATE recs._glmix_flat_fixed_stats(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_scores float8[]) (
    SFUNC = recs._glmix_flat_fixed_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_fixed_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_fixed_stats(bytea, bytea, float8[], float8[], float8[]) IS
    'train_glmix on Citus: glmix_fixed_block_stats over fixed blocks whose offsets are their twin learner-effect blocks'' scores at the learner''s coefficients plus the rows'' course scores (NULL: none); a bytea state, so Citus pushes it down as a partial aggregate';

CREATE AGGREGATE recs._glmix_flat_loss(fblock bytea, rblock bytea, learner_coefficients float8[],
                                      coefficients float8[], first boolean, course_scores float8[]) (
    SFUNC = recs._glmix_flat_loss_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_loss_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_loss(bytea, bytea, float8[], float8[], boolean, float8[]) IS
    'train_glmix on Citus: rows, weight, weighted log-loss of the blocks at the coefficients (offsets as glmix_flat_fixed_stats), and the sum of the squared learner coefficients of the rows marked first';

CREATE FUNCTION recs._glmix_flat_grad_accum(bytea, bytea, bytea, float8[], float8[], float8[], float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_grad_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_grad_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_grad_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_fixed_grad(fblock bytea, rblock bytea, learner_coefficients float8[],
                                            coefficients float8[], direction float8[], course_scores float8[]) (
    SFUNC = recs._glmix_flat_grad_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_grad_final,
    COMBINEFUNC = recs._glmix_flat_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_fixed_grad(bytea, bytea, float8[], float8[], float8[], float8[]) IS
    'train_glmix on Citus, TRON: glmix_fixed_block_grad (rows, weight, loss, gradient and, with a direction, the Hessian-vector product) over fixed blocks with the offsets of glmix_flat_fixed_stats; a bytea state of O(dimension), pushed down by Citus as a partial aggregate';

CREATE FUNCTION recs._glmix_flat_course_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_ids bigint[],
                                             learner_features integer[], learner_values float8[],
                                             dim integer, intercept boolean, key_course_ids bigint[],
                                             keys bigint[])
RETURNS TABLE (key bigint, block bytea, offsets float8[])
AS 'MODULE_PATHNAME', 'glmix_flat_course_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[]) IS
    'train_glmix on Citus: a block pair''s rows grouped by key (the course id of each row, course_ids; or with key_course_ids, ascending, and keys the key of each such course, a row of another course left out) as the course-side effect''s blocks over the learner''s design [1 | learner features], with each row''s offset x . coefficients + the learner effect''s score; inserted into a relation distributed by key (Citus repartitions them)';

CREATE FUNCTION recs._glmix_flat_course_scores(course_ids bigint[], learner_features integer[],
                                               learner_values float8[], model_keys bigint[],
                                               coefficients float8[], dim integer, intercept boolean,
                                               key_course_ids bigint[], keys bigint[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_course_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_course_scores(bigint[], integer[], float8[], bigint[], float8[], integer, boolean, bigint[], bigint[]) IS
    'train_glmix on Citus: each row''s course-side effect score [1 | learner features] . its key''s coefficients (model_keys ascending, coefficients one row of dim per key; the key of a course: its id, or with key_course_ids and keys as in _glmix_flat_course_rows; 0 without a key or a model)';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[]),
    recs._glmix_flat_scores(bytea, float8[], float8[]),
    recs._glmix_flat_fixed_accum(bytea, bytea, bytea, float8[], float8[], float8[]),
    recs._glmix_flat_loss_accum(bytea, bytea, bytea, float8[], float8[], boolean, float8[]),
    recs._glmix_flat_combine(bytea, bytea),
    recs._glmix_flat_fixed_final(bytea),
    recs._glmix_flat_loss_final(bytea),
    recs._glmix_flat_fixed_stats(bytea, bytea, float8[], float8[], float8[]),
    recs._glmix_flat_loss(bytea, bytea, float8[], float8[], boolean, float8[]),
    recs._glmix_flat_grad_accum(bytea, bytea, bytea, float8[], float8[], float8[], float8[]),
    recs._glmix_flat_grad_final(bytea),
    recs._glmix_flat_fixed_grad(bytea, bytea, float8[], float8[], float8[], float8[]),
    recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[]),
    recs._glmix_flat_course_scores(bigint[], integer[], float8[], bigint[], float8[], integer, boolean, bigint[], bigint[])
FROM PUBLIC;

-- grant_access and revoke_access as 0.4.0 has them (80_access.sql), defined
-- once here: what the sections above add to them (the solver's aggregate,
-- one error for a non-owner, the Citus workers, the flat path's functions)
-- takes effect with these definitions.
-- The training-only functions: the pushed-down GLMix aggregates and block
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

CREATE OR REPLACE FUNCTION recs.grant_access(grantee regrole, training boolean DEFAULT false)
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

CREATE OR REPLACE FUNCTION recs.revoke_access(grantee regrole)
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

-- train_glmix on Citus: an effect keyed by a learner attribute on the flat path
CREATE FUNCTION recs._glmix_flat_entity_accum(bytea, bytea, float8[], integer, float8[], integer)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_entity_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_entity_combine(bytea, bytea)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_entity_combine'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION recs._glmix_flat_entity_final(bytea)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_entity_final'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_entity_stats(block bytea, offsets float8[], key integer,
                                              coefficients float8[], nkeys integer) (
    SFUNC = recs._glmix_flat_entity_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_entity_final,
    COMBINEFUNC = recs._glmix_flat_entity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_entity_stats(bytea, float8[], integer, float8[], integer) IS
    'train_glmix on Citus, an effect keyed by a learner attribute: per key (0 .. nkeys - 1; a NULL block or key adds nothing) the rows, weight, loss, gradient, packed Hessian and each column''s count of stored nonzeros of the blocks'' rows at the key''s coefficients (row key of nkeys x dimension), as nkeys, dimension, then the sums key by key; a bytea state, pushed down by Citus as a partial aggregate';

CREATE FUNCTION recs._glmix_flat_add(a float8[], b float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_add'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_add(float8[], float8[]) IS
    'train_glmix on Citus: a + b element by element (a NULL one is none): a learner''s coefficients and its segment''s, over the same design';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_entity_accum(bytea, bytea, float8[], integer, float8[], integer),
    recs._glmix_flat_entity_combine(bytea, bytea),
    recs._glmix_flat_entity_final(bytea),
    recs._glmix_flat_entity_stats(bytea, float8[], integer, float8[], integer),
    recs._glmix_flat_add(float8[], float8[])
FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- GLMix on Citus, flat path: an effect keyed by a column of the impressions (a
-- channel): the keyed block builder, the course rows with another coordinate's
-- row scores, the channel's per-key statistics and row scores
-- ---------------------------------------------------------------------------

-- an effect keyed by a column of the impressions (a channel) on the flat path
-- (glmix_flat_channel.c, glmix_agg_flat_channel.c)
CREATE FUNCTION recs._glmix_flat_blocks(enc bytea, learner_id bigint, learner_features integer[],
                                        learner_values float8[], course_ids bigint[],
                                        labels float8[], labels2 float8[], times float8[],
                                        watch_seconds float8[], weights float8[], row_keys integer[])
RETURNS TABLE (block_no integer, fblock bytea, rblock bytea, "rows" integer, positives integer,
               nonzeros bigint, null_id bigint, null_label bigint, bad_time bigint,
               after_through bigint, t_max float8, watched bigint[], courses bigint[], keys integer[])
AS 'MODULE_PATHNAME', 'glmix_flat_blocks'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[]) IS
    'train_glmix on Citus: recs._glmix_flat_blocks with each impression''s key of an effect keyed by an impressions column (row_keys: its value''s index, NULL none), returned as each block''s rows'' keys (-1: none)';

-- train_glmix on Citus: several course-side effects on the flat path, each
-- one's rows' offsets taking the others' scores (the overload of twelve)
CREATE FUNCTION recs._glmix_flat_course_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                             coefficients float8[], course_ids bigint[],
                                             learner_features integer[], learner_values float8[],
                                             dim integer, intercept boolean, key_course_ids bigint[],
                                             keys bigint[], row_scores float8[])
RETURNS TABLE (key bigint, block bytea, offsets float8[])
AS 'MODULE_PATHNAME', 'glmix_flat_course_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[]) IS
    'train_glmix on Citus: _glmix_flat_course_rows with row_scores (one a row of the block; NULL: none) added to each row''s offset: a model''s other course-side effects'' scores and a channel''s';
REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_course_rows(bytea, bytea, float8[], float8[], bigint[], integer[], float8[], integer, boolean, bigint[], bigint[], float8[])
FROM PUBLIC;

-- max_rows on a flat training's course-side effect (glmix_flat_cap.c): the
-- capped keys' samples drawn on the workers once, the blocks reweighted each
-- visit.  Private to train_glmix, as the other flat functions.
CREATE FUNCTION recs._glmix_flat_cap_rows(fblock bytea, course_ids bigint[], capped_course_ids bigint[],
                                          capped_keys bigint[])
RETURNS TABLE (key bigint, rn integer, course bigint, y float8, w float8)
AS 'MODULE_PATHNAME', 'glmix_flat_cap_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_cap_rows(bytea, bigint[], bigint[], bigint[]) IS
    'train_glmix on Citus: the rows of a block whose course has a capped key (capped_course_ids ascending, their keys), as (key, row, course, label, weight)';
CREATE FUNCTION recs._glmix_flat_cap_sample(key text, learner_ids bigint[], course_ids bigint[], labels float8[],
                                            weights float8[], max_rows integer, seed bigint, serial integer)
RETURNS TABLE (pos integer, weight float8)
AS 'MODULE_PATHNAME', 'glmix_flat_cap_sample'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_cap_sample(text, bigint[], bigint[], float8[], float8[], integer, bigint, integer) IS
    'train_glmix on Citus: one key''s max_rows sample as one node draws it (the key''s stream from seed, serial and key; its rows ordered by learner, course, label and weight): the chosen positions (1-based) and their weights scaled by rows / max_rows; none at max_rows rows or fewer';
CREATE FUNCTION recs._glmix_flat_cap_weights(fblock bytea, course_ids bigint[], capped_course_ids bigint[],
                                             capped_keys bigint[], sampled_rows integer[], sampled_weights float8[])
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_cap_weights'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_cap_weights(bytea, bigint[], bigint[], bigint[], integer[], float8[]) IS
    'train_glmix on Citus: a block''s rows'' course-effect weights: a capped key''s row its sampled weight (sampled_rows 0-based) or 0, any other row its own';
CREATE FUNCTION recs._glmix_flat_reweight(block bytea, weights float8[])
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_reweight'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_reweight(bytea, float8[]) IS
    'train_glmix on Citus: a copy of a block with its rows'' weights replaced (finite, >= 0, one a row); the block for NULL weights';
REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_cap_rows(bytea, bigint[], bigint[], bigint[]),
    recs._glmix_flat_cap_sample(text, bigint[], bigint[], float8[], float8[], integer, bigint, integer),
    recs._glmix_flat_cap_weights(bytea, bigint[], bigint[], bigint[], integer[], float8[]),
    recs._glmix_flat_reweight(bytea, float8[])
FROM PUBLIC;

CREATE FUNCTION recs._glmix_flat_channel_accum(bytea, bytea, float8[], integer[], float8[], integer)
RETURNS bytea AS 'MODULE_PATHNAME', 'glmix_flat_channel_accum'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE recs._glmix_flat_channel_stats(block bytea, offsets float8[], keys integer[],
                                               coefficients float8[], nkeys integer) (
    SFUNC = recs._glmix_flat_channel_accum,
    STYPE = bytea,
    FINALFUNC = recs._glmix_flat_entity_final,
    COMBINEFUNC = recs._glmix_flat_entity_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer) IS
    'train_glmix on Citus, an effect keyed by an impressions column: recs._glmix_flat_entity_stats with a key per row (keys, one per block row, -1 or NULL none) rather than per block';

CREATE FUNCTION recs._glmix_flat_channel_scores(block bytea, keys integer[], coefficients float8[], nkeys integer)
RETURNS float8[] AS 'MODULE_PATHNAME', 'glmix_flat_channel_scores'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer) IS
    'train_glmix on Citus: each block row''s score z . coefficients of its key (row key of nkeys x dimension; 0 for a row without a key), the other coordinates'' offsets; NULL for a NULL block or keys';

REVOKE EXECUTE ON FUNCTION
    recs._glmix_flat_blocks(bytea, bigint, integer[], float8[], bigint[], float8[], float8[], float8[], float8[], float8[], integer[]),
    recs._glmix_flat_channel_accum(bytea, bytea, float8[], integer[], float8[], integer),
    recs._glmix_flat_channel_stats(bytea, float8[], integer[], float8[], integer),
    recs._glmix_flat_channel_scores(bytea, integer[], float8[], integer)
FROM PUBLIC;
-- GLMix on Citus (flat path): validation rows scored on the workers (glmix_flat_valid_workers.c)

CREATE FUNCTION recs._glmix_flat_valid_rows(fblock bytea, rblock bytea, learner_coefficients float8[],
                                            coefficients float8[], plus float8[])
RETURNS TABLE (bucket integer, positive boolean, logloss float8, score float8)
AS 'MODULE_PATHNAME', 'glmix_flat_valid_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION recs._glmix_flat_valid_rows(bytea, bytea, float8[], float8[], float8[]) IS
    'train_glmix on Citus: each validation row of a block pair, its score (fixed row . coefficients + learner-effect row . learner_coefficients + plus), its label, its log-loss term and its bucket of the score histogram (the logit clamped to +-32 in 65536 buckets)';
REVOKE EXECUTE ON FUNCTION recs._glmix_flat_valid_rows(bytea, bytea, float8[], float8[], float8[]) FROM PUBLIC;

-- the roles grant_access(..., training => true) gave (they can execute
-- recs.glmix_fixed_block_stats) get every flat-path function added above
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
              WHERE p.oid = 'recs.glmix_fixed_block_stats(bytea, float8[], float8[])'::pg_catalog.regprocedure
                AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0 AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO %s', recs._training_functions(), r);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- train_ncf's trend_days (its signature is in the train_ncf section above):
-- each course's trend term at the end of the training data, added to its
-- scores; 0 for every model trained without it
-- ---------------------------------------------------------------------------
ALTER TABLE recs.ncf_course ADD COLUMN trend real NOT NULL DEFAULT 0;
COMMENT ON COLUMN recs.ncf_course.trend IS
    'train_ncf(trend_days): the course''s trend term at the end of the training data, added to every score of the course (0: no trend)';
-- train_ncf's affinity_columns and path_columns (the history terms; the
-- signature is in the train_ncf section above)
ALTER TABLE recs.ncf_course ADD COLUMN affinity integer[], ADD COLUMN predecessor bigint,
    ADD COLUMN statistics real[];
COMMENT ON COLUMN recs.ncf_course.affinity IS
    'train_ncf(affinity_columns): the course''s value of each affinity column, as its place in params->''history''->''affinity_values'' (0-based; -1: none); NULL: no affinity columns';
COMMENT ON COLUMN recs.ncf_course.predecessor IS
    'train_ncf(path_columns): the course before this one in its series (the highest order below its own); NULL: none';
COMMENT ON COLUMN recs.ncf_course.statistics IS
    'train_ncf(affinity_columns, path_columns): the course''s ln(1 + training watches), ln(1 + watches in the last 30 days) and ln(1 + days since its first watch), at the end of the training data; NULL: no history terms (or added by add_courses: 0, 0, 0)';

-- explain_recommendation's rows for a model with history terms (ncf_explain.c):
-- not PUBLIC, as it reads the serving cache and the learner's stored rows
CREATE FUNCTION recs._ncf_history_terms(model bigint, learner_id bigint, course_id bigint)
RETURNS TABLE (term text, value float8, weight float8, contribution float8)
AS 'MODULE_PATHNAME', 'ncf_history_terms'
LANGUAGE C STABLE;
REVOKE EXECUTE ON FUNCTION recs._ncf_history_terms(bigint, bigint, bigint) FROM PUBLIC;
COMMENT ON FUNCTION recs._ncf_history_terms(bigint, bigint, bigint) IS
    'private, for explain_recommendation: an NCF model''s served score taken apart into its history terms (feature value, weight, contribution; the first row the towers'' part); no rows for other models';
CREATE FUNCTION recs._ncf_trend_counts(
    watches regclass,
    trend_days float8,
    at timestamptz,
    closed boolean DEFAULT false)
RETURNS TABLE (course_id bigint, watches bigint, bucket integer)
AS 'MODULE_PATHNAME', 'ncf_trend_counts'
LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION recs._ncf_trend_counts(regclass, float8, timestamptz, boolean) IS
    'private, for tests: each watched course''s number of cleaned watches in [at - trend_days, at) ([..., at] when closed) and its trend bucket, by the trainer''s own code (train_ncf''s trend_days)';
