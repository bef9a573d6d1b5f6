"""Simulate ``toca_sim``: a two-level latent transition data set modelled on the TOCA example.

The data mimic Section 4 ("Two-level LTA Example") of Asparouhov & Muthen (2006),
"Multilevel mixture models": 10 binary teacher-rated TOCA items, measured in the fall
(time 1) and spring (time 2) of first grade, students nested in classrooms.

Generating model (paper eq 11-15), classes coded 1 = disruptive, 2 = not disruptive:

    P(U_tp = 1 | C_t = c)  = pi_cp                                   (11, same at t = 1, 2)
    P(C1 = 1 | j)          = logistic(alpha1_j)                       (12)
    P(C2 = 1 | C1, j)      = logistic(alpha2_j + gamma * I(C1 = 1))   (13)
    alpha1_j ~ N(mu1, s1^2),  alpha2_j = mu2 + beta * alpha1_j + e_j,  e_j ~ N(0, s2^2)  (15)

pi_cp is the paper's Table 1. The six structural parameters are chosen so that the
population quantities match the paper's results:

  primary (weight 10): P(C1=1) = .46, P(C2=2 | C1=1) = .07, P(C2=1 | C1=2) = .18
      (these imply P(C2=1) = .46 * .93 + .54 * .18 = .525, the paper's "52%"), and
      R2 of alpha1 for C1 = s1^2 / (s1^2 + pi^2/3) = .39 (eq 14 analogue);
  secondary (weight 1): the paper's decomposition of C2's latent-logit variance,
      35% from alpha1 (direct + via C1), 30% from the part of C1 not explained by
      alpha1, 5% from the residual classroom effect e_j (total 65%).

Population quantities are computed by 60 x 60 Gauss-Hermite quadrature over (alpha1, e)
and solved by ``scipy.optimize.least_squares``. The solved values, rounded to 3 decimals,
are hard-coded in ``PARAMS`` and are what the simulation uses, so the data do not depend
on the optimiser's last digits; running the script re-solves and checks agreement, and
verifies the population quantities with a large Monte Carlo run.

Usage (from the repository root)::

    python scripts/make_toca_sim.py            # solve/check, simulate, write the files
    python scripts/make_toca_sim.py --no-check # skip the solve and Monte Carlo checks

Writes ``glmmix/data/toca_sim.csv`` (long format), ``glmmix/data/toca_sim_truth.csv``
(true classes and classroom effects) and ``glmmix/data/toca_sim.json`` (parameters,
population targets, realised sample quantities).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, special

SEED = 20061
N_CLASSROOMS = 60
MEAN_SIZE = 20          # classroom sizes 15..25, total exactly 60 * 20 = 1200
SIZE_SPREAD = 5
P_MISSING = 0.02        # item responses missing completely at random

# Table 1 of Asparouhov & Muthen (2006): P(item = yes | class), class 1 = disruptive.
ITEMS = {
    "stubborn": ("Stubborn", 0.92, 0.36),
    "break_rules": ("Break Rules", 0.96, 0.29),
    "harm_others": ("Harm Others", 0.73, 0.03),
    "break_things": ("Break Things", 0.59, 0.03),
    "yells": ("Yells at Others", 0.82, 0.18),
    "takes_property": ("Take Others' Property", 0.78, 0.07),
    "fights": ("Fights", 0.73, 0.08),
    "lies": ("Lies", 0.81, 0.10),
    "teases": ("Tease Classmates", 0.90, 0.24),
    "defies_authority": ("Trouble Accepting Authority", 0.78, 0.12),
}

# Paper's reported quantities (Section 4).
PRIMARY_TARGETS = {"P_C1_1": 0.46, "P_C2_2_given_C1_1": 0.07, "P_C2_1_given_C1_2": 0.18,
                   "R2_alpha1_C1": 0.39}
SECONDARY_TARGETS = {"C2_share_alpha1": 0.35, "C2_share_C1_residual": 0.30,
                     "C2_share_alpha2_residual": 0.05}
PRIMARY_WEIGHT = 10.0
SECONDARY_WEIGHT = 1.0

# Solved values (see solve()), rounded; these generate the data.
PARAMS = {"mu1": -0.223, "s1": 1.450, "mu2": -1.288, "beta": 0.554, "s2": 0.717,
          "gamma": 3.944}

LOGISTIC_VAR = np.pi ** 2 / 3
N_GH = 60

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "glmmix" / "data"


# --------------------------------------------------------------------------- population
def population(p: dict) -> dict:
    """Population quantities of the two-level LTA, by Gauss-Hermite quadrature."""
    x, w = np.polynomial.hermite_e.hermegauss(N_GH)  # weight exp(-x^2/2)
    w = w / w.sum()
    a1 = p["mu1"] + p["s1"] * x                       # alpha1 nodes
    e = p["s2"] * x                                   # residual nodes
    W = w[:, None] * w[None, :]
    p1 = special.expit(a1)[:, None]                   # P(C1=1 | alpha1)
    a2 = p["mu2"] + p["beta"] * a1[:, None] + e[None, :]
    q_stay = special.expit(a2 + p["gamma"])           # P(C2=1 | C1=1, j)
    q_move = special.expit(a2)                        # P(C2=1 | C1=2, j)
    P1 = float((W * p1).sum())
    P11 = float((W * p1 * q_stay).sum())              # P(C1=1, C2=1)
    P21 = float((W * (1 - p1) * q_move).sum())        # P(C1=2, C2=1)

    # Decomposition of Var(latent logit of C2) = Var(alpha2 + gamma I(C1)) + pi^2/3.
    pa = special.expit(a1)
    m = p["beta"] * a1 + p["gamma"] * pa               # E[eta2 - mu2 - e | alpha1]
    var_a1 = float((w * (m - (w * m).sum()) ** 2).sum())
    var_c1res = float(p["gamma"] ** 2 * (w * pa * (1 - pa)).sum())
    var_e = p["s2"] ** 2
    total = var_a1 + var_c1res + var_e + LOGISTIC_VAR
    return {
        "P_C1_1": P1,
        "P_C2_1": P11 + P21,
        "P_C2_2_given_C1_1": 1 - P11 / P1,
        "P_C2_1_given_C1_2": P21 / (1 - P1),
        "R2_alpha1_C1": p["s1"] ** 2 / (p["s1"] ** 2 + LOGISTIC_VAR),
        "C2_share_alpha1": var_a1 / total,
        "C2_share_C1_residual": var_c1res / total,
        "C2_share_alpha2_residual": var_e / total,
        "R2_C2": (var_a1 + var_c1res + var_e) / total,
    }


def _unpack(theta):
    mu1, log_s1, mu2, beta, log_s2, gamma = theta
    return {"mu1": mu1, "s1": float(np.exp(log_s1)), "mu2": mu2, "beta": beta,
            "s2": float(np.exp(log_s2)), "gamma": gamma}


def _residuals(theta):
    q = population(_unpack(theta))
    r = [PRIMARY_WEIGHT * (q[k] - v) for k, v in PRIMARY_TARGETS.items()]
    r += [SECONDARY_WEIGHT * (q[k] - v) for k, v in SECONDARY_TARGETS.items()]
    return r


def solve() -> dict:
    """Weighted least-squares fit of the structural parameters to the paper's numbers."""
    theta0 = [-0.2, np.log(1.4), -1.5, 0.8, np.log(0.7), 4.0]
    fit = optimize.least_squares(_residuals, theta0, xtol=1e-13, ftol=1e-13, gtol=1e-13)
    if not fit.success:
        raise RuntimeError(f"solver failed: {fit.message}")
    return {k: float(v) for k, v in _unpack(fit.x).items()}


def monte_carlo(p: dict, n_clusters: int = 200_000, per_cluster: int = 20, seed: int = 1) -> dict:
    """Large Monte Carlo check of the marginal population quantities."""
    rng = np.random.default_rng(seed)
    a1 = rng.normal(p["mu1"], p["s1"], n_clusters)
    a2 = p["mu2"] + p["beta"] * a1 + rng.normal(0, p["s2"], n_clusters)
    a1 = np.repeat(a1, per_cluster)
    a2 = np.repeat(a2, per_cluster)
    c1 = rng.random(a1.size) < special.expit(a1)
    c2 = rng.random(a1.size) < special.expit(a2 + p["gamma"] * c1)
    return {"P_C1_1": c1.mean(), "P_C2_1": c2.mean(),
            "P_C2_2_given_C1_1": 1 - c2[c1].mean(), "P_C2_1_given_C1_2": c2[~c1].mean()}


# --------------------------------------------------------------------------- simulation
def classroom_sizes(rng) -> np.ndarray:
    """Sizes in [MEAN-SPREAD, MEAN+SPREAD] summing to exactly N_CLASSROOMS * MEAN_SIZE."""
    d = rng.integers(-SIZE_SPREAD, SIZE_SPREAD + 1, N_CLASSROOMS // 2)
    d = np.concatenate([d, -d])
    if N_CLASSROOMS % 2:
        d = np.append(d, 0)
    return MEAN_SIZE + rng.permutation(d)


def simulate(p: dict, seed: int = SEED):
    """Draw the data. Order of draws: sizes, alpha1, e, C1, C2, items, missingness."""
    rng = np.random.default_rng(seed)
    sizes = classroom_sizes(rng)
    alpha1 = rng.normal(p["mu1"], p["s1"], N_CLASSROOMS)
    alpha2 = p["mu2"] + p["beta"] * alpha1 + rng.normal(0.0, p["s2"], N_CLASSROOMS)

    classroom = np.repeat(np.arange(1, N_CLASSROOMS + 1), sizes)
    n = classroom.size
    student = np.arange(1, n + 1)
    a1 = alpha1[classroom - 1]
    a2 = alpha2[classroom - 1]
    is1 = rng.random(n) < special.expit(a1)                 # C1 = 1 (disruptive)
    is2 = rng.random(n) < special.expit(a2 + p["gamma"] * is1)
    c1 = np.where(is1, 1, 2)
    c2 = np.where(is2, 1, 2)

    pi = np.array([[v[1], v[2]] for v in ITEMS.values()])  # items x classes
    n_items = len(ITEMS)
    # y[i, t, k]: student i, time t (0 = fall, 1 = spring), item k
    classes = np.stack([c1, c2], axis=1)                    # n x 2
    prob = pi[:, classes - 1].transpose(1, 2, 0)            # n x 2 x items
    y = (rng.random((n, 2, n_items)) < prob).astype(float)
    y[rng.random(y.shape) < P_MISSING] = np.nan

    long = pd.DataFrame({
        "student": np.repeat(student, 2 * n_items),
        "classroom": np.repeat(classroom, 2 * n_items),
        "time": np.tile(np.repeat([1, 2], n_items), n),
        "item": np.tile(list(ITEMS), 2 * n),
        "y": pd.array(y.reshape(-1), dtype="Float64").astype("Int64"),
    })
    truth = pd.DataFrame({"student": student, "classroom": classroom, "c1": c1, "c2": c2,
                          "alpha1": np.round(a1, 4), "alpha2": np.round(a2, 4)})
    return long, truth, sizes


def sample_summary(long: pd.DataFrame, truth: pd.DataFrame, sizes) -> dict:
    tab = pd.crosstab(truth["c1"], truth["c2"]).reindex(index=[1, 2], columns=[1, 2], fill_value=0)
    n_missing = int(long["y"].isna().sum())
    cls = long.merge(truth[["student", "c1", "c2"]], on="student", how="left")
    cls["c"] = np.where(cls["time"] == 1, cls["c1"], cls["c2"])
    means = cls.groupby(["item", "c"])["y"].mean().unstack()
    obs_pi = {item: [round(float(means.loc[item, c]), 3) for c in (1, 2)] for item in ITEMS}
    return {
        "n_classrooms": len(sizes),
        "n_students": len(truth),
        "classroom_size_min": int(sizes.min()),
        "classroom_size_max": int(sizes.max()),
        "n_item_responses": len(long),
        "n_missing": n_missing,
        "prop_missing": round(n_missing / len(long), 4),
        "n_students_with_any_missing": int(long.loc[long["y"].isna(), "student"].nunique()),
        "class_counts_time1": {"1": int((truth["c1"] == 1).sum()), "2": int((truth["c1"] == 2).sum())},
        "class_counts_time2": {"1": int((truth["c2"] == 1).sum()), "2": int((truth["c2"] == 2).sum())},
        "P_C1_1": round(float((truth["c1"] == 1).mean()), 4),
        "P_C2_1": round(float((truth["c2"] == 1).mean()), 4),
        "transition_counts": {"rows_C1_cols_C2": tab.values.tolist()},
        "transition_probs": {"rows_C1_cols_C2":
                             np.round(tab.values / tab.values.sum(1, keepdims=True), 4).tolist()},
        "alpha1_mean": round(float(truth.groupby("classroom")["alpha1"].first().mean()), 4),
        "alpha1_sd": round(float(truth.groupby("classroom")["alpha1"].first().std()), 4),
        "alpha2_mean": round(float(truth.groupby("classroom")["alpha2"].first().mean()), 4),
        "alpha2_sd": round(float(truth.groupby("classroom")["alpha2"].first().std()), 4),
        "observed_item_means_by_true_class": obs_pi,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-check", action="store_true", help="skip the re-solve and Monte Carlo checks")
    ap.add_argument("--out", type=Path, default=DATA, help="output directory")
    args = ap.parse_args(argv)

    p = dict(PARAMS)
    if not args.no_check:
        solved = solve()
        print("solved:    ", {k: round(v, 4) for k, v in solved.items()})
        print("hard-coded:", p)
        bad = {k: (solved[k], p[k]) for k in p if abs(solved[k] - p[k]) > 2e-3}
        if bad:
            raise SystemExit(f"solved parameters differ from PARAMS: {bad}")
    pop = population(p)
    print("population:", {k: round(v, 4) for k, v in pop.items()})
    if not args.no_check:
        mc = monte_carlo(p)
        print("Monte Carlo (4e6 students):", {k: round(float(v), 4) for k, v in mc.items()})
        for k, v in mc.items():
            if abs(v - pop[k]) > 0.005:
                raise SystemExit(f"Monte Carlo disagrees with quadrature for {k}: {v} vs {pop[k]}")

    long, truth, sizes = simulate(p)
    summ = sample_summary(long, truth, sizes)

    args.out.mkdir(parents=True, exist_ok=True)
    long.to_csv(args.out / "toca_sim.csv", index=False)
    truth.to_csv(args.out / "toca_sim_truth.csv", index=False)

    p_stay1 = 1 - pop["P_C2_2_given_C1_1"]
    p_stay2 = 1 - pop["P_C2_1_given_C1_2"]
    meta = {
        "name": "toca_sim",
        "source": ("Simulated data mimicking the two-level latent transition analysis of the TOCA "
                   "instrument in Asparouhov, T. & Muthen, B. (2006), 'Multilevel mixture models', "
                   "Section 4 (Two-level LTA Example); item probability profiles from its Table 1; "
                   "structural parameters chosen to reproduce the class proportions, transition "
                   "probabilities and explained-variance figures reported in Section 4. Not the "
                   "Baltimore data."),
        "generated_by": "scripts/make_toca_sim.py",
        "seed": SEED,
        "rng": "numpy.random.default_rng",
        "model": {
            "eq11": "P(U_tp = 1 | C_t = c) = pi_cp, t = 1, 2 (time-invariant)",
            "eq12": "P(C1 = 1 | j) = logistic(alpha1_j)",
            "eq13": "P(C2 = 1 | C1, j) = logistic(alpha2_j + gamma * I(C1 = 1))",
            "eq15": "alpha1_j ~ N(mu1, s1^2); alpha2_j = mu2 + beta * alpha1_j + e_j, e_j ~ N(0, s2^2)",
            "classes": "1 = disruptive, 2 = not disruptive",
            "missing": f"each item response independently missing with probability {P_MISSING} (MCAR)",
        },
        "parameters": p,
        "pi": {item: [v[1], v[2]] for item, v in ITEMS.items()},
        "item_labels": {item: v[0] for item, v in ITEMS.items()},
        "n_classrooms": N_CLASSROOMS,
        "n_students": len(truth),
        "classroom_sizes": "integers in [15, 25], total 1200",
        "paper_targets": {**PRIMARY_TARGETS, "P_C2_1": 0.52, **SECONDARY_TARGETS, "R2_C2": 0.65},
        "solver": {
            "method": "scipy.optimize.least_squares on population quantities from "
                      f"{N_GH}x{N_GH} Gauss-Hermite quadrature over (alpha1, e)",
            "primary_targets_weight": PRIMARY_WEIGHT,
            "secondary_targets_weight": SECONDARY_WEIGHT,
            "note": "P(C2=1) is implied by the other three marginal targets "
                    "(.46*.93 + .54*.18 = .525); parameters rounded to 3 decimals",
        },
        "population": {
            "P_C1_1": round(pop["P_C1_1"], 4),
            "P_C2_1": round(pop["P_C2_1"], 4),
            "transition_matrix": {"rows_C1_cols_C2": [
                [round(p_stay1, 4), round(1 - p_stay1, 4)],
                [round(1 - p_stay2, 4), round(p_stay2, 4)]]},
            "R2_alpha1_C1": round(pop["R2_alpha1_C1"], 4),
            "C2_share_alpha1": round(pop["C2_share_alpha1"], 4),
            "C2_share_C1_residual": round(pop["C2_share_C1_residual"], 4),
            "C2_share_alpha2_residual": round(pop["C2_share_alpha2_residual"], 4),
            "R2_C2": round(pop["R2_C2"], 4),
        },
        "sample": summ,
        "files": {
            "toca_sim.csv": "long: student, classroom, time (1 fall, 2 spring), item, y (0/1, empty = missing)",
            "toca_sim_truth.csv": "student, classroom, c1, c2 (true classes), alpha1, alpha2 (classroom effects)",
        },
    }
    with open(args.out / "toca_sim.json", "w") as fh:
        json.dump(meta, fh, indent=2)
        fh.write("\n")

    print("sample:", json.dumps({k: summ[k] for k in summ if k != "observed_item_means_by_true_class"}))
    for f in ("toca_sim.csv", "toca_sim_truth.csv", "toca_sim.json"):
        print(f, (args.out / f).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
