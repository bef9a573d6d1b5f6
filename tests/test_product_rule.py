"""The sum over classes on a shared product rule whose outcome and class-logit dimensions are
disjoint (``likelihood._Product``: Table 3's Model 6, the FMA-GoM) against the general
evaluation on every node: the log-likelihood, gradient, EM information, cluster scores, unit
posteriors and node moments agree to rounding; the gradient against finite differences."""

import copy

import numpy as np
import pytest

from helpers import check_derivatives, clustered_data, make_lik
from glmmix.likelihood import MixtureLikelihood, node_moments
from glmmix.quadrature import Integration

CASES = [
    # formula, K, family, points per dimension
    ("yg ~ 1 + x + (1 | cl) | class ~ 1 + (1 | cl)", 2, "gaussian", 9),  # Model 6
    ("yg ~ 1 + x + (1 | cl) | class ~ 1 + z + (1 | cl)", 3, "gaussian", 7),  # several prior groups
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class ~ 1 + (1 | unit)", 2, "bernoulli", 7),  # FMA-GoM
    ("yg ~ 1 + x + (1 | cl) | cb(cl) ~ 1 | cw ~ 1 + cb + (1 | cl)", 2, "gaussian", 7),  # between x within states
]


def _pair(formula, K, family, n, rng):
    data = clustered_data(rng)
    lik = make_lik(formula, data, K, family)
    d = lik.design
    lik = MixtureLikelihood(d, lik.layout, Integration.make("trapezoid", n, d.D, d.n_clusters, adaptive=False))
    general = copy.copy(lik)
    general._prior_grid = None  # every node: the class priors and the sums over classes in full
    return lik, general


def _agree(a, b, tol=1e-10):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * max(1.0, np.abs(b).max()))


@pytest.mark.parametrize("formula, K, family, n", CASES)
def test_product_rule_sums_equal_the_general_evaluation(formula, K, family, n, rng):
    lik, general = _pair(formula, K, family, n, rng)
    assert lik._prior_grid is not None  # the structure is recognized
    for scale in (0.5, 1.5):
        theta = scale * rng.standard_normal(lik.layout.n_free)
        a, b = lik.evaluate(theta, info=True), general.evaluate(theta, info=True)
        # the class priors on the class-logit dimensions' values (n per dimension) only
        assert a.logprior.shape[2] == lik._prior_grid[0].size < b.logprior.shape[2] == lik.integ.n_nodes
        _agree(a.ll, b.ll)
        _agree(a.ll_units, b.ll_units)
        _agree(lik.full_gradient(a), general.full_gradient(b))
        _agree(lik.q_information(a), general.q_information(b))
        _agree(lik.unit_posterior(a), general.unit_posterior(b))
        for x, y in zip(node_moments(a), node_moments(b)):
            _agree(x, y)
        _agree(lik.unit_scores(theta), general.unit_scores(theta))
    check_derivatives(lik, 0.5 * rng.standard_normal(lik.layout.n_free))


def test_product_rule_falls_back_where_products_could_underflow(rng):
    """With class log-priors and class log-densities both spread by more than
    SUM_SPREAD_LIMIT over the classes (a huge class-logit SD, classes thousands of units of
    log-density apart), the evaluation runs on every node, with the same result."""
    import glmmix.likelihood as likmod

    lik, general = _pair(*CASES[0], rng)
    labels = list(lik.layout.labels)
    theta = 0.3 * rng.standard_normal(lik.layout.n_free)
    theta[labels.index("class1:Intercept")] = 60.0
    theta[[i for i, s in enumerate(labels) if s.startswith("sd(cl:class")]] = 500.0
    assert likmod._Product.of is not None
    calls = []
    of = likmod._Product.of

    def spy(*args):
        calls.append(of(*args))
        return calls[-1]

    lik_spy = copy.copy(lik)
    likmod._Product.of = spy
    try:
        a = lik_spy.evaluate(theta)
    finally:
        likmod._Product.of = of
    assert calls == [None]
    b = general.evaluate(theta)
    _agree(a.ll, b.ll)
    _agree(lik.full_gradient(a), general.full_gradient(b))


def test_product_rule_needs_a_shared_rule_with_outcome_and_class_logit_dimensions(rng):
    data = clustered_data(rng)
    # adaptive nodes (per cluster): no shared product
    assert make_lik(CASES[0][0], data, 2, "gaussian")._prior_grid is None
    # random class logits without outcome random terms (a GoM): the densities do not see the
    # nodes (``_Factored``)
    d = make_lik("y ~ 0 + item | class ~ 1 + (1 | unit)", data, 2, "bernoulli").design
    lay = make_lik("y ~ 0 + item | class ~ 1 + (1 | unit)", data, 2, "bernoulli").layout
    assert MixtureLikelihood(d, lay, Integration.make("trapezoid", 9, d.D, d.n_clusters, adaptive=False)
                             )._prior_grid is None
