"""Is the VerbAgg FMA-GoM's maximum on the 31 x 31 trapezoid rule a maximum of the model?

    python benchmarks/fma_gom_ridge.py                 # the ray through the estimates, 4 rules
    python benchmarks/fma_gom_ridge.py --profile 3 30  # also maximize the rest with the loadings held
    python benchmarks/fma_gom_ridge.py --profile 30 --no-ray  # the profile alone

``gm.fma_gom(va, 2, link="probit", seed=1)`` with ``glmmix.estimation.RESOLVED_STEPS`` set back
to infinity: the fit reported before the rule's resolution of loadings was checked, -3893.3070. Two items' loadings (S1WantScold, S2WantScold) are
far beyond what the rule's step (0.4) resolves: their responses are nearly step functions of the
person factor, with a threshold -tau_k / lambda per class. Along the ray that multiplies both
loadings and the four intercepts by c (the thresholds fixed; c -> infinity is the limit in which
the two items are step functions of the factor), the log-likelihood is evaluated on the 31 x 31,
61 x 61 and 121 x 121 trapezoid rules and on a rule that resolves the steps: a trapezoid rule in
the factor with nodes every ``--h`` on [-6, 6] plus 201 nodes every 0.1 / lambda around each
threshold (weights of the non-uniform trapezoid rule times the normal density), and 31 points in
the class logit. ``--profile c ...``: at each c the loadings are held at c times the estimates
and every other free parameter (less the three intercepts at the boundary) is maximized on the
refined rule (BFGS, the rule re-centred on the thresholds between rounds).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: benchmarks/ importable
import glmmix as gm  # noqa: E402
import glmmix.estimation as estimation  # noqa: E402
from glmmix.quadrature import LOG_2PI, Integration  # noqa: E402

ITEMS = ("S1WantScold", "S2WantScold")


def _trapezoid_1d(x):
    """Non-uniform trapezoid weights on sorted nodes x, as log-weights against N(0, 1)."""
    w = np.empty_like(x)
    w[1:-1] = 0.5 * (x[2:] - x[:-2])
    w[0], w[-1] = 0.5 * (x[1] - x[0]), 0.5 * (x[-1] - x[-2])
    return np.log(w) - 0.5 * (x * x + LOG_2PI)


def step_rule(lik, thresholds, lams, h=0.02, nc=31, half=100, span=0.1, bound=6.0):
    """``lik`` on the product of a factor rule refined at ``thresholds`` (nodes every
    ``span / lambda`` within ``half`` of them) and ``nc`` trapezoid points in the class logit."""
    pts = [np.arange(-bound, bound + 1e-9, h)]
    for t, lam in zip(thresholds, lams):
        pts.append(t + min(h, span / abs(lam)) * np.arange(-half, half + 1))
    x = np.unique(np.concatenate(pts))
    x = x[(x >= -bound) & (x <= bound)]
    c = np.linspace(-bound, bound, nc)
    lwc = np.log(c[1] - c[0]) - 0.5 * (c * c + LOG_2PI)
    lwc[[0, -1]] += np.log(0.5)
    t = np.stack([np.repeat(x, nc), np.tile(c, x.size)], axis=1)  # node q = i * nc + c: factor first
    integ = Integration("trapezoid", nc, 2, False, t, np.repeat(_trapezoid_1d(x), nc) + np.tile(lwc, x.size))
    integ.reset(lik.integ.m.shape[0])
    return lik.with_integration(integ)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", type=float, nargs="*", default=[])
    ap.add_argument("--h", type=float, default=0.02)
    ap.add_argument("--no-ray", action="store_true", help="only the fit and the profile")
    args = ap.parse_args(argv)
    va = gm.datasets.load("verbagg_long")
    t0 = time.process_time()
    old = estimation.RESOLVED_STEPS
    estimation.RESOLVED_STEPS = np.inf  # the fit as reported before: the rule's own maximum
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = gm.fma_gom(va, 2, link="probit", seed=1, verbose=False)
    finally:
        estimation.RESOLVED_STEPS = old
    lik, th0, lab = res.model.likelihood, res.theta.copy(), list(res.params.index)
    print(f"fit: log-likelihood {res.llf:.4f} on {lik.integ.n_points} x {lik.integ.n_points} "
          f"({time.process_time() - t0:.0f} s of CPU)")
    L = [lab.index(f"loading(id:item[{it}])") for it in ITEMS]
    T = [lab.index(f"class{k}:item[{it}]") for it in ITEMS for k in (1, 2)]

    def refined(th, **kw):
        thr = [-th[T[j]] / th[L[j // 2]] for j in range(4)]
        return step_rule(lik, thr, [th[L[j // 2]] for j in range(4)], **kw)

    print("loadings", np.round(th0[L], 3), "intercepts", np.round(th0[T], 3),
          "thresholds", np.round([-th0[T[j]] / th0[L[j // 2]] for j in range(4)], 4))
    for h in (0.04, 0.02, 0.01):
        print(f"refined rule, factor step {h}: {refined(th0, h=h).loglik(th0):.4f} at the estimates")
    rules = {n: lik.with_integration(Integration.make("trapezoid", n, 2, lik.design.n_clusters, class_logits=True))
             for n in (61, 121)}
    print(f"\n{'c':>6s} {'loadings':>16s} {'31 x 31':>11s} {'61 x 61':>11s} {'121 x 121':>11s} {'refined':>11s}")
    for c in () if args.no_ray else (0.5, 0.8, 1.0, 1.25, 1.5, 2, 3, 5, 10, 30, 100, 1e3):
        th = th0.copy()
        th[L] *= c
        th[T] *= c
        print(f"{c:6g} {th[L[0]]:7.1f} {th[L[1]]:8.1f} {lik.loglik(th):11.4f} {rules[61].loglik(th):11.4f} "
              f"{rules[121].loglik(th):11.4f} {refined(th, h=args.h).loglik(th):11.4f}", flush=True)
    held = L + [lab.index(f"class2:item[{it}]") for it in ("S1WantCurse", "S2WantCurse", "S4wantCurse")]
    free = np.setdiff1d(np.arange(th0.size), held)
    N = float(lik.design.n_clusters)
    for c in args.profile:
        th = th0.copy()
        th[L] *= c
        th[T] *= c
        t1 = time.process_time()
        for _ in range(5):  # BFGS on the refined rule, the rule re-centred on the thresholds
            fl = refined(th, h=0.04, nc=31, half=60, span=0.15)

            def f(x, fl=fl, th=th):
                t = th.copy()
                t[free] = x
                ll, g, _ = fl.loglik_and_grad(t)
                return -ll / N, -g[free] / N

            ll0 = -f(th[free])[0] * N
            r = optimize.minimize(f, th[free], jac=True, method="BFGS", options={"gtol": 1e-6, "maxiter": 400})
            th[free] = r.x
            if -r.fun * N - ll0 < 1e-4:
                break
        thr = [-th[T[j]] / th[L[j // 2]] for j in range(4)]
        print(f"profile c={c:g}: loadings {th[L[0]]:.1f}, {th[L[1]]:.1f}: {-r.fun * N:.4f} on the search's refined "
              f"rule, {refined(th, h=args.h).loglik(th):.4f} on the finer one; thresholds {np.round(thr, 4)} "
              f"({time.process_time() - t1:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
