"""Smoke test of the StepMix benchmarks (benchmarks/) at a tiny size.

Checks that the benchmark functions run and that glmmix's maximum is at least as high as
StepMix's (minus 1e-3) on the same data with a few starts each.
"""

import numpy as np
import pytest

pytest.importorskip("stepmix")

from benchmarks import _common as C  # noqa: E402
from benchmarks import lca_stepmix, lsat_convergence  # noqa: E402


def test_numpy_loglik_matches_both_programs():
    wide, _, _ = C.simulate_lca(1500, 6, 3, seed=3)
    items = C.item_names(6)
    X = wide[items].to_numpy(float)
    g = C.fit_glmmix(wide, items, 3, (2, 2), seed=1)
    s = C.fit_stepmix(X, 3, 2, seed=1)
    g_ll, g_grad = C.lca_loglik_grad(X, *C.glmmix_params(g["res"], items))
    s_ll, _ = C.lca_loglik_grad(X, *C.stepmix_params(s["model"]))
    assert g_ll == pytest.approx(g["llf"], abs=1e-6)
    assert s_ll == pytest.approx(s["llf"], abs=1e-6)
    assert g_grad / 1500 < 1e-4


def test_lca_benchmark_tiny():
    rows = lca_stepmix.compare_size(2000, n_items=8, n_classes=3, n_starts=3, reps=1,
                                    log=lambda *a, **k: None)
    by = {(r["setting"], r["software"]): r for r in rows}
    for setting in ("best of 3 starts", "single start"):
        g, s = by[(setting, "glmmix")], by[(setting, "StepMix")]
        assert np.isfinite(g["loglik"]) and np.isfinite(s["loglik"])
        assert g["sec_median"] > 0 and s["sec_median"] > 0
        assert s["ratio_median"] > 0
        if setting.startswith("best"):
            assert g["loglik"] >= s["loglik"] - 1e-3
    lca_stepmix.print_results(rows)


def test_lsat_benchmark_tiny():
    summary, per_start = lsat_convergence.run_lsat(2, n_starts=2, reps=1, glmmix_default=False)
    g = next(r for r in summary if r["software"] == "glmmix")
    s = next(r for r in summary if r["software"] == "StepMix")
    assert g["loglik"] >= s["loglik"] - 1e-3
    assert g["loglik"] == pytest.approx(lsat_convergence.REFERENCE_LL[2], abs=1e-3)
    assert len(per_start) == 2 and all(p["em_iterations"] >= 1 for p in per_start)
