"""Outcomes and covariates far from zero in units of their spread (a constant added to
them) give the same models: the fits must give the same log-likelihoods. References: lme4
1.1.31 lmer(REML = FALSE) (tests/reference/scripts/far_from_zero.R ->
tests/reference/values/far_from_zero.json)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference
from glmmix.exceptions import DesignError


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REF.parent / "data" / "sleepstudy.csv")


@pytest.fixture(scope="module")
def ref():
    return load_reference("far_from_zero.json")


def fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.ConvergenceWarning)
        return gm.fit(formula, data, family="gaussian", se="none", **kw)


@pytest.mark.parametrize("shift", [1e5, 1e6, 1e7])
def test_an_outcome_far_from_zero(sleep, ref, shift):
    # before: the homogeneous start's ridge (relative to log sigma's information, 1e19 here)
    # swamped the coefficients' step; Reaction + 1e5 with random intercepts ended 2e7 below
    r = ref["outcome_far"]
    res = fit("y ~ Days + (Days | Subject)", sleep.assign(y=sleep.Reaction + shift))
    assert res.converged
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6)
    assert res.params["Intercept"] - shift == pytest.approx(r["fixef"]["(Intercept)"] - 1e6, abs=1e-4)
    assert res.params["sigma"] == pytest.approx(r["sigma"], rel=1e-5)
    lm = fit("y ~ Days", sleep.assign(y=sleep.Reaction + shift))  # no random effects: OLS
    assert lm.llf == pytest.approx(fit("Reaction ~ Days", sleep).llf, abs=1e-8)


def test_a_covariate_far_from_zero(sleep, ref):
    r = ref["covariate_far_intercept"]
    for shift in (2000, 1e5):  # before: 1e5 stopped 1.48 below with a convergence warning
        res = fit("Reaction ~ Days + (1 | Subject)", sleep.assign(Days=sleep.Days + shift))
        assert res.llf == pytest.approx(r["logLik"], abs=1e-6)
        assert res.params["Days"] == pytest.approx(r["fixef"]["Days_far"], abs=1e-6)
    # a mixture of logistic regressions on a shifted covariate: the same maximum
    c = gm.datasets.load("contraception")
    kw = dict(n_classes=2, family="bernoulli", se="none", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = gm.fit("y ~ age | class ~ 1", c, **kw)
        far = gm.fit("y ~ age | class ~ 1", c.assign(age=c.age + 2000), **kw)  # before: 8.8 below
    assert far.llf == pytest.approx(base.llf, abs=1e-6)


def test_a_correlated_random_slope_far_from_zero_is_centred_inside_the_fit(sleep, ref):
    # before: refused (a fit on the raw column ends on the ridge of the intercept's covariance);
    # now centred inside the fit and mapped back (tests/test_far_slopes.py)
    far = sleep.assign(Days=sleep.Days + 2000)
    res = fit("Reaction ~ Days + (Days | Subject)", far)
    assert res.llf == pytest.approx(ref["outcome_far"]["logLik"], abs=1e-6)
    # the model with the column centred by hand: the same maximum
    assert fit("Reaction ~ Days + (I(Days - 2004) | Subject)", far).llf == pytest.approx(res.llf, abs=1e-6)
    assert fit("Reaction ~ Days + (Days | Subject)", sleep.assign(Days=sleep.Days + 100)).llf == pytest.approx(
        ref["outcome_far"]["logLik"], abs=1e-6)


def test_an_uncorrelated_random_slope_far_from_zero(sleep, ref):
    # (x || g) is another model once x is shifted, so it is not refused; its slope's scale is
    # the column's RMS. lmer stops at a singular fit (-897.0384); the maximum is higher.
    r = ref["covariate_far_uncorrelated"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        res = fit("Reaction ~ Days + (Days || Subject)", sleep.assign(Days=sleep.Days + 2000))
    assert res.converged
    assert res.llf > r["logLik"] + 0.1
    assert np.isfinite(res.llf) and res.llf < -896.9  # -896.9251


def test_a_covariates_units_do_not_make_a_fit_singular(sleep, ref):
    # Days in units of 1e-6 days: the slope's SD is 5.7e-6, which lme4's isSingular() (on the
    # relative Cholesky factor) would call singular; judged per unit of the column's RMS it is not
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.BoundaryWarning)
        res = fit("Reaction ~ Days + (Days | Subject)", sleep.assign(Days=sleep.Days * 1e6))
    assert res.llf == pytest.approx(ref["outcome_far"]["logLik"], abs=1e-6)


@pytest.fixture(scope="module")
def verbagg():
    va = gm.datasets.load("verbagg_long")
    va = va[va["id"] <= 80].copy()
    va["r3"] = pd.Categorical(va["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    return va


@pytest.mark.parametrize("formula, family, n_classes", [
    ("y ~ 0 + item + Anger + (1|id)", "bernoulli", 1),     # indicator columns play the intercept
    ("r3 ~ btype + Anger + (1|id)", "ordinal", 1),         # the thresholds play it
    ("y ~ item + Anger | class(id) ~ 1", "bernoulli", 2),  # sparse item dummies and an intercept
])
def test_a_covariate_far_from_zero_beside_items_or_thresholds(verbagg, formula, family, n_classes):
    """Anger + 1e5 is the same model as Anger: without an intercept column (``0 + item``, ordinal
    thresholds) and with sparse designs the fit once stopped short (0.2 and 8 log-likelihood
    units below, converged False). The ordinal GLMM on adaptive quadrature reached the maximum
    but stopped at max |gradient| 0.05, converged False: EM's metric had no cross information
    of the coefficients with the thresholds, so on the centred coordinates it put the far
    column's information at its raw size (8.9e12 against 1.4e4) and BFGS, restarted from it
    after each adaptation of the nodes, could not move that coefficient."""
    kw = dict(family=family, n_classes=n_classes, seed=1, se="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        near = gm.fit(formula, verbagg, **kw)
        warnings.simplefilter("error", gm.ConvergenceWarning)
        far = gm.fit(formula, verbagg.assign(Anger=verbagg["Anger"] + 1e5), **kw)
    assert far.converged and far.llf == pytest.approx(near.llf, abs=1e-5)
    assert sorted(far.params.filter(like="Anger")) == pytest.approx(sorted(near.params.filter(like="Anger")),
                                                                    rel=1e-4)
