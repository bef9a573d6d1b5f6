"""Wald and z tests of linear hypotheses on a fitted model's parameters (statsmodels semantics).

A hypothesis is ``R params = q``, given as

* a string of comma-separated linear equations in parameter labels, e.g.
  ``"class1:item[u1] = class2:item[u1]"`` or ``"2*x - z = 1, w"`` (a bare expression means
  ``= 0``): labels are read as whole names, so colons, brackets and parentheses in them
  need no quoting;
* a list of such strings (one equation each);
* an array ``R`` (one row per equation, one column per parameter; ``q = 0``) or a pair
  ``(R, q)``.

``wald_test`` returns the chi-square statistic ``(R b - q)' (R V R')^-1 (R b - q)`` with as many
degrees of freedom as equations, ``t_test`` one z statistic per equation (the normal
reference distribution statsmodels uses for models without a residual degree of freedom).
Both return statsmodels ``ContrastResults``, so ``.statistic``, ``.pvalue``,
``.conf_int()`` and ``.summary()`` behave as they do there.
"""

from __future__ import annotations

import ast
import re
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contrast import ContrastResults

from .exceptions import BoundaryWarning, GlmmixError


class HypothesisError(GlmmixError, ValueError):
    """A hypothesis that cannot be read or tested."""


def _linear(node, names):
    """(coefficient vector, constant) of a linear expression's AST."""
    k = len(names)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return np.zeros(k), float(node.value)
    if isinstance(node, ast.Name):
        m = re.fullmatch(r"_p(\d+)_", node.id)
        if m is None:
            raise HypothesisError(f"{node.id!r} is not a parameter label; labels are {list(names)}")
        v = np.zeros(k)
        v[int(m.group(1))] = 1.0
        return v, 0.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v, c = _linear(node.operand, names)
        return (-v, -c) if isinstance(node.op, ast.USub) else (v, c)
    if isinstance(node, ast.BinOp):
        a, ca = _linear(node.left, names)
        b, cb = _linear(node.right, names)
        if isinstance(node.op, ast.Add):
            return a + b, ca + cb
        if isinstance(node.op, ast.Sub):
            return a - b, ca - cb
        if isinstance(node.op, ast.Mult):
            if a.any() and b.any():
                raise HypothesisError("a hypothesis must be linear in the parameters (a product of two labels)")
            return (a * cb + b * ca), ca * cb
        if isinstance(node.op, ast.Div):
            if b.any() or cb == 0:
                raise HypothesisError("a hypothesis can divide by a non-zero number only")
            return a / cb, ca / cb
    raise HypothesisError(f"cannot read {ast.unparse(node)!r} as a linear expression in parameter labels")


def parse_constraints(text: str, names) -> tuple[np.ndarray, np.ndarray]:
    """``R`` and ``q`` of comma-separated linear equations in the labels ``names``."""
    names = list(names)
    if not isinstance(text, str) or not text.strip():
        raise HypothesisError("the hypothesis must be a non-empty string of equations, e.g. 'a = b'")
    order = sorted(range(len(names)), key=lambda i: -len(names[i]))
    pattern = re.compile(r"(?<![\w.])(?:" + "|".join(re.escape(names[i]) for i in order) + r")(?![\w.])")
    index = {n: i for i, n in enumerate(names)}
    coded = pattern.sub(lambda m: f" _p{index[m.group(0)]}_ ", text)
    rows, consts = [], []
    for part in coded.split(","):
        sides = part.split("=")
        if len(sides) > 2 or any(not s.strip() for s in sides):
            raise HypothesisError(f"cannot read the equation {_decode(part, names).strip()!r}: "
                                  "write 'expression = expression' or 'expression' (meaning = 0)")
        try:
            trees = [ast.parse(s.strip(), mode="eval").body for s in sides]
        except SyntaxError:
            raise HypothesisError(f"cannot read the equation {_decode(part, names).strip()!r}"
                                  + _unknown_labels(part, names)) from None
        lhs = _linear(trees[0], names)
        rhs = _linear(trees[1], names) if len(trees) == 2 else (np.zeros(len(names)), 0.0)
        r = lhs[0] - rhs[0]
        if not r.any():
            raise HypothesisError(f"the equation {_decode(part, names).strip()!r} involves no parameter")
        rows.append(r)
        consts.append(rhs[1] - lhs[1])
    return np.array(rows), np.array(consts)


def _unknown_labels(part, names) -> str:
    """What in an unreadable equation looks like a parameter label but is none (e.g.
    ``class1:item[Q]``), with the labels that exist."""
    left = re.sub(r"_p\d+_", " ", part)
    words = [w for w in re.findall(r"[A-Za-z_][\w.:()\[\], ]*\]|[A-Za-z_][\w.:]*", left) if not w.isdigit()]
    if not words:
        return ""
    shown = names if len(names) <= 20 else names[:20] + ["..."]
    return f": {', '.join(repr(w.strip()) for w in words)} is not a parameter label; the labels are {shown}"


def _decode(s, names):
    return re.sub(r"\s*_p(\d+)_\s*", lambda m: names[int(m.group(1))], s)


def constraint_matrix(r_matrix, names) -> tuple[np.ndarray, np.ndarray]:
    """``(R, q)`` from any accepted spelling of a hypothesis (module docstring)."""
    names = list(names)
    if isinstance(r_matrix, str):
        return parse_constraints(r_matrix, names)
    if isinstance(r_matrix, (list, tuple)) and r_matrix and all(isinstance(s, str) for s in r_matrix):
        return parse_constraints(", ".join(r_matrix), names)
    q = None
    if isinstance(r_matrix, tuple) and len(r_matrix) == 2:
        r_matrix, q = r_matrix
    try:
        R = np.atleast_2d(np.asarray(r_matrix, dtype=float))
    except (TypeError, ValueError):
        raise HypothesisError("r_matrix must be a string of equations, a list of them, an array R or a pair "
                              "(R, q)") from None
    if R.ndim != 2 or R.shape[1] != len(names):
        raise HypothesisError(f"r_matrix has {R.shape[-1]} columns; the model has {len(names)} parameters")
    q = np.zeros(R.shape[0]) if q is None else np.atleast_1d(np.asarray(q, dtype=float)).ravel()
    if q.size != R.shape[0]:
        raise HypothesisError(f"q has {q.size} values for {R.shape[0]} equations")
    return R, q


#: labels of scale parameters (random-effect SDs and loadings, class prefixes allowed); the
#: group is the ``group:column`` they belong to
SCALE_LABEL = re.compile(r"(?:^|:)(?:residual )?(?:sd|loading\d*)\((.+)\)$")


#: labels of parameters that cannot be negative (random-effect and residual SDs) and of
#: correlations, whose Wald intervals are cut at the edge of the parameter space
NONNEGATIVE_LABEL = re.compile(r"(?:^|:)(?:(?:residual )?sd\(.+\)|sigma(?:\[.+\])?)$")
CORRELATION_LABEL = re.compile(r"(?:^|:)cor\(.+\)$")


def _inputs(params, cov, r_matrix):
    names = list(params.index)
    R, q = constraint_matrix(r_matrix, names)
    b = params.to_numpy(dtype=float)
    used = np.flatnonzero(np.any(R != 0, axis=0))
    bad = [names[i] for i in used if not np.isfinite(cov[i, i])]
    if bad:
        raise HypothesisError(f"parameter(s) {bad} have no standard error (fixed, on a boundary, or se='none'): "
                              "a Wald test cannot involve them")
    C = np.where(np.isfinite(cov), cov, 0.0)
    single = [names[np.flatnonzero(r)[0]] for r, v in zip(R, q) if np.count_nonzero(r) == 1 and v == 0]
    at_zero = [a for a in single if SCALE_LABEL.search(a)]
    if at_zero:
        warnings.warn(f"the hypothesis {', '.join(f'{a} = 0' for a in at_zero)} lies on the boundary of the parameter "
                      "space (an SD or loading of 0): the Wald statistic's normal / chi-square reference does not "
                      "hold there, and its p-value is conservative (for one SD, a 50:50 mixture of chi-square(0) and "
                      "chi-square(1), i.e. half the p-value, is the usual correction; Section 5 of Asparouhov & "
                      "Muthen); gm.lrtest of the model without the random term states the same caveat",
                      BoundaryWarning, stacklevel=3)
    return R, q, b, R @ C @ R.T


def wald_test(params, cov, r_matrix, scalar: bool = True) -> ContrastResults:
    """Joint chi-square Wald test of ``R params = q`` (statsmodels' ``wald_test`` without F)."""
    R, q, b, V = _inputs(params, cov, r_matrix)
    d = R @ b - q
    J = R.shape[0]
    rank = np.linalg.matrix_rank(V)
    if rank < J:
        raise HypothesisError(f"the {J} equations are not linearly independent (rank {rank}): drop redundant ones")
    stat = d @ np.linalg.solve(V, d)
    stat = float(stat) if scalar else np.array([[stat]])
    return ContrastResults(chi2=stat, df_denom=J, statistic=stat, distribution="chi2", distargs=(J,))


def t_test(params, cov, r_matrix) -> ContrastResults:
    """One z test per equation of ``R params = q`` (statsmodels' ``t_test`` with a normal reference)."""
    R, q, b, V = _inputs(params, cov, r_matrix)
    effect = R @ b
    # statsmodels' shapes: a single equation keeps a (1, 1) standard error and statistic
    sd = np.sqrt(np.diag(V)) if R.shape[0] > 1 else np.sqrt(V)
    return ContrastResults(effect=effect, statistic=(effect - q) / sd, sd=sd, df_denom=None, distribution="norm")


class WaldInference:
    """z statistics, p-values, Wald intervals and linear hypothesis tests for a results class
    that has ``params`` (a labelled Series), ``bse`` and ``cov_params()``."""

    @property
    def tvalues(self) -> pd.Series:
        """z statistics ``params / bse`` (statsmodels' name for them)."""
        return (self.params / self.bse).rename("z")

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided p-values of the z statistics against the standard normal."""
        return pd.Series(2 * stats.norm.sf(np.abs(self.tvalues)), index=self.params.index, name="P>|z|")

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Wald confidence intervals ``params +- z(1 - alpha/2) bse``, indexed by parameter.

        Parameters
        ----------
        alpha : float
            The intervals have coverage 1 - alpha.

        Returns
        -------
        DataFrame
            Columns ``0`` (lower limits) and ``1`` (upper limits), as statsmodels names them
            for labelled parameters; NaN where a parameter has no standard error. Intervals
            of SDs end at 0 and those of correlations at -1 and 1: the Wald interval within
            the parameter space (an SD of 0.2 with SE 0.3 has the interval [0, 0.79], not
            [-0.39, 0.79]).
        """
        if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, (float, int, np.floating, np.integer)) \
                or not 0 < alpha < 1:
            raise GlmmixError(f"alpha must be a number in (0, 1), not {alpha!r} (0.05 gives 95% intervals)")
        z = stats.norm.ppf(1 - alpha / 2)
        lo = (self.params - z * self.bse).to_numpy(dtype=float)
        hi = (self.params + z * self.bse).to_numpy(dtype=float)
        labels = [str(a) for a in self.params.index]
        sd = np.array([bool(NONNEGATIVE_LABEL.search(a)) for a in labels], dtype=bool)
        cor = np.array([bool(CORRELATION_LABEL.search(a)) for a in labels], dtype=bool)
        lo = np.where(sd, np.maximum(lo, 0.0), lo)
        lo, hi = np.where(cor, np.maximum(lo, -1.0), lo), np.where(cor, np.minimum(hi, 1.0), hi)
        return pd.DataFrame({0: lo, 1: hi}, index=self.params.index)

    def wald_test(self, r_matrix: str | list | np.ndarray | tuple, scalar: bool = True) -> ContrastResults:
        """Joint Wald test of linear hypotheses on ``params`` (statsmodels semantics, chi-square).

        ``r_matrix``: equations in parameter labels, e.g.
        ``"class1:item[u1] = class2:item[u1]"`` or ``"a = 0, b = 0"``; a list of equations; an
        array R; or a pair (R, q). See :mod:`glmmix.hypothesis`.
        """
        return wald_test(self.params, self.cov_params().to_numpy(), r_matrix, scalar=scalar)

    def t_test(self, r_matrix: str | list | np.ndarray | tuple) -> ContrastResults:
        """A z test for each linear hypothesis (statsmodels' ``t_test``; normal reference)."""
        return t_test(self.params, self.cov_params().to_numpy(), r_matrix)
