"""Finite mixtures of GLMs (one class per row) against flexmix 2.3.18 on its NPreg data.

Values: tests/reference/values/flexmix_npreg.json, made by
tests/reference/scripts/flexmix_npreg.R (20 random starts, all reaching the best logLik).
"""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference


@pytest.fixture(scope="module")
def npreg():
    return pd.read_csv(REF.parent / "data" / "npreg.csv")


def _coefs(res, names):
    return np.array([[res.params[f"class{k}:{n}"] for n in names] for k in (1, 2)])


def test_gaussian_mixture_regression(npreg):
    # flexmix(yn ~ x + I(x^2), k = 2): class-specific residual SDs; logLik -642.545166.
    # flexmix's M-step for sigma is not the ML one (it divides by more than the posterior
    # weight sum), so its maximum is slightly short: glmmix's likelihood evaluated at
    # flexmix's estimates reproduces flexmix's logLik exactly, its gradient there vanishes in
    # every parameter except the two sigmas, and glmmix's maximum is higher (-642.5320).
    ref = load_reference("flexmix_npreg.json")["gaussian"]
    res = gm.fit("yn ~ x + I(x**2) | class ~ 1", npreg, n_classes=2, family="gaussian",
                 class_specific=["sigma"], seed=1)
    assert res.df_model == ref["npar"]
    comp = ref["components"]
    names = ("(Intercept)", "x", "I(x^2)")
    beta = np.array([[comp[f"class{k}"][f"coef.{n}"] for k in (1, 2)] for n in names])
    sig = np.array([comp["class1"]["sigma"], comp["class2"]["sigma"]])
    model, L = res.model, res.model.layout
    pi = ref["prior"]
    theta_ref = L.from_full(L.pack({"beta": beta, "extra": np.log(sig)[:, None],
                                    "gamma": np.array([[np.log(pi[0] / pi[1])]])}))
    assert model.loglike(theta_ref) == pytest.approx(ref["loglik"], abs=1e-8)
    g = model.score(theta_ref)
    is_sigma = np.array([lab.endswith("sigma") for lab in L.labels])
    assert np.abs(g[~is_sigma]).max() < 1e-5 and np.abs(g[is_sigma]).min() > 0.5
    assert ref["loglik"] < res.llf < ref["loglik"] + 0.05
    np.testing.assert_allclose(_coefs(res, ["Intercept", "x", "I(x ** 2)"]), beta.T, rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose([res.params["class1:sigma"], res.params["class2:sigma"]], sig, rtol=0.02)
    np.testing.assert_allclose(res.class_proportions, ref["prior"], atol=1e-3)


def test_poisson_mixture_regression(npreg):
    # flexmix(yp ~ x, k = 2, model = FLXMRglm(family = "poisson")); logLik -440.640294
    ref = load_reference("flexmix_npreg.json")["poisson"]
    res = gm.fit("yp ~ x | class ~ 1", npreg, n_classes=2, family="poisson", seed=1)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-5)
    assert res.df_model == ref["npar"]
    want = np.array([[ref["components"][f"class{k}"][f"coef.{n}"] for n in ("(Intercept)", "x")] for k in (1, 2)])
    np.testing.assert_allclose(_coefs(res, ["Intercept", "x"]), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(res.class_proportions, ref["prior"], atol=1e-4)
