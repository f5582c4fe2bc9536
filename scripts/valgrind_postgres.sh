#!/bin/sh
# scripts/valgrind_postgres.sh -- the server executable memcheck.sh hands to
# pg_ctl (-p): the installation's postgres under valgrind memcheck.  Backends
# are forked, so every one of them runs under valgrind too, each writing its
# report to $RECS_VALGRIND_DIR/PID.log (full source paths, so that frames in
# recs's own code can be told apart).  Valgrind runs one thread at a time;
# --fair-sched=yes hands the CPU over in turn (NCF's thread pool spins before
# it sleeps).  Extra options: RECS_VALGRIND_OPTS, e.g. --track-origins=yes to see where an
# uninitialised value came from.
here=$(cd "$(dirname "$0")" && pwd)
exec valgrind --tool=memcheck --trace-children=yes --error-limit=no \
	--num-callers=40 --leak-check=no --fullpath-after= --fair-sched=yes \
	--suppressions="$here/../test/valgrind.supp" --gen-suppressions=all \
	--log-file="$RECS_VALGRIND_DIR/%p.log" \
	${RECS_VALGRIND_OPTS:-} \
	"$("$PG_CONFIG" --bindir)/postgres" "$@"
