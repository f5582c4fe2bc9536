-- timezones.sql -- a timestamp without time zone (or a date) is an instant
-- in the session's TimeZone, as PostgreSQL converts it to timestamptz: the
-- trainers' through => and trained_through agree with SQL comparisons and
-- with train_all's cut, whatever the TimeZone.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(10);

-- wall-clock times: 2025-06-01 11:00 is 09:00 UTC in Paris (UTC+2 in June),
-- 15:00 UTC in New York (UTC-4)
CREATE TEMP TABLE w (learner_id bigint, course_id bigint, watched_at timestamp, watch_seconds float8);
INSERT INTO w VALUES (1, 10, '2025-06-01 11:00', 120), (2, 20, '2025-06-01 13:00', 120),
                     (3, 30, '2025-05-31 00:00', 120);
CREATE TEMP TABLE wd (learner_id bigint, course_id bigint, watched_at date, watch_seconds float8);
INSERT INTO wd VALUES (1, 10, '2025-06-01', 120), (3, 30, '2025-05-31', 120);

-- through = 2025-06-01 10:00 UTC
SET LOCAL TimeZone = 'Europe/Paris';
SELECT recs.train_popularity('w', name => 'tz_paris', through => '2025-06-01 10:00+00', activate => false) AS paris \gset
SELECT results_eq(format('SELECT DISTINCT course_id FROM recs.course_popularity WHERE model_id = %s AND watchers > 0 ORDER BY 1', :paris),
                  $$SELECT DISTINCT course_id FROM w WHERE watched_at <= '2025-06-01 10:00+00'::timestamptz ORDER BY 1$$,
                  'Paris: the model keeps exactly the rows SQL finds before through (11:00 Paris = 09:00 UTC is in)');
SELECT recs.train_popularity('w', name => 'tz_paris_all', activate => false) AS paris_all \gset
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :paris_all), '2025-06-01 13:00+02'::timestamptz,
          'Paris: trained_through is the last watch, 13:00 Paris time');

SET LOCAL TimeZone = 'America/New_York';
SELECT recs.train_popularity('w', name => 'tz_ny', through => '2025-06-01 10:00+00', activate => false) AS ny \gset
SELECT results_eq(format('SELECT DISTINCT course_id FROM recs.course_popularity WHERE model_id = %s AND watchers > 0 ORDER BY 1', :ny),
                  $$SELECT DISTINCT course_id FROM w WHERE watched_at <= '2025-06-01 10:00+00'::timestamptz ORDER BY 1$$,
                  'New York: the same rule (11:00 New York = 15:00 UTC is out)');
SELECT recs.train_popularity('w', name => 'tz_ny_all', activate => false) AS ny_all \gset
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :ny_all), '2025-06-01 13:00-04'::timestamptz,
          'New York: trained_through is 13:00 New York time');
SELECT is((SELECT n.trained_through - m.trained_through FROM recs.model n, recs.model m
            WHERE n.model_id = :ny_all AND m.model_id = :paris_all), interval '6 hours',
          'the same wall-clock time, two instants six hours apart');

-- a date is midnight in the session's TimeZone
SET LOCAL TimeZone = 'Asia/Tokyo';
SELECT recs.train_popularity('wd', name => 'tz_date', activate => false) AS d \gset
SELECT is((SELECT trained_through FROM recs.model WHERE model_id = :d), '2025-06-01 00:00+09'::timestamptz,
          'a date column: midnight in Tokyo');

-- train_all's SQL cut and the trainers agree, in two TimeZones
SELECT count(*) > 0 AS generated FROM recs.generate_sample('tz', 40, 12, 7, 60) \gset
CREATE VIEW tz.watches_local AS
SELECT learner_id, course_id, (watched_at AT TIME ZONE 'UTC') AS watched_at, watch_seconds FROM tz.watches;
CREATE VIEW tz.impressions_local AS
SELECT i.*, (i.shown_at AT TIME ZONE 'UTC') AS shown_local FROM tz.impressions i;
CREATE VIEW tz.impressions_l AS
SELECT learner_id, course_id, shown_local AS shown_at, clicked, bookmarked FROM tz.impressions_local;

SET LOCAL TimeZone = 'Asia/Kolkata';
SELECT recs.train_all('tz.watches_local', 'tz.impressions_l', 'tz.learners', 'tz.courses', name => 'tz_in',
                      through => '2025-12-20 00:00+00', blend_days => 10, epochs => 1, activate => false) AS b_in \gset
SELECT ok((SELECT bool_and(trained_through <= '2025-12-20 00:00+00'::timestamptz) FROM recs.model
            WHERE name LIKE 'tz_in\_%'),
          'Kolkata: no model train_all leaves saw anything after its cut');
SELECT is((SELECT max(trained_through) FROM recs.model WHERE name LIKE 'tz_in\_%' AND kind IN ('popularity', 'ncf')),
          (SELECT max(watched_at)::timestamptz FROM tz.watches_local
            WHERE watched_at::timestamptz <= '2025-12-20 00:00+00'::timestamptz),
          'Kolkata: the served components end at the last watch before train_all''s cut, as SQL finds it');

SET LOCAL TimeZone = 'America/Los_Angeles';
SELECT recs.train_all('tz.watches_local', 'tz.impressions_l', 'tz.learners', 'tz.courses', name => 'tz_la',
                      through => '2025-12-20 00:00+00', blend_days => 10, epochs => 1, activate => false) AS b_la \gset
SELECT ok((SELECT bool_and(trained_through <= '2025-12-20 00:00+00'::timestamptz) FROM recs.model
            WHERE name LIKE 'tz_la\_%'),
          'Los Angeles: no model train_all leaves saw anything after its cut');
SELECT is((SELECT max(trained_through) FROM recs.model WHERE name LIKE 'tz_la\_%' AND kind IN ('popularity', 'ncf')),
          (SELECT max(watched_at)::timestamptz FROM tz.watches_local
            WHERE watched_at::timestamptz <= '2025-12-20 00:00+00'::timestamptz),
          'Los Angeles: the served components end at the last watch before train_all''s cut, as SQL finds it');

SELECT * FROM finish();
ROLLBACK;
