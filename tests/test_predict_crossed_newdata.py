"""Conditional predictions of GLMMs with random terms on several grouping columns (crossed;
Laplace) given newdata's own responses (``responses="newdata"``): the joint conditional modes
of the latents of newdata's levels given newdata's rows only, at the fitted parameters, and
each row's mean there. References: the fitted values themselves (the same joint mode on the
fitted data), scipy.optimize.minimize of the penalized log-likelihood over the latents (VerbAgg,
bernoulli), and the closed-form BLUP of a linear mixed model from its normal equations
(Penicillin, gaussian), written here with numpy.
"""

import os
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, special

import glmmix as gm

HERE = os.path.dirname(__file__)


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.fixture(scope="module")
def penicillin():
    pen = pd.read_csv(os.path.join(HERE, "reference", "data", "penicillin.csv"))
    return pen, gm.fit("diameter ~ 1 + (1|plate) + (1|sample)", pen, family="gaussian", se="none")


@pytest.fixture(scope="module")
def verbagg():
    va = gm.datasets.load("verbagg_long")
    va = va[va["id"] <= 80].reset_index(drop=True)  # 80 persons x 24 items: a fast fit
    return va, _quiet(gm.fit, "y ~ Anger + btype + (1|id) + (1|item)", va, family="bernoulli", se="none")


@pytest.mark.parametrize("which", ["penicillin", "verbagg"])
def test_the_fitted_data_give_the_fitted_values(which, request):
    data, res = request.getfixturevalue(which)
    shuffled = data.sample(frac=1.0, random_state=3)  # the rows' order and index are kept
    got = res.predict(shuffled, which="conditional", responses="newdata")
    assert got.index.equals(shuffled.index)
    np.testing.assert_allclose(got.to_numpy(), res.fittedvalues.loc[shuffled.index].to_numpy(), rtol=1e-8, atol=1e-10)
    auto = res.predict(shuffled, which="conditional")  # the two choices agree: no question asked
    np.testing.assert_allclose(auto.to_numpy(), got.to_numpy(), rtol=1e-8, atol=1e-10)


def test_bernoulli_modes_given_a_subset_match_a_direct_maximization(verbagg):
    """Half of each person's items, of 30 persons: the joint mode of their persons' and items'
    latents given those rows only, by scipy's BFGS on the penalized log-likelihood."""
    va, res = verbagg
    codes = va["item"].astype("category").cat.codes.to_numpy()
    sub = va[(va["id"] <= 30) & ((codes + va["id"]) % 2 == 0)]
    got = res.predict(sub, which="conditional", responses="newdata")
    p = res.params
    eta0 = (p["Intercept"] + p["Anger"] * sub["Anger"]
            + sum(p[f"btype[T.{b}]"] * (sub["btype"] == b) for b in ("scold", "shout"))).to_numpy()
    pid, plev = pd.factorize(sub["id"])
    iid, ilev = pd.factorize(sub["item"])
    sp, si = p["sd(id:Intercept)"], p["sd(item:Intercept)"]
    y = sub["y"].to_numpy()

    def eta(u):
        return eta0 + sp * u[pid] + si * u[len(plev) + iid]

    def negpen(u):
        e = eta(u)
        return -(y * e - np.logaddexp(0, e)).sum() + 0.5 * u @ u

    def grad(u):
        r = y - special.expit(eta(u))
        return -np.concatenate([sp * np.bincount(pid, r, len(plev)), si * np.bincount(iid, r, len(ilev))]) + u

    opt = optimize.minimize(negpen, np.zeros(len(plev) + len(ilev)), jac=grad, method="BFGS",
                            options={"gtol": 1e-11, "maxiter": 10_000})
    want = special.expit(eta(opt.x))
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-7)
    fitted = res.fittedvalues.loc[sub.index].to_numpy()
    assert np.abs(got.to_numpy() - fitted).max() > 1e-2  # not the fitted modes


def _blup_means(pen, params, observed):
    """mu + Z b with b = G Z_o' V_o^-1 (y_o - mu), V_o = sigma^2 I + Z_o G Z_o' (the normal equations'
    solution) over every level of ``pen``; ``observed`` marks the rows conditioned on."""
    Z = pd.get_dummies(pen[["plate", "sample"]].astype(str)).to_numpy(float)
    cols = pd.get_dummies(pen[["plate", "sample"]].astype(str)).columns
    g = np.where(cols.str.startswith("plate_"), params["sd(plate:Intercept)"] ** 2,
                 params["sd(sample:Intercept)"] ** 2)
    Zo = Z[observed]
    V = params["sigma"] ** 2 * np.eye(Zo.shape[0]) + (Zo * g) @ Zo.T
    b = g * (Zo.T @ np.linalg.solve(V, pen["diameter"].to_numpy()[observed] - params["Intercept"]))
    return params["Intercept"] + Z @ b


def test_gaussian_means_given_a_subset_are_the_blups(penicillin):
    """A third of the rows, plus a plate not fitted (conditioned on its own row) and a row
    without an outcome (predicted, not conditioned on: a plate named by it alone sits at zero)."""
    pen, res = penicillin
    sub = pd.concat([pen.iloc[::3], pd.DataFrame({"diameter": [21.0, np.nan, np.nan],
                                                   "plate": ["new", "new", "alone"],
                                                   "sample": ["B", "C", "F"]})], ignore_index=True)
    sub.index = sub.index * 10  # an index of its own, kept
    got = res.predict(sub, which="conditional", responses="newdata")
    assert got.index.equals(sub.index)
    want = _blup_means(sub, res.params, sub["diameter"].notna().to_numpy())
    np.testing.assert_allclose(got.to_numpy(), want, rtol=1e-8)
    fitted = res.fittedvalues.loc[pen.index[::3]].to_numpy()
    assert np.abs(got.to_numpy()[:len(fitted)] - fitted).max() > 0.1  # not the fitted modes
    # the row without an outcome changes nothing for the others
    np.testing.assert_allclose(res.predict(sub.iloc[:-1], which="conditional", responses="newdata").to_numpy(),
                               got.to_numpy()[:-1], rtol=1e-12)


def test_random_effects_of_newdata_are_the_joint_modes(penicillin):
    """random_effects(newdata=...) of a crossed fit scores newdata's levels at their joint mode."""
    pen, res = penicillin
    sub = pen.iloc[::3]
    re = res.random_effects(newdata=sub)
    got = res.predict(sub, which="conditional", responses="newdata").to_numpy()
    u = re["Intercept"]
    np.testing.assert_allclose(res.params["Intercept"] + u.loc["plate"].loc[sub["plate"]].to_numpy()
                               + u.loc["sample"].loc[sub["sample"]].to_numpy(), got, rtol=1e-10)


def test_auto_asks_whose_responses_for_fitted_levels(penicillin):
    """responses="auto" with outcomes naming fitted levels: the fitted modes and newdata's own
    differ, and the user says which is meant (also when some levels are new: the fitted
    responses cannot predict those rows, newdata's alone would set aside the fitted ones)."""
    pen, res = penicillin
    sub = pen.iloc[::3]
    with pytest.raises(gm.DesignError, match=r"fitted levels \('plate' 'a', say\).*responses='fitted'.*"
                                             "responses='newdata'"):
        res.predict(sub, which="conditional")
    np.testing.assert_allclose(res.predict(sub, which="conditional", responses="fitted").to_numpy(),
                               res.fittedvalues.loc[sub.index].to_numpy(), rtol=1e-10)
    with pytest.raises(gm.DesignError, match="names fitted levels"):
        res.predict(sub.assign(plate="new"), which="conditional")
    with pytest.raises(gm.DesignError, match="'plate'.*not fitted.*'new'"):  # the fitted modes have none
        res.predict(sub.assign(plate="new"), which="conditional", responses="fitted")
    # no fitted level named: only newdata's responses exist, no question
    new = sub.assign(plate="p" + sub["plate"], sample="s" + sub["sample"])
    np.testing.assert_allclose(res.predict(new, which="conditional").to_numpy(),
                               res.predict(new, which="conditional", responses="newdata").to_numpy(), rtol=1e-12)


def test_a_loaded_result_conditions_on_newdata_when_told(penicillin, tmp_path):
    """A loaded result has no fitted levels to compare with: "auto" asks, "newdata" predicts
    as the result fitted in this session does."""
    pen, res = penicillin
    res.save(tmp_path / "pen.json")
    back = gm.MixtureResults.load(tmp_path / "pen.json")
    sub = pen.iloc[::3]
    np.testing.assert_allclose(back.predict(sub, which="conditional", responses="newdata").to_numpy(),
                               res.predict(sub, which="conditional", responses="newdata").to_numpy(), rtol=1e-12)
    with pytest.raises(gm.DesignError, match="loaded result cannot check.*responses='newdata'"):
        back.predict(sub, which="conditional")
    with pytest.raises(gm.DesignError, match="every value of the outcome 'diameter' is missing"):
        res.predict(sub.assign(diameter=np.nan), which="conditional", responses="newdata")


def test_ordinal_probabilities_and_nested_groupings_on_the_fitted_data():
    """The same joint mode for category probabilities (ordinal, type="prob") and for nested
    groupings (batch/cask: two grouping columns, the crossed engine): the fitted data give the
    fitted values."""
    va = gm.datasets.load("verbagg_long")
    va = va[va["id"] <= 60].reset_index(drop=True)
    va["r3"] = pd.Categorical(va["resp"], categories=["no", "perhaps", "yes"], ordered=True)
    res = _quiet(gm.fit, "r3 ~ btype + Anger + (1|id) + (1|item)", va, family="ordinal", se="none")
    got = res.predict(va, which="conditional", responses="newdata", type="prob")
    np.testing.assert_allclose(got.to_numpy(), res.predict(which="conditional", type="prob").to_numpy(),
                               rtol=1e-8, atol=1e-10)
    sub = va[va["id"] <= 20]
    assert not np.allclose(res.predict(sub, which="conditional", responses="newdata", type="prob").to_numpy(),
                           got.loc[sub.index].to_numpy(), atol=1e-3)
    pastes = pd.read_csv(os.path.join(HERE, "reference", "data", "pastes.csv"))
    nested = gm.fit("strength ~ 1 + (1 | batch/cask)", pastes, family="gaussian", se="none")
    np.testing.assert_allclose(nested.predict(pastes, which="conditional", responses="newdata").to_numpy(),
                               nested.fittedvalues.to_numpy(), rtol=1e-8)
