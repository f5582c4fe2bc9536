-- 70_pipeline.sql -- the nightly pipeline in one call (its private parts: 71_pipeline_parts.sql).
--
-- train_all: check every input and the memory of every step first, then fit
-- the components before the blend window, fit the candidate blends on the
-- window, pick what serves best on the window's last validation_days, refit
-- the components on all of the data and serve the winner over them.

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
