"""Summary tables for :class:`~glmmix.results.MixtureResults` (statsmodels ``Summary``).

Every line of the text is at most :data:`WIDTH` characters: the header block falls back to
one column when two do not fit, long formulas wrap, and tables too wide for the width drop
columns that other methods return in full (``conf_int()``, ``classification_table()``).
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from statsmodels.iolib.summary2 import Summary
from .exceptions import plain

#: the widest line of a summary's text
WIDTH = 100


def _fmt(x, d=4):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{d}f}"


def _titled(df, title):
    """Put a section title in the header of the label column."""
    out = df.copy()
    out.insert(0, title, list(out.index))
    return out.reset_index(drop=True)


def _width(df, header=True) -> int:
    """Characters of the widest line of ``df`` as a Summary table (columns one space apart)."""
    cols = [[str(c)] * header + [str(v) for v in df[c]] for c in df.columns]
    return sum(max(len(s) for s in col) for col in cols) + len(cols) - 1


def classes_text(sizes: dict, K: int) -> str:
    if len(sizes) < 2:
        return str(K)
    return ", ".join(f"{n}: {k}" for n, k in sizes.items()) + f" ({K} joint states)"


def measurement_text(res) -> str | None:
    """Which values of a ``measured_by`` column measure which class variable
    (``"time: 1 -> c1, 2 -> c2"``); None when the fit named no such column."""
    model = res.model if res.model is not None else res.stored_model
    d = getattr(model, "design", None)
    if d is None or not isinstance(d.measured_by, str) or not d.meas_values or d.classes is None:
        return None
    within = [v.name for v in d.classes.vars if not v.between]
    pairs = [f"{_value_text(v)} -> {n}" for v, n in zip(d.meas_values, within)]
    text = f"{d.measured_by}: " + ", ".join(pairs)
    if len(text) > 60 and len(pairs) > 2:  # many occasions: the first and the last, in order
        text = f"{d.measured_by}: {pairs[0]}, ..., {pairs[-1]} (in order)"
    return text


def _value_text(v) -> str:
    """A measured_by value as text: dates at midnight as dates (also as a results file keeps
    them, ISO text)."""
    if isinstance(v, str) and len(v) > 10 and v[4:5] == "-" and v[10:11] == "T" and not v[11:].strip("0:.T"):
        return v[:10]
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        t = pd.Timestamp(v)
        return t.date().isoformat() if t == t.normalize() else str(t)
    return str(plain(v))


def _irt_table(res):
    """The IRT parameterization of binary item response models (glmmix.irt), formatted; else None."""
    if res.family not in ("bernoulli", "ordinal"):
        return None
    from .exceptions import GlmmixError
    from .irt import irt_parameters

    try:
        tab = irt_parameters(res)
    except (GlmmixError, NotImplementedError, ValueError):
        return None
    out = tab.copy()
    out.index = [":".join(map(str, i)) if isinstance(i, tuple) else str(i) for i in tab.index]
    for col in out.columns:
        out[col] = [_fmt(v, 4) for v in tab[col]]
    out.attrs = dict(tab.attrs)
    return out


_RULES = {"agh": "Gauss-Hermite", "gh": "Gauss-Hermite", "trapezoid": "trapezoid", "laplace": "Laplace",
          "mc": "Monte Carlo", "qmc": "quasi-Monte Carlo"}


def _header(res) -> tuple[dict, dict]:
    """The header block: the model's description (left) and its fit (right)."""
    left = {
        "Family:": f"{res.family} ({res.link} link)",
        "Classes:": classes_text(res.class_sizes, res.n_classes),
        "Rows used:": str(res.nobs),
        "Rows dropped (no outcome):": str(res.n_dropped),
        f"Units ({res.unit_name or 'rows'}):": str(res.n_units),
        ("Pseudo log-likelihood:" if res.weighting and res.unit_freq is None else "Log-likelihood:"): _fmt(res.llf),
        "Parameters:": str(res.df_model),
    }
    if res.unit_name:
        left["Units dropped (no outcome):"] = str(res.n_units_dropped)
    measured = measurement_text(res)
    if measured:
        left["Measured by:"] = measured
    if res.cluster_name and res.classes_within_clusters:
        left[f"Clusters ({res.cluster_name}):"] = str(res.n_clusters)
    if res.integration:
        it = res.integration
        kind = "adaptive " if it["adaptive"] and it["method"] != "laplace" else ""
        rule = _RULES.get(it["method"], it["method"])
        exact = it["method"] == "laplace" and res.family == "gaussian"
        left["Integration:"] = ("exact (normal)" if exact else rule if it["method"] == "laplace"
                                else f"{kind}{rule}, {it['n_nodes']} nodes")
    if res.unit_freq is not None:
        w = res.weighting
        left["Frequency weights:"] = f"{w['freq_weights']} (sum {w['n_weighted']:.0f})"
    elif res.weighting:
        w = res.weighting
        left["Sampling weights:"] = ", ".join(
            f"{w[k]} ({lvl}, {w[sc]})" for k, sc, lvl in (("weights", "weight_scaling", "units"),
                                                          ("cluster_weights", "cluster_weight_scaling", "clusters"))
            if k in w)
    if res.n_missing_wide:
        left["Responses missing in wide data:"] = str(res.n_missing_wide)
    right = {
        "AIC:": _fmt(res.aic, 3),
        "BIC:": _fmt(res.bic, 3),
        "SABIC:": _fmt(res.sabic, 3),
        "Entropy:": _fmt(res.entropy, 3) if res.n_classes > 1 else "",
        "Converged:": "yes" if res.converged else "NO",
        "Max |gradient|:": f"{res.grad_max:.2e}",
        "Std. errors:": {"ml": "ML (observed info)", "robust": "robust (sandwich)"}.get(res.se_type, "none"),
        "Best LL replicated:": {True: f"yes ({res.n_best} starts)", False: "NO", None: "n/a"}[res.best_replicated],
    }
    if res.search is not None and res.search.mode != "single":
        sr = res.search
        left["Starts:"] = f"{sr.drawn} drawn, {sr.completed} completed"
        right["Starts converged:"] = f"{sr.converged} ({sr.seconds:.1f} s)"
        right["Best LL replicated:"] = (f"yes ({sr.n_best} starts)" if sr.best_replicated else
                                        f"NO ({sr.n_best} of {sr.completed})")
    return left, right


def _add_header(smry, res):
    """The formula (wrapped) and the header block, in two columns where they fit."""
    lines = textwrap.wrap(res.formula, WIDTH - len("Formula: "), break_long_words=False, break_on_hyphens=False)
    text = [("Formula: " if i == 0 else " " * len("Formula: ")) + ln for i, ln in enumerate(lines)]
    smry.add_df(pd.DataFrame({"formula": text}), header=False, index=False, align="l")
    left, right = _header(res)
    n = max(len(left), len(right))
    two = pd.concat([pd.DataFrame({"a": list(left), "b": list(left.values())}).reindex(range(n)),
                     pd.DataFrame({"c": list(right), "d": list(right.values())}).reindex(range(n))], axis=1).fillna("")
    if _width(two, header=False) > WIDTH:  # one column: the description, then the fit
        both = {**left, **right}
        two = pd.DataFrame({"a": list(both), "b": list(both.values())})
    smry.add_df(two, header=False, index=False)


def _add_coefficients(smry, res, alpha):
    """Coefficient tables by block; the confidence limits are left out of blocks whose labels
    are too long for them (``conf_int()`` has them all)."""
    tab = res.params_table(alpha)
    blocks = list(res.param_blocks)
    fmt = tab.copy()
    for col in fmt.columns:
        fmt[col] = [_fmt(v, 4) for v in tab[col]]
    for i in res.boundary:
        fmt.iloc[i, 1] = "boundary"
    titles = {
        "beta": "Outcome part" if res.n_classes > 1 else "Fixed effects",
        "extra": "Family parameters",
        "gamma": (f"Class logits (reference {res.class_name}{res.n_classes})" if len(res.class_sizes) < 2 else
                  "Class logits (reference: last classes)"),
        "re_out": "Random effects",
        "re_cls": "Random class logits",
    }
    for key in ("beta", "extra", "re_out", "gamma", "re_cls"):
        rows = [lab for lab, b in zip(tab.index, blocks) if b == key]
        if rows:
            part = _titled(fmt.loc[rows], titles[key])
            if _width(part) > WIDTH:
                part = part.iloc[:, :-2]
            smry.add_df(part, index=False)
    fixed = res.fixed_params
    if len(fixed):
        fx = pd.DataFrame({"value": [_fmt(v) for v in fixed]}, index=list(fixed.index))
        smry.add_df(_titled(fx, "Fixed parameters (not estimated)"), index=False)


def _add_classes(smry, res):
    """Class proportions and the classification table (its diagonal only where the full
    table is too wide: ``classification_table()`` has it all)."""
    cp = pd.DataFrame({"proportion": [_fmt(v) for v in res.class_proportions],
                       "std err": [_fmt(v) for v in res.class_proportions_se],
                       "posterior mean": [_fmt(v) for v in np.average(res.posterior, axis=0, weights=res.unit_weight)]},
                      index=res.class_proportions.index)
    smry.add_df(_titled(cp, "Class proportions (model-implied)"), index=False)
    ct = res.classification_table()
    cls = ct.drop(columns="n")
    out = pd.DataFrame({c: [_fmt(v, 3) for v in cls[c]] for c in cls.columns}, index=cls.index)
    whole = all(float(v).is_integer() for v in ct["n"])  # sampling weights: weighted counts
    units = "units" if whole else "weighted units"
    out[units] = [str(int(v)) if whole else f"{v:.1f}" for v in ct["n"]]
    out["entropy"] = [_fmt(v, 3) for v in res.entropy_by_class()]
    title = "Classification (mean posterior by modal class)"
    if _width(_titled(out, title)) > WIDTH:
        diag = pd.DataFrame({"own class": [_fmt(cls.iloc[k, k], 3) for k in range(len(cls))]}, index=cls.index)
        out = pd.concat([diag, out[[units, "entropy"]]], axis=1)
    smry.add_df(_titled(out, title), index=False)


def _add_maxima(smry, res):
    mx = res.search.maxima
    top = mx[:5]
    dt = pd.DataFrame({"starts": [str(m["starts"]) for m in top],
                       "from": [textwrap.shorten(", ".join(m["origins"]), 60, placeholder=" ...") for m in top]},
                      index=[f"{m['loglik']:.4f}" + (" (improper)" if m.get("improper") else "")
                             + (" (boundary limit)" if m.get("limits") else "") for m in top])
    title = (f"Distinct maxima of the starts ({len(mx)}"
             + (f"; {len(mx) - 5} lower not shown" if len(mx) > 5 else "") + ")")
    smry.add_df(_titled(dt, title), index=False)


def _notes(res) -> list[str]:
    notes = list(res.warnings)
    if res.limit is not None:
        notes.append(f"the posteriors, class proportions, predictions and standard errors are those of the limiting "
                     f"model {res.limit.formula!r} at this point (res.limit), where the integration rule cannot "
                     "resolve this model.")
    if res.n_dropped:
        notes.append(f"{res.n_dropped} row(s) with a missing outcome were dropped (ML under MAR).")
    if res.n_units_dropped:
        notes.append(f"{res.n_units_dropped} unit(s) of {res.unit_name or 'rows'!r} have no observed outcome "
                     "and are not in the model.")
    if res.n_clusters_dropped:
        notes.append(f"{res.n_clusters_dropped} cluster(s) of {res.cluster_name!r} have no observed outcome "
                     "and are not in the model.")
    for col, levels in res.dropped_levels.items():
        shown = ", ".join(levels[:10]) + (", ..." if len(levels) > 10 else "")
        notes.append(f"level(s) of {col!r} without an observed outcome get no parameter: {shown}.")
    return notes


def build_summary(res, alpha=0.05) -> Summary:
    """The summary of a :class:`~glmmix.results.MixtureResults` (``res.summary()``)."""
    smry = Summary()
    smry.add_title(f"glmmix: {res.model_name}")
    _add_header(smry, res)
    _add_coefficients(smry, res, alpha)
    der = res.derived()
    if len(der):
        dt = pd.DataFrame({"value": [_fmt(v) for v in der["value"]], "std err": [_fmt(v) for v in der["se"]]},
                          index=list(der.index))
        smry.add_df(_titled(dt, "Derived quantities (delta-method SEs)"), index=False)
    irt = _irt_table(res)
    if irt is not None:
        smry.add_df(_titled(irt, f"IRT {irt.attrs['model']}, theta ~ N(0, 1)"), index=False)
    if res.n_classes > 1:
        _add_classes(smry, res)
    if res.search is not None and res.search.mode != "single" and res.search.maxima:
        _add_maxima(smry, res)
    for note in _notes(res):  # one paragraph each (the text is wrapped to the tables' width)
        smry.add_text(f"Note: {note}")
    return smry
