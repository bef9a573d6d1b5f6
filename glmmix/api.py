"""``glmmix.fit``: formula -> design -> likelihood -> estimation -> inference -> results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .design import build_design
from .estimation import FitOptions, estimate
from .exceptions import DesignError
from .families import get_family
from .formula import parse_formula
from .inference import covariance, delta_cov
from .likelihood import MixtureLikelihood, log_softmax_ref
from .params import ParamLayout
from .quadrature import Integration
from .random_effects import covariance as re_covariance
from .random_effects import natural as re_natural
from .random_effects import set_parameterization
from .results import MixtureResults


def _starts(starts):
    if starts is None:
        return 0, 0
    if isinstance(starts, (tuple, list)):
        if len(starts) != 2:
            raise DesignError("starts must be an int or a pair (n_starts, n_final)")
        n, f = int(starts[0]), int(starts[1])
    else:
        n = int(starts)
        f = min(5, n)
    if n < 0 or f < 0 or (n > 0 and f < 1) or f > max(n, 1):
        raise DesignError(f"starts=({n}, {f}) is not valid: need n_starts >= n_final >= 1")
    return n, f


def fit(
    formula: str,
    data: pd.DataFrame,
    n_classes: int | dict = 1,
    family="gaussian",
    link: str | None = None,
    *,
    measured_by=None,
    measurement_invariance: bool = False,
    re_parameterization: str = "cholesky",
    invariant=(),
    class_specific=(),
    fix: dict | None = None,
    equal: list | None = None,
    thresholds_by: str | None = None,
    trials: str | None = None,
    starts=(20, 5),
    seed: int | None = None,
    se: str = "ml",
    n_jobs: int = 1,
    start_params=None,
    start_from: MixtureResults | None = None,
    start_values: dict | None = None,
    options: FitOptions | None = None,
    integration: str = "auto",
    n_points: int | None = None,
    adaptive: bool | None = None,
) -> MixtureResults:
    """Fit a (multilevel) mixture GLM by maximum likelihood.

    Parameters
    ----------
    formula : str
        ``"y ~ terms | class(unit) ~ terms"``; see :mod:`glmmix.formula`. Examples:
        ``"y ~ 0 + item | class(person) ~ 1"`` (LCA), ``"y ~ 0 + item | class(person) ~ 1 + x"``
        (LCA with class membership regressed on x, eq 4), ``"y ~ x | class ~ 1"`` (finite
        mixture regression, one class per row), ``"y ~ x"`` (a GLM; n_classes=1).
    data : DataFrame
        Long data, one row per response (see :func:`glmmix.wide_to_long`). Rows with a
        missing outcome are dropped and counted.
    n_classes : int or dict
        Number of latent classes K >= 1; with several class variables an int (the same for
        every variable) or ``{name: K}``.
    measured_by : str or dict, optional
        Several class variables (LTA, eq 6-9): which rows measure which variable. A column
        name (e.g. ``"time"``) whose sorted distinct values map, in order, to the
        within-level class variables of the formula; or ``{name: selector}`` with a query
        string (``"time == 1"``), ``True`` (every row) or a boolean array. Between-level
        variables measure every row unless the dict says otherwise. A row's outcome
        coefficients depend on the classes of the variables that measure it (C and D
        together: on (c, d), eq 22).
    re_parameterization : {"cholesky", "regression"}
        How correlated random effects are parameterized: the Cholesky factor of their
        covariance (Section 10; reported as SDs and correlations) or recursive between-level
        regressions, each effect on the ones before it (eq 5, 15, 25: alpha_2 = beta alpha_1
        + e), reported as ``sd(g:first)``, ``regression(g:second on first)`` and ``residual
        sd(g:second)``; the same model, but its slopes can be fixed or held equal.
    measurement_invariance : bool
        Several class variables measured by the same items: equal outcome coefficients for
        equal class numbers across variables (the time-invariant latent class model, eq 11),
        as equality constraints.
    family : str or Family
        ``"bernoulli"``, ``"binomial"`` (with ``trials``), ``"poisson"``, ``"gaussian"``,
        ``"ordinal"``.
    link : str, optional
        ``"logit"``/``"probit"`` (bernoulli, binomial, ordinal), ``"log"``, ``"identity"``.
    invariant : list of str
        Outcome-part terms whose coefficients are equal across classes (class-invariant);
        every other term is class-specific. ``"sigma"``/``"thresholds"`` make family
        parameters invariant.
    class_specific : list of str
        Family parameters to free per class: ``"sigma"`` (gaussian residual SD; invariant by
        default, as in Mplus).
    fix : dict, optional
        ``{parameter label: value}`` fixes parameters (natural scale).
    equal : list of lists, optional
        Groups of parameter labels held equal.
    thresholds_by : str, optional
        Ordinal family: a column whose levels get separate thresholds (``"item"``).
    trials : str, optional
        Binomial family: column with the number of trials.
    starts : int or (int, int)
        Random starting sets and how many of the best are completed (default 20 and 5,
        Section 10 of Asparouhov & Muthen). ``0``: one start, the given starting values, or
        (with classes and none given) one perturbation of the data-based centre, which is
        itself a saddle point (every class alike).
    seed : int, optional
        Seed for the random starts; a fixed seed gives identical results (also in parallel).
    se : {"ml", "robust", "none"}
        Observed-information or sandwich standard errors.
    n_jobs : int
        Run the starts in parallel with joblib (``-1``: all cores).
    start_params : array, optional
        Unconstrained free-parameter vector to start from (e.g. ``other_result.theta``).
    start_from : MixtureResults, optional
        A simpler fitted model (e.g. the LCA before a GoM, one class before K, a model
        without a random term): parameters with the same labels start at its estimates,
        the others at their defaults; random starts are drawn around that point
        (Section 10's advice to build models gradually). A one-class model's parameters
        start every class.
    start_values : dict, optional
        ``{label: value}`` overrides of individual starting values (unconstrained scale).
    options : FitOptions, optional
        Full control of the estimation (overrides ``starts``, ``seed``, ``n_jobs``).
    integration : str
        Numerical integration of random effects: ``"auto"`` (default: adaptive Gauss-Hermite
        for random effects in outcome predictors and in logits of unit-level classes (two-level
        LCA, LTA); the trapezoid rule when logits of row-level classes are random, as in
        GoM, where Gauss-Hermite is inaccurate), ``"agh"`` (adaptive
        Gauss-Hermite), ``"gh"`` (non-adaptive), ``"trapezoid"`` (the paper's preferred
        rule, robust for huge variances; nodes over +-6 SD), ``"laplace"`` (one adaptive
        point at the mode, as lme4's default), ``"mc"`` / ``"qmc"`` (Monte Carlo /
        quasi-Monte Carlo, for many dimensions).
    n_points : int, optional
        Points per dimension (GH, trapezoid) or in all (MC, QMC); defaults depend on the
        dimension (15 per dimension for one-dimensional adaptive Gauss-Hermite, 61 for the
        trapezoid rule).
    adaptive : bool, optional
        Move nodes to each cluster's posterior (default for agh, laplace, mc, qmc).

    Returns
    -------
    MixtureResults
    """
    # Step 1: read the formula and check the arguments (before touching the data).
    parsed = parse_formula(formula)
    class_sizes = None
    if len(parsed.classes) > 1:
        names = [c.name for c in parsed.classes]
        if isinstance(n_classes, dict):
            unknown = sorted(set(n_classes) - set(names))
            if unknown:
                raise DesignError(f"n_classes names {unknown}, which are not class variables {names}")
            class_sizes = dict(n_classes)
        else:
            class_sizes = {n: n_classes for n in names}
        for n, k in class_sizes.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise DesignError(f"n_classes for {n!r} must be an integer, not {k!r}")
        n_classes = 2
    elif isinstance(n_classes, dict):
        raise DesignError("n_classes as a dict needs several class variables in the formula")
    elif measured_by is not None:
        raise DesignError("measured_by needs several class variables in the formula (e.g. LTA: "
                          "'y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1')")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise DesignError(f"n_classes must be an integer >= 1, not {n_classes!r}")
    if se not in ("ml", "robust", "none", None):
        raise DesignError(f"se must be 'ml', 'robust' or 'none', not {se!r}")
    fam = get_family(family, link)
    n_starts, n_final = _starts(starts)
    opts = options or FitOptions(n_starts=n_starts, n_final=n_final, seed=seed, n_jobs=n_jobs)
    # Step 2: design, parameter layout, likelihood.
    design = build_design(parsed, data, int(n_classes), fam, thresholds_by=thresholds_by, trials=trials,
                          measured_by=measured_by, class_sizes=class_sizes)
    set_parameterization(design, re_parameterization)
    layout = ParamLayout(design, invariant=invariant, class_specific=class_specific, fix=fix, equal=equal,
                         measurement_invariance=measurement_invariance)
    integ = Integration.make(integration, n_points, design.D, design.n_clusters, adaptive=adaptive,
                             seed=0 if seed is None else seed,
                             class_logits=bool(design.re_cls) and design.unit_name is None)
    _check_integration(integ)
    lik = MixtureLikelihood(design, layout, integ)
    if start_from is not None:
        if start_params is not None:
            raise DesignError("give start_params or start_from, not both")
        start_params = _transfer(start_from, lik)
    if start_values:
        from .estimation import homogeneous_start

        base = np.asarray(start_params, float) if start_params is not None else homogeneous_start(lik)
        phi = layout.expand(base)
        for lab, val in start_values.items():
            for i in layout._resolve(lab, None):
                phi[i] = val
        start_params = layout.from_full(phi)
    if start_params is not None and len(start_params) != layout.n_free:
        raise DesignError(f"start_params has {len(start_params)} values; the model has {layout.n_free} free parameters")
    # Step 3: estimation and inference.
    fr = estimate(lik, opts, start_params=start_params)
    cov_free, info = covariance(lik, fr.theta, kind=se, boundary=fr.boundary)
    return MixtureResults(_state(lik, fr, cov_free, se or "none", opts), lik)


def _transfer(src: MixtureResults, lik: MixtureLikelihood) -> np.ndarray:
    """Starting values for ``lik`` from a fitted result, matched by full parameter labels."""
    from .estimation import homogeneous_start

    src_lik = src.model
    if src_lik is None:
        raise DesignError("start_from needs a result fitted in this session (not a loaded one)")
    sL = src_lik.layout
    src_full = dict(zip(sL.full_labels, sL.expand(src.theta)))
    L = lik.layout
    phi = L.expand(homogeneous_start(lik))
    hits = 0
    one_class = src.n_classes == 1
    for i, lab in enumerate(L.full_labels):
        key = lab if lab in src_full else (L._strip_class_any(lab) if one_class else None)
        if key in src_full and L.free_idx[i] >= 0:
            phi[i] = src_full[key]
            hits += 1
    if hits == 0:
        raise DesignError("start_from shares no parameter labels with this model; nothing to start from")
    return L.from_full(phi)


def _check_integration(integ):
    import warnings

    from .exceptions import GlmmixWarning

    if integ.D == 0:
        return
    per_dim = integ.n_points
    if integ.method in ("gh", "trapezoid") and not integ.adaptive and per_dim < 10:
        warnings.warn(
            f"non-adaptive {integ.method} with {per_dim} points per dimension is usually inaccurate "
            "(the log-likelihood can be off by whole units); use integration='agh' or more points",
            GlmmixWarning, stacklevel=3)
    if integ.method in ("mc", "qmc") and per_dim < 200:
        warnings.warn(f"{integ.method} with {per_dim} points is coarse; use 1000 or more",
                      GlmmixWarning, stacklevel=3)


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
    blocks = []
    rb = L.blocks["re_out"]
    if rb.size:
        fi = L.free_idx[rb.slice].reshape(rb.shape)
        reps = sorted({tuple(r): k for k, r in reversed(list(enumerate(fi.tolist())))}.values())
        for k in reps:
            pre = "" if len(reps) == 1 else (
                d.classes.state_name(k, d.classes.betw) if d.multi else f"{d.class_name}{k + 1}") + ":"
            blocks += [(b, P["re_out"][k], pos, pre) for b, pos in zip(d.re_out, lik._pos)]
    blocks += [(b, P["re_cls"], pos, "") for b, pos in zip(d.re_cls, lik._pos[len(d.re_out):])]
    k_out = k_cls = 0
    for b, entries, pos, pre in blocks:
        n = len(pos)
        if b.part == "outcome":
            if b is d.re_out[0]:
                k_out = 0
            e, k_out = entries[k_out:k_out + n], k_out + n
        else:
            e, k_cls = entries[k_cls:k_cls + n], k_cls + n
        if b.structure != "chol" or b.m < 2:
            continue
        S = re_covariance(b, e, pos)
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
    if d.re_cls:
        k0 = 0
        for b, pos in zip(d.re_cls, lik._pos[len(d.re_out):]):
            n = len(pos)
            S = re_covariance(b, P["re_cls"][k0:k0 + n], pos)
            rows = b.row_names(d.n_classes, d.class_name)
            for i, r in enumerate(rows):
                if (d.multi or r.startswith(d.class_name)) and ":" not in r:
                    names.append(f"icc({b.group}:{r})")
                    vals.append(S[i, i] / (S[i, i] + np.pi**2 / 3))
            k0 += n
    return names, np.array(vals)


def natural_params(lik: MixtureLikelihood, theta: np.ndarray) -> np.ndarray:
    """Free parameters on the reported scale (family parameters through their transforms)."""
    L = lik.layout
    phi = L.expand(theta)
    P = L.unpack(phi)
    d = lik.design
    nat = phi.copy()
    eb = L.blocks["extra"]
    if eb.size:
        nat[eb.slice] = np.stack([d.family.extra_natural(P["extra"][k], d.aux) for k in range(lik.K)]).ravel()
    if d.re_out:
        rb = L.blocks["re_out"]
        vals = np.empty(rb.shape)
        for k in range(lik.K):
            k0 = 0
            for b, pos in zip(d.re_out, lik._pos):
                n = len(pos)
                vals[k, k0:k0 + n] = re_natural(b, P["re_out"][k, k0:k0 + n], pos)
                k0 += n
        nat[rb.slice] = vals.ravel()
    if d.re_cls:
        cb = L.blocks["re_cls"]
        vals = np.empty(cb.size)
        k0 = 0
        for b, pos in zip(d.re_cls, lik._pos[len(d.re_out):]):
            n = len(pos)
            vals[k0:k0 + n] = re_natural(b, P["re_cls"][k0:k0 + n], pos)
            k0 += n
        nat[cb.slice] = vals
    return nat[L._first_full]


def _class_prop(lik, theta):
    """Model-implied class proportions: P(c | z_u) averaged over units and, with random
    class logits, over their normal distribution (the integration rule's standard nodes).
    Computed on distinct unit patterns, weighted by how often each occurs."""
    d = lik.design
    if d.multi:  # joint states: the averaged joint distribution (structural.py)
        from .structural import joint_prior

        return joint_prior(lik, theta).mean(axis=0)
    P = lik.layout.unpack(lik.layout.expand(theta))
    rs = lik.pat
    lin = (rs.Zv @ P["gamma"])[:, :, None]  # (V, K-1, 1)
    w = np.ones(1)
    if d.re_cls:
        _, Lc = lik.factor_matrices(P)
        t, logw = lik.integ.t, lik.integ.logw
        w = np.exp(logw) / np.exp(logw).sum()
        B = np.zeros((rs.V, lik.K - 1, lik.D))
        for b, Wt, L, dims in zip(d.re_cls, rs.Wv, Lc, lik._dims_cls):
            B[:, :, dims] += np.einsum("ui,cij->ucj", Wt, L.reshape(lik.K - 1, Wt.shape[1], b.d))
        lin = lin + np.einsum("ucd,qd->ucq", B, t)
    p = np.exp(log_softmax_ref(lin))
    return (rs.mult[:, None] * (p * w[None, None, :]).sum(axis=2)).sum(axis=0) / rs.mult.sum()


def _one_hot(X):
    if sp.issparse(X):
        Xc = X.tocsr()
        return bool(np.all(np.diff(Xc.indptr) == 1) and np.all(Xc.data == 1.0))
    return bool(np.all((X == 0) | (X == 1)) and np.all(X.sum(axis=1) == 1))


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
            return "latent class analysis (LCA)" + (" with covariates" if d.Z.shape[1] > 1 else "")
        return "latent class regression (one class per unit)"
    return "finite mixture GLM (one class per row)"


def _state(lik, fr, cov_free, se_type, opts) -> dict:
    d = lik.design
    L = lik.layout
    K = d.n_classes
    theta = fr.theta
    nat = natural_params(lik, theta)
    cov = None
    if cov_free is not None:
        cov = delta_cov(lambda t: natural_params(lik, t), theta, cov_free)
    es = lik.evaluate(theta, derivs=False)
    cp = _class_prop(lik, theta)
    cp_se = np.full(K, np.nan)
    if cov_free is not None and K > 1:
        cp_se = np.sqrt(np.clip(np.diag(delta_cov(lambda t: _class_prop(lik, t), theta, cov_free)), 0, None))
    profile = None
    if d.multi:
        profile = _profile_multi(lik, theta, cov_free)
    elif _one_hot(d.X) and d.family.name != "ordinal":
        def prof(t):
            P = L.unpack(L.expand(t))
            return d.family.mean(P["beta"], P["extra"], d.aux).ravel()

        vals = prof(theta).reshape(-1, K)
        ses = np.full_like(vals, np.nan)
        if cov_free is not None:
            ses = np.sqrt(np.clip(np.diag(delta_cov(prof, theta, cov_free)), 0, None)).reshape(-1, K)
        cn = [f"{d.class_name}{k + 1}" for k in range(K)]
        profile = {"index": d.x_names, "columns": cn + [f"se:{c}" for c in cn],
                   "values": np.concatenate([vals, ses], axis=1)}
    dnames, dvals = derived(lik, theta)
    dse = np.full(len(dnames), np.nan)
    if cov_free is not None and dnames:
        dse = np.sqrt(np.clip(np.diag(delta_cov(lambda t: derived(lik, t)[1], theta, cov_free)), 0, None))
    phi = L.expand(theta)
    P = L.unpack(phi)
    aux_keep = {k: v for k, v in d.aux.items() if k in ("categories", "n_cat", "threshold_levels", "threshold_by")}
    cls = d.formula.classes[0] if d.formula.classes else None
    return {
        "format": "glmmix-results",
        "glmmix_version": __import__("glmmix").__version__,
        "model_name": _model_name(lik),
        "formula": d.formula.text,
        "outcome_rhs": d.formula.outcome_part.fixed,
        "class_rhs": cls.part.fixed if cls is not None else None,
        "family": d.family.name,
        "link": d.family.link.name,
        "aux": aux_keep,
        "n_classes": K,
        "class_name": d.class_name,
        "class_names": [d.classes.state_name(s) for s in range(K)],
        "class_sizes": {v.name: v.K for v in d.classes.vars},
        "labels": L.labels,
        "label_blocks": [L.block_of(i) for i in L._first_full],
        "params": nat,
        "theta": theta,
        "cov": cov,
        "se_type": se_type,
        "llf": fr.ll,
        "nobs": d.n_rows,
        "n_units": d.n_units,
        "n_dropped": d.n_dropped,
        "n_missing_wide": d.n_missing_wide,
        "unit_name": d.unit_name,
        "unit_ids": list(d.unit_ids),
        "posterior": lik.unit_posterior(es),
        "class_prop": {"value": cp, "se": cp_se},
        "profile": profile,
        "x_names": d.x_names,
        "z_names": d.z_names,
        "beta_full": P["beta"],
        "extra_full": P["extra"],
        "gamma_full": P["gamma"],
        "derived": {"names": dnames, "value": dvals, "se": dse},
        "integration": lik.integ.state() if d.D else None,
        "n_clusters": d.n_clusters,
        "unit_cluster": [d.cluster_ids[c] for c in d.cluster_of_unit] if d.form == "inside" and d.cluster_name else None,
        "cluster_name": d.cluster_name,
        "form": d.form,
        "converged": fr.converged,
        "grad_max": fr.grad_max,
        "em_iterations": fr.em_iterations,
        "qn_iterations": fr.qn_iterations,
        "best_replicated": fr.best_replicated,
        "n_best": fr.n_best,
        "boundary": fr.boundary,
        "warnings": fr.warnings,
        "starts": [vars(r) for r in fr.starts],
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
    if not _one_hot(d.X) or d.family.name == "ordinal":
        return None
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
    ses = np.full_like(vals, np.nan)
    if cov_free is not None:
        ses = np.sqrt(np.clip(np.diag(delta_cov(prof, theta, cov_free)), 0, None)).reshape(-1, Kmax)
    cn = [f"class{k + 1}" for k in range(Kmax)]
    return {"index": index, "columns": cn + [f"se:{c}" for c in cn], "values": np.concatenate([vals, ses], axis=1)}
