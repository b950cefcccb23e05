#!/usr/bin/env bash
# A CUDA 13.0 build root for `cargo build --features cuda` on a machine without a CUDA toolkit
# (and without a GPU), from PyPI's NVIDIA wheels alone; reused once made.
#
#   eval "$(scripts/cuda-toolchain.sh)"     # then: cargo build --release --features cuda
#
# Prints the environment to export on stdout (progress goes to stderr): CUDA_HOME, PATH (nvcc),
# CUDA_COMPUTE_CAP (the card's from nvidia-smi, else $CUDA_COMPUTE_CAP, else 90: H100/H200) and
# LD_LIBRARY_PATH (the wheels' libraries, and on a machine without a driver a stub libcuda.so.1,
# so that a cuda binary starts there: `--device cpu` works, `--device cuda` says no GPU).
#
# Not needed on a GPU server with CUDA 13 installed: `cargo build --release --features cuda` alone.
# Needs python3 with pip, gcc and g++, cargo. About 675 MB downloaded once, 1.2 GB installed.
# CLASSGEN_CUDA_PREFIX sets where (default ~/.cache/classgen-cuda13).
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${CLASSGEN_CUDA_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/classgen-cuda13}
# Every wheel pinned to the 13.0 release. nvidia-cuda-nvcc depends on an unpinned nvidia-nvvm,
# and the newest (13.5) emits PTX that ptxas 13.0 and a 580 driver reject.
PINS=(
  nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
  nvidia-cuda-runtime==13.0.96 nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-cccl==13.0.85
  nvidia-cublas==13.0.2.14 nvidia-curand==10.4.0.35
)

say() { echo "cuda-toolchain: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 is missing (apt-get install python3 python3-pip)"
python3 -m pip --version >/dev/null 2>&1 || die "pip is missing for python3 (apt-get install python3-pip)"
for tool in gcc g++; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: nvcc and the libcuda stub need it (apt-get install build-essential)"
done
command -v cargo >/dev/null 2>&1 || die "cargo is missing (https://rustup.rs)"

mkdir -p "$(dirname "$PREFIX")"
# One writer at a time (two CI runs, say); readers of a finished tree need no lock.
exec 9>"$PREFIX.lock"
flock 9

CUDA_HOME="$PREFIX/nvidia/cu13"
MARKER="$PREFIX/.pins"
if [[ -f "$MARKER" && "$(cat "$MARKER")" == "${PINS[*]}" && -x "$CUDA_HOME/bin/nvcc" ]]; then
  say "reusing $PREFIX"
else
  say "installing the CUDA 13.0 wheels into $PREFIX (about 675 MB, once)"
  partial="$PREFIX.partial"
  rm -rf "$partial"
  python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-warn-script-location --root-user-action=ignore \
    --target "$partial" "${PINS[@]}" >&2 || die "pip could not install the CUDA wheels (see above)"
  rm -rf "$PREFIX"
  mv "$partial" "$PREFIX"
  echo "${PINS[*]}" >"$MARKER"
fi
[[ -x "$CUDA_HOME/bin/nvcc" ]] || die "$CUDA_HOME/bin/nvcc is missing: delete $PREFIX and run again"

# What a linker needs beside the wheels' files: unversioned names, and lib64 (cudaforge's default).
for lib in libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13; do
  [[ -e "$CUDA_HOME/lib/$lib" ]] || die "$CUDA_HOME/lib/$lib is missing: delete $PREFIX and run again"
  ln -sfn "$lib" "$CUDA_HOME/lib/${lib%%.so.*}.so"
done
ln -sfn lib "$CUDA_HOME/lib64"

# No wheel ships libcuda (the driver), and cudarc links -lcuda: a stub with every driver entry
# point cudarc declares, each returning CUDA_ERROR_STUB_LIBRARY (34), soname libcuda.so.1 so that a
# binary asks for the real driver at run time. cudarc's bindings list the names.
cudarc=$(awk '/^name = "cudarc"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
[[ -n "$cudarc" ]] || die "Cargo.lock names no cudarc version"
# The bindings file in cargo's registry, or nothing (a glob, not `ls`: with pipefail a missing
# directory would end the script without a word).
find_bindings() {
  local dir
  for dir in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"cudarc-$cudarc"; do
    [[ -f "$dir/src/driver/sys/mod.rs" ]] && echo "$dir/src/driver/sys/mod.rs" && return
  done
  return 0
}
bindings=$(find_bindings)
if [[ -z "$bindings" ]]; then
  say "fetching cudarc $cudarc's source (its driver entry points name the stub's functions)"
  cargo fetch --quiet >&2 || die "cargo fetch failed: cudarc $cudarc's source is needed for the libcuda stub"
  bindings=$(find_bindings)
  [[ -n "$bindings" ]] || die "cargo fetch did not unpack cudarc $cudarc under ${CARGO_HOME:-$HOME/.cargo}/registry/src"
fi
stubs="$CUDA_HOME/lib/stubs"
mkdir -p "$stubs"
source_c=$(grep -oE '^pub unsafe fn cu[A-Za-z0-9_]+' "$bindings" | awk '{ print $4 }' | sort -u |
  awk '{ print "int " $1 "(void) { return 34; }" }')
[[ -n "$source_c" ]] || die "no driver entry points found in $bindings"
if [[ ! -f "$stubs/libcuda.so" || "$(cat "$stubs/libcuda_stub.c" 2>/dev/null)" != "$source_c" ]]; then
  printf '%s\n' "$source_c" >"$stubs/libcuda_stub.c"
  gcc -shared -fPIC -O2 -Wl,-soname,libcuda.so.1 -o "$stubs/libcuda.so.new" "$stubs/libcuda_stub.c" ||
    die "gcc could not build the libcuda stub"
  mv "$stubs/libcuda.so.new" "$stubs/libcuda.so"
  say "built the libcuda stub ($(wc -l <"$stubs/libcuda_stub.c") entry points of cudarc $cudarc)"
fi
mkdir -p "$PREFIX/rt"
ln -sfn "$stubs/libcuda.so" "$PREFIX/rt/libcuda.so.1"

# The card's compute capability when there is one; else the caller's, else Hopper (sm_90a).
cap=${CUDA_COMPUTE_CAP:-}
if command -v nvidia-smi >/dev/null 2>&1; then
  found=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  cap=${found:-$cap}
fi
cap=${cap:-90}

# The stub only where no real driver is installed: it would hide the real one.
library_path="$CUDA_HOME/lib"
if ldconfig -p 2>/dev/null | grep -q 'libcuda\.so\.1 '; then
  say "a CUDA driver is installed: LD_LIBRARY_PATH leaves out the stub"
else
  library_path="$library_path:$PREFIX/rt"
fi
say "$("$CUDA_HOME/bin/nvcc" --version | tail -1), compute capability $cap"

printf 'export CUDA_HOME=%q\n' "$CUDA_HOME"
printf 'export PATH=%q\n' "$CUDA_HOME/bin:$PATH"
printf 'export CUDA_COMPUTE_CAP=%q\n' "$cap"
printf 'export LD_LIBRARY_PATH=%q\n' "$library_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
