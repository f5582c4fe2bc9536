-- 41_ncf_tune.sql -- tune_ncf: a grid of train_ncf settings scored on the
-- held-out slice of validation 'auto', the best refitted on all the data;
-- and the one check of train_ncf arguments given as jsonb (tune_ncf's grid
-- and options, train_all's ncf_options).

-- private: train_ncf arguments as jsonb {"name": value} -> the SQL text
-- ", name => 'value'::type, ..." to splice into a call of recs.train_ncf.
-- Every key must be an argument of train_ncf and not one of reserved (22023
-- naming them); every value is cast to the argument's type here, so that a
-- bad value fails before any training.  Names and values are quoted.
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
