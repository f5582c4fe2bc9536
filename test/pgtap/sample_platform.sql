-- sample_platform.sql -- generate_sample(platform => true): course series
-- followed in order, learners' long breaks, courses published during the
-- period; the default sample unchanged.
BEGIN;
SELECT plan(11);
SET LOCAL client_min_messages = warning;

SELECT count(*) FROM recs.generate_sample('sp', 1500, 200, 5, 1460, platform => true);
SELECT count(*) FROM recs.generate_sample('sd', 1500, 200, 5, 1460);

SELECT has_column('sp', 'courses', 'series_id', 'the platform sample names each course''s series');
SELECT hasnt_column('sd', 'courses', 'series_id', 'the default sample keeps its columns');

-- series: parts published in order, levels rising from beginner
SELECT is((SELECT count(*) FROM sp.courses a JOIN sp.courses b ON a.series_id = b.series_id
            WHERE a.series_part < b.series_part AND a.published_at > b.published_at),
          0::bigint, 'the parts of a series are published in order');
SELECT is((SELECT count(*) FROM sp.courses WHERE series_part = 1 AND difficulty <> 'beginner'),
          0::bigint, 'a series starts at beginner level');
SELECT ok((SELECT count(*) FILTER (WHERE series_id IS NOT NULL)::float8 / count(*) FROM sp.courses) BETWEEN 0.3 AND 0.9,
          'a good share of the courses belong to a series');
-- learners who watch two or more parts of a series watch them in order (most of them)
SELECT ok((WITH w AS (SELECT learner_id, course_id, min(watched_at) AS t FROM sp.watches
                       WHERE watch_seconds >= 60 GROUP BY 1, 2),
                s AS (SELECT w.learner_id, c.series_id, array_agg(c.series_part ORDER BY w.t) AS parts
                        FROM w JOIN sp.courses c USING (course_id) WHERE c.series_id IS NOT NULL
                       GROUP BY 1, 2 HAVING count(*) >= 2)
           SELECT count(*) > 200 AND count(*) FILTER (WHERE parts = (SELECT array_agg(p ORDER BY p) FROM unnest(parts) p))
                                       >= 0.9 * count(*) FROM s),
          'series are watched in order by most learners who watch them');

-- breaks longer than the default window, and far fewer without platform
CREATE TEMP TABLE gaps AS
SELECT s, count(DISTINCT learner_id) AS n
  FROM (SELECT 'sp' AS s, learner_id, watched_at - lag(watched_at) OVER (PARTITION BY learner_id ORDER BY watched_at) AS gap
          FROM sp.watches
        UNION ALL
        SELECT 'sd', learner_id, watched_at - lag(watched_at) OVER (PARTITION BY learner_id ORDER BY watched_at)
          FROM sd.watches) g
 WHERE gap > interval '370 days' GROUP BY s;
-- (sparse learners of the default sample have such gaps too, by chance)
SELECT ok((SELECT n FROM gaps WHERE s = 'sp') >= 300
          AND (SELECT n FROM gaps WHERE s = 'sp') > 1.5 * coalesce((SELECT n FROM gaps WHERE s = 'sd'), 0),
          'many learners come back after a break longer than a year');

-- publication dates: during the period for most courses, never after its end; watches after publication
SELECT ok((SELECT max(published_at) < '2026-01-01' AND count(*) FILTER (WHERE published_at >= '2026-01-01'::timestamptz - interval '1460 days')
                                                    >= 0.5 * count(*) FROM sp.courses),
          'courses are published during the period (a third before it), none after');
SELECT is((SELECT count(*) FROM sp.watches w JOIN sp.courses c USING (course_id) WHERE w.watched_at < c.published_at),
          0::bigint, 'no watch precedes its course''s publication');

-- what the default sample had: short noise watches, seeded determinism
SELECT ok((SELECT avg((watch_seconds < 60)::int) FROM sp.watches) BETWEEN 0.05 AND 0.25,
          'noise watches under a minute remain');
SELECT count(*) FROM recs.generate_sample('sp2', 1500, 200, 5, 1460, platform => true);
SELECT is((SELECT md5(string_agg(format('%s %s %s %s', learner_id, course_id, watched_at, watch_seconds), ',' ORDER BY learner_id, watched_at, course_id)) FROM sp2.watches),
          (SELECT md5(string_agg(format('%s %s %s %s', learner_id, course_id, watched_at, watch_seconds), ',' ORDER BY learner_id, watched_at, course_id)) FROM sp.watches),
          'the same arguments give the same rows');

SELECT * FROM finish();
ROLLBACK;
