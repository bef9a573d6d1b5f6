"""Vignette: a within-level class variable C and a between-level class variable D in one
model (Section 6 of the paper, eq 22-26).

Run:  python vignettes/within_between_cd.py            (about 2 minutes: 119 s of CPU time measured)
      GLMMIX_VIGNETTE_QUICK=1 python vignettes/...      (about 15 s: 40 schools, fewer starts,
                                                        no (c, d)-specific outcome model)

Data: simulated with gm.simulate, 150 schools x 15 students x 6 binary items. Each student
has a class C_ij (2 classes, "high" and "low" item profiles), each school a class D_j
(2 classes), and the model is Section 6's with the random effects of eq 25:

  P(D_j = 1)             = logistic(a_d + b_d w_j)              eq 26, w_j a school covariate
  P(C_ij = 1 | D_j = d)  = logistic(a_c + gamma_d), gamma_2 = 0  eq 24, C regressed on D
  eta_j | D_j = d        ~ N(0, sigma_d^2)                       eq 25, a d-specific SD
  logit P(y_ijp = 1 | C_ij = c, eta_j) = nu_cp + eta_j           eq 22, measurement by C only

Formula: ``y ~ 0 + item + (1 | school) | c(student) ~ 1 + d | d(school) ~ 1 + w``: the
outcome part with a random school intercept, C's class part with D as a predictor (one
dummy, labelled ``logit:c#1:d#1``), D's class part at the school level (the level of the
random term) with the covariate w. ``class_specific=["random"]`` makes the random-intercept
SD specific to the between-level class (``d#1:sd(school:Intercept)``,
``d#2:sd(school:Intercept)``). ``measured_by={"c": True}`` makes the item intercepts depend
on C only; without it every row measures both C and D and the item intercepts are specific
to (c, d) (``c#1.d#2:item[u0]``), eq 22's nu_cdj: D then also acts on the items directly.

The truths make class 1 the larger class of each variable (P(C = 1) about 0.67, P(D = 1)
about 0.66), since glmmix reports classes by decreasing size. Two simpler models are fitted
to the same data and compared by log-likelihood, BIC and likelihood-ratio tests: (a) C only,
with a random school intercept (a two-level LCA without D), (b) C and D with one
random-intercept SD; and (c) the (c, d)-specific measurement model of eq 22.
"""

import os
import textwrap
import time

import numpy as np
import pandas as pd

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
G, n, J = (40 if QUICK else 150), 15, 6
STARTS = (4, 2) if QUICK else (10, 3)

rng = np.random.default_rng(26)
base = pd.DataFrame([(g, g * n + i, f"u{j}") for g in range(G) for i in range(n) for j in range(J)],
                    columns=["school", "student", "item"])
w = rng.standard_normal(G)
base["w"] = w[base["school"]]  # a school-level covariate: constant within school

FORMULA = "y ~ 0 + item + (1 | school) | c(student) ~ 1 + d | d(school) ~ 1 + w"
KW = {"n_classes": 2, "family": "bernoulli", "measured_by": {"c": True}}
nu1 = [1.5, 1.0, 2.0, 0.5, 1.2, 0.8]      # class 1: high endorsement
nu2 = [-1.5, -1.0, -0.5, -2.0, -1.2, 0.0]  # class 2: low endorsement
truth = {}
for j in range(J):
    truth[f"c#1:item[u{j}]"], truth[f"c#2:item[u{j}]"] = nu1[j], nu2[j]
truth.update({
    "logit:c#1:Intercept": -0.5,        # a_c: logit P(C = 1 | D = 2)
    "logit:c#1:d#1": 2.0,               # gamma_1: effect of D = 1 on C's logit (eq 24)
    "logit:d#1:Intercept": 0.8,         # a_d (eq 26)
    "logit:d#1:w": 1.0,                 # b_d (eq 26)
    "d#1:sd(school:Intercept)": 1.0,    # sigma_1 (eq 25)
    "d#2:sd(school:Intercept)": 0.4,    # sigma_2
})
df = gm.simulate(FORMULA, base, params=truth, class_specific=["random"], seed=22, **KW)
print(f"{G} schools x {n} students x {J} binary items; simulated classes: "
      f"{(df.groupby('student').true_c.first() == 1).mean():.3f} of students in C = 1, "
      f"{(df.groupby('school').true_d.first() == 1).mean():.3f} of schools in D = 1")

timings = {}


def timed_fit(name, formula, **kw):
    t0 = time.time()
    res = gm.fit(formula, df, seed=1, starts=STARTS, **kw)
    timings[name] = time.time() - t0
    return res


# ---------------------------------------------------------------- the C-and-D model
cd = timed_fit("C and D, d-specific SD", FORMULA, class_specific=["random"], **KW)
tab = pd.DataFrame({"true": pd.Series(truth), "estimate": cd.params, "se": cd.bse})
tab["z"] = (tab["estimate"] - tab["true"]) / tab["se"]
print(f"\nC-and-D model (eq 22-26): log-likelihood {cd.llf:.4f}, {cd.df_model} parameters, "
      f"best log-likelihood replicated: {cd.best_replicated}")
print(tab.round(3).to_string())

# Derived quantities, against their values implied by the truth at the sample's w.
pd1 = float(np.mean(1 / (1 + np.exp(-(truth["logit:d#1:Intercept"] + truth["logit:d#1:w"] * w)))))
pc1_d = {1: 1 / (1 + np.exp(-(truth["logit:c#1:Intercept"] + truth["logit:c#1:d#1"]))),
         2: 1 / (1 + np.exp(-truth["logit:c#1:Intercept"]))}
pc1 = pc1_d[1] * pd1 + pc1_d[2] * (1 - pd1)
true_der = {"P(c#1)": pc1, "P(c#2)": 1 - pc1, "P(d#1)": pd1, "P(d#2)": 1 - pd1}
for d in (1, 2):
    true_der[f"P(c#1|d#{d})"], true_der[f"P(c#2|d#{d})"] = pc1_d[d], 1 - pc1_d[d]
der = cd.derived()
rows = [r for r in der.index if r.startswith("P(")]
dtab = der.loc[rows].assign(true=[true_der[r] for r in rows])
print("\nClass proportions and P(C | D) (res.derived(); true values at the sample's w)")
print(dtab[["true", "value", "se"]].round(3).to_string())
print("\nP(C = k | D = j) (res.transition_matrix('c', 'd'); rows D, columns C)")
print(cd.transition_matrix("c", "d").round(3).to_string())
sds = [f"d#{d}:sd(school:Intercept)" for d in (1, 2)]
print("\nRandom school intercept SD by school class (eq 25)")
print(pd.DataFrame({"true": [truth[s] for s in sds], "estimate": cd.params[sds], "se": cd.bse[sds]},
                   index=sds).round(3).to_string())

# Classification: modal classes against the simulated ones. The posterior has one column
# per joint state (c#k.d#j) and one row per student.
post = cd.posterior
p_c1 = post[[col for col in post.columns if col.startswith("c#1.")]].sum(axis=1)
p_d1 = post[[col for col in post.columns if col.endswith(".d#1")]].sum(axis=1)
true_c = df.groupby("student").true_c.first().loc[post.index]
school = df.groupby("student").school.first().loc[post.index]
true_d = df.groupby("school").true_d.first()
d_modal = np.where(p_d1.groupby(school.to_numpy()).first() > 0.5, 1, 2)
print(f"\nModal classes agree with the simulated ones for {np.mean(np.where(p_c1 > 0.5, 1, 2) == true_c):.3f} "
      f"of students (C) and {np.mean(d_modal == true_d.loc[p_d1.groupby(school.to_numpy()).first().index]):.3f} "
      f"of schools (D); relative entropy {cd.entropy:.3f}")
# what the vignette shows: the estimates recover the simulation's values
assert tab["z"].abs().max() < 4.5, tab["z"].abs().max()
assert np.mean(np.where(p_c1 > 0.5, 1, 2) == true_c) > 0.7

# ---------------------------------------------------------------- simpler models
c_only = timed_fit("(a) C only, random intercept", "y ~ 0 + item + (1 | school) | c(student) ~ 1",
                   n_classes=2, family="bernoulli")
cd_eq = timed_fit("(b) C and D, one SD", FORMULA, **KW)
models = {"(a) C only + (1 | school)": c_only, "(b) C and D, one SD": cd_eq, "C and D, d-specific SD": cd}

cd_spec = None
if not QUICK:
    # (c) eq 22 as written: item intercepts specific to (c, d); measured_by omitted.
    cd_spec = timed_fit("(c) (c, d)-specific items", FORMULA, n_classes=2, family="bernoulli",
                        class_specific=["random"])
    models["(c) items specific to (c, d)"] = cd_spec

cmp = pd.DataFrame({"log-likelihood": [m.llf for m in models.values()],
                    "parameters": [m.df_model for m in models.values()],
                    "BIC": [m.bic for m in models.values()],
                    "best LL replicated": [m.best_replicated for m in models.values()],
                    "SD(school)": [", ".join(f"{m.params[p]:.2f}" for p in m.params.index if "sd(" in p)
                                   for m in models.values()]},
                   index=list(models))
print("\nModel comparison (BIC with n = the number of schools)")
print(cmp.round(2).to_string())



def show_lr(restricted, full):
    lr = gm.lrtest(restricted, full)
    if lr["note"]:
        print(textwrap.fill(f"note: {lr['note']}", 100, initial_indent="  ", subsequent_indent="  "))
    print(f"  statistic {lr['statistic']:.3f}, df {lr['df']}, chi-square p-value {lr['p-value']:.4g}")


print("\nLikelihood-ratio test: one SD (b) within the d-specific SDs (eq 25); interior restriction, "
      "chi-square(1)")
show_lr(cd_eq, cd)
print("\n" + textwrap.fill(
    "Likelihood-ratio test: C only (a) within C and D. Under (a) gamma = 0 and the SDs are equal, "
    "so D has no effect and its logit (a_d, b_d) is not identified: the statistic is not "
    "chi-square (glmmix notes a boundary caveat); BIC is the usual guide here.", 100))
show_lr(c_only, cd)
if cd_spec is not None:
    print("\nLikelihood-ratio test: items specific to c only (measured_by={'c': True}) within items "
          "specific to (c, d) (eq 22)")
    show_lr(cd, cd_spec)
    cols = {f"c#{c}.d#{d}": [cd_spec.params[f"c#{c}.d#{d}:item[u{j}]"] for j in range(J)]
            for c in (1, 2) for d in (1, 2)}
    spec = pd.DataFrame(cols, index=[f"u{j}" for j in range(J)])
    spec.insert(0, "true c#1", nu1)
    spec.insert(3, "true c#2", nu2)
    print("\n(c, d)-specific item intercepts nu_cdp (eq 22), against the truth, which varies with c only")
    print(spec.round(2).to_string())

print("\nWall-clock times of the fits (random starts "
      f"{STARTS[0]}, completed {STARTS[1]}; integration: "
      f"{cd.integration['method']}, {cd.integration['n_points']} points per school):")
for name, t in timings.items():
    print(f"  {name:32s} {t:6.1f} s")
