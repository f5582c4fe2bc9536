#!/usr/bin/env bash
# access.sh -- a serving role on the Citus cluster of scripts/test_citus.sh:
# serving.sql created ct_app and gave it access with one recs.grant_access
# on the coordinator; connected to each worker as ct_app, recommend() serves
# the coordinator's lists, and a role without the grant is refused there.
# Prints TAP.
set -uo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
lists="SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) FROM generate_series(100001, 100040) g, recs.recommend(g, 10) r"

ports=(${RECS_CITUS_WORKER_PORTS:-})
echo "1..$((2 * ${#ports[@]} + 1))"
here=$(q -c "$lists")
if [ -n "$here" ]; then echo "ok 1 - the coordinator serves lists"; else echo "not ok 1 - the coordinator serves lists"; fi
n=1
q -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS ct_nobody" -c "CREATE ROLE ct_nobody LOGIN" >/dev/null
for p in "${ports[@]}"; do
	n=$((n + 1))
	there=$(q -p "$p" -U ct_app -c "$lists" 2>&1)
	if [ "$there" = "$here" ]; then echo "ok $n - ct_app on worker :$p: recommend() serves the coordinator's lists"
	else echo "not ok $n - ct_app on worker :$p serves # $there"; fi
	n=$((n + 1))
	out=$(q -p "$p" -U ct_nobody -c "SELECT count(*) FROM recs.recommend(100001, 10)" 2>&1)
	if [[ $out == *'permission denied'* ]]; then echo "ok $n - a role without grant_access is refused on worker :$p"
	else echo "not ok $n - a role without grant_access is refused on worker :$p # $out"; fi
done
q -c "SET client_min_messages = warning" -c "DROP ROLE ct_nobody" >/dev/null
