"""Every vignette runs (reduced size) without error."""

import runpy
from pathlib import Path

import pytest

VIGNETTES = sorted((Path(__file__).parent.parent / "vignettes").glob("*.py"))


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette_runs(path, monkeypatch, capsys):
    monkeypatch.setenv("GLMMIX_VIGNETTE_QUICK", "1")
    runpy.run_path(str(path), run_name="__main__")
    assert "log-likelihood" in capsys.readouterr().out
