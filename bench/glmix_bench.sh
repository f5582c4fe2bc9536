#!/usr/bin/env bash
# bench/glmix_bench.sh -- GLMix in recs against the Python GLMix peer, same split, one run.
#
#   bench/glmix_bench.sh [SPLIT_DIR] [THREADS]
#
# SPLIT_DIR defaults to ../shared/data/ml-100k-splits (relative to the repository);
# THREADS (default 1) is recs' threads option (the peer runs with its default, 2).
#
# Part 1, the click task of PROTOCOL.md section c: loads clicks_train, clicks_test,
# learners and courses into a throwaway cluster, trains recs.train_glmix with the
# peer's features (learner gender/age_bucket/occupation one-hot, course genres
# multi-hot and decade one-hot, learner x genre crosses), L2 300/10/10 and 3 passes
# -- fixed only, fixed + per-learner, fixed + per-learner + per-course -- scores
# clicks_test with recs.glmix_logit, computes AUC and log-loss exactly as the
# protocol says (sklearn roc_auc_score / log_loss), runs glmix_py.py on the same
# split, and prints both side by side with the speed ratio.
#
# Part 2, watch-time weighting on the sample data (the LinkedIn blog's figure 6):
# the same model trained with weighting 'none' and 'watch_time' on the first 80%
# of the sample impressions; on the later 20%, how well each ranks long-watch
# clicks above short-watch ones, and the click AUC of both.
#
# Part 3, match features on the click task: the learner's past genres (the three
# genres they watched most in clicks_train, whatever the label) against the
# course's genres, 'past_genres~genres' (a match-only column: no main effects),
# added to part 1's full model; trained next to the same model without it and
# beside the peer's full model in the same run.
#
# Part 4, training-period statistics as features (the winning variant): the
# course's mean training rating (shrunk towards the global mean by 5
# pseudo-ratings; the ratings of time_train.tsv, which are clicks_train's rows),
# its popularity, its click rate, the learner's activity, the past-genres
# match and l2_auto -- each added to part 1's full model, every feature built
# from the fitting rows only.  Each variant is run twice: on the validation
# split of PROTOCOL.md (clicks_train cut at its own 90th percentile time:
# features and fit from the earlier rows, AUC on the later), which picks the
# winner, and on the test split; the peer's full model runs in the same run.
# GLMIX_BENCH_PARTS=1, 2, 3, 4 or a combination ("14") runs those parts only.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../scripts/cluster.sh"
SPLIT=${1:-$here/../../shared/data/ml-100k-splits}
SPLIT=$(cd "$SPLIT" && pwd)
THREADS=${2:-1}
PARTS=${GLMIX_BENCH_PARTS:-1234}	# "1": click task, "2": watch-time figure, "3": matches, "4": statistics
PEER=${GLMIX_PEER:-$here/../../shared/peers/glmix_py.py}
PY=/usr/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"; recs_stop_cluster' EXIT

recs_ensure_packages
recs_build_install
recs_start_cluster
db=recs_glmix_bench
if [ "$RECS_EXISTING_SERVER" = 0 ]; then createdb "$db"; else db=$PGDATABASE; fi
q() { psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"; }
q -c 'DROP EXTENSION IF EXISTS recs CASCADE' -c 'CREATE EXTENSION recs'

if [[ $PARTS == *[134]* ]]; then
recs_log "loading $SPLIT"
q <<SQL
DROP SCHEMA IF EXISTS ml CASCADE;
CREATE SCHEMA ml;
CREATE TABLE ml.clicks_train (learner_id bigint, course_id bigint, ts bigint, label integer);
CREATE TABLE ml.clicks_test (LIKE ml.clicks_train);
CREATE TABLE ml.learners (learner_id bigint PRIMARY KEY, gender text, age_bucket text, occupation text);
CREATE TABLE ml.courses_tsv (course_id bigint PRIMARY KEY, decade text, genres text);
\copy ml.clicks_train FROM '$SPLIT/clicks_train.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.clicks_test FROM '$SPLIT/clicks_test.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.learners FROM '$SPLIT/learners.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
\copy ml.courses_tsv FROM '$SPLIT/courses.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
-- the genres list becomes a multi-hot text[] column
CREATE TABLE ml.courses AS
SELECT course_id, decade, string_to_array(genres, ',') AS genres FROM ml.courses_tsv;
VACUUM ANALYZE;
SQL
fi

if [[ $PARTS == *1* ]]; then
# one training: name, random effects, passes -> prints "model_id seconds"
train() {
	local name=$1 re=$2 passes=$3
	q -At 2>"$out/$name.log" <<SQL | awk '/^Time:/ {t=$2/1000} /^[0-9]+$/ {id=$1} END {print id, t}'
\timing on
SELECT recs.train_glmix('ml.clicks_train', 'ml.learners', 'ml.courses',
    '{gender,age_bucket,occupation}', '{genres,decade}',
    name => '$name', click_column => 'label', random_effects => '$re',
    l2 => (SELECT array_agg(x) FROM unnest('{300,10,10}'::float8[]) WITH ORDINALITY u(x, i)
            WHERE i <= 1 + cardinality('$re'::text[])),
    passes => $passes, threads => $THREADS);
SQL
}

uptime_before=$(cut -d' ' -f1-3 /proc/loadavg)
recs_log "training recs (threads $THREADS)"
read -r m_fixed t_fixed < <(train fixed '{}' 1)
read -r m_learner t_learner < <(train fixed_learner '{learner_id}' 3)
read -r m_full t_full < <(train fixed_learner_course '{learner_id,course_id}' 3)
grep -h "NOTICE" "$out"/fixed_learner_course.log | sed 's/^psql:<stdin>:[0-9]*: //' >&2 || true

q -At -c "SELECT name || ' ' || (metrics->'seconds')::text FROM recs.model WHERE kind = 'glmix'" >"$out/phases.txt"
for m in fixed:$m_fixed fixed_learner:$m_learner fixed_learner_course:$m_full; do
	q -c "\\copy (SELECT t.label, recs.glmix_logit(${m#*:}, t.learner_id, t.course_id),
	          EXISTS (SELECT 1 FROM ml.clicks_train r WHERE r.learner_id = t.learner_id)
	          FROM ml.clicks_test t) TO '$out/${m%%:*}.scores' WITH (FORMAT csv)"
done

recs_log "running the peer: $PEER"
(cd "$(dirname "$PEER")" && $PY "$PEER" --split-dir "$SPLIT" --no-sklearn) >"$out/peer.json" 2>"$out/peer.log"
uptime_after=$(cut -d' ' -f1-3 /proc/loadavg)

$PY - "$out" "$t_fixed" "$t_learner" "$t_full" "$THREADS" "$uptime_before" "$uptime_after" <<'PY'
import json, sys
import numpy as np
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score
out, tf, tl, tfull, threads, load0, load1 = sys.argv[1:]
times = {"fixed": float(tf), "fixed_learner": float(tl), "fixed_learner_course": float(tfull)}
peer = json.loads(open(f"{out}/peer.json").read().strip().splitlines()[-1])
print()
print(f"GLMix click task ({peer['n_train']} train / {peer['n_test']} test rows), "
      f"L2 300/10/10, 3 passes; recs threads={threads}, peer threads={peer['threads']}")
print(f"load average before {load0}, after {load1}")
hdr = ("model", "AUC recs", "AUC peer", "logloss recs", "logloss peer",
       "AUC warm recs", "AUC warm peer", "train s recs", "train s peer", "speed-up")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for key in ("fixed", "fixed_learner", "fixed_learner_course"):
    d = np.genfromtxt(f"{out}/{key}.scores", delimiter=",", dtype=None, encoding=None)
    y = np.array([r[0] for r in d], dtype=float)
    z = np.array([r[1] for r in d], dtype=float)
    warm = np.array([r[2] in ("t", True) for r in d])
    p = expit(z)
    auc, ll = roc_auc_score(y, p), log_loss(y, p)
    aucw = roc_auc_score(y[warm], p[warm])
    pr = peer[key]
    print(f"| {key} | {auc:.4f} | {pr['auc']:.4f} | {ll:.4f} | {pr['logloss']:.4f} | "
          f"{aucw:.4f} | {pr['auc_warm_learner']:.4f} | {times[key]:.3f} | {pr['train_s']:.3f} | "
          f"{pr['train_s'] / times[key]:.1f}x |")
print("recs train s = wall time of the whole SELECT recs.train_glmix(...) (read, stage, fit, store);")
print("peer train s = glmix_py.py's train_s (coordinate setup + fit, data already in memory;")
print(f"  its file reading and feature building, setup_s = {peer['setup_s']:.3f} s, come on top).")
print("recs phases (s): " + "; ".join(
    f"{l.split(' ', 1)[0]} {', '.join(f'{k} {v:.3f}' for k, v in json.loads(l.split(' ', 1)[1]).items())}"
    for l in open(f"{out}/phases.txt").read().split(chr(10)) if l.strip()))
PY

fi

# ---- part 3: match features on the click task ---------------------------------------
if [[ $PARTS == *3* ]]; then
recs_log "matches: the learner's past genres against the course's genres"
q <<'SQL'
-- a learner's past genres: the 3 genres of most of their clicks_train rows (labels unused)
ALTER TABLE ml.learners ADD COLUMN IF NOT EXISTS past_genres text[];
UPDATE ml.learners l SET past_genres = (
  SELECT array_agg(g ORDER BY g) FROM (
    SELECT g FROM ml.clicks_train t JOIN ml.courses c USING (course_id), unnest(c.genres) g
     WHERE t.learner_id = l.learner_id GROUP BY g ORDER BY count(*) DESC, g LIMIT 3) q);
VACUUM ANALYZE ml.learners;
SQL
train3() {
	local name=$1 crosses=$2
	q -At 2>"$out/$name.log" <<SQL | awk '/^Time:/ {t=$2/1000} /^[0-9]+$/ {id=$1} END {print id, t}'
\timing on
SELECT recs.train_glmix('ml.clicks_train', 'ml.learners', 'ml.courses',
    '{gender,age_bucket,occupation}', '{genres,decade}',
    name => '$name', click_column => 'label', random_effects => '{learner_id,course_id}',
    l2 => '{300,10,10}', passes => 3, threads => $THREADS, crosses => '$crosses', activate => false);
SQL
}
load3_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r m3_base t3_base < <(train3 m3_without '{gender:genres,age_bucket:genres,occupation:genres}')
read -r m3_match t3_match < <(train3 m3_past_genres '{gender:genres,age_bucket:genres,occupation:genres,past_genres~genres}')
for m in without:$m3_base past_genres:$m3_match; do
	q -c "\\copy (SELECT t.label, recs.glmix_logit(${m#*:}, t.learner_id, t.course_id),
	          EXISTS (SELECT 1 FROM ml.clicks_train r WHERE r.learner_id = t.learner_id)
	          FROM ml.clicks_test t) TO '$out/m3_${m%%:*}.scores' WITH (FORMAT csv)"
done
q -At -c "SELECT feature || ' ' || round(coef::numeric, 4) FROM recs.glmix_coefficients
          WHERE model_id = $m3_match AND coordinate = 'fixed' AND feature ~ '^(overlap|jaccard)\\('" >"$out/m3_coef.txt"
recs_log "running the peer's full model: $PEER"
(cd "$(dirname "$PEER")" && $PY "$PEER" --split-dir "$SPLIT" --no-sklearn --configs fixed_learner_course) \
	>"$out/peer3.json" 2>"$out/peer3.log"
load3_after=$(cut -d' ' -f1-3 /proc/loadavg)
$PY - "$out" "$t3_base" "$t3_match" "$THREADS" "$load3_before" "$load3_after" <<'PY'
import json, sys
import numpy as np
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score
out, tb, tm, threads, load0, load1 = sys.argv[1:]
peer = json.loads(open(f"{out}/peer3.json").read().strip().splitlines()[-1])["fixed_learner_course"]
print()
print(f"GLMix click task with a match feature: past_genres~genres (a learner's 3 most-watched genres "
      f"in clicks_train vs the course's genres); full model, L2 300/10/10, 3 passes, recs threads={threads}")
print(f"load average before {load0}, after {load1}")
hdr = ("model", "AUC", "logloss", "AUC warm", "AUC cold", "train s", "peer train s", "speed-up")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for key, t in (("without", tb), ("past_genres", tm)):
    d = np.genfromtxt(f"{out}/m3_{key}.scores", delimiter=",", dtype=None, encoding=None)
    y = np.array([r[0] for r in d], dtype=float)
    p = expit(np.array([r[1] for r in d], dtype=float))
    warm = np.array([r[2] in ("t", True) for r in d])
    print(f"| recs {key} | {roc_auc_score(y, p):.4f} | {log_loss(y, p):.4f} | "
          f"{roc_auc_score(y[warm], p[warm]):.4f} | {roc_auc_score(y[~warm], p[~warm]):.4f} | "
          f"{float(t):.3f} | {peer['train_s']:.3f} | {peer['train_s'] / float(t):.1f}x |")
print(f"| peer (no match) | {peer['auc']:.4f} | {peer['logloss']:.4f} | {peer['auc_warm_learner']:.4f} | | "
      f"{peer['train_s']:.3f} | | |")
print("match coefficients: " + "; ".join(l for l in open(f"{out}/m3_coef.txt").read().split(chr(10)) if l))
PY
fi

# ---- part 4: training-period statistics as features; the winning variant ----------
if [[ $PARTS == *4* ]]; then
recs_log "statistics of the training period as features"
q <<SQL
CREATE TABLE ml.time_train (learner_id bigint, course_id bigint, ts bigint, rating integer);
\copy ml.time_train FROM '$SPLIT/time_train.tsv' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, QUOTE E'\x01')
SQL
# time_train holds clicks_train's rows with their 1-5 rating (label = rating >= 4)
q -At -c "SELECT (SELECT count(*) FROM ml.clicks_train) = (SELECT count(*) FROM ml.time_train)
             AND NOT EXISTS (SELECT 1 FROM ml.clicks_train c FULL JOIN
                               (SELECT DISTINCT * FROM ml.time_train) r USING (learner_id, course_id, ts)
                              WHERE r.rating IS NULL OR c.label IS NULL OR c.label <> (r.rating >= 4)::int)" \
	| grep -qx t || { echo "time_train.tsv is not clicks_train.tsv's rows with ratings" >&2; exit 1; }
# stage valid: fit on clicks_train before its own 90th percentile time, evaluate on the rest
# (PROTOCOL.md's click validation); stage test: fit on clicks_train, evaluate on clicks_test.
# Every statistic is computed from the stage's fitting rows only.
q <<'SQL'
CREATE TABLE ml.vcut AS SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY ts) AS t FROM ml.clicks_train;
CREATE VIEW ml.fit_valid AS SELECT c.*, r.rating FROM ml.clicks_train c JOIN ml.time_train r USING (learner_id, course_id, ts)
 WHERE c.ts < (SELECT t FROM ml.vcut);
CREATE VIEW ml.eval_valid AS SELECT * FROM ml.clicks_train WHERE ts >= (SELECT t FROM ml.vcut);
CREATE VIEW ml.fit_test AS SELECT c.*, r.rating FROM ml.clicks_train c JOIN ml.time_train r USING (learner_id, course_id, ts);
CREATE VIEW ml.eval_test AS SELECT * FROM ml.clicks_test;
CREATE FUNCTION pg_temp.stage_tables(stage text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  -- learners: activity = ln(1 + fitting rows), past_genres = 3 most-watched genres (labels unused)
  EXECUTE format($q$
    CREATE TABLE ml.learners_%1$s AS
    SELECT l.*, ln(1 + coalesce(n.n, 0))::float8 AS activity,
           (SELECT array_agg(g ORDER BY g) FROM (
              SELECT g FROM ml.fit_%1$s t JOIN ml.courses c USING (course_id), unnest(c.genres) g
               WHERE t.learner_id = l.learner_id GROUP BY g ORDER BY count(*) DESC, g LIMIT 3) q) AS past_genres
      FROM ml.learners l LEFT JOIN (SELECT learner_id, count(*) AS n FROM ml.fit_%1$s GROUP BY 1) n USING (learner_id)$q$, stage);
  -- courses: mean rating and click rate shrunk towards the global means by 5 pseudo-rows
  -- (a course without fitting rows gets the global mean), popularity ln(1 + rows)
  EXECUTE format($q$
    CREATE TABLE ml.courses_%1$s AS
    SELECT c.*, ((coalesce(s.r, 0) + 5 * g.r) / (coalesce(s.n, 0) + 5))::float8 AS mean_rating,
           ((coalesce(s.y, 0) + 5 * g.y) / (coalesce(s.n, 0) + 5))::float8 AS click_rate,
           ln(1 + coalesce(s.n, 0))::float8 AS log_pop
      FROM ml.courses c
      LEFT JOIN (SELECT course_id, count(*) AS n, sum(rating) AS r, sum(label) AS y FROM ml.fit_%1$s GROUP BY 1) s USING (course_id),
           (SELECT avg(rating) AS r, avg(label) AS y FROM ml.fit_%1$s) g$q$, stage);
END $$;
DO $$ BEGIN PERFORM pg_temp.stage_tables('valid'); PERFORM pg_temp.stage_tables('test'); END $$;
VACUUM ANALYZE;
SQL
# variant name | extra learner features | extra course features | extra crosses | extra options
variants=(
	"base|||"
	"mean_rating||,mean_rating||"
	"mean_rating+log_pop||,mean_rating,log_pop||"
	"click_rate||,click_rate||"
	"activity|,activity|||"
	"mean_rating+past_genres~genres||,mean_rating|,past_genres~genres|"
	"mean_rating+l2_auto||,mean_rating||, l2_auto => true, time_column => 'ts'"
)
train4() {
	local stage=$1 v=$2 name lf cf cr extra
	IFS='|' read -r name lf cf cr extra <<<"$v"
	q -At 2>"$out/m4_${stage}_$name.log" <<SQL | awk '/^Time:/ {t=$2/1000} /^[0-9]+$/ {id=$1} END {print id, t}'
\timing on
SELECT recs.train_glmix('ml.fit_$stage', 'ml.learners_$stage', 'ml.courses_$stage',
    '{gender,age_bucket,occupation$lf}', '{genres,decade$cf}',
    name => 'm4_${stage}_$name', click_column => 'label', random_effects => '{learner_id,course_id}',
    l2 => '{300,10,10}', passes => 3, threads => $THREADS, activate => false,
    crosses => '{gender:genres,age_bucket:genres,occupation:genres$cr}'$extra);
SQL
}
load4_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$out/m4_index.txt"
for stage in valid test; do
	for v in "${variants[@]}"; do
		name=${v%%|*}
		read -r mid secs < <(train4 "$stage" "$v")
		[ -n "$mid" ] || { cat "$out/m4_${stage}_$name.log" >&2; exit 1; }
		q -c "\\copy (SELECT t.label, recs.glmix_logit($mid, t.learner_id, t.course_id),
		          EXISTS (SELECT 1 FROM ml.fit_$stage r WHERE r.learner_id = t.learner_id)
		          FROM ml.eval_$stage t) TO '$out/m4_${stage}_$name.scores' WITH (FORMAT csv)"
		l2=$(q -At -c "SELECT params->>'l2' FROM recs.model WHERE model_id = $mid")
		echo "$stage|$name|$secs|$l2" >>"$out/m4_index.txt"
	done
done
recs_log "running the peer's full model: $PEER"
(cd "$(dirname "$PEER")" && $PY "$PEER" --split-dir "$SPLIT" --no-sklearn --configs fixed_learner_course) \
	>"$out/peer4.json" 2>"$out/peer4.log"
(cd "$(dirname "$PEER")" && $PY "$PEER" --split-dir "$SPLIT" --no-sklearn --configs fixed_learner_course --valid) \
	>"$out/peer4v.json" 2>"$out/peer4v.log"
load4_after=$(cut -d' ' -f1-3 /proc/loadavg)
$PY - "$out" "$THREADS" "$load4_before" "$load4_after" <<'PY'
import json, sys
import numpy as np
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score
out, threads, load0, load1 = sys.argv[1:]
peer = json.loads(open(f"{out}/peer4.json").read().strip().splitlines()[-1])["fixed_learner_course"]
peerv = json.loads(open(f"{out}/peer4v.json").read().strip().splitlines()[-1])["fixed_learner_course"]
rows = {}
for line in open(f"{out}/m4_index.txt").read().split(chr(10)):
    if not line:
        continue
    stage, name, secs, l2 = line.split("|")
    d = np.genfromtxt(f"{out}/m4_{stage}_{name}.scores", delimiter=",", dtype=None, encoding=None)
    y = np.array([r[0] for r in d], dtype=float)
    p = expit(np.array([r[1] for r in d], dtype=float))
    warm = np.array([r[2] in ("t", True) for r in d])
    rows.setdefault(name, {})[stage] = dict(
        auc=roc_auc_score(y, p), ll=log_loss(y, p), warm=roc_auc_score(y[warm], p[warm]),
        cold=roc_auc_score(y[~warm], p[~warm]), s=float(secs), l2=l2)
best = max(rows, key=lambda k: rows[k]["valid"]["auc"])
print()
print("GLMix click task, training-period statistics as features: part 1's full model (the peer's features, "
      f"L2 300/10/10, 3 passes) plus each variant's columns; recs threads={threads}")
print("valid = fit on clicks_train before its own 90th percentile time, AUC on the rest (features from the fit rows); "
      "test = fit on clicks_train, AUC on clicks_test; the winner (*) has the best valid AUC")
print(f"load average before {load0}, after {load1}")
hdr = ("variant", "AUC valid", "AUC test", "logloss test", "AUC warm", "AUC cold", "train s", "peer train s / recs")
print("| " + " | ".join(hdr) + " |")
print("|" + "---|" * len(hdr))
for name, r in rows.items():
    v, t = r["valid"], r["test"]
    label = ("* " if name == best else "") + name + (f" (L2 chosen {t['l2']})" if "l2_auto" in name else "")
    print(f"| {label} | {v['auc']:.4f} | {t['auc']:.4f} | {t['ll']:.4f} | {t['warm']:.4f} | {t['cold']:.4f} | "
          f"{t['s']:.3f} | {peer['train_s'] / t['s']:.1f}x |")
print(f"| peer (its features) | {peerv['auc']:.4f} | {peer['auc']:.4f} | {peer['logloss']:.4f} | "
      f"{peer['auc_warm_learner']:.4f} | | {peer['train_s']:.3f} | |")
w = rows[best]["test"]["auc"]
print(f"winner {best}: test AUC {w:.4f} against the peer's {peer['auc']:.4f}; "
      f"goal AUC >= 0.735 {'reached' if w >= 0.735 else 'NOT reached'}")
PY
fi

# ---- part 2: watch-time weighting on the sample data -------------------------------
if [[ $PARTS == *2* ]]; then
recs_log "watch-time weighting on the sample data"
q -At <<'SQL' >/dev/null
SELECT count(*) FROM recs.generate_sample('wt', 2000, 300, 42);
CREATE TABLE wt.cut AS
SELECT percentile_disc(0.8) WITHIN GROUP (ORDER BY shown_at) AS t FROM wt.impressions;
CREATE VIEW wt.train AS SELECT i.* FROM wt.impressions i, wt.cut WHERE i.shown_at < cut.t;
CREATE VIEW wt.test AS SELECT i.* FROM wt.impressions i, wt.cut WHERE i.shown_at >= cut.t;
SQL
q -At -c "SET client_min_messages = warning" -c "SELECT recs.train_glmix('wt.train', 'wt.learners', 'wt.courses',
    '{industry,segment,skills}', '{topic,difficulty,skills,duration_minutes}',
    name => 'wt_channel', crosses => '{industry:topic}', random_effects => '{learner_id,course_id,channel}')" >/dev/null
for w in none watch_time; do
	q -At -c "SET client_min_messages = warning" -c "SELECT recs.train_glmix('wt.train', 'wt.learners', 'wt.courses',
	    '{industry,segment,skills}', '{topic,difficulty,skills,duration_minutes}',
	    name => 'wt_$w', weighting => '$w', crosses => '{industry:topic}')" >/dev/null
done
q -At <<'SQL'
\pset footer off
-- test clicks, scored by both models; a long watch is >= 50% of the course
CREATE TEMP TABLE s AS
SELECT t.watch_seconds / 60 AS minutes,
       t.watch_seconds >= 0.5 * c.duration_minutes * 60 AS long_watch,
       recs.glmix_logit(recs.model_id('wt_none'), t.learner_id, t.course_id) AS s_none,
       recs.glmix_logit(recs.model_id('wt_watch_time'), t.learner_id, t.course_id) AS s_wt
  FROM wt.test t JOIN wt.courses c USING (course_id)
 WHERE t.clicked AND t.watch_seconds IS NOT NULL;
\echo
\echo Watch-time weighting (sample data, 2000 learners x 300 courses, seed 42; train = first 80% of impressions by time)
SELECT format('test clicks: %s, long-watch (>= 50%% of the course): %s', count(*), count(*) FILTER (WHERE long_watch)) FROM s;
-- AUC of "long-watch click ranks above short-watch click" (Mann-Whitney, ties 1/2)
WITH r AS (
  SELECT long_watch, rank() OVER (ORDER BY s_none) AS r1, rank() OVER (ORDER BY s_wt) AS r2,
         count(*) OVER (PARTITION BY s_none) AS t1, count(*) OVER (PARTITION BY s_wt) AS t2 FROM s),
m AS (SELECT count(*) FILTER (WHERE long_watch) AS np, count(*) FILTER (WHERE NOT long_watch) AS nn,
             sum(r1 + (t1 - 1) / 2.0) FILTER (WHERE long_watch) AS sr1,
             sum(r2 + (t2 - 1) / 2.0) FILTER (WHERE long_watch) AS sr2 FROM r)
SELECT format('long-vs-short-watch click AUC (how well the score ranks long-watch clicks above short ones): weighting none %s, watch_time %s',
              round((sr1 - np * (np + 1) / 2.0) / (np * nn), 4),
              round((sr2 - np * (np + 1) / 2.0) / (np * nn), 4)) FROM m;
-- click AUC over all test impressions: what weighting costs the click model
WITH a AS (
  SELECT t.clicked,
         recs.glmix_logit(recs.model_id('wt_none'), t.learner_id, t.course_id) AS s1,
         recs.glmix_logit(recs.model_id('wt_watch_time'), t.learner_id, t.course_id) AS s2 FROM wt.test t),
r AS (SELECT clicked, rank() OVER (ORDER BY s1) + (count(*) OVER (PARTITION BY s1) - 1) / 2.0 AS r1,
             rank() OVER (ORDER BY s2) + (count(*) OVER (PARTITION BY s2) - 1) / 2.0 AS r2 FROM a),
m AS (SELECT count(*) FILTER (WHERE clicked) AS np, count(*) FILTER (WHERE NOT clicked) AS nn,
             sum(r1) FILTER (WHERE clicked) AS sr1, sum(r2) FILTER (WHERE clicked) AS sr2 FROM r)
SELECT format('click AUC (all %s test impressions): weighting none %s, watch_time %s', np + nn,
              round((sr1 - np * (np + 1) / 2.0) / (np * nn), 4),
              round((sr2 - np * (np + 1) / 2.0) / (np * nn), 4)) FROM m;
SELECT format('mean watch minutes of the top-decile clicks: weighting none %s, watch_time %s (%s%%)',
              round(a::numeric, 1), round(b::numeric, 1), to_char(100 * (b / a - 1), 'SG990'))
  FROM (SELECT avg(minutes) FILTER (WHERE d1 = 10) AS a, avg(minutes) FILTER (WHERE d2 = 10) AS b
          FROM (SELECT minutes, ntile(10) OVER (ORDER BY s_none) AS d1, ntile(10) OVER (ORDER BY s_wt) AS d2 FROM s) q) z;
-- per course: mean predicted response over its test impressions, and the mean watched
-- fraction of its test clicks (courses with at least 5 test clicks)
CREATE TEMP TABLE c AS
SELECT t.course_id,
       avg(recs.glmix_logit(recs.model_id('wt_none'), t.learner_id, t.course_id)) AS s_none,
       avg(recs.glmix_logit(recs.model_id('wt_watch_time'), t.learner_id, t.course_id)) AS s_wt,
       (avg(t.watch_seconds / (60.0 * co.duration_minutes)) FILTER (WHERE t.clicked))::numeric AS frac
  FROM wt.test t JOIN wt.courses co USING (course_id)
 GROUP BY 1 HAVING count(*) FILTER (WHERE t.clicked AND t.watch_seconds IS NOT NULL) >= 5;
SELECT format('courses ranked by mean predicted response, mean watched fraction of their clicks: top 30 with weighting none %s, watch_time %s (all %s courses: %s)',
              round((SELECT avg(frac) FROM (SELECT frac FROM c ORDER BY s_none DESC, course_id LIMIT 30) a), 3),
              round((SELECT avg(frac) FROM (SELECT frac FROM c ORDER BY s_wt DESC, course_id LIMIT 30) b), 3),
              (SELECT count(*) FROM c), round((SELECT avg(frac) FROM c), 3));
-- a per-channel random effect (unweighted): its intercepts, and the click AUC and
-- log-loss of the test impressions scored without and with their channel as context
SELECT format('per-channel random effect: intercepts %s', string_agg(entity || ' ' || round(coef::numeric, 3), ', ' ORDER BY coef))
  FROM recs.glmix_coefficients
 WHERE model_id = recs.model_id('wt_channel') AND coordinate = 'channel' AND feature = '(intercept)';
WITH a AS (
  SELECT t.clicked,
         recs.glmix_logit(recs.model_id('wt_channel'), t.learner_id, t.course_id) AS s1,
         recs.glmix_logit(recs.model_id('wt_channel'), t.learner_id, t.course_id,
                          context => jsonb_build_object('channel', t.channel)) AS s2 FROM wt.test t),
r AS (SELECT clicked, s1, s2, rank() OVER (ORDER BY s1) + (count(*) OVER (PARTITION BY s1) - 1) / 2.0 AS r1,
             rank() OVER (ORDER BY s2) + (count(*) OVER (PARTITION BY s2) - 1) / 2.0 AS r2 FROM a),
m AS (SELECT count(*) FILTER (WHERE clicked) AS np, count(*) FILTER (WHERE NOT clicked) AS nn,
             sum(r1) FILTER (WHERE clicked) AS sr1, sum(r2) FILTER (WHERE clicked) AS sr2,
             avg(ln(1 + exp(s1)) - clicked::int * s1) AS ll1, avg(ln(1 + exp(s2)) - clicked::int * s2) AS ll2 FROM r)
SELECT format('test clicks by the channel model: no context AUC %s log-loss %s; context {"channel": <the row''s>} AUC %s log-loss %s',
              round((sr1 - np * (np + 1) / 2.0) / (np * nn), 4), round(ll1::numeric, 4),
              round((sr2 - np * (np + 1) / 2.0) / (np * nn), 4), round(ll2::numeric, 4)) FROM m;
\echo
\echo mean watch minutes of test clicks by score decile (10 = highest predicted click probability)
\echo 'decile  weighting none (# = 3 min)   weighting watch_time'
WITH d AS (SELECT minutes, ntile(10) OVER (ORDER BY s_none) AS d1, ntile(10) OVER (ORDER BY s_wt) AS d2 FROM s),
a AS (SELECT d1 AS dec, avg(minutes) AS m1 FROM d GROUP BY d1),
b AS (SELECT d2 AS dec, avg(minutes) AS m2 FROM d GROUP BY d2)
SELECT format('%6s  %s  %s', a.dec,
              rpad(repeat('#', round(m1 / 3)::int), 18) || to_char(m1, '990.0'),
              rpad(repeat('#', round(m2 / 3)::int), 18) || to_char(m2, '990.0'))
  FROM a JOIN b USING (dec) ORDER BY dec;
SQL
fi
