"""Predictions and classification, for the fitted units and for new ones.

Everything computed for new rows uses the fitted encodings (:mod:`glmmix.encoding`):
categorical levels and codings, stateful-transform states, outcome categories, threshold
groups; the design is never rebuilt from the formula text on the new rows. A level not
seen in fitting is refused by name.

``which``:

* ``"marginal"``: E[y_r] = sum_s P(s | z_u) E[y_r | s], the class probabilities from the
  class part (covariates; random class logits integrated with the model's rule);
* ``"conditional"``: the same weighted by each unit's posterior class probabilities
  (needs the units' responses). With random effects or factors in the outcome part, one
  class or several (a GLMM, an IRT model, a factor mixture, an FMA-GoM or the 3PL,
  between-level classes, classes within clusters with a cluster effect), E[y_r | the
  cluster's responses y_g] = sum over states s and nodes q of p(s, u_q | y_g)
  E[y_r | s, u = u_q]: the joint posterior of the unit's class (the joint state of every
  class variable) and of the cluster's latent values, the engine's E-step on the fitted
  rule's nodes (adapted to the cluster, and to each class where the classes are the
  cluster's: FMA, between-level classes), times the row's mean there. Classes within
  clusters enter as p(between state, u | y_g) P(within state | between state, u, the unit's
  responses); random class logits (GoM, two-level LCA, FMA-GoM) enter through the nodes of
  the class posterior. It is the posterior mean of the row's mean mu_r(s, u), the row's own
  response among those conditioned on (a fitted value, not a leave-one-out prediction).
  Without outcome random effects (LCA, GoM, two-level LCA) the nodes do not move the means
  and this is the posterior class probabilities times E[y_r | s]. With Laplace integration
  (one-class models only: mixtures are fitted by quadrature) the mean at the conditional
  mode of the effects, lme4's ``predict()``, not their posterior mean. With random terms on
  several grouping columns (crossed; Laplace), every row's effects sit at its levels' joint
  conditional modes: from the fit (lme4's ``fitted()`` and ``predict(newdata)``; levels not
  fitted are refused) or, given newdata's responses, the joint mode of the latents of
  newdata's levels given its rows alone at the fitted parameters (levels not fitted are
  conditioned on newdata's responses; a level named only by rows without an observed outcome
  sits at zero, its prior mode).
  The posterior is given the responses of ``newdata`` when it has an
  observed outcome, else the fitted responses of the units (clusters) it names: new rows of
  fitted units, as lme4's ``predict(newdata)`` with the fitted effects (``responses=``).
  A unit without responses in a cluster with responses (a new student of a fitted
  classroom; with one class per row, as in GoM, FMA-GoM and the 3PL, every new row of a
  fitted person) gets p(between state, u | y_g) times its class prior P(state | u, its class
  covariates) at the cluster's nodes: the cluster's effects are conditioned on, its own
  class is not (it has no response).
  Rows of fitted units given with observed outcomes that the two would predict differently
  (a subset of a unit's rows; held-out rows with their outcomes, which would condition on the
  outcomes being predicted) are refused unless ``responses=`` says which is meant.
  At the maximum likelihood estimate, with a canonical link (logit, log, identity) and a
  fixed part spanning an intercept in every class (``0 + item``, class-specific or not),
  the conditional means of the fitted rows sum to the outcomes (item by item with item
  dummies; binomial proportions weighted by their trials, weighted fits by their weights)
  by the score equations of those coefficients (Fisher's identity), to the fit's gradient
  tolerance; not with a probit link, fixed coefficients (the 3PL's guessing class), Laplace
  integration, or a fit reported at a boundary limit (its limit's values are given);
* ``"by_class"``: E[y_r | s] for every class (joint state), a DataFrame;
* ``"posterior"``: P(s | responses, covariates) of every unit, a DataFrame indexed by
  unit (poLCA's ``poLCA.posterior``, StepMix's ``predict_proba``); with random effects the
  posterior integrates them with the model's integration rule (re-adapted to the new
  clusters for adaptive rules);
* ``"class"``: the modal class of every unit (StepMix's ``predict``).

E[y_r | s] integrates the outcome part's random effects and factors over their
distribution, E[y_r | s] = E_u[g^-1(x_r beta_s + z_r L_s u)] with u ~ N(0, I) (a product
Gauss-Hermite rule of its own, whatever rule the fit used): the population-averaged mean,
not the mean at u = 0 (lme4's ``re.form = NA``), which differs for every link but the
identity.

For ordinal outcomes E[y_r | s] is the expected category index, 0 for the outcome's first
category (sum over k of P(y_r > k | s)); ``fittedvalues`` refuses them. ``type="prob"``
gives the category probabilities instead (ordinal's ``predict(clm, type = "prob")``), a
DataFrame with a column per category: P(y_r = k) weighted, integrated and conditioned
exactly as the means are (``which`` "marginal", "conditional" or "by_class"; the last with
a (class, category) column per pair).

Per-row results keep the order (and index) of the rows given, for the fitted rows too (the
engine sorts rows by cluster and unit; results are put back in the data's order); per-unit
results for new data list units in their order of first appearance.
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .exceptions import DataWarning, DesignError, GlmmixError, kind_hint, plain

WHICH = ("marginal", "conditional", "by_class", "posterior", "class")
TYPES = ("mean", "prob")


RESPONSES = ("auto", "newdata", "fitted")


def predict(res, newdata=None, which="marginal", responses="auto", type="mean"):
    """See :meth:`glmmix.results.MixtureResults.predict`."""
    if which not in WHICH:
        raise GlmmixError(f"which must be one of {WHICH}, not {which!r}")
    probs = _check_type(res, which, type)
    if responses not in RESPONSES:
        raise GlmmixError(f"responses must be one of {RESPONSES}, not {responses!r}")
    if responses != "auto" and which != "conditional":
        raise GlmmixError(f"responses={responses!r} applies to which='conditional' only, not which={which!r}")
    if newdata is not None and not isinstance(newdata, pd.DataFrame):
        raise DesignError(f"newdata must be a pandas DataFrame, not {newdata.__class__.__name__}")
    if newdata is not None and len(newdata) == 0:
        raise DesignError("newdata has no rows")
    if res.limit is not None:
        return _at_limit(res, newdata, which, responses, type)
    if which == "conditional" and newdata is not None and _from_fit(res, newdata, responses):
        return _conditional_from_fit(res, newdata, probs)
    if which == "conditional" and newdata is not None and responses == "auto":
        out = predict(res, newdata, which, "newdata", type)
        _refuse_ambiguous(res, newdata, out, probs)
        return out
    if which in ("posterior", "class"):
        post = res.posterior if newdata is None else posterior(res, newdata)
        return post if which == "posterior" else modal_class(post)
    if which == "conditional" and source_likelihood(res).design.D:
        return _conditional_with_effects(res, newdata, probs)
    if newdata is None:
        if res.model is None:
            raise GlmmixError("a loaded result has no data: pass newdata to predict()")
        lik = res.model.likelihood
        post = res.posterior.to_numpy()
        return in_data_order(_expected(lik, res.theta, which, post, lik.design.row_index, res.posterior.columns,
                                       probs), lik.design)
    nlik = new_likelihood(res, newdata, with_outcome=False)  # every row, missing outcomes included
    post = None
    if which == "conditional":  # weights: the units' posteriors given their observed responses
        d = nlik.design
        pu = posterior(res, newdata)
        keys = d.unit_ids if d.unit_name is not None else newdata.index[d.unit_ids.to_numpy()]
        if d.unit_name is None and newdata.index.has_duplicates:
            raise DesignError("which='conditional' with one unit per row needs newdata with a unique index")
        post = pu.reindex(keys).to_numpy()
        if np.isnan(post).any():
            raise DesignError("which='conditional' needs the posterior of every unit; some units have no "
                              "observed response and their class depends on other units")
    out = _expected(nlik, res.theta, which, post, nlik.design.row_index, res.posterior.columns, probs).sort_index()
    out.index = newdata.index[out.index.to_numpy()]  # rows were labelled by position
    return out


def _at_limit(res, newdata, which, responses, type):
    """Predictions of a fit reported at an exact boundary limit (``res.limit``: a two-class GoM
    at its LCA limit, say): the limiting model's, whose rows are this model's. Its units are
    this model's clusters: posteriors and classes are given to every unit (row) of a cluster,
    in this model's order of units (fitted) or for the rows of ``newdata`` whose cluster has
    an observed response."""
    out = predict(res.limit, newdata, which, responses, type)
    if which not in ("posterior", "class"):
        return out
    if newdata is None:
        cl = res.model.design.cluster_of_unit if res.model is not None else None
        if cl is None:
            raise GlmmixError("a loaded result has no data: pass newdata to predict()")
        ids = res.model.design.cluster_ids[cl]
        index = res.posterior.index
    else:
        name = res.limit.unit_name
        keys = newdata[name]
        keep = keys.isin(out.index).to_numpy()
        ids, index = keys[keep], newdata.index[keep]
    mapped = out.loc[ids]
    mapped.index = index
    return mapped


def _check_type(res, which, type) -> bool:
    """Whether category probabilities are asked for (``type="prob"``), checked."""
    if type not in TYPES:
        raise GlmmixError(f"type must be one of {TYPES}, not {type!r}")
    if type == "mean":
        return False
    if which in ("posterior", "class"):
        raise GlmmixError(f"type='prob' gives outcome category probabilities, for which='marginal', "
                          f"'conditional' or 'by_class'; which={which!r} gives class memberships")
    if not source_likelihood(res).design.family.thresholds:
        raise GlmmixError("type='prob' gives the category probabilities of ordinal outcomes; this outcome's "
                          "expected value is type='mean' (for bernoulli and binomial outcomes, P(success))")
    return True


def _from_fit(res, newdata, responses) -> bool:
    """Whether conditional predictions for ``newdata`` condition on the fitted units' responses:
    asked for, or (``"auto"``) newdata has no observed outcome to condition on."""
    if responses != "auto":
        return responses == "fitted"
    from .design import outcome_columns

    cols, _ = outcome_columns(source_likelihood(res).design.formula.outcome)
    return any(c not in newdata.columns or newdata[c].isna().all() for c in cols)


def _conditional_from_fit(res, newdata, probs=False):
    """``which="conditional"`` for new rows of fitted units (lme4's ``predict(newdata)``): the
    expected outcomes weighted by each unit's posterior given its fitted responses, or, with
    random effects, averaged over its cluster's posterior of the effects from the fit."""
    from .design import grouping_parts

    if res.model is None:
        raise GlmmixError("conditional predictions from the fitted responses need a result fitted in this "
                          "session (a loaded result has no data): give newdata the units' responses")
    lik = res.model.likelihood
    d = lik.design
    # with random effects: the clusters' posteriors (without outcome effects, random class
    # logits, the units' posteriors serve as well where newdata names no clusters)
    cparts = (grouping_parts(d.cluster_name, newdata.columns) or [d.cluster_name]) if d.cluster_name else [None]
    effects = bool(d.re_out) or (bool(d.D) and (d.unit_name is None or all(c in newdata.columns for c in cparts)))
    if effects and d.form == "crossed" and d.n_classes == 1:
        return _crossed_at_modes(res, newdata, probs)
    name = d.cluster_name if effects else d.unit_name
    if name is None:
        raise DesignError("which='conditional' from the fitted responses needs units: with one class per "
                          "row a new row has no fitted response; give newdata its responses or use "
                          "which='marginal'")
    parts = grouping_parts(name, newdata.columns) or [name]
    gone = [c for c in parts if c not in newdata.columns]
    if gone:
        raise DesignError(f"which='conditional' from the fitted responses needs newdata's column(s) {gone}, "
                          "naming the fitted units whose responses the predictions condition on")
    if effects:
        rows = new_likelihood(res, newdata, with_outcome=False)
        own = d.unit_name is not None and all(c in newdata.columns for c in grouping_parts(d.unit_name, newdata.columns)
                                              or [d.unit_name])
        J, N, at, cl = _states_of(lik, res.theta, rows, own, lambda cl: _refuse_unseen(rows.design.cluster_ids[cl < 0],
                                                                                       name, known=d.cluster_ids))
        out = _per_row(_means_given(rows, res.theta, J, N, at, cl, probs), rows.design, probs)
    else:
        rows = new_likelihood(res, newdata, with_outcome=False)
        at = res.posterior.index.get_indexer(rows.design.unit_ids)
        _refuse_unseen(rows.design.unit_ids[at < 0], name, known=res.posterior.index)
        post = res.posterior.to_numpy()[at]
        out = _expected(rows, res.theta, "conditional", post, rows.design.row_index, res.posterior.columns, probs)
    out = out.sort_index()
    out.index = newdata.index[out.index.to_numpy()]
    return out


def _refuse_ambiguous(res, newdata, out, probs):
    """``responses="auto"`` with observed outcomes in ``newdata``: when rows of fitted units
    (clusters) would be predicted differently from their fitted responses (a subset of a
    unit's rows, or held-out rows with their outcomes), whose responses to condition on is the
    user's choice, not a default: refused unless both give the same predictions."""
    from .design import grouping_parts

    if res.model is None:  # a loaded result keeps its units' posteriors but not their responses
        if source_likelihood(res).design.form == "crossed":  # nor its crossed levels
            raise DesignError(
                "which='conditional': newdata has observed outcomes and the model has random terms on several "
                "grouping columns; a loaded result cannot check whether newdata names fitted levels, so say "
                "responses='newdata' to condition on the rows given (the fitted modes need the result fitted "
                "in this session)")
        unit = res.posterior.index.name
        if unit is not None and unit in newdata.columns and newdata[unit].isin(res.posterior.index).any():
            raise DesignError(
                f"which='conditional': newdata has observed outcomes and names {unit!r} values that were fitted "
                f"(e.g. {plain(newdata[unit][newdata[unit].isin(res.posterior.index)].iloc[0])!r}); a loaded "
                "result cannot check that newdata's rows are all their responses, so say "
                "responses='newdata' to condition on the rows given (the fitted responses need the result "
                "fitted in this session)")
        return
    d = res.model.likelihood.design
    if d.form == "crossed":
        return _refuse_ambiguous_crossed(res, newdata, out, probs)
    name = d.cluster_name if d.D else d.unit_name
    if name is None or not all(c in newdata.columns for c in (grouping_parts(name, newdata.columns) or [name])):
        return
    rows = new_likelihood(res, newdata, with_outcome=False).design
    ids = rows.cluster_ids[rows.cluster_of_unit[rows.unit_of_row]] if d.D else rows.unit_ids[rows.unit_of_row]
    fitted_ids = d.cluster_ids if d.D else res.posterior.index
    seen = np.zeros(len(newdata), dtype=bool)
    seen[np.asarray(rows.row_index, dtype=int)] = fitted_ids.get_indexer(ids) >= 0
    if not seen.any() or len(out) != len(newdata):
        return
    pos = np.flatnonzero(seen)
    own = np.asarray(out, dtype=float)[pos]
    fit = np.asarray(_conditional_from_fit(res, newdata.iloc[pos], probs), dtype=float)
    if np.allclose(own, fit, rtol=1e-7, atol=1e-10):
        return
    example = plain(newdata[name].iloc[pos[0]]) if name in newdata.columns else None
    raise DesignError(
        f"which='conditional': newdata has observed outcomes and names {name!r} values that were fitted"
        + (f" (e.g. {example!r})" if example is not None else "")
        + ", and conditioning on newdata's rows alone predicts them differently from their fitted responses; "
        "say which is meant: responses='fitted' (the fitted units' posteriors, lme4's predict(newdata) with the "
        "fitted effects; for held-out rows of fitted units) or responses='newdata' (only the rows given, e.g. "
        "a new sample whose ids repeat fitted ones)")


def _refuse_ambiguous_crossed(res, newdata, out, probs):
    """:func:`_refuse_ambiguous` with random terms on several grouping columns: rows naming a
    fitted level of some grouping are predicted from the fitted responses or from newdata's
    alone; refused unless every such row has only fitted levels and both predict them alike."""
    d = res.model.likelihood.design
    rows = new_likelihood(res, newdata, with_outcome=False).design
    every = np.ones(rows.n_rows, dtype=bool)
    named = np.zeros(rows.n_rows, dtype=bool)
    example = None
    for g, (codes, levels) in rows.groupings.items():
        known = d.groupings[g][1].get_indexer(levels)[codes] >= 0
        every &= known
        named |= known
        if example is None and known.any():
            example = (g, levels[codes[np.flatnonzero(known)[0]]])
    if not named.any():
        return
    pos = np.asarray(rows.row_index, dtype=int)
    if every[named].all():
        keep = np.sort(pos[named])
        own = np.asarray(out, dtype=float)[keep]
        fit = np.asarray(_conditional_from_fit(res, newdata.iloc[keep], probs), dtype=float)
        if np.allclose(own, fit, rtol=1e-7, atol=1e-10):
            return
    raise DesignError(
        f"which='conditional': newdata has observed outcomes and names fitted levels ({example[0]!r} "
        f"{plain(example[1])!r}, say), and the fitted responses and newdata's rows alone give their latents "
        "different modes; say which is meant: responses='fitted' (the fitted conditional modes, lme4's "
        "predict(newdata); every level of newdata must have been fitted) or responses='newdata' (the joint "
        "modes of newdata's levels given its rows alone, at the fitted parameters)")


def _refuse_unseen(ids, name, remedy="give newdata their responses or use which='marginal'", known=()):
    if len(ids):
        raise DesignError(f"which='conditional' from the fitted responses: {len(ids)} value(s) of {name!r} in "
                          f"newdata were not fitted (e.g. {plain(ids[0])!r}), so no responses of theirs are known; "
                          + remedy + kind_hint(ids, known))


def _crossed_at_modes(res, newdata, probs=False, given=None):
    """Conditional means with random terms on several grouping columns (Laplace): every row's
    effects at its levels' joint conditional modes given the responses of ``given`` (a
    CrossedLaplace), by default the fitted ones (lme4's ``fitted()`` and ``predict(newdata)``;
    levels not fitted are refused); ``newdata=None``: the fitted rows. With ``given`` the
    likelihood of newdata's rows with an observed outcome, the joint mode of their levels'
    latents at the fitted parameters (Newton on log f(y_new | u) + log phi(u), as in fitting);
    a level named only by rows without an observed outcome is conditioned on nothing: its
    latents sit at their prior mode, zero."""
    src = res.model.likelihood if given is None else given
    theta = res.theta
    rows = src if newdata is None else new_likelihood(res, newdata, with_outcome=False)
    d = rows.design
    U = np.zeros((d.n_rows, 1, rows.D))
    for g, levels, m, _ in src.level_posteriors(theta):
        codes, new_levels = d.groupings[g]
        at = levels.get_indexer(new_levels)
        if given is None:
            _refuse_unseen(new_levels[at < 0], g, "use which='marginal' (integrated over the effects)", levels)
        m = np.vstack([m, np.zeros((1, m.shape[1]))])  # at = -1: a level without responses, at zero
        U[:, 0] += m[at[codes]]  # each grouping's modes sit at its own latent dimensions
    P = rows.layout.unpack(rows.layout.expand(theta))
    first, D = _outcome_dims(rows)
    one = np.ones((1, 1, 1))
    out = _per_row(_integrated_means(rows, P, lambda r: U[r][:, None, :, first:first + D], lambda r: one, 1,
                                     probs)[:, 0],
                   d, probs)
    if newdata is None:
        return in_data_order(out, d)
    out = out.sort_index()
    out.index = newdata.index[out.index.to_numpy()]
    return out


def fitted(res) -> pd.Series:
    """Fitted values of the rows used (see :attr:`MixtureResults.fittedvalues`):
    ``predict(which="conditional")``; refused, with the reason, where they are not defined."""
    _fitted_likelihood(res, "fittedvalues")
    return predict(res, None, "conditional").rename("fitted")


def residuals(res) -> pd.Series:
    """Response residuals of the rows used (see :attr:`MixtureResults.resid`)."""
    d = _fitted_likelihood(res, "resid").design
    y = d.y / d.aux.trials if d.family.uses_trials else d.y  # binomial: proportions, as the means
    y = in_data_order(pd.Series(y, index=d.row_index), d)
    return (y - fitted(res).to_numpy()).rename("resid")


def in_data_order(out, d):
    """Per-row results of the fitted rows (computed in design order, rows sorted by cluster and
    unit) in the order of the data given, so that their positions match the data's rows."""
    pos = d.row_position
    return out if pos is None else out.iloc[np.argsort(pos, kind="stable")]


def _fitted_likelihood(res, what):
    if res.model is None:
        raise GlmmixError(f"{what} needs a result fitted in this session (a loaded result has no data): use "
                          "predict(newdata)")
    lik = res.model.likelihood
    d = lik.design
    if d.family.thresholds:
        raise GlmmixError(f"{what} is not defined for ordinal outcomes (categories are not numbers): use "
                          "predict(which='conditional', type='prob') for each category's fitted probability, or "
                          "predict(which='conditional') for the expected category index")
    return lik


def modal_class(post: pd.DataFrame) -> pd.Series:
    """The class of highest posterior probability of every unit (first one on ties)."""
    return pd.Series(post.columns[np.argmax(post.to_numpy(), axis=1)], index=post.index, name="class")


def classification_table(post: pd.DataFrame, freq: np.ndarray | None = None) -> pd.DataFrame:
    """Average posterior class probabilities of the units of each modal class (Mplus's
    "average latent class probabilities for most likely latent class membership"): row k
    averages the posteriors of the units whose modal class is k; the diagonal shows how
    cleanly each class is classified. Rows of empty modal classes are NaN; a column ``n``
    counts the units, each with its weight ``freq`` (frequency or sampling weights; the
    averages are then weighted too)."""
    p = post.to_numpy()
    k = np.argmax(p, axis=1)
    K = p.shape[1]
    w = np.ones(len(p)) if freq is None else np.asarray(freq, float)
    n = np.bincount(k, weights=w, minlength=K)
    n = n.astype(np.int64) if np.all(n == np.round(n)) else n
    sums = np.zeros((K, K))
    np.add.at(sums, k, p * w[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = sums / n[:, None]
    tab = pd.DataFrame(avg, index=pd.Index(post.columns, name="modal class"), columns=post.columns)
    tab["n"] = n
    return tab


def entropy_by_class(post: pd.DataFrame, freq: np.ndarray | None = None) -> pd.Series:
    """Relative entropy of the classification restricted to each modal class,
    1 - sum_{u in k} sum_c -p log p / (n_k log K): 1 when every unit of class k is
    classified with certainty; the overall relative entropy (Mplus's) is the n_k-weighted
    mean of these. ``freq``: the units' (frequency or sampling) weights."""
    p = post.to_numpy()
    K = p.shape[1]
    k = np.argmax(p, axis=1)
    w = np.ones(len(p)) if freq is None else np.asarray(freq, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
    n = np.bincount(k, weights=w, minlength=K)
    hk = np.bincount(k, weights=h * w, minlength=K)
    with np.errstate(invalid="ignore", divide="ignore"):
        val = 1.0 - hk / (n * np.log(K)) if K > 1 else np.full(K, np.nan)
    return pd.Series(val, index=post.columns, name="entropy")


def posterior(res, newdata: pd.DataFrame) -> pd.DataFrame:
    """Posterior class probabilities of the units of ``newdata`` given their responses
    (missing responses are skipped) and covariates, at the fitted parameters; a unit with no
    observed response gets its prior class probabilities."""
    nlik = new_likelihood(res, newdata, with_outcome=True)
    out = _by_unit(_unit_posterior(nlik, res.theta), nlik.design, newdata, res.posterior.columns)
    fd = source_likelihood(res).design
    unit = fd.unit_name
    keys = newdata[unit] if unit is not None else pd.Series(newdata.index, index=newdata.index)
    silent = ~keys.isin(out.index).to_numpy()
    if not silent.any():
        return out
    # units without an observed response: their posterior is their prior P(s | z), unless
    # their class depends on other units (random class logits, between-level classes)
    lost = list(pd.unique(keys[silent]))
    if fd.re_cls or (fd.multi and fd.classes.betw):
        warnings.warn(f"{len(lost)} unit(s) of newdata have no observed response (e.g. {plain(lost[0])!r}); their "
                      "class depends on other units of their cluster, so they are left out", DataWarning,
                      stacklevel=3)
        return out
    from .structural import joint_prior

    rows = newdata[silent]
    plik = new_likelihood(res, rows, with_outcome=False)
    prior = _by_unit(joint_prior(plik, res.theta), plik.design, rows, res.posterior.columns)
    both = pd.concat([out, prior])
    return both.loc[list(pd.unique(keys))]


def _by_unit(p, d, newdata, columns) -> pd.DataFrame:
    """Per-unit rows of a new-data design, units in their order of first appearance (rows of
    ``newdata`` when every row is a unit)."""
    out = pd.DataFrame(p, index=d.unit_ids, columns=columns)
    if d.unit_name is not None:
        first = pd.Index(pd.unique(newdata[d.unit_name].to_numpy()))
        return out.loc[first[first.isin(out.index)]]
    out = out.sort_index()  # rows are positions of newdata
    out.index = newdata.index[out.index.to_numpy()]
    return out


# ---------------------------------------------------------------------- the engine on new rows
def _unit_posterior(nlik, theta):
    if nlik.integ.adaptive and nlik.D:
        nlik.adapt(theta)
    return nlik.unit_posterior(nlik.evaluate(theta, derivs=False))


def _expected(lik, theta, which, post, index, classes, probs=False):
    """Expected outcomes of the rows of ``lik``'s design (``probs``: category probabilities)."""
    from .structural import joint_prior

    d = lik.design
    P = lik.layout.unpack(lik.layout.expand(theta))
    mu = _class_means(lik, P, probs)
    if which == "by_class":
        if probs:
            cols = pd.MultiIndex.from_product([classes, d.aux.categories], names=["class", "category"])
            return pd.DataFrame(mu.reshape(len(mu), -1), index=index, columns=cols)
        return pd.DataFrame(mu, index=index, columns=classes)
    w = post if which == "conditional" else joint_prior(lik, theta)
    w = w[d.unit_of_row]
    return _per_row(np.einsum("rk,rk...->r...", w, mu), d, probs, index)


def _per_row(values, d, probs, index=None):
    """Per-row predictions: a Series of means, or a DataFrame of category probabilities."""
    index = d.row_index if index is None else index
    if probs:
        return pd.DataFrame(values, index=index, columns=pd.Index(d.aux.categories, name="category"))
    return pd.Series(values, index=index, name="predicted")


#: entries of the rows x classes x nodes arrays handled at once when the outcome's random
#: effects are integrated
_ENTRIES_AT_ONCE = 1 << 22
#: most nodes of the product Gauss-Hermite rule that integrates outcome random effects
_MAX_NODES = 2000


def _normal_rule(D: int):
    """A product Gauss-Hermite rule for E[f(u)], u ~ N(0, I_D): nodes (Q, D), weights (Q,)."""
    n = 40 if D == 1 else max(3, int(_MAX_NODES ** (1.0 / D) + 1e-9))
    if n ** D > _MAX_NODES and n == 3:
        raise NotImplementedError(f"expected outcomes integrate {D} random-effect dimensions: more than a "
                                  f"product rule of {_MAX_NODES} nodes can do accurately")
    x, w = np.polynomial.hermite_e.hermegauss(n)
    grids = np.meshgrid(*([x] * D), indexing="ij")
    t = np.stack([g.ravel() for g in grids], axis=1)
    wq = np.prod(np.stack(np.meshgrid(*([w] * D), indexing="ij")).reshape(D, -1), axis=0)
    return t, wq / wq.sum()


def _outcome_dims(lik):
    """The outcome terms' dimensions in the vector of random effects: (first, how many)."""
    terms = lik.layout.re_out_terms
    first = min(v.dims.start for v in terms)
    return first, max(v.dims.stop for v in terms) - first


def _row_means(family, eta, extra, aux, probs):
    """The family's mean (rows, states), or with ``probs`` its category probabilities
    (rows, states, categories)."""
    return np.asarray(family.probabilities(eta, extra, aux) if probs else family.mean(eta, extra, aux))


def _integrated_means(lik, P, nodes, weights, Q, probs=False):
    """sum_q weights[r, s, q] E[y_r | s, u = nodes[r, s, q]] for every row r and state s,
    (rows, states), or with ``probs`` the category probabilities (rows, states, categories);
    ``nodes(rows)`` (m or 1, states or 1, Q, D) in the outcome terms' dimensions and
    ``weights(rows)`` (m or 1, states or 1, Q) give each row's rule (per state: a joint
    posterior of state and node, or class-specific nodes)."""
    d = lik.design
    eta = np.asarray(d.X @ P["beta"])
    Lo, _ = lik.factor_matrices(P)
    first, D = _outcome_dims(lik)
    n, K = eta.shape
    extra = np.repeat(P["extra"], Q, axis=0)  # the states of the family's mean: (class, node)
    C = (d.aux.n_cat,) if probs else ()
    out = np.empty((n, K) + C)
    step = max(1, _ENTRIES_AT_ONCE // (K * Q * (C[0] if C else 1)))
    for a in range(0, n, step):
        rows = np.arange(a, min(a + step, n))
        A = np.zeros((rows.size, K, D))
        for b, L, v in zip(d.re_out, Lo, lik.layout.re_out_terms):
            Zr = b.Z[rows]
            Zr = Zr.toarray() if sp.issparse(Zr) else np.asarray(Zr)
            A[:, :, v.dims.start - first:v.dims.stop - first] += np.einsum("pi,kij->pkj", Zr, L)
        U = np.broadcast_to(nodes(rows), (rows.size, K, Q, D))
        e = eta[rows][:, :, None] + np.einsum("pkd,pkqd->pkq", A, U)
        mu = _row_means(d.family, e.reshape(rows.size, K * Q), extra, d.aux.rows(rows), probs)
        out[rows] = np.einsum("pkq...,pkq->pk...", mu.reshape((rows.size, K, Q) + C),
                              np.broadcast_to(weights(rows), (rows.size, K, Q)))
    return out


def _class_means(lik, P, probs=False):
    """E[y_r | s] (rows, states): the family's mean, integrated over the outcome part's random
    effects and factors u ~ N(0, I) (module docstring); with ``probs`` the category
    probabilities (rows, states, categories)."""
    d = lik.design
    if not d.re_out:
        return _row_means(d.family, np.asarray(d.X @ P["beta"]), P["extra"], d.aux, probs)
    t, w = _normal_rule(_outcome_dims(lik)[1])
    return _integrated_means(lik, P, lambda rows: t[None, None], lambda rows: w[None, None], t.shape[0], probs)


def _conditional_with_effects(res, newdata, probs=False):
    """``which="conditional"`` with random effects or factors, one class or several: sum over
    states and nodes of p(state, node | the cluster's responses) times the row's mean there
    (:func:`_posterior_nodes`)."""
    lik = source_likelihood(res)
    if newdata is None and res.model is None:
        raise GlmmixError("a loaded result has no data: pass newdata to predict()")
    if lik.design.form == "crossed" and lik.design.n_classes == 1:
        if newdata is None:
            return _crossed_at_modes(res, None, probs)
        return _crossed_at_modes(res, newdata, probs, new_likelihood(res, newdata, with_outcome=True))
    theta = res.theta
    if newdata is None:
        d = lik.design
        J, N, _ = _posterior_nodes(lik, theta)
        at, cl = np.arange(d.n_units), np.arange(d.n_clusters)
        return in_data_order(_per_row(_means_given(lik, theta, J, N, at, cl, probs), d, probs), d)
    obs = new_likelihood(res, newdata, with_outcome=True)
    rows = new_likelihood(res, newdata, with_outcome=False)

    def unseen(cl):
        raise DesignError("which='conditional' needs every cluster's responses: cluster(s) "
                          f"{list(rows.design.cluster_ids[cl < 0][:5])} have no observed response")

    J, N, at, cl = _states_of(obs, theta, rows, True, unseen)
    out = _per_row(_means_given(rows, theta, J, N, at, cl, probs), rows.design, probs).sort_index()
    out.index = newdata.index[out.index.to_numpy()]
    return out


def _posterior_nodes(lik, theta):
    """Every unit's joint posterior of its class (joint state) and of the random effects and
    factors, given its cluster's responses, as weights J (n_units, K, Q) on nodes N (G or 1,
    K or 1, Q, D): the rule's nodes (adapted to the cluster, and to each class where the
    classes are outside the integral) weighted by p(state, node | y_g), the engine's E-step
    (``MixtureLikelihood.state_node_posterior``). With Laplace integration (one-class models
    only) one node at the cluster's conditional mode, weight one. Third: the evaluation, for
    units without responses in these clusters (:func:`_states_of`)."""
    if lik.integ.adaptive:
        lik.adapt(theta)
    es = lik.evaluate(theta, derivs=False, whole=True)  # every cluster's nodes and posterior weights
    if lik.laplace:
        m = np.asarray(lik.integ.m, dtype=float)
        return np.ones((lik.design.n_units, 1, 1)), m[:, None, None, :], None
    J, N = lik.state_node_posterior(es)
    return J, N, es


def _states_of(src, theta, rows, match_units, unseen):
    """J, N (:func:`_posterior_nodes` of the likelihood ``src``, whose responses are conditioned
    on) and where the units and clusters of the likelihood ``rows`` take theirs: (J, N, unit
    of J for every unit of rows, cluster of N for every cluster of rows). Units of rows are
    matched to src's by id when ``match_units``; a unit not in src but in one of its clusters
    (a new student of a fitted room, a new row of a GoM's person) gets p(between state, node |
    y_g) times its class prior at the node, appended to J. ``unseen(cl)`` refuses clusters of
    rows that src has not (cl < 0)."""
    s, d = src.design, rows.design
    cl = s.cluster_ids.get_indexer(d.cluster_ids)
    if (cl < 0).any():
        unseen(cl)
    J, N, es = _posterior_nodes(src, theta)
    at = s.unit_ids.get_indexer(d.unit_ids) if match_units else np.full(d.n_units, -1)
    moved = (at >= 0) & (s.cluster_of_unit[np.maximum(at, 0)] != cl[d.cluster_of_unit])
    if moved.any():
        u = np.flatnonzero(moved)[0]
        raise DesignError(f"which='conditional': {int(moved.sum())} unit(s) of newdata sit in another cluster than "
                          f"when fitted (e.g. {s.unit_name!r} {plain(d.unit_ids[u])!r} in {s.cluster_name!r} "
                          f"{plain(d.cluster_ids[d.cluster_of_unit[u]])!r}, fitted in "
                          f"{plain(s.cluster_ids[s.cluster_of_unit[at[u]]])!r}); give them new ids to predict them "
                          "as new units of those clusters")
    new = np.flatnonzero(at < 0)
    if not new.size:
        return J, N, at, cl
    g = cl[d.cluster_of_unit[new]]
    if es is None:  # Laplace: one class, one node per cluster
        Jn = np.ones((new.size, 1, 1))
    elif s.form != "inside":
        raise NotImplementedError("which='conditional': new units of fitted clusters with classes at the "
                                  "clusters' level")  # units are the clusters there: not reached
    else:
        nodes = np.asarray(es.nodes)
        Q = nodes.shape[1]
        Jn = np.empty((new.size, J.shape[1], J.shape[2]))
        step = max(1, (1 << 20) // max(J.shape[1] * Q, 1))
        for a in range(0, new.size, step):
            b = min(a + step, new.size)
            at_nodes = nodes[g[a:b]] if nodes.shape[0] > 1 else np.broadcast_to(nodes, (b - a,) + nodes.shape[1:])
            lp = rows.unit_log_prior(theta, new[a:b], at_nodes)
            Jn[a:b] = src.new_unit_posterior(es, lp, g[a:b])
    at[new] = J.shape[0] + np.arange(new.size)
    return np.concatenate([J, Jn]), N, at, cl


def _means_given(rows, theta, J, N, at, cl, probs=False):
    """sum over states s and nodes q of J[unit, s, q] E[y_r | s, u = N[cluster, s, q]] for
    every row r of ``rows`` (``at``, ``cl``: the rows' units and clusters in J and N), or
    with ``probs`` the category probabilities (rows, categories)."""
    d = rows.design
    P = rows.layout.unpack(rows.layout.expand(theta))
    ju = at[d.unit_of_row]
    jc = cl[d.cluster_of_unit[d.unit_of_row]] if N.shape[0] > 1 else np.zeros(d.n_rows, dtype=np.intp)
    if not d.re_out:  # the nodes move the class posteriors only (random class logits)
        return np.einsum("rk,rk...->r...", J[ju].sum(axis=2), _class_means(rows, P, probs))
    first, D = _outcome_dims(rows)
    return _integrated_means(rows, P, lambda r: N[jc[r]][..., first:first + D], lambda r: J[ju[r]], J.shape[2],
                             probs).sum(axis=1)


def source_likelihood(res):
    """The fitted likelihood, or for a loaded result its stored skeleton (glmmix.persist)."""
    if res.model is not None:
        return res.model.likelihood
    stored = res.stored_model
    if stored.note:
        raise NotImplementedError(stored.note)
    return stored


def new_likelihood(res, newdata, with_outcome):
    """The model's likelihood on new units, with the fitted encodings, layout and rule.

    Rows are labelled by their positions in ``newdata``. Without outcomes (expected values),
    the outcome is set to a placeholder and missing unit or cluster columns make every row
    its own unit (a missing cluster column beside a unit column: every unit its own cluster)."""
    from .design import build_design, grouping_parts, outcome_columns
    from .laplace_sparse import CrossedLaplace
    from .likelihood import MixtureLikelihood

    lik = source_likelihood(res)
    d = lik.design
    df = newdata.reset_index(drop=True)
    cols, pair = outcome_columns(d.formula.outcome)
    if not with_outcome:
        df = df.copy()
        fill = d.aux.categories[0] if d.family.thresholds else 0.0
        fails = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", pair[1])) - set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", pair[0])) \
            if pair is not None else set()
        for c in cols:  # a valid placeholder: 0 successes (of 1 trial)
            df[c] = 1.0 if c in fails else fill
        if d.trials_arg is not None and d.trials_arg not in df.columns:
            df[d.trials_arg] = 1  # expected values are proportions: the numbers of trials do not enter
        given = {}
        for c in (d.unit_name, d.cluster_name):
            parts = grouping_parts(c, df.columns) if c is not None else None
            given[c] = c is not None and (c in df.columns or bool(parts and all(p in df.columns for p in parts)))
            if c is not None and not given[c]:
                if c == d.cluster_name and given.get(d.unit_name):  # units given: each its own cluster
                    uparts = grouping_parts(d.unit_name, df.columns) or [d.unit_name]
                    df[c] = df.groupby(uparts, sort=False, dropna=False).ngroup().to_numpy()
                else:
                    df[c] = np.arange(len(df))
    else:
        missing = [c for c in cols if c not in df.columns]
        if missing:
            what = ("posterior class probabilities are computed from the units' responses" if d.n_classes > 1 else
                    "the scores of random effects and factors are computed from the clusters' responses")
            raise DesignError(f"newdata lacks the outcome column(s) {missing}: {what} (wide data, one row per "
                              "unit: reshape them with gm.wide_to_long first, as fit(items=...) did)")
    sizes = {v.name: v.K for v in d.classes.vars} if d.multi else None
    nd = build_design(d.formula, df, 2 if d.multi else d.n_classes, d.family,
                      thresholds_by=d.aux.threshold_by if d.family.thresholds else None,
                      sigma_by=d.aux.threshold_by if d.family.has_residual_sd else None, trials=d.trials_arg,
                      measured_by=d.measured_by, class_sizes=sizes, fitted=d)
    integ = dataclasses.replace(lik.integ)
    integ.reset(nd.n_clusters)
    engine = CrossedLaplace if nd.groupings else MixtureLikelihood  # the fitted engine, as in model.py
    return engine(nd, lik.layout, integ)
