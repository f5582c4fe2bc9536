#!/usr/bin/env bash
# training_notices.sh -- what a training prints: train_glmix one NOTICE per
# coordinate-descent pass (objective, rate, time left) with each coordinate's
# line at DEBUG1, as train_ncf prints one per epoch and train_blend one per
# pass.  Counts the lines psql receives.  Prints TAP.  Needs a running server
# (PGHOST etc.), as set up by scripts/test.sh.
set -euo pipefail
db=recs_training_notices
out=$(mktemp)
trap 'rm -f "$out"; dropdb --if-exists "$db" >/dev/null 2>&1' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" -c "$1" 2>&1; }

echo "1..6"
dropdb --if-exists "$db" >/dev/null 2>&1
createdb "$db"
q "SET client_min_messages = warning; CREATE EXTENSION recs;
   SELECT count(*) FROM recs.generate_sample('tn', 120, 20, 5);" >/dev/null

# GLMix, three coordinates (fixed, learner_id, course_id), three passes
q "SELECT recs.train_glmix('tn.impressions', 'tn.learners', 'tn.courses', '{industry,segment}', '{topic}',
                           name => 'g', passes => 3, activate => false)" >"$out"
n=$(grep -c '^NOTICE:  train_glmix: pass [0-9]/3: objective [0-9.]*, train log-loss [0-9.]*, [0-9]* impressions/s, elapsed [0-9.]* s, about [0-9.]* s left$' "$out" || true)
if [ "$n" = 3 ]; then echo "ok 1 - train_glmix: one NOTICE per pass, with the loss, the rate and the time left"
else echo "not ok 1 - train_glmix: one NOTICE per pass, with the loss, the rate and the time left (got $n)"; sed 's/^/# /' "$out"; fi
n=$(grep -c 'train_glmix pass [0-9]/3 \(fixed\|learner_id\|course_id\):' "$out" || true)
if [ "$n" = 0 ]; then echo "ok 2 - no per-coordinate lines at NOTICE"
else echo "not ok 2 - no per-coordinate lines at NOTICE (got $n)"; fi

q "SET client_min_messages = debug1;
   SELECT recs.train_glmix('tn.impressions', 'tn.learners', 'tn.courses', '{industry,segment}', '{topic}',
                           name => 'g', passes => 3, activate => false)" >"$out"
n=$(grep -c '^DEBUG:  train_glmix pass [0-9]/3 \(fixed\|learner_id\|course_id\): objective' "$out" || true)
if [ "$n" = 9 ]; then echo "ok 3 - each coordinate of each pass at DEBUG1 (3 x 3 lines)"
else echo "not ok 3 - each coordinate of each pass at DEBUG1 (got $n)"; fi

# with a validation relation the pass line carries the validation figures
q "SELECT recs.train_glmix('tn.impressions', 'tn.learners', 'tn.courses', '{industry,segment}', '{topic}',
                           name => 'g', passes => 2, validation => 'tn.impressions', activate => false)" >"$out"
n=$(grep -c '^NOTICE:  train_glmix: pass [0-9]/2: .*, validation AUC [0-9.]* log-loss [0-9.]*, ' "$out" || true)
if [ "$n" = 2 ]; then echo "ok 4 - with validation => each pass line has the validation AUC and log-loss"
else echo "not ok 4 - with validation => each pass line has the validation AUC and log-loss (got $n)"; sed 's/^/# /' "$out"; fi

# the other trainers, for the same shape: one line per epoch or pass
q "SELECT recs.train_ncf('tn.watches', 'n', epochs => 2, layers => '{8}', dim => 4, activate => false)" >"$out"
n=$(grep -c '^NOTICE:  train_ncf: epoch [0-9]/2: loss' "$out" || true)
if [ "$n" = 2 ]; then echo "ok 5 - train_ncf: one NOTICE per epoch"
else echo "not ok 5 - train_ncf: one NOTICE per epoch (got $n)"; fi
q "SELECT recs.train_blend(ARRAY[recs.model_id('n'), recs.model_id('g')], 'tn.impressions', 'tn.learners',
                           name => 'b', since => '2025-12-01', passes => 2, activate => false)" >"$out"
n=$(grep -c '^NOTICE:  train_blend pass [0-9]/2 ' "$out" || true)
if [ "$n" = 2 ]; then echo "ok 6 - train_blend: one NOTICE per pass"
else echo "not ok 6 - train_blend: one NOTICE per pass (got $n)"; sed 's/^/# /' "$out"; fi
