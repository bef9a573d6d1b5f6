"""Results object: statsmodels-style attributes, summary, save/load, predict, seeds."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

LCA = "y ~ 0 + item | class(id) ~ 1"


@pytest.fixture(scope="module")
def res():
    long = gm.wide_to_long(gm.datasets.load("lsat"))
    return gm.fit(LCA, long, n_classes=2, family="bernoulli", seed=1)


def test_attributes(res):
    assert list(res.params.index[:2]) == ["class1:item[I1]", "class2:item[I1]"]
    assert res.bse.notna().all() and (res.bse > 0).all()
    np.testing.assert_allclose(res.tvalues, res.params / res.bse)
    ci = res.conf_int()
    assert list(ci.columns) == [0, 1]  # statsmodels' names for labelled parameters
    assert (ci[0] < res.params).all() and (res.params < ci[1]).all()
    assert res.nobs == 5000 and res.n_units == 1000
    assert res.aic == pytest.approx(-2 * res.llf + 2 * 11)
    assert res.bic == pytest.approx(-2 * res.llf + np.log(1000) * 11)
    assert 0 < res.entropy < 1
    assert res.posterior.shape == (1000, 2)
    np.testing.assert_allclose(res.posterior.sum(axis=1), 1.0)
    assert res.posterior.index.name == "id"
    assert res.class_proportions.sum() == pytest.approx(1.0)
    assert res.cov_params().shape == (11, 11)


def test_summary_text_and_html(res):
    s = res.summary()
    txt = str(s)
    assert "latent class analysis" in txt and "-2467.4055" in txt
    assert "<table" in s.as_html()


def test_predict(res):
    p = res.predict()
    assert len(p) == 5000 and p.between(0, 1).all()
    by_class = res.predict(which="by_class")
    prof = res.profile()
    # class-specific predictions equal the item profiles
    first = by_class.iloc[:5].to_numpy()
    np.testing.assert_allclose(first, prof[["class1", "class2"]].to_numpy(), rtol=1e-12)
    post = res.predict(which="conditional")
    assert not np.allclose(post, p)
    new = pd.DataFrame({"item": pd.Categorical(["I3", "I1"], categories=["I1", "I2", "I3", "I4", "I5"])})
    np.testing.assert_allclose(res.predict(new), [p.iloc[2], p.iloc[0]])


def test_save_load_roundtrip(res, tmp_path):
    path = tmp_path / "fit.json"
    res.save(path)
    assert b"pickle" not in path.read_bytes()
    back = gm.load_results(path)
    pd.testing.assert_series_equal(back.params, res.params)
    pd.testing.assert_series_equal(back.bse, res.bse)
    assert back.llf == res.llf and back.bic == res.bic
    pd.testing.assert_frame_equal(back.posterior, res.posterior, check_index_type=False)
    assert str(back.summary()) == str(res.summary())
    new = pd.DataFrame({"item": ["I2", "I5"]})
    np.testing.assert_allclose(back.predict(new), res.predict(new))


def test_seed_gives_identical_results_serial_and_parallel():
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = gm.fit(LCA, long, n_classes=3, family="bernoulli", seed=7, starts=(8, 3), se="none")
        b = gm.fit(LCA, long, n_classes=3, family="bernoulli", seed=7, starts=(8, 3), se="none")
        c = gm.fit(LCA, long, n_classes=3, family="bernoulli", seed=7, starts=(8, 3), se="none", n_jobs=2)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_allclose(a.theta, c.theta, rtol=1e-10, atol=1e-10)
    pd.testing.assert_frame_equal(a.starts, c.starts)


def test_unreplicated_best_warns():
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    with pytest.warns(gm.ConvergenceWarning, match="only 1 of 2"):
        r = None
        for seed in range(40):  # find a seed whose two completed starts disagree
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                r = gm.fit(LCA, long, n_classes=4, family="bernoulli", seed=seed, starts=(2, 2), se="none")
            if r.best_replicated is False:
                for x in w:
                    warnings.warn_explicit(x.message, x.category, x.filename, x.lineno)
                break
    assert r.best_replicated is False
    assert any("only 1 of 2" in t for t in r.warnings)


def test_robust_se_close_to_ml_for_correct_model(res):
    long = gm.wide_to_long(gm.datasets.load("lsat"))
    rob = gm.fit(LCA, long, n_classes=2, family="bernoulli", seed=1, se="robust")
    assert rob.llf == pytest.approx(res.llf, abs=1e-6)
    ratio = (rob.bse / res.bse).to_numpy()
    assert np.all((ratio > 0.6) & (ratio < 1.6))


def test_profile_boundary_probabilities_have_nan_se():
    """A probability whose logit ran to the boundary (|logit| of 20-30, derivative below
    1e-9) has no standard error: NaN, not the 0 its underflowed derivative gives."""
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        res = gm.fit(LCA, long, n_classes=3, family="bernoulli", seed=1)
    prof = res.profile()
    on_boundary = {res.params.index[i] for i in res.boundary}
    assert len(on_boundary) == 10
    for item in prof.index:
        for k in range(1, 4):
            se = prof.loc[item, f"se:class{k}"]
            assert np.isnan(se) == (f"class{k}:{item}" in on_boundary), (item, k, se)
            assert np.isnan(se) or se > 1e-3


def test_fittedvalues_and_resid(res):
    """Fitted values are the posterior-weighted class profiles; residuals y - fitted."""
    fv, r = res.fittedvalues, res.resid
    long = gm.wide_to_long(gm.datasets.load("lsat"))
    assert len(fv) == len(r) == res.nobs and fv.between(0, 1).all()
    pd.testing.assert_series_equal(fv, res.predict(which="conditional"), check_names=False)
    np.testing.assert_allclose(r + fv, long.loc[fv.index, "y"])
    # by hand for one person: sum_c P(c | responses) P(y = 1 | c) for each item
    prof = res.profile()[["class1", "class2"]].to_numpy()
    rows = long.index[long["id"] == long["id"].iloc[0]]
    np.testing.assert_allclose(fv[rows], prof @ res.posterior.iloc[0].to_numpy())


def test_fittedvalues_refused_where_not_defined(tmp_path):
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    glm = gm.fit("y ~ 0 + item", lsat, family="bernoulli")
    glm.save(tmp_path / "glm.json")
    with pytest.raises(gm.GlmmixError, match="loaded result"):
        gm.load_results(tmp_path / "glm.json").fittedvalues


def test_bic_sample_size_is_the_independent_units():
    """BIC's n is the number of independent units (clusters of a GLMM), as the README says."""
    va = gm.datasets.load("verbagg_long")
    res = gm.fit("y ~ Anger + (1 | id)", va[va["id"] < 80], family="bernoulli")
    assert res.n_independent == 79 and res.nobs == 79 * 24
    assert res.bic == pytest.approx(-2 * res.llf + np.log(79) * res.df_model)
