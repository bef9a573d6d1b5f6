"""Shared helpers for the glmmix-vs-StepMix benchmarks.

Everything here works on plain binary latent class models (LCA): K classes with
proportions ``weights`` (K,) and item-response probabilities ``P`` (K, J).
The log-likelihood and its gradient are computed here in numpy, independently of
both packages, so that the two programs' solutions are judged by the same yardstick.
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import logsumexp

import glmmix as gm

LCA_FORMULA = "y ~ 0 + item | class(id) ~ 1"


# --------------------------------------------------------------------------- data
def simulate_lca(n_units: int, n_items: int, n_classes: int = 3, seed: int = 1):
    """Simulate binary LCA data; returns (wide DataFrame with 'id' + items, weights, P).

    Classes have clearly distinct profiles: class 1 high (0.9 -> 0.6), class 2 low
    (0.2 -> 0.5), class 3 alternating 0.85 / 0.15; further classes are random in
    [0.1, 0.9]. Proportions are 0.5 / 0.3 / 0.2 for three classes, otherwise
    proportional to K, K-1, ..., 1.
    """
    rng = np.random.default_rng(seed)
    J, K = n_items, n_classes
    rows = [
        np.linspace(0.9, 0.6, J),
        np.linspace(0.2, 0.5, J),
        np.where(np.arange(J) % 2 == 0, 0.85, 0.15),
    ]
    while len(rows) < K:
        rows.append(rng.uniform(0.1, 0.9, J))
    P = np.vstack(rows[:K])
    if K == 3:
        weights = np.array([0.5, 0.3, 0.2])
    else:
        weights = np.arange(K, 0, -1, dtype=float)
        weights /= weights.sum()
    z = rng.choice(K, size=n_units, p=weights)
    Y = (rng.random((n_units, J)) < P[z]).astype(np.int8)
    items = item_names(J)
    wide = pd.DataFrame(Y, columns=items)
    wide.insert(0, "id", np.arange(n_units))
    return wide, weights, P


def item_names(n_items: int) -> list[str]:
    return [f"I{j + 1}" for j in range(n_items)]


# ------------------------------------------------------------------ log-likelihood
def lca_loglik_grad(X: np.ndarray, weights: np.ndarray, P: np.ndarray):
    """LCA log-likelihood and max |gradient| at (weights, P), computed in numpy.

    The gradient is taken with respect to the usual unconstrained parameters:
    item logits logit(P[k, j]) and class logits log(w_k / w_1), k = 2..K (the same
    parameterisation glmmix uses for ``y ~ 0 + item | class(id) ~ 1``). Returns
    (loglik, max_abs_gradient).
    """
    X = np.asarray(X, float)
    P = np.clip(np.asarray(P, float), 1e-300, 1.0)
    Q = np.clip(1.0 - np.asarray(P, float), 1e-300, 1.0)
    w = np.clip(np.asarray(weights, float), 1e-300, 1.0)
    lj = X @ np.log(P).T + (1.0 - X) @ np.log(Q).T + np.log(w)[None, :]  # (n, K)
    ll_i = logsumexp(lj, axis=1)
    post = np.exp(lj - ll_i[:, None])
    npost = post.sum(axis=0)  # (K,)
    g_items = post.T @ X - npost[:, None] * np.asarray(P, float)  # d/d logit(P)
    g_class = npost[1:] - X.shape[0] * np.asarray(weights, float)[1:]  # d/d log(w_k/w_1)
    gmax = float(max(np.abs(g_items).max(), np.abs(g_class).max() if g_class.size else 0.0))
    return float(ll_i.sum()), gmax


def stepmix_params(model):
    """(weights (K,), P (K, J)) from a fitted StepMix binary measurement model."""
    p = model.get_parameters()
    return np.asarray(p["weights"], float), np.asarray(p["measurement"]["pis"], float)


def glmmix_params(res, items: list[str]):
    """(weights (K,), P (K, J)) from a glmmix LCA fit, items in the order given."""
    prof = res.profile()
    cls = [c for c in prof.columns if not str(c).startswith("se:")]
    order = [f"item[{it}]" for it in items]
    P = prof.loc[order, cls].to_numpy(float).T
    w = np.asarray(res.class_proportions, float)
    return w, P


# ------------------------------------------------------------------------ fitting
def fit_glmmix(wide: pd.DataFrame, items: list[str], n_classes: int, starts, seed: int = 1):
    """Time glmmix on wide data: wide_to_long + fit (se='none', n_jobs=1)."""
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        long = gm.wide_to_long(wide, items=items, id="id")
        t1 = time.perf_counter()
        res = gm.fit(
            LCA_FORMULA, long, n_classes=n_classes, family="bernoulli",
            starts=starts if isinstance(starts, str) else tuple(starts), seed=seed, se="none", n_jobs=1,
        )
        t2 = time.perf_counter()
    st = res.starts
    done = st[st["converged"].notna()] if "converged" in st else st
    return {
        "res": res,
        "time": t2 - t0,
        "time_w2l": t1 - t0,
        "time_fit": t2 - t1,
        "llf": float(res.llf),
        "converged": bool(res.converged),
        "grad_max_own": float(res.grad_max),
        "em_iter_best": int(res.em_iterations),
        "qn_iter_best": int(res.qn_iterations),
        "em_iter_total": int(done["em_iterations"].sum()),
        "qn_iter_total": int(done["qn_iterations"].sum()),
        "n_completed": int(len(done)),
        "warnings": [str(w.message) for w in wlist],
    }


def fit_stepmix(X: np.ndarray, n_classes: int, n_init: int, seed: int = 1,
                max_iter: int = 10000, abs_tol: float = 1e-10, rel_tol: float = 0.0):
    """Time StepMix (plain EM, random responsibilities start) on the wide 0/1 matrix."""
    from stepmix import StepMix

    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        model = StepMix(
            n_components=n_classes, measurement="binary", n_init=n_init,
            max_iter=max_iter, abs_tol=abs_tol, rel_tol=rel_tol, verbose=0,
            progress_bar=0, random_state=seed,
        )
        model.fit(X)
        t1 = time.perf_counter()
    n = X.shape[0]
    return {
        "model": model,
        "time": t1 - t0,
        # score() is the *average* log-likelihood per unit (StepMix docs), so times n
        "llf": float(model.score(X) * n),
        "converged": bool(model.converged_),  # True if at least one init converged
        "n_iter_best": int(model.n_iter_),
        "ll_per_init": [float(v) * n for v in model.lower_bound_buffer_],
        "warnings": [str(w.message) for w in wlist],
    }


def repeat(fn, reps: int):
    """Run fn() reps times; return (list of results). Each result must have 'time'."""
    return [fn() for _ in range(max(1, reps))]


def summarize_times(results, key="time"):
    t = np.array([r[key] for r in results], float)
    return float(np.median(t)), float(t.min())


def env_info() -> str:
    import scipy

    try:
        import stepmix

        sv = getattr(stepmix, "__version__", "?")
    except ImportError:  # pragma: no cover
        sv = "not installed"
    blas = ""
    try:
        from threadpoolctl import threadpool_info

        blas = ", ".join(
            f"{d.get('internal_api')} {d.get('num_threads')} thread(s)" for d in threadpool_info()
        )
    except Exception:  # pragma: no cover
        pass
    gv = getattr(gm, "__version__", "?")
    return (
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"pandas {pd.__version__}, glmmix {gv} (source {glmmix_fingerprint()}), stepmix {sv}; "
        f"{platform.machine()}, {os.cpu_count()} CPUs, BLAS: {blas or 'unknown'}"
    )


def glmmix_fingerprint() -> str:
    """sha256 (12 hex digits) of the imported glmmix's *.py sources and their newest mtime.

    glmmix is installed editable and may change between runs; this ties printed timings to
    one state of the source tree.
    """
    root = Path(gm.__file__).resolve().parent
    h = hashlib.sha256()
    newest = 0.0
    for f in sorted(root.glob("*.py")):
        h.update(f.name.encode())
        h.update(f.read_bytes())
        newest = max(newest, f.stat().st_mtime)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(newest))
    return f"sha256:{h.hexdigest()[:12]}, newest file {stamp} UTC"


def print_table(rows: list[dict], columns: list[str], floatfmt: dict | None = None):
    df = pd.DataFrame(rows)[columns]
    fmt = floatfmt or {}
    formatters = {c: (lambda v, f=f: "" if pd.isna(v) else format(v, f)) for c, f in fmt.items()}
    print(df.to_string(index=False, formatters=formatters))
