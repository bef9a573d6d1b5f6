"""Small numerical helpers shared by the engine (one log-sum-exp for the package)."""

from __future__ import annotations

import numpy as np


def lse(a: np.ndarray, axis: int = 1, keepdims: bool = False) -> np.ndarray:
    """log(sum(exp(a), axis)), stable; a lean scipy.special.logsumexp."""
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def lse_post(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log-sum-exp along the last axis of a 2-d array ``a`` and the normalized exponentials
    (a softmax along a long axis) with one exp pass, where :func:`lse` and exp(a - lse)
    take two; ``a`` is overwritten by the latter. Rows whose maximum is not finite are
    taken as in :func:`lse`."""
    m = a.max(axis=1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    a -= m
    np.exp(a, out=a)
    s = a.sum(axis=1, keepdims=True)
    a /= s
    return (np.log(s) + m)[:, 0], a


def sum_last(a: np.ndarray, keepdims: bool = False) -> np.ndarray:
    """Sum of a 3-d array over its last axis. ``einsum`` takes a short last axis (the nodes of
    a GLMM: 7 to 25) 2-3x faster than ``ndarray.sum``, whose reduction pays per row; the same
    numbers to rounding (another order of the additions)."""
    s = np.einsum("ijk->ij", a)
    return s[:, :, None] if keepdims else s


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


#: largest spread of log terms (max - min along the axis) for which products of exponentials
#: replace the exponential of a sum: exp(-600) is far from underflow. The sum over within
#: states (``likelihood._Factored``) takes both operands' spreads together,
#: :func:`lse_softmax_sum` one operand's
SUM_SPREAD_LIMIT = 600.0


def lse_softmax_sum(a: np.ndarray, b: np.ndarray, axis: int = 1, index=None, take=None):
    """:func:`lse_softmax` of ``a[index] + b[..., take]`` (``a`` taken whole when ``index`` is
    None, ``b`` when ``take`` is None), for operands that broadcast against each other and are
    each much smaller than their sum: class log-priors per prior group and node, unit
    log-densities per class, the same at every node or (``take``: the last axis's map from
    nodes to distinct values) at every node with the same values in the outcome's latent
    dimensions.

    exp(a - max a) * exp(b - max b) replaces the exponential of the sum, so the exponentials
    are taken on the operands only (``b`` before ``take`` expands it). Exact whenever the
    spread of one operand along the axis stays below :data:`SUM_SPREAD_LIMIT`: with c the
    largest term of the other operand, the product for c is at least exp(-that spread), so
    the sum is far above underflow and the products that underflow (less than 1e-308) are
    negligible against it. Otherwise (or with infinite maxima) the sum is formed and
    :func:`lse_softmax` used. Reductions along ``axis`` loop over it, as there.
    """
    ma, mb = _along(a, axis, np.maximum), _along(b, axis, np.maximum)
    if not (np.isfinite(ma).all() and np.isfinite(mb).all()):
        spread = np.inf
    else:
        spread = min(float((ma - _along(a, axis, np.minimum)).max(initial=0.0)),
                     float((mb - _along(b, axis, np.minimum)).max(initial=0.0)))
    if not spread <= SUM_SPREAD_LIMIT:
        a = a if index is None else a[index]
        return lse_softmax(a + (b if take is None else np.take(b, take, axis=-1)), axis=axis)
    ea = np.exp(a - ma)
    eb = np.exp(b - mb)
    if take is not None:  # np.take keeps the nodes the fastest axis (indexing would not)
        eb, mb = np.take(eb, take, axis=-1), np.take(mb, take, axis=-1)
    if index is not None and a.shape[0] > 1:  # one row of a broadcasts without a copy
        ea, ma = ea[index], ma[index]
    # ea and eb are fresh arrays: the product goes in place into one of the result's size (a
    # fresh page of memory is costly), copying ea out only when neither has that size
    shape = np.broadcast_shapes(ea.shape, eb.shape)
    if eb.shape == shape:
        ea, eb = eb, ea
    e = ea if ea.shape == shape else np.broadcast_to(ea, shape).copy()
    e *= eb
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


class OnWorkers:
    """Stand-in, in a dask DataFrame's client-side design, for an array whose entries live on
    the Dask workers (one per row or per unit): its shape, and, for a matrix, the column sums
    that starting values, parameter scales and checks read (``column_sums``), reduced over
    the partitions. Anything that would read the entries refuses with NotImplementedError
    naming the array, instead of computing on a placeholder."""

    def __init__(self, name: str, shape, sums=None):
        self.name = name
        self.shape = tuple(int(s) for s in shape)
        self.ndim = len(self.shape)
        self.sums = sums  # (n, sum, sum of squares, nonzeros) per column, one-hot rows, X'X,
        # squared deviations from the column means; or None

    @classmethod
    def of(cls, name: str, a) -> "OnWorkers":
        """The stand-in of ``a`` (a design array on a worker), with its column sums if a matrix."""
        if getattr(a, "ndim", 1) != 2:
            return cls(name, (len(a),))
        n, s, sq, nnz = column_sums(a)
        m2 = centred_squares(a, s / max(n, 1))
        return cls(name, a.shape, (n, s, sq, nnz, one_hot_rows(a), cross_products(a), m2))

    @classmethod
    def join(cls, parts: list) -> "OnWorkers":
        """The stand-in of the partitions' arrays stacked (rows after rows)."""
        first = parts[0]
        shape = (sum(p.shape[0] for p in parts),) + first.shape[1:]
        sums = None
        if first.sums is not None:
            sums = (tuple(sum(p.sums[i] for p in parts) for i in range(4)) + (all(p.sums[4] for p in parts),)
                    + (sum(p.sums[5] for p in parts),))
            # squared deviations from the joint mean: each part's own plus n_p (mean_p - mean)^2
            n, s = sums[0], sums[1]
            mean = s / max(n, 1)
            sums += (sum(p.sums[6] + p.sums[0] * (p.sums[1] / max(p.sums[0], 1) - mean) ** 2 for p in parts),)
        return cls(first.name, shape, sums)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def _refuse(self, *args, **kwargs):
        raise NotImplementedError(
            f"this step reads every entry of the design's {self.name}, which for a dask DataFrame stays on the "
            "workers (only per-partition sums reach the client); it is not available on Dask yet: use "
            "data.compute() for it")

    __array__ = __getitem__ = __iter__ = __matmul__ = __rmatmul__ = _refuse
    __mul__ = __rmul__ = __add__ = __radd__ = __sub__ = __rsub__ = __truediv__ = __pow__ = _refuse
    __eq__ = __ne__ = __lt__ = __gt__ = __le__ = __ge__ = _refuse
    __array_ufunc__ = __array_function__ = _refuse
    __hash__ = None

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._refuse()


def column_sums(X):
    """Per column of a dense, sparse or :class:`OnWorkers` matrix: (rows, sum, sum of squares,
    number of nonzero entries)."""
    if isinstance(X, OnWorkers):
        return X.sums[:4]
    n = X.shape[0]
    if hasattr(X, "tocsr"):
        s, sq, nnz = sparse_column_sums(X)
        return n, s, sq, nnz
    X = np.asarray(X, float)
    return n, X.sum(axis=0), (X * X).sum(axis=0), np.count_nonzero(X, axis=0)


#: rows per block of a sparse cross-product
CROSS_BLOCK = 65536


def cross_products(X) -> np.ndarray:
    """X'X of a dense, sparse or :class:`OnWorkers` matrix, dense (columns x columns); a sparse
    one by blocks of rows (no transposed copy of a long matrix)."""
    if isinstance(X, OnWorkers):
        return X.sums[5]
    if hasattr(X, "tocsr"):
        X = X.tocsr()
        G = np.zeros((X.shape[1], X.shape[1]))
        for a in range(0, X.shape[0], CROSS_BLOCK):  # blocks of rows, not rows
            B = X[a:a + CROSS_BLOCK]
            G += (B.T @ B).toarray()
        return G
    X = np.asarray(X, float)
    return X.T @ X


def centred_squares(X, mean, chunk: int = 1 << 16) -> np.ndarray:
    """Per column of a dense or sparse matrix: the sum of squared deviations from ``mean``, by a
    second pass over the entries in blocks (no copy of the matrix). The one-pass
    ``sum of squares - n mean^2`` loses every digit of the SD of a column whose mean is more
    than ~1e8 of its SDs from zero (Days + 1e8 had SD 0: a second intercept)."""
    mean = np.asarray(mean, float)
    p = mean.size
    if hasattr(X, "tocsr"):  # stored entries, then the implicit zeros' share
        Xr = X.tocsr()
        out, nnz = np.zeros(p), np.zeros(p, np.int64)
        for a in range(0, Xr.data.size, chunk):
            data, cols = Xr.data[a:a + chunk], Xr.indices[a:a + chunk]
            nz = data != 0
            data, cols = data[nz], cols[nz]
            out += np.bincount(cols, weights=(data - mean[cols]) ** 2, minlength=p)
            nnz += np.bincount(cols, minlength=p)
        return out + (X.shape[0] - nnz) * mean * mean
    X = np.asarray(X, float)
    out = np.zeros(p)
    for a in range(0, X.shape[0], chunk):
        out += ((X[a:a + chunk] - mean) ** 2).sum(axis=0)
    return out


def column_moments(X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per column of a dense, sparse or :class:`OnWorkers` matrix: (mean, SD, root mean square,
    constant nonzero column); zeros (and no constant column) for a matrix without rows. The SD
    is from squared deviations from the mean (:func:`centred_squares`; a dask design's from
    its partitions' own, combined exactly), exact for columns far from zero."""
    n, s, sq, _ = column_sums(X)
    if n == 0:
        z = np.zeros(X.shape[1])
        return z, z, z, np.zeros(X.shape[1], bool)
    mean, msq = s / n, sq / n
    if isinstance(X, OnWorkers):
        m2 = X.sums[6] if len(X.sums) > 6 else np.maximum(sq - n * mean * mean, 0.0)
    else:
        m2 = centred_squares(X, mean)
    sd = np.sqrt(np.maximum(m2 / n, 0.0))
    rms = np.sqrt(msq)
    return mean, sd, rms, (sd <= 1e-12 * rms) & (mean != 0)


def one_hot_rows(X) -> bool:
    """Whether every row of ``X`` has a single nonzero entry, equal to 1 (indicator columns)."""
    if isinstance(X, OnWorkers):
        return bool(X.sums[4])
    if hasattr(X, "tocsr"):
        Xc = X.tocsr()
        return bool(np.all(np.diff(Xc.indptr) == 1) and np.all(Xc.data == 1.0))
    X = np.asarray(X)
    return bool(np.all((X == 0) | (X == 1)) and np.all(X.sum(axis=1) == 1))


def compact(M):
    """A dense design whose every column is constant (intercepts: class logits without
    covariates, random intercepts) as a read-only view of its first row repeated, which
    holds no memory per row; any other matrix as it is."""
    if isinstance(M, np.ndarray) and M.ndim == 2 and M.shape[0] > 1 and M.strides[0] != 0 \
            and np.array_equal(M, np.broadcast_to(M[:1], M.shape)):
        return np.broadcast_to(M[:1].copy(), M.shape)
    return M
