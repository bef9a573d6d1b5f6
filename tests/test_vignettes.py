"""Every vignette runs (reduced size, GLMMIX_VIGNETTE_QUICK=1) without error, passes its own
assertions, writes its figures and files into the folder it prints, and prints what its
documentation page recorded of the quick version (up to the last digits and run times)."""

import importlib.util
import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = sorted((ROOT / "vignettes").glob("*.py"))
_spec = importlib.util.spec_from_file_location("gen_vignette_pages", ROOT / "scripts" / "gen_vignette_pages.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


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
    page = gen.read_page(path.stem)
    assert page and "quick" in page["outputs"], f"docs/vignettes/{path.stem}.md has no quick output"
    diffs = gen.compare(page["outputs"]["quick"], out.replace(str(tmp_path), gen.OUTPUT))
    assert not diffs, (f"docs/vignettes/{path.stem}.md no longer shows what the vignette prints (run python "
                       f"scripts/gen_vignette_pages.py {path.stem}):\n" + "\n".join(diffs[:10]))
