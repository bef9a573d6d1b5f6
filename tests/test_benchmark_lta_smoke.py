"""Fast version of benchmarks/lta_two_level.py (the full run uses all 60 classrooms).

The time bound is on the CPU time of this process (the elapsed time also counts whatever else
the machine runs): it fails for a real slowdown, not for load."""

import time

from benchmarks import lta_two_level


def test_lta_benchmark_quick(capsys):
    cpu = time.process_time()
    lta_two_level.main(["--quick"])
    cpu = time.process_time() - cpu
    out = capsys.readouterr().out
    assert "ratio two-level / single-level" in out
    assert cpu < 120, f"{cpu:.1f} s of CPU time"
