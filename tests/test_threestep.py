"""Three-step distal outcomes and covariates (BCH and ML) against simulated truth."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import GlmmixError
from glmmix.threestep import _ml_parts, classification_errors, three_step

LCA = "y ~ 0 + item | class(id) ~ 1"


def simulate_distal(seed, n=800, mu=(0.0, 1.0), slope=0.0, J=6, p=(0.8, 0.25)):
    """Two classes (60% / 40%), J binary items, a covariate x with logit P(class 1) = 0.4 + slope x,
    and a distal z ~ N(mu_c, 1). Returns long data and the true classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    c = (rng.uniform(size=n) >= 1 / (1 + np.exp(-(0.4 + slope * x)))).astype(int)  # 0 = class 1
    Y = (rng.uniform(size=(n, J)) < np.where(c[:, None] == 0, p[0], p[1])).astype(int)
    wide = pd.DataFrame(Y, columns=[f"u{j}" for j in range(J)])
    wide["z"] = np.array(mu)[c] + rng.normal(size=n)
    wide["x"] = x
    wide["id"] = np.arange(n)
    return wide.melt(id_vars=["id", "z", "x"], var_name="item", value_name="y"), c


def _fit(long):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(LCA, long, n_classes=2, family="bernoulli", seed=1)
    # class 1 is the one answering "yes" more often (the simulation's first class)
    assert res.profile()["class1"].mean() > res.profile()["class2"].mean()
    return res


@pytest.fixture(scope="module")
def distal():
    long, c = simulate_distal(11)
    return long, c, _fit(long)


@pytest.mark.parametrize("method", ["bch", "ml"])
def test_distal_means_recovered(distal, method):
    long, c, res = distal
    out = three_step(res, long, "z ~ 1", method=method)
    est, se = out.params, out.bse
    for k, mu in (("class1", 0.0), ("class2", 1.0)):
        assert abs(est[f"{k}:Intercept"] - mu) < 3.5 * se[f"{k}:Intercept"]
        assert abs(est[f"{k}:sigma"] - 1.0) < 3.5 * se[f"{k}:sigma"]
    t = out.t_test("class2:Intercept - class1:Intercept = 1")
    assert float(np.squeeze(t.pvalue)) > 0.001
    assert out.wald_test("class1:Intercept = class2:Intercept").pvalue < 1e-10
    # SEs comparable to those of the true-class means (larger: classification error)
    z = long.groupby("id")["z"].first().to_numpy()
    se_true = z[c == 1].std() / np.sqrt((c == 1).sum())
    assert se_true < se["class2:Intercept"] < 2 * se_true
    assert "Classification errors" in out.summary()


def test_bch_with_perfect_classification_is_the_class_means(distal):
    long, c, res = distal
    truth = pd.DataFrame(np.eye(2)[c], index=res.posterior.index, columns=res.posterior.columns)
    fake = type("R", (), {"posterior": truth, "n_classes": 2, "class_sizes": {}})()
    out = three_step(fake, long, "z ~ 1", method="bch")
    z = long.groupby("id")["z"].first().to_numpy()
    np.testing.assert_allclose(out.params[["class1:Intercept", "class2:Intercept"]], [z[c == 0].mean(), z[c == 1].mean()])
    np.testing.assert_allclose(out.params["class1:sigma"], z[c == 0].std())
    # sandwich SE of a mean with unit weights: sd / sqrt(n)
    np.testing.assert_allclose(out.bse["class1:Intercept"], z[c == 0].std() / np.sqrt((c == 0).sum()), rtol=1e-10)


def test_classification_errors_rows_sum_to_one(distal):
    _, _, res = distal
    W, D = classification_errors(res.posterior)
    np.testing.assert_allclose(D.sum(axis=1), 1.0)
    assert D[0, 0] > 0.85 and D[1, 1] > 0.85 and W.shape == (800,)


@pytest.mark.parametrize("mode", ["distal", "covariates"])
def test_ml_step3_gradient(distal, mode):
    long, _, res = distal
    rng = np.random.default_rng(0)
    W, D = classification_errors(res.posterior)
    per = long.groupby("id").first()
    X = np.column_stack([np.ones(len(per)), per["x"].to_numpy()])
    z = per["z"].to_numpy()
    K = 2
    theta = rng.normal(scale=0.3, size=(K - 1 + K * 3) if mode == "distal" else 2 * (K - 1))
    f = (lambda t: _ml_parts(t, W, np.log(D), X, z, K, mode, X)[0].sum())
    g = _ml_parts(theta, W, np.log(D), X, z, K, mode, X)[1].sum(axis=0)
    h = 1e-6
    num = np.array([(f(theta + h * e) - f(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5)


def test_covariate_effect_recovered():
    long, _ = simulate_distal(5, n=1000, slope=1.0)
    res = _fit(long)
    out = three_step(res, long, "~ x", method="ml")
    # logit P(class 1) against class 2 = 0.4 + 1.0 x
    for lab, val in (("logit:class1:Intercept", 0.4), ("logit:class1:x", 1.0)):
        assert abs(out.params[lab] - val) < 3.5 * out.bse[lab]


def test_distal_regression_and_errors(distal):
    long, _, res = distal
    out = three_step(res, long, "z ~ 1 + x", method="bch")
    assert list(out.params.index) == ["class1:Intercept", "class1:x", "class1:sigma", "class2:Intercept", "class2:x",
                                      "class2:sigma"]
    assert abs(out.params["class2:x"]) < 3.5 * out.bse["class2:x"]
    with pytest.raises(GlmmixError, match="method"):
        three_step(res, long, "z ~ 1", method="em")
    with pytest.raises(GlmmixError, match="not a column"):
        three_step(res, long, "w ~ 1")
    with pytest.raises(GlmmixError, match="vary within units"):
        three_step(res, long.assign(v=np.arange(len(long))), "v ~ 1")
    with pytest.raises(GlmmixError, match="unit column"):
        three_step(res, long.drop(columns="id"), "z ~ 1")
    with pytest.raises(NotImplementedError, match="method='ml'"):
        three_step(res, long, "~ x", method="bch")


@pytest.mark.slow
@pytest.mark.parametrize("method", ["bch", "ml"])
def test_three_step_simulation_study(method):
    """100 replications: the distal mean difference (true 1) is unbiased and its 95% Wald
    interval covers at the nominal rate within binomial error."""
    est, cover = [], []
    for rep in range(100):
        long, _ = simulate_distal(1000 + rep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gm.fit(LCA, long, n_classes=2, family="bernoulli", seed=1, se="none")
        one = int(res.profile()["class1"].mean() < res.profile()["class2"].mean())  # label of the simulation's class 1
        a, b = res.posterior.columns[one], res.posterior.columns[1 - one]
        t = three_step(res, long, "z ~ 1", method=method).t_test(f"{b}:Intercept - {a}:Intercept = 1")
        est.append(float(np.squeeze(t.effect)))
        cover.append(float(np.squeeze(t.pvalue)) > 0.05)
    assert abs(np.mean(est) - 1.0) < 0.03
    assert abs(np.mean(cover) - 0.95) < 3 * np.sqrt(0.95 * 0.05 / 100)
