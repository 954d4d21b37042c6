"""Discovering equations from arrays in Python, notebook style.

    pip install ./crates/odenet-py          # once (needs the Rust toolchain)
    python examples/discover.py              # add --no-plot to skip the figure

1. make data: a Lotka-Volterra limit cycle, integrated here with a small RK4, sampled unevenly,
   with 1% noise and a few missing values (NaN);
2. discover dx/dt = f(x) from the arrays (no spec file, no CSV);
3. print the equations (coefficients to the digits their standard errors support);
4. simulate the discovered model and plot it over the data (if matplotlib is installed);
5. export it as Python code, run that code, and write the model file.
"""

import sys

import numpy as np

import odenet

# --- 1. Data ------------------------------------------------------------------------------------
TRUE = dict(a=1.0, b=0.05, c=1.0, d=0.03)  # dx1/dt = a x1 - b x1 x2, dx2/dt = -c x2 + d x1 x2


def lv(x):
    x1, x2 = x
    return np.array([TRUE["a"] * x1 - TRUE["b"] * x1 * x2, -TRUE["c"] * x2 + TRUE["d"] * x1 * x2])


def rk4(f, x0, t, substeps=20):
    xs = [np.asarray(x0, float)]
    for t0, t1 in zip(t[:-1], t[1:]):
        x, h = xs[-1], (t1 - t0) / substeps
        for _ in range(substeps):
            k1 = f(x)
            k2 = f(x + h / 2 * k1)
            k3 = f(x + h / 2 * k2)
            k4 = f(x + h * k3)
            x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        xs.append(x)
    return np.array(xs)


rng = np.random.default_rng(0)
t = np.sort(np.concatenate([[0.0], rng.uniform(0, 20, 799)]))  # unequal sampling
X_true = rk4(lv, [20.0, 10.0], t)
X = X_true + 0.01 * np.abs(X_true).max(axis=0) * rng.standard_normal(X_true.shape)
X[rng.random(X.shape) < 0.05] = np.nan  # 5% missing values

# --- 2. Discover ----------------------------------------------------------------------------------
model = odenet.discover(t, X, names=["x1", "x2"], library=2)

# --- 3. Print -------------------------------------------------------------------------------------
model.print()
print("coefficients:", model.params)
print("standard errors:", model.std_errors)

# --- 4. Simulate and plot -------------------------------------------------------------------------
X_model = model.simulate(t, x0=X_true[0])
rms = np.sqrt(np.nanmean((X_model - X) ** 2, axis=0))
print("rms misfit per state:", dict(zip(model.states, rms.round(3))))
if "--no-plot" not in sys.argv:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no plot)")
    else:
        fig, ax = plt.subplots(figsize=(8, 4))
        for k, name in enumerate(model.states):
            ax.plot(t, X[:, k], ".", ms=3, label=f"{name} data")
            ax.plot(t, X_model[:, k], "-", label=f"{name} discovered model")
        ax.set_xlabel("t")
        ax.legend()
        fig.savefig("discover.png", dpi=120, bbox_inches="tight")
        print("plot written to discover.png")

# --- 5. Export ------------------------------------------------------------------------------------
code = model.export("python")
print(code)
namespace = {}
exec(code, namespace)  # the exported module: rhs(t, x, p), PARAMS, solve(...)
print("exported rhs at x0:", namespace["rhs"](0.0, X_true[0]), "odenet's:", model.rhs(X_true[0]))
print(model.latex())
model.to_json("lv.model.json")
print("model file written to lv.model.json (read it back with odenet.Model.load)")
