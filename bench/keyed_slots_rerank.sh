#!/usr/bin/env bash
# bench/keyed_slots_rerank.sh -- the cost of two 0.4.0 serving changes, on
# generated data (no external data):
#   1. slot => on the uuid and text overloads: N recommend() calls by uuid
#      key with model =>, with slot => 'default' and with slot => another
#      slot, next to the same calls by bigint id;
#   2. a re-ranking blend's monotone scores: N recs.score() and recommend()
#      calls on a blend with rerank_top => 50 and on the same blend without
#      it (the shift's extra pool selection is the difference).
# Each figure is the best of three runs of a DO loop, in ms per 1,000 calls.
# Usage: bash bench/keyed_slots_rerank.sh [N calls, default 5000]
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
n=${1:-5000}
recs_ensure_packages
recs_build_install
recs_start_cluster
export PGDATABASE=recs_bench_keyed
trap 'recs_stop_cluster' EXIT
createdb "$PGDATABASE"
q() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
uptime
q "SET client_min_messages = warning; CREATE EXTENSION recs;
   SELECT count(*) FROM recs.generate_sample('kb', 2000, 300, 7);
   CREATE FUNCTION kb.u(id bigint) RETURNS uuid LANGUAGE sql IMMUTABLE STRICT
       AS \$\$ SELECT (lpad(to_hex(id), 12, '0') || substr(md5(id::text), 1, 20))::uuid \$\$;
   CREATE VIEW kb.u_watches AS SELECT kb.u(learner_id) AS learner_id, kb.u(course_id) AS course_id,
       watched_at, watch_seconds FROM kb.watches;
   SELECT recs.train_ncf('kb.watches', 'kb_ncf', courses => 'kb.courses', epochs => 5, threads => 2, activate => false);
   SELECT recs.train_ncf('kb.u_watches', 'kb_ncf_u', epochs => 5, threads => 2, activate => false);
   SELECT recs.activate(recs.model_id('kb_ncf_u')), recs.activate(recs.model_id('kb_ncf_u'), 'b');
   CREATE VIEW kb.w_early AS SELECT * FROM kb.watches WHERE watched_at < '2025-09-01';
   CREATE VIEW kb.i_early AS SELECT * FROM kb.impressions WHERE shown_at < '2025-09-01';
   SELECT recs.train_ncf('kb.w_early', 'kb_ncf_early', courses => 'kb.courses', epochs => 5, threads => 2, activate => false);
   SELECT recs.train_glmix('kb.i_early', 'kb.learners', 'kb.courses', '{industry,segment}', '{topic}',
                           name => 'kb_glmix', activate => false);
   SELECT recs.train_blend(ARRAY[recs.model_id('kb_ncf_early'), recs.model_id('kb_glmix')], 'kb.watches',
                           name => 'kb_rerank', time_column => 'watched_at', negatives => 5, rerank_top => 50,
                           activate => false);
   SELECT recs.train_blend(ARRAY[recs.model_id('kb_ncf_early'), recs.model_id('kb_glmix')], 'kb.watches',
                           name => 'kb_whole', time_column => 'watched_at', negatives => 5, activate => false);" >/dev/null

# best of three: ms per 1,000 calls of a statement over learner l = 100001 + i % 2000
per1000() {
	local best=
	for _ in 1 2 3; do
		local ms
		ms=$(q "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
		          FOR i IN 1..$n LOOP $1; END LOOP;
		          RAISE NOTICE 'ms %', 1000 * extract(epoch FROM clock_timestamp() - t0);
		        END \$\$" 2>&1 | sed -n 's/.*ms \([0-9.]*\).*/\1/p')
		if [ -z "$best" ] || awk "BEGIN{exit !($ms < $best)}"; then best=$ms; fi
	done
	awk "BEGIN{printf \"%.1f\", $best * 1000 / $n}"
}
nb=$(q "SELECT recs.model_id('kb_ncf')")
nu=$(q "SELECT recs.model_id('kb_ncf_u')")
rr=$(q "SELECT recs.model_id('kb_rerank')")
wh=$(q "SELECT recs.model_id('kb_whole')")
echo "ms per 1,000 calls (best of 3 x $n)"
echo "recommend(bigint, 10, model => ncf)           $(per1000 "PERFORM * FROM recs.recommend(100001 + i % 2000, 10, model => $nb)")"
echo "recommend(uuid, 10, model => ncf_u)           $(per1000 "PERFORM * FROM recs.recommend(kb.u(100001 + i % 2000), 10, model => $nu)")"
echo "recommend(uuid, 10, slot => 'default')        $(per1000 "PERFORM * FROM recs.recommend(kb.u(100001 + i % 2000), 10, slot => 'default')")"
echo "recommend(uuid, 10, slot => 'b')              $(per1000 "PERFORM * FROM recs.recommend(kb.u(100001 + i % 2000), 10, slot => 'b')")"
echo "score(whole-catalogue blend)                  $(per1000 "PERFORM recs.score($wh, 100001 + i % 2000, 1 + i % 300)")"
echo "score(re-ranking blend, rerank_top 50)        $(per1000 "PERFORM recs.score($rr, 100001 + i % 2000, 1 + i % 300)")"
echo "recommend(whole-catalogue blend, 10)          $(per1000 "PERFORM * FROM recs.recommend(100001 + i % 2000, 10, model => $wh)")"
echo "recommend(re-ranking blend, 10)               $(per1000 "PERFORM * FROM recs.recommend(100001 + i % 2000, 10, model => $rr)")"
