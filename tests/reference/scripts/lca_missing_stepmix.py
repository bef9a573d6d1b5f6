"""LCA of binary items with missing responses (full-information ML) with StepMix 3.0.0.

Data: the ICAR ability items shipped as glmmix/data/ability.csv (R package psychTools'
`ability`: 1525 persons x 16 binary items, 4.7% of the responses missing, 277 persons with at
least one missing). StepMix's measurement="binary_nan" skips missing responses in the
likelihood (their items contribute nothing to a person's class likelihood), which is the
observed-data likelihood glmmix maximises from long data with the missing rows absent.
2, 3 and 4 classes; 40 random starts each (random_state 0-39), EM to an absolute tolerance of
1e-10 on the mean log-likelihood; the best is kept, classes sorted by proportion, largest
first. StepMix's score() is the mean log-likelihood per person; times n it is the
log-likelihood. Run from the repository root: python tests/reference/scripts/lca_missing_stepmix.py
"""

import json
from importlib.metadata import version

import numpy as np
import pandas as pd
from stepmix.stepmix import StepMix

wide = pd.read_csv("glmmix/data/ability.csv")
items = list(wide.columns)
X = wide.to_numpy(float)
n = X.shape[0]
out = {"software": {"stepmix": version("stepmix"), "numpy": np.__version__},
       "data": "glmmix/data/ability.csv (psychTools::ability)",
       "n_persons": n, "n_missing": int(np.isnan(X).sum()),
       "n_persons_with_missing": int(np.isnan(X).any(axis=1).sum()),
       "call": "StepMix(n_components=K, measurement='binary_nan', random_state=seed, max_iter=100000, "
               "abs_tol=1e-10, rel_tol=0).fit(X), seeds 0-39, best score() * n"}
for K in (2, 3, 4):
    lls, best = [], None
    for seed in range(40):
        m = StepMix(n_components=K, measurement="binary_nan", random_state=seed, max_iter=100000,
                    abs_tol=1e-10, rel_tol=0, verbose=0, progress_bar=0)
        m.fit(X)
        ll = m.score(X) * n
        lls.append(ll)
        if best is None or ll > best[0]:
            best = (ll, m)
    ll, m = best
    p = m.get_parameters()
    order = np.argsort(-p["weights"])
    lls = np.array(lls)
    out[f"K{K}"] = {"loglik": float(ll), "n_reaching_best": int(np.sum(np.abs(lls - ll) < 1e-6)),
                    "all_logliks": sorted(lls.tolist(), reverse=True),
                    "class_proportions": p["weights"][order].tolist(),
                    "p_yes": p["measurement"]["pis"][order].tolist()}
    print(K, ll, out[f"K{K}"]["n_reaching_best"], flush=True)
out["items"] = items
with open("tests/reference/values/lca_missing_stepmix.json", "w") as f:
    json.dump(out, f, indent=1)
