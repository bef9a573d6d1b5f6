"""Malformed and unusual inputs a new user may give: each is refused before any fitting by a
GlmmixError subclass whose message names the column, term or value at fault (never a fit on
a silently misread column, nor a numpy or pandas exception from their insides)."""

import re

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix import DesignError, IdentificationError


@pytest.fixture(scope="module")
def glm():
    """200 rows in 20 groups: a binary outcome, a numeric and a 3-level covariate."""
    r = np.random.default_rng(0)
    n = 200
    g = np.repeat(np.arange(20), 10)
    x = r.normal(size=n)
    z = r.choice(["a", "b", "c"], size=n)
    eta = 0.5 + x + r.normal(size=20)[g]
    return pd.DataFrame({"y": r.binomial(1, 1 / (1 + np.exp(-eta))), "x": x, "z": z, "g": g,
                         "yg": eta + r.normal(size=n)})


def _model(formula, data, **kw):
    return gm.MixtureModel.from_formula(formula, data, **{"family": "bernoulli", **kw})


# ---------------------------------------------------------------- repeated random effects
@pytest.mark.parametrize("formula, named", [
    ("y ~ x + (1 | g) + (1 | g)", r"random term \(1 \| g\) gives 'Intercept' two effects by 'g'"),
    ("y ~ x + (1 + x | g) + (1 | g)", r"\(1 \+ x \| g\) and \(1 \| g\) both give 'Intercept' an effect by 'g'"),
    ("y ~ x + rr(1 | g, 1) + (1 | g)", r"\(1 \| g\) and rr\(1 \| g, 1\) both give 'Intercept'"),
    ("y ~ x + (x || g) + (x | g)", r"\(x \|\| g\) and \(x \| g\) both give 'Intercept'"),
])
def test_a_random_effect_given_twice_is_refused(glm, formula, named):
    """Two effects of one column by one grouping: only the sum of their variances is in the
    likelihood, so the fit reported two SDs with the same label, each an arbitrary share of it
    (an SE of 113 on this data), without a warning."""
    with pytest.raises(IdentificationError, match=named) as err:
        _model(formula, glm)
    assert "only the sum of their variances is identified" in str(err.value)


def test_distinct_effects_of_one_grouping_are_kept(glm):
    m = _model("y ~ x + (1 | g) + (0 + x | g)", glm)
    assert m.param_names[-2:] == ["sd(g:Intercept)", "sd(g:x)"]
    m = _model("y ~ x + (1 | g) + (1 | z)", glm)
    assert m.param_names[-2:] == ["sd(g:Intercept)", "sd(z:Intercept)"]


def test_a_class_logit_effect_given_twice_is_refused():
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    lsat["room"] = lsat["id"] // 50
    with pytest.raises(IdentificationError, match=r"\(1 \| room\) gives 'Intercept' two effects by 'room'"):
        _model("y ~ 0 + item | class(id) ~ 1 + (1 | room) + (1 | room)", lsat, n_classes=2)


@pytest.mark.parametrize("formula, where", [
    ("y ~ x + y", "outcome part"),
    ("y ~ x + offset(y)", "outcome part"),
    ("y ~ x + (0 + y | g)", "random terms"),
    ("y ~ x | class ~ 1 + y", "class part"),
])
def test_the_outcome_as_its_own_predictor_is_refused(glm, formula, where):
    """y ~ x + y was fitted (a perfect separation reported as boundary estimates)."""
    with pytest.raises(DesignError, match=rf"the outcome's column 'y' is also a predictor in the {where}"):
        _model(formula, glm, n_classes=2 if "class" in formula else 1)


def test_binomial_counts_as_predictors(glm):
    data = glm.assign(s=glm["g"] % 3, n=3)
    with pytest.raises(DesignError, match=r"the outcome's column 's' is also a predictor in the outcome part"):
        _model("cbind(s, n - s) ~ x + s", data, family="binomial")
    m = _model("cbind(s, n - s) ~ x + np.log(n + g)", data, family="binomial")  # the trials may predict
    assert m.param_names == ["Intercept", "x", "np.log(n + g)"]


@pytest.mark.parametrize("rhs, K, fixes", [("0", 2, "{'logit:class1:Intercept': 0}"),
                                           ("-1", 3, "{'logit:class1:Intercept': 0, 'logit:class2:Intercept': 0}")])
def test_a_class_part_without_terms_says_how_to_hold_sizes_equal(rhs, K, fixes):
    """'class(id) ~ 0' failed inside scipy.sparse with 'all index and data arrays must have the
    same length'."""
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    with pytest.raises(gm.FormulaError, match=r"the class part of 'class' has no terms .*keep '~ 1' and fix="
                                              + re.escape(fixes)):
        _model(f"y ~ 0 + item | class(id) ~ {rhs}", lsat, n_classes=K)


# ---------------------------------------------------------------- column types
def test_numbers_stored_as_text_are_refused_not_made_categories(glm):
    """A numeric column read as text (a CSV with one stray token) became a categorical with a
    level per number (160 parameters here) and was fitted."""
    with pytest.raises(DesignError, match=r"column 'x' is text, but 160 of its 160 distinct values read as "
                                          r"numbers .*categorical with 160 levels.*pd\.to_numeric.*C\(x\)"):
        _model("y ~ x", glm.assign(x=glm["x"].round(2).astype(str)))
    coded = glm["x"].round(0).astype(int).astype(str).where(glm.index % 7 != 0, ".")
    with pytest.raises(DesignError, match=r"its other values \('\.'\) look like codes for a missing number"):
        _model("y ~ x", glm.assign(x=coded))


def test_text_labels_that_are_whole_numbers_stay_categories(glm):
    """Codes such as '1', '2', '3' are category labels as often as not: no refusal."""
    m = _model("y ~ z", glm.assign(z=glm["z"].map({"a": "1", "b": "2", "c": "3"})))
    assert m.param_names == ["Intercept", "z[T.2]", "z[T.3]"]
    m = _model("y ~ C(x)", glm.assign(x=glm["x"].round(0).astype(str)))  # C() says: categories
    assert m.param_names[0] == "Intercept" and len(m.param_names) > 2


def test_numbers_of_dtype_object_are_refused_as_covariates(glm):
    """An object column of floats was a categorical with 200 levels."""
    with pytest.raises(DesignError, match=r"column 'x' holds numbers but has dtype object.*200 levels.*"
                                          r"astype\(float\)"):
        _model("y ~ x", glm.assign(x=glm["x"].astype(object)))


def test_numbers_of_dtype_object_are_read_as_an_outcome(glm):
    ref = _model("yg ~ x", glm, family="gaussian")
    m = _model("yg ~ x", glm.assign(yg=glm["yg"].astype(object)), family="gaussian")
    np.testing.assert_array_equal(m.design.y, ref.design.y)


@pytest.mark.parametrize("column, values, shown", [
    ("z", [1, "1"], r"\(1, '1'\)"),
    ("z", [True, 1], r"\(True, 1\)"),
    ("g", [3, "a"], r"\(3, 'a'\)"),
])
def test_columns_mixing_types_are_refused(glm, column, values, shown):
    """1 and '1' were two groups (or levels); True and 1 would be one."""
    bad = glm.assign(**{column: pd.Series(values * 100, dtype=object, index=glm.index)})
    with pytest.raises(DesignError, match=rf"column '{column}' mixes values of different types {shown}"):
        _model("y ~ x + z + (1 | g)", bad)


def test_complex_columns_are_refused(glm):
    """The imaginary part was dropped with a ComplexWarning from numpy."""
    with pytest.raises(DesignError, match="column 'x' holds complex numbers"):
        _model("y ~ x", glm.assign(x=glm["x"] + 0j))
    with pytest.raises(DesignError, match="outcome 'yg' holds complex numbers"):
        _model("yg ~ x", glm.assign(yg=glm["yg"] + 1j), family="gaussian")


def test_dates_as_covariates_are_refused_with_a_conversion(glm):
    dates = pd.Timestamp("2020-01-01") + pd.to_timedelta(glm["g"], unit="D")
    with pytest.raises(DesignError, match=r"column 'x' holds dates .*\.dt\.days"):
        _model("y ~ x", glm.assign(x=dates))
    with pytest.raises(DesignError, match=r"column 'x' holds durations"):
        _model("y ~ x", glm.assign(x=pd.to_timedelta(glm["g"], unit="D")))
    m = _model("y ~ x + (1 | g)", glm.assign(g=dates))  # dates that only group rows are fine
    assert m.design.n_clusters == 20


def test_dates_in_newdata_are_refused_not_predicted(glm):
    """A numeric covariate given as dates in newdata was read as nanoseconds since 1970:
    every predicted probability came out 1."""
    res = gm.fit("y ~ x + (1 | g)", glm, family="bernoulli", se="none")
    with pytest.raises(DesignError, match=r"column 'x' in the outcome part must hold real numbers, not datetime"):
        res.predict(glm.head().assign(x=pd.Timestamp("2020-01-01")))


def test_missing_values_in_newdata_are_named_as_newdata(glm):
    """The refusal spoke of 'rows with an observed outcome', which newdata for predictions need
    not have."""
    res = gm.fit("y ~ x + (1 | g)", glm, family="bernoulli", se="none")
    nd = glm.head(4).drop(columns="y").assign(x=[0.1, np.nan, 0.2, 0.3])
    with pytest.raises(DesignError, match=r"column 'x' has 1 missing value\(s\) in newdata \(first at index 1\)"):
        res.predict(nd)
    with pytest.raises(DesignError, match=r"column 'x' has 1 missing value\(s\) in rows with an observed outcome "
                                          r"\(first at index 1\)"):
        _model("y ~ x", glm.assign(x=np.where(glm.index == 1, np.nan, glm["x"])))


def test_newdata_that_is_not_a_frame_is_named(glm):
    res = gm.fit("y ~ x", glm, family="bernoulli", se="none")
    with pytest.raises(DesignError, match="newdata must be a pandas DataFrame, not dict"):
        res.predict(glm.head().to_dict("list"))
    junk = glm.head().assign(x=["0.5", ".", "1", "2", "3"])
    with pytest.raises(DesignError, match=r"column 'x' in the outcome part must be numeric \(e\.g\. '\.' at index 1\)"):
        res.predict(junk)


def test_multiindex_columns_are_refused(glm):
    cols = pd.MultiIndex.from_tuples([(c, "a") for c in glm.columns])
    with pytest.raises(DesignError, match=r"columns on 2 levels \(a MultiIndex\).*flatten"):
        _model("y ~ x", glm.set_axis(cols, axis=1))


# ---------------------------------------------------------------- arguments
@pytest.mark.parametrize("kw, fragment", [
    ({"n_points": 10**6}, r"more than 300 points per dimension cannot be computed"),
    ({"n_points": 400, "integration": "gh"}, r"integration='gh' with n_points=400"),
    ({"n_points": 600_000, "integration": "qmc"}, r"needs 6e\+05 nodes, more than 500,000"),
])
def test_integration_rules_too_large_to_compute_are_refused(glm, kw, fragment):
    """n_points=10**6 raised numpy's MemoryError (a 7 TiB matrix); 400 Gauss-Hermite points gave
    NaN weights and an EstimationError after the optimizer broke down."""
    with pytest.raises(DesignError, match=fragment):
        _model("y ~ x + (1 | g)", glm, **kw)


def test_many_dimensions_are_refused_before_the_rule_is_built(glm):
    with pytest.raises(DesignError, match=r"100 points per dimension in 4 dimension\(s\) needs 1e\+08 nodes"):
        _model("y ~ x + (1 + x + z | g)", glm, n_points=100)


def test_absurd_numbers_of_starts_are_refused(glm):
    """starts=(10**9, 1) drew every starting set first and took 20 GB before it was stopped."""
    with pytest.raises(DesignError, match=r"starts=\(1000000000, 1\) asks for more than 100,000 random starts"):
        gm.fit("y ~ x | class ~ 1", glm, n_classes=2, family="bernoulli", starts=(10**9, 1))


def test_wide_items_named_like_the_response_column():
    """pandas' melt raised a ValueError of its own."""
    wide = gm.datasets.load("lsat").rename(columns={"I1": "y"})
    with pytest.raises(DesignError, match=r"item column 'y' has the name of the output column of the responses"):
        gm.wide_to_long(wide)
    assert gm.wide_to_long(wide, value_name="resp").shape == (5000, 3)


@pytest.mark.parametrize("formula, column, family", [
    ("y ~ Intercept", "Intercept", "bernoulli"),
    ("yg ~ sigma", "sigma", "gaussian"),
])
def test_columns_named_like_a_label_are_refused(glm, formula, column, family):
    """A column 'Intercept' gave two parameters labelled 'Intercept' (params.to_dict() kept
    the slope under the intercept's name); a column 'sigma' two labelled 'sigma'."""
    with pytest.raises(DesignError, match=rf"two parameters have the label '{column}'.*rename the column"):
        _model(formula, glm.assign(**{column: glm["x"]}), family=family)


def test_a_column_hiding_a_formula_function_is_named(glm):
    with pytest.raises(gm.FormulaError, match=r"a column named 'C' hides the function C\(\): rename the column"):
        _model("y ~ C(z) + C", glm.assign(C=glm["x"]))


# ---------------------------------------------------------------- transforms and formula text
@pytest.mark.parametrize("formula, fragment", [
    ("y ~ np.log(x)", r"'np\.log\(x\)' in the outcome part is NaN in 98 row\(s\) \(first at index 1, where x = "),
    ("y ~ x + offset(np.log(n))", r"'offset\(np\.log\(n\)\)' in the outcome part is -inf in 1 row\(s\) "
                                  r"\(first at index 7, where n = 0\)"),
    ("y ~ x + (0 + np.sqrt(x) | g)", r"'np\.sqrt\(x\)' in the random term \(0 \+ np\.sqrt\(x\) \| g\) is NaN in 98"),
    ("y ~ 1 | class ~ 1 + np.log(x)", r"'np\.log\(x\)' in the class part of 'class' is NaN in 98 row\(s\)"),
    ("y ~ x + w", r"'w' in the outcome part is inf in 1 row\(s\) \(first at index 9\): infinite values in the data"),
])
def test_non_finite_transforms_name_their_rows(glm, formula, fragment):
    """formulaic's 'contains null values after evaluation' (or a bare 'non-finite values in
    column(s)') named neither the rows nor the values, and numpy's RuntimeWarning came first."""
    data = glm.assign(n=np.where(glm.index == 7, 0, 3), w=np.where(glm.index == 9, np.inf, 1.0))
    with np.errstate(all="raise"):  # no numpy warning on the way to the refusal
        with pytest.raises(DesignError, match=fragment):
            _model(formula, data, n_classes=2 if "class" in formula else 1)


@pytest.mark.parametrize("formula, fragment", [
    ("y ~ x + (1 | g | g)", r"random term '\(1 \| g \| g\)' has more than one '\|'"),
    ("y ~ x; z", r"Unknown operator ';' \(at 'x>>;<< z'\)"),
    ("y ~ I(x^2)", r"'\^' is the bitwise xor: write I\(x\*\*2\)"),
])
def test_formula_messages_are_one_plain_line(glm, formula, fragment):
    """formulaic's messages carried terminal colour codes and a second paragraph."""
    with pytest.raises(gm.FormulaError, match=fragment) as err:
        _model(formula, glm)
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- results and simulation
@pytest.mark.parametrize("alpha", [2, 0, -0.1, "0.05", True])
def test_confidence_levels_outside_zero_one_are_refused(glm, alpha):
    """alpha=2 gave intervals from +inf to -inf; '0.05' a TypeError from numpy."""
    res = gm.fit("y ~ x", glm, family="bernoulli")
    with pytest.raises(gm.GlmmixError, match=rf"alpha must be a number in \(0, 1\), not {re.escape(repr(alpha))}"):
        res.conf_int(alpha=alpha)


@pytest.mark.parametrize("formula, family, params, named", [
    ("yg ~ x", "gaussian", {"Intercept": 0.0, "x": 1.0, "sigma": -1.0}, "sigma"),
    ("y ~ x + (1 | g)", "bernoulli", {"Intercept": 0.0, "x": 1.0, "sd(g:Intercept)": -1.0}, r"sd\(g:Intercept\)"),
    ("y ~ x + (1 + x | g)", "bernoulli", {"Intercept": 0.0, "x": 1.0, "sd(g:Intercept)": 1.0, "sd(g:x)": 1.0,
                                          "cor(g:x,Intercept)": 1.5}, r"cor\(g:x,Intercept\)"),
    ("o ~ x", "ordinal", {"x": 1.0, "threshold[1]": 1.0, "threshold[2]": 0.0, "threshold[3]": 2.0},
     r"threshold\[2\]"),
])
def test_simulation_from_values_outside_the_parameter_space_is_refused(glm, formula, family, params, named):
    """A negative residual SD simulated an outcome of NaNs, unordered thresholds were simulated
    as the ordered thresholds 1, 1, 3, a negative SD as its absolute value, a correlation of 1.5
    raised numpy's LinAlgError."""
    data = glm.assign(o=np.arange(len(glm)) % 4)
    with pytest.raises(DesignError, match=rf"params\['{named}'\] = .* is outside the parameter space"):
        gm.simulate(formula, data, params=params, family=family)
    ok = {**params, **{k: abs(v) for k, v in params.items() if k.startswith(("sigma", "sd("))}}
    if family == "ordinal":
        ok["threshold[2]"] = 1.5
    if "cor(g:x,Intercept)" in ok:
        ok["cor(g:x,Intercept)"] = 0.5
    sim = gm.simulate(formula, data, params=ok, family=family, seed=1)
    assert np.isfinite(sim[formula.split(" ~")[0]]).all()


def test_an_ordinal_outcome_with_a_gap_in_its_integer_codes_says_so(glm):
    """Codes 0, 1, 3 are three categories (no row has 2), as clm's factor(y) takes them; the
    thresholds and predicted category indices then skip the 2, which the fit did not say."""
    o = np.where(glm["yg"] > 1, 3, (glm["yg"] > 0).astype(int))
    with pytest.warns(gm.DataWarning, match=r"takes the values \[0, 1, 3\]: its 3 categories .* and \[2\], which "
                                            r"no row has, is none of them"):
        m = _model("o ~ x", glm.assign(o=o), family="ordinal")
    assert m.param_names == ["x", "threshold[1]", "threshold[2]"]


def test_the_largest_gauss_hermite_rule_allowed_is_computed_and_checked(glm):
    """n_points=300 and its accuracy check (about 1.5 times the points, held at 360, where
    numpy's rule still has finite weights)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.IntegrationAccuracyWarning)
        big = gm.fit("y ~ x + (1 | g)", glm, family="bernoulli", n_points=300, se="none")
    ref = gm.fit("y ~ x + (1 | g)", glm, family="bernoulli", n_points=25, se="none")
    assert np.isfinite(big.llf) and abs(big.llf - ref.llf) < 1e-6


@pytest.mark.parametrize("formula, near", [("Y ~ x", "y"), ("y ~ x + (1 | G)", "g"), ("y ~ x + Zeta", "zeta")])
def test_a_column_misspelt_in_case_or_a_letter_is_suggested(glm, formula, near):
    """'Y ~ X' on long data was told it looked like wide data."""
    with pytest.raises(DesignError, match=rf"are not in the data \(did you mean '{near}'\?\)") as err:
        _model(formula, glm.assign(zeta=glm["x"]))
    assert "wide" not in str(err.value)


def test_levels_differing_only_in_case_or_spaces_are_pointed_out(glm):
    """'b' and 'B' (or 'b ') got a parameter each without a word."""
    for odd in ("B", "b "):
        with pytest.warns(gm.DataWarning, match=rf"column 'z' has levels that differ only in letter case or spaces "
                                                rf"\(.*{re.escape(repr(odd))}.*\)"):
            _model("y ~ x + z", glm.assign(z=np.where(glm.index == 3, odd, glm["z"])))
    import warnings

    with warnings.catch_warnings():  # grouping ids are not categories of a term: 'A' and 'a' may be two groups
        warnings.simplefilter("error", gm.DataWarning)
        _model("y ~ x + (1 | gs)", glm.assign(gs=np.where(glm["g"] == 3, "A", np.where(glm["g"] == 4, "a", "o"))))


def test_counts_beyond_exact_integers_are_refused(glm):
    """A Poisson count of 1e300 ended in an EstimationError after thousands of numpy overflow
    warnings; 2**53 is the largest count a double holds with every integer below it."""
    with pytest.raises(DesignError, match=r"found \[1e\+300\] in 1 row\(s\) \(first at index 3\) \(counts above "
                                          r"2\*\*53 are not exact integers"):
        _model("c ~ x", glm.assign(c=np.where(glm.index == 3, 1e300, 2.0)), family="poisson")
    _model("c ~ x", glm.assign(c=np.where(glm.index == 3, 2.0 ** 53, 2.0)), family="poisson")
