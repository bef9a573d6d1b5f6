"""``glmmix.fit``: :class:`~glmmix.model.MixtureModel` built from the formula, then fitted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .estimation import FitOptions
from .exceptions import DesignError
from .model import MODEL_KEYWORDS, UNSET, MixtureModel, fit_options
from .params import check_class_specific
from .results import MixtureResults
from .validate import check_flag

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

    from .families import Family


def fit(formula: str, data: pd.DataFrame, n_classes: int | dict = 1, family: str | Family | None = None,
        link: str | None = None, *, starts: int | tuple[int, int] | str = UNSET, seed: int | None = UNSET,
        se: str = "auto", n_jobs: int = UNSET, start_params: ArrayLike | None = None,
        start_from: MixtureResults | None = None, start_values: dict | None = None,
        options: FitOptions | None = None, progress: bool | None = None, verbose: bool = False,
        measured_by: str | dict | None = None, measurement_invariance: bool = False,
        re_parameterization: str = "cholesky", invariant: Sequence[str] = (), class_specific: Sequence[str] = (),
        fix: dict | None = None, equal: list | None = None,
        thresholds_by: str | None = None, sigma_by: str | None = None, trials: str | None = None,
        integration: str = "auto",
        n_points: int | None = None, adaptive: bool | None = None, weights: str | None = None,
        cluster_weights: str | None = None, weight_scaling: str | None = None,
        cluster_weight_scaling: str = "sample", freq_weights: str | None = None, items: list[str] | None = None,
        id: str | None = None) -> MixtureResults:
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
        missing outcome are dropped and counted (``n_dropped``), as are units and clusters
        left without an observed outcome (``n_units_dropped``, ``n_clusters_dropped``).
        Levels of categorical or text columns that no row with an observed outcome has (an
        unused category, an unanswered item) get no parameter and are listed in
        ``dropped_levels``; a design column that is zero in every row is refused. Column
        names that are not plain identifiers are quoted: ```my y```, ``Q("my y")``. Columns
        a formula would misread are refused: numbers held as text or as Python objects,
        object columns mixing types (``1`` and ``'1'``), complex numbers, and dates used as
        covariates (``C(x)`` makes a text column categorical).
    n_classes : int or dict
        Number of latent classes K >= 1; an int (with several class variables, the same for
        every variable) or ``{name: K}`` naming every class variable of the formula.
    measured_by : str or dict, optional
        Several class variables (LTA, eq 6-9): which rows measure which variable. A column
        name (e.g. ``"time"``) whose distinct values, sorted (numbers, dates) or in category
        order (categoricals; text is refused), map in that order to the within-level class
        variables of the formula (the summary's "Measured by" line); or ``{name: selector}`` with a query
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
    family : str or Family, optional
        ``"bernoulli"``, ``"binomial"`` (with ``trials``), ``"poisson"``, ``"gaussian"``,
        ``"ordinal"``. Not given: gaussian, with a ``DataWarning`` when the outcome holds
        only 0s and 1s (binary items want ``"bernoulli"``); an outcome with trials
        (``cbind``, ``trials=``) then needs ``family="binomial"`` and is refused.
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
    sigma_by : str, optional
        Gaussian family: a column whose levels get separate residual SDs (``"item"``: a
        latent profile analysis with item-specific variances, Mplus's default; class-invariant
        unless ``class_specific=["sigma"]``). Without it one residual SD serves every row.
    trials : str, optional
        Binomial family: column with the number of trials.
    starts : "auto", int or (int, int)
        ``"auto"`` (default): an adaptive search. Stage one partially optimizes 20 to 45
        random starting sets (more when a start is cheap), the best 5 are completed, and more
        are completed (the next of stage one's ranking, perturbations of the best solution,
        fresh stage-one batches) until the best log-likelihood has been reached by 2
        completed starts from distinct initial values, or 40 completed starts or the time
        budget (twice the first round, at least 5 s) are spent, which warns
        (:class:`~glmmix.estimation.FitOptions` changes these numbers). ``(n, k)``: ``n``
        random starts, the best ``k`` completed (Section 10 of Asparouhov & Muthen: 20 and
        5). ``0``: one start, the given starting values, or (with classes and none given) one
        perturbation of the data-based centre, which is itself a saddle point (every class
        alike). Models without classes start once under ``"auto"`` (their data-based
        start); ``(n, k)`` gives them ``n`` random starts too, which also vary the scale
        parameters (random-effect SDs and loadings, residual SDs), where a one-class
        likelihood can have rival maxima (factor-analytic and heteroscedastic models). What
        the search did is in ``result.search``.
    seed : int, optional
        Seed for the random starts; a fixed seed gives identical results (also in parallel).
    se : {"auto", "ml", "robust", "none"}
        Observed-information or sandwich standard errors; ``"auto"``: sandwich with sampling
        weights (pseudo-maximum likelihood, Mplus's MLR), observed information otherwise.
    n_jobs : int
        Run the starts in parallel with joblib (``-1``: all cores). With joblib's default
        (process) backend, batches whose first start takes less than 0.25 s run in this
        process: sending such starts to worker processes costs more than they take.
    start_params : array, optional
        Unconstrained free-parameter vector to start from (e.g. ``other_result.theta``).
    start_from : MixtureResults, optional
        A simpler fitted model (e.g. the LCA before a GoM, one class before K, a model
        without a random term): parameters with the same labels start at its estimates,
        the others at their defaults; random starts are drawn around that point
        (Section 10's advice to build models gradually). A one-class model's parameters
        start every class.
    start_values : dict, optional
        ``{label: value}`` overrides of individual starting values, on the reported scale of
        ``res.params`` (SDs, correlations, residual SDs), as ``fix``.
    options : FitOptions, optional
        Full control of the estimation; instead of ``starts``, ``seed`` and ``n_jobs``
        (giving both is an error).
    integration : str
        Numerical integration of random effects: ``"auto"`` (default: adaptive Gauss-Hermite
        for random effects in outcome predictors and in logits of unit-level classes (two-level
        LCA, LTA); the trapezoid rule when logits of row-level classes are random, as in
        GoM, where Gauss-Hermite is inaccurate), ``"agh"`` (adaptive
        Gauss-Hermite), ``"gh"`` (non-adaptive), ``"trapezoid"`` (the paper's preferred
        rule, robust for huge variances; nodes over +-6 SD), ``"laplace"`` (one adaptive
        point at the mode, as lme4's default; the only rule, and the ``"auto"`` choice, for
        random terms on several grouping columns, e.g. crossed ``(1 | id) + (1 | item)``),
        ``"mc"`` / ``"qmc"`` (Monte Carlo / quasi-Monte Carlo, for many dimensions).
    n_points : int, optional
        Points per dimension (GH, trapezoid) or in all (MC, QMC); defaults depend on the
        dimension (15 per dimension for one-dimensional adaptive Gauss-Hermite, 61 for the
        trapezoid rule).
    adaptive : bool, optional
        Move nodes to each cluster's posterior (default for agh, laplace, mc, qmc).
    weights : str, optional
        Column of sampling weights, constant within units (the class variable's level; rows
        when there is none): pseudo-maximum-likelihood estimates with sandwich SEs (Mplus's
        WEIGHT with MLR). In two-level models these are the within-cluster weights. For
        counts of identical units (a table of response patterns) use ``freq_weights``.
    cluster_weights : str, optional
        Column of between-level weights of the clusters of a two-level model (the random
        terms' grouping), constant within clusters (Mplus's BWEIGHT).
    weight_scaling : {"unscaled", "sample", "cluster", "ecluster"}, optional
        Scaling of ``weights``: single-level models ``"sample"`` (default: sum to the number
        of units, as Mplus and ``survey::svyglm``) or ``"unscaled"``; within-cluster weights
        ``"cluster"`` (default, sum to the cluster size), ``"ecluster"`` (sum to the
        effective cluster size) or ``"unscaled"`` (Asparouhov 2006; see
        :mod:`glmmix.weights`). Estimates and SEs do not depend on it; the log-likelihood
        and the information criteria do.
    cluster_weight_scaling : {"sample", "unscaled"}
        ``"sample"`` (default) scales cluster weights to sum to the number of clusters.
    freq_weights : str, optional
        Column of frequency weights: how many identical independent units (clusters in
        two-level models) each one stands for, a positive integer constant within it (a table
        of response patterns with their counts, as in poLCA or Latent GOLD). The fit is that
        of the data with every unit repeated: the log-likelihood, observed-information SEs,
        BIC with n = the sum of the weights, weighted entropy and class proportions. Not
        combined with ``weights``/``cluster_weights``.
    items : list of str, optional
        ``data`` are wide (one row per unit, one column per item): reshape them with
        :func:`glmmix.wide_to_long` first. The outcome's name is the formula's left-hand side
        and the item column's the one other variable of the formula missing from ``data``
        (``y`` and ``item`` in ``"y ~ 0 + item | class(id) ~ 1"``); the other columns are kept
        as unit covariates. Without ``items`` the data are long.
    id : str, optional
        With ``items``: the column identifying units (default: a new column ``id`` of the
        data's row labels, so that ``data.join(result.posterior)`` lines up).
    progress : bool, optional
        A tqdm progress bar over the random starts; default (None): only in interactive
        sessions (the prompt, IPython, Jupyter).
    verbose : bool
        Print the stages of the estimation: random starts, EM, BFGS, adaptation of the nodes.

    Returns
    -------
    MixtureResults

    Notes
    -----
    ``fit(formula, data, ...)`` is ``MixtureModel.from_formula(formula, data, ...).fit(...)``:
    the keywords describing the model (``measured_by`` to ``adaptive`` above) go to
    :meth:`~glmmix.model.MixtureModel.from_formula`, the others to
    :meth:`~glmmix.model.MixtureModel.fit`.
    """
    # Estimation settings are checked first, before the data are touched.
    opts = fit_options(starts, seed, n_jobs, options, se)
    if not isinstance(verbose, (bool, np.bool_)):
        raise DesignError(f"verbose must be True or False, not {verbose!r}")
    if check_flag(progress, "progress") is not None or verbose:
        opts = dataclasses.replace(opts, progress=opts.progress if progress is None else bool(progress),
                                   verbose=opts.verbose or bool(verbose))
    model_kw = {k: v for k, v in locals().items() if k in MODEL_KEYWORDS}
    model = MixtureModel.from_formula(formula, data, n_classes, family, link, **model_kw,
                                      integration_seed=opts.seed if options is None else None)
    check_class_specific(model.design.formula, model.design.family, class_specific, invariant)
    model.layout.check_classes_differ(invariant, fix, equal)
    return model.fit(se=se, options=opts, start_params=start_params, start_from=start_from, start_values=start_values)
