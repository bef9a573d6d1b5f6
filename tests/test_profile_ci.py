"""Profile-likelihood confidence intervals, ``conf_int(method="profile")``, against lme4 1.1.31's
``confint(method = "profile")`` (ML fits on sleepstudy, the correlated term's correlation and
later SD included) and MASS 7.3's profile intervals of a logistic GLM
(tests/reference/scripts/profile_ci.R, values in profile_ci.json)."""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

REF = Path(__file__).parent / "reference"
VAL = json.loads((REF / "values" / "profile_ci.json").read_text())
LME4 = {".sig01": "sd(Subject:Intercept)", ".sig02": "sd(Subject:Days)", ".sigma": "sigma",
        "(Intercept)": "Intercept", "Days": "Days"}


@pytest.fixture(scope="module")
def sleep():
    return pd.read_csv(REF / "data" / "sleepstudy.csv")


def _ref(case, names):
    r = VAL[case]
    return pd.DataFrame({0: r["lower"], 1: r["upper"]}, index=[names.get(k, k) for k in r["rows"]])


def test_glm_profile_intervals_match_mass():
    co = gm.datasets.load("contraception")
    res = gm.fit("y ~ age + urban", co, family="bernoulli")
    assert res.llf == pytest.approx(VAL["glm"]["logLik"], abs=1e-6)
    got = res.conf_int(method="profile")
    want = _ref("glm", {"(Intercept)": "Intercept", "urbanY": "urban[T.Y]"}).loc[got.index]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=2e-5 * res.bse.max())
    # not the Wald intervals (the profile is asymmetric about the estimate)
    assert not np.allclose(got.to_numpy(), res.conf_int().to_numpy(), atol=1e-4)


def test_lmm_profile_intervals_match_lme4(sleep):
    res = gm.fit("Reaction ~ Days + (Days || Subject)", sleep)
    assert res.llf == pytest.approx(VAL["uncorrelated"]["logLik"], abs=1e-5)
    names = ["Days", "sd(Subject:Intercept)"]
    got = res.conf_int(method="profile", params=names)
    want = _ref("uncorrelated", LME4).loc[names]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=2e-5)


def test_correlated_term_profiles_match_lme4(sleep):
    """The correlation and the later SD of (Days | Subject), which fix= cannot hold, by
    constrained refits (lme4's .sig02 and .sig03); the fitted nodes are put back afterwards."""
    res = gm.fit("Reaction ~ Days + (Days | Subject)", sleep)
    assert res.llf == pytest.approx(VAL["correlated"]["logLik"], abs=1e-5)
    before = res.random_effects()
    names = ["cor(Subject:Days,Intercept)", "sd(Subject:Days)", "sd(Subject:Intercept)"]
    got = res.conf_int(method="profile", params=names)
    want = _ref("correlated", {".sig01": "sd(Subject:Intercept)", ".sig02": "cor(Subject:Days,Intercept)",
                               ".sig03": "sd(Subject:Days)"}).loc[names]
    # lme4's and glmmix's roots are found to 1e-4 of the SE
    assert np.all(np.abs(got.to_numpy() - want.to_numpy()) <= 2e-4 * res.bse[names].to_numpy()[:, None])
    pd.testing.assert_frame_equal(res.random_effects(), before)
    assert res.model.loglike(res.params) == pytest.approx(res.llf, abs=1e-8)


def test_profile_arguments_and_methods(sleep):
    res = gm.fit("Reaction ~ Days + (Days | Subject)", sleep, se="none")
    with pytest.raises(gm.GlmmixError, match="not free parameters"):
        res.conf_int(method="profile", params=["nope"])
    with pytest.raises(gm.GlmmixError, match="'wald' or 'profile'"):
        res.conf_int(method="boot")
    with pytest.raises(gm.GlmmixError, match="params= selects"):
        res.conf_int(params=["Days"])


def test_an_sd_whose_profile_reaches_zero_ends_at_zero():
    """Binary data simulated without group effects (singular_binary.csv, glmer's SD 0): the
    profile of the SD stays within the limit down to 0, so the interval starts at 0."""
    d = pd.read_csv(REF / "data" / "singular_binary.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ x + (1|g)", d, family="bernoulli")
        ci = res.conf_int(method="profile", params=["sd(g:Intercept)"])
    assert ci.loc["sd(g:Intercept)", 0] == 0.0
    hi = ci.loc["sd(g:Intercept)", 1]
    assert 0 < hi < 5
    # the SD's standard error at 0 is the profile's curvature there (the delta method's
    # Jacobian of sd = |L| is one-sided at the kink: a central difference across it gave
    # 0.065 instead of 0.30)
    dev = 2 * (res.llf - gm.fit("y ~ x + (1|g)", d, family="bernoulli", fix={"sd(g:Intercept)": 0.05},
                                start_from=res, starts=(0, 1), se="none").llf)
    assert res.bse["sd(g:Intercept)"] == pytest.approx(0.05 / np.sqrt(dev), rel=0.02)
    # at the upper limit the deviance is the chi-square(1) 95% point
    ll = gm.fit("y ~ x + (1|g)", d, family="bernoulli", fix={"sd(g:Intercept)": hi}, start_from=res,
                starts=(0, 1), se="none").llf
    assert 2 * (res.llf - ll) == pytest.approx(3.841458820694124, abs=2e-3)


@pytest.mark.parametrize("kw, match", [
    ({"params": 123}, "params must be a parameter label or a non-empty list"),
    ({"params": []}, "non-empty list"),
    ({"params": [1]}, "non-empty list"),
    ({"alpha": True}, "alpha must be a number in \\(0, 1\\)"),
    ({"alpha": 1.5}, "alpha must be"),
    ({"alpha": float("nan")}, "alpha must be"),
])
def test_malformed_profile_arguments_are_refused(kw, match):
    res = gm.fit("y ~ age", gm.datasets.load("contraception"), family="bernoulli", se="none")
    with pytest.raises(gm.GlmmixError, match=match):
        res.conf_int(method="profile", **kw)


def test_a_far_slopes_model_is_profiled_on_its_centred_twin(sleep):
    """Days + 1e4 (centring.py): the parameters the map leaves alone have the intervals of
    the model on Days; the raw column's correlation (-0.99999991) gets an interval inside
    (-1, its estimate's side)."""
    far = gm.fit("Reaction ~ Days + (Days | Subject)", sleep.assign(Days=sleep.Days + 1e4))
    names = ["sd(Subject:Days)", "Days"]
    got = far.conf_int(method="profile", params=names)
    want = _ref("correlated", {".sig03": "sd(Subject:Days)"}).loc[names]
    assert np.all(np.abs(got.to_numpy() - want.to_numpy()) <= 2e-4 * far.bse[names].to_numpy()[:, None])


def test_the_refits_gradient_matches_finite_differences(sleep):
    """The refits' objective in the whitened coordinates theta = t0 + C z: its gradient (the
    likelihood's exact one, times C) against central differences, at a point off the maximum."""
    from glmmix.proflik import _Frame

    res = gm.fit("Reaction ~ Days + (Days | Subject)", sleep, se="none")
    fr = _Frame.whitened(res.model.likelihood, res.theta)
    assert np.allclose(fr.z(res.theta), 0)
    z = np.linspace(-0.5, 0.5, res.theta.size)
    _, g = fr.objective(z, res.llf)
    num = np.array([(fr.objective(z + h, res.llf)[0] - fr.objective(z - h, res.llf)[0]) / 2e-6
                    for h in 1e-6 * np.eye(z.size)])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6)
