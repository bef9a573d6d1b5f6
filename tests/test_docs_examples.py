"""The code in README.md and the documentation runs as written, and the log-likelihoods its
comments quote (``res.llf  # -293.7050 (poLCA ...)``) are what it gives, to the digits shown.
Blocks with placeholders (``...``) are left out. The gallery's twelve models are in the slow
run; README, the index, getting started and predictions in the default run."""

import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/index.md", "docs/getting-started.md", "docs/prediction.md", "docs/gallery.md"]
#: a line that states what an expression evaluates to: `expr  # -293.7050 ...`
STATED = re.compile(r"^(?P<expr>[\w.\[\]\"']+)\s+#\s*(?P<value>-?\d+\.\d+)")


def blocks(page):
    text = (ROOT / page).read_text()
    out = re.findall(r"```python\n(.*?)```", text, re.S)
    return [b for b in out if "..." not in b]


def cases():
    """README, index and getting started: their blocks in order, one namespace (the default
    run). The gallery: each block after its set-up block (the slow run: 12 models)."""
    for page in PAGES:
        bs = blocks(page)
        if page != "docs/gallery.md":
            yield pytest.param(page, "", "\n".join(bs), id=page)
            continue
        for i, b in enumerate(bs[1:], start=1):
            yield pytest.param(page, bs[0], b, id=f"{page}-{i}", marks=[pytest.mark.slow])


@pytest.mark.parametrize("page, setup, block", list(cases()))
def test_documented_code_runs_and_gives_the_numbers_it_states(page, setup, block, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)  # res.save("fit.json") and figures land here
    ns = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # boundary warnings of the LCAs are part of the story
        if setup:
            exec(compile(setup, f"{page}:setup", "exec"), ns)
        chunk = []
        stated = 0
        for line in block.splitlines():
            m = STATED.match(line)
            if m:
                exec(compile("\n".join(chunk), page, "exec"), ns)
                chunk = []
                got = eval(m["expr"], ns)
                digits = len(m["value"].split(".")[1])
                assert round(float(got), digits) == pytest.approx(float(m["value"]), abs=1.01 * 10 ** -digits), \
                    f"{page}: {m['expr']} is {got}, the page says {m['value']}"
                stated += 1
            else:
                chunk.append(line)
        exec(compile("\n".join(chunk), page, "exec"), ns)
    import matplotlib.pyplot as plt

    plt.close("all")
