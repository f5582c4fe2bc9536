#!/usr/bin/env bash
# text_keys_plan.sh -- where a text-keyed training's key lookup runs on Citus
# (scripts/test_citus.sh, after text_keys.sql, whose distributed relations
# ck_t_d.* are keyed by text, distributed by learner_id, and whose keys are
# in recs.id_key): a retraining on known keys finds the new learner keys by
# one anti-join per shard (the DISTINCT on the distribution column, beside
# the dictionary's placement), so the coordinator receives no learner key;
# course keys (no distribution column) come merged, a few per shard.  The
# plans are the training's own, logged by auto_explain with ANALYZE (the
# training then stops at its first INSERT into a reference table, which
# Citus will not EXPLAIN ANALYZE: README "Scaling out with Citus").  And with
# auto_explain logging nested statements without ANALYZE, trainings store
# their model: the catalog row is inserted by VALUES, not by an INSERT ...
# SELECT with parameters, which Citus could not plan again for the log.
# Prints TAP.
set -uo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
explain=(-c "LOAD 'auto_explain'" -c "SET auto_explain.log_min_duration = 0"
	-c "SET auto_explain.log_nested_statements = on" -c "SET auto_explain.log_level = notice")

echo "1..5"
log=$(q "${explain[@]}" -c "SET auto_explain.log_analyze = on" -c "SET auto_explain.log_timing = off" \
	-c "SELECT recs.train_popularity('ck_t_d.watches', 'ck_t_d.learners', name => 'kp_plan', activate => false)" 2>&1)
# plan STATEMENT-START: the logged plan of the statement whose text starts so
plan() {
	printf '%s\n' "$log" | awk -v start="Query Text: $1" '
		/^NOTICE:  duration:/ { keep = 0 }
		index($0, start) == 1 { keep = 1 }
		keep { print }'
}
# received PLAN: the rows of every Citus scan of it (what the coordinator got), summed
received() {
	printf '%s\n' "$1" | grep 'Custom Scan (Citus Adaptive)' | sed -E 's/.*actual rows=([0-9]+).*/\1/' \
		| awk '{ n += $1 } END { print n + 0 }'
}

learners=$(plan 'SELECT d.c::text COLLATE "C" AS k FROM (SELECT DISTINCT learner_id AS c FROM ck_t_d.watches')
if printf '%s' "$learners" | grep -q 'Task Count: 8' && ! printf '%s' "$learners" | grep -q 'Distributed Subplan' \
	&& printf '%s' "$learners" | grep -Eq '(Hash|Merge) [A-Za-z ]*Join|Nested Loop' \
	&& printf '%s' "$learners" | grep -Eq 'id_key_[0-9]+'; then
	echo "ok 1 - the new learner keys of distributed watches: one anti-join with the dictionary's placement in each of 8 tasks"
else echo "not ok 1 - the learner keys' anti-join runs on the shards"; printf '%s\n' "$learners" "$log" | head -n 60 | sed 's/^/# /'; fi

n=$(received "$learners")
if [ -n "$learners" ] && [ "$n" = 0 ]; then
	echo "ok 2 - and on known keys the coordinator receives none"
else echo "not ok 2 - the coordinator receives no known learner key # $n rows"; fi

lrel=$(plan 'SELECT d.c::text COLLATE "C" AS k FROM (SELECT DISTINCT learner_id AS c FROM ck_t_d.learners')
if printf '%s' "$lrel" | grep -q 'Task Count: 8' && ! printf '%s' "$lrel" | grep -q 'Distributed Subplan' \
	&& [ "$(received "$lrel")" = 0 ]; then
	echo "ok 3 - the learners relation's keys alike: 8 tasks, no key received"
else echo "not ok 3 - the learners relation's keys are looked up on the shards"; printf '%s\n' "$lrel" | head -n 40 | sed 's/^/# /'; fi

courses=$(plan 'SELECT d.c::text COLLATE "C" AS k FROM (SELECT DISTINCT course_id AS c FROM ck_t_d.watches')
ncourses=$(q -c "SELECT count(DISTINCT course_id) FROM ck_t_d.watches")
m=$(printf '%s\n' "$courses" | grep 'Custom Scan (Citus Adaptive)' | sed -n 2p | sed -E 's/.*actual rows=([0-9]+).*/\1/')
if [ -n "$m" ] && [ "$m" -le $((8 * ncourses)) ]; then
	echo "ok 4 - course keys (no distribution column): the coordinator merges $m rows, at most one per shard and course"
else echo "not ok 4 - course keys come merged per shard # $m rows"; printf '%s\n' "$courses" | head -n 40 | sed 's/^/# /'; fi

# without ANALYZE, the logged trainings store their models
out=$(q "${explain[@]}" -c "SET client_min_messages = warning" \
	-c "SELECT recs.train_popularity('app.watches', 'app.learners', name => 'kp_logged', activate => false)" \
	-c "SELECT recs.train_ncf('ck_t_d.watches', 'kp_logged_ncf', layers => '{8}', dim => 4, epochs => 1, activate => false)" 2>&1)
if [ "$(q -c "SELECT count(*) FROM recs.model WHERE name IN ('kp_logged', 'kp_logged_ncf')")" = 2 ]; then
	echo "ok 5 - with auto_explain logging nested statements, popularity and NCF store their models"
else echo "not ok 5 - logged trainings store their models"; printf '%s\n' "$out" | grep -E 'ERROR|DETAIL|CONTEXT' | sed 's/^/# /'; fi

q -c "SET client_min_messages = warning" -c "SELECT recs.drop_model(model_id) FROM recs.model WHERE name IN ('kp_plan', 'kp_logged', 'kp_logged_ncf')" >/dev/null
