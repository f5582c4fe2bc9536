-- 65_explain.sql -- "why am I seeing this course?" for any model kind.
--
-- The rows: the model's score taken apart (one 'model' row, or a blend's
-- 'intercept', 'component N' rows and its 'total', the served score), then
-- two rows that carry no score:
--   'because you watched'  an NCF model or a blend with an NCF component: the
--       learner's watched courses nearest the course in the embedding space
--       (cosine of the course embeddings, the three largest, best first), the
--       courses that pulled the learner's embedding towards it;
--   'cold start'  the model does not know the learner (no stored history):
--       the score is the model's fallback for a new learner.
-- A re-ranking blend adds 'rerank pool' after its total: whether the course
-- is among the first component's rerank_top best unwatched courses (score:
-- its rank there), which recommend() ranks before every other course.

-- explain_recommendation's last rows: "because you watched" and "cold start"
-- (model m of kind m_kind, em: the NCF model of its embeddings or NULL)
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

CREATE FUNCTION recs.explain(learner_id bigint, course_id bigint, slot text DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id, slot => slot) $$;
COMMENT ON FUNCTION recs.explain(bigint, bigint, text) IS
    'why the active model (or the slot''s) recommends a course to a learner (recs.explain_recommendation for that model)';
