"""Outcome-part designs without full rank are refused by name before any computation.

Reference: R 4.2.2, lme4 1.1.31 (tests/reference/scripts/rank_deficient.R ->
tests/reference/values/rank_deficient.json): on Orthodont without the girls' age-14 rows,
lmer(distance ~ factor(age) * Sex + (1 | Subject), REML = FALSE) drops the aliased column
agef14:SexMale and reaches logLik -195.998040769; lm likewise. Before, glmmix fitted the
non-identified model, split the aliased effect evenly between agef[T.14] and its interaction
(1.8281 each) and said only that the information matrix was singular."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference
from glmmix.exceptions import IdentificationError


@pytest.fixture(scope="module")
def orth():
    o = pd.read_csv(REF.parent / "data" / "orthodont.csv")
    o = o[~((o.age == 14) & (o.Sex == "Female"))].copy()
    o["agef"] = o.age.astype(str)
    return o


@pytest.mark.parametrize("random", [" + (1 | Subject)", ""])
def test_an_empty_cell_of_an_interaction_is_refused_naming_the_columns(orth, random):
    with pytest.raises(IdentificationError, match=r"'agef\[T.14\]:Sex\[T.Male\]' equals a combination of "
                                                  r"\['agef\[T.14\]'\]"):
        gm.fit("distance ~ agef * Sex" + random, orth, family="gaussian")


def test_the_identified_model_is_lmers(orth):
    # the design lmer keeps: the interaction's columns of the non-empty cells
    ref = load_reference("rank_deficient.json")
    assert ref["lmer"]["dropped"] == "agef14:SexMale"
    d = orth.assign(m8=((orth.agef == "8") & (orth.Sex == "Male")).astype(float),
                    m12=((orth.agef == "12") & (orth.Sex == "Male")).astype(float))
    res = gm.fit("distance ~ agef + Sex + m8 + m12 + (1 | Subject)", d, family="gaussian", se="none")
    assert res.llf == pytest.approx(ref["lmer"]["logLik"], abs=1e-6)
    assert res.df_model == ref["lmer"]["df"]
    lm = gm.fit("distance ~ agef + Sex + m8 + m12", d, family="gaussian", se="none")
    assert lm.llf == pytest.approx(ref["lm"]["logLik"], abs=1e-8)


@pytest.mark.parametrize("family", ["gaussian", "bernoulli", "poisson"])
def test_a_covariate_repeating_others_is_refused_dense_or_sparse(orth, family):
    d = orth.assign(y=(orth.distance > 24).astype(int) if family == "bernoulli" else orth.distance.round(),
                    age2=3.0 + 2.0 * orth.age)
    with pytest.raises(IdentificationError, match=r"the coefficients of these columns are not identified"):
        gm.fit("y ~ age + age2 + (1 | Subject)", d, family=family)
    va = gm.datasets.load("verbagg_long")
    va = va[va.id <= 60].assign(dup=lambda v: (v.item == "S1WantCurse").astype(float))  # sparse item dummies
    with pytest.raises(IdentificationError, match=r"'dup' equals a combination of \['item\[S1WantCurse\]'\]"):
        gm.fit("y ~ 0 + item + dup | class(id) ~ 1", va, n_classes=2, family="bernoulli")


def test_ordinal_columns_within_the_thresholds_are_refused():
    va = gm.datasets.load("verbagg_long")
    va = va[va.id <= 60].copy()
    va["r3"] = pd.Categorical(va["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    va["self"] = (va.situ == "self").astype(float)  # constant within each situation's thresholds
    with pytest.raises(IdentificationError, match=r"'self' equals a combination of \[\"the thresholds \(by 'situ'\)\"\]"):
        gm.fit("r3 ~ btype + self + (1 | id)", va, family="ordinal", thresholds_by="situ")


def test_a_fixed_or_far_column_is_not_collinear(orth):
    va = gm.datasets.load("verbagg_long")
    va = va[va.id <= 60].assign(dup=lambda v: (v.item == "S1WantCurse").astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # fixing one of the aliased coefficients identifies the other
        res = gm.fit("y ~ 0 + item + dup + (1 | id)", va, family="bernoulli", fix={"dup": 0.5}, se="none")
        assert np.isfinite(res.llf)
        # a covariate 1e6 SDs from zero beside sparse item dummies, 1e9 beside an intercept (dense)
        near = gm.fit("y ~ 0 + item + Anger + (1 | id)", va, family="bernoulli", se="none")
        far = gm.fit("y ~ 0 + item + A + (1 | id)", va.assign(A=va.Anger * 0.1 + 1e6), family="bernoulli", se="none")
        assert far.llf == pytest.approx(near.llf, abs=1e-5)
        dense = gm.fit("distance ~ A + (1 | Subject)", orth.assign(A=orth.age + 1e9), family="gaussian", se="none")
        assert dense.llf == pytest.approx(gm.fit("distance ~ age + (1 | Subject)", orth, family="gaussian",
                                                 se="none").llf, abs=1e-5)


def test_a_class_covariate_repeating_others_is_refused(orth):
    va = gm.datasets.load("verbagg_long")
    va = va[va.id <= 80].assign(A2=lambda v: 10.0 - 0.5 * v.Anger)
    with pytest.raises(IdentificationError, match=r"class-part column '.*' equals a combination of "):
        gm.fit("y ~ 0 + item | class(id) ~ 1 + Anger + A2", va, n_classes=2, family="bernoulli")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1 + Anger", va, n_classes=2, family="bernoulli", seed=1, se="none")
    assert np.isfinite(res.llf)


def test_dense_designs_are_checked_by_blocks_of_rows(orth, monkeypatch):
    """A dense design's QR decomposition is made from the R factors of blocks of rows (memory of a
    block: copies of a 10^6-row design were 4 times its frame). Forced here with blocks of 7
    rows: the same refusals as one decomposition, ordinal thresholds included; a far column
    passes."""
    import glmmix.identification as ident

    monkeypatch.setattr(ident, "QR_BLOCK", 7)
    with pytest.raises(IdentificationError, match=r"'agef\[T.14\]:Sex\[T.Male\]' equals a combination of "
                                                  r"\['agef\[T.14\]'\]"):
        gm.fit("distance ~ agef * Sex + (1 | Subject)", orth, family="gaussian")
    test_ordinal_columns_within_the_thresholds_are_refused()
    far = orth.assign(agefar=orth.age + 1e8)
    assert gm.fit("distance ~ agefar + Sex + (1 | Subject)", far, family="gaussian", se="none").converged


def test_a_covariate_repeating_others_in_one_of_several_class_variables_is_refused():
    """Several class variables (an LTA): each variable's covariates are checked with its own
    logits. x2 = 2 x + 1 beside x in c1's part was fitted (0.62, -0.22, -0.55: any split)."""
    rng = np.random.default_rng(1)
    n, items = 200, 4
    base = pd.DataFrame([(i, t, f"u{j}") for i in range(n) for t in (1, 2) for j in range(items)],
                        columns=["id", "time", "item"])
    x = rng.normal(size=n)
    base["x"] = x[base["id"]]
    base["x2"] = 2 * base["x"] + 1
    truth = {f"c1,c2#1:item[u{j}]": 1.5 for j in range(items)}
    truth.update({f"c1,c2#2:item[u{j}]": -1.5 for j in range(items)})
    truth.update({"logit:c1#1:Intercept": 0.2, "logit:c1#1:x": 1.0, "logit:c2#1:Intercept": -1.5,
                  "logit:c2#1:c1#1": 3.0})
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
    df = gm.simulate("y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1", base, params=truth, seed=4, **kw)
    with pytest.raises(IdentificationError, match=r"class-part column 'c1:x2' equals a combination of "
                                                  r"\['c1:Intercept', 'c1:x'\]"):
        gm.fit("y ~ 0 + item | c1(id) ~ 1 + x + x2 | c2(id) ~ 1 + c1", df, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = gm.fit("y ~ 0 + item | c1(id) ~ 1 + x | c2(id) ~ 1 + c1 + x", df, seed=1, starts=(4, 2), se="none", **kw)
    assert np.isfinite(ok.llf)
