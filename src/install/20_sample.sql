-- 20_sample.sql -- generated sample data for demos, tests and benchmarks.

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
