"""Vignette: one model, many names: LCA, GoM, FMA, FMA-GoM, 2PL and 3PL on LSAT and carcinoma.

Run:  python vignettes/special_cases.py     (its fits: 129 s, 51 s of CPU, measured on 2 shared
      cores under load; GLMMIX_VIGNETTE_QUICK=1 for less)

Every model is a formula (Asparouhov & Muthen, Sections 7-9); the helpers print the formula
they fit. The comparison table has the form of the paper's Tables 5 and 6, and the profile
plot that of Figure 4.
"""

import os
import warnings
from pathlib import Path

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"
ST = dict(starts=(4, 2)) if QUICK else {}
warnings.simplefilter("ignore", gm.BoundaryWarning)
OUT = Path(os.environ.get("GLMMIX_VIGNETTE_OUT") or Path(__file__).resolve().parent / "output") / "special_cases"
OUT.mkdir(parents=True, exist_ok=True)
print(f"Figures and files of this vignette go to {OUT}")

lsat = gm.wide_to_long(gm.datasets.load("lsat"))
fits = {
    "LCA": gm.lca(lsat, 2, seed=1, **ST),
    "GoM": gm.gom(lsat, 2, seed=1, **ST),
    "FMA": gm.fma(lsat, 2, seed=1, **ST),
    "2PL": gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli"),
    "3PL": gm.three_pl(lsat, seed=3),  # full default starts: its two maxima differ by 0.004
}
if not QUICK:
    fits["FMA-GoM"] = gm.fma_gom(lsat, 2, seed=1)
print("\nLSAT: log-likelihoods in the form of Tables 5 and 6")
print(gm.compare(fits)[["log-likelihood", "parameters", "BIC", "entropy"]].round(3).to_string())
print("\nReferences: LCA -2467.4055 (flexmix/StepMix), 2PL -2466.6534 (ltm), 3PL -2466.649 (girth)")
assert abs(fits["LCA"].llf + 2467.4055) < 1e-3 and abs(fits["2PL"].llf + 2466.6534) < 1e-3
assert fits["3PL"].llf > fits["2PL"].llf - 1e-3  # the 3PL nests the 2PL (guessing parameters of 0)
print("\n3PL item parameters (eq 48-50), delta-method SEs; g near 0.21 for item 2, near 0 elsewhere:")
print(gm.irt_parameters(fits["3PL"]).round(3).to_string())

# Figure 4: item profiles of the GoM's class against the LCA's
try:
    import matplotlib

    matplotlib.use("Agg")
    ax = gm.plot_profiles(fits["LCA"], fits["GoM"], 1, 1)
    path = OUT / "figure4_profiles.png"
    ax.figure.savefig(path, dpi=150)
    gm.plots.item_curves(fits["3PL"]).savefig(OUT / "three_pl_item_curves.png", dpi=150)
    print(f"3PL item characteristic curves written to {OUT / 'three_pl_item_curves.png'}")
    print(f"\nFigure 4-style profile plot written to {path}")
except ImportError:
    print("\n(matplotlib not installed: pip install 'glmmix[plot]' for the profile plot)")

# A larger item set: verbal aggression, 316 persons x 24 items (full run only)
if not QUICK:
    va = gm.datasets.load("verbagg_long")
    va_fits = {
        "LCA": gm.lca(va, 2, seed=1, verbose=False),
        "GoM": gm.gom(va, 2, seed=1, verbose=False),
        "FMA": gm.fma(va, 2, seed=1, verbose=False),
        "FMA-GoM": gm.fma_gom(va, 2, seed=1, verbose=False, n_points=61),  # ~2 minutes
    }
    print("\nVerbAgg (24 items): flexmix/StepMix give -4149.8543 for the 2-class LCA")
    print(gm.compare(va_fits)[["log-likelihood", "parameters", "BIC"]].round(3).to_string())

# A model with no finite maximum says so
ca = gm.wide_to_long(gm.datasets.load("carcinoma"))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fma_ca = gm.fma(ca, 2, seed=1, verbose=False, **ST)
names = [fma_ca.params.index[i] for i in fma_ca.boundary if fma_ca.params.index[i].startswith("loading")]
print(f"\ncarcinoma, 2-class FMA: log-likelihood {fma_ca.llf:.3f}; loadings running to infinity: {names}")
