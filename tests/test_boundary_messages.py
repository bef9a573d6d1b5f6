"""Boundary and runaway messages: estimates that run off are flagged, and named on their own scale."""

import numpy as np

from glmmix.estimation import HUGE_RE, unresolved_message, unresolved_params
from glmmix.scaling import ScaledLikelihood, Rescaling
from helpers import make_lik, mixed_data


def _runaway(family, formula="y ~ x + (1 | unit)", K=1):
    lik = make_lik(formula, mixed_data(np.random.default_rng(3), n_units=20, family=family), K, family)
    theta = np.zeros(lik.layout.n_free)
    i = [k for k, lab in enumerate(lik.layout.labels) if lab.startswith("sd(")][0]
    theta[i] = 2 * HUGE_RE
    assert unresolved_params(lik, theta) == [i]
    return lik, theta, i


def test_runaway_message_names_the_link_scale():
    lik, theta, i = _runaway("bernoulli")
    msg = unresolved_message(lik, [i], -10.0)
    assert "sd(unit:Intercept) beyond 50 logits" in msg and "step function" in msg
    lik, theta, i = _runaway("poisson")
    assert "beyond 50 log units" in unresolved_message(lik, [i], -10.0)


def test_gaussian_runaway_message_speaks_of_the_outcomes_units_not_logits():
    lik, theta, i = _runaway("gaussian")
    msg = unresolved_message(lik, [i], -10.0)
    assert "logit" not in msg and "beyond 50 in the outcome's units" in msg and "spike" in msg
    # in internal coordinates the threshold is HUGE_RE times the parameter's scale
    a = np.ones(lik.layout.n_free)
    a[i] = 8.0
    scaled = ScaledLikelihood(lik, Rescaling(a, np.zeros_like(a)))
    assert "beyond 400 in the outcome's units (50 times its scale)" in unresolved_message(scaled, [i], -10.0)


def test_class_logit_runaway_message_says_class_logits():
    lik, theta, i = _runaway("gaussian", "y ~ x | class ~ 1 + (1 | unit)", K=2)
    assert "beyond 50 class logits" in unresolved_message(lik, [i], -10.0)
