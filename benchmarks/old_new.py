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

The round whose attributes are set back here (benchmarks/README.md, "Eleventh round"): the
probit log cdf's table read with one gather per coefficient (``_OldLogNdtr`` below, the code before
the round: five gathers per cell, blocks of 8,192 cells), built afresh in the old variant. The
tenth round's old code (scipy's ``log_ndtr`` per cell, stage one on the model's rule, every random
start of a round at once), the seventh's (``RESOLVED_STEPS`` set back to infinity) and the sixth's
are in the git history of this file.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import special

import glmmix.families as families


class _OldLogNdtr(families._LogNdtr):
    """``families._LogNdtr`` before the eleventh round: the coefficients as one array per power,
    gathered one at a time (five gathers per cell), in blocks of 8,192 cells. The same
    numbers as the new table (``tests/test_families.py``)."""

    BLOCK = 8192

    def __init__(self):
        super().__init__()
        self.cols = [np.ascontiguousarray(c) for c in self.coef.T[::-1]]  # in increasing powers

    def __call__(self, z, derivs=False):
        zf = z.reshape(-1)
        N, B, S, n = zf.size, self.BLOCK, float(self.S), self.n
        lp = np.empty(N)
        lphi = np.empty(N) if derivs else None
        ratio = np.empty(N) if derivs else None
        w, j, g = np.empty(min(B, N)), np.empty(min(B, N), np.intp), np.empty(min(B, N))
        half_log_2pi = 0.5 * families.LOG_2PI
        for a in range(0, N, B):
            b = min(a + B, N)
            zb, ww, jj, gg, pp = zf[a:b], w[: b - a], j[: b - a], g[: b - a], lp[a:b]
            np.subtract(zb, self.LO, out=ww)
            ww *= S
            np.fmax(ww, 0.0, out=ww)
            np.minimum(ww, n - 1e-9, out=ww)
            np.copyto(jj, ww, casting="unsafe")
            ww -= jj
            ww -= 0.5
            np.take(self.cols[-1], jj, out=pp)
            for col in self.cols[-2::-1]:
                pp *= ww
                np.take(col, jj, out=gg)
                pp += gg
            np.exp(pp, out=pp)
            np.negative(pp, out=pp)
            if derivs:
                fb, rb = lphi[a:b], ratio[a:b]
                np.multiply(zb, zb, out=fb)
                fb *= -0.5
                fb -= half_log_2pi
                np.subtract(fb, pp, out=rb)
                np.exp(rb, out=rb)
        if N and not (zf.min() >= self.LO and zf.max() < self.HI):
            far = np.flatnonzero(~((zf >= self.LO) & (zf < self.HI)))
            lp[far] = special.log_ndtr(zf[far])
            if derivs:
                ratio[far] = np.exp(lphi[far] - lp[far])
        if not derivs:
            return lp.reshape(z.shape)
        return lp.reshape(z.shape), lphi.reshape(z.shape), ratio.reshape(z.shape)


#: (module or class, attribute, old value)
OLD_PATCHES = [
    (families, "_LogNdtr", _OldLogNdtr),  # the table read with a gather per coefficient
    (families, "_log_ndtr_table", []),  # (built afresh from the class above on first use)
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
