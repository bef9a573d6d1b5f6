"""Vignette: choosing the number of latent classes with glmmix.

Run:  python vignettes/class_enumeration.py      (4 to 5 minutes of CPU time: 238 s and 271 s
                                                  measured in two runs, one process each; 25 and
                                                  11 minutes elapsed at nice 10 on two cores
                                                  shared with load averages of 8 and 7)
      GLMMIX_VIGNETTE_QUICK=1 python vignettes/...  (fewer classes and bootstrap samples: 18 s and
                                                  21 s of CPU time measured)

Carcinoma ratings (Agresti; 7 pathologists, 118 slides), LCA with 1-5 classes:

1. ``gm.enumerate_classes`` fits every K with the same settings and tabulates log-likelihood,
   parameters, AIC, BIC, SABIC, CAIC, entropy, the smallest class, whether the best
   log-likelihood was replicated, and the Vuong-LMR, adjusted LMR and bootstrap LRT p-values
   of K-1 against K classes.
2. The tests one at a time: ``gm.lmr_test`` (Mplus TECH11's output) and ``gm.blrt``
   (TECH14's), for 2 against 3 and 3 against 4 classes.
3. BIC by K, the usual elbow plot (written to class_enumeration_bic.png).
4. A distal outcome of the chosen classes by the BCH three-step method.

The literature's answer for these data is three classes (Agresti 2002; poLCA's example); every
information criterion chooses it, and the tests reject 2 classes for 3 but not 3 for 4. With
5 classes the LMR test rejects 4 (p about 0.03) for a fifth class holding one slide (0.9%): a
reminder that the LMR tends to favour spurious small classes (Nylund, Asparouhov & Muthen
2007) and that the smallest class belongs in the decision.
"""

import os
import warnings
from pathlib import Path

import numpy as np

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
N_BOOT = 19 if QUICK else 99
KS = range(1, 5) if QUICK else range(1, 6)
warnings.simplefilter("ignore", gm.BoundaryWarning)  # item probabilities of 0/1 are expected here

OUT = Path(os.environ.get("GLMMIX_VIGNETTE_OUT") or Path(__file__).resolve().parent / "output") / "class_enumeration"
OUT.mkdir(parents=True, exist_ok=True)
print(f"Figures and files of this vignette go to {OUT}")

long = gm.wide_to_long(gm.datasets.load("carcinoma"))
formula = "y ~ 0 + item | class(id) ~ 1"

# 1. The enumeration table -------------------------------------------------------------------
enum = gm.enumerate_classes(formula, long, n_classes=KS, family="bernoulli", seed=1,
                            blrt=True, n_boot=N_BOOT, boot_starts=(8, 2) if QUICK else (20, 5),
                            progress=False)
print(enum.summary())
print(f"\nThe table's columns (a DataFrame, enum.table): {list(enum.table.columns)}")
print(f"log-likelihood of the chosen model: {enum.fits[enum.best('BIC')].llf:.4f} (poLCA: -293.705)")
# what the vignette shows: the criteria choose 3 classes, poLCA's maximum
assert enum.best("BIC") == enum.best("AIC") == enum.best("SABIC") == 3
assert abs(enum.fits[3].llf + 293.705) < 1e-3

# 2. The tests one at a time ----------------------------------------------------------------
print()
print(enum.lmr[3].summary())
print()
print(enum.lmr[4].summary())
assert enum.lmr[3].pvalue < 0.05 < enum.lmr[4].pvalue  # 2 classes rejected for 3, not 3 for 4
print()
print(enum.blrt[3].summary())
print(f"  largest bootstrap LR for 2 vs 3 classes: {np.nanmax(enum.blrt[3].bootstrap):.2f}")
print()
print(enum.blrt[4].summary())

# 3. BIC by K -------------------------------------------------------------------------------
try:
    import matplotlib

    matplotlib.use("Agg")
    gm.plots.bic_by_k(enum).savefig(OUT / "class_enumeration_bic.png", dpi=150)
    print(f"\nInformation criteria by K written to {OUT / 'class_enumeration_bic.png'}")
except ImportError:
    pass

# 4. A distal outcome without shifting the classes ------------------------------------------
# the number of raters (out of 7) who said "carcinoma" is not a distal variable of interest
# in itself; a simulated slide-level measurement stands in for one here
best = enum.fits[3]
rng = np.random.default_rng(0)
modal = best.posterior.to_numpy().argmax(axis=1)
slide = best.posterior.index.to_numpy()
distal = dict(zip(slide, np.array([0.0, 1.0, 2.0])[modal] + rng.normal(size=slide.size)))
long["score"] = long["id"].map(distal)
out = gm.three_step(best, long, "score ~ 1", method="bch")
print()
print(out.summary())
print(out.wald_test("class1:Intercept = class2:Intercept, class2:Intercept = class3:Intercept"))
