"""The documentation site's vignette pages (written by scripts/gen_vignette_pages.py): every
vignette has one, in the site's navigation, made from the vignette's code of today and this
glmmix version, with its description and figures. Runs nothing (tests/test_vignettes.py
compares each page's recorded output with what the vignette prints today)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("gen_vignette_pages", ROOT / "scripts" / "gen_vignette_pages.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)


@pytest.mark.parametrize("name", gen.names())
def test_vignette_page_up_to_date(name):
    problems = gen.stale(name)
    assert not problems, (f"docs/vignettes/{name}.md is stale: " + "; ".join(problems)
                          + f". Run python scripts/gen_vignette_pages.py {name}")
    text = (ROOT / "docs" / "vignettes" / f"{name}.md").read_text()
    assert f'--8<-- "vignettes/{name}.py"' in text and "## Output" in text
    assert f"vignettes/{name}.md" in (ROOT / "mkdocs.yml").read_text()
    assert f"({name}.md)" in (ROOT / "docs" / "vignettes" / "index.md").read_text()


@pytest.fixture
def vig(tmp_path, monkeypatch):
    """A folder of vignettes and one of pages, in place of the project's."""
    (tmp_path / "vignettes").mkdir()
    monkeypatch.setattr(gen, "VIGNETTES", tmp_path / "vignettes")
    monkeypatch.setattr(gen, "PAGES", tmp_path / "pages")
    return tmp_path / "vignettes"


def test_staleness_is_detected(vig, tmp_path, monkeypatch):
    """A page is stale when the vignette's code changes, not when only its docstring does (that
    is rewritten without a run), and when the glmmix version changes."""
    (vig / "demo.py").write_text('"""Vignette: a demo.\n\nRun: python demo.py (1 s)\n"""\n\nprint("a", 1.5)\n')
    run = {"output": "a 1.5", "wall": 1.0, "cpu": 1.0, "load": "0.1-0.1"}
    gen.write("demo", run, None, tmp_path / "no-figures")
    assert gen.stale("demo") == []
    assert gen.read_page("demo")["outputs"] == {"quick": "a 1.5"}
    (vig / "demo.py").write_text('"""Vignette: a demo.\n\nRun: python demo.py (2 s)\n"""\n\nprint("a", 1.5)\n')
    assert [p for p in gen.stale("demo") if "docstring" in p] and not [p for p in gen.stale("demo") if "code" in p]
    assert gen.main(["--restamp", "demo"]) == 0 and gen.stale("demo") == []
    (vig / "demo.py").write_text('"""Vignette: a demo.\n\nRun: python demo.py (2 s)\n"""\n\nprint("a", 2.5)\n')
    assert [p for p in gen.stale("demo") if "code changed" in p]
    with pytest.raises(SystemExit):
        gen.main(["--restamp", "demo"])
    monkeypatch.setattr(gen, "glmmix_version", lambda: "99.0")
    assert [p for p in gen.stale("demo") if "this is 99.0" in p]


def test_full_page_keeps_the_quick_output(vig, tmp_path):
    (vig / "demo.py").write_text('"""Vignette: a demo."""\nprint(1)\n')
    quick = {"output": "ll -10.25\n  indented 3", "wall": 1.0, "cpu": 1.0, "load": "0.1-0.1"}
    full = {"output": "ll -10.2500", "wall": 100.0, "cpu": 90.0, "load": "2.0-3.0"}
    gen.write("demo", quick, full, tmp_path / "no-figures")
    page = gen.read_page("demo")
    assert page["outputs"] == {"full": "ll -10.2500", "quick": "ll -10.25\n  indented 3"}
    assert page["meta"]["mode"] == "full" and "100 s elapsed, 90 s of CPU time" in page["meta"]["full-run"]


def test_compare_outputs():
    page = "LL -293.7050 (poLCA -293.71); took 2.6 s, 93 x faster\nclasses 3"
    assert gen.compare(page, "LL -293.7051 (poLCA -293.71); took 7.1 s, 12.5 x faster\nclasses 3") == []
    assert gen.compare(page, "LL -293.9050 (poLCA -293.71); took 2.6 s, 93 x faster\nclasses 3")  # number moved
    assert gen.compare(page, "LL -293.7050 (poLCA -293.71); took 2.6 s, 93 x faster\nclasses 4")
    assert gen.compare(page, "loglik -293.7050 (poLCA -293.71); took 2.6 s, 93 x faster\nclasses 3")  # words
    assert gen.compare(page, page + "\nextra line")
    assert gen.compare("p 1.2e-05", "p 1.4e-05") == [] and gen.compare("p 1.2e-05", "p 1.9e-05")
    # an estimate on the boundary is not determined to any digit: only the words are compared
    assert gen.compare("class1:item[A]  21.6432  boundary", "class1:item[A]  19.1  boundary") == []
    assert gen.compare("class1:item[A]  21.6432  boundary", "class1:item[A]  19.1  0.52")
    assert gen.compare("FMA: log-likelihood -290.551; loadings running to infinity: ['x']",
                       "FMA: log-likelihood -285.881; loadings running to infinity: ['x']") == []
