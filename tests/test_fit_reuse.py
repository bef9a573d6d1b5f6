"""A fit's simpler model equal to an earlier fit (same model, data and options) is that fit
(``nesting.remember``): the same estimates as fitting it again, and no second fit."""

import warnings

import numpy as np
import pytest

import glmmix as gm
from glmmix import nesting
from glmmix.estimation import FitOptions
from glmmix.model import MixtureModel

LCA = "y ~ 0 + item | class(id) ~ 1"
FMA = "y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1"


@pytest.fixture
def lsat():
    d = gm.wide_to_long(gm.datasets.load("lsat"))
    return d[d.id < d.id.unique()[150]].reset_index(drop=True)


@pytest.fixture
def fits(monkeypatch):
    """The formulas of the models fitted (MixtureModel.fit calls)."""
    seen = []
    orig = MixtureModel.fit

    def fit(self, *a, **k):
        seen.append(self.spec["formula"])
        return orig(self, *a, **k)

    monkeypatch.setattr(MixtureModel, "fit", fit)
    return seen


def _gom(data, seed=1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return gm.gom(data, 2, seed=seed, verbose=False, starts=(2, 1))


def test_simpler_model_is_the_earlier_fit(lsat, fits):
    lca = gm.lca(lsat, 2, seed=1, verbose=False, starts=(2, 1))
    assert fits == [LCA]
    gom = _gom(lsat)
    assert LCA not in fits[1:]  # the GoM's between limit is the LCA fitted above
    nesting._FITTED.clear()  # nothing remembered: the LCA is fitted again
    fits.clear()
    fresh = _gom(lsat)
    assert LCA in fits
    np.testing.assert_array_equal(gom.theta, fresh.theta)
    assert gom.llf == fresh.llf
    del lca


def test_no_earlier_fit_with_other_data_or_options(lsat, fits):
    lca = gm.lca(lsat, 2, seed=1, verbose=False, starts=(2, 1))
    other = lsat.copy()
    other.loc[0, "y"] = 1 - other.loc[0, "y"]
    _gom(other)
    assert fits.count(LCA) == 2  # other data
    _gom(lsat, seed=2)
    assert fits.count(LCA) == 3  # another seed
    lsat.loc[0, "y"] = 1 - lsat.loc[0, "y"]  # the fitted frame changed in place
    _gom(lsat)
    assert fits.count(LCA) == 4
    del lca


def test_no_earlier_fit_once_released_or_readapted(lsat, fits):
    lca = gm.lca(lsat, 2, seed=1, verbose=False, starts=(2, 1))
    del lca  # only a weak reference is kept
    _gom(lsat)
    assert fits.count(LCA) == 2
    opts = FitOptions(seed=1, n_starts=2, n_final=1)
    fma = MixtureModel.from_formula(FMA, lsat, n_classes=2, family="bernoulli").fit(options=opts, se="none")
    model = MixtureModel.from_formula(FMA, lsat, n_classes=2, family="bernoulli")
    assert nesting._remembered(model, opts) is fma
    assert nesting._remembered(model, FitOptions(seed=1, n_starts=2, n_final=2)) is None
    fma.model.adapt(fma.theta * 1.1)  # its nodes moved: no longer as fitted
    assert nesting._remembered(model, opts) is None
