-- fuzz.sql -- random calls of the public API with random arguments on random
-- small tables.  Defines fuzz_recs(seed, calls) in schema recs_fuzz: every call
-- runs in a subtransaction; an error with a user-facing SQLSTATE is expected
-- behaviour, an internal error (class XX) is a finding.  A crash ends the
-- session, which the driver (test/fuzz/run.sh) detects.

CREATE SCHEMA IF NOT EXISTS recs_fuzz;

CREATE OR REPLACE FUNCTION recs_fuzz.pick(VARIADIC choices text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT choices[1 + floor(random() * array_length(choices, 1))::int] $$;

-- a random value of a "kind": ids, times, seconds, ints, floats, names, arrays
CREATE OR REPLACE FUNCTION recs_fuzz.val(kind text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN CASE kind
      WHEN 'id' THEN recs_fuzz.pick('NULL', '0', '1', '2', '3', '7', '100001', '-1',
                                    '9223372036854775807', '-9223372036854775808',
                                    (floor(random() * 20))::text)
      WHEN 'time' THEN recs_fuzz.pick('NULL', '''infinity''', '''-infinity''', '''2025-06-01''',
                                      '''1970-01-01''', '''4000-01-01''',
                                      format('''2025-01-01''::timestamptz + %s * interval ''1 hour''',
                                             floor(random() * 5000)))
      WHEN 'secs' THEN recs_fuzz.pick('NULL', '''NaN''', '''Infinity''', '''-Infinity''', '-5', '0',
                                      '59', '60', '61', '1e300', (random() * 500)::text)
      WHEN 'int' THEN recs_fuzz.pick('NULL', '0', '-1', '1', '2', '10', '1000', '2147483647', '-2147483648')
      WHEN 'float' THEN recs_fuzz.pick('NULL', '''NaN''', '''Infinity''', '-1', '0', '0.5', '1', '30', '365', '1e308')
      WHEN 'bool' THEN recs_fuzz.pick('NULL', 'true', 'false')
      WHEN 'name' THEN recs_fuzz.pick('NULL', '''''', '''x''', '''popularity''', '''a"b''',
                                      '''x''''); DROP TABLE recs_fuzz.w; --''', repeat('''n', 1) || repeat('z', 300) || '''')
      WHEN 'col' THEN recs_fuzz.pick('NULL', '''learner_id''', '''course_id''', '''watched_at''',
                                     '''watch_seconds''', '''language''', '''nope''', '''''',
                                     '''learner_id" FROM recs_fuzz.w; --''', '''LEARNER_ID''')
      WHEN 'ids' THEN recs_fuzz.pick('NULL', '''{}''', '''{1,2,3}''', '''{NULL}''', '''{10,20,30,NULL,-1}''',
                                     format('ARRAY(SELECT g FROM generate_series(1, %s) g)', floor(random() * 50)))
      WHEN 'context' THEN recs_fuzz.pick('NULL', '''{}''', '''{"channel": "feed"}''', '''{"channel": "home"}''',
                                         '''{"channel": null}''', '''{"channel": 1}''', '''{"channel": true}''',
                                         '''{"channel": ["feed"]}''', '''{"channel": {}}''', '''[1]''', '''"feed"''',
                                         '''{"channel": ""}''', format('''{"channel": "%s"}''', repeat('z', 300)))
      WHEN 'rel' THEN recs_fuzz.pick('''recs_fuzz.w''', '''recs_fuzz.w''', '''recs_fuzz.v''', '''recs_fuzz.l''',
                                     '''recs_fuzz.empty''', '''recs.model''', 'NULL', '''pg_class''')
    END;
END $$;

-- a random small watches table with random types and dirty values
CREATE OR REPLACE FUNCTION recs_fuzz.make_tables() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int := floor(random() * 60)::int;
    id_type text := recs_fuzz.pick('bigint', 'bigint', 'integer', 'smallint', 'text');
    t_type text := recs_fuzz.pick('timestamptz', 'timestamptz', 'timestamp', 'date', 'bigint');
BEGIN
    DROP TABLE IF EXISTS recs_fuzz.w CASCADE;
    DROP TABLE IF EXISTS recs_fuzz.l CASCADE;
    DROP TABLE IF EXISTS recs_fuzz.empty CASCADE;
    EXECUTE format('CREATE TABLE recs_fuzz.w (learner_id %s, course_id %s, watched_at %s, watch_seconds float8)',
                   id_type, id_type, t_type);
    FOR i IN 1..n LOOP
        BEGIN
            EXECUTE format('INSERT INTO recs_fuzz.w VALUES (%s, %s, (%s)::%s, %s)',
                           CASE WHEN random() < 0.9 THEN (1 + floor(random() * 8))::text ELSE recs_fuzz.val('id') END,
                           CASE WHEN random() < 0.9 THEN (1 + floor(random() * 12))::text ELSE recs_fuzz.val('id') END,
                           CASE WHEN t_type = 'bigint' THEN (1700000000 + floor(random() * 1e7))::text
                                WHEN random() < 0.85 THEN format('''2025-01-01''::timestamptz + %s * interval ''1 hour''', floor(random() * 5000))
                                ELSE recs_fuzz.val('time') END,
                           t_type,
                           CASE WHEN random() < 0.8 THEN (random() * 400)::text ELSE recs_fuzz.val('secs') END);
        EXCEPTION WHEN OTHERS THEN NULL;   -- values the column type refuses
        END;
    END LOOP;
    CREATE TABLE recs_fuzz.l AS SELECT DISTINCT learner_id, recs_fuzz.pick('en', 'fr', NULL, '') AS language FROM recs_fuzz.w;
    CREATE TABLE recs_fuzz.empty (LIKE recs_fuzz.w);
    DROP TABLE IF EXISTS recs_fuzz.imp CASCADE;
    DROP TABLE IF EXISTS recs_fuzz.c CASCADE;
    CREATE TABLE recs_fuzz.imp AS
      SELECT learner_id, course_id, watched_at AS shown_at,
             CASE WHEN random() < 0.05 THEN NULL ELSE random() < 0.5 END AS clicked,
             random() < 0.1 AS bookmarked, watch_seconds,
             recs_fuzz.pick('home', 'feed', NULL, '', 'search') AS channel
        FROM recs_fuzz.w;
    CREATE TABLE recs_fuzz.c AS
      SELECT DISTINCT course_id, recs_fuzz.pick('a', 'b', NULL) AS topic,
             ARRAY[recs_fuzz.pick('x', 'y', NULL)] AS tags, (random() * 10)::numeric AS hours
        FROM recs_fuzz.w;
    CREATE OR REPLACE VIEW recs_fuzz.v AS SELECT * FROM recs_fuzz.w WHERE random() < 0.7;
END $$;

-- one random call of the public API, as SQL text
CREATE OR REPLACE FUNCTION recs_fuzz.random_call() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f text := recs_fuzz.pick('train', 'train', 'recommend', 'recommend', 'recommend', 'evaluate',
                             'activate', 'drop', 'model_id', 'sample', 'grant',
                             'ncf', 'ncf', 'similar', 'embed', 'score', 'glmix', 'glmix', 'blend', 'explain');
    small text := recs_fuzz.pick('NULL', '0', '-1', '1', '2', '8');
    args text[] := '{}';
BEGIN
    IF f = 'train' THEN
        args := ARRAY[recs_fuzz.val('rel')];
        IF random() < 0.6 THEN args := args || ('learners => ' || recs_fuzz.pick('''recs_fuzz.l''', 'NULL', '''recs_fuzz.w''')); END IF;
        IF random() < 0.3 THEN args := args || ('name => ' || recs_fuzz.val('name')); END IF;
        IF random() < 0.3 THEN args := args || ('window_days => ' || recs_fuzz.val('float')); END IF;
        IF random() < 0.3 THEN args := args || ('min_watch_seconds => ' || recs_fuzz.val('float')); END IF;
        IF random() < 0.2 THEN args := args || ('through => ' || recs_fuzz.val('time')); END IF;
        IF random() < 0.2 THEN args := args || ('smoothing => ' || recs_fuzz.val('float')); END IF;
        IF random() < 0.2 THEN args := args || ('activate => ' || recs_fuzz.val('bool')); END IF;
        IF random() < 0.15 THEN args := args || ('learner_column => ' || recs_fuzz.val('col')); END IF;
        IF random() < 0.15 THEN args := args || ('course_column => ' || recs_fuzz.val('col')); END IF;
        IF random() < 0.15 THEN args := args || ('time_column => ' || recs_fuzz.val('col')); END IF;
        IF random() < 0.15 THEN args := args || ('seconds_column => ' || recs_fuzz.val('col')); END IF;
        IF random() < 0.15 THEN args := args || ('language_column => ' || recs_fuzz.val('col')); END IF;
        RETURN format('SELECT recs.train_popularity(%s)', array_to_string(args, ', '));
    ELSIF f = 'recommend' THEN
        args := ARRAY[recs_fuzz.val('id')];
        IF random() < 0.7 THEN args := args || ('k => ' || recs_fuzz.val('int')); END IF;
        IF random() < 0.3 THEN args := args || ('exclude_watched => ' || recs_fuzz.val('bool')); END IF;
        IF random() < 0.3 THEN args := args || ('exclude => ' || recs_fuzz.val('ids')); END IF;
        IF random() < 0.3 THEN args := args || ('candidates => ' || recs_fuzz.val('ids')); END IF;
        IF random() < 0.3 THEN args := args || ('model => ' || recs_fuzz.val('id')); END IF;
        RETURN format('SELECT count(*) FROM recs.recommend(%s)', array_to_string(args, ', '));
    ELSIF f = 'ncf' THEN
        args := ARRAY[recs_fuzz.val('rel')];
        IF random() < 0.5 THEN args := args || ('courses => ' || recs_fuzz.pick('NULL', '''recs_fuzz.w''', '''recs_fuzz.l''')); END IF;
        args := args || ('epochs => ' || recs_fuzz.pick('NULL', '0', '-1', '1', '2'));
        args := args || ('layers => ' || recs_fuzz.pick('NULL', '''{}''', '''{8}''', '''{0}''', '''{-1}''', '''{8,4}''', '''{NULL}''', '''{4096}'''));
        args := args || ('dim => ' || recs_fuzz.pick('NULL', '0', '-1', '1', '4', '100000'));
        IF random() < 0.3 THEN args := args || ('negatives => ' || small); END IF;
        IF random() < 0.3 THEN args := args || ('batch_size => ' || small); END IF;
        IF random() < 0.3 THEN args := args || ('learning_rate => ' || recs_fuzz.val('float')); END IF;
        IF random() < 0.3 THEN args := args || ('window_days => ' || recs_fuzz.val('float')); END IF;
        IF random() < 0.3 THEN args := args || ('neighbours => ' || small); END IF;
        IF random() < 0.3 THEN args := args || ('threads => ' || recs_fuzz.pick('NULL', '0', '-1', '1', '2', '1000')); END IF;
        IF random() < 0.2 THEN args := args || ('labels_from => ' || recs_fuzz.val('time')); END IF;
        IF random() < 0.2 THEN args := args || ('through => ' || recs_fuzz.val('time')); END IF;
        IF random() < 0.15 THEN args := args || ('learner_column => ' || recs_fuzz.val('col')); END IF;
        RETURN format('SELECT recs.train_ncf(%s)', array_to_string(args, ', '));
    ELSIF f = 'similar' THEN
        RETURN format('SELECT count(*) FROM recs.similar_courses(%s, %s, model => %s)', recs_fuzz.val('id'),
                      recs_fuzz.val('int'), recs_fuzz.pick('NULL', recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model WHERE kind = ''ncf'')'));
    ELSIF f = 'embed' THEN
        RETURN format('SELECT recs.embed_learner(%s, %s)', recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model WHERE kind = ''ncf'')'),
                      recs_fuzz.val('ids'));
    ELSIF f = 'score' THEN
        IF random() < 0.5 THEN
            RETURN format('SELECT recs.%s(%s, %s, %s)', recs_fuzz.pick('score', 'glmix_score', 'glmix_logit'),
                          recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model)'),
                          recs_fuzz.val('id'), recs_fuzz.val('id'));
        END IF;
        -- glmix_score and glmix_logit take a context as well
        RETURN format('SELECT recs.%s(%s, %s, %s, %s)', recs_fuzz.pick('glmix_score', 'glmix_logit'),
                      recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model WHERE kind = ''glmix'')'),
                      recs_fuzz.val('id'), recs_fuzz.val('id'), recs_fuzz.val('context'));
    ELSIF f = 'explain' THEN
        RETURN format('SELECT count(*) FROM recs.%s', recs_fuzz.pick(
            format('explain(%s, %s, %s, %s)', recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model WHERE kind = ''glmix'')'),
                   recs_fuzz.val('id'), recs_fuzz.val('id'), recs_fuzz.val('context')),
            format('explain_recommendation(%s, %s, %s)', recs_fuzz.val('id'), recs_fuzz.val('id'),
                   recs_fuzz.pick('NULL', recs_fuzz.val('id'), '(SELECT max(model_id) FROM recs.model)'))));
    ELSIF f = 'glmix' THEN
        RETURN format('SELECT recs.train_glmix(%s, %s, %s, %s, %s, label => %s, weighting => %s, l2 => %s, passes => %s, min_rows => %s, random_effects => %s)',
                      recs_fuzz.pick('''recs_fuzz.imp''', '''recs_fuzz.imp''', '''recs_fuzz.w''', 'NULL'),
                      recs_fuzz.pick('''recs_fuzz.l''', '''recs_fuzz.w''', 'NULL'),
                      recs_fuzz.pick('''recs_fuzz.c''', '''recs_fuzz.l''', 'NULL'),
                      recs_fuzz.pick('''{language}''', '''{}''', '''{nope}''', 'NULL', '''{language,language}''', '''{learner_id}'''),
                      recs_fuzz.pick('''{topic}''', '''{}''', '''{nope}''', 'NULL', '''{tags}''', '''{hours}'''),
                      recs_fuzz.pick('''clicked''', '''bookmarked''', '''either''', '''x''', 'NULL'),
                      recs_fuzz.pick('''none''', '''watch_time''', '''x''', 'NULL'),
                      recs_fuzz.pick('NULL', '''{1,1,1}''', '''{0,1,1}''', '''{-1,1,1}''', '''{1}''', '''{NaN,1,1}'''),
                      small, small,
                      recs_fuzz.pick('NULL', 'NULL', '''{learner_id,channel}''', '''{channel}''', '''{course_id,channel,language}'''));
    ELSIF f = 'blend' THEN
        RETURN format('SELECT recs.train_blend(%s, %s, %s, random_effects => %s, l2 => %s, passes => %s)',
                      recs_fuzz.pick('ARRAY(SELECT model_id FROM recs.model ORDER BY random() LIMIT 2)', '''{}''', '''{NULL}''', 'NULL',
                                     'ARRAY(SELECT model_id FROM recs.model WHERE kind <> ''blend'' LIMIT 3)'),
                      recs_fuzz.pick('''recs_fuzz.imp''', '''recs_fuzz.w''', 'NULL'),
                      recs_fuzz.pick('''recs_fuzz.l''', 'NULL'),
                      recs_fuzz.pick('NULL', '''{learner_id}''', '''{language}''', '''{}''', '''{nope}''', '''{NULL}'''),
                      recs_fuzz.pick('NULL', '''{1,1}''', '''{1}''', '''{0,1}'''), small);
    ELSIF f = 'evaluate' THEN
        RETURN format('SELECT recs.evaluate((SELECT max(model_id) FROM recs.model), %s, %s, %s)',
                      recs_fuzz.val('rel'), recs_fuzz.val('int'), recs_fuzz.pick('''full''', '''sampled''', '''x''', 'NULL'));
    ELSIF f = 'activate' THEN
        RETURN format('SELECT recs.activate(%s)', recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT min(model_id) FROM recs.model)'));
    ELSIF f = 'drop' THEN
        -- every model but the driver's keeper
        RETURN format('SELECT recs.drop_model(x, %s) FROM (SELECT (%s)::bigint AS x) s '
                      'WHERE x IS DISTINCT FROM (SELECT min(model_id) FROM recs.model WHERE name = ''keeper'')',
                      recs_fuzz.val('bool'),
                      recs_fuzz.pick(recs_fuzz.val('id'), '(SELECT min(model_id) FROM recs.model)'));
    ELSIF f = 'model_id' THEN
        RETURN format('SELECT recs.model_id(%s)', recs_fuzz.val('name'));
    ELSIF f = 'grant' THEN
        RETURN format('SELECT recs.grant_access(%s)', recs_fuzz.pick('NULL', '''public''', '''nosuchrole'''));
    ELSE
        RETURN format('SELECT count(*) FROM recs.generate_sample(''recs_fuzz_s'', %s, %s, %s, replace => %s)',
                      recs_fuzz.pick('1', '5', '0', '-1', 'NULL', '30'), recs_fuzz.pick('12', '5', '20', 'NULL', '2000000'),
                      recs_fuzz.val('int'), recs_fuzz.val('bool'));
    END IF;
END $$;

-- run `calls` random calls from `seed`; returns one row per call outcome class
CREATE OR REPLACE FUNCTION recs_fuzz.run(seed float8, calls int,
    OUT tried int, OUT ok int, OUT expected_errors int, OUT findings int, OUT finding_text text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    sql text;
    state text;
    msg text;
BEGIN
    PERFORM setseed(seed);
    tried := 0; ok := 0; expected_errors := 0; findings := 0; finding_text := '';
    PERFORM recs_fuzz.make_tables();
    FOR i IN 1..calls LOOP
        IF random() < 0.1 THEN PERFORM recs_fuzz.make_tables(); END IF;
        sql := recs_fuzz.random_call();
        tried := tried + 1;
        BEGIN
            EXECUTE sql;
            ok := ok + 1;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            IF state LIKE 'XX%' OR state = '57014' AND false THEN
                findings := findings + 1;
                finding_text := finding_text || format(E'%s: %s\n  in: %s\n', state, msg, sql);
            ELSE
                expected_errors := expected_errors + 1;
            END IF;
        END;
    END LOOP;
END $$;
