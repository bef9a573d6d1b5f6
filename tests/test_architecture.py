"""Module boundaries of the package, checked on its source (an AST scan).

* No module reads another object's private (underscore) attributes or imports another
  module's private names: ``obj._x`` is allowed only on ``self`` / ``cls``.
* The engine does not import the formula parser's module except through the names it
  exposes for that purpose (``ParsedFormula`` and the term objects live in ``terms``).
"""

import ast
from pathlib import Path

import glmmix

PKG = Path(glmmix.__file__).parent


def _modules():
    return sorted(p for p in PKG.glob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def underscore_access(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                bad.append(f"{path.name}:{node.lineno}: .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.level >= 1:
            for alias in node.names:
                if _private(alias.name):
                    bad.append(f"{path.name}:{node.lineno}: import {alias.name}")
    return bad


def test_no_module_reads_private_attributes_of_another_object():
    bad = [b for p in _modules() for b in underscore_access(p)]
    assert not bad, "private names used across objects:\n" + "\n".join(bad)


def test_the_scan_sees_a_violation(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("from .x import _y\n\ndef f(o):\n    return o._z + self_like._w\n\nclass A:\n    def g(self):\n"
                 "        return self._ok\n")
    assert len(underscore_access(f)) == 3
