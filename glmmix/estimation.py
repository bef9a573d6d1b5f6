"""Estimation: starting values, EM, quasi-Newton, the start search (the paper's Section 10).

The recipe:

1. A data-based centre: every class gets the one-class (homogeneous) estimates, found by
   scoring steps on Q with all posterior weights equal to one.
2. Stage one: random perturbations of the centre, each run for a few EM iterations
   ("partial optimization"). Structured starts (from simpler models the fitted one nests,
   built by the caller) skip stage one; split starts (classes of the K - 1 class solution
   split in two) have a stage one of their own, and the best split of each class (and the
   next best split) goes on.
3. Stage two: the best are completed: EM until the log-likelihood settles, then BFGS with
   the exact gradient to a converged maximum.
4. The search report (:class:`SearchReport`): starts drawn, completed and converged, the
   distinct maxima with how many starts reached each, whether the best was replicated (a
   :class:`ConvergenceWarning` if not), and classes put in a canonical order (decreasing
   size) so results do not depend on which start won.

``starts="auto"`` (the default, :func:`adaptive_search`) sizes stage one by the cost of a
start and then extends: more completions from stage one's ranking, perturbations of the
best solution so far, fresh stage-one batches, until the best log-likelihood has been
reached by ``replicate_k`` completed starts from distinct initial values or the budget
(``max_completed`` completions, ``max_time`` seconds) is spent.

EM here is Lange's (1995) EM-gradient algorithm: the M-step is one scoring step on Q with
its expected information (``MixtureLikelihood.q_information``), with step-halving so the
log-likelihood never decreases. It needs nothing family-specific beyond the family's
first derivatives and working weights, so it serves every family and constraint.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

from .exceptions import (BoundaryWarning, ConvergenceWarning, DegenerateLikelihoodWarning, EstimationError, GlmmixError,
                         IntegrationAccuracyWarning)
from .identification import (check_identified, degenerate_message, degenerate_params, heywood_params,
                             singular_terms)
from .copies import on_distinct_clusters
from .inference import numeric_hessian
from .likelihood import MixtureLikelihood
from .quadrature import Integration
from .scaling import Rescaling, ScaledLikelihood, internal
from .weights import unit_weights
from .progress import run_jobs, say

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    import pandas as pd

#: linear-predictor coefficients beyond this are candidates for a boundary (probability 0/1)
BOUNDARY_VALUE = 15.0
#: coefficients beyond this (and within BOUNDARY_VALUE) are on the boundary when the
#: likelihood is flat to 1e-6 beyond them: where an optimizer stops on such a flat ridge
#: is chance (the LSAT 3PL's guessing logit of item 5 ended at -24.4 or at -11.8 with the
#: same log-likelihood to 1e-10, depending on the order of floating-point sums)
FLAT_RIDGE_VALUE = 8.0


@dataclass(frozen=True)
class FitOptions:
    """Control of the estimation (one object, as lme4's ``glmerControl``).

    Attributes
    ----------
    n_starts : int or "auto"
        ``"auto"`` (default): the adaptive search (see the module docstring). An int: that
        many random starting sets in stage one (Section 10: 20).
    n_final : int
        Fixed search: how many of the best stage-one starts are completed. Adaptive search:
        how many are completed per round.
    stage1_iter : int
        EM iterations for each starting set in stage one.
    em_iter : int
        Maximum EM iterations before the quasi-Newton phase.
    em_tol : float
        EM stops when the log-likelihood gains less than this per iteration.
    gtol : float
        Convergence: max |gradient of the log-likelihood| / n_units below this.
    maxiter : int
        Maximum quasi-Newton iterations.
    replicate_tol : float
        Two completed log-likelihoods are "the same maximum" when they differ by less than
        ``max(replicate_tol, 1e-7 * |log-likelihood|)`` (the precision of a converged fit).
    replicate_k : int
        Adaptive search: stop once the best log-likelihood has been reached by this many
        completed starts from distinct initial values (2: Mplus's advice that the best
        log-likelihood be replicated).
    max_completed : int
        Adaptive search: at most this many completed starts.
    max_time : float or None
        Adaptive search: stop extending after this many seconds in all; ``None``: twice the
        first round's time (so extending costs at most one more round), at least 5 seconds. (The other limits do not depend on the
        machine, so a fixed seed gives the same result unless the time limit is what stops.)
    n_jobs : int
        Parallel workers for the starts (joblib); 1 runs serially. Cheap starts run serially
        anyway (``progress.PARALLEL_MIN_SECONDS``).
    seed : int or None
    verbose : bool
        Print the stages: random starts (stage one), EM, BFGS, adaptation of the nodes.
    progress : bool or None
        A progress bar over the starts; None: only in interactive sessions.
    coarse_search : bool
        Run the start search of a model whose evaluation is large on a coarser integration
        rule and re-converge its best maxima on the model's rule (:func:`search_likelihood`,
        :func:`polish`); False: search on the model's rule throughout.
    runaway_stop : bool
        Stop a completion once its random-effect SDs or loadings run beyond :data:`HUGE_RE`
        (outcome ones beyond the rule's :func:`re_limit`) with the gradient pushing them further
        out (:class:`Runaway`: the start would end improper), and finish a start running to a
        boundary limit in the limit's model (:meth:`_Search.hand_over`); False: BFGS runs on towards infinity and such starts end
        improper at the quadrature's value.
    stage1_race : bool
        Stage one races its starts: every start runs 3 of ``stage1_iter``'s 10 EM iterations,
        and only the best third (at least the starts the search goes on with) the rest; the
        others keep their ranking where they stopped. On in the K - 1 class search behind the
        adaptive search's split starts (``glmmix.nesting``).
    """

    n_starts: int | str = "auto"
    n_final: int = 5
    stage1_iter: int = 10
    em_iter: int = 50
    em_tol: float = 1e-3
    gtol: float = 1e-6
    maxiter: int = 2000
    replicate_tol: float = 1e-3
    replicate_k: int = 2
    max_completed: int = 40
    max_time: float | None = None
    n_jobs: int = 1
    seed: int | None = None
    verbose: bool = False
    progress: bool | None = None
    coarse_search: bool = True
    runaway_stop: bool = True
    stage1_race: bool = False

    @property
    def adaptive(self) -> bool:
        """Whether the start search is the adaptive one (``n_starts="auto"``)."""
        return isinstance(self.n_starts, str)


@dataclass
class StartRecord:
    start: int
    ll_stage1: float
    ll_final: float | None = None
    converged: bool | None = None
    em_iterations: int = 0
    qn_iterations: int = 0
    error: str | None = None  # a numerical failure of this start (the fit went on without it)
    origin: str = "random"
    improper: bool = False  # ended on an unbounded likelihood or where the integration fails (_Search.best)
    runaway: bool = False  # ended with random-effect SDs or loadings the rule cannot resolve (unresolved_params)
    limit: str | None = None  # ran to this boundary limit and was finished in its model (_Search.hand_over)


@dataclass
class SearchReport:
    """What the start search did (``MixtureResults.search``), Mplus's final-stage list.

    Attributes
    ----------
    mode : str
        ``"auto"`` (adaptive), ``"fixed"`` (``starts=(n, k)``) or ``"single"`` (one start).
    drawn, stage1, completed, converged : int
        Starting sets drawn (random and structured), partially optimized in stage one,
        completed (EM and BFGS to the end) and, of those, converged.
    maxima : list of dict
        Distinct maxima among the completed starts, best first: ``loglik`` (the best of the
        group), ``starts`` (how many completed starts reached it), ``converged``,
        ``origins`` (``random``, ``perturbed best``, or the simpler model a structured
        start came from) and ``improper`` (every start of the group ended on an unbounded
        likelihood or with random-effect parameters the integration cannot resolve: such a
        value is no maximum and is never reported while a proper one exists); with ``limits``
        and ``limit_starts`` when some of its starts ran to a boundary limit and were finished
        in the limit's model (:meth:`_Search.hand_over`): the value is then that model's
        maximum, exact.
    best_replicated : bool or None
        Whether the best log-likelihood was reached by at least ``replicate_k`` completed
        starts (None: only one start was completed, by request).
    n_best, replicate_k : int
    tolerance : float
        Log-likelihoods closer than this are one maximum.
    stopped : str
        Why the search ended.
    seconds : float
    best_origin : str
        The origin of the start that reached the reported maximum.
    limits : list of dict
        Boundary limits evaluated for the nesting guarantee: ``model``, ``loglik`` and
        ``used`` (whether the limit beat every completed start, by more than ``tolerance``,
        and is reported instead, or ``reached``: the best completed starts ran to it and were
        finished in its model); a limit whose log-likelihood is known exactly (the simpler
        model's; it needs to beat them by 1e-6 only) also has ``evaluated``, the quadrature's
        value at the boundary point, and ``converged`` and ``grad_max`` of the simpler model's
        fit (a fit reported at such a limit takes its convergence from them).
    rule : str
        Empty, or how a coarse integration rule served the search (``estimation.polish``):
        maxima it did not re-converge keep the coarse rule's log-likelihood.
    """

    mode: str
    drawn: int = 0
    stage1: int = 0
    completed: int = 0
    converged: int = 0
    maxima: list = field(default_factory=list)
    best_replicated: bool | None = None
    n_best: int = 1
    replicate_k: int = 2
    tolerance: float = 1e-3
    stopped: str = ""
    seconds: float = 0.0
    best_origin: str = ""
    limits: list = field(default_factory=list)
    rule: str = ""

    def to_dict(self) -> dict:
        """The report as a dict of plain data (what results files store)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> SearchReport:
        """The report written by :meth:`to_dict`."""
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def table(self) -> pd.DataFrame:
        """The distinct maxima as a DataFrame (best first)."""
        import pandas as pd

        rows = [{"loglik": m["loglik"], "starts": m["starts"], "converged": m["converged"],
                 "origins": ", ".join(m["origins"]), "improper": m.get("improper", False)} for m in self.maxima]
        return pd.DataFrame(rows, columns=["loglik", "starts", "converged", "origins", "improper"])

    def __str__(self) -> str:
        rep = {True: f"yes ({self.n_best} starts)", False: f"NO ({self.n_best} of {self.replicate_k} needed)",
               None: "n/a (one start)"}[self.best_replicated]
        lines = [f"Start search ({self.mode}): {self.drawn} drawn, {self.stage1} in stage one, "
                 f"{self.completed} completed, {self.converged} converged, {self.seconds:.2f} s",
                 f"Best log-likelihood replicated: {rep}; stopped: {self.stopped}",
                 "Distinct maxima (log-likelihood, completed starts reaching it):"]
        for m in self.maxima[:10]:
            lines.append(f"  {m['loglik']:14.4f}  {m['starts']:4d}   from {', '.join(m['origins'])}"
                         + ("  (improper: not a maximum)" if m.get("improper") else "")
                         + (f"  ({m['limit_starts']} ran to the boundary limit {', '.join(m['limits'])}: that "
                            "model's maximum, exact)" if m.get("limits") else ""))
        if len(self.maxima) > 10:
            lines.append(f"  ... and {len(self.maxima) - 10} lower")
        if self.rule:
            lines.append(f"Integration: {self.rule}")
        for lim in self.limits:
            lines.append(f"  limit {lim['model']}: {lim['loglik']:.4f}"
                         + (("  (reported: starts ran to it)" if lim.get("reached") else "  (reported: above every start)")
                            if lim["used"] else ""))
        return "\n".join(lines)


@dataclass
class FitResult:
    """What estimation hands to inference: estimates and diagnostics, no tables."""

    theta: np.ndarray
    ll: float
    converged: bool
    grad_max: float
    em_iterations: int
    qn_iterations: int
    starts: list = field(default_factory=list)
    best_replicated: bool | None = None
    n_best: int = 1
    boundary: list = field(default_factory=list)
    message: str = ""
    warnings: list = field(default_factory=list)
    adapt_state: tuple | None = None  # adaptive nodes (m, R) belonging to theta
    search: SearchReport | None = None
    ll_refined: float | None = None  # the log-likelihood on the check of the rule (check_rule)
    limit_ll: float | None = None  # the exact log-likelihood of a reported boundary limit
    limit_fit: tuple | None = None  # (converged, max |gradient|) of the limiting model's own fit


# ----------------------------------------------------------------------------- starts
#: largest step of a family parameter per Newton step of the homogeneous start
EXTRA_STEP = 1.0


def homogeneous_start(lik: MixtureLikelihood, max_iter: int = 50) -> np.ndarray:
    """Every class at the one-class ML estimates of the fixed part (no random effects),
    then random-effect factor matrices at their starting values (SDs and loadings 0.5)."""
    L = lik.layout
    d = lik.design
    fam = d.family
    parts = L.unpack(L.fixed_val.copy())
    parts["beta"][:] = 0.0
    ex0 = fam.extra_start(d.y, d.aux)
    parts["extra"][:] = ex0[None, :]
    parts["gamma"][:] = 0.0
    parts["re_out"][:] = 0.0
    parts["re_cls"][:] = 0.0
    phi = L.pack(parts)
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    theta = L.from_full(phi)
    K = lik.K
    # only the fixed outcome coefficients and family parameters move in this phase
    movable = np.zeros(L.n_free, bool)
    for name in ("beta", "extra"):
        idx = L.free_idx[L.blocks[name].slice]
        movable[idx[idx >= 0]] = True
    # family parameters (log residual SDs, thresholds) move at most EXTRA_STEP per step: from
    # zero coefficients the residuals can be huge (an outcome far from 0 in units of its SD),
    # and a full step in log sigma would overflow, so the line search would shrink the
    # coefficients' step with it
    idx = L.free_idx[L.blocks["extra"].slice]
    extra = np.zeros(L.n_free, bool)
    extra[idx[idx >= 0]] = True

    # every class sees every row with weight one: K identical one-class models
    es = lik.evaluate(theta, homogeneous=True, info=True)
    for _ in range(max_iter):
        g = L.reduce(lik.full_gradient(es))
        H = lik.q_information(es)
        step = np.zeros_like(theta)
        if movable.any():
            # on the parameters' own scale the information's diagonal can span 20 orders of
            # magnitude (coefficients of a large-valued outcome vs its log sigma): solve the
            # equilibrated system, so the ridge is relative to each parameter's own information
            Hm = H[np.ix_(movable, movable)]
            dm = np.sqrt(np.maximum(np.abs(np.diag(Hm)), 1e-300))
            step[movable] = _solve(Hm / np.outer(dm, dm), g[movable] / dm) / dm
        step[extra] = np.clip(step[extra], -EXTRA_STEP, EXTRA_STEP)
        t = 1.0
        for _ in range(30):
            new = lik.evaluate(theta + t * step, homogeneous=True, info=True)
            if np.isfinite(new.ll) and new.ll >= es.ll - 1e-9 * abs(es.ll):
                break
            t *= 0.5
        gain = new.ll - es.ll
        theta, es = theta + t * step, new
        if gain < 1e-8 * K * max(1.0, abs(es.ll)):
            break
    # random-effect starting values, in units of the outcome and the term's design (scaling.py)
    phi = L.expand(theta)
    P = L.unpack(phi)
    unit = L.unpack(Rescaling.of(lik).a_full)
    starts_out = [b.start() for b in d.re_out]
    if starts_out:
        P["re_out"][:] = np.concatenate(starts_out)[None, :] * unit["re_out"]
    if d.re_cls:
        P["re_cls"][:] = np.concatenate([b.start() * 2.0 for b in d.re_cls]) * unit["re_cls"]
    phi = L.pack(P)
    phi[m] = L.fixed_val[m]
    return L.from_full(phi)


def perturb(lik: MixtureLikelihood, theta0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random starting set around ``theta0`` (Mplus-style perturbation of class parameters)."""
    L = lik.layout
    d = lik.design
    fam = d.family
    P = L.unpack(L.expand(theta0))
    K = lik.K
    scale = fam.start_scale(P["extra"])
    beta = P["beta"] + scale * rng.uniform(-1, 1, size=P["beta"].shape) / d.x_scale[:, None]
    extra = np.stack([fam.extra_perturb(P["extra"][k], d.aux, rng) for k in range(K)]) if P["extra"].size else P["extra"]
    gamma = P["gamma"].copy()
    if gamma.size:  # every class-logit coefficient, scaled by its covariate's spread
        zs = d.classes.gamma_scale().reshape(gamma.shape)
        gamma += 0.5 * rng.standard_normal(gamma.shape) / zs
    phi = L.pack({**P, "beta": beta, "extra": extra, "gamma": gamma})
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    return _at_centred_intercepts(lik, theta0, L.from_full(phi))


def _at_centred_intercepts(lik, theta0, theta):
    """A perturbation of the coefficients of centred columns (:mod:`glmmix.scaling`: columns far
    from zero) moved with what plays their intercept, so that it leaves the linear predictor at
    the columns' means where it was (a coefficient of a calendar year moved by 0.1 would
    otherwise move the intercept's effect by 200)."""
    scaled = isinstance(lik, ScaledLikelihood)  # the search's starts are on internal coordinates
    rs = lik.rescaling if scaled else Rescaling.of(lik)
    if not rs.shifts:
        return theta
    t0 = rs.to_external(theta0) if scaled else np.asarray(theta0, float)
    out = np.array(rs.to_external(theta) if scaled else theta, float)
    for i0, j, mean in rs.shifts:  # coefficients are never intercepts: one pass
        out[i0] -= mean * (out[j] - t0[j])
    return rs.to_internal(out) if scaled else out


def perturb_scales(lik: MixtureLikelihood, theta0: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random starting set of a one-class model around ``theta0``: its coefficients moved as
    :func:`perturb` moves them, and its scale parameters (random-effect SDs and loadings, a
    gaussian outcome's log residual SDs) multiplied by log-normal factors. A one-class
    likelihood can have rival maxima that differ in how variance is split between them
    (measured: iris's four measurements with a random intercept and item-specific residual
    SDs, -705.5463 and -739.8653)."""
    L = lik.layout
    fam = lik.design.family
    P = L.unpack(L.expand(perturb(lik, theta0, rng)))
    re = P["re_out"] * np.exp(SCALE_PERTURB * rng.standard_normal(P["re_out"].shape)) if P["re_out"].size else P["re_out"]
    extra = P["extra"]
    if fam.has_residual_sd and extra.size:
        extra = extra + SCALE_PERTURB * rng.standard_normal(extra.shape)
    phi = L.pack({**P, "re_out": re, "extra": extra})
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    return L.from_full(phi)


#: SD of the log-normal factors of :func:`perturb_scales`
SCALE_PERTURB = 0.7


# ----------------------------------------------------------------------------- EM
def _solve(H, g):
    n = H.shape[0]
    if n == 0:
        return np.zeros(0)
    ridge = 1e-8 * max(1.0, np.abs(np.diag(H)).max())
    try:
        c = linalg.cho_factor(H + ridge * np.eye(n), check_finite=False)
        return linalg.cho_solve(c, g, check_finite=False)
    except (linalg.LinAlgError, ValueError):
        return np.linalg.lstsq(H + ridge * np.eye(n), g, rcond=None)[0]


#: largest change of any unconstrained parameter in one EM step (a trust region)
MAX_STEP = 5.0


#: change of the log-likelihood at which EM's adaptation of the nodes stops (EM only moves
#: towards a maximum; :func:`converge` adapts to 1e-6 around its quasi-Newton rounds)
EM_ADAPT_TOL = 1e-3


def em(lik: MixtureLikelihood, theta: np.ndarray, max_iter: int, tol: float):
    """EM-gradient iterations. Returns (theta, EStep at theta, iterations, last H).

    With adaptive quadrature the nodes are adapted first (to :data:`EM_ADAPT_TOL`) and
    moved once every third iteration, from the posteriors of the last evaluation."""
    adaptive = lik.integ.adaptive and lik.D > 0
    if adaptive:
        lik.adapt(theta, tol=EM_ADAPT_TOL)
    es = lik.evaluate(theta, info=True)
    H = None
    it = 0
    for it in range(1, max_iter + 1):
        if adaptive and it > 1 and it % 3 == 1:  # re-adapt the nodes every third iteration
            lik.move_nodes(es)
            es = lik.evaluate(theta, info=True)
        g = lik.layout.reduce(lik.full_gradient(es))
        H = lik.q_information(es)
        step = _solve(H, g)
        big = np.abs(step).max() if step.size else 0.0
        if big > MAX_STEP:
            step *= MAX_STEP / big
        t = 1.0
        for _ in range(30):
            new = lik.evaluate(theta + t * step, info=True)
            if np.isfinite(new.ll) and new.ll >= es.ll - 1e-12 * abs(es.ll):
                break
            t *= 0.5
        else:
            break
        gain = new.ll - es.ll
        theta, es = theta + t * step, new
        if gain < tol:
            break
    return theta, es, it, H


# ----------------------------------------------------------------------------- quasi-Newton
def quasi_newton(lik: MixtureLikelihood, theta: np.ndarray, H0, opts: FitOptions, stop=None):
    """BFGS on -loglik / n_units with the exact gradient; H0 preconditions the first step.
    ``stop(lik, theta, gradient)``: end the run early at an iterate where it says so (a
    :class:`Runaway`); the returned result then has ``runaway=True``."""
    N = float(lik.design.n_scale)
    n = theta.shape[0]
    last: dict = {}

    def f(t):
        ll, g, _ = lik.loglik_and_grad(t)
        last["t"], last["g"] = np.array(t, float), g
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(t)
        return -ll / N, -g / N

    def callback(intermediate_result):
        x = intermediate_result.x
        if "t" in last and np.array_equal(x, last["t"]) and stop(lik, x, last["g"]):
            last["runaway"] = True
            raise StopIteration

    options = {"gtol": opts.gtol, "maxiter": opts.maxiter}
    if H0 is not None and n:
        Hs = 0.5 * (H0 + H0.T) / N
        ridge = 1e-6 * max(1.0, np.abs(np.diag(Hs)).max())
        try:
            c = linalg.cho_factor(Hs + ridge * np.eye(n), check_finite=False)
            Hi = linalg.cho_solve(c, np.eye(n), check_finite=False)
            Hi = 0.5 * (Hi + Hi.T)
            np.linalg.cholesky(Hi)
            options["hess_inv0"] = Hi
        except (linalg.LinAlgError, ValueError, np.linalg.LinAlgError):
            pass
    res = optimize.minimize(f, theta, jac=True, method="BFGS", options=options,
                            callback=callback if stop is not None else None)
    res["runaway"] = bool(last.get("runaway"))
    return res.x, -res.fun * N, res.nit, res


def converge(lik: MixtureLikelihood, theta: np.ndarray, opts: FitOptions, stop=None) -> FitResult:
    """Complete one start: EM until it settles, then BFGS (in rounds of re-adaptation when
    the quadrature is adaptive: BFGS with the nodes fixed, then the nodes moved to the new
    posteriors, until the log-likelihood no longer changes). ``stop``: a :class:`Runaway`
    that ends BFGS early (the start is then finished at a boundary limit by the search)."""
    # EM stabilises mixtures; a one-class model needs only a few steps before BFGS
    n_em_max = 0 if lik.laplace else (opts.em_iter if lik.K > 1 else min(opts.em_iter, 5))
    if lik.D > 0 and lik.K > 1:  # with integration, BFGS takes over sooner
        n_em_max = min(n_em_max, 20)
    theta, es, n_em, H = em(lik, theta, n_em_max, opts.em_tol)
    if H is None and lik.laplace:  # no EM step: precondition BFGS with the EM metric at the start
        H = lik.q_information(es)
    if n_em_max:
        say(opts.verbose, f"  EM: {n_em} iteration(s), log-likelihood {es.ll:.4f}")
    adaptive = lik.integ.adaptive and lik.D > 0 and not lik.laplace
    n_qn = 0
    res = None
    ll_prev = -np.inf
    for _round in range(10 if adaptive else 1):
        ll_start = lik.adapt(theta) if adaptive else lik.loglik(theta)
        theta_qn, ll_qn, it, res = quasi_newton(lik, theta, H, opts, stop)
        n_qn += it
        say(opts.verbose, f"  BFGS: {it} iteration(s), log-likelihood {ll_qn:.4f}"
                          + (" (stopped: running to a boundary limit)" if res["runaway"] else ""))
        if np.isfinite(ll_qn) and ll_qn >= ll_start - 1e-8:
            theta = theta_qn
        if not adaptive or res["runaway"]:
            break
        ll_now = lik.adapt(theta)
        say(opts.verbose, f"  nodes adapted (round {_round + 1}): log-likelihood {ll_now:.4f}")
        if abs(ll_now - ll_prev) < 1e-7 and abs(ll_now - ll_qn) < 1e-6:
            break
        if _round == 1 and ll_now - ll_prev > LAPLACE_RESCUE_GAIN:
            theta, ll_now = _laplace_rescue(lik, theta, ll_now, opts)
        ll_prev = ll_now
    ll, g, _ = lik.loglik_and_grad(theta)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    ok = gmax / lik.design.n_scale < max(opts.gtol * 10, 1e-5)
    return FitResult(theta, ll, bool(ok), gmax, n_em, n_qn, message=str(res.message) if res else "",
                     adapt_state=lik.integ.adaptation())


#: a round of quasi-Newton with the nodes fixed that still gains this much (the second round)
#: means the fixed nodes hold each round to short steps: :func:`_laplace_rescue`
LAPLACE_RESCUE_GAIN = 1e-2


def _laplace_rescue(lik, theta, ll, opts: FitOptions):
    """Rounds of quasi-Newton with fixed adaptive nodes crawl when the posteriors are narrow
    (large counts: the clusters' effects are known to 0.001, and a step of the intercept
    moves them many posterior SDs away from the nodes; measured: 0.25 per round, 7 below the
    maximum after 10 rounds). The Laplace likelihood re-centres its one node at the modes at
    every evaluation and has an exact gradient: its maximum, near the quadrature's, is taken
    when it raises the adapted log-likelihood. One-class models with outcome effects only,
    without family parameters (a gaussian residual SD, ordinal thresholds: measured on a
    factor model whose residual SD runs to 0, a Heywood case, the Laplace steps ended off
    the boundary and unconverged)."""
    base = _base(lik)
    if (base.K != 1 or base.design.re_cls or base.design.form == "crossed"
            or base.layout.blocks["extra"].size):
        return theta, ll
    lap = _on_rule(lik, Integration.make("laplace", None, base.D, base.design.n_clusters))
    if not _base(lap).laplace_exact:
        return theta, ll
    state = lik.integ.adaptation()
    th, ll_lap, _, _ = quasi_newton(lap, theta, None, opts)
    ll_new = lik.adapt(th) if np.isfinite(ll_lap) else -np.inf
    say(opts.verbose, f"  Laplace steps: log-likelihood {ll_lap:.4f}, adapted {ll_new:.4f}")
    if np.isfinite(ll_new) and ll_new > ll:
        return th, ll_new
    lik.integ.restore(state)
    return theta, ll


# ----------------------------------------------------------------------------- boundary
#: a random-effect SD or loading beyond this many logits per unit of the latent variable
#: (internal coordinates) makes the responses a step function of it: no quadrature rule
#: resolves that, and the log-likelihood computed there is not the model's (measured: the
#: LSAT 3PL with item 5's loading at 8.7e5 and its intercept at -4.5e5 evaluated to
#: -2421.17 on adaptive Gauss-Hermite, above the saturated model's -2456.04)
HUGE_RE = 50.0


#: on the trapezoid rule (the same equally spaced nodes for every cluster), an outcome loading
#: or random-effect SD beyond this many per step of the rule is unresolved: the response curve
#: it makes along its latent variable is then far narrower than the step, the rule's
#: log-likelihood is off by whole units and its maxima are the rule's, not the model's (such a
#: start is improper, :func:`improper`). Measured on LSAT's FMA-GoM (31 x 31 points, step 0.4;
#: one item's loading raised, the others at 1; against 121 points per dimension): off by 3e-4
#: at a loading of 3, 0.009 at 4, 0.27 at 6, 2.75 at 10 (4 per step), 10.4 at 25; VerbAgg's
#: FMA-GoM, loadings of 32 and 48: 0.90 (benchmarks/README.md, "Seventh round"). Below it,
#: :func:`check_rule` judges the reported fit's accuracy (:data:`RULE_TOL`).
RESOLVED_STEPS = 4.0


def re_limit(lik) -> float:
    """The size beyond which an outcome random-effect SD or loading is unresolved on the
    likelihood's rule: :data:`HUGE_RE`, or less on the trapezoid rule (:data:`RESOLVED_STEPS`
    per step). Class-logit SDs keep :data:`HUGE_RE` (a GoM-type model can have its maximum at
    a class-logit SD of 10 to 50, where the class prior is a step the rule's product sums
    still integrate to the rule's accuracy)."""
    integ = _base(lik).integ
    if integ.adaptive or integ.method != "trapezoid" or integ.D == 0:
        return HUGE_RE
    step = float(np.ptp(integ.t[:, 0])) / max(integ.n_points - 1, 1)
    return min(HUGE_RE, RESOLVED_STEPS / step) if step > 0 else HUGE_RE


def unresolved_params(lik, theta) -> list[int]:
    """Free random-effect SDs and loadings beyond :data:`HUGE_RE` (models that integrate), and
    outcome ones beyond :func:`re_limit` of the likelihood's rule."""
    L = lik.layout
    if lik.D == 0:
        return []
    a = np.abs(theta)
    out = L.free_in_blocks(("re_out",)) & (a > re_limit(lik))
    return np.flatnonzero(out | (L.free_in_blocks(("re_cls",)) & (a > HUGE_RE))).tolist()


#: what a random-effect parameter's size is measured in, by the outcome's link
_LINK_UNITS = {"logit": "logits", "probit": "probits (SDs of the latent response)", "log": "log units"}


def _size_text(lik, i, size) -> str:
    """``size`` of free parameter ``i`` (a random-effect SD or loading) in its scale's units:
    class logits, the outcome's link (logits, probits, log units), or for an identity link the
    outcome's own units (the internal coordinates' scale, :mod:`glmmix.scaling`)."""
    L = lik.layout
    if L.block_of(L.first_full[i]) == "re_cls":
        return f"{size:g} class logits"
    link = lik.family.link.name
    if link in _LINK_UNITS:
        return f"{size:g} {_LINK_UNITS[link]}"
    scale = getattr(lik, "rescaling", None)
    return f"{size * (scale.a[i] if scale is not None else 1.0):g} in the outcome's units ({size:g} times its scale)"


def unresolved_message(lik, unres, ll) -> str:
    """The warning for random-effect parameters beyond :data:`HUGE_RE` (outcome ones beyond
    :func:`re_limit`), each in the units of the scale it acts on (:func:`_size_text`)."""
    L = lik.layout
    lim = re_limit(lik)
    parts = []
    for i in unres:
        cls = L.block_of(L.first_full[i]) == "re_cls"
        parts.append(f"{L.labels[i]} beyond {_size_text(lik, i, HUGE_RE if cls else lim)}"
                     + ("" if cls or lim >= HUGE_RE else f" (on this trapezoid rule: {RESOLVED_STEPS:g} per step)"))
    how = ("the outcome's density becomes a spike in it" if lik.family.has_residual_sd else
           "the responses become a step function of it")
    return (f"random-effect parameter(s) ran off per unit of the latent variable: {'; '.join(parts)}: {how}, which "
            f"no quadrature rule resolves, so the log-likelihood {ll:.4f} is not reliable (it can exceed the "
            "saturated model's); every completed start ended so: fix or constrain these parameters, or use a "
            "simpler model")


@dataclass(frozen=True)
class Runaway:
    """Ends a completion whose random-effect SDs or loadings run off to infinity: at least one
    is beyond :data:`HUGE_RE` (outcome ones beyond :func:`re_limit`) and the gradient pulls none
    of those back in by more than :data:`RUNAWAY_PULL` per cluster (with ``params``: all of them are among ``params``). Such a start would end improper (it loses
    to every proper maximum, :meth:`_Search.best`), or at a boundary limit the search finishes
    it in (:meth:`_Search.hand_over`); BFGS needs many more iterations to go on towards
    infinity, and its log-likelihood there is the quadrature's, which cannot resolve the
    integrand (Table 3's Model 6: a third of each completion's evaluations, from a class-logit
    SD of 50 to 100-330; carcinoma's 2-class FMA: 100 to 900 iterations per completion, with
    loadings ending at 1e3 to 8e5)."""

    params: frozenset | None = None

    def __call__(self, lik, theta, grad) -> bool:
        out = unresolved_params(lik, theta)
        pull = RUNAWAY_PULL * lik.design.n_scale
        return (bool(out) and (self.params is None or set(out) <= self.params)
                and not any(theta[i] * grad[i] < 0 and abs(grad[i]) > pull for i in out))


#: a gradient towards zero of a random-effect parameter beyond HUGE_RE smaller than this per
#: cluster (100 times the convergence tolerance) does not pull it back (:class:`Runaway`): a
#: start whose loadings are on such a plateau (flat to 1e-6 at loadings of 1e3 and more, as
#: carcinoma's FMA) is improper wherever it stops there
RUNAWAY_PULL = 1e-4


def _unresolved_text(lik) -> str:
    lim = re_limit(lik)
    link = lik.family.link.name
    unit = _LINK_UNITS.get(link, "times the outcome's scale")
    if lim < HUGE_RE:
        return (f"{HUGE_RE:g} class logits per unit of the latent variable, or {lim:g} {unit} for outcome loadings "
                f"and SDs on this trapezoid rule ({RESOLVED_STEPS:g} per step)")
    return f"{HUGE_RE:g} {unit} per unit of the latent variable"


def _warn_runaway_above(lik, best: FitResult) -> None:
    """A proper maximum is reported while completed starts that ran to unresolved loadings or
    SDs (improper, :meth:`_Search.best`) reached more on the rule: the likelihood's supremum
    may be their limit (responses that are step functions of a latent variable), which the
    rule cannot integrate. Say so, with both values. On the trapezoid rule only (where
    :func:`re_limit` is below :data:`HUGE_RE`): on an adaptive rule a start stopped beyond
    :data:`HUGE_RE` can evaluate above the saturated model (the LSAT 3PL's -2421.17), which
    says nothing of a supremum."""
    rep = best.search
    if rep is None or not rep.maxima or re_limit(lik) >= HUGE_RE:
        return
    tol = _tolerance(FitOptions(), best.ll)
    above = [m for m in rep.maxima if m.get("runaway") and m["loglik"] > best.ll + tol]
    if not above:
        return
    msg = (f"{sum(m['starts'] for m in above)} completed start(s) ran towards infinite outcome loadings or SDs "
           f"(beyond {_unresolved_text(lik)}), with a quadrature log-likelihood of {above[0]['loglik']:.4f}, "
           f"above the reported maximum {best.ll:.4f}: the responses to some items become step functions of "
           "a latent variable, which the rule cannot integrate, and the likelihood's supremum may be that limit, "
           "not a finite maximum; the reported estimates are the best maximum with resolved loadings")
    best.warnings.append(msg)
    warnings.warn(msg, IntegrationAccuracyWarning, stacklevel=5)


def improper(lik, theta) -> bool:
    """A completed start that is no proper maximum: a collapsed residual SD (an unbounded
    likelihood) or random-effect parameters the integration cannot resolve. It loses to
    every proper one (:meth:`_Search.best`)."""
    return bool(degenerate_params(lik, theta)) or bool(unresolved_params(lik, theta))


def find_boundary(lik: MixtureLikelihood, theta: np.ndarray) -> list[int]:
    """Free parameters whose estimate runs off to infinity (probabilities of 0 or 1), and
    residual SDs at 0 of a bounded likelihood (Heywood cases, :func:`heywood_params`).

    A candidate is a linear-predictor or class-logit coefficient beyond
    ``BOUNDARY_VALUE`` in size; it is on the boundary when moving it further out (1.5 times)
    lowers the log-likelihood by less than 1e-4 (the likelihood is flat towards its
    asymptote, or still rising: the optimizer stopped short of the supremum at infinity, as
    carcinoma's 2-class LCA with rater A's logit at 14.65, P = 1 - 4e-7, the log-likelihood
    9.3e-6 higher at 22; Mplus fixes such a threshold at +-15, poLCA reports P = 1).
    A coefficient beyond ``FLAT_RIDGE_VALUE`` is on the boundary when it lowers it by less
    than 1e-6.
    Sizes are those of ``theta``, which inside :func:`estimate` are internal coordinates
    (:mod:`glmmix.scaling`): logits per SD of the covariate.
    """
    L = lik.layout
    fam = lik.family
    cands, near = [], []
    for i, full in enumerate(L.first_full):
        blk = L.block_of(full)
        if blk in ("gamma", "re_out", "re_cls") or (blk == "beta" and fam.unbounded_coefficients):
            if abs(theta[i]) > BOUNDARY_VALUE:
                cands.append(i)
            elif abs(theta[i]) > FLAT_RIDGE_VALUE:
                near.append(i)
        if blk == "extra" and fam.thresholds and abs(theta[i]) > BOUNDARY_VALUE / 3:
            cands.append(i)
    # a random-effect SD or loading beyond HUGE_RE makes responses deterministic: it is
    # running to infinity whatever the flatness check below says
    unresolved = set(unresolved_params(lik, theta))
    huge = [i for i in cands if i in unresolved]
    cands = [i for i in cands if i not in huge]
    near = [i for i in near if i not in unresolved]
    huge = sorted(set(huge) | set(heywood_params(lik, theta)))
    if not cands and not near:
        return huge
    ll0 = lik.loglik(theta)
    out = list(huge)
    for i in cands + near:
        t = theta.copy()
        t[i] = theta[i] * 1.5
        if lik.loglik(t) - ll0 > -(1e-4 if i in cands else 1e-6):
            out.append(i)
    return sorted(out + _joint_boundary(lik, theta, [i for i in cands if i not in out], ll0))


def _joint_boundary(lik, theta, cands, ll0) -> list[int]:
    """Large coefficients that run to infinity together, each finite only because the others
    offset it (quasi-separation by a factor: the intercept to +inf and a level's contrast to
    -inf, their sum fitting the other rows). The direction is the information's flattest
    one among them; the estimate is on the boundary when a long step along it leaves the
    log-likelihood flat."""
    if len(cands) < 2:
        return []
    H = numeric_hessian(lik.gradient, theta, cands)
    w, V = np.linalg.eigh(-H)
    v = V[:, 0]
    step = 0.5 * float(np.abs(theta[cands]).max())
    for sign in (1.0, -1.0):
        t = theta.copy()
        t[cands] += sign * step * v
        if abs(lik.loglik(t) - ll0) < 1e-4:
            return [i for i, vi in zip(cands, v) if abs(vi) > 0.1]
    return []


# ----------------------------------------------------------------------------- driver
def _stage1(lik, theta, n_iter, tol):
    if n_iter == 0:
        return theta, lik.loglik(theta)
    th, es, _, _ = em(lik, theta, n_iter, tol)
    return th, es.ll


@dataclass
class StartFailure:
    """What a start that raised leaves behind: the error, for the starts table."""

    error: str


def _own_state(lik, state):
    """A shallow copy of ``lik`` with its own adaptive-quadrature state, set to ``state``."""
    if isinstance(lik, ScaledLikelihood):
        return ScaledLikelihood(_own_state(lik.base, state), lik.rescaling)
    new = copy.copy(lik)
    new.integ = lik.integ.with_adaptation(state)
    return new


def _guarded(fn, lik, state, *args):
    """Run one start on its own copy of the adaptation state, begun at ``state``.

    Every start then computes the same numbers whether starts run one after another or in
    parallel (``n_jobs``), and whatever ran before. A numerical failure inside the start is
    returned, not raised, so that one start's overflow or singular matrix does not abort
    the fit. Refusals (glmmix errors, NotImplementedError) still propagate. Overflow in
    trial steps is expected (step-halving and the line search back off from non-finite
    values), so numpy's floating-point warnings are silenced inside a start."""
    try:
        with np.errstate(all="ignore"):
            return fn(_own_state(lik, state), *args)
    except (GlmmixError, NotImplementedError):
        raise
    except (ArithmeticError, ValueError, RuntimeError, linalg.LinAlgError) as exc:
        return StartFailure(f"{type(exc).__name__}: {exc}")


def _run(fn, args_list, opts: FitOptions, desc=""):
    return run_jobs(fn, args_list, opts.n_jobs, desc, opts.progress)


#: split starts completed besides the best split of each class (:meth:`_Search.best_candidates`)
SPLITS_EXTRA = 1
#: EM iterations of the split starts' stage one (random starts: ``stage1_iter``): a split begins at
#: the K - 1 class maximum, and 5 iterations rank the splits of each class as well as 10 for the
#: LCAs of ``benchmarks/start_search.py`` (seeds 1-20 at the best known maximum either way)
SPLIT_STAGE1_ITER = 5
#: stage-one starts of the adaptive search: for the cheapest models, and at least
STAGE1_MAX, STAGE1_MIN = 45, 20


def stage1_size(lik: MixtureLikelihood) -> int:
    """Stage-one starts of the adaptive search, from the size of the arrays one evaluation
    fills (patterns x classes x nodes): 45 for an LCA (a start costs 5 to 10 ms, most of it
    fixed per-iteration overhead), down to 20 (Section 10's default) for a model whose
    evaluation fills a million cells. A function of the model only, so results do not depend
    on the machine."""
    Q = int(np.asarray(lik.integ.nodes()[1]).shape[-1]) if lik.D > 0 else 1
    work = float(lik.n_patterns) * lik.K * Q
    return int(np.clip(round(60.0 / (1.0 + work / 2e4)), STAGE1_MIN, STAGE1_MAX))


#: a raced stage one (``FitOptions.stage1_race``): the share of the EM iterations every start
#: runs (3 of 10), and the best 1 in RACE_KEEP starts go on to the rest. With the K - 1 class
#: search behind split starts raced so (and completed to ``nesting.SPLIT_GTOL``), every LCA
#: row of ``benchmarks/start_search.py`` stays at 20 of 20 seeds; racing the random starts
#: of the adaptive search too lost VerbAgg's 4-class maximum with one seed
RACE_FIRST, RACE_KEEP = 0.3, 3


def _race(out, n, run_rest):
    """Successive halving of stage one: the ``n`` best of the stage-one results ``out``
    ([(theta, ll) or StartFailure]) go on with ``run_rest(thetas)``; returns ``out`` with
    theirs replaced by where they went on to."""
    ok = [j for j, o in enumerate(out) if not isinstance(o, StartFailure) and np.isfinite(o[1])]
    best = sorted(ok, key=lambda j: -out[j][1])[:n]
    out = list(out)
    for j, o in zip(best, run_rest([out[j][0] for j in best])):
        out[j] = o
    return out


def _tolerance(opts: FitOptions, ll: float) -> float:
    return max(opts.replicate_tol, 1e-7 * abs(ll)) if np.isfinite(ll) else opts.replicate_tol


def _maxima(records: list[StartRecord], tol: float) -> list[dict]:
    """Completed starts grouped into distinct maxima, best first: a start joins the group
    whose best log-likelihood is within ``tol`` above it (no chaining of near ties)."""
    done = sorted((r for r in records if r.ll_final is not None and np.isfinite(r.ll_final)),
                  key=lambda r: -r.ll_final)
    groups: list[dict] = []
    for r in done:
        if not groups or groups[-1]["loglik"] - r.ll_final >= tol:
            groups.append({"loglik": float(r.ll_final), "starts": 0, "converged": 0, "origins": [], "improper": True})
        g = groups[-1]
        g["improper"] = g["improper"] and r.improper
        g["runaway"] = g.get("runaway", False) or (r.improper and r.runaway)
        if r.limit is not None:  # ran to a boundary limit, finished in its model (_Search.hand_over)
            g["limit_starts"] = g.get("limit_starts", 0) + 1
            if r.limit not in g.setdefault("limits", []):
                g["limits"].append(r.limit)
        g["starts"] += 1
        g["converged"] += int(bool(r.converged))
        if r.origin not in g["origins"]:
            g["origins"].append(r.origin)
    return groups


class _Search:
    """Book-keeping of one start search: records, completed fits, the report."""

    def __init__(self, lik, opts, rng, mode, handovers=()):
        self.lik, self.opts, self.rng = lik, opts, rng
        # [(parameters at the boundary, limit's name, run)]: see hand_over
        self.handovers = list(handovers) if opts.runaway_stop else []
        self.runaway = Runaway() if opts.runaway_stop and lik.D > 0 else None
        self.adapt0 = lik.integ.adaptation()  # every start begins from this adaptation
        self.lik1 = lik.coarse()  # stage one ranks starts on a coarse rule (multi-dimensional AGH)
        self.records: list[StartRecord] = []
        self.fits: dict[int, FitResult] = {}
        self.degenerate: dict[int, bool] = {}
        self.n_tried = 0  # completions attempted (failed ones included)
        self.across_left = BOUNDARY_ACROSS  # boundary moves across still to complete in this search
        self.seen: set = set()
        self.report = SearchReport(mode, replicate_k=opts.replicate_k)

    def add(self, theta, ll1, origin) -> int | None:
        """Record a starting set; None if the same initial values were drawn before."""
        key = np.round(np.asarray(theta, float), 8).tobytes()
        if key in self.seen:
            return None
        self.seen.add(key)
        self.records.append(StartRecord(len(self.records), ll1, origin=origin))
        self.report.drawn += 1
        return len(self.records) - 1

    def draw(self, centres, n):
        """n random starting sets, perturbations of the centres in turn: [(theta, origin)]."""
        out = []
        for j, s in enumerate(self.rng.spawn(n)):
            c, origin = centres[j % len(centres)]
            th = perturb(self.lik, c, s) if self.lik.K > 1 else perturb_scales(self.lik, c, s)
            out.append((th, "random" if origin == "centre" else f"around {origin}"))
        return out

    def stage_one(self, drawn, n_iter=None, keep=None):
        """Partial optimization of [(theta, origin)] (``n_iter`` EM iterations, default
        ``stage1_iter``); returns [(index, theta after stage one)], best first.

        ``keep``: how many of the best-ranked starts the caller uses. With it and
        ``FitOptions.stage1_race``, the starts race (:func:`_race`): every start runs
        :data:`RACE_FIRST` of the iterations and only the best (a :data:`RACE_KEEP`-th, at
        least ``keep``) the rest; the others are ranked after them, by their log-likelihood
        where they stopped."""
        opts = self.opts
        n_iter = opts.stage1_iter if n_iter is None else n_iter
        race = keep is not None and opts.stage1_race and len(drawn) > keep
        n_first = int(round(RACE_FIRST * n_iter)) if race else n_iter  # iterations every start runs
        say(opts.verbose, f"starts: {len(drawn)} starting sets, {n_iter} EM iterations each (stage one"
                          + (f"; the best go on after {n_first})" if n_first < n_iter else ")"))
        out = self._stage1_run([t for t, _ in drawn], n_first)
        if n_first < n_iter:
            out = _race(out, max(keep, -(-len(drawn) // RACE_KEEP)),
                        lambda thetas: self._stage1_run(thetas, n_iter - n_first))
        res = []
        for o, (t, origin) in zip(out, drawn):
            if isinstance(o, StartFailure):
                i = self.add(t, np.nan, origin)
                if i is not None:
                    self.records[i].error = o.error
                continue
            th, ll = o
            i = self.add(th, ll, origin)
            if i is not None:
                res.append((i, th))
        self.report.stage1 += len(res)
        # (raced: the starts that went on rank first, as EM never lowers the log-likelihood)
        res.sort(key=lambda it: -self.records[it[0]].ll_stage1 if np.isfinite(self.records[it[0]].ll_stage1) else np.inf)
        if res:
            say(opts.verbose, f"stage one: best log-likelihood {self.records[res[0][0]].ll_stage1:.4f}; "
                              f"completing the best in order")
        return res

    def _stage1_run(self, thetas, n_iter):
        """``n_iter`` EM iterations from each of ``thetas``: [(theta, ll) or StartFailure]."""
        return _run(_guarded, [(_stage1, self.lik1, self.adapt0, t, n_iter, self.opts.em_tol) for t in thetas],
                    self.opts, "starts")

    def complete(self, items):
        """Complete [(index, theta)] (EM + BFGS) and record the results."""
        items = [it for it in items if it[0] not in self.fits]
        self.n_tried += len(items)
        stop = () if self.runaway is None else (self.runaway,)
        fits = _run(_guarded, [(converge, self.lik, self.adapt0, th, self.opts, *stop) for _, th in items],
                    self.opts, "completing starts" if len(items) > 1 else "")
        for (i, _), fr in zip(items, fits):
            r = self.records[i]
            if isinstance(fr, StartFailure):
                r.error = fr.error
                continue
            r.ll_final, r.converged = fr.ll, fr.converged
            r.em_iterations, r.qn_iterations = fr.em_iterations, fr.qn_iterations
            if np.isfinite(fr.ll):
                self.fits[i] = fr
                self.degenerate[i] = r.improper = improper(self.lik, fr.theta)
                r.runaway = r.improper and not degenerate_params(self.lik, fr.theta)
                if r.improper:
                    self.hand_over(i)

    def hand_over(self, i) -> None:
        """Finish start ``i``, which ran towards a boundary limit (its only parameters beyond
        :data:`HUGE_RE` are those at the boundary in the limit), in the limit's own model: a
        limit's ``run`` continues the start there from its other parameters to that model's
        maximum, and returns the boundary point equal to it with its exact log-likelihood
        and convergence. The start is then recorded at that value, as reaching the limit
        (``StartRecord.limit``), instead of improper at the value the quadrature gives where
        it cannot resolve the integrand. A limit that cannot run (None) leaves the start improper."""
        fr = self.fits[i]
        unres = set(unresolved_params(self.lik, fr.theta))
        if not unres or degenerate_params(self.lik, fr.theta):
            return
        for params, name, run in self.handovers:
            if not unres <= params:
                continue
            out = run(fr.theta)
            if out is None:
                return
            theta, ll, conv, gmax = out
            self.fits[i] = FitResult(theta, ll, conv, gmax, fr.em_iterations, fr.qn_iterations, adapt_state=fr.adapt_state,
                                     message=f"{AT_LIMIT}{name}", limit_ll=ll,
                                     limit_fit=(conv, gmax))
            r = self.records[i]
            self.degenerate[i] = r.improper = False
            r.ll_final, r.converged, r.limit = ll, conv, name
            return

    def best_candidates(self, candidates) -> list:
        """Stage one of [(theta, origin)] on their own; the best of each origin (each class
        split, whatever its direction: an origin's text up to " by "), then the next
        :data:`SPLITS_EXTRA` best of them all."""
        out, seen, rest = [], set(), []
        for i, th in self.stage_one(list(candidates), SPLIT_STAGE1_ITER) if len(candidates) else []:
            origin = self.records[i].origin.split(" by ")[0]
            if origin not in seen:
                seen.add(origin)
                out.append((i, th))
            else:
                rest.append((i, th))
        return out + rest[:SPLITS_EXTRA]

    def perturbation(self):
        """A random perturbation of the best solution so far: (index, theta), or None."""
        if not self.fits:
            return None
        th = perturb(self.lik, self.best()[1].theta, self.rng.spawn(1)[0])
        i = self.add(th, np.nan, "perturbed best")
        return None if i is None else (i, th)

    def boundary_moves(self, n: int) -> list:
        """The ``n`` most promising :func:`boundary_moves` of the best solution so far,
        ranked by their log-likelihood (after :data:`BOUNDARY_MOVE_ITER` EM iterations):
        [(index, theta)]."""
        if not self.fits or n <= 0:
            return []
        moves = boundary_moves(self.lik, self.best()[1].theta)
        if not moves:
            return []
        opts = self.opts
        out = _run(_guarded, [(_stage1, self.lik1, self.adapt0, t, BOUNDARY_MOVE_ITER, opts.em_tol) for t, _ in moves],
                   opts, "boundary moves")
        ranked = sorted(((o[1], t, origin) for o, (t, origin) in zip(out, moves)
                         if not isinstance(o, StartFailure) and np.isfinite(o[1])), key=lambda r: -r[0])
        picked, n_across = [], 0
        for ll1, t, origin in ranked:
            across = origin.endswith(ACROSS)
            if len(picked) - n_across >= n and not (across and n_across < self.across_left):
                continue
            i = self.add(t, ll1, origin)
            if i is not None:
                picked.append((i, t))
                n_across += across and len(picked) > n
        self.across_left -= n_across
        return picked

    def best(self) -> tuple[int, FitResult]:
        """The highest completed start; a solution on an unbounded likelihood (a collapsed
        variance) loses to any proper one."""
        if not self.fits:
            errors = sorted({r.error for r in self.records if r.error}) or ["non-finite log-likelihood"]
            raise EstimationError(f"every start failed ({len(self.records)} in all): " + "; ".join(errors))
        all_degen = all(self.degenerate.values())
        i = max(self.fits, key=lambda j: -np.inf if (self.degenerate[j] and not all_degen) else self.fits[j].ll)
        return i, self.fits[i]

    def n_best(self) -> int:
        if not self.fits:
            return 0
        _, b = self.best()
        tol = _tolerance(self.opts, b.ll)
        return int(sum(abs(f.ll - b.ll) < tol for f in self.fits.values() if np.isfinite(f.ll)))

    def finish(self, t0, stopped) -> FitResult:
        i, best = self.best()
        rep = self.report
        rep.tolerance = _tolerance(self.opts, best.ll)
        rep.maxima = _maxima(self.records, rep.tolerance)
        rep.completed = len(self.fits)
        rep.converged = int(sum(f.converged for f in self.fits.values()))
        rep.n_best = self.n_best()
        rep.best_replicated = None if rep.completed < 2 else rep.n_best >= self.opts.replicate_k
        rep.best_origin = self.records[i].origin
        rep.stopped = stopped
        rep.seconds = time.perf_counter() - t0
        best.starts = self.records
        best.n_best = rep.n_best
        best.best_replicated = rep.best_replicated
        best.search = rep
        return best


#: a boundary move from one boundary to the other is named so; a coefficient beyond
#: NEAR_BOUNDARY (a probability within 0.007 of 0 or 1) is moved across, not further out
ACROSS, NEAR_BOUNDARY = " across", 5.0
#: boundary moves across the boundary completed besides the best-ranked ones, in one search (the
#: maxima confirmed in turn share them): such a move (a probability from 0 to 1) always starts far
#: below the maximum, so its log-likelihood there says little (LSAT's 4-class move to the best
#: maximum ranked 13th of 20), and a maximum has few
BOUNDARY_ACROSS = 6
#: EM iterations before the boundary moves of a maximum are ranked (0: by the log-likelihood at
#: the move itself, which put VerbAgg's move to its best maximum first of 72, where 1 or 3 EM
#: iterations cost 4 and 10 times more and ranked it no better), and how many of the best are completed
BOUNDARY_MOVE_ITER, BOUNDARY_MOVES = 0, 1


def boundary_moves(lik: MixtureLikelihood, theta: np.ndarray) -> list:
    """Neighbours of a maximum across the boundary of the parameter space: [(theta, origin)].

    Local maxima of a latent class model often differ in one conditional probability
    alone: 0 in one, inside (0, 1) in the other (VerbAgg's 3-class LCA: -4028.6114 with
    one item's probability at 0 in class 3, -4028.8038 with it at 0.03; LSAT's 4-class:
    -2461.2369 and -2461.2851 differ in which of two classes has item 2 at 0). EM moves
    towards or away from a boundary in tiny steps, so random starts reach the boundary
    maximum only when they begin in its small basin. A move sets one free class-specific
    coefficient of the linear predictor (a family with unbounded coefficients: logits,
    log-rates) to ``BOUNDARY_VALUE`` on its own side if it is inside, or to the opposite
    side if it is at or beyond ``BOUNDARY_VALUE`` (internal coordinates). Only models without
    random effects (each move is evaluated to rank it)."""
    L = lik.layout
    if lik.D > 0 or lik.K < 2 or not lik.family.unbounded_coefficients:
        return []
    idx = [i for i, full in enumerate(L.first_full) if L.block_of(full) == "beta" and np.isfinite(theta[i])]
    theta = theta.copy()  # estimates far beyond the boundary value: at it (the same probabilities)
    theta[idx] = np.clip(theta[idx], -BOUNDARY_VALUE, BOUNDARY_VALUE)
    out = []
    for i in idx:
        v = theta[i]
        across = abs(v) >= NEAR_BOUNDARY
        t = theta.copy()
        t[i] = -np.sign(v) * BOUNDARY_VALUE if across else (np.sign(v) or 1.0) * BOUNDARY_VALUE
        out.append((t, f"boundary move of {L.labels[i]}" + (ACROSS if across else "")))
    return out


#: random starts completed in round one when every structured start (at least ``replicate_k``)
#: ran to one boundary limit and was finished there (:meth:`_Search.hand_over`), instead of
#: ``n_final``: the simpler models' starts agree, and the best-ranked random starts still look
#: for a maximum elsewhere (one found sends the search on as usual). Table 3's Model 6: 8
#: completions instead of 11, all at the between limit. None: always ``n_final``
LIMIT_ROUND_RANDOM = 2


#: models whose completions are costly (a stage one of fewer than :data:`STAGE1_MAX` starts: random
#: effects) complete round one's random starts in pairs, best-ranked first, and an extension round's
#: perturbations of the best before its pool starts, each only while the best is not replicated
#: (``replicate_k``). The VerbAgg FMA: 5 completions instead of 8; its FMA-GoM 13 instead of 18.
#: False: every random start of a round at once
REPLICATED_STOP = True


#: random starts completed in round one with split starts (their best splits, :data:`SPLITS_EXTRA`)
#: instead of ``n_final``
SPLIT_ROUND_RANDOM = 4


def _one_limit(S: _Search, items) -> bool:
    """Whether the completed starts ``items`` all ran to the same boundary limit, and are at
    least ``replicate_k``."""
    limits = {S.records[i].limit for i, _ in items}
    return len(items) >= S.opts.replicate_k and len(limits) == 1 and None not in limits


def adaptive_search(S: _Search, centres, pending, t0, n_split: int = 0) -> str:
    """The ``starts="auto"`` search; returns why it stopped (see the module docstring).

    Round one: every structured start and the best ``n_final`` (:data:`LIMIT_ROUND_RANDOM` when
    the structured starts all ran to one boundary limit; :data:`SPLIT_ROUND_RANDOM` when split
    starts are completed with them) of :func:`stage1_size` stage-one starts (perturbations of
    the data-based centre and of the structured starts in turn; half as many when split starts
    (``n_split``) went through a stage one of their own) are completed. While the best
    log-likelihood has fewer than ``replicate_k`` completed starts: the next ``n_final`` of the
    stage-one ranking (its better half; then a fresh stage-one batch) and two perturbations of
    the best solution so far are completed, until ``max_completed`` or ``max_time`` is reached.
    A cheap model (a full stage one, :data:`STAGE1_MAX`) whose best is replicated completes the
    :data:`BOUNDARY_MOVES` best-ranked :func:`boundary_moves` of it and its moves across the
    boundary (:data:`BOUNDARY_ACROSS` in the whole search), one at a time (two perturbations of
    the best for a model without such moves): a rival maximum reached by many random starts
    can hide a better one with a small basin next to it (VerbAgg's 3-class LCA: -4028.8038 and
    -4028.6114), which such moves find; a better one found that way ends the moves of the one
    it leaves and must then be replicated and confirmed in turn. A cheap model's extension
    rounds complete perturbations of the best alone, one at a time until one replicates it,
    while the previous round made progress (raised the best log-likelihood or its count of
    starts): they replicate a maximum, where random starts rarely reach one with a small basin.
    A costly model (fewer than :data:`STAGE1_MAX` stage-one starts) completes round one's random
    starts in pairs and an extension round's perturbations before its pool starts, each only while
    the best is not replicated (:data:`REPLICATED_STOP`).
    The order of the completions does not depend on ``n_jobs``.
    """
    lik, opts = S.lik, S.opts
    n1 = stage1_size(lik)
    batch = max(1, opts.n_final)

    def fresh_pool(n=n1):
        ranked = S.stage_one(S.draw(centres, n), keep=max(batch, n // 2))
        return ranked[: max(batch, len(ranked) // 2)]

    pool = fresh_pool(n1 // 2 if n_split else n1)  # split starts had their stage one: half as many random
    n_random = min(batch, SPLIT_ROUND_RANDOM) if n_split else batch
    cheap = n1 >= STAGE1_MAX
    by_pairs = REPLICATED_STOP and not cheap  # costly completions stop once the best is replicated
    if (LIMIT_ROUND_RANDOM is not None and S.handovers or by_pairs) and pending:  # structured starts first
        S.complete(pending)
        if LIMIT_ROUND_RANDOM is not None and _one_limit(S, pending):
            n_random = min(batch, LIMIT_ROUND_RANDOM)
        pending = []
    first, pool = pool[:n_random], pool[n_random:]
    if by_pairs:  # the random starts in pairs, best-ranked first, until the best is replicated
        for a in range(0, len(first), 2):
            S.complete(first[a:a + 2])
            if S.n_best() >= opts.replicate_k:
                pool = first[a + 2:] + pool
                break
    else:
        S.complete(pending + first)
    budget_time = opts.max_time if opts.max_time is not None else max(5.0, 2.0 * (time.perf_counter() - t0))
    confirm = cheap  # cheap models (a full stage one) also try to leave every replicated maximum
    progress = cheap  # the last round raised the best or its count: perturbations alone next
    while S.n_best() < opts.replicate_k or confirm:
        if S.n_best() >= opts.replicate_k:
            ll_before = S.best()[1].ll
            better = lambda: S.best()[1].ll >= ll_before + _tolerance(opts, ll_before)  # noqa: E731
            # a model without boundary moves (random effects) tries two perturbations of the best
            moves = S.boundary_moves(BOUNDARY_MOVES)
            if not moves:
                S.complete([it for it in (S.perturbation() for _ in range(2)) if it is not None])
            for it in moves:  # one at a time: a better maximum ends the moves of this one
                S.complete([it])
                if better():
                    break
            if not better():
                break
            continue  # a better maximum: replicate it, then confirm it in turn
        if S.n_tried >= opts.max_completed:
            return f"budget: {opts.max_completed} completed starts"
        if time.perf_counter() - t0 > budget_time:
            return f"budget: {budget_time:.1f} s"
        if not pool:
            pool = fresh_pool()
        room = opts.max_completed - S.n_tried
        before = (S.best()[1].ll, S.n_best())
        gained = lambda: S.best()[1].ll >= before[0] + _tolerance(opts, before[0]) or S.n_best() > before[1]  # noqa: E731
        if progress:
            # perturbations alone, one at a time: the first that replicates the best ends the round
            for it in (S.perturbation() for _ in range(min(2, room))):
                if it is not None:
                    S.complete([it])
                if S.n_best() >= opts.replicate_k or gained():
                    break
        else:
            take = [it for it in (S.perturbation() for _ in range(min(2, room))) if it is not None]
            n = max(0, min(batch, room - len(take)))
            if by_pairs:  # the perturbations first: the pool only if they do not replicate the best
                S.complete(take)
                take, n = [], 0 if S.n_best() >= opts.replicate_k else n
            take, pool = take + pool[:n], pool[n:]
            if take:
                S.complete(take)
        progress = cheap and gained()
    return f"best log-likelihood reached by {S.n_best()} starts"


def estimate(lik: MixtureLikelihood, opts: FitOptions, start_params=None, structured=(), limits=(),
             candidates=()) -> FitResult:
    """Maximum-likelihood estimation with a start search; see the module docstring.

    ``structured``: [(theta, origin)] starting values built from simpler models (completed
    without stage one, and centres of random starts). ``candidates``: [(theta, origin)]
    further starting values (splits of the K - 1 class solution), ranked by a stage one of
    their own; the best of each origin (each class split) and the next best
    (:data:`SPLITS_EXTRA`) are completed with the first
    round. ``limits``: [(theta, model)] points at which this model equals a simpler one it
    nests as a boundary limit (a variance to infinity, a class proportion to 0): each is
    evaluated, and one above every completed start is reported instead (the nesting
    guarantee), with a boundary warning. A limit may carry a third entry, its exact
    log-likelihood (the simpler model's maximum) where quadrature cannot evaluate the
    boundary point accurately (a class logit with an SD of 1e3 is a step function); it is
    used when the quadrature value agrees within 1; a fourth, (converged, max |gradient|) of
    the simpler model's fit, is then the reported fit's convergence (the gradient of this
    model at the boundary point is the quadrature's, not zero, and says nothing there); a
    fifth, ``run(theta) -> (theta, loglik, converged, max |gradient|)`` or None, finishes a
    completed start that runs towards this limit in the limit's model (:meth:`_Search.hand_over`;
    such starts are stopped early, :class:`Runaway`).

    The search runs on internal coordinates of unit scale (:mod:`glmmix.scaling`);
    ``start_params``, the structured starts and limits, and the returned ``theta`` are on
    the original scale.

    ``lik`` is not changed: the search runs on copies with their own adaptive-quadrature
    state, and the returned ``adapt_state`` is the one belonging to ``theta``
    (``lik.adaptation()``); the caller decides whether to keep it (``lik.restore``).
    """
    if lik.design.n_represented is None:  # (the distinct clusters of a design checked before)
        check_identified(lik)
    slik, rs = internal(lik)
    if slik is not lik:
        fr = estimate(slik, opts, None if start_params is None else rs.to_internal(start_params),
                      [(rs.to_internal(t), o) for t, o in structured], [_internal_limit(lim, rs) for lim in limits],
                      [(rs.to_internal(t), o) for t, o in candidates])
        fr.theta = rs.to_external(fr.theta)
        return fr
    merged = on_distinct_clusters(lik)  # clusters with the same data, once each (glmmix.copies)
    if merged is not None:
        fr = estimate(merged[0], opts, start_params, structured, limits, candidates)
        fr.adapt_state = merged[1](fr.adapt_state)
        return fr
    lik = _own_state(lik, lik.integ.adaptation())
    t0 = time.perf_counter()
    if lik.layout.n_free == 0:  # everything fixed: evaluate only
        return _evaluate_only(lik, t0)
    # limits that can finish a start running to them (a fifth entry): the parameters at their boundary
    handovers = [(frozenset(unresolved_params(lik, np.asarray(t, float))), m[0], m[3]) for t, *m in limits
                 if len(m) > 3 and m[3] is not None]
    # the nesting guarantee reports an exact limit (a simpler model's maximum) unless a start beats it:
    # maxima of a coarse search far below it need no re-converging (polish)
    floor = max((float(m[1]) for _, *m in limits if len(m) > 1 and m[1] is not None and np.isfinite(m[1])),
                default=-np.inf)
    best = search(lik, opts, start_params, structured, t0, candidates, [h for h in handovers if h[0]], floor)
    _warn_unreplicated(best, opts)
    best = _nesting_guarantee(lik, best, limits, opts)
    return finish(lik, best, opts)


def _internal_limit(lim, rs):
    """A limit of :func:`estimate` on internal coordinates (its ``run``, if any, wrapped)."""
    t, *m = lim
    if len(m) > 3 and m[3] is not None:
        m[3] = _InternalRun(m[3], rs)
    return (rs.to_internal(t), *m)


@dataclass(frozen=True)
class _InternalRun:
    """A limit's ``run`` (original scale) called on internal coordinates."""

    run: object
    rs: Rescaling

    def __call__(self, theta):
        out = self.run(self.rs.to_external(theta))
        return None if out is None else (self.rs.to_internal(out[0]), *out[1:])


def complete_start(lik, theta, opts: FitOptions) -> FitResult | None:
    """One start of ``lik`` completed (:func:`converge`, EM and BFGS) on internal coordinates
    and on its own copy of the adaptation state; ``theta`` and the result on the original
    scale. None if it failed numerically or ended on a non-finite log-likelihood."""
    slik, rs = internal(lik)
    fr = _guarded(converge, slik, slik.integ.adaptation(), rs.to_internal(np.asarray(theta, float)), opts)
    if isinstance(fr, StartFailure) or not np.isfinite(fr.ll):
        return None
    fr.theta = rs.to_external(fr.theta)
    return fr


def _evaluate_only(lik, t0) -> FitResult:
    """The fit of a model without free parameters: its log-likelihood."""
    th = np.zeros(0)
    ll = lik.adapt(th) if lik.integ.adaptive else lik.loglik(th)
    rep = SearchReport("single", drawn=1, completed=1, converged=1, n_best=1, stopped="nothing to estimate",
                       maxima=[{"loglik": float(ll), "starts": 1, "converged": 1, "origins": ["given"]}],
                       best_origin="given", seconds=time.perf_counter() - t0)
    return FitResult(th, ll, True, 0.0, 0, 0, [StartRecord(0, ll, ll, True, origin="given")], None, 1, search=rep,
                     adapt_state=lik.adaptation())


def search(lik: MixtureLikelihood, opts: FitOptions, start_params, structured, t0, candidates=(),
           handovers=(), floor: float = -np.inf) -> FitResult:
    """The start search (steps 1 to 3 of the module docstring): the best completed start,
    with the search report. ``handovers``: see :meth:`_Search.hand_over`; ``floor``: the
    exact log-likelihood of a boundary limit (:func:`polish`).

    A search on the shared trapezoid rule of an adaptive model (:func:`_shared_search`) whose
    best maximum moves by more than :data:`SHARED_SEARCH_TOL` when re-converged on the model's
    rule ranked its maxima on a rule that does not resolve them: it is run again on the model's
    rule (as with ``FitOptions(coarse_search=False)``)."""
    single = (lik.K == 1 and opts.adaptive) or (not opts.adaptive and opts.n_starts <= 0)
    slik = lik if single else search_likelihood(lik, opts)
    S, stopped = _search_on(slik, lik, opts, start_params, structured, t0, candidates, handovers, single)
    if S.lik is not lik:
        shared = _base(slik).integ.adaptive != _base(lik).integ.adaptive
        beyond = shared and _beyond_shared_rule(S, lik)
        offset = None if beyond else polish(S, lik, floor)
        if shared and (beyond or offset is None or abs(offset) > SHARED_SEARCH_TOL):
            say(opts.verbose, "the shared rule does not resolve the best maxima: searching again on the model's rule")
            S, stopped = _search_on(lik, lik, opts, start_params, structured, t0, candidates, handovers, single)
    return S.finish(t0, stopped)


def _beyond_shared_rule(S: _Search, lik) -> bool:
    """Whether a start that is improper on the shared search rule (a loading beyond its
    :func:`re_limit`) but not on the model's adaptive rule (:data:`HUGE_RE`) ended above the
    best proper maximum of the search: on the adaptive rule it may be a proper maximum that
    the shared rule cannot resolve."""
    proper = [f.ll for j, f in S.fits.items() if not S.degenerate[j]]
    top = max(proper, default=-np.inf)
    return any(S.degenerate[j] and f.ll > top and not improper(lik, f.theta) for j, f in S.fits.items())


def _search_on(slik, lik, opts: FitOptions, start_params, structured, t0, candidates, handovers, single):
    """The start search of :func:`search` on the likelihood ``slik`` (``lik`` or its search
    rule's): the search's book-keeping and how it stopped."""
    rng = np.random.default_rng(opts.seed)
    center = homogeneous_start(lik) if start_params is None else np.asarray(start_params, float)
    K = lik.K
    # one class: one start unless random starts are asked for (starts=(n, k)); they then vary
    # the scale parameters too, where a one-class likelihood can have rival maxima
    S = _Search(slik, opts, rng, "single" if single else ("auto" if opts.adaptive else "fixed"), handovers)
    if single:
        origin = "given" if start_params is not None else "centre"
        if K > 1 and start_params is None:
            # the data-based centre (every class alike) is a stationary point, a saddle, of a
            # mixture likelihood: one start means one perturbation of it
            center = perturb(lik, center, rng)
            origin = "perturbed centre"
        i = S.add(center, lik.loglik(center), origin)
        S.complete([(i, center)])
        stopped = "one start requested"
    else:
        pending = []
        centres = [(center, "given" if start_params is not None else "centre")]
        if start_params is not None:
            pending.append((S.add(center, np.nan, "given"), center))
        for th, origin in structured:
            i = S.add(th, np.nan, origin)
            if i is not None:
                pending.append((i, th))
                centres.append((th, origin))
        if opts.adaptive:
            stopped = adaptive_search(S, centres, pending + S.best_candidates(candidates), t0, len(candidates))
        else:
            pending += S.best_candidates(candidates)
            # Step 2: stage one, partial optimization of every random start.
            cand = S.draw(centres, opts.n_starts)
            if opts.n_final >= len(cand):  # every start completed anyway: no stage one
                items = [(S.add(c, np.nan, o), c) for c, o in cand]
                items = [it for it in items if it[0] is not None]
            else:
                items = S.stage_one(cand, keep=max(1, opts.n_final))
            # Step 3: complete the best few (and every given or structured start).
            S.complete(pending + items[: max(1, opts.n_final)])
            stopped = f"fixed: {len(S.fits)} completed as requested"
    return S, stopped


def _warn_unreplicated(best: FitResult, opts: FitOptions) -> None:
    """Report the search; a :class:`ConvergenceWarning` when the best was not replicated."""
    rep = best.search
    say(opts.verbose, f"best log-likelihood {best.ll:.4f}, reached by {rep.n_best} of {rep.completed} completed "
                      f"start(s); {rep.stopped}")
    if rep.best_replicated is False:
        msg = (
            f"the best log-likelihood {best.ll:.4f} was reached by only {rep.n_best} of {rep.completed} completed "
            f"starts ({rep.stopped}); it may be a local maximum: "
            + ("raise FitOptions(max_completed=, max_time=)" if opts.adaptive else "increase starts=(n_starts, n_final)")
        )
        best.warnings.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)


def finish(lik: MixtureLikelihood, best: FitResult, opts: FitOptions) -> FitResult:
    """Step 4: canonical class order, then boundary estimates, degeneracy and convergence
    warnings. ``best.adapt_state`` becomes the adaptation belonging to the final ``theta``."""
    if best.adapt_state is not None:  # the nodes this start was fitted with
        lik = _own_state(lik, best.adapt_state)
    theta0, ll0 = best.theta, best.ll
    state0 = lik.integ.adaptation()
    best.theta = normalize_signs(lik, canonical_order(lik, best.theta))
    if lik.integ.adaptive and lik.D > 0:
        best.ll = lik.adapt(best.theta)
        if best.ll < ll0 - 1e-6:  # re-adaptation failed (extreme estimates): keep the fitted state
            best.theta = theta0
            lik = _own_state(lik, state0)
            best.ll = lik.loglik(theta0)
    best.boundary = find_boundary(lik, best.theta)
    # the residual SDs among the boundary estimates are Heywood cases (find_boundary)
    held = [i for i in best.boundary if lik.family.has_residual_sd
            and lik.layout.block_of(lik.layout.first_full[i]) == "extra"]
    if held:
        _polish_interior(lik, best, held, opts)
    if best.boundary:
        _boundary_warning(lik, best, opts, heywood=bool(held))
    singular = singular_terms(lik, best.theta)
    if singular:
        msg = (f"singular fit: the covariance of the random term(s) {singular} is singular (an SD of 0, a "
               "correlation of +-1 or vanishing loadings), as lme4's isSingular(): the data do not support that "
               "random effect in full; its standard errors and tests of it are at the boundary of the parameter space")
        best.warnings.append(msg)
        warnings.warn(msg, BoundaryWarning, stacklevel=4)
    if best.limit_ll is not None:  # the exact value, not the quadrature's at the boundary point
        best.ll = best.limit_ll
    if best.limit_fit is not None:
        # an exact limit is a maximum of the limiting model: its convergence is that model's fit's.
        # The quadrature's gradient at the boundary point is not zero (the rule cannot resolve the
        # step a class logit with an SD of 1e3 makes), and is no sign of non-convergence.
        best.converged, best.grad_max = best.limit_fit
    unres = unresolved_params(lik, best.theta) if best.limit_ll is None and not best.message.startswith(
        AT_LIMIT) else []
    if unres:  # every completed start ended there (a proper one would have been preferred)
        msg = unresolved_message(lik, unres, best.ll)
        best.warnings.append(msg)
        warnings.warn(msg, IntegrationAccuracyWarning, stacklevel=4)
    else:
        _warn_runaway_above(lik, best)
    collapsed = degenerate_params(lik, best.theta)
    if collapsed:
        msg = degenerate_message(collapsed)
        best.converged = False
        best.warnings.append(msg)
        warnings.warn(msg, DegenerateLikelihoodWarning, stacklevel=4)
    # at an exact limit the convergence is the limiting model's fit's (above): this model's
    # Newton step at the boundary point does not overrule it
    elif not best.converged and (best.limit_fit is not None or not _newton_converged(lik, best)):
        msg = (
            f"the optimizer did not converge (max |gradient| = {best.grad_max:.3g}; {best.message}); "
            "estimates and standard errors may be unreliable"
        )
        best.warnings.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
    if best.limit_ll is None:  # an exact limit's log-likelihood does not come from the rule
        check_rule(lik, best)
    best.adapt_state = lik.adaptation()  # the state the checks above left (MixtureLikelihood.restore)
    return best


# ----------------------------------------------------------------------------- coarse search
#: the start search runs on a coarser rule when one evaluation fills at least this many
#: (pattern or cluster, class, node) cells on the accurate rule
COARSE_SEARCH_CELLS = 1e5
#: maxima of the coarse search within this of the best (after the coarse rule's offset)
#: are re-converged on the accurate rule, at most POLISH_MAX of them
POLISH_WINDOW = 1.0
POLISH_MAX = 3


def evaluation_cells(lik) -> float:
    """Cells one evaluation fills: (patterns x classes + cluster patterns) x nodes."""
    base = lik.base if isinstance(lik, ScaledLikelihood) else lik
    return float(base.n_patterns * base.K + base.n_cluster_patterns) * base.integ.n_nodes


#: an adaptive rule in one dimension searches on the trapezoid rule with this many points on
#: [-6, 6] (step 0.2: outcome loadings up to 20 resolved, :func:`re_limit`) when every cluster's
#: nodes are then shared ...
SHARED_SEARCH_POINTS = 61
#: ... and one evaluation on it fills at most this share of the adaptive rule's cells
SHARED_SEARCH_SHARE = 0.25
#: ... and its best maximum re-converged on the adaptive rule moves by at most this (else the
#: search is run again on the model's rule: :func:`search`)
SHARED_SEARCH_TOL = 0.05


def _shared_search(lik):
    """``lik`` on the shared trapezoid rule of :data:`SHARED_SEARCH_POINTS` points, for an
    adaptive Gauss-Hermite rule in one dimension whose evaluation costs per row (each cluster's
    own nodes) while on shared nodes the rows' patterns merge (the VerbAgg FMA's 7,584 rows are
    48 item-response patterns: 0.9-1.4 ms per evaluation with gradient against 7.3 ms on 15
    adaptive nodes); None if it is not at most :data:`SHARED_SEARCH_SHARE` of the cells."""
    integ = _base(lik).integ
    if not (integ.adaptive and integ.method == "agh" and integ.D == 1):
        return None
    if _distinct_rows_exceed(_base(lik).design, SHARED_SEARCH_SHARE * evaluation_cells(lik)
                             / (SHARED_SEARCH_POINTS * _base(lik).K)):
        return None  # too few could merge: not built (its row patterns are a pass over the rows and memory)
    shared = _on_rule(lik, Integration.make("trapezoid", SHARED_SEARCH_POINTS, 1, integ.m.shape[0], adaptive=False))
    return shared if evaluation_cells(shared) <= SHARED_SEARCH_SHARE * evaluation_cells(lik) else None


def _distinct_rows_exceed(design, bound: float) -> bool:
    """Whether some dense column of the fixed design takes more than ``bound`` values in the
    first bound + 1 rows: then the rows form more than ``bound`` patterns on any rule (a GLMM
    with a continuous covariate), counted without building them."""
    X = getattr(design, "X", None)
    if not isinstance(X, np.ndarray) or X.ndim != 2 or bound >= X.shape[0]:
        return False
    head = X[: int(bound) + 1]
    return any(np.unique(head[:, j]).size > bound for j in range(X.shape[1]))


def search_likelihood(lik, opts: FitOptions):
    """The likelihood the start search runs on: ``lik`` itself, or, when one evaluation is
    large (:data:`COARSE_SEARCH_CELLS`), the same likelihood on ``Integration.coarse()``
    (about half the points per dimension) or, for an adaptive rule in one dimension, on a
    shared trapezoid rule (:func:`_shared_search`). Stage one and the completions then rank
    the starting values on that rule, and :func:`polish` re-converges the best maxima on
    the accurate one, so every reported number is the accurate rule's."""
    if not opts.coarse_search or evaluation_cells(lik) < COARSE_SEARCH_CELLS:
        return lik
    return _on_rule(lik, _base(lik).integ.coarse()) or _shared_search(lik) or lik


def _base(lik):
    return lik.base if isinstance(lik, ScaledLikelihood) else lik


def _on_rule(lik, integ):
    """``lik`` (scaled or not) on another integration rule; None if ``integ`` is None."""
    if integ is None:
        return None
    new = _base(lik).with_integration(integ)
    return ScaledLikelihood(new, lik.rescaling) if isinstance(lik, ScaledLikelihood) else new


#: a fit whose log-likelihood moves by more than this on the refined rule is flagged
RULE_TOL = 1e-3
#: ... on Gauss-Hermite's check (1.5 times the points): ordinary fits move by a few 1e-3 there
#: (the within_between_cd vignette's 15-point rule: -2133.5717, on 22 points -2133.5735), far
#: below what changes an inference; unresolved integrals move by 0.1 and more (the skewed
#: random-intercept logit of :func:`check_rule`: 0.12)
GH_RULE_TOL = 1e-2


def check_rule(lik, best: FitResult) -> None:
    """Honesty of a non-adaptive trapezoid rule or of Gauss-Hermite: the log-likelihood at the
    estimates on ``Integration.refined()`` (the trapezoid rule's nodes and midpoints; for
    Gauss-Hermite about 1.5 times the points per dimension, adapted to the estimates) must
    agree to :data:`RULE_TOL` (Gauss-Hermite: :data:`GH_RULE_TOL`); else an
    :class:`IntegrationAccuracyWarning` names both values. (Measured: VerbAgg's FMA-GoM on
    31 x 31 points reached -3888.05 with loadings above 100, where the factor's posterior is far
    narrower than the step 0.4; the same estimates give -3902.6 on 61 x 61 and -3906.8 on
    91 x 91 points. A random-intercept logit with SD 6.4 and
    25 of 40 clusters all 0 or all 1: adaptive Gauss-Hermite with 25 points reported -123.0018,
    0.085 above the exact maximum -123.0865 by R's integrate(), the SD 6.65 for 6.45, without
    a warning; the check's 37 points give -123.1220.)"""
    integ = _base(lik).integ
    refined = integ.refined()
    fine = _on_rule(lik, refined)
    if fine is None:
        return
    # an adaptive rule is adapted to the estimates first (from this rule's nodes)
    ll_fine = float(fine.adapt(best.theta) if refined.adaptive else fine.loglik(best.theta))
    best.ll_refined = ll_fine
    on_gh = integ.method in ("agh", "gh")  # refined() checks these and the trapezoid rule
    if abs(ll_fine - best.ll) <= (GH_RULE_TOL if on_gh else RULE_TOL):
        return
    why = ("the random effects' posteriors are far from normal (e.g. a large SD with clusters whose outcomes "
           "are all 0 or all 1, or few rows per cluster)" if on_gh else
           "a latent variable's posterior is narrower than the rule's step (large loadings or SDs)")
    msg = (f"the {integ.method} rule with {integ.n_points} points per dimension does not resolve the integrals at "
           f"the estimates: the log-likelihood is {best.ll:.4f} on it and {ll_fine:.4f} with "
           f"{refined.n_points} points per dimension; {why}, so the estimates and log-likelihood are not "
           "reliable: refit with more points (n_points=) and compare")
    best.warnings.append(msg)
    warnings.warn(msg, IntegrationAccuracyWarning, stacklevel=4)


def polish(S: _Search, lik, floor: float = -np.inf) -> float | None:
    """Re-converge the coarse search's best distinct maxima on the accurate rule ``lik``.

    Each maximum's best start is completed again (EM and BFGS) from its coarse optimum; every
    start that reached that maximum gets the accurate log-likelihood. Proper maxima (not on
    an unbounded likelihood, see :meth:`_Search.best`) are taken best first while their
    coarse log-likelihood, moved by the coarse rule's offset at the first one, is within
    :data:`POLISH_WINDOW` of the best accurate one, or of ``floor`` if higher (the exact
    log-likelihood of a boundary limit, which the nesting guarantee reports unless a start
    beats it: the vignette's VerbAgg FMA-GoM on 61^2 nodes re-converged a second maximum 6.4
    below its FMA limit, 2 s of CPU), at most :data:`POLISH_MAX` of them. The others
    keep the search rule's log-likelihood, and so that none of them can be reported, any
    that would be is re-converged too. ``S.report.rule`` says which rules were used. Returns
    the accurate rule's log-likelihood less the search rule's at the first maximum
    re-converged (None if none was)."""
    coarse, opts = S.lik, S.opts
    groups: list[list[int]] = []
    for i in sorted(S.fits, key=lambda j: -S.fits[j].ll):
        lead = groups[-1][0] if groups else None
        if lead is not None and S.fits[lead].ll - S.fits[i].ll < _tolerance(opts, S.fits[lead].ll):
            groups[-1].append(i)
        else:
            groups.append([i])
    group_of = {i: g for g in groups for i in g}
    all_degen = all(S.degenerate[g[0]] for g in groups)
    S.lik = lik
    # a coarse rule that is not adaptive (the shared trapezoid of an adaptive model's search) has
    # no adaptation to pass on: the accurate rule's completions begin from its own
    state0 = lik.integ.adaptation() if lik.integ.adaptive and not coarse.integ.adaptive else None
    done: set[int] = set()
    state = {"offset": None, "best": -np.inf, "n": 0}

    def redo(members):
        old = S.fits[members[0]]
        start = state0 if state0 is not None else old.adapt_state if old.adapt_state is not None else S.adapt0
        new = _guarded(converge, lik, start, old.theta, opts,
                       *(() if S.runaway is None else (S.runaway,)))
        state["n"] += 1
        done.update(members)
        if isinstance(new, StartFailure) or not np.isfinite(new.ll):
            for j in members:
                S.records[j].error = new.error if isinstance(new, StartFailure) else "non-finite log-likelihood"
                del S.fits[j]
            return
        if state["offset"] is None:
            state["offset"] = new.ll - old.ll
        state["best"] = max(state["best"], new.ll)
        degen = improper(lik, new.theta)
        for j in members:
            S.fits[j], S.degenerate[j] = new, degen
            S.records[j].improper = degen
            S.records[j].runaway = degen and not degenerate_params(lik, new.theta)
            S.records[j].ll_final, S.records[j].converged = new.ll, new.converged

    for members in groups:
        if S.fits[members[0]].limit_ll is not None:  # finished at a boundary limit: exact, on no rule
            done.update(members)
            continue
        if S.degenerate[members[0]] and not all_degen:
            continue
        if state["offset"] is not None and (state["n"] >= POLISH_MAX or S.fits[members[0]].ll + state["offset"]
                                            < max(state["best"], floor) - POLISH_WINDOW):
            break
        redo(members)
    while S.fits:  # whatever would be reported must have been re-converged
        i, _ = S.best()
        if i in done:
            break
        redo(group_of[i])
    ci, ai = coarse.integ, lik.integ
    S.report.rule = (f"starts searched on {ci.method} {ci.n_points}^{ci.D} ({ci.n_nodes} nodes); the best "
                     f"{state['n']} maxima re-converged on {ai.method} {ai.n_points}^{ai.D} ({ai.n_nodes} nodes)")
    return state["offset"]


#: a fit whose gradient test fails is converged when a Newton step from its estimates would
#: raise the log-likelihood by less than this (g' H^-1 g / 2 with the observed information)
NEWTON_GAIN_TOL = 1e-7


def _newton_converged(lik, best: FitResult) -> bool:
    """The gradient test of convergence (max |gradient| per cluster) is in the parameters'
    units, not the information's: with large counts a cluster's information is huge, and a
    gradient of 1e-3 is an error of 1e-10 in the estimates (measured: Poisson counts near
    8,000, max |gradient| 6.6e-4 at glmer's estimates to 1e-7). Here the fit is converged
    when the information (over the parameters not on the boundary) is positive definite
    and the Newton step's predicted gain, which no linear reparameterization changes, is below
    :data:`NEWTON_GAIN_TOL`; ``best.converged`` is set so."""
    keep = np.setdiff1d(np.arange(best.theta.size), best.boundary)
    if keep.size == 0 or not np.isfinite(best.ll):
        return False
    slik, rs = internal(lik)  # differences on internal coordinates of unit scale (scaling.py)
    th = rs.to_internal(best.theta) if slik is not lik else best.theta
    g = slik.gradient(th)[keep]
    info = -numeric_hessian(slik.gradient, th, keep)
    if not np.isfinite(info).all() or not np.isfinite(g).all():
        return False
    w = np.linalg.eigvalsh(0.5 * (info + info.T))
    if w[0] <= 1e-9 * max(1.0, abs(w[-1])):
        return False
    gain = 0.5 * float(g @ np.linalg.solve(info, g))
    if gain < NEWTON_GAIN_TOL:
        best.converged = True
        return True
    return False


def _polish_interior(lik, best: FitResult, held, opts: FitOptions, max_iter: int = 8) -> None:
    """Newton steps on the parameters not in ``held`` (residual SDs at 0, Heywood cases),
    those held where the fit left them. Quasi-Newton stops short of the maximum there: the
    SD's direction makes the problem ill-conditioned, while with it held the other
    parameters' information is regular. Each step is accepted only if the log-likelihood
    (re-adapted) does not fall."""
    keep = np.setdiff1d(np.arange(best.theta.size), held)
    th = best.theta.copy()
    ll = lik.adapt(th) if lik.integ.adaptive else lik.loglik(th)
    tol = max(opts.gtol, 1e-8) * lik.design.n_scale
    for _ in range(max_iter):
        g = lik.gradient(th)[keep]
        if np.abs(g).max() < tol:
            break
        try:
            step = np.linalg.solve(-numeric_hessian(lik.gradient, th, keep), g)
        except np.linalg.LinAlgError:
            break
        for a in (1.0, 0.5, 0.25, 0.125):
            t = th.copy()
            t[keep] += a * step
            state = lik.adaptation()
            llt = lik.adapt(t) if lik.integ.adaptive else lik.loglik(t)
            if np.isfinite(llt) and llt >= ll - 1e-10:
                th, ll = t, llt
                break
            lik.restore(state)
        else:
            break
    best.theta, best.ll = th, float(ll)


def _boundary_warning(lik, best: FitResult, opts: FitOptions, heywood: bool = False) -> None:
    """Warn about estimates on the boundary; judge convergence on the other parameters."""
    names = [lik.layout.labels[i] for i in best.boundary]
    kinds = "an infinite variance or loading" + (", a residual SD of 0 (a Heywood case)" if heywood else "")
    msg = (
        f"{len(names)} estimate(s) ran to the boundary of the parameter space (a probability of "
        f"0 or 1, an empty category or class, {kinds}): {names}. They are "
        "held at their current value and get no standard error."
    )
    best.warnings.append(msg)
    warnings.warn(msg, BoundaryWarning, stacklevel=5)
    # convergence is judged on the parameters that are not running off to infinity
    g = lik.gradient(best.theta)
    keep = np.ones(g.size, bool)
    keep[best.boundary] = False
    best.grad_max = float(np.abs(g[keep]).max()) if keep.any() else 0.0
    best.converged = best.grad_max / lik.design.n_scale < max(opts.gtol * 10, 1e-5)


def _nesting_guarantee(lik, best: FitResult, limits, opts) -> FitResult:
    """Evaluate each boundary limit; report one above the best completed start instead."""
    if not limits:
        return best
    rep = best.search
    adaptive = lik.integ.adaptive and lik.D > 0
    ev = _own_state(lik, lik.integ.adaptation())  # the limits are evaluated in turn on a copy
    top, top_ll = None, best.ll
    for theta, model, *exact in limits:
        theta = np.asarray(theta, float)
        ll = float(ev.adapt(theta) if adaptive else ev.loglik(theta))
        entry = {"model": model, "loglik": ll, "used": False}
        # an exact limit value (the limiting model's own maximum) is the supremum this model
        # approaches; the rule at the boundary point may fall short of it (it cannot resolve an
        # integrand that a huge SD makes a step function: the probit FMA-GoM on ability puts its
        # FMA limit 3.1 below), never rise far above it unless the limit were mapped wrongly
        if exact and exact[0] is not None and ll - exact[0] < 1.0:
            entry.update(loglik=float(exact[0]), evaluated=ll)
            if len(exact) > 1 and exact[1] is not None:  # the limiting model's fit: converged, max |gradient|
                entry.update(converged=bool(exact[1][0]), grad_max=float(exact[1][1]))
            ll = float(exact[0])
        rep.limits.append(entry)
        # an exact limit wins by 1e-6; an evaluated one by the replication tolerance
        if np.isfinite(ll) and ll > max(top_ll, best.ll + (1e-6 if "evaluated" in entry else rep.tolerance)):
            top, top_ll = (theta, ev.integ.adaptation(), len(rep.limits) - 1), ll
    if top is None:
        if best.limit_fit is not None and best.message.startswith(AT_LIMIT):  # a start finished at a limit
            name = best.message[len(AT_LIMIT):]
            for entry in rep.limits:
                if entry["model"] == name:
                    entry.update(used=True, reached=True)
            msg = (f"the best completed start ran to the model's boundary limit {name} and was finished in that "
                   f"model ({best.ll:.4f}); the limit is reported (its boundary parameters are named below)"
                   + _limit_fit_note(*best.limit_fit))
            best.warnings.append(msg)
            warnings.warn(msg, BoundaryWarning, stacklevel=4)
        return best
    theta, astate, j = top
    lim = rep.limits[j]
    lim["used"] = True
    g = lik.gradient(theta) if not adaptive else lik.loglik_and_grad(theta)[1]
    new = FitResult(theta, top_ll, True, float(np.abs(g).max()) if g.size else 0.0, 0, 0, best.starts,
                    best.best_replicated, best.n_best, warnings=list(best.warnings), adapt_state=astate,
                    search=rep, message=f"{AT_LIMIT}{lim['model']}",
                    limit_ll=top_ll if "evaluated" in lim else None,
                    limit_fit=(lim["converged"], lim["grad_max"]) if "converged" in lim else None)
    msg = (f"the best completed start ({best.ll:.4f}) is below the model's boundary limit {lim['model']} "
           f"({top_ll:.4f}); the limit is reported (its boundary parameters are named below)")
    if "converged" in lim:
        msg += _limit_fit_note(lim["converged"], lim["grad_max"])
    new.warnings.append(msg)
    warnings.warn(msg, BoundaryWarning, stacklevel=4)
    return new


#: the message of a fit reported at a boundary limit, followed by the limit's name
AT_LIMIT = "reported at the boundary limit: "


def _limit_fit_note(converged, grad_max) -> str:
    """What a warning says of a limit whose log-likelihood is the limiting model's maximum."""
    return (": it is the maximum of the limiting model, whose fit " + ("converged" if converged else "did NOT converge")
            + f" (max |gradient| {grad_max:.2g}), and its log-likelihood is that model's, exact; the gradient of this "
            "model at the boundary point, which quadrature cannot resolve, is not a convergence criterion there")


def normalize_signs(lik: MixtureLikelihood, theta) -> np.ndarray:
    """Flip latent directions so that each factor matrix column starts positive.

    u -> -u leaves N(0, I) unchanged, so L[:, j] -> -L[:, j] gives the same model. With
    classes inside the integral every class shares u, so a column is flipped in all classes
    by the sign of class 1; with classes outside, per class.
    """
    d = lik.design
    if not (d.re_out or d.re_cls):
        return theta
    L = lik.layout
    P = L.unpack(L.expand(theta).copy())
    Lo, Lc = lik.factor_matrices(P)
    new_out = []
    for v, Lk in zip(L.re_out_terms, Lo):
        b, pos = v.term, v.pos
        if b.structure == "reg":  # the sign of u_j is that of psi_j; slopes are unaffected
            new_out.append(_reg_abs(v, P))
            continue
        for j in range(b.d):
            if d.form == "outside":
                sgn = np.where(Lk[:, j, j] < 0, -1.0, 1.0)
                Lk[:, :, j] *= sgn[:, None]
            elif Lk[0, j, j] < 0:
                Lk[:, :, j] *= -1.0
        new_out.append(Lk[:, pos[:, 0], pos[:, 1]])
    new_cls = []
    for v, Lm in zip(L.re_cls_terms, Lc):
        b, pos = v.term, v.pos
        if b.structure == "reg":
            new_cls.append(_reg_abs(v, P))
            continue
        for j in range(b.d):
            if Lm[j, j] < 0:
                Lm[:, j] *= -1.0
        new_cls.append(Lm[pos[:, 0], pos[:, 1]])
    if new_out:
        P["re_out"][:] = np.concatenate(new_out, axis=1)
    if new_cls:
        P["re_cls"][:] = np.concatenate(new_cls)
    phi = L.pack(P)
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    new = L.from_full(phi)
    # a flip that a constraint does not allow (e.g. a fixed negative loading) is undone
    return new if np.allclose(L.expand(new), phi) else theta


def _reg_abs(v, P):
    """Entries of a regression-parameterized term (params.TermView) with non-negative
    residual SDs."""
    ent = v.entries(P).copy()
    diag = v.pos[:, 0] == v.pos[:, 1]
    ent[..., diag] = np.abs(ent[..., diag])
    return ent


def class_proportions(lik: MixtureLikelihood, theta) -> np.ndarray:
    """Mean posterior class probabilities of the units, each unit counted with its (frequency
    or sampling) weight, as the likelihood counts it."""
    es = lik.evaluate(theta, derivs=False)
    w = unit_weights(lik.design)
    if w is None:
        return lik.unit_posterior(es, mean=True)
    return w @ lik.unit_posterior(es) / w.sum()


def canonical_order(lik: MixtureLikelihood, theta) -> np.ndarray:
    """Relabel classes by decreasing estimated proportion (when constraints allow it)."""
    if lik.K == 1:
        return theta
    L = lik.layout
    prop = class_proportions(lik, theta)
    if L.multi:  # each variable by its own marginal proportions; one order for invariant items
        cs = lik.cs
        marg = [np.array([prop[cs.digits[:, t] == k].sum() for k in range(v.K)]) for t, v in enumerate(cs.vars)]
        perm = [np.argsort(-m, kind="stable") for m in marg]
        if L.measurement_invariance:
            lead = perm[cs.within[0]]
            perm = [lead if (t in cs.within and cs.Ks[t] == len(lead)) else p for t, p in enumerate(perm)]
    else:
        perm = np.argsort(-prop, kind="stable")
    if not L.permutation_allowed(perm):
        return theta
    return L.from_full(L.permute_full(L.expand(theta), perm))
