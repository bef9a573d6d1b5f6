"""glmmix.simulate and the Monte Carlo runner."""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from helpers import cluster_design


def test_simulate_from_parameters_and_refit(rng):
    d = cluster_design(rng, G=300)
    truth = {"Intercept": -0.3, "x": 0.8, "sd(g:Intercept)": 1.2}
    sim = gm.simulate("y ~ 1 + x + (1 | g)", d, params=truth, family="bernoulli", seed=3)
    assert set(np.unique(sim["y"])) <= {0.0, 1.0} and len(sim) == len(d)
    res = gm.fit("y ~ 1 + x + (1 | g)", sim, family="bernoulli")
    for k, v in truth.items():
        assert abs(res.params[k] - v) < 4 * res.bse[k]


def test_simulate_between_level_classes_keeps_classes_constant_in_clusters(rng):
    d = cluster_design(rng)
    p = {"class1:Intercept": 1.0, "class2:Intercept": 0.0, "class1:x": 0.2, "class2:x": 0.8, "sigma": 1.0,
         "sd(g:Intercept)": 0.3, "logit:class1:Intercept": 0.0}
    sim = gm.simulate("y ~ 1 + x + (1 | g) | class(g) ~ 1", d, params=p, n_classes=2, family="gaussian", seed=1)
    assert (sim.groupby("g")["true_class"].nunique() == 1).all()
    res = gm.simulate("y ~ 1 + x | class ~ 1", d, params={k: v for k, v in p.items() if k not in ("sd(g:Intercept)",)},
                      n_classes=2, family="gaussian", seed=1)
    assert (res.groupby("g")["true_class"].nunique() > 1).any()  # row-level classes vary


def test_simulate_from_result_and_missing_params(rng):
    d = cluster_design(rng)
    with pytest.raises(gm.DesignError, match="params lacks"):
        gm.simulate("y ~ 1 + x", d, params={"x": 1.0}, family="poisson")
    sim = gm.simulate("y ~ 1 + x", d, params={"Intercept": 0.2, "x": 0.5}, family="poisson", seed=2)
    fitted = gm.fit("y ~ 1 + x", sim, family="poisson")
    again = gm.simulate(fitted, sim, seed=4)
    assert (again["y"] >= 0).all() and not np.array_equal(again["y"], sim["y"])
    # a result's own estimates and model are drawn from: params= and model arguments given with a
    # result were ignored without a word; fit()'s arguments reached the model as a TypeError
    with pytest.raises(gm.DesignError, match=r"\['params', 'n_classes'\] apply to simulate\(formula"):
        gm.simulate(fitted, sim, params={"Intercept": 5.0, "x": 0.5}, n_classes=2, seed=4)
    with pytest.raises(gm.DesignError, match=r"\['fix'\] apply to simulate\(formula"):
        gm.simulate(fitted, sim, fix={"x": 0.0}, seed=4)
    with pytest.raises(gm.DesignError, match=r"simulate\(\) does not take \['progress', 'starts'\]"):
        gm.simulate("y ~ 1 + x", d, params={"Intercept": 0.2, "x": 0.5}, family="poisson", starts=(2, 1),
                    progress=False)


def test_monte_carlo_runner_recovers_and_records_failures():
    base = cluster_design(np.random.default_rng(0), G=80)
    truth = {"Intercept": 0.5, "x": -0.4}

    def generate(rng):
        out = gm.simulate("y ~ 1 + x", base, params=truth, family="poisson", seed=rng)
        if rng.uniform() < 0.1:
            out = out.iloc[:0]  # an empty data set: this replication fails
        return out

    mc = gm.monte_carlo(generate, lambda df: gm.fit("y ~ 1 + x", df, family="poisson"), truth, n_rep=20,
                        seed=1, progress=False)
    assert len(mc.estimates) + len(mc.failures) == 20
    assert all("empty" in f[1] for f in mc.failures)
    tab = mc.table
    assert (tab["bias"].abs() < 3 * tab["SD"] / np.sqrt(len(mc.estimates)) + 1e-9).all()
    assert (tab["coverage"] > 0.7).all() and set(tab.columns) >= {"MSE", "SE/SD", "coverage"}
    assert (tab["n"] == len(mc.estimates)).all() and (tab["n SE"] == len(mc.estimates)).all()
    par = gm.monte_carlo(generate, lambda df: gm.fit("y ~ 1 + x", df, family="poisson"), truth, n_rep=6,
                         seed=1, n_jobs=2)
    seq = gm.monte_carlo(generate, lambda df: gm.fit("y ~ 1 + x", df, family="poisson"), truth, n_rep=6,
                         seed=1, progress=False)
    pd.testing.assert_frame_equal(par.estimates, seq.estimates)


def test_params_on_the_reported_scale_round_trip(rng):
    from glmmix.simulate import from_natural

    d = cluster_design(rng, G=40).assign(y=0.0)
    d["y"] = d["x"] + rng.normal(size=len(d))
    res = gm.fit("y ~ 1 + x + (1 + x | g)", d, family="gaussian")
    theta = from_natural(res.model.likelihood, res.params.to_numpy())
    np.testing.assert_allclose(res.model.layout.expand(theta), res.model.layout.expand(res.theta), atol=1e-8)


def test_cluster_class_proportions_follow_random_class_intercepts(rng):
    d = cluster_design(rng, G=40, n=25)
    p = {"class1:Intercept": 2.0, "class2:Intercept": -2.0, "class1:x": 0.0, "class2:x": 0.0, "sigma": 1.0,
         "logit:class1:Intercept": 0.0, "sd(g:class1)": 2.0}
    sim = gm.simulate("y ~ 1 + x | class ~ 1 + (1 | g)", d, params=p, n_classes=2, family="gaussian", seed=8)
    res = gm.fit("y ~ 1 + x | class ~ 1 + (1 | g)", sim, n_classes=2, family="gaussian", seed=1, starts=(6, 2))
    cp = res.cluster_class_proportions()
    assert cp.shape == (40, 2)
    np.testing.assert_allclose(cp.sum(axis=1), 1.0)
    k = 0 if res.params["class1:Intercept"] > 0 else 1
    true = sim.assign(c1=(sim["true_class"] == 1).astype(float)).groupby("g")["c1"].mean()
    assert np.corrcoef(cp.iloc[:, k].to_numpy(), true.loc[cp.index].to_numpy())[0, 1] > 0.9


def test_between_level_regression_of_random_effects(rng):
    """eq 15: alpha_2 = beta * alpha_1 + e, here as intercept and slope effects of (1 + x | g)."""
    d = cluster_design(rng, G=400, n=8)
    p = {"Intercept": 0.0, "x": 0.5, "sigma": 0.5, "sd(g:Intercept)": 1.0, "sd(g:x)": 0.8, "cor(g:x,Intercept)": 0.6}
    sim = gm.simulate("y ~ 1 + x + (1 + x | g)", d, params=p, family="gaussian", seed=2)
    res = gm.fit("y ~ 1 + x + (1 + x | g)", sim, family="gaussian")
    der = {name: tuple(row) for name, row in res.derived()[["value", "se"]].iterrows()}
    b, se = der["regression(g:x on Intercept)"]
    assert abs(b - 0.6 * 0.8 / 1.0) < 4 * se  # true slope cov/var = 0.48
    r, rse = der["residual sd(g:x)"]
    assert abs(r - 0.8 * np.sqrt(1 - 0.36)) < 4 * rse
    assert "regression(g:x on Intercept)" in str(res.summary())


def test_monte_carlo_counts_the_replications_behind_coverage():
    """Coverage and mean SE use only replications with an SE; the table says how many."""
    base = cluster_design(np.random.default_rng(0), G=40)
    truth = {"Intercept": 0.5, "x": -0.4}
    calls = []

    def fit(df):
        calls.append(1)
        return gm.fit("y ~ 1 + x", df, family="poisson", se="none" if len(calls) % 2 else "ml")

    mc = gm.monte_carlo(lambda rng: gm.simulate("y ~ 1 + x", base, params=truth, family="poisson", seed=rng), fit,
                        truth, n_rep=6, seed=1, progress=False)
    assert (mc.table["n"] == 6).all() and (mc.table["n SE"] == 3).all()
    ok = mc.ses["x"].notna()
    z = 1.959963984540054
    assert mc.table.loc["x", "coverage"] == pytest.approx(np.mean(np.abs(mc.estimates["x"][ok] + 0.4)
                                                                  <= z * mc.ses["x"][ok]))


def test_simulate_from_a_glmm_result_uses_the_random_slopes_of_the_rows_given():
    """Draws for rows other than the fitted ones use those rows' random-effect design: a subset
    of the rows crashed (the fitted rows' Z), and other rows of the same number silently got
    the fitted rows' slopes."""
    d = gm.datasets.load("sleepstudy")
    res = gm.fit("Reaction ~ Days + (Days|Subject)", d, se="none")
    head = gm.simulate(res, d.head(25), seed=1)
    assert list(head.index) == list(d.head(25).index)
    # every row at Days = 0: no slope variance, Var(y) = sd(Intercept)^2 + sigma^2 (within a
    # subject's rows, only sigma^2); each subject's rows repeated to get many draws
    at0 = pd.concat([d.assign(Days=0)] * 40, ignore_index=True)
    at0["Subject"] = at0["Subject"].astype(str) + "_" + (at0.index // len(d)).astype(str)
    sim = gm.simulate(res, at0, seed=2)
    p = res.params
    means = sim.groupby("Subject")["Reaction"].mean()
    within = sim.groupby("Subject")["Reaction"].var().mean()
    assert within == pytest.approx(p["sigma"] ** 2, rel=0.1)
    between = means.var() - within / 10  # 10 rows per subject
    assert between == pytest.approx(p["sd(Subject:Intercept)"] ** 2, rel=0.25)
    assert sim["Reaction"].mean() == pytest.approx(p["Intercept"], abs=3 * np.sqrt(between / len(means)) + 1)
