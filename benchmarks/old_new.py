"""Old and new code in one run, for the benchmarks that measure a speed-up.

``old`` undoes the changes of the latest round measured (``OLD_PATCHES``: module and class
attributes set back in the child process to the code before them, copied below; the README's
tables say which round each measured); ``new`` is the code as it is. Each fit runs in a child
process of its own (``run_child``), the variants one after the other under the same load (the
allocator is set once per process: ``OLD_ENV`` gives the old variant's environment). The child
prints one JSON line last.

Changes that no attribute undoes (a kernel rewritten) are measured against a checkout of the
code before them instead: with ``GLMMIX_OLD_TREE`` set to its directory (``git worktree add
--detach DIR COMMIT``, or ``git archive COMMIT | tar -x -C DIR``), the old variant's child runs
that tree's copy of the same script as its ``new`` (a script imports the glmmix of the tree it
sits in). The ninth round (benchmarks/README.md) was measured so, against the commit before it.

The round whose attributes are set back here (benchmarks/README.md, "Thirteenth round"): an
adaptive model in one dimension searched on its own rule (``estimation._shared_search`` returning
None), where it now searches on a shared trapezoid rule when its rows merge into few patterns.
The eleventh round's old code (the probit log cdf's table read with one gather per coefficient),
the tenth's (scipy's ``log_ndtr`` per cell, stage one on the model's rule, every random start of
a round at once), the seventh's (``RESOLVED_STEPS`` set back to infinity) and the sixth's are in
the git history of this file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import glmmix.estimation as estimation


def _no_shared_search(lik):
    """``estimation._shared_search`` before the thirteenth round: no shared rule (the search runs
    on the adaptive rule itself)."""
    return None


#: (module or class, attribute, old value)
OLD_PATCHES = [
    (estimation, "_shared_search", _no_shared_search),  # adaptive rules search on themselves
]
#: environment of the old variant's child process (the allocator as in the new: it predates the round)
OLD_ENV = {"GLMMIX_KEEP_FREED_MEMORY": "1"}


@contextlib.contextmanager
def variant(name):
    """Run the body with the old code (``name == "old"``) or as it is."""
    saved = []
    if name == "old":
        for mod, attr, val in OLD_PATCHES:
            saved.append((mod, attr, getattr(mod, attr)))
            setattr(mod, attr, val)
    try:
        yield
    finally:
        for mod, attr, val in saved:
            setattr(mod, attr, val)


def run_child(script, name, argv):
    """``python script --variant name *argv`` with the allocator of that variant; the JSON
    object its last line prints (with ``variant`` set to ``name``). With ``GLMMIX_OLD_TREE``
    the old variant is that tree's copy of the script, run as its ``new``."""
    env = dict(os.environ, **(OLD_ENV if name == "old" else {"GLMMIX_KEEP_FREED_MEMORY": "1"}))
    tree, as_name = os.environ.get("GLMMIX_OLD_TREE"), name
    if tree and name == "old":
        here = Path(__file__).resolve().parent.parent
        script, as_name = str(Path(tree) / Path(script).resolve().relative_to(here)), "new"
    out = subprocess.run([sys.executable, script, "--variant", as_name] + list(argv), env=env, check=True,
                         capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]), variant=name)
