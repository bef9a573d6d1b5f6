"""Invariant battery for every family: densities against scipy.stats, derivatives against
finite differences, expected information against its definition."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from glmmix import families
from glmmix.families import FamilyData, get_family


def _prepared(name, link, y, **aux):
    fam = get_family(name, link)
    a = FamilyData(**aux)
    yv = fam.prepare(pd.Series(y, name="y"), a)
    return fam, yv, a


CASES = [
    ("bernoulli", "logit"),
    ("bernoulli", "probit"),
    ("poisson", "log"),
    ("gaussian", "identity"),
    ("ordinal", "logit"),
    ("ordinal", "probit"),
]


def _data(name, rng, n=40):
    if name == "bernoulli":
        return rng.integers(0, 2, n).astype(float)
    if name == "poisson":
        return rng.poisson(2.0, n).astype(float)
    if name == "gaussian":
        return rng.normal(1.0, 2.0, n)
    return np.tile([0.0, 1.0, 2.0, 3.0], n // 4)


def _extra(fam, aux, rng, S):
    E = fam.n_extra(aux)
    if fam.name == "ordinal":
        return np.tile(fam.extra_from_natural(np.array([-1.0, 0.2, 1.5]), aux), (S, 1)) + 0.1 * rng.standard_normal((S, E))
    return 0.3 * rng.standard_normal((S, E))


def test_densities_match_scipy(rng):
    eta = rng.normal(0, 1.5, (40, 2))
    y = rng.integers(0, 2, 40).astype(float)
    fam, yv, aux = _prepared("bernoulli", "logit", y)
    ref = stats.bernoulli.logpmf(y[:, None], 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(fam.evaluate(yv, eta, np.zeros((2, 0)), aux).logf, ref, rtol=1e-12)
    fam, yv, aux = _prepared("bernoulli", "probit", y)
    ref = stats.bernoulli.logpmf(y[:, None], stats.norm.cdf(eta))
    np.testing.assert_allclose(fam.evaluate(yv, eta, np.zeros((2, 0)), aux).logf, ref, rtol=1e-10)
    yc = rng.poisson(3, 40).astype(float)
    fam, yv, aux = _prepared("poisson", "log", yc)
    ref = stats.poisson.logpmf(yc[:, None], np.exp(eta))
    np.testing.assert_allclose(fam.evaluate(yv, eta, np.zeros((2, 0)), aux).logf, ref, rtol=1e-10)
    yg = rng.normal(size=40)
    fam, yv, aux = _prepared("gaussian", None, yg)
    ls = np.array([[0.3], [-0.2]])
    ref = stats.norm.logpdf(yg[:, None], eta, np.exp(ls[:, 0])[None, :])
    np.testing.assert_allclose(fam.evaluate(yv, eta, ls, aux).logf, ref, rtol=1e-12)
    yb = rng.integers(0, 6, 40).astype(float)
    fam, yv, aux = _prepared("binomial", "logit", yb, trials=np.full(40, 5.0))
    ref = stats.binom.logpmf(yb[:, None], 5, 1 / (1 + np.exp(-eta)))
    np.testing.assert_allclose(fam.evaluate(yv, eta, np.zeros((2, 0)), aux).logf, ref, rtol=1e-10)


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_ordinal_probabilities(link, rng):
    y = np.tile([0.0, 1.0, 2.0, 3.0], 10)
    fam, yv, aux = _prepared("ordinal", link, y)
    tau = np.array([-1.0, 0.2, 1.5])
    a = fam.extra_from_natural(tau, aux)
    np.testing.assert_allclose(fam.extra_natural(a, aux), tau)
    eta = rng.normal(size=(40, 1))
    F = stats.logistic.cdf if link == "logit" else stats.norm.cdf
    cum = np.concatenate([np.zeros((40, 1)), F(tau[None, :] - eta), np.ones((40, 1))], axis=1)
    p = cum[np.arange(40), yv.astype(int) + 1] - cum[np.arange(40), yv.astype(int)]
    np.testing.assert_allclose(fam.evaluate(yv, eta, a[None, :], aux).logf[:, 0], np.log(p), rtol=1e-10)
    # probabilities of all categories sum to one; extreme eta stays finite
    a3 = replace(aux, threshold_group=np.zeros(3, np.intp))
    tot = sum(np.exp(fam.evaluate(np.full(3, float(k)), np.array([[-40.0], [0.0], [40.0]]), a[None, :], a3).logf) for k in range(4))
    np.testing.assert_allclose(tot, 1.0, rtol=1e-12)


@pytest.mark.parametrize("name, link", CASES)
def test_derivatives_match_finite_differences(name, link, rng):
    y = _data(name, rng)
    fam, yv, aux = _prepared(name, link, y)
    S = 2
    eta = rng.normal(0.3, 1.0, (len(y), S))
    extra = _extra(fam, aux, rng, S)
    fe = fam.evaluate(yv, eta, extra, aux)
    h = 1e-6
    num = (fam.evaluate(yv, eta + h, extra, aux).logf - fam.evaluate(yv, eta - h, extra, aux).logf) / (2 * h)
    np.testing.assert_allclose(fe.d_eta, num, rtol=1e-5, atol=1e-7)
    if fe.d_extra is not None:
        E = extra.shape[1]
        for e in range(E):
            ep, em = extra.copy(), extra.copy()
            ep[:, e] += h
            em[:, e] -= h
            num = (fam.evaluate(yv, eta, ep, aux).logf - fam.evaluate(yv, eta, em, aux).logf) / (2 * h)
            ana = np.zeros_like(num)
            for j in range(fe.extra_cols.shape[1]):
                ana += np.where(fe.extra_cols[:, j:j + 1] == e, fe.d_extra[:, :, j], 0.0)
            np.testing.assert_allclose(ana, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name, link", CASES)
def test_expected_information(name, link, rng):
    """w_eta equals E[(dlogf/deta)^2] (Fisher information), computed by enumeration or sampling."""
    y = _data(name, rng)
    fam, _, aux = _prepared(name, link, y)
    eta = np.array([[0.4]])
    extra = _extra(fam, aux, rng, 1)
    if name == "gaussian":
        expected = np.exp(-2 * extra[0, 0])
    else:
        support = np.arange(4.0) if name == "ordinal" else (np.arange(60.0) if name == "poisson" else np.array([0.0, 1.0]))
        a = replace(aux)
        if name == "ordinal":
            a.threshold_group = np.zeros(len(support), np.intp)
        if name == "poisson":
            a.lgy = special.gammaln(support + 1)
        if name == "bernoulli":
            a.trials = np.ones(2)
            a.lchoose = np.zeros(2)
        fe = fam.evaluate(support, np.repeat(eta, len(support), 0), extra, a)
        expected = float((np.exp(fe.logf) * fe.d_eta**2).sum())
    got = fam.evaluate(np.array([y[0]]), eta, extra, replace(aux, threshold_group=np.zeros(1, np.intp),
                                                             trials=np.ones(1), lchoose=np.zeros(1),
                                                             lgy=np.zeros(1))).w_eta
    np.testing.assert_allclose(got, expected, rtol=1e-8)


@pytest.mark.parametrize("link", ["logit", "probit"])
@pytest.mark.parametrize("tau", [[-1.0, 0.2, 1.5], [0.3], [-2.0, 3.0]])
def test_ordinal_expected_information_of_eta_and_thresholds(link, tau, rng):
    """w_extra (eta with the unconstrained thresholds a, and a with a) equals E[s s'] of the
    scores s = (d logf / d eta, d logf / d a) by enumeration over the categories, and a shift
    of eta with every threshold carries no information (I(eta, tau) = -sum_s I(tau, tau_s))."""
    m = len(tau)
    support = np.arange(m + 1.0)
    fam, _, aux = _prepared("ordinal", link, np.tile(support, 3))
    a = fam.extra_from_natural(np.array(tau), aux)
    extra = np.tile(a, (2, 1)) + 0.2 * rng.standard_normal((2, m))
    eta = np.array([[0.4, -1.3]])
    a1 = replace(aux, threshold_group=np.zeros(len(support), np.intp))
    fe = fam.evaluate(support, np.repeat(eta, len(support), 0), extra, a1)
    p = np.exp(fe.logf)  # (categories, states)
    s = np.concatenate([fe.d_eta[:, :, None], fe.d_extra], axis=2)  # cols are 0..m-1 for every row
    expected = np.einsum("cs,csi,csj->sij", p, s, s)
    one = replace(aux, threshold_group=np.zeros(1, np.intp))
    got = fam.evaluate(np.array([0.0]), eta, extra, one)
    cross, block = got.w_extra
    np.testing.assert_allclose(got.w_eta[0], expected[:, 0, 0], rtol=1e-10)
    np.testing.assert_allclose(cross[0], expected[:, 0, 1:], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(block[0], expected[:, 1:, 1:], rtol=1e-10, atol=1e-14)
    # on the thresholds themselves (a_0 = tau_1 moves them all): eta and tau_1 together are free
    np.testing.assert_allclose(cross[0][:, 0], -block[0][:, 0, 0], rtol=1e-10)
    np.testing.assert_allclose(got.w_eta[0], block[0][:, 0, 0], rtol=1e-10)


def test_family_data_rows_subset_only_row_fields():
    fd = FamilyData(trials=np.array([1.0, 2.0, 3.0]), threshold_group=np.array([0, 1, 0]),
                    threshold_levels=["a", "b"], threshold_mgroup=np.array([0, 0]), n_cat=3)
    sub = fd.rows(np.array([2, 0]))
    np.testing.assert_array_equal(sub.trials, [3.0, 1.0])
    np.testing.assert_array_equal(sub.threshold_group, [0, 0])
    assert sub.threshold_levels == ["a", "b"] and sub.n_cat == 3
    np.testing.assert_array_equal(sub.threshold_mgroup, [0, 0])  # per threshold set, not per row
    assert fd.model_fields() == {"n_cat": 3, "threshold_levels": ["a", "b"]}
    assert [c.tolist() for c in fd.row_columns()] == [[0.0, 1.0, 0.0], [1.0, 2.0, 3.0]]


def test_probit_binary_path_equals_the_two_tail_formula_into_the_far_tails(rng):
    """0/1 probit outcomes take one log cdf per cell (log Phi(+-eta), ``families.log_ndtr``'s
    table, within 1e-12 relative of scipy's) and derive the working weight from it; the values
    equal the two-tail binomial formula, out to |eta| = 60 where Phi(-|eta|) is below the
    smallest normal number."""
    eta = np.concatenate([rng.normal(0, 3, (60, 3)), np.array([[-60.0, -38.0, -8.5], [60.0, 38.0, 8.5]] * 2)])
    y = np.concatenate([rng.integers(0, 2, 60), [0, 0, 1, 1]]).astype(float)
    fam, yv, aux = _prepared("bernoulli", "probit", y)
    fe = fam.evaluate(yv, eta, np.zeros((3, 0)), aux)
    lp, lq = special.log_ndtr(eta), special.log_ndtr(-eta)
    yy = y[:, None]
    phi = stats.norm.logpdf(eta)
    np.testing.assert_allclose(fe.logf, yy * lp + (1 - yy) * lq, rtol=1e-12)
    np.testing.assert_allclose(fe.d_eta, yy * np.exp(phi - lp) - (1 - yy) * np.exp(phi - lq), rtol=1e-11)
    np.testing.assert_allclose(fe.w_eta, np.exp(2 * phi - lp - lq), rtol=1e-10)
    assert np.all(np.isfinite(fe.w_eta)) and np.all(fe.w_eta >= 0)
    assert fam.evaluate(yv, eta, np.zeros((3, 0)), aux, derivs=False).w_eta is None
    # binomial counts keep the general formula
    yb = rng.integers(0, 4, 60).astype(float)
    fam, yv, aux = _prepared("binomial", "probit", yb, trials=np.full(60, 3.0))
    ref = stats.binom.logpmf(yb[:, None], 3, stats.norm.cdf(eta[:60] / 3))
    np.testing.assert_allclose(fam.evaluate(yv, eta[:60] / 3, np.zeros((3, 0)), aux).logf, ref, rtol=1e-9)


def test_log_ndtr_table_against_scipy_and_its_derivatives():
    """``families.log_ndtr`` (piecewise polynomials of log(-log Phi)) against
    ``scipy.special.log_ndtr`` on a dense grid over [-60, 60] (outside the table's [-38, 37),
    and for infinities and NaN, scipy's own values): within 1e-12 relative, the upper tail
    (Phi(z) within 1e-290 of 1) included; with ``derivs``, log phi and phi / Phi; across the
    blocks it works in (sizes not a multiple of the block)."""
    z = np.concatenate([np.linspace(-60.0, 60.0, 240_007), [np.inf, -np.inf, np.nan, 0.0, -0.0]])
    ref = special.log_ndtr(z)
    with np.errstate(invalid="ignore"):  # phi / Phi at -inf: NaN, as inf / inf
        lp, lphi, ratio = families.log_ndtr(z, derivs=True)
    fin = np.isfinite(ref) & (ref != 0.0)
    assert np.max(np.abs(lp[fin] / ref[fin] - 1.0)) < 1e-12
    assert np.array_equal(lp[~fin], ref[~fin], equal_nan=True)
    np.testing.assert_allclose(lphi[:-5], stats.norm.logpdf(z[:-5]), rtol=1e-15)
    ok = np.isfinite(z) & (z > -38.0)
    np.testing.assert_allclose(ratio[ok], np.exp(stats.norm.logpdf(z[ok]) - ref[ok]), rtol=1e-11, atol=1e-300)
    np.testing.assert_array_equal(families.log_ndtr(z.reshape(-1, 1)[:240_000].reshape(4000, 60)),
                                  lp[:240_000].reshape(4000, 60))
    # d log Phi / dz = phi / Phi: central differences of the table's values
    zc = np.linspace(-30.0, 8.0, 3001)
    h = 1e-5
    fd = (families.log_ndtr(zc + h) - families.log_ndtr(zc - h)) / (2 * h)
    np.testing.assert_allclose(fd, families.log_ndtr(zc, derivs=True)[2], rtol=1e-6, atol=1e-12)


def test_log_ndtr_table_is_its_polynomials_to_the_bit(rng):
    """The table's blocked evaluation (one gather of an interval's coefficients per cell, Horner
    in place) gives, to the last bit, the polynomial of the cell's interval written out cell by
    cell: log Phi(z) = -exp(p_j(t)), j = floor((z - LO) S), t = (z - LO) S - j - 1/2; across
    block boundaries (a size that is not a multiple of the block) and at the intervals' ends."""
    T = families._LogNdtr()
    edges = T.LO + np.arange(0, T.n, 97) / T.S
    z = np.concatenate([rng.uniform(T.LO, T.HI, 3 * T.BLOCK + 11), edges, np.nextafter(edges, np.inf)])
    w = (z - T.LO) * T.S
    j = np.floor(w).astype(np.intp)
    t = w - j - 0.5
    p = T.coef[j, 0].copy()
    for k in range(1, T.DEG + 1):
        p = p * t + T.coef[j, k]
    lp, lphi, ratio = T(z, derivs=True)
    np.testing.assert_array_equal(lp, -np.exp(p))
    np.testing.assert_array_equal(lphi, -0.5 * z * z - 0.5 * families.LOG_2PI)
    np.testing.assert_array_equal(ratio, np.exp(lphi - lp))
    np.testing.assert_array_equal(T(z), lp)


def test_logit_binary_path_is_the_binomial_formula_to_the_bit(rng):
    """0/1 logit outcomes with one trial skip the binomial formula's factors 1 and terms 0 and
    work in place (``families._logit_binary``): the same numbers to the last bit, signed zeros,
    infinities and NaN included; binomial counts keep the formula."""
    eta = np.concatenate([rng.normal(0, 4, (60, 3)), [[0.0, -0.0, 40.0], [-40.0, 800.0, -800.0],
                                                      [np.inf, -np.inf, np.nan]]])
    y = np.concatenate([rng.integers(0, 2, 60), [0, 1, 1]]).astype(float)
    fam, yv, aux = _prepared("bernoulli", "logit", y)
    with np.errstate(invalid="ignore"):
        fe = fam.evaluate(yv, eta, np.zeros((3, 0)), aux)
        yy, n = y[:, None], np.ones((len(y), 1))
        lp = -families.softplus(-eta)  # the binomial formula, as families.Binomial.evaluate writes it
        logf = n * lp - (n - yy) * eta + np.zeros((len(y), 1))
        p = np.exp(lp)
    for got, ref in ((fe.logf, logf), (fe.d_eta, yy - n * p), (fe.w_eta, n * p * (1.0 - p))):
        assert got.tobytes() == ref.tobytes()
    assert fam.evaluate(yv, eta, np.zeros((3, 0)), aux, derivs=False).logf.tobytes() == logf.tobytes()
    yb = rng.integers(0, 4, 63).astype(float)
    fam, yv, aux = _prepared("binomial", "logit", yb, trials=np.full(63, 3.0))
    ref = stats.binom.logpmf(yb[:, None], 3, special.expit(eta / 3))
    with np.errstate(invalid="ignore"):
        np.testing.assert_allclose(fam.evaluate(yv, eta / 3, np.zeros((3, 0)), aux).logf[:60], ref[:60], rtol=1e-9)


@pytest.mark.parametrize("name, link", [("bernoulli", "probit"), ("bernoulli", "logit"), ("poisson", "log"),
                                        ("ordinal", "logit"), ("ordinal", "probit")])
def test_observed_curvature_matches_finite_differences(name, link, rng):
    """eta_curvature (the Laplace approximation's curvature) is -d(d logf / d eta)/d eta, and
    its second value that curvature's derivative, by central differences of d_eta; into the
    tails (eta far beyond the thresholds) it stays finite and non-negative."""
    y = _data(name, rng)
    fam, yv, aux = _prepared(name, link, y, **({"trials": np.ones(len(y)), "lchoose": np.zeros(len(y))}
                                                if name == "bernoulli" else {}))
    if name == "poisson":
        aux.lgy = special.gammaln(yv + 1)
    S = 2
    eta = rng.normal(0.3, 1.0, (len(y), S))
    extra = _extra(fam, aux, rng, S)
    w, dw = fam.eta_curvature(yv, eta, aux, extra)
    h = 1e-5
    d = lambda e: fam.evaluate(yv, e, extra, aux).d_eta
    np.testing.assert_allclose(w, -(d(eta + h) - d(eta - h)) / (2 * h), rtol=1e-6, atol=1e-9)
    wp, wm = fam.eta_curvature(yv, eta + h, aux, extra)[0], fam.eta_curvature(yv, eta - h, aux, extra)[0]
    np.testing.assert_allclose(dw, (wp - wm) / (2 * h), rtol=1e-5, atol=1e-8)
    far = np.repeat([[-30.0, 30.0]], len(y), 0)
    wf = fam.eta_curvature(yv, far, aux, extra)[0]
    assert np.all(np.isfinite(wf)) and np.all(wf >= -1e-12)
