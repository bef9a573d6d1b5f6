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
import pytest

import glmmix as gm

from conftest import load_reference


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
