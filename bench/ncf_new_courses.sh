#!/usr/bin/env bash
# bench/ncf_new_courses.sh -- the new-course experiment: recs ranks courses
# first watched in the last month, held out of training and added from their
# features (add_courses), against popularity-by-topic baselines; and what
# content dropout costs the known courses.  Protocol: bench/ncf_new_courses.sql.
#
#   bash bench/ncf_new_courses.sh [--learners N] [--courses N] [--days N] [--epochs N]
#                                 [--threads N] [--dropouts 0,0.3,0.5]
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"

learners=10000 courses=1000 days=365 epochs=20 threads=2 dropouts=0,0.1,0.3,0.5,0.7
while [ $# -gt 0 ]; do
	case $1 in
		--learners) learners=$2; shift 2 ;;
		--courses) courses=$2; shift 2 ;;
		--days) days=$2; shift 2 ;;
		--epochs) epochs=$2; shift 2 ;;
		--threads) threads=$2; shift 2 ;;
		--dropouts) dropouts=$2; shift 2 ;;
		*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done

recs_ensure_packages
recs_build_install
recs_start_cluster
trap 'recs_stop_cluster' EXIT
bindir=$("$PG_CONFIG" --bindir)
db=recs_bench
if [ "$RECS_EXISTING_SERVER" = 1 ]; then db=$PGDATABASE; else
	"$bindir/dropdb" --if-exists "$db" && "$bindir/createdb" "$db"
	"$bindir/psql" -X -q -d "$db" -c 'CREATE EXTENSION recs CASCADE'
fi
uptime
"$bindir/psql" -X -d "$db" -v learners="$learners" -v courses="$courses" -v days="$days" -v epochs="$epochs" \
	-v threads="$threads" -v dropouts="$dropouts" -f "$RECS_ROOT/bench/ncf_new_courses.sql"
