-- 65_explain.sql -- "why am I seeing this course?" for any model kind.

CREATE FUNCTION recs.explain_recommendation(learner_id bigint, course_id bigint, model bigint DEFAULT NULL)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m bigint := model;
    m_kind text;
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
    IF m IS NULL THEN
        SELECT d.model_id INTO m FROM recs.deployment d WHERE d.slot = 'default';
        IF m IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_object',
                MESSAGE = 'no recs model is active in slot "default"';
        END IF;
    END IF;
    SELECT x.kind INTO m_kind FROM recs.model x WHERE x.model_id = m;
    IF m_kind IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('recs model %s does not exist', m);
    END IF;
    -- a course the model does not score is an error, as in recs.score()
    PERFORM recs.score(m, learner_id, course_id);

    IF m_kind <> 'blend' THEN
        SELECT r.score INTO s FROM recs.recommend(learner_id, 1, exclude_watched => false,
                                                  candidates => ARRAY[course_id], model => m) r;
        part := 'model'; part_model := m; kind := m_kind; score := s; weight := 1; contribution := s;
        detail := CASE WHEN m_kind = 'glmix' THEN
                    ARRAY(SELECT format('%s: %s', e.coordinate, array_to_string(e.top_features[1:3], ', '))
                            FROM recs.explain(m, learner_id, course_id) e WHERE e.coordinate <> 'total')
                  END;
        RETURN NEXT;
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
END
$$;
COMMENT ON FUNCTION recs.explain_recommendation(bigint, bigint, bigint) IS
    'why a course is recommended: for a blend, each component''s score, weight (global + learner + segment) and contribution, with the GLMix features behind it; the total is the served score';

CREATE FUNCTION recs.explain(learner_id bigint, course_id bigint)
RETURNS TABLE (part text, part_model bigint, kind text, score float8, weight float8,
               contribution float8, detail text[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM recs.explain_recommendation(learner_id, course_id) $$;
COMMENT ON FUNCTION recs.explain(bigint, bigint) IS
    'why the active model recommends a course to a learner (recs.explain_recommendation for the active model)';
