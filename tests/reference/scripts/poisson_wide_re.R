## A Poisson GLMM with a wide random intercept: SD about 4.2, 32 of 60 clusters (5 rows each)
## all zero, one with 809 counts. Simulated in Python (numpy default_rng(7): x ~ N(0, 1),
## u_g ~ 4 N(0, 1), y ~ Poisson(exp(-2 + 0.5 x + u_g))); data tests/reference/data/poisson_wide_re.csv.
## glmer (Laplace and AGQ 25), glmmTMB (Laplace), and the exact maximum by integrate() + optim().
## Run from the repository root: Rscript tests/reference/scripts/poisson_wide_re.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
d <- read.csv("tests/reference/data/poisson_wide_re.csv")
sat <- sum(dpois(d$y, d$y, log = TRUE))
m25 <- glmer(y ~ x + (1 | g), d, poisson, nAGQ = 25, control = GLMER_CTRL)
m1 <- glmer(y ~ x + (1 | g), d, poisson, nAGQ = 1, control = GLMER_CTRL)
t1 <- glmmTMB(y ~ x + (1 | g), d, family = poisson)
ex <- function(p) exact_ri_loglik(d$y, p[1] + p[2] * d$x, d$g, exp(p[3]), function(y, eta) dpois(y, exp(eta), log = TRUE))
p0 <- c(fixef(m25), log(attr(VarCorr(m25)$g, "stddev")[[1]]))
o <- optim(p0, ex, method = "Nelder-Mead", control = list(fnscale = -1, reltol = 1e-14, maxit = 5000))
o <- optim(o$par, ex, method = "BFGS", control = list(fnscale = -1, reltol = 1e-14, maxit = 5000))
a25 <- mer_summary(m25); a25$logLik_printed <- a25$logLik; a25$logLik <- a25$logLik_printed + sat
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "jsonlite")), R = rver(),
  data = list(file = "tests/reference/data/poisson_wide_re.csv", n = nrow(d), groups = length(unique(d$g)),
              all_zero_clusters = sum(tapply(d$y, d$g, sum) == 0), max_count = max(d$y)),
  control = GLMER_CTRL_STR,
  exact = list(logLik = o$value, intercept = o$par[[1]], x = o$par[[2]], sd = exp(o$par[[3]]),
               method = "optim (Nelder-Mead, then BFGS; reltol 1e-14) of the sum over clusters of log integrate() (rel.tol 1e-12) from glmer's AGQ estimates"),
  glmer_agq25 = a25, glmer_laplace = mer_summary(m1), glmmTMB_laplace = tmb_summary(t1))
save_json(res, "poisson_wide_re")
cat(res$exact$logLik, res$exact$sd, a25$logLik, res$glmer_laplace$logLik, res$glmmTMB_laplace$logLik, "\n")
