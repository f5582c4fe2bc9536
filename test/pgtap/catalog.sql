-- catalog.sql -- the extension's objects, their properties and pg_dump registration
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(25);

SELECT has_schema('recs');
SELECT has_table('recs', 'model', 'model catalog');
SELECT has_table('recs', 'deployment', 'deployment slots');
SELECT has_table('recs', 'model_learner', 'per-model learner state');
SELECT has_table('recs', 'course_popularity', 'popularity scores');
SELECT has_view('recs', 'models', 'models view');
SELECT has_function('recs', 'recommend', ARRAY['bigint', 'integer', 'boolean', 'bigint[]', 'bigint[]', 'bigint', 'bigint[]', 'text']);
SELECT has_function('recs', 'train_popularity', 'train_popularity exists');
SELECT has_function('recs', 'generate_sample', 'generate_sample exists');
SELECT has_function('recs', 'activate', ARRAY['bigint', 'text']);
SELECT has_function('recs', 'drop_model', ARRAY['bigint', 'boolean']);
SELECT has_function('recs', 'citus_setup', ARRAY[]::text[]);
SELECT has_function('recs', 'tune_ncf', ARRAY['regclass', 'jsonb', 'text', 'boolean', 'boolean', 'jsonb']);
-- (the Citus suite, scripts/test_citus.sh, tests it on a cluster)
SELECT throws_ok('SELECT * FROM recs.citus_setup()', '55000', 'extension citus is not installed in this database',
                 'citus_setup on PostgreSQL without Citus: a clear error, nothing changed');

SELECT is((SELECT proparallel::text FROM pg_proc WHERE oid = 'recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)'::regprocedure),
          's', 'recommend is PARALLEL SAFE');
SELECT is((SELECT provolatile::text FROM pg_proc WHERE oid = 'recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)'::regprocedure),
          's', 'recommend is STABLE');
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'recs' AND p.prosecdef$$,
              ARRAY['recs.recommend(bigint,integer,boolean,bigint[],bigint[],bigint,bigint[],text)',
                    'recs.recommend_all(integer,bigint,boolean,bigint[],text)', 'recs.score(bigint,bigint,bigint,text)',
                    'recs.similar_courses(bigint,integer,bigint,text)', 'recs.embed_learner(bigint,bigint[],text)',
                    'recs.course_map(bigint,text)', 'recs.glmix_score(bigint,bigint,bigint,text,jsonb)',
                    'recs.glmix_logit(bigint,bigint,bigint,text,jsonb)', 'recs.explain(bigint,bigint,bigint,text,jsonb)',
                    'recs.explain_recommendation(bigint,bigint,bigint,text)', 'recs.explain(bigint,bigint,text)',
                    'recs.model_id(text)', 'recs.course_embeddings(bigint,text)',
                    'recs.course_embeddings(bigint,anyelement,text)', 'recs.embed_learner_keys(bigint,text[],text)',
                    'recs.course_map(bigint,anyelement,text)', 'recs.embed_course(bigint,jsonb,text)']
                 || ARRAY(SELECT format(f, t) FROM unnest(ARRAY['text', 'uuid']) t,
                                 unnest(ARRAY['recs.recommend(%1$s,integer,boolean,%1$s[],%1$s[],bigint,%1$s[],text)',
                                              'recs.recommend_all(%1$s[],integer,bigint,boolean,text)',
                                              'recs.score(bigint,%1$s,%1$s,text)', 'recs.glmix_score(bigint,%1$s,%1$s,text,jsonb)',
                                              'recs.glmix_logit(bigint,%1$s,%1$s,text,jsonb)',
                                              'recs.similar_courses(%1$s,integer,bigint,text)',
                                              'recs.explain(bigint,%1$s,%1$s,text,jsonb)',
                                              'recs.explain_recommendation(%1$s,%1$s,bigint,text)',
                                              'recs.explain(%1$s,%1$s,text)']) f),
              'only the serving functions (bigint, and their uuid and text overloads) run as their owner: none reads a user relation');

SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'recs' AND p.prosecdef
              AND NOT 'search_path=pg_catalog, pg_temp' = ANY (coalesce(p.proconfig, '{}'))), 0,
          'every function that runs as its owner has search_path = pg_catalog, pg_temp');
SELECT is((SELECT count(*)::int FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'recs' AND p.prosecdef AND has_function_privilege('public', p.oid, 'EXECUTE')), 0,
          'and none of them is executable by PUBLIC');

SELECT ok((SELECT bool_and(c::regclass::text IN (SELECT unnest(extconfig)::regclass::text
                                                   FROM pg_extension WHERE extname = 'recs'))
             FROM unnest(ARRAY['recs.model', 'recs.model_model_id_seq', 'recs.deployment',
                               'recs.model_learner', 'recs.course_popularity']) c),
          'pg_dump keeps the catalog, the deployment, and the popularity model parts');
SELECT ok((SELECT bool_and(r::text IN (SELECT unnest(extconfig)::regclass::text
                                         FROM pg_extension WHERE extname = 'recs'))
             FROM pg_constraint c JOIN LATERAL (SELECT c.conrelid::regclass AS r) x ON true
            WHERE c.confrelid = 'recs.model'::regclass AND c.contype = 'f'),
          'every table referencing recs.model is dumped with its rows');

SELECT throws_ok($$INSERT INTO recs.model (name, kind, version) VALUES ('x', 'bogus', 1)$$,
                 '23514', NULL, 'model kinds are checked');
SELECT throws_ok($$INSERT INTO recs.model (name, kind, version) VALUES ('', 'ncf', 1)$$,
                 '23514', NULL, 'model names are not empty');
SELECT throws_ok($$INSERT INTO recs.model (name, kind, version) VALUES ('x', 'ncf', 1), ('x', 'ncf', 1)$$,
                 '23505', NULL, 'a name has each version once');
SELECT throws_ok($$INSERT INTO recs.deployment (slot, model_id) VALUES ('default', -1)$$,
                 '23503', NULL, 'a deployment names an existing model');

SELECT * FROM finish();
ROLLBACK;
