"""LCA with missing binary responses (full-information ML) against StepMix.

Reference values: StepMix 3.0.0, measurement="binary_nan" (missing responses left out of a
person's likelihood), best of 40 random starts; script
tests/reference/scripts/lca_missing_stepmix.py, values
tests/reference/values/lca_missing_stepmix.json. Data: the shipped ICAR ability items
(psychTools' `ability`, 1525 persons x 16 items, 4.7% of responses missing, 277 persons with
at least one). In long data a missing response is a row that is not there.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

from conftest import REF, load_reference


@pytest.fixture(scope="module")
def ability_long():
    return gm.wide_to_long(gm.datasets.load("ability"))


@pytest.mark.parametrize("K", [2, 3, 4])
def test_lca_with_missing_responses_matches_stepmix(ability_long, K):
    ref = load_reference("lca_missing_stepmix.json")
    r = ref[f"K{K}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1", ability_long, n_classes=K, family="bernoulli",
                     seed=1, se="none")
    # 16 persons answered nothing: reported as dropped; StepMix keeps them with likelihood 1
    assert res.n_independent == ref["n_persons"] - 16
    assert res.n_units_dropped == 16
    assert len(ability_long) == ref["n_persons"] * len(ref["items"]) - ref["n_missing"]
    assert res.llf == pytest.approx(r["loglik"], abs=1e-5)
    assert res.df_model == 16 * K + K - 1
    np.testing.assert_allclose(np.asarray(res.class_proportions, float), r["class_proportions"], atol=1e-4)
    prof = res.profile()
    for k in range(K):  # both ordered by class size, largest first
        got = [prof.loc[f"item[{item}]", f"class{k + 1}"] for item in ref["items"]]
        np.testing.assert_allclose(got, r["p_yes"][k], atol=2e-4)


def test_categorical_lca_with_missing_responses_matches_stepmix():
    """3-category items, free category probabilities per class (ordinal with item- and
    class-specific thresholds), 583 responses deleted by a fixed pattern: StepMix 3.0.0's
    categorical_nan, best of 30 starts (tests/reference/scripts/lca_categorical_missing_stepmix.py,
    tests/reference/values/lca_categorical_missing_stepmix.json)."""
    ref = load_reference("lca_categorical_missing_stepmix.json")
    items = ref["items"]
    wide = pd.read_csv(REF.parent / "data" / "verbagg_wide_resp.csv")
    i, j = np.indices((len(wide), len(items)))
    vals = wide[items].to_numpy(float)
    vals[(7 * i + 3 * j) % 13 == 0] = np.nan
    wide[items] = vals
    long = gm.wide_to_long(wide, id="id", items=items)
    assert len(long) == vals.size - ref["n_missing"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 | class(id) ~ 1", long, n_classes=2, family="ordinal", thresholds_by="item",
                     seed=1, se="none")
    r = ref["K2"]
    assert res.llf == pytest.approx(r["loglik"], abs=1e-5)
    assert res.df_model == 2 * 24 * 2 + 1
    np.testing.assert_allclose(np.asarray(res.class_proportions, float), r["class_proportions"], atol=1e-4)
    prof = res.profile()
    for k in range(2):
        for jj, item in enumerate(items):
            # the categories 1, 2, 3 are whole numbers held as floats (missing values): labelled 1, 2, 3
            got = [prof.loc[f"{item}: {c}", f"class{k + 1}"] for c in (1, 2, 3)]
            np.testing.assert_allclose(got, r["category_probabilities"][k][jj], atol=2e-4)
