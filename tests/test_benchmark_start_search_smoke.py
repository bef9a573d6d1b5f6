"""Smoke test of benchmarks/start_search.py: one case, one seed, against StepMix."""

import pytest

pytest.importorskip("stepmix")

from benchmarks import start_search  # noqa: E402


def test_start_search_benchmark_tiny():
    rows, best, how = start_search.run_case("carcinoma K=4", [1], stepmix=True, log=lambda *a, **k: None)
    table = start_search.summarize(rows, best, how, "carcinoma K=4")
    by = {r["software"]: r for r in table}
    # poLCA (published) -289.2859, the recorded best known maximum
    assert best == pytest.approx(-289.2859) and "poLCA" in how
    assert by["glmmix"]["reached"] == "1/1"
    assert "StepMix" in by and len(by) == 3  # defaults, and as many starts as fit in glmmix's time
    assert all(r["median s"] > 0 for r in table)
