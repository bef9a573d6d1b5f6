"""Singular fits: a random-effect covariance at the boundary (an SD of 0, a correlation of
+-1) is reported, as lme4's isSingular() does. Reference: lme4 1.1.31
(tests/reference/scripts/singular_fit.R): glmer on binary data simulated without group
effects ends at SD 0 with the GLM's log-likelihood; sleepstudy's random slopes are regular.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.identification import singular_terms

REF = Path(__file__).parent / "reference"
VAL = json.loads((REF / "values" / "singular_fit.json").read_text())


def test_sd_at_zero_is_a_singular_fit():
    ref = VAL["singular"]
    assert ref["isSingular"]
    d = pd.read_csv(REF / "data" / "singular_binary.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ x + (1|g)", d, family="bernoulli")
    assert any(issubclass(w.category, gm.BoundaryWarning) and "singular fit" in str(w.message) for w in caught)
    assert any("['(1 | g)']" in w for w in res.warnings)
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    assert res.llf == pytest.approx(ref["logLik_glm"], abs=1e-4)
    assert abs(res.params["sd(g:Intercept)"]) < 1e-3
    assert "singular fit" in str(res.summary())
    # the Wald interval of the SD ends at 0 (its lower limit sd - 1.96 se would be negative);
    # the fixed effects' intervals are the plain Wald ones
    ci = res.conf_int()
    z = 1.959963984540054
    sd, se = res.params["sd(g:Intercept)"], res.bse["sd(g:Intercept)"]
    assert sd - z * se < 0
    assert ci.loc["sd(g:Intercept)", 0] == 0.0
    assert ci.loc["sd(g:Intercept)", 1] == pytest.approx(sd + z * se, rel=1e-12)
    np.testing.assert_allclose(ci.loc["x"], res.params["x"] + np.array([-z, z]) * res.bse["x"], rtol=1e-12)
    assert res.params_table().loc["sd(g:Intercept)", "[0.025"] == 0.0


def test_regular_fits_and_perfect_correlation():
    ref = VAL["sleepstudy"]
    assert not ref["isSingular"]
    s = pd.read_csv(REF / "data" / "sleepstudy.csv")
    res = gm.fit("Reaction ~ Days + (Days|Subject)", s)
    assert not any("singular" in w for w in res.warnings)
    lik = res.model.likelihood
    assert singular_terms(lik, res.theta) == []
    # zero each factor entry in turn: the term is singular exactly when its factor loses rank
    # (a diagonal entry of 0 is an SD of 0 or a correlation of +-1)
    L = lik.layout
    found = 0
    for i, full in enumerate(L.first_full):
        if L.block_of(full) != "re_out":
            continue
        t = res.theta.copy()
        t[i] = 0.0
        F = lik.factor_matrices(L.unpack(L.expand(t)))[0][0][0]
        deficient = np.linalg.svd(F, compute_uv=False).min() < 1e-8
        assert (singular_terms(lik, t) == ["(Days | Subject)"]) == deficient
        found += deficient
    assert found == 2  # the two diagonal entries


def test_correlation_at_one_is_a_boundary_estimate_without_inference():
    """lmer ends at a correlation of -1 on these data: glmmix reaches its log-likelihood and
    reports the correlation as a boundary estimate (no SE, z, p or interval; the delta method's
    SE of about 0 and z of -2e5 said nothing), the other estimates with their SEs."""
    ref = VAL["correlation"]
    assert ref["isSingular"] and ref["cor"] == pytest.approx(-1.0)
    d = pd.read_csv(REF / "data" / "singular_correlation.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        res = gm.fit("yg ~ x + (1 + x | g)", d, family="gaussian")
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-4)
    assert res.params[["sd(g:Intercept)", "sd(g:x)"]].to_numpy() == pytest.approx(ref["sd"], abs=2e-3)
    assert res.params["sigma"] == pytest.approx(ref["sigma"], abs=1e-3)
    lab = "cor(g:x,Intercept)"
    assert res.params[lab] == pytest.approx(-1.0, abs=1e-6)
    assert res.params.index.get_loc(lab) in res.boundary
    tab = res.params_table()
    assert tab.loc[lab, ["std err", "z", "P>|z|"]].isna().all()
    assert np.isnan(res.bse[lab]) and res.cov_params()[lab].isna().all()
    assert (res.bse.drop(lab) > 0).all()
    row = next(line for line in str(res.summary()).splitlines() if line.strip().startswith(lab))
    assert "boundary" in row
    # sleepstudy's correlation (0.08) is an ordinary estimate
    s = pd.read_csv(REF / "data" / "sleepstudy.csv")
    reg = gm.fit("Reaction ~ Days + (Days|Subject)", s)
    assert reg.boundary == [] and np.isfinite(reg.bse["cor(Subject:Days,Intercept)"])
