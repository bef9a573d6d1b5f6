"""Simulation: known parameters are recovered within their standard errors."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

import glmmix as gm
from helpers import simulate_lca

PROBS = np.array([[0.9, 0.5, 0.1], [0.8, 0.2, 0.3], [0.85, 0.7, 0.15],
                  [0.2, 0.8, 0.1], [0.75, 0.6, 0.2], [0.9, 0.3, 0.05]])
WEIGHTS = np.array([0.5, 0.3, 0.2])


def _fit_sim(rng, n, covariate=False):
    wide, c = simulate_lca(rng, n, PROBS, WEIGHTS)
    if covariate:
        z = rng.normal(size=n)
        # classes regress on z: logit(class k vs class 3) = a_k + b_k z
        a, b = np.array([1.0, 0.4]), np.array([0.8, -0.5])
        lin = np.column_stack([a[0] + b[0] * z, a[1] + b[1] * z, np.zeros(n)])
        p = np.exp(lin - lin.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        c = (rng.uniform(size=(n, 1)) > np.cumsum(p, 1)).sum(1)
        y = (rng.uniform(size=(n, PROBS.shape[0])) < PROBS[:, c].T).astype(int)
        wide.iloc[:, 1:] = y
        wide["z"] = z
    items = [f"u{j + 1}" for j in range(PROBS.shape[0])]
    long = gm.wide_to_long(wide, items=items, id="id")
    formula = "y ~ 0 + item | class(id) ~ 1" + (" + z" if covariate else "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        return gm.fit(formula, long, n_classes=3, family="bernoulli", seed=11, starts=(10, 3))


def test_lca_recovery_within_se(rng):
    res = _fit_sim(rng, 3000)
    prof = res.profile()
    est = prof[["class1", "class2", "class3"]].to_numpy()
    se = prof[["se:class1", "se:class2", "se:class3"]].to_numpy()
    z = (est - PROBS) / se
    assert np.abs(z).max() < 4.0
    np.testing.assert_allclose(res.class_proportions, WEIGHTS, atol=3.5 * res.class_proportions_se.max())
    # logits themselves
    b = np.array([[res.params[f"class{k + 1}:item[u{j + 1}]"] for k in range(3)] for j in range(6)])
    assert np.abs((b - logit(PROBS)) / np.array([[res.bse[f"class{k + 1}:item[u{j + 1}]"] for k in range(3)]
                                                for j in range(6)])).max() < 4.0


def test_lca_covariate_recovery(rng):
    res = _fit_sim(rng, 4000, covariate=True)
    # the canonical order may differ from the generating order: match classes by profile
    prof = res.profile()[["class1", "class2", "class3"]].to_numpy()
    perm = [int(np.argmin(((prof - PROBS[:, [k]]) ** 2).sum(0))) for k in range(3)]
    assert sorted(perm) == [0, 1, 2]
    ref = perm[2]  # the generating reference class must be glmmix's reference for direct comparison
    if ref == 2:
        for k, (a, b) in enumerate([(1.0, 0.8), (0.4, -0.5)]):
            kk = perm[k] + 1
            za = (res.params[f"logit:class{kk}:Intercept"] - a) / res.bse[f"logit:class{kk}:Intercept"]
            zb = (res.params[f"logit:class{kk}:z"] - b) / res.bse[f"logit:class{kk}:z"]
            assert abs(za) < 4 and abs(zb) < 4
    else:  # compare the implied class probabilities at z = 0 and z = 1 instead
        for zval in (0.0, 1.0):
            lin = np.array([1.0 + 0.8 * zval, 0.4 - 0.5 * zval, 0.0])
            p_true = np.exp(lin) / np.exp(lin).sum()
            P = res.model.layout.unpack(res.model.layout.expand(res.theta))
            g = np.concatenate([np.array([1.0, zval]) @ P["gamma"], [0.0]])
            p_est = np.exp(g) / np.exp(g).sum()
            np.testing.assert_allclose(p_est[perm], p_true, atol=0.08)


def test_gaussian_mixture_regression_recovery(rng):
    n = 1500
    x = rng.normal(size=n)
    c = rng.uniform(size=n) < 0.6
    y = np.where(c, 1.0 + 2.0 * x + rng.normal(scale=0.5, size=n), -1.0 - 1.0 * x + rng.normal(scale=1.0, size=n))
    df = pd.DataFrame({"x": x, "y": y})
    res = gm.fit("y ~ 1 + x | class ~ 1", df, n_classes=2, family="gaussian", class_specific=["sigma"], seed=3)
    truth = {"class1:Intercept": 1.0, "class1:x": 2.0, "class2:Intercept": -1.0, "class2:x": -1.0,
             "class1:sigma": 0.5, "class2:sigma": 1.0}
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 4 * res.bse[k], k
    assert res.class_proportions.iloc[0] == pytest.approx(0.6, abs=4 * res.class_proportions_se.iloc[0])


def test_ordinal_lca_recovery(rng):
    n, J = 2000, 5
    c = (rng.uniform(size=n) < 0.4).astype(int)  # class 0: 60%
    shift = np.where(c == 0, 1.5, -1.0)
    tau = np.array([-0.5, 1.0])
    lat = shift[:, None] + rng.logistic(size=(n, J))
    y = (lat[:, :, None] > tau).sum(-1)
    wide = pd.DataFrame(y, columns=[f"v{j}" for j in range(J)])
    long = gm.wide_to_long(wide)
    # the outcome part has no free term: thresholds per item and class carry the profile
    res = gm.fit("y ~ 0 | class(id) ~ 1", long, n_classes=2, family="ordinal", thresholds_by="item", seed=5)
    for j in range(J):
        for k, s in ((1, 1.5), (2, -1.0)):
            for m in (1, 2):
                lab = f"class{k}:threshold[v{j}:{m}]"
                assert abs(res.params[lab] - (tau[m - 1] - s)) < 4 * res.bse[lab], lab


@pytest.mark.slow
def test_lca_coverage_study():
    """Slow: 95% interval coverage of item probabilities over 100 replications."""
    rng = np.random.default_rng(2024)
    cover = []
    for _ in range(100):
        res = _fit_sim(rng, 1000)
        prof = res.profile()
        est = prof[["class1", "class2", "class3"]].to_numpy()
        se = prof[["se:class1", "se:class2", "se:class3"]].to_numpy()
        cover.append(np.abs(est - PROBS) < 1.96 * se)
    rate = np.mean(cover)
    assert 0.90 < rate < 0.98
