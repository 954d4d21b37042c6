#!/usr/bin/env bash
# odenet's Python package against PySINDy on the Lorenz data, in one run (figures in
# benches/README.md). Makes its own virtual environment (target/bench-venv) with pysindy and
# odenet built from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/bench-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "maturin==1.16.0" "pysindy==2.1.0" numpy
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pip" install --quiet --no-build-isolation ./crates/odenet-py
"$venv/bin/python" benches/pysindy_vs_odenet.py "${1:-5}"
