"""Fast version of benchmarks/fma_gom_verbagg.py (20 VerbAgg persons, starts=(1, 1), the
current code only; the full run compares old and new code on all 316 persons).

The time bound is on the CPU time of this process, not the elapsed time (load)."""

import numpy as np

from benchmarks import fma_gom_verbagg
from helpers import cpu_seconds


def test_fma_gom_benchmark_quick(capsys):
    rows, cpu = cpu_seconds(fma_gom_verbagg.main, ["--quick", "--new-only"])
    out = capsys.readouterr().out
    assert "variant" in out and np.isfinite(rows[0]["llf"])
    assert cpu < 90, f"{cpu:.1f} s of CPU time"
