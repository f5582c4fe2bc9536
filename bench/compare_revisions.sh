#!/usr/bin/env bash
# bench/compare_revisions.sh -- the same workload on two builds of recs, side
# by side in one run: training time of every trainer and live serving
# against a precomputed top-10 table, for a refactor's "no slower" check.
#
# Usage: bash bench/compare_revisions.sh OLD_REV [NEW_REV, default: the work tree]
#        [LEARNERS, default 5000] [COURSES, default 1682] [SECONDS per pgbench run, default 10]
#
# Each revision is built from a clean checkout (git worktree) against a
# private copy of the PostgreSQL installation, so the two builds never share
# an extension directory; each gets its own throwaway cluster, and the
# workload runs on the old build, then on the new one, then the serving part
# once more in the opposite order (the machine's load drifts).  Needs root
# (it copies /usr/lib/postgresql and runs the clusters as postgres).
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
old_rev=${1:?usage: compare_revisions.sh OLD_REV [NEW_REV] [LEARNERS] [COURSES] [SECONDS]}
new_rev=${2:-WORKTREE}
learners=${3:-5000}
courses=${4:-1682}
secs=${5:-10}

recs_ensure_packages
work=$(mktemp -d /tmp/recs-compare.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
	for side in old new; do
		if [ -d "$work/$side/data" ]; then
			runuser -u postgres -- "$work/$side/pg/usr/lib/postgresql/15/bin/pg_ctl" -D "$work/$side/data" \
				-m immediate stop >/dev/null 2>&1 || true
		fi
	done
	git -C "$RECS_ROOT" worktree remove --force "$work/old/src" >/dev/null 2>&1 || true
	git -C "$RECS_ROOT" worktree remove --force "$work/new/src" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

# build_side SIDE REV PORT: a private PostgreSQL copy with recs REV installed, started
build_side() {
	local side=$1 rev=$2 port=$3 pg="$work/$1/pg" bin
	mkdir -p "$pg/usr/lib/postgresql" "$pg/usr/share/postgresql" "$pg/usr/include"
	cp -a /usr/lib/postgresql/15 "$pg/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$pg/usr/share/postgresql/"
	ln -s /usr/include/postgresql "$pg/usr/include/postgresql"
	if [ "$rev" = WORKTREE ]; then
		cp -a "$RECS_ROOT" "$work/$side/src"
		make -C "$work/$side/src" -s clean >/dev/null 2>&1 || true
	else
		git -C "$RECS_ROOT" worktree add -q --detach "$work/$side/src" "$rev"
	fi
	make -C "$work/$side/src" -s PG_CONFIG="$pg/usr/lib/postgresql/15/bin/pg_config" >/dev/null
	make -C "$work/$side/src" -s PG_CONFIG="$pg/usr/lib/postgresql/15/bin/pg_config" install >/dev/null
	bin="$pg/usr/lib/postgresql/15/bin"
	chown -R postgres: "$work/$side"
	runuser -u postgres -- "$bin/initdb" -D "$work/$side/data" -U postgres -A trust --no-sync -E UTF8 \
		--locale=C.UTF-8 >/dev/null
	runuser -u postgres -- "$bin/pg_ctl" -D "$work/$side/data" -l "$work/$side/log" -w \
		-o "-c listen_addresses='' -k $work/$side -p $port -c fsync=off -c synchronous_commit=off" start >/dev/null
}

recs_log "building $old_rev and $new_rev"
build_side old "$old_rev" 25431
build_side new "$new_rev" 25432
bindir=$(echo "$work"/old/pg/usr/lib/postgresql/15/bin)

# on SIDE: run psql with the rest of the arguments
on() { local side=$1; shift; PGHOST="$work/$side" PGPORT=$([ "$side" = old ] && echo 25431 || echo 25432) \
	PGUSER=postgres psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }
# seconds a statement takes on SIDE
timed() { local side=$1 sql=$2; on "$side" -A -t -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '2GB'" \
	-c "SELECT extract(epoch FROM clock_timestamp())" -c "$sql" -c "SELECT extract(epoch FROM clock_timestamp())" \
	| awk 'NR == 1 { t0 = $1 } { last = $1 } END { printf "%.2f", last - t0 }'; }

declare -A t
for side in old new; do
	recs_log "training on the $side build"
	on "$side" -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" \
		-c "SELECT count(*) FROM recs.generate_sample('b', $learners, $courses, 7)" \
		-c "CREATE VIEW b.early_watches AS SELECT * FROM b.watches WHERE watched_at < '2025-11-01'" \
		-c "CREATE VIEW b.early_impressions AS SELECT * FROM b.impressions WHERE shown_at < '2025-11-01'" >/dev/null
	t[$side,pop]=$(timed "$side" "SELECT recs.train_popularity('b.early_watches', 'b.learners', name => 'p', activate => false)")
	t[$side,ncf]=$(timed "$side" "SELECT recs.train_ncf('b.early_watches', 'n', courses => 'b.courses', epochs => 3, threads => 2, activate => false)")
	t[$side,glmix]=$(timed "$side" "SELECT recs.train_glmix('b.early_impressions', 'b.learners', 'b.courses', '{language,segment}', '{topic,language,difficulty}', name => 'g', activate => false)")
	t[$side,blend]=$(timed "$side" "SELECT recs.train_blend(ARRAY[recs.model_id('n'), recs.model_id('g'), recs.model_id('p')], 'b.impressions', 'b.learners', name => 'bl', activate => false)")
	t[$side,eval]=$(timed "$side" "SELECT recs.evaluate(recs.model_id('n'), 'b.impressions', protocol => 'response')")
	for kind in n g bl; do
		on "$side" -c "CREATE TABLE b.top10_$kind AS SELECT l.learner_id, r.rank, r.course_id, r.score
		                 FROM b.learners l, recs.recommend(l.learner_id, 10, model => recs.model_id('$kind')) r" \
			-c "CREATE INDEX ON b.top10_$kind (learner_id, rank)" -c "VACUUM ANALYZE b.top10_$kind" >/dev/null
	done
done

printf '\n| step | %s s | %s s | new / old |\n|---|---|---|---|\n' "$old_rev" "$new_rev"
for step in pop ncf glmix blend eval; do
	printf '| %s | %s | %s | %.2f |\n' "$step" "${t[old,$step]}" "${t[new,$step]}" \
		"$(awk -v a="${t[new,$step]}" -v b="${t[old,$step]}" 'BEGIN { print (b > 0 ? a / b : 0) }')"
done

# pgbench SIDE SCRIPT -> tps
bench() { local side=$1 script=$2
	PGHOST="$work/$side" PGPORT=$([ "$side" = old ] && echo 25431 || echo 25432) PGUSER=postgres \
		"$bindir/pgbench" -n -M prepared -c 2 -j 2 -T "$secs" -f "$script" postgres 2>/dev/null \
		| awk '/^tps/ { print $3; exit }'; }
declare -A s
for kind in n g bl; do
	model_old=$(on old -A -t -c "SELECT recs.model_id('$kind')")
	model_new=$(on new -A -t -c "SELECT recs.model_id('$kind')")
	for side in old new; do
		m=$([ "$side" = old ] && echo "$model_old" || echo "$model_new")
		printf '\\set l random(100001, %d)\nSELECT rank, course_id, score FROM recs.recommend(:l, 10, model => %s);\n' \
			$((100000 + learners)) "$m" >"$work/live_$side.sql"
		printf '\\set l random(100001, %d)\nSELECT rank, course_id, score FROM b.top10_%s WHERE learner_id = :l ORDER BY rank;\n' \
			$((100000 + learners)) "$kind" >"$work/table_$side.sql"
	done
	# old, new, new, old: each side's rate is the mean of its two runs
	for order in "old new" "new old"; do
		for side in $order; do
			s[$side,$kind,live]="${s[$side,$kind,live]:-} $(bench "$side" "$work/live_$side.sql")"
			s[$side,$kind,table]="${s[$side,$kind,table]:-} $(bench "$side" "$work/table_$side.sql")"
		done
	done
done
mean() { echo "$@" | awk '{ for (i = 1; i <= NF; i++) s += $i; printf "%.0f", s / NF }'; }
printf '\n| model | %s live tps | its table tps | ratio | %s live tps | its table tps | ratio | live new / old |\n|---|---|---|---|---|---|---|---|\n' \
	"$old_rev" "$new_rev"
for kind in n g bl; do
	ol=$(mean ${s[old,$kind,live]}); ot=$(mean ${s[old,$kind,table]})
	nl=$(mean ${s[new,$kind,live]}); nt=$(mean ${s[new,$kind,table]})
	name=$(case $kind in n) echo NCF ;; g) echo GLMix ;; bl) echo blend ;; esac)
	printf '| %s | %s | %s | %.2f | %s | %s | %.2f | %.2f |\n' "$name" "$ol" "$ot" \
		"$(awk -v a="$ol" -v b="$ot" 'BEGIN { print a / b }')" "$nl" "$nt" \
		"$(awk -v a="$nl" -v b="$nt" 'BEGIN { print a / b }')" "$(awk -v a="$nl" -v b="$ol" 'BEGIN { print a / b }')"
done
echo
echo "$learners learners, $courses courses (recs.generate_sample seed 7); pgbench -M prepared -c 2 -j 2 -T $secs, each rate the mean of two runs in the order old, new, new, old; uptime: $(uptime)"
