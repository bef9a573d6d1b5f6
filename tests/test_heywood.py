"""Residual SDs at 0 in models with random effects or factors.

A Heywood case (an item measuring a factor without error) has a bounded likelihood whose
supremum lies at SD = 0: the fit reports it as a boundary estimate with the supremum's
log-likelihood. Reference: lavaan 0.6.14, cfa() with bounds = "pos.var", on iris's four
measurements (tests/reference/scripts/heywood_iris.R); its log-likelihood equals the
multivariate normal density at its estimates. A residual SD whose rows the fixed effects fit
exactly, with no random effect on them, makes the likelihood unbounded and stays reported
as such.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

REF = Path(__file__).parent / "reference"
ITEMS = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]


@pytest.fixture(scope="module")
def iris_long():
    wide = pd.read_csv(REF / "data" / "iris.csv")[ITEMS].copy()
    wide["id"] = np.arange(len(wide))
    return gm.wide_to_long(wide, id="id")


@pytest.fixture(scope="module")
def ref():
    return json.loads((REF / "values" / "heywood_iris.json").read_text())["bounded"]


def _mvn_loglik(theta, names, X):
    p = dict(zip(names, theta))
    mu = np.array([p[f"item[{i}]"] for i in ITEMS])
    lam = np.array([p[f"loading(id:item[{i}])"] for i in ITEMS])
    sd = np.exp([p[f"sigma[{i}]"] for i in ITEMS])
    S = np.outer(lam, lam) + np.diag(sd ** 2)
    R = X - mu
    _, ld = np.linalg.slogdet(S)
    return -0.5 * (len(X) * (len(ITEMS) * np.log(2 * np.pi) + ld) + np.einsum("ij,jk,ik->", R, np.linalg.inv(S), R))


@pytest.mark.parametrize("integration", ["agh", "laplace"])
def test_quadrature_follows_a_nearly_degenerate_posterior(iris_long, integration):
    """With one residual SD at 1e-5 the factor's posterior SD is about 6e-6: the rule's scale
    follows it (no fixed floor), and the log-likelihood equals the closed form."""
    m = gm.MixtureModel.from_formula("y ~ 0 + item + rr(0 + item | id, 1)", iris_long, family="gaussian",
                                     sigma_by="item", integration=integration)
    names = list(m.param_names)
    th = np.array([5.84, 3.06, 3.76, 1.2, -0.9, -0.93, np.log(1e-5), -1.58, 0.72, -0.19, 1.76, 0.73])
    X = pd.read_csv(REF / "data" / "iris.csv")[ITEMS].to_numpy()
    want = _mvn_loglik(th, names, X)
    got = m.likelihood.adapt(th) if integration == "agh" else m.loglike(th)
    assert got == pytest.approx(want, abs=1e-6)


def test_heywood_case_is_a_boundary_estimate_of_a_bounded_likelihood(iris_long, ref):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", iris_long, family="gaussian", sigma_by="item")
    kinds = {w.category for w in caught}
    assert gm.BoundaryWarning in kinds and gm.DegenerateLikelihoodWarning not in kinds
    assert gm.ConvergenceWarning not in kinds and res.converged
    assert res.llf == pytest.approx(ref["logLik"], abs=2e-5)
    assert [res.params.index[i] for i in res.boundary] == ["sigma[Petal.Length]"]
    assert res.params["sigma[Petal.Length]"] < 1e-3 and np.isnan(res.bse["sigma[Petal.Length]"])
    for item in ITEMS:
        assert res.params[f"loading(id:item[{item}])"] == pytest.approx(ref["loadings"][item], abs=2e-4)
        assert res.params[f"item[{item}]"] == pytest.approx(ref["means"][item], abs=2e-4)
        if item != "Petal.Length":
            assert res.params[f"sigma[{item}]"] ** 2 == pytest.approx(ref["residual_variances"][item], abs=2e-4)
            assert res.bse[f"sigma[{item}]"] > 0


def test_residual_sd_of_rows_fitted_exactly_is_still_unbounded():
    """Item c is fitted exactly by its fixed effects and no random effect loads on it: as its
    SD shrinks the likelihood grows without bound (no Heywood case)."""
    rng = np.random.default_rng(3)
    n = 80
    ids = np.repeat(np.arange(n), 3)
    item = np.tile(["a", "b", "c"], n)
    x = rng.normal(size=3 * n)
    u = rng.normal(size=n)[ids]
    y = np.where(item == "c", 1.0 + 2.0 * x, 0.5 + u + rng.normal(size=3 * n))
    d = pd.DataFrame({"id": ids, "item": item, "y": y, "cx": np.where(item == "c", x, 0.0),
                      "ab": (item != "c").astype(float)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ 0 + item + cx + (0 + ab | id)", d, family="gaussian", sigma_by="item")
    assert gm.DegenerateLikelihoodWarning in {w.category for w in caught}
    assert not res.converged
