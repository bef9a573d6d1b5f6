"""Shared helpers for tests: build a likelihood without fitting, simulate LCA data."""

import numpy as np
import pandas as pd

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


def simulate_lca(rng, n_units, probs, weights):
    """Wide binary LCA data: probs (n_items, K), class weights (K,). Returns (wide, classes)."""
    probs = np.asarray(probs)
    c = rng.choice(len(weights), size=n_units, p=weights)
    y = (rng.uniform(size=(n_units, probs.shape[0])) < probs[:, c].T).astype(int)
    wide = pd.DataFrame(y, columns=[f"u{j + 1}" for j in range(probs.shape[0])])
    wide.insert(0, "id", np.arange(n_units))
    return wide, c
