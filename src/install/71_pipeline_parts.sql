-- 71_pipeline_parts.sql -- train_all's private parts: column checks, the
-- memory estimate, the caller's relation names in messages, and the copy of a
-- blend over refitted components.

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
