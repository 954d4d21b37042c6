#!/usr/bin/env bash
# The L1 step of the L1 rounds side by side (benches/README.md, "L1: proximal step against the
# smoothed penalty"): every case is fitted through the L1 path with the smoothed L1 term,
# argmin's OWL-QN and the proximal step, in one run of examples/l1_compare.rs.
#
# Cases: the paper's shipped specs (the Lotka–Volterra and Lorenz libraries, forced onto the L1
# path from their regression guess; the actin templates, which take it anyway) against
# specs/truth/, and the discovery benchmark's quick polynomial systems at 5% noise with a cubic
# library against benches/discovery/systems/ (data written by benches/discovery/run.sh --list).
#
#   benches/l1.sh                       # everything (about 10 minutes on the shared machine)
#   benches/l1.sh --methods smoothed,proximal
#   L1_ONLY=paper benches/l1.sh         # only the shipped specs (or L1_ONLY=discovery)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --example l1_compare
cargo build --release --quiet
work=${L1_WORK:-target/l1-bench}
mkdir -p "$work"
only=${L1_ONLY:-all}
cases=()
if [ "$only" != discovery ]; then
  cases+=(
    specs/lv-overdamped.toml:specs/truth/lv-overdamped.toml
    specs/lv-limit-cycle.toml:specs/truth/lv-limit-cycle.toml
    specs/lv-limit-cycle-coarse.toml:specs/truth/lv-limit-cycle.toml
    specs/lv-limit-cycle-noise10.toml:specs/truth/lv-limit-cycle.toml
    specs/lorenz.toml:specs/truth/lorenz.toml
    specs/actin-kcl-physical.toml:specs/truth/actin-kcl.toml
    specs/actin-mgcl2-physical.toml:specs/truth/actin-mgcl2.toml
    specs/actin-kcl-data-driven.toml
    specs/actin-mgcl2-data-driven.toml
  )
fi
if [ "$only" != paper ]; then
  benches/discovery/run.sh --list --quick --keep "$work" >/dev/null
  for sys in logistic harmonic_damped duffing vanderpol brusselator lv_spiral sir lorenz; do
    {
      echo "name = \"$sys\""
      grep '^states' "benches/discovery/systems/$sys.toml"
      printf '\n[library]\npolynomial = 3\n\n[[data]]\nfile = "data/%s/traj1-eps0.05.csv"\n' "$sys"
    } >"$work/$sys.toml"
    cases+=("$work/$sys.toml:benches/discovery/systems/$sys.toml")
  done
fi
target/release/examples/l1_compare "$@" "${cases[@]}"
