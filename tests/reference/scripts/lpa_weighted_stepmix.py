"""Sampling-weighted latent profile analysis with StepMix 3.0.0 (fit(..., sample_weight=)).

Data: R's datasets::faithful (tests/reference/data/faithful.csv, 272 rows), weights
w_i = 0.5 * (1 + i mod 4) in row order. StepMix's gaussian_diag (item variances free per
class: glmmix sigma_by="item", class_specific=["sigma"]) with reg_covar = 0, 2 classes, 20
random starts, EM to 1e-12; StepMix maximises sum_i w_i log L_i / sum_i w_i, times n the
pseudo log-likelihood with weights scaled to sum to n (glmmix's default). Classes sorted by
proportion. Run from the repository root: python tests/reference/scripts/lpa_weighted_stepmix.py
"""

import json
from importlib.metadata import version

import numpy as np
import pandas as pd
from stepmix.stepmix import StepMix

df = pd.read_csv("tests/reference/data/faithful.csv")
items = list(df.columns)
X = df.to_numpy(float)
n = len(X)
w = 0.5 * (1 + np.arange(n) % 4)
lls, best = [], None
for seed in range(20):
    m = StepMix(n_components=2, measurement="gaussian_diag", measurement_params={"reg_covar": 0.0},
                random_state=seed, max_iter=100000, abs_tol=1e-12, rel_tol=0, verbose=0, progress_bar=0)
    m.fit(X, sample_weight=w)
    ll = m.score(X, sample_weight=w) * n
    lls.append(ll)
    if best is None or ll > best[0]:
        best = (ll, m)
ll, m = best
p = m.get_parameters()
order = np.argsort(-p["weights"])
out = {"software": {"stepmix": version("stepmix")}, "data": "tests/reference/data/faithful.csv",
       "weights": "w_i = 0.5 * (1 + i mod 4), i = 0..271 in row order", "items": items,
       "loglik_sample_scaled": float(ll), "n_reaching_best": int(np.sum(np.abs(np.array(lls) - ll) < 1e-6)),
       "class_proportions": p["weights"][order].tolist(),
       "means": np.asarray(p["measurement"]["means"])[order].tolist(),
       "sds": np.sqrt(np.asarray(p["measurement"]["covariances"]))[order].tolist()}
print(ll, out["n_reaching_best"], out["means"], out["sds"])
with open("tests/reference/values/lpa_weighted_stepmix.json", "w") as f:
    json.dump(out, f, indent=1)
