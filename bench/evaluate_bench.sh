#!/usr/bin/env bash
# bench/evaluate_bench.sh -- every model kind on the ML-100K splits with
# recs.evaluate(), side by side with the peers run in the same script.
#
# Usage: bash bench/evaluate_bench.sh [SPLIT_DIR] [EPOCHS, default 20]
#
# Part 1, the protocol's tasks (PROTOCOL.md b and c), models trained on the
# training files: ItemPop (a popularity model with an unbounded window and no
# smoothing), the two-tower NCF on time_train (time-split Recall@10 and
# NDCG@10, full ranking) and GLMix on clicks_train (AUC and log-loss on
# clicks_test); peers: baselines.py (ItemPop, ItemKNN) and glmix_py.py.
#
# Part 2, the blend: a blend must learn on data its components have not
# seen, so the components are trained again on the training data before an
# inner cut (the 85th percentile of time_train), the blend on clicks_train
# rows after it (label = rating >= 4, the click task's definition) -- and
# two ranking blends of NCF and GLMix on the time_train watches after it
# with 20 sampled negatives per watch: one ranking the whole catalogue, one
# re-ranking NCF's 200 best courses (negatives drawn from them) -- and the
# blends and their components are evaluated on the same test files.
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"
SPLIT=$(cd "${1:-$RECS_ROOT/../shared/data/ml-100k-splits}" && pwd)
EPOCHS=${2:-20}
PEERS=$(cd "$RECS_ROOT/../shared/peers" && pwd)

recs_ensure_packages
recs_build_install
recs_start_cluster
export PGDATABASE=recs_eval
createdb "$PGDATABASE"
out=$(mktemp -d)
trap 'rm -rf "$out"; recs_stop_cluster' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

echo "uptime before: $(uptime)"
q <<SQL >/dev/null
SET client_min_messages = warning;
CREATE EXTENSION recs;
CREATE SCHEMA ml;
CREATE TABLE ml.time_train (learner_id bigint, course_id bigint, ts bigint, rating int);
CREATE TABLE ml.time_test (LIKE ml.time_train);
CREATE TABLE ml.clicks_train (learner_id bigint, course_id bigint, ts bigint, label integer);
CREATE TABLE ml.clicks_test (LIKE ml.clicks_train);
CREATE TABLE ml.learners (learner_id bigint PRIMARY KEY, gender text, age_bucket text, occupation text);
CREATE TABLE ml.courses_tsv (course_id bigint PRIMARY KEY, decade text, genres text);
\copy ml.time_train FROM '$SPLIT/time_train.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.time_test FROM '$SPLIT/time_test.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.clicks_train FROM '$SPLIT/clicks_train.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.clicks_test FROM '$SPLIT/clicks_test.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.learners FROM '$SPLIT/learners.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.courses_tsv FROM '$SPLIT/courses.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
CREATE TABLE ml.courses AS SELECT course_id, decade, string_to_array(genres, ',') AS genres FROM ml.courses_tsv;
-- every interaction is a watch (no watch time: a constant above the threshold)
CREATE VIEW ml.watches AS SELECT learner_id, course_id, to_timestamp(ts) AS watched_at, 3600.0::float8 AS watch_seconds FROM ml.time_train;
CREATE VIEW ml.impressions AS SELECT learner_id, course_id, to_timestamp(ts) AS shown_at, label = 1 AS clicked, false AS bookmarked FROM ml.clicks_train;
CREATE VIEW ml.test_pairs AS SELECT learner_id, course_id FROM ml.time_test;
CREATE VIEW ml.test_clicks AS SELECT learner_id, course_id, label AS clicked FROM ml.clicks_test;
CREATE TABLE ml.cut AS SELECT to_timestamp(percentile_disc(0.85) WITHIN GROUP (ORDER BY ts)) AS t FROM ml.time_train;
CREATE VIEW ml.watches_inner AS SELECT w.* FROM ml.watches w, ml.cut WHERE w.watched_at < cut.t;
CREATE VIEW ml.impressions_inner AS SELECT i.* FROM ml.impressions i, ml.cut WHERE i.shown_at < cut.t;
SQL

# train NAME SQL -> model id; seconds in $out/NAME.s
train() {
	local t0 t1 id
	t0=$(date +%s.%N)
	id=$(q -At -c "SET client_min_messages = warning" -c "SET recs.memory_limit = '2GB'" -c "$2" | tail -1)
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }' >"$out/$1.s"
	echo "$id"
}
glmix_sql() { # relation name
	echo "SELECT recs.train_glmix('$1', 'ml.learners', 'ml.courses', '{gender,age_bucket,occupation}', '{genres,decade}',
	      name => '$2', l2 => '{300,10,10}', passes => 3, activate => false)"
}
ncf_sql() {
	echo "SELECT recs.train_ncf('$1', '$2', courses => 'ml.courses', epochs => $EPOCHS, threads => 2, seed => 2020, activate => false)"
}
pop_sql() {
	echo "SELECT recs.train_popularity('$1', name => '$2', window_days => 100000, smoothing => 0, min_watch_seconds => 0, activate => false)"
}
ev() { # model protocol relation -> json
	q -At -c "SELECT recs.evaluate($1, '$3', 10, '$2')"
}
j() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print('%.4f' % d['$2'] if d.get('$2') is not None else '-')" "$1"; }

pop=$(train pop "$(pop_sql ml.watches itempop)")
ncf=$(train ncf "$(ncf_sql ml.watches ncf)")
glm=$(train glmix "$(glmix_sql ml.impressions glmix)")
ipop=$(train ipop "$(pop_sql ml.watches_inner itempop_inner)")
incf=$(train incf "$(ncf_sql ml.watches_inner ncf_inner)")
iglm=$(train iglmix "$(glmix_sql ml.impressions_inner glmix_inner)")
blend=$(train blend "SELECT recs.train_blend(ARRAY[$incf, $iglm, $ipop], 'ml.impressions', 'ml.learners',
                      name => 'blend', activate => false)")
rblend=$(train rblend "SELECT recs.train_blend(ARRAY[$incf, $iglm], 'ml.watches', 'ml.learners',
                      name => 'ranking_blend', time_column => 'watched_at', negatives => 20, rerank_top => 200,
                      l2 => '{1,1000}', activate => false)")
ublend=$(train ublend "SELECT recs.train_blend(ARRAY[$incf, $iglm], 'ml.watches', 'ml.learners',
                      name => 'ranking_blend_whole', time_column => 'watched_at', negatives => 20,
                      l2 => '{1,1000}', activate => false)")

# peers, same split files, same run
/usr/bin/python3 "$PEERS/baselines.py" --split-dir "$SPLIT" --models pop,knn --splits time --threads 2 \
	2>"$out/baselines.log" | tail -1 >"$out/baselines.json"
/usr/bin/python3 "$PEERS/glmix_py.py" --split-dir "$SPLIT" --threads 2 2>"$out/glmix_py.log" | tail -1 >"$out/glmix_py.json" || true

row() { # label model
	local f r
	f=$(ev "$2" full ml.test_pairs)
	r=$(ev "$2" response ml.test_clicks)
	printf '| %s | %s | %s | %s | %s | %s | %.1f |\n' "$1" "$(j "$f" recall)" "$(j "$f" ndcg)" "$(j "$f" coverage)" \
		"$(j "$r" auc)" "$(j "$r" logloss)" "$(cat "$out/$3.s")"
}
echo
echo "Part 1: models trained on the training files (time split: Recall@10, NDCG@10, coverage; click task: AUC, log-loss)"
echo "| model | Recall@10 | NDCG@10 | coverage | click AUC | click log-loss | train s |"
echo "|---|---|---|---|---|---|---|"
row "recs ItemPop (popularity)" "$pop" pop
row "recs NCF ($EPOCHS epochs)" "$ncf" ncf
row "recs GLMix (fixed+learner+course)" "$glm" glmix
python3 - "$out/baselines.json" "$out/glmix_py.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print("| peer ItemPop | %.4f | %.4f | - | - | - | %.1f |" % (b["pop"]["time"]["recall10"], b["pop"]["time"]["ndcg10"], b["pop"]["time"]["fit_s"]))
print("| peer ItemKNN | %.4f | %.4f | - | - | - | %.1f |" % (b["knn"]["time"]["recall10"], b["knn"]["time"]["ndcg10"], b["knn"]["time"]["fit_s"]))
try:
    g = json.load(open(sys.argv[2]))["fixed_learner_course"]
    print("| peer GLMix (glmix_py.py) | - | - | - | %.4f | %.4f | %.1f |" % (g["auc"], g["logloss"], g["train_s"]))
except Exception as e:
    print("| peer GLMix | (did not run: %s) |" % e)
PY
echo "(peer NCF: bench/ncf_bench.sh runs ncf_torch.py on the same split)"
echo
echo "Part 2: the blend and its components, trained before the inner cut $(q -At -c 'SELECT t FROM ml.cut'); blend on clicks_train after it"
echo "| model | Recall@10 | NDCG@10 | coverage | click AUC | click log-loss | train s |"
echo "|---|---|---|---|---|---|---|"
row "ItemPop before the cut" "$ipop" ipop
row "NCF before the cut" "$incf" incf
row "GLMix before the cut" "$iglm" iglmix
row "blend on clicks (global + per learner)" "$blend" blend
row "blend of NCF + GLMix on watches, ranking the whole catalogue" "$ublend" ublend
row "blend of NCF + GLMix on watches, re-ranking NCF's top 200" "$rblend" rblend
echo
echo "uptime after: $(uptime)"
