#!/usr/bin/env bash
# bench/ncf_dormant_bench.sh -- NCF for learners back after a long break
# (issue #12 item 1): on generate_sample(platform => true) data, Recall@10 on
# the last TEST_DAYS days for returning learners (last training watch more than
# a year before the cut) and for active ones, with the learner context at the
# end of the data (0.3.0) against the window ending at the learner's own latest
# watch (0.4.0), window_days => 100000 and popularity.  bench/ncf_dormant.sql
# says how both windows come from one trained model.
#
#   bash bench/ncf_dormant_bench.sh [LEARNERS 8000] [COURSES 300] [DAYS 1460] [SEED 42] [TEST_DAYS 90] [EPOCHS 20]
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"

recs_ensure_packages
recs_build_install
recs_start_cluster
trap 'recs_stop_cluster' EXIT
db=recs_bench
if [ "$RECS_EXISTING_SERVER" = 1 ]; then db=$PGDATABASE; else
	dropdb --if-exists "$db" && createdb "$db"
fi
psql -X -q -d "$db" -c "CREATE EXTENSION IF NOT EXISTS recs"
uptime
psql -X -d "$db" -v learners="${1:-8000}" -v courses="${2:-300}" -v days="${3:-1460}" -v seed="${4:-42}" \
	-v test_days="${5:-90}" -v epochs="${6:-20}" -f "$RECS_ROOT/bench/ncf_dormant.sql"
