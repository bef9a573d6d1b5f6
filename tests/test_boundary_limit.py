"""A fit reported at an exact boundary limit reports the limiting model's quantities.

A two-class GoM (``class ~ 1 + (1 | id)``) contains the LCA (``class(id) ~ 1``) as its
class-logit SD goes to infinity (paper Section 7). When the nesting guarantee reports that
limit (class-logit SD 1e3, the LCA's log-likelihood), no integration rule resolves the step
the SD makes: the rule at that point put a simulated GoM's class proportion at 0.618 against
the LCA's 0.634 and its log-likelihood 0.12 below. The model evaluates such a point as its
limit (``model.limit_point``), and the results carry the limiting model's results
(``res.limit``): posteriors, class proportions, predictions and ``model.loglike(res.params)``
are the LCA fit's. The reference is the LCA fitted directly to the same data.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import glmmix as gm
from glmmix.nesting import LIMIT_SD
from helpers import table3_data

GOM = "y ~ 0 + item | class ~ 1 + (1 | id)"
LCA = "y ~ 0 + item | class(id) ~ 1"


def _lca_data(seed=2, n=300, J=5):
    """Binary responses from a two-class LCA (300 persons x 5 items): with this seed the GoM's
    maximum is its LCA limit."""
    rng = np.random.default_rng(seed)
    member = rng.random(n) < 0.6
    p = np.where(member[:, None], [0.8, 0.85, 0.7, 0.75, 0.9][:J], [0.2, 0.3, 0.25, 0.1, 0.35][:J])
    y = (rng.random((n, J)) < p).astype(float)
    return pd.DataFrame({"id": np.repeat(np.arange(n), J), "item": np.tile([f"u{j + 1}" for j in range(J)], n),
                         "y": y.ravel()})


@pytest.fixture(scope="module")
def gom_at_limit():
    df = _lca_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gom = gm.fit(GOM, df, n_classes=2, family="bernoulli", seed=1)
    lca = gm.fit(LCA, df, n_classes=2, family="bernoulli", seed=1)
    return df, gom, lca, [w for w in caught if issubclass(w.category, gm.BoundaryWarning)]


def test_gom_at_its_lca_limit_reports_the_lca(gom_at_limit):
    df, gom, lca, boundary = gom_at_limit
    assert boundary and gom.params["sd(id:class1)"] == pytest.approx(LIMIT_SD)
    assert gom.limit is not None and gom.limit.formula == LCA
    # log-likelihood: the reported one and the model's at the reported parameters are the LCA's
    assert gom.llf == pytest.approx(lca.llf, abs=1e-6)
    assert gom.model.loglike(gom.params) == pytest.approx(lca.llf, abs=1e-6)
    assert gom.model.loglike(gom.theta) == pytest.approx(lca.llf, abs=1e-6)
    # class proportions (0.618 on the rule at this point) and every row's posterior: its person's
    np.testing.assert_allclose(gom.class_proportions, lca.class_proportions, atol=1e-6)
    by_row = lca.posterior.loc[df["id"]].to_numpy()
    np.testing.assert_allclose(gom.posterior.to_numpy(), by_row, atol=1e-5)
    assert len(gom.posterior) == len(df)  # the GoM's units: rows
    # the summary prints the LCA's proportions
    text = str(gom.summary())
    assert f"{lca.class_proportions.iloc[0]:.4f}" in text and "(res.limit)" in text
    # the limit's results: the LCA at the reported point
    assert gom.limit.llf == pytest.approx(lca.llf, abs=1e-6)
    np.testing.assert_allclose(gom.limit.params.reindex(lca.params.index), lca.params, atol=1e-4)


def test_predictions_at_the_limit_are_the_lca_s(gom_at_limit):
    df, gom, lca, _ = gom_at_limit
    np.testing.assert_allclose(gom.predict(), lca.predict(), atol=1e-6)
    np.testing.assert_allclose(gom.predict(which="by_class"), lca.predict(which="by_class"), atol=1e-6)
    post = gom.predict(which="posterior")
    assert post.index.equals(gom.posterior.index)
    np.testing.assert_allclose(post.to_numpy(), lca.posterior.loc[df["id"]].to_numpy(), atol=1e-5)
    assert (gom.predict(which="class").to_numpy() == lca.modal_class.loc[df["id"]].to_numpy()).all()
    # new rows: the marginal means and the posteriors of their persons, row by row
    new = df.iloc[:40].set_index(pd.Index(np.arange(100, 140)))
    np.testing.assert_allclose(gom.predict(new), lca.predict(new), atol=1e-6)
    pn = gom.predict(new, which="posterior")
    assert pn.index.equals(new.index)
    np.testing.assert_allclose(pn.to_numpy(), lca.predict(new, which="posterior").loc[new["id"]].to_numpy(),
                               atol=1e-5)
    # the class-logit effects are infinite there: no scores of this model's, a pointer to the limit's
    with pytest.raises(gm.GlmmixError, match="boundary limit"):
        gom.random_effects()


def test_saving_keeps_the_limit(gom_at_limit, tmp_path):
    df, gom, lca, _ = gom_at_limit
    path = tmp_path / "gom.json"
    gom.save(path)
    back = gm.load_results(path)
    assert back.limit is not None and back.limit.formula == LCA and back.limit.limit is None
    assert back.llf == gom.llf
    np.testing.assert_allclose(back.class_proportions, lca.class_proportions, atol=1e-6)
    np.testing.assert_allclose(back.posterior.to_numpy(), gom.posterior.to_numpy())
    np.testing.assert_allclose(back.predict(df), lca.predict(df), atol=1e-6)
    np.testing.assert_allclose(back.predict(df.iloc[:10], which="posterior").to_numpy(),
                               gom.posterior.to_numpy()[:10], atol=1e-9)
    # saved again from the loaded result: the same file content
    again = tmp_path / "again.json"
    back.save(again)
    assert gm.load_results(again).limit.llf == back.limit.llf


def test_standard_errors_at_the_limit(gom_at_limit):
    df, gom, lca, _ = gom_at_limit
    # the boundary estimate (the class-logit SD, held at 1e3) has none; the others are the
    # limiting model's information carried to this model's parameters: the items' are the LCA's
    # (the rule's information at this point had them 4% too small), the class-logit mean's is
    # the LCA logit's through mean = 1e3 * Phi^-1(p)
    assert np.isnan(gom.bse["sd(id:class1)"]) and "sd(id:class1)" in gom.params.index[gom.boundary]
    items = [lab for lab in gom.params.index if ":item[" in lab]
    np.testing.assert_allclose(gom.bse[items], lca.bse[items], rtol=1e-4)
    p = lca.class_proportions.iloc[0]
    dmu = LIMIT_SD * p * (1 - p) / stats.norm.pdf(stats.norm.ppf(p))
    assert gom.bse["logit:class1:Intercept"] == pytest.approx(dmu * lca.bse["logit:class1:Intercept"], rel=1e-3)
    np.testing.assert_allclose(gom.class_proportions_se, lca.class_proportions_se, rtol=1e-4)
    # profile intervals would refit on the rule: refused, pointing to the limiting model's
    with pytest.raises(NotImplementedError, match="res.limit.conf_int"):
        gom.conf_int(method="profile", params="class1:item[u1]")
    # draws from the fit are the LCA's: every row of a person in the person's class
    sim = gm.simulate(gom, df, seed=3)
    assert (sim.groupby("id")["true_class"].nunique() == 1).all()


def test_interior_points_and_other_models_are_not_limits(gom_at_limit):
    df, gom, lca, _ = gom_at_limit
    m = gom.model
    moved = gom.params.copy()
    moved["sd(id:class1)"] = 5.0
    assert m.limit_point(moved) is None  # an interior point: the integration rule's value
    assert m.loglike(moved) != pytest.approx(lca.llf, abs=1e-3)
    assert lca.model.limit_point(lca.params) is None and lca.limit is None
    # a class covariate: the limit of logistic(z'gamma + s u) is a probit in z, not the LCA's logit
    dfx = df.assign(x=np.repeat(np.random.default_rng(0).standard_normal(300), 5))
    mx = gm.MixtureModel.from_formula("y ~ 0 + item | class ~ 1 + x + (1 | id)", dfx, n_classes=2,
                                      family="bernoulli")
    px = pd.Series(0.0, index=mx.param_names)
    px["sd(id:class1)"] = LIMIT_SD
    px["logit:class1:Intercept"] = 300.0
    assert mx.limit_point(px) is None


def test_model6_at_model5_reports_model5():
    """Table 3's Model 6 (random class intercept, classes per row) reported at Model 5 (classes
    per cluster), with a random outcome intercept besides: Model 5's quantities, cluster by cluster."""
    data = table3_data(12, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m5 = gm.fit("y ~ 1 + x + (1 | g) | class(g) ~ 1", data, n_classes=2, family="gaussian", seed=1,
                    starts=(1, 1))
        m6 = gm.fit("y ~ 1 + x + (1 | g) | class ~ 1 + (1 | g)", data, n_classes=2, family="gaussian", seed=1,
                    starts=(1, 1))
    assert m6.limit is not None and m6.limit.formula == "y ~ 1 + x + (1 | g) | class(g) ~ 1"
    assert m6.llf == pytest.approx(m5.llf, abs=1e-6)
    assert m6.model.loglike(m6.params) == pytest.approx(m5.llf, abs=1e-6)
    # class labels may differ between the two fits: match them by the class-specific intercepts
    same = np.sign(m6.params["class1:Intercept"] - m6.params["class2:Intercept"]) == \
        np.sign(m5.params["class1:Intercept"] - m5.params["class2:Intercept"])
    order = [0, 1] if same else [1, 0]
    np.testing.assert_allclose(m6.class_proportions.to_numpy(), m5.class_proportions.to_numpy()[order], atol=1e-5)
    by_row = m5.posterior.loc[data["g"]].to_numpy()[:, order]
    np.testing.assert_allclose(m6.posterior.to_numpy(), by_row, atol=1e-4)
    np.testing.assert_allclose(m6.predict(), m5.predict(), atol=1e-5)


def test_three_pl_two_pl_limit_is_exact_on_the_rule(lsat_long):
    """The 3PL's 2PL limit (guessing logits at -30) needs no limit model: the rule evaluates it
    (P(guessing) = 1e-13); its log-likelihood is the 2PL's (R ltm: -2466.6534)."""
    from glmmix.nesting import LIMIT_LOGIT, _class_favoured

    levels = list(lsat_long["item"].cat.categories)
    fix = {f"class1:item[{lev}]": 15.0 for lev in levels}
    fix.update({f"class1:loading(id:item[{lev}])": 0.0 for lev in levels})
    m = gm.MixtureModel.from_formula("y ~ 0 + item + rr(0 + item | id, 1) | class ~ 0 + item", lsat_long,
                                     n_classes=2, family="bernoulli", fix=fix, class_specific=["random"])
    two = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat_long, family="bernoulli", se="none")
    at = _class_favoured(m.likelihood, m.transfer_start(two), 1, LIMIT_LOGIT)
    assert m.limit_point(at) is None
    assert m.loglike(at) == pytest.approx(two.llf, abs=1e-6) and two.llf == pytest.approx(-2466.6534, abs=1e-4)


def test_three_class_between_limit_is_exact():
    """With three classes the between limit's proportions are those of the largest of c_k + u_k
    and 0 (independent standard normal u): the boundary point's means are solved for the LCA's
    proportions (nesting.limit_means), and the point evaluates to the LCA's log-likelihood
    exactly, where the rule puts it 2.1 below; the results there report the LCA's posteriors
    and proportions."""
    from glmmix.estimation import FitResult
    from glmmix.inference import limit_covariance
    from glmmix.nesting import _between_limit_gamma, limit_log_probs, limit_means
    from glmmix.results import MixtureResults

    # the class probabilities against a direct simulation of the argmax (2e6 draws, SE 4e-4)
    c = np.array([0.3, -0.5])
    x = np.column_stack([c + np.random.default_rng(0).standard_normal((2_000_000, 2)), np.zeros(2_000_000)])
    np.testing.assert_allclose(np.exp(limit_log_probs(c)), np.bincount(x.argmax(axis=1)) / len(x), atol=2e-3)
    assert np.exp(limit_log_probs(limit_means([0.2, 0.3, 0.4, 0.1]))) == pytest.approx([0.2, 0.3, 0.4, 0.1], abs=1e-12)
    rng = np.random.default_rng(1)
    member = rng.choice(3, size=400, p=[0.5, 0.3, 0.2])
    probs = np.array([[0.9, 0.85, 0.8, 0.9, 0.85, 0.8], [0.1, 0.2, 0.15, 0.1, 0.2, 0.1],
                      [0.9, 0.85, 0.8, 0.1, 0.2, 0.15]])
    y = (rng.random((400, 6)) < probs[member]).astype(float)
    df = pd.DataFrame({"id": np.repeat(np.arange(400), 6), "item": np.tile([f"u{j + 1}" for j in range(6)], 400),
                       "y": y.ravel()})
    lca = gm.fit(LCA, df, n_classes=3, family="bernoulli", seed=1)
    m = gm.MixtureModel.from_formula(GOM, df, n_classes=3, family="bernoulli")
    at = _between_limit_gamma(m.likelihood, m.transfer_start(lca), lca.class_proportions.to_numpy(), LIMIT_SD)
    assert m.limit_point(at) is not None
    assert m.loglike(at) == pytest.approx(lca.llf, abs=1e-6)
    assert m.likelihood.loglik(at) < lca.llf - 1.0  # the rule at that point
    # standard errors: the SDs at the boundary and the correlation (0 at this limit, a step
    # of it leaves the limit) held; the items' are the LCA's, the means' through limit_means
    sds = [i for i, lab in enumerate(m.param_names) if lab.startswith("sd(")]
    cov, V = limit_covariance(at, m.limit_point(at).model.likelihood, m.limit_point(at).theta,
                              lambda t: getattr(m.limit_point(t), "theta", None), "ml", sds)
    se = pd.Series(np.sqrt(np.diag(cov)), index=m.param_names)
    lca_se = lca.bse
    items = [lab for lab in m.param_names if ":item[" in lab]
    np.testing.assert_allclose(se[items], lca_se[items], rtol=1e-3)
    assert np.isnan(se.filter(like="cor(")).all() and np.isfinite(se.filter(like="logit:")).all()
    res = MixtureResults.from_fit(m, FitResult(at, lca.llf, True, 0.0, 0, 0), None, "none", gm.FitOptions(seed=1))
    np.testing.assert_allclose(res.class_proportions, lca.class_proportions, atol=1e-8)
    np.testing.assert_allclose(res.posterior.to_numpy(), lca.posterior.loc[df["id"]].to_numpy(), atol=1e-8)
    np.testing.assert_allclose(res.predict(), lca.predict(), atol=1e-8)
