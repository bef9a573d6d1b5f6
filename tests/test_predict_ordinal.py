"""Category probabilities of ordinal outcomes: predict(type="prob") against ordinal's clm and clmm."""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import GlmmixError
from conftest import load_reference

# R 4.2.2, ordinal 2022.11-16 (tests/reference/scripts/predict_ordinal.R)
REF = load_reference("predict_ordinal.json")
ITEMS = ["S1WantCurse", "S1WantScold", "S1WantShout", "S2WantCurse", "S2WantScold", "S2WantShout"]
CATS = ["no", "perhaps", "yes"]


@pytest.fixture(scope="module")
def six():
    v = gm.datasets.load("verbagg_long")
    d = v[v["item"].isin(ITEMS)].copy()
    d["resp"] = pd.Categorical(d["resp"], categories=CATS, ordered=True)
    return d


@pytest.fixture(scope="module")
def clmm_fit(six):
    return gm.fit("resp ~ item + Gender + (1 | id)", six, family="ordinal", n_points=15)


def _rows(block):
    return np.array([[block[str(i + 1)][c] for c in CATS] for i in range(len(block))])


NEW = pd.DataFrame(REF["newdata"])


def test_probabilities_match_clm(six):
    res = gm.fit("resp ~ item + Gender", six, family="ordinal")
    assert res.llf == pytest.approx(REF["clm"]["logLik"], abs=1e-6)
    got = res.predict(NEW, type="prob")
    assert list(got.columns) == CATS and list(got.index) == list(NEW.index)
    np.testing.assert_allclose(got.to_numpy(), _rows(REF["clm"]["prob"]), atol=1e-6)  # predict(m0, type = "prob")
    # the expected category index is sum_k k P(y = k)
    np.testing.assert_allclose(res.predict(NEW).to_numpy(), got.to_numpy() @ np.arange(3), rtol=1e-12)
    np.testing.assert_allclose(res.predict(type="prob").sum(axis=1), 1.0, rtol=1e-12)


def test_marginal_probabilities_integrate_the_random_intercept(clmm_fit):
    got = clmm_fit.predict(NEW, type="prob")
    np.testing.assert_allclose(got.to_numpy(), _rows(REF["clmm"]["marginal_prob"]), atol=2e-5)
    np.testing.assert_allclose(clmm_fit.predict(NEW).to_numpy(), got.to_numpy() @ np.arange(3), rtol=1e-12)


def test_conditional_probabilities_average_over_each_persons_posterior(clmm_fit, six):
    ref = REF["clmm"]["conditional"]
    want = _rows(ref["prob"])
    rows = pd.DataFrame({"id": [int(i) for i in ref["id"]], "item": ref["item"]}).merge(six, on=["id", "item"], how="left")
    assert len(rows) == len(want)
    # the persons' own six responses in newdata, or the fitted ones (no outcome in newdata)
    np.testing.assert_allclose(clmm_fit.predict(rows, which="conditional", type="prob").to_numpy(), want, atol=2e-5)
    fitted = clmm_fit.predict(rows.drop(columns="resp"), which="conditional", type="prob")
    np.testing.assert_allclose(fitted.to_numpy(), want, atol=2e-5)
    inside = clmm_fit.predict(which="conditional", type="prob")
    np.testing.assert_allclose(inside.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(inside.to_numpy() @ np.arange(3), clmm_fit.predict(which="conditional").to_numpy(),
                               rtol=1e-12)


def test_by_class_and_loaded_results_and_refusals(tmp_path):
    from helpers import mixed_data

    df = mixed_data(np.random.default_rng(2), n_units=60, family="ordinal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + x | class(unit) ~ 1 + z", df, n_classes=2, family="ordinal", thresholds_by="item",
                     seed=1, starts=(3, 1), se="none")
    byc = res.predict(df.iloc[:4], which="by_class", type="prob")
    assert byc.columns.names == ["class", "category"]
    marg = res.predict(df.iloc[:4], type="prob")
    prior = res.predict(df.iloc[:4], which="by_class")  # means by class, weighted as the marginal
    w = (res.predict(df.iloc[:4]) - prior["class2"]) / (prior["class1"] - prior["class2"])
    mix = w.to_numpy()[:, None] * byc["class1"].to_numpy() + (1 - w.to_numpy()[:, None]) * byc["class2"].to_numpy()
    np.testing.assert_allclose(marg.to_numpy(), mix, rtol=1e-10)
    cond = res.predict(df, which="conditional", type="prob")
    post = res.posterior.loc[df["unit"]].to_numpy()
    allc = res.predict(df, which="by_class", type="prob")
    np.testing.assert_allclose(cond.to_numpy(), post[:, :1] * allc["class1"].to_numpy()
                               + post[:, 1:] * allc["class2"].to_numpy(), rtol=1e-10)
    # new rows of fitted units without an outcome: their fitted responses' posteriors
    np.testing.assert_allclose(res.predict(df.drop(columns="y").iloc[:5], which="conditional", type="prob"),
                               cond.iloc[:5], rtol=1e-10)
    res.save(tmp_path / "o.json")
    back = gm.load_results(tmp_path / "o.json")
    np.testing.assert_allclose(back.predict(df.iloc[:4], type="prob"), marg, rtol=1e-13)
    with pytest.raises(GlmmixError, match="type='prob'"):  # categories are not numbers: no fitted values
        res.fittedvalues
    with pytest.raises(GlmmixError, match="type must be one of"):
        res.predict(type="probs")
    with pytest.raises(GlmmixError, match="class memberships"):
        res.predict(which="posterior", type="prob")
    binary = gm.fit("y ~ x", df.assign(y=(df["y"] > 0).astype(int)), family="bernoulli", se="none")
    with pytest.raises(GlmmixError, match="ordinal"):
        binary.predict(type="prob")


def test_whole_number_categories_held_as_floats_keep_their_labels(six, tmp_path):
    # A numeric ordinal outcome with missing values is a float column: its categories 1, 2, 3
    # were labelled 1.0, 2.0, 3.0 (thresholds, profiles, type="prob" columns). The fit is the
    # same as with the integer column; new rows may give the outcome as 2 or 2.0.
    d = six.copy()
    d["r"] = d["resp"].cat.codes + 1
    f = d.copy()
    f["r"] = f["r"].astype(float)
    f.loc[f.index[::17], "r"] = np.nan
    i = f.dropna(subset=["r"]).astype({"r": int})
    kw = dict(family="ordinal", se="none")
    rf, ri = gm.fit("r ~ item + Gender", f, **kw), gm.fit("r ~ item + Gender", i, **kw)
    assert list(rf.params.index) == list(ri.params.index)
    assert rf.llf == pytest.approx(ri.llf, abs=1e-8)
    p = rf.predict(NEW.assign(r=[2.0] * len(NEW)).head(3), type="prob")
    assert [str(c) for c in p.columns] == ["1", "2", "3"]
    path = tmp_path / "fit.json"
    rf.save(path)
    back = gm.load_results(path)
    assert [str(c) for c in back.predict(NEW.head(3), type="prob").columns] == ["1", "2", "3"]
    lca = gm.fit("r ~ 1 | class(id) ~ 1", f, n_classes=2, family="ordinal", thresholds_by="item", seed=1, se="none")
    assert [str(i).split(": ")[-1] for i in lca.profile().index[:3]] == ["1", "2", "3"]
