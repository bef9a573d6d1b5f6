"""Vignette: scoring clusters and persons (lme4's ranef, mirt's fscores).

Run:  python vignettes/scoring.py    (about 15 s: 9 s of CPU time measured, one process)

``res.random_effects()`` returns, per cluster, the posterior mean (EAP) and posterior SD of
every random effect and factor, computed on the model's own integration rule;
``kind="map"`` gives conditional modes. With random class logits (GoM) it adds each
person's grades of membership. Three models: VerbAgg's Rasch GLMM (EAPs against lme4's
conditional modes), LSAT's 2PL (ability scores per response pattern) and a simulated GoM;
then new respondents classified by an LCA (``res.predict(newdata, which="posterior")``).
"""

import os
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
OUT = Path(os.environ.get("GLMMIX_VIGNETTE_OUT") or Path(__file__).resolve().parent / "output") / "scoring"
OUT.mkdir(parents=True, exist_ok=True)
print(f"Figures and files of this vignette go to {OUT}")
pd.set_option("display.width", 120)

# ---------------------------------------------------------------- 1. a GLMM: VerbAgg's Rasch model
va = gm.datasets.load("verbagg_long")
rasch = gm.fit("y ~ 0 + item + (1 | id)", va, family="bernoulli", n_points=25)
print(f"VerbAgg Rasch GLMM: log-likelihood {rasch.llf:.4f} (glmer nAGQ=25: -4036.9049), "
      f"sd(id) {rasch.params['sd(id:Intercept)']:.4f}")
eap = rasch.random_effects()  # posterior means and SDs on the 25-point adaptive rule
mode = rasch.random_effects(kind="map")  # conditional modes, as lme4's ranef()
score = va.groupby("id")["y"].sum().rename("sum score")
tab = pd.concat([score, eap.add_prefix("EAP "), mode.add_prefix("mode ")], axis=1)
print("\nPersons' random intercepts (the sum score is sufficient in a Rasch model, so persons with")
print("equal sums get equal scores):")
print(tab.drop_duplicates("sum score").sort_values("sum score").iloc[::3].round(3).to_string())
print(f"\nEAP and mode differ by up to {np.abs(eap['Intercept'] - mode['Intercept']).max():.3f}: the "
      "posterior is skewed for extreme persons,\nwhose modes lie closer to zero than their means. The "
      f"EAPs' variance ({eap['Intercept'].var():.3f}) plus the mean posterior variance\n"
      f"({(eap['sd:Intercept'] ** 2).mean():.3f}) nearly recovers the estimated variance "
      f"({rasch.params['sd(id:Intercept)'] ** 2:.3f}), as it should.")
# what this part shows: lme4's maximum; equal sum scores, equal scores; the variance decomposition
assert abs(rasch.llf + 4036.9049) < 1e-3
assert tab.groupby("sum score")[["EAP Intercept", "mode Intercept"]].std().max().max() < 1e-6
total = eap["Intercept"].var() + (eap["sd:Intercept"] ** 2).mean()
assert abs(total / rasch.params["sd(id:Intercept)"] ** 2 - 1) < 0.1

# ---------------------------------------------------------------- 2. IRT: LSAT 2PL ability scores
lsat = gm.wide_to_long(gm.datasets.load("lsat"))
two = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli", n_points=25)
print(f"\nLSAT 2PL: log-likelihood {two.llf:.4f} (R's ltm: -2466.65)")
fs = two.random_effects().join(two.random_effects("map").add_prefix("mode "))
pattern = lsat.pivot(index="id", columns="item", values="y").astype(int).astype(str).agg("".join, axis=1)
pattern = pattern.rename("pattern")
per = fs.join(pattern).groupby("pattern").agg(n=("factor", "size"), EAP=("factor", "first"),
                                              SD=("sd:factor", "first"), mode=("mode factor", "first"))
print("Ability (factor) scores by response pattern (mirt's fscores EAP, ltm's empirical Bayes modes):")
print(per.sort_values("EAP").iloc[::3].round(3).to_string())
assert abs(two.llf + 2466.6534) < 1e-3

# ---------------------------------------------------------------- 3. GoM: grades of membership
rng = np.random.default_rng(7)
n, J = (200, 8) if QUICK else (600, 10)
alpha = 0.3 + 1.5 * rng.standard_normal(n)  # a person's class-1 logit (eq 30)
tau = np.outer(np.linspace(0.8, 1.5, J), [1.0, -1.0])
cls = (rng.uniform(size=(n, J)) >= expit(alpha)[:, None]).astype(int)  # one class per response (eq 28)
y = (rng.standard_normal((n, J)) < tau[np.arange(J), cls]).astype(float)
gom_data = gm.wide_to_long(pd.DataFrame(y, columns=[f"i{j + 1}" for j in range(J)]))
gom = gm.fit("y ~ 0 + item | class ~ 1 + (1 | id)", gom_data, 2, family="bernoulli", link="probit",
             seed=2, starts=(6, 2) if QUICK else (20, 4))
print(f"\nSimulated GoM ({n} persons, {J} items): log-likelihood {gom.llf:.4f}, "
      f"sd(id:class1) {gom.params['sd(id:class1)']:.3f} (true 1.5)")
mem = gom.random_effects()
# class labels are arbitrary: the simulation's class 1 is the one answering "yes" more often
k = int(gom.profile()[["class1", "class2"]].mean().to_numpy().argmax()) + 1
print(f"Grades of membership in the simulation's class 1 (fitted class{k}), E[P(C = c | alpha_j) | y_j] "
      "(eq 30),\nagainst the truth:")
q = pd.DataFrame({"true P(C = 1)": expit(alpha), "EAP membership": mem[f"membership:class{k}"].to_numpy(),
                  "posterior SD": mem[f"sd:membership:class{k}"].to_numpy()})
print(q.describe().loc[["mean", "std", "min", "25%", "50%", "75%", "max"]].round(3).to_string())
print(f"correlation with the true membership: {np.corrcoef(q.iloc[:, 0], q.iloc[:, 1])[0, 1]:.3f}; the EAPs "
      "shrink towards the mean,\nand their posterior SDs show how little a few binary items say about "
      "a person's mix of classes.")
assert np.corrcoef(q.iloc[:, 0], q.iloc[:, 1])[0, 1] > 0.5

# ---------------------------------------------------------------- 4. classifying new respondents
lca = gm.fit("y ~ 0 + item | class(id) ~ 1", lsat, 2, family="bernoulli", seed=1, starts=(10, 3))
print(f"\nLSAT two-class LCA: log-likelihood {lca.llf:.4f} (poLCA, flexmix, StepMix: -2467.4055)")
items = [f"I{j}" for j in range(1, 6)]
new = pd.DataFrame({"id": np.repeat(["new1", "new2", "new3", "new4"], 5), "item": np.tile(items, 4),
                    "y": [0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, np.nan, 0, np.nan]})
print("New respondents, not in the fit (new4 skipped two items): posterior class probabilities from "
      "their responses,\nand the modal class:")
print(pd.concat([lca.predict(new, which="posterior"), lca.predict(new, which="class")], axis=1).round(3).to_string())
print("Classification table of the fitted persons (average posterior probabilities by modal class):")
print(lca.classification_table().round(3).to_string())
assert abs(lca.llf + 2467.4055) < 1e-3
modal = lca.predict(new, which="class")
assert modal["new1"] != modal["new2"]  # all wrong and all right fall in different classes

try:  # a figure: EAPs against modes for VerbAgg, with posterior SDs
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.errorbar(mode["Intercept"], eap["Intercept"], yerr=eap["sd:Intercept"], fmt="o", ms=3, alpha=0.5,
                elinewidth=0.6, label="EAP +- posterior SD")
    lim = [mode["Intercept"].min() - 0.2, mode["Intercept"].max() + 0.2]
    ax.plot(lim, lim, color="grey", lw=0.8, label="EAP = mode")
    ax.set_xlabel("conditional mode (lme4's ranef)")
    ax.set_ylabel("posterior mean (EAP)")
    ax.set_title("VerbAgg persons' random intercepts", fontsize=10)
    ax.legend(fontsize=8)
    path = OUT / "verbagg_eap_vs_mode.png"
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    print(f"\nFigure written to {path}")
except ImportError:
    pass
