"""Smoke test of benchmarks/glmm_verbagg.py at a tiny size (Python part only, no R).

Simulated random-intercept logistic data (2,000 rows in 100 clusters) are fitted by glmmix
(adaptive GH and Laplace) and statsmodels' variational Bayes, as in the benchmark; glmmix's
log-likelihood must be finite and its estimates within 0.5 of the truth.
"""

import numpy as np

from benchmarks import glmm_verbagg as B


def test_split_formula():
    assert B.split_formula("y ~ 0 + item + (1|id)") == ("y ~ 0 + item", "id")
    assert B.split_formula("y ~ x1 + x2 + (1 | g)") == ("y ~ x1 + x2", "g")


def test_glmm_benchmark_tiny_python_only(capsys):
    data = B.simulate_ri(2_000, 100, seed=1)
    assert data["g"].nunique() == 100 and len(data) == 2_000
    case = B.run_case("tiny", B.SIM_FORMULA, data, ["g"], n_points=9, reps=1,
                      vb_reps=1, use_r=False, log=lambda *a, **k: None)
    rows = {(r["software"], r["method"]): r for r in case["rows"]}
    assert set(rows) == {("glmmix", "AGQ 9"), ("glmmix", "Laplace"),
                         ("statsmodels", "VB (fit_vb)")}
    truth = B.SIM_TRUTH
    for key in [("glmmix", "AGQ 9"), ("glmmix", "Laplace")]:
        r = rows[key]
        assert np.isfinite(r["loglik"]) and r["converged"]
        assert r["sec_median"] > 0
        for name in ("Intercept", "x1", "x2"):
            assert abs(r["fixef"][name] - truth[name]) < 0.5
        assert abs(r["sd"] - truth["sd"]) < 0.5
    # with ~20 rows per cluster the Laplace approximation is close to the quadrature value
    assert abs(rows[("glmmix", "AGQ 9")]["loglik"] - rows[("glmmix", "Laplace")]["loglik"]) < 5
    vb = rows[("statsmodels", "VB (fit_vb)")]
    assert np.isnan(vb["loglik"])  # not ML
    # the ML log-likelihood at VB's posterior means cannot exceed the maximum
    assert vb["loglik_at_vb"] <= rows[("glmmix", "AGQ 9")]["loglik"] + 1e-3
    assert abs(vb["fixef"]["x1"] - truth["x1"]) < 0.5
    # no R: the target cannot be checked, and printing works
    assert B.target_check(case)[0] is None
    B.print_case(case, truth=truth)
    assert "glmmix" in capsys.readouterr().out
