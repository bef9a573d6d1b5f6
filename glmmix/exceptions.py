"""Errors and warnings raised by glmmix.

Every error says what is wrong and, where it can, what to change.
"""

import re

import numpy as np


def plain(value):
    """A numpy scalar as the Python value it holds (for messages and JSON), else the value."""
    return value.item() if isinstance(value, np.generic) else value


def kind_hint(unknown, known) -> str:
    """When values not found among the fitted ones match them as text (``'308'`` against
    ``308``, ``2.0`` against ``2``), a sentence saying the column's type differs; else ''."""
    def text(v):
        v = plain(v)
        return str(int(v)) if isinstance(v, float) and float(v).is_integer() else str(v)

    fitted = {text(v) for v in known}
    hits = [v for v in unknown if text(v) in fitted]
    if not hits:
        return ""
    v = plain(hits[0])
    match = next(plain(k) for k in known if text(k) == text(v))
    return (f"; {v!r} differs from the fitted {match!r} only in its type ({type(v).__name__} against "
            f"{type(match).__name__}): give the column the type it had in the fitted data")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NULLS = re.compile(r"checking for nulls in `(.+?)`: `.+?` contains null values")


def formula_message(exc: BaseException) -> str:
    """An exception of formulaic's as one plain line: its terminal colours dropped and the
    piece of the formula it marks shown between ``>>`` and ``<<``."""
    text = _ANSI.sub("", str(exc)).replace("\u29db", ">>").replace("\u29da", "<<").strip()
    head, _, where = text.partition("\n\n")
    head = " ".join(head.split())
    return f"{head.rstrip('.')} (at '{' '.join(where.split())}')" if where.strip() else head


def null_expression(exc: BaseException) -> str | None:
    """The expression formulaic found to give missing values (``np.log(x)`` of x <= 0), or None."""
    m = _NULLS.search(str(exc))
    return m.group(1) if m else None


class GlmmixError(Exception):
    """Base class of all glmmix errors."""


class FormulaError(GlmmixError, ValueError):
    """The formula cannot be read, or names something that does not exist."""


class DesignError(GlmmixError, ValueError):
    """The data do not fit the model: missing columns, bad values, bad grouping."""


class IdentificationError(GlmmixError, ValueError):
    """The model as specified is not identified (confounded terms, too few classes...)."""


class EstimationError(GlmmixError, RuntimeError):
    """Estimation failed: every start broke down numerically."""


class ResultsFileError(GlmmixError, ValueError):
    """A file given to ``load_results`` is not a glmmix results file (or is damaged)."""


class GlmmixWarning(UserWarning):
    """Base class of glmmix warnings."""


class ConvergenceWarning(GlmmixWarning):
    """The optimizer stopped before convergence, or the best log-likelihood was not replicated."""


class BoundaryWarning(GlmmixWarning):
    """An estimate sits on (or runs towards) the boundary of the parameter space."""


class SingularInformationWarning(GlmmixWarning):
    """The information matrix is singular: standard errors are not available for some parameters."""


class DataWarning(GlmmixWarning):
    """Something about the data the user should know (rows dropped, few units, ...)."""


class DegenerateLikelihoodWarning(GlmmixWarning):
    """The likelihood is unbounded at the estimates: a residual SD collapsed onto a few
    observations (the maximum does not exist; the log-likelihood is meaningless)."""


class LabelSwitchingWarning(GlmmixWarning):
    """A simulation study could not match estimated classes to the true ones."""


class IntegrationAccuracyWarning(GlmmixWarning):
    """The integration rule does not resolve the integrands at the estimates: the
    log-likelihood changes by more than 1e-3 on a rule with twice the points per dimension."""
