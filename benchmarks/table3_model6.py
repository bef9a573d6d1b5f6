"""Table 3's Model 6 (within-between classes, Section 5) against Model 5 on the same data.

Data as in ``vignettes/table3_within_between.py``: Model 5 (a between-level class C_j, a
random intercept with variance 0.2; 100 clusters of 10). Model 6 makes C a within-level
class with a random class-logit intercept alpha_1j, whose variance runs towards infinity
(the paper: 609). Two latent dimensions (the outcome's random intercept and alpha_1) on the
default non-adaptive trapezoid rule, 31 x 31 nodes. Model 6 is fitted with default settings
as the vignette fits it, ``old`` with ``likelihood.PRODUCT_SUMS = False`` (the sum over
classes formed at every (row, class, node) like on any rule) and
``estimation.LIMIT_ROUND_RANDOM = None`` (round one completes the structured starts and the
best ``n_final`` random ones), ``new`` with the defaults (the outcome's and the class logit's
dimensions are disjoint: the sum over classes at the node pairs as matrix products,
``likelihood._Product``; when the structured starts all ran to one boundary limit, round one
completes the best 2 random starts), one after the other in one process (``--reps``:
alternating, medians). Both stop completions that run to the between limit
(``estimation.Runaway``) and finish them in Model 5 (``nesting.BetweenLimitRun``); the
fourth round's old (``FitOptions(runaway_stop=False)``) is in benchmarks/README.md.

    python benchmarks/table3_model6.py            # 100 clusters of 10
    python benchmarks/table3_model6.py --quick    # 12 clusters of 10; Model 6 from Model 5, starts=(2, 1)

Prints the time (wall and CPU) of each fit, of one likelihood-and-gradient evaluation, the
nodes, the log-likelihoods and the ratios new / old and Model 6 / Model 5; the machine is
shared, so the ratios within one run are the numbers to read.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import glmmix as gm
import glmmix.estimation as estmod
import glmmix.likelihood as likmod
from glmmix.estimation import LIMIT_ROUND_RANDOM, FitOptions

try:
    from .lta_two_level import eval_ms
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lta_two_level import eval_ms  # type: ignore

M5 = "y ~ 1 + x + (1 | g) | class(g) ~ 1"
M6 = "y ~ 1 + x + (1 | g) | class ~ 1 + (1 | g)"


def data(n_clusters=100, per=10):
    rng = np.random.default_rng(3)
    design = pd.DataFrame({"g": np.repeat(np.arange(n_clusters), per), "x": rng.standard_normal(n_clusters * per)})
    truth = {"class1:Intercept": 1.0, "class2:Intercept": 0.0, "class1:x": 0.2, "class2:x": 0.8, "sigma": 1.0,
             "sd(g:Intercept)": np.sqrt(0.2), "logit:class1:Intercept": 0.0}
    return gm.simulate(M5, design, params=truth, n_classes=2, family="gaussian", seed=5)


def _timed(fn):
    t, c = time.perf_counter(), time.process_time()
    res = fn()
    return res, time.perf_counter() - t, time.process_time() - c


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args(argv)
    df = data(12 if args.quick else 100)
    kw = dict(n_classes=2, family="gaussian")
    warnings.simplefilter("ignore")
    print(f"glmmix {gm.__version__}; load average {os.getloadavg()[0]:.1f} at the start (a shared machine: read "
          "the ratios)")
    m5, t5, c5 = _timed(lambda: gm.fit(M5, df, seed=1, **kw))
    extra = dict(start_from=m5) if args.quick else {}
    size = dict(n_starts=2, n_final=1) if args.quick else {}
    out = {"old": [], "new": []}
    evals = {"old": [], "new": []}
    for _ in range(args.reps):
        for mode in ("old", "new"):
            likmod.PRODUCT_SUMS = mode == "new"
            estmod.LIMIT_ROUND_RANDOM = LIMIT_ROUND_RANDOM if mode == "new" else None
            try:
                opts = FitOptions(seed=1, **size)
                out[mode].append(_timed(lambda: gm.fit(M6, df, options=opts, **extra, **kw)))
                evals[mode].append(eval_ms(out[mode][-1][0], 5))
            finally:
                likmod.PRODUCT_SUMS, estmod.LIMIT_ROUND_RANDOM = True, LIMIT_ROUND_RANDOM
    med = {m: (out[m][-1][0], float(np.median([r[1] for r in out[m]])), float(np.median([r[2] for r in out[m]])))
           for m in out}
    (r_old, t_old, c_old), (r_new, t_new, c_new) = med["old"], med["new"]
    e5 = eval_ms(m5, 5)
    e_old, e6 = (float(np.median(evals[m])) for m in ("old", "new"))
    integ = r_new.integration
    print(f"data: {df.g.nunique()} clusters, {len(df)} rows; Model 6 from "
          + ("Model 5, starts=(2, 1)" if args.quick else "default settings (starts='auto')"))
    print(f"Model 5: log-likelihood {m5.llf:.4f}, {t5:.2f} s (CPU {c5:.2f} s); one evaluation + gradient {e5:.2f} ms")
    for name, r, t, c in (("old", r_old, t_old, c_old), ("new", r_new, t_new, c_new)):
        sd = r.params.get("sd(g:class1)", np.nan)
        how = ("the best completed start is improper (beyond HUGE_RE): the quadrature's value" if
               r.search.maxima[0].get("improper") and not any(x["used"] for x in r.search.limits) else
               "the between limit (Model 5's maximum, exact)" if any(x["used"] for x in r.search.limits) else "proper")
        print(f"Model 6 {name}: log-likelihood {r.llf:.4f} ({how}), {t:.2f} s (CPU {c:.2f} s); sd(g:class1) "
              f"{sd:.1f}; {r.search.completed} completed starts, {int(r.starts['qn_iterations'].sum())} BFGS iterations")
    print(f"Model 6 one evaluation + gradient: old {e_old:.2f} ms, new {e6:.2f} ms ({integ['method']} "
          f"{integ['n_points']}^2 = {integ['n_nodes']} nodes)")
    print(f"new / old: fit {t_new / t_old:.2f} (CPU {c_new / c_old:.2f}), evaluation {e6 / e_old:.2f}; "
          f"log-likelihood difference "
          f"{r_new.llf - r_old.llf:+.1e}; Model 6 >= Model 5: {r_new.llf >= m5.llf - 1e-6}")
    print(f"ratio Model 6 / Model 5: fit {t_new / t5:.1f}x (CPU {c_new / c5:.1f}x), evaluation {e6 / e5:.1f}x; "
          f"load average {os.getloadavg()[0]:.1f} at the end")
    print(r_new.search)
    return {"old_s": t_old, "new_s": t_new, "old_cpu": c_old, "new_cpu": c_new, "llf_old": r_old.llf,
            "llf_new": r_new.llf, "llf_m5": m5.llf}


if __name__ == "__main__":
    main()
