"""IRT parameters of Rasch and 2PL models written as GLMMs, and item characteristic curves."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import GlmmixError


@pytest.fixture(scope="module")
def lsat():
    return gm.wide_to_long(gm.datasets.load("lsat"), id=None)


@pytest.fixture(scope="module")
def two_pl(lsat):
    return gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli")


def _delta_b(res, tau, lam):
    """se of b = -tau / lam written out: (1/lam^2) V_tt + (tau^2/lam^4) V_ll - 2 tau/lam^3 V_tl."""
    t, lm = res.params[tau], res.params[lam]
    V = res.cov_params()
    return np.sqrt(V.loc[tau, tau] / lm**2 + t**2 / lm**4 * V.loc[lam, lam] - 2 * t / lm**3 * V.loc[tau, lam])


def test_2pl_matches_ltm(two_pl):
    irt = gm.irt_parameters(two_pl)
    # R ltm: ltm(LSAT ~ z1, IRT.param = TRUE), coef(): Dscrmn and Dffclt (ltm's own
    # documentation example; ltm stops at a looser tolerance, hence 2e-3)
    np.testing.assert_allclose(irt["a"], [0.826, 0.723, 0.891, 0.688, 0.657], atol=2e-3)
    np.testing.assert_allclose(irt["b"], [-3.359, -1.370, -0.280, -1.866, -3.126], atol=2e-3)
    assert irt.attrs["model"] == "2PL"
    for lev in irt.index:
        lam = f"loading(id:item[{lev}])"
        assert irt.loc[lev, "se(a)"] == pytest.approx(two_pl.bse[lam], rel=1e-6)
        assert irt.loc[lev, "se(b)"] == pytest.approx(_delta_b(two_pl, f"item[{lev}]", lam), rel=1e-4)


def test_rasch(lsat):
    res = gm.fit("y ~ 0 + item + (1 | id)", lsat, family="bernoulli")
    irt = gm.irt_parameters(res)
    # the common discrimination is the ability SD: 0.75514 (REFERENCE-VALUES, lme4/ltm)
    np.testing.assert_allclose(irt["a"], 0.75514, atol=2e-4)
    lab = "sd(id:Intercept)"
    for lev in irt.index:
        assert irt.loc[lev, "b"] == pytest.approx(-res.params[f"item[{lev}]"] / res.params[lab], rel=1e-12)
        assert irt.loc[lev, "se(b)"] == pytest.approx(_delta_b(res, f"item[{lev}]", lab), rel=1e-4)
    assert irt.attrs["model"] == "Rasch"


def test_summary_shows_irt_parameters(two_pl, lsat):
    text = str(two_pl.summary())
    assert "IRT 2PL, theta ~ N(0, 1)" in text and "-3.3588" in text
    lca = gm.fit("y ~ 0 + item | class(id) ~ 1", lsat, n_classes=2, family="bernoulli", seed=1, se="none")
    assert "IRT" not in str(lca.summary())


def test_item_curves(two_pl):
    irt = gm.irt_parameters(two_pl)
    grid = np.array([-1.0, 0.0, 2.0])
    cur = gm.item_curves(two_pl, theta=grid)
    assert list(cur.columns) == ["theta", "item", "probability"] and len(cur) == 15
    # at theta = b an item is answered correctly with probability 1/2; at theta = 0 the
    # probability is the item's logistic(tau)
    at_b = gm.item_curves(two_pl, theta=[irt.loc["I3", "b"]])
    assert at_b.set_index("item").loc["I3", "probability"] == pytest.approx(0.5, abs=1e-12)
    p0 = cur[cur.theta == 0].set_index("item")["probability"]
    np.testing.assert_allclose(p0, 1 / (1 + np.exp(-two_pl.params[[f"item[{i}]" for i in p0.index]].to_numpy())))
    with pytest.raises(GlmmixError, match="theta"):
        gm.item_curves(two_pl, theta=[np.nan])


def test_mixture_irt_has_parameters_per_class(lsat):
    res = gm.fit("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", lsat, n_classes=2, family="bernoulli",
                 seed=1, se="none", starts=(4, 1))
    irt = gm.irt_parameters(res)
    assert irt.index.names == ["class", "item"] and len(irt) == 10
    assert irt.loc[("class2", "I1"), "a"] == pytest.approx(res.params["loading(id:item[I1])"])
    assert irt.loc[("class2", "I1"), "b"] == pytest.approx(
        -res.params["class2:item[I1]"] / res.params["loading(id:item[I1])"])
    assert irt["se(a)"].isna().all()


def test_refusals(lsat):
    lca = gm.fit("y ~ 0 + item | class(id) ~ 1", lsat, n_classes=2, family="bernoulli", seed=1, se="none")
    with pytest.raises(GlmmixError, match="item response model"):
        gm.irt_parameters(lca)
    # labels of a two-factor rr(0 + item | id, 2) model (fitting one takes minutes)
    labels = ["item[I1]", "item[I2]", "loading1(id:item[I1])", "loading2(id:item[I2])", "loading1(id:item[I2])"]
    two = SimpleNamespace(params=pd.Series(1.0, index=labels), posterior=pd.DataFrame(columns=["class1"]), special_case=None)
    with pytest.raises(NotImplementedError, match="one-factor"):
        gm.irt_parameters(two)
    # the 3PL's own settings: a TypeError (family given twice) before
    with pytest.raises(GlmmixError, match=r"three_pl\(\) is a 2-class bernoulli model .* does not take \['family'\]"):
        gm.three_pl(lsat, family="gaussian", verbose=False)
