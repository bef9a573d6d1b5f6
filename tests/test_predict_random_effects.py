"""Expected outcomes of models with random effects or factors in the outcome part: E[y | class]
integrates them over their distribution (the population-averaged mean), never the mean at
zero effects. References: closed forms (Poisson: exp(eta + z' Sigma z / 2)) and scipy's
adaptive quadrature of the one-dimensional integral (logit, probit, factor mixtures).
"""

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

import glmmix as gm


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.fixture(scope="module")
def cbpp():
    return gm.datasets.load("cbpp")


def test_poisson_random_intercept_mean_is_lognormal(cbpp):
    res = gm.fit("incidence ~ period + offset(np.log(size)) + (1|herd)", cbpp, family="poisson")
    p = res.params
    sd = p["sd(herd:Intercept)"]
    shift = {"1": 0.0, "2": p["period[T.2]"], "3": p["period[T.3]"], "4": p["period[T.4]"]}
    lin = p["Intercept"] + cbpp["period"].astype(str).map(shift).astype(float)
    want = cbpp["size"] * np.exp(lin + sd ** 2 / 2)
    np.testing.assert_allclose(res.predict().reindex(cbpp.index).to_numpy(), want.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.predict(cbpp.head(4)).to_numpy(), want.head(4).to_numpy(), rtol=1e-10)
    # the mean at zero effects is smaller by exp(sd^2 / 2): not what is returned
    assert np.exp(sd ** 2 / 2) > 1.1


def test_correlated_random_slopes_poisson_mean():
    rng = np.random.default_rng(5)
    G, n = 60, 8
    df = pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.normal(size=G * n)})
    b = rng.multivariate_normal([0, 0], [[0.4, 0.1], [0.1, 0.2]], size=G)
    df["y"] = rng.poisson(np.exp(0.5 + 0.3 * df["x"] + b[df["g"], 0] + b[df["g"], 1] * df["x"]))
    res = _quiet(gm.fit, "y ~ x + (1 + x | g)", df, family="poisson")
    p = res.params
    s0, s1, r = p["sd(g:Intercept)"], p["sd(g:x)"], p["cor(g:x,Intercept)"]
    new = pd.DataFrame({"x": [-1.0, 0.0, 2.0]})
    z = np.c_[np.ones(3), new["x"]]
    S = np.array([[s0 ** 2, r * s0 * s1], [r * s0 * s1, s1 ** 2]])
    want = np.exp(p["Intercept"] + p["x"] * new["x"] + 0.5 * np.einsum("ri,ij,rj->r", z, S, z))
    np.testing.assert_allclose(res.predict(new).to_numpy(), want.to_numpy(), rtol=1e-6)


@pytest.mark.parametrize("link, cdf", [("logit", stats.logistic.cdf), ("probit", stats.norm.cdf)])
def test_binary_random_intercept_mean_matches_quadrature(cbpp, link, cdf):
    res = gm.fit("cbind(incidence, size - incidence) ~ period + (1|herd)", cbpp, family="binomial", link=link)
    p = res.params
    sd = p["sd(herd:Intercept)"]
    new = pd.DataFrame({"period": ["1", "3"], "size": [10, 10]})
    for row, lin in zip(res.predict(new), [p["Intercept"], p["Intercept"] + p["period[T.3]"]]):
        want = integrate.quad(lambda u: cdf(lin + sd * u) * stats.norm.pdf(u), -12, 12, epsabs=1e-13)[0]
        assert row == pytest.approx(want, abs=1e-9)


def test_factor_mixture_by_class_means_match_quadrature():
    lsat = gm.datasets.load("lsat").reset_index().rename(columns={"index": "id"})
    items = [f"I{j + 1}" for j in range(5)]
    res = _quiet(gm.fit, "y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", lsat, items=items, id="id",
                 n_classes=2, family="bernoulli", seed=1, starts=(6, 2), se="none")
    byc = res.predict(pd.DataFrame({"item": ["I3"], "id": [0]}), which="by_class").iloc[0]
    p = res.params
    for c in byc.index:
        beta = p[f"{c}:item[I3]"]
        lam = p["loading(id:item[I3])"]  # loadings are class-invariant by default
        want = integrate.quad(lambda u: stats.logistic.cdf(beta + lam * u) * stats.norm.pdf(u), -12, 12,
                              epsabs=1e-13)[0]
        assert byc[c] == pytest.approx(want, abs=1e-9)


def test_ordinal_random_intercept_expected_category_matches_quadrature():
    rng = np.random.default_rng(1)
    G, n = 80, 5
    df = pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.normal(size=G * n)})
    lat = 0.8 * df["x"] + rng.normal(size=G)[df["g"]] + rng.logistic(size=G * n)
    df["y"] = np.digitize(lat, [-1, 1])
    res = _quiet(gm.fit, "y ~ x + (1|g)", df, family="ordinal")
    p = res.params
    t1, t2, sd, bx = p["threshold[1]"], p["threshold[2]"], p["sd(g:Intercept)"], p["x"]
    got = res.predict(pd.DataFrame({"x": [0.0, 1.0]}))
    for x, val in zip([0.0, 1.0], got):
        f = (lambda u: (2 - stats.logistic.cdf(t1 - bx * x - sd * u) - stats.logistic.cdf(t2 - bx * x - sd * u))
             * stats.norm.pdf(u))
        assert val == pytest.approx(integrate.quad(f, -12, 12, epsabs=1e-13)[0], abs=1e-9)


REF = json.load(open(os.path.join(os.path.dirname(__file__), "reference", "values", "offset_cbpp.json")))


def test_conditional_predictions_at_the_modes_match_glmmtmb(cbpp):
    """Laplace: the mean at each herd's conditional mode, glmmTMB's predict(type = "response")."""
    res = gm.fit("incidence ~ period + offset(np.log(size)) + (1|herd)", cbpp, family="poisson",
                 integration="laplace")
    want = np.asarray(REF["glmmTMB_laplace"]["predict_response"])
    np.testing.assert_allclose(res.predict(which="conditional").reindex(cbpp.index).to_numpy(), want, rtol=2e-5)
    np.testing.assert_allclose(res.predict(cbpp, which="conditional").to_numpy(), want, rtol=2e-5)


def test_conditional_predictions_average_over_the_posterior(cbpp):
    """Adaptive quadrature: E[y_r | the herd's counts] = int mu_r(u) p(u | y_g) du, checked by scipy."""
    res = gm.fit("incidence ~ period + offset(np.log(size)) + (1|herd)", cbpp, family="poisson")
    p = res.params
    sd = p["sd(herd:Intercept)"]
    shift = {"1": 0.0, "2": p["period[T.2]"], "3": p["period[T.3]"], "4": p["period[T.4]"]}
    got = res.predict(which="conditional")
    for herd in ["1", "7"]:
        rows = cbpp[cbpp["herd"].astype(str) == herd]
        lin = p["Intercept"] + rows["period"].astype(str).map(shift).astype(float).to_numpy() + np.log(rows["size"])
        y = rows["incidence"].to_numpy()

        def post(u):
            return np.exp(stats.poisson.logpmf(y, np.exp(lin + sd * u)).sum()) * stats.norm.pdf(u)

        norm = integrate.quad(post, -10, 10, epsabs=1e-14)[0]
        for r, li in zip(rows.index, lin):
            want = integrate.quad(lambda u: np.exp(li + sd * u) * post(u), -10, 10, epsabs=1e-14)[0] / norm
            assert got.loc[r] == pytest.approx(want, rel=1e-7)
    # new data: the herds' posteriors from the rows given, in their order
    sub = cbpp.iloc[[7, 2, 3, 0, 1]]
    new = res.predict(sub, which="conditional", responses="newdata")
    assert list(new.index) == list(sub.index)
    herd1 = cbpp[cbpp["herd"].astype(str) == "1"]
    np.testing.assert_allclose(res.predict(herd1, which="conditional"), got.loc[herd1.index], rtol=1e-8)


def test_conditional_predictions_of_mixtures_with_blocks_of_clusters(cbpp, monkeypatch):
    """Herd classes with a herd effect: the fitted evaluation runs over blocks of clusters, the
    predictions over the whole data; both give each herd's joint posterior of class and effect."""
    import glmmix.likelihood as likmod

    formula = "incidence ~ period + offset(np.log(size)) + (1|herd) | class(herd) ~ 1"
    whole = _quiet(gm.fit, formula, cbpp, n_classes=2, family="poisson", seed=1, starts=(4, 2), se="none")
    monkeypatch.setattr(likmod, "SHARD_CELLS", 40)  # a few herds per block
    blocked = _quiet(gm.fit, formula, cbpp, n_classes=2, family="poisson", seed=1, starts=(4, 2), se="none")
    assert blocked.model.likelihood.shards is not None
    assert blocked.llf == pytest.approx(whole.llf, abs=1e-6)
    np.testing.assert_allclose(blocked.predict(which="conditional"), whole.predict(which="conditional"), rtol=1e-5)


def test_conditional_predictions_with_blocks_of_clusters(cbpp, monkeypatch):
    """Large data are evaluated over blocks of clusters: predictions use every cluster's posterior alike."""
    import glmmix.likelihood as likmod

    formula = "incidence ~ period + offset(np.log(size)) + (1|herd)"
    whole = gm.fit(formula, cbpp, family="poisson")
    monkeypatch.setattr(likmod, "SHARD_CELLS", 40)  # a few herds per block
    blocked = gm.fit(formula, cbpp, family="poisson")
    assert blocked.model.likelihood.shards is not None
    np.testing.assert_allclose(blocked.predict(which="conditional"), whole.predict(which="conditional"), rtol=1e-6)
    np.testing.assert_allclose(blocked.predict(cbpp, which="conditional"), whole.predict(cbpp, which="conditional"),
                               rtol=1e-6)


NEW = json.load(open(os.path.join(os.path.dirname(__file__), "reference", "values", "predict_newdata.json")))


def test_new_rows_of_fitted_clusters_match_lme4_predict():
    """New rows of fitted subjects (later days, no outcome): the predictions condition on the
    subjects' fitted responses, lme4's predict(newdata) with the fitted effects
    (tests/reference/scripts/predict_newdata.R, lme4 1.1.31)."""
    sleep = pd.read_csv(os.path.join(os.path.dirname(__file__), "reference", "data", "sleepstudy.csv"))
    res = gm.fit("Reaction ~ Days + (1 + Days|Subject)", sleep)
    ref = NEW["lmer"]
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-5)
    new = pd.DataFrame({"Subject": ref["Subject"], "Days": ref["Days"]}, index=list("abcde"))
    got = res.predict(new, which="conditional")
    assert list(got.index) == list("abcde")
    np.testing.assert_allclose(got.to_numpy(), ref["predict"], rtol=2e-6)
    # an outcome column of missing values is no response either; responses="fitted" is the same
    np.testing.assert_allclose(res.predict(new.assign(Reaction=np.nan), which="conditional"), got, rtol=1e-12)
    # with the outcome given for rows of a fitted subject, the two choices differ, and the user says
    # which is meant (lme4's predict(newdata) ignores the outcome: responses="fitted"); the whole
    # fitted data predict alike either way
    own = sleep[sleep["Subject"] == 308].head(3)
    fitted = res.predict(which="conditional").loc[own.index]
    np.testing.assert_allclose(res.predict(own, which="conditional", responses="fitted"), fitted, rtol=1e-10)
    assert not np.allclose(res.predict(own, which="conditional", responses="newdata"), fitted, rtol=1e-3)
    with pytest.raises(gm.GlmmixError, match=r"names 'Subject' values that were fitted \(e.g. 308\).*say which"):
        res.predict(own, which="conditional")
    np.testing.assert_allclose(res.predict(sleep, which="conditional"), res.predict(which="conditional"),
                               rtol=1e-9)
    # new subjects with their responses: only newdata's responses exist, no question
    renamed = own.assign(Subject=9308)
    np.testing.assert_allclose(res.predict(renamed, which="conditional"),
                               res.predict(own, which="conditional", responses="newdata"), rtol=1e-12)
    with pytest.raises(gm.GlmmixError, match="'Subject' in newdata were not fitted.*999"):
        res.predict(new.assign(Subject=[308, 999, 309, 330, 372]), which="conditional")
    with pytest.raises(gm.GlmmixError, match=r"needs newdata's column\(s\) \['Subject'\]"):
        res.predict(new.drop(columns="Subject"), which="conditional")
    with pytest.raises(gm.GlmmixError, match="applies to which='conditional' only"):
        res.predict(new, which="marginal", responses="fitted")


def test_new_rows_of_fitted_clusters_laplace_binomial_match_glmer(cbpp):
    """glmer Laplace: the probability at each herd's fitted conditional mode for other periods."""
    res = gm.fit("cbind(incidence, size - incidence) ~ period + (1|herd)", cbpp, family="binomial",
                 integration="laplace")
    ref = NEW["glmer"]
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    new = pd.DataFrame({"herd": [str(h) for h in ref["herd"]], "period": [str(p) for p in ref["period"]]})
    np.testing.assert_allclose(res.predict(new, which="conditional").to_numpy(), ref["predict_response"], rtol=1e-4)


def test_new_rows_of_fitted_units_in_a_latent_class_model():
    """An LCA's prediction for an item a person did not answer: sum_c P(c | the person's fitted
    responses) P(y = 1 | c)."""
    wide = gm.datasets.load("lsat").head(200)
    long = gm.wide_to_long(wide)
    keep = ~((long["id"] <= 5) & (long["item"] == "I3"))  # persons 1-5 skip item 3
    res = _quiet(gm.fit, "y ~ 0 + item | class(id) ~ 1", long[keep], n_classes=2, family="bernoulli", seed=1,
                 starts=(6, 2), se="none")
    new = long[(long["id"] <= 5) & (long["item"] == "I3")].drop(columns="y")
    got = res.predict(new, which="conditional")
    byc = res.predict(new, which="by_class").to_numpy()
    want = (res.posterior.loc[new["id"]].to_numpy() * byc).sum(axis=1)
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-12)
    assert np.ptp(got.to_numpy()) > 0.01  # persons differ: not the marginal mean
    with pytest.raises(gm.GlmmixError, match="'id' in newdata were not fitted"):
        res.predict(new.assign(id=10_000), which="conditional")
