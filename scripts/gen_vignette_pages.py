"""Write the documentation site's vignette pages: run every vignette and keep what it printed
and the figures it wrote.

    python scripts/gen_vignette_pages.py                 # every vignette, quick mode (a few minutes)
    python scripts/gen_vignette_pages.py lca glmm        # some of them
    python scripts/gen_vignette_pages.py --full lca      # the full version (run times in the vignettes)

Each vignette ``vignettes/NAME.py`` gives ``docs/vignettes/NAME.md`` (its description, its
printed output, its figures, its source) and ``docs/vignettes/NAME/*.png``. The pages are
committed, so building the site (``mkdocs build --strict``) runs nothing; run this again
after changing a vignette or what it prints. ``tests/test_docs_vignettes.py`` checks that
every vignette has a page and that the pages' figures exist.
"""

from __future__ import annotations

import argparse
import ast
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = ROOT / "vignettes"
PAGES = ROOT / "docs" / "vignettes"


def run(name: str, quick: bool, out_dir: Path) -> tuple[str, float]:
    """Run one vignette in a fresh process; its standard output and the CPU seconds it took
    (user and system; the elapsed time also counts whatever else the machine runs)."""
    env = {**os.environ, "GLMMIX_VIGNETTE_OUT": str(out_dir), "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT),
           "GLMMIX_VIGNETTE_QUICK": "1" if quick else "0"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, str(VIGNETTES / f"{name}.py")], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"vignettes/{name}.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout.replace(str(out_dir), "vignettes/output"), seconds


def page(name: str, output: str, figures: list[str], quick: bool, seconds: float) -> str:
    """The markdown page of one vignette."""
    source = (VIGNETTES / f"{name}.py").read_text()
    doc = ast.get_docstring(ast.parse(source)) or ""
    title, _, body = doc.partition("\n\n")  # the first paragraph, then the rest
    title = " ".join(title.split()).removeprefix("Vignette: ").rstrip(".")
    mode = ("the quick version, `GLMMIX_VIGNETTE_QUICK=1`, with smaller data or fewer starts than the full "
            "run" if quick else "the full version")
    lines = [f"# {name}.py", "", title[:1].upper() + title[1:] + ".", "",
             "```text", body.strip("\n"), "```", "",
             f'!!! note "Executed page"', f"    The output and figures below are those of {mode}, written by "
             f"`python scripts/gen_vignette_pages.py` ({seconds:.0f} s of CPU time). Run it "
             f"yourself with `python vignettes/{name}.py`.", "",
             "## Output", "", "```text", output.rstrip(), "```", ""]
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{f}]({name}/{f})\n" for f in figures]
    lines += ["## Source", "", "```python", f'--8<-- "vignettes/{name}.py"', "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="vignettes to run (default: all)")
    parser.add_argument("--full", action="store_true", help="run the full versions")
    args = parser.parse_args(argv)
    names = args.names or sorted(p.stem for p in VIGNETTES.glob("*.py"))
    PAGES.mkdir(parents=True, exist_ok=True)
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            output, seconds = run(name, not args.full, Path(tmp))
            figures = sorted(p.name for p in (Path(tmp) / name).glob("*.png")) if (Path(tmp) / name).is_dir() else []
            shutil.rmtree(PAGES / name, ignore_errors=True)
            if figures:
                (PAGES / name).mkdir()
                for f in figures:
                    shutil.copy(Path(tmp) / name / f, PAGES / name / f)
        (PAGES / f"{name}.md").write_text(page(name, output, figures, not args.full, seconds))
        print(f"docs/vignettes/{name}.md: {len(output.splitlines())} lines of output, {len(figures)} figure(s), "
              f"{seconds:.0f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
