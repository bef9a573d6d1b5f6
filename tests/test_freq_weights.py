"""Frequency weights: a table of response patterns with counts fits as the data with every unit
repeated.

The reference is glmmix's own fit of the expanded data, whose LCA log-likelihood is checked
against poLCA / flexmix elsewhere (LSAT, 2 classes: -2467.4055, tests/test_lca_reference.py);
the pattern table is made from the shipped LSAT data (30 distinct patterns of 1,000 persons,
Bock & Lieberman 1970). poLCA reports BIC 5010.8 for this model (n = 1000).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import load_reference
from glmmix.exceptions import DesignError

ITEMS = [f"I{j + 1}" for j in range(5)]
LCA = "y ~ 0 + item | class(id) ~ 1"


def _table():
    full = gm.datasets.load("lsat")[ITEMS]
    counts = full.groupby(ITEMS).size().rename("count").reset_index()
    return counts.assign(id=np.arange(len(counts))), full.reset_index(drop=True).assign(id=np.arange(len(full)))


def _fit(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(LCA, data, items=ITEMS, id="id", n_classes=2, family="bernoulli", seed=1, **kw)


def _aligned(res):
    """Parameters with class 1 the class of higher item logits (label switching)."""
    p = res.params
    if p["class1:item[I1]"] < p["class2:item[I1]"]:
        return p.rename(lambda s: s.replace("class1", "tmp").replace("class2", "class1").replace("tmp", "class2")), True
    return p, False


@pytest.fixture(scope="module")
def fits():
    table, full = _table()
    assert len(table) == 30 and table["count"].sum() == 1000
    return table, full, _fit(table, freq_weights="count"), _fit(full)


def test_pattern_table_fits_as_the_expanded_data(fits):
    table, full, w, f = fits
    assert w.llf == pytest.approx(f.llf, abs=1e-6)
    assert w.llf == pytest.approx(-2467.4055, abs=1e-4)  # poLCA / flexmix (tests/reference)
    assert w.bic == pytest.approx(f.bic, abs=1e-5) and w.bic == pytest.approx(5010.8, abs=0.05)  # poLCA's BIC
    assert w.sabic == pytest.approx(f.sabic, abs=1e-5) and w.entropy == pytest.approx(f.entropy, abs=1e-4)
    assert w.n_independent == 1000 and w.n_units == 30
    (pw, sw), (pf, sf) = _aligned(w), _aligned(f)
    pd.testing.assert_series_equal(pw.sort_index().drop(labels=[i for i in pw.index if "logit" in i]),
                                   pf.sort_index().drop(labels=[i for i in pf.index if "logit" in i]), atol=1e-4)
    # observed-information SEs of the expanded data (not a sandwich over 30 patterns)
    assert w.se_type == "ml"
    bw = w.bse.rename(lambda s: s.replace("class1", "tmp").replace("class2", "class1").replace("tmp", "class2")) \
        if sw else w.bse
    bf = f.bse.rename(lambda s: s.replace("class1", "tmp").replace("class2", "class1").replace("tmp", "class2")) \
        if sf else f.bse
    items = [i for i in bw.index if "item" in i]
    np.testing.assert_allclose(bw[items], bf[items], rtol=1e-3)
    ct_w, ct_f = w.classification_table(), f.classification_table()
    assert sorted(ct_w["n"]) == sorted(ct_f["n"]) and ct_w["n"].sum() == 1000
    np.testing.assert_allclose(sorted(w.entropy_by_class()), sorted(f.entropy_by_class()), atol=1e-4)
    text = str(w.summary())
    assert "Frequency weights:" in text and "count (sum 1000)" in text and "Pseudo" not in text


def test_robust_ses_count_every_copy(fits):
    table, full, _, _ = fits
    w, f = _fit(table, freq_weights="count", se="robust"), _fit(full, se="robust")
    (_, sw), (_, sf) = _aligned(w), _aligned(f)
    ren = (lambda s: s.replace("class1", "tmp").replace("class2", "class1").replace("tmp", "class2"))
    bw = w.bse.rename(ren) if sw else w.bse
    bf = f.bse.rename(ren) if sf else f.bse
    items = [i for i in bw.index if "item" in i]
    np.testing.assert_allclose(bw[items], bf[items], rtol=1e-3)


def test_two_level_frequency_weights_repeat_clusters():
    rng = np.random.default_rng(4)
    G, n = 40, 5
    df = pd.DataFrame({"g": np.repeat(np.arange(G), n), "x": rng.normal(size=G * n)})
    u = rng.normal(scale=0.9, size=G)
    df["y"] = (rng.random(G * n) < 1 / (1 + np.exp(-(0.3 + 0.8 * df["x"] + u[df["g"]])))).astype(int)
    df["copies"] = (df["g"] % 3 + 1)
    rep = df.loc[df.index.repeat(df["copies"])].copy()
    rep["copy"] = rep.groupby(level=0).cumcount()
    rep["g2"] = rep["g"].astype(str) + "_" + rep["copy"].astype(str)
    w = gm.fit("y ~ x + (1|g)", df, family="bernoulli", freq_weights="copies")
    f = gm.fit("y ~ x + (1|g2)", rep, family="bernoulli")
    assert w.llf == pytest.approx(f.llf, abs=1e-6)
    np.testing.assert_allclose(w.params.to_numpy(), f.params.to_numpy(), atol=1e-5)
    np.testing.assert_allclose(w.bse.to_numpy(), f.bse.to_numpy(), rtol=1e-3)
    assert w.bic == pytest.approx(f.bic, abs=1e-5)


def test_frequency_weights_survive_save_and_load(fits, tmp_path):
    _, _, w, _ = fits
    w.save(tmp_path / "w.json")
    back = gm.MixtureResults.load(tmp_path / "w.json")
    assert back.bic == pytest.approx(w.bic) and back.entropy == pytest.approx(w.entropy)


RATERS = list("ABCDEFG")


@pytest.fixture(scope="module")
def carcinoma_fits():
    """Carcinoma ratings (118 slides, 20 distinct patterns; classes well separated): the
    pattern table with counts, and the slides one by one started at the table's estimates
    (the same class labels), with a distal outcome and a covariate that depend on the pattern."""
    full = gm.datasets.load("carcinoma")[RATERS]
    table = full.groupby(RATERS).size().rename("count").reset_index()
    k = np.arange(len(table))
    table = table.assign(id=k, z=table[RATERS].sum(axis=1) + np.sin(k), x=np.cos(3.0 * k))
    per = table.set_index(table[RATERS].astype(str).agg("".join, axis=1))
    key = full[RATERS].astype(str).agg("".join, axis=1)
    full = full.assign(id=np.arange(len(full)), z=per.loc[key, "z"].to_numpy(), x=per.loc[key, "x"].to_numpy())
    kw = dict(items=RATERS, id="id", n_classes=2, family="bernoulli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = gm.fit(LCA, table, freq_weights="count", seed=1, **kw)
        f = gm.fit(LCA, full, start_params=w.theta, starts=0, **kw)
    assert f.llf == pytest.approx(w.llf, abs=1e-6)
    return table, full, w, f


@pytest.mark.parametrize("method, formula", [("bch", "z ~ 1"), ("ml", "z ~ 1"), ("bch", "~ x"), ("ml", "~ x")])
def test_three_step_with_frequency_weights_is_that_of_the_expanded_data(carcinoma_fits, method, formula):
    table, full, w, f = carcinoma_fits
    a = gm.three_step(w, table, formula, method=method)
    b = gm.three_step(f, full, formula, method=method)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a.bse, b.bse, rtol=1e-4)
    # boundary estimates (probabilities of 0 and 1, coefficients of 20 to 30 logits) are where
    # the two fits differ most: their classification errors agree to about 3e-8
    np.testing.assert_allclose(a.classification_errors, b.classification_errors, atol=1e-7)
    assert a.nobs == 20 and "Frequency weights: count (sum 118)" in a.summary()


def test_three_step_with_sampling_weights_is_pseudo_ml(carcinoma_fits, tmp_path):
    """Integer sampling weights give the expanded data's estimates; their SEs are the sandwich
    over the weighted units (each unit's score counted with its squared weight)."""
    table, full, _, f = carcinoma_fits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = gm.fit(LCA, table, items=RATERS, id="id", n_classes=2, family="bernoulli", weights="count",
                   start_params=f.theta, starts=0)
    for method in ("bch", "ml"):
        a = gm.three_step(s, table, "z ~ 1", method=method)
        b = gm.three_step(f, full, "z ~ 1", method=method)
        np.testing.assert_allclose(a.params, b.params, rtol=1e-5, atol=1e-6)
        assert np.all(a.bse > 0) and not np.allclose(a.bse, b.bse, rtol=1e-2)
        assert "Sampling weights: count" in a.summary()
    # a loaded result keeps its units' weights: the same three-step analysis
    s.save(tmp_path / "s.json")
    back = gm.three_step(gm.load_results(tmp_path / "s.json"), table, "z ~ 1", method="bch")
    np.testing.assert_allclose(back.params, gm.three_step(s, table, "z ~ 1", method="bch").params, rtol=1e-10)


def test_procedures_without_weights_refuse_weighted_fits(fits):
    table, _, w, _ = fits
    small = gm.fit(LCA, table, items=ITEMS, id="id", n_classes=1, family="bernoulli", freq_weights="count")
    with pytest.raises(NotImplementedError, match="repeated"):
        gm.blrt(small, w, table, n_boot=2)


def test_lmr_with_frequency_weights_is_that_of_the_expanded_data(carcinoma_fits):
    table, full, w, f = carcinoma_fits
    kw = dict(items=RATERS, id="id", n_classes=1, family="bernoulli")
    sw = gm.fit(LCA, table, freq_weights="count", **kw)
    sf = gm.fit(LCA, full, **kw)
    a, b = gm.lmr_test(sw, w), gm.lmr_test(sf, f)
    np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, rtol=1e-4, atol=1e-6)
    for k in ("statistic", "pvalue", "adjusted_statistic", "adjusted_pvalue"):
        assert getattr(a, k) == pytest.approx(getattr(b, k), rel=1e-4, abs=1e-8)


@pytest.mark.parametrize("change, kw, match", [
    (lambda t: t.assign(count=t["count"] + 0.5), {"freq_weights": "count"}, "non-integer"),
    (lambda t: t.assign(count=t["count"] * 0), {"freq_weights": "count"}, "not positive"),
    (lambda t: t, {"freq_weights": "counts"}, "'counts' given as freq_weights is not in the data"),
    (lambda t: t, {"freq_weights": "count", "weights": "count"}, "not both"),
])
def test_malformed_frequency_weights_are_refused(change, kw, match):
    table, _ = _table()
    with pytest.raises(DesignError, match=match):
        gm.fit(LCA, change(table), items=ITEMS, id="id", n_classes=2, family="bernoulli", **kw)


def test_pattern_table_against_mplus_and_lem():
    """Dayton's pleural thickening table (8 patterns, 1,692 X-rays) with its counts as
    frequency weights: Mplus's log-likelihood, AIC, BIC, SABIC and entropy, LEM's class
    proportions and item probabilities, classes largest first (published output,
    tests/reference/values/lca_dayton_pleural.json); the homogeneous model (raters equal
    within classes, equal=) as LEM's."""
    ref = load_reference("lca_dayton_pleural.json")
    table = pd.DataFrame(ref["data"]["patterns"], columns=["A", "B", "C"]).assign(
        count=ref["data"]["counts"], id=np.arange(8))
    kw = dict(items=["A", "B", "C"], id="id", n_classes=2, family="bernoulli", freq_weights="count", seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(LCA, table, **kw)
        hom = gm.fit(LCA, table, equal=[[f"class{k}:item[{c}]" for c in "ABC"] for k in (1, 2)], **kw)
    m = ref["unconstrained"]["mplus"]
    assert res.df_model == m["parameters"] and res.n_independent == 1692
    for got, want in ((res.llf, m["loglik"]), (res.aic, m["AIC"]), (res.bic, m["BIC"]), (res.sabic, m["SABIC"])):
        assert got == pytest.approx(want, abs=6e-4)
    assert res.entropy == pytest.approx(m["entropy"], abs=6e-4)
    lem = ref["unconstrained"]["lem"]
    np.testing.assert_allclose(res.class_proportions, lem["proportions"], atol=6e-5)  # largest first
    prof = res.profile()  # LEM stopped at a relative change of 7e-7: its 4th digits move by 1e-4
    for item, probs in lem["P(2 | class)"].items():
        np.testing.assert_allclose(prof.loc[f"item[{item}]", ["class1", "class2"]], probs, atol=1.5e-4)
    h = ref["homogeneous"]["lem"]
    assert hom.df_model == h["parameters"]
    for got, want in ((hom.llf, h["loglik"]), (hom.aic, h["AIC"]), (hom.bic, h["BIC"])):
        assert got == pytest.approx(want, abs=6e-5)
    assert hom.class_proportions.iloc[0] > 0.5


def test_lta_with_covariates_derived_quantities_count_the_copies():
    """An LTA with a covariate in both class logits, fitted to the distinct (x, responses)
    patterns with their counts: the log-likelihood was the expanded data's, but the class
    proportions, transition probabilities and R^2 averaged over the patterns, not the units
    (P(c1#1) 0.529 against the expanded data's 0.540, P(c2#1|c1#2) 0.250 against 0.253). The
    reference is the fit of the 600 simulated units themselves (simulation with known truth:
    P(c1#1 | x) = logistic(-1 + 2.5 x), P(c2#1 | c1, x) = logistic(-1.5 + 2 [c1 = 1] + x)).
    Sampling weights equal to the counts give the same point estimates (a population average)."""
    rng = np.random.default_rng(3)
    n, J = 600, 4
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2) for j in range(J)],
                        columns=["id", "time", "item"])
    base["x"] = rng.integers(0, 2, n)[base.id]
    f = "y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x"
    truth = {f"c1,c2#{k}:item[u{j}]": (2.0 if k == 1 else -2.0) for j in range(J) for k in (1, 2)}
    truth.update({"logit:c1#1:Intercept": -1.0, "logit:c1#1:x": 2.5, "logit:c2#1:Intercept": -1.5,
                  "logit:c2#1:c1#1": 2.0, "logit:c2#1:x": 1.0})
    kw = dict(n_classes=2, family="bernoulli", measurement_invariance=True, measured_by="time")
    df = gm.simulate(f, base, params=truth, seed=5, **kw)
    wide = df.pivot_table(index=["id", "x"], columns=["time", "item"], values="y").reset_index()
    cols = [f"t{t}_{i}" for t, i in wide.columns[2:]]
    wide.columns = ["id", "x", *cols]
    table = wide.groupby(["x", *cols]).size().reset_index(name="n").assign(pid=lambda d: np.arange(len(d)))
    long = table.melt(id_vars=["pid", "x", "n"], value_vars=cols, var_name="ti", value_name="y")
    long["time"], long["item"] = long.ti.str[1].astype(int), long.ti.str[3:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = gm.fit(f, df, seed=1, starts=(6, 2), **kw)
        freq = gm.fit(f.replace("(id)", "(pid)"), long, freq_weights="n", seed=1, starts=(6, 2), **kw)
        samp = gm.fit(f.replace("(id)", "(pid)"), long, weights="n", seed=1, starts=(6, 2), **kw)
    assert len(table) < n and freq.llf == pytest.approx(full.llf, abs=1e-6)
    a, b = full.derived(), freq.derived()
    np.testing.assert_allclose(b["value"], a["value"], atol=1e-6)
    np.testing.assert_allclose(b["se"], a["se"], rtol=1e-3)
    np.testing.assert_allclose(freq.class_proportions, full.class_proportions, atol=1e-6)
    pd.testing.assert_frame_equal(freq.transition_matrix("c2", "c1"), full.transition_matrix("c2", "c1"), atol=1e-6)
    np.testing.assert_allclose(samp.derived()["value"], a["value"], atol=1e-5)
    assert a.loc["P(c1#1)", "value"] == pytest.approx(0.540, abs=0.005)  # the simulated units' fit
