"""The mixture likelihood: log-likelihood, posteriors, exact gradient, unit scores.

For unit u (the level of the class variable) with rows r in u,

    L_u = sum_c P(C_u = c | z_u) * prod_{r in u} f(y_r | eta_rc),                (eq 2-4, 16)
    eta_rc = x_r' beta_c,   P(C_u = c | z_u) = softmax_c(z_u' gamma_c), gamma_K = 0.

Everything is evaluated in log space and vectorised over all rows and units at once:
row log-densities (n_rows, K) -> segment sums over units (n_units, K) -> logsumexp over
classes. No Python loop runs over rows or units.

The gradient is exact, by Fisher's identity: the score is the posterior expectation of the
complete-data score, i.e. the gradient of EM's Q-function at the current parameters:

    d/d beta_c  = X' (w_rc * dlogf/deta_rc),      w_rc = P(C_u(r) = c | y_u),
    d/d gamma_c = Z' (w_uc - P(C_u = c | z_u)).

Array axis order: rows or units first, then classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .design import Design
from .params import ParamLayout


def lse(a: np.ndarray) -> np.ndarray:
    """log(sum(exp(a), axis=1)) for a 2-d array, stable; a lean scipy.special.logsumexp."""
    m = a.max(axis=1)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.log(np.exp(a - m[:, None]).sum(axis=1)) + m


def log_softmax_ref(lin: np.ndarray) -> np.ndarray:
    """log softmax over [lin, 0] (last class is the reference), shape (n, K)."""
    full = np.concatenate([lin, np.zeros((lin.shape[0], 1))], axis=1)
    return full - lse(full)[:, None]


@dataclass
class EStep:
    """Results of one evaluation at the current parameters.

    ll : float, total log-likelihood
    ll_units : (n_units,)
    post : (n_units, K) posterior class probabilities
    logprior : (n_units, K)
    wpat : (n_patterns, K) posterior-weighted count of each row pattern in each class
    fe : FamilyEval at the row patterns
    """

    ll: float
    ll_units: np.ndarray
    post: np.ndarray
    logprior: np.ndarray
    wpat: np.ndarray
    fe: object
    parts: dict


def row_patterns(design: Design):
    """Distinct rows of (X, y, family row data) and the map from rows to them.

    Row log-densities depend on a row only through its pattern, so the family is evaluated
    once per pattern (for ``y ~ 0 + item`` with binary y: 2 x n_items patterns however
    many units there are). Returns (representative row of each pattern, inverse map).
    """
    X = design.X
    n, p = X.shape
    cols = [design.y[:, None]]
    for key in ("threshold_group", "trials"):
        if key in design.aux:
            cols.append(np.asarray(design.aux[key], float)[:, None])
    if p * n > 5e7:  # too large to compare densely: no compression
        return np.arange(n), np.arange(n)
    Xd = X.toarray() if sp.issparse(X) else np.asarray(X)
    key = np.ascontiguousarray(np.concatenate([Xd] + cols, axis=1))
    void = key.view(np.dtype((np.void, key.dtype.itemsize * key.shape[1]))).ravel()
    _, first, inv = np.unique(void, return_index=True, return_inverse=True)
    return first, inv.ravel()


class MixtureLikelihood:
    """Likelihood of a :class:`~glmmix.design.Design` under a :class:`~glmmix.params.ParamLayout`.

    Row computations run on distinct row patterns (see :func:`row_patterns`); the sparse
    count matrix ``C`` (n_units x n_patterns) carries them to units (``C @ logf``) and
    carries unit posteriors back to patterns (``C.T @ post``).
    """

    def __init__(self, design: Design, layout: ParamLayout):
        self.design = design
        self.layout = layout
        self.K = design.n_classes
        self.family = design.family
        self.Z = design.Z
        first, inv = row_patterns(design)
        n, U, P = design.n_rows, design.n_units, first.size
        self.n_patterns = P
        Xp = design.X[first]
        self.X = Xp.tocsr() if sp.issparse(Xp) else np.asarray(Xp)
        self.Xt = self.X.T.tocsr() if sp.issparse(self.X) else None
        self.y = design.y[first]
        self.aux = {k: (v[first] if isinstance(v, np.ndarray) and v.shape[:1] == (n,) else v)
                    for k, v in design.aux.items()}
        self.C = sp.csr_matrix((np.ones(n), (design.unit_of_row, inv)), shape=(U, P))
        self.CT = self.C.T.tocsr()
        self.count = np.asarray(self.C.sum(axis=0)).ravel()
        # class priors depend on a unit only through its row of Z
        zv = np.ascontiguousarray(self.Z).view(np.dtype((np.void, self.Z.dtype.itemsize * self.Z.shape[1]))).ravel()
        _, zfirst, self.zinv = np.unique(zv, return_index=True, return_inverse=True)
        self.Zu = self.Z[zfirst]
        self.zinv = self.zinv.ravel()

    # ------------------------------------------------------------------ pieces
    def evaluate(self, theta: np.ndarray, derivs: bool = True) -> EStep:
        """Log-likelihood and posteriors at free parameters ``theta``."""
        phi = self.layout.expand(theta)
        P = self.layout.unpack(phi)
        eta = np.asarray(self.X @ P["beta"])  # (n_patterns, K)
        fe = self.family.evaluate(self.y, eta, P["extra"], self.aux, derivs=derivs)
        lu = self.C @ fe.logf  # (U, K): sum over each unit's rows
        logprior = log_softmax_ref(self.Zu @ P["gamma"])[self.zinv]
        lj = logprior + lu
        ll_units = lse(lj)
        post = np.exp(lj - ll_units[:, None])
        wpat = self.CT @ post if derivs else None
        return EStep(float(ll_units.sum()), ll_units, post, logprior, wpat, fe, P)

    def loglik(self, theta) -> float:
        return self.evaluate(theta, derivs=False).ll

    # ------------------------------------------------------------------ gradient
    def full_gradient(self, es: EStep) -> np.ndarray:
        """Gradient with respect to the full parameter vector (Fisher's identity)."""
        L = self.layout
        g = np.zeros(L.n_full)
        wd = es.wpat * es.fe.d_eta  # (P, K)
        gb = self.Xt @ wd if self.Xt is not None else self.X.T @ wd
        g[L.blocks["beta"].slice] = np.asarray(gb).ravel()
        eb = L.blocks["extra"]
        if eb.size:
            g[eb.slice] = self._extra_sum(es.wpat[:, :, None] * es.fe.d_extra, es.fe.extra_cols).ravel()
        if self.K > 1:
            resid = es.post - np.exp(es.logprior)
            g[L.blocks["gamma"].slice] = (self.Z.T @ resid[:, : self.K - 1]).ravel()
        return g

    def _extra_sum(self, vals, cols):
        """Sum pattern contributions (P, K, m) into (K, E) using column map cols (P, m)."""
        K = self.K
        E = self.layout.blocks["extra"].shape[1]
        out = np.empty((K, E))
        flat_cols = cols.ravel()
        for k in range(K):  # loop over classes only
            out[k] = np.bincount(flat_cols, weights=vals[:, k, :].ravel(), minlength=E)
        return out

    def loglik_and_grad(self, theta):
        es = self.evaluate(theta)
        return es.ll, self.layout.reduce(self.full_gradient(es)), es

    def gradient(self, theta):
        return self.loglik_and_grad(theta)[1]

    # ------------------------------------------------------------------ unit scores
    def unit_scores(self, theta) -> np.ndarray:
        """Per-unit gradients, shape (n_units, n_free); they sum to the gradient."""
        es = self.evaluate(theta)
        L = self.layout
        U, K = self.design.n_units, self.K
        out = np.zeros((U, L.n_full))
        bb = L.blocks["beta"]
        p = bb.shape[0]
        sb = np.zeros((U, p, K))
        for k in range(K):  # classes only
            d = es.fe.d_eta[:, k : k + 1]
            Xk = self.X.multiply(d) if sp.issparse(self.X) else self.X * d
            m = self.C @ Xk  # (U, p): sum over the unit's rows of d_rk x_r
            sb[:, :, k] = es.post[:, k : k + 1] * (m.toarray() if sp.issparse(m) else m)
        out[:, bb.slice] = sb.reshape(U, -1)
        eb = L.blocks["extra"]
        if eb.size:
            E = eb.shape[1]
            cols = es.fe.extra_cols
            se = np.zeros((U, K, E))
            for k in range(K):
                dense = np.zeros((self.n_patterns, E))
                for j in range(cols.shape[1]):
                    np.add.at(dense, (np.arange(self.n_patterns), cols[:, j]), es.fe.d_extra[:, k, j])
                se[:, k, :] = es.post[:, k : k + 1] * (self.C @ dense)
            out[:, eb.slice] = se.reshape(U, -1)
        if K > 1:
            resid = (es.post - np.exp(es.logprior))[:, : K - 1]
            out[:, L.blocks["gamma"].slice] = (self.Z[:, :, None] * resid[:, None, :]).reshape(U, -1)
        return L.reduce(out)

    # ------------------------------------------------------------------ EM metric
    def q_information(self, es: EStep) -> np.ndarray:
        """Expected complete-data information of Q at the current posterior weights.

        Block-diagonal (beta per class, extra per class, gamma), pulled back to the free
        parameters; EM's M-step is a scoring step with this matrix (Lange's EM gradient
        algorithm), which keeps the EM phase general across families and constraints.
        """
        L = self.layout
        n_free = L.n_free
        H = np.zeros((n_free, n_free))
        K = self.K
        bb = L.blocks["beta"]
        p = bb.shape[0]
        W = es.wpat * es.fe.w_eta  # (P, K)
        for k in range(K):
            if sp.issparse(self.X):
                Hk = (self.Xt @ self.X.multiply(W[:, k : k + 1])).toarray()
            else:
                Hk = self.X.T @ (self.X * W[:, k : k + 1])
            full = bb.offset + np.arange(p) * K + k
            _scatter(H, L.free_idx[full], Hk)
        eb = L.blocks["extra"]
        if eb.size:
            E = eb.shape[1]
            d2 = self._extra_sum(es.wpat[:, :, None] * es.fe.d_extra**2, es.fe.extra_cols)  # BHHH diagonal
            for k in range(K):
                full = eb.offset + k * E + np.arange(E)
                _scatter(H, L.free_idx[full], np.diag(d2[k]))
        if K > 1:
            gb = L.blocks["gamma"]
            q = gb.shape[0]
            pi = np.exp(es.logprior)[:, : K - 1]
            A = -pi[:, :, None] * pi[:, None, :]
            A[:, np.arange(K - 1), np.arange(K - 1)] += pi
            Hg = np.einsum("ui,uj,uab->iajb", self.Z, self.Z, A).reshape(q * (K - 1), q * (K - 1))
            _scatter(H, L.free_idx[gb.slice], Hg)
        return H


def _scatter(H, idx, block):
    m = idx >= 0
    if not m.any():
        return
    ii = idx[m]
    np.add.at(H, (ii[:, None], ii[None, :]), block[np.ix_(m, m)])
