## A random-intercept logit whose clusters' posteriors are far from normal: SD about 6.4, and
## 25 of the 40 clusters (10 rows each) all 0 or all 1. Simulated in Python (numpy
## default_rng(3): x ~ N(0, 1), u_g ~ 8 N(0, 1), y = 1[x + u_g + logistic > 0]); the data are
## tests/reference/data/agq_skewed.csv. The exact maximum by integrate() per cluster
## (common.R's exact_ri_loglik) and optim(), against glmer's adaptive quadrature.
## Run from the repository root: Rscript tests/reference/scripts/agq_skewed.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(lme4))
h <- read.csv("tests/reference/data/agq_skewed.csv")
ex <- function(p) exact_ri_loglik(h$y, p[1] + p[2] * h$x, h$g, exp(p[3]), ldens_bern_logit)
m25 <- glmer(y ~ x + (1 | g), h, binomial, nAGQ = 25, control = GLMER_CTRL)
p25 <- c(fixef(m25), log(attr(VarCorr(m25)$g, "stddev")[[1]]))
o <- optim(p25, ex, method = "Nelder-Mead", control = list(fnscale = -1, reltol = 1e-14, maxit = 5000))
o <- optim(o$par, ex, method = "BFGS", control = list(fnscale = -1, reltol = 1e-14, maxit = 5000))
res <- list(software = sw(c("lme4", "jsonlite")), R = rver(),
  data = list(file = "tests/reference/data/agq_skewed.csv", n = nrow(h), groups = length(unique(h$g)),
              clusters_all_0_or_1 = sum(tapply(h$y, h$g, function(v) all(v == v[1])))),
  exact = list(logLik = o$value, intercept = o$par[[1]], x = o$par[[2]], sd = exp(o$par[[3]]),
               method = "optim (Nelder-Mead, then BFGS; reltol 1e-14) of the sum over clusters of log integrate() (rel.tol 1e-12) from glmer's estimates"),
  glmer_agq25 = list(logLik = as.numeric(logLik(m25)), fixef = as.list(fixef(m25)), sd = exp(p25[[3]]),
                     logLik_exact_at_its_estimates = ex(p25), call = paste("glmer(y ~ x + (1 | g), binomial, nAGQ = 25,", GLMER_CTRL_STR, ")")))
save_json(res, "agq_skewed")
cat(res$exact$logLik, res$exact$sd, res$glmer_agq25$logLik, res$glmer_agq25$logLik_exact_at_its_estimates, "\n")
