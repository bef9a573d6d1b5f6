"""Simulation: GLMMs and mixtures with random effects recover known parameters."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm


def sim_glmm(rng, G=300, n=8):
    g = np.repeat(np.arange(G), n)
    x = rng.normal(size=G * n)
    sd = np.array([1.0, 0.5])
    cor = 0.3
    S = np.array([[sd[0] ** 2, cor * sd[0] * sd[1]], [cor * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal([0, 0], S, size=G)
    eta = -0.5 + 1.0 * x + b[g, 0] + b[g, 1] * x
    y = (rng.uniform(size=G * n) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"g": g, "x": x, "y": y})


def test_glmm_random_slope_recovery(rng):
    res = gm.fit("y ~ 1 + x + (1 + x | g)", sim_glmm(rng), family="bernoulli")
    truth = {"Intercept": -0.5, "x": 1.0, "sd(g:Intercept)": 1.0, "sd(g:x)": 0.5, "cor(g:x,Intercept)": 0.3}
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 4 * res.bse[k], (k, res.params[k], res.bse[k])


def test_robust_and_ml_ses_agree_for_a_correct_glmm(rng):
    d = sim_glmm(rng, G=200)
    ml = gm.fit("y ~ 1 + x + (1 | g)", d, family="bernoulli")
    rob = gm.fit("y ~ 1 + x + (1 | g)", d, family="bernoulli", se="robust")
    assert rob.llf == pytest.approx(ml.llf, abs=1e-6)
    ratio = (rob.bse / ml.bse).to_numpy()
    assert np.all((ratio > 0.7) & (ratio < 1.4))


def test_gom_recovery(rng):
    """2-class GoM (eq 28-30): item probabilities and the SD of the class logit."""
    N, J = 1500, 8
    p1 = np.array([0.9, 0.85, 0.8, 0.9, 0.75, 0.85, 0.8, 0.9])
    p2 = np.array([0.1, 0.2, 0.15, 0.1, 0.25, 0.1, 0.2, 0.15])
    alpha = 0.3 + 1.5 * rng.standard_normal(N)
    c1 = rng.uniform(size=(N, J)) < 1 / (1 + np.exp(-alpha[:, None]))
    p = np.where(c1, p1, p2)
    wide = pd.DataFrame((rng.uniform(size=(N, J)) < p).astype(int), columns=[f"u{j}" for j in range(J)])
    long = gm.wide_to_long(wide)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        res = gm.fit("y ~ 0 + item | class ~ 1 + (1 | id)", long, n_classes=2, family="bernoulli",
                     seed=4, starts=(10, 3))
    prof = res.profile()
    # canonical order is by size; match classes by profile
    est = prof[["class1", "class2"]].to_numpy()
    if est[:, 0].mean() < est[:, 1].mean():
        est = est[:, ::-1]
        se = prof[["se:class2", "se:class1"]].to_numpy()
    else:
        se = prof[["se:class1", "se:class2"]].to_numpy()
    z = (est - np.column_stack([p1, p2])) / se
    assert np.abs(z).max() < 4.5
    sd = res.params["sd(id:class1)"]
    assert abs(sd - 1.5) < 4 * res.bse["sd(id:class1)"]
