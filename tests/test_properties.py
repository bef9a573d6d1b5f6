"""Property-based checks: malformed data and arguments never crash inside a dependency.

Hypothesis builds small valid data sets for every family and model shape (GLM, LCA, GLMM),
damages them (non-finite and out-of-support values, wrong types, text and unicode, empty
frames, duplicated or renamed columns, unused levels, units without an outcome) and calls
:func:`glmmix.fit` with damaged arguments too. Every call must either

* raise a :class:`~glmmix.GlmmixError` (or ``NotImplementedError`` for a documented
  unsupported feature) whose message is not empty, or
* return a result with a finite log-likelihood that reports exactly the rows, units and
  factor levels it dropped,

and every warning it emits must be a :class:`~glmmix.exceptions.GlmmixWarning`. A formula
strategy does the same for the formula layer with random token strings.

The default run uses the ``glmmix-quick`` profile (derandomized, few examples); the
``slow``-marked tests run the same properties under ``glmmix-slow`` with many more examples
(``pytest -m slow tests/test_properties.py``).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import glmmix as gm
from glmmix.exceptions import GlmmixError, GlmmixWarning

settings.register_profile("glmmix-quick", max_examples=50, derandomize=True, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("glmmix-slow", max_examples=400, derandomize=False, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
QUICK = settings.get_profile("glmmix-quick")
SLOW = settings.get_profile("glmmix-slow")

FAMILIES = ["bernoulli", "binomial", "binomial-cbind", "poisson", "gaussian", "ordinal"]
SHAPES = {
    "glm": ("{y} ~ x", {}),
    "lca": ("{y} ~ 0 + item | class(unit) ~ 1", {"n_classes": 2}),
    "glmm": ("{y} ~ x + (1 | unit)", {}),
}
# ordinal thresholds are the intercepts (per item in an ordinal LCA)
ORDINAL_SHAPES = {
    "glm": ("{y} ~ 0 + x", {}),
    "lca": ("{y} ~ 0 | class(unit) ~ 1", {"n_classes": 2, "thresholds_by": "item"}),
    "glmm": ("{y} ~ 0 + x + (1 | unit)", {}),
}
ODD_VALUES = [np.nan, np.inf, -np.inf, -1.0, 0.5, 2.0, 7.0, 1e12, 0.0, "text", None, True]
ODD_NAMES = ["y.1", "ÿ", "名前", "my y", "1y", "y-z", "", "Intercept", "class", "x"]


def base_frame(family: str, n_units: int, n_items: int, seed: int) -> pd.DataFrame:
    """A valid long data set: units x items, a row covariate x, an outcome for ``family``."""
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_items)
    item = np.tile([f"i{j}" for j in range(n_items)], n_units)
    x = rng.normal(size=unit.size)
    eta = 0.3 * x + rng.normal(size=n_units)[unit]
    n = np.full(unit.size, 4.0)
    if family in ("bernoulli", "binomial"):
        y = (rng.uniform(size=unit.size) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "binomial-cbind":
        y = rng.binomial(4, 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.5 * eta)).astype(float)
    elif family == "gaussian":
        y = eta + rng.normal(size=unit.size)
    else:
        y = np.digitize(eta + rng.logistic(size=unit.size), [-0.7, 0.7]).astype(float)
    df = pd.DataFrame({"unit": unit, "item": item, "x": x, "y": y, "n": n})
    if family == "binomial-cbind":
        df["f"] = n - y
    return df


@st.composite
def damaged_case(draw, family=None):
    family = family or draw(st.sampled_from(FAMILIES))
    shape = draw(st.sampled_from(sorted(SHAPES)))
    df = base_frame(family, draw(st.integers(3, 8)), draw(st.integers(2, 4)), draw(st.integers(0, 2**16)))
    y = "cbind(y, f)" if family == "binomial-cbind" else "y"
    formula, kw = (ORDINAL_SHAPES if family == "ordinal" else SHAPES)[shape]
    kw = dict(kw, family=family.split("-")[0], starts=(2, 1), seed=draw(st.integers(0, 5)), se="none")
    if family == "binomial":
        kw["trials"] = "n"
    if family == "gaussian" and shape != "glm":  # item-specific residual SDs (latent profile analysis)
        kw["sigma_by"] = "item"
    damage = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["cell", "cell", "column_type", "rename", "duplicate", "drop_rows",
                                     "unused_level", "unit_missing", "argument", "empty_level_item"]))
        col = draw(st.sampled_from([c for c in ["y", "x", "n", "f", "unit", "item"] if c in df.columns]))
        if kind == "cell" and len(df):
            i = draw(st.integers(0, len(df) - 1))
            v = draw(st.sampled_from(ODD_VALUES))
            numeric = isinstance(v, float) and pd.api.types.is_numeric_dtype(df[col].dtype)
            df = df.astype({col: float if numeric else object})
            df.loc[df.index[i], col] = v
        elif kind == "column_type":
            df[col] = draw(st.sampled_from([df[col].astype(str), pd.Categorical(df[col]),
                                            df[col].astype(bool), df[col].astype(object)]))
        elif kind == "rename":
            name = draw(st.sampled_from(ODD_NAMES))
            df = df.rename(columns={col: name})
            if col == "y" and y == "y":  # spell the new name plainly where allowed, else quoted
                y = name if name.isidentifier() or not name else f"`{name}`"
        elif kind == "duplicate":
            df = pd.concat([df, df[[col]]], axis=1)
            damage.append(kind)
            break  # later damage would have to say which copy
        elif kind == "drop_rows":
            df = df.iloc[: draw(st.integers(0, len(df)))]
        elif kind == "unused_level" and "item" in df.columns:
            text = df["item"].map(lambda v: v if pd.isna(v) else str(v))
            df["item"] = pd.Categorical(text, categories=list(pd.unique(text.dropna())) + ["zz"])
        elif kind == "unit_missing" and "unit" in df.columns and "y" in df.columns and len(df):
            df.loc[df["unit"].astype(str) == str(df["unit"].iloc[0]), "y"] = np.nan
        elif kind == "empty_level_item" and "item" in df.columns and "y" in df.columns and len(df):
            df.loc[df["item"].astype(str) == str(df["item"].iloc[-1]), "y"] = np.nan
        elif kind == "argument":
            key, val = draw(st.sampled_from([
                ("seed", "abc"), ("seed", 1.5), ("seed", -1), ("n_jobs", 0), ("options", {"maxiter": 3}),
                ("starts", "many"), ("starts", (1, 2)), ("fix", {"x": np.nan}), ("fix", {"nope": 1.0}),
                ("fix", {"x": "1"}), ("start_params", [np.nan]), ("start_params", [0.0] * 50),
                ("n_classes", 0), ("n_classes", 1.5), ("n_classes", "2"), ("family", "gamma"),
                ("link", "cloglog"), ("trials", "x"), ("trials", 3), ("se", "bootstrap"),
                ("integration", "simpson"), ("equal", [["x"]]), ("invariant", ["nope"]),
                ("weights", "n"), ("weights", "x"), ("weights", 2.0), ("weight_scaling", "nope"),
            ]))
            kw[key] = val
        damage.append(kind)
    return formula.format(y=y), df, kw, damage


def check_call(formula, df, kw):
    """Run ``fit``; the property: a GlmmixError, or a finite result that reports its drops."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = gm.fit(formula, df, **kw)
        except (GlmmixError, NotImplementedError) as exc:
            assert str(exc).strip(), f"{type(exc).__name__} without a message"
            res = None
    foreign = [w for w in caught if not issubclass(w.category, GlmmixWarning)]
    assert not foreign, [f"{w.category.__name__}: {w.message}" for w in foreign]
    if res is None:
        return None
    assert np.isfinite(res.llf)
    assert np.all(np.isfinite(res.params.to_numpy()))
    # what was dropped is reported: rows without an outcome, units left without any row
    y = gm.parse_formula(formula).outcome
    if y in df.columns:
        missing = df[y].isna().to_numpy()
        assert res.n_dropped == int(missing.sum())
        assert res.nobs == len(df) - res.n_dropped
        if "unit" in df.columns and "class(unit)" in formula:
            observed = df.loc[~missing, "unit"].nunique()
            assert res.n_units == observed
            assert res.n_units_dropped == df["unit"].nunique() - observed
        if "item" in df.columns and ("item" in formula.split("|")[0] or "item" in (kw.get("thresholds_by"), kw.get("sigma_by"))):
            col = df["item"]
            levels = list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else \
                list(pd.unique(col.dropna())) if pd.api.types.is_string_dtype(col) else []
            present = set(col[~missing].dropna())
            assert res.dropped_levels.get("item", []) == [str(v) for v in levels if v not in present]
    return res


@pytest.mark.parametrize("family", FAMILIES)
def test_damaged_data_and_arguments(family):
    @settings(QUICK, max_examples=20)
    @given(damaged_case(family))
    def run(case):
        formula, df, kw, _ = case
        res = check_call(formula, df, kw)
        if res is not None and "y" in df.columns and df.index.is_unique:
            check_simulate(res, df)

    run()


def check_simulate(res, df):
    """Draws from a fitted model land in the outcome columns and lie in the family's support."""
    try:
        sim = gm.simulate(res, df, seed=1)
    except GlmmixError as exc:
        assert str(exc).strip()
        return
    y = sim["y"].to_numpy(float)
    assert len(sim) == res.nobs and np.all(np.isfinite(y))
    if res.family in ("bernoulli", "binomial", "poisson"):
        assert np.all(y >= 0) and np.array_equal(y, np.round(y))


@pytest.mark.slow
@SLOW
@given(damaged_case())
def test_damaged_data_and_arguments_many(case):
    formula, df, kw, _ = case
    check_call(formula, df, kw)


# ---------------------------------------------------------------- the formula layer
TOKENS = ["y", "x", "item", "unit", "1", "0", "~", "~", "+", "+", "-", "|", "||", ":", "*", "(", ")", ",",
          "class(unit)", "class", "c2(unit)", "(1 | unit)", "(x || unit)", "rr(0 + item | unit, 1)",
          "cbind(y, f)", "`y`", 'Q("y")', "ÿ", "y.1", "I(x**2)", "C(item)", "scale(x)", "nope", "`",
          "(", "class(", " "]


OUTCOMES = ["y", "`y`", 'Q("y")', "y.1", "ÿ", "cbind(y, f)", "cbind(`y`, 1 - y)", "nope", "`y", "y y", "1"]
TERMS = ["x", "item", "0", "1", "-1", "C(item)", "I(x**2)", "scale(x)", "x:item", "x*item", "(1 | unit)",
         "(x || unit)", "(1 + x | unit)", "rr(0 + item | unit, 1)", "rr(1 | unit, 2)", "nope", "(1 | nope)",
         "(1 | unit:item)", "poly(x, 2)", "`x`", "ÿ", "y.1", "(1 |)", "rr(x)", "class"]
CLASS_PARTS = ["class(unit) ~ 1", "class(unit) ~ 1 + ÿ", "class ~ 1", "class ~ 1 + (1 | unit)",
               "class(unit) ~ x", "class(nope) ~ 1", "class(unit)", "c2(unit) ~ 1 + class", "class ~ rr(1 | unit, 1)"]


@st.composite
def formula_text(draw):
    """Mostly formulas built from valid and invalid pieces; sometimes free token noise."""
    if draw(st.integers(0, 4)) == 0:
        return " ".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12)))
    terms = draw(st.lists(st.sampled_from(TERMS), min_size=1, max_size=4))
    text = f"{draw(st.sampled_from(OUTCOMES))} ~ " + " + ".join(terms)
    for part in draw(st.lists(st.sampled_from(CLASS_PARTS), max_size=2)):
        text += " | " + part
    return text


FORMULA_DATA = base_frame("bernoulli", 6, 3, 1)
FORMULA_DATA = FORMULA_DATA.assign(f=1.0 - FORMULA_DATA["y"], **{"ÿ": FORMULA_DATA["unit"] % 2, "y.1": 0.0})


def check_formula(text):
    n_classes = 2 if "|" in text and "class" in text else 1
    check_call(text, FORMULA_DATA, {"family": "binomial", "n_classes": n_classes,
                                    "options": gm.FitOptions(n_starts=0, maxiter=50), "se": "none"})


@QUICK
@given(formula_text())
def test_random_formulas(text):
    check_formula(text)


@pytest.mark.slow
@SLOW
@given(formula_text())
def test_random_formulas_many(text):
    check_formula(text)
