"""Outcome families and links.

A family turns linear predictors into log-densities and their derivatives. It knows
nothing about classes or quadrature: every array it sees has shape ``(n_rows, n_states)``,
where a *state* is whatever the likelihood engine is summing over (classes, nodes, or
both, flattened). Family-specific parameters (a residual SD, ordinal thresholds) are
passed per state as an array of shape ``(n_states, n_extra)`` on the unconstrained scale.

References: Asparouhov & Muthen (2006), eq (1)-(2) (probit/logit latent-response form and
thresholds for categorical outcomes; identity for continuous outcomes).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import special

from .exceptions import DataWarning, DesignError, plain

LOG_2PI = np.log(2.0 * np.pi)


# --------------------------------------------------------------------------- links
class Link:
    """A link g with mean = g^{-1}(eta), for the latent-response (cdf) links."""

    name = "link"

    def cdf(self, x):  # P(Y* <= x) for cdf links
        raise NotImplementedError

    def logcdf(self, x):
        raise NotImplementedError

    def logpdf(self, x):
        raise NotImplementedError

    def __repr__(self):
        return self.name


class Logit(Link):
    name = "logit"

    def cdf(self, x):
        return special.expit(x)

    def logcdf(self, x):
        return -softplus(-x)

    def logpdf(self, x):
        return -np.abs(x) - 2.0 * np.log1p(np.exp(-np.abs(x)))


class Probit(Link):
    name = "probit"

    def cdf(self, x):
        return special.ndtr(x)

    def logcdf(self, x):
        return special.log_ndtr(x)

    def logpdf(self, x):
        return -0.5 * (x * x + LOG_2PI)


class LogLink(Link):
    name = "log"


class Identity(Link):
    name = "identity"


LINKS = {"logit": Logit, "probit": Probit, "log": LogLink, "identity": Identity}


def softplus(x):
    """log(1 + exp(x)), stable and faster than np.logaddexp(0, x)."""
    return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0.0)


def _category_logprobs(logF, logS, z):
    """log P(y = c), c = 0..m, from the log cdf and log survival at the m ordered thresholds
    ``z`` (last axis): F(z_1), F(z_{c+1}) - F(z_c), S(z_m), each difference taken in the tail
    where it is accurate (the survival's when the interval lies above 0)."""
    m = z.shape[-1]
    out = np.empty(z.shape[:-1] + (m + 1,))
    out[..., 0] = logF[..., 0]
    out[..., m] = logS[..., m - 1]
    if m > 1:
        upper = z[..., :-1] > 0
        d = np.where(upper, logS[..., 1:] - logS[..., :-1], logF[..., :-1] - logF[..., 1:])
        base = np.where(upper, logS[..., :-1], logF[..., 1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            out[..., 1:m] = base + np.log(-np.expm1(np.minimum(d, 0.0)))
    return out


def _log_diff_cdf(link: Link, lo, hi):
    """log(F(hi) - F(lo)) for lo < hi, accurate in both tails."""
    # Work in the lower tail when the interval lies below 0, else in the upper tail.
    upper = lo > 0
    a = np.where(upper, -hi, lo)  # F(hi)-F(lo) = S(lo)-S(hi) = F(-lo) - F(-hi)
    b = np.where(upper, -lo, hi)
    lb = link.logcdf(b)
    la = link.logcdf(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = la - lb
        out = lb + np.log(-np.expm1(np.minimum(d, 0.0)))
    return np.where(np.isneginf(a), lb, out)


# --------------------------------------------------------------------------- results
@dataclass
class FamilyData:
    """What a family needs besides the outcome: per-row arrays and per-model settings.

    Filled by the design builder (``thresholds_by``, ``trials``) and by the family's
    ``prepare``; row arrays follow the design's row order (``rows`` takes a subset).
    """

    #: binomial: trials per row, and the log binomial coefficient per row
    trials: np.ndarray | None = None
    #: binomial: what the trials are called in messages while the outcome is prepared
    trials_name: str | None = None
    lchoose: np.ndarray | None = None
    #: poisson: log(y!) per row
    lgy: np.ndarray | None = None
    #: gaussian: SD of the outcome (starting values)
    y_sd: float | None = None
    #: ordinal: the outcome's categories and their number
    categories: list | None = None
    n_cat: int | None = None
    #: ordinal (gaussian): the column whose levels get separate thresholds (residual SDs:
    #: ``sigma_by``), the sets' levels, every row's set, and (ordinal, several class
    #: variables) each set's measurement group
    threshold_by: str | None = None
    #: the thresholds_by column's fitted levels (their own type; threshold_levels are strings)
    threshold_cats: list | None = None
    threshold_levels: list | None = None
    threshold_group: np.ndarray | None = None
    threshold_mgroup: np.ndarray | None = None

    #: fields holding one value per row
    ROW_FIELDS = ("trials", "lchoose", "lgy", "threshold_group")
    #: fields that describe the model (kept with saved results)
    MODEL_FIELDS = ("categories", "n_cat", "threshold_levels", "threshold_by")

    def rows(self, idx) -> "FamilyData":
        """The same data for the rows ``idx`` (an index array or boolean mask)."""
        return replace(self, **{f: getattr(self, f)[idx] for f in self.ROW_FIELDS if getattr(self, f) is not None})

    def row_columns(self) -> list[np.ndarray]:
        """The row arrays that distinguish rows (for row patterns): threshold sets, trials."""
        return [np.asarray(v, float) for v in (self.threshold_group, self.trials) if v is not None]

    def model_fields(self) -> dict:
        """The model-level settings as a plain dict (for saved results)."""
        return {f: getattr(self, f) for f in self.MODEL_FIELDS if getattr(self, f) is not None}


class FamilyEval:
    """Row-level evaluation of a family for every state.

    Attributes
    ----------
    logf : ndarray of shape (n_rows, n_states)
        log f(y_r | eta_rs, extra_s).
    d_eta : ndarray of shape (n_rows, n_states)
        d logf / d eta.
    w_eta : ndarray of shape (n_rows, n_states)
        Expected information for eta (non-negative), used by EM's scoring steps. A family
        may pass a function instead, called on first use (most evaluations need only the
        log-densities and their derivatives).
    d_extra : ndarray of shape (n_rows, n_states, m) or None
        d logf / d a for the m extra parameters each row involves.
    extra_cols : ndarray of int of shape (n_rows, m) or None
        Which entries of the state's extra-parameter vector those m derivatives belong to.
    w_extra : tuple or None
        The expected information of (eta, a) where the family provides it: (cross, block)
        of shapes (n_rows, n_states, m) (eta with each of the m extra parameters) and
        (n_rows, n_states, m, m). Without it EM's metric takes the extra parameters' by BHHH
        (the squares of ``d_extra``), apart from eta's. Like ``w_eta``, it may be a function.
    """

    def __init__(self, logf, d_eta=None, w_eta=None, d_extra=None, extra_cols=None, w_extra=None):
        self.logf = logf
        self.d_eta = d_eta
        self._w_eta = w_eta
        self.d_extra = d_extra
        self.extra_cols = extra_cols
        self._w_extra = w_extra

    @property
    def w_eta(self) -> np.ndarray | None:
        if callable(self._w_eta):
            self._w_eta = self._w_eta()
        return self._w_eta

    @property
    def w_extra(self) -> tuple | None:
        if callable(self._w_extra):
            self._w_extra = self._w_extra()
        return self._w_extra


# --------------------------------------------------------------------------- families
class Family:
    """Base class. Subclasses define the support check, log-density and derivatives."""

    name = "family"
    default_link = "identity"
    allowed_links: tuple = ()
    #: scale of random perturbations of linear-predictor coefficients for random starts
    perturb_scale = 1.0
    #: ordered thresholds that act as intercepts (``thresholds_by``, no intercept in X)
    thresholds = False
    #: a number of trials per row (``trials=``)
    uses_trials = False
    #: the family parameters are class-invariant by default (Mplus: residual variances)
    extra_invariant = False
    #: a coefficient can run off to infinity with a flat likelihood (probabilities of 0 or
    #: 1, counts of zero): a candidate for the boundary check
    unbounded_coefficients = True
    #: a family parameter can be fixed on its own (``fix=``)
    extra_fixable = True
    #: a continuous outcome with a residual SD (log scale): coefficients in the outcome's
    #: units, and an SD that can collapse onto exactly fitted observations
    has_residual_sd = False
    #: one 0/1 response per row (the binary latent class model)
    binary = False

    def __init__(self, link: str | None = None):
        link = link or self.default_link
        if link not in self.allowed_links:
            raise DesignError(
                f"family {self.name!r} does not support link {link!r}; "
                f"use one of {list(self.allowed_links)}"
            )
        self.link = LINKS[link]()

    # ---- data preparation (called once by the design builder)
    def prepare(self, y: pd.Series, aux: FamilyData) -> np.ndarray:
        """Validate the outcome and return it as a float array; may fill ``aux``."""
        raise NotImplementedError

    def n_extra(self, aux: FamilyData) -> int:
        """Number of family parameters per class."""
        return 0

    def extra_names(self, aux: FamilyData) -> list[str]:
        return []

    def extra_start(self, y, aux: FamilyData) -> np.ndarray:
        return np.zeros(self.n_extra(aux))

    def extra_natural(self, a: np.ndarray, aux: FamilyData) -> np.ndarray:
        """Unconstrained extra parameters -> reported (natural) values, last axis."""
        return a

    def extra_from_natural(self, v: np.ndarray, aux: FamilyData) -> np.ndarray:
        return v

    def extra_perturb(self, a, aux, rng):
        return a

    def start_scale(self, extra: np.ndarray) -> float:
        """Scale of the random perturbations of coefficients around the start, given the
        start's family parameters (K, E) on the unconstrained scale."""
        return self.perturb_scale

    def fixed_extra(self, value: float, label: str) -> float:
        """The unconstrained value of one family parameter fixed at ``value`` (reported
        scale) by ``fix={label: value}``."""
        return value

    @property
    def has_extra(self):
        return False

    # ---- evaluation
    def evaluate(self, y, eta, extra, aux, derivs=True) -> FamilyEval:
        raise NotImplementedError

    def eta_curvature(self, y, eta, aux, extra=None):
        """Observed information ``w = -d2 logf / d eta2`` and its derivative ``dw / d eta``
        (rows, states), at the family parameters ``extra`` (states, n_extra) where it has any.

        The Laplace approximation's log-determinant holds the observed information at the
        mode (glmmTMB's and clmm's; for canonical links it equals the working weights
        ``w_eta``, for the probit link and ordinal outcomes it does not), and its exact
        gradient needs the derivative (the mode moves with the parameters, the curvature with
        the mode). None where a family does not provide them: the curvature is then the
        working weights. With extra parameters the curvature moves with those too
        (:meth:`curvature_extra`).
        """
        return None

    def curvature_extra(self, y, eta, extra, aux, step: float = 1e-5):
        """Derivatives of the observed information ``w`` and of ``d logf / d eta`` with respect to
        the extra parameters each row involves: (dw, dd), each (rows, states, m), in the
        order of :attr:`FamilyEval.extra_cols`. The Laplace approximation's exact gradient
        needs them when the curvature moves with the extra parameters (the mode moves with
        ``d``, the log-determinant with ``w``). By default central differences in each extra
        parameter at fixed eta (2 evaluations per parameter, vectorised over rows); families
        override it analytically."""
        fe = self.evaluate(y, eta, extra, aux)
        cols = fe.extra_cols
        n, S = eta.shape
        m = cols.shape[1]
        dw, dd = np.zeros((n, S, m)), np.zeros((n, S, m))
        for e in range(extra.shape[1]):  # the family's parameters, not rows
            at = cols == e
            if not at.any():
                continue
            out = []
            for sign in (1.0, -1.0):
                ex = extra.copy()
                ex[:, e] += sign * step
                w = self.eta_curvature(y, eta, aux, ex)[0]
                out.append((w, self.evaluate(y, eta, ex, aux).d_eta))
            gw = (out[0][0] - out[1][0]) / (2 * step)
            gd = (out[0][1] - out[1][1]) / (2 * step)
            r, j = np.nonzero(at)
            dw[r, :, j] = gw[r]
            dd[r, :, j] = gd[r]
        return dw, dd

    def mean(self, eta, extra, aux):
        """E[y | eta] for every state, shape of eta."""
        raise NotImplementedError

    def sample(self, eta, extra, aux, rng):
        """Draw y given a vector eta (n,) and extra (n, n_extra)."""
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(link={self.link.name!r})"


class Binomial(Family):
    """Binomial (Bernoulli when every row has one trial), logit or probit link.

    The log-likelihood includes log C(n, y), so values agree with the full binomial density.
    """

    name = "binomial"
    default_link = "logit"
    allowed_links = ("logit", "probit")
    uses_trials = True

    @property
    def perturb_scale(self):
        return 2.0 if self.link.name == "logit" else 1.2

    def prepare(self, y, aux):
        trials = aux.trials
        yv = _numeric_outcome(y)
        if trials is None:
            bad = ~np.isin(yv, (0.0, 1.0))
            fractions = bad.any() and bool(np.all((yv >= 0) & (yv <= 1)))
            one_two = bad.any() and bool(np.all(np.isin(yv, (1.0, 2.0)))) and bool(np.any(yv == 1.0))
            advice = ("; for proportions give the numbers of trials (trials='n', what lme4 takes as weights "
                      "for a binomial proportion) with the counts of successes, or cbind(successes, failures)"
                      if fractions else
                      "; the values are 1 and 2 (poLCA's coding): recode them to 0/1 (y - 1)" if one_two else "")
            refuse_values(y, yv, bad, f"must be 0/1 for family {self.name!r}", advice)
            # one trial per row: read-only views of a constant, no per-row memory
            aux.trials = np.broadcast_to(np.float64(1.0), yv.shape)
            aux.lchoose = np.broadcast_to(np.float64(0.0), yv.shape)
        else:
            n = np.asarray(trials, float)
            check_counts(n, aux.trials_name or "trials", "numbers of trials", y.index)
            bad = (yv < 0) | (yv > n) | (yv != np.round(yv)) | ~np.isfinite(yv)
            fractions = bad.any() and bool(np.all((yv >= 0) & (yv <= 1) | np.isnan(yv)))
            refuse_values(y, yv, bad, "must be an integer between 0 and the number of trials",
                          "; it looks like proportions: give the numbers of successes (proportion"
                          " x trials) or cbind(successes, failures)" if fractions else "")
            aux.lchoose = special.gammaln(n + 1) - special.gammaln(yv + 1) - special.gammaln(n - yv + 1)
        return yv

    def evaluate(self, y, eta, extra, aux, derivs=True):
        n = aux.trials[:, None]
        yy = y[:, None]
        if self.link.name == "logit":
            if _one_trial(aux.trials) and _all_zero(aux.lchoose):
                return _logit_binary(yy, eta, derivs)
            # log(1 - p) = log p - eta: one softplus for both
            lp = -softplus(-eta)
            logf = n * lp - (n - yy) * eta + aux.lchoose[:, None]
            if not derivs:
                return FamilyEval(logf)
            p = np.exp(lp)
            return FamilyEval(logf, yy - n * p, n * p * (1.0 - p))
        if _one_trial(aux.trials):
            return _probit_binary(yy, eta, derivs)
        lp = self.link.logcdf(eta)
        lq = self.link.logcdf(-eta)
        logf = yy * lp + (n - yy) * lq + aux.lchoose[:, None]
        if not derivs:
            return FamilyEval(logf)
        lphi = self.link.logpdf(eta)
        rp = np.exp(lphi - lp)  # phi/Phi
        rq = np.exp(lphi - lq)  # phi/(1-Phi)
        d = yy * rp - (n - yy) * rq
        w = n * np.exp(2 * lphi - lp - lq)
        return FamilyEval(logf, d, w)

    def eta_curvature(self, y, eta, aux, extra=None):
        n = aux.trials[:, None]
        yy = y[:, None]
        if self.link.name == "logit":
            p = np.exp(-softplus(-eta))
            w = n * p * (1.0 - p)
            return w, w * (1.0 - 2.0 * p)
        lp = self.link.logcdf(eta)
        lq = self.link.logcdf(-eta)
        lphi = self.link.logpdf(eta)
        rp = np.exp(lphi - lp)  # phi/Phi, d rp/d eta = -rp (eta + rp)
        rq = np.exp(lphi - lq)  # phi/(1-Phi), d rq/d eta = rq (rq - eta)
        drp, drq = -rp * (eta + rp), rq * (rq - eta)
        w_obs = yy * rp * (eta + rp) + (n - yy) * rq * (rq - eta)
        dw_obs = yy * (drp * (eta + rp) + rp * (1.0 + drp)) + (n - yy) * (drq * (rq - eta) + rq * (drq - 1.0))
        return w_obs, dw_obs

    def mean(self, eta, extra, aux):
        return self.link.cdf(eta)

    def sample(self, eta, extra, aux, rng):
        n = (aux.trials if aux.trials is not None else np.ones_like(eta))
        return rng.binomial(np.asarray(n, int), self.link.cdf(eta)).astype(float)


def _one_trial(trials) -> bool:
    """Every row has one trial (a 0/1 outcome); a constant broadcast view is checked once."""
    t = np.asarray(trials)
    if t.ndim and t.strides[0] == 0:
        return bool(t.size == 0 or t.flat[0] == 1.0)
    return bool(np.all(t == 1.0))


def _all_zero(a) -> bool:
    """Every entry is 0 (a constant broadcast view is checked once)."""
    t = np.asarray(a)
    if t.ndim and t.strides[0] == 0:
        return bool(t.size == 0 or t.flat[0] == 0.0)
    return bool(np.all(t == 0.0))


def _logit_binary(yy, eta, derivs):
    """Logit log-densities of 0/1 outcomes with one trial: the binomial formula's operations
    (log p = -softplus(-eta), log f = log p - (1 - y) eta, d/d eta = y - p, weight p (1 - p)),
    without its factors 1 and terms 0 and in place: the same numbers in fewer passes over
    the (rows x classes x nodes) cells."""
    x = np.negative(eta)
    lp = np.abs(x)  # softplus(x) = log1p(exp(-|x|)) + max(x, 0)
    np.negative(lp, out=lp)
    np.exp(lp, out=lp)
    np.log1p(lp, out=lp)
    lp += np.maximum(x, 0.0, out=x)
    np.negative(lp, out=lp)
    logf = np.multiply(1.0 - yy, eta, out=x)
    np.subtract(lp, logf, out=logf)
    logf += 0.0  # as the formula's log binomial coefficient, 0: a zero's sign as there
    if not derivs:
        return FamilyEval(logf)
    p = np.exp(lp, out=lp)
    w = 1.0 - p
    w *= p
    return FamilyEval(logf, yy - p, w)


class _LogNdtr:
    """log Phi(z), the standard normal log cdf, and with ``derivs`` log phi(z) and phi(z) /
    Phi(z), from a table of piecewise polynomials: about 2x faster than
    ``scipy.special.log_ndtr`` (the FMA's evaluation on adaptive rules, one log cdf per row,
    class and node, spent half of its time there; benchmarks/README.md, "Tenth round").

    On [LO, HI) in intervals of 1/S, log(-log Phi(z)) (a smooth function: 2 log|z| - log 2 in
    the lower tail, log Phi(-z) ~ -z^2 / 2 in the upper one) is the polynomial of degree DEG
    that interpolates ``log_ndtr`` at DEG + 1 Chebyshev points of the interval; log Phi(z) is
    -exp of it, so that its relative accuracy holds where Phi(z) is within rounding of 1
    (which the working weight's log(1 - Phi(z)) needs). Measured against 50-digit values: within 1.5e-14 relative
    for z < 5, and within 1e-12 of ``log_ndtr`` up to HI (where Phi(-z) is 1e-290); outside
    [LO, HI), ``log_ndtr`` itself. The cells are taken in blocks that stay in the processor's cache,
    each cell's DEG + 1 coefficients read with one gather (a row of ``coef``)."""

    S, DEG, LO, HI, BLOCK = 64, 4, -38.0, 37.0, 16384

    def __init__(self):
        n = int(round((self.HI - self.LO) * self.S))
        k = np.arange(self.DEG + 1)
        c = 0.5 * np.cos((2 * k + 1) * np.pi / (2 * self.DEG + 2))  # Chebyshev points on [-1/2, 1/2]
        z = self.LO + (np.arange(n)[:, None] + 0.5 + c[None, :]) / self.S
        coef = np.log(-special.log_ndtr(z)) @ np.linalg.inv(np.vander(c, self.DEG + 1, increasing=True)).T
        self.n = n
        # (intervals, DEG + 1), highest power first: one gather of a row per cell (one cache line)
        # instead of one per coefficient
        self.coef = np.ascontiguousarray(coef[:, ::-1])

    def __call__(self, z, derivs=False):
        """log Phi(z) of a contiguous array; with ``derivs`` (log Phi, log phi, phi / Phi)."""
        zf = z.reshape(-1)
        N, B, S, n = zf.size, self.BLOCK, float(self.S), self.n
        lp = np.empty(N)
        lphi = np.empty(N) if derivs else None
        ratio = np.empty(N) if derivs else None
        w, j, c = np.empty(min(B, N)), np.empty(min(B, N), np.intp), np.empty((min(B, N), self.DEG + 1))
        half_log_2pi = 0.5 * LOG_2PI
        for a in range(0, N, B):
            b = min(a + B, N)
            zb, ww, jj, cc, pp = zf[a:b], w[: b - a], j[: b - a], c[: b - a], lp[a:b]
            np.subtract(zb, self.LO, out=ww)
            ww *= S
            np.fmax(ww, 0.0, out=ww)  # (NaN to 0: such cells are redone below)
            np.minimum(ww, n - 1e-9, out=ww)
            np.copyto(jj, ww, casting="unsafe")  # the interval (floor)
            ww -= jj
            ww -= 0.5  # offset from its centre, in units of 1/S
            np.take(self.coef, jj, axis=0, out=cc, mode="clip")  # (jj is within range: no check)
            np.copyto(pp, cc[:, 0])
            for k in range(1, self.DEG + 1):  # Horner
                pp *= ww
                pp += cc[:, k]
            np.exp(pp, out=pp)
            np.negative(pp, out=pp)
            if derivs:
                fb, rb = lphi[a:b], ratio[a:b]
                np.multiply(zb, zb, out=fb)
                fb *= -0.5
                fb -= half_log_2pi
                np.subtract(fb, pp, out=rb)
                np.exp(rb, out=rb)
        if N and not (zf.min() >= self.LO and zf.max() < self.HI):  # the far tails (and NaN): log_ndtr
            far = np.flatnonzero(~((zf >= self.LO) & (zf < self.HI)))
            lp[far] = special.log_ndtr(zf[far])
            if derivs:
                ratio[far] = np.exp(lphi[far] - lp[far])
        if not derivs:
            return lp.reshape(z.shape)
        return lp.reshape(z.shape), lphi.reshape(z.shape), ratio.reshape(z.shape)


_log_ndtr_table: list = []


def log_ndtr(z, derivs=False):
    """:class:`_LogNdtr` (built on first use)."""
    if not _log_ndtr_table:
        _log_ndtr_table.append(_LogNdtr())
    return _log_ndtr_table[0](np.ascontiguousarray(z, dtype=float), derivs)


def _probit_binary(yy, eta, derivs):
    """Probit log-densities of 0/1 outcomes from one log cdf per cell: log Phi(z), z = s eta
    with s = +1 (y = 1) or -1 (y = 0) (:func:`log_ndtr`); d/d eta = s phi(z)/Phi(z). The working weight
    phi^2 / (Phi(z) Phi(-z)) is computed when asked for, with log Phi(-z) = log(1 - Phi(z))
    from log Phi(z) (exact to rounding while Phi(-z) is a normal number, i.e. z < 37; beyond
    it the log cdf itself)."""
    s = 2.0 * yy - 1.0
    z = s * eta
    if not derivs:
        return FamilyEval(log_ndtr(z))
    lp, lphi, ratio = log_ndtr(z, derivs=True)  # ratio: phi(z) / Phi(z)
    ratio *= s

    def weights():
        with np.errstate(divide="ignore"):
            lq = np.log(-np.expm1(lp))
        far = lp > -1e-300
        if far.any():
            lq[far] = special.log_ndtr(-z[far])
        return np.exp(2.0 * lphi - lp - lq)

    return FamilyEval(lp, ratio, weights)


class Bernoulli(Binomial):
    name = "bernoulli"
    binary = True


class Poisson(Family):
    """Poisson with log link; the log-likelihood includes -log(y!)."""

    name = "poisson"
    default_link = "log"
    allowed_links = ("log",)
    perturb_scale = 1.0

    def prepare(self, y, aux):
        yv = _numeric_outcome(y)
        check_counts(yv, y.name, "counts for family 'poisson'", y.index)
        aux.lgy = special.gammaln(yv + 1.0)
        return yv

    def evaluate(self, y, eta, extra, aux, derivs=True):
        mu = np.exp(np.minimum(eta, 700.0))
        logf = y[:, None] * eta - mu - aux.lgy[:, None]
        if not derivs:
            return FamilyEval(logf)
        return FamilyEval(logf, y[:, None] - mu, mu)

    def eta_curvature(self, y, eta, aux, extra=None):
        mu = np.exp(np.minimum(eta, 700.0))
        return mu, mu

    def mean(self, eta, extra, aux):
        return np.exp(eta)

    def sample(self, eta, extra, aux, rng):
        return rng.poisson(np.exp(eta)).astype(float)


class Gaussian(Family):
    """Normal outcome, identity link, residual SD sigma (unconstrained: log sigma).

    The residual variance is class-invariant by default (as in Mplus); pass
    ``class_specific=["sigma"]`` to :func:`glmmix.fit` to free it per class. With
    ``sigma_by="item"`` each level of the column has its own residual SD (a latent profile
    analysis's item-specific variances, Mplus's default), labelled ``sigma[level]``.
    """

    name = "gaussian"
    default_link = "identity"
    allowed_links = ("identity",)
    extra_invariant = True
    unbounded_coefficients = False
    has_residual_sd = True

    @property
    def has_extra(self):
        return True

    def prepare(self, y, aux):
        yv = _numeric_outcome(y)
        refuse_values(y, yv, ~np.isfinite(yv), "has non-finite values")
        aux.y_sd = float(np.std(yv)) or 1.0
        return yv

    @staticmethod
    def _groups(aux):
        """Every row's residual-SD set (None: one SD) and the sets' levels."""
        if aux.threshold_group is None:
            return None, [None]
        return aux.threshold_group, aux.threshold_levels

    def n_extra(self, aux):
        return len(self._groups(aux)[1])

    def extra_names(self, aux):
        return ["sigma" if lev is None else f"sigma[{lev}]" for lev in self._groups(aux)[1]]

    def extra_start(self, y, aux):
        g, levels = self._groups(aux)
        if g is None:
            return np.array([np.log(aux.y_sd)])
        n = np.bincount(g, minlength=len(levels))
        s1 = np.bincount(g, y, minlength=len(levels))
        s2 = np.bincount(g, y * y, minlength=len(levels))
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.maximum(s2 / n - (s1 / n) ** 2, 0.0))
        ok = np.isfinite(sd) & (sd > 0)
        return np.log(np.where(ok, sd, aux.y_sd))

    def extra_natural(self, a, aux):
        return np.exp(a)

    def extra_from_natural(self, v, aux):
        return np.log(v)

    @property
    def perturb_scale(self):
        return 1.0  # multiplied by the outcome SD in the start generator

    def start_scale(self, extra):
        return self.perturb_scale * float(np.exp(extra.mean()))

    def fixed_extra(self, value, label):
        if not value > 0:
            raise DesignError(f"fix[{label!r}] = {plain(value)!r}: a residual SD must be positive")
        return np.log(value)

    def _log_sd(self, extra, aux, n):
        """log sigma of every row and state, shape (n, S) (or (1, S) with one SD), and the
        column of each row's SD in the state's family parameters."""
        g = aux.threshold_group
        if g is None:
            return extra[:, 0][None, :], np.zeros((n, 1), dtype=np.intp)
        return extra[:, g].T, g[:, None]

    def evaluate(self, y, eta, extra, aux, derivs=True):
        n = y.shape[0]
        ls, cols = self._log_sd(extra, aux, n)
        s2 = np.exp(2 * ls)
        r = y[:, None] - eta
        z2 = r * r / s2
        logf = -0.5 * LOG_2PI - ls - 0.5 * z2
        if not derivs:
            return FamilyEval(logf)
        return FamilyEval(
            logf,
            r / s2,
            np.broadcast_to(1.0 / s2, eta.shape),
            (z2 - 1.0)[:, :, None],
            cols,
        )

    def eta_curvature(self, y, eta, aux, extra=None):
        """w = 1 / sigma^2 (the same observed and expected), constant in eta."""
        if extra is None:
            return None
        ls, _ = self._log_sd(extra, aux, y.shape[0])
        w = np.broadcast_to(np.exp(-2 * ls), eta.shape)
        return w, np.zeros(eta.shape)

    def curvature_extra(self, y, eta, extra, aux, step: float = 1e-5):
        """In log sigma: d w = -2 w, d (d logf / d eta) = -2 (y - eta) / sigma^2; one SD per row."""
        ls, _ = self._log_sd(extra, aux, y.shape[0])
        w = np.exp(-2 * ls)
        dd = -2.0 * (y[:, None] - eta) * w
        return np.broadcast_to(-2.0 * w, eta.shape)[:, :, None], dd[:, :, None]

    def mean(self, eta, extra, aux):
        return eta

    def sample(self, eta, extra, aux, rng):
        g = aux.threshold_group
        ls = extra[:, 0] if g is None else extra[np.arange(len(eta)), g]
        return eta + np.exp(ls) * rng.standard_normal(eta.shape)


class Ordinal(Family):
    """Cumulative (proportional-odds) model: P(y <= k | eta) = F(tau_k - eta).

    Thresholds tau_1 < ... < tau_{M-1} are class-specific by default and may be separate
    for each level of a column (``thresholds_by="item"``, as each item of an ordinal LCA
    has its own thresholds). Unconstrained form: a_1 = tau_1, a_k = log(tau_k - tau_{k-1}).
    """

    name = "ordinal"
    default_link = "logit"
    allowed_links = ("logit", "probit")
    thresholds = True
    extra_fixable = False

    @property
    def perturb_scale(self):
        return 2.0 if self.link.name == "logit" else 1.2

    @property
    def has_extra(self):
        return True

    def prepare(self, y, aux):
        if isinstance(y.dtype, pd.CategoricalDtype):
            if not y.cat.ordered:
                raise DesignError(
                    f"outcome {y.name!r} is an unordered categorical; make it ordered "
                    "(pd.Categorical(..., ordered=True)) so the category order is known"
                )
            cats = list(y.cat.categories)
            codes = y.cat.codes.to_numpy().astype(float)
        elif pd.api.types.is_numeric_dtype(y.dtype):
            yv = _numeric_outcome(y)
            refuse_values(y, yv, ~np.isfinite(yv), "has non-finite values",
                          "; an ordinal outcome's categories must be finite numbers or an ordered categorical")
            cats = [plain(c) for c in sorted(pd.unique(y.to_numpy()))]
            if pd.api.types.is_float_dtype(y.dtype) and all(float(c).is_integer() for c in cats):
                cats = [int(c) for c in cats]  # whole numbers held as floats (missing values): 1, not 1.0
            codes = pd.Categorical(y.to_numpy(), categories=cats).codes.astype(float)
            _warn_integer_gaps(y.name, cats)
        else:
            raise DesignError(
                f"outcome {y.name!r} must be numeric or an ordered categorical for family "
                "'ordinal' (the order of its categories must be known)"
            )
        if len(cats) < 2:
            raise DesignError(f"outcome {y.name!r} has fewer than two categories")
        aux.categories = cats
        aux.n_cat = len(cats)
        groups = aux.threshold_group
        if groups is None:
            aux.threshold_group = np.zeros(len(codes), dtype=np.intp)
            aux.threshold_levels = [None]
        ng = len(aux.threshold_levels)
        seen = np.zeros((ng, len(cats)), bool)
        seen[aux.threshold_group, codes.astype(int)] = True
        if not seen.all():
            g, k = np.argwhere(~seen)[0]
            lev = aux.threshold_levels[g]
            where = "" if lev is None else f" for {aux.threshold_by!r} = {plain(lev)!r}"
            raise DesignError(
                f"outcome {y.name!r} has no responses in category {cats[k]!r}{where}; its "
                "thresholds are not identified: recode (merge categories) first"
            )
        return codes

    def n_extra(self, aux):
        return len(aux.threshold_levels) * (aux.n_cat - 1)

    def extra_names(self, aux):
        m = aux.n_cat - 1
        out = []
        for lev in aux.threshold_levels:
            for k in range(m):
                out.append(f"threshold[{k + 1}]" if lev is None else f"threshold[{lev}:{k + 1}]")
        return out

    def extra_start(self, y, aux):
        m = aux.n_cat - 1
        out = []
        g = aux.threshold_group
        for j in range(len(aux.threshold_levels)):
            yy = y[g == j]
            cum = np.array([(yy <= k).mean() for k in range(m)])
            cum = np.clip(cum, 1e-3, 1 - 1e-3)
            # invert the link's cdf through a bisection-free closed form
            tau = special.logit(cum) if self.link.name == "logit" else special.ndtri(cum)
            tau = np.maximum.accumulate(tau + 1e-6 * np.arange(m))
            out.append(self._to_unconstrained(tau))
        return np.concatenate(out)

    @staticmethod
    def _to_unconstrained(tau):
        a = np.empty_like(tau)
        a[..., 0] = tau[..., 0]
        a[..., 1:] = np.log(np.maximum(np.diff(tau, axis=-1), 1e-12))
        return a

    def extra_natural(self, a, aux):
        m = aux.n_cat - 1
        shp = a.shape
        aa = a.reshape(shp[:-1] + (-1, m))
        # increments are exp(a); a beyond +-30 is far past any finite estimate (a boundary)
        tau = np.cumsum(np.concatenate([aa[..., :1], np.exp(np.clip(aa[..., 1:], -30, 30))], axis=-1), axis=-1)
        return tau.reshape(shp)

    def extra_from_natural(self, v, aux):
        m = aux.n_cat - 1
        shp = v.shape
        return self._to_unconstrained(v.reshape(shp[:-1] + (-1, m))).reshape(shp)

    def extra_perturb(self, a, aux, rng):
        m = aux.n_cat - 1
        a = a.copy().reshape(-1, m)
        a[:, 0] += self.perturb_scale * rng.uniform(-1, 1, size=a.shape[0])
        return a.reshape(-1)

    def _taus(self, extra, aux):
        """Thresholds with -inf/+inf padding: shape (n_states, n_groups, M+1)."""
        m = aux.n_cat - 1
        s = extra.shape[0]
        tau = self.extra_natural(extra, aux).reshape(s, -1, m)
        pad_lo = np.full(tau.shape[:-1] + (1,), -np.inf)
        pad_hi = np.full(tau.shape[:-1] + (1,), np.inf)
        return np.concatenate([pad_lo, tau, pad_hi], axis=-1)

    def evaluate(self, y, eta, extra, aux, derivs=True):
        m = aux.n_cat - 1
        g = aux.threshold_group
        k = y.astype(np.intp)
        taus = self._taus(extra, aux)  # (S, G, M+1)
        if not derivs:
            hi = taus[:, g, k + 1].T - eta  # (n, S)
            lo = taus[:, g, k].T - eta
            return FamilyEval(_log_diff_cdf(self.link, lo, hi))
        # every threshold's cdf, survival and density once: (n, S, m)
        z = taus[:, g, 1:m + 1].transpose(1, 0, 2) - eta[:, :, None]
        logF = self.link.logcdf(z)
        logS = self.link.logcdf(-z)
        lpdf = self.link.logpdf(z)
        logP = _category_logprobs(logF, logS, z)  # (n, S, m + 1)
        n, s = eta.shape
        rows = np.arange(n)
        logf = logP[rows, :, k]
        up = k < m  # the observed category's upper and lower thresholds' densities over P(y = k)
        lw = k > 0
        with np.errstate(over="ignore", invalid="ignore"):
            fhi = np.zeros_like(eta)
            fhi[up] = np.exp(lpdf[rows[up], :, k[up]] - logf[up])
            flo = np.zeros_like(eta)
            flo[lw] = np.exp(lpdf[rows[lw], :, k[lw] - 1] - logf[lw])
            # expected information for eta: sum_c (f(upper_c) - f(lower_c))^2 / P_c
            half = 0.5 * logP
            fu = np.exp(lpdf - half[:, :, :m])  # f(z_c) / sqrt(P_c), c < m
            fl = np.exp(lpdf - half[:, :, 1:])  # f(z_{c-1}) / sqrt(P_c), c >= 1
        w = fu[:, :, 0] ** 2 + fl[:, :, m - 1] ** 2
        for c in range(1, m):
            w += (fu[:, :, c] - fl[:, :, c - 1]) ** 2
        d_eta = flo - fhi
        # derivatives w.r.t. tau_j (j = 1..m) are +fhi at j = k + 1 (upper) and -flo at j = k;
        # tau_j = a_0 + sum_{1 <= i <= j} exp(a_i), so d logf / d a_i sums them over j >= i
        # (times exp(a_i) for i >= 1): fhi where i <= k, minus flo where i <= k - 1
        i = np.arange(m)
        d_a = fhi[:, :, None] * (i[None, :] <= k[:, None])[:, None, :]
        d_a -= flo[:, :, None] * (i[None, :] < k[:, None])[:, None, :]
        ex = None
        if m > 1:
            ex = np.exp(np.clip(extra.reshape(s, -1, m)[:, :, 1:], -30, 30))[:, g, :].transpose(1, 0, 2)  # (n, S, m-1)
            d_a[:, :, 1:] *= ex
        cols = g[:, None] * m + np.arange(m)[None, :]
        return FamilyEval(logf, d_eta, w, d_a, cols, lambda: self._threshold_information(fu, fl, ex))

    @staticmethod
    def _threshold_information(fu, fl, ex):
        """The expected information of (eta, a) per row and state, from f(z_t) / sqrt(P_c) of
        each threshold t as the upper (``fu``: category t) and the lower (``fl``: category
        t + 1) bound. With g_c = (dP_c / d eta) / sqrt(P_c) and the thresholds' d P_c / d tau_t
        = f_t ([c = t] - [c = t + 1]): I(tau_t, tau_t) = fu_t^2 + fl_t^2, I(tau_t, tau_t+1) =
        -fl_t fu_t+1, I(eta, tau_t) = -sum_s I(tau_t, tau_s) (P_c depends on tau - eta only: a
        shift of eta and every threshold together carries no information; the centring of a
        covariate far from zero against the first threshold, ``scaling._centring``, needs it).
        Then to a through d tau_t / d a_0 = 1, d tau_t / d a_i = exp(a_i) (1 <= i <= t)."""
        n, s, m = fu.shape
        It = np.zeros((n, s, m, m))
        t = np.arange(m)
        It[:, :, t, t] = fu**2 + fl**2
        if m > 1:
            off = -fl[:, :, :-1] * fu[:, :, 1:]
            It[:, :, t[:-1], t[1:]] = off
            It[:, :, t[1:], t[:-1]] = off
        cross = -It.sum(axis=3)
        J = np.broadcast_to(np.tril(np.ones((m, m))), (n, s, m, m)).copy()  # J[t, i] = d tau_t / d a_i
        if m > 1:
            J[:, :, :, 1:] *= ex[:, :, None, :]
        Ia = np.einsum("nsti,nstu,nsuj->nsij", J, It, J, optimize=True)
        return np.einsum("nst,nsti->nsi", cross, J), Ia

    def eta_curvature(self, y, eta, aux, extra=None):
        """-d2 log P / d eta2 and its derivative, P = F(b) - F(a) with b, a the observed
        category's upper and lower thresholds minus eta: with r(x) = f(x) / P and the link's
        f' / f, f'' / f (logit: 1 - 2F, 1 - 6F(1 - F); probit: -x, x^2 - 1), the derivatives
        of log P in eta are d1 = r(a) - r(b), d2 = q2 - d1^2 and d3 = q3 - 3 q2 d1 + 2 d1^3,
        where q2 = r(b) f'(b) / f(b) - r(a) f'(a) / f(a) (P's second derivative over P) and
        q3 = r(a) f''(a) / f(a) - r(b) f''(b) / f(b) (its third)."""
        if extra is None:
            return None
        g = aux.threshold_group
        k = np.asarray(y).astype(np.intp)
        taus = self._taus(extra, aux)
        hi = taus[:, g, k + 1].T - eta  # (n, S)
        lo = taus[:, g, k].T - eta
        logP = _log_diff_cdf(self.link, lo, hi)
        logit = self.link.name == "logit"

        def ratios(x):  # r, r f'/f, r f''/f; 0 at an infinite threshold
            fin = np.isfinite(x)
            xx = np.where(fin, x, 0.0)
            r = np.where(fin, np.exp(self.link.logpdf(xx) - logP), 0.0)
            if logit:
                F = special.expit(xx)
                return r, r * (1.0 - 2.0 * F), r * (1.0 - 6.0 * F * (1.0 - F))
            return r, -r * xx, r * (xx * xx - 1.0)

        rb, r1b, r2b = ratios(hi)
        ra, r1a, r2a = ratios(lo)
        d1 = ra - rb
        q2 = r1b - r1a
        q3 = r2a - r2b
        w = d1 * d1 - q2
        dw = -(q3 - 3.0 * q2 * d1 + 2.0 * d1**3)
        return w, dw

    def mean(self, eta, extra, aux):
        """Expected category index (0-based) for every state."""
        m = aux.n_cat - 1
        g = aux.threshold_group
        taus = self._taus(extra, aux)
        out = np.zeros_like(eta)
        for c in range(1, m + 1):  # E[k] = sum_{c>=1} P(y >= c)
            out += 1.0 - self.link.cdf(taus[:, g, c].T - eta)
        return out

    def probabilities(self, eta, extra, aux):
        """P(y = k) for every category k (0-based) and state: (n, states, categories)."""
        m = aux.n_cat - 1
        z = self._taus(extra, aux)[:, aux.threshold_group, 1:m + 1].transpose(1, 0, 2) - eta[:, :, None]
        return np.exp(_category_logprobs(self.link.logcdf(z), self.link.logcdf(-z), z))

    def sample(self, eta, extra, aux, rng):
        m = aux.n_cat - 1
        g = aux.threshold_group
        tau = self.extra_natural(extra, aux).reshape(len(eta), -1, m)[np.arange(len(eta)), g]
        u = rng.uniform(size=len(eta))
        cum = self.link.cdf(tau - eta[:, None])
        return (u[:, None] > cum).sum(axis=1).astype(float)


FAMILIES = {
    "bernoulli": Bernoulli,
    "binomial": Binomial,
    "poisson": Poisson,
    "gaussian": Gaussian,
    "normal": Gaussian,
    "ordinal": Ordinal,
    "cumulative": Ordinal,
}


def get_family(family, link=None) -> Family:
    """Resolve a family given as a name or an instance."""
    if isinstance(family, Family):
        if link is not None and link != family.link.name:
            raise DesignError(f"family object has link {family.link.name!r} but link={link!r} was given")
        return family
    if not isinstance(family, str) or family.lower() not in FAMILIES:
        raise DesignError(f"unknown family {family!r}; use one of {sorted(FAMILIES)}")
    return FAMILIES[family.lower()](link)


def _numeric_outcome(y: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(y.dtype):
        return y.to_numpy().astype(float)
    if y.dtype.kind == "c":
        raise DesignError(f"outcome {y.name!r} holds complex numbers ({y.dtype}); models take real values")
    if y.dtype == object and pd.api.types.infer_dtype(y, skipna=True) in ("integer", "floating",
                                                                         "mixed-integer-float", "decimal"):
        return y.to_numpy(dtype=float)  # numbers held as Python objects: their values are unambiguous
    if not pd.api.types.is_numeric_dtype(y.dtype):
        values = pd.unique(y.dropna())
        hint = ""
        kinds = pd.api.types.infer_dtype(y, skipna=True)
        if kinds in ("mixed", "mixed-integer"):
            hint = "; it mixes values of different types (such as numbers and text, or True and 1): give it one type"
        elif len(values) == 2:  # a binary outcome as text: which value is a success is the user's to say
            a, b = sorted(map(str, values))
            hint = (f"; its values are {a!r} and {b!r}: code the success as 1, e.g. a column "
                    f"(df[{y.name!r}] == {b!r}).astype(int)")
        elif len(values) > 2 and kinds == "string" and \
                pd.to_numeric(pd.Series(values), errors="coerce").notna().mean() >= 0.5:
            hint = (f"; most of its {len(values)} values read as numbers (numbers read as text?): convert it with "
                    f"pd.to_numeric(df[{y.name!r}], errors='coerce'), which makes the others missing")
        elif len(values) > 2:
            hint = f"; it has {len(values)} values: for ordered categories use family='ordinal'"
        raise DesignError(f"outcome {y.name!r} must be numeric (it has dtype {y.dtype}){hint}")
    return y.to_numpy(dtype=float)


def _warn_integer_gaps(name, cats) -> None:
    """An ordinal outcome coded 1, 2, 3, 5: its categories are the values observed, so 4 is
    none of them (as an empty category of an ordered categorical, which is refused); said,
    since predicted category indices and thresholds then skip it."""
    v = np.asarray(cats, dtype=float)
    if len(v) < 2 or not np.all(v == np.round(v)) or v[-1] - v[0] + 1 == len(v) or v[-1] - v[0] > 1000:
        return
    gaps = sorted(set(range(int(v[0]), int(v[-1]) + 1)) - set(v.astype(int).tolist()))
    warnings.warn(f"ordinal outcome {name!r} takes the values {[plain(c) for c in cats][:12]}: its {len(cats)} "
                  f"categories are the values observed, in order, and {gaps[:5]}, which no row has, "
                  f"{'is' if len(gaps) == 1 else 'are'} none of them (threshold[k] separates the k-th and "
                  "(k+1)-th observed values; predicted category indices count observed values from 0)",
                  DataWarning, stacklevel=2)


def refuse_values(y: pd.Series, yv: np.ndarray, bad: np.ndarray, problem: str, advice: str = ""):
    """Raise a DesignError naming the outcome, a few offending values, how many rows and the
    first row's index, when any of ``bad`` is set."""
    if bad.any():
        vals = [float(v) for v in pd.unique(yv[bad])[:5]]
        raise DesignError(f"outcome {y.name!r} {problem}: found {vals} in {int(bad.sum())} row(s) "
                          f"(first at index {plain(y.index[np.argmax(bad)])!r}){advice}")


#: largest count taken as an exact integer (2**53: above it doubles skip integers)
MAX_COUNT = 2.0 ** 53


def check_counts(v: np.ndarray, name, what: str, index=None):
    """Refuse values that are not finite non-negative integers, naming the column and values."""
    bad = ~np.isfinite(v) | (v < 0) | (v != np.round(v)) | (v > MAX_COUNT)
    if bad.any():
        vals = [float(x) for x in pd.unique(v[bad])[:5]]
        where = f" (first at index {plain(index[np.argmax(bad)])!r})" if index is not None else ""
        big = " (counts above 2**53 are not exact integers in floating point)" if (v[bad] > MAX_COUNT).any() else ""
        raise DesignError(
            f"column {name!r} must hold non-negative integer {what}: found {vals} in "
            f"{int(bad.sum())} row(s){where}{big}")
