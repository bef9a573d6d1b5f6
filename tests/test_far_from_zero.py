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


@pytest.mark.parametrize("shift", [1e8, 1e10])
def test_a_covariate_1e8_sds_from_zero_is_not_a_second_intercept(sleep, ref, shift):
    # Days + 1e8 (SD 2.87; every value exact in double precision) once had SD 0 by the one-pass
    # sum of squares: the column was taken for a constant, the fit stopped at Days ~ 0 (OLS 30.4
    # below, the LMM 16.9 below with a convergence warning; at 1e10 only a singular-information
    # warning). The slope does not depend on the shift: lme4 1.1.31's on Days + 2000.
    r = ref["covariate_far_intercept"]
    far = sleep.assign(Days=sleep.Days + shift)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = gm.fit("Reaction ~ Days + (1 | Subject)", far, family="gaussian")
        ols = gm.fit("Reaction ~ Days", far, family="gaussian")
    assert res.llf == pytest.approx(r["logLik"], abs=1e-5)
    assert res.params["Days"] == pytest.approx(r["fixef"]["Days_far"], rel=1e-5)
    near = gm.fit("Reaction ~ Days + (1 | Subject)", sleep, family="gaussian")
    # at 1e10 the linear predictor itself carries ~1e-5 of rounding (intercept -1e11): 6e-4 off
    assert res.bse["Days"] == pytest.approx(near.bse["Days"], rel=1e-4 if shift < 1e9 else 2e-3)
    assert ols.llf == pytest.approx(fit("Reaction ~ Days", sleep).llf, abs=1e-5)


def test_column_moments_are_exact_far_from_zero():
    import scipy.sparse as sp

    from glmmix.mathutils import OnWorkers, column_moments
    rng = np.random.default_rng(1)
    X = np.c_[np.ones(1000), rng.integers(0, 10, 1000) + 1e10, rng.normal(size=1000) * 1e-3 + 5e4,
              np.zeros(1000)]
    X[::7, 3] = 1e9  # sparse-like column far from zero where it is nonzero
    want = np.std(X - X[0], axis=0)  # shifted by a row: exact
    for M in (X, sp.csr_matrix(X), OnWorkers.join([OnWorkers.of("X", X[:300]), OnWorkers.of("X", X[300:])])):
        mean, sd, rms, const = column_moments(M)
        assert sd == pytest.approx(want, rel=1e-7, abs=1e-12)
        assert const.tolist() == [True, False, False, False]


def test_a_class_covariate_far_from_zero_keeps_its_standard_errors(verbagg):
    # the class logits' intercept and a covariate far from zero (Anger + 1e4) were nearly
    # collinear on the optimizer's coordinates: a SingularInformationWarning and no standard
    # errors at all (K = 2, full VerbAgg). The class logits are now centred like the outcome's.
    kw = dict(family="bernoulli", n_classes=2, seed=1)
    f = "y ~ 0 + item | class(id) ~ 1 + Anger"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        near = gm.fit(f, verbagg, **kw)
        warnings.simplefilter("error", gm.SingularInformationWarning)
        far = gm.fit(f, verbagg.assign(Anger=verbagg["Anger"] + 1e4), **kw)
    assert far.llf == pytest.approx(near.llf, abs=1e-6)
    b, a = "logit:class1:Anger", "logit:class1:Intercept"
    assert far.params[b] == pytest.approx(near.params[b], rel=1e-5)
    assert far.params[a] == pytest.approx(near.params[a] - 1e4 * near.params[b], rel=1e-5)
    assert far.bse[b] == pytest.approx(near.bse[b], rel=1e-4)
    V = near.cov_params().loc[[a, b], [a, b]].to_numpy()
    g = np.array([1.0, -1e4])  # the far intercept is a - 1e4 b
    assert far.bse[a] == pytest.approx(np.sqrt(g @ V @ g), rel=1e-4)
    items = [p for p in near.params.index if "item" in p]
    assert far.bse[items].to_numpy() == pytest.approx(near.bse[items].to_numpy(), rel=1e-4, nan_ok=True)


@pytest.mark.parametrize("sds", [1e7, 1e9])
def test_crossed_gaussian_outcome_far_from_zero(sds):
    # lme4 1.1.31's Penicillin (tests/reference/scripts/laplace_extra.R), diameter + 1e7 or 1e9
    # of its SDs: the crossed engine added the effects a u to eta0 ~ 1e9 before y - eta, so u
    # kept 7 digits and the SEs (differences of the gradient) were 7.7e-4 and 22% off; y - eta0
    # is now formed first (measured after: 6.6e-5 and 6.8e-4, the one-grouping engine's)
    r = load_reference("laplace_extra.json")["penicillin"]
    p = pd.read_csv(REF.parent / "data" / "penicillin.csv")
    f = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    near = gm.fit(f, p, family="gaussian")
    shift = sds * p["diameter"].std()
    far = gm.fit(f, p.assign(diameter=p["diameter"] + shift), family="gaussian")
    assert far.llf == pytest.approx(r["logLik"], abs=1e-6)
    assert far.params["Intercept"] - shift == pytest.approx(r["intercept"], abs=1e-6 * max(1.0, shift * 1e-9))
    assert near.bse["Intercept"] == pytest.approx(r["se_intercept"], rel=1e-4)
    assert far.bse.to_numpy() == pytest.approx(near.bse.to_numpy(), rel=2e-3)
    assert far.params["sd(sample:Intercept)"] == pytest.approx(r["sd_sample"], rel=1e-5)
