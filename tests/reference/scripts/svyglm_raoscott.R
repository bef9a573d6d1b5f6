## Rao-Scott likelihood-ratio tests of nested survey-weighted GLMs on apistrat (survey's
## anova.svyglm, method = "LRT": the working 2 log LR, the deviance difference at the weights
## rescaled to mean 1, referred to sum_i lambda_i chi2_1 with lambda the eigenvalues of
## V0^-1 V, V0 the model-based and V the design-based covariance of the tested coefficients).
## Design: svydesign(ids = ~1, weights = ~pw) (with replacement; its V carries n / (n - 1)).
## p_exact: for one tested coefficient pchisq(chisq / lambda, 1); for two, the tail of
## lambda_1 X_1 + lambda_2 X_2 by integrate() over X_1 (a convolution, independent of the Imhof
## inversion glmmix uses); survey's saddlepoint (its default) and Satterthwaite values besides.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages(library(survey))
a <- read.csv("glmmix/data/apistrat.csv")
des <- svydesign(ids = ~1, weights = ~pw, data = a)
exact_tail <- function(x, l) {
  if (length(l) == 1) return(pchisq(x / l, 1, lower.tail = FALSE))
  stopifnot(length(l) == 2)
  inner <- function(u) ifelse(u * l[1] >= x, 1, pchisq((x - l[1] * u) / l[2], 1, lower.tail = FALSE)) * dchisq(u, 1)
  integrate(inner, 0, x / l[1], rel.tol = 1e-12, abs.tol = 0, subdivisions = 1000L)$value +
    pchisq(x / l[1], 1, lower.tail = FALSE)
}
one <- function(m0, m1, call) {
  t <- anova(m0, m1, test = "Chisq")
  list(call = call, chisq = as.numeric(t$chisq), df = t$df, lambda = as.numeric(t$lambda),
       p = as.numeric(t$p), p_exact = exact_tail(as.numeric(t$chisq), as.numeric(t$lambda)),
       p_satterthwaite = as.numeric(pchisqsum(t$chisq, rep(1, t$df), t$lambda,
                                                                    method = "satterthwaite", lower.tail = FALSE)),
       dispersion_full = as.numeric(summary(m1)$dispersion))
}
b1 <- svyglm(sch_wide ~ ell + meals, design = des, family = quasibinomial())
b0 <- svyglm(sch_wide ~ ell, design = des, family = quasibinomial())
bi <- svyglm(sch_wide ~ 1, design = des, family = quasibinomial())
g1 <- svyglm(api00 ~ ell + meals + mobility, design = des)
g0 <- svyglm(api00 ~ meals, design = des)
res <- list(software = sw(c("survey", "jsonlite")), R = rver(),
  data = list(file = "glmmix/data/apistrat.csv", design = "svydesign(ids = ~1, weights = ~pw, data = apistrat)"),
  n = nrow(a),
  note = paste("anova(m0, m1, test = 'Chisq'): chisq is deviance(m0) - deviance(m1) at weights of mean 1",
               "(for the logit, 2 (llf1 - llf0) exactly; for the gaussian, the weighted RSS difference, in",
               "units of y^2, with lambda in the same units); lambda includes the design's n / (n - 1)"),
  logit_meals = one(b0, b1, "anova(svyglm(sch_wide ~ ell, quasibinomial), svyglm(sch_wide ~ ell + meals, quasibinomial), test = 'Chisq')"),
  logit_both = one(bi, b1, "anova(svyglm(sch_wide ~ 1, quasibinomial), svyglm(sch_wide ~ ell + meals, quasibinomial), test = 'Chisq')"),
  gaussian = one(g0, g1, "anova(svyglm(api00 ~ meals), svyglm(api00 ~ ell + meals + mobility), test = 'Chisq')"))
str(res[c("logit_meals", "logit_both", "gaussian")])
save_json(res, "svyglm_raoscott")
