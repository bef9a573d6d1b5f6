"""Profile-likelihood confidence intervals (lme4's ``confint(method = "profile")``).

For a parameter theta_j on its reported scale, the profile log-likelihood pl(v) is the
maximum of the log-likelihood over the other free parameters with theta_j fixed at v (the
model refitted with ``fix={label: v}``, one local completion started from the nearest fit
already made). The (1 - alpha) interval is {v : 2 (llf - pl(v)) <= chi2_1(1 - alpha)}: its
ends are the roots of the signed root deviance

    zeta(v) = sign(v - theta_j) sqrt(2 (llf - pl(v))) = +- sqrt(chi2_1(1 - alpha)),

which is close to linear in v where the Wald interval is good and bends where it is not
(SDs near 0, coefficients near separation). The search starts at the Wald limits, steps
outward along the secant of zeta until it brackets the root, then refines it with Brent's
method (``xtol``: 1e-4 of the standard error). An SD's interval ends at 0 when the profile
there is still within the limit.

Parameters that ``fix=`` cannot hold (correlations of correlated random effects, thresholds,
SDs of later effects of a correlated term) and boundary estimates get NaN, with a warning
naming them; a profile point above the fit's log-likelihood means that the fit missed its
maximum, and is reported by a ``ConvergenceWarning``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from .design import sharing
from .estimation import FitOptions
from .exceptions import ConvergenceWarning, GlmmixError
from .hypothesis import NONNEGATIVE_LABEL
from .model import MixtureModel

#: the most outward steps taken to bracket one end of an interval
MAX_STEPS = 12


class _Profile:
    """The profile of one parameter: restricted fits by value, each from the nearest one made."""

    def __init__(self, res, label: str):
        self.res, self.label = res, label
        self.spec = res.model.spec
        self.est = float(res.params[label])
        self.fits: dict[float, object] = {}
        self.higher: tuple[float, float] | None = None

    def loglike(self, v: float) -> float:
        v = float(v)
        if v in self.fits:
            return self.fits[v].llf
        near = min(self.fits, key=lambda u: abs(u - v)) if self.fits else None
        start = self.res if near is None or abs(near - v) > abs(self.est - v) else self.fits[near]
        fix = {**(self.spec.get("fix") or {}), self.label: v}
        kw = {**self.spec, "fix": fix}
        with warnings.catch_warnings(), sharing(self.res.model.design):
            warnings.simplefilter("ignore")
            model = MixtureModel.from_formula(**kw)
            fit = model.fit(se="none", start_from=start, options=FitOptions(n_starts=0, n_final=1, progress=False))
        self.fits[v] = fit
        if fit.llf > self.res.llf + 1e-6 and (self.higher is None or fit.llf > self.higher[1]):
            self.higher = (v, fit.llf)
        return fit.llf

    def zeta(self, v: float) -> float:
        dev = max(0.0, 2.0 * (self.res.llf - self.loglike(v)))
        return float(np.sign(v - self.est) * np.sqrt(dev))

    def end(self, side: int, crit: float, se: float) -> float:
        """The limit on one side (side = -1 lower, +1 upper)."""
        floor = 0.0 if NONNEGATIVE_LABEL.search(self.label) else -np.inf
        inside, z_in = self.est, 0.0
        v = self.est + side * crit * se
        for _ in range(MAX_STEPS):
            if v <= floor:  # an SD: its profile may stay within the limit down to 0
                v = floor
                if abs(self.zeta(v)) <= crit:
                    return floor
            z = self.zeta(v)
            if abs(z) >= crit:
                target = side * crit
                return optimize.brentq(lambda u: self.zeta(u) - target, min(inside, v), max(inside, v),
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
    if res.model.spec is None:
        raise GlmmixError("profile intervals refit the model from its formula and data: this model was not "
                          "built from a formula (MixtureModel.from_formula or glmmix.fit)")
    if not isinstance(res.model.spec.get("data"), pd.DataFrame):
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
    for lab in chosen:
        if lab in boundary:
            skipped[lab] = "on the boundary"
            continue
        se = float(res.bse[lab])
        if not np.isfinite(se) or se <= 0:
            se = 0.1 * abs(float(res.params[lab])) + 0.1
        prof = _Profile(res, lab)
        try:
            out.loc[lab] = [prof.end(-1, crit, se), prof.end(1, crit, se)]
        except NotImplementedError as exc:
            skipped[lab] = str(exc).split(";")[0].split(": ")[0]
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
