#!/usr/bin/env bash
# bench/citus.sh -- where recs' work lands on a Citus cluster: a coordinator
# and two workers on this machine (scripts/test_citus.sh, RECS_CITUS_HOLD=1),
# a generated platform distributed by learner_id at 1x and 4x size.  For
# train_glmix on the distributed tables, and for the batch of every
# learner's recommendations (CREATE TABLE ... AS over the distributed
# learners, against the same batch over a plain copy on the coordinator), it
# prints the wall time, the coordinator backend's peak memory (VmHWM and
# RssAnon) and CPU time (utime + stime), read from its own /proc/self at the
# end of the session, and the CPU seconds each worker's server processes
# used: the postmaster's reaped children (cutime + cstime) plus its live
# ones, before and after.  train_popularity runs on the distributed tables
# (its counts pushed down to the shards) and on the plain copy (the C path).
# Per-shard times: EXPLAIN ANALYZE with citus.explain_all_tasks of each
# statement that runs as tasks on the shards -- popularity's two counting
# statements (their text logged by auto_explain during a training) and the
# batch -- gives each task's execution time on its worker: the min, median
# and max of the 8 tasks, and their sum.
#
# Usage: bash bench/citus.sh [LEARNERS at 1x, default 20000] [COURSES, default 2000]
# RECS_BENCH_CITUS_STEPS (default "glmix ncf popularity batch") picks the steps;
# the glmix step trains on the distributed tables (its aggregates on the
# workers) and on the plain copy (all on the coordinator), for the figures of
# docs/performance.md#glmix-on-citus. RECS_BENCH_CITUS=glmix is the glmix step alone;
# RECS_BENCH_CITUS=glmix_flat trains a fixed effect with a per-learner and a
# per-course effect (RECS_BENCH_FLAT_EFFECTS, default {learner_id,course_id};
# {learner_id} for the figures before the course effect was flat) on the
# flat path (glmix_flat.c), on the earlier Citus path and on the plain copy.
# Needs citus.so for PG_CONFIG (bash ../shared/citus/build.sh).
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
base_learners=${1:-20000}
courses=${2:-2000}
tick=$(getconf CLK_TCK)
steps=" ${RECS_BENCH_CITUS_STEPS:-glmix ncf popularity batch} "
[ "${RECS_BENCH_CITUS:-}" = glmix ] && steps=" glmix "
[ "${RECS_BENCH_CITUS:-}" = glmix_flat ] && steps=" glmix_flat "
# the cluster goes with the script, however it ends
hold_pid=
trap 'if [ -n "$hold_pid" ]; then kill "$hold_pid" 2>/dev/null || true; fi' EXIT

# cpu_of DATADIR: CPU seconds of a server: reaped children plus live processes
cpu_of() {
	local pm pid total=0 f
	pm=$(head -n 1 "$1/postmaster.pid")
	f=($(sed 's/^.*) //' "/proc/$pm/stat"))
	# after "pid (comm) ", field 3 is state: utime, stime, cutime, cstime are 14..17 of stat
	total=$((f[11] + f[12] + f[13] + f[14]))
	for pid in $(pgrep -P "$pm"); do
		f=($(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null || echo))
		[ ${#f[@]} -gt 12 ] && total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

run_scale() {
	local n=$1 log pid port tmp nodes c0 c1 out
	log=$(mktemp)
	RECS_CITUS_HOLD=1 RECS_CITUS_LEARNERS=$n RECS_CITUS_COURSES=$courses \
		bash "$RECS_ROOT/scripts/test_citus.sh" >"$log" 2>&1 &
	pid=$!
	hold_pid=$pid
	until grep -q '^# holding' "$log"; do
		sleep 2
		kill -0 $pid 2>/dev/null || { cat "$log"; return 1; }
	done
	port=$(grep -o 'PGPORT=[0-9]*' "$log" | cut -d= -f2)
	tmp=$(grep -o 'in /tmp/recs-citus\.[A-Za-z0-9]*' "$log" | cut -d' ' -f2)
	export PGHOST=127.0.0.1 PGPORT=$port PGUSER=postgres PGDATABASE=recs_citus
	psql -X -q -A -t -c "SET client_min_messages = warning; SELECT count(*) FROM recs.citus_setup()" >/dev/null
	echo "== $n learners, $courses courses: $(psql -X -A -t -c 'SELECT count(*) FROM app.impressions') impressions, $(psql -X -A -t -c 'SELECT count(*) FROM app.watches') watches; load $(cut -d' ' -f1-3 /proc/loadavg)"
	nodes=(coord w1 w2)
	measure() {
		local what=$1 sql=$2 t0 t1 i
		c0=(); for i in 0 1 2; do c0+=("$(cpu_of "$tmp/${nodes[$i]}")"); done
		t0=$(date +%s.%N)
		out=$(psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '4GB'" \
			-c "$sql" -c "SELECT string_agg(l, ' ') || format(' CPU %s s', round((s[14]::bigint + s[15]::bigint) / $tick.0, 2))
			                FROM regexp_split_to_table(pg_read_file('/proc/self/status'), E'\n') l,
			                     regexp_split_to_array(pg_read_file('/proc/self/stat'), ' ') s
			               WHERE l ~ '^(VmHWM|RssAnon)' GROUP BY s" | tail -n 1)
		t1=$(date +%s.%N)
		c1=(); for i in 0 1 2; do c1+=("$(cpu_of "$tmp/${nodes[$i]}")"); done
		printf '%-34s wall %6.1f s | coordinator backend %s | CPU s of worker 1 %.1f, worker 2 %.1f\n' \
			"$what" "$(echo "$t1 - $t0" | bc)" "$(echo "$out" | tr -s ' \t' ' ')" \
			"$(echo "(${c1[1]} - ${c0[1]}) / $tick" | bc -l)" "$(echo "(${c1[2]} - ${c0[2]}) / $tick" | bc -l)"
	}
	# shard_times WHAT SQL: each task's execution time on its worker
	shard_times() {
		psql -X -q -A -t -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
			-c "SET citus.explain_all_tasks = on" -c "EXPLAIN (ANALYZE, TIMING off) $2" |
			sed -nE 's/^ +Execution Time: ([0-9.]+) ms/\1/p' | sort -n |
			awk -v what="$1" '{ t[NR] = $1; s += $1 } END {
				printf "%-34s per-shard ms: %d tasks, min %.0f, median %.0f, max %.0f, sum %.0f\n",
					what, NR, t[1], t[int((NR + 1) / 2)], t[NR], s }'
	}
	case $steps in *" glmix "*)
	measure "train_glmix (distributed input)" "SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}', '{language,topic,difficulty}', name => 'bench_glmix')"
	measure "train_glmix (single tables)" "SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}', '{language,topic,difficulty}', name => 'bench_glmix_s')"
	psql -X -A -t -c "SELECT format('  %s: seconds %s, objective %s', name, metrics->'seconds', metrics->>'objective') FROM recs.model WHERE name LIKE 'bench_glmix%' ORDER BY name"
	esac
	case $steps in *" glmix_flat "*)
	# a fixed effect and the random effects of RECS_BENCH_FLAT_EFFECTS: the
	# flat path (glmix_flat.c), the earlier Citus path (recs.glmix_flat off:
	# the coordinator reads the rows) and the plain copy
	local flat_model="'{language,industry,segment}', '{language,topic,difficulty}', random_effects => '${RECS_BENCH_FLAT_EFFECTS:-{learner_id,course_id\}}'"
	measure "train_glmix flat (distributed)" "SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', $flat_model, name => 'bench_flat_d')"
	measure "train_glmix rows (glmix_flat off)" "SET recs.glmix_flat = off; SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', $flat_model, name => 'bench_flat_r')"
	measure "train_glmix (single tables)" "SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', $flat_model, name => 'bench_flat_s')"
	# the same learners with every impression four times: what grows with the
	# impressions alone (the coordinator should not)
	psql -X -q -c "SET client_min_messages = warning" -c "CREATE TABLE app.impressions4 (LIKE app.impressions)" \
		-c "SELECT create_distributed_table('app.impressions4', 'learner_id', colocate_with => 'app.impressions')" \
		-c "INSERT INTO app.impressions4 SELECT i.* FROM app.impressions i, generate_series(1, 4)" >/dev/null
	measure "train_glmix flat, impressions x4" "SELECT recs.train_glmix('app.impressions4', 'app.learners', 'app.courses', $flat_model, name => 'bench_flat_d4')"
	measure "train_glmix rows, impressions x4" "SET recs.glmix_flat = off; SELECT recs.train_glmix('app.impressions4', 'app.learners', 'app.courses', $flat_model, name => 'bench_flat_r4')"
	psql -X -A -t -c "SELECT format('  %s: %s rows, seconds %s, objective %s, flat %s', name, metrics->>'train_rows', metrics->'seconds', metrics->>'objective', coalesce(metrics->>'citus_flat', 'no')) FROM recs.model WHERE name LIKE 'bench_flat%' ORDER BY name"
	esac
	case $steps in *" ncf "*)
	measure "train_ncf, 1 epoch (distributed)" "SELECT recs.train_ncf('app.watches', name => 'bench_ncf', courses => 'app.courses', epochs => 1)"
	esac
	case $steps in *" popularity "*)
	measure "train_popularity (pushed down)" "SELECT recs.train_popularity('app.watches', 'app.learners', name => 'bench_pop_d', activate => false)"
	measure "train_popularity (plain copy, C)" "SELECT recs.train_popularity('single.watches', 'single.learners', name => 'bench_pop_s', activate => false)"
	echo "  same model: $(psql -X -A -t -c "SELECT count(*) = 0 FROM (SELECT language, course_id, watchers, score FROM recs.course_popularity WHERE model_id = recs.model_id('bench_pop_d') EXCEPT ALL SELECT language, course_id, watchers, score FROM recs.course_popularity WHERE model_id = recs.model_id('bench_pop_s')) x")"
	# (with auto_explain loaded, Citus refuses the model's catalog INSERT ...
	# SELECT after the counting, "could not create distributed plan": this
	# run only logs the counting statements' text)
	local texts
	texts=$( (psql -X -q -A -t -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
		-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_level = notice" \
		-c "SELECT recs.train_popularity('app.watches', 'app.learners', name => 'bench_pop_x', activate => false)" 2>&1 || true) |
		sed -n 's/^Query Text: //p')
	shard_times "popularity: count of the watches" "$(printf '%s\n' "$texts" | grep -m1 '^SELECT why, sum(n)')"
	shard_times "popularity: per language and course" "$(printf '%s\n' "$texts" | grep -m1 '^SELECT lang, c, count')"
	esac
	case $steps in *" batch "*)
	measure "batch over app.learners (pushed)" "CREATE TABLE public.b_d AS SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r"
	measure "batch over single.learners" "CREATE TABLE public.b_s AS SELECT l.learner_id, r.* FROM single.learners l, recs.recommend(l.learner_id, 10) r"
	shard_times "batch (the active model)" "SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r"
	esac
	kill $pid
	wait $pid 2>/dev/null || true
	rm -f "$log"
}

for scale in 1 4; do
	run_scale $((base_learners * scale))
done
