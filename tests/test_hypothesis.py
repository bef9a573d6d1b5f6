"""Wald and z tests on parameter labels, against statsmodels on a one-class GLM."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

import glmmix as gm
from glmmix.exceptions import GlmmixError
from glmmix.hypothesis import parse_constraints


@pytest.fixture(scope="module")
def glm_pair():
    rng = np.random.default_rng(3)
    n = 600
    df = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                       "g": rng.choice(["a", "b", "c"], size=n)})
    eta = -0.3 + 0.8 * df.x1 - 0.5 * df.x2 + (df.g == "b") * 0.4
    df["y"] = rng.poisson(np.exp(eta))
    ours = gm.fit("y ~ x1 + x2 + g", df, family="poisson")
    ref = smf.glm("y ~ x1 + x2 + g", df, family=sm.families.Poisson()).fit()
    return ours, ref


def test_labels_match_statsmodels(glm_pair):
    ours, ref = glm_pair
    assert sorted(ours.params.index) == sorted(ref.params.index)
    np.testing.assert_allclose(ours.params, ref.params[ours.params.index], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(ours.bse, ref.bse[ours.params.index], rtol=1e-4)


@pytest.mark.parametrize("hyp", ["x1 = 0", "x1 = -x2", "x1 + 2*x2 = 0.1, g[T.b] = g[T.c]",
                                 ["x1 = 0.8", "x2 - g[T.b] = -1"]])
def test_wald_and_t_match_statsmodels(glm_pair, hyp):
    ours, ref = glm_pair
    R, q = parse_constraints(hyp if isinstance(hyp, str) else ", ".join(hyp), ours.params.index)
    # the same equations in statsmodels' column order
    Rr = pd.DataFrame(R, columns=ours.params.index)[ref.params.index].to_numpy()
    w, wr = ours.wald_test(hyp), ref.wald_test((Rr, q), scalar=True)
    assert w.df_denom == wr.df_denom
    np.testing.assert_allclose(w.statistic, wr.statistic, rtol=2e-4)
    np.testing.assert_allclose(w.pvalue, wr.pvalue, rtol=2e-3, atol=1e-12)
    t, tr = ours.t_test(hyp), ref.t_test((Rr, q))
    np.testing.assert_allclose(t.effect, tr.effect, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(t.sd, tr.sd, rtol=1e-4)
    np.testing.assert_allclose(t.pvalue, tr.pvalue, rtol=2e-3, atol=1e-12)
    np.testing.assert_allclose(t.conf_int(), tr.conf_int(), rtol=1e-4, atol=1e-6)
    # the array spelling gives the same answer
    np.testing.assert_allclose(ours.wald_test((R, q)).statistic, w.statistic)


def test_parse_constraints_reads_labels_with_punctuation():
    names = ["class1:item[u1]", "class2:item[u1]", "logit:class1:Intercept", "class1:Intercept"]
    R, q = parse_constraints("class1:item[u1] = class2:item[u1], logit:class1:Intercept - 2 * class1:Intercept = 3",
                             names)
    np.testing.assert_array_equal(R, [[1, -1, 0, 0], [0, 0, 1, -2]])
    np.testing.assert_array_equal(q, [0, 3])
    R, q = parse_constraints("(class1:item[u1] + class2:item[u1]) / 2 = 1", names)
    np.testing.assert_array_equal(R, [[0.5, 0.5, 0, 0]])
    with pytest.raises(GlmmixError, match=r"'class1:item\[u9\]' is not a parameter label; the labels are"):
        parse_constraints("class1:item[u9] = 0", names)  # a label with brackets that does not exist


@pytest.mark.parametrize("bad, match", [("x9 = 0", "not a parameter label"), ("x1 * x2 = 0", "linear"),
                                        ("x1 = = 0", "cannot read"), ("1 = 0", "no parameter"),
                                        ("x1 = 0, x1 = 0", "not linearly independent"), ("", "non-empty"),
                                        ("x1 / x2", "divide"), (np.ones((1, 2)), "columns")])
def test_bad_hypotheses_raise(glm_pair, bad, match):
    ours, _ = glm_pair
    with pytest.raises(GlmmixError, match=match):
        ours.wald_test(bad)


def test_equality_across_classes_in_lca():
    long = gm.wide_to_long(gm.datasets.load("lsat"), id=None)
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1)
    w = res.wald_test("class1:item[I3] = class2:item[I3]")
    d = res.params["class1:item[I3]"] - res.params["class2:item[I3]"]
    V = res.cov_params().loc[["class1:item[I3]", "class2:item[I3]"], ["class1:item[I3]", "class2:item[I3]"]].to_numpy()
    assert w.statistic == pytest.approx(d**2 / (V[0, 0] + V[1, 1] - 2 * V[0, 1]), rel=1e-10)
    assert w.df_denom == 1
    # a parameter without a standard error cannot enter a test
    res0 = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1, se="none")
    with pytest.raises(GlmmixError, match="no covariance"):
        res0.wald_test("class1:item[I3] = class2:item[I3]")


def test_a_wald_test_of_an_sd_at_zero_warns_of_the_boundary():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(30), 8)
    df = pd.DataFrame({"x": rng.normal(size=g.size), "g": g})
    df["y"] = rng.poisson(np.exp(0.2 + 0.5 * df.x + rng.normal(0, 0.6, 30)[g]))
    res = gm.fit("y ~ x + (1 | g)", df, family="poisson")
    with pytest.warns(gm.BoundaryWarning, match=r"sd\(g:Intercept\) = 0 lies on the boundary"):
        w = res.wald_test("sd(g:Intercept) = 0")
    assert w.pvalue == pytest.approx(2 * stats.norm.sf(res.tvalues["sd(g:Intercept)"]))
    with pytest.warns(gm.BoundaryWarning):
        res.t_test("sd(g:Intercept) = 0")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # hypotheses away from the boundary: no warning
        res.wald_test("x = 0")
        res.wald_test("sd(g:Intercept) = 0.5")


def test_intervals_stay_in_the_parameter_space():
    """Wald intervals of SDs end at 0 and of correlations at +-1; other labels (loadings,
    coefficients, class logits) keep params +- z se."""
    from glmmix.hypothesis import WaldInference

    class Fit(WaldInference):
        params = pd.Series([0.2, 0.9, -0.95, 0.1, -0.3, 0.5, 0.4],
                           index=["sd(g:Intercept)", "cor(g:x,Intercept)", "class2:cor(g:x,Intercept)",
                                  "class1:sigma", "loading(id:f1)", "x", "residual sd(g:x)"])
        bse = pd.Series([0.3, 0.2, 0.1, 0.2, 0.3, 0.4, 0.1], index=params.index)

    ci = Fit().conf_int()
    z = stats.norm.ppf(0.975)
    raw = pd.DataFrame({0: Fit.params - z * Fit.bse, 1: Fit.params + z * Fit.bse})
    want = raw.copy()
    want.loc[["sd(g:Intercept)", "class1:sigma"], 0] = 0.0
    want.loc["cor(g:x,Intercept)", 1] = 1.0
    want.loc["class2:cor(g:x,Intercept)", 0] = -1.0
    np.testing.assert_allclose(ci.to_numpy(), want.to_numpy(), rtol=1e-12)
    assert ci.loc["loading(id:f1)", 0] < -0.8 and ci.loc["x", 0] < 0  # no cut
