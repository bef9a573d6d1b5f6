"""Table 3's Model 6 (within-between classes, Section 5) against Model 5 on the same data.

Data as in ``vignettes/table3_within_between.py``: Model 5 (a between-level class C_j, a
random intercept with variance 0.2; 100 clusters of 10). Model 6 makes C a within-level
class with a random class-logit intercept alpha_1j, whose variance runs towards infinity
(the paper: 609). Two latent dimensions (the outcome's random intercept and alpha_1) on the
default non-adaptive trapezoid rule, 31 x 31 nodes. Both fits use glmmix's defaults, Model 6
starting from Model 5 (Section 10's advice).

    python benchmarks/table3_model6.py            # 100 clusters of 10
    python benchmarks/table3_model6.py --quick    # 20 clusters of 10; Model 6 from Model 5 only

Prints the time of each fit, of one likelihood-and-gradient evaluation, the nodes, the
log-likelihoods and the ratios.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import glmmix as gm

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


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    df = data(20 if args.quick else 100)
    kw = dict(n_classes=2, family="gaussian", seed=1)
    warnings.simplefilter("ignore", gm.BoundaryWarning)
    t0 = time.perf_counter()
    m5 = gm.fit(M5, df, **kw)
    t5 = time.perf_counter() - t0
    t0 = time.perf_counter()
    m6 = gm.fit(M6, df, start_from=m5, **dict(kw, starts=0) if args.quick else kw)
    t6 = time.perf_counter() - t0
    e5, e6 = eval_ms(m5, 5), eval_ms(m6, 5)
    integ = m6.integration
    sd = m6.params.get("sd(g:class1)", np.nan)
    print(f"data: {df.g.nunique()} clusters, {len(df)} rows; Model 6 starts: {'0' if args.quick else 'auto'}")
    print(f"Model 5: log-likelihood {m5.llf:.4f}, {t5:.2f} s; one evaluation + gradient {e5:.2f} ms")
    print(f"Model 6: log-likelihood {m6.llf:.4f}, {t6:.2f} s; one evaluation + gradient {e6:.2f} ms "
          f"({integ['method']} {integ['n_points']}^2 = {integ['n_nodes']} nodes; sd(g:class1) {sd:.1f})")
    print(f"ratio Model 6 / Model 5: fit {t6 / t5:.1f}x, evaluation {e6 / e5:.1f}x")
    return t6


if __name__ == "__main__":
    main()
