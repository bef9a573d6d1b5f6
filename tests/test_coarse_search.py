"""The coarse start search: stage one and completions on ``Integration.coarse()``, the best
maxima re-converged on the model's own rule (``estimation.search_likelihood``, ``polish``).

The reference in every comparison is the same model fitted with ``coarse_search=False``
(every stage on the model's rule), on the shipped data."""

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import glmmix as gm
from glmmix import estimation
from glmmix.estimation import FitOptions
from glmmix.estimation import estimate, homogeneous_start, perturb
from glmmix.exceptions import DesignError
from glmmix.model import MixtureModel
from glmmix.quadrature import Integration

ROOT = Path(__file__).resolve().parents[1]


def test_coarse_rules():
    trap = Integration.make("trapezoid", 61, 2, 4, bound=5.0)
    c = trap.coarse()
    assert c.n_points == 31 and c.n_nodes == 961 and np.abs(c.t).max() == 5.0 and not c.adaptive
    assert np.exp(c.logw).sum() == pytest.approx(np.exp(trap.logw).sum(), rel=1e-6)  # both integrate N(0, I)
    assert Integration.make("trapezoid", 61, 2, 4).coarse().n_points == 31  # on [-6, 6]: step 0.4
    # no cheaper rule of the same kind: adaptive rules, Monte Carlo, Laplace; a step above 0.4
    # (the 2-d default, 31 x 31 on [-6, 6]); fewer than half the nodes saved (1-d)
    for method, n, D in (("agh", 15, 1), ("agh", 9, 2), ("qmc", 1000, 2), ("laplace", None, 1), ("gh", 15, 2),
                         ("trapezoid", 61, 1), ("trapezoid", None, 2), ("trapezoid", 41, 2)):
        assert Integration.make(method, n, D, 4).coarse() is None, (method, n, D)


def test_coarse_search_option_checked():
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    with pytest.raises(DesignError, match="coarse_search"):
        gm.fma(lsat, 2, verbose=False, options=FitOptions(coarse_search=1))


FMA_GOM = "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)"


def test_which_models_search_on_a_coarse_rule():
    """Large evaluations (VerbAgg's FMA-GoM: 48 row patterns, 316 persons, 961 or 3,721 nodes)
    search on the coarse rule; small ones (LSAT's, 30 response patterns) on their own, as does
    every model with coarse_search=False. An adaptive rule in one dimension whose rows merge
    into few patterns on shared nodes (VerbAgg's FMA: 7,584 rows, 48 patterns) searches on the
    shared 61-point trapezoid rule; one whose rows do not merge (a covariate per row) on its own."""
    va = gm.datasets.load("verbagg_long")
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    big = MixtureModel.from_formula(FMA_GOM, va, n_classes=2, family="bernoulli", n_points=61).likelihood
    c = estimation.search_likelihood(big, FitOptions())
    assert c is not big and c.integ.n_points == 31 and big.integ.n_points == 61 and c.design is big.design
    assert estimation.search_likelihood(big, FitOptions(coarse_search=False)) is big
    small = MixtureModel.from_formula(FMA_GOM, lsat, n_classes=2, family="bernoulli").likelihood
    assert estimation.evaluation_cells(small) < estimation.COARSE_SEARCH_CELLS
    assert estimation.search_likelihood(small, FitOptions()) is small
    fma = MixtureModel.from_formula("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", va, n_classes=2,
                                    family="bernoulli").likelihood
    sh = estimation.search_likelihood(fma, FitOptions())
    assert sh is not fma and fma.integ.adaptive and fma.integ.n_points == 15
    assert not sh.integ.adaptive and sh.integ.method == "trapezoid" and sh.integ.n_points == 61
    assert np.abs(sh.integ.t).max() == 6.0 and sh.design is fma.design
    assert estimation.evaluation_cells(sh) <= estimation.SHARED_SEARCH_SHARE * estimation.evaluation_cells(fma)
    assert estimation.search_likelihood(fma, FitOptions(coarse_search=False)) is fma
    rng = np.random.default_rng(3)
    vx = va.assign(x=rng.standard_normal(len(va)))  # a covariate per row: no patterns to merge
    glmm = MixtureModel.from_formula("y ~ 0 + item + x + (1 | id) | class(id) ~ 1", vx, n_classes=2,
                                     family="bernoulli").likelihood
    assert estimation.evaluation_cells(glmm) >= estimation.COARSE_SEARCH_CELLS
    assert estimation.search_likelihood(glmm, FitOptions()) is glmm


def test_shared_search_of_an_adaptive_model_reaches_the_same_maximum():
    """VerbAgg's 2-class FMA (logit, adaptive Gauss-Hermite with 15 points, seed 1): the search
    on the shared trapezoid rule re-converged on the adaptive rule reports the maximum of the
    search on the model's rule (coarse_search=False: -3907.7725, the value special_cases.py
    prints, measured before the shared search existed), at the adaptive rule's log-likelihood."""
    va = gm.datasets.load("verbagg_long")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gm.fma(va, 2, seed=1, verbose=False, se="none")
    assert res.llf == pytest.approx(-3907.772543, abs=1e-5)
    assert res.search.rule.startswith("starts searched on trapezoid 61^1 (61 nodes)")
    assert res.search.rule.endswith("re-converged on agh 15^1 (15 nodes)")
    lik = res.model.likelihood
    assert lik.integ.adaptive and lik.loglik(res.theta) == pytest.approx(res.llf, abs=1e-6)


def test_shared_search_falls_back_when_the_rule_does_not_resolve(monkeypatch):
    """When the shared rule's best maximum moves by more than SHARED_SEARCH_TOL on the model's
    rule, the search runs again on the model's rule, and the fit is the one coarse_search=False
    gives (LSAT's FMA with the thresholds lowered so that it searches on the shared rule)."""
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    monkeypatch.setattr(estimation, "COARSE_SEARCH_CELLS", 0.0)
    monkeypatch.setattr(estimation, "SHARED_SEARCH_SHARE", 10.0)
    monkeypatch.setattr(estimation, "SHARED_SEARCH_TOL", -1.0)  # every offset too large
    kw = dict(seed=2, verbose=False, se="none", starts=(4, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = gm.fma(lsat, 2, **kw)
        ref = gm.fma(lsat, 2, options=FitOptions(seed=2, n_starts=4, n_final=2, coarse_search=False),
                     verbose=False, se="none")
    assert not again.search.rule
    assert again.llf == pytest.approx(ref.llf, abs=1e-8)
    np.testing.assert_allclose(again.theta, ref.theta, atol=1e-8)


@pytest.mark.slow
def test_same_maximum_as_search_on_the_model_rule(monkeypatch):
    """LSAT FMA-GoM on a trapezoid 61 x 61 rule, the threshold lowered so that it searches on
    31 x 31: from the same two starts, the coarse search re-converged on 61 x 61 reaches the
    maxima of the search on 61 x 61 (the FMA limit, -2463.8470 in special_cases.py), and what
    it reports is the 61 x 61 rule's log-likelihood at its estimates."""
    monkeypatch.setattr(estimation, "COARSE_SEARCH_CELLS", 0.0)
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    out = {}
    for cs in (False, True):
        lik = MixtureModel.from_formula(FMA_GOM, lsat, n_classes=2, family="bernoulli", n_points=61).likelihood
        th0 = perturb(lik, homogeneous_start(lik), np.random.default_rng(5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[cs] = (lik, estimate(lik, FitOptions(seed=1, n_starts=1, n_final=1, coarse_search=cs), start_params=th0))
    (lik_old, old), (lik_new, new) = out[False], out[True]
    # LSAT's FMA-GoM maximum is the FMA limit (the class-logit SD runs to infinity): the
    # optimizers stop at different points of that ridge, within 0.1 of each other
    assert old.ll == pytest.approx(-2463.8470, abs=0.1) and new.ll == pytest.approx(old.ll, abs=0.1)
    # what is reported is the 61 x 61 rule's log-likelihood at the estimates
    assert lik_new.integ.n_points == 61 and lik_new.loglik(new.theta) == pytest.approx(new.ll, abs=1e-8)
    assert new.search.maxima[0]["loglik"] == pytest.approx(new.ll, abs=1e-8)
    assert new.search.rule.startswith("starts searched on trapezoid 31^2 (961 nodes); the best 2 maxima")
    assert "trapezoid 61^2 (3721 nodes)" in str(new.search) and not old.search.rule


@pytest.mark.slow
def test_benchmark_quick(capsys):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from benchmarks import special_cases_speed

    rows = special_cases_speed.main(["--quick"])
    out = capsys.readouterr().out
    assert "new/old" in out and "load average" in out
    assert abs(rows[0]["llf_new"] - rows[0]["llf_old"]) < 0.1  # a ridge (see above)


def test_refined_rule_contains_the_rule():
    trap = Integration.make("trapezoid", 31, 2, 3)
    fine = trap.refined()
    assert fine.n_points == 61 and np.abs(fine.t).max() == 6.0
    rows = {tuple(r) for r in np.round(fine.t, 12)}
    assert all(tuple(r) in rows for r in np.round(trap.t, 12))  # nested: the old nodes and the midpoints
    # Gauss-Hermite: about 1.5 times the points per dimension, at most 4 times the nodes, with a
    # copy of the adaptation; Laplace has no check
    agh = Integration.make("agh", None, 1, 3)
    agh.m[:] = 0.5
    assert agh.refined().n_points == 22 and agh.refined().m[0, 0] == 0.5 and agh.refined().adaptive
    assert Integration.make("agh", None, 2, 3).refined().n_points == 13  # 169 nodes for 81
    assert Integration.make("agh", None, 3, 3).refined().n_points == 7   # 343 for 125
    assert Integration.make("agh", None, 4, 3).refined().n_points == 4   # 256 for 81
    assert Integration.make("laplace", None, 1, 3).refined() is None


def test_trapezoid_rule_checked_at_the_estimates():
    """VerbAgg's FMA-GoM at estimates with loadings above 100 (a maximum of the 31 x 31 rule
    found by the start search): the factor's posterior is far narrower than the step, and the
    log-likelihood differs by 14.6 on 61 x 61 points (measured: 21 x 21 -3906.10, 31 x 31
    -3888.05, 41 x 41 -3905.60, 61 x 61 -3902.61, 91 x 91 -3906.82). check_rule says so; at
    LSAT's 2-class GoM (1-d, 61 points) the refined rule agrees."""
    lik = MixtureModel.from_formula(FMA_GOM, gm.datasets.load("verbagg_long"), n_classes=2,
                                    family="bernoulli").likelihood
    L = lik.layout
    phi = np.zeros(L.n_full)
    # the spurious maximum, rounded: intercepts +-100 / loadings 100 on the first twelve items
    labels = L.full_labels
    for j, lab in enumerate(labels):
        if lab.startswith("loading("):
            phi[j] = 100.0 if "S1" in lab or "S2" in lab else 1.5
        elif lab.startswith("class1:item") and ("S1" in lab or "S2" in lab):
            phi[j] = -100.0
        elif lab.startswith("class2:item") and ("S1" in lab or "S2" in lab):
            phi[j] = 100.0
        elif lab.startswith("sd("):
            phi[j] = 2.0
    theta = L.from_full(phi)
    best = estimation.FitResult(theta, lik.loglik(theta), True, 0.0, 0, 0)
    with pytest.warns(gm.IntegrationAccuracyWarning, match="does not resolve the integrals"):
        estimation.check_rule(lik, best)
    assert abs(best.ll_refined - best.ll) > 1e-3 and best.warnings
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gom = gm.gom(lsat, 2, seed=1, verbose=False, se="none")
    assert gom.model.likelihood.integ.n_points == 61
    best = estimation.FitResult(gom.theta, gom.llf, True, 0.0, 0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        estimation.check_rule(gom.model.likelihood, best)
    assert best.ll_refined == pytest.approx(gom.llf, abs=1e-3)


def test_polish_skips_maxima_far_below_an_exact_limit(monkeypatch):
    """polish re-converges the coarse search's second maximum when it is within the window of
    the first (after the coarse rule's offset), but not when an exact boundary limit (the
    ``floor`` the nesting guarantee would report) is above both by more than the window."""
    monkeypatch.setattr(estimation, "COARSE_SEARCH_CELLS", 0.0)
    lsat = gm.wide_to_long(gm.datasets.load("lsat"))
    lik = MixtureModel.from_formula(FMA_GOM, lsat, n_classes=2, family="bernoulli", n_points=61).likelihood
    coarse = estimation.search_likelihood(lik, FitOptions())
    assert coarse.integ.n_points == 31
    calls, coarse_ll = [], {}

    def fake_converge(lk, theta, opts, stop=None):  # at once: the coarse maximum's value moved by 0.01
        calls.append(lk.integ.n_points)
        return estimation.FitResult(np.asarray(theta, float), coarse_ll[theta.tobytes()] + 0.01, True, 0.0, 0, 0)

    monkeypatch.setattr(estimation, "converge", fake_converge)
    th = homogeneous_start(coarse)
    for floor, n_redone in ((-np.inf, 2), (-2460.0, 1)):
        calls.clear()
        S = estimation._Search(coarse, FitOptions(seed=1), np.random.default_rng(1), "auto")
        for j, ll in enumerate((-2470.0, -2470.5)):  # two distinct proper maxima, 0.5 apart on the coarse rule
            t = th + 1e-3 * j
            i = S.add(t, ll, "random")
            S.fits[i], S.degenerate[i], coarse_ll[t.tobytes()] = estimation.FitResult(t, ll, True, 0.0, 0, 0), False, ll
        estimation.polish(S, lik, floor)
        assert calls == [61] * n_redone, floor
        assert S.report.rule.startswith(f"starts searched on trapezoid 31^2 (961 nodes); the best {n_redone} max")


def test_shared_search_falls_back_for_loadings_only_the_adaptive_rule_resolves():
    """A start improper on the shared rule (a loading of 30: beyond its 20, four per step of
    0.2) but proper on the adaptive rule (within 50) that ends above the best proper maximum
    sends the search back to the adaptive rule; below it, or improper on both, it does not."""
    from types import SimpleNamespace

    va = gm.datasets.load("verbagg_long")
    fma = MixtureModel.from_formula("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", va, n_classes=2,
                                    family="bernoulli").likelihood
    shared = estimation.search_likelihood(fma, FitOptions())
    L = fma.layout
    phi = L.expand(homogeneous_start(fma)).copy()
    first = next(j for j, lab in enumerate(L.full_labels) if "loading(" in lab and L.free_idx[j] >= 0)

    def at(loading):
        p = phi.copy()
        p[first] = loading
        return L.from_full(p)

    big, huge, fine = at(30.0), at(80.0), at(1.0)
    assert estimation.improper(shared, big) and not estimation.improper(fma, big)
    assert estimation.improper(fma, huge) and not estimation.improper(shared, fine)

    def search(ll_improper, theta):
        fit = lambda th, ll: estimation.FitResult(th, ll, True, 0.0, 0, 0)  # noqa: E731
        return SimpleNamespace(fits={0: fit(theta, ll_improper), 1: fit(fine, -3910.0)},
                               degenerate={0: True, 1: False})

    assert estimation._beyond_shared_rule(search(-3900.0, big), fma)
    assert not estimation._beyond_shared_rule(search(-3920.0, big), fma)
    assert not estimation._beyond_shared_rule(search(-3900.0, huge), fma)
