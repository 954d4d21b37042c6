"""A sweep of many fits with Dask or Ray, through the Python package.

The same manifest as ``odenet sweep MANIFEST`` (TOML: ``[[task]]`` and ``[[grid]]`` tables of
``spec`` and ``fit`` options; see ``odenet sweep --help``), run as one task per fit on a Dask or
Ray cluster (a local one by default, or the one at ``--address``), gathered into the table that
``odenet collect`` writes (``results.csv``: one row per task and coefficient, with standard
errors, loss and time).

    examples/sweep_cluster.sh dask                         # makes a venv, installs, runs
    python examples/sweep_cluster.py MANIFEST --engine dask [--address tcp://host:8786] [-o DIR]
    python examples/sweep_cluster.py MANIFEST --engine ray  [--address ray://host:10001]
    python examples/sweep_cluster.py MANIFEST --engine local          # no cluster: in turn

Each fit uses one thread (RAYON_NUM_THREADS=1 on the workers): the cluster's parallelism is
over tasks. Tasks that replace a spec's data files (``data = ...``) need the CLI's
``odenet sweep``, which writes a spec per task; this example runs specs as they are, with
their ``[fit]`` options overridden.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import sys
import time
import tomllib
from pathlib import Path


def expand(manifest: Path) -> list[dict]:
    """The manifest's tasks, in the order `odenet sweep` numbers them: [[task]]s, then each
    [[grid]]'s spec × data × fit-option combinations."""
    doc = tomllib.loads(manifest.read_text())
    base = manifest.resolve().parent
    defaults = doc.get("fit", {})
    tasks = []

    def spec_path(s):
        return str((base / s).resolve())

    def stem(p):
        return Path(p).stem

    for k, t in enumerate(doc.get("task", []), 1):
        if "data" in t:
            sys.exit(f"error: {manifest}: [[task]] {k} replaces data files: use `odenet sweep` for it")
        fit = {**defaults, **t.get("fit", {})}
        name = t.get("name") or stem(t["spec"]) + "".join(f"-{a}{b}" for a, b in sorted(t.get("fit", {}).items()))
        tasks.append(dict(name=name, spec=spec_path(t["spec"]), fit=fit))
    for k, g in enumerate(doc.get("grid", []), 1):
        if "data" in g:
            sys.exit(f"error: {manifest}: [[grid]] {k} replaces data files: use `odenet sweep` for it")
        specs = g["spec"] if isinstance(g["spec"], list) else [g["spec"]]
        # Keys in sorted order, as `odenet sweep` names and orders the combinations.
        keys = sorted(g.get("fit", {}))
        values = [g["fit"][k] if isinstance(g["fit"][k], list) else [g["fit"][k]] for k in keys]
        for s in specs:
            for combo in itertools.product(*values):
                opts = dict(zip(keys, combo))
                name = stem(s) + "".join(f"-{a}{b}" for a, b in opts.items())
                if g.get("name"):
                    name = f"{g['name']}-{name}"
                tasks.append(dict(name=name, spec=spec_path(s), fit={**defaults, **opts}))
    return tasks


def run_task(task: dict) -> dict:
    """One fit (on a worker): the task's row of the results, or its error."""
    os.environ.setdefault("RAYON_NUM_THREADS", "1")
    import odenet

    t0 = time.perf_counter()
    try:
        model = odenet.fit(task["spec"], **task["fit"])
    except Exception as e:  # a bad spec or data: the task fails, the sweep goes on
        return dict(task, status="failed", error=str(e), seconds=time.perf_counter() - t0)
    fit = json.loads(model.to_json())["fit"]
    coefs = []
    if model.is_library:
        for st, terms in model.params.items():
            for term, v in terms.items():
                coefs.append((st, term, v, model.std_errors[st].get(term)))
    else:
        for p, v in model.params.items():
            coefs.append(("", p, v, model.std_errors.get(p)))
    return dict(
        task,
        status="converged" if model.converged else "not converged",
        seconds=time.perf_counter() - t0,
        loss=fit["loss"],
        active_terms=fit["active_terms"],
        coefficients=coefs,
    )


def run_dask(tasks, address):
    from dask.distributed import Client, LocalCluster

    if address:
        client = Client(address)
    else:
        cluster = LocalCluster(processes=True, threads_per_worker=1, env={"RAYON_NUM_THREADS": "1"})
        client = Client(cluster)
    futures = client.map(run_task, tasks, pure=False)
    return client.gather(futures)


def run_ray(tasks, address):
    import ray

    ray.init(address=address, runtime_env={"env_vars": {"RAYON_NUM_THREADS": "1"}})
    remote = ray.remote(num_cpus=1)(run_task)
    return ray.get([remote.remote(t) for t in tasks])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("manifest", type=Path)
    ap.add_argument("--engine", choices=["dask", "ray", "local"], default="dask")
    ap.add_argument("--address", default=None, help="a running cluster (default: start a local one)")
    ap.add_argument("-o", "--output", type=Path, default=Path("sweep-results"))
    a = ap.parse_args()
    tasks = expand(a.manifest)
    for i, t in enumerate(tasks):
        t["index"] = i
    t0 = time.perf_counter()
    if a.engine == "dask":
        rows = run_dask(tasks, a.address)
    elif a.engine == "ray":
        rows = run_ray(tasks, a.address)
    else:
        rows = [run_task(t) for t in tasks]
    a.output.mkdir(parents=True, exist_ok=True)
    with open(a.output / "results.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["task", "name", "status", "exit_code", "seconds", "loss", "active_terms", "state", "term", "value", "std_error"])
        for r in sorted(rows, key=lambda r: r["index"]):
            code = {"converged": 0, "not converged": 1}.get(r["status"], 2)
            head = [r["index"], r["name"], r["status"], code, r["seconds"], r.get("loss", ""), r.get("active_terms", "")]
            for st, term, v, se in r.get("coefficients", []) or [("", "", "", "")]:
                w.writerow(head + [st, term, v, "" if se is None else se])
    ok = sum(r["status"] == "converged" for r in rows)
    print(f"{len(rows)} tasks with {a.engine} in {time.perf_counter() - t0:.1f} s: {ok} converged")
    for r in rows:
        if r["status"] == "failed":
            print(f"task {r['index']} ({r['name']}): {r['error']}", file=sys.stderr)
    print(f"results in {a.output / 'results.csv'}")
    return 0 if ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
