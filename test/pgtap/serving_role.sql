-- serving_role.sql -- a serving role gets recommendations and sees no one's
-- history: EXECUTE on the serving functions, no SELECT on any model table,
-- and nothing it plants in its own schemas or in pg_temp changes an answer.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(22 + (SELECT count(*)::int FROM pg_class c
                   WHERE c.relnamespace = 'recs'::regnamespace AND c.relkind = 'r'));

SELECT count(*) FROM recs.generate_sample('sr', 200, 30, 3);
CREATE VIEW sr.early_watches AS SELECT * FROM sr.watches WHERE watched_at < '2025-12-01';
CREATE VIEW sr.early_impressions AS SELECT * FROM sr.impressions WHERE shown_at < '2025-12-01';
SELECT recs.train_popularity('sr.early_watches', 'sr.learners', name => 'sr_pop', activate => false);
SELECT recs.train_ncf('sr.early_watches', 'sr_ncf', courses => 'sr.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT recs.train_glmix('sr.early_impressions', 'sr.learners', 'sr.courses', '{segment}', '{topic}',
                        name => 'sr_glmix', activate => false);
SELECT recs.train_blend(ARRAY[recs.model_id('sr_ncf'), recs.model_id('sr_glmix')], 'sr.impressions',
                        'sr.learners', name => 'sr_blend');

-- what the owner gets, to compare with
CREATE TABLE public.sr_expected AS
SELECT 'blend' AS what, string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank) AS answer
  FROM recs.recommend(100001, 5)
UNION ALL
SELECT 'ncf', string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
  FROM recs.recommend(100002, 5, model => recs.model_id('sr_ncf'))
UNION ALL
SELECT 'glmix', string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
  FROM recs.recommend(100003, 5, model => recs.model_id('sr_glmix'))
UNION ALL
SELECT 'score', recs.score(recs.model_id('sr_blend'), 100001, 1)::text;
GRANT SELECT ON public.sr_expected TO PUBLIC;

CREATE ROLE recs_sr_app;
SELECT recs.grant_access('recs_sr_app');
CREATE SCHEMA sr_app AUTHORIZATION recs_sr_app;

SET LOCAL ROLE recs_sr_app;

-- it serves, through every serving function
SELECT is((SELECT string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank) FROM recs.recommend(100001, 5)),
          (SELECT answer FROM sr_expected WHERE what = 'blend'), 'recommend: the active blend, as the owner gets it');
SELECT is((SELECT string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
             FROM recs.recommend(100002, 5, model => recs.model_id('sr_ncf'))),
          (SELECT answer FROM sr_expected WHERE what = 'ncf'), 'recommend: an NCF model');
SELECT is((SELECT string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
             FROM recs.recommend(100003, 5, model => recs.model_id('sr_glmix'))),
          (SELECT answer FROM sr_expected WHERE what = 'glmix'), 'recommend: a GLMix model');
SELECT is(recs.score(recs.model_id('sr_blend'), 100001, 1)::text, (SELECT answer FROM sr_expected WHERE what = 'score'),
          'score');
SELECT cmp_ok((SELECT count(*)::int FROM recs.recommend_all(3, learners => '{100001,100002}')), '=', 6, 'recommend_all');
SELECT cmp_ok((SELECT count(*)::int FROM recs.similar_courses(1, 3, model => recs.model_id('sr_ncf'))), '=', 3,
              'similar_courses');
SELECT cmp_ok((SELECT count(*)::int FROM recs.explain_recommendation(100001, 1)), '>', 0, 'explain_recommendation');
SELECT cmp_ok((SELECT count(*)::int FROM recs.explain(recs.model_id('sr_glmix'), 100001, 1)), '>', 0, 'explain');
SELECT ok(recs.glmix_score(recs.model_id('sr_glmix'), 100001, 1) BETWEEN 0 AND 1, 'glmix_score');
SELECT is(cardinality(recs.embed_learner(recs.model_id('sr_ncf'), '{1,2}')), 8, 'embed_learner');
SELECT cmp_ok((SELECT count(*)::int FROM recs.course_map(recs.model_id('sr_ncf'))), '>', 0, 'course_map');
SELECT cmp_ok((SELECT count(*)::int FROM recs.models), '=', 4, 'the model catalogue (recs.models)');

-- and sees no one's history: every model table is denied
SELECT throws_ok(format('SELECT 1 FROM %s LIMIT 1', c.oid::regclass), '42501', NULL,
                 format('%s is denied', c.oid::regclass))
  FROM pg_class c WHERE c.relnamespace = 'recs'::regnamespace AND c.relkind = 'r' ORDER BY c.relname;
SELECT throws_ok($$SELECT * FROM recs.glmix_coefficients$$, '42501', NULL, 'the coefficient view is denied');
SELECT throws_ok($$SELECT recs.train_popularity('sr.watches', name => 'sr_nope')$$, '42501', NULL,
                 'it cannot train');
SELECT throws_ok($$SELECT recs.activate(recs.model_id('sr_pop'))$$, '42501', NULL, 'nor activate');
SELECT throws_ok($$SELECT * FROM recs.forget_learner(100001)$$, '42501', NULL, 'nor forget a learner');
SELECT throws_ok($$SELECT recs.evaluate(recs.model_id('sr_ncf'), 'sr.watches')$$, '42501', NULL,
                 'nor evaluate on a relation it may not read (the test relation is read with the caller''s rights)');

-- objects it plants in its own schema and in pg_temp change nothing
CREATE SEQUENCE sr_app.hits;
CREATE FUNCTION sr_app.hit() RETURNS boolean LANGUAGE sql VOLATILE
    AS $$SELECT pg_catalog.nextval('sr_app.hits') IS NULL$$;
CREATE FUNCTION sr_app.eq8(bigint, bigint) RETURNS boolean LANGUAGE sql VOLATILE
    AS $$SELECT CASE WHEN sr_app.hit() THEN NULL ELSE $1 OPERATOR(pg_catalog.=) $2 END$$;
CREATE OPERATOR sr_app.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = sr_app.eq8);
CREATE FUNCTION sr_app.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql VOLATILE
    AS $$SELECT x FROM pg_catalog.unnest($1) x WHERE NOT sr_app.hit()$$;
CREATE FUNCTION sr_app.array_length(bigint[], integer) RETURNS integer LANGUAGE sql VOLATILE
    AS $$SELECT CASE WHEN sr_app.hit() THEN NULL ELSE pg_catalog.array_length($1, $2) END$$;
CREATE TEMP TABLE model (model_id bigint, kind text, cache_token bigint);
INSERT INTO model VALUES (1, 'blend', 1);
CREATE TEMP TABLE deployment (slot text, model_id bigint);
INSERT INTO deployment VALUES ('default', 1);
CREATE TEMP TABLE model_learner (model_id bigint, learner_id bigint, language text, watched bigint[]);
CREATE FUNCTION pg_temp.recommend(bigint, integer) RETURNS TABLE (rank integer, course_id bigint, score float8)
    LANGUAGE sql AS $$SELECT 1, -1::bigint, 0::float8$$;
SET LOCAL search_path = sr_app, pg_temp, pg_catalog;
CREATE TEMP TABLE sr_after AS
SELECT 'blend' AS what, string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank) AS answer
  FROM recs.recommend(100001, 5)
UNION ALL
SELECT 'ncf', string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
  FROM recs.recommend(100002, 5, model => recs.model_id('sr_ncf'))
UNION ALL
SELECT 'glmix', string_agg(course_id::text || ':' || score::text, ',' ORDER BY rank)
  FROM recs.recommend(100003, 5, model => recs.model_id('sr_glmix'));
RESET search_path;
SELECT is((SELECT count(*)::int FROM sr_after a JOIN public.sr_expected e USING (what) WHERE a.answer = e.answer), 3,
          'with its look-alikes first in the path and decoys in pg_temp, the same answers');
SELECT is((SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM sr_app.hits), 0::bigint,
          'and none of its look-alikes ran');
SELECT is((SELECT count(*)::int FROM recs.recommend(100001, 5)), 5, 'serving is unaffected by its temp tables');
RESET ROLE;

-- revoke_access takes serving away
SELECT recs.revoke_access('recs_sr_app');
SET LOCAL ROLE recs_sr_app;
SELECT throws_ok($$SELECT * FROM recs.recommend(100001, 5)$$, '42501', NULL, 'after revoke_access it cannot serve');
RESET ROLE;
SELECT ok(NOT has_function_privilege('public', 'recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)',
                                     'EXECUTE'), 'PUBLIC may not call recommend()');

SELECT * FROM finish();
ROLLBACK;
