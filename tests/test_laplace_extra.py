"""The Laplace approximation's exact gradient when the curvature moves with family parameters:
the gaussian residual SD (``w = 1 / sigma^2``) and ordinal thresholds. Their derivatives enter
through ``Family.curvature_extra`` (analytic for the gaussian, differences at fixed eta for the
others); the gradient was taken by central differences of the re-optimized approximation
before, 2 x (parameters) mode searches per gradient.

Reference values: R 4.2.2, lme4 1.1.31 and ordinal 2022.11.16
(tests/reference/scripts/laplace_extra.R, tests/reference/values/laplace_extra.json).
"""

import numpy as np
import pandas as pd
import pytest
from conftest import load_reference

import glmmix as gm
from glmmix.likelihood import central_gradient

REF = load_reference("laplace_extra.json")
DATA = __import__("pathlib").Path(__file__).parent / "reference" / "data"


@pytest.fixture(scope="module")
def verbagg():
    va = gm.datasets.load("verbagg_long")
    va["r3"] = pd.Categorical(va["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    return va


@pytest.fixture(scope="module")
def penicillin():
    return pd.read_csv(DATA / "penicillin.csv")


def _cases(verbagg, penicillin):
    small = verbagg[verbagg["id"] <= 50]
    return [
        ("Reaction ~ Days + (Days | Subject)", gm.datasets.load("sleepstudy"), "gaussian", {}),
        ("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin, "gaussian", {}),
        ("yg ~ btype + Anger + (1 | id) + (1 | item)", small.assign(yg=small["Anger"] + 3.0 * small["y"]),
         "gaussian", {"sigma_by": "btype"}),
        ("r3 ~ btype + Anger + (1 | id)", small, "ordinal", {}),
        ("r3 ~ btype + Anger + (1 | id) + (1 | item)", small, "ordinal", {}),
        ("r3 ~ btype + (1 | id)", small, "ordinal", {"thresholds_by": "situ"}),
    ]


@pytest.mark.parametrize("case", range(6))
def test_laplace_gradient_with_family_parameters_matches_differences(verbagg, penicillin, case):
    formula, data, family, kw = _cases(verbagg, penicillin)[case]
    model = gm.MixtureModel.from_formula(formula, data, 1, family, integration="laplace", **kw)
    lik = model.likelihood
    assert lik.laplace_exact
    fit = gm.fit(formula, data, family=family, integration="laplace", se="none", **kw)
    theta = fit.theta + 0.05 * np.random.default_rng(case).normal(size=fit.theta.size)
    _, grad, _ = lik.loglik_and_grad(theta)
    # differences of the re-optimized approximation (modes to 1e-10): steps of 1e-4
    fd = central_gradient(lik.loglik, theta, 1e-4)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=2e-5)


def test_crossed_gaussian_is_lmer(penicillin):
    ref = REF["penicillin"]
    res = gm.fit("diameter ~ 1 + (1 | plate) + (1 | sample)", penicillin)
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    assert res.params["sd(plate:Intercept)"] == pytest.approx(ref["sd_plate"], rel=1e-4)
    assert res.params["sd(sample:Intercept)"] == pytest.approx(ref["sd_sample"], rel=1e-4)
    assert res.params["sigma"] == pytest.approx(ref["sigma"], rel=1e-4)
    assert res.bse["Intercept"] == pytest.approx(ref["se_intercept"], rel=1e-3)


def test_crossed_ordinal_is_clmm(verbagg):
    ref = REF["verbagg_ordinal"]
    res = gm.fit("r3 ~ btype + Anger + Gender + (1 | id) + (1 | item)", verbagg, family="ordinal")
    assert res.converged
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    names = {"btype[T.scold]": "btypescold", "btype[T.shout]": "btypeshout", "Anger": "Anger",
             "Gender[T.M]": "GenderM"}
    for ours, theirs in names.items():
        assert res.params[ours] == pytest.approx(ref["beta"][theirs], abs=2e-4)
        assert res.bse[ours] == pytest.approx(ref["se"][theirs], rel=2e-3)
    assert [res.params["threshold[1]"], res.params["threshold[2]"]] == pytest.approx(
        list(ref["alpha"].values()), abs=2e-4)
    assert res.params["sd(id:Intercept)"] == pytest.approx(ref["sd"]["id"], rel=1e-4)
    assert res.params["sd(item:Intercept)"] == pytest.approx(ref["sd"]["item"], rel=1e-4)
