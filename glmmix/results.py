"""Fitted-model results in the statsmodels manner.

Attributes use statsmodels' names (``params``, ``bse``, ``tvalues``, ``pvalues``,
``conf_int()``, ``llf``, ``aic``, ``bic``, ``nobs``, ``summary()``) and are labelled pandas
objects. ``params`` are on the reported scale (SDs, thresholds; logits for class
membership); ``theta`` keeps the optimizer's unconstrained vector.
"""

from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np
import pandas as pd

from .exceptions import DataWarning, GlmmixError, plain
from .hypothesis import SCALE_LABEL, WaldInference

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    import os

    from statsmodels.iolib.summary2 import Summary

    from .estimation import FitOptions, FitResult
    from .model import MixtureModel


def other_outcomes(a, b) -> bool:
    """Whether two results were fitted to different outcome data (their fingerprints,
    ``data_digest``, differ; unknown fingerprints do not count as different)."""
    da, db = getattr(a, "data_digest", None), getattr(b, "data_digest", None)
    return da is not None and db is not None and da != db


class MixtureResults(WaldInference):
    """Results of :func:`glmmix.fit`.

    Attributes
    ----------
    params : Series
        Estimates of the free parameters, natural scale.
    bse, tvalues, pvalues : Series
        Standard errors, z statistics (statsmodels calls them tvalues) and p-values.
    llf : float
        Maximised log-likelihood (with all constants of the densities).
    nobs : int
        Rows used (responses). ``n_units`` counts independent units (for BIC).
    posterior : DataFrame
        Posterior class probabilities per unit, indexed by unit id, in sorted order of the ids
        (as lme4's ``ranef`` and pandas' ``groupby``): join on the id, not by position.
    class_proportions : Series
        Model-implied class proportions (averaged over units' covariates).
    converged : bool
    starts : DataFrame
        One row per starting set: stage-one and final log-likelihoods, convergence,
        iterations and origin (random, perturbed best, or the simpler model it came from).
    search : SearchReport
        What the start search did: starts drawn, completed and converged, the distinct
        maxima with how many starts reached each (``search.table()``), whether the best was
        replicated, why the search stopped and the time spent (``print(res.search)``).
    limit : MixtureResults or None
        At an exact boundary limit (a GoM reported as its LCA limit, an FMA-GoM as its FMA,
        Table 3's Model 6 as Model 5; :meth:`MixtureModel.limit_point`): the limiting model's
        results at the reported point. Posteriors (every row gets its cluster's), class
        proportions, predictions, standard errors and draws (``simulate``) are its, where the
        integration rule cannot resolve this model; None elsewhere.
    """

    def __init__(self, state: dict, model: MixtureModel | None = None, cov_free: np.ndarray | None = None):
        self._state = state
        #: the :class:`~glmmix.model.MixtureModel` that was fitted; None after load()
        self.model = model
        #: a loaded result's model structure, read from the file (glmmix.persist); None when fitted
        self.stored_model = None
        self._cov_free = cov_free
        self.params = pd.Series(state["params"], index=state["labels"], name="coef")
        cov = np.array(state["cov"], dtype=float) if state.get("cov") is not None else None
        self._cov = cov
        self.theta = np.asarray(state["theta"], float)
        self.llf = float(state["llf"])
        self.nobs = int(state["nobs"])
        digest = state.get("data_digest")
        #: a fingerprint of the outcomes fitted (their multiset; see reporting.data_digest): fits to
        #: different outcome data differ in it; None when unknown
        self.data_digest = None if digest is None else str(digest)
        self.n_units = int(state["n_units"])
        #: rows dropped because their outcome is missing
        self.n_dropped = int(state.get("n_dropped") or 0)
        #: units (levels of the class variable's column) with no observed outcome, hence not in n_units
        self.n_units_dropped = int(state.get("n_units_dropped") or 0)
        #: clusters (levels of the random terms' grouping column) with no observed outcome
        self.n_clusters_dropped = int(state.get("n_clusters_dropped") or 0)
        #: ``{column: [levels]}`` of factor levels without an observed outcome, which get no parameter
        self.dropped_levels = dict(state.get("dropped_levels") or {})
        #: independent units (clusters; equal to n_units without random effects): BIC's n
        self.n_clusters = int(state.get("n_clusters") or state["n_units"])
        freq = state.get("unit_freq")
        #: frequency weights of the fitted units (the rows of ``posterior``); None without them
        self.unit_freq = None if freq is None else np.asarray(freq, dtype=float)
        uw = state.get("unit_weight", freq)
        #: the weight of each fitted unit as the likelihood counts it (frequency or sampling
        #: weights; two-level: the unit's times its cluster's); None without weights. The
        #: entropy, the classification table and the posterior mean class sizes use them
        self.unit_weight = None if uw is None else np.asarray(uw, dtype=float)
        self.n_classes = int(state["n_classes"])
        self.converged = bool(state["converged"])
        self.se_type = state["se_type"]
        self.formula = state["formula"]
        self.family = state["family"]
        self.link = state["link"]
        self.boundary = list(state.get("boundary", []))
        self.warnings = list(state.get("warnings", []))
        post = np.asarray(state["posterior"], float).reshape(-1, self.n_classes)
        # the state's arrays themselves (one value per unit), not copies
        self.posterior = pd.DataFrame(post, index=pd.Index(state["unit_ids"], name=state["unit_name"], copy=False),
                                      columns=state.get("class_names") or
                                      [f"{state['class_name']}{k + 1}" for k in range(self.n_classes)], copy=False)
        self.starts = pd.DataFrame(state["starts"])
        from .estimation import SearchReport

        self.search = SearchReport.from_dict(state["search"]) if state.get("search") else None
        #: at an exact boundary limit: the limiting model's results at the reported point (see
        #: the class docstring); None elsewhere
        self.limit: MixtureResults | None = None
        if state.get("limit") is not None:
            self.limit = MixtureResults(state["limit"])

    @classmethod
    def from_fit(cls, model: MixtureModel, fit: FitResult, cov_free: np.ndarray | None, se_type: str,
                 options: FitOptions, limit_cov: np.ndarray | None = None) -> MixtureResults:
        """Results of ``model`` (a :class:`~glmmix.model.MixtureModel`) from the estimation's
        ``FitResult`` and the free parameters' covariance (None without SEs). At an exact
        boundary limit (:meth:`~glmmix.model.MixtureModel.limit_point`) the posteriors and
        class proportions come from the limiting model at that point (:attr:`limit`), with
        ``limit_cov``, its parameters' covariance, for the proportions' SEs."""
        from .reporting import results_state

        state = results_state(model.likelihood, fit, cov_free, se_type, options)
        lp = model.limit_point(fit.theta)
        limit = None
        if lp is not None:
            limit = cls.from_fit(lp.model, _limit_fit(lp, fit), limit_cov, se_type if limit_cov is not None else "none",
                                 options)
            state["posterior"] = limit.posterior.to_numpy()[lp.units]
        res = cls(state, model, cov_free)
        if limit is not None:
            res.limit = limit
        return res

    # ------------------------------------------------------------------ stored and lazy entries
    def _entry(self, key):
        """A results entry, computed from the model when first asked for (reporting.LAZY_ENTRIES)."""
        if key not in self._state:
            from .reporting import LAZY_ENTRIES

            if key not in LAZY_ENTRIES or self.model is None:
                return None
            entry = LAZY_ENTRIES[key](self.model.likelihood, self.theta, self._cov_free)
            if key == "class_prop" and self.limit is not None:
                # the limiting model's proportions, and their SEs where it has a covariance (the
                # rule's delta method cannot differentiate a step either)
                entry = dict(entry, value=self.limit.class_proportions.to_numpy())
                if self.limit.se_type != "none":
                    entry["se"] = self.limit.class_proportions_se.to_numpy()
            self._state[key] = entry
        return self._state[key]

    def to_state(self) -> dict:
        """The complete state, every lazily computed entry included: what save() writes and
        ``MixtureResults(state)`` reads back."""
        from .reporting import LAZY_ENTRIES

        for key in LAZY_ENTRIES:
            self._entry(key)
        if self.limit is not None:
            self._state["limit"] = self.limit.to_state()
        return self._state

    @property
    def model_name(self) -> str:
        """What kind of model this is (e.g. "latent class analysis (LCA)")."""
        return self._state["model_name"]

    @property
    def special_case(self) -> dict | None:
        """The named special case that built this model and its settings (e.g. the 3PL's item
        and id columns), as recorded by :meth:`name_model`."""
        return self._state.get("special_case")

    def name_model(self, model_name: str, **details) -> None:
        """Record what this model is called, and settings of the special case that built it
        (kept by save/load)."""
        self._state["model_name"] = str(model_name)
        if details:
            self._state["special_case"] = dict(details)

    @property
    def best_replicated(self) -> bool | None:
        """Whether the best log-likelihood was reached by at least two completed starts
        (None with a single completed start)."""
        return self._state.get("best_replicated")

    @property
    def n_best(self) -> int:
        """How many completed starts reached the best log-likelihood."""
        return int(self._state.get("n_best", 1))

    @property
    def grad_max(self) -> float:
        """Largest absolute gradient entry at the estimates (parameters on the boundary left out)."""
        return float(self._state["grad_max"])

    @property
    def em_iterations(self) -> int:
        """EM iterations of the best start's completion."""
        return int(self._state.get("em_iterations", 0))

    @property
    def qn_iterations(self) -> int:
        """Quasi-Newton (BFGS) iterations of the best start's completion."""
        return int(self._state.get("qn_iterations", 0))

    @property
    def integration(self) -> dict | None:
        """The integration rule of the random effects: ``method``, ``n_points`` (per
        dimension or in all), ``adaptive``, ``n_nodes``; None without random effects."""
        it = self._state.get("integration")
        return None if it is None else dict(it)

    @property
    def design_columns(self) -> dict:
        """The columns of the model's design: ``{"outcome": [...], "class": [...], "random":
        [...]}``, the outcome part's and the class part's fixed columns and the random terms'
        ``group:column`` (as in the labels ``sd(group:column)`` and ``loading(group:column)``)."""
        rand = [m.group(1) for lab in self.params.index if (m := SCALE_LABEL.search(lab))]
        return {"outcome": list(self._state.get("x_names", [])), "class": list(self._state.get("z_names", [])),
                "random": list(dict.fromkeys(rand))}

    @property
    def weighting(self) -> dict | None:
        """The sampling weights used (columns and scalings), None without weights."""
        w = self._state.get("weighting")
        return None if not w else dict(w)

    @property
    def n_missing_wide(self) -> int:
        """Responses missing in the wide data (reported by ``wide_to_long``)."""
        return int(self._state.get("n_missing_wide") or 0)

    @property
    def unit_name(self) -> str | None:
        """The class variable's level (the unit column), None for one class per row."""
        return self._state.get("unit_name")

    @property
    def cluster_name(self) -> str | None:
        """The random terms' grouping column (None without random effects)."""
        return self._state.get("cluster_name")

    @property
    def classes_within_clusters(self) -> bool:
        """Classes are inside the random effects' integral (classes of units within clusters)."""
        return self._state.get("form") == "inside"

    @property
    def unit_clusters(self) -> np.ndarray | None:
        """The cluster of every fitted unit (the rows of ``posterior``) when classes are within
        clusters (units nested in the clusters of a two-level model); None otherwise."""
        uc = self._entry("unit_cluster")
        return None if uc is None else np.asarray(uc)

    @property
    def class_name(self) -> str:
        """The class variable's name (the first one with several)."""
        return self._state["class_name"]

    @property
    def class_sizes(self) -> dict:
        """Number of classes of every class variable, ``{name: K}``."""
        return dict(self._state.get("class_sizes") or {})

    @property
    def family_params_by(self) -> str | None:
        """The column whose levels have their own family parameters (``thresholds_by`` of an
        ordinal model, ``sigma_by`` of a gaussian one), or None."""
        return (self._state.get("aux") or {}).get("threshold_by")

    @property
    def fixed_params(self) -> pd.Series:
        """Parameters held fixed and not estimated (``fix=``, offsets' coefficients), by
        label on the reported scale; they are not in ``params`` and count in no degrees of
        freedom."""
        return pd.Series(self._state.get("fixed") or {}, dtype=float, name="fixed")

    @property
    def param_blocks(self) -> pd.Series:
        """The block of every parameter: ``beta`` (outcome part), ``extra`` (family
        parameters), ``gamma`` (class logits), ``re_out`` / ``re_cls`` (random terms)."""
        return pd.Series(self._state["label_blocks"], index=self.params.index, name="block")

    @property
    def options(self) -> dict:
        """The random-start settings used: ``n_starts``, ``n_final``, ``seed``."""
        return dict(self._state.get("options") or {})

    @cached_property
    def class_proportions(self) -> pd.Series:
        """Model-implied class proportions (averaged over units' covariates and random logits)."""
        cp = self._entry("class_prop")
        return pd.Series(cp["value"], index=self.posterior.columns, name="proportion")

    @cached_property
    def class_proportions_se(self) -> pd.Series:
        """Delta-method SEs of :attr:`class_proportions`."""
        cp = self._entry("class_prop")
        return pd.Series(cp["se"], index=self.posterior.columns, dtype=float, name="se")

    # ------------------------------------------------------------------ inference
    @property
    def df_model(self) -> int:
        """Number of free parameters."""
        return len(self.params)

    @property
    def aic(self) -> float:
        """Akaike's information criterion, -2 llf + 2 df_model."""
        return -2 * self.llf + 2 * self.df_model

    @property
    def n_independent(self) -> float:
        """BIC's n: the number of independent units (clusters), each counted as often as its
        frequency weight says."""
        w = self.weighting
        return float(w["n_weighted"]) if w and "freq_weights" in w else float(self.n_clusters)

    @property
    def bic(self) -> float:
        """BIC with n = the number of independent units (clusters; with frequency weights, their sum)."""
        return -2 * self.llf + np.log(self.n_independent) * self.df_model

    @property
    def sabic(self) -> float:
        """Sample-size adjusted BIC (Sclove 1987): n* = (n + 2) / 24, n as in ``bic``."""
        return -2 * self.llf + np.log((self.n_independent + 2) / 24.0) * self.df_model

    @property
    def caic(self) -> float:
        """Consistent AIC (Bozdogan 1987), -2 llf + df_model (log n + 1), n as in ``bic``."""
        return -2 * self.llf + (np.log(self.n_independent) + 1.0) * self.df_model

    @property
    def entropy(self) -> float:
        """Relative entropy of the classification, 1 - sum(-p log p) / (n log K) (Mplus).

        With weights each unit counts with its weight, 1 - sum_u w_u h_u / (sum_u w_u log K):
        frequency weights as copies of the unit (Mplus's FREQWEIGHT), sampling weights as
        the population's units it stands for (the design-consistent ratio estimate of the
        population's mean entropy, as the class proportions are weighted)."""
        if self.n_classes == 1:
            return np.nan
        p = self.posterior.to_numpy()
        w = np.ones(len(p)) if self.unit_weight is None else self.unit_weight
        with np.errstate(divide="ignore", invalid="ignore"):
            h = (-np.where(p > 0, p * np.log(p), 0.0).sum(axis=1) * w).sum()
        return float(1.0 - h / (w.sum() * np.log(self.n_classes)))

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the estimates (reported scale), labelled by parameter.

        Observed-information or sandwich (``se="robust"``), mapped to the reported scale by
        the delta method; rows and columns of boundary estimates are NaN.

        Raises
        ------
        GlmmixError
            When the model was fitted with ``se="none"``.
        """
        if self._cov is None:
            raise GlmmixError("no covariance: the model was fitted with se='none'")
        return pd.DataFrame(self._cov, index=self.params.index, columns=self.params.index)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params`` (NaN for boundary estimates or with ``se="none"``)."""
        if self._cov is None:
            return pd.Series(np.nan, index=self.params.index, name="bse")
        return pd.Series(np.sqrt(np.diag(self._cov)), index=self.params.index, name="bse")

    def cluster_class_proportions(self) -> pd.DataFrame:
        """Class proportions in each cluster: the mean posterior class probabilities of its units
        (weighted by the units' weights, if any).

        For classes within clusters (two-level LCA, GoM, within-between classes); rows are
        clusters, columns classes.
        """
        uc = self._entry("unit_cluster")
        if uc is None:
            raise GlmmixError("cluster_class_proportions() needs classes within clusters (a class part "
                              "below the level of the random terms)")
        post = self.posterior.copy()
        post.index = pd.Index(uc, name=self.cluster_name)
        if self.unit_weight is None:
            return post.groupby(level=0, sort=False).mean()
        w = pd.Series(self.unit_weight, index=post.index)
        return post.mul(w, axis=0).groupby(level=0, sort=False).sum().div(w.groupby(level=0, sort=False).sum(), axis=0)

    def random_effects(self, kind: str = "eap", newdata: pd.DataFrame | None = None) -> pd.DataFrame:
        """Scores of every random effect and factor per cluster (lme4's ``ranef``, mirt's
        ``fscores``), a DataFrame indexed by cluster.

        ``kind="eap"``: posterior means and SDs (columns ``sd:...``) on the model's own
        integration rule; ``kind="map"``: conditional modes and the SDs from the curvature at
        the mode (classes summed out; effects and factors only). Effects of ``(1 + x | g)`` terms are named by the
        term's columns, ``rr()`` factors ``factor``/``factor1``..., random class logits
        ``logit:class1``...; with random class logits the clusters' membership scores
        P(C = c | u) (eq 29, 34: a GoM's grades of membership) are ``membership:class1``....
        With random terms on several grouping columns (crossed) the rows are indexed by
        (grouping, level) and hold the conditional modes and SDs at the joint mode (both
        kinds). See :mod:`glmmix.scoring`.

        ``newdata``: score the clusters of other rows (new persons' responses, say) at the
        estimates, from their observed responses, encoded as the fitted rows were; also for a
        loaded result. Without it, the fitted clusters.
        """
        from .scoring import random_effects

        if self.limit is not None:
            raise GlmmixError(
                f"random_effects(): this fit is reported at its boundary limit {self.limit.formula!r}, "
                "where the class-logit SD is infinite and no integration rule scores the class-logit "
                "effects; every row of a cluster is in one class there, with the cluster's posterior "
                "(res.posterior); the limiting model's own scores (its factors or random effects, if it "
                "has any) are res.limit.random_effects()")
        if newdata is not None:
            from .predict import new_likelihood

            if not isinstance(newdata, pd.DataFrame):
                raise GlmmixError(f"newdata must be a pandas DataFrame, not {type(newdata).__name__}")
            lik = new_likelihood(self, newdata, with_outcome=True)
            if lik.integ.adaptive and lik.D:
                lik.adapt(self.theta)  # the rule centred on the new clusters' posteriors
            out = random_effects(lik, self.theta, kind)
            gone = lik.design.n_clusters_dropped
            if gone:
                name = lik.design.cluster_name
                given = pd.unique(newdata[name]) if name in newdata.columns else []
                lost = [v for v in given if v not in set(out.index)]
                warnings.warn(f"{gone} cluster(s) of newdata have no observed response"
                              + (f" (e.g. {name} = {plain(lost[0])!r})" if lost else "")
                              + ": they get no score (without responses a cluster's posterior is the prior)",
                              DataWarning, stacklevel=2)
            return out
        if self.model is None:
            raise GlmmixError("random_effects() of a loaded result needs newdata (the file has no data)")
        return random_effects(self.model.likelihood, self.theta, kind)

    # ------------------------------------------------------------------ profiles
    def derived(self) -> pd.DataFrame:
        """Derived quantities with delta-method SEs: ICCs of random class intercepts (eq 20),
        between-level regressions (eq 15), and with several class variables the class
        proportions of each, transition probabilities, R^2 (eq 14) and Section 4's variance
        decomposition (formulas in ``glmmix.structural``)."""
        der = self._entry("derived") or {"names": [], "value": [], "se": []}
        return pd.DataFrame({"value": np.asarray(der["value"], float), "se": np.asarray(der["se"], float)},
                            index=pd.Index(der["names"], name="quantity"))

    def transition_matrix(self, to: str, given: str, se: bool = False) -> pd.DataFrame:
        """P(to = k | given = j): rows the classes of ``given``, columns those of ``to``
        (Section 4's switching probabilities); ``se=True`` returns their delta-method SEs."""
        der = self.derived()
        col = "se" if se else "value"
        sizes = self.class_sizes
        if to not in sizes or given not in sizes:
            raise GlmmixError(f"transition_matrix needs class variables of this model: {sorted(sizes)}")
        keys = [[f"P({to}#{k + 1}|{given}#{j + 1})" for k in range(sizes[to])] for j in range(sizes[given])]
        if keys[0][0] not in der.index:
            raise GlmmixError(f"{given!r} is not a predictor of {to!r} in the class part")
        return pd.DataFrame([[der.loc[k, col] for k in row] for row in keys],
                            index=pd.Index([f"{given}#{j + 1}" for j in range(sizes[given])], name=given),
                            columns=pd.Index([f"{to}#{k + 1}" for k in range(sizes[to])], name=to))

    def profile(self) -> pd.DataFrame:
        """Class-specific expected outcomes for designs made of item dummies.

        For ``y ~ 0 + item`` (LCA), the item-response probabilities per class (poLCA's
        ``probs``); columns ``class1 ... classK`` and their delta-method SEs ``se:class1 ...``.
        For ordinal items (``resp ~ 0`` with ``thresholds_by="item"``, or item dummies), one
        row per item and category (``"item: category"``) with the category's probability.
        """
        prof = self._entry("profile")
        if prof is None:
            raise GlmmixError(
                "profile() needs an outcome part made only of item dummies (e.g. 'y ~ 0 + item'; ordinal: "
                "'resp ~ 0' with thresholds_by='item'), with one class variable; use predict(which='by_class') "
                "for other designs"
            )
        return pd.DataFrame(prof["values"], index=prof["index"], columns=prof["columns"])

    # ------------------------------------------------------------------ prediction
    def predict(self, newdata: pd.DataFrame | None = None, which: str = "marginal",
                responses: str = "auto", type: str = "mean") -> pd.Series | pd.DataFrame:
        """Expected outcomes, posterior class probabilities or modal classes.

        Parameters
        ----------
        newdata : DataFrame, optional
            Rows to predict for, encoded as the fitted rows were (levels, contrasts,
            transform states; unseen levels are refused); default the rows used in fitting.
            Per-row results keep the order and index of ``newdata``.
        which : {"marginal", "conditional", "by_class", "posterior", "class"}
            ``"marginal"``: sum_c P(c | class covariates) E[y | c]; ``"conditional"``: the
            same weighted by each unit's posterior class probabilities (the units'
            responses are needed), with random effects or factors by the joint posterior of
            class and effects given the cluster's responses; ``"by_class"``: a DataFrame with E[y | c] for every
            class; ``"posterior"``: posterior class probabilities of every unit given its
            responses and covariates (a DataFrame indexed by unit); ``"class"``: every unit's
            modal class. For ordinal outcomes the expected outcome is the expected category
            index, 0 for the first category in the outcome's order (E[index] = sum_k P(y > k)).
            See :mod:`glmmix.predict`.
        responses : {"auto", "newdata", "fitted"}
            Whose responses ``which="conditional"`` conditions on. ``"newdata"``: the rows
            given (their observed outcomes); ``"fitted"``: the fitted responses of the units
            (or, with random effects, clusters) that ``newdata`` names, as lme4's
            ``predict(newdata)`` does with the fitted random effects (new rows of fitted
            units, e.g. later time points or missing items; units not fitted are refused);
            ``"auto"`` (default): ``"fitted"`` when ``newdata`` has no observed outcome,
            else ``"newdata"``; but rows of fitted units with observed outcomes that the two
            would predict differently (some of a unit's rows, or held-out rows with their
            outcomes) are refused, naming the choice to make. With random terms on several
            grouping columns (crossed; Laplace) ``"newdata"`` puts every row's effects at the
            joint conditional modes of newdata's levels given its rows alone, at the fitted
            parameters: levels not fitted are conditioned on newdata's responses, rows without
            an observed outcome are predicted but not conditioned on (a level named only by them
            sits at zero, its prior mode); the whole fitted data give the fitted values.
        type : {"mean", "prob"}
            ``"mean"`` (default): expected outcomes. ``"prob"`` (ordinal outcomes): the
            probability of every category instead, a DataFrame with one column per category
            (ordinal's ``predict(clm, type = "prob")``), marginal, conditional or by class as
            ``which`` says (``"by_class"``: one column per class and category).
        """
        from .predict import predict

        return predict(self, newdata, which, responses, type)

    @property
    def fittedvalues(self) -> pd.Series:
        """Fitted values of the rows used, E[y_r | the unit's responses]: the class-specific
        expected outcomes weighted by the unit's posterior class probabilities
        (``predict(which="conditional")``); for binomial outcomes, probabilities.

        With random effects or factors (a GLMM, an IRT model, and mixtures with them: a
        factor mixture, FMA-GoM, GoM, two-level LCA, between-level classes): the row's mean
        averaged over the joint posterior of the unit's class and the cluster's effects given
        the cluster's responses, sum over states s and nodes q of p(s, u_q | y_g) mu_r(s, u_q)
        on the fitted rule's adapted nodes (with Laplace integration, one-class models only,
        the mean at the conditional modes: lme4's ``fitted()``; for an LMM both are lme4's).
        See :mod:`glmmix.predict`, also for when they sum to the outcomes. Rows come in the
        order of the data given (rows with a missing outcome left out), indexed by its labels.
        Not defined for ordinal outcomes; there a :class:`GlmmixError` says why.
        ``predict(which="marginal")`` gives the expected outcomes without the responses.
        """
        from .predict import fitted

        return fitted(self)

    @property
    def resid(self) -> pd.Series:
        """Response residuals of the rows used, y - :attr:`fittedvalues` (binomial outcomes as
        proportions of their trials); defined where :attr:`fittedvalues` is."""
        from .predict import residuals

        return residuals(self)

    @property
    def modal_class(self) -> pd.Series:
        """The most likely class of every fitted unit (highest posterior probability)."""
        from .predict import modal_class

        return modal_class(self.posterior)

    def classification_table(self) -> pd.DataFrame:
        """Average posterior class probabilities by modal class (Mplus), with counts; with
        weights, weighted means and weighted counts (as :attr:`entropy`)."""
        from .predict import classification_table

        return classification_table(self.posterior, self.unit_weight)

    def entropy_by_class(self) -> pd.Series:
        """Relative entropy of the classification within each modal class."""
        from .predict import entropy_by_class

        return entropy_by_class(self.posterior, self.unit_weight)

    # ------------------------------------------------------------------ tables
    def conf_int(self, alpha: float = 0.05, method: str = "wald", params: str | list | None = None) -> pd.DataFrame:
        """Confidence intervals, indexed by parameter (columns ``0`` and ``1``, statsmodels' names).

        Parameters
        ----------
        alpha : float
            The intervals have coverage 1 - alpha.
        method : {"wald", "profile"}
            ``"wald"`` (default): ``params +- z(1 - alpha/2) bse``, SDs' ending at 0 and
            correlations' at +-1; NaN where a parameter has no standard error.
            ``"profile"``: profile-likelihood intervals, {v : 2 (llf - pl(v)) <= chi2_1(1 - alpha)}
            with pl(v) the log-likelihood maximised with the parameter held at v (lme4's
            ``confint(method = "profile")``), by constrained refits of the fitted model's
            likelihood, so for any reported parameter (correlations and the SDs of a
            correlated term's later effects too); every limit refits a few times, so
            ``params=`` can name the parameters wanted. Boundary estimates get NaN, with a
            warning. See :mod:`glmmix.proflik`.
        params : str or list of str, optional
            With ``method="profile"``: the parameters to profile (default: all).
        """
        if method == "wald":
            if params is not None:
                raise GlmmixError("params= selects parameters to profile (method='profile'); Wald intervals "
                                  "are computed for all")
            return super().conf_int(alpha)
        if method != "profile":
            raise GlmmixError(f"method must be 'wald' or 'profile', not {method!r}")
        if self.limit is not None:
            raise NotImplementedError(
                f"profile intervals of a fit reported at its boundary limit {self.limit.formula!r}: the refits "
                "would run on the integration rule, which cannot resolve this model there; the limiting model's "
                "are res.limit.conf_int(method='profile') (its parameters are this model's, less the class-logit "
                "SDs), or method='wald' here")
        from .proflik import profile_intervals

        return profile_intervals(self, alpha, params)

    def params_table(self, alpha: float = 0.05) -> pd.DataFrame:
        """The coefficient table of the summary as a DataFrame: estimate, standard error, z,
        p-value and (1 - alpha) confidence limits; boundary estimates have NaN inference."""
        ci = self.conf_int(alpha)
        tab = pd.DataFrame({"coef": self.params, "std err": self.bse, "z": self.tvalues,
                            "P>|z|": self.pvalues, f"[{alpha / 2:g}": ci.iloc[:, 0], f"{1 - alpha / 2:g}]": ci.iloc[:, 1]})
        tab.loc[[self.params.index[i] for i in self.boundary], ["std err", "z", "P>|z|"]] = np.nan
        return tab

    def summary(self, alpha: float = 0.05) -> Summary:
        """A statsmodels ``Summary`` (``print`` it; ``.as_html()``, ``.as_latex()``)."""
        from .summary import build_summary

        return build_summary(self, alpha)

    def __repr__(self):
        from .summary import classes_text

        return (f"<MixtureResults: {self.model_name}, classes {classes_text(self.class_sizes, self.n_classes)}, "
                f"llf={self.llf:.4f}, {self.df_model} parameters>")

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Write the results to a JSON file of data (no pickle, no code): reload with
        ``glmmix.load_results`` (see :mod:`glmmix.persist`)."""
        from .persist import save

        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> MixtureResults:
        """Read results written by :meth:`save` (also ``glmmix.load_results``).

        The file is read as data (no pickle, nothing evaluated) and validated. A loaded result
        has no data: ``predict`` needs ``newdata`` and ``start_from`` is unavailable.

        Raises
        ------
        GlmmixError
            When the file is not a valid glmmix results file.
        """
        from .persist import load

        return load(cls, path)


def _limit_fit(lp, fit: FitResult) -> FitResult:
    """The estimation's result written in the limiting model at a limit point ``lp``: its
    parameters there with its log-likelihood (its nodes adapted to them), the fit's convergence."""
    from .estimation import FitResult

    ll = float(lp.model.adapt(lp.theta))
    out = FitResult(lp.theta, ll, fit.converged, fit.grad_max, 0, 0, message=fit.message)
    out.adapt_state = lp.model.likelihood.adaptation()
    return out
