"""Fast version of benchmarks/table3_model6.py (the full run has 100 clusters and the default starts).

The time bound is on the CPU time of this process (the elapsed time also counts whatever else
the machine runs): it fails for a real slowdown, not for load."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import table3_model6  # noqa: E402
import pytest  # noqa: E402
from helpers import cpu_seconds  # noqa: E402


def test_model6_benchmark_quick(capsys):
    res, cpu = cpu_seconds(table3_model6.main, ["--quick"])
    out = capsys.readouterr().out
    assert "ratio Model 6 / Model 5" in out and "new / old: fit" in out
    # new: the starts ran to the between limit and were finished in Model 5, so Model 6's
    # maximum is Model 5's, exact; old: they ran on to a class-logit SD beyond HUGE_RE, where
    # the quadrature's value is not the model's (on 20 clusters it was 0.18 above the limit)
    assert res["llf_new"] == pytest.approx(res["llf_m5"], abs=1e-6)
    assert "ran to the boundary limit between limit" in out and "Model 6 new: log-likelihood" in out
    assert cpu < 120, f"{cpu:.1f} s of CPU time"
