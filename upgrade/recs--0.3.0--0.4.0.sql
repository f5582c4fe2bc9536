-- recs--0.3.0--0.4.0.sql -- ALTER EXTENSION recs UPDATE TO '0.4.0'.
--
-- 0.4.0: see README "What changed in 0.4.0".  Stored 0.3.0 models keep
-- serving: the shared library reads their rows as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.4.0'" to load this file. \quit

-- serving-api: slot => on every serving function (the model deployed in a
-- slot; an unknown slot is an error), score() NULL for a course the model
-- cannot place, similar_courses/embed_learner/course_map of a blend through
-- its NCF component, explain_recommendation's "because you watched" and
-- "cold start" rows; evaluate's store => and evaluate_models.  The
-- functions get a new last argument, so they are dropped and created
-- again; the roles that could execute the serving functions
-- (recs.grant_access) keep that right.
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
DROP FUNCTION recs.glmix_score(bigint, bigint, bigint);
DROP FUNCTION recs.glmix_logit(bigint, bigint, bigint);
DROP FUNCTION recs.explain(bigint, bigint, bigint);
DROP FUNCTION recs.explain_recommendation(bigint, bigint, bigint);
DROP FUNCTION recs.explain(bigint, bigint);
DROP FUNCTION recs.evaluate(bigint, regclass, integer, text, text, text, text, text);

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

CREATE FUNCTION recs.glmix_score(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_score'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_score(bigint, bigint, bigint, text) IS
    'predicted response probability of a learner for a course under a glmix model; unknown learners/courses get a zero random effect';

CREATE FUNCTION recs.glmix_logit(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS float8
AS 'MODULE_PATHNAME', 'glmix_logit'
LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION recs.glmix_logit(bigint, bigint, bigint, text) IS
    'the logit behind recs.glmix_score (sum of the coordinates'' scores)';

CREATE FUNCTION recs.explain(model bigint, learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS TABLE (coordinate text, entity text, has_model boolean, contribution float8,
               top_features text[], top_contributions float8[])
AS 'MODULE_PATHNAME', 'glmix_explain'
LANGUAGE C STABLE PARALLEL SAFE ROWS 4;
COMMENT ON FUNCTION recs.explain(bigint, bigint, bigint, text) IS
    'a glmix score taken apart: each coordinate''s contribution to the logit with its five largest feature contributions, then the total';

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
ALTER FUNCTION recs.glmix_score(bigint, bigint, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.glmix_logit(bigint, bigint, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION recs.explain(bigint, bigint, bigint, text) SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
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
    recs.glmix_score(bigint, bigint, bigint, text),
    recs.glmix_logit(bigint, bigint, bigint, text),
    recs.explain(bigint, bigint, bigint, text),
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
        || 'recs.course_map(bigint, text), recs.glmix_score(bigint, bigint, bigint, text), '
        || 'recs.glmix_logit(bigint, bigint, bigint, text), recs.explain(bigint, bigint, bigint, text), '
        || 'recs.explain_recommendation(bigint, bigint, bigint, text), recs.explain(bigint, bigint, text), '
        || 'recs.model_id(text), recs.course_embeddings(bigint, text)'
$$;
COMMENT ON FUNCTION recs._serving_functions() IS
    'the serving functions (SECURITY DEFINER, not PUBLIC) that grant_access gives a role, as a list for GRANT';

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
