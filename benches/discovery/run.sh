#!/usr/bin/env bash
# The discovery benchmark: odenet (one or more builds) and, with --pysindy, PySINDy on the same
# data. Creates its own Python virtual environment (benches/discovery/.venv, gitignored) from
# PyPI on first use, then runs bench.py with every argument given here (see README.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${ODENET_BENCH_VENV:-$here/.venv}
python=${PYTHON:-python3}

need_sindy=0
for a in "$@"; do
  case "$a" in --pysindy) need_sindy=1 ;; esac
done

if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
install() { # $1 = requirements file; reinstalls when the file changed
  local req=$here/$1 stamp=$venv/.$1.stamp
  if [ ! -f "$stamp" ] || ! cmp -s "$req" "$stamp"; then
    echo "setting up $venv from $1 (PyPI)" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    cp "$req" "$stamp"
  fi
}
install requirements.txt
if [ "$need_sindy" = 1 ]; then
  install requirements-pysindy.txt
fi
# PySINDy's regressions are tiny (500 x 20): OpenBLAS threads only add contention, and on the
# shared 2-core machine a 500 x 20 least-squares solve took 33 ms with two threads, 0.4 ms with one.
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec "$venv/bin/python" "$here/bench.py" "$@"
