#!/usr/bin/env bash
# bench/scale.sh -- the scale run: generates about 10 million watches of
# 1 million learners over 20,000 courses with recs.generate_sample(), trains
# every model kind on them as recs.train_all() would (components on the data
# before the last 28 days, the blend on the impressions after), measures
# recommend() latency per model, and prints a table of wall time and the peak
# memory of each step's backend.
#
# Each step runs in a fresh session; a poller reads /proc/<backend>/status
# while it runs: VmHWM is the backend's peak resident set (it includes the
# shared buffers the backend touched), RssAnon its private memory (polled
# every 0.2 s, the peak seen).  The machine is shared: uptime is printed
# before and after, and the NCF epoch NOTICE says how much CPU other
# processes used meanwhile.
#
# Usage: bash bench/scale.sh [LEARNERS, default 1000000] [COURSES, default 20000] [EPOCHS, default 1]
# Environment: SCALE_LIMIT (recs.memory_limit for the trainings, default 8GB),
#   SCALE_LAYERS / SCALE_DIM (NCF towers, default {128} / 64),
#   SCALE_QUERIES (recommend() calls per model, each its own transaction, default 300),
#   SCALE_CACHE (recs.cache_size while serving, default 2GB: a GLMix model of a
#   million learners does not fit the default 256MB),
#   SCALE_SMALL_LIMIT (the budget that must be too small, default -1 =
#   maintenance_work_mem; pass e.g. 1MB for a small trial run).
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
learners=${1:-1000000}
courses=${2:-20000}
epochs=${3:-1}
limit=${SCALE_LIMIT:-8GB}
layers=${SCALE_LAYERS:-'{128}'}
dim=${SCALE_DIM:-64}
queries=${SCALE_QUERIES:-300}
small_limit=${SCALE_SMALL_LIMIT:--1}
cache=${SCALE_CACHE:-2GB}

recs_ensure_packages
recs_build_install
recs_start_cluster
work=$(mktemp -d)
trap 'rm -rf "$work"; recs_stop_cluster' EXIT
if [ "$RECS_EXISTING_SERVER" = 0 ]; then
	export PGDATABASE=recs_scale
	createdb "$PGDATABASE"
fi
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS recs" \
	-c "DROP SCHEMA IF EXISTS scale CASCADE"

uptime_before=$(uptime)
echo "uptime before: $uptime_before"
printf '%s\t%s\t%s\t%s\t%s\n' step seconds vmhwm_mb rssanon_mb notes >"$work/table"

# step NAME NOTES SQL: runs SQL in a new session as one step and appends a
# row to the table; NOTES is a function that prints the notes column from the
# step's output file ($1).
step() {
	local name=$1 notes=$2 sql=$3 out="$work/$1.out" st="$work/$1.status"
	local pid hwm=0 anon=0 t0 t1 rc=0 h a client
	cat >"$work/$name.sql" <<SQL
\\o $work/$name.pid
SELECT pg_backend_pid();
\\o
SET recs.memory_limit = '$limit';
SET client_min_messages = debug1;
$sql
\\o $work/$name.done
SELECT 1;
\\o
SELECT pg_sleep(0.5);
SQL
	echo "== $name" >&2
	q -f "$work/$name.sql" >"$out" 2>&1 &
	client=$!
	while [ ! -s "$work/$name.pid" ] && kill -0 "$client" 2>/dev/null; do sleep 0.05; done
	pid=$(tr -dc 0-9 <"$work/$name.pid" 2>/dev/null || true)
	t0=$(date +%s.%N)
	# poll until the done marker appears: the backend is alive until then
	# (pg_sleep), so the last reading has its final VmHWM
	while [ -n "$pid" ] && cp "/proc/$pid/status" "$st" 2>/dev/null; do
		h=$(awk '/^VmHWM/ {print $2}' "$st")
		a=$(awk '/^RssAnon/ {print $2}' "$st")
		[ "${h:-0}" -gt "$hwm" ] && hwm=$h
		[ "${a:-0}" -gt "$anon" ] && anon=$a
		[ -e "$work/$name.done" ] && break
		sleep 0.2
	done
	t1=$(date +%s.%N)
	wait "$client" || rc=$?
	sed -E 's/^psql:[^:]*:[0-9]+: //' "$out" | grep -vE '^(DEBUG|LOCATION|CONTEXT|STATEMENT|LOG):' |
		grep -v '^[[:space:]]*$' | sed 's/^/  /' >&2 || true
	if [ "$rc" != 0 ] || [ ! -e "$work/$name.done" ]; then
		echo "step $name failed (psql exit $rc)" >&2
		exit 1
	fi
	printf '%s\t%.1f\t%d\t%d\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
		$((hwm / 1024)) $((anon / 1024)) "$($notes "$out")" >>"$work/table"
}

# notes: the largest estimate recs checked against recs.memory_limit, and
# what the step's NOTICEs say
budget_note() {
	grep -oE 'recs\.memory_limit check: .* about [0-9.]+ MB' "$1" |
		awk '{v = $(NF - 1) + 0; if (v > m) m = v} END {if (m) printf "largest estimate checked %d MB; ", m}'
}
gen_note() {
	tr '|' ' ' <"$1" | awk 'NF == 2 && $1 ~ /^scale\./ {sub(/^scale\./, "", $1); printf "%s%s %d", sep, $1, $2; sep = ", "}'
}
error_note() { grep -oE 'budget: .*' "$1" | sed 's/^budget: //'; }
pop_note() { budget_note "$1"; grep -oE 'kept [0-9]+ \([0-9]+ learners, [0-9]+ courses\)' "$1" | head -1; }
ncf_note() {
	budget_note "$1"
	grep -oE '[0-9]+ positives x [0-9]+ instances' "$1" | head -1 | tr -d '\n'
	grep -oE 'epoch [0-9]+/[0-9]+: loss [0-9.]+, [0-9]+ examples/s' "$1" | sed 's/^/; /' | tr -d '\n'
	grep -oE 'Other processes used [0-9.]+ CPU seconds' "$1" | tail -1 | sed 's/^/; /'
}
glmix_note() { budget_note "$1"; grep -oE '[0-9]+ impressions \([0-9]+ positive\)' "$1" | head -1; }
blend_note() {
	budget_note "$1"
	echo -n "$(q -c "SELECT count(*) FROM scale.impressions WHERE shown_at > '$cut'") impressions after the cut; "
	grep -oE 'train_blend pass [0-9/]+ [a-z_]+: mean log-loss [0-9.]+' "$1" | tail -1 | sed 's/^train_blend //'
}
serve_note() { grep -oE 'serve: .*' "$1" | sed 's/^serve: //'; }

# ---- 1. the data
step generate gen_note "
SET client_min_messages = warning;
SELECT * FROM recs.generate_sample('scale', learners => $learners, courses => $courses, seed => 42);"
cut=$(q -c "SELECT max(watched_at) - interval '28 days' FROM scale.watches")
q -c "CREATE VIEW scale.watches_before AS SELECT * FROM scale.watches WHERE watched_at < '$cut'" \
	-c "CREATE VIEW scale.impressions_before AS SELECT * FROM scale.impressions WHERE shown_at < '$cut'"

# ---- 2. the budget: the default (-1: maintenance_work_mem, 64MB) is too small here
step budget_error error_note "
DO \$\$
DECLARE st text; msg text; hint text; lim text;
BEGIN
  lim := set_config('recs.memory_limit', '$small_limit', false);
  PERFORM recs.train_popularity('scale.watches_before', 'scale.learners', name => 'too_small');
  RAISE EXCEPTION 'training within recs.memory_limit = % (maintenance_work_mem %) did not fail',
    current_setting('recs.memory_limit'), current_setting('maintenance_work_mem');
EXCEPTION WHEN program_limit_exceeded THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RAISE NOTICE 'budget: recs.memory_limit % (maintenance_work_mem %): SQLSTATE %: %; hint: %',
    lim, current_setting('maintenance_work_mem'), st, msg, hint;
END
\$\$;"

# ---- 3. the models, as train_all trains them
step train_popularity pop_note "
SELECT recs.train_popularity('scale.watches_before', 'scale.learners', name => 'scale_popularity', activate => false);"
step train_ncf ncf_note "
SELECT recs.train_ncf('scale.watches_before', 'scale_ncf', courses => 'scale.courses', layers => '$layers', dim => $dim,
                      epochs => $epochs, threads => 2, activate => false);"
step train_glmix glmix_note "
SELECT recs.train_glmix('scale.impressions_before', 'scale.learners', 'scale.courses',
                        '{language,industry,segment}', '{language,topic,difficulty}', name => 'scale_glmix',
                        crosses => '{industry:topic,language:language,segment:difficulty}', activate => false);"
step train_blend blend_note "
SELECT recs.train_blend(ARRAY[recs.model_id('scale_ncf'), recs.model_id('scale_glmix'), recs.model_id('scale_popularity')],
                        'scale.impressions', 'scale.learners', name => 'scale_blend', since => '$cut');"

# ---- 4. serving: recommend() for random learners, one new session per model
for m in popularity ncf glmix blend; do
	step "recommend_$m" serve_note "
SET client_min_messages = notice;
SET recs.cache_size = '$cache';
DO \$\$
DECLARE
  model bigint := recs.model_id('scale_$m');
  ids bigint[];
  lat float8[] := '{}';
  t0 timestamptz;
  cold float8;
  l bigint;
BEGIN
  PERFORM setseed(0.5);
  SELECT array_agg(100001 + floor(random() * $learners)::bigint) INTO ids FROM generate_series(0, $queries);
  t0 := clock_timestamp();
  PERFORM count(*) FROM recs.recommend(ids[1], 10, model => model);
  cold := extract(epoch FROM clock_timestamp() - t0) * 1000;
  COMMIT;
  FOREACH l IN ARRAY ids[2:] LOOP
    t0 := clock_timestamp();
    PERFORM count(*) FROM recs.recommend(l, 10, model => model);
    lat := lat || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    COMMIT;   -- one transaction per call, as an application's
  END LOOP;
  RAISE NOTICE 'serve: % calls, median % ms, p95 % ms; first call (loads the model) % ms',
    cardinality(lat),
    (SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2) FROM unnest(lat) x),
    (SELECT round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x)::numeric, 2) FROM unnest(lat) x),
    round(cold::numeric, 1);
END
\$\$;"
done

echo "uptime before: $uptime_before"
echo "uptime after:  $(uptime)"
echo "recs.memory_limit for the trainings: $limit; NCF layers $layers, dim $dim, $epochs epoch(s), 2 threads; recs.cache_size for serving: $cache"
echo
echo "| step | wall s | peak RSS MB (VmHWM) | peak private MB (RssAnon) | notes |"
echo "|---|---|---|---|---|"
tail -n +2 "$work/table" | awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
