"""Scale equivariance: a diagonal linear reparameterization between optimizer and likelihood.

Rescaling a gaussian outcome by s (or a covariate by c) rescales the maximum-likelihood
estimates exactly (coefficients by s / c, residual and random-effect SDs by s) and shifts
the log-likelihood by -n log s. The likelihood itself is evaluated in double precision at
any such scale; what is not scale-free is the optimization around it: the trust region of
the EM steps, the ridge of the scoring solve, quasi-Newton's first steps, the gradient
tolerance and the finite-difference steps of the information matrix are all in units of
the parameters. So the optimizer and the information matrix work on internal coordinates

    theta = a * u + b          (elementwise, per free parameter)

in which every parameter is of unit size whatever the units of the data:

* outcome coefficient of column j: a = s_y / s_j (s_y: SD of a gaussian outcome with the
  identity link, else 1; s_j: SD of the design column, or its RMS if constant);
* log residual SD of a gaussian outcome: b = log s_y;
* random-effect factor entries (row i of the term's design): a = s_y / s_i, and for the
  slopes of the regression parameterization s_j / s_i;
* class-logit coefficients and random class-logit entries: a = 1 / s_j.

Every scale is rounded to a power of two (so u <-> theta is exact in floating point) and
left at 1 within a factor of 8 of unit scale, where the optimizer needs no help. Tied
parameters of different scales (an ``equal=`` across columns of different spread) keep
a = 1, b = 0. Fixed values, ties and starting values stay on the original scale: the map
acts on the free vector only, inside :func:`glmmix.estimation.estimate` and
:func:`glmmix.inference.covariance`; results, labels and ``theta`` are on the original
scale.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .mathutils import column_moments, one_hot_rows

#: scales within this factor of 1 are left alone (log2)
_DEAD_ZONE = 3.0


def column_scale(X, rms: bool = False) -> np.ndarray:
    """Spread of each column: its SD, or its RMS where the column is constant (intercepts).
    ``rms=True``: the RMS of every column (an uncorrelated random slope's variance adds
    x^2 sd^2 to the linear predictor's, whatever the column's centre)."""
    _, sd, root, _ = column_moments(X)  # dense, sparse, or a dask design's column sums (OnWorkers)
    if rms:
        return np.where(root > 0, root, 1.0)
    return np.where(root == 0, 1.0, np.where(sd > 1e-12 * root, sd, root))


def _pow2(s) -> np.ndarray:
    s = np.asarray(s, float)
    ok = np.isfinite(s) & (s > 0)
    k = np.round(np.log2(np.where(ok, s, 1.0)))
    k = np.where(np.abs(np.log2(np.where(ok, s, 1.0))) > _DEAD_ZONE, k, 0.0)
    return np.exp2(k)


def _re_entry_scales(block, row_scale, y_scale) -> np.ndarray:
    """Scale of each free entry (i, j) of a random term's factor matrix."""
    out = []
    for i, j in block.free_positions():
        if block.structure == "reg" and i != j:
            out.append(row_scale[j] / row_scale[i])  # slope of effect i on effect j
        else:
            out.append(y_scale / row_scale[i])
    return np.array(out, float)


class Rescaling:
    """The map theta = a * u + b on the free parameters (see the module docstring)."""

    def __init__(self, a: np.ndarray, b: np.ndarray, shifts: list | None = None):
        self.a = np.asarray(a, float)
        self.b = np.asarray(b, float)
        #: (intercept index, column index, mean) of the centred columns: theta = A u + b with
        #: A = diag(a) plus -mean * a[column] at (intercept, column)
        self.shifts = list(shifts or [])
        self.A = None
        if self.shifts:
            A = np.diag(self.a)
            for i0, j, m in self.shifts:
                A[i0, j] -= m * self.a[j]
            self.A = A
            self.A_inv = np.linalg.inv(A)  # unit upper-triangular up to a permutation: exact enough
        self.identity = bool(np.all(self.a == 1.0) and np.all(self.b == 0.0) and not self.shifts)

    @classmethod
    def of(cls, lik) -> "Rescaling":
        """The map for a likelihood's design and layout (computed once per layout)."""
        L = lik.layout
        cached = L.rescaling
        if cached is not None:
            return cached
        d = lik.design
        fam = d.family
        a_full = np.ones(L.n_full)
        b_full = np.zeros(L.n_full)
        y_sd = 1.0
        if fam.has_residual_sd:
            y = np.asarray(d.y, float)
            y_sd = float(_pow2(np.std(y))) if y.size > 1 else 1.0
        y_lin = y_sd if fam.has_residual_sd else 1.0  # identity link: coefficients in y's units
        xs = _pow2(column_scale(d.X))
        blk = L.blocks
        bb = blk["beta"]
        if bb.size:
            a_full[bb.slice] = np.repeat(y_lin / xs, bb.shape[1])
        eb = blk["extra"]
        if eb.size and fam.has_residual_sd:
            b_full[eb.slice] = np.log(y_sd)
        gb = blk["gamma"]
        if gb.size:
            a_full[gb.slice] = 1.0 / _gamma_scales(d)
        rb = blk["re_out"]
        if rb.size:
            per = np.concatenate([_re_entry_scales(b, _pow2(column_scale(b.Z, b.structure == "diag")), y_lin)
                                  for b in d.re_out])
            a_full[rb.slice] = np.tile(per, rb.shape[0])
        cb = blk["re_cls"]
        if cb.size:
            parts = []
            for b in d.re_cls:
                zs = _pow2(column_scale(b.Z))
                parts.append(_re_entry_scales(b, np.tile(zs, b.m // zs.size), 1.0))
            a_full[cb.slice] = np.concatenate(parts)
        # one value per free parameter; tie groups whose members disagree are left unscaled
        a = np.ones(L.n_free)
        b = np.zeros(L.n_free)
        m = L.free_idx >= 0
        fi = L.free_idx[m]
        first = L.first_full
        a[:] = a_full[first]
        b[:] = b_full[first]
        bad = np.zeros(L.n_free, bool)
        np.logical_or.at(bad, fi, (a_full[m] != a[fi]) | (b_full[m] != b[fi]))
        a[bad], b[bad] = 1.0, 0.0
        shifts = _centring(L, d, a, b, bad) + _gamma_centring(L, d, bad)
        out = cls(a, b, shifts)
        out.a_full = a_full
        L.rescaling = out
        return out

    def to_internal(self, theta):
        v = np.asarray(theta, float) - self.b
        if self.A is None:
            return v / self.a
        u = v / self.a
        for i0, j, m in self.shifts:  # centred columns are never intercepts: one pass
            u[i0] += m * v[j] / self.a[i0]
        return u

    def to_external(self, u):
        u = np.asarray(u, float)
        if self.A is None:
            return self.a * u + self.b
        return self.A @ u + self.b

    def grad_to_internal(self, g):
        """A gradient (last axis: free parameters) on theta -> on u: A' g."""
        g = np.asarray(g, float)
        return g * self.a if self.A is None else g @ self.A

    def hess_to_internal(self, H):
        """A Hessian on theta -> on u: A' H A."""
        if self.A is None:
            return self.a[:, None] * H * self.a[None, :]
        return self.A.T @ H @ self.A

    def hess_to_external(self, H):
        """A Hessian on u -> on theta: A^-T H A^-1."""
        if self.A is None:
            return H / self.a[:, None] / self.a[None, :]
        return self.A_inv.T @ H @ self.A_inv

    def cov_to_external(self, cov):
        """A covariance on u -> on theta: A cov A'. Rows of NaN (parameters without a
        standard error) stay NaN and do not spread: the others' covariance is conditional
        on them, the same in both coordinates."""
        if cov is None:
            return None
        if self.A is None:
            return self.a[:, None] * cov * self.a[None, :]
        nan = np.isnan(np.diag(cov))
        out = self.A @ np.nan_to_num(cov, nan=0.0) @ self.A.T
        out[nan, :] = np.nan
        out[:, nan] = np.nan
        return out


def _centring(L, d, a, b, bad) -> list:
    """Location part of the map, for outcome coefficients only (in place on ``b``).

    A covariate far from zero in units of its spread (|mean| > 8 SD: a calendar year, a
    date) makes its coefficient and the intercept nearly collinear; the optimizer then
    works on the intercept at the covariate's mean, theta_0 = u_0 - sum_j mean_j beta_j,
    which is exact reparameterization (the same likelihood) with a well-conditioned
    information. What plays the intercept (:func:`_intercepts`): a constant column; else the
    indicator columns of a term that partition the rows (``0 + item``: every item's
    coefficient); else, for ordinal outcomes, the first threshold of every threshold group
    (tau_1 - mean * beta: P(y <= k) = F(tau_k - eta)). Likewise an identity-link outcome far
    from zero (|mean| > 8 SD) puts those intercepts at b = the outcome's mean, so they are of
    unit size in u. Columns are centred only where every class's intercept and coefficient are
    free parameters of their own (ties across classes allowed when the intercept's follow
    the coefficient's). Random-effect designs are centred elsewhere (:mod:`glmmix.centring`)."""
    bb = L.blocks["beta"]
    X = d.X
    if not bb.size or not (isinstance(X, np.ndarray) or sp.issparse(X)) or X.ndim != 2 or X.shape[0] == 0:
        return []
    mean, sd, _, const = column_moments(X)
    ncol, K = bb.shape[0], int(np.prod(bb.shape[1:])) if len(bb.shape) > 1 else 1
    full = np.arange(bb.slice.start, bb.slice.stop).reshape(ncol, K)
    fi = L.free_idx
    owners = _owners(fi)

    def own_entries(entries):  # their free indices, or None when not free parameters of their own
        idx = fi[entries]
        if np.any(idx < 0) or any(not owners[int(f)] <= set(map(int, entries)) or bad[f] for f in idx):
            return None
        return idx

    def own(j):  # free indices of column j per class, or None when not its own parameters
        return own_entries(full[j])

    ym = None
    if d.family.has_residual_sd and np.size(d.y) > 1:  # identity link: intercepts at the outcome's mean
        y = np.asarray(d.y, float)
        ym, ys = float(np.mean(y)), float(np.std(y))
        ym = ym if abs(ym) > 8.0 * max(ys, 1e-300) else None
    far = np.flatnonzero(~const & (np.abs(mean) > 8.0 * sd))
    if ym is None and far.size == 0:
        return []
    bases = _intercepts(L, d, X, const, own, own_entries)
    if ym is not None:
        for idx, factor in bases:
            b[idx] = ym * factor
    shifts = []
    for j in far:
        idx = own(int(j))
        if idx is None:
            continue
        col = []
        for i0s, factor in bases:
            # a coefficient shared by classes may shift several intercepts; an intercept shared by
            # classes must follow one coefficient
            pairs = sorted({(int(i0), int(ij)) for i0, ij in zip(i0s, idx)})
            if len({i0 for i0, _ in pairs}) < len(pairs):
                col = []
                break
            col += [(i0, ij, float(mean[j] * factor)) for i0, ij in pairs]
        shifts += col
    return shifts


def _owners(free_idx) -> dict:
    """Free index -> the set of full entries it holds (several when parameters are tied)."""
    owners: dict = {}
    for i, f in enumerate(free_idx):
        if f >= 0:
            owners.setdefault(int(f), set()).add(i)
    return owners


def _gamma_centring(L, d, bad) -> list:
    """Location part of the map for class-logit coefficients: a class covariate far from zero
    (|mean| > 8 SD over the units, or clusters, of its variable) beside a constant column of
    the same logit is centred as :func:`_centring` centres outcome columns, each class's
    logit intercept taken at the covariate's mean (one shift per non-reference class).
    Without it the intercept and the coefficient are nearly collinear: the information
    matrix looked singular (an LCA with Anger + 1e4 as its class covariate gave no standard
    errors). Only where both are free parameters of their own (not fixed or tied)."""
    gb = L.blocks["gamma"]
    if not gb.size:
        return []
    fi = L.free_idx
    owners = _owners(fi)

    def own(i):  # the free index of full entry i, or None
        f = int(fi[i])
        return None if f < 0 or owners[f] != {i} or bad[f] else f

    cs = d.classes
    shifts = []
    for t, v in enumerate(cs.vars):
        Z = v.Z
        if not isinstance(Z, np.ndarray) or Z.ndim != 2 or Z.shape[0] < 2 or Z.shape[1] < 2:
            continue
        mean, sd, _, const = column_moments(Z)
        if not np.any(const):
            continue
        j0 = int(np.flatnonzero(const)[0])
        far = np.flatnonzero(~const & (np.abs(mean) > 8.0 * sd))
        km1 = v.K - 1
        start = gb.slice.start + cs.gslices[t].start
        for j in far:
            for k in range(km1):
                i0, ij = own(start + j0 * km1 + k), own(start + int(j) * km1 + k)
                if i0 is not None and ij is not None:
                    shifts.append((i0, ij, float(mean[j] / Z[0, j0])))
    return shifts


def _intercepts(L, d, X, const, own, own_entries) -> list:
    """What shifts every row's linear predictor by one amount c per class: [(free indices per
    class, f)], each entry moving by f * c: a constant column (f = 1 / its value); else every
    column of a term whose indicator columns partition the rows (``0 + item``); else an
    ordinal outcome's first threshold of each threshold group (f = -1: tau enters as tau - eta).
    Empty when none is free on its own."""
    if np.any(const):
        j0 = int(np.flatnonzero(const)[0])
        idx = own(j0)
        return [] if idx is None else [(idx, 1.0 / float(X[0, j0]))]
    for cols in d.x_terms.values():
        cols = list(cols)
        if len(cols) > 1 and one_hot_rows(X[:, cols]):
            idx = [own(int(j)) for j in cols]
            return [] if any(i is None for i in idx) else [(i, 1.0) for i in idx]
    fam = d.family
    eb = L.blocks["extra"]
    if fam.thresholds and eb.size:
        m = d.aux.n_cat - 1
        S, E = eb.shape
        full = np.arange(eb.slice.start, eb.slice.stop).reshape(S, E)
        out = []
        for g in range(E // m):
            idx = own_entries(full[:, g * m])
            if idx is None:
                return []
            out.append((idx, -1.0))
        return out
    return []


def _gamma_scales(d) -> np.ndarray:
    """Scales of the class-logit coefficients, in the layout's order (as ``gamma_scale``)."""
    cs = d.classes
    out = np.ones(cs.n_gamma)
    for t, v in enumerate(cs.vars):
        zs = _pow2(column_scale(v.Z))
        rows = np.r_[zs, np.ones(cs.gshapes[t][0] - zs.size)]
        out[cs.gslices[t]] = np.repeat(rows, v.K - 1)
    return out


class _ScaledLayout:
    """A layout whose free vector is the internal u (full vectors are unchanged)."""

    def __init__(self, layout, rescaling: Rescaling):
        self._base = layout
        self._rs = rescaling

    def __getattr__(self, name):
        if name.startswith("__") or "_base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._base, name)

    def expand(self, u):
        return self._base.expand(self._rs.to_external(u))

    def from_full(self, phi):
        return self._rs.to_internal(self._base.from_full(phi))

    def reduce(self, g_full):
        return self._rs.grad_to_internal(self._base.reduce(g_full))


class ScaledLikelihood:
    """A :class:`~glmmix.likelihood.MixtureLikelihood` seen through a :class:`Rescaling`:
    every method taking or returning a free vector works on u; the rest passes through
    (so the adaptive-quadrature state is the wrapped likelihood's)."""

    def __init__(self, lik, rescaling: Rescaling):
        self._base = lik
        self._rs = rescaling
        self.layout = _ScaledLayout(lik.layout, rescaling)

    def __getattr__(self, name):
        if name.startswith("__") or "_base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self._base, name)

    def evaluate(self, u, *args, **kw):
        return self._base.evaluate(self._rs.to_external(u), *args, **kw)

    def loglik(self, u):
        return self._base.loglik(self._rs.to_external(u))

    def loglik_and_grad(self, u):
        if self._base.laplace and not self._base.laplace_exact:  # differences: take them on u
            from .likelihood import central_gradient

            es = self._base.evaluate(self._rs.to_external(u))
            g = central_gradient(self.loglik, np.asarray(u, float))
            self._base.find_mode(self._rs.to_external(u))
            return es.ll, g, es
        ll, g, es = self._base.loglik_and_grad(self._rs.to_external(u))
        return ll, self._rs.grad_to_internal(g), es

    def gradient(self, u):
        return self.loglik_and_grad(u)[1]

    def unit_scores(self, u):
        return self._rs.grad_to_internal(self._base.unit_scores(self._rs.to_external(u)))

    def q_information(self, es):
        return self._rs.hess_to_internal(self._base.q_information(es))

    def adapt(self, u, *args, **kw):
        return self._base.adapt(self._rs.to_external(u), *args, **kw)

    def posterior_moments(self, u):
        return self._base.posterior_moments(self._rs.to_external(u))

    @property
    def base(self):
        """The likelihood on the parameters' own scale."""
        return self._base

    @property
    def rescaling(self):
        """The map between internal and external coordinates."""
        return self._rs

    def find_mode(self, u, *args, **kw):
        return self._base.find_mode(self._rs.to_external(u), *args, **kw)

    def coarse(self, *args, **kw):
        base = self._base.coarse(*args, **kw)
        return self if base is self._base else ScaledLikelihood(base, self._rs)


def internal(lik):
    """(likelihood on internal coordinates, rescaling); the likelihood itself when the
    map is the identity."""
    if isinstance(lik, ScaledLikelihood):
        return lik, Rescaling(np.ones(lik.layout.n_free), np.zeros(lik.layout.n_free))
    rs = Rescaling.of(lik)
    return (lik if rs.identity else ScaledLikelihood(lik, rs)), rs
