"""Estimation: starting values, EM, quasi-Newton, random starts (the paper's Section 10).

The recipe:

1. A data-based centre: every class gets the one-class (homogeneous) estimates, found by
   scoring steps on Q with all posterior weights equal to one.
2. Stage one: ``n_starts`` random perturbations of the centre, each run for a few EM
   iterations ("partial optimization").
3. Stage two: the best ``n_final`` are completed: EM until the log-likelihood settles,
   then BFGS with the exact gradient to a converged maximum.
4. The start report: the completed log-likelihoods, whether the best was reached more than
   once (a :class:`ConvergenceWarning` if not), and classes put in a canonical order
   (decreasing size) so results do not depend on which start won.

EM here is Lange's (1995) EM-gradient algorithm: the M-step is one scoring step on Q with
its expected information (``MixtureLikelihood.q_information``), with step-halving so the
log-likelihood never decreases. It needs nothing family-specific beyond the family's
first derivatives and working weights, so it serves every family and constraint.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, optimize

from .exceptions import BoundaryWarning, ConvergenceWarning, DegenerateLikelihoodWarning, EstimationError, GlmmixError
from .identification import check_identified, degenerate_message, degenerate_params
from .likelihood import EStep, MixtureLikelihood
from .scaling import Rescaling, ScaledLikelihood, internal
from .progress import run_jobs, say

#: linear-predictor coefficients beyond this are candidates for a boundary (probability 0/1)
BOUNDARY_VALUE = 15.0


@dataclass(frozen=True)
class FitOptions:
    """Control of the estimation (one object, as lme4's ``glmerControl``).

    Attributes
    ----------
    n_starts, n_final : int
        Random starting sets, and how many of the best are completed (Section 10: 20 and 5).
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
        Two log-likelihoods within this are "the same maximum".
    n_jobs : int
        Parallel workers for the starts (joblib); 1 runs serially.
    seed : int or None
    verbose : bool
        Print the stages: random starts (stage one), EM, BFGS, adaptation of the nodes.
    progress : bool or None
        A progress bar over the starts; None: only in interactive sessions.
    """

    n_starts: int = 20
    n_final: int = 5
    stage1_iter: int = 10
    em_iter: int = 50
    em_tol: float = 1e-3
    gtol: float = 1e-6
    maxiter: int = 2000
    replicate_tol: float = 1e-3
    n_jobs: int = 1
    seed: int | None = None
    verbose: bool = False
    progress: bool | None = None


@dataclass
class StartRecord:
    start: int
    ll_stage1: float
    ll_final: float | None = None
    converged: bool | None = None
    em_iterations: int = 0
    qn_iterations: int = 0
    error: str | None = None  # a numerical failure of this start (the fit went on without it)


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


# ----------------------------------------------------------------------------- starts
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

    def homo(es: EStep):
        # every class sees every row with weight one: Q of K identical one-class models
        Q = es.wpat.shape[2]
        new = copy.copy(es)
        new.wpat = np.broadcast_to(lik.count[:, None, None] / Q, es.wpat.shape).copy()
        lf = es.fe.logf.reshape(lik.count.shape[0], K, -1).mean(axis=2)
        new.ll = float((lik.count[:, None] * lf).sum())
        return new

    es = homo(lik.evaluate(theta))
    for _ in range(max_iter):
        g = L.reduce(lik.full_gradient(es))
        H = lik.q_information(es)
        step = np.zeros_like(theta)
        if movable.any():
            step[movable] = _solve(H[np.ix_(movable, movable)], g[movable])
        t = 1.0
        for _ in range(30):
            new = homo(lik.evaluate(theta + t * step))
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
    scale = fam.perturb_scale
    if fam.name == "gaussian":
        scale = scale * float(np.exp(P["extra"][:, 0].mean()))
    beta = P["beta"] + scale * rng.uniform(-1, 1, size=P["beta"].shape) / d.x_scale[:, None]
    extra = np.stack([fam.extra_perturb(P["extra"][k], d.aux, rng) for k in range(K)]) if P["extra"].size else P["extra"]
    gamma = P["gamma"].copy()
    if gamma.size:  # every class-logit coefficient, scaled by its covariate's spread
        zs = d.classes.gamma_scale().reshape(gamma.shape)
        gamma += 0.5 * rng.standard_normal(gamma.shape) / zs
    phi = L.pack({**P, "beta": beta, "extra": extra, "gamma": gamma})
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    return L.from_full(phi)


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


def em(lik: MixtureLikelihood, theta: np.ndarray, max_iter: int, tol: float):
    """EM-gradient iterations. Returns (theta, EStep at theta, iterations, last H)."""
    adaptive = lik.integ.adaptive and lik.D > 0
    if adaptive:
        lik.adapt(theta)
    es = lik.evaluate(theta)
    H = None
    it = 0
    for it in range(1, max_iter + 1):
        if adaptive and it > 1 and it % 3 == 1:  # re-adapt the nodes every third iteration
            lik.adapt(theta, max_iter=2)
            es = lik.evaluate(theta)
        g = lik.layout.reduce(lik.full_gradient(es))
        H = lik.q_information(es)
        step = _solve(H, g)
        big = np.abs(step).max() if step.size else 0.0
        if big > MAX_STEP:
            step *= MAX_STEP / big
        t = 1.0
        for _ in range(30):
            new = lik.evaluate(theta + t * step)
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
def quasi_newton(lik: MixtureLikelihood, theta: np.ndarray, H0, opts: FitOptions):
    """BFGS on -loglik / n_units with the exact gradient; H0 preconditions the first step."""
    N = float(lik.design.n_clusters)
    n = theta.shape[0]

    def f(t):
        ll, g, _ = lik.loglik_and_grad(t)
        if not np.isfinite(ll):
            return np.inf, np.zeros_like(t)
        return -ll / N, -g / N

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
    res = optimize.minimize(f, theta, jac=True, method="BFGS", options=options)
    return res.x, -res.fun * N, res.nit, res


def converge(lik: MixtureLikelihood, theta: np.ndarray, opts: FitOptions) -> FitResult:
    """Complete one start: EM until it settles, then BFGS (in rounds of re-adaptation when
    the quadrature is adaptive: BFGS with the nodes fixed, then the nodes moved to the new
    posteriors, until the log-likelihood no longer changes)."""
    # EM stabilises mixtures; a one-class model needs only a few steps before BFGS
    n_em_max = 0 if lik.laplace else (opts.em_iter if lik.K > 1 else min(opts.em_iter, 5))
    if lik.D > 0 and lik.K > 1:  # with integration, BFGS takes over sooner
        n_em_max = min(n_em_max, 20)
    theta, es, n_em, H = em(lik, theta, n_em_max, opts.em_tol)
    if n_em_max:
        say(opts.verbose, f"  EM: {n_em} iteration(s), log-likelihood {es.ll:.4f}")
    adaptive = lik.integ.adaptive and lik.D > 0 and not lik.laplace
    n_qn = 0
    res = None
    ll_prev = -np.inf
    for _round in range(10 if adaptive else 1):
        ll_start = lik.adapt(theta) if adaptive else lik.loglik(theta)
        theta_qn, ll_qn, it, res = quasi_newton(lik, theta, H, opts)
        n_qn += it
        say(opts.verbose, f"  BFGS: {it} iteration(s), log-likelihood {ll_qn:.4f}")
        if np.isfinite(ll_qn) and ll_qn >= ll_start - 1e-8:
            theta = theta_qn
        if not adaptive:
            break
        ll_now = lik.adapt(theta)
        say(opts.verbose, f"  nodes adapted (round {_round + 1}): log-likelihood {ll_now:.4f}")
        if abs(ll_now - ll_prev) < 1e-7 and abs(ll_now - ll_qn) < 1e-6:
            break
        ll_prev = ll_now
    ll, g, _ = lik.loglik_and_grad(theta)
    gmax = float(np.max(np.abs(g))) if g.size else 0.0
    ok = gmax / lik.design.n_clusters < max(opts.gtol * 10, 1e-5)
    return FitResult(theta, ll, bool(ok), gmax, n_em, n_qn, message=str(res.message) if res else "",
                     adapt_state=(lik.integ.m.copy(), lik.integ.R.copy()))


# ----------------------------------------------------------------------------- boundary
def find_boundary(lik: MixtureLikelihood, theta: np.ndarray) -> list[int]:
    """Free parameters whose estimate runs off to infinity (probabilities of 0 or 1).

    A candidate is a linear-predictor or class-logit coefficient beyond
    ``BOUNDARY_VALUE`` in size; it is on the boundary when moving it further out changes
    the log-likelihood by less than 1e-4 (the likelihood is flat towards its asymptote).
    Sizes are those of ``theta``, which inside :func:`estimate` are internal coordinates
    (:mod:`glmmix.scaling`): logits per SD of the covariate.
    """
    L = lik.layout
    fam = lik.family.name
    cands = []
    for i, full in enumerate(L._first_full):
        blk = L.block_of(full)
        if blk in ("gamma", "re_out", "re_cls") or (blk == "beta" and fam in ("bernoulli", "binomial", "ordinal", "poisson")):
            if abs(theta[i]) > BOUNDARY_VALUE:
                cands.append(i)
        if blk == "extra" and fam == "ordinal" and abs(theta[i]) > BOUNDARY_VALUE / 3:
            cands.append(i)
    # a random-effect SD or loading beyond this many logits makes responses deterministic:
    # it is running to infinity whatever the flatness check below says
    huge = [i for i in cands if L.block_of(L._first_full[i]) in ("re_out", "re_cls") and abs(theta[i]) > 50]
    cands = [i for i in cands if i not in huge]
    if not cands:
        return huge
    ll0 = lik.loglik(theta)
    out = list(huge)
    for i in cands:
        t = theta.copy()
        t[i] = theta[i] * 1.5
        if abs(lik.loglik(t) - ll0) < 1e-4:
            out.append(i)
    return out


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
        return ScaledLikelihood(_own_state(lik._base, state), lik._rs)
    new = copy.copy(lik)
    new.integ = copy.copy(lik.integ)
    new.integ.m, new.integ.R = (a.copy() for a in state)
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


def estimate(lik: MixtureLikelihood, opts: FitOptions, start_params=None) -> FitResult:
    """Maximum-likelihood estimation with random starts; see the module docstring.

    The search runs on internal coordinates of unit scale (:mod:`glmmix.scaling`);
    ``start_params`` and the returned ``theta`` are on the original scale.
    """
    check_identified(lik)
    slik, rs = internal(lik)
    if slik is not lik:
        fr = estimate(slik, opts, None if start_params is None else rs.to_internal(start_params))
        fr.theta = rs.to_external(fr.theta)
        return fr
    rng = np.random.default_rng(opts.seed)
    if lik.layout.n_free == 0:  # everything fixed: evaluate only
        th = np.zeros(0)
        ll = lik.adapt(th) if lik.integ.adaptive else lik.loglik(th)
        return FitResult(th, ll, True, 0.0, 0, 0, [StartRecord(0, ll, ll, True)], None, 1)
    center = homogeneous_start(lik) if start_params is None else np.asarray(start_params, float)
    adapt0 = (lik.integ.m.copy(), lik.integ.R.copy())  # every start begins from this adaptation
    K = lik.K
    records: list[StartRecord] = []
    if K == 1 or opts.n_starts <= 0:
        if K > 1 and start_params is None:
            # the data-based centre (every class alike) is a stationary point, a saddle, of a
            # mixture likelihood: one start means one perturbation of it
            center = perturb(lik, center, rng)
        thetas = [center]
        records.append(StartRecord(0, lik.loglik(center)))
        finals_idx = [0]
    else:
        # Step 2: stage one, partial optimization of every random start.
        seeds = rng.spawn(opts.n_starts)
        cand = [center] if start_params is not None else []
        cand += [perturb(lik, center, s) for s in seeds]
        # when every start is completed anyway, stage one's partial optimization is skipped
        n_iter1 = 0 if opts.n_final >= len(cand) else opts.stage1_iter
        say(opts.verbose, f"starts: {len(cand)} starting sets, {n_iter1} EM iterations each (stage one)")
        out = _run(_guarded, [(_stage1, lik, adapt0, c, n_iter1, opts.em_tol) for c in cand], opts, "starts")
        thetas = [c if isinstance(o, StartFailure) else o[0] for c, o in zip(cand, out)]
        for i, o in enumerate(out):
            failed = isinstance(o, StartFailure)
            records.append(StartRecord(i, np.nan if failed else o[1], error=o.error if failed else None))
        lls = np.array([r.ll_stage1 for r in records])
        lls = np.where(np.isfinite(lls), lls, -np.inf)
        finals_idx = [i for i in np.argsort(-lls, kind="stable") if records[i].error is None][: max(1, opts.n_final)]
        say(opts.verbose, f"stage one: best log-likelihood {lls.max():.4f}; completing the best {len(finals_idx)}")
    # Step 3: complete the best few.
    fits = _run(_guarded, [(converge, lik, adapt0, thetas[i], opts) for i in finals_idx], opts,
                "completing starts" if len(finals_idx) > 1 else "")
    for i, fr in zip(finals_idx, fits):
        if isinstance(fr, StartFailure):
            records[i].error = fr.error
            continue
        records[i].ll_final = fr.ll
        records[i].converged = fr.converged
        records[i].em_iterations = fr.em_iterations
        records[i].qn_iterations = fr.qn_iterations
    fits = [f for f in fits if not isinstance(f, StartFailure) and np.isfinite(f.ll)]
    if not fits:
        errors = sorted({r.error for r in records if r.error}) or ["non-finite log-likelihood"]
        raise EstimationError(f"every start failed ({len(finals_idx)} completed, {len(records)} in all): "
                              + "; ".join(errors))
    # a solution on an unbounded likelihood (a collapsed variance) loses to any proper one
    degen = [bool(degenerate_params(lik, f.theta)) for f in fits]
    best_pos = int(np.argmax([-np.inf if (dg and not all(degen)) else f.ll for f, dg in zip(fits, degen)]))
    best = fits[best_pos]
    n_best = int(sum(abs(f.ll - best.ll) < opts.replicate_tol for f in fits))
    best.starts = records
    best.n_best = n_best
    best.best_replicated = n_best >= 2 if len(fits) >= 2 else None
    say(opts.verbose, f"best log-likelihood {best.ll:.4f}, reached by {n_best} of {len(fits)} completed start(s)")
    if best.best_replicated is False:
        msg = (
            f"the best log-likelihood {best.ll:.4f} was reached by only 1 of {len(fits)} completed "
            "starts; it may be a local maximum: increase starts=(n_starts, n_final)"
        )
        best.warnings.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    # Step 4: canonical class order, then boundary estimates.
    if best.adapt_state is not None:  # the nodes this start was fitted with
        lik.integ.m, lik.integ.R = (a.copy() for a in best.adapt_state)
    theta0, ll0 = best.theta, best.ll
    state0 = (lik.integ.m.copy(), lik.integ.R.copy())
    best.theta = normalize_signs(lik, canonical_order(lik, best.theta))
    if lik.integ.adaptive and lik.D > 0:
        best.ll = lik.adapt(best.theta)
        if best.ll < ll0 - 1e-6:  # re-adaptation failed (extreme estimates): keep the fitted state
            best.theta = theta0
            lik.integ.m, lik.integ.R = state0
            best.ll = lik.loglik(theta0)
    best.boundary = find_boundary(lik, best.theta)
    if best.boundary:
        names = [lik.layout.labels[i] for i in best.boundary]
        msg = (
            f"{len(names)} estimate(s) ran to the boundary of the parameter space (a probability of "
            f"0 or 1, an empty category or class, an infinite variance or loading): {names}. They are "
            "held at their current value and get no standard error."
        )
        best.warnings.append(msg)
        warnings.warn(msg, BoundaryWarning, stacklevel=3)
        # convergence is judged on the parameters that are not running off to infinity
        g = lik.gradient(best.theta)
        keep = np.ones(g.size, bool)
        keep[best.boundary] = False
        best.grad_max = float(np.abs(g[keep]).max()) if keep.any() else 0.0
        best.converged = best.grad_max / lik.design.n_clusters < max(opts.gtol * 10, 1e-5)
    collapsed = degenerate_params(lik, best.theta)
    if collapsed:
        msg = degenerate_message(collapsed)
        best.converged = False
        best.warnings.append(msg)
        warnings.warn(msg, DegenerateLikelihoodWarning, stacklevel=3)
    elif not best.converged:
        msg = (
            f"the optimizer did not converge (max |gradient| = {best.grad_max:.3g}; {best.message}); "
            "estimates and standard errors may be unreliable"
        )
        best.warnings.append(msg)
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return best


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
    for b, Lk, pos in zip(d.re_out, Lo, lik._pos):
        if b.structure == "reg":  # the sign of u_j is that of psi_j; slopes are unaffected
            new_out.append(_reg_abs(b, Lk, pos, P, lik, "re_out"))
            continue
        for j in range(b.d):
            if d.form == "outside":
                sgn = np.where(Lk[:, j, j] < 0, -1.0, 1.0)
                Lk[:, :, j] *= sgn[:, None]
            elif Lk[0, j, j] < 0:
                Lk[:, :, j] *= -1.0
        new_out.append(Lk[:, pos[:, 0], pos[:, 1]])
    new_cls = []
    for b, Lm, pos in zip(d.re_cls, Lc, lik._pos[len(d.re_out):]):
        if b.structure == "reg":
            new_cls.append(_reg_abs(b, Lm, pos, P, lik, "re_cls"))
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


def _reg_abs(b, Lm, pos, P, lik, which):
    """Entries of a regression-parameterized block with non-negative residual SDs."""
    d = lik.design
    blocks = d.re_out if which == "re_out" else d.re_cls
    poss = lik._pos if which == "re_out" else lik._pos[len(d.re_out):]
    k0 = 0
    for bb, pp in zip(blocks, poss):
        if bb is b:
            break
        k0 += len(pp)
    ent = P[which][..., k0:k0 + len(pos)].copy()
    diag = pos[:, 0] == pos[:, 1]
    ent[..., diag] = np.abs(ent[..., diag])
    return ent


def class_proportions(lik: MixtureLikelihood, theta) -> np.ndarray:
    es = lik.evaluate(theta, derivs=False)
    return lik.unit_posterior(es).mean(axis=0)


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
        if getattr(L, "measurement_invariance", False):
            lead = perm[cs.within[0]]
            perm = [lead if (t in cs.within and cs.Ks[t] == len(lead)) else p for t, p in enumerate(perm)]
    else:
        perm = np.argsort(-prop, kind="stable")
    if not L.permutation_allowed(perm):
        return theta
    return L.from_full(L.permute_full(L.expand(theta), perm))
