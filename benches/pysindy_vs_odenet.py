"""odenet.discover against pysindy.SINDy(...).fit on the shipped Lorenz data, side by side in one
run: time from the Python call to the result (data already in memory, so no process start-up or
file reading is counted) and the coefficient errors against the true system (sigma 10, rho 28,
beta 8/3). Run it through benches/pysindy.sh, which makes the virtual environment.
"""

import sys
import time
from pathlib import Path

import numpy as np

import odenet
import pysindy

ROOT = Path(__file__).resolve().parents[1]
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5

data = np.genfromtxt(ROOT / "data" / "lorenz.csv", delimiter=",", names=True)
t = np.asarray(data["t"])
X = np.column_stack([data[n] for n in ("x", "y", "z")])
TRUE = {
    "x": {"x": -10.0, "y": 10.0},
    "y": {"x": 28.0, "y": -1.0, "x*z": -1.0},
    "z": {"x*y": 1.0, "z": -8.0 / 3.0},
}


def errors(terms):
    """(largest relative error over the true terms, number of spurious terms)."""
    worst = max(abs(terms.get(s, {}).get(k, 0.0) / v - 1) for s, tt in TRUE.items() for k, v in tt.items())
    spurious = sum(1 for s, tt in terms.items() for k, v in tt.items() if v != 0 and k not in TRUE[s])
    return worst, spurious


def run_odenet():
    m = odenet.discover(t, X, names=["x", "y", "z"], library=2)
    return m.params


def run_pysindy():
    model = pysindy.SINDy(
        optimizer=pysindy.STLSQ(threshold=0.5),
        feature_library=pysindy.PolynomialLibrary(degree=2),
    )
    model.fit(X, t=t, feature_names=["x", "y", "z"])
    names = [n.replace(" ", "*") for n in model.get_feature_names()]
    coefs = model.coefficients()
    terms = {}
    for s, row in zip(["x", "y", "z"], coefs):
        # pysindy's 'x y' is odenet's canonical 'x*y'; '1' and 'x^2' are spelt alike.
        terms[s] = {n: c for n, c in zip(names, row) if c != 0}
    return terms


times = {"odenet": [], "pysindy": []}
result = {}
for rep in range(REPS):  # alternate, so that machine load falls on both alike
    for name, fn in (("odenet", run_odenet), ("pysindy", run_pysindy)):
        start = time.perf_counter()
        result[name] = fn()
        times[name].append(time.perf_counter() - start)

print(f"Lorenz, data/lorenz.csv ({len(t)} points, 0.5% noise), {REPS} alternated runs each")
print(f"{'method':<10} {'median s':>9} {'min s':>7} {'max rel. error':>15} {'spurious terms':>15}")
for name in ("odenet", "pysindy"):
    worst, spurious = errors(result[name])
    ts = sorted(times[name])
    print(f"{name:<10} {ts[len(ts) // 2]:>9.3f} {ts[0]:>7.3f} {100 * worst:>14.2f}% {spurious:>15}")
ratio = sorted(times["odenet"])[REPS // 2] / sorted(times["pysindy"])[REPS // 2]
print(f"time ratio odenet / pysindy (medians): {ratio:.1f}")
for name in ("odenet", "pysindy"):
    print(name, {s: {k: round(v, 4) for k, v in tt.items()} for s, tt in result[name].items()})
