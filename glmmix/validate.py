"""Checks of the arguments of :func:`glmmix.fit` and :func:`glmmix.simulate`.

Every check runs before any computation and raises a :class:`~glmmix.exceptions.GlmmixError`
subclass that names the argument and the value at fault, so that no mistake in a call reaches
numpy, scipy, pandas or formulaic as an exception from their insides. Checks that need the
model (labels, the number of free parameters) or the data (column values, the family's
support) live beside that knowledge: parameter labels in ``params.py``, outcome support in
``families.py``; this module gathers everything that can be said from the arguments alone.
"""

from __future__ import annotations

import numbers
from dataclasses import fields

import numpy as np
import pandas as pd

from .exceptions import DesignError


def _is_int(v) -> bool:
    return isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_))


def _is_real(v) -> bool:
    return isinstance(v, (numbers.Real, np.floating, np.integer)) and not isinstance(v, (bool, np.bool_))


def check_data(data, what: str = "data") -> pd.DataFrame:
    """A non-empty DataFrame whose column names are unique."""
    if type(data).__module__.split(".")[0] in ("dask", "dask_expr"):
        raise NotImplementedError(
            f"{what} is a dask DataFrame: only fit (and MixtureModel.from_formula) evaluate a model per "
            "partition; here use data.compute() (see docs/dask.md)")
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"{what} must be a pandas DataFrame, not {type(data).__name__}")
    if data.shape[0] == 0:
        raise DesignError(f"the {what} set is empty (0 rows)" if what == "data" else f"{what} has 0 rows")
    if data.shape[1] == 0:
        raise DesignError(f"{what} has no columns")
    if isinstance(data.columns, pd.MultiIndex):
        raise DesignError(f"{what} has columns on {data.columns.nlevels} levels (a MultiIndex), which a formula cannot "
                          "name: flatten them first, e.g. data.columns = ['_'.join(map(str, c)) for c in data.columns]")
    dup = data.columns[data.columns.duplicated()]
    if len(dup):
        raise DesignError(
            f"{what} has duplicated column names {sorted(map(str, pd.unique(dup)))}: a formula cannot "
            "say which one it means; rename or drop the copies")
    return data


def check_seed(seed, name: str = "seed", generator_ok: bool = False):
    """``None`` or a non-negative integer (or, where allowed, a numpy Generator)."""
    if seed is None or (generator_ok and isinstance(seed, np.random.Generator)):
        return seed
    if not _is_int(seed) or int(seed) < 0:
        extra = " or a numpy Generator" if generator_ok else ""
        raise DesignError(f"{name} must be None or a non-negative integer{extra}, not {seed!r}")
    return int(seed)


def check_n_jobs(n_jobs, name: str = "n_jobs") -> int:
    """A non-zero integer (joblib's convention: -1 uses every core)."""
    if not _is_int(n_jobs) or int(n_jobs) == 0:
        raise DesignError(f"{name} must be a non-zero integer (1: serial, -1: every core), not {n_jobs!r}")
    return int(n_jobs)


#: most random starts ``starts=(n, k)`` may ask for
MAX_STARTS = 100_000


def check_starts(starts) -> tuple[int | str, int]:
    """``starts`` as (number of random starts, number completed); ``"auto"`` as ("auto", 5)."""
    if isinstance(starts, str):
        if starts != "auto":
            raise DesignError(f"starts must be 'auto', an integer or a pair of integers (n_starts, n_final), "
                              f"not {starts!r}")
        return "auto", 5
    if starts is None:
        return 0, 0
    if isinstance(starts, (tuple, list)):
        if len(starts) != 2 or not all(_is_int(s) for s in starts):
            raise DesignError(f"starts must be an integer or a pair of integers (n_starts, n_final), not {starts!r}")
        n, f = int(starts[0]), int(starts[1])
    elif _is_int(starts):
        n = int(starts)
        f = min(5, n)
    else:
        raise DesignError(f"starts must be an integer or a pair of integers (n_starts, n_final), not {starts!r}")
    if n < 0 or f < 0 or (n > 0 and f < 1) or f > max(n, 1):
        raise DesignError(f"starts=({n}, {f}) is not valid: need n_starts >= n_final >= 1")
    if n > MAX_STARTS:  # every starting set is drawn and held before stage one
        raise DesignError(f"starts=({n}, {f}) asks for more than {MAX_STARTS:,} random starts, each drawn, held in "
                          "memory and partly optimized; use fewer")
    return n, f


def check_options(options, options_class):
    """An instance of ``options_class`` (:class:`~glmmix.estimation.FitOptions`, given by the
    caller: this module sits below estimation) whose fields have usable values."""
    if options is None:
        return None
    if not isinstance(options, options_class):
        raise DesignError(f"options must be a glmmix.FitOptions, not {type(options).__name__}")
    check_seed(options.seed, "options.seed")
    check_n_jobs(options.n_jobs, "options.n_jobs")
    for f in fields(options):
        v = getattr(options, f.name)
        if f.name in ("seed", "n_jobs") or (f.name == "n_starts" and v == "auto") or \
                (f.name == "max_time" and v is None):
            continue
        if f.name in ("verbose", "coarse_search", "runaway_stop", "stage1_race"):
            if not isinstance(v, (bool, np.bool_)):
                raise DesignError(f"options.{f.name} must be True or False, not {v!r}")
            continue
        if f.name == "progress":
            if v is not None and not isinstance(v, (bool, np.bool_)):
                raise DesignError(f"options.progress must be True, False or None, not {v!r}")
            continue
        if f.type in ("int", int, "int | str"):
            ok = _is_int(v) and v >= 0
        else:
            ok = _is_real(v) and np.isfinite(v) and v >= 0
        if not ok:
            raise DesignError(f"options.{f.name} must be a non-negative {'integer' if f.type in ('int', int) else 'number'}, "
                              f"not {v!r}")
    if options.n_starts == "auto":
        if options.n_final < 1 or options.replicate_k < 1 or options.max_completed < 1:
            raise DesignError("options.n_final, replicate_k and max_completed must be at least 1 with n_starts='auto'")
    elif options.n_starts > 0 and not 1 <= options.n_final <= options.n_starts:
        raise DesignError(f"options.n_final={options.n_final} must be between 1 and n_starts={options.n_starts}")
    return options


def _finite_number(v, where: str) -> float:
    if not _is_real(v):
        raise DesignError(f"{where} must be a number, not {v!r}")
    if not np.isfinite(float(v)):
        raise DesignError(f"{where} must be finite, not {v!r}")
    return float(v)


def check_label_values(values, name: str) -> dict | None:
    """``{parameter label: finite number}`` (``fix``, ``start_values``)."""
    if values is None:
        return None
    if not isinstance(values, dict):
        raise DesignError(f"{name} must be a dict {{parameter label: value}}, not {type(values).__name__}")
    out = {}
    for lab, val in values.items():
        if not isinstance(lab, str):
            raise DesignError(f"{name} keys must be parameter labels (strings), not {lab!r}")
        out[lab] = _finite_number(val, f"{name}[{lab!r}]")
    return out


def check_equal(equal) -> list | None:
    """Groups of parameter labels: a list of lists of strings, each with two or more."""
    if equal is None:
        return None
    if isinstance(equal, str) or not isinstance(equal, (list, tuple)):
        raise DesignError(f"equal must be a list of groups of parameter labels, not {equal!r}")
    for g in equal:
        if isinstance(g, str) or not isinstance(g, (list, tuple)) or not all(isinstance(x, str) for x in g):
            raise DesignError(f"each group in equal must be a list of parameter labels, not {g!r}")
        if len(g) < 2:
            raise DesignError(f"a group in equal needs at least two labels: {list(g)!r}")
    return [list(g) for g in equal]


def check_terms(terms, name: str) -> tuple:
    """A list of term names; a single string names one term."""
    if terms is None:
        return ()
    if isinstance(terms, str):
        return (terms,)
    if not isinstance(terms, (list, tuple, set, frozenset)) or not all(isinstance(t, str) for t in terms):
        raise DesignError(f"{name} must be a list of term names, not {terms!r}")
    return tuple(terms)


def check_column_arg(value, name: str):
    """An argument that names a column (``trials``, ``thresholds_by``, ``sigma_by``)."""
    if value is not None and not isinstance(value, str):
        raise DesignError(f"{name} must be a column name (a string), not {value!r}")
    return value


def check_start_params(start_params, n_free: int | None = None):
    """A one-dimensional vector of finite numbers (of length ``n_free`` when given)."""
    if start_params is None:
        return None
    try:
        v = np.asarray(start_params, dtype=float)
    except (TypeError, ValueError):
        raise DesignError("start_params must be a vector of numbers (e.g. other_result.theta)") from None
    if v.ndim != 1:
        raise DesignError(f"start_params must be one-dimensional, not of shape {v.shape}")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise DesignError(f"start_params has non-finite values at position(s) {bad[:10].tolist()}: "
                          f"{v[bad[:5]].tolist()}")
    if n_free is not None and v.size != n_free:
        raise DesignError(f"start_params has {v.size} values; the model has {n_free} free parameters")
    return v


def check_flag(value, name: str):
    """``None`` or a bool."""
    if value is not None and not isinstance(value, (bool, np.bool_)):
        raise DesignError(f"{name} must be True, False or None, not {value!r}")
    return None if value is None else bool(value)


def check_model_args(*, data, fix, equal, invariant, class_specific, thresholds_by, trials, sigma_by=None,
                     integration="auto", adaptive=None, measurement_invariance=False) -> dict:
    """The arguments that describe a model (:meth:`glmmix.MixtureModel.from_formula`), checked
    before the data are read; returned normalized (values as floats, term lists as tuples).
    The estimation arguments (``seed``, ``n_jobs``, ``starts``, ``options``, starting values)
    are checked by the ``check_*`` functions above when the model is fitted."""
    check_data(data)
    if integration is not None and not isinstance(integration, str):
        raise DesignError(f"integration must be a rule's name such as 'agh' or 'trapezoid', not {integration!r}")
    check_flag(measurement_invariance, "measurement_invariance")
    return {
        "adaptive": check_flag(adaptive, "adaptive"),
        "fix": check_label_values(fix, "fix"),
        "equal": check_equal(equal),
        "invariant": check_terms(invariant, "invariant"),
        "class_specific": check_terms(class_specific, "class_specific"),
        "thresholds_by": check_column_arg(thresholds_by, "thresholds_by"),
        "sigma_by": check_column_arg(sigma_by, "sigma_by"),
        "trials": check_column_arg(trials, "trials"),
    }
