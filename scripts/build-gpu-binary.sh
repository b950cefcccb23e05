#!/usr/bin/env bash
# Builds the `cuda` classgen for a GPU machine without a Rust toolchain, and gathers in .gpu/
# (git-ignored) what scripts/gpu-check.sh needs there, small enough to travel (64 MiB):
#   .gpu/classgen.gz  the release binary, stripped (57 MiB) and gzipped
#   .gpu/mnist/       full MNIST from ../shared/data/mnist, when present (11 MB): full-size figures
#   .gpu/peers/       the PyTorch peer from ../shared/peers, when present
# Then, on the GPU machine, from the repository root: bash scripts/gpu-check.sh
#
# Builds in CLASSGEN_CUDA_TARGET (default ~/.cache/classgen-cuda-target, the one CI uses, so the
# kernels are compiled once per machine), with the system's nvcc when it is on the PATH, else with
# scripts/cuda-toolchain.sh's. CUDA_COMPUTE_CAP names the GPU's compute capability (default 90:
# H100, H200).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v nvcc >/dev/null 2>&1; then
  cuda_env=$(scripts/cuda-toolchain.sh)
  eval "$cuda_env"
fi
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CLASSGEN_CUDA_TARGET:-$HOME/.cache/classgen-cuda-target}
nice -n 10 cargo build --release --features cuda --bin classgen

out=.gpu
mkdir -p "$out"
strip -o "$out/classgen" "$CARGO_TARGET_DIR/release/classgen"
gzip -9 -f "$out/classgen"
for pair in ../shared/data/mnist:mnist ../shared/peers:peers; do
  from=${pair%%:*} to=$out/${pair##*:}
  if [[ -d "$from" ]]; then
    rm -rf "$to"
    cp -rL "$from" "$to"
    chmod -R u+w "$to"
  fi
done

total=$(du -sb "$out" | cut -f1)
tree=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
echo "build-gpu-binary: $out holds $((total >> 20)) MiB, the tracked tree $((tree >> 20)) MiB:"
ls -l "$out"
if ((total + tree > 64 << 20)); then
  echo "build-gpu-binary: warning: more than the 64 MiB a device call carries; drop $out/mnist" >&2
fi
echo "build-gpu-binary: on the GPU machine, from the repository root: bash scripts/gpu-check.sh"
