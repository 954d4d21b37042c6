#!/usr/bin/env bash
# The scale figures of benches/README.md ("Scale: one fit over MPI"), all from one run:
#   - cpu: the CPU time of one loss-and-gradient evaluation (`odenet bench --gradient`, the unit
#     a fit repeats) per process on 1 and 2 MPI processes, 10^5 and 10^6 rows, and weak scaling
#     (10^5 and 10^6 rows per process), with the gathers per evaluation and their bytes;
#   - wall: the same evaluation's wall time on 1 and 2 processes and 1 and 2 threads;
#   - fit: a whole fit on 1 and 2 processes (the share of a fit that the processes divide).
# Needs Open MPI (apt-get install libopenmpi-dev openmpi-bin libclang-dev). Data: the
# Lotka–Volterra limit cycle (specs/truth/lv-limit-cycle.toml) simulated with 1% noise, blocks
# of 10^5 rows (one experiment each), cut into pieces of 10 points (`segment = 10`, `stride = 10`),
# a complete quadratic library (12 coefficients).
#
#   benches/scale.sh            # about 10 minutes on 2 cores
#   REPS=5 ROUNDS=3 benches/scale.sh   # more repetitions per timing (the fastest is kept),
#                                      # and rounds of every configuration, interleaved
#   PARTS="cpu" benches/scale.sh       # only some of the parts: wall, cpu, fit
#   CPU_REPS_LOW=2 CPU_REPS_HIGH=5     # the CPU part's two repetition counts
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
# CPU seconds of each process per loss-and-gradient evaluation, from the processes' CPU times
# (/usr/bin/time) at two repetition counts, so that loading and set-up cancel out. `odenet bench`
# also times the spec's solves at every repetition, which every process repeats in full: their
# CPU time (the same run without --gradient, on one process) is subtracted. ODENET_MPI_STATS
# makes each process report its gathers: their count, the bytes it received and the seconds it
# spent inside them (transfer plus waiting for the slower process).
run_cpu() { # PROCS SPEC REPS [--gradient] -> lines "cpu SECONDS" (one per process) and mpi-stats
  ODENET_MPI_STATS=1 "${mpi[@]}" -x ODENET_MPI_STATS -n "$1" /usr/bin/time -f "cpu %U %S" "$odenet" bench "$2.toml" \
    --solvers tsit5 --tols 1e-6 ${4:-} --reps "$3" --threads 1 2>&1 >/dev/null |
    awk '/^cpu / { print "cpu", $2 + $3 } /^mpi-stats/ { print "gather", $8, $10, $12 }'
}
r1=${CPU_REPS_LOW:-2}
r2=${CPU_REPS_HIGH:-5}
solves_cpu() { # SPEC -> CPU seconds of the solves per repetition (one process)
  local a b
  a=$(run_cpu 1 "$1" "$r1" | awk '/^cpu/ { print $2 }')
  b=$(run_cpu 1 "$1" "$r2" | awk '/^cpu/ { print $2 }')
  awk -v a="$a" -v b="$b" -v d="$((r2 - r1))" 'BEGIN { print (b - a) / d }'
}
cpu() { # PROCS SPEC SOLVES_CPU
  local a b
  a=$(run_cpu "$1" "$2" "$r1" --gradient)
  b=$(run_cpu "$1" "$2" "$r2" --gradient)
  awk -v p="$1" -v s="$2" -v sv="$3" -v d="$((r2 - r1))" -v a="$a" -v b="$b" 'BEGIN {
    na = split(a, x, "\n"); split(b, y, "\n"); nc = 0; ng = 0
    for (i = 1; i <= na; i++) {
      split(x[i], u, " "); split(y[i], v, " ")
      if (u[1] == "cpu") { nc++; c[nc] = (v[2] - u[2]) / d - sv }
      if (u[1] == "gather") { ng++; g[ng] = (v[2] - u[2]) / d; by = (v[3] - u[3]) / d; w[ng] = (v[4] - u[4]) / d }
    }
    max = 0; sum = 0; wmax = 0
    for (i = 1; i <= nc; i++) { sum += c[i]; if (c[i] > max) max = c[i] }
    for (i = 1; i <= ng; i++) if (w[i] > wmax) wmax = w[i]
    printf "%-6s %5d %10.0f %10.0f %10.1f %10.0f %12.1f\n", s, p, 1e3 * max, 1e3 * sum, (ng ? g[1] : 0), (ng ? by : 0), 1e3 * wmax }'
}
if [[ " $parts " == *" cpu "* ]]; then
  echo "CPU time per loss-and-gradient evaluation (the solves every process repeats subtracted)"
  echo "spec   procs  ms/rank(max) ms(all)  gathers/eval bytes/eval  ms in gathers(max)"
  for s in r1e5 r2e5 r1e6 r2e6; do
    sv=$(solves_cpu "$s")
    echo "# $s: solves alone $(awk -v v="$sv" 'BEGIN { printf "%.0f", 1e3 * v }') ms CPU per repetition"
    case $s in
      r1e5 | r1e6) cpu 1 "$s" "$sv"; cpu 2 "$s" "$sv" ;;
      *) cpu 2 "$s" "$sv" ;;
    esac
  done
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
echo "whole fit of 2e4 rows, 1 thread per process: wall, CPU of the busiest process and of all, seconds in gathers"
for round in $(seq "$rounds"); do
  for p in 1 2; do
    ODENET_MPI_STATS=1 "${mpi[@]}" -x ODENET_MPI_STATS -n "$p" /usr/bin/time -f "cpu %U %S %e" "$odenet" fit fit2e4.toml \
      --threads 1 --quiet -o "fit-n$p.json" 2>&1 >/dev/null |
      awk -v p="$p" '/^cpu / { c = $2 + $3; sum += c; if (c > max) max = c; if ($4 > wall) wall = $4 }
        /^mpi-stats/ { g = $8; b = $10; if ($12 > w) w = $12 }
        END { printf "%d process(es): wall %.1f s, CPU %.1f s (busiest) %.1f s (all), %d gathers, %.1f MB received, %.1f s in gathers\n", p, wall, max, sum, g, b / 1e6, w }'
  done
done
if diff <(grep -v '"seconds"' fit-n1.json) <(grep -v '"seconds"' fit-n2.json) >/dev/null; then
  echo "the models of 1 and 2 processes are identical"
else
  echo "the models of 1 and 2 processes DIFFER" && exit 1
fi
