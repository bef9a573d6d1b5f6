"""Laplace with random terms on several grouping columns (crossed or multiple factors):
the exact gradient against central differences, the log-likelihood against an independent
dense computation and against the one-grouping engine, and refusals."""

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

import glmmix as gm
from glmmix.exceptions import DesignError
from glmmix.likelihood import central_gradient
from glmmix.model import MixtureModel
from glmmix.scoring import random_effects
from conftest import REF, load_reference


def crossed_data(rng, n_p=30, n_i=8, n_b=5):
    """Persons p crossed with items it, plus a blocking factor blk crossed with both."""
    p = np.repeat(np.arange(n_p), n_i)
    it = np.tile(np.arange(n_i), n_p)
    blk = rng.integers(0, n_b, size=p.size)
    x = rng.normal(size=p.size)
    eta = -0.2 + 0.5 * x + rng.normal(size=n_p)[p] + 0.6 * rng.normal(size=n_i)[it] + 0.4 * rng.normal(size=n_b)[blk]
    return pd.DataFrame({"p": p, "it": [f"i{j}" for j in it], "blk": blk, "x": x,
                         "y": (rng.uniform(size=p.size) < 1 / (1 + np.exp(-eta))).astype(float),
                         "c": rng.poisson(np.exp(0.3 * eta))})


def _lik(formula, data, family="bernoulli", link=None, **kw):
    return MixtureModel.from_formula(formula, data, 1, family, link, integration="laplace", **kw).likelihood


CASES = [
    ("y ~ 1 + x + (1 | p) + (1 | it)", "bernoulli", "logit"),
    ("y ~ 1 + x + (1 | p) + (1 | it)", "bernoulli", "probit"),  # observed != working weights
    ("y ~ 1 + x + (1 + x | p) + (1 | it)", "bernoulli", "logit"),  # slopes in the eliminated grouping
    ("y ~ 1 + x + (1 | p) + (1 + x | it)", "bernoulli", "logit"),  # slopes in the Schur block
    ("y ~ 1 + x + (1 | p) + (0 + x | p) + (1 | it) + (0 + x | it)", "bernoulli", "logit"),  # terms per factor
    ("c ~ 1 + x + (1 | p) + (1 | it) + (1 | blk)", "poisson", "log"),  # three groupings
    ("y ~ 0 + it + rr(0 + it | p, 1) + (1 | blk)", "bernoulli", "logit"),  # loadings (2PL) and a crossed block
]


@pytest.mark.parametrize("formula, family, link", CASES + [("y ~ 1 + x + (1 + x | p) + (1 | it)", "bernoulli", "reg")])
def test_crossed_laplace_gradient_is_exact(formula, family, link, rng):
    kw = {"re_parameterization": "regression"} if link == "reg" else {}  # slopes on one another: pulled back
    lik = _lik(formula, crossed_data(rng), family, None if link == "reg" else link, **kw)
    assert lik.laplace_exact
    theta = 0.4 * rng.standard_normal(lik.layout.n_free)
    ll, g, _ = lik.loglik_and_grad(theta)
    assert ll == pytest.approx(lik.loglik(theta), abs=1e-9)
    num = central_gradient(lik.loglik, theta, rel_step=1e-5)
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(num).max()))


def _dense_laplace(data, beta, sd_p, sd_i):
    """An independent Laplace value of y ~ 1 + x + (1|p) + (1|it) (logit): dense joint design,
    the mode by scipy's optimizer, the Hessian by its formula."""
    p = pd.factorize(data["p"], sort=True)[0]
    it = pd.factorize(data["it"], sort=True)[0]
    n_p, n_i = p.max() + 1, it.max() + 1
    Z = np.zeros((len(data), n_p + n_i))
    Z[np.arange(len(data)), p] = sd_p
    Z[np.arange(len(data)), n_p + it] = sd_i
    eta0 = beta[0] + beta[1] * data["x"].to_numpy()
    y = data["y"].to_numpy()

    def negh(u):
        eta = eta0 + Z @ u
        return -(y * eta - np.logaddexp(0, eta)).sum() + 0.5 * u @ u

    def grad(u):
        eta = eta0 + Z @ u
        return -Z.T @ (y - 1 / (1 + np.exp(-eta))) + u

    u = optimize.minimize(negh, np.zeros(Z.shape[1]), jac=grad, method="BFGS", options={"gtol": 1e-10}).x
    pr = 1 / (1 + np.exp(-(eta0 + Z @ u)))
    H = np.eye(Z.shape[1]) + Z.T @ (Z * (pr * (1 - pr))[:, None])
    return -negh(u) - 0.5 * np.linalg.slogdet(H)[1], u, np.linalg.inv(H)


def test_crossed_laplace_matches_a_dense_computation(rng):
    data = crossed_data(rng, n_p=12, n_i=5)
    model = MixtureModel.from_formula("y ~ 1 + x + (1 | p) + (1 | it)", data, family="bernoulli")
    theta = np.array([-0.3, 0.6, 1.2, 0.7])  # sds enter as entries of L (their sign is free)
    ll, u, M = _dense_laplace(data, theta[:2], 1.2, 0.7)
    assert model.loglike(theta) == pytest.approx(ll, abs=1e-7)
    # scores: conditional modes and SDs of the effects b = sd * u per level (persons, then items)
    re = random_effects(model.likelihood, theta)
    sd = np.r_[np.full(12, 1.2), np.full(5, 0.7)]
    b = re.loc["p"]["Intercept"].tolist() + re.loc["it"]["Intercept"].tolist()
    np.testing.assert_allclose(b, sd * u, atol=1e-6)
    s = re.loc["p"]["sd:Intercept"].tolist() + re.loc["it"]["sd:Intercept"].tolist()
    np.testing.assert_allclose(s, sd * np.sqrt(np.diag(M)), rtol=1e-6)


def test_a_grouping_with_zero_sd_gives_the_one_grouping_laplace(rng):
    data = crossed_data(rng)
    crossed = _lik("y ~ 1 + x + (1 + x | p) + (1 | it)", data, fix={"sd(it:Intercept)": 0.0})
    nested = _lik("y ~ 1 + x + (1 + x | p)", data)
    assert crossed.layout.n_free == nested.layout.n_free
    theta = np.array([0.2, 0.4, 0.9, 0.3, 0.5])
    assert crossed.loglik(theta) == pytest.approx(nested.loglik(theta), abs=1e-8)
    np.testing.assert_allclose(crossed.gradient(theta), nested.gradient(theta), rtol=1e-6, atol=1e-8)


def test_crossed_refusals(rng):
    data = crossed_data(rng)
    data["w"] = 1.0
    with pytest.raises(DesignError, match="integration='laplace'"):
        gm.MixtureModel.from_formula("y ~ x + (1 | p) + (1 | it)", data, family="bernoulli", integration="agh")
    with pytest.raises(NotImplementedError, match="without classes"):
        gm.MixtureModel.from_formula("y ~ x + (1 | p) + (1 | it) | class(p) ~ 1", data, n_classes=2,
                                     family="bernoulli")
    with pytest.raises(NotImplementedError, match="sampling weights"):
        gm.MixtureModel.from_formula("y ~ x + (1 | p) + (1 | it)", data, family="bernoulli", weights="w")
    model = gm.MixtureModel.from_formula("y ~ x + (1 | p) + (1 | it)", data, family="bernoulli")
    assert model.integration.method == "laplace"  # "auto" chooses it for crossed terms
    with pytest.raises(NotImplementedError, match="se='ml'"):
        model.likelihood.unit_scores(model.start_params())


# ----------------------------------------------------------------------------- references
# tests/reference/scripts/glmm_crossed.R: glmer (nAGQ = 1, tolPwrss = 1e-12) and glmmTMB
# 1.1.5 Laplace fits (R 4.2.2, lme4 1.1.31), which agree to 1e-5 on every model.
FACTORS = ("Gender", "btype", "situ", "mode", "YEAR")


def _name(r):
    if r == "(Intercept)":
        return "Intercept"
    for f in FACTORS:
        if r.startswith(f) and r != f:
            return f"{f}[T.{r[len(f):]}]"
    return r


def _crossed_case(key):
    if key.startswith("verbagg"):
        return gm.datasets.load("verbagg_long"), "bernoulli"
    data = pd.read_csv(REF.parent / "data" / "grouseticks.csv")
    return data.assign(YEAR=data["YEAR"].astype(str)), "poisson"


@pytest.mark.parametrize("key", ["verbagg_crossed", "verbagg_crossed_slope", "grouseticks_two",
                                 "grouseticks_three"])
def test_crossed_against_glmer_and_glmmtmb(key):
    ref = load_reference("glmm_crossed.json")[key]
    data, family = _crossed_case(key)
    res = gm.fit(ref["formula"], data, family=family, se="none")
    assert res.integration["method"] == "laplace"
    for peer in ("glmer_laplace", "glmmTMB_laplace"):
        r = ref[peer]
        assert res.llf == pytest.approx(r["logLik"], abs=1e-3)
        fe = {_name(k): v for k, v in r["fixef"].items()}
        np.testing.assert_allclose(res.params[list(fe)].to_numpy(), list(fe.values()), atol=2e-3)
        for g, re in r["random_effects"].items():
            for k, v in re["sd"].items():
                assert abs(res.params[f"sd({g}:{_name(k)})"]) == pytest.approx(v, rel=2e-3, abs=1e-3)
            if "corr" in re:
                a, b = (_name(k) for k in re["sd"])
                assert res.params[f"cor({g}:{b},{a})"] == pytest.approx(np.ravel(re["corr"])[0], abs=2e-3)


def test_simulate_draws_one_effect_per_level_of_each_grouping(rng):
    data = crossed_data(rng, n_p=40, n_i=30).drop(columns="y")
    sim = gm.simulate("y ~ 1 + (1 | p) + (1 | it)", data, params={"Intercept": 0.0, "sd(p:Intercept)": 0.01,
                      "sd(it:Intercept)": 3.0}, family="bernoulli", seed=3)
    # items' effects are shared by all their rows: item means spread far beyond binomial noise
    item_means = sim.groupby("it")["y"].mean()
    assert item_means.std() > 0.3
    res = gm.fit("y ~ 1 + (1 | p) + (1 | it)", sim, family="bernoulli", se="none")
    assert 1.5 < res.params["sd(it:Intercept)"] < 5.0 and res.params["sd(p:Intercept)"] < 0.5


@pytest.mark.parametrize("key", ["rasch", "crossed"])
def test_probit_laplace_is_glmmtmbs_observed_information_value(key):
    # tests/reference/scripts/glmm_probit_laplace.R: glmmTMB's Laplace has the observed
    # information in its log-determinant; glmer's probit "Laplace" the expected one (2.8 to
    # 3.3 lower here), which glmmix no longer reproduces
    ref = load_reference("glmm_probit_laplace.json")[key]
    res = gm.fit(ref["formula"], gm.datasets.load("verbagg_long"), family="bernoulli", link="probit",
                 integration="laplace", se="none")
    tmb = ref["glmmTMB_laplace"]
    assert res.llf == pytest.approx(tmb["logLik"], abs=1e-3)
    assert res.llf > ref["glmer_laplace"]["logLik"] + 2.0
    assert res.params["sd(id:Intercept)"] == pytest.approx(tmb["random_effects"]["id"]["sd"]["(Intercept)"], rel=2e-3)
    fe = {(f"item[{k[4:]}]" if key == "rasch" else _name(k)): v for k, v in tmb["fixef"].items()}
    np.testing.assert_allclose(res.params[list(fe)].to_numpy(), list(fe.values()), atol=2e-3)


def test_crossed_result_saves_loads_and_predicts(rng, tmp_path):
    data = crossed_data(rng)
    res = gm.fit("y ~ x + (1 | p) + (1 | it)", data, family="bernoulli", se="none")
    res.save(tmp_path / "crossed.json")
    back = gm.MixtureResults.load(tmp_path / "crossed.json")
    assert back.llf == pytest.approx(res.llf, abs=1e-9)
    np.testing.assert_allclose(back.predict(data.head()), res.predict(data.head()), rtol=1e-12)


def test_gaussian_crossed_laplace_is_the_exact_marginal_likelihood(rng):
    # for a linear mixed model the Laplace approximation is exact: the multivariate normal
    # density with V = sigma^2 I + Z_p Z_p' sd_p^2 + Z_it Z_it' sd_it^2 (the gradient is by
    # differences here: sigma moves the curvature)
    data = crossed_data(rng, n_p=15, n_i=6)
    data["g"] = data["y"] + data["x"] + rng.normal(size=len(data))
    res = gm.fit("g ~ x + (1 | p) + (1 | it)", data, family="gaussian", se="none")
    p = res.params
    Zp = pd.get_dummies(data["p"]).to_numpy(float)
    Zi = pd.get_dummies(data["it"]).to_numpy(float)
    V = (p["sigma"] ** 2 * np.eye(len(data)) + p["sd(p:Intercept)"] ** 2 * Zp @ Zp.T
         + p["sd(it:Intercept)"] ** 2 * Zi @ Zi.T)
    mu = p["Intercept"] + p["x"] * data["x"].to_numpy()
    assert res.llf == pytest.approx(stats.multivariate_normal(mu, V).logpdf(data["g"].to_numpy()), abs=1e-8)
    assert res.converged
