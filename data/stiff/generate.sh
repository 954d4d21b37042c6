#!/usr/bin/env bash
# Regenerates the data of the stiff benchmark specs (specs/stiff/) with `odenet simulate`
# (rtol 1e-10): 41 evenly spaced samples of each classic problem from its standard start.
# `odenet bench` integrates from the first row through the sample times and measures every
# solver against its own cross-checked reference, so these values serve as start and times.
set -euo pipefail
cd "$(dirname "$0")/../.."
odenet=${ODENET:-target/release/odenet}
times() { python3 -c "import sys; e=float(sys.argv[1]); print(','.join(repr(round(e*k/40, 10)) for k in range(41)))" "$1"; }
# `odenet simulate` reads the spec, whose data file must exist: start from a placeholder.
for f in vdp-mu1000 hires orego; do
  [ -s data/stiff/$f.csv ] || printf 't\n0\n1\n' >data/stiff/$f.csv
done
$odenet simulate specs/stiff/vdp-mu1000.toml --times "$(times 3000)" --init x=2,y=0 \
  -o data/stiff/vdp-mu1000.csv
$odenet simulate specs/stiff/hires.toml --times "$(times 321.8122)" \
  --init y1=1,y2=0,y3=0,y4=0,y5=0,y6=0,y7=0,y8=0.0057 -o data/stiff/hires.csv
$odenet simulate specs/stiff/orego.toml --times "$(times 360)" --init y1=1,y2=2,y3=3 \
  -o data/stiff/orego.csv
