-- recs--0.1.0--0.2.0.sql -- ALTER EXTENSION recs UPDATE TO '0.2.0'.
--
-- 0.2.0 adds rerank_top to recs.train_blend (a blend that re-ranks its first
-- component's best courses) and to recs.train_all (the pipeline's blend is
-- then such a ranking blend); train_all validates its options, takes NULL
-- options as their defaults and names the caller's relations in its errors
-- and in its models' source (through the new private recs._pipeline_names);
-- explain_recommendation rejects a course the model does not score (42704);
-- course_map_svg names a NULL argument.  The shared library serves both
-- versions' definitions: called through the 0.1.0 train_blend it behaves as
-- rerank_top => 0.  Stored models need no change: a blend without rerank_top
-- in its parameters ranks the whole catalogue, as before.

\echo Use "ALTER EXTENSION recs UPDATE TO '0.2.0'" to load this file. \quit

DROP FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint);
DROP FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean);

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
    rerank_top integer DEFAULT 0)
RETURNS bigint
AS 'MODULE_PATHNAME', 'train_blend'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION recs.train_blend(bigint[], regclass, regclass, text, text[], timestamptz, text,
    float8[], integer, boolean, text, text, text, text, text, integer, bigint, integer) IS
    'train a personalised blend (a GLMix over component model scores) on impressions after the components'' training data';

CREATE FUNCTION recs._pipeline_names(t text, watches regclass, impressions regclass)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT regexp_replace(regexp_replace(regexp_replace(regexp_replace(t,
             'pg_temp(_[0-9]+)?\.recs_pipeline_blend_watches', watches::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_watches', watches::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_impressions', impressions::text, 'g'),
             'pg_temp(_[0-9]+)?\.recs_pipeline_blend', impressions::text, 'g')
$$;
COMMENT ON FUNCTION recs._pipeline_names(text, regclass, regclass) IS
    'private, for train_all: a text with the pipeline''s temporary views replaced by the caller''s relations';

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
    rerank_top integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t_end timestamptz;
    t_cut timestamptz;
    t0 timestamptz := clock_timestamp();
    t1 timestamptz;
    pop bigint;
    ncf bigint;
    glmix bigint;
    blend bigint;
    arg text;
    rel regclass;
    col text;
    typ regtype;
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
    -- these in step with the signature)
    learner_features := COALESCE(learner_features, '{language,industry,segment}');
    course_features := COALESCE(course_features, '{language,topic,difficulty}');
    crosses := COALESCE(crosses, '{industry:topic,language:language,segment:difficulty}');
    name := COALESCE(name, 'recs');
    blend_days := COALESCE(blend_days, 28);
    blend_effects := COALESCE(blend_effects, '{learner_id}');
    epochs := COALESCE(epochs, 20);
    threads := COALESCE(threads, 1);
    activate := COALESCE(activate, true);
    IF rerank_top < 1 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = format('rerank_top must be positive, not %s', rerank_top),
            HINT = 'Leave it NULL for a click blend of the three models.';
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
    -- the pipeline filters on the conventional time columns itself
    FOREACH arg IN ARRAY ARRAY['watches', 'impressions'] LOOP
        rel := CASE arg WHEN 'watches' THEN watches ELSE impressions END;
        col := CASE arg WHEN 'watches' THEN 'watched_at' ELSE 'shown_at' END;
        SELECT a.atttypid INTO typ FROM pg_attribute a
         WHERE a.attrelid = rel AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF typ IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'undefined_column',
                MESSAGE = format('column "%s" does not exist in relation %s', col, rel),
                HINT = format('train_all reads the %s by their conventional time column %s; rename yours in a view.', arg, col);
        ELSIF typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
            RAISE EXCEPTION USING ERRCODE = 'datatype_mismatch',
                MESSAGE = format('column "%s" of relation %s has type %s', col, rel, typ),
                DETAIL = format('train_all needs %s to be a timestamp with time zone, timestamp or date.', col),
                HINT = 'Cast it in a view and pass the view instead.';
        END IF;
    END LOOP;
    EXECUTE format('SELECT max(watched_at) FROM %s WHERE isfinite(watched_at)', watches) INTO t_end;
    t_end := COALESCE(through, t_end);
    IF t_end IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '02000', MESSAGE = format('%s has no watches', watches),
            DETAIL = 'No row has a finite watched_at.';
    END IF;
    t_cut := t_end - make_interval(days => blend_days);

    -- the components learn from everything before the cut, the blend from
    -- the impressions after it: no component sees the blend's labels
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_watches AS SELECT * FROM %s WHERE watched_at < %L',
                   watches, t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_impressions AS SELECT * FROM %s WHERE shown_at < %L',
                   impressions, t_cut);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend AS SELECT * FROM %s WHERE shown_at <= %L',
                   impressions, t_end);
    EXECUTE format('CREATE OR REPLACE TEMP VIEW recs_pipeline_blend_watches AS SELECT * FROM %s WHERE watched_at <= %L',
                   watches, t_end);
    RAISE NOTICE 'train_all: components on data before %, blend on % from then to %', t_cut,
        CASE WHEN rerank_top IS NULL THEN 'impressions' ELSE 'watches' END, t_end;

    BEGIN
        t1 := clock_timestamp();
        pop := recs.train_popularity('pg_temp.recs_pipeline_watches', learners, name => name || '_popularity',
                                     activate => false);
        RAISE NOTICE 'train_all 1/4: popularity model % in % s', pop, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        ncf := recs.train_ncf('pg_temp.recs_pipeline_watches', name => name || '_ncf', courses => courses,
                              epochs => epochs, threads => threads, activate => false);
        RAISE NOTICE 'train_all 2/4: neural CF model % in % s', ncf, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        glmix := recs.train_glmix('pg_temp.recs_pipeline_impressions', learners, courses, learner_features,
                                  course_features, name => name || '_glmix', crosses => crosses,
                                  threads => threads, activate => false);
        RAISE NOTICE 'train_all 3/4: GLMix model % in % s', glmix, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
        t1 := clock_timestamp();
        IF rerank_top IS NULL THEN
            -- a click blend of the three on the impressions
            blend := recs.train_blend(ARRAY[ncf, glmix, pop], 'pg_temp.recs_pipeline_blend', learners,
                                      name => name || '_blend', random_effects => blend_effects, since => t_cut,
                                      activate => false);
        ELSE
            -- a ranking blend re-ranking NCF's best courses, on the watches
            blend := recs.train_blend(ARRAY[ncf, glmix], 'pg_temp.recs_pipeline_blend_watches', learners,
                                      name => name || '_blend', random_effects => blend_effects, since => t_cut,
                                      time_column => 'watched_at', negatives => 20, rerank_top => rerank_top,
                                      l2 => array_prepend(1.0::float8, array_fill(1000.0::float8, ARRAY[cardinality(blend_effects)])),
                                      activate => false);
        END IF;
        RAISE NOTICE 'train_all 4/4: blend model % in % s', blend, round(extract(epoch FROM clock_timestamp() - t1)::numeric, 1);
    EXCEPTION WHEN OTHERS THEN
        -- the trainers saw the pipeline's temporary views: name the caller's relations instead
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                hnt = PG_EXCEPTION_HINT;
        msg := recs._pipeline_names(msg, watches, impressions);
        det := recs._pipeline_names(det, watches, impressions);
        hnt := recs._pipeline_names(hnt, watches, impressions);
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
    -- the models' provenance: the caller's relations, not the dropped views
    UPDATE recs.model m
       SET source = (SELECT jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) = 'string'
                                                         THEN to_jsonb(recs._pipeline_names(e.value #>> '{}', watches, impressions))
                                                         ELSE e.value END)
                       FROM jsonb_each(m.source) e)
     WHERE m.model_id IN (pop, ncf, glmix, blend);
    IF activate THEN
        PERFORM recs.activate(blend);
    END IF;
    DROP VIEW recs_pipeline_blend, recs_pipeline_blend_watches, recs_pipeline_impressions, recs_pipeline_watches;
    RAISE NOTICE 'train_all: done in % s%', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 1),
        CASE WHEN activate THEN format(', blend %s active', blend) ELSE '' END;
    RETURN blend;
END
$$;
COMMENT ON FUNCTION recs.train_all(regclass, regclass, regclass, regclass, text[], text[], text[], text, integer,
    timestamptz, text[], integer, integer, boolean, integer) IS
    'the nightly pipeline: popularity, neural CF and GLMix before the last blend_days, the blend after (on clicks, or re-ranking NCF''s best courses with rerank_top), then activation';

CREATE OR REPLACE FUNCTION recs.explain_recommendation(learner_id bigint, course_id bigint, model bigint DEFAULT NULL)
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
    RETURN svg;
END
$fn$;
COMMENT ON FUNCTION recs.course_map_svg(bigint, regclass, text, integer, integer, text) IS
    'an SVG scatter plot of recs.course_map(model), each course coloured by a column of the courses relation';
