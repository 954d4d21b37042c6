#!/usr/bin/env python3
"""Compare two results.json files of the discovery benchmark (standard library only).

    python3 benches/discovery/compare.py OLD.json NEW.json [--method odenet]

Prints, per method and noise level present in both, the summary figures side by side and the
systems whose outcome changed (R^2 > 0.9 passed/failed, exact support gained/lost). Prefer
measuring both builds in one run (`run.sh --odenet base=… --odenet new=…`): times from two runs
on a shared machine are not comparable.
"""

import argparse
import json
import math
import sys

R2 = 0.9


def val(v):
    if v in ("-inf", None):
        return -math.inf
    return float(v)


def load(path):
    with open(path) as f:
        js = json.load(f)
    if js.get("format") != "odenet-discovery-bench/1":
        sys.exit(f"{path}: not a results.json of benches/discovery (format {js.get('format')!r})")
    return js


def main():
    ap = argparse.ArgumentParser(description="compare two discovery-benchmark results.json files")
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--method", help="compare only this method label")
    a = ap.parse_args()
    old, new = load(a.old), load(a.new)
    key = lambda r: (r["method"], r["eps"], r["system"])  # noqa: E731
    o = {key(r): r for r in old["rows"]}
    n = {key(r): r for r in new["rows"]}
    groups = sorted({(m, e) for m, e, _ in set(o) & set(n) if not a.method or m == a.method},
                    key=lambda g: (g[1], g[0]))
    if not groups:
        sys.exit("no method and noise level in common")
    for m, eps in groups:
        so, sn = old["summary"][m][f"{eps:g}"], new["summary"][m][f"{eps:g}"]
        print(f"== {m}, eps = {eps:g} ==")
        so_sys = {k[2] for k in o if k[:2] == (m, eps)}
        sn_sys = {k[2] for k in n if k[:2] == (m, eps)}
        if so_sys != sn_sys:
            print(f"  (the runs have different systems: the summaries are not comparable; the changes "
                  f"below are on the {len(so_sys & sn_sys)} systems in both)")
        for k in ("rec_r2_gt_0.9", "gen_r2_gt_0.9", "exact_support", "median_coef_err", "failures",
                  "total_seconds"):
            print(f"  {k:18s} {so.get(k)!s:>22} -> {sn.get(k)!s}")
        for kk in sorted(k for k in set(o) & set(n) if k[0] == m and k[1] == eps):
            ro, rn = o[kk], n[kk]
            notes = []
            for f, label in (("r2_rec", "rec"), ("r2_gen", "gen")):
                a_, b_ = val(ro[f]) > R2, val(rn[f]) > R2
                if a_ != b_:
                    notes.append(f"{label} {'passes' if b_ else 'fails'} ({val(ro[f]):.3g} -> {val(rn[f]):.3g})")
            if ro.get("exact_support") is not None and ro["exact_support"] != rn.get("exact_support"):
                notes.append("exact support " + ("gained" if rn["exact_support"] else "lost"))
            if notes:
                print(f"  {kk[2]:22s} " + "; ".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
