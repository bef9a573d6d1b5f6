"""One fit on a dask DataFrame with 1 and 2 workers, against the same fit in memory.

    python benchmarks/dask_fit.py                    # GLMM, 20,000 clusters x 10 rows
    python benchmarks/dask_fit.py --units 2000       # quick
    python benchmarks/dask_fit.py --model lca
    python benchmarks/dask_fit.py --big 1000000 --partitions 8 --workers 2   # 10^7 rows, no in-memory fit
    python benchmarks/dask_fit.py --evals 5 --units 100000 --partitions 4   # evaluations, 1 vs 2 workers

The data are those of ``scaling.py`` (a random-intercept logistic GLMM with 7 adaptive
points, or a 3-class LCA of 10 items), split into 4 partitions of whole units. Each cluster
is a ``distributed.LocalCluster`` of worker processes (threads in the quick test) with one thread each; the fit runs the
likelihood, E-step and gradient of each partition on its worker (``glmmix.partitions``).
Printed: seconds per fit (in memory, 1 worker, 2 workers), the speed-up of 2 workers over 1,
and the largest difference of the estimates from the in-memory fit. Timings on a shared
machine are noisy: compare the ratios of one run.

``--evals R`` times evaluations instead of fits: the model is built once in memory and once
per cluster (1 and 2 workers, partitions of whole clusters, both clusters up throughout),
then the log-likelihood and its gradient at the starting values are evaluated in turns (in
memory, 1 worker, 2 workers) R times after a warm-up round, so that all three see the same
load; printed: the median seconds per evaluation in memory, with 1 and with 2 workers, the
speed-up of 2 workers over 1, and the largest difference of the log-likelihood and the
gradient from the in-memory ones.
This is the work a fit repeats (every EM step and quasi-Newton iteration is one such
evaluation), without the fit's varying number of them.

``--big N`` fits the GLMM on N clusters x 10 rows generated on the workers, partition by
partition (``dask.dataframe.from_map``: the client never holds the frame), on one
``LocalCluster`` of ``--workers`` processes without memory limits, and prints the time, the
log-likelihood, the estimates, the client's peak resident memory and each worker's (both
``ru_maxrss``: their sum bounds the fit's total).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import glmmix as gm  # noqa: E402
from benchmarks.scaling import MODELS  # noqa: E402


def split(df, col: str, n: int):
    """A dask DataFrame of ``n`` partitions of whole units of ``col``."""
    import dask.dataframe as dd

    ids = df[col].to_numpy()
    cuts = np.quantile(np.unique(ids), np.linspace(0, 1, n + 1)[1:-1])
    part = np.searchsorted(cuts, ids, side="right")
    return dd.concat([dd.from_pandas(df[part == i], npartitions=1) for i in range(n)])


def fit(model: str, data):
    kw = dict(MODELS[model][1])
    formula = kw.pop("formula")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(formula, data, starts=(1, 1), seed=1, se="none", **kw)


def run(model: str, n_units: int, n_partitions: int = 4, processes: bool = True) -> dict:
    from distributed import Client, LocalCluster

    data = MODELS[model][0](n_units)
    col = "g" if model == "glmm" else "id"
    t0 = time.perf_counter()
    ref = fit(model, data)
    out = {"model": model, "units": n_units, "rows": len(data), "memory_s": time.perf_counter() - t0}
    for workers in (1, 2):
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None) as lc, \
                Client(lc):
            ddf = split(data, col, n_partitions)
            t0 = time.perf_counter()
            res = fit(model, ddf)
            out[f"workers{workers}_s"] = time.perf_counter() - t0
            out[f"workers{workers}_max_diff"] = float(np.max(np.abs(res.params.to_numpy() - ref.params.to_numpy())))
    out["speedup_2_over_1"] = out["workers1_s"] / out["workers2_s"]
    return out


def _evaluation(lik, theta) -> tuple[float, float, np.ndarray]:
    """Seconds of one evaluation (log-likelihood and gradient), the log-likelihood and the gradient."""
    t0 = time.perf_counter()
    ll, g, _ = lik.loglik_and_grad(theta)
    return time.perf_counter() - t0, float(ll), np.asarray(g)


def run_evals(model: str, n_units: int, n_partitions: int, reps: int, processes: bool = True) -> dict:
    """Evaluations in memory and on 1 and 2 workers (see the docstring), in turns: in memory,
    1 worker, 2 workers, again ``reps`` times (both clusters are up throughout), so that the
    three see the same load of a shared machine; the medians are reported."""
    from contextlib import ExitStack

    from distributed import Client, LocalCluster

    from glmmix.model import MixtureModel

    data = MODELS[model][0](n_units)
    col = "g" if model == "glmm" else "id"
    kw = dict(MODELS[model][1])
    formula = kw.pop("formula")
    out = {"model": model, "units": n_units, "rows": len(data), "partitions": n_partitions, "reps": reps}
    with warnings.catch_warnings(), ExitStack() as stack:
        warnings.simplefilter("ignore")
        mem = MixtureModel.from_formula(formula, data, **kw)
        theta = mem.start_params()
        runs = {"memory": (None, mem)}
        for workers in (1, 2):
            lc = stack.enter_context(LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                                  dashboard_address=None, memory_limit=0))
            client = stack.enter_context(Client(lc, set_as_default=False))
            with client.as_current():
                runs[f"workers{workers}"] = (client, MixtureModel.from_formula(formula, split(data, col, n_partitions),
                                                                               **kw))
        times = {k: [] for k in runs}
        ref = None
        for r in range(reps + 1):  # the first round warms up
            for name, (client, m) in runs.items():
                with client.as_current() if client is not None else ExitStack():
                    sec, ll, g = _evaluation(m.likelihood, theta)
                if r:
                    times[name].append(sec)
                if name == "memory":
                    ref = (ll, g)
                else:
                    out[f"{name}_ll_diff"] = abs(ll - ref[0])
                    out[f"{name}_grad_diff"] = float(np.max(np.abs(g - ref[1])))
        for name, t in times.items():
            out[f"{name}_s_per_eval"] = float(np.median(t))
    out["speedup_2_over_1"] = out["workers1_s_per_eval"] / out["workers2_s_per_eval"]
    return out


def _glmm_partition(i: int, n_units: int, n_partitions: int):
    """Clusters [a, b) of the GLMM's data, generated from seed ``i`` (partition ``i``)."""
    from benchmarks.scaling import glmm_data

    a, b = i * n_units // n_partitions, (i + 1) * n_units // n_partitions
    df = glmm_data(b - a, seed=1000 + i)
    df["g"] += a
    return df


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_big(n_units: int, n_partitions: int, workers: int) -> dict:
    """One GLMM fit on ``n_units`` clusters x 10 rows made on the workers (see the docstring)."""
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                      dashboard_address=None) as lc, Client(lc) as client:
        client.run(lambda: sys.path.insert(0, str(ROOT)))
        ddf = dd.from_map(_glmm_partition, range(n_partitions), n_units=n_units, n_partitions=n_partitions)
        t0 = time.perf_counter()
        res = fit("glmm", ddf)
        seconds = time.perf_counter() - t0
        worker_mb = client.run(_maxrss_mb)
    return {"model": "glmm", "units": n_units, "rows": n_units * 10, "partitions": n_partitions,
            "workers": workers, "seconds": seconds, "llf": float(res.llf),
            "params": {k: round(float(v), 6) for k, v in res.params.items()},
            "client_maxrss_mb": _maxrss_mb(), "worker_maxrss_mb": sorted(worker_mb.values()),
            "total_maxrss_mb": _maxrss_mb() + sum(worker_mb.values())}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="glmm", choices=["glmm", "lca"])
    ap.add_argument("--units", type=int, default=20_000)
    ap.add_argument("--big", type=int, metavar="N")
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--evals", type=int, metavar="R", help="time R evaluations (1 vs 2 workers) instead of fits")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    if a.big:
        out = run_big(a.big, a.partitions, a.workers)
    elif a.evals:
        out = run_evals(a.model, a.units, a.partitions, a.evals)
    else:
        out = run(a.model, a.units)
    for k, v in out.items():
        print(f"{k:22s} {v:.4g}" if isinstance(v, float) else f"{k:22s} {v}")
    return out


if __name__ == "__main__":
    main()
