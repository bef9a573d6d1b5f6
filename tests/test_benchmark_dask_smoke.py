"""Smoke test of benchmarks/dask_fit.py at a tiny size: a GLMM on a dask DataFrame with 1 and
2 worker processes gives the in-memory estimates, and the speed-up is reported."""

import numpy as np
import pytest

pytest.importorskip("distributed")

from benchmarks import dask_fit as B  # noqa: E402


def test_dask_benchmark_tiny():
    out = B.run("glmm", 300, n_partitions=3, processes=False)
    assert out["rows"] == 3000
    for w in (1, 2):
        assert out[f"workers{w}_max_diff"] < 1e-8
        assert out[f"workers{w}_s"] > 0
    assert np.isfinite(out["speedup_2_over_1"]) and out["speedup_2_over_1"] > 0


def test_dask_evaluation_benchmark_tiny():
    out = B.run_evals("glmm", 200, n_partitions=2, reps=1, processes=False)
    for w in (1, 2):
        assert out[f"workers{w}_ll_diff"] < 1e-8 and out[f"workers{w}_grad_diff"] < 1e-8
        assert out[f"workers{w}_s_per_eval"] > 0
    assert np.isfinite(out["speedup_2_over_1"]) and out["speedup_2_over_1"] > 0
