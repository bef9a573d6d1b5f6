"""Distal outcomes and covariates of latent classes without shifting the classes: three-step methods.

Step 1 is the fitted measurement model (``res``); step 2 assigns each unit to its modal
class W and computes the classification errors

    D[s, t] = P(W = t | X = s) = sum_i p_is 1(W_i = t) / sum_i p_is

from the posteriors p_is (Vermunt 2010, eq 6; Bakk, Tekle & Vermunt 2013). Step 3 relates the
classes X to further variables while the measurement part stays fixed:

* ``method="bch"`` (Bolck, Croon & Hagenaars 2004; Vermunt 2010; Bakk & Vermunt 2016): each
  unit enters every class s with weight w_is = (D^-1)[W_i, s], and the distal model
  ``z ~ x`` is fitted per class by weighted least squares (class-specific residual
  variances), or, for a binary or count outcome (``family="bernoulli"``, ``"poisson"``), by
  weighted logistic or log-linear regression. Covariates of class membership (``"~ x"``) are
  a multinomial logistic regression in which every unit enters every class s with weight
  w_is. Standard errors are the sandwich of these estimating equations (the weights held
  fixed), as in Latent GOLD and Mplus. A BCH estimate can fail to exist when the weights
  (some negative) leave a class with too little information; the error says so.
* ``method="ml"`` (Vermunt 2010; Asparouhov & Muthen 2014, Mplus DU3STEP/R3STEP): a latent
  class model with W as a single indicator whose response probabilities are fixed at D,

      L_i = sum_s P(X = s | x_i) D[s, W_i] f(z_i | X = s),

  maximised over the distal model's parameters (class-specific regressions and residual SDs)
  or, for covariates, the multinomial logits of P(X = s | x). Standard errors are the
  inverse observed information.

Both ignore the sampling error of step 1, as those programs do by default. A model fitted
with weights passes them on: every unit's contributions to D and to step 3 are weighted;
sampling weights give pseudo-ML estimates with sandwich SEs (the ML step 3 too), frequency
weights the estimates and SEs of the data with every unit repeated. Units nested in the
clusters of a two-level model (classes within clusters: a two-level LCA, classes with a
cluster's random effects) are not independent: the SEs are cluster-robust, the meat of the
sandwich summing each cluster's estimating functions (Mplus's TYPE = COMPLEX), for the ML
step too. The formula is
``"z ~ 1"`` (class-specific means of a distal outcome z), ``"z ~ 1 + x"`` (class-specific
regressions), or ``"~ x1 + x2"`` (covariates predicting class membership). With several
class variables, ``class_variable`` names the one whose marginal posterior is used. Variables are read per unit: ``data`` has the unit column of the
fitted model (long data are fine when the variables are constant within units).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from formulaic import Formula
from scipy import optimize
from .families import FamilyData, get_family
from .mathutils import lse

from .exceptions import GlmmixError, plain
from .hypothesis import WaldInference

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # names for the type hints only
    from .results import MixtureResults


class ThreeStepError(GlmmixError, ValueError):
    """A three-step analysis that cannot be done as asked."""


def classification_errors(posterior: pd.DataFrame, weights: np.ndarray | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(modal class per unit (0-based), D with D[s, t] = P(W = t | X = s)); ``weights``:
    the units' weights."""
    p = np.asarray(posterior, dtype=float)
    W = p.argmax(axis=1)
    K = p.shape[1]
    onehot = np.eye(K)[W]
    pw = p if weights is None else p * np.asarray(weights, float)[:, None]
    D = (pw.T @ onehot) / pw.sum(axis=0)[:, None]
    return W, D


def _unit_data(res, data, formula):
    unit = res.posterior.index.name
    if not isinstance(data, pd.DataFrame):
        raise ThreeStepError("data must be a DataFrame")
    if not isinstance(formula, str) or "~" not in formula:
        raise ThreeStepError(f"formula must read 'z ~ 1', 'z ~ 1 + x' or '~ x', not {formula!r}")
    lhs, rhs = (s.strip() for s in formula.split("~", 1))
    spec = getattr(getattr(res, "model", None), "spec", None) or {}
    if (unit is not None and unit not in data.columns and spec.get("items") is not None
            and spec.get("id") is None):  # wide data fitted without id=: the units are the row labels
        data = data.rename_axis(unit).reset_index()
    if unit is None or unit not in data.columns:
        raise ThreeStepError(f"data needs the fitted model's unit column {unit!r} to match units to classes")
    try:
        mm = Formula(rhs).get_model_matrix(data, na_action="ignore")
    except Exception as exc:
        raise ThreeStepError(f"cannot build the design of {rhs!r}: {exc}") from None
    cols = [lhs] if lhs else []
    for c in cols:
        if c not in data.columns:
            raise ThreeStepError(f"the distal outcome {c!r} is not a column of data")
    frame = pd.concat([data[[unit, *cols]].reset_index(drop=True), mm.reset_index(drop=True)], axis=1)
    frame = frame.loc[:, ~frame.columns.duplicated()]
    varying = [c for c in frame.columns if c != unit and (frame.groupby(unit)[c].nunique(dropna=False) > 1).any()]
    if varying:
        raise ThreeStepError(f"{varying} vary within units of {unit!r}: three-step variables are unit-level")
    per_unit = frame.groupby(unit, sort=False).first()
    missing = res.posterior.index.difference(per_unit.index)
    if len(missing):
        fitted, given = res.posterior.index.dtype, data[unit].dtype
        hint = (f"; the fitted ids are {fitted}, data[{unit!r}] holds {given}: convert the column"
                if pd.api.types.is_numeric_dtype(fitted) != pd.api.types.is_numeric_dtype(given) else "")
        raise ThreeStepError(f"{len(missing)} fitted unit(s) of {unit!r} are not in data (e.g. "
                             f"{plain(missing[0])!r}){hint}")
    per_unit = per_unit.loc[res.posterior.index]
    if lhs and not (pd.api.types.is_numeric_dtype(per_unit[lhs].dtype) or pd.api.types.is_bool_dtype(per_unit[lhs])):
        raise ThreeStepError(f"the distal outcome {lhs!r} must be numeric, not {per_unit[lhs].dtype}: code it as "
                             "numbers (a binary outcome as 0/1 with family='bernoulli')")
    X = per_unit[list(mm.columns)].to_numpy(dtype=float)
    z = per_unit[lhs].to_numpy(dtype=float) if lhs else None
    named = [(lhs, z)] if lhs else []
    for name, col in [*named, *zip(mm.columns, X.T)]:
        if np.isinf(col).any():
            unit_at = per_unit.index[np.isinf(col)][0]
            raise ThreeStepError(f"{name!r} is infinite for unit {unit_at} of {unit!r}: three-step needs finite "
                                 "values (missing values are NaN and are left out)")
    ok = ~np.isnan(X).any(axis=1) & (~np.isnan(z) if z is not None else True)
    _check_rank(X[ok], list(mm.columns), rhs)
    return lhs, list(mm.columns), X, z, ok


def _check_rank(X, names, rhs):
    """Refuse a step-3 design whose columns are linearly dependent, naming the first column
    that the ones before it determine (a constant covariate beside the intercept)."""
    if X.shape[1] == 0 or np.linalg.matrix_rank(X) == X.shape[1]:
        return
    for j in range(X.shape[1]):
        if np.linalg.matrix_rank(X[:, : j + 1]) <= j:
            dep = "is zero in every unit" if j == 0 else f"is a linear combination of {names[:j]}"
            raise ThreeStepError(f"the step-3 design of {rhs!r} is rank deficient: column {names[j]!r} {dep} "
                                 "(over the units with every value observed); drop it")


class ThreeStepResults(WaldInference):
    """Step-3 estimates with statsmodels-style attributes (``params``, ``bse``, ``pvalues``,
    ``conf_int()``, ``cov_params()``, ``wald_test()``, ``t_test()``, ``summary()``)."""

    def __init__(self, params: pd.Series, cov: np.ndarray, method: str, formula: str, D: np.ndarray, n: int,
                 llf: float | None = None):
        self.params = params
        self._cov = cov
        self.method = method
        self.formula = formula
        self.classification_errors = D
        self.nobs = n
        #: fitted units left out because the distal outcome or a covariate is missing
        self.n_missing = 0
        #: the weights used: the fitted model's weighting (columns and scalings), None without
        self.weighting = None
        #: the class labels (rows and columns of the classification table)
        self.class_labels = None
        #: units nested in clusters of a two-level model: (cluster column, number of clusters),
        #: the SEs being cluster-robust; None otherwise
        self.clusters = None
        self.llf = llf

    def cov_params(self) -> pd.DataFrame:
        """Covariance matrix of the estimates (sandwich for BCH), labelled by parameter."""
        return pd.DataFrame(self._cov, index=self.params.index, columns=self.params.index)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of ``params``."""
        return pd.Series(np.sqrt(np.clip(np.diag(self._cov), 0, None)), index=self.params.index, name="bse")

    def summary(self) -> str:
        """Coefficients with z tests and intervals, and the classification errors, as text."""
        names = {"bch": "BCH (weighted, sandwich SEs)", "ml": "ML three-step (fixed classification errors)"}
        ci = self.conf_int()
        tab = pd.DataFrame({"coef": self.params, "std err": self.bse, "z": self.tvalues, "P>|z|": self.pvalues,
                            "[0.025": ci.iloc[:, 0], "0.975]": ci.iloc[:, 1]})
        D = pd.DataFrame(self.classification_errors, index=[f"X={c}" for c in self.class_labels],
                         columns=[f"W={c}" for c in self.class_labels])
        lines = [f"Three-step analysis: {self.formula}  [{names[self.method]}]", f"Units: {self.nobs}" + (f" ({self.n_missing} with missing values left out)" if self.n_missing else "")]
        if self.weighting:
            w = self.weighting
            lines.append(f"Frequency weights: {w['freq_weights']} (sum {w['n_weighted']:.0f})" if "freq_weights" in w
                         else "Sampling weights: " + ", ".join(f"{w[k]}" for k in ("weights", "cluster_weights") if k in w))
        if self.clusters:
            lines.append(f"Standard errors: cluster-robust, {self.clusters[1]} clusters of {self.clusters[0]!r}")
        if self.llf is not None:
            lines.append(f"Step-3 log-likelihood: {self.llf:.4f}")
        lines += [tab.to_string(float_format=lambda v: f"{v:.4f}"),
                  "Classification errors P(W = modal class | X = class):", D.to_string(float_format=lambda v: f"{v:.3f}")]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __repr__(self):
        return f"<ThreeStepResults: {self.method}, {self.formula!r}, {len(self.params)} parameters>"


def _bch_weights(W, D):
    """w_is = (D^-1)[W_i, s]: every unit's weight in every class (rows sum to 1)."""
    try:
        return np.linalg.inv(D)[W]
    except np.linalg.LinAlgError:
        raise ThreeStepError("the classification error matrix is singular: the classes are not separated "
                             "enough for BCH weights") from None


def _sandwich(bread, psi, copies=None, groups=None):
    """A^-1 (sum_i psi_i psi_i') A^-1 for the stacked estimating equations (``psi`` weighted
    by the units' weights); with frequency weights (``copies``) every copy of a unit counts
    once: sum_i psi_i psi_i' / f_i. ``groups`` (codes 0..G-1 of the units' clusters): the
    cluster-robust meat sum_g psi_g psi_g' of the clusters' sums, for units nested in the
    clusters of a two-level model (with frequency weights, the copies of a cluster)."""
    Ainv = np.linalg.inv(bread)
    if groups is not None:
        G = int(groups.max()) + 1 if groups.size else 0
        psi = np.stack([np.bincount(groups, psi[:, j], G) for j in range(psi.shape[1])], axis=1)
        if copies is not None:
            first = np.full(G, -1)
            first[groups[::-1]] = np.arange(groups.size)[::-1]
            copies = copies[first]
    meat = psi.T @ psi if copies is None else (psi / copies[:, None]).T @ psi
    return Ainv @ meat @ Ainv


def _bch_glm(X, z, w, family, label):
    """Weighted GLM (canonical link) by Newton: (beta, bread, per-unit estimating functions).

    The score and weights per unit come from the family's own evaluation (canonical links:
    observed and expected information agree)."""
    fam = get_family(family)
    aux = FamilyData()
    y = fam.prepare(pd.Series(z, name=label), aux)

    def moments(beta):
        ev = fam.evaluate(y, (X @ beta)[:, None], None, aux)
        return ev.d_eta[:, 0], ev.w_eta[:, 0]

    beta = np.zeros(X.shape[1])
    for _ in range(100):
        d, v = moments(beta)
        A = (X * (w * v)[:, None]).T @ X
        try:
            step = np.linalg.solve(A, X.T @ (w * d))
        except np.linalg.LinAlgError:
            step = np.full_like(beta, np.nan)
        if not np.all(np.isfinite(step)) or np.abs(beta + step).max() > 30:
            raise ThreeStepError(f"the BCH {family} regression of {label} has no finite maximum (its weighted "
                                 "outcome sums lie outside the outcome's range: too few units or too much "
                                 "classification error); use method='ml'")
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    d, v = moments(beta)
    return beta, (X * (w * v)[:, None]).T @ X, X * (w * d)[:, None]


def _bch(W, D, X, z, classes, xnames, family="gaussian", uw=None, copies=None, groups=None):
    """BCH step 3 for a distal outcome: per class a weighted GLM (Gaussian: least squares with
    the class's residual variance), sandwich SEs of the stacked estimating equations. ``uw``:
    the units' weights (multiplying the BCH weights); ``copies``: the same when they are
    frequency weights."""
    K = D.shape[0]
    w = _bch_weights(W, D) * (1.0 if uw is None else uw[:, None])
    p = X.shape[1]
    est, psi, bread, names = [], [], [], []
    for s in range(K):
        ws = w[:, s]
        if get_family(family).has_residual_sd:
            A = (X * ws[:, None]).T @ X
            beta = np.linalg.solve(A, (X * ws[:, None]).T @ z)
            e = z - X @ beta
            sw = ws.sum()
            s2 = (ws * e**2).sum() / sw
            if s2 <= 0:
                raise ThreeStepError(f"BCH gives a negative residual variance in {classes[s]}: too few units or "
                                     "too much classification error; use method='ml'")
            est += [*beta, s2]
            psi.append(np.column_stack([X * (ws * e)[:, None], ws * (e**2 - s2)]))
            B = np.zeros((p + 1, p + 1))
            B[:p, :p] = A
            B[p, p] = sw
            bread.append(B)
            names += [f"{classes[s]}:{v}" for v in [*xnames, "sigma"]]
        else:
            beta, B, ps = _bch_glm(X, z, ws, family, classes[s])
            est += list(beta)
            psi.append(ps)
            bread.append(B)
            names += [f"{classes[s]}:{v}" for v in xnames]
    sizes = [b.shape[0] for b in bread]
    A = np.zeros((sum(sizes), sum(sizes)))
    at = np.cumsum([0, *sizes])
    for s in range(K):
        A[at[s]:at[s + 1], at[s]:at[s + 1]] = bread[s]
    V = _sandwich(A, np.concatenate(psi, axis=1), copies, groups)
    est = np.array(est)
    if get_family(family).has_residual_sd:  # report sigma = sqrt(sigma^2) (delta method)
        J = np.eye(est.size)
        for s in range(K):
            i = at[s] + p
            J[i, i] = 0.5 / np.sqrt(est[i])
            est[i] = np.sqrt(est[i])
        V = J @ V @ J.T
    return pd.Series(est, index=names, name="coef"), V


def _bch_covariates(W, D, X, classes, xnames, uw=None, copies=None, groups=None):
    """BCH step 3 for covariates of class membership (Vermunt 2010; Bakk & Vermunt 2016):
    every unit enters every class s with weight w_is in a multinomial logistic regression,
    maximising sum_i sum_s w_is log P(X = s | x_i). As the weights of a unit sum to 1, the
    Hessian is the unweighted multinomial one (the problem is concave whatever the signs of
    the weights); SEs are the sandwich of the estimating equations."""
    K = D.shape[0]
    w = _bch_weights(W, D)
    n, q = X.shape
    u = np.ones(n) if uw is None else uw
    theta = np.zeros(q * (K - 1))
    for _ in range(100):
        G = np.column_stack([theta.reshape(q, K - 1), np.zeros(q)])
        lin = X @ G
        pi = np.exp(lin - lse(lin, axis=1, keepdims=True))[:, : K - 1]
        score = np.einsum("ni,nk->nik", X * u[:, None], w[:, : K - 1] - pi).reshape(n, -1)
        cov = (pi[:, :, None] * np.eye(K - 1)[None]) - pi[:, :, None] * pi[:, None, :]  # (n, K-1, K-1)
        H = np.einsum("ni,nj,nkl->ikjl", X * u[:, None], X, cov).reshape(q * (K - 1), q * (K - 1))
        step = np.linalg.solve(H, score.sum(axis=0))
        if not np.all(np.isfinite(step)) or np.abs(theta + step).max() > 30:
            raise ThreeStepError("the BCH multinomial regression of the classes on the covariates has no finite "
                                 "maximum (a class is separated by the covariates); use method='ml'")
        theta = theta + step
        if np.abs(step).max() < 1e-10:
            break
    labels = [f"logit:{classes[k]}:{v}" for v in xnames for k in range(K - 1)]
    return pd.Series(theta, index=labels, name="coef"), _sandwich(H, score, copies, groups)


def _ml_parts(theta, W, logD, X, z, K, mode, Xc):
    """Per-unit log-likelihood and gradient of the step-3 model."""
    n = len(W)
    if mode == "distal":
        p = X.shape[1]
        g = np.append(theta[: K - 1], 0.0)
        logpi = np.broadcast_to(g - lse(g, axis=0), (n, K))
        B = theta[K - 1:].reshape(K, p + 1)
        beta, logsig = B[:, :p], B[:, p]
        e = z[:, None] - X @ beta.T  # (n, K)
        sig2 = np.exp(2 * logsig)
        logf = -0.5 * np.log(2 * np.pi) - logsig - 0.5 * e**2 / sig2
    else:
        q = Xc.shape[1]
        G = np.column_stack([theta.reshape(q, K - 1), np.zeros(q)])
        lin = Xc @ G
        logpi = lin - lse(lin, axis=1, keepdims=True)
        logf = 0.0
    a = logpi + logD[:, W].T + logf
    ll = lse(a, axis=1)
    r = np.exp(a - ll[:, None])  # posterior given W (and z)
    if mode == "distal":
        pi = np.exp(logpi)
        gg = (r - pi)[:, : K - 1]
        gb = [np.column_stack([X * (r[:, s] * e[:, s] / sig2[s])[:, None],
                               r[:, s] * (e[:, s] ** 2 / sig2[s] - 1.0)]) for s in range(K)]
        score = np.concatenate([gg, *gb], axis=1)
    else:
        pi = np.exp(logpi)
        score = np.einsum("ni,nk->nik", Xc, (r - pi)[:, : K - 1]).reshape(n, -1)
    return ll, score


def _ml(W, D, X, z, classes, xnames, mode, post, uw=None, frequency=False, groups=None):
    """ML step 3; ``uw``: the units' weights (pseudo-ML with sandwich SEs for sampling
    weights, the observed information of the weighted log-likelihood for frequency ones);
    ``groups``: the units' clusters (two-level models), for the cluster-robust sandwich."""
    from .inference import numeric_hessian

    K = D.shape[0]
    u = np.ones(len(W)) if uw is None else uw
    with np.errstate(divide="ignore"):
        logD = np.log(np.clip(D, 1e-300, None))
    if mode == "distal":
        p = X.shape[1]
        start = [np.zeros(K - 1)]
        share = np.average(post, axis=0, weights=u)
        start[0] = np.log(share[: K - 1] / share[K - 1])
        for s in range(K):  # posterior-weighted regressions start the search
            w = post[:, s] * u
            beta = np.linalg.lstsq(X * np.sqrt(w)[:, None], z * np.sqrt(w), rcond=None)[0]
            res = z - X @ beta
            start.append(np.append(beta, 0.5 * np.log(max((w * res**2).sum() / w.sum(), 1e-8))))
        theta0 = np.concatenate(start)
        Xc = None
    else:
        Xc = X
        theta0 = np.zeros(X.shape[1] * (K - 1))

    def f(t):
        ll, sc = _ml_parts(t, W, logD, X, z, K, mode, Xc)
        return -(u * ll).sum(), -(u[:, None] * sc).sum(axis=0)

    opt = optimize.minimize(f, theta0, jac=True, method="BFGS", options={"gtol": 1e-7, "maxiter": 2000})
    theta = opt.x
    if not np.isfinite(opt.fun) or np.abs(opt.jac).max() > 1e-3:
        raise ThreeStepError(f"the step-3 maximisation did not converge ({opt.message})")
    H = numeric_hessian(lambda t: -f(t)[1], theta)
    try:
        V = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        raise ThreeStepError("the step-3 information matrix is singular") from None
    if (uw is not None and not frequency) or groups is not None:  # sampling weights, clusters: the sandwich
        S = u[:, None] * _ml_parts(theta, W, logD, X, z, K, mode, Xc)[1]
        V = _sandwich(-H, S, u if frequency else None, groups)
    if mode == "distal":
        p = X.shape[1]
        labels = [f"logit:{classes[s]}:Intercept" for s in range(K - 1)]
        labels += [f"{c}:{v}" for c in classes for v in [*xnames, "sigma"]]
        est = theta.copy()
        J = np.eye(theta.size)
        for s in range(K):
            i = K - 1 + s * (p + 1) + p
            est[i] = np.exp(theta[i])
            J[i, i] = est[i]
        V = J @ V @ J.T
    else:
        labels = [f"logit:{classes[k]}:{v}" for v in xnames for k in range(K - 1)]
        est = theta
    return pd.Series(est, index=labels, name="coef"), V, -opt.fun


FAMILIES = ("gaussian", "bernoulli", "poisson")


def _check_outcome(z, family, name):
    """Refuse distal values outside the family's support (the family's own check)."""
    try:
        get_family(family).prepare(pd.Series(z, name=name), FamilyData())
    except GlmmixError as e:
        raise ThreeStepError(f"distal outcome for family {family!r}: {e}") from None


def _class_posterior(post, sizes, variable):
    """The posterior of one class variable: the joint states' columns (``c1#1.c2#2``) summed
    over the other variables."""
    if len(sizes) <= 1:
        if variable is not None and variable not in sizes:
            raise ThreeStepError(f"class_variable {variable!r} is not a class variable of the model")
        return post
    if variable is None:
        raise ThreeStepError(f"the model has several class variables {list(sizes)}: name the one to relate with "
                             "class_variable=")
    if variable not in sizes:
        raise ThreeStepError(f"class_variable must be one of {list(sizes)}, not {variable!r}")
    digit = [int(dict(part.split("#") for part in str(c).split("."))[variable]) for c in post.columns]
    P = post.to_numpy(dtype=float)
    cols = sorted(set(digit))
    M = np.column_stack([P[:, np.array(digit) == j].sum(axis=1) for j in cols])
    return pd.DataFrame(M, index=post.index, columns=[f"{variable}#{j}" for j in cols])


def _unit_weights(res):
    """(the fitted units' weights, whether they are frequency weights); (None, False) without
    weights. Sampling weights of two-level models: the unit's times its cluster's."""
    w = getattr(res, "weighting", None)
    if not w:
        return None, False
    return np.asarray(res.unit_weight, dtype=float), "freq_weights" in w


def three_step(res: MixtureResults, data: pd.DataFrame, formula: str, method: str = "bch",
               family: str = "gaussian", class_variable: str | None = None) -> ThreeStepResults:
    """Relate latent classes to a distal outcome or to covariates without shifting the classes.

    Parameters
    ----------
    res : MixtureResults
        The fitted measurement model (classes per unit).
    data : DataFrame
        With the fitted model's unit column and the step-3 variables (constant within units).
    formula : str
        ``"z ~ 1"`` (class-specific means and SDs of a distal outcome z), ``"z ~ 1 + x"``
        (class-specific regressions of z), or ``"~ x"`` (covariates of class membership,
        multinomial logits against the last class).
    method : {"bch", "ml"}
        See :mod:`glmmix.threestep`.
    family : {"gaussian", "bernoulli", "poisson"}
        The distal outcome's distribution: class-specific linear, logistic or log-linear
        regressions. Bernoulli and Poisson distal outcomes use ``method="bch"``.
    class_variable : str, optional
        With several class variables (e.g. ``c1(id) ... | c2(id) ...``), the one whose
        classes are related (its marginal posterior; the joint states are summed over the
        others).

    Returns
    -------
    ThreeStepResults
    """
    if method not in ("bch", "ml"):
        raise ThreeStepError(f"method must be 'bch' or 'ml', not {method!r}")
    if family not in FAMILIES:
        raise ThreeStepError(f"family must be one of {FAMILIES}, not {family!r}")
    if family != "gaussian" and method == "ml":
        raise NotImplementedError(f"a {family} distal outcome uses method='bch' (the ML three-step handles Gaussian "
                                  "distal outcomes)")
    post = getattr(res, "posterior", None)
    if post is None or res.n_classes < 2:
        raise ThreeStepError("three_step() needs a fitted model with at least 2 classes")
    uw_all, frequency = _unit_weights(res)
    post = _class_posterior(post, dict(res.class_sizes), class_variable)
    lhs, xnames, X, z, ok = _unit_data(res, data, formula)
    P = post.to_numpy(dtype=float)
    W_all, D = classification_errors(P, uw_all)  # from every fitted unit (step 2)
    W, X, P = W_all[ok], X[ok], P[ok]
    z = z[ok] if z is not None else None
    uw = None if uw_all is None else uw_all[ok]
    copies = uw if frequency else None
    clusters = _unit_clusters(res)
    groups = None if clusters is None else pd.factorize(clusters[ok])[0]
    classes = list(post.columns)
    llf = None
    if lhs:
        _check_outcome(z, family, lhs)
        if z.size and np.all(z == z[0]):
            raise ThreeStepError(f"the distal outcome {lhs!r} takes one value ({plain(z[0])!r}) in every unit with "
                                 "its variables observed: nothing to relate to the classes")
        if method == "bch":
            params, V = _bch(W, D, X, z, classes, xnames, family, uw, copies, groups)
        else:
            params, V, llf = _ml(W, D, X, z, classes, xnames, "distal", P, uw, frequency, groups)
    elif method == "bch":
        params, V = _bch_covariates(W, D, X, classes, xnames, uw, copies, groups)
    else:
        params, V, llf = _ml(W, D, X, None, classes, xnames, "covariates", P, uw, frequency, groups)
    out = ThreeStepResults(params, 0.5 * (V + V.T), method, formula, D, int(ok.sum()), llf)
    out.class_labels = classes
    out.n_missing = int((~ok).sum())
    out.weighting = getattr(res, "weighting", None) or None
    if groups is not None:
        out.clusters = (res.cluster_name, int(groups.max()) + 1 if groups.size else 0)
    return out


def _unit_clusters(res):
    """The cluster of every fitted unit when units are nested in the clusters of a two-level
    model (classes within clusters), else None: their step-3 contributions are not
    independent within a cluster, so the SEs are cluster-robust."""
    if not getattr(res, "classes_within_clusters", False):
        return None
    return res.unit_clusters
