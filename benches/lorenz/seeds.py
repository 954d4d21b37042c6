#!/usr/bin/env python3
"""The paper's Lorenz case (Box 2) over fresh noise realisations.

The shipped data/lorenz.csv is one draw of 0.5% noise. This script draws others with the same
generator (`odenet simulate`, the settings of data/generate.sh, seeds 1..N), fits each with
specs/lorenz.toml's settings (default discovery, quadratic library), and reports per seed:
the support found, the largest relative coefficient error, the root mean square of the relative
errors over the seven true terms, the coefficient furthest from its truth in standard errors, and
the wall time. Standard library only.

    benches/lorenz/seeds.py [--odenet target/release/odenet] [--seeds 10] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TRUTH = {
    "x": {"x": -10.0, "y": 10.0},
    "y": {"x": 28.0, "y": -1.0, "x*z": -1.0},
    "z": {"z": -8.0 / 3.0, "x*y": 1.0},
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--odenet", default=os.path.join(ROOT, "target/release/odenet"))
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            csv = os.path.join(tmp, f"lorenz-{seed}.csv")
            subprocess.run(
                [args.odenet, "simulate", os.path.join(ROOT, "specs/truth/lorenz.toml"),
                 "--t-end", "20", "--dt", "0.01", "--init", "x=-8,y=7,z=27",
                 "--noise", "0.005", "--seed", str(seed), "-o", csv],
                check=True, capture_output=True)
            spec = os.path.join(tmp, f"lorenz-{seed}.toml")
            with open(os.path.join(ROOT, "specs/lorenz.toml")) as f:
                text = f.read()
            with open(spec, "w") as f:
                f.write(text.replace('file = "../data/lorenz.csv"', f'file = "{csv}"'))
            out = os.path.join(tmp, f"model-{seed}.json")
            t0 = time.perf_counter()
            r = subprocess.run([args.odenet, "fit", spec, "-o", out, "--quiet",
                                "--threads", str(args.threads)], capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if r.returncode != 0:
                rows.append((seed, False, float("nan"), float("nan"), float("nan"), wall))
                print(f"seed {seed}: fit failed: {r.stderr.strip()[:200]}", file=sys.stderr)
                continue
            with open(out) as f:
                model = json.load(f)
            terms, ses = model["terms"], model["std_errors"]
            exact = all(set(terms.get(s, {})) == set(TRUTH[s]) for s in TRUTH)
            err, z, sq, count = 0.0, 0.0, 0.0, 0
            for s, ts in TRUTH.items():
                for name, true in ts.items():
                    v = terms.get(s, {}).get(name, 0.0)
                    err = max(err, abs(v - true) / abs(true))
                    sq += ((v - true) / true) ** 2
                    count += 1
                    se = ses.get(s, {}).get(name)
                    if se:
                        z = max(z, abs(v - true) / se)
            rows.append((seed, exact, err, (sq / count) ** 0.5, z, wall))
    print(f"{'seed':>4} {'exact':>5} {'max err %':>9} {'rms err %':>9} {'max |z|':>8} {'wall s':>7}")
    for seed, exact, err, rms, z, wall in rows:
        print(f"{seed:>4} {str(exact):>5} {100 * err:>9.2f} {100 * rms:>9.2f} {z:>8.2f} {wall:>7.2f}")
    ok = [r for r in rows if r[1]]
    within = sum(1 for r in ok if r[2] <= 0.01)
    walls = sorted(r[5] for r in rows)
    fitted = [r[3] for r in rows if r[3] == r[3]]
    pooled = (sum(r * r for r in fitted) / max(len(fitted), 1)) ** 0.5
    print(f"exact {len(ok)}/{len(rows)}; largest error <= 1% in {within}/{len(rows)}; "
          f"rms relative error over seeds and terms {100 * pooled:.3f}%; "
          f"median wall {walls[len(walls) // 2]:.2f} s")


if __name__ == "__main__":
    main()
