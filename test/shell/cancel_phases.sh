#!/usr/bin/env bash
# cancel_phases.sh -- statement_timeout stops every training at any point
# (TAP): each trainer runs under timeouts from 0.1 s to 3 s, so that the
# cancel lands in reading, co-watch counting, the epochs or passes, scoring and
# storing; every run either finishes before its timeout or fails with 57014
# less than 2 s after it, and no cancelled training leaves a trace.  Needs a
# running server (PGHOST etc.), as set up by scripts/test.sh.
set -euo pipefail
db=recs_cancel
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
out=$(mktemp)
trap 'rm -f "$out"; dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '2GB'" -c "CREATE EXTENSION recs" \
  -c "SELECT count(*) FROM recs.generate_sample('k', 20000, 500, 3)" \
  -c "CREATE VIEW k.early_watches AS SELECT * FROM k.watches WHERE watched_at < '2025-10-01'" \
  -c "CREATE VIEW k.early_impressions AS SELECT * FROM k.impressions WHERE shown_at < '2025-10-01'" \
  -c "CREATE VIEW k.late AS SELECT DISTINCT learner_id, course_id FROM k.watches WHERE watched_at >= '2025-10-01'" \
  -c "SELECT recs.train_popularity('k.early_watches', 'k.learners', name => 'keeper', through => '2025-09-30')" \
  -c "SELECT recs.train_glmix('k.early_impressions', 'k.learners', 'k.courses', '{language}', '{topic}', name => 'keeper_glmix', activate => false)" \
  >/dev/null

trainers=(
	"train_popularity|SELECT recs.train_popularity('k.watches', 'k.learners', name => 'victim')"
	"train_ncf|SELECT recs.train_ncf('k.watches', 'victim', courses => 'k.courses', epochs => 50, threads => 2)"
	"train_glmix|SELECT recs.train_glmix('k.impressions', 'k.learners', 'k.courses', '{language,industry,segment,skills}', '{language,topic,difficulty,skills}', name => 'victim', passes => 20)"
	"train_blend|SELECT recs.train_blend(ARRAY[recs.model_id('keeper'), recs.model_id('keeper_glmix')], 'k.watches', name => 'victim', time_column => 'watched_at', negatives => 50, rerank_top => 100)"
	"evaluate|SELECT recs.evaluate(recs.model_id('keeper_glmix'), 'k.late', 10)"
	"train_all|SELECT recs.train_all('k.watches', 'k.impressions', 'k.learners', 'k.courses', name => 'victim', epochs => 5)"
)
timeouts="100 400 1000 3000"
echo "1..$((${#trainers[@]} * 4 + 2))"
n=0
worst=0
for t in "${trainers[@]}"; do
	tag=${t%%|*}; sql=${t#*|}
	for ms in $timeouts; do
		n=$((n + 1))
		t0=$(date +%s.%N)
		set +e
		psql -X -q -d "$db" -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '2GB'" \
			-c "SET statement_timeout = $ms" -c "$sql" >"$out" 2>&1
		rc=$?
		set -e
		t1=$(date +%s.%N)
		over=$(awk -v a="$t0" -v b="$t1" -v ms="$ms" 'BEGIN { printf "%.3f", (b - a) - ms / 1000 }')
		if [ "$rc" = 0 ]; then
			echo "ok $n - $tag under a ${ms} ms timeout: finished first"
		elif grep -q "canceling statement due to statement timeout" "$out" && awk -v o="$over" 'BEGIN { exit !(o < 2) }'; then
			echo "ok $n - $tag under a ${ms} ms timeout: cancelled ${over} s after it"
			worst=$(awk -v a="$worst" -v b="$over" 'BEGIN { print (b > a ? b : a) }')
		else
			echo "not ok $n - $tag under a ${ms} ms timeout (rc $rc, ${over} s after it)"; sed 's/^/# /' "$out"
		fi
		q -c "DELETE FROM recs.model WHERE name LIKE 'victim%' AND model_id NOT IN (SELECT model_id FROM recs.deployment)" \
		  -c "SELECT recs.activate(recs.model_id('keeper'))" >/dev/null 2>&1 || true
	done
done
echo "# longest wait after a timeout: ${worst} s"
n=$((n + 1))
[ "$(q -c "SELECT m.name FROM recs.deployment d JOIN recs.model m USING (model_id)")" = keeper ] \
	&& echo "ok $n - the previous model is still the active one" || echo "not ok $n - the previous model is still the active one"
n=$((n + 1))
[ "$(q -c "SELECT count(*) FROM recs.recommend(100001, 5)")" = 5 ] \
	&& echo "ok $n - and serves" || echo "not ok $n - and serves"
