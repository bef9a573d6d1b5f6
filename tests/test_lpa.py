"""Latent profile analysis: gaussian items with their own residual SDs (``sigma_by``).

Reference values: mclust 6.0.0 on Fisher's iris data (R's datasets::iris, shipped as
tests/reference/data/iris.csv); script tests/reference/scripts/lpa_iris.R, values in
tests/reference/values/lpa_iris.json. mclust's EEI model (diagonal covariances equal across
classes) is Mplus's default LPA, glmmix's ``sigma_by="item"``; its VVI model (diagonal
covariances free per class) is StepMix's ``gaussian_diag``, glmmix's ``sigma_by="item",
class_specific=["sigma"]``; its EII model (one variance) is glmmix's gaussian default.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.exceptions import DesignError
from helpers import check_derivatives, make_lik

from conftest import REF, load_reference

ITEMS = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
FORMULA = "y ~ 0 + item | class(id) ~ 1"


@pytest.fixture(scope="module")
def iris_long():
    iris = pd.read_csv(REF.parent / "data" / "iris.csv")
    wide = iris[ITEMS].copy()
    wide["id"] = np.arange(len(wide))
    return gm.wide_to_long(wide, id="id")


@pytest.mark.parametrize("model,K", [("EEI", 2), ("EEI", 3), ("VVI", 2), ("VVI", 3)])
def test_lpa_matches_mclust(iris_long, model, K):
    ref = load_reference("lpa_iris.json")[f"{model}_K{K}"]
    cs = ["sigma"] if model == "VVI" else []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(FORMULA, iris_long, n_classes=K, family="gaussian", sigma_by="item",
                     class_specific=cs, seed=1)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-5)
    assert res.df_model == (K * 4 + (K if cs else 1) * 4 + K - 1)
    for k in range(K):  # classes reported largest first, as the reference orders them
        for item in ITEMS:
            assert res.params[f"class{k + 1}:item[{item}]"] == pytest.approx(ref["means"][k][item], abs=1e-3)
            lab = f"class{k + 1}:sigma[{item}]" if cs else f"sigma[{item}]"
            assert res.params[lab] == pytest.approx(ref["sds"][k][item], abs=1e-3)
    np.testing.assert_allclose(np.asarray(res.class_proportions, float), ref["proportions"], atol=1e-4)


def test_one_sigma_is_mclust_eii(iris_long):
    """Without sigma_by one residual SD serves every row: mclust's EII model."""
    ref = load_reference("lpa_iris.json")["EII_K2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = gm.fit(FORMULA, iris_long, n_classes=2, family="gaussian", seed=1)
    assert one.llf == pytest.approx(ref["loglik"], abs=1e-5)
    assert one.params["sigma"] == pytest.approx(ref["sds"][0]["Sepal.Length"], abs=1e-4)


def test_sigma_by_derivatives():
    rng = np.random.default_rng(4)
    n = 40
    df = pd.DataFrame({"id": np.repeat(np.arange(n), 3), "item": np.tile(["a", "b", "c"], n)})
    df["y"] = rng.normal(size=len(df)) * np.tile([1.0, 5.0, 0.2], n) + np.tile([0.0, 3.0, -1.0], n)
    for cs in ([], ["sigma"]):
        lik = make_lik(FORMULA, df, 2, "gaussian", sigma_by="item", class_specific=cs)
        check_derivatives(lik, 0.3 * rng.standard_normal(lik.layout.n_free), symmetric=True)
    glmm = make_lik("y ~ 0 + item + (1 | id)", df, 1, "gaussian", sigma_by="item")
    check_derivatives(glmm, 0.3 * rng.standard_normal(glmm.layout.n_free), symmetric=True)


def test_sigma_by_recovers_simulated_profiles():
    """Items on scales 1, 10 and 100: means and item SDs of two profiles are recovered."""
    rng = np.random.default_rng(11)
    n = 1500
    c = rng.choice(2, size=n, p=[0.6, 0.4])
    mu = np.array([[0.0, 10.0, 100.0], [1.5, 20.0, 160.0]])
    sd = np.array([1.0, 8.0, 40.0])
    wide = pd.DataFrame(mu[c] + rng.normal(size=(n, 3)) * sd, columns=["a", "b", "d"])
    wide["id"] = np.arange(n)
    long = gm.wide_to_long(wide, id="id")
    res = gm.fit(FORMULA, long, n_classes=2, family="gaussian", sigma_by="item", seed=2)
    for j, item in enumerate("abd"):
        for k in range(2):
            est, se = res.params[f"class{k + 1}:item[{item}]"], res.bse[f"class{k + 1}:item[{item}]"]
            assert abs(est - mu[k, j]) < 4 * se
        assert abs(res.params[f"sigma[{item}]"] - sd[j]) < 4 * res.bse[f"sigma[{item}]"]
    # new data, simulation and saved results use the same residual SD per item
    post = res.predict(long.iloc[:30], which="posterior")
    np.testing.assert_allclose(np.asarray(post, float), np.asarray(res.posterior.iloc[:10], float), atol=1e-10)
    sim = gm.simulate(res, long, seed=3)
    assert sim.groupby("item")["y"].std().is_monotonic_increasing


def test_sigma_by_refusals(iris_long):
    df = iris_long
    with pytest.raises(DesignError, match="sigma_by is only meaningful for family='gaussian'"):
        gm.fit(FORMULA, df.assign(y=(df["y"] > 3).astype(int)), n_classes=2, family="bernoulli", sigma_by="item")
    with pytest.raises(DesignError, match="thresholds_by is only meaningful for family='ordinal'"):
        gm.fit(FORMULA, df, n_classes=2, family="gaussian", thresholds_by="item")
    with pytest.raises(DesignError, match="not both"):
        gm.fit(FORMULA, df, n_classes=2, family="gaussian", sigma_by="item", thresholds_by="item")
    with pytest.raises(DesignError, match="'itm'"):
        gm.fit(FORMULA, df, n_classes=2, family="gaussian", sigma_by="itm")
    with pytest.raises(DesignError, match="sigma_by must be a column name"):
        gm.fit(FORMULA, df, n_classes=2, family="gaussian", sigma_by=["item"])
    const = df.copy()
    const.loc[const["item"] == "Sepal.Width", "y"] = 3.0
    with pytest.raises(DesignError, match="constant .* 'Sepal.Width'"):
        gm.fit(FORMULA, const, n_classes=2, family="gaussian", sigma_by="item")
    # fixed, that item's SD is no longer estimated and the model is fine
    res = gm.fit(FORMULA, const, n_classes=2, family="gaussian", sigma_by="item", seed=1,
                 fix={"sigma[Sepal.Width]": 0.5})
    assert res.fixed_params["sigma[Sepal.Width]"] == pytest.approx(0.5) and np.isfinite(res.llf)
    assert res.model_name == "latent profile analysis (LPA)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit(FORMULA, df, n_classes=2, family="gaussian", sigma_by="item", seed=1, starts=(5, 2))
    new = df.iloc[:8].assign(item="Leaf.Length")
    with pytest.raises(DesignError, match="Leaf.Length"):
        res.predict(new, which="posterior")


def test_fixed_class_invariant_sigma_below_one():
    """fix={"sigma": v} with v < 1 in a mixture: every class's copy gets v (it was refused,
    the value transformed once per class)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=300)
    y = np.where(rng.uniform(size=300) < 0.5, 1 + x, -2 + 0.5 * x) + 0.5 * rng.normal(size=300)
    d = pd.DataFrame({"x": x, "y": y})
    free = gm.fit("y ~ x | class ~ 1", d, n_classes=2, family="gaussian", seed=1)
    s_hat = free.params["sigma"]
    assert s_hat < 1
    fixed = gm.fit("y ~ x | class ~ 1", d, n_classes=2, family="gaussian", seed=1, fix={"sigma": s_hat})
    assert fixed.llf == pytest.approx(free.llf, abs=1e-6)
    assert fixed.df_model == free.df_model - 1
    np.testing.assert_allclose(fixed.params.to_numpy(), free.params.drop("sigma").to_numpy(), atol=1e-4)
    # fixed values are reported (once for class-invariant copies), in the summary too
    assert fixed.fixed_params.to_dict() == {"sigma": pytest.approx(s_hat)}
    assert free.fixed_params.empty
    text = str(fixed.summary())
    assert "Fixed parameters (not estimated)" in text and "Fixed parameters" not in str(free.summary())
    one = gm.fit("y ~ x | class ~ 1", d, n_classes=2, family="gaussian", seed=1, fix={"class1:x": 1.0, "sigma": 0.4})
    assert one.fixed_params.to_dict() == {"class1:x": 1.0, "sigma": pytest.approx(0.4)}
    assert "class1:x" not in one.params.index and "class2:x" in one.params.index


def test_glmm_with_item_residual_sds_matches_nlme(iris_long):
    """y ~ 0 + item + (1 | id) with sigma_by="item": nlme::lme with varIdent(~ 1 | item), ML
    (tests/reference/scripts/lme_varident_iris.R)."""
    ref = load_reference("lme_varident_iris.json")
    res = gm.fit("y ~ 0 + item + (1 | id)", iris_long, family="gaussian", sigma_by="item")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-6)
    for item in ITEMS:
        assert res.params[f"item[{item}]"] == pytest.approx(ref["fixef"][item], abs=1e-5)
        assert res.params[f"sigma[{item}]"] == pytest.approx(ref["sigma"][item], abs=1e-4)
    assert res.params["sd(id:Intercept)"] == pytest.approx(ref["sd_id"], abs=1e-4)


def test_lca_helper_with_gaussian_items_is_mplus_lpa(capsys):
    """gm.lca(family="gaussian") gives each item its own variance (Mplus's LPA default) and
    prints the general call that does so; sigma_by=None asks for one variance."""
    iris = pd.read_csv(REF.parent / "data" / "iris.csv")[ITEMS]
    ref = load_reference("lpa_iris.json")
    res = gm.lca(iris, 2, family="gaussian", items=ITEMS, seed=1)
    assert "sigma_by='item'" in capsys.readouterr().out
    assert res.llf == pytest.approx(ref["EEI_K2"]["loglik"], abs=1e-5)
    one = gm.lca(iris, 2, family="gaussian", items=ITEMS, seed=1, sigma_by=None, verbose=False)
    assert one.llf == pytest.approx(ref["EII_K2"]["loglik"], abs=1e-5)
