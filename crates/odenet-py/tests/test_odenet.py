"""The Python package against the command-line tool: the same fits, the same simulations, the
same model files; exported Python executed; bad input raised with its location.

Run by .ci/run in the virtual environment it makes (numpy, scipy, sympy, pytest); the odenet
binary must be built first (`cargo build --release`), or named by ODENET_BIN.
"""

import math
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import odenet

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(os.environ.get("ODENET_BIN", ROOT / "target" / "release" / "odenet"))


def cli(*args, cwd=ROOT):
    assert BIN.exists(), f"build the odenet binary first ({BIN})"
    return subprocess.run([str(BIN), *map(str, args)], cwd=cwd, capture_output=True, text=True)


def cli_fit(spec, out):
    run = cli("fit", spec, "-o", out, "--quiet")
    assert run.returncode == 0, run.stderr
    return odenet.Model.load(out)


def assert_same_terms(a: odenet.Model, b: odenet.Model, rel=1e-12):
    """Same support, coefficients equal to `rel` relative."""
    pa, pb = a.params, b.params
    assert pa.keys() == pb.keys()
    for s in pa:
        assert pa[s].keys() == pb[s].keys(), f"support of d{s}/dt"
        for k in pa[s]:
            assert pa[s][k] == pytest.approx(pb[s][k], rel=rel, abs=0), f"d{s}/dt[{k}]"


def read_csv(path):
    data = np.genfromtxt(path, delimiter=",", names=True)
    names = list(data.dtype.names)
    return np.asarray(data[names[0]]), np.column_stack([data[n] for n in names[1:]]), names[1:]


def write_csv(path, t, X, names):
    """The data format, every value at full precision (repr reads back to the same float)."""
    lines = [",".join(["t", *names])]
    for ti, row in zip(t, X):
        lines.append(",".join([repr(float(ti))] + ["" if math.isnan(v) else repr(float(v)) for v in row]))
    Path(path).write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def lorenz_cli(tmp_path_factory):
    return cli_fit("specs/lorenz.toml", tmp_path_factory.mktemp("lorenz") / "m.json")


def test_discover_lorenz_from_the_shipped_csv_equals_the_cli(lorenz_cli):
    t, X, names = read_csv(ROOT / "data" / "lorenz.csv")
    model = odenet.discover(t, X, names=names, library=2)
    assert_same_terms(model, lorenz_cli)
    # And it is Lorenz: sigma 10, rho 28, beta 8/3 within 1%.
    p = model.params
    assert p["x"]["y"] == pytest.approx(10, rel=0.01)
    assert p["y"]["x"] == pytest.approx(28, rel=0.01)
    assert -p["z"]["z"] == pytest.approx(8 / 3, rel=0.01)
    assert model.converged
    # The evidence per term agrees with the CLI's model file: the seven Lorenz terms carry
    # (nearly) all of it, and no term is unsettled.
    assert model.inclusion == pytest.approx(lorenz_cli.inclusion, abs=1e-9)
    kept = {f"d{s}/dt[{k}]" for s, t in p.items() for k in t}
    assert len(kept) == 7
    for name, w in model.inclusion.items():
        assert (w >= 0.9) if name in kept else (w <= 0.1), (name, w)
    assert not any("do not settle" in w for w in model.warnings)


def test_fit_of_a_spec_equals_the_cli(lorenz_cli):
    model = odenet.fit(ROOT / "specs" / "lorenz.toml")
    assert_same_terms(model, lorenz_cli)
    assert model.equations == lorenz_cli.equations


def test_discover_with_options_several_experiments_and_missing_values_equals_the_cli(tmp_path):
    # Two Lotka-Volterra experiments from odenet simulate, with noise and holes.
    rng = np.random.default_rng(3)
    ts, Xs = [], []
    for k, init in enumerate(["x1=20,x2=10", "x1=8,x2=30"]):
        out = tmp_path / f"sim{k}.csv"
        run = cli("simulate", ROOT / "specs/truth/lv-limit-cycle.toml", "--t-end", "10", "--dt", "0.05",
                  "--init", init, "--noise", "0.01", "--seed", k + 1, "-o", out)
        assert run.returncode == 0, run.stderr
        t, X, names = read_csv(out)
        X[rng.random(X.shape) < 0.1] = np.nan
        ts.append(t)
        Xs.append(X)
    options = dict(segment=8, holdout=0.25, mu=[1e-3, 1e-6], seed=2)
    model = odenet.discover(ts, Xs, names=names, library=2, **options)
    spec = tmp_path / "spec.toml"
    data = ""
    for k, (t, X) in enumerate(zip(ts, Xs)):
        write_csv(tmp_path / f"data{k}.csv", t, X, names)
        data += f'\n[[data]]\nfile = "data{k}.csv"\n'
    spec.write_text(
        'name = "two"\nstates = ["x1", "x2"]\n[library]\npolynomial = 2\n'
        "[fit]\nsegment = 8\nholdout = 0.25\nmu = [1e-3, 1e-6]\nseed = 2\n" + data
    )
    assert_same_terms(model, cli_fit(spec, tmp_path / "m.json"))
    assert sorted(model.params["x1"]) == ["x1", "x1*x2"]


def test_simulate_equals_the_cli(lorenz_cli, tmp_path):
    path = tmp_path / "m.json"
    lorenz_cli.to_json(path)
    times = [0, 0.1, 0.25, 0.5, 1, 2.5]
    run = cli("simulate", path, "--times", ",".join(map(str, times)), "--init", "x=-8,y=7,z=27",
              "-o", tmp_path / "sim.csv")
    assert run.returncode == 0, run.stderr
    _, want, _ = read_csv(tmp_path / "sim.csv")
    got = lorenz_cli.simulate(times, {"x": -8, "y": 7, "z": 27})
    assert got.shape == (len(times), 3)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_model_file_round_trip(lorenz_cli, tmp_path):
    path = tmp_path / "again.json"
    text = lorenz_cli.to_json(path)
    back = odenet.Model.load(path)
    assert back.to_json() == text
    assert back.std_errors == lorenz_cli.std_errors
    for lang in odenet.LANGUAGES:
        assert back.export(lang) == lorenz_cli.export(lang)
    assert "dx/dt = " in back.summary()


def exec_export(model, **kw):
    namespace = {}
    exec(compile(model.export("python", full_precision=True), "<export>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("fixture,constants", [("lorenz-model.json", {}), ("actin-toy-model.json", {"m_tot": 7.4})])
def test_exported_python_equals_odenet_at_random_points(fixture, constants):
    model = odenet.Model.load(ROOT / "tests" / "fixtures" / fixture)
    ns = exec_export(model)
    rng = np.random.default_rng(11)
    p = {**ns["PARAMS"], **constants}
    for _ in range(50):
        x = rng.uniform(0.1, 9.0, len(model.states))
        want = model.rhs(x, constants)
        got = ns["rhs"](0.0, x, p)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


def test_exported_python_of_a_fit_solves_with_scipy(lorenz_cli):
    ns = exec_export(lorenz_cli)
    e = ns["EXPERIMENTS"][0]
    sol = ns["solve"]((e["t0"], 1.0), e["x0"], t_eval=[0.5, 1.0])
    want = lorenz_cli.simulate([e["t0"], 0.5, 1.0], e["x0"])
    np.testing.assert_allclose(sol.y.T, want[1:], rtol=1e-5)


def test_exported_sympy_builds_the_equations():
    sp = pytest.importorskip("sympy")
    model = odenet.Model.load(ROOT / "tests" / "fixtures" / "actin-toy-model.json")
    ns = {}
    exec(model.export("sympy"), ns)
    eqs = ns["equations"]
    assert len(eqs) == 3 and all(isinstance(e, sp.Eq) for e in eqs)
    # The tied parameter a9 appears in two equations as one symbol.
    assert sum(ns["a9"] in e.rhs.free_symbols for e in eqs) == 2


def test_a_bad_spec_raises_with_its_location(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "bad"\nstates = ["x"]\n[params]\na = 1.0\n[equations]\nx = "a*x - q"\n')
    with pytest.raises(odenet.OdenetError) as e:
        odenet.fit(spec)
    d = e.value.diagnostics[0]
    assert (d["line"], d["column"]) == (6, 12)
    assert "unknown symbol `q`" in d["message"]
    assert "bad.toml:6:12" in str(e.value)


def test_bad_options_and_arrays_raise_with_their_location():
    t = np.linspace(0, 1, 20)
    X = np.column_stack([np.exp(-t), np.exp(t)])
    # The options are validated as the [fit] table of the spec discover() writes; the code frame
    # shows the offending line.
    with pytest.raises(odenet.OdenetError, match=r"discover\(\):\d+:6") as e:
        odenet.discover(t, X, mu="large")
    assert '`mu` must be a number or an array' in str(e.value) and 'mu = "large"' in str(e.value)
    with pytest.raises(odenet.OdenetError, match="unknown key"):
        odenet.discover(t, X, segmnet=5)
    t_bad = t.copy()
    t_bad[7] = t_bad[6]
    with pytest.raises(odenet.OdenetError, match=r"t\[7\]") as e:
        odenet.discover(t_bad, X)
    assert e.value.diagnostics[0]["line"] == 8
    X_bad = X.copy()
    X_bad[4, 1] = np.inf
    with pytest.raises(odenet.OdenetError, match=r"X\[4, 1\]"):
        odenet.discover(t, X_bad)
    with pytest.raises(odenet.OdenetError, match="3 columns but 2"):
        odenet.discover(t, np.column_stack([X, t]), names=["a", "b"])
    with pytest.raises(odenet.OdenetError, match="fortran"):
        odenet.Model.load(ROOT / "tests" / "fixtures" / "lorenz-model.json").export("fortran")


def test_the_gil_is_released_during_a_fit():
    t, X, names = read_csv(ROOT / "data" / "lorenz.csv")
    ticks = []
    done = threading.Event()

    def fit():
        odenet.discover(t, X, names=names, library=2)
        done.set()

    worker = threading.Thread(target=fit)
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.005)
    worker.join()
    # This thread kept running during the fit (a held GIL would have frozen it).
    assert len(ticks) > 20


def test_ctrl_c_interrupts_a_fit():
    t, X, names = read_csv(ROOT / "data" / "lorenz.csv")
    start = time.perf_counter()
    odenet.discover(t, X, names=names, library=2)
    whole = time.perf_counter() - start
    # Python's own Ctrl-C handler, whatever this process inherited (a shell starts background
    # jobs with SIGINT ignored, and then Python installs no handler).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, lambda: signal.raise_signal(signal.SIGINT))
    timer.start()
    start = time.perf_counter()
    try:
        with pytest.raises(KeyboardInterrupt):
            odenet.discover(t, X, names=names, library=2)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    interrupted = time.perf_counter() - start
    # The fit stopped at the interrupt, well before it would have finished.
    assert 0.2 <= interrupted < 0.2 + 0.5 * whole, (interrupted, whole)


def test_fit_options_override_the_spec_as_its_fit_table_would(tmp_path):
    data = ROOT / "data" / "lv-limit-cycle.csv"
    spec = tmp_path / "lv.toml"
    spec.write_text(f'name = "lv"\nstates = ["x1", "x2"]\n[library]\npolynomial = 2\n[fit]\nseed = 3\n[[data]]\nfile = "{data}"\n')
    model = odenet.fit(spec, segment=6, holdout=0.3)
    both = tmp_path / "both.toml"
    both.write_text(spec.read_text().replace("seed = 3", "seed = 3\nsegment = 6\nholdout = 0.3"))
    assert_same_terms(model, cli_fit(both, tmp_path / "m.json"))
    with pytest.raises(odenet.OdenetError, match="fit options:5:"):
        odenet.fit(spec, rounds=0)
