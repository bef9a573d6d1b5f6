"""The exact gradient of the Laplace approximation (implicit differentiation at the modes)
against central differences of the re-optimized approximation."""

import numpy as np
import pytest

from glmmix.likelihood import central_gradient
from glmmix.model import MixtureModel
from helpers import clustered_data


def _laplace_lik(formula, data, family, link=None, **kw):
    return MixtureModel.from_formula(formula, data, 1, family, link, integration="laplace", **kw).likelihood


CASES = [
    ("y ~ 1 + x + (1 | cl)", "bernoulli", "logit"),
    ("y ~ 1 + x + (1 | cl)", "bernoulli", "probit"),
    ("y ~ 1 + x + (1 + x | cl)", "bernoulli", "logit"),  # random slope, correlated
    ("y ~ 1 + x + (1 + x || cl)", "bernoulli", "probit"),
    ("y ~ 0 + item + rr(0 + item | unit, 1)", "bernoulli", "logit"),  # loadings (2PL)
    ("c ~ 1 + x + (1 + x | cl)", "poisson", "log"),
]


@pytest.mark.parametrize("formula, family, link", CASES)
def test_laplace_gradient_is_exact(formula, family, link, rng):
    data = clustered_data(rng)
    data["c"] = rng.poisson(np.exp(0.3 + 0.4 * data["x"]))
    lik = _laplace_lik(formula, data, family, link)
    assert lik.laplace_exact
    for _ in range(2):
        theta = 0.4 * rng.standard_normal(lik.layout.n_free)
        ll, g, _ = lik.loglik_and_grad(theta)
        assert ll == pytest.approx(lik.loglik(theta), abs=1e-10)
        num = central_gradient(lik.loglik, theta, rel_step=1e-5)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(num).max()))


def test_weighted_laplace_gradient_is_exact(rng):
    # row weights are powers of the densities inside each cluster's integral; cluster
    # weights multiply the clusters' log-likelihoods
    data = clustered_data(rng)
    data["wr"] = rng.uniform(0.3, 3.0, size=len(data))
    data["wc"] = rng.uniform(0.3, 3.0, size=data["cl"].max() + 1)[data["cl"]]
    lik = _laplace_lik("y ~ 1 + x + (1 + x | cl)", data, "bernoulli", weights="wr", cluster_weights="wc")
    assert lik.design.unit_weight is not None and lik.design.cluster_weight is not None
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    _, g, _ = lik.loglik_and_grad(theta)
    num = central_gradient(lik.loglik, theta, rel_step=1e-5)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(num).max()))


def test_laplace_with_extra_parameters_is_exact(rng):
    # a Gaussian's curvature moves with sigma: Family.curvature_extra gives its derivative
    data = clustered_data(rng)
    lik = _laplace_lik("yg ~ 1 + x + (1 | cl)", data, "gaussian")
    assert lik.laplace and lik.laplace_exact
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    ll, g, _ = lik.loglik_and_grad(theta)
    np.testing.assert_allclose(g, central_gradient(lik.loglik, theta), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("formula, family, link, weighted", [
    ("y ~ 1 + x + (1 + x | cl)", "bernoulli", "logit", False),
    ("y ~ 1 + x + (1 | cl)", "bernoulli", "probit", True),
    ("yg ~ 1 + x + (1 | cl)", "gaussian", None, False),  # the curvature moves with sigma
])
def test_laplace_unit_scores_include_the_log_determinant(formula, family, link, weighted, rng):
    # the sandwich's per-cluster scores: derivatives of each cluster's Laplace log-likelihood
    data = clustered_data(rng)
    kw = {}
    if weighted:
        data["wc"] = rng.uniform(0.3, 3.0, size=data["cl"].max() + 1)[data["cl"]]
        kw = {"cluster_weights": "wc"}
    lik = _laplace_lik(formula, data, family, link, **kw)
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    S = lik.unit_scores(theta)
    cw = np.ones(S.shape[0]) if lik.design.cluster_weight is None else lik.design.cluster_weight
    num = np.column_stack([
        (lik.evaluate(theta + h, derivs=False).ll_units - lik.evaluate(theta - h, derivs=False).ll_units) / 2e-5
        for h in 1e-5 * np.eye(theta.size)]) * cw[:, None]
    np.testing.assert_allclose(S, num, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(S.sum(axis=0), lik.gradient(theta), rtol=1e-6, atol=1e-6)
