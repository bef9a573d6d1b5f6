"""Inputs that used to give a wrong answer or crash inside a dependency: each is now either
right or refused by a GlmmixError that names the argument, column or value at fault."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix import DesignError, FormulaError, GlmmixError

LCA = "y ~ 0 + item | class(person) ~ 1"


def quiet_fit(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.fit(*a, **k)


@pytest.fixture
def glm_data():
    rng = np.random.default_rng(3)
    n = 80
    x = rng.normal(size=n)
    s = rng.binomial(6, 1 / (1 + np.exp(-0.4 - 0.8 * x))).astype(float)
    return pd.DataFrame({"y": 1.0 + 0.5 * x + rng.normal(size=n), "x": x, "s": s, "f": 6.0 - s, "n": 6.0,
                         "c": rng.poisson(np.exp(0.3 * x)).astype(float),
                         "b": (rng.uniform(size=n) < 0.4).astype(float), "g": np.repeat(np.arange(16), 5)})


@pytest.fixture
def lca_long():
    rng = np.random.default_rng(5)
    n, items = 60, list("abcd")
    cls = rng.integers(0, 2, n)
    p = np.where(cls[:, None] == 0, 0.2, 0.8)
    y = (rng.uniform(size=(n, len(items))) < p).astype(float)
    return pd.DataFrame({"person": np.repeat(np.arange(n), len(items)), "item": np.tile(items, n),
                         "y": y.ravel()})


# ---------------------------------------------------------------- simulate() with binomial counts
def test_simulate_cbind_replaces_successes_and_failures(glm_data):
    res = quiet_fit("cbind(s, f) ~ x", glm_data, family="binomial")
    sim = gm.simulate(res, glm_data, seed=2)
    assert "cbind(s, f)" not in sim.columns
    assert not np.array_equal(sim["s"].to_numpy(), glm_data["s"].to_numpy())
    np.testing.assert_array_equal(sim["s"] + sim["f"], glm_data["n"])  # trials kept, f = trials - s
    refit = quiet_fit("cbind(s, f) ~ x", sim, family="binomial")
    assert abs(refit.llf - res.llf) > 1e-3  # the bootstrap refits the simulated data, not the real data


def test_simulate_cbind_with_failure_expression(glm_data):
    res = quiet_fit("cbind(s, n - s) ~ x", glm_data, family="binomial")
    sim = gm.simulate(res, glm_data, seed=2)
    np.testing.assert_array_equal(sim["n"], glm_data["n"])
    refit = quiet_fit("cbind(s, n - s) ~ x", sim, family="binomial")
    assert abs(refit.llf - res.llf) > 1e-3


def test_simulate_trials_keeps_trials_and_replaces_outcome(glm_data):
    res = quiet_fit("s ~ x", glm_data, family="binomial", trials="n")
    sim = gm.simulate(res, glm_data, seed=2)
    np.testing.assert_array_equal(sim["n"], glm_data["n"])
    assert (sim["s"] <= sim["n"]).all()
    refit = quiet_fit("s ~ x", sim, family="binomial", trials="n")
    assert abs(refit.llf - res.llf) > 1e-3


# ---------------------------------------------------------------- fix=
@pytest.mark.parametrize("value, fragment", [(np.nan, "finite"), (np.inf, "finite"), (-np.inf, "finite"),
                                             ("a", "number"), (None, "number"), (True, "number")])
def test_fix_refuses_non_finite_and_non_numeric(glm_data, value, fragment):
    with pytest.raises(DesignError, match=rf"fix\['x'\].*{fragment}"):
        gm.fit("y ~ x", glm_data, fix={"x": value})


def test_fix_refuses_unknown_label_and_bad_sigma(glm_data):
    with pytest.raises(DesignError, match="unknown parameter 'zz'"):
        gm.fit("y ~ x", glm_data, fix={"zz": 1.0})
    with pytest.raises(DesignError, match=r"fix\['sigma'\].*positive"):
        gm.fit("y ~ x", glm_data, fix={"sigma": -1.0})
    with pytest.raises(DesignError, match="fix must be a dict"):
        gm.fit("y ~ x", glm_data, fix=[("x", 1.0)])
    with pytest.raises(DesignError, match="start_values\\['x'\\]"):
        gm.fit("y ~ x", glm_data, start_values={"x": np.nan})


def test_fix_applies(glm_data):
    res = gm.fit("y ~ x", glm_data, fix={"x": 0.25})
    assert "x" not in res.params.index and res.df_model == 2


# ---------------------------------------------------------------- empty factor levels
def test_unused_category_gets_no_parameter(lca_long):
    used = lca_long.assign(item=pd.Categorical(lca_long["item"], categories=list("abcd")))
    extra = lca_long.assign(item=pd.Categorical(lca_long["item"], categories=list("abcde")))
    a = quiet_fit(LCA, used, n_classes=2, family="bernoulli", seed=1, starts=(4, 2))
    b = quiet_fit(LCA, extra, n_classes=2, family="bernoulli", seed=1, starts=(4, 2))
    assert b.df_model == a.df_model == 9
    assert b.bic == pytest.approx(a.bic, abs=1e-6)
    assert b.dropped_levels == {"item": ["e"]} and a.dropped_levels == {}
    assert "level(s) of 'item' without an observed outcome get no parameter: e" in " ".join(str(b.summary()).split())


def test_item_without_responses_gets_no_parameter(lca_long):
    # item 'e' is asked of everyone and answered by no one
    e = pd.DataFrame({"person": np.arange(60), "item": "e", "y": np.nan})
    with_e = pd.concat([lca_long, e], ignore_index=True)
    with_e["item"] = pd.Categorical(with_e["item"])
    a = quiet_fit(LCA, lca_long, n_classes=2, family="bernoulli", seed=1, starts=(4, 2))
    b = quiet_fit(LCA, with_e, n_classes=2, family="bernoulli", seed=1, starts=(4, 2))
    assert (b.df_model, b.n_dropped, b.dropped_levels) == (a.df_model, 60, {"item": ["e"]})
    assert b.llf == pytest.approx(a.llf, abs=1e-6) and b.bic == pytest.approx(a.bic, abs=1e-6)


def test_unused_reference_level(glm_data):
    # the reference level of a treatment contrast has no rows: without dropping it the
    # remaining dummies would sum to the intercept
    lev = np.where(glm_data["x"] > 0, "hi", "lo")
    a = quiet_fit("y ~ 1 + grp", glm_data.assign(grp=pd.Categorical(lev, categories=["hi", "lo"])))
    b = quiet_fit("y ~ 1 + grp", glm_data.assign(grp=pd.Categorical(lev, categories=["aa", "hi", "lo"])))
    assert b.df_model == a.df_model == 3
    assert b.llf == pytest.approx(a.llf, abs=1e-8)
    np.testing.assert_allclose(b.params.to_numpy(), a.params.to_numpy(), atol=1e-6)


def test_design_column_zero_in_every_row_is_refused(glm_data):
    with pytest.raises(DesignError, match=r"\['z'\].*zero in every row"):
        gm.fit("y ~ x + z", glm_data.assign(z=0.0))


# ---------------------------------------------------------------- units without an outcome
def test_units_without_outcome_are_counted(lca_long):
    gone = lca_long.copy()
    gone.loc[gone.person.isin([3, 7]), "y"] = np.nan
    res = quiet_fit(LCA, gone, n_classes=2, family="bernoulli", seed=1, starts=(4, 2))
    assert (res.n_units, res.n_units_dropped, res.n_dropped) == (58, 2, 8)
    text = " ".join(str(res.summary()).split())
    assert "Units dropped (no outcome):" in text and "2 unit(s) of 'person' have no observed outcome" in text


def test_ability_units_without_responses():
    # 16 of ICAR's 1525 persons answered no item: wide_to_long leaves them no row
    long = gm.wide_to_long(gm.datasets.load("ability"))
    res = quiet_fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1,
                    starts=(2, 1), se="none")
    assert (res.n_units, res.n_units_dropped) == (1509, 16)
    wide = gm.datasets.load("ability")  # the same from wide data in one call
    res_w = quiet_fit("y ~ 0 + item | class(id) ~ 1", wide.assign(id=range(len(wide))), n_classes=2,
                      family="bernoulli", items=list(wide.columns), id="id", seed=1, starts=(2, 1), se="none")
    assert (res_w.n_units, res_w.n_units_dropped) == (1509, 16)


def test_clusters_without_outcome_are_counted(glm_data):
    d = glm_data.copy()
    d.loc[d.g == 0, "y"] = np.nan
    res = quiet_fit("y ~ x + (1 | g)", d, se="none")
    assert res.n_clusters_dropped == 1 and res.n_clusters == 15


# ---------------------------------------------------------------- outcomes out of support
@pytest.mark.parametrize("formula, family, column, value, kw", [
    ("o ~ 0 + x", "ordinal", "o", np.inf, {}),
    ("cbind(s, f) ~ x", "binomial", "f", 0.5, {}),
    ("cbind(s, f) ~ x", "binomial", "s", np.inf, {}),
    ("cbind(s, f) ~ x", "binomial", "f", -1.0, {}),
    ("s ~ x", "binomial", "n", 5.5, {"trials": "n"}),
    ("s ~ x", "binomial", "n", np.inf, {"trials": "n"}),
    ("s ~ x", "binomial", "s", np.inf, {"trials": "n"}),
    ("c ~ x", "poisson", "c", np.inf, {}),
    ("c ~ x", "poisson", "c", -2.0, {}),
    ("c ~ x", "poisson", "c", 1.5, {}),
    ("b ~ x", "bernoulli", "b", 0.5, {}),
    ("b ~ x", "bernoulli", "b", np.inf, {}),
    ("y ~ x", "gaussian", "y", -np.inf, {}),
])
def test_outcome_out_of_support_is_refused(glm_data, formula, family, column, value, kw):
    d = glm_data.assign(o=glm_data["c"].clip(0, 2))
    d.loc[5, column] = value
    with pytest.raises(DesignError, match=rf"'{column}'.*{value}" if np.isfinite(value) else f"'{column}'.*inf"):
        gm.fit(formula, d, family=family, **kw)


# ---------------------------------------------------------------- arguments
@pytest.mark.parametrize("kw, fragment", [
    ({"seed": "abc"}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": -1}, "seed"), ({"seed": True}, "seed"),
    ({"n_jobs": 0}, "n_jobs"), ({"n_jobs": 1.5}, "n_jobs"), ({"n_jobs": "2"}, "n_jobs"),
    ({"options": {"n_starts": 2}}, "options"), ({"options": gm.FitOptions(seed=-3)}, "options.seed"),
    ({"options": gm.FitOptions(gtol=np.nan)}, "options.gtol"),
    ({"starts": "abc"}, "starts"), ({"starts": (3, 1, 1)}, "starts"), ({"starts": 2.5}, "starts"),
    ({"start_params": [np.nan, 0.0, 0.0]}, "start_params"), ({"start_params": [0.0, 0.0]}, "start_params"),
    ({"start_params": "abc"}, "start_params"), ({"start_params": [[0.0, 1.0, 2.0]]}, "start_params"),
    ({"equal": "x"}, "equal"), ({"equal": [["x"]]}, "equal"), ({"trials": 3}, "trials"),
    ({"thresholds_by": ["x"]}, "thresholds_by"), ({"invariant": [1]}, "invariant"),
    ({"start_from": "model"}, "start_from"), ({"integration": 5}, "integration"),
    ({"adaptive": "yes"}, "adaptive"), ({"measurement_invariance": "no"}, "measurement_invariance"),
])
def test_bad_arguments_are_named(glm_data, kw, fragment):
    with pytest.raises(DesignError, match=fragment):
        gm.fit("y ~ x", glm_data, **kw)


@pytest.mark.parametrize("data, fragment", [
    ({"y": [1.0]}, "DataFrame"), (np.zeros((3, 2)), "DataFrame"), (pd.DataFrame({"y": [], "x": []}), "empty"),
    (pd.DataFrame([[1.0, 2.0, 3.0]], columns=["y", "x", "x"]), r"duplicated column names \['x'\]"),
])
def test_bad_data_is_named(data, fragment):
    with pytest.raises(DesignError, match=fragment):
        gm.fit("y ~ x", data)


def test_formula_with_two_tildes(glm_data):
    with pytest.raises(FormulaError, match="more than one '~'"):
        gm.fit("y ~ ~ x", glm_data)


@pytest.mark.parametrize("name, spelled", [("y.1", "y.1"), ("ÿé", "ÿé"), ("my y", "`my y`"),
                                           ("my y", 'Q("my y")'), ("y.1", "`y.1`"), ("1y", "`1y`")])
def test_outcome_names_dotted_unicode_quoted(glm_data, name, spelled):
    ref = gm.fit("y ~ x", glm_data)
    res = gm.fit(f"{spelled} ~ x", glm_data.rename(columns={"y": name}))
    assert res.llf == pytest.approx(ref.llf, abs=1e-10)


def test_quoted_names_in_cbind_and_groups(glm_data):
    ref = quiet_fit("cbind(s, f) ~ x + (1 | g)", glm_data, family="binomial", se="none")
    d = glm_data.rename(columns={"s": "wins.n", "f": "losses n", "g": "école"})
    res = quiet_fit("cbind(wins.n, `losses n`) ~ x + (1 | école)", d, family="binomial", se="none")
    assert res.llf == pytest.approx(ref.llf, abs=1e-8)
    sim = gm.simulate(res, d, seed=1)
    np.testing.assert_array_equal(sim["wins.n"] + sim["losses n"], d["n"])


def test_unquoted_name_that_is_not_a_column_name(glm_data):
    with pytest.raises(FormulaError, match="`my y`"):
        gm.fit("my y ~ x", glm_data.rename(columns={"y": "my y"}))


def test_simulate_arguments(glm_data):
    res = gm.fit("y ~ x", glm_data)
    with pytest.raises(DesignError, match="seed"):
        gm.simulate(res, glm_data, seed="abc")
    with pytest.raises(DesignError, match="unique index"):
        gm.simulate(res, pd.concat([glm_data, glm_data]))
    with pytest.raises(DesignError, match=r"params\['x'\]"):
        gm.simulate("y ~ x", glm_data, params={"Intercept": 0.0, "x": np.nan, "sigma": 1.0})
    assert isinstance(DesignError("x"), GlmmixError)


@pytest.mark.parametrize("kw, fragment", [({"seed": "abc"}, "seed"), ({"n_jobs": 0}, "n_jobs"),
                                          ({"n_rep": 0}, "n_rep"), ({"truth": [1.0]}, "truth")])
def test_monte_carlo_arguments(kw, fragment):
    args = {"generate": lambda rng: None, "fit": lambda df: None, "truth": {"x": 1.0}, "n_rep": 2, **kw}
    with pytest.raises(DesignError, match=fragment):
        gm.monte_carlo(**args)
