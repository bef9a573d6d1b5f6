"""Time and memory of one fit against the number of units: an LCA, a GLMM and a GoM.

    python benchmarks/scaling.py                          # 10^4, 10^5, 10^6 units, every model
    python benchmarks/scaling.py --models lca --units 10000 100000
    python benchmarks/scaling.py --quick                  # 10^4 units (seconds)
    python benchmarks/scaling.py --one lca 100000         # one measurement in this process

Each (model, size) runs in a fresh Python process, so that one measurement's memory does not
carry into the next. Memory is reported two ways:

* ``peak_ratio``: the peak of the memory the fit allocates (``tracemalloc``, which sees
  numpy's and pandas' arrays) over the size of the long data frame
  (``DataFrame.memory_usage(deep=True)``); the frame itself is allocated before the fit and
  is not counted. The target is <= 6 for the LCA and the GLMM.
* ``maxrss_mb``: the process's peak resident memory (``resource.getrusage``), everything
  included: the interpreter, the libraries, the data and the fit.

One fit gives both: it is timed while ``tracemalloc`` traces it (the fit's work is in numpy
calls on large arrays, whose allocations are few, so tracing adds little to the time).
``--two-fits`` times a first fit without tracing and measures the memory of a second one.
Models, on simulated data with a fixed seed:

* ``lca``: 10 binary items, 3 classes, ``y ~ 0 + item | class(id) ~ 1`` (10 rows per unit);
* ``glmm``: a random-intercept logistic regression ``y ~ x1 + x2 + (1 | g)``, 10 rows per
  cluster, adaptive Gauss-Hermite with 7 points (units are clusters here);
* ``gom``: grade of membership on 10 binary items (``y ~ 0 + item | class ~ 1 + (1 | id)``,
  2 classes), the 21-point trapezoid rule.

Every fit runs one start (``starts=(1, 1)``, ``se="none"``): the table measures the cost of
one estimation, not of a start search (which multiplies the time, not the memory).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import glmmix as gm  # noqa: E402

ROWS_PER_UNIT = 10


def lca_data(n_units: int, seed: int = 1) -> pd.DataFrame:
    """Long LCA data: id (int64), item (categorical), y (int8)."""
    rng = np.random.default_rng(seed)
    J = ROWS_PER_UNIT
    P = np.vstack([np.linspace(0.9, 0.6, J), np.linspace(0.2, 0.5, J), np.where(np.arange(J) % 2 == 0, 0.85, 0.15)])
    z = rng.choice(3, size=n_units, p=[0.5, 0.3, 0.2])
    y = (rng.random((n_units, J)) < P[z]).astype(np.int8)
    items = pd.Categorical.from_codes(np.tile(np.arange(J, dtype=np.int8), n_units),
                                      [f"I{j + 1}" for j in range(J)])
    return pd.DataFrame({"id": np.repeat(np.arange(n_units, dtype=np.int64), J), "item": items,
                         "y": y.ravel()})


def glmm_data(n_units: int, seed: int = 1) -> pd.DataFrame:
    """Random-intercept logistic data: g (int64), x1, x2 (float64), y (int8)."""
    rng = np.random.default_rng(seed)
    n = n_units * ROWS_PER_UNIT
    g = np.repeat(np.arange(n_units, dtype=np.int64), ROWS_PER_UNIT)
    x1, x2 = rng.standard_normal(n), rng.standard_normal(n)
    eta = -0.5 + x1 - 0.5 * x2 + rng.standard_normal(n_units)[g]
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(np.int8)
    return pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})


def gom_data(n_units: int, seed: int = 1) -> pd.DataFrame:
    """GoM data: each row's class drawn from the unit's random class logit."""
    rng = np.random.default_rng(seed)
    J = ROWS_PER_UNIT
    alpha = -0.5 + 1.5 * rng.standard_normal(n_units)
    c1 = rng.random((n_units, J)) < 1 / (1 + np.exp(-alpha[:, None]))
    y = (rng.random((n_units, J)) < np.where(c1, 0.8, 0.2)).astype(np.int8)
    items = pd.Categorical.from_codes(np.tile(np.arange(J, dtype=np.int8), n_units),
                                      [f"I{j + 1}" for j in range(J)])
    return pd.DataFrame({"id": np.repeat(np.arange(n_units, dtype=np.int64), J), "item": items,
                         "y": y.ravel()})


MODELS = {
    "lca": (lca_data, dict(formula="y ~ 0 + item | class(id) ~ 1", n_classes=3, family="bernoulli")),
    "glmm": (glmm_data, dict(formula="y ~ x1 + x2 + (1 | g)", family="bernoulli", integration="agh",
                             n_points=7)),
    "gom": (gom_data, dict(formula="y ~ 0 + item | class ~ 1 + (1 | id)", n_classes=2, family="bernoulli")),
}


def fit(model: str, data: pd.DataFrame):
    kw = dict(MODELS[model][1])
    formula = kw.pop("formula")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(formula, data, starts=(1, 1), seed=1, se="none", **kw)


def measure(model: str, n_units: int, two_fits: bool = False) -> dict:
    """Time and memory (tracemalloc) of one fit; with ``two_fits`` the time of an untraced
    first fit and the memory of a second, identical one."""
    data = MODELS[model][0](n_units)
    frame = int(data.memory_usage(deep=True).sum())
    llf, n_eval = None, None
    if two_fits:
        t0, c0 = time.perf_counter(), time.process_time()
        res = fit(model, data)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        llf = float(res.llf)
        del res
    tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    res = fit(model, data)
    if not two_fits:
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        llf = float(res.llf)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"model": model, "units": n_units, "rows": len(data), "frame_mb": frame / 2**20,
            "seconds": seconds, "cpu_seconds": cpu, "load": os.getloadavg()[0], "peak_mb": peak / 2**20,
            "peak_ratio": peak / frame,
            "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "llf": llf,
            "llf_again": float(res.llf), "evals": n_eval}


def run(models, sizes, two_fits: bool = False) -> pd.DataFrame:
    rows = []
    for model in models:
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--one", model, str(n)] + (["--two-fits"] if two_fits else []),
                                 capture_output=True, text=True)
            if out.returncode:
                print(out.stderr[-2000:], file=sys.stderr)
                rows.append({"model": model, "units": n, "error": out.stderr.strip().splitlines()[-1]})
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    return pd.DataFrame(rows)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--units", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--one", nargs=2, metavar=("MODEL", "UNITS"))
    ap.add_argument("--two-fits", action="store_true")
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(measure(a.one[0], int(a.one[1]), a.two_fits)))
        return None
    sizes = [10_000] if a.quick else a.units
    tab = run(a.models, sizes, a.two_fits)
    cols = [c for c in ("model", "units", "rows", "frame_mb", "seconds", "cpu_seconds", "load", "peak_mb", "peak_ratio",
                        "maxrss_mb", "llf",
                        "error") if c in tab]
    print(tab[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}" if abs(v) < 1e4 else f"{v:.1f}"))
    return tab


if __name__ == "__main__":
    main()
