"""Vignette: latent class analysis with glmmix.

Run:  python vignettes/lca.py          (about 10 s: 5 s of CPU time measured, one process)

1. Carcinoma ratings (Agresti; 7 pathologists, 118 slides): LCA with 1-4 classes, the
   comparison table, item-response profiles; agreement with poLCA's published values.
2. LSAT section 6: the case where plain EM crawls (StepMix needs ~800 iterations for 2
   classes); glmmix's EM-then-BFGS converges with a reported gradient.
3. Verbal aggression: class membership regressed on a person covariate (trait anger), eq 4.
4. Saving and loading results without pickle.
"""

import os
import warnings
from pathlib import Path

import pandas as pd

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
STARTS = (8, 3) if QUICK else (20, 5)
warnings.simplefilter("ignore", gm.BoundaryWarning)  # item probabilities of 0/1 are expected here
OUT = Path(os.environ.get("GLMMIX_VIGNETTE_OUT") or Path(__file__).resolve().parent / "output") / "lca"
OUT.mkdir(parents=True, exist_ok=True)
print(f"Figures and files of this vignette go to {OUT}")

# 1. Carcinoma ----------------------------------------------------------------------------
long = gm.wide_to_long(gm.datasets.load("carcinoma"))
fits = {K: gm.fit("y ~ 0 + item | class(id) ~ 1", long, n_classes=K, family="bernoulli",
                  seed=1, starts=STARTS) for K in (1, 2, 3, 4)}
table = pd.DataFrame({
    "classes": list(fits),
    "log-likelihood": [r.llf for r in fits.values()],
    "parameters": [r.df_model for r in fits.values()],
    "BIC": [r.bic for r in fits.values()],
    "entropy": [r.entropy for r in fits.values()],
    "best LL replicated": [r.best_replicated for r in fits.values()],
})
print("Carcinoma: LCA with 1-4 classes (poLCA: -317.26 for 2 classes, -293.71 for 3)")
print(table.round(4).to_string(index=False))
print("\n3-class item-response probabilities P(rater says carcinoma | class):")
print(fits[3].profile().round(3).to_string())
assert abs(fits[2].llf + 317.2568) < 1e-3 and abs(fits[3].llf + 293.7050) < 1e-3
try:
    import matplotlib

    matplotlib.use("Agg")
    gm.plots.profile(fits[3]).savefig(OUT / "carcinoma_profile.png", dpi=150)
    gm.plots.bic_by_k(table.set_index("classes")).savefig(OUT / "carcinoma_bic.png", dpi=150)
    print(f"Profile plot and BIC by number of classes: {OUT / 'carcinoma_profile.png'}, {OUT / 'carcinoma_bic.png'}")
except ImportError:
    print("(matplotlib not installed: pip install 'glmmix[plot]' for the figures)")

# 2. LSAT ---------------------------------------------------------------------------------
lsat = gm.wide_to_long(gm.datasets.load("lsat"))
res = gm.fit("y ~ 0 + item | class(id) ~ 1", lsat, n_classes=2, family="bernoulli", seed=1, starts=STARTS)
best = res.starts.dropna(subset=["ll_final"]).iloc[0]
print(f"\nLSAT, 2 classes: log-likelihood {res.llf:.4f} (flexmix/StepMix: -2467.4055); "
      f"max |gradient| {res.grad_max:.1e}; best start used {int(best.em_iterations)} EM "
      f"and {int(best.qn_iterations)} BFGS iterations")
assert abs(res.llf + 2467.4055) < 1e-3 and res.converged

# 3. Covariates of class membership ------------------------------------------------------
va = gm.datasets.load("verbagg_long")
res_cov = gm.fit("y ~ 0 + item | class(id) ~ 1 + Anger", va, n_classes=2, family="bernoulli",
                 seed=1, starts=STARTS)
print("\nVerbal aggression, 2 classes, class membership on trait anger:")
print(res_cov.params_table().loc[[c for c in res_cov.params.index if c.startswith("logit")]].round(4))

# 4. Save and load ------------------------------------------------------------------------
path = OUT / "carcinoma3.json"
fits[3].save(path)
back = gm.load_results(path)
print(f"\nSaved to and reloaded from {path}: llf {back.llf:.4f}, {len(back.params)} parameters")
assert back.llf == fits[3].llf and back.params.equals(fits[3].params)
print(back.summary())
