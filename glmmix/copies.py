"""Identical clusters on an adaptive rule: the estimation runs on the distinct ones.

With adaptive quadrature every cluster has its own nodes, so the engine evaluates the rows
of every cluster (``likelihood._RowSet`` with ``per_row``) and cannot merge clusters as it does
on a shared rule. Yet two clusters with the same data (the same rows, in any order within a
unit, the same unit and cluster covariates) have the same posterior at every parameter value:
their adaptation moves them alike from the same state, and they contribute the same
log-likelihood, gradient and EM information. A table of response patterns is such data (LSAT:
1,000 persons with 30 distinct patterns; carcinoma: 118 slides with 20).

:func:`on_distinct_clusters` builds the same likelihood on the distinct clusters, each weighted
by its count (``Design.take_clusters``: the numbers of the whole data, summed in another order),
with the per-cluster scale of the estimation's tests kept at the whole data's number of
clusters (``Design.n_scale``), and the map back: the adaptation state of the distinct clusters
repeated for their copies. ``estimation.estimate`` runs its search on it.
"""

from __future__ import annotations

import numpy as np

from .likelihood import MixtureLikelihood, row_patterns, run_patterns
from .mathutils import OnWorkers
from .scaling import ScaledLikelihood

#: False: every cluster is evaluated as before (the benchmark's ``old``,
#: ``benchmarks/adaptive_copies.py``)
MERGE = True
#: clusters merged only when the distinct ones are at most this share of all (the patterns
#: cost a pass over the data; a few copies do not pay for it)
MAX_SHARE = 0.8


def cluster_copies(design) -> tuple[np.ndarray, np.ndarray]:
    """(first cluster of each distinct cluster, distinct cluster of every cluster): clusters
    with the same row patterns (``likelihood.row_patterns``) in each of their units, the same
    unit covariates and class random-term designs, and the same between-level covariates."""
    _, inv = row_patterns(design)
    P = int(inv.max()) + 1 if inv.size else 0
    W = [b.Z for b in design.re_cls]
    _, vinv, _ = run_patterns(design.unit_starts, design.n_rows, inv, P, [design.Z] + W)
    cs = design.classes
    G, U = design.n_clusters, design.n_units
    Zb = np.concatenate([cs.vars[t].Z for t in cs.betw], axis=1) if cs is not None and cs.betw else np.zeros((G, 0))
    first_unit = np.searchsorted(design.cluster_of_unit, np.arange(G))
    gfirst, ginv, _ = run_patterns(first_unit, U, vinv, int(vinv.max()) + 1 if vinv.size else 0, [Zb])
    return gfirst, ginv


def _may_repeat(design) -> bool:
    """A necessary condition for copies, from per-cluster sums (clusters x columns, no pass that
    copies the rows): two clusters with the same numbers of rows and sums of the outcome and of
    a dense design's columns. Without it (continuous covariates: every cluster its own) the
    patterns' pass, several times the data's size in memory, is skipped. Sums of the same rows
    in another order may differ in their last bits: rounded; a miss only forgoes a merge."""
    G = design.n_clusters
    first_unit = np.searchsorted(design.cluster_of_unit, np.arange(G))
    starts = np.asarray(design.unit_starts)[first_unit]
    cols = [np.diff(np.append(starts, design.n_rows)).astype(float),
            np.add.reduceat(np.asarray(design.y, float), starts)]
    if isinstance(design.X, np.ndarray) and design.X.shape[1]:
        cols.append(np.add.reduceat(design.X, starts, axis=0))
    keys = np.column_stack(cols)
    scale = np.maximum(np.abs(keys).max(axis=0), 1.0)
    keys = np.round(keys / scale, 9)
    return np.unique(keys, axis=0).shape[0] <= MAX_SHARE * G


def _mergeable(lik) -> bool:
    d = lik.design
    return (type(lik) is MixtureLikelihood and not lik.shared_nodes and d.groupings is None
            and d.n_represented is None and d.unit_weight is None and d.cluster_weight is None
            and isinstance(d.y, np.ndarray) and not isinstance(d.X, OnWorkers) and d.n_clusters > 1)


def on_distinct_clusters(lik):
    """``lik`` (a :class:`MixtureLikelihood` or one seen through a rescaling) on its distinct
    clusters, each weighted by its count, and ``expand(state)``, the adaptation state of the
    distinct clusters for every cluster; None when no clusters repeat (or too few), the rule
    is shared (patterns are merged there already), or the design is weighted, crossed or on
    workers. The current adaptation state is taken over; None too when copies differ in it."""
    base = lik.base if isinstance(lik, ScaledLikelihood) else lik
    if not MERGE or not _mergeable(base):
        return None
    d = base.design
    if not _may_repeat(d):
        return None
    first, inv = cluster_copies(d)
    if first.size > MAX_SHARE * d.n_clusters:
        return None
    k = base.K if base.class_nodes else 1
    m, R = base.integ.m, base.integ.R
    at = (inv[:, None] * k + np.arange(k)).ravel()  # every cluster's (class's) row of the distinct states
    own = (first[:, None] * k + np.arange(k)).ravel()
    if not (np.array_equal(m[own][at], m) and np.array_equal(R[own][at], R)):
        return None
    counts = np.bincount(inv, minlength=first.size).astype(float)
    sub = MixtureLikelihood(d.take_clusters(first, counts, d.n_clusters), base.layout,
                            base.integ.with_adaptation((m[own], R[own])))

    def expand(state):
        return None if state is None else tuple(np.ascontiguousarray(a[at]) for a in state)

    return (ScaledLikelihood(sub, lik.rescaling) if lik is not base else sub), expand
