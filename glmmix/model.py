"""``MixtureModel``: the pipeline built once, from a formula and data, before any fitting.

    formula text --parse_formula--> ParsedFormula
    + data       --build_design--> Design (with the random terms' parameterization)
    + constraints --ParamLayout--> free parameters, labels, ties, fixed values
    + integration rule --MixtureLikelihood--> loglike, score, information
    .fit(starts, seed, se) --estimate, covariance, reporting--> MixtureResults

As statsmodels' Model / Results and lme4's ``lFormula`` / deviance function / optimizer /
``mkMerMod``: the model object knows the data and the parameter space; ``fit`` finds the
maximum and hands the numbers to a results object. :func:`glmmix.fit` is
``MixtureModel.from_formula(...).fit(...)``.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd

from .allocator import keep_freed_memory
from .design import Design, build_design, combined_groupings
from .estimation import FitOptions, estimate, homogeneous_start
from .exceptions import DataWarning, DesignError, GlmmixWarning
from .families import get_family
from .formula import parse_formula
from .inference import covariance, limit_covariance, observed_information
from .laplace_sparse import CrossedLaplace, check_crossed
from .likelihood import MixtureLikelihood
from .long import wide_for_formula
from .params import ParamLayout
from .partitions import PartitionedLikelihood, dask_design, is_dask
from .progress import say
from .quadrature import Integration
from .centring import plan as centring_plan
from .random_effects import check_residual_separable, check_slopes_centred, with_parameterization
from .weights import frequency_weighted
from .reporting import correlations_at_one, from_natural, natural_params, results_state
from .results import MixtureResults
from .terms import ParsedFormula
from .validate import (check_label_values, check_model_args, check_n_jobs, check_options, check_seed,
                       check_start_params, check_starts)

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from .families import Family
    from .nesting import LimitPoint

#: the default start search: adaptive (estimation.adaptive_search)
DEFAULT_STARTS = "auto"


class _Unset:
    """Marks a keyword the caller did not give (so a conflict with ``options`` is seen)."""

    def __repr__(self):
        return "<default>"


UNSET = _Unset()


def class_sizes_of(parsed: ParsedFormula, n_classes, measured_by=None) -> tuple[int, dict | None]:
    """Check ``n_classes`` against the formula's class variables.

    Returns ``(K, sizes)``: with one class variable K and None; with several, K = 2 (a
    placeholder the design replaces by the joint state count) and ``{name: K}``.
    """
    sizes = None
    if len(parsed.classes) > 1:
        names = [c.name for c in parsed.classes]
        if isinstance(n_classes, dict):
            unknown = sorted(set(n_classes) - set(names))
            if unknown:
                raise DesignError(f"n_classes names {unknown}, which are not class variables {names}")
            sizes = dict(n_classes)
        else:
            sizes = {n: n_classes for n in names}
        for n, k in sizes.items():
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
                raise DesignError(f"n_classes for {n!r} must be an integer, not {k!r}")
        n_classes = 2
    elif isinstance(n_classes, dict):
        names = [c.name for c in parsed.classes]
        if not names:
            raise DesignError(f"n_classes={n_classes!r} names class variables, but the formula has no class "
                              "part (add '| class(unit) ~ 1', or give an integer)")
        if set(n_classes) != set(names):
            raise DesignError(f"n_classes names {sorted(map(str, n_classes))}, but the formula's class variable "
                              f"is {names[0]!r}: give {{{names[0]!r}: K}} or an integer")
        n_classes = n_classes[names[0]]
    if len(parsed.classes) <= 1 and measured_by is not None:
        raise DesignError("measured_by needs several class variables in the formula (e.g. LTA: "
                          "'y ~ 0 + item | c1(id) ~ 1 | c2(id) ~ 1 + c1')")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise DesignError(f"n_classes must be an integer >= 1, not {n_classes!r}")
    return int(n_classes), sizes


def fit_options(starts=UNSET, seed=UNSET, n_jobs=UNSET, options: FitOptions | None = None,
                se: str | None = "auto") -> FitOptions:
    """The estimation settings from ``fit``'s keywords, checked before any computation.

    ``options`` (a :class:`FitOptions`) is the full control; giving it together with
    ``starts``, ``seed`` or ``n_jobs`` is refused rather than letting one silently win.
    """
    if se not in ("auto", "ml", "robust", "none", None):
        raise DesignError(f"se must be 'auto', 'ml', 'robust' or 'none', not {se!r}")
    given = [name for name, v in (("starts", starts), ("seed", seed), ("n_jobs", n_jobs)) if v is not UNSET]
    if options is not None:
        check_options(options, FitOptions)
        if given:
            raise DesignError(f"give {', '.join(given)} inside options=FitOptions(...) or as keywords, not both "
                              "(options would override them)")
        return options
    n_starts, n_final = check_starts(DEFAULT_STARTS if starts is UNSET else starts)
    return FitOptions(n_starts=n_starts, n_final=n_final, seed=None if seed is UNSET else check_seed(seed),
                      n_jobs=1 if n_jobs is UNSET else check_n_jobs(n_jobs))


def _model_keywords() -> frozenset:
    import inspect

    sig = inspect.signature(MixtureModel.from_formula)
    return frozenset(n for n, p in sig.parameters.items()
                     if p.kind is p.KEYWORD_ONLY and n != "integration_seed")


def _check_integration(integ: Integration):
    if integ.D == 0:
        return
    per_dim = integ.n_points
    if integ.method in ("gh", "trapezoid") and not integ.adaptive and per_dim < 10:
        warnings.warn(
            f"non-adaptive {integ.method} with {per_dim} points per dimension is usually inaccurate "
            "(the log-likelihood can be off by whole units); use integration='agh' or more points",
            GlmmixWarning, stacklevel=4)
    if integ.method in ("mc", "qmc") and per_dim < 200:
        warnings.warn(f"{integ.method} with {per_dim} points is coarse; use 1000 or more",
                      GlmmixWarning, stacklevel=4)


def _warn_default_family(design) -> None:
    """The default family is gaussian (as lmer's and Mplus's for continuous outcomes); an
    outcome of only 0s and 1s fitted so (a linear probability model, or a latent profile
    analysis of binary items) is rarely what was meant, so say so."""
    y = np.asarray(design.y, float)
    if y.size and np.all((y == 0) | (y == 1)):
        warnings.warn(f"outcome {design.formula.outcome!r} holds only 0s and 1s and no family was given: it is "
                      "fitted as gaussian (the default: a linear probability model); give family='bernoulli' "
                      "for a logistic model (latent class analysis of binary items), or family='gaussian' "
                      "to keep this fit without this warning", DataWarning, stacklevel=4)


class MixtureModel:
    """A (multilevel) mixture GLM on a data set: design, parameter layout and likelihood.

    Build it with :meth:`from_formula`; evaluate :meth:`loglike`, :meth:`score` and
    :meth:`information` at a vector of free parameters on the unconstrained scale (the
    order of :attr:`param_names`, as ``MixtureResults.theta``); :meth:`fit` estimates it.

    Attributes
    ----------
    design : Design
        The numeric form of the model on the data (arrays, names, formulaic specs).
    layout : ParamLayout
        Parameter blocks, labels, ties and fixed values.
    likelihood : MixtureLikelihood
        The likelihood engine (posteriors, gradients, adaptive quadrature state).
    integration : Integration
        The integration rule of the random effects.
    """

    def __init__(self, design: Design, layout: ParamLayout | None = None, integration: Integration | None = None,
                 partitions: list | None = None, **formula_args):
        if not isinstance(design, Design) or layout is None or formula_args:
            got = type(design).__name__ + (f" with keyword arguments {sorted(formula_args)}" if formula_args else "")
            raise DesignError(f"MixtureModel(design, layout) takes a built Design and ParamLayout (got {got}): "
                              "build a model from a formula with MixtureModel.from_formula(formula, data, "
                              "n_classes=..., family=...) or fit one with glmmix.fit")
        self.design = design
        self.layout = layout
        if partitions is not None:  # a dask DataFrame's partitions, evaluated on their workers
            self.likelihood = PartitionedLikelihood(design, layout, integration, partitions)
        else:
            engine = CrossedLaplace if design.groupings else MixtureLikelihood
            self.likelihood = engine(design, layout, integration)
        self.integration = self.likelihood.integ
        #: the formula, data and model arguments (set by from_formula): the simpler models
        #: this one nests are built from them (structured starts, nesting.py)
        self.spec: dict | None = None
        #: correlated random slopes on columns far from zero: the model fitted on their
        #: centred columns and the map back (centring.py); None for most models
        self.centring = None

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        n_classes: int | dict = 1,
        family: str | Family | None = None,
        link: str | None = None,
        *,
        measured_by: str | dict | None = None,
        measurement_invariance: bool = False,
        re_parameterization: str = "cholesky",
        invariant: Sequence[str] = (),
        class_specific: Sequence[str] = (),
        fix: dict | None = None,
        equal: list | None = None,
        thresholds_by: str | None = None,
        sigma_by: str | None = None,
        trials: str | None = None,
        integration: str = "auto",
        n_points: int | None = None,
        adaptive: bool | None = None,
        integration_seed: int | None = None,
        weights: str | None = None,
        cluster_weights: str | None = None,
        weight_scaling: str | None = None,
        cluster_weight_scaling: str = "sample",
        freq_weights: str | None = None,
        items: list[str] | None = None,
        id: str | None = None,
    ) -> "MixtureModel":
        """Build the model; the arguments are those of :func:`glmmix.fit` that describe the
        model (not its estimation). ``integration_seed`` seeds the Monte Carlo rules'
        nodes (``integration="mc"/"qmc"``; default 0); ``items``/``id`` give wide data."""
        spec = dict(locals())
        spec.pop("cls")
        ddf = None
        if is_dask(data):  # the model is built per partition below; checks on its first rows
            if items is not None:
                raise NotImplementedError("items= (wide data) on a dask DataFrame: give the long data")
            combined = combined_groupings(parse_formula(formula), data.columns)
            if combined:
                raise NotImplementedError(f"combined groupings {combined} on a dask DataFrame: add a column for "
                                          "each combination to the data and name it in the formula")
            ddf, data = data, data.head(5, npartitions=1).astype(object)
        if items is not None:
            data = wide_for_formula(parse_formula(formula), data, items, id)
        elif id is not None:
            raise DesignError("id= names the unit column of wide data and needs items=; long data name the "
                              "unit in the formula ('class(id)')")
        args = check_model_args(data=data, fix=fix, equal=equal, invariant=invariant,
                                class_specific=class_specific, thresholds_by=thresholds_by, sigma_by=sigma_by, trials=trials,
                                integration=integration, adaptive=adaptive,
                                measurement_invariance=measurement_invariance)
        fix, equal, invariant, class_specific = args["fix"], args["equal"], args["invariant"], args["class_specific"]
        parsed = parse_formula(formula)
        K, sizes = class_sizes_of(parsed, n_classes, measured_by)
        fam = get_family("gaussian" if family is None else family, link)
        if family is None and (trials is not None or parsed.outcome.startswith("cbind(")):
            raise DesignError("no family was given (the default is gaussian) but the outcome has trials "
                              "(cbind(successes, failures) or trials=): use family='binomial'")
        build = dict(thresholds_by=thresholds_by, sigma_by=sigma_by, trials=trials, measured_by=measured_by, class_sizes=sizes,
                     weights=weights, cluster_weights=cluster_weights, weight_scaling=weight_scaling,
                     cluster_weight_scaling=cluster_weight_scaling, freq_weights=freq_weights)
        partitions = None
        if ddf is not None:
            design, partitions = dask_design(parsed, ddf, K, fam, build, re_parameterization)
        else:
            design = with_parameterization(build_design(parsed, data, K, fam, **build), re_parameterization)
        if partitions is not None:
            check_slopes_centred(design)
        check_residual_separable(design)
        if family is None:
            _warn_default_family(design)
        integration = check_crossed(design, integration)

        def parts(des):
            layout = ParamLayout(des, invariant=invariant, class_specific=class_specific, fix=fix, equal=equal,
                                 measurement_invariance=measurement_invariance)
            integ = Integration.make(integration, n_points, des.D, des.n_clusters, adaptive=adaptive,
                                     seed=0 if integration_seed is None else integration_seed,
                                     class_logits=bool(des.re_cls) and des.unit_name is None)
            return layout, integ

        layout, integ = parts(design)
        _check_integration(integ)
        model = cls(design, layout, integ, partitions)
        model.spec = spec
        if partitions is None:
            model.centring = centring_plan(design, layout, lambda des: cls(des, *parts(des)))
        return model

    # ------------------------------------------------------------------ description
    @property
    def param_names(self) -> list[str]:
        """Labels of the free parameters (the order of ``params`` vectors)."""
        return list(self.layout.labels)

    @property
    def n_params(self) -> int:
        """Number of free parameters (the length of ``params`` vectors)."""
        return self.layout.n_free

    @property
    def n_classes(self) -> int:
        """Number of classes (joint states with several class variables)."""
        return self.design.n_classes

    def __repr__(self):
        return (f"<MixtureModel: {self.design.formula.text!r}, {self.n_classes} class(es), "
                f"{self.n_params} free parameters, {self.design.n_rows} rows>")

    # ------------------------------------------------------------------ likelihood
    def _theta(self, params) -> np.ndarray:
        if isinstance(params, pd.Series) and not isinstance(params.index, pd.RangeIndex):
            # labelled: the reported scale of ``res.params`` (SDs, correlations, sigma), by label
            return from_natural(self.likelihood, self._aligned(params).to_numpy(dtype=float))
        theta = np.asarray(params, dtype=float).ravel()
        if theta.size != self.layout.n_free:
            raise DesignError(f"params has {theta.size} values; the model has {self.layout.n_free} free parameters")
        return theta

    def _aligned(self, params: pd.Series) -> pd.Series:
        """A labelled params vector in the model's order (``res.params`` or an edited copy of
        it); labels that are not the model's free parameters are refused, never read by position."""
        names = self.param_names
        given = [str(k) for k in params.index]
        unknown = [k for k in given if k not in set(names)]
        missing = [k for k in names if k not in set(given)]
        if unknown or missing or len(set(given)) != len(given):
            dup = sorted({k for k in given if given.count(k) > 1})
            raise DesignError("params is labelled but its labels are not the model's free parameters: "
                              + "; ".join(part for part in (
                                  f"unknown {unknown[:5]}" if unknown else "",
                                  f"missing {missing[:5]}" if missing else "",
                                  f"repeated {dup[:5]}" if dup else "") if part)
                              + " (model.param_names lists them; an unlabelled array is read in that order)")
        return pd.Series(params.to_numpy(), index=given).reindex(names)

    def loglike(self, params: ArrayLike, adapt: bool = True) -> float:
        """Log-likelihood at the free parameters.

        ``params`` is either labelled, on the reported scale of ``res.params`` (SDs,
        correlations, residual SDs, thresholds; matched by label, so
        ``model.loglike(res.params) == res.llf``), or an unlabelled array on the internal
        scale of ``res.theta`` (Cholesky factors, log SDs), in ``param_names`` order.

        With adaptive quadrature the nodes are first moved to the posteriors at ``params``
        (:meth:`adapt`): the value the fit reports at those estimates. ``adapt=False`` keeps
        the nodes of the last adaptation: the smooth function whose exact gradient is
        :meth:`score` (what finite differences of the gradient need).

        At a point of an exact boundary limit (:meth:`limit_point`: a two-class GoM's
        class-logit SD of 1e3 or more, as a fit reported at its LCA limit has) the value is
        the limiting model's at that point, exactly, not the integration rule's."""
        theta = self._theta(params)
        lp = self.limit_point(theta)
        if lp is not None:
            return float(lp.model.loglike(lp.theta, adapt))
        if adapt:
            return float(self.likelihood.adapt(theta))
        return float(self.likelihood.loglik(theta))

    def limit_point(self, params: ArrayLike) -> LimitPoint | None:
        """``params`` written in the limiting model, if they are a point of an exact boundary
        limit of this model (a :class:`glmmix.nesting.LimitPoint`: the limiting model, its
        parameters there and every unit's unit in it); else None. A row-level class variable
        with a random class intercept (GoM, FMA-GoM, Table 3's Model 6) with two classes and
        constant class logits, at a class-logit SD of ``nesting.LIMIT_SD`` (1e3) or more: the
        SD stands for infinity, where every row of a cluster is in the same class and the
        model is its ``class(g)`` limit (LCA, FMA, Model 5). :meth:`score` and
        :meth:`information` there are the integration rule's."""
        if self.spec is None:
            return None
        from .nesting import limit_point

        return limit_point(self, self._theta(params))

    def score(self, params: ArrayLike) -> np.ndarray:
        """Gradient of ``loglike(params, adapt=False)`` with respect to the internal
        parameters ``theta`` (exact; Fisher's identity); ``params`` as in :meth:`loglike`."""
        return self.likelihood.gradient(self._theta(params))

    def information(self, params: ArrayLike) -> np.ndarray:
        """Observed information, minus the Hessian of :meth:`loglike` with respect to
        ``theta`` (central differences of the exact :meth:`score`)."""
        return observed_information(self.likelihood, self._theta(params))

    def adapt(self, params: ArrayLike) -> float:
        """Move the adaptive quadrature nodes to the posteriors at ``params``; returns the
        log-likelihood there (non-adaptive rules: just the log-likelihood)."""
        return float(self.likelihood.adapt(self._theta(params)))

    def start_params(self) -> np.ndarray:
        """The data-based centre: every class at the one-class estimates (with far slopes
        centred, the centred model's, mapped to this one)."""
        if self.centring is not None:
            return self.centring.to_raw(self.centring.model.start_params())
        return homogeneous_start(self.likelihood)

    # ------------------------------------------------------------------ estimation
    def fit(self, starts: int | tuple[int, int] | str = UNSET, seed: int | None = UNSET, se: str | None = "auto", *,
            n_jobs: int = UNSET, start_params: ArrayLike | None = None, start_from: MixtureResults | None = None,
            start_values: dict | None = None, options: FitOptions | None = None) -> MixtureResults:
        """Maximum-likelihood estimation; returns :class:`~glmmix.results.MixtureResults`.

        ``starts``, ``seed``, ``n_jobs`` or ``options`` (not both), ``se``, and the starting
        values ``start_params`` / ``start_from`` / ``start_values`` as in :func:`glmmix.fit`.
        """
        opts = fit_options(starts, seed, n_jobs, options, se)
        keep_freed_memory()  # the evaluations' temporaries reuse freed memory (allocator.py)
        sampling = bool(self.design.weighting) and not frequency_weighted(self.design)
        if se == "auto":  # sampling weights: pseudo-maximum likelihood, sandwich SEs
            se = "robust" if sampling else "ml"
        elif se == "ml" and sampling:
            warnings.warn("se='ml' with sampling weights: the observed information of the weighted "
                          "pseudo-likelihood treats the weights as counts of independent units, which they are "
                          "not; its standard errors are not the design-based ones that se='robust' (the default "
                          "with weights) gives. Counts of identical units go in freq_weights=", DataWarning,
                          stacklevel=3)
        theta0 = self.starting_values(start_params, start_from, start_values)
        lik = self.likelihood
        d = self.design
        say(opts.verbose, f"model: {self.layout.n_free} free parameters, {d.n_clusters} independent units"
                          + (f", {d.D} random-effect dimension(s), integration {self.integration.method!r}" if d.D else ""))
        if self.centring is not None:
            return self.fit_centred(opts, se, theta0)
        starts_s, limits, candidates = self.structured_starts(opts)
        fr = estimate(lik, opts, start_params=theta0, structured=starts_s, limits=limits, candidates=candidates)
        del starts_s, limits, candidates  # the simpler models' fits they hold are not needed beyond here
        lik.restore(fr.adapt_state)  # keep the nodes adapted to the estimates
        say(opts.verbose, f"standard errors: {se}")
        cov_free, limit_cov = self._covariance_at(fr, se)
        res = MixtureResults.from_fit(self, fr, cov_free, se or "none", opts, limit_cov)
        if theta0 is None:  # a later fit that nests this model may use it (nesting.remember)
            from .nesting import remember

            remember(self, opts, res, fr.adapt_state)
        return res

    def fit_centred(self, opts: FitOptions, se: str | None, theta0: np.ndarray | None) -> MixtureResults:
        """The fit of a model with correlated random slopes on columns far from zero: estimated
        on the centred columns (``self.centring.model``), reported on the raw ones (the
        estimates mapped exactly, SEs by the delta method through the map); see
        :mod:`glmmix.centring`. The simpler models' structured starts are not used."""
        c = self.centring
        clik = c.model.likelihood
        fr = estimate(clik, opts, start_params=None if theta0 is None else c.to_centred(theta0))
        clik.restore(fr.adapt_state)
        say(opts.verbose, f"standard errors: {se}")
        cov_c, _ = covariance(clik, fr.theta, kind=se, boundary=fr.boundary)
        lik = self.likelihood
        theta_c, theta = fr.theta, c.to_raw(fr.theta)
        lik.adapt(theta)  # the raw model's nodes, for random effects and predictions
        fr = dataclasses.replace(fr, theta=theta, adapt_state=lik.adaptation(),
                                 warnings=[*fr.warnings, c.note(self.design)])
        cov_free = c.raw_covariance(theta_c, cov_c)
        nat_cov = c.reported_covariance(lambda t: natural_params(lik, t), theta_c, cov_c)
        # a correlation at +-1 is judged where the data are (on the raw column a far slope's
        # correlation with the intercept is within 1e-9 of -1 without being singular)
        at_one = correlations_at_one(self.layout.labels, natural_params(clik, theta_c))
        state = results_state(lik, fr, cov_free, se or "none", opts, natural_cov=nat_cov, at_one=at_one)
        return MixtureResults(state, self, cov_free)

    def _covariance_at(self, fr, se) -> tuple:
        """The free parameters' covariance at the estimates and, at an exact boundary limit
        (:meth:`limit_point`), the limiting model's there: the limit's information carried to
        this model's parameters (``inference.limit_covariance``), as the rule cannot resolve
        the model at that point; elsewhere (or if that map fails) the rule's, and None."""
        lp = self.limit_point(fr.theta) if se not in (None, "none") else None
        if lp is not None:
            lp.model.adapt(lp.theta)
            out = limit_covariance(fr.theta, lp.model.likelihood, lp.theta,
                                   lambda t: getattr(self.limit_point(t), "theta", None), se, fr.boundary)
            if out is not None:
                return out
        return covariance(self.likelihood, fr.theta, kind=se, boundary=fr.boundary)[0], None

    def structured_starts(self, opts: FitOptions) -> tuple[list, list, list]:
        """Starting values, boundary limits and stage-one candidates (splits of the K - 1
        class solution) from the simpler models this one nests (``glmmix.nesting``); none
        for one class, one start, or a model not built from a formula."""
        if self.spec is None or self.likelihood.K == 1 or not (opts.adaptive or opts.n_starts > 0):
            return [], [], []
        from .nesting import structured

        rng = np.random.default_rng(None if opts.seed is None else [opts.seed, 1])
        return structured(self, opts, rng)

    def starting_values(self, start_params: ArrayLike | None = None, start_from: MixtureResults | None = None,
                        start_values: dict | None = None) -> np.ndarray | None:
        """The starting vector from the three ways of giving one (None: the default centre)."""
        layout = self.layout
        start_params = check_start_params(start_params)
        start_values = check_label_values(start_values, "start_values")
        if start_from is not None:
            if not isinstance(start_from, MixtureResults):
                raise DesignError(f"start_from must be a fitted MixtureResults, not {type(start_from).__name__}")
            if start_params is not None:
                raise DesignError("give start_params or start_from, not both")
            start_params = self.transfer_start(start_from)
        if start_values:  # on the reported scale, as res.params and fix= (SDs, correlations, sigma)
            base = np.asarray(start_params, float) if start_params is not None else self.start_params()
            nat = natural_params(self.likelihood, base)
            for lab, val in start_values.items():
                for i in layout.resolve(lab):
                    if layout.free_idx[i] >= 0:
                        nat[layout.free_idx[i]] = val
            with np.errstate(invalid="ignore"):
                try:
                    start_params = from_natural(self.likelihood, nat)
                except np.linalg.LinAlgError:
                    start_params = None
            if start_params is None or not np.all(np.isfinite(start_params)):
                raise DesignError(f"start_values {start_values} give no valid starting point (an SD below 0, a "
                                  "correlation outside (-1, 1), a covariance that is not positive definite, or a "
                                  "residual SD of 0)")
        return check_start_params(start_params, layout.n_free)

    def transfer_start(self, src: MixtureResults) -> np.ndarray:
        """Starting values from a fitted result, matched by full parameter labels."""
        if src.model is None:
            raise DesignError("start_from needs a result fitted in this session (not a loaded one)")
        sL = src.model.layout
        src_full = dict(zip(sL.full_labels, sL.expand(src.theta)))
        L = self.layout
        phi = L.expand(self.start_params())
        hits = 0
        one_class = src.n_classes == 1
        for i, lab in enumerate(L.full_labels):
            key = lab if lab in src_full else (L.class_free_label(lab) if one_class else None)
            if key in src_full and L.free_idx[i] >= 0:
                phi[i] = src_full[key]
                hits += 1
        if hits == 0:
            raise DesignError("start_from shares no parameter labels with this model; nothing to start from")
        return L.from_full(phi)


#: the keywords of :meth:`MixtureModel.from_formula` that :func:`glmmix.fit` passes on
MODEL_KEYWORDS = _model_keywords()
