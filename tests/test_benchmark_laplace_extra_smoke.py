"""Smoke test of benchmarks/laplace_extra.py at a small size (no R): the exact Laplace gradient
and the differences it replaced reach the same maximum."""

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import laplace_extra as B  # noqa: E402


def test_laplace_extra_benchmark_small_python_only():
    for kind, data in (("gaussian", B.crossed_gaussian(200, 40, 5)), ("ordinal", B.verbagg_ordinal(30))):
        new, old = B.run(kind, data, reps=1, use_r=False)
        assert new["converged"] and old["converged"] and np.isfinite(new["loglik"])
        assert abs(new["dll"]) == 0.0 and abs(old["dll"]) < 1e-5
        assert new["ratio"] == 1.0
