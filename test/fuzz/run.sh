#!/usr/bin/env bash
# run.sh -- the API fuzzer's driver (TAP).  Usage: run.sh [batches] [calls per batch] [seed]
# Each batch runs recs_fuzz.run() in a fresh session; after each batch the
# server must still answer and the active model must still serve.  Defaults
# keep CI fast; run longer by hand, e.g. test/fuzz/run.sh 200 500 7.
set -euo pipefail
batches=${1:-${RECS_FUZZ_BATCHES:-6}}
calls=${2:-${RECS_FUZZ_CALLS:-150}}
seed=${3:-${RECS_FUZZ_SEED:-1}}
db=recs_fuzz
here=$(cd "$(dirname "$0")" && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

echo "1..$((batches * 2))"
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" -f "$here/fuzz.sql" >/dev/null
# a model that must keep serving whatever the fuzzer does (it may activate or drop others)
q -c "SET client_min_messages = warning" \
  -c "CREATE TABLE public.keep (learner_id bigint, course_id bigint, watched_at timestamptz, watch_seconds float8)" \
  -c "INSERT INTO public.keep SELECT g % 7, g % 11, '2025-01-01'::timestamptz + g * interval '1 day', 100 FROM generate_series(1, 200) g" \
  -c "SELECT recs.train_popularity('public.keep', name => 'keeper')" >/dev/null

total=0; found=0
for b in $(seq 1 "$batches"); do
	s=$(awk -v b="$b" -v s="$seed" 'BEGIN { printf "%.6f", ((s * 7919 + b * 104729) % 1999) / 1999.0 - 0.5 }')
	if out=$(q -c "SET client_min_messages = error" -c "SET statement_timeout = '${RECS_FUZZ_TIMEOUT:-60s}'" \
			-c "SELECT tried, ok, expected_errors, findings, finding_text FROM recs_fuzz.run($s, $calls)" 2>&1); then
		IFS='|' read -r tried okc experr findings text <<<"$(echo "$out" | head -1)"
		total=$((total + tried)); found=$((found + findings))
		if [ "$findings" = 0 ]; then
			echo "ok $((2 * b - 1)) - batch $b (seed $s): $tried calls, $okc succeeded, $experr clean errors"
		else
			echo "not ok $((2 * b - 1)) - batch $b (seed $s): $findings internal errors"
			echo "$out" | sed 's/^/# /'
		fi
	else
		echo "not ok $((2 * b - 1)) - batch $b (seed $s): the session died"
		echo "$out" | tail -5 | sed 's/^/# /'
		found=$((found + 1))
	fi
	# the server answers, and the keeper model serves when activated
	if n=$(q -c "SELECT recs.activate(recs.model_id('keeper'))" -c "SELECT count(*) FROM recs.recommend(999, 3)" 2>&1) \
		&& [ "$(echo "$n" | tail -1)" = 3 ]; then
		echo "ok $((2 * b)) - after batch $b the server answers and the keeper model serves"
	else
		echo "not ok $((2 * b)) - after batch $b the server answers and the keeper model serves"
		echo "$n" | sed 's/^/# /'
	fi
done
echo "# fuzz: $total calls, $found findings"
