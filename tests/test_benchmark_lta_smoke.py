"""Fast version of benchmarks/lta_two_level.py (the full run uses all 60 classrooms).

The time bound is on the CPU time of this process (the elapsed time also counts whatever else
the machine runs): it fails for a real slowdown, not for load."""

from benchmarks import lta_two_level
from helpers import cpu_seconds


def test_lta_benchmark_quick(capsys):
    _, cpu = cpu_seconds(lta_two_level.main, ["--quick"])
    out = capsys.readouterr().out
    assert "ratio two-level / single-level" in out
    assert cpu < 120, f"{cpu:.1f} s of CPU time"
