"""Old and new code in one run, for the benchmarks that measure a speed-up.

``old`` undoes the changes measured (``OLD_PATCHES``: module attributes set back in the child
process, and malloc left as it is, ``GLMMIX_KEEP_FREED_MEMORY=0``, see
``glmmix/allocator.py``); ``new`` is the code as it is. The allocator is set once per
process, so each fit runs in a child process of its own (``run_child``), the variants one
after the other under the same load. The child prints one JSON line last.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import glmmix.families as families
import glmmix.inference as inference

#: (module, attribute, old value): probit 0/1 outcomes with two log cdfs per cell and the
#: working weights always; the Hessian by central differences of the gradient everywhere
OLD_PATCHES = [
    (families, "_one_trial", lambda trials: False),
    (inference, "HESSIAN_METHOD", "central"),
]


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
    object its last line prints."""
    env = dict(os.environ, GLMMIX_KEEP_FREED_MEMORY="0" if name == "old" else "1")
    out = subprocess.run([sys.executable, script, "--variant", name] + list(argv), env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
