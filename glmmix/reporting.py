"""Reporting: what a fitted model's numbers mean, on the scale people read them.

Natural-scale parameters (SDs, correlations, thresholds; the inverse of the optimizer's
transforms), derived quantities (ICCs, between-level regressions, and with several class
variables the quantities of ``structural.py``), model-implied class proportions, item
profiles, the model's name, and the state a :class:`~glmmix.results.MixtureResults` is
built from. Delta-method SEs throughout (``inference.delta_cov``).
"""

from __future__ import annotations

import hashlib

import numpy as np

from .identification import SINGULAR_TOL
from .inference import delta_cov
from .likelihood import MixtureLikelihood
from .mathutils import log_softmax_ref, one_hot_rows
from .random_effects import covariance as re_covariance
from .random_effects import from_natural as re_from_natural
from .random_effects import natural as re_natural
from .structural import LOGISTIC_VARIANCE
from .weights import frequency_weighted, unit_weights


def derived(lik: MixtureLikelihood, theta: np.ndarray) -> tuple[list, np.ndarray]:
    """Derived quantities reported with delta-method SEs.

    * ICC of each random class-logit intercept, Var / (Var + pi^2/3) (eq 20; the logistic
      latent-response variance, as the class logits are logits).
    * Between-level regressions among correlated random effects (eq 5, 15; e.g. alpha_2 on
      alpha_1): slopes and residual SDs implied by their covariance.
    """
    d = lik.design
    names, vals = [], []
    if d.multi:
        from .structural import derived_multi

        names, vals = derived_multi(lik, theta)
        names, vals = list(names), list(vals)
    L = lik.layout
    P = L.unpack(L.expand(theta))
    # between-level regressions (eq 5, 15): each correlated effect on the ones before it;
    # for jointly normal effects these re-express the covariance (slopes S[i,<i] S[<i,<i]^-1)
    # class-specific covariances (eq 18, 25: [eta_j | D_j = d]) give one set per distinct class
    terms = []
    rb = L.blocks["re_out"]
    if rb.size:
        fi = L.free_idx[rb.slice].reshape(rb.shape)
        reps = sorted({tuple(r): k for k, r in reversed(list(enumerate(fi.tolist())))}.values())
        for k in reps:
            pre = "" if len(reps) == 1 else (
                d.classes.state_name(k, d.classes.betw) if d.multi else f"{d.class_name}{k + 1}") + ":"
            terms += [(v, v.entries(P)[k], pre) for v in L.re_out_terms]
    terms += [(v, v.entries(P), "") for v in L.re_cls_terms]
    for v, e, pre in terms:
        b = v.term
        if b.structure != "chol" or b.m < 2:
            continue
        S = re_covariance(b, e, v.pos)
        rows = b.row_names(d.n_classes, d.class_name)
        for i in range(1, b.m):
            A, c = S[:i, :i], S[i, :i]
            try:
                coef = np.linalg.solve(A, c)
            except np.linalg.LinAlgError:
                continue
            for j in range(i):
                names.append(f"{pre}regression({b.group}:{rows[i]} on {rows[j]})")
                vals.append(coef[j])
            names.append(f"{pre}residual sd({b.group}:{rows[i]})")
            vals.append(np.sqrt(max(S[i, i] - c @ coef, 0.0)))
    for v in L.re_cls_terms:
        b = v.term
        S = re_covariance(b, v.entries(P), v.pos)
        rows = b.row_names(d.n_classes, d.class_name)
        for i, r in enumerate(rows):
            if (d.multi or r.startswith(d.class_name)) and ":" not in r:
                names.append(f"icc({b.group}:{r})")
                vals.append(S[i, i] / (S[i, i] + LOGISTIC_VARIANCE))
    return names, np.array(vals)


def natural_params(lik: MixtureLikelihood, theta: np.ndarray) -> np.ndarray:
    """Free parameters on the reported scale (family parameters through their transforms)."""
    return _natural_full(lik, theta)[lik.layout.first_full]


def from_natural(lik: MixtureLikelihood, values: np.ndarray) -> np.ndarray:
    """Reported-scale values of the free parameters (as in ``result.params``) -> theta.

    The inverse of ``reporting.natural_params``: family parameters through the family's inverse
    transform; SDs and correlations of correlated random effects to the Cholesky factor of
    their covariance; loadings and coefficients as they are.
    """
    L = lik.layout
    d = lik.design
    phi = L.expand(values)
    P = L.unpack(phi.copy())
    if P["extra"].size:
        P["extra"][:] = np.stack([d.family.extra_from_natural(P["extra"][k], d.aux) for k in range(lik.K)])
    for v in L.re_terms:
        ent = v.entries(P)  # a view into P
        for k in (range(lik.K) if v.block == "re_out" else (...,)):
            ent[k] = re_from_natural(v.term, ent[k], v.pos)
    return L.from_full(L.pack(P))


def fixed_params(lik: MixtureLikelihood, theta: np.ndarray) -> dict:
    """``{label: value}`` of the parameters held fixed (``fix=``, offsets' coefficients), on
    the reported scale; class-invariant copies are listed once."""
    L = lik.layout
    nat = _natural_full(lik, theta)
    copies, fixed = {}, {}
    for i, lab in enumerate(L.full_labels):
        key = L.strip_class(lab)
        copies[key] = copies.get(key, 0) + 1
        if L.free_idx[i] < 0:
            fixed.setdefault(key, {})[lab] = float(nat[i])
    out = {}
    for key, vals in fixed.items():  # every class's copy at one value: the label without class
        if len(vals) == copies[key] > 1 and len(set(vals.values())) == 1:
            out[key] = next(iter(vals.values()))
        else:
            out.update(vals)
    return out


def _natural_full(lik: MixtureLikelihood, theta: np.ndarray) -> np.ndarray:
    """Every parameter of the full vector on the reported scale."""
    L = lik.layout
    phi = L.expand(theta)
    P = L.unpack(phi)
    d = lik.design
    nat = phi.copy()
    eb = L.blocks["extra"]
    if eb.size:
        nat[eb.slice] = np.stack([d.family.extra_natural(P["extra"][k], d.aux) for k in range(lik.K)]).ravel()
    natP = L.unpack(nat)
    for v in L.re_terms:
        out = v.entries(natP)  # a view into nat
        for k in (range(lik.K) if v.block == "re_out" else (...,)):
            out[k] = re_natural(v.term, v.entries(P)[k], v.pos)
    return nat


def _class_prop(lik, theta):
    """Model-implied class proportions: P(c | z_u) averaged over units and, with random
    class logits, over their normal distribution (the integration rule's standard nodes).
    Computed on distinct unit patterns, weighted by how often each occurs."""
    d = lik.design
    if d.multi:  # joint states: the averaged joint distribution (structural.py)
        from .structural import joint_prior, unit_mean

        return unit_mean(lik, joint_prior(lik, theta))
    P = lik.layout.unpack(lik.layout.expand(theta))
    rs = lik.pat
    lin = (rs.Zv @ P["gamma"])[:, :, None]  # (V, K-1, 1)
    w = np.ones(1)
    if d.re_cls:
        _, Lc = lik.factor_matrices(P)
        t, logw = lik.integ.t, lik.integ.logw
        w = np.exp(logw) / np.exp(logw).sum()
        B = lik.class_logit_loadings(rs.Wv, Lc)
        lin = lin + np.einsum("ucd,qd->ucq", B, t)
    p = np.exp(log_softmax_ref(lin))
    return (rs.mult[:, None] * (p * w[None, None, :]).sum(axis=2)).sum(axis=0) / rs.mult.sum()


def _unit_freq(d):
    """Frequency weights per unit (a cluster's for each of its units), None without them."""
    if not frequency_weighted(d):
        return None
    return d.unit_weight if d.unit_weight is not None else d.cluster_weight[d.cluster_of_unit]


def _one_hot(X):
    return one_hot_rows(X)


def _model_name(lik):
    d = lik.design
    K = d.n_classes
    if d.multi:
        cs = d.classes
        if cs.betw:
            return "within and between latent classes (C and D, Section 6)"
        lta = "latent transition analysis (LTA)" if any(v.parents for v in cs.vars) else \
            "several latent class variables"
        return ("two-level " + lta + ", random class intercepts") if d.re_cls else lta
    if d.D:
        kinds = {b.structure for b in d.re_out}
        if K == 1:
            return "factor model / IRT (GLMM with loadings)" if "rr" in kinds else "generalized linear mixed model (GLMM)"
        if d.re_cls and d.unit_name is None:
            return "grade of membership (GoM)" + (" with factors (FMA-GoM)" if d.re_out else "")
        if d.re_cls:
            return "two-level latent class model (random class intercepts)"
        if d.form == "outside":
            return "factor mixture (FMA / mixture IRT)" if "rr" in kinds else "mixture GLMM (classes per cluster)"
        return "mixture GLMM (classes within clusters)"
    if K == 1:
        return "generalized linear model (one class)"
    if d.unit_name is not None:
        if _one_hot(d.X):
            kind = "latent profile analysis (LPA)" if d.family.has_residual_sd else "latent class analysis (LCA)"
            return kind + (" with covariates" if d.Z.shape[1] > 1 else "")
        return "latent class regression (one class per unit)"
    return "finite mixture GLM (one class per row)"


def _delta_se(fun, theta, cov_free, n):
    """Delta-method SEs of fun(theta) (NaN without a covariance)."""
    if cov_free is None:
        return np.full(n, np.nan)
    return np.sqrt(np.clip(np.diag(delta_cov(fun, theta, cov_free)), 0, None))


def class_prop_entry(lik, theta, cov_free) -> dict:
    """Model-implied class proportions and their delta-method SEs."""
    K = lik.design.n_classes
    cp = _class_prop(lik, theta)
    cp_se = _delta_se(lambda t: _class_prop(lik, t), theta, cov_free, K) if K > 1 else np.full(K, np.nan)
    return {"value": cp, "se": cp_se}


def profile_entry(lik, theta, cov_free) -> dict | None:
    """Expected outcomes per class for designs of item dummies (None for other designs)."""
    d = lik.design
    L = lik.layout
    K = d.n_classes
    if d.family.thresholds:
        return None if d.multi else _profile_ordinal(lik, theta, cov_free)
    if not _one_hot(d.X):
        return None
    if d.multi:
        return _profile_multi(lik, theta, cov_free)

    def prof(t):
        P = L.unpack(L.expand(t))
        return d.family.mean(P["beta"], P["extra"], d.aux).ravel()

    vals = prof(theta).reshape(-1, K)
    ses = _delta_se(prof, theta, cov_free, vals.size).reshape(-1, K)
    cn = [f"{d.class_name}{k + 1}" for k in range(K)]
    return {"index": d.x_names, "columns": cn + [f"se:{c}" for c in cn], "values": np.concatenate([vals, ses], axis=1)}


def _profile_ordinal(lik, theta, cov_free) -> dict | None:
    """Category probabilities per class of an ordinal LCA (poLCA's ``probs`` of polytomous
    items): one row per item (threshold set, or item dummy) and category, for outcome parts
    of item dummies or none (``thresholds_by="item"``)."""
    d = lik.design
    X = d.X.toarray() if hasattr(d.X, "toarray") else np.asarray(d.X)
    if X.shape[1] and not _one_hot(X):
        return None
    L, K, cats = lik.layout, d.n_classes, d.aux.categories
    col = X.argmax(axis=1) if X.shape[1] else np.zeros(len(X), int)
    _, first = np.unique(np.column_stack([d.aux.threshold_group, col]), axis=0, return_index=True)
    first = np.sort(first)
    aux = d.aux.rows(first)

    def prof(t):
        P = L.unpack(L.expand(t))
        pr = d.family.probabilities(X[first] @ P["beta"], P["extra"], aux)  # (items, K, categories)
        return pr.transpose(0, 2, 1).ravel()

    vals = prof(theta).reshape(-1, K)
    ses = _delta_se(prof, theta, cov_free, vals.size).reshape(-1, K)
    names = []
    for r in first:
        parts = [str(d.aux.threshold_levels[d.aux.threshold_group[r]])] if d.aux.threshold_levels[0] is not None else []
        parts += [str(d.x_names[col[r]])] if X.shape[1] else []
        names += [f"{', '.join(parts)}: {c}" if parts else str(c) for c in cats]
    cn = [f"{d.class_name}{k + 1}" for k in range(K)]
    return {"index": names, "columns": cn + [f"se:{c}" for c in cn], "values": np.concatenate([vals, ses], axis=1)}


def derived_entry(lik, theta, cov_free) -> dict:
    """Derived quantities (:func:`derived`) and their delta-method SEs."""
    dnames, dvals = derived(lik, theta)
    dse = np.full(len(dnames), np.nan)
    if dnames:
        dse = _delta_se(lambda t: derived(lik, t)[1], theta, cov_free, len(dnames))
    return {"names": dnames, "value": dvals, "se": dse}


def unit_cluster_entry(lik, theta, cov_free):
    """The cluster label of every unit, for classes within clusters (else None): one value per
    unit, built only when asked for (``cluster_class_proportions``, saving)."""
    d = lik.design
    return d.cluster_ids.to_numpy()[d.cluster_of_unit] if d.form == "inside" and d.cluster_name else None


#: results entries computed when first asked for (each from the likelihood, theta and the
#: free parameters' covariance), so fitting does not pay for what nobody reads
LAZY_ENTRIES = {"class_prop": class_prop_entry, "profile": profile_entry, "derived": derived_entry,
                "unit_cluster": unit_cluster_entry}


def correlations_at_one(labels, values) -> list[int]:
    """Positions of the reported random-effect correlations at +-1 (a singular covariance:
    sqrt(1 - r^2), the correlated effect's residual SD relative to its SD, below lme4's
    ``isSingular`` tolerance). The delta method gives such an estimate an SE of about 0 (r
    is flat in the Cholesky entry at 0), which is no measure of its uncertainty: the results
    report it as a boundary estimate, with no SE, test or interval."""
    return [i for i, lab in enumerate(labels) if (lab.startswith("cor(") or ":cor(" in lab)
            and np.sqrt(max(0.0, 1.0 - float(values[i]) ** 2)) < SINGULAR_TOL]


def data_digest(d) -> str | None:
    """A fingerprint of the outcome data a fit used: the multiset of its rows' outcomes (with
    binomial trials), whatever the row order. Fits of one data set share it; two fits whose
    fingerprints differ were fitted to different outcomes (another column, other rows), which
    likelihood-ratio tests and information criteria must not compare. None where the rows are
    not in memory (a dask design)."""
    if not isinstance(d.y, np.ndarray):
        return None
    trials = d.aux.trials if isinstance(d.aux.trials, np.ndarray) else None
    h = hashlib.sha256()
    if trials is not None and trials.size and np.all(trials == trials.flat[0]):
        # one number of trials (bernoulli: a view of a constant): the outcomes sorted, then the
        # constant, hashed by blocks, as the rows sorted by (y, trials) would be, without copies
        ys = np.sort(np.asarray(d.y, dtype=float))
        ys += 0.0  # -0.0 and 0.0 alike
        h.update(ys.tobytes())
        del ys
        block = np.full(min(trials.size, 65536), float(trials.flat[0]) + 0.0)
        for a in range(0, trials.size, block.size):  # blocks of rows, not rows
            h.update(block[:min(block.size, trials.size - a)].tobytes())
        return h.hexdigest()[:16]
    cols = [np.asarray(d.y, dtype=float) + 0.0]  # + 0.0: -0.0 and 0.0 alike
    if trials is not None:
        cols.append(np.asarray(trials, dtype=float) + 0.0)
    order = np.lexsort(cols[::-1])
    for c in cols:
        h.update(np.ascontiguousarray(c[order]).tobytes())
    return h.hexdigest()[:16]


def results_state(lik, fr, cov_free, se_type, opts, natural_cov=None, at_one=None) -> dict:
    """What a :class:`~glmmix.results.MixtureResults` reports, from the likelihood, the
    estimation's FitResult and the free parameters' covariance; the entries of
    ``LAZY_ENTRIES`` are left out (the results compute them when asked). ``natural_cov``
    and ``at_one``: the reported parameters' covariance and the correlations at +-1 when
    judged otherwise (on a centred twin's parameters, centring.py)."""
    d = lik.design
    L = lik.layout
    K = d.n_classes
    theta = fr.theta
    nat = natural_params(lik, theta)
    cov = natural_cov
    if cov_free is not None and cov is None:
        cov = delta_cov(lambda t: natural_params(lik, t), theta, cov_free)
    if at_one is None:
        at_one = correlations_at_one(L.labels, nat)
    if at_one and cov is not None:
        cov[at_one, :] = np.nan
        cov[:, at_one] = np.nan
    es = lik.evaluate(theta, derivs=False)
    phi = L.expand(theta)
    P = L.unpack(phi)
    return {
        "format": "glmmix-results",
        "glmmix_version": __import__("glmmix").__version__,
        "model_name": _model_name(lik),
        "formula": d.formula.text,
        "family": d.family.name,
        "link": d.family.link.name,
        "aux": d.aux.model_fields(),
        "n_classes": K,
        "class_name": d.class_name,
        "class_names": [d.classes.state_name(s) for s in range(K)],
        "class_sizes": {v.name: v.K for v in d.classes.vars},
        "labels": L.labels,
        "label_blocks": [L.block_of(i) for i in L.first_full],
        "params": nat,
        "fixed": fixed_params(lik, theta),
        "theta": theta,
        "cov": cov,
        "se_type": se_type,
        "llf": fr.ll,
        "nobs": d.n_rows,
        "data_digest": data_digest(d),
        "n_units": d.n_units,
        "n_dropped": d.n_dropped,
        "n_units_dropped": d.n_units_dropped,
        "n_clusters_dropped": d.n_clusters_dropped,
        "dropped_levels": {str(c): [str(v) for v in lv] for c, lv in d.dropped_levels.items()},
        "n_missing_wide": d.n_missing_wide,
        "unit_name": d.unit_name,
        "unit_ids": d.unit_ids,  # the design's labels (a RangeIndex for rows holds none); saved as a list
        "posterior": lik.unit_posterior(es),
        "x_names": d.x_names,
        "z_names": d.z_names,
        "beta_full": P["beta"],
        "extra_full": P["extra"],
        "gamma_full": P["gamma"],
        "integration": lik.integ.state() if d.D else None,
        "n_clusters": d.n_clusters,
        "cluster_name": d.cluster_name,
        "form": d.form,
        "weighting": d.weighting,
        "unit_freq": _unit_freq(d),
        "unit_weight": unit_weights(d),
        "converged": fr.converged,
        "grad_max": fr.grad_max,
        "em_iterations": fr.em_iterations,
        "qn_iterations": fr.qn_iterations,
        "best_replicated": fr.best_replicated,
        "n_best": fr.n_best,
        "boundary": sorted(set(fr.boundary) | set(at_one)),
        "warnings": fr.warnings,
        "starts": [vars(r) for r in fr.starts],
        "search": fr.search.to_dict() if fr.search is not None else None,
        "options": {"n_starts": opts.n_starts, "n_final": opts.n_final, "seed": opts.seed},
    }


def _profile_multi(lik, theta, cov_free):
    """Item profiles per class variable: rows ``variable:item``, columns the classes.

    Each measurement group measured by one class variable contributes its columns; the
    mean of a column in class k is taken in a joint state whose digit for that variable is k.
    """
    d = lik.design
    cs = d.classes
    L = lik.layout
    groups = d.mgroups
    if any(len(g) != 1 for g in groups):
        return None
    Kmax = max(cs.vars[g[0]].K for g in groups)
    cols, index = [], []
    for j, x in enumerate(d.x_names):
        t = groups[d.x_group[j]][0]
        v = cs.vars[t]
        states = [int(np.flatnonzero(cs.digits[:, t] == k)[0]) for k in range(v.K)]
        cols.append((j, states))
        index.append(f"{v.name}:{x}")

    def prof(th):
        P = L.unpack(L.expand(th))
        mu = d.family.mean(P["beta"], P["extra"], d.aux)  # (p, S)
        out = np.full((len(cols), Kmax), np.nan)
        for r, (j, states) in enumerate(cols):
            out[r, : len(states)] = mu[j, states]
        return out.ravel()

    vals = prof(theta).reshape(-1, Kmax)
    ses = _delta_se(prof, theta, cov_free, vals.size).reshape(-1, Kmax)
    cn = [f"class{k + 1}" for k in range(Kmax)]
    return {"index": index, "columns": cn + [f"se:{c}" for c in cn], "values": np.concatenate([vals, ses], axis=1)}
