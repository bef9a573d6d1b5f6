"""Standard errors: observed information, sandwich, and the delta method.

* ``se="ml"``: the inverse observed information, -H^{-1}, with H the Hessian of the
  log-likelihood from central differences of the exact gradient.
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

from .exceptions import SingularInformationWarning
from .scaling import internal
from .weights import score_copies


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


def observed_information(lik, theta) -> np.ndarray:
    """Minus the Hessian of the log-likelihood at ``theta`` (central differences of the exact
    gradient), differentiated on internal coordinates of unit scale (:mod:`glmmix.scaling`)
    so that the steps suit parameters of any size, and mapped back."""
    slik, rs = internal(lik)
    H = numeric_hessian(slik.gradient, rs.to_internal(theta))
    return -H / rs.a[:, None] / rs.a[None, :]


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
    H = numeric_hessian(lik.gradient, theta, idx)
    info_mat = -H
    w = np.linalg.eigvalsh(info_mat)
    info["min_eig"] = float(w[0])
    scale = max(1.0, float(np.abs(w).max()))
    if w[0] <= 1e-9 * scale:
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
        bad = np.diag(V) <= 0
        cov[np.ix_(idx[bad], idx)] = np.nan
        cov[np.ix_(idx, idx[bad])] = np.nan
    return cov, info


def jacobian(fun, theta, rel_step=1e-6, scale=None):
    """Jacobian of a vector function by central differences (cheap maps only).

    Steps are ``rel_step * max(scale_i, |theta_i|)``; ``scale`` (default 1) is a typical
    size of each coordinate, such as its standard error.
    """
    theta = np.asarray(theta, float)
    scale = np.ones(theta.size) if scale is None else np.asarray(scale, float)
    f0 = np.asarray(fun(theta))
    J = np.zeros((f0.size, theta.size))
    for i in range(theta.size):
        h = rel_step * max(scale[i], abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
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
