-- 70_pipeline.sql -- the nightly pipeline in one call.

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

-- private functions ---------------------------------------------------------

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
