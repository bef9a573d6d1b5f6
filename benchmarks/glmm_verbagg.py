#!/usr/bin/env python
"""Timing benchmark: glmmix GLMMs vs statsmodels, lme4::glmer and glmmTMB.

Two random-intercept logistic models are fitted, in the same run and on the same data, by

  (a) glmmix ``gm.fit(..., family="bernoulli", integration="agh", n_points=Q)`` (adaptive
      Gauss-Hermite; ``se="none"`` and, on VerbAgg, separately ``se="ml"``) and
      ``integration="laplace"``;
  (b) statsmodels ``BinomialBayesMixedGLM.from_formula(...).fit_vb()`` (variational Bayes:
      *not* maximum likelihood; its log-likelihood column is NaN and the note gives the
      glmmix adaptive-GH log-likelihood evaluated at its posterior means);
  (c) when ``Rscript`` is on the PATH: ``glmer(..., nAGQ = 25)`` and ``glmer(...)`` (Laplace),
      both with ``control = glmerControl(optimizer = "bobyqa")``, and ``glmmTMB(...)``
      (Laplace), via ``benchmarks/glmm_peers.R``. The R fits are timed inside R
      (``system.time`` around the fit only, packages loaded beforehand); the wall time of
      the whole ``Rscript`` call (R start-up, package loading, CSV reading included) is
      reported separately.

Models:

1. VerbAgg Rasch model ``y ~ 0 + item + (1|id)`` (``gm.datasets.load("verbagg_long")``,
   7,584 responses, 316 persons, 24 items), glmmix with 25 adaptive points.
   Reference: glmer nAGQ = 25 log-likelihood -4036.904873, Laplace -4039.248537.
2. Simulated ``y ~ x1 + x2 + (1|g)``: 50,000 rows in 1,000 equal clusters, x1, x2 ~ N(0, 1),
   intercept -0.5, slopes 1 and -0.5, random-intercept SD 1 (``--seed``); glmmix with 15
   adaptive points (``--sim-points``), glmer with nAGQ = 25.

The project's target: on VerbAgg, glmmix's 25-point adaptive quadrature fit (se="none")
takes less time than glmmTMB's Laplace fit in the same run. The script prints whether that
holds.

Timings are the median (and best) of ``--reps`` repetitions of identical work; statsmodels'
VB (slow on the large data) is repeated ``--vb-reps`` times and each glmer fit
``--glmer-reps`` times (default 1 each). Before timing, glmmix fits a small model once
(untimed) so that first-call costs (lazy imports) are not charged to the first timed fit;
that cold call is timed and printed. ``ratio_vs_agq`` = time / glmmix adaptive-GH (se="none")
time and ``ratio_vs_laplace`` = time / glmmix Laplace time (> 1: glmmix faster).

Usage:  python benchmarks/glmm_verbagg.py [--reps 3] [--vb-reps 1] [--glmer-reps 1]
        [--quick] [--no-r] [--no-vb] [--profile] [--rows 50000] [--clusters 1000]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import glmmix as gm

try:  # imported as part of the ``benchmarks`` package (tests)
    from . import _common as C
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as C  # type: ignore

HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "glmm_peers.R"

VA_FORMULA = "y ~ 0 + item + (1|id)"
VA_REFERENCE_LL = {"AGQ": -4036.904873, "Laplace": -4039.248537}  # glmer, lme4 reference
SIM_FORMULA = "y ~ x1 + x2 + (1|g)"
SIM_TRUTH = {"Intercept": -0.5, "x1": 1.0, "x2": -0.5, "sd": 1.0}

COLUMNS = ["software", "method", "sec_median", "sec_best", "reps", "ratio_vs_agq",
           "ratio_vs_laplace", "loglik", "sd", "max_dfe", "converged"]
FLOATFMT = {"sec_median": ".3f", "sec_best": ".3f", "ratio_vs_agq": ".2f",
            "ratio_vs_laplace": ".2f", "loglik": ".6f", "sd": ".5f", "max_dfe": ".1e"}


# --------------------------------------------------------------------------- data
def simulate_ri(n_rows: int = 50_000, n_clusters: int = 1_000, beta=(-0.5, 1.0, -0.5),
                sd: float = 1.0, seed: int = 1) -> pd.DataFrame:
    """Random-intercept logistic data: columns g (cluster 0..G-1), x1, x2 ~ N(0,1), y (0/1).

    Clusters are as equal as possible (sizes differ by at most one row).
    """
    rng = np.random.default_rng(seed)
    g = np.sort(np.arange(n_rows) % n_clusters)
    x1 = rng.standard_normal(n_rows)
    x2 = rng.standard_normal(n_rows)
    u = rng.normal(0.0, sd, n_clusters)
    eta = beta[0] + beta[1] * x1 + beta[2] * x2 + u[g]
    y = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-eta))).astype(np.int64)
    return pd.DataFrame({"g": g, "x1": x1, "x2": x2, "y": y})


def load_verbagg(n_persons: int | None = None) -> pd.DataFrame:
    """VerbAgg in long form (id, item, y); optionally only the first n_persons persons."""
    va = gm.datasets.load("verbagg_long")[["id", "item", "y"]].copy()
    if n_persons is not None:
        keep = np.sort(va["id"].unique())[:n_persons]
        va = va[va["id"].isin(keep)].reset_index(drop=True)
    return va


def norm_name(name: str) -> str:
    """Common spelling of a fixed-effect name across programs: item[S1DoCurse] (glmmix,
    statsmodels), itemS1DoCurse (R); (Intercept) (R) / Intercept."""
    return str(name).replace("[", "").replace("]", "").replace("(", "").replace(")", "")


# ------------------------------------------------------------------------ fitting
def _median_best(times):
    t = np.asarray(times, float)
    return float(np.median(t)), float(t.min())


def sd_label(formula: str) -> str:
    group = formula.split("|")[-1].strip().rstrip(")").strip()
    return f"sd({group}:Intercept)"


def time_glmmix(formula: str, data: pd.DataFrame, integration: str, n_points=None,
                se: str = "none", reps: int = 1) -> dict:
    """Fit with glmmix reps times (identical work); return a result row and the fit."""
    times, wlist = [], []
    for _ in range(max(1, reps)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            res = gm.fit(formula, data, family="bernoulli", integration=integration,
                         n_points=n_points, se=se)
            times.append(time.perf_counter() - t0)
        wlist = [str(x.message) for x in w]
    med, best = _median_best(times)
    method = ("Laplace" if integration == "laplace" else
              f"AGQ {n_points}" if integration == "agh" else f"{integration} {n_points}")
    if se != "none":
        method += f", se={se}"
    fe = {norm_name(k): float(v) for k, v in res.params.items() if not k.startswith("sd(")}
    return dict(software="glmmix", method=method, sec_median=med, sec_best=best,
                reps=len(times), loglik=float(res.llf),
                sd=float(res.params[sd_label(formula)]), converged=bool(res.converged),
                note="; ".join(wlist), fixef=fe, res=res, kind=integration, se=se)


def glmmix_loglik_at(formula: str, data: pd.DataFrame, template, fixef: dict, sd: float,
                     n_points: int) -> float:
    """glmmix adaptive-GH log-likelihood at given fixed effects and SD (no optimisation).

    Uses ``start_params`` with zero EM and quasi-Newton iterations. Requires glmmix's
    unconstrained parameter vector to equal the natural one for this model (checked on the
    template fit); returns NaN otherwise or if a fixed effect is missing.
    """
    if not np.allclose(np.asarray(template.theta, float), template.params.to_numpy(float)):
        return float("nan")
    theta = []
    for k in template.params.index:
        if k.startswith("sd("):
            theta.append(sd)
        elif norm_name(k) in fixef:
            theta.append(fixef[norm_name(k)])
        else:
            return float("nan")
    opts = gm.FitOptions(n_starts=0, n_final=0, em_iter=0, maxiter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(formula, data, family="bernoulli", integration="agh", n_points=n_points,
                     se="none", start_params=np.asarray(theta, float), options=opts)
    return float(res.llf)


def time_statsmodels_vb(formula: str, data: pd.DataFrame, reps: int = 1) -> dict:
    """statsmodels BinomialBayesMixedGLM.fit_vb() on ``y ~ fixed + (1|group)``.

    Time = model construction (from_formula, which builds the dense random-effects design)
    + fit_vb(). The SD reported is exp(posterior mean of the log SD).
    """
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    fixed, group = split_formula(formula)
    times = []
    for _ in range(max(1, reps)):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            model = BinomialBayesMixedGLM.from_formula(fixed, {group: f"0 + C({group})"}, data)
            vb = model.fit_vb()
            times.append(time.perf_counter() - t0)
    med, best = _median_best(times)
    fe = {norm_name(k): float(v) for k, v in zip(model.exog_names, vb.fe_mean)}
    msgs = sorted({str(x.message).splitlines()[0] for x in w})
    return dict(software="statsmodels", method="VB (fit_vb)", sec_median=med, sec_best=best,
                reps=len(times), loglik=float("nan"), sd=float(np.exp(vb.vcp_mean[0])),
                converged=None, note="; ".join(["not ML"] + msgs), fixef=fe, kind="vb")


def split_formula(formula: str) -> tuple[str, str]:
    """'y ~ a + b + (1|g)' -> ('y ~ a + b', 'g') (one random intercept only)."""
    lhs, rhs = formula.split("~", 1)
    fixed_terms, group = [], None
    for term in rhs.split("+"):
        term = term.strip()
        if term.startswith("(") and "|" in term:
            group = term.strip("()").split("|")[1].strip()
        else:
            fixed_terms.append(term)
    if group is None:
        raise ValueError(f"no (1|group) term in {formula!r}")
    return f"{lhs.strip()} ~ {' + '.join(fixed_terms)}", group


# ----------------------------------------------------------------------------- R
def find_rscript() -> str | None:
    return shutil.which("Rscript")


def run_r_peers(formula: str, data: pd.DataFrame, factors: list[str], nagq: int = 25,
                reps: int = 1, glmer_reps: int = 1,
                methods=("glmer_agq", "glmer_laplace", "glmmtmb"), rscript: str | None = None,
                timeout: float = 3600.0) -> tuple[list[dict], float, str]:
    """Run benchmarks/glmm_peers.R on data (written to a private temp CSV).

    Returns (rows, wall seconds of the whole Rscript call, R/package versions).
    """
    rscript = rscript or find_rscript()
    if rscript is None:
        return [], float("nan"), "R not found"
    with tempfile.TemporaryDirectory(prefix="glmmix_bench_glmm_") as tmp:
        data_csv = Path(tmp) / "data.csv"
        out_csv = Path(tmp) / "out.csv"
        data.to_csv(data_csv, index=False, float_format="%.17g")
        cmd = [rscript, "--vanilla", str(R_SCRIPT), str(data_csv), str(out_csv), formula,
               ",".join(factors), str(nagq), str(reps), str(glmer_reps), ",".join(methods)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out_csv.exists():
            raise RuntimeError(f"Rscript failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        out = pd.read_csv(out_csv, keep_default_na=False)
    rows = []
    for (software, method), grp in out.groupby(["software", "method"], sort=False):
        med, best = _median_best(grp["seconds"])
        last = grp.iloc[-1]
        fe = {}
        for item in str(last["fixef"]).split(";"):
            if "=" in item:
                k, v = item.rsplit("=", 1)
                fe[norm_name(k)] = float(v)
        msgs = sorted({m for m in grp["message"].astype(str) if m.strip()})
        rows.append(dict(software=software, method=method, sec_median=med, sec_best=best,
                         reps=len(grp), loglik=float(last["loglik"]), sd=float(last["sd"]),
                         sd2=float(last["sd2"]) if str(last.get("sd2", "NA")) != "NA" else float("nan"),
                         converged=bool(grp["converged"].astype(str).str.upper().eq("TRUE").all()),
                         note="; ".join(msgs), fixef=fe,
                         kind="laplace" if method == "Laplace" else "agq"))
    v = out.iloc[0]
    versions = (f"R {v['r_version']}, "
                + ", ".join(f"{s} {ver}" for s, ver in
                            out.groupby("software")["version"].first().items()))
    return rows, wall, versions


# ------------------------------------------------------------------------- cases
def run_case(name: str, formula: str, data: pd.DataFrame, factors: list[str],
             n_points: int, reps: int = 3, vb_reps: int = 1, glmer_reps: int = 1,
             se_ml: bool = False, vb: bool = True, use_r: bool = True, nagq_r: int = 25,
             log=print) -> dict:
    """Fit one data set with every program; return dict(rows, r_wall, r_versions, ...)."""
    rows = []
    agq = time_glmmix(formula, data, "agh", n_points, "none", reps)
    rows.append(agq)
    log(f"  [{name}] glmmix AGQ {n_points}: {agq['sec_median']:.3f} s, ll={agq['loglik']:.6f}")
    if se_ml:
        r = time_glmmix(formula, data, "agh", n_points, "ml", reps)
        rows.append(r)
        log(f"  [{name}] glmmix AGQ {n_points} se=ml: {r['sec_median']:.3f} s")
    lap = time_glmmix(formula, data, "laplace", None, "none", reps)
    rows.append(lap)
    log(f"  [{name}] glmmix Laplace: {lap['sec_median']:.3f} s, ll={lap['loglik']:.6f}")
    if vb:
        r = time_statsmodels_vb(formula, data, vb_reps)
        ll_vb = glmmix_loglik_at(formula, data, agq["res"], r["fixef"], r["sd"], n_points)
        r["note"] = (f"not ML; glmmix AGQ {n_points} loglik at VB posterior means "
                     f"{ll_vb:.4f}" + r["note"][len("not ML"):])
        r["loglik_at_vb"] = ll_vb
        rows.append(r)
        log(f"  [{name}] statsmodels VB: {r['sec_median']:.3f} s")
    r_wall, r_versions = float("nan"), "R peers not run"
    rscript = find_rscript() if use_r else None
    if use_r and rscript is None:
        r_versions = "R peers skipped: Rscript not found on PATH"
    if rscript is not None:
        r_rows, r_wall, r_versions = run_r_peers(formula, data, factors, nagq_r, reps,
                                                 glmer_reps, rscript=rscript)
        rows.extend(r_rows)
        log(f"  [{name}] R peers: whole Rscript call {r_wall:.1f} s")
    add_ratios(rows, agq, lap)
    return dict(name=name, rows=rows, r_wall=r_wall, r_versions=r_versions,
                glmmix_agq=agq, glmmix_laplace=lap)


def add_ratios(rows, agq, lap):
    base = agq["fixef"]
    for r in rows:
        r["ratio_vs_agq"] = r["sec_median"] / agq["sec_median"]
        r["ratio_vs_laplace"] = r["sec_median"] / lap["sec_median"]
        common = [k for k in base if k in r.get("fixef", {})]
        r["max_dfe"] = (max(abs(r["fixef"][k] - base[k]) for k in common)
                        if common else float("nan"))


def print_case(case: dict, reference_ll: dict | None = None, truth: dict | None = None):
    print(f"\n== {case['name']}")
    C.print_table(case["rows"], COLUMNS, FLOATFMT)
    print("max_dfe: largest |fixed effect - glmmix AGQ fixed effect|; ratios: time / glmmix "
          "time (> 1: glmmix faster)")
    for r in case["rows"]:
        if r.get("note"):
            print(f"  note, {r['software']} {r['method']}: {r['note']}")
    if np.isfinite(case["r_wall"]):
        print(f"R: {case['r_versions']}; wall time of the whole Rscript call "
              f"(start-up, package loading, reading CSV, all fits): {case['r_wall']:.2f} s")
    else:
        print(case["r_versions"])
    if reference_ll:
        for r in case["rows"]:
            ref = reference_ll.get("AGQ" if r["kind"] in ("agh", "agq") else
                                   "Laplace" if r["kind"] == "laplace" else None)
            if ref is not None:
                print(f"  {r['software']:>8} {r['method']:<18} loglik - reference "
                      f"{r['loglik'] - ref:+.2e}")
    if truth:
        agq = case["glmmix_agq"]
        est = {**agq["fixef"], "sd": agq["sd"]}
        print("  glmmix AGQ estimates vs truth: " + ", ".join(
            f"{k} {est[k]:.4f} (true {v:g})" for k, v in truth.items()))


def target_check(case: dict) -> tuple[bool | None, str]:
    """Is glmmix's adaptive-GH (se='none') fit faster than glmmTMB's Laplace fit?"""
    agq = case["glmmix_agq"]
    tmb = next((r for r in case["rows"] if r["software"] == "glmmTMB"), None)
    if tmb is None:
        return None, "TARGET not checked: glmmTMB was not run (R missing or --no-r)."
    holds = agq["sec_median"] < tmb["sec_median"]
    return holds, (
        f"TARGET (VerbAgg: glmmix {agq['method']} faster than glmmTMB Laplace): "
        f"{'HOLDS' if holds else 'DOES NOT HOLD'} - glmmix {agq['sec_median']:.3f} s vs "
        f"glmmTMB {tmb['sec_median']:.3f} s (median of {agq['reps']} / {tmb['reps']}; "
        f"ratio {tmb['sec_median'] / agq['sec_median']:.2f})")


def laplace_check(case: dict) -> str:
    """glmmix's Laplace fit (exact gradient) against glmmTMB's, same data, same run."""
    lap = case["glmmix_laplace"]
    tmb = next((r for r in case["rows"] if r["software"] == "glmmTMB"), None)
    if tmb is None:
        return "Laplace vs glmmTMB not checked: glmmTMB was not run (R missing or --no-r)."
    return (f"Laplace (VerbAgg): glmmix {lap['sec_median']:.3f} s vs glmmTMB {tmb['sec_median']:.3f} s "
            f"(time ratio glmmix / glmmTMB {lap['sec_median'] / tmb['sec_median']:.2f}); "
            f"log-likelihoods {lap['loglik']:.6f} / {tmb['loglik']:.6f}")


def warm_up() -> float:
    """One small untimed-for-the-table glmmix fit (first-call costs); returns its time."""
    d = simulate_ri(400, 40, seed=99)
    t0 = time.perf_counter()
    gm.fit(SIM_FORMULA, d, family="bernoulli", integration="agh", n_points=5, se="none")
    return time.perf_counter() - t0


def profile_glmmix(formula: str, data: pd.DataFrame, n_points: int, top: int = 20):
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    gm.fit(formula, data, family="bernoulli", integration="agh", n_points=n_points, se="none")
    pr.disable()
    for key in ("tottime", "cumulative"):
        print(f"\n-- cProfile of one glmmix AGQ {n_points} fit, top {top} by {key}")
        pstats.Stats(pr).sort_stats(key).print_stats(top)


def env_info() -> str:
    import scipy
    import statsmodels

    return (f"python {platform.python_version()}, numpy {np.__version__}, scipy "
            f"{scipy.__version__}, pandas {pd.__version__}, statsmodels "
            f"{statsmodels.__version__}, glmmix {getattr(gm, '__version__', '?')} (source "
            f"{C.glmmix_fingerprint()}); {platform.machine()}, {os.cpu_count()} CPUs")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of glmmix and glmmTMB fits")
    ap.add_argument("--vb-reps", type=int, default=1, help="repetitions of statsmodels VB")
    ap.add_argument("--glmer-reps", type=int, default=1, help="repetitions of each glmer fit")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--clusters", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--va-points", type=int, default=25)
    ap.add_argument("--sim-points", type=int, default=15)
    ap.add_argument("--quick", action="store_true",
                    help="tiny run: VerbAgg first 60 persons, 2,000 rows / 100 clusters, 1 rep")
    ap.add_argument("--no-r", action="store_true", help="skip the R peers")
    ap.add_argument("--no-vb", action="store_true", help="skip statsmodels VB")
    ap.add_argument("--profile", action="store_true",
                    help="also cProfile one glmmix VerbAgg AGQ fit")
    a = ap.parse_args(argv)
    if a.quick:
        a.reps, a.vb_reps, a.glmer_reps, a.rows, a.clusters = 1, 1, 1, 2_000, 100
    print(env_info())
    rs = find_rscript()
    print(f"Rscript: {rs or 'not found (R peers skipped)'}" + (" (disabled by --no-r)"
                                                                 if a.no_r and rs else ""))
    print(f"glmmix first call (warm-up, small model, not in the tables): {warm_up():.3f} s")

    va = load_verbagg(60 if a.quick else None)
    va_name = (f"VerbAgg Rasch {VA_FORMULA}: {len(va)} rows, {va['id'].nunique()} persons, "
               f"{va['item'].nunique()} items")
    va_case = run_case(va_name, VA_FORMULA, va, ["id", "item"], a.va_points, a.reps,
                       a.vb_reps, a.glmer_reps, se_ml=True, vb=not a.no_vb,
                       use_r=not a.no_r)

    sim = simulate_ri(a.rows, a.clusters, seed=a.seed)
    sim_name = (f"Simulated {SIM_FORMULA}: {len(sim)} rows, {a.clusters} clusters "
                f"(truth: intercept -0.5, x1 1, x2 -0.5, sd 1; seed {a.seed})")
    sim_case = run_case(sim_name, SIM_FORMULA, sim, ["g"], a.sim_points, a.reps, a.vb_reps,
                        a.glmer_reps, vb=not a.no_vb, use_r=not a.no_r)

    print_case(va_case, reference_ll=None if a.quick else VA_REFERENCE_LL)
    print_case(sim_case, truth=SIM_TRUTH)
    print()
    print(target_check(va_case)[1])
    print(laplace_check(va_case))
    if a.profile:
        profile_glmmix(VA_FORMULA, va, a.va_points)
    return va_case, sim_case


if __name__ == "__main__":
    main()
