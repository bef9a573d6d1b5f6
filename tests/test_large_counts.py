"""GLMMs with large counts, where each cluster's effect is known to about 0.001: adaptive
quadrature must follow posteriors that move many posterior SDs with every step of the
intercept. Reference: lme4 1.1.31 glmer with nAGQ = 15, full log-likelihoods
(tests/reference/scripts/large_counts.R; data simulated once and stored in
tests/reference/data). Before the rule was centred at the modes and a crawling fit took
Laplace steps, the Poisson fit stopped 6.7 below the maximum (sd 0.45 against 0.28) with a
convergence warning.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm

REF = Path(__file__).parent / "reference"
VAL = json.loads((REF / "values" / "large_counts.json").read_text())


@pytest.mark.parametrize("case, formula, family", [
    ("poisson", "y ~ x + (1|g)", "poisson"),
    ("binomial", "cbind(y, N - y) ~ x + (1|g)", "binomial"),
])
def test_large_count_glmm_matches_glmer(case, formula, family):
    ref = VAL[case]
    d = pd.read_csv(REF / "data" / f"large_counts_{case}.csv")
    res = gm.fit(formula, d, family=family)
    assert res.converged
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-3)
    assert res.params["Intercept"] == pytest.approx(ref["fixef"]["(Intercept)"], abs=1e-3)
    assert res.params["x"] == pytest.approx(ref["fixef"]["x"], abs=1e-4)
    assert res.params["sd(g:Intercept)"] == pytest.approx(ref["sd"], rel=1e-3)


def test_adaptation_recentres_from_nodes_fitted_elsewhere():
    """Nodes adapted at the start values, then re-adapted at the estimates, give the same
    log-likelihood as nodes adapted there from scratch."""
    d = pd.read_csv(REF / "data" / "large_counts_poisson.csv")
    m = gm.MixtureModel.from_formula("y ~ x + (1|g)", d, family="poisson")
    ref = VAL["poisson"]
    th = np.array([ref["fixef"]["(Intercept)"], ref["fixef"]["x"], ref["sd"]])
    fresh = gm.MixtureModel.from_formula("y ~ x + (1|g)", d, family="poisson").likelihood.adapt(th)
    lik = m.likelihood
    lik.adapt(m.start_params())
    assert lik.adapt(th) == pytest.approx(fresh, abs=1e-8)
    assert fresh == pytest.approx(ref["logLik"], abs=1e-3)


def test_convergence_is_judged_by_the_newton_step_not_the_raw_gradient():
    """Correlated random slopes with counts near 8,000: the gradient at the maximum is 1e-4
    to 1e-3 in the parameters' units (the information is huge), which the gradient test
    called non-convergence; the Newton step's predicted gain (below 1e-7) shows the fit is
    at its maximum. glmer's Laplace estimates (its AGQ is for one effect only) agree to 1e-4
    and its log-likelihood to 1e-3 (Laplace against 15-point adaptive quadrature)."""
    ref = VAL["slopes"]
    d = pd.read_csv(REF / "data" / "large_counts_slopes.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.ConvergenceWarning)
        res = gm.fit("y ~ x + (1 + x|g)", d, family="poisson")
    assert res.converged
    assert res.llf == pytest.approx(ref["logLik"], abs=1e-3)
    assert res.params["Intercept"] == pytest.approx(ref["fixef"]["(Intercept)"], abs=1e-4)
    assert res.params["x"] == pytest.approx(ref["fixef"]["x"], abs=1e-4)
    assert res.params["sd(g:Intercept)"] == pytest.approx(ref["sd"][0], abs=1e-4)
    assert res.params["sd(g:x)"] == pytest.approx(ref["sd"][1], abs=1e-4)
    assert res.params["cor(g:x,Intercept)"] == pytest.approx(ref["cor"], abs=1e-3)
