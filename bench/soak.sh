#!/usr/bin/env bash
# bench/soak.sh -- a bounded soak run: pgbench clients call recommend() for
# random learners while another session retrains and activates a new model
# every few seconds.  Reports transactions, errors, and the serving backends'
# memory (RSS) at the start and the end: the per-backend cache must not grow
# with the number of models trained (private memory, RssAnon, excludes
# the shared buffers a backend touches).
#
# Usage: bash bench/soak.sh [SECONDS, default 120] [RETRAIN EVERY SECONDS, default 5]
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
secs=${1:-120}
every=${2:-5}
recs_ensure_packages
recs_build_install
recs_start_cluster
export PGDATABASE=recs_soak
createdb "$PGDATABASE"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; recs_stop_cluster' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" \
  -c "SELECT count(*) FROM recs.generate_sample('s', 5000, 2000, 1)" \
  -c "SELECT recs.train_ncf('s.watches', 'soak', courses => 's.courses', layers => '{64}', epochs => 1, threads => 1)" >/dev/null
cat >"$work/rec.sql" <<'SQL'
\set lid random(100001, 105000)
SELECT count(*) FROM recs.recommend(:lid, 10);
SQL

# the retrainer: alternate neural CF and popularity models, each activated
(
	i=0
	while sleep "$every"; do
		i=$((i + 1))
		if [ $((i % 2)) = 0 ]; then
			q -c "SET client_min_messages = warning" -c "SELECT recs.train_ncf('s.watches', 'soak', courses => 's.courses', layers => '{64}', epochs => 1, threads => 1, seed => $i)" >/dev/null
		else
			q -c "SET client_min_messages = warning" -c "SELECT recs.train_popularity('s.watches', 's.learners', name => 'soak_pop')" >/dev/null
		fi
		echo "$i" >"$work/retrains"
	done
) &

rss() { # private (anonymous) memory, kB, of the pgbench backends: shared buffers excluded
	q -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'pgbench' AND pid <> pg_backend_pid()" |
		tr ' ' '\n' | while read -r p; do [ -n "$p" ] && awk '/RssAnon/ {print $2}' "/proc/$p/status"; done | awk '{s += $1} END {print s + 0}'
}
"$("$PG_CONFIG" --bindir)/pgbench" -n -c 2 -j 2 -T "$secs" -P 10 -f "$work/rec.sql" >"$work/pgbench.out" 2>&1 &
pgb=$!
sleep 10
rss_start=$(rss)
sleep $((secs - 20))
rss_end=$(rss)
wait "$pgb" || true
kill %1 2>/dev/null || true
echo "uptime: $(uptime)"
grep -E "number of (transactions actually processed|failed transactions)|^tps|latency average" "$work/pgbench.out" || cat "$work/pgbench.out"
echo "errors in pgbench output: $(grep -ciE 'error|abort' "$work/pgbench.out" || true)"
echo "retrains (each activated): $(cat "$work/retrains" 2>/dev/null || echo 0); models now: $(q -c 'SELECT count(*) FROM recs.model')"
echo "serving backends' private memory (RssAnon): ${rss_start} kB after 10 s, ${rss_end} kB after $((secs - 10)) s"
