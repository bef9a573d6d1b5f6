"""Evaluation over blocks of clusters: the same numbers as the whole data at once.

Clusters are independent, so the log-likelihood, the gradient, the EM information, the
adaptation's posterior moments, the posteriors and the cluster scores are sums (or
concatenations) over blocks of clusters. A tiny block size makes every model here run over
several blocks; each quantity must equal the whole evaluation's to rounding.
"""

import numpy as np
import pytest

import glmmix as gm
import glmmix.likelihood as likmod
from glmmix.model import MixtureModel

from helpers import clustered_data, mixed_data

MODELS = {
    # one-class GLMM, adaptive nodes per cluster (rows are the patterns)
    "glmm": ("yg ~ x + (1 | cl)", "clustered", 1, "gaussian", {}),
    "glmm_logit": ("y ~ x + (1 + x | cl)", "clustered", 1, "bernoulli", {}),
    # LCA with a class covariate: row and unit patterns
    "lca": ("y ~ 0 + item | class(unit) ~ 1 + z", "mixed", 2, "bernoulli", {}),
    # GoM: row-level classes, random class logit, trapezoid rule shared by all clusters
    "gom": ("y ~ 0 + item | class ~ 1 + (1 | unit)", "mixed", 2, "bernoulli", {"integration": "trapezoid"}),
    # two-level LCA: classes inside clusters, random class logits, adaptive nodes
    "two_level": ("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", "clustered", 2, "bernoulli", {}),
    # classes outside the integral (FMA): nodes per cluster and class
    "fma": ("y ~ 0 + item + (1 | unit) | class(unit) ~ 1", "mixed", 2, "bernoulli", {}),
    # sampling weights of units within clusters
    "weighted": ("y ~ x + (1 | cl)", "clustered", 1, "bernoulli", {"weights": "w"}),
}


def _data(kind):
    rng = np.random.default_rng(3)
    df = clustered_data(rng, n_clusters=14, per=3) if kind == "clustered" else mixed_data(rng, n_units=25)
    df["w"] = 0.5 + rng.uniform(size=len(df))
    df["w"] = df.groupby("unit")["w"].transform("first")
    return df


def _pair(name, monkeypatch):
    f, kind, K, fam, kw = MODELS[name]
    df = _data(kind)
    whole = MixtureModel.from_formula(f, df, K, fam, **kw).likelihood
    monkeypatch.setattr(likmod, "SHARD_CELLS", 20)
    blocked = MixtureModel.from_formula(f, df, K, fam, **kw).likelihood
    assert whole.shards is None and blocked.shards is not None and len(blocked.shards) > 2
    return whole, blocked


@pytest.mark.parametrize("name", list(MODELS))
def test_blocks_give_the_whole_evaluation(name, monkeypatch):
    whole, blocked = _pair(name, monkeypatch)
    rng = np.random.default_rng(1)
    theta = 0.3 * rng.standard_normal(whole.layout.n_free)
    for lik in (whole, blocked):
        lik.adapt(theta)
    np.testing.assert_allclose(blocked.integ.m, whole.integ.m, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(blocked.integ.R, whole.integ.R, rtol=1e-10, atol=1e-12)
    ew, eb = whole.evaluate(theta), blocked.evaluate(theta)
    assert eb.ll == pytest.approx(ew.ll, rel=1e-12)
    np.testing.assert_allclose(blocked.full_gradient(eb), whole.full_gradient(ew), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(blocked.q_information(eb), whole.q_information(ew), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(blocked.unit_posterior(eb), whole.unit_posterior(ew), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(blocked.unit_scores(theta), whole.unit_scores(theta), rtol=1e-9, atol=1e-10)
    if ew.ll_units is not None:
        np.testing.assert_allclose(eb.ll_units, ew.ll_units, rtol=1e-12)
    hw, hb = whole.evaluate(theta, homogeneous=True), blocked.evaluate(theta, homogeneous=True)
    assert hb.ll == pytest.approx(hw.ll, rel=1e-12)
    np.testing.assert_allclose(blocked.full_gradient(hb), whole.full_gradient(hw), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(blocked.q_information(hb), whole.q_information(hw), rtol=1e-9, atol=1e-10)
    # EM asks for the information with the gradient: the blocks sum both in one pass
    one = blocked.evaluate(theta, info=True)
    assert {"grad", "info"} <= set(one.sums)
    np.testing.assert_allclose(blocked.q_information(one), whole.q_information(ew), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", ["glmm_logit", "lca"])
def test_blocked_fit_matches_the_whole_fit(name, monkeypatch):
    f, kind, K, fam, kw = MODELS[name]
    df = _data(kind)
    args = dict(n_classes=K, family=fam, starts=(2, 1), seed=1, se="none", **kw)
    ref = gm.fit(f, df, **args)
    monkeypatch.setattr(likmod, "SHARD_CELLS", 20)
    res = gm.fit(f, df, **args)
    assert res.llf == pytest.approx(ref.llf, abs=1e-8)
    np.testing.assert_allclose(res.params, ref.params, atol=1e-8)
