## Offsets: cbpp incidence counts with exposure log(size).
## (1) Poisson GLMM  incidence ~ period + offset(log(size)) + (1 | herd): glmer AGQ 25 (its printed
##     logLik for nAGQ > 1 is relative to the saturated model; the full one is recomputed by
##     integrate()), glmer Laplace and glmmTMB Laplace (full log-likelihoods).
## (2) Two-class Poisson mixture regressions with the same offset (flexmix, 50 random starts):
##     incidence ~ 1 and incidence ~ period, classes sorted by proportion (largest first).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(flexmix)})
d <- read.csv("/work/shared/data/cbpp.csv")
d$herd <- factor(d$herd, levels = sort(unique(d$herd)))
d$period <- factor(d$period, levels = c("1", "2", "3", "4"))
ctrl <- GLMER_CTRL
lsat_sum <- sum(dpois(d$incidence, d$incidence, log = TRUE))
exact <- function(fe, sd) {
  X <- model.matrix(~ period, d)
  eta <- drop(X %*% fe) + log(d$size)
  g <- split(seq_len(nrow(d)), d$herd); tot <- 0
  for (idx in g) {
    lf <- function(u) vapply(u, function(v) sum(dpois(d$incidence[idx], exp(eta[idx] + v), log = TRUE)), 0) + dnorm(u, 0, sd, log = TRUE)
    o <- optimize(lf, c(-10 * sd, 10 * sd), maximum = TRUE)
    tot <- tot + o$objective + log(integrate(function(u) exp(lf(u) - o$objective), o$maximum - 12 * sd, o$maximum + 12 * sd, rel.tol = 1e-12, abs.tol = 0)$value)
  }
  tot
}
res <- list(software = sw(c("lme4", "glmmTMB", "TMB", "flexmix", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/cbpp.csv", recoding = "herd, period as factors (period 1 = reference)",
              n = nrow(d), groups = nlevels(d$herd)))
m1 <- glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson, nAGQ = 25, control = ctrl)
r1 <- mer_summary(m1)
r1$call <- 'glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson, nAGQ = 25, control = GLMER_CTRL)'
r1$logLik_printed <- r1$logLik; r1$logLik <- NULL
r1$logLik_exact_integrate <- exact(fixef(m1), r1$random_effects$herd$sd[[1]])
r1$logLik_exact_from_printed <- r1$logLik_printed + lsat_sum
res$glmer_agq25 <- r1
m2 <- glmer(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson, nAGQ = 1, control = ctrl)
r2 <- mer_summary(m2)
r2$call <- sub("nAGQ = 25", "nAGQ = 1", r1$call)
res$glmer_laplace <- r2
m3 <- glmmTMB(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson)
r3 <- tmb_summary(m3)
r3$call <- 'glmmTMB(incidence ~ period + offset(log(size)) + (1 | herd), data = d, family = poisson)'
r3$predict_response <- as.numeric(predict(m3, type = "response"))
r3$predict_note <- "predict(m3, type = 'response'): exp(X beta + log(size) + conditional mode of the herd's effect), rows in data order"
res$glmmTMB_laplace <- r3
mix <- function(fml, name) {
  ms <- multistart(function() flexmix(fml, data = d, k = 2, model = FLXMRglm(family = "poisson", offset = log(d$size)),
                                      control = list(minprior = 0, iter.max = 20000, tolerance = 1e-12)), 50, seed = 3)
  m <- ms$best; pri <- prior(m); ord <- order(pri, decreasing = TRUE); P <- as.matrix(parameters(m)); if (ncol(P) != 2) P <- matrix(P, nrow = 1, dimnames = list("coef.(Intercept)", NULL))
  X <- model.matrix(fml[-2], d)
  ll2 <- sum(log(rowSums(sapply(1:2, function(j) pri[j] * dpois(d$incidence, exp(drop(X %*% P[, j]) + log(d$size)))))))
  cat(name, format(as.numeric(logLik(m)), digits = 12), "recomputed", format(ll2, digits = 12), "best", ms$n_best, "/ 50\n")
  list(loglik = as.numeric(logLik(m)), loglik_recomputed = ll2, npar = attr(logLik(m), "df"), prior = pri[ord],
       components = lapply(setNames(ord, paste0("class", 1:2)), function(j) as.list(P[, j])),
       starts = list(n = 50, n_ok = ms$n_ok, n_reaching_best = ms$n_best, all_logliks = sort(ms$ll, decreasing = TRUE)),
       call = sprintf("flexmix(%s, data = d, k = 2, model = FLXMRglm(family = 'poisson', offset = log(d$size)), control = list(minprior = 0, iter.max = 20000, tolerance = 1e-12)); 50 random starts (set.seed(3)), best kept", deparse(fml)))
}
res$flexmix_rate <- mix(incidence ~ 1, "rate mixture")
res$flexmix_period <- mix(incidence ~ period, "period mixture")
cat("AGQ25 exact", format(r1$logLik_exact_integrate, digits = 12), "from printed", format(r1$logLik_exact_from_printed, digits = 12),
    "\nLaplace", format(r2$logLik, digits = 12), "TMB", format(r3$logLik, digits = 12), "\n")
save_json(res, "offset_cbpp")
