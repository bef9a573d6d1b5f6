"""Figures of fitted models (matplotlib, the optional ``plot`` extra).

Every function returns the matplotlib ``Figure``; those drawing one panel accept ``ax=`` to
draw into an existing axes. Save with ``fig.savefig("name.png", dpi=200)``.

==========================  ==========================================================
``profile(res)``            item probabilities (or means) by class with intervals (poLCA)
``class_proportions(res)``  class proportions with intervals
``posterior_histogram(res)``  certainty of classification: max posterior per unit
``item_curves(res)``        item characteristic curves of IRT models (Rasch, 2PL, 3PL, FMA)
``caterpillar(res)``        random-effect scores (EAP +- 2 posterior SD), sorted
``transition_diagram(res)`` latent transition probabilities (LTA)
``bic_by_k(table)``         information criteria by number of classes
==========================  ==========================================================
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import special, stats

from .exceptions import GlmmixError
from .families import get_family

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from collections.abc import Sequence

    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from .results import MixtureResults
    from .selection import ClassEnumeration

#: colour cycle (Okabe-Ito, readable in grey and by colour-blind readers)
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _plt():
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("glmmix's plots need matplotlib: pip install 'glmmix[plot]'") from None
    return plt


def _axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    fig, ax = _plt().subplots(figsize=figsize, layout="constrained")
    return fig, ax


def short_label(name: str) -> str:
    """``item[T.u3]`` / ``item[u3]`` -> ``u3``; other names unchanged."""
    m = re.fullmatch(r"[^\[]*\[(?:T\.)?(.*)\]", name)
    return m.group(1) if m else name


def _title(res) -> str:
    return res.model_name


def _item_ticks(ax, x, labels):
    """Tick labels under ``x``, turned by 45 degrees when upright ones would overlap (measured
    on the drawn figure, not guessed from their lengths)."""
    ax.set_xticks(x, labels)
    fig = ax.figure
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    if any(a.x1 + 2 > b.x0 for a, b in zip(boxes, boxes[1:])):
        ax.set_xticks(x, labels, rotation=45, ha="right", rotation_mode="anchor")


def profile(res: MixtureResults, ax: Axes | None = None, alpha: float = 0.05, title: str | None = None) -> Figure:
    """Class profiles: each item's probability (or mean) in each class, poLCA style (ordinal
    items: each category's probability).

    Lines join the classes' values across items; bars are (1 - alpha) intervals from the
    delta-method SEs (none where an estimate is on the boundary); the legend gives each
    class's proportion.
    """
    prof = res.profile()
    classes = [c for c in prof.columns if not str(c).startswith("se:")]
    items = [short_label(str(i)) for i in prof.index]
    x = np.arange(len(items))
    fig, ax = _axes(ax, (max(4.5, 0.55 * len(items) + 2.5), 3.8))
    z = stats.norm.ppf(1 - alpha / 2)
    fam = get_family(res.family)
    binary = fam.uses_trials or fam.thresholds  # probabilities (ordinal: of each category): within [0, 1]
    n = len(classes)
    for k, c in enumerate(classes):
        v = prof[c].to_numpy(float)
        se = prof[f"se:{c}"].to_numpy(float) if f"se:{c}" in prof else np.full_like(v, np.nan)
        lo, hi = v - z * se, v + z * se
        if binary:
            lo, hi = np.clip(lo, 0, 1), np.clip(hi, 0, 1)
        shift = (k - (n - 1) / 2) * min(0.08, 0.3 / n)  # keep the bars of different classes apart
        p = res.class_proportions.get(c, np.nan)
        ax.plot(x + shift, v, color=COLORS[k % 8], marker=MARKERS[k % 8], ms=5, lw=1.4,
                label=f"{c} ({p:.0%})" if np.isfinite(p) else str(c), clip_on=False, zorder=3)
        ok = np.isfinite(se)
        ax.errorbar((x + shift)[ok], v[ok], yerr=np.vstack([v - lo, hi - v])[:, ok], fmt="none",
                    ecolor=COLORS[k % 8], elinewidth=1, capsize=2, clip_on=False, zorder=2)
    ax.set_xlim(-0.5, len(items) - 0.5)
    if binary:
        ax.set_ylim(0, 1)
        ax.set_ylabel("P(category | class)" if fam.thresholds else "P(y = 1 | class)")
    else:
        ax.set_ylabel("E(y | class)")
    ax.set_xlabel("item")
    ax.grid(axis="y", color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title if title is not None else _title(res), fontsize=10)
    _item_ticks(ax, x, items)  # last: the legend and title take their room first
    return fig


def class_proportions(res: MixtureResults, ax: Axes | None = None, alpha: float = 0.05) -> Figure:
    """Model-implied class proportions with (1 - alpha) intervals (delta-method SEs)."""
    p = res.class_proportions
    se = res.class_proportions_se.reindex(p.index).to_numpy(float)
    z = stats.norm.ppf(1 - alpha / 2)
    fig, ax = _axes(ax, (max(3.2, 0.8 * len(p) + 1.5), 3.2))
    x = np.arange(len(p))
    ax.bar(x, p.to_numpy(), color=[COLORS[k % 8] for k in range(len(p))], width=0.6)
    ok = np.isfinite(se)
    lo = np.clip(p.to_numpy() - z * se, 0, 1)
    hi = np.clip(p.to_numpy() + z * se, 0, 1)
    ax.errorbar(x[ok], p.to_numpy()[ok], yerr=np.vstack([p.to_numpy() - lo, hi - p.to_numpy()])[:, ok],
                fmt="none", ecolor="black", capsize=3, lw=1)
    for xi, v, h in zip(x, p.to_numpy(), np.where(ok, hi, p.to_numpy())):
        ax.annotate(f"{v:.2f}", (xi, h), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=8)
    ax.set_xticks(x, [str(c) for c in p.index])
    ax.set_ylim(0, min(1.0, max(hi.max(), p.max()) * 1.15 + 0.02))
    ax.set_ylabel("proportion")
    ax.set_title("Class proportions", fontsize=10)
    return fig


def posterior_histogram(res: MixtureResults, ax: Axes | None = None, bins: int = 20) -> Figure:
    """Classification certainty: each unit's largest posterior class probability, stacked by
    its most likely class; the relative entropy is in the title. Units count with their
    weights (frequency weights: copies; sampling weights: weighted counts), as the entropy
    and the classification table count them."""
    post = res.posterior
    K = post.shape[1]
    if K < 2:
        raise GlmmixError("posterior_histogram() needs a model with at least two classes")
    fig, ax = _axes(ax, (4.8, 3.2))
    pmax = post.max(axis=1).to_numpy()
    modal = post.to_numpy().argmax(axis=1)
    w = np.ones(len(pmax)) if res.unit_weight is None else np.asarray(res.unit_weight, float)
    edges = np.linspace(1.0 / K, 1.0, bins + 1)
    data = [pmax[modal == k] for k in range(K)]
    counts = [w[modal == k].sum() for k in range(K)]
    ax.hist(data, bins=edges, stacked=True, weights=[w[modal == k] for k in range(K)],
            color=[COLORS[k % 8] for k in range(K)], edgecolor="white", lw=0.4,
            label=[f"{c} (n = {n:.0f})" if np.all(w == np.round(w)) else f"{c} (weighted n = {n:.1f})"
                   for c, n in zip(post.columns, counts)])
    ax.set_xlim(1.0 / K, 1.0)
    ax.set_xlabel("largest posterior class probability")
    sampling = res.unit_weight is not None and res.unit_freq is None
    ax.set_ylabel(f"{'weighted ' if sampling else ''}units ({post.index.name or 'unit'})")
    ax.legend(frameon=False, fontsize=8, title="most likely class", title_fontsize=8, loc="upper left")
    ax.set_title(f"Classification certainty (entropy {res.entropy:.3f})", fontsize=10)
    return fig


def _inv_link(link):
    return stats.norm.cdf if link == "probit" else special.expit


def _irt(res):
    """(theta grid, {panel: {item: probabilities}}) of an IRT-type model."""
    theta = np.linspace(-4, 4, 161)
    info = (res.special_case or {}).get("three_pl")
    if info:  # g + (1 - g) F(a theta + tau): eq 48-50 with a = lambda_i2, b = -tau_i2 / a
        f = _inv_link(res.link)
        P, it, g_ = res.params, info["item"], info["id"]
        curves = {}
        for lev in info["levels"]:
            g = 1 / (1 + np.exp(-P[f"logit:class1:{it}[{lev}]"]))
            a, tau = P[f"class2:loading({g_}:{it}[{lev}])"], P[f"class2:{it}[{lev}]"]
            curves[str(lev)] = g + (1 - g) * f(tau + a * theta)
        return theta, {"": curves}
    if res.family not in ("bernoulli", "binomial"):
        raise GlmmixError("item_curves() needs binary items (family 'bernoulli')")
    P = res.params
    loads = {}
    for lab, v in P.items():
        m = re.fullmatch(r"(class\d+:)?loading\([^:]+:(.+)\)", lab)
        if m:
            loads[(m.group(1) or "", m.group(2))] = v
    items = sorted({it for _, it in loads}, key=lambda s: list(P.index).index(next(l for l in P.index if l.endswith(s))))
    sd = [v for lab, v in P.items() if re.fullmatch(r"sd\([^:]+:Intercept\)", lab)]
    if not loads:
        if len(sd) != 1:
            raise GlmmixError("item_curves() needs an IRT model: items with a random intercept "
                              "('y ~ 0 + item + (1 | id)') or a factor ('rr(0 + item | id, 1)')")
        items = [lab for lab in P.index if not re.match(r"(logit:|sd\(|class\d+:logit)", lab)
                 and not re.fullmatch(r"(class\d+:)?.*\(.*\)", lab)]
        items = list(dict.fromkeys(re.sub(r"^class\d+:", "", i) for i in items))
    f = _inv_link(res.link)
    panels = {}
    for k in range(res.n_classes):
        pre = f"class{k + 1}:" if res.n_classes > 1 else ""
        curves = {}
        for it in items:
            tau = P.get(pre + it, P.get(it))
            lam = loads.get((pre, it), loads.get(("", it))) if loads else sd[0]
            if tau is None or lam is None:
                continue
            curves[short_label(it)] = f(tau + lam * theta)
        panels[res.posterior.columns[k] if res.n_classes > 1 else ""] = curves
    return theta, panels


def item_curves(res: MixtureResults, axes: Sequence[Axes] | None = None) -> Figure:
    """Item characteristic curves P(y = 1 | theta) of an IRT model, theta in SD units.

    Rasch (``y ~ 0 + item + (1 | id)``: slopes = the SD), 2PL (``rr(0 + item | id, 1)``),
    the 3PL of :func:`glmmix.three_pl` (g + (1 - g) F(a (theta - b)), eq 48-50) and factor
    mixtures (one panel per class).
    """
    theta, panels = _irt(res)
    n = len(panels)
    ncol = -(-max(len(c) for c in panels.values()) // 14)  # legend columns of at most 14 items
    if axes is None:
        fig, axes = _plt().subplots(1, n, figsize=(4.2 * n + 1.2 * ncol, 3.4), sharey=True, layout="constrained",
                                    squeeze=False)
        axes = axes[0]
    else:
        axes = np.atleast_1d(axes)
        fig = axes[0].figure
    for ax, (name, curves) in zip(axes, panels.items()):
        for j, (it, p) in enumerate(curves.items()):
            ax.plot(theta, p, color=COLORS[j % 8], ls=["-", "--", ":", "-."][(j // 8) % 4], lw=1.4, label=it)
        ax.set_ylim(0, 1)
        ax.set_xlim(theta[0], theta[-1])
        ax.set_xlabel("latent trait (SD units)")
        ax.grid(color="0.92", lw=0.6)
        ax.set_title(name or _title(res), fontsize=10)
    axes[0].set_ylabel("P(y = 1 | trait)")
    axes[-1].legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), title="item",
                    title_fontsize=8, ncols=ncol)
    return fig


def caterpillar(res: MixtureResults, effect: str | None = None, ax: Axes | None = None,
                max_labels: int = 40, grouping: str | None = None) -> Figure:
    """Random-effect scores by cluster, sorted, +- 2 posterior SD (``res.random_effects()``):
    posterior means (EAP), or with Laplace integration conditional modes (lme4's
    ``dotplot(ranef(m, condVar = TRUE))``).

    One panel per effect (``(1 + x | g)``: the intercept and the slope, clusters on the same
    rows, sorted by the first) and, with random terms on several grouping columns, per
    grouping. ``effect`` names one column of ``random_effects()``, ``grouping`` one grouping
    column (crossed designs); ``ax`` draws one panel, so it needs a single (effect, grouping).
    """
    if not hasattr(res, "random_effects"):
        raise NotImplementedError("caterpillar() needs MixtureResults.random_effects() (EAP scores), "
                                  "which this version does not have")
    re_ = res.random_effects()
    names = [c for c in re_.columns if not str(c).startswith("sd:")]
    if effect is not None and effect not in names:
        raise GlmmixError(f"effect {effect!r} is not one of the random effects {names}")
    crossed = isinstance(re_.index, pd.MultiIndex) and "grouping" in re_.index.names
    groups = list(pd.unique(re_.index.get_level_values("grouping"))) if crossed else [None]
    if grouping is not None:
        if grouping not in groups:
            raise GlmmixError(f"grouping {grouping!r} is not one of the model's grouping columns "
                              f"{groups if crossed else [re_.index.name]}" if crossed else
                              f"grouping= picks one of several grouping columns (crossed random terms); this "
                              f"model's effects group by {re_.index.name!r} alone")
        groups = [grouping]
    panels = []
    for g in groups:
        sub = re_.xs(g, level="grouping") if crossed else re_
        own = [e for e in ([effect] if effect is not None else names) if sub[e].notna().any()]
        panels += [(g, sub.dropna(subset=own[:1]), e, own[0]) for e in own]
    if ax is not None and len(panels) > 1:
        raise GlmmixError(f"ax= draws one panel and this model has {len(panels)} (effects "
                          f"{sorted({p[2] for p in panels})}" + (f", groupings {groups}" if crossed else "")
                          + "): give effect=" + (" and grouping=" if crossed else "") + " to pick one")
    what = "conditional mode" if crossed or res.integration.get("method") == "laplace" else "EAP"
    n_max = max(len(p[1]) for p in panels)
    height = min(8.0, 2.0 + 0.12 * min(n_max, 60))
    if ax is None:
        fig, axes = _plt().subplots(1, len(panels), figsize=(min(4.2 * len(panels), 13.0), height),
                                    layout="constrained", squeeze=False)
        axes = list(axes[0])
    else:
        fig, axes = ax.figure, [ax]
    for a, (g, sub, e, first) in zip(axes, panels):
        _caterpillar_panel(a, sub, e, first, g, what, max_labels, labels=a is axes[0] or g != panels[0][0])
    axes[0].figure.suptitle(_title(res), fontsize=10)
    return fig


def _caterpillar_panel(ax, sub, effect, first, grouping, what, max_labels, labels):
    """One panel of :func:`caterpillar`: ``effect``'s scores of ``sub``'s clusters, sorted by
    ``first`` (the grouping's first effect, so its panels share their rows)."""
    est = sub[effect].to_numpy(float)
    sd = sub[f"sd:{effect}"].to_numpy(float) if f"sd:{effect}" in sub else np.zeros_like(est)
    order = np.argsort(sub[first].to_numpy(float), kind="stable")
    n = len(est)
    y = np.arange(n)
    thin = min(1.0, 100 / n)  # hundreds of clusters: thinner lines and points, so each stays visible
    ax.errorbar(est[order], y, xerr=2 * sd[order], fmt="o", ms=max(1.0, 2.5 * thin), color=COLORS[0],
                ecolor="0.6", elinewidth=max(0.25, 0.8 * thin), capsize=0)
    ax.axvline(0, color="0.5", lw=0.8, ls="--")
    label = str(grouping or sub.index.name or "cluster")
    if n <= max_labels and labels:
        ax.set_yticks(y, [str(i) for i in sub.index[order]], fontsize=7)
    else:
        ax.set_yticks([])
        label += f" ({n}, sorted by {'EAP' if what == 'EAP' else 'mode'})"
    ax.set_ylim(-1, n)
    ax.set_ylabel(label if labels else "")
    ax.set_xlabel(f"{effect}: {what} \u00b1 2 posterior SD")


def transition_diagram(res: MixtureResults, to: str | None = None, given: str | None = None, ax: Axes | None = None,
                       min_prob: float = 0.01) -> Figure:
    """Latent transition probabilities P(to = k | given = j) as arrows between the classes
    of two class variables (LTA, Section 4), widths proportional to the probability;
    class proportions in the boxes."""
    from .formula import parse_formula

    pf = parse_formula(res.formula)
    pairs = [(c.name, p) for c in pf.classes for p in c.parents]
    if not pairs:
        raise GlmmixError("transition_diagram() needs a model with a class variable predicted by another "
                          "(e.g. '| c1(id) ~ 1 | c2(id) ~ 1 + c1')")
    if to is None and given is None:
        to, given = pairs[0]
    elif (to, given) not in pairs:
        raise GlmmixError(f"no transition {given!r} -> {to!r}; the model has {[(g, t) for t, g in pairs]}")
    T = res.transition_matrix(to, given)
    der = res.derived()
    fig, ax = _axes(ax, (5.2, 1.2 + 1.1 * max(T.shape)))
    Kg, Kt = T.shape

    def ys(K):
        return np.linspace(0, -(K - 1), K) if K > 1 else np.zeros(1)

    yg, yt = ys(Kg), ys(Kt)
    for j in range(Kg):
        for k in range(Kt):
            p = T.iat[j, k]
            if p < min_prob:
                continue
            ax.annotate("", xy=(0.78, yt[k]), xytext=(0.22, yg[j]),
                        arrowprops=dict(arrowstyle="-|>", lw=0.5 + 6 * p, color=COLORS[j % 8], alpha=0.75,
                                        shrinkA=0, shrinkB=0, mutation_scale=8 + 8 * p))
            t = 0.3 if j != k else 0.5
            ax.text(0.22 + t * 0.56, yg[j] + t * (yt[k] - yg[j]), f"{p:.2f}", fontsize=8, ha="center", va="center",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))

    def box(x, y, label):
        q = der["value"].get(f"P({label})", np.nan)
        ax.text(x, y, label if not np.isfinite(q) else f"{label}\n{q:.2f}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.4", fc="0.95", ec="0.3"))

    for j, lab in enumerate(T.index):
        box(0.12, yg[j], str(lab))
    for k, lab in enumerate(T.columns):
        box(0.88, yt[k], str(lab))
    ax.text(0.12, 0.75, given, ha="center", fontsize=10, weight="bold")
    ax.text(0.88, 0.75, to, ha="center", fontsize=10, weight="bold")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(min(yg.min(), yt.min()) - 0.6, 1.05)
    ax.axis("off")
    ax.set_title(f"P({to} | {given})", fontsize=10)
    return fig


def bic_by_k(table: pd.DataFrame | ClassEnumeration, ax: Axes | None = None,
             criteria: Sequence[str] = ("AIC", "BIC", "SABIC")) -> Figure:
    """Information criteria against the number of classes, the minimum of each marked.

    ``table``: a DataFrame with one row per number of classes (the index, or a column
    ``K``/``classes``/``n_classes``) and columns such as ``AIC``, ``BIC``, ``SABIC``
    (``gm.enumerate_classes(...).table``, or :func:`glmmix.compare` of fits with K in the
    index), or an object with such a ``.table``.
    """
    tab = getattr(table, "table", table)
    if not isinstance(tab, pd.DataFrame):
        raise GlmmixError("bic_by_k() needs a DataFrame of information criteria by number of classes")
    kcol = next((c for c in ("K", "classes", "n_classes") if c in tab.columns), None)
    k = tab[kcol].to_numpy() if kcol else tab.index.to_numpy()
    try:
        k = np.asarray(k, float)
    except (TypeError, ValueError):
        raise GlmmixError("bic_by_k(): the number of classes must be the index or a column 'K'") from None
    crit = [c for c in criteria if c in tab.columns]
    if not crit:
        raise GlmmixError(f"bic_by_k(): the table has none of the columns {list(criteria)}; it has {list(tab.columns)}")
    fig, ax = _axes(ax, (4.6, 3.3))
    for j, c in enumerate(crit):
        v = tab[c].to_numpy(float)
        ax.plot(k, v, marker=MARKERS[j], color=COLORS[j], lw=1.4, ms=5, label=c, clip_on=False)
        i = int(np.nanargmin(v))
        ax.plot(k[i], v[i], marker=MARKERS[j], ms=12, mfc="none", mec=COLORS[j], mew=1.5, clip_on=False)
    ax.set_xticks(k, [f"{int(v)}" for v in k])
    ax.set_xlabel("number of classes")
    ax.set_ylabel("information criterion (lower is better)")
    ax.grid(color="0.92", lw=0.6)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title("Information criteria by number of classes\n(the minimum: a large open marker)", fontsize=9)
    return fig


def place_labels(ax: Axes, x: ArrayLike, y: ArrayLike, labels: Sequence[str], fontsize: float = 7,
                 marker_px: float = 4.0) -> None:
    """Annotate points with labels that overlap neither each other nor any point.

    Greedy placement in display coordinates: points in crowded places first, each label at
    the first free spot on rings of growing radius around its point (eight directions per
    ring), inside the axes; a thin line joins a label placed away from its point.
    ``marker_px`` is the markers' radius in pixels.
    """
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    pts = ax.transData.transform(np.column_stack([x, y]))
    probe = [ax.text(0, 0, s, fontsize=fontsize) for s in labels]
    sizes = np.array([[t.get_window_extent(r).width, t.get_window_extent(r).height] for t in probe])
    for t in probe:
        t.remove()
    bb = ax.get_window_extent(r)
    pad = 1.5
    dist = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    order = np.argsort(-(dist < 40).sum(axis=1), kind="stable")
    dirs = [(1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1)]
    placed = []

    def free(box, i):
        x0, y0, x1, y1 = box
        if x0 < bb.x0 + 1 or x1 > bb.x1 - 1 or y0 < bb.y0 + 1 or y1 > bb.y1 - 1:
            return False
        near = ((pts[:, 0] > x0 - marker_px) & (pts[:, 0] < x1 + marker_px)
                & (pts[:, 1] > y0 - marker_px) & (pts[:, 1] < y1 + marker_px))
        if near.any():
            return False
        return all(x1 + pad < a0 or a1 + pad < x0 or y1 + pad < b0 or b1 + pad < y0 for a0, b0, a1, b1 in placed)

    corners = np.zeros((len(labels), 2))
    moved = np.zeros(len(labels), bool)
    for i in order:
        w, h = sizes[i]
        first = None
        for ring, rad in enumerate((marker_px + 1, 8, 13, 20, 28, 38, 50, 65, 85, 110)):
            for dx, dy in dirs:
                x0 = pts[i, 0] + dx * rad - (w if dx < 0 else (w / 2 if dx == 0 else 0))
                y0 = pts[i, 1] + dy * rad - (h if dy < 0 else (h / 2 if dy == 0 else 0))
                box = (x0, y0, x0 + w, y0 + h)
                first = first or box
                if free(box, i):
                    break
            else:
                continue
            break
        else:
            box, ring = first, 0
        placed.append(box)
        corners[i] = box[:2]
        moved[i] = ring >= 2
    inv = ax.transData.inverted()
    out = []
    for i, s in enumerate(labels):
        xy = inv.transform(corners[i])
        out.append(ax.annotate(s, (x[i], y[i]), xytext=xy, textcoords="data", fontsize=fontsize, va="bottom",
                               ha="left", arrowprops=dict(arrowstyle="-", lw=0.4, color="0.55", shrinkA=0, shrinkB=2)
                               if moved[i] else None))
    return out
