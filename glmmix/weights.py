"""Sampling weights: pseudo-maximum likelihood (Mplus's WEIGHT / BWEIGHT with MLR).

The log-likelihood becomes a weighted sum over independent units,

    single level:  log L = sum_u w_u log L_u
    two levels:    log L = sum_g w_g log int phi(u) prod_{units i in g} L_i(u)^{w_i|g} du

(Asparouhov 2006, "General multi-level modeling with sampling weights", Communications in
Statistics 35: 439-460): ``weights`` are the weights of the class variable's units (rows
when classes or outcomes are per row), ``cluster_weights`` those of the clusters (the
random terms' grouping) in two-level models. In the engine one weight per unit multiplies
its contribution everywhere (log-likelihood, gradient, EM statistics, scores), and the
pattern compression counts weighted units. Standard errors are the sandwich
(``se="robust"``, the default with weights).

Frequency weights (``freq_weights``) are counts of identical independent units (clusters in
two-level models): the likelihood is that of the data with every unit repeated, so the
observed information gives the SEs (the default), the sandwich's middle term counts each
unit's score outer product once per copy, and BIC's n, the entropy and the class
proportions count the copies. They are positive integers and are not scaled.

Scaling (Asparouhov 2006, Section 3; Mplus's WTSCALE and BWTSCALE):

* ``weight_scaling`` for single-level models: ``"sample"`` (default: scaled to sum to the
  number of units, as Mplus's single-level default and R's ``survey::svyglm``, whose
  ``rescale = TRUE`` scales them to mean 1) or ``"unscaled"``. Estimates and sandwich SEs
  do not depend on it; the log-likelihood does, and so do AIC, BIC and SABIC: weights
  summing to a population size N would multiply the log-likelihood by about N / n while
  the penalties count the n units of the sample.
* ``weight_scaling`` for within-cluster weights of two-level models: ``"cluster"``
  (default, Mplus's WTSCALE=CLUSTER: scaled to sum to the cluster's sample size),
  ``"ecluster"`` (to the effective cluster size (sum w)^2 / sum w^2, WTSCALE=ECLUSTER) or
  ``"unscaled"``. Unscaled within weights bias the variance components in small clusters;
  the scaled ones are approximately unbiased (Asparouhov 2006; Pfeffermann et al. 1998).
* ``cluster_weight_scaling``: ``"sample"`` (default, BWTSCALE=SAMPLE: scaled to sum to the
  number of clusters) or ``"unscaled"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .exceptions import DesignError, plain

WITHIN_SCALINGS = ("cluster", "ecluster", "unscaled")
SINGLE_SCALINGS = ("sample", "unscaled")
CLUSTER_SCALINGS = ("sample", "unscaled")


def check_arguments(data, weights, cluster_weights, weight_scaling, cluster_weight_scaling, freq_weights=None):
    """Argument checks before any computation: columns exist, scalings are known."""
    if freq_weights is not None and (weights is not None or cluster_weights is not None):
        raise DesignError("give frequency weights (freq_weights=) or sampling weights (weights=, cluster_weights=), "
                          "not both")
    for arg, col in (("weights", weights), ("cluster_weights", cluster_weights), ("freq_weights", freq_weights)):
        if col is None:
            continue
        if not isinstance(col, str):
            raise DesignError(f"{arg} must be the name of a column, not {type(col).__name__}")
        if col not in data.columns:
            raise DesignError(f"column {col!r} given as {arg} is not in the data; available columns: "
                              f"{list(data.columns)}")
        if not pd.api.types.is_numeric_dtype(data[col]) or pd.api.types.is_bool_dtype(data[col]):
            raise DesignError(f"{arg} column {col!r} must be numeric, not {data[col].dtype}")
    allowed = WITHIN_SCALINGS + SINGLE_SCALINGS
    if weight_scaling is not None and weight_scaling not in allowed:
        raise DesignError(f"weight_scaling must be one of {sorted(set(allowed))}, not {weight_scaling!r}")
    if cluster_weight_scaling not in CLUSTER_SCALINGS:
        raise DesignError(f"cluster_weight_scaling must be one of {CLUSTER_SCALINGS}, not {cluster_weight_scaling!r}")
    if weights is None and weight_scaling is not None:
        raise DesignError("weight_scaling needs weights=")
    if cluster_weights is None and cluster_weight_scaling != "sample":
        raise DesignError("cluster_weight_scaling needs cluster_weights=")


def _values(df, col, arg):
    v = df[col].to_numpy(dtype=float)
    bad = ~np.isfinite(v) | (v <= 0)
    if bad.any():
        raise DesignError(f"{arg} column {col!r} has {int(bad.sum())} value(s) that are not positive and finite "
                          f"(e.g. {plain(v[bad][0])!r}); drop units with weight zero from the data")
    return v


def _constant(v, first, code, col, level, ids, arg):
    """Values per group from rows (groups are contiguous runs starting at ``first``)."""
    per = v[first]
    diff = v != per[code]
    if diff.any():
        g = code[np.flatnonzero(diff)[0]]
        raise DesignError(f"{arg} column {col!r} varies within {level} (e.g. {level} = {plain(ids[g])!r}); "
                          f"{arg} must be constant within each {level}")
    return per


def frequency_weighted(design) -> bool:
    """Whether a design's weights are frequency weights."""
    return bool(design.weighting) and "freq_weights" in design.weighting


def unit_weights(design) -> np.ndarray | None:
    """Each unit's weight as the likelihood counts it (frequency or sampling; in two-level
    models the unit's within-cluster weight times its cluster's), None without weights."""
    uw, cw = design.unit_weight, design.cluster_weight
    if uw is None and cw is None:
        return None
    w = np.ones(design.n_units) if uw is None else np.asarray(uw, dtype=float)
    return w * np.asarray(cw, dtype=float)[design.cluster_of_unit] if cw is not None else w


def score_copies(design) -> np.ndarray | None:
    """Frequency weights: how many copies each independent unit's (cluster's) score stands for."""
    if not frequency_weighted(design):
        return None
    return design.cluster_weight if design.cluster_weight is not None else design.unit_weight


def _frequency(df, unit_of_row, unit_starts, unit_ids, unit_level, cluster_of_unit, cluster_ids, cluster_name,
               two_level, col):
    v = _values(df, col, "freq_weights")
    if not np.all(v == np.round(v)):
        bad = v[v != np.round(v)][0]
        raise DesignError(f"freq_weights column {col!r} has non-integer value(s) (e.g. {plain(bad)!r}): frequency weights "
                          "count identical units; sampling weights go in weights=")
    per_unit = _constant(v, unit_starts, unit_of_row, col, unit_level, unit_ids, "freq_weights")
    if not two_level:
        return per_unit, None
    first = np.r_[0, np.flatnonzero(np.diff(cluster_of_unit)) + 1]
    per_cluster = _constant(per_unit, first, cluster_of_unit, col, cluster_name, cluster_ids, "freq_weights")
    return None, per_cluster


def sampling_weights(df, unit_of_row, unit_starts, unit_ids, unit_name, cluster_of_unit, cluster_ids,
                     cluster_name, two_level, weights, cluster_weights, weight_scaling, cluster_weight_scaling,
                     freq_weights=None):
    """Scaled unit and cluster weights for the design's sorted rows: (unit (U,) or None,
    cluster (G,) or None, a description {argument: column or scaling} or None)."""
    if freq_weights is not None:
        unit_level = unit_name if unit_name is not None else "row"
        uw, cw = _frequency(df, unit_of_row, unit_starts, unit_ids, unit_level, cluster_of_unit, cluster_ids,
                            cluster_name, two_level, freq_weights)
        total = (uw if cw is None else cw).sum()
        return uw, cw, {"freq_weights": freq_weights, "n_weighted": float(total)}
    uw = cw = None
    info = {}
    unit_level = unit_name if unit_name is not None else "row"
    if weights is not None:
        uw = _constant(_values(df, weights, "weights"), unit_starts, unit_of_row, weights, unit_level,
                       unit_ids, "weights")
        scaling = weight_scaling or ("cluster" if two_level else "sample")
        info.update(weights=weights, weight_scaling=scaling)
        if two_level:
            if scaling not in WITHIN_SCALINGS:
                raise DesignError(f"weight_scaling={scaling!r} is for single-level models; within-cluster "
                                  f"weights take {WITHIN_SCALINGS}")
            G = cluster_ids.shape[0]
            s1 = np.bincount(cluster_of_unit, uw, G)
            if scaling != "unscaled":
                first = np.r_[0, np.flatnonzero(np.diff(cluster_of_unit)) + 1]
                const = np.allclose(uw, uw[first][cluster_of_unit], rtol=1e-12, atol=0)
                if const:
                    raise DesignError(
                        f"weights column {weights!r} is constant within every cluster of {cluster_name!r}, so "
                        f"scaling it within clusters ({scaling!r}) would make every weight 1: weights of whole "
                        f"clusters go in cluster_weights={weights!r}")
            if scaling == "cluster":
                uw = uw * (np.bincount(cluster_of_unit, minlength=G) / s1)[cluster_of_unit]
            elif scaling == "ecluster":
                uw = uw * (s1 / np.bincount(cluster_of_unit, uw * uw, G))[cluster_of_unit]
        else:
            if scaling not in SINGLE_SCALINGS:
                raise DesignError(f"weight_scaling={scaling!r} is for within-cluster weights of two-level models; "
                                  f"single-level models take {SINGLE_SCALINGS}")
            if scaling == "sample":
                uw = uw * uw.size / uw.sum()
    if cluster_weights is not None:
        if not two_level:
            raise DesignError("cluster_weights need a two-level model (units nested in the clusters of random "
                              "terms or between-level classes); for independent units use weights=")
        per_unit = _constant(_values(df, cluster_weights, "cluster_weights"), unit_starts, unit_of_row,
                             cluster_weights, unit_level, unit_ids, "cluster_weights")
        first = np.r_[0, np.flatnonzero(np.diff(cluster_of_unit)) + 1]
        cw = _constant(per_unit, first, cluster_of_unit, cluster_weights, cluster_name, cluster_ids,
                       "cluster_weights")
        if cluster_weight_scaling == "sample":
            cw = cw * cw.size / cw.sum()
        info.update(cluster_weights=cluster_weights, cluster_weight_scaling=cluster_weight_scaling)
    return uw, cw, (info or None)


def refuse_weighted(res, what: str) -> None:
    """``what`` (a procedure on a fitted model) does not use weights yet: refuse weighted fits."""
    w = getattr(res, "weighting", None)
    if not w:
        return
    if "freq_weights" in w:
        col = w["freq_weights"]
        raise NotImplementedError(
            f"{what} does not use frequency weights yet: fit the data with every unit repeated "
            f"(data.loc[data.index.repeat(data[{col!r}])], with a new unit id per copy) instead")
    raise NotImplementedError(f"{what} does not use sampling weights yet; it would treat the weighted units as a "
                              "simple random sample")
