"""Every vignette runs (reduced size, GLMMIX_VIGNETTE_QUICK=1) without error, passes its own
assertions, and writes its figures and files into the folder it prints."""

import re
import runpy
from pathlib import Path

import pytest

VIGNETTES = sorted((Path(__file__).parent.parent / "vignettes").glob("*.py"))


@pytest.mark.parametrize("path", VIGNETTES, ids=[p.stem for p in VIGNETTES])
def test_vignette_runs(path, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GLMMIX_VIGNETTE_QUICK", "1")
    monkeypatch.setenv("GLMMIX_VIGNETTE_OUT", str(tmp_path))
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "log-likelihood" in out
    m = re.search(r"Figures and files of this vignette go to (\S+)", out)
    if m:
        folder = Path(m.group(1))
        assert folder.parent == tmp_path and folder.name == path.stem
        for name in re.findall(rf"{re.escape(str(folder))}/([\w.-]+\.(?:png|json|csv))", out):
            assert (folder / name).is_file(), name
