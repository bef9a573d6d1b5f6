"""Every analytic gradient against finite differences (Fisher's identity, eq 2-4)."""

import numpy as np
import pytest

from helpers import check_derivatives, clustered_data, make_lik, mixed_data

CASES = [
    # formula, K, family, link, extra kwargs
    ("y ~ 0 + item | class(unit) ~ 1", 3, "bernoulli", "logit", {}),
    ("y ~ 0 + item | class(unit) ~ 1 + z", 2, "bernoulli", "probit", {}),
    ("y ~ 0 + item + x | class(unit) ~ 1 + z", 3, "bernoulli", "logit", {"invariant": ["x"]}),
    ("y ~ 1 + x | class ~ 1 + x", 2, "poisson", "log", {}),
    ("y ~ 0 + item | class(unit) ~ z", 2, "poisson", "log", {}),
    ("y ~ 1 + x | class(unit) ~ 1", 2, "gaussian", None, {}),
    ("y ~ 1 + x | class(unit) ~ 1", 3, "gaussian", None, {"class_specific": ["sigma"]}),
    ("y ~ 0 + x | class(unit) ~ 1 + z", 2, "ordinal", "logit", {"thresholds_by": "item"}),
    ("y ~ 0 + x | class(unit) ~ 1", 2, "ordinal", "probit", {}),
    ("y ~ 1 + x", 1, "gaussian", None, {}),
    ("y ~ 0 + item | class(unit) ~ 1", 2, "bernoulli", "logit",
     {"fix": {"class1:item[i0]": 1.5}, "equal": [["class1:item[i1]", "class2:item[i2]"]]}),
]


@pytest.mark.parametrize("formula, K, family, link, kw", CASES)
def test_gradient_matches_finite_differences(formula, K, family, link, kw, rng):
    data = mixed_data(rng, family=family)
    lik = make_lik(formula, data, K, family, link, **kw)
    for _ in range(2):
        check_derivatives(lik, 0.5 * rng.standard_normal(lik.layout.n_free), scores_tol=1e-8, symmetric=True)


def test_fixed_and_equal_constraints_hold(rng):
    data = mixed_data(rng)
    lik = make_lik("y ~ 0 + item | class(unit) ~ 1", data, 2, "bernoulli",
                   fix={"class1:item[i0]": 1.5}, equal=[["class1:item[i1]", "class2:item[i2]"]])
    L = lik.layout
    assert L.n_free == 2 * 4 + 1 - 2
    P = L.unpack(L.expand(rng.standard_normal(L.n_free)))
    assert P["beta"][0, 0] == 1.5 and P["beta"][1, 0] == P["beta"][2, 1]


@pytest.mark.parametrize("formula, K, family, link, kw", [CASES[1], CASES[6], CASES[7]])
def test_likelihood_invariant_to_class_labels(formula, K, family, link, kw, rng):
    data = mixed_data(rng, family=family)
    lik = make_lik(formula, data, K, family, link, **kw)
    theta = 0.5 * rng.standard_normal(lik.layout.n_free)
    perm = np.roll(np.arange(K), 1)
    assert lik.layout.permutation_allowed(perm)
    phi2 = lik.layout.permute_full(lik.layout.expand(theta), perm)
    theta2 = lik.layout.from_full(phi2)
    np.testing.assert_allclose(lik.loglik(theta2), lik.loglik(theta), rtol=1e-12)
    post1 = lik.unit_posterior(lik.evaluate(theta))
    post2 = lik.unit_posterior(lik.evaluate(theta2))
    np.testing.assert_allclose(post2, post1[:, perm], atol=1e-12)


def test_row_order_within_units_does_not_matter(rng):
    data = mixed_data(rng)
    lik1 = make_lik("y ~ 0 + item | class(unit) ~ 1 + z", data, 2, "bernoulli")
    lik2 = make_lik("y ~ 0 + item | class(unit) ~ 1 + z", data.sample(frac=1.0, random_state=3), 2, "bernoulli")
    theta = rng.standard_normal(lik1.layout.n_free)
    np.testing.assert_allclose(lik1.loglik(theta), lik2.loglik(theta), rtol=1e-12)


# ---------------------------------------------------------------------------- random effects
RE_CASES = [
    # formula, K, family, fit kwargs, integration kwargs
    ("y ~ 1 + x + (1 + x | cl)", 1, "bernoulli", {}, {}),
    ("y ~ 1 + x + (1 + x || cl)", 1, "bernoulli", {}, {"method": "gh"}),
    ("yg ~ 1 + x + (1 | cl)", 1, "gaussian", {}, {"method": "trapezoid", "n": 9}),
    ("y ~ 0 + item + rr(0 + item | unit, 1)", 1, "bernoulli", {}, {}),
    ("y ~ 0 + item + rr(0 + item | unit, 2)", 1, "bernoulli", {}, {"method": "gh", "n": 5}),
    ("y ~ 0 + item | class ~ 1 + (1 | unit)", 2, "bernoulli", {}, {}),  # GoM
    ("y ~ 0 + item | class ~ 1 + (1 | unit)", 3, "bernoulli", {}, {"method": "gh", "n": 5}),  # GoM, K=3
    ("y ~ 0 + item | class ~ 1 + rr(1 | unit, 1)", 3, "bernoulli", {}, {}),  # restricted GoM
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class(unit) ~ 1", 2, "bernoulli", {}, {}),  # FMA (outside)
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class(unit) ~ 1", 2, "bernoulli",
     {"class_specific": ["random"]}, {"method": "gh"}),  # FMA, class-specific loadings
    ("y ~ 0 + item + (1 | cl) | class(unit) ~ 1 + z", 2, "bernoulli", {}, {}),  # classes within clusters
    ("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", 2, "bernoulli", {}, {}),  # within-between class
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class ~ 1 + (1 | unit)", 2, "bernoulli", {}, {"n": 5}),  # FMA-GoM
    ("yg ~ 1 + x + (1 | cl) | class(cl) ~ 1", 2, "gaussian", {"class_specific": ["sigma"]}, {}),  # between-level classes
    # class-specific nodes per (cluster, class)
    ("yg ~ 1 + x + (1 | cl) | class(cl) ~ 1", 2, "gaussian", {"class_specific": ["random"]}, {}),
    # shared product rules: the outcome terms see one node per value of their own dimension
    ("yg ~ 1 + x + (1 | cl) | class ~ 1 + (1 | cl)", 2, "gaussian", {}, {"method": "trapezoid", "n": 9}),  # Model 6
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class ~ 1 + (1 | unit)", 2, "bernoulli", {},
     {"method": "trapezoid", "n": 7}),  # FMA-GoM
]


@pytest.mark.parametrize("formula, K, family, kw, ikw", RE_CASES)
def test_random_effect_gradients(formula, K, family, kw, ikw, rng):
    from glmmix.quadrature import Integration

    data = clustered_data(rng)
    lik = make_lik(formula, data, K, family, **kw)
    d = lik.design
    method = ikw.get("method", "agh")
    integ = Integration.make(method, ikw.get("n", 7 if d.D == 1 else 4), d.D, d.n_clusters,
                             adaptive=method == "agh")
    from glmmix.likelihood import MixtureLikelihood

    lik = MixtureLikelihood(d, lik.layout, integ)
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    if integ.adaptive:  # a non-trivial adaptation, held fixed while differentiating
        lik.adapt(theta)
    check_derivatives(lik, theta)
