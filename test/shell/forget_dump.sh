#!/usr/bin/env bash
# forget_dump.sh -- after recs.forget_learner, a pg_dump of the models holds
# no trace of the learner (TAP).  Needs a running server (PGHOST etc.), as
# set up by scripts/test.sh.
set -euo pipefail
db=recs_forget_dump
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }
echo "1..3"
dropdb --if-exists "$db" >/dev/null 2>&1 || true
createdb "$db"
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION recs" \
  -c "SELECT count(*) FROM recs.generate_sample('fd', 150, 25, 5)" \
  -c "CREATE VIEW fd.early_impressions AS SELECT * FROM fd.impressions WHERE shown_at < '2025-12-01'" \
  -c "SELECT recs.train_ncf('fd.watches', 'fd_ncf', layers => '{8}', dim => 4, epochs => 1)" \
  -c "SELECT recs.train_glmix('fd.early_impressions', 'fd.learners', 'fd.courses', '{segment}', '{topic}', name => 'fd_glmix', activate => false)" \
  -c "SELECT recs.train_blend(ARRAY[recs.model_id('fd_ncf'), recs.model_id('fd_glmix')], 'fd.impressions', 'fd.learners', name => 'fd_blend')" >/dev/null
gone=$(q -c "SELECT min(learner_id) FROM recs.ncf_learner")
# the learner's id as a whole field of the recs tables' data
traces() { pg_dump -a -n recs "$db" | grep -cE "(^|[[:space:],{])$gone([[:space:],}]|$)" || true; }
before=$(traces)
if [ "$before" -gt 0 ]; then echo "ok 1 - before, the dump holds learner $gone ($before lines)"
else echo "not ok 1 - before, the dump holds learner $gone"; fi
q -c "SELECT * FROM recs.forget_learner($gone)" >/dev/null
after=$(traces)
if [ "$after" = 0 ]; then echo "ok 2 - after forget_learner, the dump holds no trace of them"
else echo "not ok 2 - after forget_learner, the dump holds no trace of them"; pg_dump -a -n recs "$db" \
	| grep -E "(^|[[:space:],{])$gone([[:space:],}]|$)" | head -5 | sed 's/^/# /'; fi
n=$(q -c "SELECT count(*) FROM recs.recommend($gone, 5)")
if [ "$n" = 5 ]; then echo "ok 3 - and they are served as a stranger"
else echo "not ok 3 - and they are served as a stranger # got $n rows"; fi
