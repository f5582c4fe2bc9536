#!/usr/bin/env bash
# blocks.sh -- the block fuzzer's driver (TAP).  Usage: blocks.sh [cases] [seed]
# Runs blocks_fuzz.run() (test/fuzz/blocks.sql) in batches of
# RECS_BLOCKS_FUZZ_BATCH cases, each in a fresh session with its own seed;
# after each batch the server must still answer.  A case is a valid or
# mutated block, serialized state or row-form argument list handed to the
# GLMix aggregates; it passes when it succeeds or fails with a clean SQLSTATE.
# Defaults keep CI at a few thousand cases (~2 s); by hand, e.g.
#   test/fuzz/blocks.sh 1000000 7    (about 3,000 cases a second per session)
# RECS_BLOCKS_FUZZ_DB names the database (to run several drivers at once).
set -euo pipefail
cases=${1:-${RECS_BLOCKS_FUZZ_CASES:-4000}}
seed=${2:-${RECS_BLOCKS_FUZZ_SEED:-1}}
batch=${RECS_BLOCKS_FUZZ_BATCH:-1000}
db=${RECS_BLOCKS_FUZZ_DB:-recs_blocks_fuzz}
here=$(cd "$(dirname "$0")" && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

batches=$(((cases + batch - 1) / batch))
echo "1..$((batches * 2))"
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" -f "$here/blocks.sql" >/dev/null

total=0; acc=0; clean=0; found=0; start=$(date +%s.%N)
for b in $(seq 1 "$batches"); do
	n=$((b < batches ? batch : cases - (batches - 1) * batch))
	# a seed in [-1, 1] for setseed(), distinct per (seed, batch)
	s=$(awk -v b="$b" -v s="$seed" 'BEGIN { printf "%.9f", ((s * 1000003 + b * 7919) % 1999993) / 1999993.0 * 2 - 1 }')
	if out=$(q -c "SET client_min_messages = error" -c "SET statement_timeout = '${RECS_FUZZ_TIMEOUT:-300s}'" \
			-c "SELECT tried, accepted, clean_errors, findings, left(finding_text, 2000) FROM blocks_fuzz.run($s, $n)" 2>&1); then
		IFS='|' read -r tried okc cerr findings text <<<"$(echo "$out" | head -1)"
		total=$((total + tried)); acc=$((acc + okc)); clean=$((clean + cerr)); found=$((found + findings))
		if [ "$findings" = 0 ]; then
			echo "ok $((2 * b - 1)) - batch $b (seed $s): $tried cases, $okc accepted, $cerr clean errors"
		else
			echo "not ok $((2 * b - 1)) - batch $b (seed $s): $findings findings"
			echo "$text" | fold -w 200 | sed 's/^/# /'
		fi
	else
		echo "not ok $((2 * b - 1)) - batch $b (seed $s): the session died"
		echo "$out" | tail -5 | sed 's/^/# /'
		found=$((found + 1))
	fi
	if [ "$(q -c 'SELECT 1' 2>&1)" = 1 ]; then
		echo "ok $((2 * b)) - after batch $b the server answers"
	else
		echo "not ok $((2 * b)) - after batch $b the server answers"
		found=$((found + 1))
	fi
done
secs=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
echo "# blocks fuzz: $total cases, $acc accepted, $clean clean errors, $found findings ($secs s, $(awk -v n="$total" -v t="$secs" 'BEGIN { printf "%d", (t > 0 ? n / t : 0) }') cases/s)"
