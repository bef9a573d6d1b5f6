"""Latent class analysis against established software.

Log-likelihoods: ../shared/REFERENCE-VALUES.md (poLCA 1.6, flexmix 2.3.18 and StepMix 3.0.0,
best maximum over many random starts); carcinoma values are also published with poLCA
(Linzer & Lewis 2011: -317.26 for 2 classes, -293.71 for 3).
"""

import warnings

import numpy as np
import pytest

import glmmix as gm

LCA = "y ~ 0 + item | class(id) ~ 1"


def fit_quiet(*a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gm.BoundaryWarning)
        return gm.fit(*a, **k)


@pytest.mark.parametrize("K, ll, npar", [(2, -317.2568, 15), (3, -293.7050, 23)])
def test_carcinoma(carcinoma_long, K, ll, npar):
    # poLCA: poLCA(cbind(A,B,C,D,E,F,G) ~ 1, carcinoma, nclass = K, nrep = 50)
    res = fit_quiet(LCA, carcinoma_long, n_classes=K, family="bernoulli", seed=2)
    assert res.llf == pytest.approx(ll, abs=1e-3)
    assert res.df_model == npar
    assert res.converged and res.best_replicated
    assert np.all(np.diff(res.class_proportions.to_numpy()) <= 0)  # canonical order


def test_carcinoma_4_classes(carcinoma_long):
    # flexmix (1 of 20 starts) and StepMix (11 of 60 starts): -289.2859, 31 parameters
    res = fit_quiet(LCA, carcinoma_long, n_classes=4, family="bernoulli", seed=3, starts=(40, 8))
    assert res.llf == pytest.approx(-289.2859, abs=1e-3)
    assert res.df_model == 31


@pytest.mark.parametrize("K, ll, npar", [(2, -2467.4055, 11), (3, -2464.6505, 17)])
def test_lsat(lsat_long, K, ll, npar):
    # flexmix / StepMix (StepMix's plain EM needs ~800 iterations for K = 2)
    res = fit_quiet(LCA, lsat_long, n_classes=K, family="bernoulli", seed=1)
    assert res.llf == pytest.approx(ll, abs=1e-3)
    assert res.df_model == npar
    assert res.converged
    assert res.grad_max < 1e-2


def test_ability_with_missing_responses():
    # flexmix / StepMix on the 1248 complete cases: -11067.5175 (K = 2). Long format keeps
    # every observed response of all 1525 persons; on complete cases the value must agree.
    wide = gm.datasets.load("ability")
    complete = wide.dropna().reset_index(drop=True)
    long = gm.wide_to_long(complete)
    res = fit_quiet(LCA, long, n_classes=2, family="bernoulli", seed=1, se="none")
    assert res.llf == pytest.approx(-11067.5175, abs=1e-3)
    full = gm.wide_to_long(wide)
    assert full.attrs["n_missing"] == int(wide.isna().sum().sum())


def test_verbagg_wide_two_classes():
    # flexmix / StepMix: -4149.8543, 49 parameters
    long = gm.wide_to_long(gm.datasets.load("verbagg_wide"), id="id")
    res = fit_quiet(LCA, long, n_classes=2, family="bernoulli", seed=1, se="none")
    assert res.llf == pytest.approx(-4149.8543, abs=1e-3)
    assert res.df_model == 49
