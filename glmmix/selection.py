"""Choosing the number of classes: enumeration table, Vuong-Lo-Mendell-Rubin test, bootstrap LRT.

* :func:`enumerate_classes` fits K = 1, 2, ... with the same settings and tabulates fit
  statistics and tests of K-1 against K classes (:class:`ClassEnumeration`).
* :func:`lmr_test`: the Vuong-Lo-Mendell-Rubin likelihood ratio test and its adjusted version
  (Lo, Mendell & Rubin 2001, after Vuong 1989, Theorem 3.3; Mplus TECH11).
* :func:`blrt`: the parametric bootstrap likelihood ratio test (McLachlan & Peel 2000, 6.6;
  Nylund, Asparouhov & Muthen 2007; Mplus TECH14).

The Vuong-LMR test. For models f (K classes, p free parameters theta) and g (K-1 classes,
q free parameters gamma) fitted to the same n independent units, Vuong's theorem gives the
null distribution of LR = 2 (l_f - l_g) as that of sum_j lambda_j Z_j^2, Z_j iid N(0, 1),
with lambda_j the p + q eigenvalues of

    W = [ -B_f A_f^-1    -B_fg A_g^-1 ]
        [  B_gf A_f^-1    B_g A_g^-1  ]

where A are the Hessians of the mean log-likelihood per unit, B_f = E[s_f s_f'],
B_g = E[s_g s_g'] and B_fg = E[s_f s_g'] the (cross-)products of the units' scores, all at
the estimates. Its p-value is computed exactly by Imhof's (1961) inversion formula. The
adjusted test divides LR by 1 + 1 / ((p - q) log n) (Lo, Mendell & Rubin 2001, eq 15) and
refers it to the same distribution. This is Vuong's formula as Latent GOLD implements it; Mplus's
TECH11 puts the robust (sandwich) covariance in place of -A^-1, which can give rather
different p-values (Vermunt 2024, Methodology 20, 72-83). Parameters on a boundary of their
space (a probability of 0 or 1) are held fixed, as for standard errors: they enter neither
scores nor Hessians.

The LMR test is liberal, and this is the test's own behaviour, not a defect of the code.
Vuong's theorem needs the K-class model to be identified at its pseudo-true value; under the
null of K-1 classes it is not (a class of share 0, or two equal classes, along a whole set of
parameter values), so the weighted chi-square is not the null distribution of LR (Jeffries
2003, Biometrika 90, 991-994, on Lo, Mendell & Rubin's derivation); simulations find p-values
that are not uniform under the null (Nylund, Asparouhov & Muthen 2007; Vermunt 2024). Measured
in tests/test_selection.py, data from one class (150 units, 4 binary items), 1 against 2
classes at 5%: the LMR rejected 25 of 200 data sets (0.125; adjusted LMR 21/200 = 0.105),
mean p-value 0.29 where a uniform one would give 0.5. Where the theorem's conditions hold
(nested logistic regressions, the smaller one true) the same weights and Imhof inversion
reject 19 of 400 null data sets at 5%, and the weights agree with W built by hand from the
GLM scores. Use :func:`blrt` to decide on K: on the same 200 data sets (19 bootstrap draws
each) it rejected 10/200 = 0.050 at 5%.

The table of :class:`ClassEnumeration` has these columns (a stable interface):

==================  ===========================================================================
``classes``         K (the index)
``log-likelihood``  maximised log-likelihood
``parameters``      number of free parameters
``AIC``             -2 LL + 2 p
``BIC``             -2 LL + p log n, n independent units (with frequency weights, their sum)
``SABIC``           -2 LL + p log((n + 2) / 24)
``CAIC``            -2 LL + p (log n + 1), n as for BIC
``entropy``         relative entropy of the classification (NaN for K = 1)
``smallest class``  smallest model-implied class proportion
``LL replicated``   whether the best log-likelihood was reached by at least two final starts
``converged``       whether the fit converged
``LMR LR``          2 (LL_K - LL_K-1)
``LMR p``           Vuong-LMR p-value for K-1 against K classes (NaN for the first row)
``aLMR p``          adjusted LMR p-value
``BLRT p``          bootstrap LRT p-value (NaN unless ``blrt=True``)
==================  ===========================================================================
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import integrate, stats

from .exceptions import GlmmixError
from .progress import run_jobs
from .results import other_outcomes
from .weights import refuse_weighted, score_copies

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from collections.abc import Iterable

    from .results import MixtureResults

#: the columns of ClassEnumeration.table, in order
TABLE_COLUMNS = ["log-likelihood", "parameters", "AIC", "BIC", "SABIC", "CAIC", "entropy", "smallest class",
                 "LL replicated", "converged", "LMR LR", "LMR p", "aLMR p", "BLRT p"]


class SelectionError(GlmmixError, ValueError):
    """Models that cannot be compared by a class-enumeration test."""


# ---------------------------------------------------------------------------- distribution
def weighted_chi2_sf(x: float, weights) -> float:
    """P(sum_j w_j Z_j^2 > x) for iid standard normal Z_j (Imhof 1961, exact inversion).

    Weights may have either sign; zero weights are dropped. Equal positive weights (one
    weight among them) give the scaled chi-square's tail directly: Imhof's integrand then
    decays only as u^(-3/2) for one weight, and the integral to infinity loses 3e-5.
    """
    w = np.asarray(weights, dtype=float).ravel()
    w = w[np.abs(w) > 1e-12 * max(1.0, np.abs(w).max(initial=0.0))]
    if w.size == 0:
        return float(x < 0)
    if w.min() > 0 and np.ptp(w) <= 1e-12 * w.max():
        return float(stats.chi2.sf(x / w.mean(), w.size))

    def integrand(u):
        if u == 0.0:
            return 0.5 * (w.sum() - x)  # limit of sin(theta(u)) / (u rho(u)) as u -> 0
        theta = 0.5 * np.arctan(w * u).sum() - 0.5 * x * u
        rho = np.exp(0.25 * np.log1p((w * u) ** 2).sum())
        return np.sin(theta) / (u * rho)

    sd = np.sqrt(2.0 * (w**2).sum())
    if x > w.sum() + 60.0 * sd and w.min() > 0:
        return 0.0  # beyond any p-value worth reporting (the integral only oscillates there)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        val, _ = integrate.quad(integrand, 0.0, np.inf, limit=2000, epsabs=1e-11)
    return float(np.clip(0.5 + val / np.pi, 0.0, 1.0))


# ---------------------------------------------------------------------------- LMR
def _check_pair(small, big, what, frequency_ok=False):
    for name, r in (("small", small), ("big", big)):
        if getattr(r, "model", None) is None:
            raise SelectionError(f"{name} must be a result fitted in this session (a loaded result has no data)")
        if not (frequency_ok and r.unit_freq is not None):
            refuse_weighted(r, what)
    if (small.unit_freq is None) != (big.unit_freq is None):
        raise SelectionError("small and big must both have, or both lack, the frequency weights")
    if big.n_classes <= small.n_classes:
        raise SelectionError(f"big must have more classes than small ({big.n_classes} vs {small.n_classes})")
    if big.n_clusters != small.n_clusters or big.nobs != small.nobs:
        raise SelectionError("small and big were not fitted to the same data: "
                             f"{small.n_clusters} vs {big.n_clusters} independent units, "
                             f"{small.nobs} vs {big.nobs} rows")
    if other_outcomes(small, big):
        raise SelectionError("small and big were not fitted to the same data: their outcome values differ "
                             "(another outcome column or other rows, of the same number)")
    if big.family != small.family or big.link != small.link:
        raise SelectionError("small and big must have the same family and link")
    if small.formula != big.formula:  # K-1 classes as the restriction of K: the same model otherwise
        raise SelectionError("small and big must have the same formula (they differ only in n_classes)")


def _scores_hessian(res):
    """Per-unit scores and Hessian of the log-likelihood at the estimates, boundary parameters out."""
    theta = np.asarray(res.theta, dtype=float)
    keep = np.array([i for i in range(theta.size) if i not in set(res.boundary)], dtype=int)
    S = res.model.likelihood.unit_scores(theta)[:, keep]
    copies = score_copies(res.model.design)
    if copies is not None:  # frequency weights: B = sum_i f_i s_i s_i' from the weighted scores f_i s_i
        S = S / np.sqrt(copies)[:, None]
    H = -res.model.information(theta)[np.ix_(keep, keep)]
    return S, H


def _inv_sqrt_neg(H, which):
    """N^1/2 with N = (-H)^-1 (a pseudo-inverse, with a warning, when -H is not positive definite)."""
    w, V = np.linalg.eigh(-H)
    tol = 1e-9 * max(1.0, np.abs(w).max())
    if w[0] <= tol:
        warnings.warn(f"the {which} model's information matrix is singular (smallest eigenvalue {w[0]:.3g}): "
                      "the LMR test drops its unidentified directions", stacklevel=3)
    inv = np.where(w > tol, 1.0 / np.sqrt(np.where(w > tol, w, 1.0)), 0.0)
    return (V * inv) @ V.T


def lmr_eigenvalues(small, big) -> np.ndarray:
    """The eigenvalues of Vuong's W for ``big`` (f) against ``small`` (g) (module docstring).

    W = E B N with E = diag(I_p, -I_q), B the joint score cross-product matrix and
    N = diag(-A_f^-1, -A_g^-1); it is similar to the symmetric S^1/2 E S^1/2 with
    S = N^1/2 B N^1/2, whose eigenvalues are computed (the sample sizes cancel).
    """
    Sf, Hf = _scores_hessian(big)
    Sg, Hg = _scores_hessian(small)
    p, q = Sf.shape[1], Sg.shape[1]
    R = np.zeros((p + q, p + q))
    R[:p, :p] = _inv_sqrt_neg(Hf, "big")
    R[p:, p:] = _inv_sqrt_neg(Hg, "small")
    T = np.concatenate([Sf, Sg], axis=1) @ R  # scores in the N^1/2 metric: S = T'T
    e = np.concatenate([np.ones(p), -np.ones(q)])
    # eigenvalues of S^1/2 E S^1/2 = those of T E T' restricted to its range: use T's SVD
    U, sv, Vt = np.linalg.svd(T, full_matrices=False)
    M = (Vt * e) @ Vt.T
    lam = np.linalg.eigvalsh((sv[:, None] * M) * sv[None, :])
    return np.sort(lam)[::-1]


@dataclass
class LMRResult:
    """Vuong-Lo-Mendell-Rubin test of K-1 (small) against K (big) classes (Mplus TECH11)."""

    statistic: float  #: 2 (LL_big - LL_small)
    pvalue: float
    adjusted_statistic: float
    adjusted_pvalue: float
    df: int  #: difference in free parameters
    mean: float  #: mean of the null distribution, sum of the eigenvalues
    sd: float  #: its SD, sqrt(2 sum of squared eigenvalues)
    eigenvalues: np.ndarray = field(repr=False)
    n_classes: tuple = (0, 0)

    def summary(self) -> str:
        """The test as text: statistics, p-values and the likelihoods compared."""
        return _test_report(
            "Vuong-Lo-Mendell-Rubin likelihood ratio test", self.n_classes,
            [("2 x log-likelihood difference", f"{self.statistic:12.3f}"), ("Difference in parameters", f"{self.df:12d}"),
             ("Mean", f"{self.mean:12.3f}"), ("Standard deviation", f"{self.sd:12.3f}"),
             ("P-value", f"{self.pvalue:12.4f}"), ("Lo-Mendell-Rubin adjusted LRT test", None),
             ("Value", f"{self.adjusted_statistic:12.3f}"), ("P-value", f"{self.adjusted_pvalue:12.4f}")])

    def __str__(self):
        return self.summary()


def _test_report(title: str, n_classes: tuple, rows: list) -> str:
    """The text of a test of K-1 against K classes: a title line, then (label, value) rows
    (a row without a value is a sub-title)."""
    k0, k1 = n_classes
    lines = [f"{title} for {k0} (H0) versus {k1} classes"]
    lines += [label if value is None else f"  {label:<32}{value}" for label, value in rows]
    return "\n".join(lines)


def lmr_test(small: MixtureResults, big: MixtureResults) -> LMRResult:
    """Vuong-Lo-Mendell-Rubin and adjusted LMR tests of ``small`` (K-1 classes) against ``big``.

    Both must be fitted in this session to the same data with the same family. A p-value
    below 0.05 rejects K-1 classes in favour of K. See the module docstring for the
    definitions.
    """
    _check_pair(small, big, "lmr_test()", frequency_ok=True)
    lr = 2.0 * (big.llf - small.llf)
    if lr < -1e-6:
        warnings.warn(f"the {big.n_classes}-class model has the lower log-likelihood ({big.llf:.4f} < "
                      f"{small.llf:.4f}): it did not reach its maximum; use more starts", stacklevel=2)
    lr = max(lr, 0.0)
    lam = lmr_eigenvalues(small, big)
    df = big.df_model - small.df_model
    if df <= 0:
        raise SelectionError("big must have more free parameters than small")
    adj = lr / (1.0 + 1.0 / (df * np.log(big.n_independent)))
    return LMRResult(statistic=lr, pvalue=weighted_chi2_sf(lr, lam), adjusted_statistic=adj,
                     adjusted_pvalue=weighted_chi2_sf(adj, lam), df=int(df), mean=float(lam.sum()),
                     sd=float(np.sqrt(2 * (lam**2).sum())), eigenvalues=lam,
                     n_classes=(small.n_classes, big.n_classes))


# ---------------------------------------------------------------------------- BLRT
@dataclass
class BLRTResult:
    """Parametric bootstrap likelihood ratio test (Mplus TECH14)."""

    statistic: float  #: 2 (LL_big - LL_small) on the data
    pvalue: float  #: (1 + #{bootstrap LR >= statistic}) / (1 + successful draws)
    bootstrap: np.ndarray = field(repr=False)  #: the bootstrap LRs
    n_boot: int = 0
    n_failed: int = 0
    n_classes: tuple = (0, 0)

    def summary(self) -> str:
        """The test as text: the statistic, the bootstrap p-value and the replications used."""
        failed = f" ({self.n_failed} failed)" if self.n_failed else ""
        return _test_report(
            "Parametric bootstrapped likelihood ratio test", self.n_classes,
            [("2 x log-likelihood difference", f"{self.statistic:12.3f}"),
             ("Bootstrap draws", f"{self.n_boot - self.n_failed:12d}{failed}"), ("P-value", f"{self.pvalue:12.4f}")])

    def __str__(self):
        return self.summary()


def _check_boot_args(n_boot, starts, seed, n_jobs):
    """The bootstrap's own arguments, before any draw."""
    from .validate import check_n_jobs, check_seed, check_starts

    if not isinstance(n_boot, (int, np.integer)) or isinstance(n_boot, (bool, np.bool_)) or n_boot < 1:
        raise SelectionError(f"n_boot must be a positive integer, not {n_boot!r}")
    check_starts(starts)
    check_seed(seed)
    check_n_jobs(n_jobs)


def _check_fit_kwargs(kw, what):
    """Every name in ``kw`` is an argument of :func:`glmmix.fit`."""
    import inspect

    from .api import fit

    unknown = sorted(set(kw) - set(inspect.signature(fit).parameters))
    if unknown:
        raise SelectionError(f"{what}: {unknown} are not arguments of glmmix.fit")


def _fit_settings(res, fit_kwargs):
    if fit_kwargs is not None and not isinstance(fit_kwargs, dict):
        raise SelectionError(f"fit_kwargs must be a dict of glmmix.fit's arguments, not {type(fit_kwargs).__name__}")
    kw = dict(fit_kwargs or {})
    _check_fit_kwargs(kw, "fit_kwargs")
    for bad in ("n_classes", "data", "seed", "start_from", "start_params", "starts", "options", "n_jobs"):
        if bad in kw:
            raise SelectionError(f"fit_kwargs cannot set {bad!r}: the bootstrap chooses it (starts: blrt's own "
                                 "argument)")
    kw.setdefault("family", res.family)
    kw.setdefault("link", res.link)
    kw.setdefault("se", "none")
    kw.setdefault("progress", False)  # one bar over the draws, none per bootstrap fit
    return kw


def _fitted_data(res, data, kw):
    """``data`` as the bootstrap draws from it (reshaped when ``kw`` has ``items``, which it
    then loses), checked to be the data ``res`` was fitted to."""
    from .simulate import fitted_rows

    try:
        return fitted_rows(res, data, kw.pop("items", None), kw.pop("id", None))
    except GlmmixError as exc:
        raise SelectionError(str(exc)) from None


def _check_same_model(res, name, data, kw):
    """The bootstrap refits ``res``'s formula with ``kw`` (blrt's ``fit_kwargs``): refuse,
    before any draw, settings that give another model than the one fitted (``fix=``,
    ``invariant=``, ``thresholds_by=`` ... left out), whose likelihood-ratio distribution
    would not be the test's."""
    from .model import MODEL_KEYWORDS, MixtureModel
    from .reporting import fixed_params

    model_kw = {k: v for k, v in kw.items() if k in MODEL_KEYWORDS}
    try:
        m = MixtureModel.from_formula(res.formula, data, res.n_classes, kw["family"], kw["link"], **model_kw)
    except GlmmixError as exc:
        raise SelectionError(f"the bootstrap cannot build the model of {name} from fit_kwargs: {exc}") from None
    free, fixed = list(m.layout.labels), sorted(fixed_params(m.likelihood, m.start_params()))
    if free == list(res.params.index) and fixed == sorted(res.fixed_params.index):
        return
    extra = [lab for lab in free if lab not in set(res.params.index)][:3]
    lost = [lab for lab in res.params.index if lab not in set(free)][:3]
    fixed_diff = sorted(set(fixed) ^ set(res.fixed_params.index))[:3]
    detail = "; ".join(t for t in (f"parameters {extra} not in {name}" if extra else "",
                                   f"{name}'s parameters {lost} missing" if lost else "",
                                   f"fixed parameters differ: {fixed_diff}" if fixed_diff else "") if t)
    raise SelectionError(f"the bootstrap fits with fit_kwargs={ {k: v for k, v in kw.items() if k in MODEL_KEYWORDS} } "
                         f"would not be the model of {name} ({len(free)} free parameters against its "
                         f"{res.df_model}; {detail or 'labels in another order'}): give blrt the fit's own "
                         "arguments in fit_kwargs (fix=, equal=, invariant=, thresholds_by=, measured_by=, ...)")


def _boot_one(small, big, data, formula, kw, starts, seed):
    from .api import fit
    from .simulate import simulate

    rng = np.random.default_rng(seed)
    s0, s1, s2 = (int(v) for v in rng.integers(0, 2**31 - 1, size=3))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim = simulate(small, data, seed=s0)
            # one class starts once, as its fit did (random starts are for rival maxima of mixtures)
            r0 = fit(formula, sim, n_classes=small.n_classes, seed=s1, starts=starts if small.n_classes > 1 else "auto",
                     **kw)
            r1 = fit(formula, sim, n_classes=big.n_classes, seed=s2, starts=starts, **kw)
            if r1.llf < r0.llf - 1e-6:
                # the K-class model nests the (K-1)-class one: when its random starts missed
                # that, start it again from the smaller fit
                r1b = fit(formula, sim, n_classes=big.n_classes, seed=s2, starts=starts, start_from=r0, **kw)
                r1 = r1b if r1b.llf > r1.llf else r1
            lr = 2.0 * (r1.llf - r0.llf)
        return max(lr, 0.0), None
    except Exception as exc:  # a failed draw is recorded, not fatal
        return np.nan, f"{type(exc).__name__}: {exc}"


def blrt(small: MixtureResults, big: MixtureResults, data: pd.DataFrame, n_boot: int = 100, *,
         seed: int | None = None, starts: int | tuple[int, int] = (20, 5), n_jobs: int = 1,
         progress: bool | None = None, fit_kwargs: dict | None = None) -> BLRTResult:
    """Bootstrap likelihood ratio test of ``small`` (K-1 classes) against ``big`` (K classes).

    Each of ``n_boot`` data sets is drawn from the ``small`` model at its estimates (with the
    design of ``data``, the data both were fitted to, which is checked; wide data fitted with
    ``items=`` need ``fit_kwargs={"items": [...]}``); both models are refitted to it with
    ``starts`` random starts (enough for both to reach their maxima: raise it for hard
    models), and the p-value is (1 + #{LR_b >= LR}) / (1 + B). ``fit_kwargs`` are the other
    arguments of :func:`glmmix.fit` used for the original fits (e.g. ``invariant``,
    ``thresholds_by``); the family and link are taken from the results. Draws run in
    parallel through joblib (``n_jobs``) and are reproducible for a given ``seed`` whatever
    ``n_jobs``. A draw whose fit fails is counted in ``n_failed`` and left out. ``progress``:
    a bar over the finished draws (default None: only in interactive sessions; see
    :mod:`glmmix.progress`); the bootstrap fits themselves show none.
    """
    _check_pair(small, big, "blrt()")
    _check_boot_args(n_boot, starts, seed, n_jobs)
    if not isinstance(data, pd.DataFrame):
        raise SelectionError("data must be the DataFrame both models were fitted to")
    kw = _fit_settings(small, fit_kwargs)
    data = _fitted_data(small, data, kw)
    for name, res in (("small", small), ("big", big)):
        _check_same_model(res, name, data, kw)
    lr = max(2.0 * (big.llf - small.llf), 0.0)
    seeds = np.random.SeedSequence(seed).generate_state(n_boot)
    jobs = [(small, big, data, small.formula, kw, starts, int(s)) for s in seeds]
    out = run_jobs(_boot_one, jobs, n_jobs, f"BLRT {small.n_classes} vs {big.n_classes}", progress)
    boot = np.array([v for v, _ in out], dtype=float)
    ok = np.isfinite(boot)
    if not ok.any():
        raise SelectionError(f"every bootstrap fit failed; the first error: {out[0][1]}")
    p = (1.0 + np.sum(boot[ok] >= lr - 1e-8)) / (1.0 + ok.sum())
    return BLRTResult(statistic=lr, pvalue=float(p), bootstrap=boot, n_boot=n_boot, n_failed=int((~ok).sum()),
                      n_classes=(small.n_classes, big.n_classes))


_run_blrt = blrt  # enumerate_classes() has an argument of that name


# ---------------------------------------------------------------------------- enumeration
def best_replicated(res, tol: float = 1e-3):
    """Whether at least two completed starts reached the best log-likelihood (None: one start)."""
    st = getattr(res, "starts", None)
    if st is None or "ll_final" not in st:
        return None
    ll = pd.to_numeric(st["ll_final"], errors="coerce").dropna().to_numpy()
    if ll.size < 2:
        return None
    return bool(np.sum(np.abs(ll - res.llf) < tol) >= 2)


def _row(res):
    return {"log-likelihood": res.llf, "parameters": res.df_model, "AIC": res.aic, "BIC": res.bic, "SABIC": res.sabic,
            "CAIC": res.caic, "entropy": res.entropy,
            "smallest class": float(np.min(res.class_proportions.to_numpy())), "LL replicated": best_replicated(res),
            "converged": bool(res.converged)}


@dataclass
class ClassEnumeration:
    """Fits for K = 1, 2, ... classes and their comparison (:func:`enumerate_classes`).

    ``table``: one row per K (columns in :data:`TABLE_COLUMNS`, described in the module
    docstring); ``fits``: {K: MixtureResults}; ``lmr`` and ``blrt``: {K: test of K-1 against K}.
    """

    table: pd.DataFrame
    fits: dict
    lmr: dict
    blrt: dict
    formula: str = ""

    def best(self, criterion: str = "BIC") -> int:
        """The K with the smallest value of an information criterion."""
        if criterion not in ("AIC", "BIC", "SABIC", "CAIC"):
            raise SelectionError(f"criterion must be 'AIC', 'BIC', 'SABIC' or 'CAIC', not {criterion!r}")
        return int(self.table[criterion].idxmin())

    def summary(self) -> str:
        """The enumeration table as text, with the K each criterion prefers."""
        tab = self.table.copy()
        fmt = {"log-likelihood": "{:.3f}", "AIC": "{:.2f}", "BIC": "{:.2f}", "SABIC": "{:.2f}", "CAIC": "{:.2f}",
               "entropy": "{:.3f}", "smallest class": "{:.3f}", "LMR LR": "{:.2f}", "LMR p": "{:.4f}",
               "aLMR p": "{:.4f}", "BLRT p": "{:.4f}"}
        out = pd.DataFrame(index=tab.index)
        for c in TABLE_COLUMNS:
            if c in fmt:
                out[c] = [("" if not np.isfinite(v) else fmt[c].format(v)) for v in tab[c].astype(float)]
            elif c in ("LL replicated", "converged"):
                out[c] = [{True: "yes", False: "NO", None: "n/a"}.get(v if v is None else bool(v), "n/a")
                          for v in tab[c]]
            else:
                out[c] = tab[c].astype(str)
        out = out.loc[:, [c for c in out.columns if c != "BLRT p" or tab["BLRT p"].notna().any()]]
        lines = [f"Class enumeration: {self.formula}", out.to_string(),
                 "Smallest: " + ", ".join(f"{c} at K = {self.best(c)}" for c in ("AIC", "BIC", "SABIC", "CAIC")),
                 "LMR, aLMR and BLRT p-values test K-1 against K classes (p < 0.05 favours K)."]
        if not all(v is not False for v in tab["LL replicated"]):
            lines.append("Warning: the best log-likelihood was not replicated for some K: use more starts.")
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<ClassEnumeration: K = {list(self.table.index)}>"


def _fit_one(formula, data, K, seed, kw):
    from .api import fit

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = fit(formula, data, n_classes=K, **({} if seed is None else {"seed": seed}), **kw)
    return K, res, [(w.category, str(w.message)) for w in caught]


def enumerate_classes(formula: str, data: pd.DataFrame, n_classes: Iterable[int] = range(1, 7), *,
                      lmr: bool = True, blrt: bool = False, n_boot: int = 100,
                      boot_starts: int | tuple[int, int] = (20, 5), seed: int | None = None, n_jobs: int = 1,
                      progress: bool | None = None, **fit_kwargs) -> ClassEnumeration:
    """Fit every K in ``n_classes`` with the same settings and compare them.

    Parameters
    ----------
    formula, data, **fit_kwargs
        As for :func:`glmmix.fit` (``n_classes`` excepted); ``seed`` seeds every fit.
    n_classes : iterable of int
        Consecutive numbers of classes (LMR and BLRT compare each K with K-1 when both are
        present).
    lmr : bool
        Compute the Vuong-LMR and adjusted LMR tests (cheap).
    blrt : bool
        Compute the bootstrap LRT (``n_boot`` draws per K, ``boot_starts`` starts per bootstrap
        fit; costly).
    n_jobs : int
        joblib workers for the fits and the bootstrap draws.
    progress : bool, optional
        A progress bar over the fits and over each BLRT's draws, also with ``n_jobs > 1``
        (default None: only in interactive sessions; see :mod:`glmmix.progress`).

    Returns
    -------
    ClassEnumeration
        ``.table`` (columns documented in :mod:`glmmix.selection`), ``.fits``, ``.summary()``.
    """
    try:
        ks = sorted({int(k) for k in n_classes})
    except (TypeError, ValueError):
        raise SelectionError(f"n_classes must be an iterable of integers, not {n_classes!r}") from None
    if not ks or ks[0] < 1:
        raise SelectionError(f"n_classes must hold integers >= 1, not {list(n_classes)!r}")
    for bad in ("n_classes", "start_from", "start_params"):
        if bad in fit_kwargs:
            raise SelectionError(f"enumerate_classes() sets {bad!r} itself")
    _check_fit_kwargs(fit_kwargs, "enumerate_classes()")
    if blrt:
        _check_boot_args(n_boot, boot_starts, seed, n_jobs)
    jobs = [(formula, data, K, seed, fit_kwargs) for K in ks]
    out = run_jobs(_fit_one, jobs, n_jobs, "fitting K classes", progress)
    fits = {K: res for K, res, _ in out}
    for K, _, msgs in out:
        for cat, m in dict.fromkeys(msgs):
            warnings.warn(f"K = {K}: {m}", cat, stacklevel=2)
    rows = {K: _row(fits[K]) for K in ks}
    lmrs, blrts = {}, {}
    for K in ks:
        rows[K].update({"LMR LR": np.nan, "LMR p": np.nan, "aLMR p": np.nan, "BLRT p": np.nan})
        if K - 1 not in fits:
            continue
        small, big = fits[K - 1], fits[K]
        rows[K]["LMR LR"] = max(2 * (big.llf - small.llf), 0.0)
        if lmr:
            try:
                lmrs[K] = lmr_test(small, big)
            except (GlmmixError, NotImplementedError, np.linalg.LinAlgError) as exc:
                warnings.warn(f"no LMR test for {K - 1} against {K} classes: {exc}", stacklevel=2)
            else:
                rows[K]["LMR p"], rows[K]["aLMR p"] = lmrs[K].pvalue, lmrs[K].adjusted_pvalue
        if blrt:
            kw = {k: v for k, v in fit_kwargs.items() if k not in ("starts", "n_jobs", "options")}
            blrts[K] = _run_blrt(small, big, data, n_boot=n_boot, seed=None if seed is None else seed + K,
                                         starts=boot_starts, n_jobs=n_jobs, progress=progress, fit_kwargs=kw)
            rows[K]["BLRT p"] = blrts[K].pvalue
    table = pd.DataFrame.from_dict(rows, orient="index")[TABLE_COLUMNS]
    table.index.name = "classes"
    return ClassEnumeration(table=table, fits=fits, lmr=lmrs, blrt=blrts, formula=formula)
