"""Write the documentation site's vignette pages: run every vignette and keep what it printed
and the figures it wrote.

    python scripts/gen_vignette_pages.py                 # every vignette, in the mode its page shows
    python scripts/gen_vignette_pages.py lca glmm        # some of them
    python scripts/gen_vignette_pages.py --full lca      # the page shows the full version
    python scripts/gen_vignette_pages.py --quick lca     # the page shows the quick version
    python scripts/gen_vignette_pages.py --restamp       # only the description changed: no run
    python scripts/gen_vignette_pages.py --check         # which pages are stale (runs nothing)

Each vignette ``vignettes/NAME.py`` gives ``docs/vignettes/NAME.md`` (its description, its
printed output, its figures, its source) and ``docs/vignettes/NAME/*.png``. The pages are
committed, so building the site (``mkdocs build --strict``) runs nothing; run this again
after changing a vignette or what it prints.

A page shows the quick version (``GLMMIX_VIGNETTE_QUICK=1``) or the full one. Either way it
holds the quick version's output, which the test suite compares with what the vignette prints
today (``tests/test_vignettes.py`` runs every vignette in its quick mode), and a header with
the SHA-256 of the vignette's code (the file without its docstring), the glmmix version, and
the elapsed and CPU time of the runs. ``tests/test_docs_vignettes.py`` checks without running
anything that the code and the glmmix version are those the page was made from and that the
page's description is the vignette's docstring of today. What no cheap check can see: a
change in glmmix that alters a full run's output but not the quick run's.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIGNETTES = ROOT / "vignettes"
PAGES = ROOT / "docs" / "vignettes"
OUTPUT = "vignettes/output"  # the vignettes' output folder as the pages print it


def names() -> list[str]:
    return sorted(p.stem for p in VIGNETTES.glob("*.py"))


def split_source(name: str) -> tuple[str, str]:
    """The vignette's module docstring and its code (the file after the docstring)."""
    source = (VIGNETTES / f"{name}.py").read_text()
    tree = ast.parse(source)
    doc = ast.get_docstring(tree) or ""
    first = tree.body[0] if tree.body else None
    if doc and isinstance(first, ast.Expr):
        return doc, "".join(source.splitlines(keepends=True)[first.end_lineno:])
    return doc, source


def code_hash(name: str) -> str:
    return hashlib.sha256(split_source(name)[1].encode()).hexdigest()


def glmmix_version() -> str:
    text = (ROOT / "glmmix" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def run(name: str, quick: bool, out_dir: Path) -> dict:
    """Run one vignette in a fresh process: its standard output (the output folder printed as
    ``vignettes/output``), elapsed and CPU seconds (user and system), and the machine's load
    average before and after (the elapsed time also counts whatever else the machine runs)."""
    env = {**os.environ, "GLMMIX_VIGNETTE_OUT": str(out_dir), "MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT),
           "GLMMIX_VIGNETTE_QUICK": "1" if quick else "0"}
    load0, t0, c0 = os.getloadavg()[0], time.perf_counter(), os.times()
    proc = subprocess.run([sys.executable, str(VIGNETTES / f"{name}.py")], capture_output=True, text=True, env=env,
                          cwd=ROOT)
    t1, c1, load1 = time.perf_counter(), os.times(), os.getloadavg()[0]
    if proc.returncode != 0:
        raise SystemExit(f"vignettes/{name}.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    return {"output": proc.stdout.replace(str(out_dir), OUTPUT).rstrip(), "wall": t1 - t0,
            "cpu": (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system),
            "load": f"{load0:.1f}-{load1:.1f}"}


def describe(r: dict) -> str:
    return f"{r['wall']:.0f} s elapsed, {r['cpu']:.0f} s of CPU time, load average {r['load']}"


def head(name: str) -> list[str]:
    """The page's title and description: the vignette's docstring."""
    doc = split_source(name)[0]
    title, _, body = doc.partition("\n\n")  # the first paragraph, then the rest
    title = " ".join(title.split()).removeprefix("Vignette: ").rstrip(".")
    return [f"# {name}.py", "", title[:1].upper() + title[1:] + ".", "", "```text", body.strip("\n"), "```", ""]


def fenced(text: str, mode: str, indent: str = "") -> list[str]:
    """An output block, between markers the checks find it by."""
    return [f"{indent}<!-- output: {mode} -->", f"{indent}```text",
            *[f"{indent}{line}".rstrip() for line in text.splitlines()], f"{indent}```", f"{indent}<!-- /output -->"]


def page(name: str, quick: dict, full: dict | None, figures: list[str]) -> str:
    """The markdown page of one vignette: the full run's output if there is one, else the quick
    run's; the quick run's output always (the test suite compares it with today's)."""
    meta = {"code-sha256": code_hash(name), "glmmix": glmmix_version(), "mode": "full" if full else "quick",
            "quick-run": describe(quick), "date": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    if full:
        meta["full-run"] = describe(full)
    lines = ["<!-- written by scripts/gen_vignette_pages.py; do not edit"]
    lines += [f"{k}: {v}" for k, v in meta.items()] + ["-->", *head(name)]
    run_it = f"`python vignettes/{name}.py`"
    quick_it = f"`GLMMIX_VIGNETTE_QUICK=1 python vignettes/{name}.py`"
    if full:
        lines += ['!!! note "Executed page: the full version"',
                  f"    The output and figures below are those of the full version, {run_it} "
                  f"({describe(full)}; {meta['date']}, glmmix {meta['glmmix']}). The quick version, "
                  f"{quick_it}, is at the bottom of the page.", ""]
    else:
        lines += ['!!! note "Executed page: the quick version"',
                  f"    The output and figures below are those of the quick version, {quick_it}, with "
                  f"smaller data or fewer starts or replications than the full version ({describe(quick)}; "
                  f"{meta['date']}, glmmix {meta['glmmix']}). The full version, {run_it}, takes the time "
                  f"stated above; `python scripts/gen_vignette_pages.py --full {name}` puts it on this page.", ""]
    lines += ["## Output", "", *fenced((full or quick)["output"], meta["mode"]), ""]
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{f}]({name}/{f})\n" for f in figures]
    if full:
        lines += ["## Output of the quick version", "", f"{quick_it} ({describe(quick)}):", "",
                  *fenced(quick["output"], "quick"), ""]
    lines += ["## Source", "", "```python", f'--8<-- "vignettes/{name}.py"', "```", ""]
    return "\n".join(lines)


def read_page(name: str) -> dict | None:
    """What a committed page records: its header's fields, its outputs by mode, its figures."""
    path = PAGES / f"{name}.md"
    if not path.is_file():
        return None
    text = path.read_text()
    m = re.match(r"<!-- written by scripts/gen_vignette_pages.py; do not edit\n(.*?)\n-->\n", text, re.S)
    meta = dict(line.split(": ", 1) for line in m.group(1).splitlines()) if m else {}
    outputs = {}
    for mode, block in re.findall(r"<!-- output: (\w+) -->\n(.*?)\n *<!-- /output -->", text, re.S):
        lines = block.splitlines()[1:-1]  # without the fences
        indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
        outputs[mode] = "\n".join(line[indent:] for line in lines)
    figures = re.findall(rf"!\[[^]]*\]\({re.escape(name)}/([^)]+)\)", text)
    return {"text": text, "meta": meta, "outputs": outputs, "figures": figures}


def stale(name: str) -> list[str]:
    """Why the committed page of vignette NAME no longer matches the vignette, as far as can be
    told without running it; empty if it matches."""
    p = read_page(name)
    if p is None:
        return [f"docs/vignettes/{name}.md does not exist"]
    meta, problems = p["meta"], []
    if not meta:
        return [f"docs/vignettes/{name}.md has no header of scripts/gen_vignette_pages.py"]
    if meta.get("code-sha256") != code_hash(name):
        problems.append(f"vignettes/{name}.py's code changed since its page was written")
    if meta.get("glmmix") != glmmix_version():
        problems.append(f"the page was written with glmmix {meta.get('glmmix')}, this is {glmmix_version()}")
    if "\n".join(head(name)) not in p["text"]:
        problems.append(f"vignettes/{name}.py's docstring changed (--restamp rewrites the page without a run)")
    if "quick" not in p["outputs"] or meta.get("mode") not in p["outputs"]:
        problems.append("the page lacks an output block")
    problems += [f"figure docs/vignettes/{name}/{f} is missing" for f in p["figures"]
                 if not (PAGES / name / f).is_file()]
    return problems


# Run times, speed ratios and the like differ from run to run: masked before comparing.
_VOLATILE = re.compile(r"\d+(?:\.\d+)?\s?(?:s|ms|min|seconds|minutes)\b|\d+(?:\.\d+)?\s?x\b")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _close(expected: str, actual: str) -> bool:
    """Two printed numbers agree: integers exactly, others up to three units in the expected
    one's last digit, or 0.01%: the last digits of a fit differ between machines (BLAS,
    compilers), a changed model does not."""
    a, b = float(expected), float(actual)
    if re.fullmatch(r"[-+]?\d+", expected):
        return a == b
    mantissa = expected.lower().split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    scale = 10.0 ** int(expected.lower().split("e")[1]) if "e" in expected.lower() else 1.0
    return abs(a - b) <= max(3 * 10.0 ** -decimals * scale, 1e-4 * max(abs(a), abs(b)))


def compare(expected: str, actual: str) -> list[str]:
    """The lines where what a vignette printed today differs from what its page recorded:
    the same words, and numbers equal up to the last printed digits (run times ignored)."""
    exp, act = expected.strip("\n").splitlines(), actual.strip("\n").splitlines()
    diffs = []
    for i, (e, a) in enumerate(zip(exp, act)):
        e_mask, a_mask = _VOLATILE.sub("<time>", e), _VOLATILE.sub("<time>", a)
        if "boundary" in e_mask or "to infinity" in e_mask:  # no finite maximum: no stable digits
            e_mask, a_mask = _NUMBER.sub("#", e_mask), _NUMBER.sub("#", a_mask)
        e_num, a_num = _NUMBER.findall(e_mask), _NUMBER.findall(a_mask)
        if (_NUMBER.sub("#", e_mask).split() != _NUMBER.sub("#", a_mask).split() or len(e_num) != len(a_num)
                or not all(_close(x, y) for x, y in zip(e_num, a_num))):
            diffs.append(f"line {i + 1}:\n  page:  {e}\n  today: {a}")
    if len(exp) != len(act):
        diffs.append(f"{len(exp)} lines on the page, {len(act)} today")
    return diffs


def write(name: str, quick: dict, full: dict | None, figure_dir: Path | None) -> None:
    """Write the page of one vignette and copy its figures (from ``figure_dir``, the run's
    output folder of this vignette; None keeps the committed figures)."""
    if figure_dir is not None:
        figures = sorted(p.name for p in figure_dir.glob("*.png")) if figure_dir.is_dir() else []
        shutil.rmtree(PAGES / name, ignore_errors=True)
        if figures:
            (PAGES / name).mkdir(parents=True)
            for f in figures:
                shutil.copy(figure_dir / f, PAGES / name / f)
    else:
        figures = read_page(name)["figures"]
    PAGES.mkdir(parents=True, exist_ok=True)
    (PAGES / f"{name}.md").write_text(page(name, quick, full, figures))


def _recorded(meta: dict, key: str, output: str) -> dict:
    m = re.match(r"(\d+) s elapsed, (\d+) s of CPU time, load average (\S+)", meta[key])
    return {"output": output, "wall": float(m.group(1)), "cpu": float(m.group(2)), "load": m.group(3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="vignettes (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the pages show the full versions")
    mode.add_argument("--quick", action="store_true", help="the pages show the quick versions")
    mode.add_argument("--restamp", action="store_true",
                      help="rewrite the pages from their recorded runs (only the docstring may have changed)")
    mode.add_argument("--check", action="store_true", help="list the stale pages and exit 1 if any")
    args = parser.parse_args(argv)
    chosen = args.names or names()
    unknown = sorted(set(chosen) - set(names()))
    if unknown:
        parser.error(f"no vignette {', '.join(unknown)} in vignettes/")
    if args.check:
        problems = {name: stale(name) for name in chosen}
        for name, why in problems.items():
            print(f"{name}: " + ("; ".join(why) if why else "up to date"))
        return 1 if any(problems.values()) else 0
    PAGES.mkdir(parents=True, exist_ok=True)
    for name in chosen:
        old = read_page(name)
        if args.restamp:
            if old is None or old["meta"].get("code-sha256") != code_hash(name):
                raise SystemExit(f"vignettes/{name}.py's code changed: run it (no --restamp)")
            meta, outs = old["meta"], old["outputs"]
            quick = _recorded(meta, "quick-run", outs["quick"])
            full = _recorded(meta, "full-run", outs["full"]) if meta["mode"] == "full" else None
            write(name, quick, full, None)
            print(f"docs/vignettes/{name}.md rewritten")
            continue
        show_full = args.full or (not args.quick and old is not None and old["meta"].get("mode") == "full")
        with tempfile.TemporaryDirectory() as tmp:
            quick = run(name, True, Path(tmp) / "quick")
            full = run(name, False, Path(tmp) / "full") if show_full else None
            write(name, quick, full, Path(tmp) / ("full" if show_full else "quick") / name)
        print(f"docs/vignettes/{name}.md: quick {describe(quick)}" + (f"; full {describe(full)}" if full else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
