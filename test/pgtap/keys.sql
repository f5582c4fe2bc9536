-- keys.sql -- uuid, text and integer ids: a platform keyed by uuid and one
-- keyed by text get, mapped, exactly what the bigint-keyed original gets
-- from every model kind (same data, same seeds); int4 ids; mixed key types;
-- unknown and NULL keys; forget_learner by key.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(80);

SELECT count(*) FROM recs.generate_sample('ky', 120, 20, 5);
-- the keys: md5-based uuids and padded text that sort as the ids do, so the
-- dictionary numbers them in the bigint ids' order
CREATE FUNCTION ky.u(id bigint) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (lpad(to_hex(id), 12, '0') || substr(md5(id::text), 1, 20))::uuid $$;
CREATE FUNCTION ky.t(id bigint) RETURNS text LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT 'key-' || lpad(id::text, 12, '0') $$;
CREATE VIEW ky.early_watches AS SELECT * FROM ky.watches WHERE watched_at < '2025-12-01';
CREATE VIEW ky.early_impressions AS SELECT * FROM ky.impressions WHERE shown_at < '2025-12-01';
DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['u', 't'] LOOP
        EXECUTE format('CREATE VIEW ky.%1$s_watches AS SELECT ky.%1$s(learner_id) AS learner_id, ky.%1$s(course_id) AS course_id,
                               watched_at, watch_seconds FROM ky.watches', f);
        EXECUTE format('CREATE VIEW ky.%1$s_early_watches AS SELECT * FROM ky.%1$s_watches WHERE watched_at < ''2025-12-01''', f);
        EXECUTE format('CREATE VIEW ky.%1$s_impressions AS SELECT ky.%1$s(learner_id) AS learner_id, ky.%1$s(course_id) AS course_id,
                               shown_at, clicked, bookmarked, watch_seconds FROM ky.impressions', f);
        EXECUTE format('CREATE VIEW ky.%1$s_early_impressions AS SELECT * FROM ky.%1$s_impressions WHERE shown_at < ''2025-12-01''', f);
        EXECUTE format('CREATE VIEW ky.%1$s_learners AS SELECT ky.%1$s(learner_id) AS learner_id, language, industry, segment
                          FROM ky.learners', f);
        EXECUTE format('CREATE VIEW ky.%1$s_courses AS SELECT ky.%1$s(course_id) AS course_id, language, topic, difficulty
                          FROM ky.courses', f);
    END LOOP;
END $$;

-- a training draws the ids of the keys it sees first in key order; registered
-- here in key order up front, the ids follow the bigint ids' order, and so do
-- the trainers' tie-breaks and random draws
INSERT INTO recs.id_key (side, key)
SELECT s, k FROM (SELECT 'learner', ky.u(learner_id)::text, 1, learner_id FROM ky.learners
                  UNION ALL SELECT 'course', ky.u(course_id)::text, 1, course_id FROM ky.courses
                  UNION ALL SELECT 'learner', ky.t(learner_id), 2, learner_id FROM ky.learners
                  UNION ALL SELECT 'course', ky.t(course_id), 2, course_id FROM ky.courses) x(s, k, f, id)
 ORDER BY f, s, id
    ON CONFLICT DO NOTHING;

-- every kind, three times: bigint (b), uuid (u), text (t)
DO $$
DECLARE
    f text;
    p text;
BEGIN
    FOREACH f IN ARRAY ARRAY['b', 'u', 't'] LOOP
        p := CASE f WHEN 'b' THEN 'ky.' ELSE 'ky.' || f || '_' END;
        PERFORM recs.train_popularity((p || 'early_watches')::regclass, (p || 'learners')::regclass,
                                      name => 'ky_pop_' || f, activate => false);
        PERFORM recs.train_ncf((p || 'early_watches')::regclass, 'ky_ncf_' || f, courses => (p || 'courses')::regclass,
                               layers => '{16}', dim => 8, epochs => 2, activate => false);
        PERFORM recs.train_glmix((p || 'early_impressions')::regclass, (p || 'learners')::regclass,
                                 (p || 'courses')::regclass, '{language,segment}', '{topic}',
                                 name => 'ky_glmix_' || f, activate => false);
        PERFORM recs.train_blend(ARRAY[recs.model_id('ky_ncf_' || f), recs.model_id('ky_glmix_' || f),
                                       recs.model_id('ky_pop_' || f)],
                                 (p || 'impressions')::regclass, (p || 'learners')::regclass,
                                 name => 'ky_blend_' || f, since => '2025-12-01',
                                 random_effects => '{learner_id,segment}', activate => false);
    END LOOP;
END $$;

SELECT set_eq($$SELECT name, learner_key, course_key FROM recs.model WHERE name LIKE 'ky\_%'$$,
              $$SELECT format('ky_%s_%s', k, f), t AS l, t AS c
                  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k,
                       (VALUES ('b', 'bigint'), ('u', 'uuid'), ('t', 'text')) v(f, t)$$,
              'each model records how its relations keyed learners and courses');

-- everyone's top 5 from every kind: the keyed models' answers, mapped back,
-- are the bigint model's, ranks and scores included
CREATE TEMP TABLE b_recs AS
SELECT k.kind, l.learner_id, r.rank, r.course_id, r.score
  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k(kind), ky.learners l,
       LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ky_' || k.kind || '_b')) r;
SELECT ok((SELECT count(*) FROM b_recs) > 2000, 'the bigint models rank courses for the 120 learners (the answers compared)');
SELECT results_eq(
    format($$SELECT ky.u(l.learner_id), r.rank, r.course_id, r.score FROM ky.learners l,
                    LATERAL recs.recommend(ky.u(l.learner_id), 5, model => recs.model_id('ky_%s_u')) r
              ORDER BY l.learner_id, 2$$, k),
    format($$SELECT ky.u(learner_id), rank, ky.u(course_id), score FROM b_recs WHERE kind = '%s'
              ORDER BY learner_id, rank$$, k),
    format('%s keyed by uuid: recommend(uuid) gives the bigint model''s courses and scores', k))
  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k;
SELECT results_eq(
    format($$SELECT ky.t(l.learner_id), r.rank, r.course_id, r.score FROM ky.learners l,
                    LATERAL recs.recommend(ky.t(l.learner_id), 5, model => recs.model_id('ky_%s_t')) r
              ORDER BY l.learner_id, 2$$, k),
    format($$SELECT ky.t(learner_id), rank, ky.t(course_id), score FROM b_recs WHERE kind = '%s'
              ORDER BY learner_id, rank$$, k),
    format('%s keyed by text: recommend(text) gives the bigint model''s courses and scores', k))
  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k;

-- the other serving functions, on the uuid platform
SELECT results_eq(
    $$SELECT ky.u(learner_id), rank, ky.u(course_id), score FROM recs.recommend_all(3, recs.model_id('ky_blend_b'))
       ORDER BY 1, 2$$,
    $$SELECT learner_id, rank, course_id, score FROM recs.recommend_all(NULL::uuid[], 3, recs.model_id('ky_blend_u'))
       ORDER BY 1, 2$$,
    'recommend_all(uuid[]): NULL for every learner the model knows, keys out');
SELECT results_eq(
    $$SELECT learner_id, rank, course_id, score
        FROM recs.recommend_all(ARRAY[ky.t(100003), 'no such key', NULL], 2, recs.model_id('ky_pop_t'))
       ORDER BY 1, 2$$,
    $$SELECT x.k, r.rank, r.course_id, r.score
        FROM (VALUES (ky.t(100003)), ('no such key')) x(k), recs.recommend(x.k, 2, model => recs.model_id('ky_pop_t')) r
       ORDER BY 1, 2$$,
    'recommend_all(text[]): each given key, an unknown one too, as recommend() serves it');
SELECT is(recs.score(recs.model_id('ky_ncf_u'), ky.u(100003), ky.u(4)),
          recs.score(recs.model_id('ky_ncf_b'), 100003, 4), 'score(uuid)');
SELECT is(recs.glmix_score(recs.model_id('ky_glmix_t'), ky.t(100003), ky.t(4)),
          recs.glmix_score(recs.model_id('ky_glmix_b'), 100003, 4), 'glmix_score(text)');
SELECT is(recs.glmix_logit(recs.model_id('ky_glmix_u'), ky.u(100003), ky.u(4)),
          recs.glmix_logit(recs.model_id('ky_glmix_b'), 100003, 4), 'glmix_logit(uuid)');
SELECT results_eq(
    $$SELECT course_id, x, y FROM recs.course_map(recs.model_id('ky_ncf_u'), NULL::uuid)$$,
    $$SELECT ky.u(course_id), x, y FROM recs.course_map(recs.model_id('ky_ncf_b')) ORDER BY 1$$,
    'course_map(model, NULL::uuid)');
SELECT results_eq(
    $$SELECT rank, course_id, similarity FROM recs.similar_courses(ky.u(4), 5, recs.model_id('ky_ncf_u'))$$,
    $$SELECT rank, ky.u(course_id), similarity FROM recs.similar_courses(4, 5, recs.model_id('ky_ncf_b'))$$,
    'similar_courses(uuid)');
SELECT is(recs.embed_learner_keys(recs.model_id('ky_ncf_u'), ARRAY[ky.u(1), ky.u(2)]::text[]),
          recs.embed_learner(recs.model_id('ky_ncf_b'), ARRAY[1, 2]::bigint[]), 'embed_learner_keys(uuid[]::text[])');
SELECT results_eq(
    $$SELECT course_id, embedding FROM recs.course_embeddings(recs.model_id('ky_ncf_t'), key_type => NULL::text)$$,
    $$SELECT ky.t(course_id), embedding FROM recs.course_embeddings(recs.model_id('ky_ncf_b')) ORDER BY 1$$,
    'course_embeddings(model, key_type => NULL::text): keys of the key type asked for');
SELECT results_eq(
    $$SELECT learner_id, embedding FROM recs.learner_embeddings(recs.model_id('ky_ncf_u'), NULL::uuid)$$,
    $$SELECT ky.u(learner_id), embedding FROM recs.learner_embeddings(recs.model_id('ky_ncf_b')) ORDER BY 1$$,
    'learner_embeddings(model, NULL::uuid)');
SELECT results_eq(
    $$SELECT coordinate, entity, contribution FROM recs.explain(recs.model_id('ky_glmix_u'), ky.u(100003), ky.u(4))$$,
    $$SELECT coordinate, CASE coordinate WHEN 'learner_id' THEN ky.u(100003)::text WHEN 'course_id' THEN ky.u(4)::text
                                         ELSE entity END, contribution
        FROM recs.explain(recs.model_id('ky_glmix_b'), 100003, 4)$$,
    'explain(model, uuid, uuid): per-learner and per-course entities are the keys');
SELECT results_eq(
    $$SELECT part, kind, score, weight, contribution FROM recs.explain_recommendation(ky.t(100003), ky.t(4), recs.model_id('ky_blend_t'))$$,
    $$SELECT part, kind, score, weight, contribution FROM recs.explain_recommendation(100003, 4, recs.model_id('ky_blend_b'))$$,
    'explain_recommendation(text) of a blend: the same parts, weights and total');
SELECT is(recs.evaluate(recs.model_id('ky_ncf_u'), 'ky.u_watches', 5) - 'seconds',
          recs.evaluate(recs.model_id('ky_ncf_b'), 'ky.watches', 5) - 'seconds',
          'evaluate on a uuid test relation: the bigint metrics');

-- sampled evaluation: negatives as uuid[] (one of them a key no training saw)
CREATE TEMP TABLE b_sampled AS
SELECT w.learner_id, w.course_id, ARRAY[(w.course_id % 20) + 1, ((w.course_id + 7) % 20) + 1, 777]::bigint[] AS negatives
  FROM ky.watches w WHERE w.watched_at >= '2025-12-01';
CREATE TEMP TABLE u_sampled AS
SELECT ky.u(learner_id) AS learner_id, ky.u(course_id) AS course_id, ARRAY(SELECT ky.u(n) FROM unnest(negatives) n) AS negatives
  FROM b_sampled;
SELECT is(recs.evaluate(recs.model_id('ky_ncf_u'), 'u_sampled', 2, 'sampled') - 'seconds',
          recs.evaluate(recs.model_id('ky_ncf_b'), 'b_sampled', 2, 'sampled') - 'seconds',
          'sampled evaluate with uuid[] negatives: the bigint metrics');

-- the pipeline on the uuid platform: its blend answers as the bigint one's
SELECT recs.train_all('ky.u_watches', 'ky.u_impressions', 'ky.u_learners', 'ky.u_courses', name => 'ky_all_u',
                      epochs => 1, activate => false) AS all_u \gset
SELECT recs.train_all('ky.watches', 'ky.impressions', 'ky.learners', 'ky.courses', name => 'ky_all_b',
                      epochs => 1, activate => false) AS all_b \gset
SELECT results_eq(
    format($$SELECT ky.u(l.learner_id), r.rank, r.course_id, r.score FROM ky.learners l,
                    LATERAL recs.recommend(ky.u(l.learner_id), 5, model => %s) r ORDER BY l.learner_id, 2$$, :all_u),
    format($$SELECT ky.u(l.learner_id), r.rank, ky.u(r.course_id), r.score FROM ky.learners l,
                    LATERAL recs.recommend(l.learner_id, 5, model => %s) r ORDER BY l.learner_id, 2$$, :all_b),
    'train_all on uuid relations: its blend recommends what the bigint pipeline''s does');

-- the text overloads serve bigint models too (an integer's digits)
SELECT results_eq(
    $$SELECT rank, course_id, score FROM recs.recommend('100003', 5, model => recs.model_id('ky_ncf_b'))$$,
    $$SELECT rank, course_id::text, score FROM recs.recommend(100003, 5, model => recs.model_id('ky_ncf_b'))$$,
    'recommend(text) of a bigint-keyed model: the digits are the id');

-- wrong key types are errors, never someone else's answer
SELECT throws_ok($$SELECT * FROM recs.recommend(1::bigint, 5, model => recs.model_id('ky_ncf_u'))$$, '42804', NULL,
                 'a bigint id on a uuid-keyed model is an error (ids 1.. are dictionary ids)');
SELECT throws_ok($$SELECT recs.score(recs.model_id('ky_pop_t'), 1::bigint, 2::bigint)$$, '42804', NULL,
                 'score(bigint) on a text-keyed model too');
SELECT throws_ok($$SELECT * FROM recs.recommend(ky.u(100003), 5, model => recs.model_id('ky_ncf_b'))$$, '42804', NULL,
                 'a uuid on a bigint-keyed model is an error');
SELECT throws_ok($$SELECT recs.evaluate(recs.model_id('ky_ncf_u'), 'ky.watches', 5)$$, '42804', NULL,
                 'evaluate of a uuid model on a bigint-keyed test relation is an error');
SELECT throws_ok($$SELECT recs.train_popularity('ky.u_watches', 'ky.learners', name => 'ky_mixed')$$, '42804', NULL,
                 'one training keying learners by uuid in one relation and by bigint in another is an error');
SELECT throws_ok($$SELECT recs.train_blend(ARRAY[recs.model_id('ky_ncf_b')], 'ky.u_impressions', name => 'ky_mixed')$$,
                 '42804', NULL, 'a blend of bigint-keyed components on uuid impressions is an error');

-- a message about a learner of the training names them by key
CREATE VIEW ky.dup_learners AS SELECT * FROM ky.u_learners UNION ALL SELECT * FROM ky.u_learners WHERE learner_id = ky.u(100003);
SELECT throws_like($$SELECT recs.train_glmix('ky.u_early_impressions', 'ky.dup_learners', 'ky.u_courses',
                                             '{language}', '{topic}', name => 'ky_dup')$$,
                   format('learner id ''%s'' appears more than once in ky.dup_learners', ky.u(100003)),
                   'a duplicate uuid learner is named by its key');
-- (also a key this very training adds to the dictionary)
CREATE VIEW ky.dup_new_learners AS SELECT * FROM ky.u_learners
                                   UNION ALL SELECT ky.u(888888), 'en', 'x', 'y' FROM generate_series(1, 2);
SELECT throws_like($$SELECT recs.train_glmix('ky.u_early_impressions', 'ky.dup_new_learners', 'ky.u_courses',
                                             '{language}', '{topic}', name => 'ky_dup')$$,
                   format('learner id ''%s'' appears more than once in ky.dup_new_learners', ky.u(888888)),
                   'a duplicate new uuid learner too');

-- unknown and NULL keys
SELECT results_eq(
    $$SELECT rank, course_id, score FROM recs.recommend(ky.u(999999), 5, model => recs.model_id('ky_blend_u'))$$,
    $$SELECT rank, ky.u(course_id), score FROM recs.recommend(999999, 5, model => recs.model_id('ky_blend_b'))$$,
    'an unknown uuid gets what an unknown bigint id gets');
SELECT throws_ok($$SELECT * FROM recs.recommend(NULL::uuid, 5, model => recs.model_id('ky_ncf_u'))$$, '22004',
                 'learner_id must not be NULL', 'a NULL uuid learner is the NULL error');
SELECT throws_ok($$SELECT * FROM recs.recommend('not a uuid', 5, model => recs.model_id('ky_ncf_u'))$$, '22P02', NULL,
                 'text that is no uuid, on a uuid-keyed model, is an error');

-- a key keeps its id: training again on known keys adds none and draws no new ids
SELECT max(id) AS max_before, count(*) AS n_before FROM recs.id_key \gset
SELECT recs.train_popularity('ky.u_early_watches', 'ky.u_learners', name => 'ky_pop_u', activate => false) IS NOT NULL AS again;
SELECT is((SELECT array[max(id), count(*)] FROM recs.id_key), ARRAY[:max_before, :n_before]::bigint[],
          'training again on the same keys leaves the dictionary as it was');
SELECT results_eq(
    $$SELECT rank, course_id, score FROM recs.recommend(ky.u(100003), 5, model => recs.model_id('ky_pop_u'))$$,
    $$SELECT rank, ky.u(course_id), score FROM b_recs WHERE kind = 'pop' AND learner_id = 100003 ORDER BY rank$$,
    'and its new version serves the same');

-- NULL keys in training: skipped and counted, as NULL ids are
CREATE VIEW ky.n_watches AS
SELECT CASE WHEN learner_id % 7 = 0 THEN NULL ELSE ky.u(learner_id) END AS learner_id, ky.u(course_id) AS course_id,
       watched_at, watch_seconds FROM ky.early_watches;
SELECT recs.train_popularity('ky.n_watches', name => 'ky_pop_n', activate => false) AS pop_n \gset
SELECT is((SELECT (metrics->'skipped'->>'null_id')::bigint FROM recs.model WHERE model_id = :pop_n),
          (SELECT count(*) FROM ky.early_watches WHERE learner_id % 7 = 0),
          'NULL uuid keys are skipped and counted as null_id');

-- int4 ids are integer ids
CREATE VIEW ky.i_watches AS SELECT learner_id::int4 AS learner_id, course_id::int4 AS course_id, watched_at, watch_seconds
  FROM ky.early_watches;
SELECT recs.train_popularity('ky.i_watches', 'ky.learners', name => 'ky_pop_i', activate => false) IS NOT NULL AS trained;
SELECT results_eq(
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM ky.learners l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ky_pop_i')) r ORDER BY 1, 2$$,
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM ky.learners l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ky_pop_b')) r ORDER BY 1, 2$$,
    'integer (int4) id columns: the bigint answers');

-- mixed: learners by uuid, courses by bigint; served by the text overloads
CREATE VIEW ky.m_watches AS SELECT ky.u(learner_id) AS learner_id, course_id, watched_at, watch_seconds
  FROM ky.early_watches;
SELECT recs.train_popularity('ky.m_watches', 'ky.u_learners', name => 'ky_pop_m', activate => false) IS NOT NULL AS trained;
SELECT results_eq(
    $$SELECT rank, course_id, score FROM recs.recommend(ky.u(100003)::text, 5, model => recs.model_id('ky_pop_m'))$$,
    $$SELECT rank, course_id::text, score FROM recs.recommend(100003, 5, model => recs.model_id('ky_pop_i'))$$,
    'uuid learners and bigint courses: recommend(text) gives the course ids as text');
SELECT throws_ok($$SELECT * FROM recs.recommend(ky.u(100003), 5, model => recs.model_id('ky_pop_m'))$$, '42804', NULL,
                 'and recommend(uuid), which returns uuid courses, is an error');

-- slots: the uuid and text overloads name their model as the bigint ones do
SELECT recs.activate(recs.model_id('ky_pop_u'), 'ky_a'), recs.activate(recs.model_id('ky_ncf_u'), 'ky_b'),
       recs.activate(recs.model_id('ky_blend_u'), 'ky_c'),
       recs.activate(recs.model_id('ky_pop_t'), 'ky_ta'), recs.activate(recs.model_id('ky_glmix_t'), 'ky_tb');
SELECT results_eq(
    $$SELECT s.slot, r.rank, r.course_id, r.score FROM unnest(ARRAY['ky_a', 'ky_b', 'ky_c']) s(slot),
             recs.recommend(ky.u(100003), 5, slot => s.slot) r ORDER BY 1, 2$$,
    $$SELECT s.slot, r.rank, r.course_id, r.score
        FROM (VALUES ('ky_a', 'ky_pop_u'), ('ky_b', 'ky_ncf_u'), ('ky_c', 'ky_blend_u')) s(slot, name),
             recs.recommend(ky.u(100003), 5, model => recs.model_id(s.name)) r ORDER BY 1, 2$$,
    'recommend(uuid, slot =>): each slot serves its own model');
SELECT results_eq(
    $$SELECT s.slot, r.rank, r.course_id, r.score FROM unnest(ARRAY['ky_ta', 'ky_tb']) s(slot),
             recs.recommend(ky.t(100003), 5, slot => s.slot) r ORDER BY 1, 2$$,
    $$SELECT s.slot, r.rank, r.course_id, r.score
        FROM (VALUES ('ky_ta', 'ky_pop_t'), ('ky_tb', 'ky_glmix_t')) s(slot, name),
             recs.recommend(ky.t(100003), 5, model => recs.model_id(s.name)) r ORDER BY 1, 2$$,
    'recommend(text, slot =>): each slot serves its own model');
SELECT isnt((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(ky.u(100003), 5, slot => 'ky_a')),
            (SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(ky.u(100003), 5, slot => 'ky_b')),
            'the two uuid slots'' models answer differently (the comparison above can fail)');
SELECT results_eq(
    $$SELECT learner_id, rank, course_id, score FROM recs.recommend_all(NULL::uuid[], 3, slot => 'ky_b') ORDER BY 1, 2$$,
    $$SELECT learner_id, rank, course_id, score FROM recs.recommend_all(NULL::uuid[], 3, recs.model_id('ky_ncf_u')) ORDER BY 1, 2$$,
    'recommend_all(uuid[], slot =>)');
SELECT results_eq(
    $$SELECT learner_id, rank, course_id, score FROM recs.recommend_all(ARRAY[ky.t(100003), 'no such key'], 3, slot => 'ky_tb') ORDER BY 1, 2$$,
    $$SELECT learner_id, rank, course_id, score FROM recs.recommend_all(ARRAY[ky.t(100003), 'no such key'], 3, recs.model_id('ky_glmix_t')) ORDER BY 1, 2$$,
    'recommend_all(text[], slot =>)');
SELECT is(ARRAY[recs.score(NULL, ky.u(100003), ky.u(4), slot => 'ky_b'),
                recs.glmix_score(NULL, ky.t(100003), ky.t(4), slot => 'ky_tb'),
                recs.glmix_logit(NULL, ky.t(100003), ky.t(4), slot => 'ky_tb')],
          ARRAY[recs.score(recs.model_id('ky_ncf_b'), 100003, 4),
                recs.glmix_score(recs.model_id('ky_glmix_b'), 100003, 4),
                recs.glmix_logit(recs.model_id('ky_glmix_b'), 100003, 4)],
          'score(uuid), glmix_score(text), glmix_logit(text) by slot: the slot model''s numbers');
SELECT is(ARRAY[recs.score(NULL, ky.u(100003), ky.u(4)), recs.glmix_score(NULL, ky.t(100003), ky.t(4)),
                recs.score(NULL, ky.t(100003), ky.t(4), slot => NULL)],
          ARRAY[NULL, NULL, NULL]::float8[], 'neither model nor slot: NULL, as score(bigint) gives');
SELECT results_eq(
    $$SELECT rank, course_id, similarity FROM recs.similar_courses(ky.u(4), 5, slot => 'ky_b')$$,
    $$SELECT rank, course_id, similarity FROM recs.similar_courses(ky.u(4), 5, recs.model_id('ky_ncf_u'))$$,
    'similar_courses(uuid, slot =>)');
SELECT results_eq(
    $$SELECT coordinate, entity, contribution FROM recs.explain(NULL, ky.t(100003), ky.t(4), slot => 'ky_tb')$$,
    $$SELECT coordinate, entity, contribution FROM recs.explain(recs.model_id('ky_glmix_t'), ky.t(100003), ky.t(4))$$,
    'explain(model, text, text, slot =>)');
SELECT results_eq(
    $$SELECT part, score, contribution FROM recs.explain_recommendation(ky.u(100003), ky.u(4), slot => 'ky_c')$$,
    $$SELECT part, score, contribution FROM recs.explain_recommendation(ky.u(100003), ky.u(4), recs.model_id('ky_blend_u'))$$,
    'explain_recommendation(uuid, slot =>)');
SELECT results_eq(
    $$SELECT part, score, contribution FROM recs.explain(ky.u(100003), ky.u(4), slot => 'ky_c')$$,
    $$SELECT part, score, contribution FROM recs.explain_recommendation(ky.u(100003), ky.u(4), recs.model_id('ky_blend_u'))$$,
    'explain(uuid, uuid, slot =>)');
SELECT is(recs.embed_learner_keys(NULL, ARRAY[ky.u(1), ky.u(2)]::text[], slot => 'ky_b'),
          recs.embed_learner_keys(recs.model_id('ky_ncf_u'), ARRAY[ky.u(1), ky.u(2)]::text[]),
          'embed_learner_keys(slot =>)');
SELECT results_eq(
    $$SELECT c.course_id, c.embedding, m.x FROM recs.course_embeddings(NULL, NULL::uuid, slot => 'ky_b') c
        JOIN recs.course_map(NULL, NULL::uuid, slot => 'ky_b') m USING (course_id) ORDER BY 1$$,
    $$SELECT c.course_id, c.embedding, m.x FROM recs.course_embeddings(recs.model_id('ky_ncf_u'), NULL::uuid) c
        JOIN recs.course_map(recs.model_id('ky_ncf_u'), NULL::uuid) m USING (course_id) ORDER BY 1$$,
    'course_embeddings and course_map (model, NULL::uuid, slot =>)');
-- an unknown slot, and model with slot, are the bigint functions' errors in every overload
SELECT throws_ok(format('SELECT * FROM %s', f), '42704', 'no recs model is active in slot "ky_nope"',
                 'unknown slot: ' || f)
  FROM unnest(ARRAY[
    $$recs.recommend(ky.u(100003), 5, slot => 'ky_nope')$$,
    $$recs.recommend(ky.t(100003), 5, slot => 'ky_nope')$$,
    $$recs.recommend_all(ARRAY[ky.u(100003)], 5, slot => 'ky_nope')$$,
    $$recs.recommend_all(NULL::text[], 5, slot => 'ky_nope')$$,
    $$recs.score(NULL, ky.u(100003), ky.u(4), slot => 'ky_nope')$$,
    $$recs.glmix_score(NULL, ky.t(100003), ky.t(4), slot => 'ky_nope')$$,
    $$recs.glmix_logit(NULL, ky.u(100003), ky.u(4), slot => 'ky_nope')$$,
    $$recs.similar_courses(ky.t(4), 5, slot => 'ky_nope')$$,
    $$recs.explain(NULL, ky.u(100003), ky.u(4), slot => 'ky_nope')$$,
    $$recs.explain_recommendation(ky.t(100003), ky.t(4), slot => 'ky_nope')$$,
    $$recs.explain(ky.u(100003), ky.u(4), slot => 'ky_nope')$$,
    $$recs.embed_learner_keys(NULL, ARRAY[ky.t(1)], slot => 'ky_nope')$$,
    $$recs.course_embeddings(NULL, NULL::uuid, slot => 'ky_nope')$$,
    $$recs.course_map(NULL, NULL::text, slot => 'ky_nope')$$]) f;
SELECT throws_ok(format('SELECT * FROM %s', f), '22023', 'model and slot must not both be given',
                 'model and slot: ' || f)
  FROM unnest(ARRAY[
    $$recs.recommend(ky.u(100003), 5, model => recs.model_id('ky_ncf_u'), slot => 'ky_b')$$,
    $$recs.score(recs.model_id('ky_pop_t'), ky.t(100003), ky.t(4), slot => 'ky_ta')$$,
    $$recs.similar_courses(ky.u(4), 5, recs.model_id('ky_ncf_u'), slot => 'ky_b')$$,
    $$recs.explain_recommendation(ky.u(100003), ky.u(4), recs.model_id('ky_blend_u'), slot => 'ky_c')$$]) f;
SELECT throws_ok($$SELECT * FROM recs.recommend(ky.u(100003), 5, slot => 'ky_ta')$$, '42804', NULL,
                 'a slot serving a text-keyed model is refused by recommend(uuid), as model => is');

-- a serving role (grant_access) serves keys and reads no dictionary
CREATE ROLE recs_tap_keys_app;
SELECT recs.grant_access('recs_tap_keys_app');
SELECT ky.u(100003) AS key3, recs.model_id('ky_blend_u') AS blend_u,
       (SELECT array_agg(ky.u(course_id) ORDER BY rank) FROM b_recs
         WHERE kind = 'blend' AND learner_id = 100003 AND rank <= 3) AS want3 \gset
SET ROLE recs_tap_keys_app;
SELECT is((SELECT array_agg(course_id ORDER BY rank) FROM recs.recommend(:'key3'::uuid, 3, model => :blend_u)),
          :'want3'::uuid[], 'a serving role gets recommend(uuid)');
SELECT throws_ok($$SELECT count(*) FROM recs.id_key$$, '42501', NULL, 'but may not read recs.id_key');
RESET ROLE;

-- forget_learner by key: every keyed model, and the dictionary row
SELECT id AS gone_id FROM recs.id_key WHERE side = 'learner' AND key = ky.t(100003) \gset
SELECT count(*) AS bigint_rows FROM recs.model_learner ml JOIN recs.model m USING (model_id)
 WHERE m.learner_key = 'bigint' AND ml.learner_id = 100003 \gset
CREATE TEMP TABLE removed AS SELECT * FROM recs.forget_learner(ky.t(100003));
SELECT is((SELECT rows_removed FROM removed WHERE table_name = 'recs.model_learner'), 4::bigint,
          'forget_learner(text): their history leaves the four text-keyed models');
SELECT ok((SELECT count(*) FROM recs.model_learner ml JOIN recs.model m USING (model_id)
            WHERE m.learner_key <> 'bigint' AND ml.learner_id = :gone_id) = 0
          AND NOT EXISTS (SELECT FROM recs.id_key WHERE side = 'learner' AND key = ky.t(100003))
          AND (SELECT count(*) FROM recs.model_learner WHERE learner_id = 100003) = :bigint_rows
          AND :bigint_rows >= 5,
          'no keyed model and no dictionary row holds them; the bigint-keyed models keep learner 100003');
SELECT results_eq(
    $$SELECT rank, course_id, score FROM recs.recommend(ky.t(100003), 5, model => recs.model_id('ky_blend_t'))$$,
    $$SELECT rank, course_id, score FROM recs.recommend(ky.t(999999), 5, model => recs.model_id('ky_blend_t'))$$,
    'the forgotten key is served as an unknown key');

SELECT * FROM finish();
ROLLBACK;
