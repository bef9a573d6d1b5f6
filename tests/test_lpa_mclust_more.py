"""Latent profile analyses against mclust on data the iris reference does not use.

Reference values: mclust 6.0.0 (R 4.x), script tests/reference/scripts/lpa_mclust_more.R,
values tests/reference/values/lpa_mclust_more.json; data R's datasets::faithful
(tests/reference/data/faithful.csv: two items on scales of minutes, 2-5 and 43-96) and
scale(datasets::USArrests) (tests/reference/data/usarrests_scaled.csv). mclust's best of its
own start and 100 random partitions. Its diagonal models are glmmix spellings:
EII one residual SD (default), VII one SD per class (``class_specific=["sigma"]``), EEI
item SDs (``sigma_by="item"``), VVI item SDs per class (both).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

from conftest import REF, load_reference

SPELLING = {"EII": {}, "VII": {"class_specific": ["sigma"]}, "EEI": {"sigma_by": "item"},
            "VVI": {"sigma_by": "item", "class_specific": ["sigma"]}}
DATA = {"faithful": ("faithful.csv", ["eruptions", "waiting"]),
        "usarrests": ("usarrests_scaled.csv", ["Murder", "Assault", "UrbanPop", "Rape"])}


def _long(name):
    fname, items = DATA[name]
    wide = pd.read_csv(REF.parent / "data" / fname)[items]
    wide["id"] = np.arange(len(wide))
    return gm.wide_to_long(wide, id="id", items=items), items


@pytest.mark.parametrize("model", list(SPELLING))
@pytest.mark.parametrize("K", [2, 3])
@pytest.mark.parametrize("data", list(DATA))
def test_lpa_matches_mclust(data, model, K):
    ref = load_reference("lpa_mclust_more.json")[data][f"{model}_K{K}"]
    long, items = _long(data)
    kw = SPELLING[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=K, family="gaussian", seed=1, **kw)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-6)
    assert res.df_model == ref["df"]
    assert res.bic == pytest.approx(-ref["bic_mclust"], abs=1e-5)  # mclust's BIC is 2 llf - df log n
    np.testing.assert_allclose(np.asarray(res.class_proportions, float), ref["proportions"], atol=1e-4)
    by_item = "sigma_by" in kw
    by_class = "class_specific" in kw
    # rel=1e-5: on faithful's EII K = 3 mclust's EM stops 1e-8 below glmmix's maximum, a mean
    # 1.4e-4 (2e-6 relative) away along a flat direction
    for k in range(K):  # classes reported largest first, as the reference orders them
        for item in items:
            assert res.params[f"class{k + 1}:item[{item}]"] == pytest.approx(ref["means"][k][item], rel=1e-5, abs=1e-4)
            lab = f"sigma[{item}]" if by_item else "sigma"
            lab = f"class{k + 1}:{lab}" if by_class else lab
            assert res.params[lab] == pytest.approx(ref["sds"][k][item], rel=1e-5, abs=1e-4)


def test_weighted_lpa_matches_stepmix():
    """Sampling weights w_i = 0.5 (1 + i mod 4) on faithful, VVI (StepMix's gaussian_diag,
    reg_covar 0): StepMix 3.0.0's best of 20 starts, script
    tests/reference/scripts/lpa_weighted_stepmix.py, values tests/reference/values/lpa_weighted_stepmix.json."""
    ref = load_reference("lpa_weighted_stepmix.json")
    wide = pd.read_csv(REF.parent / "data" / "faithful.csv")
    n = len(wide)
    wide["w"] = 0.5 * (1 + np.arange(n) % 4)
    wide["id"] = np.arange(n)
    long = gm.wide_to_long(wide, id="id", items=ref["items"], keep=["w"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="gaussian", sigma_by="item",
                     class_specific=["sigma"], weights="w", seed=1)
    assert res.llf == pytest.approx(ref["loglik_sample_scaled"], abs=1e-6)
    np.testing.assert_allclose(np.asarray(res.class_proportions, float), ref["class_proportions"], atol=1e-5)
    for k in range(2):
        for j, item in enumerate(ref["items"]):
            assert res.params[f"class{k + 1}:item[{item}]"] == pytest.approx(ref["means"][k][j], rel=1e-5)
            assert res.params[f"class{k + 1}:sigma[{item}]"] == pytest.approx(ref["sds"][k][j], rel=1e-5)
