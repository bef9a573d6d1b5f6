"""Standard errors: observed information, sandwich, and the delta method.

* ``se="ml"``: the inverse observed information, -H^{-1}, with H the Hessian of the
  log-likelihood: exact (Louis' identity, :func:`louis_hessian`) for mixtures without random
  effects whose family gives its curvature and has no extra parameters (LCA of binary, count
  and binomial items, with class covariates and several class variables), otherwise from
  central differences of the exact gradient.
* ``se="robust"``: the sandwich H^{-1} B H^{-1} with B the sum over independent units of the
  outer products of their scores (White 1980; Mplus's MLR); with frequency weights, over
  every copy of a unit.

Parameters on a boundary are held fixed: they are left out of H and get no SE.
Reported values are on the natural scale (e.g. sigma rather than log sigma); their
covariance is J V J' with J the Jacobian of that map (the delta method).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from .exceptions import SingularInformationWarning
from .scaling import ScaledLikelihood, internal
from .weights import score_copies

#: "auto": Louis' identity where :func:`louis_hessian` applies, else central differences;
#: "central": central differences always
HESSIAN_METHOD = "auto"


def numeric_hessian(grad, theta, idx=None, rel_step=1e-5):
    """Hessian of a function from central differences of its gradient, symmetrised.

    ``idx`` restricts the differentiation to those coordinates (others held fixed).
    """
    theta = np.asarray(theta, float)
    idx = np.arange(theta.size) if idx is None else np.asarray(idx)
    m = idx.size
    H = np.zeros((m, m))
    for a, i in enumerate(idx):
        h = rel_step * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        H[:, a] = (grad(tp)[idx] - grad(tm)[idx]) / (2 * h)
    return 0.5 * (H + H.T)


def louis_hessian(lik, theta) -> np.ndarray | None:
    """The exact Hessian of the log-likelihood (free parameters) for finite mixtures without
    random effects, or None where it does not apply (random effects or quadrature, between-
    level class variables, family parameters besides the linear predictor, a family without
    its curvature, a likelihood of another kind).

    Louis (1982): with s the joint class state and c_us the complete-data score of unit u in
    state s (class-logit part plus sum over the unit's rows of d log f / d eta times the
    row's design), d^2 log L_u = sum_s p_us (c_us c_us' + d^2 log P(s | z_u) + sum_rows
    d^2 log f) - S_u S_u', S_u = sum_s p_us c_us. The class part's expected second derivative
    is the multinomial information the EM steps use (``ClassSystem.information``: it does not
    depend on the state beyond its parents); the rows' is minus the observed curvature of the
    family (``Family.eta_curvature``) in X' W X per state. Unit patterns enter with their
    multiplicities (weighted counts), so sampling weights are included."""
    if isinstance(lik, ScaledLikelihood):
        H = louis_hessian(lik.base, lik.rescaling.to_external(theta))
        return None if H is None else lik.rescaling.hess_to_internal(H)
    L = getattr(lik, "layout", None)
    fam = getattr(lik, "family", None)
    cs = getattr(lik, "cs", None)
    if (L is None or cs is None or getattr(lik, "D", 1) != 0 or lik.design.re_cls or lik.design.re_out
            or cs.Kb != 1 or L.blocks["extra"].size or not hasattr(fam, "eta_curvature")
            or getattr(lik, "shards", None) is not None):
        return None
    es = lik.evaluate(theta, whole=True)
    rs = es.rs
    if (rs is not lik.pat or es.wprior is None or np.ndim(es.wprior) != 3
            or not (isinstance(rs.C, np.ndarray) or sp.issparse(rs.C))):  # units as runs of rows
        return None
    K, V = lik.K, rs.V
    W = np.asarray(es.wprior)[:, :, 0]  # (V, K): multiplicity x posterior of each state
    m = np.asarray(rs.mult, float)
    eta = np.asarray(rs.X @ es.parts["beta"])  # (P, K)
    curv = fam.eta_curvature(rs.y, eta, rs.aux)
    if curv is None:
        return None
    w_obs = curv[0]
    d = es.fe.d_eta.reshape(rs.P, K)
    Hf = -_rows_curvature(rs, L, np.asarray(es.wpat)[:, :, 0] * w_obs, K)
    gb = L.blocks["gamma"]
    if K > 1:
        gam = es.parts["gamma"].ravel()
        Wz = np.zeros((rs.Zu.shape[0], K, 1))
        np.add.at(Wz, rs.zinv, W[:, :, None])
        Hf[gb.slice, gb.slice] -= cs.information("within", gam, rs.Zus, Wz)[0]
    return L.reduce(L.reduce(Hf).T) + _score_variance(lik, es, rs, L, d, W, m)


def _rows_curvature(rs, L, Wc, K):
    """sum over rows of Wc[p, k] x_p x_p' in the beta block of each state k (full parameters)."""
    bb = L.blocks["beta"]
    p = bb.shape[0]
    H = np.zeros((L.n_full, L.n_full))
    for k in range(K):
        if sp.issparse(rs.X):
            Hk = (rs.X.T @ rs.X.multiply(Wc[:, k:k + 1])).toarray()
        else:
            Hk = rs.X.T @ (rs.X * Wc[:, k:k + 1])
        ix = bb.offset + np.arange(p) * K + k
        H[np.ix_(ix, ix)] += Hk
    return H


def _score_variance(lik, es, rs, L, d, W, m, chunk=2048):
    """sum_u [sum_s p_us c_us c_us' - S_u S_u'] times the multiplicities, over unit patterns in
    chunks (free parameters)."""
    K = lik.K
    bb, gb = L.blocks["beta"], L.blocks["gamma"]
    p = bb.shape[0]
    out = np.zeros((L.n_free, L.n_free))
    gam = es.parts["gamma"].ravel()
    C = rs.C
    for a in range(0, rs.V, chunk):
        b = min(a + chunk, rs.V)
        n = b - a
        c = np.zeros((n, K, L.n_full))
        Ca = C[a:b]
        for k in range(K):
            Xd = rs.X.multiply(d[:, k:k + 1]) if sp.issparse(rs.X) else rs.X * d[:, k:k + 1]
            Ck = Ca @ Xd
            c[:, k, bb.offset + np.arange(p) * K + k] = Ck.toarray() if sp.issparse(Ck) else np.asarray(Ck)
        if K > 1:
            Zv = {t: z[a:b] for t, z in rs.Zvs.items()}
            for k in range(K):
                onehot = np.zeros((n, K, 1))
                onehot[:, k, 0] = 1.0
                c[:, k, gb.slice] = lik.cs.gradient("within", gam, Zv, onehot, per_unit=True)[0]
        c = L.reduce(c)  # (n, K, free)
        Wa, ma = W[a:b], m[a:b]
        S = np.einsum("uk,ukf->uf", Wa, c)  # multiplicity x S_u
        cw = (c * Wa[:, :, None]).reshape(n * K, -1)
        out += cw.T @ c.reshape(n * K, -1) - (S / np.where(ma > 0, ma, 1.0)[:, None]).T @ S
    return out


def hessian(lik, theta, idx=None) -> np.ndarray:
    """Hessian of the log-likelihood at ``theta`` restricted to the free parameters ``idx``:
    exact where :func:`louis_hessian` applies (and ``HESSIAN_METHOD`` is "auto"), else
    central differences of the exact gradient."""
    idx = np.arange(np.size(theta)) if idx is None else np.asarray(idx)
    H = louis_hessian(lik, theta) if HESSIAN_METHOD == "auto" else None
    if H is None:
        return numeric_hessian(lik.gradient, theta, idx)
    H = H[np.ix_(idx, idx)]
    return 0.5 * (H + H.T)


def observed_information(lik, theta) -> np.ndarray:
    """Minus the Hessian of the log-likelihood at ``theta`` (central differences of the exact
    gradient), differentiated on internal coordinates of unit scale (:mod:`glmmix.scaling`)
    so that the steps suit parameters of any size, and mapped back."""
    slik, rs = internal(lik)
    H = hessian(slik, rs.to_internal(theta))
    return -rs.hess_to_external(H)


def covariance(lik, theta, kind="ml", boundary=()):
    """Covariance matrix of the free parameters (NaN rows/columns for boundary ones).

    Returns (cov, info) where info has the Hessian's smallest eigenvalue and a flag
    for a singular information matrix.
    """
    n = theta.size
    cov = np.full((n, n), np.nan)
    info = {"singular": False, "min_eig": np.nan}
    if kind in (None, "none", False):
        return None, info
    slik, rs = internal(lik)
    if slik is not lik:  # differentiate on internal coordinates of unit scale (scaling.py)
        cov_u, info = covariance(slik, rs.to_internal(theta), kind, boundary)
        return rs.cov_to_external(cov_u), info
    if kind not in ("ml", "robust"):
        raise ValueError(f"se must be 'ml', 'robust' or 'none', not {kind!r}")
    idx = np.array([i for i in range(n) if i not in set(boundary)], dtype=int)
    if idx.size == 0:
        return cov, info
    H = hessian(lik, theta, idx)
    info_mat = -H
    if not np.isfinite(info_mat).all():  # e.g. an unbounded likelihood's collapsed SD
        info["singular"] = True
        warnings.warn("the information matrix is not finite at the estimates (second derivatives overflow): "
                      "no standard errors are given", SingularInformationWarning, stacklevel=3)
        return cov, info
    w, vecs = np.linalg.eigh(info_mat)
    info["min_eig"] = float(w[0])
    scale = max(1.0, float(np.abs(w).max()))
    null = np.zeros(idx.size, bool)
    if w[0] <= 1e-9 * scale:
        # parameters with a share in a direction of (numerically) zero information are not
        # identified: the pseudo-inverse would give them an SE of ~0, not an infinite one
        null = (vecs[:, w <= 1e-9 * scale] ** 2).sum(axis=1) > 1e-8
        info["singular"] = True
        warnings.warn(
            "the information matrix is singular or not positive definite (smallest eigenvalue "
            f"{w[0]:.3g}): some parameters are not identified; their standard errors are "
            "unreliable (shown as NaN where the inverse fails)",
            SingularInformationWarning,
            stacklevel=3,
        )
        V = np.linalg.pinv(info_mat)
    else:
        V = np.linalg.inv(info_mat)
    if kind == "robust":
        S = lik.unit_scores(theta)[:, idx]
        copies = score_copies(lik.design)  # frequency weights: a unit's score counts once per copy
        B = S.T @ S if copies is None else (S / copies[:, None]).T @ S
        V = V @ B @ V
    V = 0.5 * (V + V.T)
    cov[np.ix_(idx, idx)] = V
    if info["singular"]:
        bad = (np.diag(V) <= 0) | null
        cov[np.ix_(idx[bad], idx)] = np.nan
        cov[np.ix_(idx, idx[bad])] = np.nan
    return cov, info


def limit_covariance(theta, limit_lik, limit_theta, to_limit, kind="ml", boundary=()):
    """Covariance of the free parameters at a point ``theta`` of an exact boundary limit
    (``nesting.limit_point``), where the integration rule cannot resolve the model: the
    limiting model's (``limit_lik`` at ``limit_theta``; observed information or sandwich)
    carried to this model's free parameters other than ``boundary`` (held, NaN) through the
    Jacobian J of ``to_limit`` (this model's parameters -> the limiting model's, None off the
    limit), cov = J^-1 V J^-T. Parameters whose step leaves the limit or that do not move it
    (the SDs and correlation of a GoM's class-logit intercepts) are held too; limiting-model parameters
    that none of the others moves are held in V. Returns (cov, V), or None where the map is
    not one to one there (the caller keeps the rule's)."""
    n = theta.size
    held = set(boundary)

    def leaves(i):
        h = 1e-6 * max(1.0, abs(theta[i]))
        return any(to_limit(_put(theta, [i], [theta[i] + d])) is None for d in (h, -h))

    idx = np.array([i for i in range(n) if i not in held and not leaves(i)], dtype=int)

    def mapped(t):
        out = to_limit(_put(theta, idx, t))
        if out is None:
            raise _NotAtLimit
        return out

    try:
        J = jacobian(mapped, theta[idx])
    except _NotAtLimit:
        return None
    moves = np.abs(J).max(axis=0) > 0 if idx.size else np.zeros(0, bool)
    idx, J = idx[moves], J[:, moves]  # parameters the limit does not depend on are held as well
    moved = np.flatnonzero(np.abs(J).max(axis=1) > 0) if idx.size else np.zeros(0, int)
    if moved.size != idx.size or (idx.size and np.linalg.cond(J[moved]) > 1e12):
        return None
    V, _ = covariance(limit_lik, limit_theta, kind,
                      boundary=[j for j in range(limit_theta.size) if j not in set(moved.tolist())])
    cov = np.full((n, n), np.nan)
    if V is None or not idx.size:
        return (None if V is None else cov), V
    Vm = V[np.ix_(moved, moved)]
    if np.isnan(Vm).any():
        return None
    Ji = np.linalg.inv(J[moved])
    cov[np.ix_(idx, idx)] = Ji @ Vm @ Ji.T
    return cov, V


class _NotAtLimit(Exception):
    """A step of :func:`limit_covariance`'s Jacobian left the limit."""


def _put(theta, idx, values):
    out = np.array(theta, float)
    out[idx] = values
    return out


def jacobian(fun, theta, rel_step=1e-6, scale=None):
    """Jacobian of a vector function by central differences (cheap maps only).

    Steps are ``rel_step * max(scale_i, |theta_i|)``; ``scale`` (default 1) is a typical
    size of each coordinate, such as its standard error. Where the central step would cross
    zero (|theta_i| below the step) the difference is one-sided, away from zero: the natural
    maps have their kinks at zero (an SD is |L| of its Cholesky entry), and a difference
    across the kink gives |L|'s slope as L / h instead of 1 (an SD at a singular fit, 6.5e-8,
    had its SE shrunk from 0.30 to 0.065).
    """
    theta = np.asarray(theta, float)
    scale = np.ones(theta.size) if scale is None else np.asarray(scale, float)
    f0 = np.asarray(fun(theta))
    J = np.zeros((f0.size, theta.size))
    for i in range(theta.size):
        h = rel_step * max(scale[i], abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        if abs(theta[i]) < h:
            h = h if theta[i] >= 0 else -h
            tp[i] += h
            J[:, i] = (np.asarray(fun(tp)) - f0).ravel() / h
            continue
        tp[i] += h
        tm[i] -= h
        J[:, i] = (np.asarray(fun(tp)) - np.asarray(fun(tm))).ravel() / (2 * h)
    return J


def delta_cov(fun, theta, cov):
    """Covariance of fun(theta) by the delta method (NaN propagates from cov).

    The Jacobian's steps follow each parameter's standard error (where it has one), so
    they shrink and grow with the parameter's units and the result is scale equivariant.
    """
    se = np.sqrt(np.abs(np.diag(cov)))
    scale = np.where(np.isfinite(se) & (se > 0), se, 1.0)
    J = jacobian(fun, theta, scale=np.minimum(scale, np.maximum(1.0, np.abs(theta))))
    Jz = np.where(J == 0, 0.0, J)
    C = np.where(np.isnan(cov), 0.0, cov)
    V = Jz @ C @ Jz.T
    # a derived value that depends on a parameter without SE has no SE either; such parameters
    # are mostly on a boundary (a logit of 30), where the derivative underflows to zero, so the
    # dependence is probed by moving the parameter far (to half its value and to zero)
    nan_par = np.flatnonzero(np.isnan(np.diag(cov)))
    bad = (np.abs(J[:, nan_par]) > 0).any(axis=1)
    f0 = np.asarray(fun(theta), float).ravel()
    for i in nan_par:
        for value in (0.5 * theta[i], 0.0):
            moved = theta.copy()
            moved[i] = value
            with np.errstate(all="ignore"):
                bad |= np.asarray(fun(moved), float).ravel() != f0
    V[bad, :] = np.nan
    V[:, bad] = np.nan
    return V
