"""Numerical robustness: scale equivariance, degenerate likelihoods, identification,
integration rules, determinism and failing starts."""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import glmmix as gm


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


# ----------------------------------------------------------------------------- scale
@pytest.fixture(scope="module")
def glm_data():
    rng = np.random.default_rng(7)
    n = 200
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "y": 1 + 0.52 * x + rng.normal(scale=0.5, size=n)})


@pytest.mark.parametrize("s", [1e-8, 1e-6, 1e-3, 1e3, 1e6, 1e8])
def test_gaussian_glm_outcome_scale_matches_ols(glm_data, s):
    # reference: statsmodels OLS on the same rescaled data (ML sigma = sqrt(SSR / n))
    d = glm_data.assign(y=glm_data["y"] * s)
    n = len(d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence or singularity warning at any scale
        res = gm.fit("y ~ 1 + x", d, family="gaussian")
    ols = sm.OLS(d["y"], sm.add_constant(d["x"])).fit()
    assert res.converged
    assert _rel(res.params[["Intercept", "x"]], ols.params) < 1e-6
    assert res.params["sigma"] == pytest.approx(np.sqrt(ols.ssr / n), rel=1e-6)
    assert res.llf == pytest.approx(ols.llf, rel=1e-9, abs=1e-6)
    base = gm.fit("y ~ 1 + x", glm_data, family="gaussian")
    assert res.llf == pytest.approx(base.llf - n * np.log(s), abs=1e-6)
    assert _rel(res.bse, base.bse * s) < 1e-4


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_gaussian_glm_covariate_scale(glm_data, s):
    base = gm.fit("y ~ 1 + x", glm_data, family="gaussian")
    res = gm.fit("y ~ 1 + x", glm_data.assign(x=glm_data["x"] * s), family="gaussian")
    assert _rel(res.params, base.params * np.array([1, 1 / s, 1])) < 1e-6
    assert _rel(res.bse, base.bse * np.array([1, 1 / s, 1])) < 1e-4
    assert res.llf == pytest.approx(base.llf, abs=1e-6)


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_fixed_values_stay_on_the_data_scale(lmm_data, s):
    # fix= is given in the data's units; the internal rescaling must not touch it
    base = gm.fit("y ~ x + (1 | g)", lmm_data, family="gaussian", fix={"x": 0.5, "sd(g:Intercept)": 1.0})
    res = gm.fit("y ~ x + (1 | g)", lmm_data.assign(y=lmm_data["y"] * s), family="gaussian",
                 fix={"x": 0.5 * s, "sd(g:Intercept)": 1.0 * s})
    assert list(res.params.index) == ["Intercept", "sigma"]
    assert _rel(res.params, base.params * s) < 1e-6
    assert res.llf == pytest.approx(base.llf - len(lmm_data) * np.log(s), abs=1e-6)


@pytest.mark.parametrize("s", [1e-6, 1e8])
def test_poisson_covariate_scale(s):
    rng = np.random.default_rng(3)
    x = rng.normal(size=300)
    d = pd.DataFrame({"x": x, "y": rng.poisson(np.exp(0.3 + 0.5 * x))})
    base = gm.fit("y ~ x", d, family="poisson")
    res = gm.fit("y ~ x", d.assign(x=x * s), family="poisson")
    assert res.converged and not res.boundary
    assert _rel(res.params, base.params * np.array([1, 1 / s])) < 1e-6
    assert res.llf == pytest.approx(base.llf, abs=1e-7)


@pytest.fixture(scope="module")
def mixreg_data():
    rng = np.random.default_rng(1)
    n = 300
    x = rng.normal(size=n)
    c = rng.random(n) < 0.4
    y = np.where(c, 1 + 2 * x, -1 - 0.5 * x) + rng.normal(size=n) * 0.4
    return pd.DataFrame({"x": x, "y": y})


def _mixreg(d):
    return gm.fit("y ~ 1 + x | class ~ 1", d, n_classes=2, family="gaussian", seed=3)


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_mixture_regression_outcome_and_covariate_scale(mixreg_data, s):
    base = _mixreg(mixreg_data)
    n = len(mixreg_data)
    res = _mixreg(mixreg_data.assign(y=mixreg_data["y"] * s))
    unit = np.array([1.0 if lab.startswith("logit") else s for lab in base.params.index])
    assert _rel(res.params, base.params * unit) < 1e-6
    assert res.llf == pytest.approx(base.llf - n * np.log(s), abs=1e-6)
    assert _rel(res.bse, base.bse * unit) < 1e-4
    res = _mixreg(mixreg_data.assign(x=mixreg_data["x"] * s))
    unit = np.array([1 / s if lab.endswith(":x") else 1.0 for lab in base.params.index])
    assert _rel(res.params, base.params * unit) < 1e-6
    assert res.llf == pytest.approx(base.llf, abs=1e-6)


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_latent_profile_outcome_scale(s):
    # gaussian items in a latent class model (a latent profile analysis)
    rng = np.random.default_rng(5)
    n = 150
    c = rng.random(n) < 0.4
    Y = np.where(c[:, None], [0.0, 1.0, 2.0], [2.0, 0.0, -1.0]) + 0.5 * rng.standard_normal((n, 3))
    d = pd.DataFrame({"id": np.repeat(np.arange(n), 3), "item": np.tile(["a", "b", "c"], n), "y": Y.ravel()})
    f = "y ~ 0 + item | class(id) ~ 1"
    base = gm.fit(f, d, n_classes=2, family="gaussian", seed=1)
    res = gm.fit(f, d.assign(y=d["y"] * s), n_classes=2, family="gaussian", seed=1)
    unit = np.array([1.0 if lab.startswith("logit") else s for lab in base.params.index])
    assert _rel(res.params, base.params * unit) < 1e-6
    assert res.llf == pytest.approx(base.llf - len(d) * np.log(s), abs=1e-6)


@pytest.fixture(scope="module")
def lmm_data():
    rng = np.random.default_rng(2)
    G, m = 40, 8
    g = np.repeat(np.arange(G), m)
    x = rng.normal(size=G * m)
    b0, b1 = rng.normal(size=G) * 0.8, rng.normal(size=G) * 0.5
    y = 1 + 0.5 * x + b0[g] + b1[g] * x + rng.normal(size=G * m) * 0.6
    return pd.DataFrame({"y": y, "x": x, "g": g})


@pytest.mark.parametrize("s", [1e-6, 1e6])
def test_lmm_random_slope_scale(lmm_data, s):
    f = "y ~ 1 + x + (1 + x | g)"
    base = gm.fit(f, lmm_data, family="gaussian")
    n = len(lmm_data)
    res = gm.fit(f, lmm_data.assign(y=lmm_data["y"] * s), family="gaussian")
    assert res.converged
    unit = np.array([1.0 if lab.startswith("cor") else s for lab in base.params.index])
    assert _rel(res.params, base.params * unit) < 1e-6
    assert res.llf == pytest.approx(base.llf - n * np.log(s), abs=1e-6)
    res = gm.fit(f, lmm_data.assign(x=lmm_data["x"] * s), family="gaussian")
    assert res.converged
    unit = np.array([1 / s if lab in ("x", "sd(g:x)") else 1.0 for lab in base.params.index])
    assert _rel(res.params, base.params * unit) < 1e-6
    assert res.llf == pytest.approx(base.llf, abs=1e-6)


# ----------------------------------------------------------------------------- identification
def test_more_classes_than_units_is_refused():
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": rng.integers(0, 2, 60).astype(float), "item": np.tile(list("abc"), 20),
                      "id": np.repeat(np.arange(20), 3)})
    with pytest.raises(gm.IdentificationError, match="n_classes=100.*20 id"):
        gm.fit("y ~ 0 + item | class(id) ~ 1", d, n_classes=100, family="bernoulli")


def test_more_parameters_than_observations_is_refused():
    with pytest.raises(gm.IdentificationError, match="3 free parameters.*only 2 observations"):
        gm.fit("y ~ 1 + x", pd.DataFrame({"y": [3.0, 4.0], "x": [1.0, 2.0]}), family="gaussian")


# ----------------------------------------------------------------------------- degenerate
def test_one_row_gaussian_is_refused():
    # today: llf +252 with sigma 1e-110
    with pytest.raises(gm.GlmmixError, match="free parameters"):
        gm.fit("y ~ 1", pd.DataFrame({"y": [3.0]}), family="gaussian")


def test_constant_gaussian_outcome_is_refused_unless_sigma_fixed():
    d = pd.DataFrame({"y": np.full(50, 2.0)})
    with pytest.raises(gm.DesignError, match="'y' is constant"):
        gm.fit("y ~ 1 | class ~ 1", d, n_classes=2, family="gaussian")
    res = gm.fit("y ~ 1", d, family="gaussian", fix={"sigma": 1.0})
    assert res.params["Intercept"] == pytest.approx(2.0)
    assert np.isfinite(res.llf)


def test_collapsed_class_variance_is_reported():
    # 30 tied values: a class with its own SD sits on them and the likelihood is unbounded
    rng = np.random.default_rng(0)
    d = pd.DataFrame({"y": np.r_[np.zeros(30), rng.normal(3, 1, size=30)]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = gm.fit("y ~ 1 | class ~ 1", d, n_classes=2, family="gaussian", class_specific=["sigma"],
                     seed=1, starts=(6, 2))
    kinds = {w.category for w in caught}
    assert gm.DegenerateLikelihoodWarning in kinds
    assert RuntimeWarning not in kinds  # no overflow chatter from inside numpy
    assert not res.converged
    assert any("unbounded" in w for w in res.warnings)
    assert "unbounded" in str(res.summary())
    # a class-invariant SD (the default) has a proper maximum
    with warnings.catch_warnings():
        warnings.simplefilter("error", gm.DegenerateLikelihoodWarning)
        ok = gm.fit("y ~ 1 | class ~ 1", d, n_classes=2, family="gaussian", seed=1, starts=(6, 2))
    assert ok.converged


# ----------------------------------------------------------------------------- integration rules
@pytest.fixture(scope="module")
def glmm_data():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(30), 6)
    x = rng.normal(size=g.size)
    eta = -0.3 + 0.8 * x + rng.normal(size=30)[g] * 1.2
    return pd.DataFrame({"y": (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float), "x": x, "g": g})


@pytest.mark.parametrize("n_points, match", [
    (0, "at least 1"), (-2, "at least 1"), (7.5, "positive integer"), (True, "positive integer"),
    ("9", "positive integer"), (1, "at least 3 points.*laplace"), (2, "at least 3 points"),
])
def test_unsupported_number_of_points_is_refused(glmm_data, n_points, match):
    with pytest.raises(gm.DesignError, match=match):
        gm.fit("y ~ x + (1 | g)", glmm_data, family="bernoulli", n_points=n_points)


def test_laplace_takes_one_point_only(glmm_data):
    with pytest.raises(gm.DesignError, match="laplace.*one point"):
        gm.fit("y ~ x + (1 | g)", glmm_data, family="bernoulli", integration="laplace", n_points=5)
    lap = gm.fit("y ~ x + (1 | g)", glmm_data, family="bernoulli", integration="laplace", n_points=1)
    agh = gm.fit("y ~ x + (1 | g)", glmm_data, family="bernoulli")
    assert lap.llf == pytest.approx(agh.llf, abs=1.0)  # Laplace is close to adaptive GH here


# ----------------------------------------------------------------------------- Monte Carlo labels
TRUTH2 = {"class1:Intercept": -1.0, "class2:Intercept": 2.0, "sigma": 0.5, "logit:class1:Intercept": 0.0}


def _gen2(rng):
    c = rng.random(150) < 0.5
    return pd.DataFrame({"y": np.where(c, -1.0, 2.0) + 0.5 * rng.standard_normal(150)})


def _fit2(df):
    return gm.fit("y ~ 1 | class ~ 1", df, n_classes=2, family="gaussian", seed=0, starts=(4, 2))


def test_monte_carlo_aligns_labels_to_the_truth_by_default():
    mc = gm.monte_carlo(_gen2, _fit2, TRUTH2, n_rep=8, seed=5, progress=False)
    raw = gm.monte_carlo(_gen2, _fit2, TRUTH2, n_rep=8, seed=5, progress=False, align=False)
    # classes are ordered by size, so about half the replications come out switched
    assert 0 < len(mc.relabelled) < 8
    assert abs(raw.table.loc["class1:Intercept", "bias"]) > 0.5
    assert abs(mc.table.loc["class1:Intercept", "bias"]) < 0.1
    assert mc.table.loc["class2:Intercept", "coverage"] >= 0.75
    for r in mc.relabelled:  # a switched replication: estimates swap, the logit changes sign
        e, f = mc.estimates.loc[r], raw.estimates.loc[r]
        assert e["class1:Intercept"] == f["class2:Intercept"]
        assert e["logit:class1:Intercept"] == pytest.approx(-f["logit:class1:Intercept"])
        assert mc.ses.loc[r, "logit:class1:Intercept"] == pytest.approx(raw.ses.loc[r, "logit:class1:Intercept"])


def test_align_to_truth_reexpresses_logits_against_the_new_reference():
    from glmmix.simulate import align_to_truth

    rng = np.random.default_rng(2)
    c = rng.choice(3, size=400, p=[0.2, 0.3, 0.5])
    df = pd.DataFrame({"y": np.array([-3.0, 0.0, 3.0])[c] + 0.5 * rng.standard_normal(400)})
    res = gm.fit("y ~ 1 | class ~ 1", df, n_classes=3, family="gaussian", seed=0, starts=(6, 3))
    truth = {"class1:Intercept": -3.0, "class2:Intercept": 0.0, "class3:Intercept": 3.0}
    p, b, perm = align_to_truth(res, truth)
    assert perm is not None  # classes come out by size (0.5, 0.3, 0.2)
    np.testing.assert_allclose(p[list(truth)], list(truth.values()), atol=0.15)
    prop = np.exp(np.r_[p["logit:class1:Intercept"], p["logit:class2:Intercept"], 0.0])
    np.testing.assert_allclose(prop / prop.sum(), res.class_proportions.to_numpy()[perm], rtol=1e-8)
    assert np.all(np.isfinite(b)) and np.all(b > 0)


# ----------------------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def mixture_glmm_data():
    rng = np.random.default_rng(4)
    g = np.repeat(np.arange(40), 6)
    x = rng.normal(size=g.size)
    c = rng.random(g.size) < 0.5
    eta = np.where(c, -1.0, 1.5) + 0.8 * x + rng.normal(size=40)[g]
    return pd.DataFrame({"y": (rng.random(g.size) < 1 / (1 + np.exp(-eta))).astype(float), "x": x, "g": g})


def test_parallel_starts_are_bit_identical(mixture_glmm_data):
    # adaptive quadrature: each start begins from the same adaptation state and carries its
    # own, so the order and placement of the starts cannot change a bit of the result
    joblib = pytest.importorskip("joblib")
    kw = dict(n_classes=2, family="bernoulli", seed=3, starts=(4, 2), se="none")
    f = "y ~ 1 + x + (1 | g) | class ~ 1"
    serial = gm.fit(f, mixture_glmm_data, n_jobs=1, **kw)
    with joblib.parallel_config(backend="threading"):
        par = gm.fit(f, mixture_glmm_data, n_jobs=2, **kw)
    assert serial.llf == par.llf
    np.testing.assert_array_equal(serial.theta, par.theta)
    pd.testing.assert_frame_equal(serial.starts, par.starts)


# ----------------------------------------------------------------------------- failing starts
def test_a_failing_start_is_recorded_and_the_fit_goes_on(mixreg_data, monkeypatch):
    import glmmix.estimation as est

    kw = dict(n_classes=2, family="gaussian", seed=3, starts=(6, 3))
    ok = gm.fit("y ~ 1 + x | class ~ 1", mixreg_data, **kw)
    real, calls = est.converge, []

    def flaky(lik, theta, opts):
        calls.append(1)
        if len(calls) == 2:
            raise FloatingPointError("overflow in exp")
        return real(lik, theta, opts)

    monkeypatch.setattr(est, "converge", flaky)
    res = gm.fit("y ~ 1 + x | class ~ 1", mixreg_data, **kw)
    errors = res.starts["error"].dropna()
    assert len(errors) == 1 and "FloatingPointError: overflow in exp" in errors.iloc[0]
    assert np.isnan(res.starts.loc[errors.index[0], "ll_final"])
    assert res.converged and res.llf == pytest.approx(ok.llf, abs=1e-6)

    def stage1_fails(lik, theta, *args):
        raise np.linalg.LinAlgError("singular matrix")

    monkeypatch.setattr(est, "converge", real)
    monkeypatch.setattr(est, "_stage1", stage1_fails)  # every stage-one start fails ...
    with pytest.raises(gm.EstimationError, match="every start failed.*LinAlgError: singular matrix"):
        gm.fit("y ~ 1 + x | class ~ 1", mixreg_data, n_classes=2, family="gaussian", seed=3, starts=(6, 2))


def test_every_start_failing_is_an_error_not_nan(mixreg_data, monkeypatch):
    import glmmix.estimation as est

    def broken(lik, theta, opts):
        raise ValueError("array must not contain infs or NaNs")

    monkeypatch.setattr(est, "converge", broken)
    for kw in (dict(n_classes=2, starts=(4, 2)), dict(n_classes=1)):
        with pytest.raises(gm.EstimationError, match="every start failed.*infs or NaNs"):
            gm.fit("y ~ 1 + x | class ~ 1" if kw["n_classes"] > 1 else "y ~ 1 + x", mixreg_data,
                   family="gaussian", seed=3, **kw)


def test_a_refusal_inside_a_start_is_not_swallowed(mixreg_data, monkeypatch):
    import glmmix.estimation as est

    def refuse(lik, theta, opts):
        raise NotImplementedError("not for this model")

    monkeypatch.setattr(est, "converge", refuse)
    with pytest.raises(NotImplementedError, match="not for this model"):
        gm.fit("y ~ 1 + x", mixreg_data, family="gaussian")


def test_latent_class_model_with_more_parameters_than_patterns_is_refused():
    rng = np.random.default_rng(1)
    n = 100

    def lca(J, K):
        d = pd.DataFrame({"y": rng.integers(0, 2, n * J).astype(float),
                          "item": np.tile([f"u{j}" for j in range(J)], n), "id": np.repeat(np.arange(n), J)})
        return gm.fit("y ~ 0 + item | class(id) ~ 1", d, n_classes=K, family="bernoulli", seed=1,
                      starts=(2, 1), se="none")

    # two items and two classes: 5 parameters for 3 identifiable pattern frequencies
    with pytest.raises(gm.IdentificationError, match="5 free parameters.*3 that the 4 possible"):
        lca(2, 2)
    with pytest.raises(gm.IdentificationError, match="11 free parameters"):
        lca(3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert lca(3, 2).df_model == 7  # just identified



def test_row_level_binary_mixture_needs_covariate_patterns():
    # one 0/1 value per row: a mixture of Bernoullis at a covariate pattern is one Bernoulli,
    # so forgetting class(id) in an LCA's formula (5 item patterns, 11 parameters) is refused
    L = gm.wide_to_long(gm.datasets.load("lsat"))
    with pytest.raises(gm.IdentificationError, match="5 distinct rows.*model has 11.*class\\(id\\)"):
        gm.fit("y ~ 0 + item | class ~ 1", L, n_classes=2, family="bernoulli")
    # a binary covariate: 2 patterns, 5 parameters
    rng = np.random.default_rng(2)
    d = pd.DataFrame({"x": rng.integers(0, 2, 300), "y": rng.integers(0, 2, 300)})
    with pytest.raises(gm.IdentificationError, match="2 distinct rows.*model has 5"):
        gm.fit("y ~ x | class ~ 1", d, n_classes=2, family="bernoulli")
    # a continuous covariate gives one pattern per row: a mixture of logistic regressions fits
    d["z"] = rng.normal(size=300)
    res = gm.fit("y ~ z | class ~ 1", d, n_classes=2, family="bernoulli", starts=(4, 2), se="none")
    assert np.isfinite(res.llf)

def test_model_information_is_scale_equivariant(lmm_data):
    s = 1e-6
    f = "y ~ x + (1 | g)"
    base = gm.fit(f, lmm_data, family="gaussian", se="none")
    m1 = gm.MixtureModel.from_formula(f, lmm_data, family="gaussian")
    ms = gm.MixtureModel.from_formula(f, lmm_data.assign(y=lmm_data["y"] * s), family="gaussian")
    assert list(base.params.index) == ["Intercept", "x", "sigma", "sd(g:Intercept)"]
    m1.adapt(base.theta)
    ts = base.theta * np.array([s, s, 1, s]) + np.array([0, 0, np.log(s), 0])
    ms.adapt(ts)
    f_ = np.array([1 / s, 1 / s, 1, 1 / s])
    want = f_[:, None] * m1.information(base.theta) * f_[None, :]
    norm = np.sqrt(np.outer(np.diag(want), np.diag(want)))  # entries relative to the matrix's scale
    np.testing.assert_allclose(ms.information(ts) / norm, want / norm, atol=1e-7)


def test_factored_sum_over_within_states_against_the_direct_sum():
    """Exponentials of the operands (class log-priors per prior group and node, unit
    log-densities) replace that of the sum: the log-sum-exp, the posteriors, their sums over
    nodes and over prior groups agree with the direct sum; spreads that could underflow (and
    infinite terms) are refused, so that the direct route is taken."""
    import scipy.sparse as sp

    from glmmix.likelihood import _Factored, _PriorWeights
    from glmmix.mathutils import SUM_SPREAD_LIMIT, lse_softmax

    rng = np.random.default_rng(2)
    a = 5 * rng.standard_normal((7, 2, 3, 5))  # log-priors: groups x between x within x nodes
    b = 30 * rng.standard_normal((20, 2, 3))  # unit log-densities, the same at every node
    idx = rng.integers(0, 7, 20)
    want_l, want_p = lse_softmax(a[idx] + b[..., None], axis=2)
    got_l, fac = _Factored.of(a, b, idx)
    np.testing.assert_allclose(got_l, want_l, rtol=1e-13, atol=1e-12)
    np.testing.assert_allclose(fac[np.arange(20)], want_p.reshape(20, 6, 5), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(fac[[3, 1]], want_p[[3, 1]].reshape(2, 6, 5), rtol=1e-12, atol=1e-300)
    R = rng.random((20, 2, 5))
    W = want_p * R[:, :, None, :]
    np.testing.assert_allclose(fac.node_sums(R), W.sum(axis=3).reshape(20, 6), rtol=1e-12)
    Zmap = sp.csr_matrix((np.ones(20), (idx, np.arange(20))), shape=(7, 20))
    grouped = (Zmap @ W.reshape(20, -1)).reshape(7, 6, 5)
    pw = _PriorWeights(fac, R)
    np.testing.assert_allclose(pw.grouped(), grouped, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(pw), W.reshape(20, 6, 5), rtol=1e-12, atol=1e-300)
    for bb in (np.where(np.arange(3) == 0, -2 * SUM_SPREAD_LIMIT, b), np.where(np.arange(3) == 1, -np.inf, b)):
        assert _Factored.of(a, bb, idx) is None


def test_adaptation_limits_the_shrinking_of_the_nodes_and_keeps_its_fixed_point(monkeypatch):
    """A 3-point rule (the start search's) does not resolve a classroom's posterior of a
    two-level LTA from the prior's nodes: its covariance estimate collapses (an SD of 0.002
    against 0.39) and the adaptation took 19 steps to grow it back. Each step now shrinks the
    nodes' scale by at most half: few steps, and the same fixed point as without the limit."""
    import glmmix as gm
    import glmmix.likelihood as likmod

    df = gm.datasets.load("toca_sim")
    df = df[df.classroom <= 15]
    f = "y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) | c2(student) ~ 1 + c1 + (1 | classroom)"
    model = gm.MixtureModel.from_formula(f, df, n_classes=2, family="bernoulli", measured_by="time",
                                         measurement_invariance=True)
    # a random start of the search (item logits, class logits, classroom SDs and correlation)
    theta = np.array([4.085, -2.154, -1.282, -2.31, 1.171, -2.534, 2.066, -4.22, 2.188, -3.662, 2.728,
                      -4.046, 3.439, -0.474, 2.571, -2.787, 2.958, 0.493, 2.245, -0.574, -0.51, -1.182,
                      5.335, 1.0, 1.0, 0.0])
    lik = model.likelihood.coarse()
    assert lik.integ.n_points == 3
    lik.integ.reset(lik.design.n_clusters)
    R0 = lik.integ.R.copy()
    # one step from the prior: no direction shrinks by more than half
    _, mean, cov = lik._moments_at(theta)
    lik._set_moments(mean, cov)
    S = lik.integ.R @ np.swapaxes(lik.integ.R, 1, 2)
    assert np.linalg.eigvalsh(S).min() >= 0.25 - 1e-9
    w0 = np.linalg.eigvalsh(cov)
    assert w0.min() < 0.01  # the unlimited step would have collapsed a classroom's nodes

    def steps_and_ll(limit):
        monkeypatch.setattr(likmod, "ADAPT_MAX_SHRINK", limit)
        lik.integ.R, lik.integ.m = R0.copy(), np.zeros_like(lik.integ.m)
        n = [0]
        moments = lik._moments_at

        def counted(th):
            n[0] += 1
            return moments(th)

        monkeypatch.setattr(lik, "_moments_at", counted)
        ll = lik.adapt(theta, tol=1e-3)
        k = n[0]
        return k, ll, lik.adapt(theta, max_iter=200, tol=1e-10)

    k_lim, ll_lim, fixed_lim = steps_and_ll(0.5)
    k_free, ll_free, fixed_free = steps_and_ll(0.0)
    assert k_lim <= 8 < k_free
    assert fixed_lim == pytest.approx(fixed_free, abs=1e-6)
    assert ll_lim == pytest.approx(fixed_lim, abs=1e-2)


def test_lse_softmax_sum_on_the_outcome_values():
    """Densities on the distinct values of the outcome's dimensions, expanded to the nodes
    (``take``: Model 6, FMA-GoM), one prior group or several: the exponentials of the operands
    multiply, also with log-priors of a huge spread (a class-logit SD running to infinity)
    against densities of a small one; infinite terms take the direct route."""
    from glmmix.mathutils import lse_softmax, lse_softmax_sum

    rng = np.random.default_rng(3)
    idx = rng.integers(0, 7, 20)
    take = np.repeat(np.arange(4), 5)[rng.permutation(20)]
    bq = 30 * rng.standard_normal((20, 2, 3, 4))
    b_inf = np.where(np.arange(3)[:, None] == 1, -np.inf, bq)
    for aa in (5 * rng.standard_normal((7, 2, 3, 20)), 3000 * rng.standard_normal((7, 2, 3, 20))):
        for ii, a_ in ((idx, aa), (np.zeros(20, int), aa[:1])):
            for b_ in (bq, b_inf):
                want_l, want_p = lse_softmax(a_[ii] + b_[..., take], axis=2)
                got_l, got_p = lse_softmax_sum(a_, b_, axis=2, index=ii, take=take)
                np.testing.assert_allclose(got_l, want_l, rtol=1e-13, atol=1e-12)
                # products below 1e-308 underflow: posteriors under 1e-308 / exp(-600) are lost
                np.testing.assert_allclose(got_p, want_p, rtol=1e-12, atol=1e-40)
                assert got_p.flags.c_contiguous
