-- bench/ncf_validation.sql -- the cost of train_ncf(validation => 'auto') per
-- epoch beside the epoch itself, and the best epoch it finds, on
-- generate_sample's default data and (when loaded: table ml.watches) ML-100K.
-- Run by bench/ncf_validation.sh; variables: epochs, threads.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS vb CASCADE;
SELECT count(*) FROM recs.generate_sample('vb');
CREATE TEMP TABLE runs (data text, validation text, model_id bigint, wall float8);

CREATE FUNCTION pg_temp.run(data text, rel regclass, v text, seconds_column text, epochs int, threads int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
    id bigint;
BEGIN
    id := recs.train_ncf(rel, 'bench_' || v, epochs => epochs, threads => threads, activate => false,
                         validation => v, seconds_column => seconds_column);
    INSERT INTO runs VALUES (data, v, id, extract(epoch FROM clock_timestamp() - t0));
END $$;

SELECT pg_temp.run('sample (2000 x 300)', 'vb.watches', v, 'watch_seconds', :epochs, :threads) FROM unnest(ARRAY['none', 'auto']) v;
SELECT pg_temp.run('ML-100K', 'ml.watches', v, NULL, :epochs, :threads)
  FROM unnest(ARRAY['none', 'auto']) v WHERE to_regclass('ml.watches') IS NOT NULL;

SELECT r.data, r.validation, round(r.wall::numeric, 2) AS wall_s,
       round((SELECT avg(x::float8) FROM jsonb_array_elements_text(m.metrics->'epoch_seconds') x)::numeric, 3) AS epoch_s,
       round((SELECT avg(x::float8) FROM jsonb_array_elements_text(m.metrics->'validation'->'curve'->'seconds') x)::numeric, 3) AS validation_s,
       m.metrics->'validation'->>'learners' AS scored,
       m.metrics->'validation'->>'best_epoch' AS best_epoch,
       m.metrics->'validation'->>'recall_at_10' AS recall_at_10,
       m.metrics->'validation'->>'ndcg_at_10' AS ndcg_at_10
  FROM runs r JOIN recs.model m USING (model_id) ORDER BY r.data DESC, r.validation DESC;
SELECT r.data, m.metrics->'validation'->'curve'->'recall_at_10' AS recall_curve
  FROM runs r JOIN recs.model m USING (model_id) WHERE r.validation = 'auto';
