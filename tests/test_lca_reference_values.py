"""LCA estimates and standard errors against stored R values (tests/reference/values).

Produced by tests/reference/scripts/*.R with Debian's R 4.2.2 and flexmix 2.3.18 (poLCA
is not packaged for Debian; flexmix fits the same model). SEs there are observed-information
SEs (numDeriv Hessian of flexmix's log-likelihood), as glmmix's se="ml"; boundary
probabilities are held fixed in both.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from conftest import load_reference

LCA = "y ~ 0 + item | class(id) ~ 1"


def _fit(long, K, formula=LCA, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        return gm.fit(formula, long, n_classes=K, family="bernoulli", seed=1, **kw)


@pytest.mark.parametrize("data, K", [("carcinoma", 2), ("carcinoma", 3), ("lsat", 2), ("lsat", 3)])
def test_item_probabilities_and_ses(data, K):
    ref = load_reference(f"lca_{data}.json")[f"K{K}"]
    res = _fit(gm.wide_to_long(gm.datasets.load(data)), K)
    # flexmix logLik(m)
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-4)
    assert res.df_model == ref["npar"]
    np.testing.assert_allclose(res.class_proportions, ref["class_proportions"], atol=2e-4)
    prof = res.profile()
    for k in range(K):
        est = prof[f"class{k + 1}"].to_numpy()
        want = np.array([ref["prob_yes"][f"class{k + 1}"][i] for i in ref["prob_yes"][f"class{k + 1}"]])
        np.testing.assert_allclose(est, want, atol=5e-4)
        se = prof[f"se:class{k + 1}"].to_numpy()
        want_se = np.array([np.nan if v is None else v for v in ref["prob_yes_se"][f"class{k + 1}"].values()])
        # the same estimates on the boundary (no SE): flexmix's probabilities within 1e-6 of 0 or 1
        np.testing.assert_array_equal(np.isnan(se), np.isnan(want_se))
        ok = np.isfinite(want_se)
        np.testing.assert_allclose(se[ok], want_se[ok], rtol=0.02, atol=2e-4)
    np.testing.assert_allclose(res.class_proportions_se, ref["class_proportions_se"], rtol=0.02, atol=1e-4)


def test_class_membership_regressed_on_covariate():
    # flexmix(Y ~ 1, k = 2, model = FLXMCmvbinary(), concomitant = FLXPmultinom(~ Anger))
    # on VerbAgg's 316 persons (24 binary items): logLik -4146.97744, 50 parameters;
    # log(P(class2)/P(class1)) = -1.27455 (SE 0.53135) + 0.061070 (SE 0.026091) * Anger.
    ref = load_reference("lca_verbagg_cov.json")["K2"]
    long = gm.datasets.load("verbagg_long")
    res = _fit(long, 2, "y ~ 0 + item | class(id) ~ 1 + Anger")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-4)
    assert res.df_model == ref["npar"]
    # glmmix's reference class is the last (class2): its logit is minus flexmix's
    lo = ref["membership_logit"]["class2_vs_class1"]
    assert res.params["logit:class1:Intercept"] == pytest.approx(-lo["coef"]["(Intercept)"], abs=1e-3)
    assert res.params["logit:class1:Anger"] == pytest.approx(-lo["coef"]["Anger"], abs=1e-4)
    assert res.bse["logit:class1:Intercept"] == pytest.approx(lo["se"]["(Intercept)"], rel=0.01)
    assert res.bse["logit:class1:Anger"] == pytest.approx(lo["se"]["Anger"], rel=0.01)


def test_ordinal_lca_equals_unrestricted_polytomous_lca():
    # With 3 categories, item- and class-specific cumulative-logit thresholds leave the
    # category probabilities unrestricted: the model equals flexmix's polytomous LCA
    # (FLXMRmultinom per item): logLik -6474.68216, 97 parameters.
    ref = load_reference("lca_verbagg_ordinal.json")["K2"]
    long = gm.datasets.load("verbagg_long")
    long = long.assign(resp=pd.Categorical(long["resp"], categories=["no", "perhaps", "yes"], ordered=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        res = gm.fit("resp ~ 0 | class(id) ~ 1", long, n_classes=2, family="ordinal",
                     thresholds_by="item", seed=1, se="none")
    assert res.llf == pytest.approx(ref["loglik"], abs=1e-3)
    assert res.df_model == ref["npar"]
    np.testing.assert_allclose(res.class_proportions, ref["class_proportions"], atol=1e-3)
    # the profile: poLCA's probs of polytomous items, against flexmix's (parameters(m))
    prof = res.profile()
    for c in ("class1", "class2"):
        want = [ref["category_probs"][c][it][k] for it in ref["category_probs"][c] for k in ("no", "perhaps", "yes")]
        np.testing.assert_allclose(prof.loc[[f"{it}: {k}" for it in ref["category_probs"][c]
                                             for k in ("no", "perhaps", "yes")], c], want, atol=2e-4)
    # category probabilities by class (predict(type="prob")) against flexmix's (parameters(m))
    rows = long.drop_duplicates("item")
    byc = res.predict(rows, which="by_class", type="prob")
    for c in ("class1", "class2"):
        want = [[ref["category_probs"][c][it][k] for k in ("no", "perhaps", "yes")] for it in rows["item"]]
        np.testing.assert_allclose(byc[c].to_numpy(), want, atol=2e-4)
