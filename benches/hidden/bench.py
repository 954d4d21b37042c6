#!/usr/bin/env python3
"""The hidden-state benchmark: template models with unobserved states, fitted from generic starts
on sparse data sampled at random times (issue 10). Standard library only.

Per system (systems.toml) and realisation r (noise and sample times drawn afresh):

- every experiment's sample times are t = 0 and k uniform random times in (0, t_end], k drawn from
  `samples`; `odenet simulate` integrates the truth spec there and adds Gaussian noise with
  sd = noise * max|x| per state; only the `columns` states are written;
- `odenet fit` fits the template spec (its generic starts) to these data;
- the reference: the same template with the true support fixed (the truth's zero parameters fixed
  at zero, every other started at its true value, none sparse), fitted to the same data;
- judged: the support found (the non-zero parameters are the truth's), the coefficients (each
  within 2.5 reported standard errors of the truth, or of an `equivalent` parameter set that gives
  exactly the same observed trajectories; with `symmetry`, instead, the free direction
  reported and the scale-free ratio within 5%), the final loss within one chi-squared unit of the
  reference's (loss - ref <= ref / (N - p), N observed values, p true parameters), and the time;
- a wrong support is labelled by its BIC against the true support's refit (N ln L + k ln N with the
  variance on N - k degrees of freedom): "data prefer it" when lower (the data's ambiguity: no search
  or criterion of that kind recovers the truth there), else "search missed the truth".

Usage: bench.py [--odenet PATH] [--baseline PATH] [--only a,b] [--reps N] [--first R] [--threads N] [--keep DIR]
                [--timeout S] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tomllib
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SE_FACTOR = 2.5
RATIO_TOL = 0.05


def seed_of(name: str, rep: int, exp: int = 0) -> int:
    return (zlib.crc32(name.encode()) + 1000 * rep + exp) % (2**31)


def draw_times(rng: random.Random, t_end: float, lo: int, hi: int) -> list[float]:
    k = rng.randint(lo, hi)
    ts = sorted({round(rng.uniform(0.0, t_end), 4) for _ in range(k)} - {0.0})
    return [0.0] + ts


def toml_value(v) -> str:
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(float(v))
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def spec_text(name: str, tpl: dict, params: dict, data: list[dict]) -> str:
    lines = [f"name = {json.dumps(name)}", f"states = {toml_value(tpl['states'])}"]
    if tpl.get("hidden"):
        lines.append(f"hidden = {toml_value(tpl['hidden'])}")
    lines.append("\n[params]")
    for k, v in params.items():
        lines.append(f"{k} = {toml_value(v)}")
    lines.append("\n[equations]")
    for k, v in tpl["equations"].items():
        lines.append(f"{k} = {json.dumps(v)}")
    for d in data:
        lines.append("\n[[data]]")
        for k, v in d.items():
            lines.append(f"{k} = {toml_value(v)}")
    if tpl.get("fit"):
        lines.append("\n[fit]")
        for k, v in tpl["fit"].items():
            lines.append(f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


def reference_params(tpl: dict, truth: dict) -> dict:
    """The template's parameters with the true support fixed, started at the truth."""
    out = {}
    for k, v in tpl["params"].items():
        spec = dict(v) if isinstance(v, dict) else {"init": v}
        if k in truth:
            keep = {b: spec[b] for b in ("min", "max") if b in spec}
            out[k] = {"init": truth[k], "sparse": False, **keep}
        else:
            out[k] = {"value": 0.0, "fixed": True}
    return out


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run(cmd: list[str], timeout: float) -> tuple[int, str, float, float]:
    """Exit status, stderr, wall seconds and CPU seconds (user + system) of a command."""
    t, c = time.monotonic(), cpu_children()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stderr, time.monotonic() - t, cpu_children() - c
    except subprocess.TimeoutExpired:
        return -1, "timeout", time.monotonic() - t, cpu_children() - c


def count_values(csv: Path) -> int:
    n = 0
    for line in csv.read_text().splitlines()[1:]:
        n += sum(1 for f in line.split(",")[1:] if f.strip() != "")
    return n


def fit(binary: str, spec: Path, model: Path, threads: int | None, timeout: float) -> dict:
    cmd = [binary, "fit", str(spec), "-o", str(model), "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    if model.exists():
        model.unlink()
    rc, err, secs, cpu = run(cmd, timeout)
    if rc not in (0, 1) or not model.exists():
        return {"ok": False, "rc": rc, "error": err.strip().splitlines()[-1:] if err else [], "wall": secs, "cpu": cpu}
    m = json.loads(model.read_text())
    return {"ok": True, "rc": rc, "model": m, "wall": secs, "cpu": cpu}


def judge(sysm: dict, res: dict, ref: dict, nvalues: int) -> dict:
    truth = sysm["truth_params"]
    row = {"wall": res["wall"], "cpu": res["cpu"]}
    if not res["ok"]:
        row.update(support=False, coef=False, chi2=False, error=res.get("error"))
        return row
    m = res["model"]
    params, ses = m["params"], m.get("std_errors", {})
    nonzero = {k for k, v in params.items() if v != 0.0}
    # The truth's support, or an equivalent parameter set's (its non-zero entries): a hidden
    # state's offset can move a constant from one equation to another exactly.
    supports = [set(truth)] + [{k for k, v in e.items() if v != 0.0} for e in sysm.get("equivalent", [])]
    row["support"] = nonzero in supports
    row["extra"] = sorted(nonzero - set(truth))
    row["missing"] = sorted(set(truth) - nonzero)
    row["loss"] = m["fit"]["loss"]
    row["seconds"] = m["fit"]["seconds"]
    row["starts"] = m["fit"].get("starts")
    row["starts_at_best"] = m["fit"].get("starts_at_best")
    sym = sysm.get("symmetry")
    if sym:
        num, den, want = sym
        ratio = params[num] / params[den] if params.get(den) else float("nan")
        wd = m.get("weak_direction") or {}
        row["ratio_error"] = abs(ratio - want) / abs(want)
        row["weak"] = sorted(wd.get("exponents", {}).keys()) if isinstance(wd.get("exponents"), dict) else wd
        row["coef"] = bool(row["support"] and wd and row["ratio_error"] < RATIO_TOL)
    else:
        # Judged against the truth and against every equivalent parameter set (`equivalent`:
        # the same observed trajectories exactly), the closest counting.
        best_ok, best_worst = False, float("inf")
        for want in [truth] + list(sysm.get("equivalent", [])):
            worst = 0.0
            ok = nonzero == {k for k, v in want.items() if v != 0.0}
            for k, t in want.items():
                if t == 0.0:
                    continue
                se = ses.get(k)
                if se is None or not isinstance(se, (int, float)) or se <= 0 or se != se:
                    ok = False
                    worst = float("inf")
                    continue
                z = abs(params[k] - t) / se
                worst = max(worst, z)
                ok = ok and z <= SE_FACTOR
            if worst < best_worst or (ok and not best_ok):
                best_ok, best_worst = bool(ok), worst
        row["coef"] = best_ok
        row["worst_z"] = best_worst
    if ref["ok"]:
        lref = ref["model"]["fit"]["loss"]
        row["ref_loss"] = lref
        dof = max(nvalues - len(truth), 1)
        row["chi2_excess"] = (row["loss"] - lref) * dof / lref
        row["chi2"] = row["chi2_excess"] <= 1.0
        # The BIC of the support found less the true support's (N ln(L σ-estimate) + k ln N,
        # variance on N - k degrees of freedom): below zero the data prefer the support found,
        # and a wrong one then is the data's ambiguity, not a search that missed the truth.
        k, kt = len(nonzero), len(truth)
        if row["loss"] > 0 and nvalues > max(k, kt) + 1:
            row["bic_vs_truth"] = (nvalues * math.log(row["loss"] / lref)
                                   + nvalues * math.log((nvalues - kt) / (nvalues - k))
                                   + (k - kt) * math.log(nvalues))
        row["ref_seconds"] = ref["model"]["fit"]["seconds"]
    else:
        row["chi2"] = False
    return row


def one(binary: str, sysm: dict, rep: int, work: Path, args) -> dict:
    d = work / sysm["name"] / f"r{rep}"
    d.mkdir(parents=True, exist_ok=True)
    tpl = tomllib.loads((HERE / sysm["template"]).read_text())
    rng = random.Random(seed_of(sysm["name"], rep))
    lo, hi = sysm["samples"]
    data = []
    nvalues = 0
    for e, ex in enumerate(sysm["experiments"]):
        times = draw_times(rng, sysm["t_end"], lo, hi)
        csv = d / f"exp{e + 1}.csv"
        init = ",".join(f"{k}={v}" for k, v in ex["init"].items())
        cmd = [binary, "simulate", str(HERE / sysm["truth"]), "--times", ",".join(repr(t) for t in times),
               "--init", init, "--noise", repr(NOISE), "--seed", str(seed_of(sysm["name"], rep, e + 1)),
               "--columns", ",".join(sysm["columns"]), "-o", str(csv)]
        rc, err, _, _ = run(cmd, 60)
        if rc != 0:
            raise SystemExit(f"simulate failed for {sysm['name']} r{rep}: {err}")
        nvalues += count_values(csv)
        tab = {"file": csv.name}
        if ex.get("constants"):
            tab["constants"] = ex["constants"]
        if ex.get("initial"):
            tab["initial"] = ex["initial"]
        data.append(tab)
    spec = d / "fit.toml"
    spec.write_text(spec_text(sysm["name"], tpl, tpl["params"], data))
    ref_spec = d / "reference.toml"
    ref_spec.write_text(spec_text(sysm["name"] + "_reference", tpl, reference_params(tpl, sysm["truth_params"]), data))
    if args.data_only:
        return {"system": sysm["name"], "rep": rep, "values": nvalues, "dir": str(d)}
    ref = fit(binary, ref_spec, d / "reference.json", args.threads, args.timeout)
    res = fit(binary, spec, d / "model.json", args.threads, args.timeout)
    row = judge(sysm, res, ref, nvalues)
    row.update(system=sysm["name"], rep=rep, values=nvalues)
    if args.baseline:
        # The same data and reference, fitted by the baseline binary right after.
        base = fit(args.baseline, spec, d / "baseline.json", args.threads, args.timeout)
        brow = judge(sysm, base, ref, nvalues)
        brow.update(system=sysm["name"] + "@base", rep=rep, values=nvalues)
        row["baseline"] = brow
    return row


def fmt(row: dict) -> str:
    flag = lambda b: "yes" if b else "NO "
    extra = ""
    if row.get("extra") or row.get("missing"):
        extra = f" +{row.get('extra')} -{row.get('missing')}"
    z = row.get("worst_z")
    zs = f"z {z:5.2f}" if z is not None else (f"ratio err {100 * row['ratio_error']:.1f}%" if "ratio_error" in row else "")
    if not row.get("support") and "bic_vs_truth" in row:
        extra += f" (BIC {row['bic_vs_truth']:+.1f} vs truth: {'data prefer it' if row['bic_vs_truth'] < 0 else 'search missed the truth'})"
    conf = ""
    if row.get("starts"):
        conf = f" starts {row.get('starts_at_best')}/{row.get('starts')}"
    return (f"{row['system']:<14} r{row['rep']:<2} support {flag(row.get('support'))} coef {flag(row.get('coef'))} "
            f"chi2 {flag(row.get('chi2'))} ({row.get('chi2_excess', float('nan')):+8.2f}) {zs:<16} "
            f"{row['wall']:6.1f} s, cpu {row['cpu']:6.1f} s (ref {row.get('ref_seconds', float('nan')):5.1f} s){conf}{extra}"
            + (f" ERROR {row.get('error')}" if row.get("error") else ""))


NOISE = 0.01


def main() -> int:
    global NOISE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--odenet", default=str(REPO / "target/release/odenet"))
    ap.add_argument("--only", default="")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--keep", default=None)
    ap.add_argument("--out", default=None)
    ap.add_argument("--baseline", default=None,
                    help="another odenet binary fitted on the same data and judged the same way, side by side")
    ap.add_argument("--data-only", action="store_true", help="write the data and specs (needs --keep), fit nothing")
    args = ap.parse_args()
    cfg = tomllib.loads((HERE / "systems.toml").read_text())
    NOISE = cfg.get("noise", NOISE)
    systems = cfg["system"]
    if args.only:
        want = args.only.split(",")
        systems = [s for s in systems if s["name"] in want]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="odenet-hidden-"))
    rows = []
    for sysm in systems:
        for rep in range(args.first, args.first + args.reps):
            row = one(args.odenet, sysm, rep, work, args)
            rows.append(row)
            if args.data_only:
                print(row["dir"], flush=True)
                continue
            print(fmt(row), flush=True)
            if row.get("baseline"):
                print(fmt(row["baseline"]), flush=True)
    if args.data_only:
        return 0
    print()
    print(f"{'system':<14} {'support':>8} {'coef':>6} {'chi2':>6} {'median s':>9} {'max s':>7} {'median cpu s':>13}")
    names = [s["name"] for s in systems]
    if args.baseline:
        names = [x for n in names for x in (n, n + "@base")]
        rows = rows + [r["baseline"] for r in rows if r.get("baseline")]
    for name in names:
        rs = [r for r in rows if r["system"] == name]
        if not rs:
            continue
        walls = sorted(r["wall"] for r in rs)
        med = walls[len(walls) // 2]
        cpus = sorted(r["cpu"] for r in rs)
        print(f"{name:<14} {sum(bool(r.get('support')) for r in rs):>5}/{len(rs):<2} "
              f"{sum(bool(r.get('coef')) for r in rs):>3}/{len(rs):<2} {sum(bool(r.get('chi2')) for r in rs):>3}/{len(rs):<2} "
              f"{med:>9.1f} {walls[-1]:>7.1f} {cpus[len(cpus) // 2]:>13.1f}")
    if args.out:
        Path(args.out).write_text(json.dumps({"odenet": args.odenet, "rows": rows}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
