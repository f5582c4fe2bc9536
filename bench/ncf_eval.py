#!/usr/bin/python3
"""NCF benchmark driver: recs (through psql) and the PyTorch peer on the ML-100K splits.

Run by bench/ncf_bench.sh, which starts a throwaway cluster and exports PGHOST/PGPORT/PGUSER.
Metrics follow ../shared/data/ml-100k-splits/PROTOCOL.md:
  LOO   : rank = 1 + #{neg: s > s_pos} + #{neg: s == s_pos and neg < pos}; HR@10, NDCG@10
  time  : top 10 of all courses minus the learner's time_train courses, ORDER BY score DESC,
          course_id (this is what recs.recommend() serves); Recall@10, NDCG@10 over 90 learners
recs scores come from recs.score() (LOO) and recs.recommend() (time split), i.e. the served model.
"""
import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time

PEER_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "peers"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Psql:
    def __init__(self, db):
        self.db = db

    def run(self, sql, echo_notices=False):
        t0 = time.perf_counter()
        p = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.db, "-c", sql], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(f"psql failed: {p.stderr}\nSQL: {sql[:500]}")
        if echo_notices:
            for line in p.stderr.splitlines():
                log("  " + line)
        return p.stdout, p.stderr, dt

    def rows(self, sql):
        out, _, _ = self.run(sql)
        return [line.split("\t") for line in out.splitlines() if line]


def load(psql, data):
    log(f"loading {data}")
    psql.run("CREATE EXTENSION IF NOT EXISTS recs; DROP SCHEMA IF EXISTS ml CASCADE; CREATE SCHEMA ml;")
    ddl = {
        "loo_train": "learner_id bigint, course_id bigint, watched_at bigint, rating int",
        "loo_test": "learner_id bigint, course_id bigint, watched_at bigint, rating int",
        "loo_test_negatives": "learner_id bigint, negatives text",
        "time_train": "learner_id bigint, course_id bigint, watched_at bigint, rating int",
        "time_test": "learner_id bigint, course_id bigint, watched_at bigint, rating int",
        "courses": "course_id bigint, decade text, genres text",
    }
    for name, cols in ddl.items():
        psql.run(f"CREATE TABLE ml.{name} ({cols})")
        path = os.path.join(data, name + ".tsv")
        psql.run(f"\\copy ml.{name} FROM '{path}' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true, QUOTE E'\\x01')")
    # the genres as an array too, for train_ncf(course_features => '{decade,genre_list}')
    psql.run("ALTER TABLE ml.courses ADD COLUMN genre_list text[]"
             " GENERATED ALWAYS AS (pg_catalog.string_to_array(genres, ',')) STORED")
    psql.run("ANALYZE")


EPOCH_RE = re.compile(r"epoch (\d+)/(\d+): loss ([0-9.]+), (\d+) examples/s")


def machine_busy_s():
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def variant(spec):
    """an --order-decays entry: "0.7" is the bag at order_decay 0.7, "att0.7" (or "att")
    the attention encoder at that order_decay (1 by default)"""
    if spec.startswith("att"):
        return "attention", float(spec[3:] or 1)
    return "bag", float(spec)


def split_args(text):
    """'dim => 128, layers => '{512,256}'' -> {'dim': '128', 'layers': "'{512,256}'"}: named SQL
    arguments, split on the commas outside quotes and braces."""
    out, part, depth, quote = {}, "", 0, False
    for ch in (text or "") + ",":
        if ch == "'":
            quote = not quote
        elif not quote and ch in "{(":
            depth += 1
        elif not quote and ch in "})":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            if part.strip():
                k, sep, v = part.partition("=>")
                if not sep:
                    raise SystemExit(f"--ncf-args: '{part.strip()}' is not 'name => value'")
                out[k.strip()] = v.strip()
            part = ""
        else:
            part += ch
    return out


def train(psql, table, name, args, decay=1.0, courses="'ml.courses'", schema="ml", extra=None, overrides=None):
    """train_ncf with the bench's settings; --ncf-args, then a --sweep setting (extra), then
    overrides (train_ncf argument name -> SQL literal: the --series-grid variants) replace or add
    named arguments."""
    encoder, decay = variant(str(decay))
    named = {"courses": courses, "seconds_column": "NULL", "window_days": "365", "layers": "'{256,128}'",
             "dim": "64", "epochs": str(args.epochs), "negatives": "4", "learning_rate": str(args.learning_rate),
             "batch_size": str(args.batch_size), "neighbours": "50", "seed": str(args.seed),
             "threads": str(args.threads), "order_decay": str(decay), "encoder": f"'{encoder}'",
             "attention_window": str(args.attention_window), "loss": f"'{args.loss}'"}
    named.update(split_args(args.ncf_args))     # --ncf-args overrides the bench's settings
    named.update(split_args(extra))             # a --sweep setting overrides both
    named.update(overrides or {})            # a --series-grid variant overrides all
    sql = (f"SELECT recs.train_ncf('{schema}.{table}', '{name}', "
           + ", ".join(f"{k} => {v}" for k, v in named.items()) + ")")
    busy0 = machine_busy_s()
    out, err, dt = psql.run(sql)
    busy = machine_busy_s() - busy0
    rates, losses = [], []
    for line in err.splitlines():
        m = EPOCH_RE.search(line)
        if m:
            losses.append(float(m.group(3)))
            rates.append(float(m.group(4)))
            log(f"  [{name}] {line.split('NOTICE:  ')[-1]}")
    model = int(out.strip())
    metrics = json.loads(psql.rows(f"SELECT metrics FROM recs.model WHERE model_id = {model}")[0][0])
    # epochs measured on an otherwise idle machine, the peers' rule (threadsetup.clean_epoch_summary)
    n_inst = metrics["instances_per_epoch"]
    clean = sorted(t for t, f in zip(metrics["epoch_seconds"], metrics["epoch_foreign_cpu_seconds"])
                   if f is not None and f <= 0.05 * t)
    clean_rate = round(n_inst / statistics.median(clean), 1) if clean else None
    # CPU that neither the training threads nor the (single-threaded) rest of the call used
    foreign = busy - metrics["train_cpu_seconds"] - (dt - metrics["train_seconds"])
    return model, {"wall_s": round(dt, 2), "train_s": metrics["train_seconds"],
                   "train_cpu_s": metrics["train_cpu_seconds"], "foreign_cpu_s": round(max(foreign, 0), 1),
                   "examples_per_s": metrics["examples_per_second"],
                   "examples_per_s_median_epoch": statistics.median(rates) if rates else None,
                   "examples_per_s_best_epoch": max(rates) if rates else None,
                   "clean_epochs": len(clean), "examples_per_s_clean": clean_rate,
                   "final_loss": losses[-1] if losses else None}


def check_cowatch(psql, model, data, table):
    """Compare recs.ncf_cowatch with the peers' evalcommon.cowatch_cosine_topk (k = 50)."""
    sys.path.insert(0, PEER_DIR)
    import threadsetup  # noqa: F401  (pins numpy's threads before it loads)
    threadsetup.setup_threads(default=1)
    import evalcommon as ec
    ids = ec.IdMap.from_split_dir(data)
    train = ec.load_interactions(data, table + ".tsv", ids)
    S = ec.cowatch_cosine_topk(train, ids.n_learners, ids.n_courses, k=50).tocoo()
    ref = {(int(ids.course_ids[i]), int(ids.course_ids[j])): float(v) for i, j, v in zip(S.row, S.col, S.data)}
    got = {(int(c), int(n)): float(v) for c, n, v in psql.rows(
        f"SELECT course_id, neighbour_id, similarity FROM recs.ncf_cowatch WHERE model_id = {model}")}
    same_pairs = set(ref) == set(got)
    max_diff = max((abs(ref[k] - got[k]) for k in ref if k in got), default=0.0)
    return {"pairs": len(got), "peer_pairs": len(ref), "same_pairs": same_pairs, "max_abs_diff": max_diff}


def make_validation_dir(data, out):
    """A validation split directory carved out of the training files only, in the test split's
    format, so that every evaluation here runs on it unchanged (PROTOCOL.md, "Validation
    splits"): loo_train's latest watch per learner (ties: the larger course id) becomes
    loo_test, with 100 negatives from evalcommon.make_loo_validation (default_rng(2020), the
    peers' --valid); time_train split at its own percentile_disc(0.9) cutoff, the test rule
    of the time split (learners with an earlier watch, pairs not already trained on)."""
    sys.path.insert(0, PEER_DIR)
    import threadsetup  # noqa: F401
    threadsetup.setup_threads(default=1)
    import numpy as np
    import evalcommon as ec
    ids = ec.IdMap.from_split_dir(data)
    os.makedirs(out, exist_ok=True)
    raw = ec.read_tsv(data, "loo_train.tsv")
    tr = ec.load_interactions(data, "loo_train.tsv", ids)
    tr["rating"] = raw["rating"].to_numpy()
    fit, users, pos, negs = ec.make_loo_validation(tr, ids.n_learners, ids.n_courses)
    rows = raw.sort_values(["learner_id", "watched_at", "course_id"]).reset_index(drop=True)
    last = ~rows["learner_id"].duplicated(keep="last")
    assert np.array_equal(ids.course_index(rows[last].sort_values("learner_id")["course_id"]), pos)
    rows[~last].to_csv(os.path.join(out, "loo_train.tsv"), sep="\t", index=False)
    rows[last].sort_values("learner_id").to_csv(os.path.join(out, "loo_test.tsv"), sep="\t", index=False)
    with open(os.path.join(out, "loo_test_negatives.tsv"), "w") as f:
        f.write("learner_id\tnegatives\n")
        for u, ng in zip(users, negs):
            f.write(f"{ids.learner_ids[u]}\t{','.join(str(c) for c in ids.course_ids[ng])}\n")
    tt = ec.read_tsv(data, "time_train.tsv")
    ts = np.sort(tt["watched_at"].to_numpy())
    cut = int(ts[math.ceil(0.9 * len(ts)) - 1])       # percentile_disc(0.9)
    before, after = tt[tt["watched_at"] < cut], tt[tt["watched_at"] >= cut]
    seen = set(zip(before["learner_id"], before["course_id"]))
    after = after[after["learner_id"].isin(set(before["learner_id"]))]
    after = after[[(l, c) not in seen for l, c in zip(after["learner_id"], after["course_id"])]]
    before.to_csv(os.path.join(out, "time_train.tsv"), sep="\t", index=False)
    after.to_csv(os.path.join(out, "time_test.tsv"), sep="\t", index=False)
    with open(os.path.join(data, "courses.tsv")) as src, open(os.path.join(out, "courses.tsv"), "w") as dst:
        dst.write(src.read())
    log(f"validation split in {out}: loo {len(rows) - int(last.sum())} + {int(last.sum())}, time cutoff {cut}:"
        f" {len(before)} + {len(after)} ({after['learner_id'].nunique()} learners)")
    return out


def eval_loo_scores(psql, score_sql):
    """LOO HR@10 / NDCG@10 of a score, score_sql an SQL expression over the candidate c
    (c.learner_id, c.course_id, c.at: the learner's test time); a NULL score (a course the
    model cannot place) ranks last."""
    rows = psql.rows(f"""
        WITH cand AS (
            SELECT t.learner_id, t.course_id AS pos, t.watched_at AS at, n.c AS course_id
              FROM ml.loo_test t JOIN ml.loo_test_negatives g USING (learner_id),
                   unnest(pg_catalog.string_to_array(g.negatives, ',')::bigint[]) AS n(c)
            UNION ALL
            SELECT learner_id, course_id, watched_at, course_id FROM ml.loo_test)
        SELECT c.learner_id, c.pos, c.course_id, ({score_sql})::float8
          FROM cand c""")
    by = {}
    for lid, pos, cid, s in rows:
        by.setdefault(int(lid), []).append((int(pos), int(cid), float(s) if s != '' else -math.inf))
    hits, ndcg = 0.0, 0.0
    for lid, lst in by.items():
        pos = lst[0][0]
        sp = [s for p, c, s in lst if c == pos][0]
        rank = 1 + sum(1 for p, c, s in lst if c != pos and (s > sp or (s == sp and c < pos)))
        if rank <= 10:
            hits += 1
            ndcg += 1 / math.log2(rank + 1)
    n = len(by)
    return {"hr10": round(hits / n, 4), "ndcg10": round(ndcg / n, 4), "learners": n}


def eval_loo(psql, model):
    """LOO HR@10 / NDCG@10 of a model's recs.score (the served model's float4 scores)."""
    return eval_loo_scores(psql, f"recs.score({model}, c.learner_id, c.course_id)::float4")


def eval_loo_trend_own_time(psql, model):
    """For a model trained with trend_days: LOO HR@10 / NDCG@10 with each course's trend term
    counted at the learner's own test time (watches of ml.loo_train in [at - D, at)) instead of
    the stored one at the end of the data -- what serving "as of the learner's latest activity"
    would give; None for a model without a trend."""
    days = psql.rows(f"SELECT coalesce(params->>'trend_days', '') FROM recs.model WHERE model_id = {model}")
    if not days or not days[0][0]:
        return None
    seconds = float(days[0][0]) * 86400
    psql.run("CREATE INDEX IF NOT EXISTS loo_train_course_time ON ml.loo_train (course_id, watched_at)")
    return eval_loo_scores(psql, f"""
        recs.score({model}, c.learner_id, c.course_id)
        - (SELECT k.trend FROM recs.ncf_course k WHERE k.model_id = {model} AND k.course_id = c.course_id)
        + (SELECT (m.params->'trend_b'->>least(15, floor(log(2, 1 + n.cnt::numeric)))::int)::float8
                  * coalesce((m.params->>'trend_weight')::float8, 1)
             FROM recs.model m,
                  (SELECT count(*) AS cnt FROM ml.loo_train w
                    WHERE w.course_id = c.course_id AND w.watched_at < c.at
                      AND w.watched_at >= c.at - {seconds!r}) n
            WHERE m.model_id = {model})""")


def knn_scores(psql, model, history, mode):
    """Item-kNN scores from the model's co-watch rows (the peers' ItemKNN: top-50 cosine, self
    excluded): 'hist' sums S[j, i] over the learner's history, 'last' is S[last, i] for the
    latest watch (ties on time: the larger course id, the protocol's sort order)."""
    src = history if mode == "hist" else f"""(SELECT DISTINCT ON (learner_id) learner_id, course_id FROM {history}
              ORDER BY learner_id, watched_at DESC, course_id DESC)"""
    rows = psql.rows(f"""
        SELECT h.learner_id, c.neighbour_id, sum(c.similarity)::float8
          FROM {src} h JOIN recs.ncf_cowatch c ON c.model_id = {model} AND c.course_id = h.course_id
         GROUP BY 1, 2""")
    by = {}
    for lid, cid, sc in rows:
        by.setdefault(int(lid), {})[int(cid)] = float(sc)
    return by


def eval_loo_knn(psql, model, mode):
    """LOO HR@10 / NDCG@10 of item-kNN, the same candidates and rank rule as eval_loo."""
    sc = knn_scores(psql, model, "ml.loo_train", mode)
    hits, ndcg, n = 0.0, 0.0, 0
    for lid, pos, negs in psql.rows("""SELECT t.learner_id, t.course_id, g.negatives
                                         FROM ml.loo_test t JOIN ml.loo_test_negatives g USING (learner_id)"""):
        s = sc.get(int(lid), {})
        pos = int(pos)
        sp = s.get(pos, 0.0)
        rank = 1 + sum(1 for c in map(int, negs.split(",")) if s.get(c, 0.0) > sp or (s.get(c, 0.0) == sp and c < pos))
        n += 1
        if rank <= 10:
            hits += 1
            ndcg += 1 / math.log2(rank + 1)
    return {"hr10": round(hits / n, 4), "ndcg10": round(ndcg / n, 4)}


def topk_full(scores, watched, courses, k=10):
    """Top k of all courses minus the watched ones, score DESC then course id."""
    cand = [c for c in courses if c not in watched]
    cand.sort(key=lambda c: (-scores.get(c, 0.0), c))
    return cand[:k]


def eval_time_lists(psql, scores_of):
    """Recall@10 / NDCG@10 on the time split of the lists topk_full makes from scores_of(learner)."""
    courses = [int(r[0]) for r in psql.rows("SELECT course_id FROM ml.courses ORDER BY 1")]
    watched, test = {}, {}
    for lid, cid in psql.rows("SELECT learner_id, course_id FROM ml.time_train"):
        watched.setdefault(int(lid), set()).add(int(cid))
    for lid, cid in psql.rows("SELECT learner_id, course_id FROM ml.time_test"):
        test.setdefault(int(lid), set()).add(int(cid))
    disc = [1 / math.log2(r + 1) for r in range(1, 11)]
    recalls, ndcgs = [], []
    for lid, T in test.items():
        top = topk_full(scores_of(lid), watched.get(lid, set()), courses)
        rel = [1.0 if c in T else 0.0 for c in top]
        recalls.append(sum(rel) / len(T))
        ndcgs.append(sum(r * d for r, d in zip(rel, disc)) / sum(disc[:min(10, len(T))]))
    return {"recall10": round(statistics.mean(recalls), 4), "ndcg10": round(statistics.mean(ndcgs), 4)}


def eval_time_knn(psql, model, mode):
    sc = knn_scores(psql, model, "ml.time_train", mode)
    return eval_time_lists(psql, lambda lid: sc.get(lid, {}))


def recent_pop_loo(psql, days=30):
    """LOO HR@10 / NDCG@10 of recent popularity: each candidate's loo_train watches in the
    days before the learner's test time, [t - days, t)."""
    psql.run("CREATE INDEX IF NOT EXISTS loo_train_course_time ON ml.loo_train (course_id, watched_at)")
    return eval_loo_scores(psql, f"""SELECT count(*) FROM ml.loo_train w
                                      WHERE w.course_id = c.course_id
                                        AND w.watched_at >= c.at - {int(days) * 86400} AND w.watched_at < c.at""")


def recent_pop_time(psql, days=30):
    """Time-split Recall@10 / NDCG@10 of recent popularity: every course's time_train watches
    in the days before the cutoff (the latest training watch), one list for all learners
    minus what each watched (the protocol's full ranking)."""
    rows = psql.rows(f"""
        SELECT course_id, count(*) FROM ml.time_train
         WHERE watched_at >= (SELECT max(watched_at) FROM ml.time_train) - {int(days) * 86400}
         GROUP BY 1""")
    sc = {int(c): float(n) for c, n in rows}
    return eval_time_lists(psql, lambda lid: sc)


def recs_popularity(psql, table, days=30):
    """recs's own popularity model over the last days of a training table (train_popularity,
    window_days; no language column: one group), activated: the recent-popularity baseline
    as recs serves it."""
    # train_popularity reads a watch-time column (NULL takes the default name): none here
    psql.run(f"CREATE OR REPLACE VIEW ml.{table}_timed AS SELECT *, 0::float8 AS watch_seconds FROM ml.{table}")
    out, _, _ = psql.run(f"SELECT recs.train_popularity('ml.{table}_timed', name => 'pop_{table}_{days}', "
                         f"window_days => {days}, min_watch_seconds => 0)")
    return int(out.strip())


# the generator's arguments of the series data: series, parts, series per learner, stay, seed
SERIES_GEN = (40, 6, 4, 0.8, 0.42)


def series_setup(psql, args):
    """Generated series data (bench/ncf_series.sql) in ml.series; ml.series_test is each learner's
    latest watch, ml.series_train the rest; ml.series_val is the latest watch of series_train
    and ml.series_vtrain the rest (the validation holdout: settings are chosen on it, never on
    series_test). ml.series_courses has content columns for course_features: ident (the
    course id as text: a one-hot id input), series_id and series_part."""
    sql = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "ncf_series.sql")).read()
    sql = sql.replace("pg_temp.series_watches", "ml.series_watches")
    psql.run(sql)
    n, ln, per, stay, seed = SERIES_GEN
    psql.run(f"""
        CREATE TABLE ml.series AS SELECT * FROM ml.series_watches({args.series_learners}, {n}, {ln}, {per}, {stay}, {seed});
        CREATE TABLE ml.series_test AS SELECT DISTINCT ON (learner_id) * FROM ml.series
         ORDER BY learner_id, watched_at DESC;
        CREATE TABLE ml.series_train AS SELECT s.* FROM ml.series s
         WHERE NOT EXISTS (SELECT FROM ml.series_test t WHERE t.learner_id = s.learner_id
                              AND t.course_id = s.course_id);
        CREATE TABLE ml.series_val AS SELECT DISTINCT ON (learner_id) * FROM ml.series_train
         ORDER BY learner_id, watched_at DESC;
        CREATE TABLE ml.series_vtrain AS SELECT s.* FROM ml.series_train s
         WHERE NOT EXISTS (SELECT FROM ml.series_val t WHERE t.learner_id = s.learner_id
                              AND t.course_id = s.course_id);
        CREATE TABLE ml.series_courses AS
        SELECT DISTINCT course_id, course_id::text AS ident,
               (course_id - 1) / {ln} AS series_id, (course_id - 1) % {ln} + 1 AS series_part FROM ml.series;
        ANALYZE ml.series_train; ANALYZE ml.series_vtrain;""")


class SeriesSplit:
    """One holdout of the series data: train table, held-out course per learner, histories."""

    def __init__(self, psql, train_table, test_table, courses_table="series_courses"):
        self.train = train_table
        self.test = {int(l): int(c) for l, c in psql.rows(f"SELECT learner_id, course_id FROM ml.{test_table}")}
        self.courses = [int(r[0]) for r in psql.rows(f"SELECT course_id FROM ml.{courses_table} ORDER BY 1")]
        self.history = {}
        for lid, cid in psql.rows(f"SELECT learner_id, course_id FROM ml.{train_table} ORDER BY learner_id, watched_at"):
            self.history.setdefault(int(lid), []).append(int(cid))
        self.watched = {lid: set(h) for lid, h in self.history.items()}

    def measure(self, tops):
        h1 = h10 = nd = 0.0
        for lid, c in self.test.items():
            top = tops.get(lid, [])
            if c in top:
                r = top.index(c) + 1
                h1 += r == 1
                h10 += 1
                nd += 1 / math.log2(r + 1)
        n = len(self.test)
        return {"hr1": round(h1 / n, 4), "hr10": round(h10 / n, 4), "ndcg10": round(nd / n, 4)}

    def recs_tops(self, psql, model):
        rows = psql.rows(f"""SELECT l.learner_id, r.rank, r.course_id
                               FROM unnest('{{{",".join(map(str, sorted(self.test)))}}}'::bigint[]) l(learner_id),
                                    recs.recommend(l.learner_id, 10, model => {model}) r""")
        tops = {}
        for lid, rank, cid in sorted(rows, key=lambda r: (int(r[0]), int(r[1]))):
            tops.setdefault(int(lid), []).append(int(cid))
        return tops

    def knn_tops(self, psql, model, mode):
        sc = knn_scores(psql, model, f"ml.{self.train}", mode)
        return {lid: topk_full(sc.get(lid, {}), self.watched.get(lid, set()), self.courses) for lid in self.test}

    def oracle_tops(self):
        """The generator's Bayes ranking (the ceiling of any ranker that sees the history): with
        probability stay the next part of the series of the latest watch, else the next part of
        one of the learner's other unfinished series, uniformly; the series a learner has not
        started are unknown, so each of the n - started series' part 1 shares that series'
        chance. Ties to the smaller course id."""
        n_series, ln, per, stay, _ = SERIES_GEN
        tops = {}
        for lid in self.test:
            h = self.history.get(lid, [])
            pos = {}
            for c in h:
                pos[(c - 1) // ln] = pos.get((c - 1) // ln, 0) + 1
            cur = (h[-1] - 1) // ln if h else None
            others = [s for s, p in pos.items() if s != cur and p < ln]
            unstarted = per - len(pos)
            k_avail = len(others) + unstarted
            prob = {}
            switch = 1.0
            if cur is not None and pos[cur] < ln:
                prob[cur * ln + pos[cur] + 1] = stay + (1 - stay) * (k_avail == 0)
                switch = 1 - stay
            if k_avail:
                for s in others:
                    prob[s * ln + pos[s] + 1] = switch / k_avail
                for s in range(n_series):
                    if s not in pos:
                        prob[s * ln + 1] = switch * unstarted / k_avail / (n_series - len(pos))
            tops[lid] = sorted((c for c in self.courses if c not in self.watched.get(lid, ())),
                               key=lambda c: (-prob.get(c, 0.0), c))[:10]
        return tops


def ncf_full_scores(psql, model, learners):
    """Every course's served score for each learner (recommend over the whole catalogue)."""
    rows = psql.rows(f"""SELECT l.learner_id, r.course_id, r.score
                           FROM unnest('{{{",".join(map(str, sorted(learners)))}}}'::bigint[]) l(learner_id),
                                recs.recommend(l.learner_id, 1000000, model => {model}) r""")
    by = {}
    for lid, cid, sc in rows:
        by.setdefault(int(lid), {})[int(cid)] = float(sc)
    return by


KNN_BLEND_BETAS = (0, 1, 2, 5, 10, 20, 50, 100)
EASE_LAMBDAS = (5, 20, 50, 100, 200, 500)


def knn_blend(psql, holdouts, models):
    """The NCF score plus beta x item-kNN on the history (both from the same model: its served
    scores and its co-watch rows), beta chosen on the validation holdout: what a kNN term in
    the NCF score would give."""
    res = {}
    for h, split in holdouts.items():
        nc = ncf_full_scores(psql, models[h], split.test)
        kn = knn_scores(psql, models[h], f"ml.{split.train}", "hist")
        for b in KNN_BLEND_BETAS:
            tops = {lid: topk_full({c: v + b * kn.get(lid, {}).get(c, 0.0) for c, v in nc.get(lid, {}).items()},
                                   split.watched.get(lid, set()), split.courses) for lid in split.test}
            res.setdefault(b, {})[h] = split.measure(tops)
    best = max(KNN_BLEND_BETAS, key=lambda b: (res[b]["val"]["hr10"], -b))
    log(f"[item models] NCF + beta item-kNN, validation HR@10 by beta: { {b: res[b]['val']['hr10'] for b in res} }")
    return f"NCF (chosen) + {best:g} x item-kNN hist (beta on validation)", res[best]


def ease(holdouts):
    """EASE (Steck 2019), a learned item-item model in closed form, B = I - P / diag(P) with
    P = (X'X + lambda I)^-1, scores X B; lambda chosen on the validation holdout. A strong
    peer of item-kNN on small catalogues (numpy)."""
    import numpy as np
    res = {}
    for h, split in holdouts.items():
        idx = {c: k for k, c in enumerate(split.courses)}
        learners = sorted(split.history)
        row = {lid: r for r, lid in enumerate(learners)}
        x = np.zeros((len(learners), len(split.courses)))
        for r, lid in enumerate(learners):
            for c in split.watched[lid]:
                x[r, idx[c]] = 1.0
        gram = x.T @ x
        for lam in EASE_LAMBDAS:
            p_inv = np.linalg.inv(gram + lam * np.eye(len(split.courses)))
            b = -p_inv / np.diag(p_inv)
            np.fill_diagonal(b, 0.0)
            sc = x @ b
            tops = {lid: topk_full({c: sc[row[lid], k] for c, k in idx.items()} if lid in row else {},
                                   split.watched.get(lid, set()), split.courses) for lid in split.test}
            res.setdefault(lam, {})[h] = split.measure(tops)
    best = max(EASE_LAMBDAS, key=lambda lam: (res[lam]["val"]["hr10"], -lam))
    return f"EASE, lambda {best} (on validation)", res[best]


def series_bench(psql, args, decays):
    """Generated series data (bench/ncf_series.sql): each learner's latest watch held out, NCF at
    each order_decay against item-kNN on the full history and on the latest watch, full ranking
    of the unwatched courses: HR@1, HR@10, NDCG@10."""
    series_setup(psql, args)
    split = SeriesSplit(psql, "series_train", "series_test")
    test, watched, courses, measure = split.test, split.watched, split.courses, split.measure
    res = {"learners": len(test), "watches": sum(len(w) for w in watched.values()) + len(test)}
    res["oracle"] = measure(split.oracle_tops())
    log(f"[series] oracle: {res['oracle']}")
    model = None
    for d in decays:
        m, info = train(psql, "series_train", f"ncf_series_{d}", args, d, "'ml.series_courses'")
        rows = psql.rows(f"""SELECT l.learner_id, r.rank, r.course_id
                               FROM (SELECT DISTINCT learner_id FROM ml.series_test) l,
                                    recs.recommend(l.learner_id, 10, model => {m}) r""")
        tops = {}
        for lid, rank, cid in sorted(rows, key=lambda r: (int(r[0]), int(r[1]))):
            tops.setdefault(int(lid), []).append(int(cid))
        res[f"ncf_{d}"] = dict(measure(tops), examples_per_s=info["examples_per_s"])
        log(f"[series] order_decay {d}: {res[f'ncf_{d}']}")
        model = model or m
    for mode in ("hist", "last"):
        sc = knn_scores(psql, model, "ml.series_train", mode)
        tops = {lid: topk_full(sc.get(lid, {}), watched.get(lid, set()), courses) for lid in test}
        res[f"knn_{mode}"] = measure(tops)
        log(f"[series] item-kNN {mode}: {res[f'knn_{mode}']}")
    return res


def grid_variants(spec):
    """--series-grid: variants separated by ';', each a ','-list of train_ncf name=value
    (numbers as they are, anything else quoted; '/' inside a value stands for ',', so
    layers={512/256} is '{512,256}'); an empty variant is the bench's settings."""
    out = []
    for v in spec.split(";"):
        named = {}
        for kv in filter(None, (x.strip() for x in v.split(","))):
            k, val = kv.split("=", 1)
            val = val.replace("/", ",")
            try:
                float(val)
            except ValueError:
                val = "'" + val.replace("'", "''") + "'"
            named[k.strip()] = val
        out.append((v.strip() or "bench settings", named))
    return out


def series_grid(psql, args, splits):
    """The series data with settings chosen on validation: every --series-grid variant is trained
    on series_vtrain and scored on series_val (each learner's second-latest watch), and on
    series_train and scored on series_test (the latest); the variant with the best validation
    HR@10 is the choice (ties: the earlier). item-kNN and the generator's oracle on both
    holdouts. With the time split in --splits, the chosen variant also trains on ML-100K's
    time_train, with item-kNN beside it (same run)."""
    series_setup(psql, args)
    holdouts = {"val": SeriesSplit(psql, "series_vtrain", "series_val"),
                "test": SeriesSplit(psql, "series_train", "series_test")}
    res = {"variants": [], "learners": len(holdouts["test"].test)}
    for i, (label, named) in enumerate(grid_variants(args.series_grid)):
        row = {"variant": label}
        for h, split in holdouts.items():
            m, info = train(psql, split.train, f"grid_{h}_{i}", args, 1.0, "'ml.series_courses'", overrides=named)
            row[h] = dict(split.measure(split.recs_tops(psql, m)), train_cpu_s=info["train_cpu_s"])
            row.setdefault("models", {})[h] = m
            if "knn" not in res:
                res.setdefault("knn_model", {})[h] = m
        log(f"[series grid] {row}")
        res["variants"].append(row)
        if "knn" not in res and len(res.get("knn_model", {})) == 2:
            res["knn"] = {f"item-kNN {mode}": {h: holdouts[h].measure(holdouts[h].knn_tops(psql, res["knn_model"][h], mode))
                                                for h in holdouts} for mode in ("hist", "last")}
    res["knn"]["oracle"] = {h: holdouts[h].measure(holdouts[h].oracle_tops()) for h in holdouts}
    best = max(range(len(res["variants"])), key=lambda j: (res["variants"][j]["val"]["hr10"], -j))
    res["chosen"] = res["variants"][best]["variant"]
    if args.item_models:
        for label, r in (knn_blend(psql, holdouts, res["variants"][best]["models"]), ease(holdouts)):
            res["knn"][label] = r
    if args.sample:
        res["sample"] = sample_check(psql, args, res["chosen"])
    if args.sample_time:
        res["sample_time"] = sample_time_split(psql, args, res["chosen"])
    if "time" in splits:
        res["time"] = {}
        for label, named in ((res["chosen"], grid_variants(res["chosen"])[0][1]),):
            m, info = train(psql, "time_train", "grid_time", args, 1.0, overrides=named)
            psql.run(f"SELECT recs.activate({m})")
            res["time"][label] = dict(eval_time(psql), train_cpu_s=info["train_cpu_s"])
            log(f"[time] {label}: {res['time'][label]}")
        res["time"]["item-kNN hist"] = eval_time_knn(psql, m, "hist")
        res["time"]["item-kNN last"] = eval_time_knn(psql, m, "last")

    print()
    print(f"series data ({res['learners']} learners), settings chosen on validation (second-latest watch),"
          f" test = latest watch; {args.threads} thread(s), seed {args.seed}; bench settings: 256-128-64,"
          f" {args.epochs} epochs, loss {args.loss}, batch {args.batch_size}, lr {args.learning_rate:g}")
    print(f"{'variant':<100}{'val HR@1':>9}{'val HR@10':>10}{'test HR@1':>10}{'test HR@10':>11}{'test NDCG':>10}{'CPU s':>8}")
    for j, r in enumerate(res["variants"]):
        mark = "*" if j == best else " "
        print(f"{mark}{r['variant'][:99]:<99}{fmt(r['val']['hr1']):>9}{fmt(r['val']['hr10']):>10}"
              f"{fmt(r['test']['hr1']):>10}{fmt(r['test']['hr10']):>11}{fmt(r['test']['ndcg10']):>10}"
              f"{fmt(r['test']['train_cpu_s'], 1):>8}")
    for k, r in res["knn"].items():
        print(f" {k:<99}{fmt(r['val']['hr1']):>9}{fmt(r['val']['hr10']):>10}"
              f"{fmt(r['test']['hr1']):>10}{fmt(r['test']['hr10']):>11}{fmt(r['test']['ndcg10']):>10}")
    best_knn = max(res["knn"]["item-kNN hist"]["test"]["hr10"], res["knn"]["item-kNN last"]["test"]["hr10"])
    chosen_t = res["variants"][best]["test"]["hr10"]
    print(f"chosen (*): test HR@10 {chosen_t:.4f} = {chosen_t / best_knn:.3f} x the better item-kNN ({best_knn:.4f});"
          f" the oracle's {res['knn']['oracle']['test']['hr10']:.4f} = {res['knn']['oracle']['test']['hr10'] / best_knn:.3f} x")
    if "sample" in res:
        print("generate_sample('s', 2000, 300, 42, platform => true), watches of 60 s or more, learners with"
              " 3+ courses, latest watch held out" + (" (validation: the second-latest; columns as above):"
                                                      if args.item_models else ":"))
        for k, r in res["sample"].items():
            k = k.replace(res["chosen"], "the chosen variant")
            if "test" in r:     # --item-models: a validation and a test holdout
                print(f"  {k[:97]:<97}{fmt(r['val']['hr1']):>9}{fmt(r['val']['hr10']):>10}"
                      f"{fmt(r['test']['hr1']):>10}{fmt(r['test']['hr10']):>11}{fmt(r['test']['ndcg10']):>10}")
            else:
                print(f"  {k[:99]:<99} HR@1 {fmt(r['hr1'])}  HR@10 {fmt(r['hr10'])}  NDCG@10 {fmt(r['ndcg10'])}")
        hr = lambda r: r["test"]["hr10"] if "test" in r else r["hr10"]
        knn = max(hr(res["sample"]["item-kNN hist"]), hr(res["sample"]["item-kNN last"]))
        ht = hr(res["sample"]["NCF, " + res["chosen"] + ", history terms"])
        print(f"  the history terms: test HR@10 {ht:.4f} = {ht / knn:.3f} x the better item-kNN ({knn:.4f})")
    if "sample_time" in res:
        st = res["sample_time"]
        print(f"generate_sample('s', 2000, 300, 42, platform => true), time split: the latest tenth of the span held"
              f" out ({st['learners']['test']} learners), the tenth before it for validation"
              f" ({st['learners']['val']}); Recall@10 / NDCG@10 of each learner's new courses:")
        for k, r in st["rows"].items():
            k = k.replace(res["chosen"], "the chosen variant")
            print(f"  {k[:90]:<90} val {fmt(r['val']['recall10'])} / {fmt(r['val']['ndcg10'])}"
                  f"   test {fmt(r['test']['recall10'])} / {fmt(r['test']['ndcg10'])}")
        knn = max(st["rows"]["item-kNN hist"]["test"]["recall10"], st["rows"]["item-kNN last"]["test"]["recall10"])
        ht = st["rows"]["NCF, " + res["chosen"] + ", history terms"]["test"]["recall10"]
        print(f"  the history terms: test Recall@10 {ht:.4f} = {ht / knn:.3f} x the better item-kNN ({knn:.4f})")
    for k, r in res.get("time", {}).items():
        print(f"ML-100K time split, {k}: Recall@10 {fmt(r['recall10'])}, NDCG@10 {fmt(r['ndcg10'])}"
              + (f", training CPU s {r['train_cpu_s']:.1f}" if "train_cpu_s" in r else ""))
    print(json.dumps(res))


def sample_check(psql, args, chosen):
    """recs.generate_sample(platform => true) (series of 2-4 parts, one followed at a time, among
    topic-driven watches): each learner's latest watch (of 60 s or more, learners with 3 or more
    courses) held out; the bench's settings and the chosen series variant (its course_features
    dropped: the sample's courses have other columns) against item-kNN."""
    psql.run("""
        DROP SCHEMA IF EXISTS s CASCADE;
        SELECT count(*) FROM recs.generate_sample('s', 2000, 300, 42, platform => true);
        CREATE TABLE ml.sample_w AS SELECT learner_id, course_id, watched_at FROM s.watches WHERE watch_seconds >= 60;
        CREATE TABLE ml.sample_test AS
        SELECT DISTINCT ON (learner_id) learner_id, course_id FROM ml.sample_w
         WHERE learner_id IN (SELECT learner_id FROM ml.sample_w GROUP BY 1 HAVING count(DISTINCT course_id) >= 3)
         ORDER BY learner_id, watched_at DESC, course_id;
        CREATE TABLE ml.sample_train AS SELECT w.* FROM ml.sample_w w
         WHERE NOT EXISTS (SELECT FROM ml.sample_test t WHERE t.learner_id = w.learner_id AND t.course_id = w.course_id);
        CREATE TABLE ml.sample_courses AS SELECT * FROM s.courses;
        ANALYZE ml.sample_train;""")
    if args.item_models:
        return sample_item_models(psql, args, chosen)
    split = SeriesSplit(psql, "sample_train", "sample_test", "sample_courses")
    out, model = {}, None
    for label, ov in sample_variants(chosen):
        m, info = train(psql, "sample_train", "sample", args, 1.0, "'ml.sample_courses'", overrides=ov)
        out[label] = split.measure(split.recs_tops(psql, m))
        model = model or m
        log(f"[sample] {label}: {out[label]}")
    for mode in ("hist", "last"):
        out[f"item-kNN {mode}"] = split.measure(split.knn_tops(psql, model, mode))
    return out


def sample_item_models(psql, args, chosen):
    """sample_check with a validation holdout (each test learner's second-latest watch): the
    bench's settings and the chosen variant, item-kNN, NCF + beta item-kNN and EASE, beta and
    lambda chosen on validation; rows {val, test}."""
    psql.run("""
        CREATE TABLE ml.sample_val AS
        SELECT DISTINCT ON (learner_id) learner_id, course_id FROM ml.sample_train
         WHERE learner_id IN (SELECT learner_id FROM ml.sample_test)
         ORDER BY learner_id, watched_at DESC, course_id;
        CREATE TABLE ml.sample_vtrain AS SELECT w.* FROM ml.sample_train w
         WHERE NOT EXISTS (SELECT FROM ml.sample_val t WHERE t.learner_id = w.learner_id AND t.course_id = w.course_id);
        ANALYZE ml.sample_vtrain;""")
    holdouts = {"val": SeriesSplit(psql, "sample_vtrain", "sample_val", "sample_courses"),
                "test": SeriesSplit(psql, "sample_train", "sample_test", "sample_courses")}
    out, models, chosen_models = {}, {}, {}
    for label, ov in sample_variants(chosen):
        for h, split in holdouts.items():
            m, info = train(psql, split.train, f"sample_{h}", args, 1.0, "'ml.sample_courses'", overrides=ov)
            out.setdefault(label, {})[h] = split.measure(split.recs_tops(psql, m))
            models.setdefault(h, m)     # item-kNN: the co-watch rows of the bench settings (all watches)
            if label == "NCF, " + chosen:
                chosen_models[h] = m
        log(f"[sample] {label}: {out[label]}")
    for mode in ("hist", "last"):
        out[f"item-kNN {mode}"] = {h: split.measure(split.knn_tops(psql, models[h], mode)) for h, split in holdouts.items()}
    for label, r in (knn_blend(psql, holdouts, chosen_models), ease(holdouts)):
        out[label] = r
    return out


# the sample's columns for train_ncf's history terms (affinity_columns, path_columns)
SAMPLE_HISTORY = {"validation": "'auto'", "affinity_columns": "'{language,topic,difficulty}'",
                  "path_columns": "'{series_id,series_part}'"}


def sample_variants(chosen):
    """The NCF variants on the platform sample: the bench's settings, the chosen series variant
    (its course_features and history columns dropped: the sample's courses have other columns),
    and that variant with the history terms on the sample's columns (validation 'auto')."""
    named = {k: v for k, v in grid_variants(chosen)[0][1].items()
             if k not in ("course_features", "content_dropout", "affinity_columns", "path_columns", "validation")}
    return (("NCF, bench settings", {}), ("NCF, " + chosen, named),
            ("NCF, " + chosen + ", history terms", dict(named, **SAMPLE_HISTORY)))


def sample_time_split(psql, args, chosen):
    """A time split of generate_sample(platform => true): the latest tenth of the watches' span
    is the test, the tenth before it the validation; each split trains on the watches before
    its cut and is scored on each learner's courses after it (up to the next cut) that they
    had not watched before, Recall@10 / NDCG@10 over the whole catalogue. The --sample
    variants, item-kNN (the bench settings' co-watch rows) and popularity over the last 30
    days before the cut."""
    psql.run("""
        DROP SCHEMA IF EXISTS st CASCADE; CREATE SCHEMA st;
        SELECT count(*) FROM recs.generate_sample('st', 2000, 300, 42, platform => true);
        CREATE TABLE ml.st_w AS SELECT learner_id, course_id, watched_at FROM st.watches WHERE watch_seconds >= 60;
        CREATE TABLE ml.st_courses AS SELECT * FROM st.courses;""")
    lo, hi = [float(x) for x in psql.rows(
        "SELECT extract(epoch FROM min(watched_at)), extract(epoch FROM max(watched_at)) FROM ml.st_w")[0]]
    cuts = {"test": (hi - (hi - lo) / 10, hi + 1)}
    cuts["val"] = (cuts["test"][0] - (hi - lo) / 10, cuts["test"][0])
    courses = [int(r[0]) for r in psql.rows("SELECT course_id FROM ml.st_courses ORDER BY 1")]
    data = {}
    for h, (cut, upto) in cuts.items():
        psql.run(f"""
          CREATE TABLE ml.st_{h}_train AS SELECT * FROM ml.st_w WHERE watched_at < to_timestamp({cut});
          CREATE TABLE ml.st_{h}_test AS SELECT DISTINCT learner_id, course_id FROM ml.st_w x
           WHERE watched_at >= to_timestamp({cut}) AND watched_at < to_timestamp({upto})
             AND EXISTS (SELECT FROM ml.st_{h}_train a WHERE a.learner_id = x.learner_id)
             AND NOT EXISTS (SELECT FROM ml.st_{h}_train a WHERE a.learner_id = x.learner_id AND a.course_id = x.course_id);
          ANALYZE ml.st_{h}_train;""")
        watched, test = {}, {}
        for lid, cid in psql.rows(f"SELECT learner_id, course_id FROM ml.st_{h}_train"):
            watched.setdefault(int(lid), set()).add(int(cid))
        for lid, cid in psql.rows(f"SELECT learner_id, course_id FROM ml.st_{h}_test"):
            test.setdefault(int(lid), set()).add(int(cid))
        data[h] = (watched, test)
    disc = [1 / math.log2(r + 1) for r in range(1, 11)]

    def measure(h, top_of):
        watched, test = data[h]
        recalls, ndcgs = [], []
        for lid, T in test.items():
            top = top_of(lid, watched.get(lid, set()))
            rel = [1.0 if c in T else 0.0 for c in top[:10]]
            recalls.append(sum(rel) / len(T))
            ndcgs.append(sum(r * d for r, d in zip(rel, disc)) / sum(disc[:min(10, len(T))]))
        return {"recall10": round(statistics.mean(recalls), 4), "ndcg10": round(statistics.mean(ndcgs), 4)}

    rows, knn_model = {}, {}
    for label, ov in sample_variants(chosen):
        for h in cuts:
            m, info = train(psql, f"st_{h}_train", f"st_{h}", args, 1.0, "'ml.st_courses'", overrides=ov)
            knn_model.setdefault(h, m)
            tops = {}
            for lid, rank, cid in psql.rows(f"""SELECT l.learner_id, r.rank, r.course_id
                                                  FROM (SELECT DISTINCT learner_id FROM ml.st_{h}_test) l,
                                                       recs.recommend(l.learner_id, 10, model => {m}) r"""):
                tops.setdefault(int(lid), []).append((int(rank), int(cid)))
            rows.setdefault(label, {})[h] = measure(h, lambda lid, w: [c for _, c in sorted(tops.get(lid, []))])
        log(f"[sample time] {label}: {rows[label]}")
    for mode in ("hist", "last"):
        for h in cuts:
            sc = knn_scores(psql, knn_model[h], f"ml.st_{h}_train", mode)
            rows.setdefault(f"item-kNN {mode}", {})[h] = measure(h, lambda lid, w: topk_full(sc.get(lid, {}), w, courses))
    for h, (cut, _) in cuts.items():
        sc = {int(c): float(n) for c, n in psql.rows(
            f"SELECT course_id, count(*) FROM ml.st_{h}_train WHERE watched_at >= to_timestamp({cut - 30 * 86400}) GROUP BY 1")}
        rows.setdefault("popularity over the last 30 days", {})[h] = measure(h, lambda lid, w: topk_full(sc, w, courses))
    return {"rows": rows, "learners": {h: len(data[h][1]) for h in cuts}}


def eval_time(psql):
    rows = psql.rows("""
        SELECT l.learner_id, r.rank, r.course_id
          FROM (SELECT DISTINCT learner_id FROM ml.time_test) l, recs.recommend(l.learner_id, 10) r""")
    tops = {}
    for lid, rank, cid in rows:
        tops.setdefault(int(lid), {})[int(rank)] = int(cid)
    test = {}
    for lid, cid in psql.rows("SELECT learner_id, course_id FROM ml.time_test"):
        test.setdefault(int(lid), set()).add(int(cid))
    disc = [1 / math.log2(r + 1) for r in range(1, 11)]
    recalls, ndcgs = [], []
    for lid, T in test.items():
        top = [tops[lid][r] for r in sorted(tops.get(lid, {}))]
        rel = [1.0 if c in T else 0.0 for c in top]
        recalls.append(sum(rel) / len(T))
        ndcgs.append(sum(r * d for r, d in zip(rel, disc)) / sum(disc[:min(10, len(T))]))
    return {"recall10": round(statistics.mean(recalls), 4), "ndcg10": round(statistics.mean(ndcgs), 4),
            "learners": len(test)}


def latency(psql, n_learners=300):
    """Median and p95 of recommend(learner, 10) in one session, warm cache."""
    out = psql.rows(f"""
        DO $$
        DECLARE t0 timestamptz; d float8[] := '{{}}'; l bigint;
        BEGIN
          PERFORM * FROM recs.recommend(1, 10);          -- warm the serving cache
          FOR l IN SELECT DISTINCT learner_id FROM ml.time_train ORDER BY 1 LIMIT {n_learners} LOOP
            t0 := clock_timestamp();
            PERFORM * FROM recs.recommend(l, 10);
            d := d || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
          END LOOP;
          PERFORM set_config('bench.lat', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x)
                 || ' ' || percentile_cont(0.95) WITHIN GROUP (ORDER BY x) FROM unnest(d) x), false);
        END $$;
        SELECT current_setting('bench.lat');""")
    med, p95 = map(float, out[-1][0].split())
    return {"median_ms": round(med, 3), "p95_ms": round(p95, 3)}


def latency_scaling(psql, sizes=(2000, 20000, 100000), dim=64, n_learners=200):
    """recommend() latency on synthetic NCF models of growing catalogues (random embeddings:
    serving does not care how they were trained)."""
    res = {}
    for n in sizes:
        m = int(psql.rows(f"""
            INSERT INTO recs.model (name, kind, version) VALUES ('synthetic_{n}', 'ncf', 1)
            RETURNING model_id""")[0][0])
        psql.run(f"""
            SELECT setseed(0.5);
            INSERT INTO recs.ncf_course (model_id, course_id, input_row, watchers, embedding)
            SELECT {m}, i, i - 1, 1, ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, {dim}) WHERE i > 0)
              FROM generate_series(1, {n}) i;
            INSERT INTO recs.ncf_learner (model_id, learner_id, embedding)
            SELECT {m}, l, ARRAY(SELECT (random() - 0.5)::real FROM generate_series(1, {dim}) WHERE l > 0)
              FROM generate_series(1, {n_learners}) l;
            INSERT INTO recs.model_learner (model_id, learner_id, watched)
            SELECT {m}, l, ARRAY(SELECT DISTINCT (1 + (random() * ({n} - 1))::int)::bigint
                                   FROM generate_series(1, 30) WHERE l > 0 ORDER BY 1)
              FROM generate_series(1, {n_learners}) l;
            SELECT recs.activate({m});""")
        out = psql.rows(f"""
            DO $$
            DECLARE t0 timestamptz; d float8[] := '{{}}'; l bigint;
            BEGIN
              PERFORM * FROM recs.recommend(1, 10);          -- load the course embeddings
              FOR l IN 1..{n_learners} LOOP
                t0 := clock_timestamp();
                PERFORM * FROM recs.recommend(l, 10);
                d := d || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
              END LOOP;
              PERFORM set_config('bench.lat', (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x)
                     || ' ' || percentile_cont(0.95) WITHIN GROUP (ORDER BY x) FROM unnest(d) x), false);
            END $$;
            SELECT current_setting('bench.lat');""")
        med, p95 = map(float, out[-1][0].split())
        res[n] = {"median_ms": round(med, 3), "p95_ms": round(p95, 3)}
        log(f"[latency] {n} courses: median {med:.3f} ms, p95 {p95:.3f} ms")
        psql.run(f"DELETE FROM recs.deployment WHERE model_id = {m}; DELETE FROM recs.model WHERE model_id = {m}")
    return res


def run_peer(args):
    cmd = ["/usr/bin/python3", os.path.join(PEER_DIR, "ncf_torch.py"), "--split-dir", args.data,
           "--epochs", str(args.peer_epochs or args.epochs), "--threads", str(args.threads), "--splits", args.splits]
    log("running the peer: " + " ".join(cmd))
    t0 = time.perf_counter()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(cmd, capture_output=True, text=True)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise RuntimeError("peer failed: " + p.stderr[-2000:])
    for line in p.stderr.splitlines():
        if "epoch" in line or "HR@" in line or "Recall@" in line:
            log("  " + line)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    # the peer process's whole CPU time (user + system, all its threads): loading and
    # evaluation included, so per CPU second the peer is if anything flattered
    res["process_cpu_s"] = round(ru1.ru_utime - ru0.ru_utime + ru1.ru_stime - ru0.ru_stime, 1)
    return res


def fmt(x, nd=4):
    if x is None:
        return "-"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2020)
    ap.add_argument("--splits", default="loo,time")
    ap.add_argument("--skip-peer", action="store_true")
    ap.add_argument("--loss", default="binary", choices=["binary", "softmax"],
                    help="train_ncf's loss (softmax: batch_size positives, in-batch negatives)")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--learning-rate", type=float, default=0.001)
    ap.add_argument("--peer-epochs", type=int, default=None, help="the peer's epochs (default: --epochs)")
    ap.add_argument("--latency", action="store_true",
                    help="also time recommend() on synthetic catalogues of 2k, 20k and 100k courses")
    ap.add_argument("--order-decays", default=None,
                    help="comma list of train_ncf order_decay values: train and evaluate each on both splits"
                         " (and --series), print a table; implies --skip-peer")
    ap.add_argument("--knn", action="store_true",
                    help="also item-kNN on the learner's history and on their latest watch (from the co-watch rows)")
    ap.add_argument("--series", action="store_true",
                    help="also the generated series data set (bench/ncf_series.sql)")
    ap.add_argument("--series-learners", type=int, default=2000)
    ap.add_argument("--series-grid", default=None,
                    help="';'-separated train_ncf settings (name=value,...) for the series data, chosen on a"
                         " validation holdout (each learner's second-latest watch), reported on the latest"
                         " with item-kNN and the generator's oracle; with --splits time also ML-100K's time split")
    ap.add_argument("--sample", action="store_true",
                    help="with --series-grid: also generate_sample(platform => true) data, the bench's settings and"
                         " the chosen variant against item-kNN (latest watch held out)")
    ap.add_argument("--sample-time", action="store_true",
                    help="with --series-grid: also a time split of generate_sample(platform => true) data (the"
                         " latest tenth of its span held out, the tenth before it for validation): the --sample"
                         " variants against item-kNN and recent popularity, Recall@10 of each learner's new courses")
    ap.add_argument("--item-models", action="store_true",
                    help="with --series-grid: also the chosen variant's score plus beta x item-kNN on the history and"
                         " EASE (beta and lambda chosen on validation); with --sample, on generate_sample data too,"
                         " with a validation holdout (each learner's second-latest watch)")
    ap.add_argument("--attention-window", type=int, default=20,
                    help="train_ncf's attention_window for the attention variants (att, att0.7) of --order-decays")
    ap.add_argument("--ncf-args", default="",
                    help="more train_ncf named arguments, overriding the bench's: \"dim => 128, negatives => 8\"")
    ap.add_argument("--ensemble", type=int, default=1,
                    help="with --sweep: train every setting at K seeds (--seed and the next K - 1) and also"
                         " score the sum of their scores as one ranking")
    ap.add_argument("--sweep", default=None,
                    help="'label: ncf args; label: ncf args; ...': train and evaluate each setting (on top of"
                         " --ncf-args) on the splits, print a table; implies --skip-peer")
    ap.add_argument("--tune", default=None,
                    help="a tune_ncf grid as JSON ('{\"trend_weight\": [1, 4, 16]}'): recs.tune_ncf on the time split's"
                         " training file, the bench's settings (and --tune-options) as its options; its own held-out"
                         " slice chooses, the refit on all of it is scored on the time test; implies --skip-peer")
    ap.add_argument("--tune-options", default=None,
                    help="with --tune: more train_ncf arguments as JSON, over the bench's ('{\"trend_days\": 30}')")
    ap.add_argument("--valid", action="store_true",
                    help="evaluate on a validation split carved out of the training files (the latest"
                         " loo_train watch per learner; time_train at its own 90th percentile), never the tests")
    args = ap.parse_args()
    if args.valid:
        args.data = make_validation_dir(args.data, os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                                f"recs-ncf-valid-{os.getpid()}"))
        args.skip_peer = True
    psql = Psql(args.db)
    load(psql, args.data)
    splits = args.splits.split(",")
    if args.series_grid is not None:
        return series_grid(psql, args, splits)
    if args.order_decays:
        return order_sweep(psql, args, splits)
    if args.sweep:
        return settings_sweep(psql, args, splits)
    if args.tune:
        return tune_time(psql, args)
    res = {"epochs": args.epochs, "threads": args.threads}
    if "loo" in splits:
        m, info = train(psql, "loo_train", "ncf_loo", args)
        info.update(eval_loo(psql, m))
        info["cowatch_vs_peer"] = check_cowatch(psql, m, args.data, "loo_train")
        res["loo"] = info
        log(f"[recs loo] {info}")
    if "time" in splits:
        m, info = train(psql, "time_train", "ncf_time", args)
        info.update(eval_time(psql))
        info["recommend_latency"] = latency(psql)
        res["time"] = info
        log(f"[recs time] {info}")
    if args.latency:
        res["latency_scaling"] = latency_scaling(psql)
    peer = None if args.skip_peer else run_peer(args)
    res["peer"] = peer

    print()
    print(f"NCF two-tower 256-128-64, {args.epochs} epochs, {args.threads} threads, loss {args.loss}, "
          f"batch {args.batch_size}, lr {args.learning_rate:g}"
          + (", 4 negatives" if args.loss == "binary" else ", in-batch negatives")
          + f"; peer: {args.peer_epochs or args.epochs} epochs, batch 256, lr 1e-3, 4 negatives")
    if args.ncf_args:
        print(f"recs' train_ncf arguments overridden (--ncf-args): {args.ncf_args}")
    print(f"{'figure':<34}{'recs':>12}{'peer':>12}{'recs/peer':>11}")

    def row(label, a, b, nd=4):
        ratio = (float(a) / b) if (a is not None and b) else None
        print(f"{label:<34}{fmt(a, nd):>12}{fmt(b, nd):>12}{fmt(ratio, 2):>11}")

    p = peer or {}
    if "loo" in res:
        pl = p.get("loo", {})
        row("LOO HR@10", res["loo"]["hr10"], pl.get("hr10"))
        row("LOO NDCG@10", res["loo"]["ndcg10"], pl.get("ndcg10"))
        row("LOO train examples/s", float(res["loo"]["examples_per_s"]), pl.get("train_examples_per_s"), 0)
        row("LOO examples/s, clean epochs", res["loo"]["examples_per_s_clean"],
            pl.get("train_examples_per_s_clean"), 0)
        row("LOO clean epochs", res["loo"]["clean_epochs"], pl.get("clean_epochs"), 0)
        row("LOO foreign CPU s", res["loo"]["foreign_cpu_s"], pl.get("foreign_cpu_s_during_train"), 1)
        row("LOO train s", float(res["loo"]["train_s"]), pl.get("train_s"), 1)
        cw = res["loo"]["cowatch_vs_peer"]
        print(f"co-watch top-50 (loo_train): {cw['pairs']} pairs, same (course, neighbour) pairs as the "
              f"peer's evalcommon: {cw['same_pairs']}, max |difference| {cw['max_abs_diff']:.2e}")
    if "time" in res:
        pt = p.get("time", {})
        row("time Recall@10", res["time"]["recall10"], pt.get("recall10"))
        row("time NDCG@10", res["time"]["ndcg10"], pt.get("ndcg10"))
        row("time train examples/s", float(res["time"]["examples_per_s"]), pt.get("train_examples_per_s"), 0)
        row("time examples/s, clean epochs", res["time"]["examples_per_s_clean"],
            pt.get("train_examples_per_s_clean"), 0)
        row("time clean epochs", res["time"]["clean_epochs"], pt.get("clean_epochs"), 0)
        row("time foreign CPU s", res["time"]["foreign_cpu_s"], pt.get("foreign_cpu_s_during_train"), 1)
        row("time train s", float(res["time"]["train_s"]), pt.get("train_s"), 1)
        print(f"recommend(learner, 10) latency: median {res['time']['recommend_latency']['median_ms']} ms, "
              f"p95 {res['time']['recommend_latency']['p95_ms']} ms (1,682 courses)")
    if p.get("process_cpu_s"):
        # examples per CPU second over both splits: recs' training CPU (metrics->'train_cpu_seconds')
        # against the peer process's whole CPU time
        both = [sp for sp in ("loo", "time") if sp in res]
        r_ex = sum(float(res[sp]["examples_per_s"]) * float(res[sp]["train_s"]) for sp in both)
        r_cpu = sum(float(res[sp]["train_cpu_s"]) for sp in both)
        p_ex = sum(float(p[sp]["train_examples_per_s"]) * float(p[sp]["train_s"]) for sp in both if sp in p)
        row("training CPU s (peer: process)", r_cpu, p["process_cpu_s"], 1)
        row("examples per CPU second", r_ex / r_cpu if r_cpu else None,
            p_ex / p["process_cpu_s"] if p_ex else None, 0)
    for n, v in res.get("latency_scaling", {}).items():
        print(f"recommend(learner, 10) latency, synthetic {n:,} courses x 64-d: median {v['median_ms']} ms, p95 {v['p95_ms']} ms")
    print("reference (peers/README): ItemPop HR@10 0.3171 / Recall@10 0.0605; "
          "ItemKNN HR@10 0.5027 / Recall@10 0.0563")
    print(json.dumps(res))


def tune_time(psql, args):
    """recs.tune_ncf on ML-100K's time_train: the grid --tune, the options the bench's settings
    (train()'s) and --tune-options over them. tune_ncf holds out the latest tenth of time_train
    (validation 'auto'), chooses the grid point and its epochs there, refits on all of
    time_train; the refit serves the time test, with recent popularity and item-kNN beside it."""
    opts = {"courses": "ml.courses", "seconds_column": None, "window_days": 365, "layers": [256, 128], "dim": 64,
            "epochs": args.epochs, "negatives": 4, "learning_rate": args.learning_rate,
            "batch_size": args.batch_size, "neighbours": 50, "seed": args.seed, "threads": args.threads,
            "loss": args.loss}
    opts.update(json.loads(args.tune_options or "{}"))
    lit = lambda v: "'" + json.dumps(v).replace("'", "''") + "'"
    busy0 = machine_busy_s()
    out, err, dt = psql.run(f"""SELECT settings, best_epoch, recall_at_10, ndcg_at_10, seconds, chosen, model_id
                                  FROM recs.tune_ncf('ml.time_train', {lit(json.loads(args.tune))}, 'tune',
                                                     options => {lit(opts)})""")
    busy = machine_busy_s() - busy0
    for line in err.splitlines():
        if "tune_ncf" in line:
            log("  " + line.split("NOTICE:  ")[-1])
    grid = [line.split("\t") for line in out.splitlines() if line]
    chosen = [r for r in grid if r[5] == "t"][0]
    test = eval_time(psql)
    knn = {mode: eval_time_knn(psql, int(chosen[6]), mode) for mode in ("hist", "last")}
    pop = recent_pop_time(psql)
    print()
    print(f"recs.tune_ncf on the time split's training file ({opts}); its held-out slice: the latest"
          f" tenth of time_train; {dt:.0f} s wall, {busy:.0f} CPU s (machine)")
    print(f"{'settings':<50}{'best epoch':>11}{'held-out R@10':>14}{'NDCG@10':>9}{'s':>7}")
    for s_, e, r, n, sec, c, _ in grid:
        print(f"{('* ' if c == 't' else '  ') + s_:<50}{e:>11}{float(r):>14.4f}{float(n):>9.4f}{float(sec):>7.0f}")
    print(f"chosen, refitted on all of time_train, on the time test: Recall@10 {test['recall10']:.4f},"
          f" NDCG@10 {test['ndcg10']:.4f} ({test['learners']} learners)")
    for mode, r in knn.items():
        print(f"item-kNN {mode}: Recall@10 {r['recall10']:.4f}, NDCG@10 {r['ndcg10']:.4f}")
    print(f"popularity over the last 30 days: Recall@10 {pop['recall10']:.4f}, NDCG@10 {pop['ndcg10']:.4f}")
    print(json.dumps({"options": opts, "grid": grid, "test": test, "knn": knn, "recent_popularity": pop}))


def ensemble_eval(psql, models, splits):
    """The sum of several models' scores as one ranking (an ensemble of two-tower models is a
    two-tower model: the concatenated embeddings' dot product is the sum of the dot products):
    LOO HR@10 / NDCG@10 over the models in models["loo"], time-split Recall@10 / NDCG@10 over
    the full catalogue for those in models["time"]."""
    out = {}
    if "loo" in splits and models.get("loo"):
        out["loo"] = eval_loo_scores(psql, " + ".join(
            f"recs.score({m}, c.learner_id, c.course_id)" for m in models["loo"]))
    if "time" in splits and models.get("time"):
        scores = {}
        for m in models["time"]:
            for lid, cid, sc in psql.rows(f"""
                    SELECT l.learner_id, r.course_id, r.score
                      FROM (SELECT DISTINCT learner_id FROM ml.time_test) l,
                           recs.recommend(l.learner_id, 100000, model => {m}) r"""):
                d = scores.setdefault(int(lid), {})
                d[int(cid)] = d.get(int(cid), 0.0) + float(sc)
        out["time"] = eval_time_lists(psql, lambda lid: scores.get(lid, {}))
    return out


def settings_sweep(psql, args, splits):
    """--sweep: train_ncf at each setting on the splits (validation or test, --valid), one table."""
    settings = []
    for item in args.sweep.split(";"):
        if item.strip():
            label, sep, extra = item.partition(":")
            settings.append((label.strip(), extra.strip() if sep else ""))
    res = {"epochs": args.epochs, "threads": args.threads, "ncf_args": args.ncf_args, "valid": args.valid,
           "settings": {}}
    if args.ensemble > 1:
        # every setting trained at seeds seed .. seed + K - 1, then scored as one ensemble
        settings = [(f"{label}_s{args.seed + k}" if k else label,
                     ", ".join(filter(None, [extra, f"seed => {args.seed + k}"])), label)
                    for label, extra in settings for k in range(args.ensemble)]
    else:
        settings = [(label, extra, label) for label, extra in settings]
    members = {}
    for i, (label, extra, group) in enumerate(settings):
        r = {"args": extra}
        if "loo" in splits:
            m, info = train(psql, "loo_train", f"sw{i}_loo", args, extra=extra)
            members.setdefault(group, {}).setdefault("loo", []).append(m)
            info.update(eval_loo(psql, m))
            own = eval_loo_trend_own_time(psql, m)
            if own:
                info["trend_own_time"] = own
                log(f"[sweep {label}] LOO with the trend at each learner's own time: HR@10 {fmt(own['hr10'])}"
                    f" NDCG@10 {fmt(own['ndcg10'])}")
            r["loo"] = info
        if "time" in splits:
            m, info = train(psql, "time_train", f"sw{i}_time", args, extra=extra)
            members.setdefault(group, {}).setdefault("time", []).append(m)
            psql.run(f"SELECT recs.activate({m})")
            info.update(eval_time(psql))
            r["time"] = info
        res["settings"][label] = r
        lo, ti = r.get("loo", {}), r.get("time", {})
        log(f"[sweep {label}] LOO HR@10 {fmt(lo.get('hr10'))} NDCG@10 {fmt(lo.get('ndcg10'))}"
            f" time R@10 {fmt(ti.get('recall10'))} NDCG@10 {fmt(ti.get('ndcg10'))}"
            f" cpu s {lo.get('train_cpu_s')} / {ti.get('train_cpu_s')}")
        if args.ensemble > 1 and i % args.ensemble == args.ensemble - 1:
            e = ensemble_eval(psql, members[group], splits)
            lo, ti = e.get("loo", {}), e.get("time", {})
            res["settings"][f"{group}_ensemble{args.ensemble}"] = dict(e, args=f"sum of {args.ensemble} seeds")
            log(f"[sweep {group} ensemble of {args.ensemble}] LOO HR@10 {fmt(lo.get('hr10'))}"
                f" NDCG@10 {fmt(lo.get('ndcg10'))} time R@10 {fmt(ti.get('recall10'))} NDCG@10 {fmt(ti.get('ndcg10'))}")
    print()
    print(f"NCF settings on the {'VALIDATION' if args.valid else 'TEST'} splits of {args.data}; base: 256-128-64,"
          f" {args.epochs} epochs, loss {args.loss}, batch {args.batch_size}, lr {args.learning_rate:g},"
          f" seed {args.seed}, {args.threads} threads; --ncf-args {args.ncf_args!r}")
    print(f"{'setting':<16}{'LOO HR@10':>10}{'LOO NDCG':>10}{'time R@10':>10}{'time NDCG':>10}{'CPU s':>8}  args")
    for label, r in res["settings"].items():
        lo, ti = r.get("loo", {}), r.get("time", {})
        cpu = sum(x.get("train_cpu_s") or 0 for x in (lo, ti))
        print(f"{label:<16}{fmt(lo.get('hr10')):>10}{fmt(lo.get('ndcg10')):>10}{fmt(ti.get('recall10')):>10}"
              f"{fmt(ti.get('ndcg10')):>10}{cpu:>8.0f}  {r['args']}")
    print(json.dumps(res))


def order_sweep(psql, args, splits):
    """train_ncf at several order_decay values: LOO and time-split quality, training speed, and
    (--knn) the item-kNN baselines, (--series) the generated series data set."""
    decays = [x if x.startswith("att") else float(x) for x in args.order_decays.split(",")]
    res = {"epochs": args.epochs, "threads": args.threads, "order_decays": decays}
    for d in decays:
        r = {}
        if "loo" in splits:
            m, info = train(psql, "loo_train", f"ncf_loo_{d}", args, d)
            info.update(eval_loo(psql, m))
            r["loo"] = info
            if args.knn and d == decays[0]:
                res["knn_loo"] = {mode: eval_loo_knn(psql, m, mode) for mode in ("hist", "last")}
                res["knn_loo"]["recent30"] = recent_pop_loo(psql)
                res["knn_loo"]["recs_pop30"] = eval_loo(psql, recs_popularity(psql, "loo_train"))
        if "time" in splits:
            m, info = train(psql, "time_train", f"ncf_time_{d}", args, d)
            psql.run(f"SELECT recs.activate({m})")
            info.update(eval_time(psql))
            r["time"] = info
            if args.knn and d == decays[0]:
                res["knn_time"] = {mode: eval_time_knn(psql, m, mode) for mode in ("hist", "last")}
                res["knn_time"]["recent30"] = recent_pop_time(psql)
                recs_popularity(psql, "time_train")
                res["knn_time"]["recs_pop30"] = eval_time(psql)
        res[str(d)] = r
        log(f"[order_decay {d}] {r}")
    if args.series:
        res["series"] = series_bench(psql, args, decays)

    print()
    print(f"NCF two-tower 256-128-64, {args.epochs} epochs, {args.threads} threads, by order_decay")
    print(f"{'model':<24}{'LOO HR@10':>11}{'LOO NDCG':>10}{'time R@10':>11}{'time NDCG':>11}"
          f"{'LOO ex/s':>10}{'time ex/s':>11}")
    for d in decays:
        lo, ti = res[str(d)].get("loo", {}), res[str(d)].get("time", {})
        print(f"{'ncf ' + (d if isinstance(d, str) else 'order_decay ' + str(d)):<24}{fmt(lo.get('hr10')):>11}{fmt(lo.get('ndcg10')):>10}"
              f"{fmt(ti.get('recall10')):>11}{fmt(ti.get('ndcg10')):>11}"
              f"{fmt(lo.get('examples_per_s'), 0):>10}{fmt(ti.get('examples_per_s'), 0):>11}")
    for mode, label in (("hist", "item-kNN hist"), ("last", "item-kNN last"), ("recent30", "popularity, last 30 d"),
                        ("recs_pop30", "recs popularity, 30 d")):
        if "knn_loo" in res or "knn_time" in res:
            lo, ti = res.get("knn_loo", {}).get(mode, {}), res.get("knn_time", {}).get(mode, {})
            print(f"{label:<24}{fmt(lo.get('hr10')):>11}{fmt(lo.get('ndcg10')):>10}"
                  f"{fmt(ti.get('recall10')):>11}{fmt(ti.get('ndcg10')):>11}")
    if "series" in res:
        sr = res["series"]
        print(f"series data: {sr['learners']} learners, {sr['watches']} watches, latest watch held out")
        print(f"{'model':<24}{'HR@1':>8}{'HR@10':>8}{'NDCG@10':>9}")
        for key in [f"ncf_{d}" for d in decays] + ["knn_hist", "knn_last", "oracle"]:
            v = sr[key]
            print(f"{key:<24}{fmt(v['hr1']):>8}{fmt(v['hr10']):>8}{fmt(v['ndcg10']):>9}")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
