#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU and CUDA 13 libraries but no Rust toolchain:
# a `cuda` classgen built elsewhere (scripts/build-gpu-binary.sh) runs `classgen gpu-check`
# (CPU-vs-GPU agreement of every device path, then speed on both), and PyTorch's peer
# (torch_cnn.py --device cuda) runs beside it when python3 has torch, in at most 8 minutes, into
# one Markdown report.
#
#   bash scripts/gpu-check.sh [--binary FILE] [--data-dir DIR] [--peers DIR] [--report FILE]
#
# --binary   classgen, or classgen.gz (default: .gpu/classgen.gz, else .gpu/classgen)
# --data-dir full MNIST for the figures (default: .gpu/mnist if present; else the figures are
#            measured on the bundled sample and scaled)
# --peers    the folder holding torch_cnn.py (default: .gpu/peers, else ../shared/peers)
# --report   where the report goes (default: $OUT/gpu-check.md when OUT is set, else
#            ./gpu-check.md)
# CUDA libraries: those the system has, else Python wheels' (PyTorch's nvidia/*/lib).
# Exit status: 0 every check passed; 1 a check failed, or something is missing; 3 no GPU.
set -uo pipefail
cd "$(dirname "$0")/.."

binary="" data="" peers="" report=""
while (($#)); do
  [[ $# -ge 2 ]] || { echo "gpu-check: $1 needs a value" >&2; exit 1; }
  case "$1" in
    --binary) binary=$2 ;;
    --data-dir) data=$2 ;;
    --peers) peers=$2 ;;
    --report) report=$2 ;;
    *)
      echo "usage: $0 [--binary FILE] [--data-dir DIR] [--peers DIR] [--report FILE]" >&2
      exit 1
      ;;
  esac
  shift 2
done
report=${report:-${OUT:+$OUT/}gpu-check.md}
started=$SECONDS

say() { echo "gpu-check: $*" >&2; }
fail() {
  say "error: $*"
  printf '# GPU check\n\nerror: %s\n' "$*" >"$report"
  exit 1
}
no_gpu() {
  say "no GPU: $*"
  printf '# GPU check\n\nno GPU: %s\n' "$*" >"$report"
  exit 3
}

# 1. A GPU and its driver.
command -v nvidia-smi >/dev/null 2>&1 || no_gpu "nvidia-smi not found (no NVIDIA driver on this machine)"
gpus=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 | paste -sd ';') ||
  no_gpu "nvidia-smi failed: $gpus"
[[ -n "$gpus" ]] || no_gpu "nvidia-smi lists no GPU"
driver_cuda=$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1)

# 2. The binary, unpacked where it can run.
if [[ -z "$binary" ]]; then
  for candidate in .gpu/classgen.gz .gpu/classgen; do
    [[ -f "$candidate" ]] && binary=$candidate && break
  done
fi
[[ -n "$binary" && -f "$binary" ]] || fail "no classgen binary (build one with scripts/build-gpu-binary.sh; --binary FILE)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=$work/classgen
if [[ "$binary" == *.gz ]]; then
  gzip -dc "$binary" >"$bin" 2>/dev/null ||
    python3 -c 'import gzip, shutil, sys; shutil.copyfileobj(gzip.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$binary" "$bin" ||
    fail "cannot unpack $binary"
else
  cp "$binary" "$bin"
fi
chmod +x "$bin"

# 3. The CUDA libraries the binary needs: the system's, else any Python wheel's.
missing() { ldd "$bin" 2>/dev/null | awk '/not found/ { print $1 }'; }
roots=(/usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib /usr/local/cuda-13*/lib64 /usr/local/nvidia/lib64)
if command -v python3 >/dev/null 2>&1; then
  while IFS= read -r site; do
    roots+=("$site"/nvidia/*/lib "$site"/torch/lib)
  done < <(python3 -c 'import site, sys; print("\n".join(site.getsitepackages() + [site.getusersitepackages()] + sys.path))' 2>/dev/null)
fi
for lib in $(missing); do
  for dir in "${roots[@]}"; do
    if [[ -e "$dir/$lib" ]]; then
      export LD_LIBRARY_PATH="$dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
      break
    fi
  done
done
still=$(missing | tr '\n' ' ')
if [[ "$still" == *libcuda.so.1* ]]; then
  no_gpu "libcuda.so.1 (the NVIDIA driver's library) not found, though nvidia-smi runs"
fi
[[ -z "$still" ]] || fail "CUDA 13 libraries not found: $still(install CUDA 13's runtime, cuBLAS and cuRAND, or pip install nvidia-cuda-runtime nvidia-cublas nvidia-curand)"
libraries=$(ldd "$bin" | grep -E 'lib(cuda|cudart|cublas|cublasLt|curand|nvrtc)\.so' | sed 's/^[[:space:]]*/    /')

# 4. classgen's checks and figures (at most 5 min 40 s), then PyTorch's (at most 2 minutes).
[[ -z "$data" && -d .gpu/mnist ]] && data=.gpu/mnist
say "running classgen gpu-check${data:+ with the figures on $data}"
timeout 340 "$bin" gpu-check --report "$work/classgen.md" ${data:+--data-dir "$data"} 2>&1 |
  tee "$work/classgen.log" >&2
classgen_rc=${PIPESTATUS[0]}

[[ -z "$peers" ]] && for candidate in .gpu/peers ../shared/peers; do
  [[ -f "$candidate/torch_cnn.py" ]] && peers=$candidate && break
done
peer_data=${data:-data/mnist-sample}
if [[ -z "$peers" ]]; then
  peer="not run: torch_cnn.py not found (--peers DIR)"
elif ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; then
  peer="not run: python3 has no PyTorch that sees the GPU"
else
  say "running PyTorch's peer on $peer_data"
  peer=$(PEERS_NO_VENV=1 MNIST_DIR="$peer_data" PEERS_OUT="$work/peers" PYTHONUNBUFFERED=1 \
    timeout 120 python3 "$peers/torch_cnn.py" --device cuda --epochs 1 2>&1)
  peer_rc=$?
  ((peer_rc == 0)) || peer="$peer
(exit status $peer_rc)"
fi

# 5. One report.
{
  echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- host: $(hostname), $(nproc) CPUs"
  echo "- GPU (nvidia-smi: name, driver, memory, compute capability): $gpus"
  echo "- driver: ${driver_cuda:-CUDA version not shown by nvidia-smi}"
  echo "- binary: $binary ($(($(stat -c %s "$bin") >> 20)) MiB), $("$bin" --version 2>&1)"
  echo "- CUDA libraries used:"
  echo
  echo "$libraries"
  echo
  if [[ -s "$work/classgen.md" ]]; then
    sed 's/^#/##/' "$work/classgen.md"
  else
    echo "## classgen gpu-check"
    echo
    echo "did not finish (exit status $classgen_rc); its last lines:"
    echo
    echo '```text'
    tail -20 "$work/classgen.log"
    echo '```'
  fi
  echo
  echo "## PyTorch peer: torch_cnn.py --device cuda --epochs 1 on $peer_data"
  echo
  echo '```text'
  echo "$peer"
  echo '```'
  echo
  echo "gpu-check.sh took $((SECONDS - started)) s; classgen gpu-check exit status $classgen_rc."
} >"$report"
say "report: $report"
((classgen_rc == 0)) || exit 1
