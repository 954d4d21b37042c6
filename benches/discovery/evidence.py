#!/usr/bin/env python3
"""How honest is the evidence odenet reports for each candidate term (`inclusion` in the model
file: the BIC weight of the candidate models containing the term)?

Reads a discovery benchmark run kept with `--keep DIR` (its model files) and its results.json
(the true terms), and prints, per noise level, for every library term of every polynomial
system: how many true and false terms fall in each evidence bin, and how often a wrong chosen
support has a term in the band the "do not settle" warning names (and a right one too).

    benches/discovery/run.sh --noise 0.05 --keep /tmp/keep --out /tmp/out
    python3 benches/discovery/evidence.py /tmp/out/results.json /tmp/keep [--method new]
"""

import argparse
import json
import math
import re
from pathlib import Path

BINS = [(0.0, 0.1), (0.1, 0.5), (0.5, 0.9), (0.9, 1.0 + 1e-12)]
# The band odenet's "do not settle" warning names (crates/odenet-fit/src/diagnose.rs): a BIC
# difference below 2 either way.
UNSETTLED = (1 / (1 + math.e), math.e / (1 + math.e))
NAME = re.compile(r"^d(.+)/dt\[(.+)\]$")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("keep")
    ap.add_argument("--method", default=None, help="method label (default: the first odenet one)")
    a = ap.parse_args()
    res = json.loads(Path(a.results).read_text())
    systems = {s["name"]: s for s in res["systems"]}
    methods = [m for m in res["methods"]]
    method = a.method or methods[0]
    keep = Path(a.keep) / "fits" / method
    if not keep.is_dir():  # one odenet build: its fits are kept without a label directory
        keep = Path(a.keep) / "fits"
    by_eps = {}
    for row in res["rows"]:
        if row["method"] != method:
            continue
        sysd = systems[row["system"]]
        if not sysd["polynomial"] or not sysd["true_terms"]:
            continue
        eps = row["eps"]
        mf = keep / row["system"] / f"eps{int(eps) if eps == int(eps) else eps}" / "model.json"
        if not mf.exists():
            continue
        model = json.loads(mf.read_text())
        inc = model.get("inclusion", {})
        if not inc:
            continue
        st = by_eps.setdefault(row["eps"], {"bins": [[0, 0] for _ in BINS], "wrong": [0, 0], "right": [0, 0]})
        for name, w in inc.items():
            m = NAME.match(name)
            if not m:
                continue
            state, term = m.group(1), m.group(2)
            truth = term in (sysd["true_terms"].get(state) or {})
            for i, (lo, hi) in enumerate(BINS):
                if lo <= w < hi:
                    st["bins"][i][0 if truth else 1] += 1
        warned = any(UNSETTLED[0] < w < UNSETTLED[1] for w in inc.values())
        key = "right" if row["exact_support"] else "wrong"
        st[key][0 if warned else 1] += 1
    print(f"method {method}: {a.results}")
    for eps in sorted(by_eps):
        st = by_eps[eps]
        print(f"\neps = {eps}")
        print("| evidence | true terms | false terms | share true |")
        print("|---|---|---|---|")
        for (lo, hi), (t, f) in zip(BINS, st["bins"]):
            share = f"{t / (t + f):.2f}" if t + f else "-"
            print(f"| [{lo:.1f}, {min(hi, 1.0):.1f}{']' if hi > 1 else ')'} | {t} | {f} | {share} |")
        w, r = st["wrong"], st["right"]
        print(f"wrong supports with the warning: {w[0]} of {sum(w)}; right supports with it: {r[0]} of {sum(r)}")


if __name__ == "__main__":
    main()
