#!/usr/bin/env bash
# bench/ncf_loss_scale.sh -- NCF's two losses at catalogue scale: training
# speed and quality of train_ncf(loss => 'binary') and (loss => 'softmax') on
# recs.generate_sample data with many courses.
#
# Generates LEARNERS x COURSES (default 100,000 x 20,000), trains on the
# watches before the last 28 days and evaluates Recall@10 (recs.evaluate,
# full catalogue, watched courses excluded) on the new (learner, course)
# pairs after the cut, of learners with a training watch.  Each RUN is
# loss:epochs[:batch_size[:learning_rate]]; every run uses the default towers
# ({256,128} -> 64) and THREADS threads (default 2).  Prints per run the
# positives per second, seconds per epoch, the whole training's seconds and
# Recall@10; the NOTICEs say how much CPU other processes used meanwhile.
#
#   bash bench/ncf_loss_scale.sh [LEARNERS] [COURSES] RUN...
#   bash bench/ncf_loss_scale.sh 100000 20000 binary:2 softmax:2 softmax:20
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
learners=${1:-100000}
courses=${2:-20000}
shift 2 || true
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(binary:2 softmax:2)
threads=${THREADS:-2}

recs_ensure_packages
recs_build_install
recs_start_cluster
trap 'recs_stop_cluster' EXIT
if [ "$RECS_EXISTING_SERVER" = 0 ]; then
	export PGDATABASE=recs_loss_scale
	createdb "$PGDATABASE"
fi
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS recs" \
	-c "DROP SCHEMA IF EXISTS ls CASCADE"
uptime
t0=$(date +%s.%N)
q -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '8GB'" \
	-c "SELECT * FROM recs.generate_sample('ls', $learners, $courses)" >/dev/null
echo "generated in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
cut=$(q -c "SELECT max(watched_at) - interval '28 days' FROM ls.watches")
q <<SQL
CREATE VIEW ls.train AS SELECT * FROM ls.watches WHERE watched_at < '$cut';
CREATE TABLE ls.future AS
SELECT DISTINCT w.learner_id, w.course_id FROM ls.watches w
 WHERE w.watched_at >= '$cut' AND w.watch_seconds >= 60
   AND EXISTS (SELECT 1 FROM ls.watches t WHERE t.learner_id = w.learner_id
                  AND t.watched_at < '$cut' AND t.watch_seconds >= 60)
   AND NOT EXISTS (SELECT 1 FROM ls.watches t WHERE t.learner_id = w.learner_id AND t.course_id = w.course_id
                      AND t.watched_at < '$cut' AND t.watch_seconds >= 60);
ANALYZE ls.future;
SQL
echo "cut $cut; test pairs $(q -c 'SELECT count(*) FROM ls.future'), learners $(q -c 'SELECT count(DISTINCT learner_id) FROM ls.future')"

printf '%-28s %12s %10s %10s %10s %10s\n' run positives/s epoch_s train_s call_s recall@10 >"${TMPDIR:-/tmp}/ncf_loss_scale.$$"
for run in "${runs[@]}"; do
	if [ "$run" = defaults ]; then
		args="threads => $threads"
	else
		IFS=: read -r loss epochs batch lr <<<"$run"
		args="epochs => $epochs, batch_size => ${batch:-256}, learning_rate => ${lr:-0.001},
		      threads => $threads, loss => '$loss'"
	fi
	echo "== $run"
	c0=$(date +%s.%N)
	out=$(q -c "SET recs.memory_limit = '8GB'" -c "SELECT recs.train_ncf('ls.train', 'ls_${run%%:*}',
	                 courses => 'ls.courses', $args, activate => false)" 2>&1)
	call=$(awk -v a="$c0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
	echo "$out" | grep -E 'NOTICE|DETAIL' | sed 's/^/  /'
	model=$(echo "$out" | grep -E '^[0-9]+$' | tail -1)
	read -r pos ts es <<<"$(q -F ' ' -c "SELECT metrics->>'positives', metrics->>'train_seconds',
	        (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY e::float8)
	           FROM jsonb_array_elements_text(metrics->'epoch_seconds') e)
	   FROM recs.model WHERE model_id = $model")"
	recall=$(q -c "SELECT (recs.evaluate($model, 'ls.future', 10, store => false))->>'recall'")
	printf '%-28s %12.0f %10.1f %10.1f %10.1f %10.4f\n' "$run" "$(awk -v p="$pos" -v e="$es" 'BEGIN {print p / e}')" \
		"$es" "$ts" "$call" "$recall" >>"${TMPDIR:-/tmp}/ncf_loss_scale.$$"
done
uptime
cat "${TMPDIR:-/tmp}/ncf_loss_scale.$$"
rm -f "${TMPDIR:-/tmp}/ncf_loss_scale.$$"
