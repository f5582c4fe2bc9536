#!/usr/bin/env bash
# scripts/demo.sh -- `make demo`: on a fresh Debian machine, install what is
# missing, build and install recs, start a throwaway cluster (or use the
# server named by PGHOST + PGDATABASE), run the main job on sample data and
# print recommendations, then stop the cluster.
set -euo pipefail
. "$(dirname "$0")/cluster.sh"

recs_ensure_packages
recs_build_install
recs_start_cluster
if [ "$RECS_EXISTING_SERVER" = 0 ]; then
	createdb recs_demo
	export PGDATABASE=recs_demo
fi
psql -X -v ON_ERROR_STOP=1 -f "$RECS_ROOT/scripts/demo.sql"
