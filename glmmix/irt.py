"""IRT parameters of item response models written as GLMMs, and item characteristic curves.

A one-factor item response model is a GLMM with item dummies and a person factor,

    eta_ij = tau_i + lambda_i theta_j,   theta_j ~ N(0, 1),

spelled ``y ~ 0 + item + rr(0 + item | id, 1)`` (2PL: one loading per item) or
``y ~ 0 + item + (1 | id)`` (Rasch: one SD sigma shared by the items, lambda_i = sigma). In the
usual IRT form ``P(y = 1 | theta) = F(a_i (theta - b_i))`` the discrimination is
``a_i = lambda_i`` and the difficulty ``b_i = -tau_i / lambda_i`` (the parameterization of
R's ltm, where the Rasch model's common discrimination is estimated with theta ~ N(0, 1)).
``F`` is the model's inverse link (logistic or normal). With latent classes (mixture IRT,
``| class(id) ~ 1``) each class has its own a_i and b_i. The 3PL (:func:`glmmix.three_pl`)
adds the guessing parameter g_i (eq 48-50). Ordinal items with their own thresholds,
``y ~ rr(0 + item | id, 1)`` with ``family="ordinal", thresholds_by="item"``, are Samejima's
graded response model: a_i = lambda_i and one b_ik = tau_ik / lambda_i per category boundary.

Standard errors are by the delta method from the estimates' covariance.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from .exceptions import GlmmixError
from .inference import delta_cov

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from numpy.typing import ArrayLike

    from .results import MixtureResults


class IRTError(GlmmixError, ValueError):
    """The model is not an item response model that irt_parameters() can read."""


_LOADING = re.compile(r"^(?:(?P<cls>[^:()]+\d+):)?loading\((?P<id>[^:()]+):(?P<item>[^\[\]]+)\[(?P<level>.*)\]\)$")
_SD = re.compile(r"^(?:(?P<cls>[^:()]+\d+):)?sd\((?P<id>[^:()]+):Intercept\)$")


def _structure(res):
    """(kind, item column, levels, classes, label triples per class and item)."""
    names = list(res.params.index)
    if any(re.match(r"^(?:[^:()]+:)?loading\d+\(", n) for n in names):
        raise NotImplementedError("irt_parameters() handles one-factor models (rr(... , 1)); a model with "
                                  "several factors has no single discrimination per item")
    loads = [m for m in map(_LOADING.match, names) if m]
    sds = [m for m in map(_SD.match, names) if m]
    classes = list(res.posterior.columns)
    K = len(classes)
    if loads:
        kind = "2PL"
        item = loads[0]["item"]
        levels = list(dict.fromkeys(m["level"] for m in loads if m["item"] == item))
        ident = loads[0]["id"]
    elif sds and len({m["id"] for m in sds}) == 1:
        kind = "Rasch"
        ident = sds[0]["id"]
        hits = [re.match(r"^(?:[^:()]+\d+:)?(?P<item>[^:\[\]()]+)\[(?P<level>.*)\]$", n) for n in names]
        hits = [h for h in hits if h]
        if not hits:
            raise IRTError("irt_parameters() needs item dummies in the outcome part ('y ~ 0 + item + (1 | id)')")
        item = hits[0]["item"]
        levels = list(dict.fromkeys(h["level"] for h in hits if h["item"] == item))
    else:
        raise IRTError("irt_parameters() needs an item response model: 'y ~ 0 + item + rr(0 + item | id, 1)' "
                       "(2PL), 'y ~ 0 + item + (1 | id)' (Rasch) or a glmmix.three_pl() result")
    if any(n == "Intercept" or n.endswith(":Intercept") and not n.startswith("logit:") for n in names):
        raise IRTError("irt_parameters() needs one threshold per item: drop the intercept ('y ~ 0 + item + ...')")

    def lab(k, base):
        pre = f"{classes[k]}:{base}"
        if K > 1 and pre in res.params.index:
            return pre
        if base in res.params.index:
            return base
        return None  # fixed or absent

    triples = []
    for k in range(K):
        row = []
        for lev in levels:
            tau = lab(k, f"{item}[{lev}]")
            lam = lab(k, f"loading({ident}:{item}[{lev}])" if kind == "2PL" else f"sd({ident}:Intercept)")
            if tau is None or lam is None:
                raise IRTError(f"irt_parameters() needs the threshold and the loading of item {lev!r} as free "
                               "parameters (a fixed one is not supported)")
            row.append((tau, lam))
        triples.append(row)
    return kind, item, levels, classes, triples


def _delta(res, labels, f):
    """``f`` of the parameters ``labels`` and its delta-method SEs (NaN without a covariance)."""
    p = res.params[labels].to_numpy(dtype=float)
    try:
        V = res.cov_params().loc[labels, labels].to_numpy()
    except GlmmixError:
        V = np.full((len(labels), len(labels)), np.nan)
    return f(p), np.sqrt(np.clip(np.diag(delta_cov(f, p, V)), 0, None))


def irt_parameters(res: MixtureResults) -> pd.DataFrame:
    """Discrimination a and difficulty b (and guessing g for the 3PL) with delta-method SEs.

    For the 2PL (``y ~ 0 + item + rr(0 + item | id, 1)``) and the Rasch model
    (``y ~ 0 + item + (1 | id)``): a_i = lambda_i, b_i = -tau_i / lambda_i with theta ~ N(0, 1)
    (module docstring); rows are items, and with several classes (mixture IRT) the index is
    (class, item). For a :func:`glmmix.three_pl` result: g_i, a_i, b_i (eq 48-50).
    """
    from .special import three_pl_parameters

    if "three_pl" in (res.special_case or {}):
        return three_pl_parameters(res)
    if getattr(res, "family", None) == "ordinal":
        return _graded_parameters(res)
    kind, item, levels, classes, triples = _structure(res)
    labels = list(dict.fromkeys(lab for row in triples for pair in row for lab in pair))
    pos = {lab: i for i, lab in enumerate(labels)}
    it = np.array([[pos[t] for t, _ in row] for row in triples]).ravel()
    il = np.array([[pos[m] for _, m in row] for row in triples]).ravel()
    def f(v):
        a = v[il]
        return np.concatenate([a, -v[it] / a])

    n = it.size
    est, se = _delta(res, labels, f)
    if len(classes) > 1:
        index = pd.MultiIndex.from_product([classes, levels], names=["class", item])
    else:
        index = pd.Index(levels, name=item)
    out = pd.DataFrame({"a": est[:n], "se(a)": se[:n], "b": est[n:], "se(b)": se[n:]}, index=index)
    out.attrs["model"] = kind
    out.attrs["link"] = res.link
    return out


_THRESHOLD = re.compile(r"^(?:(?P<cls>[^:()]+\d+):)?threshold\[(?P<level>.*):(?P<k>\d+)\]$")


def _graded_parameters(res) -> pd.DataFrame:
    """Samejima's graded response model: ``ordinal`` items with their own thresholds
    (``thresholds_by="item"``) and a person factor, P(y >= k + 1 | theta) = F(a_i (theta -
    b_ik)) with a_i = lambda_i and b_ik = tau_ik / lambda_i (glmmix's cumulative form
    P(y <= k) = F(tau_ik - lambda_i theta)); with ``(1 | id)`` one a for every item."""
    names = list(res.params.index)
    if any(re.match(r"^(?:[^:()]+:)?loading\d+\(", n) for n in names):
        raise NotImplementedError("irt_parameters() handles one-factor models (rr(... , 1)); a model with "
                                  "several factors has no single discrimination per item")
    thr = [m for m in map(_THRESHOLD.match, names) if m]
    loads = {(m["cls"], m["level"]): m.string for m in map(_LOADING.match, names) if m}
    sds = [m for m in map(_SD.match, names) if m]
    if not thr or not (loads or len({m["id"] for m in sds}) == 1):
        raise IRTError("irt_parameters() reads a graded response model as 'y ~ rr(0 + item | id, 1)' (or "
                       "'y ~ (1 | id)') with family='ordinal' and thresholds_by='item'")
    if [n for n in names if res.param_blocks[n] == "beta"]:
        raise IRTError("irt_parameters() needs a graded response model without fixed effects in the outcome "
                       "part (its thresholds are the items' intercepts)")
    classes = list(res.posterior.columns)
    levels = list(dict.fromkeys(m["level"] for m in thr))
    m_cat = max(int(m["k"]) for m in thr)

    def lab(k, base):
        pre = f"{classes[k]}:{base}"
        if len(classes) > 1 and pre in res.params.index:
            return pre
        if base in res.params.index:
            return base
        raise IRTError(f"irt_parameters() needs {base!r} as a free parameter (a fixed one is not supported)")

    item = res.family_params_by or "item"

    def lam(k, lev):
        if not loads:
            return lab(k, f"sd({sds[0]['id']}:Intercept)")
        hit = loads.get((classes[k], lev)) or loads.get((None, lev))
        if hit is None:
            raise IRTError(f"irt_parameters() needs the loading of item {lev!r} as a free parameter (a fixed "
                           "one is not supported)")
        return hit

    rows = [[(tuple(lab(k, f"threshold[{lev}:{j + 1}]") for j in range(m_cat)), lam(k, lev))
             for lev in levels] for k in range(len(classes))]
    labels = list(dict.fromkeys([t for row in rows for taus, lam in row for t in (*taus, lam)]))
    pos = {lb: i for i, lb in enumerate(labels)}
    il = np.array([pos[lam] for row in rows for _, lam in row])
    it = np.array([[pos[t] for t in taus] for row in rows for taus, _ in row])  # (items, m)
    def f(v):
        a = v[il]
        return np.concatenate([a, (v[it] / a[:, None]).ravel()])

    n = il.size
    est, se = _delta(res, labels, f)
    b, sb = est[n:].reshape(n, m_cat), se[n:].reshape(n, m_cat)
    cols = {"a": est[:n], "se(a)": se[:n]}
    for j in range(m_cat):
        cols[f"b{j + 1}"] = b[:, j]
        cols[f"se(b{j + 1})"] = sb[:, j]
    index = (pd.MultiIndex.from_product([classes, levels], names=["class", item]) if len(classes) > 1
             else pd.Index(levels, name=item))
    out = pd.DataFrame(cols, index=index)
    out.attrs["model"] = "graded response" if loads else "graded response, one discrimination"
    out.attrs["link"] = res.link
    return out


def item_curves(res: MixtureResults, theta: ArrayLike | None = None) -> pd.DataFrame:
    """Item characteristic curves as data: P(y = 1 | theta) on a grid, one row per (theta, item).

    ``theta`` defaults to 121 points over [-4, 4]. Columns: ``theta``, the item column,
    ``class`` (mixture IRT only) and ``probability`` = g + (1 - g) F(a (theta - b)), with g = 0
    except for the 3PL. Plot with e.g. ``df.pivot(index="theta", columns="item",
    values="probability").plot()``.
    """
    theta = np.linspace(-4.0, 4.0, 121) if theta is None else np.asarray(theta, dtype=float).ravel()
    if theta.size == 0 or not np.all(np.isfinite(theta)):
        raise IRTError("theta must be a non-empty grid of finite values")
    par = irt_parameters(res)
    if "b" not in par:
        raise IRTError("item_curves() draws binary items' curves; a graded response model has one curve per "
                       "category boundary: use irt_parameters() (a and b1, b2, ...)")
    link = par.attrs.get("link", res.link)
    cdf = {"logit": expit, "probit": stats.norm.cdf}.get(link)
    if cdf is None:
        raise IRTError(f"item curves need a logit or probit link, not {link!r}")
    a = par["a"].to_numpy()[None, :]
    b = par["b"].to_numpy()[None, :]
    g = par["g"].to_numpy()[None, :] if "g" in par else 0.0
    prob = g + (1 - g) * cdf(a * (theta[:, None] - b))
    idx = par.index.to_frame(index=False)
    out = pd.concat([idx.assign(theta=t) for t in theta], ignore_index=True)
    out["probability"] = prob.ravel()
    return out[["theta", *idx.columns, "probability"]]
