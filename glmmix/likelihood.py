"""The multilevel mixture likelihood: log-likelihood, posteriors, exact gradient, scores.

Rows r sit in units u (the level of the class variable C), units in clusters g (the level
of the random effects, standard-normal latents u_g of dimension D entering through factor
matrices, see ``random_effects.py``). Two forms:

* classes inside clusters (``form="inside"``; LCA with random effects per classroom,
  GoM's row-level classes with a person effect, a GLMM with K = 1):

      L_g = int phi(u) prod_{units in g} sum_c P(c | z_u, u) prod_{r in unit} f(y_r | c, u) du

* classes at the cluster level (``form="outside"``; FMA, between-level classes, eq 18):

      L_g = sum_c P(c | z_g) int phi(u) prod_{r in g} f(y_r | c, u) du

Without random effects both reduce to the LCA form (one node). The integral is a weighted
sum over nodes (``quadrature.py``). Everything runs in log space, vectorised over all rows,
units and clusters at once; Python loops run over classes and random terms only.

Row log-densities depend on a row only through its *pattern* (design rows, outcome, family
data) as long as the nodes are shared by all clusters, so the family is evaluated on
distinct patterns and sparse count matrices carry them to units. With adaptive nodes
(per-cluster positions) the patterns are the rows.

The gradient is exact by Fisher's identity: the posterior expectation of the
complete-data score. For a coefficient entering eta linearly through a feature a_r
(x_r for beta; z_ri * u_j for an entry L_ij of a factor matrix) it is
sum_{r, states} w_{r,state} (d logf / d eta) a_r; for class logits it is posterior minus
prior probabilities, times the logit's feature.

Array axis order: rows/units/clusters first, then classes, then nodes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .design import Design
from .families import Family
from .mathutils import OnWorkers, SUM_SPREAD_LIMIT, lse, lse_post, lse_softmax, lse_softmax_sum, sum_last
from .params import ParamLayout
from .quadrature import Integration, gauss_hermite
from .random_effects import factor as re_factor
from .random_effects import reg_metric_scale, reg_pullback


@dataclass
class EStep:
    """One evaluation at the current parameters.

    ll : float; ll_units : (n_clusters,) log-likelihood of each independent cluster (None
    without random effects, where it is not needed)
    post : (n_units, K) posterior class probabilities (nodes integrated out), or None when
    they are assembled on request (``unit_posterior``) from post_c, post_bq and post_node
    logprior : (prior groups, K, Qc) class log-probabilities (Qc = 1 without random class
    logits); prior groups are unit patterns with the same priors (``_RowSet.zinv``)
    wpat : (n_patterns, K, Q) posterior weight of each (pattern, class, node); summed over
    the nodes, (n_patterns, K, 1), when they do not enter the linear predictors (eta_q = 1)
    fe : the family's evaluation (families.FamilyEval); parts : unpacked parameter blocks
    post_node : (n_clusters, Q) posterior node weights (class-averaged), or with class-specific
    nodes (``class_nodes``) (n_clusters * K, Q) given each class; nodes : (G, Q, D) or (G * K, Q, D)
    eta_q : nodes carried by the linear predictors (1 without outcome random effects)
    pq : posterior weight of (unit pattern, between state, node) (divided by the sums over within
    states, R, with ``_Product``); rs : the row set used
    post_c : (V, K, Q) within-state posteriors given (between state, node), classes inside
    post_bq : (cluster patterns, Kb, Q) posteriors of (between state, node)
    post_vq : (V, K, Q) posterior of (class, node) per unit pattern, classes outside
    wprior : posterior weights of the class priors' terms; wb : of the between priors
    re_lin : (prior groups, n_slots, Q) random parts of the class logits (None without them)
    eta_nodes : the nodes of the linear predictors' node axis (``nodes``, or with a shared rule
    whose nodes repeat in the outcome terms' dimensions, (G, eta_q, D) one node per value)
    prior_nodes : the nodes of the class priors' node axis (``logprior``, ``re_lin``, the prior
    weights): ``nodes``, or on a product rule whose class-logit dimensions are disjoint from
    the outcome's (``_Product``), (1, Qc, D) one node per value of the class-logit dimensions
    """

    ll: float
    ll_units: np.ndarray
    post: np.ndarray
    logprior: np.ndarray
    wpat: np.ndarray
    fe: object
    parts: dict
    post_node: np.ndarray = None
    nodes: np.ndarray = None
    eta_q: int = 1
    pq: np.ndarray = None
    rs: object = None
    post_c: np.ndarray = None
    post_bq: np.ndarray = None
    post_vq: np.ndarray = None
    wprior: np.ndarray = None
    wb: np.ndarray = None
    re_lin: np.ndarray = None
    eta_nodes: np.ndarray = None
    prior_nodes: np.ndarray = None
    #: an evaluation summed over blocks of clusters (``MixtureLikelihood.shards``): what the
    #: blocks returned (``"grad"``, ``"moments"``, ``"post"``), and where it was taken
    #: (theta, adaptation state, homogeneous) so that other sums are computed on request
    sums: dict = None
    at: tuple = None

    def __post_init__(self):
        if self.eta_nodes is None:  # the linear predictors' nodes are the rule's
            self.eta_nodes = self.nodes
        if self.prior_nodes is None:  # the class priors' nodes are the rule's
            self.prior_nodes = self.nodes


@dataclass
class _Combined:
    """The class-and-node combination of one evaluation (``MixtureLikelihood._combine_*``)."""

    ll: float
    ll_units: np.ndarray
    post: np.ndarray
    post_node: object
    Wu: np.ndarray
    wprior: np.ndarray
    pq: np.ndarray
    wb: np.ndarray = None
    post_c: np.ndarray = None
    post_bq: np.ndarray = None
    post_vq: np.ndarray = None


class _RowSet:
    """Rows (or distinct row patterns) and units (or distinct unit patterns).

    Row patterns: rows with the same design rows, outcome and family data. Unit patterns:
    units with the same row patterns, class covariates and class random-term designs; they
    are used when the nodes are shared by all clusters (non-adaptive rules, or no random
    effects), since such units then contribute identically. ``Gv`` (clusters x unit
    patterns) counts how often each unit pattern occurs in each cluster.
    """

    def __init__(self, design: Design, first, inv, per_row: bool, compress_units: bool):
        rows = slice(None) if per_row else first  # patterns are the rows: views, no copies
        X = design.X[rows]
        if sp.issparse(X) and X.shape[0] * X.shape[1] <= 2_000_000:  # few patterns: dense is faster
            X = X.toarray()
        self.X = X.tocsr() if sp.issparse(X) else np.asarray(X)
        self.Xt = self.X.T.tocsr() if sp.issparse(self.X) else None
        self.Zs = [b.Z[rows] for b in design.re_out]
        self.y = design.y[rows]
        self.aux = design.aux.rows(rows)
        P = first.size
        self.P = P
        U, G = design.n_units, design.n_clusters
        # sampling weights (weights.py): a unit's contribution is multiplied by its weight
        # (within-cluster weight) and its cluster's; compressed counts are weighted counts
        # unweighted (the usual case): unit weights, counts and multiplicities of ones are
        # read-only views of one value, not arrays with one entry per row or unit
        weighted = design.unit_weight is not None or design.cluster_weight is not None
        uw = design.unit_weight if design.unit_weight is not None else _ones(U)
        cw = design.cluster_weight if design.cluster_weight is not None else _ones(G)
        tw = uw * cw[design.cluster_of_unit] if weighted else None
        W = [b.Z for b in design.re_cls]
        cs = design.classes
        if per_row:  # units x rows: each unit a run of rows, no matrix needed
            C = _Segments(design.unit_starts, design.n_rows)
            self.count = C.T @ tw if weighted else _ones(design.n_rows)
        elif compress_units:  # only the distinct units' rows of the units x patterns counts are built
            C = None
            self.count = np.bincount(inv, weights=tw[design.unit_of_row] if weighted else None, minlength=P).astype(float)
        else:
            C = count_matrix(design, inv, P)
            self.count = np.asarray(C.T @ tw if weighted else C.sum(axis=0), dtype=float).ravel()
        # cluster of each pattern: only meaningful when patterns are rows
        self.cluster = design.cluster_of_unit[design.unit_of_row[first]] if per_row else None
        if compress_units:
            vfirst, vinv, Cv, gfirst, ginv = self._compress(design, inv, P, W)
        else:  # units and clusters as they are: views, and runs of units per cluster
            vfirst, vinv = slice(None), np.arange(U, dtype=np.int32 if U < 2**31 - 1 else np.intp)
            self.V = U
            Cv = C
            first_unit = np.searchsorted(design.cluster_of_unit, np.arange(G))
            self._Gv = _Segments(first_unit, U)
            self.Gc = self._Gv if design.unit_weight is None else _Segments(first_unit, U, uw)
            self.GcT = self.Gc.T
            gfirst, ginv = slice(None), np.arange(G)
        self.vinv = vinv
        if weighted:
            self.mult = np.bincount(vinv, weights=tw, minlength=self.V)
        else:
            self.mult = _ones(U) if not compress_units else np.bincount(vinv, minlength=self.V).astype(float)
        self.C = Cv
        if isinstance(Cv, np.ndarray):
            self.CT = np.ascontiguousarray(Cv.T)
        else:
            self.CT = Cv.T if isinstance(Cv, _Segments) else Cv.T.tocsr()
        self.Zv = design.Z[vfirst]
        self.Wv = [w[vfirst] for w in W]
        self.cluster_of_v = design.cluster_of_unit[vfirst]  # used only when units are not merged
        self.ginv = ginv
        if design.cluster_weight is None and isinstance(gfirst, slice):
            self.gmult = _ones(G)
        else:
            self.gmult = np.bincount(ginv, weights=None if design.cluster_weight is None else cw,
                                     minlength=G if isinstance(gfirst, slice) else gfirst.size).astype(float)
        self.GcTm = _folded(self.GcT, self.gmult)
        self.Zgs = {t: cs.vars[t].Z[gfirst] for t in cs.betw}
        # prior groups: unit patterns whose class priors coincide (same class covariates and
        # class random-term designs, and with per-cluster nodes and random class logits, the
        # same cluster); priors, their gradient and information are computed per group
        key = [self.Zv] + self.Wv + ([self.cluster_of_v[:, None]] if W and not compress_units else [])
        key = np.ascontiguousarray(np.concatenate(key, axis=1), dtype=float)
        zv = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
        _, zfirst, zinv = np.unique(zv, return_index=True, return_inverse=True)
        self.Zu, self.zinv = self.Zv[zfirst], zinv.ravel().astype(np.int32 if self.V < 2**31 - 1 else np.intp)
        self.Wu = [w[zfirst] for w in self.Wv]
        self.cluster_of_z = self.cluster_of_v[zfirst]
        # per-variable covariate rows of the within-level class variables, on unit patterns
        # (Zvs) and on prior groups (Zus), with the sparse map unit patterns -> groups
        self.Zvs, self.Zus = {}, {}
        off = 0
        for t in cs.within:
            q = cs.vars[t].Z.shape[1]
            self.Zvs[t] = self.Zv[:, off:off + q]
            self.Zus[t] = self.Zu[:, off:off + q]
            off += q
        if self.Zu.shape[0] == 1:  # one prior group (no class covariates): a plain sum
            self.Zmap = _Segments(np.zeros(1, np.intp), self.V)
        else:
            self.Zmap = sp.csr_matrix((np.ones(self.V), (self.zinv, np.arange(self.V))),
                                      shape=(self.Zu.shape[0], self.V))

    def _compress(self, design: Design, inv, P: int, W: list):
        """Unit patterns: units with the same row-pattern counts, class covariates and class
        random-term designs (units are runs of rows); cluster patterns: with shared nodes,
        clusters with the same unit patterns (and the same between-level covariates) contribute
        identically (e.g. persons with the same response pattern in a GoM; clusters are runs of
        units). Sets V, Gc, GcT; returns (vfirst, vinv, unit patterns x row patterns counts,
        gfirst, ginv)."""
        cs, G, U = design.classes, design.n_clusters, design.n_units
        vfirst, vinv, Cv = run_patterns(design.unit_starts, design.n_rows, inv, P, [design.Z] + W)
        self.V = vfirst.size
        if self.V * P <= 4 * Cv.nnz:  # few patterns: dense products are faster
            Cv = Cv.toarray()
        # clusters x unit patterns: counts (Gv) and within-weighted counts (Gw)
        # (Gv has one entry per unit and only cluster scores read it: rebuilt on demand)
        self._gv = (design.cluster_of_unit, G)
        Zb = np.concatenate([cs.vars[t].Z for t in cs.betw], axis=1) if cs.betw else np.zeros((G, 0))
        first_unit = np.searchsorted(design.cluster_of_unit, np.arange(G))
        gfirst, ginv, Gw = run_patterns(first_unit, U, vinv, self.V, [Zb], design.unit_weight)
        self.Gc, self.GcT = _pattern_sums(Gw)
        return vfirst, vinv, Cv, gfirst, ginv

    @property
    def Gv(self):
        """Clusters x unit patterns: how often each unit pattern occurs in each cluster."""
        if getattr(self, "_Gv", None) is None:
            cluster_of_unit, G = self._gv
            return _runs_matrix(cluster_of_unit, self.vinv, None, G, self.V)
        return self._Gv


def _ones(n: int) -> np.ndarray:
    """``n`` ones as a read-only view of one value (no memory per entry)."""
    return np.broadcast_to(np.float64(1.0), (n,))


def _pattern_sums(Gc):
    """The cluster patterns x unit patterns sum matrix and its transpose: dense when at least a
    quarter full (BLAS products; a GoM person's responses are half the unit patterns)."""
    if Gc.shape[0] * Gc.shape[1] <= 4 * Gc.nnz:
        Gc = Gc.toarray()
        return Gc, np.ascontiguousarray(Gc.T)
    return Gc, Gc.T.tocsr()


def _folded(GcT, gmult):
    """Unit patterns x cluster patterns with the multiplicities folded in (None: runs of units)."""
    if isinstance(GcT, np.ndarray):
        return GcT * gmult[None, :]
    if sp.issparse(GcT):
        return (GcT @ sp.diags(gmult)).tocsr()
    return None


class _Segments:
    """A (groups x members) sum matrix whose members are sorted by group, every group one
    non-empty run of members from ``starts``, with optional member ``weights``: ``S @ x``
    sums each group's (weighted) members, ``S.T @ y`` gives every member its group's value
    (times its weight). Units are runs of rows and clusters runs of units, so these replace
    sparse matrices with one entry per row; one member per group is the identity."""

    def __init__(self, starts, n: int, weights=None):
        starts = np.asarray(starts)
        self.starts = starts if starts.dtype in (np.int32, np.intp) else starts.astype(np.intp)
        self.shape = (self.starts.size, n)
        self.w = weights
        self.identity = weights is None and self.starts.size == n

    def weigh(self, x):
        return x if self.w is None else x * self.w.reshape((-1,) + (1,) * (x.ndim - 1))

    def __matmul__(self, x):
        x = np.asarray(x)
        if self.identity:
            return x
        return np.add.reduceat(self.weigh(x), self.starts, axis=0)

    @property
    def T(self):
        return _SegmentsT(self)


class _SegmentsT:
    """The transpose of a :class:`_Segments` (members x groups)."""

    def __init__(self, S: _Segments):
        self.S = S
        self.shape = S.shape[::-1]

    def __matmul__(self, y):
        y = np.asarray(y)
        S = self.S
        if S.identity:
            return y
        counts = np.diff(np.r_[S.starts, S.shape[1]])
        return S.weigh(np.repeat(y, counts, axis=0))


class _Expand:
    """Rows of a cluster-pattern array seen per cluster, without materializing (G, Q)."""

    def __init__(self, arr, inv):
        self.arr, self.inv = arr, inv
        self.shape = (inv.size,) + arr.shape[1:]

    def __getitem__(self, idx):
        return self.arr[self.inv[idx]]

    def __array__(self, dtype=None, copy=None):
        out = self.arr[self.inv]
        return out if dtype is None else out.astype(dtype)


class _Factored:
    """Within-state posteriors given (between state, node) in factored form, for nodes that
    enter only the class priors (random class logits, no outcome random terms).

    post_c[v, b, w, q] = ea[z_v, b, w, q] eb[v, b, w] / s[v, b, q]: ``ea`` (prior groups, Kb,
    Kw, Q) the exponentials of the class log-priors (less their maximum over w), ``eb`` (V,
    Kb, Kw) those of the unit log-densities, s their products summed over the within states
    w, by one sparse product per between state (the V x Kw*groups matrix with eb[v, b, w] at
    column w*groups + z_v). No (units, states, nodes) array is formed unless asked for
    (indexing, or :meth:`unit_weights`); the sums over nodes or over the units of a prior
    group that the gradient needs come from products with ``ea``.
    """

    def __init__(self, ea, eb, zinv):
        self.ea, self.eb, self.zinv = ea, eb, zinv
        (V, Kb, Kw), (Z, Q) = eb.shape, (ea.shape[0], ea.shape[3])
        self.shape = (V, Kb * Kw, Q)
        cols = (np.arange(Kw) * Z + zinv[:, None]).ravel()
        ptr = np.arange(0, V * Kw + 1, Kw)
        self._M = [sp.csr_matrix((eb[:, b].ravel(), cols, ptr), shape=(V, Kw * Z)) for b in range(Kb)]
        self._ea = [ea[:, b].transpose(1, 0, 2).reshape(Kw * Z, Q) for b in range(Kb)]  # rows w*Z + z
        self.s = np.stack([M @ e for M, e in zip(self._M, self._ea)], axis=1)  # (V, Kb, Q)

    @classmethod
    def of(cls, a, b, zinv):
        """log sum_w exp(a[z_v, b, w, q] + b[v, b, w]) (V, Kb, Q) and the factored posteriors,
        or None when a product of exponentials could underflow (the spreads of a and b over
        w add up to more than ``SUM_SPREAD_LIMIT``, or a term is infinite)."""
        ma, mb = a.max(axis=2, keepdims=True), b.max(axis=2, keepdims=True)
        spread = float((ma - a.min(axis=2, keepdims=True)).max(initial=0.0)
                       + (mb - b.min(axis=2, keepdims=True)).max(initial=0.0))
        if not np.isfinite(spread) or spread > SUM_SPREAD_LIMIT:
            return None
        f = cls(np.exp(a - ma), np.exp(b - mb), zinv)
        return np.log(f.s) + ma[zinv, :, 0] + mb[:, :, :1], f

    def __getitem__(self, idx):
        """post_c of the units ``idx``: (n, K, Q)."""
        e = self.ea[self.zinv[idx]] * self.eb[idx][..., None]
        e /= self.s[idx][:, :, None, :]
        return e.reshape(e.shape[0], -1, e.shape[3])

    def node_sums(self, R):
        """sum_q post_c[v, b, w, q] R[v, b, q] for weights R (V, Kb, Q): (V, K)."""
        Rs = R / self.s
        out = np.empty(self.eb.shape)
        for b in range(self.eb.shape[1]):
            for w in range(self.eb.shape[2]):
                out[:, b, w] = np.einsum("vq,vq->v", self.ea[self.zinv, b, w], Rs[:, b])
        out *= self.eb
        return out.reshape(out.shape[0], -1)

    def group_sums(self, R):
        """sum over the units v of each prior group of post_c[v, b, w, q] R[v, b, q]: (groups,
        K, Q)."""
        Rs = R / self.s
        Z, Kb, Kw, Q = self.ea.shape
        out = np.stack([(M.T @ Rs[:, b]).reshape(Kw, Z, Q).transpose(1, 0, 2)
                        for b, M in enumerate(self._M)], axis=1)
        out *= self.ea
        return out.reshape(Z, Kb * Kw, Q)

    def unit_sums(self, R):
        """post_c[v, b, w, q] R[v, b, q] of every unit pattern: (V, K, Q)."""
        V, Kb = R.shape[:2]
        return (self[np.arange(V)].reshape(V, Kb, -1, self.shape[2]) * R[:, :, None, :]).reshape(self.shape)


class _Product:
    """Within-state posteriors given (between state, node) on a shared product rule whose
    outcome dimensions and class-logit dimensions are disjoint (Table 3's Model 6, the
    FMA-GoM): node q is the pair (i, c) of a value i of the outcome's dimensions (Qo) and a
    value c of the class logits' (Qc), q = i * Qc + c, and the nodes enter the unit
    log-densities through i and the class log-priors through c only.

    With ``eb`` (V, Kb, Qo, Kw) the exponentials of the unit log-densities (less their maximum
    over the within states w) and ``ea`` (prior groups, Kb, Kw, Qc) those of the class
    log-priors, the sum over w at the pairs (i, c) of unit v is the matrix product
    s[v, b] = eb[v, b] @ ea[z_v, b] (Qo x Kw by Kw x Qc), and the posteriors are
    post_c[v, b, w, (i, c)] = eb[v, b, i, w] ea[z_v, b, w, c] / s[v, b, i, c]. The gradient's
    sums of post_c times weights pq over the class-logit values (the outcome terms) and over
    the outcome values and units (the class priors) are matrix products with R = pq / s too:
    no (units x states x nodes) array is formed. Arrays (V, Kb, Q) are s, R and the cluster
    sums' operands only.
    """

    def __init__(self, ea, eb, zinv, Qc: int):
        self.ea, self.eb, self.zinv = ea, eb, zinv
        V, Kb, Qo, Kw = eb.shape
        self.Qo, self.Qc = Qo, Qc
        self.shape = (V, Kb * Kw, Qo * Qc)
        if ea.shape[0] == 1 and Kb == 1:  # one prior group: one matrix product for all units
            self.s = (eb.reshape(V * Qo, Kw) @ ea[0, 0]).reshape(V, 1, Qo, Qc)
        else:
            self.s = np.matmul(eb, ea[0] if ea.shape[0] == 1 else ea[zinv])

    @classmethod
    def of(cls, a, b, zinv, Qc: int):
        """The factored sums for class log-priors ``a`` (prior groups, Kb, Kw, Qc) and unit
        log-densities ``b`` (V, Kb, Kw, Qo): log sum_w exp(a + b) at the pair (i, c) is log s
        plus the maxima over w of ``a`` (at c) and of ``b`` (at i), ``ma`` and ``mb``.
        None when the spread over w of both operands exceeds ``SUM_SPREAD_LIMIT`` (with the
        largest term of one operand, the product is at least exp(-the other's spread), far
        from underflow, as in ``mathutils.lse_softmax_sum``), or a term is infinite."""
        ma, mb = a.max(axis=2), b.max(axis=2)
        if not (np.isfinite(ma).all() and np.isfinite(mb).all()):
            return None
        spread = min(float((ma - a.min(axis=2)).max(initial=0.0)), float((mb - b.min(axis=2)).max(initial=0.0)))
        if spread > SUM_SPREAD_LIMIT:
            return None
        eb = np.exp(b - mb[:, :, None, :]).transpose(0, 1, 3, 2).copy()  # (V, Kb, Qo, Kw)
        f = cls(np.exp(a - ma[:, :, None, :]), eb, zinv, Qc)
        f.ma, f.mb = ma, mb
        return f

    def cluster_sums(self, Gc, logw=None):
        """sum over each cluster pattern's units (``Gc``: cluster patterns x unit patterns) of
        log sum_w exp(a + b): (Gp, Kb, Q), a fresh array. The maxima are summed on their own
        (small) axes and added at the cluster level. ``logw`` (Q,): the rule's log-weights,
        added too; when they are those of a product of the outcome's and the class logits'
        rules (log w_(i, c) = log w_i + log w_c, to 1e-12), with the maxima (one pass over
        the cluster-level array less). Returns (sums, whether ``logw`` was added)."""
        V, Kb, Qo, Qc = self.s.shape
        Gp = Gc.shape[0]
        lg = np.asarray(Gc @ np.log(self.s).reshape(V, -1)).reshape(Gp, Kb, Qo, Qc)
        outc = np.asarray(Gc @ self.mb.reshape(V, -1)).reshape(Gp, Kb, Qo, 1)
        if self.ea.shape[0] == 1:  # one prior group: its maxima times the clusters' unit counts
            cls = np.asarray(Gc @ np.ones(V)).reshape(Gp, 1, 1, 1) * self.ma[0][None, :, None, :]
        else:
            cls = np.asarray(Gc @ self.ma[self.zinv].reshape(V, -1)).reshape(Gp, Kb, 1, Qc)
        added = False
        if logw is not None:
            lw = np.asarray(logw, float).reshape(Qo, Qc)
            lo, lc = lw[:, :1], lw[:1, :] - lw[:1, :1]
            if np.abs(lo + lc - lw).max() <= 1e-12 * max(1.0, float(np.abs(lw).max())):
                outc = outc + lo
                cls = cls + lc
                added = True
        lg += outc
        lg += cls
        return lg.reshape(Gp, Kb, Qo * Qc), added

    def weights(self, pq):
        """R = pq / s (V, Kb, Q), in place of ``pq``: what the sums below take."""
        pq /= self.s.reshape(pq.shape)
        return pq

    def node_sums(self, R):
        """sum over the class-logit values c of post_c[v, b, w, (i, c)] R[v, b, (i, c)]:
        (V, K, Qo), the outcome terms' weights."""
        V, Kb, Qo, Qc = self.s.shape
        Kw = self.eb.shape[3]
        R4 = R.reshape(V, Kb, Qo, Qc)
        if self.ea.shape[0] == 1 and Kb == 1:
            t = (R4.reshape(V * Qo, Qc) @ self.ea[0, 0].T).reshape(V, 1, Qo, Kw)
        else:
            ea = self.ea[0] if self.ea.shape[0] == 1 else self.ea[self.zinv]
            t = np.matmul(R4, np.swapaxes(ea, -1, -2))
        t *= self.eb
        return t.transpose(0, 1, 3, 2).reshape(V, Kb * Kw, Qo)

    def _prior_terms(self, R):
        """sum over the outcome values i of eb[v, b, i, w] R[v, b, (i, c)]: (V, Kb, Kw, Qc)."""
        V, Kb, Qo, Qc = self.s.shape
        return np.matmul(np.swapaxes(self.eb, -1, -2), R.reshape(V, Kb, Qo, Qc))

    def unit_sums(self, R):
        """sum over the outcome values of post_c R per unit pattern: (V, K, Qc), the class
        priors' weights on the class-logit values."""
        V = self.s.shape[0]
        ea = self.ea[0][None] if self.ea.shape[0] == 1 else self.ea[self.zinv]
        return (self._prior_terms(R) * ea).reshape(V, -1, self.Qc)

    def group_sums(self, R, Zmap=None):
        """The same summed over the units of each prior group (``Zmap``: prior groups x unit
        patterns; None with one group): (groups, K, Qc)."""
        V, Kb, Qo, Qc = self.s.shape
        Kw = self.eb.shape[3]
        if self.ea.shape[0] == 1:
            R4 = R.reshape(V, Kb, Qo, Qc)
            out = np.stack([self.eb[:, b].reshape(V * Qo, Kw).T @ R4[:, b].reshape(V * Qo, Qc)
                            for b in range(Kb)])[None]
        else:
            out = np.asarray(Zmap @ self._prior_terms(R).reshape(V, -1)).reshape(-1, Kb, Kw, Qc)
        out *= self.ea
        return out.reshape(out.shape[0], Kb * Kw, Qc)

    def __getitem__(self, idx):
        """post_c of the units ``idx``: (n, K, Q)."""
        eb = self.eb[idx]  # (n, Kb, Qo, Kw)
        n, Kb, Qo, Kw = eb.shape
        ea = self.ea[self.zinv[idx]] if self.ea.shape[0] > 1 else self.ea[[0] * n]  # (n, Kb, Kw, Qc)
        e = eb.transpose(0, 1, 3, 2)[..., None] * ea[:, :, :, None, :]  # (n, Kb, Kw, Qo, Qc)
        e /= self.s[idx][:, :, None]
        return e.reshape(n, Kb * Kw, Qo * self.Qc)


class _PriorWeights:
    """Posterior weights of (unit, within state, node), post_c * pq, kept factored
    (:class:`_Factored`, :class:`_Product`): summed into prior groups on request
    (``_group_sum``), or whole."""

    def __init__(self, fac, pq, Zmap=None):
        self.fac, self.pq, self.Zmap = fac, pq, Zmap
        self.shape = fac.shape if isinstance(fac, _Factored) else fac.shape[:2] + (fac.Qc,)

    def grouped(self):
        if isinstance(self.fac, _Product):
            return self.fac.group_sums(self.pq, self.Zmap)
        return self.fac.group_sums(self.pq)

    def __array__(self, dtype=None, copy=None):
        out = self.fac.unit_sums(self.pq)
        return out if dtype is None else out.astype(dtype)


#: rows (or units) handled at once when rows are grouped by hash and the grouping verified:
#: bounds the memory these steps add to the data's
_CHUNK = 1 << 15
_ONE = np.ones(1)
_ONE.flags.writeable = False  # broadcast as the posterior of a single within state

#: cells (rows or row patterns x classes x nodes) one evaluation fills at most before it runs
#: over blocks of clusters (``MixtureLikelihood._make_shards``): about 4 MiB per such array
SHARD_CELLS = 1 << 19

#: product rules whose outcome and class-logit dimensions are disjoint sum over classes by
#: matrix products (``_Product``); False evaluates them on every node like any rule (the
#: benchmarks' ``old``, ``benchmarks/table3_model6.py``)
PRODUCT_SUMS = True

#: points of the coarse adaptive Gauss-Hermite rule on which stage one ranks random starts in one
#: dimension (:meth:`MixtureLikelihood.coarse`; 3 per dimension in two or more), when one
#: evaluation fills at least COARSE_1D_CELLS cells (rows x classes x nodes: VerbAgg's FMA, 227,520;
#: the LSAT 3PL's 30 distinct response patterns, 4,500, keep the model's rule, where a stage one on
#: 7 points saves little and ranks its flat likelihood's starts differently)
COARSE_POINTS_1D = 7
COARSE_1D_CELLS = 1e5

#: an adaptation step shrinks the latents' scale by at most this factor in any direction
#: (``MixtureLikelihood._set_moments``)
ADAPT_MAX_SHRINK = 0.5
#: an adaptation step (the ADAPT_CENTRE_STEP-th) that still moves the log-likelihood by more
#: than ADAPT_CENTRE_JUMP re-centres the nodes at the modes (:meth:`MixtureLikelihood.adapt`)
ADAPT_CENTRE_JUMP = 1.0
ADAPT_CENTRE_STEP = 3
#: step halvings per Newton step of the conditional modes (``conditional_modes``)
MODE_HALVINGS = 30


def _same_rows(A, first, inv) -> bool:
    """Whether every row i of ``A`` (dense or sparse) equals row ``first[inv[i]]``, checked in
    chunks of rows so that no copy of ``A`` is made."""
    n = A.shape[0]
    step = max(1, _CHUNK * n // max(A.nnz if sp.issparse(A) else A.size, 1))  # about _CHUNK entries
    for a in range(0, n, step):
        b = min(a + step, n)
        R, S = A[first[inv[a:b]]], A[a:b]
        if sp.issparse(A):
            R, S = sp.csr_matrix(R), sp.csr_matrix(S, copy=True)
            for M in (R, S):
                M.eliminate_zeros()
                M.sort_indices()
            same = (np.array_equal(R.indptr, S.indptr) and np.array_equal(R.indices, S.indices)
                    and np.array_equal(R.data, S.data))
        else:
            same = np.array_equal(R, S)
        if not same:
            return False
    return True


def _group_by_hash(h, n: int | None = None):
    """Groups of equal hash values, numbered in order of first appearance: (first member of
    every group, group of every element). ``h``: the hash values, or a function giving those of
    the elements [a, b) (then ``n`` elements in all, and the hashes never exist all at once).
    Factorized in chunks, so the hash table is sized by the number of groups, not of elements."""
    n = h.shape[0] if n is None else n
    inv = np.empty(n, dtype=np.int32 if n < 2**31 - 1 else np.intp)
    seen = None
    firsts = []
    for a in range(0, n, _CHUNK):
        b = min(a + _CHUNK, n)
        codes, uniq = pd.factorize(h(a, b) if callable(h) else h[a:b])
        if seen is None:
            seen = pd.Index(uniq[:0])
        glob = seen.get_indexer(uniq)
        new = glob < 0
        if new.any():
            glob[new] = len(seen) + np.arange(int(new.sum()))
            seen = seen.append(pd.Index(uniq[new]))
            # codes number the chunk's values in order of appearance: their first positions
            pos = np.unique(codes, return_index=True)[1]
            firsts.append(a + pos[new])
        inv[a:b] = glob[codes]
    first = np.concatenate(firsts).astype(np.intp) if firsts else np.zeros(0, np.intp)
    return first, inv


def count_matrix(design: Design, inv, P: int) -> sp.csr_matrix:
    """Units x patterns counts: rows are sorted by unit, so the compressed-row structure is the
    units' row ranges and the patterns of their rows (no coordinate copy)."""
    n = design.n_rows
    idx_type = np.int32 if max(n, P) < 2**31 - 1 else np.int64
    indptr = np.r_[design.unit_starts, n].astype(idx_type)
    C = sp.csr_matrix((np.ones(n), np.asarray(inv).astype(idx_type, copy=False), indptr), shape=(design.n_units, P))
    C.sum_duplicates()
    return C


def _runs_matrix(group, col, data, n_groups: int, n_cols: int) -> sp.csr_matrix:
    """Groups x columns sums of ``data`` at (group, col) for members sorted by group: built
    in compressed-row form directly (no coordinate copy)."""
    idx = np.int32 if max(group.size, n_cols) < 2**31 - 1 else np.int64
    indptr = np.searchsorted(group, np.arange(n_groups + 1)).astype(idx)
    # own copies: sum_duplicates sorts and merges them in place (``data`` None: ones)
    data = np.ones(group.size) if data is None else np.array(data, float)
    M = sp.csr_matrix((data, np.array(col, dtype=idx), indptr), shape=(n_groups, n_cols))
    M.sum_duplicates()
    return M


_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


def _mix64(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, elementwise on uint64 (a bijection that scatters nearby values)."""
    z = z ^ (z >> np.uint64(30))
    z *= _MIX[0]
    z ^= z >> np.uint64(27)
    z *= _MIX[1]
    return z ^ (z >> np.uint64(31))


def _bits(x) -> np.ndarray:
    """The bit patterns of float values as uint64 (-0.0 read as 0.0)."""
    return (np.ascontiguousarray(x, dtype=float) + 0.0).view(np.uint64)


def _runs_sub(starts, ends, codes, weights, groups, n_codes: int) -> sp.csr_matrix:
    """The groups x codes sums of the members of ``groups`` (member i of a group adds
    ``weights[i]``, default 1, at ``codes[i]``), in canonical compressed-row form."""
    lo = np.asarray(starts[groups], np.intp)
    ln = np.asarray(ends[groups], np.intp) - lo
    indptr = np.r_[0, np.cumsum(ln)]
    pos = np.repeat(lo - indptr[:-1], ln) + np.arange(indptr[-1])
    idx = np.int32 if max(pos.size, n_codes) < 2**31 - 1 else np.int64
    data = np.ones(pos.size) if weights is None else np.asarray(weights, float)[pos]
    M = sp.csr_matrix((data, np.asarray(codes[pos], idx), indptr.astype(idx)), shape=(lo.size, n_codes))
    M.sum_duplicates()
    return M


def run_patterns(starts, n: int, codes, n_codes: int, extra=(), weights=None):
    """Distinct groups of members that are runs: group g holds the members
    [starts[g], starts[g + 1]) of n, member i counts ``weights[i]`` (default 1) at column
    ``codes[i]``; two groups are equal when their summed counts and their rows of every dense
    ``extra`` (one row per group) are. Returns (first group of every distinct group, distinct
    group of every group, distinct groups x codes counts as a csr matrix).

    Groups are hashed (a random 64-bit value per code summed over members, exact and
    independent of the members' order, and the bits of the extra rows), chunk by chunk, then
    grouped and verified exactly, chunk by chunk: no matrix with one entry per member is
    built beyond a chunk. A collision (practically impossible) merges nothing."""
    starts = np.asarray(starts)
    G = starts.size
    ends = np.r_[starts[1:], n]
    extra = [np.asarray(A).reshape(G, -1) for A in extra]
    r = np.random.default_rng(20061128).integers(0, np.iinfo(np.int64).max, size=n_codes, dtype=np.int64,
                                                  endpoint=True).view(np.uint64)
    h = np.empty(G, np.uint64)
    step = max(1, _CHUNK * G // max(n, 1))  # groups per chunk: about _CHUNK members
    for a in range(0, G, step):
        b = min(a + step, G)
        ra, rb = int(starts[a]), int(ends[b - 1])
        c = r[codes[ra:rb]]
        if weights is not None:
            c = _mix64(c ^ _bits(weights[ra:rb]))
        hh = np.add.reduceat(c, np.asarray(starts[a:b] - ra, np.intp)) if rb > ra else np.zeros(b - a, np.uint64)
        for A in extra:
            for j in range(A.shape[1]):
                hh += _mix64(_bits(A[a:b, j]) + np.uint64((2 * j + 1) * int(_MIX[0]) % 2**64))  # a salt per column
        h[a:b] = hh
    first, inv = _group_by_hash(h)
    del h
    for a in range(0, G, step):
        b = min(a + step, G)
        rep = first[inv[a:b]]
        M, R = (_runs_sub(starts, ends, codes, weights, g, n_codes) for g in (np.arange(a, b), rep))
        if not (np.array_equal(M.indptr, R.indptr) and np.array_equal(M.indices, R.indices)
                and np.array_equal(M.data, R.data) and all(np.array_equal(A[a:b], A[rep]) for A in extra)):
            first, inv = np.arange(G), np.arange(G, dtype=np.int32 if G < 2**31 - 1 else np.intp)  # pragma: no cover
            break
    return first, inv, _runs_sub(starts, ends, codes, weights, first, n_codes)


def row_patterns(design: Design):
    """Distinct rows of (X, random-term designs, y, family row data) and the map to them.

    Rows are hashed by a random projection and grouped with a hash table; the grouping is
    then verified exactly, in chunks of rows (a collision, practically impossible, falls back
    to sorting). Returns (representative row of each pattern, inverse map).
    """
    X = design.X
    n, p = X.shape
    cols = [design.y] + [b.Z for b in design.re_out] + list(design.aux.row_columns())
    rng = np.random.default_rng(20061127)
    rx = rng.standard_normal(p)
    rc = [rng.standard_normal(c.reshape(n, -1).shape[1]) for c in cols]

    def hashes(a, b):  # a chunk of rows at a time: no hash (nor product) for every row at once
        h = np.asarray(X[a:b] @ rx, dtype=float).ravel()
        for c, r in zip(cols, rc):
            h += c[a:b].reshape(b - a, -1) @ r
        return h

    first, inv = _group_by_hash(hashes, n)
    if _same_rows(X, first, inv) and all(_same_rows(c.reshape(n, -1), first, inv) for c in cols):
        return first, inv
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)  # pragma: no cover - hash collision
    key = np.ascontiguousarray(np.concatenate([Xd] + [c.reshape(n, -1) for c in cols], axis=1))
    void = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inv = np.unique(void, return_index=True, return_inverse=True)
    return first, inv.ravel()


class MixtureLikelihood:
    """Likelihood of a :class:`~glmmix.design.Design` under a :class:`~glmmix.params.ParamLayout`."""

    def __init__(self, design: Design, layout: ParamLayout, integration: Integration | None = None,
                 max_cells: float | None = None, row_set=None):
        self.design = design
        self.layout = layout
        self.K = design.n_classes
        self.cs = design.classes
        self.family = design.family
        self.Z = design.Z
        self.form = design.form
        self.integ = integration or Integration.make("agh", None, design.D, design.n_clusters)
        self.D = design.D
        # every random term's entries, positions in L and latent dimensions (params.TermView)
        self._pos = [v.pos for v in layout.re_terms]
        self._dims_out = [v.dims for v in layout.re_out_terms]
        self._dims_cls = [v.dims for v in layout.re_cls_terms]
        self._regs = None
        # adaptive nodes differ by cluster; rows then differ by cluster only if the nodes enter
        # their linear predictors (outcome random terms), else patterns still apply (GoM)
        per_row = self.integ.adaptive and bool(design.re_out)
        self.shared_nodes = not (self.integ.adaptive and self.D > 0)
        # classes outside the integral: each class's integral gets its own adapted nodes (the
        # latents' posterior given the class differs between classes, and nodes placed at the
        # class-averaged posterior misplace the less likely classes' integrals); the rule then
        # adapts per (cluster, class), nodes (G * K, Q, D) with the class fastest
        self.class_nodes = (design.form == "outside" and self.K > 1 and bool(design.re_out)
                            and self.integ.adaptive and self.integ.n_nodes > 1 and self.D > 0)
        n_adapt = design.n_clusters * (self.K if self.class_nodes else 1)
        if self.D > 0 and self.integ.m.shape[0] != n_adapt:
            self.integ.reset(n_adapt)
        self._eta_grid = self._outcome_subgrid()
        self._prior_grid = self._class_subgrid()
        self._per_row = per_row
        # the row set depends on the design and on (per_row, shared_nodes) only: another rule's
        # likelihood (with_integration) reuses it rather than holding a second copy
        self._pat = row_set[2] if row_set is not None and row_set[:2] == (per_row, self.shared_nodes) else None
        self._rows = None
        self._lap_sum = None  # Laplace: cluster sums of the rows, with within-cluster weights
        self.shards = self._make_shards(SHARD_CELLS if max_cells is None else max_cells)
        self.count = self.pat.count if self.shards is None else None
        self.n_patterns, self.n_cluster_patterns = self._pattern_counts()

    def _pattern_counts(self) -> tuple[int, int]:
        """Row patterns and cluster patterns one evaluation runs over (summed over blocks)."""
        if self.shards is None:
            return self.pat.P, self.pat.Gc.shape[0]
        return (sum(sh.n_patterns for _, _, sh in self.shards),
                sum(sh.n_cluster_patterns for _, _, sh in self.shards))

    @property
    def pat(self) -> _RowSet:
        """The row set of the whole data (built on first use when the evaluation runs over
        blocks of clusters, where only evaluations with ``whole=True`` need it)."""
        if self._pat is None:
            d = self.design
            first, inv = (np.arange(d.n_rows), np.arange(d.n_rows)) if self._per_row else row_patterns(d)
            self._pat = _RowSet(d, first, inv, per_row=self._per_row, compress_units=self.shared_nodes)
        return self._pat

    # ------------------------------------------------------------------ blocks of clusters
    def _make_shards(self, max_cells):
        """Blocks of clusters when one evaluation would fill more than ``max_cells`` cells
        (rows or row patterns, units or unit patterns, x classes x nodes): [(first cluster,
        end, likelihood of the block)], or None (one block: this likelihood itself).

        Clusters are independent, so the log-likelihood, its gradient, the EM information and
        the scores are sums (or concatenations) over blocks of clusters, each evaluated by
        this same engine on :meth:`Design.clusters`; the (rows x classes x nodes) arrays then
        exist for one block at a time. Laplace (one node) and crossed designs run whole."""
        d = self.design
        G = d.n_clusters
        if G < 2 or self.laplace or d.groupings is not None:
            return None
        # a product rule's sums over classes (``_Product``) form (rows x between states x nodes)
        # arrays only
        per_cell = (self.cs.Kb if self._prior_grid is not None else self.K) * max(self.integ.n_nodes, 1)
        if self._per_row:
            n = max(d.n_rows, d.n_units)
        else:
            n = max(self.pat.P, self.pat.V)
        if n * per_cell <= max_cells:
            return None
        # rows per block, cut at cluster boundaries: clusters' first rows
        first_unit = np.searchsorted(d.cluster_of_unit, np.arange(G))
        first_row = d.unit_starts[first_unit]
        step = max(1, int(max_cells // per_cell))
        cuts = np.unique(np.r_[np.searchsorted(first_row, np.arange(0, d.n_rows, step)), G])
        bounds = np.r_[0, cuts[cuts > 0]]
        self._pat = None  # the blocks hold their own row sets
        k = self.K if self.class_nodes else 1
        m, R = self.integ.m, self.integ.R
        return [(int(a), int(b), MixtureLikelihood(d.clusters(a, b), self.layout,
                                                   self.integ.with_adaptation((m[a * k:b * k], R[a * k:b * k])),
                                                   max_cells=np.inf))
                for a, b in zip(bounds[:-1], bounds[1:])]

    def _shard_sums(self, theta, what: frozenset, homogeneous: bool = False, state=None) -> dict:
        """The sums ``what`` over the blocks of clusters at ``theta`` and the adaptation
        ``state`` (default: the current one); see :func:`block_sums`."""
        m, R = state if state is not None else (self.integ.m, self.integ.R)
        k = self.K if self.class_nodes else 1
        outs = []
        for a, b, sh in self.shards:
            one = copy.copy(sh)  # the block's own nodes: the current rule at its clusters' adaptation
            one.integ = replace(self.integ, m=m[a * k:b * k], R=R[a * k:b * k])
            outs.append(block_sums(one, theta, what, homogeneous))
        return combine_sums(outs)

    def block_sums(self, theta, what: frozenset, homogeneous: bool = False) -> dict:
        """This likelihood's :func:`block_sums` (over its own blocks of clusters when it has
        them: a partition of a dask DataFrame evaluated in blocks of bounded size)."""
        if self.shards is not None:
            return self._shard_sums(theta, what, homogeneous)
        return block_sums(self, theta, what, homogeneous)

    def _evaluate_shards(self, theta, derivs: bool, homogeneous: bool, info: bool = False) -> EStep:
        what = frozenset(({"grad", "info"} if info else {"grad"}) if derivs else ())
        state = (self.integ.m, self.integ.R)
        sums = self._shard_sums(theta, what, homogeneous, state)
        P = self.layout.unpack(self.layout.expand(theta))
        return EStep(sums["ll"], sums.get("ll_units"), None, None, None, None, P,
                     sums=sums, at=(np.array(theta, float), state, homogeneous))

    def _sums_of(self, es: EStep, name: str):
        """A sum of a blocked evaluation ``es``, computed at its parameters and nodes when it
        was not taken with it."""
        if name not in es.sums:
            theta, state, homo = es.at
            es.sums.update({k: v for k, v in self._shard_sums(theta, frozenset({name}), homo, state).items()
                            if k not in ("ll", "ll_units")})
        return es.sums[name]

    def with_integration(self, integration: Integration) -> "MixtureLikelihood":
        """The same likelihood on another integration rule (``Integration.coarse``)."""
        return MixtureLikelihood(self.design, self.layout, integration,
                                 row_set=(self._per_row, self.shared_nodes, self._pat))

    def _outcome_subgrid(self):
        """With nodes shared by all clusters, outcome random terms that use only some latent
        dimensions (the others are class-logit effects: FMA-GoM, Table 3's Model 6) see only
        the distinct values of those dimensions: a product rule's 31 x 31 nodes are 31 for
        the outcomes. Returns (first node of each distinct value, node -> value index, sparse
        nodes x values sum matrix, or the first node of every value's run when the nodes are
        sorted by value, as a product rule with those dimensions first has them), or None when
        every node is distinct."""
        if not (self.shared_nodes and self.design.re_out and self.D > 0):
            return None
        dims = np.unique(np.concatenate([np.atleast_1d(np.arange(self.D)[d]) for d in self._dims_out]))
        if dims.size == self.D:
            return None
        t = self.integ.t
        _, first, inv = np.unique(t[:, dims], axis=0, return_index=True, return_inverse=True)
        inv = inv.ravel()
        if first.size == t.shape[0]:
            return None
        if np.all(np.diff(inv) >= 0):  # runs of nodes: sums by np.add.reduceat
            return first, inv, np.r_[0, np.flatnonzero(np.diff(inv)) + 1]
        S = sp.csr_matrix((np.ones(inv.size), (np.arange(inv.size), inv)), shape=(inv.size, first.size))
        return first, inv, S

    def _class_subgrid(self):
        """On a shared rule whose outcome terms see the distinct values of their dimensions in
        runs (``_outcome_subgrid``), random class logits in the other dimensions, classes
        inside the integral, and nodes that are every pair (outcome value i, class-logit value
        c) once, in the order q = i * Qc + c (a product rule with the outcome's dimensions
        first): the class priors are evaluated on the Qc values and the sum over classes at
        the node pairs is a matrix product (``_Product``). Returns (first node of each
        class-logit value, node -> value index), or None."""
        grid = self._eta_grid
        if (not PRODUCT_SUMS or grid is None or not isinstance(grid[2], np.ndarray) or self.form != "inside"
                or not self.design.re_cls):
            return None
        dims_o = np.unique(np.concatenate([np.atleast_1d(np.arange(self.D)[d]) for d in self._dims_out]))
        dims_c = np.unique(np.concatenate([np.atleast_1d(np.arange(self.D)[d]) for d in self._dims_cls]))
        if np.intersect1d(dims_o, dims_c).size:
            return None
        t = self.integ.t
        _, first, inv = np.unique(t[:, dims_c], axis=0, return_index=True, return_inverse=True)
        inv = inv.ravel()
        Q, Qo, Qc = t.shape[0], grid[0].size, first.size
        q = np.arange(Q)
        if Q != Qo * Qc or not (np.array_equal(grid[1], q // Qc) and np.array_equal(inv, q % Qc)):
            return None
        return first, inv

    def coarse(self, n_points: int | None = None) -> "MixtureLikelihood":
        """This likelihood on adaptive Gauss-Hermite with ``n_points`` per dimension (default
        3, or :data:`COARSE_POINTS_1D` in one dimension), for an adaptive rule with more
        points (else itself). The
        adaptation (each cluster's posterior mean and Cholesky factor) does not depend on the
        points, so states pass between the two. Estimation ranks random starts with it
        (stage one), where the node count (81 for 9 points in two dimensions) dominates and
        the ranking needs no accuracy to 1e-3."""
        integ = self.integ
        if n_points is None:
            n_points = 3 if self.D >= 2 else COARSE_POINTS_1D
        if not (integ.adaptive and integ.method == "agh" and self.D >= 1 and integ.n_points > n_points):
            return self
        if self.D == 1 and self.n_patterns * self.K * integ.n_nodes < COARSE_1D_CELLS:
            return self  # a small evaluation costs little more on the model's rule
        new = copy.copy(self)
        t, lw = gauss_hermite(n_points, self.D)
        new.integ = replace(integ, n_points=n_points, t=t, logw=lw)
        return new

    # ------------------------------------------------------------------ parameters
    def factor_matrices(self, P):
        """Factor matrices of the outcome blocks per class [(K, q, d)] and class blocks [(m, d)]."""
        out, cls = [], []
        for v in self.layout.re_out_terms:
            b, pos, ent = v.term, v.pos, v.entries(P)
            if b.structure == "reg":
                L = np.stack([re_factor(b, ent[k], pos) for k in range(self.K)])
            else:
                L = np.zeros((self.K, b.m, b.d))
                L[:, pos[:, 0], pos[:, 1]] = ent
            out.append(L)
        for v in self.layout.re_cls_terms:
            cls.append(re_factor(v.term, v.entries(P), v.pos))
        return out, cls

    def class_logit_loadings(self, Ws, Lc) -> np.ndarray:
        """How the latents enter the class logits: B (n, n_slots, D) with logit slot c of row
        i moved by sum_d B[i, c, d] u_d, from the class-part random designs ``Ws`` (one
        (n, q) array per class random term) and their factor matrices ``Lc``."""
        n = Ws[0].shape[0]
        B = np.zeros((n, self.cs.n_slots, self.D))
        for v, Wt, L in zip(self.layout.re_cls_terms, Ws, Lc):
            b = v.term
            B[:, b.slots, v.dims] += np.einsum("ui,cij->ucj", Wt, L.reshape(len(b.slots), Wt.shape[1], b.d))
        return B

    def _reg_entries(self):
        """(block name, class, full indices, RandomBlock, positions) of every regression-
        parameterized random term (random_effects.py), per class for outcome terms."""
        L = self.layout
        out = []
        rb = L.blocks["re_out"]
        R = rb.shape[1] if rb.size else 0
        for v in L.re_out_terms:
            if v.term.structure == "reg":
                for k in range(self.K):
                    out.append(("re_out", k, rb.offset + k * R + np.arange(R)[v.cols], v.term, v.pos))
        cb = L.blocks["re_cls"]
        for v in L.re_cls_terms:
            if v.term.structure == "reg":
                out.append(("re_cls", None, cb.offset + np.arange(cb.size)[v.cols], v.term, v.pos))
        return out

    def _pullback(self, phi, g):
        """Chain rule from factor-matrix entries to regression parameters (last axis of g)."""
        for _, _, idx, b, pos in self._regs:
            g[..., idx] = reg_pullback(b, phi[idx], pos, g[..., idx])
        return g

    # ------------------------------------------------------------------ evaluation
    @property
    def laplace(self) -> bool:
        return self.integ.method == "laplace" and self.D > 0

    def evaluate(self, theta: np.ndarray, derivs: bool = True, rows: bool = False, whole: bool = False,
                 homogeneous: bool = False, info: bool = False) -> EStep:
        """Log-likelihood and posteriors at free parameters ``theta``.

        With blocks of clusters (:meth:`_make_shards`) the evaluation is summed over them and
        holds the sums only (``EStep.sums``; the gradient when ``derivs``); ``whole=True`` (or
        ``rows=True``) evaluates the whole data at once, with every array (scoring uses them).
        ``homogeneous``: every class sees every row with weight one and the node weights are
        uniform (the one-class start, ``estimation.center``). ``info``: the EM information will
        be asked for too (:meth:`q_information`); blocks of clusters then sum it in the same
        pass as the gradient instead of evaluating again."""
        if self.shards is not None and not (whole or rows):
            return self._evaluate_shards(theta, derivs, homogeneous, info)
        if self.laplace:
            self.find_mode(theta)
        rs = self._rowset(rows)
        P = self.layout.unpack(self.layout.expand(theta))
        K = self.K
        u_nodes, logw = self.integ.nodes()  # (G, Q, D), (G, Q)
        Q = logw.shape[1]
        Lo, Lc = self.factor_matrices(P)
        # Step 1: linear predictors for every (pattern, class, node), and the family; with a
        # shared rule whose nodes repeat in the outcome terms' dimensions, on those values only
        grid = self._eta_grid
        eta_nodes = u_nodes if grid is None else \
            np.broadcast_to(u_nodes[:1, grid[0]], (u_nodes.shape[0], grid[0].size, self.D))
        eta = self._linear_predictors(rs, P, Lo, eta_nodes, Q)
        Qe = eta.shape[2]
        extra = np.repeat(P["extra"], Qe, axis=0)
        fe = self.family.evaluate(rs.y, eta.reshape(rs.P, K * Qe), extra, rs.aux, derivs=derivs)
        # Step 2: sum rows into units (unit patterns).
        V = rs.V
        lu = np.asarray(rs.C @ fe.logf).reshape(V, K, Qe)
        take = None  # classes inside: the combination expands lu to the nodes (after exp)
        if Qe == 1 and Q > 1:
            lu = np.broadcast_to(lu, (V, K, Q))
        elif grid is not None:
            if self.form == "outside":
                lu = lu[:, :, grid[1]]
            else:
                take = grid[1]
        # Step 3: class log-probabilities (the joint state's recursive logits, classes.py),
        # with random class logits if any, per prior group (units with the same covariates,
        # class random-term designs and nodes)
        # (on a product rule whose class-logit dimensions are the outcome's complement, on the
        # distinct values of the class-logit dimensions, ``_class_subgrid``)
        cs = self.cs
        gam = P["gamma"].ravel()
        re_lin = None
        prior_nodes = u_nodes
        pgrid = self._prior_grid if take is not None else None
        if self.design.re_cls:
            if pgrid is not None:
                prior_nodes = u_nodes[:1, pgrid[0]]
            nodes_z = prior_nodes[:1] if self.shared_nodes else prior_nodes[rs.cluster_of_z]
            re_lin = self._class_re_lin(rs.Wu, Lc, nodes_z)  # (groups, n_slots, Q or Qc)
        logprior = cs.logprior("within", gam, rs.Zus, re_lin)  # (groups, S, Q or Qc)
        logpb = cs.logprior("between", gam, rs.Zgs) if cs.betw else None  # (cluster patterns, Kb)
        product = None
        if pgrid is not None:
            Kb = cs.Kb
            product = _Product.of(logprior.reshape(-1, Kb, K // Kb, logprior.shape[2]), lu.reshape(V, Kb, K // Kb, Qe),
                                  rs.zinv, pgrid[0].size)
            if product is None:  # a product of exponentials could underflow: on every node
                logprior, re_lin = (np.take(a, pgrid[1], axis=-1) for a in (logprior, re_lin))
                prior_nodes = u_nodes
        # Step 4: combine by form.
        if self.form == "outside":  # units are clusters
            if self.class_nodes:
                logw_v = self._by_class(logw)[rs.cluster_of_v]  # (V, K, Q)
            else:
                logw_v = (logw[:1] if self.shared_nodes else logw[rs.cluster_of_v])[:, None, :]
            c = self._combine_outside(rs, lu, logw_v, logprior[rs.zinv], self.class_nodes)
        else:
            c = self._combine_inside(rs, lu, logw, logprior, logpb, re_lin is not None, take, product)
        wpat = None
        if derivs:  # summed over the nodes the linear predictors do not tell apart
            if c.Wu is None:  # factored within-state posteriors: nodes summed (``_Factored``),
                Wu = c.post_c.node_sums(c.pq)  # or the class-logit values (``_Product``)
                Wu = Wu[:, :, None] if Wu.ndim == 2 else Wu
            elif Qe == 1:
                Wu = c.Wu.sum(axis=2, keepdims=True)
            elif grid is not None:
                Wu = (np.add.reduceat(c.Wu, grid[2], axis=2) if isinstance(grid[2], np.ndarray)
                      else np.asarray(c.Wu.reshape(-1, Q) @ grid[2]).reshape(V, K, Qe))
            else:
                Wu = c.Wu
            wpat = np.asarray(rs.CT @ Wu.reshape(V, -1)).reshape(rs.P, K, Wu.shape[2])
        es = EStep(c.ll, c.ll_units, c.post, logprior, wpat, fe, P, c.post_node, u_nodes,
                   eta_q=Qe, pq=c.pq, rs=rs, post_c=c.post_c, post_bq=c.post_bq, post_vq=c.post_vq,
                   wprior=c.wprior, wb=c.wb, re_lin=re_lin, eta_nodes=eta_nodes, prior_nodes=prior_nodes)
        return self._homogeneous(es) if homogeneous else es

    def _homogeneous(self, es: EStep) -> EStep:
        """Every class sees every row (pattern) with weight one and every node alike: K
        copies of the one-class model with the random effects at zero (their log-densities
        averaged over the nodes)."""
        rs = es.rs
        new = copy.copy(es)
        if es.wpat is not None:
            new.wpat = np.broadcast_to(rs.count[:, None, None] / es.wpat.shape[2], es.wpat.shape).copy()
        lf = es.fe.logf.reshape(rs.P, self.K, -1).mean(axis=2)
        new.ll = float((rs.count[:, None] * lf).sum())
        return new

    def _linear_predictors(self, rs, P, Lo, u_nodes, Q):
        """eta (patterns, K, nodes or 1): fixed part plus the outcome random terms at the nodes.
        Without outcome random terms the nodes do not move eta (random class logits only: GoM,
        two-level LCA and LTA), and the family is evaluated once per (pattern, class)."""
        K = self.K
        eta = np.asarray(rs.X @ P["beta"])[:, :, None]  # (P, K, 1)
        if not self.design.re_out:
            return eta
        A = np.zeros((rs.P, K, self.D))
        for Zt, L, dims in zip(rs.Zs, Lo, self._dims_out):
            A[:, :, dims] += np.einsum("pi,kij->pkj", Zt, L)
        if rs.cluster is None:
            return eta + np.einsum("pkd,qd->pkq", A, u_nodes[0])
        if self.D == 1:  # the products at each row's nodes as the sum over d gives them (0 + a u), 4x faster
            nodes = np.take(self._by_class(u_nodes[..., 0]) if self.class_nodes else u_nodes[:, None, :, 0],
                            rs.cluster, axis=0)  # (P, K or 1, Q)
            out = np.multiply(nodes, A, out=nodes if nodes.shape[1] == K else None)
            out += 0.0
            out += eta
            return out
        if self.class_nodes:
            return eta + np.einsum("pkd,pkqd->pkq", A, np.take(self._by_class(u_nodes), rs.cluster, axis=0))
        return eta + np.einsum("pkd,pqd->pkq", A, np.take(u_nodes, rs.cluster, axis=0))

    def _by_class(self, a):
        """Per-(cluster, class) node arrays (G * K, ...) as (G, K, ...)."""
        return a.reshape((-1, self.K) + a.shape[1:])

    def _node_moment(self, W, nodes, rs, power=1):
        """sum_q W[p, k, q] u_q^power for each pattern and class, with the pattern's nodes:
        shared, its cluster's, or its cluster's for each class: (P, K, D)."""
        if rs.cluster is None:
            return np.einsum("pkq,qd->pkd", W, nodes[0] ** power)
        at = np.take(self._by_class(nodes) if self.class_nodes else nodes, rs.cluster, axis=0)  # np.take: 3x faster
        if power != 1:
            at **= power
        return np.einsum("pkq,pkqd->pkd" if self.class_nodes else "pkq,pqd->pkd", W, at)

    @staticmethod
    def _combine_outside(rs, lu, logw_v, logprior, class_nodes=False) -> _Combined:
        """Classes outside the integral (units are clusters): L_g = sum_c P(c) int f du.
        logw_v: (V, 1 or K, Q) log-weights, per class with class-specific nodes (whose
        posterior node weights, given each class, are then what the adaptation uses)."""
        m = rs.mult
        lt = lu + logw_v
        lk = lse(lt, axis=2)  # (V, K)
        post_q = np.exp(lt - lk[:, :, None])
        lj = logprior[:, :, 0] + lk
        ll_v = lse(lj, axis=1)
        post_v = np.exp(lj - ll_v[:, None])
        pq = m[:, None] * np.einsum("vk,vkq->vq", post_v, post_q)
        post_node = post_q[rs.vinv].reshape(-1, post_q.shape[2]) if class_nodes else (pq / m[:, None])[rs.vinv]
        return _Combined(ll=float(m @ ll_v), ll_units=ll_v[rs.vinv], post=post_v[rs.vinv],
                         post_node=post_node, Wu=m[:, None, None] * post_v[:, :, None] * post_q,
                         wprior=(m[:, None] * post_v)[:, :, None], pq=pq, post_vq=post_v[:, :, None] * post_q)

    def _combine_inside(self, rs, lu, logw, logprior, logpb, random_logits: bool, take=None,
                        product=None) -> _Combined:
        """Classes inside the integral: within states w are summed per unit; between states b
        (one per cluster, Section 6) and nodes per cluster:
        L_g = sum_b P(b) int phi(u) prod_units sum_w P(w|b,u) f du. ``take``: lu is given on
        the distinct values of the outcome's latent dimensions, node q at ``take[q]``;
        ``product``: the sums over within states of a product rule (``_Product``), where lu and
        logprior are on the outcome's and the class logits' values."""
        K, Kb = self.K, self.cs.Kb
        V, Q = lu.shape[0], logw.shape[1]
        m = rs.mult
        # (V, Kb, Q), (V, Kb, Kw, Q): within states summed given the between state and node;
        # when the nodes do not enter the densities (or only through the outcome's values),
        # from the exponentials of the two terms
        fac = None
        if take is None and lu.shape[2] > 1 and lu.strides[2] == 0:
            fac = _Factored.of(logprior.reshape(-1, Kb, K // Kb, logprior.shape[2]), lu[:, :, 0].reshape(V, Kb, -1),
                               rs.zinv)
        if product is not None:  # the sums are taken at the cluster level (``_Product.cluster_sums``)
            lu2 = post_c = product
        elif fac is not None:
            lu2, post_c = fac
        elif take is not None:
            lu2, post_c = lse_softmax_sum(logprior.reshape(-1, Kb, K // Kb, logprior.shape[2]),
                                          lu.reshape(V, Kb, K // Kb, -1), axis=2, index=rs.zinv, take=take)
            post_c = post_c.reshape(V, K, -1)
        elif K == Kb:  # one within state per between state (one class, or between classes only): weight 1
            lu2 = (logprior[rs.zinv] + lu).reshape(V, Kb, -1)
            post_c = np.broadcast_to(_ONE, (V, K, 1))
        else:
            lu2, post_c = lse_softmax((logprior[rs.zinv] + lu).reshape(V, Kb, K // Kb, -1), axis=2)
            post_c = post_c.reshape(V, K, -1)
        post_bq = None
        wb = None
        if Q == 1 and self.D == 0 and Kb == 1:  # no integration: clusters are units
            ll = float(m @ lu2[:, 0, 0])
            ll_g = None
            post_node = np.ones((self.design.n_clusters, 1))
            pq = m[:, None, None]
        else:  # clusters (or cluster patterns, with multiplicities)
            Gp = rs.Gc.shape[0]
            weighted = False
            if product is not None:  # shared nodes: rows of logw agree
                lg, weighted = product.cluster_sums(rs.Gc, logw[0])
            else:
                lg = np.asarray(rs.Gc @ lu2.reshape(V, -1)).reshape(Gp, Kb, Q)
            if not weighted:
                lg = lg + logw[:Gp, None, :]
            if logpb is not None:
                lg += logpb[:, :, None]
            llc, post = lse_post(lg.reshape(Gp, -1))  # one exp pass, in place of lg
            post_bq = post.reshape(Gp, Kb, Q)  # (Gp, Kb, Q)
            ll = float(rs.gmult @ llc)
            ll_g = llc[rs.ginv]
            pcn = post_bq[:, 0] if Kb == 1 else post_bq.sum(axis=1)
            post_node = _Expand(pcn, rs.ginv) if self.shared_nodes else pcn
            if rs.GcTm is not None:  # multiplicities folded into the sum matrix
                pq = np.asarray(rs.GcTm @ post).reshape(V, Kb, Q)
            else:
                pq = np.asarray(rs.GcT @ (rs.gmult[:, None] * post)).reshape(V, Kb, Q)
            wb = rs.gmult[:, None] * post_bq.sum(axis=2) if logpb is not None else None
        if product is not None:  # sums over the class-logit values (evaluate) and prior groups on request
            Wu = None
            pq = product.weights(pq)
            wprior = _PriorWeights(product, pq, rs.Zmap)
        elif isinstance(post_c, _Factored):  # sums over nodes (evaluate) and prior groups on request
            Wu = None
            wprior = _PriorWeights(post_c, pq) if random_logits else post_c.node_sums(pq)[:, :, None]
        elif K == Kb:  # one within state: the posterior weights are pq
            Wu = pq
            wprior = Wu if random_logits else sum_last(Wu, keepdims=True)
        else:  # (ndarray.sum here and in the gradient: einsum's order of additions moved the LSAT
            # 3PL, whose information is ill-conditioned, by 1e-8 in log-likelihood and 0.3% in SEs)
            Wu = (post_c.reshape(V, Kb, K // Kb, -1) * pq[:, :, None, :]).reshape(V, K, -1)
            if Wu.shape[2] == 1 and Q > 1:
                Wu = np.broadcast_to(Wu, (V, K, Q))
            wprior = Wu if random_logits else Wu.sum(axis=2, keepdims=True)
        return _Combined(ll=ll, ll_units=ll_g, post=None, post_node=post_node, Wu=Wu, wprior=wprior, pq=pq, wb=wb,
                         post_c=post_c, post_bq=post_bq)

    def class_re_lin(self, rs, Lc, nodes_v):
        """Random parts of the class logits, (V, n_slots, Q): W_u L u for every node."""
        return self._class_re_lin(rs.Wv, Lc, nodes_v)

    def _class_re_lin(self, Ws, Lc, nodes):
        """W L u at every node for the rows of the class random designs ``Ws`` (nodes (n or 1,
        Q, D)): (n, n_slots, Q)."""
        B = self.class_logit_loadings(Ws, Lc)
        return np.einsum("ucd,uqd->ucq", B, np.broadcast_to(nodes, (B.shape[0],) + nodes.shape[1:]))

    def _gamma_grad(self, es: EStep, per_unit: bool = False):
        """Gradient of the class logits (flat), and the per-slot residuals of random logits."""
        cs, rs = self.cs, es.rs
        gam = es.parts["gamma"].ravel()
        if not per_unit:  # per prior group; resid (groups, n_slots, Q)
            g, resid = cs.gradient("within", gam, rs.Zus, _group_sum(rs, es.wprior), es.re_lin)
        else:  # per unit pattern
            re_lin = None if es.re_lin is None else es.re_lin[rs.zinv]
            g, resid = cs.gradient("within", gam, rs.Zvs, np.asarray(es.wprior), re_lin, per_unit=True)
        gb = None
        if es.wb is not None:
            gb, _ = cs.gradient("between", gam, rs.Zgs, es.wb, per_unit=per_unit)
        return g, gb, resid

    def unit_posterior(self, es: EStep, mean: bool = False) -> np.ndarray:
        """Posterior class probabilities of every unit (n_units, K), nodes integrated out; with
        ``mean``, their mean over the units (K,), without the array of every unit's."""
        if es.sums is not None or es.post is not None:
            post = self._sums_of(es, "post") if es.sums is not None else es.post
            return post.mean(axis=0) if mean else post
        rs = es.rs
        cu = self.design.cluster_of_unit
        U, K, Kb = cu.size, self.K, self.cs.Kb
        out = np.zeros(K) if mean else np.empty((U, K))
        step = max(1, _CHUNK * 4 // max(K * es.post_c.shape[2], 1))  # units at a time: temporaries of ~1 MiB
        for a in range(0, U, step):
            b = min(a + step, U)
            pc = es.post_c[rs.vinv[a:b]]
            if es.post_bq is None:
                block = np.einsum("ukq,uq->uk", pc, es.post_node[cu[a:b]])
            else:
                pbq = es.post_bq[rs.ginv[cu[a:b]]]  # (units, Kb, Q)
                block = np.einsum("ubwq,ubq->ubw", pc.reshape(b - a, Kb, K // Kb, -1), pbq).reshape(b - a, K)
            if mean:
                out += block.sum(axis=0)
            else:
                out[a:b] = block
        return out / max(U, 1) if mean else out

    def state_node_posterior(self, es: EStep):
        """Each unit's joint posterior of its class (joint state) and of the latent values its
        rows' linear predictors see, given its cluster's responses: (J, nodes).

        J (n_units, K, Qe): p(state, node q | y_g) summed over the nodes the linear predictors
        do not tell apart (the class-logit dimensions of a shared product rule; every node
        without outcome random terms, Qe = 1); classes outside the integral, the unit's (the
        cluster's) post_vq; classes inside, post_c (given the between state and node) times
        post_bq (the cluster's between state and node). ``nodes`` (G or 1, K or 1, Qe, D):
        where the linear predictors see node q (per class with class-specific adapted nodes).
        Needs an evaluation of the whole data (``evaluate(whole=True)``)."""
        d, rs, K = self.design, es.rs, self.K
        U = d.n_units
        nodes = np.asarray(es.eta_nodes)
        Qe = es.eta_q
        if self.class_nodes:
            nodes = self._by_class(nodes)
        else:
            nodes = (nodes[:, None] if nodes.shape[1] == Qe else np.zeros((1, 1, 1, max(self.D, 1))))
        if es.post_vq is not None:  # classes outside: units are clusters
            return self._eta_node_sums(es.post_vq[rs.vinv], Qe), nodes
        if es.post_bq is None:  # no latent values: the unit posteriors
            return self.unit_posterior(es)[:, :, None], nodes
        cu, Kb = d.cluster_of_unit, self.cs.Kb
        Q = es.post_bq.shape[2]
        J = np.empty((U, K, Qe))
        step = max(1, _CHUNK * 4 // max(K * Q, 1))  # units at a time: temporaries of ~1 MiB
        for a in range(0, U, step):
            b = min(a + step, U)
            pc = es.post_c[rs.vinv[a:b]]  # (units, K, Q or 1)
            pbq = es.post_bq[rs.ginv[cu[a:b]]]  # (units, Kb, Q)
            J[a:b] = self._eta_node_sums((pc.reshape(b - a, Kb, K // Kb, -1) * pbq[:, :, None, :])
                                         .reshape(b - a, K, Q), Qe)
        return J, nodes

    def _eta_node_sums(self, J, Qe):
        """(n, K, Q) -> (n, K, Qe): sums over the nodes the linear predictors do not tell apart."""
        grid = self._eta_grid
        if J.shape[2] == Qe:
            return J
        if Qe == 1:
            return J.sum(axis=2, keepdims=True)
        if isinstance(grid[2], np.ndarray):
            return np.add.reduceat(J, grid[2], axis=2)
        return np.asarray(J.reshape(-1, J.shape[2]) @ grid[2]).reshape(J.shape[0], J.shape[1], Qe)

    def new_unit_posterior(self, es: EStep, logprior, clusters) -> np.ndarray:
        """:meth:`state_node_posterior`'s J of units without responses in the clusters
        ``clusters`` of this data (classes inside the integral): p(between state, node q | y_g)
        times the units' class priors there, ``logprior`` (n, K, Q) (:meth:`unit_log_prior`
        at the clusters' nodes ``es.nodes``): (n, K, Qe)."""
        if es.post_bq is None:
            raise ValueError("new units of fitted clusters need classes inside the integral")
        n, K, Kb = len(clusters), self.K, self.cs.Kb
        pbq = es.post_bq[es.rs.ginv[clusters]]  # (n, Kb, Q)
        Q = pbq.shape[2]
        J = (np.exp(logprior).reshape(n, Kb, K // Kb, -1) * pbq[:, :, None, :]).reshape(n, K, Q)
        return self._eta_node_sums(J, es.eta_q)

    def unit_log_prior(self, theta, units, nodes) -> np.ndarray:
        """log P(within state | between state, u) of this design's units ``units`` at their
        nodes ``nodes`` (n, Q, D) (class covariates and random class logits): (n, K, Q) over
        the joint states; zeros without within-level classes."""
        n, Q = len(units), nodes.shape[1]
        cs = self.cs
        if self.K // cs.Kb == 1 or not cs.within:
            return np.zeros((n, self.K, Q))
        P = self.layout.unpack(self.layout.expand(theta))
        Z = self.design.Z[units]
        Z = Z.toarray() if sp.issparse(Z) else np.asarray(Z)
        Zs, off = {}, 0
        for t in cs.within:
            q = cs.vars[t].Z.shape[1]
            Zs[t] = Z[:, off:off + q]
            off += q
        re_lin = None
        if self.design.re_cls:
            _, Lc = self.factor_matrices(P)
            Ws = [b.Z[units] for b in self.design.re_cls]
            re_lin = self._class_re_lin([w.toarray() if sp.issparse(w) else np.asarray(w) for w in Ws], Lc, nodes)
        return np.broadcast_to(cs.logprior("within", P["gamma"].ravel(), Zs, re_lin), (n, self.K, Q))

    def _rowset(self, rows):
        if not rows or (self.pat.cluster is not None and self.pat.V == self.design.n_units):
            return self.pat
        if self._rows is None:
            n = self.design.n_rows
            self._rows = _RowSet(self.design, np.arange(n), np.arange(n), per_row=True, compress_units=False)
        return self._rows

    def loglik(self, theta) -> float:
        return self.evaluate(theta, derivs=False).ll

    # ------------------------------------------------------------------ gradient
    def _row_terms(self, es: EStep, rs: _RowSet):
        """Posterior-weighted eta-derivatives (P, K, Q) and node-weighted moments (P, K, D)."""
        K = self.K
        d = es.fe.d_eta.reshape(rs.P, K, es.eta_q)
        WD = es.wpat * d
        M = self._node_moment(WD, es.eta_nodes, rs) if self.design.re_out else None
        return WD, M

    def full_gradient(self, es: EStep, rows: bool = False) -> np.ndarray:
        """Gradient with respect to the full parameter vector (Fisher's identity)."""
        if es.sums is not None:
            return self._sums_of(es, "grad").copy()
        rs = self._rowset(rows)
        L = self.layout
        K = self.K
        g = np.zeros(L.n_full)
        WD, M = self._row_terms(es, rs)
        wd = WD.sum(axis=2)
        gb = rs.Xt @ wd if rs.Xt is not None else rs.X.T @ wd
        g[L.blocks["beta"].slice] = np.asarray(gb).ravel()
        eb = L.blocks["extra"]
        if eb.size:
            vals = _state_weights(es)[:, :, None] * es.fe.d_extra
            g[eb.slice] = self._extra_sum(vals, es.fe.extra_cols).ravel()
        if self.design.re_out:
            G = []
            for Zt, pos, dims in zip(rs.Zs, self._pos, self._dims_out):
                Gt = np.einsum("pi,pkj->kij", Zt, M[:, :, dims])  # (K, q, d)
                G.append(Gt[:, pos[:, 0], pos[:, 1]])
            g[L.blocks["re_out"].slice] = np.concatenate(G, axis=1).ravel()
        if K > 1:
            gg, gbt, resid = self._gamma_grad(es)
            if gbt is not None:
                gg = gg + gbt
            g[L.blocks["gamma"].slice] = gg
            if self.design.re_cls:
                g[L.blocks["re_cls"].slice] = self._cls_re_grad(es, resid)
        if self._regs is None:
            self._regs = self._reg_entries()
        if self._regs:
            g = self._pullback(L.pack(es.parts), g)
        return g

    def _prior_rows(self, rs, nodes, per_unit: bool):
        """Class random designs and nodes (n, Q, D) of the unit patterns (per_unit) or of the
        prior groups."""
        Ws, cl = (rs.Wv, rs.cluster_of_v) if per_unit else (rs.Wu, rs.cluster_of_z)
        nodes = nodes[:1] if self.shared_nodes else nodes[cl]
        return Ws, np.broadcast_to(nodes, (Ws[0].shape[0],) + nodes.shape[1:])

    def _cls_re_grad(self, es: EStep, resid, per_unit: bool = False):
        """Gradient of the class random terms' entries from the slot residuals ``resid`` of
        the prior groups (or, per_unit, of the unit patterns)."""
        Ws, nodes = self._prior_rows(es.rs, es.prior_nodes, per_unit)
        n = nodes.shape[0]
        Mc = np.einsum("ucq,uqd->ucd", resid, nodes)
        out = []
        for b, Wt, pos, dims in zip(self.design.re_cls, Ws, self._pos[len(self.design.re_out):], self._dims_cls):
            q = Wt.shape[1]
            # L rows are (slot c, column i): d lin_uc / d L[(c,i), j] = Z[u,i] u_j
            Gu = np.einsum("ui,ucj->ucij", Wt, Mc[:, b.slots, dims]).reshape(n, len(b.slots) * q, b.d)
            sel = Gu[:, pos[:, 0], pos[:, 1]]
            out.append(sel if per_unit else sel.sum(axis=0))
        return np.concatenate(out, axis=-1)

    def _extra_sum(self, vals, cols):
        """Sum (P, K*Qe, m) contributions into (K, E) using column map cols (P, m)."""
        K = self.K
        E = self.layout.blocks["extra"].shape[1]
        P, S = vals.shape[:2]
        per_class = vals.reshape(P, K, S // K, -1).sum(axis=2)  # the columns do not depend on the node
        flat_cols = cols.ravel()
        return np.stack([np.bincount(flat_cols, weights=per_class[:, k, :].ravel(), minlength=E) for k in range(K)])

    def loglik_and_grad(self, theta):
        es = self.evaluate(theta)
        if self.laplace_exact:
            g = self.full_gradient(es)  # partial derivative at the modes
            g -= 0.5 * self._pullback(self.layout.pack(es.parts), self._laplace_gradient(es, theta))
            return es.ll, self.layout.reduce(g), es
        if self.laplace:
            # the curvature's derivative is not available for this family (or extra parameters
            # move it): the gradient is taken by central differences of the re-optimized
            # approximation
            g = central_gradient(self.loglik, theta)
            self.find_mode(theta)
            return es.ll, g, es
        return es.ll, self.layout.reduce(self.full_gradient(es)), es

    def gradient(self, theta):
        return self.loglik_and_grad(theta)[1]

    # ------------------------------------------------------------------ cluster scores
    def unit_scores(self, theta) -> np.ndarray:
        """Per-cluster gradients (independent units), shape (n_clusters, n_free)."""
        if self.laplace and not self.laplace_exact:
            return self._laplace_unit_differences(theta)
        if self.shards is not None:
            return self._shard_sums(theta, frozenset({"scores"}))["scores"]
        es = self.evaluate(theta, rows=True)
        rs = self._rowset(True)
        L = self.layout
        K = self.K
        n, G = self.design.n_rows, self.design.n_clusters
        Gr = sp.csr_matrix((np.ones(n), (rs.cluster, np.arange(n))), shape=(G, n))
        out = np.zeros((G, L.n_full))
        WD, M = self._row_terms(es, rs)
        wd = WD.sum(axis=2)
        Xd = rs.X.toarray() if sp.issparse(rs.X) else rs.X
        bb = L.blocks["beta"]
        out[:, bb.slice] = np.asarray(Gr @ (Xd[:, :, None] * wd[:, None, :]).reshape(n, -1))
        eb = L.blocks["extra"]
        if eb.size:
            E = eb.shape[1]
            vals = _state_weights(es)[:, :, None] * es.fe.d_extra
            S = vals.shape[1]
            dense = np.zeros((n, K, E))
            for s in range(S):
                for j in range(es.fe.extra_cols.shape[1]):
                    np.add.at(dense[:, s // (S // K), :], (np.arange(n), es.fe.extra_cols[:, j]), vals[:, s, j])
            out[:, eb.slice] = np.asarray(Gr @ dense.reshape(n, -1))
        if self.design.re_out:
            cols = []
            for Zt, pos, dims in zip(rs.Zs, self._pos, self._dims_out):
                per = np.einsum("ni,nkj->nkij", Zt, M[:, :, dims])[:, :, pos[:, 0], pos[:, 1]]
                cols.append(per)
            out[:, L.blocks["re_out"].slice] = np.asarray(Gr @ np.concatenate(cols, axis=2).reshape(n, -1))
        if K > 1:
            gg, gbt, resid = self._gamma_grad(es, per_unit=True)
            gsl = L.blocks["gamma"].slice
            out[:, gsl] = np.asarray(rs.Gv @ gg)
            if gbt is not None:  # rows=True: cluster patterns are clusters
                out[:, gsl] += gbt[rs.ginv]
            if self.design.re_cls:
                out[:, L.blocks["re_cls"].slice] = np.asarray(rs.Gv @ self._cls_re_grad(es, resid, per_unit=True))
        if self.laplace:  # each cluster's log-determinant term
            out -= 0.5 * self._laplace_gradient(es, theta, per_cluster=True)
        if self._regs is None:
            self._regs = self._reg_entries()
        if self._regs:
            out = self._pullback(L.pack(es.parts), out)
        return L.reduce(out)

    def _laplace_unit_differences(self, theta, rel_step: float = 1e-6) -> np.ndarray:
        """Per-cluster gradients of the Laplace log-likelihood by central differences (families
        without the curvature's derivative), the modes re-found at every step."""
        cw = self.design.cluster_weight
        theta = np.asarray(theta, float)
        out = np.zeros((self.design.n_clusters, theta.size))
        for i in range(theta.size):
            h = rel_step * max(1.0, abs(theta[i]))
            tp, tm = theta.copy(), theta.copy()
            tp[i] += h
            tm[i] -= h
            out[:, i] = (self.evaluate(tp, derivs=False).ll_units - self.evaluate(tm, derivs=False).ll_units) / (2 * h)
        self.find_mode(theta)
        return out if cw is None else out * cw[:, None]

    # ------------------------------------------------------------------ EM metric
    def q_information(self, es: EStep) -> np.ndarray:
        """Expected complete-data information of Q at the current posterior weights.

        Block-diagonal (beta per class; family parameters by BHHH; random-effect entries by
        their diagonal; class logits by the multinomial information), pulled back to the free
        parameters. EM's M-step is a scoring step with this matrix (Lange's EM-gradient
        algorithm), so the EM phase serves every family, random term and constraint.
        """
        if es.sums is not None:
            return self._sums_of(es, "info").copy()
        rs = self.pat
        L = self.layout
        H = np.zeros((L.n_free, L.n_free))
        K = self.K
        bb = L.blocks["beta"]
        p = bb.shape[0]
        w_eta = es.fe.w_eta.reshape(rs.P, K, es.eta_q)
        Wfull = es.wpat * w_eta  # (P, K, Q)
        W = Wfull.sum(axis=2)
        for k in range(K):
            if sp.issparse(rs.X):
                Hk = (rs.Xt @ rs.X.multiply(W[:, k : k + 1])).toarray()
            else:
                Hk = rs.X.T @ (rs.X * W[:, k : k + 1])
            _scatter(H, L.free_idx[bb.offset + np.arange(p) * K + k], Hk)
        eb = L.blocks["extra"]
        if eb.size:
            E = eb.shape[1]
            sw = _state_weights(es)[:, :, None]
            wx = es.fe.w_extra
            if wx is None:  # BHHH, apart from eta
                d2 = self._extra_sum(sw * es.fe.d_extra**2, es.fe.extra_cols)
                for k in range(K):
                    _scatter(H, L.free_idx[eb.offset + k * E + np.arange(E)], np.diag(d2[k]))
            else:  # the expected information of (eta, a): with the coefficients' cross terms
                self._extra_information(H, rs, sw, wx, es.fe.extra_cols, E)
        if self.design.re_out:
            sq = self._node_moment(Wfull, es.eta_nodes, rs, power=2)
            rb = L.blocks["re_out"]
            R = rb.shape[1]
            diag = []
            for Zt, pos, dims in zip(rs.Zs, self._pos, self._dims_out):
                Dt = np.einsum("pi,pkj->kij", Zt**2, sq[:, :, dims])
                diag.append(Dt[:, pos[:, 0], pos[:, 1]])
            diag = np.concatenate(diag, axis=1)
            for k in range(K):
                _scatter(H, L.free_idx[rb.offset + k * R + np.arange(R)], np.diag(diag[k]))
        if K > 1:
            gb = L.blocks["gamma"]
            cs = self.cs
            gam = es.parts["gamma"].ravel()
            Hg, v = cs.information("within", gam, rs.Zus, _group_sum(rs, es.wprior), es.re_lin)
            if es.wb is not None:
                Hg = Hg + cs.information("between", gam, rs.Zgs, es.wb)[0]
            _scatter(H, L.free_idx[gb.slice], Hg)
            if self.design.re_cls:
                Ws, nodes = self._prior_rows(rs, es.prior_nodes, per_unit=False)
                Mc = np.einsum("ucq,uqd->ucd", v, nodes**2)
                diag = []
                for b, Wt, pos, dims in zip(self.design.re_cls, Ws, self._pos[len(self.design.re_out):], self._dims_cls):
                    qq = Wt.shape[1]
                    Du = np.einsum("ui,ucj->cij", Wt**2, Mc[:, b.slots, dims]).reshape(len(b.slots) * qq, b.d)
                    diag.append(Du[pos[:, 0], pos[:, 1]])
                cb = L.blocks["re_cls"]
                _scatter(H, L.free_idx[cb.slice], np.diag(np.concatenate(diag)))
        if self._regs is None:
            self._regs = self._reg_entries()
        if self._regs:  # regression-parameterized terms: the metric of their own parameters
            phi = L.pack(es.parts)
            done = set()
            for _, _, idx, b, pos in self._regs:
                sc = reg_metric_scale(b, phi[idx], pos)
                for j, fi in enumerate(L.free_idx[idx]):
                    if fi >= 0 and fi not in done:
                        H[fi, fi] *= sc[j]
                        done.add(fi)
        return H

    def _extra_information(self, H, rs, sw, wx, cols, E) -> None:
        """Add the family's expected information of its extra parameters and of their cross
        terms with the coefficients (``FamilyEval.w_extra``), summed over the states with the
        posterior weights ``sw`` (P, K * Qe, 1), to ``H`` (in place)."""
        L = self.layout
        K = self.K
        P, m = cols.shape
        cross, block = wx
        cross = (sw * cross).reshape(P, K, -1, m).sum(axis=2)  # (P, K, m)
        block = (sw[..., None] * block).reshape(P, K, -1, m, m).sum(axis=2)  # (P, K, m, m)
        pairs = (cols[:, :, None] * E + cols[:, None, :]).ravel()
        rows = np.repeat(np.arange(P), m)
        bb = L.blocks["beta"]
        p = bb.shape[0]
        for k in range(K):
            ie = L.free_idx[L.blocks["extra"].offset + k * E + np.arange(E)]
            _scatter(H, ie, np.bincount(pairs, weights=block[:, k].ravel(), minlength=E * E).reshape(E, E))
            if p:
                M = sp.csr_matrix((cross[:, k].ravel(), (rows, cols.ravel())), shape=(P, E))
                C = M.T @ rs.X  # (E, p): sum_rows I(eta, a_e) x_r
                C = np.asarray(C.toarray() if sp.issparse(C) else C)
                _scatter_cross(H, L.free_idx[bb.offset + np.arange(p) * K + k], ie, C.T)

    # ------------------------------------------------------------------ adaptation
    def adaptation(self):
        """The state evaluations leave behind and start from: the adaptive nodes
        (``Integration.adaptation``). Estimation returns it; :meth:`restore` keeps it."""
        return self.integ.adaptation()

    def restore(self, state) -> None:
        """Go back to a state returned by :meth:`adaptation`."""
        self.integ.restore(state)

    def adapt(self, theta, max_iter: int = 20, tol: float = 1e-6) -> float:
        """Move the nodes of every cluster to its posterior (adaptive quadrature).

        Posterior means and covariances of the latents (Rabe-Hesketh, Skrondal & Pickles
        2002), iterated until the log-likelihood changes by less than ``tol``; for Laplace
        (one node), the posterior mode and curvature by Newton's method (``_adapt_mode``).
        Returns the log-likelihood (that of the last evaluation when it has converged: the
        nodes have not moved since).
        """
        if not self.integ.adaptive or self.D == 0 or self.laplace:
            return self.loglik(theta)
        if self.integ.n_nodes < 2:
            self.find_mode(theta)
            return self.loglik(theta)
        # moment steps from nodes fitted to other parameters see no posterior mass when the
        # posteriors are narrow (large counts: a posterior SD of 0.001 shifted 30 SDs moved 2%
        # per step) and then crawl; a step that still moves the log-likelihood by more than
        # ADAPT_CENTRE_JUMP after ADAPT_CENTRE_STEP steps centres the rule at each cluster's mode
        # (Newton's method converges from any start) and goes on from there (one-class models
        # with outcome effects, in memory)
        centre = (self.K == 1 and not self.design.re_cls and self.design.form != "crossed"
                  and not isinstance(self.design.X, OnWorkers))
        prev = None
        for it in range(max_iter):
            ll, mean, cov = self._moments_at(theta)
            if prev is not None and abs(ll - prev) < tol:
                return ll
            if centre and it == ADAPT_CENTRE_STEP and abs(ll - prev) > ADAPT_CENTRE_JUMP:
                centre = False
                self._centre_at_modes(theta)
                ll, mean, cov = self._moments_at(theta)
            prev = ll
            self._set_moments(mean, cov)
        return self.loglik(theta)

    def _set_moments(self, mean, cov):
        """Move the nodes to posterior means and covariances, the latents' scale shrinking by
        at most :data:`ADAPT_MAX_SHRINK` per step (in every direction). A rule that does not
        resolve a posterior (most of its weight on one node, or on one row of nodes) gives a
        covariance biased towards zero, from which the iteration grows back slowly: a 3-point
        rule (the start search's) collapsed a two-level LTA's classroom SD to 0.002 in one
        step and took 16 more to grow it back to 0.39 (4 in all with the limit). The fixed
        point, where the scale no longer moves, is the same."""
        R = self.integ.R
        Ri = np.linalg.inv(R)
        A = Ri @ cov @ np.swapaxes(Ri, 1, 2)  # the covariance in the current nodes' frame
        w, V = np.linalg.eigh(0.5 * (A + np.swapaxes(A, 1, 2)))
        low = w < ADAPT_MAX_SHRINK ** 2
        if low.any():
            A = np.einsum("gij,gj,gkj->gik", V, np.where(low, ADAPT_MAX_SHRINK ** 2, w), V)
            cov = R @ A @ np.swapaxes(R, 1, 2)
        self.integ.set_moments(mean, cov)

    def move_nodes(self, es: EStep) -> None:
        """One adaptation step from an evaluation at the current nodes: each cluster's nodes
        move to the posterior mean and covariance of its latents that ``es`` gives."""
        if not self.integ.adaptive or self.D == 0 or self.laplace or self.integ.n_nodes < 2:
            return
        self._set_moments(*(self._sums_of(es, "moments") if es.sums is not None else node_moments(es)))

    def _moments_at(self, theta):
        """Log-likelihood and each cluster's posterior means and covariances of the latents
        at the current nodes (summed, concatenated, over blocks of clusters)."""
        if self.shards is not None:
            sums = self._shard_sums(theta, frozenset({"moments"}))
            return (sums["ll"],) + sums["moments"]
        es = self.evaluate(theta, derivs=False)
        return (es.ll,) + node_moments(es)

    def _centre_at_modes(self, theta):
        """:meth:`find_mode` where the modes and curvatures are finite; else the nodes stay
        (an overflowing row density, as a residual SD running to 0, leaves them as they are)."""
        state = self.integ.adaptation()
        try:
            with np.errstate(all="ignore"):
                u, H = self.conditional_modes(theta)
                ok = np.isfinite(u).all() and np.isfinite(H).all()
                if ok:
                    self.integ.set_moments(u, np.linalg.inv(H))
                    ok = np.isfinite(self.integ.m).all() and np.isfinite(self.integ.R).all()
        except np.linalg.LinAlgError:
            ok = False
        if not ok:
            self.integ.restore(state)

    def find_mode(self, theta):
        """Laplace: adapt the one node to each cluster's mode and curvature."""
        u, H = self.conditional_modes(theta)
        self.integ.set_moments(u, np.linalg.inv(H))

    def _laplace_rows(self, theta):
        """Row-level pieces of a one-class GLMM: row set, parameters, the rows' random-effect
        loadings A (n, D) with eta = eta0 + A u_g, eta0, and the cluster-sum matrix with the
        rows' within-cluster weights."""
        if self.K > 1 or self.design.re_cls:
            raise NotImplementedError(
                "integration='laplace' is available for models without classes (GLMMs); use "
                "'agh' (adaptive Gauss-Hermite) for mixtures"
            )
        rs = self._rowset(True)
        P = self.layout.unpack(self.layout.expand(theta))
        Lo, _ = self.factor_matrices(P)
        n, G, D = self.design.n_rows, self.design.n_clusters, self.D
        A = np.zeros((n, D))
        for Zt, L, dims in zip(rs.Zs, Lo, self._dims_out):
            A[:, dims] += Zt @ L[0]
        eta0 = np.asarray(rs.X @ P["beta"])[:, 0]
        if self._lap_sum is None:
            # within-cluster weights are powers of the rows' densities inside the integral
            uw = self.design.unit_weight
            rw = np.ones(n) if uw is None else uw[self.design.unit_of_row]
            self._lap_sum = sp.csr_matrix((rw, (rs.cluster, np.arange(n))), shape=(G, n))
        return rs, P, A, eta0, self._lap_sum

    def _cluster_info(self, Gr, w, A):
        """I + sum over each cluster's rows of w a a' (G, D, D)."""
        n, D = A.shape
        S = np.asarray(Gr @ (w[:, None] * np.einsum("ni,nj->nij", A, A).reshape(n, -1))).reshape(-1, D, D)
        return S + np.eye(D)

    def conditional_modes(self, theta, max_iter: int = 50):
        """Modes u (G, D) of each cluster's integrand log p(y_g | u) + log phi(u) and the
        negative Hessians H (G, D, D) there, by Newton's method (K = 1, outcome effects),
        each cluster's step halved until its integrand does not fall (at most
        :data:`MODE_HALVINGS` times). A full step from u = 0 overshoots where the curvature
        there is small against the gradient: a Poisson cluster of 809 counts whose mean
        at u = 0 is 0.1 stepped to u ~ 800, overflowed, and the fit failed (Laplace 413
        below glmer's value, adaptive quadrature 20-40 below with a convergence warning)."""
        rs, P, A, eta0, Gr = self._laplace_rows(theta)
        G, D = self.design.n_clusters, self.D
        u = np.zeros((G, D))
        H = np.broadcast_to(np.eye(D), (G, D, D))

        def at(u):
            eta = eta0 + (A * u[rs.cluster]).sum(1)
            with np.errstate(over="ignore", invalid="ignore"):
                fe = self.family.evaluate(rs.y, eta[:, None], P["extra"], rs.aux)
                obj = np.asarray(Gr @ fe.logf[:, 0]).ravel() - 0.5 * (u * u).sum(1)
            return eta, fe, obj

        eta, fe, obj = at(u)
        for _ in range(max_iter):
            grad = np.asarray(Gr @ (fe.d_eta[:, 0:1] * A)) - u
            H = self._cluster_info(Gr, self.laplace_curvature(rs.y, eta, fe, rs.aux, P["extra"]), A)
            step = np.linalg.solve(H, grad[:, :, None])[:, :, 0]
            t = np.ones(G)
            for _h in range(MODE_HALVINGS + 1):
                eta_n, fe_n, obj_n = at(u + t[:, None] * step)
                # rounding allowed near the mode; a start whose integrand is not finite takes
                # any finite step
                bad = ~np.isfinite(obj_n) | (np.isfinite(obj) & (obj_n < obj - 1e-10 * np.maximum(1.0, np.abs(obj))))
                if not bad.any():
                    break
                t[bad] = 0.0 if _h == MODE_HALVINGS else 0.5 * t[bad]
            moved = t[:, None] * step
            u = u + moved
            if t.min() == 1.0 or not bad.any():
                eta, fe, obj = eta_n, fe_n, obj_n
            else:  # the clusters that could not move were evaluated at a trial point
                eta, fe, obj = at(u)
            if np.abs(moved).max() < 1e-8:
                break
        if not (t.min() == 1.0 and np.abs(moved).max() < 1e-8):  # curvature at the last point
            H = self._cluster_info(Gr, self.laplace_curvature(rs.y, eta, fe, rs.aux, P["extra"]), A)
        return u, H

    def laplace_curvature(self, y, eta, fe, aux, extra=None) -> np.ndarray:
        """The curvature of each row's log-density at eta (n,) and the family parameters
        ``extra`` (1, n_extra): the observed information where the family gives it (the
        Laplace approximation proper), else the working weights."""
        cur = self.family.eta_curvature(y, eta[:, None], aux, extra)
        return fe.w_eta[:, 0] if cur is None else cur[0][:, 0]

    @property
    def laplace_exact(self) -> bool:
        """Whether the Laplace approximation's gradient is exact (else central differences):
        the family gives the curvature's derivative in eta (its derivatives in the extra
        parameters, ``Family.curvature_extra``, are analytic or differences at fixed eta)."""
        return self.laplace and type(self.family).eta_curvature is not Family.eta_curvature

    def _laplace_extra(self, y, eta, extra, aux, fe, s, ac, rw=None, Gc=None):
        """The extra parameters' part of d log det H: each row adds dw_i s_i (the curvature
        moves) + (a_i' c) dd_i (the mode moves, du = H^-1 sum_i a_i dd_i), dw and dd the
        derivatives of w_i and of d logf / d eta in the parameter; summed into the state's
        extra entries (n_full layout), per cluster with ``Gc``."""
        L = self.layout
        eb = L.blocks["extra"]
        if eb.size == 0:
            return None
        dw, dd = self.family.curvature_extra(y, eta, extra, aux)
        vals = dw[:, 0, :] * s[:, None] + dd[:, 0, :] * ac[:, None]
        if rw is not None:
            vals = vals * rw[:, None]
        E = eb.shape[1]
        cols = fe.extra_cols
        if Gc is None:
            return np.bincount(cols.ravel(), weights=vals.ravel(), minlength=E)
        dense = np.zeros((vals.shape[0], E))
        for j in range(cols.shape[1]):  # the row's few extra parameters
            np.add.at(dense, (np.arange(vals.shape[0]), cols[:, j]), vals[:, j])
        return np.asarray(Gc @ dense)

    def _laplace_gradient(self, es: EStep, theta, per_cluster: bool = False) -> np.ndarray:
        """Exact gradient of the log-determinant term 2 x (Laplace log-likelihood - the rest)
        (full parameters, before pullback; per cluster with ``per_cluster``).

        ll = sum_g c_g [log f(y_g | u_g) - |u_g|^2 / 2 - log det H_g / 2] at the modes u_g,
        H_g = I + sum_i w_i a_i a_i' (w_i the observed information of row i). The first
        terms' total derivative is their partial one (the mode is stationary: Fisher's
        identity at the one node gives it). For the log-determinant, with M = H^-1,
        d log det H = sum_i w'_i s_i d eta_i + 2 w_i a_i' M d a_i (s_i = a_i' M a_i), where
        eta_i moves with the mode too: du = H^-1 d grad_u (implicit differentiation),
        d grad_u = sum_i -w_i a_i d eta_i + d_i d a_i, so with c = M sum_i w'_i s_i a_i,
        d log det H = sum_i alpha_i d eta_i|u + beta_i' d a_i, alpha_i = w'_i s_i - w_i a_i' c,
        beta_i = d_i c + 2 w_i M a_i.
        """
        rs, P, A, eta0, Gr = self._laplace_rows(theta)
        u = es.nodes[:, 0, :]  # the one node is the mode
        cl = rs.cluster
        eta = (eta0 + (A * u[cl]).sum(1))[:, None]
        fe = self.family.evaluate(rs.y, eta, P["extra"], rs.aux)
        w, dw = (v[:, 0] for v in self.family.eta_curvature(rs.y, eta, rs.aux, P["extra"]))
        d = fe.d_eta[:, 0]
        M = np.linalg.inv(self._cluster_info(Gr, w, A))
        MA = np.einsum("nij,nj->ni", M[cl], A)
        s = (A * MA).sum(1)
        c = np.einsum("gij,gj->gi", M, np.asarray(Gr @ ((dw * s)[:, None] * A)))
        rw = np.asarray(Gr.sum(axis=0)).ravel()  # each row's within-cluster weight
        cw = np.ones(u.shape[0]) if self.design.cluster_weight is None else self.design.cluster_weight
        rw = rw * cw[cl]
        alpha = rw * (dw * s - w * (A * c[cl]).sum(1))
        beta = rw[:, None] * (d[:, None] * c[cl] + 2.0 * w[:, None] * MA)
        Mrow = alpha[:, None] * u[cl] + beta
        Gc = sp.csr_matrix((np.ones(cl.size), (cl, np.arange(cl.size))), shape=Gr.shape) if per_cluster else None
        g = self._laplace_assemble(rs.X, rs.Zs, alpha, Mrow, Gc)
        ge = self._laplace_extra(rs.y, eta, P["extra"], rs.aux, fe, s, (A * c[cl]).sum(1), rw, Gc)
        if ge is not None:
            g[..., self.layout.blocks["extra"].slice] = ge
        return g

    def _laplace_assemble(self, X, Zs, alpha, Mrow, Gc=None) -> np.ndarray:
        """Full-parameter vector of a sum over rows of alpha_i d eta_i|u + Mrow_i' d(L' z_i):
        X' alpha for beta, sum_i Z_il Mrow_ij for an entry L[l, j] of a term; per cluster
        (n_clusters, n_full) when ``Gc`` (clusters x rows) sums the rows."""
        L = self.layout
        G = 1 if Gc is None else Gc.shape[0]
        g = np.zeros((G, L.n_full))
        if Gc is None:
            g[0, L.blocks["beta"].slice] = np.asarray(X.T @ alpha).ravel()
        else:
            Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
            g[:, L.blocks["beta"].slice] = np.asarray(Gc @ (Xd * alpha[:, None]))
        Gs = []
        for Zt, pos, dims in zip(Zs, self._pos, self._dims_out):
            per = Zt[:, pos[:, 0]] * Mrow[:, dims][:, pos[:, 1]]  # (rows, free entries)
            Gs.append(per.sum(axis=0, keepdims=True) if Gc is None else np.asarray(Gc @ per))
        g[:, L.blocks["re_out"].slice] = np.concatenate(Gs, axis=1)
        return g[0] if Gc is None else g

    def posterior_moments(self, theta):
        """Posterior means (G, D) and covariances (G, D, D) of the standardized latents (per
        cluster and class, (G * K, ...), with class-specific nodes)."""
        return self._moments_at(theta)[1:]


def node_moments(es: EStep):
    """Posterior means (G, D) and covariances (G, D, D) of the latents from an evaluation's
    posterior node weights."""
    w = np.asarray(es.post_node)
    mean = np.einsum("gq,gqd->gd", w, es.nodes)
    dev = es.nodes - mean[:, None, :]
    return mean, np.einsum("gq,gqi,gqj->gij", w, dev, dev)


def block_sums(lik: MixtureLikelihood, theta, what: frozenset, homogeneous: bool = False) -> dict:
    """One block of clusters' part of an evaluation at ``theta`` (``lik`` is the block's
    likelihood, with its clusters' nodes): the log-likelihood ``ll`` and, per cluster,
    ``ll_units``; on request the full gradient ``grad``, the EM information ``info`` (free
    parameters), the latents' posterior ``moments`` (means, covariances), the units'
    posterior class probabilities ``post`` and the clusters' ``scores``. Sums add over
    blocks, per-cluster and per-unit arrays concatenate (:func:`combine_sums`)."""
    out = {}
    if "scores" in what:
        out["scores"] = lik.unit_scores(theta)
    es = lik.evaluate(theta, derivs=bool(what & {"grad", "info"}), homogeneous=homogeneous)
    out["ll"] = es.ll
    out["ll_units"] = es.ll_units
    if "grad" in what:
        out["grad"] = lik.full_gradient(es)
    if "info" in what:
        out["info"] = lik.q_information(es)
    if "moments" in what:
        out["moments"] = node_moments(es)
    if "post" in what:
        out["post"] = lik.unit_posterior(es)
    return out


#: block sums that add; the others (per cluster or unit) concatenate
_ADDED = ("ll", "grad", "info")


def combine_sums(outs: list) -> dict:
    """The whole data's :func:`block_sums` from its blocks' (in cluster order)."""
    res = {}
    for k in outs[0]:
        vals = [o[k] for o in outs]
        if k in _ADDED:
            res[k] = float(sum(vals)) if k == "ll" else np.sum(vals, axis=0)
        elif k == "moments":
            res[k] = tuple(np.concatenate(v, axis=0) for v in zip(*vals))
        elif any(v is None for v in vals):
            res[k] = None
        else:
            res[k] = np.concatenate(vals, axis=0)
    return res


def central_gradient(f, theta, rel_step: float = 1e-6) -> np.ndarray:
    """Gradient of a scalar function by central differences (steps relative to max(1, |theta_i|))."""
    theta = np.asarray(theta, float)
    g = np.empty(theta.size)
    for i in range(theta.size):
        h = rel_step * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        g[i] = (f(tp) - f(tm)) / (2 * h)
    return g


def _group_sum(rs: _RowSet, W: np.ndarray) -> np.ndarray:
    """Sum (V, ...) unit-pattern weights into prior groups (rs.zinv)."""
    if isinstance(W, _PriorWeights):
        return W.grouped()
    return np.asarray(rs.Zmap @ W.reshape(rs.V, -1)).reshape(-1, *W.shape[1:])


def _state_weights(es: EStep) -> np.ndarray:
    """Posterior weight of each (pattern, family state): (P, K * eta_q).

    Family states are (class, node) when nodes enter the outcome's linear predictor, else
    classes only (the node weights are then summed)."""
    P = es.wpat.shape[0]
    return es.wpat.reshape(P, -1) if es.eta_q > 1 else es.wpat.sum(axis=2)


def _scatter_cross(H, ridx, cidx, block):
    """Add ``block`` at (ridx, cidx) of the symmetric ``H`` and its transpose at (cidx, ridx)."""
    mr, mc = ridx >= 0, cidx >= 0
    if not (mr.any() and mc.any()):
        return
    b = block[np.ix_(mr, mc)]
    ii, jj = ridx[mr], cidx[mc]
    np.add.at(H, (ii[:, None], jj[None, :]), b)
    np.add.at(H, (jj[:, None], ii[None, :]), b.T)


def _scatter(H, idx, block):
    m = idx >= 0
    if not m.any():
        return
    ii = idx[m]
    np.add.at(H, (ii[:, None], ii[None, :]), block[np.ix_(m, m)])
