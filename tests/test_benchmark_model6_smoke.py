"""Fast version of benchmarks/table3_model6.py (the full run has 100 clusters and the default starts)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import table3_model6  # noqa: E402


def test_model6_benchmark_quick(capsys):
    seconds = table3_model6.main(["--quick"])
    out = capsys.readouterr().out
    assert "ratio Model 6 / Model 5" in out and seconds < 120
