#!/usr/bin/env bash
# Times `odenet fit` on one spec with several binaries, alternated run by run (the machine is
# shared, so the least of N runs is quoted): user CPU and wall seconds per binary.
#   benches/lorenz/time.sh [-n RUNS] [-t THREADS] [-s SPEC] BIN...
set -euo pipefail
runs=5 threads=2 spec=specs/lorenz.toml
while getopts n:t:s: o; do
  case $o in n) runs=$OPTARG ;; t) threads=$OPTARG ;; s) spec=$OPTARG ;; *) exit 2 ;; esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "usage: $0 [-n RUNS] [-t THREADS] [-s SPEC] BIN..." >&2; exit 2; }
log=$(mktemp)
out=$(mktemp)
trap 'rm -f "$log" "$out"' EXIT
for _ in $(seq "$runs"); do
  for b in "$@"; do
    /usr/bin/time -f "$b %U %e" -a -o "$log" "$b" fit "$spec" -o "$out" --quiet --threads "$threads" >/dev/null
  done
done
echo "$spec, $threads threads, least of $runs alternated runs:"
for b in "$@"; do
  grep -F "$b " "$log" | sort -k2,2n | head -1 | awk '{printf "  %s: %s s CPU, %s s wall\n", $1, $2, $3}'
done
