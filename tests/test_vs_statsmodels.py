"""One class, no random effects: glmmix must equal a GLM (statsmodels GLM and OrderedModel).

Reference software: statsmodels (maximum-likelihood GLM by IRLS; OrderedModel by ML).
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.miscmodels.ordinal_model import OrderedModel

import glmmix as gm


@pytest.fixture(scope="module")
def contra():
    return gm.datasets.load("contraception")


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_bernoulli_glm(contra, link):
    res = gm.fit("y ~ age + I(age**2) + urban + livch", contra, family="bernoulli", link=link)
    X = res.model.design.X
    lk = sm.families.links.Logit() if link == "logit" else sm.families.links.Probit()
    # method="newton": SEs from the observed Hessian, as glmmix's (IRLS would use the
    # expected information, which differs for the probit link)
    ref = sm.GLM(res.model.design.y, X, family=sm.families.Binomial(link=lk)).fit(method="newton", tol=1e-12)
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse, rtol=1e-4)


def test_poisson_glm(rng):
    n = 400
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(0.3 + 0.5 * x))})
    res = gm.fit("y ~ x", df, family="poisson")
    ref = sm.GLM(df["y"], sm.add_constant(df["x"]), family=sm.families.Poisson()).fit()
    assert res.llf == pytest.approx(ref.llf, abs=1e-7)
    np.testing.assert_allclose(res.params.to_numpy(), ref.params, rtol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse, rtol=1e-4)
    rob = gm.fit("y ~ x", df, family="poisson", se="robust")
    ref_r = sm.GLM(df["y"], sm.add_constant(df["x"]), family=sm.families.Poisson()).fit(cov_type="HC0")
    np.testing.assert_allclose(rob.bse.to_numpy(), ref_r.bse, rtol=1e-4)


def test_gaussian_ml(rng):
    n = 300
    x = rng.normal(size=n)
    df = pd.DataFrame({"x": x, "y": 1 + 2 * x + rng.normal(scale=1.5, size=n)})
    res = gm.fit("y ~ x", df, family="gaussian")
    ols = sm.OLS(df["y"], sm.add_constant(df["x"])).fit()
    assert res.llf == pytest.approx(ols.llf, abs=1e-7)
    np.testing.assert_allclose(res.params[["Intercept", "x"]], ols.params, rtol=1e-7)
    sigma_ml = np.sqrt(ols.ssr / n)
    assert res.params["sigma"] == pytest.approx(sigma_ml, rel=1e-6)
    assert res.bse["sigma"] == pytest.approx(sigma_ml / np.sqrt(2 * n), rel=1e-3)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_vs_orderedmodel(link, rng):
    n = 500
    x = rng.normal(size=n)
    lat = 0.8 * x + (rng.logistic(size=n) if link == "logit" else rng.normal(size=n))
    y = np.digitize(lat, [-1.0, 0.3, 1.2])
    df = pd.DataFrame({"x": x, "y": y})
    res = gm.fit("y ~ 0 + x", df, family="ordinal", link=link)
    ref = OrderedModel(df["y"], df[["x"]], distr=link).fit(method="bfgs", disp=False, gtol=1e-10, maxiter=2000)
    assert res.llf == pytest.approx(ref.llf, abs=1e-6)
    assert res.params["x"] == pytest.approx(ref.params["x"], rel=1e-5)
    tau = res.params[[c for c in res.params.index if c.startswith("threshold")]].to_numpy()
    np.testing.assert_allclose(tau, ref.model.transform_threshold_params(ref.params)[1:-1], rtol=1e-5)


def test_robust_ses_are_cluster_robust_per_unit():
    """With units (``class(id)``), the sandwich sums scores per unit: for one class it is
    statsmodels' cluster-robust covariance of the GLM (groups = id, no small-sample factor)."""
    va = gm.datasets.load("verbagg_long")
    res = gm.fit("y ~ Anger + Gender + btype | class(id) ~ 1", va, 1, family="bernoulli", se="robust")
    X = sm.add_constant(pd.get_dummies(va[["Anger", "Gender", "btype"]], drop_first=True).astype(float))
    ref = sm.GLM(va["y"], X, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": va["id"].to_numpy(), "use_correction": False})
    np.testing.assert_allclose(res.params.to_numpy(), ref.params.to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(res.bse.to_numpy(), ref.bse.to_numpy(), rtol=1e-6)
    naive = sm.GLM(va["y"], X, family=sm.families.Binomial()).fit()
    assert np.abs(res.bse.to_numpy() / naive.bse.to_numpy() - 1).max() > 0.05  # clustering matters here
