"""The start search: the adaptive default, its report, structured starts and the nesting guarantee."""

import warnings

import numpy as np
import pytest

import glmmix as gm
from glmmix.estimation import (SPLIT_ROUND_RANDOM, SPLITS_EXTRA, STAGE1_MAX, FitOptions, SearchReport, StartRecord,
                                _maxima)
from glmmix.nesting import RESPONSE_SPLITS, SPLITS_PER_CLASS
from helpers import table3_data

LCA = "y ~ 0 + item | class(id) ~ 1"


@pytest.fixture(scope="module")
def ability():
    """The ability items' 1,248 complete cases, long."""
    ab = gm.datasets.load("ability").dropna().astype(int)
    ab.insert(0, "id", np.arange(len(ab)))
    return gm.wide_to_long(ab, id="id")


def test_maxima_never_call_a_rival_replicated():
    # the best maximum found once, a rival 0.19 lower found five times: the best is not replicated
    recs = [StartRecord(0, -4030.0, -4028.6114, True)] + [StartRecord(i, -4030.0, -4028.8038 + 1e-5 * i, True)
                                                        for i in range(1, 6)]
    recs.append(StartRecord(6, -4031.0))  # stage one only: not a completed start
    mx = _maxima(recs, tol=4e-4)
    assert [m["starts"] for m in mx] == [1, 5]
    assert mx[0]["loglik"] == pytest.approx(-4028.6114)
    # a group is anchored at its best value: a chain of near ties does not merge distant maxima
    chain = [StartRecord(i, 0.0, -100.0 - 3e-4 * i, True) for i in range(6)]
    assert [m["starts"] for m in _maxima(chain, tol=4e-4)] == [2, 2, 2]


def test_fixed_search_report_counts(carcinoma_long):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, carcinoma_long, n_classes=3, family="bernoulli", seed=3, starts=(8, 3), se="none")
    s = r.search
    assert s.mode == "fixed" and s.drawn == 8 and s.stage1 == 8 and s.completed == 3
    assert s.converged == int(r.starts["converged"].fillna(False).astype(bool).sum())
    assert sum(m["starts"] for m in s.maxima) == s.completed == r.starts["ll_final"].notna().sum()
    assert s.maxima[0]["loglik"] == pytest.approx(r.llf, abs=1e-6)
    assert s.n_best == s.maxima[0]["starts"] and s.best_replicated == (s.n_best >= 2)
    assert s.seconds > 0 and s.tolerance >= 1e-3
    # poLCA (published), flexmix and StepMix: -293.7050 (shared/REFERENCE-VALUES.md)
    assert r.llf == pytest.approx(-293.7050, abs=1e-3)
    text = str(r.summary())
    assert "Distinct maxima" in text and "8 drawn, 3 completed" in text


def test_auto_search_replicates_and_reports(carcinoma_long, tmp_path):
    r = gm.fit(LCA, carcinoma_long, n_classes=4, family="bernoulli", seed=2, se="none")
    s = r.search
    assert s.mode == "auto" and s.best_replicated and s.n_best >= 2
    # RESPONSE_SPLITS splits of each class of the 3-class solution (by the response to one of the 7 items) and
    # half of the 45 random starts go through stage one
    n_random = STAGE1_MAX // 2
    assert s.stage1 == 3 * RESPONSE_SPLITS + n_random and (r.starts["origin"] == "random").sum() == n_random
    assert s.stopped.startswith("best log-likelihood reached")
    origins = r.starts.loc[r.starts["ll_final"].notna(), "origin"]
    # completed: the best 4 random starts, the best split of each class and the next best split,
    # perturbations and boundary moves of the best
    splits = [o for o in origins if o.startswith("split")]
    assert len(splits) == 3 + SPLITS_EXTRA and all(" by class" in o for o in splits)
    assert {o.split(" by ")[0] for o in splits} == {f"split of class {j} of 3" for j in (1, 2, 3)}
    assert (origins == "random").sum() == SPLIT_ROUND_RANDOM and s.completed == len(origins) == sum(m["starts"] for m in s.maxima)
    moved = r.starts["origin"].str.startswith("boundary move of ")
    assert moved.sum() >= 1 and s.drawn == s.stage1 + (r.starts["origin"] == "perturbed best").sum() + moved.sum()
    # the 3-class solution (a class split in two identical halves) is a limit: poLCA's K = 3 maximum
    assert len(s.limits) == 1 and s.limits[0]["loglik"] == pytest.approx(-293.7050, abs=1e-3)
    # poLCA (published): -289.2859; flexmix reaches it in 1 of 20 starts, StepMix in 11 of 60
    assert r.llf == pytest.approx(-289.2859, abs=2e-4)
    path = tmp_path / "r.json"
    r.save(path)
    back = gm.load_results(path)
    assert isinstance(back.search, SearchReport) and back.search.maxima == s.maxima


def test_split_stage_ones_are_short(carcinoma_long, monkeypatch):
    # the splits of the K - 1 class solution rank after SPLIT_STAGE1_ITER EM iterations, the
    # random starts after stage1_iter; the K - 1 class fit's own race (3 of the 10 iterations, then
    # the best third the rest)
    import glmmix.estimation as est
    from glmmix.nesting import SPLIT_SEARCH

    calls = []
    stage1 = est._stage1

    def spy(lik, theta, n_iter, tol):
        calls.append((lik.K, n_iter))
        return stage1(lik, theta, n_iter, tol)

    monkeypatch.setattr(est, "_stage1", spy)
    # (a seed of its own: no K - 1 class fit of another test is reused)
    r = gm.fit(LCA, carcinoma_long, n_classes=4, family="bernoulli", seed=4, se="none")
    n1 = FitOptions().stage1_iter
    count = lambda K, n: sum(c == (K, n) for c in calls)  # noqa: E731
    assert est.SPLIT_STAGE1_ITER < n1 and count(4, est.SPLIT_STAGE1_ITER) == 3 * RESPONSE_SPLITS
    assert count(3, 3) == SPLIT_SEARCH[0] and count(3, n1 - 3) == SPLIT_SEARCH[0] // 3 and count(3, n1) == 0
    assert count(4, n1) == STAGE1_MAX // 2 == (r.starts["origin"] == "random").sum()
    assert {n for _, n in calls} == {est.SPLIT_STAGE1_ITER, 3, n1 - 3, n1, est.BOUNDARY_MOVE_ITER}
    # poLCA (published)
    assert r.llf == pytest.approx(-289.2859, abs=2e-4)


def test_stage_one_race(carcinoma_long, monkeypatch):
    # stage1_race: every start runs 3 of the 10 EM iterations, the best third the rest, and
    # those rank first; the completed starts are among them
    import glmmix.estimation as est

    calls = []
    stage1 = est._stage1

    def spy(lik, theta, n_iter, tol):
        out = stage1(lik, theta, n_iter, tol)
        calls.append((n_iter, out[1]))
        return out

    monkeypatch.setattr(est, "_stage1", spy)
    opts = FitOptions(n_starts=12, n_final=3, seed=5, stage1_race=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, carcinoma_long, n_classes=3, family="bernoulli", se="none", options=opts)
    assert [n for n, _ in calls] == [3] * 12 + [7] * 4
    first = np.array([ll for _, ll in calls[:12]])
    # the 4 that went on are the 4 best after 3 iterations, and EM never lowers the log-likelihood
    went_on = np.sort(first)[-4:]
    assert np.all(np.sort([ll for _, ll in calls[12:]]) >= went_on.min() - 1e-9)
    st = r.starts.sort_values("ll_stage1", ascending=False)
    assert r.search.stage1 == 12 and st["ll_final"].iloc[:3].notna().all() and st["ll_final"].iloc[3:].isna().all()
    assert sorted(st["ll_stage1"].iloc[:4]) == pytest.approx(sorted(ll for _, ll in calls[12:]))
    assert sorted(st["ll_stage1"].iloc[4:]) == pytest.approx(np.sort(first)[:8])
    # poLCA (published), flexmix and StepMix: -293.7050 (shared/REFERENCE-VALUES.md)
    assert r.llf == pytest.approx(-293.7050, abs=1e-3)
    with pytest.raises(gm.DesignError, match="stage1_race"):
        gm.fit(LCA, carcinoma_long, n_classes=3, family="bernoulli", options=FitOptions(stage1_race=1))


def test_split_starts_keep_the_smaller_models_likelihood(carcinoma_long):
    from glmmix.nesting import split_starts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r3 = gm.fit(LCA, carcinoma_long, n_classes=3, family="bernoulli", seed=1, starts=(10, 2), se="none")
    m4 = gm.MixtureModel.from_formula(LCA, carcinoma_long, n_classes=4, family="bernoulli")
    rng = np.random.default_rng(0)
    # a class split in two identical halves with half its weight each: the same likelihood
    same = split_starts(m4.likelihood, r3, rng, per_class=1, scale=0.0)
    assert [o for _, o in same] == [f"split of class {j} of 3" for j in (1, 2, 3)]
    for th, _ in same:
        assert m4.loglike(th) == pytest.approx(r3.llf, abs=1e-8)
        props = m4.likelihood.unit_posterior(m4.likelihood.evaluate(th, derivs=False)).mean(axis=0)
        assert props.sum() == pytest.approx(1.0)
    moved = split_starts(m4.likelihood, r3, rng)
    assert len(moved) == 3 * SPLITS_PER_CLASS
    assert all(not np.allclose(th, same[int(o[15]) - 1][0]) for th, o in moved)
    # class logits with a covariate: the same identity holds
    cov = carcinoma_long.assign(z=(carcinoma_long["id"] % 5).astype(float))
    f = "y ~ 0 + item | class(id) ~ 1 + z"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c3 = gm.fit(f, cov, n_classes=3, family="bernoulli", seed=1, starts=(10, 2), se="none")
    c4 = gm.MixtureModel.from_formula(f, cov, n_classes=4, family="bernoulli")
    for th, _ in split_starts(c4.likelihood, c3, rng, per_class=1, scale=0.0):
        assert c4.loglike(th) == pytest.approx(c3.llf, abs=1e-8)


def test_response_splits_keep_the_smaller_models_likelihood(carcinoma_long):
    # a class written as the mixture of its members answering 0 and 1 to one item: the same likelihood
    from glmmix.nesting import split_starts

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r3 = gm.fit(LCA, carcinoma_long, n_classes=3, family="bernoulli", seed=1, starts=(10, 2), se="none")
    m4 = gm.MixtureModel.from_formula(LCA, carcinoma_long, n_classes=4, family="bernoulli")
    lik, L = m4.likelihood, m4.likelihood.layout
    splits = split_starts(lik, r3, np.random.default_rng(0), response=True)
    assert len(splits) == 3 * RESPONSE_SPLITS and all(" by class" in o for _, o in splits)
    p3 = np.clip(1 / (1 + np.exp(-r3.theta[:21].reshape(7, 3))), 0.02, 0.98)  # items x classes
    for j in range(3):
        own = [(th, o) for th, o in splits if o.startswith(f"split of class {j + 1} of 3 by ")]
        # the items whose probability in the class is nearest 1/2
        items = sorted(range(7), key=lambda i: abs(p3[i, j] - 0.5))[:RESPONSE_SPLITS]
        assert [o.split(" by ")[1] for _, o in own] == [L.labels[4 * i + j] for i in items]
        for (th, _), i in zip(own, items):
            assert th[4 * i + j] == -15.0 and th[4 * i + 3] == 15.0
            if 0.02 < p3[i, j] < 0.98:  # weights not clipped: exactly the 3-class likelihood
                assert m4.loglike(th) == pytest.approx(r3.llf, abs=1e-8)
    # other families keep the random splits
    assert not [o for _, o in split_starts(gm.MixtureModel.from_formula(
        LCA, carcinoma_long, n_classes=4, family="poisson").likelihood, r3, np.random.default_rng(0), response=True)
        if " by " in o]


def test_auto_search_budget_warns(carcinoma_long):
    # round one completes 5 random starts and 4 splits; then a perturbation of the best
    opts = FitOptions(seed=1, replicate_k=50, max_completed=10)
    with pytest.warns(gm.ConvergenceWarning, match="10 completed starts"):
        r = gm.fit(LCA, carcinoma_long, n_classes=4, family="bernoulli", options=opts, se="none")
    s = r.search
    assert s.completed == 10 and not s.best_replicated and s.stopped == "budget: 10 completed starts"
    assert "perturbed best" in set(r.starts["origin"])


def test_auto_is_deterministic(lsat_long):
    a = gm.fit(LCA, lsat_long, n_classes=2, family="bernoulli", seed=5, se="none")
    b = gm.fit(LCA, lsat_long, n_classes=2, family="bernoulli", seed=5, se="none")
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.search.drawn == b.search.drawn
    # flexmix, StepMix: -2467.4055 (shared/REFERENCE-VALUES.md)
    assert a.llf == pytest.approx(-2467.4055, abs=1e-3)


def test_starts_argument_checked(lsat_long):
    with pytest.raises(gm.DesignError, match="starts"):
        gm.fit(LCA, lsat_long, n_classes=2, family="bernoulli", starts="many")


def test_simpler_models_read_off_the_formula():
    from glmmix.nesting import simpler_models

    def kinds(f, K=2):
        return [(s.kind, s.formula, s.n_classes) for s in simpler_models(gm.parse_formula(f), K)]

    assert kinds(LCA) == []
    assert kinds(LCA, 1) == []
    assert kinds("y ~ 0 + item | class ~ 1 + (1 | id)") == [
        ("between limit", "y ~ 0 + item | class(id) ~ 1", 2)]
    assert kinds("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1") == [
        ("no random effects", "y ~ 0 + item | class(id) ~ 1", 2),
        ("one class", "y ~ 0 + item + rr(0 + item | id, 1)", 1)]
    assert kinds("y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)", 3) == [
        ("between limit", "y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", 3),
        ("no random effects", "y ~ 0 + item | class(id) ~ 1", 3),
        ("one class", "y ~ 0 + item + rr(0 + item | id, 1)", 1)]
    # Table 3: Model 6 nests Model 5 as its class-logit variance goes to infinity
    assert kinds("y ~ 1 + x + (1 | g) | class ~ 1 + (1 | g)")[0] == (
        "between limit", "y ~ 1 + x + (1 | g) | class(g) ~ 1", 2)
    # two-level LCA: the single-level LCA (random class intercept SD 0)
    assert kinds("y ~ 0 + item | class(id) ~ 1 + (1 | school)") == [
        ("no random effects", "y ~ 0 + item | class(id) ~ 1", 2)]
    # the 3PL (guessing logits per item, no random class intercept): the 2PL is its one-class model
    assert kinds("y ~ 0 + item + rr(0 + item | id, 1) | class ~ 0 + item")[-1] == (
        "one class", "y ~ 0 + item + rr(0 + item | id, 1)", 1)
    # several class variables: random starts only
    assert kinds("y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1") == []


def test_simpler_models_on_another_rule_keep_their_default_points(lsat_long):
    """n_points given for an FMA-GoM's trapezoid rule does not reach its FMA limit, built on
    adaptive Gauss-Hermite with its default points; the same rule keeps the points."""
    from glmmix.model import MixtureModel
    from glmmix.nesting import simpler_model, simpler_models

    f = "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)"
    model = MixtureModel.from_formula(f, data=lsat_long, n_classes=2, family="bernoulli", n_points=41)
    assert model.integration.method == "trapezoid"
    fma = simpler_models(gm.parse_formula(f), 2)[0]
    assert fma.kind == "between limit"
    kw = {k: v for k, v in model.spec.items() if k not in ("formula", "n_classes")}
    other = simpler_model(fma, kw, "trapezoid").integration
    assert (other.method, other.n_points) == ("agh", 15)
    assert simpler_model(fma, kw, "agh").integration.n_points == 41
    assert simpler_model(fma, dict(kw, integration="agh"), "trapezoid").integration.n_points == 41


def test_nesting_guarantee_reports_a_higher_limit(carcinoma_long):
    from glmmix.estimation import estimate

    good = gm.fit(LCA, carcinoma_long, n_classes=2, family="bernoulli", seed=1, se="none")
    lik = good.model.likelihood
    # one start stopped after a single quasi-Newton step ends far below the maximum
    opts = FitOptions(n_starts=0, em_iter=0, maxiter=1, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        poor = estimate(lik, opts)
    assert poor.ll < good.llf - 1.0
    with pytest.warns(gm.BoundaryWarning, match="boundary limit"):
        fr = estimate(lik, opts, limits=[(good.theta, "the same model, fitted")])
    assert fr.ll == pytest.approx(good.llf, abs=1e-8)
    assert fr.search.limits == [{"model": "the same model, fitted", "loglik": pytest.approx(good.llf), "used": True}]
    # a limit below the best start is evaluated and reported, not used
    fr2 = estimate(lik, FitOptions(n_starts=4, n_final=2, seed=1), limits=[(poor.theta, "poor")])
    assert fr2.ll == pytest.approx(good.llf, abs=1e-3) and fr2.search.limits[0]["used"] is False


def test_splits_reach_lsat_four_class_maximum(lsat_long):
    # LSAT, 4 classes: many maxima within 0.4 of each other, the best known -2461.2369 with a
    # tiny basin. Without split starts the default search stopped at -2461.5193 with seed 3;
    # with random splits 16 of seeds 1-20 reached the best (seed 10 stopped at -2461.2851);
    # with splits by the response to one item every seed does (benchmarks/README.md)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, lsat_long, n_classes=4, family="bernoulli", seed=10, se="none")
    assert r.llf == pytest.approx(-2461.2369, abs=1e-3) and r.search.best_replicated
    assert any(" by class" in o for m in r.search.maxima for o in m["origins"])


def test_boundary_moves_reach_verbagg_three_class_maximum():
    # VerbAgg, 3 classes: the best known -4028.6114 (one item's probability at 0 in one class)
    # next to a rival -4028.8038 (the same item at 0.03) that most random starts reach. Before
    # boundary moves the default search stopped at the rival with seed 3 (9 of 20 seeds did;
    # benchmarks/README.md); the move of that item's coefficient to the boundary finds the best
    from glmmix.estimation import BOUNDARY_VALUE, boundary_moves

    va = gm.wide_to_long(gm.datasets.load("verbagg_wide"), id="id")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, va, n_classes=3, family="bernoulli", seed=3, se="none")
    assert r.llf == pytest.approx(-4028.6114, abs=2e-4) and r.search.best_replicated
    assert any(o.startswith("boundary move of") for m in r.search.maxima[:1] for o in m["origins"])
    # one move per free class-specific coefficient: to the boundary on its own side, or across
    # it from near it (estimates beyond the boundary value are first set to it)
    lik = r.model.likelihood
    th = r.theta.copy()
    th[0], th[1], th[2] = -20.0, 0.5, 6.0
    moves = boundary_moves(lik, th)
    labels = lik.layout.labels
    assert len(moves) == 3 * 24 and [o for _, o in moves[:3]] == [
        f"boundary move of {labels[0]} across", f"boundary move of {labels[1]}", f"boundary move of {labels[2]} across"]
    assert [t[j] for j, (t, _) in enumerate(moves[:3])] == [BOUNDARY_VALUE, BOUNDARY_VALUE, -BOUNDARY_VALUE]
    clipped = np.clip(th, -BOUNDARY_VALUE, BOUNDARY_VALUE)
    assert all(np.count_nonzero(t != clipped) == 1 for t, _ in moves)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [16, 18, 19])
def test_splits_reach_lsat_four_class_maximum_more_seeds(lsat_long, seed):
    # the other seeds that stopped below the best with random splits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, lsat_long, n_classes=4, family="bernoulli", seed=seed, se="none")
    assert r.llf == pytest.approx(-2461.2369, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_pl_reaches_its_maximum(seed):
    # girth 0.8.0 estimates, log-likelihood by 61-point quadrature: -2466.6491 (the 2PL's is
    # -2466.6534, R ltm); shared/REFERENCE-VALUES.md
    lsat_long = gm.wide_to_long(gm.datasets.load("lsat"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.three_pl(lsat_long, seed=seed, verbose=False, se="none")
    assert r.llf == pytest.approx(-2466.6491, abs=1e-3)
    assert any(m["model"].startswith("one class") for m in r.search.limits)


THREE_PL = "y ~ 0 + item + rr(0 + item | id, 1) | class ~ 0 + item"


def _three_pl_args(lsat_long):
    """The LSAT 3PL as benchmarks/start_search.py fits it: class 1 guesses (items at 15 logits,
    no loadings), item-specific class logits."""
    levels = list(lsat_long["item"].cat.categories)
    fix = {f"class1:item[{lev}]": 15.0 for lev in levels}
    fix.update({f"class1:loading(id:item[{lev}])": 0.0 for lev in levels})
    return {"n_classes": 2, "family": "bernoulli", "fix": fix, "class_specific": ["random"]}


#: a completed start of the LSAT 3PL's search (seed 4, before unresolved starts lost to proper
#: ones): items 4 and 5 as step functions of the factor (loadings 2e3 and 8.7e5), reported at
#: -2421.17, above the saturated model's -2456.04
UNRESOLVED_3PL = [2.8786, 0.983, 0.2033, -1373.3687, -450460.7102, -13765.1213, -38968.0455, -127894.9083, 0.6288,
                  1.3493, 1.0441, 0.8521, 0.7757, 2061.2212, 866850.2071]


def test_unresolved_random_effects_lose_to_proper_maxima(lsat_long):
    from glmmix.estimation import FitResult, _Search, finish, improper, unresolved_params
    from glmmix.scaling import internal

    m = gm.MixtureModel.from_formula(THREE_PL, lsat_long, **_three_pl_args(lsat_long))
    assert m.param_names[13:] == ["class2:loading(id:item[I4])", "class2:loading(id:item[I5])"]
    slik, rs = internal(m.likelihood)
    bad = rs.to_internal(np.array(UNRESOLVED_3PL))
    good = slik.layout.from_full(slik.layout.fixed_val.copy()) * 0.0 + 0.5
    assert unresolved_params(slik, bad) == [13, 14] and improper(slik, bad) and not improper(slik, good)
    # the search prefers any proper maximum, however high the unresolved value, and says so
    S = _Search(slik, FitOptions(seed=1), np.random.default_rng(1), "fixed")
    for th, ll, origin in ((bad, -2421.17, "unresolved"), (good, -2466.6491, "proper")):
        i = S.add(th, np.nan, origin)
        S.fits[i] = FitResult(th, ll, True, 0.0, 0, 0)
        S.records[i].ll_final = ll
        S.degenerate[i] = S.records[i].improper = improper(slik, th)
    assert S.best()[1].ll == -2466.6491
    fr = S.finish(0.0, "test")
    assert fr.ll == -2466.6491 and [m["improper"] for m in fr.search.maxima] == [True, False]
    assert "(improper: not a maximum)" in str(fr.search)
    # reported anyway (the only start): an integration-accuracy warning, not a silent number
    with pytest.warns(gm.IntegrationAccuracyWarning, match="step function"):
        finish(slik, FitResult(bad, -2421.17, True, 0.0, 0, 0), FitOptions())


@pytest.mark.slow
def test_three_pl_formula_seed_4_reaches_its_maximum(lsat_long):
    # with seed 4 the default search once reported -2421.17 (above the saturated model's
    # -2456.04) from starts whose loadings ran to 8.7e5; girth 0.8.0: -2466.6491
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(THREE_PL, lsat_long, seed=4, se="none", **_three_pl_args(lsat_long))
    assert r.llf == pytest.approx(-2466.6491, abs=1e-3)


def _model6_vs_model5(data, **kw):
    """Models 5 and 6 fitted; Model 6's warnings, by category."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m5 = gm.fit("y ~ 1 + x + (1 | g) | class(g) ~ 1", data, n_classes=2, family="gaussian", se="none", **kw)
        del caught[:]
        m6 = gm.fit("y ~ 1 + x + (1 | g) | class ~ 1 + (1 | g)", data, n_classes=2, family="gaussian", se="none",
                    **kw)
    return m5, m6, [w.category for w in caught]


def test_model6_not_below_model5_small():
    # Model 6 nests Model 5 as the class-logit variance goes to infinity, so its maximum
    # cannot be lower. Quadrature cannot resolve the step that P(C = 1 | alpha) becomes at
    # that limit (Model 6 ended 5e-4 below Model 5 on 20 clusters of 5): the limit carries
    # Model 5's log-likelihood, exactly
    m5, m6, kinds = _model6_vs_model5(table3_data(12, 4), seed=1, starts=(1, 1))
    assert m6.llf >= m5.llf - 1e-6
    lim = [x for x in m6.search.limits if x["model"].startswith("between limit")]
    assert len(lim) == 1 and lim[0]["loglik"] == pytest.approx(m5.llf, abs=1e-6)
    assert abs(lim[0]["evaluated"] - m5.llf) < 1.0  # the quadrature value at SD 1e3 (0.09 off here)
    # reported at the boundary (this design and seed), the class-logit SD named; the starts that
    # ran to it were finished in Model 5 and reached its maximum (to the precision of a fit)
    assert lim[0]["used"] and m6.llf == pytest.approx(lim[0]["loglik"], abs=1e-8)
    assert any("sd(g:class1)" in w for w in m6.warnings)
    # the quadrature's gradient at the limit point is not zero (0.28 here), but the limit is
    # Model 5's maximum: the report is the boundary warnings only, with Model 5's convergence
    assert lim[0]["converged"] and m6.converged and m6.grad_max < 1e-4
    # the starts that ran to the limit were finished in Model 5: recorded at its maximum, not as
    # improper values of the quadrature at a class-logit SD it cannot resolve
    ran = m6.starts[m6.starts["limit"].notna()]
    top = m6.search.maxima[0]
    assert len(ran) >= 1 and not ran["improper"].any() and top["limit_starts"] == len(ran)
    assert np.allclose(ran["ll_final"], m5.llf, atol=1e-6) and top["loglik"] == pytest.approx(m5.llf, abs=1e-6)
    assert "ran to the boundary limit between limit" in str(m6.search) and lim[0]["reached"]
    assert gm.ConvergenceWarning not in kinds and kinds.count(gm.BoundaryWarning) == 2
    assert any("maximum of the limiting model" in w for w in m6.warnings)
    assert "maximum of the limiting model" in str(m6.summary())


def test_a_completion_running_to_the_between_limit_stops_there():
    """Model 6's class-logit SD runs to infinity: BFGS stops once it passes HUGE_RE with the
    gradient pushing it out (estimation.Runaway), instead of going on towards infinity."""
    from glmmix.estimation import HUGE_RE, Runaway, converge, unresolved_params
    from glmmix.scaling import internal

    m = gm.MixtureModel.from_formula("y ~ 1 + x + (1 | g) | class ~ 1 + (1 | g)", table3_data(12, 4), n_classes=2,
                                     family="gaussian")
    lik, rs = internal(m.likelihood)
    sd = m.param_names.index("sd(g:class1)")
    stop = Runaway(frozenset({sd}))
    th = rs.to_internal(np.array([0.9, -0.2, 0.4, 0.8, 0.0, 0.0, 0.3, 5.0]))
    g = lik.gradient(th)
    assert not stop(lik, th, g)  # SD 5: resolved
    big = th.copy()
    big[sd] = 2 * HUGE_RE
    assert unresolved_params(lik, big) == [sd]
    out, inward = g.copy(), g.copy()
    out[sd], inward[sd] = 1.0, -1.0
    assert stop(lik, big, out) and not stop(lik, big, inward) and not Runaway(frozenset())(lik, big, out)
    opts = FitOptions(seed=1)
    full, stopped = converge(lik, th, opts), converge(lik, th, opts, stop)
    assert abs(full.theta[sd]) > HUGE_RE  # both end beyond the threshold (improper)
    assert HUGE_RE < abs(stopped.theta[sd]) < abs(full.theta[sd]) and stopped.qn_iterations < full.qn_iterations


def test_non_converged_fits_still_warn(carcinoma_long):
    from glmmix.estimation import estimate

    good = gm.fit(LCA, carcinoma_long, n_classes=2, family="bernoulli", seed=1, se="none")
    lik = good.model.likelihood
    stopped = FitOptions(n_starts=0, em_iter=0, maxiter=1, seed=1)  # one BFGS step: an interior fit
    with pytest.warns(gm.ConvergenceWarning, match="did not converge"):
        fr = estimate(lik, stopped)
    assert not fr.converged and fr.limit_fit is None
    # an exact limit whose own model's fit did not converge takes that non-convergence
    lim = (good.theta, "a limit", good.llf, (False, 0.5))
    with pytest.warns(gm.ConvergenceWarning, match="did not converge"):
        fr = estimate(lik, stopped, limits=[lim])
    assert fr.ll == good.llf and not fr.converged and fr.grad_max == 0.5
    assert any("did NOT converge" in w for w in fr.warnings)


@pytest.mark.slow
def test_model6_not_below_model5():
    # the vignette's design (100 clusters of 10) with default settings
    m5, m6, kinds = _model6_vs_model5(table3_data(100, 10), seed=1)
    assert m6.llf >= m5.llf - 1e-6
    if any(x["used"] for x in m6.search.limits):  # at the limit: no spurious non-convergence
        assert m6.converged and gm.ConvergenceWarning not in kinds


def test_lsat_three_classes_reference_by_default(lsat_long):
    # R flexmix 2.3.18 (tests/reference/scripts/lca_lsat.R, values/lca_lsat.json) and StepMix:
    # -2464.6505, reached by 5 of flexmix's 30 starts (the rest stop at -2465.5704)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, lsat_long, n_classes=3, family="bernoulli", seed=1, se="none")
    assert r.llf == pytest.approx(-2464.6505, abs=2e-4)
    assert r.search.best_replicated


#: flexmix 2.3.18 and StepMix 3.0.0 (shared/REFERENCE-VALUES.md): ability, complete cases
ABILITY_LCA = {3: -10734.6841, 4: -10663.5774}


def test_lca_reference_maximum_by_default_ability(ability):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, ability, n_classes=3, family="bernoulli", seed=1, se="none")
    assert r.llf == pytest.approx(ABILITY_LCA[3], abs=2e-4) and r.search.best_replicated


@pytest.mark.slow
@pytest.mark.parametrize("K, seed", [(3, 2), (4, 1), (4, 2)])
def test_lca_reference_maxima_by_default(ability, K, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit(LCA, ability, n_classes=K, family="bernoulli", seed=seed, se="none")
    assert r.llf == pytest.approx(ABILITY_LCA[K], abs=2e-4) and r.search.best_replicated


@pytest.mark.slow
def test_probit_fma_on_ability_reaches_its_maximum_from_fit(ability):
    # best known -10656.1846: glmmix's default fit (benchmarks/start_search.py, "ability FMA
    # probit K=2"), from its LCA start; the general formula used to stop ~15 below it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = gm.fit("y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1", ability, n_classes=2, family="bernoulli",
                   link="probit", seed=1, se="none")
    assert r.llf == pytest.approx(-10656.1846, abs=1e-3)
