## The weighted log-likelihoods of the apistrat GLMs of svyglm_apistrat.R at svyglm's default
## rescale = TRUE (weights pw scaled to mean 1, i.e. to sum to the sample size n; Mplus's
## single-level WTSCALE default scales them the same way).
## logit: deviance = -2 sum w_i log p_i(y_i) (binary outcomes: the saturated term is 0).
## gaussian: glm's deviance is sum w_i r_i^2; at the ML sigma^2 = deviance / sum w_i the
## normal log-likelihood is -n/2 (log(2 pi deviance / n) + 1) (sum w_i = n).
## Run from the repository root: Rscript tests/reference/scripts/svyglm_apistrat_loglik.R
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(survey))
a <- read.csv("glmmix/data/apistrat.csv")
des <- svydesign(ids = ~1, weights = ~pw, data = a)
g <- svyglm(api00 ~ ell + meals + mobility, design = des)
b <- svyglm(sch_wide ~ ell + meals, design = des, family = quasibinomial())
n <- nrow(a)
stopifnot(abs(sum(weights(g, "prior")) - n) < 1e-8)
res <- list(software = sw(c("survey", "jsonlite")), R = rver(), n = n,
  design = "svydesign(ids = ~1, weights = ~pw, data = apistrat); svyglm(..., rescale = TRUE) (the default)",
  gaussian = list(call = "svyglm(api00 ~ ell + meals + mobility, design)", deviance = deviance(g),
                  loglik = -n / 2 * (log(2 * pi * deviance(g) / n) + 1)),
  logit = list(call = "svyglm(sch_wide ~ ell + meals, design, family = quasibinomial())", deviance = deviance(b),
               loglik = -deviance(b) / 2))
str(res)
save_json(res, "svyglm_apistrat_loglik")
