#!/usr/bin/env bash
# bench/glmix_serving_memory.sh -- a GLMix model and a blend of a million
# learners: each backend's serving memory and the first call's time.
#
# Training GLMix on a million generated learners takes long, so the model is
# filled synthetically: a GLMix (per-learner and per-course effects) and a
# blend (popularity + that GLMix, per-learner and per-segment weights) are
# trained on a generated sample of 2,000 learners and 300 courses, then
# LEARNERS more learners are added to their tables by SQL -- each a copy of
# a trained learner's rows (feature vector, per-learner coefficients, blend
# keys and weights) under a new id, the coordinate's entity count raised to
# match, and the models given a new cache_token.  The catalogue stays 300
# courses.  What serving reads is then what a million-learner training
# would have stored.
#
# Each measurement is a fresh session: the first call (recs.glmix_score for
# the GLMix, recs.recommend for the blend, of one of the added learners),
# its time (psql \timing), then from pg_backend_memory_contexts the bytes of
# the serving cache's parts ("recs model part") and of every context of the
# backend.  Then, in one session with the answer cache off, 2,000
# recommend() calls of distinct added learners, four times: the mean wall
# time and the backend's CPU time (/proc/self/stat) per call of each pass.
# The first pass may read the learners' rows from disk or the OS cache (with
# the learners' rows read per call, a million learners' tables do not fit
# the default shared_buffers); the others are the warm latency, and the CPU
# time is what the shared machine's load disturbs least.
#
# The throwaway cluster runs with shared_buffers = 1GB (GSM_SHARED_BUFFERS):
# with the default 128MB the 2,000 learners' rows the warm passes read do
# not stay in shared buffers, and every pass reads them again.
#
# Usage: bash bench/glmix_serving_memory.sh [LEARNERS, default 1000000]
# The machine is shared: uptime is printed; run it once per build compared.
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
added=${1:-1000000}

recs_ensure_packages
recs_build_install
recs_start_cluster
if [ "$RECS_EXISTING_SERVER" = 0 ]; then
	# room for the hot learners' rows, as a server of a million learners would have
	psql -X -q -d postgres -c "ALTER SYSTEM SET shared_buffers = '${GSM_SHARED_BUFFERS:-1GB}'"
	recs_as_owner "$("$PG_CONFIG" --bindir)/pg_ctl" -D "$RECS_TMP/data" -w restart >/dev/null
	export PGDATABASE=recs_gsm
	createdb "$PGDATABASE"
fi
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
echo "uptime: $(uptime)"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS recs" \
	-c "DROP SCHEMA IF EXISTS gsm CASCADE" -c "SELECT count(*) FROM recs.generate_sample('gsm', 2000, 300)" >/dev/null
q <<'SQL' >/dev/null
SET client_min_messages = warning;
CREATE VIEW gsm.w_early AS SELECT * FROM gsm.watches WHERE watched_at < '2025-09-01';
CREATE VIEW gsm.imp_early AS SELECT * FROM gsm.impressions WHERE shown_at < '2025-09-01';
SELECT recs.train_popularity('gsm.w_early', 'gsm.learners', name => 'gsm_pop', through => '2025-08-31');
SELECT recs.train_glmix('gsm.imp_early', 'gsm.learners', 'gsm.courses', '{industry,segment,language}',
                        '{topic,difficulty,language}', name => 'gsm_glmix', passes => 1);
SELECT recs.train_blend(ARRAY[recs.model_id('gsm_pop'), recs.model_id('gsm_glmix')], 'gsm.impressions',
                        'gsm.learners', random_effects => '{learner_id,segment}', name => 'gsm_blend');
SQL
t0=$(date +%s)
q -v n="$added" <<'SQL'
SET client_min_messages = warning;
SELECT recs.model_id('gsm_glmix') AS gl, recs.model_id('gsm_blend') AS bl \gset
-- learner 5000000 + i is a copy of the i-th trained learner (cyclically)
CREATE TEMP TABLE src AS
SELECT row_number() OVER (ORDER BY id) - 1 AS r, id FROM recs.glmix_entity
 WHERE model_id = :gl AND side = 'learner' AND id IN (SELECT entity::bigint FROM recs.glmix_coef
                                                        WHERE model_id = :gl AND coordinate = 'learner_id')
   AND id IN (SELECT learner_id FROM recs.blend_learner WHERE model_id = :bl)
   AND id::text IN (SELECT entity FROM recs.blend_coef WHERE model_id = :bl AND coordinate = 'learner_id');
SELECT count(*) AS nsrc FROM src \gset
CREATE TEMP TABLE map AS
SELECT 5000000 + i AS new_id, s.id AS old_id FROM generate_series(1, :n) i JOIN src s ON s.r = i % :nsrc;
INSERT INTO recs.glmix_entity (model_id, side, id, features, "values", keys)
SELECT e.model_id, e.side, m.new_id, e.features, e."values", e.keys
  FROM map m JOIN recs.glmix_entity e ON e.model_id = :gl AND e.side = 'learner' AND e.id = m.old_id;
INSERT INTO recs.glmix_coef (model_id, coordinate, entity, rows, coef)
SELECT c.model_id, c.coordinate, m.new_id::text, c.rows, c.coef
  FROM map m JOIN recs.glmix_coef c ON c.model_id = :gl AND c.coordinate = 'learner_id' AND c.entity = m.old_id::text;
UPDATE recs.glmix_coordinate k SET entities = (SELECT count(*) FROM recs.glmix_coef c
                                                WHERE c.model_id = k.model_id AND c.coordinate = k.name)
 WHERE model_id = :gl AND name = 'learner_id';
INSERT INTO recs.blend_learner (model_id, learner_id, keys)
SELECT b.model_id, m.new_id, b.keys FROM map m JOIN recs.blend_learner b ON b.model_id = :bl AND b.learner_id = m.old_id;
INSERT INTO recs.blend_coef (model_id, coordinate, entity, coefs)
SELECT c.model_id, c.coordinate, m.new_id::text, c.coefs
  FROM map m JOIN recs.blend_coef c ON c.model_id = :bl AND c.coordinate = 'learner_id' AND c.entity = m.old_id::text;
UPDATE recs.model SET cache_token = (random() * 9.2e18)::bigint WHERE model_id IN (:gl, :bl);
VACUUM ANALYZE recs.glmix_entity, recs.glmix_coef, recs.blend_learner, recs.blend_coef;
SELECT format('learners in the glmix model: %s, in the blend: %s',
              (SELECT count(*) FROM recs.glmix_entity WHERE model_id = :gl AND side = 'learner'),
              (SELECT count(*) FROM recs.blend_learner WHERE model_id = :bl));
SQL
echo "synthetic fill: $(($(date +%s) - t0)) s"

# first call in a fresh session, then the backend's memory
first() {
	local what=$1 sql=$2
	q -c "SET recs.cache_size = '4GB'" -c '\timing on' -c "$sql" \
		-c '\timing off' \
		-c "SELECT format('parts %s MB, backend %s MB', round(sum(total_bytes) FILTER (WHERE name = 'recs model part') / 1048576.0, 2),
		                  round(sum(total_bytes) / 1048576.0, 2)) FROM pg_backend_memory_contexts" |
		grep -E '^Time|parts' | tr '\n' ' ' | sed "s/^/$what: /"
	echo
}
first "glmix first call" "SELECT recs.glmix_score(recs.model_id('gsm_glmix'), 5000007, (SELECT min(course_id) FROM gsm.courses))"
first "blend first call" "SELECT count(*) FROM recs.recommend(5000007, 10, model => recs.model_id('gsm_blend'))"
hz=$(getconf CLK_TCK)
for m in gsm_glmix gsm_blend; do
	q -c "SET recs.cache_size = '4GB'" -c "SET recs.answer_cache_size = 0" \
		-c "SELECT count(*) FROM recs.recommend(5000001, 10, model => recs.model_id('$m'))" -c '\o /dev/null' \
		-c "DO \$\$
DECLARE t0 timestamptz; c0 bigint; n int := 2000; m bigint := recs.model_id('$m');
  cpu bigint := 0;
BEGIN
  FOR pass IN 1..4 LOOP
    t0 := clock_timestamp();
    c0 := (SELECT f[12]::bigint + f[13]::bigint
             FROM string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') f);
    FOR i IN 1..n LOOP PERFORM count(*) FROM recs.recommend(5000000 + i * 499, 10, model => m); END LOOP;
    cpu := (SELECT f[12]::bigint + f[13]::bigint
              FROM string_to_array(split_part(pg_read_file('/proc/self/stat'), ') ', 2), ' ') f) - c0;
    RAISE NOTICE '$m recommend(), pass %: % ms per call, CPU % ms per call (% calls, answer cache off)', pass,
      round((extract(epoch FROM clock_timestamp() - t0) * 1000 / n)::numeric, 3),
      round((cpu * 1000.0 / $hz / n)::numeric, 3), n;
  END LOOP;
END \$\$" 2>&1 | grep NOTICE | sed 's/.*NOTICE: *//'
done
echo "uptime: $(uptime)"
