#!/usr/bin/env bash
# classgen against its peers (../shared/peers: PyTorch and scikit-learn), side by side on this
# machine: each comparison runs classgen and the peer alternately, PAIRS times (A B A B ...),
# on the same data and recipe, and prints every figure, each pair's ratio and the median ratio
# (above 1: classgen is faster).
#
#   scripts/bench-vs-peers.sh [train] [infer] [knn] [logreg]   (default: all four)
#
# - train:  one 60,000-image epoch of the seed CNN, the study's plain recipe (Adam 1e-3,
#           constant rate, no augmentation, batch 128, Keras init), 2 threads each:
#           `classgen train --json` against `torch_cnn.py --epochs 1` (images/s);
# - infer:  the 10,000 test images: `cargo bench --bench train_epoch -- --inference` against
#           torch_cnn.py's inference figure (batch 1000) of the same run as its epoch;
# - knn:    k-NN k=3, 10,000 against 60,000, exact: `cargo bench --bench knn` against
#           `sklearn_peers.py knn` (brute force), on MNIST, and on Fashion-MNIST when
#           $FASHION_DIR (default /usr/share/datasets/fashion-mnist) exists;
# - logreg: `cargo bench --bench baselines -- logreg` (fit) against `sklearn_peers.py logreg`.
#
# Environment: PAIRS (default 3), MNIST_DIR (default ../shared/data/mnist), FASHION_DIR,
# PEERS_DIR (default ../shared/peers), PEERS_VENV (default ~/.cache/classgen-peers).
# Wall-clock figures: run it on an otherwise idle machine, and say so when quoting them.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS="${PAIRS:-3}"
MNIST_DIR="$(realpath "${MNIST_DIR:-../shared/data/mnist}")"
FASHION_DIR="${FASHION_DIR:-/usr/share/datasets/fashion-mnist}"
PEERS_DIR="$(realpath "${PEERS_DIR:-../shared/peers}")"
PEERS_VENV="${PEERS_VENV:-$HOME/.cache/classgen-peers}"
export MNIST_DIR FASHION_DIR PEERS_VENV

WHAT=("$@")
[ ${#WHAT[@]} -eq 0 ] && WHAT=(train infer knn logreg)

if [ ! -x "$PEERS_VENV/bin/python" ] || [ ! -f "$PEERS_DIR/torch_cnn.py" ]; then
  echo "PEERS NOT INSTALLED: no $PEERS_VENV/bin/python or no $PEERS_DIR/torch_cnn.py." >&2
  echo "Set them up with: bash $PEERS_DIR/setup.sh (about 4.6 GB), then run this again." >&2
  exit 2
fi
if [ ! -f "$MNIST_DIR/train-images-idx3-ubyte.gz" ]; then
  echo "no MNIST at $MNIST_DIR (set MNIST_DIR)" >&2
  exit 2
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
echo "flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_bf16|amx_tile)$' | xargs)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg) (quote wall-clock figures only from a quiet machine)"
echo "pairs: $PAIRS; data: $MNIST_DIR"

echo "building (release) ..."
cargo build --release --quiet --bin classgen
cargo bench --quiet --no-run --bench train_epoch --bench knn --bench baselines 2>/dev/null

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
printf '[paths]\nruns = "%s/runs"\nsnapshots = "%s/snapshots"\n' "$TMP" "$TMP" >"$TMP/config.toml"

# A peer runs with OpenBLAS's core overrides removed (they slow scikit-learn down).
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$PEERS_VENV/bin/python" "$@"; }
# The first number after a pattern in a file: field PATTERN FILE.
field() { grep -oE "$1 *[0-9.]+" "$2" | head -1 | grep -oE '[0-9.]+$'; }
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }

# Each comparison fills RATIOS; summary lines are collected in SUMMARY.
SUMMARY=()

compare_train_infer() {
  local train_ratios=() infer_ratios=()
  for i in $(seq 1 "$PAIRS"); do
    ./target/release/classgen --config "$TMP/config.toml" train --epochs 1 --schedule constant \
      --augment-shift 0 --batch-size 128 --lr 0.001 --threads 2 --seed "$i" \
      --data-dir "$MNIST_DIR" --json >"$TMP/cg_train.json" 2>/dev/null
    local cg_rate cg_infer tr_rate tr_infer
    cg_rate=$(python3 -c "import json; print(round(json.load(open('$TMP/cg_train.json'))['images_per_second']))")
    RAYON_NUM_THREADS=2 CLASSGEN_BENCH_DATA="$MNIST_DIR" cargo bench --quiet --bench train_epoch \
      -- --inference >"$TMP/cg_infer.txt" 2>/dev/null
    cg_infer=$(field 'inference: median' "$TMP/cg_infer.txt")
    peer "$PEERS_DIR/torch_cnn.py" --epochs 1 --seed "$i" >"$TMP/torch.txt" 2>&1
    tr_rate=$(grep -oE '\(([0-9]+) img/s\)' "$TMP/torch.txt" | head -1 | grep -oE '[0-9]+')
    tr_infer=$(field 'inference 10k \(bs 1000\): median' "$TMP/torch.txt")
    local r_train r_infer
    r_train=$(ratio "$cg_rate" "$tr_rate")
    r_infer=$(ratio "$tr_infer" "$cg_infer")
    train_ratios+=("$r_train")
    infer_ratios+=("$r_infer")
    echo "pair $i train: classgen $cg_rate img/s, PyTorch $tr_rate img/s -> ${r_train}x"
    echo "pair $i infer 10k: classgen ${cg_infer} s, PyTorch ${tr_infer} s -> ${r_infer}x"
  done
  SUMMARY+=("training epoch throughput vs PyTorch: median $(median "${train_ratios[@]}")x (goal 1.5x)")
  SUMMARY+=("inference of 10k vs PyTorch: median $(median "${infer_ratios[@]}")x (goal 2x)")
}

compare_knn() {
  local name=$1 dir=$2 dataset=$3 ratios=()
  for i in $(seq 1 "$PAIRS"); do
    RAYON_NUM_THREADS=2 CLASSGEN_BENCH_DATA="$dir" cargo bench --quiet --bench knn \
      >"$TMP/cg_knn.txt" 2>/dev/null
    local cg sk r
    cg=$(field 'k=3 predict: median' "$TMP/cg_knn.txt")
    FASHION_DIR="$FASHION_DIR" peer "$PEERS_DIR/sklearn_peers.py" knn --dataset "$dataset" \
      >"$TMP/sk_knn.txt" 2>&1
    sk=$(field "knn $dataset:" "$TMP/sk_knn.txt")
    r=$(ratio "$sk" "$cg")
    ratios+=("$r")
    echo "pair $i k-NN $name: classgen ${cg} s, scikit-learn ${sk} s -> ${r}x"
  done
  SUMMARY+=("k-NN k=3 on $name vs scikit-learn brute force: median $(median "${ratios[@]}")x (goal 3x)")
}

compare_logreg() {
  local ratios=()
  for i in $(seq 1 "$PAIRS"); do
    RAYON_NUM_THREADS=2 CLASSGEN_BENCH_DATA="$MNIST_DIR" cargo bench --quiet --bench baselines \
      -- logreg >"$TMP/cg_lr.txt" 2>/dev/null
    local cg sk r
    cg=$(field 'logreg +fit' "$TMP/cg_lr.txt")
    peer "$PEERS_DIR/sklearn_peers.py" logreg >"$TMP/sk_lr.txt" 2>&1
    sk=$(field 'logreg mnist:' "$TMP/sk_lr.txt")
    r=$(ratio "$sk" "$cg")
    ratios+=("$r")
    echo "pair $i logreg fit: classgen ${cg} s, scikit-learn ${sk} s -> ${r}x"
  done
  SUMMARY+=("logistic regression fit vs scikit-learn: median $(median "${ratios[@]}")x")
}

for w in "${WHAT[@]}"; do
  case "$w" in
    train | infer)
      # One comparison covers both: the PyTorch run times its epoch and its inference.
      [[ " ${SUMMARY[*]-} " == *"vs PyTorch"* ]] || compare_train_infer
      ;;
    knn)
      compare_knn MNIST "$MNIST_DIR" mnist
      if [ -f "$FASHION_DIR/train-images-idx3-ubyte.gz" ]; then
        compare_knn Fashion-MNIST "$FASHION_DIR" fashion
      else
        echo "no Fashion-MNIST at $FASHION_DIR (apt-get install dataset-fashion-mnist): skipped"
      fi
      ;;
    logreg) compare_logreg ;;
    *) echo "unknown comparison '$w' (train, infer, knn, logreg)" >&2; exit 2 ;;
  esac
done

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== summary (ratios above 1: classgen faster) =="
printf '%s\n' "${SUMMARY[@]}"
