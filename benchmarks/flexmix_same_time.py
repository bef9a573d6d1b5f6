#!/usr/bin/env python
"""flexmix given glmmix's time: how often do as many flexmix starts as fit in glmmix's default
fit reach the best known maximum?

Reads flexmix's recorded many-start runs (``tests/reference/values/flexmix_start_search.json``,
written by ``Rscript benchmarks/start_search_peers.R N CASE ... --json FILE``: every start's
log-likelihood and CPU seconds, in the order drawn) and times glmmix's default fit of the same
case (``benchmarks/start_search.py``'s data and formula) for ``--seeds`` seeds. With ``n`` =
glmmix's median CPU time / flexmix's median CPU time per start, flexmix's starts are cut into
consecutive blocks of ``n`` (each block a "seed" of an ``n``-start flexmix run, as a user would
run it) and the table gives how many blocks reach the best known maximum (within 1e-3), next to
glmmix's own seeds, the share of single flexmix starts that reach it and the chance
``1 - (1 - share)^n`` that ``n`` independent starts do. Runs with flexmix's default control
(``--default-control``: at most 200 EM iterations, tolerance 1e-6) stop short of the maximum,
so there a start counts when EM continued from it (untimed) reaches the best: it stopped in
the best maximum's basin; the starts that reach it as they stop are given too.

Usage:  python benchmarks/flexmix_same_time.py                    # the recorded cases, 5 seeds
        python benchmarks/flexmix_same_time.py --cases "VerbAgg K=3" --seeds 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

try:  # imported as part of the ``benchmarks`` package (tests)
    from . import start_search as S
except ImportError:  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import start_search as S  # type: ignore

VALUES = Path(__file__).resolve().parents[1] / "tests" / "reference" / "values" / "flexmix_start_search.json"


def blocks_reaching(ll: np.ndarray, n: int, best: float) -> tuple[int, int]:
    """(blocks of ``n`` consecutive starts whose best start reaches ``best``, blocks); a start
    that ended with fewer classes (NaN) counts as a miss."""
    m = len(ll) // n
    top = np.nan_to_num(ll[: m * n], nan=-np.inf).reshape(m, n).max(axis=1)
    return int(np.count_nonzero(top >= best - S.HIT_TOL)), m


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


def same_time_row(key: str, rec: dict, glmmix_cpu: list[float], glmmix_ll: list[float]) -> dict:
    """One table row for the recorded flexmix run ``key`` ("CASE" or "CASE (flexmix default control)")."""
    case = key.split(" (")[0]
    st = rec["starts"]
    at_stop = _array(st["loglik"])
    ll = _array(rec["starts_continued"]["loglik"]) if "starts_continued" in rec else at_stop
    sec = _array(st["cpu_seconds"])
    best = max(S.BEST_KNOWN[case][0], float(np.nanmax(ll)))
    share = float(np.mean(ll >= best - S.HIT_TOL))
    t_g, t_f = float(np.median(glmmix_cpu)), float(np.nanmedian(sec))
    n = max(1, int(t_g / t_f))
    hit, m = blocks_reaching(ll, n, best)
    return {"case": key, "best known": round(best, 4),
            "glmmix default": f"{sum(v >= best - S.HIT_TOL for v in glmmix_ll)}/{len(glmmix_ll)}",
            "glmmix CPU s": round(t_g, 2), "flexmix CPU s/start": round(t_f, 3),
            "flexmix starts reaching": f"{int(round(share * len(ll)))}/{len(ll)}",
            "as they stop": f"{int(np.count_nonzero(at_stop >= best - S.HIT_TOL))}/{len(ll)}",
            "n in glmmix's time": n, "blocks of n reaching": f"{hit}/{m}",
            "1-(1-share)^n": round(1 - (1 - share) ** n, 3)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--values", default=str(VALUES), help="flexmix's recorded runs (JSON)")
    ap.add_argument("--cases", nargs="*", help="cases (default: every recorded case)")
    ap.add_argument("--seeds", type=int, default=5, help="glmmix default fits per case (seeds 1..N)")
    args = ap.parse_args(argv)
    recs = json.loads(Path(args.values).read_text())
    cases = args.cases or list(recs)
    print(f"load average {os.getloadavg()[0]:.1f}; CPU seconds, glmmix in this process, flexmix as recorded "
          f"(R processes run before, see each record's load_average)")
    rows = []
    fits = {}
    for key in cases:
        case = key.split(" (")[0]
        if case not in fits:
            fits[case] = [S.run_glmmix(case, s) for s in range(1, args.seeds + 1)]
        rows.append(same_time_row(key, recs[key], [f["cpu"] for f in fits[case]], [f["loglik"] for f in fits[case]]))
        print("  ".join(f"{k}: {v}" for k, v in rows[-1].items()), flush=True)
    print()
    print("| " + " | ".join(rows[0]) + " |")
    print("|" + "---|" * len(rows[0]))
    for r in rows:
        print("| " + " | ".join(str(v) for v in r.values()) + " |")


if __name__ == "__main__":
    main()
