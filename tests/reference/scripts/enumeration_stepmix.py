"""Class enumeration statistics of binary LCAs with StepMix 3.0.0: carcinoma, K = 1-4.

Data: Agresti's carcinoma ratings (glmmix/data/carcinoma.csv, recoded 0/1). For each K,
50 random starts (EM to 1e-12), the best log-likelihood; StepMix's aic(), bic(), caic() and
relative_entropy() (1 - sum_i sum_k -p_ik log p_ik / (n log K), Ramaswamy et al. 1993) and
n_parameters. StepMix's sabic() uses log(n (n + 2) / 24), not Sclove's log((n + 2) / 24)
(Mplus's, glmmix's), so SABIC is not recorded. Run from the repository root:
python tests/reference/scripts/enumeration_stepmix.py
"""

import json

import numpy as np
import pandas as pd
import stepmix
from stepmix.stepmix import StepMix

X = pd.read_csv("glmmix/data/carcinoma.csv").to_numpy() - 1  # shipped 1 = no, 2 = yes (poLCA): 0/1
n = X.shape[0]
out = {"software": {"stepmix": stepmix.__version__ if hasattr(stepmix, "__version__") else "3.0.0"},
       "data": "glmmix/data/carcinoma.csv (recoded 0/1)",
       "call": "StepMix(n_components=K, measurement='binary', random_state=seed, max_iter=100000, abs_tol=1e-12, "
               "rel_tol=0).fit(X), seeds 0-49, best score", "K": {}}
for K in (1, 2, 3, 4):
    best = None
    for seed in range(50):
        m = StepMix(n_components=K, measurement="binary", random_state=seed, max_iter=100000, abs_tol=1e-12,
                    rel_tol=0, verbose=0, progress_bar=0)
        m.fit(X)
        ll = m.score(X) * n
        if best is None or ll > best[0]:
            best = (ll, m)
    ll, m = best
    out["K"][str(K)] = {"loglik": float(ll), "n_parameters": int(m.n_parameters), "aic": float(m.aic(X)),
                        "bic": float(m.bic(X)), "caic": float(m.caic(X)),
                        "relative_entropy": None if K == 1 else float(m.relative_entropy(X))}
    print(K, out["K"][str(K)])
with open("tests/reference/values/enumeration_stepmix.json", "w") as f:
    json.dump(out, f, indent=1)
