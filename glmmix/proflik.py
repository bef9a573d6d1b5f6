"""Profile-likelihood confidence intervals (lme4's ``confint(method = "profile")``).

For a parameter p_j on its reported scale (a coefficient, an SD, a correlation, a residual
SD, a threshold...), the profile log-likelihood pl(v) is the maximum of the log-likelihood
over the free parameters subject to p_j = v: a constrained refit of the fitted model's own
likelihood (its built design, no new model), by sequential quadratic programming (SLSQP) on
the unit-scale internal coordinates (:mod:`glmmix.scaling`) with the exact gradient of the
log-likelihood and the constraint's by central differences of the cheap reported-scale map.
So a parameter need not be a coordinate of the parameterization: a correlation of
correlated random effects, or the SD of a term's later effect, which ``fix=`` cannot hold,
is profiled as any other. With adaptive quadrature the nodes are moved to the posteriors at
each refit's solution and the refit repeated until the log-likelihood settles; the fitted
model's nodes are put back afterwards. A model with correlated random slopes on columns far
from zero is profiled on its centred twin (:mod:`glmmix.centring`), the constraint on the
raw column's reported parameter. Each refit starts from the solution of the nearest value
already profiled.

The (1 - alpha) interval is {v : 2 (llf - pl(v)) <= chi2_1(1 - alpha)}: its ends are the
roots of the signed root deviance

    zeta(v) = sign(v - p_j) sqrt(2 (llf - pl(v))) = +- sqrt(chi2_1(1 - alpha)),

which is close to linear in v where the Wald interval is good and bends where it is not
(SDs near 0, coefficients near separation). The search starts at the Wald limits, steps
outward along the secant of zeta until it brackets the root, then refines it with Brent's
method (``xtol``: 1e-4 of the standard error). A correlation's interval ends at +-1 and an
SD's at 0 when the profile there is still within the limit (at 0 the SD's effect is removed:
the entries of its row of the covariance factor are held at 0, the rest maximized).

Boundary estimates get NaN, with a warning naming them; a profile point above the fit's
log-likelihood means that the fit missed its maximum, and is reported by a
``ConvergenceWarning``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .exceptions import ConvergenceWarning, GlmmixError
from .hypothesis import CORRELATION_LABEL, NONNEGATIVE_LABEL
from .inference import jacobian
from .reporting import natural_params
from .scaling import internal

#: the most outward steps taken to bracket one end of an interval
MAX_STEPS = 12
#: rounds of (adapt the nodes, refit) per profile point
MAX_ROUNDS = 6


class _Frame:
    """Coordinates z of the free parameters for the refits: theta = t0 + C z (C from the
    fit's covariance, so that the log-likelihood's Hessian in z is about the identity and the
    quasi-Newton steps of the refits are well scaled from the start), or the unit-scale
    coordinates of :mod:`glmmix.scaling` (C diagonal up to the intercepts' shifts: a
    coordinate is 0 where its parameter is)."""

    def __init__(self, lik, theta, cov=None):
        self.lik = lik
        rs = internal(lik)[1]
        if cov is None:
            C = rs.A if rs.A is not None else np.diag(rs.a)
            self.t0 = rs.to_external(np.zeros(theta.size))
        else:
            C = np.linalg.cholesky(cov)
            self.t0 = np.asarray(theta, float).copy()
        self.C = C

    @classmethod
    def whitened(cls, lik, theta):
        """The frame of the fit's observed information, or the unit-scale one where that
        is not positive definite (a parameter on a boundary)."""
        from .inference import covariance

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            cov = covariance(lik, theta, kind="ml")[0]
        try:
            if cov is None or not np.all(np.isfinite(cov)):
                raise np.linalg.LinAlgError
            return cls(lik, theta, cov)
        except np.linalg.LinAlgError:
            return cls(lik, theta)

    def theta(self, z):
        return self.t0 + self.C @ z

    def z(self, theta):
        return np.linalg.solve(self.C, np.asarray(theta, float) - self.t0)

    def objective(self, z, llf):
        """-(log-likelihood - llf) and its gradient in z (a huge value where it fails)."""
        with np.errstate(all="ignore"):
            try:
                ll, g, _ = self.lik.loglik_and_grad(self.theta(z))
            except (FloatingPointError, np.linalg.LinAlgError, ValueError):
                return 1e300, np.zeros(z.size)
        if not np.isfinite(ll) or not np.all(np.isfinite(g)):
            return 1e300, np.zeros(z.size)
        return -(ll - llf), -(np.asarray(g, float) @ self.C)


class _Profile:
    """The profile of one parameter: constrained refits by value, each started on the line
    through the nearest solutions."""

    def __init__(self, res, label: str, frame: _Frame):
        model = res.model
        self.res, self.label = res, label
        self.est = float(res.params[label])
        j = list(res.params.index).index(label)
        c = model.centring
        self.frame = frame
        self.base = frame.lik
        raw = model.likelihood
        self.at = (lambda t: natural_params(raw, t)) if c is None else (lambda t: natural_params(raw, c.to_raw(t)))
        self.reported = lambda theta: self.at(theta)[j]
        self.adaptive = bool(self.base.integ.adaptive and self.base.D and not self.base.laplace)
        self.theta_hat = res.theta if c is None else c.to_centred(res.theta)
        self.scale = float(res.bse[label]) if np.isfinite(res.bse[label]) and res.bse[label] > 0 else 1.0
        self.fits: dict[float, tuple[float, np.ndarray]] = {}
        self.higher: tuple[float, float] | None = None

    # ------------------------------------------------------------------ one constrained refit
    def _maximize(self, frame, theta, v=None, held=None):
        """Maximize the log-likelihood from ``theta`` subject to the parameter = v (or with the
        coordinates ``held`` of ``frame`` kept), the nodes adapted to the solution; returns
        (log-likelihood, theta)."""
        z = frame.z(theta)
        free = np.ones(z.size, bool) if held is None else ~held

        def full(x):
            out = z.copy()
            out[free] = x
            return out

        def f(x):
            val, g = frame.objective(full(x), self.res.llf)
            return val, g[free]

        cons = []
        if v is not None:
            # a correlation through atanh: the same constraint, far better conditioned next to +-1
            h, s = (np.arctanh, 1.0) if CORRELATION_LABEL.search(self.label) else ((lambda w: w), self.scale)
            hv = h(v)

            def con(x):
                with np.errstate(all="ignore"):
                    return np.array([(h(self.reported(frame.theta(full(x)))) - hv) / s])

            cons = [{"type": "eq", "fun": con, "jac": lambda x: jacobian(con, x, rel_step=1e-6)}]
        ll = -np.inf
        if self.adaptive:
            self.base.adapt(frame.theta(z))
        for _ in range(MAX_ROUNDS):
            out = optimize.minimize(f, z[free], jac=True, method="SLSQP", constraints=cons,
                                    options={"ftol": 1e-10, "maxiter": 200})
            z = full(out.x)
            t = frame.theta(z)
            if not self.adaptive:
                return float(self.base.loglik(t)), t
            before = float(self.base.loglik(t))
            ll = float(self.base.adapt(t))
            if abs(ll - before) < 1e-8:  # the nodes fit the solution: done
                break
        return ll, frame.theta(z)

    def loglike(self, v: float) -> float:
        v = float(v)
        if v in self.fits:
            return self.fits[v][0]
        theta0 = self._start(v)
        held = self._at_zero(theta0) if (v == 0.0 and NONNEGATIVE_LABEL.search(self.label)) else None
        if held is not None:
            frame = _Frame(self.base, theta0)
            t = theta0.copy()
            t[held] = 0.0
            ll, theta = self._maximize(frame, t, held=held)
        else:
            ll, theta = self._maximize(self.frame, theta0, v)
            if abs(self.reported(theta) - v) > 1e-6 * self.scale:
                raise GlmmixError(f"the profile of {self.label} could not be held at {v:.6g}")
        self.fits[v] = (ll, theta)
        if ll > self.res.llf + 1e-6 and (self.higher is None or ll > self.higher[1]):
            self.higher = (v, ll)
        return ll

    def _start(self, v):
        """A start for the refit at v: along the line through the solutions at the two nearest
        values already profiled (the estimate among them), between them or beyond the nearest
        by at most their distance; the nearest solution alone otherwise."""
        pts = sorted([(self.est, self.theta_hat)] + [(w, f[1]) for w, f in self.fits.items()],
                     key=lambda p: abs(p[0] - v))
        (w1, t1), rest = pts[0], pts[1:]
        if not rest or w1 == v:
            return t1.copy()
        w2, t2 = rest[0]
        r = (v - w1) / (w2 - w1) if w2 != w1 else np.inf
        if not -1.0 <= r <= 1.0:
            return t1.copy()
        return t1 + r * (t2 - t1)

    def _at_zero(self, theta):
        """The free parameters to hold at 0 for an SD of 0 (the entries of its row of the
        covariance factor), or None when zeroing the parameters it depends on would remove
        other effects too."""
        g = jacobian(lambda t: np.array([self.reported(t)]), theta, rel_step=1e-6)[0]
        held = np.abs(g) > 0
        z = theta.copy()
        z[held] = 0.0
        if not held.any() or self.reported(z) != 0.0 or np.sum(self._sds(z) == 0) != np.sum(self._sds(theta) == 0) + 1:
            return None
        return held

    def _sds(self, theta):
        nat = self.at(theta)
        return np.array([v for lab, v in zip(self.res.params.index, nat) if NONNEGATIVE_LABEL.search(lab)])

    def zeta(self, v: float) -> float:
        dev = max(0.0, 2.0 * (self.res.llf - self.loglike(v)))
        return float(np.sign(v - self.est) * np.sqrt(dev))

    def end(self, side: int, crit: float, se: float) -> float:
        """The limit on one side (side = -1 lower, +1 upper)."""
        lo, hi = -np.inf, np.inf
        if NONNEGATIVE_LABEL.search(self.label):
            lo = 0.0
        elif CORRELATION_LABEL.search(self.label):
            lo, hi = -1.0, 1.0
        edge = lo if side < 0 else hi
        inside, z_in = self.est, 0.0
        v = self.est + side * crit * se
        for _ in range(MAX_STEPS):
            if (v - edge) * side >= 0:  # past an SD's 0 or a correlation's +-1
                if np.isfinite(edge) and edge == 0.0:
                    v = edge
                    if abs(self.zeta(v)) <= crit:
                        return edge
                else:  # a correlation: its profile next to +-1 (closer still when the estimate is)
                    v = edge - side * min(1e-6, 1e-3 * abs(edge - self.est))
                    if abs(self.zeta(v)) <= crit:
                        return edge
            z = self.zeta(v)
            if abs(z) >= crit:
                target = side * crit
                return optimize.brentq(lambda w: self.zeta(w) - target, min(inside, v), max(inside, v),
                                       xtol=1e-4 * se, rtol=1e-10)
            # still inside: step along the secant of zeta to where it would reach the limit (at
            # least half again as far, at most four times)
            slope = (z - z_in) / (v - inside) if v != inside else 0.0
            inside, z_in = v, z
            jump = (side * crit - z) / slope if slope * side > 0 else 4 * abs(v - self.est)
            v = v + side * min(max(abs(jump), 0.5 * abs(v - self.est)), 4 * abs(v - self.est))
        return np.nan


def profile_intervals(res, alpha: float = 0.05, params: str | list | None = None) -> pd.DataFrame:
    """Profile-likelihood intervals; see :meth:`glmmix.results.MixtureResults.conf_int`."""
    if isinstance(alpha, bool) or not (isinstance(alpha, (float, int)) and 0 < alpha < 1):
        raise GlmmixError(f"alpha must be a number in (0, 1), not {alpha!r}")
    if res.model is None:
        raise GlmmixError("profile intervals refit the model: they need a result fitted in this session "
                          "(a loaded result has no data)")
    if not isinstance((res.model.spec or {}).get("data", pd.DataFrame()), pd.DataFrame):
        raise NotImplementedError("profile intervals of a fit on a dask DataFrame: use the Wald intervals")
    names = list(res.params.index)
    if params is None:
        chosen = names
    else:
        chosen = [params] if isinstance(params, str) else params
        if not isinstance(chosen, (list, tuple)) or not chosen or not all(isinstance(p, str) for p in chosen):
            raise GlmmixError(f"params must be a parameter label or a non-empty list of them, not {params!r}")
        chosen = list(dict.fromkeys(chosen))
        unknown = [p for p in chosen if p not in names]
        if unknown:
            raise GlmmixError(f"params {unknown} are not free parameters of the fit; they are {names}")
    crit = float(np.sqrt(stats.chi2.ppf(1 - alpha, 1)))
    boundary = {names[i] for i in res.boundary}
    out = pd.DataFrame(np.nan, index=pd.Index(chosen), columns=[0, 1])
    skipped = {}
    higher = []
    c = res.model.centring
    lik = res.model.likelihood if c is None else c.model.likelihood
    state = lik.adaptation()
    frame = _Frame.whitened(lik, res.theta if c is None else c.to_centred(res.theta))
    lik.restore(state)
    for lab in chosen:
        if lab in boundary:
            skipped[lab] = "on the boundary"
            continue
        se = float(res.bse[lab])
        if not np.isfinite(se) or se <= 0:
            se = 0.1 * abs(float(res.params[lab])) + 0.1
        prof = _Profile(res, lab, frame)
        state = prof.base.adaptation()
        try:
            out.loc[lab] = [prof.end(-1, crit, se), prof.end(1, crit, se)]
        except GlmmixError as exc:
            skipped[lab] = str(exc)
        finally:
            prof.base.restore(state)  # the fit's own nodes (random effects, predictions)
        if prof.higher is not None:
            higher.append(f"{lab} = {prof.higher[0]:.6g} (log-likelihood {prof.higher[1]:.4f})")
    if skipped:
        warnings.warn("no profile interval for " + "; ".join(f"{k} ({v})" for k, v in skipped.items())
                      + ": their limits are NaN (conf_int() gives Wald intervals)", stacklevel=3)
    if higher:
        warnings.warn(f"profiling found log-likelihoods above the fit's {res.llf:.4f}, at " + ", ".join(higher)
                      + ": the fit did not reach its maximum, so these intervals are not valid; refit (e.g. from "
                      "more starts) and profile again", ConvergenceWarning, stacklevel=3)
    return out
