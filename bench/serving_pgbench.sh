#!/usr/bin/env bash
# bench/serving_pgbench.sh -- recommend() under load: pgbench with 2 clients.
#
# Part 1: recs.recommend(random learner, 10) against neural CF models over
# catalogues of 2k, 20k and 100k generated courses, next to the bound of
# reading the course-embedding matrix once per call (what serving would cost
# without the per-backend model cache).
#
# Part 2: live serving against a precomputed table.  On a generated platform
# with ML-100K's catalogue size (1,682 courses, 5,000 learners) it trains an
# NCF, a GLMix and a blend model, stores each one's top 10 for every learner
# in an indexed table, and runs, one after the other in the same run,
#   SELECT rank, course_id, score FROM recs.recommend(:l, 10, model => M)
#   SELECT rank, course_id, score FROM top10_M WHERE learner_id = :l ORDER BY rank
# (pgbench -M prepared -c 2 -j 2), printing both rates and their ratio.
#
# Usage: bash bench/serving_pgbench.sh [SECONDS per run, default 15] [SIZES, default "2000 20000 100000"] [PARTS, default "1 2"]
# Needs nothing but the sample generator: no external data.
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
secs=${1:-15}
sizes=${2:-"2000 20000 100000"}
parts=" ${3:-1 2} "
learners=5000

recs_ensure_packages
recs_build_install
recs_start_cluster
export PGDATABASE=recs_pgbench
createdb "$PGDATABASE"
psql -X -q -c "CREATE EXTENSION recs"
bindir=$("$PG_CONFIG" --bindir)
work=$(mktemp -d)
trap 'rm -rf "$work"; recs_stop_cluster' EXIT

cat >"$work/recommend.sql" <<SQL
\set lid random(100001, $((100000 + learners)))
SELECT count(*) FROM recs.recommend(:lid, 10);
SQL

echo "uptime: $(uptime)"
run() { # script -> "tps median p95 p99"
	rm -f "$work"/pgbench_log.*
	(cd "$work" && "$bindir/pgbench" -n -M prepared -c 2 -j 2 -T "$secs" -f "$1" -l --log-prefix=pgbench_log >"$work/out" 2>&1) \
		|| { cat "$work/out" >&2; return 1; }
	tps=$(grep -E '^tps' "$work/out" | head -1 | awk '{print $3}')
	cat "$work"/pgbench_log.* | awk '{print $3 / 1000.0}' | sort -n >"$work/lat"
	cnt=$(wc -l <"$work/lat")
	pct() { sed -n "$(( (cnt * $1 + 99) / 100 ))p" "$work/lat"; }
	echo "$tps $(pct 50) $(pct 95) $(pct 99)"
}

if [[ $parts == *" 1 "* ]]; then
printf '| courses | recommend tps | median ms | p95 ms | p99 ms | read-embeddings tps | median ms | speed-up |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for n in $sizes; do
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
SET recs.memory_limit = '4GB';
SELECT count(*) FROM recs.generate_sample('b$n', $learners, $n, 1);
SELECT recs.train_ncf('b$n.watches', 'bench_$n', courses => 'b$n.courses', layers => '{64}', dim => 64,
                      epochs => 1, threads => 2);
SQL
	model=$(psql -X -A -t -c "SELECT recs.model_id('bench_$n')")
	cat >"$work/bound.sql" <<SQL
SELECT count(*) FROM recs.ncf_course WHERE model_id = $model AND embedding[1] IS NOT NULL;
SQL
	read -r rt rm r95 r99 <<<"$(run "$work/recommend.sql")"
	read -r bt bm _ _ <<<"$(run "$work/bound.sql")"
	printf '| %s | %.0f | %.3f | %.3f | %.3f | %.0f | %.3f | %.1fx |\n' "$n" "$rt" "$rm" "$r95" "$r99" "$bt" "$bm" \
		"$(awk -v a="$rt" -v b="$bt" 'BEGIN { print a / b }')"
	psql -X -q -c "SET client_min_messages = warning" -c "SELECT recs.drop_model(recs.model_id('bench_$n'), force => true)" \
		-c "DROP SCHEMA b$n CASCADE" >/dev/null
done
echo "pgbench -M prepared -c 2 -j 2 -T $secs; learners drawn uniformly from $learners; k = 10; OpenBLAS pinned to 1 thread in every backend"
fi

if [[ $parts == *" 2 "* ]]; then
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET client_min_messages = warning;
SELECT count(*) FROM recs.generate_sample('live', $learners, 1682, 7);
CREATE VIEW live.early_watches AS SELECT * FROM live.watches WHERE watched_at < '2025-11-01';
CREATE VIEW live.early_impressions AS SELECT * FROM live.impressions WHERE shown_at < '2025-11-01';
SELECT recs.train_ncf('live.early_watches', 'live_ncf', courses => 'live.courses', epochs => 2, threads => 2,
                      activate => false);
SELECT recs.train_glmix('live.early_impressions', 'live.learners', 'live.courses', '{language,segment}',
                        '{topic,language,difficulty}', name => 'live_glmix', activate => false);
SELECT recs.train_blend(ARRAY[recs.model_id('live_ncf'), recs.model_id('live_glmix')], 'live.impressions',
                        'live.learners', name => 'live_blend', activate => false);
SQL
	printf '\n| model | live recommend() tps | median ms | ratio | every call scored (answer cache off) tps | median ms | ratio | precomputed table tps | median ms |\n|---|---|---|---|---|---|---|---|---|\n'
	for kind in ncf glmix blend; do
		model=$(psql -X -A -t -c "SELECT recs.model_id('live_$kind')")
		psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TABLE live.top10_$kind AS
  SELECT l.learner_id, r.rank, r.course_id, r.score
    FROM live.learners l, recs.recommend(l.learner_id, 10, model => $model) r;
CREATE INDEX ON live.top10_$kind (learner_id, rank);
VACUUM ANALYZE live.top10_$kind;
SQL
		cat >"$work/live.sql" <<SQL
\set lid random(100001, $((100000 + learners)))
SELECT rank, course_id, score FROM recs.recommend(:lid, 10, model => $model);
SQL
		cat >"$work/table.sql" <<SQL
\set lid random(100001, $((100000 + learners)))
SELECT rank, course_id, score FROM live.top10_$kind WHERE learner_id = :lid ORDER BY rank;
SQL
		read -r lt lm _ _ <<<"$(run "$work/live.sql")"
		read -r ct cm _ _ <<<"$(PGOPTIONS='-c recs.answer_cache_size=0' run "$work/live.sql")"
		read -r tt tm _ _ <<<"$(run "$work/table.sql")"
		printf '| %s | %.0f | %.3f | %.2f | %.0f | %.3f | %.2f | %.0f | %.3f |\n' "$kind" "$lt" "$lm" \
			"$(awk -v a="$lt" -v b="$tt" 'BEGIN { print a / b }')" "$ct" "$cm" \
			"$(awk -v a="$ct" -v b="$tt" 'BEGIN { print a / b }')" "$tt" "$tm"
	done
	echo "1,682 generated courses, $learners learners; pgbench -M prepared -c 2 -j 2 -T $secs per run, the three runs of a row one after the other; the live run starts with an empty answer cache (new backends)"
fi
