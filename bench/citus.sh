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
# ones, before and after.
#
# Usage: bash bench/citus.sh [LEARNERS at 1x, default 20000] [COURSES, default 2000]
# RECS_BENCH_CITUS=glmix measures train_glmix only: on the distributed tables
# (its aggregates on the workers) and on the plain copy (all on the
# coordinator), for the figures of docs/performance.md#glmix-on-citus.
# Needs citus.so for PG_CONFIG (bash ../shared/citus/build.sh).
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
base_learners=${1:-20000}
courses=${2:-2000}
tick=$(getconf CLK_TCK)

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
	measure "train_glmix (distributed input)" "SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{language,industry,segment}', '{language,topic,difficulty}', name => 'bench_glmix')"
	if [ "${RECS_BENCH_CITUS:-}" = glmix ]; then
		measure "train_glmix (single tables)" "SELECT recs.train_glmix('single.impressions', 'single.learners', 'single.courses', '{language,industry,segment}', '{language,topic,difficulty}', name => 'bench_glmix_s')"
		psql -X -A -t -c "SELECT format('  %s: seconds %s, objective %s', name, metrics->'seconds', metrics->>'objective') FROM recs.model WHERE name LIKE 'bench_glmix%' ORDER BY name"
		kill $pid
		wait $pid 2>/dev/null || true
		rm -f "$log"
		return 0
	fi
	measure "train_ncf, 1 epoch (distributed)" "SELECT recs.train_ncf('app.watches', name => 'bench_ncf', courses => 'app.courses', epochs => 1)"
	measure "batch over app.learners (pushed)" "CREATE TABLE public.b_d AS SELECT l.learner_id, r.* FROM app.learners l, recs.recommend(l.learner_id, 10) r"
	measure "batch over single.learners" "CREATE TABLE public.b_s AS SELECT l.learner_id, r.* FROM single.learners l, recs.recommend(l.learner_id, 10) r"
	kill $pid
	wait $pid 2>/dev/null || true
	rm -f "$log"
}

for scale in 1 4; do
	run_scale $((base_learners * scale))
done
