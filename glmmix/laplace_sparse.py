"""Laplace approximation for random terms with several grouping columns (crossed designs).

With random terms on different grouping columns, e.g. ``(1 | id) + (1 | item)`` on item
responses, no grouping splits the data into independent clusters: the latents of all
levels of all groupings form one vector u (standard normal, N = sum over groupings of
levels x dimensions), and

    log L ~= sum_i log f(y_i | eta_i(u*)) - |u*|^2 / 2 - log det H / 2,
    eta_i = x_i' beta + a_i' u,   H = I + A' W A,

at the joint mode u* (Laplace's method, as lme4's glmer and glmmTMB). A (rows x N) is
sparse: row i has one block per grouping, the loadings a_ig = sum over that grouping's terms
of z_it' L_t at the columns of its level. The mode is found by Newton's method (penalized
IRLS, with step halving) warm-started at the previous mode; W holds the observed
information of each row (the working weights for families that do not give it).

H is factored by eliminating the grouping with the most columns first: its block is block
diagonal (each row sits in one level), so with H = [[D1, B], [B', H22]] the log-determinant
is log det D1 (level by level) + log det S, S = H22 - B' D1^-1 B the Schur complement on the
other groupings' columns (dense; e.g. 24 items against 316 persons), factored by Cholesky.

The gradient is exact. The first terms' total derivative is their partial one (the mode is
stationary), which the engine's Fisher identity at one node gives (``full_gradient`` with
each row's node at its levels' modes). For the log-determinant (``MixtureLikelihood.
_laplace_gradient`` for one grouping has the derivation): with M = H^-1 and s_i = a_i' M a_i,
d log det H = sum_i w'_i s_i d eta_i + 2 w_i (M a_i)' d a_i, where eta_i moves with the mode,
du* = H^-1 d grad_u. It needs M only at the entries each row touches (its levels' blocks
and their cross blocks), which the elimination gives without forming M.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import linalg
from threadpoolctl import ThreadpoolController

from .design import Design
from .exceptions import DesignError
from .likelihood import EStep, MixtureLikelihood
from .params import ParamLayout
from .quadrature import Integration

#: largest Schur complement (columns of every grouping but the largest) factored densely
MAX_SCHUR = 4000
#: largest cross block (columns of the largest grouping x the others') held densely
MAX_CROSS = 50_000_000


_BLAS = []  # the thread-pool controller, made on first use (after the BLAS libraries are loaded)


def one_blas_thread(fun):
    """Run ``fun`` with single-threaded BLAS. The factorizations here are small and many:
    with OpenBLAS's threads competing for busy cores, a 181 x 181 Cholesky factorization was
    measured at 0.9 s against 0.2 ms single-threaded (2 cores under load)."""

    @functools.wraps(fun)
    def wrapper(*args, **kw):
        if not _BLAS:
            _BLAS.append(ThreadpoolController())
        with _BLAS[0].limit(limits=1, user_api="blas"):
            return fun(*args, **kw)

    return wrapper


def check_crossed(design: Design, method: str) -> str:
    """The integration rule of a crossed design: Laplace (``"auto"`` chooses it); other rules
    and sampling weights are refused before any computation."""
    method = (method or "auto").lower() if isinstance(method, str) or method is None else method
    if design.groupings is None:
        return method
    names = list(design.groupings)
    if method not in ("auto", "laplace"):
        raise DesignError(
            f"random terms with several grouping columns {names} (crossed or multiple grouping factors) "
            f"are integrated by the Laplace approximation only; integration={method!r} (quadrature) needs "
            "one grouping column (nested designs): use integration='laplace'")
    if design.unit_weight is not None or design.cluster_weight is not None:
        raise NotImplementedError(
            f"sampling weights with random terms on several grouping columns {names} are not supported")
    return "laplace"


class _Structure:
    """Where every row's loadings sit in the joint latent vector (fixed by the design).

    Groupings are ordered by their number of columns (levels x dimensions), largest first;
    within a grouping, columns are level-major (level p: off + p * d_g + 0..d_g-1). ``dims``
    gives the engine's latent dimensions of each grouping (its terms' dimensions, in order),
    ``order`` all of them in column-block order, so row i's loadings in column order are
    A[i, order] with columns ``cols[i]``.
    """

    def __init__(self, design: Design, dims_out):
        byg = {}
        for b, dims in zip(design.re_out, dims_out):
            byg.setdefault(b.group, []).extend(np.arange(design.D)[dims].tolist())
        n = design.n_rows
        groups = sorted(byg, key=lambda g: -design.groupings[g][1].size * len(byg[g]))
        self.groups = groups
        self.dims = [np.array(byg[g], np.intp) for g in groups]
        self.order = np.concatenate(self.dims)
        self.n_levels = [design.groupings[g][1].size for g in groups]
        self.d = [len(byg[g]) for g in groups]
        self.codes = [design.groupings[g][0] for g in groups]
        cols, off = [], 0
        for codes, d, J in zip(self.codes, self.d, self.n_levels):
            cols.append(off + codes[:, None] * d + np.arange(d)[None, :])
            off += J * d
        self.N = off
        self.cols = np.concatenate(cols, axis=1)  # (n, k)
        self.k = self.cols.shape[1]
        self.d1, self.J1 = self.d[0], self.n_levels[0]
        self.N1 = self.J1 * self.d1
        self.r = self.N - self.N1
        if self.r > MAX_SCHUR:
            raise NotImplementedError(
                f"crossed random effects whose smaller groupings have {self.r} latent columns in all "
                f"(groupings {groups[1:]}) exceed what the Laplace engine factors densely ({MAX_SCHUR})")
        if self.N1 * self.r > MAX_CROSS:
            raise NotImplementedError(
                f"crossed random effects with {self.N1} x {self.r} latent columns (groupings {groups[0]!r} x "
                f"{groups[1:]}) exceed the Laplace engine's dense cross block ({MAX_CROSS:.0e} entries)")
        self.level1 = self.codes[0]  # level of the first grouping of every row
        c2 = self.cols[:, self.d1:] - self.N1  # (n, k2): columns in the Schur block
        self.cols2 = c2
        r1 = self.cols[:, :self.d1]  # (n, d1): columns of the first grouping
        # flat positions of every row's products in B = A1' W A2 (N1 x r) and in H22 (r x r)
        self.idx_b = (r1[:, :, None] * self.r + c2[:, None, :]).ravel()
        self.idx_22 = (c2[:, :, None] * self.r + c2[:, None, :]).ravel()
        self.n = n

    def scatter(self, vals) -> np.ndarray:
        """sum over rows of vals (n, k) into the joint columns (A' v for v = vals / a)."""
        return np.bincount(self.cols.ravel(), weights=vals.ravel(), minlength=self.N)


class _Factor:
    """H = I + A' diag(w) A factored by eliminating the first grouping (module docstring)."""

    def __init__(self, st: _Structure, a: np.ndarray, w: np.ndarray):
        self.st = st
        d1, J1, r = st.d1, st.J1, st.r
        a1, a2 = a[:, :d1], a[:, d1:]
        wa1 = w[:, None] * a1
        D1 = np.stack([np.bincount(st.level1, weights=wa1[:, i] * a1[:, j], minlength=J1)
                       for i in range(d1) for j in range(d1)], axis=1)
        D1 = D1.reshape(J1, d1, d1) + np.eye(d1)
        if d1 == 1:
            self.D1inv = 1.0 / D1
            logdet1 = float(np.log(D1[:, 0, 0]).sum())
        else:
            self.D1inv = np.linalg.inv(D1)
            logdet1 = float(np.linalg.slogdet(D1)[1].sum())
        # B = A1' W A2 (N1 x r) and H22 = I + A2' W A2, summed over rows at fixed positions
        B = np.bincount(st.idx_b, weights=(wa1[:, :, None] * a2[:, None, :]).ravel(), minlength=st.N1 * r)
        self.B = B.reshape(st.N1, r)
        wa2 = w[:, None] * a2
        H22 = np.bincount(st.idx_22, weights=(wa2[:, :, None] * a2[:, None, :]).ravel(), minlength=r * r)
        self.E = np.einsum("pab,pbc->pac", self.D1inv, self.B.reshape(J1, d1, r)).reshape(st.N1, r)  # D1^-1 B
        S = H22.reshape(r, r) + np.eye(r) - self.B.T @ self.E
        self.cho = linalg.cho_factor(S, lower=True, check_finite=False)
        self.logdet = logdet1 + 2.0 * float(np.log(np.diagonal(self.cho[0])).sum())

    def solve(self, v: np.ndarray) -> np.ndarray:
        """H^-1 v."""
        st = self.st
        v1 = v[:st.N1].reshape(st.J1, st.d1)
        y1 = np.einsum("pab,pb->pa", self.D1inv, v1).ravel()
        x2 = linalg.cho_solve(self.cho, v[st.N1:] - self.B.T @ y1, check_finite=False)
        return np.concatenate([y1 - self.E @ x2, x2])

    def _inverse_parts(self):
        """M22 = S^-1, F = D1^-1 B S^-1 = -M12 and the first grouping's diagonal blocks of M."""
        st = self.st
        M22 = linalg.cho_solve(self.cho, np.eye(st.r), check_finite=False)
        F = (self.E @ M22).reshape(st.J1, st.d1, st.r)
        # diagonal blocks of M11 = D1^-1 + E M22 E' = D1^-1 + F E'
        M11 = self.D1inv + np.einsum("pac,pbc->pab", F, self.E.reshape(st.J1, st.d1, st.r))
        return M22, F.reshape(st.N1, st.r), M11

    def level_blocks(self) -> list:
        """Every grouping's diagonal blocks of M = H^-1, [(levels, d_g, d_g)] in grouping order."""
        st = self.st
        M22, _, M11 = self._inverse_parts()
        out, off = [M11], 0
        for J, d in zip(st.n_levels[1:], st.d[1:]):
            idx = off + np.arange(J)[:, None] * d + np.arange(d)[None, :]
            out.append(M22[idx[:, :, None], idx[:, None, :]])
            off += J * d
        return out

    def row_blocks(self) -> np.ndarray:
        """M = H^-1 at the entries each row touches: (n, k, k), rows' columns in ``cols`` order."""
        st = self.st
        d1 = st.d1
        M22, F, M11 = self._inverse_parts()
        n, k = st.n, st.k
        out = np.empty((n, k, k))
        out[:, :d1, :d1] = M11[st.level1]
        r1 = st.level1[:, None] * d1 + np.arange(d1)[None, :]  # (n, d1)
        c2 = st.cols2
        m12 = -F[r1[:, :, None], c2[:, None, :]]  # (n, d1, k2)
        out[:, :d1, d1:] = m12
        out[:, d1:, :d1] = np.swapaxes(m12, 1, 2)
        out[:, d1:, d1:] = M22[c2[:, :, None], c2[:, None, :]]
        return out


class CrossedLaplace(MixtureLikelihood):
    """The Laplace likelihood of a one-class GLMM whose random terms have several grouping
    columns (crossed or multiple grouping factors); see the module docstring.

    Rows are the units: the engine's per-cluster node of row i is its levels' modes, so
    evaluation and the partial gradient are the engine's, at the joint mode.
    """

    def __init__(self, design: Design, layout: ParamLayout, integration: Integration | None = None):
        if design.n_classes > 1 or design.re_cls:
            raise NotImplementedError(
                "random terms with several grouping columns are available for models without classes (GLMMs)")
        super().__init__(design, layout, integration)
        self.struct = _Structure(design, self._dims_out)
        self._mode = None  # (theta, u, factor, family evaluation, loadings, P, eta0, y) at the last mode

    def adaptation(self):
        """The nodes and the last joint mode (where the next mode search starts)."""
        return super().adaptation(), self._mode

    def restore(self, state) -> None:
        super().restore(state[0])
        self._mode = state[1]

    # ------------------------------------------------------------------ the joint mode
    def _loadings(self, theta):
        """Parameters, the fixed part eta0 (n,), the rows' loadings a (n, k) in column order and
        the outcome the family sees. A gaussian outcome's density depends on y - eta alone:
        there y - eta0 is formed first and eta0 set to 0, so that the random effects' part
        a u is not rounded to the units of an outcome far from zero (Penicillin's diameter
        + 1e9 SDs: added to eta0 ~ 1e9 first, u kept 7 digits, and the SEs, from differences
        of the gradient, were 22% off; lmer's 5e-5)."""
        P = self.layout.unpack(self.layout.expand(theta))
        Lo, _ = self.factor_matrices(P)
        n = self.design.n_rows
        A = np.zeros((n, self.D))
        for b, L, dims in zip(self.design.re_out, Lo, self._dims_out):
            A[:, dims] += b.Z @ L[0]
        eta0 = np.asarray(self.design.X @ P["beta"])[:, 0]
        y = self.design.y
        if self.family.has_residual_sd:  # identity link: only y - eta enters
            y, eta0 = np.asarray(y, float) - eta0, np.zeros(n)
        return P, eta0, A[:, self.struct.order], y

    def _penalized(self, P, eta0, a, u, y):
        """The family at u, the log-integrand and the rows' curvature weights."""
        eta = eta0 + (a * u[self.struct.cols]).sum(1)
        d = self.design
        fe = self.family.evaluate(y, eta[:, None], P["extra"], d.aux)
        return fe, float(fe.logf.sum()) - 0.5 * float(u @ u), self.laplace_curvature(y, eta, fe, d.aux, P["extra"])

    @one_blas_thread
    def joint_mode(self, theta, max_iter: int = 100, tol: float = 1e-10):
        """The joint mode u* (N,) of log f(y | u) + log phi(u), the factored negative Hessian
        there, and the family's evaluation at it (Newton's method with step halving)."""
        theta = np.asarray(theta, float)
        st = self.struct
        P, eta0, a, y = self._loadings(theta)
        u = self._mode[1].copy() if self._mode is not None else np.zeros(st.N)
        fe, h, w = self._penalized(P, eta0, a, u, y)
        if not np.isfinite(h):
            u = np.zeros(st.N)
            fe, h, w = self._penalized(P, eta0, a, u, y)
        for _ in range(max_iter):
            grad = st.scatter(fe.d_eta[:, 0:1] * a) - u
            fac = _Factor(st, a, w)
            step = fac.solve(grad)
            if np.abs(step).max() < tol:
                break
            t = 1.0
            for _ in range(30):
                fe_new, h_new, w_new = self._penalized(P, eta0, a, u + t * step, y)
                if np.isfinite(h_new) and h_new >= h - 1e-10 * abs(h):
                    break
                t *= 0.5
            u, fe, h, w = u + t * step, fe_new, h_new, w_new
        else:
            fac = _Factor(st, a, w)
        self._mode = (theta.copy(), u, fac, fe, a, P, eta0, y)
        return u, fac, fe

    def find_mode(self, theta):
        """Every row's node at its levels' modes (the engine's per-row adaptation state)."""
        u, _, _ = self.joint_mode(theta)
        st = self.struct
        m = np.zeros((st.n, self.D))
        m[:, st.order] = u[st.cols]
        self.integ.m = m
        self.integ.R = np.broadcast_to(np.eye(self.D), (st.n, self.D, self.D))

    def evaluate(self, theta, derivs: bool = True, rows: bool = False, whole: bool = False,
                 homogeneous: bool = False, info: bool = False) -> EStep:
        """The Laplace log-likelihood, with the engine's one-node evaluation at the mode
        (every row's node at its levels' modes, posterior weight one); always whole (no
        independent clusters, so ``info`` changes nothing), ``homogeneous`` as for
        ``MixtureLikelihood.evaluate``."""
        u, fac, fe = self.joint_mode(theta)
        st = self.struct
        nodes = np.zeros((st.n, 1, self.D))
        nodes[:, 0, st.order] = u[st.cols]
        ll = float(fe.logf.sum()) - 0.5 * float(u @ u) - 0.5 * fac.logdet
        one = np.ones((st.n, 1))
        es = EStep(ll, None, one, np.zeros((st.n, 1, 1)), one[:, :, None] if derivs else None, fe,
                   self._mode[5], post_node=one, nodes=nodes, rs=self._rowset(True))
        return self._homogeneous(es) if homogeneous else es

    def conditional_modes(self, theta, max_iter: int = 100):
        """The joint mode (N,) and the factored negative Hessian there."""
        u, fac, _ = self.joint_mode(theta, max_iter=max_iter)
        return u, fac

    # ------------------------------------------------------------------ gradient
    @one_blas_thread
    def _laplace_gradient(self, es: EStep, theta, per_cluster: bool = False) -> np.ndarray:
        """Derivative of log det H at the mode (full parameters, before pullback)."""
        if self._mode is None or not np.array_equal(self._mode[0], np.asarray(theta, float)):
            self.joint_mode(theta)
        _, u, fac, fe, a, P, eta0, y = self._mode
        st = self.struct
        aux = self.design.aux
        eta = (eta0 + (a * u[st.cols]).sum(1))[:, None]
        w, dw = (v[:, 0] for v in self.family.eta_curvature(y, eta, aux, P["extra"]))  # H's weights (observed)
        d = fe.d_eta[:, 0]
        Mrow = fac.row_blocks()
        Ma = np.einsum("nab,nb->na", Mrow, a)
        s = (a * Ma).sum(1)
        c = fac.solve(st.scatter((dw * s)[:, None] * a))[st.cols]  # (n, k)
        alpha = dw * s - w * (a * c).sum(1)
        beta = d[:, None] * c + 2.0 * w[:, None] * Ma
        Mr = np.zeros((st.n, self.D))
        Mr[:, st.order] = alpha[:, None] * u[st.cols] + beta
        g = self._laplace_assemble(self.design.X, [b.Z for b in self.design.re_out], alpha, Mr)
        ge = self._laplace_extra(y, eta, P["extra"], aux, fe, s, (a * c).sum(1))
        if ge is not None:
            g[self.layout.blocks["extra"].slice] = ge
        return g

    @one_blas_thread
    def level_posteriors(self, theta) -> list:
        """The normal approximation of every grouping's latents at the joint mode:
        [(grouping, its levels, means (levels, D), covariances (levels, D, D))], each
        grouping's entries at its own latent dimensions (zero elsewhere)."""
        u, fac, _ = self.joint_mode(theta)
        st, D = self.struct, self.D
        out, off = [], 0
        for g, J, d, dims, M in zip(st.groups, st.n_levels, st.d, st.dims, fac.level_blocks()):
            m = np.zeros((J, D))
            m[:, dims] = u[off:off + J * d].reshape(J, d)
            C = np.zeros((J, D, D))
            C[:, dims[:, None], dims[None, :]] = M
            out.append((g, self.design.groupings[g][1], m, C))
            off += J * d
        return out

    def unit_scores(self, theta):
        raise NotImplementedError(
            "robust (sandwich) standard errors need independent clusters; random terms on several grouping "
            f"columns {list(self.design.groupings)} leave none: use se='ml'")

    def posterior_moments(self, theta):
        raise NotImplementedError("posterior moments per cluster are not defined for crossed random effects")
