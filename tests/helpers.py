"""Shared helpers for tests: build a likelihood without fitting, check its derivatives,
simulate data."""

import numpy as np
import pandas as pd
from scipy.optimize import approx_fprime

from glmmix.model import MixtureModel


def make_lik(formula, data, K, family, link=None, **kw):
    """The likelihood of a model (adaptive Gauss-Hermite with the default points)."""
    return MixtureModel.from_formula(formula, data, K, family, link, integration="agh", **kw).likelihood


def mixed_data(rng, n_units=30, n_items=4, family="bernoulli"):
    """Long data: units with a unit covariate z, items, a row covariate x."""
    u = np.repeat(np.arange(n_units), n_items)
    item = np.tile([f"i{j}" for j in range(n_items)], n_units)
    x = rng.normal(size=u.size)
    z = rng.normal(size=n_units)[u]
    eta = 0.5 * x + rng.normal(size=u.size)
    if family == "bernoulli":
        y = (rng.uniform(size=u.size) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.3 * eta)).astype(float)
    elif family == "gaussian":
        y = eta + rng.normal(size=u.size)
    else:
        y = np.digitize(eta, [-0.7, 0.0, 0.8]).astype(float)
    return pd.DataFrame({"unit": u, "item": item, "x": x, "z": z, "y": y})


def clustered_data(rng, n_clusters=12, per=4, n_items=3):
    """Long data: clusters of units, units with items; unit covariate z, row covariate x."""
    rows = []
    uid = 0
    for g in range(n_clusters):
        a = rng.normal()
        for _ in range(per):
            for j in range(n_items):
                x = rng.normal()
                eta = a + 0.5 * x + (j - 1) * 0.4
                rows.append((g, uid, f"i{j}", x, float(rng.uniform() < 1 / (1 + np.exp(-eta)))))
            uid += 1
    df = pd.DataFrame(rows, columns=["cl", "unit", "item", "x", "y"])
    df["z"] = rng.normal(size=uid)[df["unit"]]
    df["yg"] = df["y"] + df["x"] + rng.normal(size=len(df))
    return df


def simulate_lca(rng, n_units, probs, weights):
    """Wide binary LCA data: probs (n_items, K), class weights (K,). Returns (wide, classes)."""
    probs = np.asarray(probs)
    c = rng.choice(len(weights), size=n_units, p=weights)
    y = (rng.uniform(size=(n_units, probs.shape[0])) < probs[:, c].T).astype(int)
    wide = pd.DataFrame(y, columns=[f"u{j + 1}" for j in range(probs.shape[0])])
    wide.insert(0, "id", np.arange(n_units))
    return wide, c


def check_derivatives(lik, theta, scores_tol=1e-7, symmetric=False):
    """At ``theta``: the exact gradient against finite differences, the unit scores adding up
    to it (the sandwich needs them), and the EM metric positive semi-definite (``symmetric``:
    and symmetric)."""
    ll, g, _ = lik.loglik_and_grad(theta)
    num = approx_fprime(theta, lik.loglik, 1e-6)
    np.testing.assert_allclose(g, num, rtol=2e-4, atol=2e-4 * max(1.0, np.abs(num).max()))
    np.testing.assert_allclose(lik.unit_scores(theta).sum(axis=0), g, rtol=scores_tol, atol=scores_tol)
    H = lik.q_information(lik.evaluate(theta))
    if symmetric:
        np.testing.assert_allclose(H, H.T, atol=1e-8)
    assert np.linalg.eigvalsh(H).min() > -1e-8


def cluster_design(rng, G=60, n=10):
    """G clusters ``g`` of n rows each, with a row covariate ``x`` ~ N(0, 1)."""
    return pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.standard_normal(G * n)})


def labelled_point(lik, rng):
    """Random free parameters of ``lik`` ~ N(0, 1): the vector and ``{label: value}``."""
    theta = rng.normal(size=lik.layout.n_free)
    return theta, dict(zip(lik.layout.labels, theta))


def cpu_seconds(f, *args):
    """(f(*args), the CPU time of this process spent in it): a time bound that load on the
    machine does not break."""
    import time

    cpu = time.process_time()
    out = f(*args)
    return out, time.process_time() - cpu


def table3_data(G, n):
    """Table 3's design (vignettes/table3_within_between.py): data from Model 5, G clusters of n."""
    import glmmix as gm

    rng = np.random.default_rng(3)
    design = pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.standard_normal(G * n)})
    truth = {"class1:Intercept": 1.0, "class2:Intercept": 0.0, "class1:x": 0.2, "class2:x": 0.8, "sigma": 1.0,
             "sd(g:Intercept)": np.sqrt(0.2), "logit:class1:Intercept": 0.0}
    return gm.simulate("y ~ 1 + x + (1 | g) | class(g) ~ 1", design, params=truth, n_classes=2,
                       family="gaussian", seed=5)
