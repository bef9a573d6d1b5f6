"""Three-step distal outcome (BCH and ML corrections, modal assignment) with StepMix 3.0.0.

Data: simulated once (numpy seed 7) and stored in tests/reference/data/threestep_distal.csv:
1,000 units, 6 binary items (P(y = 1) 0.8 in class 1, 0.25 in class 2, class 2 40%), a distal
z ~ N(mu_c, 1) with mu = (0, 1). StepMix: binary measurement, 2 classes, 5 random starts,
structural "gaussian_diag" (class-specific mean and variance of z). Run from the repository
root: python tests/reference/scripts/threestep_stepmix.py
"""

import json
import os

import numpy as np
import pandas as pd
import stepmix
from stepmix.stepmix import StepMix

DATA = "tests/reference/data/threestep_distal.csv"
if not os.path.exists(DATA):
    rng = np.random.default_rng(7)
    n, J = 1000, 6
    c = (rng.uniform(size=n) < 0.4).astype(int)
    Y = (rng.uniform(size=(n, J)) < np.where(c[:, None] == 0, 0.8, 0.25)).astype(int)
    z = np.array([0.0, 1.0])[c] + rng.normal(size=n)
    wide = pd.DataFrame(Y, columns=[f"u{j}" for j in range(J)])
    wide["z"] = z
    wide["id"] = np.arange(n)
    wide.to_csv(DATA, index=False)
wide = pd.read_csv(DATA)
items = [c for c in wide.columns if c.startswith("u")]
out = {"software": {"stepmix": stepmix.__version__ if hasattr(stepmix, "__version__") else "3.0.0"}, "data": DATA}
for corr in ("BCH", "ML"):
    m = StepMix(n_components=2, measurement="binary", structural="gaussian_diag", n_steps=3, correction=corr,
                assignment="modal", random_state=1, n_init=5, max_iter=10000, abs_tol=1e-10, rel_tol=0, verbose=0,
                progress_bar=0)
    m.fit(wide[items], wide[["z"]])
    p = m.get_parameters()
    meas = p["measurement"]["pis"][:, 0]  # P(u0 = 1) per class: to match class order
    out[corr] = {"call": f"StepMix(n_components=2, measurement='binary', structural='gaussian_diag', n_steps=3, "
                         f"correction='{corr}', assignment='modal', random_state=1, n_init=5, max_iter=10000, "
                         "abs_tol=1e-10, rel_tol=0).fit(items, z)",
                 "p_u0": meas.tolist(), "means": p["structural"]["means"].ravel().tolist(),
                 "sds": np.sqrt(p["structural"]["covariances"].ravel()).tolist(),
                 "class_weights": p["weights"].tolist()}
    print(corr, out[corr])
# covariates of class membership: logit P(class 1) = 0.3 + 0.8 x (numpy seed 11), stored in
# tests/reference/data/threestep_covariate.csv; StepMix's multinomial logits (one row of
# coefficients per class) by Newton-Raphson run to convergence (its default, one gradient
# step per M-step, stops short: BCH 0.276 and 0.740 instead of 0.323 and 0.875)
COV = "tests/reference/data/threestep_covariate.csv"
if not os.path.exists(COV):
    rng = np.random.default_rng(11)
    n, J = 1000, 6
    x = rng.normal(size=n)
    c = (rng.uniform(size=n) >= 1 / (1 + np.exp(-(0.3 + 0.8 * x)))).astype(int)
    Y = (rng.uniform(size=(n, J)) < np.where(c[:, None] == 0, 0.8, 0.25)).astype(int)
    cov = pd.DataFrame(Y, columns=[f"u{j}" for j in range(J)])
    cov["x"] = x
    cov["id"] = np.arange(n)
    cov.to_csv(COV, index=False)
cov = pd.read_csv(COV)
for corr in ("BCH", "ML"):
    m = StepMix(n_components=2, measurement="binary", structural="covariate", n_steps=3, correction=corr,
                assignment="modal", random_state=1, n_init=5, max_iter=10000, abs_tol=1e-10, rel_tol=0, verbose=0,
                progress_bar=0, structural_params={"method": "newton-raphson", "max_iter": 100})
    m.fit(cov[items], cov[["x"]])
    p = m.get_parameters()
    out[f"covariate_{corr}"] = {
        "call": f"StepMix(n_components=2, measurement='binary', structural='covariate', n_steps=3, correction='{corr}', "
                "assignment='modal', random_state=1, n_init=5, max_iter=10000, abs_tol=1e-10, rel_tol=0, "
                "structural_params={'method': 'newton-raphson', 'max_iter': 100}).fit(items, x)",
        "p_u0": p["measurement"]["pis"][:, 0].tolist(), "beta": p["structural"]["beta"].tolist()}
    print(corr, out[f"covariate_{corr}"])
with open("tests/reference/values/threestep_stepmix.json", "w") as fh:
    json.dump(out, fh, indent=2)
