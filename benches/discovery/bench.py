#!/usr/bin/env python3
"""The discovery benchmark: odenet builds (and PySINDy) on a suite of known systems.

Run it through run.sh, which creates the virtual environment. See README.md for what every metric
means; in short, per system and noise level:

- the data are written by `odenet simulate` from the truth spec (trajectory 1 is fitted,
  trajectory 2 is only used to test generalisation), noise sd = eps * max|x| per state;
- each odenet build fits trajectory 1 with a complete cubic library and default settings;
- the fitted model is simulated from the first (noisy) observation of each trajectory and compared
  with the exact model simulated from the same observation, by a pooled, per-state-normalised R^2
  over the judged samples (all of them, or 2 Lyapunov times for chaotic systems); the comparison
  with the noiseless truth is reported beside it;
- on systems whose right-hand side is a cubic polynomial, the chosen terms are compared with the
  true ones (exact support) and the largest relative coefficient error is reported.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import csv
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zlib
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEGREE = 3  # the candidate library: complete polynomials up to this degree
CHAOTIC_LYAPUNOV_TIMES = 2.0  # chaotic systems are judged over this many Lyapunov times
SUCCESS_R2 = 0.9  # the summaries count systems with R^2 above this
# The method's targets (rec, gen, exact support: fractions of systems) per noise level, printed
# under the summaries for comparison.
TARGETS = {0.0: (0.97, 0.85, 0.90), 0.05: (0.85, 0.65, 0.60)}


# ----------------------------------------------------------------------------------------------
# Systems and their truth


@dataclass
class System:
    name: str
    truth: Path
    group: str
    t_end: float
    samples: int
    init1: dict[str, float]
    init2: dict[str, float]
    polynomial: bool
    chaotic: bool
    lyapunov_time: float | None
    quick: bool
    states: list[str] = field(default_factory=list)
    equations: dict[str, str] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    # true coefficients in the cubic library, keyed by exponent tuples (polynomial systems)
    true_terms: dict[str, dict[tuple[int, ...], float]] | None = None

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_end, self.samples + 1)


def load_systems(path: Path) -> list[System]:
    with open(path, "rb") as f:
        cat = tomllib.load(f)
    out = []
    for i, s in enumerate(cat.get("system", [])):
        where = f"{path}: system #{i + 1} ({s.get('name', '?')})"
        for key in ("name", "truth", "t_end", "init1", "init2", "polynomial", "chaotic"):
            if key not in s:
                raise SystemExit(f"{where}: missing key `{key}`")
        known = {"name", "truth", "group", "t_end", "samples", "init1", "init2", "polynomial",
                 "chaotic", "lyapunov_time", "quick"}
        unknown = set(s) - known
        if unknown:
            raise SystemExit(f"{where}: unknown key(s) {sorted(unknown)}")
        if s["chaotic"] and "lyapunov_time" not in s:
            raise SystemExit(f"{where}: a chaotic system needs `lyapunov_time`")
        sysm = System(
            name=s["name"], truth=(path.parent / s["truth"]).resolve(), group=s.get("group", ""),
            t_end=float(s["t_end"]), samples=int(s.get("samples", 500)),
            init1={k: float(v) for k, v in s["init1"].items()},
            init2={k: float(v) for k, v in s["init2"].items()},
            polynomial=bool(s["polynomial"]), chaotic=bool(s["chaotic"]),
            lyapunov_time=s.get("lyapunov_time"), quick=bool(s.get("quick", False)))
        with open(sysm.truth, "rb") as f:
            spec = tomllib.load(f)
        sysm.states = list(spec["states"])
        sysm.equations = dict(spec["equations"])
        for p, v in spec.get("params", {}).items():
            if not (isinstance(v, dict) and v.get("fixed") and "value" in v):
                raise SystemExit(f"{sysm.truth}: parameter `{p}` must be `{{ value = ..., fixed = true }}`")
            sysm.params[p] = float(v["value"])
        for init in (sysm.init1, sysm.init2):
            if sorted(init) != sorted(sysm.states):
                raise SystemExit(f"{where}: init1/init2 must give every state of {sysm.states}")
        out.append(sysm)
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise SystemExit(f"{path}: duplicate system names")
    return out


_FUNCS = {"exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "sqrt": np.sqrt}


def rhs_function(sysm: System):
    """The truth right-hand side as a numpy function of an (n, states) array (an independent
    reading of the spec's infix syntax: ^ is power, the functions are those of DESIGN.md)."""
    code = {x: compile(sysm.equations[x].replace("^", "**"), f"{sysm.truth}:{x}", "eval")
            for x in sysm.states}

    def f(X: np.ndarray) -> np.ndarray:
        env = dict(_FUNCS)
        env.update(sysm.params)
        for j, x in enumerate(sysm.states):
            env[x] = X[:, j]
        with np.errstate(all="ignore"):
            cols = [np.broadcast_to(np.asarray(eval(code[x], {"__builtins__": {}}, env), float),
                                    (X.shape[0],)) for x in sysm.states]
        return np.stack(cols, axis=1)

    return f


def monomials(n: int, degree: int = DEGREE) -> list[tuple[int, ...]]:
    """Exponent tuples of the complete polynomial library, constant first."""
    out = [tuple([0] * n)]
    for d in range(1, degree + 1):
        for combo in combinations_with_replacement(range(n), d):
            e = [0] * n
            for i in combo:
                e[i] += 1
            out.append(tuple(e))
    return out


def canonical(states: list[str], e: tuple[int, ...]) -> str:
    """odenet's canonical monomial name: states in order, joined by *, powers as x^2; "1"."""
    parts = [s if k == 1 else f"{s}^{k}" for s, k in zip(states, e) if k]
    return "*".join(parts) if parts else "1"


def parse_monomial(states: list[str], name: str, sep: str = "*") -> tuple[int, ...] | None:
    """Exponents of a monomial name like x^2*z (odenet) or `x^2 z` (PySINDy, sep=' ');
    None when a factor is not a state power."""
    e = [0] * len(states)
    name = name.strip()
    if name == "1":
        return tuple(e)
    for factor in name.split(sep):
        factor = factor.strip()
        if not factor:
            continue
        base, _, power = factor.partition("^")
        if base not in states:
            return None
        try:
            k = int(power) if power else 1
        except ValueError:
            return None
        e[states.index(base)] += k
    return tuple(e)


def library_matrix(X: np.ndarray, exps: list[tuple[int, ...]]) -> np.ndarray:
    return np.stack([np.prod(X ** np.array(e), axis=1) for e in exps], axis=1)


def derive_true_terms(sysm: System, X: np.ndarray) -> tuple[dict | None, float]:
    """The truth's coefficients in the cubic library, by exact least squares at points around the
    data (the right-hand side is evaluated from the truth spec). Returns (terms or None, the
    relative residual). A polynomial of degree <= 3 is reproduced to rounding error; anything
    else leaves a residual, which checks the catalogue's `polynomial` claim."""
    rng = np.random.default_rng(zlib.crc32(sysm.name.encode()))
    lo, hi = X.min(axis=0), X.max(axis=0)
    span = np.maximum(hi - lo, 1e-3 * np.maximum(np.abs(hi), 1.0))
    P = np.concatenate([X, lo - 0.2 * span + rng.random((400, X.shape[1])) * 1.4 * span])
    f = rhs_function(sysm)(P)
    scale = np.maximum(np.abs(P).max(axis=0), 1e-12)
    exps = monomials(len(sysm.states))
    A = library_matrix(P / scale, exps)
    terms: dict[str, dict[tuple[int, ...], float]] = {}
    worst = 0.0
    for j, x in enumerate(sysm.states):
        y = f[:, j]
        if not np.all(np.isfinite(y)):
            return None, math.inf
        c, *_ = np.linalg.lstsq(A, y, rcond=None)
        keep = np.abs(c) > 1e-9 * max(np.abs(c).max(), 1e-300)
        # refit on the support alone for clean values
        cs, *_ = np.linalg.lstsq(A[:, keep], y, rcond=None)
        res = np.linalg.norm(A[:, keep] @ cs - y) / max(np.linalg.norm(y), 1e-300)
        worst = max(worst, res)
        sup = [e for e, k in zip(exps, keep) if k]
        terms[x] = {e: float(v / np.prod(scale ** np.array(e))) for e, v in zip(sup, cs)}
    return terms, worst


# ----------------------------------------------------------------------------------------------
# Data


def fmt_init(states: list[str], x0) -> str:
    return ",".join(f"{s}={float(v)!r}" for s, v in zip(states, x0))


def fmt_times(t: np.ndarray) -> str:
    return ",".join(repr(float(v)) for v in t)


def read_csv(path: Path, states: list[str]) -> tuple[np.ndarray, np.ndarray]:
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    head = rows[0]
    idx = [head.index(s) for s in states]
    vals = np.array([[float(v) if v != "" else np.nan for v in r] for r in rows[1:] if r], float)
    if vals.size == 0:
        return np.zeros(0), np.zeros((0, len(states)))
    return vals[:, head.index("t")], vals[:, idx]


def run_simulate(binary: str, model: Path, times: np.ndarray, x0, states: list[str], out: Path,
                 noise: float = 0.0, seed: int = 0, timeout: float = 60.0) -> tuple[np.ndarray | None, str]:
    """`odenet simulate` at the given times; (states array, '') or (None, message)."""
    cmd = [binary, "simulate", str(model), "--times", fmt_times(times), "--init", fmt_init(states, x0),
           "-o", str(out)]
    if noise > 0:
        cmd += ["--noise", repr(noise), "--seed", str(seed)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"simulate timed out after {timeout:g} s"
    if p.returncode != 0 or not out.exists():
        return None, f"simulate exit {p.returncode}: {last_line(p.stderr)}"
    t, X = read_csv(out, states)
    if X.shape[0] != len(times) or not np.all(np.isfinite(X)):
        return None, f"simulate gave {X.shape[0]} of {len(times)} rows or non-finite values"
    return X, ""


def last_line(s: str) -> str:
    lines = [line for line in s.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def seed_of(name: str, traj: int, eps: float) -> int:
    return zlib.crc32(f"{name}/{traj}/{eps!r}".encode()) % 2**31


@dataclass
class Case:
    """One system at one noise level: paths of the data and the judged horizons."""
    sysm: System
    eps: float
    dir: Path
    times: np.ndarray
    clean: list[np.ndarray]  # noiseless truth, trajectories 1 and 2
    noisy: list[np.ndarray]  # the observed data (== clean at eps = 0)
    data1: Path  # the CSV that is fitted (noisy trajectory 1)
    ref: list[np.ndarray]  # the exact model from the same (noisy) first observation
    horizon: list[int]  # judged samples per trajectory
    ceiling: list[float]  # the exact model's R^2 from the noisy start against the noiseless truth


def generate(sysm: System, eps_list: list[float], binary: str, work: Path) -> list[Case]:
    d = work / "data" / sysm.name
    d.mkdir(parents=True, exist_ok=True)
    times = sysm.times
    clean = []
    for k, init in enumerate((sysm.init1, sysm.init2), start=1):
        x0 = [init[s] for s in sysm.states]
        X, msg = run_simulate(binary, sysm.truth, times, x0, sysm.states, d / f"traj{k}-clean.csv")
        if X is None:
            raise SystemExit(f"{sysm.name}: could not simulate the truth (trajectory {k}): {msg}")
        clean.append(X)
    check_rhs_agrees(sysm, binary, d)
    if sysm.true_terms is None and sysm.polynomial:
        terms, res = derive_true_terms(sysm, np.concatenate(clean))
        if terms is None or res > 1e-7:
            raise SystemExit(f"{sysm.name}: marked polynomial but the truth is not a cubic polynomial "
                             f"(relative residual {res:.1e}); set polynomial = false")
        sysm.true_terms = terms
    elif not sysm.polynomial:
        _, res = derive_true_terms(sysm, np.concatenate(clean))
        if res < 1e-7:
            raise SystemExit(f"{sysm.name}: marked not polynomial but the truth is a cubic polynomial")
    cases = []
    for eps in eps_list:
        noisy, paths = [], []
        for k in (1, 2):
            if eps > 0:
                p = d / f"traj{k}-eps{eps:g}.csv"
                init = sysm.init1 if k == 1 else sysm.init2
                X, msg = run_simulate(binary, sysm.truth, times, [init[s] for s in sysm.states],
                                      sysm.states, p, noise=eps, seed=seed_of(sysm.name, k, eps))
                if X is None:
                    raise SystemExit(f"{sysm.name}: could not write noisy data: {msg}")
            else:
                p, X = d / f"traj{k}-clean.csv", clean[k - 1]
            noisy.append(X)
            paths.append(p)
        refs, horizon, ceiling = [], [], []
        for k in (0, 1):
            if eps > 0:
                Xr, msg = run_simulate(binary, sysm.truth, times, noisy[k][0], sysm.states,
                                       d / f"traj{k + 1}-eps{eps:g}-truthref.csv")
            else:
                Xr = clean[k]
            h = judged_horizon(sysm, times)
            if Xr is None:
                print(f"warning: {sysm.name}, eps {eps:g}: the exact model from the noisy start of "
                      f"trajectory {k + 1} failed ({msg}); models are compared with the noiseless truth",
                      file=sys.stderr)
                refs.append(clean[k])
                ceiling.append(-math.inf)
            else:
                refs.append(Xr)
                ceiling.append(r2(clean[k][:h], Xr[:h]))
            horizon.append(h)
        cases.append(Case(sysm, eps, d, times, clean, noisy, paths[0], refs, horizon, ceiling))
    return cases


def check_rhs_agrees(sysm: System, binary: str, d: Path) -> None:
    """Guards the independent reading of the truth spec (used for the true coefficients): central
    differences of odenet's noiseless trajectory 1 over close pairs of times must match f."""
    h = 1e-4 * sysm.t_end / sysm.samples
    mid = np.linspace(0.0, sysm.t_end, 41)[1:-1]
    times = np.sort(np.concatenate([[0.0], mid - h, mid + h]))
    X, msg = run_simulate(binary, sysm.truth, times, [sysm.init1[s] for s in sysm.states], sysm.states,
                          d / "rhs-check.csv")
    if X is None:
        raise SystemExit(f"{sysm.name}: could not simulate the truth: {msg}")
    lo, hi = X[1::2], X[2::2]
    dX = (hi - lo) / (2 * h)
    F = rhs_function(sysm)((hi + lo) / 2)
    err = np.abs(dX - F).max(axis=0) / np.maximum(np.abs(F).max(axis=0), 1e-12)
    if np.any(err > 1e-2):
        raise SystemExit(f"{sysm.name}: the truth spec read by bench.py disagrees with `odenet simulate` "
                         f"(relative derivative mismatch {err.max():.1e})")


def judged_horizon(sysm: System, times: np.ndarray) -> int:
    """Samples over which models are judged: the whole span, or CHAOTIC_LYAPUNOV_TIMES Lyapunov
    times for chaotic systems (over longer spans a model error of any size is amplified to the
    size of the attractor)."""
    n = len(times)
    if not sysm.chaotic:
        return n
    h = int(np.searchsorted(times, times[0] + CHAOTIC_LYAPUNOV_TIMES * sysm.lyapunov_time, "right"))
    return max(min(h, n), 2)


def r2(truth: np.ndarray, pred: np.ndarray | None) -> float:
    """Pooled R^2 with per-state normalisation: 1 - mean over states of SS_res / SS_tot, each state
    over the judged samples. -inf for a failed simulation."""
    if pred is None or pred.shape != truth.shape or not np.all(np.isfinite(pred)):
        return -math.inf
    ss_tot = ((truth - truth.mean(axis=0)) ** 2).sum(axis=0)
    ss_tot = np.maximum(ss_tot, np.maximum(1e-24 * (truth ** 2).sum(axis=0), 1e-300))
    ss_res = ((truth - pred) ** 2).sum(axis=0)
    with np.errstate(over="ignore"):
        return float(1.0 - np.mean(ss_res / ss_tot))


# ----------------------------------------------------------------------------------------------
# Scoring a fitted model (any method)


def score_model(case: Case, terms: dict[str, dict[tuple[int, ...], float]] | None,
                sims: list[np.ndarray | None]) -> dict:
    """Metrics of one fitted model: `terms` are its nonzero coefficients keyed by exponent tuples
    (None when no model), `sims` its simulations of trajectories 1 and 2 from their first
    observations (None = failed)."""
    out = {}
    for k, key in ((0, "r2_rec"), (1, "r2_gen")):
        h = case.horizon[k]
        X = sims[k][:h] if sims[k] is not None else None
        out[key] = r2(case.ref[k][:h], X)  # against the exact model from the same start
        out[key + "_clean"] = r2(case.clean[k][:h], X)  # against the noiseless truth
    sysm = case.sysm
    if sysm.polynomial and sysm.true_terms is not None:
        exact_eqs, missing, extra, worst = 0, 0, 0, 0.0
        for x in sysm.states:
            true = sysm.true_terms[x]
            got = (terms or {}).get(x, {})
            if set(true) == set(got):
                exact_eqs += 1
            missing += len(set(true) - set(got))
            extra += len(set(got) - set(true))
            for e, c in true.items():
                worst = max(worst, abs(got[e] - c) / abs(c) if e in got else 1.0)
        out.update(exact_support=terms is not None and exact_eqs == len(sysm.states),
                   exact_equations=exact_eqs if terms is not None else 0,
                   missing_terms=missing, extra_terms=extra, coef_err=worst if terms is not None else 1.0)
    else:
        out.update(exact_support=None, exact_equations=None, missing_terms=None, extra_terms=None,
                   coef_err=None)
    out["active_terms"] = sum(len(v) for v in terms.values()) if terms is not None else None
    return out


def failed_scores(case: Case) -> dict:
    return score_model(case, None, [None, None])


# ----------------------------------------------------------------------------------------------
# odenet


def fit_spec_text(sysm: System, data: Path) -> str:
    states = ", ".join(f'"{s}"' for s in sysm.states)
    return (f'# Written by benches/discovery/bench.py: default settings, complete cubic library.\n'
            f'name = "{sysm.name}"\nstates = [{states}]\n\n[library]\npolynomial = {DEGREE}\n\n'
            f'[[data]]\nfile = "{data}"\n')


def odenet_terms(sysm: System, model: dict) -> dict[str, dict[tuple[int, ...], float]]:
    terms = {}
    for x in sysm.states:
        got = {}
        for name, c in (model.get("terms", {}).get(x) or {}).items():
            e = parse_monomial(sysm.states, name)
            if e is None:
                raise ValueError(f"unexpected term name {name!r} in the model file")
            if c is not None and float(c) != 0.0:
                got[e] = got.get(e, 0.0) + float(c)
        terms[x] = got
    return terms


def run_odenet(label: str, binary: str, case: Case, work: Path, timeout: float, threads: int | None) -> dict:
    sysm = case.sysm
    d = work / "fits" / label / sysm.name / f"eps{case.eps:g}"
    d.mkdir(parents=True, exist_ok=True)
    spec, model = d / "spec.toml", d / "model.json"
    spec.write_text(fit_spec_text(sysm, case.data1))
    if model.exists():
        model.unlink()
    cmd = [binary, "fit", str(spec), "-o", str(model), "--quiet"]
    if threads:
        cmd += ["--threads", str(threads)]
    row = dict(method=label, system=sysm.name, eps=case.eps)
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        (d / "fit.out").write_text(p.stdout + "\n--- stderr ---\n" + p.stderr)
        code = p.returncode
    except subprocess.TimeoutExpired:
        row.update(status="timeout", exit_code=None, seconds=timeout, message=f"no result in {timeout:g} s")
        row.update(failed_scores(case))
        return row
    row.update(seconds=seconds, exit_code=code)
    if code not in (0, 1) or not model.exists():
        row.update(status="error", message=last_line(p.stderr) or f"exit status {code}")
        row.update(failed_scores(case))
        return row
    row["status"] = "ok" if code == 0 else "not-converged"
    row["message"] = "" if code == 0 else last_line(p.stderr)
    try:
        terms = odenet_terms(sysm, json.loads(model.read_text()))
    except (ValueError, json.JSONDecodeError) as e:
        row.update(status="error", message=f"model file: {e}")
        row.update(failed_scores(case))
        return row
    sims = []
    for k in (0, 1):
        X, msg = run_simulate(binary, model, case.times, case.noisy[k][0], sysm.states,
                              d / f"sim{k + 1}.csv")
        if X is None:
            row["message"] = (row["message"] + f"; trajectory {k + 1}: {msg}").lstrip("; ")
        sims.append(X)
    row.update(score_model(case, terms, sims))
    return row


def run_oracle(binary: str, case: Case, work: Path) -> dict:
    """The calibration row (`--oracle`): answers with the exact model. Polynomial systems go
    through a model file written from the derived true terms (so the model-file path, the term
    names and the scoring are all exercised); the others simulate the truth spec. Must score
    R^2 = 1, exact support and 0% coefficient error."""
    sysm = case.sysm
    d = work / "fits" / "truth" / sysm.name / f"eps{case.eps:g}"
    d.mkdir(parents=True, exist_ok=True)
    row = dict(method="truth", system=sysm.name, eps=case.eps, status="ok", exit_code=0, message="")
    t0 = time.perf_counter()
    terms = sysm.true_terms
    if terms is not None:
        model = d / "model.json"
        eqs = {x: " + ".join(f"({c!r})*{canonical(sysm.states, e)}" if any(e) else f"({c!r})"
                             for e, c in terms[x].items()) or "0" for x in sysm.states}
        names = {x: {canonical(sysm.states, e): c for e, c in terms[x].items()} for x in sysm.states}
        model.write_text(json.dumps({"format": "odenet-model/1", "name": sysm.name, "states": sysm.states,
                                     "hidden": [], "constants": [], "params": {}, "equations": eqs,
                                     "terms": names, "fit": {}}, indent=1))
        terms = odenet_terms(sysm, json.loads(model.read_text()))
    else:
        model = sysm.truth
    sims = []
    for k in (0, 1):
        X, msg = run_simulate(binary, model, case.times, case.noisy[k][0], sysm.states, d / f"sim{k + 1}.csv")
        if X is None:
            row["message"] = (row["message"] + f"; trajectory {k + 1}: {msg}").lstrip("; ")
        sims.append(X)
    row["seconds"] = time.perf_counter() - t0
    row.update(score_model(case, terms, sims))
    return row


def binary_info(path: str) -> dict:
    p = Path(path)
    h = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
    return {"path": str(p.resolve()), "sha256": h,
            "modified": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(p.stat().st_mtime))}


# ----------------------------------------------------------------------------------------------
# Reporting


def fmt_r2(v) -> str:
    if v is None:
        return "    -"
    if v == -math.inf:
        return " fail"
    if v < -9.99:
        return " <-10"
    return f"{v:5.2f}"


def fmt_sup(row) -> str:
    v = row.get("exact_support")
    if v is None:
        return "  -"
    return "yes" if v else f"{row['exact_equations']}/{row['n_states']}"


def fmt_err(v) -> str:
    if v is None:
        return "     -"
    return f"{100 * v:5.1f}%" if v < 9.995 else " >999%"


def summarise(rows: list[dict]) -> dict:
    n = len(rows)
    poly = [r for r in rows if r.get("exact_support") is not None]
    errs = [r["coef_err"] for r in poly]
    return {
        "systems": n,
        "rec_r2_gt_0.9": sum(r["r2_rec"] > SUCCESS_R2 for r in rows),
        "gen_r2_gt_0.9": sum(r["r2_gen"] > SUCCESS_R2 for r in rows),
        "rec_r2_clean_gt_0.9": sum(r["r2_rec_clean"] > SUCCESS_R2 for r in rows),
        "gen_r2_clean_gt_0.9": sum(r["r2_gen_clean"] > SUCCESS_R2 for r in rows),
        "ceiling_rec_gt_0.9": sum(r["ceiling_rec"] > SUCCESS_R2 for r in rows),
        "ceiling_gen_gt_0.9": sum(r["ceiling_gen"] > SUCCESS_R2 for r in rows),
        "polynomial_systems": len(poly),
        "exact_support": sum(bool(r["exact_support"]) for r in poly),
        "median_coef_err": float(np.median(errs)) if errs else None,
        "failures": sum(r["status"] in ("timeout", "error") for r in rows),
        "not_converged": sum(r["status"] == "not-converged" for r in rows),
        "total_seconds": float(sum(r["seconds"] for r in rows)),
    }


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f}% ({a}/{b})" if b else "-"


def print_report(rows: list[dict], methods: list[str], eps_list: list[float], systems: list[System]) -> dict:
    summary = {}
    for eps in eps_list:
        print(f"\n== noise eps = {eps:g} ==")
        head = f"{'system':22s}"
        for m in methods:
            head += f" | {m[:28]:28s}"
        print(head)
        sub = f"{'':22s}" + " | rec   gen   sup  coef    time " * len(methods)
        print(sub.replace(" | ", " | ", len(methods)))
        for s in systems:
            line = f"{s.name:22s}"
            for m in methods:
                r = next((r for r in rows if r["system"] == s.name and r["eps"] == eps and r["method"] == m), None)
                if r is None:
                    line += " | " + " " * 28
                    continue
                flag = {"timeout": "T", "error": "E", "not-converged": "*"}.get(r["status"], " ")
                line += (f" | {fmt_r2(r['r2_rec'])} {fmt_r2(r['r2_gen'])} {fmt_sup(r):>3s} "
                         f"{fmt_err(r['coef_err'])} {r['seconds']:5.1f}{flag}")
            print(line)
        print("(rec/gen: R^2 of trajectories 1/2 against the exact model from the same first observation; "
              "sup: exact support, or exact "
              "equations/states; coef: largest relative error over the true terms; time: wall s; "
              "* not converged, T timeout, E error)")
        for m in methods:
            rs = [r for r in rows if r["eps"] == eps and r["method"] == m]
            if not rs:
                continue
            sm = summarise(rs)
            summary.setdefault(m, {})[f"{eps:g}"] = sm
            med = "-" if sm["median_coef_err"] is None else f"{100 * sm['median_coef_err']:.1f}%"
            print(f"  {m}: rec R^2>0.9 {pct(sm['rec_r2_gt_0.9'], sm['systems'])}, gen R^2>0.9 "
                  f"{pct(sm['gen_r2_gt_0.9'], sm['systems'])}, exact support "
                  f"{pct(sm['exact_support'], sm['polynomial_systems'])}, median coef err {med}, "
                  f"time {sm['total_seconds']:.1f} s, failures {sm['failures']}, not converged {sm['not_converged']}")
            if eps > 0:
                print(f"  {' ' * len(m)}  against the noiseless truth instead: rec R^2>0.9 "
                      f"{pct(sm['rec_r2_clean_gt_0.9'], sm['systems'])}, gen R^2>0.9 "
                      f"{pct(sm['gen_r2_clean_gt_0.9'], sm['systems'])} (the exact model itself: "
                      f"{sm['ceiling_rec_gt_0.9']}/{sm['systems']}, {sm['ceiling_gen_gt_0.9']}/{sm['systems']})")
        if eps in TARGETS:
            rec, gen, sup = TARGETS[eps]
            print(f"  targets: rec R^2>0.9 in >= {100 * rec:.0f}%, gen R^2>0.9 in >= {100 * gen:.0f}%, "
                  f"exact support in >= {100 * sup:.0f}% of the polynomial systems")
    return summary


CSV_FIELDS = ["method", "system", "eps", "status", "exit_code", "seconds", "r2_rec", "r2_gen",
              "exact_support", "exact_equations", "n_states", "missing_terms", "extra_terms",
              "coef_err", "active_terms", "horizon_rec", "horizon_gen", "r2_rec_clean", "r2_gen_clean",
              "ceiling_rec", "ceiling_gen",
              "polynomial", "chaotic", "message"]


def write_outputs(out: Path, rows: list[dict], meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None if math.isnan(v) else ("-inf" if v < 0 else "inf")
        return v

    js = dict(meta, rows=[{k: clean(v) for k, v in r.items()} for r in rows])
    (out / "results.json").write_text(json.dumps(js, indent=1) + "\n")
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in CSV_FIELDS})


# ----------------------------------------------------------------------------------------------
# Main


def parse_methods(values: list[str] | None) -> list[tuple[str, str]]:
    if not values:
        values = [f"odenet={REPO / 'target' / 'release' / 'odenet'}"]
    out = []
    for v in values:
        for item in v.split(","):
            item = item.strip()
            if not item:
                continue
            label, sep, path = item.partition("=")
            if not sep:
                label, path = "odenet" if not out else f"odenet{len(out) + 1}", item
            if not Path(path).is_file() or not os.access(path, os.X_OK):
                raise SystemExit(f"--odenet {item}: {path} is not an executable file "
                                 f"(build it with `cargo build --release`)")
            if label in [m[0] for m in out] or label in ("pysindy", "truth"):
                raise SystemExit(f"--odenet: the label `{label}` is used twice")
            out.append((label, str(Path(path).resolve())))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--odenet", action="append", metavar="[LABEL=]PATH",
                    help="an odenet binary to measure (repeatable or a comma list; default "
                         "odenet=target/release/odenet)")
    ap.add_argument("--pysindy", action="store_true", help="also run a tuned PySINDy on the same data")
    ap.add_argument("--oracle", action="store_true",
                    help="add the calibration row `truth` (the exact model; must score 1, exact, 0%%)")
    ap.add_argument("--only", help="comma list of system names")
    ap.add_argument("--quick", action="store_true", help="the quick systems at eps = 0.05 only (unless --noise)")
    ap.add_argument("--noise", help="comma list of noise levels eps (default 0,0.05)")
    ap.add_argument("--jobs", type=int, default=1, help="parallel fits (default 1 so that times mean something)")
    ap.add_argument("--threads", type=int, help="odenet fit --threads (default: all cores with --jobs 1, "
                                                 "else cores/jobs)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per fit, then a failure (default 120)")
    ap.add_argument("--keep", metavar="DIR", help="keep data, fit specs, models and simulations in DIR")
    ap.add_argument("--out", metavar="DIR", default=str(HERE / "out"),
                    help="where results.json and results.csv go (default benches/discovery/out)")
    ap.add_argument("--systems", default=str(HERE / "systems.toml"), help="the system catalogue")
    ap.add_argument("--list", action="store_true", help="list the systems and their true terms, then stop")
    args = ap.parse_args(argv)

    systems = load_systems(Path(args.systems))
    if args.only:
        want = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = [w for w in want if w not in {s.name for s in systems}]
        if unknown:
            raise SystemExit(f"--only: unknown system(s) {unknown}; known: {[s.name for s in systems]}")
        systems = [s for s in systems if s.name in want]
    elif args.quick:
        systems = [s for s in systems if s.quick]
    if args.noise:
        try:
            eps_list = [float(v) for v in args.noise.split(",") if v.strip()]
        except ValueError:
            raise SystemExit(f"--noise {args.noise}: expected a comma list of numbers, e.g. 0,0.05")
        if any(e < 0 for e in eps_list):
            raise SystemExit("--noise: levels must be >= 0")
    else:
        eps_list = [0.05] if args.quick else [0.0, 0.05]
    if args.jobs < 1:
        raise SystemExit("--jobs must be >= 1")
    methods = parse_methods(args.odenet)
    threads = args.threads or (None if args.jobs == 1 else max(1, (os.cpu_count() or 1) // args.jobs))

    if args.keep:
        work = Path(args.keep).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="odenet-discovery-"))
    sim_binary = methods[0][1]
    try:
        t0 = time.perf_counter()
        cases: list[Case] = []
        for s in systems:
            cases += generate(s, eps_list, sim_binary, work)
        print(f"data: {len(systems)} systems x {len(eps_list)} noise levels written in "
              f"{time.perf_counter() - t0:.1f} s (simulated by {sim_binary})", file=sys.stderr)
        if args.list:
            for s in systems:
                kind = ("polynomial" if s.polynomial else "not polynomial") + (", chaotic" if s.chaotic else "")
                print(f"{s.name} ({s.group}; {kind}; t_end {s.t_end:g}; {len(s.states)} states)")
                if s.true_terms:
                    for x in s.states:
                        eq = " + ".join(f"{c:g}*{canonical(s.states, e)}" for e, c in s.true_terms[x].items())
                        print(f"    {x}' = {eq}")
            return 0

        rows: list[dict] = []
        tasks = [(label, path, c) for label, path in methods for c in cases]
        if args.oracle:
            for c in cases:
                rows.append(run_oracle(sim_binary, c, work))
        done = 0

        def note(r):
            nonlocal done
            done += 1
            print(f"[{done}/{len(tasks) + (len(cases) if args.pysindy else 0)}] {r['method']} {r['system']} "
                  f"eps={r['eps']:g}: {r['status']}, rec {fmt_r2(r['r2_rec']).strip()}, "
                  f"{r['seconds']:.1f} s", file=sys.stderr)

        with cf.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = [ex.submit(run_odenet, label, path, c, work, args.timeout, threads) for label, path, c in tasks]
            for fut in cf.as_completed(futs):
                r = fut.result()
                note(r)
                rows.append(r)
        method_info = {label: binary_info(path) for label, path in methods}
        if args.pysindy:
            import sindy  # noqa: PLC0415 (only with --pysindy: needs the extra packages)
            method_info["pysindy"] = sindy.describe()
            with cf.ProcessPoolExecutor(max_workers=args.jobs) as ex:
                futs = [ex.submit(sindy.run_case, case_payload(c)) for c in cases]
                for c, fut in zip(cases, futs):
                    res = fut.result()
                    r = dict(method="pysindy", system=c.sysm.name, eps=c.eps)
                    r.update(res["row"])
                    terms = res["terms"]
                    if terms is not None:
                        terms = {x: {tuple(e): v for e, v in t} for x, t in terms.items()}
                    r.update(score_model(c, terms, [None if s is None else np.asarray(s) for s in res["sims"]])
                             if r["status"] in ("ok", "not-converged") else failed_scores(c))
                    note(r)
                    rows.append(r)
        for r in rows:
            c = next(c for c in cases if c.sysm.name == r["system"] and c.eps == r["eps"])
            r.update(n_states=len(c.sysm.states), horizon_rec=c.horizon[0], horizon_gen=c.horizon[1],
                     ceiling_rec=c.ceiling[0], ceiling_gen=c.ceiling[1], polynomial=c.sysm.polynomial,
                     chaotic=c.sysm.chaotic)
        names = ((["truth"] if args.oracle else []) + [m[0] for m in methods]
                 + (["pysindy"] if args.pysindy else []))
        order = {s.name: i for i, s in enumerate(systems)}
        rows.sort(key=lambda r: (r["eps"], order[r["system"]], names.index(r["method"])))
        summary = print_report(rows, names, eps_list, systems)
        meta = {
            "format": "odenet-discovery-bench/1",
            "command": " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "methods": method_info, "noise": eps_list, "timeout": args.timeout, "jobs": args.jobs,
            "summary": summary,
            "systems": [{"name": s.name, "group": s.group, "states": s.states, "polynomial": s.polynomial,
                         "chaotic": s.chaotic, "t_end": s.t_end, "samples": s.samples,
                         "true_terms": ({x: {canonical(s.states, e): c for e, c in s.true_terms[x].items()}
                                         for x in s.states} if s.true_terms else None)} for s in systems],
        }
        write_outputs(Path(args.out), rows, meta)
        print(f"\nresults: {Path(args.out) / 'results.json'}, {Path(args.out) / 'results.csv'}"
              + (f"; models and data kept in {work}" if args.keep else ""))
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def case_payload(c: Case) -> dict:
    """What the PySINDy worker needs (plain data, picklable)."""
    return {"name": c.sysm.name, "states": c.sysm.states, "eps": c.eps, "times": c.times,
            "noisy": c.noisy, "chaotic": c.sysm.chaotic}


if __name__ == "__main__":
    sys.exit(main())
