"""Design: everything the likelihood needs, as numpy arrays, built from a formula and data.

Steps (:func:`build_design`):

1. check the data and every column the formula names, before any computation;
2. drop rows whose outcome is missing (valid ML under MAR in long format) and count them;
   a missing predictor is an error, never a silent drop;
3. validate the outcome against the family's support;
4. index units (the level of the class variable) and sort rows by unit;
5. build the outcome design X and the class design Z with formulaic, checking that class
   covariates are constant within units (eq 17: only unit-level covariates predict a
   unit-level class).

Arrays use one axis order throughout: rows first, then classes.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import re
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from formulaic import Formula

from .exceptions import DataWarning, DesignError, FormulaError, formula_message, plain
from .mathutils import OnWorkers, column_sums, compact
from .families import Family, FamilyData, check_counts
from .classes import ClassSystem, ClassVar
from .encoding import Encoding, build_error, freeze, matrix_by_chunks, nonfinite_message
from .terms import OFFSET_TERM, ParsedFormula, column_name, offset_columns, split_top
from .validate import check_data
from .random_effects import (RandomBlock, build_blocks, check_grouping, check_nested, check_repeated_effects,
                             random_terms, term_matrix)
from .weights import check_arguments as check_weights
from .weights import sampling_weights


@dataclass
class Design:
    """Numeric form of a model on a data set (no parameters).

    Attributes
    ----------
    y : ndarray of shape (n_rows,)
    X : ndarray or scipy.sparse.csr_matrix of shape (n_rows, p)
        Outcome-part design; one column per fixed coefficient.
    x_names : list of str
    x_terms : dict of str -> list of int
        Formula term -> its columns in X.
    unit_of_row : ndarray of int of shape (n_rows,)
        Unit index of every row; rows are sorted by unit.
    unit_starts : ndarray of int of shape (n_units,)
        First row of every unit (for segment sums with ``np.add.reduceat``).
    unit_ids : Index
        Labels of the units, in unit-index order.
    Z : ndarray of shape (n_units, q)
        Class-part design (one row per unit).
    """

    formula: ParsedFormula
    family: Family
    aux: FamilyData
    y: np.ndarray
    X: np.ndarray | sp.csr_matrix
    x_names: list[str]
    x_terms: dict
    x_spec: object
    unit_of_row: np.ndarray
    unit_starts: np.ndarray
    unit_ids: pd.Index
    unit_name: str | None
    Z: np.ndarray
    z_names: list[str]
    z_spec: object | None
    n_classes: int
    class_name: str
    row_index: pd.Index
    n_dropped: int = 0
    n_missing_wide: int = 0
    n_units_dropped: int = 0  # units (and clusters) whose every outcome is missing
    n_clusters_dropped: int = 0
    dropped_levels: dict = field(default_factory=dict)  # column -> levels without an observed outcome
    x_scale: np.ndarray = field(default=None)
    cluster_of_unit: np.ndarray = field(default=None)
    cluster_ids: pd.Index = field(default=None)
    cluster_name: str | None = None
    form: str = "none"  # "none" (no random effects), "inside" (classes within clusters), "outside",
    # "crossed" (random terms with several grouping columns; rows are the units, no independent clusters)
    re_out: list = field(default_factory=list)
    re_cls: list = field(default_factory=list)
    classes: ClassSystem = None  # the class variables and their joint state (classes.py)
    x_group: np.ndarray = None  # measurement group of every X column (several class variables)
    mgroups: list = None  # measurement groups: tuples of class-variable indices
    unit_weight: np.ndarray = None  # sampling weights of units (weights.py), None: all 1
    cluster_weight: np.ndarray = None  # sampling weights of clusters in two-level models
    weighting: dict = None  # the weight columns and scalings used
    measured_by: object = None  # the fit's measured_by argument (rows of new data are assigned alike)
    meas_values: list = None  # the sorted values of a measured_by column
    trials_arg: str | None = None  # the fit's trials argument (a column name)
    stored: bool = False  # read from a results file (glmmix.persist): only its encodings are used
    #: crossed designs: grouping column -> (level code of every row, the levels); None otherwise
    groupings: dict | None = None
    #: positions, in the data given, of the rows in design order (rows are sorted by cluster and
    #: unit): per-row results of the fitted rows are returned in the data's order; None when
    #: the rows kept the data's order, and for designs assembled from partitions
    row_position: np.ndarray | None = None
    #: a design of the distinct clusters of another (:meth:`take_clusters`, ``glmmix.copies``):
    #: how many clusters of that design these stand for; None otherwise
    n_represented: int | None = None

    @property
    def multi(self) -> bool:
        return self.classes is not None and not self.classes.single

    @property
    def n_clusters(self) -> int:
        return self.cluster_ids.shape[0]

    @property
    def n_scale(self) -> int:
        """The clusters the log-likelihood sums over, copies counted: the per-cluster scale of
        the estimation's objective and convergence tests."""
        return self.n_represented or self.n_clusters

    @property
    def D(self) -> int:
        """Dimension of the numerical integration."""
        return sum(b.d for b in self.re_out) + sum(b.d for b in self.re_cls)

    @property
    def n_rows(self) -> int:
        return self.y.shape[0]

    @property
    def n_units(self) -> int:
        return self.unit_starts.shape[0]

    def cluster_bounds(self, a: int, b: int) -> tuple[int, int, int, int]:
        """Units [ua, ub) and rows [ra, rb) of the clusters [a, b) (rows are sorted by cluster,
        then unit, so each block of clusters is one run of units and of rows)."""
        cu = self.cluster_of_unit
        ua, ub = np.searchsorted(cu, [a, b])
        ra = int(self.unit_starts[ua]) if ua < self.n_units else self.n_rows
        rb = int(self.unit_starts[ub]) if ub < self.n_units else self.n_rows
        return int(ua), int(ub), ra, rb

    @staticmethod
    def concat(parts: list["Design"]) -> "Design":
        """One design of the rows of ``parts`` (designs of disjoint sets of clusters encoded
        alike, e.g. built with ``fitted=`` on the partitions of a data set), in order: the
        inverse of :meth:`clusters`. Units and clusters are renumbered after each other."""
        first = parts[0]
        if any(p.groupings is not None for p in parts):
            raise NotImplementedError("designs with crossed random terms cannot be joined")
        n_rows = np.cumsum([0] + [p.n_rows for p in parts])
        n_units = np.cumsum([0] + [p.n_units for p in parts])
        n_cl = np.cumsum([0] + [p.n_clusters for p in parts])

        def cat(get, offsets=None):
            vals = [get(p) for p in parts]
            if isinstance(vals[0], OnWorkers):  # a dask design's stand-ins: shapes and column sums
                return OnWorkers.join(vals)
            if offsets is not None:
                vals = [np.asarray(v, np.intp) + o for v, o in zip(vals, offsets)]
                if offsets[-1] + max(v.size for v in vals) < 2**31 - 1:
                    vals = [v.astype(np.int32) for v in vals]
            if any(sp.issparse(v) for v in vals):
                return sp.vstack([sp.csr_matrix(v) for v in vals], format="csr")
            return np.concatenate(vals, axis=0)

        aux = replace(first.aux, **{f: cat(lambda p, f=f: getattr(p.aux, f)) for f in first.aux.ROW_FIELDS
                                    if getattr(first.aux, f) is not None})
        cs = first.classes
        classes = None if cs is None else ClassSystem(
            [replace(v, Z=cat(lambda p, t=t: p.classes.vars[t].Z)) for t, v in enumerate(cs.vars)], cs.single)
        X = cat(lambda p: p.X)
        return replace(
            first, aux=aux, y=cat(lambda p: p.y), X=X, x_scale=_column_scale(X),
            unit_of_row=cat(lambda p: p.unit_of_row, n_units[:-1]), unit_starts=cat(lambda p: p.unit_starts, n_rows[:-1]),
            unit_ids=first.unit_ids.append([p.unit_ids for p in parts[1:]]), Z=cat(lambda p: p.Z),
            cluster_of_unit=cat(lambda p: p.cluster_of_unit, n_cl[:-1]),
            cluster_ids=first.cluster_ids.append([p.cluster_ids for p in parts[1:]]),
            row_index=cat(lambda p: p.row_index) if isinstance(first.row_index, OnWorkers)
            else first.row_index.append([p.row_index for p in parts[1:]]),
            re_out=[replace(t, Z=cat(lambda p, j=j: p.re_out[j].Z)) for j, t in enumerate(first.re_out)],
            re_cls=[replace(t, Z=cat(lambda p, j=j: p.re_cls[j].Z)) for j, t in enumerate(first.re_cls)],
            classes=classes, n_dropped=sum(p.n_dropped for p in parts),
            n_missing_wide=sum(p.n_missing_wide for p in parts),
            n_units_dropped=sum(p.n_units_dropped for p in parts),
            n_clusters_dropped=sum(p.n_clusters_dropped for p in parts),
            unit_weight=None, cluster_weight=None, stored=False, row_position=None)

    def clusters(self, a: int, b: int) -> "Design":
        """The design of the clusters [a, b) alone: the same model, encodings and scales, the
        block's rows, units and clusters (views where numpy gives them). Independent clusters
        make the log-likelihood, its gradient and the EM information sums over such blocks."""
        if self.groupings is not None:
            raise NotImplementedError("a design with crossed random terms has no independent clusters to split")
        ua, ub, ra, rb = self.cluster_bounds(a, b)
        rows, units, cl = slice(ra, rb), slice(ua, ub), slice(a, b)
        cs = self.classes
        sub_cs = None if cs is None else ClassSystem(
            [replace(v, Z=v.Z[cl if v.between else units]) for v in cs.vars], cs.single)
        idx = np.int32 if rb - ra < 2**31 - 1 else np.intp  # the block's own numbering: small indices

        def local(v, first):
            return (v - first).astype(idx, copy=False)

        return replace(
            self, aux=self.aux.rows(rows), y=self.y[rows], X=self.X[rows],
            unit_of_row=local(self.unit_of_row[rows], ua), unit_starts=local(self.unit_starts[units], ra),
            unit_ids=self.unit_ids[units], Z=self.Z[units], cluster_of_unit=local(self.cluster_of_unit[units], a),
            cluster_ids=self.cluster_ids[cl], row_index=self.row_index[rows], row_position=self._positions(rows),
            re_out=[replace(t, Z=t.Z[rows]) for t in self.re_out],
            re_cls=[replace(t, Z=t.Z[units]) for t in self.re_cls], classes=sub_cs,
            unit_weight=None if self.unit_weight is None else self.unit_weight[units],
            cluster_weight=None if self.cluster_weight is None else self.cluster_weight[cl])

    def _positions(self, rows):
        return None if self.row_position is None else self.row_position[rows]

    def take_clusters(self, idx, cluster_weight: np.ndarray, n_represented: int) -> "Design":
        """The design of the clusters ``idx`` (increasing) alone, as :meth:`clusters` for a set
        that need not be a run, with ``cluster_weight`` as their weights (each standing for that
        many copies) and ``n_represented`` clusters in all. Designs with weights or crossed
        random terms have no such subset here."""
        if self.groupings is not None or self.unit_weight is not None or self.cluster_weight is not None:
            raise NotImplementedError("only unweighted designs with independent clusters are subset by take_clusters")
        keep_c = np.zeros(self.n_clusters, bool)
        keep_c[idx] = True
        keep_u = keep_c[self.cluster_of_unit]
        rows, units, cl = np.flatnonzero(keep_u[self.unit_of_row]), np.flatnonzero(keep_u), np.flatnonzero(keep_c)
        idx_t = np.int32 if rows.size < 2**31 - 1 else np.intp
        unit_of_row = (np.cumsum(keep_u) - 1)[self.unit_of_row[rows]].astype(idx_t)
        unit_starts = np.r_[0, np.cumsum(np.bincount(unit_of_row, minlength=units.size))[:-1]].astype(idx_t)
        cs = self.classes
        sub_cs = None if cs is None else ClassSystem(
            [replace(v, Z=v.Z[cl if v.between else units]) for v in cs.vars], cs.single)
        return replace(
            self, aux=self.aux.rows(rows), y=self.y[rows], X=self.X[rows], unit_of_row=unit_of_row,
            unit_starts=unit_starts, unit_ids=self.unit_ids[units], Z=self.Z[units],
            cluster_of_unit=(np.cumsum(keep_c) - 1)[self.cluster_of_unit[units]].astype(idx_t),
            cluster_ids=self.cluster_ids[cl], row_index=self.row_index[rows], row_position=self._positions(rows),
            re_out=[replace(t, Z=t.Z[rows]) for t in self.re_out],
            re_cls=[replace(t, Z=t.Z[units]) for t in self.re_cls], classes=sub_cs,
            cluster_weight=np.asarray(cluster_weight, float), n_represented=int(n_represented))


#: a design of the same data whose outcome arrays (y, X, family row data) a design built in
#: this context reuses when it has the same outcome part and the same rows in the same order
#: (the simpler models of structured starts: nesting.py); see :func:`sharing`
_SHARED: contextvars.ContextVar = contextvars.ContextVar("glmmix_shared_design", default=None)


@contextlib.contextmanager
def sharing(design: Design | None):
    """Designs built inside this context on the data of ``design`` hold its outcome arrays
    (the same objects, no copy) wherever their outcome part and rows coincide with it."""
    token = _SHARED.set(design)
    try:
        yield
    finally:
        _SHARED.reset(token)


def _shared_outcome(formula, family, aux, df, fitted) -> Design | None:
    """The design of :func:`sharing` if this one's outcome arrays equal its own: the same
    outcome, outcome part and family, the same family row data arguments, and the same rows
    in the same order; else None."""
    d = _SHARED.get()
    if d is None or fitted is not None or len(formula.classes) > 1 or d.multi or d.stored:
        return None
    same = (d.formula.outcome == formula.outcome and d.formula.outcome_part.fixed == formula.outcome_part.fixed
            and type(d.family) is type(family) and type(d.family.link) is type(family.link)
            and d.aux.threshold_by == aux.threshold_by and d.n_rows == len(df) and d.row_index.equals(df.index))
    if same:  # trials given (a column, or cbind's counts) are the same numbers; none given is none given
        same = np.array_equal(d.aux.trials, aux.trials) if aux.trials is not None else d.trials_arg is None
    return d if same else None


def _shared_maps(units: _Units, d: Design) -> _Units:
    """``units`` whose row, unit and cluster maps are the arrays of the design ``d`` where they
    hold the same numbers (a simpler model's units are often the fitted model's clusters)."""
    have = [d.unit_of_row, d.unit_starts, d.cluster_of_unit]

    def same(a):
        for b in have:
            if isinstance(b, np.ndarray) and b.shape == a.shape and b.dtype == a.dtype and np.array_equal(a, b):
                return b
        return a

    return replace(units, unit_of_row=same(units.unit_of_row), starts=same(units.starts),
                   cluster_of_unit=same(units.cluster_of_unit))


def _offset(x):
    """``offset(expr)`` in a formula: the expression's values, which must be numeric."""
    values = np.asarray(x)
    if values.dtype.kind not in "biuf":
        raise DesignError(f"an offset must be numeric, not {values.dtype} (values such as {values.ravel()[:3].tolist()})")
    return np.asarray(values, dtype=float)


#: names formulaic resolves besides the data's columns and its own transforms
_CONTEXT = {"offset": _offset}


def _required(fixed: str, where: str, columns, enc=None) -> set:
    """Columns a right-hand side reads; from its fitted encoding when given (new rows of a
    fitted model: the text is then not read)."""
    if enc is not None:
        return enc.required_columns()
    try:
        req = Formula(fixed).rhs.required_variables if "~" in fixed else Formula(fixed).required_variables
    except Exception as exc:  # formulaic parse errors
        raise FormulaError(f"cannot read the {where} {fixed!r}: {formula_message(exc)}") from None
    req = set(req)
    if "offset" in req and "offset" not in columns and re.search(r"(?<![\w.])offset\s*\(", fixed):
        req.discard("offset")  # the offset() marker, not a column
    return req


def grouping_parts(group: str, columns) -> list[str] | None:
    """The columns a combined grouping ``a:b`` (from ``(1 | a:b)`` or lme4's ``(1 | a/b)``)
    is made of, or None for a grouping that is one column of the data."""
    if group in columns or ":" not in group:
        return None
    return [p.strip() for _, p in split_top(group, (":",))]


def _is_na_text(dtype) -> bool:
    """pandas' text dtypes with pd.NA (``convert_dtypes()``, ``string[pyarrow]``, Arrow strings)."""
    if isinstance(dtype, pd.StringDtype):
        return dtype.na_value is pd.NA
    return isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in ("string", "large_string")


def _plain_text(data: pd.DataFrame) -> pd.DataFrame:
    """Text columns of pd.NA string dtypes as object columns: formulaic encodes those as
    categories, as it does plain strings (the others it passes through as text)."""
    cols = [c for c in data.columns if _is_na_text(data[c].dtype)]
    if not cols:
        return data
    out = data.copy(deep=False)
    for c in cols:
        out[c] = data[c].astype(object)
    return out


def combined_groupings(formula, columns) -> list[str]:
    """The formula's combined groupings (``a:b``) that are not columns of the data."""
    terms = [*random_terms(formula.outcome_part), *(t for c in formula.classes for t in random_terms(c.part))]
    return sorted({t.group for t in terms if grouping_parts(t.group, columns) is not None})


def _combined_groupings(formula, data):
    """The data with a column for every combined grouping ``a:b``: one group per combination
    of the columns' values (labelled ``"va:vb"``, missing where a part is missing)."""
    new = {}
    for g in combined_groupings(formula, data.columns):
        parts = grouping_parts(g, data.columns)
        _missing_columns(parts, data, f"random terms' grouping {g!r}")
        frame = data[parts]
        miss = frame.isna().any(axis=1).to_numpy()
        labels = frame[parts[0]].astype(str).str.cat([frame[p].astype(str) for p in parts[1:]], sep=":")
        distinct = frame[~miss].drop_duplicates()
        if labels[~miss].nunique() != len(distinct):
            raise DesignError(
                f"the values of {parts} cannot be told apart when joined with ':' for the grouping {g!r}; "
                f"make one column for the combination (e.g. with pandas' groupby(...).ngroup()) and name it")
        new[g] = labels.where(~miss)
    return data.assign(**new) if new else data


#: said when neither the outcome nor the outcome part's columns are in the data
WIDE_HINT = ("; these look like wide data (one column per item): give items=[...] (and id=) to reshape "
             "them, or call gm.wide_to_long first")


def _missing_columns(names, data, where, hint=""):
    absent = sorted(n for n in names if n not in data.columns)
    if absent:
        near = _near_names(absent, data.columns)
        raise DesignError(
            f"column(s) {absent} named in the {where} are not in the data"
            + (f" (did you mean {', '.join(repr(n) for n in near)}?)" if near else "")
            + f"; available columns: {list(data.columns)}{'' if near else hint}"
        )


def _near_names(absent, columns) -> list:
    """Columns that differ from names not found only in letter case or by a letter or two."""
    import difflib

    text = [c for c in columns if isinstance(c, str)]
    lower = {c.lower(): c for c in text}
    out = []
    for n in absent:
        hit = lower.get(str(n).lower()) or next(iter(difflib.get_close_matches(str(n), text, n=1, cutoff=0.8)), None)
        if hit is not None and hit not in out:
            out.append(hit)
    return out


@dataclass
class _Columns:
    """What step 1 learns from the formula and the data's columns."""

    outcome_pair: tuple | None  # (successes, failures) of cbind(), else None
    out_vars: set  # columns the outcome part reads
    cls_vars: set  # columns the class parts read
    re_vars: set  # columns the random terms read
    meas_cols: set  # columns measured_by reads
    re_o: list  # random terms of the outcome part
    re_c: list  # random terms of the class parts
    groups: list  # the random terms' grouping columns
    unit_name: str | None
    cluster_name: str | None
    roles: dict | None  # several class variables: :func:`_class_roles`


@dataclass
class _Observed:
    """Step 2: the rows with an observed outcome."""

    data: pd.DataFrame  # the data (with the counts of cbind() as columns)
    df: pd.DataFrame  # its rows with an observed outcome
    keep: np.ndarray  # which rows of data those are
    yname: str  # the outcome's column
    trials: str | None  # the column of binomial trials
    n_dropped: int
    dropped_levels: dict


@dataclass
class _Units:
    """Step 4: rows sorted by cluster, then unit; every unit a contiguous run of rows."""

    df: pd.DataFrame
    order: np.ndarray  # positions of the sorted rows among the observed rows
    unit_of_row: np.ndarray
    unit_ids: pd.Index
    starts: np.ndarray  # first row of every unit
    form: str  # "none", "inside" or "outside" (see Design.form)
    cluster_of_unit: np.ndarray
    cluster_ids: pd.Index


def build_design(formula: ParsedFormula, data: pd.DataFrame, n_classes: int, family: Family,
                 thresholds_by: str | None = None, trials: str | None = None, measured_by=None,
                 class_sizes: dict | None = None, weights: str | None = None, cluster_weights: str | None = None,
                 weight_scaling: str | None = None, cluster_weight_scaling: str = "sample",
                 freq_weights: str | None = None, sigma_by: str | None = None,
                 fitted: Design | None = None) -> Design:
    """Build the :class:`Design` of ``formula`` on ``data`` (see the module docstring).

    With several class variables, ``class_sizes`` gives each one's number of classes and
    ``measured_by`` says which rows measure which variable (see :func:`glmmix.fit`).
    ``weights``, ``cluster_weights`` and their scalings: sampling weights; ``freq_weights``:
    frequency weights (``weights.py``). ``thresholds_by`` (ordinal) and ``sigma_by`` (gaussian)
    name a column whose levels get their own family parameters.
    With ``fitted`` (the design of a fitted model), ``data`` holds new units: every design
    is encoded with the fitted encodings (levels, contrasts, transform states), outcome
    categories and threshold groups are the fitted ones, and checks that concern
    estimation (enough groups, varying columns, empty levels) are skipped.
    """
    # Step 1: data and columns.
    data = _combined_groupings(formula, _plain_text(check_data(data)))
    multi = len(formula.classes) > 1
    fenc = _fitted_encodings(fitted)
    by_arg, by = _family_by(family, thresholds_by, sigma_by)
    cols = _check_columns(formula, data, n_classes, fenc, by_arg, by, trials, measured_by, class_sizes)
    check_weights(data, weights, cluster_weights, weight_scaling, cluster_weight_scaling, freq_weights)
    unit_name, cluster_name = cols.unit_name, cols.cluster_name

    # Step 2: missing outcomes are dropped and counted; missing elsewhere is an error.
    obs = _observed_rows(formula, data, cols, trials, by, fitted is not None)
    meas_values = None
    if multi and isinstance(measured_by, str):
        meas_values = (measurement_order(obs.data[measured_by], measured_by, cols.roles["within"]) if fitted is None
                       else fitted.meas_values)
    meas = _measurement(formula, cols.roles, measured_by, obs.data, meas_values, fitted is not None) if multi else None
    used = (cols.out_vars | cols.cls_vars | cols.re_vars | cols.meas_cols
            | {c for c in (unit_name, cluster_name, by, obs.trials, weights, cluster_weights, freq_weights) if c}
            | set(cols.groups)) - {obs.yname}
    _check_no_missing(obs.df, used, fitted is not None)
    rhs = [formula.outcome_part.fixed, *(c.part.fixed for c in formula.classes),
           *(t.expr for t in cols.re_o + cols.re_c)]
    _check_column_types(obs.df, used, _bare_columns(rhs, obs.df.columns) if fitted is None else set(), fitted,
                        cols.out_vars | cols.cls_vars | cols.re_vars)

    # Step 3: outcome support (family-specific checks) and family auxiliaries.
    aux = _family_data(family, obs.df, by_arg, by, obs.trials, formula.outcome, cols.outcome_pair, fitted)

    # Step 4: units (level of the class variable), clusters (level of the random effects),
    # and row order (by cluster, then unit).
    units = _units(obs.df, cols, multi, fitted)
    df, starts = units.df, units.starts
    aux = aux.rows(units.order)
    if meas is not None:
        meas = meas[obs.keep][units.order]
        if family.thresholds:
            _threshold_groups(aux, meas, fitted)
    shared = _shared_outcome(formula, family, aux, df, fitted)
    if shared is not None:  # row and unit maps equal to the shared design's: its arrays, not copies
        units = _shared_maps(units, shared)
    if shared is not None:  # the same outcome arrays as a design of the same rows: shared, not rebuilt
        aux, y = shared.aux, shared.y
    elif fitted is not None and family.thresholds:
        y = _ordinal_codes(df[obs.yname].rename(formula.outcome), fitted.aux, aux)
    else:
        y = family.prepare(df[obs.yname].rename(formula.outcome), aux)
    aux.trials_name = None  # only for messages while preparing the outcome

    # Step 5: design matrices.
    if shared is not None:
        X, x_names, x_terms, x_spec = shared.X, list(shared.x_names), dict(shared.x_terms), shared.x_spec
    else:
        X, x_names, x_terms, x_spec = _outcome_design(formula, df, family, aux, fitted)
        if fitted is None:
            _warn_index_as_number(df, x_names, family, unit_name)
    x_group, mgroups = None, None
    if multi:
        if fitted is None:
            X, x_names, x_terms, x_group, mgroups = _expand_by_group(X, x_names, x_terms, meas, cols.roles)
        else:
            X, x_names, x_terms, x_group, mgroups = _expand_like(X, x_names, meas, fitted)
        system, re_cls = _class_system(formula, df, starts, units.cluster_of_unit, cols.roles, class_sizes,
                                       unit_name, cluster_name, fitted)
        re_out = build_blocks(cols.re_o, df, "outcome", system.S, None if fitted is None else fitted.re_out)
        n_classes = system.S
    else:
        system, re_out, re_cls = _single_class(formula, df, starts, cols, n_classes, units.form, fenc, fitted)
    if fitted is None and re_cls and units.form == "inside" and len(starts) == len(units.cluster_ids):
        raise DesignError(
            f"random terms in the class part group by {cluster_name!r}, but every level of {cluster_name!r} "
            f"holds one {'unit ' + repr(unit_name) if unit_name else 'row'}: one class per cluster identifies "
            "only the class probabilities, not the spread of the class logits across clusters; drop the random "
            "terms (or group by a coarser column)")
    system = ClassSystem([replace(v, Z=compact(v.Z)) for v in system.vars], system.single)
    re_out = [replace(b, Z=compact(b.Z)) for b in re_out]
    re_cls = [replace(b, Z=compact(b.Z)) for b in re_cls]
    Z, z_names, z_spec = _class_design(system)
    uw, cw, winfo = sampling_weights(df, units.unit_of_row, starts, units.unit_ids, unit_name, units.cluster_of_unit,
                                     units.cluster_ids, cluster_name, units.form == "inside", weights,
                                     cluster_weights, weight_scaling, cluster_weight_scaling, freq_weights)
    return Design(
        formula=formula, family=family, aux=aux, y=y,
        X=X, x_names=x_names, x_terms=x_terms, x_spec=x_spec,
        unit_of_row=units.unit_of_row, unit_starts=starts,
        unit_ids=units.unit_ids, unit_name=unit_name,
        cluster_of_unit=units.cluster_of_unit, cluster_ids=units.cluster_ids, cluster_name=cluster_name,
        form=units.form, re_out=re_out, re_cls=re_cls,
        Z=Z, z_names=z_names, z_spec=z_spec, n_classes=n_classes,
        class_name=formula.classes[0].name if formula.classes else "class",
        row_index=df.index, row_position=_row_positions(obs, units.order), n_dropped=obs.n_dropped,
        n_units_dropped=_n_vanished(obs.data, df, unit_name),
        n_clusters_dropped=_n_vanished(obs.data, df, cluster_name) if cluster_name != unit_name else 0,
        dropped_levels=obs.dropped_levels,
        n_missing_wide=int(obs.data.attrs.get("n_missing", 0) or 0),
        x_scale=shared.x_scale if shared is not None else _column_scale(X), classes=system, x_group=x_group, mgroups=mgroups,
        unit_weight=uw, cluster_weight=cw, weighting=winfo,
        measured_by=measured_by, meas_values=meas_values,
        trials_arg=None if cols.outcome_pair is not None else obs.trials,
        groupings=_groupings(df, cols.groups) if units.form == "crossed" else None,
    )


def _family_by(family, thresholds_by, sigma_by):
    """The argument (``thresholds_by`` or ``sigma_by``) and column whose levels get their own
    family parameters, refused for a family without such parameters."""
    if thresholds_by is not None and sigma_by is not None:
        raise DesignError("give thresholds_by (ordinal thresholds) or sigma_by (gaussian residual SDs), not both")
    if thresholds_by is not None and not family.thresholds:
        raise DesignError(f"thresholds_by is only meaningful for family='ordinal' (this model's family is "
                          f"{family.name!r})")
    if sigma_by is not None and not family.has_residual_sd:
        raise DesignError(f"sigma_by is only meaningful for family='gaussian' (this model's family is "
                          f"{family.name!r}, which has no residual SD)")
    if sigma_by is not None:
        return "sigma_by", sigma_by
    return ("thresholds_by", thresholds_by) if thresholds_by is not None else (None, None)


def _check_columns(formula, data, n_classes, fenc, by_arg, by, trials, measured_by, class_sizes) -> _Columns:
    """Step 1: every column the formula and the arguments name is in the data; the units'
    and clusters' columns (and, with several class variables, their roles)."""
    multi = len(formula.classes) > 1
    cls = formula.classes[0] if formula.classes else None
    if n_classes > 1 and cls is None:
        raise FormulaError(
            f"n_classes={n_classes} needs a class part: add '| class(unit) ~ 1' (one class per "
            "unit, e.g. LCA) or '| class ~ 1' (one class per row) to the formula"
        )
    out_vars = _required(formula.outcome_part.fixed, "outcome part", data.columns, fenc.get("outcome"))
    outcome_cols, outcome_pair = outcome_columns(formula.outcome)
    _missing_columns(outcome_cols, data, "formula's outcome",
                     WIDE_HINT if any(v not in data.columns for v in out_vars) else "")
    _missing_columns(out_vars, data, "outcome part")
    unit_name = cls.level if cls is not None else None
    re_o = random_terms(formula.outcome_part)
    re_c = [t for c in formula.classes for t in random_terms(c.part)]
    groups = sorted({t.group for t in re_o + re_c})
    if len(groups) > 1 and formula.classes:
        raise NotImplementedError(
            f"random terms for several grouping columns {groups} (crossed or multiple grouping factors) "
            "are available for models without classes (GLMMs, integration='laplace'); a mixture needs one "
            "grouping column for all random terms"
        )
    cluster_name = groups[0] if len(groups) == 1 else None
    if len(groups) > 1:
        _missing_columns(groups, data, "random terms' grouping")
    re_vars = set()
    for g in groups:  # a missing value in a part of a combined grouping is named by its column
        parts = grouping_parts(g, ()) or ()
        if all(p in data.columns for p in parts):
            re_vars |= set(parts)
    for t in re_o + re_c:
        re_vars |= _required(t.expr, f"random term {t}", data.columns, fenc.get(str(t)))
    if cluster_name is not None:
        _missing_columns([cluster_name], data, "random terms' grouping")
    for g in groups:
        if set(grouping_parts(g, ()) or (g,)) & set(outcome_cols):
            raise DesignError(f"the random terms' grouping {g!r} is the outcome; group by the column identifying "
                              "the clusters (e.g. (1 | id))")
    _missing_columns(re_vars, data, "random terms")
    cls_vars = set()
    for c in formula.classes:
        if c.level is not None:
            _missing_columns([c.level], data, f"class part {c.name}({c.level})")
            if c.level in outcome_cols:
                raise DesignError(f"class part {c.name}({c.level}): {c.level!r} is the outcome; the level of a "
                                  "class variable is the column identifying its units (e.g. class(id))")
        cv = _required(c.part.fixed, f"class part of {c.name!r}", data.columns, fenc.get(c.name))
        _missing_columns(cv, data, f"class part of {c.name!r}")
        cls_vars |= cv
    roles = None
    if multi:
        roles = _class_roles(formula, data, cluster_name, class_sizes)
        unit_name, cluster_name = roles["unit"], roles["cluster"]
    meas_cols = _measured_by_columns(measured_by, data) if multi else set()
    for arg, col in ((by_arg, by), ("trials", trials)):
        if col is not None:
            _missing_columns([col], data, f"argument {arg}")
    _check_outcome_not_predictor(formula.outcome, outcome_pair, (("outcome part", out_vars),
                                                                   ("random terms", re_vars),
                                                                   ("class part", cls_vars)))
    return _Columns(outcome_pair, out_vars, cls_vars, re_vars, meas_cols, re_o, re_c, groups, unit_name,
                    cluster_name, roles)


def _check_outcome_not_predictor(outcome, outcome_pair, parts) -> None:
    """The outcome's own column (a cbind() count given by name) among a part's predictors
    explains the outcome by itself: refused, naming the part."""
    own = {outcome} if outcome_pair is None else {n for n in map(column_name, outcome_pair) if n is not None}
    for where, used in parts:
        hit = sorted(own & set(used))
        if hit:
            raise DesignError(f"the outcome's column {hit[0]!r} is also a predictor in the {where}: a response "
                              "cannot explain itself; remove it (a previous response is a column of its own)")


def _observed_rows(formula, data, cols: _Columns, trials, by, new_rows: bool) -> _Observed:
    """Step 2: drop (and count) the rows whose outcome is missing; binomial counts of
    ``cbind()`` become columns; levels no remaining row has are dropped (not for new rows,
    which keep the fitted encoding)."""
    outcome_pair = cols.outcome_pair
    if outcome_pair is not None:
        if trials is not None:
            raise DesignError("give trials either through cbind(successes, failures) or trials=, not both")
        succ, fail = (outcome_values(data, a, formula.outcome, new_rows) for a in outcome_pair)
        succ = succ.where(fail.notna())  # a row missing either count has no observed outcome
        data = data.assign(**{"__succ": succ, "__trials": succ + fail})
        trials = "__trials"
        yname = "__succ"
    else:
        yname = formula.outcome
    yser = data[yname]
    keep = yser.notna().to_numpy()
    n_dropped = int((~keep).sum())
    if n_dropped == len(data):
        raise DesignError(f"every value of the outcome {formula.outcome!r} is missing")
    df = data.loc[keep] if n_dropped else data
    if outcome_pair is not None:
        for arg, v in zip(outcome_pair, (succ, fail)):
            check_counts(v.to_numpy()[keep], arg.strip(), "counts in cbind(successes, failures)", df.index)
    dropped_levels = {}
    if not new_rows:
        df, dropped_levels = _drop_empty_levels(data, df, cols.out_vars | cols.cls_vars | cols.re_vars
                                                | ({by} if by else set()))
    return _Observed(data, df, keep, yname, trials, n_dropped, dropped_levels)


def _check_no_missing(df, columns, new_rows: bool = False) -> None:
    """A missing value outside the outcome is an error, never a silent drop (named by the
    data's own columns before the combined groupings made of them)."""
    for col in sorted(columns, key=lambda c: (":" in str(c), str(c))):
        miss = df[col].isna().to_numpy()
        nmiss = int(miss.sum())
        if nmiss:
            first = plain(df.index[np.argmax(miss)])
            raise DesignError(
                f"column {col!r} has {nmiss} missing value(s) in newdata (first at index {first!r}): every row "
                "needs its predictors and ids; drop or impute these rows first" if new_rows else
                f"column {col!r} has {nmiss} missing value(s) in rows with an observed outcome (first at index "
                f"{first!r}); glmmix drops only rows with a missing outcome: drop or impute these rows first"
            )


#: text values that mark a missing number in files written by other programs (SAS and Stata's
#: '.', spreadsheets' '#N/A'...): a numeric column holding them is read as text
_MISSING_CODES = {"", ".", "?", "-", "--", "*", "na", "n/a", "#n/a", "nan", "null", "none", "missing", "nil"}


def _bare_columns(texts, columns) -> set:
    """Columns that right-hand sides use as they are (``x``, ``x:z``), not through a function
    such as ``C(x)`` or ``np.log(x)``: formulaic decides from their dtype alone whether they
    enter as numbers or as categories."""
    out = set()
    for text in texts:
        try:
            terms = list(Formula(text))
        except Exception:  # unreadable: reported with its place when the matrix is built
            continue
        for term in terms:
            for factor in getattr(term, "factors", ()):
                expr = str(factor.expr)
                name = expr if expr in columns else column_name(expr)
                if name is not None and name in columns:
                    out.add(name)
    return out


def _check_column_types(df: pd.DataFrame, used, bare, fitted, terms=frozenset()) -> None:
    """Refuse column types that a formula would read wrongly without a word: complex numbers
    (the imaginary part dropped), dates used as they are (nanoseconds since 1970), object
    columns mixing numbers and text (``1`` and ``'1'`` two groups, ``True`` and ``1`` one),
    and, in a new model, numbers stored as objects or as text, which would enter as a
    categorical with one level per distinct number."""
    for c in sorted(used, key=str):
        if c not in df.columns:
            continue
        col = df[c]
        dt = col.dtype
        if dt.kind == "c":
            raise DesignError(f"column {c!r} holds complex numbers ({dt}); models take real values: give "
                              f"df[{c!r}].real (or the modulus) if that is what is meant")
        if c in bare and (dt.kind in "mM" or isinstance(dt, (pd.DatetimeTZDtype, pd.PeriodDtype))):
            what = "durations" if dt.kind == "m" else "dates"
            raise DesignError(
                f"column {c!r} holds {what} ({dt}), which a formula reads neither as numbers nor as "
                f"categories: make it a number, e.g. days since the first date, (df[{c!r}] - "
                f"df[{c!r}].min()).dt.days, or text for categories")
        if dt == object:
            kind = pd.api.types.infer_dtype(col, skipna=True)
            if kind in ("mixed", "mixed-integer"):
                values = col.dropna()
                kinds = values.map(type)
                examples = [plain(values.iloc[int(np.argmax((kinds == k).to_numpy()))]) for k in pd.unique(kinds)[:3]]
                raise DesignError(
                    f"column {c!r} mixes values of different types ({', '.join(repr(v) for v in examples)}): "
                    f"1 and '1' would be different values, True and 1 the same; give the column one type "
                    f"(e.g. df[{c!r}].astype(str))")
            if fitted is None and c in bare and kind in ("integer", "floating", "mixed-integer-float", "decimal"):
                raise DesignError(
                    f"column {c!r} holds numbers but has dtype object, so the formula would make it a "
                    f"categorical with {col.nunique()} levels: convert it, df[{c!r}].astype(float), or write "
                    f"C({c}) if its values are category labels")
        if fitted is None and c in bare and (dt == object or _is_na_text(dt) or isinstance(dt, pd.StringDtype)):
            _check_numbers_as_text(col, c)
        if fitted is None and c in terms and (dt == object or isinstance(dt, (pd.StringDtype, pd.CategoricalDtype))):
            _warn_near_levels(col, c)


def _warn_near_levels(col: pd.Series, name) -> None:
    """Text levels that differ only in letter case or surrounding spaces ('male', 'Male ') are
    most often one category typed two ways; each would get its own parameter."""
    values = pd.unique(col.dropna()) if not isinstance(col.dtype, pd.CategoricalDtype) else \
        col.cat.remove_unused_categories().cat.categories
    text = [v for v in values if isinstance(v, str)]
    if len(text) < 2 or len(text) > 100_000:
        return
    key = pd.Series(text, dtype=object).str.strip().str.casefold()
    dup = key.duplicated(keep=False).to_numpy()
    if dup.any():
        first = key[dup].iloc[0]
        same = [t for t, k in zip(text, key) if k == first][:3]
        warnings.warn(f"column {name!r} has levels that differ only in letter case or spaces "
                      f"({', '.join(repr(t) for t in same)}): each gets its own parameter; if they are one "
                      f"category, recode them first (e.g. df[{name!r}].str.strip().str.lower())",
                      DataWarning, stacklevel=4)


def _check_numbers_as_text(col: pd.Series, name) -> None:
    """A text column whose values read as numbers with decimals, or as numbers and
    missing-value codes ('.', 'NA'), is a numeric column that was read as text."""
    values = pd.Series(pd.unique(col.dropna()), dtype=object)
    if len(values) < 2 or not all(isinstance(v, str) for v in values[:1000]):
        return
    text = values.astype(str).str.strip()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
    isnum = np.isfinite(num)
    if not isnum.any():
        return
    others = [v for v, t in zip(values[~isnum], text[~isnum])]
    codes = bool(others) and all(t.lower() in _MISSING_CODES for t in text[~isnum]) and isnum.sum() >= 2
    decimals = bool((num[isnum] != np.round(num[isnum])).any()) and isnum.mean() >= 0.5
    if not (codes or decimals):
        return
    example = values[np.flatnonzero(isnum)[0]]
    if codes:
        said = (f"its other values ({', '.join(repr(v) for v in others[:5])}) look like codes for a missing "
                f"number: pd.to_numeric(df[{name!r}], errors='coerce') makes them missing values (rows "
                "that must then be dropped or imputed)")
    else:
        said = f"convert it with pd.to_numeric(df[{name!r}])"
    raise DesignError(
        f"column {name!r} is text, but {int(isnum.sum())} of its {len(values)} distinct values read as numbers "
        f"(e.g. {example!r}): as text it would enter as a categorical with {len(values)} levels; {said}; or "
        f"write C({name}) if its values are category labels")


def _family_data(family, df, by_arg, by, trials, outcome, outcome_pair, fitted) -> FamilyData:
    """Step 3: the family's row data (family-parameter sets of ``thresholds_by`` or
    ``sigma_by``, binomial trials)."""
    aux = FamilyData()
    if by is not None:
        if fitted is None:
            tb = pd.Categorical(df[by])
            cats, codes = list(tb.categories), tb.codes
        else:  # new rows: the fitted levels
            cats = fitted.aux.threshold_cats
            codes = pd.Index(cats, dtype=object).get_indexer(pd.Index(df[by].to_numpy(), dtype=object))
            if (codes < 0).any():
                bad = [plain(v) for v in pd.unique(df[by][codes < 0])[:10]]
                raise DesignError(f"column {by!r} ({by_arg}) has level(s) {bad} not seen in fitting")
        aux.threshold_by = by
        aux.threshold_cats = cats
        aux.threshold_levels = [str(c) for c in cats]
        aux.threshold_group = np.asarray(codes, np.intp)
    if trials is not None:
        if not family.uses_trials:
            raise DesignError(f"cbind(successes, failures) outcomes need family='binomial', not {family.name!r}"
                              if outcome_pair is not None else
                              f"trials={trials!r} is only meaningful for the binomial family, not {family.name!r}")
        if not pd.api.types.is_numeric_dtype(df[trials].dtype) or pd.api.types.is_bool_dtype(df[trials].dtype):
            raise DesignError(f"trials column {trials!r} must be numeric (it has dtype {df[trials].dtype})")
        aux.trials = df[trials].to_numpy(dtype=float)
        aux.trials_name = trials if outcome_pair is None else f"successes + failures of {outcome}"
    return aux


def _form(df, cols: _Columns, multi: bool, fitted) -> str:
    """Where the classes sit relative to the random effects' integral (``Design.form``);
    checks that units are nested in clusters."""
    unit_name, cluster_name = cols.unit_name, cols.cluster_name
    if len(cols.groups) > 1:  # crossed or multiple grouping factors: rows are the units
        for g in cols.groups if fitted is None else ():
            check_grouping(df, g, "random terms")
        return "crossed"
    if cluster_name is None:
        return "none"
    if fitted is None:
        check_grouping(df, cluster_name, "random terms" if cols.groups else "between-level class variables")
    if unit_name == cluster_name and not multi:
        return "outside"  # class at the clusters' level: classes outside the integral
    return "inside"  # units nested in clusters: checked on the sorted rows (_check_runs_nested)


def _codes(s: pd.Series, idx) -> np.ndarray:
    """The codes of ``pd.factorize(s, sort=True)`` in the integer type ``idx``; a numeric
    column already in ascending order (ids of sorted data) is coded by its runs, with no
    hash table."""
    v = s.to_numpy() if pd.api.types.is_numeric_dtype(s.dtype) and not isinstance(s.dtype, pd.CategoricalDtype) \
        else None
    if v is not None and v.ndim == 1 and v.size > 1 and bool(np.all(v[1:] >= v[:-1])):
        codes = np.zeros(v.size, dtype=idx)
        np.cumsum(v[1:] != v[:-1], dtype=idx, out=codes[1:])
        return codes
    return pd.factorize(s, sort=True)[0].astype(idx, copy=False)


def _sort_order(ucodes, ccodes):
    """Positions of the rows sorted by cluster, then unit (stable), or None when they are
    already in that order (sorted data are not copied). None codes: every row its own unit,
    or no clusters."""
    if ccodes is None and ucodes is None:
        return None
    if ccodes is None or ucodes is None:
        c = ucodes if ccodes is None else ccodes
        return None if bool(np.all(c[1:] >= c[:-1])) else np.argsort(c, kind="stable")
    dc = ccodes[1:] > ccodes[:-1]
    if bool(np.all(dc | ((ccodes[1:] == ccodes[:-1]) & (ucodes[1:] >= ucodes[:-1])))):
        return None
    return np.lexsort((ucodes, ccodes))


def _check_runs_nested(df, ucodes, first_seen, unit_name, cluster_name) -> None:
    """Units nested in clusters: with rows sorted by cluster, then unit, every unit is one run
    of rows; a unit in several clusters is several runs."""
    n_units = int(ucodes.max()) + 1 if ucodes.size else 0
    run_units = ucodes[first_seen]
    if run_units.size > n_units:
        bad = int(np.flatnonzero(np.bincount(run_units, minlength=n_units) > 1)[0])
        label = df[unit_name].iloc[int(np.argmax(ucodes == bad))]
        raise DesignError(
            f"{unit_name!r} is not nested in {cluster_name!r}: {unit_name} = {plain(label)!r} appears in several "
            f"levels of {cluster_name!r}. Units must be nested in clusters (crossed grouping is not "
            f"supported); if the {unit_name!r} values restart within each {cluster_name!r}, give units ids "
            f"unique across clusters (e.g. a column of {cluster_name} and {unit_name} joined)"
        )


def _check_one_cluster_per_unit(df, ucodes, ccodes, first_seen, unit_name, cluster_name) -> None:
    """Units nested in clusters: every row of a unit (one run of the sorted rows) has its
    unit's cluster. A unit level coarser than the clusters (classes of rooms, random effects
    of the persons in them) passes the run check when the ids are sorted with the rooms."""
    start_of_row = np.maximum.accumulate(np.where(first_seen, np.arange(first_seen.size), 0))
    bad = np.flatnonzero(ccodes != ccodes[start_of_row])
    if bad.size:
        label = df[unit_name].iloc[int(bad[0])]
        raise DesignError(
            f"{unit_name!r} is not nested in {cluster_name!r}: {unit_name} = {plain(label)!r} spans several levels "
            f"of {cluster_name!r}. Classes at the level {unit_name!r} need the random terms' grouping at that "
            f"level or above it (three levels, classes of {unit_name!r} with effects of {cluster_name!r} within "
            "them, are not supported)")


def _units(df, cols: _Columns, multi: bool, fitted) -> _Units:
    """Step 4: index units and clusters; sort rows by cluster, then unit."""
    unit_name, cluster_name = cols.unit_name, cols.cluster_name
    form = _form(df, cols, multi, fitted)
    # row, unit and cluster numbers in 32 bits when they fit (they are only indices)
    idx = np.int32 if len(df) < 2**31 - 1 else np.intp
    ccodes = _codes(df[cluster_name], idx) if cluster_name is not None else None
    ucodes = _codes(df[unit_name], idx) if unit_name is not None else None  # None: rows are the units
    order = _sort_order(ucodes, ccodes)
    if order is not None:
        df = df.iloc[order]
        ucodes = None if ucodes is None else ucodes[order]
        ccodes = None if ccodes is None else ccodes[order]
    else:
        order = slice(None)
    # renumber units in their sorted order so every unit is one contiguous run of rows
    first_seen = None if ucodes is None else np.r_[True, ucodes[1:] != ucodes[:-1]]
    if first_seen is not None and form == "inside" and unit_name != cluster_name:
        _check_runs_nested(df, ucodes, first_seen, unit_name, cluster_name)
        _check_one_cluster_per_unit(df, ucodes, ccodes, first_seen, unit_name, cluster_name)
    if first_seen is None or first_seen.all():  # every row its own unit: one array for both maps
        unit_of_row = starts = np.arange(len(df), dtype=idx)
        rows_index = df.index
    else:
        unit_of_row = np.cumsum(first_seen, dtype=idx)
        unit_of_row -= 1
        starts = np.flatnonzero(first_seen).astype(idx)
        rows_index = df.index[first_seen]
    del first_seen, ucodes
    unit_ids = pd.Index(df[unit_name].to_numpy()[starts], name=unit_name) if unit_name is not None \
        else rows_index.rename("row")
    if cluster_name is not None and form == "inside":
        # clusters numbered in sorted order, which is their order of appearance in the sorted rows
        cluster_of_unit = ccodes if unit_of_row is starts else ccodes[starts]
        first_unit = np.flatnonzero(np.r_[True, cluster_of_unit[1:] != cluster_of_unit[:-1]])
        cluster_ids = pd.Index(df[cluster_name].to_numpy()[starts[first_unit]], name=cluster_name)
    else:  # every unit is its own cluster (one row each: the same array as the rows' units)
        cluster_of_unit = starts if unit_of_row is starts else np.arange(len(starts), dtype=idx)
        cluster_ids = unit_ids
    return _Units(df, order, unit_of_row, unit_ids, starts, form, cluster_of_unit, cluster_ids)


def _row_positions(obs, order) -> np.ndarray | None:
    """Positions in the data of the design's rows, or None when the rows kept their order."""
    if isinstance(order, slice):
        return None
    return np.flatnonzero(obs.keep)[order] if obs.n_dropped else order


def _groupings(df, groups) -> dict:
    """Crossed designs: each grouping column's level code of every row, and its levels."""
    out = {}
    for g in groups:
        codes, levels = pd.factorize(df[g], sort=True)
        out[g] = (np.asarray(codes, np.intp), pd.Index(levels, name=g))
    return out


def _threshold_groups(aux: FamilyData, meas, fitted) -> None:
    """Ordinal thresholds per measurement group (and per thresholds_by level): each group's
    thresholds depend on the classes of the variables measuring it, like its X copy."""
    mg, mgroups_new = _group_codes(meas)
    ng = int(mg.max()) + 1
    if fitted is not None:  # group numbers of the fit (new rows may lack some groups)
        mg = np.array([fitted.mgroups.index(g) if g in fitted.mgroups else -1 for g in mgroups_new])[mg]
        if (mg < 0).any():
            raise DesignError("rows of new data are measured by a combination of class variables the "
                              "fitted model has not seen")
        ng = len(fitted.mgroups)
    lev = aux.threshold_levels if aux.threshold_levels is not None else [None]
    tg = aux.threshold_group if aux.threshold_group is not None else np.zeros(len(mg), np.intp)
    aux.threshold_group = (mg * len(lev) + tg).astype(np.intp)
    aux.threshold_levels = [lv for _ in range(ng) for lv in lev]
    aux.threshold_mgroup = np.repeat(np.arange(ng), len(lev))


def _outcome_design(formula, df, family, aux, fitted):
    """Step 5: the outcome part's design X (ordinal thresholds absorb its intercept)."""
    X, x_names, x_terms, x_spec = _fixed_matrix(formula.outcome_part.fixed, df, "outcome part",
                                                None if fitted is None else fitted.x_spec)
    if family.thresholds:  # new data (fitted) are encoded as in the fit: the same columns
        X, x_names, x_terms = _thresholds_absorb_intercept(X, x_names, x_terms)
        if fitted is None:
            _check_ordinal_design(X, x_names, x_terms, aux, formula.outcome)
    if X.shape[1] == len(offset_columns(x_names)) and not family.has_extra:
        raise FormulaError("the outcome part has no terms besides offsets: nothing to estimate")
    return X, x_names, x_terms, x_spec


def _warn_index_as_number(df, x_names, family, unit_name) -> None:
    """``y ~ 0 + item`` with ``item`` numbered 1, 2, ...: the items enter as one slope on their
    numbers, not one parameter each. Said when an outcome part without intercept has a numeric
    column of whole numbers (3 or more values) that every unit has at most once per value."""
    if unit_name is None or "Intercept" in x_names or family.thresholds:
        return
    for name in x_names:
        if name not in df.columns or name == unit_name:
            continue
        col = df[name]
        if pd.api.types.is_bool_dtype(col.dtype) or not pd.api.types.is_numeric_dtype(col.dtype):
            continue
        v = col.to_numpy()
        if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
            continue
        k = np.unique(v).size
        if k < 3 or k > len(v) // 2:
            continue
        if df.groupby(unit_name, sort=False, observed=True)[name].nunique().sum() != len(df):
            continue  # a value repeats within a unit: not an index of the unit's rows
        warnings.warn(
            f"column {name!r} in the outcome part holds whole numbers ({k} values, e.g. {plain(v[0])!r}), "
            f"each at most once per {unit_name!r}, and enters as a number: one slope on its values, not one "
            f"parameter per value; if it numbers items (y ~ 0 + {name}), make it categorical: C({name}) in the "
            f"formula, or df[{name!r}].astype('category')", DataWarning, stacklevel=2)


def _single_class(formula, df, starts, cols: _Columns, n_classes, form, fenc, fitted):
    """Step 5 with one class variable (or none): its logit design, the random blocks of the
    outcome part and of the class part."""
    cls = formula.classes[0] if formula.classes else None
    unit_name = cols.unit_name
    Z, z_names, z_spec = np.ones((len(starts), 1)), ["Intercept"], None
    if cls is not None:
        udf = df if len(starts) == len(df) else df.iloc[starts]  # units that are rows: the rows themselves
        if unit_name is not None and cols.cls_vars:
            _check_unit_constant(df, unit_name, sorted(cols.cls_vars), cls.name)
        Zm, z_names, _, z_spec = _fixed_matrix(cls.part.fixed, udf, f"class part of {cls.name!r}",
                                               None if fitted is None else fitted.z_spec)
        if Zm.shape[1] == 0:  # equal class sizes: the logits' intercepts fixed at 0
            fixes = ", ".join(f"'logit:{cls.name}{k + 1}:Intercept': 0" for k in range(max(n_classes - 1, 1)))
            raise FormulaError(
                f"the class part of {cls.name!r} has no terms ('~ {cls.part.fixed}'): write '~ 1' for class sizes "
                f"that are estimated; to hold them equal, keep '~ 1' and fix={{{fixes}}}")
        Z = compact(np.asarray(Zm.toarray() if sp.issparse(Zm) else Zm, dtype=float))
        del Zm
    re_out = build_blocks(cols.re_o, df, "outcome", n_classes, None if fitted is None else fitted.re_out)
    re_cls = []
    if cols.re_c:
        cvars = set()
        for t in cols.re_c:
            cvars |= _required(t.expr, f"random term {t}", df.columns, fenc.get(str(t)))
        if unit_name is not None and cvars:
            _check_unit_constant(df, unit_name, sorted(cvars), cls.name)
        if form == "outside":
            raise FormulaError(
                f"random terms in the class part ({', '.join(map(str, cols.re_c))}) vary the class logits "
                f"across levels of {cols.cluster_name!r}, but the class variable itself lives at that level: "
                "put the class variable at a lower level (e.g. class ~ ... or class(unit) ~ ...)"
            )
        re_cls = build_blocks(cols.re_c, df if len(starts) == len(df) else df.iloc[starts], "class", n_classes,
                              None if fitted is None else fitted.re_cls)
    system = ClassSystem([ClassVar(cls.name if cls is not None else "class", n_classes, unit_name,
                                   False, Z, z_names, z_spec)], single=True)
    return system, re_out, re_cls


def _class_design(system: ClassSystem):
    """The class-part design of the units (Design.Z), its column names and encoding: the
    within-level variables' designs side by side."""
    if system.single:
        v = system.vars[0]
        return v.Z, v.z_names, v.z_spec
    Z = np.concatenate([v.Z for v in system.vars if not v.between], axis=1)
    z_names = [f"{v.name}:{z}" for v in system.vars if not v.between for z in v.z_names]
    return Z, z_names, None


class _Encodings(dict):
    """Encodings of a fitted design by part ("outcome", class variable names, random terms).
    For a design read from a file every part must have one: its text is never read."""

    strict = False

    def get(self, key, default=None):
        if key not in self and self.strict:
            raise NotImplementedError(f"the stored model has no encoding of {key!r}")
        return super().get(key, default)


def _fitted_encodings(fitted) -> dict:
    out = _Encodings()
    if fitted is None:
        return out
    out.strict = bool(fitted.stored)
    out["outcome"] = fitted.x_spec
    for v in fitted.classes.vars:
        out[v.name] = v.z_spec if v.z_spec is not None else Encoding(["Intercept"], [], {})
    for b in list(fitted.re_out) + list(fitted.re_cls):
        for piece in b.term.split(" & "):  # merged class-logit terms: "c1: (1 | g) & c2: (1 | g)"
            out[piece.split(": ", 1)[-1]] = b.enc
    return out


def _ordinal_codes(y: pd.Series, fitted_aux: FamilyData, aux: FamilyData) -> np.ndarray:
    """Codes of an ordinal outcome of new rows in the fitted categories."""
    cats = fitted_aux.categories
    vals = y.astype(object).to_numpy() if isinstance(y.dtype, pd.CategoricalDtype) else y.to_numpy()
    idx = pd.Index(cats, dtype=object).get_indexer(pd.Index(vals, dtype=object))
    if (idx < 0).any():
        unseen = [plain(v) for v in pd.unique(vals[idx < 0])[:10]]
        hint = (": the outcome is given as numbers (category codes?); give it as the fitted categories"
                if all(isinstance(v, (int, float)) for v in unseen) and all(isinstance(c, str) for c in cats) else "")
        raise DesignError(f"outcome {y.name!r} has categories {unseen} not seen in fitting (the fitted categories "
                          f"are {[plain(c) for c in cats]}){hint}")
    aux.categories = cats
    aux.n_cat = len(cats)
    if aux.threshold_group is None:
        aux.threshold_group = np.zeros(len(vals), dtype=np.intp)
        aux.threshold_levels = [None]
    return idx.astype(float)


def _expand_like(X, x_names, meas, fitted):
    """The outcome design of new rows with several class variables, column for column as
    fitted: column j of the fitted design is the base column of the same name on the rows of
    the same measurement group."""
    codes, groups = _group_codes(meas)
    new = [g for g in groups if g not in fitted.mgroups]
    if new:
        vs = [[fitted.classes.vars[t].name for t in g] for g in new]
        raise DesignError(f"rows of new data are measured by class variables {vs}, a combination the fitted "
                          "model has not seen")
    gid = {g: i for i, g in enumerate(groups)}
    base = {n: j for j, n in enumerate(x_names)}
    Xs = X if sp.issparse(X) else sp.csr_matrix(X)
    Xc = Xs.tocsc()
    cols = []
    for j, name in enumerate(fitted.x_names):
        g = fitted.mgroups[fitted.x_group[j]]
        mask = (codes == gid[g]).astype(float) if g in gid else np.zeros(X.shape[0])
        cols.append(sp.diags(mask) @ Xc[:, base[name]])
    Xe = sp.hstack(cols).tocsr()
    return Xe, list(fitted.x_names), dict(fitted.x_terms), fitted.x_group, fitted.mgroups


def outcome_columns(outcome: str):
    """Columns an outcome names; ``cbind(successes, failures)`` gives binomial counts (lme4).

    Each count is a column (plain, ```quoted``` or ``Q("quoted")``) or an expression of
    columns that ``DataFrame.eval`` reads (``cbind(s, n - s)``).
    """
    import re

    m = re.fullmatch(r"cbind\((.*)\)", outcome.strip(), flags=re.S)
    if not m:
        return [outcome], None
    parts = [p.strip() for _, p in split_top(m.group(1), (",",))]
    if len(parts) != 2 or not all(parts):
        raise FormulaError(f"{outcome!r}: cbind() takes two arguments, successes and failures")
    cols = set()
    for p in parts:
        name = column_name(p)
        if name is not None:
            cols.add(name)
        else:  # an expression: its quoted names and plain identifiers
            cols |= {a or b for a, b in re.findall(r"`([^`]+)`|((?:[^\W\d]|_)\w*)", p)}
    return sorted(cols), (parts[0], parts[1])


def outcome_values(data: pd.DataFrame, arg: str, outcome: str, new_rows: bool = False) -> pd.Series:
    """One argument of ``cbind()``: a column's values, or an expression evaluated on ``data``
    (for new rows of a fitted model, computed by the encoding interpreter: never evaluated)."""
    name = column_name(arg)
    if name is not None:
        v = data[name]
    elif new_rows:
        from .encoding import evaluate

        v = pd.Series(evaluate(arg, data, f"outcome {outcome!r}"), index=data.index)
    else:
        try:
            v = data.eval(arg)
        except Exception as exc:  # pandas' own messages, about the user's expression
            raise FormulaError(f"cannot evaluate {arg!r} in the outcome {outcome!r}: {exc}") from None
    if not isinstance(v, pd.Series) or not (pd.api.types.is_numeric_dtype(v.dtype)
                                            or pd.api.types.is_bool_dtype(v.dtype)):
        raise DesignError(f"{arg!r} in the outcome {outcome!r} must give numeric counts")
    return v.astype(float)


def _drop_empty_levels(data, df, columns):
    """Remove levels of categorical (or text) columns that no row with an observed outcome
    has: an unused category, or an item whose every response is missing, would otherwise get
    a coefficient the likelihood does not depend on (and count in the parameters, AIC, BIC).
    Returns the data with unused categories removed and ``{column: [levels]}``."""
    dropped, changed = {}, {}
    for col in sorted(c for c in columns if c in df.columns):
        full, kept = data[col], df[col]
        if isinstance(full.dtype, pd.CategoricalDtype):
            levels = list(full.cat.categories)
        elif pd.api.types.is_object_dtype(full.dtype) or pd.api.types.is_string_dtype(full.dtype):
            levels = list(pd.unique(full.dropna()))
        else:
            continue
        if isinstance(full.dtype, pd.CategoricalDtype):
            gone = [lv for lv, used in zip(levels, _used_codes(kept.cat.codes.to_numpy(), len(levels))) if not used]
        else:
            present = set(pd.unique(kept.dropna()))
            gone = [lv for lv in levels if lv not in present]
        if gone:
            dropped[col] = [plain(lv) for lv in gone]
            if isinstance(full.dtype, pd.CategoricalDtype):
                changed[col] = kept.cat.remove_unused_categories()
    return (df.assign(**changed) if changed else df), dropped


def _used_codes(codes: np.ndarray, n: int) -> np.ndarray:
    """Which of the categories 0..n-1 the category codes use (-1, missing, counts for none), a
    chunk of rows at a time: no hash table, no array of 64-bit indices for every row."""
    seen = np.zeros(n + 1, dtype=bool)  # the last slot takes the code -1
    for a in range(0, codes.size, 1 << 16):
        seen[codes[a:a + (1 << 16)]] = True
    return seen[:n]


def _n_vanished(data, df, col) -> int:
    """Levels of ``col`` (units, clusters) that only rows with a missing outcome have, and
    units that :func:`glmmix.wide_to_long` left without a row (every response missing)."""
    if col is None or col not in data.columns:
        return 0
    n = 0 if df is data else int(data[col].dropna().nunique() - df[col].nunique())
    if data.attrs.get("id") == col:
        gone = pd.Index(data.attrs.get("units_without_responses") or [])
        if len(gone):
            n += int((~gone.isin(pd.unique(data[col]))).sum())
    return n


def _fixed_matrix(rhs: str, df: pd.DataFrame, where: str, enc=None):
    """Model matrix of a fixed right-hand side (sparse when that pays: item dummies), its
    column names, term -> columns, and its fitted encoding (:mod:`glmmix.encoding`).

    With ``enc`` (a fitted encoding), ``df`` holds new rows, encoded as the fitted ones were.
    """
    new_rows = enc is not None
    if enc is None:
        X, spec = _model_matrix(rhs, df, where)
        names = list(spec.column_names)
        terms = {str(t): list(ix) for t, ix in spec.term_indices.items()}
        enc = freeze(spec, df, X, where)
    else:
        X, names, terms = enc.matrix(df, where), list(enc.columns), enc.term_indices
    values = X.data if sp.issparse(X) else X
    if not np.all(np.isfinite(values)):
        cols = X.tocsc() if sp.issparse(X) else X
        j = next(j for j in range(X.shape[1]) if not np.isfinite(
            cols[:, j].data if sp.issparse(cols) else cols[:, j]).all())
        col = cols[:, j].toarray().ravel() if sp.issparse(cols) else cols[:, j]
        raise DesignError(nonfinite_message(names[j], col, df, where))
    if sp.issparse(X):
        X.eliminate_zeros()
        used = np.diff(X.tocsc().indptr) > 0
    else:
        used = X.any(axis=0)
    zero = [names[j] for j in np.flatnonzero(~used) if not OFFSET_TERM.fullmatch(names[j])] \
        if X.shape[0] and not new_rows else []
    if zero:  # the likelihood does not depend on such a coefficient: not identified
        raise DesignError(
            f"column(s) {zero} of the {where} are zero in every row used: their coefficients are not "
            "identified; remove the term, or the empty combinations of its factors")
    nnz = X.nnz if sp.issparse(X) else np.count_nonzero(X)
    sparse = X.shape[1] >= 4 and nnz / max(X.shape[0] * X.shape[1], 1) < 0.3
    if sparse and not sp.issparse(X):
        X = sp.csr_matrix(X)
    elif sp.issparse(X):
        X = X.tocsr() if sparse else X.toarray()
    return X, names, terms, enc


#: rows of the sample that decides whether a model matrix is built sparse
_SAMPLE_ROWS = 2000
#: rows from which memory held by reference cycles is freed at once
_LARGE = 100_000


def _model_matrix(rhs: str, df: pd.DataFrame, where: str):
    """The model matrix of ``rhs`` on ``df`` (numpy, or scipy.sparse when a strided sample of
    the rows says it is mostly zeros: item dummies are never held dense) and its formulaic
    spec."""
    output = "numpy"
    if len(df) > 2 * _SAMPLE_ROWS:
        sub = df.iloc[np.linspace(0, len(df) - 1, _SAMPLE_ROWS).astype(np.intp)]
        try:
            S = np.asarray(Formula(rhs).get_model_matrix(sub, context=_CONTEXT, na_action="raise",
                                                            output="numpy"), dtype=float)
            if S.shape[1] >= 4 and np.count_nonzero(S) / max(S.size, 1) < 0.3:
                output = "sparse"
        except Exception:  # the full build below reports the error (or a sample-only quirk)
            pass
    built = matrix_by_chunks(rhs, df, output, _CONTEXT)
    if built is not None:
        return built
    try:
        with np.errstate(all="ignore"):  # a transform's NaN or inf is named below, with its rows
            mm = Formula(rhs).get_model_matrix(df, context=_CONTEXT, na_action="raise", output=output)
    except Exception as exc:
        raise build_error(exc, df, where, rhs) from None
    spec = mm.model_spec
    X = sp.csr_matrix(mm, dtype=float) if output == "sparse" else np.asarray(mm, dtype=float)
    if X is not mm and len(df) > _LARGE:
        # formulaic's matrix sits in reference cycles: free it now, not at the next collection
        del mm
        gc.collect()
    return X, spec


def _column_scale(X):
    """Root mean square of each column over its nonzero rows (scale for random starts)."""
    _, _, sq, nnz = column_sums(X)
    return np.sqrt(sq / np.maximum(nnz, 1)) + (nnz == 0)


def _check_unit_constant(df, unit, cols, cname):
    nun = df.groupby(unit, sort=False, observed=True)[cols].nunique(dropna=False)
    for col in cols:
        bad = nun.index[nun[col].to_numpy() > 1]
        if len(bad):
            raise DesignError(
                f"class covariate {col!r} varies within {unit!r} (e.g. {unit} = {plain(bad[0])!r}); "
                f"the class variable {cname}({unit}) can only be predicted by {unit}-level "
                "covariates: use a column that is constant within each unit"
            )


def _thresholds_absorb_intercept(X, names, terms):
    """Ordinal outcomes: the thresholds are the intercepts, so the outcome part's intercept
    column is dropped and factors keep their treatment contrasts (as R's clmm and polr do
    with ``rating ~ item``)."""
    if "Intercept" not in names:
        return X, names, terms
    j = names.index("Intercept")
    keep = [i for i in range(len(names)) if i != j]
    X = X[:, keep]
    names = [names[i] for i in keep]
    terms = {t: [i - (i > j) for i in ix if i != j] for t, ix in terms.items()}
    return X, names, {t: ix for t, ix in terms.items() if ix}


def _spans_constant(Xd, G) -> bool:
    """Whether the columns of ``Xd`` reproduce every column of the indicator matrix ``G``."""
    if Xd.shape[1] == 0:
        return False
    coef = np.linalg.lstsq(Xd, G, rcond=None)[0]
    return bool(np.abs(Xd @ coef - G).max() < 1e-8)


def _check_ordinal_design(X, names, terms, aux, outcome):
    """Refuse outcome-part terms that the thresholds already contain (a constant within each
    set of thresholds), naming the term and what to write instead."""
    if X.shape[1] == 0:
        return
    Xd = X.toarray() if sp.issparse(X) else X
    g = aux.threshold_group
    g = np.zeros(X.shape[0], np.intp) if g is None else g
    G = np.zeros((X.shape[0], int(g.max()) + 1))
    G[np.arange(X.shape[0]), g] = 1.0
    by = aux.threshold_by
    where = f"each level of {by!r}" if by else "the data"
    for term, ix in terms.items():
        if _spans_constant(Xd[:, ix], G):
            if by and all(np.ptp(Xd[g == k][:, ix], axis=0).max(initial=0) == 0 for k in range(G.shape[1])):
                raise FormulaError(
                    f"term {term!r} is constant within {where}, and thresholds_by={by!r} gives each level "
                    f"its own thresholds, which already contain it: remove {term!r}")
            raise FormulaError(
                f"the columns of term {term!r} add up to a constant within {where}: the ordinal thresholds "
                f"already act as intercepts. Write '{outcome} ~ {term} + ...' without '0 +' (treatment "
                f"contrasts, the thresholds absorbing the intercept, as R's clmm and polr do)")
    if _spans_constant(Xd, G):
        raise FormulaError(
            f"the outcome part's columns {names} add up to a constant within {where}, which the ordinal "
            "thresholds already are: drop '0 +' and one of the factors' full sets of dummies")


# ---------------------------------------------------------------------- several class variables
def _class_roles(formula, data, cluster_name, class_sizes):
    """Which class variables are within (one class per unit) and which between (per cluster).

    Between variables live at the clusters' level: the grouping column of the random terms,
    or, without random terms, the coarser of two class levels (the other nested in it).
    Every within variable must share one level (the unit).
    """
    classes = formula.classes
    levels = {c.name: c.level for c in classes}
    distinct = sorted({lv for lv in levels.values()}, key=lambda x: (x is None, str(x)))
    if cluster_name is None and len(distinct) == 2:
        a, b = distinct
        if b is None:
            cluster_name = a
        else:
            nested_ab = data.groupby(a, observed=True)[b].nunique().max() == 1
            cluster_name = b if nested_ab else a
            inner = a if nested_ab else b
            check_nested(data, inner, cluster_name)
    elif len(distinct) > 2 or (cluster_name is not None and len(distinct) > 2):
        raise NotImplementedError(
            f"class variables at more than two levels {distinct} are not supported; within-level "
            "variables must share one level and between-level variables sit at the clusters' level")
    between = [c.name for c in classes if cluster_name is not None and c.level == cluster_name]
    within = [c.name for c in classes if c.name not in between]
    if not within:
        raise NotImplementedError(
            f"every class variable {between} is at the cluster level {cluster_name!r}; with one "
            "level, write a single class variable")
    wl = {levels[n] for n in within}
    if len(wl) > 1:
        raise NotImplementedError(
            f"within-level class variables {within} sit at different levels {sorted(map(str, wl))}; "
            "they must share one level (e.g. all per person)")
    names = [c.name for c in classes]
    for c in classes:
        if c.name in between:
            bad = [p for p in c.parents if p in within]
            if bad:
                raise FormulaError(
                    f"between-level class variable {c.name!r} cannot be predicted by within-level "
                    f"class variable(s) {bad}: a cluster's class can only depend on cluster-level variables")
    sizes = dict(class_sizes or {})
    missing = [n for n in names if n not in sizes]
    if missing:
        raise DesignError(f"n_classes gives no number of classes for class variable(s) {missing}")
    for n in names:
        if int(sizes[n]) < 2:
            raise DesignError(f"class variable {n!r} needs at least 2 classes (got {sizes[n]})")
    return {"unit": wl.pop(), "cluster": cluster_name, "within": within, "between": between,
            "order": within + between}


def _measured_by_columns(measured_by, data):
    if measured_by is None:
        return set()
    if isinstance(measured_by, str):
        _missing_columns([measured_by], data, "argument measured_by")
        return {measured_by}
    if isinstance(measured_by, dict):
        import re

        cols = set()
        for sel in measured_by.values():
            if isinstance(sel, str):  # the columns a query string names
                names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sel))
                cols |= {c for c in data.columns if isinstance(c, str) and c in names}
        return cols
    raise DesignError("measured_by must be a column name or a dict {class variable: row selector}")


def measurement_order(col: pd.Series, name: str, within: list) -> list:
    """The values of a ``measured_by`` column in the order that maps them to the within-level
    class variables: numbers, booleans and dates sorted, categoricals in their categories'
    order. Text is refused: its alphabetical order maps "post" before "pre" (and "wave10"
    before "wave2"), which would silently reverse the transitions."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        present = set(pd.unique(col.dropna()))
        return [c for c in col.cat.categories if c in present]
    if (pd.api.types.is_numeric_dtype(col.dtype) or pd.api.types.is_bool_dtype(col.dtype)
            or pd.api.types.is_datetime64_any_dtype(col.dtype)):
        return sorted(pd.unique(col.dropna()))
    vals = list(pd.unique(col.dropna()))
    if len(vals) < 2:
        return vals
    raise DesignError(
        f"measured_by column {name!r} holds text ({', '.join(repr(plain(v)) for v in vals[:4])}), whose order "
        f"would decide which values measure {within}: make it numbers or an ordered categorical "
        f"(pd.Categorical(data[{name!r}], categories=[first, second, ...], ordered=True)), or give "
        f"measured_by={{{within[0]!r}: \"{name} == '...'\", ...}}")


def _measurement(formula, roles, measured_by, data, values=None, new_rows=False):
    """Boolean matrix (rows of ``data`` x class variables in ``roles['order']``): which class
    variables each row measures; ``values``: the sorted values of a ``measured_by`` column."""
    order = roles["order"]
    within, between = roles["within"], roles["between"]
    n = len(data)
    M = np.zeros((n, len(order)), bool)
    idx = {name: i for i, name in enumerate(order)}
    if measured_by is None:
        if len(within) > 1:
            raise DesignError(
                f"the formula has several within-level class variables {within}: say which rows "
                "measure which with measured_by='time' (a column whose sorted values map to "
                f"{within} in order) or measured_by={{'{within[0]}': 'time == 1', ...}}")
        M[:] = True
    elif isinstance(measured_by, str):
        col = data[measured_by]
        vals = values
        if pd.api.types.is_datetime64_any_dtype(col.dtype) and all(isinstance(v, str) for v in vals):
            vals = list(pd.to_datetime(vals))  # a results file keeps dates as ISO text
        unseen = sorted(set(pd.unique(col.dropna())) - set(vals))
        if unseen:
            raise DesignError(f"measured_by column {measured_by!r} has value(s) {[plain(v) for v in unseen[:10]]} not seen "
                              f"in fitting (the fitted values are {[plain(v) for v in vals]})")
        if len(vals) != len(within):
            raise DesignError(
                f"measured_by column {measured_by!r} has {len(vals)} distinct value(s) {[plain(v) for v in vals[:10]]} "
                f"but the formula has {len(within)} within-level class variables {within}: each value "
                "must measure one class variable, in order")
        for v, name in zip(vals, within):
            M[:, idx[name]] = (col == v).to_numpy()
        for name in between:
            M[:, idx[name]] = True
    else:
        unknown = [k for k in measured_by if k not in idx]
        if unknown:
            raise DesignError(f"measured_by names {unknown}, which are not class variables {order}")
        for name, sel in measured_by.items():
            if sel is True:
                m = np.ones(n, bool)
            elif isinstance(sel, str):
                try:
                    m = data.eval(sel)
                except Exception as exc:
                    raise DesignError(f"measured_by[{name!r}] = {sel!r} cannot be evaluated: {exc}") from None
                m = _row_selection(m, name, sel, n)
            else:
                m = _row_selection(sel, name, None, n)
            M[:, idx[name]] = m
    none = ~M.any(axis=1)
    if none.any():
        first = data.index[np.flatnonzero(none)[0]]
        raise DesignError(
            f"{int(none.sum())} row(s) (e.g. row {first!r}) are measured by no class variable; every "
            "outcome must belong to a class variable: check measured_by")
    for name in within if not new_rows else ():
        if not M[:, idx[name]].any():
            raise DesignError(f"no row measures class variable {name!r}: check measured_by")
    return M


def _group_codes(meas):
    """Measurement group of every row (codes) and the groups (tuples of variable indices)."""
    key = meas.astype(np.int64) @ (1 << np.arange(meas.shape[1], dtype=np.int64))
    codes, uniq = pd.factorize(key, sort=True)
    groups = [tuple(int(t) for t in range(meas.shape[1]) if (u >> t) & 1) for u in uniq]
    return np.asarray(codes, np.intp), groups


def _expand_by_group(X, x_names, x_terms, meas, roles):
    """One copy of the outcome design per measurement group (the set of class variables a
    row measures), so each group's coefficients can depend on its own classes only."""
    codes, groups = _group_codes(meas)
    if len(groups) == 1:
        return X, x_names, x_terms, np.zeros(len(x_names), np.intp), groups
    p = len(x_names)
    mats = []
    for g in range(len(groups)):
        D = sp.diags((codes == g).astype(float))
        mats.append(D @ (X if sp.issparse(X) else sp.csr_matrix(X)))
    Xe = sp.hstack(mats).tocsr()
    names = [x for _ in groups for x in x_names]
    terms = {t: [g * p + j for g in range(len(groups)) for j in cols] for t, cols in x_terms.items()}
    x_group = np.repeat(np.arange(len(groups)), p)
    # drop copies that no row of the group uses (e.g. item dummies of another time)
    used = np.asarray(abs(Xe).sum(axis=0)).ravel() > 0
    if not used.all():
        keep = np.flatnonzero(used)
        remap = -np.ones(Xe.shape[1], np.intp)
        remap[keep] = np.arange(keep.size)
        Xe = Xe[:, keep]
        names = [names[j] for j in keep]
        terms = {t: [int(remap[j]) for j in cols if remap[j] >= 0] for t, cols in terms.items()}
        x_group = x_group[keep]
    return Xe, names, terms, x_group, groups


def _check_parent_intercept(name, c, Z) -> None:
    """A logit with class-variable predictors needs an intercept (in the span of its columns).

    A parent class variable enters as K - 1 dummies against its last class, so without an
    intercept the logit of the parent's last class would be fixed at 0 (every class equally
    likely), a constraint no one means; R's ``~ 0 + f`` codes every level instead."""
    ones = np.ones(Z.shape[0])
    if Z.shape[1]:
        coef = np.linalg.lstsq(Z, ones, rcond=None)[0]
        if np.abs(Z @ coef - ones).max() < 1e-8:
            return
    parents = " + ".join(c.parents)
    raise FormulaError(
        f"the class part of {name!r} has class-variable predictors ({parents}) but no intercept: their "
        f"last classes would be held at a logit of 0 (equal probabilities), a constraint. Write "
        f"'{name} ~ 1 + {parents}' (a free logit for every class of {parents}, the same model as one "
        "logit per class)")


def _row_selection(sel, name, text, n) -> np.ndarray:
    """A measured_by selector as a boolean row mask: booleans, or 0/1 numbers; anything else
    (a column of values, ``"time"`` for ``"time == 2"``) is refused, not read as nonzero = True."""
    what = f"measured_by[{name!r}]" + (f" = {text!r}" if text is not None else "")
    try:
        v = pd.Series(np.asarray(sel) if not isinstance(sel, pd.Series) else sel.to_numpy())
    except Exception:
        v = None
    if v is None or v.ndim != 1 or len(v) != n:
        raise DesignError(f"{what} must select rows of the data (length {n}): True/False for each row")
    if v.dtype == bool:
        return v.to_numpy()
    num = pd.to_numeric(v, errors="coerce") if v.dtype != object or text is None else None
    bad = num is None or num.isna().any() or not num.isin([0, 1]).all()
    if bad:
        example = next((x for x in v if not (isinstance(x, (bool, np.bool_)) or x in (0, 1))), None)
        raise DesignError(f"{what} must give True or False for each row, not values such as {plain(example)!r}: "
                          "write a condition, e.g. 'time == 2'")
    return num.to_numpy() == 1


def _class_system(formula, df, starts, cluster_of_unit, roles, sizes, unit_name, cluster_name, fitted=None):
    """Class variables (within first, then between) with their logit designs, and the random
    logit blocks. Random intercepts of several variables' logits with the same grouping are
    one correlated block (eq 15's alpha_1, alpha_2)."""
    order = roles["order"]
    parts = {c.name: c for c in formula.classes}
    udf = df.iloc[starts]
    cstart = np.flatnonzero(np.r_[True, cluster_of_unit[1:] != cluster_of_unit[:-1]]) if cluster_name else None
    cdf = udf.iloc[cstart] if cluster_name else None
    variables = []
    for name in order:
        c = parts[name]
        between = name in roles["between"]
        cvars = sorted(_required(c.part.fixed, f"class part of {name!r}", df.columns,
                                 None if fitted is None else fitted.classes.vars[len(variables)].z_spec))
        level = cluster_name if between else unit_name
        if cvars and level is not None:
            _check_unit_constant(df, level, cvars, name)
        frame = cdf if between else udf
        Zm, zn, _, zspec = _fixed_matrix(c.part.fixed, frame, f"class part of {name!r}",
                                         None if fitted is None else fitted.classes.vars[len(variables)].z_spec)
        Z = compact(np.asarray(Zm.toarray() if sp.issparse(Zm) else Zm, dtype=float))
        del Zm
        if c.parents and fitted is None:
            _check_parent_intercept(name, c, Z)
        variables.append(ClassVar(name, int(sizes[name]), level, between, Z, zn, zspec,
                                  [order.index(p) for p in c.parents]))
    system = ClassSystem(variables, single=False)
    # random logit terms
    merged: dict = {}
    blocks = []
    for t, name in enumerate(order):
        c = parts[name]
        terms = random_terms(c.part)
        if terms and variables[t].between:
            raise FormulaError(
                f"random terms in the class part of the between-level variable {name!r} vary its "
                f"logits across clusters, but it has one class per cluster already: remove them")
        for term in terms:
            slots = system.slots[t]
            snames = [f"{name}#{k + 1}" for k in range(variables[t].K - 1)]
            if hasattr(term, "correlated") and term.correlated:
                key = (term.group, term.expr)
                if key in merged:
                    b = merged[key]
                    b.slots = b.slots + slots
                    b.slot_names = b.slot_names + snames
                    b.m = b.Z.shape[1] * len(b.slots)
                    b.d = b.m
                    b.term = b.term + " & " + f"{name}: {term}"
                    continue
            fb = None if fitted is None else fitted.re_cls[len(blocks)]
            Z, names, enc = term_matrix(term.expr, udf, term, "class", None if fb is None else fb.enc)
            if hasattr(term, "n_factors"):
                structure, d = "rr", term.n_factors
            else:
                structure, d = ("chol" if term.correlated else "diag"), Z.shape[1] * len(slots)
            m = Z.shape[1] * len(slots)
            if structure == "rr" and d > m:
                raise FormulaError(f"{term} asks for {d} factors but has only {m} loadings per factor")
            b = RandomBlock("class", term.group, structure if fb is None else fb.structure, Z, names, d, m,
                            f"{name}: {term}", slots=list(slots), slot_names=snames, enc=enc)
            blocks.append(b)
            if structure != "rr" and term.correlated:
                merged[(term.group, term.expr)] = b
    if fitted is None:
        check_repeated_effects(blocks)
    return system, blocks
