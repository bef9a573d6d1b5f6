"""Sampling weights (glmmix/weights.py): frequency weights reproduce duplicated units, the
weighted gradient matches finite differences, and a weighted GLM matches R's survey::svyglm
(tests/reference/scripts/svyglm_apistrat.R and svyglm_apistrat_loglik.R, R 4.2.2, survey 4.1.1)."""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import load_reference
from glmmix.exceptions import DesignError
from glmmix.likelihood import MixtureLikelihood
from glmmix.quadrature import Integration
from helpers import check_derivatives, clustered_data, make_lik


def _duplicate(df, level, w, relabel):
    """Rows of each ``level`` group repeated w[group] times; copies get new ids in ``relabel``."""
    reps = w[df[level].to_numpy()]
    out = df.loc[df.index.repeat(reps)].copy()
    copy = out.groupby(level=0).cumcount().to_numpy()
    for col in relabel:
        out[col] = out[col].to_numpy() * 100 + copy
    return out.reset_index(drop=True)


def _lik(formula, data, K, family, method="agh", n=7, **kw):
    lik = make_lik(formula, data, K, family, **kw)
    d = lik.design
    integ = Integration.make(method, n, d.D, d.n_clusters, adaptive=method == "agh")
    return MixtureLikelihood(d, lik.layout, integ)


DUP_CASES = [
    # formula, K, family, weighted level, columns relabelled in copies, weight argument, integration
    ("y ~ 0 + item | class(unit) ~ 1 + z", 2, "bernoulli", "unit", ["unit"], "weights", "agh"),  # LCA
    ("yg ~ 1 + x", 1, "gaussian", "unit", ["unit"], "weights", "agh"),  # GLM, units = rows (row ids)
    ("y ~ 1 + x + (1 | cl)", 1, "bernoulli", "cl", ["cl", "unit"], "cluster_weights", "agh"),  # GLMM
    ("y ~ 0 + item | class ~ 1 + (1 | unit)", 2, "bernoulli", "unit", ["unit"], "cluster_weights", "trapezoid"),  # GoM
    ("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", 2, "bernoulli", "unit", ["unit"], "weights", "agh"),  # within
    ("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", 2, "bernoulli", "cl", ["cl", "unit"], "cluster_weights", "gh"),
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class(unit) ~ 1", 2, "bernoulli", "unit", ["unit"], "weights",
     "agh"),  # FMA: classes at the clusters' level (single level)
]


@pytest.mark.parametrize("formula, K, family, level, relabel, arg, method", DUP_CASES)
def test_frequency_weights_equal_duplicated_units(formula, K, family, level, relabel, arg, method, rng):
    data = clustered_data(rng, n_clusters=8, per=3)
    if formula.startswith("yg ~ 1 + x"):  # one row per unit
        data = data.drop_duplicates("unit").reset_index(drop=True)
        formula = formula + " | class(unit) ~ 1"
    n_groups = int(data[level].max()) + 1
    w = rng.integers(1, 4, size=n_groups)
    data["w"] = w[data[level].to_numpy()].astype(float)
    dup = _duplicate(data, level, w, relabel)
    scale = {"weight_scaling": "unscaled"} if arg == "weights" else {"cluster_weight_scaling": "unscaled"}
    lw = _lik(formula, data, K, family, method, **{arg: "w"}, **scale)
    ld = _lik(formula, dup, K, family, method)
    assert ld.design.n_units > lw.design.n_units
    for _ in range(2):
        theta = 0.5 * rng.standard_normal(lw.layout.n_free)
        if lw.integ.adaptive and lw.D:
            lw.adapt(theta)
            ld.adapt(theta)
        llw, gw, _ = lw.loglik_and_grad(theta)
        lld, gd, _ = ld.loglik_and_grad(theta)
        assert llw == pytest.approx(lld, rel=1e-10)
        np.testing.assert_allclose(gw, gd, rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(lw.unit_scores(theta).sum(axis=0), gw, rtol=1e-7, atol=1e-7)


WEIGHTED_CASES = [
    ("y ~ 0 + item | class(unit) ~ 1 + z", 3, "bernoulli", {"weights": "wu"}),
    ("y ~ 1 + x + (1 + x | cl)", 1, "bernoulli", {"weights": "wr", "cluster_weights": "wc"}),
    ("y ~ 0 + item + (1 | cl) | class(unit) ~ 1 + z", 2, "bernoulli", {"weights": "wu", "cluster_weights": "wc"}),
    ("y ~ 0 + item | class ~ 1 + (1 | unit)", 2, "bernoulli", {"weights": "wr", "cluster_weights": "wu"}),
    ("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", 2, "bernoulli", {"weights": "wu", "weight_scaling": "ecluster"}),
    ("yg ~ 1 + x + (1 | cl) | class(cl) ~ 1", 2, "gaussian", {"weights": "wc"}),  # between-level classes
    ("y ~ 0 + item + rr(0 + item | unit, 1) | class(unit) ~ 1", 2, "bernoulli",
     {"weights": "wu", "weight_scaling": "sample"}),
]


@pytest.mark.parametrize("formula, K, family, kw", WEIGHTED_CASES)
def test_weighted_gradient_matches_finite_differences(formula, K, family, kw, rng):
    data = clustered_data(rng, n_clusters=8, per=3)
    data["wu"] = rng.uniform(0.3, 3.0, size=data["unit"].max() + 1)[data["unit"]]
    data["wc"] = rng.uniform(0.3, 3.0, size=data["cl"].max() + 1)[data["cl"]]
    data["wr"] = rng.uniform(0.3, 3.0, size=len(data))
    lik = _lik(formula, data, K, family, "agh", **kw)
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    if lik.integ.adaptive and lik.D:
        lik.adapt(theta)
    check_derivatives(lik, theta)


def test_within_weight_scalings(rng):
    data = clustered_data(rng, n_clusters=6, per=3)
    data["w"] = rng.uniform(0.5, 2.0, size=data["unit"].max() + 1)[data["unit"]]
    f = "y ~ 0 + item | class(unit) ~ 1 + (1 | cl)"
    d = make_lik(f, data, 2, "bernoulli", weights="w").design
    sums = np.bincount(d.cluster_of_unit, d.unit_weight)
    np.testing.assert_allclose(sums, np.bincount(d.cluster_of_unit))  # "cluster": sum to cluster size
    e = make_lik(f, data, 2, "bernoulli", weights="w", weight_scaling="ecluster").design
    raw = data.drop_duplicates("unit").set_index("unit").loc[d.unit_ids, "w"].to_numpy()
    s1, s2 = np.bincount(e.cluster_of_unit, raw), np.bincount(e.cluster_of_unit, raw**2)
    np.testing.assert_allclose(np.bincount(e.cluster_of_unit, e.unit_weight), s1**2 / s2)
    data["wc"] = rng.uniform(0.5, 2.0, size=data["cl"].max() + 1)[data["cl"]]
    c = make_lik(f, data, 2, "bernoulli", cluster_weights="wc").design
    assert c.cluster_weight.sum() == pytest.approx(c.n_clusters)


@pytest.fixture(scope="module")
def apistrat():
    return gm.datasets.load("apistrat")


@pytest.mark.parametrize("model, formula, family", [
    ("gaussian", "api00 ~ ell + meals + mobility", "gaussian"),
    ("logit", "sch_wide ~ ell + meals", "bernoulli"),
])
def test_weighted_glm_matches_svyglm(apistrat, model, formula, family):
    ref = load_reference("svyglm_apistrat.json")
    r = ref["with_replacement"][model]
    n = ref["n"]
    res = gm.fit(formula, apistrat, family=family, weights="pw")
    assert res.se_type == "robust"
    names = ["Intercept" if k == "(Intercept)" else k for k in r["names"]]
    np.testing.assert_allclose(res.params[names], [r["coef"][k] for k in r["names"]], rtol=1e-6, atol=1e-8)
    # svyglm's with-replacement variance carries the factor n / (n - 1)
    V = np.asarray(r["vcov"]) * (n - 1) / n
    np.testing.assert_allclose(res.cov_params().loc[names, names], V, rtol=1e-4, atol=1e-10)
    # the weights sum to n by default, as svyglm's (rescale = TRUE) and Mplus's: the weighted
    # log-likelihood of svyglm's deviance (svyglm_apistrat_loglik.R), and BIC on the sample's scale
    ll = load_reference("svyglm_apistrat_loglik.json")[model]["loglik"]
    assert res.llf == pytest.approx(ll, rel=1e-8)
    assert res.bic == pytest.approx(-2 * ll + res.df_model * np.log(n), rel=1e-8)
    # scaling the weights changes the log-likelihood only
    sc = gm.fit(formula, apistrat, family=family, weights="pw", weight_scaling="unscaled")
    np.testing.assert_allclose(sc.params[names], res.params[names], rtol=1e-6)
    np.testing.assert_allclose(sc.bse[names], res.bse[names], rtol=1e-4)
    assert res.llf == pytest.approx(sc.llf * n / apistrat["pw"].sum(), rel=1e-6)
    # ell and meals tied (equal=): nested, but not by fixing parameters, so no Rao-Scott test
    tied = gm.fit(formula, apistrat, family=family, weights="pw", equal=[["ell", "meals"]])
    with pytest.raises(NotImplementedError, match="wald_test"):
        gm.lrtest(tied, res)


@pytest.mark.parametrize("case, restricted", [("logit_meals", "sch_wide ~ ell"), ("logit_both", "sch_wide ~ 1")])
def test_rao_scott_lrtest_matches_survey(apistrat, case, restricted):
    """Nested fits with sampling weights: survey's anova.svyglm (method "LRT", the Rao-Scott
    working likelihood-ratio test; tests/reference/scripts/svyglm_raoscott.R, survey 4.1.1)."""
    from glmmix.selection import weighted_chi2_sf

    ref = load_reference("svyglm_raoscott.json")
    r, n = ref[case], ref["n"]
    full = gm.fit("sch_wide ~ ell + meals", apistrat, family="bernoulli", weights="pw")
    t = gm.lrtest(gm.fit(restricted, apistrat, family="bernoulli", weights="pw"), full)
    assert t.statistic == pytest.approx(r["chisq"], rel=1e-7) and t.df == r["df"]  # deviance(m0) - deviance(m1)
    # survey's design-based V carries the with-replacement design's n / (n - 1)
    np.testing.assert_allclose(t.design_effects * n / (n - 1), r["lambda"], rtol=1e-6)
    # the tail: exact (integrate() in R) against glmmix's Imhof inversion, at survey's lambda
    assert weighted_chi2_sf(t.statistic, r["lambda"]) == pytest.approx(r["p_exact"], abs=1e-7)
    assert t.pvalue == pytest.approx(weighted_chi2_sf(t.statistic, t.design_effects), abs=1e-12)
    assert "Rao-Scott" in t.note and f"Rao-Scott p-value {t.pvalue:.4g}" in str(t)
    # a term fixed at 0 instead of dropped is the same restriction
    if case == "logit_meals":
        fixed = gm.fit("sch_wide ~ ell + meals", apistrat, family="bernoulli", weights="pw", fix={"meals": 0.0})
        assert gm.lrtest(fixed, full).pvalue == pytest.approx(t.pvalue, rel=1e-6)


def test_rao_scott_lrtest_gaussian_design_effects(apistrat):
    """For a gaussian outcome survey's working statistic is the weighted RSS difference and its
    lambda are in the same units: lambda equals glmmix's times the full model's sigma^2 (and
    n / (n - 1)); glmmix's statistic is the likelihood ratio with sigma estimated in both fits."""
    ref = load_reference("svyglm_raoscott.json")
    r, n = ref["gaussian"], ref["n"]
    full = gm.fit("api00 ~ ell + meals + mobility", apistrat, family="gaussian", weights="pw")
    t = gm.lrtest(gm.fit("api00 ~ meals", apistrat, family="gaussian", weights="pw"), full)
    s2 = full.params["sigma"] ** 2
    np.testing.assert_allclose(t.design_effects * s2 * n / (n - 1), r["lambda"], rtol=1e-6)
    assert t.statistic == pytest.approx(r["chisq"] / s2, rel=0.01)  # n log(RSS0 / RSS1) against (RSS0 - RSS1) / s2
    assert t.pvalue == pytest.approx(r["p_exact"], abs=0.01)


def test_weight_errors(rng):
    data = clustered_data(rng, n_clusters=6, per=3)
    data["wr"] = rng.uniform(0.5, 2.0, size=len(data))
    data["wc"] = rng.uniform(0.5, 2.0, size=data["cl"].max() + 1)[data["cl"]]
    lca = "y ~ 0 + item | class(unit) ~ 1"
    with pytest.raises(DesignError, match="'wr' varies within unit"):
        gm.fit(lca, data, 2, family="bernoulli", weights="wr")
    with pytest.raises(DesignError, match="'nope' given as weights"):
        gm.fit(lca, data, 2, family="bernoulli", weights="nope")
    with pytest.raises(DesignError, match="must be numeric"):
        gm.fit(lca, data.assign(s="a"), 2, family="bernoulli", weights="s")
    with pytest.raises(DesignError, match="not positive"):
        gm.fit(lca, data.assign(w0=0.0), 2, family="bernoulli", weights="w0")
    with pytest.raises(DesignError, match="missing"):
        gm.fit(lca, data.assign(wn=np.where(data.index == 3, np.nan, 1.0)), 2, family="bernoulli", weights="wn")
    with pytest.raises(DesignError, match="cluster_weights need a two-level model"):
        gm.fit(lca, data, 2, family="bernoulli", cluster_weights="wc")
    with pytest.raises(DesignError, match="'wr' varies within cl"):
        gm.fit("y ~ x + (1 | cl)", data, family="bernoulli", cluster_weights="wr")
    # person weights given as within weights would be scaled away: refused, naming the fix
    with pytest.raises(DesignError, match="cluster_weights='wc'"):
        gm.fit("y ~ x + (1 | cl)", data, family="bernoulli", weights="wc")
    with pytest.raises(DesignError, match="weight_scaling"):
        gm.fit(lca, data.assign(w=1.0), 2, family="bernoulli", weights="w", weight_scaling="cluster")
    with pytest.raises(DesignError, match="weight_scaling must be one of"):
        gm.fit(lca, data.assign(w=1.0), 2, family="bernoulli", weights="w", weight_scaling="total")


def test_classification_summaries_count_sampling_weights(tmp_path):
    """Sampling weights equal to Dayton's pattern counts (unscaled) give the frequency-weighted
    fit's estimates, and the entropy and classification table count each unit with its
    weight: Mplus's published entropy for the expanded table, 0.949
    (tests/reference/values/lca_dayton_pleural.json), and the frequency-weighted fit's table."""
    import warnings

    ref = load_reference("lca_dayton_pleural.json")
    table = pd.DataFrame(ref["data"]["patterns"], columns=["A", "B", "C"]).assign(
        count=ref["data"]["counts"], id=np.arange(8))
    kw = dict(items=["A", "B", "C"], id="id", n_classes=2, family="bernoulli", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        freq = gm.fit("y ~ 0 + item | class(id) ~ 1", table, freq_weights="count", **kw)
        samp = gm.fit("y ~ 0 + item | class(id) ~ 1", table, weights="count", weight_scaling="unscaled", **kw)
    np.testing.assert_allclose(samp.params, freq.params, atol=1e-5)
    assert samp.entropy == pytest.approx(ref["unconstrained"]["mplus"]["entropy"], abs=6e-4)  # Mplus 4.2
    assert samp.entropy == pytest.approx(freq.entropy, abs=1e-7)
    np.testing.assert_allclose(samp.classification_table().to_numpy(), freq.classification_table().to_numpy(),
                               atol=1e-6)
    np.testing.assert_allclose(samp.entropy_by_class(), freq.entropy_by_class(), atol=1e-7)
    assert samp.classification_table()["n"].sum() == pytest.approx(1692)
    # the default scaling (to the 8 units) leaves the weighted summaries alone; so does saving
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaled = gm.fit("y ~ 0 + item | class(id) ~ 1", table, weights="count", **kw)
    assert scaled.entropy == pytest.approx(samp.entropy, abs=1e-7)
    assert scaled.classification_table()["n"].sum() == pytest.approx(8)
    scaled.save(tmp_path / "w.json")
    assert gm.load_results(tmp_path / "w.json").entropy == pytest.approx(scaled.entropy, rel=1e-12)
    summary = str(scaled.summary())
    assert f"{samp.posterior.T.dot(table['count']).iloc[0] / 1692:.4f}" in summary  # weighted posterior mean
    assert "weighted units" in summary  # weights summing to the 8 units: 7.6 and 0.4


def test_cluster_class_proportions_weight_the_units(rng):
    data = clustered_data(rng, n_clusters=8, per=4)
    data["w"] = rng.integers(1, 4, size=data["unit"].max() + 1)[data["unit"]]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item | class(unit) ~ 1 + (1 | cl)", data, n_classes=2, family="bernoulli",
                     weights="w", seed=1, starts=(3, 1), se="none")
    got = res.cluster_class_proportions()
    units = data.drop_duplicates("unit").set_index("unit")
    post = res.posterior
    w = units.loc[post.index, "w"].to_numpy()
    cl = units.loc[post.index, "cl"].to_numpy()
    for g in got.index[:3]:
        m = cl == g
        np.testing.assert_allclose(got.loc[g].to_numpy(), w[m] @ post.to_numpy()[m] / w[m].sum(), rtol=1e-12)


def test_weighted_lca_matches_stepmix():
    """Sampling weights in an LCA, unequal within the response patterns (weights equal to the
    patterns' counts would be frequency weights): the pseudo log-likelihood (weights scaled to
    sum to n), class proportions and item probabilities equal StepMix 3.0.0's weighted fit
    (tests/reference/scripts/lca_weighted_stepmix.py, 50 starts); unscaled weights change the
    log-likelihood only."""
    ref = load_reference("lca_weighted_stepmix.json")
    wide = gm.datasets.load("carcinoma")
    wide["w"] = 0.5 * (1 + np.arange(len(wide)) % 4)
    kw = dict(items=ref["items"], n_classes=3, family="bernoulli", seed=1, weights="w")
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", wide, **kw)
    assert res.llf == pytest.approx(ref["loglik_sample_scaled"], abs=1e-6)
    np.testing.assert_allclose(res.class_proportions, ref["class_proportions"], atol=1e-5)
    prof = res.profile()
    got = np.array([[prof.loc[f"item[{i}]", f"class{k + 1}"] for i in ref["items"]] for k in range(3)])
    np.testing.assert_allclose(got, ref["p_yes"], atol=1e-4)
    raw = gm.fit("y ~ 0 + item | class(id) ~ 1", wide, weight_scaling="unscaled", **kw)
    assert raw.llf == pytest.approx(ref["loglik_sample_scaled"] * wide["w"].sum() / len(wide), abs=1e-5)


def test_observed_information_ses_with_sampling_weights_warn(apistrat):
    """se='ml' with sampling weights gave observed-information SEs without a word: on apistrat
    0.360 for ell where the design-based (sandwich) SE is 0.392 (svyglm's, without its
    n / (n - 1): tests/reference/values/svyglm_apistrat.json)."""
    ref = load_reference("svyglm_apistrat.json")["with_replacement"]["gaussian"]
    n = load_reference("svyglm_apistrat.json")["n"]
    with pytest.warns(gm.DataWarning, match="se='ml' with sampling weights.*se='robust'"):
        ml = gm.fit("api00 ~ ell + meals + mobility", apistrat, weights="pw", se="ml")
    robust = gm.fit("api00 ~ ell + meals + mobility", apistrat, weights="pw")
    i = ref["names"].index("ell")
    assert robust.bse["ell"] == pytest.approx(np.sqrt(np.asarray(ref["vcov"])[i, i] * (n - 1) / n), rel=1e-4)
    assert ml.se_type == "ml" and abs(ml.bse["ell"] / robust.bse["ell"] - 1) > 0.05
