"""Crossed random effects whose Laplace curvature moves with family parameters: glmmix with the
exact gradient ("new"), with the gradient by central differences ("old"), and R's lmer / clmm.

Cases, the same data for every program:

* gaussian: ``y ~ x + (1|s) + (1|d)``, simulated (2,700 students crossed with 300 lecturers,
  about 18,000 rows; sd(s) 0.35, sd(d) 0.5, sigma 1.2, the layout of lme4's InstEval), glmmix
  ``family="gaussian"`` (the Laplace approximation is exact here) against ``lmer(..., REML =
  FALSE)``;
* ordinal: ``r3 ~ btype + Anger + Gender + (1|id) + (1|item)`` on VerbAgg (7,584 responses, no <
  perhaps < yes), glmmix ``family="ordinal"`` against ``ordinal::clmm`` (Laplace).

Times are CPU seconds of the fits alone, medians of ``--reps``: glmmix's ``gm.fit(...,
se="none")`` by ``time.process_time`` (single-threaded BLAS), R's by ``system.time`` (user +
system). "old" replaces glmmix's exact gradient by central differences of the re-optimized
approximation (what the code did before ``Family.curvature_extra``). ``ratio`` = time /
glmmix new.

Usage::

    python benchmarks/laplace_extra.py              # both cases, 3 repetitions, with R
    python benchmarks/laplace_extra.py --quick      # small data, 1 repetition, no R (CI)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: benchmarks/ importable
import glmmix as gm  # noqa: E402
from glmmix.likelihood import MixtureLikelihood  # noqa: E402

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE); reps <- as.integer(args[3]); kind <- args[4]
suppressPackageStartupMessages({library(lme4); library(ordinal)})
for (f in c("s", "d", "id", "item", "btype", "Gender")) if (f %in% names(d)) d[[f]] <- factor(d[[f]])
if (kind == "ordinal") d$r3 <- factor(d$r3, levels = c("no", "perhaps", "yes"), ordered = TRUE)
out <- NULL
for (r in seq_len(reps)) {
  tt <- system.time(m <- if (kind == "gaussian") lmer(y ~ x + (1 | s) + (1 | d), d, REML = FALSE) else
    clmm(r3 ~ btype + Anger + Gender + (1 | id) + (1 | item), data = d))
  t <- tt[["user.self"]] + tt[["sys.self"]]
  out <- rbind(out, data.frame(software = if (kind == "gaussian") "lme4 lmer" else "ordinal clmm",
    seconds = t, loglik = as.numeric(logLik(m)),
    version = as.character(packageVersion(if (kind == "gaussian") "lme4" else "ordinal"))))
}
write.csv(out, args[2], row.names = FALSE)
"""


def crossed_gaussian(n_s: int = 2700, n_d: int = 300, per_s: int = 7, seed: int = 1) -> pd.DataFrame:
    """Students each rating ``per_s`` lecturers drawn at random (InstEval's layout)."""
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(n_s), per_s)
    d = rng.integers(0, n_d, s.size)
    x = rng.integers(0, 2, s.size)
    y = 3.3 - 0.06 * x + 0.35 * rng.normal(size=n_s)[s] + 0.5 * rng.normal(size=n_d)[d] + 1.2 * rng.normal(size=s.size)
    return pd.DataFrame({"s": s, "d": d, "x": x, "y": y})


def verbagg_ordinal(n_persons: int | None = None) -> pd.DataFrame:
    va = gm.datasets.load("verbagg_long")[["id", "item", "btype", "Anger", "Gender", "resp"]].rename(
        columns={"resp": "r3"})
    if n_persons is not None:
        va = va[va["id"] <= n_persons].reset_index(drop=True)
    return va


CASES = {
    "gaussian": ("y ~ x + (1|s) + (1|d)", "gaussian"),
    "ordinal": ("r3 ~ btype + Anger + Gender + (1|id) + (1|item)", "ordinal"),
}


@contextmanager
def differences():
    """The gradient by central differences, as before the exact one (the old property)."""
    prop = MixtureLikelihood.laplace_exact
    MixtureLikelihood.laplace_exact = property(
        lambda self: self.laplace and self.layout.blocks["extra"].size == 0 and prop.fget(self))
    try:
        yield
    finally:
        MixtureLikelihood.laplace_exact = prop


def time_glmmix(kind: str, data: pd.DataFrame, old: bool) -> dict:
    formula, family = CASES[kind]
    if kind == "ordinal":
        data = data.assign(r3=pd.Categorical(data["r3"], categories=["no", "perhaps", "yes"], ordered=True))
    ctx = differences() if old else _null()
    with ctx:
        c0 = time.process_time()
        res = gm.fit(formula, data, family=family, se="none")
        cpu = time.process_time() - c0
    return {"software": "glmmix " + ("old (differences)" if old else "new (exact)"), "seconds": cpu,
            "loglik": res.llf, "converged": res.converged}


@contextmanager
def _null():
    yield


def run_r(kind: str, data: pd.DataFrame, reps: int) -> list[dict]:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return []
    with tempfile.TemporaryDirectory(prefix="glmmix_bench_lapx_") as tmp:
        code, csv, out = Path(tmp) / "peer.R", Path(tmp) / "data.csv", Path(tmp) / "out.csv"
        code.write_text(R_CODE)
        data.to_csv(csv, index=False, float_format="%.17g")
        proc = subprocess.run([rscript, "--vanilla", str(code), str(csv), str(out), str(reps), kind],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"Rscript failed:\n{proc.stderr[-2000:]}")
        df = pd.read_csv(out)
    return [{"software": f"{df['software'].iloc[0]} {df['version'].iloc[0]}",
             "seconds": float(df["seconds"].median()), "loglik": float(df["loglik"].iloc[-1]), "converged": True}]


def run(kind: str, data: pd.DataFrame, reps: int = 3, use_r: bool = True) -> list[dict]:
    rows = []
    for old in (False, True):
        fits = [time_glmmix(kind, data, old) for _ in range(reps)]
        row = dict(fits[-1])
        row["seconds"] = float(np.median([f["seconds"] for f in fits]))
        rows.append(row)
    if use_r:
        rows += run_r(kind, data, reps)
    for r in rows:
        r["ratio"] = r["seconds"] / rows[0]["seconds"]
        r["dll"] = r["loglik"] - rows[0]["loglik"]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="small data, 1 repetition, no R")
    ap.add_argument("--no-r", action="store_true")
    a = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    reps = 1 if a.quick else a.reps
    data = {"gaussian": crossed_gaussian(300, 60, 5) if a.quick else crossed_gaussian(),
            "ordinal": verbagg_ordinal(40 if a.quick else None)}
    out = {}
    for kind, d in data.items():
        rows = run(kind, d, reps, use_r=not (a.quick or a.no_r))
        out[kind] = rows
        print(f"\n== {kind}: {CASES[kind][0]} ({len(d)} rows)")
        print(pd.DataFrame(rows)[["software", "seconds", "ratio", "loglik", "dll", "converged"]].to_string(
            index=False, formatters={"seconds": "{:.3f}".format, "ratio": "{:.2f}".format,
                                     "loglik": "{:.6f}".format, "dll": "{:+.1e}".format}))
    print("\nseconds: CPU of the fit (median of reps); ratio: seconds / glmmix new; "
          "dll: log-likelihood - glmmix new's")
    return out


if __name__ == "__main__":
    main()
