"""Small numerical helpers shared by the engine (one log-sum-exp for the package)."""

from __future__ import annotations

import numpy as np


def lse(a: np.ndarray, axis: int = 1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(a), axis)), stable; a lean scipy.special.logsumexp."""
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def lse_softmax(a: np.ndarray, axis: int = 1):
    """log-sum-exp along ``axis`` and the normalized exponentials (softmax) with one exp pass.

    Loops over the (short) axis: numpy reduces a middle axis of a large array several times
    slower than it combines its slices. Returns (lse without the axis, softmax like ``a``).
    """
    if a.shape[axis] == 1:  # one term (one class): the term itself, weight one
        return np.take(a, 0, axis=axis), np.ones_like(a)
    b = np.moveaxis(a, axis, 0)
    m = b[0].copy()
    for x in b[1:]:
        np.maximum(m, x, out=m)
    m[~np.isfinite(m)] = 0.0
    e = b - m
    np.exp(e, out=e)
    s = e[0].copy()
    for x in e[1:]:
        s += x
    e /= s
    return np.log(s) + m, np.moveaxis(e, 0, axis)


#: largest spread of log terms (max - min along the axis, both operands together) for which
#: :func:`lse_softmax_sum` multiplies exponentials: exp(-600) is far from underflow
SUM_SPREAD_LIMIT = 600.0


def lse_softmax_sum(a: np.ndarray, b: np.ndarray, axis: int = 1, index=None):
    """:func:`lse_softmax` of ``a[index] + b`` (``a`` taken whole when ``index`` is None), for
    operands that broadcast against each other and are each much smaller than their sum (class
    log-priors per prior group and node, unit log-densities per class, the same at every
    node).

    exp(a - max a) * exp(b - max b) replaces the exponential of the sum, so the exponentials
    are taken on the operands only; exact whenever no product can underflow (the spreads of
    a and b along the axis add up to less than :data:`SUM_SPREAD_LIMIT`), else the sum is
    formed and :func:`lse_softmax` used. Reductions along ``axis`` loop over it, as there.
    """
    ma, mb = _along(a, axis, np.maximum), _along(b, axis, np.maximum)
    spread = float((ma - _along(a, axis, np.minimum)).max(initial=0.0)
                   + (mb - _along(b, axis, np.minimum)).max(initial=0.0))
    if not np.isfinite(spread) or spread > SUM_SPREAD_LIMIT:
        return lse_softmax((a if index is None else a[index]) + b, axis=axis)
    e = np.exp(a - ma)
    if index is not None:
        e, ma = e[index], ma[index]
    shape = np.broadcast_shapes(e.shape, b.shape)
    if e.shape != shape:
        e = np.broadcast_to(e, shape).copy()
    e *= np.exp(b - mb)  # in place: one array of the result's size (fresh pages are costly)
    s = _along(e, axis, np.add)
    e /= s
    return np.squeeze(np.log(s) + ma + mb, axis=axis), e


def _along(a: np.ndarray, axis: int, op) -> np.ndarray:
    """Reduce ``a`` along a (short) ``axis`` with the binary ufunc ``op``, slice by slice
    (keeping the axis with length 1)."""
    b = np.moveaxis(a, axis, 0)
    out = b[0].copy()
    for x in b[1:]:
        op(out, x, out=out)
    return np.expand_dims(out, axis)


def log_softmax_ref(lin: np.ndarray, axis: int = 1) -> np.ndarray:
    """log softmax over classes of [lin, 0] (the last class the reference) along ``axis``."""
    shp = list(lin.shape)
    shp[axis] = 1
    full = np.concatenate([lin, np.zeros(shp)], axis=axis)
    return full - lse(full, axis=axis, keepdims=True)


def sparse_column_sums(X, chunk: int = 1 << 16):
    """Per column of a scipy.sparse matrix: the sum, the sum of squares and the number of
    nonzero entries, from its stored entries in chunks (no transposed or squared copy)."""
    Xr = X.tocsr()
    p = X.shape[1]
    s, sq, nnz = np.zeros(p), np.zeros(p), np.zeros(p, np.int64)
    for a in range(0, Xr.data.size, chunk):
        data, cols = Xr.data[a:a + chunk], Xr.indices[a:a + chunk]
        nz = data != 0
        data, cols = data[nz], cols[nz]
        s += np.bincount(cols, weights=data, minlength=p)
        sq += np.bincount(cols, weights=data * data, minlength=p)
        nnz += np.bincount(cols, minlength=p)
    return s, sq, nnz
