-- models.sql -- the corrupt-model fuzzer: random mutations of the rows of
-- trained models, then serving.  Schema recs_mfuzz holds:
--   setup()        trains one small model of each kind (popularity, ncf,
--                  glmix, and a blend of the three) on a generated sample;
--   touch(m)       makes the serving cache reload model m (and the blends
--                  that contain it): the one place that knows the cache key;
--   mutate(...)    builds one random mutation of one random row;
--   serve(...)     every serving entry point on the model, each call in its
--                  own subtransaction, collecting SQLSTATEs;
--   run(seed, n)   n cases, each inside a subtransaction that is always
--                  rolled back, so every case starts from the trained models.
-- A case is "served" (no call failed), "clean" (the mutation was refused by
-- a constraint, or serving failed with a user-facing SQLSTATE such as XX001
-- data_corrupted) or a finding: an internal error (class XX other than
-- XX001), or a mutation that must be caught (a NaN, infinity, NULL or
-- out-of-range index in a row serving loads) served without an error.  A
-- crash ends the session; the driver (models.sh) detects it.

CREATE SCHEMA IF NOT EXISTS recs_mfuzz;

CREATE OR REPLACE FUNCTION recs_mfuzz.pick(VARIADIC choices text[]) RETURNS text
LANGUAGE sql VOLATILE AS $$ SELECT choices[1 + floor(random() * array_length(choices, 1))::int] $$;

-- force the reload of model m: the serving cache is keyed by the model's
-- cache_token, and a blend caches its components' tokens too.  A fresh
-- random token each time: a token seen in an earlier (rolled back) case may
-- still key a part in this backend's cache
CREATE OR REPLACE FUNCTION recs_mfuzz.touch(m bigint) RETURNS void
LANGUAGE sql VOLATILE AS $$
    UPDATE recs.model SET cache_token = (random() * 9.2e18)::bigint
     WHERE model_id = m
        OR model_id IN (SELECT bc.model_id FROM recs.blend_component bc WHERE bc.component_id = m)
$$;

CREATE OR REPLACE FUNCTION recs_mfuzz.setup() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM count(*) FROM recs.generate_sample('mf', 150, 25, 11);
    CREATE VIEW mf.w_early AS SELECT * FROM mf.watches WHERE watched_at < '2025-09-01';
    CREATE VIEW mf.imp_early AS SELECT * FROM mf.impressions WHERE shown_at < '2025-09-01';
    CREATE TABLE mf.test AS SELECT * FROM mf.impressions WHERE shown_at >= '2025-09-01' LIMIT 60;
    PERFORM recs.train_popularity('mf.w_early', 'mf.learners', name => 'mf_pop', through => '2025-08-31');
    PERFORM recs.train_ncf('mf.w_early', 'mf_ncf', courses => 'mf.courses', layers => '{8,6}', dim => 4,
                           epochs => 1, through => '2025-08-31');
    PERFORM recs.train_glmix('mf.imp_early', 'mf.learners', 'mf.courses', '{industry,segment,language}',
                             '{topic,difficulty,language}', name => 'mf_glmix', passes => 1,
                             random_effects => '{learner_id,course_id,segment,channel}');
    PERFORM recs.train_blend(ARRAY[recs.model_id('mf_pop'), recs.model_id('mf_glmix'), recs.model_id('mf_ncf')],
                             'mf.impressions', 'mf.learners', random_effects => '{learner_id,segment}',
                             name => 'mf_blend');
END $$;

-- a random replacement value (SQL text) for an element or a scalar of type t
CREATE OR REPLACE FUNCTION recs_mfuzz.value(t text, cur text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN CASE
      WHEN t IN ('real', 'double precision') THEN
        recs_mfuzz.pick('''NaN''', '''Infinity''', '''-Infinity''', 'NULL', '1e30', '-1e30', '0', '-1',
                        '1e300', (random() * 4 - 2)::text, format('(%s) * 2', cur))
      WHEN t = 'integer' THEN
        recs_mfuzz.pick('-1', '0', '1', '2000000000', '-2147483648', '2147483647', '65536', '8192', 'NULL',
                        format('(%s) + 1', cur), format('(%s) - 1', cur), (floor(random() * 40))::text)
      WHEN t = 'bigint' THEN
        recs_mfuzz.pick('-1', '0', 'NULL', '9223372036854775807', format('(%s) + 1', cur),
                        format('(%s) - 1', cur), (1 + floor(random() * 30))::text,
                        (100001 + floor(random() * 150))::text,
                        (SELECT max(model_id)::text FROM recs.model), (1 + floor(random() * 5))::text)
      WHEN t = 'text' THEN
        recs_mfuzz.pick('NULL', '''''', '''x''', '''learner''', '''course''', '''fixed''', '''logit''',
                        '''identity''', '''en''', '''learner_id''', '''segment''', '''industry:topic''',
                        '''industry:nocol''', '''nocolon''', '''100001''', '''1''', '''global''')
      WHEN t = 'boolean' THEN recs_mfuzz.pick('NULL', format('NOT (%s)', cur))
      WHEN t = 'jsonb' THEN
        format('jsonb_set(%s, %L, %L)', cur,
               recs_mfuzz.pick('{random_effects}', '{rerank_top}', '{learner_column}', '{dim}'),
               recs_mfuzz.pick('null', '-5', '"x"', '[]', '[null]', '["learner_id","learner_id"]',
                               '["a","b","c","d","e"]', '1e10', '2147483648', '{}', '["segment"]',
                               '"segment"', '7', '["learner_id","industry"]'))
      ELSE 'NULL'
    END;
END $$;

/*
 * One random mutation of one random row of model m's table tbl: the
 * statement (with $1 = the row's ctid) and whether it must be caught when
 * serving loads the row (must).
 */
CREATE OR REPLACE FUNCTION recs_mfuzz.mutate(m bigint, tbl text, rid tid, OUT sql text, OUT must boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    col text;
    typ text;
    elem text;
    card int;
    i int;
    v text;
    op text;
    loaded boolean;
BEGIN
    must := false;
    IF random() < 0.06 THEN
        sql := format('DELETE FROM recs.%I WHERE ctid = $1', tbl);
        RETURN;
    END IF;
    IF random() < 0.04 THEN
        -- a copy of the row under another key (PRIMARY KEY/UNIQUE may refuse it)
        SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO col, typ
          FROM pg_attribute a
         WHERE a.attrelid = format('recs.%I', tbl)::regclass AND a.attnum > 0 AND NOT a.attisdropped
           AND a.attname NOT IN ('model_id') AND format_type(a.atttypid, a.atttypmod) IN ('integer', 'bigint', 'text')
           AND a.attidentity = ''
         ORDER BY random() LIMIT 1;
        IF col IS NOT NULL AND tbl <> 'model' THEN
            -- copy the row, then change the copy's key
            sql := format('WITH c AS (INSERT INTO recs.%1$I SELECT * FROM recs.%1$I WHERE ctid = $1 RETURNING ctid AS new_ctid) '
                          'UPDATE recs.%1$I SET %2$I = %3$s WHERE ctid = (SELECT new_ctid FROM c)',
                          tbl, col, recs_mfuzz.value(typ, quote_ident(col)));
            RETURN;
        END IF;
    END IF;
    SELECT a.attname, format_type(a.atttypid, a.atttypmod) INTO col, typ
      FROM pg_attribute a
     WHERE a.attrelid = format('recs.%I', tbl)::regclass AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname NOT IN ('model_id', 'created_at', 'trained_through', 'status')
       AND (tbl <> 'model' OR a.attname IN ('kind', 'params', 'version'))
     ORDER BY random() LIMIT 1;
    IF typ LIKE '%[]' THEN
        elem := left(typ, -2);
        EXECUTE format('SELECT cardinality(%I) FROM recs.%I WHERE ctid = $1', col, tbl) INTO card USING rid;
        card := coalesce(card, 0);
        -- the columns every serving path loads whole, for every row
        loaded := (tbl, col) IN (('ncf_course', 'embedding'), ('glmix_entity', 'values'), ('glmix_entity', 'features'),
                                 ('glmix_coef', 'coef'), ('ncf_learner', 'embedding'), ('blend_coef', 'coefs'))
                  OR (tbl = 'ncf_layer' AND col IN ('weight', 'bias')
                      AND (SELECT tower FROM recs.ncf_layer WHERE ctid = rid) = 'learner');
        op := recs_mfuzz.pick('set', 'set', 'set', 'set', 'truncate', 'extend', 'twod', 'empty', 'shuffle', 'huge', 'null');
        IF op = 'set' THEN
            i := 1 + floor(random() * (card + 2))::int;
            v := recs_mfuzz.value(elem, format('%I[%s]', col, i));
            sql := format('UPDATE recs.%I SET %I[%s] = %s WHERE ctid = $1', tbl, col, i, v);
            must := loaded AND (v IN ('''NaN''', '''Infinity''', '''-Infinity''', 'NULL', '2000000000', '-1',
                                      '-2147483648', '2147483647') AND elem <> 'text'
                                OR i > card + 1);
            -- a negative float is a valid weight, not a corruption
            IF v = '-1' AND elem IN ('real', 'double precision') THEN must := i > card + 1 AND loaded; END IF;
        ELSIF op = 'truncate' THEN
            sql := format('UPDATE recs.%I SET %I = %I[1:%s] WHERE ctid = $1', tbl, col, col, floor(random() * card));
            must := loaded AND card > 0 AND tbl IN ('ncf_course', 'glmix_coef', 'ncf_layer', 'ncf_learner', 'blend_coef');
        ELSIF op = 'extend' THEN
            sql := format('UPDATE recs.%I SET %I = %I || %I[1:%s] WHERE ctid = $1', tbl, col, col, col, 1 + floor(random() * 3));
            must := loaded AND card > 0 AND tbl IN ('ncf_course', 'glmix_coef', 'ncf_layer', 'ncf_learner', 'blend_coef');
        ELSIF op = 'twod' THEN
            sql := format('UPDATE recs.%I SET %I = ARRAY[%I, %I] WHERE ctid = $1', tbl, col, col, col);
            must := loaded AND card > 0;
        ELSIF op = 'empty' THEN
            sql := format('UPDATE recs.%I SET %I = ''{}'' WHERE ctid = $1', tbl, col);
        ELSIF op = 'shuffle' THEN
            sql := format('UPDATE recs.%I SET %I = ARRAY(SELECT e FROM unnest(%I) e ORDER BY random()) WHERE ctid = $1',
                          tbl, col, col);
        ELSIF op = 'huge' THEN
            sql := format('UPDATE recs.%I SET %I = array_fill(%s::%s, ARRAY[%s]) WHERE ctid = $1', tbl, col,
                          recs_mfuzz.value(elem, '0'), elem, recs_mfuzz.pick('100000', '70000', '9000', '1000000'));
        ELSE
            sql := format('UPDATE recs.%I SET %I = NULL WHERE ctid = $1', tbl, col);
        END IF;
    ELSE
        sql := format('UPDATE recs.%I SET %I = %s WHERE ctid = $1', tbl, col, recs_mfuzz.value(typ, quote_ident(col)));
    END IF;
END $$;

-- every serving entry point on model m; the SQLSTATEs of the calls that failed
CREATE OR REPLACE FUNCTION recs_mfuzz.serve(m bigint, kind text, learner bigint, course bigint,
                                            blend bigint, OUT codes text[], OUT messages text[])
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    calls text[] := ARRAY[
        format('SELECT count(*) FROM recs.recommend(%s, 5, model => %s)', learner, m),
        format('SELECT count(*) FROM recs.recommend(999999, 5, model => %s, recent => ''{1,2,3}'')', m),
        format('SELECT count(*) FROM recs.recommend(999998, 3, model => %s)', m),
        format('SELECT recs.score(%s, %s, %s)', m, learner, course),
        format('SELECT count(*) FROM recs.recommend_all(2, model => %s, learners => ARRAY[%s, 100003]::bigint[])', m, learner),
        format('SELECT count(*) FROM recs.explain_recommendation(%s, %s, model => %s)', learner, course, m)];
    c text;
BEGIN
    codes := '{}';
    messages := '{}';
    IF kind = 'ncf' THEN
        calls := calls || ARRAY[format('SELECT count(*) FROM recs.similar_courses(%s, 4, model => %s)', course, m),
                                format('SELECT recs.embed_learner(%s, ''{1,2}'')', m),
                                format('SELECT count(*) FROM recs.course_map(%s)', m)];
    ELSIF kind = 'glmix' THEN
        calls := calls || ARRAY[format('SELECT count(*) FROM recs.explain(%s, %s, %s)', m, learner, course),
                                format('SELECT recs.glmix_score(%s, %s, %s)', m, learner, course),
                                format('SELECT count(*) FROM recs.explain(%s, %s, %s, context => ''{"channel": "feed"}'')', m, learner, course),
                                format('SELECT recs.glmix_score(%s, %s, %s, context => ''{"channel": "search"}'')', m, learner, course)];
    END IF;
    IF blend IS NOT NULL AND blend <> m THEN
        calls := calls || format('SELECT count(*) FROM recs.recommend(%s, 5, model => %s)', learner, blend);
    END IF;
    IF random() < 0.03 THEN
        calls := calls || format('SELECT count(*) FROM recs.evaluate(%s, ''mf.test'', k => 3)', m);
    END IF;
    FOREACH c IN ARRAY calls LOOP
        BEGIN
            EXECUTE c;
        EXCEPTION WHEN OTHERS THEN
            codes := codes || SQLSTATE::text;
            messages := messages || (c || ': ' || SQLERRM);
        END;
    END LOOP;
END $$;

/*
 * n cases from seed: returns the counts, and the text of the findings (at
 * most 20).  Each case runs in a subtransaction rolled back at its end.
 */
CREATE OR REPLACE FUNCTION recs_mfuzz.run(seed float8, n int,
    OUT cases int, OUT served int, OUT clean int, OUT findings int, OUT finding_text text, OUT codes text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    models bigint[];
    kinds text[];
    blend bigint := recs.model_id('mf_blend');
    tables text[];
    m bigint;
    kind text;
    tbl text;
    rid tid;
    learner bigint;
    course bigint;
    mut record;
    res record;
    stage text;
    code_counts jsonb := '{}';
    bad text;
    t0 timestamptz;
BEGIN
    PERFORM setseed(seed);
    cases := 0; served := 0; clean := 0; findings := 0; finding_text := '';
    SELECT array_agg(model_id ORDER BY model_id), array_agg(x.kind ORDER BY model_id) INTO models, kinds
      FROM recs.model x WHERE name IN ('mf_pop', 'mf_ncf', 'mf_glmix', 'mf_blend');
    FOR c IN 1..n LOOP
        cases := cases + 1;
        m := models[1 + floor(random() * array_length(models, 1))::int];
        kind := kinds[array_position(models, m)];
        tables := ARRAY['model', 'model_learner'] || CASE kind
            WHEN 'popularity' THEN ARRAY['course_popularity', 'course_popularity', 'course_popularity']
            WHEN 'ncf' THEN ARRAY['ncf_layer', 'ncf_layer', 'ncf_course', 'ncf_course', 'ncf_learner', 'ncf_cowatch']
            WHEN 'glmix' THEN ARRAY['glmix_coordinate', 'glmix_column', 'glmix_entity', 'glmix_entity', 'glmix_coef', 'glmix_coef']
            ELSE ARRAY['blend_component', 'blend_component', 'blend_coef', 'blend_coef', 'blend_learner'] END;
        tbl := tables[1 + floor(random() * array_length(tables, 1))::int];
        EXECUTE format('SELECT ctid FROM recs.%I WHERE model_id = $1 ORDER BY random() LIMIT 1', tbl) INTO rid USING m;
        SELECT learner_id INTO learner FROM recs.model_learner WHERE model_id = m ORDER BY random() LIMIT 1;
        -- a row of one learner: serve that learner
        IF tbl IN ('model_learner', 'ncf_learner', 'blend_learner') THEN
            EXECUTE format('SELECT learner_id FROM recs.%I WHERE ctid = $1', tbl) INTO learner USING rid;
        ELSIF tbl = 'blend_coef' THEN
            SELECT coalesce(CASE WHEN coordinate = 'learner_id' THEN entity::bigint END, learner) INTO learner
              FROM recs.blend_coef WHERE ctid = rid;
        -- a GLMix learner's rows are read only when that learner is served
        ELSIF tbl = 'glmix_entity' THEN
            learner := coalesce((SELECT id FROM recs.glmix_entity WHERE ctid = rid AND side = 'learner'), learner);
        ELSIF tbl = 'glmix_coef' THEN
            -- a learner-keyed vector: its learner, or a learner with that key
            learner := coalesce((SELECT CASE WHEN k.by_id THEN c.entity::bigint
                                             ELSE (SELECT min(e.id) FROM recs.glmix_entity e
                                                    WHERE e.model_id = c.model_id AND e.side = 'learner'
                                                      AND e.keys[k.position] = c.entity) END
                                   FROM recs.glmix_coef c
                                   JOIN recs.glmix_coordinate k ON k.model_id = c.model_id AND k.name = c.coordinate
                                  WHERE c.ctid = rid AND k.keyed_by = 'learner'), learner);
        END IF;
        learner := coalesce(learner, 100001);
        SELECT course_id INTO course FROM recs.course_popularity
         WHERE model_id = models[1] AND language IS NULL ORDER BY random() LIMIT 1;
        mut := recs_mfuzz.mutate(m, tbl, rid);
        IF current_setting('recs_mfuzz.verbose', true) = 'on' THEN
            RAISE WARNING 'case %: % (model %, %, rid %, learner %, course %)', c, mut.sql, m, tbl, rid, learner, course;
        END IF;
        stage := 'mutate';
        t0 := clock_timestamp();
        BEGIN
            EXECUTE mut.sql USING rid;
            PERFORM recs_mfuzz.touch(m);
            stage := 'serve';
            res := recs_mfuzz.serve(m, kind, learner, course, CASE WHEN kind = 'blend' THEN NULL ELSE blend END);
            RAISE EXCEPTION USING ERRCODE = 'RSOK0';
        EXCEPTION
            WHEN SQLSTATE 'RSOK0' THEN NULL;
            WHEN OTHERS THEN
                res := NULL;
                bad := SQLSTATE;
                stage := stage || ' ' || SQLSTATE;
        END;
        IF stage LIKE 'mutate%' THEN
            clean := clean + 1;
            code_counts := jsonb_set(code_counts, ARRAY['update ' || bad],
                                     to_jsonb(coalesce((code_counts->>('update ' || bad))::int, 0) + 1));
        ELSIF res IS NULL THEN
            findings := findings + 1;
            finding_text := finding_text || format(E'%s on %s.%s: serving failed outside its calls (%s)\n', mut.sql, kind, tbl, stage);
        ELSE
            bad := (SELECT string_agg(x, ',') FROM unnest(res.codes) x WHERE x LIKE 'XX%' AND x <> 'XX001');
            IF bad IS NOT NULL THEN
                findings := findings + 1;
                IF findings <= 20 THEN
                    finding_text := finding_text || format(E'%s on %s model %s (%s, rid %s): %s\n', mut.sql, kind, m, tbl, rid,
                        (SELECT string_agg(x, ' | ') FROM unnest(res.messages) x));
                END IF;
            ELSIF cardinality(res.codes) = 0 THEN
                IF mut.must THEN
                    findings := findings + 1;
                    IF findings <= 20 THEN
                        finding_text := finding_text || format(E'undetected: %s on %s model %s (%s, rid %s) served\n',
                                                                mut.sql, kind, m, tbl, rid);
                    END IF;
                ELSE
                    served := served + 1;
                END IF;
            ELSE
                clean := clean + 1;
                FOR bad IN SELECT DISTINCT x FROM unnest(res.codes) x LOOP
                    code_counts := jsonb_set(code_counts, ARRAY[bad],
                                             to_jsonb(coalesce((code_counts->>bad)::int, 0) + 1));
                END LOOP;
            END IF;
        END IF;
        IF clock_timestamp() - t0 > interval '10 seconds' THEN
            findings := findings + 1;
            finding_text := finding_text || format(E'slow (%s): %s on %s.%s\n', clock_timestamp() - t0, mut.sql, kind, tbl);
        END IF;
    END LOOP;
    codes := code_counts::text;
END $$;
