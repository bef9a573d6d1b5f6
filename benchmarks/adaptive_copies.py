"""The fits of ``vignettes/special_cases.py`` on adaptive Gauss-Hermite rules, old and new.

    python benchmarks/adaptive_copies.py              # LSAT 3PL, LSAT FMA, VerbAgg FMA, carcinoma FMA
    python benchmarks/adaptive_copies.py --reps 2 --models 3PL "LSAT FMA"
    python benchmarks/adaptive_copies.py --quick      # LSAT FMA, starts=(2, 1) (tests/test_benchmark_copies_smoke.py)

``old``: every cluster evaluated (``glmmix.copies.MERGE = False``); ``new``: clusters with the
same data estimated once, weighted by their count (the default). Each fit runs with the
vignette's settings, old and new alternating in one process, ``--reps`` times; prints the CPU
and wall seconds of each (medians), new / old, both log-likelihoods and the load average
(a shared machine: read the ratios and the CPU times).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: glmmix from this tree
import glmmix as gm  # noqa: E402
from glmmix import copies  # noqa: E402


def _fits(quick: bool):
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    if quick:
        return {"LSAT FMA (2, 1)": lambda: gm.fma(lsat, 2, seed=1, starts=(2, 1), verbose=False, se="none")}
    va = gm.datasets.load("verbagg_long")
    ca = gm.wide_to_long(gm.datasets.load("carcinoma"))
    return {
        "LSAT 3PL": lambda: gm.three_pl(lsat, seed=3, verbose=False),
        "LSAT FMA": lambda: gm.fma(lsat, 2, seed=1, verbose=False),
        "VerbAgg FMA": lambda: gm.fma(va, 2, seed=1, verbose=False),
        "carcinoma FMA": lambda: gm.fma(ca, 2, seed=1, verbose=False),
    }


def run(models=None, reps: int = 1, quick: bool = False) -> list[dict]:
    rows = []
    for name, fn in _fits(quick).items():
        if models and not any(m in name for m in models):
            continue
        got = {"old": [], "new": []}
        for _ in range(reps):
            for mode in ("old", "new"):
                copies.MERGE = mode == "new"
                t, c = time.perf_counter(), time.process_time()
                try:
                    res = fn()
                finally:
                    copies.MERGE = True
                got[mode].append((time.perf_counter() - t, time.process_time() - c, res.llf))
                print(f"  {name:14s} {mode}: {got[mode][-1][0]:6.1f} s (CPU {got[mode][-1][1]:5.1f} s) "
                      f"llf {res.llf:.4f}", flush=True)
        row = {"model": name}
        for mode in ("old", "new"):
            a = np.array(got[mode])
            row.update({f"{mode}_s": float(np.median(a[:, 0])), f"{mode}_cpu": float(np.median(a[:, 1])),
                        f"{mode}_llf": float(a[-1, 2])})
        rows.append(row)
    print(f"\n| model | old CPU s | new CPU s | new / old | old wall s | new wall s | log-likelihood old / new |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows + ([_total(rows)] if len(rows) > 1 else []):
        print(f"| {r['model']} | {r['old_cpu']:.1f} | {r['new_cpu']:.1f} | {r['new_cpu'] / r['old_cpu']:.2f} | "
              f"{r['old_s']:.1f} | {r['new_s']:.1f} | "
              + (f"{r['old_llf']:.4f} / {r['new_llf']:.4f} |" if "old_llf" in r else " |"))
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return rows


def _total(rows):
    return {"model": "total", **{k: sum(r[k] for r in rows) for k in ("old_s", "new_s", "old_cpu", "new_cpu")}}


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", nargs="*", default=None, help="names (or parts of names) of the fits to run")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"glmmix {gm.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start")
    return run(a.models, a.reps, a.quick)


if __name__ == "__main__":
    main()
