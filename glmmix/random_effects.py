"""Random terms: normal latent variables entering linear predictors through a factor matrix.

Every random term, whatever its spelling, is a design Z (rows x q) times a factor matrix
L (q x d) times standard-normal latents u (d), so its effects are b = L u ~ N(0, L L'):

* ``(1 + x | g)``: L lower triangular (q = d): a Cholesky factor, correlated effects
  (the paper's Cholesky parameterization, Section 10);
* ``(1 + x || g)``: L diagonal: uncorrelated effects;
* ``rr(0 + item | g, d)``: L lower trapezoidal (q x d): d factors with loadings (eq 35-41;
  glmmTMB's reduced-rank spelling);
* ``re_parameterization="regression"`` (correlated terms): the same covariance written as
  recursive between-level regressions (eq 5, 15, 25): b = B b + diag(psi) u with B strictly
  lower triangular, so L = (I - B)^-1 diag(psi); the free entries are the slopes B (each
  effect on the ones before it) and the residual SDs psi, which constraints can then fix
  (``fix={"regression(g:c2#1 on c1#1)": 0}``) or equate;
* in the class part, ``(1 | g)`` gives each of the K-1 class logits a random intercept,
  jointly normal (eq 34), and ``rr(1 | g, 1)`` the one-factor version (eq 35).

So one gradient formula serves covariances, loadings and random class intercepts:
d eta / d L_ij = z_i u_j.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from formulaic import Formula

from .exceptions import DesignError, FormulaError, IdentificationError, plain
from .mathutils import column_moments, compact
from .terms import FactorTerm, RandomTerm


@dataclass
class RandomBlock:
    """One random term after materialization.

    Attributes
    ----------
    part : {"outcome", "class"}
    group : str
    structure : {"chol", "diag", "rr"}
    Z : ndarray (n_rows x q) for the outcome part, (n_units x q) for the class part
    names : list of str, the q column names
    d : int, number of latent dimensions
    m : int, rows of L: q (outcome) or q * (K-1) (class part, class-major)
    """

    part: str
    group: str
    structure: str
    Z: np.ndarray
    names: list
    d: int
    m: int
    term: str
    slots: list = None  # class part: the logits (slots) its rows load on, slot-major rows
    slot_names: list = None
    enc: object = None  # the fitted encoding of expr (encoding.Encoding), for new rows

    def mask(self) -> np.ndarray:
        """Free entries of L (m x d)."""
        i, j = np.indices((self.m, self.d))
        if self.structure == "diag":
            return i == j
        return i >= j  # lower triangular / trapezoidal

    def free_positions(self):
        """(row, col) of free entries: diagonal first, then the rest row by row."""
        msk = self.mask()
        diag = [(k, k) for k in range(min(self.m, self.d)) if msk[k, k]]
        rest = [(i, j) for i in range(self.m) for j in range(self.d) if msk[i, j] and i != j]
        return diag + rest

    def row_names(self, K, class_name):
        if self.part == "outcome":
            return list(self.names)
        if self.slot_names is not None:
            return [s + ("" if n == "Intercept" else f":{n}") for s in self.slot_names for n in self.names]
        return [f"{class_name}{c + 1}" + ("" if n == "Intercept" else f":{n}") for c in range(K - 1) for n in self.names]

    def labels(self, K, class_name):
        """Reported (natural-scale) names of the free entries, in free_positions order."""
        rows = self.row_names(K, class_name)
        g = self.group
        out = []
        for i, j in self.free_positions():
            if self.structure == "reg":
                out.append(f"sd({g}:{rows[i]})" if i == j == 0 else (
                    f"residual sd({g}:{rows[i]})" if i == j else f"regression({g}:{rows[i]} on {rows[j]})"))
            elif self.structure == "rr":
                out.append(f"loading({g}:{rows[i]})" if self.d == 1 else f"loading{j + 1}({g}:{rows[i]})")
            elif i == j:
                out.append(f"sd({g}:{rows[i]})")
            else:
                out.append(f"cor({g}:{rows[i]},{rows[j]})")
        return out

    def start(self):
        """Starting values of the free entries: effects with SD 0.5, or loadings 0.5."""
        return np.array([0.5 if (i == j or self.structure == "rr") else 0.0 for i, j in self.free_positions()])


def build_blocks(terms, df, where, K, fitted=None):
    """Materialize random terms on ``df`` (rows, or one row per unit for the class part);
    with ``fitted`` (the fitted blocks), new rows are encoded as the fitted ones were."""
    blocks = []
    for i, t in enumerate(terms):
        Z, names, enc = term_matrix(t.expr, df, t, where, None if fitted is None else fitted[i].enc)
        if isinstance(t, FactorTerm):
            structure, d = "rr", t.n_factors
        else:
            structure, d = ("chol" if t.correlated else "diag"), Z.shape[1]
        m = Z.shape[1] if where == "outcome" else Z.shape[1] * (K - 1)
        if where == "class":
            if K < 2:
                raise FormulaError(f"random term {t} in the class part needs n_classes >= 2")
            if structure != "rr":
                d = m
        if structure == "rr" and d > m:
            raise FormulaError(f"{t} asks for {d} factors but has only {m} loadings per factor")
        slots = list(range(K - 1)) if where == "class" else None
        blocks.append(RandomBlock(where, t.group, structure, Z, names, d, m, str(t), slots=slots, enc=enc))
        if fitted is not None:
            blocks[-1].structure = fitted[i].structure
    if fitted is None:
        check_repeated_effects(blocks)
    return blocks


def check_repeated_effects(blocks) -> None:
    """Refuse two random effects of the same column by the same grouping (in the same
    logit): ``(1 | g) + (1 | g)``, ``(1 + x | g) + (1 | g)``, ``rr(1 | g, 1) + (1 | g)``.
    The likelihood depends only on the sum of their variances, so each would be an
    arbitrary share of it (and both would carry the same label)."""
    seen = {}
    for b in blocks:
        slots = b.slots if b.slots is not None else [None]
        slot_names = b.slot_names if b.slot_names is not None else [None] * len(slots)
        for slot, sname in zip(slots, slot_names):
            for name in b.names:
                key = (b.group, slot, name)
                if key in seen:
                    first = seen[key]
                    which = (f"random term {b.term} gives {name!r} two effects" if first == b.term else
                             f"random terms {first} and {b.term} both give {name!r} an effect")
                    where = f" in the logit of {sname}" if sname else ""
                    raise IdentificationError(
                        f"{which} by {b.group!r}{where}: only the sum of their variances is identified, so "
                        f"each would be an arbitrary share of it; give every effect once, e.g. (1 + x | "
                        f"{b.group}) for correlated effects or (1 | {b.group}) + (0 + x | {b.group}) for "
                        "uncorrelated ones")
                seen[key] = b.term


def term_matrix(expr, df, term, where, enc=None):
    """Design of a random term, its column names and its fitted encoding; with ``enc``, the
    rows are new rows of a fitted model (encoded as fitted, no identification checks)."""
    from .encoding import build_error, freeze, matrix_by_chunks, nonfinite_message

    if enc is not None:
        return enc.matrix(df, f"random term {term}"), list(enc.columns), enc
    built = matrix_by_chunks(expr, df)  # a large design: a chunk of rows at a time
    if built is None:
        try:
            with np.errstate(all="ignore"):
                mm = Formula(expr).get_model_matrix(df, na_action="raise")
        except Exception as exc:
            raise build_error(exc, df, f"random term {term}", expr) from None
        built = np.asarray(mm.to_numpy(), dtype=float), mm.model_spec
        del mm
        if len(df) > 100_000:
            gc.collect()  # formulaic's matrix sits in reference cycles: free it now
    # a constant design (a random intercept) is one row seen n times, from the start
    Z, spec = compact(built[0]), built[1]
    names = list(spec.column_names)
    finite = np.isfinite(Z[:1] if Z.strides[0] == 0 else Z).all(axis=0)
    if not finite.all():
        j = int(np.argmin(finite))
        raise DesignError(nonfinite_message(names[j], np.broadcast_to(Z[:, j], (len(df),)), df, f"random term {term}"))
    del built
    enc = freeze(spec, df, Z, f"random term {term}")
    if Z.shape[1] == 0:
        raise FormulaError(f"random term {term} has no columns")
    for j, name in enumerate(names):
        if name != "Intercept" and np.ptp(Z[:, j]) == 0:
            raise DesignError(
                f"random term {term}: column {name!r} does not vary in the data, so its random "
                "slope is not identified; remove it from the term"
            )
    if np.linalg.matrix_rank(Z[:1] if Z.strides[0] == 0 else Z) < Z.shape[1]:
        raise DesignError(
            f"random term {term}: its columns {names} are linearly dependent; drop one (e.g. write "
            "'0 + item' rather than '1 + item')"
        )
    return Z, names, enc


def check_grouping(df: pd.DataFrame, group: str, what: str):
    col = df[group]
    if not len(col) or not bool(col.ne(col.iloc[0]).any()):  # one comparison per row, no hash table
        raise DesignError(
            f"grouping column {group!r} ({what}) has only one level: a random effect needs at "
            "least two groups (and in practice many more)"
        )


def check_nested(df: pd.DataFrame, inner: str, outer: str):
    """Every level of ``inner`` must sit in exactly one level of ``outer``."""
    n = df.groupby(inner, sort=False, observed=True)[outer].nunique()
    bad = n.index[n.to_numpy() > 1]
    if len(bad):
        raise DesignError(
            f"{inner!r} is not nested in {outer!r}: {inner} = {plain(bad[0])!r} appears in several "
            f"levels of {outer!r}. Units must be nested in clusters (crossed grouping is not "
            "supported); check the id columns"
        )


def random_terms(part) -> list:
    return list(part.random) + list(part.factors)


__all__ = ["RandomBlock", "RandomTerm", "FactorTerm", "build_blocks", "check_grouping", "check_nested"]


def with_parameterization(design, kind: str):
    """The design with its correlated random terms parameterized as ``kind``:
    ``"cholesky"`` (the design itself) or ``"regression"`` (a copy whose correlated terms
    are written as recursive regressions among their effects, eq 5, 15, 25). The given
    design is not changed."""
    if kind not in ("cholesky", "regression"):
        raise DesignError(f"re_parameterization must be 'cholesky' or 'regression', not {kind!r}")
    if kind == "cholesky":
        return design
    blocks = [b for b in list(design.re_out) + list(design.re_cls) if b.structure == "chol"]
    if not any(b.m > 1 for b in blocks):
        raise DesignError("re_parameterization='regression' needs a correlated random term with "
                          "several effects, e.g. (1 + x | g) or random intercepts of two class logits")

    def reg(b):
        return replace(b, structure="reg") if b.structure == "chol" else b

    return replace(design, re_out=[reg(b) for b in design.re_out], re_cls=[reg(b) for b in design.re_cls])


def factor(block: RandomBlock, entries: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The factor matrix L (m x d) of a block from its free entries."""
    if block.structure != "reg":
        L = np.zeros((block.m, block.d))
        L[pos[:, 0], pos[:, 1]] = entries
        return L
    M, psi = _reg_parts(block, entries, pos)
    return M * psi[None, :]


def _reg_parts(block, entries, pos):
    """(I - B)^-1 and psi of a regression-parameterized block."""
    m = block.m
    B = np.zeros((m, m))
    psi = np.zeros(m)
    diag = pos[:, 0] == pos[:, 1]
    psi[pos[diag, 0]] = entries[diag]
    B[pos[~diag, 0], pos[~diag, 1]] = entries[~diag]
    M = np.linalg.inv(np.eye(m) - B)  # unit lower triangular
    return M, psi


def reg_pullback(block, entries, pos, gL):
    """Gradient with respect to a regression block's (psi, B) from the gradient with respect
    to the entries of L at the same positions (last axis): L = M diag(psi), M = (I - B)^-1,
    dL = M dB L + M d(diag psi)."""
    M, psi = _reg_parts(block, entries, pos)
    L = M * psi[None, :]
    G = np.zeros(gL.shape[:-1] + (block.m, block.d))
    G[..., pos[:, 0], pos[:, 1]] = gL
    dpsi = np.einsum("...ri,ri->...i", G, M)
    dB = np.einsum("ra,...rc,bc->...ab", M, G, L)
    diag = pos[:, 0] == pos[:, 1]
    out = np.empty_like(gL)
    out[..., diag] = dpsi[..., pos[diag, 0]]
    out[..., ~diag] = dB[..., pos[~diag, 0], pos[~diag, 1]]
    return out


def reg_metric_scale(block, entries, pos):
    """Squared diagonal of dL/d(psi, B) at the free positions (for the EM metric)."""
    M, psi = _reg_parts(block, entries, pos)
    L = M * psi[None, :]
    diag = pos[:, 0] == pos[:, 1]
    return np.where(diag, 1.0, L[pos[:, 1], pos[:, 1]] ** 2)


def natural(block: RandomBlock, entries: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Free entries of L -> reported values in the same positions.

    chol / diag: SDs (sqrt of diag(L L')) at diagonal positions, correlations at the others;
    rr: the loadings themselves.
    """
    if block.structure == "rr":
        return entries.copy()
    if block.structure == "reg":  # slopes as they are; SDs non-negative
        out = entries.copy()
        d = pos[:, 0] == pos[:, 1]
        out[d] = np.abs(out[d])
        return out
    L = np.zeros((block.m, block.d))
    L[pos[:, 0], pos[:, 1]] = entries
    S = L @ L.T
    sd = np.sqrt(np.maximum(np.diag(S), 0.0))
    out = np.empty_like(entries)
    for k, (i, j) in enumerate(pos):
        out[k] = sd[i] if i == j else S[i, j] / max(sd[i] * sd[j], 1e-300)
    return out


def from_natural(block: RandomBlock, values: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The inverse of :func:`natural`: reported values -> free entries of L (SDs and
    correlations to the Cholesky factor of their covariance; loadings, slopes and residual
    SDs as they are)."""
    if block.structure in ("rr", "reg"):
        return values
    sd = np.zeros(block.m)
    R = np.eye(block.m)
    for v, (i, j) in zip(values, pos):
        if i == j:
            sd[i] = v
        else:
            R[i, j] = R[j, i] = v
    S = np.outer(sd, sd) * R
    Lm = np.linalg.cholesky(S + 1e-300 * np.eye(block.m)) if block.m > 1 else np.sqrt(S)
    return Lm[pos[:, 0], pos[:, 1]]


def covariance(block: RandomBlock, entries: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Covariance matrix L L' of a block's effects."""
    L = factor(block, entries, pos)
    return L @ L.T


#: a covariate of a correlated random term this many SDs away from zero (with a random
#: intercept beside it) is refused on a dask DataFrame: see :func:`check_slopes_centred`
SLOPE_OFFSET_LIMIT = 50.0


def check_slopes_centred(design) -> None:
    """Refuse a correlated random slope on a column far from zero in units of its spread, in
    a model on a dask DataFrame's partitions.

    With a random intercept, the term's covariance describes the effects at the column's
    zero: for a calendar year (mean 2004, SD 3) that is 700 SDs outside the data, where the
    intercept's SD is in the thousands and its correlation with the slope -0.9999..., and
    the optimizer fails on such a ridge (sleepstudy with Days + 300: 1.1 below lmer's
    maximum, Days + 1000: 95 below). In memory such columns are centred inside the fit
    (:mod:`glmmix.centring`); a partitioned design is not, and a clear refusal with the
    remedy beats a wrong maximum."""
    for b in design.re_out:
        if b.structure not in ("chol", "reg") or b.Z is None:
            continue
        mean, sd, _, const = column_moments(b.Z)
        if not const.any():
            continue
        far = np.flatnonzero(~const & (np.abs(mean) > SLOPE_OFFSET_LIMIT * sd))
        if far.size:
            j = int(far[0])
            raise DesignError(
                f"random term {b.term!r}: column {b.names[j]!r} has mean {mean[j]:.10g} and SD {sd[j]:.4g}, "
                f"{abs(mean[j]) / max(sd[j], 1e-300):.0f} SDs from zero, so the random intercept beside it "
                "describes the clusters where no data are and the fit is ill-conditioned; centre the column "
                f"(e.g. a column {b.names[j]} - {np.round(mean[j]):.0f}, or I({b.names[j]} - {np.round(mean[j]):.0f}) "
                "in the formula) and refit: the model and its log-likelihood are the same")


def check_residual_separable(design) -> None:
    """With a residual SD (gaussian outcomes), random effects with as many levels as rows, or
    as many effects as rows, cannot be told from the residual: only the sum of their
    variances is identified, and any split of it is a maximum. lmer refuses such models
    (its checks of the number of levels and of random effects against the number of
    observations); so does glmmix, by name. A binary or ordinal outcome with one response per
    group has no within-group information on the group effects either (probit: not identified
    at all; logit: only through the link's tails): refused too. Counts and binomial outcomes
    with trials have none of this (an observation-level random effect for overdispersion is a
    model of its own)."""
    fam = design.family
    trials = design.aux.trials
    binary = fam.thresholds or (fam.uses_trials and (not isinstance(trials, np.ndarray) or bool(np.all(trials <= 1))))
    if not (fam.has_residual_sd or binary) or not design.re_out:
        return
    n = design.n_rows
    for b in design.re_out:
        if design.groupings is not None and b.group in design.groupings:
            n_levels = len(design.groupings[b.group][1])
        else:
            n_levels = design.n_clusters
        q = b.d if b.structure == "rr" else b.Z.shape[1]
        if binary and n_levels >= n:
            raise DesignError(
                f"random term {b.term!r}: its grouping {b.group!r} has {n_levels} levels for {n} rows with an "
                "observed outcome, one binary (or ordinal) response per group, where a group's effect is not "
                "identified: with the probit link only the coefficients divided by sqrt(1 + sd^2) are, with the "
                "logit link the SD rests on the shape of the link's tails alone; "
                "drop the term, or group the rows coarser")
        if binary:
            continue
        if n_levels >= n:
            raise DesignError(
                f"random term {b.term!r}: its grouping {b.group!r} has {n_levels} levels for {n} rows with an "
                "observed outcome, so each group's effect and the residual cannot be told apart (only the sum of "
                "their variances is identified); drop the term, or group the rows coarser")
        if n_levels * q >= n:
            raise DesignError(
                f"random term {b.term!r}: {n_levels} groups x {q} effects = {n_levels * q} random effects for "
                f"{n} rows with an observed outcome, so the random effects and the residual cannot be told apart; "
                "use fewer effects in the term (e.g. a random intercept only)")

