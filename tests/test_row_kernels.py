"""The per-row products of adaptive rules in one dimension (FMA, 3PL, random-intercept GLMMs)
are formed without einsum (``MixtureLikelihood._linear_predictors``, ``_node_moment``): the
same numbers, to the last bit, as the sums over the dimension they replace."""

import numpy as np
import pytest

import glmmix as gm
from glmmix.model import MixtureModel


@pytest.mark.parametrize("formula, k", [("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", 2),
                                        ("y ~ 0 + item + (1 | id)", 1)])
def test_one_dimension_rows_equal_the_sums_over_dimensions(formula, k):
    d = gm.wide_to_long(gm.datasets.load("lsat"))
    lik = MixtureModel.from_formula(formula, d, n_classes=k, family="bernoulli").likelihood
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.5, lik.layout.n_free)
    lik.adapt(theta, max_iter=2)
    rs, K = lik.pat, lik.K
    P = lik.layout.unpack(lik.layout.expand(theta))
    Lo, _ = lik.factor_matrices(P)
    u, _ = lik.integ.nodes()
    u = u.copy()
    u[:, 1] = -0.0  # signed zeros at a node: kept as the sums give them
    eta = lik._linear_predictors(rs, P, Lo, u, u.shape[1])
    A = np.zeros((rs.P, K, lik.D))
    for Zt, L, dims in zip(rs.Zs, Lo, lik._dims_out):
        A[:, :, dims] += np.einsum("pi,kij->pkj", Zt, L)
    at = lik._by_class(u)[rs.cluster] if lik.class_nodes else u[rs.cluster]
    ref = np.asarray(rs.X @ P["beta"])[:, :, None] + np.einsum("pkd,pkqd->pkq" if lik.class_nodes else "pkd,pqd->pkq", A, at)
    assert lik.D == 1 and eta.tobytes() == ref.tobytes()
    W = rng.random(eta.shape)
    for power in (1, 2):
        got = lik._node_moment(W, u, rs, power)
        want = np.einsum("pkq,pkqd->pkd" if lik.class_nodes else "pkq,pqd->pkd", W, at ** power)
        assert got.tobytes() == want.tobytes()
