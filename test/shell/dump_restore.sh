#!/usr/bin/env bash
# dump_restore.sh -- pg_dump / pg_restore keeps trained models: the restored
# database serves identical recommendations.  Prints TAP.  Needs a running
# server (PGHOST etc.), as set up by scripts/test.sh.
set -euo pipefail
src=recs_dump_src
dst=recs_dump_dst
dump=$(mktemp)
trap 'rm -f "$dump"; dropdb --if-exists "$src" >/dev/null 2>&1; dropdb --if-exists "$dst" >/dev/null 2>&1' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..5"
dropdb --if-exists "$src" >/dev/null 2>&1; dropdb --if-exists "$dst" >/dev/null 2>&1
createdb "$src"
q "$src" "SET client_min_messages = warning; CREATE EXTENSION recs;
  SELECT count(*) FROM recs.generate_sample('app', 300, 50, 11);
  SELECT recs.train_popularity('app.watches', 'app.learners', name => 'p');
  SELECT recs.train_popularity('app.watches', 'app.learners', name => 'p', window_days => 30);
  SELECT recs.activate(recs.model_id('p') - 1);" >/dev/null
recs_query="SELECT string_agg(format('%s:%s:%s', l.learner_id, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank)
  FROM app.learners l, recs.recommend(l.learner_id, 5) r"
before=$(q "$src" "$recs_query")
models_before=$(q "$src" "SELECT string_agg(format('%s/%s/%s/%s', model_id, name, version, deployed_in), ',' ORDER BY model_id) FROM recs.models")

pg_dump -Fc -d "$src" -f "$dump"
createdb "$dst"
if pg_restore -d "$dst" "$dump" 2>/tmp/recs_restore.err; then echo "ok 1 - pg_restore without errors"
else echo "not ok 1 - pg_restore without errors"; sed 's/^/# /' /tmp/recs_restore.err; fi

models_after=$(q "$dst" "SELECT string_agg(format('%s/%s/%s/%s', model_id, name, version, deployed_in), ',' ORDER BY model_id) FROM recs.models")
if [ "$models_before" = "$models_after" ]; then echo "ok 2 - models, versions and deployment survive"
else echo "not ok 2 - models, versions and deployment survive"; echo "# before: $models_before"; echo "# after:  $models_after"; fi

after=$(q "$dst" "$recs_query")
if [ -n "$before" ] && [ "$before" = "$after" ]; then echo "ok 3 - identical recommendations for every learner"
else echo "not ok 3 - identical recommendations for every learner"; fi

next_src=$(q "$src" "SELECT recs.train_popularity('app.watches', name => 'p')" 2>/dev/null | tail -1)
next_dst=$(q "$dst" "SELECT recs.train_popularity('app.watches', name => 'p')" 2>/dev/null | tail -1)
if [ "$next_src" = "$next_dst" ]; then echo "ok 4 - the model id sequence continues after restore"
else echo "not ok 4 - the model id sequence continues after restore # $next_src vs $next_dst"; fi

v=$(q "$dst" "SELECT max(version) FROM recs.model WHERE name = 'p'")
if [ "$v" = 3 ]; then echo "ok 5 - retraining after restore makes the next version"
else echo "not ok 5 - retraining after restore makes the next version # got $v"; fi
