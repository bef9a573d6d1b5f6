"""From wide data (one row per unit, one column per item) to long data (one row per response).

The long form is what every glmmix model reads: the GoM model of eq (31)-(32) needs one row
per measurement with item dummies, and LCA is the same data with one class per unit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import DesignError, plain


def wide_to_long(
    df: pd.DataFrame,
    items: list[str] | None = None,
    id: str | None = None,
    item_name: str = "item",
    value_name: str = "y",
    keep: list[str] | None = None,
    dummies: bool = False,
    verbose: bool = False,
) -> pd.DataFrame:
    """Reshape wide data to long data: one row per observed response.

    Parameters
    ----------
    df : DataFrame
        One row per unit (person), one column per item.
    items : list of str, optional
        The item columns, in the order they should take as levels of ``item_name``.
        Default: every column except ``id`` and ``keep``.
    id : str, optional
        Column identifying units. If None, a column ``"id"`` holding the data's row labels
        (its index) is made, so that per-unit results (posteriors, scores) join back to
        ``df`` by its index; an error if ``df`` already has a column of that name or its
        index repeats labels.
    item_name, value_name : str
        Names of the item column (an ordered categorical with the items as levels, so that
        ``0 + item`` gives one dummy per item in item order) and of the response column.
    keep : list of str, optional
        Unit-level columns to carry along to every row of the unit (covariates).
        Default: every column that is neither ``id`` nor an item.
    dummies : bool
        Also add one 0/1 column per item (eq 31's X_q), named ``{item_name}_{item}``.
    verbose : bool
        Print how many missing responses were dropped.

    Returns
    -------
    DataFrame
        Columns ``id``, ``item_name``, ``value_name``, then the kept columns; rows sorted
        by unit then item. ``result.attrs["n_missing"]`` holds the number of missing
        responses that became absent rows, ``result.attrs["n_units"]`` the number of units,
        ``result.attrs["units_without_responses"]`` the ids of units with no response at all
        (they have no row; :func:`glmmix.fit` counts them among the units dropped).
    """
    # Step 1: validate the arguments against the data.
    if not isinstance(df, pd.DataFrame):
        raise DesignError("wide_to_long needs a pandas DataFrame")
    if df.shape[0] == 0:
        raise DesignError("the data set has no rows")
    df = df.copy()
    if id is None:
        if "id" in df.columns:
            raise DesignError("the data already have a column 'id': pass id='id' (or another name)")
        id = "id"
        df.insert(0, id, _row_labels(df.index))
    elif id not in df.columns:
        raise DesignError(f"id column {id!r} is not in the data; columns are {list(df.columns)}")
    if df[id].isna().any():
        raise DesignError(f"id column {id!r} has {int(df[id].isna().sum())} missing value(s)")
    if df[id].duplicated().any():
        dup = df.loc[df[id].duplicated(), id].iloc[0]
        raise DesignError(f"id column {id!r} repeats values (e.g. {plain(dup)!r}); wide data need one row per unit")
    for arg, val in (("items", items), ("keep", keep)):
        if isinstance(val, str) or (val is not None and not hasattr(val, "__iter__")):
            raise DesignError(f"{arg} must be a list of column names, not {val!r}"
                              + (f" (a string is read letter by letter: [{val!r}] names one column)"
                                 if isinstance(val, str) else ""))
    keep = list(keep) if keep is not None else None
    defaulted = items is None
    if items is None:
        items = [c for c in df.columns if c != id and (keep is None or c not in keep)]
    items = list(items)
    if not items:
        raise DesignError("no item columns given")
    missing = [c for c in items + (keep or []) if c not in df.columns]
    if missing:
        raise DesignError(f"column(s) {missing} are not in the data; columns are {list(df.columns)}")
    if len(set(items)) != len(items):
        raise DesignError("items repeat")
    if id in items:
        raise DesignError(f"the id column {id!r} is also listed among the items; leave it out of items")
    if keep is None:
        keep = [c for c in df.columns if c != id and c not in items]
    for name in (item_name, value_name):
        if name in keep or name == id:
            raise DesignError(f"output column {name!r} clashes with an input column; choose another name")
    if value_name in items:
        raise DesignError(f"item column {value_name!r} has the name of the output column of the responses; rename "
                          f"the item (df.rename(columns={{{value_name!r}: ...}})) or pass value_name='...'")

    _check_item_types(df, items, id, keep)
    if defaulted:
        _check_default_items(df, items)

    # Step 2: melt, drop missing responses, order by unit then item.
    long = df.melt(id_vars=[id] + keep, value_vars=items, var_name=item_name, value_name=value_name)
    n_missing = int(long[value_name].isna().sum())
    long = long.loc[long[value_name].notna()]
    long[item_name] = pd.Categorical(long[item_name], categories=items, ordered=True)
    unit_order = pd.Series(np.arange(len(df)), index=df[id].to_numpy())
    order = np.lexsort((long[item_name].cat.codes.to_numpy(), unit_order.loc[long[id].to_numpy()].to_numpy()))
    long = long.iloc[order].reset_index(drop=True)
    long = long[[id, item_name, value_name] + keep]
    if dummies:
        codes = long[item_name].cat.codes.to_numpy()
        for j, it in enumerate(items):
            long[f"{item_name}_{it}"] = (codes == j).astype(np.int8)
    long.attrs["n_missing"] = n_missing
    long.attrs["n_units"] = int(df.shape[0])
    # units every response of which is missing have no row left: fit() counts them as dropped
    long.attrs["id"] = id
    long.attrs["units_without_responses"] = df.loc[df[items].isna().all(axis=1), id].tolist()
    if verbose:
        print(f"wide_to_long: {len(long)} responses from {df.shape[0]} units and {len(items)} items; "
              f"{n_missing} missing response(s) dropped")
    return long


def _row_labels(index: pd.Index) -> np.ndarray:
    """The wide data's row labels as unit ids (``id=None``): unique, one level, no missing."""
    if isinstance(index, pd.MultiIndex):
        raise DesignError(f"the data's index has {index.nlevels} levels and no id= was given: pass id= naming "
                          "the unit column, or reset the index (df.reset_index()) to make one")
    if index.hasnans:
        raise DesignError("the data's index has missing labels and no id= was given: the units are the rows, "
                          "told apart by their index labels; pass id= naming the unit column or reset the index")
    if index.has_duplicates:
        dup = index[index.duplicated()][0]
        raise DesignError(f"the data's index repeats labels (e.g. {plain(dup)!r}) and no id= was given: the units "
                          "are the rows, told apart by their index labels; pass id= naming the unit column, or "
                          "reset the index (df.reset_index(drop=True)) to number them")
    return index.to_numpy()


def _check_default_items(df: pd.DataFrame, items: list) -> None:
    """``items=None`` takes every column but the id: a covariate left in the wide data would
    silently become an item. Numeric columns unlike the rest (real values among integer
    items, many distinct integers among 0/1 items) are refused by name."""
    num = [c for c in items if pd.api.types.is_numeric_dtype(df[c].dtype) and not pd.api.types.is_bool_dtype(df[c].dtype)]
    if len(num) < 2:
        return
    kind = {}
    for c in num:
        v = df[c].dropna().to_numpy(dtype=float)
        kind[c] = ("real" if not np.all(np.isfinite(v) & (v == np.round(v))) else
                   "binary" if np.isin(v, (0.0, 1.0)).all() else
                   "many" if np.unique(v).size >= 10 else "integer")
    kinds = set(kind.values())
    odd = ([c for c in num if kind[c] == "real"] if "real" in kinds and kinds - {"real"} else
           [c for c in num if kind[c] == "many"] if {"binary", "many"} <= kinds else [])
    if odd:
        others = sorted({kind[c] for c in num} - {kind[odd[0]]})
        raise DesignError(
            f"column(s) {odd[:5]} hold {'non-integer values' if kind[odd[0]] == 'real' else '10 or more distinct values'}"
            f" while the other columns hold {' or '.join({'binary': '0/1 values', 'integer': 'few integers', 'many': 'many integers'}[k] for k in others)}: "
            "without items= every column but the id becomes an item; pass keep=[...] for unit-level covariates "
            "and items=[...] for the item columns")


def _check_item_types(df: pd.DataFrame, items: list, id: str, keep: list) -> None:
    """Item columns must melt into one outcome column of one kind: numbers (bool items, 0/1,
    join numeric ones as 0/1 integers, in place) or all text/categories (for the user to code);
    text among numeric items (often an id or a covariate read as an item) is refused by name."""
    kind = {c: ("bool" if pd.api.types.is_bool_dtype(df[c].dtype) else
                "number" if pd.api.types.is_numeric_dtype(df[c].dtype) else "other") for c in items}
    if "number" in kind.values() or ("bool" in kind.values() and "other" in kind.values()):
        other = [c for c in items if kind[c] == "other"]
        if other:
            hint = (f"pass id={other[0]!r} if it identifies the units, keep=[...] for covariates, "
                    if id == "id" and df[id].equals(pd.Series(df.index, index=df.index)) else
                    "pass keep=[...] for covariates, ")
            raise DesignError(
                f"item column(s) {other[:5]} are not numeric (dtype {df[other[0]].dtype}) while the other items are: "
                f"{hint}or items=[...] for the item columns; code text answers as numbers first")
        for c in items:
            if kind[c] == "bool":
                df[c] = df[c].astype(np.int8)


def formula_variables(parsed) -> set[str]:
    """Every data column a parsed formula reads (outcome, terms, random terms, levels)."""
    from formulaic import Formula

    from .exceptions import FormulaError

    parts = [parsed.outcome_part] + [c.part for c in parsed.classes]
    names = {c.name for c in parsed.classes}
    texts = [p.fixed for p in parts]
    groups = set()
    for p in parts:
        for t in tuple(p.random) + tuple(p.factors):
            texts.append(t.expr)
            groups.add(t.group)
    out = set(groups) | {c.level for c in parsed.classes if c.level}
    for t in texts:
        try:
            out |= set(Formula(t).required_variables)
        except Exception as exc:  # formulaic's own messages vary by version
            raise FormulaError(f"cannot read the terms {t!r}: {exc}") from None
    return out - names


def wide_for_formula(parsed, data: pd.DataFrame, items, id: str | None = None) -> pd.DataFrame:
    """Reshape wide data to the long form that ``parsed`` reads (``fit(..., items=...)``).

    The outcome (``y`` in ``y ~ 0 + item | class(id) ~ 1``) and the item column are named by
    the formula's variables missing from the wide data: the outcome is the formula's
    left-hand side and the item column the one other variable it names that the data lack
    (``"item"`` when the formula names none). Every other column stays, copied to each of
    the unit's rows as a unit-level covariate; missing responses are dropped and counted
    (the summary reports them).
    """
    if not isinstance(data, pd.DataFrame):
        raise DesignError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if isinstance(items, str) or not hasattr(items, "__iter__"):
        raise DesignError(f"items must be a list of column names, not {items!r}")
    items = list(items)
    cols = set(map(str, data.columns))
    if id is not None and id not in cols:
        raise DesignError(f"id column {id!r} is not in the data; columns are {list(data.columns)}")
    y = parsed.outcome
    if not (y.replace("_", "").replace(".", "").isalnum()):
        raise DesignError(f"with items= the outcome must be a plain name made by the reshaping, not {y!r}")
    if y in cols:
        raise DesignError(f"the outcome {y!r} is a column of the wide data; with items= the reshaping makes "
                          f"the outcome column: write another name left of '~' (e.g. 'response ~ ...')")
    absent = formula_variables(parsed) - cols - {y}
    if id is None and "id" not in cols:
        absent.discard("id")  # wide_to_long makes a column 'id' of the row labels
    units = {c.level for c in parsed.classes if c.level}
    units |= {t.group for p in [parsed.outcome_part] + [c.part for c in parsed.classes]
              for t in tuple(p.random) + tuple(p.factors)}
    if absent & units:  # the unit of the reshaped data is the id column, not a made one
        unit = id or "id"
        raise DesignError(
            f"{sorted(absent & units)} name(s) the units in the formula but no such column is in the data; "
            f"with items= each row of the wide data is a unit identified by "
            + (f"id={id!r}: write {unit!r} in the formula" if id else "a new column 'id' (or pass id=)"))
    if len(absent) > 1:
        raise DesignError(
            f"column(s) {sorted(absent)} of the formula are neither in the data nor made by the reshaping "
            f"(which makes the outcome {y!r} and one item column); columns are {list(data.columns)}")
    item_name = absent.pop() if absent else "item"
    if item_name in items:
        raise DesignError(f"{item_name!r} is both an item and the formula's item column; rename one")
    text = [c for c in items if c in data.columns and not (pd.api.types.is_numeric_dtype(data[c])
                                                            or isinstance(data[c].dtype, pd.CategoricalDtype))]
    if text:
        raise DesignError(f"item column(s) {text[:10]} hold text (dtype {data[text[0]].dtype}), not numbers: the "
                          f"outcome {y!r} is made of the items; convert them (pd.to_numeric) or make them "
                          "ordered categoricals")
    return wide_to_long(data, items=items, id=id, item_name=item_name, value_name=y)
