## Rasch-type GLMM on VerbAgg: y ~ 0 + item + (1 | id), logit and probit, glmer AGQ 25.
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
d <- read.csv("/work/shared/data/verbagg_long.csv", stringsAsFactors = FALSE)
items <- setdiff(names(read.csv("/work/shared/data/verbagg_wide.csv", nrows = 1, check.names = FALSE)), "id")
d$item <- factor(d$item, levels = items)     # verbagg_wide.csv column order (= lme4's level order)
d$id <- factor(d$id)
ctrl <- GLMER_CTRL
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "Matrix", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/verbagg_long.csv",
    recoding = "item = factor with levels in verbagg_wide.csv column order; id = factor; y = 1 if resp is perhaps/yes",
    n = nrow(d), groups = nlevels(d$id)),
  loglik_note = paste("Bernoulli responses: no binomial constant exists, so glmer's printed logLik is the full",
    "log-likelihood (AGQ 25 approximates the exact integral; Laplace is an approximation).",
    "exact_integrate = independent check: per-person adaptive integrate() at the AGQ estimates."))

t0 <- Sys.time()
m1 <- glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"), nAGQ = 25, control = ctrl)
r1 <- mer_summary(m1)
r1$call <- 'glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"), nAGQ = 25, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12))'
X <- model.matrix(m1, type = "fixed")
r1$exact_integrate <- exact_ri_loglik(d$y, drop(X %*% fixef(m1)), d$id, r1$random_effects$id$sd[[1]], ldens_bern_logit)
r1$with_default_tolPwrss <- default_tol(m1)
res$logit_agq25 <- r1
cat("logit AGQ25", format(r1$logLik, digits = 12), "exact", format(r1$exact_integrate, digits = 12), "sd", r1$random_effects$id$sd[[1]], format(Sys.time() - t0), "\n")

t0 <- Sys.time()
m2 <- glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("probit"), nAGQ = 25, control = ctrl)
r2 <- mer_summary(m2)
r2$call <- sub('"logit"', '"probit"', r1$call)
r2$exact_integrate <- exact_ri_loglik(d$y, drop(X %*% fixef(m2)), d$id, r2$random_effects$id$sd[[1]], ldens_bern_probit)
res$probit_agq25 <- r2
cat("probit AGQ25", format(r2$logLik, digits = 12), "exact", format(r2$exact_integrate, digits = 12), "sd", r2$random_effects$id$sd[[1]], format(Sys.time() - t0), "\n")

m3 <- glmer(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"), nAGQ = 1, control = ctrl)
r3 <- mer_summary(m3)
r3$call <- sub("nAGQ = 25", "nAGQ = 1", r1$call)
r3$note <- "Laplace approximation (its own optimum); its logLik is the Laplace approximation, not the exact likelihood"
r3$exact_integrate_at_laplace_estimates <- exact_ri_loglik(d$y, drop(X %*% fixef(m3)), d$id, r3$random_effects$id$sd[[1]], ldens_bern_logit)
r3$with_default_tolPwrss <- default_tol(m3)
r3$with_default_tolPwrss$note <- "TRAP: lme4's default tolPwrss = 1e-7 makes the printed Laplace logLik inaccurate here"
## textbook Laplace approximation, computed independently (Newton conditional modes per person)
lap <- function(fe, sd) {
  eta <- drop(X %*% unlist(fe)); tot <- 0
  for (idx in split(seq_len(nrow(d)), d$id)) {
    y <- d$y[idx]; e <- eta[idx]
    lf <- function(u) sum(dbinom(y, 1, plogis(e + u), log = TRUE)) + dnorm(u, 0, sd, log = TRUE)
    u <- optimize(lf, c(-15, 15), maximum = TRUE, tol = 1e-12)$maximum
    for (k in 1:5) { p <- plogis(e + u); u <- u - (sum(y - p) - u / sd^2) / (-sum(p * (1 - p)) - 1 / sd^2) }
    p <- plogis(e + u)
    tot <- tot + lf(u) + 0.5 * log(2 * pi / (sum(p * (1 - p)) + 1 / sd^2))
  }
  tot
}
r3$textbook_laplace_at_estimates <- lap(fixef(m3), r3$random_effects$id$sd[[1]])
r3$textbook_laplace_at_default_tolPwrss_estimates <- lap(r3$with_default_tolPwrss$fixef, r3$with_default_tolPwrss$theta[[1]])
res$logit_laplace <- r3
cat("logit Laplace", format(r3$logLik, digits = 12), "default tol", format(r3$with_default_tolPwrss$logLik, digits = 12), "textbook", format(r3$textbook_laplace_at_estimates, digits = 12), "\n")

m4 <- glmmTMB(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"))
r4 <- tmb_summary(m4)
r4$call <- 'glmmTMB(y ~ 0 + item + (1 | id), data = d, family = binomial("logit"))'
r4$note <- "glmmTMB: Laplace approximation"
r4$textbook_laplace_at_estimates <- lap(r4$fixef, r4$random_effects$id$sd[[1]])
res$logit_glmmTMB_laplace <- r4
cat("glmmTMB Laplace", format(r4$logLik, digits = 12), "sd", r4$random_effects$id$sd[[1]], "\n")
save_json(res, "glmer_verbagg")
