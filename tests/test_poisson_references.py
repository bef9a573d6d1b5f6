"""Poisson GLMMs on data not used elsewhere, against lme4 1.1.31 and glmmTMB 1.1.5 (R 4.2.2):
glmmTMB's Owls (an exposure offset), MASS's epil, glmmTMB's Salamanders (adaptive quadrature,
25 points) and lme4's Arabidopsis (two grouping factors, Laplace). Values:
tests/reference/scripts/glmm_poisson_more.R -> tests/reference/values/glmm_poisson_more.json;
data exported by that script to tests/reference/data/ (R data sets, GPL)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference

DATA = REF.parent / "data"


@pytest.fixture(scope="module")
def ref():
    return load_reference("glmm_poisson_more.json")


def fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # these fits are regular: no warning of any kind
        return gm.fit(formula, data, family="poisson", **kw)


def check(res, r, names, llf_tol=1e-5, rel=2e-4, se_rel=2e-5):
    """res against an R summary (mer_summary/tmb_summary): loglik, fixed effects, their SEs, SDs.
    Measured: log-likelihoods within 1.5e-6, SEs within 1e-6 of glmer's adaptive quadrature
    and of glmmTMB's Laplace fits; glmer's Laplace SEs are up to 0.15% smaller (Owls; epil 1e-6;
    its vcov at nAGQ = 1 is another approximation), hence se_rel=2e-3 there."""
    assert res.llf == pytest.approx(r["logLik"], abs=llf_tol)
    ours = [res.params[n] for n in names.values()]
    assert ours == pytest.approx([r["fixef"][k] for k in names], rel=rel, abs=1e-5)
    assert [res.bse[n] for n in names.values()] == pytest.approx([r["fixef_se"][k] for k in names], rel=se_rel)
    for g, v in r["random_effects"].items():
        assert res.params[f"sd({g}:Intercept)"] == pytest.approx(v["sd"]["(Intercept)"], rel=rel)


@pytest.fixture(scope="module")
def owls():
    o = pd.read_csv(DATA / "owls.csv")
    return o.assign(logBS=np.log(o["BroodSize"]))


OWLS = {"(Intercept)": "Intercept", "FoodTreatmentSatiated": "FoodTreatment[T.Satiated]",
        "SexParentMale": "SexParent[T.Male]",
        "FoodTreatmentSatiated:SexParentMale": "FoodTreatment[T.Satiated]:SexParent[T.Male]"}


def test_owls_with_an_exposure_offset(owls, ref):
    r = ref["owls"]
    f = "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBS) + (1 | Nest)"
    check(fit(f, owls, n_points=25), r["agq25"], OWLS)            # -2601.372605 (glmer, exact)
    lap = fit(f, owls, integration="laplace")
    check(lap, r["laplace"], OWLS, se_rel=2e-3)  # -2601.387998
    check(lap, r["glmmTMB_laplace"], OWLS)
    # exposure in other units (per 1e6 chicks): the intercept moves by log(1e6), nothing else
    res = fit(f, owls.assign(logBS=owls["logBS"] + np.log(1e6)), n_points=25)
    assert res.llf == pytest.approx(r["agq25"]["logLik"], abs=1e-4)
    assert res.params["Intercept"] + np.log(1e6) == pytest.approx(r["agq25"]["fixef"]["(Intercept)"], abs=1e-5)


EPIL = {"(Intercept)": "Intercept", "lbase": "lbase", "trtprogabide": "trt[T.progabide]", "lage": "lage",
        "V4": "V4", "lbase:trtprogabide": "lbase:trt[T.progabide]"}


@pytest.fixture(scope="module")
def epil():
    e = pd.read_csv(DATA / "epil.csv")
    lb, la = np.log(e["base"] / 4), np.log(e["age"])
    return e.assign(lbase=lb - lb.mean(), lage=la - la.mean())  # MASS's columns


def test_epil(epil, ref):
    r = ref["epil"]
    f = "y ~ lbase * trt + lage + V4 + (1 | subject)"
    check(fit(f, epil, n_points=25), r["agq25"], EPIL)          # -665.406569
    check(fit(f, epil, integration="laplace"), r["laplace"], EPIL, se_rel=2e-3)  # -665.474426
    # the baseline count in its own units, log(base) uncentred and rescaled: the same maximum
    res = fit("y ~ lb * trt + lage + V4 + (1 | subject)", epil.assign(lb=1e3 * np.log(epil["base"])), n_points=25)
    assert res.llf == pytest.approx(r["agq25"]["logLik"], abs=1e-4)
    assert 1e3 * res.params["lb"] == pytest.approx(r["agq25"]["fixef"]["lbase"], rel=2e-4)


def test_salamanders(ref):
    r = ref["salamanders"]
    s = pd.read_csv(DATA / "salamanders.csv")
    s["spp"] = pd.Categorical(s["spp"], r["spp_levels"])
    s["mined"] = pd.Categorical(s["mined"], ["yes", "no"])
    names = {"(Intercept)": "Intercept", "minedno": "mined[T.no]"}
    names.update({f"spp{v}": f"spp[T.{v}]" for v in r["spp_levels"][1:]})
    check(fit("count ~ spp + mined + (1 | site)", s, n_points=25), r["agq25"], names)  # -972.384983


def test_arabidopsis_two_grouping_factors(ref):
    r = ref["arabidopsis"]
    a = pd.read_csv(DATA / "arabidopsis.csv").astype({"nutrient": str, "rack": str})
    names = {"(Intercept)": "Intercept", "nutrient8": "nutrient[T.8]", "amdunclipped": "amd[T.unclipped]",
             "rack2": "rack[T.2]", "statusPetri.Plate": "status[T.Petri.Plate]",
             "statusTransplant": "status[T.Transplant]", "nutrient8:amdunclipped": "nutrient[T.8]:amd[T.unclipped]"}
    res = fit("total.fruits ~ nutrient * amd + rack + status + (1 | popu) + (1 | gen)", a)
    assert res.nobs == 625 and max(a["total.fruits"]) == r["max_count"]
    check(res, r["laplace"], names, se_rel=2e-3)  # glmer: -9126.862401
    check(res, r["glmmTMB_laplace"], names)
