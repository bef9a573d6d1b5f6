"""The workflow around a fit: comparing models, drawing from a fitted model on given rows, the
bootstrap's data, Monte Carlo studies; each check fails on a silent wrong answer or an unclear
error that a user once met."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import DesignError, GlmmixError
from glmmix.selection import SelectionError

LCA = "y ~ 0 + item | class(id) ~ 1"
LSAT = [f"I{j + 1}" for j in range(5)]


def _quiet(f, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **kw)


@pytest.fixture(scope="module")
def carcinoma_fits():
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    return long, {K: _quiet(gm.fit, LCA, long, n_classes=K, family="bernoulli", seed=1) for K in (1, 2)}


@pytest.fixture(scope="module")
def glm():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"x": rng.normal(size=400)})
    df["y"] = 1.0 + 2.0 * df["x"] + rng.normal(size=400)
    return df, gm.fit("y ~ x", df)


# ------------------------------------------------------------------ information criteria
def test_caic_counts_frequency_weights_as_bic_does():
    """CAIC (Bozdogan 1987) = -2 LL + p (log n + 1) with BIC's n: with a table of LSAT's 30
    response patterns n is the 1,000 persons (poLCA's n for this model), as for the expanded
    data, not the 30 rows of the table."""
    full = gm.datasets.load("lsat")[LSAT]
    table = full.groupby(LSAT).size().rename("count").reset_index().assign(id=lambda d: np.arange(len(d)))
    kw = dict(n_classes=[1, 2], items=LSAT, id="id", family="bernoulli", seed=1)
    tab = _quiet(gm.enumerate_classes, LCA, table, freq_weights="count", **kw).table
    for K, row in tab.iterrows():
        assert row["CAIC"] == pytest.approx(-2 * row["log-likelihood"] + row["parameters"] * (np.log(1000) + 1),
                                            abs=1e-8)
    assert tab.loc[2, "CAIC"] == pytest.approx(4934.8110 + 11 * (np.log(1000) + 1), abs=1e-3)  # -2 LL: poLCA/flexmix


def test_compare_refuses_two_results_of_one_name_and_different_data(carcinoma_fits):
    long, fits = carcinoma_fits
    with pytest.raises(GlmmixError, match=r"results\[0\] and results\[1\] are both named"):
        gm.compare([fits[2], fits[2]])
    assert list(gm.compare({"a": fits[2], "b": fits[2]}).index) == ["a", "b"]
    other = _quiet(gm.fit, LCA, long[long["item"] != "A"], n_classes=2, family="bernoulli", seed=1)
    with pytest.raises(GlmmixError, match="rows"):
        gm.compare({"all": fits[2], "without A": other})
    with pytest.raises(GlmmixError, match="not a fitted result"):
        gm.compare([fits[2], "LCA"])


# ------------------------------------------------------------------ simulate
def test_simulate_from_a_result_uses_the_rows_given(glm):
    """Draws for other rows follow those rows' covariates (E[y | x] = 1 + 2 x), not the fitted
    rows' covariates written into the other rows."""
    df, res = glm
    other = df.assign(x=df["x"] * 10)
    sim = gm.simulate(res, other, seed=1)
    slope = np.polyfit(sim["x"], sim["y"], 1)[0]
    assert slope == pytest.approx(res.params["x"], abs=0.05)
    part = gm.simulate(res, df.iloc[:100].drop(columns="y"), seed=1)  # a subset, no outcome column
    assert part.index.equals(df.index[:100]) and part["y"].notna().all()
    shuffled = df.sample(frac=1.0, random_state=2)
    assert gm.simulate(res, shuffled, seed=1).index.equals(shuffled.index)  # the rows in the order given


def test_simulate_from_a_loaded_result(glm, tmp_path):
    df, res = glm
    res.save(tmp_path / "r.json")
    loaded = gm.load_results(tmp_path / "r.json")
    a, b = gm.simulate(res, df, seed=5), gm.simulate(loaded, df, seed=5)
    pd.testing.assert_frame_equal(a, b)


def test_simulate_needs_both_columns_of_cbind():
    d = pd.DataFrame({"s": [1, 2, 3, 0], "f": [3, 2, 1, 4], "x": [0.1, 0.5, -0.3, 1.0]})
    res = gm.fit("cbind(s, f) ~ x", d, family="binomial")
    with pytest.raises(DesignError, match=r"lack \['f'\].*trials"):
        gm.simulate(res, d.drop(columns="f"))


# ------------------------------------------------------------------ bootstrap LRT
def test_blrt_refuses_other_data_and_reads_wide_data(carcinoma_fits):
    long, fits = carcinoma_fits
    changed = long.assign(y=1 - long["y"])
    with pytest.raises(SelectionError, match="not the data the model was fitted to"):
        gm.blrt(fits[1], fits[2], changed, n_boot=1, seed=1)
    with pytest.raises(SelectionError, match="not the data"):
        gm.blrt(fits[1], fits[2], long.iloc[:-7], n_boot=1, seed=1)
    wide = gm.datasets.load("carcinoma")
    with pytest.raises(SelectionError, match="wide data with their items"):
        gm.blrt(fits[1], fits[2], wide, n_boot=1, seed=1)
    a = gm.blrt(fits[1], fits[2], long, n_boot=2, seed=3, starts=(4, 1))
    b = gm.blrt(fits[1], fits[2], wide, n_boot=2, seed=3, starts=(4, 1), fit_kwargs={"items": list(wide.columns)})
    np.testing.assert_allclose(a.bootstrap, b.bootstrap, rtol=1e-8)


# ------------------------------------------------------------------ monte_carlo
def test_monte_carlo_says_why_every_replication_failed():
    def generate(rng):
        return pd.DataFrame({"x": rng.normal(size=30), "y": rng.normal(size=30)})

    with pytest.raises(DesignError, match=r"every one of the 2 replications failed.*\['z'\]"):
        gm.monte_carlo(generate, lambda d: gm.fit("y ~ x + z", d), {"x": 0.0}, n_rep=2, seed=1)
    with pytest.raises(DesignError, match=r"truth\['x'\] must be a number"):
        gm.monte_carlo(generate, lambda d: gm.fit("y ~ x", d), {"x": "0"}, n_rep=2, seed=1)


# ------------------------------------------------------------------ arguments refused before computing
def test_bootstrap_and_enumeration_arguments_are_checked_first(carcinoma_fits):
    long, fits = carcinoma_fits
    for bad in ("a", 2.7, 0, True):
        with pytest.raises(SelectionError, match="n_boot must be a positive integer"):
            gm.blrt(fits[1], fits[2], long, n_boot=bad)
    with pytest.raises(DesignError, match="starts must be"):
        gm.blrt(fits[1], fits[2], long, n_boot=2, starts="x")
    with pytest.raises(SelectionError, match=r"\['weight'\] are not arguments of glmmix.fit"):
        gm.blrt(fits[1], fits[2], long, n_boot=2, fit_kwargs={"weight": "w"})
    with pytest.raises(SelectionError, match=r"\['familly'\] are not arguments of glmmix.fit"):
        gm.enumerate_classes(LCA, long, n_classes=[1, 2], familly="bernoulli")


def test_simulate_refuses_unknown_parameter_labels():
    d = pd.DataFrame({"x": np.linspace(-1, 1, 20)})
    with pytest.raises(DesignError, match=r"params names \['X'\]"):
        gm.simulate("y ~ x", d, params={"Intercept": 0.0, "x": 1.0, "X": 2.0}, family="poisson")


def test_results_files_name_bad_paths(glm, tmp_path):
    _, res = glm
    with pytest.raises(gm.exceptions.ResultsFileError, match="cannot write"):
        res.save(tmp_path / "no such folder" / "r.json")
    with pytest.raises(gm.exceptions.ResultsFileError, match="must be a path"):
        res.save(3)
    with pytest.raises(gm.exceptions.ResultsFileError, match="must be a path"):
        gm.load_results(None)


def test_simulate_ordinal_writes_categories_not_codes():
    """Draws of an ordinal outcome are its categories (numbers 1..3, or an ordered categorical),
    so that the fitted model reads them as it read the data."""
    rng = np.random.default_rng(4)
    d = pd.DataFrame({"x": rng.normal(size=300)})
    d["r"] = 1 + (d["x"] + rng.logistic(size=300) > -0.5).astype(int) + (d["x"] + rng.logistic(size=300) > 1.0)
    res = gm.fit("r ~ x", d, family="ordinal")
    sim = gm.simulate(res, d, seed=2)
    assert set(sim["r"].unique()) == {1, 2, 3}
    res.predict(sim, which="posterior")  # the fitted encoding reads the draws
    cat = d.assign(r=pd.Categorical(d["r"].map({1: "low", 2: "mid", 3: "high"}), ["low", "mid", "high"],
                                    ordered=True))
    res_c = gm.fit("r ~ x", cat, family="ordinal")
    for data in (cat, cat.drop(columns="r")):
        sim_c = gm.simulate(res_c, data, seed=2)
        assert sim_c["r"].dtype == cat["r"].dtype
        np.testing.assert_array_equal(sim_c["r"].cat.codes + 1, sim["r"].to_numpy())  # same draws


def test_simulate_refuses_rows_that_count_several_units():
    full = gm.datasets.load("lsat")[LSAT]
    table = full.groupby(LSAT).size().rename("count").reset_index().assign(id=lambda d: np.arange(len(d)))
    res = _quiet(gm.fit, LCA, table, items=LSAT, id="id", n_classes=1, family="bernoulli", freq_weights="count")
    with pytest.raises(DesignError, match="frequency weights 'count'.*expand them"):
        gm.simulate(res, gm.wide_to_long(table, items=LSAT, id="id"), seed=1)


def test_gom_reads_wide_data_with_items(carcinoma_fits):
    """gm.gom(wide, items=...) reshapes the wide data as lca() and fma() do (it ignored items=
    and then told the user to give items=)."""
    long, _ = carcinoma_fits
    wide = _quiet(gm.gom, gm.datasets.load("carcinoma"), 2, items=list("ABCDEFG"), seed=1, starts=(2, 1),
                  se="none", verbose=False)
    same = _quiet(gm.gom, long, 2, seed=1, starts=(2, 1), se="none", verbose=False)
    assert wide.nobs == same.nobs == 826
    assert wide.llf == pytest.approx(same.llf, abs=1e-8)


def test_compare_takes_results_as_arguments_names_them_by_formula_and_flags_bic_sample_sizes():
    """compare(r0, r1, r2) as R's anova(m0, m1, m2); two GLMMs are told apart by their formulas;
    BIC's n differs between a model without clusters (rows) and GLMMs (clusters): said, and
    shown in a column, not silently compared."""
    d = gm.datasets.load("sleepstudy")
    r0 = gm.fit("Reaction ~ Days", d, se="none")
    r1 = gm.fit("Reaction ~ Days + (1|Subject)", d, se="none")
    r2 = gm.fit("Reaction ~ Days + (Days|Subject)", d, se="none")
    with pytest.warns(gm.exceptions.GlmmixWarning, match="BIC and SABIC take n.*180.*18"):
        tab = gm.compare(r0, r1, r2)
    assert list(tab.index) == ["generalized linear model (one class)",
                               "generalized linear mixed model (GLMM): Reaction ~ Days + (1|Subject)",
                               "generalized linear mixed model (GLMM): Reaction ~ Days + (Days|Subject)"]
    assert list(tab["n (BIC)"]) == [180, 18, 18]
    assert tab["BIC"].iloc[2] == pytest.approx(-2 * r2.llf + 6 * np.log(18))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one n: no warning, no column
        assert "n (BIC)" not in gm.compare(r1, r2).columns
    for bad, match in [((), "give the fitted results"), ((r0, "x"), "not a str"), ((r1, r1), "both named")]:
        with pytest.raises(GlmmixError, match=match):
            gm.compare(*bad)


def test_text_outcome_is_refused_with_the_recoding():
    d = gm.datasets.load("sleepstudy")
    d["slow"] = np.where(d["Reaction"] > 300, "slow", "fast")
    with pytest.raises(DesignError, match=r"'fast' and 'slow': code the success as 1.*\(df\['slow'\] == 'slow'\)"):
        gm.fit("slow ~ Days", d, family="bernoulli")
    d["band"] = pd.cut(d["Reaction"], 3, labels=["low", "mid", "high"]).astype(str)
    with pytest.raises(DesignError, match="3 values: for ordered categories use family='ordinal'"):
        gm.fit("band ~ Days", d, family="poisson")


def test_items_numbered_as_numbers_are_flagged():
    """`y ~ 0 + item` with item numbered 1..7 fits one slope on the numbers: said, with the fix;
    C(item) gives the LCA; a time column beside an intercept (sleepstudy) is not flagged."""
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    long["item"] = long["item"].cat.codes + 1
    with pytest.warns(gm.exceptions.DataWarning, match=r"'item'.*7 values.*C\(item\)"):
        _quiet_except(gm.exceptions.DataWarning, gm.fit, "y ~ 0 + item | class(id) ~ 1", long, n_classes=2,
                      family="bernoulli", seed=1, se="none", starts=(4, 2))
    res = _quiet(gm.fit, "y ~ 0 + C(item) | class(id) ~ 1", long, n_classes=3, family="bernoulli", seed=1)
    assert res.llf == pytest.approx(-293.7050, abs=1e-3)  # poLCA's, as with item categorical
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.exceptions.DataWarning)
        gm.fit("Reaction ~ Days + (1|Subject)", gm.datasets.load("sleepstudy"), se="none")


def _quiet_except(category, f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", category)
        return f(*a, **k)


def test_scores_of_new_clusters_without_outcome_say_what_is_missing():
    """random_effects(newdata) of a GLMM without the outcome column said that "posterior class
    probabilities are computed from the units' responses" (a model without classes)."""
    cbpp = gm.datasets.load("cbpp")
    res = gm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, family="binomial")
    new = cbpp[cbpp.herd == cbpp.herd.iloc[0]].drop(columns="incidence")
    with pytest.raises(DesignError, match=r"lacks the outcome column\(s\) \['incidence'\]: the scores of random "
                                          r"effects and factors are computed from the clusters' responses"):
        res.random_effects(newdata=new)


def test_new_clusters_without_responses_are_named_not_dropped_silently():
    """random_effects(newdata) left out a cluster whose responses were all missing without a
    word (two persons asked for, one scored); it now warns, naming the cluster."""
    va = gm.datasets.load("verbagg_long")
    res = gm.fit("y ~ 0 + item + (1 | id)", va[va.id <= 40], family="bernoulli")
    new = va[va.id.isin([200, 201])].copy()
    new.loc[new.id == 201, "y"] = np.nan
    with pytest.warns(gm.DataWarning, match=r"1 cluster\(s\) of newdata have no observed response \(e.g. id = "
                                            r"201\): they get no score"):
        out = res.random_effects(newdata=new)
    assert list(out.index) == [200]
