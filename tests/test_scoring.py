"""Scores of random effects and factors: ``res.random_effects()`` (glmmix/scoring.py).

EAPs and posterior SDs are checked against brute-force integration at the estimates (a
4001-point trapezoid rule over the standardized latent, written here from the model
equations and the reported parameters, independently of the engine); conditional modes
against lme4's ``ranef`` (tests/reference/scripts/ranef_verbagg.R, R 4.2.2, lme4 1.1.31).
"""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, log_ndtr

import glmmix as gm
from conftest import load_reference
from glmmix.exceptions import GlmmixError

GRID = np.linspace(-10, 10, 4001)
LOGPHI = -0.5 * GRID**2


def _brute(loglik_u):
    """Posterior mean and SD of h(u) per person: loglik_u (n, grid) log p(y | u)."""
    lw = loglik_u + LOGPHI
    w = np.exp(lw - lw.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return w


def _moments(w, h):
    mean = (w * h).sum(axis=1)
    return mean, np.sqrt((w * (h - mean[:, None]) ** 2).sum(axis=1))


def _bernoulli_loglik(Y, eta):
    """Y (n, J) 0/1, eta (n or 1, J, grid) -> (n, grid)."""
    return np.einsum("nj,njg->ng", Y, -np.logaddexp(0, -eta)) + np.einsum("nj,njg->ng", 1 - Y, -np.logaddexp(0, eta))


@pytest.fixture(scope="module")
def verbagg():
    return gm.datasets.load("verbagg_long")


@pytest.fixture(scope="module")
def rasch(verbagg):
    return gm.fit("y ~ 0 + item + (1 | id)", verbagg, family="bernoulli", starts=0, se="none")


def test_rasch_eap_against_brute_force(verbagg, rasch):
    Y = verbagg.pivot(index="id", columns="item", values="y")
    beta = rasch.params[[f"item[{c}]" for c in Y.columns]].to_numpy()
    s = rasch.params["sd(id:Intercept)"]
    eta = beta[None, :, None] + s * GRID[None, None, :]
    w = _brute(_bernoulli_loglik(Y.to_numpy(float), eta))
    mean, sd = _moments(w, s * GRID[None, :])
    re = rasch.random_effects()
    assert list(re.columns) == ["Intercept", "sd:Intercept"]
    assert re.index.name == "id" and (re.index == Y.index).all()
    np.testing.assert_allclose(re["Intercept"], mean, atol=1e-6)
    np.testing.assert_allclose(re["sd:Intercept"], sd, atol=1e-6)


def test_rasch_modes_against_lme4(rasch):
    # ranef(glmer(r2 ~ 0 + item + (1|id), VerbAgg, binomial, nAGQ = 25)) and condVar
    ref = load_reference("ranef_verbagg.json")
    mode = rasch.random_effects(kind="map")
    ids = [int(i) for i in ref["id"]]
    # the two fits agree to 4e-7 in sd(id); the modes to 1e-6
    assert rasch.params["sd(id:Intercept)"] == pytest.approx(ref["sd"], abs=1e-5)
    np.testing.assert_allclose(mode.loc[ids, "Intercept"], ref["mode"], atol=1e-5)
    np.testing.assert_allclose(mode.loc[ids, "sd:Intercept"], ref["sd_mode"], atol=1e-5)
    # modes are not means: the posterior is skewed for extreme persons
    eap = rasch.random_effects()
    assert np.abs(eap["Intercept"] - mode["Intercept"]).max() > 0.05


def test_scores_of_new_rows_from_a_loaded_result(verbagg, rasch, tmp_path):
    """``random_effects(newdata=...)`` scores the persons of other rows at the estimates: the
    fitted persons' rows give lme4's conditional modes again (from a results file), and a new
    person who answered 10 items gets the brute-force EAP of those 10 responses."""
    rasch.save(tmp_path / "rasch.json")
    loaded = gm.load_results(tmp_path / "rasch.json")
    ref = load_reference("ranef_verbagg.json")
    at = np.arange(0, len(ref["id"]), 7)
    ids = [int(ref["id"][i]) for i in at]
    sub = verbagg[verbagg["id"].isin(ids)]
    mode = loaded.random_effects("map", newdata=sub)
    np.testing.assert_allclose(mode.loc[ids, "Intercept"], np.asarray(ref["mode"])[at], atol=1e-5)
    np.testing.assert_allclose(mode.loc[ids, "sd:Intercept"], np.asarray(ref["sd_mode"])[at], atol=1e-5)
    eap = loaded.random_effects(newdata=sub)
    np.testing.assert_allclose(eap.to_numpy(), rasch.random_effects().loc[eap.index].to_numpy(), atol=1e-8)
    new = verbagg[verbagg["id"] == ids[0]].iloc[:10].assign(id=9999)
    beta = rasch.params[[f"item[{c}]" for c in new["item"]]].to_numpy()
    s = rasch.params["sd(id:Intercept)"]
    w = _brute(_bernoulli_loglik(new["y"].to_numpy(float)[None, :], beta[None, :, None] + s * GRID[None, None, :]))
    mean, sd = _moments(w, s * GRID[None, :])
    got = loaded.random_effects(newdata=new)
    np.testing.assert_allclose(got.loc[9999].to_numpy(), [mean[0], sd[0]], atol=1e-6)
    with pytest.raises(GlmmixError, match="needs newdata"):
        loaded.random_effects()


def test_2pl_factor_scores_against_brute_force():
    wide = gm.datasets.load("lsat")
    long = gm.wide_to_long(wide)
    two = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", long, family="bernoulli", starts=0, se="none")
    Y = long.pivot(index="id", columns="item", values="y")
    beta = two.params[[f"item[{c}]" for c in Y.columns]].to_numpy()
    a = two.params[[f"loading(id:item[{c}])" for c in Y.columns]].to_numpy()
    eta = beta[None, :, None] + a[None, :, None] * GRID[None, None, :]
    w = _brute(_bernoulli_loglik(Y.to_numpy(float), eta))
    mean, sd = _moments(w, GRID[None, :])
    re = two.random_effects()
    assert list(re.columns) == ["factor", "sd:factor"]
    np.testing.assert_allclose(re["factor"], mean, atol=1e-6)
    np.testing.assert_allclose(re["sd:factor"], sd, atol=1e-6)
    mode = two.random_effects("map")
    # the mode of a posterior over few items lies between the prior's and the EAP
    assert np.corrcoef(mode["factor"], re["factor"])[0, 1] > 0.99


def _gom_data(seed=3, n=250, J=8):
    rng = np.random.default_rng(seed)
    alpha = 0.3 + 1.5 * rng.standard_normal(n)
    p1 = expit(alpha)
    tau = np.array([[1.0, -1.0]] * J) * np.linspace(0.8, 1.5, J)[:, None]
    c = (rng.uniform(size=(n, J)) >= p1[:, None]).astype(int)  # 0 = class1
    y = (rng.standard_normal((n, J)) < tau[np.arange(J)[None, :], c]).astype(float)
    df = pd.DataFrame(y, columns=[f"i{j}" for j in range(J)])
    return gm.wide_to_long(df)


def test_gom_membership_against_brute_force():
    long = _gom_data()
    gom = gm.fit("y ~ 0 + item | class ~ 1 + (1 | id)", long, 2, family="bernoulli", link="probit",
                 seed=2, starts=(4, 2), n_points=201, se="none")
    Y = long.pivot(index="id", columns="item", values="y")
    items = list(Y.columns)
    t1 = gom.params[[f"class1:item[{c}]" for c in items]].to_numpy()
    t2 = gom.params[[f"class2:item[{c}]" for c in items]].to_numpy()
    g, s = gom.params["logit:class1:Intercept"], gom.params["sd(id:class1)"]
    p1 = expit(g + s * GRID)  # P(C = 1 | u), eq 30
    Yn = Y.to_numpy(float)[:, :, None]
    f1 = np.exp(Yn * log_ndtr(t1)[None, :, None] + (1 - Yn) * log_ndtr(-t1)[None, :, None])
    f2 = np.exp(Yn * log_ndtr(t2)[None, :, None] + (1 - Yn) * log_ndtr(-t2)[None, :, None])
    ll = np.log(p1[None, None, :] * f1 + (1 - p1)[None, None, :] * f2).sum(axis=1)
    w = _brute(ll)
    re = gom.random_effects()
    assert list(re.columns[:3]) == ["logit:class1", "membership:class1", "membership:class2"]
    for col, h in (("logit:class1", s * GRID), ("membership:class1", p1), ("membership:class2", 1 - p1)):
        mean, sd = _moments(w, np.broadcast_to(h, w.shape))
        np.testing.assert_allclose(re[col], mean, atol=1e-6)
        np.testing.assert_allclose(re[f"sd:{col}"], sd, atol=1e-6)
    np.testing.assert_allclose(re["membership:class1"] + re["membership:class2"], 1.0, atol=1e-12)
    # conditional modes: the grid's best point refined by a parabola through its neighbours
    lp = np.log(w)
    i = lp.argmax(axis=1)
    a, b, c = (lp[np.arange(len(i)), i + k] for k in (-1, 0, 1))
    h = GRID[1] - GRID[0]
    u_mode = GRID[i] + h * 0.5 * (a - c) / (a - 2 * b + c)
    mode = gom.random_effects("map")
    assert list(mode.columns) == ["logit:class1", "sd:logit:class1"]
    np.testing.assert_allclose(mode["logit:class1"], s * u_mode, atol=1e-5 * s)
    np.testing.assert_allclose(mode["sd:logit:class1"], s * np.sqrt(h * h / -(a - 2 * b + c)), rtol=1e-3)


def test_laplace_scores_are_its_normal_approximation(lsat_long):
    lap = gm.fit("y ~ 0 + item + (1 | id)", lsat_long, family="bernoulli", integration="laplace", se="none",
                 starts=0)
    re = lap.random_effects()
    mode = lap.random_effects("map")
    np.testing.assert_allclose(re.to_numpy(), mode.to_numpy(), atol=1e-6)


@pytest.mark.filterwarnings("ignore::glmmix.exceptions.GlmmixWarning")
def test_scoring_errors(rasch):
    with pytest.raises(GlmmixError, match="kind"):
        rasch.random_effects(kind="mean")
    lca = gm.fit("y ~ 0 + item | class(id) ~ 1", gm.wide_to_long(gm.datasets.load("carcinoma")), 2,
                 family="bernoulli", seed=1, starts=(4, 2), se="none")
    with pytest.raises(GlmmixError, match="no random effects"):
        lca.random_effects()


@pytest.mark.filterwarnings("ignore::glmmix.exceptions.GlmmixWarning")
def test_class_specific_effects_of_cluster_classes_against_brute_force(rng):
    # classes of clusters with their own random-intercept SD: the EAP averages over the
    # joint posterior of (class, node); a fine trapezoid rule makes it the exact integral
    from helpers import clustered_data

    data = clustered_data(rng, n_clusters=40, per=3)
    data["yg"] = data["yg"] + np.where(data["cl"] % 2 == 0, 1.5, -1.0) * (1 + 0.8 * rng.standard_normal(40))[data["cl"]]
    res = gm.fit("yg ~ 1 + x + (1 | cl) | class(cl) ~ 1", data, 2, family="gaussian", class_specific=["random"],
                 seed=1, starts=(4, 2), se="none", integration="trapezoid", n_points=201)
    p = res.params
    logit = p["logit:class1:Intercept"]
    prior = np.array([expit(logit), 1 - expit(logit)])
    sig = p["sigma"]
    groups = [g for _, g in data.sort_values("cl").groupby("cl")]
    lw = np.zeros((len(groups), 2, GRID.size))
    for k in range(2):
        b0, b1, s = p[f"class{k + 1}:Intercept"], p[f"class{k + 1}:x"], p[f"class{k + 1}:sd(cl:Intercept)"]
        for i, g in enumerate(groups):
            r = g["yg"].to_numpy()[:, None] - (b0 + b1 * g["x"].to_numpy()[:, None] + s * GRID[None, :])
            lw[i, k] = np.log(prior[k]) - 0.5 * (r**2).sum(axis=0) / sig**2 + LOGPHI
    w = np.exp(lw - lw.max(axis=(1, 2), keepdims=True))
    w /= w.sum(axis=(1, 2), keepdims=True)
    s = np.array([p["class1:sd(cl:Intercept)"], p["class2:sd(cl:Intercept)"]])
    b = s[None, :, None] * GRID[None, None, :]
    mean = (w * b).sum(axis=(1, 2))
    sd = np.sqrt((w * (b - mean[:, None, None]) ** 2).sum(axis=(1, 2)))
    re = res.random_effects()
    assert s[0] != pytest.approx(s[1], rel=0.05)
    np.testing.assert_allclose(re["Intercept"], mean, atol=1e-6)
    np.testing.assert_allclose(re["sd:Intercept"], sd, atol=1e-6)
    # modes: of the class mixture's posterior density of the effect b itself,
    # sum_k P(k) p(y | b, k) N(b; 0, s_k^2), by the grid's best point and a parabola
    lb = np.zeros((len(groups), 2, GRID.size))
    for k in range(2):
        b0, b1 = p[f"class{k + 1}:Intercept"], p[f"class{k + 1}:x"]
        for i, g in enumerate(groups):
            r = g["yg"].to_numpy()[:, None] - (b0 + b1 * g["x"].to_numpy()[:, None] + GRID[None, :])
            lb[i, k] = np.log(prior[k]) - 0.5 * (r**2).sum(axis=0) / sig**2 - 0.5 * (GRID / s[k]) ** 2 - np.log(s[k])
    lp = np.logaddexp(lb[:, 0], lb[:, 1])
    i = lp.argmax(axis=1)
    a, m, c = (lp[np.arange(len(i)), i + k] for k in (-1, 0, 1))
    h = GRID[1] - GRID[0]
    mode = res.random_effects("map")
    np.testing.assert_allclose(mode["Intercept"], GRID[i] + h * 0.5 * (a - c) / (a - 2 * m + c), atol=1e-5)
    np.testing.assert_allclose(mode["sd:Intercept"], np.sqrt(h * h / -(a - 2 * m + c)), rtol=1e-3)
    assert np.abs(mode["Intercept"] - re["Intercept"]).max() > 0.05  # not the EAP


def test_default_rule_of_cluster_classes_with_class_specific_sds_against_brute_force(rng):
    # classes of clusters whose random-intercept SDs differ (2.0 and 0.2): the latent's
    # posterior given each class differs, so each class's integral is adapted on its own;
    # nodes placed at the class-averaged posterior were off by up to 0.14 in EAPs and 0.1 in
    # the log-likelihood. Reference: a 4001-point trapezoid rule on [-10, 10] per class.
    from scipy.special import logsumexp

    from glmmix.model import MixtureModel
    from glmmix.scoring import random_effects
    from test_gradient import clustered_data

    data = clustered_data(rng, n_clusters=40, per=3)
    data["yg"] = data["yg"] + np.where(data["cl"] % 2 == 0, 1.5, -1.0) * (1 + 0.8 * rng.standard_normal(40))[data["cl"]]
    m = MixtureModel.from_formula("yg ~ 1 + x + (1 | cl) | class(cl) ~ 1", data, 2, family="gaussian",
                                  class_specific=["random"])
    assert m.integration.method == "agh" and m.likelihood.class_nodes
    b0, b1, sds, sig, logit = np.array([1.2, -0.4]), np.array([0.9, 1.1]), np.array([2.0, 0.2]), 1.1, 0.3
    theta = np.array([b0[0], b0[1], b1[0], b1[1], np.log(sig), logit, sds[0], sds[1]])
    assert m.param_names[4] == "sigma" and m.param_names[6:] == ["class1:sd(cl:Intercept)", "class2:sd(cl:Intercept)"]
    logprior = np.log([expit(logit), 1 - expit(logit)])
    h = GRID[1] - GRID[0]
    groups = [g for _, g in data.sort_values("cl").groupby("cl")]
    lw = np.zeros((len(groups), 2, GRID.size))
    for k in range(2):
        for i, g in enumerate(groups):
            r = g["yg"].to_numpy()[:, None] - (b0[k] + b1[k] * g["x"].to_numpy()[:, None] + sds[k] * GRID[None, :])
            lw[i, k] = (logprior[k] - 0.5 * (r**2).sum(axis=0) / sig**2 - len(g) * np.log(sig * np.sqrt(2 * np.pi))
                        + LOGPHI - 0.5 * np.log(2 * np.pi) + np.log(h))
    ll = logsumexp(lw, axis=(1, 2)).sum()
    assert m.adapt(theta) == pytest.approx(ll, abs=1e-4)
    w = np.exp(lw - logsumexp(lw, axis=(1, 2), keepdims=True))
    b = sds[None, :, None] * GRID[None, None, :]
    mean = (w * b).sum(axis=(1, 2))
    sd = np.sqrt((w * (b - mean[:, None, None]) ** 2).sum(axis=(1, 2)))
    re = random_effects(m.likelihood, theta)
    np.testing.assert_allclose(re["Intercept"], mean, atol=1e-4)
    np.testing.assert_allclose(re["sd:Intercept"], sd, atol=1e-4)
