#!/usr/bin/env bash
# bench/pgvector_bench.sh -- recs.similar_courses against a pgvector HNSW index
# over recs.course_embeddings, at 100,000 courses, on PostgreSQL 17.
#
# Usage (root, Debian 12): bash bench/pgvector_bench.sh [COURSES, default 100000] [QUERIES, default 500]
# Runs itself inside the PostgreSQL 17 chroot of scripts/test_pg17.sh (which
# has pgvector), on a throwaway cluster: generates a platform, trains an NCF
# model (64-d embeddings), builds an HNSW index (vector_cosine_ops) over the
# course embeddings, then times QUERIES random courses' top 10 both ways in
# one session each, and reports the HNSW index's recall of similar_courses'
# exact top 10.
set -euo pipefail
courses=${1:-100000}
queries=${2:-500}
if [ "${RECS_IN_PG17_CHROOT:-0}" != 1 ]; then
	exec env RECS_PG17_CMD="RECS_IN_PG17_CHROOT=1 bash bench/pgvector_bench.sh $courses $queries" \
		bash "$(dirname "$0")/../scripts/test_pg17.sh"
fi
. "$(dirname "$0")/../scripts/cluster.sh"
recs_build_install
recs_start_cluster
export PGDATABASE=recs_pgvector
createdb "$PGDATABASE"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
echo "uptime: $(uptime)"
t0=$(date +%s)
q -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '4GB'" -c "CREATE EXTENSION recs" -c "CREATE EXTENSION vector" \
  -c "SELECT count(*) FROM recs.generate_sample('pv', 5000, $courses, 3)" \
  -c "SELECT recs.train_ncf('pv.watches', 'pv_ncf', courses => 'pv.courses', layers => '{64}', dim => 64, epochs => 1, threads => 2)" >/dev/null
echo "generated and trained in $(( $(date +%s) - t0 )) s"
t0=$(date +%s)
q -c "CREATE TABLE pv.course_vec AS SELECT course_id, embedding::vector(64) AS v FROM recs.course_embeddings()" \
  -c "CREATE INDEX ON pv.course_vec USING hnsw (v vector_cosine_ops)" -c "ANALYZE pv.course_vec" >/dev/null
echo "HNSW index over $(q -c 'SELECT count(*) FROM pv.course_vec') courses built in $(( $(date +%s) - t0 )) s"
q -c "CREATE TABLE pv.probe AS SELECT course_id FROM pv.course_vec ORDER BY hashint8(course_id) LIMIT $queries" >/dev/null
# warm both (the model's cache, the index's pages), then time
q -c "SELECT count(*) FROM pv.probe p, LATERAL recs.similar_courses(p.course_id, 10) s" >/dev/null
exact_ms=$(q -c "\\timing on" -c "SELECT count(*) FROM pv.probe p, LATERAL recs.similar_courses(p.course_id, 10) s" \
	| sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
hnsw_sql="SELECT count(*) FROM pv.probe p, pv.course_vec a,
  LATERAL (SELECT b.course_id FROM pv.course_vec b WHERE b.course_id <> a.course_id ORDER BY b.v <=> a.v LIMIT 10) s
 WHERE a.course_id = p.course_id"
q -c "$hnsw_sql" >/dev/null
hnsw_ms=$(q -c "\\timing on" -c "$hnsw_sql" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
recall=$(q -c "SELECT round(avg(hit)::numeric, 4) FROM (
  SELECT (SELECT count(*) FROM recs.similar_courses(p.course_id, 10) e
           WHERE e.course_id IN (SELECT b.course_id FROM pv.course_vec a, pv.course_vec b
                                  WHERE a.course_id = p.course_id AND b.course_id <> a.course_id
                                  ORDER BY b.v <=> a.v LIMIT 10)) / 10.0 AS hit
    FROM pv.probe p) x")
printf '\n| courses | queries | similar_courses (exact) ms/query | HNSW index ms/query | speed-up | HNSW recall@10 |\n|---|---|---|---|---|---|\n'
printf '| %s | %s | %.3f | %.3f | %.1fx | %s |\n' "$courses" "$queries" \
	"$(awk -v t="$exact_ms" -v n="$queries" 'BEGIN { print t / n }')" \
	"$(awk -v t="$hnsw_ms" -v n="$queries" 'BEGIN { print t / n }')" \
	"$(awk -v a="$exact_ms" -v b="$hnsw_ms" 'BEGIN { print a / b }')" "$recall"
echo "PostgreSQL $(q -c 'SHOW server_version'), pgvector $(q -c "SELECT extversion FROM pg_extension WHERE extname = 'vector'"); hnsw defaults (m 16, ef_construction 64, ef_search 40)"
