#!/usr/bin/env python
"""Timing benchmark: glmmix vs StepMix on simulated binary latent class (LCA) data.

For each data size the same simulated data set is fitted, in the same run, by

  (a) glmmix: ``gm.wide_to_long`` + ``gm.fit("y ~ 0 + item | class(id) ~ 1", ...,
      family="bernoulli", se="none", n_jobs=1)``; the wide-to-long time is part of
      glmmix's time and is also reported on its own;
  (b) StepMix: ``StepMix(n_components=K, measurement="binary", ...)`` fitted on the wide
      0/1 matrix (plain EM from random responsibilities, progress bar off).

Comparable convergence:

* the same number of random starts: glmmix ``starts=(S, S)`` (S random starts, each
  given up to 10 stage-one EM iterations, then *all* S completed by EM + BFGS to
  max|gradient| / n < 1e-6) versus StepMix ``n_init=S`` (each start run to convergence);
  plus a single-start comparison, glmmix ``starts=(1, 1)`` versus ``n_init=1``;
* StepMix with a tight tolerance: ``abs_tol=1e-10`` on the change of the *average*
  log-likelihood per EM iteration (i.e. a change of the total log-likelihood below
  n * 1e-10), ``rel_tol=0`` and ``max_iter=10000``;
* final log-likelihoods are compared, and both solutions are re-evaluated by the same
  numpy code (``_common.lca_loglik_grad``): the log-likelihood and the max |gradient| in
  the item-logit / class-logit parameterisation.

Every timing is repeated ``--reps`` times (identical seeds, so identical work) and the
median and best are reported; the ratio is StepMix time / glmmix time (> 1: glmmix
faster).

Usage:  python benchmarks/lca_stepmix.py [--units 20000 100000] [--items 15]
        [--classes 3] [--reps 3] [--starts 5] [--quick] [--profile] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

try:  # imported as part of the ``benchmarks`` package (tests)
    from . import _common as C
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as C  # type: ignore


def compare_size(n_units: int, n_items: int = 15, n_classes: int = 3, n_starts: int = 5,
                 reps: int = 3, data_seed: int = 1, fit_seed: int = 1,
                 max_iter: int = 10000, abs_tol: float = 1e-10, rel_tol: float = 0.0,
                 single: bool = True, glmmix_default: bool = False, log=print):
    """Fit one simulated data set with both programs; return a list of result rows."""
    wide, _, _ = C.simulate_lca(n_units, n_items, n_classes, seed=data_seed)
    items = C.item_names(n_items)
    X = wide[items].to_numpy(dtype=float)

    settings = [(f"best of {n_starts} starts", (n_starts, n_starts), n_starts)]
    if single:
        settings.append(("single start", (1, 1), 1))
    if glmmix_default:
        settings.append(("glmmix default (auto)", "auto", None))

    rows = []
    for label, gstarts, n_init in settings:
        # ---- glmmix (wide_to_long included)
        gr = C.repeat(lambda: C.fit_glmmix(wide, items, n_classes, gstarts, seed=fit_seed), reps)
        g = gr[-1]
        gll, ggrad = C.lca_loglik_grad(X, *C.glmmix_params(g["res"], items))
        gmed, gbest = C.summarize_times(gr)
        wmed, _ = C.summarize_times(gr, "time_w2l")
        rows.append(dict(
            units=n_units, items=n_items, K=n_classes, setting=label, software="glmmix",
            sec_median=gmed, sec_best=gbest, w2l_sec=wmed, loglik=g["llf"], loglik_numpy=gll,
            grad_numpy=ggrad, grad_own=g["grad_max_own"],
            iterations=f"EM {g['em_iter_total']} + QN {g['qn_iter_total']} over {g['n_completed']} completed",
            converged=g["converged"], n_warn=len(g["warnings"]),
        ))
        log(f"  [{n_units} units, {label}] glmmix   {gmed:8.3f} s  ll={g['llf']:.6f}")
        if n_init is None:
            continue
        # ---- StepMix
        sr = C.repeat(lambda: C.fit_stepmix(X, n_classes, n_init, seed=fit_seed, max_iter=max_iter,
                                            abs_tol=abs_tol, rel_tol=rel_tol), reps)
        s = sr[-1]
        sll, sgrad = C.lca_loglik_grad(X, *C.stepmix_params(s["model"]))
        smed, sbest = C.summarize_times(sr)
        rows.append(dict(
            units=n_units, items=n_items, K=n_classes, setting=label, software="StepMix",
            sec_median=smed, sec_best=sbest, w2l_sec=np.nan, loglik=s["llf"], loglik_numpy=sll,
            grad_numpy=sgrad, grad_own=np.nan,
            iterations=f"EM {s['n_iter_best']} (best init)",
            converged=s["converged"], n_warn=len(s["warnings"]),
            ratio_median=smed / gmed, ratio_best=sbest / gbest,
            ll_diff=g["llf"] - s["llf"],
        ))
        log(f"  [{n_units} units, {label}] StepMix  {smed:8.3f} s  ll={s['llf']:.6f}  "
            f"ratio StepMix/glmmix = {smed / gmed:.2f}")
    return rows


def print_results(rows):
    print("\nTimes (seconds; median and best of reps). glmmix time includes wide_to_long (w2l).")
    print("loglik: as reported by each program (StepMix: score(X) * n); loglik_numpy and")
    print("grad_numpy: the same numpy code evaluated at each program's estimates.\n")
    C.print_table(
        rows,
        ["units", "items", "K", "setting", "software", "sec_median", "sec_best", "w2l_sec",
         "loglik", "loglik_numpy", "grad_numpy", "converged", "iterations"],
        {"sec_median": ".3f", "sec_best": ".3f", "w2l_sec": ".3f", "loglik": ".4f",
         "loglik_numpy": ".4f", "grad_numpy": ".2e"},
    )
    ratios = [r for r in rows if "ratio_median" in r]
    if ratios:
        print("\nRatio StepMix time / glmmix time (> 1 means glmmix is faster); "
              "ll_diff = glmmix loglik - StepMix loglik\n")
        C.print_table(ratios, ["units", "setting", "ratio_median", "ratio_best", "ll_diff"],
                      {"ratio_median": ".2f", "ratio_best": ".2f", "ll_diff": ".2e"})


def profile_glmmix(n_units: int, n_items: int, n_classes: int, starts, top: int = 15):
    """cProfile one glmmix fit and print the top functions (by own time and cumulative)."""
    import cProfile
    import io
    import pstats

    wide, _, _ = C.simulate_lca(n_units, n_items, n_classes, seed=1)
    items = C.item_names(n_items)
    pr = cProfile.Profile()
    pr.enable()
    C.fit_glmmix(wide, items, n_classes, starts, seed=1)
    pr.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(pr, stream=buf).strip_dirs().sort_stats(key).print_stats(top)
        print(f"\ncProfile of one glmmix fit ({n_units} units, starts={tuple(starts)}), sorted by {key}:")
        print("\n".join(line for line in buf.getvalue().splitlines() if line.strip())[:6000])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--units", type=int, nargs="+", default=[20000, 100000],
                    help="numbers of units (persons), one data set each (default 20000 100000)")
    ap.add_argument("--items", type=int, default=15)
    ap.add_argument("--classes", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3, help="timing repetitions (median and best reported)")
    ap.add_argument("--starts", type=int, default=5, help="random starts for both programs")
    ap.add_argument("--no-single", action="store_true", help="skip the single-start comparison")
    ap.add_argument("--glmmix-default", action="store_true",
                    help="also time glmmix with its default starts='auto'")
    ap.add_argument("--max-iter", type=int, default=10000, help="StepMix max_iter")
    ap.add_argument("--abs-tol", type=float, default=1e-10,
                    help="StepMix abs_tol (change of the average log-likelihood per unit)")
    ap.add_argument("--rel-tol", type=float, default=0.0, help="StepMix rel_tol")
    ap.add_argument("--seed", type=int, default=1, help="seed of the simulated data")
    ap.add_argument("--threads", type=int, default=None,
                    help="limit BLAS threads for both programs (needs threadpoolctl)")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile one glmmix fit at the first size")
    ap.add_argument("--quick", action="store_true",
                    help="tiny run: 2000 units, 8 items, 3 starts, 1 rep")
    args = ap.parse_args(argv)
    if args.quick:
        args.units, args.items, args.starts, args.reps = [2000], 8, 3, 1

    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)

    print("glmmix vs StepMix: binary LCA,", C.env_info())
    print(f"StepMix: abs_tol={args.abs_tol:g} (average ll per unit), rel_tol={args.rel_tol:g}, "
          f"max_iter={args.max_iter}; glmmix: default FitOptions (EM then BFGS, gtol=1e-6 per unit)")
    t0 = time.perf_counter()
    rows = []
    for n in args.units:
        print(f"\n== {n} units, {args.items} items, {args.classes} classes ==")
        rows += compare_size(n, args.items, args.classes, n_starts=args.starts, reps=args.reps,
                             data_seed=args.seed, max_iter=args.max_iter, abs_tol=args.abs_tol,
                             rel_tol=args.rel_tol, single=not args.no_single,
                             glmmix_default=args.glmmix_default)
    print_results(rows)
    if args.profile:
        profile_glmmix(args.units[0], args.items, args.classes, (1, 1))
    print(f"\nTotal wall time {time.perf_counter() - t0:.1f} s")
    if limiter is not None:
        limiter.restore_original_limits()
    return rows


if __name__ == "__main__":
    main()
