"""Outcome loadings the trapezoid rule cannot resolve (estimation.re_limit, RESOLVED_STEPS).

On the trapezoid rule every cluster shares equally spaced nodes; a loading lambda makes an
item's response curve rise over about 4 / |lambda| of the latent variable, and once that is
below the rule's step the rule no longer integrates it (VerbAgg's FMA-GoM: loadings of 32 and
48 on 31 x 31 points put the rule's log-likelihood 0.90 above the value on a rule refined at
the items' thresholds; benchmarks/README.md, "Seventh round"). Such a start is improper: it
loses to proper maxima, and the fit says when such starts reached more.
"""

import warnings

import numpy as np
import pytest

import glmmix as gm
from glmmix.estimation import (HUGE_RE, RESOLVED_STEPS, FitOptions, FitResult, _Search, finish, improper, re_limit,
                               unresolved_params)

FMA_GOM = "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)"


def _model(data, **kw):
    return gm.MixtureModel.from_formula(FMA_GOM, data, n_classes=2, family="bernoulli", **kw)


def _point(m, loading=None, sd=1.0):
    """Intercepts 0, loadings 1 (item I3's ``loading``), class-logit SD ``sd``."""
    lab = m.param_names
    th = np.zeros(len(lab))
    for i, name in enumerate(lab):
        if name.startswith("loading"):
            th[i] = loading if (loading is not None and "I3" in name) else 1.0
        elif name.startswith("sd("):
            th[i] = sd
    return th


def test_limit_follows_the_rule_step(lsat_long):
    m31 = _model(lsat_long)
    m61 = _model(lsat_long, n_points=61)
    agh = gm.MixtureModel.from_formula("y ~ 0 + item + rr(0 + item | id, 1)", lsat_long, family="bernoulli")
    # 31 points on [-6, 6]: step 0.4, so 4 / 0.4 = 10; 61 points: 20; adaptive rules: HUGE_RE
    assert re_limit(m31.likelihood) == pytest.approx(RESOLVED_STEPS / 0.4)
    assert re_limit(m61.likelihood) == pytest.approx(RESOLVED_STEPS / 0.2)
    assert re_limit(agh.likelihood) == HUGE_RE
    i3 = m31.param_names.index("loading(id:item[I3])")
    steep = _point(m31, loading=12.0)
    assert unresolved_params(m31.likelihood, steep) == [i3] and improper(m31.likelihood, steep)
    assert unresolved_params(m61.likelihood, steep) == [] and not improper(m61.likelihood, steep)
    assert unresolved_params(m31.likelihood, -steep) == [i3]  # the sign of a loading is arbitrary
    # class-logit SDs keep HUGE_RE (a GoM can have its maximum at an SD of 10 to 50)
    assert unresolved_params(m31.likelihood, _point(m31, sd=12.0)) == []
    sd = m31.param_names.index("sd(id:class1)")
    assert unresolved_params(m31.likelihood, _point(m31, sd=60.0)) == [sd]


def test_the_rule_misjudges_a_steep_item(lsat_long):
    # why: beyond the limit the 31-point rule's log-likelihood is off by far more than RULE_TOL,
    # within it it agrees with a fine rule (121 points per dimension)
    m31 = _model(lsat_long)
    fine = _model(lsat_long, n_points=121)
    for loading, close in ((2.0, True), (25.0, False)):
        th = _point(m31, loading=loading)
        d = abs(m31.likelihood.loglik(th) - fine.likelihood.loglik(th))
        assert (d < 1e-3) == close, (loading, d)


def test_runaway_starts_above_the_reported_maximum_are_named(lsat_long):
    m = _model(lsat_long)
    lik = m.likelihood
    steep, proper = _point(m, loading=30.0), _point(m)
    S = _Search(lik, FitOptions(seed=1), np.random.default_rng(1), "fixed")
    for th, ll in ((steep, -2460.0), (proper, -2470.0)):
        i = S.add(th, np.nan, "test")
        S.fits[i] = FitResult(th, ll, True, 0.0, 0, 0)
        S.records[i].ll_final = ll
        S.degenerate[i] = S.records[i].improper = improper(lik, th)
        S.records[i].runaway = S.records[i].improper
    fr = S.finish(0.0, "test")
    assert fr.ll == -2470.0 and [mx.get("runaway") for mx in fr.search.maxima] == [True, False]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        finish(lik, fr, FitOptions())
    text = [str(w.message) for w in caught if issubclass(w.category, gm.IntegrationAccuracyWarning)]
    assert any("ran towards infinite outcome loadings" in t and "-2460.0000" in t and "-2470.0000" in t
               for t in text), text
