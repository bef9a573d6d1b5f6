"""lme4's nested and combined groupings: (1 | a/b) = (1 | a) + (1 | a:b), and (1 | a:b).

Reference values: lme4 1.1.31 (tests/reference/scripts/nested_groupings.R, values in
tests/reference/values/nested_groupings.json) on lme4's Pastes data (cask labels repeat
across batches, so (1 | cask) alone would be wrong) and on a simulated three-level binary
data set shipped in tests/reference/data/nested_binary.csv.
"""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import DesignError, FormulaError
from glmmix.formula import parse_formula

from conftest import REF, load_reference

DATA = REF.parent / "data"


@pytest.fixture(scope="module")
def pastes():
    return pd.read_csv(DATA / "pastes.csv")


def test_parse_nested_and_combined():
    r = parse_formula("y ~ x + (1 + x || a/b/c)").outcome_part.random
    assert [t.group for t in r] == ["a", "a:b", "a:b:c"] and not any(t.correlated for t in r)
    assert [t.group for t in parse_formula("y ~ (1 | a:b)").outcome_part.random] == ["a:b"]
    for bad in ("y ~ (1 | a/)", "y ~ (1 | a + b)", "y ~ (1 | a:)"):
        with pytest.raises(FormulaError, match="must be a column name, a combination"):
            parse_formula(bad)
    with pytest.raises(FormulaError, match="nested grouping in rr"):
        parse_formula("y ~ rr(0 + item | a/b, 1)")


def test_pastes_nested_matches_lmer(pastes):
    ref = load_reference("nested_groupings.json")["pastes_nested"]
    res = gm.fit("strength ~ 1 + (1 | batch/cask)", pastes, family="gaussian")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-5)
    assert res.params["Intercept"] == pytest.approx(ref["fixef"]["(Intercept)"], abs=1e-4)
    assert res.params["sd(batch:Intercept)"] == pytest.approx(ref["sd"]["batch"], abs=2e-3)
    assert res.params["sd(batch:cask:Intercept)"] == pytest.approx(ref["sd"]["cask:batch"], abs=2e-3)
    assert res.params["sigma"] == pytest.approx(ref["sd"]["Residual"], abs=2e-3)
    # the same model written out, and with a column made by hand
    same = gm.fit("strength ~ 1 + (1 | batch) + (1 | batch:cask)", pastes, family="gaussian")
    assert same.llf == pytest.approx(res.llf, abs=1e-8)
    hand = pastes.assign(bc=pastes["batch"] + "_" + pastes["cask"])
    assert gm.fit("strength ~ 1 + (1 | batch) + (1 | bc)", hand, family="gaussian").llf == pytest.approx(res.llf, abs=1e-8)


def test_pastes_combined_grouping_matches_lmer(pastes):
    """One combined grouping is one grouping column: adaptive quadrature, exact for gaussian."""
    ref = load_reference("nested_groupings.json")["pastes_combined"]
    res = gm.fit("strength ~ 1 + (1 | batch:cask)", pastes, family="gaussian")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.params["sd(batch:cask:Intercept)"] == pytest.approx(ref["sd"]["batch:cask"], abs=1e-4)
    assert res.n_clusters == 30
    re = res.random_effects()
    assert re.index.name == "batch:cask" and list(re.index[:3]) == ["A:a", "A:b", "A:c"]
    # new data: conditional predictions use the new rows' own combinations
    np.testing.assert_allclose(np.asarray(res.predict(pastes.iloc[:12], which="conditional"), float),
                               np.asarray(res.predict(which="conditional"), float)[:12], rtol=1e-10)


def test_binary_three_level_matches_glmer():
    ref = load_reference("nested_groupings.json")["binary_nested_laplace"]
    d = pd.read_csv(DATA / "nested_binary.csv")
    res = gm.fit("y ~ x + (1 | school/cls)", d, family="bernoulli")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-4)
    assert res.params["x"] == pytest.approx(ref["fixef"]["x"], abs=1e-3)
    assert res.params["sd(school:cls:Intercept)"] == pytest.approx(ref["sd"]["cls:school"], abs=2e-3)
    assert res.params["sd(school:Intercept)"] == pytest.approx(ref["sd"]["school"], abs=2e-3)
    # (1 | cls) alone would cross the repeated class labels: a different model
    crossed = gm.fit("y ~ x + (1 | school) + (1 | cls)", d, family="bernoulli")
    assert abs(crossed.llf - res.llf) > 0.05


def test_combined_grouping_refusals(pastes):
    with pytest.raises(DesignError, match=r"\['vat'\]"):
        gm.fit("strength ~ 1 + (1 | batch/vat)", pastes, family="gaussian")
    miss = pastes.copy()
    miss.loc[3, "cask"] = np.nan
    with pytest.raises(DesignError, match="'cask' has 1 missing"):
        gm.fit("strength ~ 1 + (1 | batch:cask)", miss, family="gaussian")
    # values that join to the same label ("1:2" + "3" and "1" + "2:3") are refused, not merged
    amb = pd.DataFrame({"a": ["1:2", "1", "x", "x"] * 5, "b": ["3", "2:3", "y", "z"] * 5,
                        "y": np.arange(20.0) % 7})
    with pytest.raises(DesignError, match="cannot be told apart"):
        gm.fit("y ~ 1 + (1 | a:b)", amb, family="gaussian")
