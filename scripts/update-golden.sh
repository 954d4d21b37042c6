#!/usr/bin/env bash
# Regenerates tests/golden/ (the model file of every shipped spec) with the release binary. Run it
# only for a deliberate change of results, and say why in the commit.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
for spec in specs/*.toml; do
  name=$(basename "$spec" .toml)
  target/release/odenet fit "$spec" -o "tests/golden/$name.json" --quiet >/dev/null || true
  echo "tests/golden/$name.json"
done
