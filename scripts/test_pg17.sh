#!/usr/bin/env bash
# scripts/test_pg17.sh -- `make test-pg17`: the whole of `make test` against
# PostgreSQL 17, from a fresh Debian 12 machine, as root.
#
# Debian 12 has no PostgreSQL 17, Debian 13 ("trixie") has it together with
# its server headers and pgTAP.  So this script keeps a Debian 13 chroot made
# with debootstrap, copies the working tree into it (a copy, not a bind mount:
# the host's objects are built for the host's PostgreSQL) and runs the
# project's own `make test` there with PG_CONFIG pointing at 17.
#
# The chroot lives in $RECS_PG17_ROOT (default /var/cache/recs-pg17-root) and
# is reused while its stamp matches this script's package list.  It is built
# in a sibling directory and renamed only when complete, so an interrupted
# run leaves nothing that a later one would trust.  /proc, /sys, /dev and
# /dev/shm are mounted for the run and always unmounted on exit; a lock keeps
# two runs on one machine from sharing the chroot at once.
#
# Environment: RECS_PG17_ROOT (the chroot), RECS_DEBIAN_MIRROR (default
# http://deb.debian.org/debian); RECS_TEST_SUITES and RECS_PGTAP_SKIP pass
# through to scripts/test.sh.  Ends with the chroot's "N passed, N failed"
# line and its exit status.  RECS_PG17_CMD runs another command of the tree
# inside the chroot instead of make test (bench/pgvector_bench.sh does), with
# PG_CONFIG set, and exits with its status.
set -euo pipefail

RECS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_MAJOR=17
SUITE=trixie
ROOT=${RECS_PG17_ROOT:-/var/cache/recs-pg17-root}
MIRROR=${RECS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
# what scripts/cluster.sh would install for 17, installed once when the chroot is made
PACKAGES="make gcc libc6-dev postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR libopenblas-dev
	postgresql-$PG_MAJOR-pgtap postgresql-$PG_MAJOR-pgvector libtap-parser-sourcehandler-pgtap-perl ca-certificates"
STAMP="recs chroot: $SUITE $(echo $PACKAGES)"

log() { printf '== %s\n' "$*" >&2; }
now() { date +%s; }

if [ "$(id -u)" -ne 0 ]; then
	echo "make test-pg17 needs root (debootstrap, chroot, mount)" >&2
	exit 1
fi

# --- mounts: every one recorded, unmounted in reverse order on any exit ---
MOUNTED=()
mount_in() { # mount_in DIR mount-arguments...: mount onto DIR/<target> (last argument)
	local dir=$1 target
	shift
	target=$dir${*: -1}
	mkdir -p "$target"
	mount "${@:1:$#-1}" "$target"
	MOUNTED+=("$target")
}
mount_all() {
	mount_in "$1" -t proc proc /proc
	mount_in "$1" -t sysfs -o ro sysfs /sys
	mount_in "$1" --bind /dev /dev
	mount_in "$1" -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
	mount_in "$1" -t tmpfs -o mode=1777 tmpfs /dev/shm
}
unmount_all() {
	local i
	for ((i = ${#MOUNTED[@]} - 1; i >= 0; i--)); do
		umount "${MOUNTED[i]}" 2>/dev/null || umount -l "${MOUNTED[i]}" 2>/dev/null || true
	done
	MOUNTED=()
}
# anything still mounted under DIR (left by a killed run): unmount, deepest first
unmount_stale() {
	local m
	for m in $(awk -v d="$1" 'index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}
trap 'unmount_all' EXIT
trap 'unmount_all; exit 130' INT TERM

# --- one run at a time per chroot ---
mkdir -p "$(dirname "$ROOT")"
exec 9>"$ROOT.lock"
if ! flock -n 9; then
	log "waiting for another run using $ROOT"
	flock 9
fi
unmount_stale "$ROOT"
unmount_stale "$ROOT.new"

# in_chroot DIR command...: a clean environment, as root, inside DIR
in_chroot() {
	local dir=$1
	shift
	env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
		${CI:+CI="$CI"} \
		${RECS_TEST_SUITES:+RECS_TEST_SUITES="$RECS_TEST_SUITES"} \
		${RECS_PGTAP_SKIP:+RECS_PGTAP_SKIP="$RECS_PGTAP_SKIP"} \
		chroot "$dir" "$@"
}

# --- the chroot: reuse a complete one, else build it beside and rename ---
if [ -f "$ROOT/.recs-stamp" ] && [ "$(cat "$ROOT/.recs-stamp")" = "$STAMP" ]; then
	log "reusing the Debian 13 chroot in $ROOT"
else
	if ! command -v debootstrap >/dev/null; then
		log "installing debootstrap"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			debootstrap >/dev/null
	fi
	new=$ROOT.new
	rm -rf --one-file-system "$new"
	t0=$(now)
	log "creating a Debian 13 chroot in $new (debootstrap $SUITE, $MIRROR)"
	debootstrap --variant=minbase "$SUITE" "$new" "$MIRROR" >"$ROOT.debootstrap.log" 2>&1 \
		|| { tail -n 30 "$ROOT.debootstrap.log" >&2; exit 1; }
	t1=$(now)
	log "debootstrap took $((t1 - t0)) s; installing PostgreSQL $PG_MAJOR and the build tools"
	# no daemon starts inside the chroot, and no cluster is created at install
	printf '#!/bin/sh\nexit 101\n' >"$new/usr/sbin/policy-rc.d"
	chmod 755 "$new/usr/sbin/policy-rc.d"
	mkdir -p "$new/etc/postgresql-common/createcluster.d"
	echo 'create_main_cluster = false' >"$new/etc/postgresql-common/createcluster.d/recs.conf"
	cp /etc/resolv.conf "$new/etc/resolv.conf" 2>/dev/null || true
	mount_all "$new"
	in_chroot "$new" apt-get update -qq
	# shellcheck disable=SC2086
	in_chroot "$new" apt-get install -y -qq --no-install-recommends $PACKAGES \
		>"$ROOT.install.log" 2>&1 || { tail -n 30 "$ROOT.install.log" >&2; exit 1; }
	in_chroot "$new" apt-get clean
	unmount_all
	echo "$STAMP" >"$new/.recs-stamp"
	log "package installation took $(($(now) - t1)) s"
	rm -rf --one-file-system "$ROOT"
	mv "$new" "$ROOT"
fi

# --- the source: a fresh copy without the host's build products ---
rm -rf --one-file-system "$ROOT/src/recs"
mkdir -p "$ROOT/src/recs"
tar -C "$RECS_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=.deps --exclude='.build-*' --exclude=results --exclude=log \
	--exclude='regression.*' --exclude='test/isolation/output' -cf - . \
	| tar -C "$ROOT/src/recs" -xf -

# --- the suite ---
mount_all "$ROOT"
t2=$(now)
log "running make test against PostgreSQL $PG_MAJOR inside $ROOT"
set +e
in_chroot "$ROOT" bash -c "cd /src/recs && make -s clean PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config >/dev/null 2>&1;
	export PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config; ${RECS_PG17_CMD:-make test}" 2>&1 | tee "$ROOT.test.log"
rc=${PIPESTATUS[0]}
set -e
unmount_all
log "PostgreSQL $PG_MAJOR suite took $(($(now) - t2)) s"
[ -n "${RECS_PG17_CMD:-}" ] && exit "$rc"
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$ROOT.test.log" | tail -n 1 || true)
echo "${summary:-0 passed, 1 failed}"
if [ -z "$summary" ] && [ "$rc" -eq 0 ]; then rc=1; fi
exit "$rc"
