"""Fast version of benchmarks/lta_two_level.py (the full run uses all 60 classrooms)."""

from benchmarks import lta_two_level


def test_lta_benchmark_quick(capsys):
    seconds = lta_two_level.main(["--quick"])
    out = capsys.readouterr().out
    assert "ratio two-level / single-level" in out and seconds < 120
