#!/usr/bin/env bash
# How precisely do data of the shipped actin design (KCl, seven m_tot, 20 samples, 1% noise, only
# M observed) determine the physical model's coefficients? Regenerates the data with fresh noise
# REPS times, fits the six Table 5 coefficients with the true support fixed and started at the
# truth (the best case for any method), and prints per coefficient the spread of the estimates,
# the mean reported standard error, and how often the estimate lands within 10% of the truth.
# Usage: scripts/actin-monte-carlo.sh [REPS]   (needs target/release/odenet; ~1 s per rep)
set -euo pipefail
cd "$(dirname "$0")/.."
odenet=${ODENET:-target/release/odenet}
reps=${1:-12}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
times=0.0,0.0831,0.3324,0.7479,1.3296,2.0776,2.9917,4.072,5.3186,6.7313,8.3102,10.0554,11.9668,14.0443,16.2881,18.6981,21.2742,24.0166,26.9252,30.0
concs="7.4 9.6 12.4 14.2 16.2 18.4 20.5"
{
  cat <<'TOML'
name = "actin-kcl-fixed-support"
states = ["P", "M", "m"]
hidden = ["P", "m"]
[params]
a1 = { init = -5.12e-2, sparse = false }
a2 = { init = 7.98e-3, sparse = false }
a3 = { init = 1.16e-2, sparse = false }
a4 = { init = -5.33e-1, sparse = false }
a9 = { init = 7.39e-1, sparse = false }
a10 = { init = -8.82e-1, sparse = false }
[equations]
P = "a1*m + a2*m^2 + a3*m*M + a4*P"
M = "a1*m + 2*a2*m^2 + a3*m*M + a9*m*P + a10*P"
m = "-(a1*m + 2*a2*m^2 + a3*m*M + a9*m*P + a10*P)"
TOML
  for c in $concs; do
    printf '[[data]]\nfile = "kcl-%s.csv"\nconstants = { m_tot = %s }\ninitial = { m = "m_tot - M", P = 0.0 }\n' "$c" "$c"
  done
} > "$work/spec.toml"
for rep in $(seq 1 "$reps"); do
  i=0
  for c in $concs; do
    i=$((i + 1))
    $odenet simulate specs/truth/actin-kcl.toml --times "$times" --init "P=0,M=0,m=$c" \
      --noise 0.01 --seed $((1000 * rep + i)) --columns M -o "$work/kcl-$c.csv" > /dev/null
  done
  $odenet fit "$work/spec.toml" -o "$work/model.json" 2> /dev/null | awk '/^  a[0-9]+ +=/ {print $1, $3, $5}'
  echo "end"
done | awk '
  BEGIN { t["a1"] = -5.12e-2; t["a2"] = 7.98e-3; t["a3"] = 1.16e-2; t["a4"] = -5.33e-1; t["a9"] = 7.39e-1; t["a10"] = -8.82e-1 }
  $1 == "end" { reps++; if (bad == 0) all++; bad = 0; next }
  { k = $1; n[k]++; if (($2 - t[k]) ^ 2 >= (0.1 * t[k]) ^ 2) bad++; s[k] += $2; ss[k] += $2 * $2; se[k] += $3; if (($2 - t[k]) ^ 2 < (0.1 * t[k]) ^ 2) w[k]++ }
  END {
    printf "%-4s %10s %16s %18s %14s\n", "coef", "truth", "spread (sd/|t|)", "reported se/|t|", "within 10%"
    split("a1 a2 a3 a4 a9 a10", ks, " ")
    for (j = 1; j <= 6; j++) {
      k = ks[j]; m = s[k] / n[k]; sd = sqrt((ss[k] - n[k] * m * m) / (n[k] - 1)); a = (t[k] < 0 ? -t[k] : t[k])
      printf "%-4s %10.4g %15.1f%% %17.1f%% %9d of %d\n", k, t[k], 100 * sd / a, 100 * se[k] / n[k] / a, w[k], n[k]
    }
    printf "all six within 10%%: %d of %d noise realisations\n", all, reps
  }'
