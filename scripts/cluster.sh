# scripts/cluster.sh -- shared by test.sh, demo.sh and the bench scripts:
# install missing Debian packages, build and install the extension, and run a
# throwaway PostgreSQL cluster that is always stopped on exit.
#
# Source it; it defines functions only.  Environment:
#   PG_CONFIG            pg_config to build against (default: Debian's, of
#                        RECS_PG_MAJOR)
#   RECS_PG_MAJOR        the PostgreSQL major version whose Debian packages are
#                        installed (default: read from PG_CONFIG's path or
#                        version when set, else 15)
#   PGHOST + PGDATABASE  when both are set, use that server instead of a
#                        throwaway cluster (the extension must be installable there)
#   RECS_SKIP_INSTALL=1  do not run apt-get or make install (packagers, CI images)
#   RECS_POSTGRES        the server executable pg_ctl starts (default: the
#                        installation's postgres; memcheck.sh gives a valgrind wrapper)

RECS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${RECS_PG_MAJOR:-}" ]; then
	if [[ ${PG_CONFIG:-} =~ postgresql/([0-9]+)/bin/pg_config$ ]]; then
		RECS_PG_MAJOR=${BASH_REMATCH[1]}
	elif [ -n "${PG_CONFIG:-}" ] && [[ $("$PG_CONFIG" --version 2>/dev/null) =~ ^PostgreSQL\ ([0-9]+) ]]; then
		RECS_PG_MAJOR=${BASH_REMATCH[1]}
	else
		RECS_PG_MAJOR=15
	fi
fi
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$RECS_PG_MAJOR/bin/pg_config}
RECS_PACKAGES="make gcc libc6-dev postgresql-$RECS_PG_MAJOR postgresql-server-dev-$RECS_PG_MAJOR libopenblas-dev postgresql-$RECS_PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl python3"

recs_log() { printf '== %s\n' "$*" >&2; }

recs_is_root() { [ "$(id -u)" -eq 0 ]; }

recs_ensure_packages() {
	[ "${RECS_SKIP_INSTALL:-0}" = 1 ] && return 0
	local missing=() p
	for p in $RECS_PACKAGES; do
		dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' \
			|| missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! recs_is_root; then
		echo "missing Debian packages: ${missing[*]} (run as root, or install them)" >&2
		return 1
	fi
	recs_log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

recs_build_install() {
	recs_log "building recs"
	make -C "$RECS_ROOT" -s PG_CONFIG="$PG_CONFIG" >/dev/null
	[ "${RECS_SKIP_INSTALL:-0}" = 1 ] && return 0
	make -C "$RECS_ROOT" -s PG_CONFIG="$PG_CONFIG" install >/dev/null
}

# Run a command as the cluster's OS user (postgres when we are root).
recs_as_owner() {
	if recs_is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

recs_stop_cluster() {
	if [ -n "${RECS_TMP:-}" ] && [ -d "$RECS_TMP" ]; then
		recs_as_owner "$(${PG_CONFIG} --bindir)/pg_ctl" -D "$RECS_TMP/data" -m immediate \
			stop >/dev/null 2>&1 || true
		rm -rf "$RECS_TMP"
		RECS_TMP=
	fi
}

# Start a throwaway cluster (socket only, in a private temporary directory)
# unless PGHOST and PGDATABASE name an existing server.  Exports PGHOST,
# PGPORT, PGUSER for libpq clients and sets RECS_EXISTING_SERVER.
recs_start_cluster() {
	if [ -n "${PGHOST:-}" ] && [ -n "${PGDATABASE:-}" ]; then
		RECS_EXISTING_SERVER=1
		recs_log "using the existing server at $PGHOST, database $PGDATABASE"
		return 0
	fi
	RECS_EXISTING_SERVER=0
	local bindir
	bindir=$("$PG_CONFIG" --bindir)
	RECS_TMP=$(mktemp -d /tmp/recs-pg.XXXXXX)
	trap recs_stop_cluster EXIT
	trap 'recs_stop_cluster; exit 130' INT TERM
	chmod 755 "$RECS_TMP"
	if recs_is_root; then chown postgres: "$RECS_TMP"; fi
	recs_as_owner "$bindir/initdb" -D "$RECS_TMP/data" -U postgres -A trust \
		--no-sync -E UTF8 --locale=C.UTF-8 >"$RECS_TMP/initdb.log" 2>&1 \
		|| { cat "$RECS_TMP/initdb.log" >&2; return 1; }
	export PGPORT=$((20000 + $$ % 10000))
	recs_as_owner "$bindir/pg_ctl" -D "$RECS_TMP/data" -l "$RECS_TMP/server.log" -w \
		${RECS_POSTGRES:+-p "$RECS_POSTGRES"} \
		-o "-c listen_addresses='' -k $RECS_TMP -p $PGPORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		start >/dev/null || { cat "$RECS_TMP/server.log" >&2; return 1; }
	export PGHOST=$RECS_TMP PGUSER=postgres
	recs_log "throwaway cluster running (socket in $RECS_TMP, port $PGPORT)"
}
