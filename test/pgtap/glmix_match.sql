-- test/pgtap/glmix_match.sql -- GLMix match features ('lcol=ccol', 'lcol~ccol')
-- and hashed crosses (hash_bits): known feature values on hand-made rows,
-- coefficient signs, serving's margin against the training objective, explain
-- in words, match-only columns, deterministic buckets, bad specs, and on the
-- sample data a held-out AUC that matches improve.
BEGIN;
SELECT plan(52);
SET client_min_messages = warning;

-- ---------------------------------------------------------------------------
-- Hand-made sides: the learners' and courses' columns have different names,
-- so every feature name is unique and a logit can be summed by hand.
--   learner 1 en {a,b}      course 10 en {a,b,c}
--   learner 2 fr {c}        course 11 fr {d}
--   learner 3 en {a,b,c,d}  course 12 de {a}
--   learner 4 de NULL
-- Learners 5..64 and courses 13..24 add volume; a click is likely when the
-- languages are equal and when skills are shared.
-- ---------------------------------------------------------------------------
CREATE SCHEMA gm;
CREATE TABLE gm.learners (learner_id bigint PRIMARY KEY, lang text, lskills text[], age integer);
CREATE TABLE gm.courses (course_id bigint PRIMARY KEY, clang text, cskills text[], topic text);
INSERT INTO gm.learners VALUES (1, 'en', '{a,b}', 30), (2, 'fr', '{c}', 40), (3, 'en', '{a,b,c,d}', 50),
                               (4, 'de', NULL, 20);
INSERT INTO gm.learners
SELECT i, (ARRAY['en','fr','de'])[1 + i % 3],
       ARRAY[(ARRAY['a','b','c','d','e'])[1 + i % 5], (ARRAY['a','b','c','d','e'])[1 + (i / 5) % 5]], 20 + i
  FROM generate_series(5, 64) i;
INSERT INTO gm.courses VALUES (10, 'en', '{a,b,c}', 'x'), (11, 'fr', '{d}', 'y'), (12, 'de', '{a}', 'x');
INSERT INTO gm.courses
SELECT j, (ARRAY['en','fr','de'])[1 + (j / 2) % 3], ARRAY[(ARRAY['a','b','c','d','e'])[1 + j % 5]],
       (ARRAY['x','y'])[1 + j % 2]
  FROM generate_series(13, 24) j;
-- every pair twice; the click: language equal (+2), each shared skill (+1.5),
-- a deterministic scramble (the rest of the logit), thresholded
CREATE TABLE gm.imp AS
SELECT l.learner_id, c.course_id,
       (-1.5 + 2 * (l.lang = c.clang)::int
        + 1.5 * coalesce(cardinality(ARRAY(SELECT unnest(l.lskills) INTERSECT SELECT unnest(c.cskills))), 0)
        + ((l.learner_id * 37 + c.course_id * 11 + r * 5) % 7 - 3) * 0.6) > 0 AS clicked
  FROM gm.learners l, gm.courses c, generate_series(1, 2) r;

SELECT ok(recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                           name => 'gm_match', random_effects => '{}', l2 => '{1}',
                           crosses => '{lang=clang,lskills~cskills}') > 0,
          'a fixed-effect model with an equality and an overlap match trains');
SELECT is((SELECT params->'matches' FROM recs.model WHERE name = 'gm_match'),
          '["lang=clang", "lskills~cskills"]'::jsonb, 'params list the matches');
SELECT is((SELECT matches FROM recs.glmix_coordinate
            WHERE model_id = recs.model_id('gm_match') AND position = 0),
          '{lang=clang,lskills~cskills}'::text[], 'the fixed coordinate stores them');
SELECT is((SELECT (metrics->>'fixed_features')::int FROM recs.model WHERE name = 'gm_match'),
          1 + 3 + 5 + 3 + 5 + 3, 'x(l, c): intercept, 3 + 5 learner and 3 + 5 course features, 1 + 2 match features');
SELECT is((SELECT features[array_length(features, 1) - 2 :] FROM recs.glmix_coordinate
            WHERE model_id = recs.model_id('gm_match') AND position = 0),
          '{match(lang=clang),overlap(lskills~cskills),jaccard(lskills~cskills)}'::text[],
          'the match features come last, named match(), overlap() and jaccard()');

-- the coefficient of each feature by name
CREATE TEMP TABLE b AS
SELECT feature, coef FROM recs.glmix_coefficients
 WHERE model_id = recs.model_id('gm_match') AND coordinate = 'fixed';
SELECT cmp_ok((SELECT coef FROM b WHERE feature = 'match(lang=clang)'), '>', 0.5::float8,
              'equal languages raise the click logit');
SELECT cmp_ok((SELECT coef FROM b WHERE feature = 'overlap(lskills~cskills)'), '>', 0.3::float8,
              'each shared skill raises the click logit');

-- a logit summed by hand from the coefficients with known feature values
CREATE FUNCTION pg_temp.by_hand(f text[], v float8[]) RETURNS float8 LANGUAGE sql AS $$
  SELECT sum(b.coef * u.v) FROM unnest(f, v) u(f, v) JOIN b ON b.feature = u.f $$;
SELECT ok(abs(recs.glmix_logit(recs.model_id('gm_match'), 1, 10) - pg_temp.by_hand(
              '{(intercept),lang=en,lskills=a,lskills=b,clang=en,cskills=a,cskills=b,cskills=c,match(lang=clang),overlap(lskills~cskills),jaccard(lskills~cskills)}',
              ARRAY[1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2.0 / 3])) < 1e-9,
          'learner 1 x course 10: languages equal, 2 shared skills, Jaccard 2/3');
SELECT ok(abs(recs.glmix_logit(recs.model_id('gm_match'), 3, 11) - pg_temp.by_hand(
              '{(intercept),lang=en,lskills=a,lskills=b,lskills=c,lskills=d,clang=fr,cskills=d,overlap(lskills~cskills),jaccard(lskills~cskills)}',
              ARRAY[1, 1, 1, 1, 1, 1, 1, 1, 1, 0.25])) < 1e-9,
          'learner 3 x course 11: languages differ, 1 shared skill, Jaccard 1/4');
SELECT ok(abs(recs.glmix_logit(recs.model_id('gm_match'), 2, 10) - pg_temp.by_hand(
              '{(intercept),lang=fr,lskills=c,clang=en,cskills=a,cskills=b,cskills=c,overlap(lskills~cskills),jaccard(lskills~cskills)}',
              ARRAY[1, 1, 1, 1, 1, 1, 1, 1, 1.0 / 3])) < 1e-9,
          'learner 2 x course 10: 1 shared skill, Jaccard 1/3');
SELECT ok(abs(recs.glmix_logit(recs.model_id('gm_match'), 4, 12) - pg_temp.by_hand(
              '{(intercept),lang=de,clang=de,cskills=a,match(lang=clang)}',
              ARRAY[1, 1, 1, 1, 1])) < 1e-9,
          'learner 4 x course 12: languages equal; NULL skills share nothing');
SELECT ok(abs(recs.glmix_logit(recs.model_id('gm_match'), 999, 10) - pg_temp.by_hand(
              '{(intercept),clang=en,cskills=a,cskills=b,cskills=c}', ARRAY[1, 1, 1, 1, 1])) < 1e-9,
          'an unknown learner matches nothing');

-- serving's margins reproduce the training objective over every training row,
-- so serving builds x(l, c) exactly as training did
CREATE FUNCTION pg_temp.objective_gap(mname text) RETURNS float8 LANGUAGE sql AS $$
  WITH m AS (SELECT clicked::int AS y, recs.glmix_logit(recs.model_id(mname), learner_id, course_id) AS x
               FROM gm.imp),
  obj AS (SELECT (metrics->>'objective')::float8 AS o FROM recs.model WHERE name = mname)
  SELECT abs((SELECT sum(greatest(x, 0) + ln(1 + exp(-abs(x))) - y * x) FROM m)
             + (SELECT sum(k.l2 / 2 * c * c) FROM recs.glmix_coef e
                  JOIN recs.glmix_coordinate k ON k.model_id = e.model_id AND k.name = e.coordinate,
                  unnest(e.coef) c WHERE e.model_id = recs.model_id(mname))
             - (SELECT o FROM obj)) / (SELECT o FROM obj) $$;
SELECT cmp_ok(pg_temp.objective_gap('gm_match'), '<', 1e-6::float8,
              'the objective recomputed from served logits equals the training''s');

-- explain in words
SELECT ok((SELECT 'lang=clang matches (en)' = ANY (top_features) FROM recs.explain(recs.model_id('gm_match'), 1, 10)
            WHERE coordinate = 'fixed'), 'explain: the equality match in words');
SELECT ok((SELECT 'lskills~cskills overlap 2 of 3' = ANY (top_features) FROM recs.explain(recs.model_id('gm_match'), 1, 10)
            WHERE coordinate = 'fixed'), 'explain: the overlap count in words (2 of the course''s 3)');
SELECT ok((SELECT 'lskills~cskills overlap 2 of 3 (Jaccard 0.67)' = ANY (top_features)
             FROM recs.explain(recs.model_id('gm_match'), 1, 10) WHERE coordinate = 'fixed')
          OR (SELECT coef FROM b WHERE feature = 'jaccard(lskills~cskills)') * 2.0 / 3 <
             (SELECT min(abs(c)) FROM recs.explain(recs.model_id('gm_match'), 1, 10), unnest(top_contributions) c
               WHERE coordinate = 'fixed'),
          'explain: the Jaccard feature in words, when among the five largest');

-- served through recommend(): the same scores as glmix_score
SELECT is((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(3, 5, exclude_watched => false,
                                                                          model => recs.model_id('gm_match'))),
          (SELECT array_agg(course_id ORDER BY s DESC, course_id) FROM
             (SELECT course_id, recs.glmix_score(recs.model_id('gm_match'), 3, course_id) s
                FROM gm.courses ORDER BY 2 DESC, 1 LIMIT 5) q),
          'recommend() ranks the catalogue by the scores with matches');

-- with random effects and a cross beside the matches, the same agreement
SELECT ok(recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills,topic}',
                           name => 'gm_full', crosses => '{lang:topic,lang=clang,lskills~cskills}') > 0,
          'crosses, matches and random effects train together');
SELECT ok((SELECT abs(sum(contribution) FILTER (WHERE coordinate <> 'total')
                      - sum(contribution) FILTER (WHERE coordinate = 'total')) < 1e-12
             FROM recs.explain(recs.model_id('gm_full'), 3, 11)), 'explain''s parts add up to its total');

-- ---------------------------------------------------------------------------
-- A match may name columns that are not feature columns: they are read for
-- the match only (no main effects, no random-effect features)
-- ---------------------------------------------------------------------------
SELECT ok(recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang}', '{clang}', name => 'gm_only',
                           crosses => '{lskills~cskills}') > 0,
          'skills matched without being feature columns');
SELECT is((SELECT features FROM recs.glmix_coordinate WHERE model_id = recs.model_id('gm_only') AND position = 0),
          '{(intercept),lang=de,lang=en,lang=fr,clang=de,clang=en,clang=fr,overlap(lskills~cskills),jaccard(lskills~cskills)}'::text[],
          'the fixed effect has no skill features, only the match''s');
SELECT is((SELECT array_agg(cardinality(features) ORDER BY position) FROM recs.glmix_coordinate
            WHERE model_id = recs.model_id('gm_only') AND position > 0),
          '{4,4}'::int[], 'nor do the random effects: intercept and the other side''s language');
SELECT is((SELECT array_agg(name || ':' || coalesce(array_to_string(value_names, ','), '-') ORDER BY side, position)
             FROM recs.glmix_column WHERE model_id = recs.model_id('gm_only')),
          '{clang:-,"cskills:cskills=a,cskills=b,cskills=c,cskills=d,cskills=e",lang:-,"lskills:lskills=a,lskills=b,lskills=c,lskills=d,lskills=e"}'::text[],
          'glmix_column keeps the match-only columns'' value names');
SELECT cmp_ok(pg_temp.objective_gap('gm_only'), '<', 1e-6::float8,
              'match-only columns: served logits (all three coordinates) reproduce the training objective');
SELECT ok((SELECT 'lskills~cskills overlap 2 of 3' = ANY (top_features) FROM recs.explain(recs.model_id('gm_only'), 1, 10)
            WHERE coordinate = 'fixed'), 'explain: a match-only overlap in words');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang}', '{clang}',
                   crosses => '{lskills~cskills,lskills:cskills}')$$, '42703',
                 'cross "lskills:cskills" names a column that is not a feature column',
                 'a match-only column cannot be crossed');

-- ---------------------------------------------------------------------------
-- hash_bits: the crosses share 2^n buckets
-- ---------------------------------------------------------------------------
-- skills only and no intercept, so that a pair's row has few features and
-- explain lists all of them
SELECT ok(recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lskills}', '{cskills}',
                           name => 'gm_hash', random_effects => '{}', l2 => '{1}', intercepts => '{false}',
                           crosses => '{lskills:cskills,lskills~cskills}', hash_bits => 3) > 0,
          'a model with hashed crosses trains');
SELECT is((SELECT features[11:] FROM recs.glmix_coordinate
            WHERE model_id = recs.model_id('gm_hash') AND position = 0),
          '{"(hashed cross 0)","(hashed cross 1)","(hashed cross 2)","(hashed cross 3)","(hashed cross 4)","(hashed cross 5)","(hashed cross 6)","(hashed cross 7)",overlap(lskills~cskills),jaccard(lskills~cskills)}'::text[],
          'the 25 skill pairs share 8 buckets, then the match');
SELECT is((SELECT (params->>'hash_bits')::int FROM recs.model WHERE name = 'gm_hash'), 3, 'params record hash_bits');
SELECT cmp_ok(pg_temp.objective_gap('gm_hash'), '<', 1e-6::float8,
              'hashed: the objective recomputed from served logits equals the training''s');
-- learner 2 {c} x course 11 {d}: lskills=c, cskills=d and the pair's bucket
CREATE TEMP TABLE hb AS
SELECT top_features FROM recs.explain(recs.model_id('gm_hash'), 2, 11) WHERE coordinate = 'fixed';
SELECT is((SELECT count(*)::int FROM hb, unnest(top_features) f
            WHERE f ~ '^lskills=c & cskills=d \(hashed cross [0-7]\)$'), 1,
          'explain names a bucket by the pair that falls in it');
-- learner 3 {a,b,c,d} x course 10 {a,b,c}: 12 pairs in at most 8 buckets
SELECT ok((SELECT count(*) FROM recs.glmix_coef, unnest(coef) WITH ORDINALITY u(c, i)
            WHERE model_id = recs.model_id('gm_hash') AND coordinate = 'fixed' AND i BETWEEN 11 AND 18) = 8
          AND recs.glmix_logit(recs.model_id('gm_hash'), 3, 10) IS NOT NULL,
          'every bucket has a coefficient');
-- the same pair lands in the same bucket when the tables hold other values too
INSERT INTO gm.learners VALUES (65, 'it', '{q,r,s}', 33);
INSERT INTO gm.courses VALUES (25, 'it', '{r,z}', 'y');
INSERT INTO gm.imp VALUES (65, 25, true), (65, 10, false), (1, 25, false);
SELECT ok(recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lskills}', '{cskills}',
                           name => 'gm_hash2', random_effects => '{}', l2 => '{1}', intercepts => '{false}',
                           crosses => '{lskills:cskills}', hash_bits => 3) > 0, 'retrained on more values');
SELECT is((SELECT f FROM recs.explain(recs.model_id('gm_hash2'), 2, 11), unnest(top_features) f
            WHERE coordinate = 'fixed' AND f LIKE '%hashed%'),
          (SELECT f FROM hb, unnest(top_features) f WHERE f LIKE '%hashed%'),
          'buckets depend on the pair''s names only: the same pair in the same bucket');

-- ---------------------------------------------------------------------------
-- bad specs: clear errors before any fit
-- ---------------------------------------------------------------------------
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                   crosses => '{lang=nope}')$$, '42703',
                 'match "lang=nope" names a column that is not a feature column', 'an unknown column');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                   crosses => '{lskills=cskills}')$$, '42804',
                 'match "lskills=cskills" compares columns of incompatible types', '= on text[] columns');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,age}', '{clang,cskills}',
                   crosses => '{age~cskills}')$$, '42804',
                 'match "age~cskills" compares columns of incompatible types', '~ on a numeric column');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                   crosses => '{lang=clang,lang=clang}')$$, '22023',
                 'match "lang=clang" is listed twice', 'a repeated match');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                   crosses => '{lang}')$$, '22023',
                 'cross "lang" is not of the form learner_column:course_column', 'no operator');
SELECT throws_ok($$SELECT recs.train_glmix('gm.imp', 'gm.learners', 'gm.courses', '{lang,lskills}', '{clang,cskills}',
                   hash_bits => 17)$$, '22023', 'hash_bits must be between 0 and 16, not 17', 'hash_bits out of range');

-- ---------------------------------------------------------------------------
-- A corrupted match or hash row is a clean error (XX001), like every model row
-- (corrupt_models.sql); each case is rolled back with throws_ok's subtransaction
-- ---------------------------------------------------------------------------
CREATE FUNCTION pg_temp.corrupt(m bigint, fix text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE fix;
    UPDATE recs.model SET cache_token = (random() * 9.2e18)::bigint WHERE model_id = m;
    PERFORM recs.glmix_score(m, 1, 10);
END $$;
CREATE FUNCTION pg_temp.corrupt_ok(mname text, fix text, what text) RETURNS text LANGUAGE sql AS $$
    SELECT throws_ok(format('SELECT pg_temp.corrupt(%s, %L)', recs.model_id(mname),
                            format(fix, recs.model_id(mname))),
                     'XX001', format('recs model %s is corrupt', recs.model_id(mname)), what) $$;
SELECT pg_temp.corrupt_ok('gm_match', $$UPDATE recs.glmix_coordinate SET matches = '{lang=nope}'
                                        WHERE model_id = %s AND position = 0$$, 'matches: an unknown column');
SELECT pg_temp.corrupt_ok('gm_match', $$UPDATE recs.glmix_coordinate SET matches = '{lang~clang,lskills~cskills}'
                                        WHERE model_id = %s AND position = 0$$, 'matches: a match of another width');
SELECT pg_temp.corrupt_ok('gm_match', $$UPDATE recs.glmix_coordinate SET matches = '{lskills=cskills,lang=clang}'
                                        WHERE model_id = %s AND position = 0$$, 'matches: = on text[] columns');
SELECT pg_temp.corrupt_ok('gm_hash', $$UPDATE recs.glmix_coordinate SET hash_bits = 4
                                        WHERE model_id = %s AND position = 0$$, 'hash_bits: other than trained');
SELECT pg_temp.corrupt_ok('gm_hash', $$UPDATE recs.glmix_coordinate SET hash_bits = 99
                                        WHERE model_id = %s AND position = 0$$, 'hash_bits: out of range');
SELECT pg_temp.corrupt_ok('gm_only', $$UPDATE recs.glmix_column SET value_names = value_names[1:2]
                                        WHERE model_id = %s AND name = 'cskills'$$, 'value_names: too short');
SELECT pg_temp.corrupt_ok('gm_only', $$UPDATE recs.glmix_column SET value_names = '{a,b,c}'
                                        WHERE model_id = %s AND name = 'lang'$$, 'value_names: a feature column marked match-only');
SELECT pg_temp.corrupt_ok('gm_only', $$UPDATE recs.glmix_column SET value_names = NULL
                                        WHERE model_id = %s AND name = 'lskills'$$, 'value_names: a match-only column unmarked');

-- ---------------------------------------------------------------------------
-- The sample data: matches lift the held-out AUC (train on the first 80% of
-- impressions by time, test on the rest)
-- ---------------------------------------------------------------------------
SELECT ok((SELECT count(*) FROM recs.generate_sample('gs', 1000, 120, 11)) = 4, 'sample data');
CREATE TABLE gs.tr AS
SELECT * FROM gs.impressions
 WHERE shown_at < (SELECT percentile_disc(0.8) WITHIN GROUP (ORDER BY shown_at) FROM gs.impressions);
CREATE TABLE gs.te AS SELECT * FROM gs.impressions EXCEPT ALL SELECT * FROM gs.tr;
SELECT is((SELECT count(recs.train_glmix('gs.tr', 'gs.learners', 'gs.courses', '{language,industry,segment,skills}',
                                          '{language,topic,difficulty,skills}', name => 'gs_' || v, crosses => c,
                                          activate => false))::int
             FROM (VALUES ('base', '{industry:topic}'::text[]),
                          ('match', '{industry:topic,language=language,skills~skills}')) s(v, c)),
          2, 'the same model trained without and with matches');
CREATE FUNCTION pg_temp.auc(mname text) RETURNS float8 LANGUAGE sql AS $$
  WITH s AS (SELECT clicked, recs.glmix_logit(recs.model_id(mname), learner_id, course_id) AS x FROM gs.te),
  r AS (SELECT clicked, rank() OVER (ORDER BY x) + (count(*) OVER (PARTITION BY x) - 1) / 2.0 AS r FROM s)
  SELECT ((sum(r) FILTER (WHERE clicked) - count(*) FILTER (WHERE clicked) * (count(*) FILTER (WHERE clicked) + 1) / 2.0)
          / (count(*) FILTER (WHERE clicked) * count(*) FILTER (WHERE NOT clicked)))::float8 FROM r $$;
SELECT cmp_ok(pg_temp.auc('gs_match'), '>', pg_temp.auc('gs_base') + 0.005,
              'sample data: held-out AUC with language=language and skills~skills beats the same model without');
SELECT ok((SELECT bool_and(f = 'skills overlap ' || o || ' of ' || n
                           OR f = 'language matches (' || lang || ')' OR f !~ '(overlap|matches)')
                  AND count(*) FILTER (WHERE f ~ 'overlap') > 0
             FROM (SELECT l.learner_id, c.course_id, c.language AS lang,
                          cardinality(ARRAY(SELECT unnest(l.skills) INTERSECT SELECT unnest(c.skills))) AS o,
                          cardinality(ARRAY(SELECT DISTINCT unnest(c.skills))) AS n
                     FROM gs.learners l, gs.courses c WHERE l.learner_id <= 100010 AND c.course_id <= 20) p,
                  recs.explain(recs.model_id('gs_match'), p.learner_id, p.course_id) e, unnest(e.top_features) f
            WHERE e.coordinate = 'fixed' AND f !~ 'Jaccard'),
          'sample data: explain''s words agree with the arrays'' intersection in SQL');

SELECT * FROM finish();
ROLLBACK;
