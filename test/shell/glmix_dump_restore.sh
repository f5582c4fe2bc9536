#!/usr/bin/env bash
# glmix_dump_restore.sh -- pg_dump / pg_restore keeps GLMix models: the
# restored database has the same coefficients and gives the same scores,
# explanations and recommendations.  Prints TAP.  Needs a running server
# (PGHOST etc.), as set up by scripts/test.sh.
set -euo pipefail
src=recs_glmix_dump_src
dst=recs_glmix_dump_dst
dump=$(mktemp)
trap 'rm -f "$dump"; dropdb --if-exists "$src" >/dev/null 2>&1; dropdb --if-exists "$dst" >/dev/null 2>&1' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

echo "1..4"
dropdb --if-exists "$src" >/dev/null 2>&1; dropdb --if-exists "$dst" >/dev/null 2>&1
createdb "$src"
q "$src" "SET client_min_messages = warning; CREATE EXTENSION recs;
  SELECT count(*) FROM recs.generate_sample('gx', 200, 40, 5);
  SELECT recs.train_glmix('gx.impressions', 'gx.learners', 'gx.courses', '{industry,segment}',
                          '{topic,duration_minutes}', name => 'g', crosses => '{industry:topic}',
                          random_effects => '{learner_id,course_id,segment}', l2 => '{300,10,10,10}',
                          activate => true);" >/dev/null
coef_query="SELECT md5(string_agg(format('%s/%s/%s/%s', coordinate, entity, feature, coef), ',' ORDER BY coordinate, entity, feature))
  FROM recs.glmix_coefficients"
score_query="SELECT md5(string_agg(format('%s:%s:%s', l.learner_id, c.course_id, recs.glmix_score(recs.model_id('g'), l.learner_id, c.course_id)), ','
  ORDER BY l.learner_id, c.course_id)) FROM gx.learners l, gx.courses c"
explain_query="SELECT md5(string_agg(e::text, ',')) FROM gx.learners l, LATERAL recs.explain(recs.model_id('g'), l.learner_id, 7) e"
recs_query="SELECT md5(string_agg(format('%s:%s:%s', l.learner_id, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank))
  FROM gx.learners l, recs.recommend(l.learner_id, 5) r"
before="$(q "$src" "$coef_query") $(q "$src" "$score_query") $(q "$src" "$explain_query") $(q "$src" "$recs_query")"

pg_dump -Fc -d "$src" -f "$dump"
createdb "$dst"
if pg_restore -d "$dst" "$dump" 2>/tmp/recs_glmix_restore.err; then echo "ok 1 - pg_restore without errors"
else echo "not ok 1 - pg_restore without errors"; sed 's/^/# /' /tmp/recs_glmix_restore.err; fi
after="$(q "$dst" "$coef_query") $(q "$dst" "$score_query") $(q "$dst" "$explain_query") $(q "$dst" "$recs_query")"

set -- $before
b_coef=$1 b_score=$2 b_explain=$3 b_recs=$4
set -- $after
if [ "$b_coef" = "$1" ]; then echo "ok 2 - identical coefficients with their feature names"
else echo "not ok 2 - identical coefficients with their feature names"; fi
if [ "$b_score" = "$2" ] && [ "$b_explain" = "$3" ]; then echo "ok 3 - identical glmix_score and explain for every learner and course"
else echo "not ok 3 - identical glmix_score and explain for every learner and course"; fi
if [ "$b_recs" = "$4" ]; then echo "ok 4 - identical recommendations from the restored active glmix model"
else echo "not ok 4 - identical recommendations from the restored active glmix model"; fi
