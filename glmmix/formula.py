"""Reading glmmix formulas.

A glmmix formula has an outcome part and, for mixtures, a class part, separated by a
top-level ``|``::

    y ~ 0 + item | class(person) ~ 1 + x
    ^^^^^^^^^^^^   ^^^^^^^^^^^^^^^^^^^^^^
    outcome part   class part: a class variable per `person`, its multinomial logit on x

* ``class(person) ~ ...`` puts the class variable at the level of the grouping column
  ``person`` (one class per person: LCA, the stochastic constraint of eq 16).
* ``class ~ ...`` puts it at the row level (one class per response: finite mixture
  regression, and with a random intercept ``(1|person)`` the GoM model of eq 28-30).
* Random terms use lme4's spelling ``(1 + x | g)`` (correlated) and ``(1 + x || g)``
  (uncorrelated); factor terms with estimated loadings use glmmTMB's
  ``rr(0 + item | person, d)``.
* ``offset(expr)`` in the outcome part adds ``expr`` to the linear predictor with
  coefficient 1 in every class (``offset(np.log(exposure))`` for Poisson rates).

This module only reads the text: it returns a frozen :class:`ParsedFormula` and never sees
data. The fixed parts are handed to formulaic later (``design.py``).
"""

from __future__ import annotations

import re

from .exceptions import FormulaError
from .terms import IDENT as _IDENT
from .terms import ClassPart, FactorTerm, ParsedFormula, Part, RandomTerm, column_name, split_top

__all__ = ["parse_formula", "ParsedFormula", "Part", "ClassPart", "RandomTerm", "FactorTerm", "split_top", "column_name"]

def _parse_rhs(rhs: str, where: str) -> Part:
    """Separate lme4-style random terms and rr() factor terms from the fixed terms."""
    rhs = rhs.strip()
    if not rhs:
        raise FormulaError(f"the right-hand side of the {where} is empty")
    fixed_terms: list[str] = []
    random: list[RandomTerm] = []
    factors: list[FactorTerm] = []
    for sign, term in split_top(rhs, ("+", "-")):
        t = term.strip()
        if not t:
            if sign or fixed_terms:
                raise FormulaError(f"empty term in the {where}: {rhs!r}")
            continue
        if re.fullmatch(r"offset\s*\(.*\)", t, flags=re.S):
            if sign == "-":
                raise FormulaError(f"cannot subtract an offset: {t!r}")
            if where != "outcome part":
                raise FormulaError(f"{t!r} in the {where}: an offset shifts the outcome's linear predictor and "
                                   "belongs in the outcome part")
        elif re.search(r"(?<![\w.])offset\s*\(", t):
            raise FormulaError(f"offset() must be a term of its own in the outcome part, as in 'y ~ x + "
                               f"offset(np.log(exposure))', not inside {t!r}")
        m_rr = re.fullmatch(r"rr\((.*)\)", t, flags=re.S)
        if m_rr:
            if sign == "-":
                raise FormulaError(f"cannot subtract a factor term: {t!r}")
            factors.append(_parse_rr(m_rr.group(1), t))
            continue
        if t.startswith("(") and t.endswith(")") and len(split_top(t[1:-1], ("||", "|"))) > 2:
            raise FormulaError(f"random term {t!r} has more than one '|': write (expr | group), e.g. (1 + x | g)")
        if t.startswith("(") and t.endswith(")") and _is_bar_term(t[1:-1]):
            if sign == "-":
                raise FormulaError(f"cannot subtract a random term: {t!r}")
            random.extend(_parse_bar(t[1:-1], t))
            continue
        fixed_terms.append(f"{sign} {t}" if sign else t)
    fixed = " ".join(fixed_terms).strip()
    if fixed.startswith("+"):
        fixed = fixed[1:].strip()
    if not fixed:
        fixed = "1"  # as in lme4, an intercept unless removed
    elif fixed.startswith("-"):
        fixed = "1 " + fixed
    return Part(fixed, tuple(random), tuple(factors))


def _is_bar_term(inner: str) -> bool:
    return len(split_top(inner, ("||", "|"))) == 2


def _parse_bar(inner: str, term: str) -> list[RandomTerm]:
    """``(expr | g)``; lme4's nested ``(expr | a/b)`` is ``(expr | a) + (expr | a:b)``."""
    (_, expr), (bar, group) = split_top(inner, ("||", "|"))
    expr, group = expr.strip(), group.strip()
    if not expr:
        raise FormulaError(f"random term {term!r} has nothing left of '|' (write (1 | {group}))")
    return [RandomTerm(expr, g, correlated=(bar == "|")) for g in _groupings(group, term)]


def _parse_rr(args: str, term: str) -> FactorTerm:
    pieces = split_top(args, (",",))
    if len(pieces) > 2:
        raise FormulaError(f"rr() takes 'expr | group' and a number of factors: {term!r}")
    body = pieces[0][1]
    if len(pieces) == 1:  # glmmTMB reads rr(x | g) as 2 factors: no silent default either way
        raise FormulaError(f"{term!r} needs its number of factors: write 'rr({body.strip()}, 1)' for one "
                           "factor (glmmTMB's rr() without it takes 2)")
    txt = pieces[1][1].strip()
    txt = txt.split("=", 1)[1].strip() if "=" in txt else txt
    if not txt.isdigit() or int(txt) < 1:
        raise FormulaError(f"the number of factors in {term!r} must be a positive integer")
    d = int(txt)
    if not _is_bar_term(body):
        raise FormulaError(f"rr() needs 'expr | group' inside: {term!r}")
    (_, expr), (bar, group) = split_top(body, ("||", "|"))
    groups = _groupings(group.strip(), term)
    if len(groups) > 1:
        raise FormulaError(f"{term!r}: a nested grouping in rr() is not supported; write one rr() term per "
                           "grouping, e.g. 'a' and 'a:b'")
    return FactorTerm(expr.strip(), groups[0], d)


def _groupings(group: str, term: str) -> list[str]:
    """The grouping columns of a random term: one column, ``a:b`` (a group per combination
    of the columns' values) or lme4's nesting ``a/b`` = ``a`` and ``a:b`` (``a/b/c`` adds
    ``a:b:c``)."""
    name = column_name(group)
    if name is not None:
        return [name]
    nested = [p.strip() for _, p in split_top(group, ("/",))] if "/" in group else None
    levels = nested if nested else [group]
    out = []
    for i, lev in enumerate(levels):
        parts = [column_name(p) for _, p in split_top(lev, (":",))] if lev else [None]
        if any(p is None for p in parts):
            raise FormulaError(f"grouping factor {group!r} in {term!r} must be a column name, a combination "
                               "of columns 'a:b', or lme4's nesting 'a/b'")
        out.append(parts)
    if nested:  # a/b/c: a, a:b, a:b:c (each level's parts added to the enclosing ones)
        acc, chain = [], []
        for parts in out:
            acc = acc + parts
            chain.append(acc)
        out = chain
    return [":".join(parts) for parts in out]


def parse_formula(text: str) -> ParsedFormula:
    """Read a glmmix formula into a :class:`ParsedFormula`.

    Parameters
    ----------
    text : str
        ``"outcome ~ rhs"`` optionally followed by ``"| classvar(level) ~ rhs"`` parts.

    Raises
    ------
    FormulaError
        When the text cannot be read; the message quotes the offending piece.
    """
    if not isinstance(text, str) or not text.strip():
        raise FormulaError("formula must be a non-empty string such as 'y ~ 0 + item | class(person) ~ 1'")
    parts = split_top(text, ("||", "|"))
    if any(sep == "||" for sep, _ in parts):
        raise FormulaError(f"'||' is only allowed inside a random term such as (1 + x || g): {text!r}")
    outcome_text = parts[0][1]
    if "~" not in outcome_text:
        raise FormulaError(
            f"the formula has no outcome: {outcome_text.strip()!r} needs the form 'y ~ terms'"
        )
    lhs, rhs = outcome_text.split("~", 1)
    if "~" in rhs:
        raise FormulaError(f"the outcome part {outcome_text.strip()!r} has more than one '~': write 'y ~ terms'")
    outcome = lhs.strip()
    if not outcome:
        raise FormulaError(f"the formula has no outcome left of '~': {text!r}")
    name = column_name(outcome)
    if name is not None:
        outcome = name
    elif not re.fullmatch(r"cbind\(.*\)", outcome, flags=re.S):
        raise FormulaError(
            f"the outcome {outcome!r} must be a column name (quote other names as `my y` or "
            "Q('my y'); binomial outcomes: cbind(successes, failures), or trials='column')"
        )
    out_part = _parse_rhs(rhs, "outcome part")
    classes = []
    for _, ctext in parts[1:]:
        classes.append(_parse_class(ctext, text))
    names = [c.name for c in classes]
    if len(set(names)) != len(names):
        raise FormulaError(f"class variable names repeat in {text!r}: {names}")
    if len(classes) > 1:
        classes = [_with_parents(c, names) for c in classes]
        _check_acyclic(classes)
    return ParsedFormula(text.strip(), outcome, out_part, tuple(classes))


def _with_parents(c: ClassPart, names) -> ClassPart:
    """Move terms naming other class variables out of the logit's fixed part (eq 9, 24)."""
    keep, parents = [], []
    for sign, term in split_top(c.part.fixed, ("+", "-")):
        t = term.strip()
        if t in names:
            if t == c.name:
                raise FormulaError(f"class variable {c.name!r} cannot predict itself")
            if sign == "-":
                raise FormulaError(f"cannot subtract class variable {t!r} in the class part of {c.name!r}")
            parents.append(t)
            continue
        used = set(re.findall(_IDENT, t)) & set(names)
        if used:
            raise NotImplementedError(
                f"term {t!r} in the class part of {c.name!r} combines class variable(s) {sorted(used)} "
                "with other terms; only main effects of class variables are supported "
                "(write them as separate terms)")
        if t:
            keep.append(f"{sign} {t}" if sign else t)
    fixed = " ".join(keep).strip()
    if fixed.startswith("+"):
        fixed = fixed[1:].strip()
    fixed = fixed or "1"
    if fixed.startswith("-"):
        fixed = "1 " + fixed
    return ClassPart(c.name, c.level, Part(fixed, c.part.random, c.part.factors), tuple(parents))


def _check_acyclic(classes):
    """Class variables must form a recursive system: no variable may depend on itself."""
    deps = {c.name: list(c.parents) for c in classes}
    state = {}

    def visit(n, path):
        if state.get(n) == 1:
            cyc = path[path.index(n):] + [n]
            raise FormulaError(
                "the class variables' logits form a cycle " + " -> ".join(reversed(cyc))
                + " (a variable's predictors must come before it: a recursive system, eq 8-9)")
        if state.get(n) == 2:
            return
        state[n] = 1
        for p in deps[n]:
            visit(p, path + [n])
        state[n] = 2

    for c in classes:
        visit(c.name, [])


def _parse_class(ctext: str, full: str) -> ClassPart:
    ctext = ctext.strip()
    if not ctext:
        raise FormulaError(f"empty class part after '|' in {full!r}")
    if "~" in ctext:
        lhs, rhs = ctext.split("~", 1)
    else:
        lhs, rhs = ctext, "1"
    lhs = lhs.strip()
    m = re.fullmatch(rf"({_IDENT})\s*(?:\((.*)\))?", lhs, flags=re.S)
    level = column_name(m.group(2)) if m and m.group(2) is not None else None
    if not m or (m.group(2) is not None and level is None):
        raise FormulaError(
            f"class part {lhs!r} must read 'class' (one class per row) or 'class(unit)' "
            "(one class per level of the column 'unit')"
        )
    return ClassPart(m.group(1), level, _parse_rhs(rhs, f"class part {lhs!r}"))
