"""Summary tables for :class:`~glmmix.results.MixtureResults` (statsmodels ``Summary``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.iolib.summary2 import Summary


def _fmt(x, d=4):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{d}f}"


def _titled(df, title):
    """Put a section title in the header of the label column."""
    out = df.copy()
    out.insert(0, title, list(out.index))
    return out.reset_index(drop=True)


def classes_text(sizes: dict, K: int) -> str:
    if len(sizes) < 2:
        return str(K)
    return ", ".join(f"{n}: {k}" for n, k in sizes.items()) + f" ({K} joint states)"


def _irt_table(res):
    """The IRT parameterization of binary item response models (glmmix.irt), formatted; else None."""
    if res.family != "bernoulli":
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


def build_summary(res, alpha=0.05) -> Summary:
    smry = Summary()
    smry.add_title(f"glmmix: {res.model_name}")
    left = {
        "Formula:": res.formula,
        "Family:": f"{res.family} ({res.link} link)",
        "Classes:": classes_text(res.class_sizes, res.n_classes),
        "Rows used:": str(res.nobs),
        "Rows dropped (missing outcome):": str(res.n_dropped),
        f"Units ({res.unit_name or 'rows'}):": str(res.n_units),
        ("Pseudo log-likelihood:" if res.weighting else "Log-likelihood:"): _fmt(res.llf),
        "Parameters:": str(res.df_model),
    }
    if res.unit_name:
        left["Units dropped (no outcome):"] = str(res.n_units_dropped)
    if res.cluster_name and res.classes_within_clusters:
        left[f"Clusters ({res.cluster_name}):"] = str(res.n_clusters)
    if res.integration:
        it = res.integration
        names = {"agh": "Gauss-Hermite", "gh": "Gauss-Hermite", "trapezoid": "trapezoid", "laplace": "Laplace",
                 "mc": "Monte Carlo", "qmc": "quasi-Monte Carlo"}
        kind = "adaptive " if it["adaptive"] and it["method"] != "laplace" else ""
        left["Integration:"] = f"{kind}{names.get(it['method'], it['method'])}, {it['n_nodes']} nodes"
    if res.weighting:
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
        "Std. errors:": {"ml": "ML (observed information)", "robust": "robust (sandwich)"}.get(res.se_type, "none"),
        "Best LL replicated:": {True: f"yes ({res.n_best} starts)", False: "NO", None: "n/a"}[res.best_replicated],
    }
    if res.search is not None and res.search.mode != "single":
        sr = res.search
        left["Starts:"] = f"{sr.drawn} drawn, {sr.completed} completed, {sr.converged} converged ({sr.seconds:.1f} s)"
        right["Best LL replicated:"] = (f"yes ({sr.n_best} starts)" if sr.best_replicated else
                                        f"NO ({sr.n_best} of {sr.completed})")
    info = pd.DataFrame({"a": list(left.keys()), "b": list(left.values())})
    info2 = pd.DataFrame({"c": list(right.keys()), "d": list(right.values())})
    n = max(len(info), len(info2))
    info = info.reindex(range(n)).fillna("")
    info2 = info2.reindex(range(n)).fillna("")
    smry.add_df(pd.concat([info, info2], axis=1), header=False, index=False)
    tab = res.params_table(alpha)
    blocks = list(res.param_blocks)
    fmt = tab.copy()
    for col in fmt.columns:
        fmt[col] = [_fmt(v, 4) for v in tab[col]]
    for i in res.boundary:
        fmt.iloc[i, 1] = "boundary"
    titles = {
        "beta": "Outcome part (class-specific unless shared)" if res.n_classes > 1 else "Fixed effects",
        "extra": "Family parameters",
        "gamma": (f"Class membership: multinomial logits, reference {res.class_name}{res.n_classes}"
                  if len(res.class_sizes) < 2 else
                  "Class membership: recursive multinomial logits, reference the last class of each"),
        "re_out": "Random effects (SDs, correlations, loadings)",
        "re_cls": "Random class logits (SDs, correlations, loadings)",
    }
    for key in ("beta", "extra", "re_out", "gamma", "re_cls"):
        rows = [lab for lab, b in zip(tab.index, blocks) if b == key]
        if rows:
            smry.add_df(_titled(fmt.loc[rows], titles[key]), index=False)
    der = res.derived()
    if len(der):
        dt = pd.DataFrame({"value": [_fmt(v) for v in der["value"]], "std err": [_fmt(v) for v in der["se"]]},
                          index=list(der.index))
        smry.add_df(_titled(dt, "Derived quantities (delta-method SEs)"), index=False)
    irt = _irt_table(res)
    if irt is not None:
        smry.add_df(_titled(irt, f"IRT {irt.attrs['model']}, theta ~ N(0, 1)"), index=False)
    if res.n_classes > 1:
        cp = pd.DataFrame({"proportion": [_fmt(v) for v in res.class_proportions],
                           "std err": [_fmt(v) for v in res.class_proportions_se],
                           "posterior mean": [_fmt(v) for v in res.posterior.mean()]},
                          index=res.class_proportions.index)
        smry.add_df(_titled(cp, "Class proportions (model-implied; delta-method SEs)"), index=False)
        ct = res.classification_table()
        ent = res.entropy_by_class()
        cls = ct.drop(columns="n")
        out = pd.DataFrame({c: [_fmt(v, 3) for v in cls[c]] for c in cls.columns}, index=cls.index)
        out["units"] = [str(int(v)) for v in ct["n"]]
        out["entropy"] = [_fmt(v, 3) for v in ent]
        smry.add_df(_titled(out, "Classification (mean posterior by modal class)"), index=False)
    if res.search is not None and res.search.mode != "single" and res.search.maxima:
        mx = res.search.maxima
        top = mx[:5]
        dt = pd.DataFrame({"starts": [str(m["starts"]) for m in top],
                           "from": [", ".join(m["origins"]) for m in top]},
                          index=[f"{m['loglik']:.4f}" for m in top])
        title = (f"Distinct maxima of the completed starts ({len(mx)}; best first"
                 + (f", {len(mx) - 5} lower not shown" if len(mx) > 5 else "") + ")")
        smry.add_df(_titled(dt, title), index=False)
    notes = list(res.warnings)
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
    if notes:
        smry.add_text("\n".join(f"Note: {t}" for t in notes))
    return smry
