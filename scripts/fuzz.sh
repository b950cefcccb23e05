#!/usr/bin/env bash
# Runs the parser property tests (IDX, config.toml, PNG/JPEG import) with a larger budget (default 20,000 cases each).
# Failures are saved by proptest under tests/fuzz.proptest-regressions and replayed by `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
PROPTEST_CASES="${1:-20000}" cargo test --release --test fuzz
