"""Simulation from the model, and a Monte Carlo runner.

``simulate`` draws new outcomes from a fitted result, or from a model given by formula,
data (the design: covariates, ids) and parameters by label. Draws follow the model's own
structure: latents per cluster, classes per unit (or per cluster), outcomes per row.

``monte_carlo`` runs a simulation study: generate, fit, compare with the truth, in parallel
through joblib (so ``joblib.parallel_config(backend="dask")`` runs it on a Dask cluster),
with a progress bar in interactive sessions. A replication that fails is recorded, not fatal.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from .exceptions import DesignError, GlmmixError, LabelSwitchingWarning
from .families import get_family
from .formula import parse_formula
from .likelihood import MixtureLikelihood
from .model import MixtureModel
from .progress import run_jobs
from .reporting import from_natural, natural_params
from .results import MixtureResults
from .validate import check_data, check_label_values, check_n_jobs, check_seed

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from collections.abc import Callable

    from .families import Family


def _draw(lik: MixtureLikelihood, theta: np.ndarray, rng: np.random.Generator):
    """Outcomes (design row order) and true classes (per unit) drawn from the model."""
    d = lik.design
    L = lik.layout
    P = L.unpack(L.expand(theta))
    K, G, U = d.n_classes, d.n_clusters, d.n_units
    u = rng.standard_normal((G, lik.D))
    Lo, Lc = lik.factor_matrices(P)
    # joint class state per unit (classes.py): between-level classes drawn per cluster, then
    # the within-level state given them, from the recursive logits at the cluster's latents
    cs = d.classes
    gam = P["gamma"].ravel()
    re_lin = None
    if d.re_cls:
        B = lik.class_logit_loadings([b.Z for b in d.re_cls], Lc)
        re_lin = np.einsum("ucd,ud->uc", B, u[d.cluster_of_unit])[:, :, None]
    prob = np.exp(cs.logprior("within", gam, {t: cs.vars[t].Z for t in cs.within}, re_lin)[:, :, 0])  # (U, S)
    if cs.betw:
        pb = np.exp(cs.logprior("between", gam, {t: cs.vars[t].Z for t in cs.betw}))  # (G, Kb)
        bcl = (rng.uniform(size=(G, 1)) > np.cumsum(pb, axis=1)).sum(axis=1)
        bcl = np.minimum(bcl, cs.Kb - 1)
        same_b = (np.arange(K)[None, :] // cs.Kw) == bcl[d.cluster_of_unit][:, None]
        prob = np.where(same_b, prob, 0.0)
        prob = prob / prob.sum(axis=1, keepdims=True)
    cls = (rng.uniform(size=(U, 1)) > np.cumsum(prob, axis=1)).sum(axis=1)
    cls = np.minimum(cls, K - 1)
    crow = cls[d.unit_of_row]
    eta = np.asarray(d.X @ P["beta"])[np.arange(d.n_rows), crow]
    lat = u[d.cluster_of_unit[d.unit_of_row]]  # each row's latents
    if d.groupings is not None:  # several grouping columns: one draw per level of each
        for v in L.re_out_terms:
            codes, levels = d.groupings[v.term.group]
            lat[:, v.dims] = rng.standard_normal((levels.size, v.term.d))[codes]
    for b, v, L_ in zip(d.re_out, L.re_out_terms, Lo):  # this design's Z (the layout's are the fitted rows')
        Z = b.Z.toarray() if sp.issparse(b.Z) else np.asarray(b.Z)
        eta = eta + np.einsum("ri,rij,rj->r", Z, L_[crow], lat[:, v.dims])
    extra = P["extra"][crow]
    y = d.family.sample(eta, extra, d.aux, rng)
    return y, cls


def simulate(model: str | MixtureResults, data: pd.DataFrame | None = None, params: dict | None = None, *,
             n_classes: int = 1, family: str | Family = "gaussian", link: str | None = None,
             seed: int | np.random.Generator | None = None, **layout_kw) -> pd.DataFrame:
    """Draw a data set from a model.

    Parameters
    ----------
    model : MixtureResults or str
        A fitted (or loaded) result: new outcomes at its estimates for the rows of ``data``
        (encoded as the fitted rows were; the fitted data give a parametric bootstrap sample,
        other rows a sample from the fitted model with their covariates, units and clusters),
        or a formula.
    data : DataFrame
        The design (covariates, ids, items). The outcome column may be absent (it is
        created), except for ``cbind(s, f)``, whose columns give the trials, and, with a
        formula, ordinal outcomes, whose categories it defines. Rows with a missing outcome
        are left out, as in fitting.
    params : dict
        With a formula: every free parameter by label, on the scale ``result.params`` reports
        (``class1:item[u1]``, ``sigma``, ``sd(g:Intercept)``, ``cor(g:x,Intercept)``,
        ``logit:class1:Intercept``, ...), so ``dict(result.params)`` round-trips. Missing or
        unknown labels raise an error that lists the model's labels.
    seed : int or Generator

    Returns
    -------
    DataFrame
        A copy of the data (rows with an observed outcome) with the outcome replaced, and a
        column ``true_class`` (1-based) when the model has classes.
    """
    seed = check_seed(seed, generator_ok=True)
    if data is not None:
        check_data(data)
        if not data.index.is_unique:
            raise DesignError("simulate needs data with a unique index (its rows receive the draws): "
                              "call data.reset_index(drop=True) first")
    if isinstance(model, MixtureResults):
        given = [k for k, v in (("params", params), ("n_classes", n_classes != 1), ("family", family != "gaussian"),
                                ("link", link)) if v is not None and v is not False] + sorted(layout_kw)
        if given:
            raise DesignError(f"simulate(result, data) draws at the result's estimates from its own model; "
                              f"{given} apply to simulate(formula, data, params=...) and would be ignored")
        if data is None:
            raise DesignError("simulate(result, data) needs data: the rows to draw outcomes for (the data the "
                              "model was fitted to, or other rows with its covariates, units and clusters)")
        _refuse_counted_rows(model, data)
        if model.limit is not None:  # at an exact boundary limit: the limiting model's draws
            model = model.limit
        lik = result_likelihood(model, data)
        return _assemble(lik, model.theta, data, np.random.default_rng(seed), positional=True)
    if data is None or params is None:
        raise DesignError("simulate(formula, data, params=...) needs data and params")
    from .model import MODEL_KEYWORDS

    unknown = sorted(set(layout_kw) - MODEL_KEYWORDS)
    if unknown:
        raise DesignError(f"simulate() does not take {unknown}: besides n_classes, family, link and seed it takes "
                          f"the model's arguments {sorted(MODEL_KEYWORDS)}")
    params = check_label_values(params, "params")
    parsed = parse_formula(model)
    fam = get_family(family, link)
    source = data
    if parsed.outcome not in data.columns:
        if fam.thresholds:
            raise DesignError("an ordinal outcome column must be present: its categories define the thresholds")
        data = data.assign(**{parsed.outcome: 0.0})
    # the likelihood object is only used for its structure: the default rule is enough
    lik = MixtureModel.from_formula(model, data, n_classes, fam, **layout_kw).likelihood
    layout = lik.layout
    missing = [lab for lab in layout.labels if lab not in params]
    if missing:
        raise DesignError(f"params lacks {missing}; the model's parameters are {layout.labels}")
    unknown = [lab for lab in params if lab not in layout.labels]
    if unknown:
        raise DesignError(f"params names {unknown}, which the model does not have; its parameters are "
                          f"{layout.labels}")
    theta = _checked_theta(lik, layout.labels, np.array([params[lab] for lab in layout.labels], float))
    return _assemble(lik, theta, source, np.random.default_rng(seed))


def _checked_theta(lik, labels, values) -> np.ndarray:
    """The internal parameters of ``values`` (the reported scale), refused when they are not
    a point of the parameter space: the internal map would otherwise simulate from another
    point (a negative SD as its absolute value, unordered thresholds as ordered ones, a
    negative residual SD as missing outcomes)."""
    bad = [(lab, v) for lab, v in zip(labels, values) if lab.split(":")[-1].startswith("cor(") or
           lab.startswith("cor(")]
    bad = [(lab, v) for lab, v in bad if not -1 <= v <= 1]
    if not bad:
        with np.errstate(all="ignore"):
            try:
                theta = from_natural(lik, values)
                back = natural_params(lik, theta)
            except np.linalg.LinAlgError:
                raise DesignError("params give a random-effect covariance that is not positive definite "
                                  "(correlations too large together)") from None
        if not np.all(np.isfinite(theta)):
            bad = [(lab, v) for lab, v, t in zip(labels, values, theta) if not np.isfinite(t)]
        else:
            bad = [(lab, v) for lab, v, b in zip(labels, values, back) if "cor(" not in lab and
                   abs(b - v) > 1e-8 * (1 + abs(v))]
    if bad:
        lab, v = bad[0]
        raise DesignError(f"params[{lab!r}] = {float(v)!r} is outside the parameter space (standard deviations must be "
                          ">= 0 and residual SDs > 0, correlations within [-1, 1], thresholds increasing)"
                          + (f"; also {[b[0] for b in bad[1:6]]}" if len(bad) > 1 else ""))
    return theta


def _refuse_counted_rows(res, data):
    """A frequency-weighted fit's rows each stand for several independent units, which need
    draws of their own: one draw copied to every unit a row counts is no sample of the model."""
    col = (res.weighting or {}).get("freq_weights")
    if col is not None and col in data.columns and (pd.to_numeric(data[col], errors="coerce") > 1).any():
        raise DesignError(f"data have the frequency weights {col!r} of the fit: each unit would get one draw shared "
                          f"by all the units it counts; expand them first (data.loc[data.index.repeat(data[{col!r}])] "
                          f"with a new unit id per copy) and drop {col!r}")


def result_likelihood(res: MixtureResults, data: pd.DataFrame) -> MixtureLikelihood:
    """A fitted (or loaded) model's likelihood on the rows of ``data``, encoded as the fitted
    rows were (:mod:`glmmix.predict`); its rows are labelled by their positions in ``data``.
    An absent outcome column is a placeholder (its values are not used), except the columns of
    ``cbind(s, f)``, whose sum gives the trials."""
    from .design import outcome_columns
    from .predict import source_likelihood, new_likelihood

    d = source_likelihood(res).design
    cols, pair = outcome_columns(d.formula.outcome)
    absent = [c for c in cols if c not in data.columns]
    if absent and pair is not None:
        raise DesignError(f"data lack {absent} of the outcome {d.formula.outcome!r}: the trials are the sum of its "
                          "successes and failures")
    if absent:
        data = data.assign(**{c: d.aux.categories[0] if d.family.thresholds else 0.0 for c in absent})
    return new_likelihood(res, data, with_outcome=True)


def _same_matrix(a, b) -> bool:
    if sp.issparse(a) or sp.issparse(b):
        return sp.issparse(a) and sp.issparse(b) and a.shape == b.shape and (a != b).nnz == 0
    return np.array_equal(np.asarray(a), np.asarray(b))


def fitted_rows(res: MixtureResults, data: pd.DataFrame, items=None, id: str | None = None) -> pd.DataFrame:
    """``data`` (long, or wide with ``items`` and ``id`` as in :func:`glmmix.fit`), checked to be
    the data ``res`` was fitted to: the same rows with an outcome, outcomes, units and designs.
    Returns the long data."""
    from .long import wide_for_formula

    if items is not None:
        data = wide_for_formula(parse_formula(res.formula), data, items, id)
    try:
        nd = result_likelihood(res, data).design
    except GlmmixError as exc:
        raise DesignError(f"data must be the data the model was fitted to (wide data with their items): {exc}") from None
    fd = res.model.likelihood.design
    same = (nd.n_rows == fd.n_rows and nd.n_units == fd.n_units and data.index[nd.row_index].equals(fd.row_index)
            and np.array_equal(nd.y, fd.y) and _same_matrix(nd.X, fd.X) and _same_matrix(nd.Z, fd.Z))
    if not same:
        raise DesignError(f"data are not the data the model was fitted to ({nd.n_rows} rows with an outcome and "
                          f"{nd.n_units} units against {fd.n_rows} and {fd.n_units}, or other outcomes or "
                          "covariates)")
    return data


def _assemble(lik, theta, data, rng, positional=False):
    """``data``'s rows with an outcome, drawn outcomes written in; ``positional``: the
    design's rows are positions in ``data`` (:func:`result_likelihood`), else labels."""
    y, cls = _draw(lik, theta, rng)
    d = lik.design
    out = (data.iloc[d.row_index.to_numpy()] if positional else data.loc[d.row_index]).copy()
    _write_outcome(out, d, y)
    if d.multi:  # one column per class variable, 1-based
        for t, v in enumerate(d.classes.vars):
            out[f"true_{v.name}"] = d.classes.digits[cls[d.unit_of_row], t] + 1
    elif d.n_classes > 1:
        out["true_class"] = cls[d.unit_of_row] + 1
    if positional:  # the rows in the order of data
        return out.iloc[np.argsort(d.row_index.to_numpy(), kind="stable")]
    return out.sort_index()


def _categories(column, categories, codes):
    """Ordinal draws (category codes 0, 1, ...) as the outcome's categories: an ordered
    categorical like ``column`` when it is one (or when the categories are not numbers),
    else the categories' values."""
    values = np.asarray(categories, dtype=object)[codes.astype(int)]
    if column is not None and isinstance(column.dtype, pd.CategoricalDtype):
        return pd.Categorical(values, dtype=column.dtype)
    if all(isinstance(c, (int, float, np.number)) and not isinstance(c, bool) for c in categories):
        return values.astype(float)
    return pd.Categorical(values, categories=list(categories), ordered=True)


def _write_outcome(out: pd.DataFrame, d, y: np.ndarray):
    """Put drawn outcomes where a refit reads them: the outcome column, or for
    ``cbind(successes, failures)`` the successes column and the failures column (trials minus
    successes), so that fitting the same formula to the simulated data uses the draws."""
    from .design import outcome_columns, outcome_values
    from .terms import column_name

    _, pair = outcome_columns(d.formula.outcome)
    if d.family.thresholds:  # ordinal: the categories themselves, not their codes
        y = _categories(out.get(d.formula.outcome), d.aux.categories, y)
    if pair is None:
        out[d.formula.outcome] = y
        return
    s_col, f_col = column_name(pair[0]), column_name(pair[1])
    if s_col is None:
        raise DesignError(f"cannot simulate {d.formula.outcome!r}: the successes {pair[0]!r} must be a column "
                          "(the failures may be an expression such as n - s)")
    out[s_col] = y
    fail = d.aux.trials - y
    if f_col is not None:
        out[f_col] = fail
    elif not np.allclose(outcome_values(out, pair[1], d.formula.outcome).to_numpy(), fail):
        raise DesignError(f"cannot simulate {d.formula.outcome!r}: the failures {pair[1]!r} are an expression "
                          "that does not equal trials minus successes once the successes are replaced")


@dataclass
class MonteCarloResult:
    """Per-parameter summary of a simulation study, plus every replication's estimates."""

    table: pd.DataFrame
    estimates: pd.DataFrame
    ses: pd.DataFrame
    failures: list
    #: replications whose classes were relabelled to match the truth (label switching)
    relabelled: list = None

    def __repr__(self):
        return f"<MonteCarloResult: {len(self.estimates)} replications, {len(self.failures)} failed>\n{self.table}"


def align_to_truth(res, truth: dict):
    """Relabel a fit's classes to match the true ones (label switching).

    The permutation minimizes the squared distance between estimated and true
    class-specific parameters, each standardized by the spread of its true values across
    classes (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``). Class-
    specific parameters and their SEs move with their class; class logits are re-expressed
    against the new reference class, with SEs from the covariance of the estimates.
    Returns ``(params, bse, permutation)``: true class k is estimated class
    ``permutation[k]``; ``permutation`` is None when the classes cannot be matched this
    way (several class variables, random class logits, no class-specific parameter of
    ``truth`` that differs between classes).
    """
    from scipy.optimize import linear_sum_assignment

    p, b = res.params.copy(), res.bse.copy()
    cols = [str(c) for c in res.posterior.columns]
    K = len(cols)
    cname = cols[0][:-1] if cols else ""
    if K < 2:
        return p, b, np.arange(K)
    if cols != [f"{cname}{k + 1}" for k in range(K)]:
        return p, b, None
    spec, logits = {}, {}
    for lab in p.index:
        for k in range(K):
            if lab.startswith(f"{cname}{k + 1}:"):
                spec.setdefault(lab[len(f"{cname}{k + 1}:"):], {})[k] = lab
            elif lab.startswith(f"logit:{cname}{k + 1}:"):
                logits.setdefault(lab[len(f"logit:{cname}{k + 1}:"):], {})[k] = lab
    # labels naming a class in another way (random class logits) would need more than this
    named = {lab for d in list(spec.values()) + list(logits.values()) for lab in d.values()}
    if any(f"{cname}1" in lab for lab in p.index if lab not in named):
        return p, b, None
    cost = np.zeros((K, K))  # cost[true class, estimated class]
    used = False
    for rest, labs in spec.items():
        tv = [truth.get(f"{cname}{k + 1}:{rest}") for k in range(K)]
        if len(labs) < K or any(t is None for t in tv):
            continue
        tv = np.asarray(tv, float)
        ev = np.array([p[labs[k]] for k in range(K)], float)
        spread = tv.std()
        if spread > 0 and np.all(np.isfinite(ev)):
            cost += ((tv[:, None] - ev[None, :]) / spread) ** 2
            used = True
    if not used:
        return p, b, None
    perm = linear_sum_assignment(cost)[1]  # true class k <- estimated class perm[k]
    if np.array_equal(perm, np.arange(K)):
        return p, b, perm
    for labs in spec.values():
        if len(labs) == K:
            p[[labs[k] for k in range(K)]] = [res.params[labs[perm[k]]] for k in range(K)]
            b[[labs[k] for k in range(K)]] = [res.bse[labs[perm[k]]] for k in range(K)]
    try:
        V = res.cov_params()
    except Exception:  # fitted with se="none"
        V = None
    for labs in logits.values():  # new logit k = old logit perm[k] - old logit perm[K-1]
        if len(labs) != K - 1:
            return res.params.copy(), res.bse.copy(), None
        for k in range(K - 1):
            c = pd.Series(0.0, index=res.params.index)
            if perm[k] < K - 1:
                c[labs[perm[k]]] += 1.0
            if perm[K - 1] < K - 1:
                c[labs[perm[K - 1]]] -= 1.0
            p[labs[k]] = float(c @ res.params)
            b[labs[k]] = float(np.sqrt(max(c @ V @ c, 0.0))) if V is not None else np.nan
    return p, b, perm


def _one(rep, generate, fit, seed, truth=None):
    rng = np.random.default_rng(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = fit(generate(rng))
        status = "kept"
        if truth is not None:
            p, b, perm = align_to_truth(res, truth)
            if perm is None:
                status = "unaligned"
            elif not np.array_equal(perm, np.arange(perm.size)):
                status = "relabelled"
        else:
            p, b = res.params, res.bse
        return rep, p, b, None, status
    except Exception as exc:  # a failed replication is recorded, not fatal
        return rep, None, None, f"{type(exc).__name__}: {exc}", "failed"


def monte_carlo(generate: Callable, fit: Callable, truth: dict, n_rep: int = 100, seed: int | None = None,
                n_jobs: int = 1, progress: bool | None = None, align: Callable | bool | None = None) -> MonteCarloResult:
    """Run a simulation study.

    Parameters
    ----------
    generate : callable rng -> DataFrame
    fit : callable DataFrame -> MixtureResults
    truth : dict label -> true value (reported scale)
    n_rep : int
    n_jobs : int
        joblib workers; with ``joblib.parallel_config(backend="dask")`` the study runs on a
        Dask cluster unchanged.
    progress : bool, optional
        A progress bar over the replications (default: only in interactive sessions).
    align : callable or bool, optional
        Label switching. By default (None or True) each replication's classes are matched
        to the truth's by :func:`align_to_truth` (the permutation closest to the true
        class-specific parameters); the replications relabelled are listed in
        ``result.relabelled``. A callable ``(params, bse) -> (params, bse)`` relabels
        instead; ``False`` leaves the labels as fitted.

    Returns
    -------
    MonteCarloResult with a table of mean estimate, bias, MSE, mean SE, SD of the
    estimates, SE/SD ratio and 95% coverage for each parameter in ``truth``; ``n`` counts
    the replications with an estimate, ``n SE`` those with a standard error, the ones the
    mean SE and the coverage use (an estimate on the boundary of the parameter space has no
    SE: where ``n SE`` < ``n``, coverage describes the replications that stayed inside).
    """
    seed, n_jobs = check_seed(seed), check_n_jobs(n_jobs)
    if not callable(generate) or not callable(fit):
        raise DesignError("monte_carlo needs generate (rng -> DataFrame) and fit (DataFrame -> result) functions")
    if not isinstance(n_rep, (int, np.integer)) or isinstance(n_rep, bool) or n_rep < 1:
        raise DesignError(f"n_rep must be a positive integer, not {n_rep!r}")
    if not isinstance(truth, dict):
        raise DesignError(f"truth must be a dict {{parameter label: true value}}, not {type(truth).__name__}")
    truth = check_label_values(truth, "truth")
    seeds = np.random.SeedSequence(seed).spawn(n_rep)
    auto = align is None or align is True
    jobs = [(r, generate, fit, s, dict(truth) if auto else None) for r, s in enumerate(seeds)]
    out = run_jobs(_one, jobs, n_jobs, "replications", progress)
    est, ses, fails, moved, unaligned = {}, {}, [], [], 0
    for rep, p, b, err, status in out:
        if err is not None:
            fails.append((rep, err))
            continue
        if callable(align):
            p, b = align(p, b)
        moved += [rep] if status == "relabelled" else []
        unaligned += status == "unaligned"
        est[rep], ses[rep] = p, b
    if unaligned:
        warnings.warn(
            f"the classes of {unaligned} replication(s) could not be matched to the truth (several class "
            "variables, random class logits, or no class-specific parameter in truth): label switching "
            "may bias the summary; pass align=(params, bse) -> (params, bse)", LabelSwitchingWarning, stacklevel=2)
    if not est:
        raise DesignError(f"every one of the {n_rep} replications failed; the first error: {fails[0][1]}")
    E = pd.DataFrame(est).T
    S = pd.DataFrame(ses).T
    rows = []
    for lab, val in truth.items():
        if lab not in E.columns:
            raise DesignError(f"truth names {lab!r}, which the fitted model does not have")
        e, s = E[lab].to_numpy(float), S[lab].to_numpy(float)
        ok = np.isfinite(s)
        z = stats.norm.ppf(0.975)
        rows.append({"parameter": lab, "true": val, "n": int(np.isfinite(e).sum()), "n SE": int(ok.sum()),
                     "mean": np.nanmean(e), "bias": np.nanmean(e) - val,
                     "MSE": np.nanmean((e - val) ** 2), "mean SE": np.nanmean(s[ok]) if ok.any() else np.nan,
                     "SD": np.nanstd(e, ddof=1) if len(e) > 1 else np.nan,
                     "coverage": np.mean(np.abs(e[ok] - val) <= z * s[ok]) if ok.any() else np.nan})
    tab = pd.DataFrame(rows).set_index("parameter")
    tab["SE/SD"] = tab["mean SE"] / tab["SD"]
    return MonteCarloResult(tab, E, S, fails, moved)
