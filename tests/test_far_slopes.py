"""Correlated random slopes on columns far from zero, fitted on the centred columns and
reported on the raw ones (glmmix/centring.py). References: lme4 1.1.31 (lmer ML on sleepstudy
with Days + 1e4, where lmer on the raw column stops 21 below at a singular fit, and its fit on
the centred column mapped by hand; glmer Laplace on contraception with age + 2000, fitted on
the centred column and mapped by hand), tests/reference/scripts/far_slopes.R ->
tests/reference/values/far_slopes.json; and glmmix's own fit of the centred column
(``I(x - c)``), mapped by hand: Sigma_raw = A Sigma_c A', A = [[1, -c], [0, 1]]."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference
from glmmix.centring import far_slopes
from glmmix.exceptions import DesignError


@pytest.fixture(scope="module")
def ref():
    return load_reference("far_slopes.json")


@pytest.fixture(scope="module")
def sleep():
    d = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    return d.assign(Days=d.Days + 1e4)


@pytest.fixture(scope="module")
def far(sleep):
    return gm.fit("Reaction ~ Days + (Days | Subject)", sleep)


def by_hand(res, c, slope, term):
    """A fit on the centred column (I(x - c), in the random term only) mapped to the raw
    column: the random intercept's SD and its correlation with the slope, and the reported parameters' covariance (delta
    method through the map, by central differences)."""
    p = res.params
    s0, s1, r = (p[f"sd({term}:Intercept)"], p[f"sd({term}:{slope})"], p[f"cor({term}:{slope},Intercept)"])

    def raw(v):
        v = v.copy()
        a0, a1, rho = v[3], v[4], v[5]
        S = np.array([[a0 * a0, rho * a0 * a1], [rho * a0 * a1, a1 * a1]])
        A = np.array([[1.0, -c], [0.0, 1.0]])
        S = A @ S @ A.T
        v[3] = np.sqrt(S[0, 0])
        v[5] = S[0, 1] / np.sqrt(S[0, 0] * S[1, 1])
        return v

    order = ["Intercept", p.index[1], p.index[2], f"sd({term}:Intercept)", f"sd({term}:{slope})",
             f"cor({term}:{slope},Intercept)"]
    v = p[order].to_numpy(float)
    V = res.cov_params().loc[order, order].to_numpy(float)
    J = np.empty((6, 6))
    for i in range(6):
        h = 1e-6 * max(abs(v[i]), np.sqrt(V[i, i]))
        e = np.zeros(6)
        e[i] = h
        J[:, i] = (raw(v + e) - raw(v - e)) / (2 * h)
    assert s0 > 0 and s1 > 0 and abs(r) < 1
    return raw(v), J @ V @ J.T


def test_sleepstudy_far_from_zero_reaches_lmers_maximum(far, ref):
    r = ref["sleep_centred"]
    assert ref["sleep_raw"]["logLik"] < r["logLik"] - 20  # lmer on the raw column: a singular fit below
    assert far.converged
    assert far.llf == pytest.approx(r["logLik"], abs=1e-6)
    assert far.model.loglike(far.params) == pytest.approx(far.llf, abs=1e-6)  # the raw model at the mapped estimates
    text = " ".join(str(far.summary()).split())
    assert "column 'Days' at 10004.5 (3483 SDs from zero) was centred inside the fit" in text
    assert "I(Days - 10004)" in text
    p = far.params
    assert p["Intercept"] == pytest.approx(r["fixef"][0], rel=1e-7)
    assert p["Days"] == pytest.approx(r["fixef"][1], rel=1e-6)
    assert p["sd(Subject:Intercept)"] == pytest.approx(r["re"]["sd"][0], rel=5e-5)
    assert p["sd(Subject:Days)"] == pytest.approx(r["re"]["sd"][1], rel=5e-5)
    assert p["cor(Subject:Days,Intercept)"] == pytest.approx(r["re"]["cor"], abs=1e-9)
    assert far.bse["Intercept"] == pytest.approx(r["fixef_se"][0], rel=1e-4)
    # random-effect modes and their SDs on the raw column (lme4's conditional modes and condVar)
    # (the intercepts, at Days = 0, are the effects at the centre minus c x slope: 1e-4 of a
    # slope's difference between the two optima moves them by 1)
    re = far.random_effects()
    c = r["centre"]
    np.testing.assert_allclose(re["Days"], r["ranef_slope"], rtol=0, atol=3e-4)
    np.testing.assert_allclose(re["Intercept"], r["ranef_intercept"], rtol=0, atol=3e-4 * c)
    np.testing.assert_allclose(re["Intercept"] + c * re["Days"],
                               np.add(r["ranef_intercept"], np.multiply(c, r["ranef_slope"])), rtol=0, atol=1e-3)
    np.testing.assert_allclose(re["sd:Intercept"], r["ranef_intercept_sd"], rtol=1e-4)
    np.testing.assert_allclose(re["sd:Days"], r["ranef_slope_sd"], rtol=1e-4)


def test_sleepstudy_far_equals_its_own_centred_fit_mapped_by_hand(far, sleep):
    c = float(sleep.Days.mean())
    cen = gm.fit(f"Reaction ~ Days + (I(Days - {c!r}) | Subject)", sleep)
    assert far.llf == pytest.approx(cen.llf, abs=1e-7)
    want, V = by_hand(cen, c, f"I(Days - {c!r})", "Subject")
    got = far.params[["Intercept", "Days", "sigma", "sd(Subject:Intercept)", "sd(Subject:Days)",
                      "cor(Subject:Days,Intercept)"]]
    np.testing.assert_allclose(got.to_numpy(float)[:5], want[:5], rtol=2e-6)
    assert got.iloc[5] - want[5] == pytest.approx(0, abs=1e-11)
    np.testing.assert_allclose(far.bse[got.index].to_numpy(float), np.sqrt(np.diag(V)), rtol=1e-3)
    # predictions: the same linear predictors, marginal and with the clusters' effects
    for which in ("marginal", "conditional"):
        np.testing.assert_allclose(far.predict(which=which), cen.predict(which=which), rtol=1e-7)


@pytest.mark.parametrize("integration", ["laplace", "agh"])
def test_binomial_glmm_far_from_zero(integration, ref):
    co = gm.datasets.load("contraception")
    d = co.assign(age=co.age + 2000)
    assert [s.distance.round() for s in far_slopes(gm.MixtureModel.from_formula(
        "y ~ age + (age | district)", d, family="bernoulli").design)] == [pytest.approx([222.0], abs=1)]
    res = gm.fit("y ~ age + urban + (age | district)", d, family="bernoulli", integration=integration)
    assert res.converged
    r = ref["contraception_centred"]
    c = r["centre"]
    if integration == "laplace":  # glmer's Laplace fit on the centred column, mapped
        assert res.llf == pytest.approx(r["logLik"], abs=1e-6)
        assert res.params["Intercept"] == pytest.approx(r["fixef"][0], rel=1e-4)
        assert res.params["sd(district:Intercept)"] == pytest.approx(r["re"]["sd"][0], rel=5e-4)
        assert res.params["cor(district:age,Intercept)"] == pytest.approx(r["re"]["cor"], abs=1e-6)
        np.testing.assert_allclose(res.random_effects(kind="map")["Intercept"], r["ranef_intercept"], rtol=5e-4,
                                   atol=1e-3)
    cen = gm.fit(f"y ~ age + urban + (I(age - {c!r}) | district)", d, family="bernoulli", integration=integration)
    assert res.llf == pytest.approx(cen.llf, abs=1e-6)
    want, V = by_hand(cen, c, f"I(age - {c!r})", "district")
    names = ["Intercept", "age", "urban[T.Y]", "sd(district:Intercept)", "sd(district:age)",
             "cor(district:age,Intercept)"]
    np.testing.assert_allclose(res.params[names].to_numpy(float), want, rtol=1e-5)
    np.testing.assert_allclose(res.bse[names].to_numpy(float), np.sqrt(np.diag(V)), rtol=2e-3)


def test_constraints_on_the_reported_scale(sleep, far):
    # starting values on the raw scale are mapped (here: at the estimates, one evaluation away)
    res = gm.fit("Reaction ~ Days + (Days | Subject)", sleep, se="none", start_values=dict(far.params))
    assert res.llf == pytest.approx(far.llf, abs=1e-7)
    # a parameter outside the term is fixed as given
    fixed = gm.fit("Reaction ~ Days + (Days | Subject)", sleep, se="none", fix={"sigma": 30.0})
    assert fixed.params.get("sigma") is None and fixed.fixed_params["sigma"] == pytest.approx(30.0, rel=1e-15)
    # the random intercept's SD at Days = 0 mixes every entry of the term's covariance under the map
    with pytest.raises(DesignError, match=r"'Days' is 3483 SDs from zero.*sd\(Subject:Intercept\).*I\(Days - 10004\)"):
        gm.fit("Reaction ~ Days + (Days | Subject)", sleep, fix={"sd(Subject:Intercept)": 5e4})
    with pytest.raises(DesignError, match=r"cannot be carried"):
        gm.fit("Reaction ~ Days + (Days | Subject)", sleep, equal=[["sd(Subject:Intercept)", "sigma"]])


def test_moderately_far_columns(sleep):
    base = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    ll = gm.fit("Reaction ~ Days + (Days | Subject)", base, se="none").llf
    d = base.assign(Days=base.Days + 100)  # 35 SDs: centred inside the fit
    assert gm.MixtureModel.from_formula("Reaction ~ Days + (Days | Subject)", d).centring is not None
    assert gm.fit("Reaction ~ Days + (Days | Subject)", d, se="none").llf == pytest.approx(ll, abs=1e-6)
    # a constraint the map cannot carry: fitted on the raw column there, as before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("Reaction ~ Days + (Days | Subject)", d, se="none", fix={"sd(Subject:Intercept)": 500.0})
    assert res.model.centring is None and np.isfinite(res.llf)
    # near zero: nothing to centre
    assert gm.MixtureModel.from_formula("Reaction ~ Days + (Days | Subject)", base).centring is None


def test_regression_parameterization_and_saved_results(sleep, far, tmp_path):
    reg = gm.fit("Reaction ~ Days + (Days | Subject)", sleep, re_parameterization="regression")
    assert reg.llf == pytest.approx(far.llf, abs=1e-7)
    cov = np.array([[far.params["sd(Subject:Intercept)"] ** 2, 0], [0, 0]])
    cov[1, 0] = far.params["cor(Subject:Days,Intercept)"] * far.params["sd(Subject:Intercept)"] * far.params["sd(Subject:Days)"]
    assert reg.params["sd(Subject:Intercept)"] == pytest.approx(far.params["sd(Subject:Intercept)"], rel=1e-6)
    assert reg.params["regression(Subject:Days on Intercept)"] == pytest.approx(cov[1, 0] / cov[0, 0], rel=1e-5)
    far.save(tmp_path / "far.json")
    back = gm.MixtureResults.load(tmp_path / "far.json")
    pd.testing.assert_series_equal(back.params, far.params)
