"""Old and new code in one run, for the benchmarks that measure a speed-up.

``old`` undoes the changes of the latest round measured (``OLD_PATCHES``: module and class
attributes set back in the child process to the code before them, copied below; the README's
tables say which round each measured); ``new`` is the code as it is. Each fit runs in a child
process of its own (``run_child``), the variants one after the other under the same load (the
allocator is set once per process: ``OLD_ENV`` gives the old variant's environment). The child
prints one JSON line last.

The round measured now (benchmarks/README.md, "Sixth round"): 0/1 logit outcomes through the
binomial formula (``_one_trial``-style fast path off), the probit path with its temporaries,
the one-dimensional rows by einsum with fancy indexing, and no earlier fit used as a simpler
model (``nesting.remember``).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys

import numpy as np
from scipy import special

import glmmix.families as families
import glmmix.nesting as nesting
from glmmix.families import LOG_2PI, FamilyEval
from glmmix.likelihood import MixtureLikelihood


def _old_probit_binary(yy, eta, derivs):
    """``families._probit_binary`` before the sixth round (a temporary per operation)."""
    s = 2.0 * yy - 1.0
    z = s * eta
    lp = special.log_ndtr(z)
    if not derivs:
        return FamilyEval(lp)
    lphi = -0.5 * (z * z + LOG_2PI)
    ratio = np.exp(lphi - lp)

    def weights():
        with np.errstate(divide="ignore"):
            lq = np.log(-np.expm1(lp))
        far = lp > -1e-300
        if far.any():
            lq[far] = special.log_ndtr(-z[far])
        return np.exp(2.0 * lphi - lp - lq)

    return FamilyEval(lp, s * ratio, weights)


def _old_linear_predictors(self, rs, P, Lo, u_nodes, Q):
    """``MixtureLikelihood._linear_predictors`` before the sixth round (einsum in every case)."""
    K = self.K
    eta = np.asarray(rs.X @ P["beta"])[:, :, None]
    if not self.design.re_out:
        return eta
    A = np.zeros((rs.P, K, self.D))
    for Zt, L, dims in zip(rs.Zs, Lo, self._dims_out):
        A[:, :, dims] += np.einsum("pi,kij->pkj", Zt, L)
    if rs.cluster is None:
        return eta + np.einsum("pkd,qd->pkq", A, u_nodes[0])
    if self.class_nodes:
        return eta + np.einsum("pkd,pkqd->pkq", A, self._by_class(u_nodes)[rs.cluster])
    return eta + np.einsum("pkd,pqd->pkq", A, u_nodes[rs.cluster])


def _old_node_moment(self, W, nodes, rs, power=1):
    """``MixtureLikelihood._node_moment`` before the sixth round (fancy indexing)."""
    if rs.cluster is None:
        return np.einsum("pkq,qd->pkd", W, nodes[0] ** power)
    if self.class_nodes:
        return np.einsum("pkq,pkqd->pkd", W, self._by_class(nodes)[rs.cluster] ** power)
    return np.einsum("pkq,pqd->pkd", W, nodes[rs.cluster] ** power)


#: (module or class, attribute, old value)
OLD_PATCHES = [
    (families, "_all_zero", lambda a: False),  # 0/1 logit outcomes through the binomial formula
    (families, "_probit_binary", _old_probit_binary),
    (MixtureLikelihood, "_linear_predictors", _old_linear_predictors),
    (MixtureLikelihood, "_node_moment", _old_node_moment),
    (nesting, "remember", lambda *a, **k: None),
    (nesting, "_remembered", lambda *a, **k: None),
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
    object its last line prints."""
    env = dict(os.environ, **(OLD_ENV if name == "old" else {"GLMMIX_KEEP_FREED_MEMORY": "1"}))
    out = subprocess.run([sys.executable, script, "--variant", name] + list(argv), env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])
