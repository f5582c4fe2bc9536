#!/usr/bin/env bash
# backup.sh -- backing up the models of a Citus cluster (scripts/test_citus.sh,
# after the pgTAP files): pg_dump of the coordinator holds every model (it
# reads the reference tables through Citus), and the README's restore --
# schema, then the data with triggers disabled, then the rest -- gives a
# database with the same recs tables and the same lists.  (A plain
# pg_restore fails on the part tables: recs.citus_setup() dropped their
# foreign keys to recs.model, so pg_dump no longer orders recs.model's rows
# first, while the restored extension has the keys again.)  Prints TAP.
set -uo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
bindir=$("${PG_CONFIG:-pg_config}" --bindir)
dir=$(mktemp -d /tmp/recs-citus-backup.XXXXXX)
chmod 755 "$dir"
trap 'rm -rf "$dir"; q -d postgres -c "DROP DATABASE IF EXISTS recs_restored" >/dev/null 2>&1' EXIT

# every recs table's rows, as one md5 (the shells read through Citus)
tables="SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
  SELECT c.relname || ' ' || (xpath('/row/c/text()', query_to_xml(format(
           'SELECT count(*) || '':'' || md5(string_agg(x::text, '','' ORDER BY x::text)) AS c FROM %s x', c.oid::regclass),
           false, true, '')))[1]::text AS t
    FROM pg_class c JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
   WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'recs') AND c.relkind = 'r') s"
lists="SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) FROM generate_series(100001, 100100) g, recs.recommend(g, 10) r"

echo "1..5"
"$bindir/pg_dump" -Fc -f "$dir/recs.dump" 2>"$dir/dump.err"
rc=$?
models=$(q -c "SELECT count(*) FROM recs.model")
listed=$("$bindir/pg_restore" -f - --data-only -t model "$dir/recs.dump" 2>/dev/null | awk '/^COPY recs.model /{f=1; next} /^\\\./{f=0} f' | wc -l)
if [ $rc -eq 0 ] && [ "$models" -gt 0 ] && [ "$listed" = "$models" ]; then
	echo "ok 1 - pg_dump of the coordinator holds every model ($models rows of recs.model)"
else echo "not ok 1 - pg_dump of the coordinator holds every model # rc $rc, $listed of $models"; sed 's/^/# /' "$dir/dump.err"; fi

q -d postgres -c "DROP DATABASE IF EXISTS recs_restored" -c "CREATE DATABASE recs_restored" >/dev/null
out=$( { "$bindir/pg_restore" --section=pre-data -d recs_restored "$dir/recs.dump" &&
	"$bindir/pg_restore" --data-only --disable-triggers -d recs_restored "$dir/recs.dump" &&
	"$bindir/pg_restore" --section=post-data -d recs_restored "$dir/recs.dump"; } 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ]; then echo "ok 2 - the documented restore (pre-data; data, triggers disabled; post-data) runs without an error"
else echo "not ok 2 - the documented restore runs without an error"; printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'; fi

here=$(q -c "$tables")
there=$(q -d recs_restored -c "$tables")
if [ -n "$here" ] && [ "$here" = "$there" ]; then echo "ok 3 - the restored database has every recs table's rows"
else echo "not ok 3 - the restored database has every recs table's rows # $here vs $there"; fi

here=$(q -c "$lists")
there=$(q -d recs_restored -c "$lists")
if [ -n "$here" ] && [ "$here" = "$there" ]; then echo "ok 4 - and serves the same lists"
else echo "not ok 4 - and serves the same lists # $here vs $there"; fi

# the restore is a plain recs again (foreign keys and all): it trains on
out=$(q -d recs_restored -c "SET client_min_messages = warning" \
	-c "SELECT recs.train_popularity('single.watches', 'single.learners', name => 'after_restore') > (SELECT max(model_id) FROM recs.model WHERE name <> 'after_restore')" \
	-c "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'recs'::regnamespace" 2>&1)
if [ "$(printf '%s\n' "$out" | head -n 1)" = t ] && [ "$(printf '%s\n' "$out" | tail -n 1)" -gt 0 ]; then
	echo "ok 5 - the restored database trains a new model, numbered after the restored ones, with recs' foreign keys in place"
else echo "not ok 5 - the restored database trains on # $out"; fi
