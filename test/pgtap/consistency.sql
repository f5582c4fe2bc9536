-- consistency.sql -- the same answer whichever way a thing is asked:
-- train_popularity's watches_used with through counts the watches it used,
-- train_glmix reads its impressions up to through and records trained_through,
-- course_map_svg reports the map's own error (not its internal query),
-- grant_access and revoke_access by a role that does not own the extension
-- stop with one clear error before touching any privilege.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(13);

SELECT count(*) > 0 AS generated FROM recs.generate_sample('cs', 30, 12, 7, 60) \gset
SELECT recs.train_popularity('cs.watches', 'cs.learners', name => 'cs_pop', activate => false) AS p \gset

-- train_popularity with through: watches_used counts the watches in the window
CREATE TEMP TABLE cw (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO cw VALUES (1, 10, '2025-06-01', 120), (2, 10, '2025-06-02', 120), (3, 20, '2025-06-03', 120),
                      (4, 20, '2025-06-20', 120), (5, 30, '2025-06-21', 120);
SELECT recs.train_popularity('cw', name => 'cs_through', through => '2025-06-10', activate => false) AS pt \gset
SELECT is((SELECT metrics->>'watches_used' || ' of ' || (metrics->>'watches_read') FROM recs.model WHERE model_id = :pt),
          '3 of 5', 'with through, watches_used is the 3 watches in the window, not the 5 kept');

-- train_glmix: time_column and through, trained_through
SELECT recs.train_glmix('cs.impressions', 'cs.learners', 'cs.courses', '{language}', '{topic}', name => 'cs_gl_through',
                        through => '2025-12-15', activate => false) AS gt \gset
SELECT is((SELECT (metrics->>'train_rows')::int FROM recs.model WHERE model_id = :gt),
          (SELECT count(*)::int FROM cs.impressions WHERE shown_at <= '2025-12-15'),
          'train_glmix through: exactly the impressions shown up to through');
SELECT is((SELECT (metrics->>'after_through')::int FROM recs.model WHERE model_id = :gt),
          (SELECT count(*)::int FROM cs.impressions WHERE shown_at > '2025-12-15'), 'the others are counted as left out');
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :gt), '2025-12-15'::timestamptz,
          'trained_through is through');
CREATE VIEW cs.imp_at AS SELECT learner_id, course_id, clicked, bookmarked, shown_at AS at FROM cs.impressions;
SELECT recs.train_glmix('cs.imp_at', 'cs.learners', 'cs.courses', '{language}', '{topic}', name => 'cs_gl_at',
                        time_column => 'at', activate => false) AS ga \gset
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :ga), (SELECT max(shown_at) FROM cs.impressions),
          'time_column names another column; without through trained_through is the last impression');
CREATE VIEW cs.imp_notime AS SELECT learner_id, course_id, clicked, bookmarked FROM cs.impressions;
SELECT throws_ok($$SELECT recs.train_glmix('cs.imp_notime', 'cs.learners', 'cs.courses', '{language}', '{topic}',
                                           through => '2025-12-15')$$, '42703',
                 'through needs a time column, and cs.imp_notime has no column "shown_at"', 'through without a time column');

-- course_map_svg: the error of course_map, with one line of context
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    ctx text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN format('%s: %s (%s context lines)', st, msg,
                  cardinality(regexp_split_to_array(ctx, E'\n')) - 1);
END $$;
SELECT is(pg_temp.error_of(format($$SELECT recs.course_map_svg(%s, 'cs.courses')$$, :p)),
          format('42809: recs model %s is a popularity model, which has no course embeddings (2 context lines)', :p),
          'course_map_svg of a popularity model: course_map''s error, no internal SQL in the context');
SELECT is(pg_temp.error_of($$SELECT recs.course_map_svg(-1, 'cs.courses')$$),
          '42704: recs model -1 does not exist (2 context lines)', 'course_map_svg of a missing model: one clear error');
SELECT throws_ok($$SELECT recs.course_map_svg(-1, 'cs.courses')$$, '42704', 'recs model -1 does not exist',
                 'with its SQLSTATE');

-- grant_access / revoke_access by a role that does not own recs
CREATE ROLE recs_tap_cs_admin;
CREATE ROLE recs_tap_cs_app;
GRANT USAGE ON SCHEMA recs TO recs_tap_cs_admin;
SET LOCAL ROLE recs_tap_cs_admin;
SELECT throws_ok($$SELECT recs.grant_access('recs_tap_cs_app')$$, '42501',
                 'only the owner of extension recs may run recs.grant_access', 'grant_access by a non-owner: one error');
SELECT throws_ok($$SELECT recs.revoke_access('recs_tap_cs_app')$$, '42501',
                 'only the owner of extension recs may run recs.revoke_access', 'revoke_access by a non-owner: one error');
RESET ROLE;
SELECT ok(NOT has_schema_privilege('recs_tap_cs_app', 'recs', 'USAGE')
          AND NOT has_function_privilege('recs_tap_cs_app', 'recs.model_id(text)', 'EXECUTE'),
          'and nothing was granted');
SELECT lives_ok($$SELECT recs.grant_access('recs_tap_cs_app')$$, 'the owner grants');
SELECT * FROM finish();
ROLLBACK;
