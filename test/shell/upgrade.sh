#!/usr/bin/env bash
# upgrade.sh -- ALTER EXTENSION recs UPDATE from 0.1.0 and from 0.2.0: models
# trained under the old version keep serving identical recommendations, the
# updated catalog (privileges included) equals a fresh install's, 0.2.0
# features work, and a role given training rights under 0.2.0 can still train
# GLMix after 0.2.1 revoked its aggregates from PUBLIC.  (scripts/test.sh also
# runs the whole pgTAP suite on an extension updated from 0.1.0.)  Prints TAP.
# Needs a running server (PGHOST etc.), as set up by scripts/test.sh.
set -euo pipefail
old=recs_upgrade_old
new=recs_upgrade_new
mid=recs_upgrade_020
current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$(dirname "$0")/../../recs.control")
trap 'for d in "$old" "$new" "$mid"; do dropdb --if-exists "$d" >/dev/null 2>&1; done
      psql -X -q -d postgres -c "DROP ROLE IF EXISTS recs_upgrade_trainer" -c "DROP ROLE IF EXISTS recs_upgrade_app" >/dev/null 2>&1' EXIT
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

# every object of the extension, as the catalog describes it
catalog="SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_function_result(p.oid) || ' '
         || pg_get_function_arguments(p.oid) || ' ' || p.provolatile::text || p.proparallel::text || p.prosecdef::text
         || p.proisstrict::text || ' ' || coalesce(array_to_string(p.proconfig, ','), '') || ' '
         || md5(p.prosrc) || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
         || ' ' || coalesce(p.proacl::text, '') AS d
    FROM pg_proc p WHERE p.pronamespace = 'recs'::regnamespace
  UNION ALL
  SELECT 'column ' || c.oid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
   WHERE c.relnamespace = 'recs'::regnamespace
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'recs'::regnamespace
  UNION ALL
  SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '')
         || ' ' || coalesce(pg_get_viewdef(c.oid), '')
    FROM pg_class c WHERE c.relnamespace = 'recs'::regnamespace AND c.relkind IN ('r', 'v', 'S', 'i')
  UNION ALL
  SELECT 'config ' || (SELECT string_agg(x::regclass::text, ',' ORDER BY x::regclass::text)
                         FROM unnest(extconfig) x)
    FROM pg_extension WHERE extname = 'recs') s"

echo "1..13"
for db in "$old" "$new"; do dropdb --if-exists "$db" >/dev/null 2>&1; createdb "$db"; done
q "$old" "SET client_min_messages = warning; CREATE EXTENSION recs VERSION '0.1.0';
  SELECT count(*) FROM recs.generate_sample('app', 400, 60, 5);
  CREATE VIEW app.early_watches AS SELECT * FROM app.watches WHERE watched_at < '2025-10-01';
  CREATE VIEW app.early_impressions AS SELECT * FROM app.impressions WHERE shown_at < '2025-10-01';
  SELECT recs.train_popularity('app.early_watches', 'app.learners', name => 'p', through => '2025-09-30');
  SELECT recs.train_glmix('app.early_impressions', 'app.learners', 'app.courses', '{segment,language}',
                          '{topic,language}', name => 'g');
  SELECT recs.train_blend(ARRAY[recs.model_id('p'), recs.model_id('g')], 'app.impressions', 'app.learners',
                          name => 'b');" >/dev/null
recs_query="SELECT string_agg(format('%s:%s:%s', l.learner_id, r.course_id, r.score), ',' ORDER BY l.learner_id, r.rank)
  FROM app.learners l, recs.recommend(l.learner_id, 5) r"
before=$(q "$old" "$recs_query")

if q "$old" "ALTER EXTENSION recs UPDATE" >/dev/null 2>/tmp/recs_upgrade.err; then echo "ok 1 - ALTER EXTENSION recs UPDATE from 0.1.0"
else echo "not ok 1 - ALTER EXTENSION recs UPDATE from 0.1.0"; sed 's/^/# /' /tmp/recs_upgrade.err; fi

v=$(q "$old" "SELECT extversion FROM pg_extension WHERE extname = 'recs'")
if [ "$v" = "$current" ]; then echo "ok 2 - the extension is at $current"; else echo "not ok 2 - the extension is at $current # got $v"; fi

after=$(q "$old" "$recs_query")
if [ -n "$before" ] && [ "$before" = "$after" ]; then echo "ok 3 - the 0.1.0 blend serves identical recommendations after the update"
else echo "not ok 3 - the 0.1.0 blend serves identical recommendations after the update"; fi

q "$new" "CREATE EXTENSION recs" >/dev/null
cat_old=$(q "$old" "$catalog")
cat_new=$(q "$new" "$catalog")
if [ -n "$cat_new" ] && [ "$cat_old" = "$cat_new" ]; then
	echo "ok 4 - the updated catalog equals a fresh $current install ($(printf '%s\n' "$cat_new" | wc -l) objects compared)"
else
	echo "not ok 4 - the updated catalog equals a fresh $current install"
	diff <(printf '%s\n' "$cat_old") <(printf '%s\n' "$cat_new") | sed 's/^/# /' | head -20
fi

rb=$(q "$old" "SET client_min_messages = warning;
  SELECT recs.train_blend(ARRAY[recs.model_id('p'), recs.model_id('g')], 'app.watches', name => 'rb',
                          time_column => 'watched_at', negatives => 5, rerank_top => 20, activate => false)" | tail -1)
top=$(q "$old" "SELECT (params->>'rerank_top')::int FROM recs.model WHERE model_id = $rb")
if [ "$top" = 20 ]; then echo "ok 5 - a 0.2.0 re-ranking blend trains in the updated database"
else echo "not ok 5 - a 0.2.0 re-ranking blend trains in the updated database # got '$top'"; fi

n=$(q "$old" "SELECT count(*) FROM recs.recommend(100001, 7, model => $rb)")
if [ "$n" = 7 ]; then echo "ok 6 - and serves"; else echo "not ok 6 - and serves # got $n rows"; fi

# --- from 0.2.0 (the last release): a trainer role, models, then the update ---
dropdb --if-exists "$mid" >/dev/null 2>&1; createdb "$mid"
q "$mid" "SET client_min_messages = warning; CREATE EXTENSION recs VERSION '0.2.0';
  DROP ROLE IF EXISTS recs_upgrade_trainer; CREATE ROLE recs_upgrade_trainer;
  SELECT recs.grant_access('recs_upgrade_trainer', training => true);
  DROP ROLE IF EXISTS recs_upgrade_app; CREATE ROLE recs_upgrade_app;
  SELECT recs.grant_access('recs_upgrade_app');
  SELECT count(*) FROM recs.generate_sample('app', 300, 50, 9);
  GRANT USAGE ON SCHEMA app TO recs_upgrade_trainer; GRANT SELECT ON ALL TABLES IN SCHEMA app TO recs_upgrade_trainer;
  CREATE VIEW app.early_watches AS SELECT * FROM app.watches WHERE watched_at < '2025-10-01';
  CREATE VIEW app.early_impressions AS SELECT * FROM app.impressions WHERE shown_at < '2025-10-01';
  SELECT recs.train_popularity('app.early_watches', 'app.learners', name => 'p', through => '2025-09-30');
  SELECT recs.train_glmix('app.early_impressions', 'app.learners', 'app.courses', '{segment,language}',
                          '{topic,language}', name => 'g', activate => false);
  SELECT recs.train_blend(ARRAY[recs.model_id('p'), recs.model_id('g')], 'app.impressions', 'app.learners',
                          name => 'b');" >/dev/null
before=$(q "$mid" "$recs_query")
if q "$mid" "ALTER EXTENSION recs UPDATE" >/dev/null 2>/tmp/recs_upgrade.err \
	&& [ "$(q "$mid" "SELECT extversion FROM pg_extension WHERE extname = 'recs'")" = "$current" ]; then
	echo "ok 7 - ALTER EXTENSION recs UPDATE from 0.2.0 to $current"
else
	echo "not ok 7 - ALTER EXTENSION recs UPDATE from 0.2.0 to $current"; sed 's/^/# /' /tmp/recs_upgrade.err
fi
after=$(q "$mid" "$recs_query")
if [ -n "$before" ] && [ "$before" = "$after" ]; then echo "ok 8 - the 0.2.0 blend serves identical recommendations after the update"
else echo "not ok 8 - the 0.2.0 blend serves identical recommendations after the update"; fi
tokens=$(q "$mid" "SELECT count(DISTINCT cache_token) = count(*) FROM recs.model")
if [ "$tokens" = t ]; then echo "ok 9 - every model updated from 0.2.0 has its own cache token"
else echo "not ok 9 - every model updated from 0.2.0 has its own cache token"; fi
g2=$(q "$mid" "SET client_min_messages = warning; SET ROLE recs_upgrade_trainer;
  SELECT recs.train_glmix('app.impressions', 'app.learners', 'app.courses', '{segment}', '{topic}',
                          name => 'g2', activate => false) IS NOT NULL" | tail -1)
if [ "$g2" = t ]; then echo "ok 10 - a role given training rights under 0.2.0 still trains GLMix"
else echo "not ok 10 - a role given training rights under 0.2.0 still trains GLMix # got '$g2'"; fi
app=$(q "$mid" "SET ROLE recs_upgrade_app; SELECT count(*) FROM recs.recommend(100001, 5)" | tail -1)
if [ "$app" = 5 ]; then echo "ok 11 - a role given serving access under 0.2.0 still serves"
else echo "not ok 11 - a role given serving access under 0.2.0 still serves # got '$app'"; fi
if q "$mid" "SET ROLE recs_upgrade_app; SELECT count(*) FROM recs.model_learner" >/dev/null 2>&1; then
	echo "not ok 12 - and may no longer read the learners' histories"
else echo "ok 12 - and may no longer read the learners' histories"; fi
# (the roles' grants aside, which revoke_access takes back)
q "$mid" "SELECT recs.revoke_access('recs_upgrade_trainer'); SELECT recs.revoke_access('recs_upgrade_app')" >/dev/null
cat_mid=$(q "$mid" "$catalog")
if [ "$cat_mid" = "$cat_new" ]; then echo "ok 13 - the catalog updated from 0.2.0 equals a fresh $current install"
else
	echo "not ok 13 - the catalog updated from 0.2.0 equals a fresh $current install"
	diff <(printf '%s\n' "$cat_mid") <(printf '%s\n' "$cat_new") | sed 's/^/# /' | head -20
fi
