"""Named special cases of the one model: each builds the general formula, prints it, fits it.

The point of these helpers is to teach the general spelling: every one of them is a call
of :func:`glmmix.fit` with a formula and, for the 3PL, constraints (Asparouhov & Muthen,
Sections 7-9):

=============  =====================================================================
LCA            ``y ~ 0 + item | class(id) ~ 1``                       (eq 27, 16)
GoM            ``y ~ 0 + item | class ~ 1 + (1 | id)``                (eq 28-34)
restricted GoM ``y ~ 0 + item | class ~ 1 + rr(1 | id, 1)``           (eq 35)
FMA            ``y ~ 0 + item + rr(0 + item | id, 1) | class(id) ~ 1`` (eq 36-37)
FMA-GoM        ``y ~ 0 + item + rr(0 + item | id, 1) | class ~ 1 + (1 | id)`` (eq 38-41)
3PL            FMA-GoM with 2 classes, class logits ``class ~ 0 + item`` and class 1 fixed
               at tau = 15, lambda = 0 (eq 42-50)
=============  =====================================================================

None of them has starting logic of its own: :func:`glmmix.fit` derives the simpler models
a formula nests (the LCA under GoM, FMA and FMA-GoM, the one-class factor model under FMA,
FMA-GoM and the 3PL) from its structure and starts from them (``glmmix.nesting``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .api import fit
from .exceptions import DesignError, GlmmixError, GlmmixWarning
from .results import MixtureResults, other_outcomes

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from matplotlib.axes import Axes


def _say(name, formula, kw, verbose):
    if verbose:
        extra = "".join(f", {k}={v!r}" for k, v in kw.items() if k in ("n_classes", "family", "link", "class_specific", "sigma_by", "thresholds_by")
                        and v is not None)
        print(f"glmmix {name}: gm.fit({formula!r}, data{extra})")


def _fit_named(name, formula, data, n_classes, family, kw, verbose, class_specific_loadings=False):
    """Print the general call (``verbose``) and make it."""
    if class_specific_loadings:
        kw["class_specific"] = list(kw.get("class_specific", ())) + ["random"]
    _say(name, formula, {"n_classes": n_classes, "family": family, **kw}, verbose)
    return fit(formula, data, n_classes=n_classes, family=family, **kw)


def _long(data, items, y, item, id):
    """Wide data with ``items=`` to the long form the helpers' formulas read."""
    if items is None:
        return data
    from .long import wide_to_long

    uid = id if (id in getattr(data, "columns", ()) or id != "id") else None
    return wide_to_long(data, items=items, id=uid, item_name=item, value_name=y)


def _rhs(covariates):
    return "1" + "".join(f" + {c}" for c in (covariates or []))


def lca(data: pd.DataFrame, n_classes: int, family: str = "bernoulli", *, y: str = "y", item: str = "item",
        id: str = "id", covariates: list[str] | None = None,
        items: list[str] | None = None, verbose: bool = True, **kw) -> MixtureResults:
    """Latent class analysis: one class per unit ``id`` (eq 16), items as dummies.

    With ``family="gaussian"`` (a latent profile analysis) each item has its own residual
    variance, class-invariant, as in Mplus (``sigma_by=item``; pass ``sigma_by=None`` for
    one variance, ``class_specific=["sigma"]`` to free them per class).

    ``data`` are long (columns ``y``, ``item``, ``id``), or wide with ``items=[columns]``
    (one row per unit; reshaped by :func:`glmmix.wide_to_long`, other columns kept as unit
    covariates). The same holds for :func:`gom`, :func:`fma`, :func:`fma_gom` and
    :func:`three_pl`.
    """
    data = _long(data, items, y, item, id)
    f = f"{y} ~ 0 + {item} | class({id}) ~ {_rhs(covariates)}"
    if family == "gaussian" and "thresholds_by" not in kw:  # a latent profile analysis: Mplus's
        kw.setdefault("sigma_by", item)                      # item-specific residual variances
    return _fit_named("LCA" if family != "gaussian" else "LPA", f, data, n_classes, family, kw, verbose)


def gom(data: pd.DataFrame, n_classes: int, family: str = "bernoulli", *, y: str = "y", item: str = "item",
        id: str = "id", covariates: list[str] | None = None, restricted: bool = False,
        items: list[str] | None = None, verbose: bool = True, **kw) -> MixtureResults:
    """Grade of Membership: one class per response with person-specific random class logits.

    ``restricted=True`` uses the one-factor structure of eq 35 (one integration dimension
    for any number of classes).
    """
    data = _long(data, items, y, item, id)
    re = f"rr(1 | {id}, 1)" if restricted else f"(1 | {id})"
    f = f"{y} ~ 0 + {item} | class ~ {_rhs(covariates)} + {re}"
    return _fit_named("GoM" + (" (restricted, eq 35)" if restricted else ""), f, data, n_classes, family, kw, verbose)


def fma(data: pd.DataFrame, n_classes: int, family: str = "bernoulli", *, y: str = "y", item: str = "item",
        id: str = "id", n_factors: int = 1, class_specific_loadings: bool = False,
        covariates: list[str] | None = None, items: list[str] | None = None,
        verbose: bool = True, **kw) -> MixtureResults:
    """Factor mixture analysis / mixture IRT (eq 36-37): LCA plus a factor within classes."""
    data = _long(data, items, y, item, id)
    f = f"{y} ~ 0 + {item} + rr(0 + {item} | {id}, {n_factors}) | class({id}) ~ {_rhs(covariates)}"
    return _fit_named("FMA", f, data, n_classes, family, kw, verbose, class_specific_loadings)


def fma_gom(data: pd.DataFrame, n_classes: int, family: str = "bernoulli", *, y: str = "y", item: str = "item",
            id: str = "id", class_specific_loadings: bool = False,
            items: list[str] | None = None, verbose: bool = True, **kw) -> MixtureResults:
    """FMA-GoM (eq 38-41): one class per response, random class logits, a person factor."""
    data = _long(data, items, y, item, id)
    f = f"{y} ~ 0 + {item} + rr(0 + {item} | {id}, 1) | class ~ 1 + (1 | {id})"
    return _fit_named("FMA-GoM", f, data, n_classes, family, kw, verbose, class_specific_loadings)


#: the fixed threshold of the "always correct" class in the 3PL (eq 43-47): Psi(15) ~ 1
THREE_PL_TAU = 15.0


def three_pl(data: pd.DataFrame, link: str = "logit", *, y: str = "y", item: str = "item", id: str = "id",
             items: list[str] | None = None, verbose: bool = True, **kw) -> MixtureResults:
    """The 3PL guessing model as a constrained 2-class FMA-GoM (eq 42-47).

    Class 1 (guessing correctly) has tau_i1 = 15 and lambda_i1 = 0, so P(y = 1 | class 1) ~ 1;
    class 2 is the 2PL; P(class 1) for a response to item i is logistic(gamma_i) with no
    random class intercept (alpha = 0). The IRT parameters g_i, a_i, b_i (eq 48-50) are in
    :func:`glmmix.irt_parameters`. ``glmmix.fit`` starts it from the 2PL (the one-class model of
    the same formula) with the guessing class rare and with it favoured, and never reports
    less than the 2PL, its limit as every guessing parameter goes to 0.
    """
    fixed = sorted(k for k in ("family", "n_classes", "class_specific") if k in kw)
    if fixed:
        raise DesignError(f"three_pl() is a 2-class bernoulli model with class_specific=['random'] (eq 43-47); "
                          f"it does not take {fixed}")
    data = _long(data, items, y, item, id)
    levels = list(pd.Categorical(data[item]).categories)
    f = f"{y} ~ 0 + {item} + rr(0 + {item} | {id}, 1) | class ~ 0 + {item}"
    fix = {f"class1:{item}[{lev}]": THREE_PL_TAU for lev in levels}
    fix.update({f"class1:loading({id}:{item}[{lev}])": 0.0 for lev in levels})
    fix.update(kw.pop("fix", {}) or {})
    _say("3PL (constrained FMA-GoM, eq 43-47)", f, {"n_classes": 2, "family": "bernoulli", "link": link}, verbose)
    if verbose:
        print(f"   with class_specific=['random'] and fix = tau_i1 = {THREE_PL_TAU:g}, lambda_i1 = 0 for every item")
    res = fit(f, data, n_classes=2, family="bernoulli", link=link, class_specific=["random"], fix=fix, **kw)
    res.name_model("3PL guessing model (constrained FMA-GoM)",
                   three_pl={"item": item, "id": id, "levels": [str(v) for v in levels]})
    return res


def three_pl_parameters(res: MixtureResults) -> pd.DataFrame:
    """g_i, a_i, b_i of a 3PL fit (eq 48-50) with delta-method standard errors
    (:func:`glmmix.irt_parameters` for every item response model)."""
    info = (res.special_case or {}).get("three_pl")
    if info is None:
        raise ValueError("three_pl_parameters() needs a result of glmmix.three_pl()")
    item, id_ = info["item"], info["id"]
    labels = []
    for lev in info["levels"]:
        labels += [f"logit:class1:{item}[{lev}]", f"class2:loading({id_}:{item}[{lev}])", f"class2:{item}[{lev}]"]
    p = res.params[labels].to_numpy()
    V = res.cov_params().loc[labels, labels].to_numpy()

    def f(v):
        v = v.reshape(-1, 3)
        g = 1 / (1 + np.exp(-v[:, 0]))
        a = v[:, 1]
        b = -v[:, 2] / a
        return np.column_stack([g, a, b]).ravel()

    from .inference import delta_cov

    est = f(p).reshape(-1, 3)
    se = np.sqrt(np.clip(np.diag(delta_cov(f, p, V)), 0, None)).reshape(-1, 3)
    out = pd.DataFrame({"g": est[:, 0], "se(g)": se[:, 0], "a": est[:, 1], "se(a)": se[:, 1],
                        "b": est[:, 2], "se(b)": se[:, 2]}, index=pd.Index(info["levels"], name=item))
    out.attrs.update(model="3PL", link=res.link)
    return out


def compare(*results: MixtureResults | dict | list) -> pd.DataFrame:
    """Comparison table in the form of the paper's Tables 5 and 6.

    ``results``: the fitted results (``compare(r0, r1, r2)``, as R's ``anova(m0, m1, m2)``), a
    list of them, or a dict {name: result}. Results are named by their model type and number
    of classes, and by their formulas where two of a type share a name; two fits of one
    formula need a dict. Every result must have been fitted to the same rows: criteria of
    different data do not compare.
    """
    if len(results) == 1 and isinstance(results[0], (dict, list, tuple)):
        results = results[0]
    elif len(results) == 0 or not all(isinstance(r, MixtureResults) for r in results):
        bad = [r for r in results if not isinstance(r, MixtureResults)][:1]
        raise GlmmixError("give the fitted results (compare(r0, r1, ...)), a list of them or a dict {name: result}"
                          + (f", not a {type(bad[0]).__name__}" if bad else ""))
    if not isinstance(results, dict):
        for i, r in enumerate(results):
            if not isinstance(r, MixtureResults):
                raise GlmmixError(f"results[{i}] is a {type(r).__name__}, not a fitted result")
        base = [r.model_name + (f" ({r.n_classes} classes)" if r.n_classes > 1 else "") for r in results]
        names = [b if base.count(b) == 1 else f"{b}: {r.formula}" for b, r in zip(base, results)]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise GlmmixError(f"results[{names.index(name)}] and results[{i}] are both named {name!r}: "
                                  "pass a dict {name: result} to tell them apart")
        results = dict(zip(names, results))
    if not results:
        raise GlmmixError("results is empty: give the fitted models to compare")
    for name, r in results.items():
        if not isinstance(r, MixtureResults):
            raise GlmmixError(f"results[{name!r}] is a {type(r).__name__}, not a fitted result")
    first, r0 = next(iter(results.items()))
    for name, r in results.items():
        if r.nobs != r0.nobs:
            raise GlmmixError(f"{name!r} was fitted to {r.nobs} rows and {first!r} to {r0.nobs}: information "
                              "criteria compare models of the same data only")
        if other_outcomes(r, r0):
            raise GlmmixError(f"{name!r} and {first!r} were fitted to different outcome values (another outcome "
                              "column or other rows, of the same number): information criteria compare models of "
                              "the same data only")
    rows = []
    for name, r in results.items():
        rows.append({"model": name, "log-likelihood": r.llf, "parameters": r.df_model, "AIC": r.aic,
                     "BIC": r.bic, "SABIC": r.sabic, "entropy": r.entropy, "converged": r.converged,
                     "best LL replicated": r.best_replicated})
    tab = pd.DataFrame(rows).set_index("model")
    n = {name: r.n_independent for name, r in results.items()}
    if len(set(n.values())) > 1:  # BIC's n: each model's independent units (rows, or clusters)
        tab.insert(tab.columns.get_loc("BIC"), "n (BIC)", pd.Series(n))
        warnings.warn("BIC and SABIC take n = each model's independent units, which differ here ("
                      + ", ".join(f"{name!r}: {v:g}" for name, v in n.items())
                      + "): their BIC and SABIC do not compare with each other; compare them by AIC or the "
                      "likelihood-ratio test, or by -2 LL + k log(n) with one n", GlmmixWarning, stacklevel=2)
    return ComparisonTable(tab)


class ComparisonTable(pd.DataFrame):
    """:func:`compare`'s table: a DataFrame that prints every column (as R's ``anova`` does),
    whatever pandas' display width; operations on it give plain DataFrames."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        return self.to_string()


def plot_profiles(res_x: MixtureResults, res_y: MixtureResults, class_x: int = 1, class_y: int = 1,
                  ax: Axes | None = None, labels: bool = True, names: tuple[str, str] | None = None) -> Axes:
    """Figure 4: item probabilities of one model's class (x) against another's (y).

    Each axis names its model (``names=`` overrides the fitted models' names) and class;
    item labels are placed so that they overlap neither each other nor the points, and
    points on the edges (probabilities of 0 or 1) are drawn whole. Returns the axes.
    """
    import matplotlib.pyplot as plt

    from .plots import COLORS, place_labels

    px = res_x.profile()[f"{res_x.posterior.columns[class_x - 1]}"]
    py = res_y.profile()[f"{res_y.posterior.columns[class_y - 1]}"]
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 4.8), layout="constrained")
    nx, ny = names or (res_x.model_name, res_y.model_name)
    if names is None and nx == ny:  # two models of one kind: say which is which
        nx, ny = (f"{r.model_name}, {r.n_classes} classes" for r in (res_x, res_y))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", zorder=1)
    ax.scatter(px, py, s=22, color=COLORS[0], zorder=3, clip_on=False)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{nx}: class {class_x}")
    ax.set_ylabel(f"{ny}: class {class_y}")
    ax.set_title(f"Item probabilities (correlation {np.corrcoef(px, py)[0, 1]:.2f})", fontsize=10)
    if labels:
        from .plots import short_label

        place_labels(ax, px.to_numpy(), py.to_numpy(), [short_label(str(n)) for n in px.index])
    return ax


class LRTest:
    """A likelihood-ratio test (:func:`lrtest`): ``statistic``, ``df``, ``pvalue`` and ``note``.

    ``print()`` shows them all, the note in full; ``lr["p-value"]`` and the other keys of
    :meth:`to_series` read single entries.
    """

    def __init__(self, statistic: float, df: int, pvalue: float, note: str,
                 design_effects: np.ndarray | None = None, pvalue_mixture: float = float("nan")):
        self.statistic = float(statistic)
        self.df = int(df)
        self.pvalue = float(pvalue)
        self.note = str(note)
        #: a restriction that sets one random effect's SD to zero (with its correlations): the
        #: p-value from the 50:50 mixture of chi2(df - 1) and chi2(df); NaN otherwise
        self.pvalue_mixture = float(pvalue_mixture)
        #: fits with sampling weights: the Rao-Scott generalized design effects lambda (the
        #: statistic's null distribution is sum_i lambda_i chi2(1)); None otherwise
        self.design_effects = None if design_effects is None else np.asarray(design_effects, float)

    def to_series(self) -> pd.Series:
        """The test as a Series with entries ``statistic``, ``df``, ``p-value`` and ``note``."""
        return pd.Series({"statistic": self.statistic, "df": self.df, "p-value": self.pvalue,
                          "p-value (mixture)": self.pvalue_mixture, "note": self.note})

    def __getitem__(self, key: str):
        return self.to_series()[key]

    def to_string(self, width: int = 100) -> str:
        """The statistic, its degrees of freedom and p-value on one line, then the note in full
        (wrapped at ``width`` characters)."""
        import textwrap

        kind = "chi-square" if self.design_effects is None else "Rao-Scott"
        p = f"no {kind} p-value" if np.isnan(self.pvalue) else f"{kind} p-value {self.pvalue:.4g}"
        text = f"LR statistic {self.statistic:.4f}, df {self.df}, {p}"
        if not np.isnan(self.pvalue_mixture):
            text += (f"\n50:50 mixture of chi-square({self.df - 1}) and chi-square({self.df}): p-value "
                     f"{self.pvalue_mixture:.4g}")
        if self.note:
            text += "\n" + textwrap.fill(f"Note: {self.note}", width, subsequent_indent="  ")
        return text

    def __str__(self) -> str:
        return self.to_string()

    def __repr__(self) -> str:
        return f"<LRTest: statistic={self.statistic:.4f}, df={self.df}, p-value={self.pvalue:.4g}>"


def _columns_outside(restricted: MixtureResults, full: MixtureResults) -> list[str]:
    """Design columns of ``restricted`` (outcome part, class part, random terms) that ``full``
    lacks: a model with a column the other lacks is not nested in it by a restriction of its
    parameters (constraints such as ``invariant``, ``equal`` or ``fix`` keep the columns)."""
    r, f = restricted.design_columns, full.design_columns
    where = {"outcome": "", "class": "class part: ", "random": "random term: "}
    missing = {k: [c for c in r[k] if c not in set(f[k])] for k in where}
    if list(restricted.class_sizes) != list(full.class_sizes):  # other class variables: columns not comparable
        missing["class"] = []
    if missing["outcome"] and _outcome_span_nested(restricted, full):
        missing["outcome"] = []  # another coding of columns in the full model's span
    return [f"{where[k]}{c}" for k in where for c in missing[k]]


def _outcome_span_nested(restricted: MixtureResults, full: MixtureResults) -> bool:
    """Whether the outcome part's design columns of ``restricted`` lie in the span of those of
    ``full`` (``0 + item`` in ``1 + item + x``), on the rows of both aligned by the data's index;
    False when that cannot be checked (a loaded result, a non-unique index)."""
    if restricted.model is None or full.model is None:
        return False
    dr, df = restricted.model.design, full.model.design
    ir, if_ = dr.row_index, df.row_index
    if not (isinstance(ir, pd.Index) and isinstance(if_, pd.Index)) or not ir.is_unique or not if_.is_unique \
            or not ir.sort_values().equals(if_.sort_values()):
        return False

    def dense(d, order):
        X = d.X.toarray() if sp.issparse(d.X) else np.asarray(d.X, dtype=float)
        return X[order]

    Xr = dense(dr, ir.argsort())
    Xf = dense(df, if_.argsort())
    coef = np.linalg.lstsq(Xf, Xr, rcond=None)[0]
    resid = np.linalg.norm(Xr - Xf @ coef, axis=0)
    return bool(np.all(resid <= 1e-8 * np.maximum(np.linalg.norm(Xr, axis=0), 1.0)))


def _same_weights(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-12, atol=0)


def _restricted_point(restricted, full) -> pd.Series:
    """The restricted estimates as a point of the fuller model (reported scale, by label): its
    parameters, the ones it fixed (``fix=``) at their values, the others (dropped terms) at 0."""
    fixed = restricted.fixed_params
    return pd.Series([restricted.params[p] if p in restricted.params.index else fixed.get(p, 0.0)
                      for p in full.params.index], index=full.params.index)


def _rao_scott(restricted, full, stat, df, extra, notes) -> LRTest:
    """The Rao-Scott likelihood-ratio test of nested fits with sampling weights (:func:`lrtest`):
    the statistic against sum_i lambda_i chi2(1), lambda the eigenvalues of V0^-1 V over the
    parameters the restriction fixes, both covariances the fuller model's at its estimates."""
    from .hypothesis import HypothesisError
    from .inference import covariance
    from .selection import weighted_chi2_sf

    if full.model is None:
        raise HypothesisError("lrtest() of fits with sampling weights needs the fuller model fitted in this session "
                              "(its model-based and sandwich covariances are computed at its estimates)")
    if len(extra) != df or not set(restricted.params.index) <= set(full.params.index):
        raise NotImplementedError(
            "lrtest() with sampling weights: the Rao-Scott test needs the restricted model to be the fuller one "
            "with some of its parameters fixed (its parameter names a subset of the fuller model's; here "
            f"{len(extra)} of the fuller model's parameters are not in the restricted one, for {df} degrees of "
            "freedom): test other restrictions with full.wald_test(...), whose sandwich accounts for the weights")
    at = _restricted_point(restricted, full)
    lik = full.model.likelihood
    state = lik.integ.adaptation()
    ll_at = full.model.loglike(at)
    lik.restore(state)  # the fuller fit's nodes, for its covariances below
    if not abs(ll_at - restricted.llf) <= 1e-6 * max(1.0, abs(restricted.llf)):
        raise NotImplementedError(
            "lrtest() with sampling weights: the restricted model is not the fuller one with the parameters "
            f"{extra} fixed (at 0 or at its fix= values): the fuller model's pseudo log-likelihood at the "
            f"restricted estimates is {ll_at:.6f}, not the restricted fit's {restricted.llf:.6f} (a restriction such "
            "as equal= ties parameters instead); test it with full.wald_test(...), whose sandwich accounts for the "
            "weights")
    idx = full.params.index.get_indexer(extra)
    if set(idx.tolist()) & set(full.boundary):
        notes.append("a tested parameter is on the boundary of the fuller model: no p-value")
        return LRTest(max(stat, 0.0), df, float("nan"), "; ".join(notes))
    theta = full.theta
    V0 = covariance(lik, theta, "ml", full.boundary)[0][np.ix_(idx, idx)]
    V = covariance(lik, theta, "robust", full.boundary)[0][np.ix_(idx, idx)]
    if not (np.isfinite(V0).all() and np.isfinite(V).all()):
        notes.append("the tested parameters' covariances are not finite (a singular information): no p-value")
        return LRTest(max(stat, 0.0), df, float("nan"), "; ".join(notes))
    lam = np.sort(np.real(np.linalg.eigvals(np.linalg.solve(V0, V))))[::-1]
    t = max(stat, 0.0)
    notes.append("sampling weights: Rao-Scott likelihood-ratio test (survey's anova.svyglm, method 'LRT'): the "
                 "statistic, twice the difference of the pseudo log-likelihoods, is referred to sum_i lambda_i "
                 f"chi2(1) with design effects lambda = {np.array2string(lam, precision=4, separator=', ')} "
                 "(eigenvalues of V0^-1 V over the tested parameters: model-based V0, sandwich V), exact tail; "
                 f"the first-order Rao-Scott statistic is {t / lam.mean():.4f} on {df} df")
    extra_re = any(p.startswith(("sd(", "loading(")) for p in extra)
    if extra_re:
        notes.append("boundary caveat: the restriction sets a variance to zero, so even the scaled statistic's "
                     "reference distribution is only an approximation")
    return LRTest(t, df, weighted_chi2_sf(t, lam), "; ".join(notes), design_effects=lam)


def lrtest(restricted: MixtureResults, full: MixtureResults) -> LRTest:
    """Likelihood-ratio test of a restricted model against a fuller one that nests it.

    Returns the statistic, degrees of freedom (difference in free parameters), the
    chi-square p-value and a note (an :class:`LRTest`; ``print()`` shows the note in full).
    When the restriction puts a parameter on the boundary of the fuller model's space (a
    variance of zero, an ICC of 1, a class with zero probability), the statistic does not
    have its usual chi-square distribution (Section 5 of the paper); the note says so, and
    the chi-square p-value is then conservative at best. Models with different numbers of
    classes get no p-value (NaN): the note points to :func:`blrt` and :func:`lmr_test`. Nor do
    models that are not nested: when ``restricted`` has a design column (a fixed term of the
    outcome or class part, a random term's column) that ``full`` lacks, the note says so.

    With sampling weights twice the difference of the pseudo log-likelihoods is not
    chi-square distributed: it is referred to sum_i lambda_i chi2(1), lambda the eigenvalues
    of V0^-1 V for the parameters the restriction fixes (V0 their model-based covariance, V
    the sandwich), the Rao-Scott likelihood-ratio test of survey's ``anova.svyglm``
    (Lumley and Scott 2014); the p-value is that distribution's exact tail (Imhof), and
    ``design_effects`` holds lambda. The restricted model must be the fuller one with some
    of its parameters fixed (its parameter names a subset of the fuller model's), and the
    fuller model fitted in this session.

    Raises
    ------
    HypothesisError
        When ``full`` does not have more free parameters than ``restricted``, or the models
        were fitted to different rows or weights.
    NotImplementedError
        For fits with sampling weights whose restriction is not the fixing of some of the
        fuller model's parameters: use ``full.wald_test``.
    """
    from scipy import stats

    from .hypothesis import HypothesisError

    for name, r in (("restricted", restricted), ("full", full)):
        if not isinstance(r, MixtureResults):
            raise HypothesisError(f"lrtest(restricted, full): {name} is a {type(r).__name__}, not a fitted result")
    if (restricted.weighting or None) != (full.weighting or None) or restricted.nobs != full.nobs or not _same_weights(
            restricted.unit_weight, full.unit_weight):
        raise HypothesisError("lrtest(restricted, full): the models were not fitted to the same data "
                              f"({restricted.nobs} and {full.nobs} rows, weights {restricted.weighting} and "
                              f"{full.weighting})")
    if other_outcomes(restricted, full):
        raise HypothesisError("lrtest(restricted, full): the models were not fitted to the same data: both have "
                              f"{full.nobs} rows, but their outcome values differ (another outcome column or "
                              "other rows)")
    stat = 2.0 * (full.llf - restricted.llf)
    df = full.df_model - restricted.df_model
    if df <= 0:
        raise HypothesisError(f"lrtest(restricted, full): the second model must have more free parameters than "
                              f"the first ({full.df_model} vs {restricted.df_model})")
    notes = []
    outside = _columns_outside(restricted, full) if full.n_classes == restricted.n_classes else []
    if outside:
        notes.append(f"the restricted model has design columns that the full model lacks ({', '.join(outside)}): "
                     "the models are not nested, so the likelihood-ratio test does not apply and no p-value is "
                     "given; compare non-nested models by AIC/BIC (gm.compare)")
        return LRTest(stat, df, float("nan"), "; ".join(notes))
    if stat < -1e-6:
        notes.append("the fuller model has the lower log-likelihood: it did not reach its maximum "
                     "(more starts, or start it from the restricted fit with start_from=)")
    if full.n_classes != restricted.n_classes:
        notes.append(f"the models differ in their number of classes ({restricted.n_classes} and {full.n_classes}): "
                     "the statistic has no chi-square distribution (the restricted model is a boundary point of "
                     "the fuller one, where some of its parameters are not identified), so no p-value is given; "
                     "use gm.blrt (the bootstrap LR test) or gm.lmr_test (Lo-Mendell-Rubin), or compare BIC")
        return LRTest(max(stat, 0.0), df, float("nan"), "; ".join(notes))
    extra = [p for p in full.params.index if p not in restricted.params.index]
    if full.weighting and "freq_weights" not in full.weighting:
        return _rao_scott(restricted, full, stat, df, extra, notes)
    mixture = float("nan")
    if any(p.startswith(("sd(", "loading(")) for p in extra) or full.boundary:
        sds = [p for p in extra if p.startswith("sd(")]
        if len(sds) == 1 and all(p.startswith("cor(") for p in extra if p not in sds) and not full.boundary:
            # one SD to zero, its correlations with it (Self & Liang 1987, Stram & Lee 1994)
            x = max(stat, 0.0)
            mixture = 0.5 * (float(stats.chi2.sf(x, df - 1)) if df > 1 else float(x <= 0)) + 0.5 * float(
                stats.chi2.sf(x, df))
            notes.append(f"boundary: the restriction sets {sds[0]} to zero, a point on the boundary of the "
                         "fuller model's space, where the statistic is not chi-square(df) but a 50:50 mixture "
                         "of chi-square(df-1) and chi-square(df) (Self & Liang 1987; Stram & Lee 1994): use the "
                         "mixture p-value; the chi-square one is conservative")
        else:
            notes.append("boundary caveat: the restriction sets a variance to zero (or a class proportion or an "
                         "ICC to a bound), so the statistic is not chi-square distributed (Section 5); the "
                         "p-value above is only an approximation (a 50:50 mixture of chi-square(df-1) and "
                         "chi-square(df) is the usual correction for one variance)")
    return LRTest(max(stat, 0.0), df, float(stats.chi2.sf(max(stat, 0.0), df)), "; ".join(notes),
                  pvalue_mixture=mixture)
