"""LCA of 3-category items with missing responses with StepMix 3.0.0 (categorical_nan).

Data: the VerbAgg responses in wide form (tests/reference/data/verbagg_wide_resp.csv, 316
persons x 24 items, categories 1 = no, 2 = perhaps, 3 = yes), with responses deleted by a
fixed pattern: person i (row order, from 0), item j (column order, from 0) is missing when
(7 i + 3 j) mod 13 == 0 (583 of 7584 responses). StepMix's measurement="categorical_nan" has
free category probabilities per item and class (glmmix: family="ordinal",
thresholds_by="item", class-specific thresholds, which are equally unrestricted), missing
responses left out. 2 classes, 30 random starts, EM to an absolute tolerance of 1e-10 on the
mean log-likelihood; classes sorted by proportion. Run from the repository root:
python tests/reference/scripts/lca_categorical_missing_stepmix.py
"""

import json
from importlib.metadata import version

import numpy as np
import pandas as pd
from stepmix.stepmix import StepMix

wide = pd.read_csv("tests/reference/data/verbagg_wide_resp.csv")
items = [c for c in wide.columns if c != "id"]
X = wide[items].to_numpy(float) - 1  # StepMix wants categories 0, 1, 2
i, j = np.indices(X.shape)
X[(7 * i + 3 * j) % 13 == 0] = np.nan
n = X.shape[0]
out = {"software": {"stepmix": version("stepmix")}, "data": "tests/reference/data/verbagg_wide_resp.csv",
       "missing": "(7 i + 3 j) mod 13 == 0, i person row from 0, j item column from 0",
       "n_missing": int(np.isnan(X).sum()), "items": items}
lls, best = [], None
for seed in range(30):
    m = StepMix(n_components=2, measurement="categorical_nan", random_state=seed, max_iter=100000,
                abs_tol=1e-10, rel_tol=0, verbose=0, progress_bar=0)
    m.fit(X)
    ll = m.score(X) * n
    lls.append(ll)
    if best is None or ll > best[0]:
        best = (ll, m)
ll, m = best
p = m.get_parameters()
order = np.argsort(-p["weights"])
pis = np.asarray(p["measurement"]["pis"])[order]  # classes x (items * categories), item-major
out["K2"] = {"loglik": float(ll), "n_reaching_best": int(np.sum(np.abs(np.array(lls) - ll) < 1e-6)),
             "class_proportions": p["weights"][order].tolist(),
             "category_probabilities": pis.reshape(2, len(items), -1).tolist()}
print(ll, out["K2"]["n_reaching_best"], pis.shape)
with open("tests/reference/values/lca_categorical_missing_stepmix.json", "w") as f:
    json.dump(out, f, indent=1)
