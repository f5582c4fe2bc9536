#!/usr/bin/env bash
# scripts/test.sh -- `make test`: everything needed to run every test suite on
# a fresh Debian machine, then pg_regress and the pgTAP suites; ends with one
# line "N passed, N failed".  RECS_TEST_SUITES picks suites (default all:
# "regress pgtap shell fuzz citus"; regress = pg_regress and isolation; citus =
# scripts/test_citus.sh, a coordinator and two workers of their own, run when
# citus.so is installed for PG_CONFIG and skipped with a line otherwise), and
# RECS_PGTAP_SKIP names pgTAP files to leave out (e.g. "ncf pipeline").
set -euo pipefail
. "$(dirname "$0")/cluster.sh"

recs_ensure_packages
recs_build_install
recs_start_cluster

pass=0
fail=0
log=$(mktemp)
trap 'rm -f "$log"; recs_stop_cluster' EXIT

# run_suite PASS_RE FAIL_RE command...: run a suite, show its output, and add
# its passed and failed counts (a failing command with no failure line counts one)
run_suite() {
	local pass_re=$1 fail_re=$2 rc n_ok n_bad
	shift 2
	set +e
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	set -e
	n_ok=$(grep -cE "$pass_re" "$log" || true)
	n_bad=$(grep -cE "$fail_re" "$log" || true)
	if [ "$rc" -ne 0 ] && [ "$n_bad" -eq 0 ]; then n_bad=1; fi
	pass=$((pass + n_ok))
	fail=$((fail + n_bad))
}
TAP_OK='^ok [0-9]+'
TAP_NOT_OK='^not ok [0-9]+'
suites=" ${RECS_TEST_SUITES:-regress pgtap shell fuzz citus} "
want() { [[ $suites == *" $1 "* ]]; }

# --- pg_regress (the documented behaviour, readable as a tutorial) and
# --- pg_isolation_regress (concurrent sessions) ---
if want regress; then
	recs_log "pg_regress and isolation"
	rm -f "$RECS_ROOT/regression.diffs" "$RECS_ROOT/test/isolation/output/regression.diffs"
	# PostgreSQL 15 prints "test NAME ... ok", 16 and later TAP ("ok 1 - NAME")
	run_suite '\.\.\. ok|^ok [0-9]+ ' '\.\.\. FAILED|^not ok [0-9]+ ' make -C "$RECS_ROOT" -s PG_CONFIG="$PG_CONFIG" installcheck
	for diffs in "$RECS_ROOT/regression.diffs" "$RECS_ROOT/test/isolation/output/regression.diffs"; do
		if [ -f "$diffs" ]; then
			recs_log "$diffs"
			cat "$diffs"
		fi
	done
fi

# --- pgTAP: assertions, one database per run, on an extension installed as
# --- 0.1.0 and updated (pg_regress above runs on a fresh install) ---
if want pgtap; then
	recs_log "pgTAP (on recs installed as 0.1.0, then ALTER EXTENSION recs UPDATE)"
	db=recs_tap
	if [ "$RECS_EXISTING_SERVER" = 1 ]; then db=$PGDATABASE; else
		dropdb --if-exists "$db" && createdb "$db"
	fi
	if psql -X -q -d "$db" -v ON_ERROR_STOP=1 \
		-c 'CREATE EXTENSION IF NOT EXISTS pgtap' -c 'DROP EXTENSION IF EXISTS recs CASCADE' \
		-c "CREATE EXTENSION recs VERSION '0.1.0'" -c 'ALTER EXTENSION recs UPDATE'; then
		tap_files=()
		for f in "$RECS_ROOT"/test/pgtap/*.sql; do
			[[ " ${RECS_PGTAP_SKIP:-} " == *" $(basename "$f" .sql) "* ]] || tap_files+=("$f")
		done
		run_suite "$TAP_OK" "$TAP_NOT_OK" pg_prove -v -d "$db" "${tap_files[@]}"
	else
		recs_log "could not create the extensions for pgTAP"
		fail=$((fail + 1))
	fi
fi

# --- shell suites (TAP): whole-server scenarios such as dump and restore ---
tap_scripts=()
if want shell; then tap_scripts+=("$RECS_ROOT"/test/shell/*.sh); fi
if want fuzz; then tap_scripts+=("$RECS_ROOT"/test/fuzz/*.sh); fi
if [ ${#tap_scripts[@]} -gt 0 ]; then
	recs_log "shell suites"
	run_suite "$TAP_OK" "$TAP_NOT_OK" prove -v "${tap_scripts[@]}"
fi

# --- Citus: recs on a coordinator and two workers (its own three servers) ---
if want citus; then
	recs_log "citus (coordinator + 2 workers)"
	run_suite "$TAP_OK" "$TAP_NOT_OK" bash "$RECS_ROOT/scripts/test_citus.sh"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
