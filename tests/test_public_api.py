"""Every public function, class, method and property of glmmix's API has a docstring and
type hints (parameters and return value), so that help(), the documentation site's API
reference and type checkers describe it."""

import inspect
from functools import cached_property

import pytest

import glmmix as gm
from glmmix.estimation import SearchReport
from glmmix.selection import BLRTResult, ClassEnumeration, LMRResult
from glmmix.simulate import MonteCarloResult
from glmmix.special import LRTest
from glmmix.threestep import ThreeStepResults

#: result classes the API returns without exporting them by name
RETURNED = [LRTest, SearchReport, LMRResult, BLRTResult, ClassEnumeration, ThreeStepResults, MonteCarloResult]
#: the engine's extension interface (families, links) is documented by its module, not here
NOT_API = {"families"}


def _public_api():
    """(qualified name, object) for every public function, class, method and property."""
    tops = [(f"glmmix.{n}", getattr(gm, n)) for n in gm.__all__ if n not in NOT_API]
    for mod in (gm.plots, gm.datasets):
        tops += [(f"{mod.__name__}.{n}", f) for n, f in vars(mod).items()
                 if inspect.isfunction(f) and not n.startswith("_") and f.__module__ == mod.__name__]
    tops += [(f"{c.__module__}.{c.__name__}", c) for c in RETURNED]
    out, seen = [], set()
    for name, obj in tops:
        if inspect.ismodule(obj) or id(obj) in seen:
            continue
        seen.add(id(obj))
        out.append((name, obj))
        if inspect.isclass(obj) and obj.__module__.startswith("glmmix") and not issubclass(obj, BaseException):
            for base in obj.__mro__:
                if not base.__module__.startswith("glmmix"):
                    continue
                for m, v in vars(base).items():
                    if not m.startswith("_") and (inspect.isfunction(v) or isinstance(v, (property, cached_property, classmethod, staticmethod))):
                        out.append((f"{name}.{m}", getattr(obj, m) if isinstance(v, classmethod) else v))
    return out


def _function(obj):
    if isinstance(obj, property):
        return obj.fget
    if isinstance(obj, cached_property):
        return obj.func
    if isinstance(obj, staticmethod):
        return obj.__func__
    return obj


API = _public_api()


def test_the_walk_finds_the_api():
    names = {n for n, _ in API}
    assert {"glmmix.fit", "glmmix.MixtureResults.aic", "glmmix.MixtureResults.bse", "glmmix.MixtureResults.conf_int",
            "glmmix.MixtureResults.load", "glmmix.load_results", "glmmix.plots.profile"} <= names
    assert len(API) > 100


@pytest.mark.parametrize("name,obj", API, ids=[n for n, _ in API])
def test_docstring(name, obj):
    assert (inspect.getdoc(_function(obj)) or "").strip(), f"{name} has no docstring"


def test_type_hints():
    missing = []
    for name, obj in API:
        f = _function(obj)
        if inspect.isclass(f):
            f = f.__init__
            if not inspect.isfunction(f):
                continue
            want_return = False
        else:
            want_return = True
        if not (inspect.isfunction(f) or inspect.ismethod(f)):
            continue
        sig = inspect.signature(f)
        bare = [p.name for p in sig.parameters.values() if p.name not in ("self", "cls")
                and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.annotation is inspect.Parameter.empty]
        if bare or (want_return and sig.return_annotation is inspect.Signature.empty):
            missing.append(f"{name}({', '.join(bare)})" + (" -> ?" if sig.return_annotation is inspect.Signature.empty
                                                            and want_return else ""))
    assert not missing, f"{len(missing)} without type hints:\n" + "\n".join(missing)
