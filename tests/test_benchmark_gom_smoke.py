"""Fast version of benchmarks/gom_nlsy_scale.py (the full run is 7,326 x 17; see the README)."""

from benchmarks import gom_nlsy_scale


def test_gom_scale_quick(capsys):
    seconds = gom_nlsy_scale.main(["--quick"])
    out = capsys.readouterr().out
    assert "log-likelihood LCA" in out and seconds < 60
