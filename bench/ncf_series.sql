-- bench/ncf_series.sql -- generated watches in which order matters: learners
-- follow course series (a course's parts 1, 2, 3, ... in order).
--
-- Each learner picks `per_learner` of `series` series of `len` parts and
-- watches 4 to 3 + len * per_learner / 2 courses, one a day: the next part of
-- the series they are on with probability `stay`, else the next part of
-- another of their series.  A bag of the history knows which parts are done
-- but not which series the learner is on; the latest watch does.  Seeded:
-- the same arguments give the same rows.
--
--   SELECT * FROM pg_temp.series_watches(learners, series, len, per_learner, stay, seed)
CREATE FUNCTION pg_temp.series_watches(learners integer, series integer, len integer,
                                       per_learner integer, stay float8, seed float8)
RETURNS TABLE (learner_id bigint, course_id bigint, watched_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    mine int[];
    pos int[];
    cur int;
    nxt int;
    t timestamptz;
    n int;
BEGIN
    PERFORM setseed(seed);
    FOR u IN 1..learners LOOP
        mine := ARRAY(SELECT s FROM generate_series(0, series - 1) s ORDER BY random() LIMIT per_learner);
        pos := array_fill(0, ARRAY[per_learner]);
        cur := 1 + floor(random() * per_learner)::int;
        t := timestamptz '2025-01-01 00:00:00+00' + floor(random() * 300) * interval '1 day';
        n := 4 + floor(random() * (len * per_learner / 2))::int;
        FOR k IN 1..n LOOP
            IF random() >= stay OR pos[cur] >= len THEN
                nxt := (SELECT i FROM generate_series(1, per_learner) i
                         WHERE pos[i] < len AND i <> cur ORDER BY random() LIMIT 1);
                IF nxt IS NOT NULL THEN
                    cur := nxt;
                ELSIF pos[cur] >= len THEN
                    EXIT;
                END IF;
            END IF;
            pos[cur] := pos[cur] + 1;
            learner_id := u;
            course_id := mine[cur] * len + pos[cur];
            watched_at := t;
            RETURN NEXT;
            t := t + interval '1 day';
        END LOOP;
    END LOOP;
END
$$;
