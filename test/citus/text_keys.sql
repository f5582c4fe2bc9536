-- text_keys.sql -- text and uuid ids on distributed tables (scripts/test_citus.sh,
-- after serving.sql, which ran recs.citus_setup()): a platform keyed by
-- text and one keyed by uuid, learners, watches and impressions
-- distributed by learner key, courses a reference table, with plain copies
-- of the same rows.  Every trainer runs on the distributed relations and
-- gives the model it gives on the plain copy (the two share recs.id_key, so
-- the same keys have the same ids); evaluate reads a distributed test
-- relation with a text[] negatives column; a worker serves a text key as
-- the coordinator does.  Adding the keys (src/ingest/keys.c) used to be a
-- correlated subquery that Citus refuses.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SELECT plan(18);

-- the keys: padded text and md5-based uuids
SET client_min_messages = error;
CREATE FUNCTION public.ck_t(id bigint) RETURNS text LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT 'key-' || lpad(id::text, 12, '0') $$;
CREATE FUNCTION public.ck_u(id bigint) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT (lpad(to_hex(id), 12, '0') || substr(md5(id::text), 1, 20))::uuid $$;
SET client_min_messages = warning;
DO $$
DECLARE
    f text;
    s text;
BEGIN
    FOREACH f IN ARRAY ARRAY['t', 'u'] LOOP
        FOREACH s IN ARRAY ARRAY['ck_' || f || '_s', 'ck_' || f || '_d'] LOOP
            EXECUTE format('CREATE SCHEMA %1$s', s);
            EXECUTE format('CREATE TABLE %1$s.learners AS SELECT ck_%2$s(learner_id) AS learner_id, language, industry, segment
                              FROM single.learners WITH NO DATA', s, f);
            EXECUTE format('CREATE TABLE %1$s.courses AS SELECT ck_%2$s(course_id) AS course_id, language, topic, difficulty
                              FROM single.courses WITH NO DATA', s, f);
            EXECUTE format('CREATE TABLE %1$s.watches AS SELECT ck_%2$s(learner_id) AS learner_id, ck_%2$s(course_id) AS course_id,
                              watched_at, watch_seconds FROM single.watches WITH NO DATA', s, f);
            EXECUTE format('CREATE TABLE %1$s.impressions AS SELECT ck_%2$s(learner_id) AS learner_id, ck_%2$s(course_id) AS course_id,
                              shown_at, clicked, bookmarked, watch_seconds FROM single.impressions WITH NO DATA', s, f);
            IF s LIKE '%\_d' THEN
                PERFORM create_reference_table(s || '.courses');
                PERFORM create_distributed_table(s || '.learners', 'learner_id', colocate_with => 'none', shard_count => 8);
                PERFORM create_distributed_table(s || '.watches', 'learner_id', colocate_with => s || '.learners');
                PERFORM create_distributed_table(s || '.impressions', 'learner_id', colocate_with => s || '.learners');
            END IF;
        END LOOP;
    END LOOP;
END $$;
INSERT INTO ck_t_s.learners SELECT ck_t(learner_id), language, industry, segment FROM single.learners;
INSERT INTO ck_t_s.courses SELECT ck_t(course_id), language, topic, difficulty FROM single.courses;
INSERT INTO ck_t_s.watches SELECT ck_t(learner_id), ck_t(course_id), watched_at, watch_seconds FROM single.watches;
INSERT INTO ck_t_s.impressions SELECT ck_t(learner_id), ck_t(course_id), shown_at, clicked, bookmarked, watch_seconds FROM single.impressions;
INSERT INTO ck_u_s.learners SELECT ck_u(learner_id), language, industry, segment FROM single.learners;
INSERT INTO ck_u_s.courses SELECT ck_u(course_id), language, topic, difficulty FROM single.courses;
INSERT INTO ck_u_s.watches SELECT ck_u(learner_id), ck_u(course_id), watched_at, watch_seconds FROM single.watches;
INSERT INTO ck_u_s.impressions SELECT ck_u(learner_id), ck_u(course_id), shown_at, clicked, bookmarked, watch_seconds FROM single.impressions;
INSERT INTO ck_t_d.learners SELECT * FROM ck_t_s.learners;
INSERT INTO ck_t_d.courses SELECT * FROM ck_t_s.courses;
INSERT INTO ck_t_d.watches SELECT * FROM ck_t_s.watches;
INSERT INTO ck_t_d.impressions SELECT * FROM ck_t_s.impressions;
INSERT INTO ck_u_d.learners SELECT * FROM ck_u_s.learners;
INSERT INTO ck_u_d.courses SELECT * FROM ck_u_s.courses;
INSERT INTO ck_u_d.watches SELECT * FROM ck_u_s.watches;
INSERT INTO ck_u_d.impressions SELECT * FROM ck_u_s.impressions;
ANALYZE ck_t_s.learners, ck_t_s.courses, ck_t_s.watches, ck_t_s.impressions,
        ck_u_s.learners, ck_u_s.courses, ck_u_s.watches, ck_u_s.impressions;

-- every trainer, on the distributed text platform first (it adds the keys),
-- then on the plain copy (which finds them)
SELECT recs.train_popularity('ck_t_d.watches', 'ck_t_d.learners', name => 'ck_pop_d', activate => false);
SELECT recs.train_popularity('ck_t_s.watches', 'ck_t_s.learners', name => 'ck_pop_s', activate => false);
SELECT recs.train_ncf('ck_t_d.watches', 'ck_ncf_d', courses => 'ck_t_d.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT recs.train_ncf('ck_t_s.watches', 'ck_ncf_s', courses => 'ck_t_s.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT recs.train_glmix('ck_t_d.impressions', 'ck_t_d.learners', 'ck_t_d.courses', '{language,segment}', '{topic}',
                        name => 'ck_glmix_d', activate => false);
SELECT recs.train_glmix('ck_t_s.impressions', 'ck_t_s.learners', 'ck_t_s.courses', '{language,segment}', '{topic}',
                        name => 'ck_glmix_s', activate => false);
SELECT recs.train_blend(ARRAY[recs.model_id('ck_ncf_d'), recs.model_id('ck_glmix_d'), recs.model_id('ck_pop_d')],
                        'ck_t_d.impressions', 'ck_t_d.learners', name => 'ck_blend_d', since => '2025-12-01',
                        random_effects => '{learner_id,segment}', activate => false);
SELECT recs.train_blend(ARRAY[recs.model_id('ck_ncf_s'), recs.model_id('ck_glmix_s'), recs.model_id('ck_pop_s')],
                        'ck_t_s.impressions', 'ck_t_s.learners', name => 'ck_blend_s', since => '2025-12-01',
                        random_effects => '{learner_id,segment}', activate => false);

SELECT set_eq($$SELECT name, learner_key, course_key FROM recs.model WHERE name ~ '^ck_(pop|ncf|glmix|blend)_[ds]$'$$,
              $$SELECT format('ck_%s_%s', k, s) AS name, 'text' AS l, 'text' AS c
                  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k, unnest(ARRAY['d', 's']) s$$,
              'every trainer ran on the distributed text-keyed relations, and each model is keyed by text');
SELECT is((SELECT count(*)::int FROM recs.id_key WHERE key LIKE 'key-%'),
          (SELECT count(*)::int FROM single.learners) + (SELECT count(*)::int FROM single.courses),
          'the dictionary holds each learner and course key once');
SELECT is((SELECT count(*)::int FROM (SELECT side, key, lag(key) OVER (PARTITION BY side ORDER BY id) AS before
                                        FROM recs.id_key WHERE key LIKE 'key-%' AND side = 'course') s
            WHERE before COLLATE "C" > key COLLATE "C"), 0,
          'the course keys drew their ids in key order, as on one node');

-- each model's lists from the distributed and from the plain relations
CREATE TEMP TABLE ck_lists AS
SELECT k.kind, s.src, md5(string_agg(format('%s:%s:%s:%s', l.learner_id, r.rank, r.course_id, r.score), ','
                                     ORDER BY l.learner_id, r.rank)) AS lists,
       count(*) AS n
  FROM unnest(ARRAY['pop', 'ncf', 'glmix', 'blend']) k(kind), unnest(ARRAY['d', 's']) s(src),
       (SELECT learner_id FROM ck_t_s.learners ORDER BY learner_id LIMIT 300) l,
       LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id(format('ck_%s_%s', k.kind, s.src))) r
 GROUP BY k.kind, s.src;
SELECT is((SELECT d.lists FROM ck_lists d WHERE d.kind = 'pop' AND d.src = 'd'),
          (SELECT s.lists FROM ck_lists s WHERE s.kind = 'pop' AND s.src = 's'),
          'popularity: the same lists (courses and scores) for 300 text keys from distributed as from plain relations');
SELECT is((SELECT d.lists FROM ck_lists d WHERE d.kind = 'ncf' AND d.src = 'd'),
          (SELECT s.lists FROM ck_lists s WHERE s.kind = 'ncf' AND s.src = 's'), 'NCF: the same lists');
SELECT ok((SELECT min(n) FROM ck_lists) = 1500, 'each model lists 5 courses for each of the 300 learners');
-- GLMix and the blend: the fit as on one node (the fixed effect's sums run
-- on the shards, in another order: within 1e-6, as serving.sql asks)
SELECT cmp_ok((SELECT max(abs(recs.glmix_logit(recs.model_id('ck_glmix_d'), i.learner_id, i.course_id)
                              - recs.glmix_logit(recs.model_id('ck_glmix_s'), i.learner_id, i.course_id)))
                 FROM (SELECT * FROM ck_t_s.impressions ORDER BY learner_id, shown_at LIMIT 2000) i)::float8,
              '<', 1e-6::float8, 'GLMix: the same logits for text keys (within 1e-6) from distributed and plain impressions');
SELECT cmp_ok((SELECT max(abs(recs.score(recs.model_id('ck_blend_d'), i.learner_id, i.course_id)
                              - recs.score(recs.model_id('ck_blend_s'), i.learner_id, i.course_id)))
                 FROM (SELECT * FROM ck_t_s.impressions ORDER BY learner_id, shown_at LIMIT 2000) i)::float8,
              '<', 1e-5::float8, 'blend: the same scores (within 1e-5) from distributed and plain relations');
SELECT ok((SELECT count(DISTINCT recs.score(recs.model_id('ck_blend_d'), i.learner_id, i.course_id))
             FROM (SELECT * FROM ck_t_s.impressions ORDER BY learner_id, shown_at LIMIT 200) i) > 50,
          'and the blend''s scores differ from pair to pair (it learnt something)');

-- evaluate: a distributed test relation, text keys in the negatives too
CREATE TABLE ck_t_d.sampled (learner_id text, course_id text, negatives text[]);
SELECT create_distributed_table('ck_t_d.sampled', 'learner_id', colocate_with => 'ck_t_d.learners');
CREATE TABLE ck_t_s.sampled (learner_id text, course_id text, negatives text[]);
INSERT INTO ck_t_s.sampled
SELECT w.learner_id, w.course_id, ARRAY[ck_t(1 + (g % 150)), ck_t(2 + (g % 150)), NULL, ck_t(3 + (g % 150))]
  FROM (SELECT DISTINCT ON (learner_id) learner_id, course_id, row_number() OVER () AS g
          FROM ck_t_s.watches ORDER BY learner_id, watched_at DESC) w;
INSERT INTO ck_t_d.sampled SELECT * FROM ck_t_s.sampled;
SELECT is(recs.evaluate(recs.model_id('ck_ncf_s'), 'ck_t_d.sampled', 2, 'sampled') - 'seconds',
          recs.evaluate(recs.model_id('ck_ncf_s'), 'ck_t_s.sampled', 2, 'sampled') - 'seconds',
          'evaluate(sampled) on a distributed relation with text[] negatives: the plain relation''s metrics');
SELECT is(recs.evaluate(recs.model_id('ck_pop_s'), 'ck_t_d.watches', 5) - 'seconds',
          recs.evaluate(recs.model_id('ck_pop_s'), 'ck_t_s.watches', 5) - 'seconds',
          'evaluate(full) on distributed text-keyed watches: the plain relation''s metrics');

-- serving a text key on the workers: the coordinator's lists
SELECT recs.activate(recs.model_id('ck_ncf_d'), 'ck');
CREATE TEMP TABLE ck_coord AS
SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) AS lists
  FROM generate_series(100001, 100040) g, recs.recommend(ck_t(g), 10, slot => 'ck') r;
SELECT is((SELECT array_agg(result ORDER BY nodeport) FROM run_command_on_workers(
             $$SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank))
                 FROM generate_series(100001, 100040) g,
                      recs.recommend('key-' || lpad(g::text, 12, '0'), 10, slot => 'ck') r$$)),
          ARRAY[(SELECT lists FROM ck_coord), (SELECT lists FROM ck_coord)],
          'recommend(text) on each worker returns the coordinator''s lists');
SELECT ok((SELECT lists FROM ck_coord) IS NOT NULL, 'the coordinator lists courses for those keys');
-- and a batch over the distributed learners, pushed down
CREATE TABLE public.ck_batch AS
SELECT l.learner_id, r.* FROM ck_t_d.learners l, recs.recommend(l.learner_id, 3, slot => 'ck') r;
SELECT is((SELECT md5(string_agg(format('%s:%s:%s:%s', learner_id, rank, course_id, score), ',' ORDER BY learner_id, rank))
             FROM public.ck_batch),
          (SELECT md5(string_agg(format('%s:%s:%s:%s', l.learner_id, r.rank, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank))
             FROM ck_t_s.learners l, recs.recommend(l.learner_id, 3, slot => 'ck') r),
          'recommend(text) beside each shard of distributed learners: the coordinator''s lists');

-- uuid: popularity and NCF on the distributed uuid platform (distributed
-- first, adding the keys), as on its plain copy
SELECT recs.train_popularity('ck_u_d.watches', 'ck_u_d.learners', name => 'ck_upop_d', activate => false);
SELECT recs.train_popularity('ck_u_s.watches', 'ck_u_s.learners', name => 'ck_upop_s', activate => false);
SELECT recs.train_ncf('ck_u_d.watches', 'ck_uncf_d', courses => 'ck_u_d.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT recs.train_ncf('ck_u_s.watches', 'ck_uncf_s', courses => 'ck_u_s.courses', layers => '{16}', dim => 8,
                      epochs => 2, activate => false);
SELECT results_eq(
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM (SELECT learner_id FROM ck_u_s.learners ORDER BY 1 LIMIT 200) l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ck_upop_d')) r ORDER BY 1, 2$$,
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM (SELECT learner_id FROM ck_u_s.learners ORDER BY 1 LIMIT 200) l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ck_upop_s')) r ORDER BY 1, 2$$,
    'uuid keys: popularity from distributed relations lists what the plain copy''s model lists');
SELECT results_eq(
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM (SELECT learner_id FROM ck_u_s.learners ORDER BY 1 LIMIT 200) l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ck_uncf_d')) r ORDER BY 1, 2$$,
    $$SELECT l.learner_id, r.rank, r.course_id, r.score FROM (SELECT learner_id FROM ck_u_s.learners ORDER BY 1 LIMIT 200) l,
             LATERAL recs.recommend(l.learner_id, 5, model => recs.model_id('ck_uncf_s')) r ORDER BY 1, 2$$,
    'and NCF');

-- train_all on the distributed text platform: its models keyed by text
SELECT lives_ok($$SELECT recs.train_all('ck_t_d.watches', 'ck_t_d.impressions', 'ck_t_d.learners', 'ck_t_d.courses',
                                        '{language,segment}', '{topic}', '{segment:topic}', name => 'ck_all',
                                        epochs => 2, activate => false)$$,
                'train_all runs on the distributed text-keyed relations');
SELECT ok((SELECT count(*) >= 3 AND bool_and(learner_key = 'text' AND course_key = 'text')
             FROM recs.model WHERE name ~ '^ck_all_(popularity|ncf|glmix|blend)$'),
          'and its models (NCF, GLMix, the blend, popularity if the click blend won) are keyed by text');

SELECT * FROM finish();
DROP TABLE public.ck_batch;
