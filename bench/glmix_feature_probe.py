#!/usr/bin/python3
"""bench/glmix_feature_probe.py -- candidate features for the GLMix click task, tried with the
peer's own solver before anything is built into recs.

    /usr/bin/python3 bench/glmix_feature_probe.py [--valid] [SPLIT_DIR]

Imports shared/peers/glmix_py.py (its FeatureSpace, FixedEffect, RandomEffect, fit_game: the
peer's model, L2 300/10/10, 3 passes) and adds columns built from the fitting rows only
(clicks_train, or with --valid its rows before its own 90th percentile time, PROTOCOL.md's
click validation; ratings from time_train.tsv, the same rows): course statistics as fixed
and per-learner features, and learner x genre affinities summed over the course's genres
(a weighted-overlap / dot-product match), i.e. what a new match kind in C would compute.
Prints the AUC (all, warm, cold learners) and log-loss of each variant.  Nothing here is
timed against recs; bench/glmix_bench.sh part 4 runs the chosen variants in recs.
"""
import sys, os, time
HERE = os.path.dirname(os.path.abspath(__file__))
CWD = os.getcwd()
PEERS = os.path.join(HERE, "..", "..", "shared", "peers")
sys.path.insert(0, PEERS)
os.chdir(PEERS)
import threadsetup; threadsetup.setup_threads()
import numpy as np, pandas as pd, scipy.sparse as sp
from scipy.special import expit
from sklearn.metrics import roc_auc_score, log_loss
import evalcommon as ec
from glmix_py import FeatureSpace, FixedEffect, RandomEffect, fit_game
import glmix_py; glmix_py.log = lambda *a: None
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
D = os.path.join(CWD, ARGS[0]) if ARGS else os.path.join(HERE, "..", "..", "shared", "data", "ml-100k-splits")
ids = ec.IdMap.from_split_dir(D)
rd = lambda n: pd.read_csv(os.path.join(D, n), sep="\t")
ctr, cte, ttr = rd("clicks_train.tsv"), rd("clicks_test.tsv"), rd("time_train.tsv")
assert (ctr.learner_id.values == ttr.learner_id.values).all() and (ctr.course_id.values == ttr.course_id.values).all()
ctr["rating"] = ttr["rating"].values
fs = FeatureSpace(rd("learners.tsv"), rd("courses.tsv"), ids)
NL, NC, G = ids.n_learners, ids.n_courses, fs.G.toarray()
VALID = "--valid" in sys.argv
if VALID:
    ts = np.sort(ctr.ts.values); cut = ts[int(np.ceil(0.9 * len(ts))) - 1]
    train, test = ctr[ctr.ts < cut].reset_index(drop=True), ctr[ctr.ts >= cut].reset_index(drop=True)
else:
    train, test = ctr, cte

def std(x):
    x = np.asarray(x, float); s = x.std(); return (x - x.mean()) / s if s > 0 else 0 * x

def side_features(train):
    u = ids.learner_index(train.learner_id); c = ids.course_index(train.course_id)
    y = train.label.values.astype(float); r = train.rating.values.astype(float)
    gy, gr = y.mean(), r.mean()
    F = {}
    nc = np.bincount(c, minlength=NC); nu = np.bincount(u, minlength=NL)
    for m in (0, 5, 20):
        F[f"c_rating_m{m}"] = np.where(nc > 0, (np.bincount(c, r, NC) + m * gr) / np.maximum(nc + m, 1e-9), gr)
        F[f"c_click_m{m}"] = np.where(nc > 0, (np.bincount(c, y, NC) + m * gy) / np.maximum(nc + m, 1e-9), gy)
    F["c_logpop"] = np.log1p(nc)
    F["l_activity"] = np.log1p(nu)
    F["l_rating_m5"] = np.where(nu > 0, (np.bincount(u, r, NL) + 5 * gr) / np.maximum(nu + 5, 1e-9), gr)
    # learner x genre weighted affinities (learner rows), from training only
    Gr = G[c]  # rows x genres
    cnt = np.zeros((NL, G.shape[1])); np.add.at(cnt, u, Gr)
    ysum = np.zeros_like(cnt); np.add.at(ysum, u, Gr * y[:, None])
    rsum = np.zeros_like(cnt); np.add.at(rsum, u, Gr * r[:, None])
    F["aff_share"] = cnt / np.maximum(cnt.sum(1, keepdims=True), 1)          # genre share of watches
    F["aff_click"] = (ysum + 5 * gy) / (cnt + 5) - gy                          # shrunk click-rate lift per genre
    # per-learner: lift relative to the learner's own mean
    lu = np.where(nu > 0, np.bincount(u, y, NL) / np.maximum(nu, 1), gy)
    F["aff_click_rel"] = (ysum + 5 * lu[:, None]) / (cnt + 5) - lu[:, None]
    F["aff_rating"] = (rsum + 5 * gr) / (cnt + 5) - gr
    F["nc"], F["nu"] = nc, nu
    return F

def run(extra_fixed=(), dots=(), extra_lre=(), extra_cre=(), l2=(300, 10, 10), passes=3, coords_which=("fixed","learner","course")):
    F = side_features(train)
    def designs(df):
        u = ids.learner_index(df.learner_id); c = ids.course_index(df.course_id)
        X = fs.fixed_design(u, c)
        cols = []
        for name in extra_fixed:
            v = std(F[name])
            cols.append(v[c] if name.startswith("c_") else v[u])
        for name in dots:
            A = F[name]
            d = (A[u] * G[c]).sum(1)
            cols.append(d)
        if cols:
            X = sp.hstack([X, sp.csr_matrix(np.column_stack(cols))]).tocsr()
        ZL = fs.learner_re_design(c)
        if extra_lre:
            ZL = sp.hstack([ZL, sp.csr_matrix(np.column_stack([std(F[n])[c] for n in extra_lre]))]).tocsr()
        ZC = fs.course_re_design(u)
        if extra_cre:
            ZC = sp.hstack([ZC, sp.csr_matrix(np.column_stack([std(F[n])[u] for n in extra_cre]))]).tocsr()
        return u, c, X, ZL, ZC
    u, c, X, ZL, ZC = designs(train)
    ut, ct, Xt, ZLt, ZCt = designs(test)
    y = train.label.values.astype(float); yt = test.label.values.astype(float)
    co = [("fixed", FixedEffect(X, l2[0]))]
    if "learner" in coords_which: co.append(("per_learner", RandomEffect(ZL, u, NL, l2[1])))
    if "course" in coords_which: co.append(("per_course", RandomEffect(ZC, c, NC, l2[2])))
    t0 = time.time()
    fit_game(co, y, np.ones(len(y)), passes)
    z = co[0][1].score(Xt)
    for n, cc in co[1:]:
        z = z + (cc.score(ZLt, ut) if n == "per_learner" else cc.score(ZCt, ct))
    warm = np.isin(ut, np.unique(u))
    p = expit(z)
    return dict(auc=roc_auc_score(yt, p), ll=log_loss(yt, p), warm=roc_auc_score(yt[warm], p[warm]),
                cold=roc_auc_score(yt[~warm], p[~warm]) if (~warm).any() else float('nan'), s=time.time() - t0)

VARIANTS = [
    ("base (the peer's features)", {}),
    ("course mean rating (fixed + per-learner)", dict(extra_fixed=["c_rating_m5"], extra_lre=["c_rating_m5"])),
    ("course mean rating, popularity (fixed)", dict(extra_fixed=["c_rating_m5", "c_logpop"])),
    ("learner activity (fixed)", dict(extra_fixed=["l_activity"])),
    ("learner mean rating (fixed + per-course), with the course's",
     dict(extra_fixed=["c_rating_m5", "l_rating_m5"], extra_lre=["c_rating_m5"], extra_cre=["l_rating_m5"])),
    ("affinity: genre share of watches . genres", dict(dots=["aff_share"])),
    ("affinity: shrunk click-rate lift . genres", dict(dots=["aff_click"])),
    ("affinity: lift over own click rate . genres", dict(dots=["aff_click_rel"])),
    ("affinity: shrunk rating lift . genres", dict(dots=["aff_rating"])),
]

if __name__ == "__main__":
    variants = VARIANTS
    for name, kw in variants:
        r = run(**kw)
        print(f"{'valid' if VALID else 'test'} {name:40s} AUC {r['auc']:.4f} ll {r['ll']:.4f} warm {r['warm']:.4f} cold {r['cold']:.4f} {r['s']:.1f}s", flush=True)
