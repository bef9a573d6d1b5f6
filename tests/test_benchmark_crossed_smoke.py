"""Smoke test of benchmarks/glmm_crossed.py at a small size (VerbAgg's first 60 persons,
Python part only, no R): glmmix's Laplace fits with and without standard errors agree."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import glmm_crossed as B  # noqa: E402


def test_crossed_benchmark_small_python_only():
    data = B.load(60)
    assert data["id"].nunique() == 60 and data["item"].nunique() == 24
    case = B.run(data, reps=1, use_r=False)
    lap, lap_se = case["rows"]
    assert lap["converged"] and np.isfinite(lap["loglik"])
    assert abs(lap["loglik"] - lap_se["loglik"]) < 1e-6 and lap["max_dfe"] == 0.0
    assert 0.5 < lap["sd"] < 3.0
    assert "not checked" in B.target(case)
