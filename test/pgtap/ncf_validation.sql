-- test/pgtap/ncf_validation.sql -- train_ncf(validation => 'auto'): the
-- latest tenth of the time span is held out, Recall@10 and NDCG@10 of the
-- held-out learners are recorded per epoch, the best epoch's network is the
-- model.
BEGIN;
SELECT plan(27);
SELECT coalesce(nullif(current_setting('recs_test.time_factor', true), ''), '1')::int AS time_factor \gset
SET LOCAL client_min_messages = warning;

SELECT count(*) AS n_nv FROM recs.generate_sample('nv', 300, 60, 7) \gset
-- ingest's cleaning: >= 60 s, first watch per (learner, course)
CREATE TEMP TABLE clean AS
SELECT DISTINCT ON (learner_id, course_id) learner_id, course_id, watched_at
  FROM nv.watches WHERE watch_seconds >= 60 ORDER BY learner_id, course_id, watched_at;

SELECT recs.train_ncf('nv.watches', 'nv_val', layers => '{32}', dim => 16, epochs => 6, seed => 3,
                      activate => false, validation => 'auto') AS v \gset
SELECT metrics->'validation' AS val FROM recs.model WHERE model_id = :v \gset
SELECT (:'val'::jsonb->>'best_epoch')::int AS best, (:'val'::jsonb->>'cut')::timestamptz AS cut \gset

-- ---------------------------------------------------------------- the split
SELECT is(:'cut'::timestamptz,
          (SELECT max(watched_at) - (max(watched_at) - min(watched_at)) / 10 FROM clean),
          'the cut is the latest tenth of the time span of the kept watches');
SELECT is((SELECT (metrics->>'positives')::bigint FROM recs.model WHERE model_id = :v),
          (SELECT count(*) FROM clean WHERE watched_at < :'cut'),
          'the positives are the watches before the cut: held-out watches are no labels');
SELECT is((:'val'::jsonb->>'heldout_watches')::bigint,
          (SELECT count(*) FROM clean WHERE watched_at >= :'cut'), 'the held-out watches are counted');
SELECT is((:'val'::jsonb->>'eligible_learners')::bigint,
          (SELECT count(*) FROM (SELECT learner_id FROM clean GROUP BY learner_id
                                  HAVING bool_or(watched_at < :'cut') AND bool_or(watched_at >= :'cut')) s),
          'held-out learners: a watch before the cut and a new course after it');
SELECT is((:'val'::jsonb->>'learners')::int, (:'val'::jsonb->>'eligible_learners')::int,
          'fewer than 2000 eligible learners: all of them are scored');
SELECT is((SELECT count(*) FROM recs.ncf_cowatch c WHERE c.model_id = :v
             AND NOT EXISTS (SELECT 1 FROM clean a JOIN clean b USING (learner_id)
                              WHERE a.course_id = c.course_id AND b.course_id = c.neighbour_id
                                AND a.watched_at < :'cut' AND b.watched_at < :'cut')),
          0::bigint, 'co-watch rows come from the watches before the cut alone');
SELECT is((SELECT count(*) FROM recs.ncf_learner WHERE model_id = :v),
          (SELECT count(DISTINCT learner_id) FROM clean),
          'every learner gets an embedding, also those with held-out watches only');
SELECT is((SELECT sum(cardinality(watched)) FROM recs.model_learner WHERE model_id = :v),
          (SELECT count(*) FROM clean), 'the stored watched sets hold all watches');

-- ---------------------------------------------------------------- the curve
SELECT is(jsonb_array_length(:'val'::jsonb->'curve'->'recall_at_10'), 6, 'one Recall@10 per epoch');
SELECT is(jsonb_array_length(:'val'::jsonb->'curve'->'ndcg_at_10'), 6, 'one NDCG@10 per epoch');
SELECT is(:best,
          (SELECT e::int FROM jsonb_array_elements_text(:'val'::jsonb->'curve'->'recall_at_10')
                               WITH ORDINALITY AS c(r, e)
            ORDER BY r::float8 DESC, e LIMIT 1),
          'the best epoch is the argmax of the recorded Recall@10 (ties to the earlier)');
SELECT is((:'val'::jsonb->>'recall_at_10')::float8,
          (:'val'::jsonb->'curve'->'recall_at_10'->>(:best - 1))::float8,
          'the stored Recall@10 is the best epoch''s');
SELECT ok((SELECT bool_and(r::float8 BETWEEN 0 AND 1)
             FROM jsonb_array_elements_text(:'val'::jsonb->'curve'->'recall_at_10') r)
          AND (SELECT bool_and(r::float8 BETWEEN 0 AND 1)
                 FROM jsonb_array_elements_text(:'val'::jsonb->'curve'->'ndcg_at_10') r),
          'Recall@10 and NDCG@10 are shares');
SELECT ok((:'val'::jsonb->>'recall_at_10')::float8 > 0.1,
          'the held-out learners find some of their next courses (random: about 10/55)');

-- ---------------------------------------------------------------- the best epoch is the model
SELECT recs.train_ncf('nv.watches', 'nv_best', layers => '{32}', dim => 16, epochs => :best, seed => 3,
                      activate => false, validation => 'auto') AS b \gset
SELECT is((SELECT (metrics->'validation'->>'best_epoch')::int FROM recs.model WHERE model_id = :b), :best,
          'trained for best_epoch epochs, the same split keeps the last');
SELECT is((SELECT count(*) FROM recs.ncf_course x JOIN recs.ncf_course y USING (course_id)
            WHERE x.model_id = :v AND y.model_id = :b AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_course WHERE model_id = :v),
          'the stored course embeddings are those of a training of best_epoch epochs, bit for bit');
SELECT is((SELECT count(*) FROM recs.ncf_learner x JOIN recs.ncf_learner y USING (learner_id)
            WHERE x.model_id = :v AND y.model_id = :b AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :v),
          'and so are the learner embeddings');
SELECT recs.train_ncf('nv.watches', 'nv_t2a', layers => '{32}', dim => 16, epochs => 4, seed => 3,
                      activate => false, validation => 'auto', threads => 2) AS t2a \gset
SELECT recs.train_ncf('nv.watches', 'nv_t2b', layers => '{32}', dim => 16, epochs => 4, seed => 3,
                      activate => false, validation => 'auto', threads => 2) AS t2b \gset
SELECT is((SELECT count(*) FROM recs.ncf_course x JOIN recs.ncf_course y USING (course_id)
            WHERE x.model_id = :t2a AND y.model_id = :t2b AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_course WHERE model_id = :t2a),
          'with validation, two trainings on 2 threads agree bit for bit');

-- the attention encoder's parameters are part of the kept network: its best
-- epoch is a training of that many epochs, bit for bit
SELECT recs.train_ncf('nv.watches', 'nv_att', layers => '{128}', dim => 64, epochs => 10, seed => 3,
                      activate => false, validation => 'auto', encoder => 'attention',
                      attention_window => 8, learning_rate => 0.1) AS a \gset
SELECT (metrics->'validation'->>'best_epoch')::int AS abest FROM recs.model WHERE model_id = :a \gset
SELECT cmp_ok(:abest, '<', 10, 'the attention setting peaks before its last epoch (else the next check proves little)');
SELECT recs.train_ncf('nv.watches', 'nv_att_best', layers => '{128}', dim => 64, epochs => :abest, seed => 3,
                      activate => false, validation => 'auto', encoder => 'attention',
                      attention_window => 8, learning_rate => 0.1) AS ab \gset
SELECT is((SELECT count(*) FROM recs.ncf_learner x JOIN recs.ncf_learner y USING (learner_id)
            WHERE x.model_id = :a AND y.model_id = :ab AND x.embedding = y.embedding),
          (SELECT count(*) FROM recs.ncf_learner WHERE model_id = :a),
          'attention: the stored learner embeddings are those of a training of best_epoch epochs, bit for bit');

-- ---------------------------------------------------------------- overfitting
-- a wide network, a high learning rate and many epochs on 300 learners: the
-- held-out Recall@10 peaks, then falls back
SELECT recs.train_ncf('nv.watches', 'nv_over', layers => '{128}', dim => 64, epochs => 40,
                      learning_rate => 0.01, seed => 3, activate => false, validation => 'auto') AS o \gset
SELECT metrics->'validation' AS oval FROM recs.model WHERE model_id = :o \gset
SELECT cmp_ok((:'oval'::jsonb->>'best_epoch')::int, '<', 40, 'an overfitting setting stops improving before its last epoch');
SELECT cmp_ok((SELECT max(r::float8) FROM jsonb_array_elements_text(:'oval'::jsonb->'curve'->'recall_at_10')
                                         WITH ORDINALITY AS c(r, e) WHERE e > 35),
              '<', (:'oval'::jsonb->>'recall_at_10')::float8, 'its last five epochs are all worse than the best');

-- ---------------------------------------------------------------- none, errors, cancel
SELECT recs.train_ncf('nv.watches', 'nv_none', layers => '{32}', dim => 16, epochs => 1, seed => 3,
                      activate => false) AS n \gset
SELECT ok((SELECT NOT metrics ? 'validation' FROM recs.model WHERE model_id = :n),
          'validation none: no validation in the metrics');
CREATE TABLE nv.tiny (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8);
INSERT INTO nv.tiny VALUES (1, 10, '2025-01-01', 100), (1, 11, '2025-01-02', 100),
                           (2, 10, '2025-01-01', 100), (3, 12, '2025-01-10', 100);
SELECT throws_ok($$SELECT recs.train_ncf('nv.tiny', epochs => 1, validation => 'auto')$$, '02000',
                 'validation ''auto'' found no learner to hold out',
                 'nothing to hold out (the only watch after the cut is a new learner''s) is an error');
SELECT throws_ok($$SELECT recs.train_ncf('nv.watches', epochs => 1, validation => 'latest')$$, '22023',
                 'validation must be one of ''none'' or ''auto'', not "latest"', 'an unknown validation is an error');
CREATE FUNCTION pg_temp.train_until_cancelled() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM recs.train_ncf('nv.watches', 'nv_cancelled', epochs => 100000, validation => 'auto');
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    RETURN 'cancelled';
END $$;
SET LOCAL statement_timeout = '400ms';
SELECT clock_timestamp() AS t0 \gset
SELECT is(pg_temp.train_until_cancelled(), 'cancelled', 'statement_timeout cancels a validated training');
SET LOCAL statement_timeout = 0;
SELECT ok(clock_timestamp() - :'t0'::timestamptz < interval '3 seconds' * :time_factor, 'within a few seconds');

SELECT * FROM finish();
ROLLBACK;
