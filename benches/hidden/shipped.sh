#!/usr/bin/env bash
# The shipped hidden-state specs (specs/actin-*-physical.toml) fitted by two odenet binaries,
# alternated, REPS times each: wall and CPU seconds (user + system) per fit, and the loss and
# the number of active terms each found. CPU seconds are the figure to compare on a shared
# machine (other load only stretches the wall time).
# Usage: benches/hidden/shipped.sh NEW_BINARY BASE_BINARY [REPS]
set -euo pipefail
cd "$(dirname "$0")/../.."
new=$1 base=$2 reps=${3:-2}
out=$(mktemp -d)
printf '%-24s %-5s %8s %8s %14s %6s\n' spec binary wall_s cpu_s loss terms
for spec in specs/actin-kcl-physical.toml specs/actin-mgcl2-physical.toml; do
  for r in $(seq "$reps"); do
    for which in base new; do
      bin=$base; [ "$which" = new ] && bin=$new
      /usr/bin/time -f '%e %U %S' -o "$out/time" "$bin" fit "$spec" -o "$out/m.json" --quiet >/dev/null 2>&1 || true
      read -r wall user sys <"$out/time"
      python3 - "$spec" "$which" "$wall" "$user" "$sys" "$out/m.json" <<'PY'
import json, sys
spec, which, wall, user, sys_, path = sys.argv[1:]
m = json.load(open(path))
print(f"{spec.split('/')[-1][:-5]:<24} {which:<5} {float(wall):8.2f} {float(user) + float(sys_):8.2f} "
      f"{m['fit']['loss']:14.6e} {m['fit']['active_terms']:6d}")
PY
    done
  done
done
rm -rf "$out"
