#!/usr/bin/env bash
# scripts/memcheck.sh -- `make memcheck`: the test suites against a build of
# recs with UndefinedBehaviorSanitizer, then against the normal build with
# every server process under valgrind memcheck; prints what ran, what passed
# and every report, and fails on any UBSan report, any valgrind error in
# recs's code, or any failed test.  Run by hand (tens of minutes), not part of
# `make test`.
#
# Environment (besides cluster.sh's PG_CONFIG and RECS_SKIP_INSTALL):
#   RECS_MEMCHECK_DIR         where the logs go (default: a new /tmp/recs-memcheck.*)
#   RECS_UBSAN_SUITES         suites of the UBSan pass (default: all of make test)
#   RECS_VALGRIND_SUITES      suites of the valgrind pass (default: regress pgtap shell
#                             fuzz, with a smaller fuzz run); "" skips the pass
#   RECS_PGTAP_SKIP           pgTAP files the valgrind pass leaves out (default "ncf
#                             pipeline blend_rerank": their 20-epoch NCF trainings
#                             take from 15 minutes to over an hour each under
#                             valgrind; pg_regress's ncf and pipeline and the
#                             other suites' re-ranking blends run the same code);
#                             "" runs them all
#   RECS_VALGRIND_OPTS        extra valgrind options, e.g. --track-origins=yes
set -euo pipefail
. "$(dirname "$0")/cluster.sh"

RECS_PACKAGES="$RECS_PACKAGES valgrind libubsan1"
ubsan_suites=${RECS_UBSAN_SUITES-regress pgtap shell fuzz}
valgrind_suites=${RECS_VALGRIND_SUITES-regress pgtap shell fuzz}
out=${RECS_MEMCHECK_DIR:-$(mktemp -d /tmp/recs-memcheck.XXXXXX)}
mkdir -p "$out/ubsan" "$out/valgrind"
rm -f "$out"/ubsan/* "$out"/valgrind/*
chmod 755 "$out"
chmod 1777 "$out/ubsan" "$out/valgrind"	# the server's OS user writes there

recs_ensure_packages

# On any exit, leave the normal build installed.
restore_normal_build() {
	recs_log "reinstalling the normal build"
	RECS_SANITIZE=0 recs_build_install || true
}
trap restore_normal_build EXIT

# run_pass NAME SUITES: scripts/test.sh with those suites; sets pass_line
run_pass() {
	local name=$1 suites=$2 t0=$SECONDS
	recs_log "$name pass: $suites (log: $out/$name.log)"
	RECS_TEST_SUITES=$suites bash "$RECS_ROOT/scripts/test.sh" >"$out/$name.log" 2>&1 || true
	pass_line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out/$name.log" | tail -1)
	pass_line=${pass_line:-"0 passed, 1 failed (the run did not finish; see its log)"}
	recs_log "$name pass: $pass_line in $((SECONDS - t0)) s"
	eval "${name}_secs=$((SECONDS - t0))"
}
failed_in() { echo "$1" | awk '{ print $3 }'; }

# --- pass 1: the UBSan build (the Makefile rebuilds every object when
# RECS_SANITIZE changes), the whole of make test.  Every UBSan report aborts
# the backend and is written to $out/ubsan/ubsan.PID; pg_ctl passes the
# environment on to the server.
ubsan_line="skipped"; ubsan_secs=0
if [ -n "$ubsan_suites" ]; then
	RECS_SANITIZE=1 recs_build_install
	# the installed library must be the sanitized one, or the pass proves nothing
	if ! ldd "$("$PG_CONFIG" --pkglibdir)/recs.so" | grep -q libubsan; then
		echo "memcheck: the installed recs.so is not the UBSan build" >&2
		exit 1
	fi
	UBSAN_OPTIONS="log_path=$out/ubsan/ubsan:print_stacktrace=1:halt_on_error=1" \
		RECS_SANITIZE=1 run_pass ubsan "$ubsan_suites"
	ubsan_line=$pass_line
fi

# --- pass 2: the normal build (the one users run; UBSan's checks would slow
# the numeric kernels another tenfold) with the postmaster and every backend
# under valgrind memcheck.  Slow (40-200x): long waits for isolation steps and
# server start, OpenBLAS on one thread, a shorter fuzz run with a longer
# statement timeout, and a looser limit on how fast a cancelled training
# stops.  The server's JIT is off: LLVM compiling expressions under valgrind
# costs minutes and exercises no line of recs.
valgrind_line="skipped"; valgrind_secs=0
if [ -n "$valgrind_suites" ]; then
	RECS_SANITIZE=0 recs_build_install
	export RECS_POSTGRES=$RECS_ROOT/scripts/valgrind_postgres.sh RECS_VALGRIND_DIR=$out/valgrind
	export PGCTLTIMEOUT=900 PGISOLATIONTIMEOUT=3600 OPENBLAS_NUM_THREADS=1
	# pgTAP's timing limits (seconds for what takes milliseconds) scale by
	# recs_test.time_factor
	export PGOPTIONS="${PGOPTIONS:-} -c jit=off -c recs_test.time_factor=50"
	export RECS_PGTAP_SKIP=${RECS_PGTAP_SKIP-ncf pipeline blend_rerank}
	export RECS_FUZZ_BATCHES=${RECS_FUZZ_BATCHES:-2} RECS_FUZZ_CALLS=${RECS_FUZZ_CALLS:-60}
	export RECS_FUZZ_TIMEOUT=${RECS_FUZZ_TIMEOUT:-30min} RECS_CANCEL_LIMIT=${RECS_CANCEL_LIMIT:-60}
	RECS_SANITIZE=0 run_pass valgrind "$valgrind_suites"
	valgrind_line=$pass_line
	unset RECS_POSTGRES
fi

# --- the reports
ubsan_reports=$(cat "$out"/ubsan/ubsan.* 2>/dev/null | grep -c 'runtime error' || true)
errors=$out/valgrind-errors.tsv
find "$out/valgrind" -name '*.log' -print0 | xargs -0 -r awk -v src="$RECS_ROOT/src" \
	-f "$RECS_ROOT/scripts/memcheck_report.awk" >"$out/valgrind-report.txt"
grep -v '^suppressed ' "$out/valgrind-report.txt" >"$errors" || true
processes=$(find "$out/valgrind" -name '*.log' | wc -l)
vg_recs=$(grep -c '^recs' "$errors" || true)
vg_other=$(grep -c '^other' "$errors" || true)
vg_suppressed=$(awk '/^suppressed / { n += $2 } END { print n + 0 }' "$out/valgrind-report.txt")
uniq_of() { grep "^$1" "$errors" | cut -f2- | sort | uniq -c | sort -rn; }

echo
echo "== memcheck summary (logs in $out)"
printf '%-34s %s\n' "UBSan pass ($ubsan_secs s):" "${ubsan_suites:-none}: $ubsan_line"
printf '%-34s %s\n' "valgrind pass ($valgrind_secs s):" "${valgrind_suites:-none}: $valgrind_line"
printf '%-34s %s\n' "server processes under valgrind:" "$processes"
printf '%-34s %s\n' "valgrind errors in recs:" "$vg_recs ($(uniq_of recs | grep -c . || true) distinct)"
printf '%-34s %s\n' "valgrind errors elsewhere:" "$vg_other ($(uniq_of other | grep -c . || true) distinct; $vg_suppressed suppressed by test/valgrind.supp)"
printf '%-34s %s\n' "UBSan reports:" "$ubsan_reports"
if [ "$vg_recs" -gt 0 ]; then echo "-- valgrind errors in recs (count, what, stack):"; uniq_of recs; fi
if [ "$vg_other" -gt 0 ]; then echo "-- valgrind errors elsewhere:"; uniq_of other; fi
if [ "$ubsan_reports" -gt 0 ]; then echo "-- UBSan reports:"; cat "$out"/ubsan/ubsan.*; fi

status=0
[ "$vg_recs" -eq 0 ] && [ "$ubsan_reports" -eq 0 ] || status=1
for line in "$ubsan_line" "$valgrind_line"; do
	[ "$line" = skipped ] || [ "$(failed_in "$line")" = 0 ] || status=1
done
echo "memcheck: $([ $status = 0 ] && echo clean || echo FAILED)"
exit $status
