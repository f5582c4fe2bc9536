#!/usr/bin/env bash
# kill_training.sh -- cancelling or killing a training backend (TAP):
# pg_cancel_backend stops NCF and GLMix trainings within 2 s; kill -9 of a
# training backend makes the server restart, after which the previous model
# serves and no trace of the killed training is left.  RECS_CANCEL_LIMIT
# raises the 2 s limit (memcheck.sh runs the server under valgrind).
set -euo pipefail
limit=${RECS_CANCEL_LIMIT:-2}
db=recs_kill
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }
echo "1..7"
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" \
  -c "SELECT count(*) FROM recs.generate_sample('k', 3000, 300, 3)" \
  -c "SELECT recs.train_popularity('k.watches', 'k.learners', name => 'keeper')" >/dev/null

# run SQL in the background, wait until it is active, act on its backend
start_bg() {
	psql -X -q -d "$db" -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '2GB'" -c "$1" \
		>/tmp/recs_kill_bg.out 2>&1 &
	bg=$!
	for _ in $(seq 1 300); do
		pid=$(q -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND query LIKE '%$2%' AND pid <> pg_backend_pid() AND state = 'active'" | head -1)
		[ -n "$pid" ] && return 0
		sleep 0.1
	done
	return 1
}

n=0
for trainer in "SELECT recs.train_ncf('k.watches', 'victim_ncf', epochs => 200, threads => 2)|train_ncf" \
               "SELECT recs.train_glmix('k.impressions', 'k.learners', 'k.courses', '{language,industry,segment,skills}', '{language,topic,difficulty,skills}', name => 'victim_glmix', passes => 100)|train_glmix"; do
	sql=${trainer%|*}; tag=${trainer#*|}
	n=$((n + 1))
	if start_bg "$sql" "$tag"; then
		sleep 1.5
		t0=$(date +%s.%N)
		q -c "SELECT pg_cancel_backend($pid)" >/dev/null
		wait "$bg" || true
		t1=$(date +%s.%N)
		secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
		if grep -q "canceling statement due to user request" /tmp/recs_kill_bg.out \
			&& awk -v s="$secs" -v l="$limit" 'BEGIN { exit !(s < l) }'; then
			echo "ok $n - pg_cancel_backend stops $tag within $limit s ($(printf '%.2f' "$secs") s)"
		else
			echo "not ok $n - pg_cancel_backend stops $tag within $limit s ($(printf '%.2f' "$secs") s)"; sed 's/^/# /' /tmp/recs_kill_bg.out
		fi
	else
		echo "not ok $n - $tag did not start"; sed 's/^/# /' /tmp/recs_kill_bg.out
	fi
done

# kill -9 of a training backend
if start_bg "SELECT recs.train_ncf('k.watches', 'victim', epochs => 200, threads => 2)" "train_ncf"; then
	sleep 1.5
	kill -9 "$pid"
	wait "$bg" || true
	echo "ok 3 - a training backend was killed with SIGKILL"
else
	echo "not ok 3 - the training to kill did not start"
fi
up=0
for _ in $(seq 1 300); do
	if q -c "SELECT 1" >/dev/null 2>&1; then up=1; break; fi
	sleep 0.2
done
[ "$up" = 1 ] && echo "ok 4 - the server recovered and answers" || echo "not ok 4 - the server recovered and answers"
[ "$(q -c "SELECT count(*) FROM recs.model WHERE name LIKE 'victim%'")" = 0 ] \
	&& echo "ok 5 - no trace of the killed or cancelled trainings" || echo "not ok 5 - no trace of the killed or cancelled trainings"
[ "$(q -c "SELECT m.name FROM recs.deployment d JOIN recs.model m USING (model_id)")" = keeper ] \
	&& echo "ok 6 - the previous model is still the active one" || echo "not ok 6 - the previous model is still the active one"
[ "$(q -c "SELECT count(*) FROM recs.recommend(100001, 5)")" = 5 ] \
	&& echo "ok 7 - and serves" || echo "not ok 7 - and serves"
