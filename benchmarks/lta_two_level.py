"""Two-level LTA against its single-level counterpart on the same data (Section 4).

There is no Python peer for latent transition analysis, so the yardstick is the cost of the
single-level LTA on the same data (issue: "compare against the cost of a single-level
fit"). Both use glmmix's defaults (20 random starts, 5 completed); the two-level model
starts from the single-level estimates, as Section 10 advises.

    python benchmarks/lta_two_level.py                 # toca_sim: 1,200 students in 60 classrooms
    python benchmarks/lta_two_level.py --quick         # its first 15 classrooms
    python benchmarks/lta_two_level.py --compare 3     # old and new code, alternating, 3 times each

Prints the elapsed and CPU time of each fit (default settings: observed-information standard
errors included), the CPU time of the standard errors alone (the information matrix at the
two-level estimates, computed once more), the time of one likelihood-and-gradient evaluation,
the number of quadrature nodes and of merged unit patterns, and the ratios. On a shared
machine compare the CPU times: elapsed time also counts whatever else runs. ``--compare N``
runs the whole comparison in child processes, old and new code alternating
(``benchmarks/old_new.py``), and prints the table of both with the new / old ratios.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: benchmarks/ importable
import glmmix as gm  # noqa: E402
from benchmarks.old_new import run_child, variant  # noqa: E402
from glmmix.inference import covariance  # noqa: E402

LTA = "y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1"
LTA2 = "y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) | c2(student) ~ 1 + c1 + (1 | classroom)"


def eval_ms(res, reps=10):
    """Milliseconds of one likelihood-and-gradient evaluation at the estimates (mean of reps)."""
    lik = res.model.likelihood
    t0 = time.perf_counter()
    for _ in range(reps):
        lik.full_gradient(lik.evaluate(res.theta))
    return 1000 * (time.perf_counter() - t0) / reps


def compare(n, quick):
    """Old and new code, alternating, ``n`` times each, each in a child process."""
    rows = [run_child(__file__, name, ["--quick"] if quick else []) for _ in range(n) for name in ("old", "new")]
    cols = ["single_cpu", "two_cpu", "two_wall", "ratio_cpu", "ratio_wall", "se_cpu", "eval_ms", "llf"]
    print(f"{'variant':8s}" + "".join(f"{c:>12s}" for c in cols))
    for r in rows:
        print(f"{r['variant']:8s}" + "".join(f"{r[c]:12.4f}" if c == "llf" else f"{r[c]:12.2f}" for c in cols))
    med = {v: {c: float(np.median([r[c] for r in rows if r["variant"] == v])) for c in cols} for v in ("old", "new")}
    print("new / old (medians): " + ", ".join(f"{c} {med['new'][c] / med['old'][c]:.2f}" for c in cols[:-1]))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compare", type=int, default=0, metavar="N")
    ap.add_argument("--variant", choices=["old", "new"], help="one comparison in this process, printed as JSON")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(args.compare, args.quick)
    with variant(args.variant or "new"):
        return _run(args)


def _run(args):
    df = gm.datasets.load("toca_sim")
    if args.quick:
        df = df[df.classroom <= 15]
    starts = (6, 2) if args.quick else (20, 5)
    kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True, seed=1,
              starts=starts)
    warnings.simplefilter("ignore", gm.BoundaryWarning)
    t0, c0 = time.perf_counter(), time.process_time()
    one = gm.fit(LTA, df, **kw)
    t1, c1 = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    two = gm.fit(LTA2, df, start_from=one, **kw)
    t2, c2 = time.perf_counter() - t0, time.process_time() - c0
    c0 = time.process_time()
    covariance(two.model.likelihood, two.theta)
    cse = time.process_time() - c0
    e1, e2 = eval_ms(one), eval_ms(two)
    integ = two.integration
    print(f"data: {df.student.nunique()} students, {df.classroom.nunique()} classrooms; starts={starts}")
    print(f"single-level LTA: log-likelihood {one.llf:.4f}, {t1:.2f} s ({c1:.2f} s CPU); one evaluation + gradient "
          f"{e1:.2f} ms ({one.model.likelihood.pat.V} unit patterns, 1 node)")
    print(f"two-level LTA:    log-likelihood {two.llf:.4f}, {t2:.2f} s ({c2:.2f} s CPU); one evaluation + gradient "
          f"{e2:.2f} ms ({two.model.likelihood.pat.V} units, {integ['method']} {integ['n_points']}^2 = "
          f"{integ['n_points'] ** 2} nodes per classroom)")
    print(f"standard errors of the two-level LTA: {cse:.2f} s CPU ({100 * cse / c2:.0f}% of its fit)")
    print(f"ratio two-level / single-level: fit {t2 / t1:.1f}x ({c2 / c1:.1f}x in CPU time), evaluation {e2 / e1:.1f}x")
    if args.variant:
        print(json.dumps({"variant": args.variant, "single_cpu": c1, "two_cpu": c2, "two_wall": t2,
                          "ratio_cpu": c2 / c1, "ratio_wall": t2 / t1, "se_cpu": cse, "eval_ms": e2,
                          "llf": two.llf}))
    return t2


if __name__ == "__main__":
    main()
