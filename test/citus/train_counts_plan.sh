#!/usr/bin/env bash
# train_counts_plan.sh -- the plans of train_popularity on watches distributed
# by Citus (scripts/test_citus.sh): its counting statements run as tasks on
# the shards, with the aggregation there, and the coordinator receives
# grouped rows (a few per course and shard), never the watches.  The plans
# are those of the training itself, logged by auto_explain (with ANALYZE,
# for the rows each statement received).  With auto_explain's ANALYZE,
# Citus then refuses to run the model's catalog INSERT into the reference
# table under EXPLAIN ANALYZE (README "Scaling out with Citus"), so the
# logged training stops after its counts: test 6 checks that they
# completed; train_counts.sql checks the trainings themselves, and
# text_keys_plan.sh that trainings logged without ANALYZE complete.
# Prints TAP.
set -uo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

echo "1..8"
log=$(q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
	-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_level = notice" \
	-c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_timing = off" \
	-c "SELECT recs.train_popularity('app.watches', 'app.learners', name => 'tp_plan', activate => false)" 2>&1)
watches=$(q -c "SELECT count(*) FROM app.watches")
courses=$(q -c "SELECT count(DISTINCT course_id) FROM app.watches")
# plan STATEMENT-START: the logged plan of the statement whose text starts so
plan() {
	printf '%s\n' "$log" | awk -v start="Query Text: $1" '
		/^NOTICE:  duration:/ { keep = 0 }
		index($0, start) == 1 { keep = 1 }
		keep { print }'
}
# received PLAN: the actual rows of its Citus scan (what the coordinator got)
received() { printf '%s\n' "$1" | grep -m1 'Custom Scan (Citus Adaptive)' | sed -E 's/.*actual rows=([0-9]+).*/\1/'; }

stats=$(plan "SELECT why, sum(n)")
counts=$(plan "SELECT lang, c, count(*)")
if printf '%s' "$stats" | grep -q 'Task Count: 8' \
	&& printf '%s' "$stats" | grep -Eq 'Group Key: watches\.learner_id, watches\.course_id' \
	&& printf '%s' "$stats" | grep -Eq 'Seq Scan on watches_[0-9]+'; then
	echo "ok 1 - the count of the cleaned watches: 8 tasks, each grouping its shard of watches by (learner, course)"
else echo "not ok 1 - the count of the cleaned watches runs on the shards"; printf '%s\n' "$stats" "$log" | head -n 60 | sed 's/^/# /'; fi

n=$(received "$stats")
if [ -n "$n" ] && [ "$n" -le $((8 * courses * 5)) ] && [ "$n" -lt "$watches" ]; then
	echo "ok 2 - and the coordinator receives $n rows (per shard, course and reason) of $watches watches"
else echo "not ok 2 - the coordinator receives grouped rows # $n rows of $watches watches"; fi

if printf '%s' "$counts" | grep -q 'Task Count: 8' \
	&& printf '%s' "$counts" | grep -Eq 'Seq Scan on learners_[0-9]+' \
	&& printf '%s' "$counts" | grep -Eq 'Seq Scan on watches_[0-9]+' \
	&& printf '%s' "$counts" | grep -Eq '(Group|Hash)Aggregate' \
	&& printf '%s' "$counts" | grep -Eq 'Group Key: remote_scan\.c, remote_scan\.lang'; then
	echo "ok 3 - the count per language and course: 8 tasks joining watches and learners shard by shard, partial aggregates merged on the coordinator"
else echo "not ok 3 - the count per language and course runs on the shards"; printf '%s\n' "$counts" | head -n 60 | sed 's/^/# /'; fi

n=$(received "$counts")
languages=$(q -c "SELECT count(DISTINCT language) FROM app.learners")
if [ -n "$n" ] && [ "$n" -le $((8 * courses * (languages + 1))) ] && [ "$n" -lt "$watches" ]; then
	echo "ok 4 - and the coordinator receives $n rows (per shard, language and course)"
else echo "not ok 4 - the coordinator receives grouped rows # $n of $watches"; fi

if ! printf '%s\n' "$log" | grep -q "^Query Text: SELECT learner_id::int8, course_id::int8"; then
	echo "ok 5 - no statement of the training reads the watches row by row (the C reader of test 7)"
else echo "not ok 5 - no statement of the training reads the watches row by row"; fi

if printf '%s\n' "$log" | grep -q '^NOTICE:  train_popularity: used [0-9]* of the [0-9]* kept watches'; then
	echo "ok 6 - the logged training counted its window to the end"
else echo "not ok 6 - the logged training counted its window to the end"; printf '%s\n' "$log" | grep -E 'ERROR|train_popularity:' | sed 's/^/# /'; fi

# a plain table on the coordinator keeps the C path: one read of the rows
log=$(q -c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
	-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_level = notice" \
	-c "SELECT recs.train_popularity('single.watches', 'single.learners', name => 'tp_plan_s', activate => false)" 2>&1)
reader=$(plan "SELECT learner_id::int8, course_id::int8")
if [ -n "$reader" ] && ! printf '%s' "$reader" | grep -q 'Citus Adaptive' \
	&& ! printf '%s\n' "$log" | grep -q '^Query Text: SELECT why, sum(n)'; then
	echo "ok 7 - watches in a plain table are read once by the C reader, without Citus"
else echo "not ok 7 - watches in a plain table are read by the C reader"; printf '%s\n' "$log" | head -n 40 | sed 's/^/# /'; fi

# a plain view of the distributed watches (train_all's cut in time) is counted on the shards too
log=$(q -c "SET citus.enable_ddl_propagation = off" \
	-c "CREATE TEMP VIEW cut AS SELECT learner_id AS l, course_id, watched_at, watch_seconds FROM app.watches WHERE watched_at < '2025-12-01'" \
	-c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0" \
	-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_level = notice" \
	-c "SELECT recs.train_popularity('pg_temp.cut', name => 'tp_plan_v', activate => false, learner_column => 'l')" 2>&1)
stats=$(plan "SELECT why, sum(n)")
if printf '%s' "$stats" | grep -q 'Task Count: 8' \
	&& printf '%s' "$stats" | grep -Eq 'Seq Scan on watches_[0-9]+' \
	&& printf '%s' "$stats" | grep -Eq 'Filter: \(watched_at < ' \
	&& ! printf '%s\n' "$log" | grep -q "^Query Text: SELECT l::int8, course_id::int8"; then
	echo "ok 8 - a plain view of them (a cut in time, a column renamed) is counted in the same 8 tasks, its filter in each shard's scan"
else echo "not ok 8 - a plain view of the distributed watches is counted on the shards"; printf '%s\n' "$stats" "$log" | head -n 60 | sed 's/^/# /'; fi

q -c "SET client_min_messages = warning" -c "SELECT recs.drop_model(model_id) FROM recs.model WHERE name IN ('tp_plan', 'tp_plan_s', 'tp_plan_v')" >/dev/null
