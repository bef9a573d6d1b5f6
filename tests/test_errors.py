"""Bad input gives a clear error naming the culprit, before any fitting."""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix import DesignError, FormulaError


@pytest.fixture
def long():
    return pd.DataFrame({
        "person": np.repeat([1, 2, 3, 4], 3),
        "item": np.tile(["a", "b", "c"], 4),
        "y": [0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0],
        "x": np.repeat([0.1, 0.5, -0.3, 1.2], 3),
        "xrow": np.arange(12.0),
    })


LCA = "y ~ 0 + item | class(person) ~ 1"


def test_unknown_column(long):
    with pytest.raises(DesignError, match="'zz'"):
        gm.fit("y ~ 0 + item + zz | class(person) ~ 1", long, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="'nobody'"):
        gm.fit("y ~ 0 + item | class(nobody) ~ 1", long, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="'w'"):
        gm.fit("y ~ 0 + item | class(person) ~ 1 + w", long, n_classes=2, family="bernoulli")


def test_outcome_outside_support(long):
    bad = long.assign(y=long["y"].where(long.index != 4, 2))
    with pytest.raises(DesignError, match=r"0/1.*\[2\.0\]"):
        gm.fit(LCA, bad, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="non-negative integer"):
        gm.fit("y ~ 1 + x", long.assign(y=long["y"] + 0.5), family="poisson")
    with pytest.raises(DesignError, match="non-negative integer"):
        gm.fit("y ~ 1 + x", long.assign(y=long["y"] - 1), family="poisson")


def test_class_covariate_varying_within_unit(long):
    with pytest.raises(DesignError, match="'xrow' varies within 'person'") as err:
        gm.fit("y ~ 0 + item | class(person) ~ 1 + xrow", long, n_classes=2, family="bernoulli")
    assert "np.int64" not in str(err.value)  # values as Python values


def test_bernoulli_items_coded_one_two(long):
    with pytest.raises(DesignError, match=r"1 and 2 \(poLCA's coding\): recode them to 0/1"):
        gm.fit(LCA, long.assign(y=long["y"] + 1), n_classes=2, family="bernoulli")


def test_binomial_proportions_with_trials(long):
    d = long.assign(n=4, p=0.25)
    with pytest.raises(DesignError, match="looks like proportions") as err:
        gm.fit("p ~ 1 + x", d, family="binomial", trials="n")
    assert "first at index 0" in str(err.value)
    with pytest.raises(DesignError, match="for proportions give the numbers of trials"):
        gm.fit("p ~ 1 + x", d, family="binomial", weights="n")
    with pytest.raises(DesignError, match="integer between 0 and the number of trials") as err:
        gm.fit("y ~ 1 + x", d.assign(y=d["y"] + 4.5), family="binomial", trials="n")
    assert "proportions" not in str(err.value)


@pytest.mark.parametrize("K", [0, -1, 1.5, "2", True])
def test_bad_number_of_classes(long, K):
    with pytest.raises(DesignError, match="n_classes"):
        gm.fit(LCA, long, n_classes=K, family="bernoulli")


def test_number_of_classes_as_a_dict_with_one_class_variable(long):
    # {name: K} names the formula's class variable(s); with one it was refused as needing several
    carc = gm.wide_to_long(gm.datasets.load("carcinoma"))
    kw = dict(family="bernoulli", seed=1, se="none")
    res = gm.fit("y ~ 0 + item | class(id) ~ 1", carc, n_classes={"class": 2}, **kw)
    assert res.n_classes == 2
    assert res.llf == pytest.approx(-317.2568, abs=1e-4)  # poLCA (published), flexmix, StepMix
    with pytest.raises(DesignError, match=r"n_classes names \['c'\], but the formula's class variable is 'class'"):
        gm.fit(LCA, long, n_classes={"c": 2}, family="bernoulli")
    with pytest.raises(DesignError, match=r"n_classes names \['c2', 'class'\]"):
        gm.fit(LCA, long, n_classes={"class": 2, "c2": 2}, family="bernoulli")
    with pytest.raises(DesignError, match="no class part"):
        gm.fit("y ~ 0 + item", long, n_classes={"class": 2}, family="bernoulli")
    with pytest.raises(DesignError, match="n_classes must be an integer >= 1, not 0"):
        gm.fit(LCA, long, n_classes={"class": 0}, family="bernoulli")


def test_levels_that_are_not_units_of_the_model(long):
    long = long.assign(room=np.repeat([1, 1, 2, 2], 3))
    # classes of rooms with person effects within them: an IndexError inside the likelihood before
    # (sorted person ids kept every room one run of rows, so the nesting check passed)
    with pytest.raises(DesignError, match=r"'room' is not nested in 'person': room = 1 spans several levels"):
        gm.fit("y ~ 0 + item + (1 | person) | class(room) ~ 1", long, n_classes=2, family="bernoulli")
    # the outcome as the class level (two "units", y = 0 and y = 1) or grouping was fitted as such
    with pytest.raises(DesignError, match=r"class part class\(y\): 'y' is the outcome"):
        gm.fit("y ~ 0 + item | class(y) ~ 1", long, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="the random terms' grouping 'y' is the outcome"):
        gm.fit("y ~ 0 + item + (1 | y)", long, family="bernoulli")


def test_classes_that_share_every_outcome_parameter_are_refused(long):
    # before: fitted, with the class logit's SE printed as 2.8e-17 (carcinoma, every item
    # invariant: the one-class log-likelihood -524.4648 whatever the proportions)
    with pytest.raises(DesignError, match=r"no outcome parameter differs across the 2 classes \(invariant="):
        gm.fit(LCA, long, n_classes=2, family="bernoulli", invariant=["item"])
    with pytest.raises(DesignError, match="no outcome parameter differs across the 3 classes"):
        gm.fit("y ~ 1 + x | class ~ 1", long, n_classes=3, family="bernoulli",
               equal=[["class1:Intercept", "class2:Intercept", "class3:Intercept"],
                      ["class1:x", "class2:x", "class3:x"]])
    # a class-specific residual SD alone is a difference (a scale mixture)
    res = gm.fit("x ~ 1 | class ~ 1", long, n_classes=2, family="gaussian", invariant=["Intercept"],
                 class_specific=["sigma"], seed=1, starts=(2, 1), se="none")
    assert np.isfinite(res.llf)


@pytest.mark.parametrize("kw, fragment", [
    (dict(class_specific=["sigma"]), "family 'bernoulli' has no residual SD"),
    (dict(invariant=["sigma"]), "family 'bernoulli' has no residual SD"),
    (dict(class_specific=["thresholds"]), "family 'bernoulli' has no thresholds"),
    (dict(class_specific=["random"]), "the outcome part has no random effects or factors"),
])
def test_class_specific_words_that_name_nothing(long, kw, fragment):
    # they were accepted and changed nothing (the fit was the plain LCA)
    with pytest.raises(DesignError, match=fragment + ": it would change nothing"):
        gm.fit(LCA, long, n_classes=2, family="bernoulli", **kw)


def test_random_class_logits_with_one_unit_per_cluster(long):
    # one class per cluster: the SD of the class logits is not identified; it was reported
    # (two-level LCA with room = id: sd 0.99 with an SE of 246, no warning)
    with pytest.raises(DesignError, match=r"every level of 'room' holds one unit 'person'"):
        gm.fit("y ~ 0 + item | class(person) ~ 1 + (1 | room)", long.assign(room=long.person), n_classes=2,
               family="bernoulli")
    with pytest.raises(DesignError, match=r"every level of 'person' holds one row"):
        gm.fit("y ~ 0 + item | class ~ 1 + (1 | person)", long.drop_duplicates("person"), n_classes=2,
               family="bernoulli")


def test_empty_data(long):
    with pytest.raises(DesignError, match="empty"):
        gm.fit(LCA, long.iloc[:0], n_classes=2, family="bernoulli")


def test_formula_without_outcome(long):
    with pytest.raises(FormulaError, match="no outcome"):
        gm.fit("0 + item | class(person) ~ 1", long, n_classes=2, family="bernoulli")


def test_classes_without_class_part(long):
    with pytest.raises(FormulaError, match="class part"):
        gm.fit("y ~ 0 + item", long, n_classes=2, family="bernoulli")


def test_random_term_errors(long):
    with pytest.raises(DesignError, match="'one' .* only one level"):
        gm.fit("y ~ 1 + (1 | one)", long.assign(one=1), family="bernoulli")
    with pytest.raises(DesignError, match="'c' does not vary"):
        gm.fit("y ~ 1 + (1 + c | person)", long.assign(c=2.0), family="bernoulli")
    with pytest.raises(DesignError, match="not nested"):
        gm.fit("y ~ 0 + item + (1 | grp) | class(person) ~ 1", long.assign(grp=np.arange(12) % 2),
               n_classes=2, family="bernoulli")
    with pytest.raises(NotImplementedError, match="several grouping columns"):
        gm.fit("y ~ 0 + item + (1 | person) + (1 | grp) | class(person) ~ 1", long.assign(grp=np.arange(12) % 2),
               n_classes=2, family="bernoulli")
    with pytest.raises(DesignError, match="integration='laplace'"):
        gm.fit("y ~ 1 + (1 | person) + (1 | item)", long, family="bernoulli", integration="agh")
    with pytest.raises(DesignError, match="integration"):
        gm.fit("y ~ 1 + (1 | person)", long, family="bernoulli", integration="simpson")
    with pytest.warns(gm.exceptions.GlmmixWarning, match="inaccurate"):
        gm.fit("y ~ 1 + (1 | person)", long, family="bernoulli", integration="gh", n_points=5)


def test_missing_predictor_is_an_error_not_a_drop(long):
    with pytest.raises(DesignError, match=r"'x' has 1 missing"):
        gm.fit("y ~ 1 + x", long.assign(x=long["x"].where(long.index != 3)), family="gaussian")


def test_unknown_family_link_and_terms(long):
    with pytest.raises(DesignError, match="unknown family"):
        gm.fit(LCA, long, n_classes=2, family="binary")
    with pytest.raises(DesignError, match="link"):
        gm.fit(LCA, long, n_classes=2, family="poisson", link="logit")
    with pytest.raises(DesignError, match="invariant term 'q'"):
        gm.fit(LCA, long, n_classes=2, family="bernoulli", invariant=["q"])
    with pytest.raises(DesignError, match="unknown parameter"):
        gm.fit(LCA, long, n_classes=2, family="bernoulli", fix={"class9:item[a]": 1.0})


def test_ordinal_intercept_absorbed_by_thresholds(long):
    # clmm / polr spelling: the intercept is dropped, the thresholds take its place
    with_1 = gm.fit("y ~ 1 + x", long, family="ordinal")
    without = gm.fit("y ~ 0 + x", long, family="ordinal")
    assert with_1.llf == pytest.approx(without.llf, abs=1e-10)
    assert list(with_1.params.index) == list(without.params.index)
    # treatment contrasts: one coefficient per item but the first
    res = gm.fit("y ~ item", long, family="ordinal")
    assert [p for p in res.params.index if p.startswith("item")] == ["item[T.b]", "item[T.c]"]


def test_ordinal_full_dummies_refused_with_the_spelling_to_use(long):
    with pytest.raises(FormulaError, match=r"term 'item' add up to a constant .* Write 'y ~ item \+ \.\.\.' without '0 \+'"):
        gm.fit("y ~ 0 + item", long, family="ordinal")
    with pytest.raises(FormulaError, match=r"term 'item' is constant within each level of 'item'"):
        gm.fit("y ~ 0 + item | class(person) ~ 1", long, n_classes=2, family="ordinal", thresholds_by="item")
    long = long.assign(a=(long["item"] == "a") * 1.0, bc=(long["item"] != "a") * 2.0)
    with pytest.raises(FormulaError, match=r"columns \['a', 'bc'\] add up to a constant"):
        gm.fit("y ~ 0 + a + bc", long, family="ordinal")


def test_ordinal_empty_category_named(long):
    df = long.assign(y=np.where(long["item"] == "a", 0, long["y"] + 1))
    with pytest.raises(DesignError, match="'item' = 'a'"):
        gm.fit("y ~ 0 + x", df, family="ordinal", thresholds_by="item")


def test_missing_outcomes_dropped_and_counted(long):
    df = long.assign(y=long["y"].astype(float).where(~long.index.isin([0, 5])))
    res = gm.fit(LCA, df, n_classes=2, family="bernoulli", seed=1, starts=(4, 2), se="none")
    assert res.nobs == 10
    assert res.n_dropped == 2
    assert "2 row(s) with a missing outcome" in str(res.summary())


def test_pandas_extension_dtypes_fit_like_numpy_dtypes():
    """convert_dtypes() and pyarrow-backed frames (nullable ints, pd.NA strings) give the same
    fit as the numpy-typed frame; formulaic passes pd.NA string columns through as text, so
    they are handed over as plain strings."""
    va = gm.datasets.load("verbagg_long")
    sub = va[va["id"] < 60]
    ref = gm.fit("y ~ Anger + Gender + (1|id)", sub, family="bernoulli")
    for df in (sub.convert_dtypes(), sub.convert_dtypes(dtype_backend="pyarrow")):
        assert str(df["Gender"].dtype) != str(sub["Gender"].dtype)
        res = gm.fit("y ~ Anger + Gender + (1|id)", df, family="bernoulli")
        assert res.llf == pytest.approx(ref.llf, abs=1e-9)
        np.testing.assert_allclose(res.predict(df.iloc[:5]), ref.predict(sub.iloc[:5]), rtol=1e-9)
    na = sub.convert_dtypes()
    na.loc[na.index[:3], "y"] = pd.NA
    assert gm.fit("y ~ Anger + Gender + (1|id)", na, family="bernoulli").n_dropped == 3


def test_a_negative_sd_cannot_be_fixed():
    cb = gm.datasets.load("cbpp")
    with pytest.raises(DesignError, match=r"fix\['sd\(herd:Intercept\)'\] = -0.5: a standard deviation must be >= 0"):
        gm.MixtureModel.from_formula("incidence ~ period + (1|herd)", cb, family="poisson",
                                     fix={"sd(herd:Intercept)": -0.5})


def test_tied_parameters_fixed_to_different_values_are_refused(long):
    """Tied by equal= or by a class-invariant term: one value or a clear error (the second
    value was silently replaced by the first)."""
    with pytest.raises(DesignError, match=r"class1:item\[a\] = 0.0, class2:item\[a\] = 1.0 \(tied by equal="):
        gm.MixtureModel.from_formula(LCA, long, n_classes=2, family="bernoulli",
                                     fix={"class1:item[a]": 0.0, "class2:item[a]": 1.0},
                                     equal=[["class1:item[a]", "class2:item[a]"]])
    with pytest.raises(DesignError, match=r"class1:item\[a\] = -1.0, class2:item\[a\] = 1.0"):
        gm.MixtureModel.from_formula(LCA, long, n_classes=2, family="bernoulli", invariant=["item"],
                                     fix={"class1:item[a]": -1.0, "class2:item[a]": 1.0})
    m = gm.MixtureModel.from_formula(LCA, long, n_classes=2, family="bernoulli",
                                     fix={"class1:item[a]": 0.5, "class2:item[a]": 0.5},
                                     equal=[["class1:item[a]", "class2:item[a]"]])
    assert m.likelihood.layout.n_free == 2 * long["item"].nunique() - 2 + 1


def test_fixing_a_correlation_names_the_spellings_that_do_it():
    from conftest import REF

    ss = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    with pytest.raises(NotImplementedError, match=r"write the term with \|\|"):
        gm.MixtureModel.from_formula("Reaction ~ Days + (Days|Subject)", ss, fix={"cor(Subject:Days,Intercept)": 0})
    with pytest.raises(NotImplementedError, match="re_parameterization='regression'"):
        gm.MixtureModel.from_formula("Reaction ~ Days + (Days|Subject)", ss, fix={"cor(Subject:Days,Intercept)": 0.5})


def test_bernoulli_outcome_of_twos_is_not_called_one_two_coding(long):
    with pytest.raises(DesignError, match="must be 0/1") as err:
        gm.fit(LCA, long.assign(y=2), n_classes=2, family="bernoulli")
    assert "poLCA" not in str(err.value)


def test_the_default_family_says_when_it_is_probably_not_meant(long):
    # a binary outcome without a family: gaussian (as lmer), but said; an outcome with trials is refused
    with pytest.warns(gm.exceptions.DataWarning, match="only 0s and 1s and no family was given"):
        gm.MixtureModel.from_formula(LCA, long, n_classes=2)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.exceptions.DataWarning)
        gm.MixtureModel.from_formula(LCA, long, n_classes=2, family="gaussian")  # asked for: no warning
        gm.MixtureModel.from_formula("xrow ~ 1 + x", long)  # not binary: no warning
    cb = gm.datasets.load("cbpp")
    with pytest.raises(DesignError, match="no family was given.*family='binomial'"):
        gm.MixtureModel.from_formula("cbind(incidence, size - incidence) ~ period", cb)


def test_random_effects_confounded_with_the_residual_are_refused():
    # lmer refuses these too ("number of levels of each grouping factor must be < number of
    # observations"; "number of observations <= number of random effects"): before, the fit
    # returned an arbitrary split of the total variance (sigma 40.6, SD 24.5) without a word
    from conftest import REF

    ss = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    with pytest.raises(DesignError, match="180 levels for 180 rows"):
        gm.MixtureModel.from_formula("Reaction ~ Days + (1|g)", ss.assign(g=np.arange(180)), family="gaussian")
    with pytest.raises(DesignError, match=r"90 groups x 2 effects = 180 random effects for 180 rows"):
        gm.MixtureModel.from_formula("Reaction ~ Days + (Days|g)", ss.assign(g=np.arange(180) // 2), family="gaussian")
    # counts: an observation-level effect is overdispersion, a model of its own
    gm.MixtureModel.from_formula("Reaction ~ Days + (1|g)", ss.assign(g=np.arange(180), Reaction=ss.Days),
                                 family="poisson")


def test_an_item_formula_on_wide_data_says_how_to_reshape():
    wide = gm.datasets.load("carcinoma")
    with pytest.raises(DesignError, match=r"\['y'\] named in the formula's outcome.*look like wide data.*items="):
        gm.fit("y ~ 0 + item | class(id) ~ 1", wide, n_classes=2, family="bernoulli")
    with pytest.raises(DesignError) as err:  # an outcome merely misspelt gets no such hint
        gm.fit("yy ~ 0 + item | class(id) ~ 1", gm.wide_to_long(wide), n_classes=2, family="bernoulli")
    assert "wide" not in str(err.value)


def test_newdata_values_of_another_type_are_named():
    """A newdata column read with another type ('308' for 308, 2 for the category '2') matches
    no fitted value; the refusal says the type is what differs."""
    ss = gm.datasets.load("sleepstudy")
    res = gm.fit("Reaction ~ Days + (1 | Subject)", ss, se="none")
    nd = ss[ss["Days"] == 9]
    with pytest.raises(DesignError, match=r"'308' differs from the fitted 308 only in its type \(str against int\)"):
        res.predict(nd.assign(Subject=nd["Subject"].astype(str)), which="conditional", responses="fitted")
    cb = gm.datasets.load("cbpp")
    res = gm.fit("cbind(incidence, size - incidence) ~ period", cb, family="binomial", se="none")
    with pytest.raises(DesignError, match=r"1 differs from the fitted '1' only in its type \(int against str\)"):
        res.predict(cb.head(4).assign(period=[1, 2, 3, 4]))
