## LSAT Rasch model (common free discrimination) as a GLMM: y ~ 0 + item + (1 | person),
## glmer AGQ 25. ltm and mirt are not packaged for Debian 12 (CRAN unreachable), so the
## ltm parametrization is derived: P(y = 1) = plogis(beta_j + u), u ~ N(0, s^2)
##   = plogis(a (z - b_j)), z ~ N(0, 1), with a = s and b_j = -beta_j / s.
## SEs of (s, a, b_j) by the delta method from numDeriv's Hessian of glmer's own AGQ-25
## deviance function over (theta = s, beta). The 2PL is not fitted (no ltm/mirt; glmer
## cannot fit item-specific loadings).
source("tests/reference/scripts/common.R")
suppressPackageStartupMessages({library(lme4); library(numDeriv)})
w <- read.csv("/work/shared/data/lsat.csv")
items <- names(w)
d <- data.frame(person = factor(rep(seq_len(nrow(w)), times = ncol(w))),
                item = factor(rep(items, each = nrow(w)), levels = items),
                y = unlist(w, use.names = FALSE))
write.csv(d, "tests/reference/data/lsat_long.csv", row.names = FALSE)
ctrl <- GLMER_CTRL
m <- glmer(y ~ 0 + item + (1 | person), data = d, family = binomial, nAGQ = 25, control = ctrl)
r <- mer_summary(m)
r$call <- paste0('glmer(y ~ 0 + item + (1 | person), data = d, family = binomial, nAGQ = 25, control = ', GLMER_CTRL_STR, ')')
X <- model.matrix(m, type = "fixed")
s <- r$random_effects$person$sd[[1]]
r$logLik_exact_integrate <- exact_ri_loglik(d$y, drop(X %*% fixef(m)), d$person, s, ldens_bern_logit)
r$with_default_tolPwrss <- default_tol(m)
## full covariance of (sd, beta) from glmer's AGQ-25 deviance function
dev <- glmer(y ~ 0 + item + (1 | person), data = d, family = binomial, nAGQ = 25, control = ctrl, devFunOnly = TRUE)
p0 <- c(getME(m, "theta"), fixef(m))
H <- numDeriv::hessian(function(p) -dev(p) / 2, p0)
V <- solve(-H); dimnames(V) <- list(c("sd", names(fixef(m))), c("sd", names(fixef(m))))
beta <- fixef(m)
J <- matrix(0, 1 + length(beta), 1 + length(beta))   # d(a, b_1..b_J) / d(s, beta)
J[1, 1] <- 1
for (j in seq_along(beta)) { J[1 + j, 1] <- beta[j] / s^2; J[1 + j, 1 + j] <- -1 / s }
Vab <- J %*% V %*% t(J)
r$se_full_hessian <- list(
  sd = sqrt(V[1, 1]), fixef = as.list(setNames(sqrt(diag(V))[-1], names(beta))),
  note = "sqrt(diag(solve(-H))), H = numDeriv::hessian of -dev/2 (glmer devFunOnly, nAGQ = 25) over (sd, beta); fixef SEs here account for the uncertainty in sd, unlike vcov(m)")
r$ltm_parametrization <- list(
  discrimination = s, discrimination_se = sqrt(Vab[1, 1]),
  difficulty = as.list(setNames(-beta / s, items)),
  difficulty_se = as.list(setNames(sqrt(diag(Vab))[-1], items)),
  note = "ltm::rasch(LSAT) parametrization: P = plogis(a (z - b_j)), a = sd(person), b_j = -beta_j / a; SEs by delta method from the full Hessian")
res <- list(software = sw(c("lme4", "numDeriv", "jsonlite")), R = rver(),
  data = list(file = "/work/shared/data/lsat.csv",
    recoding = "long form: person = row number (1..1000), item = column name (levels I1..I5), y = 0/1; exported to tests/reference/data/lsat_long.csv",
    n = nrow(d), persons = nrow(w)),
  loglik_note = "Bernoulli responses: glmer's printed logLik is the full log-likelihood (no constants); logLik_exact_integrate checks it by per-person integrate().",
  skipped = "2PL: ltm and mirt are not in Debian 12 and CRAN is unreachable; glmer cannot fit item-specific slopes; glmmTMB rr() Laplace is known to break down on it (REFERENCE-VALUES.md). Published ltm 2PL: -2466.65; REFERENCE-VALUES.md: -2466.6534.",
  rasch_glmer_agq25 = r)
cat("Rasch AGQ25", format(r$logLik, digits = 12), "exact", format(r$logLik_exact_integrate, digits = 12), "sd", s, "\n")
print(r$ltm_parametrization)
save_json(res, "irt_lsat")
