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
#: the sum over within states multiplies exponentials (``likelihood._Factored``): exp(-600)
#: is far from underflow
SUM_SPREAD_LIMIT = 600.0


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
