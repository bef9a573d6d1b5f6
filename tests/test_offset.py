"""Offsets: ``offset(expr)`` in the outcome part, as lme4, glmmTMB and flexmix users write it.

Reference values: tests/reference/values/offset_cbpp.json, made by
tests/reference/scripts/offset_cbpp.R (lme4 1.1.31, glmmTMB 1.1.5, flexmix 2.3.18; cbpp
incidence counts with exposure log(size)):

* Poisson GLMM ``incidence ~ period + offset(log(size)) + (1 | herd)``: glmer with nAGQ = 25,
  its full log-likelihood recomputed by integrate() at its estimates (-90.2445131164), and
  glmmTMB's Laplace log-likelihood (-90.2416477064);
* two-class Poisson mixture regressions with the same offset, 50 random starts of flexmix:
  ``incidence ~ 1`` (-93.8484822523, 50/50 starts) and ``incidence ~ period`` (-84.2413009054,
  14/50 starts).
"""

import json
import os
import warnings

import numpy as np
import pytest

import glmmix as gm
from glmmix.exceptions import GlmmixError

REF = json.load(open(os.path.join(os.path.dirname(__file__), "reference", "values", "offset_cbpp.json")))
GLMM = "incidence ~ period + offset(np.log(size)) + (1|herd)"


@pytest.fixture(scope="module")
def cbpp():
    return gm.datasets.load("cbpp")


@pytest.fixture(scope="module")
def glmm(cbpp):
    return gm.fit(GLMM, cbpp, family="poisson")


def _fixef(d):
    return np.array([d["(Intercept)"], d["period2"], d["period3"], d["period4"]])


def test_poisson_glmm_with_offset_matches_glmer(glmm):
    ref = REF["glmer_agq25"]
    assert glmm.llf == pytest.approx(ref["logLik_exact_integrate"], abs=1e-6)
    np.testing.assert_allclose(glmm.params.iloc[:4], _fixef(ref["fixef"]), atol=2e-4)
    assert glmm.params["sd(herd:Intercept)"] == pytest.approx(ref["random_effects"]["herd"]["sd"]["(Intercept)"], abs=2e-4)
    # the offset is not a parameter: it is a column of the design with coefficient 1
    assert not any("offset" in name for name in glmm.params.index)


def test_offset_is_a_fixed_coefficient_of_one(cbpp, glmm):
    same = gm.fit("incidence ~ period + I(np.log(size)) + (1|herd)", cbpp, family="poisson",
                  fix={"I(np.log(size))": 1.0})
    assert same.llf == pytest.approx(glmm.llf, abs=1e-9)
    without = gm.fit("incidence ~ period + (1|herd)", cbpp, family="poisson")
    assert abs(without.llf - glmm.llf) > 1.0


def test_laplace_with_offset_matches_glmmtmb(cbpp):
    res = gm.fit(GLMM, cbpp, family="poisson", integration="laplace")
    ref = REF["glmmTMB_laplace"]
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    np.testing.assert_allclose(res.params.iloc[:4], _fixef(ref["fixef"]), atol=2e-4)


@pytest.mark.parametrize("key, rhs", [("flexmix_rate", "1"), ("flexmix_period", "period")])
def test_poisson_mixture_with_offset_matches_flexmix(cbpp, key, rhs):
    ref = REF[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(f"incidence ~ {rhs} + offset(np.log(size)) | class ~ 1", cbpp, n_classes=2,
                     family="poisson", seed=1)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-5)
    # classes in flexmix's order (largest first): match by the intercepts
    b = res.params
    ours = sorted([b["class1:Intercept"], b["class2:Intercept"]])
    theirs = sorted([c["coef.(Intercept)"] for c in ref["components"].values()])
    np.testing.assert_allclose(ours, theirs, atol=2e-3)


def test_predictions_on_new_data_use_the_new_offset(cbpp, glmm):
    rows = cbpp.iloc[:5]
    base = glmm.predict(rows)
    doubled = glmm.predict(rows.assign(size=rows["size"] * 2))
    np.testing.assert_allclose(doubled.to_numpy(), 2 * base.to_numpy(), rtol=1e-10)


def test_saved_results_keep_the_offset(cbpp, glmm, tmp_path):
    path = tmp_path / "offset.json"
    glmm.save(path)
    back = gm.MixtureResults.load(path)
    rows = cbpp.iloc[:5].assign(size=cbpp["size"].iloc[:5] * 3)
    np.testing.assert_allclose(back.predict(rows).to_numpy(), glmm.predict(rows).to_numpy(), rtol=1e-12)


def test_simulated_counts_follow_the_offset(cbpp):
    design = cbpp[["herd", "period", "size"]].assign(size=1000)
    sim = gm.simulate("incidence ~ 1 + offset(np.log(size))", design, params={"Intercept": -3.0},
                      family="poisson", seed=2)
    # mean count = size * exp(-3) = 49.8 (56 rows: the sample mean is within 3 SE of it)
    assert abs(sim["incidence"].mean() - 1000 * np.exp(-3)) < 3 * np.sqrt(1000 * np.exp(-3) / len(sim))


@pytest.mark.parametrize("formula, fix, match", [
    ("incidence ~ period | class ~ 1 + offset(size)", None, "belongs in the outcome part"),
    ("incidence ~ period - offset(np.log(size))", None, "cannot subtract an offset"),
    ("incidence ~ period + (offset(size) | herd)", None, "a term of its own"),
    ("incidence ~ period + np.exp(offset(size))", None, "a term of its own"),
    ("incidence ~ period + offset(herd_name)", None, "offset must be numeric"),
    ("incidence ~ period + offset(np.log(size))", {"offset(np.log(size))": 2.0}, "is an offset"),
    ("incidence ~ 0 + offset(np.log(size))", None, "nothing to estimate"),
])
def test_malformed_offsets_are_refused(cbpp, formula, fix, match):
    data = cbpp.assign(herd_name="h" + cbpp["herd"].astype(str))
    with pytest.raises(GlmmixError, match=match):
        gm.fit(formula, data, n_classes=2 if "class" in formula else 1, family="poisson", fix=fix)
