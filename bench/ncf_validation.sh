#!/usr/bin/env bash
# bench/ncf_validation.sh -- what train_ncf(validation => 'auto') costs per
# epoch (scoring up to 2,000 held-out learners against every course) beside
# the epoch's training, and the best epoch it finds: on generate_sample's
# default data and, given its directory, on ML-100K (u.data; never committed).
#
#   bash bench/ncf_validation.sh [ML100K_DIR] [--epochs N] [--threads N]
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"

ml=$RECS_ROOT/../shared/data/ml-100k
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then ml=$1; shift; fi
epochs=20
threads=1
while [ $# -gt 0 ]; do
	case $1 in
	--epochs) epochs=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done

recs_ensure_packages
recs_build_install
recs_start_cluster
trap 'recs_stop_cluster' EXIT
db=recs_bench
if [ "$RECS_EXISTING_SERVER" = 1 ]; then db=$PGDATABASE; else
	dropdb --if-exists "$db" && createdb "$db"
fi
psql -q -d "$db" -c 'CREATE EXTENSION IF NOT EXISTS recs'
if [ -f "$ml/u.data" ]; then
	psql -q -d "$db" <<SQL
DROP SCHEMA IF EXISTS ml CASCADE;
CREATE SCHEMA ml;
CREATE TABLE ml.raw (u bigint, i bigint, rating int, ts bigint);
\\copy ml.raw FROM '$ml/u.data'
CREATE TABLE ml.watches AS SELECT u AS learner_id, i AS course_id, to_timestamp(ts) AS watched_at FROM ml.raw;
SQL
fi
uptime
psql -d "$db" -v epochs="$epochs" -v threads="$threads" -f "$RECS_ROOT/bench/ncf_validation.sql"
