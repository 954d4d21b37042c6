#!/usr/bin/env bash
# Regenerates the shipped example data from the truth specs in specs/truth/ with `odenet simulate`.
# Deterministic: the same seeds give the same files on every machine.
set -euo pipefail
cd "$(dirname "$0")/.."
odenet=${ODENET:-target/release/odenet}

# Lorenz, chaotic regime, 0.5% noise, dt 0.01 (the paper's Box 2).
$odenet simulate specs/truth/lorenz.toml --t-end 20 --dt 0.01 --init x=-8,y=7,z=27 \
  --noise 0.005 --seed 1 -o data/lorenz.csv

# Lotka–Volterra, 1% noise, dt 0.01 (the paper's Table 1).
$odenet simulate specs/truth/lv-overdamped.toml --t-end 10 --dt 0.01 --init x1=3,x2=2 \
  --noise 0.01 --seed 2 -o data/lv-overdamped.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.01 --init x1=20,x2=10 \
  --noise 0.01 --seed 3 -o data/lv-limit-cycle.csv

# The limit cycle sampled coarsely (the paper's Table 2) and with 10% noise (Table 1, last rows).
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.1 --init x1=20,x2=10 \
  --noise 0.01 --seed 4 -o data/lv-limit-cycle-dt0.1.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 50 --dt 0.5 --init x1=20,x2=10 \
  --noise 0.01 --seed 5 -o data/lv-limit-cycle-dt0.5.csv
$odenet simulate specs/truth/lv-limit-cycle.toml --t-end 20 --dt 0.01 --init x1=20,x2=10 \
  --noise 0.10 --seed 6 -o data/lv-limit-cycle-noise10.csv
