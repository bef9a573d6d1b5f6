"""Fast version of benchmarks/adaptive_copies.py (the full run times the four adaptive-rule fits
of vignettes/special_cases.py): the LSAT FMA with starts=(2, 1), old and new."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import adaptive_copies  # noqa: E402
import pytest  # noqa: E402

from glmmix import copies  # noqa: E402


def test_adaptive_copies_benchmark_quick(capsys):
    rows = adaptive_copies.main(["--quick"])
    out = capsys.readouterr().out
    assert "| LSAT FMA (2, 1) |" in out and copies.MERGE
    (r,) = rows
    assert r["new_llf"] == pytest.approx(r["old_llf"], abs=1e-3)
    assert r["new_llf"] == pytest.approx(-2463.8470, abs=1e-3)  # glmmix's default fit (benchmarks/README.md)
