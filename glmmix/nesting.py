"""Simpler models a mixture nests, derived from its formula: structured starts and limits.

A mixture with random terms contains simpler models as boundary limits of its parameter
space. They are read off the formula, never off a model's name:

* **between limit**: a row-level class variable with a random class intercept on ``g``
  (``class ~ 1 + (1 | g)``: GoM, FMA-GoM, Table 3's Model 6) becomes the cluster-level
  class variable ``class(g)`` as the intercept's variance goes to infinity (every row of a
  cluster then falls in one class: the LCA, the FMA, Model 5);
* **no random effects**: dropping every random term of the outcome part (loadings and SDs
  to 0) and, for a unit-level class variable, of the class part (two-level to single-level),
  after the between limit: the LCA under an FMA, FMA-GoM or GoM;
* **one class**: with outcome random terms, the one-class model (the factor model or 2PL
  under an FMA or a 3PL) is the limit in which one class takes every unit;
* **one class fewer**: with K >= 3 classes (and no random class logits), the same model with
  K - 1 classes is the limit in which one class is a copy of another. Its solution, found by
  a cheap search of its own (``SPLIT_SEARCH``), gives *split* starts: each of its classes in
  turn is split in two halves moved apart by a random perturbation (``SPLITS_PER_CLASS``
  directions), or, for binary outcomes, split by the response to one item (its members
  answering 0 and 1, ``RESPONSE_SPLITS`` items: the K - 1 class likelihood unchanged). Unlike
  the other structured starts they go through a stage one of their own (of
  ``estimation.SPLIT_STAGE1_ITER`` EM iterations), and the best split
  of each class and the next best split overall are completed (most splits lead to the same
  few maxima).
  Only the adaptive search (``starts="auto"``) uses them.

Each simpler model is built from the fitted model's formula, data and arguments
(``MixtureModel.spec``) and fitted with the same estimation options and its own start
search (fits are shared within one top-level fit) and its estimates are carried over by parameter label. They
give the structured starts of :func:`glmmix.estimation.estimate` (the simpler solution,
and for one class every class in turn taking most of the weight, and with several
class-logit columns each column in turn giving a class weight, so the 3PL starts from the
2PL, from a guessing-heavy solution and from guessing on one item at a time) and the limits of the nesting guarantee
(the full model evaluated at the boundary point equal to the simpler fit).

Models with several class variables get no structured starts (random starts only).
"""

from __future__ import annotations

import contextvars
import dataclasses
import hashlib
import re
import weakref
from dataclasses import dataclass

import numpy as np
from scipy import stats

from .exceptions import GlmmixError
from .progress import say
from .terms import ClassPart, ParsedFormula, Part

#: a class-logit SD at which a row-level class variable acts as a cluster-level one
LIMIT_SD = 1e3
#: log-odds at which a class has (numerically) no weight
LIMIT_LOGIT = 30.0
#: the weight of the favoured class in one-class starts
FAVOURED = 0.8
#: one-class starts that raise one class-logit column at a time, for at most this many columns
MAX_COLUMN_STARTS = 20
#: the K - 1 class fit behind split starts: random starts in stage one (raced,
#: ``FitOptions.stage1_race``), completed starts
SPLIT_SEARCH = (30, 3)
#: ... completed to this max |gradient| / n (``FitOptions.gtol``): its solution only seeds the
#: splits, which go through a stage one of their own
SPLIT_GTOL = 1e-4
#: split starts per class of the K - 1 class solution (random directions of the split)
SPLITS_PER_CLASS = 3
#: splits per class of the K - 1 class solution by the response to one item (binary outcomes:
#: the items whose probability in the class is nearest 1/2), instead of the random splits
#: (3 missed LSAT's 4-class maximum with seed 16 of 1-20)
RESPONSE_SPLITS = 4
#: the size of a split's perturbation, relative to that of a random start
SPLIT_SCALE = 0.5

_CACHE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("glmmix_nesting_cache", default=None)
#: fits made from the default starting values that a later fit's simpler model may equal
#: (:func:`remember`, :func:`_remembered`): key -> (weak reference to the result, the
#: adaptation state it was fitted with); the results themselves are never kept alive here
_FITTED: dict = {}
#: entries of _FITTED kept (the oldest go first)
FITTED_MAX = 64
#: rows of the data hashed at a time (:func:`_fit_key`)
HASH_ROWS = 1 << 15
#: inside the K - 1 class fit behind split starts (which gets no split starts of its own)
_SPLITTING: contextvars.ContextVar[bool] = contextvars.ContextVar("glmmix_nesting_splitting", default=False)


@dataclass(frozen=True)
class Simpler:
    kind: str  # "between limit", "no random effects", "one class", "one class fewer"
    formula: str
    n_classes: int


def _part_text(p: Part, drop_random: bool = False) -> str:
    terms = [p.fixed.strip() or "1"]
    if not drop_random:
        terms += [str(t) for t in p.random] + [str(f) for f in p.factors]
    return " + ".join(terms)


def _class_text(c: ClassPart, level, drop_random) -> str:
    lhs = f"{c.name}({level})" if level else c.name
    return f"{lhs} ~ {_part_text(c.part, drop_random)}"


def _between_group(c: ClassPart):
    """The grouping column of a row-level class variable's random intercepts, if one."""
    if c.level is not None:
        return None
    groups = {t.group for t in c.part.random} | {f.group for f in c.part.factors}
    return groups.pop() if len(groups) == 1 else None


def simpler_models(parsed: ParsedFormula, n_classes: int) -> list[Simpler]:
    """The simpler models nested in this one (see the module docstring), cheapest last."""
    if len(parsed.classes) != 1 or n_classes < 2:
        return []
    c = parsed.classes[0]
    op = parsed.outcome_part
    out_random = bool(op.random or op.factors)
    cls_random = bool(c.part.random or c.part.factors)
    g = _between_group(c)
    found = []
    if g is not None:  # variance to infinity: the class variable moves to the cluster level
        f = f"{parsed.outcome} ~ {_part_text(op)} | {_class_text(c, g, True)}"
        found.append(Simpler("between limit", f, n_classes))
    level = g if g is not None else c.level
    if (out_random or cls_random) and level is not None:  # a row-level mixture is no start
        f = f"{parsed.outcome} ~ {_part_text(op, True)} | {_class_text(c, level, True)}"
        if all(s.formula != f for s in found):
            found.append(Simpler("no random effects", f, n_classes))
    if out_random:
        found.append(Simpler("one class", f"{parsed.outcome} ~ {_part_text(op)}", 1))
    if n_classes >= 3 and not cls_random:
        found.append(Simpler("one class fewer", parsed.text, n_classes - 1))
    return found


def _keep_fix(label: str, simple: Simpler, class_name: str) -> bool:
    """Whether a ``fix=``/``equal=`` label can apply to the simpler model."""
    if simple.kind == "one class":
        return not re.match(rf"(logit:)?{re.escape(class_name)}\d+:", label) and not label.startswith("logit:")
    if simple.kind == "no random effects":
        return not re.search(r"(^|:)(sd|cor|loading|regression|residual sd)\(", label)
    return not label.startswith(("sd(", "cor(", "loading(", "regression(", "residual sd("))


def simpler_model(simple: Simpler, kw: dict, method: str | None = None):
    """The simpler model built with the fitted model's arguments ``kw`` (less its formula and
    classes). ``method``: the fitted model's integration rule. A number of points given with
    the default ``integration="auto"`` is meant for that rule: a simpler model whose own rule
    differs (an FMA's adaptive Gauss-Hermite under an FMA-GoM's trapezoid) keeps its default
    points (61 trapezoid points per dimension are not 61 adaptive ones: the VerbAgg FMA's
    log-likelihood differs by 3e-6 between 15 and 61 adaptive points, which cost 4x the nodes)."""
    from .model import MixtureModel

    model = MixtureModel.from_formula(simple.formula, n_classes=simple.n_classes, **kw)
    if (kw.get("n_points") is not None and (kw.get("integration") or "auto") == "auto"
            and method is not None and model.integration.method != method):
        model = MixtureModel.from_formula(simple.formula, n_classes=simple.n_classes, **dict(kw, n_points=None))
    return model


def _fit_key(model, opts) -> tuple | None:
    """What a fit of ``model`` from the default starting values depends on: the model's
    arguments (``spec``, its data frame by the hash of its contents, index and column names),
    the estimation options (less those that only print) and whether it is the K - 1 class fit
    behind split starts. None if an argument has no faithful text form or no seed is set
    (then no fit is matched)."""
    spec = getattr(model, "spec", None)
    if spec is None or opts.seed is None:  # without a seed, random starts differ from fit to fit
        return None
    import pandas as pd

    data = spec.get("data")
    if not isinstance(data, pd.DataFrame):
        return None
    args = []
    for k in sorted(spec):
        if k == "data":
            continue
        text = repr(spec[k])
        if " at 0x" in text:  # an object printed by its address: not comparable
            return None
        args.append((k, text))
    h = hashlib.blake2b(repr((list(data.columns), [str(t) for t in data.dtypes], data.shape)).encode(), digest_size=16)
    try:  # rows in chunks: the hashes of a chunk at a time (a fit's peak memory is a few times the frame)
        for a in range(0, len(data), HASH_ROWS):
            h.update(pd.util.hash_pandas_object(data.iloc[a:a + HASH_ROWS], index=True).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists, dicts)
        return None
    o = dataclasses.replace(opts, verbose=False, progress=None, n_jobs=1)
    return (tuple(args), h.hexdigest(), repr(o), _SPLITTING.get())


def _same_state(a, b) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
    if a is None or b is None:
        return a is b
    return np.array_equal(np.asarray(a), np.asarray(b))


def remember(model, opts, result, state) -> None:
    """Record a fit made from the default starting values (``MixtureModel.fit``), so that a
    later fit nesting the same model on the same data with the same options uses it as its
    simpler model instead of fitting it again (``vignettes/special_cases.py`` fits the FMA and
    then the FMA-GoM, whose between limit it is). Only a weak reference is kept."""
    key = _fit_key(model, opts)
    if key is None:
        return
    for k in [k for k, (ref, _) in _FITTED.items() if ref() is None]:
        del _FITTED[k]
    _FITTED.pop(key, None)
    _FITTED[key] = (weakref.ref(result), state)
    while len(_FITTED) > FITTED_MAX:
        del _FITTED[next(iter(_FITTED))]


def _remembered(model, opts):
    """A remembered fit of ``model`` with ``opts`` (:func:`remember`) that is still alive and
    whose model is still adapted as it was fitted; else None."""
    key = _fit_key(model, opts)
    hit = _FITTED.get(key) if key is not None else None
    if hit is None:
        return None
    res = hit[0]()
    if res is None or res.model is None or not _same_state(res.model.likelihood.adaptation(), hit[1]):
        return None
    return res


def _simpler_kw(simple: Simpler, class_name: str, spec: dict) -> dict:
    """The fitted model's arguments ``spec`` for its simpler model: less its formula and
    classes, and less the constraints that name parameters the simpler model lacks."""
    kw = {k: v for k, v in spec.items() if k not in ("formula", "n_classes")}
    if kw.get("fix"):
        kw["fix"] = {k: v for k, v in kw["fix"].items() if _keep_fix(k, simple, class_name)}
    if kw.get("equal"):
        kw["equal"] = [grp for grp in kw["equal"] if all(_keep_fix(x, simple, class_name) for x in grp)]
    if simple.n_classes == 1:
        kw.pop("class_specific", None)
        kw.pop("invariant", None)
    return kw


def fit_simpler(simple: Simpler, class_name: str, spec: dict, opts, method: str | None = None, design=None):
    """Fit a simpler model (shared within one top-level fit); None if it cannot be fitted.
    ``method``: the fitted model's integration rule (:func:`simpler_model`); ``design``: the
    fitted model's design, whose outcome arrays the simpler model holds where its rows are the
    same (``design.sharing``: no second copy of the data's largest arrays)."""
    cache = _CACHE.get()
    key = (simple.formula, simple.n_classes)
    if cache is not None and key in cache:
        return cache[key]
    kw = _simpler_kw(simple, class_name, spec)
    token = None
    verbose = opts.verbose
    what = f"simpler model for structured starts, {simple.kind}: {simple.formula}, {simple.n_classes} class(es)"
    say(opts.verbose, f"{what} (fitted quietly)")
    opts = dataclasses.replace(opts, verbose=False)
    if simple.kind == "one class fewer":  # a cheap search, without splits of its own
        opts = dataclasses.replace(opts, n_starts=SPLIT_SEARCH[0], n_final=SPLIT_SEARCH[1], progress=False,
                                   stage1_race=True, gtol=max(opts.gtol, SPLIT_GTOL))
        token = _SPLITTING.set(True)
    try:
        import warnings

        from .design import sharing

        with warnings.catch_warnings(), sharing(design):
            warnings.simplefilter("ignore")
            model = simpler_model(simple, kw, method)
            res = _remembered(model, opts)
            if res is None:
                res = model.fit(se="none", options=opts)
    except (GlmmixError, NotImplementedError, ValueError, np.linalg.LinAlgError):
        res = None
    finally:
        if token is not None:
            _SPLITTING.reset(token)
    if cache is not None:
        cache[key] = res
    say(verbose, f"  log-likelihood {res.llf:.4f}" if res is not None else "  not fitted (it cannot be fitted here)")
    return res


def _with(lik, theta, **blocks) -> np.ndarray:
    L = lik.layout
    P = L.unpack(L.expand(theta).copy())
    for name, fn in blocks.items():
        P[name][...] = fn(P[name])
    phi = L.pack(P)
    m = L.free_idx < 0
    phi[m] = L.fixed_val[m]
    return L.from_full(phi)


def _logit_targets(lik, target) -> np.ndarray | None:
    """Class-logit coefficients (q, K-1) whose logits equal ``target`` (K-1,) in every unit,
    or None if the class part's design cannot express constant logits."""
    Zv = np.asarray(lik.pat.Zv, float)
    g, *_ = np.linalg.lstsq(Zv, np.ones(len(Zv)), rcond=None)
    if np.abs(Zv @ g - 1).max() > 1e-8:
        return None
    return g[:, None] * np.asarray(target, float)[None, :]


def _class_favoured(lik, theta, j, odds) -> np.ndarray | None:
    """``theta`` with class j at log-odds ``odds`` over each other class (reference: last)."""
    K = lik.K
    target = np.zeros(K - 1)
    if j == K - 1:
        target[:] = -odds
    else:
        target[j] = odds
    G = _logit_targets(lik, target)
    if G is None:
        return None
    return _with(lik, theta, gamma=lambda _: G)


def _column_starts(lik, theta) -> list:
    """One-class starts in which a single class-logit column gives a class weight (logit -1)
    while every other column keeps it rare (logit -3): with item-specific class logits (the
    3PL's guessing), one item's guessing at a time."""
    Zv = np.asarray(lik.pat.Zv, float)
    q = Zv.shape[1]
    if q < 2 or q > MAX_COLUMN_STARTS:
        return []
    out = []
    for k in range(lik.K - 1):
        for c in range(q):
            G = np.full((q, lik.K - 1), -3.0)
            G[c, k] = -1.0
            out.append((_with(lik, theta, gamma=lambda _, G=G: G), f"one class, class {k + 1} by column {c + 1}"))
    return out


def split_starts(lik, src, rng, per_class: int = SPLITS_PER_CLASS, scale: float = SPLIT_SCALE,
                 response: bool = False) -> list:
    """Starts for K classes from a K - 1 class solution ``src`` (a fitted result of the same
    model): class j of ``src`` split in two halves (class j and the new last class), their
    outcome coefficients moved apart by a random perturbation (``scale`` times that of a
    random start), ``per_class`` times for each j. The class logits keep the other classes'
    proportions and give each half half of class j's, so with ``scale=0`` every split has
    the K - 1 class log-likelihood. ``response``: the splits of each class by the response
    to one item instead where the family has them (:func:`_response_splits`: binary
    outcomes). Returns [(theta, origin)]; none if the layouts differ."""
    from .estimation import perturb

    L, sL, K = lik.layout, src.model.layout, lik.K
    S = sL.unpack(sL.expand(src.theta))
    P0 = L.unpack(L.fixed_val.copy())
    if any(S[b].shape[1:] != P0[b].shape[1:] for b in ("extra", "re_out")) or S["beta"].shape[0] != P0["beta"].shape[0] \
            or S["gamma"].shape[0] != P0["gamma"].shape[0] or src.n_classes != K - 1:
        return []
    Zv = np.asarray(lik.pat.Zv, float)
    one, *_ = np.linalg.lstsq(Zv, np.ones(len(Zv)), rcond=None)
    if np.abs(Zv @ one - 1).max() > 1e-8:  # no constant logit: the halves get the reference's odds
        one = np.zeros_like(one)
    G = np.concatenate([S["gamma"], np.zeros((S["gamma"].shape[0], 1))], axis=1)  # (q, K-1), reference 0
    out = []
    for j in range(K - 1):
        base = {"beta": np.concatenate([S["beta"], S["beta"][:, [j]]], axis=1),
                "extra": np.concatenate([S["extra"], S["extra"][[j]]]),
                "re_out": np.concatenate([S["re_out"], S["re_out"][[j]]]),
                # log-odds against the new last class (half of class j): eta_k - eta_j + log 2
                "gamma": G - G[:, [j]] + np.log(2.0) * one[:, None]}
        base["gamma"][:, j] = 0.0
        phi = L.pack({**P0, **base})
        m = L.free_idx < 0
        phi[m] = L.fixed_val[m]
        th = L.from_full(phi)
        by_response = _response_splits(lik, th, j, one, RESPONSE_SPLITS) if response else []
        for r in range(0 if by_response else per_class):
            moved = perturb(lik, th, rng.spawn(1)[0])
            B = L.unpack(L.expand(moved))
            d = scale * (B["beta"][:, j] - base["beta"][:, j])
            P = L.unpack(L.expand(th).copy())
            P["beta"][:, j] += d
            P["beta"][:, K - 1] -= d
            out.append((_with(lik, th, beta=lambda _, b=P["beta"].copy(): b), f"split of class {j + 1} of {K - 1}"))
        out += by_response
    return out


def _response_splits(lik, th, j, one, n: int) -> list:
    """Class j, split into two identical halves in ``th`` (j and the last class), split
    instead by the response to one item: for each free class-specific coefficient of the
    linear predictor in turn, class j's half at the lower boundary (probability 0) and the
    new class at the upper one (probability 1), the class's weight shared in the ratio of
    its probability of a 1 (the coefficient through the inverse link). For an item intercept
    (``0 + item``) the K - 1 class likelihood is unchanged: the class is written as the
    mixture of its members answering 0 and 1 to the item, and EM goes on from there to
    resolve the dependence among the other items within the class. The ``n`` items whose
    probability in class j is nearest 1/2 (the most even splits). Binary families only."""
    from .estimation import BOUNDARY_VALUE

    fam, L, K = lik.family, lik.layout, lik.K
    if not fam.binary:
        return []
    full = L.unpack(np.arange(L.n_full, dtype=float))["beta"].astype(int)
    P = L.unpack(L.expand(th).copy())
    split = []
    for r in range(full.shape[0]):
        a, b = L.free_idx[full[r, j]], L.free_idx[full[r, K - 1]]
        if a < 0 or b < 0 or a == b:  # fixed or class-invariant: no split of its own
            continue
        try:
            split.append((float(np.clip(fam.link.cdf(P["beta"][r, j]), 0.02, 0.98)), r, a))
        except NotImplementedError:
            return []
    out = []
    for p, r, a in sorted(split, key=lambda it: abs(it[0] - 0.5))[:n]:
        beta = P["beta"].copy()
        beta[r, j], beta[r, K - 1] = -BOUNDARY_VALUE, BOUNDARY_VALUE
        # log-odds against the new last class, which now has p of class j's weight (half in th)
        gamma = P["gamma"] - np.log(2.0 * p) * one[:, None]
        gamma[:, j] = (np.log1p(-p) - np.log(p)) * one
        out.append((_with(lik, th, beta=lambda _, v=beta: v, gamma=lambda _, v=gamma: v),
                    f"split of class {j + 1} of {K - 1} by {L.labels[a]}"))
    return out


def limit_log_probs(c) -> np.ndarray:
    """Log class probabilities (K,) at the between limit of K - 1 independent class-logit
    intercepts with a common SD s -> infinity and means s * c (K - 1,) against the reference
    (last) class, logit 0: class k has the largest of c_j + u_j (u standard normal) and 0, so
    P(K) = prod_j Phi(-c_j) and P(k) = int_0^inf phi(x - c_k) prod_{j != k} Phi(x - c_j) dx
    (adaptive quadrature to 1e-12; two classes: Phi(c) and Phi(-c))."""
    from scipy import integrate
    from scipy.special import log_ndtr

    c = np.asarray(c, float)
    out = np.empty(c.size + 1)
    out[-1] = float(log_ndtr(-c).sum())
    if c.size == 1:
        out[0] = float(log_ndtr(c[0]))
        return out
    half_log_2pi = 0.5 * np.log(2 * np.pi)
    for k in range(c.size):
        rest = [float(v) for v in np.delete(c, k)]
        ck = float(c[k])
        # the integrand exp(log phi(x - c_k) + sum_j log Phi(x - c_j)), scaled by its value at
        # max(0, c_k) (near its peak) so that far tails do not underflow
        peak = max(0.0, ck)
        top = -0.5 * (peak - ck) ** 2 - half_log_2pi + sum(float(log_ndtr(peak - r)) for r in rest)

        def f(x, ck=ck, rest=rest, top=top):
            return np.exp(-0.5 * (x - ck) ** 2 - half_log_2pi + sum(log_ndtr(x - r) for r in rest) - top)

        val, _ = integrate.quad(f, 0.0, np.inf, epsabs=0.0, epsrel=1e-12, limit=200)
        out[k] = np.log(val) + top
    return out


def limit_means(props) -> np.ndarray:
    """The means c (K - 1,) (per unit of the SD) whose between-limit class probabilities
    (:func:`limit_log_probs`) are ``props`` (K,): Phi^-1(p_1) for two classes, else solved
    from the approximation c_k = Phi^-1(p_k / (p_k + p_K)) (exact to 1e-10 in the log
    odds; :func:`limit_mean_error` says how close)."""
    from scipy import optimize

    p = np.asarray(props, float) / np.sum(props)
    c0 = stats.norm.ppf(p[:-1] / (p[:-1] + p[-1]))
    if c0.size == 1:
        return c0
    target = np.log(p[:-1]) - np.log(p[-1])

    def gap(c):
        lp = limit_log_probs(c)
        return lp[:-1] - lp[-1] - target

    sol = optimize.root(gap, c0, tol=1e-13)
    return sol.x if np.all(np.isfinite(sol.x)) else c0


def limit_mean_error(c, props) -> float:
    """How far the between-limit log odds of ``c`` are from those of ``props`` (largest)."""
    lp = limit_log_probs(c)
    p = np.asarray(props, float)
    return float(np.abs((lp[:-1] - lp[-1]) - (np.log(p[:-1]) - np.log(p[-1]))).max())


def limit_name(simple: Simpler) -> str:
    """How a limit is named in warnings and ``res.search.limits``."""
    return f"{simple.kind} ({simple.formula}" + (f", {simple.n_classes} classes)" if simple.n_classes > 1 else ")")


def _constant_logits(lik) -> bool:
    """Whether the class part's fixed design is one constant column (``class ~ 1``)."""
    Zv = np.asarray(lik.pat.Zv, float)
    return Zv.shape[1] == 1 and bool(np.all(Zv == Zv[0, 0])) and Zv[0, 0] != 0


def exact_between(lik, simple_lik) -> bool:
    """Whether the between limit of ``lik``'s model is its simpler model (``simple_lik``)
    exactly: constant class logits in both. The boundary point (independent class-logit
    intercepts of SD :data:`LIMIT_SD`, means ``LIMIT_SD * c``, :func:`limit_means`) then puts a
    whole cluster in class k with the simpler model's proportion p_k (:func:`limit_point`;
    two classes: c = Phi^-1(p_1)). With covariates in the class part it does not: the limit of
    ``logistic(z'gamma + s u)`` as s grows is a probit in z, not the simpler model's logit."""
    return _constant_logits(lik) and _constant_logits(simple_lik)


@dataclass(frozen=True)
class LimitPoint:
    """A model's parameters at an exact boundary limit, written in the limit's own model
    (:func:`limit_point`): the quantities of the model there are the limiting model's."""

    name: str  # the limit, as res.search.limits names it
    model: object  # the limiting MixtureModel
    theta: np.ndarray  # its free parameters at this point
    units: np.ndarray  # for every unit of the model, the position of its unit in the limiting model


#: model -> (Simpler, the limiting MixtureModel) of its exact between limit, or None
_LIMIT_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _between_limit_model(model):
    """The between limit of ``model`` and its model, built once (not fitted); None if the model
    has none that is exact."""
    if model in _LIMIT_MODELS:
        return _LIMIT_MODELS[model]
    import warnings

    from .design import sharing
    from .formula import parse_formula

    lik = model.likelihood
    found = [s for s in simpler_models(parse_formula(model.spec["formula"]), lik.K) if s.kind == "between limit"]
    out = None
    if found:
        try:
            with warnings.catch_warnings(), sharing(lik.design):
                warnings.simplefilter("ignore")
                lm = simpler_model(found[0], _simpler_kw(found[0], lik.design.class_name, model.spec),
                                   lik.integ.method)
            out = (found[0], lm) if exact_between(lik, lm.likelihood) else None
        except (GlmmixError, NotImplementedError, ValueError):
            out = None
    _LIMIT_MODELS[model] = out
    return out


def limit_point(model, theta) -> LimitPoint | None:
    """``theta`` of ``model`` (a :class:`~glmmix.model.MixtureModel`) written in its limiting
    model, if it is a point of an exact between limit; else None.

    A row-level class variable with a random class intercept on ``g`` (GoM, FMA-GoM, Table
    3's Model 6) with constant class logits: when the K - 1 class logits' random parts are
    independent with a common SD ``s`` (the same latent direction for every row) and means
    ``s * c``, the class of a row as ``s`` goes to infinity is the largest of c_k + u_k and 0
    (the reference), for every row of a cluster together: the simpler model ``class(g)``
    with those proportions (:func:`limit_log_probs`; two classes: Phi(c), Phi(-c);
    :func:`exact_between`). An SD of :data:`LIMIT_SD` or more stands for that limit (the
    boundary point the nesting guarantee and :class:`BetweenLimitRun` report has exactly
    :data:`LIMIT_SD`): no integration rule resolves the step such an SD makes (a simulated
    GoM's class proportion 0.618 on the rule against 0.634 at the limit). The outcome part's
    parameters carry over by label; each unit (row) maps to its cluster, the limiting model's
    unit."""
    from .likelihood import MixtureLikelihood

    lik = model.likelihood
    d = lik.design
    if (model.spec is None or lik.K < 2 or not d.re_cls or d.multi or d.unit_name is not None
            or type(lik) is not MixtureLikelihood):
        return None
    L = lik.layout
    P = L.unpack(L.expand(np.asarray(theta, float)))
    _, Lc = lik.factor_matrices(P)
    rs = lik.pat
    B = lik.class_logit_loadings(rs.Wv, Lc)  # (unit patterns, K - 1, D): the logits' random parts
    s = np.sqrt((B[:, 0, :] ** 2).sum(axis=1))
    if not s.size or s.min() < LIMIT_SD * (1 - 1e-9):
        return None
    Bn = B / s[:, None, None]  # one direction for every unit, orthonormal across the logits
    if np.abs(Bn - Bn[:1]).max() > 1e-9 or np.abs(Bn[0] @ Bn[0].T - np.eye(lik.K - 1)).max() > 1e-9:
        return None
    c = (np.asarray(rs.Zv, float) @ P["gamma"]) / s[:, None]
    if np.abs(c - c[:1]).max() > 1e-9 * max(1.0, float(np.abs(c).max())):
        return None
    found = _between_limit_model(model)
    if found is None:
        return None
    simple, lm = found
    Ls = lm.layout
    src = dict(zip(L.full_labels, L.expand(np.asarray(theta, float))))
    phi = Ls.expand(np.zeros(Ls.n_free)).copy()  # the limit's fixed values in place
    for i, lab in enumerate(Ls.full_labels):
        if Ls.free_idx[i] >= 0 and Ls.block_of(i) != "gamma":
            if lab not in src:
                return None
            phi[i] = src[lab]
    lp = limit_log_probs(c[0])  # every class's log-odds against the reference at the limit
    G = _logit_targets(lm.likelihood, lp[:-1] - lp[-1])
    th = _with(lm.likelihood, Ls.from_full(phi), gamma=lambda _: G)
    import pandas as pd

    units = pd.Index(lm.design.unit_ids).get_indexer(d.cluster_ids[d.cluster_of_unit])
    if (units < 0).any():
        return None
    return LimitPoint(limit_name(simple), lm, th, units)


def _between_limit_gamma(lik, theta, props, sd) -> np.ndarray:
    """Random class intercepts with SD ``sd`` and means giving each cluster a whole class
    with the simpler model's proportions (threshold crossings of sd * u, u standard normal)."""
    c = limit_means(np.clip(np.asarray(props, float), 1e-6, 1))
    G = _logit_targets(lik, sd * c)

    def re_cls(v):
        out = np.zeros_like(v)
        for t in lik.layout.re_cls_terms:
            out[t.cols] = np.where(t.pos[:, 0] == t.pos[:, 1], sd, 0.0)
        return out

    th = _with(lik, theta, re_cls=re_cls)
    return th if G is None else _with(lik, th, gamma=lambda _: G)


def _hits(lik, theta, props) -> bool:
    """Whether the between-limit point ``theta`` has the class proportions ``props`` (to 1e-9
    in the log odds): the solve of :func:`limit_means` reached them, and none is below 1e-6."""
    p = np.asarray(props, float)
    if p.min() < 1e-6:
        return False
    P = lik.layout.unpack(lik.layout.expand(theta))
    Zv = np.asarray(lik.pat.Zv, float)
    return limit_mean_error((Zv[:1] @ P["gamma"])[0] / LIMIT_SD, p) < 1e-9


@dataclass(frozen=True)
class BetweenLimitRun:
    """Finishes a start of the full model that runs towards its between limit (a class-logit
    SD to infinity) in the limit's own model (``estimation._Search.hand_over``): the limit
    model (``simple``, a fitted result) continued from the start's other parameters (matched
    by label; the class logits from the limit model's fit) to its maximum, which is returned
    as the full model's boundary point (:func:`_between_limit_gamma`, SD :data:`LIMIT_SD`)
    with the limit model's exact log-likelihood and convergence: (theta, log-likelihood,
    converged, max |gradient|), or None if that completion failed."""

    model: object  # the full MixtureModel
    simple: object  # the limit model's MixtureResults
    opts: object  # FitOptions

    def __call__(self, theta):
        from .estimation import class_proportions, complete_start

        lik, sm = self.model.likelihood, self.simple.model
        fr = complete_start(sm.likelihood, _by_label(sm.layout, self.simple.theta, lik.layout, theta), self.opts)
        if fr is None:
            return None
        props = class_proportions(sm.likelihood, fr.theta)
        th = _between_limit_gamma(lik, _by_label(lik.layout, theta, sm.layout, fr.theta), props, LIMIT_SD)
        return th, float(fr.ll), bool(fr.converged), float(fr.grad_max)


def _by_label(L, theta, src_layout, src_theta) -> np.ndarray:
    """``theta`` (layout ``L``) with its free outcome and random-effect parameters taken from
    ``src_theta`` (layout ``src_layout``) where the labels agree; class logits are kept."""
    src = dict(zip(src_layout.full_labels, src_layout.expand(np.asarray(src_theta, float))))
    phi = L.expand(np.asarray(theta, float)).copy()
    for i, lab in enumerate(L.full_labels):
        if L.free_idx[i] >= 0 and lab in src and L.block_of(i) != "gamma":
            phi[i] = src[lab]
    return L.from_full(phi)


def structured(model, opts, rng) -> tuple[list, list, list]:
    """Structured starts [(theta, origin)], boundary limits [(theta, model[, exact
    log-likelihood, (converged, max |gradient|), run])] and stage-one
    candidates [(theta, origin)] (split starts) for a :class:`~glmmix.model.MixtureModel`,
    from its formula, data and arguments (``spec``)."""
    from .estimation import perturb
    from .formula import parse_formula

    lik, spec = model.likelihood, model.spec
    parsed = parse_formula(spec["formula"])
    d = lik.design
    # split starts belong to the adaptive search (starts=(n, k) keeps its cost) and are not nested
    splits = opts.adaptive and not _SPLITTING.get()
    found = [s for s in simpler_models(parsed, lik.K) if s.kind != "one class fewer" or splits]
    if not found or d.multi:
        return [], [], []
    token = None
    if _CACHE.get() is None:
        token = _CACHE.set({})
    try:
        starts, limits, candidates = [], [], []
        for simple in found:
            res = fit_simpler(simple, d.class_name, spec, opts, lik.integ.method, d)
            if res is None:
                continue
            if simple.kind == "one class fewer":
                candidates += split_starts(lik, res, rng, response=True)
                # a class split in two identical halves: the K - 1 class solution as a limit
                limits += [(th, f"{simple.kind} ({simple.n_classes} classes, class 1 split in two)")
                           for th, _ in split_starts(lik, res, rng, per_class=1, scale=0.0)[:1]]
                continue
            try:  # parameters matched by label (a one-class model's to every class)
                th = model.transfer_start(res)
            except GlmmixError:
                continue
            name = limit_name(simple)
            zero = lambda v: np.zeros_like(v)  # noqa: E731
            if simple.kind == "one class":
                for j in range(lik.K):
                    fav = _class_favoured(lik, th, j, np.log(FAVOURED / (1 - FAVOURED)))
                    if fav is not None:
                        starts.append((perturb(lik, fav, rng), f"one class, class {j + 1} favoured"))
                    lim = _class_favoured(lik, th, j, LIMIT_LOGIT)
                    if lim is not None:
                        limits.append((lim, f"{name}, all in class {j + 1}"))
                starts += _column_starts(lik, th)
                continue
            starts.append((th, simple.kind))
            props = res.class_proportions.to_numpy()
            kw = {"re_out": zero} if d.re_out and simple.kind == "no random effects" else {}
            if _between_group(parsed.classes[0]) is not None:
                # with two classes and constant class logits the limit is the simpler model itself:
                # its log-likelihood is exact, where quadrature over a class logit this steep is not
                # starts running to it are finished in its model (BetweenLimitRun)
                at = _between_limit_gamma(lik, _with(lik, th, **kw) if kw else th, props, LIMIT_SD)
                # with several classes a start running to the limit is not finished there (some
                # of its class-logit SDs may run off and others not: no between limit)
                exact = ((float(res.llf), (bool(res.converged), float(res.grad_max)),
                          BetweenLimitRun(model, res, opts) if lik.K == 2 else None)
                         if exact_between(lik, res.model.likelihood) and _hits(lik, at, props) else (None,))
                limits.append((at, name, *exact))
                # the same point moved in from the boundary, a start the optimizer can leave
                starts.append((_between_limit_gamma(lik, th, props, 5.0), f"{simple.kind}, SD 5"))
            elif d.re_cls or kw:
                limits.append((_with(lik, th, re_cls=zero, **kw) if d.re_cls else _with(lik, th, **kw), name))
        return starts, limits, candidates
    finally:
        if token is not None:
            _CACHE.reset(token)
