#!/usr/bin/env bash
# bench/ncf_bench.sh -- NCF: recs against the PyTorch two-tower peer on ML-100K.
#
# Loads the ml-100k-splits TSV files into a throwaway cluster, trains recs on
# loo_train and on time_train with the peer's hyper-parameters, evaluates
# exactly as PROTOCOL.md says, runs ../shared/peers/ncf_torch.py with the same
# settings, and prints both side by side.  MovieLens data never enter the
# repository: the split directory is an argument.
#
#   bash bench/ncf_bench.sh [SPLIT_DIR] [--epochs N] [--threads N] [--skip-peer]
#   bash bench/ncf_bench.sh --loss softmax --batch-size 2048 [--learning-rate X]   # recs' loss
#   bash bench/ncf_bench.sh --order-decays 1,0.9,0.7 [--knn] [--series]   # order weights
#   bash bench/ncf_bench.sh --series-grid 'loss=softmax,batch_size=256;...' [--splits time] [--sample] [--sample-time] [--item-models]
#                                           # series data, settings chosen on validation
#   bash bench/ncf_bench.sh --valid --splits loo --threads 1 --sweep "base: ; neg8: negatives => 8"   # settings on validation data
#   bash bench/ncf_bench.sh --ncf-args "negatives => 8"   # more train_ncf arguments
#   bash bench/ncf_bench.sh --splits time --threads 1 --tune '{"trend_weight": [1, 4, 16, 64]}' \
#       --tune-options '{"trend_days": 30}'   # recs.tune_ncf chooses on its own held-out slice
set -euo pipefail
. "$(dirname "$0")/../scripts/cluster.sh"

case " $* " in
*" --help "*|*" -h "*)
	# the usage, without building or starting anything
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exec /usr/bin/python3 "$RECS_ROOT/bench/ncf_eval.py" --help ;;
esac
data=$RECS_ROOT/../shared/data/ml-100k-splits
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then data=$1; shift; fi
data=$(cd "$data" && pwd)

recs_ensure_packages
recs_build_install
recs_start_cluster
trap 'recs_stop_cluster' EXIT
db=recs_bench
if [ "$RECS_EXISTING_SERVER" = 1 ]; then db=$PGDATABASE; else
	dropdb --if-exists "$db" && createdb "$db"
fi
uptime
/usr/bin/python3 "$RECS_ROOT/bench/ncf_eval.py" --db "$db" --data "$data" "$@"
