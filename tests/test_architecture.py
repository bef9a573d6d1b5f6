"""Module boundaries of the package, checked on its source (an AST scan).

* No module reads another object's private (underscore) attributes or imports another
  module's private names: ``obj._x`` (and ``getattr(obj, "_x")``, ``setattr``, ...) is
  allowed only on ``self`` / ``cls``. The vignettes use public attributes only.
* No function body (without its docstring) is longer than about a hundred lines: long
  procedures are split into named steps.
* The engine does not import the formula parser's module: the parsed formula and its term
  objects live in ``terms``; only the modules that start from formula text import ``formula``.
"""

import ast
from pathlib import Path

import glmmix

PKG = Path(glmmix.__file__).parent
VIGNETTES = PKG.parent / "vignettes"


def _modules():
    return sorted(p for p in PKG.glob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own(base) -> bool:
    return isinstance(base, ast.Name) and base.id in ("self", "cls")


#: built-ins that read or write an attribute named by a string
BY_NAME = {"getattr", "setattr", "hasattr", "delattr"}


def underscore_access(path: Path) -> list[str]:
    """Private names used across objects: ``obj._x``, ``getattr(obj, "_x")`` (also
    ``setattr``, ``hasattr``, ``delattr``) with ``obj`` other than self / cls, and imports of
    another module's private names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            if not _own(node.value):
                bad.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in BY_NAME
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
              and isinstance(node.args[1].value, str) and _private(node.args[1].value) and not _own(node.args[0])):
            bad.append(f"{path.name}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and node.level >= 1:
            for alias in node.names:
                if _private(alias.name):
                    bad.append(f"{path.name}:{node.lineno}: import {alias.name}")
    return bad


def test_no_module_reads_private_attributes_of_another_object():
    bad = [b for p in _modules() for b in underscore_access(p)]
    assert not bad, ("private names used across objects (give the owner a public name):\n" + "\n".join(bad))


def test_vignettes_use_public_attributes_only():
    bad = [b for p in sorted(VIGNETTES.glob("*.py")) for b in underscore_access(p)]
    assert not bad, "the vignettes read private names (use public attributes):\n" + "\n".join(bad)


#: longest function body (lines, without its docstring) in the package
MAX_FUNCTION_LINES = 100


def long_functions(path: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Functions whose body, without its docstring, spans more than ``limit`` lines."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                body = body[1:]
            n = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            if n > limit:
                bad.append(f"{path.name}:{node.lineno}: {node.name} ({n} lines)")
    return bad


def test_no_function_is_longer_than_about_a_hundred_lines():
    bad = [b for p in _modules() for b in long_functions(p)]
    assert not bad, (f"functions longer than {MAX_FUNCTION_LINES} lines (split them into named steps):\n"
                     + "\n".join(bad))


#: modules that may import the formula parser (they start from formula text)
READS_FORMULA_TEXT = {"__init__.py", "formula.py", "model.py", "simulate.py", "api.py", "plots.py", "nesting.py"}


def imported_modules(path: Path, top_level: bool = False) -> set[str]:
    """glmmix modules a file imports (anywhere, or at module level only: imports inside
    functions are how a module defers one that sits above it)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out = set()
    for node in (tree.body if top_level else ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and node.level >= 1:
            out.add(node.module or "")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("glmmix."):
            out.add(node.module.split(".", 1)[1])
    return out


#: the pipeline's layers (docs/DESIGN.md, "Who may import whom"): a module imports only
#: modules of lower layers at module level
LAYERS = [
    {"exceptions", "mathutils", "allocator"},
    {"terms", "quadrature", "datasets", "long", "summary", "validate", "weights", "identification", "encoding",
     "progress", "hypothesis"},
    {"formula", "families", "classes", "random_effects", "params", "nesting"},
    {"design"},
    {"likelihood"},
    {"scaling", "laplace_sparse", "partitions"},
    {"inference", "structural", "copies"},
    {"estimation", "scoring", "centring"},
    {"reporting", "persist", "predict"},
    {"results"},
    {"model"},
    {"api", "simulate", "plots", "proflik"},
    {"special", "selection"},
    {"irt", "threestep"},
    {"__init__", "cli"},
    {"__main__"},
]


def test_imports_point_down_the_pipeline():
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    names = {p.stem for p in _modules()}
    assert names <= set(rank), (f"modules without a layer: {sorted(names - set(rank))}; add each to LAYERS here "
                                "and to the table in docs/DESIGN.md")
    bad = []
    for p in _modules():
        for m in imported_modules(p, top_level=True):
            m = m.split(".")[0]
            if m and m in rank and rank[m] >= rank[p.stem]:
                bad.append(f"{p.stem} imports {m}")
    assert not bad, "imports against the pipeline:\n" + "\n".join(bad)


def test_the_engine_does_not_import_the_parser():
    bad = [p.name for p in _modules() if p.name not in READS_FORMULA_TEXT and "formula" in imported_modules(p)]
    assert not bad, f"these modules import the formula parser: {bad} (use glmmix.terms)"


def family_name_tests(path: Path) -> list[str]:
    """Comparisons of a family's name (``fam.name == "ordinal"``, ``family.name in (...)``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for side in [node.left] + list(node.comparators):
                if isinstance(side, ast.Attribute) and side.attr == "name" and "fam" in ast.unparse(side.value):
                    bad.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    return bad


def test_families_are_told_apart_by_their_attributes_not_their_names():
    bad = [b for p in _modules() if p.name != "families.py" for b in family_name_tests(p)]
    assert not bad, "family names compared outside families.py:\n" + "\n".join(bad)


def test_the_scan_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from .x import _y\n\ndef f(o):\n    return o._z + self_like._w\n\nclass A:\n    def g(self):\n"
                 "        return self._ok\n")
    assert len(underscore_access(f)) == 3
    g = tmp_path / "n.py"
    g.write_text("from .formula import parse_formula\nfrom glmmix.terms import Part\n")
    assert imported_modules(g) == {"formula", "terms"}
    h = tmp_path / "o.py"
    h.write_text("def f(d):\n    return d.family.name == 'ordinal' or fam.name in ('a',)\n")
    assert len(family_name_tests(h)) == 2
    k = tmp_path / "p.py"
    k.write_text("def f(o):\n    setattr(o, '_a', 1)\n    return getattr(o, '_b', None), hasattr(o, '_c'), "
                 "getattr(self, '_ok'), getattr(o, '__dict__'), getattr(o, 'public')\n")
    assert len(underscore_access(k)) == 3
    body = "\n".join(f"    x = {i}" for i in range(101))
    m = tmp_path / "q.py"
    m.write_text(f'def long():\n    """A docstring\n\n    of several lines."""\n{body}\n\n\ndef short():\n{body[:-12]}\n')
    assert long_functions(m) == ["q.py:1: long (101 lines)"]
