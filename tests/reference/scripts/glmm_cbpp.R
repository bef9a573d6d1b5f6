## cbpp: cbind(incidence, size - incidence) ~ period + (1 | herd).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB)})
d <- read.csv("/work/shared/data/cbpp.csv")
d$herd <- factor(d$herd, levels = sort(unique(d$herd)))
d$period <- factor(d$period, levels = c("1", "2", "3", "4"))
ctrl <- GLMER_CTRL
## constants
lchoose_sum <- sum(lchoose(d$size, d$incidence))
lsat_sum <- sum(dbinom(d$incidence, d$size, d$incidence / d$size, log = TRUE))  # saturated log-lik incl. log-choose
ldens <- function(yi, eta) dbinom(yi, sz, plogis(eta), log = TRUE)
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/cbpp.csv", recoding = "herd, period as factors (period 1 = reference)",
              n = nrow(d), groups = nlevels(d$herd)),
  constants = list(sum_lchoose = lchoose_sum, saturated_loglik = lsat_sum,
    saturated_note = "sum_i dbinom(incidence_i, size_i, incidence_i/size_i, log = TRUE), includes log-choose"),
  loglik_note = paste("exact = full binomial log-likelihood with log choose(size, incidence), by per-herd adaptive",
    "integrate() at the estimates. glmer nAGQ > 1 computes its deviance from deviance residuals, so its printed",
    "logLik is (log-lik - saturated log-lik): exact_from_printed = printed + saturated_loglik.",
    "glmer nAGQ = 1 (Laplace) and glmmTMB print the full log-likelihood (incl. log-choose) of the Laplace approximation."))
exact <- function(m, fe, sd) {
  X <- model.matrix(~ period, d)
  eta <- drop(X %*% fe)
  g <- split(seq_len(nrow(d)), d$herd); tot <- 0
  for (idx in g) {
    lf <- function(u) vapply(u, function(v) sum(dbinom(d$incidence[idx], d$size[idx], plogis(eta[idx] + v), log = TRUE)), 0) + dnorm(u, 0, sd, log = TRUE)
    o <- optimize(lf, c(-10 * sd, 10 * sd), maximum = TRUE)
    tot <- tot + o$objective + log(integrate(function(u) exp(lf(u) - o$objective), o$maximum - 12 * sd, o$maximum + 12 * sd, rel.tol = 1e-12, abs.tol = 0)$value)
  }
  tot
}
m1 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial, nAGQ = 25, control = ctrl)
r1 <- mer_summary(m1)
r1$call <- 'glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial, nAGQ = 25, control = glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5), tolPwrss = 1e-12))'
r1$logLik_printed <- r1$logLik; r1$logLik <- NULL
r1$logLik_exact_from_printed <- r1$logLik_printed + lsat_sum
r1$logLik_exact_integrate <- exact(m1, fixef(m1), r1$random_effects$herd$sd[[1]])
r1$with_default_tolPwrss <- default_tol(m1)
res$glmer_agq25 <- r1
m2 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial, nAGQ = 1, control = ctrl)
r2 <- mer_summary(m2)
r2$call <- sub("nAGQ = 25", "nAGQ = 1", r1$call)
r2$logLik_printed <- r2$logLik; r2$logLik <- NULL
r2$note <- "Laplace: printed logLik includes the log-choose constant (full density), but is the Laplace approximation at the Laplace optimum"
r2$logLik_exact_integrate_at_laplace_estimates <- exact(m2, fixef(m2), r2$random_effects$herd$sd[[1]])
r2$with_default_tolPwrss <- default_tol(m2)
res$glmer_laplace <- r2
m3 <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial)
r3 <- tmb_summary(m3)
r3$call <- 'glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), data = d, family = binomial)'
r3$logLik_printed <- r3$logLik; r3$logLik <- NULL
r3$note <- "glmmTMB Laplace; printed logLik includes the log-choose constant"
r3$logLik_exact_integrate_at_tmb_estimates <- exact(m3, fixef(m3)$cond, r3$random_effects$herd$sd[[1]])
res$glmmTMB_laplace <- r3
cat("AGQ25 printed", format(r1$logLik_printed, digits = 12), "exact_from_printed", format(r1$logLik_exact_from_printed, digits = 12),
    "exact_int", format(r1$logLik_exact_integrate, digits = 12), "\nLaplace printed", format(r2$logLik_printed, digits = 12),
    "exact at laplace est", format(r2$logLik_exact_integrate_at_laplace_estimates, digits = 12),
    "\nTMB", format(r3$logLik_printed, digits = 12), format(r3$logLik_exact_integrate_at_tmb_estimates, digits = 12), "\n")
save_json(res, "glmm_cbpp")
