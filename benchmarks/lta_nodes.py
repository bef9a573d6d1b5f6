"""Two-level LTA on ``toca_sim``: time per evaluation (log-likelihood and exact gradient)
against the number of integration nodes.

    python benchmarks/lta_nodes.py                 # 3, 5, 7, 9, 11 adaptive points per dimension
    python benchmarks/lta_nodes.py --points 5 9    # chosen rules
    python benchmarks/lta_nodes.py --quick         # 15 classrooms, 3 and 5 points

The model is ``benchmarks/lta_two_level.py``'s (random intercepts of both class logits per
classroom: 2 dimensions, so Q = points^2 nodes). It is fitted once with the default rule
(starts (6, 2), from the single-level LTA); then for each rule a model with that rule is built,
adapted at the estimates, and evaluated ``--reps`` times; the log-likelihood at the same
estimates shows what the rule changes.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import glmmix as gm  # noqa: E402
from benchmarks.lta_two_level import LTA, LTA2  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", nargs="+", type=int, default=[3, 5, 7, 9, 11])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    df = gm.datasets.load("toca_sim")
    points = a.points
    if a.quick:
        df, points = df[df.classroom <= 15], [3, 5]
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
    warnings.simplefilter("ignore", gm.BoundaryWarning)
    one = gm.fit(LTA, df, seed=1, starts=(6, 2), se="none", **kw)
    two = gm.fit(LTA2, df, seed=1, starts=(6, 2), se="none", start_from=one, **kw)
    rows = []
    for q in points:
        model = gm.MixtureModel.from_formula(LTA2, df, integration="agh", n_points=q, **kw)
        lik = model.likelihood
        ll = model.adapt(two.theta)
        t0 = time.perf_counter()
        for _ in range(a.reps):
            lik.full_gradient(lik.evaluate(two.theta))
        ms = 1000 * (time.perf_counter() - t0) / a.reps
        rows.append({"points": q, "nodes": lik.integ.n_nodes, "ms_per_eval": ms, "llf": ll})
    tab = pd.DataFrame(rows)
    tab["ms_per_node"] = tab["ms_per_eval"] / tab["nodes"]
    tab["llf - finest"] = tab["llf"] - tab["llf"].iloc[int(np.argmax(tab["nodes"]))]
    print(f"two-level LTA, {df.student.nunique()} students in {df.classroom.nunique()} classrooms, "
          f"{len(df)} rows; fitted llf {two.llf:.4f} (default rule)")
    print(tab.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return tab


if __name__ == "__main__":
    main()
