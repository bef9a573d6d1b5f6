"""The fitted encoding of a design, as data.

A right-hand side such as ``1 + scale(x) + item + poly(z, 2)`` is turned into a model
matrix by formulaic, which learns from the fitted data the levels and coding of every
categorical factor and the state of every stateful transform (the centre and scale of
``scale(x)``, the recurrence of ``poly``, the knots of ``bs``). :class:`Encoding` freezes
that knowledge as plain data, so that new rows are encoded exactly as the fitted rows were:

* ``columns``: the matrix columns, in order;
* ``terms``: per term, its scoped parts (each a product of factors, reduced-rank or not,
  times a scale) and the columns they give;
* ``factors``: per factor expression, its kind; for categorical factors the levels and the
  coding matrices (levels x coded columns) with the coded column names; for numerical
  factors the states of their stateful transforms.

Factor expressions are read with :func:`ast.parse` and computed by a small interpreter that
knows column names, numbers, arithmetic and a fixed list of functions (``np.log``,
``I``, ``scale``, ``center``, ``poly``, ``bs``, ``cr``, ``cc``, ``C``...). Nothing is passed to
:func:`eval`, so an encoding read from a file cannot run code; :meth:`Encoding.from_dict`
validates every field before use.

An encoding is checked when the design is built: it must reproduce the fitted matrix
(:func:`freeze`); if it does not (a transform outside the list above), it records why, and
encoding new rows raises ``NotImplementedError`` rather than guessing.
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
import gc
import re

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic import Formula

from .exceptions import DesignError, FormulaError, GlmmixError, formula_message, kind_hint, null_expression, plain

# Stateless functions an expression may call: dotted name -> numpy function.
_UFUNCS = {"log": np.log, "log1p": np.log1p, "log2": np.log2, "log10": np.log10, "exp": np.exp,
           "exp2": np.exp2, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "absolute": np.abs,
           "square": np.square, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
           "arctan": np.arctan, "maximum": np.maximum, "minimum": np.minimum, "power": np.power}
_FUNCS = {**{f"np.{k}": v for k, v in _UFUNCS.items()}, **{f"numpy.{k}": v for k, v in _UFUNCS.items()},
          "log": np.log, "log2": np.log2, "log10": np.log10, "exp": np.exp, "exp2": np.exp2,
          "I": lambda x: x, "offset": lambda x: np.asarray(x, dtype=float)}
_STATEFUL = ("scale", "center", "poly", "bs", "cr", "cs", "cc")
_BINOPS = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide,
           ast.Pow: np.power}
_MAX_EXPR = 500


class EncodingError(GlmmixError, ValueError):
    """A stored encoding is malformed (not something glmmix wrote)."""


def _stateful(name):
    from formulaic.transforms import basis_spline, center, cyclic_cubic_spline, natural_cubic_spline, poly, scale

    return {"scale": scale, "center": center, "poly": poly, "bs": basis_spline, "cr": natural_cubic_spline,
            "cs": natural_cubic_spline, "cc": cyclic_cubic_spline}[name]


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _backticks(expr: str):
    """Replace backticked column names (formulaic's spelling) by placeholders."""
    names = {}

    def sub(m):
        key = f"__col{len(names)}"
        names[key] = m.group(1)
        return key

    return re.sub(r"`([^`]*)`", sub, expr), names


def parse_factor(expr: str) -> tuple[ast.AST, dict]:
    """Parse a factor expression and check that it uses only what the interpreter knows.

    Returns the expression's body and the placeholder -> column map of backticked names.
    Raises ``EncodingError`` naming the first construct that is not allowed.
    """
    if not isinstance(expr, str) or not expr or len(expr) > _MAX_EXPR:
        raise EncodingError(f"factor expression {str(expr)[:60]!r} is not a short string")
    text, cols = _backticks(expr)
    try:
        body = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise EncodingError(f"factor expression {expr!r} cannot be read") from None
    _check_node(body, expr, top=True)
    return body, cols


def _check_node(node, expr, top=False, in_c=False):
    bad = f"factor expression {expr!r} uses something glmmix does not compute"
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, bool, str)) and node.value is not None:
            raise EncodingError(bad)
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for e in node.elts:
            if not isinstance(e, ast.Constant) or not isinstance(e.value, (int, float, bool, str)):
                raise EncodingError(bad + " (a list of numbers or names is allowed)")
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check_node(node.left, expr)
        _check_node(node.right, expr)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check_node(node.operand, expr)
        return
    if isinstance(node, ast.Attribute) and in_c and _dotted(node) is not None and _dotted(node).startswith("contr."):
        return
    if isinstance(node, ast.Call):
        name = _dotted(node.func)
        if in_c and name is not None and name.startswith("contr."):  # never computed: the coding is stored
            for a in list(node.args) + [k.value for k in node.keywords]:
                _check_node(a, expr)
            return
        if name == "C":
            if not top or not node.args:
                raise EncodingError(bad + ": C() must be the whole factor")
            _check_node(node.args[0], expr)
            for a in list(node.args[1:]) + [k.value for k in node.keywords]:
                _check_node(a, expr, in_c=True)
            return
        if name in _FUNCS or name in _STATEFUL:
            if name in _FUNCS and node.keywords:
                raise EncodingError(bad + f": {name}() takes no keywords here")
            for a in list(node.args) + [k.value for k in node.keywords]:
                if isinstance(a, ast.Starred):
                    raise EncodingError(bad)
                _check_node(a, expr)
            if any(k.arg is None for k in node.keywords):
                raise EncodingError(bad)
            return
        raise EncodingError(f"factor expression {expr!r} calls {name or 'an expression'}(), which glmmix "
                            "cannot compute for new rows (it knows numpy's elementwise functions, I, C, "
                            + ", ".join(_STATEFUL) + ")")
    raise EncodingError(bad + f" ({type(node).__name__})")


class _Evaluator:
    """Computes a checked factor expression on a DataFrame."""

    def __init__(self, df: pd.DataFrame, states: dict, expr: str, cols: dict, where: str):
        self.df, self.states, self.expr, self.cols, self.where = df, states, expr, cols, where

    def column(self, name):
        name = self.cols.get(name, name)
        if name not in self.df.columns:
            raise DesignError(f"column {name!r} needed by {self.expr!r} in the {self.where} is not in the data")
        return self.df[name]

    def numeric(self, name):
        col = self.column(name)
        if col.dtype.kind in "mMc" or isinstance(col.dtype, (pd.DatetimeTZDtype, pd.PeriodDtype)):
            raise DesignError(f"column {self.cols.get(name, name)!r} in the {self.where} must hold real numbers, "
                              f"not {col.dtype}")
        try:
            v = col.to_numpy(dtype=float)
        except (TypeError, ValueError):
            bad = pd.to_numeric(col, errors="coerce").isna() & col.notna()
            first = f" (e.g. {plain(col[bad].iloc[0])!r} at index {plain(col.index[bad.to_numpy()][0])!r})" \
                if bad.any() else ""
            raise DesignError(f"column {self.cols.get(name, name)!r} in the {self.where} must be numeric{first}") \
                from None
        if np.isnan(v).any():
            raise DesignError(f"column {self.cols.get(name, name)!r} in the {self.where} has missing values")
        return v

    def value(self, node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [e.value for e in node.elts]
        if isinstance(node, ast.Name):
            if node.id in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[node.id]
            return self.numeric(node.id)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](self.value(node.left), self.value(node.right))
        if isinstance(node, ast.UnaryOp):
            v = self.value(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            args = [self.value(a) for a in node.args]
            kwargs = {k.arg: self.value(k.value) for k in node.keywords}
            if name in _FUNCS:
                return _FUNCS[name](*args, **kwargs)
            key = ast.unparse(node).replace("\n", " ")
            if key not in self.states or not self.states[key]:
                raise EncodingError(f"the encoding has no fitted state for {key!r} in the {self.where}")
            state = copy.deepcopy(self.states[key])
            before = _tag(state)
            out = _stateful(name)(*args, _state=state, **kwargs)
            if _tag(state) != before:  # a transform that learnt something from these rows
                raise EncodingError(f"the fitted state of {key!r} in the {self.where} is incomplete")
            return out
        raise EncodingError(f"cannot compute {self.expr!r}")  # excluded by _check_node


def _value_names(node) -> set:
    """Names a checked expression reads as columns (not function names or contrasts)."""
    if isinstance(node, ast.Name):
        return set() if node.id in ("True", "False", "None") else {node.id}
    if isinstance(node, ast.BinOp):
        return _value_names(node.left) | _value_names(node.right)
    if isinstance(node, ast.UnaryOp):
        return _value_names(node.operand)
    if isinstance(node, ast.Call):
        if _dotted(node.func) == "C":
            return _value_names(node.args[0])
        out = set()
        for a in list(node.args) + [k.value for k in node.keywords]:
            out |= _value_names(a)
        return out
    return set()


def evaluate(expr: str, df: pd.DataFrame, where: str) -> np.ndarray:
    """A numeric expression of columns (e.g. ``size - incidence``), computed by the
    interpreter (no ``eval``)."""
    body, cols = parse_factor(expr)
    with np.errstate(all="ignore"):
        v = _Evaluator(df, {}, expr, cols, where).value(body)
    return np.broadcast_to(np.asarray(v, dtype=float), (len(df),)).copy()


def nonfinite_message(label: str, values: np.ndarray, df: pd.DataFrame, where: str) -> str:
    """Names the rows where a design column ``label`` (``np.log(x)``, an offset) is not
    finite: how many, the first one's index and the values there of the columns it reads."""
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    i = int(np.argmax(bad))
    names = [c for c in df.columns if isinstance(c, str) and label != c
             and re.search(rf"(?<![\w.]){re.escape(c)}(?![\w.])", label)]
    at = ", ".join(f"{c} = {plain(df[c].iloc[i])!r}" for c in names[:3])
    kinds = "/".join(k for k, hit in (("NaN", np.isnan(values).any()), ("inf", (values == np.inf).any()),
                                      ("-inf", (values == -np.inf).any())) if hit)
    return (f"{label!r} in the {where} is {kinds} in {int(bad.sum())} row(s) (first at index "
            f"{plain(df.index[i])!r}{', where ' + at if at else ''}): "
            + ("infinite values in the data; drop or recode those rows first" if label in df.columns else
               "a transform undefined there (a log or square root of a value <= 0?) or infinite data; "
               "transform only where it is defined, or drop those rows first"))


def build_error(exc: BaseException, df: pd.DataFrame, where: str, rhs: str) -> GlmmixError:
    """The error to raise when formulaic cannot build ``rhs``, the ``where`` ("outcome
    part"), on ``df``: an expression giving missing values (``np.log(x)`` of x < 0) named with
    its rows, anything else as formulaic's message on one line."""
    expr = null_expression(exc)
    if expr is not None:
        try:
            values = evaluate(expr, df, where)
        except Exception:  # an expression the interpreter does not know: formulaic's words
            values = None
        if values is not None and not np.isfinite(values).all():
            return DesignError(nonfinite_message(expr, values, df, where))
    hint = ("; in Python '^' is the bitwise xor: write I(x**2) for a square" if "^" in rhs and "xor" in str(exc)
            else "")
    shadowed = sorted({f for f in re.findall(r"(?<![\w.])([^\W\d][\w]*)\s*\(", rhs) if f in df.columns})
    if shadowed and "not callable" in str(exc):
        hint += f"; a column named {shadowed[0]!r} hides the function {shadowed[0]}(): rename the column"
    return FormulaError(f"cannot build the {where} {rhs!r}: {formula_message(exc)}{hint}")


def _as_columns(out, n, name):
    """(names, arrays) of a numerical factor's value."""
    meta = getattr(out, "__formulaic_metadata__", None)
    if isinstance(out, dict):
        items = [(k, v) for k, v in out.items() if not (isinstance(k, str) and k.startswith("__"))]
        fmt = meta.format if meta is not None else "{name}[{field}]"
        return [fmt.format(name=name, field=k) for k, _ in items], [np.asarray(v, float) for _, v in items]
    arr = np.asarray(out, dtype=float)
    if arr.ndim == 0:
        return [name], [np.full(n, float(arr))]
    if arr.ndim == 1:
        return [name], [arr]
    fields = list(meta.column_names) if meta is not None and meta.column_names else \
        [str(j) for j in range(arr.shape[1])]
    fmt = meta.format if meta is not None else "{name}[{field}]"
    return [fmt.format(name=name, field=f) for f in fields], [arr[:, j] for j in range(arr.shape[1])]


class Encoding:
    """How a right-hand side turns rows into matrix columns (see the module docstring)."""

    def __init__(self, columns, terms, factors, unsupported: str | None = None):
        self.columns = list(columns)
        self.terms = terms
        self.factors = factors
        self.unsupported = unsupported

    # ------------------------------------------------------------------ from formulaic
    @classmethod
    def from_spec(cls, spec) -> "Encoding":
        """Freeze a formulaic ModelSpec (the fitted one)."""
        factors, terms = {}, []
        for st in spec.structure:
            parts = []
            for scoped in st.scoped_terms:
                fl = []
                for sf in scoped.factors:
                    expr = sf.factor.expr
                    fl.append([expr, bool(sf.reduced)])
                    if expr not in factors:
                        factors[expr] = _factor_from_spec(spec, expr)
                        inner = getattr(sf.factor, "factor", sf.factor)
                        em = getattr(getattr(inner, "eval_method", None), "value", None)
                        factors[expr]["lookup"] = em == "lookup"  # the expression is a column name
                parts.append({"scale": float(scoped.scale if scoped.scale is not None else 1.0), "factors": fl})
            terms.append({"term": str(st.term), "parts": parts, "columns": list(st.columns)})
        return cls(list(spec.column_names), terms, factors)

    def required_columns(self) -> set:
        """The data columns the factors read."""
        out = set()
        for expr, f in self.factors.items():
            if f.get("lookup"):
                out.add(expr)
                continue
            body, cols = parse_factor(expr)
            out |= {cols.get(n, n) for n in _value_names(body)}
        return out

    @property
    def term_indices(self) -> dict:
        out, j = {}, 0
        for t in self.terms:
            out[t["term"]] = list(range(j, j + len(t["columns"])))
            j += len(t["columns"])
        return out

    # ------------------------------------------------------------------ materialization
    def matrix(self, df: pd.DataFrame, where: str) -> np.ndarray:
        """The model matrix of ``df`` under the fitted encoding (rows in ``df``'s order)."""
        if self.unsupported:
            raise NotImplementedError(f"the {where} cannot be built for new rows: {self.unsupported}")
        n = len(df)
        cache = {}
        out = []
        for t in self.terms:
            names, cols = [], []
            for part in t["parts"]:
                fac = []
                for expr, reduced in part["factors"]:
                    key = (expr, reduced)
                    if key not in cache:
                        cache[key] = self._factor_columns(df, expr, reduced, where)
                    fac.append(cache[key])
                if not fac:
                    names.append("Intercept")
                    cols.append(np.full(n, part["scale"]))
                    continue
                for combo in itertools.product(*reversed(fac)):
                    combo = combo[::-1]
                    names.append(":".join(c[0] for c in combo))
                    v = part["scale"] * np.ones(n)
                    for c in combo:
                        v = v * c[1]
                    cols.append(v)
            if names != t["columns"]:
                raise NotImplementedError(
                    f"the {where} cannot be built for new rows: term {t['term']!r} gives columns {names}, "
                    f"the fit had {t['columns']}")
            out.extend(cols)
        return np.column_stack(out) if out else np.zeros((n, 0))

    def _factor_columns(self, df, expr, reduced, where):
        f = self.factors[expr]
        if f.get("lookup"):  # a column name, however spelled: no parsing
            body, cols = ast.Name(id="__col"), {"__col": expr}
        else:
            body, cols = parse_factor(expr)
        ev = _Evaluator(df, f.get("states", {}), expr, cols, where)
        if f["kind"] == "categorical":
            node = body.args[0] if isinstance(body, ast.Call) and _dotted(body.func) == "C" else body
            if isinstance(node, ast.Name):
                raw = ev.column(node.id)
                colname = cols.get(node.id, node.id)
                if raw.isna().any():
                    raise DesignError(f"column {colname!r} in the {where} has missing values")
                vals = raw.to_numpy()
            else:
                colname = expr
                vals = np.asarray(ev.value(node))
            levels = f["levels"]
            idx = pd.Index(levels, dtype=object).get_indexer(pd.Index(vals, dtype=object))
            if (idx < 0).any():
                unknown = list(pd.unique(pd.Series(vals[idx < 0], dtype=object)))
                raise DesignError(
                    f"column {colname!r} has level(s) {unknown[:10]} not seen in fitting (the fitted levels "
                    f"of {expr!r} are {levels[:20]}); predictions for unseen levels are not defined"
                    + kind_hint(unknown, levels))
            code = f["coding"]["reduced" if reduced else "full"]
            M = np.asarray(code["matrix"], float)
            return [(nm, M[idx, j]) for j, nm in enumerate(code["names"])]
        if f["kind"] == "constant":
            return [(expr, np.full(len(df), float(ev.value(body))))]
        try:
            with np.errstate(all="ignore"):
                out = ev.value(body)
        except GlmmixError:
            raise
        except Exception as exc:  # numpy/formulaic on odd values
            raise DesignError(f"cannot compute {expr!r} in the {where} for these rows: {exc}") from None
        names, arrays = _as_columns(out, len(df), expr)
        for nm, a in zip(names, arrays):
            if a.shape != (len(df),) or not np.all(np.isfinite(a)):
                raise DesignError(f"{expr!r} in the {where} is not finite for some rows (column {nm!r})")
        return list(zip(names, arrays))

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict:
        if self.unsupported:
            return {"columns": self.columns, "terms": [], "factors": {}, "unsupported": self.unsupported}
        return {"columns": self.columns, "terms": self.terms,
                "factors": {k: {**v, "states": _tag(v.get("states", {}))} for k, v in self.factors.items()},
                "unsupported": self.unsupported}

    @classmethod
    def from_dict(cls, d, where: str) -> "Encoding":
        """Validate a stored encoding; raises ``EncodingError`` naming what is wrong."""
        bad = f"the stored encoding of the {where}"
        if not isinstance(d, dict) or not {"columns", "terms", "factors"} <= set(d):
            raise EncodingError(f"{bad} lacks columns, terms or factors")
        columns, terms, factors = d["columns"], d["terms"], d["factors"]
        if not _strs(columns) or not isinstance(terms, list) or not isinstance(factors, dict):
            raise EncodingError(f"{bad} has malformed columns, terms or factors")
        unsupported = d.get("unsupported")
        if unsupported is not None and not isinstance(unsupported, str):
            raise EncodingError(f"{bad} has a malformed 'unsupported' note")
        out_f = {}
        for expr, f in factors.items():
            if not isinstance(f, dict) or f.get("kind") not in ("numerical", "categorical", "constant") \
                    or not isinstance(f.get("lookup", False), bool):
                raise EncodingError(f"{bad}: factor {expr!r} has no valid kind")
            if not f.get("lookup"):
                parse_factor(expr)
            g = {"kind": f["kind"], "lookup": bool(f.get("lookup", False)),
                 "states": _untag(f.get("states", {}), f"{bad}: factor {expr!r}")}
            if not isinstance(g["states"], dict):
                raise EncodingError(f"{bad}: factor {expr!r} has malformed states")
            if f["kind"] == "categorical":
                levels = f.get("levels")
                if not isinstance(levels, list) or not levels or not all(
                        isinstance(v, (str, int, float, bool)) for v in levels):
                    raise EncodingError(f"{bad}: factor {expr!r} has malformed levels")
                coding = f.get("coding")
                if not isinstance(coding, dict) or set(coding) != {"reduced", "full"}:
                    raise EncodingError(f"{bad}: factor {expr!r} has malformed coding")
                for c in coding.values():
                    if not isinstance(c, dict) or not _strs(c.get("names")):
                        raise EncodingError(f"{bad}: factor {expr!r} has malformed coding names")
                    try:
                        M = np.asarray(c.get("matrix"), dtype=float)
                    except (TypeError, ValueError):
                        raise EncodingError(f"{bad}: factor {expr!r} has a malformed coding matrix") from None
                    if M.ndim != 2 or M.shape != (len(levels), len(c["names"])) or not np.isfinite(M).all():
                        raise EncodingError(f"{bad}: factor {expr!r} has a coding matrix of the wrong shape")
                g["levels"], g["coding"] = levels, coding
            out_f[expr] = g
        allcols = []
        for t in terms:
            if not isinstance(t, dict) or not isinstance(t.get("term"), str) or not _strs(t.get("columns")) \
                    or not isinstance(t.get("parts"), list):
                raise EncodingError(f"{bad} has a malformed term")
            for p in t["parts"]:
                if not isinstance(p, dict) or not isinstance(p.get("scale"), (int, float)) \
                        or not isinstance(p.get("factors"), list):
                    raise EncodingError(f"{bad}: term {t['term']!r} has a malformed part")
                for fr in p["factors"]:
                    if not (isinstance(fr, list) and len(fr) == 2 and fr[0] in out_f and isinstance(fr[1], bool)):
                        raise EncodingError(f"{bad}: term {t['term']!r} names an unknown factor")
            allcols += t["columns"]
        if allcols != columns and unsupported is None:
            raise EncodingError(f"{bad}: the terms' columns do not add up to the columns")
        return cls(columns, terms, out_f, unsupported)


def _strs(x) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) for v in x)


def _factor_from_spec(spec, expr) -> dict:
    kind, state = spec.encoder_state.get(expr, (None, {}))
    kind = getattr(kind, "value", kind)
    if kind == "categorical":
        cs = state["contrasts"]
        levels = [plain(v) for v in cs.levels]
        coding = {}
        for key, red in (("reduced", True), ("full", False)):
            M = cs.contrasts.get_coding_matrix(cs.levels, reduced_rank=red)
            fields = cs.contrasts.get_coding_column_names(cs.levels, reduced_rank=red)
            fmt = cs.contrasts.get_factor_format(cs.levels, reduced_rank=red)
            coding[key] = {"names": [fmt.format(name=expr, field=f) for f in fields],
                           "matrix": np.asarray(M, float).tolist()}
        return {"kind": "categorical", "levels": levels, "coding": coding, "states": {}}
    states = {}
    try:
        from formulaic.utils.code import format_expr, sanitize_variable_names

        body, _ = parse_factor(expr)
        # formulaic keys a state by its own spelling of the call (backticked names sanitized);
        # the two parses have the same shape, so their nodes pair up in walk order
        theirs = ast.parse(sanitize_variable_names(expr, {}, {}), mode="eval").body
        for node, other in zip(ast.walk(body), ast.walk(theirs)):
            if isinstance(node, ast.Call) and _dotted(node.func) in _STATEFUL:
                key = format_expr(other)
                if key in spec.transform_state:
                    states[ast.unparse(node).replace("\n", " ")] = copy.deepcopy(spec.transform_state[key])
    except (EncodingError, SyntaxError, ValueError):
        pass  # reported when the encoding is checked against the fitted matrix
    return {"kind": "constant" if kind == "constant" else "numerical", "states": states}


#: rows of a chunk when a large model matrix is built chunk by chunk (:func:`matrix_by_chunks`)
CHUNK_ROWS = 1 << 18


def _level_rows(df: pd.DataFrame, n_first: int = 2000) -> np.ndarray:
    """Positions of the first ``n_first`` rows of ``df`` and of a row of every level of every
    non-numeric column (categorical, text, boolean)."""
    rows = [np.arange(min(len(df), n_first))]
    for c in df.columns:
        col = df[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            codes = col.cat.codes.to_numpy()
            at = np.full(len(col.cat.categories) + 1, -1, dtype=np.intp)  # the last slot takes the code -1
            for a in range(0, len(codes), 1 << 16):  # a row of every category, a chunk at a time
                at[codes[a:a + (1 << 16)]] = np.arange(a, min(a + (1 << 16), len(codes)))
            rows.append(at[:-1][at[:-1] >= 0])
        elif not pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype):
            rows.append(np.flatnonzero(~col.duplicated().to_numpy()))
    return np.unique(np.concatenate(rows))


def matrix_by_chunks(rhs: str, df: pd.DataFrame, output: str = "numpy", context=None):
    """The model matrix of ``rhs`` on a large ``df`` (``output`` "numpy" or "sparse": csr) and
    its formulaic spec, built a chunk of rows at a time with the encoding formulaic learns on
    a sample holding a row of every level of every non-numeric column, applied to each chunk as
    to new data: formulaic's temporaries are those of a chunk, not of the data. None (build it
    whole) for a small ``df``, and when the encoding would learn anything else from the rows: a
    transform's state (centring, scaling, spline knots) or the levels of a numeric column
    (``C(x)``)."""
    if len(df) <= 2 * CHUNK_ROWS:
        return None
    try:
        proto = Formula(rhs).get_model_matrix(df.iloc[_level_rows(df)], context=context, na_action="raise",
                                              output=output)
    except Exception:  # the whole build reports the error
        return None
    spec = proto.model_spec
    del proto
    text = {c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(
        df[c].dtype) or not pd.api.types.is_numeric_dtype(df[c].dtype)}
    if spec.transform_state or any(kind.value == "categorical" and name not in text
                                   for name, (kind, _) in spec.encoder_state.items()):
        return None
    parts, out = [], None
    try:
        for a in range(0, len(df), CHUNK_ROWS):
            M = spec.get_model_matrix(df.iloc[a:a + CHUNK_ROWS], context=context, na_action="raise", output=output)
            if output == "sparse":
                parts.append(sp.csr_matrix(M, dtype=float))
            else:
                if out is None:
                    out = np.empty((len(df), M.shape[1]))
                out[a:a + CHUNK_ROWS] = np.asarray(M, dtype=float)
            del M
    except Exception:  # the whole build reports the error
        return None
    finally:
        gc.collect()  # formulaic's matrices sit in reference cycles: free them now
    return (sp.vstack(parts, format="csr") if output == "sparse" else out), spec


def freeze(spec, df: pd.DataFrame, X: np.ndarray, where: str) -> Encoding:
    """The Encoding of a fitted ModelSpec, checked to reproduce the fitted matrix ``X``.

    When it cannot (a transform the interpreter does not know), the encoding records why,
    and building new rows with it raises ``NotImplementedError``.
    """
    try:
        enc = Encoding.from_spec(spec)
    except Exception as exc:  # an unexpected formulaic structure
        return Encoding(list(spec.column_names), [], {}, unsupported=f"its encoding cannot be stored ({exc})")
    try:
        for expr, f in enc.factors.items():
            if not f.get("lookup"):
                parse_factor(expr)
        sub = df
        if len(df) > 20000:  # a strided sample checks every column and level cheaply
            step = len(df) // 10000
            rows = np.r_[np.arange(0, len(df), step), len(df) - 1]
            sub = df.iloc[rows]
            X = X[rows]
        M = enc.matrix(sub, where)
        Xd = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
        if M.shape != Xd.shape or not np.allclose(M, Xd, rtol=1e-10, atol=1e-12):
            raise EncodingError("rebuilding the fitted rows from the stored encoding does not reproduce them")
    except (GlmmixError, NotImplementedError) as exc:
        enc.unsupported = str(exc)
    return enc


# ---------------------------------------------------------------------- typed JSON
def _tag(o):
    """Transform state -> JSON-safe data with types kept (int dict keys, arrays)."""
    if isinstance(o, dict):
        if all(isinstance(k, str) for k in o):
            return {k: _tag(v) for k, v in o.items()}
        return {"__items__": [[_tag(plain(k)), _tag(v)] for k, v in o.items()]}
    if isinstance(o, np.ndarray):
        return {"__array__": _tag(o.tolist())}
    if isinstance(o, (list, tuple)):
        return [_tag(v) for v in o]
    o = plain(o)
    if isinstance(o, float) and not math.isfinite(o):
        return {"__float__": repr(o)}
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    raise EncodingError(f"a transform state holds a {type(o).__name__}, which glmmix cannot store")


def _untag(o, where, depth=0):
    if depth > 20:
        raise EncodingError(f"{where}: the stored state is nested too deeply")
    if isinstance(o, dict):
        if set(o) == {"__items__"}:
            items = o["__items__"]
            if not isinstance(items, list) or not all(isinstance(p, list) and len(p) == 2 for p in items):
                raise EncodingError(f"{where}: malformed stored state")
            out = {}
            for k, v in items:
                if not isinstance(k, (str, int, float, bool)) and k is not None:
                    raise EncodingError(f"{where}: malformed stored state")
                out[k] = _untag(v, where, depth + 1)
            return out
        if set(o) == {"__array__"}:
            try:
                return np.asarray(_untag(o["__array__"], where, depth + 1), dtype=float)
            except (TypeError, ValueError):
                raise EncodingError(f"{where}: malformed stored array") from None
        if set(o) == {"__float__"}:
            if o["__float__"] not in ("nan", "inf", "-inf"):
                raise EncodingError(f"{where}: malformed stored number")
            return float(o["__float__"])
        return {str(k): _untag(v, where, depth + 1) for k, v in o.items()}
    if isinstance(o, list):
        return [_untag(v, where, depth + 1) for v in o]
    if o is None or isinstance(o, (bool, int, float, str)):
        return o
    raise EncodingError(f"{where}: malformed stored state")
