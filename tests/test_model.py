"""The model object: the pipeline built once, evaluated and fitted."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime

import glmmix as gm
from glmmix.exceptions import DesignError
from glmmix.params import ParamLayout
from helpers import mixed_data


def clustered(rng, n_clusters=25, per=6):
    g = np.repeat(np.arange(n_clusters), per)
    x = rng.normal(size=g.size)
    b = rng.normal(scale=0.8, size=n_clusters)[g]
    y = (rng.uniform(size=g.size) < 1 / (1 + np.exp(-(0.3 + 0.7 * x + b)))).astype(float)
    return pd.DataFrame({"g": g, "x": x, "y": y})


@pytest.mark.parametrize("formula, K, family, kw", [
    ("y ~ 0 + item | class(unit) ~ 1 + z", 2, "bernoulli", {}),
    ("y ~ 1 + x | class(unit) ~ 1", 2, "gaussian", {"class_specific": ["sigma"]}),
    ("y ~ 0 + x | class(unit) ~ 1", 2, "ordinal", {"thresholds_by": "item"}),
])
def test_score_and_information_match_finite_differences(formula, K, family, kw, rng):
    model = gm.MixtureModel.from_formula(formula, mixed_data(rng, family=family), K, family, **kw)
    theta = 0.5 * rng.standard_normal(model.n_params)
    g = model.score(theta)
    num = approx_fprime(theta, lambda t: model.loglike(t, adapt=False), 1e-6)
    np.testing.assert_allclose(g, num, rtol=2e-4, atol=2e-4 * max(1.0, np.abs(num).max()))
    info = model.information(theta)
    num_h = -np.array([approx_fprime(theta, lambda t: model.score(t)[i], 1e-6) for i in range(theta.size)])
    np.testing.assert_allclose(info, 0.5 * (num_h + num_h.T), rtol=1e-4, atol=1e-4 * np.abs(num_h).max())
    assert len(model.param_names) == model.n_params


def test_fit_equals_gm_fit_exactly(lsat_long):
    kw = dict(n_classes=2, family="bernoulli")
    model = gm.MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", lsat_long, **kw)
    a = model.fit(starts=(6, 2), seed=3)
    b = gm.fit("y ~ 0 + item | class(id) ~ 1", lsat_long, starts=(6, 2), seed=3, **kw)
    assert a.llf == b.llf
    pd.testing.assert_series_equal(a.params, b.params)
    pd.testing.assert_series_equal(a.bse, b.bse)
    assert a.model is model and a.model.loglike(a.theta) == pytest.approx(a.llf, abs=1e-9)
    # at the maximum the score vanishes and the information is positive definite
    assert np.abs(model.score(a.theta)).max() < 1e-2
    assert np.linalg.eigvalsh(model.information(a.theta)).min() > 0


def test_regression_parameterization_leaves_the_design_alone(rng):
    """re_parameterization='regression' builds its own design: the Cholesky model built from
    the same design afterwards is unchanged (the design is never mutated)."""
    from glmmix.random_effects import with_parameterization

    df = clustered(rng)
    chol = gm.MixtureModel.from_formula("y ~ 1 + x + (1 + x | g)", df, family="bernoulli")
    reg_design = with_parameterization(chol.design, "regression")
    assert [b.structure for b in chol.design.re_out] == ["chol"]
    assert [b.structure for b in reg_design.re_out] == ["reg"]
    reg = gm.MixtureModel(reg_design, ParamLayout(reg_design))
    assert any(lab.startswith("regression(g:") for lab in reg.param_names)
    assert not any(lab.startswith("regression(") for lab in chol.param_names)


def test_options_and_its_keywords_are_not_both_accepted(lsat_long):
    f = "y ~ 0 + item | class(id) ~ 1"
    opts = gm.FitOptions(n_starts=2, n_final=1, seed=1)
    for kw in ({"starts": 5}, {"seed": 2}, {"n_jobs": 2}):
        with pytest.raises(DesignError, match="not both"):
            gm.fit(f, lsat_long, n_classes=2, family="bernoulli", options=opts, **kw)
    with pytest.raises(DesignError, match="FitOptions"):
        gm.fit(f, lsat_long, n_classes=2, family="bernoulli", options={"n_starts": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = gm.fit(f, lsat_long, n_classes=2, family="bernoulli", options=opts, se="none")
        b = gm.fit(f, lsat_long, n_classes=2, family="bernoulli", starts=(2, 1), seed=1, se="none")
    assert a.llf == b.llf


def test_params_of_the_wrong_length_are_refused(lsat_long):
    model = gm.MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", lsat_long, 2, "bernoulli")
    with pytest.raises(DesignError, match="11 free parameters"):
        model.loglike(np.zeros(3))
    assert "11 free parameters" in repr(model)


def test_results_attributes_and_entries_computed_when_asked(lsat_long, tmp_path, monkeypatch):
    from glmmix import reporting

    computed = []
    for key, entry in list(reporting.LAZY_ENTRIES.items()):
        monkeypatch.setitem(reporting.LAZY_ENTRIES, key,
                            lambda *a, key=key, entry=entry: computed.append(key) or entry(*a))
    res = gm.MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", lsat_long, 2, "bernoulli").fit(
        starts=(4, 2), seed=1)
    assert res.model_name == "latent class analysis (LCA)"
    assert res.best_replicated in (True, False) and res.n_best >= 1
    assert res.grad_max < 1e-2 and res.em_iterations >= 0 and res.qn_iterations >= 0
    assert res.integration is None and res.n_dropped == 0 and res.unit_name == "id"
    assert res.options == {"n_starts": 4, "n_final": 2, "seed": 1}
    assert set(res.param_blocks) == {"beta", "gamma"}
    assert computed == []  # profiles, derived quantities and class proportions: not computed yet
    prof = res.profile()
    res.profile()
    assert computed == ["profile"]  # computed once, when first asked for
    res.save(tmp_path / "r.json")  # save computes the rest
    back = gm.load_results(tmp_path / "r.json")
    pd.testing.assert_frame_equal(back.profile(), prof)
    pd.testing.assert_series_equal(back.class_proportions, res.class_proportions)
    assert back.model_name == res.model_name and back.best_replicated == res.best_replicated
    res.name_model("a named case", note={"k": 1})
    assert res.model_name == "a named case" and res.special_case == {"note": {"k": 1}}


def test_fit_names_every_model_keyword_with_from_formula_defaults():
    """gm.fit spells out the model's keywords (for help() and the API reference); they must be
    exactly MixtureModel.from_formula's, with the same defaults."""
    import inspect

    from glmmix.model import MODEL_KEYWORDS, MixtureModel

    fit_params = inspect.signature(gm.fit).parameters
    model_params = inspect.signature(MixtureModel.from_formula).parameters
    assert MODEL_KEYWORDS <= set(fit_params)
    for name in MODEL_KEYWORDS:
        assert fit_params[name].default == model_params[name].default, name


def test_labelled_params_are_read_on_the_reported_scale_by_label():
    """model.loglike(res.params) is the fit's log-likelihood (statsmodels' idiom): a labelled
    vector is on the reported scale (SDs, correlation, sigma) and matched by label, whatever
    its order; an unlabelled array is theta. Reference: lmer(REML = FALSE) on sleepstudy
    (tests/reference/values/lmer_sleepstudy.json), whose estimates give its logLik."""
    from conftest import REF, load_reference

    r = load_reference("lmer_sleepstudy.json")["correlated"]
    d = pd.read_csv(REF.parent / "data" / "sleepstudy.csv")
    model = gm.MixtureModel.from_formula("Reaction ~ Days + (Days|Subject)", d, family="gaussian")
    sd = r["random_effects"]["Subject"]["sd"]
    lmer = pd.Series({"cor(Subject:Days,Intercept)": r["random_effects"]["Subject"]["corr"],
                      "sigma": r["sigma"], "Days": r["fixef"]["Days"], "Intercept": r["fixef"]["(Intercept)"],
                      "sd(Subject:Intercept)": sd["(Intercept)"], "sd(Subject:Days)": sd["Days"]})
    assert model.loglike(lmer) == pytest.approx(r["logLik"], abs=1e-6)
    res = model.fit(se="none")
    assert model.loglike(res.params) == pytest.approx(res.llf, abs=1e-7)
    assert model.loglike(res.theta, adapt=False) == pytest.approx(res.llf, abs=1e-9)
    assert model.loglike(res.params.to_numpy()) != pytest.approx(res.llf, abs=1.0)  # theta's scale differs
    np.testing.assert_allclose(model.score(res.params), model.score(res.theta), atol=1e-9)
    with pytest.raises(DesignError, match=r"unknown \['sd\(Subject:Day\)'\]; missing \['sd\(Subject:Days\)'\]"):
        model.loglike(lmer.rename({"sd(Subject:Days)": "sd(Subject:Day)"}))
    with pytest.raises(DesignError, match="from_formula"):
        gm.MixtureModel("Reaction ~ Days + (Days|Subject)", d, family="gaussian")


def test_start_values_are_on_the_reported_scale():
    # as fix= and res.params: before, {"sigma": 25} started at exp(25) and a correlation of 0.5
    # at a Cholesky entry of 0.5 (a correlation of 0.16)
    from glmmix.reporting import natural_params

    ss = gm.datasets.load("sleepstudy")
    model = gm.MixtureModel.from_formula("Reaction ~ Days + (Days|Subject)", ss, family="gaussian")
    given = {"sigma": 25.0, "cor(Subject:Days,Intercept)": 0.5, "sd(Subject:Days)": 3.0}
    nat = dict(zip(model.param_names, natural_params(model.likelihood, model.starting_values(start_values=given))))
    for k, v in given.items():
        assert nat[k] == pytest.approx(v, rel=1e-12)
    with pytest.raises(DesignError, match="no valid starting point"):
        model.starting_values(start_values={"cor(Subject:Days,Intercept)": 1.5})
