"""Fast version of benchmarks/gom_nlsy_scale.py (the full run is 7,326 x 17; see the README)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import gom_nlsy_scale  # noqa: E402


def test_gom_scale_quick(capsys):
    seconds = gom_nlsy_scale.main(["--quick"])
    out = capsys.readouterr().out
    assert "log-likelihood LCA" in out and seconds < 60
