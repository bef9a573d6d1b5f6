"""Models the data cannot identify, and likelihoods without a maximum.

Checked before any computation (:func:`check_identified`, raising):

* more classes than units (a class variable with K classes needs at least K units at its
  level; with fewer, classes are empty or copies and the fit means nothing);
* more free parameters than observations (rows), or, in a binary latent class model, than
  its possible response patterns can identify (2^J - 1 for J items: two classes need three
  items), or, in a mixture of a binary outcome with one class per row, than its distinct
  covariate patterns;
* a gaussian outcome that is constant while its residual SD is free: the likelihood grows
  without bound as sigma -> 0;
* outcome- or class-part columns with free coefficients that are linear combinations of one
  another (with ordinal outcomes, of the thresholds too) in the rows used: an empty combination of
  two factors' levels in their interaction, a covariate that repeats another; their
  coefficients are not identified (R's lm and lmer drop such a column, as NA). Found by a
  pivoted QR (dense designs) or pivoted Cholesky (cross products) decomposition with unit-norm
  columns (:func:`collinear_columns`).

Checked at the estimates (:func:`degenerate_params`): a gaussian residual SD whose class
fits its observations exactly (residual RMS below ``SIGMA_FLOOR`` times the outcome's SD).
With class-specific SDs a class can sit on a single observation (or on tied values, or on
as many points as it has coefficients) and the likelihood is again unbounded; such a solution is
reported with a :class:`~glmmix.exceptions.DegenerateLikelihoodWarning` and
``converged=False``, and among random starts a non-degenerate solution is preferred.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import linalg

from .exceptions import DesignError, IdentificationError
from .mathutils import OnWorkers, column_moments, cross_products, one_hot_rows

#: a residual SD below this fraction of the outcome's SD is a collapsed variance
SIGMA_FLOOR = 1e-6
#: with random effects or factors, a residual SD below this fraction of its outcomes' SD is
#: a Heywood case when the log-likelihood changes by less than HEYWOOD_FLAT as it shrinks
#: tenfold (:func:`heywood_params`)
HEYWOOD_FRACTION = 1e-3
HEYWOOD_FLAT = 1e-4


def check_identified(lik) -> None:
    """Refuse models the data cannot identify (see the module docstring)."""
    d = lik.design
    L = lik.layout
    cs = d.classes
    for v in cs.vars:
        n, level = (d.n_clusters, d.cluster_name) if v.between else (d.n_units, d.unit_name or "rows")
        if v.K > 1 and v.K > n:
            raise IdentificationError(
                f"n_classes={v.K} for {v.name!r} exceeds the number of units it classifies ({n} "
                f"{level!s}): at most {n} classes can be told apart; use fewer classes")
    if L.n_free > d.n_rows:
        raise IdentificationError(
            f"the model has {L.n_free} free parameters but the data have only {d.n_rows} "
            f"observation{'s' if d.n_rows != 1 else ''}: it cannot be identified; simplify it (fewer classes "
            "or terms) or add data")
    cells = _lca_cells(d)
    if cells is not None and L.n_free > cells - 1:
        raise IdentificationError(
            f"a latent class model of {d.X.shape[1]} binary items has {L.n_free} free parameters, more "
            f"than the {cells - 1} that the {cells} possible response patterns can identify; use fewer "
            "classes or more items")
    parts = [("outcome", None), ("class", None)]
    if d.multi and d.classes is not None:
        parts += [("class", t) for t in range(len(d.classes.vars))]
    for part, t in parts:
        dep = collinear_columns(d, L, part, t)
        if dep:
            j, basis = dep[0]
            by = getattr(d.aux, "threshold_by", None)
            names = (list(d.x_names) if part == "outcome" else list(d.z_names) if t is None else
                     [f"{d.classes.vars[t].name}:{z}" for z in d.classes.vars[t].z_names]) + [
                f"the thresholds (by {by!r})" if by else "the thresholds"]
            what = (f"equals a combination of {[names[i] for i in basis]}" if basis else "is zero")
            more = f" ({len(dep)} such columns: {[names[i] for i, _ in dep]})" if len(dep) > 1 else ""
            raise IdentificationError(
                f"{part}-part column {names[j]!r} {what} in the rows used{more}: the coefficients of these "
                "columns are not identified (an interaction of factors with an empty combination of levels, a "
                "covariate repeating others); remove the term or merge the levels, or fix one of the coefficients")
    patterns = _row_mixture_patterns(d)
    if patterns is not None and L.n_free > patterns:
        raise IdentificationError(
            f"a mixture of a binary outcome with one class per row is identified only through its "
            f"covariate patterns: each row holds a single 0/1 value, so the {patterns} distinct rows of the "
            f"outcome and class parts' columns identify at most {patterns} parameters, and the model has "
            f"{L.n_free}. For one class per unit (a latent class model, with several rows per unit), "
            "write 'class(unit)', e.g. '| class(id) ~ 1'; otherwise use fewer classes or terms")
    if d.family.has_residual_sd and _sigma_free(L):
        y = np.asarray(d.y, float)
        if y.size and np.ptp(y) == 0:
            raise DesignError(
                f"the gaussian outcome {d.formula.outcome!r} is constant (every value {y[0]:g}): its "
                "likelihood has no maximum (the residual SD goes to 0); fix sigma (fix={'sigma': value}) "
                "or model a varying outcome")
        g = d.aux.threshold_group
        if g is not None:
            lo = np.full(len(d.aux.threshold_levels), np.inf)
            hi = np.full(len(d.aux.threshold_levels), -np.inf)
            np.minimum.at(lo, g, y)
            np.maximum.at(hi, g, y)
            eb = L.blocks["extra"]
            free = (L.free_idx[eb.slice].reshape(eb.shape) >= 0).any(axis=0)
            const = np.flatnonzero((lo == hi) & free)
            if const.size:
                lev = d.aux.threshold_levels[const[0]]
                raise DesignError(
                    f"the gaussian outcome {d.formula.outcome!r} is constant (every value {lo[const[0]]:g}) where "
                    f"{d.aux.threshold_by!r} = {lev!r}, which sigma_by gives its own residual SD: its likelihood "
                    f"has no maximum (that SD goes to 0); fix it (fix={{'sigma[{lev}]': value}}) or drop those rows")


#: rows per block of a dense design's QR decomposition (its R factor from the blocks' R
#: factors: memory of one block, not copies of the design)
QR_BLOCK = 65536
#: a column whose part outside the others' span is below this fraction of its norm is their
#: combination (pivoted QR of unit-norm columns; R's lm uses 1e-7, which a covariate 1e8 SDs
#: from zero would fail beside an intercept, a case the fit centres, ``scaling._centring``)
COLLINEAR_TOL = 1e-10
#: the same for sparse designs, on their cross-product matrix (the square of the fraction,
#: known to about 1e-15 there): columns up to some 1e6 SDs from zero pass
COLLINEAR_TOL_GRAM = 1e-13


def collinear_columns(d, L, part: str = "outcome", variable: int | None = None) -> list:
    """Columns of the outcome part (``part="outcome"``: X, block beta) or of a single class
    variable's part (``"class"``: Z, block gamma) whose free coefficients are not identified:
    [(column, the columns it is a combination of)], empty when the design has full rank. Per
    class (or joint state, or class logit), the columns with a free coefficient, columns held
    equal (``equal=``) summed, fixed ones (offsets, ``fix=``) left out; with ordinal outcomes the
    thresholds' indicator columns (index ``len(d.x_names)``, one per set of thresholds) act as
    the outcome part's intercepts. Dense designs by a pivoted QR decomposition (of their R
    factor, made by blocks of rows), sparse ones (item dummies) and designs on dask workers
    (their partitions' X'X summed) by a pivoted Cholesky decomposition of their cross
    products; with several class variables, ``variable`` names one (its covariates, ``Z`` of
    the variable, and its logits' block of gamma); ordinal thresholds on workers are not
    checked."""
    outcome = part == "outcome"
    b = L.blocks["beta" if outcome else "gamma"]
    if variable is not None:  # several class variables: one variable's covariates and logits
        cs = d.classes
        X = cs.vars[variable].Z
        if not b.size or not isinstance(X, np.ndarray) or X.ndim != 2:
            return []
        fi = L.free_idx[b.offset:b.offset + b.size][cs.gslices[variable]].reshape(cs.gshapes[variable])
        fi = fi[:X.shape[1]]  # the covariates' rows (the parents' indicators follow)
    else:
        X = d.X if outcome else d.Z
        if not outcome and d.multi:
            return []
    workers = isinstance(X, OnWorkers)
    dense = isinstance(X, np.ndarray)
    if not b.size or not (dense or sp.issparse(X) or workers) or len(X.shape) != 2:
        return []
    p = X.shape[1]
    if variable is None:
        fi = L.free_idx[b.slice].reshape(p, -1)
    G = None
    if outcome and d.family.thresholds:
        g = d.aux.threshold_group
        g = np.zeros(X.shape[0], np.intp) if g is None else np.asarray(g, np.intp)
        G = sp.csr_matrix((np.ones(g.size), (np.arange(g.size), g)), shape=(g.size, int(g.max()) + 1))
    if workers and G is not None:
        return []  # the thresholds' indicators of rows on the workers: not summed there
    # one pass over the rows: the R factor of [X, thresholds' indicators] (dense, by blocks of
    # rows) or their cross products (sparse, blockwise, or summed on the workers)
    if dense:
        R0 = _r_factor(X, G)
    else:
        C = cross_products(X)
        if G is not None:
            XG = G.T @ X
            XG = (XG.toarray() if sp.issparse(XG) else np.asarray(XG)).T  # (columns, threshold sets)
            C = np.block([[C, XG], [XG.T, np.diag(np.asarray(G.sum(axis=0)).ravel())]])
    # the classes' patterns of free coefficients (which columns are free, which share one)
    patterns = set()
    for k in range(fi.shape[1]):
        cols = fi[:, k]
        free = np.unique(cols[cols >= 0])
        patterns.add(tuple(np.where(cols >= 0, np.searchsorted(free, cols), -1)))
    for pat in patterns:
        pat = np.asarray(pat)
        n_free = int(pat.max()) + 1
        if n_free == 0:
            continue
        # one column per free coefficient: the design's columns sharing it summed
        T = (pat[:, None] == np.arange(n_free)[None, :]).astype(float)
        owner = [int(np.flatnonzero(T[:, c])[0]) for c in range(n_free)]
        if G is not None:
            T = linalg.block_diag(T, np.eye(G.shape[1]))
            owner += [p] * G.shape[1]
        # [X, G] = Q R0: the columns of R0 T have the inner products of [X, G] T
        dep = _dependent_qr(R0 @ T) if dense else _dependent_gram(T.T @ C @ T)
        out = []
        for j, basis in dep:
            j, basis = owner[j], sorted({owner[i] for i in basis})
            if j == p and basis:  # name a column of the design, a combination of the others and the thresholds
                j, basis = basis[-1], sorted(set(basis[:-1]) | {p})
            out.append((j, basis))
        if out:
            return out
    return []


def _r_factor(X, G) -> np.ndarray:
    """The R factor of M = [X, G] (G: the thresholds' indicators or None) from the R factors
    of blocks of :data:`QR_BLOCK` rows (M = Q R with R's columns having M's inner products, so
    a pivoted QR decomposition of R decides as one of M would)."""
    Rs = []
    for a in range(0, X.shape[0], QR_BLOCK):  # blocks of rows, not rows
        M = np.asarray(X[a:a + QR_BLOCK], float)
        if G is not None:
            M = np.hstack([M, G[a:a + QR_BLOCK].toarray()])
        Rs.append(linalg.qr(M, mode="r", check_finite=False)[0][:M.shape[1]].copy())  # its top square
    R = np.vstack(Rs)
    return linalg.qr(R, mode="r", check_finite=False)[0][:R.shape[1]] if len(Rs) > 1 else R


def _dependent_qr(M) -> list:
    """Columns of M that combine others: [(column, the columns with weight in the combination)]."""
    norm = np.sqrt((M * M).sum(axis=0))
    if np.any(norm == 0):
        return [(int(j), []) for j in np.flatnonzero(norm == 0)]
    A = M / norm
    _, R, piv = linalg.qr(A, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    r = int(np.sum(diag > COLLINEAR_TOL * diag[0]))
    if r == A.shape[1]:
        return []
    basis = piv[:r]
    out = []
    for j in piv[r:]:
        coef = linalg.lstsq(R[:, :r], R[:, list(piv).index(j)])[0]
        out.append((int(j), [int(i) for i in basis[np.abs(coef) > 1e-8]]))
    return sorted(out)


def _dependent_gram(C) -> list:
    """:func:`_dependent_qr` from the cross products C = M'M of the columns."""
    norm = np.sqrt(np.diag(C))
    if np.any(norm == 0):
        return [(int(j), []) for j in np.flatnonzero(norm == 0)]
    C = C / np.outer(norm, norm)
    _, piv, r, _ = linalg.lapack.dpstrf(C, tol=COLLINEAR_TOL_GRAM, lower=0)
    if r == C.shape[0]:
        return []
    piv = piv - 1
    basis = piv[:r]
    out = []
    for j in piv[r:]:
        coef = linalg.solve(C[np.ix_(basis, basis)], C[basis, j], assume_a="pos")
        out.append((int(j), [int(i) for i in basis[np.abs(coef) > 1e-8]]))
    return sorted(out)


def _lca_cells(d):
    """Possible response patterns of a plain binary latent class model (one indicator column
    per item, no covariates, no random effects), or None for any other model."""
    if not d.family.binary or d.D or d.multi or d.unit_name is None or d.Z.shape[1] != 1:
        return None
    if not one_hot_rows(d.X):
        return None
    J = d.X.shape[1]
    return 2 ** J if J < 60 else None


def _row_mixture_patterns(d):
    """Distinct covariate patterns of a row-level mixture of a binary outcome without random
    effects (flexmix-style), or None for any other model.

    Each row is one Bernoulli draw whose distribution is a single probability, so the data
    identify at most one number per distinct row of the outcome and class designs (offsets
    included): a necessary condition, checked before any computation."""
    if not d.family.binary or d.unit_name is not None or d.form != "none" or d.multi:
        return None
    if d.n_classes < 2 or isinstance(d.X, OnWorkers) or isinstance(d.Z, OnWorkers):
        return None
    X = d.X.toarray() if hasattr(d.X, "toarray") else np.asarray(d.X, float)
    rows = np.hstack([X, np.asarray(d.Z, float)])
    return int(pd.DataFrame(rows).drop_duplicates().shape[0])


def _sigma_free(L) -> bool:
    eb = L.blocks["extra"]
    return bool(eb.size and (L.free_idx[eb.slice] >= 0).any())


def _sd_sets(lik):
    """Free indices of the residual SDs (classes or joint states x sets of rows, -1 where
    fixed) and the SD of each set's outcomes; None without a free residual SD."""
    d = lik.design
    L = lik.layout
    if not d.family.has_residual_sd or not _sigma_free(L):
        return None
    y = np.asarray(d.y, float)
    eb = L.blocks["extra"]
    K, E = eb.shape
    fi = L.free_idx[eb.slice].reshape(K, E)  # one sigma per class (or joint state) and set
    g = d.aux.threshold_group
    g = np.zeros(y.size, np.intp) if g is None else np.asarray(g, np.intp)
    n_g = np.bincount(g, minlength=E)
    mean_g = np.bincount(g, y, minlength=E) / np.maximum(n_g, 1)
    sd_g = np.sqrt(np.maximum(np.bincount(g, y * y, minlength=E) / np.maximum(n_g, 1) - mean_g**2, 0.0))
    return fi, sd_g, g


def _small_sds(lik, theta, fraction, sets) -> np.ndarray:
    """(classes, sets) mask of residual SDs below ``fraction`` times their outcomes' SD, in a
    model with random effects or factors (the estimate itself is compared); ``sets``:
    :func:`_sd_sets`."""
    fi, sd_g, _ = sets
    floor = fraction * sd_g
    P = lik.layout.unpack(lik.layout.expand(theta))
    low = np.zeros(fi.shape, bool)
    pos = floor > 0
    low[:, pos] = P["extra"][:, pos] < np.log(floor[pos])
    return low & (fi >= 0)


def _change_towards_zero(lik, theta, f) -> float:
    """Change of the log-likelihood when free residual SD ``f`` shrinks tenfold, the rule
    re-adapted at both points (a narrow posterior of the latents moves the nodes)."""
    state = lik.adaptation()
    try:
        ll0 = lik.adapt(theta)
        t = np.array(theta, float)
        t[f] -= np.log(10.0)
        return float(lik.adapt(t) - ll0)
    finally:
        lik.restore(state)


def heywood_params(lik, theta) -> list[int]:
    """Free residual SDs at the boundary 0 of a bounded likelihood (Heywood cases), in models
    with random effects or factors: below ``HEYWOOD_FRACTION`` times their outcomes' SD,
    and the log-likelihood changes by less than ``HEYWOOD_FLAT`` when they shrink tenfold
    (an item measuring a factor without error: the marginal covariance stays regular, so
    the supremum is finite and the fit approaches it)."""
    sets = _sd_sets(lik) if lik.D else None
    if sets is None:
        return []
    cand = np.unique(sets[0][_small_sds(lik, theta, HEYWOOD_FRACTION, sets)])
    return [int(f) for f in cand if abs(_change_towards_zero(lik, theta, int(f))) < HEYWOOD_FLAT]


def degenerate_params(lik, theta) -> list[str]:
    """Labels of gaussian residual SDs that collapsed onto observations fitted exactly.

    A class's SD has collapsed when the posterior-weighted RMS of its residuals (the value
    its ML estimate moves to) is below ``SIGMA_FLOOR`` times the outcome's SD; a shared
    SD, when the pooled RMS is. With ``sigma_by`` each set of rows has its own SDs,
    compared with the SD of its own outcomes. This sees the collapse wherever the optimizer
    stopped on its way to sigma = 0. With random effects (residuals depend on them) the
    estimate itself is compared with the floor, and it has collapsed only if the
    log-likelihood still rises as it shrinks further (else it is a Heywood case,
    :func:`heywood_params`, with a bounded likelihood).
    """
    sets = _sd_sets(lik)
    if sets is None:
        return []
    d = lik.design
    L = lik.layout
    fi, sd_g, g = sets
    K, E = fi.shape
    y = np.asarray(d.y, float)
    floor = SIGMA_FLOOR * sd_g  # (E,)
    P = L.unpack(L.expand(theta))
    if d.D:
        low = _small_sds(lik, theta, SIGMA_FLOOR, sets)
        for f in np.unique(fi[low]):
            if _change_towards_zero(lik, theta, int(f)) <= HEYWOOD_FLAT:
                low[fi == f] = False
    else:
        eta = np.asarray(d.X @ P["beta"])
        w = lik.unit_posterior(lik.evaluate(theta, derivs=False))[d.unit_of_row]
        wr2 = w * (y[:, None] - eta) ** 2
        W, R2 = np.zeros((E, K)), np.zeros((E, K))  # sums over each set's rows
        np.add.at(W, g, w)
        np.add.at(R2, g, wr2)
        W, R2 = W.T, R2.T
        low = np.zeros((K, E), bool)
        for f in np.unique(fi[fi >= 0]):  # classes (and sets) sharing a sigma are pooled
            k = fi == f
            wk = W[k].sum()
            fl = floor[np.nonzero(k)[1]].min()
            low[k] = fl > 0 and wk > 1e-8 and np.sqrt(R2[k].sum() / wk) < fl
    return sorted({L.labels[i] for i in fi[low & (fi >= 0)]})


def degenerate_message(names) -> str:
    return (f"the likelihood is unbounded: the residual SD {names} collapses to 0 on "
            f"observations its class fits exactly (residuals below {SIGMA_FLOOR:g} times the outcome's SD); "
            "the maximum does not exist and this log-likelihood is meaningless. Use a class-invariant "
            "sigma (the default), fewer classes, or fix sigma")


#: a random-effect covariance whose smallest singular value of its factor is below this
#: (relative to the residual SD of a gaussian outcome with the identity link, else on the
#: latent scale) is singular: lme4's ``isSingular`` tolerance
SINGULAR_TOL = 1e-4


def singular_terms(lik, theta) -> list[str]:
    """Random terms whose covariance is singular at ``theta`` (an SD of 0, a correlation of
    +-1, factor loadings that vanish): the data do not support that random effect in full,
    and tests of it are at the boundary of the parameter space (lme4's "boundary (singular)
    fit"). Each as its formula text, with the class where the factors are class-specific."""
    if not lik.D:
        return []
    L = lik.layout
    d = lik.design
    P = L.unpack(L.expand(theta))
    scale = 1.0
    if d.family.has_residual_sd and P["extra"].size:  # a gaussian outcome (identity link)
        scale = float(np.exp(np.mean(P["extra"])))
    Lo, Lc = lik.factor_matrices(P)
    out = []
    for v, F in zip(L.re_out_terms, Lo):
        if v.term.structure != "rr" and v.term.Z is not None:
            # each effect in units of its column's contribution to the linear predictor (its
            # root mean square), so that a covariate's units (seconds or days) do not decide
            rms = column_moments(v.term.Z)[2]
            F = F * np.where(rms > 0, rms, 1.0)[None, :, None]
        for k in range(F.shape[0]):
            sv = np.linalg.svd(F[k], compute_uv=False)
            if sv.size and sv.min() < SINGULAR_TOL * scale:
                out.append(v.term.term + (f" in class {k + 1}" if F.shape[0] > 1 else ""))
    for v, F in zip(L.re_cls_terms, Lc):
        sv = np.linalg.svd(F, compute_uv=False)
        if sv.size and sv.min() < SINGULAR_TOL:
            out.append(v.term.term + " (class part)")
    return list(dict.fromkeys(out))

