#!/usr/bin/env bash
# bench/glmix_large.sh -- a GLMix fixed effect of about 10^6 features (the
# matrix-free TRON solver): time, aggregate passes, nonzeros and the backend's
# peak memory, at two data sizes to show time linear in the nonzeros.
#
#   bench/glmix_large.sh [LEARNERS] [COURSES] [ROWS...]
#
# Synthetic data, seeded: LEARNERS (default 2000) learners and COURSES (default
# 500) courses, each with an id column ("uid", "cid"); the fixed effect is the
# intercept, both ids one-hot and their cross uid:cid -- 1 + L + C + L * C
# features (1,002,501 by default), four nonzeros per impression.  Labels come
# from a planted logistic model (learner and course effects plus a cross effect
# on one pair in ten).  For each ROWS (default 250000 1000000) the fixed effect
# alone is trained, one pass, under the default solver => 'auto' (TRON here);
# peak memory is VmHWM of the training backend, read from /proc after it
# (it includes the shared buffers the backend touched).  Then the model is
# served: the first recs.glmix_score loads it (load_ms), the second is cached.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/cluster.sh"
L=${1:-2000}
C=${2:-500}
shift $(( $# > 2 ? 2 : $# ))
SIZES=${*:-250000 1000000}
trap 'recs_stop_cluster' EXIT

recs_ensure_packages
recs_build_install
recs_start_cluster
db=recs_glmix_large
if [ "$RECS_EXISTING_SERVER" = 0 ]; then createdb "$db"; else db=$PGDATABASE; fi
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -c 'DROP EXTENSION IF EXISTS recs CASCADE' -c 'CREATE EXTENSION recs'

printf '%-9s %-9s %-10s %-8s %-8s %-10s %-8s %-11s %-10s %-10s %-10s\n' rows features nonzeros fit_s total_s passes cg_steps Mnnz/s peak_MB load_ms score_ms
for n in $SIZES; do
	recs_log "data: $L learners, $C courses, $n impressions"
	q <<SQL
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS big CASCADE;
CREATE SCHEMA big;
\o /dev/null
SELECT setseed(0.42);
\o
CREATE TABLE big.learners AS SELECT g::bigint AS learner_id, g::text AS uid, random() - 0.5 AS a FROM generate_series(1, $L) g;
CREATE TABLE big.courses AS SELECT g::bigint AS course_id, g::text AS cid, random() - 0.5 AS b FROM generate_series(1, $C) g;
CREATE TABLE big.impressions AS
SELECT l.learner_id, c.course_id,
       random() < 1 / (1 + exp(-(2 * l.a + 2 * c.b + CASE WHEN (l.learner_id * 7 + c.course_id) % 10 = 0 THEN 1.5 ELSE 0 END)))
         AS clicked
  FROM (SELECT 1 + floor(random() * $L)::bigint AS li, 1 + floor(random() * $C)::bigint AS ci
          FROM generate_series(1, $n)) p
  JOIN big.learners l ON l.learner_id = p.li JOIN big.courses c ON c.course_id = p.ci;
ALTER TABLE big.learners DROP COLUMN a;
ALTER TABLE big.courses DROP COLUMN b;
VACUUM ANALYZE big.learners, big.courses, big.impressions;
SQL
	recs_log "training"
	q -At <<SQL
SET recs.memory_limit = '4GB';
SET client_min_messages = warning;
SELECT pg_backend_pid() AS pid \gset
SELECT recs.train_glmix('big.impressions', 'big.learners', 'big.courses', '{uid}', '{cid}',
                        crosses => '{uid:cid}', random_effects => '{}', passes => 1,
                        name => 'large_$n', activate => false) AS id \gset
-- serving: the first score loads the model into the cache, the second is served from it
CREATE FUNCTION pg_temp.ms(id bigint) RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM recs.glmix_score(id, 1, 1);
    RETURN round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 1);
END \$\$;
SET recs.cache_size = '2GB';
SELECT pg_temp.ms(:id) AS load_ms \gset
SELECT pg_temp.ms(:id) AS score_ms \gset
SELECT format('%-9s %-9s %-10s %-8s %-8s %-10s %-8s %-11s %-10s %-10s %-10s', $n, m.metrics->>'fixed_features',
              m.metrics->>'fixed_nonzeros', m.metrics->'seconds'->>'fit', m.metrics->>'train_seconds',
              m.metrics->>'fixed_aggregate_passes',
              m.metrics->>'tron_cg_steps',
              round(((m.metrics->>'fixed_nonzeros')::numeric
                     * (m.metrics->>'fixed_aggregate_passes')::int)
                    / nullif((m.metrics->'seconds'->>'fit')::numeric, 0) / 1e6, 1),
              (SELECT round(substring(l FROM '([0-9]+) kB')::numeric / 1024)
                 FROM regexp_split_to_table(pg_read_file('/proc/' || :pid || '/status'), E'\n') l
                WHERE l LIKE 'VmHWM:%'), :load_ms, :score_ms)
  FROM recs.model m WHERE m.model_id = :id;
SQL
done
