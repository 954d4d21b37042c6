#!/bin/bash
# The global stage of one hidden-state fit alone: the informed start's regression residual, every
# start's final loss (not the abandoned ones) and the stage's summary, then the fit is stopped.
# Usage: benches/hidden/global.sh BIN SPEC     (one thread; wall seconds printed last)
# Data of the hidden benchmark: benches/hidden/bench.py --keep DIR --data-only.
set -euo pipefail
BIN=$(realpath "$1"); SPEC=$2
cd "$(dirname "$SPEC")"
start=$(date +%s.%N)
"$BIN" fit "$(basename "$SPEC")" --threads 1 -vv -o /dev/null 2>&1 >/dev/null | while read -r line; do
  case "$line" in
    *"informed start"*) echo "informed start ${line##*residual=}" | sed 's/ params=.*//' ;;
    *"start loss"*"abandoned=false"*) echo "start ${line##*start }" ;;
    *"global search"*)
      echo "global search ${line##*global search }"
      echo "seconds $(echo "$(date +%s.%N) - $start" | bc)"
      break ;;
  esac
done || true
