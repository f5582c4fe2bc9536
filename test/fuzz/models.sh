#!/usr/bin/env bash
# models.sh -- the corrupt-model fuzzer's driver (TAP).  Usage: models.sh [cases] [seed] [batch]
# Trains one small model of each kind once (recs_mfuzz.setup() in models.sql),
# then runs the cases in batches, each batch in a fresh session: a case
# mutates one random row of one model, makes the model reload, serves it
# through every entry point and rolls back.  A batch is ok when no case found
# an internal error (XX other than XX001) or an undetected corruption; after
# each batch the server must still answer (a crash would have killed the
# session and restarted the server).  Defaults keep CI fast (~20 s); run
# longer by hand, e.g. test/fuzz/models.sh 200000 7.
set -euo pipefail
cases=${1:-${RECS_MFUZZ_CASES:-3000}}
seed=${2:-${RECS_MFUZZ_SEED:-1}}
batch=${3:-${RECS_MFUZZ_BATCH:-500}}
db=${RECS_MFUZZ_DB:-recs_mfuzz}
here=$(cd "$(dirname "$0")" && pwd)
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }
batches=$(( (cases + batch - 1) / batch ))

echo "1..$((batches * 2))"
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" -f "$here/models.sql" \
  -c "SELECT recs_mfuzz.setup()" >/dev/null

total=0; nserved=0; nclean=0; found=0; left=$cases
start=$(date +%s)
for b in $(seq 1 "$batches"); do
	n=$(( left < batch ? left : batch )); left=$((left - n))
	s=$(awk -v b="$b" -v s="$seed" 'BEGIN { printf "%.6f", ((s * 7919 + b * 104729) % 999983) / 999983.0 - 0.5 }')
	if out=$(q -F $'\t' -c "SET client_min_messages = error" -c "SET statement_timeout = '${RECS_MFUZZ_TIMEOUT:-600s}'" \
			-c "SELECT cases, served, clean, findings, codes, replace(finding_text, E'\n', ' ;; ') FROM recs_mfuzz.run($s, $n)" 2>&1); then
		IFS=$'\t' read -r tried okc cleanc findings codes text <<<"$(echo "$out" | head -1)"
		total=$((total + tried)); nserved=$((nserved + okc)); nclean=$((nclean + cleanc)); found=$((found + findings))
		if [ "$findings" = 0 ]; then
			echo "ok $((2 * b - 1)) - batch $b (seed $s): $tried cases, $okc served, $cleanc clean errors"
		else
			echo "not ok $((2 * b - 1)) - batch $b (seed $s): $findings findings"
			echo "$text" | sed 's/ ;; /\n/g' | sed 's/^/# /'
		fi
		echo "# SQLSTATEs: $codes"
	else
		echo "not ok $((2 * b - 1)) - batch $b (seed $s): the session died"
		echo "$out" | tail -5 | sed 's/^/# /'
		total=$((total + n)); found=$((found + 1))
	fi
	# the server answers (after a crash it restarts: give it a moment) and the models serve
	ok=0
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		if r=$(q -c "SELECT count(*) FROM recs.recommend(100001, 3, model => recs.model_id('mf_blend'))" 2>&1) \
			&& [ "$r" = 3 ]; then ok=1; break; fi
		sleep 1
	done
	if [ $ok = 1 ]; then
		echo "ok $((2 * b)) - after batch $b the server answers and the blend serves"
	else
		echo "not ok $((2 * b)) - after batch $b the server answers and the blend serves"
		echo "$r" | sed 's/^/# /'
	fi
done
secs=$(( $(date +%s) - start ))
echo "# models fuzz: $total cases, $nserved served, $nclean clean errors, $found findings ($secs s, seed $seed)"
