#!/usr/bin/env python3
"""Is a wrong discovered support a failure of the search or the limit of the data?

For every polynomial system whose chosen support is not the true one, the true support is
refitted alone (a template with one free coefficient per true term, started at the true values)
on the same data and the same pieces as the chosen model, and the two are compared by the
criterion discovery uses: ΔBIC ≈ N·(loss_truth − loss_chosen)/loss_chosen + (k_truth − k_chosen)·ln N,
N the observed values. ΔBIC > 0: the data prefer the wrong model (identifiability); < 0: the
truth scores better and the search missed it.

    benches/discovery/run.sh --noise 0.05 --keep /tmp/keep --out /tmp/out
    python3 benches/discovery/truth_refit.py /tmp/out/results.json /tmp/keep --odenet target/release/odenet
"""

import argparse
import json
import math
import re
import subprocess
import tempfile
from pathlib import Path


def fit_out_numbers(text):
    loss = float(re.search(r"^loss ([0-9.eE+-]+), (\d+) active terms, (\d+) pieces of up to (\d+) points", text, re.M).group(1))
    m = re.search(r"^loss [0-9.eE+-]+, (\d+) active terms, (\d+) pieces of up to (\d+) points", text, re.M)
    return loss, int(m.group(1)), int(m.group(2)), int(m.group(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("keep")
    ap.add_argument("--odenet", default="target/release/odenet")
    ap.add_argument("--method", default=None)
    a = ap.parse_args()
    res = json.loads(Path(a.results).read_text())
    systems = {s["name"]: s for s in res["systems"]}
    method = a.method or list(res["methods"])[0]
    keep = Path(a.keep)
    fits = keep / "fits" / method
    print("| system | eps | chosen k | true k | pieces × points | loss chosen | loss truth | ΔBIC (truth − chosen) | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in res["rows"]:
        sysd = systems[row["system"]]
        if row["method"] != method or not sysd["polynomial"] or row["exact_support"] is not False:
            continue
        d = fits / row["system"] / f"eps{row['eps']}"
        fo = d / "fit.out"
        if not fo.exists():
            continue
        loss_c, k_c, pieces, points = fit_out_numbers(fo.read_text())
        spec = (d / "spec.toml").read_text()
        data = re.search(r'^file = "(.+)"', spec, re.M).group(1)
        states = sysd["states"]
        params, eqs = [], []
        for s in states:
            terms = sysd["true_terms"].get(s) or {}
            parts = []
            for j, (term, value) in enumerate(terms.items()):
                name = f"c_{s}_{j}"
                params.append(f"{name} = {{ init = {value!r}, sparse = false }}")
                parts.append(name if term == "1" else f"{name}*{term}")
            eqs.append(f'{s} = "{" + ".join(parts) if parts else "0"}"')
        rows = sum(1 for _ in open(data)) - 1
        segment = '"whole"' if pieces == 1 and points >= rows else str(points)
        toml = "\n".join([
            'name = "truth-refit"',
            "states = [" + ", ".join(f'"{s}"' for s in states) + "]",
            "[params]", *params, "[equations]", *eqs,
            "[[data]]", f'file = "{data}"',
            "[fit]", f"segment = {segment}", 'init = "spec"', "",
        ])
        with tempfile.TemporaryDirectory() as tmp:
            sp = Path(tmp) / "truth.toml"
            sp.write_text(toml)
            run = subprocess.run([a.odenet, "fit", str(sp), "-o", str(Path(tmp) / "m.json")],
                                 capture_output=True, text=True, timeout=600)
        if run.returncode not in (0, 1):
            print(f"| {row['system']} | {row['eps']} | {k_c} | - | - | {loss_c:.4e} | error | - | - |")
            continue
        loss_t, k_t, _, _ = fit_out_numbers(run.stdout)
        n_obs = rows * len(states)
        dbic = n_obs * (loss_t - loss_c) / loss_c + (k_t - k_c) * math.log(n_obs)
        if loss_t > 10 * loss_c:
            verdict = "the truth's refit failed (a local minimum from the true values)"
        elif dbic > 0:
            verdict = "data prefer the chosen"
        else:
            verdict = "search missed the truth"
        print(f"| {row['system']} | {row['eps']} | {k_c} | {k_t} | {pieces} × {points} | {loss_c:.4e} | {loss_t:.4e} | {dbic:+.1f} | {verdict} |")


if __name__ == "__main__":
    main()
