"""Fast version of benchmarks/lta_two_level.py (the full run uses all 60 classrooms)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import lta_two_level  # noqa: E402


def test_lta_benchmark_quick(capsys):
    seconds = lta_two_level.main(["--quick"])
    out = capsys.readouterr().out
    assert "ratio two-level / single-level" in out and seconds < 120
