"""GoM at the scale of the paper's NLSY example (Section 7): 7,326 persons x 17 binary items,
2 classes, simulated; fitted with glmmix's defaults (LCA start, 20 random starts, 5 completed).

    python benchmarks/gom_nlsy_scale.py            # full size
    python benchmarks/gom_nlsy_scale.py --quick    # 1,000 persons

Prints the time of each stage (LCA start, GoM fit, standard errors) and the estimates
against the generating values.
"""

import argparse
import time
import warnings

import numpy as np
import pandas as pd

import glmmix as gm


def simulate(n=7326, J=17, seed=1):
    rng = np.random.default_rng(seed)
    p1 = np.linspace(0.05, 0.35, J)  # offence-prone class (class 1) vs low class (class 2)
    p1 = np.clip(p1 * 2.2, 0, 0.9)
    p2 = np.linspace(0.01, 0.08, J)
    alpha = -1.0 + 2.0 * rng.standard_normal(n)  # random class logit: mean -1, SD 2
    c1 = rng.uniform(size=(n, J)) < 1 / (1 + np.exp(-alpha[:, None]))
    y = rng.uniform(size=(n, J)) < np.where(c1, p1, p2)
    wide = pd.DataFrame(y.astype(int), columns=[f"asb{j + 1}" for j in range(J)])
    return wide, p1, p2


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args(argv)
    n = 1000 if a.quick else 7326
    wide, p1, p2 = simulate(n)
    long = gm.wide_to_long(wide)
    warnings.simplefilter("ignore", gm.BoundaryWarning)
    t0 = time.perf_counter()
    lca = gm.lca(long, 2, seed=1, se="none", verbose=False)
    t1 = time.perf_counter()
    res = gm.gom(long, 2, seed=1, start_from=lca, se="none", verbose=True)
    t2 = time.perf_counter()
    from glmmix.inference import covariance

    covariance(res.model.likelihood, res.theta, "ml", res.boundary)
    t3 = time.perf_counter()
    print(f"rows {len(long)}, persons {n}: LCA {t1 - t0:.2f} s, GoM (default starts) {t2 - t1:.2f} s, "
          f"standard errors {t3 - t2:.2f} s; total {t3 - t0:.2f} s")
    print(f"log-likelihood LCA {lca.llf:.2f}, GoM {res.llf:.2f}; sd(class logit) {res.params['sd(id:class1)']:.2f} "
          f"(true 2.0)")
    prof = res.profile()
    hi = prof[["class1", "class2"]].mean().idxmin()  # the smaller-probability class is class 2's truth
    lo = "class1" if hi == "class2" else "class2"
    print("max |error| of item probabilities:", float(np.abs(prof[lo] - p1).max()), float(np.abs(prof[hi] - p2).max()))
    return t3 - t0


if __name__ == "__main__":
    main()
