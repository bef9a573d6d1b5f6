"""Identical clusters on an adaptive rule: the estimation runs on the distinct ones (glmmix.copies)."""

import numpy as np
import pytest

import glmmix as gm
from glmmix.copies import cluster_copies, on_distinct_clusters
from glmmix.estimation import FitOptions, estimate
from glmmix.model import MixtureModel
from glmmix.scaling import internal

THREE_PL = "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 0 + item"  # units are rows, clusters persons
FMA = "y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1"  # units are the persons


@pytest.fixture(scope="module")
def lsat(lsat_long):
    return lsat_long


def _model(formula, data, **kw):
    return MixtureModel.from_formula(formula, data, n_classes=2, family="bernoulli", **kw)


@pytest.mark.parametrize("formula", [THREE_PL, FMA])
def test_distinct_clusters_give_the_whole_likelihood(lsat, formula):
    """LSAT: 1,000 persons, 30 response patterns. At random parameters, after adapting the nodes
    of both: the log-likelihood, gradient and EM information of the 30 weighted clusters are those
    of the 1,000, and their adaptation repeated for the copies is the whole data's."""
    lik = _model(formula, lsat).likelihood
    first, inv = cluster_copies(lik.design)
    assert first.size == 30 and inv.size == 1000
    wide = lsat.pivot(index="id", columns="item", values="y").to_numpy()
    assert np.array_equal(wide[first][inv], wide)  # copies hold the same responses
    sub, expand = on_distinct_clusters(lik)
    assert sub.design.n_clusters == 30 and sub.design.n_scale == 1000
    assert sub.design.cluster_weight.sum() == 1000
    rng = np.random.default_rng(3)
    for _ in range(2):
        theta = rng.normal(0.0, 0.7, lik.layout.n_free)
        ll, ll_sub = lik.adapt(theta), sub.adapt(theta)
        assert ll_sub == pytest.approx(ll, rel=1e-12)
        for a, b in zip(expand(sub.adaptation()), lik.adaptation()):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        es, es_sub = lik.evaluate(theta, info=True), sub.evaluate(theta, info=True)
        np.testing.assert_allclose(sub.full_gradient(es_sub), lik.full_gradient(es), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(sub.q_information(es_sub), lik.q_information(es), rtol=1e-9, atol=1e-9)


@pytest.mark.filterwarnings("ignore::glmmix.BoundaryWarning")
def test_the_fit_keeps_every_clusters_nodes(lsat):
    """The 3PL's estimation runs on the distinct persons (fewer cells per evaluation) and
    reports the whole data's adaptation: restored, it evaluates to the fitted log-likelihood."""
    model = _model(THREE_PL, lsat, class_specific=["random"],
                   fix={**{f"class1:item[I{j}]": 15.0 for j in range(1, 6)},
                        **{f"class1:loading(id:item[I{j}])": 0.0 for j in range(1, 6)}})
    lik = model.likelihood
    fr = estimate(lik, FitOptions(n_starts=2, n_final=1, seed=1))
    assert fr.adapt_state[0].shape[0] == 1000
    lik.restore(fr.adapt_state)
    assert lik.loglik(fr.theta) == pytest.approx(fr.ll, abs=1e-8)
    assert fr.ll > -2466.66  # the 2PL's -2466.6534 or the 3PL's -2466.6491


def test_nothing_to_merge(lsat):
    """Distinct clusters, shared rules and weighted designs are left as they are."""
    va = gm.datasets.load("verbagg_long")
    few = va[va["id"].astype(int) <= 40]
    lik = _model(FMA, few).likelihood
    assert cluster_copies(lik.design)[0].size == 40 and on_distinct_clusters(lik) is None
    gom = _model("y ~ 0 + item | class ~ 1 + (1 | id)", lsat).likelihood  # trapezoid: patterns merged already
    assert on_distinct_clusters(gom) is None
    w = lsat.assign(w=1.0 + (lsat["id"].astype(int) % 3))
    assert on_distinct_clusters(_model(FMA, w, weights="w").likelihood) is None
    assert on_distinct_clusters(internal(_model(FMA, lsat).likelihood)[0]) is not None


def test_clusters_that_cannot_repeat_skip_the_patterns(lsat, monkeypatch):
    """Per-cluster sums (rows, outcome, a dense design's columns) that never repeat rule copies
    out before the patterns' pass (several times the data in memory: a GLMM of 10^6 rows with
    continuous covariates peaked at 6.6 times its frame, 4.6 without the pass). Copies whose
    rows come in another order keep their equal sums."""
    import glmmix.copies as copies

    calls = []
    monkeypatch.setattr(copies, "cluster_copies", lambda d: calls.append(1) or cluster_copies(d))
    rng = np.random.default_rng(2)
    g = np.repeat(np.arange(60), 5)
    x = rng.normal(size=g.size)
    df = __import__("pandas").DataFrame({"g": g, "x": x, "y": (rng.uniform(size=g.size) < 0.5).astype(int)})
    lik = MixtureModel.from_formula("y ~ x + (1 | g)", df, 1, "bernoulli").likelihood
    assert not copies._may_repeat(lik.design) and on_distinct_clusters(lik) is None and not calls
    shuffled = lsat.sample(frac=1.0, random_state=3)  # rows of a person in another order
    lik = _model(FMA, shuffled).likelihood
    assert copies._may_repeat(lik.design) and on_distinct_clusters(lik) is not None and calls
