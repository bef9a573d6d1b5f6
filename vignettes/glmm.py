"""Vignette: maximum-likelihood GLMMs and IRT models with adaptive quadrature.

Run:  python vignettes/glmm.py    (about 10 s: 6 s of CPU time measured, one process)

Python's first ML GLMM with adaptive quadrature, checked against lme4/glmmTMB values
(tests/reference/values): VerbAgg's Rasch model, LSAT's Rasch and 2PL, and a correlated
random slope.
"""

import os

import glmmix as gm

QUICK = os.environ.get("GLMMIX_VIGNETTE_QUICK") == "1"

va = gm.datasets.load("verbagg_long")
rasch = gm.fit("y ~ 0 + item + (1|id)", va, family="bernoulli", n_points=25)
print(f"VerbAgg Rasch, 25-point adaptive GH: log-likelihood {rasch.llf:.4f} (glmer nAGQ=25: -4036.9049), "
      f"sd(id) {rasch.params['sd(id:Intercept)']:.4f} (glmer: 1.3852)")
assert abs(rasch.llf + 4036.9049) < 1e-3 and abs(rasch.params["sd(id:Intercept)"] - 1.3852) < 1e-3
if not QUICK:
    lap = gm.fit("y ~ 0 + item + (1|id)", va, family="bernoulli", integration="laplace", se="none")
    print(f"Laplace: {lap.llf:.4f} (glmer/glmmTMB Laplace: -4039.2485): Laplace is 2.3 short here")
    assert abs(lap.llf + 4039.2485) < 1e-3

lsat = gm.wide_to_long(gm.datasets.load("lsat"))
two_pl = gm.fit("y ~ 0 + item + rr(0 + item | id, 1)", lsat, family="bernoulli", n_points=25)
print(f"\nLSAT 2PL: log-likelihood {two_pl.llf:.4f} (R's ltm: -2466.65); loadings (discriminations):")
assert abs(two_pl.llf + 2466.6534) < 1e-3
print(two_pl.params_table().loc[[c for c in two_pl.params.index if c.startswith("loading")]].round(4).to_string())

contra = gm.datasets.load("contraception")
slope = gm.fit("y ~ age + I(age**2) + urban + livch + (1 + urban | district)", contra, family="bernoulli")
print("\nContraception, correlated random intercept and slope for urban (adaptive GH, 9 x 9 nodes):")
print(slope.summary())
