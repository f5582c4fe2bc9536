#!/usr/bin/env bash
# scripts/test_citus.sh -- the Citus suite: recs on a coordinator and two
# workers.  Starts three PostgreSQL instances with citus preloaded on loopback
# ports, as the postgres OS user, in a temporary directory (stopped and removed
# on exit, however the script ends); installs recs on every node; generates a
# platform in schema app, distributed by learner_id (learners, watches,
# impressions co-located; courses a reference table), with a plain copy of the
# same rows in schema single for the single-node answers; then runs the pgTAP
# files of test/citus/ on the coordinator, and after them its TAP shell
# scripts.  Prints TAP ("ok N", "not ok N").
#
# Run by `make test` (suite "citus") when citus.so is installed for PG_CONFIG;
# otherwise it prints one skip line and exits 0.  Alone:
#   PG_CONFIG=... bash scripts/test_citus.sh
# RECS_CITUS_LEARNERS and RECS_CITUS_COURSES size the generated platform
# (default 3000 and 200, the suite takes about a minute); RECS_CITUS_HOLD=1
# keeps the cluster running, without the tests, until the script is stopped.
set -euo pipefail
. "$(dirname "$0")/cluster.sh"

bindir=$("$PG_CONFIG" --bindir)
libdir=$("$PG_CONFIG" --pkglibdir)
if [ ! -f "$libdir/citus.so" ]; then
	echo "# citus suite skipped: citus.so is not installed in $libdir (bash ../shared/citus/build.sh installs it)"
	exit 0
fi

learners=${RECS_CITUS_LEARNERS:-3000}
courses=${RECS_CITUS_COURSES:-200}
CITUS_TMP=$(mktemp -d /tmp/recs-citus.XXXXXX)
chmod 755 "$CITUS_TMP"
if recs_is_root; then chown postgres: "$CITUS_TMP"; fi
base=$((31000 + ($$ % 2500) * 3))
nodes=(coord w1 w2)

citus_stop() {
	local n
	for n in "${nodes[@]}"; do
		if [ -d "$CITUS_TMP/$n" ]; then
			recs_as_owner "$bindir/pg_ctl" -D "$CITUS_TMP/$n" -m immediate stop >/dev/null 2>&1 || true
		fi
	done
	rm -rf "$CITUS_TMP"
}
trap citus_stop EXIT
trap 'citus_stop; exit 130' INT TERM

# start_node NAME PORT: initdb and start one instance with citus preloaded
start_node() {
	local name=$1 port=$2
	recs_as_owner "$bindir/initdb" -D "$CITUS_TMP/$name" -U postgres -A trust --no-sync \
		-E UTF8 --locale=C.UTF-8 >"$CITUS_TMP/$name.initdb.log" 2>&1 \
		|| { cat "$CITUS_TMP/$name.initdb.log" >&2; return 1; }
	recs_as_owner "$bindir/pg_ctl" -D "$CITUS_TMP/$name" -l "$CITUS_TMP/$name.log" -w \
		-o "-c listen_addresses=127.0.0.1 -k $CITUS_TMP -p $port -c shared_preload_libraries=citus -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60 -c max_prepared_transactions=60 -c citus.log_remote_commands=off" \
		start >/dev/null || { cat "$CITUS_TMP/$name.log" >&2; return 1; }
}

export PGHOST=127.0.0.1 PGUSER=postgres PGDATABASE=recs_citus
unset PGPORT
for i in 0 1 2; do start_node "${nodes[$i]}" $((base + i)); done
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -p "$1" -c "$2"; }
for i in 0 1 2; do
	psql -X -q -p $((base + i)) -d postgres -c "CREATE DATABASE recs_citus" >/dev/null
	q $((base + i)) "CREATE EXTENSION citus" >/dev/null
done
coord=$base
q $coord "SELECT citus_set_coordinator_host('127.0.0.1', $coord);
  SELECT citus_add_node('127.0.0.1', $((base + 1)));
  SELECT citus_add_node('127.0.0.1', $((base + 2)));" >/dev/null
echo "# citus cluster: coordinator 127.0.0.1:$coord, workers :$((base + 1)) :$((base + 2)) in $CITUS_TMP"

# recs (and pgTAP) on every node: CREATE EXTENSION on the coordinator is
# propagated to the workers by citus
q $coord "SET client_min_messages = warning; CREATE EXTENSION recs; CREATE EXTENSION pgtap;" >/dev/null
q $coord "SET client_min_messages = warning;
  SELECT count(*) FROM recs.generate_sample('single', $learners, $courses, 7);
  CREATE SCHEMA app;
  CREATE TABLE app.learners (LIKE single.learners INCLUDING ALL);
  CREATE TABLE app.courses (LIKE single.courses INCLUDING ALL);
  CREATE TABLE app.watches (LIKE single.watches INCLUDING ALL);
  CREATE TABLE app.impressions (LIKE single.impressions INCLUDING ALL);
  SELECT create_reference_table('app.courses');
  SELECT create_distributed_table('app.learners', 'learner_id', shard_count => 8);
  SELECT create_distributed_table('app.watches', 'learner_id', colocate_with => 'app.learners');
  SELECT create_distributed_table('app.impressions', 'learner_id', colocate_with => 'app.learners');
  INSERT INTO app.courses SELECT * FROM single.courses;
  INSERT INTO app.learners SELECT * FROM single.learners;
  INSERT INTO app.watches SELECT * FROM single.watches;
  INSERT INTO app.impressions SELECT * FROM single.impressions;
  ANALYZE;" >/dev/null
echo "# platform: $learners learners, $courses courses, distributed by learner_id over 8 shards"

export RECS_CITUS_WORKER_PORTS="$((base + 1)) $((base + 2))"
if [ "${RECS_CITUS_HOLD:-0}" = 1 ]; then
	# for development: keep the cluster until this script is stopped
	echo "# holding: PGHOST=127.0.0.1 PGPORT=$coord PGDATABASE=recs_citus PGUSER=postgres"
	while :; do sleep 60 & wait $!; done
fi
export PGPORT=$coord
set +e
pg_prove -v -d recs_citus "$RECS_ROOT"/test/citus/*.sql
rc=$?
prove -v "$RECS_ROOT"/test/citus/*.sh || rc=1
set -e
if [ $rc -ne 0 ]; then
	for n in "${nodes[@]}"; do
		echo "# --- last lines of the $n server log"
		tail -n 15 "$CITUS_TMP/$n.log" | sed 's/^/# /'
	done
fi
exit $rc
