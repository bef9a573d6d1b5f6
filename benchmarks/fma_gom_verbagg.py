"""FMA-GoM on VerbAgg (24 items, probit link, default starts): old and new code in one run.

    python benchmarks/fma_gom_verbagg.py               # 316 persons, default fit, old and new, 1 rep each
    python benchmarks/fma_gom_verbagg.py --reps 2      # old, new, old, new
    python benchmarks/fma_gom_verbagg.py --quick       # 20 persons, starts=(1, 1) (CI)
    python benchmarks/fma_gom_verbagg.py --new-only    # the current code alone
    python benchmarks/fma_gom_verbagg.py --stages      # the current code: CPU and evaluations by stage
    python benchmarks/fma_gom_verbagg.py --seeds 1-10  # the current code, one fit per seed: maxima found

``gm.fma_gom(va, 2, link="probit", seed=1)``: the formula
``y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)`` on the 31 x 31 trapezoid rule,
with its simpler models (the LCA, the one-class factor model and the FMA) fitted first for its
starts and limits. ``old`` undoes the changes measured here and ``new`` is the code as it is
(``benchmarks/old_new.py``); each fit runs in a child process of its own, one after the other
and alternating with ``--reps``, so their ratio is measured under the same load. Printed per
fit: elapsed and CPU seconds, the CPU seconds of the simpler models' fits, of the standard
errors, the log-likelihood and the largest relative difference of the standard errors.
``--stages`` fits the current code once and prints, for each model fitted (the simpler models and
the FMA-GoM itself), the CPU seconds of its stage one and of each completed start (EM and BFGS
iterations, log-likelihood, whether it ended improper) and its evaluations by rule size.
``--seeds A-B`` fits the current code once per seed (``se="none"``) and prints, for each, the
reported log-likelihood, CPU seconds, completed starts, whether the best was replicated (and
by how many starts), the warnings' categories and the proper maxima with their starts' origins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: benchmarks/ importable
import glmmix as gm  # noqa: E402
import glmmix.estimation as estimation  # noqa: E402
import glmmix.inference as inference  # noqa: E402
import glmmix.likelihood as likelihood  # noqa: E402
import glmmix.nesting as nesting  # noqa: E402
from benchmarks.old_new import run_child, variant  # noqa: E402


def _timed_simpler():
    """Wrap nesting.fit_simpler to add up its CPU time (the simpler models' fits)."""
    box = {"cpu": 0.0}
    orig = nesting.fit_simpler

    def wrapped(*a, **k):
        c0 = time.process_time()
        try:
            return orig(*a, **k)
        finally:
            box["cpu"] += time.process_time() - c0

    return box, orig, wrapped


def fit_once(data, name, starts):
    box, orig, wrapped = _timed_simpler()
    nesting.fit_simpler = wrapped
    try:
        with variant(name), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0, c0 = time.perf_counter(), time.process_time()
            kw = {} if starts is None else {"starts": starts}
            res = gm.fma_gom(data, 2, link="probit", seed=1, verbose=False, **kw)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            c0 = time.process_time()
            inference.covariance(res.model.likelihood, res.theta, boundary=res.boundary)
            cse = time.process_time() - c0
    finally:
        nesting.fit_simpler = orig
    return {"variant": name, "wall": wall, "cpu": cpu, "simpler_cpu": box["cpu"], "se_cpu": cse,
            "llf": res.llf, "bse": np.asarray(res.bse, float)}


def stages(data, seed=1, starts=None):
    """One fit of the current code with CPU time and evaluations counted by model and stage."""
    from collections import Counter, defaultdict

    model = ["FMA-GoM"]
    cpu, evals, lines = defaultdict(float), Counter(), []
    saved = (nesting.fit_simpler, estimation.converge, estimation._stage1, likelihood.MixtureLikelihood.evaluate)

    def fit_simpler(simple, *a, **k):
        model.append(f"{simple.kind} ({simple.formula})")
        try:
            return saved[0](simple, *a, **k)
        finally:
            model.pop()

    def converge(lik, theta, opts, stop=None):
        c0 = time.process_time()
        fr = saved[1](lik, theta, opts, stop)
        d = time.process_time() - c0
        cpu[(model[-1], "completions")] += d
        lines.append(f"  {model[-1][:40]:40s} completion: EM {fr.em_iterations:3d}, BFGS {fr.qn_iterations:4d}, "
                     f"log-lik {fr.ll:11.4f}{' improper' if estimation.improper(lik, fr.theta) else ''}, CPU {d:5.2f} s")
        return fr

    def stage1(*a, **k):
        c0 = time.process_time()
        try:
            return saved[2](*a, **k)
        finally:
            cpu[(model[-1], "stage one")] += time.process_time() - c0

    def evaluate(self, *a, **k):
        evals[(model[-1], int(self.integ.nodes()[1].shape[-1]) if self.D else 1)] += 1
        return saved[3](self, *a, **k)

    nesting.fit_simpler, estimation.converge, estimation._stage1 = fit_simpler, converge, stage1
    likelihood.MixtureLikelihood.evaluate = evaluate
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c0 = time.process_time()
            kw = {} if starts is None else {"starts": starts}
            res = gm.fma_gom(data, 2, link="probit", seed=seed, verbose=False, **kw)
            total = time.process_time() - c0
    finally:
        nesting.fit_simpler, estimation.converge, estimation._stage1 = saved[:3]
        likelihood.MixtureLikelihood.evaluate = saved[3]
    print(f"seed {seed}: log-likelihood {res.llf:.4f}, CPU {total:.2f} s (load average {os.getloadavg()[0]:.1f})")
    print("\n".join(lines))
    for key in sorted(cpu):
        print(f"  {key[0][:40]:40s} {key[1]:12s} CPU {cpu[key]:6.2f} s")
    for key in sorted(evals):
        print(f"  {key[0][:40]:40s} evaluations on {key[1]:4d} nodes: {evals[key]}")
    return res


def seeds(data, first, last, starts=None):
    """One default fit per seed: what each reports and which proper maxima its search found."""
    for seed in range(first, last + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            c0 = time.process_time()
            kw = {} if starts is None else {"starts": starts}
            res = gm.fma_gom(data, 2, link="probit", seed=seed, verbose=False, se="none", **kw)
            cpu = time.process_time() - c0
        rep = res.search
        kinds = sorted({w.category.__name__ for w in caught})
        print(f"seed {seed}: log-likelihood {res.llf:.4f}, CPU {cpu:.2f} s, {rep.completed} completed, best "
              f"replicated {rep.best_replicated} ({rep.n_best} starts); warnings: {', '.join(kinds) or 'none'}")
        proper = [m for m in rep.maxima if not m.get("improper")]
        for m in proper:
            print(f"    {m['loglik']:11.4f} {m['starts']:3d} from {', '.join(m['origins'])}")
        print(f"    improper: {sum(m['starts'] for m in rep.maxima if m.get('improper'))} starts", flush=True)


def _child(name, argv):
    row = run_child(__file__, name, argv)
    row["bse"] = np.array(row["bse"], float)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--new-only", action="store_true")
    ap.add_argument("--stages", action="store_true", help="the current code: CPU and evaluations by stage")
    ap.add_argument("--seed", type=int, default=1, help="with --stages")
    ap.add_argument("--seeds", help="A-B: one default fit per seed, the maxima each found")
    ap.add_argument("--variant", choices=["old", "new"], help="one fit in this process, printed as JSON")
    args = ap.parse_args(argv)
    va = gm.datasets.load("verbagg_long")
    starts = None
    if args.quick:
        va = va[va.id.isin(va.id.unique()[:20])]
        starts = (1, 1)
    if args.stages:
        stages(va, args.seed, starts)
        return []
    if args.seeds:
        first, _, last = args.seeds.partition("-")
        seeds(va, int(first), int(last or first), starts)
        return []
    if args.variant:
        r = fit_once(va, args.variant, starts)
        print(json.dumps(dict(r, bse=[float(x) for x in r["bse"]])))
        return [r]
    print(f"VerbAgg FMA-GoM, probit: {va.id.nunique()} persons, {len(va)} responses; starts "
          f"{'default' if starts is None else starts}; load average {os.getloadavg()[0]:.1f}")
    names = ["new"] if args.new_only else ["old", "new"]
    child = ["--quick"] if args.quick else []
    rows = [fit_once(va, "new", starts) if args.new_only else _child(n, child)
            for _ in range(args.reps) for n in names]
    ref = rows[0]
    print(f"{'variant':8s} {'wall s':>8s} {'CPU s':>8s} {'simpler':>8s} {'SE CPU':>8s} {'log-lik':>12s} {'max rel dSE':>12s}")
    for r in rows:
        both = np.isfinite(r["bse"]) & np.isfinite(ref["bse"])
        d = np.max(np.abs(r["bse"][both] / ref["bse"][both] - 1)) if both.any() else np.nan
        print(f"{r['variant']:8s} {r['wall']:8.2f} {r['cpu']:8.2f} {r['simpler_cpu']:8.2f} {r['se_cpu']:8.2f} "
              f"{r['llf']:12.4f} {d:12.2e}")
    if not args.new_only:
        old = [r for r in rows if r["variant"] == "old"]
        new = [r for r in rows if r["variant"] == "new"]
        print(f"new / old CPU: {np.median([r['cpu'] for r in new]) / np.median([r['cpu'] for r in old]):.2f}; "
              f"standard errors: {np.median([r['se_cpu'] for r in new]) / np.median([r['se_cpu'] for r in old]):.2f}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return rows


if __name__ == "__main__":
    main()
