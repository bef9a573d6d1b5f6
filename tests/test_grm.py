"""Samejima's graded response model: ordinal items with their own thresholds and a person
factor, ``y ~ rr(0 + item | id, 1)`` with ``family="ordinal", thresholds_by="item"``.

References: with two categories the model is the 2PL, whose LSAT log-likelihood -2466.6534
is ltm's (REFERENCE-VALUES.md); with three categories, parameters of
simulated data are recovered, and the log-likelihood at the estimates equals a brute-force
integral over a fine grid.
"""


import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logsumexp

import glmmix as gm
from glmmix.irt import IRTError


def test_binary_grm_is_the_2pl():
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    grm = gm.fit("y ~ rr(0 + item | id, 1)", lsat, family="ordinal", thresholds_by="item")
    two = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli")
    # ltm's 2PL on LSAT, -2466.6534 (../shared/REFERENCE-VALUES.md; tests/reference/values/irt_lsat.json
    # records why ltm itself could not be run here)
    assert grm.llf == pytest.approx(-2466.6534, abs=1e-3)
    assert grm.llf == pytest.approx(two.llf, abs=1e-6)
    a, b = gm.irt_parameters(grm), gm.irt_parameters(two)
    np.testing.assert_allclose(a["a"], b["a"], atol=1e-4)
    np.testing.assert_allclose(a["b1"], b["b"], atol=1e-3)
    np.testing.assert_allclose(a["se(b1)"], b["se(b)"], rtol=1e-2)
    assert a.attrs["model"] == "graded response"


def _simulate_grm(rng, n=700, a=(0.8, 1.2, 1.6, 1.0, 2.0, 0.6), b=((-1.0, 0.5), (-0.5, 1.0), (0.0, 1.2),
                                                                     (-1.5, 0.0), (-0.3, 0.3), (-2.0, 1.5))):
    a, b = np.asarray(a), np.asarray(b)
    theta = rng.standard_normal(n)
    # P(y >= k + 1) = F(a (theta - b_k))
    ge = expit(a[None, :, None] * (theta[:, None, None] - b[None, :, :]))  # (n, items, 2)
    u = rng.uniform(size=(n, a.size))
    y = (u[:, :, None] < ge).sum(axis=2)
    wide = pd.DataFrame(y, columns=[f"i{j + 1}" for j in range(a.size)])
    wide["id"] = np.arange(n)
    return gm.wide_to_long(wide, id="id"), a, b


def test_grm_recovers_simulated_parameters():
    long, a, b = _simulate_grm(np.random.default_rng(5))
    res = gm.fit("y ~ rr(0 + item | id, 1)", long, family="ordinal", thresholds_by="item")
    par = gm.irt_parameters(res)
    sign = np.sign(par["a"].mean())  # the factor's sign is arbitrary
    z_a = (sign * par["a"].to_numpy() - a) / par["se(a)"].to_numpy()
    z_b = np.concatenate([(sign * par[f"b{k + 1}"].to_numpy() - b[:, k]) / par[f"se(b{k + 1})"].to_numpy()
                          for k in range(2)])
    assert np.all(np.abs(z_a) < 4) and np.all(np.abs(z_b) < 4)
    assert "IRT graded response" in str(res.summary())
    with pytest.raises(IRTError, match="one curve per category boundary"):
        gm.item_curves(res)


def test_grm_loglik_is_the_integral():
    long, _, _ = _simulate_grm(np.random.default_rng(6), n=200)
    res = gm.fit("y ~ rr(0 + item | id, 1)", long, family="ordinal", thresholds_by="item")
    par = gm.irt_parameters(res)
    items = list(par.index)
    wide = long.pivot(index="id", columns="item", values="y")[items].to_numpy().astype(int)
    t = np.linspace(-10, 10, 4001)
    logw = -0.5 * t**2 - 0.5 * np.log(2 * np.pi) + np.log(t[1] - t[0])
    a = par["a"].to_numpy()
    bb = par[["b1", "b2"]].to_numpy()
    ge = expit(a[None, :, None] * (t[:, None, None] - bb[None, :, :]))  # (nodes, items, 2)
    cum = np.concatenate([np.ones_like(ge[..., :1]), ge, np.zeros_like(ge[..., :1])], axis=2)
    pk = cum[..., :-1] - cum[..., 1:]  # P(y = k | t): (nodes, items, 3)
    logp = np.log(pk)[:, np.arange(len(items))[None, :], wide]  # (nodes, persons, items)
    ll = logsumexp(logp.sum(axis=2) + logw[:, None], axis=0).sum()
    assert res.llf == pytest.approx(ll, abs=5e-5)  # the default 15-point adaptive rule: 5e-6 here
