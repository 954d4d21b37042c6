#!/usr/bin/env bash
# Runs examples/sweep_cluster.py (a sweep of fits with Dask or Ray through the Python package)
# in its own virtual environment, made here on first use (target/sweep-venv, gitignored):
#
#   examples/sweep_cluster.sh dask [MANIFEST]     # default manifest: examples/sweep.toml
#   examples/sweep_cluster.sh ray  [MANIFEST]
#
# Needs the Rust toolchain (the package is built from crates/odenet-py) and CPython 3.11+.
# Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-dask}
manifest=${2:-examples/sweep.toml}
venv=target/sweep-venv
python=${PYTHON:-python3}
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
case "$engine" in
  dask) extra=("dask[distributed]") ;;
  ray) extra=("ray") ;;
  local) extra=() ;;
  *) echo "usage: $0 dask|ray|local [MANIFEST]" >&2; exit 2 ;;
esac
"$venv/bin/pip" install --quiet --disable-pip-version-check "maturin==1.16.0" numpy "${extra[@]}"
if ! "$venv/bin/python" -c "import odenet" 2>/dev/null; then
  PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check \
    --no-build-isolation ./crates/odenet-py
fi
exec "$venv/bin/python" examples/sweep_cluster.py "$manifest" --engine "$engine" -o "target/sweep-$engine"
