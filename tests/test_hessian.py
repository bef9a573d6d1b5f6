"""The exact Hessian of mixtures without random effects (Louis' identity,
``inference.louis_hessian``) against central differences of the exact gradient, on the
internal coordinates the standard errors use; models outside its reach take differences."""

import numpy as np
import pytest

import glmmix as gm
from glmmix import inference
from glmmix.scaling import internal


@pytest.fixture(scope="module")
def lsat_long():
    rng = np.random.default_rng(3)
    w = gm.datasets.load("lsat").copy()
    w["z"] = rng.normal(size=len(w))
    w["w"] = rng.uniform(0.5, 2.0, len(w))
    w["fw"] = rng.integers(1, 4, len(w))
    long = gm.wide_to_long(w, items=[c for c in w.columns if c not in ("z", "w", "fw")])
    long["cnt"] = rng.poisson(2.0, len(long))
    long["n"] = 4
    long["k"] = rng.binomial(4, 0.4, len(long))
    return long


def _toca():
    df = gm.datasets.load("toca_sim")
    return df[df.classroom <= 8]


CASES = {
    "one class": ("y ~ 0 + item | class(id) ~ 1", 1, dict(family="bernoulli")),
    "LCA logit": ("y ~ 0 + item | class(id) ~ 1", 3, dict(family="bernoulli")),
    "LCA probit": ("y ~ 0 + item | class(id) ~ 1", 2, dict(family="bernoulli", link="probit")),
    "class covariate": ("y ~ 0 + item | class(id) ~ 1 + z", 3, dict(family="bernoulli")),
    "invariant items": ("y ~ 0 + item + z | class(id) ~ 1 + z", 2, dict(family="bernoulli", invariant=["item"])),
    "fix and equal": ("y ~ 0 + item | class(id) ~ 1", 2, dict(family="bernoulli", fix={"class1:item[I1]": 1.0},
                                                               equal=[["class1:item[I2]", "class2:item[I3]"]])),
    "sampling weights": ("y ~ 0 + item | class(id) ~ 1 + z", 2, dict(family="bernoulli", weights="w")),
    "frequency weights": ("y ~ 0 + item | class(id) ~ 1", 2, dict(family="bernoulli", freq_weights="fw")),
    "poisson": ("cnt ~ 0 + item | class(id) ~ 1", 2, dict(family="poisson")),
    "binomial probit": ("k ~ 0 + item | class(id) ~ 1", 2, dict(family="binomial", trials="n", link="probit")),
    "row classes": ("y ~ 0 + item | class ~ 1", 2, dict(family="bernoulli")),
}


def _compare(model, rng):
    lik = model.likelihood
    slik, rs = internal(lik)
    u = rs.to_internal(model.start_params() + 0.3 * rng.standard_normal(model.layout.n_free))
    exact = inference.louis_hessian(slik, u)
    assert exact is not None
    num = inference.numeric_hessian(slik.gradient, u)
    np.testing.assert_allclose(exact, num, rtol=0, atol=1e-7 * np.abs(num).max())
    return exact


@pytest.mark.parametrize("case", list(CASES))
def test_exact_hessian_equals_differences_of_the_gradient(case, lsat_long, rng):
    formula, K, kw = CASES[case]
    _compare(gm.MixtureModel.from_formula(formula, lsat_long, n_classes=K, **kw), rng)


def test_exact_hessian_of_a_latent_transition_model(rng):
    """Several class variables (the joint state, a parent's dummies in the child's logits),
    measurement invariance tying items across the variables."""
    m = gm.MixtureModel.from_formula("y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1", _toca(),
                                     n_classes=3, family="bernoulli", measured_by="time", measurement_invariance=True)
    _compare(m, rng)


def test_standard_errors_of_a_fit_equal_those_of_differences(lsat_long):
    """The reported SEs (exact Hessian) agree with the central-difference ones to 1e-6."""
    res = gm.fit("y ~ 0 + item | class(id) ~ 1 + z", lsat_long, n_classes=2, family="bernoulli", seed=1,
                 starts=(4, 2))
    old = inference.HESSIAN_METHOD
    try:
        inference.HESSIAN_METHOD = "central"
        cov, _ = inference.covariance(res.model.likelihood, res.theta, boundary=res.boundary)
    finally:
        inference.HESSIAN_METHOD = old
    se = np.sqrt(np.diag(cov))
    ok = np.isfinite(se)
    assert ok.sum() >= res.theta.size - len(res.boundary) > 0
    np.testing.assert_allclose(np.asarray(res.bse)[ok], se[ok], rtol=1e-6)


@pytest.mark.parametrize("formula, kw", [
    ("y ~ 0 + item | class(id) ~ 1", dict(n_classes=2, family="gaussian")),  # a residual SD
    ("y ~ 0 + item + (1 | id)", dict(family="bernoulli")),  # random effects
])
def test_models_outside_the_exact_hessian_take_differences(formula, kw, lsat_long):
    m = gm.MixtureModel.from_formula(formula, lsat_long, **kw)
    assert inference.louis_hessian(m.likelihood, m.start_params()) is None
    H = inference.hessian(m.likelihood, m.start_params())
    np.testing.assert_allclose(H, inference.numeric_hessian(m.likelihood.gradient, m.start_params()))
