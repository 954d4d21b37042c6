"""odenet: reveal the hidden dynamics in time-series data as explicit differential equations.

The Python face of the odenet command-line tool, built from the same Rust crates::

    import numpy as np, odenet

    model = odenet.fit("specs/lorenz.toml")                    # a spec file, as `odenet fit`
    model = odenet.discover(t, X, names=["x", "y", "z"], library=2)   # arrays, no files
    model.print()
    X_sim = model.simulate(t, x0=X[0])
    print(model.export("python"))
    model.to_json("lorenz.model.json"); odenet.Model.load("lorenz.model.json")

Fit options are the ``[fit]`` keys of a spec (``segment=10``, ``mu=(1e-3, 1e-5)``,
``solver="bdf"``, ``learn_noise=True``, ...). Bad input raises :class:`OdenetError`, whose
message is odenet's located diagnostic. A fit runs with the GIL released; Ctrl-C interrupts it
and raises ``KeyboardInterrupt``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from . import _native

__all__ = ["Model", "OdenetError", "discover", "fit", "load"]
__version__ = _native.__version__

LANGUAGES = ("latex", "python", "sympy", "julia", "rust", "c")


class OdenetError(ValueError):
    """Bad input. ``str(e)`` is the located diagnostic as the CLI prints it; ``e.diagnostics``
    lists every problem as a dict with ``file``, ``line``, ``column``, ``message`` and ``help``
    (line and column are 0 when unknown)."""

    def __init__(self, message, diagnostics=()):
        super().__init__(message)
        self.diagnostics = list(diagnostics)


def _call(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except _native.InputError as e:
        message, diagnostics = e.args
        raise OdenetError(message, diagnostics) from None


class Model:
    """A fitted system: the ``odenet-model/1`` file that ``odenet fit -o`` writes, with methods.

    Attributes
    ----------
    name, states, hidden, constants : the model's names.
    equations : dict state -> right-hand side (infix, full precision).
    params : template models: dict parameter -> value; library models: dict state -> dict
        term -> coefficient (the non-zero ones).
    std_errors : shaped like ``params``; ``inf`` where the data leave a value undetermined.
    inclusion : discovered models: dict parameter name (``"dx/dt[x*y]"``) -> the evidence that
        the term belongs (the BIC weight of the candidate models containing it, 0 to 1).
    warnings : list of the fit's warnings.
    converged : whether the fit converged (None for a model loaded from a file).
    """

    def __init__(self, model_json: str, summary: str | None = None, converged: bool | None = None):
        self._json = model_json
        self._doc = json.loads(model_json)
        self._summary = summary
        self.converged = converged
        # Validates the file (and raises OdenetError if it is not one).
        _call(_native.describe, model_json)

    # -- what the model file says ------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._doc.get("name", "model")

    @property
    def states(self) -> list[str]:
        return list(self._doc["states"])

    @property
    def hidden(self) -> list[str]:
        return list(self._doc.get("hidden", []))

    @property
    def constants(self) -> list[str]:
        return list(self._doc.get("constants", []))

    @property
    def equations(self) -> dict[str, str]:
        return dict(self._doc["equations"])

    @property
    def is_library(self) -> bool:
        return bool(self._doc.get("terms"))

    @property
    def params(self) -> dict:
        if self.is_library:
            return {s: dict(t) for s, t in self._doc["terms"].items()}
        return dict(self._doc.get("params", {}))

    @property
    def std_errors(self) -> dict:
        def value(v):
            return math.inf if v is None else v

        se = self._doc.get("std_errors", {})
        if self.is_library:
            return {s: {k: value(v) for k, v in se.get(s, {}).items()} for s in self._doc["terms"]}
        return {k: value(v) for k, v in se.items()}

    @property
    def inclusion(self) -> dict[str, float]:
        return dict(self._doc.get("inclusion", {}))

    @property
    def warnings(self) -> list[str]:
        return list(self._doc.get("warnings", []))

    def coefficients(self, feature_names: list[str] | None = None) -> np.ndarray:
        """Library models: the coefficient matrix (states x terms), as PySINDy's
        ``model.coefficients()``; ``feature_names`` orders the columns (default: every term
        that appears, in order of first appearance)."""
        terms = self.params if self.is_library else {}
        if feature_names is None:
            feature_names = []
            for t in terms.values():
                feature_names += [k for k in t if k not in feature_names]
        return np.array([[terms.get(s, {}).get(f, 0.0) for f in feature_names] for s in self.states])

    # -- printing and export -------------------------------------------------------------------
    def summary(self) -> str:
        """The printed summary: the fit's (as ``odenet fit`` prints it) for a fitted model, the
        equations and coefficients ± standard errors for a loaded one."""
        return self._summary if self._summary is not None else _call(_native.describe, self._json)

    def print(self) -> None:
        """Prints the equations, coefficients rounded to the digits their standard errors support."""
        print(self.summary(), end="")

    def export(self, lang: str, full_precision: bool = False) -> str:
        """The system as code: ``latex``, ``python``, ``sympy``, ``julia``, ``rust`` or ``c``."""
        return _call(_native.export, self._json, lang, full_precision)

    def latex(self, full_precision: bool = False) -> str:
        """The equations as a LaTeX ``align`` block."""
        return self.export("latex", full_precision)

    def _repr_latex_(self):
        body = self.latex()
        start, end = body.find("\\begin{align}"), body.find("\\end{align}")
        inner = body[start + len("\\begin{align}") : end].strip()
        return "$$\\begin{aligned}" + inner + "\\end{aligned}$$"

    def __repr__(self) -> str:
        eqs = "; ".join(f"d{s}/dt = {e}" for s, e in self.equations.items())
        return f"<odenet.Model {self.name!r}: {eqs}>"

    # -- simulation ------------------------------------------------------------------------------
    def simulate(self, t, x0, constants: dict | None = None) -> np.ndarray:
        """Integrates the model from ``x0`` (one value per state, in the order of ``states``, or
        a dict state -> value) at ``t[0]`` through the times ``t``; returns an array of shape
        (len(t), len(states)). ``constants`` gives the model's constants by name. The same
        integration as ``odenet simulate``."""
        t = np.asarray(t, dtype=float).ravel()
        if isinstance(x0, dict):
            missing = [s for s in self.states if s not in x0]
            if missing:
                raise OdenetError(f"error: x0 has no value for {', '.join(missing)}")
            x0 = [x0[s] for s in self.states]
        x0 = [float(v) for v in np.asarray(x0, dtype=float).ravel()]
        constants = dict(constants or {})
        unknown = [k for k in constants if k not in self.constants]
        if unknown:
            raise OdenetError(
                f"error: the model has no constant {', '.join(unknown)} (its constants: {', '.join(self.constants) or 'none'})"
            )
        missing = [k for k in self.constants if k not in constants]
        if missing:
            raise OdenetError(f"error: the model uses the constant {', '.join(missing)}; pass constants={{...}}")
        values = [float(constants[k]) for k in self.constants]
        flat = _call(_native.simulate, self._json, [float(v) for v in t], x0, values)
        return np.asarray(flat, dtype=float).reshape(len(t), len(self.states))

    def rhs(self, x, constants: dict | None = None) -> np.ndarray:
        """odenet's right-hand side dx/dt at the state ``x`` (ordered as ``states``)."""
        constants = dict(constants or {})
        values = [float(constants[k]) for k in self.constants]
        x = [float(v) for v in np.asarray(x, dtype=float).ravel()]
        return np.asarray(_call(_native.rhs, self._json, x, values))

    # -- files -------------------------------------------------------------------------------------
    def to_json(self, path: str | Path | None = None) -> str:
        """The ``odenet-model/1`` file text (the CLI's ``-o`` format); written to ``path`` if given."""
        if path is not None:
            Path(path).write_text(self._json)
        return self._json

    @classmethod
    def load(cls, path: str | Path) -> "Model":
        """Reads a model file written by ``odenet fit -o`` or :meth:`to_json`."""
        return cls(Path(path).read_text())


def load(path: str | Path) -> Model:
    """Same as :meth:`Model.load`."""
    return Model.load(path)


def fit(spec: str | Path, **fit_options) -> Model:
    """Fits a spec file (as ``odenet fit SPEC``); ``fit_options`` override its ``[fit]`` keys."""
    model_json, summary, converged = _call(_native.fit_spec, str(spec), fit_options)
    return Model(model_json, summary, converged)


def _experiments(t, X):
    """(list of 1-D time arrays, list of 2-D data arrays) from one array pair or two lists."""
    # A list of arrays is several experiments; a nested list of numbers is one 2-D array.
    several = isinstance(X, (list, tuple)) and len(X) > 0 and all(isinstance(x, np.ndarray) for x in X)
    if several:
        ts = list(t) if isinstance(t, (list, tuple)) else [t] * len(X)
        if len(ts) != len(X):
            raise OdenetError(f"error: {len(ts)} time arrays for {len(X)} data arrays")
        Xs = list(X)
    else:
        ts, Xs = [t], [X]
    out_t, out_x = [], []
    for ti, xi in zip(ts, Xs):
        ti = np.asarray(ti, dtype=float).ravel()
        xi = np.asarray(xi, dtype=float)
        if xi.ndim == 1:
            xi = xi.reshape(-1, 1)
        if xi.ndim != 2:
            raise OdenetError(f"error: X must be a 2-D array (times x states), not {xi.ndim}-D")
        out_t.append(ti)
        out_x.append(xi)
    return out_t, out_x


def discover(t, X, names: list[str] | None = None, library: int = 2, extra: list[str] | None = None, name: str = "discover", **fit_options) -> Model:
    """Discovers dx/dt = f(x) from arrays, with no files.

    ``t``: sample times (1-D); ``X``: values, one row per time and one column per state (NaN for
    a missing value). Several experiments: lists of arrays (``t`` may be one array shared by
    all). ``names`` name the states (default x0, x1, ...); ``library`` is the polynomial order of
    the candidate terms, ``extra`` further candidate terms (e.g. ``["sin(x)"]``); ``fit_options``
    are the ``[fit]`` keys of a spec. Gives the same model as ``odenet fit`` on a spec with these
    settings and the data as CSV files.
    """
    ts, Xs = _experiments(t, X)
    n = Xs[0].shape[1]
    if names is None:
        names = [f"x{i}" for i in range(n)]
    names = [str(s) for s in names]
    times = [[float(v) for v in ti] for ti in ts]
    values = [[[float(v) for v in col] for col in xi.T] for xi in Xs]
    model_json, summary, converged = _call(
        _native.discover, times, values, names, int(library), extra, fit_options, name
    )
    return Model(model_json, summary, converged)
