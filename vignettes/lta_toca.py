"""Vignette: single- and two-level latent transition analysis (Sections 3-4 of the paper).

Run:  python vignettes/lta_toca.py                  (about 20 s: 9 s of CPU time measured, one process)
      GLMMIX_VIGNETTE_QUICK=1 python vignettes/...   (fewer random starts)

Data: ``toca_sim``, simulated to mimic the paper's TOCA example (10 binary teacher ratings
of 1200 first graders in 60 classrooms, fall and spring) from Table 1's item profiles and
structural values chosen to reproduce Section 4's proportions, switching probabilities and
R^2 figures (``gm.datasets.generator("toca_sim")``; ``scripts/make_toca_sim.py``).

Model (eq 11-15): C1 (fall) and C2 (spring), two classes each, the same item
probabilities at both times (time-invariant measurement, eq 11); C2's logit has C1 as a
predictor (eq 13). The two-level model adds classroom random intercepts alpha_1j,
alpha_2j of the two class logits, correlated, i.e. alpha_2 = mu + beta alpha_1 + e (eq 15).

glmmix reports classes by size, but with random class logits (the two-level model) labels
follow the starting values, as in Mplus: we label class 1 "disruptive" by starting its item
logits at +1 and class 2's at -1, and check against random starts that this start reaches
the best log-likelihood.
"""

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
warnings.simplefilter("ignore", gm.BoundaryWarning)
OUT = Path(os.environ.get("GLMMIX_VIGNETTE_OUT") or Path(__file__).resolve().parent / "output") / "lta_toca"
OUT.mkdir(parents=True, exist_ok=True)
print(f"Figures and files of this vignette go to {OUT}")
df = gm.datasets.load("toca_sim")
gen = gm.datasets.generator("toca_sim")
items = list(gen["pi"])
print(f"{df.student.nunique()} students in {df.classroom.nunique()} classrooms, "
      f"{int(df.y.isna().sum())} missing responses (dropped, MAR)")

LTA = "y ~ 0 + item | c1(student) ~ 1 | c2(student) ~ 1 + c1"
LTA2 = ("y ~ 0 + item | c1(student) ~ 1 + (1 | classroom) "
        "| c2(student) ~ 1 + c1 + (1 | classroom)")
kw = dict(n_classes=2, family="bernoulli", measured_by="time", measurement_invariance=True)
label = {f"c1,c2#{k}:item[{it}]": (1.0 if k == 1 else -1.0) for it in items for k in (1, 2)}

# Single-level LTA: random starts for the best log-likelihood, then the labelled start.
t0 = time.time()
free = gm.fit(LTA, df, seed=1, starts=(10, 3) if QUICK else (20, 5), **kw)
t_single_starts = time.time() - t0
t0 = time.time()
lta1 = gm.fit(LTA, df, starts=0, start_values=label, **kw)
t_single = time.time() - t0
print(f"\nSingle-level LTA: log-likelihood {lta1.llf:.4f} (random starts: best {free.llf:.4f}, "
      f"replicated: {free.best_replicated}); {lta1.df_model} parameters")
assert lta1.llf > free.llf - 1e-3  # the labelled start reaches the best maximum of the random starts

# Two-level LTA, starting from the single-level estimates.
t0 = time.time()
lta2 = gm.fit(LTA2, df, start_from=lta1, seed=1, starts=(4, 2) if QUICK else (10, 3), **kw)
t_two = time.time() - t0
print(f"Two-level LTA: log-likelihood {lta2.llf:.4f}; {lta2.df_model} parameters; "
      f"integration {lta2.integration['method']} with {lta2.integration['n_points']} points "
      "per dimension over (alpha_1, alpha_2)")
print(gm.lrtest(lta1, lta2).to_string())

# Table 1: item probability profiles (time-invariant), with the generating values.
prof = lta2.profile()
rows = [f"c1:item[{it}]" for it in items]
tab1 = pd.DataFrame({
    "item": [gen["item_labels"][it] for it in items],
    "pi_1 true": [gen["pi"][it][0] for it in items],
    "pi_1 est": prof.loc[rows, "class1"].round(2).to_numpy(),
    "pi_2 true": [gen["pi"][it][1] for it in items],
    "pi_2 est": prof.loc[rows, "class2"].round(2).to_numpy(),
})
print("\nTable 1: probability profiles P(U_tp = 1 | C_t = c), class 1 = disruptive")
print(tab1.to_string(index=False))

# Section 4's quantities: proportions, switching, R^2 and the decomposition.
der1, der2 = lta1.derived(), lta2.derived()
pop = gen["population"]
sample = gen["sample"]
tm = pop["transition_matrix"]["rows_C1_cols_C2"]
rows = [
    ("P(C1 = 1)", "P(c1#1)", 0.46, pop["P_C1_1"], sample["P_C1_1"]),
    ("P(C2 = 1)", "P(c2#1)", 0.52, pop["P_C2_1"], sample["P_C2_1"]),
    ("P(C2 = 2 | C1 = 1) switching", "P(c2#2|c1#1)", 0.07, tm[0][1], sample["transition_probs"]["rows_C1_cols_C2"][0][1]),
    ("P(C2 = 1 | C1 = 2) switching", "P(c2#1|c1#2)", 0.18, tm[1][0], sample["transition_probs"]["rows_C1_cols_C2"][1][0]),
    ("R2 of C1 (alpha_1)", "r2(c1)", 0.39, pop["R2_alpha1_C1"], np.nan),
    ("R2 of C2 (total)", "r2(c2)", 0.65, pop["R2_C2"], np.nan),
    ("  share: classroom effect alpha_1", "share(c2: classroom effect on c1)", 0.35, pop["C2_share_alpha1"], np.nan),
    ("  share: residual individual C1", "share(c2: residual c1)", 0.30, pop["C2_share_C1_residual"], np.nan),
    ("  share: residual classroom alpha_2", "share(c2: residual classroom effect)", 0.05,
     pop["C2_share_alpha2_residual"], np.nan),
    ("R2 of C2 on C1 alone (eq 14)", "r2_eq14(c2 on c1)", 0.41, np.nan, np.nan),
    ("ICC of alpha_2 (eq 20)", "icc(classroom:c2#1)", 0.24, np.nan, np.nan),
]
out = pd.DataFrame({
    "paper": [r[2] for r in rows],
    "generator": [r[3] for r in rows],
    "sample truth": [r[4] for r in rows],
    "single-level": [der1["value"].get(r[1], np.nan) for r in rows],
    "two-level": [der2["value"].get(r[1], np.nan) for r in rows],
    "se": [der2["se"].get(r[1], np.nan) for r in rows],
}, index=[r[0] for r in rows]).round(3)
print("\nSection 4: class proportions, switching probabilities and explained variance")
print(out.to_string())
print("\nTransition matrix P(C2 | C1), two-level LTA")
print(lta2.transition_matrix("c2", "c1").round(3).to_string())

# Structural parameters against the generating values (eq 12-15).
P = lta2.params
d2 = der2["value"]
par = gen["parameters"]
struct = pd.DataFrame({
    "true": [par["mu1"], par["s1"], par["gamma"], par["beta"], par["s2"]],
    "estimate": [P["logit:c1#1:Intercept"], P["sd(classroom:c1#1)"], P["logit:c2#1:c1#1"],
                 d2["regression(classroom:c2#1 on c1#1)"], d2["residual sd(classroom:c2#1)"]],
    "se": [lta2.bse["logit:c1#1:Intercept"], lta2.bse["sd(classroom:c1#1)"], lta2.bse["logit:c2#1:c1#1"],
           der2["se"]["regression(classroom:c2#1 on c1#1)"], der2["se"]["residual sd(classroom:c2#1)"]],
}, index=["mu_1 (C1 intercept)", "SD(alpha_1)", "gamma (C1 -> C2)", "beta (alpha_1 -> alpha_2)",
          "SD(e), residual of alpha_2"]).round(3)
print("\nStructural parameters (eq 12-15)")
print(struct.to_string())
print("The generator's mu_2 = -1.288 is C2's intercept plus alpha_2's mean; glmmix reports "
      f"logit:c2#1:Intercept = {P['logit:c2#1:Intercept']:.3f} (the random effects have mean 0).")

print(f"\nTiming: single-level LTA {t_single:.1f} s from the labelled start ({t_single_starts:.1f} s with "
      f"random starts); two-level LTA {t_two:.1f} s, {t_two / max(t_single_starts, 1e-9):.0f} x the single-level "
      "fit with random starts")

# Figure 1: the model's path diagram with the estimates.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, Rectangle

    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6)
    ax.axis("off")
    ax.axhline(3.6, color="grey", lw=0.8, ls="--")
    ax.text(0.1, 5.6, "Between (classroom)", fontsize=9, color="grey")
    ax.text(0.1, 3.3, "Within (student)", fontsize=9, color="grey")
    pos = {"a1": (3, 4.8), "a2": (7, 4.8), "C1": (3, 2.3), "C2": (7, 2.3), "U1": (3, 0.6), "U2": (7, 0.6)}
    for k in ("a1", "a2", "C1", "C2"):
        ax.add_patch(Circle(pos[k], 0.45, fill=False))
    for k in ("U1", "U2"):
        x, y = pos[k]
        ax.add_patch(Rectangle((x - 0.9, y - 0.3), 1.8, 0.6, fill=False))
    names = {"a1": "alpha_1", "a2": "alpha_2", "C1": "C1", "C2": "C2", "U1": "U_1p (10 items)", "U2": "U_2p (10 items)"}
    for k, (x, y) in pos.items():
        ax.text(x, y, names[k], ha="center", va="center", fontsize=8)

    def arrow(a, b, text, dy=0.0):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="->", mutation_scale=12,
                                     shrinkA=16, shrinkB=16))
        ax.text((x0 + x1) / 2 + 0.15, (y0 + y1) / 2 + dy, text, fontsize=8, color="darkred")

    arrow("a1", "a2", f"beta = {d2['regression(classroom:c2#1 on c1#1)']:.2f}", 0.15)
    arrow("a1", "C1", f"R2 = {d2['r2(c1)']:.2f}", -0.45)
    arrow("a2", "C2", f"SD(e) = {d2['residual sd(classroom:c2#1)']:.2f}", -0.45)
    arrow("C1", "C2", f"gamma = {P['logit:c2#1:c1#1']:.2f}", 0.15)
    arrow("C1", "U1", "pi_cp")
    arrow("C2", "U2", "pi_cp (equal)")
    ax.set_title("Two-level latent transition model (the paper's Figure 1), glmmix estimates", fontsize=9)
    path = OUT / "figure_1.png"
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    print(f"Figure 1 (path diagram) written to {path}")
    gm.plots.transition_diagram(lta1).savefig(OUT / "transitions_single_level.png", dpi=150)
    print(f"Transition diagram of the single-level LTA written to {OUT / 'transitions_single_level.png'}")
except ImportError:
    pass
