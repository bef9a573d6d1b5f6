"""Sampling-weighted LCA with StepMix 3.0.0 (its fit(..., sample_weight=)).

Data: Agresti's carcinoma ratings (glmmix/data/carcinoma.csv, 118 slides x 7 raters, recoded 0/1),
with deterministic weights w = 0.5, 1.0, 1.5, 2.0 repeating over the rows
(w_i = 0.5 * (1 + i mod 4), i = 0, 1, ...): unequal weights within the response patterns,
which equal counts per pattern (frequency weights) would not test. StepMix maximises
sum_i w_i log L_i / sum_i w_i (its score()); times n it is the pseudo log-likelihood with the
weights scaled to sum to n (glmmix's default "sample" scaling). 3 classes, 50 random starts,
EM to 1e-12; classes sorted by proportion, largest first. Run from the repository root:
python tests/reference/scripts/lca_weighted_stepmix.py
"""

import json

import numpy as np
import pandas as pd
import stepmix
from stepmix.stepmix import StepMix

wide = pd.read_csv("glmmix/data/carcinoma.csv")
items = list(wide.columns)
X = wide.to_numpy() - 1  # shipped 1 = no, 2 = yes (poLCA): 0/1
n = X.shape[0]
w = 0.5 * (1 + np.arange(n) % 4)
best = None
for seed in range(50):
    m = StepMix(n_components=3, measurement="binary", random_state=seed, max_iter=100000, abs_tol=1e-12, rel_tol=0,
                verbose=0, progress_bar=0)
    m.fit(X, sample_weight=w)
    ll = m.score(X, sample_weight=w) * n
    if best is None or ll > best[0]:
        best = (ll, m)
ll, m = best
p = m.get_parameters()
order = np.argsort(-p["weights"])
out = {
    "software": {"stepmix": stepmix.__version__ if hasattr(stepmix, "__version__") else "3.0.0"},
    "data": "glmmix/data/carcinoma.csv",
    "weights": "w_i = 0.5 * (1 + i mod 4), i = 0..117 in the file's row order",
    "call": "StepMix(n_components=3, measurement='binary', random_state=seed, max_iter=100000, abs_tol=1e-12, "
            "rel_tol=0).fit(X, sample_weight=w), seeds 0-49, best score",
    "loglik_sample_scaled": float(ll),
    "class_proportions": p["weights"][order].tolist(),
    "items": items,
    "p_yes": p["measurement"]["pis"][order].tolist(),
}
print(json.dumps(out, indent=1))
with open("tests/reference/values/lca_weighted_stepmix.json", "w") as f:
    json.dump(out, f, indent=1)
