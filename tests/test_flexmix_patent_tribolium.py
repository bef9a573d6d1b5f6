"""Mixtures of Poisson and binomial regressions with class covariates against flexmix.

Reference values: flexmix 2.3.18 (FLXMRglm, concomitant FLXPmultinom), best of 20 starts
polished by optim() of the hand-written likelihood, SEs from numDeriv's Hessian; script
tests/reference/scripts/flexmix_patent_tribolium.R, values
tests/reference/values/flexmix_patent_tribolium.json. Data: flexmix's `patent` (70 firms;
tests/reference/data/patent.csv) and `tribolium` (27 binomial counts;
tests/reference/data/tribolium.csv). Classes are matched by their intercept (highest first);
class logits are compared against the first matched class, since glmmix's reference class is
the last one and flexmix's the first.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

from conftest import REF, load_reference

CASES = {  # reference key: (data, formula, family, outcome terms, class-part terms)
    "patent_k2": ("patent", "Patents ~ 1 + lgRD | class ~ 1", "poisson", ["(Intercept)", "lgRD"], ["(Intercept)"]),
    "patent_k3": ("patent", "Patents ~ 1 + lgRD | class ~ 1", "poisson", ["(Intercept)", "lgRD"], ["(Intercept)"]),
    "patent_conc_k2": ("patent", "Patents ~ 1 + lgRD | class ~ 1 + RDS", "poisson", ["(Intercept)", "lgRD"],
                       ["(Intercept)", "RDS"]),
    "patent_conc_k3": ("patent", "Patents ~ 1 + lgRD | class ~ 1 + RDS", "poisson", ["(Intercept)", "lgRD"],
                       ["(Intercept)", "RDS"]),
    "tribolium_conc_k2": ("tribolium", "cbind(Remaining, fail) ~ 1 | class ~ 1 + Species", "binomial",
                          ["(Intercept)"], ["(Intercept)", "SpeciesConfusum", "SpeciesMadens"]),
}
LABEL = {"(Intercept)": "Intercept", "lgRD": "lgRD", "RDS": "RDS",
         "SpeciesConfusum": "Species[T.Confusum]", "SpeciesMadens": "Species[T.Madens]"}


def _data(name):
    df = pd.read_csv(REF.parent / "data" / f"{name}.csv")
    if name == "tribolium":
        df["fail"] = df["Total"] - df["Remaining"]
    return df


@pytest.mark.parametrize("case", list(CASES))
def test_mixture_regression_matches_flexmix(case):
    data, formula, family, terms, cterms = CASES[case]
    ref = load_reference("flexmix_patent_tribolium.json")[case]
    K = len(ref["coef"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(formula, _data(data), n_classes=K, family=family, seed=1)
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    assert res.df_model == ref["df"]
    p, se = res.params, res.bse
    order = sorted(range(1, K + 1), key=lambda k: -p[f"class{k}:Intercept"])

    def logit(k, t):  # glmmix's logit of class k (the last class is the reference)
        return 0.0 if k == K else p[f"logit:class{k}:{LABEL[t]}"]

    for j, k in enumerate(order):
        for t in terms:
            lab = f"class{k}:{LABEL[t]}"
            assert p[lab] == pytest.approx(ref["coef"][j][t], abs=1e-4)
            if ref["coef_se"][j][t] is not None:  # null if the Hessian were not definite
                assert se[lab] == pytest.approx(ref["coef_se"][j][t], rel=2e-3)
        for t in cterms:
            got = logit(k, t) - logit(order[0], t)
            assert got == pytest.approx(ref["concomitant_logits"][j][t], abs=1e-3, rel=1e-4)


def test_rescaled_and_shifted_covariates_give_flexmix_maximum():
    """lgRD / 100 + 50 (far from zero, small spread) and RDS * 1e4: the same maximum, and the
    estimates map back to flexmix's exactly (slope * 100, intercept + 50 * slope)."""
    ref = load_reference("flexmix_patent_tribolium.json")["patent_conc_k3"]
    df = _data("patent")
    df["lgRD_c"] = df["lgRD"] / 100 + 50
    df["RDS_k"] = df["RDS"] * 1e4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("Patents ~ 1 + lgRD_c | class ~ 1 + RDS_k", df, n_classes=3, family="poisson", seed=1)
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    p = res.params
    order = sorted(range(1, 4), key=lambda k: -(p[f"class{k}:Intercept"] + 50 * p[f"class{k}:lgRD_c"]))
    logit = {k: (0.0 if k == 3 else p[f"logit:class{k}:RDS_k"]) for k in range(1, 4)}
    for j, k in enumerate(order):
        b = p[f"class{k}:lgRD_c"]
        assert b / 100 == pytest.approx(ref["coef"][j]["lgRD"], abs=1e-4)
        assert p[f"class{k}:Intercept"] + 50 * b == pytest.approx(ref["coef"][j]["(Intercept)"], abs=1e-3)
        got = (logit[k] - logit[order[0]]) * 1e4
        assert got == pytest.approx(ref["concomitant_logits"][j]["RDS"], abs=1e-2, rel=1e-4)
