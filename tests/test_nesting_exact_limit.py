"""The nesting guarantee with an exact limit value: a boundary limit whose log-likelihood is
the limiting model's own maximum is the supremum the fitted model approaches, even where the
fitted model's integration rule, evaluated at the boundary point, falls short of it (the
probit FMA-GoM on the complete ability data puts its FMA limit, -10656.1848, at -10659.2887 on
its trapezoid rule; with a tolerance of 1 the guarantee compared against that and reported the
best start's -10656.7585, below the FMA it contains). A rule far above an exact value is
distrusted."""

import warnings

import numpy as np
import pytest

import glmmix as gm
from glmmix.estimation import FitOptions, estimate


@pytest.fixture(scope="module")
def fitted(lsat_long):
    model = gm.MixtureModel.from_formula("y ~ 0 + item | class(id) ~ 1", lsat_long, 2, "bernoulli")
    opts = FitOptions(n_starts=4, n_final=2, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = estimate(model.likelihood, opts)
    return model, opts, best


def _with_limit(fitted, exact):
    model, opts, best = fitted
    limit = (best.theta.copy(), "a limit", exact, (True, 0.0))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = estimate(model.likelihood, opts, limits=[limit])
    return best, out, [str(x.message) for x in w]


def test_an_exact_limit_above_the_rule_is_reported(fitted):
    best, out, msgs = _with_limit(fitted, fitted[2].ll + 2.0)  # the rule at the point is 2 below it
    assert out.ll == pytest.approx(best.ll + 2.0, abs=1e-12)
    assert any("below the model's boundary limit a limit" in m for m in msgs)
    entry = out.search.limits[0]
    assert entry["used"] and entry["evaluated"] == pytest.approx(best.ll, abs=1e-6)


def test_an_exact_limit_far_below_the_rule_is_distrusted(fitted):
    best, out, _ = _with_limit(fitted, fitted[2].ll - 2.0)
    assert out.ll == pytest.approx(best.ll, abs=1e-9)
    assert not out.search.limits[0]["used"] and "evaluated" not in out.search.limits[0]
