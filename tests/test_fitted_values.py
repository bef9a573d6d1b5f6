"""Fitted values and residuals of the fitted rows, in the data's row order, for models with
random effects too: lme4's fitted() (the means at the conditional modes; the posterior mean
of an LMM's effects is its mode).

Reference values: lme4 1.1.31 (R 4.2.2), tests/reference/scripts/fitted_values.R ->
tests/reference/values/fitted_values.json.
"""

import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

HERE = os.path.dirname(__file__)
REF = json.load(open(os.path.join(HERE, "reference", "values", "fitted_values.json")))


def _quiet(f, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*a, **k)


@pytest.fixture(scope="module")
def grouse():
    g = pd.read_csv(os.path.join(HERE, "reference", "data", "grouseticks.csv"))
    g["YEAR"] = g["YEAR"].astype(str)
    return g


@pytest.fixture(scope="module")
def crossed(grouse):
    return _quiet(gm.fit, "TICKS ~ YEAR + cHEIGHT + (1|BROOD) + (1|INDEX) + (1|LOCATION)", grouse,
                  family="poisson", se="none")


def test_lmm_fitted_values_are_lme4s_in_row_order():
    d = gm.datasets.load("sleepstudy").sample(frac=1.0, random_state=2)  # rows not sorted by subject
    res = gm.fit("Reaction ~ Days + (Days|Subject)", d, se="none")
    want = pd.Series(REF["sleepstudy"]["fitted"], index=gm.datasets.load("sleepstudy").index)
    fv, r = res.fittedvalues, res.resid
    assert fv.index.equals(d.index) and r.index.equals(d.index)  # the data's order, not sorted by subject
    np.testing.assert_allclose(fv.to_numpy(), want.loc[d.index].to_numpy(), rtol=1e-5)  # lme4 stops at ~1e-6
    np.testing.assert_allclose(r.to_numpy(), (d["Reaction"] - want.loc[d.index]).to_numpy(), atol=1e-3)


def test_text_cluster_ids_keep_the_rows_in_place():
    """cbpp's herds read as text sort as "1", "10", ..., "2": per-row results of the fitted rows
    must still come in the data's order (they came sorted by herd, so that positional use put
    herd 10's predictions on herd 2's rows)."""
    cb = gm.datasets.load("cbpp").astype({"herd": str, "period": str})
    cb["fail"] = cb["size"] - cb["incidence"]
    res = _quiet(gm.fit, "cbind(incidence, fail) ~ period + (1|herd)", cb, family="binomial",
                 integration="laplace", se="none")
    for out in (res.fittedvalues, res.predict(which="conditional"), res.predict(which="marginal"), res.resid):
        assert out.index.equals(cb.index)
    np.testing.assert_allclose(res.fittedvalues.to_numpy(), REF["cbpp"]["fitted"], rtol=2e-4)
    np.testing.assert_allclose(res.resid.to_numpy(), (cb["incidence"] / cb["size"]).to_numpy()
                               - res.fittedvalues.to_numpy(), rtol=1e-12)
    # the same rows given as new data, conditioned on the fitted responses, agree
    np.testing.assert_allclose(res.predict(cb, which="conditional", responses="fitted").to_numpy(),
                               res.fittedvalues.to_numpy(), rtol=1e-10)


def test_lca_fitted_values_in_row_order_with_text_ids():
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    long["id"] = long["id"].astype(str)
    long = long.sample(frac=1.0, random_state=1)
    res = _quiet(gm.fit, "y ~ 0 + item | class(id) ~ 1", long, n_classes=2, family="bernoulli", seed=1, se="none")
    fv = res.fittedvalues
    assert fv.index.equals(long.index)
    prof = res.profile()[["class1", "class2"]]
    by_hand = [prof.loc[f"item[{i}]"].to_numpy() @ res.posterior.loc[u].to_numpy()
               for u, i in zip(long["id"], long["item"])]
    np.testing.assert_allclose(fv.to_numpy(), by_hand, rtol=1e-10)


def test_crossed_fitted_values_are_lme4s(crossed, grouse):
    """Random terms on three grouping columns (Laplace): the means at the joint conditional
    modes, as lme4's fitted(); new rows of fitted levels get the same (lme4's predict(newdata))."""
    np.testing.assert_allclose(crossed.fittedvalues.to_numpy(), REF["grouseticks"]["fitted"], rtol=1e-4)  # lme4 stops 2e-5 below
    rows = grouse.iloc[[5, 0, 3]]
    new = crossed.predict(rows.drop(columns="TICKS"), which="conditional")
    assert list(new.index) == [5, 0, 3]
    np.testing.assert_allclose(new.to_numpy(), crossed.fittedvalues.loc[[5, 0, 3]].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(crossed.predict(rows, which="conditional", responses="fitted").to_numpy(),
                               new.to_numpy(), rtol=1e-12)


def test_crossed_refusals(crossed, grouse):
    unseen = grouse.head(2).drop(columns="TICKS").assign(BROOD=99999)
    with pytest.raises(gm.DesignError, match="'BROOD'.*not fitted.*99999.*marginal"):
        crossed.predict(unseen, which="conditional")
    with pytest.raises(gm.DesignError, match="names fitted levels.*responses='fitted'.*responses='newdata'"):
        crossed.predict(grouse.iloc[5:7], which="conditional")  # whose responses: the user says
    # rows 0 and 1 are all the rows of their levels: both choices give the same modes, no question
    np.testing.assert_allclose(crossed.predict(grouse.head(2), which="conditional").to_numpy(),
                               crossed.fittedvalues.loc[[0, 1]].to_numpy(), rtol=1e-7)


def test_gom_fitted_values_weigh_each_response_by_its_class_posterior():
    """Grade of Membership (classes per response, a random class logit per person): the
    class means weighted by each response's posterior, the person's responses given;
    brute-force checks of mixtures with random effects are in test_fitted_mixtures_effects.py."""
    long = gm.wide_to_long(gm.datasets.load("carcinoma"))
    gom = _quiet(gm.fit, "y ~ 0 + item | class ~ 1 + (1|id)", long, n_classes=2, family="bernoulli", seed=1,
                 se="none", starts=(4, 2))
    byc = gom.predict(which="by_class").to_numpy()
    want = (gom.posterior.to_numpy() * byc).sum(axis=1)  # one unit per row, in the data's order
    np.testing.assert_allclose(gom.fittedvalues.to_numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(gom.resid.to_numpy(), long["y"].to_numpy() - want, rtol=1e-12)


def test_expected_proportions_need_no_numbers_of_trials():
    """A binomial fit with trials= predicts proportions: new rows without the trials column get
    them (conditioning on responses still needs the trials, and says so)."""
    cb = gm.datasets.load("cbpp")
    res = _quiet(gm.fit, "incidence ~ period + (1|herd)", cb, family="binomial", trials="size", se="none")
    np.testing.assert_allclose(res.predict(cb.head(3).drop(columns="size")).to_numpy(),
                               res.predict(cb.head(3)).to_numpy(), rtol=1e-12)
    with pytest.raises(gm.DesignError, match="'size'.*trials"):
        res.predict(cb.head(3).drop(columns="size"), which="conditional")
