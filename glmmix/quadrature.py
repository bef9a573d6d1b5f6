"""Integration rules for standard-normal latent variables (Section 10 of the paper).

Every rule integrates against N(0, I_D): it returns standardized nodes ``t`` of shape
(n_nodes, D) and log-weights of shape (n_nodes,) such that

    E[f(U)] ~= sum_q exp(logw_q) f(t_q),   U ~ N(0, I_D),

so likelihood code never carries sqrt(2 pi) (as lme4's GHrule). Product rules (Gauss-
Hermite, trapezoid) use n points per dimension; Monte Carlo and quasi-Monte Carlo use n
points in all.

Adaptive integration moves the nodes of each cluster to its posterior: u = m_g + R_g t,
with weights multiplied by |R_g| phi(u) / phi(t). :class:`Integration` holds the rule and
the per-cluster (m_g, R_g); the likelihood engine treats them as constants, so gradients
are exact for the current adaptation, which estimation refreshes between rounds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy import special, stats

from .exceptions import DesignError

#: eigenvalues of a posterior covariance that is not positive definite are raised to this
#: fraction of its largest one before the rule's scale is taken from it
COV_FLOOR = 1e-12

METHODS = ("auto", "agh", "gh", "trapezoid", "laplace", "mc", "qmc")
LOG_2PI = np.log(2 * np.pi)


def _product(t1, lw1, D):
    grids = np.meshgrid(*([t1] * D), indexing="ij")
    t = np.stack([g.ravel() for g in grids], axis=1)
    lws = np.meshgrid(*([lw1] * D), indexing="ij")
    lw = np.sum([g.ravel() for g in lws], axis=0)
    return t, lw


def gauss_hermite(n: int, D: int = 1):
    """Gauss-Hermite rule for N(0, I_D): n points per dimension (probabilists' Hermite)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return _product(x, np.log(w) - 0.5 * LOG_2PI, D)


def trapezoid(n: int, D: int = 1, bound: float = 5.0):
    """Trapezoid (rectangle) rule on [-bound, bound]: weights h * phi(t) (Mplus's default rule).

    Robust when the posterior is far from normal or the variance is huge (Table 3's
    Model 6), as the paper reports.
    """
    x = np.linspace(-bound, bound, n)
    h = x[1] - x[0]
    lw = np.log(h) - 0.5 * (x * x + LOG_2PI)
    lw[[0, -1]] += np.log(0.5)
    return _product(x, lw, D)


def monte_carlo(n: int, D: int, rng):
    return rng.standard_normal((n, D)), np.full(n, -np.log(n))


def quasi_monte_carlo(n: int, D: int, seed=0):
    """Scrambled Sobol points mapped to N(0, I) (scipy.stats.qmc)."""
    m = int(np.ceil(np.log2(max(n, 2))))
    u = stats.qmc.Sobol(D, scramble=True, seed=seed).random_base2(m)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return special.ndtri(u), np.full(u.shape[0], -np.log(u.shape[0]))


def default_points(method: str, D: int) -> int:
    if method == "laplace":
        return 1
    if method in ("mc", "qmc"):
        return 1000 if D <= 3 else 2000
    if method == "trapezoid":
        return {1: 61, 2: 31, 3: 13}.get(D, 7)
    return {1: 15, 2: 9, 3: 5}.get(D, 3)  # Gauss-Hermite, per dimension


#: largest step of a coarse trapezoid rule (``Integration.coarse``)
COARSE_MAX_STEP = 0.4

#: the check of a Gauss-Hermite rule (``Integration.refined``) has at most this many times its nodes
REFINED_MAX_GROWTH = 4

#: most points per dimension of a Gauss-Hermite rule numpy computes: its rule loses its outer
#: weights to underflow between 370 and 380 points (the weights then no longer sum to one)
GH_COMPUTABLE = 360

#: most points per dimension ``n_points`` may ask of a Gauss-Hermite rule
MAX_GH_POINTS = 300

#: most nodes a rule may have (all dimensions together)
MAX_NODES = 500_000

#: fewest points per dimension each rule supports
MIN_POINTS = {"agh": 3, "gh": 3, "trapezoid": 3, "mc": 2, "qmc": 2}


def check_points(method: str, n_points, adaptive=None) -> None:
    """Refuse a number of points the rule does not support (before any computation).

    Adaptive Gauss-Hermite moves its nodes to each cluster's posterior mean and variance,
    computed from the nodes themselves: with one node the variance is lost, with two it is
    badly estimated (the log-likelihood is then off by whole units); one point at the
    posterior mode with its curvature is ``integration="laplace"``.
    """
    if n_points is None:
        return
    if isinstance(n_points, bool) or not isinstance(n_points, (int, np.integer)):
        raise DesignError(f"n_points must be a positive integer (or None for the default), not {n_points!r}")
    if n_points < 1:
        raise DesignError(f"n_points must be at least 1, not {n_points}; leave it out (None) for the default")
    if method == "laplace":
        if n_points != 1:
            raise DesignError(f"integration='laplace' uses one point (the mode); n_points={n_points} "
                              "asks for adaptive Gauss-Hermite: use integration='agh'")
        return
    if method in ("agh", "gh") and n_points > MAX_GH_POINTS:
        raise DesignError(f"integration={method!r} with n_points={n_points}: Gauss-Hermite rules of more than "
                          f"{MAX_GH_POINTS} points per dimension cannot be computed in double precision (their "
                          "outer weights underflow); use fewer points "
                          "or integration='trapezoid'")
    low = MIN_POINTS.get(method, 1)
    if n_points < low:
        hint = " (one point at the mode is integration='laplace')" if method in ("agh", "gh") else ""
        raise DesignError(f"integration={method!r} needs at least {low} points per dimension, not "
                          f"n_points={n_points}{hint}")


@dataclass
class Integration:
    """An integration rule plus the per-cluster adaptation state.

    Attributes
    ----------
    method : str
        ``"agh"`` (adaptive Gauss-Hermite, default), ``"gh"``, ``"trapezoid"``,
        ``"laplace"`` (adaptive GH with one point at the mode), ``"mc"``, ``"qmc"``.
    n_points : int
        Points per dimension (GH, trapezoid) or in all (MC, QMC).
    adaptive : bool
    """

    method: str
    n_points: int
    D: int
    adaptive: bool
    t: np.ndarray = field(repr=False, default=None)
    logw: np.ndarray = field(repr=False, default=None)
    m: np.ndarray = field(repr=False, default=None)  # (G, D)
    R: np.ndarray = field(repr=False, default=None)  # (G, D, D)

    @classmethod
    def make(cls, method, n_points, D, n_clusters, adaptive=None, seed=0, bound=None, class_logits=False):
        """Build a rule. ``method="auto"``: adaptive Gauss-Hermite when random effects enter
        only linear predictors of outcomes (GLMMs, IRT, FMA); the non-adaptive trapezoid rule
        (Mplus's default, the paper's preference) when logits of row-level classes are
        random (GoM, FMA-GoM, within-between classes of Table 3), whose posteriors are far
        from normal: there Gauss-Hermite, adaptive or not, is inaccurate, while the trapezoid
        rule converges quickly. Random logits of classes of units that are groups of rows
        (two-level LCA and LTA: students in classrooms) have near-normal posteriors, and
        adaptive Gauss-Hermite with a few points per dimension agrees with a fine trapezoid
        rule (1e-4 on the two-level LTA of the TOCA vignette) at a fraction of the nodes;
        ``class_logits`` is True only for the former."""
        if not isinstance(method, (str, type(None))):
            raise DesignError(f"integration must be one of {METHODS}, not {method!r}")
        method = (method or "auto").lower()
        if method not in METHODS:
            raise DesignError(f"integration must be one of {METHODS}, not {method!r}")
        if method == "auto":
            method = "trapezoid" if class_logits else "agh"
        check_points(method, n_points, adaptive)
        if bound is None:
            bound = 6.0
        if D == 0:
            obj = cls("none", 1, 0, False, np.zeros((1, 0)), np.zeros(1))
            obj.reset(n_clusters)
            return obj
        n = n_points or default_points(method, D)
        if method == "laplace":
            n = 1
        if n < 1:
            raise DesignError("the number of integration points must be at least 1")
        if adaptive is None:
            adaptive = method in ("agh", "laplace", "qmc", "mc")
        n_nodes = n if method in ("mc", "qmc") else n ** D
        if n_nodes > MAX_NODES:  # said before the rule is computed (its 1-d rule alone is n x n)
            raise DesignError(
                f"{method} with {n} points{'' if method in ('mc', 'qmc') else ' per dimension'} in {D} "
                f"dimension(s) needs {n_nodes:.3g} nodes, more than {MAX_NODES:,}; use fewer points"
                + (" or integration='qmc' for many dimensions" if method not in ("mc", "qmc") else ""))
        if method in ("agh", "gh", "laplace"):
            t, lw = gauss_hermite(n, D)
        elif method == "trapezoid":
            if n < 3:
                raise DesignError("the trapezoid rule needs at least 3 points per dimension")
            t, lw = trapezoid(n, D, bound)
        elif method == "mc":
            t, lw = monte_carlo(n, D, np.random.default_rng(seed))
        else:
            t, lw = quasi_monte_carlo(n, D, seed)
        obj = cls(method, n, D, bool(adaptive), t, lw)
        obj.reset(n_clusters)
        return obj

    @property
    def n_nodes(self) -> int:
        return self.t.shape[0]

    def reset(self, G):
        self.m = np.zeros((G, self.D))
        self.R = np.broadcast_to(np.eye(self.D), (G, self.D, self.D)).copy()

    def nodes(self):
        """Per-cluster nodes u (G, Q, D) and log-weights (G, Q) for N(0, I) integrals."""
        if not self.adaptive:
            G = self.m.shape[0]
            return (np.broadcast_to(self.t, (G,) + self.t.shape),
                    np.broadcast_to(self.logw, (G, self.t.shape[0])))
        u = self.m[:, None, :] + np.einsum("gij,qj->gqi", self.R, self.t)
        logdet = np.log(np.abs(np.diagonal(self.R, axis1=1, axis2=2))).sum(axis=1)
        lw = (self.logw[None, :] + logdet[:, None]
              - 0.5 * (u * u).sum(-1) + 0.5 * (self.t * self.t).sum(-1)[None, :])
        return u, lw

    def set_moments(self, mean, cov):
        """Adapt to posterior means (G, D) and covariances (G, D, D)."""
        cov = 0.5 * (cov + np.swapaxes(cov, 1, 2))
        try:
            # no absolute jitter: a posterior variance can be far below any fixed floor (a residual
            # SD near 0 makes a latent all but known), and the rule's scale must follow it
            # (log det R is part of every cluster's log-likelihood)
            R = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            w, V = np.linalg.eigh(cov)
            floor = np.maximum(COV_FLOOR * w.max(axis=1, keepdims=True), np.finfo(float).tiny)
            R = np.linalg.cholesky(np.einsum("gij,gj,gkj->gik", V, np.maximum(w, floor), V))
        self.m = mean
        self.R = R

    def adaptation(self) -> tuple:
        """A copy of the adaptation state (per-cluster node means and Cholesky factors)."""
        return self.m.copy(), self.R.copy()

    def restore(self, adaptation: tuple) -> None:
        """Go back to an adaptation state returned by :meth:`adaptation`."""
        self.m, self.R = (a.copy() for a in adaptation)

    def refined(self) -> "Integration | None":
        """The check of a rule: for a non-adaptive trapezoid rule, the same range with 2n - 1
        points per dimension (every node of this rule and the midpoints between them, so the
        two agree only if the integrands are resolved); for Gauss-Hermite (adaptive or not),
        n + max(2, n // 2) points per dimension, fewer where that would give more than
        :data:`REFINED_MAX_GROWTH` times the nodes (a copy of this rule's adaptation, which
        the check then adapts); None for other rules (Laplace, Monte Carlo) or when no finer
        rule is that cheap."""
        if self.D == 0:
            return None
        if self.method in ("agh", "gh"):
            n, D = self.n_points, self.D
            nf = min(n + max(2, n // 2), GH_COMPUTABLE)
            while nf > n and nf ** D > REFINED_MAX_GROWTH * n ** D:
                nf -= 1
            if nf <= n:
                return None
            t, lw = gauss_hermite(nf, D)
            obj = Integration(self.method, nf, D, self.adaptive, t, lw)
            obj.m, obj.R = self.m.copy(), self.R.copy()
            return obj
        if self.method != "trapezoid" or self.adaptive:
            return None
        n = 2 * self.n_points - 1
        t, lw = trapezoid(n, self.D, float(np.abs(self.t).max()))
        obj = Integration(self.method, n, self.D, False, t, lw)
        obj.reset(self.m.shape[0])
        return obj

    def coarse(self) -> "Integration | None":
        """A cheaper rule of the same kind for the start search (``estimation.estimate``):
        the trapezoid rule on the same range with about half the points per dimension, or
        None. Its step stays at most :data:`COARSE_MAX_STEP` (0.4, that of the default 31
        points on [-6, 6]): a coarser step misses the posterior of a factor measured by many
        items (VerbAgg's 24: posterior SD about 0.35), and a search on it ranks the maxima
        differently (measured: a 21 x 21 search of VerbAgg's FMA-GoM ended 0.44 below the
        31 x 31 search). So only fine rules (61 points per dimension on [-6, 6]) have one.
        Only the non-adaptive trapezoid rule has one: its cost is proportional to its nodes
        (the pattern compression of ``likelihood.py`` makes that the whole cost), while an
        adaptive rule's evaluation costs per row, and Gauss-Hermite with few points
        over-states the likelihood where a latent's loadings grow large (a coarse search
        then chases maxima the model's rule does not have). The start search only ranks
        starting values with it; the maxima it reports are re-converged on this (the
        model's) rule."""
        if self.D == 0 or self.method != "trapezoid" or self.adaptive:
            return None
        bound = float(np.abs(self.t).max())
        n = max((self.n_points + 1) // 2, int(np.ceil(2 * bound / COARSE_MAX_STEP - 1e-9)) + 1)
        n += 1 - n % 2  # odd: a node at the centre, as the default rules have
        if n ** self.D * 2 > self.n_nodes:
            return None
        t, lw = trapezoid(n, self.D, bound)
        obj = Integration(self.method, n, self.D, self.adaptive, t, lw)
        obj.reset(self.m.shape[0])
        return obj

    def with_adaptation(self, adaptation: tuple) -> "Integration":
        """A copy of the rule with its own adaptation state, set to ``adaptation`` (a state
        returned by :meth:`adaptation`); the nodes and weights are shared."""
        m, R = (a.copy() for a in adaptation)
        return replace(self, m=m, R=R)

    def state(self):
        return {"method": self.method, "n_points": self.n_points, "adaptive": self.adaptive,
                "n_nodes": self.n_nodes}
