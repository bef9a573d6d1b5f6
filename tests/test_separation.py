"""Quasi-separation: coefficients that run to infinity together.

When every row of one factor level has y = 1, the intercept runs to +inf and the other
level's contrast to -inf; only their sum is finite. The supremum of the log-likelihood is in
closed form (the saturated fit of the separated level plus the binomial ML of the others).
"""

import warnings

import numpy as np
import pandas as pd
import pytest

import glmmix as gm


def _quasi_separated(seed=0):
    rng = np.random.default_rng(seed)
    n = 100
    f = np.where(np.arange(n) < 10, "a", "b")
    y = np.where(f == "a", 1, rng.integers(0, 2, n))
    return pd.DataFrame({"y": y, "f": f, "x": rng.normal(size=n)})


def test_quasi_separation_by_a_factor_is_a_boundary():
    d = _quasi_separated()
    yb = d.loc[d.f == "b", "y"]
    p = yb.mean()
    sup = float(yb.sum() * np.log(p) + (len(yb) - yb.sum()) * np.log(1 - p))  # level a adds log 1 = 0
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = gm.fit("y ~ f", d, family="bernoulli")
    assert res.llf == pytest.approx(sup, abs=1e-5)
    names = sorted(res.params.index[i] for i in res.boundary)
    assert names == ["Intercept", "f[T.b]"]
    assert res.bse.isna().all()
    assert any(issubclass(w.category, gm.BoundaryWarning) and "f[T.b]" in str(w.message) for w in rec)
    # the finite combination (level b's logit) is still the binomial ML
    assert res.params["Intercept"] + res.params["f[T.b]"] == pytest.approx(np.log(p / (1 - p)), abs=1e-3)


def test_no_boundary_without_separation():
    d = _quasi_separated()
    d.loc[0, "y"] = 0  # level a now has both outcomes: every estimate is finite
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.BoundaryWarning)
        res = gm.fit("y ~ f + x", d, family="bernoulli")
    assert not res.boundary and res.bse.notna().all()
