"""References on data not used elsewhere (R 4.2.2; lme4 1.1.31, flexmix 2.3.18, ordinal
2022.11.16, numDeriv): flexmix's betablocker (binomial with up to 1,520 trials: a GLMM and a
3-class mixture with classes per centre and a common treatment effect), ordinal's soup (clmm,
clm) and flexmix's NregFix (a gaussian mixture regression with class membership ~ w, where
flexmix's EM stops 0.0138 short; the maximum is optim()'s on the hand-written likelihood).
Values: tests/reference/scripts/betablocker_soup_nregfix.R ->
tests/reference/values/betablocker_soup_nregfix.json. Also lme4's Dyestuff2 (a singular lmer
fit) and cake, MASS's bacteria (binary, 2-5 rows per child, glmer AGQ 25) and datasets'
warpbreaks (a 2-class Poisson mixture regression, flexmix): tests/reference/scripts/
more_agreements.R -> tests/reference/values/more_agreements.json. Data in tests/reference/data/
(the R packages' data sets, GPL)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference

DATA = REF.parent / "data"


@pytest.fixture(scope="module")
def ref():
    return load_reference("betablocker_soup_nregfix.json")


def fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # regular fits: no warning of any kind
        return gm.fit(formula, data, **kw)


@pytest.fixture(scope="module")
def betablocker():
    return pd.read_csv(DATA / "betablocker.csv")


def test_betablocker_glmm(betablocker, ref):
    r = ref["betablocker"]["glmer_agq25"]
    res = fit("cbind(Deaths, Total - Deaths) ~ Treatment + (1 | Center)", betablocker, family="binomial", n_points=25)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-5)  # -159.187029 (printed -50.47 + saturated)
    assert res.llf == pytest.approx(r["logLik_exact_integrate"], abs=1e-5)
    assert res.params[["Intercept", "Treatment[T.Treated]"]].tolist() == pytest.approx(
        [r["fixef"]["(Intercept)"], r["fixef"]["TreatmentTreated"]], abs=1e-5)
    assert res.params["sd(Center:Intercept)"] == pytest.approx(r["random_effects"]["Center"]["sd"]["(Intercept)"],
                                                               rel=1e-4)
    assert res.bse[["Intercept", "Treatment[T.Treated]"]].tolist() == pytest.approx(
        [r["fixef_se"]["(Intercept)"], r["fixef_se"]["TreatmentTreated"]], rel=1e-4)


def test_betablocker_mixture_with_a_common_treatment_effect(betablocker, ref):
    r = ref["betablocker"]["mixture3"]
    res = fit("cbind(Deaths, Total - Deaths) ~ Treatment | class(Center) ~ 1", betablocker, family="binomial",
              n_classes=3, invariant=["Treatment"], seed=1)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6)  # -159.360520 (flexmix's too)
    assert res.df_model == r["df"]
    order = np.argsort(-res.class_proportions.to_numpy())
    icpt = res.params[[f"class{k + 1}:Intercept" for k in order]]
    se = res.bse[[f"class{k + 1}:Intercept" for k in order]]
    assert icpt.tolist() == pytest.approx(r["intercepts"], abs=1e-4)
    assert se.tolist() == pytest.approx(r["intercepts_se"], rel=1e-3)  # numDeriv's Hessian
    assert res.params["Treatment[T.Treated]"] == pytest.approx(r["treatment"], abs=1e-5)
    assert res.bse["Treatment[T.Treated]"] == pytest.approx(r["treatment_se"], rel=1e-3)
    assert np.sort(res.class_proportions.to_numpy())[::-1] == pytest.approx(r["class_proportions"], abs=1e-5)


@pytest.fixture(scope="module")
def soup():
    s = pd.read_csv(DATA / "soup.csv")
    return s.assign(SURENESS=pd.Categorical(s["SURENESS"], categories=range(1, 7), ordered=True),
                    DAY=s["DAY"].astype(str))


@pytest.mark.parametrize("which", ["clmm", "clm"])
def test_soup_ordinal(soup, ref, which):
    r = ref["soup"][which]
    f = "SURENESS ~ PROD + DAY" + (" + (1 | RESP)" if which == "clmm" else "")
    res = fit(f, soup, family="ordinal", **({"n_points": 10} if which == "clmm" else {}))
    assert res.llf == pytest.approx(r["logLik"], abs=1e-5)  # clmm -2666.936829, clm -2684.976360
    names = {"PRODTest": "PROD[T.Test]", "DAY2": "DAY[T.2]"}
    names.update({k: f"threshold[{i + 1}]" for i, k in enumerate(r["alpha"])})
    want = {**r["beta"], **r["alpha"]}
    assert [res.params[v] for v in names.values()] == pytest.approx([want[k] for k in names], abs=2e-5)
    assert [res.bse[v] for v in names.values()] == pytest.approx([r["se"][k] for k in names], rel=2e-4)
    if which == "clmm":
        assert res.params["sd(RESP:Intercept)"] == pytest.approx(r["sd"], rel=1e-4)


@pytest.fixture(scope="module")
def nregfix():
    return pd.read_csv(DATA / "nregfix.csv").astype({"x2": str, "w": str})


@pytest.mark.parametrize("scale_y, scale_x1", [(1.0, 1.0), (1e6, 1.0), (1e-6, 1e-4), (1.0, 1e6)])
def test_nregfix_mixture_regression_with_a_class_covariate(nregfix, ref, scale_y, scale_x1):
    r = ref["nregfix"]
    d = nregfix.assign(y=nregfix["y"] * scale_y, x1=nregfix["x1"] * scale_x1)
    res = fit("y ~ x1 + x2 | class ~ 1 + w", d, family="gaussian", n_classes=3, class_specific=["sigma"], seed=1)
    jac = -len(d) * np.log(scale_y)  # the density of y * s
    assert res.llf - jac == pytest.approx(r["logLik"], abs=1e-5)  # -399.396179; flexmix's EM: -399.409929
    assert res.df_model == r["df"]
    order = np.argsort(-res.params[[f"class{k}:Intercept" for k in (1, 2, 3)]].to_numpy())
    for j, k in enumerate(order):
        c = f"class{k + 1}:"
        got = [res.params[c + "Intercept"] / scale_y, res.params[c + "x1"] * scale_x1 / scale_y,
               res.params[c + "x2[T.1]"] / scale_y, res.params[c + "sigma"] / scale_y]
        want = [r["coef"][j]["Intercept"], r["coef"][j]["x1"], r["coef"][j]["x21"], r["sigma"][j]]
        assert got == pytest.approx(want, rel=1e-4, abs=1e-5)
        got_se = [res.bse[c + "Intercept"] / scale_y, res.bse[c + "x1"] * scale_x1 / scale_y,
                  res.bse[c + "x2[T.1]"] / scale_y, res.bse[c + "sigma"] / scale_y]
        want_se = [r["coef_se"][j]["Intercept"], r["coef_se"][j]["x1"], r["coef_se"][j]["x21"], r["sigma_se"][j]]
        assert got_se == pytest.approx(want_se, rel=2e-3)  # numDeriv's Hessian


# ---- tests/reference/scripts/more_agreements.R -> tests/reference/values/more_agreements.json


@pytest.fixture(scope="module")
def more():
    return load_reference("more_agreements.json")


def test_dyestuff2_singular(more):
    # lmer stops at a batch SD of exactly 0 (isSingular): the linear model's log-likelihood
    r = more["dyestuff2"]
    d = pd.read_csv(DATA / "dyestuff2.csv")
    with pytest.warns(gm.BoundaryWarning, match="singular fit"):
        res = gm.fit("Yield ~ 1 + (1 | Batch)", d, family="gaussian")
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6) and res.llf == pytest.approx(r["logLik_lm"], abs=1e-6)
    assert res.params["sd(Batch:Intercept)"] < 1e-4
    assert res.params["Intercept"] == pytest.approx(r["fixef"]["(Intercept)"], abs=1e-6)
    assert res.params["sigma"] == pytest.approx(r["sigma"], rel=1e-5)
    assert res.bse["Intercept"] == pytest.approx(r["fixef_se"]["(Intercept)"], rel=1e-4)


def test_cake_interaction_grouping(more):
    r = more["cake"]
    d = pd.read_csv(DATA / "cake.csv").astype({"temperature": str, "replicate": str})
    res = fit("angle ~ recipe * temperature + (1 | recipe:replicate)", d, family="gaussian")
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6)  # -839.525933
    assert res.params["sd(recipe:replicate:Intercept)"] == pytest.approx(
        r["random_effects"]["recipe:replicate"]["sd"]["(Intercept)"], rel=1e-5)
    assert res.params["sigma"] == pytest.approx(r["sigma"], rel=1e-5)
    for k, v in r["fixef"].items():
        name = "Intercept" if k == "(Intercept)" else ":".join(
            f"{t[:6]}[T.{t[6:]}]" if t.startswith("recipe") else f"temperature[T.{t[11:]}]" for t in k.split(":"))
        assert res.params[name] == pytest.approx(v, abs=1e-5)
        assert res.bse[name] == pytest.approx(r["fixef_se"][k], rel=1e-4)


def test_bacteria_binary_small_clusters(more):
    r = more["bacteria"]
    b = pd.read_csv(DATA / "bacteria.csv")
    b = b.assign(y=(b["y"] == "y").astype(int), wk2=(b["week"] > 2).astype(int),
                 trt=pd.Categorical(b["trt"], ["placebo", "drug", "drug+"]))
    res = fit("y ~ trt + wk2 + (1 | ID)", b, family="bernoulli", n_points=25)
    assert res.llf == pytest.approx(r["logLik_exact_integrate"], abs=1e-5)  # -95.897057
    names = {"(Intercept)": "Intercept", "trtdrug": "trt[T.drug]", "trtdrug+": "trt[T.drug+]", "wk2": "wk2"}
    assert [res.params[v] for v in names.values()] == pytest.approx([r["fixef"][k] for k in names], abs=1e-5)
    assert [res.bse[v] for v in names.values()] == pytest.approx([r["fixef_se"][k] for k in names], rel=1e-4)
    assert res.params["sd(ID:Intercept)"] == pytest.approx(r["random_effects"]["ID"]["sd"]["(Intercept)"], rel=1e-4)


def test_warpbreaks_poisson_mixture(more):
    r = more["warpbreaks"]
    w = pd.read_csv(DATA / "warpbreaks.csv")
    w["tension"] = pd.Categorical(w["tension"], ["L", "M", "H"])
    res = fit("breaks ~ wool + tension | class ~ 1", w, family="poisson", n_classes=2, seed=1)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6)  # -193.945530, flexmix's too
    assert res.df_model == r["df"]
    order = np.argsort(-res.params[["class1:Intercept", "class2:Intercept"]].to_numpy())
    names = {"Intercept": "Intercept", "woolB": "wool[T.B]", "tensionM": "tension[T.M]", "tensionH": "tension[T.H]"}
    for j, k in enumerate(order):
        got = [res.params[f"class{k + 1}:{v}"] for v in names.values()]
        assert got == pytest.approx([r["coef"][j][n] for n in names], abs=1e-5)
        got_se = [res.bse[f"class{k + 1}:{v}"] for v in names.values()]
        assert got_se == pytest.approx([r["coef_se"][j][n] for n in names], rel=1e-3)  # numDeriv's Hessian
    assert res.class_proportions.to_numpy()[order] == pytest.approx(r["class_proportions"], abs=1e-5)
