"""The documentation site's vignette pages (written by scripts/gen_vignette_pages.py): every
vignette has one, in the site's navigation, with its source and the figures it links."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = sorted(p.stem for p in (ROOT / "vignettes").glob("*.py"))


@pytest.mark.parametrize("name", VIGNETTES)
def test_vignette_page(name):
    page = ROOT / "docs" / "vignettes" / f"{name}.md"
    assert page.is_file(), f"no page for vignettes/{name}.py: run python scripts/gen_vignette_pages.py {name}"
    text = page.read_text()
    assert f'--8<-- "vignettes/{name}.py"' in text and "## Output" in text
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", text):
        assert (page.parent / link).is_file(), link
    assert f"vignettes/{name}.md" in (ROOT / "mkdocs.yml").read_text()
    assert f"({name}.md)" in (ROOT / "docs" / "vignettes" / "index.md").read_text()
