#!/usr/bin/env bash
# pipeline.sh -- recs.train_all on the Citus cluster of scripts/test_citus.sh
# (after serving.sql has run recs.citus_setup()): it trains, validates and
# activates without a warning, and the model it activates is served with the
# same lists by the coordinator and both workers; its GLMix fits read the
# distributed impressions themselves (not a view), so their aggregates run on
# the workers, and its popularity reads a plain view of the distributed
# watches, counted on the workers too.  Prints TAP.
set -uo pipefail
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }

echo "1..6"
out=$(q -c "SET client_min_messages = warning" \
	-c "SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses', epochs => 3, name => 'ct_all')" 2>&1)
rc=$?
served=$(printf '%s\n' "$out" | grep -E '^[0-9]+$' | tail -n 1)
if [ $rc -eq 0 ] && [ -n "$served" ]; then echo "ok 1 - train_all on distributed tables (model $served)"
else echo "not ok 1 - train_all on distributed tables"; printf '%s\n' "$out" | sed 's/^/# /'; fi

warnings=$(printf '%s\n' "$out" | grep -c '^WARNING' || true)
if [ "$warnings" -eq 0 ]; then echo "ok 2 - and without a warning (its temporary views stay out of Citus's DDL propagation)"
else echo "not ok 2 - and without a warning"; printf '%s\n' "$out" | grep -A1 '^WARNING' | sed 's/^/# /'; fi

deployed=$(q -c "SELECT string_agg(result, ',' ORDER BY nodeport) FROM run_command_on_workers(\$\$SELECT model_id FROM recs.deployment WHERE slot = 'default'\$\$)")
if [ -n "$served" ] && [ "$deployed" = "$served,$served" ]; then echo "ok 3 - both workers serve model $served"
else echo "not ok 3 - both workers serve the model train_all activated # $deployed vs $served"; fi

lists="SELECT md5(string_agg(format('%s:%s:%s', g, r.course_id, r.score), ',' ORDER BY g, r.rank)) FROM generate_series(100001, 100100) g, recs.recommend(g, 10) r"
here=$(q -c "$lists")
there=$(q -c "SELECT string_agg(result, ',' ORDER BY nodeport) FROM run_command_on_workers(\$q\$$lists\$q\$)")
if [ -n "$here" ] && [ "$there" = "$here,$here" ]; then echo "ok 4 - and every node returns the same lists"
else echo "not ok 4 - every node returns the same lists # coordinator $here, workers $there"; fi

# a single candidate (no validation) that serves GLMix's model: its fit's metrics
out=$(q -c "SET client_min_messages = warning" \
	-c "SELECT recs.train_all('app.watches', 'app.impressions', 'app.learners', 'app.courses', epochs => 1, name => 'ct_all2', candidates => '{click_blend}', activate => false)" 2>&1)
shards=$(q -c "SELECT coalesce(metrics->>'citus_shards', 'none') FROM recs.model WHERE name = 'ct_all2_glmix'")
if [ "$shards" = "8" ]; then echo "ok 5 - its GLMix fits read the distributed impressions: work over $shards shards"
else echo "not ok 5 - its GLMix fits read the distributed impressions # citus_shards: '$shards'"; printf '%s\n' "$out" | sed 's/^/# /'; fi
pop=$(q -c "SELECT string_agg(coalesce(metrics->>'citus_shards', 'none'), ',') FROM recs.model WHERE name = 'ct_all2_popularity'")
if [ "$pop" = "8" ]; then echo "ok 6 - and its popularity counts the watches through its view of them on the shards ($pop)"
else echo "not ok 6 - its popularity is counted on the shards # citus_shards: '$pop'"; fi
q -c "SELECT recs.drop_model(model_id) FROM recs.model WHERE name LIKE 'ct\_all2\_%' ORDER BY kind = 'blend' DESC" >/dev/null
