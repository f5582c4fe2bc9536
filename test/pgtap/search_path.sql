-- search_path.sql -- no object in a schema of the caller's search_path runs
-- inside recs.
--
-- A schema "evil", first in the path, holds look-alikes of the built-ins:
-- every pg_catalog function of up to three arguments of ordinary types and
-- every binary operator of ordinary types (same name, same argument types,
-- so they win over pg_catalog's under search_path = evil, pg_catalog),
-- monomorphic versions of the polymorphic functions and aggregates SQL tends
-- to use (unnest, array_agg, max, min, sum, count(*) ...), and domains named
-- like the common types (a cast to "int8" would find evil.int8, whose CHECK
-- runs code).  Each look-alike counts itself in the sequence evil.hits and
-- then does what the original does, as a real attack would.  Every trainer
-- and serving function runs under that path; none may reach a look-alike.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(31);


CREATE SCHEMA evil;
CREATE SEQUENCE evil.hits;
CREATE FUNCTION evil.hit() RETURNS boolean LANGUAGE sql VOLATILE
    AS $$SELECT pg_catalog.nextval('evil.hits') IS NULL$$;
CREATE FUNCTION public.sp_hits() RETURNS bigint LANGUAGE sql VOLATILE
    AS $$SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM evil.hits$$;

-- functions: same signature, counted, then the original
DO $$
DECLARE
    f record;
    n int := 0;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) AS args,
               p.prorettype::regtype AS ret, p.pronargs
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.prokind = 'f' AND NOT p.proretset
           AND p.pronargs BETWEEN 0 AND 3 AND p.provariadic = 0
           AND (SELECT t.typtype NOT IN ('p') FROM pg_catalog.pg_type t WHERE t.oid = p.prorettype)
           AND NOT EXISTS (SELECT FROM pg_catalog.unnest(p.proargtypes::oid[]) a(t)
                             JOIN pg_catalog.pg_type t ON t.oid = a.t WHERE t.typtype = 'p')
           AND p.proname NOT IN ('nextval', 'currval', 'setval', 'lastval')
    LOOP
        BEGIN
            EXECUTE format('CREATE FUNCTION evil.%I(%s) RETURNS %s LANGUAGE sql VOLATILE AS %L',
                           f.proname, f.args, f.ret,
                           format('SELECT CASE WHEN evil.hit() THEN NULL ELSE pg_catalog.%I(%s) END',
                                  f.proname,
                                  (SELECT coalesce(string_agg('$' || i, ', ' ORDER BY i), '')
                                     FROM generate_series(1, f.pronargs) i)));
            n := n + 1;
        EXCEPTION WHEN others THEN
            NULL;   -- a few built-ins cannot be redeclared (reserved names and the like)
        END;
    END LOOP;
    PERFORM set_config('sp.functions', n::text, true);
END
$$;

-- binary operators: same name and argument types
DO $$
DECLARE
    op record;
    n int := 0;
BEGIN
    FOR op IN
        SELECT o.oid, o.oprname, o.oprleft::regtype AS l, o.oprright::regtype AS r, o.oprresult::regtype AS res
          FROM pg_catalog.pg_operator o
          JOIN pg_catalog.pg_type tl ON tl.oid = o.oprleft
          JOIN pg_catalog.pg_type tr ON tr.oid = o.oprright
          JOIN pg_catalog.pg_type tres ON tres.oid = o.oprresult
         WHERE o.oprnamespace = 'pg_catalog'::regnamespace AND o.oprkind = 'b'
           AND tl.typtype <> 'p' AND tr.typtype <> 'p' AND tres.typtype <> 'p'
    LOOP
        BEGIN
            EXECUTE format('CREATE FUNCTION evil.op_%s(%s, %s) RETURNS %s LANGUAGE sql VOLATILE AS %L',
                           op.oid, op.l, op.r, op.res,
                           format('SELECT CASE WHEN evil.hit() THEN NULL ELSE $1 OPERATOR(pg_catalog.%s) $2 END',
                                  op.oprname));
            EXECUTE format('CREATE OPERATOR evil.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = evil.op_%s)',
                           op.oprname, op.l, op.r, op.oid);
            n := n + 1;
        EXCEPTION WHEN others THEN
            NULL;
        END;
    END LOOP;
    PERFORM set_config('sp.operators', n::text, true);
END
$$;

-- polymorphic built-ins, as exact-match monomorphic look-alikes
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['int8', 'int4', 'float8', 'float4', 'text', 'timestamptz', 'numeric', 'bool'] LOOP
        EXECUTE format('CREATE FUNCTION evil.unnest(%1$s[]) RETURNS SETOF %1$s LANGUAGE sql VOLATILE AS '
                       '$f$SELECT x FROM pg_catalog.unnest($1) x WHERE NOT evil.hit()$f$', t);
        EXECUTE format('CREATE FUNCTION evil.keep_last(%1$s, %1$s) RETURNS %1$s LANGUAGE sql VOLATILE AS '
                       '$f$SELECT CASE WHEN evil.hit() THEN NULL ELSE $2 END$f$', t);
        EXECUTE format('CREATE FUNCTION evil.append(%1$s[], %1$s) RETURNS %1$s[] LANGUAGE sql VOLATILE AS '
                       '$f$SELECT CASE WHEN evil.hit() THEN NULL ELSE pg_catalog.array_append($1, $2) END$f$', t);
        EXECUTE format('CREATE AGGREGATE evil.array_agg(%1$s) (SFUNC = evil.append, STYPE = %1$s[])', t);
        EXECUTE format('CREATE AGGREGATE evil.max(%1$s) (SFUNC = evil.keep_last, STYPE = %1$s)', t);
        EXECUTE format('CREATE AGGREGATE evil.min(%1$s) (SFUNC = evil.keep_last, STYPE = %1$s)', t);
        IF t IN ('int8', 'int4', 'float8', 'float4', 'numeric') THEN
            EXECUTE format('CREATE AGGREGATE evil.sum(%1$s) (SFUNC = evil.keep_last, STYPE = %1$s)', t);
            EXECUTE format('CREATE AGGREGATE evil.avg(%1$s) (SFUNC = evil.keep_last, STYPE = %1$s)', t);
        END IF;
        EXECUTE format('CREATE DOMAIN evil.%1$I AS pg_catalog.%1$I CHECK (evil.hit() IS NOT NULL)', t);
    END LOOP;
    CREATE FUNCTION evil.count_step(int8) RETURNS int8 LANGUAGE sql VOLATILE
        AS $f$SELECT CASE WHEN evil.hit() THEN NULL ELSE $1 OPERATOR(pg_catalog.+) 1 END$f$;
    CREATE AGGREGATE evil.count(*) (SFUNC = evil.count_step, STYPE = int8, INITCOND = '0');
    CREATE FUNCTION evil.generate_series(int4, int4) RETURNS SETOF int4 LANGUAGE sql VOLATILE
        AS $f$SELECT x FROM pg_catalog.generate_series($1, $2) x WHERE NOT evil.hit()$f$;
    CREATE FUNCTION evil.generate_series(int8, int8) RETURNS SETOF int8 LANGUAGE sql VOLATILE
        AS $f$SELECT x FROM pg_catalog.generate_series($1, $2) x WHERE NOT evil.hit()$f$;
END
$$;

SELECT cmp_ok(current_setting('sp.functions')::int, '>', 1500, 'look-alikes of the built-in functions are planted');
SELECT cmp_ok(current_setting('sp.operators')::int, '>', 400, 'look-alikes of the built-in operators are planted');

-- the trap works: an unqualified call under the evil path reaches a look-alike
SET LOCAL search_path = evil, pg_catalog, public;
SELECT date_part('epoch', now()) AS probe \gset
SELECT max(x::int8) AS probe FROM (VALUES ('1'), ('2')) v(x) \gset
RESET search_path;
SELECT cmp_ok(sp_hits(), '>=', 3::bigint, 'the planted look-alikes catch unqualified SQL');

-- sp_run(sql): hits while sql runs with evil first in the path (-1 if it fails)
CREATE FUNCTION public.sp_run(sql text) RETURNS bigint LANGUAGE plpgsql
SET search_path = pg_catalog, public
AS $$
DECLARE
    before bigint := public.sp_hits();
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'evil, pg_catalog, public', true);
    EXECUTE sql;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, public', true);
    RETURN public.sp_hits() - before;
EXCEPTION WHEN others THEN
    RAISE WARNING 'sp_run: %: %', SQLSTATE, SQLERRM;
    RETURN -1;
END
$$;

-- training
SELECT is(sp_run($$SELECT * FROM recs.generate_sample('sp', 300, 40, 7)$$), 0::bigint,
          'generate_sample runs no look-alike');
CREATE TABLE sp.test AS SELECT learner_id, course_id FROM sp.watches WHERE watched_at >= '2025-12-01';
CREATE VIEW sp.early_watches AS SELECT * FROM sp.watches WHERE watched_at < '2025-12-01';
CREATE VIEW sp.early_impressions AS SELECT * FROM sp.impressions WHERE shown_at < '2025-12-01';
SELECT is(sp_run($$SELECT recs.train_popularity('sp.early_watches', 'sp.learners', name => 'sp_pop')$$), 0::bigint,
          'train_popularity runs no look-alike');
SELECT is(sp_run($$SELECT recs.train_ncf('sp.early_watches', name => 'sp_ncf', courses => 'sp.courses',
                                         layers => '{16}', dim => 8, epochs => 2, activate => false)$$), 0::bigint,
          'train_ncf runs no look-alike');
SELECT is(sp_run($$SELECT recs.train_glmix('sp.early_impressions', 'sp.learners', 'sp.courses', '{segment,language}',
                                           '{topic,language}', name => 'sp_glmix', crosses => '{segment:topic}',
                                           activate => false)$$), 0::bigint,
          'train_glmix runs no look-alike');
SELECT is(sp_run($$SELECT recs.train_blend(ARRAY[recs.model_id('sp_ncf'), recs.model_id('sp_glmix'),
                                                 recs.model_id('sp_pop')],
                                           'sp.impressions', 'sp.learners', name => 'sp_blend')$$), 0::bigint,
          'train_blend runs no look-alike');
SELECT is(sp_run($$SELECT recs.train_blend(ARRAY[recs.model_id('sp_ncf'), recs.model_id('sp_glmix')],
                                           'sp.watches', name => 'sp_rerank', time_column => 'watched_at',
                                           negatives => 5, rerank_top => 20, activate => false)$$), 0::bigint,
          'train_blend with rerank_top runs no look-alike');
SELECT is(sp_run($$SELECT recs.train_all('sp.watches', 'sp.impressions', 'sp.learners', 'sp.courses',
                                         name => 'sp_all', blend_days => 30, epochs => 2, activate => false)$$),
          0::bigint, 'train_all runs no look-alike');

-- serving, one call per function and model kind
SELECT is(sp_run($$SELECT * FROM recs.recommend(100001, 5)$$), 0::bigint,
          'recommend (the active blend) runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend(100001, 5, model => recs.model_id('sp_pop'))$$), 0::bigint,
          'recommend (popularity) runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend(100002, 5, model => recs.model_id('sp_ncf'))$$), 0::bigint,
          'recommend (ncf) runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend(100003, 5, model => recs.model_id('sp_glmix'))$$), 0::bigint,
          'recommend (glmix) runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend(100004, 5, model => recs.model_id('sp_rerank'))$$), 0::bigint,
          'recommend (a re-ranking blend) runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend(999999, 5, recent => '{1,2}', model => recs.model_id('sp_ncf'),
                                                exclude => '{3}', candidates => '{1,2,3,4,5,6,7,8}')$$), 0::bigint,
          'recommend with recent, exclude and candidates runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.recommend_all(3, learners => '{100001,100002,999999}')$$), 0::bigint,
          'recommend_all runs no look-alike');
SELECT is(sp_run($$SELECT recs.score(recs.model_id('sp_blend'), 100001, 1)$$), 0::bigint,
          'score runs no look-alike');
SELECT is(sp_run($$SELECT recs.glmix_score(recs.model_id('sp_glmix'), 100001, 1)$$), 0::bigint,
          'glmix_score runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.explain(recs.model_id('sp_glmix'), 100001, 1)$$), 0::bigint,
          'explain runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.explain_recommendation(100001, 1)$$), 0::bigint,
          'explain_recommendation runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.similar_courses(1, 5, model => recs.model_id('sp_ncf'))$$), 0::bigint,
          'similar_courses runs no look-alike');
SELECT is(sp_run($$SELECT recs.embed_learner(recs.model_id('sp_ncf'), '{1,2,3}')$$), 0::bigint,
          'embed_learner runs no look-alike');
SELECT is(sp_run($$SELECT * FROM recs.course_map(recs.model_id('sp_ncf'))$$), 0::bigint,
          'course_map runs no look-alike');
SELECT is(sp_run($$SELECT recs.course_map_svg(recs.model_id('sp_ncf'), 'sp.courses')$$), 0::bigint,
          'course_map_svg runs no look-alike');
SELECT is(sp_run($$SELECT recs.evaluate(recs.model_id('sp_ncf'), 'sp.test')$$), 0::bigint,
          'evaluate runs no look-alike');
SELECT is(sp_run($$SELECT recs.evaluate(recs.model_id('sp_glmix'), 'sp.impressions', protocol => 'response')$$),
          0::bigint, 'evaluate (response) runs no look-alike');
SELECT is(sp_run($$SELECT recs.activate(recs.model_id('sp_ncf'))$$), 0::bigint,
          'activate runs no look-alike');
SELECT is(sp_run($$SELECT recs.drop_model(recs.model_id('sp_all_blend'))$$), 0::bigint,
          'drop_model runs no look-alike');
CREATE ROLE recs_sp_role;
SELECT is(sp_run($$SELECT recs.grant_access('recs_sp_role', training => true)$$), 0::bigint,
          'grant_access runs no look-alike');
SELECT is(sp_run($$SELECT recs.revoke_access('recs_sp_role')$$), 0::bigint,
          'revoke_access runs no look-alike');

SELECT * FROM finish();
ROLLBACK;
