"""Random starts of models without classes: ``starts="auto"`` starts once, ``starts=(n, k)``
draws n starting sets that also vary the scale parameters.

iris's four measurements with a random intercept and item-specific residual SDs (nlme's
varIdent model, tests/reference/scripts/lme_varident_iris.R: -705.546341) has a rival
maximum at -739.8653 (the variance moved from the intercept to the residuals), found by
maximizing the closed-form multivariate normal likelihood from many starts.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import glmmix as gm
from glmmix.estimation import perturb_scales

REF = Path(__file__).parent / "reference"
ITEMS = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]
NLME = -705.546341  # nlme::lme(..., weights = varIdent(~ 1 | item), method = "ML")


@pytest.fixture(scope="module")
def iris_long():
    wide = pd.read_csv(REF / "data" / "iris.csv")[ITEMS].copy()
    wide["id"] = np.arange(len(wide))
    return gm.wide_to_long(wide, id="id")


def test_scale_perturbations_move_sds_and_residual_sds(iris_long):
    m = gm.MixtureModel.from_formula("y ~ 0 + item + (1 | id)", iris_long, family="gaussian", sigma_by="item")
    c = m.start_params()
    t = perturb_scales(m.likelihood, c, np.random.default_rng(1))
    names = list(m.param_names)
    moved = {n for n, a, b in zip(names, c, t) if a != b}
    assert "sd(id:Intercept)" in moved and {f"sigma[{i}]" for i in ITEMS} <= moved
    sd = names.index("sd(id:Intercept)")
    assert np.sign(t[sd]) == np.sign(c[sd])


def test_one_class_random_starts_are_drawn_and_reported(iris_long):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fit("y ~ 0 + item + (1 | id)", iris_long, family="gaussian", sigma_by="item", starts=(6, 3),
                     seed=1, se="none")
    s = res.search
    assert s.mode == "fixed" and s.drawn == 6 and s.completed == 3
    assert res.llf == pytest.approx(NLME, abs=1e-5)
    # the default stays one start from the data-based centre
    one = gm.fit("y ~ 0 + item + (1 | id)", iris_long, family="gaussian", sigma_by="item", se="none")
    assert one.search.mode == "single" and one.search.drawn == 1
