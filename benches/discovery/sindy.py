"""PySINDy on the discovery benchmark, tuned fairly (see README.md, "PySINDy").

Per case (one system, one noise level, trajectory 1 only; the truth is never used):
- candidate configurations: derivative by plain finite differences, Savitzky-Golay-smoothed finite
  differences (windows 7, 15, 31 samples, cubic) or the weak form (WeakPDELibrary, K = 200
  subdomains, p = 4, PySINDy's default subdomain width); complete cubic polynomial library;
  STLSQ with thresholds 1e-3 .. 2, ridge alpha 0.05 (PySINDy's default) or 1e-5, with and
  without normalised columns. The rows of the regression are scaled by one common factor to
  unit rms (the same least-squares problem), so that alpha means the same for the weak form's
  small integrals as for derivatives.
- selection by integration: each candidate is integrated from the first observation of
  trajectory 1 over all of it and scored by its squared error against the noisy data
  (normalised by each state's variance); for chaotic systems, where any model diverges over
  the whole span, from the observation at the start of each window of 25 samples tiling the
  trajectory. Among the candidates within 5% (+1e-8) of the best score, the one with the fewest
  terms (then the best score) is the result.
- terms whose contribution over the data is below 1e-6 of their equation's size are dropped:
  STLSQ keeps a support chosen by its ridge-regularised fits and then refits it without the
  ridge (unbias), which can leave coefficients of ~1e-9 on collinear columns; PySINDy's own
  print hides them.
The features and derivative targets of each derivative method are computed once and STLSQ is
run on them for every threshold (what SINDy.fit does internally, without recomputing the
weak-form integrals each time).
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np

WINDOW = 25  # samples per scoring window of chaotic systems
THRESHOLDS = [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0]
ALPHAS = [0.05, 1e-5]
PARSIMONY = (1.05, 1e-8)  # within this factor (+ this absolute) of the best score
SG_WINDOWS = [7, 15, 31]
WEAK_K = 200  # subdomains
SCORE_SECONDS = 2.0  # wall-clock limit of one integration while scoring candidates
SIM_SECONDS = 30.0  # ... and of the final model's reconstructions


def describe() -> dict:
    import pysindy  # noqa: PLC0415
    import scipy  # noqa: PLC0415

    return {"pysindy": pysindy.__version__, "scipy": scipy.__version__, "numpy": np.__version__,
            "grid": {"derivative": ["finite-difference"] + [f"savgol-{w}" for w in SG_WINDOWS] + ["weak"],
                     "threshold": THRESHOLDS, "alpha": ALPHAS,
                     "normalize_columns": [False, True]}}


def parse_name(states: list[str], name: str) -> tuple[int, ...] | None:
    e = [0] * len(states)
    if name.strip() == "1":
        return tuple(e)
    for factor in name.split():
        base, _, power = factor.partition("^")
        if base not in states:
            return None
        e[states.index(base)] += int(power) if power else 1
    return tuple(e)


class Features:
    """The candidate features and derivative targets of one derivative method on one trajectory."""

    def __init__(self, method: str, X: np.ndarray, t: np.ndarray, states: list[str]):
        import pysindy as ps  # noqa: PLC0415
        from pysindy.utils import AxesArray  # noqa: PLC0415

        if method == "weak":
            np.random.seed(0)  # WeakPDELibrary draws its subdomains from numpy's global generator
            lib = ps.WeakPDELibrary(function_library=ps.PolynomialLibrary(degree=3),
                                    spatiotemporal_grid=t, K=WEAK_K, p=4)
            xa = AxesArray(X, {"ax_sample": 0, "ax_coord": 1})
            self.theta = np.asarray(lib.fit_transform([xa])[0])
            self.target = np.asarray(lib.convert_u_dot_integral(xa))
        else:
            if method == "finite-difference":
                diff = ps.FiniteDifference()
            else:
                w = int(method.split("-")[1])
                diff = ps.SmoothedFiniteDifference(smoother_kws={"window_length": w, "polyorder": 3})
            self.target = np.asarray(diff._differentiate(X, t))
            Xs = np.asarray(getattr(diff, "smoothed_x_", X))
            lib = ps.PolynomialLibrary(degree=3)
            self.theta = np.asarray(lib.fit_transform(Xs))
        names = lib.get_feature_names(states)
        self.exps = [parse_name(states, name) for name in names]
        if any(e is None for e in self.exps):
            raise ValueError(f"unexpected PySINDy feature names {names}")
        self.finite = np.all(np.isfinite(self.theta), axis=1) & np.all(np.isfinite(self.target), axis=1)
        # One common factor for the rows of theta and target: the same least-squares problem, but
        # STLSQ's ridge term (alpha * |c|^2, absolute) stays small against features of unit
        # size. Without it the weak form's features (integrals over small subdomains) are so
        # small that alpha = 0.05 shrinks every coefficient below any threshold.
        rms = float(np.sqrt(np.mean(self.theta[self.finite] ** 2))) if self.finite.any() else 1.0
        if rms > 0 and math.isfinite(rms):
            self.theta, self.target = self.theta / rms, self.target / rms

    def fit(self, threshold: float, alpha: float, normalize: bool, rows: np.ndarray,
            X: np.ndarray) -> dict[tuple[int, ...], np.ndarray]:
        """STLSQ on the given rows; returns the model as {exponents: coefficient per state}
        (duplicated feature names summed, negligible terms over the data X dropped)."""
        import pysindy as ps  # noqa: PLC0415

        opt = ps.STLSQ(threshold=threshold, alpha=alpha, normalize_columns=normalize)
        opt.fit(self.theta[rows], self.target[rows])
        coef = np.array(opt.coef_, dtype=float)  # (states, features)
        E = np.array(self.exps, dtype=float)
        size = np.abs(np.prod(X[:, None, :] ** E[None, :, :], axis=2)).max(axis=0)  # per feature
        contrib = np.abs(coef) * size[None, :]
        total = np.maximum(contrib.sum(axis=1, keepdims=True), 1e-300)
        coef[contrib < 1e-6 * total] = 0.0
        model: dict[tuple[int, ...], np.ndarray] = {}
        for j, e in enumerate(self.exps):
            if np.any(coef[:, j] != 0):
                model[e] = model.get(e, 0) + coef[:, j]
        return model


class Rhs:
    def __init__(self, model: dict[tuple[int, ...], np.ndarray], n: int):
        self.E = np.array(list(model.keys()), dtype=int).reshape(-1, n)  # (terms, states)
        self.C = np.array(list(model.values()), dtype=float).reshape(-1, n)  # (terms, states)
        self.cols = np.arange(n)[None, :]
        self.deadline = math.inf

    def __call__(self, _t, x):
        if time.perf_counter() > self.deadline:
            raise TimeoutError
        pw = np.stack([np.ones_like(x), x, x * x, x * x * x])  # powers 0..3 of each state
        return np.prod(pw[self.E, self.cols], axis=1) @ self.C


def simulate(model, x0: np.ndarray, t: np.ndarray, bound: float, seconds: float = SIM_SECONDS) -> np.ndarray | None:
    """Integrates the model from x0 over t (LSODA, rtol 1e-8); None when it blows up (|x| >
    bound), fails or takes longer than `seconds`."""
    from scipy.integrate import solve_ivp  # noqa: PLC0415

    n = len(x0)
    if not model:
        return np.tile(x0, (len(t), 1))
    f = Rhs(model, n)
    f.deadline = time.perf_counter() + seconds

    def blow(_t, x):
        return bound - np.abs(x).max()

    blow.terminal = True
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = solve_ivp(f, (t[0], t[-1]), x0, t_eval=t, method="LSODA", rtol=1e-8,
                            atol=1e-10 * max(bound, 1.0), events=blow)
    except (TimeoutError, ValueError, FloatingPointError, OverflowError):
        return None
    if sol.status != 0 or sol.y.shape[1] != len(t) or not np.all(np.isfinite(sol.y)):
        return None
    return sol.y.T


def score_windows(n: int, chaotic: bool) -> list[tuple[int, int]]:
    if not chaotic:
        return [(0, n - 1)]
    return [(a, min(a + WINDOW, n - 1)) for a in range(0, n - 1, WINDOW) if min(a + WINDOW, n - 1) - a >= 2]


CHUNK = 100  # samples per piece of a whole-trajectory integration (to stop hopeless candidates early)


def sim_score(model, t: np.ndarray, X: np.ndarray, windows, scale: np.ndarray, bound: float,
              limit: float = math.inf) -> float:
    """Mean normalised squared error of the model integrated from the observation at the start of
    each window (a whole-trajectory window is integrated in chunks, each continuing from where the
    last ended). inf once the error certainly exceeds `limit`, or when an integration fails."""
    count = sum(b - a for a, b in windows)
    total = 0.0
    for a, b in windows:
        x = X[a]
        for c in range(a, b, CHUNK):
            d = min(c + CHUNK, b)
            Y = simulate(model, x, t[c:d + 1], bound, SCORE_SECONDS)
            if Y is None:
                return math.inf
            total += float(np.sum(((Y[1:] - X[c + 1:d + 1]) / scale) ** 2)) / X.shape[1]
            if total / count > limit:
                return math.inf
            x = Y[-1]
    return total / count


def nterms(model) -> int:
    return sum(int(np.count_nonzero(c)) for c in model.values())


def run_case(p: dict) -> dict:
    """One case: tune on trajectory 1, simulate trajectories 1 and 2 from their first
    observations. Returns plain data (picklable)."""
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    states, t = p["states"], np.asarray(p["times"])
    X1 = np.asarray(p["noisy"][0])
    scale = np.maximum(X1.std(axis=0), 1e-12)
    bound = 1e3 * max(float(np.abs(X1).max()), 1e-12)
    windows = score_windows(len(t), bool(p["chaotic"]))
    methods = ["finite-difference"] + [f"savgol-{w}" for w in SG_WINDOWS] + ["weak"]
    cands = []  # (score, terms, method, threshold, alpha, normalize)
    scored: dict[tuple, float] = {}
    models = {}
    best = math.inf
    errors = []
    feats = {}
    for m in methods:
        try:
            feats[m] = Features(m, X1, t, states)
        except Exception as e:  # noqa: BLE001 (a method that cannot run here is skipped, and named)
            errors.append(f"{m}: {type(e).__name__}: {e}")
            continue
        rows = feats[m].finite
        for normalize in (False, True):
            for alpha in ALPHAS:
                for thr in THRESHOLDS:
                    try:
                        model = feats[m].fit(thr, alpha, normalize, rows, X1)
                    except Exception as e:  # noqa: BLE001
                        errors.append(f"{m} STLSQ({thr}, {alpha}, {normalize}): {type(e).__name__}")
                        continue
                    key = tuple(sorted((e, tuple(np.round(c, 12))) for e, c in model.items()))
                    if key not in scored:
                        limit = PARSIMONY[0] * best + PARSIMONY[1]
                        scored[key] = sim_score(model, t, X1, windows, scale, bound, limit)
                        best = min(best, scored[key])
                    cands.append((scored[key], nterms(model), m, thr, alpha, normalize))
                    models[(m, thr, alpha, normalize)] = model
    row = {"exit_code": None, "message": ""}
    if not cands:
        row.update(status="error", seconds=time.perf_counter() - t0, message="; ".join(errors)[:300])
        return {"row": row, "terms": None, "sims": [None, None]}
    best = min(c[0] for c in cands)
    ok = [c for c in cands if c[0] <= PARSIMONY[0] * best + PARSIMONY[1]] if math.isfinite(best) else cands
    score, _, m, thr, alpha, normalize = min(ok, key=lambda c: (c[1], c[0]))
    model = models[(m, thr, alpha, normalize)]
    seconds = time.perf_counter() - t0
    row.update(status="ok", seconds=seconds,
               message=f"{m}, threshold {thr:g}, alpha {alpha:g}{', normalized columns' if normalize else ''}"
                       + ("" if math.isfinite(score) else " (every candidate failed to integrate)"))
    terms = {x: [(list(e), float(c[j])) for e, c in model.items() if c[j] != 0] for j, x in enumerate(states)}
    sims = []
    for k in (0, 1):
        Xk = np.asarray(p["noisy"][k])
        bound_k = 1e3 * max(float(np.abs(Xk).max()), 1e-12)
        Y = simulate(model, Xk[0], t, bound_k)
        sims.append(None if Y is None else Y.tolist())
    return {"row": row, "terms": terms, "sims": sims}
