-- ingest.sql -- cleaning and counting of bad watch rows, input conventions,
-- privileges and hostile identifiers
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(19);

CREATE TABLE public.raw_w (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO public.raw_w VALUES
  (1, 10, '2025-06-01', 120),          -- kept
  (1, 10, '2025-06-05', 300),          -- repeated pair: dropped
  (1, 20, '2025-06-02', 30),           -- under the threshold
  (NULL, 20, '2025-06-02', 120),       -- NULL learner
  (2, NULL, '2025-06-02', 120),        -- NULL course
  (2, 20, NULL, 120),                  -- NULL time
  (2, 20, 'infinity', 120),            -- infinite time
  (2, 30, '2025-06-03', 'NaN'),        -- NaN watch time
  (2, 30, '2025-06-03', '-5'),         -- negative watch time
  (2, 30, '2025-06-03', 'Infinity'),   -- infinite watch time
  (2, 30, '2025-06-03', NULL),         -- NULL watch time
  (2, 30, '2025-06-04', 61);           -- kept

SELECT lives_ok($$SELECT recs.train_popularity('public.raw_w')$$, 'trains on dirty data');
SELECT is((SELECT metrics FROM recs.model ORDER BY model_id DESC LIMIT 1),
          '{"watches_read": 12, "watches_used": 2, "learners": 2, "courses": 2, "active_learners": 2,
            "skipped": {"null_id": 2, "bad_time": 2, "bad_watch_seconds": 4, "short": 1, "duplicate": 1}}'::jsonb,
          'every dropped row is counted under its reason');

-- a view with other column names and epoch-second times works through named arguments
CREATE VIEW public.v_w AS
  SELECT learner_id AS who, course_id AS what, extract(epoch FROM watched_at)::bigint AS ts,
         watch_seconds::numeric AS secs
    FROM public.raw_w WHERE watched_at IS NOT NULL AND watched_at <> 'infinity';
SELECT lives_ok($$SELECT recs.train_popularity('public.v_w', learner_column => 'who', course_column => 'what',
                                                time_column => 'ts', seconds_column => 'secs', name => 'v')$$,
                'a view with renamed columns and unix-second times');
SELECT is((SELECT (metrics->>'watches_used')::int FROM recs.model WHERE name = 'v'), 2, 'same cleaning through the view');
SELECT is((SELECT trained_through FROM recs.model WHERE name = 'v'), '2025-06-04 00:00:00+00'::timestamptz,
          'trained_through is the last kept watch');

-- errors name the problem
SELECT throws_ok($$SELECT recs.train_popularity('public.raw_w', learner_column => 'nope')$$,
                 '42703', 'column "nope" does not exist in relation public.raw_w', 'missing column');
SELECT throws_ok($$SELECT recs.train_popularity('public.raw_w', course_column => 'watched_at')$$,
                 '42804', NULL, 'wrong column type');
SELECT throws_ok($$SELECT recs.train_popularity('public.raw_w', seconds_column => 'learner_id', min_watch_seconds => 1e12)$$,
                 '02000', 'no watches left to train on', 'nothing left after cleaning');
CREATE TABLE public.empty_w (LIKE public.raw_w);
SELECT throws_ok($$SELECT recs.train_popularity('public.empty_w')$$, '02000', NULL, 'an empty relation');
SELECT throws_ok($$SELECT recs.train_popularity(NULL)$$, '22004', NULL, 'a NULL relation');
CREATE SEQUENCE public.not_a_table;
SELECT throws_ok($$SELECT recs.train_popularity('public.not_a_table')$$, '42809', NULL, 'a sequence is not a table');

-- hostile column names are identifiers, never SQL
SELECT throws_ok($$SELECT recs.train_popularity('public.raw_w',
                     learner_column => 'learner_id" FROM public.raw_w; DROP TABLE public.raw_w; --')$$,
                 '42703', NULL, 'an injection attempt is just a missing column');
SELECT has_table('public', 'raw_w', 'and the table is still there');

-- training reads with the caller's rights
CREATE ROLE recs_tap_nobody;
GRANT USAGE ON SCHEMA recs TO recs_tap_nobody;
SET LOCAL ROLE recs_tap_nobody;
SELECT throws_ok($$SELECT recs.train_popularity('public.raw_w')$$, '42501', NULL,
                 'a role without SELECT on the watches gets permission denied');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM recs.model), 2, 'failed trainings left no model behind');

-- the memory budget: recs.memory_limit, checked before allocating
CREATE TABLE public.many_w AS
  SELECT g % 500 AS learner_id, g % 97 AS course_id, '2025-01-01'::timestamptz + g * interval '1 minute' AS watched_at,
         100.0::float8 AS watch_seconds FROM generate_series(1, 20000) g;
SET LOCAL recs.memory_limit = '200kB';
SELECT throws_ok($$SELECT recs.train_popularity('public.many_w')$$, '54000', NULL,
                 'a training over recs.memory_limit stops with an error before allocating');
-- the hint names a budget for all of the input (the planner's row count),
-- not only for the step that failed
CREATE TEMP TABLE budget_hint (hint text, detail text);
DO $$
DECLARE h text; d text;
BEGIN
  PERFORM recs.train_popularity('public.many_w');
EXCEPTION WHEN program_limit_exceeded THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT, d = PG_EXCEPTION_DETAIL;
  INSERT INTO budget_hint VALUES (substring(h FROM $r$memory_limit = '([0-9]+MB)'$r$), d);
END
$$;
SELECT matches((SELECT detail FROM budget_hint), '^All of the input needs about [0-9]+ MB\.$',
               'the error says what all of the input needs');
SELECT set_config('recs.memory_limit', (SELECT hint FROM budget_hint), true);
SELECT lives_ok($$SELECT recs.train_popularity('public.many_w')$$, 'the budget the hint names is enough');
RESET recs.memory_limit;
SELECT lives_ok($$SELECT recs.train_popularity('public.many_w')$$, 'the default budget (maintenance_work_mem) is enough');

SELECT * FROM finish();
ROLLBACK;
