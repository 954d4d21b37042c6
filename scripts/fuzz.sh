#!/usr/bin/env bash
# The fuzzing campaign of issue 13: every fuzz target with CASES inputs (default 10^6).
#
#   scripts/fuzz.sh [CASES] [TARGET...]      TARGET: expr spec csv model simplify (default: all)
#
# Each target is a proptest test driven by grammar-aware mutations of the shipped specs, CSVs
# and model files (see the comment at the top of each file). A failing input is shrunk and kept
# by proptest next to the test (`tests/<target>.proptest-regressions`, committed) and replayed
# first on every later run, including the short campaign of the normal test suite (a few
# thousand inputs per target). Prints one line per target: inputs, wall time, result.
set -euo pipefail
cd "$(dirname "$0")/.."
cases=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(expr spec csv model simplify)
cargo build --release --tests -q
for t in "${targets[@]}"; do
  case $t in
    expr|spec|csv) args=(-p odenet-spec --test "fuzz_$t") ;;
    model) args=(-p odenet --test fuzz_model_file) ;;
    simplify) args=(-p odenet-symbolic --test fuzz_simplify) ;;
    *) echo "unknown target $t" >&2; exit 2 ;;
  esac
  start=$(date +%s.%N)
  if ODENET_FUZZ_CASES=$cases cargo test -q --release "${args[@]}" > "target/fuzz-$t.log" 2>&1; then
    result=ok
  else
    result="FAILED (see target/fuzz-$t.log)"
  fi
  end=$(date +%s.%N)
  printf '%-9s %9d inputs %9.1f s  %s\n' "$t" "$cases" "$(echo "$end - $start" | bc)" "$result"
done
