"""The structure of a glmmix formula: terms, parts and the parsed formula.

These frozen objects are what :func:`glmmix.formula.parse_formula` returns and what the
engine (design, random effects) reads; they live here so that the engine needs no import
of the parser. ``split_top`` is the parenthesis-aware splitter both sides use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import re

from .exceptions import FormulaError

IDENT = r"(?:[^\W\d]|\.)[\w.]*"  # a column name: letters of any script, digits, '_', '.'
QUOTED = r"`([^`]+)`|Q\(\s*(?:\"([^\"]+)\"|'([^']+)')\s*\)"  # `any name`, Q("any name")


def column_name(text: str) -> str | None:
    """The column a piece of formula text names, or None when it is not a single name.

    Plain names may use letters of any script, digits, ``_`` and ``.``; any other name is
    quoted with backticks (```my y```) or ``Q("my y")``, as in formulaic.
    """
    t = text.strip()
    if re.fullmatch(IDENT, t):
        return t
    m = re.fullmatch(QUOTED, t)
    if m:
        return next(g for g in m.groups() if g is not None)
    return None



#: an offset term of the outcome part, ``offset(expr)``: a column of the outcome design whose
#: coefficient is fixed at 1 in every class
OFFSET_TERM = re.compile(r"offset\s*\(.*\)", re.S)


def offset_columns(x_names) -> list[str]:
    """The columns of an outcome design that are offsets."""
    return [n for n in x_names if OFFSET_TERM.fullmatch(n)]

@dataclass(frozen=True)
class RandomTerm:
    """``(expr | group)`` or ``(expr || group)``: normal random effects of ``expr`` by ``group``."""

    expr: str
    group: str
    correlated: bool = True

    def __str__(self):
        bar = "|" if self.correlated else "||"
        return f"({self.expr} {bar} {self.group})"


@dataclass(frozen=True)
class FactorTerm:
    """``rr(expr | group, d)``: d factors per group with loadings on the columns of ``expr``."""

    expr: str
    group: str
    n_factors: int = 1

    def __str__(self):
        return f"rr({self.expr} | {self.group}, {self.n_factors})"


@dataclass(frozen=True)
class Part:
    """One equation: fixed right-hand side (formulaic syntax) plus random/factor terms."""

    fixed: str
    random: tuple[RandomTerm, ...] = ()
    factors: tuple[FactorTerm, ...] = ()


@dataclass(frozen=True)
class ClassPart:
    """A latent class variable: its name, its level (grouping column or None = row), its logit."""

    name: str
    level: str | None
    part: Part
    parents: tuple = ()  # earlier class variables in this variable's logit (eq 9, 24)


@dataclass(frozen=True)
class ParsedFormula:
    text: str
    outcome: str
    outcome_part: Part
    classes: tuple[ClassPart, ...] = field(default_factory=tuple)

    @property
    def has_random(self) -> bool:
        parts = [self.outcome_part] + [c.part for c in self.classes]
        return any(p.random or p.factors for p in parts)


def split_top(text: str, seps: tuple[str, ...]) -> list[tuple[str, str]]:
    """Split ``text`` at separators found outside parentheses.

    Returns a list of (separator_before, piece); the first separator is ''.
    """
    out, depth, cur, sep, i = [], 0, [], "", 0
    while i < len(text):
        ch = text[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced ')' in formula {text!r}")
        if depth == 0:
            hit = next((s for s in seps if text.startswith(s, i)), None)
            if hit is not None:
                out.append((sep, "".join(cur)))
                cur, sep = [], hit
                i += len(hit)
                continue
        cur.append(ch)
        i += 1
    if depth != 0:
        raise FormulaError(f"unbalanced '(' in formula {text!r}")
    out.append((sep, "".join(cur)))
    return out
