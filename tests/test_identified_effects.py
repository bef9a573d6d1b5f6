"""Random effects that the data cannot identify are refused before fitting, by name: one
group per row with a residual SD (gaussian), or with one binary / ordinal response per group
(probit: only beta / sqrt(1 + sd^2) is identified; logit: the SD rests on the link's tails
alone, and the fit runs the SD off to infinity). Counts and binomial outcomes with trials keep
observation-level random effects (overdispersion)."""

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix import DesignError


@pytest.fixture
def rows():
    rng = np.random.default_rng(1)
    n = 120
    x = rng.normal(size=n)
    return pd.DataFrame({"g": np.arange(n), "x": x, "b": (rng.random(n) < 1 / (1 + np.exp(-x))).astype(int),
                         "yn": 2 * x + rng.normal(size=n), "c": rng.poisson(np.exp(0.5 + 0.3 * x)),
                         "k": rng.integers(0, 4, n), "o": rng.integers(0, 3, n)})


@pytest.mark.parametrize("formula, family, match", [
    ("yn ~ x + (1|g)", "gaussian", "residual cannot be told apart"),
    ("b ~ x + (1|g)", "bernoulli", "one binary \\(or ordinal\\) response per group"),
    ("cbind(b, 1 - b) ~ x + (1|g)", "binomial", "one binary"),
    ("o ~ x + (1|g)", "ordinal", "one binary"),
])
def test_one_group_per_row_is_refused(rows, formula, family, match):
    with pytest.raises(DesignError, match=f"random term '\\(1 \\| g\\)'.*{match}"):
        gm.MixtureModel.from_formula(formula, rows, family=family)


def test_observation_level_effects_of_counts_are_kept(rows):
    for formula, family in (("c ~ x + (1|g)", "poisson"), ("cbind(k, 3 - k) ~ x + (1|g)", "binomial")):
        model = gm.MixtureModel.from_formula(formula, rows, family=family)
        assert "sd(g:Intercept)" in model.param_names
    # two responses per group identify the effects of binary outcomes
    two = pd.concat([rows, rows.assign(b=1 - rows["b"])], ignore_index=True)
    assert "sd(g:Intercept)" in gm.MixtureModel.from_formula("b ~ x + (1|g)", two, family="bernoulli").param_names
