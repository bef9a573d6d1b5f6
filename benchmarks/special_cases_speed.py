"""The fine-rule FMA-GoM of ``vignettes/special_cases.py`` with and without the coarse start search.

    python benchmarks/special_cases_speed.py                  # VerbAgg FMA-GoM 61 x 61, old and new
    python benchmarks/special_cases_speed.py --quick          # LSAT FMA-GoM 61^2, starts=(1, 1), threshold 0
    python benchmarks/special_cases_speed.py --models "VerbAgg FMA" --reps 3
    python benchmarks/special_cases_speed.py --vignette       # every fit of vignettes/special_cases.py
    python benchmarks/special_cases_speed.py --vignette --compare   # each also with runaway_stop=False
    python benchmarks/special_cases_speed.py --vignette --compare reuse   # each also without earlier fits reused
    python benchmarks/special_cases_speed.py --vignette --compare round   # each also with old_new.py's old code

``--vignette`` times each fit of the vignette's full run once, with its settings, and prints
them slowest first with their share of the total: where the vignette's time goes. With
``--compare`` each fit runs first with ``FitOptions(runaway_stop=False)`` (``old``: completions
whose random-effect SDs or loadings run off to infinity go on with BFGS) and then with the
default (``new``: stopped beyond ``estimation.HUGE_RE``, ``estimation.Runaway``), and the CPU
times, their ratio and the log-likelihoods of both are printed; with ``--compare reuse`` the
``old`` fits neither remember nor reuse earlier fits (``nesting.remember``: the vignette's
FMA-GoMs take the FMA and LCA fitted before them as their simpler models). The results are kept
alive, as in the vignette.

For each model, in one process and alternating: ``old`` fits with
``FitOptions(coarse_search=False)`` (every stage of the start search on the model's
integration rule) and ``new`` with the default ``coarse_search=True`` (stage one and the
completions on ``Integration.coarse()``, the best maxima re-converged on the model's rule).
Prints the time of each (median of ``--reps``), new / old, the log-likelihoods and their
difference (which must stay below 1e-3: both are the model's rule's maxima), the rules used
the process's CPU time next to the wall time, and the load average of the machine (timings on
a shared machine are noisy; the ratios within one run are the numbers to read).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: benchmarks/ importable
import glmmix as gm  # noqa: E402
from benchmarks.old_new import variant  # noqa: E402
from glmmix import estimation, nesting  # noqa: E402
from glmmix.estimation import FitOptions  # noqa: E402


def _models(quick: bool):
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    if quick:  # LSAT's evaluations are small: the threshold is lowered so that it has a coarse search
        return {"LSAT FMA-GoM 61^2 (1, 1)": lambda o: gm.fma_gom(lsat, 2, verbose=False, options=o, se="none",
                                                                 n_points=61)}
    va = gm.datasets.load("verbagg_long")
    return {
        "VerbAgg FMA-GoM 61^2": lambda o: gm.fma_gom(va, 2, verbose=False, options=o, se="none", n_points=61),
    }


def run(name, fn, reps: int, quick: bool, seed: int) -> dict:
    out = {}
    for mode in ("old", "new"):
        kw = {"n_starts": 1, "n_final": 1} if quick else {}
        opts = FitOptions(seed=seed, coarse_search=mode == "new", **kw)
        times, cpu, res = [], [], None
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            res = fn(opts)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        out[mode] = (float(np.median(times)), float(np.median(cpu)), res)
    (t_old, c_old, r_old), (t_new, c_new, r_new) = out["old"], out["new"]
    rule = r_new.search.rule or "(no coarse rule: the model's evaluation is small)"
    print(f"{name:22s} old {t_old:7.1f} s  new {t_new:7.1f} s  new/old {t_new / t_old:5.2f}  (CPU {c_old:.1f} s, "
          f"{c_new:.1f} s: {c_new / c_old:.2f})  llf old {r_old.llf:.4f} new {r_new.llf:.4f} "
          f"diff {r_new.llf - r_old.llf:+.1e}", flush=True)
    print(f"{'':22s} {rule}", flush=True)
    return {"model": name, "old_s": t_old, "new_s": t_new, "old_cpu": c_old, "new_cpu": c_new,
            "llf_old": r_old.llf, "llf_new": r_new.llf}


def _vignette_fits(opts):
    """Every fit of ``vignettes/special_cases.py`` (full run), with its settings; ``opts(seed)``
    gives the estimation options (the vignette's seed)."""
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    va = gm.datasets.load("verbagg_long")
    ca = gm.wide_to_long(gm.datasets.load("carcinoma"))
    return {
        "LSAT LCA": lambda: gm.lca(lsat, 2, options=opts(1), verbose=False),
        "LSAT GoM": lambda: gm.gom(lsat, 2, options=opts(1), verbose=False),
        "LSAT FMA": lambda: gm.fma(lsat, 2, options=opts(1), verbose=False),
        "LSAT 2PL": lambda: gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli",
                                   options=opts(None)),
        "LSAT 3PL": lambda: gm.three_pl(lsat, options=opts(3), verbose=False),
        "LSAT FMA-GoM": lambda: gm.fma_gom(lsat, 2, options=opts(1), verbose=False),
        "VerbAgg LCA": lambda: gm.lca(va, 2, options=opts(1), verbose=False),
        "VerbAgg GoM": lambda: gm.gom(va, 2, options=opts(1), verbose=False),
        "VerbAgg FMA": lambda: gm.fma(va, 2, options=opts(1), verbose=False),
        "VerbAgg FMA-GoM 61^2": lambda: gm.fma_gom(va, 2, options=opts(1), verbose=False, n_points=61),
        "carcinoma FMA": lambda: gm.fma(ca, 2, options=opts(1), verbose=False),
    }


@contextlib.contextmanager
def _no_reuse(on: bool):
    """Inside: no fit is remembered nor used as a later fit's simpler model (``nesting.remember``)."""
    if not on:
        yield
        return
    saved = nesting.remember, nesting._remembered
    nesting.remember, nesting._remembered = (lambda *a, **k: None), (lambda *a, **k: None)
    try:
        yield
    finally:
        nesting.remember, nesting._remembered = saved


def time_vignette(models=None, compare: str | None = None) -> list[dict]:
    """Time every fit of the vignette once; print them slowest first. The results are kept
    as the vignette keeps them (a later fit uses an earlier one as its simpler model,
    ``nesting.remember``). ``compare``: each fit also as ``old``, just before the default
    (``new``): ``"runaway"``, with ``FitOptions(runaway_stop=False)`` (completions whose
    random-effect SDs or loadings run off to infinity go on); ``"reuse"``, without the use of
    earlier fits as simpler models (each simpler model fitted again); ``"round"``, with the
    latest round's changes undone (``benchmarks/old_new.py``, in this process)."""
    modes = ("old", "new") if compare else ("new",)
    fits = {m: _vignette_fits(lambda seed, m=m: FitOptions(seed=seed, runaway_stop=m == "new" or compare != "runaway"))
            for m in modes}
    kept = {m: {} for m in modes}
    rows = []
    for name in fits["new"]:
        if models and not any(m in name for m in models):
            continue
        row = {"model": name}
        for m in modes:
            t, c = time.perf_counter(), time.process_time()
            with _no_reuse(m == "old" and compare == "reuse"), variant(m if compare == "round" else "new"):
                res = kept[m][name] = fits[m][name]()
            row.update({f"{m}_s": time.perf_counter() - t, f"{m}_cpu": time.process_time() - c,
                        f"{m}_llf": res.llf, "rule": res.integration.get("method", "") if res.integration else ""})
            print(f"{name:22s} {m} {row[f'{m}_s']:7.1f} s (CPU {row[f'{m}_cpu']:.1f} s)  llf {res.llf:.4f}", flush=True)
        rows.append(row)
    for m in modes:
        total, cpu = sum(r[f"{m}_s"] for r in rows), sum(r[f"{m}_cpu"] for r in rows)
        print(f"\n{m}: {'model':22s} {'seconds':>8s} {'share':>6s} {'CPU s':>7s} {'share':>6s}  rule")
        for r in sorted(rows, key=lambda r: -r[f"{m}_s"]):
            print(f"{m}: {r['model']:22s} {r[f'{m}_s']:8.1f} {r[f'{m}_s'] / total:6.0%} {r[f'{m}_cpu']:7.1f} "
                  f"{r[f'{m}_cpu'] / cpu:6.0%}  {r['rule']}")
        print(f"{m}: {'total':22s} {total:8.1f} {'':6s} {cpu:7.1f}")
    if compare:
        print(f"\n{'model':22s} {'CPU old':>8s} {'CPU new':>8s} {'new/old':>8s}  llf old, new (difference)")
        for r in rows:
            print(f"{r['model']:22s} {r['old_cpu']:8.1f} {r['new_cpu']:8.1f} {r['new_cpu'] / r['old_cpu']:8.2f}  "
                  f"{r['old_llf']:.4f}, {r['new_llf']:.4f} ({r['new_llf'] - r['old_llf']:+.1e})")
        old, new = sum(r["old_cpu"] for r in rows), sum(r["new_cpu"] for r in rows)
        print(f"{'total':22s} {old:8.1f} {new:8.1f} {new / old:8.2f}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return rows


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", nargs="*", default=None, help="names (or parts of names) of the models to run")
    ap.add_argument("--vignette", action="store_true", help="time every fit of vignettes/special_cases.py")
    ap.add_argument("--compare", nargs="?", const="runaway", choices=["runaway", "reuse", "round"], default=None,
                    help="with --vignette: each fit also as old: FitOptions(runaway_stop=False) (runaway, the "
                         "default), without earlier fits as simpler models (reuse), or with the latest round's "
                         "changes undone (round: benchmarks/old_new.py)")
    a = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"glmmix {gm.__version__}; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at the start "
          "(a shared machine: read the ratios)")
    if a.vignette:
        return time_vignette(a.models, a.compare)
    if a.quick:
        estimation.COARSE_SEARCH_CELLS = 0.0
    rows = []
    for name, fn in _models(a.quick).items():
        if a.models and not any(m in name for m in a.models):
            continue
        rows.append(run(name, fn, a.reps, a.quick, a.seed))
    tot = {k: sum(r[k] for r in rows) for k in ("old_s", "new_s", "old_cpu", "new_cpu")}
    print(f"{'total':22s} old {tot['old_s']:7.1f} s  new {tot['new_s']:7.1f} s  new/old "
          f"{tot['new_s'] / tot['old_s']:5.2f}  (CPU {tot['old_cpu']:.1f} s, {tot['new_cpu']:.1f} s: "
          f"{tot['new_cpu'] / tot['old_cpu']:.2f}); load average {os.getloadavg()[0]:.1f} at the end")
    return rows


if __name__ == "__main__":
    main()
