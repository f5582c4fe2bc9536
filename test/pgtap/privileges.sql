-- privileges.sql -- who may serve, who may train
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(9);

CREATE TABLE public.pw (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO public.pw VALUES (1, 10, '2025-06-01', 120), (2, 20, '2025-06-02', 120);
SELECT recs.train_popularity('public.pw');

CREATE ROLE recs_tap_app;
CREATE ROLE recs_tap_etl;
GRANT SELECT ON public.pw TO recs_tap_app, recs_tap_etl;

SET LOCAL ROLE recs_tap_app;
SELECT throws_ok($$SELECT * FROM recs.recommend(1)$$, '42501', NULL, 'without a grant, no access to the models');
RESET ROLE;

SELECT lives_ok($$SELECT recs.grant_access('recs_tap_app')$$, 'grant serving');
SELECT lives_ok($$SELECT recs.grant_access('recs_tap_etl', training => true)$$, 'grant training');

SET LOCAL ROLE recs_tap_app;
SELECT results_eq($$SELECT course_id FROM recs.recommend(1)$$, $$VALUES (20::bigint)$$, 'a serving role can recommend');
SELECT throws_ok($$SELECT recs.train_popularity('public.pw')$$, '42501', NULL, 'but cannot train');
SELECT throws_ok($$SELECT recs.activate((SELECT min(model_id) FROM recs.model))$$, '42501', NULL, 'nor activate');
RESET ROLE;

SET LOCAL ROLE recs_tap_etl;
SELECT lives_ok($$SELECT recs.train_popularity('public.pw')$$, 'a training role can train');
SELECT is((SELECT max(version) FROM recs.model), 2, 'its model is version 2');
RESET ROLE;

SELECT recs.revoke_access('recs_tap_app');
SET LOCAL ROLE recs_tap_app;
SELECT throws_ok($$SELECT * FROM recs.recommend(1)$$, '42501', NULL, 'revoked again');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
