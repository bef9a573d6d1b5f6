"""Maximum-likelihood GLMMs against lme4 / glmmTMB (tests/reference/values/*.json).

R 4.2.2, lme4 1.1.31, glmmTMB 1.1.5 (Debian); scripts in tests/reference/scripts. Log-
likelihoods are the full densities: glmer prints (loglik - saturated loglik) for nAGQ > 1,
so the JSON files hold the exact value as well (checked there by per-group integrate()).
glmer was run with tolPwrss = 1e-12: with its default 1e-7 its Laplace value is off by
up to 6e-3 (VerbAgg), whereas glmmTMB agrees with the tight value.
"""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import REF, load_reference


@pytest.fixture(scope="module")
def verbagg():
    return gm.datasets.load("verbagg_long")


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_verbagg_rasch_agq25(verbagg, link):
    # glmer(r2 ~ 0 + item + (1|id), family = binomial(link), nAGQ = 25)
    ref = load_reference("glmer_verbagg.json")
    key = "logit_agq25" if link == "logit" else "probit_agq25"
    r = ref[key]
    res = gm.fit("y ~ 0 + item + (1|id)", verbagg, family="bernoulli", link=link, n_points=25)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-4)  # logLik(m)
    assert res.params["sd(id:Intercept)"] == pytest.approx(r["random_effects"]["id"]["sd"]["(Intercept)"], rel=1e-4)
    fix = r["fixef"]
    got = res.params[[f"item[{k[4:]}]" for k in fix]].to_numpy()
    np.testing.assert_allclose(got, list(fix.values()), atol=2e-4)
    se = r["fixef_se"]
    np.testing.assert_allclose(res.bse[[f"item[{k[4:]}]" for k in se]].to_numpy(), list(se.values()), rtol=5e-3)


def test_verbagg_laplace(verbagg):
    # glmer(..., nAGQ = 1, tolPwrss = 1e-12) and glmmTMB: -4039.248537
    res = gm.fit("y ~ 0 + item + (1|id)", verbagg, family="bernoulli", integration="laplace", se="none")
    assert res.llf == pytest.approx(-4039.248537, abs=1e-4)


def test_lsat_rasch_and_2pl():
    long = gm.wide_to_long(gm.datasets.load("lsat"))
    # glmer(y ~ 0 + item + (1|person), nAGQ = 25): -2466.937600, sd 0.755136 (ltm: -2466.94)
    ras = gm.fit("y ~ 0 + item + (1|id)", long, family="bernoulli", n_points=25)
    assert ras.llf == pytest.approx(-2466.937600, abs=1e-4)
    assert ras.params["sd(id:Intercept)"] == pytest.approx(0.755136, rel=1e-4)
    # 2PL: R's ltm publishes -2466.65; ../shared/REFERENCE-VALUES.md: -2466.6534
    two = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", long, family="bernoulli", n_points=25)
    assert two.llf == pytest.approx(-2466.6534, abs=2e-4)
    assert (two.params.filter(like="loading") > 0).all()
    # the Rasch model is the 2PL with equal loadings
    eq = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", long, family="bernoulli", n_points=25,
                equal=[[f"loading(id:item[I{j}])" for j in range(1, 6)]])
    assert eq.llf == pytest.approx(ras.llf, abs=1e-5)


@pytest.mark.parametrize("formula, key", [("Reaction ~ Days + (Days|Subject)", "correlated"),
                                          ("Reaction ~ Days + (Days||Subject)", "uncorrelated")])
def test_sleepstudy_exact_gaussian(formula, key):
    # lmer(..., REML = FALSE): Gaussian, so quadrature with enough points is exact
    ref = load_reference("lmer_sleepstudy.json")
    r = ref[key]
    d = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    res = gm.fit(formula, d, family="gaussian")
    assert res.llf == pytest.approx(r["logLik"], abs=1e-5)
    np.testing.assert_allclose(res.params[["Intercept", "Days"]], list(r["fixef"].values()), rtol=1e-5)
    assert res.params["sigma"] == pytest.approx(r["sigma"], rel=1e-4)


def test_contraception_random_slope():
    # glmer(y ~ age + I(age^2) + urban + livch + (1 + urban | district), binomial), Laplace:
    # -1180.305143 (glmmTMB identical). Adaptive GH integrates better and is higher.
    d = gm.datasets.load("contraception")
    f = "y ~ age + I(age**2) + urban + livch + (1 + urban | district)"
    lap = gm.fit(f, d, family="bernoulli", integration="laplace", se="none")
    assert lap.llf == pytest.approx(-1180.305143, abs=2e-4)
    agh = gm.fit(f, d, family="bernoulli", n_points=9)
    agh15 = gm.fit(f, d, family="bernoulli", n_points=15)
    assert agh.llf == pytest.approx(agh15.llf, abs=1e-4)  # converged quadrature
    assert agh.llf > lap.llf
    # random intercept, glmer nAGQ = 25: -1206.674234
    ri = gm.fit("y ~ age + urban + livch + (1 | district)", d, family="bernoulli", n_points=25)
    assert ri.llf == pytest.approx(-1206.674234, abs=1e-4)


def test_cbpp_binomial_with_trials():
    # glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), nAGQ = 25):
    # exact -91.983369 (glmer prints -50.005015, without the saturated log-likelihood)
    res = gm.fit("cbind(incidence, size - incidence) ~ period + (1|herd)", gm.datasets.load("cbpp"),
                 family="binomial", n_points=25)
    assert res.llf == pytest.approx(-91.983369, abs=1e-4)
    assert res.params["sd(herd:Intercept)"] == pytest.approx(0.647518, rel=1e-3)


def test_grouseticks_poisson():
    # glmer(TICKS ~ YEAR + scale(HEIGHT) + (1|BROOD), poisson, nAGQ = 25): exact -988.954685
    d = pd.read_csv(REF.parent / "data" / "grouseticks.csv")
    d = d.assign(YEAR=d["YEAR"].astype(str), sH=(d.HEIGHT - d.HEIGHT.mean()) / d.HEIGHT.std())
    res = gm.fit("TICKS ~ YEAR + sH + (1|BROOD)", d, family="poisson", n_points=25)
    assert res.llf == pytest.approx(-988.954685, abs=1e-4)


def test_ordinal_written_as_clmm_users_write_it(verbagg):
    # R 4.2.2, ordinal 2022.11-16 (tests/reference/scripts/clmm_verbagg.R):
    # clmm(resp ~ item + Gender + (1 | id), nAGQ = 15) on six items: the thresholds absorb the
    # intercept, item and Gender keep treatment contrasts
    ref = load_reference("clmm_verbagg.json")["agq15"]
    items = ["S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout"]
    d = verbagg[verbagg["item"].isin(items)].copy()
    d["resp"] = pd.Categorical(d["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    res = gm.fit("resp ~ item + Gender + (1 | id)", d, family="ordinal", n_points=15)
    assert res.llf == pytest.approx(ref["logLik"], abs=2e-5)  # logLik(m)
    assert res.df_model == ref["df"]
    beta = {k.replace("item", "item[T.").replace("GenderM", "Gender[T.M") + "]": v for k, v in ref["beta"].items()}
    np.testing.assert_allclose(res.params[list(beta)], list(beta.values()), atol=1e-4)  # m$beta
    np.testing.assert_allclose(res.params[["threshold[1]", "threshold[2]"]], list(ref["alpha"].values()), atol=1e-4)
    assert res.params["sd(id:Intercept)"] == pytest.approx(ref["sd_id"], rel=1e-4)  # VarCorr(m)
    se = {b: ref["se"][k] for b, k in zip(beta, ref["beta"])}
    np.testing.assert_allclose(res.bse[list(se)], list(se.values()), rtol=1e-3)  # sqrt(diag(vcov(m)))


def test_ordinal_laplace_is_clmms_on_verbagg(verbagg):
    # clmm(resp ~ item + Gender + (1 | id), nAGQ = 1) (tests/reference/scripts/clmm_verbagg.R): the
    # Laplace approximation with the observed curvature at each person's mode. Before, the
    # working weights stood in for that curvature: 1.54 above clmm's value, estimates 0.016 off
    ref = load_reference("clmm_verbagg.json")["laplace"]
    items = ["S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout"]
    d = verbagg[verbagg["item"].isin(items)].copy()
    d["resp"] = pd.Categorical(d["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    res = gm.fit("resp ~ item + Gender + (1 | id)", d, family="ordinal", integration="laplace", se="none")
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-6)
    beta = {k.replace("item", "item[T.").replace("GenderM", "Gender[T.M") + "]": v for k, v in ref["beta"].items()}
    np.testing.assert_allclose(res.params[list(beta)], list(beta.values()), atol=1e-4)
    np.testing.assert_allclose(res.params[["threshold[1]", "threshold[2]"]], list(ref["alpha"].values()), atol=1e-4)
    assert res.params["sd(id:Intercept)"] == pytest.approx(ref["sd_id"], rel=1e-5)


@pytest.fixture(scope="module")
def wine():
    w = pd.read_csv(REF.parent / "data" / "wine.csv")
    w["rating"] = pd.Categorical(w["rating"], categories=[1, 2, 3, 4, 5], ordered=True)
    return w


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("integration", ["laplace", "agq10"])
def test_ordinal_glmm_on_wine_against_clmm(wine, link, integration):
    # R 4.2.2, ordinal 2022.11-16 (tests/reference/scripts/clmm_wine.R): clmm(rating ~ temp +
    # contact + (1 | judge), link, nAGQ = 1 or 10). clmm's Laplace value moves by 3.5e-6 with its
    # control (gradTol = 1e-8 gives -81.5654127768, glmmix's to 1e-9, but its SEs in the third digit)
    r = load_reference("clmm_wine.json")[f"{link}_{integration}"]
    kw = dict(integration="laplace") if integration == "laplace" else dict(n_points=10)
    res = gm.fit("rating ~ temp + contact + (1 | judge)", wine, family="ordinal", link=link, **kw)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-5)  # logLik(m)
    assert res.df_model == r["df"]
    got = res.params[["temp[T.warm]", "contact[T.yes]"] + [f"threshold[{k}]" for k in range(1, 5)]]
    np.testing.assert_allclose(got, list(r["beta"].values()) + list(r["alpha"].values()), atol=2e-4)  # m$beta, m$alpha
    assert res.params["sd(judge:Intercept)"] == pytest.approx(r["sd_judge"], rel=2e-4)  # VarCorr(m)
    se = [r["se"][k] for k in ("tempwarm", "contactyes", "1|2", "2|3", "3|4", "4|5")]
    np.testing.assert_allclose(res.bse[got.index], se, rtol=2e-3)  # sqrt(diag(vcov(m)))
    # ST1 is the SE of log sd(judge): the delta method gives sd's
    assert res.bse["sd(judge:Intercept)"] == pytest.approx(r["se"]["ST1"] * r["sd_judge"], rel=2e-3)


def test_ordinal_categories_in_reverse_order_flip_every_sign(wine):
    # clmm(rrev ~ temp + contact + (1 | judge), nAGQ = 10) with rrev's levels 5 < 4 < ... < 1:
    # the same log-likelihood, coefficients negated, thresholds negated in reverse order
    r = load_reference("clmm_wine.json")["reversed_agq10"]
    w = wine.assign(rrev=pd.Categorical(wine["rating"].astype(int), categories=[5, 4, 3, 2, 1], ordered=True))
    res = gm.fit("rrev ~ temp + contact + (1 | judge)", w, family="ordinal", n_points=10)
    assert res.llf == pytest.approx(r["logLik"], abs=1e-6)
    got = res.params[["temp[T.warm]", "contact[T.yes]"] + [f"threshold[{k}]" for k in range(1, 5)]]
    np.testing.assert_allclose(got, list(r["beta"].values()) + list(r["alpha"].values()), atol=2e-4)
    labels = {1: "awful", 2: "bad", 3: "fair", 4: "good", 5: "great"}  # text categories, in their order
    w["text"] = pd.Categorical(wine["rating"].astype(int).map(labels), categories=list(labels.values()), ordered=True)
    assert gm.fit("text ~ temp + contact + (1 | judge)", w, family="ordinal", n_points=10,
                  se="none").llf == pytest.approx(r["logLik"], abs=1e-6)
