#!/usr/bin/env bash
# The scale figures of benches/README.md ("Scale: one fit over MPI"), all from one run:
#   - the time of one loss-and-gradient evaluation (`odenet bench --gradient`,
#     the units a fit repeats) on 1 and 2 MPI processes and 1 and 2 threads;
#   - weak scaling: 10^5 and 10^6 rows per process on 1 and 2 processes;
#   - a whole fit on 1 and 2 processes (the share of a fit that the processes divide).
# Needs Open MPI (apt-get install libopenmpi-dev openmpi-bin libclang-dev). Data: the
# Lotka–Volterra limit cycle (specs/truth/lv-limit-cycle.toml) simulated with 1% noise, blocks
# of 10^5 rows (one experiment each), cut into pieces of 10 points (`segment = 10`, `stride = 10`),
# a complete quadratic library (12 coefficients).
#
#   benches/scale.sh            # about 10 minutes on 2 cores
#   REPS=5 ROUNDS=3 benches/scale.sh   # more repetitions per timing (the fastest is kept),
#                                      # and rounds of every configuration, interleaved
#   PARTS="cpu" benches/scale.sh       # only some of the parts: wall, cpu, fit
# The wall-clock part needs idle cores to mean anything; the CPU part (each process's CPU time
# per evaluation, from two repetition counts) holds on a busy machine too.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${REPS:-3}
rounds=${ROUNDS:-1}
parts=${PARTS:-wall cpu fit}
work=${SCALE_DIR:-target/scale}
cargo build --release --locked --features mpi --quiet
odenet=$PWD/target/release/odenet
mkdir -p "$work"
cd "$work"
# No binding (a process's threads may use both cores); waiting processes yield the core instead of
# spinning (on a machine shared with other work, spinning steals the core a busy rank needs).
mpi=(mpirun --oversubscribe --allow-run-as-root --bind-to none --mca mpi_yield_when_idle 1)

for k in $(seq 0 19); do
  [ -s "b$k.csv" ] || "$odenet" simulate "$OLDPWD/specs/truth/lv-limit-cycle.toml" \
    --t-end 9999.9 --dt 0.1 --init "x1=$((15 + k)),x2=$((8 + k % 5))" --noise 0.01 --seed "$k" -o "b$k.csv"
done
spec() { # NAME BLOCKS
  {
    printf 'name = "%s"\nstates = ["x1", "x2"]\n\n[library]\npolynomial = 2\n\n[fit]\nsegment = 10\nstride = 10\nsolver = "tsit5"\n' "$1"
    for k in $(seq 0 $(($2 - 1))); do printf '\n[[data]]\nfile = "b%d.csv"\n' "$k"; done
  } >"$1.toml"
}
spec r1e5 1
spec r2e5 2
spec r1e6 10
spec r2e6 20

# One line per configuration: processes, threads, spec, ms per sweep of solves, ms per gradient.
bench() { # PROCS THREADS SPEC
  local line
  line=$("${mpi[@]}" -n "$1" "$odenet" bench "$3.toml" --solvers tsit5 --tols 1e-6 --gradient --csv \
    --reps "$reps" --threads "$2" | tail -1)
  # CSV columns: 4 ms_sweep (solves alone), 10 ms_grad (loss and gradient of the fit).
  awk -F, -v p="$1" -v t="$2" -v s="$3" '{ printf "%-6s %5d %7d %12.1f %12.1f\n", s, p, t, $4, $10 }' <<<"$line"
}
# CPU seconds of each process per repetition of the benchmark (solves, sensitivities, gradient): from the processes' CPU times
# (/usr/bin/time) at 2 and 6 repetitions, so that loading and set-up cancel out.
cpu_of() { # PROCS SPEC REPS -> each rank's user+sys seconds, one per line
  "${mpi[@]}" -n "$1" /usr/bin/time -f "cpu %U %S" "$odenet" bench "$2.toml" --solvers tsit5 \
    --tols 1e-6 --gradient --reps "$3" --threads 1 2>&1 >/dev/null | awk '/^cpu / { print $2 + $3 }' | sort -n
}
cpu() { # PROCS SPEC
  local a b
  a=$(cpu_of "$1" "$2" 2 | paste -sd' ')
  b=$(cpu_of "$1" "$2" 6 | paste -sd' ')
  awk -v p="$1" -v s="$2" -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); max = 0; sum = 0
    for (i = 1; i <= n; i++) { d = (y[i] - x[i]) / 4; sum += d; if (d > max) max = d }
    printf "%-6s %5d   %8.0f ms per rank (max) %8.0f ms all ranks\n", s, p, 1e3 * max, 1e3 * sum }'
}
if [[ " $parts " == *" cpu "* ]]; then
  echo "CPU time per repetition (solves, sensitivities, gradient)"
  cpu 1 r1e5
  cpu 2 r1e5
  cpu 2 r2e5
  cpu 1 r1e6
  cpu 2 r1e6
  cpu 2 r2e6
fi

[[ " $parts " == *" wall "* ]] && echo "spec   procs threads     ms/solves  ms/gradient"
[[ " $parts " == *" wall "* ]] && for round in $(seq "$rounds"); do
  bench 1 1 r1e6
  bench 1 2 r1e6
  bench 2 1 r1e6
  bench 1 1 r1e5
  bench 2 1 r1e5
  bench 2 1 r2e5
  bench 2 1 r2e6
done

# A whole fit of 2·10^4 rows (two blocks' first 10^4 rows) on 1 and 2 processes.
for k in 0 1; do head -n 10001 "b$k.csv" >"f$k.csv"; done
{
  printf 'name = "fit2e4"\nstates = ["x1", "x2"]\n\n[library]\npolynomial = 2\n\n[fit]\nsegment = 10\nstride = 10\nsolver = "tsit5"\n'
  printf '\n[[data]]\nfile = "f0.csv"\n\n[[data]]\nfile = "f1.csv"\n'
} >fit2e4.toml
[[ " $parts " == *" fit "* ]] || exit 0
for round in $(seq "$rounds"); do
  for p in 1 2; do
    t0=$(date +%s.%N)
    "${mpi[@]}" -n "$p" "$odenet" fit fit2e4.toml --threads 1 --quiet -o "fit-n$p.json" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" -v p="$p" 'BEGIN { printf "whole fit of 2e4 rows, %d process(es), 1 thread: %.1f s\n", p, b - a }'
  done
done
if diff <(grep -v '"seconds"' fit-n1.json) <(grep -v '"seconds"' fit-n2.json) >/dev/null; then
  echo "the models of 1 and 2 processes are identical"
else
  echo "the models of 1 and 2 processes DIFFER" && exit 1
fi
