"""Crossed random effects on VerbAgg: glmmix Laplace against glmer and glmmTMB (Laplace).

Model: ``y ~ Anger + Gender + btype + situ + (1|id) + (1|item)``, logit link, on
``gm.datasets.load("verbagg_long")`` (7,584 responses, 316 persons crossed with 24 items).
glmmTMB's Laplace log-likelihood is -4075.6999 (SDs 1.3397 and 0.4953, printed as sd_id and sd_item;
tests/reference/values/glmm_crossed.json).

Programs, in the same run on the same data:

* glmmix: ``gm.fit(formula, data, family="bernoulli", integration="laplace", se=...)`` with
  se="none" and se="ml" (observed-information standard errors included in the time);
* glmer: ``glmer(formula, data, family = binomial, control = glmerControl(optimizer =
  "bobyqa"))`` (Laplace, lme4's defaults otherwise);
* glmmTMB: ``glmmTMB(formula, data, family = binomial)``.

The R fits run through ``benchmarks/glmm_peers.R`` (only the fit is timed, inside R).
Times are medians (and bests) of ``--reps`` identical repetitions; ``ratio`` = time /
glmmix Laplace (se="none") time (> 1: glmmix faster). The script prints whether glmmix is at
least as fast as glmmTMB.

Usage::

    python benchmarks/glmm_crossed.py                  # 3 repetitions
    python benchmarks/glmm_crossed.py --quick --no-r   # first 60 persons, 1 repetition
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import glmmix as gm

try:  # imported as part of the ``benchmarks`` package (tests)
    from . import _common as C
    from . import glmm_verbagg as V
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _common as C  # type: ignore
    import glmm_verbagg as V  # type: ignore

FORMULA = "y ~ Anger + Gender + btype + situ + (1|id) + (1|item)"
FACTORS = ["id", "item", "Gender", "btype", "situ"]
REFERENCE_LL = -4075.6999  # glmmTMB 1.1.5 and glmer (tolPwrss = 1e-12), Laplace
COLUMNS = ["software", "method", "sec_median", "sec_best", "reps", "ratio", "loglik", "sd_id", "sd_item",
           "max_dfe", "converged"]
FLOATFMT = {"sec_median": ".3f", "sec_best": ".3f", "ratio": ".2f", "loglik": ".6f", "sd_id": ".5f",
            "sd_item": ".5f", "max_dfe": ".1e"}


def load(n_persons: int | None = None):
    va = gm.datasets.load("verbagg_long")[["id", "item", "Anger", "Gender", "btype", "situ", "y"]]
    if n_persons is not None:
        va = va[va["id"].isin(np.sort(va["id"].unique())[:n_persons])].reset_index(drop=True)
    return va


def run(data, reps: int = 3, use_r: bool = True) -> dict:
    """Time every program on ``data``; rows with ratios and fixed-effect differences."""
    rows = []
    for se in ("none", "ml"):
        r = V.time_glmmix(FORMULA, data, "laplace", None, se, reps)
        r["sd"] = float(r["res"].params["sd(id:Intercept)"])  # glmm_peers.R: sd (id) and sd2 (item)
        r["sd2"] = float(r["res"].params["sd(item:Intercept)"])
        rows.append(r)
    r_wall, versions = float("nan"), "R peers not run"
    if use_r and V.find_rscript():
        peers, r_wall, versions = V.run_r_peers(FORMULA, data, FACTORS, reps=reps, glmer_reps=1,
                                                methods=("glmer_laplace", "glmmtmb"))
        rows += peers
    base = rows[0]
    for r in rows:
        r["ratio"] = r["sec_median"] / base["sec_median"]
        r["sd_id"], r["sd_item"] = r["sd"], r.get("sd2", float("nan"))
        common = [k for k in base["fixef"] if k in r.get("fixef", {})]
        r["max_dfe"] = max(abs(r["fixef"][k] - base["fixef"][k]) for k in common) if common else float("nan")
    return dict(rows=rows, r_wall=r_wall, r_versions=versions)


def target(case: dict) -> str:
    lap = case["rows"][0]
    tmb = next((r for r in case["rows"] if r["software"] == "glmmTMB"), None)
    if tmb is None:
        return "TARGET (crossed VerbAgg: glmmix Laplace at least as fast as glmmTMB): not checked (no R)"
    holds = lap["sec_median"] <= tmb["sec_median"]
    return (f"TARGET (crossed VerbAgg: glmmix Laplace at least as fast as glmmTMB): "
            f"{'HOLDS' if holds else 'DOES NOT HOLD'}: glmmix {lap['sec_median']:.3f} s, glmmTMB "
            f"{tmb['sec_median']:.3f} s (ratio glmmTMB / glmmix {tmb['sec_median'] / lap['sec_median']:.2f})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3, help="repetitions of every fit but glmer's")
    ap.add_argument("--quick", action="store_true", help="first 60 persons, 1 repetition")
    ap.add_argument("--no-r", action="store_true", help="skip the R peers")
    a = ap.parse_args(argv)
    if a.quick:
        a.reps = 1
    print(V.env_info())
    print(f"glmmix first call (warm-up, small model, not in the table): {V.warm_up():.3f} s")
    data = load(60 if a.quick else None)
    case = run(data, a.reps, use_r=not a.no_r)
    print(f"\n== VerbAgg crossed {FORMULA}: {len(data)} rows, {data['id'].nunique()} persons x "
          f"{data['item'].nunique()} items")
    C.print_table(case["rows"], COLUMNS, FLOATFMT)
    print("ratio: time / glmmix Laplace (se='none') time (> 1: glmmix faster); sd_id, sd_item: the SDs of (1|id) "
          "and (1|item); max_dfe: largest |fixed effect - glmmix's|")
    if a.quick:  # the reference is for the whole data set
        print("(no reference log-likelihood for the first 60 persons)")
    else:
        print("\n".join(f"  {r['software']:>8} {r['method']:<16} loglik - reference {r['loglik'] - REFERENCE_LL:+.2e}"
                        + (f"; note: {r['note']}" if r.get("note") else "") for r in case["rows"]))
    print(f"R: {case['r_versions']}" + (f"; wall time of the whole Rscript call {case['r_wall']:.2f} s"
                                        if np.isfinite(case["r_wall"]) else ""))
    print(target(case))
    return case


if __name__ == "__main__":
    main()
